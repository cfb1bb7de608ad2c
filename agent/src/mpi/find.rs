//! Finding MPI's functions and objects at run time, without linking libmpi:
//! `dlsym(RTLD_NEXT)`, then `RTLD_DEFAULT`, then the loaded `libmpi*`/`libmpich*` objects
//! opened with `RTLD_NOLOAD` (what makes mpi4py work: it loads libmpi `RTLD_LOCAL`).
//! Invariant: a lookup of a function the agent itself defines (`PMPI_Init`, ...) never uses
//! `RTLD_DEFAULT`, which would find the agent.

use std::ffi::{CStr, CString};

pub fn next(name: &str) -> Option<usize> {
    let c = CString::new(name).ok()?;
    // SAFETY: dlsym with a valid C string.
    let p = unsafe { libc::dlsym(libc::RTLD_NEXT, c.as_ptr()) };
    (!p.is_null()).then_some(p as usize)
}

pub fn default(name: &str) -> Option<usize> {
    let c = CString::new(name).ok()?;
    // SAFETY: as above.
    let p = unsafe { libc::dlsym(libc::RTLD_DEFAULT, c.as_ptr()) };
    (!p.is_null()).then_some(p as usize)
}

/// Paths of loaded objects that look like an MPI library.
fn mpi_libraries() -> Vec<String> {
    unsafe extern "C" fn cb(
        info: *mut libc::dl_phdr_info,
        _: usize,
        data: *mut libc::c_void,
    ) -> libc::c_int {
        // SAFETY: valid for the callback's duration; `data` is our Vec.
        let (info, out) = unsafe { (&*info, &mut *(data as *mut Vec<String>)) };
        if !info.dlpi_name.is_null() {
            // SAFETY: NUL-terminated, owned by the loader.
            let name = unsafe { CStr::from_ptr(info.dlpi_name) }
                .to_string_lossy()
                .into_owned();
            let file = name.rsplit('/').next().unwrap_or("");
            if file.starts_with("libmpi") {
                out.push(name);
            }
        }
        0
    }
    let mut v: Vec<String> = Vec::new();
    // SAFETY: the callback only reads its arguments.
    unsafe { libc::dl_iterate_phdr(Some(cb), &mut v as *mut Vec<String> as *mut libc::c_void) };
    v
}

/// Looks `name` up in each loaded MPI library.
pub fn in_libmpi(name: &str) -> Option<usize> {
    let c = CString::new(name).ok()?;
    for path in mpi_libraries() {
        let Ok(p) = CString::new(path) else { continue };
        // SAFETY: RTLD_NOLOAD only returns a handle to an already loaded object.
        let h = unsafe { libc::dlopen(p.as_ptr(), libc::RTLD_NOLOAD | libc::RTLD_LAZY) };
        if h.is_null() {
            continue;
        }
        // SAFETY: valid handle and C string.
        let s = unsafe { libc::dlsym(h, c.as_ptr()) };
        // SAFETY: balances the dlopen above (the object stays loaded: it was already).
        unsafe { libc::dlclose(h) };
        if !s.is_null() {
            return Some(s as usize);
        }
    }
    None
}

/// A function the agent also defines: the next definition after the agent.
pub fn real(name: &str) -> Option<usize> {
    next(name).or_else(|| in_libmpi(name))
}

/// Any other MPI function or object.
pub fn any(name: &str) -> Option<usize> {
    next(name)
        .or_else(|| default(name))
        .or_else(|| in_libmpi(name))
}
