//! The args path of `MpiCall` hooks: before the enter path times an MPI call, the args
//! trampoline calls `args_enter` with the caller's registers, which reads the call's payload
//! bytes and peer (`crate::mpi::calls`) and appends an args record to the thread's buffer:
//! `{bytes, peer, ARGS_HOOK << 32 | region}`. The recorder pairs it with the next event of
//! the same region on that thread (the call's own event: calls of one thread nest, so the
//! latest unpaired record of a region is always the one of the call that ends first).
//!
//! Invariants: an MPI call made while another one is open on the same thread (MPI's own
//! internal calls, callbacks) passes through unrecorded: it is part of the outer call's time;
//! the agent's own MPI calls made from here run with recording paused on this thread; nothing
//! unwinds into the stub.

use super::thread::ThreadState;
use super::trampoline::Frame;
use super::{hooks, tls};
use std::sync::atomic::Ordering;

/// The hook-id half of an args record's word (hook ids are below `hooks::MAX_HOOKS`).
pub const ARGS_HOOK: u32 = u32::MAX;

/// The call's integer arguments: the six registers, then the caller's stack.
pub struct Args<'a> {
    frame: &'a Frame,
    stack: u64,
}

impl Args<'_> {
    /// Argument `i` (0-based) as the caller passed it, as a 64-bit register or stack slot.
    pub fn get(&self, i: usize) -> u64 {
        let f = self.frame;
        match i {
            0 => f.rdi,
            1 => f.rsi,
            2 => f.rdx,
            3 => f.rcx,
            4 => f.r8,
            5 => f.r9,
            // SAFETY: the decoder reads only arguments its MPI function takes; the caller put
            // arguments 7+ at its stack pointer before the call, which `stack` is.
            _ => unsafe { ((self.stack + 8 * (i as u64 - 6)) as *const u64).read() },
        }
    }

    /// Argument `i` as a C `int`.
    pub fn int(&self, i: usize) -> i64 {
        i64::from(self.get(i) as u32 as i32)
    }
}

/// Called by the args trampoline. `frame.ret` set to the hook's pass address sends the call
/// through unrecorded; left alone, the stub goes on to its enter path.
pub(super) extern "C" fn args_enter(frame: *mut Frame) {
    // Above the frame: the return into the stub, the r11 the stub pushed, the caller's return
    // address; then the caller's stack pointer before the call (argument 7 onwards).
    let stack = frame as u64 + std::mem::size_of::<Frame>() as u64 + 16;
    // SAFETY: the trampoline passes its own, live, exclusively used frame.
    let frame = unsafe { &mut *frame };
    let id = frame.r11 as usize;
    let pass = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        if crate::lifecycle::inside_agent() {
            return true; // the agent's own MPI calls (its communicator, the merge)
        }
        if tls::current().is_null() && !super::thread_start() {
            return false;
        }
        let st = tls::current();
        // SAFETY: a non-null TLS state is this thread's and stays mapped.
        let st = unsafe { &mut *st };
        if st.limit.load(Ordering::Relaxed) == 0 {
            // Not recording on this thread (stopped, retired, or the decoder's own MPI call).
            return true;
        }
        if inside_mpi_call(st) {
            return true;
        }
        let (region, decoder) = hooks::call_info(id);
        let args = Args { frame, stack };
        // The decoder may call MPI (datatype sizes): those calls are the agent's own.
        let limit = super::pause_recording();
        let (bytes, peer) = crate::mpi::calls::decode(decoder, &args);
        super::resume_recording(limit);
        super::make_room(st);
        let word = u64::from(ARGS_HOOK) << 32 | u64::from(region);
        if !super::append_raw(st, bytes as u64, peer as u64, word) {
            st.dropped += 1;
        }
        false
    }));
    if matches!(pass, Ok(true)) {
        frame.ret = hooks::pass_address(id);
    }
}

/// An `MpiCall` frame is open on this thread.
fn inside_mpi_call(st: &ThreadState) -> bool {
    st.open_entries()
        .iter()
        .rev()
        .any(|e| hooks::kind((e.region >> 32) as usize) == hooks::Kind::MpiCall)
}
