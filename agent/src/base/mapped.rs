//! A file mapped read-only into memory, for reading ELF symbol tables of loaded objects: only
//! the pages the parser touches (headers, symbol and string tables) are read from disk,
//! instead of the whole file copied into a buffer (a libmpi with debug sections is tens of
//! MiB, and an MPI library loads dozens of plugins).
//! Invariant: the mapping lives exactly as long as the `Mapped` (unmapped on drop); an empty
//! file maps to an empty slice without a mapping.

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

pub struct Mapped {
    ptr: *mut libc::c_void,
    len: usize,
}

impl Mapped {
    /// Maps `path` read-only (private), or `None` if it cannot be opened or mapped.
    pub fn open(path: &Path) -> Option<Mapped> {
        let c = CString::new(path.as_os_str().as_bytes()).ok()?;
        // SAFETY: a valid NUL-terminated path; the descriptor is closed below.
        let fd = unsafe { libc::open(c.as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC) };
        if fd < 0 {
            return None;
        }
        // SAFETY: `stat` is plain data; all-zero is a valid value for fstat to fill.
        let mut st: libc::stat = unsafe { std::mem::zeroed() };
        // SAFETY: `fd` is open and `st` is writable.
        let ok = unsafe { libc::fstat(fd, &mut st) } == 0;
        let len = st.st_size.max(0) as usize;
        let ptr = if ok && len > 0 {
            // SAFETY: a read-only private mapping of the whole file; failure is checked.
            unsafe {
                libc::mmap(
                    std::ptr::null_mut(),
                    len,
                    libc::PROT_READ,
                    libc::MAP_PRIVATE,
                    fd,
                    0,
                )
            }
        } else {
            std::ptr::null_mut()
        };
        // SAFETY: closing the descriptor we opened; the mapping stays valid without it.
        unsafe { libc::close(fd) };
        if !ok || ptr == libc::MAP_FAILED {
            return None;
        }
        Some(Mapped { ptr, len })
    }

    pub fn bytes(&self) -> &[u8] {
        if self.len == 0 {
            return &[];
        }
        // SAFETY: `ptr` maps `len` readable bytes for as long as `self` lives.
        unsafe { std::slice::from_raw_parts(self.ptr as *const u8, self.len) }
    }
}

impl AsRef<[u8]> for Mapped {
    fn as_ref(&self) -> &[u8] {
        self.bytes()
    }
}

impl Drop for Mapped {
    fn drop(&mut self) {
        if self.len > 0 {
            // SAFETY: unmapping exactly the mapping made in `open`.
            unsafe { libc::munmap(self.ptr, self.len) };
        }
    }
}
