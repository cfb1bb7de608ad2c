//! The manifest of a closed rank file: everything the merge needs to copy the file (its rank
//! attributes, its regions and where each column's bytes lie) in a few hundred bytes that
//! `RankWriter` writes into the file's HDF5 user block once HDF5 has closed the file. The merge
//! reads it with one `pread` instead of opening the file with HDF5, which costs more than the
//! copy itself for a file of a few thousand events.
//!
//! HDF5 reserves the user block (the first `USERBLOCK` bytes; the superblock follows) and never
//! reads or writes it, so the file stays a plain HDF5 file for every other reader.
//! Invariant: a manifest that decodes describes the file as HDF5 sees it: it is written only
//! after a successful close, nothing writes a rank file after that, and `decode` rejects a
//! manifest whose checksum, file length or byte ranges do not match the file. A file without
//! one (a rank killed before closing, a manifest too large for the block, a foreign file) is
//! merged through HDF5 as before.

use crate::attrs::RankAttrs;
use crate::clock::{ClockSample, ClockSync};
use crate::names::encode_region_name;

/// Bytes reserved at the start of a rank file (a power of two, as HDF5 requires).
pub(crate) const USERBLOCK: u64 = 4096;
const MAGIC: &[u8; 8] = b"SCOPEMF3";
/// A window bound that is not recorded.
const NO_TIME: i64 = i64::MIN;
/// Magic, body length (u32), flags (u32, 0), checksum of the body (u64).
const HEADER: usize = 24;

/// Elements `first..first + elems` of a column, stored contiguously at byte `addr` of its file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Run {
    pub first: u64,
    pub addr: u64,
    pub elems: u64,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Region {
    /// The region name as configured (its group's link name is `encode_region_name(name)`).
    pub name: String,
    pub len: u64,
    /// The byte runs of `start_times`, `end_times`, `thread_ids`.
    /// The first 3 (times and threads) or all 5 (with `bytes` and `peer` of an MPI call) of
    /// `crate::COLUMNS`, in that order.
    pub columns: Vec<Vec<Run>>,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Manifest {
    /// The file's length when the manifest was written.
    pub file_len: u64,
    pub attrs: RankAttrs,
    pub finished: bool,
    /// The rank's MPI window (`crate::WINDOW`), where recorded.
    pub window: [Option<i64>; 2],
    /// The rank's clock samples against rank 0's (`crate::clock`), where taken.
    pub clock: ClockSync,
    /// In the order the merge creates them: sorted by link name in a stored manifest (as
    /// `RankWriter` writes it), as HDF5 lists the rank file's regions in one built through HDF5
    /// (`describe.rs`).
    pub regions: Vec<Region>,
}

/// Where the `n` elements of a 1-D int64 column lie in its file, as runs of adjacent chunks in
/// element order; `None` unless every element can be copied byte for byte: chunked, no filters,
/// native int64, and one allocated chunk of full size inside the file per `chunk` elements.
pub(crate) fn raw_runs(sd: &hdf5::Dataset, n: usize, file_len: u64) -> Option<Vec<Run>> {
    if n == 0 || sd.ndim() != 1 || !sd.is_chunked() || !sd.filters().is_empty() {
        return None;
    }
    if !sd.dtype().ok()?.is::<i64>() {
        return None;
    }
    let chunk = u64::try_from(*sd.chunk()?.first()?).ok()?;
    if chunk == 0 {
        return None;
    }
    let n = n as u64;
    let mut chunks: Vec<(u64, u64, u64)> = Vec::new();
    sd.chunks_visit(|c| {
        chunks.push((
            c.offset.first().copied().unwrap_or(u64::MAX),
            c.addr,
            c.size,
        ));
        0
    })
    .ok()?;
    chunks.sort_unstable();
    if chunks.len() as u64 != n.div_ceil(chunk) {
        return None;
    }
    let mut runs: Vec<Run> = Vec::new();
    for (i, &(first, addr, size)) in chunks.iter().enumerate() {
        let elems = chunk.min(n.saturating_sub(first));
        let inside = addr
            .checked_add(elems * 8)
            .is_some_and(|end| end <= file_len);
        if first != i as u64 * chunk || size != chunk * 8 || !inside {
            return None;
        }
        match runs.last_mut() {
            Some(r) if r.addr + r.elems * 8 == addr && r.first + r.elems == first => {
                r.elems += elems
            }
            _ => runs.push(Run { first, addr, elems }),
        }
    }
    Some(runs)
}

/// FNV-1a, 64 bits: catches a torn or stale block, not an adversary.
pub(crate) fn checksum(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(&(s.len() as u32).to_le_bytes());
    out.extend_from_slice(s.as_bytes());
}

impl Manifest {
    /// The user block's bytes, or `None` if the manifest does not fit in it.
    pub(crate) fn encode(&self) -> Option<Vec<u8>> {
        self.encode_within(USERBLOCK as usize)
    }

    /// The manifest's bytes whatever their length (one sent to another node, not stored in a
    /// block), or `None` if it cannot be encoded (a region with neither 3 nor 5 columns).
    pub(crate) fn encode_detached(&self) -> Option<Vec<u8>> {
        self.encode_within(u32::MAX as usize)
    }

    fn encode_within(&self, limit: usize) -> Option<Vec<u8>> {
        let mut body = Vec::with_capacity(256);
        body.extend_from_slice(&self.file_len.to_le_bytes());
        for v in [
            self.attrs.rank,
            self.attrs.dropped_events,
            self.attrs.pid,
            i64::from(self.finished),
            self.window[0].unwrap_or(NO_TIME),
            self.window[1].unwrap_or(NO_TIME),
        ] {
            body.extend_from_slice(&v.to_le_bytes());
        }
        for s in [self.clock.begin, self.clock.end] {
            // A sample is [at, offset, error]; NO_TIME as `at` says it was not taken.
            let v = s.map_or([NO_TIME, 0, 0], ClockSample::to_array);
            for x in v {
                body.extend_from_slice(&x.to_le_bytes());
            }
        }
        put_str(&mut body, &self.attrs.hostname);
        body.extend_from_slice(&(self.regions.len() as u32).to_le_bytes());
        for r in &self.regions {
            put_str(&mut body, &r.name);
            body.extend_from_slice(&r.len.to_le_bytes());
            if !matches!(r.columns.len(), 3 | 5) {
                return None;
            }
            body.extend_from_slice(&(r.columns.len() as u32).to_le_bytes());
            for runs in &r.columns {
                body.extend_from_slice(&(runs.len() as u32).to_le_bytes());
                for run in runs {
                    body.extend_from_slice(&run.addr.to_le_bytes());
                    body.extend_from_slice(&run.elems.to_le_bytes());
                }
            }
        }
        if HEADER + body.len() > limit {
            return None;
        }
        let mut out = Vec::with_capacity(HEADER + body.len());
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&(body.len() as u32).to_le_bytes());
        out.extend_from_slice(&0u32.to_le_bytes());
        out.extend_from_slice(&checksum(&body).to_le_bytes());
        out.extend_from_slice(&body);
        Some(out)
    }

    /// The manifest in `block` (the file's first bytes) if there is a valid one for a file of
    /// `file_len` bytes: checksum, length and every byte range checked.
    pub(crate) fn decode(block: &[u8], file_len: u64) -> Option<Manifest> {
        Manifest::decode_within(block, file_len, USERBLOCK as usize, true)
    }

    /// `decode`, for an encoding of at most `limit` bytes, whose regions are sorted by link
    /// name where `sorted` (a stored manifest) and in any order otherwise (one built through
    /// HDF5 lists them as HDF5 does), unique either way.
    fn decode_within(block: &[u8], file_len: u64, limit: usize, sorted: bool) -> Option<Manifest> {
        if block.get(..8)? != MAGIC {
            return None;
        }
        let body_len = u32::from_le_bytes(block.get(8..12)?.try_into().ok()?) as usize;
        let flags = u32::from_le_bytes(block.get(12..16)?.try_into().ok()?);
        let sum = u64::from_le_bytes(block.get(16..24)?.try_into().ok()?);
        let body = block.get(HEADER..HEADER.checked_add(body_len)?)?;
        if flags != 0 || HEADER + body_len > limit || checksum(body) != sum {
            return None;
        }
        let mut rd = Cursor(body);
        let m_len = rd.u64()?;
        let (rank, dropped, pid, finished) = (rd.i64()?, rd.i64()?, rd.i64()?, rd.i64()?);
        let window = [rd.i64()?, rd.i64()?].map(|t| (t != NO_TIME).then_some(t));
        let mut samples = [None, None];
        for s in &mut samples {
            let v = [rd.i64()?, rd.i64()?, rd.i64()?];
            *s = (v[0] != NO_TIME)
                .then(|| ClockSample::from_slice(&v))
                .flatten();
        }
        let clock = ClockSync {
            begin: samples[0],
            end: samples[1],
        };
        let hostname = rd.str()?;
        let n_regions = rd.u32()?;
        if m_len != file_len || !(0..=1).contains(&finished) {
            return None;
        }
        let mut regions = Vec::new();
        let mut last_link: Option<String> = None;
        let mut links = std::collections::HashSet::new();
        for _ in 0..n_regions {
            let name = rd.str()?;
            let len = rd.u64()?;
            let link = encode_region_name(&name);
            // Unique, sorted where asked; no NUL, which an HDF5 string cannot hold.
            let unsorted = last_link.as_ref().is_some_and(|l| *l >= link);
            if name.contains('\0') || (sorted && unsorted) || !links.insert(link.clone()) {
                return None;
            }
            let n_columns = rd.u32()? as usize;
            if !matches!(n_columns, 3 | 5) {
                return None;
            }
            let mut columns: Vec<Vec<Run>> = vec![Vec::new(); n_columns];
            for runs in &mut columns {
                let n_runs = rd.u32()?;
                let mut first = 0u64;
                for _ in 0..n_runs {
                    let (addr, elems) = (rd.u64()?, rd.u64()?);
                    let end = elems.checked_mul(8).and_then(|b| addr.checked_add(b))?;
                    if elems == 0 || addr < USERBLOCK || end > file_len {
                        return None;
                    }
                    runs.push(Run { first, addr, elems });
                    first = first.checked_add(elems)?;
                }
                if first != len {
                    return None;
                }
            }
            last_link = Some(link);
            regions.push(Region { name, len, columns });
        }
        if !rd.0.is_empty() {
            return None;
        }
        Some(Manifest {
            file_len,
            attrs: RankAttrs {
                rank,
                dropped_events: dropped,
                pid,
                hostname,
            },
            finished: finished == 1,
            window,
            clock,
            regions,
        })
    }

    /// The manifest of the file `raw` (`file_len` bytes), if it has a valid one.
    pub(crate) fn read(raw: &std::fs::File, file_len: u64) -> Option<Manifest> {
        Manifest::decode(&read_block(raw, file_len)?, file_len)
    }

    /// As `read`, with the manifest's encoding (header and body, not the block's padding):
    /// what a rank sends to rank 0 for the parallel layout (`layout.rs`).
    pub(crate) fn read_encoded(raw: &std::fs::File, file_len: u64) -> Option<(Manifest, Vec<u8>)> {
        let block = read_block(raw, file_len)?;
        let m = Manifest::decode(&block, file_len)?;
        let used = HEADER + u32::from_le_bytes(block.get(8..12)?.try_into().ok()?) as usize;
        Some((m, block.get(..used)?.to_vec()))
    }

    /// The manifest encoded in `bytes` (exactly what `read_encoded` or `encode_detached`
    /// returned, e.g. received from another node), with every check of `decode` but those
    /// against the file, which the receiver cannot see: the length and byte ranges are checked
    /// against the length the manifest records, the encoding may be longer than a block, and
    /// the regions may come in any order. The side that has the file checks them again.
    pub(crate) fn decode_detached(bytes: &[u8]) -> Option<Manifest> {
        let body_len = u32::from_le_bytes(bytes.get(8..12)?.try_into().ok()?) as usize;
        if bytes.len() != HEADER.checked_add(body_len)? {
            return None;
        }
        let recorded = u64::from_le_bytes(bytes.get(HEADER..HEADER + 8)?.try_into().ok()?);
        Manifest::decode_within(bytes, recorded, bytes.len(), false)
    }
}

/// The user block of the file `raw` (`file_len` bytes), if it has one.
fn read_block(raw: &std::fs::File, file_len: u64) -> Option<[u8; USERBLOCK as usize]> {
    use std::os::unix::fs::FileExt;
    if file_len < USERBLOCK {
        return None;
    }
    let mut block = [0u8; USERBLOCK as usize];
    raw.read_exact_at(&mut block, 0).ok()?;
    Some(block)
}

struct Cursor<'a>(&'a [u8]);

impl Cursor<'_> {
    fn take(&mut self, n: usize) -> Option<&[u8]> {
        if self.0.len() < n {
            return None;
        }
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        Some(a)
    }
    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_le_bytes(self.take(4)?.try_into().ok()?))
    }
    fn u64(&mut self) -> Option<u64> {
        Some(u64::from_le_bytes(self.take(8)?.try_into().ok()?))
    }
    fn i64(&mut self) -> Option<i64> {
        Some(i64::from_le_bytes(self.take(8)?.try_into().ok()?))
    }
    fn str(&mut self) -> Option<String> {
        let n = self.u32()? as usize;
        String::from_utf8(self.take(n)?.to_vec()).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Manifest {
        Manifest {
            file_len: 1 << 20,
            attrs: RankAttrs {
                rank: 3,
                dropped_events: 7,
                pid: 42,
                hostname: "node-1".into(),
            },
            finished: true,
            window: [Some(123), None],
            clock: ClockSync {
                begin: Some(ClockSample {
                    at_ns: 5,
                    offset_ns: -7,
                    error_ns: 2,
                }),
                end: None,
            },
            regions: vec![
                // An MPI call region: all five columns.
                Region {
                    name: "MPI_Send".into(),
                    len: 1,
                    columns: (0..5)
                        .map(|i| {
                            vec![Run {
                                first: 0,
                                addr: 50000 + 8 * i,
                                elems: 1,
                            }]
                        })
                        .collect(),
                },
                Region {
                    name: "a/b".into(),
                    len: 5,
                    columns: vec![
                        vec![Run {
                            first: 0,
                            addr: 8192,
                            elems: 5,
                        }],
                        vec![
                            Run {
                                first: 0,
                                addr: 9000,
                                elems: 2,
                            },
                            Run {
                                first: 2,
                                addr: 20000,
                                elems: 3,
                            },
                        ],
                        vec![Run {
                            first: 0,
                            addr: 30000,
                            elems: 5,
                        }],
                    ],
                },
                Region {
                    name: "compute".into(),
                    len: 1,
                    columns: vec![
                        vec![Run {
                            first: 0,
                            addr: 40000,
                            elems: 1,
                        }],
                        vec![Run {
                            first: 0,
                            addr: 40008,
                            elems: 1,
                        }],
                        vec![Run {
                            first: 0,
                            addr: 40016,
                            elems: 1,
                        }],
                    ],
                },
            ],
        }
    }

    #[test]
    fn a_manifest_round_trips_and_anything_off_is_rejected() {
        let m = sample();
        let mut block = m.encode().unwrap();
        block.resize(USERBLOCK as usize, 0);
        assert_eq!(Manifest::decode(&block, m.file_len), Some(m.clone()));
        // The file grew or shrank since: stale.
        assert_eq!(Manifest::decode(&block, m.file_len + 1), None);
        // Any flipped byte of the header or body.
        let used = m.encode().unwrap().len();
        for i in 0..used {
            let mut b = block.clone();
            b[i] ^= 0x20;
            assert_eq!(Manifest::decode(&b, m.file_len), None, "byte {i}");
        }
        // A run past the end of the file, or columns that do not add up to the length.
        let mut bad = m.clone();
        bad.regions[1].columns[2][0].addr = m.file_len - 4;
        assert_eq!(Manifest::decode(&bad.encode().unwrap(), m.file_len), None);
        let mut bad = m.clone();
        bad.regions[0].len = 6;
        assert_eq!(Manifest::decode(&bad.encode().unwrap(), m.file_len), None);
        // Regions out of HDF5's order.
        let mut bad = m.clone();
        bad.regions.swap(0, 1);
        assert_eq!(Manifest::decode(&bad.encode().unwrap(), m.file_len), None);
        // All zeros: a file whose writer never got to write one.
        assert_eq!(
            Manifest::decode(&[0u8; USERBLOCK as usize], m.file_len),
            None
        );
    }

    #[test]
    fn a_detached_manifest_is_checked_against_the_length_it_records() {
        let m = sample();
        let bytes = m.encode().unwrap();
        assert_eq!(Manifest::decode_detached(&bytes), Some(m.clone()));
        // Exactly the encoding: no padding, nothing cut.
        let mut padded = bytes.clone();
        padded.push(0);
        assert_eq!(Manifest::decode_detached(&padded), None);
        for n in 0..bytes.len() {
            assert_eq!(Manifest::decode_detached(&bytes[..n]), None, "{n} bytes");
        }
        // A run past the length the manifest records is still refused.
        let mut bad = m.clone();
        bad.regions[1].columns[2][0].addr = m.file_len - 4;
        assert_eq!(Manifest::decode_detached(&bad.encode().unwrap()), None);
        // Regions in any order (as HDF5 lists a rank file's), but each once.
        let mut swapped = m.clone();
        swapped.regions.swap(0, 1);
        let bytes = swapped.encode().unwrap();
        assert_eq!(Manifest::decode_detached(&bytes), Some(swapped.clone()));
        assert_eq!(Manifest::decode(&bytes, m.file_len), None);
        let mut twice = m.clone();
        twice.regions[2] = twice.regions[0].clone();
        assert_eq!(Manifest::decode_detached(&twice.encode().unwrap()), None);
        // Longer than a block: fine once detached, never stored.
        let mut long = m.clone();
        long.regions.extend((0..100).map(|i| Region {
            name: format!("z{i:03}"),
            ..m.regions[2].clone()
        }));
        assert_eq!(long.encode(), None);
        let bytes = long.encode_detached().unwrap();
        assert!(bytes.len() > USERBLOCK as usize);
        assert_eq!(Manifest::decode_detached(&bytes), Some(long));
        // Another recorded length is fine as long as every run fits in it.
        let mut other = m.clone();
        other.file_len = 60_000;
        assert_eq!(
            Manifest::decode_detached(&other.encode().unwrap()),
            Some(other)
        );
    }

    #[test]
    fn a_manifest_too_large_for_the_block_is_not_written() {
        let mut m = sample();
        let run = m.regions[0].columns[0][0];
        m.regions[0].columns[0] = (0..300)
            .map(|i| Run {
                first: i,
                addr: run.addr + i * 16,
                elems: 1,
            })
            .collect();
        assert!(m.encode().is_none());
    }
}
