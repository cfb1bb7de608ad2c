use super::*;
use scope_format::{merge, MergeInput, RankAttrs, RankWriter};
use std::path::PathBuf;

#[test]
fn durations_have_three_significant_digits() {
    let cases = [
        (0.0, "0 ns"),
        (950.0, "950 ns"),
        (999.4, "999 ns"),
        (999.6, "1.00 µs"),
        (1234.0, "1.23 µs"),
        (12_345.0, "12.3 µs"),
        (123_456.0, "123 µs"),
        (999_600.0, "1.00 ms"),
        (45_600_000.0, "45.6 ms"),
        (2e9, "2.00 s"),
        (1_234e9, "1234 s"),
    ];
    for (ns, want) in cases {
        assert_eq!(format_duration(ns), want, "{ns}");
    }
}

fn tmpdir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("scope-launcher-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// rank 0: compute 2 calls (10 + 30 ns), io 1 call (5 ns); rank 1: compute 1 call (100 ns).
fn sample(dir: &std::path::Path, complete: bool) -> PathBuf {
    let mut inputs = Vec::new();
    for rank in 0..2u32 {
        let path = dir.join(format!("r{rank}.h5"));
        let attrs = RankAttrs {
            rank: rank.into(),
            dropped_events: if rank == 1 { 3 } else { 0 },
            pid: 1,
            hostname: "h".into(),
        };
        let mut w = RankWriter::create(&path, attrs).unwrap();
        if rank == 0 {
            w.append("compute", &[0, 100], &[10, 130], &[1, 1]).unwrap();
            w.append("io", &[200], &[205], &[1]).unwrap();
        } else {
            w.append("compute", &[0], &[100], &[1]).unwrap();
        }
        w.finish().unwrap();
        inputs.push(MergeInput { rank, path });
    }
    let out = dir.join("merged.h5");
    let attrs = FileAttrs {
        ranks: 2,
        version: "test".into(),
        complete,
        missing_ranks: if complete { vec![] } else { vec![1] },
    };
    merge(&inputs, &out, &attrs).unwrap();
    out
}

#[test]
fn numbers_from_a_small_file() {
    let dir = tmpdir("summary");
    let path = sample(&dir, true);
    let r = ProfileReader::open(&path).unwrap();
    let s = compute(&r, None).unwrap();
    assert_eq!(s.ranks, vec![0, 1]);
    assert_eq!(s.events, 4);
    assert_eq!(s.dropped, 3);
    assert_eq!(s.regions.len(), 2);
    let c = &s.regions[0];
    assert_eq!((c.name.as_str(), c.calls, c.total_ns), ("compute", 3, 140));
    assert_eq!((c.min_ns, c.max_ns, c.slowest_rank), (10, 100, 1));
    assert_eq!(
        c.per_rank,
        vec![
            RankTotal {
                rank: 0,
                calls: 2,
                total_ns: 40
            },
            RankTotal {
                rank: 1,
                calls: 1,
                total_ns: 100
            }
        ]
    );
    assert!((c.imbalance - (100.0 / 70.0 - 1.0)).abs() < 1e-12);
    let io = &s.regions[1];
    assert_eq!((io.name.as_str(), io.calls, io.total_ns), ("io", 1, 5));
    assert_eq!((io.min_ns, io.max_ns, io.imbalance), (5, 5, 0.0));
    assert_eq!(s.span, Some((0, 205)));
    assert_eq!(s.threads.get(&0), Some(&vec![1]));
    assert_eq!(incomplete_note(&s), None);
    let t = table(&s);
    let lines: Vec<&str> = t.lines().collect();
    assert!(lines[0].starts_with("region") && lines[0].ends_with("imbalance"));
    let cells: Vec<&str> = lines[1].split_whitespace().collect();
    assert_eq!(
        cells,
        ["compute", "3", "140", "ns", "47", "ns", "10", "ns", "100", "ns", "42.9%", "(r1)"],
        "{t}"
    );
    assert!(
        lines[2].starts_with("io") && lines[2].ends_with(" -"),
        "{t}"
    );

    let only1 = compute(&r, Some(&[1])).unwrap();
    assert_eq!(only1.ranks, vec![1]);
    assert_eq!(only1.events, 1);
    assert_eq!(only1.regions.len(), 1);
    assert_eq!(only1.regions[0].per_rank.len(), 1);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn incomplete_files_name_missing_ranks() {
    let dir = tmpdir("incomplete");
    let path = sample(&dir, false);
    let s = compute(&ProfileReader::open(&path).unwrap(), None).unwrap();
    let note = incomplete_note(&s).unwrap();
    assert!(note.contains("rank(s) 1 did not finish"), "{note}");
    let (lines, _) = render(&s, "wrote x.h5");
    assert_eq!(lines[0], "wrote x.h5: 2 ranks, 4 events");
    std::fs::remove_dir_all(&dir).unwrap();
}
