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
//! On a CPU with SVE (`HWCAP_SVE`, checked once at `init`) the trampolines used are the SVE
//! ones, which also save z0–z31 at the vector length, p0–p15 and FFR below the frame: a write
//! to `vN` (Rust's NEON code, the q restores) clears the upper bits of `zN`, and a system call
//! discards them, while a function with the SVE calling convention (`.variant_pcs`) expects
//! its caller's z and p registers intact.
//!
//! Invariant: nothing of the program's register state is changed by the slow path except what
//! the stub protocol says. Not saved: SME state (ZA, streaming mode): `docs/aarch64.md`.

use super::super::args::Args;
use super::super::{hooks, slow};
use std::sync::atomic::{AtomicBool, Ordering};

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

/// Saves z0–z31, p0–p15 and FFR below `sp` (x19 = VL, x20 = bytes reserved; both survive the
/// call, being callee-saved); `x0` = the frame.
macro_rules! sve_save {
    () => {
        concat!(
            ".arch_extension sve\n",
            "rdvl x19, #1\n",
            "lsl x20, x19, #5\n",
            "lsr x21, x19, #3\n",
            "add x20, x20, x21, lsl #4\n",
            "add x20, x20, x21\n",
            "add x20, x20, #15\n",
            "and x20, x20, #-16\n",
            "sub sp, sp, x20\n",
            sve_z!("str"),
            "lsl x21, x19, #5\n",
            "add x21, sp, x21\n",
            sve_p!("str"),
            "rdffr p0.b\n",
            "str p0, [x21, #16, mul vl]\n",
            "add x0, sp, x20\n",
        )
    };
}

/// Restores what `sve_save` saved and releases its space.
macro_rules! sve_restore {
    () => {
        concat!(
            "lsl x21, x19, #5\n",
            "add x21, sp, x21\n",
            "ldr p0, [x21, #16, mul vl]\n",
            "wrffr p0.b\n",
            sve_p!("ldr"),
            sve_z!("ldr"),
            "add sp, sp, x20\n",
        )
    };
}

macro_rules! sve_z {
    ($op:literal) => {
        concat!(
            $op,
            " z0, [sp, #0, mul vl]\n",
            $op,
            " z1, [sp, #1, mul vl]\n",
            $op,
            " z2, [sp, #2, mul vl]\n",
            $op,
            " z3, [sp, #3, mul vl]\n",
            $op,
            " z4, [sp, #4, mul vl]\n",
            $op,
            " z5, [sp, #5, mul vl]\n",
            $op,
            " z6, [sp, #6, mul vl]\n",
            $op,
            " z7, [sp, #7, mul vl]\n",
            $op,
            " z8, [sp, #8, mul vl]\n",
            $op,
            " z9, [sp, #9, mul vl]\n",
            $op,
            " z10, [sp, #10, mul vl]\n",
            $op,
            " z11, [sp, #11, mul vl]\n",
            $op,
            " z12, [sp, #12, mul vl]\n",
            $op,
            " z13, [sp, #13, mul vl]\n",
            $op,
            " z14, [sp, #14, mul vl]\n",
            $op,
            " z15, [sp, #15, mul vl]\n",
            $op,
            " z16, [sp, #16, mul vl]\n",
            $op,
            " z17, [sp, #17, mul vl]\n",
            $op,
            " z18, [sp, #18, mul vl]\n",
            $op,
            " z19, [sp, #19, mul vl]\n",
            $op,
            " z20, [sp, #20, mul vl]\n",
            $op,
            " z21, [sp, #21, mul vl]\n",
            $op,
            " z22, [sp, #22, mul vl]\n",
            $op,
            " z23, [sp, #23, mul vl]\n",
            $op,
            " z24, [sp, #24, mul vl]\n",
            $op,
            " z25, [sp, #25, mul vl]\n",
            $op,
            " z26, [sp, #26, mul vl]\n",
            $op,
            " z27, [sp, #27, mul vl]\n",
            $op,
            " z28, [sp, #28, mul vl]\n",
            $op,
            " z29, [sp, #29, mul vl]\n",
            $op,
            " z30, [sp, #30, mul vl]\n",
            $op,
            " z31, [sp, #31, mul vl]\n",
        )
    };
}

macro_rules! sve_p {
    ($op:literal) => {
        concat!(
            $op,
            " p0, [x21, #0, mul vl]\n",
            $op,
            " p1, [x21, #1, mul vl]\n",
            $op,
            " p2, [x21, #2, mul vl]\n",
            $op,
            " p3, [x21, #3, mul vl]\n",
            $op,
            " p4, [x21, #4, mul vl]\n",
            $op,
            " p5, [x21, #5, mul vl]\n",
            $op,
            " p6, [x21, #6, mul vl]\n",
            $op,
            " p7, [x21, #7, mul vl]\n",
            $op,
            " p8, [x21, #8, mul vl]\n",
            $op,
            " p9, [x21, #9, mul vl]\n",
            $op,
            " p10, [x21, #10, mul vl]\n",
            $op,
            " p11, [x21, #11, mul vl]\n",
            $op,
            " p12, [x21, #12, mul vl]\n",
            $op,
            " p13, [x21, #13, mul vl]\n",
            $op,
            " p14, [x21, #14, mul vl]\n",
            $op,
            " p15, [x21, #15, mul vl]\n",
        )
    };
}

macro_rules! trampoline {
    ($name:literal, $target:path) => {
        trampoline!($name, $target, "mov x0, sp", "mov x1, sp", "");
    };
    // `$pre`: sets x0 to the frame before the call; `$frame`: x1 to the frame after it;
    // `$post`: runs after the q registers are restored (the SVE restore must come after them:
    // a write to qN clears the upper bits of zN).
    ($name:literal, $target:path, $pre:expr, $frame:expr, $post:expr) => {
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
            $pre,
            "bl {target}",
            $frame,
            "add x2, x1, #768",
            "ldp x2, x3, [x2]",
            "msr fpsr, x2",
            "msr fpcr, x3",
            "add x1, x1, #256",
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
            $post,
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
trampoline!(
    "scope_a64_tramp_enter_sve",
    enter_slow,
    sve_save!(),
    "add x1, sp, x20",
    sve_restore!()
);
trampoline!(
    "scope_a64_tramp_leave_sve",
    leave_slow,
    sve_save!(),
    "add x1, sp, x20",
    sve_restore!()
);
trampoline!(
    "scope_a64_tramp_args_sve",
    args_enter,
    sve_save!(),
    "add x1, sp, x20",
    sve_restore!()
);

extern "C" {
    fn scope_a64_tramp_enter();
    fn scope_a64_tramp_leave();
    fn scope_a64_tramp_args();
    fn scope_a64_tramp_enter_sve();
    fn scope_a64_tramp_leave_sve();
    fn scope_a64_tramp_args_sve();
}

/// The CPU has SVE: the SVE trampolines are the ones stubs call (set by `init`).
static SVE: AtomicBool = AtomicBool::new(false);

/// Picks the trampolines for this CPU (`HWCAP_SVE`, bit 22 of `AT_HWCAP`).
pub fn init() {
    // SAFETY: getauxval has no preconditions.
    let hwcap = unsafe { libc::getauxval(libc::AT_HWCAP) };
    SVE.store(hwcap & (1 << 22) != 0, Ordering::Relaxed);
}

fn pick(plain: unsafe extern "C" fn(), sve: unsafe extern "C" fn()) -> u64 {
    if SVE.load(Ordering::Relaxed) {
        sve as *const () as u64
    } else {
        plain as *const () as u64
    }
}

pub fn enter_trampoline() -> u64 {
    pick(scope_a64_tramp_enter, scope_a64_tramp_enter_sve)
}

pub fn leave_trampoline() -> u64 {
    pick(scope_a64_tramp_leave, scope_a64_tramp_leave_sve)
}

pub fn args_trampoline() -> u64 {
    pick(scope_a64_tramp_args, scope_a64_tramp_args_sve)
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
