//! scope-config's integration tests, built as ONE test binary (`--test suite`): each file beside
//! this one is a module. `autotests = false` in Cargo.toml, so a file not named here is never
//! built (scope-tests' `layout` suite checks that).
//!
//! Add a suite: write `config/tests/NAME.rs` and add `mod NAME;` below. Run one:
//! `cargo test --release -p scope-config --test suite NAME::`. See docs/testing.md.

mod config_errors;
mod fuzz;
mod matching;
mod never_panics;
mod suggest;
