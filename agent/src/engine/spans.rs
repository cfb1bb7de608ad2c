//! Client spans: intervals a client measures itself around code the engine did not patch (an
//! interpreter's functions), recorded into the calling thread's buffers beside the hooks'
//! records, so one timeline nests both. A span is opened before the code runs and closed
//! after; spans still open when recording stops or the thread ends are recorded as ending
//! then, like open hooked frames (`buffers::record_open_frames`).
//!
//! Invariants: a span records only while its thread's gate is open and outside agent code;
//! the path allocates nothing and takes no lock (except a thread's first state, as for a
//! hooked call); spans carry the one hook id reserved for them (never a patched function's),
//! so their records look like any call's to the client.

use super::buffers;
use super::current;
use super::gate;
use super::guard;
use super::hooks::{self, Kind};
use super::registry;
use super::thread::{Entry, SPAN_CAP};
use super::word::HookWord;
use crate::base::clock;
use std::sync::atomic::{AtomicU32, Ordering};

/// The hook id spans carry (0 until reserved).
static SPAN_HOOK: AtomicU32 = AtomicU32::new(0);

/// Reserves the hook id of client spans. False when the hook table is full.
pub fn enable() -> bool {
    if SPAN_HOOK.load(Ordering::Acquire) != 0 {
        return true;
    }
    let Some(id) = hooks::reserve() else {
        return false;
    };
    hooks::publish(id, Kind::Timing, 0, 0, 0, 0);
    SPAN_HOOK.store(id, Ordering::Release);
    true
}

/// An open span: its index on the thread's span stack, plus one (0 = not recording).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Span(u64);

impl Span {
    pub const NONE: Span = Span(0);
}

/// Opens a span of `region` on this thread, now. `Span::NONE` when this thread does not record
/// (gate closed, agent code, no state to be had, spans not enabled).
pub fn open(region: u32) -> Span {
    let hook = SPAN_HOOK.load(Ordering::Relaxed);
    if hook == 0 {
        return Span::NONE;
    }
    // Agent code on a thread with a state pauses its gate; on one without, the guard says it.
    let st = match current::own() {
        Some(st) => st,
        None if !current::has_state() && !guard::inside_agent() && registry::thread_start() => {
            match current::own() {
                Some(st) => st,
                None => return Span::NONE,
            }
        }
        None => return Span::NONE,
    };
    if !gate::is_open(st) {
        return Span::NONE;
    }
    let i = st.span_depth as usize;
    if i >= SPAN_CAP {
        st.dropped += 1;
        return Span::NONE;
    }
    st.spans[i] = Entry {
        ret: 0,
        slot: 0,
        word: HookWord::new(hook, region),
        t_enter: clock::ticks(),
    };
    st.span_depth = i as u64 + 1;
    Span(i as u64 + 1)
}

/// Closes `span`, now: records it, and any span opened after it and not closed (a client that
/// lost track) as ending now too. Nothing if it was recorded already (recording stopped).
pub fn close(span: Span) {
    if span == Span::NONE {
        return;
    }
    let now = clock::ticks();
    let Some(st) = current::own() else {
        return;
    };
    let (i, depth) = (span.0 as usize - 1, st.span_depth as usize);
    if depth <= i {
        return;
    }
    st.span_depth = i as u64;
    // The spans opened after it first, innermost first, then it.
    for k in (i..depth).rev() {
        let e = st.spans[k];
        buffers::record(st, e.word, e.t_enter, now);
    }
}
