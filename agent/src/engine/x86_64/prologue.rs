//! Prologue analysis and relocation: which bytes the 5-byte `jmp` overwrites, whether that is
//! safe, and the relocated copy of the overwritten instructions.
//!
//! Invariants: the window starts after a leading `endbr64` (so indirect calls still land on
//! it) and covers whole instructions; a function is refused when its window holds a call, an
//! undecodable or privileged instruction, or ends before 5 bytes, or when any branch in the
//! function's body targets the inside of the window. Relocation re-encodes rip-relative
//! operands and branches for the new address (iced-x86 `BlockEncoder`) and appends a `jmp`
//! back to the first byte after the window.

use iced_x86::{
    BlockEncoder, BlockEncoderOptions, Code, Decoder, DecoderOptions, FlowControl, Instruction,
    InstructionBlock, Mnemonic, OpKind,
};

pub const PATCH_LEN: usize = 5;
const ENDBR64: [u8; 4] = [0xF3, 0x0F, 0x1E, 0xFA];

#[derive(Debug, Clone)]
pub struct Prologue {
    /// First overwritten byte.
    pub patch_at: u64,
    /// When the 5-byte window would hold a call: the address of 5 padding bytes before the
    /// function that receive the `jmp` to the stub, reached from `patch_at` by a 2-byte
    /// `jmp rel8`. The call then runs from the original code, so its return address keeps
    /// its unwind information (C++ exceptions and their handlers, backtraces).
    pub springboard: Option<u64>,
    /// Bytes covered by the relocated instructions (>= 5, or >= 2 with a springboard).
    pub len: usize,
    pub instrs: Vec<Instruction>,
}

/// Padding before a function: `[start, start + bytes.len())` ends where the function starts.
pub struct Padding<'a> {
    pub start: u64,
    pub bytes: &'a [u8],
}

/// Decides the patch window of the function at `addr`. `code` holds its bytes (the whole
/// body when `size > 0`, else at least the first 32 bytes); `pad` is the alignment padding
/// before it, when known.
pub fn analyse(
    addr: u64,
    code: &[u8],
    size: u64,
    pad: Option<Padding>,
) -> Result<Prologue, String> {
    let skip = if code.starts_with(&ENDBR64) { 4 } else { 0 };
    let patch_at = addr + skip as u64;
    let full = window(code, skip, patch_at, PATCH_LEN);
    let has_call = |ins: &[Instruction]| ins.iter().any(|i| i.flow_control() == FlowControl::Call);
    let (springboard, (len, instrs)) = match full {
        Ok(w) if !has_call(&w.1) => (None, w),
        full => {
            // A call inside the first 5 bytes (or the function ends there): jump with 2 bytes
            // to a springboard in the padding before the function, if both are possible.
            let short = window(code, skip, patch_at, 2)
                .ok()
                .filter(|(_, ins)| ins.iter().all(|i| i.flow_control() == FlowControl::Next));
            let board = pad.as_ref().and_then(|p| springboard(p, patch_at));
            match (short, board) {
                (Some(w), Some(b)) => (Some(b), w),
                // Otherwise the call is relocated: it returns into the relocated copy, which
                // is correct, but an exception unwinding through it finds no unwind info.
                _ => (None, full?),
            }
        }
    };
    if size > 0 {
        check_back_edges(addr, code, size, patch_at, len)?;
    }
    Ok(Prologue {
        patch_at,
        springboard,
        len,
        instrs,
    })
}

/// The last 5 bytes of `pad`, if `pad` holds only NOP/INT3 instructions and they are within
/// `jmp rel8` reach of `patch_at + 2`.
fn springboard(pad: &Padding, patch_at: u64) -> Option<u64> {
    let mut d = Decoder::with_ip(64, pad.bytes, pad.start, DecoderOptions::NONE);
    for i in d.iter() {
        if i.is_invalid() || !matches!(i.mnemonic(), Mnemonic::Nop | Mnemonic::Int3) {
            return None;
        }
    }
    let at = (pad.start + pad.bytes.len() as u64).checked_sub(PATCH_LEN as u64)?;
    (at >= pad.start && patch_at + 2 - at <= 128).then_some(at)
}

/// Whole instructions from `code[skip..]` covering at least `need` bytes, all relocatable.
fn window(
    code: &[u8],
    skip: usize,
    patch_at: u64,
    need: usize,
) -> Result<(usize, Vec<Instruction>), String> {
    let mut d = Decoder::with_ip(64, &code[skip..], patch_at, DecoderOptions::NONE);
    let mut instrs = Vec::new();
    let mut len = 0usize;
    while len < need {
        if !d.can_decode() {
            return Err(format!(
                "the function is shorter than the {PATCH_LEN}-byte patch"
            ));
        }
        let i = d.decode();
        if i.is_invalid() {
            return Err(format!("undecodable instruction at offset {}", skip + len));
        }
        len += i.len();
        match i.flow_control() {
            FlowControl::Next | FlowControl::ConditionalBranch | FlowControl::Call => {}
            FlowControl::UnconditionalBranch | FlowControl::IndirectBranch | FlowControl::Return
                if len >= need => {}
            FlowControl::UnconditionalBranch | FlowControl::IndirectBranch | FlowControl::Return => {
                return Err(format!(
                    "the function is shorter than the {PATCH_LEN}-byte patch (it ends after {len} bytes)"
                ))
            }
            FlowControl::IndirectCall => {
                return Err(format!("an indirect call in the first {PATCH_LEN} bytes cannot be relocated"))
            }
            other => {
                return Err(format!("instruction {:?} ({other:?}) in the first {PATCH_LEN} bytes", i.code()))
            }
        }
        if i.is_privileged() || matches!(i.code(), Code::Xbegin_rel32 | Code::Xbegin_rel16) {
            return Err(format!("instruction {:?} cannot be relocated", i.code()));
        }
        instrs.push(i);
    }
    Ok((len, instrs))
}

/// Refuses a separate fragment of the function (`foo.cold`, at `addr`, `code` its bytes) that
/// branches into the bytes the patch overwrites.
pub fn check_fragment(p: &Prologue, addr: u64, code: &[u8]) -> Result<(), String> {
    check_back_edges(addr, code, code.len() as u64, p.patch_at, p.len)
        .map_err(|e| format!("its cold part: {e}"))
}

/// Refuses bodies with a branch into `(patch_at, patch_at + len)`.
fn check_back_edges(
    addr: u64,
    code: &[u8],
    size: u64,
    patch_at: u64,
    len: usize,
) -> Result<(), String> {
    let body = &code[..(size as usize).min(code.len())];
    let mut d = Decoder::with_ip(64, body, addr, DecoderOptions::NONE);
    for i in d.iter() {
        if i.is_invalid() {
            continue;
        }
        if !matches!(i.op0_kind(), OpKind::NearBranch64) {
            continue;
        }
        let t = i.near_branch_target();
        if t > patch_at && t < patch_at + len as u64 {
            // ip >= addr (decoding starts at addr) and t > patch_at (checked above).
            return Err(format!(
                "the instruction at +{:#x} branches inside the {len} bytes the patch overwrites (to byte {})",
                i.ip() - addr,
                t - patch_at
            ));
        }
    }
    Ok(())
}

/// Encodes the window's instructions at `ip`, followed by a `jmp` back into the function.
pub fn relocate(p: &Prologue, ip: u64) -> Result<Vec<u8>, String> {
    let mut instrs = p.instrs.clone();
    let back = Instruction::with_branch(Code::Jmp_rel32_64, p.patch_at + p.len as u64)
        .map_err(|e| e.to_string())?;
    instrs.push(back);
    let block = InstructionBlock::new(&instrs, ip);
    let r = BlockEncoder::encode(64, block, BlockEncoderOptions::NONE)
        .map_err(|e| format!("relocation failed: {e}"))?;
    Ok(r.code_buffer)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typical_prologue_with_endbr() {
        // endbr64; push rbp; mov rbp,rsp; sub rsp,0x10; ret
        let code = [
            0xF3, 0x0F, 0x1E, 0xFA, 0x55, 0x48, 0x89, 0xE5, 0x48, 0x83, 0xEC, 0x10, 0xC3,
        ];
        let p = analyse(0x1000, &code, code.len() as u64, None).unwrap();
        assert_eq!(p.patch_at, 0x1004);
        assert_eq!(p.len, 8);
        let r = relocate(&p, 0x2000).unwrap();
        assert_eq!(&r[..8], &code[4..12]);
        assert_eq!(r[8], 0xE9);
    }

    #[test]
    fn call_in_window_uses_springboard() {
        // sub rsp,8; call +0; add rsp,8; ret   with 8 bytes of int3 padding before it
        let code = [
            0x48, 0x83, 0xEC, 0x08, 0xE8, 0, 0, 0, 0, 0x48, 0x83, 0xC4, 0x08, 0xC3,
        ];
        let pad = [0xCC; 8];
        let p = analyse(
            0x1008,
            &code,
            14,
            Some(Padding {
                start: 0x1000,
                bytes: &pad,
            }),
        )
        .unwrap();
        assert_eq!((p.springboard, p.len), (Some(0x1003), 4));
        // Without padding the call is relocated.
        let p = analyse(0x1008, &code, 14, None).unwrap();
        assert_eq!((p.springboard, p.len), (None, 9));
        // Padding that is not all NOP/INT3 is never used.
        let bad = [0x90, 0x90, 0x90, 0x31, 0xC0, 0x90, 0x90, 0x90];
        let p = analyse(
            0x1008,
            &code,
            14,
            Some(Padding {
                start: 0x1000,
                bytes: &bad,
            }),
        )
        .unwrap();
        assert_eq!(p.springboard, None);
    }

    #[test]
    fn springboard_padding_rules() {
        let board = |pad: &[u8], start: u64, patch_at: u64| {
            springboard(&Padding { start, bytes: pad }, patch_at)
        };
        // The last 5 bytes of NOP/INT3 padding, multi-byte NOPs included.
        assert_eq!(board(&[0xCC; 5], 0x1000, 0x1005), Some(0x1000));
        assert_eq!(
            board(&[0x66, 0x0F, 0x1F, 0x44, 0x00, 0x00, 0x90], 0x1000, 0x1007),
            Some(0x1002)
        );
        // Fewer than 5 bytes: no room for the jump.
        assert_eq!(board(&[0xCC; 4], 0x1000, 0x1004), None);
        // Out of the 2-byte jump's reach (rel8 backwards from patch_at + 2).
        assert_eq!(board(&[0xCC; 8], 0x1000, 0x1000 + 3 + 127), None);
        assert_eq!(board(&[0xCC; 8], 0x1000, 0x1000 + 3 + 126), Some(0x1003));
        // Anything but padding: never touched.
        assert_eq!(
            board(&[0xCC, 0xCC, 0xC3, 0xCC, 0xCC, 0xCC], 0x1000, 0x1006),
            None
        );
    }

    #[test]
    fn rip_relative_is_rewritten() {
        // mov rax,[rip+0x100]; ret ; at 0x1000, target 0x1107
        let code = [0x48, 0x8B, 0x05, 0x00, 0x01, 0x00, 0x00, 0xC3];
        let p = analyse(0x1000, &code, 8, None).unwrap();
        let r = relocate(&p, 0x3000).unwrap();
        let mut d = Decoder::with_ip(64, &r, 0x3000, DecoderOptions::NONE);
        let i = d.decode();
        assert_eq!(i.memory_displacement64(), 0x1107);
    }

    #[test]
    fn refuses_short_and_calls_and_back_edges() {
        assert!(
            analyse(0x1000, &[0x31, 0xC0, 0xC3, 0xCC, 0xCC, 0xCC], 3, None)
                .unwrap_err()
                .contains("shorter")
        );
        assert!(analyse(0x1000, &[0xFF, 0x15, 0, 0, 0, 0, 0xC3], 7, None)
            .unwrap_err()
            .contains("call"));
        // xor eax,eax; xor ecx,ecx; inc eax (+4); cmp eax,10; jne +4 (back into window)
        let code = [
            0x31, 0xC0, 0x31, 0xC9, 0xFF, 0xC0, 0x83, 0xF8, 0x0A, 0x75, 0xF9, 0xC3,
        ];
        let e = analyse(0x1000, &code, code.len() as u64, None).unwrap_err();
        assert!(e.contains("inside the 6 bytes the patch overwrites"), "{e}");
    }
}
