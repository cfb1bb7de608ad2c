//! The recorder: the engine's records become intervals in the rank's file. Batching and args
//! pairing (`batch.rs`, pure), the sink with its pending store and spill file (`sink.rs`), the
//! file lock (`files.rs`), the consumer side of the buffers (`drain.rs`) and the writer thread
//! (`writer.rs`). This file is the recorder's interface to the lifecycle and to the engine's
//! client; no file below refers to it.
//!
//! Invariants: see each file; in short, nothing recorded is silently lost (rank file, pending
//! store, spill file or dropped count), HDF5 runs only under the file lock, and after `stop`
//! no thread records.

mod batch;
mod drain;
mod files;
mod sink;
pub mod writer;

pub use batch::REGION_SET;
pub use drain::{flush_thread, retire_thread};

use crate::base::log;
use crate::engine;
use files::{holds_files, lock_files};
use scope_format::{rank_file_name, RankWriter};
use sink::{copy_spill, rank_attrs, with_sink};
use std::path::{Path, PathBuf};

/// Names of the regions, indexed by the region id the stubs carry, the region sets (a hook
/// carrying `REGION_SET | i` records each call into every region of `sets[i]`), and the MPI
/// call regions (id, whether their calls come with an args record).
pub fn set_regions(names: Vec<String>, sets: Vec<Vec<u32>>, mpi: Vec<(u32, bool)>) {
    with_sink(|s| {
        let mut flags = vec![batch::MpiKind::NotMpi; names.len()];
        for (r, with_args) in mpi {
            if let Some(m) = flags.get_mut(r as usize) {
                *m = if with_args {
                    batch::MpiKind::WithArgs
                } else {
                    batch::MpiKind::NoArgs
                };
            }
        }
        s.regions = batch::Regions {
            names,
            sets,
            mpi: flags,
        };
    });
}

/// The output file: a spill directory, if one is needed, is created next to it.
pub fn set_output(output: &Path) {
    with_sink(|s| s.spill_parent = Some(output.to_path_buf()));
}

/// The engine may let a thread wait for the writer: not while it holds the file lock.
pub fn may_wait_for_writer() -> bool {
    !holds_files()
}

/// Opens the rank's file and moves into it the pending intervals and, if the process spilled
/// before MPI gave it a rank, the spilled ones.
pub fn open_rank_file(path: &Path, rank: u32) -> Result<(), String> {
    let _files = lock_files();
    let spilled = with_sink(|s| {
        let dir = s.spilled.take()?;
        let w = s.writer.take()?;
        if let Err(e) = w.finish() {
            log::error(&format!("closing the spill file: {e}"));
        }
        Some(dir)
    });
    let writer = RankWriter::create(path, rank_attrs(rank)).map_err(|e| e.to_string())?;
    // On disk at once: a rank killed before its first write leaves a readable, empty file.
    writer.flush().map_err(|e| e.to_string())?;
    with_sink(|s| {
        s.writer = Some(writer);
        s.write_failed = false;
        s.drain_pending();
    });
    if let Some(dir) = spilled {
        let file = dir.join(rank_file_name(0));
        match copy_spill(&file) {
            Ok(()) => {
                let _ = std::fs::remove_file(&file);
                let _ = std::fs::remove_dir(&dir);
            }
            Err(e) => log::error(&format!(
                "events spilled to {} before MPI_Init were not copied: {e}",
                file.display()
            )),
        }
    }
    Ok(())
}

/// Stops recording everywhere and moves every thread's records into the sink (open frames
/// end now).
pub fn stop_and_flush_all() {
    engine::stop_recording();
    writer::stop();
    engine::finish_all(|st| {
        flush_thread(st);
        with_sink(|s| s.dropped += st.dropped);
    });
}

/// Writes the dropped count and closes the rank file, marked finished when the rank reached
/// the normal end of its run (not when it exits early or aborts). Returns events written.
pub fn close_rank_file(finished: bool) -> Result<u64, String> {
    let _files = lock_files();
    with_sink(|s| {
        let dropped = s.dropped + s.pending_events as u64;
        let written = s.events_written;
        match s.writer.take() {
            Some(mut w) => {
                w.set_dropped(dropped as i64).map_err(|e| e.to_string())?;
                if finished {
                    w.finish().map_err(|e| e.to_string())?;
                } else {
                    w.close_unfinished().map_err(|e| e.to_string())?;
                }
                Ok(written)
            }
            None if s.write_failed => Err("the rank file could not be written".into()),
            None => Err("no rank file was opened".into()),
        }
    })
}

/// Records the rank's MPI window (ns, CLOCK_MONOTONIC) in its file, if it has one.
pub fn set_window(begin: Option<i64>, end: Option<i64>) {
    let _files = lock_files();
    with_sink(|s| {
        if let Some(w) = s.writer.as_mut() {
            if let Err(e) = w.set_window(begin, end) {
                log::error(&format!("recording the MPI window: {e}"));
            }
        }
    });
}

/// Records a clock sample of this rank against rank 0's in its file, if it has one.
pub fn set_clock(sync: scope_format::ClockSync) {
    let _files = lock_files();
    with_sink(|s| {
        if let Some(w) = s.writer.as_mut() {
            if let Err(e) = w.set_clock(sync) {
                log::error(&format!("recording the clock offset: {e}"));
            }
        }
    });
}

pub fn has_rank_file() -> bool {
    with_sink(|s| s.writer.is_some())
}

/// The private directory a process without MPI spilled into, if it did.
pub fn spill_dir() -> Option<PathBuf> {
    with_sink(|s| s.spilled.clone())
}
