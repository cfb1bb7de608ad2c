//! `[mpi] calls`: every MPI call of the program becomes a region named after it, with exact
//! counts, payload bytes and peers, whichever way the program calls MPI (C, Fortran `use mpi`
//! and `mpi_f08`, mpi4py), under Open MPI and MPICH; the program's output does not change.

use scope_format::ProfileReader;
use scope_tests::paths::{mpich_python, system_python};
use scope_tests::{fixture, run_plain_mpirun, run_with_agent_mpirun, Flavor, WorkDir};
use std::collections::BTreeMap;
use std::path::Path;

const ALL_CALLS: &str = "[mpi]\ncalls = true\n";
const ITERS: i64 = 10;

/// Per region on one rank: (calls, total bytes, distinct peers, total time in ns).
type Calls = BTreeMap<String, (usize, i64, Vec<i64>, i64)>;

fn calls_of(path: &Path, rank: u32) -> Calls {
    let r = ProfileReader::open(path).unwrap();
    let mut out = Calls::new();
    for name in r.regions(rank).unwrap() {
        assert!(
            r.is_mpi_call(rank, &name).unwrap(),
            "{name} is not an MPI call"
        );
        let iv = r.intervals(rank, &name).unwrap();
        let bytes = r.column(rank, &name, "bytes").unwrap().unwrap();
        let mut peers = r.column(rank, &name, "peer").unwrap().unwrap();
        assert_eq!((bytes.len(), peers.len()), (iv.len(), iv.len()), "{name}");
        peers.sort_unstable();
        peers.dedup();
        let time = iv
            .end_times
            .iter()
            .zip(&iv.start_times)
            .map(|(e, s)| e - s)
            .sum();
        out.insert(name, (iv.len(), bytes.iter().sum(), peers, time));
    }
    out
}

/// What `mpi_calls.c` calls on `rank` of 4: (region, calls, bytes, peers).
fn expected_c(rank: i64) -> Vec<(&'static str, i64, i64, Vec<i64>)> {
    let (right, left) = ((rank + 1) % 4, (rank + 3) % 4);
    let mut e = vec![
        ("MPI_Allreduce", ITERS, ITERS * 8, vec![-1]),
        ("MPI_Alltoall", ITERS, ITERS * 3 * 4 * 4, vec![-1]),
        ("MPI_Barrier", ITERS, 0, vec![-1]),
        ("MPI_Bcast", ITERS, ITERS * 256, vec![0]),
        ("MPI_Comm_rank", 1, 0, vec![-1]),
        ("MPI_Comm_size", 1, 0, vec![-1]),
        ("MPI_Gather", ITERS, ITERS * 8, vec![2]),
        ("MPI_Isend", ITERS, ITERS * 8000, vec![right]),
        ("MPI_Reduce", ITERS + 1, ITERS * 16 + 8, vec![0, 1]),
        ("MPI_Wait", ITERS, 0, vec![-1]),
    ];
    if rank % 2 == 0 {
        e.push(("MPI_Recv", ITERS, ITERS * 8000, vec![left]));
        e.push(("MPI_Send", ITERS, ITERS * 400, vec![rank + 1]));
    } else {
        let mut peers = vec![left, rank - 1];
        peers.sort_unstable();
        peers.dedup();
        e.push(("MPI_Recv", 2 * ITERS, ITERS * 8400, peers));
    }
    e.sort_by_key(|x| x.0);
    e
}

fn assert_calls(got: &Calls, want: &[(&str, i64, i64, Vec<i64>)], what: &str) {
    let got_rows: Vec<(&str, i64, i64, Vec<i64>)> = got
        .iter()
        .map(|(n, (c, b, p, _))| (n.as_str(), *c as i64, *b, p.clone()))
        .collect();
    assert_eq!(got_rows, want, "{what}: (call, count, bytes, peers)");
}

fn c_pattern(flavor: Flavor) {
    let prog = fixture(&flavor.fixture("mpi_calls")).path;
    let wd = WorkDir::new(&format!("mpi_calls_c_{}", flavor.suffix()));
    let plain = run_plain_mpirun(wd.path(), flavor, 4, &prog, &[] as &[&str]);
    plain.assert_success("plain run");
    let run = run_with_agent_mpirun(&wd, flavor, 4, ALL_CALLS, &prog, &[] as &[&str]);
    run.output.assert_success("run with the agent");
    assert_eq!(
        run.output.stdout, plain.stdout,
        "the program's output changed"
    );
    let mut barrier = Vec::new();
    for rank in 0..4u32 {
        let got = calls_of(&run.profile, rank);
        assert_calls(&got, &expected_c(rank.into()), &format!("rank {rank}"));
        barrier.push(got["MPI_Barrier"].3);
        // Every rank's MPI window is recorded and holds all its calls.
        let r = ProfileReader::open(&run.profile).unwrap();
        let (Some(begin), Some(end)) = r.window(rank).unwrap() else {
            panic!("rank {rank}: no MPI window");
        };
        for name in got.keys() {
            let iv = r.intervals(rank, name).unwrap();
            assert!(
                iv.start_times.iter().all(|&s| s >= begin),
                "{name} before MPI_Init ended"
            );
            assert!(
                iv.end_times.iter().all(|&e| e <= end),
                "{name} after MPI_Finalize began"
            );
        }
    }
    // Rank r sleeps (r + 1) * 8 ms before each barrier: rank 0 waits for rank 3 about
    // 3 * 8 ms * ITERS = 240 ms in all, rank 3 for nobody. Oversubscribed ranks blur it,
    // never reverse it: rank 0 waits longest, and at least 40 % of the built-in 240 ms more.
    let built_in = 3 * 8_000_000 * ITERS;
    assert_eq!(
        barrier.iter().max(),
        Some(&barrier[0]),
        "MPI_Barrier ns per rank: {barrier:?}"
    );
    assert!(
        barrier[0] - barrier[3] >= built_in * 4 / 10,
        "MPI_Barrier ns per rank: {barrier:?}; rank 0 should wait ~{built_in} ns more than rank 3"
    );
}

#[test]
fn c_calls_counts_bytes_peers_and_barrier_imbalance_open_mpi() {
    c_pattern(Flavor::OpenMpi);
}

#[test]
fn c_calls_counts_bytes_peers_and_barrier_imbalance_mpich() {
    c_pattern(Flavor::Mpich);
}

#[test]
fn a_list_of_calls_records_only_those() {
    let flavor = Flavor::OpenMpi;
    let prog = fixture(&flavor.fixture("mpi_calls")).path;
    let wd = WorkDir::new("mpi_calls_list");
    let config = "[mpi]\ncalls = [\"MPI_Barrier\", \"mpi_*send\"]\n";
    let run = run_with_agent_mpirun(&wd, flavor, 4, config, &prog, &[] as &[&str]);
    run.output.assert_success("run with the agent");
    for rank in 0..4i64 {
        let got = calls_of(&run.profile, rank as u32);
        let want: Vec<_> = expected_c(rank)
            .into_iter()
            .filter(|e| ["MPI_Barrier", "MPI_Isend", "MPI_Send"].contains(&e.0))
            .collect();
        assert_calls(&got, &want, &format!("rank {rank}"));
    }
}

/// The Fortran fixtures call MPI_Comm_rank, MPI_Comm_size and one MPI_Reduce of a double to
/// rank 0, through the Fortran bindings (recorded at their entry points, as the C call).
fn fortran(flavor: Flavor, name: &str) {
    let prog = fixture(&flavor.fixture(name)).path;
    let wd = WorkDir::new(&format!("mpi_calls_{name}_{}", flavor.suffix()));
    let run = run_with_agent_mpirun(&wd, flavor, 4, ALL_CALLS, &prog, &[] as &[&str]);
    run.output.assert_success("run with the agent");
    for rank in 0..4u32 {
        let want = vec![
            ("MPI_Comm_rank", 1, 0, vec![-1]),
            ("MPI_Comm_size", 1, 0, vec![-1]),
            ("MPI_Reduce", 1, 8, vec![0]),
        ];
        assert_calls(
            &calls_of(&run.profile, rank),
            &want,
            &format!("rank {rank}"),
        );
    }
}

#[test]
fn fortran_use_mpi_open_mpi() {
    fortran(Flavor::OpenMpi, "mpi_use_mpi");
}

#[test]
fn fortran_use_mpi_mpich() {
    fortran(Flavor::Mpich, "mpi_use_mpi");
}

#[test]
fn fortran_mpi_f08_open_mpi() {
    fortran(Flavor::OpenMpi, "mpi_f08");
}

#[test]
fn fortran_mpi_f08_mpich() {
    fortran(Flavor::Mpich, "mpi_f08");
}

/// What `mpi_waits.f90` calls on `rank` of `n`, every call through a Fortran binding (`use
/// mpi`, and `use mpi_f08`): (region, calls, bytes, peers). Its zero-count `MPI_Waitall`s are
/// calls too, though Open MPI's `mpi_waitall_` answers them without calling `PMPI_Waitall`.
fn expected_waits(rank: i64, n: i64) -> Vec<(&'static str, i64, i64, Vec<i64>)> {
    let (right, left) = ((rank + 1) % n, (rank + n - 1) % n);
    vec![
        ("MPI_Allreduce", 1, 4, vec![-1]),
        ("MPI_Barrier", 1, 0, vec![-1]),
        ("MPI_Comm_rank", 1, 0, vec![-1]),
        ("MPI_Comm_size", 1, 0, vec![-1]),
        ("MPI_Irecv", 7, 7 * 80, vec![left]),
        ("MPI_Isend", 7, 7 * 80, vec![right]),
        ("MPI_Waitall", 7 + (7 + rank) + 5, 0, vec![-1]),
    ]
}

/// Issue 18: the Fortran bindings' entry points are the calls, counted exactly per rank, the
/// C call nested inside one not counted again; `config` is `calls = true` or a list.
fn fortran_waits(flavor: Flavor, config: &str, only: Option<&[&str]>) {
    let prog = fixture(&flavor.fixture("mpi_waits")).path;
    let tag = if only.is_some() { "list" } else { "all" };
    let wd = WorkDir::new(&format!("mpi_calls_waits_{tag}_{}", flavor.suffix()));
    let plain = run_plain_mpirun(wd.path(), flavor, 3, &prog, &[] as &[&str]);
    plain.assert_success("plain run");
    let run = run_with_agent_mpirun(&wd, flavor, 3, config, &prog, &[] as &[&str]);
    run.output.assert_success("run with the agent");
    assert_eq!(
        run.output.stdout, plain.stdout,
        "the program's output changed"
    );
    for rank in 0..3i64 {
        let want: Vec<_> = expected_waits(rank, 3)
            .into_iter()
            .filter(|e| only.is_none_or(|o| o.contains(&e.0)))
            .collect();
        assert_calls(
            &calls_of(&run.profile, rank as u32),
            &want,
            &format!("rank {rank}"),
        );
    }
}

#[test]
fn fortran_zero_count_waitalls_are_counted_open_mpi() {
    fortran_waits(Flavor::OpenMpi, ALL_CALLS, None);
}

#[test]
fn fortran_zero_count_waitalls_are_counted_mpich() {
    fortran_waits(Flavor::Mpich, ALL_CALLS, None);
}

#[test]
fn fortran_calls_named_in_a_list_are_counted_open_mpi() {
    let config = "[mpi]\ncalls = [\"MPI_WAITALL\", \"mpi_isend\"]\n";
    fortran_waits(Flavor::OpenMpi, config, Some(&["MPI_Waitall", "MPI_Isend"]));
}

#[test]
fn fortran_calls_named_in_a_list_are_counted_mpich() {
    let config = "[mpi]\ncalls = [\"MPI_WAITALL\", \"mpi_isend\"]\n";
    fortran_waits(Flavor::Mpich, config, Some(&["MPI_Waitall", "MPI_Isend"]));
}

/// mpi4py makes many MPI calls of its own at import; a list names the ones the script makes.
fn mpi4py_calls(flavor: Flavor, python: &Path) {
    let script = fixture("mpi4py_calls.py").path;
    let wd = WorkDir::new(&format!("mpi_calls_mpi4py_{}", flavor.suffix()));
    let config =
        "[mpi]\ncalls = [\"MPI_Barrier\", \"MPI_Allreduce\", \"MPI_Send\", \"MPI_Recv\"]\n";
    let args = [script.as_os_str()];
    let plain = run_plain_mpirun(wd.path(), flavor, 2, python, &args);
    plain.assert_success("plain run");
    let run = run_with_agent_mpirun(&wd, flavor, 2, config, python, &args);
    run.output.assert_success("run with the agent");
    assert_eq!(
        run.output.stdout, plain.stdout,
        "the program's output changed"
    );
    let common = [
        ("MPI_Allreduce", 5, 5 * 32, vec![-1]),
        ("MPI_Barrier", 3, 0, vec![-1]),
    ];
    let mut rank0 = common.to_vec();
    rank0.push(("MPI_Send", 2, 200, vec![1]));
    let mut rank1 = common.to_vec();
    rank1.insert(1, ("MPI_Recv", 2, 200, vec![0]));
    rank1.sort_by_key(|x| x.0);
    assert_calls(&calls_of(&run.profile, 0), &rank0, "rank 0");
    assert_calls(&calls_of(&run.profile, 1), &rank1, "rank 1");
}

#[test]
fn mpi4py_calls_open_mpi() {
    mpi4py_calls(Flavor::OpenMpi, &system_python());
}

/// With mpi4py built against MPICH by `scripts/setup.sh`.
#[test]
fn mpi4py_calls_mpich() {
    mpi4py_calls(Flavor::Mpich, &mpich_python());
}

/// `scope-run -c CFG -o OUT -n N -- PROG` in `wd`.
fn scope_run(wd: &WorkDir, cfg: &Path, out: &Path, n: u32, prog: &Path) -> scope_tests::Output {
    let n = n.to_string();
    let args: [&std::ffi::OsStr; 8] = [
        "-c".as_ref(),
        cfg.as_os_str(),
        "-o".as_ref(),
        out.as_os_str(),
        "-n".as_ref(),
        n.as_ref(),
        "--".as_ref(),
        prog.as_os_str(),
    ];
    scope_tests::run_scope_run(wd, &args)
}

/// `scope-run` checks the listed calls against the program's MPI library before anything runs.
#[test]
fn a_misspelt_call_is_refused_before_launch_with_close_matches() {
    let prog = fixture(&Flavor::OpenMpi.fixture("mpi_calls")).path;
    let wd = WorkDir::new("mpi_calls_misspelt");
    let cfg = wd.write(
        "scope.toml",
        "[mpi]\ncalls = [\"MPI_Barrier\", \"MPI_Allreduse\"]\n",
    );
    let out = wd.join("out.h5");
    let o = scope_run(&wd, &cfg, &out, 2, &prog);
    assert_eq!(o.code(), 2, "{o}");
    let want = format!(
        "scope-run: [mpi] calls ({}:2:9): no MPI function named 'MPI_Allreduse' in the \
         program's MPI library; did you mean: MPI_Allreduce",
        cfg.display()
    );
    assert!(o.stderr.contains(&want), "{o}");
    assert!(!o.stdout.contains("checksum"), "the program ran: {o}");
    assert!(!out.exists());
}

/// Union length of intervals (ns), clipped to `[lo, hi]`.
fn union_ns(mut iv: Vec<(i64, i64)>, lo: i64, hi: i64) -> i64 {
    iv.sort_unstable();
    let (mut total, mut end) = (0, i64::MIN);
    for (s, e) in iv {
        let (s, e) = (s.max(lo).max(end), e.min(hi));
        if e > s {
            total += e - s;
            end = e;
        }
    }
    total
}

/// The "where do my ranks wait" view on a real run: scope-run's summary and scope-pproc's JSON
/// give each rank's MPI time as the union of its MPI calls inside its MPI window.
#[test]
fn scope_run_and_pproc_show_where_the_ranks_wait() {
    let prog = fixture(&Flavor::OpenMpi.fixture("mpi_calls")).path;
    let wd = WorkDir::new("mpi_calls_view");
    let cfg = wd.write("scope.toml", ALL_CALLS);
    let out = wd.join("out.h5");
    let o = scope_run(&wd, &cfg, &out, 4, &prog);
    o.assert_success("scope-run");
    assert!(o.stderr.contains("\nrank "), "no per-rank MPI table: {o}");
    let row0 = o
        .stderr
        .lines()
        .find(|l| l.starts_with("0 "))
        .unwrap_or_else(|| panic!("no rank 0 row: {o}"));
    assert!(
        row0.contains("MPI_Barrier"),
        "rank 0 waits in MPI_Barrier: {row0}"
    );

    let json = scope_tests::proc::Cmd::new(scope_tests::paths::scope_pproc())
        .arg(&out)
        .arg("--format")
        .arg("json")
        .run();
    json.assert_success("scope-pproc --format json");
    let v: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    let r = ProfileReader::open(&out).unwrap();
    let mut shares = Vec::new();
    for (rank, row) in v["mpi"]["ranks"].as_array().unwrap().iter().enumerate() {
        let rank = rank as u32;
        let (Some(lo), Some(hi)) = r.window(rank).unwrap() else {
            panic!("rank {rank}: no window");
        };
        let mut iv = Vec::new();
        for name in r.regions(rank).unwrap() {
            let i = r.intervals(rank, &name).unwrap();
            iv.extend(
                i.start_times
                    .iter()
                    .copied()
                    .zip(i.end_times.iter().copied()),
            );
        }
        assert_eq!(row["rank"], rank);
        assert_eq!(row["wall_ns"].as_i64(), Some(hi - lo), "rank {rank}");
        assert_eq!(
            row["mpi_ns"].as_i64(),
            Some(union_ns(iv, lo, hi)),
            "rank {rank}"
        );
        shares.push(row["mpi_fraction"].as_f64().unwrap());
    }
    assert_eq!(shares.len(), 4);
    assert!(
        shares[0] > shares[3],
        "rank 0 waits more than rank 3: {shares:?}"
    );
}

/// An MPI call made inside another one (here `MPI_Comm_rank` in a user-defined reduction that
/// `MPI_Allreduce` runs) is part of the outer call: the counts stay the program's own calls.
#[test]
fn mpi_calls_inside_mpi_calls_are_not_counted_twice() {
    let flavor = Flavor::OpenMpi;
    let prog = fixture(&flavor.fixture("mpi_calls")).path;
    let wd = WorkDir::new("mpi_calls_nested");
    let run = run_with_agent_mpirun(&wd, flavor, 4, ALL_CALLS, &prog, &["nested"]);
    run.output.assert_success("run with the agent");
    assert!(
        run.output.stderr.contains("op ran"),
        "the user op never ran: {}",
        run.output
    );
    for rank in 0..4i64 {
        let mut want = expected_c(rank);
        for e in want.iter_mut() {
            if e.0 == "MPI_Allreduce" {
                *e = ("MPI_Allreduce", ITERS + 1, ITERS * 8 + 32, vec![-1]);
            }
        }
        want.push(("MPI_Op_create", 1, 0, vec![-1]));
        want.push(("MPI_Op_free", 1, 0, vec![-1]));
        want.sort_by_key(|x| x.0);
        assert_calls(
            &calls_of(&run.profile, rank as u32),
            &want,
            &format!("rank {rank}"),
        );
    }
}

/// `mpi_comm.c` on 4 ranks, bytes and messages sent `[from][to]` (see the fixture): ring
/// (5 × 512 B to r+1), pairs 0↔1 (3 × 400 B) and 2↔3 (2 × 2000 B), Bcast (2 × 256 B) and
/// Scatter (16 B) from 0, Gather to 3 (16 B), Reduce to 2 (12 B).
const COMM_BYTES: [[u64; 4]; 4] = [
    [
        0,
        5 * 512 + 3 * 400 + 2 * 256 + 16,
        2 * 256 + 16 + 12,
        2 * 256 + 16 + 16,
    ],
    [3 * 400, 0, 5 * 512 + 12, 16],
    [0, 0, 0, 5 * 512 + 2 * 2000 + 16],
    [5 * 512, 0, 2 * 2000 + 12, 0],
];
const COMM_MESSAGES: [[u64; 4]; 4] = [[0, 11, 4, 4], [3, 0, 6, 1], [0, 0, 0, 8], [5, 0, 3, 0]];

/// The exact communication matrix of a run under scope-run, from `scope-pproc comm`, and its
/// heat map in `--show`'s SVG and HTML.
fn comm_matrix(flavor: Flavor) {
    let prog = fixture(&flavor.fixture("mpi_comm")).path;
    let wd = WorkDir::new(&format!("mpi_comm_{}", flavor.suffix()));
    let cfg = wd.write("scope.toml", ALL_CALLS);
    let out = wd.join("out.h5");
    scope_run(&wd, &cfg, &out, 4, &prog).assert_success("scope-run");
    let pproc = || scope_tests::proc::Cmd::new(scope_tests::paths::scope_pproc());
    let json = pproc()
        .arg("comm")
        .arg(&out)
        .arg("--format")
        .arg("json")
        .run();
    json.assert_success("scope-pproc comm --format json");
    let v: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    let rows = |k: &str| -> Vec<Vec<u64>> {
        serde_json::from_value(v[k].clone()).unwrap_or_else(|e| panic!("{k}: {e}: {v}"))
    };
    assert_eq!(rows("bytes"), COMM_BYTES.map(|r| r.to_vec()), "bytes");
    assert_eq!(
        rows("messages"),
        COMM_MESSAGES.map(|r| r.to_vec()),
        "messages"
    );
    assert_eq!(v["total_messages"], 45);
    // The roots' own parts: 2 Bcast + Scatter on 0, Gather on 3, Reduce on 2; one send to
    // MPI_PROC_NULL per rank.
    assert_eq!(v["skipped"]["root_self"], 5, "{v}");
    assert_eq!(v["skipped"]["proc_null"], 4, "{v}");
    assert_eq!(v["unknown_size_messages"], 0, "{v}");
    let not_counted: Vec<&str> = v["not_counted"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    for n in [
        "MPI_Allreduce",
        "MPI_Barrier",
        "MPI_Irecv",
        "MPI_Recv",
        "MPI_Waitall",
    ] {
        assert!(not_counted.contains(&n), "{n} not in {not_counted:?}");
    }

    let table = pproc().arg("comm").arg(&out).run();
    table.assert_success("scope-pproc comm");
    let row0 = table
        .stdout
        .split("messages sent")
        .nth(1)
        .and_then(|t| t.lines().find(|l| l.starts_with("0 ")))
        .unwrap_or_else(|| panic!("no messages row 0: {table}"));
    assert_eq!(
        row0.split_whitespace().collect::<Vec<_>>(),
        ["0", "-", "11", "4", "4", "19"],
        "{table}"
    );
    assert!(
        table
            .stdout
            .contains("peer is a rank of the call's communicator"),
        "{table}"
    );

    let show = pproc()
        .arg(&out)
        .arg("--show")
        .arg("-o")
        .arg(wd.join("chart"))
        .run();
    show.assert_success("scope-pproc --show");
    for ext in ["svg", "html"] {
        let text = std::fs::read_to_string(wd.join(format!("chart.{ext}"))).unwrap();
        assert!(
            text.contains("Communication matrix"),
            "no heat map in chart.{ext}"
        );
        assert_eq!(
            text.matches("class=\"comm-cell\"").count(),
            9,
            "chart.{ext}"
        );
        assert!(
            text.contains(r#"data-from="2" data-to="3" data-bytes="6576" data-messages="8""#),
            "chart.{ext}"
        );
    }
}

#[test]
fn comm_matrix_of_ring_pairs_and_roots_open_mpi() {
    comm_matrix(Flavor::OpenMpi);
}

#[test]
fn comm_matrix_of_ring_pairs_and_roots_mpich() {
    comm_matrix(Flavor::Mpich);
}
