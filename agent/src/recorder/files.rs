//! The file lock: serialises HDF5 (the static build is not thread-safe) and the draining of
//! thread buffers (the consumer side of the engine's buffer protocol).
//!
//! Invariants: taken before the sink lock, never while holding it; a thread that holds it
//! must not wait for the writer thread (which needs it): `holds_files` tells.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};

static FILES: Mutex<()> = Mutex::new(());
/// `pthread_self` of the thread holding `FILES`, or 0.
static FILES_OWNER: AtomicU64 = AtomicU64::new(0);

pub struct FilesGuard(#[allow(dead_code)] MutexGuard<'static, ()>);

impl Drop for FilesGuard {
    fn drop(&mut self) {
        FILES_OWNER.store(0, Ordering::Release);
    }
}

fn self_id() -> u64 {
    // SAFETY: pthread_self has no preconditions.
    unsafe { libc::pthread_self() as u64 }
}

pub fn lock_files() -> FilesGuard {
    let g = FILES.lock().unwrap_or_else(|p| p.into_inner());
    FILES_OWNER.store(self_id(), Ordering::Release);
    FilesGuard(g)
}

/// True when this thread holds the file lock.
pub fn holds_files() -> bool {
    FILES_OWNER.load(Ordering::Acquire) == self_id()
}
