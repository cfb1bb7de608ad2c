//! The interception engine: attach an enter/leave timing hook to functions of the running
//! process without knowing their signatures, and hand what it records to one client.
//!
//! Model (Frida's Interceptor, made cheaper): per function a stub near it, the function's
//! first bytes relocated after the stub, a jump written over them (the back end,
//! `x86_64/`); per thread a shadow stack and two record buffers (`thread.rs`, `buffers.rs`)
//! reached through a fixed TLS offset; everything unusual through trampolines that save the
//! whole register state and call the slow paths (`slow.rs`).
//!
//! The layers inside, bottom up: `word`, `thread`, `hooks`, `args` (types); the back end's
//! `tls`; `gate` (who records), `current` (this thread's state), `client` (the one client);
//! `buffers` (the record protocol), `guard` (agent code on a thread), `registry` (threads);
//! `arena` (code memory near functions); `unwind`, `slow`, `spans` (intervals a client measures
//! itself); the back end's `trampoline`, `stub`, `prologue`, `patch`, `plan`; `target`, `attach`, `init`. This file only re-exports: no file below refers to it.
//!
//! Invariants: the engine knows no recorder, no MPI, no file format (checked by `layers.rs`);
//! `attach` runs while no thread can run the code it patches; a function is either fully
//! hooked or untouched; the engine never panics into the program: every failure is a refusal
//! with a reason or a disabled engine.

mod arena;
mod args;
mod attach;
mod buffers;
mod client;
mod current;
mod gate;
mod guard;
mod hooks;
mod init;
mod registry;
mod slow;
mod spans;
mod target;
mod thread;
mod unwind;
mod word;
#[cfg(target_arch = "x86_64")]
mod x86_64;
#[cfg(target_arch = "x86_64")]
use self::x86_64 as backend;
#[cfg(target_arch = "aarch64")]
mod aarch64;
#[cfg(target_arch = "aarch64")]
use self::aarch64 as backend;

pub use args::Args;
pub use attach::{attach, unhooked};
pub use buffers::{consumer_running, set_consumer, wait_for_work, wake_consumer};
pub use client::Client;
pub use current::retire_this_thread as never_record_on_this_thread;
pub use gate::is_forked_child;
pub use guard::{as_agent, inside_agent};
pub use hooks::{Kind, NO_ARGS};
pub use init::init;
pub use registry::{after_fork_in_child, finish_all, stop_recording, threads};
pub use spans::{close as close_span, enable as enable_spans, open as open_span, Span};
pub use target::{Target, When};
pub use thread::{Record, ThreadState, RECORD_CAP};
pub use unwind::{hide_real_returns, show_real_returns, BEGIN_CATCH, UNWIND_STARTS};
#[cfg(test)]
pub use word::HookWord;
