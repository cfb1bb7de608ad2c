//! The table of attached hooks read by the slow path: hook id → kind, pass-through address,
//! and the stub's leave address (to re-install a return into the stub after a C++ catch).
//! Invariant: an id is published (its entries stored) before any stub carrying it is
//! reachable; entries never change afterwards, so readers need no lock (a signal handler may
//! read).

use std::sync::atomic::{AtomicU16, AtomicU32, AtomicU64, AtomicU8, AtomicUsize, Ordering};

pub const MAX_HOOKS: usize = 1 << 16;

/// What a hook does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Kind {
    /// Times the function: enter/leave with return tracking.
    Timing = 0,
    /// An unwinder entry point (`_Unwind_RaiseException`, ...): before it runs, every open
    /// frame of the thread gets its real return address back, so the unwinder sees no stub.
    UnwindStart = 1,
    /// `__cxa_begin_catch`: frames still live at the catch are routed through their stubs
    /// again; frames below the catch are gone.
    BeginCatch = 2,
    /// Timed like `Timing`, and before that the client reads the call's arguments into an
    /// args record (`slow::read_args`, `Client::read_args`).
    TimingWithArgs = 3,
}

static PASS: [AtomicU64; MAX_HOOKS] = [const { AtomicU64::new(0) }; MAX_HOOKS];
static LEAVE: [AtomicU64; MAX_HOOKS] = [const { AtomicU64::new(0) }; MAX_HOOKS];
static KIND: [AtomicU8; MAX_HOOKS] = [const { AtomicU8::new(0) }; MAX_HOOKS];
/// `TimingWithArgs` hooks: the region id the stub carries, and the client's args reader id.
static REGION: [AtomicU32; MAX_HOOKS] = [const { AtomicU32::new(0) }; MAX_HOOKS];
static READER: [AtomicU16; MAX_HOOKS] = [const { AtomicU16::new(0) }; MAX_HOOKS];
/// The args reader id of a `TimingWithArgs` hook whose calls carry nothing to read: such a
/// call keeps the kind's nesting rule (inside another args call it passes through) but makes
/// no args record.
pub const NO_ARGS: u16 = 0;

/// Id 0 is never handed out: a record's word carries its hook id in the high half, so a
/// complete record's word is never zero (the consumer relies on it, see `buffers.rs`).
static NEXT: AtomicUsize = AtomicUsize::new(1);

/// Reserves an id (never 0), or `None` when the table is full.
pub fn reserve() -> Option<u32> {
    let id = NEXT.fetch_add(1, Ordering::Relaxed);
    if id >= MAX_HOOKS {
        return None;
    }
    Some(id as u32)
}

pub fn publish(id: u32, kind: Kind, pass: u64, leave: u64, region: u32, reader: u16) {
    REGION[id as usize].store(region, Ordering::Relaxed);
    READER[id as usize].store(reader, Ordering::Relaxed);
    KIND[id as usize].store(kind as u8, Ordering::Relaxed);
    LEAVE[id as usize].store(leave, Ordering::Relaxed);
    PASS[id as usize].store(pass, Ordering::Release);
}

pub fn pass_address(id: usize) -> u64 {
    PASS.get(id).map(|p| p.load(Ordering::Acquire)).unwrap_or(0)
}

pub fn leave_address(id: usize) -> u64 {
    LEAVE
        .get(id)
        .map(|p| p.load(Ordering::Acquire))
        .unwrap_or(0)
}

pub fn kind(id: usize) -> Kind {
    match KIND.get(id).map(|k| k.load(Ordering::Acquire)) {
        Some(1) => Kind::UnwindStart,
        Some(2) => Kind::BeginCatch,
        Some(3) => Kind::TimingWithArgs,
        _ => Kind::Timing,
    }
}

/// A `TimingWithArgs` hook's region id and args reader id.
pub fn args_reader(id: usize) -> (u32, u16) {
    match (REGION.get(id), READER.get(id)) {
        (Some(r), Some(d)) => (r.load(Ordering::Acquire), d.load(Ordering::Acquire)),
        _ => (0, 0),
    }
}
