//! The engine's one client, set once at `init`: where full buffers go when no consumer thread
//! takes them, what happens to a thread's records when it ends, and who reads the arguments of
//! a hook that records them. The engine knows nothing else of what its records become (as
//! frida-gum's interceptor knows its listeners only through `on_enter`/`on_leave`).
//!
//! Invariant: the engine calls the client only on slow paths, with recording paused on the
//! calling thread (`drain_now`, `read_args`) or the thread's state retired (`thread_exit`).

use super::args::Args;
use super::thread::ThreadState;
use std::sync::OnceLock;

pub trait Client: Sync {
    /// `st`'s buffer is full and no consumer thread takes it: move its complete records out
    /// now, on this thread, and empty its buffers (`ThreadState::take_handed_over`,
    /// `take_rest_of_filling`, `empty_filling`).
    fn drain_now(&self, st: &ThreadState);
    /// False while this thread holds something the consumer thread needs to make progress
    /// (then it must not wait for the consumer: its record is dropped instead).
    fn may_wait_for_consumer(&self) -> bool;
    /// `st`'s thread is ending: take its records (its state is never used again).
    fn thread_exit(&self, st: &ThreadState);
    /// Reads the arguments of a call to a hook that records them (`Kind::TimingWithArgs`),
    /// with the reader id its `Target` carried: the two values of its args record.
    fn read_args(&self, reader: u16, args: &Args) -> (u64, u64);
}

static CLIENT: OnceLock<&'static dyn Client> = OnceLock::new();

pub(super) fn set(c: &'static dyn Client) {
    let _ = CLIENT.set(c);
}

pub(super) fn get() -> Option<&'static dyn Client> {
    CLIENT.get().copied()
}
