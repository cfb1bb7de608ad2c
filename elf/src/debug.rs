//! Separate debug files, found as gdb and perf find them: for an object without a `.symtab`
//! (a stripped executable or library), its function symbols are read from the `.symtab` of its
//! debug file, which `objcopy --only-keep-debug` (or a distribution's `-dbgsym`/`-debuginfo`
//! package) made from the same link, so its symbol values are the object's own link-time
//! addresses.
//!
//! Where a debug file is looked for, in order (the first that passes every check is used):
//! 1. by build id (`.note.gnu.build-id`): `<debugdir>/.build-id/<first byte>/<rest>.debug`, for
//!    every debug directory; the file's own build id must be the same;
//! 2. by `.gnu_debuglink` (a file name and the CRC-32 of that file): in the object's directory,
//!    its `.debug/` subdirectory, and `<debugdir>/<the object's directory>/`; the file's CRC-32
//!    must be the recorded one.
//!
//! The debug directories are `/usr/lib/debug`, or the `:`-separated list the caller passes
//! (the launcher and the agent take it from `SCOPE_DEBUG_DIR`).
//!
//! Every candidate must also be an ELF file for the same machine with a symbol table, and
//! every function it defines under the name of one of the object's exported (`.dynsym`)
//! functions must be at the same address there: a debug file of another build is rejected
//! with the reason, never used.
//!
//! Invariant: reading files goes only through the caller's `open` (the agent maps them, the
//! launcher reads them); nothing else here touches the file system except resolving the
//! object's directory to its canonical form.

use crate::{collect, parse, ElfError, FuncSym};
use goblin::container::{Container, Ctx, Endian};
use goblin::elf::header::Header;
use goblin::elf::section_header::{SectionHeader, SHT_NOBITS, SHT_NOTE, SHT_SYMTAB};
use goblin::elf::sym::Symtab;
use goblin::elf::Elf;
use goblin::strtab::Strtab;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// The debug directory when none is configured (as gdb's `debug-file-directory`).
pub const DEFAULT_DEBUG_DIR: &str = "/usr/lib/debug";

/// The debug directories from a `:`-separated list (empty entries ignored); `None` or an empty
/// list: [`DEFAULT_DEBUG_DIR`].
pub fn debug_dirs(value: Option<&std::ffi::OsStr>) -> Vec<PathBuf> {
    let dirs: Vec<PathBuf> = value
        .map(|v| {
            std::env::split_paths(v)
                .filter(|p| !p.as_os_str().is_empty())
                .collect()
        })
        .unwrap_or_default();
    if dirs.is_empty() {
        vec![PathBuf::from(DEFAULT_DEBUG_DIR)]
    } else {
        dirs
    }
}

/// The CRC-32 that `.gnu_debuglink` records (`gnu_debuglink_crc32`: zlib's CRC-32).
pub fn crc32(bytes: &[u8]) -> u32 {
    crc32fast::hash(bytes)
}

/// The section table of an ELF image, read without the dynamic segment (which a debug file
/// keeps the program headers of, but not the contents).
struct Sections<'a> {
    bytes: &'a [u8],
    headers: Vec<SectionHeader>,
    names: Strtab<'a>,
    machine: u16,
    ctx: Ctx,
}

impl<'a> Sections<'a> {
    fn read(bytes: &'a [u8]) -> Result<Sections<'a>, ElfError> {
        let header: Header =
            Elf::parse_header(bytes).map_err(|e| ElfError::NotElf(e.to_string()))?;
        if header.e_ident[goblin::elf::header::EI_CLASS] != goblin::elf::header::ELFCLASS64
            || header.e_ident[goblin::elf::header::EI_DATA] != goblin::elf::header::ELFDATA2LSB
        {
            return Err(ElfError::Unsupported(
                "only 64-bit little-endian ELF".into(),
            ));
        }
        let ctx = Ctx::new(Container::Big, Endian::Little);
        let headers =
            SectionHeader::parse(bytes, header.e_shoff as usize, header.e_shnum as usize, ctx)
                .map_err(|e| ElfError::NotElf(e.to_string()))?;
        let names = headers
            .get(header.e_shstrndx as usize)
            .and_then(|sh| Strtab::parse(bytes, sh.sh_offset as usize, sh.sh_size as usize, 0).ok())
            .unwrap_or_default();
        Ok(Sections {
            bytes,
            headers,
            names,
            machine: header.e_machine,
            ctx,
        })
    }

    /// The contents of a section that has some in the file.
    fn data(&self, sh: &SectionHeader) -> Option<&'a [u8]> {
        if sh.sh_type == SHT_NOBITS {
            return None;
        }
        let start = sh.sh_offset as usize;
        self.bytes
            .get(start..start.checked_add(sh.sh_size as usize)?)
    }

    fn named(&self, name: &str) -> Option<&SectionHeader> {
        self.headers
            .iter()
            .find(|sh| self.names.get_at(sh.sh_name) == Some(name))
    }

    /// `.note.gnu.build-id`'s descriptor (any `NT_GNU_BUILD_ID` note of a note section).
    fn build_id(&self) -> Option<Vec<u8>> {
        for sh in self.headers.iter().filter(|sh| sh.sh_type == SHT_NOTE) {
            let Some(mut d) = self.data(sh) else { continue };
            // Elf64_Nhdr: namesz, descsz, type (4 bytes each), name and desc padded to 4.
            while d.len() >= 12 {
                let word = |i: usize| u32::from_le_bytes([d[i], d[i + 1], d[i + 2], d[i + 3]]);
                let (namesz, descsz, kind) = (word(0) as usize, word(4) as usize, word(8));
                let name_end = 12 + namesz.div_ceil(4) * 4;
                let desc_end = name_end + descsz.div_ceil(4) * 4;
                if desc_end > d.len() {
                    break;
                }
                if kind == 3 && &d[12..12 + namesz] == b"GNU\0" && descsz > 0 {
                    return Some(d[name_end..name_end + descsz].to_vec());
                }
                d = &d[desc_end..];
            }
        }
        None
    }

    /// `.gnu_debuglink`: the debug file's name (NUL-terminated, padded to 4) and its CRC-32.
    fn debuglink(&self) -> Option<DebugLink> {
        let d = self.data(self.named(".gnu_debuglink")?)?;
        let nul = d.iter().position(|&b| b == 0)?;
        let name = std::str::from_utf8(&d[..nul]).ok()?;
        let at = (nul + 1).div_ceil(4) * 4;
        let crc = d.get(at..at + 4)?;
        (!name.is_empty() && !name.contains('/')).then(|| DebugLink {
            name: name.to_string(),
            crc: u32::from_le_bytes([crc[0], crc[1], crc[2], crc[3]]),
        })
    }

    /// The `.symtab` and its string table, if the file has one with contents.
    fn symtab(&self) -> Option<(Symtab<'a>, Strtab<'a>)> {
        let sh = self.headers.iter().rfind(|sh| sh.sh_type == SHT_SYMTAB)?;
        self.data(sh)?;
        let count = sh.sh_size.checked_div(sh.sh_entsize)? as usize;
        let syms = Symtab::parse(self.bytes, sh.sh_offset as usize, count, self.ctx).ok()?;
        let strings = self.headers.get(sh.sh_link as usize)?;
        self.data(strings)?;
        let strtab = Strtab::parse(
            self.bytes,
            strings.sh_offset as usize,
            strings.sh_size as usize,
            0,
        )
        .ok()?;
        (!syms.is_empty()).then_some((syms, strtab))
    }
}

/// An object's `.gnu_debuglink`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DebugLink {
    /// The debug file's name (no directory).
    pub name: String,
    /// The CRC-32 of the whole debug file.
    pub crc: u32,
}

/// The build id of the ELF image in `bytes`, if it has one.
pub fn build_id(bytes: &[u8]) -> Option<Vec<u8>> {
    Sections::read(bytes).ok()?.build_id()
}

/// The `.gnu_debuglink` of the ELF image in `bytes`, if it has one.
pub fn debuglink(bytes: &[u8]) -> Option<DebugLink> {
    Sections::read(bytes).ok()?.debuglink()
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Where a debug file was looked for, and what was found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DebugSearch {
    /// The object's build id (hex), if it has one.
    pub build_id: Option<String>,
    /// The file name its `.gnu_debuglink` names, if it has one.
    pub debuglink: Option<String>,
    /// Every path tried, in order.
    pub tried: Vec<PathBuf>,
    /// Files that exist but were not used, and why.
    pub rejected: Vec<(PathBuf, String)>,
    /// The debug file whose symbols were used.
    pub found: Option<PathBuf>,
}

impl DebugSearch {
    /// What was looked for, for a message that says none was found: `looked for
    /// /usr/lib/debug/.build-id/ab/cdef….debug and the .gnu_debuglink file prog.debug`, then
    /// any file rejected with its reason.
    pub fn looked_for(&self) -> String {
        let mut parts = Vec::new();
        if let Some(id) = &self.build_id {
            if let Some(p) = self.tried.iter().find(|p| {
                p.to_string_lossy()
                    .ends_with(&format!("/{}.debug", &id[2.min(id.len())..]))
            }) {
                parts.push(p.display().to_string());
            }
        }
        if let Some(name) = &self.debuglink {
            parts.push(format!("the .gnu_debuglink file {name}"));
        }
        let mut s = if parts.is_empty() {
            "it has neither a build id nor a .gnu_debuglink to find one by".to_string()
        } else {
            format!("looked for {}", parts.join(" and "))
        };
        for (p, why) in &self.rejected {
            s.push_str(&format!("; {} does not belong to it: {why}", p.display()));
        }
        s
    }

    /// What a verbose log says of the search for `object`'s debug file: each candidate not
    /// used and why, then the one whose symbols were used (nothing when none was looked for).
    pub fn report(&self, object: &Path) -> Vec<String> {
        let o = object.display();
        let mut lines: Vec<String> = self
            .rejected
            .iter()
            .map(|(p, why)| {
                format!(
                    "{o} is stripped; its debug file candidate {} was not used: {why}",
                    p.display()
                )
            })
            .collect();
        if let Some(f) = &self.found {
            lines.push(format!(
                "{o} is stripped; its symbols come from its debug file {}",
                f.display()
            ));
        }
        lines
    }
}

/// An object's function symbols, with those of its debug file when it has no `.symtab`.
#[derive(Debug, Clone)]
pub struct ObjectSymbols {
    /// As [`crate::function_symbols`]: the debug file's `.symtab` (if used), the object's
    /// `.symtab`, then its `.dynsym`.
    pub syms: Vec<FuncSym>,
    /// The object has a `.symtab` of its own (no debug file was looked for).
    pub has_symtab: bool,
    /// The search for a debug file (empty when the object has a `.symtab`).
    pub debug: DebugSearch,
}

enum Check {
    BuildId,
    Crc(u32),
}

/// The function symbols of the object at `object` (whose contents are `bytes`): its own, and,
/// if it has no `.symtab`, those of its separate debug file, looked for in `dirs` (see the
/// module documentation); `open` reads a candidate file (`None`: it does not exist or cannot be
/// read).
pub fn object_symbols<B: AsRef<[u8]>>(
    object: &Path,
    bytes: &[u8],
    dirs: &[PathBuf],
    mut open: impl FnMut(&Path) -> Option<B>,
) -> Result<ObjectSymbols, ElfError> {
    let elf = parse(bytes)?;
    let own = [
        (&elf.syms, &elf.strtab, false),
        (&elf.dynsyms, &elf.dynstrtab, true),
    ];
    if !elf.syms.is_empty() {
        return Ok(ObjectSymbols {
            syms: collect(&own),
            has_symtab: true,
            debug: DebugSearch::default(),
        });
    }
    let sections = Sections::read(bytes)?;
    let id = sections.build_id();
    let link = sections.debuglink();
    let mut search = DebugSearch {
        build_id: id.as_ref().map(|b| hex(b)),
        debuglink: link.as_ref().map(|l| l.name.clone()),
        ..DebugSearch::default()
    };
    let mut candidates: Vec<(PathBuf, Check)> = Vec::new();
    if let Some(h) = search.build_id.as_deref().filter(|h| h.len() > 2) {
        for d in dirs {
            let p = d
                .join(".build-id")
                .join(&h[..2])
                .join(format!("{}.debug", &h[2..]));
            candidates.push((p, Check::BuildId));
        }
    }
    if let Some(l) = &link {
        let mut objdirs: Vec<PathBuf> =
            object.parent().map(Path::to_path_buf).into_iter().collect();
        if let Ok(real) = std::fs::canonicalize(object) {
            if let Some(d) = real.parent() {
                if !objdirs.iter().any(|o| o == d) {
                    objdirs.push(d.to_path_buf());
                }
            }
        }
        for od in &objdirs {
            candidates.push((od.join(&l.name), Check::Crc(l.crc)));
            candidates.push((od.join(".debug").join(&l.name), Check::Crc(l.crc)));
        }
        for d in dirs {
            for od in objdirs.iter().filter(|o| o.is_absolute()) {
                let rel = od.strip_prefix("/").unwrap_or(od);
                candidates.push((d.join(rel).join(&l.name), Check::Crc(l.crc)));
            }
        }
    }
    let exported: HashMap<&str, u64> = {
        let mut m: HashMap<&str, Option<u64>> = HashMap::new();
        for s in elf
            .dynsyms
            .iter()
            .filter(|s| s.st_shndx != 0 && s.st_value != 0)
        {
            if let Some(n) = elf.dynstrtab.get_at(s.st_name).filter(|n| !n.is_empty()) {
                let e = m.entry(n).or_insert(Some(s.st_value));
                if *e != Some(s.st_value) {
                    *e = None; // versioned duplicates at several addresses: not compared
                }
            }
        }
        m.into_iter().filter_map(|(k, v)| Some((k, v?))).collect()
    };
    let self_real = std::fs::canonicalize(object).ok();
    let mut seen = std::collections::HashSet::new();
    for (path, check) in candidates {
        if !seen.insert(path.clone()) {
            continue;
        }
        search.tried.push(path.clone());
        if self_real.is_some() && std::fs::canonicalize(&path).ok() == self_real {
            continue; // the debuglink names the object itself
        }
        let Some(data) = open(&path) else { continue };
        let d = data.as_ref();
        let verdict = (|| -> Result<Vec<FuncSym>, String> {
            let ds = Sections::read(d).map_err(|e| e.to_string())?;
            if ds.machine != elf.header.e_machine {
                return Err(format!(
                    "it is for {}, not {}",
                    crate::Machine::of(ds.machine).name(),
                    crate::Machine::of(elf.header.e_machine).name()
                ));
            }
            let their = ds.build_id();
            match (&check, &id, &their) {
                (Check::BuildId, _, None) => return Err("it has no build id".into()),
                (_, Some(a), Some(b)) if a != b => {
                    return Err(format!("build id {} instead of {}", hex(b), hex(a)))
                }
                _ => {}
            }
            if let Check::Crc(want) = check {
                let got = crc32(d);
                if got != want {
                    return Err(format!(
                        "CRC mismatch: its CRC-32 is {got:08x}, the .gnu_debuglink of {} says {want:08x}",
                        object.display()
                    ));
                }
            }
            let (syms, strtab) = ds.symtab().ok_or("it has no symbol table")?;
            let from_debug = collect(&[(&syms, &strtab, false)]);
            for s in &from_debug {
                if let Some(&v) = exported.get(s.name.as_str()) {
                    if v != s.value {
                        return Err(format!(
                            "its {} is at {:#x}, the object's at {v:#x} (another build)",
                            s.name, s.value
                        ));
                    }
                }
            }
            Ok(collect(&[
                (&syms, &strtab, false),
                (&elf.syms, &elf.strtab, false),
                (&elf.dynsyms, &elf.dynstrtab, true),
            ]))
        })();
        match verdict {
            Ok(syms) => {
                search.found = Some(path);
                return Ok(ObjectSymbols {
                    syms,
                    has_symtab: false,
                    debug: search,
                });
            }
            Err(why) => search.rejected.push((path, why)),
        }
    }
    Ok(ObjectSymbols {
        syms: collect(&own),
        has_symtab: false,
        debug: search,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc32_is_zlibs() {
        assert_eq!(crc32(b""), 0);
        assert_eq!(crc32(b"123456789"), 0xcbf4_3926);
    }

    #[test]
    fn debug_dirs_default_and_list() {
        assert_eq!(debug_dirs(None), vec![PathBuf::from("/usr/lib/debug")]);
        assert_eq!(
            debug_dirs(Some("".as_ref())),
            vec![PathBuf::from("/usr/lib/debug")]
        );
        assert_eq!(
            debug_dirs(Some("/a::/b".as_ref())),
            vec![PathBuf::from("/a"), PathBuf::from("/b")]
        );
    }

    #[test]
    fn own_test_binary_has_a_symtab() {
        let exe = std::env::current_exe().unwrap();
        let bytes = std::fs::read(&exe).unwrap();
        let o = object_symbols(&exe, &bytes, &[], |_| None::<Vec<u8>>).unwrap();
        assert!(o.has_symtab && o.debug.tried.is_empty());
        assert!(o.syms.iter().any(|s| s.name == "main"));
    }

    /// `dbgprog.c` built with `-g` into a fresh directory, and a runner of tools there.
    fn build(tag: &str) -> (PathBuf, impl Fn(&str, &[&str])) {
        let dir = std::env::temp_dir().join(format!("scope-elf-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/debug");
        let d = dir.clone();
        let run = move |tool: &str, args: &[&str]| {
            let st = std::process::Command::new(tool)
                .args(args)
                .current_dir(&d)
                .status()
                .unwrap_or_else(|e| panic!("{tool}: {e}"));
            assert!(st.success(), "{tool} {args:?}");
        };
        let lib = src.join("libdbg.c");
        let prog = src.join("dbgprog.c");
        run(
            "cc",
            &[
                "-O2",
                "-g",
                "-shared",
                "-fPIC",
                lib.to_str().unwrap(),
                "-o",
                "libdbg.so",
            ],
        );
        run(
            "cc",
            &[
                "-O2",
                "-g",
                "-Wl,--build-id",
                prog.to_str().unwrap(),
                "-o",
                "prog",
                "-L.",
                "-ldbg",
            ],
        );
        (dir, run)
    }

    fn read(p: &Path) -> Option<Vec<u8>> {
        std::fs::read(p).ok()
    }

    fn symbols(dir: &Path, dirs: &[PathBuf]) -> ObjectSymbols {
        let prog = dir.join("prog");
        object_symbols(&prog, &std::fs::read(&prog).unwrap(), dirs, read).unwrap()
    }

    fn value(o: &ObjectSymbols, name: &str) -> Option<u64> {
        o.syms.iter().find(|s| s.name == name).map(|s| s.value)
    }

    #[test]
    fn debuglink_and_build_id_files_give_the_stripped_objects_addresses() {
        let (dir, run) = build("found");
        let full = symbols(&dir, &[]);
        assert!(full.has_symtab);
        let want = value(&full, "solve_step").expect("static solve_step in .symtab");
        let qs = value(&full, "qs_energies").unwrap();

        run("objcopy", &["--only-keep-debug", "prog", "prog.debug"]);
        run("strip", &["--strip-all", "prog"]);
        let stripped = symbols(&dir, &[dir.join("none")]);
        assert!(!stripped.has_symtab && stripped.debug.found.is_none());
        assert_eq!(value(&stripped, "solve_step"), None);
        assert!(stripped.debug.debuglink.is_none());
        let id = stripped.debug.build_id.clone().expect("a build id");
        let by_id = dir
            .join("none/.build-id")
            .join(&id[..2])
            .join(format!("{}.debug", &id[2..]));
        assert_eq!(stripped.debug.tried, vec![by_id.clone()]);
        assert_eq!(
            stripped.debug.looked_for(),
            format!("looked for {}", by_id.display())
        );

        // By build id, under a debug directory.
        let dbg = dir.join("dbg");
        let id_dir = dbg.join(".build-id").join(&id[..2]);
        std::fs::create_dir_all(&id_dir).unwrap();
        std::fs::copy(
            dir.join("prog.debug"),
            id_dir.join(format!("{}.debug", &id[2..])),
        )
        .unwrap();
        let o = symbols(&dir, std::slice::from_ref(&dbg));
        assert_eq!(
            o.debug.found.as_deref(),
            Some(id_dir.join(format!("{}.debug", &id[2..])).as_path())
        );
        assert_eq!(value(&o, "solve_step"), Some(want));
        assert_eq!(value(&o, "qs_energies"), Some(qs));
        std::fs::remove_dir_all(&dbg).unwrap();

        // By .gnu_debuglink, beside the object and in .debug/.
        run("objcopy", &["--add-gnu-debuglink=prog.debug", "prog"]);
        let o = symbols(&dir, std::slice::from_ref(&dbg));
        assert_eq!(o.debug.debuglink.as_deref(), Some("prog.debug"));
        assert_eq!(
            o.debug.found.as_deref(),
            Some(dir.join("prog.debug").as_path())
        );
        assert_eq!(value(&o, "solve_step"), Some(want));
        std::fs::create_dir_all(dir.join(".debug")).unwrap();
        std::fs::rename(dir.join("prog.debug"), dir.join(".debug/prog.debug")).unwrap();
        let o = symbols(&dir, std::slice::from_ref(&dbg));
        assert_eq!(
            o.debug.found.as_deref(),
            Some(dir.join(".debug/prog.debug").as_path())
        );
        // And under <debugdir>/<the object's directory>/.
        let global = dbg.join(dir.strip_prefix("/").unwrap());
        std::fs::create_dir_all(&global).unwrap();
        std::fs::rename(dir.join(".debug/prog.debug"), global.join("prog.debug")).unwrap();
        let o = symbols(&dir, std::slice::from_ref(&dbg));
        assert_eq!(
            o.debug.found.as_deref(),
            Some(global.join("prog.debug").as_path())
        );
        assert_eq!(value(&o, "qs_energies"), Some(qs));

        // A debug file that is not the one linked: CRC mismatch, rejected with the reason.
        let mut bytes = std::fs::read(global.join("prog.debug")).unwrap();
        bytes.push(0);
        std::fs::write(global.join("prog.debug"), &bytes).unwrap();
        let o = symbols(&dir, std::slice::from_ref(&dbg));
        assert!(o.debug.found.is_none());
        assert_eq!(value(&o, "solve_step"), None);
        assert_eq!(o.debug.rejected.len(), 1, "{:?}", o.debug);
        assert!(
            o.debug.rejected[0]
                .1
                .starts_with("CRC mismatch: its CRC-32 is "),
            "{:?}",
            o.debug
        );
        let looked = o.debug.looked_for();
        assert!(
            looked.contains(" and the .gnu_debuglink file prog.debug; "),
            "{looked}"
        );
        assert!(
            looked.contains("prog.debug does not belong to it: CRC mismatch"),
            "{looked}"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_debug_file_of_another_build_is_rejected() {
        let (dir, run) = build("other");
        // Two builds without build ids, their functions at other addresses: the debug file of
        // the first, linked to the second (the CRC matches: only the addresses can tell).
        let prog = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/debug/dbgprog.c");
        let prog = prog.to_str().unwrap();
        let flags = [
            "-g",
            "-rdynamic",
            "-Wl,--build-id=none",
            prog,
            "-o",
            "prog",
            "-L.",
            "-ldbg",
        ];
        run("cc", &[&["-O2"][..], &flags].concat());
        run("objcopy", &["--only-keep-debug", "prog", "prog.debug"]);
        run("cc", &[&["-O0"][..], &flags].concat());
        run("strip", &["--strip-all", "prog"]);
        run("objcopy", &["--add-gnu-debuglink=prog.debug", "prog"]);
        let o = symbols(&dir, &[dir.join("none")]);
        assert!(o.debug.found.is_none(), "{:?}", o.debug);
        let why = &o.debug.rejected.first().expect("rejected").1;
        assert!(
            why.starts_with("its ") && why.ends_with(" (another build)"),
            "{why}"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
