//! Reading `scope.toml` into a [`Config`].
//! Invariants: a returned `Config` has at least one region or records MPI calls; every region has a valid pattern and
//! a non-empty name unique within the file; `line`/`column` point at the region's `symbol` value.
//! Every failure is a [`ConfigError`] located in the text whenever the text is at fault.

use crate::error::ConfigError;
use crate::location::Lines;
use crate::mpi_calls::MpiCalls;
use crate::pattern::SymbolPattern;
use crate::python::{PythonPattern, PythonRegion};
use crate::schema::File;
use std::collections::HashMap;
use std::ops::Range;
use std::path::{Path, PathBuf};
use toml::Spanned;

/// A parsed configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// The file it came from (as given), for messages.
    pub path: PathBuf,
    /// The regions to profile, in file order.
    pub regions: Vec<Region>,
    /// The MPI calls to record (`[mpi] calls`).
    pub mpi_calls: MpiCalls,
    /// The Python functions to profile (`python = ...`), in file order.
    pub python: Vec<PythonRegion>,
}

impl Config {
    /// Regions of either kind: none means there is nothing to profile but MPI calls.
    pub fn has_regions(&self) -> bool {
        !self.regions.is_empty() || !self.python.is_empty()
    }
}

/// One region: the functions matched by `pattern`, recorded under `name`.
#[derive(Debug, Clone)]
pub struct Region {
    /// The `symbol` text exactly as written.
    pub symbol: String,
    /// The region name in the output (default: `symbol`).
    pub name: String,
    /// `symbol`, ready to match ELF symbol names.
    pub pattern: SymbolPattern,
    /// 1-based line of the `symbol` value.
    pub line: usize,
    /// 1-based column (in characters) of the `symbol` value.
    pub column: usize,
}

/// Reads and parses the configuration at `path`.
pub fn load(path: &Path) -> Result<Config, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    parse(&text, path)
}

/// Parses configuration `text`; `path` is used only in messages and in [`Config::path`].
pub fn parse(text: &str, path: &Path) -> Result<Config, ConfigError> {
    let lines = Lines::new(text);
    let at = |span: Option<Range<usize>>, message: String| {
        let (line, column) = span.map_or((1, 1), |s| lines.at(s.start));
        ConfigError::At {
            path: path.to_path_buf(),
            line,
            column,
            message,
        }
    };
    let file: File = toml::from_str(text).map_err(|e| at(e.span(), e.message().to_string()))?;
    let mpi_calls = match file.mpi.and_then(|m| m.calls) {
        Some(v) => crate::mpi_calls::check(v, |offset| lines.at(offset))
            .map_err(|(span, msg)| at(Some(span), msg))?,
        None => MpiCalls::Off,
    };
    let entries = match file.regions {
        Some(list) if !list.get_ref().is_empty() => list.into_inner(),
        _ if mpi_calls.is_on() => Vec::new(),
        _ => {
            return Err(ConfigError::NoRegions {
                path: path.to_path_buf(),
            })
        }
    };
    let mut regions = Vec::with_capacity(entries.len());
    let mut python = Vec::new();
    let mut first_line: HashMap<String, usize> = HashMap::new();
    for entry in entries {
        let table = entry.span();
        let entry = entry.into_inner();
        let (name, name_span) =
            match (entry.symbol, entry.python) {
                (Some(symbol), None) => {
                    let (region, name_span) = check_entry(&lines, symbol, entry.name)
                        .map_err(|(span, msg)| at(Some(span), msg))?;
                    let name = region.name.clone();
                    regions.push(region);
                    (name, name_span)
                }
                (None, Some(text)) => {
                    let (region, name_span) = check_python(&lines, text, entry.name)
                        .map_err(|(span, msg)| at(Some(span), msg))?;
                    let name = region.name.clone();
                    python.push(region);
                    (name, name_span)
                }
                (Some(_), Some(p)) => {
                    return Err(at(
                        Some(p.span()),
                        "a region has either `symbol` (a native function) or `python` \
                     (a Python function), not both"
                            .to_string(),
                    ))
                }
                (None, None) => return Err(at(
                    Some(table),
                    "missing field `symbol` (a native function) or `python` (a Python function)"
                        .to_string(),
                )),
            };
        let (line, _) = lines.at(name_span.start);
        if let Some(first) = first_line.get(&name) {
            let message = format!(
                "duplicate region name '{name}' (lines {first} and {line}); give one a different `name`"
            );
            return Err(at(Some(name_span), message));
        }
        first_line.insert(name, line);
    }
    Ok(Config {
        path: path.to_path_buf(),
        regions,
        mpi_calls,
        python,
    })
}

/// Checks one `python` entry; on success also returns the span of its name (or of `python`).
fn check_python(
    lines: &Lines,
    text: Spanned<String>,
    name: Option<Spanned<String>>,
) -> Result<(PythonRegion, Range<usize>), (Range<usize>, String)> {
    let span = text.span();
    let text = text.into_inner();
    let pattern = PythonPattern::parse(&text).map_err(|e| (span.clone(), e))?;
    let (name, name_span, named) = match name {
        Some(n) => {
            let (name, s) = check_name(n)?;
            (name, s, true)
        }
        None => (pattern.text().to_string(), span.clone(), false),
    };
    let (line, column) = lines.at(span.start);
    Ok((
        PythonRegion {
            text: pattern.text().to_string(),
            name,
            named,
            pattern,
            line,
            column,
        },
        name_span,
    ))
}

/// Checks one entry; on success also returns the span of its name (or of `symbol` when defaulted).
fn check_entry(
    lines: &Lines,
    symbol: Spanned<String>,
    name: Option<Spanned<String>>,
) -> Result<(Region, Range<usize>), (Range<usize>, String)> {
    let symbol_span = symbol.span();
    let symbol = symbol.into_inner();
    let pattern = SymbolPattern::parse(&symbol).map_err(|e| (symbol_span.clone(), e))?;
    let (name, name_span) = match name {
        Some(n) => check_name(n)?,
        None => (symbol.clone(), symbol_span.clone()),
    };
    let (line, column) = lines.at(symbol_span.start);
    Ok((
        Region {
            symbol,
            name,
            pattern,
            line,
            column,
        },
        name_span,
    ))
}

fn check_name(n: Spanned<String>) -> Result<(String, Range<usize>), (Range<usize>, String)> {
    let span = n.span();
    let name = n.into_inner();
    if name.trim().is_empty() {
        return Err((span, "region name is empty".to_string()));
    }
    if name.chars().any(char::is_control) {
        return Err((span, "region name contains a control character".to_string()));
    }
    Ok((name, span))
}
