//! Python functions as regions (issue 14): `[[regions]] python = "..."` records every call of
//! the named Python functions of an unmodified mpi4py program, through `scope-run` on 4 ranks
//! under Open MPI (Debian's mpi4py) and MPICH (mpi4py built against it): exact counts per rank and
//! per thread, intervals at least the work they wrap, a Python region inside another, an MPI call
//! and a native function inside Python regions, recursion, exceptions, generators, a function
//! run at import (before `MPI_Init`), globs; the program's stdout and exit status unchanged; a
//! misspelt Python region named at the end with its closest match. And the reference tool's own
//! example (the seed's `mpi_example.py`) with its decorators removed, against scope-profiler
//! itself running the decorated original. Fixture: `tests/fixtures/mpi4py_regions.py`.

use scope_format::ProfileReader;
use scope_tests::mpi::{run_plain, with_mpi_env};
use scope_tests::oracle::{counts07, inspect07, read_ref02, root_attr_text, venv_python};
use scope_tests::paths::{mpich_python, scope_run, system_python};
use scope_tests::{
    fixture, run_plain_mpirun, run_with_agent_mpirun, Cmd, Flavor, Output, Profile, RankCounts,
    WorkDir,
};
use std::collections::BTreeMap;
use std::ffi::{OsStr, OsString};
use std::path::PathBuf;

const MS: i64 = 1_000_000;

/// Every region of the fixture, in every form `python` takes: `module.qualname` with a `name`,
/// bare qualnames (functions and a method), mixed with a native region and an MPI call.
const CONFIG: &str = r#"
[[regions]]
python = "prelude"
[[regions]]
python = "__main__.work"
name = "work"
[[regions]]
python = "Solver.step"
[[regions]]
python = "fact"
[[regions]]
python = "risky"
[[regions]]
python = "tick"
[[regions]]
python = "pooled"
[[regions]]
python = "__main__.outer"
name = "outer"
[[regions]]
python = "inner"
[[regions]]
python = "reduce_step"
[[regions]]
python = "squares"
[[regions]]
python = "kernel"
[[regions]]
symbol = "cos"

[mpi]
calls = ["MPI_Allreduce"]
"#;

/// What `mpi4py_regions.py` calls on `rank` (its docstring).
fn expected(rank: u32) -> Vec<(&'static str, usize)> {
    vec![
        ("MPI_Allreduce", 4),
        ("Solver.step", 7),
        ("cos", 30),
        ("fact", 12),
        ("inner", 15),
        ("kernel", 3),
        ("outer", 5),
        ("pooled", 6),
        ("prelude", 1),
        ("reduce_step", 4),
        ("risky", 9),
        ("squares", 8),
        ("tick", 13),
        ("work", 10 + rank as usize),
    ]
}

fn expected_counts(ranks: u32, per_rank: impl Fn(u32) -> Vec<(&'static str, usize)>) -> RankCounts {
    let mut want = RankCounts::new();
    for rank in 0..ranks {
        for (name, n) in per_rank(rank) {
            want.entry(name.to_string()).or_default().insert(rank, n);
        }
    }
    want
}

/// The interpreter with mpi4py for `flavor`.
fn python(flavor: Flavor) -> PathBuf {
    match flavor {
        Flavor::OpenMpi => system_python(),
        Flavor::Mpich => mpich_python(),
    }
}

/// Where `name` is on PATH.
fn which(name: &str) -> PathBuf {
    std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
        .map(|d| d.join(name))
        .find(|p| p.is_file())
        .unwrap_or_else(|| panic!("{name} is not on PATH"))
}

/// `wd/bin`, first on PATH for scope-run: `python3` is Debian's interpreter (not a pyenv shim
/// that may come first on PATH), and the launcher scope-run is told to use is `flavor`'s (a
/// Python program links no MPI, so scope-run cannot tell which one it needs by itself). The
/// launcher is a script that execs the real one: Hydra looks for `hydra_pmi_proxy` beside the
/// path it was started by, so a symlink would not do.
fn bin_path(wd: &WorkDir, flavor: Flavor) -> (OsString, &'static [&'static str]) {
    let bin = wd.subdir("bin");
    let python3 = bin.join("python3");
    if !python3.exists() {
        std::os::unix::fs::symlink(system_python(), &python3)
            .unwrap_or_else(|e| panic!("symlink {}: {e}", python3.display()));
    }
    let (name, real, opts): (&str, &str, &'static [&'static str]) = match flavor {
        Flavor::OpenMpi => ("mpirun", "mpirun.openmpi", &["--launcher", "mpirun"]),
        Flavor::Mpich => ("mpiexec", "mpiexec.mpich", &["--launcher", "mpiexec"]),
    };
    let script = format!("#!/bin/sh\nexec '{}' \"$@\"\n", which(real).display());
    let launcher = wd.write(&format!("bin/{name}"), &script);
    std::fs::set_permissions(
        &launcher,
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let path = std::env::join_paths(std::iter::once(bin).chain(std::env::split_paths(
        &std::env::var_os("PATH").unwrap_or_default(),
    )))
    .unwrap();
    (path, opts)
}

/// `scope-run --launcher L -c CFG -o OUT -n 4 -- PROGRAM ARGS...` in `wd/run` (PATH from
/// [`bin_path`]); returns the output and the profile's path.
fn scope_run_4<S: AsRef<OsStr>>(
    wd: &WorkDir,
    flavor: Flavor,
    config: &str,
    program: &[S],
) -> (Output, PathBuf) {
    let cfg = wd.write("cfg/scope.toml", config);
    let out = wd.subdir("out").join("profiling_data.h5");
    let (path, opts) = bin_path(wd, flavor);
    let cmd = Cmd::new(scope_run())
        .cwd(wd.subdir("run"))
        .args(opts)
        .arg("-c")
        .arg(&cfg)
        .arg("-o")
        .arg(&out)
        .args(["-n", "4", "--"])
        .args(program);
    let o = run_plain(with_mpi_env(cmd).env("PATH", path));
    (o, out)
}

fn os_args(items: &[&OsStr]) -> Vec<OsString> {
    items.iter().map(|s| s.to_os_string()).collect()
}

/// The fixture plainly and through scope-run with `config`: same stdout, same exit status.
fn run_fixture(
    wd: &WorkDir,
    flavor: Flavor,
    config: &str,
    status: Option<&str>,
) -> (Output, PathBuf) {
    let script = fixture("mpi4py_regions.py").path;
    let py = python(flavor);
    let mut args = os_args(&[script.as_os_str()]);
    args.extend(status.map(OsString::from));
    let plain = run_plain_mpirun(wd.path(), flavor, 4, &py, &args);
    let want = status.map_or(0, |s| s.parse().unwrap());
    plain.assert_code(want, "plain run");
    assert!(plain.stdout.contains("\nchecksum="), "{plain}");
    let program: Vec<OsString> = std::iter::once(py.into_os_string()).chain(args).collect();
    let (o, out) = scope_run_4(wd, flavor, config, &program);
    assert_eq!(
        o.code(),
        plain.code(),
        "exit status with scope-run vs plain\n{o}"
    );
    assert_eq!(
        o.stdout, plain.stdout,
        "the program's stdout changed under scope-run\n{o}"
    );
    (o, out)
}

/// `(start, end, thread)` of every call of `region` on `rank`, by start time.
fn calls(p: &Profile, rank: u32, region: &str) -> Vec<(i64, i64, i64)> {
    let iv = p.intervals(rank, region);
    assert_eq!(
        iv.thread_ids.len(),
        iv.len(),
        "rank {rank} {region}: thread_ids column"
    );
    let mut v: Vec<(i64, i64, i64)> = (0..iv.len())
        .map(|i| (iv.start_times[i], iv.end_times[i], iv.thread_ids[i]))
        .collect();
    v.sort_unstable();
    v
}

fn min_duration(p: &Profile, rank: u32, region: &str, min_ns: i64) {
    for (i, (s, e, _)) in calls(p, rank, region).iter().enumerate() {
        assert!(
            e - s >= min_ns,
            "rank {rank} {region}[{i}] lasted {} ns < the {min_ns} ns it busy-waits\n{p}",
            e - s
        );
    }
}

/// Every call of `inner` lies within one call of `outer` on the same thread, and each `outer`
/// call holds exactly `per_outer` of them.
fn nested(p: &Profile, rank: u32, inner: &str, outer: &str, per_outer: usize) {
    let o = calls(p, rank, outer);
    let mut held = vec![0usize; o.len()];
    for (k, (s, e, t)) in calls(p, rank, inner).iter().enumerate() {
        let within: Vec<usize> = o
            .iter()
            .enumerate()
            .filter(|(_, (os, oe, ot))| os <= s && e <= oe && ot == t)
            .map(|(i, _)| i)
            .collect();
        assert_eq!(
            within.len(),
            1,
            "rank {rank} {inner}[{k}] = [{s}, {e}] on thread {t} lies within {} {outer} calls \
             on its thread (expected 1): {outer} = {o:?}",
            within.len()
        );
        held[within[0]] += 1;
    }
    assert!(
        held.iter().all(|&n| n == per_outer),
        "rank {rank}: {inner} calls per {outer} call {held:?}, expected {per_outer} each"
    );
}

/// No two calls of `region` on `rank` overlap.
fn disjoint(p: &Profile, rank: u32, region: &str) {
    let c = calls(p, rank, region);
    for w in c.windows(2) {
        assert!(
            w[0].1 <= w[1].0,
            "rank {rank} {region}: calls {:?} and {:?} overlap (expected one after the other)",
            w[0],
            w[1]
        );
    }
}

/// Everything `mpi4py_regions.py` promises, on every rank of `p`.
fn check_fixture_profile(p: &Profile) {
    p.assert_ranks(4);
    p.assert_well_formed();
    assert_eq!(
        p.counts(),
        expected_counts(4, expected),
        "per-rank counts\n{p}"
    );
    let r = ProfileReader::open(&p.path).unwrap();
    for rank in 0..4u32 {
        // Busy waits: every interval at least the wait it wraps.
        min_duration(p, rank, "work", MS);
        min_duration(p, rank, "Solver.step", MS / 5);
        min_duration(p, rank, "risky", MS / 5);
        min_duration(p, rank, "tick", MS / 10);
        min_duration(p, rank, "pooled", MS / 10);
        min_duration(p, rank, "inner", MS / 2);
        min_duration(p, rank, "outer", 3 * MS / 2);

        // Threads: the main thread's id is prelude's; every region the main thread runs has it
        // alone; tick has two threads of its own, 5 and 8 calls; pooled never runs on main.
        let main = calls(p, rank, "prelude")[0].2;
        for region in [
            "work",
            "Solver.step",
            "fact",
            "risky",
            "outer",
            "inner",
            "reduce_step",
            "squares",
            "kernel",
            "cos",
            "MPI_Allreduce",
        ] {
            let threads: Vec<i64> = calls(p, rank, region).iter().map(|c| c.2).collect();
            assert!(
                threads.iter().all(|&t| t == main),
                "rank {rank} {region}: thread ids {threads:?}, all expected on the main thread \
                 ({main})"
            );
        }
        let mut per_thread: BTreeMap<i64, usize> = BTreeMap::new();
        for c in calls(p, rank, "tick") {
            *per_thread.entry(c.2).or_default() += 1;
        }
        assert!(
            !per_thread.contains_key(&main),
            "rank {rank}: tick on the main thread ({main}): {per_thread:?}"
        );
        let mut split: Vec<usize> = per_thread.values().copied().collect();
        split.sort_unstable();
        assert_eq!(
            split,
            vec![5, 8],
            "rank {rank}: tick calls per thread {per_thread:?} (two threading.Thread, 5 and 8)"
        );
        let pool_threads: Vec<i64> = calls(p, rank, "pooled").iter().map(|c| c.2).collect();
        assert!(
            pool_threads
                .iter()
                .all(|&t| t != main && !per_thread.contains_key(&t)),
            "rank {rank}: pooled thread ids {pool_threads:?} (main {main}, tick's \
             {per_thread:?}): the pool's threads are threads of their own"
        );

        // Nesting: a Python region in another, an MPI call and a native function in Python ones.
        nested(p, rank, "inner", "outer", 3);
        nested(p, rank, "MPI_Allreduce", "reduce_step", 1);
        nested(p, rank, "cos", "kernel", 10);

        // Recursion: fact(6) twice; each call inside the previous one of its chain, so 10 of the
        // 12 calls lie within another fact call, and the two chains do not overlap.
        let f = calls(p, rank, "fact");
        let inside = (0..f.len())
            .filter(|&i| (0..f.len()).any(|j| j != i && f[j].0 <= f[i].0 && f[i].1 <= f[j].1))
            .count();
        assert_eq!(inside, 10, "rank {rank}: fact calls inside another: {f:?}");

        // Exceptions end calls too: 9 risky calls one after the other (3 raised).
        disjoint(p, rank, "risky");
        // Generators: one interval per resumption, one after the other.
        disjoint(p, rank, "squares");

        // prelude runs at import, before mpi4py initialised MPI.
        let (Some(begin), _) = r.window(rank).unwrap() else {
            panic!("rank {rank}: no MPI window\n{p}");
        };
        let pre = calls(p, rank, "prelude")[0];
        assert!(
            pre.1 <= begin,
            "rank {rank}: prelude [{}, {}] should end before MPI_Init ended ({begin})",
            pre.0,
            pre.1
        );
        let w = calls(p, rank, "work");
        assert!(
            w[0].0 >= begin,
            "rank {rank}: work starts after MPI_Init ({begin}): {w:?}"
        );
    }
}

fn fixture_end_to_end(flavor: Flavor) {
    let wd = WorkDir::new(&format!("python_regions_{}", flavor.suffix()));
    let (o, out) = run_fixture(&wd, flavor, CONFIG, None);
    o.assert_success("scope-run mpi4py_regions.py");
    assert!(
        !o.stderr.contains("matched no Python function"),
        "every Python region ran: {o}"
    );
    let p = Profile::open(&out);
    check_fixture_profile(&p);
    // The reference tool's readers see the same regions and counts.
    let want = p.counts();
    for (what, view) in [
        ("read_ref02", read_ref02(&out)),
        ("inspect07", inspect07(&out)),
    ] {
        assert_eq!(view.num_ranks, 4, "{what}");
        assert_eq!(view.counts, want, "{what} vs scope-format\n{p}");
    }
}

#[test]
fn mpi4py_fixture_open_mpi() {
    fixture_end_to_end(Flavor::OpenMpi);
}

#[test]
fn mpi4py_fixture_mpich() {
    fixture_end_to_end(Flavor::Mpich);
}

/// A glob without `name` makes one region per function matched, named `module.qualname`; with
/// `name`, all the functions it matches share that one region. `*` globs over the whole qualname,
/// nested ones included: `__main__.?ick*` matches `tick`, `ticker` and the generator expression
/// `ticker` runs `tick` from (`ticker.<locals>.<genexpr>`, one interval per resumption: n + 1 for
/// n ticks). Per rank: 2 ticker + 13 tick + (6 + 9) genexpr = 30, on two threads (12 and 18),
/// nested. The exit status passes through (the fixture returns 3 after finalizing).
fn globs_and_status(flavor: Flavor) {
    let wd = WorkDir::new(&format!("python_regions_glob_{}", flavor.suffix()));
    let config = r#"
[[regions]]
python = "__main__.Solver.*"
[[regions]]
python = "__main__.?ick*"
name = "ticks"
"#;
    let (o, out) = run_fixture(&wd, flavor, config, Some("3"));
    assert_eq!(o.code(), 3, "{o}");
    let p = Profile::open(&out);
    p.assert_ranks(4);
    p.assert_well_formed();
    let want = expected_counts(4, |_| {
        vec![
            ("__main__.Solver.__init__", 1),
            ("__main__.Solver.step", 7),
            ("ticks", 30),
        ]
    });
    assert_eq!(p.counts(), want, "per-rank counts\n{p}");
    for rank in 0..4 {
        min_duration(&p, rank, "__main__.Solver.step", MS / 5);
        let c = calls(&p, rank, "ticks");
        let holds = |a: &(i64, i64, i64)| {
            c.iter()
                .filter(|b| *b != a && a.0 <= b.0 && b.1 <= a.1 && a.2 == b.2)
                .count()
        };
        let mut per_thread: BTreeMap<i64, usize> = BTreeMap::new();
        for x in &c {
            *per_thread.entry(x.2).or_default() += 1;
        }
        let mut split: Vec<usize> = per_thread.values().copied().collect();
        split.sort_unstable();
        assert_eq!(
            split,
            vec![12, 18],
            "rank {rank}: ticks per thread {per_thread:?}"
        );
        // Each thread's ticker call holds everything else of its thread.
        for (t, n) in &per_thread {
            let whole = c.iter().filter(|a| a.2 == *t && holds(a) == n - 1).count();
            assert_eq!(
                whole, 1,
                "rank {rank} thread {t}: one ticker call holding {n} - 1: {c:?}"
            );
        }
        // 2 ticker calls and 13 genexpr resumptions (one per tick) hold something.
        let holders = c.iter().filter(|a| holds(a) > 0).count();
        assert_eq!(holders, 15, "rank {rank}: intervals holding others: {c:?}");
    }
}

#[test]
fn globs_and_exit_status_open_mpi() {
    globs_and_status(Flavor::OpenMpi);
}

#[test]
fn globs_and_exit_status_mpich() {
    globs_and_status(Flavor::Mpich);
}

const SENTENCE: &str = "python region 'wrok' matched no Python function that ran";

/// The names after `; closest: ` on the first line that carries [`SENTENCE`].
fn closest(text: &str) -> Option<Vec<String>> {
    let line = text.lines().find(|l| l.contains(SENTENCE))?;
    let rest = &line[line.find(SENTENCE)? + SENTENCE.len()..];
    let names = rest.strip_prefix("; closest: ")?;
    Some(names.split(", ").map(|s| s.trim().to_string()).collect())
}

/// A typo cannot be checked before launch (nothing is known of a Python program's functions
/// until they run): it is named at the end, with the closest names of functions that did run,
/// by rank 0's agent and by scope-run (from the merged file). The other region is recorded.
#[test]
fn a_misspelt_python_region_is_named_with_its_closest_match() {
    let flavor = Flavor::OpenMpi;
    let config = "[[regions]]\npython = \"wrok\"\n[[regions]]\npython = \"fact\"\n";
    let wd = WorkDir::new("python_regions_misspelt");
    let (o, out) = run_fixture(&wd, flavor, config, None);
    o.assert_success("scope-run with a misspelt python region");
    let n = o.stderr.matches(SENTENCE).count();
    assert_eq!(
        n, 1,
        "scope-run names the region once (the agent under scope-run only when verbose)\n{o}"
    );
    let names = closest(&o.stderr).unwrap_or_else(|| panic!("no '; closest: ' after it\n{o}"));
    assert_eq!(
        names.first().map(String::as_str),
        Some("__main__.work"),
        "closest names {names:?}\n{o}"
    );
    let p = Profile::open(&out);
    p.assert_ranks(4);
    assert_eq!(
        p.counts(),
        expected_counts(4, |_| vec![("fact", 12)]),
        "only fact is recorded\n{p}"
    );
    let attr = root_attr_text(&out, "python_regions_unmatched")
        .unwrap_or_else(|| panic!("no root attribute python_regions_unmatched\n{p}"));
    assert!(attr.contains("wrok"), "python_regions_unmatched = {attr:?}");
    assert!(attr.contains("work"), "python_regions_unmatched = {attr:?}");

    // The agent alone (no scope-run): rank 0 says it, once.
    let wd2 = WorkDir::new("python_regions_misspelt_agent");
    let script = fixture("mpi4py_regions.py").path;
    let run = run_with_agent_mpirun(&wd2, flavor, 4, config, python(flavor), &[&script]);
    run.output.assert_success("mpirun with the agent");
    assert_eq!(
        run.output.stderr.matches(SENTENCE).count(),
        1,
        "rank 0's agent names the region once (not once per rank)\n{}",
        run.output
    );
    let names = closest(&run.output.stderr)
        .unwrap_or_else(|| panic!("no '; closest: ' after it\n{}", run.output));
    assert_eq!(
        names.first().map(String::as_str),
        Some("__main__.work"),
        "{names:?}"
    );
}

/// The seed's example: `fixture` copied to `wd/<dir>/mpi_example.py`.
fn seed_script(wd: &WorkDir, dir: &str, fixture_name: &str) -> PathBuf {
    let text = std::fs::read_to_string(fixture(fixture_name).path).unwrap();
    wd.write(&format!("{dir}/mpi_example.py"), &text)
}

fn one_compute_per_rank() -> RankCounts {
    expected_counts(4, |_| vec![("compute", 1)])
}

/// `scope-run -n 4 -- python3 mpi_example.py` with `python = "compute"`, the seed's example with
/// its scope_profiler lines removed: `rank0`..`rank3`, one `compute` each, and both reference
/// readers (and 0.7.5's `read_h5`) read the same. Returns the profile's path.
fn seed_with_scope(wd: &WorkDir, flavor: Flavor) -> PathBuf {
    seed_script(wd, "run", "mpi_example.py");
    let (o, out) = scope_run_4(
        wd,
        flavor,
        "[[regions]]\npython = \"compute\"\n",
        &["python3", "mpi_example.py"],
    );
    o.assert_success("scope-run -n 4 -- python3 mpi_example.py");
    assert_eq!(o.stdout, "", "mpi_example.py prints nothing\n{o}");
    assert!(!o.stderr.contains("matched no Python function"), "{o}");
    let p = Profile::open(&out);
    p.assert_ranks(4);
    p.assert_well_formed();
    assert_eq!(p.counts(), one_compute_per_rank(), "{p}");
    for (what, view) in [
        ("read_ref02", read_ref02(&out)),
        ("inspect07", inspect07(&out)),
        ("counts07", counts07(&out)),
    ] {
        assert_eq!(view.num_ranks, 4, "{what}: {view:?}");
        assert_eq!(view.counts, one_compute_per_rank(), "{what}");
    }
    out
}

#[test]
fn seed_mpi_example_mpich() {
    let wd = WorkDir::new("python_regions_seed_mpich");
    seed_with_scope(&wd, Flavor::Mpich);
}

/// Side by side, Open MPI: scope on the undecorated example, and scope-profiler itself on the
/// decorated original (imported with Debian's mpi4py, so it runs as 4 MPI ranks): 0.2.6 (the
/// version the seed's page documents) runs it verbatim; 0.7.5 refuses the page's two setup
/// options (`time_trace`, `flush_to_disk`: "Unknown profiling setting(s)"), so it runs the
/// original without those two lines. All three files: the same regions, the same counts. The
/// reference runs come first, so a failure of scope's run leaves them checked.
#[test]
fn seed_mpi_example_open_mpi_side_by_side_with_scope_profiler() {
    let wd = WorkDir::new("python_regions_seed_open_mpi");
    let original = std::fs::read_to_string(fixture("mpi_example_scope_profiler.py").path).unwrap();
    let for_07 = original
        .replace("    time_trace=True,\n", "")
        .replace("    flush_to_disk=True,\n", "");
    assert_ne!(
        for_07, original,
        "the seed's setup options are gone from the fixture"
    );
    let runs = [
        ("ref02", "venv-0.2-mpi4py", original.as_str()),
        ("ref07", "venv-0.7-mpi4py", for_07.as_str()),
    ];
    let mut views = Vec::new();
    for (dir, venv, text) in runs {
        let script = wd.write(&format!("{dir}/mpi_example.py"), text);
        let run_dir = script.parent().unwrap().to_path_buf();
        let o = run_plain_mpirun(
            &run_dir,
            Flavor::OpenMpi,
            4,
            venv_python(venv),
            &["mpi_example.py"],
        );
        o.assert_success(&format!(
            "scope-profiler ({venv}) on the decorated mpi_example.py"
        ));
        let file = run_dir.join("profiling_data.h5");
        assert!(file.is_file(), "{venv} wrote no profiling_data.h5\n{o}");
        let view = counts07(&file);
        assert_eq!(view.num_ranks, 4, "{venv}: {view:?}");
        assert_eq!(view.counts, one_compute_per_rank(), "{venv}");
        views.push((venv, view.counts));
        if dir == "ref02" {
            assert_eq!(
                read_ref02(&file).counts,
                one_compute_per_rank(),
                "read_ref02 of {venv}"
            );
        }
    }
    let ours = seed_with_scope(&wd, Flavor::OpenMpi);
    let scope = Profile::open(&ours).counts();
    for (venv, counts) in views {
        assert_eq!(
            counts, scope,
            "scope-profiler ({venv}) vs scope: regions and counts per rank"
        );
    }
}
