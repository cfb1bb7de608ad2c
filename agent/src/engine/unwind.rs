//! C++ exceptions (and any `_Unwind_*` unwinding) and stack walks through hooked frames.
//!
//! A hooked frame's return slot holds the stub's leave address, for which the unwinder has no
//! unwind information: unwinding through it would terminate the program. So before any
//! unwinder entry point runs, every open frame of the thread gets its real return address
//! back (`restore_returns`); when `__cxa_begin_catch` runs, frames above the catch point are
//! still live and are routed through their stubs again (`rehook_live`), and frames below it
//! are gone and are dropped from the shadow stack. `backtrace` gets the same treatment around
//! its walk (`show_real_returns`, `hide_real_returns`).
//! Where a frame keeps its return address is the back end's knowledge (`backend::frames`): on
//! x86-64 the `call` put it at the frame's slot; on aarch64 the function saved its link
//! register somewhere in its own frame, found by value between the frame's bounds.
//!
//! Invariant: a slot is rewritten only when it holds exactly the value we expect there (the
//! stub's leave address, or the real return address), so a frame reused by other code is
//! never touched; `sp` bounds the search from below and lies above the agent's own frames.

use super::backend::frames;
use super::buffers;
use super::current;
use super::hooks;
use super::thread::{Entry, ThreadState, ENTRY_SIZE};
use crate::base::clock;
use std::sync::atomic::Ordering;

/// The open frames' return slots that hold the stub's leave address, with their entries.
fn slots_holding_leave(open: &[Entry], sp: u64) -> Vec<(usize, u64)> {
    frames::return_slots(open, sp, |e| hooks::leave_address(e.word.hook() as usize))
}

/// The open frames' return slots that hold the real return address, with their entries.
fn slots_holding_ret(open: &[Entry], sp: u64) -> Vec<(usize, u64)> {
    frames::return_slots(open, sp, |e| e.ret)
}

/// Puts the real return address back into every open frame's slot; `sp`: this thread's stack
/// pointer at the program's call into the agent.
pub fn restore_returns(st: &ThreadState, sp: u64) {
    let open = st.open_entries();
    for (i, slot) in slots_holding_leave(open, sp) {
        let e = &open[i];
        let leave = hooks::leave_address(e.word.hook() as usize);
        let slot = slot as *mut u64;
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
pub fn rehook_all(st: &ThreadState, sp: u64) {
    let open = st.open_entries();
    for (i, slot) in slots_holding_ret(open, sp) {
        let e = &open[i];
        let leave = hooks::leave_address(e.word.hook() as usize);
        let slot = slot as *mut u64;
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
    for (i, slot) in slots_holding_ret(&open[..keep], catch_sp) {
        let e = &open[i];
        let leave = hooks::leave_address(e.word.hook() as usize);
        let slot = slot as *mut u64;
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
/// addresses back. `sp`: an address in the frame of the agent's function the program called,
/// above anything the agent keeps on the stack.
pub fn show_real_returns(sp: u64) {
    if let Some(st) = current::own() {
        restore_returns(st, sp);
    }
}

/// After the walk: the open frames return through their stubs again.
pub fn hide_real_returns(sp: u64) {
    if let Some(st) = current::own() {
        rehook_all(st, sp);
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
