//! The aarch64 back end: **not built yet** (issue 16). This skeleton gives the rest of the
//! engine the interface the x86-64 back end gives (`init`, `tls`, `memory`, `patch`, `plan`),
//! so the agent builds and loads on aarch64; `init` refuses, the agent says "not profiling"
//! with the reason and the program runs untouched. The real back end (prologue relocation,
//! stubs, trampolines, I-cache maintenance) replaces these modules one by one.
//!
//! Invariant: nothing here patches code or records; every entry point refuses with `NOT_BUILT`.

use super::target::{Planned, Target};
use super::thread::ThreadState;

const NOT_BUILT: &str = "the aarch64 back end of the engine is not built yet";

/// Checks the CPU and the TLS slot: on aarch64, always refused for now.
pub fn init() -> Result<(), String> {
    Err(NOT_BUILT.into())
}

pub mod tls {
    //! This thread's state: a plain thread-local (no stub reads it on this architecture yet).
    use super::ThreadState;
    use std::cell::Cell;

    thread_local! {
        static CURRENT: Cell<*mut ThreadState> = const { Cell::new(std::ptr::null_mut()) };
    }

    pub fn verify_current_thread() -> bool {
        true
    }

    pub fn current() -> *mut ThreadState {
        CURRENT.with(Cell::get)
    }

    pub fn set_current(s: *mut ThreadState) {
        CURRENT.with(|c| c.set(s));
    }
}

pub mod memory {
    //! Code arenas near their functions: none yet.

    pub struct Arena;

    impl Arena {
        pub fn seal(&self) -> Result<(), String> {
            Ok(())
        }
    }
}

pub mod patch {
    //! Writing into mapped code: refused.

    pub fn write_code(_addr: u64, _bytes: &[u8]) -> Result<(), String> {
        Err(super::NOT_BUILT.into())
    }
}

pub mod plan {
    //! One target's hook: refused.
    use super::{memory, Planned, Target};

    pub fn plan(_t: &Target, _arenas: &mut Vec<memory::Arena>) -> Result<Planned, String> {
        Err(super::NOT_BUILT.into())
    }
}
