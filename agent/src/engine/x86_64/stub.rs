//! The per-function stub, assembled with iced-x86's `CodeAssembler`.
//!
//! Enter (at the stub's start, `[rsp]` = the caller's return address): save rax/rdx/r11 in
//! the red zone, push a shadow entry `{return address, slot, region | hook id << 32, t_enter}`, restore, pop
//! the return address and `call` the relocated prologue, so the original runs on exactly the
//! caller's stack (stack arguments included) and calls/returns stay paired for the CPU's
//! return predictor. Leave (after the original returns): save rax, flags (lahf/seto), rdx,
//! rcx, r11 in the red zone, take `t_exit`, check the top entry is this frame's, append the
//! event, put the real return address back, restore and `ret`. Anything unusual (no thread
//! state, stack full, buffer full, frames left by longjmp) goes to a trampoline that saves
//! everything. Invariant: the fast path writes only rax, rdx, rcx, r11 and flags, all of which
//! it restores (flags with `lahf`/`seto` and `add al, 0x7f`/`sahf`, on entry and on return);
//! a pass-through call runs the original with every register and flag as the caller set it.
//! A `TimingWithArgs` stub first calls the args trampoline (with the caller's registers and stack
//! untouched, r11 = hook id, r11 itself saved on the stack), which may send the call to `pass`.

use super::super::thread::{
    ENTRY_SIZE, OFF_CUR, OFF_DEPTH, OFF_DEPTH_LIMIT, OFF_END, OFF_ENTRIES, RECORD_SIZE,
};
use super::trampoline::LEAVE_RESERVE;
use iced_x86::code_asm::*;
use iced_x86::{BlockEncoderOptions, IcedError};

pub struct StubSpec {
    pub hook_id: u32,
    pub region: u32,
    pub tls_offset: i32,
    /// Address of the relocated prologue.
    pub relocated: u64,
    pub enter_trampoline: u64,
    pub leave_trampoline: u64,
    /// `TimingWithArgs` hooks: the trampoline to the args path, run before the enter path.
    pub args_trampoline: Option<u64>,
}

pub struct Stub {
    pub code: Vec<u8>,
    /// Where a pass-through call continues (restores r11, jumps to the relocated prologue).
    pub pass: u64,
    /// The return address the stub's `call` pushes: the start of the leave path.
    pub leave: u64,
}

/// `lahf; seto al; mov [rsp - slot], rax`: the arithmetic flags into a red-zone slot (rax must
/// already be saved: this overwrites its low 16 bits).
fn save_flags(a: &mut CodeAssembler, slot: i32) -> Result<(), IcedError> {
    a.lahf()?;
    a.seto(al)?;
    a.mov(qword_ptr(rsp - slot), rax)
}

/// `mov rax, [rsp - slot]; add al, 0x7f; sahf`: the flags saved by `save_flags` (OF from the
/// overflow of `add`, the rest from `sahf`). Clobbers rax.
fn restore_flags(a: &mut CodeAssembler, slot: i32) -> Result<(), IcedError> {
    a.mov(rax, qword_ptr(rsp - slot))?;
    a.add(al, 0x7f)?;
    a.sahf()
}

/// Everything the enter path saved in the red zone: flags, rax, rdx, r11.
fn restore_enter_saves(a: &mut CodeAssembler) -> Result<(), IcedError> {
    restore_flags(a, 32)?;
    a.mov(rax, qword_ptr(rsp - 8))?;
    a.mov(rdx, qword_ptr(rsp - 16))?;
    a.mov(r11, qword_ptr(rsp - 24))
}

fn fs_qword(off: i32) -> AsmMemoryOperand {
    qword_ptr(off as i64 as u64).fs()
}

/// Assembles the stub for placement at `ip`.
pub fn assemble(spec: &StubSpec, ip: u64) -> Result<Stub, IcedError> {
    let mut a = CodeAssembler::new(64)?;
    let mut enter = a.create_label();
    let mut enter_slow = a.create_label();
    let mut enter_undo = a.create_label();
    let mut leave_slow = a.create_label();
    let mut restore = a.create_label();
    let mut pass = a.create_label();
    let mut leave = a.create_label();
    let mut enter_slot = a.create_label();
    let mut leave_slot = a.create_label();
    let mut args_slot = a.create_label();
    let depth = OFF_DEPTH;
    let entries = OFF_ENTRIES;

    // ---- args (TimingWithArgs only): the trampoline returns here to go on, or to `pass` ----
    if spec.args_trampoline.is_some() {
        a.push(r11)?;
        a.mov(r11d, spec.hook_id)?;
        a.call(qword_ptr(args_slot))?;
        a.pop(r11)?;
    }

    // ---- enter ----
    a.set_label(&mut enter)?;
    a.mov(qword_ptr(rsp - 8), rax)?;
    save_flags(&mut a, 32)?; // the caller's flags
    a.mov(qword_ptr(rsp - 16), rdx)?;
    a.mov(qword_ptr(rsp - 24), r11)?;
    a.mov(r11, fs_qword(spec.tls_offset))?;
    a.test(r11, r11)?;
    a.jz(enter_slow)?;
    a.mov(eax, ENTRY_SIZE as u32)?;
    a.xadd(qword_ptr(r11 + depth), rax)?;
    a.cmp(rax, qword_ptr(r11 + OFF_DEPTH_LIMIT))?;
    a.jae(enter_undo)?;
    a.lea(r11, qword_ptr(r11 + rax + entries))?;
    a.mov(rax, qword_ptr(rsp))?;
    a.mov(qword_ptr(r11), rax)?;
    a.mov(qword_ptr(r11 + 8), rsp)?;
    a.mov(dword_ptr(r11 + 16), spec.region)?;
    a.mov(dword_ptr(r11 + 20), spec.hook_id)?;
    a.rdtsc()?;
    a.shl(rdx, 32)?;
    a.or(rax, rdx)?;
    a.mov(qword_ptr(r11 + 24), rax)?;
    restore_enter_saves(&mut a)?;
    a.lea(rsp, qword_ptr(rsp + 8))?;
    a.call(spec.relocated)?;

    // ---- leave ----
    a.set_label(&mut leave)?;
    a.lea(rsp, qword_ptr(rsp - 8))?;
    a.mov(qword_ptr(rsp - 8), rax)?;
    save_flags(&mut a, 16)?;
    a.mov(qword_ptr(rsp - 24), rdx)?;
    a.mov(qword_ptr(rsp - 32), rcx)?;
    a.mov(qword_ptr(rsp - 40), r11)?;
    a.rdtsc()?;
    a.shl(rdx, 32)?;
    a.or(rax, rdx)?;
    a.mov(r11, fs_qword(spec.tls_offset))?;
    a.mov(rcx, qword_ptr(r11 + depth))?;
    a.lea(rdx, qword_ptr(r11 + rcx + (entries - ENTRY_SIZE as i32)))?;
    a.cmp(qword_ptr(rdx + 8), rsp)?;
    a.jne(leave_slow)?;
    a.mov(rcx, qword_ptr(r11 + OFF_CUR))?;
    a.cmp(rcx, qword_ptr(r11 + OFF_END))?;
    a.jae(leave_slow)?;
    a.mov(ecx, RECORD_SIZE as u32)?;
    a.xadd(qword_ptr(r11 + OFF_CUR), rcx)?;
    a.mov(qword_ptr(rcx + 8), rax)?;
    a.mov(rax, qword_ptr(rdx + 24))?;
    a.mov(qword_ptr(rcx), rax)?;
    a.mov(rax, qword_ptr(rdx + 16))?;
    a.mov(qword_ptr(rcx + 16), rax)?;
    a.mov(rax, qword_ptr(rdx))?;
    a.mov(qword_ptr(rsp), rax)?;
    a.sub(qword_ptr(r11 + depth), ENTRY_SIZE as i32)?;
    a.set_label(&mut restore)?;
    a.mov(r11, qword_ptr(rsp - 40))?;
    a.mov(rcx, qword_ptr(rsp - 32))?;
    a.mov(rdx, qword_ptr(rsp - 24))?;
    restore_flags(&mut a, 16)?;
    a.mov(rax, qword_ptr(rsp - 8))?;
    a.ret()?;

    // ---- leave slow: rax = t_exit; the trampoline puts the real return address in rax ----
    a.set_label(&mut leave_slow)?;
    a.lea(rsp, qword_ptr(rsp - LEAVE_RESERVE as i32))?;
    a.call(qword_ptr(leave_slot))?;
    a.lea(rsp, qword_ptr(rsp + LEAVE_RESERVE as i32))?;
    a.mov(qword_ptr(rsp), rax)?;
    a.jmp(restore)?;

    // ---- enter slow: r11 carries the hook id; the trampoline returns here to retry, or to
    // `pass` when Rust decided to pass the call through ----
    a.set_label(&mut enter_undo)?;
    a.sub(qword_ptr(r11 + depth), ENTRY_SIZE as i32)?;
    a.set_label(&mut enter_slow)?;
    restore_enter_saves(&mut a)?;
    a.push(r11)?;
    a.mov(r11d, spec.hook_id)?;
    a.call(qword_ptr(enter_slot))?;
    a.pop(r11)?;
    a.jmp(enter)?;
    a.set_label(&mut pass)?;
    a.pop(r11)?;
    a.jmp(spec.relocated)?;

    // Data slots need no alignment on x86-64.
    a.set_label(&mut enter_slot)?;
    a.dq(&[spec.enter_trampoline])?;
    a.set_label(&mut leave_slot)?;
    a.dq(&[spec.leave_trampoline])?;
    if let Some(args) = spec.args_trampoline {
        a.set_label(&mut args_slot)?;
        a.dq(&[args])?;
    }

    let result = a.assemble_options(ip, BlockEncoderOptions::RETURN_NEW_INSTRUCTION_OFFSETS)?;
    let pass = result.label_ip(&pass)?;
    let leave = result.label_ip(&leave)?;
    Ok(Stub {
        code: result.inner.code_buffer,
        pass,
        leave,
    })
}

/// A stub that only calls the enter trampoline (which acts on the hook's kind) and then runs
/// the relocated original with every register and the stack as the caller left them.
pub fn assemble_special(spec: &StubSpec, ip: u64) -> Result<Stub, IcedError> {
    let mut a = CodeAssembler::new(64)?;
    let mut slot = a.create_label();
    a.push(r11)?;
    a.mov(r11d, spec.hook_id)?;
    a.call(qword_ptr(slot))?;
    a.pop(r11)?;
    a.jmp(spec.relocated)?;
    a.set_label(&mut slot)?;
    a.dq(&[spec.enter_trampoline])?;
    let result = a.assemble(ip)?;
    Ok(Stub {
        code: result,
        pass: ip,
        leave: 0,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use iced_x86::{Decoder, DecoderOptions, Register};

    #[test]
    fn fs_operand_is_absolute_and_signed() {
        let spec = StubSpec {
            hook_id: 7,
            region: 3,
            tls_offset: -0x1230,
            relocated: 0x7000_1000,
            enter_trampoline: 0x1111,
            leave_trampoline: 0x2222,
            args_trampoline: None,
        };
        let stub = assemble(&spec, 0x7000_0000).unwrap();
        let mut d = Decoder::with_ip(64, &stub.code, 0x7000_0000, DecoderOptions::NONE);
        let load = d
            .iter()
            .find(|i| i.segment_prefix() == Register::FS)
            .unwrap();
        assert_eq!(load.op0_register(), Register::R11);
        assert_eq!(load.segment_prefix(), Register::FS);
        assert_eq!(load.memory_base(), Register::None);
        assert_eq!(load.memory_displacement64() as i64, -0x1230);
        assert!(stub.pass > 0x7000_0000 && stub.pass < 0x7000_0000 + stub.code.len() as u64);
    }
}
