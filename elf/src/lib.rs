//! What scope reads from an ELF file, for the launcher (checking a config before anything runs)
//! and the agent (resolving regions in the loaded objects). Parsing, no process state; the
//! search for a stripped object's separate debug file (`debug`) reads files only through the
//! caller.
//! Invariants: only defined function symbols (`STT_FUNC`, `STT_GNU_IFUNC`) with a non-zero
//! value are returned; a name defined in both `.symtab` and `.dynsym` at the same address is
//! returned once; values are file-relative (`st_value`), the caller adds the load bias (a
//! debug file's values are the same link-time addresses as its object's).

pub mod debug;

pub use debug::{object_symbols, DebugSearch, ObjectSymbols};

use goblin::elf::{header, program_header, sym, Elf};
use goblin::strtab::Strtab;

#[derive(Debug, thiserror::Error)]
pub enum ElfError {
    #[error("not an ELF file: {0}")]
    NotElf(String),
    #[error("unsupported ELF: {0}")]
    Unsupported(String),
}

/// The kind of a function symbol.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FuncKind {
    /// A plain function.
    Func,
    /// A GNU indirect function: `value` is the resolver, not the implementation.
    Ifunc,
}

/// One defined function symbol.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FuncSym {
    pub name: String,
    /// `st_value`: file-relative virtual address.
    pub value: u64,
    /// `st_size` (0 when the producer did not say).
    pub size: u64,
    pub kind: FuncKind,
    /// Found in `.dynsym` (exported) rather than only in `.symtab`.
    pub exported: bool,
    /// `STB_WEAK`.
    pub weak: bool,
}

/// The instruction set of an ELF file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Machine {
    X86_64,
    Aarch64,
    /// Any other `e_machine`.
    Other(u16),
}

impl Machine {
    pub fn of(e_machine: u16) -> Machine {
        match e_machine {
            header::EM_X86_64 => Machine::X86_64,
            header::EM_AARCH64 => Machine::Aarch64,
            m => Machine::Other(m),
        }
    }

    /// The name people use for it.
    pub fn name(self) -> String {
        match self {
            Machine::X86_64 => "x86-64".into(),
            Machine::Aarch64 => "aarch64".into(),
            Machine::Other(m) => format!("ELF machine {m}"),
        }
    }
}

/// Linkage facts about a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ElfInfo {
    /// Has a `PT_INTERP` or `PT_DYNAMIC`: it is dynamically linked (a static-PIE has
    /// `PT_DYNAMIC` but no interpreter; see `has_interp`).
    pub is_dynamic: bool,
    pub has_interp: bool,
    /// `ET_DYN` (PIE executable or shared object).
    pub is_pie_or_shared: bool,
    /// The instruction set (`e_machine`).
    pub machine: Machine,
    /// `DT_NEEDED` entries.
    pub needed: Vec<String>,
    /// `DT_RUNPATH` / `DT_RPATH` entries, split on `:`.
    pub runpath: Vec<String>,
    /// Has a `.symtab` (not stripped).
    pub has_symtab: bool,
}

pub(crate) fn parse(bytes: &[u8]) -> Result<Elf<'_>, ElfError> {
    let elf = Elf::parse(bytes).map_err(|e| ElfError::NotElf(e.to_string()))?;
    if !elf.is_64 || !elf.little_endian {
        return Err(ElfError::Unsupported(
            "only 64-bit little-endian ELF".into(),
        ));
    }
    Ok(elf)
}

/// Linkage facts of the ELF image in `bytes`.
pub fn info(bytes: &[u8]) -> Result<ElfInfo, ElfError> {
    let elf = parse(bytes)?;
    let has_interp = elf
        .program_headers
        .iter()
        .any(|p| p.p_type == program_header::PT_INTERP);
    let has_dynamic = elf
        .program_headers
        .iter()
        .any(|p| p.p_type == program_header::PT_DYNAMIC);
    let mut runpath = Vec::new();
    for rp in elf.runpaths.iter().chain(elf.rpaths.iter()) {
        runpath.extend(rp.split(':').filter(|s| !s.is_empty()).map(str::to_string));
    }
    Ok(ElfInfo {
        is_dynamic: has_interp || (has_dynamic && !elf.libraries.is_empty()),
        has_interp,
        is_pie_or_shared: elf.header.e_type == header::ET_DYN,
        machine: Machine::of(elf.header.e_machine),
        needed: elf.libraries.iter().map(|s| s.to_string()).collect(),
        runpath,
        has_symtab: !elf.syms.is_empty(),
    })
}

/// Defined function symbols of the image in `bytes`, `.symtab` first, then `.dynsym`.
pub fn function_symbols(bytes: &[u8]) -> Result<Vec<FuncSym>, ElfError> {
    let elf = parse(bytes)?;
    Ok(collect(&[
        (&elf.syms, &elf.strtab, false),
        (&elf.dynsyms, &elf.dynstrtab, true),
    ]))
}

/// The defined function symbols of `tables` (symbols, their strings, whether exported), in
/// order; a name at an address already returned is not repeated (an exported one marks it
/// exported).
pub(crate) fn collect(tables: &[(&sym::Symtab<'_>, &Strtab<'_>, bool)]) -> Vec<FuncSym> {
    let mut out: Vec<FuncSym> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for &(table, strings, exported) in tables {
        for s in table.iter() {
            let kind = match s.st_type() {
                sym::STT_FUNC => FuncKind::Func,
                sym::STT_GNU_IFUNC => FuncKind::Ifunc,
                _ => continue,
            };
            if s.st_shndx == 0 || s.st_value == 0 {
                continue; // undefined (imported) or absolute zero
            }
            let Some(name) = strings.get_at(s.st_name) else {
                continue;
            };
            if name.is_empty() {
                continue;
            }
            if !seen.insert((name.to_string(), s.st_value)) {
                if exported {
                    if let Some(f) = out
                        .iter_mut()
                        .find(|f| f.name == name && f.value == s.st_value)
                    {
                        f.exported = true;
                    }
                }
                continue;
            }
            out.push(FuncSym {
                name: name.to_string(),
                value: s.st_value,
                size: s.st_size,
                kind,
                exported,
                weak: s.st_bind() == sym::STB_WEAK,
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn machines_by_name() {
        assert_eq!(Machine::of(header::EM_X86_64).name(), "x86-64");
        assert_eq!(Machine::of(header::EM_AARCH64), Machine::Aarch64);
        assert_eq!(Machine::of(header::EM_AARCH64).name(), "aarch64");
        assert_eq!(Machine::of(header::EM_RISCV).name(), "ELF machine 243");
    }

    #[test]
    fn reads_own_test_binary() {
        let exe = std::env::current_exe().unwrap();
        let bytes = std::fs::read(exe).unwrap();
        let i = info(&bytes).unwrap();
        assert!(i.machine == Machine::X86_64 && i.is_dynamic && i.has_interp);
        assert!(i.needed.iter().any(|n| n.starts_with("libc.so")));
        let syms = function_symbols(&bytes).unwrap();
        assert!(syms
            .iter()
            .any(|s| s.name == "main" && s.kind == FuncKind::Func));
        let libm = std::fs::read("/lib/x86_64-linux-gnu/libm.so.6").unwrap();
        let m = function_symbols(&libm).unwrap();
        let cos = m
            .iter()
            .find(|s| s.name == "cos")
            .expect("libm exports cos");
        assert!(cos.exported);
    }

    #[test]
    fn rejects_non_elf() {
        assert!(info(b"#!/bin/sh\necho hi\n").is_err());
    }
}
