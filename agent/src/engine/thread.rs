//! Per-thread state of the engine, laid out for the hand-written stubs (`repr(C)`, fixed
//! offsets that `stub.rs` encodes). One `ThreadState` per thread, reached through a TLS slot
//! at a fixed `fs`-relative offset (see `tls.rs`).
//!
//! Invariants:
//! - `depth` is the byte offset of the next free shadow-stack entry; `depth <= limit`.
//! - `limit` is `STACK_CAP * ENTRY_SIZE` while recording and 0 while the thread is inside
//!   the agent's slow path or recording is off: enter then passes through untouched.
//! - `cur` points into `[buf, end]` and is a multiple of `EVENT_SIZE` from `buf`. The leave
//!   stub reserves a slot (bumps `cur`) before it fills it, and writes the region word last:
//!   an event is complete once its region word is non-zero (hook ids start at 1). Buffers are
//!   zero before use and zeroed again when emptied.
//! - Each thread owns two buffers (`bufs`); `buf` is the one being filled. A full one may be
//!   handed to the recorder's writer thread (`handoff`) while the other fills; the owner
//!   switches buffers only with `gen` odd, so a reader that sees the same even `gen` before
//!   and after reading `buf` and `cur` has a consistent pair.
//! - Only the owning thread writes `depth`, `cur`, `buf`, `end`, `gen` and the entries; other
//!   threads store `limit` (an aligned 8-byte store) when recording stops, and the recorder
//!   (under its file lock) reads complete events, updates `taken` and clears `handoff`.

use std::sync::atomic::{AtomicU64, Ordering};

/// Shadow-stack capacity per thread; deeper calls pass through and are counted as dropped.
pub const STACK_CAP: usize = 16 * 1024;
/// Events per thread buffer before a flush.
pub const EVENT_CAP: usize = 64 * 1024;

pub const ENTRY_SIZE: u64 = 32;
pub const EVENT_SIZE: u64 = 24;
/// Bytes of one event buffer.
pub const BUF_LEN: usize = EVENT_CAP * EVENT_SIZE as usize;

pub const OFF_DEPTH: i32 = 0;
pub const OFF_LIMIT: i32 = 8;
pub const OFF_CUR: i32 = 16;
pub const OFF_END: i32 = 24;
pub const OFF_ENTRIES: i32 = 56;

/// One open call: written by the enter stub.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct Entry {
    /// The caller's return address, taken off the stack.
    pub ret: u64,
    /// The stack address that held it.
    pub slot: u64,
    pub region: u64,
    pub t_enter: u64,
}

/// One finished call: written by the leave stub.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct Event {
    pub t_enter: u64,
    pub t_exit: u64,
    pub region: u64,
}

#[repr(C)]
pub struct ThreadState {
    pub depth: AtomicU64,
    pub limit: AtomicU64,
    pub cur: AtomicU64,
    pub end: AtomicU64,
    pub buf: AtomicU64,
    /// Calls not recorded on this thread (stack overflow, buffer lost).
    pub dropped: u64,
    /// Small id of the thread in the output (`thread_ids`).
    pub thread_index: u64,
    pub entries: [Entry; STACK_CAP],
    /// The two event buffers (`EVENT_CAP` events each); `buf` is one of them.
    pub bufs: [u64; 2],
    /// Odd while the owner switches `buf`/`cur`/`end` to the other buffer.
    pub gen: AtomicU64,
    /// The base of a full buffer waiting for the writer thread, or 0.
    pub handoff: AtomicU64,
    /// Per buffer: events already moved to the sink (only under the recorder's file lock).
    pub taken: [AtomicU64; 2],
    /// Non-zero while the owner switches buffers in `recorder::hand_over` (a signal handler
    /// that finds its buffer full meanwhile drops its event instead of interfering).
    pub handing: AtomicU64,
    /// Rounds of pthread key destructors this thread's exit has deferred (see `thread_exit`).
    pub exit_passes: u64,
}

const _: () = {
    assert!(std::mem::offset_of!(ThreadState, depth) == OFF_DEPTH as usize);
    assert!(std::mem::offset_of!(ThreadState, limit) == OFF_LIMIT as usize);
    assert!(std::mem::offset_of!(ThreadState, cur) == OFF_CUR as usize);
    assert!(std::mem::offset_of!(ThreadState, end) == OFF_END as usize);
    assert!(std::mem::offset_of!(ThreadState, entries) == OFF_ENTRIES as usize);
    assert!(std::mem::size_of::<Entry>() == ENTRY_SIZE as usize);
    assert!(std::mem::size_of::<Event>() == EVENT_SIZE as usize);
};

impl ThreadState {
    pub const ACTIVE_LIMIT: u64 = STACK_CAP as u64 * ENTRY_SIZE;

    /// Which of `bufs` starts at `base` (0 for anything else, which cannot happen).
    pub fn index_of(&self, base: u64) -> usize {
        usize::from(base == self.bufs[1])
    }

    /// The complete events of the buffer at `base` from event `from` up to slot `upto`: the
    /// leading run whose region word is set (a slot reserved but not yet filled ends it).
    pub fn complete_events(&self, base: u64, from: usize, upto: usize) -> &[Event] {
        let upto = upto.min(EVENT_CAP);
        if base == 0 || from >= upto {
            return &[];
        }
        let first = (base as *const Event).wrapping_add(from);
        let mut n = 0;
        while n < upto - from {
            // SAFETY: `base` is one of this state's buffers of EVENT_CAP events (see `alloc`)
            // and `from + n < EVENT_CAP`. A volatile read: the owner may be filling the slot.
            let region = unsafe { std::ptr::addr_of!((*first.add(n)).region).read_volatile() };
            if region == 0 {
                break;
            }
            n += 1;
        }
        // Acquire: the region word is written last; what precedes it is visible now.
        std::sync::atomic::fence(Ordering::Acquire);
        // SAFETY: the first `n` events from `first` are complete and are not written again
        // until the buffer is emptied (which only the caller's lock holder does).
        unsafe { std::slice::from_raw_parts(first, n) }
    }

    /// The buffer being filled and its fill mark, read consistently; `None` while the owner is
    /// switching buffers.
    pub fn snapshot(&self) -> Option<(u64, u64)> {
        let g = self.gen.load(Ordering::Acquire);
        if g % 2 == 1 {
            return None;
        }
        let base = self.buf.load(Ordering::Acquire);
        let cur = self.cur.load(Ordering::Acquire);
        (self.gen.load(Ordering::Acquire) == g).then_some((base, cur))
    }

    /// Slots reserved in the buffer at `base` when its fill mark is `cur`.
    pub fn slots(base: u64, cur: u64) -> usize {
        ((cur.saturating_sub(base) / EVENT_SIZE) as usize).min(EVENT_CAP)
    }

    /// Owner only: makes the other buffer the one being filled. It must be empty.
    pub fn switch_buffers(&self) {
        let other = self.bufs[1 - self.index_of(self.buf.load(Ordering::Relaxed))];
        self.gen.fetch_add(1, Ordering::AcqRel);
        self.buf.store(other, Ordering::Release);
        self.cur.store(other, Ordering::Release);
        self.end.store(other + BUF_LEN as u64, Ordering::Release);
        self.gen.fetch_add(1, Ordering::AcqRel);
    }

    /// Zeroes the first `slots` events of the buffer at `base` and forgets what was taken of
    /// it. The owner must not be filling it (it is handed off, or the owner is the caller, or
    /// recording has stopped).
    pub fn clear(&self, base: u64, slots: usize) {
        if base == 0 {
            return;
        }
        // SAFETY: `base` is one of this state's buffers; `slots <= EVENT_CAP`.
        unsafe { std::ptr::write_bytes(base as *mut Event, 0, slots.min(EVENT_CAP)) };
        self.taken[self.index_of(base)].store(0, Ordering::Release);
    }

    /// No room for one more event in the buffer being filled.
    pub fn is_full(&self) -> bool {
        self.cur.load(Ordering::Relaxed) + EVENT_SIZE > self.end.load(Ordering::Relaxed)
    }

    /// Owner only (or recording stopped): empties the buffer being filled.
    pub fn reset_buffer(&self) {
        let base = self.buf.load(Ordering::Relaxed);
        self.clear(base, Self::slots(base, self.cur.load(Ordering::Relaxed)));
        self.cur.store(base, Ordering::Relaxed);
    }

    /// Open frames, oldest first.
    pub fn open_entries(&self) -> &[Entry] {
        let n = (self.depth.load(Ordering::Relaxed) / ENTRY_SIZE) as usize;
        &self.entries[..n.min(STACK_CAP)]
    }
}

/// Allocates a zeroed state and its two event buffers with `mmap` (no allocator: this runs on the
/// slow path of any thread, possibly inside a signal handler). Returns null on failure.
pub fn alloc(thread_index: u64) -> *mut ThreadState {
    let state_len = std::mem::size_of::<ThreadState>();
    let state = map(state_len) as *mut ThreadState;
    let buf = map(2 * BUF_LEN);
    if state.is_null() || buf.is_null() {
        return std::ptr::null_mut();
    }
    // SAFETY: `state` is a fresh, zeroed, writable mapping of the right size; all-zero is a
    // valid `ThreadState` (atomics and integers), so writing fields through it is sound.
    unsafe {
        (*state).bufs = [buf as u64, buf as u64 + BUF_LEN as u64];
        (*state).buf = AtomicU64::new(buf as u64);
        (*state).cur = AtomicU64::new(buf as u64);
        (*state).end = AtomicU64::new(buf as u64 + BUF_LEN as u64);
        (*state).thread_index = thread_index;
        (*state).limit = AtomicU64::new(ThreadState::ACTIVE_LIMIT);
    }
    state
}

fn map(len: usize) -> *mut u8 {
    // SAFETY: anonymous private mapping, no address hint; failure is checked.
    let p = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    };
    if p == libc::MAP_FAILED {
        std::ptr::null_mut()
    } else {
        p as *mut u8
    }
}
