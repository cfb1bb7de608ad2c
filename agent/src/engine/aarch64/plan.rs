//! One target's hook, built for aarch64: decide the window, reserve a hook id, place the
//! relocated prologue and the stub in an arena within `b` reach (±128 MiB) — or anywhere, with
//! the 16-byte far patch, when no memory is free nearby — and prepare the entry patch.
//!
//! Invariant: nothing is written into the program's code here; the arena is written (and its
//! caches synchronised) but not yet reachable (the patch is written by `attach` after the hook
//! is published).

use super::super::arena::{self, Arena};
use super::super::hooks::{self, Kind};
use super::super::target::{Planned, Target};
use super::prologue::{self, Reach};
use super::{bti, patch, stub, tls, trampoline};

/// How far an arena may lie from its functions for the 4-byte `b`: inside its ±128 MiB.
const NEAR: u64 = 120 << 20;
/// The far patch reaches anywhere; the arena search still starts near the function.
const FAR: u64 = 1 << 46;

/// `SCOPE_AARCH64_FAR=1`: every hook uses the far patch (the 16-byte form and its longer
/// relocated window), as it would with no memory free near the program: how the tests run
/// that path, which a normal process layout never takes.
fn far_forced() -> bool {
    static FORCED: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *FORCED.get_or_init(|| std::env::var_os("SCOPE_AARCH64_FAR").is_some_and(|v| v == "1"))
}

pub fn plan(t: &Target, arenas: &mut Vec<Arena>) -> Result<Planned, String> {
    let readable = if t.size > 0 {
        t.size.min(1 << 20) as usize
    } else {
        64
    };
    // SAFETY: the address and size come from the symbol table of an object mapped in this
    // process; function bytes lie in its mapped, readable text segment.
    let code = unsafe { std::slice::from_raw_parts(t.address as *const u8, readable) };
    let size = if t.size > 0 { t.size } else { 0 };
    // Worst case: every window instruction grows to 3 plus a literal, then the stub.
    let need = 5 * 4 * 4 + 64 + 512;
    let (idx, reach) = match arenas.iter().position(|a| a.fits(t.address, need)) {
        Some(i) if far_forced() => (i, Reach::Far),
        None if far_forced() => {
            arenas.push(arena::arena_near(t.address, FAR)?);
            (arenas.len() - 1, Reach::Far)
        }
        Some(i) => (i, reach_of(&arenas[i], t.address, need)),
        None => match arena::arena_near(t.address, NEAR) {
            Ok(a) => {
                arenas.push(a);
                (arenas.len() - 1, Reach::Near)
            }
            Err(_) => {
                arenas.push(arena::arena_near(t.address, FAR)?);
                (arenas.len() - 1, Reach::Far)
            }
        },
    };
    let guarded = bti::guarded(t.address);
    if guarded && reach == Reach::Far {
        return Err("the function's pages are BTI-guarded and no memory is free within direct branch reach for its stub".into());
    }
    let pro = prologue::analyse(t.address, code, size, reach)?;
    for &(addr, fsize) in &t.fragments {
        // SAFETY: the fragment is a function symbol of the same mapped object.
        let frag =
            unsafe { std::slice::from_raw_parts(addr as *const u8, fsize.min(1 << 20) as usize) };
        prologue::check_back_edges(addr, frag, &pro).map_err(|e| format!("its cold part: {e}"))?;
    }
    let hook_id = hooks::reserve().ok_or("too many hooks")?;
    let arena = &mut arenas[idx];
    let reloc_at = arena.cursor();
    let reloc = prologue::relocate(&pro, reloc_at, guarded)?;
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
        special: matches!(t.kind, Kind::UnwindStart | Kind::BeginCatch),
    };
    let s = stub::assemble(&spec, stub_at);
    arena.push(&s.code);
    patch::sync_caches(reloc_at, stub_at + s.code.len() as u64);
    let entry_patch = patch::entry_bytes(pro.patch_at, pro.landing, s.entry, reach == Reach::Far)
        .ok_or("the stub is out of the patch's reach")?;
    Ok(Planned {
        hook_id,
        address: t.address,
        original: reloc_at,
        kind: t.kind,
        region: t.region,
        args_reader: t.args_reader,
        pass: s.pass,
        leave: s.leave,
        before: None,
        patch_at: pro.patch_at,
        entry_patch,
    })
}

/// The patch an existing arena allows for a function at `address`.
fn reach_of(a: &Arena, address: u64, need: usize) -> Reach {
    let end = a.cursor() + need as u64;
    if a.base.abs_diff(address) < NEAR && end.abs_diff(address) < NEAR {
        Reach::Near
    } else {
        Reach::Far
    }
}
