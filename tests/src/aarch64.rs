//! aarch64 programs on this x86-64 machine: the kernel hands them to qemu-user (binfmt_misc,
//! `scripts/setup.sh`), so the amd64 `mpirun.openmpi` and `mpiexec.mpich` launch aarch64 ranks as
//! they launch any program, and the aarch64 agent reaches them through `LD_PRELOAD` as the x86-64
//! one does.
//!
//! The ranks' libraries come from one sysroot, [`sysroot`]: Debian's arm64 Open MPI and MPICH
//! with every library they need, glibc included, extracted from the packages by `setup.sh`. It
//! is qemu's guest prefix ([`QEMU_LD_PREFIX`]): qemu looks a path the guest opens up under the
//! prefix first and falls back to the path itself, so the guest's loader, libc and MPI come from
//! the sysroot while the test's own files (configs, outputs) are where they are.

use crate::fixtures::{ensure_built, fixtures_dir, Fixture};
use crate::mpi::{mpirun_with, run_agent_mpirun_with, run_plain, AgentRun, Flavor};
use crate::paths::{agent_so_aarch64, repo_root};
use crate::proc::{Cmd, Output};
use crate::workdir::WorkDir;
use std::ffi::OsStr;
use std::path::{Path, PathBuf};

/// The variable that gives qemu-user its guest prefix (its `-L`), which binfmt_misc's qemu reads
/// from the environment of the program it runs.
pub const QEMU_LD_PREFIX: &str = "QEMU_LD_PREFIX";

/// The arm64 sysroot (`$SCOPE_AARCH64_SYSROOT`, else `<repo>/target/aarch64-sysroot`, as in
/// `scripts/env.sh`), made by `scripts/setup.sh`.
pub fn sysroot() -> PathBuf {
    let p = std::env::var_os("SCOPE_AARCH64_SYSROOT")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("target/aarch64-sysroot"));
    assert!(
        p.join(".scope-installed").is_file(),
        "{} is missing: run scripts/setup.sh (it extracts the arm64 MPIs there)",
        p.display()
    );
    p
}

/// What every aarch64 process here needs in its environment: `QEMU_LD_PREFIX=<sysroot>`.
pub fn qemu_env() -> [(&'static str, PathBuf); 1] {
    [(QEMU_LD_PREFIX, sysroot())]
}

/// Where `tests/fixtures/build-aarch64-mpi.sh` puts the aarch64 fixtures.
pub fn fixtures_dir_aarch64() -> PathBuf {
    fixtures_dir().join("aarch64")
}

/// `e_machine` of an ELF file (bytes 18..20, little-endian), `None` if it is not one.
fn elf_machine(path: &Path) -> Option<u16> {
    let bytes = std::fs::read(path).ok()?;
    if bytes.len() < 20 || &bytes[..4] != b"\x7fELF" {
        return None;
    }
    Some(u16::from_le_bytes([bytes[18], bytes[19]]))
}

/// `EM_AARCH64`.
const EM_AARCH64: u16 = 183;

/// The aarch64 fixture called `name` (`mpi_compute.openmpi`), built if missing; checked to be an
/// aarch64 ELF file, so that a test never passes by running a native program.
pub fn fixture(name: &str) -> Fixture {
    let path = fixtures_dir_aarch64().join(name);
    if !path.is_file() {
        ensure_built();
    }
    assert!(path.is_file(), "fixture {} was not built", path.display());
    assert_eq!(
        elf_machine(&path),
        Some(EM_AARCH64),
        "{} is not an aarch64 program",
        path.display()
    );
    Fixture {
        name: name.to_string(),
        path,
    }
}

/// The amd64 launcher of `flavor` with `vars` and the qemu environment passed to the ranks, then
/// `-n N PROGRAM ARGS`.
fn launch<S: AsRef<OsStr>>(
    cwd: &Path,
    flavor: Flavor,
    n: u32,
    vars: &[(&str, &Path)],
    program: impl AsRef<OsStr>,
    args: &[S],
) -> Cmd {
    let qemu = qemu_env();
    let mut all = vars.to_vec();
    all.extend(qemu.iter().map(|(k, v)| (*k, v.as_path())));
    mpirun_with(cwd, flavor, n, &all, program, args)
}

/// `mpirun -x QEMU_LD_PREFIX=<sysroot> -n N PROGRAM ARGS...` (`-genv` for MPICH): an aarch64 MPI
/// program on N ranks without the agent, under the run lock and with the MPI environment.
pub fn run_plain_mpirun<S: AsRef<OsStr>>(
    cwd: &Path,
    flavor: Flavor,
    n: u32,
    program: impl AsRef<OsStr>,
    args: &[S],
) -> Output {
    run_plain(launch(cwd, flavor, n, &[], program, args))
}

/// As [`crate::mpi::run_with_agent_mpirun`], for an aarch64 program: the aarch64 agent in
/// `LD_PRELOAD`, `SCOPE_CONFIG`, `SCOPE_OUTPUT` and `QEMU_LD_PREFIX` reach the ranks only
/// (`-x` / `-genv`), never the amd64 launcher; same layout of `cfg/`, `out/`, `run/`.
pub fn run_with_agent_mpirun<S: AsRef<OsStr>>(
    wd: &WorkDir,
    flavor: Flavor,
    n: u32,
    config_toml: &str,
    program: impl AsRef<OsStr>,
    args: &[S],
) -> AgentRun {
    let qemu = qemu_env();
    let extra: Vec<(&str, &Path)> = qemu.iter().map(|(k, v)| (*k, v.as_path())).collect();
    run_agent_mpirun_with(
        wd,
        flavor,
        n,
        config_toml,
        &agent_so_aarch64(),
        &extra,
        program,
        args,
    )
}
