//! Drawing a laid-out `Chart` as a standalone SVG, and wrapping it in an HTML page that needs
//! nothing from the network (no scripts, fonts or styles from elsewhere).
//! Invariants: every name that reaches the markup is escaped; the SVG has a white background, a
//! time axis relative to the first call in readable units, one lane per `Lane`, and a legend.

use super::{Chart, PLOT_W};
use crate::summary::format_duration;
use std::fmt::Write;

const LABEL_W: f64 = 170.0;
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

pub fn colour(region: usize) -> String {
    match PALETTE.get(region) {
        Some(c) => (*c).to_string(),
        None => format!("hsl({:.0},60%,55%)", (region as f64 * 137.508) % 360.0),
    }
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

/// The chart as an SVG document.
pub fn svg(c: &Chart, title: &str) -> String {
    let lanes_h: f64 = c
        .lanes
        .iter()
        .map(|l| l.rows as f64 * ROW_H + LANE_GAP)
        .sum();
    let width = LABEL_W + PLOT_W + RIGHT;
    let per_row = ((width - 20.0) / 200.0).floor().max(1.0) as usize;
    let legend_h = c.regions.len().div_ceil(per_row) as f64 * LEGEND_ROW + 30.0;
    let height = TOP + lanes_h + legend_h;
    let mut o = String::new();
    let _ = write!(
        o,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" font-family="DejaVu Sans, Arial, sans-serif" font-size="11">"#
    );
    let _ = write!(
        o,
        r##"<rect width="100%" height="100%" fill="#ffffff"/><text x="10" y="18" font-size="14" font-weight="bold">{}</text>"##,
        escape(title)
    );
    axis(&mut o, c, TOP + lanes_h);
    let mut y = TOP;
    for (i, lane) in c.lanes.iter().enumerate() {
        let h = lane.rows as f64 * ROW_H;
        let shade = if i % 2 == 0 { "#f4f6f8" } else { "#ffffff" };
        let _ = write!(
            o,
            r##"<g class="lane"><rect x="{LABEL_W}" y="{y}" width="{PLOT_W}" height="{h}" fill="{shade}"/><text x="8" y="{:.1}">{}</text>"##,
            y + ROW_H - 3.0,
            escape(&lane.label)
        );
        for b in &lane.bars {
            let _ = write!(
                o,
                r##"<rect x="{:.2}" y="{:.1}" width="{:.2}" height="{:.1}" fill="{}" stroke="#ffffff" stroke-width="0.3"><title>{} · {} · {}</title></rect>"##,
                LABEL_W + b.x0,
                y + b.depth as f64 * ROW_H,
                b.x1 - b.x0,
                ROW_H - 1.0,
                colour(b.region),
                escape(&c.regions[b.region]),
                escape(&lane.label),
                format_duration(b.dur_ns as f64),
            );
        }
        for m in &lane.marks {
            let _ = write!(
                o,
                r#"<rect x="{:.2}" y="{:.1}" width="{}" height="{:.1}" fill="{}" fill-opacity="0.8"><title>{} · {} · {} calls shorter than {}</title></rect>"#,
                LABEL_W + m.col as f64,
                y + m.depth as f64 * ROW_H,
                m.len,
                ROW_H - 1.0,
                colour(m.region),
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
    o.push_str("</svg>\n");
    o
}

fn axis(o: &mut String, c: &Chart, bottom: f64) {
    let step = tick_step(c.span_ns as f64, 10.0);
    let mut t = 0.0;
    while t <= c.span_ns as f64 + 0.5 {
        let x = LABEL_W + t / c.ns_per_px;
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

fn legend(o: &mut String, c: &Chart, y0: f64, per_row: usize) {
    for (i, name) in c.regions.iter().enumerate() {
        let x = 10.0 + (i % per_row) as f64 * 200.0;
        let y = y0 + (i / per_row) as f64 * LEGEND_ROW;
        let _ = write!(
            o,
            r#"<g class="legend"><rect x="{x}" y="{y}" width="12" height="12" fill="{}"/><text x="{:.0}" y="{:.0}">{}</text></g>"#,
            colour(i),
            x + 16.0,
            y + 10.0,
            escape(name)
        );
    }
}

/// A self-contained HTML page around `svg_text`: works from a file:// URL with no network.
pub fn html(svg_text: &str, title: &str, c: &Chart) -> String {
    let note = if c.aggregated > 0 {
        format!(
            "<p>{} calls shorter than one pixel ({}) are drawn aggregated per pixel column; hover for counts.</p>",
            c.aggregated,
            escape(&format_duration(c.ns_per_px))
        )
    } else {
        String::new()
    };
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{t}</title>\
         <style>body{{margin:12px;font-family:'DejaVu Sans',Arial,sans-serif;background:#fff;color:#222}}\
         .chart svg{{width:100%;height:auto}} p{{font-size:12px;color:#555}}</style></head><body>\
         <h1 style=\"font-size:16px\">scope Gantt chart</h1>{note}<div class=\"chart\">{svg_text}</div>\
         <p>Lanes are ranks (and threads); bars nest downwards; hover a bar for its region and duration.</p>\
         </body></html>\n",
        t = escape(title)
    )
}
