//! Engine, threads and signals: per-thread buffers and ids, many threads, signal handlers that
//! call hooked functions, thread/process teardown, fork, vfork and posix_spawn.

use scope_format::ProfileReader;
use scope_tests::engine::{check_exact, parse_lines, Case, OPTS};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

#[test]
fn openmp_4_threads_exact_per_thread_counts() {
    for opt in OPTS {
        let (_wd, p) = Case::new("thr_openmp", opt)
            .env("OMP_NUM_THREADS", "4")
            .run();
        p.assert_same_behaviour()
            .assert_no_refusals()
            .assert_counts_match_expect();
        let prof = p.profile();
        let iv = prof.intervals(0, "omp_work");
        assert_eq!(iv.thread_ids.len(), iv.len(), "-{opt}: thread_ids column");
        let mut per: BTreeMap<i64, usize> = BTreeMap::new();
        for t in &iv.thread_ids {
            *per.entry(*t).or_default() += 1;
        }
        assert_eq!(
            per.keys().copied().collect::<Vec<_>>(),
            vec![0, 1, 2, 3],
            "-{opt}: ids"
        );
        let mut counts: Vec<usize> = per.values().copied().collect();
        counts.sort_unstable();
        assert_eq!(
            counts,
            vec![1000, 2000, 3000, 4000],
            "-{opt}: per-thread counts {per:?}"
        );
    }
}

/// Calls per thread for the 32-thread test at -O2 (`SCOPE_ENGINE_CALLS`, default 10^6);
/// -O0 and -O3 run a tenth of it.
fn calls_per_thread() -> u64 {
    std::env::var("SCOPE_ENGINE_CALLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000)
}

#[test]
fn threads_32_lose_nothing() {
    for opt in OPTS {
        let calls = if opt == "O2" {
            calls_per_thread()
        } else {
            calls_per_thread() / 10
        };
        let started = Instant::now();
        let (_wd, p) = Case::new("thr_many", opt)
            .arg("32")
            .arg(calls.to_string())
            .regions(&["tick"])
            .timeout(Duration::from_secs(120))
            .run();
        p.assert_same_behaviour().assert_no_refusals();
        let r = ProfileReader::open(&p.profile).expect("open profile");
        let n = r.count(0, "tick").expect("count");
        assert_eq!(n as u64, 32 * calls, "-{opt}: recorded calls");
        assert_eq!(
            r.rank_attrs(0).expect("attrs").dropped_events,
            0,
            "-{opt}: dropped"
        );
        let mut per: BTreeMap<i64, u64> = BTreeMap::new();
        r.for_each_chunk::<scope_format::FormatError, _>(0, "tick", 1 << 20, |s, e, t| {
            assert_eq!(t.len(), s.len(), "thread_ids column");
            for ((s, e), t) in s.iter().zip(e).zip(t) {
                assert!(s <= e, "start {s} > end {e}");
                *per.entry(*t).or_default() += 1;
            }
            Ok(())
        })
        .expect("read");
        assert_eq!(per.len(), 32, "-{opt}: thread ids {:?}", per.keys());
        assert!(
            per.values().all(|c| *c == calls),
            "-{opt}: per-thread counts {per:?}"
        );
        eprintln!(
            "thr_many -{opt}: 32 threads x {calls} calls recorded exactly ({:.1} s for both runs and the check)",
            started.elapsed().as_secs_f64()
        );
    }
}

#[test]
fn signal_handler_calls_a_hooked_function_inside_one() {
    check_exact("sig_nested", |c| c.arg("nested"));
}

#[test]
fn signal_handler_on_a_sigaltstack() {
    check_exact("sig_nested", |c| c.arg("altstack"));
}

#[test]
fn signal_handler_makes_the_threads_first_hooked_call() {
    check_exact("sig_nested", |c| c.arg("firstcall"));
}

#[test]
fn timer_signals_interrupting_hooked_calls_lose_nothing() {
    check_exact("sig_nested", |c| c.arg("nested").arg("timer"));
    check_exact("sig_nested", |c| c.arg("altstack").arg("timer"));
}

#[test]
fn thread_teardown_calling_hooked_functions_does_no_harm() {
    for opt in OPTS {
        let (_wd, p) = Case::new("thr_teardown", opt).run();
        p.assert_same_behaviour().assert_no_refusals();
        let want = p.expect();
        let got = p.counts();
        assert_eq!(
            got.get("live_work"),
            want.get("live_work"),
            "-{opt}: live_work"
        );
        let late = got.get("late_work").copied().unwrap_or(0);
        assert!(
            late <= want["late_work"],
            "-{opt}: late_work {late} > {}",
            want["late_work"]
        );
        eprintln!(
            "thr_teardown -{opt}: late_work recorded {late} of {}",
            want["late_work"]
        );
    }
}

/// The agent retires a thread's state in the last round of pthread key destructors, so the
/// program's key and `thread_local` destructors are recorded.
#[test]
fn thread_teardown_calls_are_recorded() {
    for opt in OPTS {
        let (_wd, p) = Case::new("thr_teardown", opt).run();
        p.assert_same_behaviour();
        // The ELF destructor's call too: the agent's atexit handler is registered by its
        // constructor, which runs before the C runtime registers the ELF destructors' runner,
        // so it runs after them.
        p.assert_counts(&p.expect());
    }
}

fn fork_files(p: &scope_tests::engine::Pair) -> (i64, i64, BTreeMap<i64, usize>) {
    let pids = p
        .agent
        .stderr
        .lines()
        .find_map(|l| l.strip_prefix("PIDS "))
        .expect("PIDS line");
    let mut it = pids.split(' ').map(|v| v.parse::<i64>().unwrap());
    let (parent, child) = (it.next().unwrap(), it.next().unwrap());
    let mut by_pid = BTreeMap::new();
    for f in p.result_files() {
        let prof = scope_tests::Profile::open(&f);
        let n = prof
            .ranks
            .get(&0)
            .and_then(|r| r.get("work"))
            .map(|i| i.len())
            .unwrap_or(0);
        by_pid.insert(prof.rank_attrs[&0].pid, n);
    }
    (parent, child, by_pid)
}

#[test]
fn fork_parent_records_exactly_and_the_child_keeps_working() {
    for opt in OPTS {
        for how in ["exit", "_exit"] {
            let (_wd, p) = Case::new("proc_fork", opt).arg(how).run();
            p.assert_same_behaviour().assert_no_refusals();
            let (parent, _child, by_pid) = fork_files(&p);
            assert_eq!(
                by_pid.get(&parent),
                Some(&20),
                "-{opt} {how}: parent's file {by_pid:?}"
            );
        }
    }
}

#[test]
fn fork_child_records_only_its_own_calls() {
    for opt in OPTS {
        let (_wd, p) = Case::new("proc_fork", opt).arg("exit").run();
        p.assert_same_behaviour();
        let (_parent, child, by_pid) = fork_files(&p);
        assert_eq!(
            by_pid.get(&child).copied().unwrap_or(5),
            5,
            "-{opt}: child's file {by_pid:?}"
        );
    }
}

#[test]
fn vfork_and_posix_spawn_inside_hooked_frames() {
    check_exact("proc_vfork", |c| c);
}

#[test]
fn expect_lines_parse() {
    let m = parse_lines("EXPECT ns::f(long) 3\nnoise\nEXPECT a b 2\n", "EXPECT");
    assert_eq!(m.get("ns::f(long)"), Some(&3));
    assert_eq!(m.get("a b"), Some(&2));
}
