//! The two installed MPIs and the ways a test launches a program: plain, under `mpirun` with the
//! agent preloaded into the ranks only, and through `scope-run`.
//!
//! Runs are serialized within a test binary (the machine has few cores and 4 oversubscribed
//! ranks per run; parallel runs would only make timings noisy and timeouts likelier).

use crate::paths::{agent_so, scope_run};
use crate::proc::{Cmd, Output};
use crate::workdir::WorkDir;
use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

static RUN_LOCK: Mutex<()> = Mutex::new(());

/// Hold while a launcher runs; a panicking holder does not block the others.
pub fn run_lock() -> MutexGuard<'static, ()> {
    RUN_LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    OpenMpi,
    Mpich,
}

impl Flavor {
    pub const ALL: [Flavor; 2] = [Flavor::OpenMpi, Flavor::Mpich];

    /// The suffix of the fixture binaries built against this MPI.
    pub fn suffix(self) -> &'static str {
        match self {
            Flavor::OpenMpi => "openmpi",
            Flavor::Mpich => "mpich",
        }
    }

    pub fn mpirun(self) -> &'static str {
        match self {
            Flavor::OpenMpi => "mpirun.openmpi",
            Flavor::Mpich => "mpirun.mpich",
        }
    }

    /// `name.<flavor>`, the fixture file name.
    pub fn fixture(self, name: &str) -> String {
        format!("{name}.{}", self.suffix())
    }
}

/// The environment every MPI run here needs (root, oversubscription, loopback only).
/// What Open MPI needs here (root, 4 ranks on 2 cores, loopback only): also for tests that
/// spawn a `std::process::Command` themselves (`.envs(MPI_ENV.iter().copied())`).
pub const MPI_ENV: &[(&str, &str)] = &[
    ("OMPI_ALLOW_RUN_AS_ROOT", "1"),
    ("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1"),
    ("OMPI_MCA_rmaps_base_oversubscribe", "1"),
    ("OMPI_MCA_btl_base_warn_component_unused", "0"),
    ("OMPI_MCA_btl", "self,vader,tcp"),
    ("OMPI_MCA_btl_tcp_if_include", "lo"),
    ("OMPI_MCA_oob_tcp_if_include", "lo"),
];

pub fn with_mpi_env(cmd: Cmd) -> Cmd {
    MPI_ENV
        .iter()
        .fold(cmd, |c, (k, v)| c.env(k, v))
        .env_remove("SCOPE_CONFIG")
        .env_remove("SCOPE_OUTPUT")
}

/// Run any command (under the run lock, with the MPI environment).
pub fn run_plain(cmd: Cmd) -> Output {
    let _g = run_lock();
    with_mpi_env(cmd).run()
}

/// Run a command as it is, under the run lock.
pub fn run_locked(cmd: Cmd) -> Output {
    let _g = run_lock();
    cmd.run()
}

/// `mpirun -n N PROGRAM ARGS...` without the agent.
pub fn run_plain_mpirun<S: AsRef<OsStr>>(
    cwd: &Path,
    flavor: Flavor,
    n: u32,
    program: impl AsRef<OsStr>,
    args: &[S],
) -> Output {
    let cmd = Cmd::new(flavor.mpirun())
        .cwd(cwd)
        .arg("-n")
        .arg(n.to_string())
        .arg(program)
        .args(args);
    run_plain(cmd)
}

/// A run with the agent: where its config and output went, and what the launcher printed.
pub struct AgentRun {
    pub output: Output,
    pub config: PathBuf,
    /// The directory that holds only the output file (for "no stray files" checks).
    pub out_dir: PathBuf,
    /// `<out_dir>/profiling_data.h5`.
    pub profile: PathBuf,
    /// The working directory of the launcher.
    pub run_dir: PathBuf,
}

/// Lay out `cfg/scope.toml`, `out/`, `run/` in the work dir.
pub(crate) fn layout(wd: &WorkDir, config_toml: &str) -> (PathBuf, PathBuf, PathBuf, PathBuf) {
    let config = wd.write("cfg/scope.toml", config_toml);
    let out_dir = wd.subdir("out");
    let run_dir = wd.subdir("run");
    let profile = out_dir.join("profiling_data.h5");
    (config, out_dir, profile, run_dir)
}

/// `-x K=V` (Open MPI) or `-genv K V` (MPICH): `K=V` in the ranks' environment only.
pub(crate) fn pass_to_ranks(cmd: Cmd, flavor: Flavor, k: &str, v: &Path) -> Cmd {
    match flavor {
        Flavor::OpenMpi => cmd.arg("-x").arg(kv(k, v)),
        Flavor::Mpich => cmd.arg("-genv").arg(k).arg(v),
    }
}

/// The launcher of `flavor` in `cwd` with `vars` passed to the ranks only, then
/// `-n N PROGRAM ARGS`.
pub(crate) fn mpirun_with<S: AsRef<OsStr>>(
    cwd: &Path,
    flavor: Flavor,
    n: u32,
    vars: &[(&str, &Path)],
    program: impl AsRef<OsStr>,
    args: &[S],
) -> Cmd {
    let cmd = vars
        .iter()
        .fold(Cmd::new(flavor.mpirun()).cwd(cwd), |c, (k, v)| {
            pass_to_ranks(c, flavor, k, v)
        });
    cmd.arg("-n").arg(n.to_string()).arg(program).args(args)
}

/// `mpirun -x LD_PRELOAD=<agent> -x SCOPE_CONFIG=<toml> -x SCOPE_OUTPUT=<out.h5> -n N PROGRAM`
/// (Open MPI) or `mpirun.mpich -genv LD_PRELOAD <agent> ... -n N PROGRAM` (MPICH): the agent
/// reaches the ranks only, never the launcher.
pub fn run_with_agent_mpirun<S: AsRef<OsStr>>(
    wd: &WorkDir,
    flavor: Flavor,
    n: u32,
    config_toml: &str,
    program: impl AsRef<OsStr>,
    args: &[S],
) -> AgentRun {
    run_agent_mpirun_with(wd, flavor, n, config_toml, &agent_so(), &[], program, args)
}

/// [`run_with_agent_mpirun`] with another `agent` and `extra` variables for the ranks (after
/// `LD_PRELOAD`, `SCOPE_CONFIG`, `SCOPE_OUTPUT`).
#[allow(clippy::too_many_arguments)]
pub(crate) fn run_agent_mpirun_with<S: AsRef<OsStr>>(
    wd: &WorkDir,
    flavor: Flavor,
    n: u32,
    config_toml: &str,
    agent: &Path,
    extra: &[(&str, &Path)],
    program: impl AsRef<OsStr>,
    args: &[S],
) -> AgentRun {
    let (config, out_dir, profile, run_dir) = layout(wd, config_toml);
    let mut vars: Vec<(&str, &Path)> = vec![
        ("LD_PRELOAD", agent),
        ("SCOPE_CONFIG", &config),
        ("SCOPE_OUTPUT", &profile),
    ];
    vars.extend_from_slice(extra);
    let output = run_plain(mpirun_with(&run_dir, flavor, n, &vars, program, args));
    AgentRun {
        output,
        config,
        out_dir,
        profile,
        run_dir,
    }
}

/// `mpirun -n N PROGRAM ARGS` (or the program alone for `None`) with the agent and the
/// variables `vars` in the ranks' environment only (`-x` / `-genv`), and the MPI environment;
/// run it with [`run_locked`]. `SCOPE_TARGET` is not set unless `vars` sets it.
pub fn agent_cmd<S: AsRef<OsStr>>(
    launcher: Option<(Flavor, u32)>,
    vars: &[(&str, &OsStr)],
    program: impl AsRef<OsStr>,
    args: &[S],
) -> Cmd {
    let agent = agent_so();
    let all = std::iter::once(("LD_PRELOAD", agent.as_os_str())).chain(vars.iter().copied());
    let mut cmd = with_mpi_env(match launcher {
        Some((flavor, _)) => Cmd::new(flavor.mpirun()),
        None => Cmd::new(program.as_ref()),
    });
    for (k, v) in all {
        cmd = match launcher {
            Some((Flavor::OpenMpi, _)) => cmd.arg("-x").arg(kv(k, Path::new(v))),
            Some((Flavor::Mpich, _)) => cmd.arg("-genv").arg(k).arg(v),
            None => cmd.env(k, v),
        };
    }
    match launcher {
        Some((_, n)) => cmd.arg("-n").arg(n.to_string()).arg(program).args(args),
        None => cmd.args(args),
    }
}

/// `LD_PRELOAD=<agent> SCOPE_CONFIG=… SCOPE_OUTPUT=… mpirun -n N PROGRAM`: the agent is in the
/// launcher's own environment, so it is also loaded into `mpirun`/`orted` (or `mpiexec.hydra`/
/// `hydra_pmi_proxy`), where it must stay inert. With `launcher = None` the program runs directly
/// (a serial run), optionally through `sh -c` (a shell that is not the target).
pub fn run_with_agent_in_env<S: AsRef<OsStr>>(
    wd: &WorkDir,
    launcher: Option<(Flavor, u32)>,
    config_toml: &str,
    program: impl AsRef<OsStr>,
    args: &[S],
) -> AgentRun {
    let (config, out_dir, profile, run_dir) = layout(wd, config_toml);
    let cmd = match launcher {
        Some((flavor, n)) => Cmd::new(flavor.mpirun())
            .arg("-n")
            .arg(n.to_string())
            .arg(program),
        None => Cmd::new(program),
    };
    let cmd = with_mpi_env(cmd.cwd(&run_dir).args(args))
        .env("LD_PRELOAD", agent_so())
        .env("SCOPE_CONFIG", &config)
        .env("SCOPE_OUTPUT", &profile);
    let output = {
        let _g = run_lock();
        cmd.run()
    };
    AgentRun {
        output,
        config,
        out_dir,
        profile,
        run_dir,
    }
}

/// `scope-run ARGS...` in `wd/run`, with the MPI environment. The caller passes `-c`, `-o`,
/// `-n` and `-- PROGRAM ...` as the test needs them.
pub fn run_scope_run<S: AsRef<OsStr>>(wd: &WorkDir, args: &[S]) -> Output {
    let run_dir = wd.subdir("run");
    run_plain(Cmd::new(scope_run()).cwd(run_dir).args(args))
}

/// `K=V`, as `mpirun -x` takes it.
pub(crate) fn kv(k: &str, v: &Path) -> OsString {
    let mut s = OsString::from(k);
    s.push("=");
    s.push(v.as_os_str());
    s
}
