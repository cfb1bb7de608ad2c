//! A hooked call's integer arguments as the caller passed them, for a client that reads them
//! (`Client::read_args`): the argument registers the back end saved, then the caller's stack.
//!
//! Invariant: `get(i)` reads the stack only for arguments past the registers, at the caller's
//! stack pointer as it was before the call; a reader asks only for arguments its function
//! takes.

pub struct Args<'a> {
    /// The integer argument registers, in the calling convention's order.
    regs: &'a [u64],
    /// The caller's stack pointer before the call (where the first stack argument lies).
    stack: u64,
}

impl<'a> Args<'a> {
    /// Used by the back end's trampoline, which owns the saved registers.
    pub(super) fn new(regs: &'a [u64], stack: u64) -> Args<'a> {
        Args { regs, stack }
    }

    /// Argument `i` (0-based) as a 64-bit register or stack slot.
    pub fn get(&self, i: usize) -> u64 {
        match self.regs.get(i) {
            Some(&r) => r,
            // SAFETY: the reader asks only for arguments its function takes; the caller put
            // those past the registers at its stack pointer before the call, which `stack` is.
            None => unsafe {
                ((self.stack + 8 * (i - self.regs.len()) as u64) as *const u64).read()
            },
        }
    }

    /// Argument `i` as a C `int`.
    pub fn int(&self, i: usize) -> i64 {
        i64::from(self.get(i) as u32 as i32)
    }
}
