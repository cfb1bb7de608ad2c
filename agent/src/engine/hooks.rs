//! The table of attached hooks read by the slow path: hook id → pass-through address.
//! Invariant: an id is published (its entry stored) before any stub carrying it is reachable;
//! entries are never changed afterwards, so readers need no lock (a signal handler may read).

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

pub const MAX_HOOKS: usize = 1 << 16;

static PASS: [AtomicU64; MAX_HOOKS] = [const { AtomicU64::new(0) }; MAX_HOOKS];
static NEXT: AtomicUsize = AtomicUsize::new(0);

/// Reserves an id, or `None` when the table is full.
pub fn reserve() -> Option<u32> {
    let id = NEXT.fetch_add(1, Ordering::Relaxed);
    if id >= MAX_HOOKS {
        return None;
    }
    Some(id as u32)
}

pub fn publish(id: u32, pass: u64) {
    PASS[id as usize].store(pass, Ordering::Release);
}

pub fn pass_address(id: usize) -> u64 {
    PASS.get(id).map(|p| p.load(Ordering::Acquire)).unwrap_or(0)
}
