//! A 4-rank × 10^6-event profile (written by the real writer and merge) summarised and drawn
//! in seconds with bounded memory: the events alone are 96 MiB (3 int64 columns), and
//! scope-pproc streams them, so its peak RSS must stay far below that. Also: the progress bar
//! appears on a terminal (a pty from `script`) and never in a pipe.
//! Peak RSS is measured by GNU time (`/usr/bin/time -f %M`).

use crate::fixture::*;
use scope_format::{merge, FileAttrs, MergeInput, RankAttrs, RankWriter};
use std::process::Command;
use std::time::Instant;

const PER_RANK: i64 = 1_000_000;

/// Per rank, one call every µs, 800 + rank ns long, in three regions one after the other:
/// 500 000 × `a`, 300 000 × `b`, 200 000 × `c`, written in 100 000-event appends.
fn big(d: &Dir) -> std::path::PathBuf {
    let _no_fork = fork_lock();
    let mut inputs = Vec::new();
    for rank in 0..4u32 {
        let path = d.path(&format!("big{rank}.h5"));
        let attrs = RankAttrs {
            rank: rank.into(),
            ..Default::default()
        };
        let mut w = RankWriter::create(&path, attrs).unwrap();
        for (region, n, off) in [
            ("a", 500_000i64, 0i64),
            ("b", 300_000, 500_000),
            ("c", 200_000, 800_000),
        ] {
            let mut i = 0;
            while i < n {
                let m = (n - i).min(100_000);
                let s: Vec<i64> = (i..i + m).map(|k| T + (off + k) * 1_000).collect();
                let e: Vec<i64> = s.iter().map(|x| x + 800 + i64::from(rank)).collect();
                w.append(region, &s, &e, &vec![0; m as usize]).unwrap();
                i += m;
            }
        }
        w.finish().unwrap();
        inputs.push(MergeInput { rank, path });
    }
    let out = d.path("big.h5");
    let attrs = FileAttrs {
        ranks: 4,
        version: "test".into(),
        complete: true,
        missing_ranks: vec![],
        unfinished_ranks: vec![],
    };
    let report = merge(&inputs, &out, &attrs).unwrap();
    assert_eq!(report.events, 4 * PER_RANK as u64);
    for i in inputs {
        std::fs::remove_file(i.path).unwrap();
    }
    out
}

/// Runs scope-pproc under GNU time; returns (stdout, seconds, peak RSS in MiB).
fn measured(args: &[&str]) -> (String, f64, f64) {
    let time = std::path::Path::new("/usr/bin/time");
    assert!(
        time.exists(),
        "/usr/bin/time is missing: apt-get install time (scripts/setup-pproc-oracles.sh does)"
    );
    let mut c = Command::new(time);
    c.args(["-f", "@@maxrss_kib=%M"]).arg(PPROC).args(args);
    let t = Instant::now();
    let o = finish_within(c, 120);
    let secs = t.elapsed().as_secs_f64();
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert!(
        o.status.success(),
        "scope-pproc {args:?} failed:\n{out}\n{err}"
    );
    let kib: f64 = err
        .rsplit_once("@@maxrss_kib=")
        .and_then(|(_, v)| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no RSS figure in:\n{err}"));
    (out, secs, kib / 1024.0)
}

#[test]
fn four_million_events_in_seconds_and_bounded_memory() {
    let d = Dir::new("big");
    let t = Instant::now();
    let f = big(&d);
    eprintln!(
        "wrote 4 × 10^6 events in {:.2} s",
        t.elapsed().as_secs_f64()
    );

    let (out, secs, rss) = measured(&[s(&f), "--format", "json"]);
    eprintln!("summary: {secs:.2} s, peak RSS {rss:.1} MiB");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["events"], 4 * PER_RANK);
    let a = &v["regions"][0];
    assert_eq!(
        (a["name"].as_str(), a["calls"].as_u64()),
        (Some("a"), Some(2_000_000))
    );
    // 500 000 calls per rank of 800 + rank ns.
    assert_eq!(a["total_ns"], 500_000 * (800 + 801 + 802 + 803));
    assert!(secs < 15.0, "summary took {secs:.1} s");
    assert!(rss < 48.0, "summary peak RSS {rss:.1} MiB: not streamed?");

    let html = d.path("big.html");
    let (_, secs, rss) = measured(&[s(&f), "--show", "-o", s(&html)]);
    let size = std::fs::metadata(d.path("big.svg")).unwrap().len();
    eprintln!(
        "gantt: {secs:.2} s, peak RSS {rss:.1} MiB, SVG {} KiB",
        size / 1024
    );
    assert!(secs < 20.0 && rss < 48.0, "gantt {secs:.1} s, {rss:.1} MiB");
    assert!(
        size < 8 << 20,
        "SVG of {size} B: sub-pixel calls not aggregated?"
    );

    // The bar: on a terminal (after 0 ms here, 1 s by default), never in a pipe.
    let mut c = Command::new("script");
    c.args(["-qec", &format!("{PPROC} {}", s(&f)), "/dev/null"])
        .env("SCOPE_PROGRESS_AFTER_MS", "0");
    let o = finish_within(c, 60);
    let tty = String::from_utf8_lossy(&o.stdout);
    assert!(
        tty.contains("summarising [") && tty.contains("events"),
        "no bar on a tty:\n{tty}"
    );
    let mut c = Command::new(PPROC);
    c.arg(&f).env("SCOPE_PROGRESS_AFTER_MS", "0");
    let o = finish_within(c, 60);
    assert!(
        !String::from_utf8_lossy(&o.stderr).contains("summarising"),
        "bar in a pipe"
    );
}
