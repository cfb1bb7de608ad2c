//! `scope-pproc FILE [--ranks R..] [--format table|json] [--show [-o OUT]]`: the per-region
//! summary as a table (default) or JSON, and with `--show` the Gantt chart as SVG and HTML.
//! Invariant: the table and the JSON carry the same numbers (both come from one `Summary`);
//! the incompleteness note comes first in both.

use super::{comm, gantt, open, parse, write_fail};
use crate::error::Result;
use crate::progress::Progress;
use crate::summary::{self, Summary};
use clap::{Parser, ValueEnum};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Table,
    Json,
}

#[derive(Debug, Parser)]
#[command(
    name = "scope-pproc",
    version,
    about = "Summarise a scope profile, draw its Gantt chart, export it",
    after_help = "Exports: scope-pproc export --format chrome|speedscope|csv|scope-profiler FILE -o OUT\n\
                  (see `scope-pproc export --help`)\n\
                  Communication matrix: scope-pproc comm FILE [--format json]\n\
                  (see `scope-pproc comm --help`)"
)]
struct Cli {
    /// The profile (e.g. profiling_data.h5).
    file: PathBuf,
    /// Ranks to include: `--ranks 0 2`, `--ranks 0-3`.
    #[arg(long, num_args = 1.., value_name = "RANK", allow_hyphen_values = true)]
    ranks: Vec<String>,
    /// Output of the summary on stdout.
    #[arg(long, value_enum, default_value = "table")]
    format: Format,
    /// Also draw the Gantt chart (one lane per rank and thread) to SVG and HTML.
    #[arg(long)]
    show: bool,
    /// Where the chart goes: OUT.svg and OUT.html (an .svg/.html extension is replaced);
    /// default: beside FILE, named <stem>.gantt.svg/.html.
    #[arg(short, long, value_name = "OUT", requires = "show")]
    output: Option<PathBuf>,
}

pub fn main(argv: &[String]) -> Result<()> {
    let cli: Cli = parse(argv)?;
    let input = open(&cli.file, &cli.ranks)?;
    let total = summary::count_events(&input.reader, &input.ranks)?;
    let mut bar = Progress::new("summarising", total);
    let s = summary::compute_with(&input.reader, Some(&input.ranks), &mut bar)?;
    drop(bar);
    let shown = cli.file.display().to_string();
    let charts = if cli.show {
        let (svg, html) = chart_paths(&cli.file, cli.output.as_deref());
        let chart = gantt::build(&input.reader, &s)?;
        let title = format!("{shown}: ranks {}", rank_list(&s.ranks));
        // With MPI calls, the communication matrix goes below the legend.
        let panel = match &s.mpi {
            Some(_) => Some(comm::heatmap::panel(&comm::compute(&input)?, 0.0)),
            None => None,
        };
        let svg_text = gantt::svg_with(&chart, &title, panel.as_ref());
        std::fs::write(&svg, &svg_text).map_err(|e| write_fail(&svg, e))?;
        let extra = match &panel {
            Some(p) => format!(
                "<p>The communication matrix: bytes sent from each rank (row) to each rank \
                 (column), from the MPI calls' <code>bytes</code> and <code>peer</code>; hover a \
                 cell for bytes and messages; <code>scope-pproc comm FILE</code> prints it and \
                 says what is counted.</p><div class=\"comm\"><svg xmlns=\"http://www.w3.org/2000/svg\" \
                 width=\"{w}\" height=\"{h}\" viewBox=\"0 0 {w} {h}\" font-family=\"DejaVu Sans, Arial, sans-serif\" \
                 font-size=\"11\">{markup}</svg></div>",
                w = p.width,
                h = p.height,
                markup = p.markup
            ),
            None => String::new(),
        };
        gantt::write_html(&input.reader, &s, &chart, &title, &html, &extra).map_err(
            |e| match e {
                scope_format::FormatError::Io { source, .. } => write_fail(&html, source),
                e => e.into(),
            },
        )?;
        Some((svg, html))
    } else {
        None
    };
    match cli.format {
        Format::Table => {
            let (lines, table) = summary::render(&s, &shown);
            // The incompleteness note goes first, before anything else is read.
            let (notes, rest): (Vec<_>, Vec<_>) = lines
                .into_iter()
                .partition(|l| l.starts_with("the profile is incomplete"));
            for l in notes.iter().chain(&rest) {
                println!("{l}");
            }
            print!("{table}");
            if let Some((svg, html)) = &charts {
                println!("gantt chart: {}", svg.display());
                println!("gantt chart: {}", html.display());
            }
        }
        Format::Json => {
            let mut v = to_json(&s, &shown);
            if let Some((svg, html)) = &charts {
                v["charts"] = json!([svg.display().to_string(), html.display().to_string()]);
            }
            println!(
                "{}",
                serde_json::to_string_pretty(&v).expect("JSON of plain values")
            );
        }
    }
    Ok(())
}

/// `0, 2, 3`
fn rank_list(ranks: &[u32]) -> String {
    ranks
        .iter()
        .map(|r| r.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// The SVG and HTML paths for `--show` (see `Cli::output`).
pub fn chart_paths(file: &Path, output: Option<&Path>) -> (PathBuf, PathBuf) {
    let base = match output {
        Some(o) => match o.extension().and_then(|e| e.to_str()) {
            Some("svg" | "html" | "htm") => o.with_extension(""),
            _ => o.to_path_buf(),
        },
        None => {
            let stem = file
                .file_stem()
                .map_or("profile".into(), |s| s.to_string_lossy().into_owned());
            file.with_file_name(format!("{stem}.gantt"))
        }
    };
    let with = |ext: &str| {
        let mut p = base.clone().into_os_string();
        p.push(ext);
        PathBuf::from(p)
    };
    (with(".svg"), with(".html"))
}

/// The summary as JSON: the same numbers as the table, in nanoseconds; imbalance as a fraction.
pub fn to_json(s: &Summary, file: &str) -> Value {
    let regions: Vec<Value> = s
        .regions
        .iter()
        .map(|r| {
            json!({
                "name": r.name,
                "calls": r.calls,
                "total_ns": r.total_ns,
                "mean_ns": r.mean_ns(),
                "min_ns": r.min_ns,
                "max_ns": r.max_ns,
                "imbalance": r.imbalance,
                "slowest_rank": r.slowest_rank,
                "mpi_call": r.mpi_call,
                "per_rank": r.per_rank.iter().map(|p| json!({
                    "rank": p.rank, "calls": p.calls, "total_ns": p.total_ns,
                })).collect::<Vec<_>>(),
            })
        })
        .collect();
    json!({
        "file": file,
        "complete": s.attrs.complete,
        "missing_ranks": s.attrs.missing_ranks,
        "unfinished_ranks": s.attrs.unfinished_ranks,
        "note": summary::incomplete_note(s),
        "ranks": s.ranks,
        "events": s.events,
        "dropped_events": s.dropped,
        "regions": regions,
        "mpi": s.mpi.as_ref().map(mpi_json),
    })
}

/// The MPI view as JSON: exact integers (ns, bytes); the MPI share as a fraction.
fn mpi_json(m: &summary::MpiView) -> Value {
    let (mpi_ns, wall_ns) = m.totals();
    let ranks: Vec<Value> = m
        .ranks
        .iter()
        .map(|r| {
            json!({
                "rank": r.rank,
                "window": [r.window.0, r.window.1],
                "recorded_window": r.recorded_window,
                "wall_ns": r.wall_ns,
                "mpi_ns": r.mpi_ns,
                "compute_ns": r.compute_ns(),
                "mpi_fraction": r.fraction(),
                "top_call": r.top_call.as_ref().map(|t| &t.0),
                "top_call_ns": r.top_call.as_ref().map(|t| t.1),
            })
        })
        .collect();
    let calls: Vec<Value> = m
        .calls
        .iter()
        .map(|c| {
            json!({
                "name": c.name,
                "calls": c.calls,
                "total_ns": c.total_ns,
                "mean_ns": c.mean_ns(),
                "bytes": c.bytes,
                "most_rank": c.most_rank,
                "most_ns": c.most_ns,
                "per_rank_bytes": c.per_rank_bytes.iter().map(|(r, b)| json!({
                    "rank": r, "bytes": b,
                })).collect::<Vec<_>>(),
            })
        })
        .collect();
    json!({ "mpi_ns": mpi_ns, "wall_ns": wall_ns, "ranks": ranks, "calls": calls })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chart_paths_default_beside_the_file_and_follow_o() {
        let f = Path::new("/d/profiling_data.h5");
        let (s, h) = chart_paths(f, None);
        assert_eq!(s, Path::new("/d/profiling_data.gantt.svg"));
        assert_eq!(h, Path::new("/d/profiling_data.gantt.html"));
        let (s, h) = chart_paths(f, Some(Path::new("out/g.html")));
        assert_eq!(
            (s.as_path(), h.as_path()),
            (Path::new("out/g.svg"), Path::new("out/g.html"))
        );
        let (s, _) = chart_paths(f, Some(Path::new("g")));
        assert_eq!(s, Path::new("g.svg"));
    }
}
