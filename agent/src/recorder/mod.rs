//! Where events go after a thread's buffer fills: the sink (the rank's file once it exists,
//! memory before that), the registry of live threads, and the stop switch.
//!
//! Invariants:
//! - Every event reaches exactly one of: the rank file, the pending store, or the dropped
//!   count (which is written into the file). Nothing is silently lost.
//! - The pending store (events recorded before `MPI_Init` gave the rank a file) is bounded by
//!   `PENDING_CAP` events; beyond it events are counted as dropped.
//! - After `stop`, no thread records: every registered state's limit is 0.

pub mod clock;

use crate::engine::thread::ThreadState;
use scope_format::{RankAttrs, RankWriter};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

const PENDING_CAP: usize = 4 << 20;

#[derive(Default)]
struct Columns {
    start: Vec<i64>,
    end: Vec<i64>,
    thread: Vec<i64>,
}

/// A region id with this bit set names a region set (see `set_regions`).
pub const REGION_SET: u32 = 1 << 31;

#[derive(Default)]
struct Sink {
    regions: Vec<String>,
    sets: Vec<Vec<u32>>,
    writer: Option<RankWriter>,
    write_failed: bool,
    pending: BTreeMap<u32, Columns>,
    pending_events: usize,
    dropped: u64,
    threads: Vec<usize>,
    events_written: u64,
}

static SINK: Mutex<Option<Sink>> = Mutex::new(None);
static STOPPED: AtomicBool = AtomicBool::new(false);

fn with_sink<R>(f: impl FnOnce(&mut Sink) -> R) -> R {
    let mut g = SINK.lock().unwrap_or_else(|p| p.into_inner());
    f(g.get_or_insert_with(Sink::default))
}

/// Names of the regions, indexed by the region id the stubs carry, and the region sets: a
/// hook carrying `REGION_SET | i` records each call into every region of `sets[i]`.
pub fn set_regions(names: Vec<String>, sets: Vec<Vec<u32>>) {
    with_sink(|s| {
        s.regions = names;
        s.sets = sets;
    });
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
    flush_thread(st);
    let addr = st as *const ThreadState as usize;
    with_sink(|s| {
        s.threads.retain(|&t| t != addr);
        s.dropped += st.dropped;
    });
}

/// Moves a thread's buffered events into the sink and empties its buffer.
pub fn flush_thread(st: &ThreadState) {
    let events = st.events();
    if events.is_empty() {
        return;
    }
    let conv = clock::Converter::now();
    let tid = st.thread_index as i64;
    let sets = with_sink(|s| s.sets.clone());
    let mut by_region: BTreeMap<u32, Columns> = BTreeMap::new();
    for e in events {
        let (start, end) = (conv.ns(e.t_enter), conv.ns(e.t_exit));
        let id = e.region as u32;
        let members = if id & REGION_SET != 0 {
            sets.get((id & !REGION_SET) as usize)
                .map(Vec::as_slice)
                .unwrap_or(&[])
        } else {
            std::slice::from_ref(&id)
        };
        for &r in members {
            let c = by_region.entry(r).or_default();
            c.start.push(start);
            c.end.push(end);
            c.thread.push(tid);
        }
    }
    st.reset_buffer();
    with_sink(|s| s.accept(by_region));
}

impl Sink {
    fn accept(&mut self, by_region: BTreeMap<u32, Columns>) {
        let n: usize = by_region.values().map(|c| c.start.len()).sum();
        if self.writer.is_some() {
            self.write(&by_region, n);
        } else if self.write_failed || self.pending_events + n > PENDING_CAP {
            self.dropped += n as u64;
        } else {
            self.pending_events += n;
            for (r, c) in by_region {
                let p = self.pending.entry(r).or_default();
                p.start.extend(c.start);
                p.end.extend(c.end);
                p.thread.extend(c.thread);
            }
        }
    }

    fn write(&mut self, by_region: &BTreeMap<u32, Columns>, n: usize) {
        let Some(w) = self.writer.as_mut() else {
            return;
        };
        let mut result = Ok(());
        for (r, c) in by_region {
            let name = self
                .regions
                .get(*r as usize)
                .cloned()
                .unwrap_or_else(|| format!("region{r}"));
            result = w.append(&name, &c.start, &c.end, &c.thread);
            if result.is_err() {
                break;
            }
        }
        let result = result.and_then(|_| w.flush());
        match result {
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

/// Opens the rank's file and moves the pending events into it.
pub fn open_rank_file(path: &Path, rank: u32) -> Result<(), String> {
    let attrs = RankAttrs {
        rank: rank.into(),
        dropped_events: 0,
        pid: i64::from(std::process::id()),
        hostname: hostname(),
    };
    let writer = RankWriter::create(path, attrs).map_err(|e| e.to_string())?;
    with_sink(|s| {
        s.writer = Some(writer);
        let pending = std::mem::take(&mut s.pending);
        let n = std::mem::take(&mut s.pending_events);
        s.write(&pending, n);
    });
    Ok(())
}

/// Stops recording everywhere and moves every thread's events into the sink.
pub fn stop_and_flush_all() {
    STOPPED.store(true, Ordering::Relaxed);
    let threads = with_sink(|s| s.threads.clone());
    for &t in &threads {
        // SAFETY: registered states stay mapped until retired, and retiring takes the sink
        // lock, which `threads` was copied under; limit is an aligned atomic store.
        let st = unsafe { &*(t as *const ThreadState) };
        st.limit.store(0, Ordering::Relaxed);
    }
    for &t in &threads {
        // SAFETY: as above. Other threads are expected to be idle at finalize/exit.
        let st = unsafe { &*(t as *const ThreadState) };
        flush_thread(st);
        with_sink(|s| s.dropped += st.dropped);
    }
}

/// Writes the dropped count and closes the rank file. Returns events written.
pub fn close_rank_file() -> Result<u64, String> {
    with_sink(|s| {
        let dropped = s.dropped + s.pending_events as u64;
        let written = s.events_written;
        match s.writer.take() {
            Some(mut w) => {
                w.set_dropped(dropped as i64).map_err(|e| e.to_string())?;
                w.finish().map_err(|e| e.to_string())?;
                Ok(written)
            }
            None if s.write_failed => Err("the rank file could not be written".into()),
            None => Err("no rank file was opened".into()),
        }
    })
}

pub fn has_rank_file() -> bool {
    with_sink(|s| s.writer.is_some())
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
