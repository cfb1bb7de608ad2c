//! Each matching rule of `SymbolPattern`, on symbol names real compilers produce
//! (g++ 12, gfortran 12, rustc 1.95 with legacy and v0 mangling).

use scope_config::{SymbolName, SymbolPattern};

fn hits(pattern: &str, raws: &[&str]) -> Vec<String> {
    let p = SymbolPattern::parse(pattern).expect("valid pattern");
    raws.iter()
        .map(|r| SymbolName::new(r))
        .filter(|n| p.matches(n))
        .map(|n| n.raw)
        .collect()
}

const CXX: &[&str] = &[
    "_Z4areadd",
    "_ZN3geo4areaEdd",
    "_ZN3geo4areaEi",
    "_Z10callhiddeni",
    "_Z2fpPFviEPFidE",
    "_ZN2ns3FooclEi",
    "_ZNK2ns3Foo3barEi",
    "_ZNK2ns3FooltERKS0_",
    "_Z5twiceIdET_S0_",
    "_Z5twiceIiET_S0_",
    "_ZN12_GLOBAL__N_16hiddenEi",
    "compute",
];

#[test]
fn demangling_of_real_names() {
    let d = |r: &str| SymbolName::new(r).demangled;
    assert_eq!(
        d("_ZN3geo4areaEdd").as_deref(),
        Some("geo::area(double, double)")
    );
    assert_eq!(
        d("_ZNK2ns3Foo3barEi").as_deref(),
        Some("ns::Foo::bar(int) const")
    );
    assert_eq!(d("_Z5twiceIiET_S0_").as_deref(), Some("twice<int>(int)"));
    assert_eq!(d("compute"), None);
    assert_eq!(d("__physics_MOD_step"), None);
    assert_eq!(d("_Znotmangled"), None);
    assert_eq!(
        d("_ZN7mycrate6solver4step17h0123456789abcdefE").as_deref(),
        Some("mycrate::solver::step")
    );
    assert_eq!(
        d("_RNvNtCsjrVPa4l567z_7mycrate6solver4step").as_deref(),
        Some("mycrate::solver::step")
    );
}

#[test]
fn rule1_raw_name() {
    assert_eq!(hits("_ZN3geo4areaEdd", CXX), ["_ZN3geo4areaEdd"]);
    assert_eq!(hits("compute", CXX), ["compute"]);
}

#[test]
fn rule2_full_demangled_name_with_any_spacing() {
    assert_eq!(hits("geo::area(double, double)", CXX), ["_ZN3geo4areaEdd"]);
    assert_eq!(hits("geo::area(double,double)", CXX), ["_ZN3geo4areaEdd"]);
    assert_eq!(hits("  geo :: area ( int )  ", CXX), ["_ZN3geo4areaEi"]);
    assert_eq!(hits("area(double, double)", CXX), ["_Z4areadd"]);
    assert_eq!(hits("ns::Foo::bar(int) const", CXX), ["_ZNK2ns3Foo3barEi"]);
    assert_eq!(
        hits("fp(void (*)(int), int (*)(double))", CXX),
        ["_Z2fpPFviEPFidE"]
    );
}

#[test]
fn rule3_without_parameters_every_overload() {
    assert_eq!(
        hits("geo::area", CXX),
        ["_ZN3geo4areaEdd", "_ZN3geo4areaEi"]
    );
    assert_eq!(hits("area", CXX), ["_Z4areadd"]);
    assert_eq!(hits("::area", CXX), ["_Z4areadd"]);
    assert_eq!(hits("ns::Foo::bar", CXX), ["_ZNK2ns3Foo3barEi"]);
    assert_eq!(hits("ns::Foo::operator()", CXX), ["_ZN2ns3FooclEi"]);
    assert_eq!(hits("ns::Foo::operator<", CXX), ["_ZNK2ns3FooltERKS0_"]);
    assert_eq!(hits("fp", CXX), ["_Z2fpPFviEPFidE"]);
    assert_eq!(
        hits("(anonymous namespace)::hidden", CXX),
        ["_ZN12_GLOBAL__N_16hiddenEi"]
    );
    assert_eq!(hits("twice<int>", CXX), ["_Z5twiceIiET_S0_"]);
    assert_eq!(hits("twice", CXX), ["_Z5twiceIdET_S0_", "_Z5twiceIiET_S0_"]);
    assert!(hits("geo", CXX).is_empty());
    assert!(hits("hidden", CXX).is_empty());
}

const RUST: &[&str] = &[
    "_ZN7mycrate6solver4step17h0123456789abcdefE",
    "_ZN7mycrate6use_it17h4055e7add9b31121E",
    "_RNvNtCsjrVPa4l567z_7mycrate6solver4step",
    "_RINvNtCsjrVPa4l567z_7mycrate6solver3genmEB4_",
];

#[test]
fn rule3_rust_paths() {
    let both = [RUST[0], RUST[2]];
    assert_eq!(hits("mycrate::solver::step", RUST), both);
    assert_eq!(hits("::mycrate::solver::step", RUST), both);
    assert_eq!(hits("mycrate::solver::gen::<u32>", RUST), [RUST[3]]);
    assert_eq!(hits("mycrate::solver::gen", RUST), [RUST[3]]);
    assert!(hits("solver::step", RUST).is_empty());
    assert!(hits("mycrate::solver::step::h0123456789abcdef", RUST).is_empty());
}

const FORTRAN: &[&str] = &[
    "step_",
    "__physics_MOD_step",
    "__other_MOD_step",
    "__physics_MOD_stepper",
    "step2_",
    "physics_mp_step_",
    "_QMphysicsPstep",
    "_QPstep",
    "step",
];

#[test]
fn rule4_fortran_as_written_in_the_source() {
    let all = [
        "step_",
        "__physics_MOD_step",
        "__other_MOD_step",
        "physics_mp_step_",
        "_QMphysicsPstep",
        "_QPstep",
        "step",
    ];
    assert_eq!(hits("step", FORTRAN), all);
    assert_eq!(hits("STEP", FORTRAN), &all[..all.len() - 1]);
    assert_eq!(hits("Step2", FORTRAN), ["step2_"]);
    let physics = ["__physics_MOD_step", "physics_mp_step_", "_QMphysicsPstep"];
    assert_eq!(hits("physics::step", FORTRAN), physics);
    assert_eq!(hits("physics%step", FORTRAN), physics);
    assert_eq!(
        hits("__physics_MOD_stepper", FORTRAN),
        ["__physics_MOD_stepper"]
    );
    assert!(hits("_MOD_step", FORTRAN).is_empty());
    assert!(hits("MOD_step", FORTRAN).is_empty());
}

#[test]
fn rule5_globs() {
    let syms = [
        "compute",
        "compute_norm",
        "comm",
        "_ZN3geo4areaEdd",
        "_ZN3geo4areaEi",
    ];
    assert_eq!(hits("comp*", &syms), ["compute", "compute_norm"]);
    assert_eq!(hits("com?", &syms), ["comm"]);
    assert_eq!(hits("geo::*", &syms), ["_ZN3geo4areaEdd", "_ZN3geo4areaEi"]);
    assert_eq!(hits("*area(int)", &syms), ["_ZN3geo4areaEi"]);
    assert_eq!(
        hits("_ZN3geo*", &syms),
        ["_ZN3geo4areaEdd", "_ZN3geo4areaEi"]
    );
    assert_eq!(hits("mycrate::*", RUST).len(), 4);
    assert!(hits("x*", &syms).is_empty());
}

#[test]
fn operator_star_is_not_a_glob() {
    let syms = ["_ZN1VmlERKS_", "_ZN1VplERKS_", "_ZN1VmLERKS_"];
    assert_eq!(
        SymbolName::new(syms[0]).demangled.as_deref(),
        Some("V::operator*(V const&)")
    );
    assert_eq!(hits("V::operator*", &syms), [syms[0]]);
    assert_eq!(hits("V::operator*=", &syms), [syms[2]]);
    assert_eq!(hits("V::operator*(V const&)", &syms), [syms[0]]);
    assert_eq!(hits("V::*", &syms).len(), 3);
}

#[test]
fn compiler_clones_never_match_unless_named() {
    let syms = [
        "compute",
        "compute.cold",
        "compute.constprop.0",
        "compute.isra.0",
        "compute.part.1",
        "compute.lto_priv.0",
        "_Z4areadd.isra.0",
        "_ZN3geo4areaEdd.constprop.3",
        "step_.constprop.0",
    ];
    assert_eq!(hits("compute", &syms), ["compute"]);
    assert_eq!(hits("comp*", &syms), ["compute"]);
    assert_eq!(hits("*", &syms), ["compute"]);
    assert!(hits("area", &syms).is_empty());
    assert!(hits("geo::area", &syms).is_empty());
    assert!(hits("step", &syms).is_empty());
    assert_eq!(hits("compute.cold", &syms), ["compute.cold"]);
    assert_eq!(hits("compute.*", &syms).len(), 5);
    assert_eq!(
        hits("area() [clone .isra.0]", &["_Z4areav.isra.0"]),
        ["_Z4areav.isra.0"]
    );
}

#[test]
fn pattern_text_and_errors() {
    assert_eq!(
        SymbolPattern::parse("  geo::area ").unwrap().text(),
        "geo::area"
    );
    for bad in [
        "",
        "   ",
        "::",
        "a\tb\u{7}",
        "geo::area(double",
        "f)(",
        "x\0",
    ] {
        assert!(
            SymbolPattern::parse(bad).is_err(),
            "{bad:?} should be rejected"
        );
    }
    assert!(SymbolPattern::parse("ns::Foo::operator()").is_ok());
    assert!(SymbolPattern::parse("ns::Foo::operator()(int)").is_ok());
}
