//! Python functions as regions (`[[regions]] python = ...`): a client of the engine's spans.
//! From the preloaded agent alone: the interpreter's C API is found at run time (`api.rs`), an
//! audit hook registered in the constructor installs, before the script's first line
//! (`hook.rs`), a PEP 523 frame hook on 3.11 (`frame_eval.rs`) or `sys.monitoring` callbacks on
//! 3.12+ (`monitoring.rs`); which functions are regions is decided once per code object
//! (`decide.rs`, against the patterns of `regions.rs`). Both hooks are the interpreter's, so
//! every thread of it is covered.
//!
//! Invariants: nothing here runs Python code or touches Python after its interpreter is gone
//! (the end-of-run report reads agent memory only); without a supported interpreter in the
//! process the agent says so once and records no Python region.

mod api;
mod decide;
mod frame_eval;
mod hook;
mod monitoring;
mod regions;

use crate::base::log;
use scope_config::PythonRegion;

/// What `prepare` found.
#[derive(Debug, PartialEq, Eq)]
pub enum Prepared {
    /// The hooks are registered: Python regions will be recorded once the interpreter starts.
    Ready,
    /// No Python interpreter in this process.
    NoPython,
    /// An interpreter the agent cannot hook (said on stderr).
    Refused,
}

/// At start-up (before `Py_Initialize`): finds the interpreter and registers the hooks.
/// `id_of` gives the region id of a region name, registering it if new.
pub fn prepare(list: Vec<PythonRegion>, id_of: fn(&str) -> Option<u32>) -> Prepared {
    match api::find() {
        api::Found::NoPython => Prepared::NoPython,
        api::Found::Unsupported(why) => {
            log::error(&format!("{why}; python regions are off"));
            Prepared::Refused
        }
        api::Found::Api(a) => {
            regions::set(list, id_of);
            if !crate::engine::enable_spans() {
                log::error("no hook id left for Python spans; python regions are off");
                return Prepared::Refused;
            }
            if hook::register(a) {
                Prepared::Ready
            } else {
                log::error("the Python interpreter refused the audit hook; python regions are off");
                Prepared::Refused
            }
        }
    }
}

/// Python patterns that matched no function that ran, with close functions that did
/// (nothing when the interpreter never started with our hooks).
pub fn unmatched() -> Vec<(String, Vec<String>)> {
    if hook::installed() {
        regions::unmatched()
    } else {
        Vec::new()
    }
}
