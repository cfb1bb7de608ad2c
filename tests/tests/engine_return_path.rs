//! Engine, return path: recursion, tail calls, and frames left without a normal return
//! (longjmp, exceptions, panics, thread exit/cancel, exit/STOP/abort, backtrace()).
//! Frames that never return normally are recorded ending when the agent sees them gone (the
//! next return below them, a catch, thread exit, or process exit): the "do no harm" tests check
//! the program's behaviour and that every entered call is recorded; the strict tests check the
//! exact expectations; `#[ignore]`d ones state goals not reached yet.

use scope_tests::engine::{check_exact, Case, OPTS};

/// Same behaviour with and without the agent, and every call entered is recorded: those that
/// returned, and those left by longjmp/unwinding/exit (recorded ending when the agent saw them
/// gone).
fn lenient(name: &str, configure: impl Fn(Case) -> Case) {
    for opt in OPTS {
        let (_wd, p) = configure(Case::new(name, opt)).run();
        p.assert_same_behaviour().assert_no_refusals();
        p.assert_counts(&p.expect());
    }
}

#[test]
fn recursion_10000_deep() {
    check_exact("ret_recursion", |c| c);
}

#[test]
fn recursion_past_the_shadow_stack_passes_through_and_counts_drops() {
    for opt in OPTS {
        let (_wd, p) = Case::new("ret_recursion", opt).arg("20000").run();
        p.assert_same_behaviour().assert_no_refusals();
        let prof = p.profile();
        let recorded = prof.intervals(0, "rec").len() as i64;
        let dropped = prof.rank_attrs[&0].dropped_events;
        assert_eq!(
            recorded + dropped,
            60000,
            "-{opt}: recorded {recorded} + dropped {dropped}"
        );
        assert_eq!(dropped, 3 * (20000 - 16384), "-{opt}: dropped_events");
    }
}

#[test]
fn tail_calls_out_of_hooked_functions() {
    check_exact("ret_tailcall", |c| c);
}

#[test]
fn longjmp_and_siglongjmp_out_of_hooked_frames_do_no_harm() {
    lenient("ret_longjmp", |c| c);
}

#[test]
fn longjmp_abandoned_frames_are_recorded() {
    check_exact("ret_longjmp", |c| c);
}

#[test]
fn cxx_exceptions_through_distinct_hooked_frames() {
    // catcher, rethrower, cleanup and in_dtor are each one frame per exception.
    for opt in OPTS {
        let (_wd, p) = Case::new("ret_cxx_exc", opt)
            .regions(&["catcher", "rethrower", "cleanup", "in_dtor"])
            .run();
        p.assert_same_behaviour().assert_no_refusals();
        let mut want = p.expect();
        want.remove("thrower");
        p.assert_counts(&want);
    }
}

#[test]
fn cxx_exceptions_through_recursive_hooked_frames() {
    check_exact("ret_cxx_exc", |c| c);
}

#[test]
fn rust_panic_caught_by_catch_unwind_does_no_harm() {
    lenient("ret_rust_panic", |c| c);
}

#[test]
fn rust_panic_unwound_frames_are_recorded() {
    check_exact("ret_rust_panic", |c| c);
}

#[test]
fn pthread_exit_and_cancel_inside_hooked_frames_do_no_harm() {
    lenient("ret_pthread_exit", |c| c);
}

#[test]
fn pthread_exit_and_cancel_frames_are_recorded() {
    check_exact("ret_pthread_exit", |c| c);
}

#[test]
fn exit_inside_a_hooked_function_still_writes_the_output() {
    lenient("ret_exit", |c| c.arg("exit"));
    let (_wd, p) = Case::new("ret_exit", "O2").arg("exit").run();
    assert_eq!(p.agent.code(), 3, "{}", p.agent);
}

#[test]
fn exit_inside_a_hooked_function_records_the_open_frames() {
    check_exact("ret_exit", |c| c.arg("exit"));
}

#[test]
fn abort_inside_a_hooked_function_dies_the_same_way() {
    for opt in OPTS {
        let (_wd, p) = Case::new("ret_exit", opt).arg("abort").run();
        p.assert_same_behaviour();
        eprintln!(
            "ret_exit abort -{opt}: result files {:?} (none expected: no atexit on abort)",
            p.result_files()
        );
    }
}

#[test]
fn fortran_stop_inside_a_hooked_procedure_still_writes_the_output() {
    lenient("ret_stop", |c| c);
}

#[test]
fn backtrace_through_hooked_frames() {
    check_exact("ret_backtrace", |c| c);
}

#[test]
fn backtrace_under_hooked_frames_does_not_crash() {
    for opt in OPTS {
        let (_wd, p) = Case::new("ret_backtrace", opt).run();
        assert_eq!(p.plain.status, p.agent.status, "{}", p.agent);
        p.assert_counts_match_expect();
    }
}
