//! Checking every configured region against the function symbols of the program and its
//! shared libraries before anything runs, so a typo is an error with suggestions, not an empty
//! profile.
//! Invariant: `resolve` succeeds only if every region matches at least one function symbol in
//! at least one object; otherwise it reports every unmatched region at once.

use crate::error::{Fail, Result};
use scope_config::{Config, SymbolName};
use std::path::{Path, PathBuf};

/// One object file and its function symbol names.
pub struct Object {
    pub path: PathBuf,
    pub symbols: Vec<String>,
    /// No `.symtab` of its own (its symbols may come from a separate debug file).
    pub stripped: bool,
    /// Where its separate debug file was looked for, and which was used (stripped objects).
    pub debug: scope_elf::DebugSearch,
}

impl Object {
    /// Reads the function symbols of the ELF at `path` (and, if it is stripped, of its separate
    /// debug file, looked for in `debug_dirs`); `None` if it cannot be read.
    pub fn load(path: PathBuf, bytes: Option<&[u8]>, debug_dirs: &[PathBuf]) -> Option<Object> {
        let owned;
        let bytes = match bytes {
            Some(b) => b,
            None => {
                owned = std::fs::read(&path).ok()?;
                &owned
            }
        };
        let o =
            scope_elf::object_symbols(&path, bytes, debug_dirs, |p| std::fs::read(p).ok()).ok()?;
        let mut symbols: Vec<String> = o.syms.into_iter().map(|s| s.name).collect();
        symbols.sort_unstable();
        symbols.dedup();
        Some(Object {
            path,
            symbols,
            stripped: !o.has_symtab,
            debug: o.debug,
        })
    }

    /// Stripped, and no separate debug file was found: only its exported functions are known.
    pub fn without_symbols(&self) -> bool {
        self.stripped && self.debug.found.is_none()
    }
}

/// What the verbose report says about separate debug files: which were used, which were not
/// and why.
pub fn debug_files(objects: &[Object]) -> Vec<String> {
    objects
        .iter()
        .flat_map(|o| o.debug.report(&o.path))
        .collect()
}

/// A library of the system (its static functions are rarely what a region names): not
/// mentioned when it is stripped.
fn is_system_library(p: &Path) -> bool {
    ["/lib/", "/lib64/", "/usr/lib/", "/usr/lib64/"]
        .iter()
        .any(|d| p.starts_with(d))
}

/// Where one region was found: (object, matching symbols).
#[derive(Debug)]
pub struct Resolved {
    pub region: String,
    pub found: Vec<(PathBuf, Vec<String>)>,
}

/// Matches every region of `config` against `objects` (the program first). `program` names the
/// program in messages.
pub fn resolve(config: &Config, objects: &[Object], program: &str) -> Result<Vec<Resolved>> {
    let names: Vec<Vec<SymbolName>> = objects
        .iter()
        .map(|o| o.symbols.iter().map(|s| SymbolName::new(s)).collect())
        .collect();
    let mut resolved = Vec::new();
    let mut errors = Vec::new();
    for region in &config.regions {
        let mut found = Vec::new();
        for (obj, syms) in objects.iter().zip(&names) {
            let hits: Vec<String> = obj
                .symbols
                .iter()
                .zip(syms)
                .filter(|(_, n)| region.pattern.matches(n))
                .map(|(s, _)| s.clone())
                .collect();
            if !hits.is_empty() {
                found.push((obj.path.clone(), hits));
            }
        }
        if found.is_empty() {
            errors.push(unmatched(config, region, &names, objects, program));
        } else {
            resolved.push(Resolved {
                region: region.name.clone(),
                found,
            });
        }
    }
    errors.extend(unmatched_mpi_calls(config, objects));
    if errors.is_empty() {
        Ok(resolved)
    } else {
        Err(Fail::check(errors.join("\n")))
    }
}

fn unmatched(
    config: &Config,
    region: &scope_config::Region,
    names: &[Vec<SymbolName>],
    objects: &[Object],
    program: &str,
) -> String {
    let suggestions = scope_config::suggest(&region.symbol, names.iter().flatten());
    let mut msg = format!(
        "region '{}' ({}:{}:{}): no function named '{}' in {} or its libraries",
        region.name,
        config.path.display(),
        region.line,
        region.column,
        region.symbol,
        program
    );
    msg.push_str(&stripped_note(objects));
    if !suggestions.is_empty() {
        msg.push_str("; did you mean: ");
        msg.push_str(&suggestions.join(", "));
        msg.push('?');
    }
    msg
}

/// `: PROGRAM is stripped (no symbol table) and no separate debug file was found (looked for
/// …); install its -dbgsym package or rebuild with symbols (only its exported functions were
/// searched)`, for the program (the first object) and every stripped library outside the
/// system's directories; empty when there is none.
fn stripped_note(objects: &[Object]) -> String {
    let bare: Vec<&Object> = objects
        .iter()
        .enumerate()
        .filter(|(i, o)| o.without_symbols() && (*i == 0 || !is_system_library(&o.path)))
        .map(|(_, o)| o)
        .collect();
    if bare.is_empty() {
        return String::new();
    }
    let each: Vec<String> = bare
        .iter()
        .map(|o| {
            format!(
                "{} is stripped (no symbol table) and no separate debug file was found ({})",
                o.path.display(),
                o.debug.looked_for()
            )
        })
        .collect();
    let (its, package) = if bare.len() == 1 {
        ("its", "package")
    } else {
        ("their", "packages")
    };
    format!(
        ": {}; install {its} -dbgsym {package} or rebuild with symbols (only {its} exported \
         functions were searched)",
        each.join("; ")
    )
}

/// `[mpi] calls = [...]`: entries that name no MPI function of the MPI library the program is
/// linked with (nothing to check when it is not linked with one, e.g. Python with mpi4py).
fn unmatched_mpi_calls(config: &Config, objects: &[Object]) -> Vec<String> {
    let scope_config::MpiCalls::Only(list) = &config.mpi_calls else {
        return Vec::new();
    };
    let mpi_names: Vec<&String> = objects
        .iter()
        .filter(|o| {
            scope_config::is_mpi_library(&o.path.file_name().unwrap_or_default().to_string_lossy())
        })
        .flat_map(|o| o.symbols.iter().filter(|s| s.starts_with("MPI_")))
        .collect();
    if mpi_names.is_empty() {
        return Vec::new();
    }
    let names: Vec<SymbolName> = mpi_names.iter().map(|s| SymbolName::new(s)).collect();
    list.iter()
        .filter(|p| !mpi_names.iter().any(|n| p.matches(n)))
        .map(|p| {
            let mut msg = format!(
                "[mpi] calls ({}:{}:{}): no MPI function named '{}' in the program's MPI library",
                config.path.display(),
                p.line,
                p.column,
                p.text
            );
            let suggestions = scope_config::suggest(&p.text, names.iter());
            if !suggestions.is_empty() {
                msg.push_str("; did you mean: ");
                msg.push_str(&suggestions.join(", "));
                msg.push('?');
            }
            msg
        })
        .collect()
}

/// The verbose report: one line per region and object it resolved to.
pub fn describe(resolved: &[Resolved]) -> Vec<String> {
    let mut lines = Vec::new();
    for r in resolved {
        for (path, syms) in &r.found {
            let shown: Vec<&str> = syms.iter().take(4).map(String::as_str).collect();
            let more = syms.len().saturating_sub(shown.len());
            let extra = if more > 0 {
                format!(" and {more} more")
            } else {
                String::new()
            };
            lines.push(format!(
                "region '{}' -> {} ({}{extra})",
                r.region,
                path.display(),
                shown.join(", ")
            ));
        }
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_ifuncs_in_libm() {
        let o = Object::load(PathBuf::from("/lib/x86_64-linux-gnu/libm.so.6"), None, &[]).unwrap();
        assert!(o.symbols.iter().any(|s| s == "cos"), "{}", o.symbols.len());
    }
}
