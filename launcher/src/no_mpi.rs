//! Ranks that never initialise MPI: a launched script that uses no MPI at all (the reference
//! tool's own `mpi_example.py` once its `scope_profiler` lines are gone) still runs as N
//! processes of one job. `scope-run` creates a private directory for the run
//! (`.scope-<stem>-ranks-XXXXXX` beside the output, or under `SCOPE_TMPDIR`) and passes it to
//! every rank (`SCOPE_RANKS_DIR`); a process that reaches its exit without MPI writes its rank
//! file there under the rank its launcher gave it, and `scope-run` merges them once the
//! launcher returns. Without MPI no clock is compared: on several nodes the times are each
//! node's own.
//!
//! Invariants: the directory is created fresh (never an existing one) and removed when empty
//! or merged; it is merged only when nothing else wrote the output (an MPI run merges itself);
//! the merge is complete only when every rank of the run left a finished file.

use scope_format::{merge_launched_world, private_dir_prefix, WorldMerge};
use std::ffi::{CString, OsString};
use std::os::unix::ffi::OsStringExt;
use std::path::{Path, PathBuf};

/// Creates the run's directory for ranks without MPI in `parent` (`mkdtemp`: fresh, mode 0700).
pub fn create(parent: &Path, output: &Path) -> Option<PathBuf> {
    let template = parent.join(format!("{}ranks-XXXXXX", private_dir_prefix(output, false)));
    let mut raw = CString::new(template.into_os_string().into_vec())
        .ok()?
        .into_bytes_with_nul();
    // SAFETY: a writable, NUL-terminated template ending in XXXXXX, which mkdtemp fills in.
    if unsafe { libc::mkdtemp(raw.as_mut_ptr().cast()) }.is_null() {
        return None;
    }
    raw.pop();
    Some(PathBuf::from(OsString::from_vec(raw)))
}

/// A merge of ranks without MPI, and rank 0's Python regions that matched nothing there.
pub type Merged = (WorldMerge, Vec<(String, Vec<String>)>);

/// After the run: merges the rank files left in `dir` into `output` when the ranks wrote no
/// output themselves; removes `dir` when it is empty. `None`: nothing to merge.
pub fn merge(dir: &Path, output: &Path, ranks: u32) -> Option<Result<Merged, String>> {
    let has_files = std::fs::read_dir(dir)
        .map(|mut d| d.next().is_some())
        .unwrap_or(false);
    if !has_files {
        let _ = std::fs::remove_dir(dir);
        return None;
    }
    if output.exists() {
        // The run merged itself through MPI, but some process of it never initialised MPI
        // (it died before `MPI_Init`, or is not an MPI rank): its file is kept, not lost.
        return Some(Err(format!(
            "some processes never initialised MPI while the others did; their files are kept in {}",
            dir.display()
        )));
    }
    // Rank 0's Python regions that matched nothing, read before its file goes.
    let unmatched = scope_format::read_python_unmatched(&dir.join(scope_format::rank_file_name(0)));
    Some(
        merge_launched_world(dir, ranks, output, true)
            .map(|w| (w, unmatched))
            .map_err(|e| {
                format!(
                    "merging their files failed: {e}; they are kept in {}",
                    dir.display()
                )
            }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_files::rank_files;
    use scope_format::ProfileReader;

    #[test]
    fn ranks_without_mpi_merge_complete_and_the_directory_goes() {
        let base = std::env::temp_dir().join(format!("scope-nompi-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&base);
        std::fs::create_dir_all(&base).unwrap();
        let out = base.join("profiling_data.h5");
        let dir = create(&base, &out).unwrap();
        let name = dir.file_name().unwrap().to_string_lossy().into_owned();
        assert!(
            name.starts_with(".scope-profiling_data-ranks-") && name.len() == 34,
            "{name}"
        );
        // Nothing written (an MPI run): the directory is removed, nothing merged.
        assert!(merge(&dir, &out, 2).is_none());
        assert!(!dir.exists());
        let dir = create(&base, &out).unwrap();
        rank_files(&dir, &[0, 1], "compute", true);
        let (w, unmatched) = merge(&dir, &out, 2).unwrap().unwrap();
        assert_eq!(w.merge.merged, vec![0, 1]);
        assert!(unmatched.is_empty());
        let a = ProfileReader::open(&out).unwrap().attrs().unwrap();
        assert_eq!((a.ranks, a.complete), (2, true));
        assert!(!dir.exists());
        // One rank short of the launch: merged, not complete.
        let out2 = base.join("second.h5");
        let dir = create(&base, &out2).unwrap();
        rank_files(&dir, &[0], "compute", true);
        merge(&dir, &out2, 2).unwrap().unwrap();
        let a = ProfileReader::open(&out2).unwrap().attrs().unwrap();
        assert_eq!((a.complete, a.missing_ranks), (false, vec![1]));
        // The output exists already (the MPI ranks merged it): the stray files are kept.
        let dir = create(&base, &out).unwrap();
        rank_files(&dir, &[3], "compute", false);
        let e = merge(&dir, &out, 4).unwrap().unwrap_err();
        assert!(e.contains("kept in"), "{e}");
        assert!(dir.exists());
        std::fs::remove_dir_all(&base).unwrap();
    }
}
