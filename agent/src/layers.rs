//! The agent's layering, checked on its own sources (a unit test: `cargo test -p scope-agent`).
//!
//! Rules (docs/how-it-works.md):
//! - No file of the agent refers to one that refers back to it, directly or through others:
//!   the graph of references between files is acyclic. A reference is a path through
//!   `crate::`, `super::` or `self::`, or a child module's name used from its parent; a
//!   `mod x;` declaration is not one.
//! - `base/` (the bottom layer) refers to no other part of the agent.
//! - `engine/` refers to nothing outside `engine/` and `base/`: it knows no recorder, no MPI,
//!   no lifecycle, no resolution. Only its back ends (`engine/x86_64/`, `engine/aarch64/`)
//!   hold machine code.
//!
//! `engine::backend` is the back end of the architecture being built, an alias in
//! `engine/mod.rs` (`use self::x86_64 as backend`): a path through it is read as a path into
//! `engine/x86_64/` (both back ends give the same interface, and both are checked as files on
//! every architecture).
//!
//! The parser is deliberately small: comments and string literals are blanked out, then path
//! prefixes are read as `use` trees (`crate::{a, b::c}` included).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// A module path (`["engine", "thread"]`), the crate root being `[]`.
type ModPath = Vec<String>;

/// Every `.rs` file under `src`, by module path.
fn modules(src: &Path) -> BTreeMap<ModPath, PathBuf> {
    let mut out = BTreeMap::new();
    let mut stack = vec![src.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
                continue;
            }
            if p.extension().is_none_or(|x| x != "rs") {
                continue;
            }
            let rel = p.strip_prefix(src).unwrap();
            let mut segs: Vec<String> = rel
                .iter()
                .map(|s| s.to_string_lossy().into_owned())
                .collect();
            let file = segs.pop().unwrap();
            let stem = file.trim_end_matches(".rs");
            if !(stem == "mod" || (stem == "lib" && segs.is_empty())) {
                segs.push(stem.to_string());
            }
            out.insert(segs, p);
        }
    }
    out
}

/// The text with comments and string/char literals replaced by spaces.
fn code_only(text: &str) -> String {
    let b = text.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i..].starts_with(b"//") {
            while i < b.len() && b[i] != b'\n' {
                out.push(b' ');
                i += 1;
            }
        } else if b[i..].starts_with(b"/*") {
            let mut depth = 0;
            while i < b.len() {
                if b[i..].starts_with(b"/*") {
                    depth += 1;
                    out.extend_from_slice(b"  ");
                    i += 2;
                } else if b[i..].starts_with(b"*/") {
                    depth -= 1;
                    out.extend_from_slice(b"  ");
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    out.push(if b[i] == b'\n' { b'\n' } else { b' ' });
                    i += 1;
                }
            }
        } else if b[i] == b'"' {
            out.push(b' ');
            i += 1;
            while i < b.len() && b[i] != b'"' {
                if b[i] == b'\\' {
                    out.push(b' ');
                    i += 1;
                }
                out.push(b' ');
                i += 1;
            }
            out.push(b' ');
            i += 1;
        } else if b[i] == b'\'' && i + 2 < b.len() && (b[i + 2] == b'\'' || b[i + 1] == b'\\') {
            // A char literal ('x', '\n'); lifetimes ('a) are left alone.
            let end = b[i + 1..]
                .iter()
                .skip(1)
                .position(|&c| c == b'\'')
                .map_or(b.len(), |p| i + 2 + p + 1);
            while i < end.min(b.len()) {
                out.push(b' ');
                i += 1;
            }
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Inside an inline module (`mod tests { ... }`), `super::` names the file's own module:
/// rewritten to `self::` so that references resolve as for the rest of the file.
fn flatten_inline_modules(code: &str) -> String {
    let mut out = code.to_string();
    let mut from = 0;
    while let Some(p) = out[from..].find("mod ") {
        let at = from + p;
        from = at + 4;
        let rest = &out[from..];
        let name_len = rest.bytes().take_while(|&c| is_ident(c)).count();
        let after = rest[name_len..].trim_start();
        if name_len == 0 || !after.starts_with('{') {
            continue;
        }
        let open = out.len() - after.len();
        let mut depth = 0;
        let mut close = out.len();
        for (i, c) in out[open..].char_indices() {
            match c {
                '{' => depth += 1,
                '}' => {
                    depth -= 1;
                    if depth == 0 {
                        close = open + i;
                        break;
                    }
                }
                _ => {}
            }
        }
        let inner = out[open..close].replace("super::", "self:: ");
        out.replace_range(open..close, &inner);
    }
    out
}

fn is_ident(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_'
}

/// The paths of a `use` tree starting at `i` (after a `::`): `a::b`, `{a, b::{c, d}}`.
fn use_tree(b: &[u8], mut i: usize, prefix: &[String], out: &mut Vec<ModPath>) -> usize {
    let skip_ws = |mut i: usize| {
        while i < b.len() && b[i].is_ascii_whitespace() {
            i += 1;
        }
        i
    };
    i = skip_ws(i);
    if i < b.len() && b[i] == b'{' {
        i += 1;
        loop {
            i = skip_ws(i);
            if i >= b.len() || b[i] == b'}' {
                return i + 1;
            }
            i = use_tree(b, i, prefix, out);
            i = skip_ws(i);
            if i < b.len() && b[i] == b',' {
                i += 1;
            }
        }
    }
    let start = i;
    while i < b.len() && is_ident(b[i]) {
        i += 1;
    }
    let mut path = prefix.to_vec();
    if i > start {
        path.push(String::from_utf8_lossy(&b[start..i]).into_owned());
    }
    if b[i..].starts_with(b"::") {
        return use_tree(b, i + 2, &path, out);
    }
    out.push(path);
    i
}

/// Module-relative paths referred to in `code` of the module at `me`, made absolute.
fn references(code: &str, me: &ModPath, is_dir_module: bool, children: &[String]) -> Vec<ModPath> {
    let b = code.as_bytes();
    let mut out = Vec::new();
    // The module that `super` names from this file, and `self`.
    let here: ModPath = me.clone();
    let mut i = 0;
    while i < b.len() {
        let at_word = i == 0 || !is_ident(b[i - 1]) && b[i - 1] != b':';
        if !at_word || !is_ident(b[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < b.len() && is_ident(b[i]) {
            i += 1;
        }
        if !b[i..].starts_with(b"::") {
            continue;
        }
        let word = &code[start..i];
        let mut base: ModPath = match word {
            "crate" => Vec::new(),
            "self" => here.clone(),
            "super" => {
                let mut p = here.clone();
                p.pop();
                p
            }
            w if children.iter().any(|c| c == w) => {
                let mut p = here.clone();
                p.push(w.to_string());
                p
            }
            _ => continue,
        };
        let mut j = i + 2;
        // `super::super::`
        while b[j..].starts_with(b"super::") {
            base.pop();
            j += 7;
        }
        let _ = is_dir_module;
        let mut found = Vec::new();
        i = use_tree(b, j, &base, &mut found);
        out.extend(found);
    }
    out
}

/// The file a path lands in: its longest prefix that is a module.
fn owner<'a>(mods: &'a BTreeMap<ModPath, PathBuf>, path: &ModPath) -> Option<&'a ModPath> {
    (0..=path.len())
        .rev()
        .find_map(|n| mods.get_key_value(&path[..n].to_vec()).map(|(k, _)| k))
}

/// `engine::backend::…` as `engine::x86_64::…` (see the module documentation).
fn through_backend_alias(mut r: ModPath) -> ModPath {
    if r.len() >= 2 && r[0] == "engine" && r[1] == "backend" {
        r[1] = "x86_64".to_string();
    }
    r
}

/// File-level reference graph of the agent's sources.
fn graph(src: &Path) -> BTreeMap<ModPath, BTreeSet<ModPath>> {
    let mods = modules(src);
    let mut g: BTreeMap<ModPath, BTreeSet<ModPath>> = BTreeMap::new();
    for (me, file) in &mods {
        let text = std::fs::read_to_string(file).unwrap();
        let code = flatten_inline_modules(&code_only(&text));
        let is_dir = file.ends_with("mod.rs") || file.ends_with("lib.rs");
        let children: Vec<String> = mods
            .keys()
            .filter(|k| k.len() == me.len() + 1 && k.starts_with(me))
            .map(|k| k[me.len()].clone())
            .collect();
        let edges = g.entry(me.clone()).or_default();
        for r in references(&code, me, is_dir, if is_dir { &children } else { &[] }) {
            let r = through_backend_alias(r);
            if let Some(o) = owner(&mods, &r) {
                if o != me {
                    edges.insert(o.clone());
                }
            }
        }
    }
    g
}

/// A cycle of the graph, if there is one.
fn find_cycle(g: &BTreeMap<ModPath, BTreeSet<ModPath>>) -> Option<Vec<ModPath>> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        New,
        Open,
        Done,
    }
    fn visit(
        n: &ModPath,
        g: &BTreeMap<ModPath, BTreeSet<ModPath>>,
        mark: &mut BTreeMap<ModPath, Mark>,
        stack: &mut Vec<ModPath>,
    ) -> Option<Vec<ModPath>> {
        mark.insert(n.clone(), Mark::Open);
        stack.push(n.clone());
        for m in g.get(n).into_iter().flatten() {
            match mark.get(m).copied().unwrap_or(Mark::New) {
                Mark::Open => {
                    let from = stack.iter().position(|s| s == m).unwrap();
                    let mut c = stack[from..].to_vec();
                    c.push(m.clone());
                    return Some(c);
                }
                Mark::New => {
                    if let Some(c) = visit(m, g, mark, stack) {
                        return Some(c);
                    }
                }
                Mark::Done => {}
            }
        }
        stack.pop();
        mark.insert(n.clone(), Mark::Done);
        None
    }
    let mut mark = BTreeMap::new();
    for n in g.keys() {
        if mark.get(n).copied().unwrap_or(Mark::New) == Mark::New {
            if let Some(c) = visit(n, g, &mut mark, &mut Vec::new()) {
                return Some(c);
            }
        }
    }
    None
}

fn show(p: &ModPath) -> String {
    if p.is_empty() {
        "lib".into()
    } else {
        p.join("/")
    }
}

fn src_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

#[test]
fn no_file_refers_to_one_that_refers_back() {
    let g = graph(&src_dir());
    if let Some(c) = find_cycle(&g) {
        let names: Vec<String> = c.iter().map(show).collect();
        panic!("reference cycle: {}", names.join(" -> "));
    }
}

#[test]
fn lower_layers_know_nothing_of_the_ones_above() {
    let g = graph(&src_dir());
    let mut wrong = Vec::new();
    for (from, tos) in &g {
        for to in tos {
            let top = |p: &ModPath| p.first().cloned().unwrap_or_default();
            let allowed = match top(from).as_str() {
                "base" => top(to) == "base",
                "engine" => top(to) == "engine" || top(to) == "base",
                _ => true,
            };
            if !allowed {
                wrong.push(format!("{} -> {}", show(from), show(to)));
            }
        }
    }
    assert!(wrong.is_empty(), "layering broken: {wrong:?}");
}

#[test]
fn the_backend_alias_is_read_as_the_x86_64_back_end() {
    let p = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<ModPath>();
    assert_eq!(
        through_backend_alias(p(&["engine", "backend", "tls"])),
        p(&["engine", "x86_64", "tls"])
    );
    assert_eq!(
        through_backend_alias(p(&["engine", "tls"])),
        p(&["engine", "tls"])
    );
}

#[test]
fn the_checker_sees_references_and_cycles() {
    let mods: ModPath = vec!["engine".into(), "args".into()];
    let code = code_only(
        "use super::{hooks, thread::X}; // crate::recorder\nfn f() { crate::mpi::calls::decode(); let s = \"crate::lifecycle\"; }",
    );
    let refs = references(&code, &mods, false, &[]);
    assert!(refs.contains(&vec!["engine".to_string(), "hooks".to_string()]));
    assert!(refs.contains(&vec![
        "engine".to_string(),
        "thread".to_string(),
        "X".to_string()
    ]));
    assert!(refs.contains(&vec![
        "mpi".to_string(),
        "calls".to_string(),
        "decode".to_string()
    ]));
    assert!(!refs.iter().any(|r| r
        .first()
        .is_some_and(|s| s == "recorder" || s == "lifecycle")));
    let a: ModPath = vec!["a".into()];
    let b: ModPath = vec!["b".into()];
    let mut g = BTreeMap::new();
    g.insert(a.clone(), BTreeSet::from([b.clone()]));
    g.insert(b.clone(), BTreeSet::from([a.clone()]));
    assert!(find_cycle(&g).is_some());
    g.get_mut(&b).unwrap().clear();
    assert!(find_cycle(&g).is_none());
}
