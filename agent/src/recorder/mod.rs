//! Where events go after they leave a thread's buffer: the sink (the rank's file once it
//! exists, memory before that), the registry of live threads, the writer thread that moves
//! events out of the buffers, and the stop switch.
//!
//! Invariants:
//! - Every event reaches exactly one of: the rank file, the pending store, or the dropped
//!   count (which is written into the file). Nothing is silently lost.
//! - Everything that touches HDF5 or a thread's `taken`/`handoff` runs under the file lock
//!   (`lock_files`), taken before the sink lock, never while holding it.
//! - The pending store (events recorded before `MPI_Init` gave the rank a file) holds at most
//!   `PENDING_CAP` events. Past that, the events spill into a private one-rank file next to
//!   the output; if `MPI_Init` comes later, the spilled events are copied into the rank file.
//! - Every write to the rank file is pushed to disk before the file lock is released. The
//!   writer thread writes every full buffer as soon as it is handed over and, every flush
//!   interval (`writer::interval`, 1 s by default), the complete events of every buffer: a rank
//!   that dies loses at most the events of its last interval.
//! - After `stop`, no thread records: every registered state's limit is 0.

pub mod clock;
pub mod writer;

use crate::engine::thread::{Event, ThreadState, EVENT_CAP};
use scope_format::{rank_file_name, ProfileReader, RankAttrs, RankWriter};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};

const PENDING_CAP: usize = 1 << 20;

/// A region id with this bit set names a region set (see `set_regions`).
pub const REGION_SET: u32 = 1 << 31;

#[derive(Default)]
struct Columns {
    start: Vec<i64>,
    end: Vec<i64>,
    thread: Vec<i64>,
    /// MPI call regions only (else empty): one value per interval.
    bytes: Vec<i64>,
    peer: Vec<i64>,
}

impl Columns {
    fn with_capacity(n: usize) -> Columns {
        Columns {
            start: Vec::with_capacity(n),
            end: Vec::with_capacity(n),
            thread: Vec::with_capacity(n),
            bytes: Vec::new(),
            peer: Vec::new(),
        }
    }

    fn extend(&mut self, other: Columns) {
        self.start.extend(other.start);
        self.end.extend(other.end);
        self.thread.extend(other.thread);
        self.bytes.extend(other.bytes);
        self.peer.extend(other.peer);
    }

    /// The further columns, when this is an MPI call region.
    fn extra(&self) -> Vec<(&'static str, &[i64])> {
        if self.peer.is_empty() {
            Vec::new()
        } else {
            vec![("bytes", &self.bytes[..]), ("peer", &self.peer[..])]
        }
    }
}

/// Events of one flush, by region id.
type Batch = Vec<(u32, Columns)>;

#[derive(Default)]
struct Sink {
    regions: Vec<String>,
    sets: Vec<Vec<u32>>,
    /// By region id: an MPI call region (its events carry bytes and peer).
    mpi: Vec<bool>,
    /// Per thread state (address): args records not yet paired with their call's event,
    /// `(region word low half, bytes, peer)`, oldest first.
    args: std::collections::HashMap<usize, Vec<(u32, i64, i64)>>,
    writer: Option<RankWriter>,
    write_failed: bool,
    pending: Batch,
    pending_events: usize,
    /// Where a process without a rank file spills (set by the lifecycle: next to the output).
    spill_parent: Option<PathBuf>,
    /// The private directory of the spill file, while the writer is the spill file.
    spilled: Option<PathBuf>,
    dropped: u64,
    threads: Vec<usize>,
    events_written: u64,
}

static SINK: Mutex<Option<Sink>> = Mutex::new(None);
static STOPPED: AtomicBool = AtomicBool::new(false);
/// Set in a forked child whose sink lock was held at fork time: the sink is never touched again.
static UNUSABLE: AtomicBool = AtomicBool::new(false);

/// Serialises HDF5 (the static build is not thread-safe) and the draining of buffers.
static FILES: Mutex<()> = Mutex::new(());
/// `pthread_self` of the thread holding `FILES`, or 0.
static FILES_OWNER: AtomicU64 = AtomicU64::new(0);

struct FilesGuard(#[allow(dead_code)] MutexGuard<'static, ()>);

impl Drop for FilesGuard {
    fn drop(&mut self) {
        FILES_OWNER.store(0, Ordering::Release);
    }
}

fn self_id() -> u64 {
    // SAFETY: pthread_self has no preconditions.
    unsafe { libc::pthread_self() as u64 }
}

fn lock_files() -> FilesGuard {
    let g = FILES.lock().unwrap_or_else(|p| p.into_inner());
    FILES_OWNER.store(self_id(), Ordering::Release);
    FilesGuard(g)
}

/// True when this thread holds the file lock (then it must not wait for the writer).
fn holds_files() -> bool {
    FILES_OWNER.load(Ordering::Acquire) == self_id()
}

fn with_sink<R>(f: impl FnOnce(&mut Sink) -> R) -> R {
    let mut g = SINK.lock().unwrap_or_else(|p| p.into_inner());
    f(g.get_or_insert_with(Sink::default))
}

/// Names of the regions, indexed by the region id the stubs carry, the region sets (a hook
/// carrying `REGION_SET | i` records each call into every region of `sets[i]`), and the ids of
/// the MPI call regions.
pub fn set_regions(names: Vec<String>, sets: Vec<Vec<u32>>, mpi: Vec<u32>) {
    with_sink(|s| {
        s.mpi = vec![false; names.len()];
        for r in mpi {
            if let Some(m) = s.mpi.get_mut(r as usize) {
                *m = true;
            }
        }
        s.regions = names;
        s.sets = sets;
    });
}

/// The output file: a spill directory, if one is needed, is created next to it.
pub fn set_output(output: &Path) {
    with_sink(|s| s.spill_parent = Some(output.to_path_buf()));
}

pub fn active_limit() -> u64 {
    if STOPPED.load(Ordering::Relaxed) {
        0
    } else {
        ThreadState::ACTIVE_LIMIT
    }
}

/// Registers a new thread's state; false when recording has stopped.
pub fn register_thread(st: &ThreadState) -> bool {
    with_sink(|s| s.threads.push(st as *const ThreadState as usize));
    !STOPPED.load(Ordering::Relaxed)
}

/// A thread is exiting: keep its events, forget the state.
pub fn retire_thread(st: &ThreadState) {
    if UNUSABLE.load(Ordering::Relaxed) || holds_files() {
        return;
    }
    let _files = lock_files();
    drain_thread(st);
    let addr = st as *const ThreadState as usize;
    with_sink(|s| {
        s.threads.retain(|&t| t != addr);
        s.args.remove(&addr);
        s.dropped += st.dropped;
    });
}

/// A thread's buffer is full (its slow path): with the writer thread running, hand the buffer
/// over and switch to the other one, waiting first if the writer has not taken the previous
/// one yet. Recording stays on meanwhile: a signal handler that runs during the wait records
/// (and may hand over itself; the wait then ends with a buffer that is no longer full).
/// Returns false when the caller must write the buffer itself (no writer thread, or this
/// thread holds the file lock: then the buffer stays full and the event is dropped).
/// Lock-free and allocation-free; its only system calls are `futex` and `nanosleep`.
pub fn hand_over(st: &ThreadState) -> bool {
    if UNUSABLE.load(Ordering::Relaxed) || holds_files() || !writer::running() {
        return false;
    }
    loop {
        if !st.is_full() {
            return true;
        }
        if st.handoff.load(Ordering::Acquire) != 0 {
            if !writer::running() {
                return false;
            }
            writer::wake();
            writer::nap();
            continue;
        }
        if st.handing.swap(1, Ordering::Relaxed) != 0 {
            // A signal handler interrupted this thread's own switch: leave it alone.
            return true;
        }
        if st.is_full() && st.handoff.load(Ordering::Acquire) == 0 {
            let full = st.buf.load(Ordering::Relaxed);
            st.switch_buffers();
            st.handoff.store(full, Ordering::Release);
            writer::wake();
        }
        st.handing.store(0, Ordering::Relaxed);
        return true;
    }
}

/// Writes a thread's buffered events and empties its buffers. Called by the owning thread, or
/// for any thread once recording has stopped.
pub fn flush_thread(st: &ThreadState) {
    if UNUSABLE.load(Ordering::Relaxed) {
        st.reset_buffer();
        return;
    }
    if holds_files() {
        return;
    }
    let _files = lock_files();
    drain_thread(st);
    st.reset_buffer();
}

/// Writer thread: every handed-over buffer and, when `all`, the complete events of every
/// buffer being filled.
fn drain_all(all: bool) {
    if UNUSABLE.load(Ordering::Relaxed) {
        return;
    }
    let _files = lock_files();
    let threads = with_sink(|s| s.threads.clone());
    for &t in &threads {
        // SAFETY: registered states stay mapped (they are never unmapped), and a state leaves
        // the registry only under the file lock, which is held here.
        let st = unsafe { &*(t as *const ThreadState) };
        drain_handoff(st);
        if all {
            drain_filling(st);
        }
    }
}

/// Under the file lock: a thread's handed-over buffer, then its buffer being filled.
fn drain_thread(st: &ThreadState) {
    drain_handoff(st);
    drain_filling(st);
}

/// Under the file lock: writes the rest of a handed-over buffer and gives it back empty.
fn drain_handoff(st: &ThreadState) {
    let base = st.handoff.load(Ordering::Acquire);
    if base == 0 {
        return;
    }
    let from = st.taken[st.index_of(base)].load(Ordering::Acquire) as usize;
    move_to_sink(st, st.complete_events(base, from, EVENT_CAP));
    st.clear(base, EVENT_CAP);
    st.handoff.store(0, Ordering::Release);
}

/// Under the file lock: writes the complete events of the buffer being filled that are not
/// written yet; they stay in the buffer (counted in `taken`) until it is emptied.
fn drain_filling(st: &ThreadState) {
    let Some((base, cur)) = st.snapshot() else {
        return;
    };
    let taken = &st.taken[st.index_of(base)];
    let from = taken.load(Ordering::Acquire) as usize;
    let events = st.complete_events(base, from, ThreadState::slots(base, cur));
    if events.is_empty() {
        return;
    }
    taken.store((from + events.len()) as u64, Ordering::Release);
    move_to_sink(st, events);
}

/// Under the file lock: converts events to nanoseconds by region and hands them to the sink.
fn move_to_sink(st: &ThreadState, events: &[Event]) {
    if events.is_empty() {
        return;
    }
    let conv = clock::Converter::now();
    let tid = st.thread_index as i64;
    let addr = st as *const ThreadState as usize;
    let (sets, mpi, mut pending) = with_sink(|s| {
        (
            s.sets.clone(),
            s.mpi.clone(),
            s.args.remove(&addr).unwrap_or_default(),
        )
    });
    // Events of one thread mostly hit a few regions: a short list searched from the last hit
    // beats a map lookup per event.
    let mut batch: Batch = Vec::new();
    let mut last = 0usize;
    for e in events {
        let id = e.region as u32;
        if (e.region >> 32) as u32 == crate::engine::ARGS_HOOK {
            if pending.len() >= MAX_UNPAIRED {
                pending.remove(0); // a call whose event never came (e.g. it passed through)
            }
            pending.push((id, e.t_enter as i64, e.t_exit as i64));
            continue;
        }
        // The call's own args record is the latest unpaired one of its region.
        let args = pending
            .iter()
            .rposition(|p| p.0 == id)
            .map(|i| pending.remove(i));
        let (start, end) = (conv.ns(e.t_enter), conv.ns(e.t_exit));
        let members = if id & REGION_SET != 0 {
            sets.get((id & !REGION_SET) as usize)
                .map(Vec::as_slice)
                .unwrap_or(&[])
        } else {
            std::slice::from_ref(&id)
        };
        for &r in members {
            if batch.get(last).is_none_or(|c| c.0 != r) {
                last = batch.iter().position(|c| c.0 == r).unwrap_or_else(|| {
                    batch.push((r, Columns::with_capacity(events.len())));
                    batch.len() - 1
                });
            }
            let c = &mut batch[last].1;
            c.start.push(start);
            c.end.push(end);
            c.thread.push(tid);
            if mpi.get(r as usize).copied().unwrap_or(false) {
                // -1 bytes: the call's arguments were not read (its record was lost).
                let (_, bytes, peer) = args.unwrap_or((0, -1, scope_format::PEER_NONE));
                c.bytes.push(bytes);
                c.peer.push(peer);
            }
        }
    }
    with_sink(|s| {
        if !pending.is_empty() {
            s.args.insert(addr, pending);
        }
        s.accept(batch)
    });
}

/// Args records kept per thread while their calls run (calls nest only a few deep).
const MAX_UNPAIRED: usize = 64;

fn count(batch: &Batch) -> usize {
    batch.iter().map(|(_, c)| c.start.len()).sum()
}

impl Sink {
    fn accept(&mut self, batch: Batch) {
        let n = count(&batch);
        if self.writer.is_none() && !self.write_failed && self.pending_events + n > PENDING_CAP {
            self.spill();
        }
        if self.writer.is_some() {
            self.write(&batch, n);
        } else if self.write_failed || self.pending_events + n > PENDING_CAP {
            self.dropped += n as u64;
        } else {
            self.pending_events += n;
            for (r, c) in batch {
                match self.pending.iter_mut().find(|p| p.0 == r) {
                    Some(p) => p.1.extend(c),
                    None => self.pending.push((r, c)),
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
                return crate::log::error(&format!(
                    "{e}; events past the in-memory limit are dropped"
                ))
            }
        };
        match RankWriter::create(&dir.join(rank_file_name(0)), rank_attrs(0)) {
            Ok(w) => {
                self.writer = Some(w);
                self.spilled = Some(dir);
                self.drain_pending();
            }
            Err(e) => crate::log::error(&format!("cannot spill events to {}: {e}", dir.display())),
        }
    }

    fn drain_pending(&mut self) {
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
        for (r, c) in batch {
            let name = self
                .regions
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
                crate::log::error(&format!(
                    "cannot write profile data ({e}); further events are dropped"
                ));
                self.writer = None;
                self.write_failed = true;
                self.dropped += n as u64;
            }
        }
    }
}

fn rank_attrs(rank: u32) -> RankAttrs {
    RankAttrs {
        rank: rank.into(),
        dropped_events: 0,
        pid: i64::from(std::process::id()),
        hostname: hostname(),
    }
}

/// Opens the rank's file and moves into it the pending events and, if the process spilled
/// before MPI gave it a rank, the spilled ones.
pub fn open_rank_file(path: &Path, rank: u32) -> Result<(), String> {
    let _files = lock_files();
    let spilled = with_sink(|s| {
        let dir = s.spilled.take()?;
        let w = s.writer.take()?;
        if let Err(e) = w.finish() {
            crate::log::error(&format!("closing the spill file: {e}"));
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
            Err(e) => crate::log::error(&format!(
                "events spilled to {} before MPI_Init were not copied: {e}",
                file.display()
            )),
        }
    }
    Ok(())
}

fn copy_spill(file: &Path) -> Result<(), String> {
    let r = ProfileReader::open(file).map_err(|e| e.to_string())?;
    for name in r.regions(0).map_err(|e| e.to_string())? {
        let iv = r.intervals(0, &name).map_err(|e| e.to_string())?;
        let column = |c: &str| r.column(0, &name, c).map_err(|e| e.to_string());
        let (bytes, peer) = (column("bytes")?, column("peer")?);
        let extra: Vec<(&str, &[i64])> = match (&bytes, &peer) {
            (Some(b), Some(p)) => vec![("bytes", b), ("peer", p)],
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

/// Stops recording everywhere and moves every thread's events into the sink.
pub fn stop_and_flush_all() {
    STOPPED.store(true, Ordering::Relaxed);
    writer::stop();
    let threads = with_sink(|s| s.threads.clone());
    for &t in &threads {
        // SAFETY: registered states stay mapped until retired, and retiring takes the sink
        // lock, which `threads` was copied under; limit is an aligned atomic store.
        let st = unsafe { &*(t as *const ThreadState) };
        st.limit.store(0, Ordering::Relaxed);
    }
    for &t in &threads {
        // SAFETY: as above. Other threads are expected to be idle at finalize/exit, so this
        // thread may write their buffers.
        let st = unsafe { &mut *(t as *mut ThreadState) };
        crate::engine::record_open_frames(st);
        flush_thread(st);
        with_sink(|s| s.dropped += st.dropped);
    }
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
                crate::log::error(&format!("recording the MPI window: {e}"));
            }
        }
    });
}

pub fn has_rank_file() -> bool {
    with_sink(|s| s.writer.is_some())
}

/// Stops recording and never touches the sink again (a forked child that cannot use it).
pub fn stop_silently() {
    UNUSABLE.store(true, Ordering::Relaxed);
    STOPPED.store(true, Ordering::Relaxed);
    if let Some(st) = std::ptr::NonNull::new(crate::engine::current_state() as *mut ThreadState) {
        // SAFETY: this thread's own state.
        unsafe { st.as_ref() }.limit.store(0, Ordering::Relaxed);
    }
}

/// The private directory a process without MPI spilled into, if it did.
pub fn spill_dir() -> Option<PathBuf> {
    with_sink(|s| s.spilled.clone())
}

fn hostname() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: buffer and its length.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr() as *mut libc::c_char, buf.len()) };
    if rc != 0 {
        return String::new();
    }
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    String::from_utf8_lossy(&buf[..end]).into_owned()
}
