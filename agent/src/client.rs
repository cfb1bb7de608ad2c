//! The engine's client, wired from the agent's parts: records go to the recorder, the
//! arguments of MPI call hooks are read by the MPI layer.
//! Invariant: stateless; every method is a slow path of some thread (see `engine::Client`).

use crate::engine::{Args, Client, ThreadState};
use crate::{mpi, recorder};

pub struct Agent;

/// The one client, handed to `engine::init`.
pub static AGENT: Agent = Agent;

impl Client for Agent {
    fn drain_now(&self, st: &ThreadState) {
        recorder::flush_thread(st);
    }

    fn may_wait_for_consumer(&self) -> bool {
        recorder::may_wait_for_writer()
    }

    fn thread_exit(&self, st: &ThreadState) {
        recorder::retire_thread(st);
    }

    fn read_args(&self, reader: u16, args: &Args) -> (u64, u64) {
        let (bytes, peer) = mpi::calls::decode(reader, args);
        (bytes as u64, peer as u64)
    }
}
