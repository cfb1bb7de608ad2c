//! Whether the code at an address is BTI-guarded: its object carries the
//! `GNU_PROPERTY_AARCH64_FEATURE_1_BTI` property, so the loader mapped its text with
//! `PROT_BTI` (indirect branches must land on `bti`/`paciasp`). The kernel shows the mapping
//! flag only in `/proc/self/smaps` (and qemu-user not at all), so it is read from the object's
//! `PT_GNU_PROPERTY` segment in memory.
//!
//! Invariant: reads only the ELF header, program headers and property note of an object the
//! loader mapped (`dladdr` finds it); anything unexpected reads as "not guarded".

const PT_LOAD: u32 = 1;
const PT_GNU_PROPERTY: u32 = 0x6474_e553;
const NT_GNU_PROPERTY_TYPE_0: u32 = 5;
const GNU_PROPERTY_AARCH64_FEATURE_1_AND: u32 = 0xc000_0000;
const FEATURE_1_BTI: u32 = 1;
/// `PROT_BTI` (asm/mman.h on arm64).
pub const PROT_BTI: i32 = 0x10;

/// True when the object holding `addr` is marked for BTI (and the CPU has it: the loader maps
/// guarded pages only then, and `PROT_BTI` is refused otherwise).
pub fn guarded(addr: u64) -> bool {
    // AT_HWCAP2 bit 17: HWCAP2_BTI.
    // SAFETY: getauxval has no preconditions.
    if unsafe { libc::getauxval(libc::AT_HWCAP2) } & (1 << 17) == 0 {
        return false;
    }
    // SAFETY: `Dl_info` is plain C data (pointers and integers): all zeroes is a valid value.
    let mut info: libc::Dl_info = unsafe { std::mem::zeroed() };
    // SAFETY: dladdr only reads the loader's tables and fills `info`.
    if unsafe { libc::dladdr(addr as *const _, &mut info) } == 0 || info.dli_fbase.is_null() {
        return false;
    }
    // SAFETY: `dli_fbase` is where the loader mapped the object's first page, which holds its
    // ELF header and (for every object ld.so and the kernel load) its program headers.
    unsafe { object_has_bti(info.dli_fbase as u64) }
}

/// # Safety
/// `base` is the mapped start of an ELF object whose program headers are mapped.
unsafe fn object_has_bti(base: u64) -> bool {
    // SAFETY: per the contract, the ELF header is mapped at `base`.
    let eh = unsafe { &*(base as *const libc::Elf64_Ehdr) };
    if &eh.e_ident[..4] != b"\x7fELF" || eh.e_phentsize as usize != size_of::<libc::Elf64_Phdr>() {
        return false;
    }
    // SAFETY: per the contract, the program headers are mapped at `base + e_phoff`.
    let phdrs = unsafe {
        std::slice::from_raw_parts(
            (base + eh.e_phoff) as *const libc::Elf64_Phdr,
            eh.e_phnum as usize,
        )
    };
    let Some(first) = phdrs
        .iter()
        .filter(|p| p.p_type == PT_LOAD)
        .map(|p| p.p_vaddr)
        .min()
    else {
        return false;
    };
    let bias = base.wrapping_sub(first & !0xfff);
    let Some(prop) = phdrs.iter().find(|p| p.p_type == PT_GNU_PROPERTY) else {
        return false;
    };
    let start = bias.wrapping_add(prop.p_vaddr);
    // SAFETY: the segment lies inside the object's first loaded segment (it is part of the
    // read-only headers), mapped by the loader.
    let note = unsafe { std::slice::from_raw_parts(start as *const u8, prop.p_memsz as usize) };
    has_bti(note)
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

/// Walks the notes of a `PT_GNU_PROPERTY` segment for the AArch64 feature property's BTI bit.
fn has_bti(note: &[u8]) -> bool {
    let mut at = 0;
    while at + 12 <= note.len() {
        let (Some(namesz), Some(descsz), Some(kind)) =
            (u32_at(note, at), u32_at(note, at + 4), u32_at(note, at + 8))
        else {
            return false;
        };
        let name_end = at + 12 + (namesz as usize).next_multiple_of(4);
        let desc_end = name_end + (descsz as usize).next_multiple_of(8);
        if kind == NT_GNU_PROPERTY_TYPE_0 && note.get(at + 12..at + 16) == Some(b"GNU\0") {
            let mut p = name_end;
            while p + 8 <= desc_end.min(note.len()) {
                let (Some(ty), Some(sz)) = (u32_at(note, p), u32_at(note, p + 4)) else {
                    return false;
                };
                if ty == GNU_PROPERTY_AARCH64_FEATURE_1_AND && sz >= 4 {
                    return u32_at(note, p + 8).is_some_and(|v| v & FEATURE_1_BTI != 0);
                }
                p += 8 + (sz as usize).next_multiple_of(8);
            }
        }
        at = desc_end;
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_bti_bit_of_a_property_note() {
        let mut note = Vec::new();
        note.extend_from_slice(&4u32.to_le_bytes()); // namesz
        note.extend_from_slice(&16u32.to_le_bytes()); // descsz
        note.extend_from_slice(&5u32.to_le_bytes()); // NT_GNU_PROPERTY_TYPE_0
        note.extend_from_slice(b"GNU\0");
        note.extend_from_slice(&0xc000_0000u32.to_le_bytes());
        note.extend_from_slice(&4u32.to_le_bytes());
        note.extend_from_slice(&3u32.to_le_bytes()); // BTI | PAC
        note.extend_from_slice(&0u32.to_le_bytes());
        assert!(has_bti(&note));
        note[24] = 2; // PAC only
        assert!(!has_bti(&note));
        assert!(!has_bti(&note[..10]));
    }
}
