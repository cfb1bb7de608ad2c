//! Per-thread state of the engine, laid out for the back end's stubs (`repr(C)`, fixed
//! offsets that `x86_64/stub.rs` encodes and the `offset_of!` checks below tie to this type).
//! One `ThreadState` per thread, reached through a TLS slot at a fixed thread-pointer-relative
//! offset (`x86_64/tls.rs`).
//!
//! Invariants:
//! - `depth` is the byte offset of the next free shadow-stack entry; `depth <= depth_limit`.
//! - `depth_limit` is the enter stub's one check: a call is recorded while `depth <
//!   depth_limit`. It is `ACTIVE_LIMIT` while the thread records and 0 while it does not; it is
//!   derived from the switches in `gate.rs` (stopped, paused) and set only there.
//! - `cur` points into `[buf, end]` and is a multiple of `RECORD_SIZE` from `buf`; the buffer
//!   protocol (`buffers.rs`) owns `buf`, `cur`, `end`, `bufs`, `gen`, `handoff`, `taken` and
//!   `handing`.
//! - Only the owning thread writes `depth`, the entries, `paused` and the spans; other threads store
//!   `depth_limit` (an aligned 8-byte store) when recording stops.

use super::word::HookWord;
use std::sync::atomic::AtomicU64;

/// Shadow-stack capacity per thread; deeper calls pass through and are counted as dropped.
pub const STACK_CAP: usize = 16 * 1024;
/// Open client spans per thread (`spans.rs`); deeper ones are counted as dropped. As deep as
/// the shadow stack: Python's default recursion limit is 1000 and programs raise it (the pages
/// of the state are touched only as deep as a thread goes).
pub const SPAN_CAP: usize = STACK_CAP;
/// Records the stubs put in a thread buffer before it is full (and handed over).
pub const FILL_CAP: usize = 64 * 1024;
/// Records after those, written only by the slow path (`end` stops the stubs before them):
/// room for a signal handler's records while its thread cannot switch buffers
/// (`buffers::make_room`).
pub const RESERVE_CAP: usize = 1024;
/// Records per thread buffer, the reserve included.
pub const RECORD_CAP: usize = FILL_CAP + RESERVE_CAP;

pub const ENTRY_SIZE: u64 = 32;
pub const RECORD_SIZE: u64 = 24;
/// Bytes of one record buffer.
pub const BUF_LEN: usize = RECORD_CAP * RECORD_SIZE as usize;
/// Bytes of a buffer the stubs fill (`end` is this far from the buffer's start).
pub const FAST_LEN: usize = FILL_CAP * RECORD_SIZE as usize;

pub const OFF_DEPTH: i32 = 0;
pub const OFF_DEPTH_LIMIT: i32 = 8;
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
    pub word: HookWord,
    /// Raw ticks at entry.
    pub t_enter: u64,
}

/// One record of a thread's buffer, written by the leave stub (a call) or the args path (an
/// args record). A call: `first` and `second` are the raw ticks at entry and exit, `word` its
/// hook and region. An args record (`word.is_args()`): the two values the client's args
/// reader returned for the call of `word.region()` that is about to start.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Record {
    pub first: u64,
    pub second: u64,
    pub word: HookWord,
}

#[repr(C)]
pub struct ThreadState {
    pub depth: AtomicU64,
    pub depth_limit: AtomicU64,
    pub cur: AtomicU64,
    /// Where the stubs stop filling (`FAST_LEN` into the buffer; the reserve follows).
    pub end: AtomicU64,
    pub buf: AtomicU64,
    /// Calls not recorded on this thread (stack overflow, buffer lost).
    pub dropped: u64,
    /// Small id of the thread, in the order threads first called a hooked function.
    pub thread_index: u64,
    pub entries: [Entry; STACK_CAP],
    /// The two record buffers (`RECORD_CAP` records each); `buf` is one of them.
    pub bufs: [u64; 2],
    /// Odd while the owner switches `buf`/`cur`/`end` to the other buffer.
    pub gen: AtomicU64,
    /// The base of a full buffer waiting for the consumer thread, or 0.
    pub handoff: AtomicU64,
    /// Per buffer: records already taken by the consumer (under the client's serialisation).
    pub taken: [AtomicU64; 2],
    /// Non-zero while the owner switches buffers in `buffers::hand_over` (a signal handler
    /// that finds its buffer full meanwhile leaves the switch alone and records in the
    /// reserve).
    pub handing: AtomicU64,
    /// Rounds of pthread key destructors this thread's exit has deferred (`registry.rs`).
    pub exit_passes: u64,
    /// Nested pauses of recording on this thread (`gate.rs`).
    pub paused: u64,
    /// Open client spans (`spans.rs`): `span_depth` of `spans` are in use, oldest first;
    /// `ret` and `slot` are unused (0).
    pub span_depth: u64,
    pub spans: [Entry; SPAN_CAP],
}

const _: () = {
    assert!(std::mem::offset_of!(ThreadState, depth) == OFF_DEPTH as usize);
    assert!(std::mem::offset_of!(ThreadState, depth_limit) == OFF_DEPTH_LIMIT as usize);
    assert!(std::mem::offset_of!(ThreadState, cur) == OFF_CUR as usize);
    assert!(std::mem::offset_of!(ThreadState, end) == OFF_END as usize);
    assert!(std::mem::offset_of!(ThreadState, entries) == OFF_ENTRIES as usize);
    assert!(std::mem::size_of::<Entry>() == ENTRY_SIZE as usize);
    assert!(std::mem::size_of::<Record>() == RECORD_SIZE as usize);
    assert!(std::mem::offset_of!(Entry, word) == 16);
    assert!(std::mem::offset_of!(Entry, t_enter) == 24);
    assert!(std::mem::offset_of!(Record, second) == 8);
    assert!(std::mem::offset_of!(Record, word) == 16);
};

impl ThreadState {
    pub const ACTIVE_LIMIT: u64 = STACK_CAP as u64 * ENTRY_SIZE;

    /// Open frames, oldest first.
    pub fn open_entries(&self) -> &[Entry] {
        let n = (self.depth.load(std::sync::atomic::Ordering::Relaxed) / ENTRY_SIZE) as usize;
        &self.entries[..n.min(STACK_CAP)]
    }

    /// Open client spans, oldest first.
    pub fn open_spans(&self) -> &[Entry] {
        &self.spans[..(self.span_depth as usize).min(SPAN_CAP)]
    }
}

/// Allocates a zeroed state and its two record buffers with `mmap` (no allocator: this runs on
/// the slow path of any thread, possibly inside a signal handler). Returns null on failure.
/// The state starts closed (`depth_limit` 0): `gate::refresh` opens it.
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
        (*state).end = AtomicU64::new(buf as u64 + FAST_LEN as u64);
        (*state).thread_index = thread_index;
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
