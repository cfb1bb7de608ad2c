//! A run that ends before the merge (ranks exit without `MPI_Finalize`, or one segfaults and the
//! launcher kills the rest): `scope-run` merges what the ranks flushed, marks the file
//! incomplete, and still exits with the program's status. A rank keeps every event it flushed:
//! each full 65536-event buffer, and every flush interval (`SCOPE_FLUSH_INTERVAL`) whatever it
//! recorded since; if its exit handlers run, the rest too.

use scope_tests::{fixture, Flavor, Profile, WorkDir};
use std::ffi::OsString;

const CONFIG: &str = "[[regions]]\nsymbol = \"work\"\n";

/// A flush interval long past any test: only full buffers reach the disk.
const NEVER: &str = "1000";

fn run(flavor: Flavor, mode: &str) -> (WorkDir, scope_tests::Output, std::path::PathBuf) {
    run_flushing(flavor, mode, NEVER)
}

fn run_flushing(
    flavor: Flavor,
    mode: &str,
    interval: &str,
) -> (WorkDir, scope_tests::Output, std::path::PathBuf) {
    run_with(flavor, mode, interval, CONFIG, 4)
}

fn run_with(
    flavor: Flavor,
    mode: &str,
    interval: &str,
    config: &str,
    ranks: u32,
) -> (WorkDir, scope_tests::Output, std::path::PathBuf) {
    let wd = WorkDir::new(&format!("salvage_{mode}_{ranks}_{}", flavor.suffix()));
    let cfg = wd.write("cfg/scope.toml", config);
    let out = wd.subdir("out").join("profiling_data.h5");
    let prog = fixture(&flavor.fixture("mpi_dies")).path;
    let args: Vec<OsString> = ["-n".into(), ranks.to_string(), "-c".into()]
        .into_iter()
        .map(OsString::from)
        .chain([
            cfg.into_os_string(),
            "-o".into(),
            out.clone().into_os_string(),
            "--".into(),
        ])
        .chain([prog.into_os_string(), mode.into()])
        .collect();
    let o = scope_tests::mpi::run_plain(
        scope_tests::Cmd::new(scope_tests::paths::scope_run())
            .cwd(wd.subdir("run"))
            .args(&args)
            .env("SCOPE_FLUSH_INTERVAL", interval),
    );
    (wd, o, out)
}

/// Ranks 0..n present and the root says n ranks ran (`assert_ranks` also wants `complete`).
fn assert_rank_groups(p: &Profile, n: u32) {
    assert_eq!(
        p.ranks.keys().copied().collect::<Vec<_>>(),
        (0..n).collect::<Vec<_>>()
    );
    assert_eq!(p.attrs.ranks, i64::from(n));
}

fn exit_without_finalize(flavor: Flavor) {
    let (wd, o, out) = run(flavor, "exit");
    assert_ne!(
        o.code(),
        0,
        "the program's failure must show in scope-run's status: {o}"
    );
    assert!(o.stderr.contains("salvaged 4 rank(s)"), "{o}");
    let p = Profile::open(&out);
    assert_rank_groups(&p, 4);
    // A rank that reached its exit handlers has all 70000 calls; once one rank has exited
    // without MPI_Finalize the launcher kills the others, and a rank killed before its handlers
    // ran keeps what its writer thread had written: its first full buffer (65536), or nothing if
    // the kill came within milliseconds of the hand-over. Nothing else is possible.
    for (rank, regions) in &p.ranks {
        let n = regions
            .get("work")
            .map(|iv| iv.start_times.len())
            .unwrap_or(0);
        assert!(
            n == 70000 || n == 65536 || n == 0,
            "rank {rank}: {n} work calls\n{o}"
        );
    }
    assert!(!p.attrs.complete, "a salvaged file is marked incomplete");
    // No rank reached MPI_Finalize: all are named as not finished, none as missing (each has
    // its group, even one killed before it wrote an event).
    assert_eq!(p.attrs.unfinished_ranks, vec![0, 1, 2, 3]);
    assert_eq!(p.attrs.missing_ranks, Vec::<i64>::new());
    assert!(
        o.stderr.contains("rank(s) 0, 1, 2, 3 did not finish"),
        "{o}"
    );
    let leftovers: Vec<_> = std::fs::read_dir(out.parent().unwrap())
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert_eq!(
        leftovers.len(),
        1,
        "the private directory is removed after a full salvage: {leftovers:?}"
    );
    drop(wd);
}

#[test]
fn ranks_exiting_without_finalize_are_salvaged_open_mpi() {
    exit_without_finalize(Flavor::OpenMpi);
}

#[test]
fn ranks_exiting_without_finalize_are_salvaged_mpich() {
    exit_without_finalize(Flavor::Mpich);
}

#[test]
fn a_segfaulting_rank_keeps_its_full_buffers() {
    let (_wd, o, out) = run(Flavor::OpenMpi, "segv");
    assert_eq!(
        o.code(),
        128 + 11,
        "scope-run exits as the launcher did (SIGSEGV): {o}"
    );
    let p = Profile::open(&out);
    assert_rank_groups(&p, 4);
    // No interval flush in this run: each rank wrote its first full 65536-event buffer; the
    // rest of its calls were still in memory when it was killed.
    p.assert_exact_counts(&[("work", 65536)]);
    assert!(!p.attrs.complete);
}

#[test]
fn a_segfaulting_rank_keeps_everything_older_than_the_flush_interval() {
    let (_wd, o, out) = run_flushing(Flavor::OpenMpi, "segv", "0.2");
    assert_eq!(o.code(), 128 + 11, "{o}");
    let p = Profile::open(&out);
    assert_rank_groups(&p, 4);
    // Rank 2 crashes 1 s after the last call, five intervals: every rank's calls are on disk.
    p.assert_exact_counts(&[("work", 70000)]);
    assert!(!p.attrs.complete);
}

fn mpi_abort_inside_a_hooked_function(flavor: Flavor) {
    let config = format!("{CONFIG}[[regions]]\nsymbol = \"fail\"\n");
    let (_wd, o, out) = run_with(flavor, "abort", NEVER, &config, 4);
    assert_ne!(o.code(), 0, "MPI_Abort(5) fails the run: {o}");
    // The aborting rank's own line goes through the launcher's stderr forwarding, which Hydra
    // may cut when it kills the job (about 1 run in 8): the data below proves the rank wrote
    // everything before the real MPI_Abort whether or not the line arrived.
    if flavor == Flavor::OpenMpi {
        assert!(o.stderr.contains("MPI_Abort called"), "{o}");
    }
    assert!(o.stderr.contains("salvaged 4 rank(s)"), "{o}");
    assert!(
        o.stderr.contains("rank(s) 0, 1, 2, 3 did not finish"),
        "{o}"
    );
    let p = Profile::open(&out);
    assert_rank_groups(&p, 4);
    let counts = p.counts();
    // The aborting rank wrote everything before the real MPI_Abort, `fail` (still open) included.
    assert_eq!(counts["work"][&1], 70000, "{p}");
    assert_eq!(counts["fail"].get(&1), Some(&1), "{p}");
    // The others were killed with only their full buffers on disk (no interval flush here).
    for r in [0, 2, 3] {
        assert_eq!(counts["work"][&r], 65536, "rank {r}\n{p}");
        assert_eq!(
            counts["fail"].get(&r).copied().unwrap_or(0),
            0,
            "rank {r}\n{p}"
        );
    }
    assert!(!p.attrs.complete);
    assert_eq!(p.attrs.unfinished_ranks, vec![0, 1, 2, 3]);
    assert_eq!(p.attrs.missing_ranks, Vec::<i64>::new());
}

#[test]
fn mpi_abort_inside_a_hooked_function_open_mpi() {
    mpi_abort_inside_a_hooked_function(Flavor::OpenMpi);
}

#[test]
fn mpi_abort_inside_a_hooked_function_mpich() {
    mpi_abort_inside_a_hooked_function(Flavor::Mpich);
}

/// Issue 18: an `MPI_Abort` run of 2 ranks whose two rank groups were both recovered. Both are
/// in the file, so neither is missing (`missing_ranks` means no data); neither reached
/// `MPI_Finalize`, so both are unfinished, and the file is not complete.
fn mpi_abort_with_both_groups_recovered(flavor: Flavor) {
    let (_wd, o, out) = run_with(flavor, "abort", NEVER, CONFIG, 2);
    assert_ne!(o.code(), 0, "MPI_Abort(5) fails the run: {o}");
    assert!(o.stderr.contains("salvaged 2 rank(s)"), "{o}");
    let p = Profile::open(&out);
    assert_rank_groups(&p, 2);
    // Rank 1 (the aborting one) wrote all its calls, rank 0 its first full buffer.
    let counts = p.counts();
    assert_eq!(counts["work"][&1], 70000, "{p}");
    assert_eq!(counts["work"][&0], 65536, "{p}");
    assert!(!p.attrs.complete);
    assert_eq!(p.attrs.missing_ranks, Vec::<i64>::new());
    assert_eq!(p.attrs.unfinished_ranks, vec![0, 1]);
    assert!(
        o.stderr.contains(
            "the profile is incomplete: rank(s) 0, 1 did not finish; their data may be cut short"
        ),
        "{o}"
    );
    assert!(!o.stderr.contains("have no data"), "{o}");
    assert!(!o.stderr.contains("ranks with no data"), "{o}");
}

#[test]
fn mpi_abort_with_both_groups_recovered_names_them_unfinished_not_missing_open_mpi() {
    mpi_abort_with_both_groups_recovered(Flavor::OpenMpi);
}

#[test]
fn mpi_abort_with_both_groups_recovered_names_them_unfinished_not_missing_mpich() {
    mpi_abort_with_both_groups_recovered(Flavor::Mpich);
}

/// Who gets the signal once every rank waits past its last call.
enum Victim {
    ScopeRun(i32),
    RankZero(i32),
}

/// Runs `mpi_dies wait` with a 0.2 s flush interval, waits until every rank has spent a second
/// past its last call, sends the signal, and returns scope-run's status, stderr and profile.
fn signal_run(name: &str, victim: Victim) -> (Option<i32>, String, Profile) {
    use std::process::{Command, Stdio};
    use std::time::{Duration, Instant};
    let _lock = scope_tests::mpi::run_lock();
    let wd = WorkDir::new(name);
    let cfg = wd.write("cfg/scope.toml", CONFIG);
    let out = wd.subdir("out").join("profiling_data.h5");
    let marker = wd.subdir("mark").join("flushed");
    let prog = fixture(&Flavor::OpenMpi.fixture("mpi_dies")).path;
    let mut child = Command::new(scope_tests::paths::scope_run())
        .args(["-n", "4", "-c"])
        .arg(&cfg)
        .arg("-o")
        .arg(&out)
        .arg("--")
        .arg(&prog)
        .arg("wait")
        .arg(&marker)
        .current_dir(wd.subdir("run"))
        .env("SCOPE_FLUSH_INTERVAL", "0.2")
        .envs(scope_tests::mpi::MPI_ENV.iter().copied())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start scope-run");
    // Rank 0 writes the marker after the barrier that follows every rank's last call.
    let deadline = Instant::now() + Duration::from_secs(60);
    while !marker.exists() {
        if Instant::now() > deadline || child.try_wait().unwrap().is_some() {
            let _ = child.kill();
            panic!(
                "the fixture never reached its wait: {:?}",
                child.wait_with_output()
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    // Five flush intervals.
    std::thread::sleep(Duration::from_secs(1));
    let (pid, sig) = match victim {
        Victim::ScopeRun(sig) => (child.id() as i32, sig),
        Victim::RankZero(sig) => {
            let text = std::fs::read_to_string(&marker).unwrap();
            (text.trim().parse::<i32>().expect("rank 0's pid"), sig)
        }
    };
    // SAFETY: kill(2) of a process this test started.
    assert_eq!(unsafe { libc::kill(pid, sig) }, 0);
    let deadline = Instant::now() + Duration::from_secs(60);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("scope-run did not end after the signal");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let o = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    let p = Profile::open(&out);
    drop(wd);
    (o.status.code(), err, p)
}

#[test]
fn sigterm_to_scope_run_reaches_the_ranks_and_their_flushed_data_is_salvaged() {
    let (code, err, p) = signal_run("salvage_sigterm_openmpi", Victim::ScopeRun(libc::SIGTERM));
    assert_ne!(code, Some(0), "the run was killed: {err}");
    assert!(err.contains("salvaged 4 rank(s)"), "{err}");
    assert_rank_groups(&p, 4);
    // Killed by the launcher, no exit handlers ran: every call older than a flush interval is
    // on disk, and all of them are.
    p.assert_exact_counts(&[("work", 70000)]);
    assert!(!p.attrs.complete);
}

#[test]
fn a_rank_killed_with_sigkill_keeps_everything_older_than_the_flush_interval() {
    let (code, err, p) = signal_run("salvage_sigkill_openmpi", Victim::RankZero(libc::SIGKILL));
    assert_ne!(code, Some(0), "a rank was killed: {err}");
    assert!(err.contains("salvaged 4 rank(s)"), "{err}");
    assert!(
        err.contains("did not finish"),
        "the unfinished ranks are named: {err}"
    );
    assert_rank_groups(&p, 4);
    p.assert_exact_counts(&[("work", 70000)]);
    assert!(!p.attrs.complete);
}

#[test]
fn sigint_to_scope_run_reaches_the_ranks_and_their_flushed_data_is_salvaged() {
    let (code, err, p) = signal_run("salvage_sigint_openmpi", Victim::ScopeRun(libc::SIGINT));
    assert_ne!(code, Some(0), "the run was interrupted: {err}");
    assert!(err.contains("salvaged 4 rank(s)"), "{err}");
    assert_rank_groups(&p, 4);
    p.assert_exact_counts(&[("work", 70000)]);
    assert!(!p.attrs.complete);
}
