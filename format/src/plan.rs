//! A copy plan: what one rank's node leader must copy into the laid-out output (`layout.rs`),
//! made by rank 0 from the rank's manifest and sent to the leader (`MPI_Scatterv`), and its
//! compact encoding.
//!
//! Encoding, little-endian: magic `SCOPECP1`, body length (u64), FNV-1a checksum of the body
//! (u64), then the body: rank (u32), finished (u32, 0 or 1), the rank file's length (u64), the
//! laid-out output's length (u64), the rank's events (u64), its two clock samples (3 × i64 each, `[i64::MIN, 0, 0]` when not taken), the
//! number of columns (u32), and per column: whether its values are times to move into rank 0's
//! time base (u32, 0 or 1), its number of runs (u32) and per run source offset, destination
//! offset and length in bytes (3 × u64).
//! Invariants: `from_bytes(&p.to_bytes()) == Ok(p)`; `from_bytes` refuses anything else that is
//! not exactly one plan (truncated, padded, a flipped byte, counts larger than the bytes), and
//! every run it accepts is non-empty, whole int64 values, inside the rank file's length at its
//! source and inside the output's length at its destination.

use crate::clock::{ClockSample, ClockSync};
use crate::manifest::{checksum, Manifest, USERBLOCK};
use crate::raw_copy::aligns;
use crate::FormatError;

const MAGIC: &[u8; 8] = b"SCOPECP1";
/// Magic, body length, checksum.
const HEADER: usize = 24;
/// `at` of a clock sample that was not taken.
const NO_TIME: i64 = i64::MIN;

/// `len` bytes at `src` of the rank file go to `dst` of the output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ByteRun {
    pub src: u64,
    pub dst: u64,
    pub len: u64,
}

/// One column of one region of the rank, in the rank's manifest order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ColumnCopy {
    /// The values are times (`start_times`, `end_times`) of a rank whose clock is not rank 0's:
    /// they are moved into rank 0's time base with the plan's clock samples, not copied as is.
    pub align_times: bool,
    pub runs: Vec<ByteRun>,
}

/// What one rank's node leader copies, and what it checks the rank's file against first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopyPlan {
    rank: u32,
    finished: bool,
    input_len: u64,
    output_len: u64,
    events: u64,
    clock: ClockSync,
    columns: Vec<ColumnCopy>,
}

impl CopyPlan {
    /// An empty plan for the rank file that `m` describes; columns are added with `push`.
    pub(crate) fn new(rank: u32, m: &Manifest) -> CopyPlan {
        CopyPlan {
            rank,
            finished: m.finished,
            input_len: m.file_len,
            output_len: 0,
            events: m.regions.iter().map(|r| r.len).sum(),
            clock: m.clock,
            columns: Vec::new(),
        }
    }

    pub(crate) fn push(&mut self, column: ColumnCopy) {
        self.columns.push(column);
    }

    /// Records the length of the laid-out output, once it is closed.
    pub(crate) fn set_output_len(&mut self, len: u64) {
        self.output_len = len;
    }

    /// The rank whose file this plan copies.
    pub fn rank(&self) -> u32 {
        self.rank
    }

    /// The rank's file says it finished (`RankWriter::finish`); a rank that did not is listed
    /// in `missing_ranks` by the serial merge's callers.
    pub fn finished(&self) -> bool {
        self.finished
    }

    /// The rank file's length the plan was made for.
    pub fn input_len(&self) -> u64 {
        self.input_len
    }

    /// The output's length when `lay_out` closed it: copies never change it, so a leader finds
    /// it unchanged until the commit (which may grow it with new metadata).
    pub fn output_len(&self) -> u64 {
        self.output_len
    }

    /// The rank's events (the sum of its regions' lengths).
    pub fn events(&self) -> u64 {
        self.events
    }

    /// The rank's clock samples, which aligned columns are moved with.
    pub fn clock(&self) -> ClockSync {
        self.clock
    }

    pub fn columns(&self) -> &[ColumnCopy] {
        &self.columns
    }

    /// Bytes to copy in all.
    pub fn bytes(&self) -> u64 {
        self.columns
            .iter()
            .flat_map(|c| &c.runs)
            .map(|r| r.len)
            .sum()
    }

    /// Why the rank file described by `m` is not the one this plan was made for, if it is not:
    /// another rank, length, clock, or other columns or runs.
    pub(crate) fn mismatch(&self, m: &Manifest) -> Option<String> {
        if m.attrs.rank != i64::from(self.rank) {
            return Some(format!("the file is rank {}'s", m.attrs.rank));
        }
        if m.file_len != self.input_len {
            return Some(format!(
                "the file is {} bytes, the plan is for {}",
                m.file_len, self.input_len
            ));
        }
        let events: u64 = m.regions.iter().map(|r| r.len).sum();
        if m.clock != self.clock || m.finished != self.finished || events != self.events {
            return Some(
                "its clock samples, finished mark or events differ from the plan's".into(),
            );
        }
        let expected = m
            .regions
            .iter()
            .filter(|r| r.len > 0)
            .flat_map(|r| crate::COLUMNS.iter().zip(&r.columns));
        let mut planned = self.columns.iter();
        for (i, (col, runs)) in expected.enumerate() {
            let Some(c) = planned.next() else {
                return Some(format!("the plan has {i} columns, the file more"));
            };
            let same = c.align_times == aligns(col, &m.clock)
                && c.runs.len() == runs.len()
                && c.runs
                    .iter()
                    .zip(runs)
                    .all(|(p, r)| p.src == r.addr && Some(p.len) == r.elems.checked_mul(8));
            if !same {
                return Some(format!("column {i} ({col}) lies elsewhere in the file"));
            }
        }
        if planned.next().is_some() {
            return Some("the plan has more columns than the file".into());
        }
        None
    }

    /// The plan's encoding (see the module's header).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut body = Vec::with_capacity(96 + self.columns.len() * 32);
        body.extend_from_slice(&self.rank.to_le_bytes());
        body.extend_from_slice(&u32::from(self.finished).to_le_bytes());
        body.extend_from_slice(&self.input_len.to_le_bytes());
        body.extend_from_slice(&self.output_len.to_le_bytes());
        body.extend_from_slice(&self.events.to_le_bytes());
        for s in [self.clock.begin, self.clock.end] {
            for v in s.map_or([NO_TIME, 0, 0], ClockSample::to_array) {
                body.extend_from_slice(&v.to_le_bytes());
            }
        }
        body.extend_from_slice(&(self.columns.len() as u32).to_le_bytes());
        for c in &self.columns {
            body.extend_from_slice(&u32::from(c.align_times).to_le_bytes());
            body.extend_from_slice(&(c.runs.len() as u32).to_le_bytes());
            for r in &c.runs {
                for v in [r.src, r.dst, r.len] {
                    body.extend_from_slice(&v.to_le_bytes());
                }
            }
        }
        let mut out = Vec::with_capacity(HEADER + body.len());
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&(body.len() as u64).to_le_bytes());
        out.extend_from_slice(&checksum(&body).to_le_bytes());
        out.extend_from_slice(&body);
        out
    }

    /// Decodes exactly one plan from `bytes`; anything else is refused with the reason.
    pub fn from_bytes(bytes: &[u8]) -> Result<CopyPlan, FormatError> {
        decode(bytes).map_err(|message| FormatError::Decode {
            what: "copy plan",
            message,
        })
    }
}

fn decode(bytes: &[u8]) -> Result<CopyPlan, String> {
    let mut rd = Cursor(bytes);
    if rd.take(8)? != MAGIC {
        return Err("not a copy plan (magic)".into());
    }
    let (body_len, sum) = (rd.u64()?, rd.u64()?);
    if body_len != rd.0.len() as u64 {
        return Err(format!(
            "{} bytes of body, the header says {body_len}",
            rd.0.len()
        ));
    }
    if checksum(rd.0) != sum {
        return Err("checksum mismatch".into());
    }
    let (rank, finished) = (rd.u32()?, rd.u32()?);
    let (input_len, output_len, events) = (rd.u64()?, rd.u64()?, rd.u64()?);
    let mut samples = [None, None];
    for s in &mut samples {
        let v = [rd.i64()?, rd.i64()?, rd.i64()?];
        *s = match v {
            [NO_TIME, 0, 0] => None,
            [NO_TIME, ..] => return Err("a clock sample not taken has values".into()),
            _ => ClockSample::from_slice(&v),
        };
    }
    let finished = match finished {
        0 => false,
        1 => true,
        f => return Err(format!("finished is {f}")),
    };
    let n_columns = rd.count(8)?;
    let mut columns = Vec::with_capacity(n_columns);
    for _ in 0..n_columns {
        let align_times = match rd.u32()? {
            0 => false,
            1 => true,
            a => return Err(format!("align is {a}")),
        };
        let n_runs = rd.count(24)?;
        let mut runs = Vec::with_capacity(n_runs);
        for _ in 0..n_runs {
            let r = ByteRun {
                src: rd.u64()?,
                dst: rd.u64()?,
                len: rd.u64()?,
            };
            let inside = r.src >= USERBLOCK
                && r.src.checked_add(r.len).is_some_and(|end| end <= input_len)
                && r.dst
                    .checked_add(r.len)
                    .is_some_and(|end| end <= output_len);
            if r.len == 0 || !r.len.is_multiple_of(8) || !inside {
                return Err(format!(
                    "run {r:?} is not int64 values inside the rank file and the output"
                ));
            }
            runs.push(r);
        }
        columns.push(ColumnCopy { align_times, runs });
    }
    if !rd.0.is_empty() {
        return Err(format!("{} bytes after the plan", rd.0.len()));
    }
    Ok(CopyPlan {
        rank,
        finished,
        input_len,
        output_len,
        events,
        clock: ClockSync {
            begin: samples[0],
            end: samples[1],
        },
        columns,
    })
}

struct Cursor<'a>(&'a [u8]);

impl Cursor<'_> {
    fn take(&mut self, n: usize) -> Result<&[u8], String> {
        if self.0.len() < n {
            return Err("cut short".into());
        }
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        Ok(a)
    }
    fn word<const N: usize>(&mut self) -> Result<[u8; N], String> {
        let mut w = [0u8; N];
        w.copy_from_slice(self.take(N)?);
        Ok(w)
    }
    fn u32(&mut self) -> Result<u32, String> {
        Ok(u32::from_le_bytes(self.word()?))
    }
    fn u64(&mut self) -> Result<u64, String> {
        Ok(u64::from_le_bytes(self.word()?))
    }
    fn i64(&mut self) -> Result<i64, String> {
        Ok(i64::from_le_bytes(self.word()?))
    }
    /// A count of items of at least `min` bytes each, no more than the bytes left can hold.
    fn count(&mut self, min: usize) -> Result<usize, String> {
        let n = self.u32()? as usize;
        if n > self.0.len() / min {
            return Err(format!("{n} items in {} bytes", self.0.len()));
        }
        Ok(n)
    }
}
