//! Reading `scope.toml` into a [`Config`].
//! Invariants: a returned `Config` has at least one region or records MPI calls; every region has a valid pattern and
//! a non-empty name unique within the file; `line`/`column` point at the region's `symbol` value.
//! Every failure is a [`ConfigError`] located in the text whenever the text is at fault.

use crate::error::ConfigError;
use crate::location::Lines;
use crate::mpi_calls::MpiCalls;
use crate::pattern::SymbolPattern;
use crate::schema::{File, RegionEntry};
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
    let mut first_line: HashMap<String, usize> = HashMap::new();
    for entry in entries {
        let (region, name_span) =
            check_entry(&lines, entry.into_inner()).map_err(|(span, msg)| at(Some(span), msg))?;
        let (line, _) = lines.at(name_span.start);
        if let Some(first) = first_line.get(&region.name) {
            let message = format!(
                "duplicate region name '{}' (lines {first} and {line}); give one a different `name`",
                region.name
            );
            return Err(at(Some(name_span), message));
        }
        first_line.insert(region.name.clone(), line);
        regions.push(region);
    }
    Ok(Config {
        path: path.to_path_buf(),
        regions,
        mpi_calls,
    })
}

/// Checks one entry; on success also returns the span of its name (or of `symbol` when defaulted).
fn check_entry(
    lines: &Lines,
    entry: RegionEntry,
) -> Result<(Region, Range<usize>), (Range<usize>, String)> {
    let symbol_span = entry.symbol.span();
    let symbol = entry.symbol.into_inner();
    let pattern = SymbolPattern::parse(&symbol).map_err(|e| (symbol_span.clone(), e))?;
    let (name, name_span) = match entry.name {
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
