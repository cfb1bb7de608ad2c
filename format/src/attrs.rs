//! File-level and rank-level attributes, read and written in one place.

use crate::error::AtPath;
use crate::ffi::{hid_t, Kit};
use crate::FormatError;
use hdf5::types::VarLenUnicode;
use std::path::Path;

/// Attributes on the root of a merged file.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct FileAttrs {
    /// Ranks that ran (the size of `MPI_COMM_WORLD`, 1 for a serial run).
    pub ranks: i64,
    /// The tool and version that wrote the file.
    pub version: String,
    /// True only when every rank of the run was merged and every one of them reached
    /// `MPI_Finalize` (nothing missing, nothing unfinished) and the merge itself finished.
    pub complete: bool,
    /// Ranks of the run with no data in the file: no rank file, or one that could not be read
    /// (or, in the parallel merge, whose node leader did not copy it).
    pub missing_ranks: Vec<i64>,
    /// Ranks whose data is in the file but who did not reach `MPI_Finalize` (killed, aborted,
    /// exited without it): their data may be cut short. Empty in files written before the
    /// attribute existed (those listed such ranks in `missing_ranks`).
    pub unfinished_ranks: Vec<i64>,
}

/// Attributes on one `rank<N>` group.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RankAttrs {
    pub rank: i64,
    /// Events the rank could not record (buffers full before a sink existed, shadow stack overflow).
    pub dropped_events: i64,
    pub pid: i64,
    pub hostname: String,
}

pub(crate) fn write_i64(
    loc: &hdf5::Location,
    name: &str,
    v: i64,
    p: &Path,
) -> Result<(), FormatError> {
    if loc.attr(name).is_ok() {
        return loc.attr(name).at(p)?.write_scalar(&v).at(p);
    }
    loc.new_attr::<i64>()
        .create(name)
        .at(p)?
        .write_scalar(&v)
        .at(p)
}

pub(crate) fn write_str(
    loc: &hdf5::Location,
    name: &str,
    v: &str,
    p: &Path,
) -> Result<(), FormatError> {
    let value: VarLenUnicode = v.parse().map_err(|_| FormatError::Layout {
        path: p.to_path_buf(),
        message: format!("attribute {name}: value contains a NUL byte"),
    })?;
    if loc.attr(name).is_ok() {
        loc.delete_attr(name).at(p)?;
    }
    loc.new_attr::<VarLenUnicode>()
        .create(name)
        .at(p)?
        .write_scalar(&value)
        .at(p)
}

pub(crate) fn write_i64s(
    loc: &hdf5::Location,
    name: &str,
    v: &[i64],
    p: &Path,
) -> Result<(), FormatError> {
    if loc.attr(name).is_ok() {
        loc.delete_attr(name).at(p)?;
    }
    loc.new_attr::<i64>()
        .shape(v.len())
        .create(name)
        .at(p)?
        .write_raw(v)
        .at(p)
}

/// A rank group's clock samples (`crate::clock`), where written.
pub(crate) fn read_clock(g: &hdf5::Location) -> crate::ClockSync {
    let sample = |name| read_i64s(g, name).and_then(|v| crate::ClockSample::from_slice(&v));
    crate::ClockSync {
        begin: sample(crate::CLOCK_SYNC_BEGIN),
        end: sample(crate::CLOCK_SYNC_END),
    }
}

pub(crate) fn read_i64(loc: &hdf5::Location, name: &str) -> Option<i64> {
    loc.attr(name).ok()?.read_scalar::<i64>().ok()
}

pub(crate) fn read_str(loc: &hdf5::Location, name: &str) -> Option<String> {
    let v: VarLenUnicode = loc.attr(name).ok()?.read_scalar().ok()?;
    Some(v.as_str().to_string())
}

pub(crate) fn read_i64s(loc: &hdf5::Location, name: &str) -> Option<Vec<i64>> {
    loc.attr(name).ok()?.read_raw::<i64>().ok()
}

impl FileAttrs {
    /// Writes the attributes on the root `root` of a file that has none yet (the merge's
    /// output), through `kit`.
    pub(crate) fn write_new(&self, kit: &Kit, root: hid_t) -> Result<(), String> {
        kit.attr_str(root, "scope_version", &self.version)?;
        kit.attr_i64(root, "ranks", self.ranks)?;
        kit.attr_i64(root, "complete", i64::from(self.complete))?;
        kit.attr_i64s(root, "missing_ranks", &self.missing_ranks)?;
        kit.attr_i64s(root, "unfinished_ranks", &self.unfinished_ranks)?;
        kit.attr_str(root, "clock", crate::CLOCK)
    }

    /// Rewrites the attributes on the root of `file`, which has them already (a laid-out
    /// output at commit): `complete` last, after the others are flushed to disk.
    pub(crate) fn rewrite(&self, file: &hdf5::File, p: &Path) -> Result<(), FormatError> {
        write_str(file, "scope_version", &self.version, p)?;
        write_i64(file, "ranks", self.ranks, p)?;
        write_i64s(file, "missing_ranks", &self.missing_ranks, p)?;
        write_i64s(file, "unfinished_ranks", &self.unfinished_ranks, p)?;
        write_str(file, "clock", crate::CLOCK, p)?;
        file.flush().at(p)?;
        write_i64(file, "complete", i64::from(self.complete), p)
    }

    pub(crate) fn read(file: &hdf5::File) -> FileAttrs {
        FileAttrs {
            ranks: read_i64(file, "ranks").unwrap_or(0),
            version: read_str(file, "scope_version").unwrap_or_default(),
            complete: read_i64(file, "complete").map(|c| c != 0).unwrap_or(true),
            missing_ranks: read_i64s(file, "missing_ranks").unwrap_or_default(),
            unfinished_ranks: read_i64s(file, "unfinished_ranks").unwrap_or_default(),
        }
    }
}

/// Rank attributes beyond `RankAttrs`: the MPI window (end of `MPI_Init`, start of
/// `MPI_Finalize`, ns). Written by the agent when it knows them, copied by the merge.
pub const WINDOW: [&str; 2] = ["mpi_begin", "mpi_end"];

impl RankAttrs {
    pub(crate) fn write(&self, g: &hdf5::Group, p: &Path) -> Result<(), FormatError> {
        write_i64(g, "rank", self.rank, p)?;
        write_i64(g, "dropped_events", self.dropped_events, p)?;
        write_i64(g, "pid", self.pid, p)?;
        write_str(g, "hostname", &self.hostname, p)
    }

    /// `write` on a group that has no attributes yet, through `kit` (the merge's output).
    pub(crate) fn write_new(&self, kit: &Kit, g: hid_t) -> Result<(), String> {
        kit.attr_i64(g, "rank", self.rank)?;
        kit.attr_i64(g, "dropped_events", self.dropped_events)?;
        kit.attr_i64(g, "pid", self.pid)?;
        kit.attr_str(g, "hostname", &self.hostname)
    }

    pub(crate) fn read(g: &hdf5::Group) -> RankAttrs {
        RankAttrs {
            rank: read_i64(g, "rank").unwrap_or(-1),
            dropped_events: read_i64(g, "dropped_events").unwrap_or(0),
            pid: read_i64(g, "pid").unwrap_or(0),
            hostname: read_str(g, "hostname").unwrap_or_default(),
        }
    }
}
