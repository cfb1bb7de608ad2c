//! Per-thread state of the engine, laid out for the hand-written stubs (`repr(C)`, fixed
//! offsets that `stub.rs` encodes). One `ThreadState` per thread, reached through a TLS slot
//! at a fixed `fs`-relative offset (see `tls.rs`).
//!
//! Invariants:
//! - `depth` is the byte offset of the next free shadow-stack entry; `depth <= limit`.
//! - `limit` is `STACK_CAP * ENTRY_SIZE` while recording and 0 while the thread is inside
//!   the agent's slow path or recording is off: enter then passes through untouched.
//! - `cur` points into `[buf, end]` and is a multiple of `EVENT_SIZE` from `buf`; events in
//!   `[buf, cur)` are complete.
//! - Only the owning thread writes `depth`, `cur` and the entries; other threads only store
//!   `limit` (an aligned 8-byte store) when recording stops.

use std::sync::atomic::{AtomicU64, Ordering};

/// Shadow-stack capacity per thread; deeper calls pass through and are counted as dropped.
pub const STACK_CAP: usize = 16 * 1024;
/// Events per thread buffer before a flush.
pub const EVENT_CAP: usize = 64 * 1024;

pub const ENTRY_SIZE: u64 = 32;
pub const EVENT_SIZE: u64 = 24;

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
    pub buf: u64,
    /// Calls not recorded on this thread (stack overflow, buffer lost).
    pub dropped: u64,
    /// Small id of the thread in the output (`thread_ids`).
    pub thread_index: u64,
    pub entries: [Entry; STACK_CAP],
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

    /// Events recorded since the last flush.
    pub fn events(&self) -> &[Event] {
        let n = (self.cur.load(Ordering::Relaxed).saturating_sub(self.buf)) / EVENT_SIZE;
        let n = (n as usize).min(EVENT_CAP);
        // SAFETY: `buf` points to EVENT_CAP events owned by this state (see `alloc`), and the
        // first `n` of them were fully written by this thread's leave path.
        unsafe { std::slice::from_raw_parts(self.buf as *const Event, n) }
    }

    /// Marks the buffer empty.
    pub fn reset_buffer(&self) {
        self.cur.store(self.buf, Ordering::Relaxed);
    }

    /// Open frames, oldest first.
    pub fn open_entries(&self) -> &[Entry] {
        let n = (self.depth.load(Ordering::Relaxed) / ENTRY_SIZE) as usize;
        &self.entries[..n.min(STACK_CAP)]
    }
}

/// Allocates a zeroed state and its event buffer with `mmap` (no allocator: this runs on the
/// slow path of any thread, possibly inside a signal handler). Returns null on failure.
pub fn alloc(thread_index: u64) -> *mut ThreadState {
    let state_len = std::mem::size_of::<ThreadState>();
    let buf_len = EVENT_CAP * EVENT_SIZE as usize;
    let state = map(state_len) as *mut ThreadState;
    let buf = map(buf_len);
    if state.is_null() || buf.is_null() {
        return std::ptr::null_mut();
    }
    // SAFETY: `state` is a fresh, zeroed, writable mapping of the right size; all-zero is a
    // valid `ThreadState` (atomics and integers), so writing fields through it is sound.
    unsafe {
        (*state).buf = buf as u64;
        (*state).cur = AtomicU64::new(buf as u64);
        (*state).end = AtomicU64::new(buf as u64 + buf_len as u64);
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
