//! The writer thread: the engine's consumer. It takes full buffers off the program's threads
//! and, every flush interval, the records written so far, and writes them to the rank file. A
//! program thread whose buffer fills only hands it over (`engine` buffer protocol) and carries
//! on in its second buffer, so the cost of converting and writing records (and of pushing
//! them to disk) is not on its path.
//!
//! Invariants:
//! - At most one writer thread runs; it never records (its calls to hooked functions pass
//!   through) and blocks every signal, so the program's handlers never run on it.
//! - `stop` returns only after the thread has finished its last round; a forked child has no
//!   writer thread (`forget_after_fork`), and its recorder flushes on the calling thread.
//! - The `pthread_atfork` prepare hook waits until the thread is between rounds, so a fork
//!   never copies the recorder's locks while the writer holds them.
//! - Every flush interval (`interval`, 1 s by default) the complete records of every buffer
//!   are written: a rank that dies loses at most the records of its last interval.

use super::drain;
use crate::base::sys;
use crate::engine;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Default time between two flushes of the records written so far.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(1);

static STOP: AtomicBool = AtomicBool::new(false);
static PAUSE: AtomicBool = AtomicBool::new(false);
static BUSY: AtomicBool = AtomicBool::new(false);
static HANDLE: Mutex<Option<JoinHandle<()>>> = Mutex::new(None);

/// The flush interval: `SCOPE_FLUSH_INTERVAL` seconds (a decimal number > 0), else 1 s.
pub fn interval() -> Duration {
    std::env::var(scope_config::env::FLUSH_INTERVAL)
        .ok()
        .and_then(|v| v.trim().parse::<f64>().ok())
        .filter(|s| s.is_finite() && *s > 0.0)
        .map(|s| Duration::from_secs_f64(s.clamp(0.001, 86_400.0)))
        .unwrap_or(DEFAULT_INTERVAL)
}

/// Starts the writer thread unless it runs. False if it could not be started.
pub fn start() -> bool {
    let mut h = HANDLE.lock().unwrap_or_else(|p| p.into_inner());
    if h.is_some() {
        return true;
    }
    STOP.store(false, Ordering::Release);
    let every = interval();
    // The thread inherits the creator's signal mask: block everything around the spawn so no
    // signal is ever delivered to it, not even before its first instruction.
    let spawned = sys::with_signals_blocked(|| {
        std::thread::Builder::new()
            .name("scope-writer".into())
            .stack_size(256 * 1024)
            .spawn(move || run(every))
    });
    match spawned {
        Ok(j) => {
            *h = Some(j);
            engine::set_consumer(true);
            true
        }
        Err(e) => {
            crate::base::log::error(&format!(
                "cannot start the writer thread ({e}); buffers are written by the program's threads"
            ));
            false
        }
    }
}

/// Stops the writer thread after its current round and waits for it.
pub fn stop() {
    let Some(j) = HANDLE.lock().unwrap_or_else(|p| p.into_inner()).take() else {
        return;
    };
    STOP.store(true, Ordering::Release);
    engine::wake_consumer();
    let _ = j.join();
    engine::set_consumer(false);
}

fn run(every: Duration) {
    engine::never_record_on_this_thread();
    let mut next_sync = Instant::now() + every;
    loop {
        engine::wait_for_work(next_sync.saturating_duration_since(Instant::now()));
        if STOP.load(Ordering::Acquire) {
            break;
        }
        BUSY.store(true, Ordering::SeqCst);
        if PAUSE.load(Ordering::SeqCst) {
            BUSY.store(false, Ordering::SeqCst);
            sys::nap();
            continue;
        }
        let due = Instant::now() >= next_sync;
        let _ = std::panic::catch_unwind(|| drain::drain_all(due));
        if due {
            next_sync = Instant::now() + every;
        }
        BUSY.store(false, Ordering::SeqCst);
    }
}

/// `pthread_atfork` prepare: hold the writer between rounds until the fork is done.
pub fn before_fork() {
    if !engine::consumer_running() {
        return;
    }
    PAUSE.store(true, Ordering::SeqCst);
    let deadline = Instant::now() + Duration::from_secs(5);
    while BUSY.load(Ordering::SeqCst) && Instant::now() < deadline {
        sys::nap();
    }
}

/// `pthread_atfork` parent: let the writer go on.
pub fn after_fork_in_parent() {
    PAUSE.store(false, Ordering::SeqCst);
}

/// `pthread_atfork` child: the writer thread does not exist here.
pub fn forget_after_fork() {
    if let Ok(mut h) = HANDLE.try_lock() {
        if let Some(j) = h.take() {
            std::mem::forget(j); // the parent's thread: nothing to join here
        }
    }
    PAUSE.store(false, Ordering::SeqCst);
    BUSY.store(false, Ordering::SeqCst);
}
