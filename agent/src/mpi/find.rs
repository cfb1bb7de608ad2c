//! Finding MPI's functions and objects at run time, without linking libmpi:
//! `dlsym(RTLD_NEXT)`, then `RTLD_DEFAULT`, then the loaded MPI libraries opened with
//! `RTLD_NOLOAD` (what makes mpi4py work: it loads libmpi `RTLD_LOCAL`).
//! Invariant: a lookup of a function the agent itself defines (`PMPI_Init`, ...) never uses
//! `RTLD_DEFAULT`, which would find the agent.

use crate::base::loaded;
use std::ffi::CString;

/// A loaded object is an MPI library (`libmpi.so*`, `libmpich.so*`: the one rule, shared with
/// the config check and `scope-run`).
pub fn is_mpi_object(path: &str) -> bool {
    scope_config::is_mpi_library(path.rsplit('/').next().unwrap_or(""))
}

/// A library of MPI's Fortran bindings (`scope_config::is_fortran_mpi_library`).
pub fn is_fortran_mpi_object(path: &str) -> bool {
    scope_config::is_fortran_mpi_library(path.rsplit('/').next().unwrap_or(""))
}

pub fn next(name: &str) -> Option<usize> {
    loaded::next_symbol(&CString::new(name).ok()?)
}

pub fn default(name: &str) -> Option<usize> {
    loaded::default_symbol(&CString::new(name).ok()?)
}

/// Looks `name` up in each loaded MPI library.
pub fn in_libmpi(name: &str) -> Option<usize> {
    loaded::objects()
        .iter()
        .filter(|o| is_mpi_object(&o.path))
        .find_map(|o| loaded::symbol_in(&o.path, name))
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
