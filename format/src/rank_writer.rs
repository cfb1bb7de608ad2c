//! The per-rank file: `rank<N>/regions/<name>/{start_times,end_times,thread_ids}` in chunked,
//! growable datasets, appended to on every buffer flush and flushed to disk each time, so a
//! rank that dies later leaves a readable file with everything appended before.
//! Closing it writes a manifest of the file into its user block (`manifest.rs`), which lets
//! the merge copy it without opening it with HDF5.
//! Invariant: after every successful `append`, the datasets of the region (the three columns and
//! any further ones, see `append_with`) have equal length.

use crate::attrs::RankAttrs;

/// Rank-group attribute of a rank file closed by `finish` (a rank killed never writes it).
pub const FINISHED: &str = "finished";
use crate::error::AtPath;
use crate::manifest::{raw_runs, Manifest, Region};
use crate::names::{encode_region_name, rank_group_name};
use crate::FormatError;
use hdf5::Dataset;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// Chunk length of a region whose first append is large (a busy region).
const CHUNK: usize = 16384;
/// The smallest chunk length: a region with a handful of events takes 3 × 8 KiB, not 3 ×
/// 128 KiB (at 10^5 ranks × 10 regions that is 24 GB of mostly empty chunks instead of 375 GB).
const MIN_CHUNK: usize = 1024;

/// The chunk length of a region's datasets, from its first append (the length cannot change
/// later): the next power of two of it, between `MIN_CHUNK` and `CHUNK`.
fn chunk_for(first_append: usize) -> usize {
    first_append.next_power_of_two().clamp(MIN_CHUNK, CHUNK)
}

struct RegionSets {
    start: Dataset,
    end: Dataset,
    thread: Dataset,
    /// Further columns (`bytes`, `peer` of MPI calls), fixed when the region is created.
    extra: Vec<(String, Dataset)>,
    len: usize,
}

/// Writer of one rank's file. Not `Sync`: the agent serialises calls.
pub struct RankWriter {
    path: PathBuf,
    file: hdf5::File,
    regions: hdf5::Group,
    rank_group: hdf5::Group,
    sets: HashMap<String, RegionSets>,
    attrs: RankAttrs,
    /// What `set_window` wrote, for the manifest.
    window: [Option<i64>; 2],
    /// What `set_clock` wrote, for the manifest.
    clock: crate::ClockSync,
}

impl RankWriter {
    /// Creates `path`; fails if it already exists.
    pub fn create(path: &Path, attrs: RankAttrs) -> Result<RankWriter, FormatError> {
        let file =
            crate::files::create_excl_with_userblock(path, crate::manifest::USERBLOCK).at(path)?;
        let rank = u32::try_from(attrs.rank).map_err(|_| FormatError::Layout {
            path: path.to_path_buf(),
            message: format!("invalid rank {}", attrs.rank),
        })?;
        let rank_group = file.create_group(&rank_group_name(rank)).at(path)?;
        let regions = rank_group.create_group("regions").at(path)?;
        attrs.write(&rank_group, path)?;
        Ok(RankWriter {
            path: path.to_path_buf(),
            file,
            regions,
            rank_group,
            sets: HashMap::new(),
            attrs,
            window: [None, None],
            clock: crate::ClockSync::default(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends intervals to a region, creating it on first use.
    pub fn append(
        &mut self,
        region: &str,
        start: &[i64],
        end: &[i64],
        thread: &[i64],
    ) -> Result<(), FormatError> {
        self.append_with(region, start, end, thread, &[])
    }

    /// As `append`, with further columns (`(name, values)`, one value per interval). A region
    /// gets its further columns when it is created; later appends must name the same ones.
    pub fn append_with(
        &mut self,
        region: &str,
        start: &[i64],
        end: &[i64],
        thread: &[i64],
        extra: &[(&str, &[i64])],
    ) -> Result<(), FormatError> {
        if start.len() != end.len()
            || start.len() != thread.len()
            || extra.iter().any(|(_, v)| v.len() != start.len())
        {
            return Err(FormatError::Layout {
                path: self.path.clone(),
                message: format!("region {region}: columns of unequal length"),
            });
        }
        if start.is_empty() {
            return Ok(());
        }
        let p = self.path.clone();
        if !self.sets.contains_key(region) {
            let g = self
                .regions
                .create_group(&encode_region_name(region))
                .at(&p)?;
            crate::attrs::write_str(&g, "name", region, &p)?;
            let chunk = chunk_for(start.len());
            let make = |name: &str| {
                g.new_dataset::<i64>()
                    .chunk(chunk)
                    .fill_time(hdf5::dataset::FillTime::Never)
                    .shape(0..)
                    .create(name)
                    .at(&p)
            };
            let mut columns = Vec::with_capacity(extra.len());
            for (name, _) in extra {
                columns.push((name.to_string(), make(name)?));
            }
            let sets = RegionSets {
                start: make("start_times")?,
                end: make("end_times")?,
                thread: make("thread_ids")?,
                extra: columns,
                len: 0,
            };
            self.sets.insert(region.to_string(), sets);
        }
        let sets = self.sets.get_mut(region).expect("inserted above");
        let same_columns = sets.extra.len() == extra.len()
            && sets.extra.iter().zip(extra).all(|(a, b)| a.0 == b.0);
        if !same_columns {
            return Err(FormatError::Layout {
                path: self.path.clone(),
                message: format!("region {region}: appended columns differ from its own"),
            });
        }
        let (from, to) = (sets.len, sets.len + start.len());
        let columns = [
            (&sets.start, start),
            (&sets.end, end),
            (&sets.thread, thread),
        ];
        let extras = sets
            .extra
            .iter()
            .zip(extra)
            .map(|((_, ds), (_, v))| (ds, *v));
        for (ds, data) in columns.into_iter().chain(extras) {
            ds.resize(to).at(&p)?;
            ds.write_slice(data, from..to).at(&p)?;
        }
        sets.len = to;
        Ok(())
    }

    /// Updates the dropped-event count stored on the rank group.
    pub fn set_dropped(&mut self, dropped: i64) -> Result<(), FormatError> {
        self.attrs.dropped_events = dropped;
        crate::attrs::write_i64(&self.rank_group, "dropped_events", dropped, &self.path)
    }

    /// Records the rank's MPI window (ns): the end of `MPI_Init` and the start of
    /// `MPI_Finalize` (either may be unknown yet: `None` leaves it unwritten).
    pub fn set_window(&mut self, begin: Option<i64>, end: Option<i64>) -> Result<(), FormatError> {
        for (i, (name, v)) in crate::attrs::WINDOW.iter().zip([begin, end]).enumerate() {
            if let Some(v) = v {
                crate::attrs::write_i64(&self.rank_group, name, v, &self.path)?;
                self.window[i] = Some(v);
            }
        }
        Ok(())
    }

    /// Records the rank's clock samples against rank 0's (`crate::clock`); a sample that is
    /// `None` is left as it was.
    pub fn set_clock(&mut self, sync: crate::ClockSync) -> Result<(), FormatError> {
        for (name, (sample, kept)) in [crate::CLOCK_SYNC_BEGIN, crate::CLOCK_SYNC_END]
            .iter()
            .zip([
                (sync.begin, &mut self.clock.begin),
                (sync.end, &mut self.clock.end),
            ])
        {
            if let Some(s) = sample {
                crate::attrs::write_i64s(&self.rank_group, name, &s.to_array(), &self.path)?;
                *kept = Some(s);
            }
        }
        Ok(())
    }

    /// Pushes everything written so far to disk.
    pub fn flush(&self) -> Result<(), FormatError> {
        self.file.flush().at(&self.path)
    }

    /// Marks the rank finished (it reached the normal end of the run), flushes and closes.
    pub fn finish(self) -> Result<(), FormatError> {
        crate::attrs::write_i64(&self.rank_group, FINISHED, 1, &self.path)?;
        self.close(true)
    }

    /// Flushes and closes without the finished mark (a rank exiting early or aborting): a
    /// merge lists it in `missing_ranks`.
    pub fn close_unfinished(self) -> Result<(), FormatError> {
        self.close(false)
    }

    fn close(self, finished: bool) -> Result<(), FormatError> {
        self.flush()?;
        // Where every column lies, taken while the datasets are open; the file's length is
        // only known once HDF5 has closed it.
        let mut manifest = self.manifest(finished);
        drop(self.sets);
        drop(self.regions);
        drop(self.rank_group);
        self.file.close().at(&self.path)?;
        // The manifest only saves the merge some work: without one (no room in the block, an
        // error writing it) the merge reads the file through HDF5, so failing here is no error.
        if let Some(m) = manifest.as_mut() {
            let _ = write_manifest(&self.path, m);
        }
        Ok(())
    }

    fn manifest(&self, finished: bool) -> Option<Manifest> {
        let mut regions = Vec::with_capacity(self.sets.len());
        for (name, sets) in &self.sets {
            let runs = |ds: &Dataset| raw_runs(ds, sets.len, u64::MAX);
            let mut columns = vec![runs(&sets.start)?, runs(&sets.end)?, runs(&sets.thread)?];
            // Further columns only as the manifest knows them: all of `COLUMNS`, in order.
            let extra: Vec<&str> = sets.extra.iter().map(|(n, _)| n.as_str()).collect();
            if !extra.is_empty() && extra[..] != crate::COLUMNS[3..] {
                return None;
            }
            for (_, ds) in &sets.extra {
                columns.push(runs(ds)?);
            }
            regions.push(Region {
                name: name.clone(),
                len: sets.len as u64,
                columns,
            });
        }
        regions.sort_by_cached_key(|r| encode_region_name(&r.name));
        Some(Manifest {
            file_len: 0,
            attrs: self.attrs.clone(),
            finished,
            window: self.window,
            clock: self.clock,
            regions,
        })
    }
}

/// Writes `m` into the user block of the closed file at `path`.
fn write_manifest(path: &Path, m: &mut Manifest) -> std::io::Result<()> {
    use std::os::unix::fs::FileExt;
    let f = std::fs::OpenOptions::new().write(true).open(path)?;
    m.file_len = f.metadata()?.len();
    match m.encode() {
        Some(block) => f.write_all_at(&block, 0),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_follow_the_first_append() {
        assert_eq!(chunk_for(0), MIN_CHUNK);
        assert_eq!(chunk_for(3), 1024);
        assert_eq!(chunk_for(5000), 8192);
        assert_eq!(chunk_for(1 << 20), CHUNK);
    }

    /// Regions with a few events take little room; a region that starts small and grows keeps
    /// every value, through the merge too.
    #[test]
    fn few_events_make_a_small_file_and_everything_merges() {
        let dir = std::env::temp_dir().join(format!("scope-chunks-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(crate::rank_file_name(0));
        let mut w = RankWriter::create(&path, RankAttrs::default()).unwrap();
        for r in 0..10 {
            w.append(&format!("rare{r}"), &[1, 2, 3], &[2, 3, 4], &[0, 0, 0])
                .unwrap();
        }
        w.append("grows", &[0, 1], &[1, 2], &[0, 0]).unwrap();
        let n = 100_000i64;
        let s: Vec<i64> = (2..n).collect();
        let e: Vec<i64> = (3..n + 1).collect();
        w.append("grows", &s, &e, &vec![1; s.len()]).unwrap();
        w.finish().unwrap();
        // 10 regions of 3 events: 10 × 3 columns × 8 KiB of chunks, not 10 × 384 KiB; the
        // growing region's 100 000 events are 2.4 MB of values.
        let len = std::fs::metadata(&path).unwrap().len();
        assert!(len < 3_400_000, "rank file of {len} bytes");
        let out = dir.join("merged.h5");
        let m = crate::merge_rank_dir(&dir, 1, &out, true).unwrap();
        assert_eq!(m.events, 30 + n as u64);
        let r = crate::ProfileReader::open(&out).unwrap();
        assert_eq!(r.count(0, "rare7").unwrap(), 3);
        let iv = r.intervals(0, "grows").unwrap();
        assert_eq!(iv.len(), n as usize);
        assert!(iv
            .start_times
            .iter()
            .enumerate()
            .all(|(i, &v)| v == i as i64));
        assert!(iv
            .end_times
            .iter()
            .enumerate()
            .all(|(i, &v)| v == i as i64 + 1));
        assert_eq!(iv.thread_ids[..2], [0, 0]);
        assert!(iv.thread_ids[2..].iter().all(|&t| t == 1));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
