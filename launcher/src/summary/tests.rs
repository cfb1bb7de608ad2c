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
        missing_ranks: vec![],
        unfinished_ranks: if complete { vec![] } else { vec![1] },
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
fn incomplete_files_name_unfinished_ranks() {
    let dir = tmpdir("incomplete");
    let path = sample(&dir, false);
    let s = compute(&ProfileReader::open(&path).unwrap(), None).unwrap();
    let note = incomplete_note(&s).unwrap();
    assert_eq!(
        note,
        "the profile is incomplete: rank(s) 1 did not finish; their data may be cut short"
    );
    let (lines, _) = render(&s, "wrote x.h5");
    assert_eq!(lines[0], "wrote x.h5: 2 ranks, 4 events");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn union_counts_overlaps_once() {
    let mut iv = vec![(50, 60), (0, 10), (5, 20), (20, 30), (100, 200), (120, 130)];
    // [0, 30] + [50, 60] + [100, 200]
    assert_eq!(union_within(&mut iv, i64::MIN, i64::MAX), 30 + 10 + 100);
    // Clipped to [25, 150]: [25, 30] + [50, 60] + [100, 150]
    assert_eq!(union_within(&mut iv, 25, 150), 5 + 10 + 50);
    assert_eq!(union_within(&mut [], 0, 10), 0);
    assert_eq!(union_within(&mut [(5, 5), (20, 30)], 0, 10), 0);
}

#[test]
fn bytes_have_binary_units() {
    let cases = [
        (0, "0 B"),
        (1023, "1023 B"),
        (1024, "1.00 KiB"),
        (6000, "5.86 KiB"),
        (1536 * 1024, "1.50 MiB"),
        (1023 * 1024 * 1024 + 1000 * 1024, "1.00 GiB"),
        (100 * 1024 * 1024 + 400 * 1024, "100 MiB"),
        (3 << 40, "3.00 TiB"),
    ];
    for (b, want) in cases {
        assert_eq!(format_bytes(b), want, "{b}");
    }
}

/// Rank 0 (window 100 .. 1100): thread 0 `compute` 100 .. 400, `MPI_Wait` 400 .. 950 (bytes 0),
/// thread 1 `MPI_Recv` 300 .. 600 and 800 .. 1000 (bytes 64 each), `MPI_Send` 1000 .. 1200
/// (crosses the window's end; 512 bytes). Rank 1 (no window): `MPI_Send` 0 .. 50 (128 bytes),
/// `work` 50 .. 250.
fn mpi_sample(dir: &std::path::Path) -> PathBuf {
    let mut inputs = Vec::new();
    for rank in 0..2u32 {
        let path = dir.join(format!("m{rank}.h5"));
        let attrs = RankAttrs {
            rank: rank.into(),
            ..Default::default()
        };
        let mut w = RankWriter::create(&path, attrs).unwrap();
        // An MPI call region: (name, [(start, end, thread, bytes, peer)]).
        let mpi = |w: &mut RankWriter, name: &str, calls: &[(i64, i64, i64, i64, i64)]| {
            let col = |f: fn(&(i64, i64, i64, i64, i64)) -> i64| -> Vec<i64> {
                calls.iter().map(f).collect()
            };
            let (s, e, t) = (col(|c| c.0), col(|c| c.1), col(|c| c.2));
            let (b, p) = (col(|c| c.3), col(|c| c.4));
            w.append_with(name, &s, &e, &t, &[("bytes", &b), ("peer", &p)])
                .unwrap();
        };
        if rank == 0 {
            w.append("compute", &[100], &[400], &[0]).unwrap();
            mpi(&mut w, "MPI_Wait", &[(400, 950, 0, 0, -1)]);
            mpi(
                &mut w,
                "MPI_Recv",
                &[(300, 600, 1, 64, 1), (800, 1000, 1, 64, -2)],
            );
            mpi(&mut w, "MPI_Send", &[(1000, 1200, 1, 512, 1)]);
            w.set_window(Some(100), Some(1100)).unwrap();
        } else {
            mpi(&mut w, "MPI_Send", &[(0, 50, 0, 128, 0)]);
            w.append("work", &[50], &[250], &[0]).unwrap();
        }
        w.finish().unwrap();
        inputs.push(MergeInput { rank, path });
    }
    let out = dir.join("mpi.h5");
    merge(&inputs, &out, &FileAttrs::default()).unwrap();
    out
}

#[test]
fn mpi_time_is_the_union_inside_the_window() {
    let dir = tmpdir("mpi");
    let r = ProfileReader::open(&mpi_sample(&dir)).unwrap();
    let s = compute(&r, None).unwrap();
    let m = s.mpi.as_ref().expect("MPI calls present");
    let r0 = &m.ranks[0];
    // Union of Wait 400..950, Recv 300..600 and 800..1000, Send 1000..1100 (clipped):
    // 300 .. 1100 = 800 ns; the plain sum inside the window would be 550 + 300 + 200 + 100.
    assert_eq!(
        (r0.window, r0.recorded_window, r0.wall_ns, r0.mpi_ns),
        ((100, 1100), true, 1000, 800)
    );
    assert_eq!(r0.compute_ns(), 200);
    assert_eq!(r0.top_call, Some(("MPI_Wait".to_string(), 550)));
    let r1 = &m.ranks[1];
    assert_eq!(
        (r1.window, r1.recorded_window, r1.wall_ns, r1.mpi_ns),
        ((0, 250), false, 250, 50)
    );
    assert_eq!(r1.top_call, Some(("MPI_Send".to_string(), 50)));
    let names: Vec<&str> = m.calls.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["MPI_Wait", "MPI_Recv", "MPI_Send"]);
    let send = &m.calls[2];
    // Per call: every call in full (250 ns), bytes over both ranks.
    assert_eq!(
        (
            send.calls,
            send.total_ns,
            send.bytes,
            send.most_rank,
            send.most_ns
        ),
        (2, 250, 640, 0, 200)
    );
    assert_eq!(send.per_rank_bytes, vec![(0, 512), (1, 128)]);
    assert_eq!((m.calls[1].bytes, m.calls[1].calls), (128, 2));
    let flags: Vec<(&str, bool)> = s
        .regions
        .iter()
        .map(|g| (g.name.as_str(), g.mpi_call))
        .collect();
    assert!(flags.contains(&("MPI_Send", true)) && flags.contains(&("work", false)));
    assert_eq!(m.totals(), (850, 1250));

    let text = mpi::tables(m);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines[0],
        "MPI: 68.0% of the ranks' wall time in MPI calls (850 ns of 1.25 µs)"
    );
    assert_eq!(
        lines[1],
        "rank     wall     MPI  compute  MPI %  top MPI call"
    );
    assert_eq!(
        lines[2],
        "0     1.00 µs  800 ns   200 ns  80.0%  MPI_Wait (550 ns)"
    );
    assert_eq!(
        lines[3],
        "1*     250 ns   50 ns   200 ns  20.0%  MPI_Send (50 ns)"
    );
    assert!(lines[4].starts_with("* no MPI window recorded"));
    assert_eq!(lines[5], "");
    assert_eq!(
        lines[6],
        "MPI call  calls   total    mean  bytes  waits most"
    );
    assert_eq!(
        lines[7],
        "MPI_Wait      1  550 ns  550 ns    0 B  r0 (550 ns)"
    );
    // The whole summary: region table, blank line, MPI section.
    let (_, all) = render(&s, "x");
    assert!(all.starts_with(&table(&s)) && all.ends_with(&text));

    // Rank 1 alone: no window, only its Send.
    let only1 = compute(&r, Some(&[1])).unwrap();
    let m1 = only1.mpi.unwrap();
    assert_eq!(m1.ranks.len(), 1);
    assert_eq!((m1.calls.len(), m1.calls[0].bytes), (1, 128));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn no_mpi_view_without_mpi_calls() {
    let dir = tmpdir("nompi");
    let s = compute(&ProfileReader::open(&sample(&dir, true)).unwrap(), None).unwrap();
    assert_eq!(s.mpi, None);
    assert!(s.regions.iter().all(|r| !r.mpi_call));
    assert_eq!(render(&s, "x").1, table(&s));
    std::fs::remove_dir_all(&dir).unwrap();
}

fn view(ranks: u32) -> MpiView {
    MpiView {
        ranks: (0..ranks)
            .map(|r| MpiRank {
                rank: r,
                window: (0, 1000),
                recorded_window: true,
                wall_ns: 1000,
                // Shares 0.0% .. 99.9% scrambled over the ranks.
                mpi_ns: i64::from((r * 37) % ranks) * 1000 / i64::from(ranks),
                top_call: None,
            })
            .collect(),
        calls: vec![],
    }
}

#[test]
fn many_ranks_show_the_extremes_only() {
    let few = mpi::tables(&view(mpi::MAX_RANK_ROWS as u32));
    assert_eq!(few.lines().count(), 1 + 1 + mpi::MAX_RANK_ROWS + 2);
    let text = mpi::tables(&view(40));
    // After the headline, the note on the order and the header.
    let rows: Vec<&str> = text.lines().skip(3).take(17).collect();
    let share = |l: &str| l.split_whitespace().nth(7).unwrap().to_string();
    // Largest shares first: 975 ‰ … 800 ‰, a gap line, then 175 ‰ … 0 ‰.
    assert_eq!(share(rows[0]), "97.5%");
    assert_eq!(share(rows[7]), "80.0%");
    assert_eq!(rows[8], "… 24 ranks between", "{text}");
    assert_eq!(share(rows[9]), "17.5%");
    assert_eq!(share(rows[16]), "0.0%");
    assert!(text.contains("the 8 largest and smallest of 40"), "{text}");
}
