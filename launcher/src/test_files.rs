//! Unit-test support: per-rank files as the agent leaves them, written with the real
//! `RankWriter` (one interval of one region each).

use scope_format::{RankAttrs, RankWriter};
use std::path::Path;

/// `rank_<r>.h5` for every rank of `ranks` in `dir` (created), each with one `region` interval
/// [1, 2]; closed finished or not.
pub fn rank_files(dir: &Path, ranks: &[u32], region: &str, finished: bool) {
    std::fs::create_dir_all(dir).unwrap();
    for &rank in ranks {
        let mut w = RankWriter::create(
            &dir.join(scope_format::rank_file_name(rank)),
            RankAttrs {
                rank: rank.into(),
                ..Default::default()
            },
        )
        .unwrap();
        w.append(region, &[1], &[2], &[0]).unwrap();
        if finished {
            w.finish().unwrap();
        } else {
            w.close_unfinished().unwrap();
        }
    }
}
