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
    let page = html(&text, "t", &c);
    assert!(!page.contains("http://") || !page.contains("<script"));
    assert!(!page.contains("https://"));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn ticks_are_1_2_5() {
    assert_eq!(svg::tick_step(1000.0, 10.0), 100.0);
    assert_eq!(svg::tick_step(1500.0, 10.0), 200.0);
    assert_eq!(svg::tick_step(4e9, 10.0), 5e8);
}
