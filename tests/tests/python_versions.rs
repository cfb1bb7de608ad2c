//! Python regions on every interpreter version scope hooks, in one process without MPI:
//! CPython 3.11 through its PEP 523 frame hook (Debian's `/usr/bin/python3.11`, libpython inside
//! the executable; and pyenv's 3.11, which links `libpython3.11.so`), 3.12 and 3.13 through
//! `sys.monitoring`; 3.10 refused with one line. The fixture `py_semantics.py` states the
//! exact counts: a method, recursion, exceptions, a generator, `threading` threads, a C thread
//! calling back through ctypes, a call at import time; and exits with status 3.
//!
//! The pyenv interpreters are part of this machine's image (`~/.pyenv/versions/3.1x.*`): a
//! missing one fails its test (`SCOPE_ALLOW_MISSING_PYTHONS=1` skips it instead, saying so).

use scope_format::Intervals;
use scope_tests::mpi::run_with_agent_in_env;
use scope_tests::{fixture, run_plain, AgentRun, Cmd, Profile, WorkDir};
use std::path::{Path, PathBuf};

const CONFIG: &str = r#"
[[regions]]
python = "spin"
[[regions]]
python = "Solver.step"
[[regions]]
python = "__main__.fact"
name = "fact"
[[regions]]
python = "risky"
[[regions]]
python = "gen"
[[regions]]
python = "worker"
[[regions]]
python = "callback"
[[regions]]
python = "spni"
"#;

/// `SPIN_NS` of the fixture.
const SPIN_NS: i64 = 200_000;

/// pyenv's interpreter `3.<minor>.*`, if installed.
fn pyenv(minor: u32) -> Option<PathBuf> {
    let home = std::env::var_os("HOME").map(PathBuf::from)?;
    let dir = std::env::var_os("PYENV_ROOT")
        .map(PathBuf::from)
        .unwrap_or_else(|| home.join(".pyenv"))
        .join("versions");
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
        .ok()?
        .flatten()
        .filter(|e| {
            e.file_name()
                .to_str()
                .is_some_and(|n| n.starts_with(&format!("3.{minor}.")))
        })
        .map(|e| e.path().join("bin/python3"))
        .filter(|p| p.is_file())
        .collect();
    found.sort();
    found.pop()
}

/// The interpreter, or `None` when it is missing and that is allowed (said on stderr).
fn interpreter(minor: u32) -> Option<PathBuf> {
    match pyenv(minor) {
        Some(p) => Some(p),
        None if std::env::var_os("SCOPE_ALLOW_MISSING_PYTHONS").is_some() => {
            eprintln!("SKIPPED: no pyenv Python 3.{minor} on this machine");
            None
        }
        None => panic!(
            "no pyenv Python 3.{minor} (~/.pyenv/versions/3.{minor}.*); \
             set SCOPE_ALLOW_MISSING_PYTHONS=1 to skip"
        ),
    }
}

fn thread_counts(iv: &Intervals) -> std::collections::BTreeMap<i64, usize> {
    let mut m = std::collections::BTreeMap::new();
    for t in &iv.thread_ids {
        *m.entry(*t).or_insert(0) += 1;
    }
    m
}

fn pairs(iv: &Intervals) -> Vec<(i64, i64)> {
    let mut v: Vec<(i64, i64)> = iv
        .start_times
        .iter()
        .copied()
        .zip(iv.end_times.iter().copied())
        .collect();
    v.sort();
    v
}

/// Runs the fixture under `python` plain and with the agent in `wd`: the agent's run, after
/// checking that its stdout and exit status (3) are the plain run's.
fn run_both(wd: &WorkDir, python: &Path) -> AgentRun {
    let script = fixture("py_semantics.py").path;
    let lib = fixture("libcthread.so").path;
    let plain = run_plain(Cmd::new(python).arg(&script).arg(&lib));
    plain.assert_code(3, "py_semantics.py plain");
    let run = run_with_agent_in_env(wd, None, CONFIG, python, &[&script, &lib]);
    run.output.assert_code(3, "py_semantics.py with the agent");
    assert_eq!(
        run.output.stdout, plain.stdout,
        "stdout changed\n{}",
        run.output
    );
    run
}

/// Runs the fixture under `python` plain and with the agent; checks everything it states.
fn semantics(name: &str, python: PathBuf) {
    let wd = WorkDir::new(name);
    let run = run_both(&wd, &python);
    let o = &run.output;
    assert!(
        o.stderr.contains(
            "python region 'spni' matched no Python function that ran; closest: __main__.spin"
        ),
        "{o}"
    );
    let p = Profile::open(&run.profile);
    p.assert_ranks(1);
    p.assert_exact_counts(&[
        ("spin", 11),
        ("Solver.step", 5),
        ("fact", 10),
        ("risky", 4),
        ("gen", 4),
        ("worker", 14),
        ("callback", 4),
    ]);
    p.assert_well_formed();
    p.assert_min_duration("spin", SPIN_NS);
    // The first `spin` ran while the script was imported, on the main thread.
    let spin = p.intervals(0, "spin");
    let main = *thread_counts(spin).keys().next().unwrap();
    assert_eq!(thread_counts(spin).len(), 1, "{p}");
    // 10 of the 11 `spin` lie inside a `Solver.step`, 2 in each; the first is before them.
    let steps = pairs(p.intervals(0, "Solver.step"));
    let spins = pairs(spin);
    for (s, e) in &steps {
        let inside = spins.iter().filter(|(a, b)| s <= a && b <= e).count();
        assert_eq!(inside, 2, "step [{s}, {e}]\n{p}");
        assert!(e - s >= 2 * SPIN_NS, "{p}");
    }
    assert!(spins[0].1 <= steps[0].0, "{p}");
    // Recursion: each `fact` call lies inside the one that made it.
    let fact = pairs(p.intervals(0, "fact"));
    for w in fact.windows(2) {
        assert!(w[0].0 <= w[1].0 && w[1].1 <= w[0].1, "{w:?}\n{p}");
    }
    // Two threading threads, 7 calls each; neither is the main thread.
    let workers = thread_counts(p.intervals(0, "worker"));
    assert_eq!(
        workers.values().copied().collect::<Vec<_>>(),
        vec![7, 7],
        "{p}"
    );
    assert!(!workers.contains_key(&main), "{p}");
    // The callback: once on the main thread, 3 times on the C thread.
    let cb = thread_counts(p.intervals(0, "callback"));
    assert_eq!(cb.get(&main), Some(&1), "{p}");
    assert_eq!(cb.values().copied().max(), Some(3), "{p}");
    assert_eq!(cb.len(), 2, "{p}");
}

#[test]
fn python_3_11_debian_frame_hook() {
    semantics("py_3_11_debian", PathBuf::from("/usr/bin/python3.11"));
}

#[test]
fn python_3_11_libpython_frame_hook() {
    if let Some(py) = interpreter(11) {
        semantics("py_3_11_libpython", py);
    }
}

#[test]
fn python_3_12_sys_monitoring() {
    if let Some(py) = interpreter(12) {
        semantics("py_3_12", py);
    }
}

#[test]
fn python_3_13_sys_monitoring() {
    if let Some(py) = interpreter(13) {
        semantics("py_3_13", py);
    }
}

/// Older interpreters are refused with one line; the program runs as without the agent.
#[test]
fn python_3_10_is_refused_in_one_line() {
    let Some(python) = interpreter(10) else {
        return;
    };
    let wd = WorkDir::new("py_3_10");
    let run = run_both(&wd, &python);
    let o = &run.output;
    let lines: Vec<&str> = o.stderr.lines().filter(|l| l.contains("scope[")).collect();
    assert_eq!(lines.len(), 1, "{o}");
    assert!(
        lines[0].ends_with("(python regions need Python 3.11 or later); python regions are off"),
        "{o}"
    );
    assert!(!run.profile.exists(), "{o}");
}

/// A recursion deeper than 3.11's C stack allows under the frame hook (a program that raised
/// `sys.setrecursionlimit`: plain 3.11 runs it in its own frames, with the hook every Python
/// call is also a C call) ends in `RecursionError`, in the main thread and in a `threading`
/// thread, instead of a crash; an ordinary depth still works.
#[test]
fn python_3_11_deep_recursion_is_a_recursion_error_not_a_crash() {
    const SCRIPT: &str = r#"import sys, threading
sys.setrecursionlimit(200000)
def deep(n):
    return 0 if n == 0 else 1 + deep(n - 1)
def probe(where):
    try:
        print(where, "depth", deep(100000))
    except RecursionError as e:
        print(where, "RecursionError:", e)
probe("main")
t = threading.Thread(target=probe, args=("thread",))
t.start()
t.join()
print("ordinary", deep(900))
"#;
    let wd = WorkDir::new("py_3_11_deep");
    let script = wd.write("deep.py", SCRIPT);
    let python = PathBuf::from("/usr/bin/python3.11");
    let plain = run_plain(Cmd::new(&python).arg(&script));
    plain.assert_success("deep.py plain");
    assert!(plain.stdout.contains("main depth 100000"), "{plain}");
    let run = run_with_agent_in_env(&wd, None, CONFIG, &python, &[&script]);
    let o = &run.output;
    o.assert_success("deep.py with the agent (a crash would be a signal)");
    for who in ["main", "thread"] {
        assert!(
            o.stdout.contains(&format!(
                "{who} RecursionError: maximum recursion depth exceeded: the C stack is nearly full"
            )),
            "{o}"
        );
    }
    assert!(o.stdout.contains("ordinary 900"), "{o}");
}
