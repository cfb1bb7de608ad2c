//! Engine, registers: what the hook must leave exactly as it found it (at -O0, -O2 and -O3,
//! with and without the agent; exact counts).

use scope_tests::engine::{check_exact, Case, OPTS};

#[test]
fn every_register_survives_a_hooked_call() {
    // GPRs, xmm/ymm/zmm, k1-k7; fast path, slow path (first call of a thread, buffer flushes).
    check_exact("regs_preserve", |c| c);
}

#[test]
fn flags_survive_a_hooked_call() {
    check_exact("regs_preserve", |c| c.arg("flags"));
}

#[test]
fn ipa_ra_callers_keep_values_in_caller_saved_registers() {
    check_exact("regs_ipara", |c| c);
}

#[test]
fn ten_doubles_eight_longs_and_variadic_calls() {
    check_exact("regs_args", |c| c);
}

#[test]
fn returns_in_rax_rdx_xmm0_xmm1_st0_st1_and_memory() {
    check_exact("regs_returns", |c| c);
}

#[test]
fn errno_mxcsr_and_rounding_mode() {
    check_exact("regs_fenv", |c| c);
    for opt in OPTS {
        let (_wd, p) = Case::new("regs_fenv", opt).run();
        assert!(
            p.agent
                .stdout
                .starts_with("errno_ok=20000 mode_ok=20000 ftz_ok=20000"),
            "-{opt}: {}",
            p.agent.stdout
        );
    }
}

#[test]
fn stack_pointer_alignment_and_stack_arguments() {
    check_exact("regs_stack", |c| c);
    let (_wd, p) = Case::new("regs_stack", "O2").run();
    assert!(
        p.agent.stdout.starts_with("rsp_delta_ok=1000 aligned=1000"),
        "{}",
        p.agent.stdout
    );
}

#[test]
fn static_chain_in_r10() {
    check_exact("regs_chain", |c| c);
}

#[test]
fn m256_and_m512_arguments_across_the_slow_path() {
    // Parts the CPU cannot run are skipped by the fixture (printed as "skipped part").
    check_exact("regs_vector", |c| c);
}
