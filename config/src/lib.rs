//! The `scope.toml` contract shared by the launcher and the agent: which functions to profile
//! ([`Config`], [`Region`]), how a `symbol` the user wrote matches ELF symbol names
//! ([`SymbolPattern`], [`SymbolName`]), close matches for typos ([`suggest`]), and the
//! environment variables the two processes talk through ([`env`]).
//!
//! Invariants: nothing in this crate panics or uses `unsafe`, whatever the input; every error
//! about the configuration text names the file, line and column.

pub mod env;
mod error;
mod glob;
mod location;
mod mpi_calls;
mod name;
mod normalize;
mod parse;
mod pattern;
mod python;
mod schema;
mod suggest;

pub use error::ConfigError;
pub use mpi_calls::{is_fortran_mpi_library, is_mpi_library, MpiCallPattern, MpiCalls, INTERPOSED};
pub use name::SymbolName;
pub use parse::{load, parse, Config, Region};
pub use pattern::SymbolPattern;
pub use python::{
    full_name, suggest_python, unmatched_python_sentence, PythonPattern, PythonRegion,
};
pub use suggest::{suggest, Candidate};
