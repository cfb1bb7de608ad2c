//! The shared slow-path trampolines (enter, leave, and the args path of hooks that read
//! arguments) and the thin Rust functions they call.
//!
//! A stub reaches a trampoline with `blr x17`, after pushing `{x16, x30}` (so the caller's
//! link register is safe). The trampoline saves x0–x30 and NZCV (the `Frame`), then all 32
//! vector registers in full (q0–q31), FPSR and FPCR, calls Rust with a pointer to the frame,
//! restores everything and returns to the frame's `x30`. Rust communicates only through the
//! frame: it may rewrite `x30` (enter and args: go to the stub's pass-through instead of
//! retrying) or `x2` (leave: the real return address in place of `t_exit`).
//!
//! Invariant: nothing of the program's register state is changed by the slow path except what
//! the stub protocol says. Not saved: SVE and SME state beyond the low 128 bits of each vector
//! register (the Rust code is built without SVE, but a write to `vN` clears the upper bits of
//! `zN`), so a function taking SVE arguments must not be hooked (`docs/aarch64.md`).

use super::super::args::Args;
use super::super::{hooks, slow};

/// Registers as saved by the trampolines (lowest address first).
#[repr(C)]
pub struct Frame {
    /// x0–x30; `x[30]` is where the trampoline returns (into the stub).
    pub x: [u64; 31],
    pub nzcv: u64,
}

/// Bytes the trampoline reserves: the frame (256), q0–q31 (512), FPSR and FPCR (16).
pub const FRAME_BYTES: u64 = 784;
/// What the stub pushed before calling the trampoline: `{x16, x30}`.
const STUB_PUSH: u64 = 16;
/// What the leave path saved below the caller's stack pointer before its slow path: x0–x5.
const LEAVE_SAVES: u64 = 48;

macro_rules! trampoline {
    ($name:literal, $target:path) => {
        std::arch::global_asm!(
            concat!(".pushsection .text.", $name, ",\"ax\",@progbits"),
            ".p2align 4",
            concat!(".globl ", $name),
            concat!(".hidden ", $name),
            concat!(".type ", $name, ",%function"),
            concat!($name, ":"),
            "sub sp, sp, #{bytes}",
            "stp x0, x1, [sp, #0]",
            "stp x2, x3, [sp, #16]",
            "stp x4, x5, [sp, #32]",
            "stp x6, x7, [sp, #48]",
            "stp x8, x9, [sp, #64]",
            "stp x10, x11, [sp, #80]",
            "stp x12, x13, [sp, #96]",
            "stp x14, x15, [sp, #112]",
            "stp x16, x17, [sp, #128]",
            "stp x18, x19, [sp, #144]",
            "stp x20, x21, [sp, #160]",
            "stp x22, x23, [sp, #176]",
            "stp x24, x25, [sp, #192]",
            "stp x26, x27, [sp, #208]",
            "stp x28, x29, [sp, #224]",
            "mrs x0, nzcv",
            "stp x30, x0, [sp, #240]",
            "add x1, sp, #256",
            "stp q0, q1, [x1, #0]",
            "stp q2, q3, [x1, #32]",
            "stp q4, q5, [x1, #64]",
            "stp q6, q7, [x1, #96]",
            "stp q8, q9, [x1, #128]",
            "stp q10, q11, [x1, #160]",
            "stp q12, q13, [x1, #192]",
            "stp q14, q15, [x1, #224]",
            "stp q16, q17, [x1, #256]",
            "stp q18, q19, [x1, #288]",
            "stp q20, q21, [x1, #320]",
            "stp q22, q23, [x1, #352]",
            "stp q24, q25, [x1, #384]",
            "stp q26, q27, [x1, #416]",
            "stp q28, q29, [x1, #448]",
            "stp q30, q31, [x1, #480]",
            "mrs x2, fpsr",
            "mrs x3, fpcr",
            "add x1, sp, #768",
            "stp x2, x3, [x1]",
            "mov x0, sp",
            "bl {target}",
            "add x1, sp, #768",
            "ldp x2, x3, [x1]",
            "add x1, sp, #256",
            "msr fpsr, x2",
            "msr fpcr, x3",
            "ldp q0, q1, [x1, #0]",
            "ldp q2, q3, [x1, #32]",
            "ldp q4, q5, [x1, #64]",
            "ldp q6, q7, [x1, #96]",
            "ldp q8, q9, [x1, #128]",
            "ldp q10, q11, [x1, #160]",
            "ldp q12, q13, [x1, #192]",
            "ldp q14, q15, [x1, #224]",
            "ldp q16, q17, [x1, #256]",
            "ldp q18, q19, [x1, #288]",
            "ldp q20, q21, [x1, #320]",
            "ldp q22, q23, [x1, #352]",
            "ldp q24, q25, [x1, #384]",
            "ldp q26, q27, [x1, #416]",
            "ldp q28, q29, [x1, #448]",
            "ldp q30, q31, [x1, #480]",
            "ldp x30, x0, [sp, #240]",
            "msr nzcv, x0",
            "ldp x0, x1, [sp, #0]",
            "ldp x2, x3, [sp, #16]",
            "ldp x4, x5, [sp, #32]",
            "ldp x6, x7, [sp, #48]",
            "ldp x8, x9, [sp, #64]",
            "ldp x10, x11, [sp, #80]",
            "ldp x12, x13, [sp, #96]",
            "ldp x14, x15, [sp, #112]",
            "ldp x16, x17, [sp, #128]",
            "ldp x18, x19, [sp, #144]",
            "ldp x20, x21, [sp, #160]",
            "ldp x22, x23, [sp, #176]",
            "ldp x24, x25, [sp, #192]",
            "ldp x26, x27, [sp, #208]",
            "ldp x28, x29, [sp, #224]",
            "add sp, sp, #{bytes}",
            "ret",
            concat!(".size ", $name, ", . - ", $name),
            ".popsection",
            bytes = const FRAME_BYTES,
            target = sym $target,
        );
    };
}

trampoline!("scope_a64_tramp_enter", enter_slow);
trampoline!("scope_a64_tramp_leave", leave_slow);
trampoline!("scope_a64_tramp_args", args_enter);

extern "C" {
    fn scope_a64_tramp_enter();
    fn scope_a64_tramp_leave();
    fn scope_a64_tramp_args();
}

pub fn enter_trampoline() -> u64 {
    scope_a64_tramp_enter as *const () as u64
}

pub fn leave_trampoline() -> u64 {
    scope_a64_tramp_leave as *const () as u64
}

pub fn args_trampoline() -> u64 {
    scope_a64_tramp_args as *const () as u64
}

/// The caller's stack pointer before its call into the hooked function, from an enter or
/// args trampoline's frame: above the frame and what the stub pushed.
fn caller_sp(frame: *const Frame) -> u64 {
    frame as u64 + FRAME_BYTES + STUB_PUSH
}

/// Slow enter: `x16` carries the hook id. Pass through: `x30` set to the hook's pass address;
/// otherwise the stub retries its fast path (or, for an unwinder hook, runs the original).
extern "C" fn enter_slow(frame: *mut Frame) {
    let sp = caller_sp(frame);
    // SAFETY: the trampoline passes its own, live, exclusively used frame.
    let frame = unsafe { &mut *frame };
    let id = frame.x[16] as usize;
    if slow::enter(id, sp) {
        frame.x[30] = hooks::pass_address(id);
    }
}

/// Slow leave: `x2` holds `t_exit`; the real return address goes back in `x2`.
extern "C" fn leave_slow(frame: *mut Frame) {
    let slot = frame as u64 + FRAME_BYTES + STUB_PUSH + LEAVE_SAVES;
    // SAFETY: as above.
    let frame = unsafe { &mut *frame };
    frame.x[2] = slow::leave(slot, frame.x[2]);
}

/// The args path of a `TimingWithArgs` hook (`x16` = hook id), with the caller's registers
/// and stack as they were at the call. Pass through: `x30` set to the hook's pass address.
extern "C" fn args_enter(frame: *mut Frame) {
    let stack = caller_sp(frame);
    // SAFETY: as above.
    let frame = unsafe { &mut *frame };
    let id = frame.x[16] as usize;
    // The AAPCS64 integer argument registers, in order.
    if slow::read_args(id, &Args::new(&frame.x[..8], stack)) {
        frame.x[30] = hooks::pass_address(id);
    }
}
