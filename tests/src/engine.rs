//! The interception engine's fixtures (`tests/fixtures/engine/`, built at -O0, -O2 and -O3):
//! each run twice, plainly and with the agent preloaded directly (no launcher), then compared.
//!
//! A fixture prints deterministic stdout and, on stderr, `EXPECT <symbol> <calls>` lines (calls
//! the program itself counted), `RETURNED <symbol> <calls>` where some calls never return, and
//! `SKIPPED <why>` where the CPU lacks a feature. A [`Pair`] holds both runs and asserts:
//! same exit status and stdout, recorded counts equal to the EXPECT lines, refusal messages.
//!
//! [`Case::aarch64`] runs the aarch64 build of a fixture instead (`target/fixtures/engine-aarch64/`,
//! made by `tests/fixtures/build-aarch64.sh`) with the aarch64 agent, under qemu-user: the binary
//! is executed directly (binfmt_misc hands it to qemu) with `QEMU_LD_PREFIX` naming the aarch64
//! sysroot in both runs.

use crate::fixtures::fixture;
use crate::mpi::run_lock;
use crate::paths::{agent_so, agent_so_aarch64};
use crate::proc::{Cmd, Output};
use crate::profile::Profile;
use crate::workdir::{list_dir, WorkDir};
use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The optimisation levels every engine fixture is built at.
pub const OPTS: [&str; 3] = ["O0", "O2", "O3"];

/// The machine a fixture is built for and runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Arch {
    /// The host's build (`target/fixtures/engine/`), run natively with `libscope_agent.so`.
    X86_64,
    /// The cross build (`target/fixtures/engine-aarch64/`), run under qemu-user with the
    /// aarch64 agent.
    Aarch64,
}

impl Arch {
    /// The fixtures' directory under the fixtures directory.
    pub fn dir(self) -> &'static str {
        match self {
            Arch::X86_64 => "engine",
            Arch::Aarch64 => "engine-aarch64",
        }
    }

    /// The agent built for this machine.
    pub fn agent(self) -> PathBuf {
        match self {
            Arch::X86_64 => agent_so(),
            Arch::Aarch64 => agent_so_aarch64(),
        }
    }
}

/// The aarch64 sysroot qemu-user loads the programs' libraries from (Debian's cross packages).
pub const QEMU_LD_PREFIX: &str = "/usr/aarch64-linux-gnu";

/// `target/fixtures/engine/<name>.<opt>`.
pub fn engine_bin(name: &str, opt: &str) -> PathBuf {
    fixture(&format!("engine/{name}.{opt}")).path
}

/// A helper file of the engine fixtures (`dl_lib.so`, `alloc_count.so`, `noexec`).
pub fn engine_file(name: &str) -> PathBuf {
    fixture(&format!("engine/{name}")).path
}

/// A file of the aarch64 engine fixtures (`dl_lib.so`, `alloc_count.so`).
pub fn engine_file_aarch64(name: &str) -> PathBuf {
    fixture(&format!("engine-aarch64/{name}")).path
}

/// Panics with what to install unless this machine runs aarch64 programs through qemu-user's
/// binfmt_misc entry.
pub fn assert_qemu_binfmt() {
    let entry = Path::new("/proc/sys/fs/binfmt_misc/qemu-aarch64");
    let enabled = std::fs::read_to_string(entry)
        .map(|s| s.lines().next() == Some("enabled"))
        .unwrap_or(false);
    assert!(
        enabled,
        "{} is missing or disabled: aarch64 fixtures run under qemu-user through binfmt_misc \
         (apt-get install qemu-user-static binfmt-support)",
        entry.display()
    );
    assert!(
        Path::new(QEMU_LD_PREFIX)
            .join("lib/ld-linux-aarch64.so.1")
            .exists(),
        "{QEMU_LD_PREFIX} has no ld-linux-aarch64.so.1 (apt-get install libc6-arm64-cross)"
    );
}

/// A config with one region per symbol (region name = symbol).
pub fn config_for<S: AsRef<str>>(symbols: &[S]) -> String {
    let mut s = String::new();
    for sym in symbols {
        s.push_str(&format!("[[regions]]\nsymbol = {:?}\n\n", sym.as_ref()));
    }
    s
}

/// One fixture run, with and without the agent.
pub struct Case {
    pub name: String,
    pub opt: String,
    /// The fixture's file name without the `.<opt>` suffix (the name, or a [`Case::variant`]).
    pub stem: String,
    pub arch: Arch,
    pub args: Vec<OsString>,
    /// Region symbols; `None`: one region per EXPECT line of the plain run.
    pub regions: Option<Vec<String>>,
    /// A raw config instead of `regions`.
    pub config: Option<String>,
    pub env: Vec<(String, OsString)>,
    /// Preloaded in both runs, after the agent in the agent's run.
    pub preload_after: Option<PathBuf>,
    /// Run the program through this wrapper (`WRAPPER PROGRAM ARGS`); the agent then goes in
    /// `NOEXEC_PRELOAD`, not `LD_PRELOAD`, so only the program gets it.
    pub wrapper: Option<PathBuf>,
    pub timeout: Duration,
}

impl Case {
    pub fn new(name: &str, opt: &str) -> Case {
        Case {
            name: name.to_string(),
            opt: opt.to_string(),
            stem: name.to_string(),
            arch: Arch::X86_64,
            args: Vec::new(),
            regions: None,
            config: None,
            env: Vec::new(),
            preload_after: None,
            wrapper: None,
            timeout: Duration::from_secs(90),
        }
    }

    /// A fixture binary with a different file name (`disc_rust.v0` -> `disc_rust.v0.O2`).
    pub fn variant(mut self, file_stem: &str) -> Case {
        self.stem = file_stem.to_string();
        self
    }

    /// The aarch64 build of the fixture, run under qemu-user with the aarch64 agent
    /// (`QEMU_LD_PREFIX` set in both runs).
    pub fn aarch64(mut self) -> Case {
        self.arch = Arch::Aarch64;
        self
    }

    /// The fixture binary (built if missing).
    pub fn bin(&self) -> PathBuf {
        fixture(&format!("{}/{}.{}", self.arch.dir(), self.stem, self.opt)).path
    }

    pub fn arg(mut self, a: impl Into<OsString>) -> Case {
        self.args.push(a.into());
        self
    }

    pub fn regions(mut self, r: &[&str]) -> Case {
        self.regions = Some(r.iter().map(|s| s.to_string()).collect());
        self
    }

    pub fn config(mut self, toml: &str) -> Case {
        self.config = Some(toml.to_string());
        self
    }

    pub fn env(mut self, k: &str, v: impl Into<OsString>) -> Case {
        self.env.push((k.to_string(), v.into()));
        self
    }

    pub fn preload_after(mut self, p: PathBuf) -> Case {
        self.preload_after = Some(p);
        self
    }

    pub fn wrapper(mut self, p: PathBuf) -> Case {
        self.wrapper = Some(p);
        self
    }

    pub fn timeout(mut self, t: Duration) -> Case {
        self.timeout = t;
        self
    }

    fn cmd(&self, bin: &Path, run_dir: &Path) -> Cmd {
        let mut c = match &self.wrapper {
            Some(w) => Cmd::new(w).arg(bin),
            None => Cmd::new(bin),
        };
        c = c
            .args(&self.args)
            .cwd(run_dir)
            .timeout(self.timeout)
            .env_remove("SCOPE_CONFIG")
            .env_remove("SCOPE_OUTPUT")
            .env_remove("SCOPE_TARGET")
            .env_remove("SCOPE_VERBOSE")
            .env_remove("SCOPE_LAUNCHED");
        if self.arch == Arch::Aarch64 {
            c = c.env("QEMU_LD_PREFIX", QEMU_LD_PREFIX);
        }
        for (k, v) in &self.env {
            c = c.env(k, v);
        }
        c
    }

    /// Runs the plain program, then the program with the agent (`SCOPE_VERBOSE=1`,
    /// `SCOPE_TARGET` = the program), each in its own directory of `wd`.
    pub fn run_in(&self, wd: &WorkDir) -> Pair {
        let mut label = format!("{} -{} {:?}", self.name, self.opt, self.args);
        if self.arch == Arch::Aarch64 {
            assert_qemu_binfmt();
            label.push_str(" (aarch64, qemu-user)");
        }
        let bin = self.bin();
        let plain_dir = wd.subdir("plain");
        let mut plain = self.cmd(&bin, &plain_dir);
        if let Some(p) = &self.preload_after {
            plain = plain.env("LD_PRELOAD", p);
        }
        let plain = {
            let _g = run_lock();
            plain.run()
        };
        let config = match (&self.config, &self.regions) {
            (Some(c), _) => c.clone(),
            (None, Some(r)) => config_for(r),
            (None, None) => {
                let syms: Vec<String> = parse_lines(&plain.stderr, "EXPECT").into_keys().collect();
                assert!(!syms.is_empty(), "{label}: no EXPECT lines\n{plain}");
                config_for(&syms)
            }
        };
        let config_path = wd.write("cfg/scope.toml", &config);
        let out_dir = wd.subdir("out");
        let profile = out_dir.join("profiling_data.h5");
        let run_dir = wd.subdir("run");
        let mut preload = self.arch.agent().into_os_string();
        if let Some(p) = &self.preload_after {
            preload.push(":");
            preload.push(p);
        }
        let target = std::fs::canonicalize(&bin).unwrap_or_else(|_| bin.clone());
        let mut agent = self
            .cmd(&bin, &run_dir)
            .env("SCOPE_CONFIG", &config_path)
            .env("SCOPE_OUTPUT", &profile)
            .env("SCOPE_TARGET", &target)
            .env("SCOPE_VERBOSE", "1");
        agent = match &self.wrapper {
            Some(_) => agent.env("NOEXEC_PRELOAD", &preload),
            None => agent.env("LD_PRELOAD", &preload),
        };
        let agent = {
            let _g = run_lock();
            agent.run()
        };
        Pair {
            label,
            plain,
            agent,
            out_dir,
            profile,
            regions: if self.config.is_none() {
                self.regions.clone()
            } else {
                None
            },
        }
    }

    /// [`Case::run_in`] in a fresh work directory named after the case.
    pub fn run(&self) -> (WorkDir, Pair) {
        let wd = match self.arch {
            Arch::X86_64 => WorkDir::new(&format!("engine_{}_{}", self.name, self.opt)),
            Arch::Aarch64 => WorkDir::new(&format!("engine_aarch64_{}_{}", self.name, self.opt)),
        };
        let p = self.run_in(&wd);
        (wd, p)
    }
}

/// `KEY symbol count` lines of a fixture's stderr.
pub fn parse_lines(stderr: &str, key: &str) -> BTreeMap<String, usize> {
    let mut m = BTreeMap::new();
    for line in stderr.lines() {
        let mut it = line.splitn(2, ' ');
        if it.next() != Some(key) {
            continue;
        }
        let rest = it.next().unwrap_or("");
        if let Some((sym, n)) = rest.rsplit_once(' ') {
            if let Ok(n) = n.trim().parse() {
                m.insert(sym.to_string(), n);
            }
        }
    }
    m
}

/// The two runs of a [`Case`].
pub struct Pair {
    pub label: String,
    pub plain: Output,
    pub agent: Output,
    /// The directory the agent writes into (only the output file belongs there).
    pub out_dir: PathBuf,
    /// `<out_dir>/profiling_data.h5`.
    pub profile: PathBuf,
    /// The configured symbols, when the case named them (EXPECT lines of other functions are
    /// then ignored).
    pub regions: Option<Vec<String>>,
}

impl Pair {
    fn both(&self) -> String {
        format!(
            "=== {}\n--- without the agent:\n{}\n--- with the agent:\n{}",
            self.label, self.plain, self.agent
        )
    }

    /// Both runs finished in time with the same exit status (or signal) and the same stdout.
    pub fn assert_same_behaviour(&self) -> &Pair {
        assert!(
            !self.plain.timed_out && !self.agent.timed_out,
            "a run timed out\n{}",
            self.both()
        );
        assert_eq!(
            self.plain.status,
            self.agent.status,
            "exit status differs\n{}",
            self.both()
        );
        assert_eq!(
            self.plain.stdout,
            self.agent.stdout,
            "stdout differs\n{}",
            self.both()
        );
        self
    }

    /// The EXPECT lines (from the agent's run; the same program counted them).
    pub fn expect(&self) -> BTreeMap<String, usize> {
        parse_lines(&self.agent.stderr, "EXPECT")
    }

    /// The RETURNED lines.
    pub fn returned(&self) -> BTreeMap<String, usize> {
        parse_lines(&self.agent.stderr, "RETURNED")
    }

    /// Prints the fixture's SKIPPED lines (features this CPU lacks) so they show in the log.
    pub fn print_skips(&self) -> &Pair {
        for l in self.plain.stderr.lines() {
            if let Some(why) = l.strip_prefix("SKIPPED ") {
                eprintln!("{}: skipped part: {why}", self.label);
            }
        }
        self
    }

    /// The result file, loaded.
    pub fn profile(&self) -> Profile {
        Profile::open(&self.profile)
    }

    /// Per-region calls on rank 0 of the result file (regions never called are absent; no
    /// result file at all reads as nothing recorded).
    pub fn counts(&self) -> BTreeMap<String, usize> {
        if !self.profile.exists() {
            return BTreeMap::new();
        }
        let p = self.profile();
        p.ranks
            .get(&0)
            .map(|r| r.iter().map(|(k, v)| (k.clone(), v.len())).collect())
            .unwrap_or_default()
    }

    /// Rank 0 recorded exactly `want` (entries with 0 calls must be absent).
    pub fn assert_counts(&self, want: &BTreeMap<String, usize>) -> &Pair {
        let want: BTreeMap<String, usize> = want
            .iter()
            .filter(|(_, n)| **n > 0)
            .map(|(k, n)| (k.clone(), *n))
            .collect();
        let got = self.counts();
        assert_eq!(
            got,
            want,
            "recorded calls (left) != calls the program made (right)\n{}",
            self.both()
        );
        self
    }

    /// Recorded calls equal the EXPECT lines (of the configured regions) exactly.
    pub fn assert_counts_match_expect(&self) -> &Pair {
        let mut want = self.expect();
        if let Some(r) = &self.regions {
            want.retain(|k, _| r.contains(k));
        }
        assert!(!want.is_empty(), "no EXPECT lines\n{}", self.both());
        self.assert_counts(&want)
    }

    /// The agent's "cannot hook" line for `symbol`, if any.
    pub fn refusal(&self, symbol: &str) -> Option<String> {
        let prefix = format!("cannot hook {symbol} (");
        self.agent
            .stderr
            .lines()
            .find(|l| l.starts_with("scope[") && l.contains(&prefix))
            .map(str::to_string)
    }

    /// The agent refused `symbol` with a message that contains `reason`.
    pub fn assert_refused(&self, symbol: &str, reason: &str) -> &Pair {
        match self.refusal(symbol) {
            Some(l) => assert!(
                l.contains(reason),
                "refusal of {symbol} does not say {reason:?}: {l}"
            ),
            None => panic!("{symbol} was not refused\n{}", self.both()),
        }
        self
    }

    /// Nothing was refused.
    pub fn assert_no_refusals(&self) -> &Pair {
        let r: Vec<&str> = self
            .agent
            .stderr
            .lines()
            .filter(|l| l.contains("cannot hook"))
            .collect();
        assert!(r.is_empty(), "refused: {r:?}\n{}", self.both());
        self
    }

    /// Result files the agent wrote (the output and any `<stem>.<N>.h5`).
    pub fn result_files(&self) -> Vec<PathBuf> {
        list_dir(&self.out_dir)
            .into_iter()
            .filter(|n| n.ends_with(".h5"))
            .map(|n| self.out_dir.join(n))
            .collect()
    }
}

/// The standard check: for every -O level, same behaviour, nothing refused, exact counts.
pub fn check_exact(name: &str, configure: impl Fn(Case) -> Case) {
    for opt in OPTS {
        let (_wd, p) = configure(Case::new(name, opt)).run();
        p.assert_same_behaviour()
            .print_skips()
            .assert_no_refusals()
            .assert_counts_match_expect();
    }
}
