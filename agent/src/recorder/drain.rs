//! Moving records out of the threads' buffers into the sink: the consumer side of the
//! engine's buffer protocol, always under the file lock.
//!
//! Invariants: every function here holds the file lock while it reads a buffer (the engine's
//! consumer side needs one consumer at a time); records are converted with a clock map valid
//! for every tick read so far (`clock::tick_map`), the process's one map, so every flush
//! converts a tick alike.

use super::batch::{capacity, to_batch_into, Batch};
use super::files::{holds_files, lock_files};
use super::sink::with_sink;
use crate::base::clock;
use crate::engine::{self, Record, ThreadState, RECORD_CAP};
use std::sync::Mutex;

/// The columns every conversion reuses (under the file lock, so uncontended): no fresh memory
/// per buffer. Dropped when it holds more than `KEEP` elements (many regions each once busy),
/// so a rank with hundreds of regions does not keep a buffer's worth of memory per region.
static SCRATCH: Mutex<Batch> = Mutex::new(Vec::new());
const KEEP: usize = 4 * 3 * RECORD_CAP;

/// Converts a thread's records and hands them to the sink (file lock held).
fn to_sink(st: &ThreadState, records: &[Record]) {
    if records.is_empty() {
        return;
    }
    let mut guard = clock::tick_map();
    let map = guard.map();
    let addr = st as *const ThreadState as usize;
    let (regions, mut pending) =
        with_sink(|s| (s.regions.clone(), s.args.remove(&addr).unwrap_or_default()));
    let mut batch = SCRATCH.lock().unwrap_or_else(|p| p.into_inner());
    to_batch_into(
        records,
        st.thread_index as i64,
        |t| map.ns(t),
        &regions,
        &mut pending,
        &mut batch,
    );
    with_sink(|s| {
        if !pending.is_empty() {
            s.args.insert(addr, pending);
        }
        s.accept(&batch)
    });
    if capacity(&batch) > KEEP {
        *batch = Vec::new();
    }
}

/// A thread's handed-over buffer, then all of its buffer being filled, past empty slots: it is
/// emptied next, or the thread ends (file lock held).
fn drain_locked(st: &ThreadState) {
    st.take_handed_over(|r| to_sink(st, r));
    st.take_rest_of_filling(|r| to_sink(st, r));
}

/// Writes a thread's records and empties its buffers: its owner (buffer full, no writer
/// thread), or anyone once recording stopped. A thread that already holds the file lock
/// (the agent's own code, interrupted) leaves them: its record is dropped by the engine.
pub fn flush_thread(st: &ThreadState) {
    if engine::is_forked_child() {
        st.empty_filling();
        return;
    }
    if holds_files() {
        return;
    }
    let _files = lock_files();
    drain_locked(st);
    st.empty_filling();
}

/// A thread is ending: keep its records and its dropped count; forget its args records.
pub fn retire_thread(st: &ThreadState) {
    if holds_files() {
        return;
    }
    let _files = lock_files();
    drain_locked(st);
    let addr = st as *const ThreadState as usize;
    with_sink(|s| {
        s.args.remove(&addr);
        s.dropped += st.dropped;
    });
}

/// Writer thread: every handed-over buffer and, when `all`, the complete records of every
/// buffer being filled.
pub fn drain_all(all: bool) {
    if engine::is_forked_child() {
        return;
    }
    let _files = lock_files();
    for st in engine::threads() {
        st.take_handed_over(|r| to_sink(st, r));
        if all {
            st.take_filling(|r| to_sink(st, r));
        }
    }
}
