//! The two halves of the merge benchmark (`scripts/bench-merge.sh`, `bench/merge/run.py`):
//!
//! ```text
//! merge_bench gen DIR RANKS EVENTS [REGIONS]   write DIR/rank_<r>.h5, r < RANKS, with RankWriter:
//!                                              EVENTS events per rank over REGIONS regions (1),
//!                                              appended in 64 Ki-event batches as the agent does
//! merge_bench merge DIR OUT                    merge_rank_dir(DIR, ranks found, OUT, true), timed;
//!                                              prints one JSON line
//! merge_bench layout OUT RANKS EVENTS [REGIONS] the metadata-only half of a merge, timed: create
//!                                              OUT's groups, attributes and preallocated
//!                                              contiguous datasets for RANKS ranks (no data, no
//!                                              inputs), as rank 0 would before parallel writers
//!                                              fill them (docs/scaling.md); one JSON line
//! ```
//! `merge` removes DIR's files as the agent does (the driver hands it hard links). Peak memory:
//! the kernel's high-water mark is reset (`/proc/self/clear_refs` = 5) just before the merge and
//! read (`VmHWM`) just after, so the figure is the merge's own peak resident set, HDF5 included.

use std::path::Path;
use std::time::Instant;

const BATCH: usize = 65536;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let a: Vec<&str> = args.iter().map(String::as_str).collect();
    match a.as_slice() {
        ["gen", dir, ranks, events, rest @ ..] => {
            let regions = rest.first().map_or(1, |r| r.parse().expect("REGIONS"));
            generate(
                Path::new(dir),
                ranks.parse().expect("RANKS"),
                events.parse().expect("EVENTS"),
                regions,
            )
        }
        ["merge", dir, out] => merge(Path::new(dir), Path::new(out)),
        ["layout", out, ranks, events, rest @ ..] => layout(
            Path::new(out),
            ranks.parse().expect("RANKS"),
            events.parse().expect("EVENTS"),
            rest.first().map_or(1, |r| r.parse().expect("REGIONS")),
        ),
        _ => {
            eprintln!("usage: merge_bench gen DIR RANKS EVENTS [REGIONS] | merge DIR OUT | layout OUT RANKS EVENTS [REGIONS]");
            std::process::exit(2);
        }
    }
}

fn generate(dir: &Path, ranks: u32, events: usize, regions: usize) {
    std::fs::create_dir_all(dir).expect("create DIR");
    let regions = regions.max(1);
    let (mut s, mut e, mut t) = (vec![0i64; BATCH], vec![0i64; BATCH], vec![0i64; BATCH]);
    for rank in 0..ranks {
        let path = dir.join(scope_format::rank_file_name(rank));
        let attrs = scope_format::RankAttrs {
            rank: rank.into(),
            pid: 1000 + i64::from(rank),
            hostname: "bench".into(),
            ..Default::default()
        };
        let mut w = scope_format::RankWriter::create(&path, attrs).expect("create rank file");
        let mut clock = 1_000_000_000i64 * i64::from(rank + 1);
        for region in 0..regions {
            let n = events / regions + usize::from(region < events % regions);
            let name = format!("region_{region}");
            let mut done = 0;
            while done < n {
                let k = BATCH.min(n - done);
                for i in 0..k {
                    clock += 37 + (i as i64 & 15);
                    s[i] = clock;
                    clock += 120 + (i as i64 & 63);
                    e[i] = clock;
                    t[i] = (i & 3) as i64;
                }
                w.append(&name, &s[..k], &e[..k], &t[..k]).expect("append");
                w.flush().expect("flush");
                done += k;
            }
        }
        w.finish().expect("finish");
    }
}

fn status_kib(field: &str) -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    s.lines()
        .find_map(|l| {
            l.strip_prefix(field)?
                .trim()
                .strip_suffix("kB")?
                .trim()
                .parse()
                .ok()
        })
        .unwrap_or(0)
}

fn merge(dir: &Path, out: &Path) {
    let mut in_bytes = 0u64;
    let mut files = 0u32;
    for entry in std::fs::read_dir(dir).expect("read DIR").flatten() {
        if scope_format::rank_of_file_name(&entry.file_name().to_string_lossy()).is_some() {
            in_bytes += entry.metadata().map_or(0, |m| m.len());
            files += 1;
        }
    }
    let rss_before = status_kib("VmRSS:");
    // Reset the peak-RSS mark so VmHWM is the merge's own peak (Linux >= 4.0).
    let reset = std::fs::write("/proc/self/clear_refs", "5").is_ok();
    let t0 = Instant::now();
    let m = scope_format::merge_rank_dir(dir, files, out, true).expect("merge");
    let seconds = t0.elapsed().as_secs_f64();
    let hwm = status_kib("VmHWM:");
    let out_bytes = std::fs::metadata(out).map_or(0, |m| m.len());
    assert!(m.unreadable.is_empty() && m.missing.is_empty(), "{m:?}");
    println!(
        "{{\"files\":{files},\"events\":{},\"in_bytes\":{in_bytes},\"out_bytes\":{out_bytes},\
         \"seconds\":{seconds:.6},\"rss_before_kib\":{rss_before},\"peak_rss_kib\":{hwm},\
         \"peak_reset\":{reset}}}",
        m.events
    );
}

fn layout(out: &Path, ranks: u32, events: usize, regions: usize) {
    use hdf5::dataset::{AllocTime, FillTime};
    let t0 = Instant::now();
    let file = hdf5::File::create_excl(out).expect("create OUT");
    let mut addresses = 0u64;
    for rank in 0..ranks {
        let g = file
            .create_group(&scope_format::rank_group_name(rank))
            .expect("group");
        for (name, v) in [("rank", i64::from(rank)), ("pid", 1), ("dropped_events", 0)] {
            g.new_attr::<i64>()
                .create(name)
                .and_then(|a| a.write_scalar(&v))
                .expect("attr");
        }
        let rg = g.create_group("regions").expect("group");
        for region in 0..regions.max(1) {
            let r = rg.create_group(&format!("region_{region}")).expect("group");
            for col in ["start_times", "end_times", "thread_ids"] {
                let d = r
                    .new_dataset::<i64>()
                    .shape(events)
                    .alloc_time(Some(AllocTime::Early))
                    .fill_time(FillTime::Never)
                    .create(col)
                    .expect("dataset");
                addresses += u64::from(d.offset().is_some());
            }
        }
    }
    file.close().expect("close");
    let seconds = t0.elapsed().as_secs_f64();
    let out_bytes = std::fs::metadata(out).map_or(0, |m| m.len());
    println!(
        "{{\"ranks\":{ranks},\"regions\":{regions},\"datasets_with_address\":{addresses},\
         \"seconds\":{seconds:.6},\"out_bytes\":{out_bytes},\"peak_rss_kib\":{}}}",
        status_kib("VmHWM:")
    );
}
