//! The Gantt chart's layout: one lane per (rank, thread), each call a bar at the depth of its
//! nesting, x in pixels of a fixed-width plot. Built from one streaming pass over the file.
//! Invariants (keep large files drawable in bounded memory):
//!   - a call at least one pixel wide is a `Bar`; for well-nested calls a lane holds at most
//!     `PLOT_W` bars per nesting level, whatever the number of events;
//!   - shorter calls are aggregated per (lane, region, pixel column) into a `Mark` that counts
//!     them, drawn just below the deepest bar covering that column.
//!
//! With MPI calls (`[mpi] calls`) in the summary, they are drawn in shades of red and every
//! other region in colours that are not red (so waiting stands out), the legend has an entry
//! for them, and each rank's first lane label carries the rank's MPI share (`rank 3 · MPI 42%`).

mod html;
mod svg;

pub use html::write_html;
pub use svg::{escape, svg, svg_with, Panel};

use crate::summary::{Summary, CHUNK};
use scope_format::{FormatError, ProfileReader};
use std::collections::{BTreeMap, HashMap};

/// Width of the time axis in pixels.
pub const PLOT_W: f64 = 1400.0;

#[derive(Debug, Clone, PartialEq)]
pub struct Bar {
    pub x0: f64,
    pub x1: f64,
    pub depth: u32,
    /// Index into `Chart::regions`.
    pub region: usize,
    pub start_ns: i64,
    pub dur_ns: i64,
}

/// `count` calls of `region`, each narrower than a pixel, in pixel columns `col..col + len`.
#[derive(Debug, Clone, PartialEq)]
pub struct Mark {
    pub col: u32,
    pub len: u32,
    pub depth: u32,
    pub region: usize,
    pub count: u64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Lane {
    pub rank: u32,
    pub thread: i64,
    pub label: String,
    pub bars: Vec<Bar>,
    pub marks: Vec<Mark>,
    /// Number of depth rows (≥ 1).
    pub rows: u32,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Chart {
    /// Region names in order of their totals, largest first.
    pub regions: Vec<String>,
    /// Per region: an MPI call.
    pub mpi: Vec<bool>,
    /// Per region: its fill colour (see `svg::colours`).
    pub colours: Vec<String>,
    pub lanes: Vec<Lane>,
    /// Time of x = 0 and nanoseconds per pixel.
    pub t0: i64,
    pub ns_per_px: f64,
    /// Span of the selected ranks in ns.
    pub span_ns: i64,
    /// Calls drawn aggregated in marks.
    pub aggregated: u64,
}

/// Per-lane state while streaming.
#[derive(Default)]
struct Acc {
    bars: Vec<Bar>,
    /// (column, region) → calls narrower than a pixel.
    narrow: HashMap<(u32, usize), u64>,
}

/// Lays out the chart of the ranks in `s` (which must come from the same `reader`).
pub fn build(reader: &ProfileReader, s: &Summary) -> Result<Chart, FormatError> {
    let regions: Vec<String> = s.regions.iter().map(|r| r.name.clone()).collect();
    let mpi: Vec<bool> = s.regions.iter().map(|r| r.mpi_call).collect();
    let share: HashMap<u32, f64> = s
        .mpi
        .iter()
        .flat_map(|m| &m.ranks)
        .map(|r| (r.rank, r.fraction()))
        .collect();
    let colour: HashMap<&str, usize> = regions
        .iter()
        .enumerate()
        .map(|(i, n)| (n.as_str(), i))
        .collect();
    let (t0, t1) = s.span.unwrap_or((0, 1));
    let span_ns = (t1 - t0).max(1);
    let ns_per_px = span_ns as f64 / PLOT_W;
    let mut lanes = Vec::new();
    let mut aggregated = 0;
    for &rank in &s.ranks {
        let threads = s.threads.get(&rank).cloned().unwrap_or_else(|| vec![0]);
        let mut acc: BTreeMap<i64, Acc> = threads.iter().map(|&t| (t, Acc::default())).collect();
        for name in reader.regions(rank)? {
            let Some(&region) = colour.get(name.as_str()) else {
                continue;
            };
            reader.for_each_chunk::<FormatError, _>(rank, &name, CHUNK, |st, en, th| {
                for (i, (&a, &b)) in st.iter().zip(en).enumerate() {
                    let tid = th.get(i).copied().unwrap_or(0);
                    let lane = acc.entry(tid).or_default();
                    let x0 = (a - t0) as f64 / ns_per_px;
                    let x1 = (b - t0) as f64 / ns_per_px;
                    if x1 - x0 >= 1.0 {
                        lane.bars.push(Bar {
                            x0,
                            x1,
                            depth: 0,
                            region,
                            start_ns: a,
                            dur_ns: b - a,
                        });
                    } else {
                        let col = (x0.max(0.0) as u32).min(PLOT_W as u32 - 1);
                        *lane.narrow.entry((col, region)).or_default() += 1;
                        aggregated += 1;
                    }
                }
                Ok(())
            })?;
        }
        let many = acc.len() > 1;
        for (i, (thread, a)) in acc.into_iter().enumerate() {
            let mut label = format!("rank {rank}");
            if let Some(&f) = share.get(&rank).filter(|_| i == 0) {
                label.push_str(&format!(" · MPI {}", share_label(f)));
            }
            if many {
                label.push_str(&format!(" · thread {thread}"));
            }
            lanes.push(lay_out(rank, thread, label, a));
        }
    }
    Ok(Chart {
        colours: svg::colours(&mpi),
        regions,
        mpi,
        lanes,
        t0,
        ns_per_px,
        span_ns,
        aggregated,
    })
}

/// An MPI share for a lane label: `42%`, `<1%` for a share that rounds to 0 but is not,
/// `-` when undefined (an empty window).
pub fn share_label(f: f64) -> String {
    if !f.is_finite() {
        "-".to_string()
    } else if f > 0.0 && f < 0.005 {
        "<1%".to_string()
    } else {
        format!("{:.0}%", f * 100.0)
    }
}

/// Gives bars their nesting depth and places the aggregated marks below them.
fn lay_out(rank: u32, thread: i64, label: String, mut a: Acc) -> Lane {
    a.bars
        .sort_by(|p, q| p.start_ns.cmp(&q.start_ns).then(q.dur_ns.cmp(&p.dur_ns)));
    let mut open_ends: Vec<i64> = Vec::new();
    let mut cover = vec![0u32; PLOT_W as usize];
    let mut rows = 1;
    for b in &mut a.bars {
        while open_ends.last().is_some_and(|&end| end <= b.start_ns) {
            open_ends.pop();
        }
        b.depth = open_ends.len() as u32;
        open_ends.push(b.start_ns + b.dur_ns);
        rows = rows.max(b.depth + 1);
        let (c0, c1) = (
            b.x0.max(0.0) as usize,
            (b.x1.ceil() as usize).min(cover.len()),
        );
        for c in &mut cover[c0.min(c1)..c1] {
            *c = (*c).max(b.depth + 1);
        }
    }
    // Narrow calls of one column stack below the deepest bar there, in legend order.
    let mut cells: Vec<((u32, usize), u64)> = a.narrow.into_iter().collect();
    cells.sort_unstable();
    let mut placed: Vec<Mark> = Vec::with_capacity(cells.len());
    let mut k = 0;
    for (i, &((col, region), count)) in cells.iter().enumerate() {
        k = if i > 0 && cells[i - 1].0 .0 == col {
            k + 1
        } else {
            0
        };
        let depth = cover[col as usize] + k;
        rows = rows.max(depth + 1);
        placed.push(Mark {
            col,
            len: 1,
            depth,
            region,
            count,
        });
    }
    Lane {
        rank,
        thread,
        label,
        bars: a.bars,
        marks: merge_runs(placed),
        rows,
    }
}

/// Joins marks of the same region and depth in adjacent columns into one.
fn merge_runs(mut marks: Vec<Mark>) -> Vec<Mark> {
    marks.sort_by_key(|m| (m.region, m.depth, m.col));
    let mut out: Vec<Mark> = Vec::with_capacity(marks.len());
    for m in marks {
        match out.last_mut() {
            Some(l) if l.region == m.region && l.depth == m.depth && l.col + l.len == m.col => {
                l.len += 1;
                l.count += m.count;
            }
            _ => out.push(m),
        }
    }
    out
}

#[cfg(test)]
mod tests;
