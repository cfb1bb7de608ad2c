//! The shared libraries a program will load, for symbol checks and MPI detection: `ldd` first,
//! else a breadth-first walk of `DT_NEEDED` through the usual search path.
//! Invariant: each library appears once, in load order, with an existing path; libraries that
//! cannot be found are left out (the dynamic loader will report them when the program starts).

use scope_elf::ElfInfo;
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Library {
    /// The `DT_NEEDED` name (`libm.so.6`), or the file name where `ldd` gave only a path.
    pub name: String,
    pub path: PathBuf,
}

/// Libraries of `binary`, whose linkage facts are `info`.
pub fn libraries(binary: &Path, info: &ElfInfo) -> Vec<Library> {
    let ldd = Command::new("ldd")
        .arg(binary)
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output();
    if let Ok(out) = ldd {
        if out.status.success() {
            let libs = parse_ldd(&String::from_utf8_lossy(&out.stdout));
            if !libs.is_empty() || info.needed.is_empty() {
                return libs;
            }
        }
    }
    walk_needed(info)
}

/// Parses `ldd` output: `name => /path (0x…)` and `/path (0x…)` lines.
pub fn parse_ldd(text: &str) -> Vec<Library> {
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        let (name, rest) = match line.split_once(" => ") {
            Some((n, r)) => (n.trim().to_string(), r.trim()),
            None => (String::new(), line),
        };
        let path = rest.split(" (0x").next().unwrap_or("").trim();
        if !path.starts_with('/') {
            continue; // `linux-vdso.so.1 (0x…)`, `libx.so => not found`
        }
        let path = PathBuf::from(path);
        let name = if name.is_empty() {
            file_name(&path)
        } else {
            name
        };
        if seen.insert(path.clone()) {
            out.push(Library { name, path });
        }
    }
    out
}

fn file_name(p: &Path) -> String {
    p.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

const SYSTEM_DIRS: [&str; 4] = [
    "/lib/x86_64-linux-gnu",
    "/usr/lib/x86_64-linux-gnu",
    "/lib64",
    "/usr/lib",
];

/// Breadth-first `DT_NEEDED` resolution through `DT_RUNPATH`, `LD_LIBRARY_PATH` and the system
/// directories (an approximation of the loader, used only when `ldd` is unavailable).
fn walk_needed(info: &ElfInfo) -> Vec<Library> {
    let env_dirs: Vec<PathBuf> = std::env::var_os("LD_LIBRARY_PATH")
        .map(|v| std::env::split_paths(&v).collect())
        .unwrap_or_default();
    let mut queue: Vec<(String, Vec<String>)> = info
        .needed
        .iter()
        .map(|n| (n.clone(), info.runpath.clone()))
        .collect();
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    let mut i = 0;
    while i < queue.len() {
        let (name, runpath) = queue[i].clone();
        i += 1;
        if !seen.insert(name.clone()) {
            continue;
        }
        let dirs = runpath
            .iter()
            .map(PathBuf::from)
            .chain(env_dirs.iter().cloned())
            .chain(SYSTEM_DIRS.iter().map(PathBuf::from));
        let Some(path) = dirs.map(|d| d.join(&name)).find(|p| p.is_file()) else {
            continue;
        };
        if let Ok(sub) = std::fs::read(&path)
            .map_err(|_| ())
            .and_then(|b| scope_elf::info(&b).map_err(|_| ()))
        {
            queue.extend(sub.needed.into_iter().map(|n| (n, sub.runpath.clone())));
        }
        out.push(Library { name, path });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_ldd_lines() {
        let text = "\tlinux-vdso.so.1 (0x00007ffd)\n\
                    \tlibm.so.6 => /lib/x86_64-linux-gnu/libm.so.6 (0x00007f1)\n\
                    \tlibgone.so => not found\n\
                    \t/lib64/ld-linux-x86-64.so.2 (0x00007f2)\n";
        let libs = parse_ldd(text);
        assert_eq!(libs.len(), 2);
        assert_eq!(libs[0].name, "libm.so.6");
        assert_eq!(
            libs[0].path,
            PathBuf::from("/lib/x86_64-linux-gnu/libm.so.6")
        );
        assert_eq!(libs[1].name, "ld-linux-x86-64.so.2");
    }

    #[test]
    fn walks_needed_of_sh() {
        let sh = std::fs::canonicalize("/bin/sh").unwrap();
        let info = scope_elf::info(&std::fs::read(&sh).unwrap()).unwrap();
        let libs = walk_needed(&info);
        assert!(
            libs.iter().any(|l| l.name.starts_with("libc.so")),
            "{libs:?}"
        );
        assert_eq!(
            libraries(&sh, &info)
                .iter()
                .filter(|l| l.name.starts_with("libc.so"))
                .count(),
            1
        );
    }
}
