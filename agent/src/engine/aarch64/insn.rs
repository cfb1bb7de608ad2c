//! The few A64 instructions the back end writes itself: branches and loads through a scratch
//! register, each a fixed form with its fields filled in (the Arm ARM's encodings). Decoding —
//! deciding what a program's instruction is — is yaxpeax-arm's job (`prologue.rs`); nothing
//! here reads the program's code.
//!
//! Invariant: every encoder checks its offset's range and alignment and returns `None` when
//! the instruction cannot reach; none panics.

/// `nop`.
pub const NOP: u32 = 0xd503_201f;
/// `bti c`: a landing pad for calls (`blr`, and `br` through x16/x17).
pub const BTI_C: u32 = 0xd503_245f;

/// True for the instructions a `blr`/`br x16` may land on where branch targets are enforced:
/// every `bti` variant and `paciasp`/`pacibsp` (which act as `bti c`).
pub fn is_landing_pad(w: u32) -> bool {
    (w & 0xffff_ff3f) == 0xd503_241f || w == 0xd503_233f || w == 0xd503_237f
}

/// A signed byte offset as an `bits`-bit word offset, if in range and 4-byte aligned.
fn word_offset(from: u64, to: u64, bits: u32) -> Option<u32> {
    let off = (to as i64).wrapping_sub(from as i64);
    if off & 3 != 0 {
        return None;
    }
    let words = off >> 2;
    let half = 1i64 << (bits - 1);
    if words < -half || words >= half {
        return None;
    }
    Some((words as u32) & ((1u32 << bits) - 1))
}

/// `b to`, placed at `at` (±128 MiB).
pub fn b(at: u64, to: u64) -> Option<u32> {
    Some(0x1400_0000 | word_offset(at, to, 26)?)
}

/// `bl to`, placed at `at` (±128 MiB).
pub fn bl(at: u64, to: u64) -> Option<u32> {
    Some(0x9400_0000 | word_offset(at, to, 26)?)
}

/// `br xn`.
pub fn br(n: u32) -> u32 {
    0xd61f_0000 | (n & 31) << 5
}

/// `blr xn`.
pub fn blr(n: u32) -> u32 {
    0xd63f_0000 | (n & 31) << 5
}

/// `ldr xt, lit` (64-bit literal at `lit`, ±1 MiB), placed at `at`.
pub fn ldr_x_literal(at: u64, t: u32, lit: u64) -> Option<u32> {
    Some(0x5800_0000 | word_offset(at, lit, 19)? << 5 | (t & 31))
}

/// What a relocated literal load reads through its scratch register `[xn]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Load {
    /// `ldr wt, [xn]`
    W,
    /// `ldr xt, [xn]`
    X,
    /// `ldrsw xt, [xn]`
    Sw,
    /// `ldr st, [xn]`
    S,
    /// `ldr dt, [xn]`
    D,
    /// `ldr qt, [xn]`
    Q,
}

/// The load `kind` of register `t` from `[xn]` (unsigned offset 0).
pub fn ldr_base(kind: Load, t: u32, n: u32) -> u32 {
    let op = match kind {
        Load::W => 0xb940_0000,
        Load::X => 0xf940_0000,
        Load::Sw => 0xb980_0000,
        Load::S => 0xbd40_0000,
        Load::D => 0xfd40_0000,
        Load::Q => 0x3dc0_0000,
    };
    op | (n & 31) << 5 | (t & 31)
}

/// A conditional branch (`b.cond`, `cbz`/`cbnz`, `tbz`/`tbnz`) with its condition inverted and
/// its target `skip` instructions ahead; `None` for anything else.
pub fn inverted_skip(w: u32, skip: u32) -> Option<u32> {
    if w & 0xff00_0010 == 0x5400_0000 {
        // b.cond: imm19 at 5, cond at 0 (al/nv cannot be inverted).
        let cond = w & 0xf;
        if cond >= 0xe {
            return None;
        }
        return Some((w & 0xff00_0000) | skip << 5 | (cond ^ 1));
    }
    if w & 0x7e00_0000 == 0x3400_0000 {
        // cbz/cbnz: bit 24 selects, imm19 at 5.
        return Some((w & 0xff00_001f) ^ (1 << 24) | skip << 5);
    }
    if w & 0x7e00_0000 == 0x3600_0000 {
        // tbz/tbnz: bit 24 selects, imm14 at 5, bit number in b5:b40.
        return Some((w & 0xfff8_001f) ^ (1 << 24) | skip << 5);
    }
    None
}

/// A direct branch (`b`, `b.cond`, `cbz`/`cbnz`, `tbz`/`tbnz`) re-aimed `words` instructions
/// from where it will be placed; `None` for anything else or out of its range.
pub fn with_offset(w: u32, words: i64) -> Option<u32> {
    let field = |bits: u32, shift: u32| -> Option<u32> {
        let half = 1i64 << (bits - 1);
        if words < -half || words >= half {
            return None;
        }
        let mask = ((1u32 << bits) - 1) << shift;
        Some((w & !mask) | (((words as u32) << shift) & mask))
    };
    if w & 0xfc00_0000 == 0x1400_0000 {
        field(26, 0)
    } else if w & 0xff00_0010 == 0x5400_0000 || w & 0x7e00_0000 == 0x3400_0000 {
        field(19, 5)
    } else if w & 0x7e00_0000 == 0x3600_0000 {
        field(14, 5)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn branches_encode_and_refuse_out_of_range() {
        assert_eq!(b(0x1000, 0x1000), Some(0x1400_0000));
        assert_eq!(b(0x1000, 0x1004), Some(0x1400_0001));
        assert_eq!(b(0x1004, 0x1000), Some(0x17ff_ffff));
        assert_eq!(bl(0x1000, 0x2000), Some(0x9400_0400));
        assert_eq!(b(0, 128 << 20), None);
        assert_eq!(b(0, 0x1002), None);
        assert_eq!(br(17), 0xd61f_0220);
        assert_eq!(blr(16), 0xd63f_0200);
        // ldr x17, #8
        assert_eq!(ldr_x_literal(0x1000, 17, 0x1008), Some(0x5800_0051));
        assert_eq!(ldr_base(Load::X, 3, 17), 0xf940_0223);
    }

    #[test]
    fn branches_are_re_aimed() {
        assert_eq!(with_offset(0x1400_0005, -1), Some(0x17ff_ffff)); // b
        assert_eq!(with_offset(0x5400_0200, 2), Some(0x5400_0040)); // b.eq
        assert_eq!(with_offset(0xb400_0041, 3), Some(0xb400_0061)); // cbz x1
        assert_eq!(with_offset(0x3728_0082, 1), Some(0x3728_0022)); // tbnz w2, #5
        assert_eq!(with_offset(0x3728_0082, 1 << 13), None);
        assert_eq!(with_offset(NOP, 1), None);
    }

    #[test]
    fn conditional_branches_invert() {
        // b.eq #0x40 -> b.ne #12
        assert_eq!(inverted_skip(0x5400_0200, 3), Some(0x5400_0061));
        // cbz x1, #8 -> cbnz x1, #12
        assert_eq!(inverted_skip(0xb400_0041, 3), Some(0xb500_0061));
        // tbnz w2, #5, #16 -> tbz w2, #5, #12
        assert_eq!(inverted_skip(0x3728_0082, 3), Some(0x3628_0062));
        assert_eq!(inverted_skip(0x5400_000e, 3), None); // b.al
        assert_eq!(inverted_skip(NOP, 3), None);
        assert!(is_landing_pad(BTI_C) && is_landing_pad(0xd503_233f) && !is_landing_pad(NOP));
    }
}
