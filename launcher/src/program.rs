//! Finding the program the user named and the ELF binary that will actually run: the program
//! itself, or for a `#!` script its interpreter (following `/usr/bin/env NAME`).
//! Invariant: a `Program` returned here is an existing, executable, dynamically linked x86-64
//! ELF (`binary`), so the agent can be loaded into it with `LD_PRELOAD`.

use crate::error::{Fail, Result};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// Scripts whose interpreter is itself a script are followed this deep.
const MAX_SHEBANG_DEPTH: usize = 4;

#[derive(Debug, Clone)]
pub struct Program {
    /// What to execute: the user's program, with a PATH search already done.
    pub invoked: PathBuf,
    /// Canonical path of the ELF binary that runs (the interpreter for a script).
    pub binary: PathBuf,
    /// The ELF's bytes, for symbol and linkage checks.
    pub bytes: Vec<u8>,
    pub info: scope_elf::ElfInfo,
}

/// Searches `PATH` for an executable `name`; a name with a `/` is taken as a path.
pub fn which(name: &str) -> Option<PathBuf> {
    if name.contains('/') {
        let p = PathBuf::from(name);
        return is_executable(&p).then_some(p);
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|p| is_executable(p))
}

fn is_executable(p: &Path) -> bool {
    std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// Resolves and checks the program named on the command line.
pub fn resolve(name: &str) -> Result<Program> {
    let invoked = if name.contains('/') {
        let p = PathBuf::from(name);
        if !p.exists() {
            return Err(Fail::check(format!("cannot find program '{name}'")));
        }
        p
    } else {
        which(name).ok_or_else(|| Fail::check(format!("cannot find program '{name}'")))?
    };
    if !is_executable(&invoked) {
        return Err(Fail::check(format!(
            "program '{}' is not an executable file",
            invoked.display()
        )));
    }
    let mut current = invoked.clone();
    for _ in 0..=MAX_SHEBANG_DEPTH {
        let bytes = std::fs::read(&current)
            .map_err(|e| Fail::check(format!("cannot read '{}': {e}", current.display())))?;
        if let Some(interp) = shebang(&bytes) {
            current = resolve_interpreter(&interp, &current)?;
            continue;
        }
        let info = check_elf(&current, &bytes)?;
        let binary = std::fs::canonicalize(&current)
            .map_err(|e| Fail::check(format!("cannot resolve '{}': {e}", current.display())))?;
        return Ok(Program {
            invoked,
            binary,
            bytes,
            info,
        });
    }
    Err(Fail::check(format!(
        "'{name}': too many nested #! interpreters"
    )))
}

fn check_elf(path: &Path, bytes: &[u8]) -> Result<scope_elf::ElfInfo> {
    let shown = path.display();
    if !bytes.starts_with(b"\x7fELF") {
        return Err(Fail::check(format!(
            "{shown} is neither an ELF executable nor a #! script"
        )));
    }
    let info = scope_elf::info(bytes).map_err(|e| {
        Fail::check(format!(
            "{shown}: {e}; scope supports x86-64 and aarch64 Linux programs"
        ))
    })?;
    if let scope_elf::Machine::Other(_) = info.machine {
        return Err(Fail::check(format!(
            "{shown} is an {} program; scope supports x86-64 and aarch64 Linux programs",
            info.machine.name()
        )));
    }
    if !info.has_interp {
        return Err(Fail::check(format!(
            "{shown} is statically linked; the agent is loaded with LD_PRELOAD and cannot \
             enter a static program. Relink it dynamically."
        )));
    }
    Ok(info)
}

/// The interpreter command of a `#!` line: the words after `#!`.
fn shebang(bytes: &[u8]) -> Option<Vec<String>> {
    let rest = bytes.strip_prefix(b"#!")?;
    let end = rest.iter().position(|&b| b == b'\n').unwrap_or(rest.len());
    let line = String::from_utf8_lossy(&rest[..end.min(4096)]).into_owned();
    let words: Vec<String> = line.split_whitespace().map(str::to_string).collect();
    (!words.is_empty()).then_some(words)
}

/// The path of the interpreter a `#!` line names; `env [-S] [VAR=x] NAME` searches `PATH`.
pub fn interpreter_command(words: &[String]) -> Option<String> {
    let first = words.first()?;
    if Path::new(first).file_name().is_some_and(|n| n == "env") {
        return words[1..]
            .iter()
            .find(|w| !w.starts_with('-') && !w.contains('='))
            .cloned();
    }
    Some(first.clone())
}

fn resolve_interpreter(words: &[String], script: &Path) -> Result<PathBuf> {
    let bad = || {
        Fail::check(format!(
            "{}: cannot find the interpreter named on its #! line ({})",
            script.display(),
            words.join(" ")
        ))
    };
    let cmd = interpreter_command(words).ok_or_else(bad)?;
    which(&cmd).ok_or_else(bad)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(s: &str) -> Vec<String> {
        s.split_whitespace().map(str::to_string).collect()
    }

    #[test]
    fn shebang_words() {
        assert_eq!(shebang(b"#!/bin/sh -e\necho"), Some(w("/bin/sh -e")));
        assert_eq!(shebang(b"\x7fELF"), None);
        assert_eq!(shebang(b"#!\n"), None);
    }

    #[test]
    fn env_interpreters() {
        assert_eq!(
            interpreter_command(&w("/usr/bin/env python3")).unwrap(),
            "python3"
        );
        assert_eq!(
            interpreter_command(&w("/usr/bin/env -S A=1 python3 -u")).unwrap(),
            "python3"
        );
        assert_eq!(
            interpreter_command(&w("/bin/bash -e")).unwrap(),
            "/bin/bash"
        );
    }

    #[test]
    fn missing_program_is_named() {
        let e = resolve("surely-no-such-program-xyz").unwrap_err();
        assert_eq!(
            e.message,
            "cannot find program 'surely-no-such-program-xyz'"
        );
        assert!(resolve("./no/such/file").is_err());
    }

    #[test]
    fn script_follows_its_interpreter() {
        let dir = std::env::temp_dir().join(format!("scope-launcher-prog-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let script = dir.join("s.sh");
        std::fs::write(&script, "#!/usr/bin/env sh\necho hi\n").unwrap();
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
        let p = resolve(script.to_str().unwrap()).unwrap();
        assert_eq!(p.invoked, script);
        assert_eq!(
            p.binary,
            std::fs::canonicalize(which("sh").unwrap()).unwrap()
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
