//! A tmpfs mounted for one test (a full disk, a read-only directory), unmounted when dropped.
//! Mounting needs CAP_SYS_ADMIN: without it [`Tmpfs::mount`] says why, and the test skips.

use crate::proc::Cmd;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub struct Tmpfs {
    dir: PathBuf,
}

impl Tmpfs {
    /// `mount -t tmpfs -o OPTIONS tmpfs DIR` (DIR is created); `Err` with the reason if it fails.
    pub fn mount(dir: &Path, options: &str) -> Result<Tmpfs, String> {
        std::fs::create_dir_all(dir).map_err(|e| format!("mkdir {}: {e}", dir.display()))?;
        let o = Cmd::new("mount")
            .args(["-t", "tmpfs", "-o", options, "tmpfs"])
            .arg(dir)
            .timeout(Duration::from_secs(30))
            .run();
        if !o.success() {
            return Err(format!(
                "cannot mount a tmpfs on {} ({}): {}",
                dir.display(),
                options,
                o.stderr.trim()
            ));
        }
        Ok(Tmpfs {
            dir: dir.to_path_buf(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.dir
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let o = Cmd::new("umount")
            .arg(&self.dir)
            .timeout(Duration::from_secs(30))
            .run();
        if !o.success() {
            // Busy (a straggling rank): detach it now, it goes when the last user does.
            let _ = Cmd::new("umount")
                .arg("-l")
                .arg(&self.dir)
                .timeout(Duration::from_secs(30))
                .run();
        }
    }
}
