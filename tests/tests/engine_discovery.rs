//! Engine, discovery: which functions a configured `symbol` finds (Fortran, C++, Rust names,
//! compiler clones), libraries loaded late, and functions another tool already patched.

use scope_tests::engine::{check_exact, engine_bin, engine_file, Case, OPTS};
use scope_tests::Cmd;
use std::collections::BTreeMap;

fn want(pairs: &[(&str, usize)]) -> BTreeMap<String, usize> {
    pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect()
}

#[test]
fn fortran_external_and_module_procedures() {
    for opt in OPTS {
        let (_wd, p) = Case::new("disc_fortran", opt)
            .regions(&["extwork", "physics::step"])
            .run();
        p.assert_same_behaviour().assert_no_refusals();
        p.assert_counts(&want(&[("extwork", 100), ("physics::step", 100)]));
    }
}

#[test]
fn cxx_mangled_and_demangled_names() {
    check_exact("disc_cxx", |c| c);
}

#[test]
fn rust_legacy_mangling() {
    check_exact("disc_rust", |c| c);
}

#[test]
fn rust_v0_mangling_free_function() {
    check_exact("disc_rust", |c| {
        c.variant("disc_rust.v0")
            .regions(&["disc_rust::solver::step"])
    });
}

#[test]
fn rust_v0_mangling_method() {
    check_exact("disc_rust", |c| c.variant("disc_rust.v0"));
}

/// Local function symbols of a binary whose name starts with `prefix` (from `nm`).
fn symbols_with_prefix(bin: &std::path::Path, prefix: &str) -> Vec<String> {
    let out = Cmd::new("nm").arg(bin).run();
    out.assert_success("nm");
    out.stdout
        .lines()
        .filter_map(|l| l.split_whitespace().nth(2))
        .filter(|s| s.starts_with(prefix))
        .map(str::to_string)
        .collect()
}

#[test]
fn compiler_clones_only_when_named() {
    for opt in OPTS {
        let bin = engine_bin("disc_clones", opt);
        let mut names = Vec::new();
        for f in ["scale", "sum_field"] {
            let syms = symbols_with_prefix(&bin, f);
            let clone = syms.iter().find(|s| s.contains('.'));
            match clone {
                Some(c) => names.push((f, c.clone())),
                None => {
                    assert!(
                        syms.iter().any(|s| s == f),
                        "-{opt}: no {f} at all: {syms:?}"
                    );
                    eprintln!("disc_clones -{opt}: skipped part: gcc made no clone of {f}");
                }
            }
        }
        // Configured by the clone's own name: hooked, exact counts.
        let clones: Vec<&str> = names.iter().map(|(_, c)| c.as_str()).collect();
        if !clones.is_empty() {
            let (_wd, p) = Case::new("disc_clones", opt).regions(&clones).run();
            p.assert_same_behaviour().assert_no_refusals();
            let expect = p.expect();
            let w: BTreeMap<String, usize> =
                names.iter().map(|(f, c)| (c.clone(), expect[*f])).collect();
            p.assert_counts(&w);
        }
        // Configured by the plain name: a clone is never picked up.
        let (_wd, p) = Case::new("disc_clones", opt)
            .regions(&["scale", "sum_field"])
            .run();
        p.assert_same_behaviour().assert_no_refusals();
        let expect = p.expect();
        let w: BTreeMap<String, usize> = ["scale", "sum_field"]
            .iter()
            .filter(|f| !names.iter().any(|(g, _)| g == *f))
            .map(|f| (f.to_string(), expect[*f]))
            .collect();
        p.assert_counts(&w);
    }
}

#[test]
fn dlopen_from_main_and_worker_then_dlclose_and_dlopen_again() {
    let lib = engine_file("dl_lib.so");
    check_exact("disc_dlopen", |c| c.arg(&lib));
}

#[test]
fn a_function_already_patched_by_another_tool_is_refused() {
    for opt in OPTS {
        let (_wd, p) = Case::new("disc_prepatched", opt).run();
        p.assert_same_behaviour()
            .assert_refused("prepatched", "already starts with a jump");
        p.assert_counts(&want(&[("ordinary", 500)]));
    }
}
