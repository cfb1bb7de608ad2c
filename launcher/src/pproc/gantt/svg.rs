//! Drawing a laid-out `Chart` as a standalone SVG (the HTML page is `html.rs`).
//! Invariants: every name that reaches the markup is escaped; the SVG has a white background, a
//! time axis relative to the first call in readable units, one lane per `Lane`, and a legend.
//! With MPI calls, MPI regions are filled from `MPI_PALETTE` (reds) and the others from
//! `PALETTE` without its reds (`OTHER_PALETTE`, then hues kept out of red), and the legend
//! lists the other regions, then the entry `MPI_LEGEND` (class `legend mpi`), then the MPI calls.

use super::{Chart, PLOT_W};
use crate::summary::format_duration;
use std::fmt::Write;

/// Width of the lane labels at least; longer labels widen it (`CHAR_W` per character).
pub(super) const LABEL_W: f64 = 170.0;
pub(super) const CHAR_W: f64 = 6.6;
const ROW_H: f64 = 14.0;
const LANE_GAP: f64 = 8.0;
const TOP: f64 = 56.0;
const RIGHT: f64 = 20.0;
const LEGEND_ROW: f64 = 18.0;

/// Distinct colours for the first regions (largest totals), then golden-angle hues.
const PALETTE: [&str; 12] = [
    "#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7",
    "#9c755f", "#bab0ac", "#1f77b4", "#8c564b",
];

/// Shades of red for MPI calls (the classic colour of MPI time in timeline views).
pub const MPI_PALETTE: [&str; 8] = [
    "#d62728", "#a50f15", "#ef3b2c", "#fb6a4a", "#67000d", "#cb181d", "#fc9272", "#99000d",
];

/// `PALETTE` without reds, pinks, oranges and browns, for the other regions beside MPI calls.
pub const OTHER_PALETTE: [&str; 8] = [
    "#4e79a7", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#bab0ac", "#1f77b4", "#17becf",
];

pub fn colour(region: usize) -> String {
    match PALETTE.get(region) {
        Some(c) => (*c).to_string(),
        None => format!("hsl({:.0},60%,55%)", (region as f64 * 137.508) % 360.0),
    }
}

/// The k-th MPI call's colour: a red, past the palette reds of other lightness.
pub fn mpi_colour(k: usize) -> String {
    match MPI_PALETTE.get(k) {
        Some(c) => (*c).to_string(),
        None => format!(
            "hsl({},75%,{}%)",
            (350 + k * 7 % 20) % 360,
            28 + k * 11 % 45
        ),
    }
}

/// The k-th other region's colour beside MPI calls: never a red (hues 70..290).
pub fn other_colour(k: usize) -> String {
    match OTHER_PALETTE.get(k) {
        Some(c) => (*c).to_string(),
        None => format!("hsl({:.0},55%,55%)", 70.0 + (k as f64 * 137.508) % 220.0),
    }
}

/// Fill colours per region (`mpi[i]`: region i is an MPI call). Without MPI calls, `colour(i)`.
pub fn colours(mpi: &[bool]) -> Vec<String> {
    if !mpi.contains(&true) {
        return (0..mpi.len()).map(colour).collect();
    }
    let (mut m, mut o) = (0, 0);
    mpi.iter()
        .map(|&is_mpi| {
            let k = if is_mpi { &mut m } else { &mut o };
            *k += 1;
            if is_mpi {
                mpi_colour(*k - 1)
            } else {
                other_colour(*k - 1)
            }
        })
        .collect()
}

pub fn escape(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            _ => o.push(c),
        }
    }
    o
}

/// A tick step of 1, 2 or 5 × 10^k ns giving about `n` ticks over `span`.
pub fn tick_step(span_ns: f64, n: f64) -> f64 {
    let raw = (span_ns / n).max(1.0);
    let mag = 10f64.powf(raw.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|m| m * mag)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * mag)
}

/// A further drawing below the chart's legend (the communication matrix): its markup, drawn
/// with its origin at the panel's top-left corner, and its size.
#[derive(Debug, Clone, PartialEq)]
pub struct Panel {
    pub markup: String,
    pub width: f64,
    pub height: f64,
}

/// The chart as an SVG document.
pub fn svg(c: &Chart, title: &str) -> String {
    svg_with(c, title, None)
}

/// The chart as an SVG document, with `panel` below the legend.
pub fn svg_with(c: &Chart, title: &str, panel: Option<&Panel>) -> String {
    let lanes_h: f64 = c
        .lanes
        .iter()
        .map(|l| l.rows as f64 * ROW_H + LANE_GAP)
        .sum();
    let longest = c.lanes.iter().map(|l| l.label.chars().count()).max();
    let label_w = LABEL_W.max((longest.unwrap_or(0) as f64 * CHAR_W + 16.0).ceil());
    let chart_w = label_w + PLOT_W + RIGHT;
    let width = panel.map_or(chart_w, |p| p.width.max(chart_w));
    let per_row = ((chart_w - 20.0) / 200.0).floor().max(1.0) as usize;
    let entries = c.regions.len() + usize::from(c.mpi.contains(&true));
    let legend_h = entries.div_ceil(per_row) as f64 * LEGEND_ROW + 30.0;
    let height = TOP + lanes_h + legend_h + panel.map_or(0.0, |p| p.height + 10.0);
    let mut o = String::new();
    let _ = write!(
        o,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" font-family="DejaVu Sans, Arial, sans-serif" font-size="11" data-span-ns="{}">"#,
        c.span_ns
    );
    let _ = write!(
        o,
        r##"<rect width="100%" height="100%" fill="#ffffff"/><text x="10" y="18" font-size="14" font-weight="bold">{}</text>"##,
        escape(title)
    );
    axis(&mut o, c, label_w, TOP + lanes_h);
    let mut y = TOP;
    for (i, lane) in c.lanes.iter().enumerate() {
        let h = lane.rows as f64 * ROW_H;
        let shade = if i % 2 == 0 { "#f4f6f8" } else { "#ffffff" };
        let _ = write!(
            o,
            r##"<g class="lane"><rect x="{label_w}" y="{y}" width="{PLOT_W}" height="{h}" fill="{shade}"/><text x="8" y="{:.1}">{}</text>"##,
            y + ROW_H - 3.0,
            escape(&lane.label)
        );
        for b in &lane.bars {
            let _ = write!(
                o,
                r##"<rect x="{:.2}" y="{:.1}" width="{:.2}" height="{:.1}" fill="{}" stroke="#ffffff" stroke-width="0.3"><title>{} · {} · {}</title></rect>"##,
                label_w + b.x0,
                y + b.depth as f64 * ROW_H,
                b.x1 - b.x0,
                ROW_H - 1.0,
                c.colours[b.region],
                escape(&c.regions[b.region]),
                escape(&lane.label),
                format_duration(b.dur_ns as f64),
            );
        }
        for m in &lane.marks {
            let _ = write!(
                o,
                r#"<rect x="{:.2}" y="{:.1}" width="{}" height="{:.1}" fill="{}" fill-opacity="0.8"><title>{} · {} · {} calls shorter than {}</title></rect>"#,
                label_w + m.col as f64,
                y + m.depth as f64 * ROW_H,
                m.len,
                ROW_H - 1.0,
                c.colours[m.region],
                escape(&c.regions[m.region]),
                escape(&lane.label),
                m.count,
                format_duration(c.ns_per_px),
            );
        }
        o.push_str("</g>");
        y += h + LANE_GAP;
    }
    legend(&mut o, c, y + 10.0, per_row);
    if let Some(p) = panel {
        let _ = write!(
            o,
            r#"<g class="panel" transform="translate(0,{:.1})">{}</g>"#,
            TOP + lanes_h + legend_h + 10.0,
            p.markup
        );
    }
    o.push_str("</svg>\n");
    o
}

fn axis(o: &mut String, c: &Chart, label_w: f64, bottom: f64) {
    let step = tick_step(c.span_ns as f64, 10.0);
    let mut t = 0.0;
    while t <= c.span_ns as f64 + 0.5 {
        let x = label_w + t / c.ns_per_px;
        let _ = write!(
            o,
            r##"<line x1="{x:.2}" y1="{:.1}" x2="{x:.2}" y2="{bottom:.1}" stroke="#d0d4d8" stroke-width="0.6"/><text x="{x:.2}" y="{:.1}" text-anchor="middle" fill="#333">{}</text>"##,
            TOP - 8.0,
            TOP - 12.0,
            format_duration(t)
        );
        t += step;
    }
    let _ = write!(
        o,
        r##"<text x="8" y="{:.1}" fill="#555">time since first call</text>"##,
        TOP - 12.0
    );
}

/// The text of the legend entry for all MPI calls.
pub const MPI_LEGEND: &str = "MPI calls (all reds)";

/// Other regions first, then (with MPI calls) the `MPI_LEGEND` entry, its swatch striped with
/// the first reds, and the MPI calls, each group in order of totals.
fn legend(o: &mut String, c: &Chart, y0: f64, per_row: usize) {
    let group = |mpi: bool| (0..c.regions.len()).filter(move |&i| c.mpi[i] == mpi);
    // (is the MPI entry, region)
    let mut entries: Vec<(bool, usize)> = group(false).map(|i| (false, i)).collect();
    if c.mpi.contains(&true) {
        entries.push((true, 0));
        entries.extend(group(true).map(|i| (false, i)));
    }
    for (k, &(all_mpi, i)) in entries.iter().enumerate() {
        let x = 10.0 + (k % per_row) as f64 * 200.0;
        let y = y0 + (k / per_row) as f64 * LEGEND_ROW;
        let (tx, ty) = (x + 16.0, y + 10.0);
        if all_mpi {
            o.push_str(r#"<g class="legend mpi">"#);
            for (j, fill) in MPI_PALETTE[..3].iter().enumerate() {
                let _ = write!(
                    o,
                    r#"<rect x="{}" y="{y}" width="4" height="12" fill="{fill}"/>"#,
                    x + 4.0 * j as f64
                );
            }
            let _ = write!(
                o,
                r#"<text x="{tx}" y="{ty}" font-weight="bold">{MPI_LEGEND}</text></g>"#
            );
        } else {
            let _ = write!(
                o,
                r#"<g class="legend"><rect x="{x}" y="{y}" width="12" height="12" fill="{}"/><text x="{tx}" y="{ty}">{}</text></g>"#,
                c.colours[i],
                escape(&c.regions[i])
            );
        }
    }
}
