//! scope-pproc: the summary of a profile file, optionally restricted to some ranks.
//! Exit status: 0 on success, 1 when the file cannot be read, 2 for bad arguments.

use crate::error::{Fail, Result};
use crate::{ranks, summary};
use clap::Parser;
use std::path::PathBuf;

#[derive(Debug, Parser)]
#[command(name = "scope-pproc", version, about = "Summarise a scope profile")]
struct Cli {
    /// The profile (e.g. profiling_data.h5).
    file: PathBuf,
    /// Ranks to include: `--ranks 0 2`, `--ranks 0-3`.
    #[arg(long, num_args = 1.., value_name = "RANK", allow_hyphen_values = true)]
    ranks: Vec<String>,
}

/// Runs scope-pproc with the full argv (argv[0] included); returns the exit status.
pub fn main(argv: &[String]) -> i32 {
    let cli = match Cli::try_parse_from(argv) {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return e.exit_code();
        }
    };
    match run(&cli) {
        Ok(()) => 0,
        Err(f) => {
            f.report("scope-pproc");
            f.code
        }
    }
}

fn run(cli: &Cli) -> Result<()> {
    let select = if cli.ranks.is_empty() {
        None
    } else {
        Some(ranks::parse(&cli.ranks)?)
    };
    let shown = cli.file.display();
    if !cli.file.exists() {
        return Err(Fail::with_code(1, format!("no such file: {shown}")));
    }
    let unreadable = |e: scope_format::FormatError| {
        Fail::with_code(1, format!("cannot read {shown} as a scope profile: {e}"))
    };
    let reader = scope_format::ProfileReader::open(&cli.file).map_err(unreadable)?;
    let present = reader.ranks().map_err(unreadable)?;
    if let Some(sel) = &select {
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
    }
    let s = summary::compute(&reader, select.as_deref()).map_err(unreadable)?;
    let (lines, table) = summary::render(&s, &shown.to_string());
    for l in lines {
        println!("{l}");
    }
    print!("{table}");
    Ok(())
}
