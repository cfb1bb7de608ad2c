//! The threads that record: a state is made on a thread's first hooked call and registered;
//! the pthread key destructor retires it when the thread ends, after the client took its
//! records. Also the engine's readiness and the stop switch over all threads.
//!
//! Invariants: registered states stay mapped forever (never unmapped, so a consumer holding a
//! stale list reads valid memory); a state leaves the list only after the client took its
//! records in `thread_exit`; after `stop_recording` no registered thread records.

use super::backend::tls;
use super::buffers;
use super::client;
use super::current;
use super::gate;
use super::thread::{self, ThreadState};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};

static READY: AtomicBool = AtomicBool::new(false);
static NEXT_THREAD: AtomicU64 = AtomicU64::new(0);
static EXIT_KEY: OnceLock<libc::pthread_key_t> = OnceLock::new();
/// Registered states, by address.
static THREADS: Mutex<Vec<usize>> = Mutex::new(Vec::new());

/// glibc runs pthread key destructors in up to this many rounds while values are set.
const DESTRUCTOR_ROUNDS: u64 = 4; // PTHREAD_DESTRUCTOR_ITERATIONS

/// Creates the key whose destructor retires a thread's state, and marks the engine ready.
pub(super) fn init() -> Result<(), String> {
    let mut key: libc::pthread_key_t = 0;
    // SAFETY: plain key creation with a destructor that never unwinds.
    if unsafe { libc::pthread_key_create(&mut key, Some(thread_exit)) } != 0 {
        return Err("pthread_key_create failed".into());
    }
    let _ = EXIT_KEY.set(key);
    READY.store(true, Ordering::Release);
    Ok(())
}

pub fn ready() -> bool {
    READY.load(Ordering::Acquire)
}

fn list() -> std::sync::MutexGuard<'static, Vec<usize>> {
    THREADS.lock().unwrap_or_else(|p| p.into_inner())
}

/// Every registered thread's state.
pub fn threads() -> Vec<&'static ThreadState> {
    list()
        .iter()
        // SAFETY: registered states stay mapped forever (see the invariants).
        .map(|&t| unsafe { &*(t as *const ThreadState) })
        .collect()
}

/// First hooked call on a thread: install its state. False = pass the call through.
pub(super) fn thread_start() -> bool {
    if !ready() || gate::is_forked_child() || !tls::verify_current_thread() {
        return false;
    }
    let st = thread::alloc(NEXT_THREAD.fetch_add(1, Ordering::Relaxed));
    if st.is_null() {
        return false;
    }
    list().push(st as usize);
    // SAFETY: fresh state from `alloc`, owned by this thread.
    gate::refresh(unsafe { &*st });
    current::install(st);
    if let Some(key) = EXIT_KEY.get() {
        // SAFETY: key created in `init`; the value is our state pointer.
        unsafe { libc::pthread_setspecific(*key, st as *const libc::c_void) };
    }
    true
}

/// The pthread key destructor. Other keys' destructors (created after ours, so run after it
/// in a round) may still call hooked functions: the first rounds only set the key again, which
/// makes glibc run another round, and the state is retired in the last one.
extern "C" fn thread_exit(value: *mut libc::c_void) {
    let _ = std::panic::catch_unwind(|| {
        let st = value as *mut ThreadState;
        if st.is_null() {
            return;
        }
        // SAFETY: the state was installed by `thread_start` for this thread, which owns it.
        let passes = unsafe { &mut (*st).exit_passes };
        if *passes + 1 < DESTRUCTOR_ROUNDS {
            if let Some(key) = EXIT_KEY.get() {
                *passes += 1;
                // SAFETY: our key, set again to the same state for the next round.
                if unsafe { libc::pthread_setspecific(*key, value) } == 0 {
                    return;
                }
            }
        }
        // Later destructors of this thread may still call hooked functions: they pass through.
        current::retire_this_thread();
        // SAFETY: the state was installed by `thread_start` for this thread, which owns it.
        let st = unsafe { &mut *st };
        // Frames still open when a thread ends (pthread_exit, cancellation) never return.
        buffers::record_open_frames(st);
        if gate::is_forked_child() {
            return; // touches no lock (see `after_fork_in_child`)
        }
        if let Some(c) = client::get() {
            c.thread_exit(st);
        }
        let addr = st as *const ThreadState as usize;
        list().retain(|&t| t != addr);
    });
}

/// Stops recording in every thread, for good. Other threads are expected to be idle
/// (finalize, exit): a thread inside a pause when its gate closes keeps it closed.
pub fn stop_recording() {
    gate::stop();
    for st in threads() {
        gate::close(st);
    }
}

/// After `stop_recording`, with the consumer thread stopped: records every registered
/// thread's open frames as ending now, then hands its state to `f` (to take its records).
/// Other threads must be idle (finalize, exit), so this thread may act as their owner.
pub fn finish_all(mut f: impl FnMut(&ThreadState)) {
    let all: Vec<usize> = list().clone();
    for addr in all {
        // SAFETY: registered states stay mapped forever; the address came from `thread::alloc`
        // (a writable mapping); the owners are idle, so nothing else uses the state now.
        let st = unsafe { &mut *(addr as *mut ThreadState) };
        buffers::record_open_frames(st);
        f(st);
    }
}

/// In a child created by `fork`: stop recording for good without touching any lock (another
/// parent thread may have held one at the fork); the consumer thread does not exist here.
pub fn after_fork_in_child() {
    gate::mark_forked_child();
    buffers::reset_consumer();
    if let Some(st) = current::own() {
        gate::close(st);
    }
}
