//! Errors of the format layer: every one names the file it concerns, or the message it could
//! not decode (a copy plan received over MPI).

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum FormatError {
    #[error("{path}: {source}")]
    Hdf5 {
        path: PathBuf,
        #[source]
        source: hdf5::Error,
    },
    #[error("{path}: {message}")]
    Layout { path: PathBuf, message: String },
    #[error("{what}: {message}")]
    Decode { what: &'static str, message: String },
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// Attaches a path to HDF5 results.
pub(crate) trait AtPath<T> {
    fn at(self, path: &std::path::Path) -> Result<T, FormatError>;
}

impl<T> AtPath<T> for hdf5::Result<T> {
    fn at(self, path: &std::path::Path) -> Result<T, FormatError> {
        self.map_err(|source| FormatError::Hdf5 {
            path: path.to_path_buf(),
            source,
        })
    }
}
