//! The bottom layer: what any part of the agent may use and that knows nothing of the agent
//! (no engine, no recorder, no MPI): the clock, raw system calls, the log, the objects loaded
//! in the process and their files (mapped), whether this process is one to act in, and the rank a launcher gave it.
//!
//! Invariant: nothing under `base/` refers to another part of the agent (checked by
//! `layers.rs`).

pub mod clock;
pub mod launcher_rank;
pub mod loaded;
pub mod log;
pub mod mapped;
pub mod sys;
pub mod target;
