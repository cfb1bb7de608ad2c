//! The writer thread: takes full event buffers off the program's threads and, every flush
//! interval, the events recorded so far, and writes them to the rank file. A program thread
//! whose buffer fills only hands it over and carries on in its second buffer, so the cost of
//! converting and writing events (and of pushing them to disk) is not on its path.
//!
//! Invariants:
//! - At most one writer thread runs; it never records (its calls to hooked functions pass
//!   through) and blocks every signal, so the program's handlers never run on it.
//! - A program thread wakes it with one atomic swap and, at most once per handed-over buffer,
//!   one raw `futex` system call: no lock, no allocation, no libc function.
//! - `stop` returns only after the thread has finished its last round; a forked child has no
//!   writer thread (`forget_after_fork`), and its recorder flushes on the calling thread.
//! - The `pthread_atfork` prepare hook waits until the thread is between rounds, so a fork
//!   never copies the recorder's locks while the writer holds them.

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Mutex;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Default time between two flushes of the events recorded so far.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(1);

static RUNNING: AtomicBool = AtomicBool::new(false);
static STOP: AtomicBool = AtomicBool::new(false);
static PAUSE: AtomicBool = AtomicBool::new(false);
static BUSY: AtomicBool = AtomicBool::new(false);
/// The futex word: 1 when there is work the writer has not looked at yet.
static WAKE: AtomicU32 = AtomicU32::new(0);
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

pub fn running() -> bool {
    RUNNING.load(Ordering::Acquire)
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
    let spawned = with_signals_blocked(|| {
        std::thread::Builder::new()
            .name("scope-writer".into())
            .stack_size(256 * 1024)
            .spawn(move || run(every))
    });
    match spawned {
        Ok(j) => {
            *h = Some(j);
            RUNNING.store(true, Ordering::Release);
            true
        }
        Err(e) => {
            crate::log::error(&format!(
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
    wake();
    let _ = j.join();
    RUNNING.store(false, Ordering::Release);
}

/// Tells the writer there is work. Lock-free and allocation-free (callable from the slow
/// path of any thread, inside a signal handler too); a raw system call, so no hooked libc
/// function is involved.
pub fn wake() {
    if WAKE.swap(1, Ordering::AcqRel) == 0 {
        // SAFETY: FUTEX_WAKE on a valid, aligned static u32; touches no memory of ours.
        unsafe {
            raw_syscall(
                libc::SYS_futex,
                WAKE.as_ptr() as usize,
                (libc::FUTEX_WAKE | libc::FUTEX_PRIVATE_FLAG) as usize,
                1,
                0,
            )
        };
    }
}

/// Sleeps 20 µs on a program thread waiting for the writer (a raw system call, as in `wake`).
pub fn nap() {
    let ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 20_000,
    };
    // SAFETY: nanosleep with a valid timespec and no remainder pointer.
    unsafe {
        raw_syscall(
            libc::SYS_nanosleep,
            &ts as *const libc::timespec as usize,
            0,
            0,
            0,
        )
    };
}

/// A system call without libc (whose wrappers the program may have hooked).
///
/// # Safety
/// The arguments must be valid for system call `n`.
unsafe fn raw_syscall(n: libc::c_long, a1: usize, a2: usize, a3: usize, a4: usize) -> isize {
    let ret: isize;
    // SAFETY: the x86-64 Linux system call convention; rcx and r11 are clobbered by `syscall`.
    unsafe {
        std::arch::asm!(
            "syscall",
            inlateout("rax") n as isize => ret,
            in("rdi") a1,
            in("rsi") a2,
            in("rdx") a3,
            in("r10") a4,
            lateout("rcx") _,
            lateout("r11") _,
            options(nostack),
        )
    };
    ret
}

fn wait(timeout: Duration) {
    let ts = libc::timespec {
        tv_sec: timeout.as_secs() as libc::time_t,
        tv_nsec: timeout.subsec_nanos() as libc::c_long,
    };
    // SAFETY: FUTEX_WAIT on a valid static u32 with a valid relative timeout; it returns at
    // once if the word is no longer 0.
    unsafe {
        libc::syscall(
            libc::SYS_futex,
            WAKE.as_ptr(),
            libc::FUTEX_WAIT | libc::FUTEX_PRIVATE_FLAG,
            0u32,
            &ts as *const libc::timespec,
        )
    };
}

fn run(every: Duration) {
    crate::engine::never_record_on_this_thread();
    let mut next_sync = Instant::now() + every;
    loop {
        wait(next_sync.saturating_duration_since(Instant::now()));
        WAKE.store(0, Ordering::Release);
        if STOP.load(Ordering::Acquire) {
            break;
        }
        BUSY.store(true, Ordering::SeqCst);
        if PAUSE.load(Ordering::SeqCst) {
            BUSY.store(false, Ordering::SeqCst);
            nap();
            continue;
        }
        let due = Instant::now() >= next_sync;
        let _ = std::panic::catch_unwind(|| super::drain_all(due));
        if due {
            next_sync = Instant::now() + every;
        }
        BUSY.store(false, Ordering::SeqCst);
    }
}

/// `pthread_atfork` prepare: hold the writer between rounds until the fork is done.
pub fn before_fork() {
    if !running() {
        return;
    }
    PAUSE.store(true, Ordering::SeqCst);
    let deadline = Instant::now() + Duration::from_secs(5);
    while BUSY.load(Ordering::SeqCst) && Instant::now() < deadline {
        nap();
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
    RUNNING.store(false, Ordering::Release);
    PAUSE.store(false, Ordering::SeqCst);
    BUSY.store(false, Ordering::SeqCst);
    WAKE.store(0, Ordering::Release);
}

fn with_signals_blocked<R>(f: impl FnOnce() -> R) -> R {
    // SAFETY: plain sigset manipulation on locals; the old mask is restored below.
    let mut all: libc::sigset_t = unsafe { std::mem::zeroed() };
    let mut old: libc::sigset_t = unsafe { std::mem::zeroed() };
    unsafe {
        libc::sigfillset(&mut all);
        libc::pthread_sigmask(libc::SIG_BLOCK, &all, &mut old);
    }
    let r = f();
    // SAFETY: restores the mask saved above.
    unsafe { libc::pthread_sigmask(libc::SIG_SETMASK, &old, std::ptr::null_mut()) };
    r
}
