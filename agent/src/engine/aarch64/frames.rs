//! Where an open hooked frame keeps its return into the stub. On aarch64 the stub's `blr` put
//! it in the link register, and the function saved that wherever its frame layout says
//! (usually `stp x29, x30, [sp, #-n]!`): somewhere between the function's stack pointer at
//! entry (the entry's slot) and the entry of the next hooked function it called (or, for the
//! innermost, the stack pointer at the program's call into the agent). So it is found by
//! value, as the word equal to what the caller expects there, within those bounds.
//!
//! A function built with `-mbranch-protection` signs its return address (`paciasp`, with the
//! stack pointer at its entry — the entry's slot — as the modifier) before saving it, and the
//! unwinder authenticates what it reads (libgcc's `autia1716` with the frame's CFA): words are
//! compared with their signature stripped (`xpaclri`), and a replacement is signed with the
//! key the original was signed with (`pacia1716`/`pacib1716`), all hint-space instructions
//! that do nothing on a CPU without pointer authentication.
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
                if strip(unsafe { (a as *const u64).read() }) == want {
                    found.push((i, a));
                }
                a += 8;
            }
        }
        lower = lower.max(upper);
    }
    found
}

/// `word` without its pointer authentication code (`xpaclri`; unchanged without PAuth).
pub fn strip(word: u64) -> u64 {
    let out: u64;
    // SAFETY: `xpaclri` (hint #7) only rewrites x30, which the asm declares it uses.
    unsafe {
        std::arch::asm!("hint #7", inout("x30") word => out, options(nomem, nostack, preserves_flags))
    };
    out
}

/// `value` signed with key A (`a`) or B, modifier `modifier` (`pacia1716`/`pacib1716`).
fn sign(value: u64, modifier: u64, a: bool) -> u64 {
    let out: u64;
    // SAFETY: hint #8 / #10 only rewrite x17 from x17 and x16, which the asm declares.
    unsafe {
        if a {
            std::arch::asm!("hint #8", inout("x17") value => out, in("x16") modifier, options(nomem, nostack, preserves_flags));
        } else {
            std::arch::asm!("hint #10", inout("x17") value => out, in("x16") modifier, options(nomem, nostack, preserves_flags));
        }
    }
    out
}

/// The word to store in place of `stored` (which is `old`, maybe signed with the frame's
/// entry stack pointer `frame` as modifier) so that it means `new`, signed the same way.
pub fn resign(stored: u64, old: u64, new: u64, frame: u64) -> u64 {
    if stored == old {
        new
    } else if sign(old, frame, true) == stored {
        sign(new, frame, true)
    } else if sign(old, frame, false) == stored {
        sign(new, frame, false)
    } else {
        new
    }
}
