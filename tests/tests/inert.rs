//! Where the agent must not act: processes a profiled rank starts that are not MPI ranks
//! (`system`, `popen`, fork and exec — of another program with the hooked function, or of the
//! very same program), and setuid programs. They record nothing and write nothing: the output
//! directory holds exactly the ranks' file, with exactly the ranks' calls. (Launchers and their
//! daemons: serial_and_launchers.rs.)

use scope_tests::mpi::{agent_cmd, run_locked};
use scope_tests::workdir::list_dir;
use scope_tests::{fixture, run_scope_run, Flavor, Output, Profile, WorkDir};
use std::ffi::OsStr;
use std::path::{Path, PathBuf};

const CONFIG: &str = "[[regions]]\nsymbol = \"work\"\n";

/// The helper the ranks start: serial_work, or mpi_children itself in its `child` mode.
fn helper(flavor: Flavor, same_program: bool) -> PathBuf {
    if same_program {
        fixture(&flavor.fixture("mpi_children")).path
    } else {
        fixture("serial_work").path
    }
}

/// Exactly one file, the ranks' profile: 2 ranks, `work` x200 each (the children's 7 calls
/// nowhere), and no scope line about an output that already existed.
fn assert_only_the_ranks(out_dir: &Path, o: &Output) {
    assert!(o.success(), "the run failed\n{o}");
    assert!(o.stdout.contains("ranks=2\nchildren_ok=2\n"), "{o}");
    assert_eq!(list_dir(out_dir), ["profiling_data.h5"], "{o}");
    let p = Profile::open(&out_dir.join("profiling_data.h5"));
    p.assert_ranks(2);
    p.assert_exact_counts(&[("work", 200)]);
    let pids: Vec<i64> = p.rank_attrs.values().map(|a| a.pid).collect();
    assert_eq!(pids.len(), 2);
    assert!(!o.stderr.contains("exists; writing"), "{o}");
}

fn bare(flavor: Flavor, mode: &str, same_program: bool) {
    let wd = WorkDir::new(&format!("inert_{mode}_{same_program}_{}", flavor.suffix()));
    let cfg = wd.write("cfg/scope.toml", CONFIG);
    let out_dir = wd.subdir("out");
    let output = out_dir.join("profiling_data.h5");
    let h = helper(flavor, same_program);
    let vars: [(&str, &OsStr); 2] = [
        ("SCOPE_CONFIG", cfg.as_os_str()),
        ("SCOPE_OUTPUT", output.as_os_str()),
    ];
    let prog = fixture(&flavor.fixture("mpi_children")).path;
    let args = [OsStr::new(mode), h.as_os_str()];
    let o = run_locked(agent_cmd(Some((flavor, 2)), &vars, &prog, &args).cwd(wd.subdir("run")));
    assert_only_the_ranks(&out_dir, &o);
}

#[test]
fn system_child_writes_nothing_open_mpi() {
    bare(Flavor::OpenMpi, "system", false);
    bare(Flavor::OpenMpi, "system", true);
}

#[test]
fn popen_child_writes_nothing_open_mpi() {
    bare(Flavor::OpenMpi, "popen", false);
    bare(Flavor::OpenMpi, "popen", true);
}

#[test]
fn fork_and_exec_child_writes_nothing_open_mpi() {
    bare(Flavor::OpenMpi, "exec", false);
    bare(Flavor::OpenMpi, "exec", true);
}

#[test]
fn children_write_nothing_mpich() {
    for mode in ["system", "popen", "exec"] {
        bare(Flavor::Mpich, mode, true);
    }
}

#[test]
fn children_of_the_target_write_nothing_under_scope_run() {
    // scope-run names the program (SCOPE_TARGET): the hard case is a child that *is* that
    // program, run without MPI.
    for mode in ["system", "popen", "exec"] {
        let wd = WorkDir::new(&format!("inert_scope_run_{mode}"));
        let cfg = wd.write("cfg/scope.toml", CONFIG);
        let out_dir = wd.subdir("out");
        let prog = fixture(&Flavor::OpenMpi.fixture("mpi_children")).path;
        let output = out_dir.join("profiling_data.h5");
        let args: Vec<&OsStr> = vec![
            "-n".as_ref(),
            "2".as_ref(),
            "-c".as_ref(),
            cfg.as_os_str(),
            "-o".as_ref(),
            output.as_os_str(),
            "--".as_ref(),
            prog.as_os_str(),
            mode.as_ref(),
            prog.as_os_str(),
        ];
        let o = run_scope_run(&wd, &args);
        assert_only_the_ranks(&out_dir, &o);
    }
}

#[test]
fn forked_child_of_a_rank_writes_nothing() {
    bare(Flavor::OpenMpi, "fork", false);
}

#[test]
fn setuid_program_is_left_alone() {
    // A setuid copy of serial_work owned by `nobody`, run by root: AT_SECURE. The same copy
    // without the setuid bit is the control: there the agent records its 7 calls.
    let wd = WorkDir::new("inert_setuid");
    let cfg = wd.write("cfg/scope.toml", CONFIG);
    let prog = wd.join("serial_work_suid");
    std::fs::copy(fixture("serial_work").path, &prog).unwrap();
    let chown = |p: &Path| {
        scope_tests::Cmd::new("chown")
            .arg("nobody")
            .arg(p)
            .run()
            .assert_success("chown nobody");
    };
    chown(&prog);
    let run = |name: &str, mode: u32| {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&prog, std::fs::Permissions::from_mode(mode)).unwrap();
        let out_dir = wd.subdir(name);
        // Writable by `nobody` too: if nothing is written, it is not for lack of permission.
        std::fs::set_permissions(&out_dir, std::fs::Permissions::from_mode(0o777)).unwrap();
        let output = out_dir.join("profiling_data.h5");
        let vars: [(&str, &OsStr); 3] = [
            ("SCOPE_CONFIG", cfg.as_os_str()),
            ("SCOPE_OUTPUT", output.as_os_str()),
            ("SCOPE_VERBOSE", OsStr::new("1")),
        ];
        let o = run_locked(agent_cmd(None, &vars, &prog, &[""; 0]).cwd(&out_dir));
        o.assert_success(name);
        assert_eq!(o.stdout, "child work=7\n", "{o}");
        (out_dir, o)
    };
    let (control, o) = run("control", 0o755);
    assert_eq!(list_dir(&control), ["profiling_data.h5"], "{o}");
    Profile::open(&control.join("profiling_data.h5")).assert_exact_counts(&[("work", 7)]);
    let (suid, o) = run("setuid", 0o4755);
    assert_eq!(list_dir(&suid), Vec::<String>::new(), "{o}");
    assert!(!o.stderr.contains("scope["), "{o}");
}
