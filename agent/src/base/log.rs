//! The agent's only output: one line per message on stderr, `scope[rank N]: ...`
//! (`scope[pid P]` before the rank is known). Written with `write(2)` directly: no allocation
//! beyond the formatted line, no locks shared with the program's stdio.

use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};

static RANK: AtomicI64 = AtomicI64::new(-1);
static VERBOSE: AtomicBool = AtomicBool::new(false);

pub fn set_rank(rank: i64) {
    RANK.store(rank, Ordering::Relaxed);
}

pub fn set_verbose(v: bool) {
    VERBOSE.store(v, Ordering::Relaxed);
}

pub fn verbose() -> bool {
    VERBOSE.load(Ordering::Relaxed)
}

fn emit(msg: &str) {
    let rank = RANK.load(Ordering::Relaxed);
    let line = if rank >= 0 {
        format!("scope[rank {rank}]: {msg}\n")
    } else {
        format!("scope[pid {}]: {msg}\n", std::process::id())
    };
    // SAFETY: writing a valid buffer to fd 2; errors are ignored (nowhere else to report).
    unsafe { libc::write(2, line.as_ptr() as *const libc::c_void, line.len()) };
}

pub fn error(msg: &str) {
    emit(msg);
}

pub fn info(msg: &str) {
    if verbose() {
        emit(msg);
    }
}
