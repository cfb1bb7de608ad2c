//! The record buffers' whole protocol, producer and consumer side: appending a record,
//! handing a full buffer to the consumer thread (or to the client on this thread), waking and
//! waiting for the consumer, and reading complete records out of a buffer another thread may
//! be filling. Loss counting lives here too (`ThreadState::dropped`).
//!
//! Invariants:
//! - A record is complete once its word is non-zero: the leave stub and `append` write the word
//!   last (a Release store; x86 stores are seen in order). Buffers are zero before use and
//!   zeroed again when emptied.
//! - Each thread owns two buffers; `buf` is the one being filled. A full one may be handed to
//!   the consumer (`handoff`) while the other fills; the owner switches buffers only with
//!   `gen` odd, so a reader that sees the same even `gen` before and after reading `buf` and
//!   `cur` has a consistent pair.
//! - The consumer side (`take_handed_over`, `take_filling`, `empty_filling`) runs under the
//!   client's serialisation (one consumer at a time), which also covers `taken`.
//! - The producer side takes no lock, allocates nothing and makes no libc call; its only
//!   system calls are `futex` and `nanosleep`.

use super::client;
use super::gate;
use super::thread::{Record, ThreadState, BUF_LEN, RECORD_CAP, RECORD_SIZE};
use super::word::HookWord;
use crate::base::{clock, sys};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::Duration;

/// A consumer thread takes handed-over buffers.
static CONSUMER: AtomicBool = AtomicBool::new(false);
/// The futex word: 1 when there is work the consumer has not looked at yet.
static WORK: AtomicU32 = AtomicU32::new(0);

/// The consumer thread started (true) or stopped (false) taking buffers.
pub fn set_consumer(running: bool) {
    CONSUMER.store(running, Ordering::Release);
}

pub fn consumer_running() -> bool {
    CONSUMER.load(Ordering::Acquire)
}

/// Tells the consumer there is work: one atomic swap and, at most once until it looks, one raw
/// `futex` wake.
pub fn wake_consumer() {
    if WORK.swap(1, Ordering::AcqRel) == 0 {
        sys::futex_wake(&WORK);
    }
}

/// Consumer thread: waits until there is work or `timeout` passed, and takes the work flag.
pub fn wait_for_work(timeout: Duration) {
    sys::futex_wait(&WORK, 0, timeout);
    WORK.store(0, Ordering::Release);
}

/// Forgets pending wake-ups (a forked child, which has no consumer thread).
pub fn reset_consumer() {
    set_consumer(false);
    WORK.store(0, Ordering::Release);
}

/// Appends one record to the buffer being filled, if there is room.
pub(super) fn append(st: &ThreadState, first: u64, second: u64, word: HookWord) -> bool {
    let cur = st.cur.load(Ordering::Relaxed);
    if cur + RECORD_SIZE > st.end.load(Ordering::Relaxed) {
        return false;
    }
    st.cur.store(cur + RECORD_SIZE, Ordering::Relaxed);
    let r = cur as *mut Record;
    // SAFETY: `cur` lies inside this thread's record buffer with room for one record, reserved
    // above; only the owning thread writes there.
    unsafe {
        std::ptr::addr_of_mut!((*r).first).write(first);
        std::ptr::addr_of_mut!((*r).second).write(second);
        (*(std::ptr::addr_of_mut!((*r).word) as *const std::sync::atomic::AtomicU64))
            .store(word.0, Ordering::Release);
    }
    true
}

/// Records one finished call (the slow leave path), making room first.
pub(super) fn record(st: &mut ThreadState, word: HookWord, t_enter: u64, t_exit: u64) {
    make_room(st);
    if !append(st, t_enter, t_exit, word) {
        st.dropped += 1;
    }
}

/// Records the calls still open on `st` as ending now (recording is stopping, or the thread
/// ends: those calls never return while recording). The entries stay, so the frames that do
/// return later still find their return address.
pub fn record_open_frames(st: &mut ThreadState) {
    let open = st.open_entries().to_vec();
    let now = clock::ticks();
    for e in open.iter().rev() {
        record(st, e.word, e.t_enter, now);
    }
    let spans = st.open_spans().to_vec();
    st.span_depth = 0;
    for e in spans.iter().rev() {
        record(st, e.word, e.t_enter, now);
    }
}

/// Makes room for one record: hands the full buffer over, or has the client drain it on this
/// thread with recording paused.
pub(super) fn make_room(st: &mut ThreadState) {
    if is_full(st) && !hand_over(st) {
        if let Some(c) = client::get() {
            gate::pause(st);
            c.drain_now(st);
            gate::resume(st);
        }
    }
}

/// A thread's buffer is full (its slow path): with a consumer running, hand the buffer over
/// and switch to the other one, waiting first if the consumer has not taken the previous one
/// yet. Recording stays on meanwhile: a signal handler that runs during the wait records (and
/// may hand over itself; the wait then ends with a buffer that is no longer full). Returns
/// false when the caller must have the buffer drained itself (no consumer, or this thread must
/// not wait for it).
fn hand_over(st: &ThreadState) -> bool {
    let may_wait = client::get().is_some_and(|c| c.may_wait_for_consumer());
    if !may_wait || !consumer_running() {
        return false;
    }
    loop {
        if !is_full(st) {
            return true;
        }
        if st.handoff.load(Ordering::Acquire) != 0 {
            if !consumer_running() {
                return false;
            }
            wake_consumer();
            sys::nap();
            continue;
        }
        if st.handing.swap(1, Ordering::Relaxed) != 0 {
            // A signal handler interrupted this thread's own switch: leave it alone.
            return true;
        }
        if is_full(st) && st.handoff.load(Ordering::Acquire) == 0 {
            let full = st.buf.load(Ordering::Relaxed);
            switch_buffers(st);
            st.handoff.store(full, Ordering::Release);
            wake_consumer();
        }
        st.handing.store(0, Ordering::Relaxed);
        return true;
    }
}

/// No room for one more record in the buffer being filled.
fn is_full(st: &ThreadState) -> bool {
    st.cur.load(Ordering::Relaxed) + RECORD_SIZE > st.end.load(Ordering::Relaxed)
}

/// Which of `bufs` starts at `base` (0 for anything else, which cannot happen).
fn index_of(st: &ThreadState, base: u64) -> usize {
    usize::from(base == st.bufs[1])
}

/// Owner only: makes the other buffer the one being filled. It must be empty.
fn switch_buffers(st: &ThreadState) {
    let other = st.bufs[1 - index_of(st, st.buf.load(Ordering::Relaxed))];
    st.gen.fetch_add(1, Ordering::AcqRel);
    st.buf.store(other, Ordering::Release);
    st.cur.store(other, Ordering::Release);
    st.end.store(other + BUF_LEN as u64, Ordering::Release);
    st.gen.fetch_add(1, Ordering::AcqRel);
}

/// Slots reserved in the buffer at `base` when its fill mark is `cur`.
fn slots(base: u64, cur: u64) -> usize {
    ((cur.saturating_sub(base) / RECORD_SIZE) as usize).min(RECORD_CAP)
}

impl ThreadState {
    /// The complete records of the buffer at `base` from `from` up to slot `upto`: the
    /// leading run whose word is set (a slot reserved but not yet filled ends it).
    fn complete_records(&self, base: u64, from: usize, upto: usize) -> &[Record] {
        let upto = upto.min(RECORD_CAP);
        if base == 0 || from >= upto {
            return &[];
        }
        let first = (base as *const Record).wrapping_add(from);
        let mut n = 0;
        while n < upto - from {
            // SAFETY: `base` is one of this state's buffers of RECORD_CAP records (see
            // `thread::alloc`) and `from + n < RECORD_CAP`. A volatile read: the owner may be
            // filling the slot.
            let word = unsafe { std::ptr::addr_of!((*first.add(n)).word).read_volatile() };
            if word.0 == 0 {
                break;
            }
            n += 1;
        }
        // Acquire: the word is written last; what precedes it is visible now.
        std::sync::atomic::fence(Ordering::Acquire);
        // SAFETY: the first `n` records from `first` are complete and are not written again
        // until the buffer is emptied (which only the consumer, serialised, does).
        unsafe { std::slice::from_raw_parts(first, n) }
    }

    /// The buffer being filled and its fill mark, read consistently; `None` while the owner is
    /// switching buffers.
    fn snapshot(&self) -> Option<(u64, u64)> {
        let g = self.gen.load(Ordering::Acquire);
        if g % 2 == 1 {
            return None;
        }
        let base = self.buf.load(Ordering::Acquire);
        let cur = self.cur.load(Ordering::Acquire);
        (self.gen.load(Ordering::Acquire) == g).then_some((base, cur))
    }

    /// Zeroes the first `slots` records of the buffer at `base` and forgets what was taken of
    /// it. The owner must not be filling it.
    fn clear(&self, base: u64, slots: usize) {
        if base == 0 {
            return;
        }
        // SAFETY: `base` is one of this state's buffers; `slots <= RECORD_CAP`.
        unsafe { std::ptr::write_bytes(base as *mut Record, 0, slots.min(RECORD_CAP)) };
        self.taken[index_of(self, base)].store(0, Ordering::Release);
    }

    /// Consumer: the rest of a handed-over buffer goes to `take`; the buffer is given back
    /// empty.
    pub fn take_handed_over(&self, take: impl FnOnce(&[Record])) {
        let base = self.handoff.load(Ordering::Acquire);
        if base == 0 {
            return;
        }
        let from = self.taken[index_of(self, base)].load(Ordering::Acquire) as usize;
        take(self.complete_records(base, from, RECORD_CAP));
        self.clear(base, RECORD_CAP);
        self.handoff.store(0, Ordering::Release);
    }

    /// Consumer: the complete records of the buffer being filled that were not taken yet go
    /// to `take`; they stay in the buffer (counted as taken) until it is emptied.
    pub fn take_filling(&self, take: impl FnOnce(&[Record])) {
        let Some((base, cur)) = self.snapshot() else {
            return;
        };
        let taken = &self.taken[index_of(self, base)];
        let from = taken.load(Ordering::Acquire) as usize;
        let records = self.complete_records(base, from, slots(base, cur));
        if records.is_empty() {
            return;
        }
        taken.store((from + records.len()) as u64, Ordering::Release);
        take(records);
    }

    /// Empties the buffer being filled. Only its owner, or anyone once recording stopped.
    pub fn empty_filling(&self) {
        let base = self.buf.load(Ordering::Relaxed);
        self.clear(base, slots(base, self.cur.load(Ordering::Relaxed)));
        self.cur.store(base, Ordering::Relaxed);
    }
}
