//! The per-function stub: one position-independent template, assembled with the agent
//! (`global_asm!` below), copied next to each hooked function with its literal pool filled in
//! (hook id, record word, TLS offset, relocated prologue, trampolines).
//!
//! Enter (`x30` = the caller's return address, `sp` = the caller's stack pointer): save x0/x1
//! below `sp` (no red zone on aarch64: `sp` moves first), find this thread's state at
//! `tpidr_el0 + offset`, push a shadow entry `{return address, caller sp, region | hook id <<
//! 32, t_enter}`, restore, and `blr` the relocated prologue, so the function runs with the
//! caller's stack and arguments, and returns to the leave path (its `x30` is the stub's).
//! Leave: save x0–x5, read `cntvct_el0`, check the top entry is this frame's (its caller sp
//! equals `sp`), reserve a record with `ldxr`/`stxr` (a signal handler recording in between
//! makes the store fail and the loop retry), write it with the word last (`stlr`: the consumer
//! reads a record once its word is non-zero), put the real return address in `x30`, pop,
//! restore and `ret`. Anything unusual (no state, stack full, buffer full, frames left by
//! `longjmp`) goes to a trampoline that saves everything (`trampoline.rs`).
//!
//! Invariants: the fast paths write only x16, x17 (the intra-procedure-call scratch registers,
//! dead at a call boundary) and x30 (the link register, which a call replaces); everything else
//! they touch — x0–x5 — is restored, and they never write NZCV (comparisons are `sub` + `tbnz`
//! and `eor` + `cbnz`). A pass-through call runs the relocated original with every register as
//! the caller set it.

use super::super::thread::{
    ENTRY_SIZE, OFF_CUR, OFF_DEPTH, OFF_DEPTH_LIMIT, OFF_END, OFF_ENTRIES, RECORD_SIZE,
};

std::arch::global_asm!(
    ".pushsection .text.scope_a64_stub,\"ax\",@progbits",
    ".p2align 3",
    ".globl scope_a64_stub",
    ".hidden scope_a64_stub",
    "scope_a64_stub:",
    // ---- args (TimingWithArgs hooks enter here): the trampoline returns to go on, or to pass
    "stp x16, x30, [sp, #-16]!",
    "ldr x16, .Llit_hook",
    "ldr x17, .Llit_args",
    "blr x17",
    "ldp x16, x30, [sp], #16",
    // ---- enter ----
    ".globl scope_a64_stub_enter",
    ".hidden scope_a64_stub_enter",
    "scope_a64_stub_enter:",
    "stp x0, x1, [sp, #-16]!",
    "mrs x16, tpidr_el0",
    "ldr x17, .Llit_tls",
    "ldr x16, [x16, x17]",
    "cbz x16, .Lenter_slow",
    "ldr x17, [x16, #{depth}]",
    "ldr x0, [x16, #{limit}]",
    "sub x0, x0, x17",
    "sub x0, x0, #1",
    "tbnz x0, #63, .Lenter_slow", // depth >= limit
    "add x0, x17, #{entry}",
    "str x0, [x16, #{depth}]",
    "add x16, x16, x17",
    "add x0, sp, #16",
    "stp x30, x0, [x16, #{entries}]",
    "ldr x0, .Llit_word",
    "mrs x1, cntvct_el0",
    "stp x0, x1, [x16, #{entries} + 16]",
    "ldp x0, x1, [sp], #16",
    "ldr x17, .Llit_relocated",
    "blr x17",
    // ---- leave ----
    ".globl scope_a64_stub_leave",
    ".hidden scope_a64_stub_leave",
    "scope_a64_stub_leave:",
    "stp x0, x1, [sp, #-48]!",
    "stp x2, x3, [sp, #16]",
    "stp x4, x5, [sp, #32]",
    "mrs x2, cntvct_el0",
    "mrs x16, tpidr_el0",
    "ldr x17, .Llit_tls",
    "ldr x16, [x16, x17]",
    "ldr x17, [x16, #{depth}]",
    "sub x17, x17, #{entry}",
    "add x3, x16, x17",
    "ldr x0, [x3, #{entries} + 8]",
    "add x1, sp, #48",
    "eor x0, x0, x1",
    "cbnz x0, .Lleave_slow", // not this frame's entry (or no entry at all)
    "ldr x1, [x16, #{end}]",
    "add x30, x16, #{cur}",
    "1:",
    "ldxr x0, [x30]",
    "sub x4, x0, x1",
    "tbz x4, #63, .Lleave_slow_clrex", // cur >= end: full
    "add x4, x0, #{record}",
    "stxr w5, x4, [x30]",
    "cbnz w5, 1b",
    "ldp x4, x5, [x3, #{entries} + 16]", // word, t_enter
    "stp x5, x2, [x0]",
    "add x0, x0, #16",
    "stlr x4, [x0]",
    "ldr x30, [x3, #{entries}]",
    "str x17, [x16, #{depth}]",
    ".Lrestore:",
    "ldp x2, x3, [sp, #16]",
    "ldp x4, x5, [sp, #32]",
    "ldp x0, x1, [sp], #48",
    "ret",
    // ---- leave slow: x2 = t_exit; the trampoline puts the real return address in x2 ----
    ".Lleave_slow_clrex:",
    "clrex",
    ".Lleave_slow:",
    "stp x16, x30, [sp, #-16]!",
    "ldr x17, .Llit_leave",
    "blr x17",
    "ldp x16, x30, [sp], #16",
    "mov x30, x2",
    "b .Lrestore",
    // ---- enter slow: x16 = hook id; the trampoline returns here to retry, or to pass ----
    ".Lenter_slow:",
    "ldp x0, x1, [sp], #16",
    "stp x16, x30, [sp, #-16]!",
    "ldr x16, .Llit_hook",
    "ldr x17, .Llit_enter",
    "blr x17",
    "ldp x16, x30, [sp], #16",
    "b scope_a64_stub_enter",
    ".globl scope_a64_stub_pass",
    ".hidden scope_a64_stub_pass",
    "scope_a64_stub_pass:",
    "ldp x16, x30, [sp], #16",
    "ldr x17, .Llit_relocated",
    "br x17",
    // ---- special hooks (unwinder entry points): the trampoline, then the original ----
    ".globl scope_a64_stub_special",
    ".hidden scope_a64_stub_special",
    "scope_a64_stub_special:",
    "stp x16, x30, [sp, #-16]!",
    "ldr x16, .Llit_hook",
    "ldr x17, .Llit_enter",
    "blr x17",
    "ldp x16, x30, [sp], #16",
    "ldr x17, .Llit_relocated",
    "br x17",
    // ---- the literal pool, filled in per copy (see `Lit`) ----
    ".p2align 3",
    ".globl scope_a64_stub_lits",
    ".hidden scope_a64_stub_lits",
    "scope_a64_stub_lits:",
    ".Llit_hook: .quad 0",
    ".Llit_word: .quad 0",
    ".Llit_tls: .quad 0",
    ".Llit_relocated: .quad 0",
    ".Llit_enter: .quad 0",
    ".Llit_leave: .quad 0",
    ".Llit_args: .quad 0",
    ".globl scope_a64_stub_end",
    ".hidden scope_a64_stub_end",
    "scope_a64_stub_end:",
    ".popsection",
    depth = const OFF_DEPTH,
    limit = const OFF_DEPTH_LIMIT,
    cur = const OFF_CUR,
    end = const OFF_END,
    entries = const OFF_ENTRIES,
    entry = const ENTRY_SIZE,
    record = const RECORD_SIZE,
);

extern "C" {
    static scope_a64_stub: u8;
    static scope_a64_stub_enter: u8;
    static scope_a64_stub_leave: u8;
    static scope_a64_stub_pass: u8;
    static scope_a64_stub_special: u8;
    static scope_a64_stub_lits: u8;
    static scope_a64_stub_end: u8;
}

/// The template's bytes and the offsets of its labels.
struct Template {
    bytes: &'static [u8],
    enter: usize,
    leave: usize,
    pass: usize,
    special: usize,
    lits: usize,
}

fn template() -> Template {
    // SAFETY: the symbols are labels of the template above, in this object's text, in order;
    // only their addresses are taken and the bytes between them read.
    unsafe {
        let start = &raw const scope_a64_stub as usize;
        let off = |p: *const u8| p as usize - start;
        let end = off(&raw const scope_a64_stub_end);
        Template {
            bytes: std::slice::from_raw_parts(start as *const u8, end),
            enter: off(&raw const scope_a64_stub_enter),
            leave: off(&raw const scope_a64_stub_leave),
            pass: off(&raw const scope_a64_stub_pass),
            special: off(&raw const scope_a64_stub_special),
            lits: off(&raw const scope_a64_stub_lits),
        }
    }
}

pub struct StubSpec {
    pub hook_id: u32,
    pub region: u32,
    pub tls_offset: u64,
    /// Address of the relocated prologue.
    pub relocated: u64,
    pub enter_trampoline: u64,
    pub leave_trampoline: u64,
    /// `TimingWithArgs` hooks: the trampoline to the args path, run before the enter path.
    pub args_trampoline: Option<u64>,
    /// Unwinder hooks: only the enter trampoline, then the original.
    pub special: bool,
}

pub struct Stub {
    pub code: Vec<u8>,
    /// Where the function's patch branches to.
    pub entry: u64,
    /// Where a pass-through call continues.
    pub pass: u64,
    /// The return address the stub's call sets: the start of the leave path.
    pub leave: u64,
}

/// The stub for placement at `at` (8-byte aligned).
pub fn assemble(spec: &StubSpec, at: u64) -> Stub {
    let t = template();
    let mut code = t.bytes.to_vec();
    let word = u64::from(spec.region) | u64::from(spec.hook_id) << 32;
    let lits = [
        u64::from(spec.hook_id),
        word,
        spec.tls_offset,
        spec.relocated,
        spec.enter_trampoline,
        spec.leave_trampoline,
        spec.args_trampoline.unwrap_or(0),
    ];
    for (k, v) in lits.iter().enumerate() {
        let o = t.lits + 8 * k;
        code[o..o + 8].copy_from_slice(&v.to_le_bytes());
    }
    let entry = if spec.special {
        t.special
    } else if spec.args_trampoline.is_some() {
        0
    } else {
        t.enter
    };
    Stub {
        code,
        entry: at + entry as u64,
        pass: at + t.pass as u64,
        leave: at + t.leave as u64,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn template_labels_are_in_order_and_the_pool_is_aligned() {
        let t = template();
        assert!(0 < t.enter && t.enter < t.leave && t.leave < t.pass && t.pass < t.special);
        assert!(t.special < t.lits && t.lits.is_multiple_of(8));
        assert_eq!(t.bytes.len(), t.lits + 7 * 8);
        let spec = StubSpec {
            hook_id: 5,
            region: 9,
            tls_offset: 0x40,
            relocated: 0x1234,
            enter_trampoline: 1,
            leave_trampoline: 2,
            args_trampoline: None,
            special: false,
        };
        let s = assemble(&spec, 0x10_0000);
        let word = u64::from_le_bytes(s.code[t.lits + 8..t.lits + 16].try_into().unwrap());
        assert_eq!(word, 9 | 5 << 32);
        assert_eq!(s.entry, 0x10_0000 + t.enter as u64);
    }
}
