//! A rank file's manifest when its user block holds none, built by opening the file with HDF5:
//! its writer was killed before closing it, or the manifest did not fit in the block (a rank
//! with many regions, or millions of events in chunks flushed one buffer at a time). The
//! parallel layout (`layout.rs`) needs a manifest for every rank it lays out, since rank 0
//! cannot see the rank files; the serial merge reads such a file through HDF5 instead.
//! Invariant: the manifest built describes the file as the serial merge's HDF5 path reads it
//! (same regions in the same order, same columns, same runs), or there is none: a file with other
//! than one rank group, a rank attribute that is not its group's, a region without its `name`
//! or whose columns are not the first 3 or all 5 of `crate::COLUMNS` with equal lengths, a
//! column that cannot be copied byte for byte (`raw_runs`).

use crate::attrs::{read_clock, read_i64, read_str, RankAttrs, WINDOW};
use crate::manifest::{raw_runs, Manifest, Region};
use crate::names::encode_region_name;
use std::path::Path;

/// The manifest of the rank file `path` (`file_len` bytes) as HDF5 sees it, where it has one.
pub(crate) fn through_hdf5(path: &Path, file_len: u64) -> Option<Manifest> {
    let file = crate::files::open(path).ok()?;
    let members = file.member_names().ok()?;
    let [group] = members.as_slice() else {
        return None;
    };
    let rank: u32 = group.strip_prefix("rank")?.parse().ok()?;
    let sg = file.group(group).ok()?;
    let attrs = RankAttrs::read(&sg);
    if attrs.rank != i64::from(rank) || crate::names::rank_group_name(rank) != *group {
        return None;
    }
    let mut regions = Vec::new();
    if sg.link_exists("regions") {
        let rg = sg.group("regions").ok()?;
        // In the order HDF5 lists them (a rank file's: creation order), as the serial merge
        // creates them.
        for link in rg.member_names().ok()? {
            regions.push(region(&rg.group(&link).ok()?, &link, file_len)?);
        }
    }
    Some(Manifest {
        file_len,
        finished: read_i64(&sg, crate::rank_writer::FINISHED) == Some(1),
        window: WINDOW.map(|n| read_i64(&sg, n)),
        clock: read_clock(&sg),
        attrs,
        regions,
    })
}

/// The region `g` (linked as `link`), if every column of it can be copied byte for byte.
fn region(g: &hdf5::Group, link: &str, file_len: u64) -> Option<Region> {
    let name = read_str(g, "name")?;
    if encode_region_name(&name) != link {
        return None;
    }
    let present: Vec<&str> = crate::COLUMNS
        .into_iter()
        .filter(|c| g.link_exists(c))
        .collect();
    if present[..] != crate::COLUMNS[..3] && present[..] != crate::COLUMNS[..] {
        return None;
    }
    let mut len = None;
    let mut columns = Vec::with_capacity(present.len());
    for col in present {
        let ds = g.dataset(col).ok()?;
        let n = ds.size();
        if *len.get_or_insert(n) != n {
            return None;
        }
        columns.push(match n {
            0 => Vec::new(),
            n => raw_runs(&ds, n, file_len)?,
        });
    }
    Some(Region {
        name,
        len: len? as u64,
        columns,
    })
}
