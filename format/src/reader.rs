//! Reading a profile file (merged or per-rank).
//! Invariant: region names returned are the configured names (the `name` attribute, else the
//! decoded link name), and `intervals` accepts exactly those names.

use crate::attrs::{FileAttrs, RankAttrs};
use crate::error::AtPath;
use crate::names::{decode_region_name, encode_region_name, rank_group_name};
use crate::FormatError;
use std::path::{Path, PathBuf};

/// The columns of one region on one rank.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Intervals {
    pub start_times: Vec<i64>,
    pub end_times: Vec<i64>,
    /// Empty when the file has no `thread_ids` (e.g. written by the reference tool).
    pub thread_ids: Vec<i64>,
}

impl Intervals {
    pub fn len(&self) -> usize {
        self.start_times.len()
    }
    pub fn is_empty(&self) -> bool {
        self.start_times.is_empty()
    }
}

pub struct ProfileReader {
    path: PathBuf,
    file: hdf5::File,
}

impl ProfileReader {
    pub fn open(path: &Path) -> Result<ProfileReader, FormatError> {
        let file = crate::files::open(path).at(path)?;
        Ok(ProfileReader {
            path: path.to_path_buf(),
            file,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Root attributes (defaults where absent, e.g. in files of the reference tool).
    pub fn attrs(&self) -> Result<FileAttrs, FormatError> {
        Ok(FileAttrs::read(&self.file))
    }

    /// The ranks present, in ascending order.
    pub fn ranks(&self) -> Result<Vec<u32>, FormatError> {
        let mut ranks: Vec<u32> = self
            .file
            .member_names()
            .at(&self.path)?
            .iter()
            .filter_map(|n| n.strip_prefix("rank")?.parse().ok())
            .collect();
        ranks.sort_unstable();
        Ok(ranks)
    }

    /// A rank's clock samples against rank 0's and the error bound of its aligned times
    /// (`crate::clock`), where measured.
    pub fn clock(&self, rank: u32) -> Result<(crate::ClockSync, Option<i64>), FormatError> {
        let g = self.file.group(&rank_group_name(rank)).at(&self.path)?;
        Ok((
            crate::attrs::read_clock(&g),
            crate::attrs::read_i64(&g, crate::CLOCK_ERROR),
        ))
    }

    pub fn rank_attrs(&self, rank: u32) -> Result<RankAttrs, FormatError> {
        let g = self.file.group(&rank_group_name(rank)).at(&self.path)?;
        Ok(RankAttrs::read(&g))
    }

    /// The rank's MPI window (end of `MPI_Init`, start of `MPI_Finalize`, ns), where recorded.
    pub fn window(&self, rank: u32) -> Result<(Option<i64>, Option<i64>), FormatError> {
        let g = self.file.group(&rank_group_name(rank)).at(&self.path)?;
        let [b, e] = crate::attrs::WINDOW.map(|n| crate::attrs::read_i64(&g, n));
        Ok((b, e))
    }

    /// True when the region is an MPI call recorded by `[mpi] calls` (it has a `peer` column).
    pub fn is_mpi_call(&self, rank: u32, region: &str) -> Result<bool, FormatError> {
        Ok(self.region_group(rank, region)?.link_exists(crate::PEER))
    }

    /// A further column of a region (`bytes`, `peer`), or `None` if the region has none.
    pub fn column(
        &self,
        rank: u32,
        region: &str,
        name: &str,
    ) -> Result<Option<Vec<i64>>, FormatError> {
        let g = self.region_group(rank, region)?;
        if !g.link_exists(name) {
            return Ok(None);
        }
        let v = g
            .dataset(name)
            .at(&self.path)?
            .read_raw::<i64>()
            .at(&self.path)?;
        Ok(Some(v))
    }

    fn regions_group(&self, rank: u32) -> Result<Option<hdf5::Group>, FormatError> {
        let g = self.file.group(&rank_group_name(rank)).at(&self.path)?;
        if !g.link_exists("regions") {
            return Ok(None);
        }
        Ok(Some(g.group("regions").at(&self.path)?))
    }

    /// Region names recorded on `rank`, sorted.
    pub fn regions(&self, rank: u32) -> Result<Vec<String>, FormatError> {
        let Some(g) = self.regions_group(rank)? else {
            return Ok(Vec::new());
        };
        let mut names = Vec::new();
        for link in g.member_names().at(&self.path)? {
            let rg = g.group(&link).at(&self.path)?;
            names.push(
                crate::attrs::read_str(&rg, "name").unwrap_or_else(|| decode_region_name(&link)),
            );
        }
        names.sort();
        Ok(names)
    }

    /// Number of intervals of a region on a rank, without reading them.
    pub fn count(&self, rank: u32, region: &str) -> Result<usize, FormatError> {
        let g = self.region_group(rank, region)?;
        Ok(g.dataset("start_times").at(&self.path)?.size())
    }

    fn region_group(&self, rank: u32, region: &str) -> Result<hdf5::Group, FormatError> {
        let g = self
            .regions_group(rank)?
            .ok_or_else(|| FormatError::Layout {
                path: self.path.clone(),
                message: format!("rank {rank} has no regions"),
            })?;
        g.group(&encode_region_name(region)).at(&self.path)
    }

    /// Streams the intervals of a region on a rank in file order, in slices of at most
    /// `chunk_len` (> 0) events: `f(start_times, end_times, thread_ids)` with equal-length
    /// slices (`thread_ids` empty when the file has none). Memory is bounded by `chunk_len`
    /// whatever the region's size. The first error from `f` stops the walk and is returned.
    pub fn for_each_chunk<E, F>(
        &self,
        rank: u32,
        region: &str,
        chunk_len: usize,
        mut f: F,
    ) -> Result<(), E>
    where
        E: From<FormatError>,
        F: FnMut(&[i64], &[i64], &[i64]) -> Result<(), E>,
    {
        let g = self.region_group(rank, region)?;
        let open = |name: &str| g.dataset(name).at(&self.path);
        let (start, end) = (open("start_times")?, open("end_times")?);
        let thread = if g.link_exists("thread_ids") {
            Some(open("thread_ids")?)
        } else {
            None
        };
        let n = start.size();
        if end.size() != n || thread.as_ref().is_some_and(|t| t.size() != n) {
            return Err(FormatError::Layout {
                path: self.path.clone(),
                message: format!("rank {rank} region {region}: column lengths differ"),
            }
            .into());
        }
        let read = |ds: &hdf5::Dataset, from: usize, to: usize| {
            ds.read_slice_1d::<i64, _>(from..to)
                .at(&self.path)
                .map(|a| a.into_raw_vec_and_offset().0)
        };
        let mut from = 0;
        while from < n {
            let to = (from + chunk_len.max(1)).min(n);
            let s = read(&start, from, to)?;
            let e = read(&end, from, to)?;
            let t = match &thread {
                Some(t) => read(t, from, to)?,
                None => Vec::new(),
            };
            f(&s, &e, &t)?;
            from = to;
        }
        Ok(())
    }

    /// All intervals of a region on a rank.
    pub fn intervals(&self, rank: u32, region: &str) -> Result<Intervals, FormatError> {
        let g = self.region_group(rank, region)?;
        let read = |name: &str| -> Result<Vec<i64>, FormatError> {
            g.dataset(name)
                .at(&self.path)?
                .read_raw::<i64>()
                .at(&self.path)
        };
        let start_times = read("start_times")?;
        let end_times = read("end_times")?;
        let thread_ids = if g.link_exists("thread_ids") {
            read("thread_ids")?
        } else {
            Vec::new()
        };
        if start_times.len() != end_times.len() {
            return Err(FormatError::Layout {
                path: self.path.clone(),
                message: format!("rank {rank} region {region}: start/end lengths differ"),
            });
        }
        Ok(Intervals {
            start_times,
            end_times,
            thread_ids,
        })
    }
}
