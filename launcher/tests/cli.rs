//! scope-run and scope-pproc as users run them: tiny C programs built with `cc` at test time,
//! each test in its own temporary directory, every child killed after a timeout, and the
//! child's stderr printed on failure. Children start, and HDF5 files are written, under
//! `fork_lock()`, shared with the other modules of this binary (see `fixture`).

use crate::fixture::fork_lock;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

const RUN: &str = env!("CARGO_BIN_EXE_scope-run");
const PPROC: &str = env!("CARGO_BIN_EXE_scope-pproc");

struct Dir(PathBuf);

impl Dir {
    fn new(tag: &str) -> Dir {
        let d = std::env::temp_dir().join(format!("scope-cli-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        Dir(d)
    }
    fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
    fn write(&self, name: &str, text: &str) -> PathBuf {
        let p = self.path(name);
        std::fs::write(&p, text).unwrap();
        p
    }
    /// Compiles `src` with `cc` (plus `flags`) into `name`.
    fn cc(&self, name: &str, src: &str, flags: &[&str]) -> PathBuf {
        self.cc_with("cc", name, src, flags)
    }
    fn cc_with(&self, compiler: &str, name: &str, src: &str, flags: &[&str]) -> PathBuf {
        let c = self.write(&format!("{name}.c"), src);
        let out = self.path(name);
        let _no_fork = fork_lock();
        let st = Command::new(compiler)
            .args(flags)
            .arg("-o")
            .arg(&out)
            .arg(&c)
            .status()
            .unwrap();
        assert!(st.success(), "{compiler} failed for {name}");
        out
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

/// Runs `cmd` to completion (killed after 60 s) and returns its output.
fn finish(mut cmd: Command) -> Output {
    let no_fork = fork_lock();
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(no_fork);
    let deadline = Instant::now() + Duration::from_secs(60);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("timed out: {cmd:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

fn scope_run(dir: &Dir, args: &[&str]) -> (i32, String) {
    let mut cmd = Command::new(RUN);
    cmd.args(args)
        .current_dir(&dir.0)
        .env_remove("SCOPE_CONFIG")
        .env_remove("SCOPE_AGENT");
    let out = finish(cmd);
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    eprintln!("--- scope-run {args:?} stderr:\n{err}---");
    (out.status.code().unwrap_or(-1), err)
}

const COMPUTE_C: &str = "#include <stdio.h>\n\
    __attribute__((noinline)) double compute(double x) { return x * 2.0; }\n\
    __attribute__((noinline)) double compute_all(double x) { return compute(x) + 1.0; }\n\
    int main(void) { printf(\"%f\\n\", compute_all(1.0)); return 0; }\n";

fn config(dir: &Dir, symbol: &str) {
    dir.write(
        "scope.toml",
        &format!("[[regions]]\nsymbol = \"{symbol}\"\n"),
    );
}

#[test]
fn missing_program_is_not_a_failed_program() {
    let d = Dir::new("missing");
    config(&d, "compute");
    let (code, err) = scope_run(&d, &["--", "./no-such-program", "--input", "x"]);
    assert_eq!(code, 2);
    assert_eq!(
        err.trim(),
        "scope-run: cannot find program './no-such-program'"
    );
    let (code, err) = scope_run(&d, &["--", "no-such-program-on-path"]);
    assert_eq!(code, 2);
    assert!(err.contains("cannot find program 'no-such-program-on-path'"));
    assert!(!d.path("profiling_data.h5").exists());
}

#[test]
fn static_binary_is_refused() {
    let d = Dir::new("static");
    d.cc("static_prog", COMPUTE_C, &["-static", "-O1"]);
    config(&d, "compute");
    let (code, err) = scope_run(&d, &["--", "./static_prog"]);
    assert_eq!(code, 2);
    assert!(err.contains("static_prog is statically linked"), "{err}");
    assert!(err.contains("Relink it dynamically"), "{err}");
}

#[test]
fn malformed_toml_names_file_line_and_column() {
    let d = Dir::new("toml");
    d.cc("prog", COMPUTE_C, &["-O1"]);
    d.write("scope.toml", "[[regions]]\nsymbol = \n");
    let (code, err) = scope_run(&d, &["--", "./prog"]);
    assert_eq!(code, 2);
    let line = err.lines().next().unwrap_or("");
    let rest = line
        .strip_prefix("scope-run: scope.toml:")
        .unwrap_or_else(|| panic!("{err}"));
    let mut parts = rest.splitn(3, ':');
    let (l, c) = (parts.next().unwrap(), parts.next().unwrap());
    assert!(
        l.parse::<u32>().is_ok() && c.parse::<u32>().is_ok(),
        "{line}"
    );
    assert!(!d.path("profiling_data.h5").exists());
}

#[test]
fn unknown_symbol_is_named_with_suggestions() {
    let d = Dir::new("typo");
    d.cc("prog", COMPUTE_C, &["-O1"]);
    config(&d, "comptue");
    let (code, err) = scope_run(&d, &["--", "./prog"]);
    assert_eq!(code, 2);
    assert!(err.contains("region 'comptue' (scope.toml:2:"), "{err}");
    assert!(
        err.contains("no function named 'comptue' in ./prog or its libraries"),
        "{err}"
    );
    let suggestions = err
        .split("did you mean: ")
        .nth(1)
        .unwrap_or_else(|| panic!("{err}"));
    assert!(suggestions.starts_with("compute"), "{err}");
    assert!(!d.path("profiling_data.h5").exists());
}

#[test]
fn existing_output_needs_force() {
    let d = Dir::new("exists");
    d.cc("prog", COMPUTE_C, &["-O1"]);
    config(&d, "compute");
    d.write("profiling_data.h5", "old");
    let (code, err) = scope_run(&d, &["--", "./prog"]);
    assert_eq!(code, 2);
    assert!(err.contains("profiling_data.h5 already exists"), "{err}");
    assert!(err.contains("-o") && err.contains("--force"), "{err}");
    assert_eq!(
        std::fs::read_to_string(d.path("profiling_data.h5")).unwrap(),
        "old"
    );
}

/// A stand-in agent (loads, does nothing) and a program that writes its environment to
/// `env.<pid>` and exits with status 3.
fn fake_agent_and_env_dumper(d: &Dir, compiler: &str, mpi: bool) -> (PathBuf, PathBuf) {
    let agent = d.path("libfake_agent.so");
    let src = d.write("fake.c", "void scope_fake_agent(void) {}\n");
    let no_fork = fork_lock();
    let st = Command::new("cc")
        .args(["-shared", "-fPIC", "-o"])
        .arg(&agent)
        .arg(&src)
        .status()
        .unwrap();
    drop(no_fork);
    assert!(st.success());
    let (init, fin, inc) = if mpi {
        ("MPI_Init(0, 0);", "MPI_Finalize();", "#include <mpi.h>\n")
    } else {
        ("", "", "")
    };
    let prog = d.cc_with(
        compiler,
        "dump",
        &format!(
            "{inc}#include <stdio.h>\n#include <stdlib.h>\n#include <unistd.h>\n\
             __attribute__((noinline)) int compute(int x) {{ return x + 1; }}\n\
             int main(int argc, char **argv) {{ {init}\n\
               char name[64]; snprintf(name, sizeof name, \"env.%d\", (int)getpid());\n\
               FILE *f = fopen(name, \"w\");\n\
               const char *vars[] = {{\"LD_PRELOAD\", \"SCOPE_CONFIG\", \"SCOPE_OUTPUT\",\n\
                 \"SCOPE_TARGET\", \"SCOPE_LAUNCHED\", \"SCOPE_VERBOSE\"}};\n\
               for (int i = 0; i < 6; i++) {{ const char *v = getenv(vars[i]);\n\
                 fprintf(f, \"%s=%s\\n\", vars[i], v ? v : \"(unset)\"); }}\n\
               for (int i = 1; i < argc; i++) fprintf(f, \"arg=%s\\n\", argv[i]);\n\
               fclose(f); {fin} return compute(2); }}\n"
        ),
        &["-O1"],
    );
    (agent, prog)
}

fn env_dumps(d: &Dir) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(&d.0)
        .unwrap()
        .filter_map(|e| {
            let e = e.unwrap();
            let n = e.file_name().to_string_lossy().into_owned();
            n.starts_with("env.")
                .then(|| std::fs::read_to_string(e.path()).unwrap())
        })
        .collect();
    v.sort();
    v
}

fn expected_env(d: &Dir, agent: &Path, prog: &Path) -> String {
    let canon = |p: &Path| std::fs::canonicalize(p).unwrap().display().to_string();
    format!(
        "LD_PRELOAD={}\nSCOPE_CONFIG={}\nSCOPE_OUTPUT={}\nSCOPE_TARGET={}\nSCOPE_LAUNCHED=1\n\
         SCOPE_VERBOSE=(unset)\narg=--input\narg=case.dat\n",
        canon(agent),
        canon(&d.path("scope.toml")),
        d.path("out.h5").display(),
        canon(prog)
    )
}

#[test]
fn direct_run_passes_the_environment_and_exit_status() {
    let d = Dir::new("direct");
    let (agent, prog) = fake_agent_and_env_dumper(&d, "cc", false);
    config(&d, "compute");
    let mut cmd = Command::new(RUN);
    cmd.args(["-o", "out.h5", "--", "./dump", "--input", "case.dat"])
        .current_dir(&d.0)
        .env("SCOPE_AGENT", &agent)
        .env_remove("LD_PRELOAD");
    let out = finish(cmd);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert!(err.contains("no profile was written to"), "{err}");
    assert_eq!(env_dumps(&d), vec![expected_env(&d, &agent, &prog)]);
}

#[test]
fn open_mpi_ranks_get_the_environment() {
    let d = Dir::new("ompi");
    let (agent, prog) = fake_agent_and_env_dumper(&d, "cc", false);
    config(&d, "compute");
    let mut cmd = Command::new(RUN);
    cmd.args(["-n", "2", "--launcher", "mpirun", "-o", "out.h5"])
        .args(["--", "./dump", "--input", "case.dat"])
        .current_dir(&d.0)
        .env("SCOPE_AGENT", &agent)
        .env("OMPI_ALLOW_RUN_AS_ROOT", "1")
        .env("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1")
        .env("OMPI_MCA_rmaps_base_oversubscribe", "1")
        .env_remove("LD_PRELOAD");
    let out = finish(cmd);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{err}");
    let want = expected_env(&d, &agent, &prog);
    assert_eq!(env_dumps(&d), vec![want.clone(), want]);
}

#[test]
fn mpich_program_runs_under_hydra() {
    let no_fork = fork_lock();
    let no_mpich = Command::new("mpicc.mpich")
        .arg("--version")
        .output()
        .is_err();
    drop(no_fork);
    if no_mpich {
        eprintln!("skipped: no mpicc.mpich");
        return;
    }
    let d = Dir::new("mpich");
    let (agent, prog) = fake_agent_and_env_dumper(&d, "mpicc.mpich", true);
    config(&d, "compute");
    let mut cmd = Command::new(RUN);
    cmd.args(["-n", "2", "-v", "-o", "out.h5"])
        .args(["--", "./dump", "--input", "case.dat"])
        .current_dir(&d.0)
        .env("SCOPE_AGENT", &agent)
        .env_remove("LD_PRELOAD");
    let out = finish(cmd);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("running: mpiexec.mpich -genv LD_PRELOAD"),
        "{err}"
    );
    assert!(err.contains("links the MPICH family"), "{err}");
    let want = expected_env(&d, &agent, &prog).replace("SCOPE_VERBOSE=(unset)", "SCOPE_VERBOSE=1");
    assert_eq!(env_dumps(&d), vec![want.clone(), want], "{err}");
}

#[test]
fn sigterm_is_forwarded_and_reported_as_128_plus_signal() {
    let d = Dir::new("signal");
    let agent = d.cc("libfake.so", "void f(void) {}\n", &["-shared", "-fPIC"]);
    d.cc(
        "sleeper",
        "#include <unistd.h>\nint compute(void) { return 0; }\n\
         int main(void) { for (int i = 0; i < 300; i++) usleep(100000); return compute(); }\n",
        &["-O1"],
    );
    config(&d, "compute");
    let no_fork = fork_lock();
    let mut child = Command::new(RUN)
        .args(["--", "./sleeper"])
        .current_dir(&d.0)
        .env("SCOPE_AGENT", &agent)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(no_fork);
    // Once the program runs, scope-run forwards signals (a fixed wait is too short on a loaded
    // machine: SIGTERM before scope-run's handler is in place kills scope-run itself).
    let started = Instant::now();
    while !child_runs(child.id(), "sleeper") && started.elapsed() < Duration::from_secs(20) {
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(200));
    // SAFETY: plain kill(2) of a child this test started.
    let rc = unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    assert_eq!(rc, 0);
    let deadline = Instant::now() + Duration::from_secs(20);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("scope-run did not end after SIGTERM");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(128 + libc::SIGTERM), "{err}");
    assert!(err.contains("no profile was written"), "{err}");
}

#[test]
fn pproc_reports_bad_files_and_ranks() {
    let d = Dir::new("pproc");
    let out = finish({
        let mut c = Command::new(PPROC);
        c.arg(d.path("none.h5"));
        c
    });
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no such file"));
    let junk = d.write("junk.h5", "not hdf5");
    let out = finish({
        let mut c = Command::new(PPROC);
        c.arg(&junk);
        c
    });
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot read"));
    let out = finish({
        let mut c = Command::new(PPROC);
        c.arg(&junk).args(["--ranks", "3-1"]);
        c
    });
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("invalid rank selection '3-1'"));
}

#[test]
fn pproc_summarises_selected_ranks() {
    use scope_format::{merge, FileAttrs, MergeInput, RankAttrs, RankWriter};
    let d = Dir::new("pproc-sum");
    let no_fork = fork_lock();
    let mut inputs = Vec::new();
    for rank in 0..4u32 {
        let path = d.path(&format!("r{rank}.h5"));
        let attrs = RankAttrs {
            rank: rank.into(),
            ..Default::default()
        };
        let mut w = RankWriter::create(&path, attrs).unwrap();
        let dur = 1_000_000 * i64::from(rank + 1);
        w.append(
            "compute",
            &[0, 10_000_000],
            &[dur, 10_000_000 + dur],
            &[1, 1],
        )
        .unwrap();
        w.finish().unwrap();
        inputs.push(MergeInput { rank, path });
    }
    let file = d.path("p.h5");
    let attrs = FileAttrs {
        ranks: 4,
        version: "test".into(),
        complete: true,
        missing_ranks: vec![],
        unfinished_ranks: vec![],
    };
    merge(&inputs, &file, &attrs).unwrap();
    drop(no_fork);
    let out = finish({
        let mut c = Command::new(PPROC);
        c.arg(&file).args(["--ranks", "1", "3"]);
        c
    });
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(
        text.starts_with(&format!("{}: 2 ranks, 4 events\n", file.display())),
        "{text}"
    );
    let row = text.lines().find(|l| l.starts_with("compute")).unwrap();
    let cells: Vec<&str> = row.split_whitespace().collect();
    // calls 4, total 2*(2+4) ms = 12 ms, mean 3 ms, shortest 2 ms, longest 4 ms,
    // per-rank totals 4 and 8 ms: imbalance 8/6 - 1 = 33.3%, slowest r3
    assert_eq!(
        cells,
        ["compute", "4", "12.0", "ms", "3.00", "ms", "2.00", "ms", "4.00", "ms", "33.3%", "(r3)"]
    );
    let out = finish({
        let mut c = Command::new(PPROC);
        c.arg(&file).args(["--ranks", "0-5"]);
        c
    });
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("rank(s) 4, 5 not in"));
}

/// A process named `comm` whose parent is `parent` exists.
fn child_runs(parent: u32, comm: &str) -> bool {
    std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .any(|e| {
            let dir = e.path();
            let name = std::fs::read_to_string(dir.join("comm")).unwrap_or_default();
            let ppid = std::fs::read_to_string(dir.join("stat"))
                .ok()
                .and_then(|st| {
                    let rest = st.rsplit_once(')')?.1.to_string();
                    rest.split_whitespace().nth(1)?.parse::<u32>().ok()
                });
            name.trim() == comm && ppid == Some(parent)
        })
}
