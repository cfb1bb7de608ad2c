//! scope-launcher: `scope-run` (check a program and its config, start its ranks with the agent
//! preloaded under the site's MPI launcher, summarise the profile) and `scope-pproc`.
//! One module per job; the binaries are thin wrappers over `run::main` and `pproc::main`.

pub mod args;
pub mod child;
pub mod command;
pub mod error;
pub mod libs;
pub mod mpi;
pub mod no_mpi;
pub mod nodes;
pub mod pproc;
pub mod program;
pub mod progress;
pub mod ranks;
pub mod regions;
pub mod run;
pub mod salvage;
pub mod shortfall;
pub mod summary;
#[cfg(test)]
mod test_files;
pub mod worlds;
