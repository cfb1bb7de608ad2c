//! A result file read through `scope-format`, with assertions of exact facts.

use scope_format::{FileAttrs, Intervals, ProfileReader, RankAttrs};
use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

/// Per-region, per-rank call counts: `{region: {rank: calls}}` (the oracle scripts' shape).
pub type RankCounts = BTreeMap<String, BTreeMap<u32, usize>>;

/// Everything in one result file, loaded eagerly.
pub struct Profile {
    pub path: PathBuf,
    pub attrs: FileAttrs,
    /// rank -> region name -> intervals.
    pub ranks: BTreeMap<u32, BTreeMap<String, Intervals>>,
    /// rank -> the attributes of its group (`dropped_events`, `pid`, ...).
    pub rank_attrs: BTreeMap<u32, RankAttrs>,
}

impl Profile {
    /// Open and load a result file; panics with the reason if it is missing or unreadable.
    pub fn open(path: &Path) -> Profile {
        assert!(
            path.is_file(),
            "no profile was written at {}",
            path.display()
        );
        let r = ProfileReader::open(path)
            .unwrap_or_else(|e| panic!("cannot open {}: {e}", path.display()));
        let attrs = r
            .attrs()
            .unwrap_or_else(|e| panic!("{}: attributes: {e}", path.display()));
        let mut ranks = BTreeMap::new();
        let mut rank_attrs = BTreeMap::new();
        for rank in r
            .ranks()
            .unwrap_or_else(|e| panic!("{}: ranks: {e}", path.display()))
        {
            let mut regions = BTreeMap::new();
            for name in r
                .regions(rank)
                .unwrap_or_else(|e| panic!("{}: rank {rank} regions: {e}", path.display()))
            {
                let iv = r.intervals(rank, &name).unwrap_or_else(|e| {
                    panic!("{}: rank {rank} region {name}: {e}", path.display())
                });
                regions.insert(name, iv);
            }
            ranks.insert(rank, regions);
            let ra = r
                .rank_attrs(rank)
                .unwrap_or_else(|e| panic!("{}: rank {rank} attributes: {e}", path.display()));
            rank_attrs.insert(rank, ra);
        }
        Profile {
            path: path.to_path_buf(),
            attrs,
            ranks,
            rank_attrs,
        }
    }

    /// `{region: {rank: calls}}` over the whole file.
    pub fn counts(&self) -> RankCounts {
        let mut c = RankCounts::new();
        for (rank, regions) in &self.ranks {
            for (name, iv) in regions {
                c.entry(name.clone()).or_default().insert(*rank, iv.len());
            }
        }
        c
    }

    /// The root attribute `world`: 0 for the launched world, K for `<stem>.world<K>.h5`.
    pub fn world(&self) -> Option<u32> {
        scope_format::read_world(&self.path)
    }

    /// Calls of `region` summed over every rank.
    pub fn total_calls(&self, region: &str) -> usize {
        self.ranks
            .values()
            .filter_map(|r| r.get(region))
            .map(|iv| iv.len())
            .sum()
    }

    pub fn rank_ids(&self) -> Vec<u32> {
        self.ranks.keys().copied().collect()
    }

    pub fn intervals(&self, rank: u32, region: &str) -> &Intervals {
        self.ranks
            .get(&rank)
            .and_then(|r| r.get(region))
            .unwrap_or_else(|| panic!("rank {rank} has no region {region:?}\n{self}"))
    }

    /// The rank groups are exactly `0..n` and the root attribute says `n` ranks, complete.
    pub fn assert_ranks(&self, n: u32) {
        let want: Vec<u32> = (0..n).collect();
        assert_eq!(self.rank_ids(), want, "rank groups\n{self}");
        assert_eq!(
            self.attrs.ranks,
            i64::from(n),
            "root attribute `ranks`\n{self}"
        );
        assert!(self.attrs.complete, "file marked incomplete\n{self}");
        assert!(
            self.attrs.missing_ranks.is_empty(),
            "missing ranks {:?}\n{self}",
            self.attrs.missing_ranks
        );
        assert!(
            self.attrs.unfinished_ranks.is_empty(),
            "unfinished ranks {:?}\n{self}",
            self.attrs.unfinished_ranks
        );
        assert!(
            !self.attrs.version.is_empty(),
            "no version attribute\n{self}"
        );
    }

    /// Every rank has exactly these regions with exactly these counts (and nothing else).
    pub fn assert_exact_counts(&self, expected: &[(&str, usize)]) {
        let mut want = RankCounts::new();
        for rank in self.ranks.keys() {
            for (name, n) in expected {
                want.entry(name.to_string()).or_default().insert(*rank, *n);
            }
        }
        assert_eq!(self.counts(), want, "per-rank counts\n{self}");
    }

    /// Columns have equal lengths and every interval has start <= end, with plausible times.
    pub fn assert_well_formed(&self) {
        for (rank, regions) in &self.ranks {
            for (name, iv) in regions {
                assert_eq!(
                    iv.start_times.len(),
                    iv.end_times.len(),
                    "rank {rank} {name}: start/end lengths"
                );
                if !iv.thread_ids.is_empty() {
                    assert_eq!(
                        iv.thread_ids.len(),
                        iv.len(),
                        "rank {rank} {name}: thread_ids"
                    );
                }
                for (i, (s, e)) in iv.start_times.iter().zip(&iv.end_times).enumerate() {
                    assert!(
                        *s > 0,
                        "rank {rank} {name}[{i}]: start {s} is not a timestamp"
                    );
                    assert!(s <= e, "rank {rank} {name}[{i}]: start {s} > end {e}");
                }
            }
        }
    }

    /// Every call of `region` on every rank lasted at least `min_ns`.
    pub fn assert_min_duration(&self, region: &str, min_ns: i64) {
        for rank in self.ranks.keys() {
            let iv = self.intervals(*rank, region);
            for (i, (s, e)) in iv.start_times.iter().zip(&iv.end_times).enumerate() {
                assert!(
                    e - s >= min_ns,
                    "rank {rank} {region}[{i}] lasted {} ns < {min_ns} ns",
                    e - s
                );
            }
        }
    }

    /// Every `inner` interval lies within some `outer` interval on the same rank.
    pub fn assert_nested(&self, inner: &str, outer: &str) {
        for rank in self.ranks.keys() {
            let o = self.intervals(*rank, outer);
            let i = self.intervals(*rank, inner);
            for (k, (s, e)) in i.start_times.iter().zip(&i.end_times).enumerate() {
                let inside = o
                    .start_times
                    .iter()
                    .zip(&o.end_times)
                    .any(|(os, oe)| os <= s && e <= oe);
                assert!(
                    inside,
                    "rank {rank} {inner}[{k}] = [{s}, {e}] is inside no {outer} interval"
                );
            }
        }
    }
}

impl fmt::Display for Profile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "profile {}: {:?}", self.path.display(), self.attrs)?;
        for (rank, regions) in &self.ranks {
            write!(f, "  rank{rank}:")?;
            for (name, iv) in regions {
                write!(f, " {name}={}", iv.len())?;
            }
            writeln!(f)?;
        }
        Ok(())
    }
}
