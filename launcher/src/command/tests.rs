use super::*;

fn s(v: &[&str]) -> Vec<String> {
    v.iter().map(|x| x.to_string()).collect()
}

fn env() -> Vec<(String, String)> {
    rank_env(&RankEnvInput {
        agent: "/opt/scope/libscope_agent.so",
        existing_preload: None,
        config: "/w/scope.toml",
        output: "/w/out.h5",
        target: "/w/solver",
        verbose: false,
        tmpdir: None,
        flush_interval: None,
        merge: None,
        debug_dir: None,
        ranks_dir: None,
    })
}

fn launcher(kind: Kind, cmd: &str) -> Launcher {
    Launcher {
        kind,
        command: cmd.into(),
        srun_mpi: None,
    }
}

#[test]
fn preload_is_prepended_once() {
    let a = "/x/libscope_agent.so";
    assert_eq!(prepend_preload(a, None), a);
    assert_eq!(prepend_preload(a, Some("")), a);
    assert_eq!(
        prepend_preload(a, Some("/l/a.so /l/b.so")),
        "/x/libscope_agent.so:/l/a.so:/l/b.so"
    );
    assert_eq!(
        prepend_preload(a, Some("/x/libscope_agent.so:/l/a.so")),
        "/x/libscope_agent.so:/l/a.so"
    );
}

#[test]
fn rank_env_contents() {
    let e = rank_env(&RankEnvInput {
        agent: "/a.so",
        existing_preload: Some("/p.so"),
        config: "/c",
        output: "/o",
        target: "/t",
        verbose: true,
        tmpdir: Some("/tmp/x"),
        flush_interval: Some("0.5"),
        merge: Some("parallel"),
        debug_dir: Some("/w/debug"),
        ranks_dir: Some("/w/.scope-out-ranks-abc123"),
    });
    let want = [
        ("LD_PRELOAD", "/a.so:/p.so"),
        ("SCOPE_CONFIG", "/c"),
        ("SCOPE_OUTPUT", "/o"),
        ("SCOPE_TARGET", "/t"),
        ("SCOPE_LAUNCHED", "1"),
        ("SCOPE_VERBOSE", "1"),
        ("SCOPE_TMPDIR", "/tmp/x"),
        ("SCOPE_FLUSH_INTERVAL", "0.5"),
        ("SCOPE_MERGE", "parallel"),
        ("SCOPE_DEBUG_DIR", "/w/debug"),
        ("SCOPE_RANKS_DIR", "/w/.scope-out-ranks-abc123"),
    ];
    let got: Vec<(&str, &str)> = e.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    assert_eq!(got, want);
}

#[test]
fn open_mpi_uses_dash_x() {
    let l = build(
        &launcher(Kind::OpenMpi, "mpirun"),
        Some(4),
        &s(&["--bind-to", "core"]),
        &env(),
        "./solver",
        &s(&["--input", "c.dat"]),
    );
    assert_eq!(l.command, "mpirun");
    assert!(l.env.is_empty());
    assert_eq!(
        l.args,
        s(&[
            "-x",
            "LD_PRELOAD=/opt/scope/libscope_agent.so",
            "-x",
            "SCOPE_CONFIG=/w/scope.toml",
            "-x",
            "SCOPE_OUTPUT=/w/out.h5",
            "-x",
            "SCOPE_TARGET=/w/solver",
            "-x",
            "SCOPE_LAUNCHED=1",
            "-n",
            "4",
            "--bind-to",
            "core",
            "./solver",
            "--input",
            "c.dat"
        ])
    );
}

#[test]
fn hydra_uses_genv() {
    let l = build(
        &launcher(Kind::Hydra, "mpiexec.mpich"),
        Some(2),
        &[],
        &env(),
        "./solver",
        &[],
    );
    assert_eq!(l.command, "mpiexec.mpich");
    assert!(l.env.is_empty());
    assert_eq!(
        l.args,
        s(&[
            "-genv",
            "LD_PRELOAD",
            "/opt/scope/libscope_agent.so",
            "-genv",
            "SCOPE_CONFIG",
            "/w/scope.toml",
            "-genv",
            "SCOPE_OUTPUT",
            "/w/out.h5",
            "-genv",
            "SCOPE_TARGET",
            "/w/solver",
            "-genv",
            "SCOPE_LAUNCHED",
            "1",
            "-n",
            "2",
            "./solver"
        ])
    );
}

#[test]
fn srun_uses_export() {
    let l = build(
        &launcher(Kind::Slurm, "srun"),
        Some(8),
        &s(&["--cpu-bind=cores"]),
        &env(),
        "./solver",
        &s(&["-v"]),
    );
    assert_eq!(l.command, "srun");
    assert!(l.env.is_empty());
    assert_eq!(
        l.args,
        s(&[
            "--export=ALL,LD_PRELOAD=/opt/scope/libscope_agent.so,SCOPE_CONFIG=/w/scope.toml,\
             SCOPE_OUTPUT=/w/out.h5,SCOPE_TARGET=/w/solver,SCOPE_LAUNCHED=1",
            "--quit-on-interrupt",
            "-n",
            "8",
            "--cpu-bind=cores",
            "./solver",
            "-v"
        ])
    );
}

fn srun_words(srun_mpi: Option<&'static str>, forwarded: &[&str]) -> Vec<String> {
    let l = Launcher {
        srun_mpi,
        ..launcher(Kind::Slurm, "srun")
    };
    let l = build(&l, Some(6), &s(forwarded), &env(), "./solver", &[]);
    l.args[1..].to_vec()
}

#[test]
fn srun_gets_the_programs_mpi_plugin_unless_one_is_given() {
    let quit = "--quit-on-interrupt";
    assert_eq!(
        srun_words(Some("pmi2"), &[]),
        s(&["--mpi=pmi2", quit, "-n", "6", "./solver"])
    );
    assert_eq!(
        srun_words(Some("pmi2"), &["--mpi=pmix"]),
        s(&[quit, "-n", "6", "--mpi=pmix", "./solver"])
    );
    assert_eq!(
        srun_words(Some("pmix"), &["--mpi", "none"]),
        s(&[quit, "-n", "6", "--mpi", "none", "./solver"])
    );
    // `--mpix` is not `--mpi`.
    assert_eq!(
        srun_words(Some("pmix"), &["--mpix"]),
        s(&["--mpi=pmix", quit, "-n", "6", "--mpix", "./solver"])
    );
    assert_eq!(srun_words(None, &[]), s(&[quit, "-n", "6", "./solver"]));
}

#[test]
fn srun_quits_on_one_interrupt_unless_told_already() {
    assert_eq!(srun_words(None, &["-q"]), s(&["-n", "6", "-q", "./solver"]));
    assert_eq!(
        srun_words(None, &["--quit-on-interrupt"]),
        s(&["-n", "6", "--quit-on-interrupt", "./solver"])
    );
}

#[test]
fn direct_sets_the_environment_itself() {
    let l = build(
        &launcher(Kind::Direct, ""),
        None,
        &[],
        &env(),
        "/w/solver",
        &s(&["a", "b"]),
    );
    assert_eq!(l.command, "/w/solver");
    assert_eq!(l.args, s(&["a", "b"]));
    assert_eq!(l.env, env());
}
