//! Opening scope's own HDF5 files. HDF5 takes a `flock` on every file it opens and does not set
//! `O_CLOEXEC`, so a child process forked while a file is open (the profiled program's `fork` or
//! `system`, a test spawning a compiler) inherits the lock and can make a later open of that
//! file fail. scope's files live in a private directory (or are the fresh output) and have one
//! writer by construction, so they are opened without HDF5's file locking.
//! Invariant: every open and create of a file in this crate goes through here.

use hdf5::File;
use std::path::Path;

fn builder() -> hdf5::FileBuilder {
    let mut b = File::with_options();
    b.with_fapl(|p| p.file_locking(false));
    b
}

/// Creates `path`, which must not exist (not even as a dangling symlink). The name is claimed
/// with `O_CREAT|O_EXCL` first, so if HDF5 then cannot write the new file (a full disk) the
/// empty file is ours to remove, and is removed: a failed create leaves nothing behind.
pub(crate) fn create_excl(path: &Path) -> hdf5::Result<File> {
    create_excl_with_userblock(path, 0)
}

/// `create_excl` with a user block of `userblock` bytes (0, or a power of two from 512) at the
/// start of the file, which HDF5 reserves and never reads or writes.
pub(crate) fn create_excl_with_userblock(path: &Path, userblock: u64) -> hdf5::Result<File> {
    let claim = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .map_err(|e| hdf5::Error::from(format!("{}: {e}", path.display())))?;
    let mut b = builder();
    if userblock > 0 {
        b.with_fcpl(|p| p.userblock(userblock));
    }
    let file = b.create(path).inspect_err(|_| {
        let _ = std::fs::remove_file(path);
    })?;
    // HDF5 opened the (empty) file with O_TRUNC, which makes ext4 (auto_da_alloc) start
    // writing back everything dirty when the file is next closed, as if the file had replaced
    // another. Closing the claim now spends that on a file still almost empty, so the close
    // after the merge (or after a rank's run) does not push megabytes to the disk as it goes.
    drop(claim);
    Ok(file)
}

pub(crate) fn open(path: &Path) -> hdf5::Result<File> {
    builder().open(path)
}

/// Opens an existing file of ours for writing (to add an attribute after a merge).
pub(crate) fn open_rw(path: &Path) -> hdf5::Result<File> {
    builder().open_rw(path)
}

#[cfg(test)]
mod tests {
    use crate::{ProfileReader, RankAttrs, RankWriter};

    #[test]
    fn a_child_forked_while_a_file_was_open_does_not_block_reopening_it() {
        let dir = std::env::temp_dir().join(format!("scope-format-lock-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("rank_0.h5");
        let mut w = RankWriter::create(&path, RankAttrs::default()).unwrap();
        w.append("compute", &[1], &[2], &[0]).unwrap();
        // The child inherits HDF5's descriptor of the open file (no O_CLOEXEC) and outlives it.
        let mut child = std::process::Command::new("sleep")
            .arg("5")
            .spawn()
            .unwrap();
        w.finish().unwrap();
        let opened = ProfileReader::open(&path).and_then(|r| r.count(0, "compute"));
        let _ = child.kill();
        let _ = child.wait();
        assert_eq!(opened.unwrap(), 1);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
