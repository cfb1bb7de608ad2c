//! Which MPI the program links and which launcher command starts its ranks. All knowledge of
//! MPI implementations' library and launcher names lives here.
//! Invariant: a chosen launcher's flavour comes from its own `--version` output (or is `srun`
//! / direct), never from its name alone, so `mpirun` pointing at MPICH is handled. `srun` is
//! told the program's MPI (`--mpi=pmix` / `pmi2`) unless the user chose a plugin
//! (`SLURM_MPI_TYPE`, or `--mpi` among the launcher options, see `command`): without one, the
//! ranks of an MPI that the site's default plugin does not serve start as separate one-rank
//! jobs.

use crate::args::LauncherChoice;
use crate::error::{Fail, Result};
use crate::libs::Library;
use crate::program::which;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The MPI library a program links, judged by library names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MpiLib {
    OpenMpi,
    /// MPICH, Intel MPI, MVAPICH, Cray MPICH.
    Mpich,
    /// The MPI-5 standard ABI (`libmpi_abi`).
    Abi,
    /// No MPI library at link time (e.g. Python with mpi4py, loaded at run time).
    Unknown,
}

/// The launcher family, which decides how the rank environment is passed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Open MPI `mpirun`: `-x VAR=value`.
    OpenMpi,
    /// MPICH Hydra `mpiexec`: `-genv VAR value`.
    Hydra,
    /// Slurm `srun`: `--export=ALL,VAR=value`.
    Slurm,
    /// No launcher: the program is executed directly.
    Direct,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Launcher {
    pub kind: Kind,
    /// The command to execute (empty for `Direct`).
    pub command: String,
    /// `srun --mpi=` plugin for the program's MPI (`Slurm` only; `None`: srun's default).
    pub srun_mpi: Option<&'static str>,
}

impl MpiLib {
    pub fn describe(self) -> &'static str {
        match self {
            MpiLib::OpenMpi => "Open MPI",
            MpiLib::Mpich => "the MPICH family",
            MpiLib::Abi => "the MPI-5 ABI",
            MpiLib::Unknown => "no MPI library (it may load one at run time)",
        }
    }
}

/// The MPI flavour of a program from its library list.
pub fn lib_flavour(libs: &[Library]) -> MpiLib {
    let names = libs.iter().map(|l| {
        l.path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    });
    let names: Vec<String> = libs.iter().map(|l| l.name.clone()).chain(names).collect();
    let any = |f: &dyn Fn(&str) -> bool| names.iter().any(|n| f(n));
    if any(&|n| n.starts_with("libmpi_abi")) {
        MpiLib::Abi
    } else if any(&|n| n.starts_with("libmpich") || n.starts_with("libmpi.so.12")) {
        MpiLib::Mpich
    } else if any(&|n| n.starts_with("libmpi.so")) {
        MpiLib::OpenMpi
    } else {
        MpiLib::Unknown
    }
}

/// The launcher family named by a `--version` output.
pub fn version_kind(text: &str) -> Option<Kind> {
    if text.contains("Open MPI") || text.contains("OpenRTE") {
        Some(Kind::OpenMpi)
    } else if text.contains("HYDRA") {
        Some(Kind::Hydra)
    } else if text.to_ascii_lowercase().contains("slurm") {
        Some(Kind::Slurm)
    } else {
        None
    }
}

/// Runs `cmd --version` (at most 10 s) and classifies it; `None` if absent or unknown.
pub fn probe(cmd: &str) -> Option<Kind> {
    which(cmd)?;
    let mut child = Command::new(cmd)
        .arg("--version")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .ok()?;
    let deadline = Instant::now() + Duration::from_secs(10);
    while child.try_wait().ok()?.is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().ok()?;
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    version_kind(&text)
}

/// The `srun --mpi` plugin that wires up ranks of `lib`: PMIx for Open MPI (Debian's 4.1 is
/// built against PMIx), PMI-2 for the MPICH family. `None` when the program's MPI is not known
/// at link time or when the user named a plugin in `SLURM_MPI_TYPE` (srun reads it itself).
pub fn srun_plugin(lib: MpiLib, user_type: Option<&str>) -> Option<&'static str> {
    if user_type.is_some_and(|t| !t.is_empty()) {
        return None;
    }
    match lib {
        MpiLib::OpenMpi => Some("pmix"),
        MpiLib::Mpich => Some("pmi2"),
        MpiLib::Abi | MpiLib::Unknown => None,
    }
}

fn found(kind: Kind, command: &str) -> Launcher {
    Launcher {
        kind,
        command: command.to_string(),
        srun_mpi: None,
    }
}

/// `srun` (or `cmd`, which is Slurm's) for ranks of `lib`.
fn slurm(cmd: &str, lib: MpiLib) -> Launcher {
    let user = std::env::var("SLURM_MPI_TYPE").ok();
    Launcher {
        srun_mpi: srun_plugin(lib, user.as_deref()),
        ..found(Kind::Slurm, cmd)
    }
}

/// Picks the launcher for `choice`, `np` ranks and a program linking `lib`.
pub fn choose(choice: LauncherChoice, np: Option<u32>, lib: MpiLib) -> Result<Launcher> {
    let direct = found(Kind::Direct, "");
    match choice {
        LauncherChoice::None => {
            if np.is_some_and(|n| n > 1) {
                return Err(Fail::check(
                    "--launcher none runs a single process; drop -n or choose a launcher",
                ));
            }
            Ok(direct)
        }
        LauncherChoice::Auto if np.is_none() => Ok(direct),
        LauncherChoice::Auto => auto(lib),
        LauncherChoice::Srun => {
            which("srun").ok_or_else(|| Fail::check("cannot find 'srun' on PATH"))?;
            Ok(slurm("srun", lib))
        }
        LauncherChoice::Mpirun => explicit("mpirun", lib),
        LauncherChoice::Mpiexec => explicit("mpiexec", lib),
    }
}

fn auto(lib: MpiLib) -> Result<Launcher> {
    if std::env::var_os("SLURM_JOB_ID").is_some() && which("srun").is_some() {
        return Ok(slurm("srun", lib));
    }
    let try_cmds: &[&str] = match lib {
        MpiLib::OpenMpi => &["mpirun", "mpirun.openmpi", "mpiexec", "mpiexec.openmpi"],
        MpiLib::Mpich => &[
            "mpiexec.mpich",
            "mpiexec",
            "mpirun.mpich",
            "mpiexec.hydra",
            "mpirun",
        ],
        MpiLib::Abi | MpiLib::Unknown => &["mpirun", "mpiexec"],
    };
    let want = match lib {
        MpiLib::OpenMpi => Some(Kind::OpenMpi),
        MpiLib::Mpich => Some(Kind::Hydra),
        MpiLib::Abi | MpiLib::Unknown => None,
    };
    for cmd in try_cmds {
        match (probe(cmd), want) {
            (Some(k), Some(w)) if k == w => return Ok(found(k, cmd)),
            (Some(k @ (Kind::OpenMpi | Kind::Hydra)), None) => return Ok(found(k, cmd)),
            _ => {}
        }
    }
    Err(Fail::check(format!(
        "the program links {}, but no matching MPI launcher was found on PATH (tried {}); \
         choose one with --launcher",
        lib.describe(),
        try_cmds.join(", ")
    )))
}

fn explicit(cmd: &str, lib: MpiLib) -> Result<Launcher> {
    if which(cmd).is_none() {
        return Err(Fail::check(format!("cannot find '{cmd}' on PATH")));
    }
    let kind = probe(cmd).or(match lib {
        MpiLib::OpenMpi => Some(Kind::OpenMpi),
        MpiLib::Mpich => Some(Kind::Hydra),
        _ => None,
    });
    match kind {
        Some(k @ (Kind::OpenMpi | Kind::Hydra)) => {
            let mismatch = matches!(
                (k, lib),
                (Kind::OpenMpi, MpiLib::Mpich) | (Kind::Hydra, MpiLib::OpenMpi)
            );
            if mismatch {
                eprintln!(
                    "scope-run: warning: the program links {} but '{cmd}' belongs to {}",
                    lib.describe(),
                    if k == Kind::OpenMpi {
                        "Open MPI"
                    } else {
                        "MPICH (Hydra)"
                    }
                );
            }
            Ok(found(k, cmd))
        }
        Some(Kind::Slurm) => Ok(slurm(cmd, lib)),
        _ => Err(Fail::check(format!(
            "cannot tell which MPI '{cmd}' belongs to: its --version names neither Open MPI \
             nor HYDRA"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn libs(names: &[&str]) -> Vec<Library> {
        names
            .iter()
            .map(|n| Library {
                name: n.to_string(),
                path: PathBuf::from(format!("/usr/lib/{n}")),
            })
            .collect()
    }

    #[test]
    fn flavours_from_library_names() {
        assert_eq!(
            lib_flavour(&libs(&["libc.so.6", "libmpi.so.40"])),
            MpiLib::OpenMpi
        );
        assert_eq!(lib_flavour(&libs(&["libmpich.so.12"])), MpiLib::Mpich);
        assert_eq!(lib_flavour(&libs(&["libmpi.so.12"])), MpiLib::Mpich);
        assert_eq!(lib_flavour(&libs(&["libmpi_abi.so.0"])), MpiLib::Abi);
        assert_eq!(lib_flavour(&libs(&["libm.so.6"])), MpiLib::Unknown);
    }

    #[test]
    fn flavours_from_version_text() {
        assert_eq!(version_kind("mpirun (Open MPI) 4.1.4"), Some(Kind::OpenMpi));
        assert_eq!(version_kind("mpiexec (OpenRTE) 4.1.4"), Some(Kind::OpenMpi));
        assert_eq!(version_kind("HYDRA build details:"), Some(Kind::Hydra));
        assert_eq!(version_kind("slurm 23.02.6"), Some(Kind::Slurm));
        assert_eq!(version_kind("something else"), None);
    }

    #[test]
    fn srun_plugin_follows_the_program_unless_the_user_chose() {
        assert_eq!(srun_plugin(MpiLib::OpenMpi, None), Some("pmix"));
        assert_eq!(srun_plugin(MpiLib::Mpich, None), Some("pmi2"));
        assert_eq!(srun_plugin(MpiLib::Mpich, Some("")), Some("pmi2"));
        assert_eq!(srun_plugin(MpiLib::Mpich, Some("pmix")), None);
        assert_eq!(srun_plugin(MpiLib::Unknown, None), None);
        assert_eq!(srun_plugin(MpiLib::Abi, None), None);
    }

    #[test]
    fn direct_without_ranks() {
        let l = choose(LauncherChoice::Auto, None, MpiLib::OpenMpi).unwrap();
        assert_eq!(l.kind, Kind::Direct);
        assert!(choose(LauncherChoice::None, Some(4), MpiLib::Unknown).is_err());
    }
}
