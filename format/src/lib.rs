//! scope-format: the one definition of scope's on-disk layout, shared by the agent's per-rank
//! writer and merger, `scope-run`'s salvage and summary, and `scope-pproc`.
//!
//! Layout (the reference tool `scope-profiler` reads it unchanged):
//! ```text
//! /                                  attrs: scope_version, ranks, complete, missing_ranks, clock
//! /rank<N>/                          attrs: rank, dropped_events, pid, hostname
//! /rank<N>/regions/<encoded name>/   attrs: name (the region name as configured)
//!     start_times  int64 [n]  nanoseconds, CLOCK_MONOTONIC
//!     end_times    int64 [n]
//!     thread_ids   int64 [n]  0 = the thread that first loaded the agent, then 1, 2, ... in order of first event
//! ```
//! Invariants: the root holds only `rank<N>` groups (the reference reader treats every root
//! member but `metadata` as a rank); the three datasets of a region always have equal lengths; a
//! per-rank file (`rank_<N>.h5`) uses the same layout with one rank group, so a per-rank file is a
//! valid profile on its own and salvage after a crash is a plain merge.

mod attrs;
mod error;
mod files;
mod merge;
mod names;
mod rank_writer;
mod reader;

pub use attrs::{FileAttrs, RankAttrs};
pub use error::FormatError;
pub use merge::{merge, merge_rank_dir, DirMerge, MergeInput, MergeReport};
pub use names::{
    decode_region_name, encode_region_name, rank_file_name, rank_group_name, rank_of_file_name,
};
pub use rank_writer::RankWriter;
pub use reader::{Intervals, ProfileReader};

/// Version string written into every file.
pub const TOOL_VERSION: &str = concat!("scope ", env!("CARGO_PKG_VERSION"));
/// What the timestamps count.
pub const CLOCK: &str = "CLOCK_MONOTONIC";
