//! Writing into code that is mapped read+execute, and making new code visible to the
//! instruction fetch (aarch64 has no coherent I-cache).
//!
//! Writes go through a brief `mprotect` (read+write+execute, then back to read+execute, with
//! `PROT_BTI` kept where the object is guarded): other
//! threads may execute elsewhere in the same page meanwhile. `/proc/self/mem` is not used
//! here: under qemu-user it would bypass the emulator's detection of modified code.
//!
//! Invariants: called only while no thread can execute the bytes written (see
//! `engine/attach.rs`), except that a single aligned 4-byte `b` may replace an instruction at
//! any time (the architecture lets a `b` be concurrently modified); the caches are
//! synchronised after every write, before the new code can be reached.

use super::{bti, insn};

pub fn write_code(addr: u64, bytes: &[u8]) -> Result<(), String> {
    let page = 4096u64;
    let start = addr & !(page - 1);
    let end = (addr + bytes.len() as u64 + page - 1) & !(page - 1);
    let len = (end - start) as usize;
    // Guarded pages stay guarded (`mprotect` replaces the whole protection, PROT_BTI included).
    let guard = if bti::guarded(addr) { bti::PROT_BTI } else { 0 };
    let rwx = libc::PROT_READ | libc::PROT_WRITE | libc::PROT_EXEC | guard;
    // SAFETY: the range covers mapped code pages of a function resolved from the loaded
    // objects; they are restored to read+execute right after the copy.
    unsafe {
        if libc::mprotect(start as *mut _, len, rwx) != 0 {
            return Err(format!(
                "mprotect at {addr:#x}: {}",
                std::io::Error::last_os_error()
            ));
        }
        if addr.is_multiple_of(4) && bytes.len().is_multiple_of(4) {
            // Word by word, so each instruction changes in one single-copy-atomic store.
            for (k, w) in bytes.chunks_exact(4).enumerate() {
                let w = u32::from_le_bytes([w[0], w[1], w[2], w[3]]);
                let p = (addr + 4 * k as u64) as *mut u32;
                std::ptr::write_volatile(p, w);
            }
        } else {
            std::ptr::copy_nonoverlapping(bytes.as_ptr(), addr as *mut u8, bytes.len());
        }
        libc::mprotect(
            start as *mut _,
            len,
            libc::PROT_READ | libc::PROT_EXEC | guard,
        );
    }
    sync_caches(addr, addr + bytes.len() as u64);
    Ok(())
}

/// Cleans the data cache and invalidates the instruction cache over `[start, end)` to the
/// point of unification, then synchronises the pipeline (the Arm ARM's sequence for
/// self-modifying code, with line sizes from `CTR_EL0`).
pub fn sync_caches(start: u64, end: u64) {
    let ctr: u64;
    // SAFETY: CTR_EL0 is readable at EL0 on Linux (or trapped and emulated by the kernel).
    unsafe {
        std::arch::asm!("mrs {}, ctr_el0", out(reg) ctr, options(nomem, nostack, preserves_flags))
    };
    let dline = 4u64 << ((ctr >> 16) & 15);
    let iline = 4u64 << (ctr & 15);
    let mut a = start & !(dline - 1);
    while a < end {
        // SAFETY: cache maintenance by address on memory this process maps; no data changes.
        unsafe { std::arch::asm!("dc cvau, {}", in(reg) a, options(nostack, preserves_flags)) };
        a += dline;
    }
    // SAFETY: barriers only.
    unsafe { std::arch::asm!("dsb ish", options(nostack, preserves_flags)) };
    let mut a = start & !(iline - 1);
    while a < end {
        // SAFETY: as above.
        unsafe { std::arch::asm!("ic ivau, {}", in(reg) a, options(nostack, preserves_flags)) };
        a += iline;
    }
    // SAFETY: barriers only.
    unsafe { std::arch::asm!("dsb ish", "isb", options(nostack, preserves_flags)) };
}

/// The entry patch: the landing pad kept (if any), then `b stub`, or the far form
/// `ldr x16, #8; br x16; .quad stub`.
pub fn entry_bytes(at: u64, landing: Option<u32>, stub: u64, far: bool) -> Option<Vec<u8>> {
    let mut words = Vec::new();
    let mut pc = at;
    if let Some(pad) = landing {
        words.push(pad);
        pc += 4;
    }
    if far {
        words.push(insn::ldr_x_literal(pc, 16, pc + 8)?);
        words.push(insn::br(16));
        words.push(stub as u32);
        words.push((stub >> 32) as u32);
    } else {
        words.push(insn::b(pc, stub)?);
    }
    Some(words.iter().flat_map(|w| w.to_le_bytes()).collect())
}
