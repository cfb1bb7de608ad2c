//! scope-pproc: post-processing of a profile file.
//!   `scope-pproc FILE [--ranks R..] [--format table|json] [--show [-o OUT]]` → `report`
//!   `scope-pproc export --format chrome|speedscope|csv|scope-profiler FILE -o OUT` → `export`
//!   `scope-pproc comm FILE [--ranks R..] [--format table|json]` → `comm`
//! Exit status: 0 on success, 1 when the file cannot be read or an output cannot be written,
//! 2 for bad arguments (including ranks the file does not hold).
//! Invariant: every command streams the file through `ProfileReader::for_each_chunk`; none holds
//! all events in memory (speedscope holds one rank at a time; see `export::speedscope`).

pub mod comm;
pub mod export;
pub mod gantt;
pub mod report;

use crate::error::{Fail, Result};
use crate::ranks;
use scope_format::ProfileReader;
use std::path::Path;

/// Runs scope-pproc with the full argv (argv[0] included); returns the exit status.
pub fn main(argv: &[String]) -> i32 {
    let result = match argv.get(1).map(String::as_str) {
        Some("export") => export::main(&argv[1..]),
        Some("comm") => comm::main(&argv[1..]),
        _ => report::main(argv),
    };
    match result {
        Ok(()) => 0,
        Err(f) => {
            f.report("scope-pproc");
            f.code
        }
    }
}

/// Parses clap arguments; help and version print and end with status 0, errors with 2.
pub(crate) fn parse<C: clap::Parser>(argv: &[String]) -> Result<C> {
    C::try_parse_from(argv).map_err(|e| {
        let code = e.exit_code();
        let _ = e.print();
        // The message is already printed; an empty Fail reports nothing more.
        Fail::with_code(code, String::new())
    })
}

/// An opened profile and the ranks to process (all, or the `--ranks` selection).
pub struct Input {
    pub reader: ProfileReader,
    pub ranks: Vec<u32>,
    /// `--ranks` was given.
    pub selected: bool,
}

/// Opens `file` and checks the `--ranks` values against the ranks it holds.
pub fn open(file: &Path, rank_args: &[String]) -> Result<Input> {
    let select = if rank_args.is_empty() {
        None
    } else {
        Some(ranks::parse(rank_args)?)
    };
    let shown = file.display();
    if !file.exists() {
        return Err(Fail::with_code(1, format!("no such file: {shown}")));
    }
    let unreadable = |e: scope_format::FormatError| {
        Fail::with_code(1, format!("cannot read {shown} as a scope profile: {e}"))
    };
    let reader = ProfileReader::open(file).map_err(unreadable)?;
    let present = reader.ranks().map_err(unreadable)?;
    let Some(sel) = select else {
        return Ok(Input {
            reader,
            ranks: present,
            selected: false,
        });
    };
    let absent: Vec<String> = sel
        .iter()
        .filter(|r| !present.contains(r))
        .map(|r| r.to_string())
        .collect();
    if !absent.is_empty() {
        let held: Vec<String> = present.iter().map(|r| r.to_string()).collect();
        return Err(Fail::check(format!(
            "rank(s) {} not in {shown} (it holds ranks {})",
            absent.join(", "),
            held.join(", ")
        )));
    }
    Ok(Input {
        reader,
        ranks: sel,
        selected: true,
    })
}

/// The error for an output that cannot be written.
pub(crate) fn write_fail(path: &Path, e: impl std::fmt::Display) -> Fail {
    Fail::with_code(1, format!("cannot write {}: {e}", path.display()))
}
