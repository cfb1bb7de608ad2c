//! Harness for scope's end-to-end tests.
//!
//! Every test runs real processes (fixtures under real `mpirun`, `scope-run`) with a timeout and
//! kill-on-drop, in its own temporary directory, and prints the child's output when it fails.
//! Modules, smallest first:
//! - [`paths`]: the repository root and the release artifacts (`libscope_agent.so`, `scope-run`).
//! - [`fixtures`]: the built fixture programs (building them with `tests/fixtures/build.sh`).
//! - [`proc`]: running a child: timeout, process group, captured output.
//! - [`workdir`]: one temporary directory per test, kept when the test fails.
//! - [`mpi`]: the two MPI flavours and the ways of launching a fixture (plain, agent, scope-run).
//! - [`cluster`]: a simulated cluster of nodes (namespaces) and running commands on its nodes.
//! - [`mount`]: a tmpfs for one test (a full disk, a read-only directory).
//! - [`profile`]: reading a result file through `scope-format` and asserting exact facts.
//! - [`engine`]: the interception engine's fixtures, each run with and without the agent.
//! - [`oracle`]: the reference tool's readers (`scope-profiler` 0.2.6 and 0.7.5).
//! - [`slurm`]: a real Slurm (munged, slurmctld, one slurmd per node) for one test.
//! - [`aarch64`]: aarch64 programs under qemu-user: the arm64 sysroot, aarch64 fixtures, and
//!   aarch64 MPI programs launched by the amd64 `mpirun`/`mpiexec` with the aarch64 agent.

pub mod aarch64;
pub mod cluster;
pub mod engine;
pub mod fixtures;
pub mod mount;
pub mod mpi;
pub mod oracle;
pub mod paths;
pub mod proc;
pub mod profile;
pub mod slurm;
pub mod workdir;

pub use fixtures::{fixture, Fixture};
pub use mpi::{
    run_plain, run_plain_mpirun, run_scope_run, run_with_agent_mpirun, AgentRun, Flavor,
};
pub use proc::{Cmd, Output};
pub use profile::{Profile, RankCounts};
pub use workdir::WorkDir;
