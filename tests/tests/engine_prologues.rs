//! Engine, prologues: what the first bytes of a hooked function may hold. Every fixture runs at
//! -O0, -O2 and -O3 with and without the agent: same stdout and exit status, exact counts, or a
//! refusal message where the engine must refuse (interceptor.md, "Behaviours the engine must
//! get right").

use scope_tests::engine::{check_exact, Case, OPTS};
use std::collections::BTreeMap;

#[test]
fn rip_relative_lea_mov_cmp_vex_evex_in_the_window() {
    check_exact("prologue_riprel", |c| c);
}

#[test]
fn jcc_rel8_and_jrcxz_in_the_window() {
    check_exact("prologue_jcc", |c| c);
}

#[test]
fn call_in_the_window_relocated_or_springboard() {
    check_exact("prologue_call", |c| c);
}

#[test]
fn back_edge_into_the_window_is_refused() {
    for opt in OPTS {
        let (_wd, p) = Case::new("prologue_backedge", opt)
            .regions(&["loop_back", "plain"])
            .run();
        p.assert_same_behaviour()
            .assert_refused("loop_back", "inside the 5 bytes the patch overwrites");
        p.assert_counts(&BTreeMap::from([("plain".to_string(), 1000)]));
    }
}

#[test]
fn cold_fragment_jumping_into_the_window_is_refused_or_works() {
    for opt in OPTS {
        let (_wd, p) = Case::new("prologue_backedge", opt)
            .regions(&["cold_body"])
            .run();
        p.assert_same_behaviour();
        if p.refusal("cold_body").is_none() {
            p.assert_counts(&BTreeMap::from([("cold_body".to_string(), 1000)]));
        }
    }
}

#[test]
fn functions_of_1_to_5_bytes_hooked_through_padding_or_refused() {
    for opt in OPTS {
        let (_wd, p) = Case::new("prologue_tiny", opt).run();
        p.assert_same_behaviour();
        // Followed at once by another symbol: nothing after it may be overwritten.
        p.assert_refused("tiny1_next", "shorter than the 5-byte patch");
        // The others: refused with the reason, or hooked with exact counts.
        let mut want = p.expect();
        for sym in want.clone().keys() {
            if let Some(line) = p.refusal(sym) {
                assert!(
                    line.contains("shorter than"),
                    "{sym}: unexpected refusal {line}"
                );
                eprintln!("prologue_tiny -{opt}: {sym} refused: {line}");
                want.remove(sym);
            }
        }
        p.assert_counts(&want);
    }
}

#[test]
fn endbr64_stays_in_place_and_indirect_calls_work() {
    check_exact("prologue_endbr", |c| c);
    for opt in OPTS {
        let (_wd, p) = Case::new("prologue_endbr", opt).run();
        assert!(
            p.agent.stdout.contains("endbr_work=1 endbr_other=1"),
            "-{opt}: the functions no longer start with endbr64 under the agent\n{}",
            p.agent
        );
    }
}

#[test]
fn stack_protector_fs_0x28_in_the_window() {
    check_exact("prologue_stackprot", |c| c);
}

#[test]
fn ifunc_in_a_library_libm_cos() {
    check_exact("prologue_ifunc", |c| c.regions(&["cos"]));
}

#[test]
fn ifunc_in_the_executable() {
    check_exact("prologue_ifunc", |c| c.regions(&["pick"]));
}

#[test]
fn aliases_are_hooked_once() {
    // Three regions on one address: each records every call once (a second patch would
    // double the counts or crash).
    check_exact("prologue_alias", |c| c);
    // One region: calls through every name land in it.
    for opt in OPTS {
        let (_wd, p) = Case::new("prologue_alias", opt)
            .regions(&["work_weak"])
            .run();
        p.assert_same_behaviour().assert_no_refusals();
        p.assert_counts(&BTreeMap::from([("work_weak".to_string(), 900)]));
    }
}
