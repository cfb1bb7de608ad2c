//! Chrome trace-event JSON: `{"traceEvents":[...],"displayTimeUnit":"ns"}` with, per rank,
//! `process_name` ("rank N") and `process_sort_index` metadata, per thread a `thread_name`
//! ("thread T"), and one complete event per call: `{"ph":"X","pid":rank,"tid":thread + 1,
//! "ts":µs,"dur":µs,"name":region,"cat":"region"}`. The tid is the thread id plus one because
//! Perfetto's JSON importer reads `tid 0` as "tid = pid", which would merge thread 0 of rank P
//! with thread P (and drop their overlapping calls).
//! MPI calls (`[mpi] calls`) have `"cat":"mpi"` and `"args":{"bytes":B,"peer":P}`: P is the
//! peer rank, or `"MPI_ANY_SOURCE"`, `"MPI_PROC_NULL"`, `"MPI_ROOT"`; left out for calls
//! without a peer (`PEER_NONE`).
//! Invariants: pid and tid are integers; ts and dur are exact (µs with three decimals, from
//! integer ns, relative to the first call); dur ≥ 0; streamed, never held in memory but for the
//! `bytes` and `peer` columns of the MPI call region being written (16 B per call; the format
//! reads further columns whole).

use super::super::{write_fail, Input};
use super::{create, json_str, micros, time_origin};
use crate::error::{Fail, Result};
use crate::progress::Progress;
use crate::summary::CHUNK;
use std::collections::BTreeSet;
use std::io::Write;
use std::path::Path;

pub fn write(input: &Input, out: &Path, bar: &mut Progress) -> Result<u64> {
    let t0 = time_origin(input)?;
    let mut w = create(out)?;
    let io = |e: std::io::Error| write_fail(out, e);
    write!(w, "{{\"displayTimeUnit\":\"ns\",\"traceEvents\":[").map_err(io)?;
    let mut first = true;
    let mut sep = |w: &mut dyn Write| -> std::io::Result<()> {
        if !std::mem::take(&mut first) {
            w.write_all(b",\n")?;
        } else {
            w.write_all(b"\n")?;
        }
        Ok(())
    };
    let mut n = 0u64;
    for &rank in &input.ranks {
        sep(&mut w).map_err(io)?;
        write!(
            w,
            r#"{{"ph":"M","name":"process_name","pid":{rank},"tid":0,"args":{{"name":"rank {rank}"}}}},
{{"ph":"M","name":"process_sort_index","pid":{rank},"tid":0,"args":{{"sort_index":{rank}}}}}"#
        )
        .map_err(io)?;
        let mut threads = BTreeSet::new();
        for name in input.reader.regions(rank)? {
            let quoted = json_str(&name);
            let mpi = input.reader.is_mpi_call(rank, &name)?;
            let column = |c: &str| -> Result<Vec<i64>> {
                Ok(if mpi {
                    input.reader.column(rank, &name, c)?.unwrap_or_default()
                } else {
                    Vec::new()
                })
            };
            let (bytes, peer) = (column(scope_format::BYTES)?, column(scope_format::PEER)?);
            let cat = if mpi { "mpi" } else { "region" };
            let mut k = 0usize;
            input
                .reader
                .for_each_chunk::<Fail, _>(rank, &name, CHUNK, |s, e, t| {
                    for (i, (&s, &e)) in s.iter().zip(e).enumerate() {
                        let thread = t.get(i).copied().unwrap_or(0);
                        threads.insert(thread);
                        let tid = thread + 1;
                        sep(&mut w).map_err(io)?;
                        write!(
                            w,
                            r#"{{"ph":"X","cat":"{cat}","name":{quoted},"pid":{rank},"tid":{tid},"ts":{},"dur":{}"#,
                            micros(s - t0),
                            micros((e - s).max(0))
                        )
                        .map_err(io)?;
                        if mpi {
                            let a = args(bytes.get(k + i).copied(), peer.get(k + i).copied());
                            write!(w, r#","args":{{{a}}}"#).map_err(io)?;
                        }
                        w.write_all(b"}").map_err(io)?;
                    }
                    k += s.len();
                    n += s.len() as u64;
                    bar.add(s.len() as u64);
                    Ok(())
                })?;
        }
        for thread in threads {
            sep(&mut w).map_err(io)?;
            let tid = thread + 1;
            write!(
                w,
                r#"{{"ph":"M","name":"thread_name","pid":{rank},"tid":{tid},"args":{{"name":"thread {thread}"}}}}"#
            )
            .map_err(io)?;
        }
    }
    write!(w, "\n]}}\n").map_err(io)?;
    w.flush().map_err(io)?;
    Ok(n)
}

/// The members of an MPI call's `args`: `"bytes":B` and `"peer":P` where known.
fn args(bytes: Option<i64>, peer: Option<i64>) -> String {
    let mut a = Vec::new();
    if let Some(b) = bytes {
        a.push(format!(r#""bytes":{b}"#));
    }
    let peer = match peer {
        None | Some(scope_format::PEER_NONE) => None,
        Some(scope_format::PEER_ANY_SOURCE) => Some(r#""MPI_ANY_SOURCE""#.to_string()),
        Some(scope_format::PEER_PROC_NULL) => Some(r#""MPI_PROC_NULL""#.to_string()),
        Some(scope_format::PEER_ROOT) => Some(r#""MPI_ROOT""#.to_string()),
        Some(p) => Some(p.to_string()),
    };
    if let Some(p) = peer {
        a.push(format!(r#""peer":{p}"#));
    }
    a.join(",")
}

#[cfg(test)]
mod tests {
    #[test]
    fn mpi_args() {
        assert_eq!(super::args(Some(64), Some(3)), r#""bytes":64,"peer":3"#);
        assert_eq!(super::args(Some(8), Some(-1)), r#""bytes":8"#);
        assert_eq!(
            super::args(Some(0), Some(-2)),
            r#""bytes":0,"peer":"MPI_ANY_SOURCE""#
        );
        assert_eq!(super::args(None, Some(-3)), r#""peer":"MPI_PROC_NULL""#);
        assert_eq!(super::args(None, Some(-4)), r#""peer":"MPI_ROOT""#);
        assert_eq!(super::args(None, Some(-9)), r#""peer":-9"#);
        assert_eq!(super::args(None, None), "");
    }
}
