//! Where an open hooked frame keeps its return into the stub. On aarch64 the stub's `blr` put
//! it in the link register, and the function saved that wherever its frame layout says
//! (usually `stp x29, x30, [sp, #-n]!`): somewhere between the function's stack pointer at
//! entry (the entry's slot) and the entry of the next hooked function it called (or, for the
//! innermost, the stack pointer at the program's call into the agent). So it is found by
//! value, as the word equal to what the caller expects there, within those bounds.
//!
//! Invariants: only this thread's stack between `sp` and the outermost open frame's slot is
//! read; a frame whose bounds are inverted (a signal handler's frames on an alternate stack)
//! is skipped; a function still holding its return address in `x30` (a leaf calling nothing)
//! cannot be inside an unwinder or a stack walk, so nothing is missed that matters.

use super::super::thread::Entry;

/// The largest frame searched (a frame of a function with a huge local array is skipped
/// rather than scanned).
const MAX_FRAME: u64 = 8 << 20;

/// Every address, within each open frame's bounds, holding the value `value(entry)`, with the
/// frame's index in `open`; `sp` bounds the innermost frame from below.
pub fn return_slots(open: &[Entry], sp: u64, value: impl Fn(&Entry) -> u64) -> Vec<(usize, u64)> {
    let mut found = Vec::new();
    let mut lower = sp;
    for (i, e) in open.iter().enumerate().rev() {
        let upper = e.slot;
        if lower < upper && upper - lower <= MAX_FRAME {
            let want = value(e);
            let mut a = (lower + 7) & !7;
            while a + 8 <= upper {
                // SAFETY: `[lower, upper)` lies on this thread's stack between its current
                // stack pointer and an open frame's entry stack pointer: mapped and readable.
                if unsafe { (a as *const u64).read() } == want {
                    found.push((i, a));
                }
                a += 8;
            }
        }
        lower = lower.max(upper);
    }
    found
}
