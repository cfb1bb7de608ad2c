use super::*;
use scope_format::{merge, FileAttrs, MergeInput, RankAttrs, RankWriter};

fn sample(dir: &std::path::Path) -> std::path::PathBuf {
    let mut inputs = Vec::new();
    for rank in 0..2u32 {
        let path = dir.join(format!("r{rank}.h5"));
        let attrs = RankAttrs {
            rank: rank.into(),
            ..Default::default()
        };
        let mut w = RankWriter::create(&path, attrs).unwrap();
        // outer 0..1000 with inner 100..400 on thread 0; on rank 1 also thread 1.
        w.append("outer", &[0], &[1000], &[0]).unwrap();
        w.append("inner", &[100], &[400], &[0]).unwrap();
        // 50 calls of 1 ns: far below a pixel (1000 ns / 1400 px).
        let s: Vec<i64> = (0..50).map(|i| 500 + i).collect();
        let e: Vec<i64> = s.clone();
        w.append("tiny", &s, &e, &vec![0; 50]).unwrap();
        if rank == 1 {
            w.append("outer", &[200], &[900], &[1]).unwrap();
        }
        w.finish().unwrap();
        inputs.push(MergeInput { rank, path });
    }
    let out = dir.join("m.h5");
    merge(
        &inputs,
        &out,
        &FileAttrs {
            ranks: 2,
            complete: true,
            ..Default::default()
        },
    )
    .unwrap();
    out
}

/// The HTML page of chart `c`, written in `dir`.
fn page(r: &ProfileReader, s: &Summary, c: &Chart, dir: &std::path::Path, title: &str) -> String {
    let p = dir.join("page.html");
    write_html(r, s, c, title, &p, "").unwrap();
    std::fs::read_to_string(p).unwrap()
}

/// Decodes one lane's data block: (region, start since t0, duration) per call.
fn decode(c: &Chart, b64: &str) -> Vec<(String, i64, i64)> {
    let val = |ch: u8| -> u32 {
        match ch {
            b'A'..=b'Z' => u32::from(ch - b'A'),
            b'a'..=b'z' => u32::from(ch - b'a') + 26,
            b'0'..=b'9' => u32::from(ch - b'0') + 52,
            b'+' => 62,
            _ => 63,
        }
    };
    let mut bytes: Vec<u8> = Vec::new();
    for q in b64.as_bytes().chunks(4) {
        let pad = q.iter().filter(|&&x| x == b'=').count();
        let n = q
            .iter()
            .fold(0u32, |n, &x| (n << 6) | if x == b'=' { 0 } else { val(x) });
        bytes.extend(&n.to_be_bytes()[1..4 - pad]);
    }
    let mut pos = 0usize;
    let rv = |pos: &mut usize| {
        let (mut v, mut shift) = (0u64, 0);
        loop {
            let b = bytes[*pos];
            *pos += 1;
            v |= u64::from(b & 127) << shift;
            shift += 7;
            if b & 128 == 0 {
                return v;
            }
        }
    };
    let mut out = Vec::new();
    while pos < bytes.len() {
        let region = rv(&mut pos) as usize;
        let n = rv(&mut pos);
        let mut prev = 0i64;
        for _ in 0..n {
            let z = rv(&mut pos);
            prev += ((z >> 1) as i64) ^ -((z & 1) as i64);
            out.push((c.regions[region].clone(), prev, rv(&mut pos) as i64));
        }
    }
    out
}

#[test]
fn lanes_depths_marks_and_svg() {
    let dir = std::env::temp_dir().join(format!("scope-gantt-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let r = ProfileReader::open(&sample(&dir)).unwrap();
    let s = crate::summary::compute(&r, None).unwrap();
    let c = build(&r, &s).unwrap();
    let labels: Vec<&str> = c.lanes.iter().map(|l| l.label.as_str()).collect();
    assert_eq!(labels, ["rank 0", "rank 1 · thread 0", "rank 1 · thread 1"]);
    let l0 = &c.lanes[0];
    let depth = |name: &str| {
        let i = c.regions.iter().position(|r| r == name).unwrap();
        l0.bars.iter().find(|b| b.region == i).unwrap().depth
    };
    assert_eq!((depth("outer"), depth("inner")), (0, 1));
    // tiny: 50 calls in one or two pixel columns, inside outer only → depth 1.
    assert_eq!(l0.marks.iter().map(|m| m.count).sum::<u64>(), 50);
    assert!(l0.marks.iter().all(|m| m.depth == 1), "{:?}", l0.marks);
    assert_eq!(c.aggregated, 100);
    let text = svg(&c, "t <&>");
    assert!(text.starts_with("<svg") && text.contains("t &lt;&amp;&gt;"));
    assert_eq!(text.matches("class=\"lane\"").count(), 3);
    assert_eq!(text.matches("class=\"legend\"").count(), 3);
    let page = page(&r, &s, &c, &dir, "t <&>");
    assert!(!page.contains("<script src") && !page.contains("https://"));
    assert!(page.contains("<title>t &lt;&amp;&gt;</title>") && page.contains("<canvas"));
    // One data block per lane, decoding to the lane's calls (`region, n, n × (Δstart, dur)`).
    let lane = |k: usize| -> Vec<(String, i64, i64)> {
        let tag = format!("id=\"lane-{k}\">");
        let rest = &page[page.find(&tag).unwrap() + tag.len()..];
        decode(&c, &rest[..rest.find('<').unwrap()])
    };
    let mut l0 = lane(0);
    l0.sort();
    let mut want = vec![
        ("inner".to_string(), 100, 300),
        ("outer".to_string(), 0, 1000),
    ];
    want.extend((0..50).map(|i| ("tiny".to_string(), 500 + i, 0)));
    want.sort();
    assert_eq!(l0, want);
    assert_eq!(lane(2), [("outer".to_string(), 200, 700)]);
    assert!(!page.contains("id=\"lane-3\""));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn ticks_are_1_2_5() {
    assert_eq!(svg::tick_step(1000.0, 10.0), 100.0);
    assert_eq!(svg::tick_step(1500.0, 10.0), 200.0);
    assert_eq!(svg::tick_step(4e9, 10.0), 5e8);
}

/// Window 0 .. 1000 on every rank. Rank 0: thread 0 `compute` 0 .. 600 and `MPI_Wait`
/// 600 .. 1000, thread 1 `MPI_Recv` 500 .. 700 (MPI union 500 .. 1000: 50%); rank 1: `compute`
/// 0 .. 997, `MPI_Barrier` 997 .. 1000 (0.3%); rank 2: `compute` only (0%).
fn mpi_sample(dir: &std::path::Path) -> std::path::PathBuf {
    let mut inputs = Vec::new();
    for rank in 0..3u32 {
        let path = dir.join(format!("m{rank}.h5"));
        let attrs = RankAttrs {
            rank: rank.into(),
            ..Default::default()
        };
        let mut w = RankWriter::create(&path, attrs).unwrap();
        let mpi = |w: &mut RankWriter, name: &str, s: i64, e: i64, t: i64| {
            w.append_with(name, &[s], &[e], &[t], &[("bytes", &[8]), ("peer", &[-1])])
                .unwrap();
        };
        match rank {
            0 => {
                w.append("compute", &[0], &[600], &[0]).unwrap();
                mpi(&mut w, "MPI_Wait", 600, 1000, 0);
                mpi(&mut w, "MPI_Recv", 500, 700, 1);
            }
            1 => {
                w.append("compute", &[0], &[997], &[0]).unwrap();
                mpi(&mut w, "MPI_Barrier", 997, 1000, 0);
            }
            _ => w.append("compute", &[0], &[1000], &[0]).unwrap(),
        }
        w.set_window(Some(0), Some(1000)).unwrap();
        w.finish().unwrap();
        inputs.push(MergeInput { rank, path });
    }
    let out = dir.join("mpi.h5");
    merge(&inputs, &out, &FileAttrs::default()).unwrap();
    out
}

#[test]
fn mpi_calls_are_red_and_labels_carry_the_mpi_share() {
    let dir = std::env::temp_dir().join(format!("scope-gantt-mpi-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let r = ProfileReader::open(&mpi_sample(&dir)).unwrap();
    let s = crate::summary::compute(&r, None).unwrap();
    let c = build(&r, &s).unwrap();
    let labels: Vec<&str> = c.lanes.iter().map(|l| l.label.as_str()).collect();
    assert_eq!(
        labels,
        [
            "rank 0 · MPI 50% · thread 0",
            "rank 0 · thread 1",
            "rank 1 · MPI <1%",
            "rank 2 · MPI 0%"
        ]
    );
    // Regions by total: compute, MPI_Wait, MPI_Recv, MPI_Barrier.
    assert_eq!(
        c.regions,
        ["compute", "MPI_Wait", "MPI_Recv", "MPI_Barrier"]
    );
    assert_eq!(c.mpi, [false, true, true, true]);
    assert_eq!(c.colours[0], svg::OTHER_PALETTE[0]);
    assert_eq!(c.colours[1..], svg::MPI_PALETTE[..3]);
    let text = svg(&c, "t");
    // (escaped: "<1%" is "&lt;1%" in the markup)
    for l in &labels {
        assert!(text.contains(&format!(">{}<", svg::escape(l))), "{l}");
    }
    // The bars of MPI_Wait and MPI_Recv in their reds, with their names on hover.
    assert!(text.contains(&format!(
        r##"fill="{}" stroke="#ffffff" stroke-width="0.3"><title>MPI_Wait · rank 0 · MPI 50% · thread 0 · 400 ns</title>"##,
        svg::MPI_PALETTE[0]
    )));
    assert!(text.contains(&format!(
        r##"fill="{}" stroke="#ffffff" stroke-width="0.3"><title>MPI_Recv · rank 0 · thread 1 · 200 ns</title>"##,
        svg::MPI_PALETTE[1]
    )));
    // Legend: compute, the MPI entry, then the three calls.
    assert_eq!(text.matches("class=\"legend\"").count(), 4);
    assert_eq!(text.matches("class=\"legend mpi\"").count(), 1);
    let at = |needle: &str| text.find(needle).unwrap_or_else(|| panic!("{needle}"));
    assert!(at(">compute</text></g>") < at(&format!(">{}<", svg::MPI_LEGEND)));
    assert!(at(&format!(">{}<", svg::MPI_LEGEND)) < at(">MPI_Wait</text></g>"));
    // No other region is drawn in a red of the MPI palette.
    for (i, col) in c.colours.iter().enumerate() {
        assert_eq!(
            svg::MPI_PALETTE.contains(&col.as_str()),
            c.mpi[i],
            "{i} {col}"
        );
    }
    assert!(page(&r, &s, &c, &dir, "t").contains("shades of red"));
    // Names reach the page's JSON without a `<`.
    assert!(page(&r, &s, &c, &dir, "t").contains(r#"["compute","MPI_Wait""#));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn colour_families() {
    // Without MPI calls: the original palette, unchanged.
    assert_eq!(svg::colours(&[false; 3]), ["#4e79a7", "#f28e2b", "#e15759"]);
    let c = svg::colours(&[true, false, true, false]);
    assert_eq!(c, ["#d62728", "#4e79a7", "#a50f15", "#76b7b2"]);
    // Beyond the palettes: MPI stays red (hue 350..10), the others never red (70..290).
    let hue = |s: &str| -> f64 {
        s.trim_start_matches("hsl(")
            .split(',')
            .next()
            .unwrap()
            .parse()
            .unwrap()
    };
    for k in 8..200 {
        let h = hue(&svg::mpi_colour(k));
        assert!(!(10.0..350.0).contains(&h), "MPI {k}: {h}");
        let h = hue(&svg::other_colour(k));
        assert!((70.0..=290.0).contains(&h), "other {k}: {h}");
    }
    assert_eq!(share_label(0.0), "0%");
    assert_eq!(share_label(0.004), "<1%");
    assert_eq!(share_label(0.425), "42%");
    assert_eq!(share_label(f64::NAN), "-");
}
