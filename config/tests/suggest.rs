//! `suggest`: close matches for a symbol that matched nothing.

use scope_config::{suggest, SymbolName};

fn names(raws: &[&str]) -> Vec<SymbolName> {
    raws.iter().map(|r| SymbolName::new(r)).collect()
}

#[test]
fn typos_find_the_intended_function() {
    let syms = names(&["compute", "commit", "main", "MPI_Init", "_ZN3geo4areaEdd"]);
    assert_eq!(suggest("comptue", &syms), ["compute"]);
    assert_eq!(suggest("mpi_init", &syms), ["MPI_Init"]);
    assert!(suggest("zzzzzzzz", &syms).is_empty());
}

#[test]
fn demangled_names_are_compared_without_parameters_and_shown_in_full() {
    let syms = names(&["_ZN3geo4areaEdd", "_ZN3geo4areaEi", "_Z4areadd"]);
    assert_eq!(
        suggest("geo::aera", &syms),
        ["geo::area(double, double)", "geo::area(int)"]
    );
    // The bare function name finds it inside its namespace too.
    assert_eq!(
        suggest("area", &syms),
        [
            "area(double, double)",
            "geo::area(double, double)",
            "geo::area(int)"
        ]
    );
}

#[test]
fn at_most_three_best_first_without_duplicates() {
    let syms = names(&[
        "solve", "solver", "solved", "solves", "solve", "resolve", "x",
    ]);
    let s = suggest("solve", &syms);
    assert_eq!(s.len(), 3);
    assert_eq!(s[0], "solve");
    let mut dedup = s.clone();
    dedup.dedup();
    assert_eq!(dedup, s);
}

#[test]
fn fortran_rust_and_clones() {
    let syms = names(&[
        "__physics_MOD_step",
        "_ZN7mycrate6solver4step17h0123456789abcdefE",
        "integrate.constprop.0",
    ]);
    assert_eq!(
        suggest("stpe", &syms),
        ["__physics_MOD_step", "mycrate::solver::step"]
    );
    assert_eq!(
        suggest("mycrate::solver::stpe", &syms),
        ["mycrate::solver::step"]
    );
    assert_eq!(suggest("integrat", &syms), ["integrate.constprop.0"]);
}

#[test]
fn raw_strings_are_candidates_too() {
    let raws = vec!["compute".to_string(), "_ZN3geo4areaEdd".to_string()];
    assert_eq!(suggest("comptue", &raws), ["compute"]);
    let strs: Vec<&str> = raws.iter().map(String::as_str).collect();
    assert_eq!(
        suggest("geo::are", strs.iter().copied()),
        ["geo::area(double, double)"]
    );
    assert!(suggest("", Vec::<&str>::new()).is_empty());
}
