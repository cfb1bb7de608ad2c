//! Stripped programs and libraries (issue 18): their functions are found in separate debug files,
//! as gdb and perf find them, by `scope-run`'s check before launch and by the agent at run time.
//! Each test builds `tests/fixtures/debug/{dbgprog,libdbg}.c` with `cc -g` into its own
//! directory and splits them with the real tools (`objcopy --only-keep-debug`, `strip
//! --strip-all`, `objcopy --add-gnu-debuglink`), then profiles `dbgprog` with `scope-run`
//! (one process, no MPI): the regions are a global and a static function of the stripped
//! program and a static, a hidden and an exported function of the stripped library.

use scope_tests::mpi::{run_locked, run_plain};
use scope_tests::paths::{agent_so, repo_root, scope_run};
use scope_tests::{Cmd, Output, Profile, WorkDir};
use std::path::{Path, PathBuf};

const REGIONS: [(&str, usize); 5] = [
    ("qs_energies", 12),
    ("solve_step", 36),
    ("lib_entry", 5),
    ("lib_internal", 5),
    ("lib_step", 10),
];

const CHECKSUM: &str = "checksum=140209\n";

fn config() -> String {
    REGIONS
        .iter()
        .map(|(s, _)| format!("[[regions]]\nsymbol = \"{s}\"\n"))
        .collect()
}

/// Runs `tool args` in `dir`; panics with its output unless it succeeds.
fn tool(dir: &Path, tool: &str, args: &[&str]) -> Output {
    let o = Cmd::new(tool).args(args).cwd(dir).run();
    o.assert_success(&format!("{tool} {args:?}"));
    o
}

/// `dbgprog` (linked with `libdbg.so` beside it, `-Wl,--build-id`) built with `-g` in
/// `<wd>/bin`; returns that directory.
fn build(wd: &WorkDir) -> PathBuf {
    let bin = wd.subdir("bin");
    let src = repo_root().join("tests/fixtures/debug");
    let lib = src.join("libdbg.c");
    let prog = src.join("dbgprog.c");
    tool(
        &bin,
        "cc",
        &["-O2", "-g", "-Wall", "-shared", "-fPIC", "-Wl,--build-id"]
            .iter()
            .copied()
            .chain([lib.to_str().unwrap(), "-o", "libdbg.so"])
            .collect::<Vec<_>>(),
    );
    tool(
        &bin,
        "cc",
        &[
            "-O2",
            "-g",
            "-Wall",
            "-Wl,--build-id",
            prog.to_str().unwrap(),
            "-o",
            "dbgprog",
            "-L.",
            "-ldbg",
            "-Wl,-rpath,$ORIGIN",
        ],
    );
    bin
}

/// The build id of `file`, in hex, as `readelf -n` shows it.
fn build_id(dir: &Path, file: &str) -> String {
    let o = tool(dir, "readelf", &["-n", file]);
    o.stdout
        .lines()
        .find_map(|l| l.trim().strip_prefix("Build ID: "))
        .unwrap_or_else(|| panic!("{file} has no build id\n{o}"))
        .trim()
        .to_string()
}

/// `<debugdir>/.build-id/xx/rest.debug` for `file` of `dir`.
fn build_id_path(debugdir: &Path, dir: &Path, file: &str) -> PathBuf {
    let id = build_id(dir, file);
    debugdir
        .join(".build-id")
        .join(&id[..2])
        .join(format!("{}.debug", &id[2..]))
}

/// gdb's recipe: the debug file beside the object, the object stripped and linked to it.
fn split_with_debuglink(dir: &Path, file: &str) {
    let debug = format!("{file}.debug");
    tool(dir, "objcopy", &["--only-keep-debug", file, &debug]);
    tool(dir, "strip", &["--strip-all", file]);
    tool(
        dir,
        "objcopy",
        &[&format!("--add-gnu-debuglink={debug}"), file],
    );
}

/// A `-dbgsym` package's layout: the debug file under `debugdir` by build id, the object
/// stripped (no debuglink).
fn split_by_build_id(dir: &Path, file: &str, debugdir: &Path) -> PathBuf {
    let to = build_id_path(debugdir, dir, file);
    std::fs::create_dir_all(to.parent().unwrap()).unwrap();
    tool(
        dir,
        "objcopy",
        &["--only-keep-debug", file, to.to_str().unwrap()],
    );
    tool(dir, "strip", &["--strip-all", file]);
    to
}

/// The file has no `.symtab` (it really is stripped).
fn assert_stripped(dir: &Path, file: &str) {
    let o = tool(dir, "readelf", &["-S", "-W", file]);
    assert!(!o.stdout.contains(".symtab"), "{file} has a .symtab\n{o}");
}

/// `scope-run -v -c CFG -o OUT -- <bin>/dbgprog` with `SCOPE_DEBUG_DIR=debugdir`.
fn profile(wd: &WorkDir, bin: &Path, debugdir: &Path, cfg: &str, verbose: bool) -> Output {
    let cfg = wd.write("cfg/scope.toml", cfg);
    let out = wd.subdir("out").join("profiling_data.h5");
    let mut args: Vec<&std::ffi::OsStr> = Vec::new();
    if verbose {
        args.push("-v".as_ref());
    }
    args.extend([
        "-c".as_ref(),
        cfg.as_os_str(),
        "-o".as_ref(),
        out.as_os_str(),
        "--".as_ref(),
    ]);
    let prog = bin.join("dbgprog");
    args.push(prog.as_os_str());
    run_plain(
        Cmd::new(scope_run())
            .cwd(wd.subdir("run"))
            .args(&args)
            .env("SCOPE_DEBUG_DIR", debugdir),
    )
}

fn assert_profiled_exactly(wd: &WorkDir, o: &Output) {
    o.assert_success("scope-run dbgprog");
    assert_eq!(o.stdout, CHECKSUM, "{o}");
    let p = Profile::open(&wd.join("out/profiling_data.h5"));
    p.assert_ranks(1);
    p.assert_exact_counts(&REGIONS);
}

#[test]
fn stripped_program_and_library_with_gnu_debuglink() {
    let wd = WorkDir::new("debug_files_debuglink");
    let bin = build(&wd);
    for f in ["dbgprog", "libdbg.so"] {
        split_with_debuglink(&bin, f);
        assert_stripped(&bin, f);
    }
    let o = profile(&wd, &bin, &wd.subdir("no-debug-dir"), &config(), true);
    assert_profiled_exactly(&wd, &o);
    for f in ["dbgprog", "libdbg.so"] {
        let said = format!(
            "{} is stripped; its symbols come from its debug file {}",
            bin.join(f).display(),
            bin.join(format!("{f}.debug")).display()
        );
        assert!(
            o.stderr.contains(&format!("scope-run: {said}\n")),
            "scope-run: {said}\n{o}"
        );
        // The agent found it too, on its own, in the running process.
        assert!(
            o.stderr
                .lines()
                .any(|l| l.starts_with("scope[") && l.ends_with(&said)),
            "agent: {said}\n{o}"
        );
    }
    assert!(
        o.stderr
            .contains("hooked solve_step (solve_step in the executable)"),
        "{o}"
    );
}

#[test]
fn stripped_program_and_library_with_build_id_debug_files() {
    let wd = WorkDir::new("debug_files_build_id");
    let bin = build(&wd);
    let debugdir = wd.subdir("debug");
    let mut files = Vec::new();
    for f in ["dbgprog", "libdbg.so"] {
        files.push(split_by_build_id(&bin, f, &debugdir));
        assert_stripped(&bin, f);
    }
    let o = profile(&wd, &bin, &debugdir, &config(), true);
    assert_profiled_exactly(&wd, &o);
    for (f, debug) in ["dbgprog", "libdbg.so"].iter().zip(&files) {
        let said = format!(
            "{} is stripped; its symbols come from its debug file {}",
            bin.join(f).display(),
            debug.display()
        );
        assert!(o.stderr.contains(&said), "{said}\n{o}");
    }
}

#[test]
fn stripped_without_debug_file_says_so() {
    let wd = WorkDir::new("debug_files_none");
    let bin = build(&wd);
    let debugdir = wd.subdir("debug");
    let want_by_id = build_id_path(&debugdir, &bin, "dbgprog");
    split_with_debuglink(&bin, "dbgprog");
    std::fs::remove_file(bin.join("dbgprog.debug")).unwrap();
    let o = profile(
        &wd,
        &bin,
        &debugdir,
        "[[regions]]\nsymbol = \"qs_energies\"\n[[regions]]\nsymbol = \"lib_step\"\n",
        false,
    );
    o.assert_failure("scope-run on a stripped program without its debug file");
    assert!(!o.stdout.contains("checksum="), "the program ran\n{o}");
    let prog = bin.join("dbgprog");
    let want = format!(
        "region 'qs_energies' ({cfg}:2:10): no function named 'qs_energies' in {p} or its \
         libraries: {p} is stripped (no symbol table) and no separate debug file was found \
         (looked for {id} and the .gnu_debuglink file dbgprog.debug); install its -dbgsym \
         package or rebuild with symbols (only its exported functions were searched)\n",
        cfg = wd.join("cfg/scope.toml").display(),
        p = prog.display(),
        id = want_by_id.display(),
    );
    assert!(o.stderr.contains(&want), "want: {want}\n{o}");
    // The library is not stripped: its static function is found, only one region fails.
    assert!(!o.stderr.contains("'lib_step'"), "{o}");

    // Both stripped, the library without a debuglink nor a build id to look by.
    let lib = bin.join("libdbg.so");
    tool(
        &bin,
        "strip",
        &[
            "--strip-all",
            "--remove-section=.note.gnu.build-id",
            "libdbg.so",
        ],
    );
    let o = profile(
        &wd,
        &bin,
        &debugdir,
        "[[regions]]\nsymbol = \"lib_step\"\n",
        false,
    );
    o.assert_failure("scope-run on a stripped library without its debug file");
    let want = format!(
        "no function named 'lib_step' in {p} or its libraries: {p} is stripped (no symbol \
         table) and no separate debug file was found (looked for {id} and the .gnu_debuglink \
         file dbgprog.debug); {l} is stripped (no symbol table) and no separate debug file was \
         found (it has neither a build id nor a .gnu_debuglink to find one by); install their \
         -dbgsym packages or rebuild with symbols (only their exported functions were \
         searched)\n",
        p = prog.display(),
        id = want_by_id.display(),
        l = lib.display(),
    );
    assert!(o.stderr.contains(&want), "want: {want}\n{o}");
}

#[test]
fn debug_file_with_another_crc_is_rejected() {
    let wd = WorkDir::new("debug_files_crc");
    let bin = build(&wd);
    split_with_debuglink(&bin, "dbgprog");
    // Still a valid debug file of the same build (same build id): only the CRC tells.
    let debug = bin.join("dbgprog.debug");
    let mut bytes = std::fs::read(&debug).unwrap();
    bytes.extend_from_slice(b"not the file that was linked");
    std::fs::write(&debug, &bytes).unwrap();
    let debugdir = wd.subdir("debug");
    let cfg = "[[regions]]\nsymbol = \"qs_energies\"\n";
    let prog = bin.join("dbgprog");
    let rejected = format!(
        "{} does not belong to it: CRC mismatch: its CRC-32 is ",
        debug.display()
    );
    let o = profile(&wd, &bin, &debugdir, cfg, false);
    o.assert_failure("scope-run with a debug file whose CRC does not match");
    assert!(o.stderr.contains(&rejected), "want: {rejected}\n{o}");
    assert!(
        o.stderr
            .contains(&format!(", the .gnu_debuglink of {} says ", prog.display())),
        "{o}"
    );

    let o = profile(&wd, &bin, &debugdir, cfg, true);
    let verbose = format!(
        "scope-run: {} is stripped; its debug file candidate {} was not used: CRC mismatch: \
         its CRC-32 is ",
        prog.display(),
        debug.display()
    );
    assert!(o.stderr.contains(&verbose), "want: {verbose}\n{o}");

    // The agent on its own (no scope-run check) rejects it too, in verbose mode, and so does not
    // find the region.
    let cfg = wd.write("cfg/agent.toml", cfg);
    let o = run_locked(
        Cmd::new(&prog)
            .cwd(wd.subdir("agent"))
            .env("LD_PRELOAD", agent_so())
            .env("SCOPE_CONFIG", &cfg)
            .env("SCOPE_OUTPUT", wd.join("agent/out.h5"))
            .env("SCOPE_VERBOSE", "1")
            .env("SCOPE_DEBUG_DIR", &debugdir)
            .env_remove("SCOPE_TARGET")
            .env_remove("SCOPE_LAUNCHED"),
    );
    o.assert_success("dbgprog with the agent");
    let agent = format!(
        "{} is stripped; its debug file candidate {} was not used: CRC mismatch: its CRC-32 is ",
        prog.display(),
        debug.display()
    );
    assert!(
        o.stderr
            .lines()
            .any(|l| l.starts_with("scope[") && l.contains(&agent)),
        "want: {agent}\n{o}"
    );
    assert!(!o.stderr.contains("hooked qs_energies"), "{o}");
}
