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
    })
}

fn launcher(kind: Kind, cmd: &str) -> Launcher {
    Launcher {
        kind,
        command: cmd.into(),
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
        flush_interval: None,
    });
    let want = [
        ("LD_PRELOAD", "/a.so:/p.so"),
        ("SCOPE_CONFIG", "/c"),
        ("SCOPE_OUTPUT", "/o"),
        ("SCOPE_TARGET", "/t"),
        ("SCOPE_LAUNCHED", "1"),
        ("SCOPE_VERBOSE", "1"),
        ("SCOPE_TMPDIR", "/tmp/x"),
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
            "-n",
            "8",
            "--cpu-bind=cores",
            "./solver",
            "-v"
        ])
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
