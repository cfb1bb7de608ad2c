//! The slow paths, as the back end's trampolines call them with what they read from the
//! saved registers: a call the enter stub could not record (no state yet, gate closed, shadow
//! stack full), a return the leave stub could not handle (frames left by `longjmp` or
//! unwinding, buffer full), an unwinder hook, and the args path of hooks that read arguments.
//!
//! Invariants: nothing here unwinds into a stub (every entry catches); the only way back to
//! the stub is the returned decision (pass through, or the real return address); a hook that
//! reads arguments, called while another such hook's call is open on the same thread (a
//! library's internal calls to its own entry points), passes through unrecorded: it is part of
//! the outer call's time.

use super::args::Args;
use super::buffers;
use super::client;
use super::current;
use super::gate;
use super::guard;
use super::hooks::{self, Kind};
use super::registry;
use super::thread::{Entry, ThreadState, ENTRY_SIZE};
use super::unwind;
use super::word::HookWord;
use std::sync::atomic::Ordering;

/// Slow enter of hook `id`; `caller_sp` is the caller's stack pointer before its call. For a
/// timing hook: true = pass the call through, false = retry the fast path (the thread has a
/// state now). For an unwinder hook: does its work; the stub then runs the original.
pub fn enter(id: usize, caller_sp: u64) -> bool {
    match hooks::kind(id) {
        Kind::Timing | Kind::TimingWithArgs => {}
        kind => {
            let _ = std::panic::catch_unwind(|| {
                if let Some(st) = current::own() {
                    match kind {
                        Kind::UnwindStart => unwind::restore_returns(st, caller_sp),
                        _ => unwind::rehook_live(st, caller_sp),
                    }
                }
            });
            return false;
        }
    }
    let retry = std::panic::catch_unwind(|| {
        if !current::has_state() {
            return registry::thread_start();
        }
        let Some(st) = current::own() else {
            return false; // retired: pass through, uncounted
        };
        // Gate open: the shadow stack is full. Gate closed while recording runs and the call
        // is not the agent's own: the thread is inside the engine's slow path (a signal
        // handler interrupted it). Either way the call is lost: count it.
        if gate::is_open(st) || (!gate::stopped() && !guard::inside_agent()) {
            st.dropped += 1;
        }
        false
    });
    !matches!(retry, Ok(true))
}

/// Slow leave of the frame whose return slot is `slot`, at `t_exit` ticks: records it and
/// returns its real return address.
pub fn leave(slot: u64, t_exit: u64) -> u64 {
    // A leave stub runs only after its enter stub pushed an entry on this thread's own state.
    let Some(st) = current::own() else {
        fatal_lost_return(slot)
    };
    match unwind_to(st, slot, t_exit) {
        Some(entry) => {
            buffers::record(st, entry.word, entry.t_enter, t_exit);
            entry.ret
        }
        None => fatal_lost_return(slot),
    }
}

/// Pops entries down to the one whose slot is `slot`. Frames above it were left without
/// returning (`longjmp`, a Rust panic caught by `catch_unwind`, ...): they are recorded as
/// ending now, the first moment the agent can know they are gone (an upper bound).
fn unwind_to(st: &mut ThreadState, slot: u64, now: u64) -> Option<Entry> {
    let open = st.open_entries();
    let idx = open.iter().rposition(|e| e.slot == slot)?;
    let entry = open[idx];
    let abandoned: Vec<Entry> = open[idx + 1..].to_vec();
    st.depth.store(idx as u64 * ENTRY_SIZE, Ordering::Relaxed);
    for e in abandoned.iter().rev() {
        buffers::record(st, e.word, e.t_enter, now);
    }
    Some(entry)
}

/// The args path of hook `id` (`Kind::TimingWithArgs`), before its enter path: has the client
/// read the call's arguments and appends an args record. True = pass the call through
/// unrecorded; false = go on to the enter path.
pub fn read_args(id: usize, args: &Args) -> bool {
    let pass = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        if guard::inside_agent() {
            return true; // the agent's own calls (its communicator, the merge)
        }
        if !current::has_state() && !registry::thread_start() {
            return false;
        }
        let Some(st) = current::own() else {
            return true; // retired
        };
        if !gate::is_open(st) || inside_args_call(st) {
            return true;
        }
        let (region, reader) = hooks::args_reader(id);
        if reader == hooks::NO_ARGS {
            return false;
        }
        let Some(c) = client::get() else {
            return true;
        };
        // The reader may call the library (sizes of its types): those calls are the agent's.
        gate::pause(st);
        let (first, second) = c.read_args(reader, args);
        gate::resume(st);
        buffers::make_room(st);
        if !buffers::append(st, first, second, HookWord::args(region)) {
            st.dropped += 1;
        }
        false
    }));
    matches!(pass, Ok(true))
}

/// A call of a hook that reads arguments is open on this thread.
fn inside_args_call(st: &ThreadState) -> bool {
    st.open_entries()
        .iter()
        .rev()
        .any(|e| hooks::kind(e.word.hook() as usize) == Kind::TimingWithArgs)
}

/// No shadow entry matches a returning frame: the real return address is unknown.
fn fatal_lost_return(slot: u64) -> ! {
    crate::base::log::error(&format!(
        "internal error: lost the return address of the frame at {slot:#x}; aborting"
    ));
    std::process::abort()
}
