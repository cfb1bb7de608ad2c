//! Is this process one the agent should act in? The launcher names the program
//! (`SCOPE_TARGET`, a canonical path); without it, known launchers, daemons and shells are
//! skipped. Setuid/setgid processes (`AT_SECURE`) are always skipped.
//! Invariant: a process that is not the target is left completely untouched.

use scope_config::env;

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
    "env",
    "ssh",
    "rsh",
    "scope-run",
    "scope-pproc",
];

pub fn is_target() -> bool {
    // SAFETY: getauxval is always safe to call.
    if unsafe { libc::getauxval(libc::AT_SECURE) } != 0 {
        return false;
    }
    let exe = match std::fs::read_link("/proc/self/exe") {
        Ok(p) => p,
        Err(_) => return false,
    };
    if let Some(t) = std::env::var_os(env::TARGET) {
        let t = std::path::PathBuf::from(t);
        let t = std::fs::canonicalize(&t).unwrap_or(t);
        return t == exe;
    }
    let name = exe.file_name().and_then(|n| n.to_str()).unwrap_or("");
    !NOT_TARGETS.contains(&name)
}
