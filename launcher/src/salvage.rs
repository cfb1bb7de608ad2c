//! After a run that ended without writing its output (a rank crashed, called `MPI_Abort`,
//! exited without `MPI_Finalize`, or the job was killed): merge what the ranks had flushed to
//! their per-rank files into the output, marked incomplete.
//!
//! A world started with `MPI_Comm_spawn` that ended the same way left its own directory
//! (`.scope-<output stem>-world-*`): it is merged into a world file of its own
//! (`<stem>.world<K>.h5`), never into the launched world's output.
//!
//! Invariants: only private directories of this run are used (named `.scope-<output stem>-`
//! plus the six characters of `mkdtemp` by the agent, or `.scope-<output stem>-world-` plus six
//! for a spawned world, in the directory the agent used, modified after the run started); the
//! output and world files are created, never overwritten; the per-rank files are removed only
//! when every one of them was merged, otherwise the directory is kept and named.

use scope_format::{merge_launched_world, merge_world_dir, private_dir_prefix};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// What a salvage did.
#[derive(Debug)]
pub struct Salvaged {
    pub dir: PathBuf,
    /// The file written: the output, or a spawned world's `<stem>.world<K>.h5`.
    pub file: PathBuf,
    /// 0 for the launched world, K for `<stem>.world<K>.h5`.
    pub world: u32,
    pub merged: Vec<u32>,
    /// Ranks with no data in the file (no readable rank file).
    pub missing: Vec<i64>,
    /// Merged ranks that did not finish (their data may be cut short).
    pub unfinished: Vec<i64>,
    /// Rank files that could not be read, with the reason.
    pub unreadable: Vec<(u32, String)>,
}

/// The private directories of `output`'s launched world (`spawned` false) or of its spawned
/// worlds in `parent`, modified at or after `since`, oldest first: the prefix followed by
/// exactly the six letters and digits `mkdtemp` adds.
fn private_dirs(parent: &Path, output: &Path, spawned: bool, since: SystemTime) -> Vec<PathBuf> {
    let prefix = private_dir_prefix(output, spawned);
    let ours = |name: &str| {
        name.strip_prefix(&prefix)
            .is_some_and(|rest| rest.len() == 6 && rest.bytes().all(|b| b.is_ascii_alphanumeric()))
    };
    let mut dirs: Vec<(SystemTime, PathBuf)> = std::fs::read_dir(parent)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| ours(&e.file_name().to_string_lossy()))
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .filter_map(|e| Some((e.metadata().ok()?.modified().ok()?, e.path())))
        .filter(|(m, _)| *m >= since)
        .collect();
    dirs.sort();
    dirs.into_iter().map(|(_, p)| p).collect()
}

/// Waits until the rank files stop changing (300 ms without a change in their names, sizes or
/// times; at most 5 s): a rank the launcher signalled may still be in its exit handlers,
/// writing its file, when the launcher itself has already returned.
fn settle(dir: &Path) {
    use std::time::{Duration, Instant};
    let look = || -> Vec<(std::ffi::OsString, u64, Option<SystemTime>)> {
        let mut v: Vec<_> = std::fs::read_dir(dir)
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| {
                let m = e.metadata().ok()?;
                Some((e.file_name(), m.len(), m.modified().ok()))
            })
            .collect();
        v.sort();
        v
    };
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut last = look();
    let mut quiet_since = Instant::now();
    while Instant::now() < deadline && quiet_since.elapsed() < Duration::from_millis(300) {
        std::thread::sleep(Duration::from_millis(50));
        let now = look();
        if now != last {
            last = now;
            quiet_since = Instant::now();
        }
    }
}

/// Merges the per-rank files left by a run of `ranks` ranks into `output`, if there are any.
/// `parent` is where the agent created its private directory (`SCOPE_TMPDIR` or the output's
/// directory).
pub fn salvage(
    output: &Path,
    parent: &Path,
    ranks: u32,
    since: SystemTime,
) -> Option<Result<Salvaged, String>> {
    let dir = private_dirs(parent, output, false, since).pop()?;
    settle(&dir);
    Some(
        // The `world` attribute is only descriptive: a failure to write it (`attr_error`)
        // leaves a readable profile without it.
        merge_launched_world(&dir, ranks, output, false)
            .map(|w| Salvaged {
                dir,
                file: w.path,
                world: w.world,
                merged: w.merge.merged,
                missing: w.merge.missing,
                unfinished: w.merge.unfinished,
                unreadable: w.merge.unreadable,
            })
            .map_err(|e| e.to_string()),
    )
}

/// Merges what each world started with `MPI_Comm_spawn` that did not reach its merge left in
/// `parent` (directories modified at or after `since`) into a world file of its own beside
/// `output`. The size of such a world is not known here: its ranks are those that left a file.
pub fn salvage_spawned(
    output: &Path,
    parent: &Path,
    since: SystemTime,
) -> Vec<(PathBuf, Result<Salvaged, String>)> {
    private_dirs(parent, output, true, since)
        .into_iter()
        .map(|dir| {
            settle(&dir);
            let r = merge_world_dir(&dir, 0, output, false)
                .map(|w| Salvaged {
                    dir: dir.clone(),
                    file: w.path,
                    world: w.world,
                    merged: w.merge.merged,
                    missing: w.merge.missing,
                    unfinished: w.merge.unfinished,
                    unreadable: w.merge.unreadable,
                })
                .map_err(|e| e.to_string());
            (dir, r)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use scope_format::{ProfileReader, RankAttrs, RankWriter};

    #[test]
    fn merges_what_is_there_and_marks_the_rest_missing() {
        let base = std::env::temp_dir().join(format!("scope-salvage-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&base);
        let since = SystemTime::now() - std::time::Duration::from_secs(1);
        let dir = base.join(".scope-profiling_data-abc123");
        std::fs::create_dir_all(&dir).unwrap();
        for rank in [0u32, 2] {
            let mut w = RankWriter::create(
                &dir.join(format!("rank_{rank}.h5")),
                RankAttrs {
                    rank: rank.into(),
                    ..Default::default()
                },
            )
            .unwrap();
            w.append("compute", &[1, 5], &[2, 9], &[0, 0]).unwrap();
            w.finish().unwrap();
        }
        std::fs::write(dir.join("rank_3.h5"), b"not hdf5").unwrap();
        let out = base.join("profiling_data.h5");
        let s = salvage(&out, &base, 4, since).unwrap().unwrap();
        assert_eq!(s.merged, vec![0, 2]);
        assert_eq!(s.missing, vec![1, 3]);
        assert_eq!(s.unfinished, Vec::<i64>::new());
        assert_eq!(s.unreadable.len(), 1);
        assert!(dir.exists(), "kept: one rank file was unreadable");
        let r = ProfileReader::open(&out).unwrap();
        let a = r.attrs().unwrap();
        assert_eq!(
            (a.ranks, a.complete, a.missing_ranks),
            (4, false, vec![1, 3])
        );
        assert_eq!(r.count(2, "compute").unwrap(), 2);
        assert_eq!(scope_format::read_world(&out), Some(0));
        // A directory older than the run is never used.
        let later = SystemTime::now() + std::time::Duration::from_secs(60);
        assert!(salvage(&base.join("other.h5"), &base, 4, later).is_none());
        std::fs::remove_dir_all(&base).unwrap();
    }

    #[test]
    fn a_spawned_world_is_salvaged_into_its_own_file() {
        let base = std::env::temp_dir().join(format!("scope-salvage-w-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&base);
        let since = SystemTime::now() - std::time::Duration::from_secs(1);
        let launched = base.join(".scope-profiling_data-Ab12Cd");
        let spawned = base.join(".scope-profiling_data-world-xY34zW");
        // Look-alikes of other outputs: not ours.
        let other = base.join(".scope-profiling_data-other-abcdef");
        for (dir, ranks) in [(&launched, 1u32), (&spawned, 2), (&other, 1)] {
            std::fs::create_dir_all(dir).unwrap();
            for rank in 0..ranks {
                let mut w = RankWriter::create(
                    &dir.join(format!("rank_{rank}.h5")),
                    RankAttrs {
                        rank: rank.into(),
                        ..Default::default()
                    },
                )
                .unwrap();
                w.append("work", &[1], &[2], &[0]).unwrap();
            }
        }
        let out = base.join("profiling_data.h5");
        let worlds = salvage_spawned(&out, &base, since);
        assert_eq!(worlds.len(), 1, "{worlds:?}");
        let s = worlds[0].1.as_ref().unwrap();
        assert_eq!((s.world, s.merged.clone()), (1, vec![0, 1]));
        assert_eq!(s.file, base.join("profiling_data.world1.h5"));
        let r = ProfileReader::open(&s.file).unwrap();
        assert_eq!(r.attrs().unwrap().ranks, 2);
        assert!(!r.attrs().unwrap().complete);
        assert_eq!(scope_format::read_world(&s.file), Some(1));
        let l = salvage(&out, &base, 1, since).unwrap().unwrap();
        assert_eq!((l.dir, l.merged), (launched, vec![0]));
        assert!(other.exists(), "another output's directory was used");
        std::fs::remove_dir_all(&base).unwrap();
    }
}
