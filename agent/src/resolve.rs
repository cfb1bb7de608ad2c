//! Finding the configured regions in the running process: every loaded object (main
//! executable and shared libraries, from `dl_iterate_phdr`), its `.symtab` and `.dynsym` read
//! from the file on disk, load bias applied, IFUNCs resolved to their implementation.
//!
//! Invariants: each address is hooked at most once (aliases such as `MPI_Send`/`PMPI_Send`
//! share one hook; the first region listed wins); only addresses inside an executable segment
//! of their object are returned; the agent itself, the dynamic loader and the vDSO are skipped.

use crate::engine::{Kind, Target, BEGIN_CATCH, UNWIND_STARTS};
use scope_config::{Config, SymbolName};
use std::collections::{HashMap, HashSet};
use std::ffi::{CStr, CString};

struct Object {
    path: String,
    base: u64,
    exec: Vec<(u64, u64)>,
}

pub struct Resolution {
    pub targets: Vec<Target>,
    /// Region names indexed by region id.
    pub regions: Vec<String>,
    /// Config regions (symbol text) that matched nothing in this process.
    pub unmatched: Vec<String>,
}

fn loaded_objects() -> Vec<Object> {
    unsafe extern "C" fn cb(
        info: *mut libc::dl_phdr_info,
        _size: usize,
        data: *mut libc::c_void,
    ) -> libc::c_int {
        // SAFETY: the loader passes a valid info struct for the duration of the callback, and
        // `data` is the Vec we passed in.
        let (info, out) = unsafe { (&*info, &mut *(data as *mut Vec<Object>)) };
        let name = if info.dlpi_name.is_null() {
            String::new()
        } else {
            // SAFETY: dlpi_name is a NUL-terminated string owned by the loader.
            unsafe { CStr::from_ptr(info.dlpi_name) }
                .to_string_lossy()
                .into_owned()
        };
        let mut exec = Vec::new();
        for i in 0..info.dlpi_phnum as usize {
            // SAFETY: dlpi_phdr points to dlpi_phnum program headers.
            let ph = unsafe { &*info.dlpi_phdr.add(i) };
            if ph.p_type == libc::PT_LOAD && ph.p_flags & libc::PF_X != 0 {
                let start = info.dlpi_addr + ph.p_vaddr;
                exec.push((start, start + ph.p_memsz));
            }
        }
        out.push(Object {
            path: name,
            base: info.dlpi_addr,
            exec,
        });
        0
    }
    let mut objs: Vec<Object> = Vec::new();
    // SAFETY: the callback only reads the info it is given and pushes into `objs`.
    unsafe { libc::dl_iterate_phdr(Some(cb), &mut objs as *mut Vec<Object> as *mut libc::c_void) };
    objs
}

fn own_path() -> Option<String> {
    let mut info: libc::Dl_info = unsafe { std::mem::zeroed() };
    // SAFETY: dladdr on the address of one of our own functions.
    let ok = unsafe { libc::dladdr(own_path as *const libc::c_void, &mut info) };
    if ok == 0 || info.dli_fname.is_null() {
        return None;
    }
    // SAFETY: NUL-terminated string owned by the loader.
    Some(
        unsafe { CStr::from_ptr(info.dli_fname) }
            .to_string_lossy()
            .into_owned(),
    )
}

fn skipped(path: &str, own: &Option<String>) -> bool {
    path.contains("linux-vdso")
        || path.contains("/ld-linux")
        || path.contains("ld64.so")
        || own.as_deref() == Some(path)
}

/// The implementation an IFUNC of `object` resolves to. Looked up through a handle to that
/// object: `RTLD_DEFAULT` could return a non-PIE executable's canonical PLT entry instead.
fn ifunc_target(object: &str, name: &str) -> Option<u64> {
    let c = CString::new(name).ok()?;
    let path = CString::new(object).ok()?;
    // SAFETY: RTLD_NOLOAD only returns a handle to an object that is already loaded.
    let h = unsafe { libc::dlopen(path.as_ptr(), libc::RTLD_NOLOAD | libc::RTLD_LAZY) };
    if h.is_null() {
        return None;
    }
    // SAFETY: valid handle and C string; for an IFUNC dlsym returns the resolved implementation.
    let p = unsafe { libc::dlsym(h, c.as_ptr()) };
    // SAFETY: balances the dlopen above; the object stays loaded.
    unsafe { libc::dlclose(h) };
    (!p.is_null()).then_some(p as u64)
}

/// The gap between the end of the previous function and `value` (at most 64 bytes), from
/// the sorted function ends of the object. The engine uses it only if it holds NOP/INT3.
fn padding_before(ends: &[u64], value: u64) -> Option<(u64, u64)> {
    let i = ends.partition_point(|&e| e <= value);
    let prev = *ends[..i].last()?;
    let gap = value - prev;
    (5..=64).contains(&gap).then_some((prev, gap))
}

/// The unwinder entry points that get a special hook, if `name` is one.
fn special_kind(name: &str) -> Option<Kind> {
    if UNWIND_STARTS.contains(&name) {
        Some(Kind::UnwindStart)
    } else if name == BEGIN_CATCH {
        Some(Kind::BeginCatch)
    } else {
        None
    }
}

fn is_glob(text: &str) -> bool {
    text.contains('*') || text.contains('?')
}

/// Resolves every region of `cfg` in the current process.
pub fn resolve(cfg: &Config) -> Resolution {
    let own = own_path();
    let mut targets: Vec<Target> = Vec::new();
    let mut hooked: HashSet<u64> = HashSet::new();
    let mut regions: Vec<String> = cfg.regions.iter().map(|r| r.name.clone()).collect();
    let mut glob_region: HashMap<String, u32> = HashMap::new();
    let mut matched = vec![false; cfg.regions.len()];
    let mut specials: Vec<Target> = Vec::new();
    for obj in loaded_objects() {
        if skipped(&obj.path, &own) {
            continue;
        }
        let file = if obj.path.is_empty() {
            "/proc/self/exe".to_string()
        } else {
            obj.path.clone()
        };
        let Ok(bytes) = std::fs::read(&file) else {
            continue;
        };
        let Ok(syms) = scope_elf::function_symbols(&bytes) else {
            continue;
        };
        let mut ends: Vec<u64> = syms
            .iter()
            .filter(|s| s.size > 0)
            .map(|s| s.value + s.size)
            .collect();
        ends.sort_unstable();
        for s in syms {
            if let Some(kind) = special_kind(&s.name) {
                let address = obj.base + s.value;
                if s.kind == scope_elf::FuncKind::Func && !hooked.contains(&address) {
                    hooked.insert(address);
                    specials.push(Target {
                        address,
                        size: s.size,
                        region: 0,
                        kind,
                        pad: None,
                        label: format!("{} in {file}", s.name),
                    });
                }
                continue;
            }
            let name = SymbolName::new(&s.name);
            for (ri, r) in cfg.regions.iter().enumerate() {
                if !r.pattern.matches(&name) {
                    continue;
                }
                matched[ri] = true;
                let address = match s.kind {
                    scope_elf::FuncKind::Func => obj.base + s.value,
                    scope_elf::FuncKind::Ifunc => match ifunc_target(&obj.path, &s.name) {
                        Some(a) => a,
                        None => {
                            crate::log::error(&format!(
                                "region '{}': cannot resolve IFUNC {} in {file}",
                                r.name, s.name
                            ));
                            continue;
                        }
                    },
                };
                let size = if s.kind == scope_elf::FuncKind::Ifunc {
                    0
                } else {
                    s.size
                };
                let pad = match s.kind {
                    scope_elf::FuncKind::Func => {
                        padding_before(&ends, s.value).map(|(a, n)| (obj.base + a, n))
                    }
                    scope_elf::FuncKind::Ifunc => None,
                };
                let in_object = obj.exec.iter().any(|&(a, b)| address >= a && address < b);
                if !in_object && s.kind == scope_elf::FuncKind::Func {
                    continue;
                }
                if hooked.contains(&address) {
                    break;
                }
                let region = if is_glob(&r.symbol) && r.name == r.symbol {
                    let label = name.demangled.clone().unwrap_or_else(|| s.name.clone());
                    *glob_region.entry(label.clone()).or_insert_with(|| {
                        regions.push(label);
                        (regions.len() - 1) as u32
                    })
                } else {
                    ri as u32
                };
                hooked.insert(address);
                targets.push(Target {
                    address,
                    size,
                    region,
                    kind: Kind::Timing,
                    pad,
                    label: format!(
                        "{} ({} in {})",
                        r.name,
                        s.name,
                        if obj.path.is_empty() {
                            "the executable"
                        } else {
                            &obj.path
                        }
                    ),
                });
                break;
            }
        }
    }
    // Unwinding support is needed only where something is timed.
    if !targets.is_empty() {
        targets.extend(specials);
    }
    let unmatched = cfg
        .regions
        .iter()
        .zip(&matched)
        .filter(|(_, m)| !**m)
        .map(|(r, _)| r.symbol.clone())
        .collect();
    Resolution {
        targets,
        regions,
        unmatched,
    }
}
