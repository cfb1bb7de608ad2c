//! Shared by the scope-pproc tests (module `fixture` of the one test binary, launcher/tests/
//! main.rs): profile files written through the real writer and merge (so the layout is exactly
//! what the agent produces), temporary directories, and child processes with a timeout whose
//! output is shown on failure. Every module of the binary spawns children under `fork_lock()`.

use scope_format::{merge, FileAttrs, MergeInput, RankAttrs, RankWriter};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

pub const PPROC: &str = env!("CARGO_BIN_EXE_scope-pproc");
/// A CLOCK_MONOTONIC-like origin, so times are not small numbers.
pub const T: i64 = 1_000_000_000_000;

/// Held while HDF5 files are open in this process and while children are spawned: a child
/// forked meanwhile would inherit the open descriptor and with it HDF5's lock on the file, so
/// that the next reader (another child) fails with "unable to lock file".
static FORK_LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());

pub fn fork_lock() -> std::sync::MutexGuard<'static, ()> {
    FORK_LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

pub struct Dir(pub PathBuf);

impl Dir {
    pub fn new(tag: &str) -> Dir {
        let d = std::env::temp_dir().join(format!("scope-pproc-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        Dir(d)
    }
    pub fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

/// One region's calls on one rank: (region, thread, start, end).
pub type Call = (&'static str, i64, i64, i64);

/// Writes per-rank files for `ranks` (each with `calls(rank)`) and merges them into `out`.
pub fn write_profile(
    dir: &Dir,
    out: &Path,
    ranks: &[u32],
    attrs: FileAttrs,
    calls: impl Fn(u32) -> Vec<Call>,
) {
    let events = |r| {
        calls(r)
            .into_iter()
            .map(|(n, t, s, e)| (n, t, s, e, None))
            .collect()
    };
    write_profile_with(dir, out, ranks, attrs, events, |_| (None, None));
}

/// One call, with the further columns of an MPI call (`bytes`, `peer`) where given:
/// (region, thread, start, end, Some((bytes, peer))).
pub type Ev = (&'static str, i64, i64, i64, Option<(i64, i64)>);

/// As `write_profile`, with MPI calls and each rank's MPI window (`set_window`) as the agent
/// writes them under `[mpi] calls`.
pub fn write_profile_with(
    dir: &Dir,
    out: &Path,
    ranks: &[u32],
    attrs: FileAttrs,
    calls: impl Fn(u32) -> Vec<Ev>,
    window: impl Fn(u32) -> (Option<i64>, Option<i64>),
) {
    let _no_fork = fork_lock();
    let mut inputs = Vec::new();
    for &rank in ranks {
        let path = dir.path(&format!("part{rank}.h5"));
        let _ = std::fs::remove_file(&path);
        let ra = RankAttrs {
            rank: rank.into(),
            pid: 100 + i64::from(rank),
            hostname: "node".into(),
            ..Default::default()
        };
        let mut w = RankWriter::create(&path, ra).unwrap();
        for (region, tid, s, e, cols) in calls(rank) {
            match cols {
                None => w.append(region, &[s], &[e], &[tid]).unwrap(),
                Some((b, p)) => w
                    .append_with(
                        region,
                        &[s],
                        &[e],
                        &[tid],
                        &[("bytes", &[b]), ("peer", &[p])],
                    )
                    .unwrap(),
            }
        }
        let (b, e) = window(rank);
        w.set_window(b, e).unwrap();
        w.finish().unwrap();
        inputs.push(MergeInput { rank, path });
    }
    merge(&inputs, out, &attrs).unwrap();
    for i in inputs {
        std::fs::remove_file(i.path).unwrap();
    }
}

/// The standard 4-rank profile. Per rank r, thread 0: 4 × `step` (800 µs + r·50 µs) every
/// 1 ms, each holding one `compute` of 500 µs; one `io/write` of (r+1)·10 µs at 5 ms. Rank 2
/// also runs 3 × `compute` of 300 µs on thread 1. Expected numbers:
///   step      16 calls, total 14.0 ms, min 800 µs, max 950 µs, imbalance 3.8/3.5−1 (r3)
///   compute   19 calls, total 8.9 ms, min 300 µs, max 500 µs, imbalance 2.9/2.225−1 (r2)
///   io/write   4 calls, total 100 µs, imbalance 40/25−1 (r3)
pub fn standard_calls(r: u32) -> Vec<Call> {
    let r64 = i64::from(r);
    let mut v = Vec::new();
    for k in 0..4i64 {
        let s = T + k * 1_000_000;
        v.push(("step", 0, s, s + 800_000 + r64 * 50_000));
        v.push(("compute", 0, s + 100_000, s + 600_000));
    }
    v.push((
        "io/write",
        0,
        T + 5_000_000,
        T + 5_000_000 + (r64 + 1) * 10_000,
    ));
    if r == 2 {
        for k in 0..3i64 {
            let s = T + 200_000 + k * 1_000_000;
            v.push(("compute", 1, s, s + 300_000));
        }
    }
    v
}

pub fn standard(dir: &Dir) -> PathBuf {
    let out = dir.path("profiling_data.h5");
    let attrs = FileAttrs {
        ranks: 4,
        version: "scope test".into(),
        complete: true,
        missing_ranks: vec![],
        unfinished_ranks: vec![],
    };
    write_profile(dir, &out, &[0, 1, 2, 3], attrs, standard_calls);
    out
}

/// Runs `cmd` to completion (killed after `secs`) and returns its output.
pub fn finish_within(mut cmd: Command, secs: u64) -> Output {
    let no_fork = fork_lock();
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {cmd:?}: {e}"));
    drop(no_fork);
    // Drain pipes on threads so a chatty child cannot block on a full pipe.
    let mut so = child.stdout.take().unwrap();
    let mut se = child.stderr.take().unwrap();
    let t1 = std::thread::spawn(move || {
        let mut b = Vec::new();
        std::io::Read::read_to_end(&mut so, &mut b).unwrap();
        b
    });
    let t2 = std::thread::spawn(move || {
        let mut b = Vec::new();
        std::io::Read::read_to_end(&mut se, &mut b).unwrap();
        b
    });
    let deadline = Instant::now() + Duration::from_secs(secs);
    let status = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break st;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("timed out after {secs} s: {cmd:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Output {
        status,
        stdout: t1.join().unwrap(),
        stderr: t2.join().unwrap(),
    }
}

/// Runs scope-pproc with `args`; returns (status, stdout, stderr).
pub fn pproc(args: &[&str]) -> (i32, String, String) {
    let mut c = Command::new(PPROC);
    c.args(args);
    let o = finish_within(c, 60);
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

/// Runs scope-pproc and insists on success.
pub fn pproc_ok(args: &[&str]) -> String {
    let (code, out, err) = pproc(args);
    assert_eq!(
        code, 0,
        "scope-pproc {args:?}\nstdout:\n{out}\nstderr:\n{err}"
    );
    out
}

pub fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// µs in ns.
pub const US: i64 = 1_000;

/// A 3-rank MPI profile (`[mpi] calls`). Ranks 0 and 1 record the MPI window T .. T + 10 ms;
/// rank 2 records none. Per rank r, thread 0 (times in µs after T):
///   MPI_Init      -1000 .. 0                         (outside the window)
///   compute           0 .. 4000 + 1000·r
///   MPI_Send      c .. c + 100 (c = 4000 + 1000·r)   bytes 1000·(r+1), peer (r+1) % 3
///   MPI_Allreduce c + 100 .. 9000                    bytes 8, peer -1
///   MPI_Barrier    9000 .. 9500                      bytes 0, peer -1
///   compute        9500 .. 10000
///   MPI_Finalize  10000 .. 10200                     (outside the window)
/// and rank 1's thread 1: MPI_Recv 4800 .. 8000, 4096 bytes from MPI_ANY_SOURCE, overlapping
/// thread 0's Send and Allreduce. Expected (µs):
///   rank 0: wall 10000, MPI 100 + 4900 + 500 = 5500 (55.0%), top MPI_Allreduce 4900
///   rank 1: wall 10000, MPI = union 4800 .. 9500 = 4700 (47.0%; the sum would be 7700),
///           top MPI_Allreduce 3900
///   rank 2: no window: wall -1000 .. 10200 = 11200, MPI 3500 + 1000 + 200 = 4700 (42.0%)
///   calls: Allreduce 3, 11700, 24 B (r0 4900); Recv 1, 3200, 4096 B; Init 3, 3000, 0 B;
///          Barrier 3, 1500; Finalize 3, 600; Send 3, 300, 6000 B
pub fn mpi_calls(r: u32) -> Vec<Ev> {
    let r64 = i64::from(r);
    let at = |us: i64| T + us * US;
    let none = Some((0, -1));
    let c = 4000 + 1000 * r64;
    let mut v: Vec<Ev> = vec![
        ("MPI_Init", 0, at(-1000), at(0), none),
        ("compute", 0, at(0), at(c), None),
        (
            "MPI_Send",
            0,
            at(c),
            at(c + 100),
            Some((1000 * (r64 + 1), (r64 + 1) % 3)),
        ),
        ("MPI_Allreduce", 0, at(c + 100), at(9000), Some((8, -1))),
        ("MPI_Barrier", 0, at(9000), at(9500), none),
        ("compute", 0, at(9500), at(10_000), None),
        ("MPI_Finalize", 0, at(10_000), at(10_200), none),
    ];
    if r == 1 {
        v.push(("MPI_Recv", 1, at(4800), at(8000), Some((4096, -2))));
    }
    v
}

pub fn mpi_window(r: u32) -> (Option<i64>, Option<i64>) {
    if r == 2 {
        (None, None)
    } else {
        (Some(T), Some(T + 10_000 * US))
    }
}

pub fn mpi_standard(dir: &Dir) -> PathBuf {
    let out = dir.path("mpi.h5");
    let attrs = FileAttrs {
        ranks: 3,
        version: "scope test".into(),
        complete: true,
        missing_ranks: vec![],
        unfinished_ranks: vec![],
    };
    write_profile_with(dir, &out, &[0, 1, 2], attrs, mpi_calls, mpi_window);
    out
}
