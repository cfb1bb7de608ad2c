//! The agent's life in a process: dormant after the constructor (config read, regions
//! resolved, hooks attached, events buffered in memory), set up after the real `MPI_Init`
//! (rank 0 creates the temporary directory and broadcasts it; every rank opens its file), torn
//! down before the real `MPI_Finalize` (flush, barrier, rank 0 merges), or at exit for a
//! process that never initialised MPI (a one-rank file).
//!
//! Invariants: nothing here panics into the program (every entry point catches); an internal
//! failure disables profiling with one `scope[...]` line and the program runs on; every rank
//! takes part in the same collectives whatever failed locally, so no rank hangs.

use crate::base::{clock, log, target};
use crate::{client, engine, leaders, mpi, output, placement, python, recorder, resolve};
use scope_config::env;
use scope_format::rank_file_name;
use std::path::PathBuf;
use std::sync::Mutex;

#[derive(Default)]
struct Life {
    active: bool,
    mpi: Option<mpi::Mpi>,
    rank: u32,
    size: u32,
    /// Where the rank files go (see `placement`).
    place: placement::Placement,
    output: PathBuf,
    /// This world was started with `MPI_Comm_spawn`: it merges into a world file of its own.
    spawned: bool,
    config: Option<scope_config::Config>,
    resolver: Option<resolve::Resolver>,
    /// Functions hooked so far.
    hooked: usize,
    /// Python regions will be recorded (the interpreter's hooks are registered).
    python: bool,
    /// Region ids of the Python regions seen so far, by name.
    python_ids: std::collections::HashMap<String, u32>,
    done: bool,
}

static LIFE: Mutex<Option<Life>> = Mutex::new(None);

fn with_life<R>(f: impl FnOnce(&mut Life) -> R) -> R {
    let mut g = LIFE.lock().unwrap_or_else(|p| p.into_inner());
    f(g.get_or_insert_with(Life::default))
}

/// Runs `f` as agent code (`engine::as_agent`), turning a panic into a disabled agent. In a
/// forked child (which could not take over the agent's state) every entry point returns at
/// once.
fn guarded(what: &str, f: impl FnOnce()) {
    if engine::is_forked_child() {
        return;
    }
    if engine::as_agent(f).is_err() {
        log::error(&format!(
            "internal error during {what}; profiling is disabled"
        ));
        with_life(|l| l.active = false);
    }
}

/// The constructor: dormant set-up.
pub fn start() {
    guarded("start-up", || {
        if !target::is_target() {
            return;
        }
        log::set_verbose(std::env::var_os(env::VERBOSE).is_some_and(|v| v != "0"));
        let Some(config) = std::env::var_os(env::CONFIG) else {
            log::info("SCOPE_CONFIG is not set; not profiling");
            return;
        };
        let cfg = match scope_config::load(std::path::Path::new(&config)) {
            Ok(c) => c,
            Err(e) => return log::error(&format!("{e}; not profiling")),
        };
        if !clock::init() {
            log::info("the TSC is not marked invariant; timings may drift");
        }
        if let Err(e) = engine::init(&client::AGENT) {
            return log::error(&format!(
                "cannot start the interception engine: {e}; not profiling"
            ));
        }
        with_life(|l| {
            l.active = true;
            l.output = output::output_path();
            recorder::set_output(&l.output);
            l.resolver = Some(resolve::Resolver::new(&cfg));
            l.config = Some(cfg);
        });
        hook_new_objects(engine::When::StartUp);
        prepare_python();
        // SAFETY: registering plain extern "C" functions with atexit and pthread_atfork.
        unsafe {
            libc::atexit(at_exit);
            libc::pthread_atfork(
                Some(before_fork),
                Some(after_fork_in_parent),
                Some(after_fork_in_child),
            );
        }
        start_writer_once_hooked();
    });
}

/// Python regions: registers the interpreter's hooks if this process is a Python one.
fn prepare_python() {
    let Some(list) = with_life(|l| l.config.as_ref().map(|c| c.python.clone())) else {
        return;
    };
    if list.is_empty() {
        return;
    }
    match python::prepare(list, python_region_id) {
        python::Prepared::Ready => with_life(|l| l.python = true),
        python::Prepared::NoPython => log::info("python regions: no Python interpreter here"),
        python::Prepared::Refused => {}
    }
}

/// The region id of Python region `name`, registered with the recorder when new (called by
/// the Python layer when it decides a function is a region, on the program's thread).
fn python_region_id(name: &str) -> Option<u32> {
    with_life(|l| {
        if let Some(&id) = l.python_ids.get(name) {
            return Some(id);
        }
        let r = l.resolver.as_mut()?;
        r.regions.push(name.to_string());
        let id = (r.regions.len() - 1) as u32;
        l.python_ids.insert(name.to_string(), id);
        recorder::set_regions(r.regions.clone(), r.sets.clone(), r.mpi_regions());
        Some(id)
    })
}

/// Python regions that matched no function that ran: said on stderr and, if there is a file
/// (the merged profile, or a rank file `scope-run` merges), written into it for `scope-run`.
fn report_python_unmatched(file: Option<&std::path::Path>) {
    let unmatched = python::unmatched();
    if unmatched.is_empty() {
        return;
    }
    // scope-run reads it from every world's file and says it once (a spawned world may have
    // run what this one did not).
    for (pattern, close) in &unmatched {
        say_unless_launched(&scope_config::unmatched_python_sentence(pattern, close));
    }
    if let Some(path) = file {
        if let Err(e) = scope_format::write_python_unmatched(path, &unmatched) {
            log::error(&format!("cannot record the unmatched python regions: {e}"));
        }
    }
}

/// Starts the writer thread once a function is hooked or Python regions may record (it is
/// the one place it starts).
fn start_writer_once_hooked() {
    if with_life(|l| (l.hooked > 0 || l.python) && !l.done) {
        recorder::writer::start();
    }
}

extern "C" fn before_fork() {
    let _ = std::panic::catch_unwind(recorder::writer::before_fork);
}

extern "C" fn after_fork_in_parent() {
    let _ = std::panic::catch_unwind(recorder::writer::after_fork_in_parent);
}

/// In a child created by `fork`: it is not the profiled process (for a rank: not an MPI
/// rank) and must not touch the parent's rank file or output name. It records nothing and
/// writes nothing; its hooks pass through, and the agent's entry points return at once. It
/// touches no lock (another parent thread may have held one at the fork).
extern "C" fn after_fork_in_child() {
    let _ = std::panic::catch_unwind(|| {
        recorder::writer::forget_after_fork();
        engine::after_fork_in_child();
    });
}

/// Regions without a function here. `scope-run` checked the program before launch, so under
/// it this is only said in verbose mode; used bare, the agent is the only one to say it.
fn report_unmatched() {
    let unmatched = with_life(|l| match (&l.resolver, &l.config) {
        (Some(r), Some(c)) => r.unmatched(c),
        _ => Vec::new(),
    });
    for s in unmatched {
        say_unless_launched(&format!(
            "region '{s}': no matching function is loaded in this process"
        ));
    }
}

/// What `scope-run` says itself (it checked before launch, or reads the profile after the run):
/// under it, only in verbose mode; used bare, the agent is the only one to say it.
fn say_unless_launched(msg: &str) {
    if std::env::var_os(env::LAUNCHED).is_some() {
        log::info(msg);
    } else {
        log::error(msg);
    }
}

/// Resolves the regions in objects not seen before and hooks them.
fn hook_new_objects(when: engine::When) {
    with_life(|l| {
        let (Some(resolver), Some(cfg)) = (l.resolver.as_mut(), l.config.as_ref()) else {
            return;
        };
        let targets = resolver.resolve_new(cfg);
        if targets.is_empty() {
            return;
        }
        recorder::set_regions(
            resolver.regions.clone(),
            resolver.sets.clone(),
            resolver.mpi_regions(),
        );
        for (t, r) in targets.iter().zip(engine::attach(&targets, when)) {
            match r {
                Ok(()) => {
                    if matches!(t.kind, engine::Kind::Timing | engine::Kind::TimingWithArgs) {
                        l.hooked += 1;
                    }
                    log::info(&format!("hooked {} at {:#x}", t.label, t.address));
                }
                Err(e) => log::error(&format!("cannot hook {}: {e}", t.label)),
            }
        }
    });
}

/// After a successful `dlopen`: hook the regions of the objects it brought in.
pub fn after_dlopen() {
    guarded("dlopen", || {
        if active() {
            hook_new_objects(engine::When::FreshlyLoaded);
            start_writer_once_hooked();
        }
    });
}

/// After `dlclose`: objects that are gone will be resolved afresh if loaded again.
pub fn after_dlclose() {
    guarded("dlclose", || {
        with_life(|l| {
            if let Some(r) = l.resolver.as_mut() {
                r.forget_unloaded();
            }
        })
    });
}

fn active() -> bool {
    with_life(|l| l.active && !l.done)
}

/// After the real `MPI_Init`/`MPI_Init_thread` succeeded.
pub fn after_mpi_init() {
    guarded("MPI_Init", || {
        if !active() || with_life(|l| l.mpi.is_some()) {
            return;
        }
        let m = match mpi::Mpi::attach() {
            Ok(m) => m,
            Err(e) => {
                log::error(&format!("{e}; not profiling"));
                return with_life(|l| l.active = false);
            }
        };
        let (rank, size) = (m.rank().max(0) as u32, m.size().max(1) as u32);
        log::set_rank(rank.into());
        log::info(&format!(
            "MPI ABI: {:?}, {size} ranks{}",
            m.abi,
            if m.spawned {
                ", a world started by MPI_Comm_spawn"
            } else {
                ""
            }
        ));
        if rank == 0 {
            report_unmatched();
        }
        let out = with_life(|l| l.output.clone());
        // Collective: where the rank files go (rank 0's directory, or this node's).
        let place = placement::agree(&m, rank, &out, m.spawned);
        if let Some(d) = place.my_dir() {
            if let Err(e) = recorder::open_rank_file(&d.join(rank_file_name(rank)), rank) {
                log::error(&format!(
                    "cannot create my rank file: {e}; my data will be missing"
                ));
            }
            recorder::set_window(Some(clock::monotonic_ns()), None);
            // Runs before HDF5's own exit handler (registered when the file was created).
            // SAFETY: as in `start`.
            unsafe { libc::atexit(at_exit) };
        }
        if rank == 0 && !place.senders().is_empty() {
            log::info(&format!(
                "ranks {:?} do not see {}: they send their files at MPI_Finalize",
                place.senders(),
                place
                    .shared
                    .as_deref()
                    .unwrap_or(std::path::Path::new(""))
                    .display()
            ));
        }
        // Collective: every rank measures, whatever failed locally.
        let t0 = clock::monotonic_ns();
        let (begin, waited) = mpi::clock_sync::measure(&m, rank, size);
        log_clock("MPI_Init", &begin, clock::monotonic_ns() - t0, waited);
        recorder::set_clock(scope_format::ClockSync {
            begin: Some(begin),
            end: None,
        });
        with_life(|l| {
            l.rank = rank;
            l.size = size;
            l.place = place;
            l.spawned = m.spawned;
            l.mpi = Some(m);
        });
    });
}

fn log_clock(when: &str, s: &scope_format::ClockSample, took_ns: i64, waited_ns: i64) {
    log::info(&format!(
        "clock at {when}: {} ns ahead of rank 0's (± {} ns), measured in {} µs \
         after waiting {} µs for the other ranks",
        s.offset_ns,
        s.error_ns,
        (took_ns - waited_ns) / 1000,
        waited_ns / 1000
    ));
}

/// Before the real `MPI_Finalize`.
pub fn before_mpi_finalize() {
    guarded("MPI_Finalize", || {
        if !active() {
            return;
        }
        if with_life(|l| l.mpi.is_none()) && mpi::is_initialized() {
            after_mpi_init(); // MPI was initialised by a path we did not intercept
        }
        let Some((rank, size, place, out, spawned)) = with_life(|l| {
            l.mpi
                .as_ref()
                .map(|_| (l.rank, l.size, l.place.clone(), l.output.clone(), l.spawned))
        }) else {
            return;
        };
        let finalize_at = clock::monotonic_ns();
        recorder::stop_and_flush_all();
        recorder::set_window(None, Some(finalize_at));
        // Collective, like the barrier below: every rank with MPI takes part.
        let t0 = clock::monotonic_ns();
        if let Some((end, waited)) = with_life(|l| {
            l.mpi
                .as_ref()
                .map(|m| mpi::clock_sync::measure(m, l.rank, l.size))
        }) {
            log_clock("MPI_Finalize", &end, clock::monotonic_ns() - t0, waited);
            recorder::set_clock(scope_format::ClockSync {
                begin: None,
                end: Some(end),
            });
        }
        if recorder::has_rank_file() {
            if let Err(e) = recorder::close_rank_file(true) {
                log::error(&format!("closing my rank file: {e}"));
            }
        }
        // Collective: past one node, rank 0 lays the file out and node leaders copy
        // (`leaders.rs`); a failure before any copy falls back to the serial merge below.
        if !spawned && place.shared.is_some() && place.senders().is_empty() {
            let parallel = with_life(|l| {
                l.mpi
                    .as_ref()
                    .map(|m| merge_in_parallel(m, rank, size, &place, &out))
            })
            .flatten();
            if let Some(written) = parallel {
                if rank == 0 {
                    report_python_unmatched(written.as_deref());
                    log_finalize_cost(finalize_at, "parallel");
                }
                with_life(|l| {
                    if let Some(m) = l.mpi.take() {
                        m.free();
                    }
                    l.done = true;
                });
                return;
            }
        }
        // Collective: files of ranks that do not see rank 0's directory go there over MPI.
        let sent = with_life(|l| {
            l.mpi.as_ref().map_or(0, |m| {
                let n = placement::send_to_rank_0(m, rank, &place);
                m.barrier();
                n
            })
        });
        if rank == 0 {
            if let Some(dir) = &place.shared {
                let written = if spawned {
                    merge_spawned_world(dir, size, &out)
                } else {
                    merge_dir(dir, size, &out)
                };
                if let Some(path) = written.as_ref().filter(|_| !place.senders().is_empty()) {
                    if let Err(e) = scope_format::write_sent_over_mpi(path, sent as i64) {
                        log::error(&format!("cannot record how the rank files came: {e}"));
                    }
                }
                report_python_unmatched(written.as_deref());
                log_finalize_cost(finalize_at, "serial");
            }
        }
        with_life(|l| {
            if let Some(m) = l.mpi.take() {
                m.free();
            }
            l.done = true;
        });
    });
}

/// Rank 0, verbose: how long this rank spent in `MPI_Finalize` before the real one (flush,
/// clock, merge) and its peak memory, read by scripts/bench-finalize-nodes.sh.
fn log_finalize_cost(started_ns: i64, how: &str) {
    // SAFETY: getrusage fills the struct it is given.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: as above; RUSAGE_SELF is always valid.
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    log::info(&format!(
        "finalize: {:.1} ms in scope ({how} merge), peak memory {} KiB",
        (clock::monotonic_ns() - started_ns) as f64 / 1e6,
        ru.ru_maxrss
    ));
}

/// Collective: the parallel merge when rank 0 chose it (`SCOPE_MERGE`, or the node count).
/// `Some(written)` when it ran (`written`: the file, on rank 0), `None` when the serial merge
/// must run (chosen, or the parallel one gave up before copying anything).
fn merge_in_parallel(
    m: &mpi::Mpi,
    rank: u32,
    size: u32,
    place: &placement::Placement,
    out: &std::path::Path,
) -> Option<Option<PathBuf>> {
    let dir = place.shared.as_deref()?;
    let (nodes, leader) = leaders::leaders(&leaders::node_keys(m));
    // Rank 0's choice for everyone (SCOPE_MERGE could differ between ranks); only rank 0 reads
    // it, so a bad value is reported once, not by every rank.
    let mut choice = [u8::from(
        rank == 0 && leaders::choose(nodes) == leaders::Merge::Parallel,
    )];
    m.bcast_bytes_sleeping(&mut choice);
    if choice[0] != 1 {
        return None;
    }
    match leaders::merge(m, rank, size, &leader, dir, out) {
        Ok(written) => Some(written),
        Err(why) => {
            if rank == 0 {
                log::info(&format!(
                    "parallel merge not possible ({why}): merging serially"
                ));
            }
            None
        }
    }
}

/// Before the real `MPI_Abort`, which kills every rank: this rank stops recording (its open
/// frames end now), writes everything and closes its file for `scope-run` to salvage.
pub fn before_mpi_abort() {
    guarded("MPI_Abort", || {
        if !active() || with_life(|l| l.mpi.is_none()) {
            return;
        }
        recorder::stop_and_flush_all();
        keep_for_salvage("MPI_Abort called");
        with_life(|l| l.done = true);
    });
}

/// A rank ending without `MPI_Finalize` (after `stop_and_flush_all`): closes its file
/// unfinished, for `scope-run` to salvage, and says where it is.
fn keep_for_salvage(why: &str) {
    if recorder::has_rank_file() {
        let _ = recorder::close_rank_file(false);
    }
    let dir = with_life(|l| l.place.my_dir().map(std::path::Path::to_path_buf)).unwrap_or_default();
    log::error(&format!(
        "{why}; this rank's data stays in {}",
        dir.display()
    ));
}

/// Rank 0: merges the per-rank files of `dir` into the output (or the first free name beside
/// it) and removes them.
fn merge_dir(dir: &std::path::Path, size: u32, out: &std::path::Path) -> Option<PathBuf> {
    match scope_format::merge_launched_world_beside(dir, size, out, true) {
        Ok(w) => {
            if w.path != out {
                log::error(&format!(
                    "{} exists; writing {} instead",
                    out.display(),
                    w.path.display()
                ));
            }
            report_merge(&w, dir, "");
            Some(w.path)
        }
        Err(e) => {
            log::error(&format!(
                "merging into {}: {e}; per-rank files kept in {}",
                out.display(),
                dir.display()
            ));
            None
        }
    }
}

/// What a merge of `dir` did, in the agent's words (`what`: "" or "spawned world: ").
fn report_merge(w: &scope_format::WorldMerge, dir: &std::path::Path, what: &str) {
    for (r, why) in &w.merge.unreadable {
        log::error(&format!("rank {r}'s file could not be merged: {why}"));
    }
    log::info(&format!(
        "{what}merged {} ranks, {} events into {} (world {})",
        w.merge.merged.len(),
        w.merge.events,
        w.path.display(),
        w.world
    ));
    if let Some(e) = &w.attr_error {
        log::error(&format!(
            "cannot mark {} as world {}: {e}",
            w.path.display(),
            w.world
        ));
    }
    if !w.merge.removed {
        log::error(&format!("per-rank files kept in {}", dir.display()));
    }
}

/// Rank 0 of a world started with `MPI_Comm_spawn`: merges its per-rank files into the first
/// free `<stem>.world<K>.h5` beside the output (never the launched world's name).
fn merge_spawned_world(dir: &std::path::Path, size: u32, out: &std::path::Path) -> Option<PathBuf> {
    match scope_format::merge_world_dir(dir, size, out, true) {
        Ok(w) => {
            report_merge(&w, dir, "spawned world: ");
            Some(w.path)
        }
        Err(e) => {
            log::error(&format!(
                "merging this spawned world: {e}; per-rank files kept in {}",
                dir.display()
            ));
            None
        }
    }
}

extern "C" fn at_exit() {
    guarded("exit", || {
        if !active() {
            return;
        }
        let (has_mpi, out) = with_life(|l| (l.mpi.is_some(), l.output.clone()));
        recorder::stop_and_flush_all();
        if has_mpi {
            keep_for_salvage("exiting without MPI_Finalize");
        } else if let Some((dir, rank)) = ranks_dir_without_mpi() {
            // One of several processes scope-run launched that never initialised MPI.
            write_rank_without_mpi(&dir, rank);
        } else if with_life(|l| l.hooked == 0 && !l.python) {
            report_unmatched();
        } else {
            // Never an MPI process: a one-rank profile (already on disk if it spilled).
            report_unmatched();
            let dir = match recorder::spill_dir() {
                Some(dir) => Ok(dir),
                None => output::make_tmpdir(&out).and_then(|dir| {
                    recorder::open_rank_file(&dir.join(rank_file_name(0)), 0)
                        .map(|()| dir)
                        .map_err(|e| format!("cannot write the profile: {e}"))
                }),
            };
            match dir {
                Ok(dir) => {
                    if let Err(e) = recorder::close_rank_file(true) {
                        log::error(&format!("closing the profile: {e}"));
                    }
                    let merged = merge_dir(&dir, 1, &out);
                    report_python_unmatched(merged.as_deref());
                }
                Err(e) => log::error(&format!("{e}; the profile is lost")),
            }
        }
        with_life(|l| l.done = true);
    });
}

/// `scope-run`'s directory for ranks without MPI, and this process's rank, when it was started
/// by an MPI launcher under `scope-run` and never initialised MPI.
fn ranks_dir_without_mpi() -> Option<(PathBuf, u32)> {
    let dir = std::env::var_os(env::RANKS_DIR)?;
    let (rank, _) = crate::base::launcher_rank::launcher_rank()?;
    Some((PathBuf::from(dir), rank))
}

/// Writes this process's rank file (finished) into `dir` for `scope-run` to merge, with the
/// Python regions that matched nothing here as an attribute of the file (read from rank 0's).
fn write_rank_without_mpi(dir: &std::path::Path, rank: u32) {
    log::set_rank(rank.into());
    let file = dir.join(rank_file_name(rank));
    if let Err(e) = recorder::open_rank_file(&file, rank) {
        return log::error(&format!("cannot write my rank file: {e}; my data is lost"));
    }
    if let Err(e) = recorder::close_rank_file(true) {
        log::error(&format!("closing my rank file: {e}"));
    }
    report_python_unmatched(Some(&file));
}
