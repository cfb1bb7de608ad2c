//! Chrome trace-event JSON: `{"traceEvents":[...],"displayTimeUnit":"ns"}` with, per rank,
//! `process_name` ("rank N") and `process_sort_index` metadata, per thread a `thread_name`
//! ("thread T"), and one complete event per call: `{"ph":"X","pid":rank,"tid":thread + 1,
//! "ts":µs,"dur":µs,"name":region,"cat":"region"}`. The tid is the thread id plus one because
//! Perfetto's JSON importer reads `tid 0` as "tid = pid", which would merge thread 0 of rank P
//! with thread P (and drop their overlapping calls).
//! Invariants: pid and tid are integers; ts and dur are exact (µs with three decimals, from
//! integer ns, relative to the first call); dur ≥ 0; streamed, never held in memory.

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
                            r#"{{"ph":"X","cat":"region","name":{quoted},"pid":{rank},"tid":{tid},"ts":{},"dur":{}}}"#,
                            micros(s - t0),
                            micros((e - s).max(0))
                        )
                        .map_err(io)?;
                    }
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
