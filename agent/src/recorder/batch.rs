//! Records as they leave a thread's buffer become columns per region: raw ticks converted to
//! nanoseconds, a call of a region set recorded into every member region, and each MPI call
//! paired with its args record (payload bytes and peer). Pure functions: no lock, no I/O.
//!
//! Invariants: every call record yields exactly one interval in each region it names; an args
//! record is paired with the next call of its region on its thread that ends (calls of one
//! thread nest, so the latest unpaired args record of a region is always that of the call that
//! ends first); at most `MAX_UNPAIRED` args records wait per thread, the oldest dropped first.

use crate::engine::Record;

/// A region id with this bit set names a region set (`Regions::sets`).
pub const REGION_SET: u32 = 1 << 31;

/// Args records kept per thread while their calls run (calls nest only a few deep).
pub const MAX_UNPAIRED: usize = 64;

/// An args record waiting for its call: `(region, bytes, peer)`.
pub type PendingArgs = (u32, i64, i64);

/// What the recorder knows of the regions: names by id, region sets, MPI call regions.
#[derive(Default, Clone)]
pub struct Regions {
    pub names: Vec<String>,
    /// A hook carrying `REGION_SET | i` records each call into every region of `sets[i]`.
    pub sets: Vec<Vec<u32>>,
    /// By region id: an MPI call region (its intervals carry bytes and peer), and whether its
    /// calls come with an args record.
    pub mpi: Vec<MpiKind>,
}

/// What kind of region an id is, for the `bytes` and `peer` columns.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum MpiKind {
    #[default]
    NotMpi,
    /// Each call is preceded by its args record (payload bytes and peer).
    WithArgs,
    /// Calls without payload or peer (`MPI_Barrier`, `MPI_Wait`, ...): no args record; 0 bytes.
    NoArgs,
}

impl Regions {
    /// The regions a record's region id stands for.
    pub fn members<'a>(&'a self, id: &'a u32) -> &'a [u32] {
        if id & REGION_SET != 0 {
            self.sets
                .get((id & !REGION_SET) as usize)
                .map(Vec::as_slice)
                .unwrap_or(&[])
        } else {
            std::slice::from_ref(id)
        }
    }

    fn mpi_kind(&self, r: u32) -> MpiKind {
        self.mpi.get(r as usize).copied().unwrap_or_default()
    }
}

#[derive(Default, Debug, Clone, PartialEq)]
pub struct Columns {
    pub start: Vec<i64>,
    pub end: Vec<i64>,
    pub thread: Vec<i64>,
    /// MPI call regions only (else empty): one value per interval.
    pub bytes: Vec<i64>,
    pub peer: Vec<i64>,
}

impl Columns {
    fn with_capacity(n: usize) -> Columns {
        Columns {
            start: Vec::with_capacity(n),
            end: Vec::with_capacity(n),
            thread: Vec::with_capacity(n),
            bytes: Vec::new(),
            peer: Vec::new(),
        }
    }

    pub fn len(&self) -> usize {
        self.start.len()
    }

    /// Empties every column, keeping its memory.
    pub fn clear(&mut self) {
        self.start.clear();
        self.end.clear();
        self.thread.clear();
        self.bytes.clear();
        self.peer.clear();
    }

    /// Appends copies of `other`'s intervals.
    pub fn extend_from(&mut self, other: &Columns) {
        self.start.extend_from_slice(&other.start);
        self.end.extend_from_slice(&other.end);
        self.thread.extend_from_slice(&other.thread);
        self.bytes.extend_from_slice(&other.bytes);
        self.peer.extend_from_slice(&other.peer);
    }

    /// The further columns, when this is an MPI call region.
    pub fn extra(&self) -> Vec<(&'static str, &[i64])> {
        if self.peer.is_empty() {
            Vec::new()
        } else {
            vec![
                (scope_format::BYTES, &self.bytes[..]),
                (scope_format::PEER, &self.peer[..]),
            ]
        }
    }
}

/// Intervals of one flush, by region id.
pub type Batch = Vec<(u32, Columns)>;

pub fn count(batch: &Batch) -> usize {
    batch.iter().map(|(_, c)| c.len()).sum()
}

/// Takes the args record of a call of `region` that just ended: the latest unpaired one.
pub fn take_args(pending: &mut Vec<PendingArgs>, region: u32) -> Option<PendingArgs> {
    pending
        .iter()
        .rposition(|p| p.0 == region)
        .map(|i| pending.remove(i))
}

/// Keeps an args record until its call ends.
pub fn keep_args(pending: &mut Vec<PendingArgs>, args: PendingArgs) {
    if pending.len() >= MAX_UNPAIRED {
        pending.remove(0); // a call whose record never came (e.g. it passed through)
    }
    pending.push(args);
}

/// Converts one thread's records (thread id `tid`) into columns, `ns` mapping raw ticks to
/// nanoseconds; `pending` holds that thread's unpaired args records before and after. (The
/// writer uses `to_batch_into`; this form is what the tests read.)
#[cfg(test)]
pub fn to_batch(
    records: &[Record],
    tid: i64,
    ns: impl FnMut(u64) -> i64,
    regions: &Regions,
    pending: &mut Vec<PendingArgs>,
) -> Batch {
    let mut batch = Batch::new();
    to_batch_into(records, tid, ns, regions, pending, &mut batch);
    batch.retain(|(_, c)| c.len() > 0);
    batch
}

/// `to_batch` into `out`, whose columns are emptied first and keep their memory: a writer that
/// reuses one `out` converts every buffer without fresh allocations (and their page faults).
/// Regions of an earlier use that have no interval now stay in `out` with empty columns.
pub fn to_batch_into(
    records: &[Record],
    tid: i64,
    mut ns: impl FnMut(u64) -> i64,
    regions: &Regions,
    pending: &mut Vec<PendingArgs>,
    out: &mut Batch,
) {
    for (_, c) in out.iter_mut() {
        c.clear();
    }
    // Records of one thread mostly hit a few regions: a short list searched from the last hit
    // beats a map lookup per record.
    let mut last = 0usize;
    for rec in records {
        let id = rec.word.region();
        if rec.word.is_args() {
            keep_args(pending, (id, rec.first as i64, rec.second as i64));
            continue;
        }
        let args = take_args(pending, id);
        let (start, end) = (ns(rec.first), ns(rec.second));
        for &r in regions.members(&id) {
            if out.get(last).is_none_or(|c| c.0 != r) {
                last = out.iter().position(|c| c.0 == r).unwrap_or_else(|| {
                    out.push((r, Columns::with_capacity(records.len())));
                    out.len() - 1
                });
            }
            let c = &mut out[last].1;
            c.start.push(start);
            c.end.push(end);
            c.thread.push(tid);
            let unread = match regions.mpi_kind(r) {
                MpiKind::NotMpi => continue,
                // -1 bytes: the call's arguments were not read (its record was lost).
                MpiKind::WithArgs => (0, -1, scope_format::PEER_NONE),
                MpiKind::NoArgs => (0, 0, scope_format::PEER_NONE),
            };
            let (_, bytes, peer) = args.unwrap_or(unread);
            c.bytes.push(bytes);
            c.peer.push(peer);
        }
    }
}

/// Elements of memory `batch`'s columns hold.
pub fn capacity(batch: &Batch) -> usize {
    batch
        .iter()
        .map(|(_, c)| {
            c.start.capacity()
                + c.end.capacity()
                + c.thread.capacity()
                + c.bytes.capacity()
                + c.peer.capacity()
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::HookWord;

    fn call(region: u32, t0: u64, t1: u64) -> Record {
        Record {
            first: t0,
            second: t1,
            word: HookWord::new(1, region),
        }
    }

    fn args(region: u32, bytes: u64, peer: i64) -> Record {
        Record {
            first: bytes,
            second: peer as u64,
            word: HookWord::args(region),
        }
    }

    fn regions() -> Regions {
        Regions {
            names: vec!["a".into(), "MPI_Send".into(), "b".into()],
            sets: vec![vec![0, 2]],
            mpi: vec![MpiKind::NotMpi, MpiKind::WithArgs, MpiKind::NotMpi],
        }
    }

    #[test]
    fn calls_become_intervals_in_nanoseconds_with_the_thread_id() {
        let b = to_batch(
            &[call(0, 10, 20), call(2, 30, 40), call(0, 50, 60)],
            7,
            |t| t as i64 * 2,
            &regions(),
            &mut Vec::new(),
        );
        assert_eq!(b.len(), 2);
        assert_eq!(b[0].0, 0);
        assert_eq!(b[0].1.start, vec![20, 100]);
        assert_eq!(b[0].1.end, vec![40, 120]);
        assert_eq!(b[0].1.thread, vec![7, 7]);
        assert!(b[0].1.bytes.is_empty());
        assert_eq!((b[1].0, b[1].1.start.clone()), (2, vec![60]));
        assert_eq!(count(&b), 3);
    }

    #[test]
    fn a_region_set_records_each_call_into_every_member() {
        let b = to_batch(
            &[call(REGION_SET, 1, 2)],
            0,
            |t| t as i64,
            &regions(),
            &mut Vec::new(),
        );
        let ids: Vec<u32> = b.iter().map(|c| c.0).collect();
        assert_eq!(ids, vec![0, 2]);
        assert!(b.iter().all(|c| c.1.start == vec![1]));
        // An unknown set records nothing rather than guessing.
        let none = to_batch(
            &[call(REGION_SET | 5, 1, 2)],
            0,
            |t| t as i64,
            &regions(),
            &mut Vec::new(),
        );
        assert!(none.is_empty());
    }

    #[test]
    fn calls_without_arguments_have_no_payload_and_no_peer() {
        let mut r = regions();
        r.mpi[2] = MpiKind::NoArgs;
        let b = to_batch(
            &[call(2, 1, 2), call(1, 3, 4)],
            0,
            |t| t as i64,
            &r,
            &mut Vec::new(),
        );
        assert_eq!(
            (b[0].1.bytes.clone(), b[0].1.peer.clone()),
            (vec![0], vec![scope_format::PEER_NONE])
        );
        // A call that reads arguments and lost its record says so.
        assert_eq!(b[1].1.bytes, vec![-1]);
    }

    #[test]
    fn nested_calls_pair_with_their_own_args_record() {
        // Outer MPI_Send (8 bytes to 1) whose progress runs an inner MPI_Send (64 bytes to 3):
        // the inner call ends first and takes the latest record.
        let recs = [
            args(1, 8, 1),
            args(1, 64, 3),
            call(1, 20, 30),
            call(1, 10, 40),
        ];
        let b = to_batch(&recs, 0, |t| t as i64, &regions(), &mut Vec::new());
        assert_eq!(b[0].1.bytes, vec![64, 8]);
        assert_eq!(b[0].1.peer, vec![3, 1]);
    }

    #[test]
    fn args_wait_across_flushes_and_a_lost_record_reads_as_unknown() {
        let mut pending = Vec::new();
        let first = to_batch(&[args(1, 16, 2)], 0, |t| t as i64, &regions(), &mut pending);
        assert!(first.is_empty());
        assert_eq!(pending, vec![(1, 16, 2)]);
        let second = to_batch(
            &[call(1, 1, 2), call(1, 3, 4)],
            0,
            |t| t as i64,
            &regions(),
            &mut pending,
        );
        assert_eq!(second[0].1.bytes, vec![16, -1]);
        assert_eq!(second[0].1.peer, vec![2, scope_format::PEER_NONE]);
        assert!(pending.is_empty());
    }

    #[test]
    fn at_most_max_unpaired_records_wait_oldest_dropped_first() {
        let mut pending = Vec::new();
        for i in 0..(MAX_UNPAIRED as i64 + 3) {
            keep_args(&mut pending, (1, i, 0));
        }
        assert_eq!(pending.len(), MAX_UNPAIRED);
        assert_eq!(pending[0].1, 3);
        assert_eq!(
            take_args(&mut pending, 1).map(|p| p.1),
            Some(MAX_UNPAIRED as i64 + 2)
        );
        assert_eq!(take_args(&mut pending, 9), None);
    }
}
