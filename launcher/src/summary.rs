//! The per-region summary of a profile, shared by scope-run (after the run) and scope-pproc.
//! For each region over the selected ranks: calls, total time, mean per call, and the ranks
//! with the smallest and largest total (a rank that never called the region counts as 0).
//! Invariant: numbers come only from `start_times`/`end_times` as stored; nothing is sampled.

use scope_format::{FileAttrs, FormatError, ProfileReader};

#[derive(Debug, Clone, PartialEq)]
pub struct RegionStats {
    pub name: String,
    pub calls: u64,
    pub total_ns: i128,
    /// (rank, total ns) with the smallest total; first such rank on ties.
    pub min: (u32, i128),
    pub max: (u32, i128),
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
}

/// Summarises `reader`, restricted to `select` when given (ranks must be in the file).
pub fn compute(reader: &ProfileReader, select: Option<&[u32]>) -> Result<Summary, FormatError> {
    let present = reader.ranks()?;
    let ranks: Vec<u32> = match select {
        Some(s) => s.iter().copied().filter(|r| present.contains(r)).collect(),
        None => present,
    };
    let mut per_region: std::collections::BTreeMap<String, Vec<(u32, u64, i128)>> =
        Default::default();
    let mut events = 0u64;
    let mut dropped = 0u64;
    for &rank in &ranks {
        dropped += reader
            .rank_attrs(rank)
            .map_or(0, |a| a.dropped_events.max(0) as u64);
        for name in reader.regions(rank)? {
            let iv = reader.intervals(rank, &name)?;
            let total: i128 = iv
                .start_times
                .iter()
                .zip(&iv.end_times)
                .map(|(s, e)| i128::from(*e) - i128::from(*s))
                .sum();
            events += iv.len() as u64;
            per_region
                .entry(name)
                .or_default()
                .push((rank, iv.len() as u64, total));
        }
    }
    let mut regions: Vec<RegionStats> = per_region
        .into_iter()
        .map(|(name, rows)| stats(name, &ranks, &rows))
        .collect();
    regions.sort_by(|a, b| b.total_ns.cmp(&a.total_ns).then(a.name.cmp(&b.name)));
    Ok(Summary {
        ranks,
        events,
        dropped,
        regions,
        attrs: reader.attrs()?,
    })
}

fn stats(name: String, ranks: &[u32], rows: &[(u32, u64, i128)]) -> RegionStats {
    let per_rank: Vec<(u32, i128)> = ranks
        .iter()
        .map(|&r| {
            let t = rows.iter().find(|x| x.0 == r).map_or(0, |x| x.2);
            (r, t)
        })
        .collect();
    let min = per_rank
        .iter()
        .copied()
        .min_by_key(|x| x.1)
        .unwrap_or((0, 0));
    let max = per_rank
        .iter()
        .copied()
        .rev()
        .max_by_key(|x| x.1)
        .unwrap_or((0, 0));
    RegionStats {
        name,
        calls: rows.iter().map(|x| x.1).sum(),
        total_ns: rows.iter().map(|x| x.2).sum(),
        min,
        max,
    }
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

/// The table, one line per region, columns aligned.
pub fn table(s: &Summary) -> String {
    if s.regions.is_empty() {
        return "no region was called on the selected ranks\n".to_string();
    }
    let mut rows =
        vec![["region", "calls", "total", "mean", "min/rank", "max/rank"].map(String::from)];
    for r in &s.regions {
        let mean = if r.calls > 0 {
            r.total_ns as f64 / r.calls as f64
        } else {
            f64::NAN
        };
        rows.push([
            r.name.clone(),
            r.calls.to_string(),
            format_duration(r.total_ns as f64),
            format_duration(mean),
            format!("{} (r{})", format_duration(r.min.1 as f64), r.min.0),
            format!("{} (r{})", format_duration(r.max.1 as f64), r.max.0),
        ]);
    }
    let widths: Vec<usize> = (0..6)
        .map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for row in &rows {
        let mut line = String::new();
        for (c, cell) in row.iter().enumerate() {
            let pad = widths[c] - cell.chars().count();
            if c == 0 {
                line.push_str(cell);
                line.push_str(&" ".repeat(pad));
            } else {
                line.push_str("  ");
                line.push_str(&" ".repeat(pad));
                line.push_str(cell);
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// The header and notes (without tool prefix) followed by the table.
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
    (lines, table(s))
}

/// The line naming ranks that did not finish, if the file says it is incomplete.
pub fn incomplete_note(s: &Summary) -> Option<String> {
    if s.attrs.complete {
        return None;
    }
    let missing: Vec<String> = s
        .attrs
        .missing_ranks
        .iter()
        .map(|r| r.to_string())
        .collect();
    Some(if missing.is_empty() {
        "the profile is incomplete: some ranks did not finish".to_string()
    } else {
        format!(
            "the profile is incomplete: rank(s) {} did not finish; their data is missing or cut short",
            missing.join(", ")
        )
    })
}

#[cfg(test)]
mod tests;
