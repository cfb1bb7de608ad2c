//! The per-thread state pointer, read by the stubs at `tpidr_el0 + offset`.
//!
//! Invariant: the agent is loaded by `LD_PRELOAD`, so its TLS block lives in the static TLS
//! area and `&STATE - tpidr_el0` is the same on every thread. `init` computes the offset on the
//! loading thread; `verify_current_thread` re-checks it on each new thread before the state is
//! installed (a mismatch disables the engine rather than corrupting memory).

use super::super::thread::ThreadState;
use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering};

thread_local! {
    static STATE: Cell<*mut ThreadState> = const { Cell::new(std::ptr::null_mut()) };
}

static OFFSET: AtomicU64 = AtomicU64::new(0);

/// The slot's offset from the thread pointer, as the stubs load it (valid after `init`).
pub fn offset() -> u64 {
    OFFSET.load(Ordering::Relaxed)
}

fn thread_pointer() -> u64 {
    let tp: u64;
    // SAFETY: reading the EL0 thread ID register has no side effect.
    unsafe {
        std::arch::asm!("mrs {}, tpidr_el0", out(reg) tp, options(nomem, nostack, preserves_flags))
    };
    tp
}

fn slot_address() -> u64 {
    STATE.with(|c| c as *const Cell<*mut ThreadState> as u64)
}

/// Computes the offset on this thread; `None` when the slot is not past the thread pointer
/// within the static TLS area (dynamic TLS: the agent was not preloaded).
pub fn init() -> Option<u64> {
    let off = slot_address().checked_sub(thread_pointer())?;
    if off >= 1 << 20 {
        return None;
    }
    OFFSET.store(off, Ordering::Relaxed);
    Some(off)
}

/// True if the fixed offset finds this thread's slot.
pub fn verify_current_thread() -> bool {
    slot_address().wrapping_sub(thread_pointer()) == OFFSET.load(Ordering::Relaxed)
}

pub fn current() -> *mut ThreadState {
    STATE.with(|c| c.get())
}

pub fn set_current(s: *mut ThreadState) {
    STATE.with(|c| c.set(s));
}
