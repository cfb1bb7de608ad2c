//! The TOML schema, exactly as serde reads it, before any meaning is checked.
//! Invariants: unknown keys are rejected at every level; every value the user wrote keeps its
//! byte span so later checks can point at it.

use serde::Deserialize;
use toml::Spanned;

/// The whole file: only `[[regions]]` at the top level.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct File {
    #[serde(default)]
    pub regions: Option<Spanned<Vec<Spanned<RegionEntry>>>>,
}

/// One `[[regions]]` table.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegionEntry {
    pub symbol: Spanned<String>,
    #[serde(default)]
    pub name: Option<Spanned<String>>,
}
