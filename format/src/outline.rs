//! Creating a merged file's objects with HDF5's C calls (`ffi.rs`): the rank groups with their
//! attributes, the region groups and the contiguous int64 datasets whose space is allocated at
//! creation (so each column's byte offset in the file is fixed before any byte is written), and
//! the root attributes. Shared by the serial merge (`merge.rs`), which copies each column as
//! soon as it exists, and the parallel layout (`layout.rs`), which only records where each
//! column goes.
//! Invariants: objects are created in one order whoever calls (rank group, its attributes, its
//! regions in the manifest's order, each region's columns in `crate::COLUMNS` order), so both
//! paths give the same file; an output that cannot be completed is removed.

use crate::attrs::{FileAttrs, RankAttrs};
use crate::clock::ClockSync;
use crate::error::AtPath;
use crate::ffi::{self, Hid, Kit};
use crate::manifest::{Manifest, Run};
use crate::names::{encode_region_name, rank_group_name};
use crate::FormatError;
use std::path::Path;

/// The output being created: HDF5's handle and what its objects are created with.
pub(crate) struct Out<'a> {
    pub file: &'a hdf5::File,
    pub path: &'a Path,
    pub kit: Kit,
}

/// A column just created from a manifest: its name, the byte offset of its data in the output,
/// and where its elements lie in the rank file.
pub(crate) struct Placed<'m> {
    pub col: &'static str,
    pub base: u64,
    pub runs: &'m [Run],
}

/// Creates `out` (fails if it exists), lets `fill` create its rank groups, then writes the root
/// attributes `attrs` computes from what `fill` returned, flushes and closes. If anything fails
/// (a full disk, `attrs` refusing), `out` is removed: a failed merge or layout leaves no file
/// that a reader cannot open or that blocks the next run.
pub(crate) fn create_output<R>(
    out: &Path,
    fill: impl FnOnce(&Out) -> Result<R, FormatError>,
    attrs: impl FnOnce(&R) -> Result<FileAttrs, FormatError>,
) -> Result<R, FormatError> {
    let file = crate::files::create_excl(out).at(out)?;
    let result = Out::new(&file, out).and_then(|o| {
        let r = fill(&o)?;
        attrs(&r)?
            .write_new(&o.kit, file.id())
            .map_err(|m| o.err(m))?;
        file.flush().at(out)?;
        Ok(r)
    });
    let closed = file.close().at(out);
    match (result, closed) {
        (Ok(r), Ok(())) => Ok(r),
        (Err(e), _) | (Ok(_), Err(e)) => {
            let _ = std::fs::remove_file(out);
            Err(e)
        }
    }
}

impl<'a> Out<'a> {
    fn new(file: &'a hdf5::File, path: &'a Path) -> Result<Out<'a>, FormatError> {
        let kit = Kit::new().map_err(|message| FormatError::Layout {
            path: path.to_path_buf(),
            message,
        })?;
        Ok(Out { file, path, kit })
    }

    pub(crate) fn err(&self, message: String) -> FormatError {
        FormatError::Layout {
            path: self.path.to_path_buf(),
            message,
        }
    }

    /// Creates `rank<N>` with its attributes (its MPI window, where known, in rank 0's time
    /// base; its clock samples and error bound, where measured) and its `regions` group;
    /// returns the latter.
    pub(crate) fn rank_group(
        &self,
        rank: u32,
        attrs: &RankAttrs,
        window: [Option<i64>; 2],
        clock: &ClockSync,
    ) -> Result<Hid, FormatError> {
        let e = |m| self.err(m);
        let g = ffi::create_group(self.file.id(), &rank_group_name(rank)).map_err(e)?;
        attrs.write_new(&self.kit, g.id()).map_err(e)?;
        for (name, v) in crate::attrs::WINDOW.iter().zip(window) {
            if let Some(v) = v {
                self.kit
                    .attr_i64(g.id(), name, clock.to_reference(v))
                    .map_err(e)?;
            }
        }
        for (name, sample) in [
            (crate::CLOCK_SYNC_BEGIN, clock.begin),
            (crate::CLOCK_SYNC_END, clock.end),
        ] {
            if let Some(sample) = sample {
                self.kit
                    .attr_i64s(g.id(), name, &sample.to_array())
                    .map_err(e)?;
            }
        }
        if clock.begin.is_some() || clock.end.is_some() {
            self.kit
                .attr_i64(g.id(), crate::CLOCK_ERROR, clock.error_ns())
                .map_err(e)?;
        }
        ffi::create_group(g.id(), "regions").map_err(e)
    }

    /// Creates a region's group, with its `name` attribute when there is one.
    pub(crate) fn region_group(
        &self,
        regions: &Hid,
        link: &str,
        name: Option<&str>,
    ) -> Result<Hid, FormatError> {
        let e = |m| self.err(m);
        let g = ffi::create_group(regions.id(), link).map_err(e)?;
        if let Some(name) = name {
            self.kit.attr_str(g.id(), "name", name).map_err(e)?;
        }
        Ok(g)
    }

    /// Creates every object of rank `rank` from its manifest `m`, handing each column of a
    /// non-empty region to `placed` as soon as it exists (the serial merge copies it there and
    /// then; the layout records it). Returns the rank's events.
    pub(crate) fn listed<'m>(
        &self,
        rank: u32,
        m: &'m Manifest,
        mut placed: impl FnMut(Placed<'m>) -> Result<(), FormatError>,
    ) -> Result<u64, FormatError> {
        let regions = self.rank_group(rank, &m.attrs, m.window, &m.clock)?;
        let mut events = 0u64;
        for r in &m.regions {
            let g = self.region_group(&regions, &encode_region_name(&r.name), Some(&r.name))?;
            let space = ffi::space_1d(r.len).map_err(|m| self.err(m))?;
            for (col, runs) in crate::COLUMNS.iter().zip(&r.columns) {
                let (_ds, offset) = self
                    .kit
                    .column(g.id(), col, &space)
                    .map_err(|m| self.err(m))?;
                if r.len == 0 {
                    continue;
                }
                let base = offset.ok_or_else(|| self.err(format!("{col}: no space allocated")))?;
                placed(Placed { col, base, runs })?;
            }
            events += r.len;
        }
        Ok(events)
    }
}
