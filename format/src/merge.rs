//! Merging per-rank files into one output file without holding a dataset in memory, so rank 0's
//! memory does not grow with the number of events.
//!
//! Each column of the output is a contiguous int64 dataset whose space HDF5 allocates when it is
//! created. When the input column is what `RankWriter` writes (chunked, unfiltered, native
//! int64, every chunk allocated inside the file) its chunks are copied byte for byte from the
//! input file into that space with `copy_file_range`, as `cp` does: one copy inside the kernel,
//! no user-space buffer (`raw_copy.rs`). A rank file that `RankWriter` closed carries a manifest
//! of all that (`manifest.rs`), so the merge does not open it with HDF5 at all; one without (a
//! rank killed before it closed its file) is read through HDF5 to find its chunks. Any other
//! input (a foreign or damaged file) goes through HDF5 in slices of `SLICE` elements. The
//! output's objects are created with HDF5's C calls (`outline.rs`, shared with the parallel
//! layout of `layout.rs`): for files of a few thousand events that work, not the bytes, is most
//! of the merge.
//! Invariant: an unreadable input never aborts the merge; it is reported and its rank listed
//! as missing by the caller.

use crate::attrs::{FileAttrs, RankAttrs};
use crate::clock::ClockSync;
use crate::error::AtPath;
use crate::ffi::{self, Hid};
use crate::manifest::{raw_runs, Manifest};
use crate::names::rank_group_name;
use crate::outline::{create_output, Out};
use crate::raw_copy::{aligns, Sink, Src};
use crate::FormatError;
use std::path::{Path, PathBuf};

/// Elements copied per slice (8 MiB of int64).
const SLICE: usize = 1 << 20;

#[derive(Debug, Clone)]
pub struct MergeInput {
    pub rank: u32,
    pub path: PathBuf,
}

#[derive(Debug, Default)]
pub struct MergeReport {
    pub ranks_merged: Vec<u32>,
    /// Merged ranks whose file does not say they finished (`RankWriter::finish`): the rank was
    /// killed, aborted or exited without `MPI_Finalize`, so its data may be cut short.
    pub unfinished: Vec<u32>,
    /// Inputs that could not be read, with the reason.
    pub unreadable: Vec<(u32, String)>,
    pub events: u64,
}

/// Writes `out` (created; fails if it exists) from the per-rank `inputs`.
pub fn merge(
    inputs: &[MergeInput],
    out: &Path,
    attrs: &FileAttrs,
) -> Result<MergeReport, FormatError> {
    merge_with(inputs, out, |_| attrs.clone())
}

/// `merge`, with the root attributes computed from what was merged. If the output cannot be
/// completed (a full disk), or not one input could be copied into it, it is removed: a failed
/// merge leaves no file that a reader cannot open or that blocks the next run.
fn merge_with(
    inputs: &[MergeInput],
    out: &Path,
    attrs: impl FnOnce(&MergeReport) -> FileAttrs,
) -> Result<MergeReport, FormatError> {
    let no_rank_merged = |report: &MergeReport| FormatError::Layout {
        path: out.to_path_buf(),
        message: format!(
            "no rank file could be merged ({})",
            report
                .unreadable
                .first()
                .map(|(r, why)| format!("rank {r}: {why}"))
                .unwrap_or_default()
        ),
    };
    create_output(
        out,
        |o| fill(o, inputs),
        |report| match (inputs.is_empty(), report.ranks_merged.is_empty()) {
            (false, true) => Err(no_rank_merged(report)),
            _ => Ok(attrs(report)),
        },
    )
}

fn fill(out: &Out, inputs: &[MergeInput]) -> Result<MergeReport, FormatError> {
    // A second descriptor on the output for the raw copies; HDF5 never touches the raw data
    // of a contiguous dataset it did not write itself (no page buffer, no sieve reads).
    let raw_out = std::fs::OpenOptions::new()
        .write(true)
        .open(out.path)
        .map_err(|source| FormatError::Io {
            path: out.path.to_path_buf(),
            source,
        })?;
    let dst = Dst {
        out,
        sink: Sink {
            raw: &raw_out,
            path: out.path,
        },
    };
    let mut report = MergeReport::default();
    for input in inputs {
        match copy_rank(&dst, input) {
            Ok((events, finished)) => {
                report.ranks_merged.push(input.rank);
                if !finished {
                    report.unfinished.push(input.rank);
                }
                report.events += events;
            }
            Err(e) => report.unreadable.push((input.rank, e.to_string())),
        }
    }
    Ok(report)
}

/// What `merge_rank_dir` did.
#[derive(Debug, Default)]
pub struct DirMerge {
    pub merged: Vec<u32>,
    /// Ranks of the run with no readable file: no data of theirs is in the output (written as
    /// the `missing_ranks` attribute).
    pub missing: Vec<i64>,
    /// Merged ranks whose file says they did not finish: their data is in the output but may
    /// be cut short (written as the `unfinished_ranks` attribute).
    pub unfinished: Vec<i64>,
    /// Rank files that could not be read, with the reason.
    pub unreadable: Vec<(u32, String)>,
    pub events: u64,
    /// The rank files and `dir` were removed (only when every one of them merged).
    pub removed: bool,
}

/// Merges the per-rank files (`rank_<N>.h5`) of `dir`, left by a run of at least `world` ranks,
/// into `out` (created; fails if it exists). The root attributes come from what actually
/// merged: `missing_ranks` lists every rank of the run without a readable file (no data),
/// `unfinished_ranks` every merged rank whose file says it did not finish (its data may be cut
/// short), and `complete` is `finished` (the run reached the merge normally) with both empty.
/// When every file merged, they and `dir` are removed; otherwise everything is kept for a
/// second look.
pub fn merge_rank_dir(
    dir: &Path,
    world: u32,
    out: &Path,
    finished: bool,
) -> Result<DirMerge, FormatError> {
    let io = |source| FormatError::Io {
        path: dir.to_path_buf(),
        source,
    };
    let mut inputs: Vec<MergeInput> = std::fs::read_dir(dir)
        .map_err(io)?
        .flatten()
        .filter_map(|e| {
            Some(MergeInput {
                rank: crate::names::rank_of_file_name(&e.file_name().to_string_lossy())?,
                path: e.path(),
            })
        })
        .collect();
    inputs.sort_by_key(|i| i.rank);
    let world = inputs
        .iter()
        .map(|i| i.rank + 1)
        .max()
        .unwrap_or(0)
        .max(world);
    let missing_of = |r: &MergeReport| -> Vec<i64> {
        (0..world)
            .filter(|k| !r.ranks_merged.contains(k))
            .map(i64::from)
            .collect()
    };
    let unfinished_of =
        |r: &MergeReport| -> Vec<i64> { r.unfinished.iter().map(|&k| k.into()).collect() };
    let report = merge_with(&inputs, out, |r| {
        let missing_ranks = missing_of(r);
        let unfinished_ranks = unfinished_of(r);
        FileAttrs {
            ranks: world.into(),
            version: crate::TOOL_VERSION.to_string(),
            complete: finished && missing_ranks.is_empty() && unfinished_ranks.is_empty(),
            missing_ranks,
            unfinished_ranks,
        }
    })?;
    let removed = report.unreadable.is_empty();
    if removed {
        for i in &inputs {
            let _ = std::fs::remove_file(&i.path);
        }
        let _ = std::fs::remove_dir(dir);
    }
    Ok(DirMerge {
        missing: missing_of(&report),
        unfinished: unfinished_of(&report),
        merged: report.ranks_merged,
        unreadable: report.unreadable,
        events: report.events,
        removed,
    })
}

/// The output: its objects (`outline.rs`) and a plain descriptor on the same file.
struct Dst<'a> {
    out: &'a Out<'a>,
    sink: Sink<'a>,
}

/// Copies one rank; returns its events and whether its file says the rank finished.
fn copy_rank(dst: &Dst, input: &MergeInput) -> Result<(u64, bool), FormatError> {
    let src = Src::open(&input.path)?;
    match Manifest::read(&src.raw, src.len) {
        Some(m) if m.attrs.rank == i64::from(input.rank) => copy_listed(dst, &src, input.rank, &m),
        _ => copy_through_hdf5(dst, &src, input.rank),
    }
}

/// Copies a rank file that carries a manifest (what `RankWriter` closed): the manifest says
/// everything, so the input is never opened with HDF5. Each column is copied as soon as it is
/// created.
fn copy_listed(dst: &Dst, src: &Src, rank: u32, m: &Manifest) -> Result<(u64, bool), FormatError> {
    let events = dst.out.listed(rank, m, |p| {
        let align = aligns(p.col, &m.clock).then_some(&m.clock);
        for run in p.runs {
            dst.sink
                .copy_values(src, run.addr, p.base + run.first * 8, run.elems, align)?;
        }
        Ok(())
    })?;
    Ok((events, m.finished))
}

/// Copies a rank file through HDF5 (a rank killed before it closed its file, a foreign file):
/// chunks byte for byte where they can be, slices through HDF5 otherwise.
fn copy_through_hdf5(dst: &Dst, src: &Src, rank: u32) -> Result<(u64, bool), FormatError> {
    let path = src.path;
    let file = crate::files::open(path).at(path)?;
    let sg = file.group(&rank_group_name(rank)).at(path)?;
    // Validate before creating anything in the output, so a broken input leaves no trace.
    let rank_attrs = RankAttrs::read(&sg);
    let finished = crate::attrs::read_i64(&sg, crate::rank_writer::FINISHED) == Some(1);
    let regions = if sg.link_exists("regions") {
        Some(sg.group("regions").at(path)?)
    } else {
        None
    };
    let window = crate::attrs::WINDOW.map(|n| crate::attrs::read_i64(&sg, n));
    let clock = crate::attrs::read_clock(&sg);
    let dregions = dst.out.rank_group(rank, &rank_attrs, window, &clock)?;
    let mut events = 0u64;
    let Some(regions) = regions else {
        return Ok((0, finished));
    };
    for link in regions.member_names().at(path)? {
        let sr = regions.group(&link).at(path)?;
        let name = crate::attrs::read_str(&sr, "name");
        let dr = dst.out.region_group(&dregions, &link, name.as_deref())?;
        for col in crate::COLUMNS {
            if !sr.link_exists(col) {
                continue;
            }
            let n = copy_column(&sr, &dr, col, src, dst, &clock)?;
            if col == "start_times" {
                events += n as u64;
            }
        }
    }
    Ok((events, finished))
}

fn copy_column(
    src: &hdf5::Group,
    dst_group: &Hid,
    col: &str,
    from_file: &Src,
    to_file: &Dst,
    clock: &ClockSync,
) -> Result<usize, FormatError> {
    let (src_path, dst_path) = (from_file.path, to_file.out.path);
    let sd = src.dataset(col).at(src_path)?;
    let n = sd.size();
    let out = to_file.out;
    // Space allocated now (so its address is known), never filled (every byte gets copied).
    let space = ffi::space_1d(n as u64).map_err(|m| out.err(m))?;
    let (dd, offset) = out
        .kit
        .column(dst_group.id(), col, &space)
        .map_err(|m| out.err(m))?;
    if let (Some(runs), Some(base)) = (raw_runs(&sd, n, from_file.len), offset) {
        let align = aligns(col, clock).then_some(clock);
        for run in runs {
            to_file.sink.copy_values(
                from_file,
                run.addr,
                base + run.first * 8,
                run.elems,
                align,
            )?;
        }
        return Ok(n);
    }
    let dd = dd.into_dataset().at(dst_path)?;
    let mut from = 0;
    while from < n {
        let to = (from + SLICE).min(n);
        let mut part = sd.read_slice_1d::<i64, _>(from..to).at(src_path)?;
        if aligns(col, clock) {
            part.mapv_inplace(|t| clock.to_reference(t));
        }
        dd.write_slice(&part, from..to).at(dst_path)?;
        from = to;
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ProfileReader, RankWriter};
    use std::fs::File;

    /// Zeroes the user block, as in a file whose writer was killed before it closed it.
    fn strip_manifest(path: &Path) {
        use std::os::unix::fs::FileExt;
        let f = std::fs::OpenOptions::new().write(true).open(path).unwrap();
        f.write_all_at(&[0u8; crate::manifest::USERBLOCK as usize], 0)
            .unwrap();
    }

    fn tmpdir(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("scope-format-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn merge_rank_dir_marks_unreadable_ranks_missing_and_keeps_the_files() {
        let dir = tmpdir("dir");
        for rank in [0u32, 2] {
            let p = dir.join(crate::rank_file_name(rank));
            let attrs = RankAttrs {
                rank: rank.into(),
                ..Default::default()
            };
            let mut w = RankWriter::create(&p, attrs).unwrap();
            w.append("compute", &[1, 5], &[2, 9], &[0, 0]).unwrap();
            w.finish().unwrap();
        }
        std::fs::write(dir.join("rank_1.h5"), b"not hdf5").unwrap();
        let out = dir.with_extension("out.h5");
        let _ = std::fs::remove_file(&out);
        // The run reached its merge, yet one file is unreadable: the file says so.
        let m = merge_rank_dir(&dir, 4, &out, true).unwrap();
        assert_eq!(m.merged, vec![0, 2]);
        assert_eq!(m.missing, vec![1, 3]);
        assert_eq!(m.unreadable.len(), 1);
        assert!(!m.removed && dir.join("rank_0.h5").exists());
        let a = ProfileReader::open(&out).unwrap().attrs().unwrap();
        assert_eq!(
            (a.ranks, a.complete, a.missing_ranks, a.unfinished_ranks),
            (4, false, vec![1, 3], vec![])
        );
        // All readable and finished: complete, and the directory is cleaned up.
        std::fs::remove_file(dir.join("rank_1.h5")).unwrap();
        let out2 = dir.with_extension("out2.h5");
        let _ = std::fs::remove_file(&out2);
        let m = merge_rank_dir(&dir, 3, &out2, true).unwrap();
        assert_eq!((m.missing, m.removed), (vec![1], true));
        assert!(!dir.exists());
        let a = ProfileReader::open(&out2).unwrap().attrs().unwrap();
        assert!(!a.complete, "rank 1 has no data");
        std::fs::remove_file(out).unwrap();
        std::fs::remove_file(out2).unwrap();
    }

    #[test]
    fn times_of_another_clock_are_moved_into_rank_0s_time_base_on_both_paths() {
        const HOUR: i64 = 3_600_000_000_000;
        let dir = tmpdir("clock");
        // Rank 1 runs 7 h ahead of rank 0 and gains 1000 ns over its 10 s run.
        let sync = crate::ClockSync {
            begin: Some(crate::ClockSample {
                at_ns: 7 * HOUR,
                offset_ns: 7 * HOUR,
                error_ns: 3,
            }),
            end: Some(crate::ClockSample {
                at_ns: 7 * HOUR + 10_000_000_000,
                offset_ns: 7 * HOUR + 1_000,
                error_ns: 5,
            }),
        };
        let path_of = |rank: u32| dir.join(crate::rank_file_name(rank));
        for rank in [0u32, 1] {
            let base = if rank == 1 { 7 * HOUR } else { 0 };
            let attrs = RankAttrs {
                rank: rank.into(),
                ..Default::default()
            };
            let mut w = RankWriter::create(&path_of(rank), attrs).unwrap();
            w.set_window(Some(base), Some(base + 10_000_000_000))
                .unwrap();
            if rank == 1 {
                w.set_clock(sync).unwrap();
            }
            w.append_with(
                "MPI_Barrier",
                &[base + 100, base + 5_000_000_000],
                &[base + 200, base + 10_000_000_000],
                &[0, 0],
                &[(crate::BYTES, &[0, 0]), (crate::PEER, &[-1, -1])],
            )
            .unwrap();
            w.finish().unwrap();
        }
        let check = |out: &Path| {
            let r = ProfileReader::open(out).unwrap();
            let zero = r.intervals(0, "MPI_Barrier").unwrap();
            assert_eq!(zero.start_times, vec![100, 5_000_000_000]);
            let one = r.intervals(1, "MPI_Barrier").unwrap();
            assert_eq!(one.start_times, vec![100, 5_000_000_000 - 500]);
            assert_eq!(one.end_times, vec![200, 10_000_000_000 - 1_000]);
            assert_eq!(
                r.window(1).unwrap(),
                (Some(0), Some(10_000_000_000 - 1_000))
            );
            // Non-time columns are copied unchanged.
            assert_eq!(
                r.column(1, "MPI_Barrier", crate::PEER).unwrap(),
                Some(vec![-1, -1])
            );
            let f = crate::files::open(out).unwrap();
            let g = f.group("rank1").unwrap();
            assert_eq!(crate::attrs::read_i64(&g, crate::CLOCK_ERROR), Some(5));
            assert_eq!(crate::attrs::read_clock(&g), sync);
            assert_eq!(
                crate::attrs::read_i64(&f.group("rank0").unwrap(), crate::CLOCK_ERROR),
                None
            );
        };
        let inputs: Vec<MergeInput> = [0u32, 1]
            .iter()
            .map(|&rank| MergeInput {
                rank,
                path: path_of(rank),
            })
            .collect();
        let attrs = |_: &MergeReport| FileAttrs::default();
        let out = dir.join("manifest.h5");
        merge_with(&inputs, &out, attrs).unwrap();
        check(&out);
        // The same files without their manifests go through HDF5.
        for rank in [0u32, 1] {
            strip_manifest(&path_of(rank));
        }
        let out = dir.join("hdf5.h5");
        merge_with(&inputs, &out, attrs).unwrap();
        check(&out);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn raw_chunk_copy_and_the_hdf5_fallback_give_the_same_columns() {
        let dir = tmpdir("raw");
        let p = dir.join(crate::rank_file_name(5));
        let attrs = RankAttrs {
            rank: 5,
            ..Default::default()
        };
        let mut w = RankWriter::create(&p, attrs).unwrap();
        // Several chunks, a partial last one, appends that do not align with chunks, and a
        // second region whose chunks interleave with the first's in the file.
        let n = 5 * 16384 + 77;
        let s: Vec<i64> = (0..n as i64).map(|x| x * 3 + 1).collect();
        let e: Vec<i64> = s.iter().map(|x| x + 2).collect();
        let t: Vec<i64> = (0..n as i64).map(|x| x % 5).collect();
        let mut from = 0;
        for step in [1000usize, 20000, 7, 40000] {
            let to = (from + step).min(n);
            w.append("a", &s[from..to], &e[from..to], &t[from..to])
                .unwrap();
            w.append("b", &e[from..to], &s[from..to], &t[from..to])
                .unwrap();
            from = to;
        }
        w.append("a", &s[from..], &e[from..], &t[from..]).unwrap();
        w.finish().unwrap();
        let src = crate::files::open(&p).unwrap();
        let sd = src.dataset("rank5/regions/a/start_times").unwrap();
        let len = std::fs::metadata(&p).unwrap().len();
        let runs = raw_runs(&sd, sd.size(), len).expect("a RankWriter column copies raw");
        assert_eq!(runs.iter().map(|r| r.elems).sum::<u64>(), n as u64);
        assert!(
            raw_runs(&sd, sd.size(), 4096).is_none(),
            "chunks past the end"
        );
        drop((sd, src));

        // Raw path: RankWriter file -> merged file (contiguous datasets).
        let input = |path: &Path| MergeInput {
            rank: 5,
            path: path.to_path_buf(),
        };
        let out1 = dir.join("out1.h5");
        let attrs = FileAttrs::default();
        let f = File::open(&p).unwrap();
        let manifest = Manifest::read(&f, len).expect("a closed RankWriter file has a manifest");
        assert_eq!(manifest.regions[0].columns[0], runs);
        merge(&[input(&p)], &out1, &attrs).unwrap();
        // Raw chunk copy found through HDF5: the same file without its manifest.
        let bare = dir.join("bare.h5");
        std::fs::copy(&p, &bare).unwrap();
        strip_manifest(&bare);
        let out3 = dir.join("out3.h5");
        merge(&[input(&bare)], &out3, &attrs).unwrap();
        // Fallback path: the merged (contiguous, so not raw-copyable) file as an input.
        let out2 = dir.join("out2.h5");
        merge(&[input(&out1)], &out2, &attrs).unwrap();
        for out in [&out1, &out2, &out3] {
            let r = ProfileReader::open(out).unwrap();
            let a = r.intervals(5, "a").unwrap();
            assert_eq!(
                (a.start_times, a.end_times, a.thread_ids),
                (s.clone(), e.clone(), t.clone())
            );
            let b = r.intervals(5, "b").unwrap();
            assert_eq!(b.start_times, e[..from].to_vec());
            assert_eq!(b.end_times, s[..from].to_vec());
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn the_manifest_and_hdf5_give_the_same_merged_file() {
        let dir = tmpdir("manifest");
        let (listed, bare) = (dir.join("listed"), dir.join("bare"));
        for d in [&listed, &bare] {
            std::fs::create_dir_all(d).unwrap();
        }
        for rank in 0..4u32 {
            let p = listed.join(crate::rank_file_name(rank));
            let attrs = RankAttrs {
                rank: rank.into(),
                pid: 7 + i64::from(rank),
                hostname: format!("hôst-{rank}"),
                ..Default::default()
            };
            let mut w = RankWriter::create(&p, attrs).unwrap();
            let n = [3usize, 20_000, 1, 0][rank as usize];
            let s: Vec<i64> = (0..n as i64).map(|x| x * 5 + i64::from(rank)).collect();
            let t: Vec<i64> = s.iter().map(|x| x % 3).collect();
            for name in ["compute", "io/write", "100%", "."] {
                w.append(name, &s, &s, &t).unwrap();
            }
            w.set_dropped(i64::from(rank)).unwrap();
            // Rank 2 exits without finalize: closed, so listed, but not finished.
            if rank == 2 {
                w.close_unfinished().unwrap();
            } else {
                w.finish().unwrap();
            }
            let len = std::fs::metadata(&p).unwrap().len();
            let m = Manifest::read(&File::open(&p).unwrap(), len).unwrap();
            assert_eq!((m.attrs.rank, m.finished), (i64::from(rank), rank != 2));
            let copy = bare.join(crate::rank_file_name(rank));
            std::fs::copy(&p, &copy).unwrap();
            strip_manifest(&copy);
        }
        // A manifest that no longer matches its file (the file grew after it was written)
        // is not used; HDF5 ignores the trailing bytes.
        let grown = listed.join(crate::rank_file_name(1));
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&grown)
            .unwrap();
        std::io::Write::write_all(&mut f, b"tail").unwrap();
        let len = f.metadata().unwrap().len();
        assert!(Manifest::read(&File::open(&grown).unwrap(), len).is_none());
        drop(f);

        let outs = [dir.join("listed.h5"), dir.join("bare.h5")];
        for (d, out) in [&listed, &bare].into_iter().zip(&outs) {
            let m = merge_rank_dir(d, 5, out, true).unwrap();
            // Rank 4 left no file: missing; rank 2's data is there, unfinished.
            assert_eq!(
                (m.merged, m.missing, m.unfinished),
                (vec![0, 1, 2, 3], vec![4], vec![2])
            );
            let a = ProfileReader::open(out).unwrap().attrs().unwrap();
            assert_eq!(
                (a.complete, a.missing_ranks, a.unfinished_ranks),
                (false, vec![4], vec![2])
            );
            assert_eq!(m.events, 4 * (3 + 20_000 + 1));
        }
        let (a, b) = (
            ProfileReader::open(&outs[0]).unwrap(),
            ProfileReader::open(&outs[1]).unwrap(),
        );
        assert_eq!(a.attrs().unwrap(), b.attrs().unwrap());
        assert_eq!(a.ranks().unwrap(), b.ranks().unwrap());
        for rank in 0..4 {
            assert_eq!(a.rank_attrs(rank).unwrap(), b.rank_attrs(rank).unwrap());
            assert_eq!(a.rank_attrs(rank).unwrap().hostname, format!("hôst-{rank}"));
            let regions = a.regions(rank).unwrap();
            assert_eq!(regions, b.regions(rank).unwrap());
            let expect: Vec<String> = if rank == 3 {
                vec![]
            } else {
                vec![
                    ".".into(),
                    "100%".into(),
                    "compute".into(),
                    "io/write".into(),
                ]
            };
            assert_eq!(regions, expect);
            for region in &regions {
                let (x, y) = (
                    a.intervals(rank, region).unwrap(),
                    b.intervals(rank, region).unwrap(),
                );
                assert_eq!(
                    (&x.start_times, &x.end_times, &x.thread_ids),
                    (&y.start_times, &y.end_times, &y.thread_ids)
                );
                assert_eq!(x.len(), [3usize, 20_000, 1][rank as usize]);
            }
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn write_append_merge_read() {
        let dir = tmpdir("merge");
        let mut inputs = Vec::new();
        for rank in 0..3u32 {
            let p = dir.join(crate::rank_file_name(rank));
            let attrs = RankAttrs {
                rank: rank.into(),
                pid: 42,
                hostname: "h".into(),
                ..Default::default()
            };
            let mut w = RankWriter::create(&p, attrs).unwrap();
            // Two appends, to cross the growth path; one name with a slash.
            let n = 10_000usize + rank as usize;
            let s: Vec<i64> = (0..n as i64).collect();
            let e: Vec<i64> = s.iter().map(|x| x + 5).collect();
            let t = vec![0i64; n];
            w.append("compute", &s[..n / 2], &e[..n / 2], &t[..n / 2])
                .unwrap();
            w.append("compute", &s[n / 2..], &e[n / 2..], &t[n / 2..])
                .unwrap();
            w.append("io/write", &[1], &[2], &[0]).unwrap();
            w.set_dropped(7).unwrap();
            w.finish().unwrap();
            inputs.push(MergeInput { rank, path: p });
        }
        inputs.push(MergeInput {
            rank: 3,
            path: dir.join("missing.h5"),
        });
        let out = dir.join("out.h5");
        let attrs = FileAttrs {
            ranks: 4,
            version: crate::TOOL_VERSION.into(),
            complete: false,
            missing_ranks: vec![3],
            unfinished_ranks: vec![],
        };
        let report = merge(&inputs, &out, &attrs).unwrap();
        assert_eq!(report.ranks_merged, vec![0, 1, 2]);
        assert_eq!(report.unreadable.len(), 1);
        assert!(
            merge(&inputs, &out, &attrs).is_err(),
            "existing output must not be overwritten"
        );

        let r = ProfileReader::open(&out).unwrap();
        assert_eq!(r.attrs().unwrap(), attrs);
        assert_eq!(r.ranks().unwrap(), vec![0, 1, 2]);
        assert_eq!(
            r.regions(1).unwrap(),
            vec!["compute".to_string(), "io/write".to_string()]
        );
        let iv = r.intervals(2, "compute").unwrap();
        assert_eq!(iv.len(), 10_002);
        assert_eq!(iv.start_times[10_001], 10_001);
        assert_eq!(iv.end_times[10_001], 10_006);
        assert_eq!(r.count(0, "io/write").unwrap(), 1);
        // Streaming in slices sees the same events, in file order, never more than asked.
        let (mut seen, mut biggest) = (Vec::new(), 0);
        r.for_each_chunk::<FormatError, _>(2, "compute", 4096, |s, e, t| {
            assert!(s.len() == e.len() && s.len() == t.len());
            biggest = biggest.max(s.len());
            seen.extend_from_slice(s);
            Ok(())
        })
        .unwrap();
        assert_eq!((seen, biggest), (iv.start_times.clone(), 4096));
        assert_eq!(r.rank_attrs(1).unwrap().dropped_events, 7);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
