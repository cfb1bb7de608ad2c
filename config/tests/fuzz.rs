//! The config parser against arbitrary input (proptest; part of `cargo test`): near-valid
//! documents (wrong types, unknown keys, empty or duplicate regions, names with `/`, deep
//! nesting, multi-megabyte files) and arbitrary bytes. Whatever the input: no panic, and a
//! rejection is a `ConfigError` whose message starts with the file's path, names the line and
//! column when the text is at fault, and says something after them.

use proptest::prelude::*;
use scope_config::{load, parse, ConfigError};
use std::path::Path;

const PATH: &str = "/cfg/scope.toml";

/// Parses `text`, catching a panic as a failure of the property.
fn check(text: &str) -> Result<(), TestCaseError> {
    let res = std::panic::catch_unwind(|| parse(text, Path::new(PATH)))
        .map_err(|_| TestCaseError::fail(format!("parse panicked on {text:?}")))?;
    match res {
        Ok(cfg) => {
            prop_assert!(
                !cfg.regions.is_empty(),
                "accepted without regions: {text:?}"
            );
            let mut names: Vec<&str> = cfg.regions.iter().map(|r| r.name.as_str()).collect();
            names.sort_unstable();
            let n = names.len();
            names.dedup();
            prop_assert_eq!(names.len(), n, "duplicate names accepted: {:?}", text);
            for r in &cfg.regions {
                prop_assert!(!r.name.trim().is_empty());
                prop_assert!(r.line >= 1 && r.column >= 1);
                prop_assert!(r.line <= text.lines().count().max(1));
            }
        }
        Err(e) => check_error(&e, text)?,
    }
    Ok(())
}

fn check_error(e: &ConfigError, text: &str) -> Result<(), TestCaseError> {
    let shown = e.to_string();
    prop_assert!(
        shown.starts_with(PATH),
        "error does not start with the path: {shown:?}"
    );
    match e {
        ConfigError::At {
            line,
            column,
            message,
            ..
        } => {
            prop_assert!(*line >= 1 && *column >= 1, "{shown}");
            prop_assert!(
                *line <= text.split('\n').count(),
                "line past the end: {shown}"
            );
            prop_assert!(!message.trim().is_empty(), "empty message: {shown}");
            let at = format!("{PATH}:{line}:{column}: ");
            prop_assert!(shown.starts_with(&at), "{shown:?} lacks {at:?}");
        }
        ConfigError::NoRegions { .. } => prop_assert!(shown.contains("no [[regions]]")),
        ConfigError::Io { .. } => prop_assert!(false, "parse() cannot fail with Io: {}", shown),
    }
    Ok(())
}

/// A TOML value of any type, some of them what the schema wants.
fn value() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z_:*?()/ %.]{0,12}".prop_map(|s| format!("{s:?}")),
        Just("\"\"".to_string()),
        Just("\"   \"".to_string()),
        Just("\"a/b\"".to_string()),
        Just("\"%2F\"".to_string()),
        Just("\"x\\u0001y\"".to_string()),
        Just("\"((\"".to_string()),
        Just("\"::\"".to_string()),
        any::<i64>().prop_map(|n| n.to_string()),
        any::<f64>().prop_map(|f| format!("{f:?}")),
        any::<bool>().prop_map(|b| b.to_string()),
        Just("[]".to_string()),
        Just("[\"compute\", 1]".to_string()),
        Just("{ symbol = \"x\" }".to_string()),
        Just("1979-05-27T07:32:00Z".to_string()),
        Just("'''multi\nline'''".to_string()),
        Just(String::new()),
    ]
}

fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => Just("symbol".to_string()),
        3 => Just("name".to_string()),
        1 => Just("Symbol".to_string()),
        1 => Just("regions".to_string()),
        1 => "[a-z]{1,6}",
        1 => Just("\"na/me\"".to_string()),
        1 => Just("symbol.inner".to_string()),
    ]
}

/// One table header, mostly the right one.
fn header() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => Just("[[regions]]".to_string()),
        1 => Just("[regions]".to_string()),
        1 => Just("[[region]]".to_string()),
        1 => Just("[[regions.sub]]".to_string()),
        1 => Just("[other]".to_string()),
        1 => Just("[[regions]".to_string()),
        1 => Just(String::new()),
    ]
}

/// A document built of tables of `key = value` lines, some of them repeated.
fn near_valid() -> impl Strategy<Value = String> {
    let table = (header(), prop::collection::vec((key(), value()), 0..4));
    prop::collection::vec(table, 0..6).prop_map(|tables| {
        let mut s = String::new();
        for (h, kvs) in tables {
            s.push_str(&h);
            s.push('\n');
            for (k, v) in kvs {
                s.push_str(&format!("{k} = {v}\n"));
            }
        }
        s
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn near_valid_documents(text in near_valid()) {
        check(&text)?;
    }

    #[test]
    fn arbitrary_text(text in "\\PC*") {
        check(&text)?;
    }

    #[test]
    fn arbitrary_bytes_through_load(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let dir = std::env::temp_dir().join(format!("scope-config-fuzz-{}", std::process::id()));
        std::fs::create_dir_all(&dir).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let file = dir.join("scope.toml");
        std::fs::write(&file, &bytes).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let res = std::panic::catch_unwind(|| load(&file))
            .map_err(|_| TestCaseError::fail(format!("load panicked on {bytes:?}")))?;
        match (std::str::from_utf8(&bytes), res) {
            (Err(_), Err(ConfigError::Io { .. })) => {}
            (Err(_), other) => prop_assert!(false, "invalid UTF-8 not reported as such: {:?}", other),
            (Ok(_), Ok(_)) => {}
            (Ok(_), Err(e)) => {
                let shown = e.to_string();
                prop_assert!(shown.starts_with(&file.display().to_string()), "{}", shown);
            }
        }
    }

    #[test]
    fn region_names_with_slashes_and_duplicates(
        names in prop::collection::vec("[a-c/%]{1,4}", 1..8)
    ) {
        let mut text = String::new();
        for (i, n) in names.iter().enumerate() {
            text.push_str(&format!("[[regions]]\nsymbol = \"f{i}\"\nname = {n:?}\n"));
        }
        let mut seen = std::collections::HashSet::new();
        let first_dup = names.iter().position(|n| !seen.insert(n));
        match (first_dup, parse(&text, Path::new(PATH))) {
            (None, Ok(cfg)) => {
                let got: Vec<&str> = cfg.regions.iter().map(|r| r.name.as_str()).collect();
                prop_assert_eq!(got, names.iter().map(String::as_str).collect::<Vec<_>>());
            }
            (Some(i), Err(ConfigError::At { line, message, .. })) => {
                // The duplicate's `name` line: 3 lines per region, `name` is the third.
                prop_assert_eq!(line, 3 * i + 3);
                prop_assert!(message.contains("duplicate region name"), "{}", message);
            }
            (dup, res) => prop_assert!(false, "duplicate at {:?} but {:?}", dup, res),
        }
    }
}

/// Multi-megabyte inputs: many regions, one huge string, deep nesting.
#[test]
fn huge_files() {
    let mut many = String::new();
    for i in 0..100_000 {
        many.push_str(&format!("[[regions]]\nsymbol = \"f{i}\"\n"));
    }
    assert!(many.len() > 2_000_000);
    let cfg = parse(&many, Path::new(PATH)).expect("100000 distinct regions");
    assert_eq!(cfg.regions.len(), 100_000);
    assert_eq!(cfg.regions[99_999].line, 200_000);

    let mut dup = many.clone();
    dup.push_str("[[regions]]\nsymbol = \"f0\"\n");
    let e = parse(&dup, Path::new(PATH)).expect_err("a duplicate at the very end");
    assert_eq!(
        e.to_string(),
        format!(
            "{PATH}:200002:10: duplicate region name 'f0' (lines 2 and 200002); give one a different `name`"
        )
    );

    let long = format!("[[regions]]\nsymbol = \"{}\"\n", "x".repeat(4 << 20));
    let cfg = parse(&long, Path::new(PATH)).expect("a 4 MiB symbol is only long");
    assert_eq!(cfg.regions[0].symbol.len(), 4 << 20);

    for depth in [64usize, 100_000] {
        let nested = format!("x = {}{}\n", "[".repeat(depth), "]".repeat(depth));
        let r = std::panic::catch_unwind(|| parse(&nested, Path::new(PATH)));
        let e = r
            .unwrap_or_else(|_| panic!("nesting {depth} panicked"))
            .expect_err("no regions");
        assert!(e.to_string().starts_with(PATH), "{e}");
    }
}
