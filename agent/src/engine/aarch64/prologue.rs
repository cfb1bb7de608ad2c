//! Prologue analysis and relocation for aarch64: which instructions the entry patch
//! overwrites (the window), whether they can run elsewhere, and their copy after the stub.
//!
//! The window is one instruction (the `b stub` patch), four for a stub out of `b` reach
//! (`ldr x16, #8; br x16; .quad stub`), and one more in front when the function starts with a
//! landing pad (`bti`, `paciasp`, `pacibsp`): the entry then keeps a `bti c`, so calls through
//! registers still land where branch targets are enforced, and the original pad runs in the
//! relocated copy (so `paciasp` signs the stub's return address, which `autiasp` checks).
//!
//! Relocation (decoding by yaxpeax-arm, the replacements in `insn.rs`): instructions that do
//! not read the PC are copied; `adr`/`adrp` become a literal load of their result; literal
//! loads (`ldr w/x/s/d/q`, `ldrsw`) load their address into a scratch register and then
//! through it; `prfm` (literal) becomes a `nop`; `b`/`bl` become a literal load and
//! `br`/`blr`; conditional branches (`b.cond`, `cbz`, `cbnz`, `tbz`, `tbnz`) are inverted to
//! skip a literal branch to their target. The scratch register is x17, or x16 when the window
//! uses x17 (both are the intra-procedure-call scratch registers, dead at a function's entry).
//! Anything else that reads the PC is refused with its name.
//!
//! Invariants: nothing is written here (bytes in, bytes out); a body that branches into the
//! window after its first instruction is refused.

use super::insn::{self, Load};
use yaxpeax_arch::{Decoder, U8Reader};
use yaxpeax_arm::armv8::a64::{InstDecoder, Instruction, Opcode, Operand, SIMDSizeCode, SizeCode};

/// The patch at the entry, by its reach.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reach {
    /// `b stub`: one instruction, ±128 MiB.
    Near,
    /// `ldr x16, #8; br x16; .quad stub`: four instruction slots, anywhere.
    Far,
}

impl Reach {
    pub fn words(self) -> usize {
        match self {
            Reach::Near => 1,
            Reach::Far => 4,
        }
    }
}

#[derive(Debug)]
pub struct Prologue {
    /// Where the patch starts (the function's entry).
    pub patch_at: u64,
    /// Bytes of the window.
    pub len: usize,
    /// The window's instructions.
    pub words: Vec<u32>,
    /// The landing pad kept at the entry (`bti c`, or the original `bti`), if any.
    pub landing: Option<u32>,
    /// The scratch register relocated instructions may use.
    pub scratch: u32,
}

fn decode(w: u32) -> Option<Instruction> {
    let bytes = w.to_le_bytes();
    let mut r = U8Reader::new(&bytes);
    InstDecoder::default().decode(&mut r).ok()
}

fn words_of(code: &[u8]) -> impl Iterator<Item = u32> + '_ {
    code.chunks_exact(4)
        .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
}

/// The PC-relative operand of an instruction, if it has one.
fn pc_offset(i: &Instruction) -> Option<i64> {
    i.operands.iter().find_map(|o| match o {
        Operand::PCOffset(off) => Some(*off),
        _ => None,
    })
}

/// The general registers an instruction names (x16/x17 matter here).
fn gprs(i: &Instruction) -> Vec<u16> {
    let mut v = Vec::new();
    for o in &i.operands {
        match *o {
            Operand::Register(_, n) | Operand::RegisterOrSP(_, n) => v.push(n),
            Operand::RegisterPair(_, n) => v.extend([n, n + 1]),
            Operand::RegShift(_, _, _, n) => v.push(n),
            Operand::RegRegOffset(n, m, _, _, _) | Operand::RegPostIndexReg(n, m) => {
                v.extend([n, m])
            }
            Operand::RegPreIndex(n, _, _) | Operand::RegPostIndex(n, _) => v.push(n),
            _ => {}
        }
    }
    v
}

/// Where a direct branch of the body goes (`b`, `bl`, `b.cond`, `cbz`, `cbnz`, `tbz`, `tbnz`).
fn branch_target(i: &Instruction, pc: u64) -> Option<u64> {
    match i.opcode {
        Opcode::B
        | Opcode::BL
        | Opcode::Bcc(_)
        | Opcode::CBZ
        | Opcode::CBNZ
        | Opcode::TBZ
        | Opcode::TBNZ => pc_offset(i).map(|off| pc.wrapping_add(off as u64)),
        _ => None,
    }
}

/// Decides the window of the function at `addr` (`code`: its bytes, `size` of them from the
/// symbol table, or at least 64 when unknown).
pub fn analyse(addr: u64, code: &[u8], size: u64, reach: Reach) -> Result<Prologue, String> {
    let first = words_of(code).next().ok_or("no code")?;
    // A `bti` stays as it is; `paciasp`/`pacibsp` move to the copy and a `bti c` takes the entry.
    let landing = insn::is_landing_pad(first).then_some(if first & 0xffff_ff3f == 0xd503_241f {
        first
    } else {
        insn::BTI_C
    });
    let n = reach.words() + usize::from(landing.is_some());
    let len = 4 * n;
    if size != 0 && size < len as u64 {
        return Err(format!(
            "the function is {size} bytes long, shorter than the {len}-byte patch"
        ));
    }
    let words: Vec<u32> = words_of(code).take(n).collect();
    if words.len() < n {
        return Err("the function's code is not readable".into());
    }
    let mut uses16 = false;
    let mut uses17 = false;
    for (k, &w) in words.iter().enumerate() {
        let i = decode(w).ok_or_else(|| {
            format!(
                "instruction {w:#010x} at +{:#x} could not be decoded",
                4 * k
            )
        })?;
        for r in gprs(&i) {
            uses16 |= r == 16;
            uses17 |= r == 17;
        }
        if pc_offset(&i).is_some() && !relocatable(&i) {
            return Err(format!(
                "the instruction at +{:#x} ({:?}) reads the PC and cannot be moved",
                4 * k,
                i.opcode
            ));
        }
    }
    let scratch = match (uses16, uses17) {
        (_, false) => 17,
        (false, true) => 16,
        (true, true) => {
            return Err(
                "the first instructions use both x16 and x17: no scratch register to move them"
                    .into(),
            )
        }
    };
    let p = Prologue {
        patch_at: addr,
        len,
        words,
        landing,
        scratch,
    };
    let body_len = if size > 0 { size as usize } else { 0 };
    check_back_edges(addr, &code[..body_len.min(code.len())], &p)?;
    Ok(p)
}

/// Refuses a body (or a separate fragment of it, `foo.cold`) with a branch into the window
/// after its first byte, or a jump (not a call) back to the entry: a loop whose head is the
/// entry would go through the stub at every iteration and count each as a call.
pub fn check_back_edges(addr: u64, body: &[u8], p: &Prologue) -> Result<(), String> {
    let lo = p.patch_at;
    let hi = p.patch_at + p.len as u64;
    for (k, w) in words_of(body).enumerate() {
        let pc = addr + 4 * k as u64;
        let Some(i) = decode(w) else { continue };
        let Some(t) = branch_target(&i, pc) else {
            continue;
        };
        if t == lo && i.opcode != Opcode::BL {
            return Err(format!(
                "the instruction at +{:#x} jumps back to the function's entry (a loop): every iteration would count as a call",
                pc - addr
            ));
        }
        // A branch of the window itself to a later instruction of the window moves with it.
        let internal = pc >= lo && pc < hi && t > pc && i.opcode != Opcode::BL;
        if t > lo && t < hi && !internal {
            return Err(format!(
                "the instruction at +{:#x} branches inside the {} bytes the patch overwrites (to byte {})",
                pc - addr,
                p.len,
                t - lo
            ));
        }
    }
    Ok(())
}

fn relocatable(i: &Instruction) -> bool {
    matches!(
        i.opcode,
        Opcode::ADR
            | Opcode::ADRP
            | Opcode::LDR
            | Opcode::LDRSW
            | Opcode::PRFM
            | Opcode::B
            | Opcode::BL
            | Opcode::Bcc(_)
            | Opcode::CBZ
            | Opcode::CBNZ
            | Opcode::TBZ
            | Opcode::TBNZ
    )
}

/// Code being laid out at a fixed address: instructions, then a pool of 64-bit literals.
struct Block {
    at: u64,
    code: Vec<u32>,
    /// (instruction index of an `ldr literal`, register, value).
    pending: Vec<(usize, u32, u64)>,
}

impl Block {
    fn pc(&self) -> u64 {
        self.at + 4 * self.code.len() as u64
    }
    /// `ldr xt, =value` (fixed up when the pool is placed).
    fn load(&mut self, t: u32, value: u64) {
        self.pending.push((self.code.len(), t, value));
        self.code.push(insn::NOP);
    }
    /// Goes to `to`: a `b` when in reach, else through the scratch register (refused where
    /// branch targets are enforced and `to` is no landing pad: `br` would fault there).
    fn jump(&mut self, to: u64, scratch: u32, guarded: bool) -> Result<(), String> {
        match insn::b(self.pc(), to) {
            Some(w) => self.code.push(w),
            None => {
                if guarded && !lands(to) {
                    return Err(format!(
                        "the function's pages are BTI-guarded and {to:#x} is out of direct branch reach"
                    ));
                }
                self.load(scratch, to);
                self.code.push(insn::br(scratch));
            }
        }
        Ok(())
    }
    fn finish(mut self) -> Result<Vec<u8>, String> {
        if self.code.len() % 2 == 1 {
            self.code.push(insn::NOP); // 8-byte aligned pool
        }
        let pool = self.pc();
        let mut out: Vec<u32> = self.code.clone();
        for (k, &(idx, t, value)) in self.pending.iter().enumerate() {
            let lit = pool + 8 * k as u64;
            out[idx] = insn::ldr_x_literal(self.at + 4 * idx as u64, t, lit)
                .ok_or("literal out of reach")?;
            out.push(value as u32);
            out.push((value >> 32) as u32);
        }
        self.code = out;
        Ok(self.code.iter().flat_map(|w| w.to_le_bytes()).collect())
    }
}

/// True when the instruction at `to` is a landing pad (a `br x16`/`br x17` may go there).
fn lands(to: u64) -> bool {
    // SAFETY: `to` is the target of a direct branch of a function of a mapped object: code of
    // that object, mapped and readable.
    insn::is_landing_pad(unsafe { (to as *const u32).read_unaligned() })
}

/// The window's instructions relocated to `at`, followed by a branch back to the first
/// instruction after the window. Branches are direct wherever they reach; `guarded`: the
/// function's pages enforce branch targets (BTI), so an indirect branch may only go to a
/// landing pad.
pub fn relocate(p: &Prologue, at: u64, guarded: bool) -> Result<Vec<u8>, String> {
    let s = p.scratch;
    let end = p.patch_at + p.len as u64;
    let mut b = Block {
        at,
        code: Vec::new(),
        pending: Vec::new(),
    };
    // Where each window instruction starts in the copy, and the branches between them
    // (code index, window index of the target), aimed once every start is known.
    let mut starts = Vec::with_capacity(p.words.len());
    let mut internal: Vec<(usize, usize)> = Vec::new();
    for (k, &w) in p.words.iter().enumerate() {
        starts.push(b.code.len());
        let pc = p.patch_at + 4 * k as u64;
        let i = decode(w).ok_or("undecodable instruction")?;
        let Some(off) = pc_offset(&i) else {
            b.code.push(w);
            continue;
        };
        let target = pc.wrapping_add(off as u64);
        let rt = w & 31;
        if target > pc && target < end && i.opcode != Opcode::BL {
            internal.push((b.code.len(), ((target - p.patch_at) / 4) as usize));
            b.code.push(w);
            continue;
        }
        match i.opcode {
            Opcode::ADR => b.load(rt, target),
            Opcode::ADRP => b.load(rt, (pc & !0xfff).wrapping_add(off as u64)),
            Opcode::PRFM => b.code.push(insn::NOP),
            Opcode::LDR | Opcode::LDRSW => {
                let kind = match (i.opcode, i.operands[0]) {
                    (Opcode::LDRSW, _) => Load::Sw,
                    (_, Operand::Register(SizeCode::W, _)) => Load::W,
                    (_, Operand::Register(SizeCode::X, _)) => Load::X,
                    (_, Operand::SIMDRegister(SIMDSizeCode::S, _)) => Load::S,
                    (_, Operand::SIMDRegister(SIMDSizeCode::D, _)) => Load::D,
                    (_, Operand::SIMDRegister(SIMDSizeCode::Q, _)) => Load::Q,
                    _ => return Err(format!("unexpected literal load {w:#010x}")),
                };
                b.load(s, target);
                b.code.push(insn::ldr_base(kind, rt, s));
            }
            Opcode::B => b.jump(target, s, guarded)?,
            Opcode::BL if k + 1 == p.words.len() => {
                // The call returns to the instruction after the window, in the function itself,
                // so unwinders and backtraces see the real return address.
                b.load(30, pc + 4);
                b.jump(target, s, guarded)?;
            }
            Opcode::BL => {
                return Err(format!(
                    "the call at +{:#x} would return into the relocated copy of the first {} bytes (no unwind information there)",
                    pc - p.patch_at,
                    p.len
                ))
            }
            _ => {
                // Conditional: inverted, skipping the branch to the target (one `b`, or a
                // literal load and `br`).
                let direct = insn::b(b.pc() + 4, target).is_some();
                let skip = insn::inverted_skip(w, if direct { 2 } else { 3 })
                    .ok_or("unexpected conditional branch")?;
                b.code.push(skip);
                b.jump(target, s, guarded)?;
            }
        }
    }
    b.jump(end, s, guarded)?;
    for (idx, k) in internal {
        let words = starts[k] as i64 - idx as i64;
        b.code[idx] =
            insn::with_offset(b.code[idx], words).ok_or("internal branch out of range")?;
    }
    b.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bytes(ws: &[u32]) -> Vec<u8> {
        ws.iter().flat_map(|w| w.to_le_bytes()).collect()
    }

    fn words(b: &[u8]) -> Vec<u32> {
        words_of(b).collect()
    }

    const FUNC: u64 = 0x40_0000;

    #[test]
    fn plain_first_instruction_is_copied_and_branches_back() {
        // stp x29, x30, [sp, #-16]!; mov x29, sp; ret
        let code = bytes(&[0xa9bf_7bfd, 0x9100_03fd, 0xd65f_03c0]);
        let p = analyse(FUNC, &code, 12, Reach::Near).unwrap();
        assert_eq!((p.len, p.landing, p.scratch), (4, None, 17));
        let r = words(&relocate(&p, FUNC + 0x1000, false).unwrap());
        assert_eq!(r[0], 0xa9bf_7bfd);
        assert_eq!(r[1], insn::b(FUNC + 0x1004, FUNC + 4).unwrap());
    }

    #[test]
    fn adrp_becomes_a_literal_load_of_the_page() {
        // adrp x0, +0x2000 (page), at FUNC + 0 (page aligned)
        let adrp = 0xd000_0000; // immlo = 2, immhi = 0: +2 pages
        let code = bytes(&[adrp, 0xd65f_03c0]);
        let p = analyse(FUNC + 0x10, &code, 8, Reach::Near).unwrap();
        let at = FUNC + 0x10_0000;
        let r = words(&relocate(&p, at, false).unwrap());
        // ldr x0, =page; b back; (pool)
        assert_eq!(r[0] & 0xff00_001f, 0x5800_0000);
        let lit = at + u64::from((r[0] >> 5) & 0x7ffff) * 4;
        let idx = ((lit - at) / 4) as usize;
        let value = u64::from(r[idx]) | u64::from(r[idx + 1]) << 32;
        assert_eq!(value, FUNC + 0x2000);
    }

    #[test]
    fn conditional_branch_is_inverted_around_a_literal_jump() {
        // cbz x0, +0x40
        let code = bytes(&[0xb400_0200, 0xd65f_03c0]);
        let p = analyse(FUNC, &code, 8, Reach::Near).unwrap();
        let r = words(&relocate(&p, FUNC + 0x2000, false).unwrap());
        assert_eq!(r[0], 0xb500_0040); // cbnz x0, +8
        assert_eq!(r[1], insn::b(FUNC + 0x2004, FUNC + 0x40).unwrap());
        // Out of `b` reach: inverted around a literal load and `br x17`.
        let far = FUNC + (1 << 30);
        let r = words(&relocate(&p, far, false).unwrap());
        assert_eq!(r[0], 0xb500_0060); // cbnz x0, +12
        assert_eq!(r[1] & 0xff00_001f, 0x5800_0011); // ldr x17, lit
        assert_eq!(r[2], insn::br(17));
    }

    #[test]
    fn landing_pad_stays_at_the_entry_and_the_window_grows() {
        // paciasp; stp x29, x30, [sp, #-16]!; ...
        let code = bytes(&[0xd503_233f, 0xa9bf_7bfd, 0x9100_03fd, 0xd65f_03c0]);
        let p = analyse(FUNC, &code, 16, Reach::Near).unwrap();
        assert_eq!((p.len, p.landing), (8, Some(insn::BTI_C)));
        let r = words(&relocate(&p, FUNC + 0x1000, false).unwrap());
        assert_eq!(&r[..2], &[0xd503_233f, 0xa9bf_7bfd]);
    }

    #[test]
    fn branches_between_window_instructions_move_with_them() {
        // cbz x0, +12 (to the 4th instruction); add; add; add x0, x0, #1; ret  (far: 4-word window)
        let code = bytes(&[
            0xb400_0060,
            0x9100_0400,
            0x9100_0400,
            0x9100_0400,
            0xd65f_03c0,
        ]);
        let p = analyse(FUNC, &code, 20, Reach::Far).unwrap();
        let r = words(&relocate(&p, FUNC + 0x1000, false).unwrap());
        assert_eq!(
            &r[..4],
            &[0xb400_0060, 0x9100_0400, 0x9100_0400, 0x9100_0400]
        );
        assert_eq!(r[4], insn::b(FUNC + 0x1010, FUNC + 16).unwrap());
    }

    #[test]
    fn a_call_ending_the_window_returns_into_the_function() {
        // bl +0x100 as the only window instruction
        let code = bytes(&[0x9400_0040, 0xd65f_03c0]);
        let p = analyse(FUNC, &code, 8, Reach::Near).unwrap();
        let r = words(&relocate(&p, FUNC + 0x1000, false).unwrap());
        assert_eq!(r[0] & 0xff00_001f, 0x5800_001e); // ldr x30, =FUNC + 4
        assert_eq!(r[1], insn::b(FUNC + 0x1004, FUNC + 0x100).unwrap());
        // Not the last instruction of a far window: refused.
        let code = bytes(&[
            0x9400_0040,
            0x9100_0400,
            0x9100_0400,
            0x9100_0400,
            0xd65f_03c0,
        ]);
        let p = analyse(FUNC, &code, 20, Reach::Far).unwrap();
        let e = relocate(&p, FUNC + 0x1000, false).unwrap_err();
        assert!(e.contains("would return into the relocated copy"), "{e}");
    }

    #[test]
    fn branch_into_the_window_is_refused() {
        // bti c; add x0, x0, #1; cbnz x1, -4 (to +4)
        let code = bytes(&[insn::BTI_C, 0x9100_0400, 0xb5ff_ffe1]);
        let e = analyse(FUNC, &code, 12, Reach::Near).unwrap_err();
        assert!(e.contains("branches inside the 8 bytes"), "{e}");
    }

    #[test]
    fn a_jump_back_to_the_entry_is_refused_and_a_recursive_call_is_not() {
        // add x0, x0, #1; cbnz x1, -4 (to the entry)
        let code = bytes(&[0x9100_0400, 0xb5ff_ffe1]);
        let e = analyse(FUNC, &code, 8, Reach::Near).unwrap_err();
        assert!(e.contains("jumps back to the function's entry"), "{e}");
        // add x0, x0, #1; bl -4 (to the entry); ret
        let code = bytes(&[0x9100_0400, 0x97ff_ffff, 0xd65f_03c0]);
        assert!(analyse(FUNC, &code, 12, Reach::Near).is_ok());
    }

    #[test]
    fn too_short_and_scratch_conflicts_are_refused() {
        let e = analyse(FUNC, &bytes(&[0xd65f_03c0]), 4, Reach::Far).unwrap_err();
        assert!(e.contains("shorter than the 16-byte patch"), "{e}");
        // mov x16, x17 (orr x16, xzr, x17) in a far window
        let code = bytes(&[
            0xaa11_03f0,
            0x9100_0400,
            0x9100_0400,
            0x9100_0400,
            0xd65f_03c0,
        ]);
        let e = analyse(FUNC, &code, 20, Reach::Far).unwrap_err();
        assert!(e.contains("x16 and x17"), "{e}");
    }
}
