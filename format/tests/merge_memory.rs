//! The merge's peak memory does not grow with the number of events: rank 0 merges whatever the
//! ranks recorded, so holding a column in memory would make a long run's finalize fail.
//! The only test of its binary, so no other test's allocations land in the measurement.

use scope_format::{merge_rank_dir, rank_file_name, RankAttrs, RankWriter};
use std::path::Path;

fn status_kib(field: &str) -> Option<u64> {
    std::fs::read_to_string("/proc/self/status")
        .ok()?
        .lines()
        .find_map(|l| {
            l.strip_prefix(field)?
                .trim()
                .strip_suffix("kB")?
                .trim()
                .parse()
                .ok()
        })
}

fn write_rank(dir: &Path, rank: u32, events: usize) {
    let path = dir.join(rank_file_name(rank));
    let attrs = RankAttrs {
        rank: rank.into(),
        ..Default::default()
    };
    let mut w = RankWriter::create(&path, attrs).unwrap();
    let batch = 65536;
    let s: Vec<i64> = (0..batch as i64).collect();
    let mut done = 0;
    while done < events {
        let k = batch.min(events - done);
        w.append("work", &s[..k], &s[..k], &s[..k]).unwrap();
        done += k;
    }
    w.finish().unwrap();
}

/// Growth of the peak resident set (KiB) while merging `ranks` files of `events` events each.
fn merge_peak_growth(tag: &str, ranks: u32, events: usize) -> Option<u64> {
    let dir = std::env::temp_dir().join(format!("scope-mem-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    for rank in 0..ranks {
        write_rank(&dir, rank, events);
    }
    let out = dir.with_extension("h5");
    let _ = std::fs::remove_file(&out);
    // Writing "5" resets the peak (VmHWM) to the current resident set (Linux >= 4.0).
    std::fs::write("/proc/self/clear_refs", "5").ok()?;
    let before = status_kib("VmRSS:")?;
    let m = merge_rank_dir(&dir, ranks, &out, true).unwrap();
    let peak = status_kib("VmHWM:")?;
    assert_eq!(m.events, ranks as u64 * events as u64);
    assert!(m.removed);
    std::fs::remove_file(&out).unwrap();
    Some(peak.saturating_sub(before))
}

#[test]
fn merge_memory_does_not_grow_with_events() {
    let Some(small) = merge_peak_growth("small", 2, 1 << 16) else {
        eprintln!("skipped: /proc/self/clear_refs or VmHWM unavailable");
        return;
    };
    // 32x the events: 2 Mi per rank, 16 MiB per column; loading one column would show.
    let big = merge_peak_growth("big", 2, 1 << 21).unwrap();
    eprintln!("peak growth: {small} KiB at 64 Ki events/rank, {big} KiB at 2 Mi events/rank");
    assert!(
        big < small + 4096,
        "merge peak grew from {small} KiB to {big} KiB with 32x the events"
    );
}
