//! C++ exceptions (and any `_Unwind_*` unwinding) and stack walks through hooked frames.
//!
//! A hooked frame's return slot holds the stub's leave address, for which the unwinder has no
//! unwind information: unwinding through it would terminate the program. So before any
//! unwinder entry point runs, every open frame of the thread gets its real return address
//! back (`restore_returns`); when `__cxa_begin_catch` runs, frames above the catch point are
//! still live and are routed through their stubs again (`rehook_live`), and frames below it
//! are gone and are dropped from the shadow stack. `backtrace` gets the same treatment around
//! its walk (`show_real_returns`, `hide_real_returns`).
//! Invariant: a slot is rewritten only when it holds exactly the value we expect there (the
//! stub's leave address, or the real return address), so a frame reused by other code is
//! never touched.

use super::buffers;
use super::current;
use super::hooks;
use super::thread::{ThreadState, ENTRY_SIZE};
use crate::base::clock;
use std::sync::atomic::Ordering;

/// Puts the real return address back into every open frame's slot.
pub fn restore_returns(st: &ThreadState) {
    for e in st.open_entries() {
        let leave = hooks::leave_address(e.word.hook() as usize);
        let slot = e.slot as *mut u64;
        // SAFETY: `slot` is the return-address slot of a frame that is open on this thread's
        // stack (its function has not returned through the stub), so it is mapped and ours to
        // read; it is written only when it still holds the stub's leave address.
        unsafe {
            if slot.read() == leave {
                slot.write(e.ret);
            }
        }
    }
}

/// Routes every open frame through its stub again (after `restore_returns`, once the walk
/// that needed the real addresses is over and every frame is still live).
pub fn rehook_all(st: &ThreadState) {
    for e in st.open_entries() {
        let leave = hooks::leave_address(e.word.hook() as usize);
        let slot = e.slot as *mut u64;
        // SAFETY: as in `restore_returns`; written only when it holds the real return address
        // put there.
        unsafe {
            if slot.read() == e.ret {
                slot.write(leave);
            }
        }
    }
}

/// At a catch whose frame has `catch_sp`: the frames below it were unwound by the exception
/// and are recorded as ending now (the catch is the first moment the agent sees them gone, so
/// their end time is an upper bound); the frames above it are live and go through their stubs
/// again.
pub fn rehook_live(st: &mut ThreadState, catch_sp: u64) {
    let open = st.open_entries().to_vec();
    let keep = open
        .iter()
        .rposition(|e| e.slot >= catch_sp)
        .map(|i| i + 1)
        .unwrap_or(0);
    for e in &open[..keep] {
        let leave = hooks::leave_address(e.word.hook() as usize);
        let slot = e.slot as *mut u64;
        // SAFETY: as in `restore_returns`: a live frame above the catch point; written only
        // when it holds the real return address we put there.
        unsafe {
            if slot.read() == e.ret {
                slot.write(leave);
            }
        }
    }
    st.depth.store(keep as u64 * ENTRY_SIZE, Ordering::Relaxed);
    let now = clock::ticks();
    for e in open[keep..].iter().rev() {
        buffers::record(st, e.word, e.t_enter, now);
    }
}

/// Before a stack walk on this thread (`backtrace`): open frames get their real return
/// addresses back.
pub fn show_real_returns() {
    if let Some(st) = current::own() {
        restore_returns(st);
    }
}

/// After the walk: the open frames return through their stubs again.
pub fn hide_real_returns() {
    if let Some(st) = current::own() {
        rehook_all(st);
    }
}

/// Unwinder entry points that get an `UnwindStart` hook.
pub const UNWIND_STARTS: &[&str] = &[
    "_Unwind_RaiseException",
    "_Unwind_Resume",
    "_Unwind_Resume_or_Rethrow",
    "_Unwind_ForcedUnwind",
];
/// Where a C++ handler takes an exception.
pub const BEGIN_CATCH: &str = "__cxa_begin_catch";
