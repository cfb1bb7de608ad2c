//! The communication matrix as an SVG heat map (a panel of `--show`'s chart): one cell per
//! (from rank, to rank), coloured by bytes on a log scale, hover for bytes and messages.
//! Invariants: at most `MAX_CELLS` × `MAX_CELLS` cells whatever the number of ranks (ranks are
//! binned in equal blocks beyond that); zero cells are white; every cell carries its exact
//! figures in `data-bytes`/`data-messages` and its `<title>`.

use super::CommMatrix;
use crate::pproc::gantt::{escape, Panel};
use crate::summary::format_bytes;
use std::fmt::Write;

/// Cells per axis at most.
pub const MAX_CELLS: usize = 128;
const LEFT: f64 = 70.0;
const TOP: f64 = 58.0;
const SIDE: f64 = 480.0;

/// Light to dark blue, for t in (0, 1].
fn shade(t: f64) -> String {
    let (a, b) = ([222.0, 235.0, 247.0], [8.0, 48.0, 107.0]);
    let t = t.clamp(0.0, 1.0);
    let c: Vec<u8> = (0..3)
        .map(|i| (a[i] + (b[i] - a[i]) * t).round() as u8)
        .collect();
    format!("#{:02x}{:02x}{:02x}", c[0], c[1], c[2])
}

fn ranks_label(lo: usize, hi: usize) -> String {
    if hi == lo + 1 {
        format!("rank {lo}")
    } else {
        format!("ranks {lo}–{}", hi - 1)
    }
}

/// The heat map panel, `width` wide at least (drawn from x = 10).
pub fn panel(m: &CommMatrix, width: f64) -> Panel {
    let mut o = String::new();
    let n = m.n.max(1);
    let bin = n.div_ceil(MAX_CELLS);
    let k = n.div_ceil(bin);
    let px = (SIDE / k as f64).floor().clamp(3.0, 40.0);
    let side = px * k as f64;
    let _ = write!(
        o,
        r#"<g class="comm-matrix" data-ranks="{}" data-bin="{bin}"><text x="10" y="20" font-size="13" font-weight="bold">Communication matrix: bytes sent between ranks (row: from rank, column: to rank)</text>"#,
        m.n
    );
    let _ = write!(
        o,
        r##"<text x="10" y="36" fill="#555">from the MPI calls' bytes and peer: sends rank → peer; Bcast, Scatter(v) root → rank; Reduce, Gather(v) rank → root; peer is a rank of the call's communicator (see scope-pproc comm)</text>"##
    );
    // Cells, binned.
    let mut cells = vec![(0u64, 0u64); k * k];
    for f in 0..m.n {
        for t in 0..m.n {
            let (b, c) = m.cell(f, t);
            let e = &mut cells[(f / bin) * k + t / bin];
            e.0 = e.0.saturating_add(b);
            e.1 += c;
        }
    }
    let max = cells.iter().map(|c| c.0).max().unwrap_or(0);
    let scale = |b: u64| ((1.0 + b as f64).ln() / (1.0 + max as f64).ln()).max(0.05);
    let (x0, y0) = (10.0 + LEFT, TOP + 14.0);
    let _ = write!(
        o,
        r##"<rect x="{x0}" y="{y0}" width="{side}" height="{side}" fill="#ffffff" stroke="#c0c4c8"/>"##
    );
    for (i, &(b, c)) in cells.iter().enumerate() {
        if c == 0 {
            continue;
        }
        let (fb, tb) = (i / k, i % k);
        let from = ranks_label(fb * bin, ((fb + 1) * bin).min(n));
        let to = ranks_label(tb * bin, ((tb + 1) * bin).min(n));
        let _ = write!(
            o,
            r##"<rect class="comm-cell" x="{:.1}" y="{:.1}" width="{px}" height="{px}" fill="{}" stroke="#ffffff" stroke-width="0.5" data-from="{}" data-to="{}" data-bytes="{b}" data-messages="{c}"><title>{} → {}: {} in {c} messages</title></rect>"##,
            x0 + tb as f64 * px,
            y0 + fb as f64 * px,
            shade(scale(b)),
            fb * bin,
            tb * bin,
            escape(&from),
            escape(&to),
            format_bytes(b.into()),
        );
    }
    // Axis labels, at least 14 px apart.
    let every = ((14.0 / px).ceil() as usize).max(1);
    for j in (0..k).step_by(every) {
        let c = (j as f64 + 0.5) * px;
        let _ = write!(
            o,
            r##"<text x="{:.1}" y="{:.1}" text-anchor="middle" font-size="9" fill="#333">{}</text><text x="{:.1}" y="{:.1}" text-anchor="end" font-size="9" fill="#333">{}</text>"##,
            x0 + c,
            y0 - 4.0,
            j * bin,
            x0 - 4.0,
            y0 + c + 3.0,
            j * bin
        );
    }
    let _ = write!(
        o,
        r##"<text x="{:.1}" y="{:.1}" text-anchor="middle" fill="#555">to rank</text><text x="10" y="{:.1}" fill="#555">from rank</text>"##,
        x0 + side / 2.0,
        TOP,
        y0 + 10.0
    );
    // Colour scale.
    let ly = y0 + side + 18.0;
    if max > 0 {
        for s in 0..10 {
            let _ = write!(
                o,
                r#"<rect x="{}" y="{ly}" width="16" height="10" fill="{}"/>"#,
                x0 + s as f64 * 16.0,
                shade((s as f64 + 1.0) / 10.0)
            );
        }
        let _ = write!(
            o,
            r##"<text x="{:.1}" y="{:.1}" fill="#333">up to {} per cell (log scale; white: none){}</text>"##,
            x0 + 170.0,
            ly + 9.0,
            format_bytes(max.into()),
            if bin > 1 {
                format!("; each cell is {bin} × {bin} ranks")
            } else {
                String::new()
            }
        );
    } else {
        let _ = write!(
            o,
            r##"<text x="{x0}" y="{:.1}" fill="#333">no messages counted (no sends or rooted collectives with a rank as peer)</text>"##,
            ly + 9.0
        );
    }
    o.push_str("</g>");
    Panel {
        markup: o,
        width: width.max(x0 + side + 400.0),
        height: ly + 24.0,
    }
}
