//! `scope-run` inside a real Slurm allocation (3 nodes, 6 ranks, 2 per node), with no launcher
//! options: it picks srun and srun's MPI plugin from the program (`--mpi=pmix` for Open MPI,
//! `--mpi=pmi2` for MPICH), the counts are those of the same program under `mpirun`, one SIGINT
//! ends the job with the flushed data salvaged, and a run whose file holds fewer ranks than it
//! launched fails loudly. Each test starts its own Slurm (`tests/cluster/slurm.sh`) and stops it
//! when it ends, passing or not; not being root skips them with the reason.

use scope_tests::mpi::{run_lock, with_mpi_env, MPI_ENV};
use scope_tests::paths::scope_run;
use scope_tests::slurm::Slurm;
use scope_tests::{fixture, run_with_agent_mpirun, Flavor, Output, Profile, WorkDir};
use std::path::Path;
use std::time::{Duration, Instant};

const CONFIG: &str = "[[regions]]\nsymbol = \"compute\"\n[[regions]]\nsymbol = \"outer\"\n[[regions]]\nsymbol = \"inner\"\n";
/// mpi_compute's calls per rank (tests/fixtures/mpi_compute.c).
const COUNTS: [(&str, usize); 3] = [("compute", 100), ("outer", 10), ("inner", 30)];
/// The allocation: 3 nodes, 6 tasks, 2 on each.
const ALLOC: [&str; 5] = ["-N", "3", "-n", "6", "--ntasks-per-node=2"];

/// A Slurm of 3 nodes, or `None` (printed) when this process cannot start one; with
/// `SCOPE_REQUIRE_SLURM` set (scripts/test.sh sets it as root, as in CI) that is a failure.
fn cluster() -> Option<Slurm> {
    match Slurm::up(3) {
        Ok(s) => Some(s),
        Err(why) if std::env::var_os("SCOPE_REQUIRE_SLURM").is_some() => {
            panic!("SCOPE_REQUIRE_SLURM is set but no Slurm can be started: {why}")
        }
        Err(why) => {
            eprintln!("SKIPPED: {why}");
            None
        }
    }
}

fn path(p: &Path) -> &str {
    p.to_str().expect("UTF-8 path")
}

/// `salloc ALLOC scope-run -v -n 6 -c CFG -o OUT [extra] -- PROGRAM ARGS`, run in `wd/run`.
fn salloc_scope_run(
    slurm: &Slurm,
    wd: &WorkDir,
    cfg: &Path,
    out: &Path,
    extra: &[&str],
    prog: &Path,
) -> Output {
    let cmd = slurm
        .cmd("salloc")
        .cwd(wd.subdir("run"))
        .args(ALLOC)
        .arg(scope_run())
        .args(["-v", "-n", "6", "-c", path(cfg), "-o", path(out)])
        .args(extra)
        .arg("--")
        .arg(prog)
        .timeout(Duration::from_secs(90));
    with_mpi_env(cmd).run()
}

/// The run went through srun with `plugin` and one SIGINT quits it.
fn assert_srun_with(o: &Output, plugin: &str) {
    let want = format!("--mpi={plugin} --quit-on-interrupt -n 6 ");
    assert!(
        o.stderr
            .lines()
            .any(|l| l.starts_with("scope-run: running: srun --export=ALL,") && l.contains(&want)),
        "no `running: srun ... {want}` line\n{o}"
    );
}

fn counts_as_under_mpirun(flavor: Flavor, plugin: &str) {
    let prog = fixture(&flavor.fixture("mpi_compute")).path;
    let wd = WorkDir::new(&format!("slurm_counts_{}", flavor.suffix()));
    let out = wd.subdir("out").join("profiling_data.h5");
    {
        let _lock = run_lock();
        let Some(slurm) = cluster() else { return };
        let cfg = wd.write("cfg/scope.toml", CONFIG);
        let o = salloc_scope_run(&slurm, &wd, &cfg, &out, &[], &prog);
        o.assert_success("scope-run inside salloc");
        assert_srun_with(&o, plugin);
        assert!(o.stdout.contains("ranks=6\n"), "one world of 6\n{o}");
    }
    let p = Profile::open(&out);
    p.assert_ranks(6);
    p.assert_exact_counts(&COUNTS);
    p.assert_well_formed();
    // Block distribution, 2 per node: ranks 0-1 on n1, 2-3 on n2, 4-5 on n3.
    let hosts: Vec<&str> = p.rank_attrs.values().map(|a| a.hostname.as_str()).collect();
    assert_eq!(hosts, ["n1", "n1", "n2", "n2", "n3", "n3"], "{p}");
    // The nodes' clocks are 7 h apart (slurm.sh): aligned to rank 0's, the whole profile spans
    // seconds, not hours.
    let all = p.ranks.values().flat_map(|regions| regions.values());
    let first = all.clone().flat_map(|iv| iv.start_times.iter()).min();
    let last = all.flat_map(|iv| iv.end_times.iter()).max();
    let span = last.zip(first).map(|(l, f)| l - f).expect("events");
    assert!(span < 60_000_000_000, "the profile spans {span} ns\n{p}");
    let r = scope_format::ProfileReader::open(&out).expect("the profile");
    for (rank, hours) in [(1u32, 0i64), (2, 7), (4, 14)] {
        let (sync, _) = r.clock(rank).expect("clock attributes");
        let off = sync.begin.expect("a sample at MPI_Init").offset_ns;
        assert!(
            (off - hours * 3_600_000_000_000).abs() < 1_000_000_000,
            "rank {rank}'s clock is {off} ns ahead of rank 0's, not {hours} h"
        );
    }
    // run_with_agent_mpirun takes the run lock itself.
    let plain = WorkDir::new(&format!("slurm_mpirun_{}", flavor.suffix()));
    let mpirun = run_with_agent_mpirun(&plain, flavor, 6, CONFIG, &prog, &[""; 0]);
    mpirun
        .output
        .assert_success("the same fixture under mpirun");
    assert_eq!(Profile::open(&mpirun.profile).counts(), p.counts());
}

#[test]
fn open_mpi_in_salloc_counts_as_under_mpirun() {
    counts_as_under_mpirun(Flavor::OpenMpi, "pmix");
}

#[test]
fn mpich_in_salloc_counts_as_under_mpirun() {
    counts_as_under_mpirun(Flavor::Mpich, "pmi2");
}

#[test]
fn mpich_in_an_sbatch_job() {
    let _lock = run_lock();
    let Some(slurm) = cluster() else { return };
    let wd = WorkDir::new("slurm_sbatch_mpich");
    let cfg = wd.write("cfg/scope.toml", CONFIG);
    let out = wd.subdir("out").join("profiling_data.h5");
    let log = wd.join("job.log");
    let prog = fixture(&Flavor::Mpich.fixture("mpi_compute")).path;
    let script = format!(
        "exec {} -n 6 -c {} -o {} -- {}",
        path(&scope_run()),
        path(&cfg),
        path(&out),
        path(&prog)
    );
    let cmd = slurm
        .cmd("sbatch")
        .cwd(wd.subdir("run"))
        .args(["--wait", "--quiet", "-o", path(&log)])
        .args(ALLOC)
        .args(["--wrap", &script])
        .timeout(Duration::from_secs(90));
    let o = with_mpi_env(cmd).run();
    let job = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(o.success(), "sbatch --wait\n{o}\n--- job output\n{job}");
    assert!(job.contains("ranks=6\n"), "{job}");
    assert!(job.contains("scope-run: wrote "), "{job}");
    let p = Profile::open(&out);
    p.assert_ranks(6);
    p.assert_exact_counts(&COUNTS);
}

/// `--mpi=none` (the user's choice, kept) starts MPICH's ranks as 6 one-rank jobs.
#[test]
fn fewer_ranks_than_launched_is_an_error() {
    let _lock = run_lock();
    let Some(slurm) = cluster() else { return };
    let wd = WorkDir::new("slurm_singletons_mpich");
    let cfg = wd.write("cfg/scope.toml", CONFIG);
    let out = wd.subdir("out").join("profiling_data.h5");
    let prog = fixture(&Flavor::Mpich.fixture("mpi_compute")).path;
    let o = salloc_scope_run(&slurm, &wd, &cfg, &out, &["--mpi=none"], &prog);
    assert_eq!(
        o.code(),
        3,
        "the program succeeded, the profile is short\n{o}"
    );
    assert_eq!(o.stdout.matches("ranks=1\n").count(), 6, "{o}");
    assert!(
        o.stderr.contains("--export=ALL,")
            && o.stderr.contains(" --quit-on-interrupt -n 6 --mpi=none "),
        "the user's --mpi is kept and no other added\n{o}"
    );
    let said = |s: &str| assert!(o.stderr.contains(s), "stderr lacks {s:?}\n{o}");
    said(&format!(
        "scope-run: error: 6 ranks were launched but {} holds 1 (0)",
        out.display()
    ));
    said("scope-run: error: the ranks' MPI_COMM_WORLD had 1 rank(s), not 6");
    said("scope-run: error: srun's MPI plugin does not serve the program's MPI; this one needs --mpi=pmi2");
    let p = Profile::open(&out);
    p.assert_ranks(1);
    p.assert_exact_counts(&COUNTS);
}

/// Kills the process group of a child this test started when dropped.
struct Group(std::process::Child);

impl Drop for Group {
    fn drop(&mut self) {
        // SAFETY: killpg of the group this child leads (process_group(0)); ESRCH is fine.
        unsafe { libc::killpg(self.0.id() as i32, libc::SIGKILL) };
        let _ = self.0.wait();
    }
}

/// One SIGINT to scope-run, once every rank waits past its last `work` call: before, srun only
/// printed the tasks' state and waited for a second SIGINT within a second.
fn one_sigint(flavor: Flavor) {
    use std::os::unix::process::CommandExt;
    use std::process::{Command, Stdio};
    let _lock = run_lock();
    let Some(slurm) = cluster() else { return };
    let wd = WorkDir::new(&format!("slurm_sigint_{}", flavor.suffix()));
    let cfg = wd.write("cfg/scope.toml", "[[regions]]\nsymbol = \"work\"\n");
    let out = wd.subdir("out").join("profiling_data.h5");
    let marker = wd.subdir("mark").join("flushed");
    let pid_file = wd.join("scope-run.pid");
    let prog = fixture(&flavor.fixture("mpi_dies")).path;
    let child = Command::new("salloc")
        .args(ALLOC)
        .args(["sh", "-c", "echo $$ > \"$0\"; exec \"$@\""])
        .arg(&pid_file)
        .arg(scope_run())
        .args(["-n", "6", "-c", path(&cfg), "-o", path(&out), "--"])
        .arg(&prog)
        .arg("wait")
        .arg(&marker)
        .current_dir(wd.subdir("run"))
        .env("SLURM_CONF", slurm.conf())
        .env("SCOPE_FLUSH_INTERVAL", "0.2")
        .env_remove("LD_PRELOAD")
        .envs(MPI_ENV.iter().copied())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()
        .expect("start salloc");
    let mut child = Group(child);
    let stderr = |c: &mut Group| {
        let _ = c.0.kill();
        let mut err = String::new();
        let _ = std::io::Read::read_to_string(c.0.stderr.as_mut().unwrap(), &mut err);
        err
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    while !marker.exists() {
        if Instant::now() > deadline || child.0.try_wait().unwrap().is_some() {
            panic!("the fixture never reached its wait\n{}", stderr(&mut child));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    // Five flush intervals: every rank's 70000 calls are on disk.
    std::thread::sleep(Duration::from_secs(1));
    let pid: i32 = std::fs::read_to_string(&pid_file)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let sent = Instant::now();
    // SAFETY: kill(2) of scope-run, which this test started (through salloc and sh's exec).
    assert_eq!(unsafe { libc::kill(pid, libc::SIGINT) }, 0);
    // The ranks would wait 60 s: ending long before proves the one SIGINT ended them.
    while child.0.try_wait().unwrap().is_none() {
        assert!(
            sent.elapsed() < Duration::from_secs(20),
            "one SIGINT did not end the run"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let took = sent.elapsed();
    let err = stderr(&mut child);
    let code = child.0.wait().unwrap().code();
    eprintln!("one SIGINT ended the run in {took:?}");
    assert_ne!(code, Some(0), "the run was interrupted\n{err}");
    assert!(err.contains("salvaged 6 rank(s)"), "{err}");
    let p = Profile::open(&out);
    assert_eq!(p.rank_ids(), (0..6).collect::<Vec<_>>(), "{err}");
    assert_eq!(p.attrs.ranks, 6);
    assert!(!p.attrs.complete);
    p.assert_exact_counts(&[("work", 70000)]);
}

#[test]
fn one_sigint_stops_an_open_mpi_run_and_the_profile_is_salvaged() {
    one_sigint(Flavor::OpenMpi);
}

#[test]
fn one_sigint_stops_an_mpich_run_and_the_profile_is_salvaged() {
    one_sigint(Flavor::Mpich);
}
