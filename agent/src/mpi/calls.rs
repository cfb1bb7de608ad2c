//! `[mpi] calls`: which MPI functions are recorded, and how each call's arguments become its
//! `bytes` and `peer` columns (scope_format::PEER_* codes, the same for every MPI).
//!
//! `bytes` is count × datatype size of the buffer the call sends from on this rank, or of the
//! buffer it receives into where it sends nothing (a receive: the size posted, an upper bound
//! of what arrives; `MPI_Scatter`, `MPI_Scatterv` on every rank: the part received;
//! `MPI_Alltoall`/`MPI_Alltoallv`: everything sent, all peers together); 0 for calls without a
//! payload. `peer` is the destination, source or root as a rank of the call's communicator.
//!
//! Invariants: a decoder reads only arguments its function takes; it calls MPI only for
//! datatype and communicator sizes, never with a count of 0 (the datatype may then be
//! `MPI_DATATYPE_NULL`); handles travel as pointer-sized integers (see `mpi::Abi`).

use super::{find, Abi};
use crate::engine::Args;
use scope_format::{PEER_ANY_SOURCE, PEER_NONE, PEER_PROC_NULL, PEER_ROOT};
use std::ffi::c_int;
use std::sync::OnceLock;

/// Never recorded as calls: the agent interposes them (its lifecycle), or they only convert
/// handles between the C and Fortran bindings (which call them inside every Fortran call).
pub fn never_recorded(name: &str) -> bool {
    const CONVERSIONS: [&str; 6] = ["_f2c", "_c2f", "_f082c", "_c2f08", "_f082f", "_f2f08"];
    scope_config::INTERPOSED.contains(&name) || CONVERSIONS.iter().any(|s| name.ends_with(s))
}

/// How a function's arguments are read. The decoder id a hook carries is the variant's
/// number, an index into `SHAPES`; `Shape::None` is 0, the engine's `NO_ARGS` (no args record:
/// the recorder writes 0 bytes and no peer for such calls).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u16)]
enum Shape {
    /// No payload, no peer.
    None = 0,
    /// (buf, count, type, peer, ...): send, receive, bcast and their variants.
    BufPeer,
    /// (buf, count, type, ...) without a peer: `MPI_Mrecv`, `MPI_Imrecv`.
    Buf,
    /// (peer, tag, comm, ...): probes.
    Peer,
    /// (sbuf, rbuf, count, type, op, root, comm): `MPI_Reduce`, `MPI_Ireduce`.
    Reduce,
    /// (sbuf, rbuf, count, type, ...): allreduce, scans, reduce_scatter_block.
    RBuf,
    /// (sbuf, scount, stype, rbuf, rcount, rtype, root, comm).
    Gather,
    /// (sbuf, scount, stype, rbuf, rcount, rtype, comm).
    Allgather,
    /// (sbuf, scount, stype, rbuf, rcounts, displs, rtype, root, comm).
    Gatherv,
    /// (sbuf, scount, stype, rbuf, rcounts, displs, rtype, comm).
    Allgatherv,
    /// (sbuf, scount, stype, rbuf, rcount, rtype, root, comm): scatters (the part received).
    Scatter,
    /// (sbuf, scounts, displs, stype, rbuf, rcount, rtype, root, comm).
    Scatterv,
    /// (sbuf, scount, stype, rbuf, rcount, rtype, comm): everything sent.
    Alltoall,
    /// (sbuf, scounts, sdispls, stype, rbuf, rcounts, rdispls, rtype, comm).
    Alltoallv,
}

/// Every `Shape`, in declaration order (`SHAPES[s as usize] == s`).
const _: () = assert!(Shape::None as u16 == crate::engine::NO_ARGS);

const SHAPES: [Shape; 14] = [
    Shape::None,
    Shape::BufPeer,
    Shape::Buf,
    Shape::Peer,
    Shape::Reduce,
    Shape::RBuf,
    Shape::Gather,
    Shape::Allgather,
    Shape::Gatherv,
    Shape::Allgatherv,
    Shape::Scatter,
    Shape::Scatterv,
    Shape::Alltoall,
    Shape::Alltoallv,
];

/// The decoder id for the MPI function `name` (what `engine::Target::args_reader` carries).
pub fn decoder_for(name: &str) -> u16 {
    let shape = match name.strip_prefix("MPI_").unwrap_or(name) {
        "Send" | "Ssend" | "Bsend" | "Rsend" | "Isend" | "Issend" | "Ibsend" | "Irsend"
        | "Send_init" | "Ssend_init" | "Bsend_init" | "Rsend_init" | "Recv" | "Irecv"
        | "Recv_init" | "Sendrecv" | "Sendrecv_replace" | "Bcast" | "Ibcast" => Shape::BufPeer,
        "Mrecv" | "Imrecv" => Shape::Buf,
        "Probe" | "Iprobe" | "Mprobe" | "Improbe" => Shape::Peer,
        "Reduce" | "Ireduce" => Shape::Reduce,
        "Allreduce"
        | "Iallreduce"
        | "Scan"
        | "Iscan"
        | "Exscan"
        | "Iexscan"
        | "Reduce_scatter_block"
        | "Ireduce_scatter_block" => Shape::RBuf,
        "Gather" | "Igather" => Shape::Gather,
        "Allgather" | "Iallgather" => Shape::Allgather,
        "Gatherv" | "Igatherv" => Shape::Gatherv,
        "Allgatherv" | "Iallgatherv" => Shape::Allgatherv,
        "Scatter" | "Iscatter" => Shape::Scatter,
        "Scatterv" | "Iscatterv" => Shape::Scatterv,
        "Alltoall" | "Ialltoall" => Shape::Alltoall,
        "Alltoallv" | "Ialltoallv" => Shape::Alltoallv,
        _ => Shape::None,
    };
    shape as u16
}

type TypeSizeFn = unsafe extern "C" fn(usize, *mut c_int) -> c_int;
type CommSizeFn = unsafe extern "C" fn(usize, *mut c_int) -> c_int;

struct CallEnv {
    abi: Abi,
    type_size: Option<TypeSizeFn>,
    comm_size: Option<CommSizeFn>,
}

fn env() -> &'static CallEnv {
    static ENV: OnceLock<CallEnv> = OnceLock::new();
    ENV.get_or_init(|| CallEnv {
        abi: super::detect_abi(),
        // SAFETY: MPI's C signatures int (MPI_Datatype, int*) and int (MPI_Comm, int*), handles
        // as pointer-sized integers.
        type_size: unhooked("PMPI_Type_size")
            .map(|p| unsafe { std::mem::transmute::<usize, TypeSizeFn>(p) }),
        // SAFETY: as above.
        comm_size: unhooked("PMPI_Comm_size")
            .map(|p| unsafe { std::mem::transmute::<usize, CommSizeFn>(p) }),
    })
}

/// An MPI function, called past its hook if `[mpi] calls` hooked it (hooks are in place
/// before the first decode: they are attached when libmpi is loaded).
fn unhooked(name: &str) -> Option<usize> {
    find::any(name).map(|p| crate::engine::unhooked(p as u64) as usize)
}

/// count × size of `datatype`, 0 for a count of 0, -1 if MPI cannot say.
fn payload(count: i64, datatype: u64) -> i64 {
    if count <= 0 {
        return 0;
    }
    let Some(f) = env().type_size else {
        return -1;
    };
    let mut size: c_int = 0;
    // SAFETY: a datatype handle the program passed to an MPI call with a non-zero count.
    if unsafe { f(datatype as usize, &mut size) } != 0 {
        return -1;
    }
    count * i64::from(size)
}

fn comm_size(comm: u64) -> i64 {
    let Some(f) = env().comm_size else {
        return -1;
    };
    let mut n: c_int = 0;
    // SAFETY: a communicator handle the program passed to an MPI call.
    if unsafe { f(comm as usize, &mut n) } != 0 {
        return -1;
    }
    i64::from(n)
}

fn in_place(buf: u64) -> bool {
    match env().abi {
        Abi::OpenMpi => buf == 1,
        Abi::Mpich => buf == u64::MAX,
    }
}

/// A rank argument in the scope_format::PEER_* convention.
fn peer(raw: i64) -> i64 {
    if raw >= 0 {
        return raw;
    }
    match (env().abi, raw) {
        (Abi::OpenMpi, -1) | (Abi::Mpich, -2) => PEER_ANY_SOURCE,
        (Abi::OpenMpi, -2) | (Abi::Mpich, -1) => PEER_PROC_NULL,
        (Abi::OpenMpi, -4) | (Abi::Mpich, -3) => PEER_ROOT,
        _ => raw,
    }
}

/// Sum of `n` C ints at `counts` (a counts array the program passed), -1 if it cannot be read.
fn sum_counts(counts: u64, n: i64) -> Option<i64> {
    if counts == 0 || !(0..=1 << 24).contains(&n) {
        return None;
    }
    // SAFETY: the program passed an array of (communicator size) ints to this MPI call.
    let s = unsafe { std::slice::from_raw_parts(counts as *const c_int, n as usize) };
    Some(s.iter().map(|&c| i64::from(c)).sum())
}

/// (bytes, peer) of a call.
pub fn decode(decoder: u16, a: &Args) -> (i64, i64) {
    let shape = SHAPES.get(decoder as usize).copied().unwrap_or(Shape::None);
    match shape {
        Shape::None => (0, PEER_NONE),
        Shape::BufPeer => (payload(a.int(1), a.get(2)), peer(a.int(3))),
        Shape::Buf => (payload(a.int(1), a.get(2)), PEER_NONE),
        Shape::Peer => (0, peer(a.int(0))),
        Shape::Reduce => (payload(a.int(2), a.get(3)), peer(a.int(5))),
        Shape::RBuf => (payload(a.int(2), a.get(3)), PEER_NONE),
        Shape::Gather | Shape::Allgather => {
            let bytes = if in_place(a.get(0)) {
                payload(a.int(4), a.get(5))
            } else {
                payload(a.int(1), a.get(2))
            };
            let root = (shape == Shape::Gather).then(|| peer(a.int(6)));
            (bytes, root.unwrap_or(PEER_NONE))
        }
        Shape::Gatherv | Shape::Allgatherv => {
            let bytes = if in_place(a.get(0)) {
                0
            } else {
                payload(a.int(1), a.get(2))
            };
            let root = (shape == Shape::Gatherv).then(|| peer(a.int(7)));
            (bytes, root.unwrap_or(PEER_NONE))
        }
        Shape::Scatter => {
            let bytes = if in_place(a.get(3)) {
                0
            } else {
                payload(a.int(4), a.get(5))
            };
            (bytes, peer(a.int(6)))
        }
        Shape::Scatterv => {
            let bytes = if in_place(a.get(4)) {
                0
            } else {
                payload(a.int(5), a.get(6))
            };
            (bytes, peer(a.int(7)))
        }
        Shape::Alltoall => {
            let n = comm_size(a.get(6));
            let per = payload(a.int(1), a.get(2));
            let bytes = if in_place(a.get(0)) || n < 0 || per < 0 {
                -1
            } else {
                per * n
            };
            (bytes, PEER_NONE)
        }
        Shape::Alltoallv => {
            let n = comm_size(a.get(8));
            let bytes = if in_place(a.get(0)) {
                -1
            } else {
                match sum_counts(a.get(1), n) {
                    Some(total) => payload(total, a.get(3)),
                    None => -1,
                }
            };
            (bytes, PEER_NONE)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decoders_by_name() {
        assert_eq!(SHAPES[decoder_for("MPI_Send") as usize], Shape::BufPeer);
        assert_eq!(SHAPES[decoder_for("MPI_Irecv") as usize], Shape::BufPeer);
        assert_eq!(SHAPES[decoder_for("MPI_Reduce") as usize], Shape::Reduce);
        assert_eq!(SHAPES[decoder_for("MPI_Barrier") as usize], Shape::None);
        assert_eq!(SHAPES[decoder_for("MPI_Gather") as usize], Shape::Gather);
        assert_eq!(SHAPES[decoder_for("MPI_Igatherv") as usize], Shape::Gatherv);
        assert_eq!(
            SHAPES[decoder_for("MPI_Allgatherv") as usize],
            Shape::Allgatherv
        );
        for (i, s) in SHAPES.iter().enumerate() {
            assert_eq!(*s as usize, i, "SHAPES out of declaration order");
        }
    }

    #[test]
    fn lifecycle_and_conversions_are_never_recorded() {
        assert!(never_recorded("MPI_Init") && never_recorded("MPI_Comm_f2c"));
        assert!(never_recorded("MPI_Type_c2f08") && !never_recorded("MPI_Send"));
    }
}
