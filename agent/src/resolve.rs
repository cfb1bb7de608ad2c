//! Finding the configured regions in the running process: every loaded object (main
//! executable and shared libraries, from `dl_iterate_phdr`), its `.symtab` and `.dynsym` read
//! from the file on disk (a stripped object's `.symtab` from its separate debug file, found as
//! gdb does: `scope_elf::debug`), load bias applied, IFUNCs resolved to their implementation. The
//! `Resolver` is incremental: objects `dlopen`ed later are resolved when they appear.
//!
//! Invariants: each address is hooked at most once (aliases such as `MPI_Send`/`PMPI_Send`
//! share one hook); a function matched by several regions records each call under every one
//! of them (its hook carries a region-set id, expanded by the recorder); only addresses inside
//! an executable segment of their object are returned; the agent itself, the dynamic loader
//! and the vDSO are skipped.

use crate::engine::{Kind, Target, BEGIN_CATCH, UNWIND_STARTS};
use crate::recorder::REGION_SET;
use scope_config::{Config, SymbolName};
use std::collections::{HashMap, HashSet};
use std::ffi::CStr;

/// What has been resolved so far in this process.
pub struct Resolver {
    own: Option<String>,
    /// Objects already scanned, by (path, load base).
    seen: HashSet<(String, u64)>,
    /// Hooked addresses, and which object each came from.
    hooked: HashSet<u64>,
    hooked_in: HashMap<(String, u64), Vec<u64>>,
    /// Region names indexed by region id.
    pub regions: Vec<String>,
    /// Region sets: a hook whose region id has `REGION_SET` set records into all of these.
    pub sets: Vec<Vec<u32>>,
    glob_region: HashMap<String, u32>,
    matched: Vec<bool>,
    /// Timing hooks handed out so far.
    timed: usize,
    /// Unwinder hooks found but not yet needed (nothing timed yet).
    pending_specials: Vec<Target>,
    /// `[mpi] calls`: region id by MPI function name.
    mpi_region: HashMap<String, u32>,
    /// Where separate debug files are looked for (`SCOPE_DEBUG_DIR`).
    debug_dirs: Vec<std::path::PathBuf>,
}

fn own_path() -> Option<String> {
    // SAFETY: Dl_info is plain data; all-zero is a valid value for dladdr to fill.
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

/// The implementation an IFUNC of `object` resolves to. A library's is looked up through a
/// handle to that library (`RTLD_DEFAULT` could return a non-PIE executable's canonical PLT
/// entry instead); the executable's own (often not exported) is resolved by calling its
/// resolver, as the dynamic linker does.
fn ifunc_target(object: &str, name: &str, resolver: u64) -> Option<u64> {
    if object.is_empty() {
        type Resolver = unsafe extern "C" fn() -> *const libc::c_void;
        // SAFETY: `resolver` is the st_value (load bias applied) of an STT_GNU_IFUNC symbol of
        // the executable: a resolver function taking no arguments the program relies on.
        let f: Resolver = unsafe { std::mem::transmute::<u64, Resolver>(resolver) };
        // SAFETY: calling the resolver is what the dynamic linker already did for this symbol.
        let p = unsafe { f() };
        return (!p.is_null()).then_some(p as u64);
    }
    crate::base::loaded::symbol_in(object, name).map(|p| p as u64)
}

/// The gap between the end of the previous function and `value` (5 to 64 bytes), from the
/// sorted function ends of the object. The engine uses it only if it holds NOP/INT3.
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

impl Resolver {
    pub fn new(cfg: &Config) -> Resolver {
        Resolver {
            own: own_path(),
            seen: HashSet::new(),
            hooked: HashSet::new(),
            hooked_in: HashMap::new(),
            regions: cfg.regions.iter().map(|r| r.name.clone()).collect(),
            sets: Vec::new(),
            glob_region: HashMap::new(),
            matched: vec![false; cfg.regions.len()],
            timed: 0,
            pending_specials: Vec::new(),
            mpi_region: HashMap::new(),
            debug_dirs: scope_elf::debug::debug_dirs(
                std::env::var_os(scope_config::env::DEBUG_DIR).as_deref(),
            ),
        }
    }

    /// The MPI call regions (`[mpi] calls`): id, and whether their calls' arguments are read
    /// (an args record per call; else the call has no payload and no peer).
    pub fn mpi_regions(&self) -> Vec<(u32, bool)> {
        self.mpi_region
            .iter()
            .map(|(name, &id)| {
                (
                    id,
                    crate::mpi::calls::decoder_for(name) != crate::engine::NO_ARGS,
                )
            })
            .collect()
    }

    /// Config regions (symbol text) that matched nothing so far.
    pub fn unmatched(&self, cfg: &Config) -> Vec<String> {
        cfg.regions
            .iter()
            .zip(&self.matched)
            .filter(|(_, m)| !**m)
            .map(|(r, _)| r.symbol.clone())
            .collect()
    }

    /// Forgets objects that are no longer loaded (after `dlclose`), so that a later `dlopen`
    /// of the same library, possibly at the same address, is resolved again.
    pub fn forget_unloaded(&mut self) {
        let live: HashSet<(String, u64)> = crate::base::loaded::objects()
            .into_iter()
            .map(|o| (o.path, o.base))
            .collect();
        let gone: Vec<(String, u64)> = self.seen.difference(&live).cloned().collect();
        for g in gone {
            for a in self.hooked_in.remove(&g).unwrap_or_default() {
                self.hooked.remove(&a);
            }
            self.seen.remove(&g);
        }
    }

    /// Resolves the regions in every loaded object not seen before.
    pub fn resolve_new(&mut self, cfg: &Config) -> Vec<Target> {
        let mut targets: Vec<Target> = Vec::new();
        let mut specials: Vec<Target> = Vec::new();
        let mut index: HashMap<u64, usize> = HashMap::new();
        for obj in crate::base::loaded::objects() {
            if skipped(&obj.path, &self.own) || !self.seen.insert((obj.path.clone(), obj.base)) {
                continue;
            }
            let (t0, s0) = (targets.len(), specials.len());
            self.scan(cfg, &obj, &mut targets, &mut specials, &mut index);
            let mine: Vec<u64> = targets[t0..]
                .iter()
                .chain(&specials[s0..])
                .map(|t| t.address)
                .collect();
            self.hooked_in.insert((obj.path.clone(), obj.base), mine);
        }
        self.timed += targets.len();
        self.pending_specials.extend(specials);
        if self.timed > 0 {
            targets.append(&mut self.pending_specials);
        }
        targets
    }

    fn scan(
        &mut self,
        cfg: &Config,
        obj: &crate::base::loaded::Object,
        targets: &mut Vec<Target>,
        specials: &mut Vec<Target>,
        index: &mut HashMap<u64, usize>,
    ) {
        let file = if obj.path.is_empty() {
            "/proc/self/exe".to_string()
        } else {
            obj.path.clone()
        };
        let Some(mapped) = crate::base::mapped::Mapped::open(std::path::Path::new(&file)) else {
            return;
        };
        // The executable's debug file is looked for beside the file it was run from.
        let real = if obj.path.is_empty() {
            std::fs::read_link(&file).unwrap_or_else(|_| file.clone().into())
        } else {
            std::path::PathBuf::from(&file)
        };
        let Ok(found) = scope_elf::object_symbols(&real, mapped.bytes(), &self.debug_dirs, |p| {
            crate::base::mapped::Mapped::open(p)
        }) else {
            return;
        };
        for line in found.debug.report(&real) {
            crate::base::log::info(&line);
        }
        let from_debug_file = found.debug.found.is_some();
        let syms = found.syms;
        // Cold fragments (`foo.cold`, `foo.cold.3`) by the name of their function.
        let mut cold: HashMap<String, Vec<(u64, u64)>> = HashMap::new();
        for s in syms.iter().filter(|s| s.size > 0) {
            if let Some(i) = s.name.find(".cold") {
                cold.entry(s.name[..i].to_string())
                    .or_default()
                    .push((obj.base + s.value, s.size));
            }
        }
        let mut ends: Vec<u64> = syms
            .iter()
            .filter(|s| s.size > 0)
            .map(|s| s.value + s.size)
            .collect();
        ends.sort_unstable();
        let where_ = if obj.path.is_empty() {
            "the executable".to_string()
        } else {
            obj.path.clone()
        };
        for s in &syms {
            if let Some(kind) = special_kind(&s.name) {
                let address = obj.base + s.value;
                // From a debug file, only the unwinder's exported entry points: a stripped
                // library's private copy (libc's own `_Unwind_Resume`, visible through
                // libc6-dbg) is not the one the program throws through. (An executable with a
                // statically linked unwinder keeps its local ones in its own `.symtab`.)
                let usable = s.exported || !from_debug_file;
                if s.kind == scope_elf::FuncKind::Func && usable && self.hooked.insert(address) {
                    specials.push(Target {
                        address,
                        size: s.size,
                        region: 0,
                        kind,
                        pad: None,
                        fragments: Vec::new(),
                        label: format!("{} in {where_}", s.name),
                        args_reader: 0,
                    });
                }
                continue;
            }
            let name = SymbolName::new(&s.name);
            for (ri, r) in cfg.regions.iter().enumerate() {
                if !r.pattern.matches(&name) {
                    continue;
                }
                self.matched[ri] = true;
                let address = match s.kind {
                    scope_elf::FuncKind::Func => obj.base + s.value,
                    scope_elf::FuncKind::Ifunc => {
                        match ifunc_target(&obj.path, &s.name, obj.base + s.value) {
                            Some(a) => a,
                            None => {
                                crate::base::log::error(&format!(
                                    "region '{}': cannot resolve IFUNC {} in {file}",
                                    r.name, s.name
                                ));
                                continue;
                            }
                        }
                    }
                };
                if s.kind == scope_elf::FuncKind::Func
                    && !obj.exec.iter().any(|&(a, b)| address >= a && address < b)
                {
                    continue;
                }
                let region = if is_glob(&r.symbol) && r.name == r.symbol {
                    let label = name.demangled.clone().unwrap_or_else(|| s.name.clone());
                    let regions = &mut self.regions;
                    *self.glob_region.entry(label.clone()).or_insert_with(|| {
                        regions.push(label);
                        (regions.len() - 1) as u32
                    })
                } else {
                    ri as u32
                };
                let (size, pad) = match s.kind {
                    scope_elf::FuncKind::Func => (
                        s.size,
                        padding_before(&ends, s.value).map(|(a, n)| (obj.base + a, n)),
                    ),
                    scope_elf::FuncKind::Ifunc => (0, None),
                };
                let target = Target {
                    address,
                    size,
                    region,
                    kind: Kind::Timing,
                    pad,
                    fragments: cold.get(s.name.as_str()).cloned().unwrap_or_default(),
                    label: format!("{} ({} in {where_})", r.name, s.name),
                    args_reader: 0,
                };
                self.place(target, targets, index);
            }
        }
        if cfg.mpi_calls.is_on() && crate::mpi::find::is_mpi_object(&obj.path) {
            let c = |name: &str| {
                name.starts_with("MPI_")
                    .then(|| (name.to_string(), crate::mpi::calls::decoder_for(name)))
            };
            self.scan_mpi_calls(cfg, obj, &syms, &ends, targets, index, c);
        }
        if cfg.mpi_calls.is_on() && crate::mpi::find::is_fortran_mpi_object(&obj.path) {
            let fortran = |name: &str| {
                let c = crate::mpi::calls::fortran_name(name)?;
                let decoder = crate::mpi::calls::fortran_decoder_for(&c);
                Some((c, decoder))
            };
            self.scan_mpi_calls(cfg, obj, &syms, &ends, targets, index, fortran);
        }
    }

    /// `[mpi] calls`: every wanted MPI function of a loaded MPI library, hooked as an
    /// `TimingWithArgs` under a region named after it. `call` gives the C name and decoder of a
    /// symbol that is an MPI call: the `MPI_*` functions of the C library (its `PMPI_*` alias is
    /// the same function), or the entry points of a Fortran binding (`mpi_send_`,
    /// `mpi_send_f08_`, ...: the same region as the C call, which they call nested inside).
    #[allow(clippy::too_many_arguments)]
    fn scan_mpi_calls(
        &mut self,
        cfg: &Config,
        obj: &crate::base::loaded::Object,
        syms: &[scope_elf::FuncSym],
        ends: &[u64],
        targets: &mut Vec<Target>,
        index: &mut HashMap<u64, usize>,
        call: impl Fn(&str) -> Option<(String, u16)>,
    ) {
        let mut calls: Vec<(u64, String, u16, &scope_elf::FuncSym)> = syms
            .iter()
            .filter(|s| s.kind == scope_elf::FuncKind::Func)
            .filter_map(|s| {
                let (name, decoder) = call(&s.name)?;
                (!crate::mpi::calls::never_recorded(&name) && cfg.mpi_calls.wants(&name))
                    .then_some((s.value, name, decoder, s))
            })
            .collect();
        // One hook per function: its aliases (`mpi_send_`, `MPI_SEND`, ...) are one address.
        calls.sort_by(|a, b| (a.0, &a.1, &a.3.name).cmp(&(b.0, &b.1, &b.3.name)));
        calls.dedup_by(|a, b| a.0 == b.0 && a.1 == b.1);
        for (value, name, decoder, s) in calls {
            let address = obj.base + value;
            if !obj.exec.iter().any(|&(a, b)| address >= a && address < b) {
                continue;
            }
            let region = {
                let regions = &mut self.regions;
                *self.mpi_region.entry(name.clone()).or_insert_with(|| {
                    regions.push(name.clone());
                    (regions.len() - 1) as u32
                })
            };
            let target = Target {
                address,
                size: s.size,
                region,
                kind: Kind::TimingWithArgs,
                pad: padding_before(ends, value).map(|(a, n)| (obj.base + a, n)),
                fragments: Vec::new(),
                label: format!("{} (in {})", s.name, obj.path),
                args_reader: decoder,
            };
            self.place(target, targets, index);
        }
    }

    /// Adds `t` to this batch's targets. A function that is already one records into both
    /// regions (and keeps an MPI call's arguments); one hooked by an earlier batch (another
    /// object's alias) is left alone.
    fn place(&mut self, t: Target, targets: &mut Vec<Target>, index: &mut HashMap<u64, usize>) {
        if let Some(&i) = index.get(&t.address) {
            targets[i].region = self.add_to_set(targets[i].region, t.region);
            if t.kind == Kind::TimingWithArgs {
                targets[i].kind = Kind::TimingWithArgs;
                targets[i].args_reader = t.args_reader;
            }
            return;
        }
        if self.hooked.insert(t.address) {
            index.insert(t.address, targets.len());
            targets.push(t);
        }
    }

    /// The region-set id recording into everything `current` records into, plus `region`.
    fn add_to_set(&mut self, current: u32, region: u32) -> u32 {
        let mut members = if current & REGION_SET != 0 {
            self.sets[(current & !REGION_SET) as usize].clone()
        } else {
            vec![current]
        };
        if members.contains(&region) {
            return current;
        }
        members.push(region);
        if let Some(i) = self.sets.iter().position(|s| *s == members) {
            return REGION_SET | i as u32;
        }
        self.sets.push(members);
        REGION_SET | (self.sets.len() - 1) as u32
    }
}
