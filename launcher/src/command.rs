//! The exact command line that starts the ranks: the launcher's way of passing environment
//! variables to the ranks only (`-x`, `-genv`, `--export`), or the program itself with them.
//! Invariant: `LD_PRELOAD` and `SCOPE_*` never go into an MPI launcher's own environment
//! (the agent would load into `mpirun`, `orted`, `hydra_pmi_proxy`); only `Direct` sets `env`.
//! `srun` gets the MPI plugin chosen in `mpi` and `--quit-on-interrupt` (one SIGINT ends the
//! step, as it ends `mpirun`; srun alone wants a second within a second), each only when the
//! launcher options do not already say it.

use crate::mpi::{Kind, Launcher};
use scope_config::env as var;

/// What to execute.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Launch {
    pub command: String,
    pub args: Vec<String>,
    /// Variables to set in the executed process's own environment.
    pub env: Vec<(String, String)>,
}

/// The inputs of the rank environment, all paths already absolute.
#[derive(Debug, Clone)]
pub struct RankEnvInput<'a> {
    pub agent: &'a str,
    pub existing_preload: Option<&'a str>,
    pub config: &'a str,
    pub output: &'a str,
    pub target: &'a str,
    pub verbose: bool,
    pub tmpdir: Option<&'a str>,
    /// `SCOPE_FLUSH_INTERVAL` as scope-run found it (passed on to every rank).
    pub flush_interval: Option<&'a str>,
    /// `SCOPE_MERGE` as scope-run found it (passed on to every rank).
    pub merge: Option<&'a str>,
    /// `SCOPE_DEBUG_DIR` as scope-run found it (passed on to every rank).
    pub debug_dir: Option<&'a str>,
    /// The run's directory for ranks that never initialise MPI (`no_mpi.rs`).
    pub ranks_dir: Option<&'a str>,
}

/// `LD_PRELOAD` for the ranks: the agent first, then what was there (without a second agent).
pub fn prepend_preload(agent: &str, existing: Option<&str>) -> String {
    let rest = existing
        .unwrap_or("")
        .split([':', ' '])
        .filter(|p| !p.is_empty() && *p != agent);
    std::iter::once(agent)
        .chain(rest)
        .collect::<Vec<_>>()
        .join(":")
}

/// The variables every rank gets, in a fixed order.
pub fn rank_env(i: &RankEnvInput) -> Vec<(String, String)> {
    let mut env = vec![
        (
            "LD_PRELOAD".to_string(),
            prepend_preload(i.agent, i.existing_preload),
        ),
        (var::CONFIG.to_string(), i.config.to_string()),
        (var::OUTPUT.to_string(), i.output.to_string()),
        (var::TARGET.to_string(), i.target.to_string()),
        (var::LAUNCHED.to_string(), "1".to_string()),
    ];
    if i.verbose {
        env.push((var::VERBOSE.to_string(), "1".to_string()));
    }
    if let Some(t) = i.tmpdir {
        env.push((var::TMPDIR.to_string(), t.to_string()));
    }
    if let Some(f) = i.flush_interval {
        env.push((var::FLUSH_INTERVAL.to_string(), f.to_string()));
    }
    if let Some(m) = i.merge {
        env.push((var::MERGE.to_string(), m.to_string()));
    }
    if let Some(d) = i.debug_dir {
        env.push((var::DEBUG_DIR.to_string(), d.to_string()));
    }
    if let Some(d) = i.ranks_dir {
        env.push((var::RANKS_DIR.to_string(), d.to_string()));
    }
    env
}

/// Whether the launcher options hold the option `long` (also as `long=value`) or `short`.
fn given(forwarded: &[String], long: &str, short: Option<&str>) -> bool {
    forwarded.iter().any(|t| {
        t == long
            || t.strip_prefix(long).is_some_and(|r| r.starts_with('='))
            || short.is_some_and(|s| t == s)
    })
}

/// The command for `launcher` with `np` ranks, launcher options `forwarded`, rank
/// environment `env`, and the program with its arguments.
pub fn build(
    launcher: &Launcher,
    np: Option<u32>,
    forwarded: &[String],
    env: &[(String, String)],
    program: &str,
    args: &[String],
) -> Launch {
    let mut a: Vec<String> = Vec::new();
    match launcher.kind {
        Kind::Direct => {
            return Launch {
                command: program.to_string(),
                args: args.to_vec(),
                env: env.to_vec(),
            }
        }
        Kind::OpenMpi => {
            for (k, v) in env {
                a.push("-x".into());
                a.push(format!("{k}={v}"));
            }
        }
        Kind::Hydra => {
            for (k, v) in env {
                a.extend(["-genv".to_string(), k.clone(), v.clone()]);
            }
        }
        Kind::Slurm => {
            let vars: Vec<String> = env.iter().map(|(k, v)| format!("{k}={v}")).collect();
            a.push(format!("--export=ALL,{}", vars.join(",")));
            if let Some(p) = launcher
                .srun_mpi
                .filter(|_| !given(forwarded, "--mpi", None))
            {
                a.push(format!("--mpi={p}"));
            }
            if !given(forwarded, "--quit-on-interrupt", Some("-q")) {
                a.push("--quit-on-interrupt".to_string());
            }
        }
    }
    if let Some(n) = np {
        a.extend(["-n".to_string(), n.to_string()]);
    }
    a.extend(forwarded.iter().cloned());
    a.push(program.to_string());
    a.extend(args.iter().cloned());
    Launch {
        command: launcher.command.clone(),
        args: a,
        env: Vec::new(),
    }
}

#[cfg(test)]
mod tests;
