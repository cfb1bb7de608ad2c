//! scope-format: the one definition of scope's on-disk layout, shared by the agent's per-rank
//! writer and merger, `scope-run`'s salvage and summary, and `scope-pproc`.
//!
//! Layout (the reference tool `scope-profiler` reads it unchanged):
//! ```text
//! /                                  attrs: scope_version, ranks, complete, missing_ranks,
//!                                           unfinished_ranks, clock
//! /rank<N>/                          attrs: rank, dropped_events, pid, hostname
//! /rank<N>/regions/<encoded name>/   attrs: name (the region name as configured)
//!     start_times  int64 [n]  nanoseconds, CLOCK_MONOTONIC
//!     end_times    int64 [n]
//!     thread_ids   int64 [n]  0 = the thread that first loaded the agent, then 1, 2, ... in order of first event
//!     bytes        int64 [n]  MPI call regions only (`[mpi] calls`): payload bytes of the call
//!     peer         int64 [n]  MPI call regions only: destination, source or root, or a PEER_* code
//! ```
//! A region with a `peer` column is an MPI call. Rank groups of MPI runs also carry `mpi_begin`
//! and `mpi_end` (ns, same clock: the end of `MPI_Init` and the start of `MPI_Finalize`).
//! Invariants: the root holds only `rank<N>` groups (the reference reader treats every root
//! member but `metadata` as a rank); the three datasets of a region always have equal lengths; a
//! per-rank file (`rank_<N>.h5`) uses the same layout with one rank group, so a per-rank file is a
//! valid profile on its own and salvage after a crash is a plain merge. A per-rank file starts
//! with a 4 KiB HDF5 user block, which holds the file's manifest once its writer has closed it
//! (`manifest.rs`; HDF5 readers skip the block). A run finalized past one node writes the same
//! layout: rank 0 lays the file out from the ranks' manifests, node leaders copy the data in
//! parallel, rank 0 commits the root attributes (`layout.rs`).

mod attrs;
mod clock;
pub mod compare;
mod describe;
mod error;
mod ffi;
mod files;
mod layout;
mod manifest;
mod merge;
mod names;
mod outline;
mod plan;
mod rank_writer;
mod raw_copy;
mod reader;
mod world;

pub use attrs::{FileAttrs, RankAttrs, WINDOW};
pub use clock::{ClockSample, ClockSync, CLOCK_ERROR, CLOCK_SYNC_BEGIN, CLOCK_SYNC_END};
pub use error::FormatError;
pub use layout::{commit, copy_planned, copy_planned_all, lay_out, read_manifest_bytes};
pub use merge::{merge, merge_rank_dir, DirMerge, MergeInput, MergeReport};
pub use names::{
    decode_region_name, encode_region_name, rank_file_name, rank_group_name, rank_of_file_name,
};
pub use plan::{ByteRun, ColumnCopy, CopyPlan};
pub use rank_writer::RankWriter;
pub use reader::{Intervals, ProfileReader};
pub use world::{
    free_output_name, merge_launched_world, merge_launched_world_beside, merge_world_dir,
    private_dir_prefix, read_python_unmatched, read_sent_over_mpi, read_world, world_file,
    world_of_file_name, write_python_unmatched, write_sent_over_mpi, write_world, WorldMerge,
    PYTHON_UNMATCHED_ATTR, SENT_OVER_MPI_ATTR, WORLD_ATTR,
};

/// An MPI call region's column of payload bytes per call.
pub const BYTES: &str = "bytes";
/// An MPI call region's column of peers per call (a rank, or one of the `PEER_*` codes).
pub const PEER: &str = "peer";
/// Every column a region may hold, in the order they are copied.
pub const COLUMNS: [&str; 5] = ["start_times", "end_times", "thread_ids", BYTES, PEER];
/// `peer` of a call that has none (`MPI_Barrier`, `MPI_Allreduce`, `MPI_Wait`, ...).
pub const PEER_NONE: i64 = -1;
/// `peer` of a receive from `MPI_ANY_SOURCE`.
pub const PEER_ANY_SOURCE: i64 = -2;
/// `peer` of a call to or from `MPI_PROC_NULL`.
pub const PEER_PROC_NULL: i64 = -3;
/// `peer` of `MPI_ROOT` (the root group's side of an inter-communicator collective).
pub const PEER_ROOT: i64 = -4;

/// Version string written into every file.
pub const TOOL_VERSION: &str = concat!("scope ", env!("CARGO_PKG_VERSION"));
/// What the timestamps count.
pub const CLOCK: &str = "CLOCK_MONOTONIC";
