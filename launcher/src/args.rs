//! scope-run's command line, split by hand because options scope-run does not know belong to
//! the MPI launcher, in order, with their values.
//! Rules: everything after the first `--` is the program and its arguments, never parsed; an
//! unknown option token (`-x`, `--mca`) is forwarded together with every following token up to
//! the next known scope-run option or `--`; without `--`, the first plain token that is not
//! swallowed by a forwarded option starts the program.

use crate::error::{Fail, Result};
use std::path::PathBuf;

/// Which launcher wraps the ranks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LauncherChoice {
    Auto,
    Mpirun,
    Mpiexec,
    Srun,
    None,
}

/// The parsed command line, a plain struct the rest of the launcher works from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunArgs {
    pub np: Option<u32>,
    pub config: Option<PathBuf>,
    pub output: Option<PathBuf>,
    pub launcher: LauncherChoice,
    pub force: bool,
    pub verbose: bool,
    /// Options for the MPI launcher, verbatim and in order.
    pub launcher_args: Vec<String>,
    pub program: String,
    pub program_args: Vec<String>,
}

/// What the command line asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Parsed {
    Run(RunArgs),
    Help,
    Version,
}

pub const USAGE: &str = "\
usage: scope-run [OPTIONS] [-n N] -- PROGRAM [ARGS...]

Runs PROGRAM (under the MPI launcher when -n is given) with the scope agent loaded into every
rank, and prints a summary of the profile it wrote.

options:
  -n, --np N            number of ranks (also -np N)
  -c, --config FILE     regions to profile (default: ./scope.toml, else $SCOPE_CONFIG)
  -o, --output FILE     profile to write (default: profiling_data.h5)
      --launcher KIND   auto | mpirun | mpiexec | srun | none (default: auto)
      --force           replace an existing output file
  -v, --verbose         say what scope-run and the agent resolve and do
  -h, --help            print this help
  -V, --version         print the version

Any other option before `--` is passed to the MPI launcher unchanged, with its values
(e.g. --bind-to core, --mca btl self, -host a,b).

examples:
  scope-run -n 4 -- ./solver
      4 ranks under the launcher of the MPI that ./solver links; the regions are in ./scope.toml
  scope-run -n 4 -c solver.toml -o run1.h5 --force --mca btl self,vader -- ./solver 200
      another config and output file, replaced if it exists; `--mca btl self,vader` goes to
      Open MPI's mpirun, `200` to the program
  scope-run -n 2 -c py.toml -- python3 driver.py
      an mpi4py script; py.toml names its Python functions ([[regions]] python = \"step\")

then: scope-pproc profiling_data.h5 --show   (the table; the Gantt chart as SVG and HTML)";

/// The `scope-run ...` command lines of USAGE's examples, each as its arguments after
/// `scope-run` (the examples are checked to parse, and run, by the tests).
pub fn usage_examples() -> Vec<Vec<String>> {
    USAGE
        .lines()
        .filter_map(|l| l.strip_prefix("  scope-run "))
        .map(|l| l.split_whitespace().map(str::to_string).collect())
        .collect()
}

/// Options that take a value: (short, long).
const VALUED: [(&str, &str); 4] = [
    ("-n", "--np"),
    ("-c", "--config"),
    ("-o", "--output"),
    ("", "--launcher"),
];
const FLAGS: [(&str, &str); 4] = [
    ("", "--force"),
    ("-v", "--verbose"),
    ("-h", "--help"),
    ("-V", "--version"),
];

/// Splits a known option token into (canonical long name, inline value).
fn known(token: &str) -> Option<(&'static str, Option<String>)> {
    if token == "-np" {
        return Some(("--np", None));
    }
    for (short, long) in VALUED {
        if token == long || (!short.is_empty() && token == short) {
            return Some((long, None));
        }
        if let Some(v) = token.strip_prefix(long).and_then(|r| r.strip_prefix('=')) {
            return Some((long, Some(v.to_string())));
        }
        // `-n4`. Other short options never take a glued value: `-oversubscribe` and
        // `-cpus-per-proc` are Open MPI options, not `-o versubscribe`.
        if short == "-n" && token.len() > 2 && token[2..].bytes().all(|b| b.is_ascii_digit()) {
            return Some((long, Some(token[2..].to_string())));
        }
    }
    FLAGS
        .iter()
        .find(|(s, l)| token == *l || (!s.is_empty() && token == *s))
        .map(|(_, l)| (*l, None))
}

fn is_option(token: &str) -> bool {
    token.len() > 1 && token.starts_with('-') && token != "--"
}

/// Parses the arguments after the program name.
pub fn parse(argv: &[String]) -> Result<Parsed> {
    let mut a = RunArgs {
        np: None,
        config: None,
        output: None,
        launcher: LauncherChoice::Auto,
        force: false,
        verbose: false,
        launcher_args: Vec::new(),
        program: String::new(),
        program_args: Vec::new(),
    };
    let mut i = 0;
    let mut forwarding = false;
    let mut program_at = None;
    while i < argv.len() {
        let t = &argv[i];
        if t == "--" {
            program_at = Some(i + 1);
            break;
        }
        if let Some((name, inline)) = known(t) {
            forwarding = false;
            let mut value = || -> Result<String> {
                if let Some(v) = inline.clone() {
                    return Ok(v);
                }
                i += 1;
                argv.get(i)
                    .filter(|v| v.as_str() != "--")
                    .cloned()
                    .ok_or_else(|| Fail::check(format!("option {t} needs a value")))
            };
            match name {
                "--np" => a.np = Some(parse_np(&value()?)?),
                "--config" => a.config = Some(PathBuf::from(value()?)),
                "--output" => a.output = Some(PathBuf::from(value()?)),
                "--launcher" => a.launcher = parse_launcher(&value()?)?,
                "--force" => a.force = true,
                "--verbose" => a.verbose = true,
                "--help" => return Ok(Parsed::Help),
                _ => return Ok(Parsed::Version),
            }
        } else if is_option(t) {
            forwarding = true;
            a.launcher_args.push(t.clone());
        } else if forwarding {
            a.launcher_args.push(t.clone());
        } else {
            program_at = Some(i);
            break;
        }
        i += 1;
    }
    let Some(at) = program_at.filter(|&at| at < argv.len()) else {
        let hint = if a.launcher_args.is_empty() {
            String::new()
        } else {
            " (put `--` between launcher options and the program)".to_string()
        };
        return Err(Fail::check(format!(
            "no program given{hint}\nusage: scope-run [OPTIONS] [-n N] -- PROGRAM [ARGS...]"
        )));
    };
    a.program = argv[at].clone();
    a.program_args = argv[at + 1..].to_vec();
    Ok(Parsed::Run(a))
}

fn parse_np(v: &str) -> Result<u32> {
    match v.parse::<u32>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(Fail::check(format!(
            "-n needs a positive number of ranks, not '{v}'"
        ))),
    }
}

fn parse_launcher(v: &str) -> Result<LauncherChoice> {
    Ok(match v {
        "auto" => LauncherChoice::Auto,
        "mpirun" => LauncherChoice::Mpirun,
        "mpiexec" => LauncherChoice::Mpiexec,
        "srun" => LauncherChoice::Srun,
        "none" => LauncherChoice::None,
        _ => {
            return Err(Fail::check(format!(
                "unknown launcher '{v}' (expected auto, mpirun, mpiexec, srun or none)"
            )))
        }
    })
}

#[cfg(test)]
mod tests;
