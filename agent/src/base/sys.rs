//! System calls made without libc where the program may have hooked libc's wrappers, and the
//! few process facts the agent reads (`errno`, the host name, signal masks).
//!
//! Invariants: `futex_wake`, `futex_wait` and `nap` are lock-free and allocation-free, callable
//! from the slow path of any thread, inside a signal handler too; they touch no memory but the
//! futex word they are given.

use std::sync::atomic::AtomicU32;
use std::time::Duration;

/// A system call without libc.
///
/// # Safety
/// The arguments must be valid for system call `n`.
#[cfg(target_arch = "x86_64")]
unsafe fn raw_syscall(n: libc::c_long, a1: usize, a2: usize, a3: usize, a4: usize) -> isize {
    let ret: isize;
    // SAFETY: the x86-64 Linux system call convention; rcx and r11 are clobbered by `syscall`;
    // the caller vouches for the arguments.
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

/// A system call without libc.
///
/// # Safety
/// The arguments must be valid for system call `n`.
#[cfg(target_arch = "aarch64")]
unsafe fn raw_syscall(n: libc::c_long, a1: usize, a2: usize, a3: usize, a4: usize) -> isize {
    let ret: isize;
    // SAFETY: the aarch64 Linux system call convention (number in x8, arguments and result
    // in x0-x3); the caller vouches for the arguments.
    unsafe {
        std::arch::asm!(
            "svc 0",
            in("x8") n,
            inlateout("x0") a1 as isize => ret,
            in("x1") a2,
            in("x2") a3,
            in("x3") a4,
            options(nostack),
        )
    };
    ret
}

/// Wakes one thread waiting on `word` (a raw `FUTEX_WAKE`).
pub fn futex_wake(word: &AtomicU32) {
    // SAFETY: FUTEX_WAKE on a valid, aligned u32; touches no memory of ours.
    unsafe {
        raw_syscall(
            libc::SYS_futex,
            word.as_ptr() as usize,
            (libc::FUTEX_WAKE | libc::FUTEX_PRIVATE_FLAG) as usize,
            1,
            0,
        )
    };
}

/// Waits on `word` while it holds `expected`, at most `timeout` (a raw `FUTEX_WAIT`: returns
/// at once if the word no longer holds `expected`).
pub fn futex_wait(word: &AtomicU32, expected: u32, timeout: Duration) {
    let ts = libc::timespec {
        tv_sec: timeout.as_secs() as libc::time_t,
        tv_nsec: timeout.subsec_nanos() as libc::c_long,
    };
    // SAFETY: FUTEX_WAIT on a valid, aligned u32 with a valid relative timeout.
    unsafe {
        raw_syscall(
            libc::SYS_futex,
            word.as_ptr() as usize,
            (libc::FUTEX_WAIT | libc::FUTEX_PRIVATE_FLAG) as usize,
            expected as usize,
            &ts as *const libc::timespec as usize,
        )
    };
}

/// Sleeps 20 µs (a raw `nanosleep`).
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

/// Runs `f` with every signal blocked on this thread (a thread it creates inherits the mask).
pub fn with_signals_blocked<R>(f: impl FnOnce() -> R) -> R {
    // SAFETY: sigset_t is plain data; all-zero is a valid value to fill.
    let mut all: libc::sigset_t = unsafe { std::mem::zeroed() };
    // SAFETY: as above.
    let mut old: libc::sigset_t = unsafe { std::mem::zeroed() };
    // SAFETY: plain sigset manipulation on locals; the old mask is restored below.
    unsafe {
        libc::sigfillset(&mut all);
        libc::pthread_sigmask(libc::SIG_BLOCK, &all, &mut old);
    }
    let r = f();
    // SAFETY: restores the mask saved above.
    unsafe { libc::pthread_sigmask(libc::SIG_SETMASK, &old, std::ptr::null_mut()) };
    r
}

pub fn errno() -> libc::c_int {
    // SAFETY: __errno_location always returns this thread's errno.
    unsafe { *libc::__errno_location() }
}

pub fn set_errno(v: libc::c_int) {
    // SAFETY: as above.
    unsafe { *libc::__errno_location() = v };
}

/// This machine's host name (empty if it cannot be read).
pub fn hostname() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: buffer and its length.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr() as *mut libc::c_char, buf.len()) };
    if rc != 0 {
        return String::new();
    }
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    String::from_utf8_lossy(&buf[..end]).into_owned()
}
