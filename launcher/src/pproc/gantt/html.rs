//! The HTML Gantt chart: one offline file (no scripts, fonts or styles from elsewhere) that
//! draws the chart on a <canvas> with `zoom.js` and zooms and pans it.
//! Invariants:
//!   - every call of the selected ranks is in the page, per lane, as base64 of a byte stream of
//!     segments `region, n, n × (zigzag(start − previous start), end − start)` (LEB128 varints,
//!     starts in ns since the chart's `t0`, the previous start 0 at each segment's beginning);
//!     a segment holds calls of one region, in the order the file has them;
//!   - it is written while streaming, one rank's encoded calls in memory at a time (a few bytes
//!     per call), so the page of a 4 × 10^6-event file is written in bounded memory;
//!   - names reach the page only escaped (markup) or as JSON with `<` written `\u003c`.

use super::{svg, Chart};
use crate::summary::{Summary, CHUNK};
use scope_format::{FormatError, ProfileReader};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

/// The page's drawing code (plain JS, no dependencies).
const ZOOM_JS: &str = include_str!("zoom.js");

/// One lane's encoded calls while its rank is read.
#[derive(Default)]
struct LaneBuf {
    out: Vec<u8>,
    body: Vec<u8>,
    seg_calls: u64,
    prev: i64,
    calls: u64,
}

fn varint(o: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        o.push((v as u8) | 0x80);
        v >>= 7;
    }
    o.push(v as u8);
}

fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

pub(super) fn base64(data: &[u8]) -> String {
    let mut o = String::with_capacity(data.len().div_ceil(3) * 4);
    for c in data.chunks(3) {
        let n = (u32::from(c[0]) << 16)
            | (u32::from(*c.get(1).unwrap_or(&0)) << 8)
            | u32::from(*c.get(2).unwrap_or(&0));
        for k in 0..4 {
            if k <= c.len() {
                o.push(B64[(n >> (18 - 6 * k)) as usize & 63] as char);
            } else {
                o.push('=');
            }
        }
    }
    o
}

/// The encoded calls of `rank`'s lanes (thread order as `build`'s), with their call counts.
fn encode_rank(
    reader: &ProfileReader,
    s: &Summary,
    c: &Chart,
    rank: u32,
) -> Result<Vec<(Vec<u8>, u64)>, FormatError> {
    let index: std::collections::HashMap<&str, usize> = c
        .regions
        .iter()
        .enumerate()
        .map(|(i, n)| (n.as_str(), i))
        .collect();
    let threads = s.threads.get(&rank).cloned().unwrap_or_else(|| vec![0]);
    let mut lanes: BTreeMap<i64, LaneBuf> =
        threads.iter().map(|&t| (t, LaneBuf::default())).collect();
    for name in reader.regions(rank)? {
        let Some(&region) = index.get(name.as_str()) else {
            continue;
        };
        reader.for_each_chunk::<FormatError, _>(rank, &name, CHUNK, |st, en, th| {
            for (i, (&a, &b)) in st.iter().zip(en).enumerate() {
                let l = lanes.entry(th.get(i).copied().unwrap_or(0)).or_default();
                let rel = a - c.t0;
                varint(&mut l.body, zigzag(rel - l.prev));
                varint(&mut l.body, (b - a).max(0) as u64);
                l.prev = rel;
                l.seg_calls += 1;
            }
            Ok(())
        })?;
        for l in lanes.values_mut().filter(|l| l.seg_calls > 0) {
            varint(&mut l.out, region as u64);
            varint(&mut l.out, l.seg_calls);
            l.out.append(&mut l.body);
            l.calls += l.seg_calls;
            l.seg_calls = 0;
            l.prev = 0;
        }
    }
    Ok(lanes.into_values().map(|l| (l.out, l.calls)).collect())
}

/// JSON for inside a <script>: no `<` at all, so no `</script>` either.
fn script_json(v: &serde_json::Value) -> String {
    v.to_string().replace('<', "\\u003c")
}

/// Writes the page of chart `c` (built by `build` from `reader` and `s`) to `path`.
pub fn write_html(
    reader: &ProfileReader,
    s: &Summary,
    c: &Chart,
    title: &str,
    path: &Path,
    extra: &str,
) -> Result<(), FormatError> {
    let io = |source| FormatError::Io {
        path: path.to_path_buf(),
        source,
    };
    let f = std::fs::File::create(path).map_err(io)?;
    let mut o = std::io::BufWriter::new(f);
    let mpi_note = if c.mpi.contains(&true) {
        "<p>MPI calls are drawn in shades of red, everything else in other colours; each rank's \
         first label gives its share of time in MPI calls (see the summary's MPI table).</p>"
    } else {
        ""
    };
    write!(
        o,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{t}</title>\
         <style>body{{margin:12px;font-family:'DejaVu Sans',Arial,sans-serif;background:#fff;color:#222}}\
         p{{font-size:12px;color:#555}} #bar{{font-size:12px;margin:4px 0}} #bar button{{margin-right:8px}}\
         #gantt{{display:block;width:100%;cursor:grab;touch-action:none}}\
         #tip{{position:fixed;display:none;pointer-events:none;background:#fff;border:1px solid #888;\
         padding:2px 5px;font-size:11px;white-space:nowrap}}\
         #legend span{{display:inline-block;width:200px;font-size:11px;margin:2px 0}}\
         #legend i{{display:inline-block;width:12px;height:12px;vertical-align:-2px;margin-right:4px}}\
         #legend .mpi{{font-weight:bold}}</style></head><body>\
         <h1 style=\"font-size:16px\">scope Gantt chart</h1><p style=\"font-size:14px;font-weight:bold;color:#222\">{t}</p>\
         <div id=\"bar\"><button id=\"reset\">Reset</button><span id=\"status\"></span></div>\
         <canvas id=\"gantt\"></canvas><div id=\"legend\"></div><div id=\"tip\"></div>\
         <p>Wheel: zoom around the pointer; drag: pan; shift-drag: zoom into the selection; \
         Reset, 0 or Escape: the whole run; + and −, ← and →: zoom and pan.</p>\
         <p>Lanes are ranks (and threads); bars nest downwards; calls shorter than one pixel at \
         the current zoom are drawn aggregated per pixel column and region; hover for region, \
         duration or counts.</p>{mpi_note}{extra}\n",
        t = svg::escape(title)
    )
    .map_err(io)?;
    let mut lanes = Vec::with_capacity(c.lanes.len());
    let mut k = 0;
    for &rank in &s.ranks {
        for (bytes, calls) in encode_rank(reader, s, c, rank)? {
            let lane = &c.lanes[k];
            debug_assert_eq!(lane.rank, rank);
            writeln!(
                o,
                "<script type=\"application/octet-stream\" id=\"lane-{k}\">{}</script>",
                base64(&bytes)
            )
            .map_err(io)?;
            lanes.push(serde_json::json!({
                "label": lane.label,
                "calls": calls,
                "rows": lane.rows,
            }));
            k += 1;
        }
    }
    let meta = serde_json::json!({
        "t0": c.t0.to_string(),
        "span": c.span_ns,
        "regions": c.regions,
        "mpi": c.mpi,
        "colours": c.colours,
        "lanes": lanes,
        "mpi_legend": svg::MPI_LEGEND,
        "mpi_swatch": &svg::MPI_PALETTE[..3],
    });
    write!(
        o,
        "<script>const SCOPE_GANTT = {};\n{ZOOM_JS}</script>\n</body></html>\n",
        script_json(&meta)
    )
    .map_err(io)?;
    o.flush().map_err(io)
}
