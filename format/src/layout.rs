//! Finalize past one node (`docs/scaling.md`, "lay out once, write in parallel"): the serial
//! merge split into a layout that rank 0 makes from the ranks' manifests alone, copies that
//! node leaders make at the same time into the same output, and a commit.
//!
//! 1. Each rank file's manifest (`read_manifest_bytes`: the one stored in the file, else one
//!    built through HDF5) travels to rank 0.
//! 2. Rank 0 `lay_out`s the output: every object the serial merge would create, its datasets'
//!    space allocated, no raw data, root attributes saying the file is incomplete with every
//!    rank missing; the file is closed, and each laid-out rank gets a `CopyPlan`.
//! 3. Each node leader runs `copy_planned` for its node's ranks: plain positioned writes
//!    (`copy_file_range`, `pwrite`) at the planned offsets; the output is not opened with HDF5.
//! 4. Once every leader is done, rank 0 `commit`s: the final root attributes, `complete` last.
//!
//! Invariants: lay_out, every plan copied, then commit gives what `merge` of the same files in
//! rank order gives (same objects, attributes and values); until commit the file says
//! `complete = false` and lists every rank missing; `copy_planned` writes only its plan's byte
//! ranges, all inside the output's length, and only after checking that the rank file is the
//! one the plan was made for; only `lay_out` and `commit` open the output with HDF5 (the rank
//! files are opened with HDF5 only when they hold no manifest).

use crate::attrs::FileAttrs;
use crate::error::AtPath;
use crate::manifest::Manifest;
use crate::outline::create_output;
use crate::plan::{ByteRun, ColumnCopy, CopyPlan};
use crate::raw_copy::{aligns, Sink, Src};
use crate::FormatError;
use std::path::Path;

/// The encoded manifest of the rank file `path` (what `lay_out` takes for that rank): the one
/// `RankWriter` stored in it when it closed it (at most 4 KiB), else one built by opening the
/// file with HDF5 (`describe.rs`: the writer was killed before closing it, or the manifest did
/// not fit in the file's block), of any length. `None` when the file cannot be described for a
/// byte-for-byte copy (not a rank file, a column HDF5 would have to convert): such a rank
/// cannot be laid out from sizes alone.
pub fn read_manifest_bytes(path: &Path) -> Result<Option<Vec<u8>>, FormatError> {
    let src = Src::open(path)?;
    if let Some((_, bytes)) = Manifest::read_encoded(&src.raw, src.len) {
        return Ok(Some(bytes));
    }
    Ok(crate::describe::through_hdf5(path, src.len).and_then(|m| m.encode_detached()))
}

/// Creates `out` (fails if it exists) with every group, attribute and preallocated dataset that
/// `merge` would create for these ranks (`(rank, read_manifest_bytes of its file)`), in rank
/// order, and no raw data; its root attributes are `attrs` but for `complete = false`,
/// `missing_ranks` = every rank below `attrs.ranks` and no `unfinished_ranks`. Returns the copy plan of each rank laid
/// out, in rank order. A rank whose bytes are not a valid manifest of that rank, or that comes
/// a second time, is left out (no group, no plan); if every rank is left out, nothing is
/// created. On any error `out` is removed.
pub fn lay_out(
    out: &Path,
    ranks: &[(u32, Vec<u8>)],
    attrs: &FileAttrs,
) -> Result<Vec<(u32, CopyPlan)>, FormatError> {
    let mut listed: Vec<(u32, Manifest)> = ranks
        .iter()
        .filter_map(|(rank, bytes)| {
            let m = Manifest::decode_detached(bytes)?;
            (m.attrs.rank == i64::from(*rank)).then_some((*rank, m))
        })
        .collect();
    listed.sort_by_key(|(rank, _)| *rank);
    listed.dedup_by_key(|(rank, _)| *rank);
    let fill = |o: &crate::outline::Out| {
        let mut plans = Vec::with_capacity(listed.len());
        for (rank, m) in &listed {
            let mut plan = CopyPlan::new(*rank, m);
            o.listed(*rank, m, |p| {
                let runs = p.runs.iter().map(|r| ByteRun {
                    src: r.addr,
                    dst: p.base + r.first * 8,
                    len: r.elems * 8,
                });
                plan.push(ColumnCopy {
                    align_times: aligns(p.col, &m.clock),
                    runs: runs.collect(),
                });
                Ok(())
            })?;
            plans.push((*rank, plan));
        }
        Ok(plans)
    };
    let incomplete = |plans: &Vec<(u32, CopyPlan)>| {
        if !ranks.is_empty() && plans.is_empty() {
            return Err(FormatError::Layout {
                path: out.to_path_buf(),
                message: format!("none of {} manifests could be laid out", ranks.len()),
            });
        }
        Ok(FileAttrs {
            complete: false,
            missing_ranks: (0..attrs.ranks).collect(),
            unfinished_ranks: Vec::new(),
            ..attrs.clone()
        })
    };
    let mut plans = create_output(out, fill, incomplete)?;
    let len = std::fs::metadata(out).map(|m| m.len()).map_err(|source| {
        let _ = std::fs::remove_file(out);
        FormatError::Io {
            path: out.to_path_buf(),
            source,
        }
    })?;
    for (_, plan) in &mut plans {
        plan.set_output_len(len);
    }
    Ok(plans)
}

/// Copies rank file `input` into the laid-out `out` as `plan` says; returns the rank's events.
/// Safe to run for different plans of one layout at the same time, from any process on any
/// node that sees `out`: `out` is opened for writing only (no create, no truncation, no HDF5)
/// and written only at the plan's byte ranges. Refuses, before writing anything, an input whose
/// manifest (stored, or built through HDF5 as `read_manifest_bytes` builds it) does not match
/// the plan (another rank, length, clock or ranges; none at all) and an output shorter than
/// `lay_out` left it (another layout's file). A longer one is fine: rank 0 records progress
/// (`commit` with the ranks still missing) while leaders copy, and HDF5 only adds or moves
/// metadata there, never into the preallocated raw data the plans write.
pub fn copy_planned(out: &Path, plan: &CopyPlan, input: &Path) -> Result<u64, FormatError> {
    copy_planned_all(out, &[(plan, input)])
        .pop()
        .expect("one result per copy")
}

/// `copy_planned` of several ranks (a node leader's), the output opened once for all of them:
/// one result per `(plan, rank file)`, in order.
pub fn copy_planned_all(
    out: &Path,
    copies: &[(&CopyPlan, &Path)],
) -> Vec<Result<u64, FormatError>> {
    let opened = std::fs::OpenOptions::new()
        .write(true)
        .open(out)
        .and_then(|raw| Ok((raw.metadata()?.len(), raw)));
    match opened {
        Ok((out_len, raw)) => copies
            .iter()
            .map(|(plan, input)| copy_one(out, &raw, out_len, plan, input))
            .collect(),
        Err(e) => copies
            .iter()
            .map(|_| {
                Err(FormatError::Io {
                    path: out.to_path_buf(),
                    source: std::io::Error::new(e.kind(), e.to_string()),
                })
            })
            .collect(),
    }
}

fn copy_one(
    out: &Path,
    raw: &std::fs::File,
    out_len: u64,
    plan: &CopyPlan,
    input: &Path,
) -> Result<u64, FormatError> {
    let refuse = |path: &Path, message: String| FormatError::Layout {
        path: path.to_path_buf(),
        message,
    };
    let src = Src::open(input)?;
    let m = Manifest::read(&src.raw, src.len)
        .or_else(|| crate::describe::through_hdf5(input, src.len))
        .ok_or_else(|| refuse(input, "cannot be described for a raw copy".into()))?;
    if let Some(why) = plan.mismatch(&m) {
        return Err(refuse(
            input,
            format!("not the file rank {}'s plan is for: {why}", plan.rank()),
        ));
    }
    if out_len < plan.output_len() {
        return Err(refuse(
            out,
            format!(
                "the output is {out_len} bytes, the layout of the plan made it {} \
                 (another layout)",
                plan.output_len()
            ),
        ));
    }
    let sink = Sink { raw, path: out };
    for c in plan.columns() {
        let align = c.align_times.then_some(&m.clock);
        for r in &c.runs {
            sink.copy_values(&src, r.src, r.dst, r.len / 8, align)?;
        }
    }
    Ok(plan.events())
}

/// Rewrites the root attributes of the laid-out `out` with `attrs` once every copy is done:
/// `complete` last, after the others are flushed, so a file that says complete has them all.
pub fn commit(out: &Path, attrs: &FileAttrs) -> Result<(), FormatError> {
    let file = crate::files::open_rw(out).at(out)?;
    attrs.rewrite(&file, out)?;
    file.close().at(out)
}

#[cfg(test)]
mod tests;
