//! The MPI view of a summary ("where do my ranks wait"), present when the selected ranks hold
//! MPI call regions (`[mpi] calls`: regions with a `peer` column).
//! Per rank: the wall time, the rank's MPI window (end of `MPI_Init` → start of `MPI_Finalize`)
//! where recorded, else its first start → last end (per bound: a rank that never reached
//! `MPI_Finalize` ends at its last end); the MPI time, the length of the union of its MPI call
//! intervals clipped to that window, so calls of several threads that overlap count once;
//! compute = wall − MPI; and the call with the most (clipped, summed) time.
//! Per call: calls, total and bytes over the selected ranks (all calls, as the region table),
//! and the rank with the largest total.
//! Invariants: integer ns and bytes throughout (exact); a rank's intervals are held while that
//! rank is read (16 B per MPI call), then only its figures.

use super::{format_duration, RegionStats};
use std::collections::BTreeMap;

/// One rank's figures.
#[derive(Debug, Clone, PartialEq)]
pub struct MpiRank {
    pub rank: u32,
    /// The interval the figures are taken over (ns); `wall_ns` is its length (0 if empty).
    pub window: (i64, i64),
    /// Both bounds come from the recorded MPI window (else from the rank's events, per bound).
    pub recorded_window: bool,
    pub wall_ns: i64,
    /// Length of the union of the MPI call intervals inside `window`.
    pub mpi_ns: i64,
    /// The MPI call with the most time inside `window` (summed over its calls) and that time.
    pub top_call: Option<(String, i64)>,
}

impl MpiRank {
    pub fn compute_ns(&self) -> i64 {
        self.wall_ns - self.mpi_ns
    }
    /// MPI time / wall time (NaN for an empty window).
    pub fn fraction(&self) -> f64 {
        if self.wall_ns <= 0 {
            f64::NAN
        } else {
            self.mpi_ns as f64 / self.wall_ns as f64
        }
    }
}

/// One MPI call over the selected ranks.
#[derive(Debug, Clone, PartialEq)]
pub struct MpiCall {
    pub name: String,
    pub calls: u64,
    pub total_ns: i128,
    /// Sum of the `bytes` column.
    pub bytes: i128,
    /// Bytes per rank that called it, ascending by rank.
    pub per_rank_bytes: Vec<(u32, i128)>,
    /// The rank with the largest total (the first on ties) and that total.
    pub most_rank: u32,
    pub most_ns: i128,
}

impl MpiCall {
    pub fn mean_ns(&self) -> f64 {
        super::mean_ns(self.total_ns, self.calls)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct MpiView {
    /// Every selected rank, ascending (ranks without MPI calls have 0 MPI time).
    pub ranks: Vec<MpiRank>,
    /// Sorted by total time, largest first, then by name.
    pub calls: Vec<MpiCall>,
}

impl MpiView {
    /// (Σ MPI time, Σ wall time) over the ranks.
    pub fn totals(&self) -> (i128, i128) {
        self.ranks.iter().fold((0, 0), |(m, w), r| {
            (m + i128::from(r.mpi_ns), w + i128::from(r.wall_ns))
        })
    }
}

/// What is gathered about one rank while its regions are streamed.
pub(super) struct RankAcc {
    /// Clip bounds: the recorded window, or unbounded on a side without one.
    lo: i64,
    hi: i64,
    recorded: (Option<i64>, Option<i64>),
    /// First start and last end over all regions of the rank.
    span: Option<(i64, i64)>,
    /// MPI call intervals, clipped, non-empty.
    intervals: Vec<(i64, i64)>,
    /// Per MPI call: time inside the window.
    per_call: BTreeMap<String, i64>,
    /// Per MPI call: bytes.
    pub(super) bytes: BTreeMap<String, i128>,
}

impl RankAcc {
    pub(super) fn new(window: (Option<i64>, Option<i64>)) -> RankAcc {
        RankAcc {
            lo: window.0.unwrap_or(i64::MIN),
            hi: window.1.unwrap_or(i64::MAX),
            recorded: window,
            span: None,
            intervals: Vec::new(),
            per_call: BTreeMap::new(),
            bytes: BTreeMap::new(),
        }
    }

    /// Every interval of the rank (MPI call or not) goes through here.
    pub(super) fn note_span(&mut self, s: i64, e: i64) {
        self.span = Some(self.span.map_or((s, e), |(a, b)| (a.min(s), b.max(e))));
    }

    /// The calls of one MPI call region, in slices.
    pub(super) fn add_calls(&mut self, name: &str, start: &[i64], end: &[i64]) {
        let mut inside = 0i64;
        for (&s, &e) in start.iter().zip(end) {
            let (a, b) = (s.max(self.lo), e.min(self.hi));
            if a < b {
                self.intervals.push((a, b));
                inside += b - a;
            }
        }
        *self.per_call.entry(name.to_string()).or_default() += inside;
    }

    pub(super) fn add_bytes(&mut self, name: &str, bytes: &[i64]) {
        let sum: i128 = bytes.iter().map(|&b| i128::from(b)).sum();
        *self.bytes.entry(name.to_string()).or_default() += sum;
    }

    pub(super) fn has_calls(&self) -> bool {
        !self.per_call.is_empty()
    }

    pub(super) fn finish(mut self, rank: u32) -> MpiRank {
        let begin = self.recorded.0.or(self.span.map(|s| s.0));
        let end = self.recorded.1.or(self.span.map(|s| s.1));
        let window = match (begin, end) {
            (Some(b), Some(e)) => (b, e),
            _ => (0, 0),
        };
        let (b, e) = window;
        let mpi_ns = union_within(&mut self.intervals, b, e);
        let top_call = self
            .per_call
            .iter()
            .rev()
            .max_by_key(|(_, &t)| t)
            .map(|(n, &t)| (n.clone(), t));
        MpiRank {
            rank,
            window,
            recorded_window: self.recorded.0.is_some() && self.recorded.1.is_some(),
            wall_ns: (e - b).max(0),
            mpi_ns,
            top_call,
        }
    }
}

/// Length of the union of `iv` inside [lo, hi] (sorts `iv`).
pub fn union_within(iv: &mut [(i64, i64)], lo: i64, hi: i64) -> i64 {
    iv.sort_unstable();
    let mut total = 0i64;
    let mut cur: Option<(i64, i64)> = None;
    for &(s, e) in iv.iter() {
        let (s, e) = (s.max(lo), e.min(hi));
        if s >= e {
            continue;
        }
        cur = match cur {
            Some((a, b)) if s <= b => Some((a, b.max(e))),
            Some((a, b)) => {
                total += b - a;
                Some((s, e))
            }
            None => Some((s, e)),
        };
    }
    total + cur.map_or(0, |(a, b)| b - a)
}

/// The per-call rows from the region statistics of MPI call regions and their bytes.
pub(super) fn calls(
    regions: &[RegionStats],
    bytes: &BTreeMap<String, Vec<(u32, i128)>>,
) -> Vec<MpiCall> {
    let mut out: Vec<MpiCall> = regions
        .iter()
        .filter(|r| r.mpi_call)
        .map(|r| {
            let per_rank_bytes = bytes.get(&r.name).cloned().unwrap_or_default();
            let most = r.per_rank.iter().find(|p| p.rank == r.slowest_rank);
            MpiCall {
                name: r.name.clone(),
                calls: r.calls,
                total_ns: r.total_ns,
                bytes: per_rank_bytes.iter().map(|b| b.1).sum(),
                per_rank_bytes,
                most_rank: r.slowest_rank,
                most_ns: most.map_or(0, |p| p.total_ns),
            }
        })
        .collect();
    out.sort_by(|a, b| b.total_ns.cmp(&a.total_ns).then(a.name.cmp(&b.name)));
    out
}

/// Bytes with a binary unit and 3 significant digits: `0 B`, `1000 B`, `4.00 KiB`, `1.50 MiB`.
pub fn format_bytes(b: i128) -> String {
    let sign = if b < 0 { "-" } else { "" };
    let a = b.unsigned_abs();
    if a < 1024 {
        return format!("{sign}{a} B");
    }
    let mut v = a as f64;
    for unit in ["KiB", "MiB", "GiB", "TiB", "PiB"] {
        v /= 1024.0;
        let decimals = if v >= 99.95 {
            0
        } else if v >= 9.995 {
            1
        } else {
            2
        };
        let shown = format!("{v:.decimals$}");
        if shown.parse::<f64>().unwrap_or(v) < 1024.0 || unit == "PiB" {
            return format!("{sign}{shown} {unit}");
        }
    }
    unreachable!("the PiB branch always returns")
}

/// A share as a percentage with one decimal, `-` when undefined.
fn percent(f: f64) -> String {
    if f.is_finite() {
        format!("{:.1}%", f * 100.0)
    } else {
        "-".to_string()
    }
}

/// Ranks shown in the per-rank table before it is cut to the extremes.
pub const MAX_RANK_ROWS: usize = 32;
/// With more ranks: this many with the largest MPI share, and as many with the smallest.
pub const EXTREME_ROWS: usize = 8;

/// The MPI section: a headline, the per-rank table and the per-call table.
pub fn tables(v: &MpiView) -> String {
    let (mpi, wall) = v.totals();
    let share = if wall > 0 {
        percent(mpi as f64 / wall as f64)
    } else {
        "-".to_string()
    };
    let mut out = format!(
        "MPI: {share} of the ranks' wall time in MPI calls ({} of {})\n",
        format_duration(mpi as f64),
        format_duration(wall as f64)
    );
    let mut shown: Vec<&MpiRank> = v.ranks.iter().collect();
    let mut hidden = 0;
    if shown.len() > MAX_RANK_ROWS {
        // Largest share first (NaN last), ties by rank; keep both ends.
        shown.sort_by(|a, b| {
            let (fa, fb) = (a.fraction(), b.fraction());
            fb.partial_cmp(&fa)
                .unwrap_or_else(|| fa.is_nan().cmp(&fb.is_nan()))
                .then(a.rank.cmp(&b.rank))
        });
        hidden = shown.len() - 2 * EXTREME_ROWS;
        shown.drain(EXTREME_ROWS..shown.len() - EXTREME_ROWS);
    }
    if hidden > 0 {
        out.push_str(&format!(
            "ranks by MPI share: the {EXTREME_ROWS} largest and smallest of {} \
             (all: scope-pproc FILE --format json)\n",
            v.ranks.len()
        ));
    }
    let mut rows =
        vec![["rank", "wall", "MPI", "compute", "MPI %", "top MPI call"].map(String::from)];
    for r in &shown {
        let mark = if r.recorded_window { "" } else { "*" };
        rows.push([
            format!("{}{mark}", r.rank),
            format_duration(r.wall_ns as f64),
            format_duration(r.mpi_ns as f64),
            format_duration(r.compute_ns() as f64),
            percent(r.fraction()),
            r.top_call.as_ref().map_or("-".to_string(), |(n, t)| {
                format!("{n} ({})", format_duration(*t as f64))
            }),
        ]);
    }
    let table = super::aligned(&rows, &[true, false, false, false, false, true]);
    for (i, line) in table.lines().enumerate() {
        if hidden > 0 && i == EXTREME_ROWS + 1 {
            out.push_str(&format!("… {hidden} ranks between\n"));
        }
        out.push_str(line);
        out.push('\n');
    }
    if v.ranks.iter().any(|r| !r.recorded_window) {
        out.push_str(
            "* no MPI window recorded: wall time from the rank's first call to its last end\n",
        );
    }
    let mut rows =
        vec![["MPI call", "calls", "total", "mean", "bytes", "waits most"].map(String::from)];
    for c in &v.calls {
        rows.push([
            c.name.clone(),
            c.calls.to_string(),
            format_duration(c.total_ns as f64),
            format_duration(c.mean_ns()),
            format_bytes(c.bytes),
            format!("r{} ({})", c.most_rank, format_duration(c.most_ns as f64)),
        ]);
    }
    out.push('\n');
    out.push_str(&super::aligned(
        &rows,
        &[true, false, false, false, false, true],
    ));
    out
}
