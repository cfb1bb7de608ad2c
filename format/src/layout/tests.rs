//! The parallel finalize's format side against the serial merge, on real rank files written by
//! `RankWriter`: several ranks, a region of more than 16 Ki events in several runs, an empty
//! region, MPI call regions (five columns), a rank on another clock, a rank without regions and
//! one that did not finish.

use super::*;
use crate::compare::{assert_same_file, Seen};
use crate::manifest::{Region, USERBLOCK};
use crate::{merge, ClockSample, ClockSync, MergeInput, ProfileReader, RankAttrs, RankWriter};
use std::path::PathBuf;

fn tmpdir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("scope-layout-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn ramp(n: usize, k: i64) -> Vec<i64> {
    (0..n as i64).map(|i| i * k + 11).collect()
}

/// Appends `n` events to `region` in batches of `batch`, each batch followed by `other`'s
/// `per` events and a flush, so the region's chunks interleave with `other`'s in the file.
fn interleaved(w: &mut RankWriter, region: &str, n: usize, batch: usize, other: &str, per: usize) {
    let (s, t) = (ramp(n, 3), (0..n as i64).map(|i| i % 4).collect::<Vec<_>>());
    let e: Vec<i64> = s.iter().map(|x| x + 2).collect();
    let mut from = 0;
    while from < n {
        let to = (from + batch).min(n);
        w.append(region, &s[from..to], &e[from..to], &t[from..to])
            .unwrap();
        let o = ramp(per, 7);
        w.append(other, &o, &o, &vec![1; per]).unwrap();
        // As the agent does after each buffer: chunks are allocated as they are flushed.
        w.flush().unwrap();
        from = to;
    }
}

fn mpi_call(w: &mut RankWriter, name: &str, n: usize, base: i64) {
    let s: Vec<i64> = ramp(n, 5).iter().map(|x| x + base).collect();
    let e: Vec<i64> = s.iter().map(|x| x + 1).collect();
    let (bytes, peer) = (
        ramp(n, 8),
        (0..n as i64).map(|i| i % 3 - 1).collect::<Vec<_>>(),
    );
    let extra = [(crate::BYTES, &bytes[..]), (crate::PEER, &peer[..])];
    w.append_with(name, &s, &e, &vec![0; n], &extra).unwrap();
}

/// Adds an empty region `name` to the manifest of the closed rank file `path`. `RankWriter`
/// creates a region on its first non-empty append, so only a manifest can list an empty one;
/// the serial merge and the layout both create its (empty) datasets.
fn add_empty_region(path: &Path, name: &str) {
    use std::os::unix::fs::FileExt;
    let f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .unwrap();
    let len = f.metadata().unwrap().len();
    let mut m = Manifest::read(&f, len).unwrap();
    m.regions.push(Region {
        name: name.into(),
        len: 0,
        columns: vec![Vec::new(); 3],
    });
    m.regions
        .sort_by_cached_key(|r| crate::encode_region_name(&r.name));
    f.write_all_at(&m.encode().unwrap(), 0).unwrap();
    assert_eq!(Manifest::read(&f, len), Some(m));
}

const HOUR: i64 = 3_600_000_000_000;

/// Rank files 0..=5 in `dir`; rank 5 did not finish.
fn write_ranks(dir: &Path) -> Vec<MergeInput> {
    let mut inputs = Vec::new();
    for rank in 0..6u32 {
        let path = dir.join(crate::rank_file_name(rank));
        let attrs = RankAttrs {
            rank: rank.into(),
            dropped_events: i64::from(rank) * 2,
            pid: 4000 + i64::from(rank),
            hostname: format!("node-{}", rank / 2),
        };
        let mut w = RankWriter::create(&path, attrs).unwrap();
        match rank {
            0 => {
                w.append("compute", &[1, 4, 9], &[2, 5, 10], &[0, 1, 0])
                    .unwrap();
                // 40 000 events in 16 Ki-element chunks between MPI_Send's.
                interleaved(&mut w, "io/write", 40_000, 10_000, "100%", 3);
                mpi_call(&mut w, "MPI_Send", 30, 0);
            }
            1 => {
                // 7 h ahead of rank 0, drifting 1 µs over the run: times are moved.
                w.set_clock(ClockSync {
                    begin: Some(ClockSample {
                        at_ns: 7 * HOUR,
                        offset_ns: 7 * HOUR,
                        error_ns: 3,
                    }),
                    end: Some(ClockSample {
                        at_ns: 7 * HOUR + 10_000_000_000,
                        offset_ns: 7 * HOUR + 1_000,
                        error_ns: 5,
                    }),
                })
                .unwrap();
                w.set_window(Some(7 * HOUR + 5), Some(7 * HOUR + 9_000_000_000))
                    .unwrap();
                interleaved(&mut w, "compute", 20_000, 3000, ".", 1);
                mpi_call(&mut w, "MPI_Barrier", 2, 7 * HOUR);
            }
            2 => {
                w.set_window(Some(3), None).unwrap();
                w.append("compute", &[100], &[200], &[0]).unwrap();
            }
            3 => {}
            4 => interleaved(&mut w, "io/write", 70_000, 7000, "compute", 500),
            _ => w
                .append("compute", &ramp(10, 1), &ramp(10, 2), &[2; 10])
                .unwrap(),
        }
        if rank == 5 {
            w.close_unfinished().unwrap();
        } else {
            w.finish().unwrap();
        }
        if rank == 0 || rank == 4 {
            add_empty_region(&path, "idle");
        }
        inputs.push(MergeInput { rank, path });
    }
    inputs
}

fn manifests(inputs: &[MergeInput]) -> Vec<(u32, Vec<u8>)> {
    inputs
        .iter()
        .map(|i| (i.rank, read_manifest_bytes(&i.path).unwrap().unwrap()))
        .collect()
}

/// Copies every plan from its own thread, all released at once, in reverse rank order.
fn copy_all_at_once(out: &Path, plans: &[(u32, CopyPlan)], inputs: &[MergeInput]) -> u64 {
    let go = std::sync::Barrier::new(plans.len());
    std::thread::scope(|s| {
        let handles: Vec<_> = plans
            .iter()
            .rev()
            .map(|(rank, plan)| {
                let input = &inputs.iter().find(|i| i.rank == *rank).unwrap().path;
                let go = &go;
                s.spawn(move || {
                    go.wait();
                    copy_planned(out, plan, input).unwrap()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).sum()
    })
}

fn attrs(ranks: i64, complete: bool, missing_ranks: Vec<i64>) -> FileAttrs {
    FileAttrs {
        ranks,
        version: crate::TOOL_VERSION.into(),
        complete,
        missing_ranks,
        unfinished_ranks: vec![],
    }
}

/// `attrs` with rank 5 (`write_ranks`' unfinished one) in `unfinished_ranks`.
fn with_5_unfinished(ranks: i64, missing_ranks: Vec<i64>) -> FileAttrs {
    FileAttrs {
        unfinished_ranks: vec![5],
        ..attrs(ranks, false, missing_ranks)
    }
}

/// The test (a) of issue 17, for `inputs` and the final `attrs`: returns what was compared.
fn parallel_matches_serial(dir: &Path, tag: &str, inputs: &[MergeInput], fin: &FileAttrs) -> Seen {
    let serial = dir.join(format!("{tag}-serial.h5"));
    let report = merge(inputs, &serial, fin).unwrap();
    assert!(report.unreadable.is_empty(), "{:?}", report.unreadable);
    let out = dir.join(format!("{tag}-parallel.h5"));
    let plans = lay_out(&out, &manifests(inputs), fin).unwrap();
    let ranks: Vec<u32> = plans.iter().map(|(r, _)| *r).collect();
    assert_eq!(ranks, report.ranks_merged);
    for (rank, plan) in &plans {
        assert_eq!(plan.rank(), *rank);
        assert_eq!(plan.finished(), !report.unfinished.contains(rank));
    }
    // Laid out, nothing copied: honest about it.
    let a = ProfileReader::open(&out).unwrap().attrs().unwrap();
    assert_eq!(a, attrs(fin.ranks, false, (0..fin.ranks).collect()));
    assert!(
        lay_out(&out, &manifests(inputs), fin).is_err(),
        "an existing output is never laid out again"
    );
    let events = copy_all_at_once(&out, &plans, inputs);
    assert_eq!(events, report.events);
    assert_eq!(events, plans.iter().map(|(_, p)| p.events()).sum::<u64>());
    commit(&out, fin).unwrap();
    assert_eq!(ProfileReader::open(&out).unwrap().attrs().unwrap(), *fin);
    assert_same_file(&serial, &out)
}

#[test]
fn lay_out_copy_and_commit_give_the_serial_merge() {
    let dir = tmpdir("same");
    let inputs = write_ranks(&dir);
    // Every rank, one of them unfinished and rank 6 without a file: the file says incomplete.
    let seen = parallel_matches_serial(&dir, "all", &inputs, &with_5_unfinished(7, vec![6]));
    // Groups: the root, 6 rank groups, their 6 `regions`, 13 regions (5 + 3 + 1 + 0 + 3 + 1).
    // Datasets: 3 columns per region, 5 for the two MPI calls. Attributes: 6 on the root, 4 per
    // rank, rank 1's window, clock samples and error bound (5), rank 2's window begin (1), a
    // name per region. Values: the regions' lengths per column, rank by rank (rank 1's
    // 20 000 events come in 7 batches, each followed by one event of ".").
    // The empty regions (rank 0's and rank 4's idle) add nothing.
    let three = (3 + 40_000 + 12) + (20_000 + 7) + 1 + (70_000 + 5_000) + 10;
    assert_eq!(
        seen,
        Seen {
            groups: 1 + 6 + 6 + 13,
            datasets: 3 * 13 + 2 * 2,
            attributes: 6 + 6 * 4 + 5 + 1 + 13,
            values: 3 * three + 5 * (30 + 2),
        }
    );
    // The finished ranks only, every rank of the run present: complete, nothing missing.
    let finished = &inputs[..5];
    let seen = parallel_matches_serial(&dir, "done", finished, &attrs(5, true, vec![]));
    assert_eq!(
        (seen.groups, seen.datasets),
        (1 + 5 + 5 + 12, 3 * 12 + 2 * 2)
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn progress_commits_between_the_copies_leave_the_same_file() {
    // Rank 0 rewrites `missing_ranks` after each node's copies while other nodes still copy:
    // the file grows, the later copies still land where planned, the result is the serial one.
    let dir = tmpdir("progress");
    let inputs = write_ranks(&dir);
    let fin = with_5_unfinished(6, vec![]);
    let serial = dir.join("serial.h5");
    merge(&inputs, &serial, &fin).unwrap();
    let out = dir.join("out.h5");
    let plans = lay_out(&out, &manifests(&inputs), &fin).unwrap();
    let laid_out = std::fs::metadata(&out).unwrap().len();
    let mut missing: Vec<i64> = (0..6).collect();
    for (rank, plan) in &plans {
        copy_planned(&out, plan, &inputs[*rank as usize].path).unwrap();
        missing.retain(|&m| m != i64::from(*rank));
        commit(&out, &attrs(6, false, missing.clone())).unwrap();
        assert_eq!(
            ProfileReader::open(&out).unwrap().attrs().unwrap(),
            attrs(6, false, missing.clone())
        );
    }
    assert!(std::fs::metadata(&out).unwrap().len() >= laid_out);
    commit(&out, &fin).unwrap();
    assert_same_file(&serial, &out);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Every column of every region of `rank` in `r`, by region and column name.
fn columns_of(r: &ProfileReader, rank: u32) -> Vec<(String, &'static str, Option<Vec<i64>>)> {
    let mut all = Vec::new();
    for region in r.regions(rank).unwrap() {
        for col in crate::COLUMNS {
            all.push((region.clone(), col, r.column(rank, &region, col).unwrap()));
        }
    }
    all
}

#[test]
fn a_file_laid_out_but_never_committed_says_so_and_keeps_what_was_copied() {
    let dir = tmpdir("crash");
    let inputs = write_ranks(&dir);
    let fin = with_5_unfinished(6, vec![]);
    let serial = dir.join("serial.h5");
    merge(&inputs, &serial, &fin).unwrap();
    let out = dir.join("out.h5");
    let plans = lay_out(&out, &manifests(&inputs), &fin).unwrap();
    // The leaders of ranks 1 and 4 copied; the others' leader died; rank 0 never committed.
    let copied = [1u32, 4];
    for (rank, plan) in plans.iter().filter(|(r, _)| copied.contains(r)) {
        copy_planned(&out, plan, &inputs[*rank as usize].path).unwrap();
    }
    let (r, s) = (
        ProfileReader::open(&out).unwrap(),
        ProfileReader::open(&serial).unwrap(),
    );
    assert_eq!(r.attrs().unwrap(), attrs(6, false, vec![0, 1, 2, 3, 4, 5]));
    assert_eq!(r.ranks().unwrap(), vec![0, 1, 2, 3, 4, 5]);
    let mut zeroed = 0;
    for rank in 0..6u32 {
        assert_eq!(r.rank_attrs(rank).unwrap(), s.rank_attrs(rank).unwrap());
        assert_eq!(r.window(rank).unwrap(), s.window(rank).unwrap());
        assert_eq!(r.clock(rank).unwrap(), s.clock(rank).unwrap());
        let (got, want) = (columns_of(&r, rank), columns_of(&s, rank));
        if copied.contains(&rank) {
            assert_eq!(got, want, "rank {rank}");
            continue;
        }
        // Not copied: every dataset is there with its length, and reads as zeros (the
        // preallocated space was never written).
        assert_eq!(got.len(), want.len());
        for ((region, col, g), (_, _, w)) in got.iter().zip(&want) {
            let (g, w) = (g.as_deref(), w.as_deref());
            assert_eq!(g.map(<[i64]>::len), w.map(<[i64]>::len), "{region} {col}");
            assert!(g.unwrap_or(&[]).iter().all(|&v| v == 0), "{region} {col}");
            zeroed += g.map_or(0, <[i64]>::len);
        }
    }
    // Ranks 0, 2, 3 and 5: 3 × (3 + 40 000 + 12) + 5 × 30, 3 × 1, nothing, 3 × 10.
    assert_eq!(zeroed, 3 * 40_015 + 5 * 30 + 3 + 30);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// `bytes` with the plan body edited by `edit` and the checksum made right again: a plan that
/// only the checks after the checksum can refuse.
fn forge(bytes: &[u8], edit: impl FnOnce(&mut [u8])) -> Vec<u8> {
    let mut b = bytes.to_vec();
    edit(&mut b[24..]);
    let sum = crate::manifest::checksum(&b[24..]);
    b[16..24].copy_from_slice(&sum.to_le_bytes());
    b
}

/// Offsets in a plan's body: the number of columns, then the first column's align flag, run
/// count and first run (source, destination, length).
const N_COLUMNS: usize = 80;
const RUN0_SRC: usize = 92;
const RUN0_DST: usize = 100;
const RUN0_LEN: usize = 108;

fn refused(bytes: &[u8]) -> String {
    match CopyPlan::from_bytes(bytes) {
        Err(FormatError::Decode { what, message }) => {
            assert_eq!(what, "copy plan");
            message
        }
        other => panic!("accepted or wrong error: {other:?}"),
    }
}

#[test]
fn copy_plans_round_trip_and_anything_else_is_refused() {
    let dir = tmpdir("plans");
    let inputs = write_ranks(&dir);
    let plans = lay_out(
        &dir.join("out.h5"),
        &manifests(&inputs),
        &attrs(6, false, vec![]),
    )
    .unwrap();
    for (_, plan) in &plans {
        assert_eq!(CopyPlan::from_bytes(&plan.to_bytes()).unwrap(), *plan);
    }
    // Rank 0, in link order: 100% (3 columns), MPI_Send (5), compute (3), idle (empty: no
    // column to copy), io%2Fwrite (3).
    let p0 = &plans[0].1;
    assert_eq!(p0.columns().len(), 3 * 3 + 5);
    assert_eq!(p0.events(), 3 + 40_000 + 12 + 30);
    assert_eq!(p0.bytes(), 8 * (3 * (3 + 40_000 + 12) + 5 * 30));
    assert!(p0.columns().iter().all(|c| !c.align_times));
    // Its 40 000 events of io/write lie in three 16 Ki-element chunks per column, apart.
    let io_write = &p0.columns()[11..14];
    assert!(io_write.iter().all(|c| c.runs.len() == 3), "{io_write:?}");
    // Rank 1's times are moved into rank 0's time base: start and end of each region
    // (%2E, MPI_Barrier, compute in link order), nothing else.
    let aligned: Vec<bool> = plans[1].1.columns().iter().map(|c| c.align_times).collect();
    let (times, call) = ([true, true, false], [true, true, false, false, false]);
    assert_eq!(aligned, [&times[..], &call, &times].concat());
    // Rank 3 has no region: a plan with no column.
    let p3 = &plans[3].1;
    assert_eq!((p3.columns().len(), p3.events(), p3.bytes()), (0, 0, 0));
    assert_eq!(p3.to_bytes().len(), 24 + 84);

    let bytes = p0.to_bytes();
    for n in 0..bytes.len() {
        refused(&bytes[..n]);
    }
    refused(&[bytes.as_slice(), &[0]].concat());
    for i in 0..bytes.len() {
        for flip in [0x01u8, 0x80] {
            let mut b = bytes.clone();
            b[i] ^= flip;
            refused(&b);
        }
    }
    let mut x = 0x2545_f491_4f6c_dd1du64;
    let garbage: Vec<u8> = (0..4096)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    refused(&garbage);
    refused(&[b"SCOPECP1".as_slice(), &garbage[..100]].concat());
    // Past the checksum: counts larger than the bytes, runs that are not int64 values inside
    // the rank file, flags that are not 0 or 1.
    let put_u32 =
        |at: usize, v: u32| move |b: &mut [u8]| b[at..at + 4].copy_from_slice(&v.to_le_bytes());
    let put_u64 =
        |at: usize, v: u64| move |b: &mut [u8]| b[at..at + 8].copy_from_slice(&v.to_le_bytes());
    assert!(refused(&forge(&bytes, put_u32(N_COLUMNS, u32::MAX))).contains("items in"));
    assert!(refused(&forge(&bytes, put_u64(RUN0_LEN, 12))).contains("not int64 values"));
    assert!(refused(&forge(&bytes, put_u64(RUN0_LEN, 0))).contains("not int64 values"));
    let past = p0.input_len() - 8;
    assert!(refused(&forge(&bytes, put_u64(RUN0_SRC, past))).contains("inside the rank file"));
    assert!(refused(&forge(&bytes, put_u64(RUN0_SRC, 8))).contains("inside the rank file"));
    assert!(refused(&forge(&bytes, put_u32(4, 2))).contains("finished is 2"));
    assert!(refused(&forge(&bytes, put_u32(N_COLUMNS + 4, 2))).contains("align is 2"));
    let beyond = p0.output_len() - 8;
    assert!(refused(&forge(&bytes, put_u64(RUN0_DST, beyond))).contains("and the output"));
    // A clock sample not taken (rank 0 has none) with values in it.
    assert!(refused(&forge(&bytes, put_u64(40, 1))).contains("not taken"));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn copy_planned_refuses_a_rank_file_the_plan_was_not_made_for() {
    let dir = tmpdir("refuse");
    let inputs = write_ranks(&dir);
    let out = dir.join("out.h5");
    let plans = lay_out(&out, &manifests(&inputs), &attrs(6, false, vec![])).unwrap();
    let before = std::fs::read(&out).unwrap();
    let (p0, file0) = (&plans[0].1, &inputs[0].path);
    let message = |r: Result<u64, FormatError>| match r {
        Err(FormatError::Layout { message, .. }) => message,
        other => panic!("not refused: {other:?}"),
    };
    // Another rank's file.
    let m = message(copy_planned(&out, p0, &inputs[2].path));
    assert!(m.contains("the file is rank 2's"), "{m}");
    // Not a rank file at all.
    let not_hdf5 = dir.join("not.h5");
    std::fs::write(&not_hdf5, vec![7u8; 8192]).unwrap();
    let m = message(copy_planned(&out, p0, &not_hdf5));
    assert!(m.contains("cannot be described"), "{m}");
    // Rank 0's file grown since: its stored manifest is stale, and HDF5 describes a longer file.
    let grown = dir.join("grown.h5");
    std::fs::copy(file0, &grown).unwrap();
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&grown)
        .unwrap();
    std::io::Write::write_all(&mut f, b"tail").unwrap();
    drop(f);
    let m = message(copy_planned(&out, p0, &grown));
    assert!(m.contains("bytes, the plan is for"), "{m}");
    // Rank 0 written again with other events: a valid manifest of another length.
    let again = dir.join("again.h5");
    let mut w = RankWriter::create(&again, RankAttrs::default()).unwrap();
    w.append("compute", &[1], &[2], &[0]).unwrap();
    w.finish().unwrap();
    assert!(message(copy_planned(&out, p0, &again)).contains("bytes, the plan is for"));
    // A plan whose runs are not where the file's manifest puts them.
    let moved = forge(&p0.to_bytes(), |b| {
        let src = u64::from_le_bytes(b[RUN0_SRC..RUN0_SRC + 8].try_into().unwrap());
        b[RUN0_SRC..RUN0_SRC + 8].copy_from_slice(&(src + 8).to_le_bytes());
    });
    let moved = CopyPlan::from_bytes(&moved).unwrap();
    assert!(message(copy_planned(&out, &moved, file0)).contains("lies elsewhere"));
    // A plan of another layout.
    let small = dir.join("small.h5");
    lay_out(&small, &manifests(&inputs[3..4]), &attrs(6, false, vec![])).unwrap();
    let small_before = std::fs::read(&small).unwrap();
    assert!(message(copy_planned(&small, p0, file0)).contains("another layout"));
    assert_eq!(std::fs::read(&small).unwrap(), small_before);
    // Nothing was written by any refused copy; the right file is still copied.
    assert_eq!(std::fs::read(&out).unwrap(), before);
    assert_eq!(copy_planned(&out, p0, file0).unwrap(), p0.events());
    assert_ne!(std::fs::read(&out).unwrap(), before);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Zeroes the user block, as in a file whose writer was killed before it closed it.
fn strip_manifest(path: &Path) {
    use std::os::unix::fs::FileExt;
    let f = std::fs::OpenOptions::new().write(true).open(path).unwrap();
    f.write_all_at(&[0u8; USERBLOCK as usize], 0).unwrap();
}

#[test]
fn manifest_bytes_come_from_the_file_or_through_hdf5() {
    let dir = tmpdir("bytes");
    let inputs = write_ranks(&dir);
    for input in &inputs {
        let bytes = read_manifest_bytes(&input.path).unwrap().unwrap();
        let f = std::fs::File::open(&input.path).unwrap();
        let stored = Manifest::read(&f, f.metadata().unwrap().len()).unwrap();
        assert_eq!(Manifest::decode_detached(&bytes), Some(stored.clone()));
        assert_eq!(bytes, stored.encode().unwrap());
        // Without it, HDF5 finds the same, but for the empty region only the stored manifest
        // lists (ranks 0 and 4), and with the regions in the order HDF5 lists them.
        let bare = dir.join("bare.h5");
        std::fs::copy(&input.path, &bare).unwrap();
        strip_manifest(&bare);
        let built = read_manifest_bytes(&bare).unwrap().unwrap();
        let mut built = Manifest::decode_detached(&built).unwrap();
        let links = |m: &Manifest| -> Vec<String> {
            m.regions
                .iter()
                .map(|r| crate::encode_region_name(&r.name))
                .collect()
        };
        let group = format!("rank{}/regions", input.rank);
        let listed = match crate::files::open(&bare).unwrap().group(&group) {
            Ok(g) => g.member_names().unwrap(),
            Err(_) => vec![],
        };
        assert_eq!(links(&built), listed);
        built
            .regions
            .sort_by_cached_key(|r| crate::encode_region_name(&r.name));
        let mut expect = stored;
        expect.regions.retain(|r| r.name != "idle");
        assert_eq!(built, expect);
        std::fs::remove_file(&bare).unwrap();
    }
    // Not a rank file; a merged file, whose contiguous columns are no chunks to copy raw.
    let not_hdf5 = dir.join("rank_9.h5");
    std::fs::write(&not_hdf5, b"not hdf5").unwrap();
    assert_eq!(read_manifest_bytes(&not_hdf5).unwrap(), None);
    let merged = dir.join("merged.h5");
    merge(&inputs[2..3], &merged, &attrs(3, true, vec![])).unwrap();
    assert_eq!(read_manifest_bytes(&merged).unwrap(), None);
    assert!(matches!(
        read_manifest_bytes(&dir.join("absent.h5")),
        Err(FormatError::Io { .. })
    ));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn ranks_without_a_stored_manifest_are_laid_out_through_hdf5() {
    let dir = tmpdir("hdf5");
    let mut inputs = write_ranks(&dir);
    // Rank 1 (another clock, an MPI call) and rank 4 (70 000 events in many runs) killed
    // before closing their files, as far as the block says.
    for rank in [1, 4] {
        strip_manifest(&inputs[rank].path);
    }
    // Rank 6: 150 regions, a manifest too large for the block.
    let path = dir.join(crate::rank_file_name(6));
    let six = RankAttrs {
        rank: 6,
        ..Default::default()
    };
    let mut w = RankWriter::create(&path, six).unwrap();
    for r in 0..150 {
        w.append(&format!("r{r:03}"), &[r, r + 1], &[r + 2, r + 3], &[0, 1])
            .unwrap();
    }
    w.finish().unwrap();
    let f = std::fs::File::open(&path).unwrap();
    assert_eq!(Manifest::read(&f, f.metadata().unwrap().len()), None);
    assert!(read_manifest_bytes(&path).unwrap().unwrap().len() > USERBLOCK as usize);
    inputs.push(MergeInput { rank: 6, path });
    let seen = parallel_matches_serial(&dir, "hdf5", &inputs, &with_5_unfinished(7, vec![]));
    // Rank 4's empty region was only in its stored manifest: 12 regions of ranks 0-5, 150.
    assert_eq!(
        (seen.groups, seen.datasets),
        (1 + 7 + 7 + 12 + 150, 3 * 12 + 2 * 2 + 3 * 150)
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn lay_out_leaves_out_ranks_it_cannot_lay_out() {
    let dir = tmpdir("leave");
    let inputs = write_ranks(&dir);
    let m = manifests(&inputs);
    let given = vec![
        m[4].clone(),
        (1, b"garbage".to_vec()),
        (2, m[3].1.clone()),
        m[0].clone(),
        m[3].clone(),
        m[4].clone(),
    ];
    let out = dir.join("some.h5");
    let plans = lay_out(&out, &given, &attrs(6, false, vec![])).unwrap();
    assert_eq!(
        plans.iter().map(|(r, _)| *r).collect::<Vec<_>>(),
        vec![0, 3, 4]
    );
    let r = ProfileReader::open(&out).unwrap();
    assert_eq!(r.ranks().unwrap(), vec![0, 3, 4]);
    assert_eq!(r.attrs().unwrap().missing_ranks, vec![0, 1, 2, 3, 4, 5]);
    // Nothing to lay out: nothing created.
    let none = dir.join("none.h5");
    let bad = vec![(1, b"garbage".to_vec()), (2, m[3].1.clone())];
    assert!(lay_out(&none, &bad, &attrs(6, false, vec![])).is_err());
    assert!(!none.exists());
    // No rank at all: the root alone, as the serial merge writes it.
    let (empty, serial) = (dir.join("empty.h5"), dir.join("serial.h5"));
    let fin = attrs(3, false, vec![0, 1, 2]);
    assert!(lay_out(&empty, &[], &fin).unwrap().is_empty());
    commit(&empty, &fin).unwrap();
    merge(&[], &serial, &fin).unwrap();
    let seen = assert_same_file(&serial, &empty);
    assert_eq!((seen.groups, seen.datasets, seen.attributes), (1, 0, 6));
    std::fs::remove_dir_all(&dir).unwrap();
}
