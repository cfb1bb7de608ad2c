//! Running the launcher (or the program) as a child in scope-run's own process group, forwarding
//! SIGINT/SIGTERM/SIGHUP sent to scope-run, and turning its end into scope-run's exit status.
//! Invariants: the signals are blocked while the child is spawned, so none is lost between
//! `spawn` and publishing its pid (the child unblocks them before exec: std does not reset
//! the mask); the handler only reads an atomic and calls `kill` (both
//! async-signal-safe); signals from the terminal (`SI_KERNEL`, e.g. Ctrl-C) already reached
//! the whole foreground process group, child included, and are not sent a second time.

use crate::command::Launch;
use crate::error::{Fail, Result, EXIT_NOT_STARTED};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Command, ExitStatus};
use std::sync::atomic::{AtomicI32, Ordering};

const FORWARDED: [libc::c_int; 3] = [libc::SIGINT, libc::SIGTERM, libc::SIGHUP];

/// The running child's pid, 0 when there is none.
static CHILD: AtomicI32 = AtomicI32::new(0);

extern "C" fn forward(sig: libc::c_int, info: *mut libc::siginfo_t, _ctx: *mut libc::c_void) {
    // SAFETY: the kernel passes a valid siginfo_t for an SA_SIGINFO handler; null is checked.
    let from_terminal = !info.is_null() && unsafe { (*info).si_code } == libc::SI_KERNEL;
    let pid = CHILD.load(Ordering::SeqCst);
    if pid > 0 && !from_terminal {
        // SAFETY: kill is async-signal-safe; pid > 0 names exactly our child, never a group.
        unsafe { libc::kill(pid, sig) };
    }
}

fn signal_set() -> libc::sigset_t {
    // SAFETY: sigemptyset/sigaddset initialise and fill a local sigset_t.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        for s in FORWARDED {
            libc::sigaddset(&mut set, s);
        }
        set
    }
}

fn set_mask(how: libc::c_int, set: &libc::sigset_t) {
    // SAFETY: set is initialised; a null old-set pointer is allowed.
    unsafe { libc::pthread_sigmask(how, set, std::ptr::null_mut()) };
}

fn install(handler: libc::sighandler_t, siginfo: bool) {
    for s in FORWARDED {
        // SAFETY: a zeroed sigaction with an empty mask and a valid handler (an extern "C"
        // fn of the SA_SIGINFO signature, or SIG_DFL) is a well-formed argument.
        unsafe {
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = handler;
            sa.sa_flags = libc::SA_RESTART | if siginfo { libc::SA_SIGINFO } else { 0 };
            libc::sigemptyset(&mut sa.sa_mask);
            libc::sigaction(s, &sa, std::ptr::null_mut());
        }
    }
}

/// The exit status scope-run reports for a child status: its code, or 128 + signal.
pub fn exit_code(status: ExitStatus) -> i32 {
    match (status.code(), status.signal()) {
        (Some(c), _) => c,
        (None, Some(s)) => 128 + s,
        _ => 1,
    }
}

/// Runs `launch` to completion; the result is the exit status to end with.
pub fn run(launch: &Launch) -> Result<i32> {
    let mut cmd = Command::new(&launch.command);
    cmd.args(&launch.args);
    // Started from a profiled program, scope-run profiles afresh: the ranks are not its
    // children in the sense of the agent's mark.
    cmd.env_remove(scope_config::env::PROFILED);
    for (k, v) in &launch.env {
        cmd.env(k, v);
    }
    let set = signal_set();
    // SAFETY: the closure runs in the forked child before exec and only calls
    // pthread_sigmask, which is async-signal-safe; it allocates nothing and takes no lock.
    unsafe {
        cmd.pre_exec(move || {
            set_mask(libc::SIG_UNBLOCK, &set);
            Ok(())
        });
    }
    set_mask(libc::SIG_BLOCK, &set);
    let handler: extern "C" fn(libc::c_int, *mut libc::siginfo_t, *mut libc::c_void) = forward;
    install(handler as libc::sighandler_t, true);
    // The child unblocks the signals itself (pre_exec); exec resets the handlers.
    let spawned = cmd.spawn();
    if let Ok(child) = &spawned {
        CHILD.store(child.id() as i32, Ordering::SeqCst);
    }
    set_mask(libc::SIG_UNBLOCK, &set);
    let mut child = spawned.map_err(|e| {
        install(libc::SIG_DFL, false);
        Fail::with_code(
            EXIT_NOT_STARTED,
            format!("could not start {}: {e}", launch.command),
        )
    })?;
    let status = child.wait();
    CHILD.store(0, Ordering::SeqCst);
    install(libc::SIG_DFL, false);
    let status =
        status.map_err(|e| Fail::with_code(1, format!("waiting for {}: {e}", launch.command)))?;
    Ok(exit_code(status))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn launch(cmd: &str, args: &[&str]) -> Launch {
        Launch {
            command: cmd.into(),
            args: args.iter().map(|s| s.to_string()).collect(),
            env: vec![("SCOPE_TEST_VAR".into(), "7".into())],
        }
    }

    #[test]
    fn exit_codes_and_signals() {
        assert_eq!(
            run(&launch("sh", &["-c", "exit $SCOPE_TEST_VAR"])).unwrap(),
            7
        );
        assert_eq!(
            run(&launch("sh", &["-c", "kill -TERM $$"])).unwrap(),
            128 + 15
        );
        let e = run(&launch("/no/such/launcher", &[])).unwrap_err();
        assert_eq!(e.code, EXIT_NOT_STARTED);
        assert!(e.message.starts_with("could not start /no/such/launcher: "));
    }
}
