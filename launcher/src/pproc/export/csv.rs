//! CSV export: a header, then one row per call,
//! `rank,thread,region,start_ns,end_ns,duration_ns`, in file order per rank and region.
//! Invariant: region names are quoted (RFC 4180) when they hold a comma, quote or line break;
//! `thread` is 0 when the file has no thread ids.

use super::super::{write_fail, Input};
use super::create;
use crate::error::{Fail, Result};
use crate::progress::Progress;
use crate::summary::CHUNK;
use std::io::Write;
use std::path::Path;

pub fn write(input: &Input, out: &Path, bar: &mut Progress) -> Result<u64> {
    let mut w = create(out)?;
    let io = |e: std::io::Error| write_fail(out, e);
    writeln!(w, "rank,thread,region,start_ns,end_ns,duration_ns").map_err(io)?;
    let mut n = 0u64;
    for &rank in &input.ranks {
        for name in input.reader.regions(rank)? {
            let field = quote(&name);
            input
                .reader
                .for_each_chunk::<Fail, _>(rank, &name, CHUNK, |s, e, t| {
                    for (i, (&s, &e)) in s.iter().zip(e).enumerate() {
                        let tid = t.get(i).copied().unwrap_or(0);
                        writeln!(w, "{rank},{tid},{field},{s},{e},{}", e - s).map_err(io)?;
                    }
                    n += s.len() as u64;
                    bar.add(s.len() as u64);
                    Ok(())
                })?;
        }
    }
    w.flush().map_err(io)?;
    Ok(n)
}

pub fn quote(field: &str) -> String {
    if field.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", field.replace('"', "\"\""))
    } else {
        field.to_string()
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn quoting() {
        assert_eq!(super::quote("compute"), "compute");
        assert_eq!(super::quote("a,b"), "\"a,b\"");
        assert_eq!(super::quote("say \"hi\""), "\"say \"\"hi\"\"\"");
    }
}
