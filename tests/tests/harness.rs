//! The harness itself: timeouts end the whole process group, output is captured.

use scope_tests::Cmd;
use std::time::Duration;

#[test]
fn timeout_kills_the_process_group() {
    // The shell starts a grandchild that would outlive it; the timeout must end both.
    let out = Cmd::new("/bin/sh")
        .arg("-c")
        .arg("echo started; sleep 60 & wait")
        .timeout(Duration::from_secs(1))
        .run();
    assert!(out.timed_out, "{out}");
    assert!(out.elapsed < Duration::from_secs(10), "{out}");
    assert_eq!(out.stdout, "started\n");
}

#[test]
fn captures_stdout_stderr_and_status() {
    let out = Cmd::new("/bin/sh")
        .arg("-c")
        .arg("echo out; echo err >&2; exit 7")
        .run();
    out.assert_code(7, "sh");
    assert_eq!(out.stdout, "out\n");
    assert_eq!(out.stderr, "err\n");
}
