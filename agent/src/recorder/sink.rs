//! Where intervals go: the rank's file once it exists, memory before that (the pending
//! store), a private spill file past `PENDING_CAP`, or the dropped count.
//!
//! Invariants:
//! - Every interval reaches exactly one of: the rank file, the pending store, or the dropped
//!   count (which is written into the file). Nothing is silently lost.
//! - The pending store holds at most `PENDING_CAP` intervals. Past that, they spill into a
//!   private one-rank file next to the output; if `MPI_Init` comes later, the spilled ones are
//!   copied into the rank file (`super::open_rank_file`).
//! - Every write to the rank file is pushed to disk before the file lock is released.
//! - The sink lock is taken under the file lock when both are needed, never the other way.

use super::batch::{count, Batch, PendingArgs, Regions};
use crate::base::{log, sys};
use scope_format::{rank_file_name, ProfileReader, RankAttrs, RankWriter};
use std::path::PathBuf;
use std::sync::Mutex;

/// 64 Ki intervals (1.5 MiB): enough for what ranks record before `MPI_Init`, small enough that a
/// process without MPI spills early instead of growing (and page-faulting) a large store.
const PENDING_CAP: usize = 1 << 16;

#[derive(Default)]
pub struct Sink {
    pub regions: Regions,
    /// Per thread state (address): args records not yet paired with their call, oldest first.
    pub args: std::collections::HashMap<usize, Vec<PendingArgs>>,
    pub writer: Option<RankWriter>,
    pub write_failed: bool,
    pending: Batch,
    pub pending_events: usize,
    /// Where a process without a rank file spills (set by the lifecycle: next to the output).
    pub spill_parent: Option<PathBuf>,
    /// The private directory of the spill file, while the writer is the spill file.
    pub spilled: Option<PathBuf>,
    pub dropped: u64,
    pub events_written: u64,
}

static SINK: Mutex<Option<Sink>> = Mutex::new(None);

pub fn with_sink<R>(f: impl FnOnce(&mut Sink) -> R) -> R {
    let mut g = SINK.lock().unwrap_or_else(|p| p.into_inner());
    f(g.get_or_insert_with(Sink::default))
}

pub fn rank_attrs(rank: u32) -> RankAttrs {
    RankAttrs {
        rank: rank.into(),
        dropped_events: 0,
        pid: i64::from(std::process::id()),
        hostname: sys::hostname(),
    }
}

impl Sink {
    /// Takes a batch's intervals (regions without any are skipped).
    pub fn accept(&mut self, batch: &Batch) {
        let n = count(batch);
        if self.writer.is_none() && !self.write_failed && self.pending_events + n > PENDING_CAP {
            self.spill();
        }
        if self.writer.is_some() {
            self.write(batch, n);
        } else if self.write_failed || self.pending_events + n > PENDING_CAP {
            self.dropped += n as u64;
        } else {
            self.pending_events += n;
            for (r, c) in batch.iter().filter(|(_, c)| c.len() > 0) {
                match self.pending.iter_mut().find(|p| p.0 == *r) {
                    Some(p) => p.1.extend_from(c),
                    None => self.pending.push((*r, c.clone())),
                }
            }
        }
    }

    /// Opens a private one-rank file for a process that has no rank file yet.
    fn spill(&mut self) {
        let Some(output) = self.spill_parent.clone() else {
            return;
        };
        let dir = match crate::output::make_tmpdir(&output) {
            Ok(d) => d,
            Err(e) => {
                return log::error(&format!("{e}; events past the in-memory limit are dropped"))
            }
        };
        match RankWriter::create(&dir.join(rank_file_name(0)), rank_attrs(0)) {
            Ok(w) => {
                self.writer = Some(w);
                self.spilled = Some(dir);
                self.drain_pending();
            }
            Err(e) => log::error(&format!("cannot spill events to {}: {e}", dir.display())),
        }
    }

    pub fn drain_pending(&mut self) {
        let pending = std::mem::take(&mut self.pending);
        let n = std::mem::take(&mut self.pending_events);
        self.write(&pending, n);
    }

    /// Appends a batch to the rank file and pushes the file to disk, so that a rank killed
    /// later keeps everything written so far.
    fn write(&mut self, batch: &Batch, n: usize) {
        if n == 0 {
            return;
        }
        let Some(w) = self.writer.as_mut() else {
            return;
        };
        let mut result = Ok(());
        for (r, c) in batch.iter().filter(|(_, c)| c.len() > 0) {
            let name = self
                .regions
                .names
                .get(*r as usize)
                .cloned()
                .unwrap_or_else(|| format!("region{r}"));
            result = w.append_with(&name, &c.start, &c.end, &c.thread, &c.extra());
            if result.is_err() {
                break;
            }
        }
        match result.and_then(|()| w.flush()) {
            Ok(()) => self.events_written += n as u64,
            Err(e) => {
                log::error(&format!(
                    "cannot write profile data ({e}); further events are dropped"
                ));
                self.writer = None;
                self.write_failed = true;
                self.dropped += n as u64;
            }
        }
    }
}

/// Copies a spill file's intervals into the rank file (under the file lock).
pub fn copy_spill(file: &std::path::Path) -> Result<(), String> {
    let r = ProfileReader::open(file).map_err(|e| e.to_string())?;
    for name in r.regions(0).map_err(|e| e.to_string())? {
        let iv = r.intervals(0, &name).map_err(|e| e.to_string())?;
        let column = |c: &str| r.column(0, &name, c).map_err(|e| e.to_string());
        let (bytes, peer) = (column(scope_format::BYTES)?, column(scope_format::PEER)?);
        let extra: Vec<(&str, &[i64])> = match (&bytes, &peer) {
            (Some(b), Some(p)) => vec![(scope_format::BYTES, b), (scope_format::PEER, p)],
            _ => Vec::new(),
        };
        with_sink(|s| match s.writer.as_mut() {
            Some(w) => w
                .append_with(
                    &name,
                    &iv.start_times,
                    &iv.end_times,
                    &iv.thread_ids,
                    &extra,
                )
                .map_err(|e| e.to_string()),
            None => Err("no rank file".into()),
        })?;
        with_sink(|s| s.events_written += iv.len() as u64);
    }
    Ok(())
}
