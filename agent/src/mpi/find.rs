//! Finding MPI's functions and objects at run time, without linking libmpi:
//! `dlsym(RTLD_NEXT)`, then `RTLD_DEFAULT`, then the loaded `libmpi*`/`libmpich*` objects
//! opened with `RTLD_NOLOAD` (what makes mpi4py work: it loads libmpi `RTLD_LOCAL`).
//! Invariant: a lookup of a function the agent itself defines (`PMPI_Init`, ...) never uses
//! `RTLD_DEFAULT`, which would find the agent.

use std::ffi::CString;

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

/// Looks `name` up in each loaded MPI library (`libmpi*`, which covers `libmpich*`).
pub fn in_libmpi(name: &str) -> Option<usize> {
    crate::loaded::objects()
        .iter()
        .filter(|o| {
            o.path
                .rsplit('/')
                .next()
                .unwrap_or("")
                .starts_with("libmpi")
        })
        .find_map(|o| crate::loaded::symbol_in(&o.path, name))
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
