//! Where scope cannot write, and what it never writes into. An output directory that cannot be
//! written (under a regular file, a read-only mount) or a disk that fills up: the program runs
//! to completion with its own stdout and exit status, and the agent says, naming the path, what
//! it could not write. The private directory is `mkdtemp`'s (mode 0700, a random name); a
//! symlink where the output would go is never followed (the next free `<stem>.<N>.h5` is used);
//! look-alike directories are never written into; jobs started at once in one directory do not
//! collide.

use scope_tests::mount::Tmpfs;
use scope_tests::mpi::{agent_cmd, run_locked, run_plain_mpirun};
use scope_tests::workdir::list_dir;
use scope_tests::{fixture, run_scope_run, Cmd, Flavor, Output, Profile, WorkDir};
use std::ffi::OsStr;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

const CONFIG: &str = "[[regions]]\nsymbol = \"work\"\n";

fn children(flavor: Flavor) -> PathBuf {
    fixture(&flavor.fixture("mpi_children")).path
}

/// The bare agent under `mpirun -n 2`, writing `output`.
fn bare(wd: &WorkDir, flavor: Flavor, output: &Path, args: &[&str]) -> Output {
    let cfg = wd.write("cfg/scope.toml", CONFIG);
    let vars: [(&str, &OsStr); 2] = [
        ("SCOPE_CONFIG", cfg.as_os_str()),
        ("SCOPE_OUTPUT", output.as_os_str()),
    ];
    let cmd = agent_cmd(Some((flavor, 2)), &vars, children(flavor), args);
    run_locked(cmd.cwd(wd.subdir("run")))
}

/// Same exit status and stdout as the run without the agent.
fn same_as_plain(wd: &WorkDir, flavor: Flavor, args: &[&str], agent: &Output) {
    let plain = run_plain_mpirun(&wd.subdir("plain"), flavor, 2, children(flavor), args);
    plain.assert_success("the fixture without the agent");
    assert!(plain.stdout.contains("ranks=2\n"), "{plain}");
    assert_eq!(
        plain.status.and_then(|s| s.code()),
        agent.status.and_then(|s| s.code()),
        "exit status\nwithout the agent:\n{plain}\nwith the agent:\n{agent}"
    );
    assert_eq!(
        plain.stdout, agent.stdout,
        "stdout\nwithout the agent:\n{plain}\nwith the agent:\n{agent}"
    );
}

/// A `scope[...]` line on stderr that contains every one of `words`.
fn says(o: &Output, words: &[&str]) {
    let found = o
        .stderr
        .lines()
        .any(|l| l.starts_with("scope[") && words.iter().all(|w| l.contains(w)));
    assert!(found, "no scope[...] line with {words:?}\n{o}");
}

fn output_under_a_regular_file(flavor: Flavor) {
    // Root ignores permission bits, so "unwritable" is a directory that cannot exist: its
    // would-be parent is a regular file.
    let wd = WorkDir::new(&format!("unwritable_file_parent_{}", flavor.suffix()));
    let blocker = wd.write("blocker", "not a directory\n");
    let output = blocker.join("profiling_data.h5");
    let o = bare(&wd, flavor, &output, &["none"]);
    same_as_plain(&wd, flavor, &["none"], &o);
    says(
        &o,
        &[
            "cannot create a temporary directory in",
            &blocker.display().to_string(),
            "Not a directory",
        ],
    );
    assert_eq!(
        std::fs::read_to_string(&blocker).unwrap(),
        "not a directory\n"
    );
}

#[test]
fn output_under_a_regular_file_open_mpi() {
    output_under_a_regular_file(Flavor::OpenMpi);
}

#[test]
fn output_under_a_regular_file_mpich() {
    output_under_a_regular_file(Flavor::Mpich);
}

#[test]
fn output_under_a_regular_file_serial() {
    let wd = WorkDir::new("unwritable_file_parent_serial");
    let blocker = wd.write("blocker", "x");
    let cfg = wd.write("cfg/scope.toml", "[[regions]]\nsymbol = \"compute\"\n");
    let output = blocker.join("profiling_data.h5");
    let prog = fixture("serial_compute").path;
    let vars: [(&str, &OsStr); 2] = [
        ("SCOPE_CONFIG", cfg.as_os_str()),
        ("SCOPE_OUTPUT", output.as_os_str()),
    ];
    let o = run_locked(agent_cmd(None, &vars, &prog, &[""; 0]).cwd(wd.subdir("run")));
    o.assert_success("serial_compute with an unwritable output");
    assert_eq!(o.stdout, "checksum=37801.627845779243\n", "{o}");
    says(&o, &[&blocker.display().to_string(), "the profile is lost"]);
}

/// A read-only tmpfs as the output directory; `None` (with the reason printed) if no mount.
fn read_only_dir(wd: &WorkDir) -> Option<Tmpfs> {
    match Tmpfs::mount(&wd.join("ro"), "ro,size=64k") {
        Ok(m) => Some(m),
        Err(why) => {
            eprintln!("SKIPPED: {why}");
            None
        }
    }
}

#[test]
fn read_only_output_directory_open_mpi() {
    let wd = WorkDir::new("unwritable_ro_openmpi");
    let Some(ro) = read_only_dir(&wd) else { return };
    let output = ro.path().join("profiling_data.h5");
    let o = bare(&wd, Flavor::OpenMpi, &output, &["none"]);
    same_as_plain(&wd, Flavor::OpenMpi, &["none"], &o);
    says(
        &o,
        &[&ro.path().display().to_string(), "Read-only file system"],
    );
    assert!(list_dir(ro.path()).is_empty());
}

#[test]
fn read_only_output_directory_scope_run() {
    let wd = WorkDir::new("unwritable_ro_scope_run");
    let Some(ro) = read_only_dir(&wd) else { return };
    let output = ro.path().join("profiling_data.h5");
    let cfg = wd.write("cfg/scope.toml", CONFIG);
    let prog = children(Flavor::OpenMpi);
    let args: Vec<&OsStr> = vec![
        "-n".as_ref(),
        "2".as_ref(),
        "-c".as_ref(),
        cfg.as_os_str(),
        "-o".as_ref(),
        output.as_os_str(),
        "--".as_ref(),
        prog.as_os_str(),
        "none".as_ref(),
    ];
    let o = run_scope_run(&wd, &args);
    same_as_plain(&wd, Flavor::OpenMpi, &["none"], &o);
    says(
        &o,
        &[&ro.path().display().to_string(), "Read-only file system"],
    );
    assert!(
        o.stderr
            .contains(&format!("no profile was written to {}", output.display())),
        "{o}"
    );
}

/// 2 ranks x 200000 events (~5 MB) into a 64 KiB tmpfs.
fn full_disk(flavor: Flavor) {
    let wd = WorkDir::new(&format!("full_disk_{}", flavor.suffix()));
    let disk = match Tmpfs::mount(&wd.join("disk"), "size=64k") {
        Ok(m) => m,
        Err(why) => return eprintln!("SKIPPED: {why}"),
    };
    let output = disk.path().join("profiling_data.h5");
    let args = ["none", "100000"];
    let o = bare(&wd, flavor, &output, &args);
    same_as_plain(&wd, flavor, &args, &o);
    says(
        &o,
        &[
            "cannot write profile data",
            &disk.path().display().to_string(),
            "No space left on device",
        ],
    );
}

#[test]
fn full_disk_open_mpi() {
    full_disk(Flavor::OpenMpi);
}

#[test]
fn full_disk_mpich() {
    full_disk(Flavor::Mpich);
}

#[test]
fn full_disk_leaves_no_broken_output() {
    let wd = WorkDir::new("full_disk_leftover");
    let disk = match Tmpfs::mount(&wd.join("disk"), "size=64k") {
        Ok(m) => m,
        Err(why) => return eprintln!("SKIPPED: {why}"),
    };
    let output = disk.path().join("profiling_data.h5");
    let o = bare(&wd, Flavor::OpenMpi, &output, &["none", "100000"]);
    o.assert_success("full disk");
    assert!(
        !output.exists(),
        "a broken output file was left ({} bytes)\n{o}",
        std::fs::metadata(&output).map(|m| m.len()).unwrap_or(0)
    );
}

/// The per-rank private directory, seen while the ranks run: `mpi_dies wait MARKER` keeps them
/// alive past the point where every rank has flushed its first buffer into it.
#[test]
fn private_directory_is_mkdtemp_0700() {
    use std::os::unix::process::CommandExt;
    use std::process::{Command, Stdio};
    use std::time::{Duration, Instant};
    let _lock = scope_tests::mpi::run_lock();
    let wd = WorkDir::new("private_dir_0700");
    let cfg = wd.write("cfg/scope.toml", CONFIG);
    let out_dir = wd.subdir("out");
    let output = out_dir.join("profiling_data.h5");
    let marker = wd.subdir("mark").join("flushed");
    let prog = fixture(&Flavor::OpenMpi.fixture("mpi_dies")).path;
    let mut child = Command::new(Flavor::OpenMpi.mpirun())
        .arg("-x")
        .arg(format!(
            "LD_PRELOAD={}",
            scope_tests::paths::agent_so().display()
        ))
        .arg("-x")
        .arg(format!("SCOPE_CONFIG={}", cfg.display()))
        .arg("-x")
        .arg(format!("SCOPE_OUTPUT={}", output.display()))
        .args(["-n", "4"])
        .arg(&prog)
        .arg("wait")
        .arg(&marker)
        .current_dir(wd.subdir("run"))
        .envs(scope_tests::mpi::MPI_ENV.iter().copied())
        .env_remove("LD_PRELOAD")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
        .expect("start mpirun");
    struct Group(libc::pid_t);
    impl Drop for Group {
        fn drop(&mut self) {
            // SAFETY: killpg of the process group this test created (mpirun leads it).
            unsafe { libc::killpg(self.0, libc::SIGKILL) };
        }
    }
    let _group = Group(child.id() as libc::pid_t);
    let deadline = Instant::now() + Duration::from_secs(60);
    while !marker.exists() {
        assert!(
            Instant::now() < deadline && child.try_wait().unwrap().is_none(),
            "the fixture never reached its wait"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let names = list_dir(&out_dir);
    assert_eq!(names.len(), 1, "{names:?}");
    let name = &names[0];
    let suffix = name
        .strip_prefix(".scope-profiling_data-")
        .unwrap_or_else(|| panic!("{name} is not .scope-profiling_data-XXXXXX"));
    assert_eq!(suffix.len(), 6, "mkdtemp's six characters: {name}");
    let dir = out_dir.join(name);
    let meta = std::fs::symlink_metadata(&dir).unwrap();
    assert!(meta.file_type().is_dir(), "{name} is not a plain directory");
    assert_eq!(meta.permissions().mode() & 0o7777, 0o700, "{name}");
    // SAFETY: geteuid has no preconditions.
    assert_eq!(meta.uid(), unsafe { libc::geteuid() });
    assert_eq!(
        list_dir(&dir),
        ["rank_0.h5", "rank_1.h5", "rank_2.h5", "rank_3.h5"]
    );
    let _ = child.kill();
    let _ = child.wait();
}

/// `out/profiling_data.h5` and more, pre-created by someone else; returns the victim file.
fn victim(wd: &WorkDir) -> PathBuf {
    wd.write("victim/secret", "victim\n")
}

fn assert_untouched(victim: &Path) {
    assert_eq!(std::fs::read_to_string(victim).unwrap(), "victim\n");
    assert_eq!(list_dir(victim.parent().unwrap()), ["secret"]);
}

fn assert_result(p: &Path, o: &Output) {
    let prof = Profile::open(p);
    prof.assert_ranks(2);
    prof.assert_exact_counts(&[("work", 200)]);
    assert!(o.stdout.contains("children_ok=2"), "{o}");
}

#[test]
fn a_symlink_at_the_output_name_is_never_followed() {
    let wd = WorkDir::new("symlink_output");
    let victim = victim(&wd);
    let out_dir = wd.subdir("out");
    let output = out_dir.join("profiling_data.h5");
    std::os::unix::fs::symlink(&victim, &output).unwrap();
    // A dangling one at the next name: it must not be created through the link either.
    let ghost = wd.join("victim/ghost.h5");
    std::os::unix::fs::symlink(&ghost, out_dir.join("profiling_data.1.h5")).unwrap();
    let o = bare(&wd, Flavor::OpenMpi, &output, &["none"]);
    o.assert_success("run beside symlinks");
    assert_untouched(&victim);
    assert!(
        !ghost.exists(),
        "a file was created through a dangling symlink"
    );
    assert_eq!(
        list_dir(&out_dir),
        [
            "profiling_data.1.h5",
            "profiling_data.2.h5",
            "profiling_data.h5"
        ]
    );
    assert!(std::fs::symlink_metadata(&output)
        .unwrap()
        .file_type()
        .is_symlink());
    says(
        &o,
        &[
            &format!("{} exists; writing ", output.display()),
            "profiling_data.2.h5 instead",
        ],
    );
    assert_result(&out_dir.join("profiling_data.2.h5"), &o);
}

#[test]
fn look_alike_private_directories_are_never_written_into() {
    let wd = WorkDir::new("foreign_private_dirs");
    let victim = victim(&wd);
    let out_dir = wd.subdir("out");
    // Someone else's directories with names the agent's could have, one of them a symlink.
    for n in ["AAAAAA", "XXXXXX", "000000"] {
        let d = out_dir.join(format!(".scope-profiling_data-{n}"));
        std::fs::create_dir(&d).unwrap();
        std::fs::write(d.join("rank_0.h5"), "foreign\n").unwrap();
    }
    std::os::unix::fs::symlink(
        victim.parent().unwrap(),
        out_dir.join(".scope-profiling_data-LINKED"),
    )
    .unwrap();
    let before = list_dir(&out_dir);
    let output = out_dir.join("profiling_data.h5");
    let o = bare(&wd, Flavor::OpenMpi, &output, &["none"]);
    o.assert_success("run beside foreign directories");
    assert_untouched(&victim);
    for n in ["AAAAAA", "XXXXXX", "000000"] {
        let d = out_dir.join(format!(".scope-profiling_data-{n}"));
        assert_eq!(list_dir(&d), ["rank_0.h5"], "{}", d.display());
        assert_eq!(
            std::fs::read_to_string(d.join("rank_0.h5")).unwrap(),
            "foreign\n"
        );
    }
    let mut want = before;
    want.push("profiling_data.h5".to_string());
    want.sort();
    assert_eq!(list_dir(&out_dir), want);
    assert_result(&output, &o);
}

/// Runs `cmds` at the same time (one thread each) and returns their outputs in order.
fn at_once(cmds: Vec<Cmd>) -> Vec<Output> {
    let _lock = scope_tests::mpi::run_lock();
    let handles: Vec<_> = cmds
        .into_iter()
        .map(|c| std::thread::spawn(move || c.run()))
        .collect();
    handles.into_iter().map(|h| h.join().unwrap()).collect()
}

#[test]
fn two_bare_jobs_with_one_output_path_do_not_collide() {
    let wd = WorkDir::new("two_bare_jobs");
    let cfg = wd.write("cfg/scope.toml", CONFIG);
    let out_dir = wd.subdir("out");
    let output = out_dir.join("profiling_data.h5");
    let prog = children(Flavor::OpenMpi);
    let cmds = (0..2)
        .map(|i| {
            let vars: [(&str, &OsStr); 2] = [
                ("SCOPE_CONFIG", cfg.as_os_str()),
                ("SCOPE_OUTPUT", output.as_os_str()),
            ];
            agent_cmd(Some((Flavor::OpenMpi, 2)), &vars, &prog, &["none"])
                .cwd(wd.subdir(&format!("run{i}")))
        })
        .collect();
    let outs = at_once(cmds);
    for o in &outs {
        o.assert_success("one of two jobs");
    }
    assert_eq!(
        list_dir(&out_dir),
        ["profiling_data.1.h5", "profiling_data.h5"],
        "{}\n{}",
        outs[0],
        outs[1]
    );
    for f in ["profiling_data.h5", "profiling_data.1.h5"] {
        let prof = Profile::open(&out_dir.join(f));
        prof.assert_ranks(2);
        prof.assert_exact_counts(&[("work", 200)]);
    }
    let told = outs
        .iter()
        .filter(|o| {
            o.stderr.contains("exists; writing") && o.stderr.contains("profiling_data.1.h5 instead")
        })
        .count();
    assert_eq!(told, 1, "exactly one job says it wrote the next name");
}

#[test]
fn two_scope_run_jobs_in_one_directory_do_not_collide() {
    let wd = WorkDir::new("two_scope_run_jobs");
    let cfg = wd.write("cfg/scope.toml", CONFIG);
    let out_dir = wd.subdir("out");
    let prog = children(Flavor::OpenMpi);
    let cmds = ["a.h5", "b.h5"]
        .iter()
        .map(|name| {
            scope_tests::mpi::with_mpi_env(Cmd::new(scope_tests::paths::scope_run()))
                .args(["-n", "2", "-c"])
                .arg(&cfg)
                .arg("-o")
                .arg(out_dir.join(name))
                .arg("--")
                .arg(&prog)
                .arg("none")
                .cwd(wd.subdir(&format!("run_{name}")))
        })
        .collect();
    let outs = at_once(cmds);
    for o in &outs {
        o.assert_success("one of two scope-run jobs");
        assert!(o.stdout.contains("children_ok=2"), "{o}");
    }
    assert_eq!(list_dir(&out_dir), ["a.h5", "b.h5"]);
    for name in ["a.h5", "b.h5"] {
        let prof = Profile::open(&out_dir.join(name));
        prof.assert_ranks(2);
        prof.assert_exact_counts(&[("work", 200)]);
    }
}

#[test]
fn scope_run_refuses_an_existing_output_without_force() {
    let wd = WorkDir::new("scope_run_existing_output");
    let cfg = wd.write("cfg/scope.toml", CONFIG);
    let output = wd.write("out/profiling_data.h5", "earlier results\n");
    let prog = children(Flavor::OpenMpi);
    let base: Vec<&OsStr> = vec![
        "-n".as_ref(),
        "2".as_ref(),
        "-c".as_ref(),
        cfg.as_os_str(),
        "-o".as_ref(),
        output.as_os_str(),
    ];
    let tail: Vec<&OsStr> = vec!["--".as_ref(), prog.as_os_str(), "none".as_ref()];
    let o = run_scope_run(&wd, &[base.clone(), tail.clone()].concat());
    o.assert_code(2, "scope-run with an existing output");
    assert!(!o.stdout.contains("ranks="), "the program ran\n{o}");
    assert!(
        o.stderr.contains(&format!(
            "output file {} already exists; choose another with -o FILE or replace it with --force",
            output.display()
        )),
        "{o}"
    );
    assert_eq!(
        std::fs::read_to_string(&output).unwrap(),
        "earlier results\n"
    );
    assert_eq!(list_dir(output.parent().unwrap()), ["profiling_data.h5"]);

    let o = run_scope_run(&wd, &[base, vec!["--force".as_ref()], tail].concat());
    o.assert_success("scope-run --force");
    assert_result(&output, &o);
    assert_eq!(list_dir(output.parent().unwrap()), ["profiling_data.h5"]);
}
