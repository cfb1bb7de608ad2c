//! The TOML schema, exactly as serde reads it, before any meaning is checked.
//! Invariants: unknown keys are rejected at every level; every value the user wrote keeps its
//! byte span so later checks can point at it.

use serde::Deserialize;
use toml::Spanned;

/// The whole file: `[[regions]]` and an optional `[mpi]` table.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct File {
    #[serde(default)]
    pub regions: Option<Spanned<Vec<Spanned<RegionEntry>>>>,
    #[serde(default)]
    pub mpi: Option<MpiTable>,
}

/// The `[mpi]` table.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MpiTable {
    /// `true`, `false` or a list of MPI function names (checked in `mpi_calls`).
    #[serde(default)]
    pub calls: Option<Spanned<toml::Value>>,
}

/// One `[[regions]]` table.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegionEntry {
    /// A native function (exactly one of `symbol` and `python`).
    #[serde(default)]
    pub symbol: Option<Spanned<String>>,
    /// A Python function.
    #[serde(default)]
    pub python: Option<Spanned<String>>,
    #[serde(default)]
    pub name: Option<Spanned<String>>,
}
