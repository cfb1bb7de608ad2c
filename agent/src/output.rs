//! Where files go: the output file (`SCOPE_OUTPUT`, default `profiling_data.h5` in the working
//! directory) and the temporary directory of per-rank files, created with `mkdtemp` (mode 0700)
//! next to the output (or under `SCOPE_TMPDIR`). Invariant: an existing output file is never
//! overwritten: the merge picks the first free name `<stem>.<N>.h5` and says so
//! (`scope_format::merge_launched_world_beside`). A world started with `MPI_Comm_spawn` writes
//! `<stem>.world<K>.h5` instead (see `scope_format::world`).

use scope_config::env;
use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

pub fn output_path() -> PathBuf {
    let p = std::env::var_os(env::OUTPUT)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("profiling_data.h5"));
    if p.is_absolute() {
        p
    } else {
        std::env::current_dir().map(|d| d.join(&p)).unwrap_or(p)
    }
}

/// Creates the private temporary directory for the per-rank files.
pub fn make_tmpdir(output: &Path) -> Result<PathBuf, String> {
    make_world_tmpdir(output, false)
}

/// Creates the private temporary directory for the per-rank files of the launched world
/// (`.scope-<stem>-XXXXXX`) or of a world started with `MPI_Comm_spawn`
/// (`.scope-<stem>-world-XXXXXX`, which `scope-run`'s salvage tells apart).
pub fn make_world_tmpdir(output: &Path, spawned: bool) -> Result<PathBuf, String> {
    let parent = std::env::var_os(env::TMPDIR)
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            output
                .parent()
                .map(Path::to_path_buf)
                .unwrap_or_else(|| PathBuf::from("."))
        });
    let prefix = scope_format::private_dir_prefix(output, spawned);
    let template = parent.join(format!("{prefix}XXXXXX"));
    let c = CString::new(template.as_os_str().as_bytes())
        .map_err(|_| "bad temporary path".to_string())?;
    let mut raw = c.into_bytes_with_nul();
    // SAFETY: a writable, NUL-terminated template ending in XXXXXX.
    let p = unsafe { libc::mkdtemp(raw.as_mut_ptr() as *mut libc::c_char) };
    if p.is_null() {
        return Err(format!(
            "cannot create a temporary directory in {}: {}",
            parent.display(),
            std::io::Error::last_os_error()
        ));
    }
    raw.pop();
    Ok(PathBuf::from(std::ffi::OsStr::from_bytes(&raw)))
}
