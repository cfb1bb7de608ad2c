//! Errors from reading a configuration.
//! Invariant: every variant's `Display` starts with the file's path; errors located in the text
//! read `<path>:<line>:<column>: <message>` with 1-based line and column (in characters).

use std::path::PathBuf;

/// Why a configuration could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read (missing, unreadable, not UTF-8).
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// Something at a known place in the text is wrong: TOML syntax, an unknown key, a wrong
    /// type, an empty or malformed symbol, a duplicate region name.
    #[error("{}:{line}:{column}: {message}", path.display())]
    At {
        path: PathBuf,
        line: usize,
        column: usize,
        message: String,
    },
    /// The file is valid but names no region to profile.
    #[error("{}: no [[regions]] in {} (and no `[mpi] calls`)", path.display(), path.display())]
    NoRegions { path: PathBuf },
}
