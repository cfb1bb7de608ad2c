//! `libscope_agent.so`: preloaded into every rank of an unmodified MPI program, it times the
//! functions named in the TOML config and writes one HDF5 file for the whole run.
//!
//! Every symbol the agent exports is in this file: the MPI entry points it interposes (C
//! `MPI_*` and the `PMPI_*` names that Fortran bindings call: init, finalize and abort),
//! `dlopen`/`dlclose` (to hook
//! libraries loaded later), `backtrace` (which must see real return addresses), and nothing
//! else.
//!
//! Layers, each using only those below it (checked by `layers.rs`; docs/how-it-works.md):
//! - `base/`: clock, raw system calls, log, loaded objects, target detection. No agent
//!   knowledge.
//! - `engine/`: attaching hooks, the per-thread state and record buffers, the reentrancy
//!   guard, the stop switch; its x86-64 back end in `engine/x86_64/`. It reaches its one client
//!   through `engine::Client`, and knows no recorder, MPI or file format.
//! - clients: `recorder/` (records → intervals → the rank file, the writer thread), `mpi/`
//!   (finding MPI, reading call arguments), `python/` (Python functions as regions, through
//!   the engine's spans), `resolve.rs` (regions → targets), `output.rs`;
//!   `client.rs` wires the recorder and the MPI layer into the engine's client.
//! - `lifecycle.rs`: the agent's life in a process (start-up, MPI init and finalize, exit,
//!   fork); this file: the exported symbols.
//!
//! `unsafe` is confined to `engine/` (code patching, stubs, trampolines, TLS), `mpi/` (calling
//! MPI through `dlsym`), `python/` (calling the interpreter's C API, reading its frames), `base/` (system calls, `dl_iterate_phdr`, `dlsym`, file mappings), `resolve.rs`
//! (`dladdr`, IFUNC resolvers), `output.rs` (`mkdtemp`), `recorder/` (one cast at the stop)
//! and the wrappers here. No panic crosses an `extern "C"` boundary.

// Until the aarch64 back end exists (issue 16) the engine's slow paths have no caller there.
#![cfg_attr(target_arch = "aarch64", allow(dead_code))]

mod base;
mod client;
mod engine;
#[cfg(test)]
mod layers;
mod leaders;
mod lifecycle;
mod mpi;
mod output;
mod placement;
mod python;
mod recorder;
mod resolve;

use std::ffi::{c_char, c_int};

/// MPI's generic error class, returned when the real MPI cannot be found.
const MPI_ERR_OTHER: c_int = 15;

#[used]
#[link_section = ".init_array"]
static CONSTRUCTOR: extern "C" fn() = constructor;

extern "C" fn constructor() {
    lifecycle::start();
}

fn missing_mpi(name: &str) -> c_int {
    base::log::error(&format!("cannot find the real {name}"));
    MPI_ERR_OTHER
}

unsafe fn init(argc: *mut c_int, argv: *mut *mut *mut c_char) -> c_int {
    let Some(real) = mpi::real_init() else {
        return missing_mpi("PMPI_Init");
    };
    // SAFETY: the caller's arguments are passed on unchanged to the real PMPI_Init.
    let rc = unsafe { real(argc, argv) };
    if rc == 0 {
        lifecycle::after_mpi_init();
    }
    rc
}

unsafe fn init_thread(
    argc: *mut c_int,
    argv: *mut *mut *mut c_char,
    required: c_int,
    provided: *mut c_int,
) -> c_int {
    let Some(real) = mpi::real_init_thread() else {
        return missing_mpi("PMPI_Init_thread");
    };
    // SAFETY: as in `init`.
    let rc = unsafe { real(argc, argv, required, provided) };
    if rc == 0 {
        lifecycle::after_mpi_init();
    }
    rc
}

unsafe fn finalize() -> c_int {
    lifecycle::before_mpi_finalize();
    let Some(real) = mpi::real_finalize() else {
        return missing_mpi("PMPI_Finalize");
    };
    // SAFETY: the real PMPI_Finalize takes no arguments.
    unsafe { real() }
}

type DlopenFn = unsafe extern "C" fn(*const c_char, c_int) -> *mut std::ffi::c_void;
type DlcloseFn = unsafe extern "C" fn(*mut std::ffi::c_void) -> c_int;

fn next_symbol(name: &std::ffi::CStr) -> *mut std::ffi::c_void {
    base::loaded::next_symbol(name).unwrap_or(0) as *mut std::ffi::c_void
}

/// # Safety
/// Called by the program as `dlopen`, with its arguments.
#[no_mangle]
pub unsafe extern "C" fn dlopen(file: *const c_char, mode: c_int) -> *mut std::ffi::c_void {
    let real = next_symbol(c"dlopen");
    if real.is_null() {
        return std::ptr::null_mut();
    }
    // SAFETY: the next `dlopen` in the lookup order is libc's, with this signature.
    let real: DlopenFn = unsafe { std::mem::transmute::<*mut std::ffi::c_void, DlopenFn>(real) };
    // SAFETY: forwarded as received.
    let handle = unsafe { real(file, mode) };
    // The agent's own calls bind to this wrapper too: they only need the real dlopen.
    if !handle.is_null() && mode & libc::RTLD_NOLOAD == 0 && !engine::inside_agent() {
        let saved = base::sys::errno();
        lifecycle::after_dlopen();
        base::sys::set_errno(saved);
    }
    handle
}

type BacktraceFn = unsafe extern "C" fn(*mut *mut std::ffi::c_void, c_int) -> c_int;

/// # Safety
/// Called by the program as `backtrace`, with its arguments. Hooked frames hold a stub's
/// address as their return address, which the unwinder cannot walk past: the real ones are put
/// back for the walk and the stubs' afterwards.
#[no_mangle]
pub unsafe extern "C" fn backtrace(buffer: *mut *mut std::ffi::c_void, size: c_int) -> c_int {
    let real = next_symbol(c"backtrace");
    if real.is_null() {
        return 0;
    }
    // SAFETY: the next `backtrace` in the lookup order is libc's, with this signature.
    let real: BacktraceFn =
        unsafe { std::mem::transmute::<*mut std::ffi::c_void, BacktraceFn>(real) };
    // Above this frame's locals: the program's frames, where hooked frames keep their returns.
    let here = 0u64;
    let sp = std::hint::black_box(&here) as *const u64 as u64;
    engine::show_real_returns(sp);
    // SAFETY: forwarded as received.
    let n = unsafe { real(buffer, size) };
    engine::hide_real_returns();
    n
}

/// # Safety
/// Called by the program as `dlclose`, with its argument.
#[no_mangle]
pub unsafe extern "C" fn dlclose(handle: *mut std::ffi::c_void) -> c_int {
    let real = next_symbol(c"dlclose");
    if real.is_null() {
        return -1;
    }
    // SAFETY: the next `dlclose` is libc's, with this signature.
    let real: DlcloseFn = unsafe { std::mem::transmute::<*mut std::ffi::c_void, DlcloseFn>(real) };
    // SAFETY: forwarded as received.
    let rc = unsafe { real(handle) };
    if !engine::inside_agent() {
        let saved = base::sys::errno();
        lifecycle::after_dlclose();
        base::sys::set_errno(saved);
    }
    rc
}

/// # Safety
/// Called by the program as `MPI_Init`, with its arguments.
#[no_mangle]
pub unsafe extern "C" fn MPI_Init(argc: *mut c_int, argv: *mut *mut *mut c_char) -> c_int {
    // SAFETY: forwarded as received.
    unsafe { init(argc, argv) }
}

/// # Safety
/// As `MPI_Init`.
#[no_mangle]
pub unsafe extern "C" fn PMPI_Init(argc: *mut c_int, argv: *mut *mut *mut c_char) -> c_int {
    // SAFETY: forwarded as received.
    unsafe { init(argc, argv) }
}

/// # Safety
/// Called by the program as `MPI_Init_thread`, with its arguments.
#[no_mangle]
pub unsafe extern "C" fn MPI_Init_thread(
    argc: *mut c_int,
    argv: *mut *mut *mut c_char,
    required: c_int,
    provided: *mut c_int,
) -> c_int {
    // SAFETY: forwarded as received.
    unsafe { init_thread(argc, argv, required, provided) }
}

/// # Safety
/// As `MPI_Init_thread`.
#[no_mangle]
pub unsafe extern "C" fn PMPI_Init_thread(
    argc: *mut c_int,
    argv: *mut *mut *mut c_char,
    required: c_int,
    provided: *mut c_int,
) -> c_int {
    // SAFETY: forwarded as received.
    unsafe { init_thread(argc, argv, required, provided) }
}

/// # Safety
/// Called by the program as `MPI_Finalize`.
#[no_mangle]
pub unsafe extern "C" fn MPI_Finalize() -> c_int {
    // SAFETY: no arguments.
    unsafe { finalize() }
}

/// # Safety
/// As `MPI_Finalize`.
#[no_mangle]
pub unsafe extern "C" fn PMPI_Finalize() -> c_int {
    // SAFETY: no arguments.
    unsafe { finalize() }
}

unsafe fn abort(comm: usize, code: c_int) -> c_int {
    lifecycle::before_mpi_abort();
    let Some(real) = mpi::real_abort() else {
        return missing_mpi("PMPI_Abort");
    };
    // SAFETY: forwarded as received (a communicator handle: an int in MPICH's ABI, a pointer
    // in Open MPI's, passed on in the same register either way).
    unsafe { real(comm, code) }
}

/// # Safety
/// Called by the program as `MPI_Abort`, with its arguments.
#[no_mangle]
pub unsafe extern "C" fn MPI_Abort(comm: usize, code: c_int) -> c_int {
    // SAFETY: forwarded as received.
    unsafe { abort(comm, code) }
}

/// # Safety
/// As `MPI_Abort`.
#[no_mangle]
pub unsafe extern "C" fn PMPI_Abort(comm: usize, code: c_int) -> c_int {
    // SAFETY: forwarded as received.
    unsafe { abort(comm, code) }
}
