//! This thread's state: the one the TLS slot holds, or the shared retired state installed when
//! a thread's own state was retired (or on the agent's own threads), which never records.
//!
//! Invariants: a non-null TLS state is this thread's and stays mapped (states are never
//! freed); the retired state's `depth_limit` is always 0, so a thread holding it passes every
//! call through.

use super::backend::tls;
use super::thread::{Entry, ThreadState, SPAN_CAP, STACK_CAP};
use super::word::HookWord;
use std::sync::atomic::AtomicU64;

/// A state that never records: installed when a thread's own state is retired.
static RETIRED: ThreadState = retired_state();

const fn retired_state() -> ThreadState {
    const E: Entry = Entry {
        ret: 0,
        slot: 0,
        word: HookWord(0),
        t_enter: 0,
    };
    ThreadState {
        depth: AtomicU64::new(0),
        depth_limit: AtomicU64::new(0),
        cur: AtomicU64::new(0),
        end: AtomicU64::new(0),
        buf: AtomicU64::new(0),
        dropped: 0,
        thread_index: 0,
        entries: [E; STACK_CAP],
        bufs: [0; 2],
        gen: AtomicU64::new(0),
        handoff: AtomicU64::new(0),
        taken: [AtomicU64::new(0), AtomicU64::new(0)],
        handing: AtomicU64::new(0),
        exit_passes: 0,
        paused: 0,
        span_depth: 0,
        spans: [E; SPAN_CAP],
    }
}

/// This thread has a state (its own or the retired one): not before its first hooked call.
pub fn has_state() -> bool {
    !tls::current().is_null()
}

/// This thread's own recording state, if it has one (none before its first hooked call, and
/// none once it was retired: no reference to the shared retired state is ever made here).
pub fn own() -> Option<&'static mut ThreadState> {
    let st = tls::current();
    let retired = &RETIRED as *const ThreadState as *mut ThreadState;
    // SAFETY: a non-null TLS state other than the retired one is this thread's own (only this
    // thread uses it mutably) and stays mapped (states are never freed).
    (!st.is_null() && st != retired).then(|| unsafe { &mut *st })
}

/// Installs `st` as this thread's state.
pub(super) fn install(st: *mut ThreadState) {
    tls::set_current(st);
}

/// From now on this thread passes every hooked call through, uncounted.
pub fn retire_this_thread() {
    tls::set_current(&RETIRED as *const ThreadState as *mut ThreadState);
}
