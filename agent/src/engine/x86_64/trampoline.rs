//! The shared slow-path trampolines (enter, leave, and the args path of hooks that read
//! arguments) and the thin Rust functions they call, which read the saved registers and hand
//! the engine's slow paths (`slow.rs`) what they need.
//!
//! A stub reaches a trampoline with `call [rip+slot]`. The trampoline saves flags and all
//! sixteen general registers (the `Frame`), then the complete extended state with `xsave64`
//! (x87, MXCSR, all vector registers of every enabled width), calls Rust with a pointer to the
//! frame, restores everything and returns. Rust communicates only through the frame: it may
//! rewrite the frame's return address (enter: pass through instead of retrying) or the saved
//! `rax` (leave: the real return address). Invariant: nothing of the program's register state
//! is changed by the slow path except what the stub protocol says.

use super::super::args::Args;
use super::super::{hooks, slow};
use std::sync::atomic::{AtomicU64, Ordering};

/// Registers as pushed by the trampolines (lowest address first).
#[repr(C)]
pub struct Frame {
    pub r15: u64,
    pub r14: u64,
    pub r13: u64,
    pub r12: u64,
    pub r11: u64,
    pub r10: u64,
    pub r9: u64,
    pub r8: u64,
    pub rdi: u64,
    pub rsi: u64,
    pub rbp: u64,
    pub rbx: u64,
    pub rdx: u64,
    pub rcx: u64,
    pub rax: u64,
    pub rflags: u64,
    pub ret: u64,
}

/// Bytes of `xsave` area to reserve: set from CPUID leaf 0xD at init (plus alignment slack).
static SCOPE_XSAVE_RESERVE: AtomicU64 = AtomicU64::new(16384);

/// Bytes the leave stub reserves below the return slot before calling its trampoline.
pub const LEAVE_RESERVE: u64 = 48;

/// Pushes the `Frame` (flags, then the sixteen general registers; `ret` is the caller's
/// `call`), in the one order `Frame` describes: every trampoline uses this and `pop_frame`.
macro_rules! push_frame {
    () => {
        concat!("pushfq\n", push_regs!())
    };
}

/// The sixteen general registers of a `Frame`, below its flags slot.
macro_rules! push_regs {
    () => {
        concat!(
            "push rax\n",
            "push rcx\n",
            "push rdx\n",
            "push rbx\n",
            "push rbp\n",
            "push rsi\n",
            "push rdi\n",
            "push r8\n",
            "push r9\n",
            "push r10\n",
            "push r11\n",
            "push r12\n",
            "push r13\n",
            "push r14\n",
            "push r15"
        )
    };
}

/// Pops what `push_frame` pushed (the Rust side may have changed `rax` and `ret`).
macro_rules! pop_frame {
    () => {
        concat!(pop_regs!(), "\npopfq")
    };
}

/// Pops what `push_regs` pushed.
macro_rules! pop_regs {
    () => {
        concat!(
            "pop r15\n",
            "pop r14\n",
            "pop r13\n",
            "pop r12\n",
            "pop r11\n",
            "pop r10\n",
            "pop r9\n",
            "pop r8\n",
            "pop rdi\n",
            "pop rsi\n",
            "pop rbp\n",
            "pop rbx\n",
            "pop rdx\n",
            "pop rcx\n",
            "pop rax"
        )
    };
}

macro_rules! trampoline {
    ($name:literal, $target:path) => {
        std::arch::global_asm!(
            concat!(".pushsection .text.", $name, ",\"ax\",@progbits"),
            ".p2align 4",
            concat!(".globl ", $name),
            concat!(".hidden ", $name),
            concat!(".type ", $name, ",@function"),
            concat!($name, ":"),
            push_frame!(),
            "mov rbp, rsp",
            "sub rsp, qword ptr [rip + {reserve}]",
            "and rsp, -64",
            "xor eax, eax",
            "mov qword ptr [rsp + 512], rax",
            "mov qword ptr [rsp + 520], rax",
            "mov qword ptr [rsp + 528], rax",
            "mov qword ptr [rsp + 536], rax",
            "mov qword ptr [rsp + 544], rax",
            "mov qword ptr [rsp + 552], rax",
            "mov qword ptr [rsp + 560], rax",
            "mov qword ptr [rsp + 568], rax",
            "mov eax, -1",
            "mov edx, -1",
            "xsave64 [rsp]",
            "cld",
            "mov rdi, rbp",
            "call {target}",
            "mov eax, -1",
            "mov edx, -1",
            "xrstor64 [rsp]",
            "mov rsp, rbp",
            pop_frame!(),
            "ret",
            concat!(".size ", $name, ", . - ", $name),
            ".popsection",
            reserve = sym SCOPE_XSAVE_RESERVE,
            target = sym $target,
        );
    };
}

trampoline!("scope_tramp_enter", enter_slow);
trampoline!("scope_tramp_leave", leave_slow);

// The args trampoline of `TimingWithArgs` hooks, at the entry of an MPI function: the sixteen
// general registers in the `Frame` layout the full trampolines use, but neither the flags nor
// the vector state beyond xmm0-xmm7. At a function's entry the arithmetic flags carry nothing
// (the System V ABI passes none, and requires only DF clear, which `cld` keeps), so the flags
// slot is reserved, not written (`popfq` alone costs tens of cycles); the vector registers
// are the caller's scratch except for floating-point arguments, which travel in xmm0-xmm7
// (MPI functions take none but `MPI_Pcontrol`'s variadic ones); the x87 state and MXCSR are
// left alone by Rust.
std::arch::global_asm!(
    ".pushsection .text.scope_tramp_args,\"ax\",@progbits",
    ".p2align 4",
    ".globl scope_tramp_args",
    ".hidden scope_tramp_args",
    ".type scope_tramp_args,@function",
    "scope_tramp_args:",
    "lea rsp, [rsp - 8]",
    push_regs!(),
    "mov rbp, rsp",
    "sub rsp, 128",
    "and rsp, -16",
    "movdqu [rsp], xmm0",
    "movdqu [rsp + 16], xmm1",
    "movdqu [rsp + 32], xmm2",
    "movdqu [rsp + 48], xmm3",
    "movdqu [rsp + 64], xmm4",
    "movdqu [rsp + 80], xmm5",
    "movdqu [rsp + 96], xmm6",
    "movdqu [rsp + 112], xmm7",
    "cld",
    "mov rdi, rbp",
    "call {target}",
    "movdqu xmm0, [rsp]",
    "movdqu xmm1, [rsp + 16]",
    "movdqu xmm2, [rsp + 32]",
    "movdqu xmm3, [rsp + 48]",
    "movdqu xmm4, [rsp + 64]",
    "movdqu xmm5, [rsp + 80]",
    "movdqu xmm6, [rsp + 96]",
    "movdqu xmm7, [rsp + 112]",
    "mov rsp, rbp",
    pop_regs!(),
    "lea rsp, [rsp + 8]",
    "ret",
    ".size scope_tramp_args, . - scope_tramp_args",
    ".popsection",
    target = sym args_enter,
);

extern "C" {
    fn scope_tramp_enter();
    fn scope_tramp_leave();
    fn scope_tramp_args();
}

pub fn args_trampoline() -> u64 {
    scope_tramp_args as *const () as u64
}

pub fn enter_trampoline() -> u64 {
    scope_tramp_enter as *const () as u64
}

pub fn leave_trampoline() -> u64 {
    scope_tramp_leave as *const () as u64
}

/// Sets the xsave reservation from CPUID; false if the CPU/OS lacks XSAVE.
pub fn init_xsave() -> bool {
    let leaf1 = std::arch::x86_64::__cpuid(1);
    let osxsave = leaf1.ecx & (1 << 27) != 0;
    if !osxsave {
        return false;
    }
    // Leaf 0xD exists when OSXSAVE is set.
    let d = std::arch::x86_64::__cpuid_count(0xD, 0);
    SCOPE_XSAVE_RESERVE.store(u64::from(d.ebx) + 128, Ordering::Relaxed);
    true
}

/// Slow enter: `r11` carries the hook id. Pass through: `ret` set to the hook's pass address;
/// otherwise the stub retries its fast path (or, for an unwinder hook, runs the original).
extern "C" fn enter_slow(frame: *mut Frame) {
    // The caller's stack pointer before it called the hooked function: above the frame, the
    // return into the stub, the r11 the stub pushed, and the caller's return address.
    let caller_sp = frame as u64 + std::mem::size_of::<Frame>() as u64 + 16;
    // SAFETY: the trampoline passes its own, live, exclusively used frame.
    let frame = unsafe { &mut *frame };
    let id = frame.r11 as usize;
    if slow::enter(id, caller_sp) {
        frame.ret = hooks::pass_address(id);
    }
}

/// Slow leave: `rax` holds `t_exit`; the real return address goes back in `rax`.
extern "C" fn leave_slow(frame: *mut Frame) {
    let slot = frame as u64 + std::mem::size_of::<Frame>() as u64 + LEAVE_RESERVE;
    // SAFETY: as above.
    let frame = unsafe { &mut *frame };
    frame.rax = slow::leave(slot, frame.rax);
}

/// The args path of a `TimingWithArgs` hook (`r11` = hook id), with the caller's registers and
/// stack as they were at the call. Pass through: `ret` set to the hook's pass address;
/// otherwise the stub goes on to its enter path.
extern "C" fn args_enter(frame: *mut Frame) {
    // Above the frame: the return into the stub, the r11 the stub pushed, the caller's return
    // address; then the caller's stack pointer before the call (argument 7 onwards).
    let stack = frame as u64 + std::mem::size_of::<Frame>() as u64 + 16;
    // SAFETY: as above.
    let frame = unsafe { &mut *frame };
    let id = frame.r11 as usize;
    // The System V integer argument registers, in order.
    let regs = [
        frame.rdi, frame.rsi, frame.rdx, frame.rcx, frame.r8, frame.r9,
    ];
    if slow::read_args(id, &Args::new(&regs, stack)) {
        frame.ret = hooks::pass_address(id);
    }
}
