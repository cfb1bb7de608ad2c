//! One target's hook, built for x86-64: analyse the prologue, reserve a hook id, place the
//! relocated prologue and the stub in an arena within rel32 reach, and prepare the entry
//! patch (a 5-byte `jmp`, or a 2-byte `jmp` to a springboard in the padding before the
//! function when the first 5 bytes hold a call).
//!
//! Invariant: nothing is written into the program's code here; the arena is written but not
//! yet reachable (the patch is written by `attach` after the hook is published).

use super::super::arena::{self, Arena};
use super::super::hooks::{self, Kind};
use super::super::target::{Planned, Target};
use super::{patch, prologue, stub, tls, trampoline};

/// How far an arena may lie from its functions: well inside rel32 reach, leaving room for the
/// function's own rip-relative data.
const REACH: u64 = 1 << 30;

pub fn plan(t: &Target, arenas: &mut Vec<Arena>) -> Result<Planned, String> {
    let readable = if t.size > 0 {
        t.size.min(1 << 20) as usize
    } else {
        32
    };
    // SAFETY: the address and size come from the symbol table of an object mapped in this
    // process; function bytes lie in its mapped, readable text segment.
    let code = unsafe { std::slice::from_raw_parts(t.address as *const u8, readable.max(16)) };
    if code[0] == 0xE9 || code[0] == 0xEB || (code[0] == 0xFF && code[1] == 0x25) {
        // Might be another patcher's jump: only accept it when the symbol is that small thunk.
        if t.size == 0 || t.size > 8 {
            return Err(
                "the function already starts with a jump (another tool may have patched it)".into(),
            );
        }
    }
    let pad = t.pad.map(|(start, len)| prologue::Padding {
        start,
        // SAFETY: the padding lies between two functions of the same mapped text segment.
        bytes: unsafe { std::slice::from_raw_parts(start as *const u8, len as usize) },
    });
    let pro = prologue::analyse(t.address, code, t.size, pad)?;
    for &(addr, size) in &t.fragments {
        // SAFETY: the fragment is a function symbol of the same mapped object.
        let frag =
            unsafe { std::slice::from_raw_parts(addr as *const u8, size.min(1 << 20) as usize) };
        prologue::check_fragment(&pro, addr, frag)?;
    }
    let hook_id = hooks::reserve().ok_or("too many hooks")?;
    // Worst case sizes: relocated window + jmp (each instruction may grow) and the stub.
    let need = pro.len * 4 + 32 + 320;
    let idx = match arenas.iter().position(|a| a.fits(t.address, need)) {
        Some(i) => i,
        None => {
            arenas.push(arena::arena_near(t.address, REACH)?);
            arenas.len() - 1
        }
    };
    let arena = &mut arenas[idx];
    let reloc_at = arena.cursor();
    let reloc = prologue::relocate(&pro, reloc_at)?;
    arena.push(&reloc);
    let stub_at = arena.cursor();
    let spec = stub::StubSpec {
        hook_id,
        region: t.region,
        tls_offset: tls::offset(),
        relocated: reloc_at,
        enter_trampoline: trampoline::enter_trampoline(),
        leave_trampoline: trampoline::leave_trampoline(),
        args_trampoline: (t.kind == Kind::TimingWithArgs).then(trampoline::args_trampoline),
    };
    let s = match t.kind {
        Kind::Timing | Kind::TimingWithArgs => stub::assemble(&spec, stub_at),
        _ => stub::assemble_special(&spec, stub_at),
    }
    .map_err(|e| format!("assembling the stub: {e}"))?;
    arena.push(&s.code);
    let (before, entry_patch) = match pro.springboard {
        None => (
            None,
            patch::jmp_bytes(pro.patch_at, stub_at, pro.len).ok_or("stub out of rel32 reach")?,
        ),
        Some(b) => (
            Some((
                b,
                patch::jmp_bytes(b, stub_at, 5).ok_or("stub out of rel32 reach")?,
            )),
            patch::short_jmp_bytes(pro.patch_at, b, pro.len)
                .ok_or("springboard out of rel8 reach")?,
        ),
    };
    Ok(Planned {
        hook_id,
        address: t.address,
        original: reloc_at,
        kind: t.kind,
        region: t.region,
        args_reader: t.args_reader,
        pass: s.pass,
        leave: s.leave,
        before,
        patch_at: pro.patch_at,
        entry_patch,
    })
}
