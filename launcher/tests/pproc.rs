//! scope-pproc as users run it, on profiles written by the real writer and merge: the summary
//! table and JSON, rank selection, incomplete files, the Gantt chart and the exports. Checks
//! against the real consumers (headless Chromium, speedscope's schema, scope-profiler 0.7.5)
//! live in `pproc_oracles.rs`; the 4 × 10^6-event file in `pproc_big.rs`.

#[path = "support/pproc_fixture.rs"]
mod fixture;

use fixture::*;
use scope_format::FileAttrs;

fn cells<'a>(out: &'a str, region: &str) -> Vec<&'a str> {
    out.lines()
        .find(|l| l.starts_with(&format!("{region} ")))
        .unwrap_or_else(|| panic!("no row {region} in\n{out}"))
        .split_whitespace()
        .collect()
}

#[test]
fn table_has_calls_times_and_imbalance() {
    let d = Dir::new("table");
    let f = standard(&d);
    let out = pproc_ok(&[s(&f)]);
    assert!(
        out.starts_with(&format!("{}: 4 ranks, 39 events\n", f.display())),
        "{out}"
    );
    let header: Vec<&str> = out.lines().nth(1).unwrap().split_whitespace().collect();
    assert_eq!(
        header,
        [
            "region",
            "calls",
            "total",
            "mean",
            "min",
            "max",
            "imbalance"
        ]
    );
    assert_eq!(
        cells(&out, "step"),
        ["step", "16", "14.0", "ms", "875", "µs", "800", "µs", "950", "µs", "8.6%", "(r3)"]
    );
    assert_eq!(
        cells(&out, "compute"),
        ["compute", "19", "8.90", "ms", "468", "µs", "300", "µs", "500", "µs", "30.3%", "(r2)"]
    );
    assert_eq!(
        cells(&out, "io/write"),
        [
            "io/write", "4", "100", "µs", "25.0", "µs", "10.0", "µs", "40.0", "µs", "60.0%", "(r3)"
        ]
    );
}

#[test]
fn rank_selection_lists_and_ranges() {
    let d = Dir::new("ranks");
    let f = standard(&d);
    // 0 and 2: step totals 3.2 and 3.6 ms → 3.6/3.4 − 1 = 5.9%, slowest r2.
    let out = pproc_ok(&[s(&f), "--ranks", "0", "2"]);
    assert!(out.contains(": 2 ranks, 21 events\n"), "{out}");
    assert_eq!(cells(&out, "step")[1..3], ["8", "6.80"]);
    assert_eq!(cells(&out, "step")[10..], ["5.9%", "(r2)"]);
    let out = pproc_ok(&[s(&f), "--ranks", "1-3"]);
    assert!(out.contains(": 3 ranks, 30 events\n"), "{out}");
    assert_eq!(
        pproc_ok(&[s(&f), "--ranks", "0-3"]),
        pproc_ok(&[s(&f)]),
        "0-3 is every rank"
    );
    let (code, _, err) = pproc(&[s(&f), "--ranks", "2-7"]);
    assert_eq!(code, 2);
    assert!(err.contains("rank(s) 4, 5, 6, 7 not in"), "{err}");
}

#[test]
fn json_has_the_same_numbers() {
    let d = Dir::new("json");
    let f = standard(&d);
    let out = pproc_ok(&[s(&f), "--format", "json", "--ranks", "0-3"]);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["ranks"], serde_json::json!([0, 1, 2, 3]));
    assert_eq!(
        (v["events"].as_u64(), v["complete"].as_bool()),
        (Some(39), Some(true))
    );
    let regions = v["regions"].as_array().unwrap();
    let names: Vec<&str> = regions
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["step", "compute", "io/write"]);
    let c = &regions[1];
    assert_eq!(c["calls"], 19);
    assert_eq!(c["total_ns"], 8_900_000);
    assert_eq!(
        (c["min_ns"].as_i64(), c["max_ns"].as_i64()),
        (Some(300_000), Some(500_000))
    );
    assert_eq!(c["slowest_rank"], 2);
    let imb = c["imbalance"].as_f64().unwrap();
    assert!((imb - (2.9 / 2.225 - 1.0)).abs() < 1e-9, "{imb}");
    let per_rank = c["per_rank"].as_array().unwrap();
    assert_eq!(
        per_rank[2],
        serde_json::json!({"rank": 2, "calls": 7, "total_ns": 2_900_000})
    );
}

#[test]
fn incomplete_files_say_so_first() {
    let d = Dir::new("incomplete");
    let f = d.path("partial.h5");
    let attrs = FileAttrs {
        ranks: 4,
        version: "scope test".into(),
        complete: false,
        missing_ranks: vec![3],
    };
    write_profile(&d, &f, &[0, 1, 2], attrs, standard_calls);
    let out = pproc_ok(&[s(&f)]);
    assert!(
        out.starts_with("the profile is incomplete: rank(s) 3 did not finish"),
        "{out}"
    );
    let v: serde_json::Value =
        serde_json::from_str(&pproc_ok(&[s(&f), "--format", "json"])).unwrap();
    assert_eq!(v["complete"], false);
    assert_eq!(v["missing_ranks"], serde_json::json!([3]));
    assert!(v["note"].as_str().unwrap().contains("rank(s) 3"));
}

#[test]
fn show_writes_svg_and_html_where_asked() {
    let d = Dir::new("show");
    let f = standard(&d);
    let out = pproc_ok(&[s(&f), "--show"]);
    let svg = d.path("profiling_data.gantt.svg");
    let html = d.path("profiling_data.gantt.html");
    assert!(
        out.contains(&format!("gantt chart: {}\n", svg.display())),
        "{out}"
    );
    assert!(
        out.contains(&format!("gantt chart: {}\n", html.display())),
        "{out}"
    );
    let text = std::fs::read_to_string(&svg).unwrap();
    // Lanes: ranks 0, 1, 3 and rank 2's two threads.
    assert_eq!(text.matches("class=\"lane\"").count(), 5, "lanes");
    assert!(text.contains(">rank 2 · thread 1<"));
    assert_eq!(text.matches("class=\"legend\"").count(), 3);
    assert!(
        text.contains(">io/write<") && text.contains(">1.00 ms<"),
        "axis and legend"
    );
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(
        page.contains(&text[..200]) && !page.contains("<script src") && !page.contains("https://")
    );
    let o = d.path("charts/g.html");
    std::fs::create_dir_all(o.parent().unwrap()).unwrap();
    let out = pproc_ok(&[s(&f), "--show", "-o", s(&o), "--ranks", "1"]);
    assert!(
        out.contains("charts/g.svg") && d.path("charts/g.svg").exists(),
        "{out}"
    );
    let one = std::fs::read_to_string(d.path("charts/g.svg")).unwrap();
    assert_eq!(one.matches("class=\"lane\"").count(), 1);
}

#[test]
fn csv_has_one_row_per_call() {
    let d = Dir::new("csv");
    let f = standard(&d);
    let out = d.path("calls.csv");
    let said = pproc_ok(&["export", "--format", "csv", s(&f), "-o", s(&out)]);
    assert!(said.contains("(39 calls)"), "{said}");
    let text = std::fs::read_to_string(&out).unwrap();
    let mut lines = text.lines();
    assert_eq!(
        lines.next(),
        Some("rank,thread,region,start_ns,end_ns,duration_ns")
    );
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
    assert_eq!(rows.len(), 39);
    let mut total = 0i64;
    for r in &rows {
        let (a, b, dur): (i64, i64, i64) = (
            r[3].parse().unwrap(),
            r[4].parse().unwrap(),
            r[5].parse().unwrap(),
        );
        assert_eq!(b - a, dur);
        if r[2] == "compute" {
            total += dur;
        }
    }
    assert_eq!(total, 8_900_000);
    let t1 = rows.iter().filter(|r| r[0] == "2" && r[1] == "1").count();
    assert_eq!(t1, 3, "rank 2 thread 1 calls");
    assert!(rows
        .iter()
        .any(|r| r[2] == "io/write" && r[3] == (T + 5_000_000).to_string()));
}

#[test]
fn chrome_trace_is_well_formed() {
    let d = Dir::new("chrome");
    let f = standard(&d);
    let out = d.path("trace.json");
    pproc_ok(&[
        "export",
        "--format",
        "chrome",
        s(&f),
        "-o",
        s(&out),
        "--ranks",
        "0-3",
    ]);
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    let evs = v["traceEvents"].as_array().unwrap();
    let xs: Vec<&serde_json::Value> = evs.iter().filter(|e| e["ph"] == "X").collect();
    assert_eq!(xs.len(), 39);
    for e in evs {
        assert!(e["pid"].is_u64() && e["tid"].is_i64(), "{e}");
        assert!(
            ["X", "M"].contains(&e["ph"].as_str().unwrap()),
            "only X and M: {e}"
        );
    }
    for e in &xs {
        assert!(e["dur"].as_f64().unwrap() >= 0.0 && e["ts"].as_f64().unwrap() >= 0.0);
    }
    let meta = |name: &str, pid: u64, tid: i64| {
        evs.iter()
            .any(|e| e["ph"] == "M" && e["name"] == name && e["pid"] == pid && e["tid"] == tid)
    };
    // Thread T is tid T + 1 (Perfetto reads tid 0 as the pid).
    for r in 0..4 {
        assert!(
            meta("process_name", r, 0) && meta("thread_name", r, 1),
            "rank {r}"
        );
    }
    assert!(meta("thread_name", 2, 2));
    assert!(xs.iter().all(|e| e["tid"].as_i64().unwrap() >= 1));
    // step of rank 3, first call: ts 0, dur 950 µs exactly.
    let first = xs
        .iter()
        .find(|e| e["pid"] == 3 && e["name"] == "step" && e["ts"].as_f64() == Some(0.0))
        .unwrap();
    assert_eq!(first["dur"].as_f64(), Some(950.0));
    let compute: f64 = xs
        .iter()
        .filter(|e| e["name"] == "compute")
        .map(|e| e["dur"].as_f64().unwrap())
        .sum();
    assert!((compute - 8900.0).abs() < 1e-6);
}

#[test]
fn export_rejects_bad_arguments() {
    let d = Dir::new("exportargs");
    let f = standard(&d);
    let (code, _, err) = pproc(&["export", "--format", "pdf", s(&f), "-o", "x"]);
    assert_eq!(code, 2, "{err}");
    let (code, _, err) = pproc(&["export", "--format", "csv", s(&f)]);
    assert_eq!(code, 2, "{err}");
    let (code, _, err) = pproc(&[
        "export",
        "--format",
        "csv",
        s(&f),
        "-o",
        "/nonexistent/dir/x.csv",
    ]);
    assert_eq!(code, 1);
    assert!(err.contains("cannot write /nonexistent/dir/x.csv"), "{err}");
}
