//! scope-pproc as users run it, on profiles written by the real writer and merge: the summary
//! table and JSON, rank selection, incomplete files, the Gantt chart and the exports. Checks
//! against the real consumers (headless Chromium, speedscope's schema, scope-profiler 0.7.5)
//! live in `pproc_oracles.rs`; the 4 × 10^6-event file in `pproc_big.rs`.

use crate::fixture::*;
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
        unfinished_ranks: vec![2],
    };
    write_profile(&d, &f, &[0, 1, 2], attrs, standard_calls);
    let out = pproc_ok(&[s(&f)]);
    let note = "the profile is incomplete: rank(s) 2 did not finish; their data may be cut \
                short; rank(s) 3 have no data in the file";
    assert!(out.starts_with(note), "{out}");
    let v: serde_json::Value =
        serde_json::from_str(&pproc_ok(&[s(&f), "--format", "json"])).unwrap();
    assert_eq!(v["complete"], false);
    assert_eq!(v["missing_ranks"], serde_json::json!([3]));
    assert_eq!(v["unfinished_ranks"], serde_json::json!([2]));
    assert_eq!(v["note"], note);
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
    // The zoomable page: a canvas, one data block per lane, nothing from the network.
    assert!(
        page.contains("<canvas id=\"gantt\"")
            && page.contains("id=\"lane-4\"")
            && !page.contains("id=\"lane-5\"")
            && page.contains("window.scopeGantt")
            && !page.contains("<script src")
            && !page.contains("https://")
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

/// The cells of the row starting with `first` in the table that follows the line `header`.
fn cells_after<'a>(out: &'a str, header: &str, first: &str) -> Vec<&'a str> {
    out.lines()
        .skip_while(|l| !l.starts_with(header))
        .find(|l| l.split_whitespace().next() == Some(first))
        .unwrap_or_else(|| panic!("no row {first} after {header} in\n{out}"))
        .split_whitespace()
        .collect()
}

#[test]
fn mpi_view_shows_where_ranks_wait() {
    let d = Dir::new("mpi");
    let f = mpi_standard(&d);
    let out = pproc_ok(&[s(&f)]);
    // The region table is still there, MPI calls included, then the MPI section.
    assert!(out.contains(": 3 ranks, 22 events\n"), "{out}");
    assert_eq!(cells(&out, "compute")[1..4], ["6", "16.5", "ms"], "{out}");
    assert_eq!(cells(&out, "MPI_Allreduce")[1..4], ["3", "11.7", "ms"]);
    // Σ MPI 5500 + 4700 + 4700 µs of Σ wall 10000 + 10000 + 11200 µs.
    assert!(
        out.contains("\n\nMPI: 47.8% of the ranks' wall time in MPI calls (14.9 ms of 31.2 ms)\n"),
        "{out}"
    );
    let header: Vec<&str> = out
        .lines()
        .find(|l| l.starts_with("rank "))
        .unwrap()
        .split_whitespace()
        .collect();
    assert_eq!(
        header,
        ["rank", "wall", "MPI", "compute", "MPI", "%", "top", "MPI", "call"]
    );
    let rank = |r: &str| cells_after(&out, "rank ", r);
    assert_eq!(
        rank("0"),
        [
            "0",
            "10.0",
            "ms",
            "5.50",
            "ms",
            "4.50",
            "ms",
            "55.0%",
            "MPI_Allreduce",
            "(4.90",
            "ms)"
        ]
    );
    // Rank 1: thread 1's MPI_Recv overlaps thread 0's calls; the union counts it once.
    assert_eq!(
        rank("1"),
        [
            "1",
            "10.0",
            "ms",
            "4.70",
            "ms",
            "5.30",
            "ms",
            "47.0%",
            "MPI_Allreduce",
            "(3.90",
            "ms)"
        ]
    );
    // Rank 2 has no window: first call (MPI_Init) to last end (MPI_Finalize), marked.
    assert_eq!(
        rank("2*"),
        [
            "2*",
            "11.2",
            "ms",
            "4.70",
            "ms",
            "6.50",
            "ms",
            "42.0%",
            "MPI_Allreduce",
            "(2.90",
            "ms)"
        ]
    );
    assert!(out.contains("\n* no MPI window recorded"), "{out}");
    let call = |c: &str| cells_after(&out, "MPI call ", c);
    let header = call("MPI").join(" ");
    assert_eq!(header, "MPI call calls total mean bytes waits most");
    assert_eq!(
        call("MPI_Allreduce"),
        [
            "MPI_Allreduce",
            "3",
            "11.7",
            "ms",
            "3.90",
            "ms",
            "24",
            "B",
            "r0",
            "(4.90",
            "ms)"
        ]
    );
    assert_eq!(
        call("MPI_Recv"),
        ["MPI_Recv", "1", "3.20", "ms", "3.20", "ms", "4.00", "KiB", "r1", "(3.20", "ms)"]
    );
    assert_eq!(
        call("MPI_Send"),
        ["MPI_Send", "3", "300", "µs", "100", "µs", "5.86", "KiB", "r0", "(100", "µs)"]
    );
    let order: Vec<&str> = out
        .lines()
        .skip_while(|l| !l.starts_with("MPI call "))
        .skip(1)
        .map(|l| l.split_whitespace().next().unwrap())
        .collect();
    assert_eq!(
        order,
        [
            "MPI_Allreduce",
            "MPI_Recv",
            "MPI_Init",
            "MPI_Barrier",
            "MPI_Finalize",
            "MPI_Send"
        ]
    );

    // --ranks 1: rank 1 alone, its window recorded (no footnote), only its calls.
    let one = pproc_ok(&[s(&f), "--ranks", "1"]);
    assert!(
        one.contains("MPI: 47.0% of the ranks' wall time in MPI calls (4.70 ms of 10.0 ms)"),
        "{one}"
    );
    assert!(
        !one.contains("no MPI window recorded") && !one.contains("\n0 "),
        "{one}"
    );
    assert_eq!(
        cells_after(&one, "MPI call ", "MPI_Send")[6..8],
        ["1.95", "KiB"]
    );

    // A profile without MPI calls has no MPI section.
    let plain = pproc_ok(&[s(&standard(&d))]);
    assert!(!plain.contains("MPI"), "{plain}");
}

#[test]
fn mpi_json_has_exact_figures() {
    let d = Dir::new("mpijson");
    let f = mpi_standard(&d);
    let v: serde_json::Value =
        serde_json::from_str(&pproc_ok(&[s(&f), "--format", "json"])).unwrap();
    let m = &v["mpi"];
    assert_eq!(
        (m["mpi_ns"].as_i64(), m["wall_ns"].as_i64()),
        (Some(14_900 * US), Some(31_200 * US))
    );
    let ranks = m["ranks"].as_array().unwrap();
    let figures: Vec<(i64, i64, i64, bool)> = ranks
        .iter()
        .map(|r| {
            (
                r["wall_ns"].as_i64().unwrap(),
                r["mpi_ns"].as_i64().unwrap(),
                r["compute_ns"].as_i64().unwrap(),
                r["recorded_window"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        figures,
        [
            (10_000 * US, 5_500 * US, 4_500 * US, true),
            (10_000 * US, 4_700 * US, 5_300 * US, true),
            (11_200 * US, 4_700 * US, 6_500 * US, false),
        ]
    );
    assert_eq!(ranks[1]["window"], serde_json::json!([T, T + 10_000 * US]));
    assert_eq!(
        ranks[2]["window"],
        serde_json::json!([T - 1_000 * US, T + 10_200 * US])
    );
    assert_eq!(ranks[1]["top_call"], "MPI_Allreduce");
    assert_eq!(ranks[1]["top_call_ns"], 3_900 * US);
    assert!((ranks[0]["mpi_fraction"].as_f64().unwrap() - 0.55).abs() < 1e-12);
    let call = |name: &str| {
        m["calls"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == name)
            .unwrap()
            .clone()
    };
    let send = call("MPI_Send");
    assert_eq!(
        (send["calls"].as_u64(), send["bytes"].as_i64()),
        (Some(3), Some(6000))
    );
    assert_eq!(
        send["per_rank_bytes"],
        serde_json::json!([{"rank": 0, "bytes": 1000}, {"rank": 1, "bytes": 2000}, {"rank": 2, "bytes": 3000}])
    );
    let ar = call("MPI_Allreduce");
    assert_eq!(
        (
            ar["total_ns"].as_i64(),
            ar["bytes"].as_i64(),
            ar["most_rank"].as_u64(),
            ar["most_ns"].as_i64()
        ),
        (Some(11_700 * US), Some(24), Some(0), Some(4_900 * US))
    );
    assert_eq!(call("MPI_Recv")["bytes"], 4096);
    let regions = v["regions"].as_array().unwrap();
    let flag = |n: &str| regions.iter().find(|r| r["name"] == n).unwrap()["mpi_call"].clone();
    assert_eq!(
        (flag("MPI_Recv"), flag("compute")),
        (true.into(), false.into())
    );
    // Without MPI calls: "mpi" is null.
    let plain: serde_json::Value =
        serde_json::from_str(&pproc_ok(&[s(&standard(&d)), "--format", "json"])).unwrap();
    assert!(plain["mpi"].is_null());
}

#[test]
fn mpi_show_marks_mpi_time_in_the_chart() {
    let d = Dir::new("mpishow");
    let f = mpi_standard(&d);
    let out = pproc_ok(&[s(&f), "--show"]);
    assert!(out.contains("gantt chart:"), "{out}");
    let text = std::fs::read_to_string(d.path("mpi.gantt.svg")).unwrap();
    for label in [
        "rank 0 · MPI 55%",
        "rank 1 · MPI 47% · thread 0",
        "rank 1 · thread 1",
        "rank 2 · MPI 42%",
    ] {
        assert!(text.contains(&format!(">{label}<")), "{label}");
    }
    // Six MPI calls in reds, compute in the first other colour; one MPI legend entry.
    assert_eq!(text.matches("class=\"legend mpi\"").count(), 1);
    assert_eq!(text.matches("class=\"legend\"").count(), 7);
    assert!(text.contains(r##"fill="#d62728""##) && text.contains(r##"fill="#4e79a7""##));
    assert!(
        !text.contains(r##"fill="#e15759""##),
        "a red of the plain palette"
    );
    assert!(text.contains(">MPI calls (all reds)</text>"));
}

#[test]
fn chrome_trace_carries_bytes_and_peer_of_mpi_calls() {
    let d = Dir::new("mpichrome");
    let f = mpi_standard(&d);
    let out = d.path("trace.json");
    pproc_ok(&["export", "--format", "chrome", s(&f), "-o", s(&out)]);
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    let xs: Vec<&serde_json::Value> = v["traceEvents"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["ph"] == "X")
        .collect();
    assert_eq!(xs.len(), 22);
    let find = |pid: u64, name: &str| {
        xs.iter()
            .find(|e| e["pid"] == pid && e["name"] == name)
            .unwrap_or_else(|| panic!("no {name} on {pid}"))
    };
    let send = find(2, "MPI_Send");
    assert_eq!(send["cat"], "mpi");
    assert_eq!(send["args"], serde_json::json!({"bytes": 3000, "peer": 0}));
    // No peer: left out; MPI_ANY_SOURCE by name.
    assert_eq!(
        find(0, "MPI_Allreduce")["args"],
        serde_json::json!({"bytes": 8})
    );
    let recv = find(1, "MPI_Recv");
    assert_eq!(
        recv["args"],
        serde_json::json!({"bytes": 4096, "peer": "MPI_ANY_SOURCE"})
    );
    assert_eq!(recv["tid"], 2);
    let compute = find(0, "compute");
    assert_eq!(compute["cat"], "region");
    assert!(compute.get("args").is_none());
    let bytes: i64 = xs.iter().filter_map(|e| e["args"]["bytes"].as_i64()).sum();
    assert_eq!(bytes, 6000 + 24 + 4096);
}
