//! Engine, aarch64 back end: the engine fixtures cross-built for aarch64
//! (`tests/fixtures/build-aarch64.sh`: the portable ones of `tests/fixtures/engine/` and the
//! aarch64-only ones of `tests/fixtures/engine-aarch64/`), run under qemu-user with and without
//! the aarch64 agent at -O0, -O2 and -O3 ([`Case::aarch64`]): same stdout and exit status, and
//! recorded calls equal to the calls the program counted (its EXPECT lines), as the x86-64
//! `engine_*` suites check (interceptor.md, "Behaviours the engine must get right" and
//! "aarch64").

use scope_format::ProfileReader;
use scope_tests::engine::{check_exact, engine_file_aarch64, Case, Pair, OPTS};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// [`check_exact`] on the aarch64 build.
fn exact(name: &str, configure: impl Fn(Case) -> Case) {
    check_exact(name, |c| configure(c.aarch64()));
}

/// Same behaviour and every entered call recorded (frames left by longjmp, unwinding or exit are
/// recorded ending when the agent sees them gone); refusals not allowed.
fn lenient(name: &str, configure: impl Fn(Case) -> Case) {
    for opt in OPTS {
        let (_wd, p) = configure(Case::new(name, opt).aarch64()).run();
        p.assert_same_behaviour().assert_no_refusals();
        p.assert_counts(&p.expect());
    }
}

fn want(pairs: &[(&str, usize)]) -> BTreeMap<String, usize> {
    pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect()
}

/// The plain run exited 0 and its stdout has `line` (the fixture's own result checks passed, so
/// the comparison with the agent's run compares right answers).
fn assert_plain_ok(p: &Pair, line: &str) {
    assert_eq!(p.plain.code(), 0, "{}: plain run\n{}", p.label, p.plain);
    assert!(
        p.plain.stdout.contains(line),
        "{}: plain stdout lacks {line:?}\n{}",
        p.label,
        p.plain
    );
}

// ---------------------------------------------------------------------------------------------
// Prologues (a64_prologues.c: one group of hand-written functions per test)

/// The functions of one group of a64_prologues, hooked together: no refusal, exact counts, and
/// the group's line says that no call gave a wrong result.
fn prologue_group(group: &str, regions: &[&str]) {
    prologue_group_with(group, regions, |c| c);
}

fn prologue_group_with(group: &str, regions: &[&str], configure: impl Fn(Case) -> Case) {
    for opt in OPTS {
        let (_wd, p) = configure(Case::new("a64_prologues", opt).aarch64())
            .regions(regions)
            .run();
        assert_plain_ok(&p, &format!("{group}: 1000 calls, 0 wrong"));
        p.assert_same_behaviour()
            .assert_no_refusals()
            .assert_counts_match_expect();
    }
}

const PCREL: &[&str] = &[
    "adrp_add",
    "adrp_ldr",
    "adrp_split",
    "adr_first",
    "adr_self",
    "ldr_lit_w",
    "ldr_lit_x",
    "ldr_lit_s",
    "ldr_lit_d",
    "ldr_lit_q",
    "ldrsw_lit",
    "prfm_lit",
    "lit_late",
];

const BRANCH: &[&str] = &[
    "bcond_out",
    "bcond_in",
    "cbz_in",
    "cbnz_out",
    "cbz_w",
    "tbz_in",
    "tbnz_hi",
    "tbnz_w",
    "b_first",
];

#[test]
fn pc_relative_adrp_adr_and_literal_loads_in_the_window() {
    prologue_group("pcrel", PCREL);
}

#[test]
fn b_cond_cbz_cbnz_tbz_tbnz_and_b_in_the_window_taken_and_not_taken() {
    prologue_group("branch", BRANCH);
}

/// `SCOPE_AARCH64_FAR=1`: the 16-byte far patch (`ldr x16, #8; br x16; .quad stub`), which a
/// process with no free memory within `b` reach of a function gets; its window is four
/// instructions, so every PC-relative and branch form of the groups above is relocated,
/// including the ones at offset 12.
fn far(c: Case) -> Case {
    c.env("SCOPE_AARCH64_FAR", "1")
}

#[test]
fn far_patch_relocates_four_instruction_windows() {
    prologue_group_with("pcrel", PCREL, far);
    prologue_group_with("branch", BRANCH, far);
    // A call inside the window but not its last instruction would return into the copy,
    // where no unwind information is: refused with the reason.
    for opt in OPTS {
        let (_wd, p) = far(Case::new("a64_prologues", opt).aarch64())
            .regions(&["bl_second"])
            .run();
        p.assert_same_behaviour().assert_refused(
            "bl_second",
            "would return into the relocated copy of the first 16 bytes",
        );
    }
}

#[test]
fn far_patch_cxx_exceptions_recursion_and_backtrace() {
    lenient("ret_cxx_exc", far);
    exact("ret_recursion", |c| far(c).arg("2000"));
    exact("ret_backtrace", far);
}

#[test]
fn far_patch_is_refused_on_bti_guarded_pages_with_the_reason() {
    // The way back from the relocated window would be a `br` onto an instruction that is no
    // landing pad: refused, and the program runs as without the agent.
    let (_wd, p) = far(Case::new("a64_bti", "O2").aarch64()).run();
    p.assert_same_behaviour();
    if p.plain.stdout.contains("before=1") {
        p.assert_refused("bti_leaf", "BTI-guarded");
    }
}

#[test]
fn bl_inside_the_window() {
    prologue_group("bl", &["bl_second"]);
}

#[test]
fn bl_as_the_first_instruction_of_a_function_left_by_longjmp() {
    // bl_first never returns (its BL's callee longjmps to main): 1000 entries, all recorded.
    for opt in OPTS {
        let (_wd, p) = Case::new("a64_prologues", opt)
            .aarch64()
            .regions(&["bl_first"])
            .run();
        assert_plain_ok(&p, "bl: 1000 calls, 0 wrong");
        p.assert_same_behaviour().assert_no_refusals();
        assert_eq!(p.returned().get("bl_first"), Some(&0), "{}", p.plain);
        p.assert_counts(&want(&[("bl_first", 1000)]));
    }
}

#[test]
fn leaf_functions_without_a_frame() {
    // `add x0, x0, #1; ret` followed at once by another symbol, C leaves (a lone `ret` at -O2
    // for leaf_empty), and the symbol right after a one-instruction function: hooked exactly.
    // The one-instruction ones (`ret_only`, and leaf_empty at -O2/-O3) fit a single `b`: hooked
    // exactly, or refused with a message (never an overwrite of the next symbol).
    for opt in OPTS {
        let (_wd, p) = Case::new("a64_prologues", opt)
            .aarch64()
            .regions(&[
                "leaf_noframe",
                "ret_only",
                "after_ret_only",
                "leaf_c",
                "leaf_empty",
            ])
            .run();
        assert_plain_ok(&p, "leaf: 1000 calls, 0 wrong");
        p.assert_same_behaviour();
        let mut w = p.expect();
        w.retain(|k, _| {
            [
                "leaf_noframe",
                "ret_only",
                "after_ret_only",
                "leaf_c",
                "leaf_empty",
            ]
            .contains(&k.as_str())
        });
        for sym in ["leaf_noframe", "after_ret_only", "leaf_c"] {
            assert!(
                p.refusal(sym).is_none(),
                "-{opt}: {sym} refused\n{}",
                p.agent
            );
        }
        for sym in ["ret_only", "leaf_empty"] {
            if let Some(line) = p.refusal(sym) {
                eprintln!("a64_prologues -{opt}: {sym} refused: {line}");
                w.remove(sym);
            }
        }
        p.assert_counts(&w);
    }
}

#[test]
fn branch_back_into_the_first_16_bytes_is_refused_or_hooked_exactly() {
    // loop_back4: back-edge from offset 24 to offset 4; loop_to_entry: from offset 24 to offset
    // 0 (the patched instruction: hooking it naively counts every iteration as a call). Each is
    // refused with a message or recorded exactly; `plain` beside them is hooked exactly.
    for opt in OPTS {
        let (_wd, p) = Case::new("a64_prologues", opt)
            .aarch64()
            .regions(&["loop_back4", "loop_to_entry", "plain"])
            .run();
        assert_plain_ok(&p, "backedge: 1000 calls, 0 wrong");
        p.assert_same_behaviour();
        let mut w = want(&[
            ("loop_back4", 1000),
            ("loop_to_entry", 1000),
            ("plain", 1000),
        ]);
        for sym in ["loop_back4", "loop_to_entry"] {
            if let Some(line) = p.refusal(sym) {
                eprintln!("a64_prologues -{opt}: {sym} refused: {line}");
                w.remove(sym);
            }
        }
        assert!(p.refusal("plain").is_none(), "-{opt}: plain refused");
        p.assert_counts(&w);
    }
}

#[test]
fn aliases_are_hooked_once() {
    exact("prologue_alias", |c| c);
    for opt in OPTS {
        let (_wd, p) = Case::new("prologue_alias", opt)
            .aarch64()
            .regions(&["work_weak"])
            .run();
        p.assert_same_behaviour().assert_no_refusals();
        p.assert_counts(&want(&[("work_weak", 900)]));
    }
}

// ---------------------------------------------------------------------------------------------
// PAC and BTI

#[test]
fn bti_and_pac_landing_pads_stay_and_indirect_calls_work() {
    // a64_bti_lib.so is BTI-guarded (an indirect branch must land on bti c / paciasp / pacibsp)
    // and its non-leaf functions sign and authenticate LR. stdout says whether the `bti c`
    // functions still start with it, whether each entry is still a landing pad, and whether the
    // library's pages are still guarded after the hooked calls.
    exact("a64_bti", |c| c);
    for opt in OPTS {
        let (_wd, p) = Case::new("a64_bti", opt).aarch64().run();
        assert_plain_ok(&p, "wrong: 0,");
        p.print_skips();
        if p.plain.stdout.contains("before=1") {
            assert!(
                p.agent.stdout.contains("before=1 after=1"),
                "-{opt}: the library's pages are no longer BTI-guarded after patching\n{}",
                p.agent
            );
        }
        for f in ["bti_leaf", "asm_bti_adrp", "asm_bti_pac"] {
            assert!(
                p.agent
                    .stdout
                    .contains(&format!("{f}: landing pad at entry: yes, bti c first: yes")),
                "-{opt}: {f} no longer starts with bti c\n{}",
                p.agent
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Registers

#[test]
fn every_register_survives_a_hooked_call() {
    // x0-x15, x18-x29, SP, v0-v31 (128 bits), FPCR; fast path, slow path (a new thread's first
    // call, buffer flushes).
    exact("a64_regs", |c| c.arg("gpr"));
}

#[test]
fn nzcv_and_fpsr_survive_a_hooked_call() {
    exact("a64_regs", |c| c.arg("flags"));
}

#[test]
fn sve_z_p_and_ffr_survive_a_hooked_variant_pcs_call() {
    // Skipped by the fixture (SKIPPED line, nothing called) where the CPU has no SVE; qemu's
    // default CPU has it (512-bit vectors).
    exact("a64_regs", |c| c.arg("sve"));
}

#[test]
fn ipa_ra_callers_keep_values_in_caller_saved_registers() {
    exact("regs_ipara", |c| c);
}

#[test]
fn ten_doubles_eight_longs_and_variadic_calls() {
    exact("regs_args", |c| c);
}

#[test]
fn returns_in_x0_x1_v0_v3_quad_long_double_and_x8_memory() {
    exact("regs_returns", |c| c);
}

#[test]
fn stack_pointer_and_stack_arguments() {
    exact("a64_stack", |c| c);
    let (_wd, p) = Case::new("a64_stack", "O2").aarch64().run();
    assert!(
        p.agent.stdout.starts_with("sp_delta_ok=1000 "),
        "{}",
        p.agent
    );
}

#[test]
fn static_chain_in_x18() {
    exact("a64_chain", |c| c);
}

#[test]
fn errno_fpcr_rounding_mode_and_fpsr_flags() {
    exact("a64_fenv", |c| c);
    for opt in OPTS {
        let (_wd, p) = Case::new("a64_fenv", opt).aarch64().run();
        assert!(
            p.agent
                .stdout
                .starts_with("errno_ok=20000 mode_ok=20000 fz_ok=20000 flags_clean=20000 "),
            "-{opt}: {}",
            p.agent.stdout
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Return path

#[test]
fn tail_calls_out_of_hooked_functions() {
    exact("ret_tailcall", |c| c);
}

#[test]
fn recursion_10000_deep() {
    exact("ret_recursion", |c| c);
}

#[test]
fn recursion_past_the_shadow_stack_passes_through_and_counts_drops() {
    for opt in OPTS {
        let (_wd, p) = Case::new("ret_recursion", opt).aarch64().arg("20000").run();
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
fn longjmp_and_siglongjmp_out_of_hooked_frames_do_no_harm() {
    lenient("ret_longjmp", |c| c);
}

#[test]
fn longjmp_abandoned_frames_are_recorded() {
    exact("ret_longjmp", |c| c);
}

#[test]
fn cxx_exceptions_through_distinct_hooked_frames() {
    for opt in OPTS {
        let (_wd, p) = Case::new("ret_cxx_exc", opt)
            .aarch64()
            .regions(&["catcher", "rethrower", "cleanup", "in_dtor"])
            .run();
        p.assert_same_behaviour().assert_no_refusals();
        let mut w = p.expect();
        w.remove("thrower");
        p.assert_counts(&w);
    }
}

#[test]
fn cxx_exceptions_through_recursive_hooked_frames() {
    exact("ret_cxx_exc", |c| c);
}

#[test]
fn rust_panic_caught_by_catch_unwind() {
    exact("ret_rust_panic", |c| c);
}

#[test]
fn pthread_exit_and_cancel_inside_hooked_frames() {
    exact("ret_pthread_exit", |c| c);
}

#[test]
fn exit_inside_a_hooked_function_records_the_open_frames() {
    exact("ret_exit", |c| c.arg("exit"));
    let (_wd, p) = Case::new("ret_exit", "O2").aarch64().arg("exit").run();
    assert_eq!(p.agent.code(), 3, "{}", p.agent);
}

#[test]
fn abort_inside_a_hooked_function_dies_the_same_way() {
    for opt in OPTS {
        let (_wd, p) = Case::new("ret_exit", opt).aarch64().arg("abort").run();
        p.assert_same_behaviour();
    }
}

#[test]
fn fortran_stop_inside_a_hooked_procedure_still_writes_the_output() {
    lenient("ret_stop", |c| c);
}

#[test]
fn backtrace_through_hooked_frames() {
    exact("ret_backtrace", |c| c);
}

// ---------------------------------------------------------------------------------------------
// Threads, signals, processes

#[test]
fn threads_32_lose_nothing() {
    // 32 threads x 10^5 calls (a tenth of the x86-64 test's -O2 size; qemu is slower).
    let calls: u64 = 100_000;
    for opt in OPTS {
        let (_wd, p) = Case::new("thr_many", opt)
            .aarch64()
            .arg("32")
            .arg(calls.to_string())
            .regions(&["tick"])
            .timeout(Duration::from_secs(120))
            .run();
        p.assert_same_behaviour().assert_no_refusals();
        let r = ProfileReader::open(&p.profile).expect("open profile");
        assert_eq!(
            r.count(0, "tick").expect("count") as u64,
            32 * calls,
            "-{opt}: recorded calls"
        );
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
    }
}

#[test]
fn openmp_4_threads_exact_per_thread_counts() {
    for opt in OPTS {
        let (_wd, p) = Case::new("thr_openmp", opt)
            .aarch64()
            .env("OMP_NUM_THREADS", "4")
            .run();
        p.assert_same_behaviour()
            .assert_no_refusals()
            .assert_counts_match_expect();
        let prof = p.profile();
        let iv = prof.intervals(0, "omp_work");
        let mut per: BTreeMap<i64, usize> = BTreeMap::new();
        for t in &iv.thread_ids {
            *per.entry(*t).or_default() += 1;
        }
        let mut counts: Vec<usize> = per.values().copied().collect();
        counts.sort_unstable();
        assert_eq!(
            counts,
            vec![1000, 2000, 3000, 4000],
            "-{opt}: per-thread counts {per:?}"
        );
    }
}

#[test]
fn signal_handlers_calling_hooked_functions() {
    // Inside a hooked call, on a sigaltstack, as a thread's first hooked call.
    for mode in ["nested", "altstack", "firstcall"] {
        exact("sig_nested", |c| c.arg(mode));
    }
}

#[test]
fn timer_signals_interrupting_hooked_calls_lose_nothing() {
    exact("sig_nested", |c| c.arg("nested").arg("timer"));
    exact("sig_nested", |c| c.arg("altstack").arg("timer"));
}

#[test]
fn thread_teardown_calls_are_recorded() {
    for opt in OPTS {
        let (_wd, p) = Case::new("thr_teardown", opt).aarch64().run();
        p.assert_same_behaviour();
        p.assert_counts(&p.expect());
    }
}

#[test]
fn fork_parent_records_exactly_and_the_child_keeps_working() {
    for opt in OPTS {
        let (_wd, p) = Case::new("proc_fork", opt).aarch64().arg("exit").run();
        p.assert_same_behaviour().assert_no_refusals();
        let pids = p
            .agent
            .stderr
            .lines()
            .find_map(|l| l.strip_prefix("PIDS "))
            .expect("PIDS line");
        let parent: i64 = pids.split(' ').next().unwrap().parse().unwrap();
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
        assert_eq!(
            by_pid.get(&parent),
            Some(&20),
            "-{opt}: parent's file {by_pid:?}"
        );
    }
}

#[test]
fn vfork_and_posix_spawn_inside_hooked_frames() {
    exact("proc_vfork", |c| c);
}

// ---------------------------------------------------------------------------------------------
// Discovery, environment

#[test]
fn dlopen_from_main_and_worker_then_dlclose_and_dlopen_again() {
    let lib = engine_file_aarch64("dl_lib.so");
    exact("disc_dlopen", |c| c.arg(&lib));
}

#[test]
fn fortran_external_and_module_procedures() {
    for opt in OPTS {
        let (_wd, p) = Case::new("disc_fortran", opt)
            .aarch64()
            .regions(&["extwork", "physics::step"])
            .run();
        p.assert_same_behaviour().assert_no_refusals();
        p.assert_counts(&want(&[("extwork", 100), ("physics::step", 100)]));
    }
}

#[test]
fn cxx_mangled_and_demangled_names() {
    exact("disc_cxx", |c| c);
}

#[test]
fn rust_legacy_and_v0_mangling() {
    exact("disc_rust", |c| c);
    exact("disc_rust", |c| c.variant("disc_rust.v0"));
}

#[test]
fn the_hot_path_allocates_nothing() {
    for opt in OPTS {
        let (_wd, p) = Case::new("hot_noalloc", opt)
            .aarch64()
            .regions(&["hot"])
            .preload_after(engine_file_aarch64("alloc_count.so"))
            .run();
        p.assert_same_behaviour()
            .assert_no_refusals()
            .assert_counts_match_expect();
        let line = p
            .agent
            .stderr
            .lines()
            .find_map(|l| l.strip_prefix("ALLOCS "))
            .unwrap_or_else(|| panic!("-{opt}: no ALLOCS line\n{}", p.agent));
        let get = |k: &str| -> u64 {
            line.split(' ')
                .find_map(|kv| kv.strip_prefix(k)?.strip_prefix('=')?.parse().ok())
                .unwrap_or_else(|| panic!("no {k} in {line}"))
        };
        assert!(
            get("control") >= 2,
            "-{opt}: the counting shim is not active"
        );
        assert_eq!(get("fast"), 0, "-{opt}: the fast path allocated");
        assert_eq!(get("flushing"), 0, "-{opt}: the flushing path allocated");
    }
}

#[test]
fn static_executable_runs_unchanged_and_nothing_is_written() {
    for opt in OPTS {
        let (_wd, p) = Case::new("env_static", opt)
            .aarch64()
            .regions(&["compute"])
            .run();
        p.assert_same_behaviour();
        assert!(
            p.result_files().is_empty(),
            "-{opt}: {:?}",
            p.result_files()
        );
    }
}

#[test]
fn plain_fixture_sanity() {
    let started = Instant::now();
    exact("env_basic", |c| c);
    eprintln!(
        "env_basic (aarch64): 3 -O levels, both runs, {:.1} s",
        started.elapsed().as_secs_f64()
    );
}
