//! scope-tests' end-to-end tests, built as ONE test binary (`--test suite`): each file beside
//! this one is a module. One binary links the static HDF5 once instead of once per file, and
//! `run_lock()` (tests/src/mpi.rs) serialises the MPI runs of all of them. `autotests = false`
//! in Cargo.toml, so a file not named here is never built; the `layout` suite checks that.
//!
//! Add a suite: write `tests/tests/NAME.rs` (a `//!` header, `use scope_tests::…`, `#[test]`s)
//! and add `mod NAME;` below. Run one: `cargo test --release -p scope-tests --test suite NAME::`.
//! Layout and build figures: docs/testing.md.

mod aarch64_engine;
mod aarch64_mpi;
mod agent_c;
mod agent_languages;
mod cluster;
mod debug_files;
mod engine_discovery;
mod engine_environment;
mod engine_prologues;
mod engine_registers;
mod engine_return_path;
mod engine_threads_signals;
mod fixtures_plain;
mod harness;
mod hdf5_user;
mod inert;
mod install;
mod layout;
mod mpi_abi;
mod mpi_calls;
mod oracle;
mod output_safety;
mod parallel_merge;
mod python_regions;
mod python_versions;
mod salvage;
mod scope_run;
mod serial_and_launchers;
mod slurm;
mod spawn;
mod transparency;
