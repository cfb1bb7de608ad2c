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
//! - The stubs fill a buffer up to `end`; its last `RESERVE_CAP` records are the slow path's
//!   (`append`), for a signal handler that records while its thread cannot switch buffers:
//!   the owner was interrupted in its own switch, or between reserving a slot and writing it.
//! - A slot is reserved by an atomic read-modify-write of `cur` (the stubs' `xadd` or
//!   `ldxr`/`stxr`, `append`'s compare-and-swap), so a signal handler's record never shares
//!   one with the code it interrupted.
//! - The producer side takes no lock, allocates nothing and makes no libc call; its only
//!   system calls are `futex` and `nanosleep`.

use super::client;
use super::gate;
use super::thread::{Record, ThreadState, BUF_LEN, FAST_LEN, RECORD_CAP, RECORD_SIZE, RESERVE_CAP};
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

/// Appends one record to the buffer being filled, if there is room (the reserve included).
pub(super) fn append(st: &ThreadState, first: u64, second: u64, word: HookWord) -> bool {
    // Reserved by compare-and-swap, as the stubs do: a signal handler that records between
    // reading the fill mark and moving it makes the swap fail instead of sharing the slot.
    let mut cur = st.cur.load(Ordering::Relaxed);
    loop {
        if past_reserve(st, cur) {
            return false;
        }
        match st.cur.compare_exchange_weak(
            cur,
            cur + RECORD_SIZE,
            Ordering::Relaxed,
            Ordering::Relaxed,
        ) {
            Ok(_) => break,
            Err(now) => cur = now,
        }
    }
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
/// thread with recording paused. Neither while a record of this thread is half written (this
/// is a signal handler that interrupted the leave stub between reserving its slot and writing
/// its word): the consumer would stop at that slot and empty the buffer before the stub
/// writes it, so the handler's records go to the reserve instead. A reserve used up with the
/// slot still empty means the stub will never write it (`siglongjmp` out of the handler): the
/// buffer is then handed over as it is, and the consumer skips the empty slot.
pub(super) fn make_room(st: &mut ThreadState) {
    if !is_full(st) {
        return;
    }
    if half_written(st) && !reserve_full(st) {
        return;
    }
    if !hand_over(st) {
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

/// No room for one more record where the stubs fill (the reserve aside).
fn is_full(st: &ThreadState) -> bool {
    st.cur.load(Ordering::Relaxed) + RECORD_SIZE > st.end.load(Ordering::Relaxed)
}

/// The buffer the fill mark `cur` points into. Mostly `buf`; not while a signal handler
/// interrupted the owner's `switch_buffers` between its stores to `buf` and to `cur`: the
/// handler's records then go to the old buffer's reserve, which is handed over with it.
/// (`cur` at the end of the first buffer is also the start of the second: the end, full,
/// unless the owner is not switching and fills the second.)
fn filled_by(st: &ThreadState, cur: u64) -> u64 {
    let [first, second] = st.bufs;
    let in_second = match cur.cmp(&second) {
        std::cmp::Ordering::Less => false,
        std::cmp::Ordering::Greater => true,
        std::cmp::Ordering::Equal => {
            st.gen.load(Ordering::Acquire).is_multiple_of(2)
                && st.buf.load(Ordering::Relaxed) == second
        }
    };
    if in_second {
        second
    } else {
        first
    }
}

/// No room for one more record at `cur` in its buffer, the reserve included.
fn past_reserve(st: &ThreadState, cur: u64) -> bool {
    cur + RECORD_SIZE > filled_by(st, cur) + BUF_LEN as u64
}

/// No room for one more record in the reserve either.
fn reserve_full(st: &ThreadState) -> bool {
    past_reserve(st, st.cur.load(Ordering::Relaxed))
}

/// How far back from the fill mark `half_written` looks: the records a signal handler may
/// have made since it interrupted the stub (more, and the half-written slot is not seen).
const HALF_WRITTEN_WINDOW: usize = 4 * RESERVE_CAP;

/// Owner only: a slot below the fill mark, not yet taken, whose word is still zero. Only a
/// leave stub interrupted between reserving the slot and writing its word leaves one, so the
/// caller runs in a signal handler on top of that stub (or one that left it by `siglongjmp`).
fn half_written(st: &ThreadState) -> bool {
    let cur = st.cur.load(Ordering::Relaxed);
    let base = filled_by(st, cur);
    let upto = slots(base, cur);
    let taken = st.taken[index_of(st, base)].load(Ordering::Acquire) as usize;
    let from = taken.max(upto.saturating_sub(HALF_WRITTEN_WINDOW));
    (from..upto).any(|i| {
        // SAFETY: `base` is one of this state's buffers of RECORD_CAP records and
        // `i < upto <= RECORD_CAP`; a volatile read of a word only this thread writes.
        let word =
            unsafe { std::ptr::addr_of!((*(base as *const Record).add(i)).word).read_volatile() };
        word.0 == 0
    })
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
    st.end.store(other + FAST_LEN as u64, Ordering::Release);
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

    /// The complete records of the buffer at `base` from `from` up to slot `upto`, run by run
    /// past empty slots (a slot never written: see `make_room`).
    fn complete_runs(&self, base: u64, from: usize, upto: usize, mut take: impl FnMut(&[Record])) {
        let upto = upto.min(RECORD_CAP);
        let mut at = from;
        while at < upto {
            let run = self.complete_records(base, at, upto);
            if !run.is_empty() {
                take(run);
            }
            at += run.len() + 1;
        }
    }

    /// Consumer: the rest of a handed-over buffer goes to `take`; the buffer is given back
    /// empty.
    pub fn take_handed_over(&self, take: impl FnMut(&[Record])) {
        let base = self.handoff.load(Ordering::Acquire);
        if base == 0 {
            return;
        }
        let from = self.taken[index_of(self, base)].load(Ordering::Acquire) as usize;
        self.complete_runs(base, from, RECORD_CAP, take);
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

    /// Owner, or anyone once recording stopped, before `empty_filling`: every complete record
    /// of the buffer being filled not taken yet goes to `take`, past empty slots.
    pub fn take_rest_of_filling(&self, take: impl FnMut(&[Record])) {
        let base = self.buf.load(Ordering::Relaxed);
        let taken = &self.taken[index_of(self, base)];
        let from = taken.load(Ordering::Acquire) as usize;
        let upto = slots(base, self.cur.load(Ordering::Relaxed));
        self.complete_runs(base, from, upto, take);
        taken.store(upto.max(from) as u64, Ordering::Release);
    }

    /// Empties the buffer being filled. Only its owner, or anyone once recording stopped.
    pub fn empty_filling(&self) {
        let base = self.buf.load(Ordering::Relaxed);
        self.clear(base, slots(base, self.cur.load(Ordering::Relaxed)));
        self.cur.store(base, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::super::thread::{self, FILL_CAP};
    use super::*;

    fn state() -> &'static mut ThreadState {
        let st = thread::alloc(0);
        assert!(!st.is_null());
        // SAFETY: a fresh state, leaked for the test's duration, used by this thread only.
        unsafe { &mut *st }
    }

    fn word(n: u64) -> HookWord {
        HookWord::new(1, n as u32 + 1)
    }

    fn taken(
        st: &ThreadState,
        f: impl FnOnce(&ThreadState, &mut dyn FnMut(&[Record])),
    ) -> Vec<u64> {
        let mut got = Vec::new();
        f(st, &mut |r: &[Record]| {
            got.extend(r.iter().map(|r| r.first))
        });
        got
    }

    #[test]
    fn the_stubs_stop_before_the_reserve_and_append_fills_it() {
        let st = state();
        let base = st.bufs[0];
        assert_eq!(st.end.load(Ordering::Relaxed), base + FAST_LEN as u64);
        for i in 0..RECORD_CAP as u64 {
            assert!(append(st, i, i, word(i)), "record {i}");
            assert_eq!(is_full(st), i + 1 >= FILL_CAP as u64);
        }
        assert!(reserve_full(st));
        assert!(!append(st, 0, 0, word(0)));
        assert_eq!(st.cur.load(Ordering::Relaxed), base + BUF_LEN as u64);
        // Still the first buffer's end, not the second's start.
        assert_eq!(filled_by(st, st.cur.load(Ordering::Relaxed)), base);
    }

    #[test]
    fn a_slot_reserved_but_not_written_keeps_the_buffer_and_the_handler_uses_the_reserve() {
        let st = state();
        let base = st.bufs[0];
        for i in 0..(FILL_CAP - 1) as u64 {
            assert!(append(st, i, i, word(i)));
        }
        assert!(!half_written(st));
        // The interrupted stub reserved the last slot and has not written it yet.
        st.cur.fetch_add(RECORD_SIZE, Ordering::Relaxed);
        assert!(is_full(st) && half_written(st));
        make_room(st);
        assert_eq!(
            st.buf.load(Ordering::Relaxed),
            base,
            "no switch under a half-written slot"
        );
        assert!(
            append(st, 7, 7, word(7)),
            "the handler's record goes to the reserve"
        );
        // The stub goes on and writes its slot: nothing is half written any more.
        let slot = (base as *mut Record).wrapping_add(FILL_CAP - 1);
        // SAFETY: a slot of this state's first buffer, written by this thread only.
        unsafe { (*slot).word = word(0) };
        assert!(!half_written(st));
    }

    #[test]
    fn a_handed_over_buffer_is_read_past_a_slot_never_written() {
        let st = state();
        let base = st.bufs[0];
        assert!(append(st, 1, 1, word(1)));
        st.cur.fetch_add(RECORD_SIZE, Ordering::Relaxed); // abandoned by `siglongjmp`
        assert!(append(st, 3, 3, word(3)));
        // The writer's periodic read stops at the empty slot ...
        let early = taken(st, |st, f| st.take_filling(f));
        assert_eq!(early, vec![1]);
        // ... the hand-over takes the rest past it.
        switch_buffers(st);
        st.handoff.store(base, Ordering::Release);
        let rest = taken(st, |st, f| st.take_handed_over(f));
        assert_eq!(rest, vec![3]);
        assert_eq!(st.handoff.load(Ordering::Relaxed), 0);
    }

    #[test]
    fn mid_switch_the_fill_mark_names_its_own_buffer() {
        let st = state();
        let [first, second] = st.bufs;
        assert_eq!(second, first + BUF_LEN as u64);
        // The owner stored `buf` but not yet `cur` (gen odd): `cur` still points into the first.
        st.gen.fetch_add(1, Ordering::Relaxed);
        st.buf.store(second, Ordering::Relaxed);
        let cur = first + FAST_LEN as u64;
        st.cur.store(cur, Ordering::Relaxed);
        assert_eq!(filled_by(st, cur), first);
        assert!(append(st, 5, 5, word(5)), "into the first buffer's reserve");
        assert_eq!(st.cur.load(Ordering::Relaxed), cur + RECORD_SIZE);
        // The first buffer's very end is not the second's start while switching ...
        assert_eq!(filled_by(st, second), first);
        // ... and is once the switch is done.
        st.gen.fetch_add(1, Ordering::Relaxed);
        assert_eq!(filled_by(st, second), second);
    }
}
