//! Running a child process: own process group, timeout, kill-on-drop, captured output.

use std::ffi::{OsStr, OsString};
use std::fmt;
use std::io::Read;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Default limit for one child (a 4-rank fixture takes well under a second when all is well).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(120);

/// A command to run: program, arguments, environment, directory, timeout.
#[derive(Debug, Clone)]
pub struct Cmd {
    program: OsString,
    args: Vec<OsString>,
    envs: Vec<(OsString, Option<OsString>)>,
    cwd: Option<PathBuf>,
    timeout: Duration,
}

/// What a finished (or timed-out) child left.
#[derive(Debug, Clone)]
pub struct Output {
    /// The command line, for messages.
    pub cmdline: String,
    pub status: Option<ExitStatus>,
    pub stdout: String,
    pub stderr: String,
    pub timed_out: bool,
    pub elapsed: Duration,
}

impl Cmd {
    pub fn new(program: impl AsRef<OsStr>) -> Cmd {
        Cmd {
            program: program.as_ref().to_os_string(),
            args: Vec::new(),
            envs: Vec::new(),
            cwd: None,
            timeout: DEFAULT_TIMEOUT,
        }
    }

    pub fn arg(mut self, a: impl AsRef<OsStr>) -> Cmd {
        self.args.push(a.as_ref().to_os_string());
        self
    }

    pub fn args<I, S>(mut self, args: I) -> Cmd
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.args
            .extend(args.into_iter().map(|a| a.as_ref().to_os_string()));
        self
    }

    pub fn env(mut self, k: impl AsRef<OsStr>, v: impl AsRef<OsStr>) -> Cmd {
        self.envs
            .push((k.as_ref().to_os_string(), Some(v.as_ref().to_os_string())));
        self
    }

    pub fn env_remove(mut self, k: impl AsRef<OsStr>) -> Cmd {
        self.envs.push((k.as_ref().to_os_string(), None));
        self
    }

    pub fn cwd(mut self, dir: impl AsRef<Path>) -> Cmd {
        self.cwd = Some(dir.as_ref().to_path_buf());
        self
    }

    pub fn timeout(mut self, t: Duration) -> Cmd {
        self.timeout = t;
        self
    }

    pub fn cmdline(&self) -> String {
        let mut s = String::new();
        for (k, v) in &self.envs {
            if let Some(v) = v {
                s.push_str(&format!("{}={} ", k.to_string_lossy(), v.to_string_lossy()));
            }
        }
        s.push_str(&self.program.to_string_lossy());
        for a in &self.args {
            s.push(' ');
            s.push_str(&a.to_string_lossy());
        }
        s
    }

    /// Run to completion (or to the timeout, then kill the whole process group).
    pub fn run(&self) -> Output {
        let mut c = Command::new(&self.program);
        c.args(&self.args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0);
        // Children never inherit the agent from the test runner's own environment by accident.
        c.env_remove("LD_PRELOAD");
        for (k, v) in &self.envs {
            match v {
                Some(v) => c.env(k, v),
                None => c.env_remove(k),
            };
        }
        if let Some(d) = &self.cwd {
            c.current_dir(d);
        }
        let cmdline = self.cmdline();
        let start = Instant::now();
        let child = match c.spawn() {
            Ok(ch) => ch,
            Err(e) => panic!("cannot start `{cmdline}`: {e}"),
        };
        let mut guard = ChildGuard::new(child);
        let out_reader = reader(guard.child.stdout.take());
        let err_reader = reader(guard.child.stderr.take());
        let mut timed_out = false;
        let pid = guard.child.id() as libc::id_t;
        loop {
            if exited_unreaped(pid) {
                break;
            }
            if start.elapsed() > self.timeout {
                timed_out = true;
                guard.kill_group();
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        // The leader has exited but is not reaped yet, so its group id cannot have been reused:
        // end whatever it left in the group (descendants holding the pipes), then reap it.
        guard.kill_group_quietly();
        let status = guard.child.wait().ok();
        guard.reaped = true;
        Output {
            cmdline,
            status,
            stdout: join(out_reader),
            stderr: join(err_reader),
            timed_out,
            elapsed: start.elapsed(),
        }
    }
}

/// Whether the child has exited, without reaping it (`waitid` with `WNOWAIT`).
fn exited_unreaped(pid: libc::id_t) -> bool {
    // SAFETY: siginfo_t is plain data; waitid writes into it and only inspects our own child.
    let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
    // SAFETY: valid pointer to a siginfo_t we own; P_PID limits the call to this child.
    let rc = unsafe {
        libc::waitid(
            libc::P_PID,
            pid,
            &mut info,
            libc::WEXITED | libc::WNOWAIT | libc::WNOHANG,
        )
    };
    // SAFETY: si_pid is valid to read after a successful waitid (0 when nothing has exited).
    rc == 0 && unsafe { info.si_pid() } != 0
}

fn reader<R: Read + Send + 'static>(r: Option<R>) -> Option<JoinHandle<Vec<u8>>> {
    r.map(|mut r| {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            let _ = r.read_to_end(&mut buf);
            buf
        })
    })
}

fn join(h: Option<JoinHandle<Vec<u8>>>) -> String {
    h.and_then(|h| h.join().ok())
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default()
}

/// Kills the child's process group when dropped (a panicking test leaves no ranks behind).
struct ChildGuard {
    child: Child,
    reaped: bool,
}

impl ChildGuard {
    fn new(child: Child) -> ChildGuard {
        ChildGuard {
            child,
            reaped: false,
        }
    }

    fn pgid(&self) -> libc::pid_t {
        self.child.id() as libc::pid_t
    }

    /// SIGTERM to the group (mpirun then stops its ranks), then SIGKILL what is left.
    fn kill_group(&mut self) {
        let pg = self.pgid();
        // SAFETY: killpg only sends a signal; pg is the id of the group this child leads.
        unsafe { libc::killpg(pg, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(3);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        // SAFETY: as above.
        unsafe { libc::killpg(pg, libc::SIGKILL) };
    }

    fn kill_group_quietly(&mut self) {
        // SAFETY: killpg only sends a signal; ESRCH (group gone) is the normal case and ignored.
        unsafe { libc::killpg(self.pgid(), libc::SIGKILL) };
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        if !self.reaped {
            self.kill_group();
            let _ = self.child.wait();
        }
    }
}

impl Output {
    /// The exit code; panics (printing everything) if the child was killed by a signal.
    pub fn code(&self) -> i32 {
        match self.status.and_then(|s| s.code()) {
            Some(c) => c,
            None => panic!("child did not exit normally\n{self}"),
        }
    }

    pub fn success(&self) -> bool {
        !self.timed_out && self.status.map(|s| s.success()).unwrap_or(false)
    }

    /// Panics with the whole output unless the child exited 0 in time.
    pub fn assert_success(&self, what: &str) -> &Output {
        if !self.success() {
            panic!("{what} failed\n{self}");
        }
        self
    }

    /// Panics with the whole output unless the child exited with `code` in time.
    pub fn assert_code(&self, code: i32, what: &str) -> &Output {
        if self.timed_out || self.status.and_then(|s| s.code()) != Some(code) {
            panic!("{what}: expected exit status {code}\n{self}");
        }
        self
    }

    /// Panics unless the child ran to completion and exited non-zero.
    pub fn assert_failure(&self, what: &str) -> &Output {
        if self.timed_out || self.status.and_then(|s| s.code()).unwrap_or(0) == 0 {
            panic!("{what}: expected a non-zero exit status\n{self}");
        }
        self
    }
}

impl fmt::Display for Output {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "--- command: {}", self.cmdline)?;
        match self.status {
            _ if self.timed_out => writeln!(f, "--- TIMED OUT after {:?}", self.elapsed)?,
            Some(s) => match (s.code(), s.signal()) {
                (Some(c), _) => writeln!(f, "--- exit status {c} ({:?})", self.elapsed)?,
                (None, Some(sig)) => writeln!(f, "--- killed by signal {sig}")?,
                _ => writeln!(f, "--- status {s:?}")?,
            },
            None => writeln!(f, "--- no status")?,
        }
        writeln!(f, "--- stdout:\n{}", self.stdout)?;
        write!(f, "--- stderr:\n{}", self.stderr)
    }
}
