//! Whether a thread records: the process-wide stop switch, the forked-child mark, and the
//! per-thread pauses (agent code running on the thread). `depth_limit`, the enter stub's one
//! check, is derived from these here and nowhere else, so the stub needs a single compare.
//!
//! Invariants: once stopped, no thread records again (a pause that ends after the stop leaves
//! the gate closed); a forked child is stopped; only the owner changes its `paused`.

use super::thread::ThreadState;
use std::sync::atomic::{AtomicBool, Ordering};

static STOPPED: AtomicBool = AtomicBool::new(false);
/// A child created by `fork`: it is not the profiled process and never records or writes.
static FORKED_CHILD: AtomicBool = AtomicBool::new(false);

pub fn stopped() -> bool {
    STOPPED.load(Ordering::Relaxed)
}

pub fn is_forked_child() -> bool {
    FORKED_CHILD.load(Ordering::Relaxed)
}

pub(super) fn stop() {
    STOPPED.store(true, Ordering::Relaxed);
}

pub(super) fn mark_forked_child() {
    FORKED_CHILD.store(true, Ordering::Relaxed);
    stop();
}

/// Sets `st`'s `depth_limit` from the switches (the owner, or any thread to close it).
pub(super) fn refresh(st: &ThreadState) {
    let open = !stopped() && st.paused == 0;
    st.depth_limit.store(
        if open { ThreadState::ACTIVE_LIMIT } else { 0 },
        Ordering::Relaxed,
    );
}

/// Closes `st`'s gate (recording stopped: any thread may do this).
pub(super) fn close(st: &ThreadState) {
    st.depth_limit.store(0, Ordering::Relaxed);
}

/// The thread records: its gate is open.
pub fn is_open(st: &ThreadState) -> bool {
    st.depth_limit.load(Ordering::Relaxed) != 0
}

/// Owner only: one more pause.
pub(super) fn pause(st: &mut ThreadState) {
    st.paused += 1;
    refresh(st);
}

/// Owner only: ends one pause.
pub(super) fn resume(st: &mut ThreadState) {
    st.paused = st.paused.saturating_sub(1);
    refresh(st);
}
