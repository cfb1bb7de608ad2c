//! `[mpi] calls`: which MPI functions are recorded, and how each call's arguments become its
//! `bytes` and `peer` columns (scope_format::PEER_* codes, the same for every MPI).
//!
//! `bytes` is count × datatype size of the buffer the call sends from on this rank, or of the
//! buffer it receives into where it sends nothing (a receive: the size posted, an upper bound
//! of what arrives; `MPI_Scatter`, `MPI_Scatterv` on every rank: the part received;
//! `MPI_Alltoall`/`MPI_Alltoallv`: everything sent, all peers together); 0 for calls without a
//! payload. `peer` is the destination, source or root as a rank of the call's communicator.
//!
//! The Fortran bindings' entry points (`mpi_send_`, `MPI_SEND`, `mpi_send_f08_`, ...) are the
//! same calls, recorded under the C name (`fortran_name`): a binding may answer without calling
//! the C function (Open MPI's `mpi_waitall_` with no requests), and the C call it does make is
//! nested inside it, so not recorded twice. Their arguments are pointers to Fortran INTEGERs
//! (a `use mpi_f08` handle is a derived type holding one), handles are Fortran handles: the
//! decoder reads through the pointers and sizes datatypes with the binding's own
//! `pmpi_type_size_`. What it cannot know there is recorded as unknown (`bytes` = -1): the
//! payload of the calls where `MPI_IN_PLACE` changes it (gathers, scatters, all-to-alls), whose
//! Fortran `MPI_IN_PLACE` is an address private to each binding.
//!
//! Invariants: a decoder reads only arguments its function takes; it calls MPI only for
//! datatype and communicator sizes, never with a count of 0 (the datatype may then be
//! `MPI_DATATYPE_NULL`); C handles travel as pointer-sized integers (see `mpi::Abi`), Fortran
//! arguments as pointers (`FORTRAN` set in the decoder id).

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

/// Set in the decoder id of a Fortran binding's entry point: its arguments are pointers.
const FORTRAN: u16 = 0x8000;

/// The decoder id for a Fortran binding's entry point of the MPI function `name` (its C name).
pub fn fortran_decoder_for(name: &str) -> u16 {
    match decoder_for(name) {
        crate::engine::NO_ARGS => crate::engine::NO_ARGS,
        d => d | FORTRAN,
    }
}

/// The C name of the MPI function a Fortran binding's symbol stands for: `mpi_waitall_`,
/// `mpi_waitall`, `mpi_waitall__`, `MPI_WAITALL` (the manglings of `mpif.h`/`use mpi`),
/// `mpi_waitall_f08_` (`use mpi_f08`) and MPICH's `mpi_send_f08ts_` are `MPI_Waitall` /
/// `MPI_Send`; the large-count `..._large_` forms are the C `_c` functions. `None` for anything
/// else: the `pmpi_` aliases (the same functions), mixed-case internals such as Open MPI's
/// `MPI_Waitall_f`, helpers of the bindings.
pub fn fortran_name(symbol: &str) -> Option<String> {
    let lower = if symbol.bytes().all(|b| !b.is_ascii_uppercase()) {
        symbol.to_string()
    } else if symbol.bytes().all(|b| !b.is_ascii_lowercase()) {
        symbol.to_ascii_lowercase()
    } else {
        return None;
    };
    let rest = lower.strip_prefix("mpi_")?.trim_end_matches('_');
    let (rest, large) = match rest.strip_suffix("_large") {
        Some(r) => (r, true),
        None => (rest, false),
    };
    let rest = ["_f08ts", "_f08"]
        .iter()
        .find_map(|s| rest.strip_suffix(s))
        .unwrap_or(rest);
    if rest.is_empty() || !rest.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
        return None;
    }
    // `MPI_SIZEOF`'s specific procedures (`mpi_sizeof_real8_r1_`, ...) are one call.
    if rest.starts_with("sizeof_") {
        return Some("MPI_Sizeof".into());
    }
    let mut name = String::from("MPI_");
    name.push(rest.as_bytes()[0].to_ascii_uppercase() as char);
    name.push_str(&rest[1..]);
    if large {
        name.push_str("_c");
    }
    Some(name)
}

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
    let shape = SHAPES
        .get((decoder & !FORTRAN) as usize)
        .copied()
        .unwrap_or(Shape::None);
    if decoder & FORTRAN != 0 {
        return decode_fortran(shape, a);
    }
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

type FortranSizeFn = unsafe extern "C" fn(*const c_int, *mut c_int, *mut c_int);

/// The Fortran bindings' `pmpi_type_size_` and `pmpi_comm_size_` (handle, size, ierror), past
/// their hooks (the same functions as `mpi_type_size_`, `mpi_comm_size_`).
fn fortran_sizes() -> &'static (Option<FortranSizeFn>, Option<FortranSizeFn>) {
    static SIZES: OnceLock<(Option<FortranSizeFn>, Option<FortranSizeFn>)> = OnceLock::new();
    SIZES.get_or_init(|| {
        let f = |name| {
            // SAFETY: the Fortran binding's subroutine (INTEGER handle, INTEGER size, INTEGER
            // ierror), every argument by reference.
            unhooked(name).map(|p| unsafe { std::mem::transmute::<usize, FortranSizeFn>(p) })
        };
        (f("pmpi_type_size_"), f("pmpi_comm_size_"))
    })
}

/// The Fortran INTEGER argument `i` (passed by reference), `None` for a null pointer.
fn fint(a: &Args, i: usize) -> Option<i64> {
    let p = a.get(i);
    // SAFETY: the program passed a pointer to a Fortran INTEGER (or to a `use mpi_f08` handle,
    // whose first and only component is one) as this argument.
    (p != 0).then(|| i64::from(unsafe { (p as *const c_int).read_unaligned() }))
}

/// The size the Fortran binding's `f` gives for the handle at `handle`, -1 if it cannot say.
fn fortran_size(f: Option<FortranSizeFn>, handle: u64) -> i64 {
    let (Some(f), true) = (f, handle != 0) else {
        return -1;
    };
    let (mut size, mut err): (c_int, c_int) = (0, 0);
    // SAFETY: a handle the program passed by reference to an MPI call, sized through its own
    // binding.
    unsafe { f(handle as *const c_int, &mut size, &mut err) };
    if err != 0 {
        return -1;
    }
    i64::from(size)
}

/// count × size of the datatype at `datatype` (both by reference), 0 for a count of 0.
fn fortran_payload(a: &Args, count: usize, datatype: usize) -> i64 {
    match fint(a, count) {
        None => -1,
        Some(n) if n <= 0 => 0,
        Some(n) => match fortran_size(fortran_sizes().0, a.get(datatype)) {
            s if s < 0 => -1,
            s => n * s,
        },
    }
}

fn fortran_peer(a: &Args, i: usize) -> i64 {
    fint(a, i).map(peer).unwrap_or(PEER_NONE)
}

/// (bytes, peer) of a call through a Fortran binding: the C decoder's reading of the same
/// arguments, through their pointers; -1 bytes where `MPI_IN_PLACE` would decide them.
fn decode_fortran(shape: Shape, a: &Args) -> (i64, i64) {
    match shape {
        Shape::None => (0, PEER_NONE),
        Shape::BufPeer => (fortran_payload(a, 1, 2), fortran_peer(a, 3)),
        Shape::Buf => (fortran_payload(a, 1, 2), PEER_NONE),
        Shape::Peer => (0, fortran_peer(a, 0)),
        Shape::Reduce => (fortran_payload(a, 2, 3), fortran_peer(a, 5)),
        Shape::RBuf => (fortran_payload(a, 2, 3), PEER_NONE),
        Shape::Gather => (-1, fortran_peer(a, 6)),
        Shape::Gatherv => (-1, fortran_peer(a, 7)),
        Shape::Scatter => (-1, fortran_peer(a, 6)),
        Shape::Scatterv => (-1, fortran_peer(a, 7)),
        Shape::Allgather | Shape::Allgatherv | Shape::Alltoall | Shape::Alltoallv => {
            (-1, PEER_NONE)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fortran_symbols_are_their_c_calls() {
        for s in [
            "mpi_waitall_",
            "mpi_waitall",
            "mpi_waitall__",
            "MPI_WAITALL",
            "mpi_waitall_f08_",
        ] {
            assert_eq!(fortran_name(s).as_deref(), Some("MPI_Waitall"), "{s}");
        }
        assert_eq!(fortran_name("mpi_send_f08ts_").as_deref(), Some("MPI_Send"));
        assert_eq!(
            fortran_name("mpi_send_f08ts_large_").as_deref(),
            Some("MPI_Send_c")
        );
        assert_eq!(
            fortran_name("mpi_sizeof_real8_r1_").as_deref(),
            Some("MPI_Sizeof")
        );
        assert_eq!(
            fortran_name("mpi_comm_rank_").as_deref(),
            Some("MPI_Comm_rank")
        );
        for s in [
            "pmpi_waitall_",
            "MPI_Waitall_f",
            "ompi_waitall_f",
            "mpi_",
            "mpir_x_",
        ] {
            assert_eq!(fortran_name(s), None, "{s}");
        }
        assert_eq!(
            SHAPES[(fortran_decoder_for("MPI_Send") & !FORTRAN) as usize],
            Shape::BufPeer
        );
        assert_ne!(fortran_decoder_for("MPI_Send") & FORTRAN, 0);
        assert_eq!(fortran_decoder_for("MPI_Waitall"), crate::engine::NO_ARGS);
    }

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
