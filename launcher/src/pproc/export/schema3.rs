//! The reference tool's columnar HDF5 layout ("schema 3"; `scope-profiler` 0.7.x reads it):
//! ```text
//! /                           attrs: scope_profiler_schema = 3 (int64), storage_layout = "columnar"
//! /region_table/names         str [R]   region names; a region id is an index here
//! /rank_region_index/         one row per (rank, region) that has calls, rank-major:
//!     region_ids u32, ranks u32, event_offsets u64, event_counts u64,
//!     source_lines i64 (-1), source_files str (""), source_texts str (""), tags str ("[]")
//! /events/start_times, end_times, thread_ids   int64 [E]   absolute ns, unchanged
//! ```
//! Invariants: the rows partition `events/*` contiguously in row order (the reader rejects
//! gaps or overlaps); every column the reader indexes is present (a missing `source_*`/`tags`
//! column makes every command fail; a missing schema attribute reads as an empty file).
//! Events are copied in slices, so memory stays bounded.

use super::super::{write_fail, Input};
use crate::error::{Fail, Result};
use crate::progress::Progress;
use crate::summary::CHUNK;
use hdf5::types::VarLenUnicode;
use hdf5::{Dataset, Group};
use std::path::Path;

struct Row {
    region: u32,
    rank: u32,
    offset: u64,
    count: u64,
}

pub fn write(input: &Input, out: &Path, bar: &mut Progress) -> Result<u64> {
    let h = |e: hdf5::Error| write_fail(out, e);
    let mut names: Vec<String> = Vec::new();
    for &rank in &input.ranks {
        names.extend(input.reader.regions(rank)?);
    }
    names.sort();
    names.dedup();
    let file = hdf5::File::create(out).map_err(h)?;
    file.new_attr::<i64>()
        .create("scope_profiler_schema")
        .and_then(|a| a.write_scalar(&3i64))
        .map_err(h)?;
    write_str_attr(&file, "storage_layout", "columnar", out)?;
    let table = file.create_group("region_table").map_err(h)?;
    strings(&table, "names", &names, out)?;

    let events = file.create_group("events").map_err(h)?;
    let column = |name: &str| {
        events
            .new_dataset::<i64>()
            .chunk(CHUNK)
            .shape(0..)
            .create(name)
            .map_err(h)
    };
    let cols = [
        column("start_times")?,
        column("end_times")?,
        column("thread_ids")?,
    ];
    let mut rows: Vec<Row> = Vec::new();
    let mut len = 0usize;
    for &rank in &input.ranks {
        for name in input.reader.regions(rank)? {
            let region = names.binary_search(&name).expect("collected above") as u32;
            let offset = len;
            input
                .reader
                .for_each_chunk::<Fail, _>(rank, &name, CHUNK, |s, e, t| {
                    let zeros;
                    let t = if t.is_empty() {
                        zeros = vec![0i64; s.len()];
                        &zeros[..]
                    } else {
                        t
                    };
                    append(&cols, [s, e, t], len).map_err(h)?;
                    len += s.len();
                    bar.add(s.len() as u64);
                    Ok(())
                })?;
            if len > offset {
                rows.push(Row {
                    region,
                    rank,
                    offset: offset as u64,
                    count: (len - offset) as u64,
                });
            }
        }
    }
    let index = file.create_group("rank_region_index").map_err(h)?;
    let col = |f: fn(&Row) -> u64| rows.iter().map(f).collect::<Vec<u64>>();
    let narrow = |v: Vec<u64>| v.into_iter().map(|x| x as u32).collect::<Vec<u32>>();
    numbers(&index, "region_ids", &narrow(col(|r| r.region.into())), out)?;
    numbers(&index, "ranks", &narrow(col(|r| r.rank.into())), out)?;
    numbers(&index, "event_offsets", &col(|r| r.offset), out)?;
    numbers(&index, "event_counts", &col(|r| r.count), out)?;
    numbers(&index, "source_lines", &vec![-1i64; rows.len()], out)?;
    let blank = vec![String::new(); rows.len()];
    strings(&index, "source_files", &blank, out)?;
    strings(&index, "source_texts", &blank, out)?;
    strings(&index, "tags", &vec!["[]".to_string(); rows.len()], out)?;
    file.flush().map_err(h)?;
    Ok(len as u64)
}

/// Appends equal-length slices to the three event columns, which hold `len` events so far.
fn append(cols: &[Dataset; 3], data: [&[i64]; 3], len: usize) -> hdf5::Result<()> {
    let to = len + data[0].len();
    for (ds, d) in cols.iter().zip(data) {
        ds.resize(to)?;
        ds.write_slice(d, len..to)?;
    }
    Ok(())
}

/// A one-dimensional dataset of numbers.
fn numbers<T: hdf5::H5Type>(g: &Group, name: &str, values: &[T], out: &Path) -> Result<()> {
    g.new_dataset_builder()
        .with_data(values)
        .create(name)
        .map(|_| ())
        .map_err(|e| write_fail(out, e))
}

fn utf8(v: &str, out: &Path) -> Result<VarLenUnicode> {
    v.parse()
        .map_err(|_| write_fail(out, format!("a name holds a NUL byte: {v:?}")))
}

/// A one-dimensional dataset of variable-length UTF-8 strings.
fn strings(g: &Group, name: &str, values: &[String], out: &Path) -> Result<()> {
    let data = values
        .iter()
        .map(|v| utf8(v, out))
        .collect::<Result<Vec<_>>>()?;
    g.new_dataset_builder()
        .with_data(&data)
        .create(name)
        .map(|_| ())
        .map_err(|e| write_fail(out, e))
}

fn write_str_attr(loc: &hdf5::Location, name: &str, v: &str, out: &Path) -> Result<()> {
    loc.new_attr::<VarLenUnicode>()
        .create(name)
        .and_then(|a| a.write_scalar(&utf8(v, out).expect("constant")))
        .map_err(|e| write_fail(out, e))
}
