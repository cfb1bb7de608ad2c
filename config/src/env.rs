//! Names of the environment variables through which `scope-run` configures the agent.
//! Invariant: these strings are the only place the names are spelled; both sides import them.

/// Absolute path of the `scope.toml` the agent reads.
pub const CONFIG: &str = "SCOPE_CONFIG";
/// Path of the merged output file.
pub const OUTPUT: &str = "SCOPE_OUTPUT";
/// Directory for per-rank partial files.
pub const TMPDIR: &str = "SCOPE_TMPDIR";
/// The program the agent should profile (other processes stay dormant).
pub const TARGET: &str = "SCOPE_TARGET";
/// Non-empty to make the agent report what it does.
pub const VERBOSE: &str = "SCOPE_VERBOSE";
/// Set by `scope-run` so the agent knows a launcher will merge its output.
pub const LAUNCHED: &str = "SCOPE_LAUNCHED";
/// Set by the agent in the environment of the process it profiles, to that process's pid: a
/// process that starts with another pid here descends from a profiled one (a `system()`,
/// `popen` or fork-and-exec child) and stays inert. `scope-run` removes it from what it starts.
pub const PROFILED: &str = "SCOPE_PROFILED";
/// A directory `scope-run` created for the run: a rank that never initialises MPI (a launched
/// script that uses no MPI) writes its rank file there, named by the rank the launcher gave it
/// (`OMPI_COMM_WORLD_RANK`, `PMI_RANK`, `SLURM_PROCID`), and `scope-run` merges them.
pub const RANKS_DIR: &str = "SCOPE_RANKS_DIR";
/// Seconds between two flushes of each rank's recorded events to disk (default 1).
pub const FLUSH_INTERVAL: &str = "SCOPE_FLUSH_INTERVAL";
/// How rank 0 merges at `MPI_Finalize`: `serial` or `parallel` (node leaders); unset: by node
/// count. Read by the agent; `scope-run` passes it on to every rank.
pub const MERGE: &str = "SCOPE_MERGE";
/// Where separate debug files of stripped objects are looked for: a `:`-separated list of
/// directories, as gdb's `debug-file-directory` (default `/usr/lib/debug`). Read by `scope-run`
/// and the agent; `scope-run` passes it on to every rank.
pub const DEBUG_DIR: &str = "SCOPE_DEBUG_DIR";
