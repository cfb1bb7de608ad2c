//! scope-launcher's integration tests, built as ONE test binary (`--test suite`): each file
//! beside this one is a module, and `support/pproc_fixture.rs` is `fixture`, shared by them (so
//! its `fork_lock()` now guards the children of every module; `cli` takes it too). One binary
//! links the static HDF5 once instead of once per file. `autotests = false` in Cargo.toml, so a
//! file not named here is never built (scope-tests' `layout` suite checks that).
//!
//! Add a suite: write `launcher/tests/NAME.rs` and add `mod NAME;` below. Run one:
//! `cargo test --release -p scope-launcher --test suite NAME::`. See docs/testing.md.

#[path = "support/pproc_fixture.rs"]
mod fixture;

mod cli;
mod pproc;
mod pproc_big;
mod pproc_oracles;
