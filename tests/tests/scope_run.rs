//! `scope-run`: end to end on both MPIs and serially, exit status pass-through, and the errors
//! that must stop it before anything runs (no output file, the program never started).

use scope_tests::{fixture, run_scope_run, Flavor, Output, Profile, WorkDir};
use std::ffi::OsString;
use std::path::Path;

const CONFIG: &str = "[[regions]]\nsymbol = \"compute\"\n[[regions]]\nsymbol = \"outer\"\n[[regions]]\nsymbol = \"inner\"\n";

fn os(s: impl AsRef<std::ffi::OsStr>) -> OsString {
    s.as_ref().to_os_string()
}

/// `scope-run [-n N] -c CFG -o OUT -- PROGRAM ARGS...`
fn scope_run(
    wd: &WorkDir,
    n: Option<u32>,
    cfg: &Path,
    out: &Path,
    prog: &Path,
    args: &[&str],
) -> Output {
    let mut a: Vec<OsString> = Vec::new();
    if let Some(n) = n {
        a.extend([os("-n"), os(n.to_string())]);
    }
    a.extend([os("-c"), os(cfg), os("-o"), os(out), os("--"), os(prog)]);
    a.extend(args.iter().map(os));
    run_scope_run(wd, &a)
}

fn end_to_end(flavor: Flavor) {
    let wd = WorkDir::new(&format!("scope_run_{}", flavor.suffix()));
    let cfg = wd.write("cfg/scope.toml", CONFIG);
    let out = wd.subdir("out").join("profiling_data.h5");
    let prog = fixture(&flavor.fixture("mpi_compute")).path;
    let o = scope_run(&wd, Some(4), &cfg, &out, &prog, &[]);
    o.assert_success("scope-run -n 4");
    assert!(o.stdout.contains("checksum=379516.27845779248"), "{o}");
    let p = Profile::open(&out);
    p.assert_ranks(4);
    p.assert_exact_counts(&[("compute", 100), ("outer", 10), ("inner", 30)]);
}

#[test]
fn runs_open_mpi_program_on_4_ranks() {
    end_to_end(Flavor::OpenMpi);
}

#[test]
fn runs_mpich_program_on_4_ranks() {
    end_to_end(Flavor::Mpich);
}

#[test]
fn passes_the_exit_status_through() {
    let wd = WorkDir::new("scope_run_exit3");
    let cfg = wd.write("cfg/scope.toml", CONFIG);
    let out = wd.subdir("out").join("profiling_data.h5");
    let prog = fixture(&Flavor::OpenMpi.fixture("mpi_compute")).path;
    let o = scope_run(&wd, Some(4), &cfg, &out, &prog, &["3"]);
    o.assert_code(3, "scope-run -- mpi_compute 3");
    Profile::open(&out).assert_ranks(4);
}

#[test]
fn serial_run_without_n_is_one_rank() {
    let wd = WorkDir::new("scope_run_serial");
    let cfg = wd.write("cfg/scope.toml", "[[regions]]\nsymbol = \"compute\"\n");
    let out = wd.subdir("out").join("profiling_data.h5");
    let o = scope_run(&wd, None, &cfg, &out, &fixture("serial_compute").path, &[]);
    o.assert_success("scope-run serial_compute");
    assert!(o.stdout.contains("checksum=37801.627845779243"), "{o}");
    let p = Profile::open(&out);
    p.assert_ranks(1);
    p.assert_exact_counts(&[("compute", 100)]);
}

/// The run failed before anything ran: non-zero, no output file, no program output.
fn refused(o: &Output, out: &Path, what: &str) {
    o.assert_failure(what);
    assert!(!out.exists(), "{what}: an output file was written\n{o}");
    assert!(
        !o.stdout.contains("checksum="),
        "{what}: the program ran\n{o}"
    );
}

#[test]
fn unknown_symbol_is_named_with_close_matches() {
    let wd = WorkDir::new("scope_run_unknown");
    let cfg = wd.write("cfg/scope.toml", "[[regions]]\nsymbol = \"comptue\"\n");
    let out = wd.subdir("out").join("profiling_data.h5");
    let prog = fixture(&Flavor::OpenMpi.fixture("mpi_compute")).path;
    let o = scope_run(&wd, Some(2), &cfg, &out, &prog, &[]);
    refused(&o, &out, "unknown symbol");
    assert!(
        o.stderr.contains("comptue"),
        "the message must name the symbol\n{o}"
    );
    assert!(
        o.stderr.contains("compute"),
        "the message must suggest `compute`\n{o}"
    );
}

#[test]
fn malformed_toml_reports_file_line_column() {
    let wd = WorkDir::new("scope_run_badtoml");
    // Line 3 is broken: a key without a value.
    let cfg = wd.write(
        "cfg/scope.toml",
        "[[regions]]\nsymbol = \"compute\"\nname =\n",
    );
    let out = wd.subdir("out").join("profiling_data.h5");
    let prog = fixture(&Flavor::OpenMpi.fixture("mpi_compute")).path;
    let o = scope_run(&wd, Some(2), &cfg, &out, &prog, &[]);
    refused(&o, &out, "malformed TOML");
    let at = format!("{}:3:", cfg.display());
    let pos = o
        .stderr
        .find(&at)
        .unwrap_or_else(|| panic!("no `{at}COL` in the message\n{o}"));
    let col: String = o.stderr[pos + at.len()..]
        .chars()
        .take_while(|c| c.is_ascii_digit())
        .collect();
    assert!(!col.is_empty(), "no column after `{at}`\n{o}");
}

#[test]
fn static_binary_is_refused() {
    let wd = WorkDir::new("scope_run_static");
    let cfg = wd.write("cfg/scope.toml", "[[regions]]\nsymbol = \"compute\"\n");
    let out = wd.subdir("out").join("profiling_data.h5");
    let o = scope_run(&wd, None, &cfg, &out, &fixture("static_prog").path, &[]);
    refused(&o, &out, "static binary");
    assert!(
        !o.stdout.contains("static 41"),
        "the static program ran\n{o}"
    );
    assert!(
        o.stderr.to_lowercase().contains("static"),
        "the message must say `static`\n{o}"
    );
}

/// An aarch64 program with the x86-64 agent: refused before anything runs, naming both
/// architectures and where an aarch64 agent comes from.
#[test]
fn an_agent_of_another_architecture_is_refused() {
    let wd = WorkDir::new("scope_run_arch");
    let cfg = wd.write("cfg/scope.toml", "[[regions]]\nsymbol = \"work\"\n");
    let out = wd.subdir("out").join("profiling_data.h5");
    let prog = fixture("arm_work").path;
    let o = scope_run(&wd, None, &cfg, &out, &prog, &[]);
    refused(&o, &out, "aarch64 program, x86-64 agent");
    assert!(!o.stdout.contains("arm sum"), "the program ran\n{o}");
    assert!(
        o.stderr.contains("is an aarch64 program, but the agent")
            && o.stderr.contains("is built for x86-64")
            && o.stderr.contains("--target aarch64-unknown-linux-gnu"),
        "{o}"
    );
}

#[test]
fn missing_program_is_refused() {
    let wd = WorkDir::new("scope_run_missing");
    let cfg = wd.write("cfg/scope.toml", "[[regions]]\nsymbol = \"compute\"\n");
    let out = wd.subdir("out").join("profiling_data.h5");
    let missing = wd.join("no_such_program");
    let o = scope_run(&wd, Some(2), &cfg, &out, &missing, &[]);
    refused(&o, &out, "missing program");
    assert!(
        o.stderr.contains("no_such_program"),
        "the message must name the program\n{o}"
    );
}
