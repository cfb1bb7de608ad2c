//! The reentrancy guard: while agent code runs on a thread (an exported wrapper, the
//! lifecycle, the recorder's own writes), hooked functions it calls pass through unrecorded,
//! and the agent's own `dlopen`/MPI calls are told apart from the program's.
//!
//! Invariant: `as_agent` nests, and restores on return exactly what it found (the flag and
//! this thread's pause count), also when `f` panics (the panic is returned to the caller).

use super::current;
use super::gate;
use std::cell::Cell;

thread_local! {
    /// Set while this thread runs agent code.
    static INSIDE: Cell<bool> = const { Cell::new(false) };
}

/// True while this thread runs agent code.
pub fn inside_agent() -> bool {
    INSIDE.with(|f| f.get())
}

/// Runs `f` as agent code: the guard set and recording paused on this thread.
pub fn as_agent<R>(f: impl FnOnce() -> R) -> std::thread::Result<R> {
    let outer = INSIDE.with(|i| i.replace(true));
    let paused = pause_recording();
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
    resume_recording(paused);
    INSIDE.with(|i| i.set(outer));
    result
}

/// A pause of recording on this thread, ended by `resume_recording`.
#[must_use]
pub struct Paused(bool);

/// Pauses recording on this thread (hooked functions it calls pass through).
pub fn pause_recording() -> Paused {
    match current::own() {
        Some(st) => {
            gate::pause(st);
            Paused(true)
        }
        None => Paused(false),
    }
}

/// Ends a pause (recording stays off if it was stopped meanwhile).
pub fn resume_recording(p: Paused) {
    if p.0 {
        if let Some(st) = current::own() {
            gate::resume(st);
        }
    }
}
