//! The per-region summary of a profile, shared by scope-run (after the run) and scope-pproc.
//! For each region over the selected ranks: calls, total time, mean, shortest and longest call,
//! and the imbalance across ranks as the reference tool defines it: max/mean − 1 of the
//! per-rank totals, over the ranks that called the region (0 when fewer than two did).
//! When the ranks hold MPI call regions (`[mpi] calls`), the summary also has the MPI view
//! (`mpi`: time in MPI against compute per rank, and per call; see `summary::mpi`).
//! Invariants: numbers come only from `start_times`/`end_times` as stored; nothing is sampled;
//! the file is streamed in slices of `CHUNK` events, so memory does not grow with its size.

use crate::progress::Progress;
use scope_format::{FileAttrs, FormatError, ProfileReader};
use std::collections::BTreeMap;

mod mpi;

pub use mpi::{format_bytes, union_within, MpiCall, MpiRank, MpiView};

/// Events read per slice when streaming (3 columns × 8 B × 64 Ki = 1.5 MiB).
pub const CHUNK: usize = 1 << 16;

#[derive(Debug, Clone, PartialEq)]
pub struct RankTotal {
    pub rank: u32,
    pub calls: u64,
    pub total_ns: i128,
}

#[derive(Debug, Clone, PartialEq)]
pub struct RegionStats {
    pub name: String,
    pub calls: u64,
    pub total_ns: i128,
    /// Shortest and longest single call.
    pub min_ns: i64,
    pub max_ns: i64,
    /// The ranks that called the region, ascending.
    pub per_rank: Vec<RankTotal>,
    /// max/mean − 1 of `per_rank` totals (0.25 = the slowest rank took 25% more than the mean).
    pub imbalance: f64,
    /// The rank with the largest total (the first on ties).
    pub slowest_rank: u32,
    /// An MPI call recorded by `[mpi] calls` (the region has a `peer` column on some rank).
    pub mpi_call: bool,
}

impl RegionStats {
    pub fn mean_ns(&self) -> f64 {
        mean_ns(self.total_ns, self.calls)
    }
}

/// Mean time per call (NaN without calls), for the region and MPI call tables.
pub(crate) fn mean_ns(total_ns: i128, calls: u64) -> f64 {
    if calls == 0 {
        f64::NAN
    } else {
        total_ns as f64 / calls as f64
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    pub ranks: Vec<u32>,
    pub events: u64,
    /// Events the selected ranks could not record (full buffers), from the rank attributes.
    pub dropped: u64,
    /// Sorted by total time, largest first, then by name.
    pub regions: Vec<RegionStats>,
    pub attrs: FileAttrs,
    /// Earliest start and latest end over the selected ranks (None without events).
    pub span: Option<(i64, i64)>,
    /// Distinct thread ids per selected rank, ascending ([0] when the file has no thread_ids).
    pub threads: BTreeMap<u32, Vec<i64>>,
    /// Where the ranks wait: present when the selected ranks hold MPI call regions.
    pub mpi: Option<MpiView>,
}

/// Summarises `reader`, restricted to `select` when given (ranks must be in the file).
pub fn compute(reader: &ProfileReader, select: Option<&[u32]>) -> Result<Summary, FormatError> {
    compute_with(reader, select, &mut Progress::hidden())
}

/// The ranks of `select` that the file holds, or all of them.
pub fn selected_ranks(
    reader: &ProfileReader,
    select: Option<&[u32]>,
) -> Result<Vec<u32>, FormatError> {
    let present = reader.ranks()?;
    Ok(match select {
        Some(s) => s.iter().copied().filter(|r| present.contains(r)).collect(),
        None => present,
    })
}

/// Total events of the selected ranks, from the dataset sizes (reads no events).
pub fn count_events(reader: &ProfileReader, ranks: &[u32]) -> Result<u64, FormatError> {
    let mut n = 0;
    for &rank in ranks {
        for name in reader.regions(rank)? {
            n += reader.count(rank, &name)? as u64;
        }
    }
    Ok(n)
}

/// Running figures of one region on one rank.
#[derive(Default)]
struct Acc {
    calls: u64,
    total: i128,
    min: Option<i64>,
    max: Option<i64>,
}

/// As `compute`, advancing `progress` by the events read.
pub fn compute_with(
    reader: &ProfileReader,
    select: Option<&[u32]>,
    progress: &mut Progress,
) -> Result<Summary, FormatError> {
    let ranks = selected_ranks(reader, select)?;
    let mut per_region: BTreeMap<String, Vec<(u32, Acc, bool)>> = BTreeMap::new();
    let (mut events, mut dropped) = (0u64, 0u64);
    let mut span: Option<(i64, i64)> = None;
    let mut threads = BTreeMap::new();
    let mut mpi_ranks = Vec::new();
    let mut mpi_names: BTreeMap<String, Vec<(u32, i128)>> = BTreeMap::new();
    for &rank in &ranks {
        dropped += reader
            .rank_attrs(rank)
            .map_or(0, |a| a.dropped_events.max(0) as u64);
        let mut tids: Vec<i64> = Vec::new();
        let mut ranked = mpi::RankAcc::new(reader.window(rank)?);
        for name in reader.regions(rank)? {
            let mut acc = Acc::default();
            let is_mpi = reader.is_mpi_call(rank, &name)?;
            reader.for_each_chunk::<FormatError, _>(rank, &name, CHUNK, |s, e, t| {
                for (&s, &e) in s.iter().zip(e) {
                    let d = e - s;
                    acc.total += i128::from(d);
                    acc.min = Some(acc.min.map_or(d, |m| m.min(d)));
                    acc.max = Some(acc.max.map_or(d, |m| m.max(d)));
                    span = Some(span.map_or((s, e), |(a, b)| (a.min(s), b.max(e))));
                    ranked.note_span(s, e);
                }
                if is_mpi {
                    ranked.add_calls(&name, s, e);
                }
                note_threads(&mut tids, if t.is_empty() { &[0] } else { t });
                acc.calls += s.len() as u64;
                progress.add(s.len() as u64);
                Ok(())
            })?;
            if is_mpi {
                ranked.add_bytes(
                    &name,
                    &reader
                        .column(rank, &name, scope_format::BYTES)?
                        .unwrap_or_default(),
                );
            }
            events += acc.calls;
            if acc.calls > 0 {
                per_region
                    .entry(name)
                    .or_default()
                    .push((rank, acc, is_mpi));
            }
        }
        tids.sort_unstable();
        threads.insert(rank, if tids.is_empty() { vec![0] } else { tids });
        for (name, b) in &ranked.bytes {
            mpi_names.entry(name.clone()).or_default().push((rank, *b));
        }
        mpi_ranks.push((ranked.has_calls(), ranked.finish(rank)));
    }
    progress.finish();
    let mut regions: Vec<RegionStats> = per_region
        .into_iter()
        .map(|(name, rows)| stats(name, rows))
        .collect();
    regions.sort_by(|a, b| b.total_ns.cmp(&a.total_ns).then(a.name.cmp(&b.name)));
    let mpi = mpi_ranks.iter().any(|r| r.0).then(|| MpiView {
        calls: mpi::calls(&regions, &mpi_names),
        ranks: mpi_ranks.into_iter().map(|r| r.1).collect(),
    });
    Ok(Summary {
        ranks,
        events,
        dropped,
        regions,
        attrs: reader.attrs()?,
        span,
        threads,
        mpi,
    })
}

/// Adds the thread ids of `t` not yet in `seen` (usually one id per slice, so cheap).
fn note_threads(seen: &mut Vec<i64>, t: &[i64]) {
    let mut last = None;
    for &id in t {
        if last != Some(id) && !seen.contains(&id) {
            seen.push(id);
        }
        last = Some(id);
    }
}

fn stats(name: String, rows: Vec<(u32, Acc, bool)>) -> RegionStats {
    let per_rank: Vec<RankTotal> = rows
        .iter()
        .map(|(rank, a, _)| RankTotal {
            rank: *rank,
            calls: a.calls,
            total_ns: a.total,
        })
        .collect();
    let total_ns: i128 = per_rank.iter().map(|r| r.total_ns).sum();
    let slowest = per_rank
        .iter()
        .rev()
        .max_by_key(|r| r.total_ns)
        .map_or(0, |r| r.rank);
    RegionStats {
        name,
        calls: per_rank.iter().map(|r| r.calls).sum(),
        total_ns,
        min_ns: rows.iter().filter_map(|r| r.1.min).min().unwrap_or(0),
        max_ns: rows.iter().filter_map(|r| r.1.max).max().unwrap_or(0),
        imbalance: imbalance(&per_rank),
        per_rank,
        slowest_rank: slowest,
        mpi_call: rows.iter().any(|r| r.2),
    }
}

/// max/mean − 1 of the positive per-rank totals, 0 with fewer than two (the reference's rule).
pub fn imbalance(per_rank: &[RankTotal]) -> f64 {
    let totals: Vec<f64> = per_rank
        .iter()
        .filter(|r| r.total_ns > 0)
        .map(|r| r.total_ns as f64)
        .collect();
    if totals.len() < 2 {
        return 0.0;
    }
    let mean = totals.iter().sum::<f64>() / totals.len() as f64;
    totals.iter().copied().fold(f64::MIN, f64::max) / mean - 1.0
}

/// A duration in ns as 3 significant digits with a human unit: `950 ns`, `1.23 µs`, `45.6 ms`,
/// `2.00 s` (seconds beyond 999 are shown whole).
pub fn format_duration(ns: f64) -> String {
    if !ns.is_finite() {
        return "-".to_string();
    }
    let sign = if ns < 0.0 { "-" } else { "" };
    let ns = ns.abs();
    if ns.round() < 1000.0 {
        return format!("{sign}{:.0} ns", ns);
    }
    for (scale, unit) in [(1e3, "µs"), (1e6, "ms"), (1e9, "s")] {
        let v = ns / scale;
        let decimals = if v >= 99.95 {
            0
        } else if v >= 9.995 {
            1
        } else {
            2
        };
        let shown = format!("{v:.decimals$}");
        if shown.parse::<f64>().unwrap_or(v) < 1000.0 || unit == "s" {
            return format!("{sign}{shown} {unit}");
        }
    }
    unreachable!("the seconds branch always returns")
}

/// The table, one line per region, columns aligned. Imbalance is shown with the slowest rank
/// when more than one rank called the region, else `-`.
pub fn table(s: &Summary) -> String {
    if s.regions.is_empty() {
        return "no region was called on the selected ranks\n".to_string();
    }
    let mut rows = vec![[
        "region",
        "calls",
        "total",
        "mean",
        "min",
        "max",
        "imbalance",
    ]
    .map(String::from)];
    for r in &s.regions {
        let imb = if r.per_rank.len() > 1 {
            format!("{:.1}% (r{})", r.imbalance * 100.0, r.slowest_rank)
        } else {
            "-".to_string()
        };
        rows.push([
            r.name.clone(),
            r.calls.to_string(),
            format_duration(r.total_ns as f64),
            format_duration(r.mean_ns()),
            format_duration(r.min_ns as f64),
            format_duration(r.max_ns as f64),
            imb,
        ]);
    }
    aligned(&rows, &[true, false, false, false, false, false, false])
}

/// Rows as lines of columns two spaces apart, each cell padded to its column's width on the
/// right (`left[c]`) or on the left; trailing blanks trimmed.
fn aligned<const N: usize>(rows: &[[String; N]], left: &[bool; N]) -> String {
    let widths: Vec<usize> = (0..N)
        .map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for row in rows {
        let mut line = String::new();
        for (c, cell) in row.iter().enumerate() {
            let pad = " ".repeat(widths[c] - cell.chars().count());
            if c > 0 {
                line.push_str("  ");
            }
            if left[c] {
                line.push_str(cell);
                line.push_str(&pad);
            } else {
                line.push_str(&pad);
                line.push_str(cell);
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// The header and notes (without tool prefix) followed by the table, and by the MPI tables
/// after a blank line when the profile has MPI calls.
pub fn render(s: &Summary, header: &str) -> (Vec<String>, String) {
    let mut lines = vec![format!(
        "{header}: {} ranks, {} events",
        s.ranks.len(),
        s.events
    )];
    if s.dropped > 0 {
        lines.push(format!(
            "{} events were dropped (recording buffers full); totals are lower bounds",
            s.dropped
        ));
    }
    lines.extend(incomplete_note(s));
    let mut text = table(s);
    if let Some(m) = &s.mpi {
        text.push('\n');
        text.push_str(&mpi::tables(m));
    }
    (lines, text)
}

/// The line naming the ranks that did not finish (`unfinished_ranks`: their data may be cut
/// short) and those with no data in the file (`missing_ranks`), if the file says it is
/// incomplete.
pub fn incomplete_note(s: &Summary) -> Option<String> {
    if s.attrs.complete {
        return None;
    }
    let list = |v: &[i64]| {
        v.iter()
            .map(|r| r.to_string())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut parts = Vec::new();
    if !s.attrs.unfinished_ranks.is_empty() {
        parts.push(format!(
            "rank(s) {} did not finish; their data may be cut short",
            list(&s.attrs.unfinished_ranks)
        ));
    }
    if !s.attrs.missing_ranks.is_empty() {
        parts.push(format!(
            "rank(s) {} have no data in the file",
            list(&s.attrs.missing_ranks)
        ));
    }
    Some(if parts.is_empty() {
        "the profile is incomplete: some ranks did not finish".to_string()
    } else {
        format!("the profile is incomplete: {}", parts.join("; "))
    })
}

#[cfg(test)]
mod tests;
