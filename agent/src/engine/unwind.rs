//! C++ exceptions (and any `_Unwind_*` unwinding) and stack walks through hooked frames.
//!
//! A hooked frame's return slot holds the stub's leave address, for which the unwinder has no
//! unwind information: unwinding through it would terminate the program. So before any
//! unwinder entry point runs, every open frame of the thread gets its real return address
//! back (`restore_returns`); when `__cxa_begin_catch` runs, frames above the catch point are
//! still live and are routed through their stubs again (`rehook_live`), and frames below it
//! are gone and are dropped from the shadow stack. `backtrace` gets the same treatment around
//! its walk (`show_real_returns`, `hide_real_returns`).
//! Where a frame keeps its return address is the back end's knowledge (`backend::frames`): on
//! x86-64 the `call` put it at the frame's slot; on aarch64 the function saved its link
//! register somewhere in its own frame, found by value between the frame's bounds.
//!
//! Where functions sign their return addresses (aarch64 `paciasp`), the unwinder authenticates
//! what it reads: the real return address is written signed the same way
//! (`frames::resign`), and the exact original word goes back afterwards.
//!
//! Invariant: a slot is rewritten only when it holds exactly the value we expect there (the
//! stub's leave address, or the word we wrote), so a frame reused by other code is never
//! touched; `sp` bounds the search from below and lies above the agent's own frames.

use super::backend::frames;
use super::buffers;
use super::current;
use super::hooks;
use super::thread::{ThreadState, ENTRY_SIZE};
use crate::base::clock;
use std::cell::RefCell;
use std::sync::atomic::Ordering;

/// A return slot `restore_returns` rewrote: the frame's entry slot, the address, the word it
/// held (the stub's leave address, signed where the function signs it) and the word written.
#[derive(Clone, Copy)]
struct Restored {
    frame: u64,
    at: u64,
    original: u64,
    written: u64,
}

thread_local! {
    /// This thread's rewritten slots, until the frames go through their stubs again.
    static RESTORED: RefCell<Vec<Restored>> = const { RefCell::new(Vec::new()) };
}

/// Puts the real return address back into every open frame's slot; `sp`: this thread's stack
/// pointer at the program's call into the agent.
pub fn restore_returns(st: &ThreadState, sp: u64) {
    let open = st.open_entries();
    let slots = frames::return_slots(open, sp, |e| hooks::leave_address(e.word.hook() as usize));
    let mut done = Vec::with_capacity(slots.len());
    for (i, at) in slots {
        let e = &open[i];
        let leave = hooks::leave_address(e.word.hook() as usize);
        let slot = at as *mut u64;
        // SAFETY: `slot` is the return-address slot of a frame that is open on this thread's
        // stack (its function has not returned through the stub), so it is mapped and ours to
        // read; it is written only when it still holds the stub's leave address.
        unsafe {
            let original = slot.read();
            if frames::strip(original) == leave {
                let written = frames::resign(original, leave, e.ret, e.slot);
                slot.write(written);
                done.push(Restored {
                    frame: e.slot,
                    at,
                    original,
                    written,
                });
            }
        }
    }
    let _ = RESTORED.try_with(|r| r.borrow_mut().extend(done));
}

/// Puts back what `restore_returns` rewrote in the frames `keep` accepts (by their entry
/// slot), and forgets the rest (frames that are gone).
fn rehook(keep: impl Fn(u64) -> bool) {
    let restored = RESTORED
        .try_with(|r| std::mem::take(&mut *r.borrow_mut()))
        .unwrap_or_default();
    for r in restored.iter().filter(|r| keep(r.frame)) {
        let slot = r.at as *mut u64;
        // SAFETY: as in `restore_returns`: a live frame's slot, written only when it still
        // holds exactly the word put there.
        unsafe {
            if slot.read() == r.written {
                slot.write(r.original);
            }
        }
    }
}

/// At a catch whose frame has `catch_sp`: the frames below it were unwound by the exception
/// and are recorded as ending now (the catch is the first moment the agent sees them gone, so
/// their end time is an upper bound); the frames above it are live and go through their stubs
/// again.
pub fn rehook_live(st: &mut ThreadState, catch_sp: u64) {
    let open = st.open_entries().to_vec();
    let keep = open
        .iter()
        .rposition(|e| e.slot >= catch_sp)
        .map(|i| i + 1)
        .unwrap_or(0);
    rehook(|frame| frame >= catch_sp);
    st.depth.store(keep as u64 * ENTRY_SIZE, Ordering::Relaxed);
    let now = clock::ticks();
    for e in open[keep..].iter().rev() {
        buffers::record(st, e.word, e.t_enter, now);
    }
}

/// Before a stack walk on this thread (`backtrace`): open frames get their real return
/// addresses back. `sp`: an address in the frame of the agent's function the program called,
/// above anything the agent keeps on the stack.
pub fn show_real_returns(sp: u64) {
    if let Some(st) = current::own() {
        restore_returns(st, sp);
    }
}

/// After the walk: the open frames (all still live) return through their stubs again.
pub fn hide_real_returns() {
    rehook(|_| true);
}

/// Unwinder entry points that get an `UnwindStart` hook.
pub const UNWIND_STARTS: &[&str] = &[
    "_Unwind_RaiseException",
    "_Unwind_Resume",
    "_Unwind_Resume_or_Rethrow",
    "_Unwind_ForcedUnwind",
];
/// Where a C++ handler takes an exception.
pub const BEGIN_CATCH: &str = "__cxa_begin_catch";
