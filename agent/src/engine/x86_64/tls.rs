//! The per-thread state pointer, read by the stubs at a fixed `fs`-relative offset.
//!
//! Invariant: the agent is loaded by `LD_PRELOAD`, so its TLS block lives in the static TLS
//! area and `&STATE - fs_base` is the same on every thread. `init` computes the offset on the
//! loading thread; `verify_current_thread` re-checks it on each new thread before the state is
//! installed (a mismatch disables the engine rather than corrupting memory).

use super::super::thread::ThreadState;
use std::cell::Cell;
use std::sync::atomic::{AtomicI64, Ordering};

thread_local! {
    static STATE: Cell<*mut ThreadState> = const { Cell::new(std::ptr::null_mut()) };
}

static OFFSET: AtomicI64 = AtomicI64::new(0);

/// The slot's offset from the thread pointer, as the stubs encode it (valid after `init`).
pub fn offset() -> i32 {
    OFFSET.load(Ordering::Relaxed) as i32
}

fn fs_base() -> u64 {
    let base: u64;
    // SAFETY: on x86-64 Linux (glibc and musl) `fs:0` holds the thread pointer itself (the TCB
    // self pointer), readable by any code of the thread.
    unsafe {
        std::arch::asm!("mov {}, qword ptr fs:[0]", out(reg) base, options(nostack, readonly, preserves_flags))
    };
    base
}

fn slot_address() -> u64 {
    STATE.with(|c| c as *const Cell<*mut ThreadState> as u64)
}

/// Computes the offset on this thread. Returns it, or `None` if it does not fit an `i32`
/// displacement (dynamic TLS: the agent was not preloaded).
pub fn init() -> Option<i32> {
    let off = slot_address() as i64 - fs_base() as i64;
    let off32 = i32::try_from(off).ok()?;
    OFFSET.store(off, Ordering::Relaxed);
    Some(off32)
}

/// True if the fixed offset finds this thread's slot.
pub fn verify_current_thread() -> bool {
    slot_address() as i64 - fs_base() as i64 == OFFSET.load(Ordering::Relaxed)
}

pub fn current() -> *mut ThreadState {
    STATE.with(|c| c.get())
}

pub fn set_current(s: *mut ThreadState) {
    STATE.with(|c| c.set(s));
}
