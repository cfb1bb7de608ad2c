//! speedscope JSON (https://www.speedscope.app/file-format-schema.json): one shared frame per
//! region and one "evented" profile per (rank, thread) named "rank N thread T", in nanoseconds
//! since the first call of the selected ranks.
//! Invariants: within a profile, events are ordered by time and every "C" closes the most
//! recently opened frame (speedscope rejects anything else), so a call that overlaps its
//! enclosing call without nesting (possible only without thread ids) is cut at the enclosing
//! call's end and counted in a warning. Memory: one rank's events at a time (~32 B per call).

use super::super::{write_fail, Input};
use super::{create, json_str, time_origin};
use crate::error::{Fail, Result};
use crate::progress::Progress;
use crate::summary::CHUNK;
use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

/// One call: (thread, start, end, frame).
type Call = (i64, i64, i64, usize);

pub fn write(input: &Input, out: &Path, bar: &mut Progress) -> Result<u64> {
    let t0 = time_origin(input)?;
    let mut frames: BTreeMap<String, usize> = BTreeMap::new();
    for &rank in &input.ranks {
        for name in input.reader.regions(rank)? {
            frames.entry(name).or_default();
        }
    }
    for (i, v) in frames.values_mut().enumerate() {
        *v = i;
    }
    let mut w = create(out)?;
    let io = |e: std::io::Error| write_fail(out, e);
    let names: Vec<String> = frames.keys().map(|n| json_str(n)).collect();
    let frame_list: Vec<String> = names.iter().map(|n| format!("{{\"name\":{n}}}")).collect();
    write!(
        w,
        "{{\"$schema\":\"https://www.speedscope.app/file-format-schema.json\",\
         \"exporter\":{},\"name\":{},\"activeProfileIndex\":0,\
         \"shared\":{{\"frames\":[{}]}},\"profiles\":[",
        json_str(scope_format::TOOL_VERSION),
        json_str(&input.reader.path().display().to_string()),
        frame_list.join(",")
    )
    .map_err(io)?;
    let (mut n, mut clipped, mut first) = (0u64, 0u64, true);
    for &rank in &input.ranks {
        let mut calls: Vec<Call> = Vec::new();
        for name in input.reader.regions(rank)? {
            let frame = frames[&name];
            input
                .reader
                .for_each_chunk::<Fail, _>(rank, &name, CHUNK, |s, e, t| {
                    for (i, (&s, &e)) in s.iter().zip(e).enumerate() {
                        calls.push((t.get(i).copied().unwrap_or(0), s - t0, e - t0, frame));
                    }
                    bar.add(s.len() as u64);
                    Ok(())
                })?;
        }
        n += calls.len() as u64;
        // Per thread by start; the longer (enclosing) call first on equal starts.
        calls.sort_unstable_by(|a, b| (a.0, a.1, b.2, a.3).cmp(&(b.0, b.1, a.2, b.3)));
        for lane in calls.chunk_by(|a, b| a.0 == b.0) {
            if !std::mem::take(&mut first) {
                w.write_all(b",").map_err(io)?;
            }
            clipped += profile(&mut w, rank, lane).map_err(io)?;
        }
    }
    writeln!(w, "]}}").map_err(io)?;
    w.flush().map_err(io)?;
    if clipped > 0 {
        eprintln!(
            "scope-pproc: {clipped} call(s) overlapped an enclosing call without nesting \
             (no thread ids?); speedscope shows them cut at the enclosing call's end"
        );
    }
    Ok(n)
}

/// Writes one evented profile of sorted `calls` (one thread); returns how many were cut.
fn profile(w: &mut impl Write, rank: u32, calls: &[Call]) -> std::io::Result<u64> {
    let start = calls.first().map_or(0, |c| c.1);
    let end = calls.iter().map(|c| c.2).max().unwrap_or(0);
    write!(
        w,
        "\n{{\"type\":\"evented\",\"name\":\"rank {rank} thread {}\",\"unit\":\"nanoseconds\",\
         \"startValue\":{start},\"endValue\":{end},\"events\":[",
        calls.first().map_or(0, |c| c.0)
    )?;
    let mut stack: Vec<(i64, usize)> = Vec::new();
    let mut sep = "";
    let mut ev = |w: &mut dyn Write, kind: char, at: i64, frame: usize| {
        let r = write!(
            w,
            "{sep}{{\"type\":\"{kind}\",\"frame\":{frame},\"at\":{at}}}"
        );
        sep = ",";
        r
    };
    let mut clipped = 0;
    for &(_, s, e, frame) in calls {
        while let Some(&(top_end, top)) = stack.last() {
            if top_end > s {
                break;
            }
            ev(w, 'C', top_end, top)?;
            stack.pop();
        }
        let e = match stack.last() {
            Some(&(top_end, _)) if e > top_end => {
                clipped += 1;
                top_end
            }
            _ => e,
        };
        ev(w, 'O', s, frame)?;
        stack.push((e, frame));
    }
    while let Some((top_end, top)) = stack.pop() {
        ev(w, 'C', top_end, top)?;
    }
    write!(w, "]}}")?;
    Ok(clipped)
}

#[cfg(test)]
mod tests {
    fn events(calls: &[super::Call]) -> (String, u64) {
        let mut v = Vec::new();
        let c = super::profile(&mut v, 0, calls).unwrap();
        let s = String::from_utf8(v).unwrap();
        let ev = s[s.find("\"events\":").unwrap()..].to_string();
        (ev, c)
    }

    #[test]
    fn nested_and_adjacent_calls_open_and_close_in_order() {
        // outer 0..10 (frame 0) holding inner 2..5 and 5..10 (frame 1); then 10..12 (frame 0).
        let (ev, clipped) = events(&[(0, 0, 10, 0), (0, 2, 5, 1), (0, 5, 10, 1), (0, 10, 12, 0)]);
        assert_eq!(clipped, 0);
        let seq: Vec<&str> = ev.matches("\"type\":\"").map(|_| "").collect();
        assert_eq!(seq.len(), 8);
        assert!(ev.contains(
            r#"{"type":"O","frame":0,"at":0},{"type":"O","frame":1,"at":2},{"type":"C","frame":1,"at":5},{"type":"O","frame":1,"at":5},{"type":"C","frame":1,"at":10},{"type":"C","frame":0,"at":10},{"type":"O","frame":0,"at":10}"#
        ), "{ev}");
    }

    #[test]
    fn overlap_without_nesting_is_cut() {
        let (ev, clipped) = events(&[(0, 0, 10, 0), (0, 5, 15, 1)]);
        assert_eq!(clipped, 1);
        assert!(
            ev.contains(r#"{"type":"C","frame":1,"at":10},{"type":"C","frame":0,"at":10}"#),
            "{ev}"
        );
    }
}
