//! The install path and the first commands a user types: `scripts/install.sh --prefix DIR`
//! gives a `scope-run` on PATH that finds the agent it installed (not target/release's);
//! the three examples of `scope-run --help` run as written; `scripts/demo.sh --packages` lists
//! the demo's packages and nothing that only the tests need.

use scope_tests::paths::{repo_root, scope_run};
use scope_tests::{fixture, run_plain, Cmd, Flavor, Profile, WorkDir};
use std::path::Path;

const CONFIG: &str = "[[regions]]\nsymbol = \"compute\"\n[[regions]]\nsymbol = \"outer\"\n[[regions]]\nsymbol = \"inner\"\n";

/// PATH with `first` in front.
fn path_with(first: &Path) -> String {
    let rest = std::env::var("PATH").unwrap_or_default();
    format!("{}:{rest}", first.display())
}

#[test]
fn installed_scope_run_is_on_path_and_finds_the_installed_agent() {
    let wd = WorkDir::new("install_prefix");
    let prefix = wd.subdir("prefix");
    let o = Cmd::new("bash")
        .cwd(repo_root())
        .arg(repo_root().join("scripts/install.sh"))
        .args([
            "--prefix".as_ref(),
            prefix.as_os_str(),
            "--no-build".as_ref(),
        ])
        .run();
    o.assert_success("scripts/install.sh --prefix DIR --no-build");
    let prefix = std::fs::canonicalize(&prefix).unwrap();
    let agent = prefix.join("lib/scope/libscope_agent.so");
    for f in [
        prefix.join("bin/scope-run"),
        prefix.join("bin/scope-pproc"),
        agent.clone(),
    ] {
        assert!(f.is_file(), "{} not installed\n{o}", f.display());
    }
    // The installed binary, found through PATH, run from a directory outside target/, with no
    // SCOPE_AGENT: the agent can only come from PREFIX/lib/scope.
    let cfg = wd.write("cfg/scope.toml", CONFIG);
    let out = wd.subdir("out").join("profiling_data.h5");
    let prog = fixture(&Flavor::OpenMpi.fixture("mpi_compute")).path;
    let script = "command -v scope-run && command -v scope-pproc && exec scope-run \"$@\"";
    let o = run_plain(
        Cmd::new("bash")
            .cwd(&prefix)
            .env("PATH", path_with(&prefix.join("bin")))
            .env_remove("SCOPE_AGENT")
            .args(["-c", script, "scope-run", "-v", "-n", "2", "-c"])
            .arg(&cfg)
            .arg("-o")
            .arg(&out)
            .arg("--")
            .arg(&prog),
    );
    o.assert_success("installed scope-run -n 2");
    let on_path = format!(
        "{}\n{}\n",
        prefix.join("bin/scope-run").display(),
        prefix.join("bin/scope-pproc").display()
    );
    assert!(
        o.stdout.starts_with(&on_path),
        "not the installed binaries first on PATH\n{o}"
    );
    assert!(
        o.stderr.contains(&agent.display().to_string()),
        "the installed agent was not used\n{o}"
    );
    assert!(o.stdout.contains("checksum="), "{o}");
    let p = Profile::open(&out);
    p.assert_ranks(2);
    p.assert_exact_counts(&[("compute", 100), ("outer", 10), ("inner", 30)]);
}

/// An example's output file, its per-rank region counts and its number of ranks.
type Expected = (&'static str, &'static [(&'static str, usize)], u32);

/// The `scope-run ...` lines under `examples:` in `scope-run --help`, split into arguments.
fn help_examples() -> Vec<Vec<String>> {
    let o = Cmd::new(scope_run()).arg("--help").run();
    o.assert_success("scope-run --help");
    let ex = o
        .stdout
        .split_once("\nexamples:\n")
        .map(|(_, e)| e)
        .unwrap_or("");
    ex.lines()
        .filter_map(|l| l.strip_prefix("  scope-run "))
        .map(|l| l.split_whitespace().map(str::to_string).collect())
        .collect()
}

#[test]
fn the_three_help_examples_run_as_written() {
    let ex = help_examples();
    assert_eq!(ex.len(), 3, "scope-run --help: {ex:?}");
    let wd = WorkDir::new("install_help_examples");
    let dir = wd.subdir("run");
    // What the examples name: ./solver (examples/solver.c), ./scope.toml, solver.toml, py.toml
    // and driver.py.
    let solver = dir.join("solver");
    run_plain(
        Cmd::new("mpicc.openmpi")
            .args(["-O2", "-o"])
            .arg(&solver)
            .arg(repo_root().join("examples/solver.c"))
            .arg("-lm"),
    )
    .assert_success("mpicc examples/solver.c");
    let toml = std::fs::read_to_string(repo_root().join("examples/scope.toml")).unwrap();
    wd.write("run/scope.toml", &toml);
    wd.write("run/solver.toml", &toml);
    wd.write("run/py.toml", "[[regions]]\npython = \"step\"\n");
    wd.write(
        "run/driver.py",
        "from mpi4py import MPI\n\ndef step(x):\n    return MPI.COMM_WORLD.allreduce(x)\n\n\
         for i in range(7):\n    step(i)\n",
    );
    // Debian's python3 (with mpi4py) first, as on a user's machine.
    let path = path_with(Path::new("/usr/bin"));
    let expected: [Expected; 3] = [
        (
            "profiling_data.h5",
            &[
                ("halo_exchange", 500),
                ("jacobi_step", 500),
                ("residual", 50),
            ],
            4,
        ),
        (
            "run1.h5",
            &[
                ("halo_exchange", 200),
                ("jacobi_step", 200),
                ("residual", 20),
            ],
            4,
        ),
        ("profiling_data.h5", &[("step", 7)], 2),
    ];
    for (args, (file, counts, ranks)) in ex.iter().zip(expected) {
        let out = dir.join(file);
        let _ = std::fs::remove_file(&out);
        let o = run_plain(
            Cmd::new(scope_run())
                .cwd(&dir)
                .env("PATH", &path)
                .args(args),
        );
        o.assert_success(&format!("scope-run {}", args.join(" ")));
        let p = Profile::open(&out);
        p.assert_ranks(ranks);
        p.assert_exact_counts(counts);
    }
}

#[test]
fn demo_installs_only_the_demo_packages() {
    let demo = repo_root().join("scripts/demo.sh");
    let o = Cmd::new("bash").arg(&demo).arg("--packages").run();
    o.assert_success("demo.sh --packages");
    let pkgs: Vec<&str> = o.stdout.lines().collect();
    for need in ["build-essential", "openmpi-bin", "libopenmpi-dev"] {
        assert!(pkgs.contains(&need), "{need} missing\n{o}");
    }
    let allowed = [
        "build-essential",
        "openmpi-bin",
        "libopenmpi-dev",
        "python3-venv",
    ];
    assert!(
        pkgs.iter().all(|p| allowed.contains(p)),
        "beyond the demo's needs\n{o}"
    );
    let o = Cmd::new("bash").arg(&demo).arg("--help").run();
    o.assert_success("demo.sh --help");
    assert!(o.stdout.contains("--packages"), "{o}");
}
