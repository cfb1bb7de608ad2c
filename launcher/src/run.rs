//! scope-run end to end: parse, check everything that can be checked before anything runs
//! (output, program, linkage, config, symbols, launcher, agent), launch, then summarise.
//! Invariant: until `child::run`, nothing has been executed but `ldd` and `--version` probes
//! and nothing has been created or removed; `--force` removes the old output only after every
//! check passed.

use crate::args::{self, Parsed, RunArgs};
use crate::command::{self, RankEnvInput};
use crate::error::{Fail, Result, EXIT_RANKS_MISSING};
use crate::regions::{self, Object};
use crate::{child, libs, mpi, no_mpi, nodes, program, salvage, shortfall, summary, worlds};
use std::path::{Path, PathBuf};

const TOOL: &str = "scope-run";
const DEFAULT_OUTPUT: &str = "profiling_data.h5";
const DEFAULT_CONFIG: &str = "scope.toml";
const AGENT_VAR: &str = "SCOPE_AGENT";
const AGENT_FILE: &str = "libscope_agent.so";

/// Runs scope-run with the arguments after argv[0]; returns the exit status.
pub fn main(argv: &[String]) -> i32 {
    let result = args::parse(argv).and_then(|p| match p {
        Parsed::Help => {
            println!("{}", args::USAGE);
            Ok(0)
        }
        Parsed::Version => {
            println!("scope-run {}", env!("CARGO_PKG_VERSION"));
            Ok(0)
        }
        Parsed::Run(a) => run(&a),
    });
    result.unwrap_or_else(|f| {
        f.report(TOOL);
        f.code
    })
}

fn say(line: &str) {
    eprintln!("{TOOL}: {line}");
}

fn absolute(p: &Path) -> Result<PathBuf> {
    if p.is_absolute() {
        return Ok(p.to_path_buf());
    }
    let cwd = std::env::current_dir()
        .map_err(|e| Fail::check(format!("cannot read the current directory: {e}")))?;
    Ok(cwd.join(p))
}

fn check_output(a: &RunArgs) -> Result<PathBuf> {
    let output = absolute(a.output.as_deref().unwrap_or(Path::new(DEFAULT_OUTPUT)))?;
    if output.exists() && !a.force {
        return Err(Fail::check(format!(
            "output file {} already exists; choose another with -o FILE or replace it with --force",
            output.display()
        )));
    }
    let dir = output.parent().unwrap_or(Path::new("/"));
    if !dir.is_dir() {
        return Err(Fail::check(format!(
            "cannot write {}: directory {} does not exist",
            output.display(),
            dir.display()
        )));
    }
    Ok(output)
}

/// The config file: `-c`, else `./scope.toml`, else `$SCOPE_CONFIG`.
fn find_config(given: Option<&Path>) -> Result<PathBuf> {
    if let Some(p) = given {
        return Ok(p.to_path_buf());
    }
    if Path::new(DEFAULT_CONFIG).is_file() {
        return Ok(PathBuf::from(DEFAULT_CONFIG));
    }
    match std::env::var_os(scope_config::env::CONFIG) {
        Some(p) if !p.is_empty() => Ok(PathBuf::from(p)),
        _ => Err(Fail::check(format!(
            "no config: pass -c FILE, create ./{DEFAULT_CONFIG}, or set {}",
            scope_config::env::CONFIG
        ))),
    }
}

/// The agent: `$SCOPE_AGENT`, else beside scope-run (`target/release/`), else where
/// `scripts/install.sh` puts it relative to scope-run (`PREFIX/bin/` → `PREFIX/lib/scope/`).
fn find_agent() -> Result<PathBuf> {
    if let Some(p) = std::env::var_os(AGENT_VAR).filter(|p| !p.is_empty()) {
        let path = PathBuf::from(p);
        return std::fs::canonicalize(&path)
            .map_err(|_| Fail::check(format!("agent {} ({AGENT_VAR}) not found", path.display())));
    }
    let exe = std::env::current_exe()
        .map_err(|e| Fail::check(format!("cannot locate scope-run itself: {e}")))?;
    let candidates = agent_candidates(&exe);
    candidates
        .iter()
        .find_map(|c| std::fs::canonicalize(c).ok())
        .ok_or_else(|| {
            let tried: Vec<String> = candidates.iter().map(|c| c.display().to_string()).collect();
            Fail::check(format!(
                "agent not found (looked for {}); build it (cargo build --release), install it \
                 (scripts/install.sh --prefix DIR) or set {AGENT_VAR}",
                tried.join(" and ")
            ))
        })
}

/// Where the agent may lie relative to scope-run's own executable, in order.
fn agent_candidates(exe: &Path) -> Vec<PathBuf> {
    let dir = exe.parent().unwrap_or(Path::new("/"));
    let mut c = vec![dir.join(AGENT_FILE)];
    if let Some(prefix) = dir.parent() {
        c.push(prefix.join("lib").join("scope").join(AGENT_FILE));
    }
    c
}

/// The agent must be built for the program's instruction set (an aarch64 program runs on an
/// x86-64 host under qemu-user, and on Arm nodes; its agent is an aarch64 build).
fn check_agent_machine(agent: &Path, program: &Path, want: scope_elf::Machine) -> Result<()> {
    let bytes = std::fs::read(agent)
        .map_err(|e| Fail::check(format!("cannot read the agent {}: {e}", agent.display())))?;
    let have = scope_elf::info(&bytes)
        .map_err(|e| Fail::check(format!("the agent {}: {e}", agent.display())))?
        .machine;
    if have == want {
        return Ok(());
    }
    let hint = match want {
        scope_elf::Machine::Aarch64 => {
            " (cargo build --release --target aarch64-unknown-linux-gnu -p scope-agent)"
        }
        _ => "",
    };
    Err(Fail::check(format!(
        "{} is an {} program, but the agent {} is built for {}: point {AGENT_VAR} at an agent \
         built for {}{hint}",
        program.display(),
        want.name(),
        agent.display(),
        have.name(),
        want.name(),
    )))
}

fn is_shell(p: &Path) -> bool {
    let name = p.file_name().map(|n| n.to_string_lossy().into_owned());
    matches!(
        name.as_deref(),
        Some("sh" | "bash" | "dash" | "zsh" | "ksh")
    )
}

fn utf8(p: &Path) -> Result<&str> {
    p.to_str()
        .ok_or_else(|| Fail::check(format!("path is not UTF-8: {}", p.display())))
}

fn run(a: &RunArgs) -> Result<i32> {
    let output = check_output(a)?;
    let prog = program::resolve(&a.program)?;
    let config_path = find_config(a.config.as_deref())?;
    let config = scope_config::load(&config_path).map_err(|e| Fail::check(e.to_string()))?;
    let config_abs = std::fs::canonicalize(&config_path)
        .map_err(|e| Fail::check(format!("cannot resolve {}: {e}", config_path.display())))?;
    let libraries = libs::libraries(&prog.binary, &prog.info);
    let debug_dirs =
        scope_elf::debug::debug_dirs(std::env::var_os(scope_config::env::DEBUG_DIR).as_deref());
    let objects: Vec<Object> = std::iter::once(Object::load(
        prog.binary.clone(),
        Some(&prog.bytes),
        &debug_dirs,
    ))
    .chain(
        libraries
            .iter()
            .map(|l| Object::load(l.path.clone(), None, &debug_dirs)),
    )
    .flatten()
    .collect();
    if a.verbose {
        regions::debug_files(&objects).iter().for_each(|l| say(l));
    }
    let resolved = regions::resolve(&config, &objects, &a.program).map_err(|mut f| {
        if prog.invoked != prog.binary && is_shell(&prog.binary) {
            f.message.push_str(&format!(
                "\n{} is a shell script run by {}; a wrapper (e.g. a pyenv shim) that execs \
                 another program cannot be profiled through it: name the real program",
                a.program,
                prog.binary.display()
            ));
        }
        f
    })?;
    let flavour = mpi::lib_flavour(&libraries);
    let launcher = mpi::choose(a.launcher, a.np, flavour)?;
    let agent = find_agent()?;
    check_agent_machine(&agent, &prog.binary, prog.info.machine)?;
    if a.verbose {
        regions::describe(&resolved).iter().for_each(|l| say(l));
        say(&format!(
            "{} links {}",
            prog.binary.display(),
            flavour.describe()
        ));
    }
    let tmpdir = std::env::var(scope_config::env::TMPDIR).ok();
    let flush_interval = std::env::var(scope_config::env::FLUSH_INTERVAL).ok();
    let merge = std::env::var(scope_config::env::MERGE).ok();
    let debug_dir = std::env::var(scope_config::env::DEBUG_DIR).ok();
    let preload = std::env::var("LD_PRELOAD").ok();
    let parent = tmpdir
        .as_deref()
        .map(PathBuf::from)
        .or_else(|| output.parent().map(Path::to_path_buf))
        .unwrap_or_else(|| PathBuf::from("."));
    // Only under a launcher: a direct run is one process, which writes its own profile.
    let ranks_dir =
        a.np.filter(|_| launcher.kind != mpi::Kind::Direct)
            .and_then(|_| no_mpi::create(&parent, &output));
    let ranks_dir_text = ranks_dir.as_deref().map(utf8).transpose()?;
    let env = command::rank_env(&RankEnvInput {
        agent: utf8(&agent)?,
        existing_preload: preload.as_deref(),
        config: utf8(&config_abs)?,
        output: utf8(&output)?,
        target: utf8(&prog.binary)?,
        verbose: a.verbose,
        tmpdir: tmpdir.as_deref(),
        flush_interval: flush_interval.as_deref(),
        merge: merge.as_deref(),
        debug_dir: debug_dir.as_deref(),
        ranks_dir: ranks_dir_text,
    });
    let launch = command::build(
        &launcher,
        a.np,
        &a.launcher_args,
        &env,
        utf8(&prog.invoked)?,
        &a.program_args,
    );
    if a.force && output.exists() {
        std::fs::remove_file(&output)
            .map_err(|e| Fail::check(format!("cannot remove {}: {e}", output.display())))?;
    }
    if a.verbose {
        let words: Vec<String> = launch
            .env
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .chain(std::iter::once(launch.command.clone()))
            .chain(launch.args.iter().cloned())
            .collect();
        say(&format!("running: {}", words.join(" ")));
    }
    let started = std::time::SystemTime::now();
    let code = child::run(&launch)?;
    if let Some(dir) = &ranks_dir {
        match no_mpi::merge(dir, &output, a.np.unwrap_or(1)) {
            None => {}
            Some(Ok((w, unmatched))) => {
                say(&format!(
                    "the ranks never initialised MPI: merged the files of {} rank(s)",
                    w.merge.merged.len()
                ));
                if !unmatched.is_empty() {
                    if let Err(e) = scope_format::write_python_unmatched(&w.path, &unmatched) {
                        say(&format!("cannot record the unmatched python regions: {e}"));
                    }
                }
            }
            Some(Err(e)) => say(&format!("ranks without MPI: {e}")),
        }
    }
    if !output.exists() {
        report_salvage(&output, &parent, a.np.unwrap_or(1), started);
    }
    for (dir, r) in salvage::salvage_spawned(&output, &parent, started) {
        match r {
            Ok(s) => report_salvaged(&s),
            Err(e) => say(&format!(
                "a spawned world ended before its merge, and salvaging {} failed: {e}",
                dir.display()
            )),
        }
    }
    let spawned = worlds::spawned(&output, started);
    if let Some(line) = worlds::line(&output, &spawned) {
        say(&line);
    }
    report(&output);
    nodes::lines(&output).iter().for_each(|l| say(l));
    let worlds: Vec<&Path> = std::iter::once(output.as_path())
        .chain(spawned.iter().map(|w| w.path.as_path()))
        .collect();
    for line in python_unmatched(&worlds) {
        say(&line);
    }
    for w in &spawned {
        report_as(
            &w.path,
            &format!(
                "wrote {} (world {}, started by MPI_Comm_spawn)",
                w.path.display(),
                w.world
            ),
        );
    }
    // Last, so that it is what the user sees.
    let plugin = mpi::srun_plugin(flavour, None);
    match a
        .np
        .and_then(|n| shortfall::check(&output, n, launcher.kind, plugin))
    {
        Some(lines) => {
            lines.iter().for_each(|l| say(l));
            Ok(if code == 0 { EXIT_RANKS_MISSING } else { code })
        }
        None => Ok(code),
    }
}

/// The run left no output: merge what the ranks flushed, and say what is missing.
fn report_salvage(output: &Path, parent: &Path, ranks: u32, started: std::time::SystemTime) {
    match salvage::salvage(output, parent, ranks, started) {
        None => {}
        Some(Err(e)) => say(&format!(
            "the run ended before the merge, and salvaging failed: {e}"
        )),
        Some(Ok(s)) => report_salvaged(&s),
    }
}

/// What a salvage merged (the launched world's, or a spawned world's into its world file).
fn report_salvaged(s: &salvage::Salvaged) {
    let list = |v: &[i64]| {
        v.iter()
            .map(|r| r.to_string())
            .collect::<Vec<_>>()
            .join(", ")
    };
    if s.world == 0 {
        say(&format!(
            "the run ended before the profile was merged; salvaged {} rank(s) from {}",
            s.merged.len(),
            s.dir.display()
        ));
    } else {
        say(&format!(
            "spawned world {} ended before its profile was merged; salvaged {} rank(s) \
             from {} into {}",
            s.world,
            s.merged.len(),
            s.dir.display(),
            s.file.display()
        ));
    }
    if !s.missing.is_empty() {
        say(&format!(
            "ranks with no data (they wrote nothing before the failure): {}",
            list(&s.missing)
        ));
    }
    for (r, why) in &s.unreadable {
        say(&format!(
            "rank {r}'s file was unreadable ({why}); kept in {}",
            s.dir.display()
        ));
    }
}

/// Prints the summary of `output` (or why there is none) to stderr.
pub fn report(output: &Path) {
    report_as(output, &format!("wrote {}", output.display()));
}

/// Prints the summary of `output` under `header` (or why there is none) to stderr.
fn report_as(output: &Path, header: &str) {
    if !output.exists() {
        say(&format!("no profile was written to {}", output.display()));
        return;
    }
    let summary =
        scope_format::ProfileReader::open(output).and_then(|r| summary::compute(&r, None));
    match summary {
        Ok(s) => {
            let (lines, table) = summary::render(&s, header);
            lines.iter().for_each(|l| say(l));
            eprint!("{table}");
        }
        Err(e) => say(&format!(
            "cannot read the profile {}: {e}",
            output.display()
        )),
    }
}

/// Python regions that matched no function in any world of the run (a pool's task runs in the
/// spawned world only), with the close functions each world's rank 0 saw run.
fn python_unmatched(worlds: &[&Path]) -> Vec<String> {
    let per_world: Vec<Vec<(String, Vec<String>)>> = worlds
        .iter()
        .filter(|w| w.exists())
        .map(|w| scope_format::read_python_unmatched(w))
        .collect();
    let Some(first) = per_world.first() else {
        return Vec::new();
    };
    first
        .iter()
        .filter(|(p, _)| per_world.iter().all(|w| w.iter().any(|(q, _)| q == p)))
        .map(|(p, _)| {
            let mut close: Vec<String> = Vec::new();
            for (_, c) in per_world.iter().flatten().filter(|(q, _)| q == p) {
                for name in c {
                    if !close.contains(name) && close.len() < 3 {
                        close.push(name.clone());
                    }
                }
            }
            scope_config::unmatched_python_sentence(p, &close)
        })
        .collect()
}

#[cfg(test)]
mod agent_path_tests {
    use super::agent_candidates;
    use std::path::{Path, PathBuf};

    #[test]
    fn agent_is_looked_for_beside_scope_run_then_in_the_prefix_lib() {
        assert_eq!(
            agent_candidates(Path::new("/opt/scope/bin/scope-run")),
            [
                PathBuf::from("/opt/scope/bin/libscope_agent.so"),
                PathBuf::from("/opt/scope/lib/scope/libscope_agent.so"),
            ]
        );
        assert_eq!(
            agent_candidates(Path::new("/w/target/release/scope-run"))[0],
            Path::new("/w/target/release/libscope_agent.so")
        );
    }
}
