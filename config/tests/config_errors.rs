//! `parse`/`load`: the accepted schema and every class of error, with its exact location.

use scope_config::{load, parse, Config, ConfigError};
use std::path::Path;

fn ok(text: &str) -> Config {
    parse(text, Path::new("scope.toml")).unwrap_or_else(|e| panic!("{e}"))
}

fn err(text: &str) -> String {
    match parse(text, Path::new("scope.toml")) {
        Ok(c) => panic!("accepted: {c:?}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn minimal_config() {
    let c = ok("[[regions]]\nsymbol = \"compute\"\n");
    assert_eq!(c.path, Path::new("scope.toml"));
    assert_eq!(c.regions.len(), 1);
    let r = &c.regions[0];
    assert_eq!((r.symbol.as_str(), r.name.as_str()), ("compute", "compute"));
    assert_eq!(r.pattern.text(), "compute");
    assert_eq!((r.line, r.column), (2, 10));
}

#[test]
fn names_default_to_the_symbol_as_written() {
    let c = ok(concat!(
        "# profile these\n",
        "[[regions]]\n",
        "symbol = \"geo::area(double, double)\"\n",
        "\n",
        "[[regions]]\n",
        "  symbol = 'mycrate::solver::step'\n",
        "  name = \"solver/step\"\n",
        "[[regions]]\n",
        "symbol = \" spaced \"\n",
    ));
    let names: Vec<&str> = c.regions.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(
        names,
        ["geo::area(double, double)", "solver/step", " spaced "]
    );
    assert_eq!((c.regions[1].line, c.regions[1].column), (6, 12));
    assert_eq!(c.regions[2].pattern.text(), "spaced");
    let inline = ok("regions = [{ symbol = \"a\" }, { symbol = \"b\", name = \"B\" }]");
    assert_eq!(inline.regions.len(), 2);
    assert_eq!((inline.regions[1].line, inline.regions[1].column), (1, 41));
}

#[test]
fn unknown_keys_are_named_and_located() {
    let e = err("[[regions]]\nsymbl = \"compute\"\n");
    assert!(e.starts_with("scope.toml:2:1: "), "{e}");
    assert!(e.contains("symbl"), "{e}");
    let e = err("[output]\nfile = \"x.h5\"\n[[regions]]\nsymbol = \"a\"\n");
    assert!(e.starts_with("scope.toml:1:2: "), "{e}");
    assert!(e.contains("output"), "{e}");
    let e = err("[[regions]]\nsymbol = \"a\"\nname = \"b\"\ncolour = 1\n");
    assert!(e.starts_with("scope.toml:4:1: "), "{e}");
    assert!(e.contains("colour"), "{e}");
}

#[test]
fn wrong_types_are_located() {
    let e = err("[[regions]]\n\nsymbol = 3\n");
    assert!(e.starts_with("scope.toml:3:10: "), "{e}");
    let e = err("[[regions]]\nsymbol = \"a\"\nname = [\"x\"]\n");
    assert!(e.starts_with("scope.toml:3:8: "), "{e}");
    let e = err("regions = \"compute\"\n");
    assert!(e.starts_with("scope.toml:1:11: "), "{e}");
}

#[test]
fn missing_symbol_is_located_at_its_table() {
    let e = err("[[regions]]\nsymbol = \"a\"\n[[regions]]\nname = \"b\"\n");
    assert!(e.starts_with("scope.toml:3:1: "), "{e}");
    assert!(e.contains("symbol"), "{e}");
}

#[test]
fn empty_and_malformed_symbols_are_located() {
    let e = err("[[regions]]\nsymbol = \"\"\n");
    assert_eq!(e, "scope.toml:2:10: symbol is empty");
    let e = err("[[regions]]\nsymbol = \"   \"\n");
    assert_eq!(e, "scope.toml:2:10: symbol is empty");
    let e = err("[[regions]]\nsymbol = \"geo::area(double\"\n");
    assert_eq!(
        e,
        "scope.toml:2:10: unbalanced parentheses in symbol 'geo::area(double'"
    );
    let e = err("[[regions]]\nsymbol = \"a\"\nname = \"\"\n");
    assert_eq!(e, "scope.toml:3:8: region name is empty");
}

#[test]
fn duplicate_names_name_both_lines() {
    let e = err(concat!(
        "[[regions]]\n",
        "symbol = \"compute\"\n",
        "[[regions]]\n",
        "symbol = \"_Z7computev\"\n",
        "name = \"compute\"\n",
    ));
    assert!(
        e.starts_with("scope.toml:5:8: duplicate region name 'compute'"),
        "{e}"
    );
    assert!(e.contains("lines 2 and 5"), "{e}");
}

#[test]
fn malformed_toml_is_located() {
    let e = err("[[regions]]\nsymbol = \"x\n");
    assert!(e.starts_with("scope.toml:2:"), "{e}");
    let e = err("[[regions]\nsymbol = \"x\"\n");
    assert!(e.starts_with("scope.toml:1:"), "{e}");
    let e = err("[[regions]]\nsymbol = \"a\"\nsymbol = \"b\"\n");
    assert!(e.starts_with("scope.toml:3:1: "), "{e}");
}

#[test]
fn no_regions_is_an_error() {
    for text in ["", "# nothing\n", "regions = []\n"] {
        let e = parse(text, Path::new("dir/scope.toml")).unwrap_err();
        assert!(matches!(e, ConfigError::NoRegions { .. }), "{e:?}");
        assert_eq!(
            e.to_string(),
            "dir/scope.toml: no [[regions]] in dir/scope.toml (and no `[mpi] calls`)"
        );
    }
    let e = parse("[mpi]\ncalls = false\n", Path::new("s.toml")).unwrap_err();
    assert!(matches!(e, ConfigError::NoRegions { .. }), "{e:?}");
}

#[test]
fn mpi_calls_alone_or_beside_regions() {
    use scope_config::MpiCalls;
    let c = ok("[mpi]\ncalls = true\n");
    assert!(c.regions.is_empty());
    assert_eq!(c.mpi_calls, MpiCalls::All);
    let c = ok("[[regions]]\nsymbol = \"f\"\n[mpi]\ncalls = [\"MPI_Send\", \"mpi_wait*\"]\n");
    assert_eq!(c.regions.len(), 1);
    assert!(c.mpi_calls.wants("MPI_Send") && c.mpi_calls.wants("MPI_Waitall"));
    assert!(!c.mpi_calls.wants("MPI_Recv"));
    assert!(!ok("[[regions]]\nsymbol = \"f\"\n[mpi]\n").mpi_calls.is_on());
}

#[test]
fn mpi_call_errors_point_at_the_value() {
    let cases = [
        ("[mpi]\ncalls = 3\n", "scope.toml:2:9: `calls` is `true`, `false` or a list of MPI function names, not integer"),
        ("[mpi]\ncalls = []\n", "scope.toml:2:9: `calls = []` records nothing; write `calls = false` or name MPI functions"),
        ("[mpi]\ncalls = [\"MPI_Send\", 4]\n", "scope.toml:2:9: `calls` lists MPI function names (strings), not integer"),
        ("[mpi]\ncalls = [\"compute\"]\n", "scope.toml:2:9: \"compute\" is not an MPI function name (they start with `MPI_`)"),
    ];
    for (text, want) in cases {
        assert_eq!(err(text), want, "{text}");
    }
    let e = err("[mpi]\ncall = true\n");
    assert!(e.starts_with("scope.toml:2:1: unknown field `call`"), "{e}");
}

#[test]
fn load_reads_files_and_reports_io_errors() {
    let dir = std::env::temp_dir().join(format!("scope-config-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let good = dir.join("scope.toml");
    std::fs::write(&good, "[[regions]]\nsymbol = \"compute\"\n").unwrap();
    assert_eq!(load(&good).unwrap().regions[0].name, "compute");
    let missing = dir.join("missing.toml");
    let e = load(&missing).unwrap_err();
    assert!(matches!(e, ConfigError::Io { .. }));
    assert!(
        e.to_string()
            .starts_with(&format!("{}: ", missing.display())),
        "{e}"
    );
    let binary = dir.join("binary.toml");
    std::fs::write(&binary, [0xff, 0xfe, 0x00]).unwrap();
    assert!(matches!(load(&binary).unwrap_err(), ConfigError::Io { .. }));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn python_regions_are_read_beside_symbols() {
    let c = ok(concat!(
        "[[regions]]\nsymbol = \"dgemm_\"\n",
        "[[regions]]\npython = \"compute\"\n",
        "[[regions]]\npython = \"mylib.solver.*\"\n",
        "[[regions]]\npython = \"Solver.step\"\nname = \"step\"\n",
    ));
    assert_eq!(c.regions.len(), 1);
    let p: Vec<(&str, &str, usize, usize)> = c
        .python
        .iter()
        .map(|r| (r.text.as_str(), r.name.as_str(), r.line, r.column))
        .collect();
    assert_eq!(
        p,
        vec![
            ("compute", "compute", 4, 10),
            ("mylib.solver.*", "mylib.solver.*", 6, 10),
            ("Solver.step", "step", 8, 10),
        ]
    );
    assert_eq!(
        c.python[1].region_for("mylib.solver", "Solver.step"),
        "mylib.solver.Solver.step"
    );
    assert_eq!(c.python[2].region_for("m", "Solver.step"), "step");
    assert!(ok("[[regions]]\npython = \"f\"\n").has_regions());
}

#[test]
fn python_region_errors_are_located() {
    let e = err("[[regions]]\npython = \"a b\"\n");
    assert!(
        e.starts_with("scope.toml:2:10: python function name 'a b'"),
        "{e}"
    );
    let e = err("[[regions]]\nsymbol = \"a\"\npython = \"b\"\n");
    assert!(
        e.starts_with("scope.toml:3:10: a region has either `symbol`"),
        "{e}"
    );
    let e = err("[[regions]]\nsymbol = \"a\"\n[[regions]]\nname = \"b\"\n");
    assert!(e.contains("`python`"), "{e}");
    let e = err("[[regions]]\nsymbol = \"compute\"\n[[regions]]\npython = \"compute\"\n");
    assert!(
        e.contains("duplicate region name 'compute' (lines 2 and 4)"),
        "{e}"
    );
}
