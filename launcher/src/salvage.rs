//! After a run that ended without writing its output (a rank crashed, called `MPI_Abort`,
//! exited without `MPI_Finalize`, or the job was killed): merge what the ranks had flushed to
//! their per-rank files into the output, marked incomplete.
//!
//! Invariants: only a private directory of this run is used (named `.scope-<output stem>-*`
//! by the agent, in the directory the agent used, modified after the run started); the output
//! is created, never overwritten; the per-rank files are removed only when every one of them
//! was merged, otherwise the directory is kept and named.

use scope_format::merge_rank_dir;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// What a salvage did.
#[derive(Debug)]
pub struct Salvaged {
    pub dir: PathBuf,
    pub merged: Vec<u32>,
    pub missing: Vec<i64>,
    /// Rank files that could not be read, with the reason.
    pub unreadable: Vec<(u32, String)>,
}

/// The newest `.scope-<stem>-*` directory in `parent` modified at or after `since`.
fn private_dir(parent: &Path, output: &Path, since: SystemTime) -> Option<PathBuf> {
    let stem = output.file_stem()?.to_string_lossy().into_owned();
    let prefix = format!(".scope-{stem}-");
    std::fs::read_dir(parent)
        .ok()?
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with(&prefix))
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .filter_map(|e| Some((e.metadata().ok()?.modified().ok()?, e.path())))
        .filter(|(m, _)| *m >= since)
        .max_by_key(|(m, _)| *m)
        .map(|(_, p)| p)
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
    let dir = private_dir(parent, output, since)?;
    settle(&dir);
    Some(
        merge_rank_dir(&dir, ranks, output, false)
            .map(|m| Salvaged {
                dir,
                merged: m.merged,
                missing: m.missing,
                unreadable: m.unreadable,
            })
            .map_err(|e| e.to_string()),
    )
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
        assert_eq!(s.unreadable.len(), 1);
        assert!(dir.exists(), "kept: one rank file was unreadable");
        let r = ProfileReader::open(&out).unwrap();
        let a = r.attrs().unwrap();
        assert_eq!(
            (a.ranks, a.complete, a.missing_ranks),
            (4, false, vec![1, 3])
        );
        assert_eq!(r.count(2, "compute").unwrap(), 2);
        // A directory older than the run is never used.
        let later = SystemTime::now() + std::time::Duration::from_secs(60);
        assert!(salvage(&base.join("other.h5"), &base, 4, later).is_none());
        std::fs::remove_dir_all(&base).unwrap();
    }
}
