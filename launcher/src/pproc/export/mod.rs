//! `scope-pproc export --format chrome|speedscope|csv|scope-profiler FILE -o OUT [--ranks R..]`:
//! the profile in a format other tools open. One module per format.
//! Invariants: every format carries every call of the selected ranks exactly once; times are
//! integer nanoseconds of the file's clock, shifted to the first call (chrome, speedscope) or
//! unchanged (csv, scope-profiler); the output is written to OUT only (created or replaced).

mod chrome;
mod csv;
mod schema3;
mod speedscope;

use super::{open, parse, write_fail, Input};
use crate::error::Result;
use crate::progress::Progress;
use crate::summary::{count_events, CHUNK};
use clap::{Parser, ValueEnum};
use scope_format::FormatError;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Chrome trace-event JSON (Perfetto, chrome://tracing): pid = rank, tid = thread.
    Chrome,
    /// speedscope's file format: one evented profile per rank and thread.
    Speedscope,
    /// One row per call: rank,thread,region,start_ns,end_ns,duration_ns.
    Csv,
    /// The reference tool's columnar HDF5 format (schema 3), with thread ids.
    ScopeProfiler,
}

#[derive(Debug, Parser)]
#[command(
    name = "scope-pproc export",
    about = "Export a scope profile for other tools"
)]
struct Cli {
    #[arg(long, value_enum)]
    format: Format,
    /// The profile (e.g. profiling_data.h5).
    file: PathBuf,
    /// Output file (created or replaced).
    #[arg(short, long, value_name = "OUT")]
    output: PathBuf,
    /// Ranks to include: `--ranks 0 2`, `--ranks 0-3`.
    #[arg(long, num_args = 1.., value_name = "RANK", allow_hyphen_values = true)]
    ranks: Vec<String>,
}

/// `argv[0]` is `export`.
pub fn main(argv: &[String]) -> Result<()> {
    let cli: Cli = parse(argv)?;
    let input = open(&cli.file, &cli.ranks)?;
    let total = count_events(&input.reader, &input.ranks)?;
    let mut bar = Progress::new("exporting", total);
    let out = cli.output.as_path();
    let events = match cli.format {
        Format::Chrome => chrome::write(&input, out, &mut bar)?,
        Format::Speedscope => speedscope::write(&input, out, &mut bar)?,
        Format::Csv => csv::write(&input, out, &mut bar)?,
        Format::ScopeProfiler => schema3::write(&input, out, &mut bar)?,
    };
    bar.finish();
    println!("wrote {} ({events} calls)", out.display());
    Ok(())
}

/// The earliest start over the selected ranks (0 without events); one streaming pass.
pub(crate) fn time_origin(input: &Input) -> std::result::Result<i64, FormatError> {
    let mut t0: Option<i64> = None;
    for &rank in &input.ranks {
        for name in input.reader.regions(rank)? {
            input
                .reader
                .for_each_chunk::<FormatError, _>(rank, &name, CHUNK, |s, _, _| {
                    if let Some(&m) = s.iter().min() {
                        t0 = Some(t0.map_or(m, |t| t.min(m)));
                    }
                    Ok(())
                })?;
        }
    }
    Ok(t0.unwrap_or(0))
}

/// A buffered writer on `path`.
pub(crate) fn create(path: &Path) -> Result<std::io::BufWriter<std::fs::File>> {
    let f = std::fs::File::create(path).map_err(|e| write_fail(path, e))?;
    Ok(std::io::BufWriter::with_capacity(1 << 20, f))
}

/// Nanoseconds as microseconds with exactly three decimals, without going through floats.
pub(crate) fn micros(ns: i64) -> String {
    let sign = if ns < 0 { "-" } else { "" };
    let a = ns.unsigned_abs();
    format!("{sign}{}.{:03}", a / 1000, a % 1000)
}

/// A JSON string literal.
pub(crate) fn json_str(s: &str) -> String {
    serde_json::to_string(s).expect("a str always serialises")
}

#[cfg(test)]
mod tests {
    #[test]
    fn micros_are_exact() {
        assert_eq!(super::micros(0), "0.000");
        assert_eq!(super::micros(1_234_567), "1234.567");
        assert_eq!(super::micros(-5), "-0.005");
        assert_eq!(super::micros(i64::MAX), "9223372036854775.807");
    }
}
