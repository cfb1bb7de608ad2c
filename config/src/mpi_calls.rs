//! The `[mpi]` table: which MPI calls of the program to record as regions.
//!
//! ```toml
//! [mpi]
//! calls = true                         # every MPI call
//! calls = ["MPI_Send", "MPI_Wait*"]    # only these (names or globs, any case)
//! ```
//! Invariants: `Only` holds at least one pattern, each starting with `MPI_` (any case) and
//! without control characters; matching is case-insensitive (Fortran programmers write
//! `MPI_SEND`); a pattern never matches `PMPI_*` (the profiling aliases share their body).

use crate::glob::glob;
use std::ops::Range;

/// What `[mpi] calls` asks for.
#[derive(Debug, Clone, Default, PartialEq)]
pub enum MpiCalls {
    /// No `[mpi]` table, or `calls = false`.
    #[default]
    Off,
    /// `calls = true`.
    All,
    /// `calls = [...]`: the MPI functions whose name matches one of these.
    Only(Vec<MpiCallPattern>),
}

/// One entry of `calls = [...]`.
#[derive(Debug, Clone, PartialEq)]
pub struct MpiCallPattern {
    /// As written.
    pub text: String,
    /// Upper-cased, for case-insensitive matching.
    upper: String,
    /// 1-based line and column of the entry.
    pub line: usize,
    pub column: usize,
}

/// The MPI functions scope interposes itself (to set up and write the profile): never
/// recorded as calls.
pub const INTERPOSED: [&str; 4] = ["MPI_Init", "MPI_Init_thread", "MPI_Finalize", "MPI_Abort"];

/// A library whose `MPI_*` functions `[mpi] calls` hooks, by file name: Open MPI's
/// `libmpi.so*`, MPICH's `libmpich.so*` (or `libmpi.so*` elsewhere).
pub fn is_mpi_library(file_name: &str) -> bool {
    file_name.starts_with("libmpi.so") || file_name.starts_with("libmpich.so")
}

/// A library of MPI's Fortran bindings whose entry points `[mpi] calls` hooks as the C call
/// they stand for, by file name: Open MPI's `libmpi_mpifh.so*` (`mpif.h`, `use mpi`) and
/// `libmpi_usempif08.so*` (`use mpi_f08`), MPICH's `libmpichfort.so*` (or `libmpifort.so*`
/// elsewhere).
pub fn is_fortran_mpi_library(file_name: &str) -> bool {
    [
        "libmpi_mpifh.so",
        "libmpi_usempif08.so",
        "libmpichfort.so",
        "libmpifort.so",
    ]
    .iter()
    .any(|p| file_name.starts_with(p))
}

impl MpiCallPattern {
    pub fn matches(&self, mpi_name: &str) -> bool {
        let name = mpi_name.to_ascii_uppercase();
        if self.upper.contains(['*', '?']) {
            glob(&self.upper, &name)
        } else {
            self.upper == name
        }
    }
}

impl MpiCalls {
    /// Whether the MPI function `name` (e.g. `MPI_Send`) is to be recorded.
    pub fn wants(&self, name: &str) -> bool {
        match self {
            MpiCalls::Off => false,
            MpiCalls::All => true,
            MpiCalls::Only(list) => list.iter().any(|p| p.matches(name)),
        }
    }

    pub fn is_on(&self) -> bool {
        !matches!(self, MpiCalls::Off)
    }
}

/// Checks the `calls` value; errors carry the span to point at.
pub(crate) fn check(
    value: toml::Spanned<toml::Value>,
    at: impl Fn(usize) -> (usize, usize),
) -> Result<MpiCalls, (Range<usize>, String)> {
    let span = value.span();
    match value.into_inner() {
        toml::Value::Boolean(true) => Ok(MpiCalls::All),
        toml::Value::Boolean(false) => Ok(MpiCalls::Off),
        toml::Value::Array(items) => {
            if items.is_empty() {
                return Err((
                    span,
                    "`calls = []` records nothing; write `calls = false` or name MPI functions"
                        .into(),
                ));
            }
            let mut list = Vec::with_capacity(items.len());
            for item in items {
                let Some(text) = item.as_str() else {
                    return Err((
                        span,
                        format!(
                            "`calls` lists MPI function names (strings), not {}",
                            item.type_str()
                        ),
                    ));
                };
                list.push(pattern(text, &span, &at)?);
            }
            Ok(MpiCalls::Only(list))
        }
        other => Err((
            span,
            format!(
                "`calls` is `true`, `false` or a list of MPI function names, not {}",
                other.type_str()
            ),
        )),
    }
}

fn pattern(
    text: &str,
    span: &Range<usize>,
    at: &impl Fn(usize) -> (usize, usize),
) -> Result<MpiCallPattern, (Range<usize>, String)> {
    let trimmed = text.trim();
    if trimmed.chars().any(char::is_control) {
        return Err((
            span.clone(),
            format!("{text:?}: contains a control character"),
        ));
    }
    if !trimmed.to_ascii_uppercase().starts_with("MPI_") {
        return Err((
            span.clone(),
            format!("{text:?} is not an MPI function name (they start with `MPI_`)"),
        ));
    }
    if INTERPOSED.iter().any(|n| n.eq_ignore_ascii_case(trimmed)) {
        return Err((
            span.clone(),
            format!("{text:?} is never recorded as a call (scope interposes it to set up and write the profile)"),
        ));
    }
    let (line, column) = at(span.start);
    Ok(MpiCallPattern {
        text: trimmed.to_string(),
        upper: trimmed.to_ascii_uppercase(),
        line,
        column,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(text: &str) -> MpiCallPattern {
        pattern(text, &(0..1), &|_| (1, 1)).unwrap()
    }

    #[test]
    fn names_and_globs_match_case_insensitively() {
        assert!(p("MPI_Send").matches("MPI_Send"));
        assert!(p("MPI_SEND").matches("MPI_Send"));
        assert!(!p("MPI_Send").matches("MPI_Isend"));
        assert!(!p("MPI_Send").matches("PMPI_Send"));
        assert!(p("MPI_Wait*").matches("MPI_Waitall"));
        assert!(p("mpi_?send").matches("MPI_Isend"));
        assert!(!p("MPI_?send").matches("MPI_Send"));
    }

    #[test]
    fn other_names_are_refused() {
        assert!(pattern("PMPI_Send", &(0..1), &|_| (1, 1)).is_err());
        assert!(pattern("compute", &(0..1), &|_| (1, 1)).is_err());
    }
}
