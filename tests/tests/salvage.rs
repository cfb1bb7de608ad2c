//! A run that ends before the merge (ranks exit without `MPI_Finalize`, or one segfaults and the
//! launcher kills the rest): `scope-run` merges what the ranks flushed, marks the file
//! incomplete, and still exits with the program's status. A rank keeps every event it flushed
//! (its full 65536-event buffers) and, if its exit handlers run, the rest too.

use scope_tests::{fixture, run_scope_run, Flavor, Profile, WorkDir};
use std::ffi::OsString;

const CONFIG: &str = "[[regions]]\nsymbol = \"work\"\n";

fn run(flavor: Flavor, mode: &str) -> (WorkDir, scope_tests::Output, std::path::PathBuf) {
    let wd = WorkDir::new(&format!("salvage_{mode}_{}", flavor.suffix()));
    let cfg = wd.write("cfg/scope.toml", CONFIG);
    let out = wd.subdir("out").join("profiling_data.h5");
    let prog = fixture(&flavor.fixture("mpi_dies")).path;
    let args: Vec<OsString> = ["-n", "4", "-c"]
        .iter()
        .map(OsString::from)
        .chain([
            cfg.into_os_string(),
            "-o".into(),
            out.clone().into_os_string(),
            "--".into(),
        ])
        .chain([prog.into_os_string(), mode.into()])
        .collect();
    let o = run_scope_run(&wd, &args);
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
    // ran keeps exactly its flushed 65536. Nothing else is possible.
    for (rank, regions) in &p.ranks {
        let n = regions
            .get("work")
            .map(|iv| iv.start_times.len())
            .unwrap_or(0);
        assert!(n == 70000 || n == 65536, "rank {rank}: {n} work calls\n{o}");
    }
    assert!(!p.attrs.complete, "a salvaged file is marked incomplete");
    assert!(
        p.attrs.missing_ranks.is_empty(),
        "{:?}",
        p.attrs.missing_ranks
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
fn a_segfaulting_rank_keeps_what_every_rank_flushed() {
    let (_wd, o, out) = run(Flavor::OpenMpi, "segv");
    assert_eq!(
        o.code(),
        128 + 11,
        "scope-run exits as the launcher did (SIGSEGV): {o}"
    );
    let p = Profile::open(&out);
    assert_rank_groups(&p, 4);
    // Each rank flushed its first full 65536-event buffer before the barrier; the rest of its
    // calls were still in memory when it was killed.
    p.assert_exact_counts(&[("work", 65536)]);
    assert!(!p.attrs.complete);
}

#[test]
fn sigterm_to_scope_run_reaches_the_ranks_and_their_flushed_data_is_salvaged() {
    use std::process::{Command, Stdio};
    use std::time::{Duration, Instant};
    let _lock = scope_tests::mpi::run_lock();
    let wd = WorkDir::new("salvage_sigterm_openmpi");
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
        .env("OMPI_ALLOW_RUN_AS_ROOT", "1")
        .env("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1")
        .env("OMPI_MCA_rmaps_base_oversubscribe", "1")
        .env("OMPI_MCA_btl", "self,vader,tcp")
        .env("OMPI_MCA_btl_tcp_if_include", "lo")
        .env("OMPI_MCA_oob_tcp_if_include", "lo")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start scope-run");
    // Every rank has flushed once it is past the barrier, which is when rank 0 writes the marker.
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
    // SAFETY: kill(2) of the child this test started.
    assert_eq!(unsafe { libc::kill(child.id() as i32, libc::SIGTERM) }, 0);
    let deadline = Instant::now() + Duration::from_secs(60);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("scope-run did not end after SIGTERM");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let o = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_ne!(o.status.code(), Some(0), "the run was killed: {err}");
    assert!(err.contains("salvaged 4 rank(s)"), "{err}");
    let p = Profile::open(&out);
    assert_rank_groups(&p, 4);
    // Killed by the launcher: no exit handlers ran, so each rank has exactly what it flushed.
    p.assert_exact_counts(&[("work", 65536)]);
    assert!(!p.attrs.complete);
}
