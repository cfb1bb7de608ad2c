//! The layout of the workspace's integration tests (docs/testing.md): a crate whose `tests/` has
//! a `main.rs` builds them as that one binary (`autotests = false`), so every other `.rs` file
//! beside it must be one of its modules, or cargo would silently never build it.

use scope_tests::paths::repo_root;
use std::collections::BTreeSet;
use std::path::Path;

/// The `mod NAME;` lines of `main`.
fn declared(main: &str) -> BTreeSet<String> {
    main.lines()
        .filter_map(|l| l.trim().strip_prefix("mod ")?.strip_suffix(';'))
        .map(str::to_owned)
        .collect()
}

/// The `.rs` files directly in `dir`, without the extension, `main` left out.
fn files(dir: &Path) -> BTreeSet<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "rs"))
        .filter_map(|p| Some(p.file_stem()?.to_str()?.to_owned()))
        .filter(|n| n != "main")
        .collect()
}

#[test]
fn every_test_file_is_a_module_of_its_crates_one_binary() {
    let mut checked = Vec::new();
    for krate in std::fs::read_dir(repo_root()).unwrap() {
        let dir = krate.unwrap().path().join("tests");
        let Ok(main) = std::fs::read_to_string(dir.join("main.rs")) else {
            continue;
        };
        let missing: Vec<_> = files(&dir).difference(&declared(&main)).cloned().collect();
        assert!(
            missing.is_empty(),
            "{}: {missing:?} not built; add `mod NAME;` to main.rs for each",
            dir.display()
        );
        checked.push(dir);
    }
    // scope-tests, scope-launcher and scope-config at least.
    assert!(checked.len() >= 3, "checked only {checked:?}");
}
