//! Is this process one the agent should act in? The launcher names the program
//! (`SCOPE_TARGET`, a canonical path); without it, known launchers, daemons, shells and
//! process wrappers are skipped. Setuid/setgid processes (`AT_SECURE`) are always skipped, and
//! so is every process started by a profiled one (`system`, `popen`, fork and exec): the
//! profiled process marks its environment with its pid (`SCOPE_PROFILED`), which its children
//! inherit with a pid that is not theirs. An `exec` in place keeps the pid, and the mark.
//! Invariant: a process that is not the target is left completely untouched.

use scope_config::env;
use std::ffi::OsStr;

const NOT_TARGETS: &[&str] = &[
    "mpirun",
    "mpiexec",
    "orterun",
    "orted",
    "prterun",
    "prted",
    "prte",
    "prun",
    "mpiexec.hydra",
    "mpirun.openmpi",
    "mpiexec.openmpi",
    "mpirun.mpich",
    "mpiexec.mpich",
    "hydra_pmi_proxy",
    "hydra_nameserver",
    "srun",
    "slurmstepd",
    "sh",
    "bash",
    "dash",
    "zsh",
    "ksh",
    "env",
    "ssh",
    "rsh",
    "scope-run",
    "scope-pproc",
    // Wrappers that start the program as their child: acting in them would mark the program
    // as their child (see the module documentation) and leave it unprofiled.
    "time",
    "timeout",
    "nice",
    "nohup",
    "numactl",
    "taskset",
    "stdbuf",
    "setsid",
    "chrt",
    "ionice",
    "hwloc-bind",
    "xargs",
    "strace",
    "ltrace",
    "perf",
];

pub fn is_target() -> bool {
    // SAFETY: getauxval is always safe to call.
    if unsafe { libc::getauxval(libc::AT_SECURE) } != 0 {
        return false;
    }
    let me = std::process::id().to_string();
    if let Some(owner) = std::env::var_os(env::PROFILED) {
        if owner != OsStr::new(&me) {
            return false;
        }
    }
    let exe = match std::fs::read_link("/proc/self/exe") {
        Ok(p) => p,
        Err(_) => return false,
    };
    let target = match std::env::var_os(env::TARGET) {
        Some(t) => {
            let t = std::path::PathBuf::from(t);
            std::fs::canonicalize(&t).unwrap_or(t) == exe
        }
        None => {
            let name = exe.file_name().and_then(|n| n.to_str()).unwrap_or("");
            !NOT_TARGETS.contains(&name)
        }
    };
    if target && std::env::var_os(env::CONFIG).is_some() {
        // The constructor runs before main, while the process has one thread.
        std::env::set_var(env::PROFILED, &me);
    }
    target
}
