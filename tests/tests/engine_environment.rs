//! Engine, environment: write+exec denied, CET shadow stack, static executables (a clear
//! message, never a crash), and the proof that the hot path allocates nothing.

use scope_tests::engine::{check_exact, engine_file, Case, OPTS};

#[test]
fn write_exec_denied_gives_a_message_and_the_program_runs_unchanged() {
    let noexec = engine_file("noexec");
    for opt in OPTS {
        let (_wd, p) = Case::new("env_basic", opt).wrapper(noexec.clone()).run();
        p.assert_same_behaviour();
        p.assert_refused("compute", "mprotect(PROT_EXEC) refused");
    }
}

#[test]
fn cet_shadow_stack() {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let flags: Vec<&str> = cpuinfo
        .lines()
        .find(|l| l.starts_with("flags"))
        .map(|l| l.split_whitespace().collect())
        .unwrap_or_default();
    if !flags.iter().any(|f| *f == "user_shstk" || *f == "shstk") {
        eprintln!("cet_shadow_stack: SKIPPED: this CPU/kernel has no CET shadow stack (no shstk/user_shstk in /proc/cpuinfo)");
        return;
    }
    // A kernel with user shadow stacks: the agent must at least not crash a program.
    check_exact("env_basic", |c| {
        c.env("GLIBC_TUNABLES", "glibc.cpu.x86_shstk=on")
    });
}

#[test]
fn static_executable_runs_unchanged_and_nothing_is_written() {
    for opt in OPTS {
        let (_wd, p) = Case::new("env_static", opt).regions(&["compute"]).run();
        p.assert_same_behaviour();
        assert!(
            p.result_files().is_empty(),
            "-{opt}: {:?}",
            p.result_files()
        );
    }
}

/// `ALLOCS control=C fast=F flushing=L` from the fixture's stderr.
fn allocs(stderr: &str) -> (u64, u64, u64) {
    let line = stderr
        .lines()
        .find_map(|l| l.strip_prefix("ALLOCS "))
        .unwrap_or_else(|| panic!("no ALLOCS line in\n{stderr}"));
    let get = |k: &str| -> u64 {
        line.split(' ')
            .find_map(|kv| kv.strip_prefix(k).and_then(|v| v.strip_prefix('=')))
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no {k} in {line}"))
    };
    (get("control"), get("fast"), get("flushing"))
}

fn noalloc_case(opt: &str) -> Case {
    Case::new("hot_noalloc", opt)
        .regions(&["hot"])
        .preload_after(engine_file("alloc_count.so"))
}

#[test]
fn the_hot_path_allocates_nothing() {
    for opt in OPTS {
        let (_wd, p) = noalloc_case(opt).run();
        p.assert_same_behaviour()
            .assert_no_refusals()
            .assert_counts_match_expect();
        let (control, fast, _) = allocs(&p.agent.stderr);
        // The shim sees allocations (the program's own malloc/free pair): the test can fail.
        assert!(
            control >= 2,
            "-{opt}: the counting shim saw no allocation; it is not active"
        );
        let (_, plain_fast, _) = allocs(&p.plain.stderr);
        assert_eq!(
            plain_fast, 0,
            "-{opt}: the loop allocates even without the agent"
        );
        assert_eq!(
            fast, 0,
            "-{opt}: 10^4 hooked calls within one event buffer allocated {fast} times"
        );
    }
}

/// Past one buffer (65 536 events) the full buffer goes to the agent's writer thread: the
/// program's thread still allocates nothing.
#[test]
fn a_hundred_thousand_calls_allocate_nothing() {
    for opt in OPTS {
        let (_wd, p) = noalloc_case(opt).run();
        p.assert_same_behaviour();
        let (_, _, flushing) = allocs(&p.agent.stderr);
        assert_eq!(
            flushing, 0,
            "-{opt}: 10^5 hooked calls allocated {flushing} times"
        );
    }
}

#[test]
fn plain_fixture_sanity() {
    check_exact("env_basic", |c| c);
}
