//! Getting into the interpreter: an audit hook, registered from the agent's constructor (legal
//! before `Py_Initialize`), whose first call once the interpreter is initialised and this
//! thread holds it installs the way this version is hooked (`frame_eval.rs` on 3.11,
//! `monitoring.rs` on 3.12+), before the script's first line.
//!
//! Invariants: installs at most once; no panic leaves the audit hook; after install the audit
//! hook costs one atomic load per audit event.

use super::api::{self, Api, PyObj, Way};
use super::{frame_eval, monitoring};
use crate::base::log;
use std::ffi::{c_char, c_int, c_void};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::OnceLock;

static API: OnceLock<Box<Api>> = OnceLock::new();
static INSTALLED: AtomicBool = AtomicBool::new(false);

/// Registers the audit hook. False if the interpreter refused it.
pub fn register(a: Box<Api>) -> bool {
    let add = a.add_audit_hook;
    if API.set(a).is_err() {
        return false;
    }
    // SAFETY: `PySys_AddAuditHook` may be called before `Py_Initialize`; `audit` matches
    // `Py_AuditHookFunction` and never unwinds.
    unsafe { add(audit, std::ptr::null_mut()) == 0 }
}

/// The interpreter started with the agent's hooks.
pub fn installed() -> bool {
    INSTALLED.load(Ordering::Acquire)
}

unsafe extern "C" fn audit(_event: *const c_char, _args: PyObj, _data: *mut c_void) -> c_int {
    if !INSTALLED.load(Ordering::Relaxed) {
        let _ = std::panic::catch_unwind(install);
    }
    0
}

/// Installs the hook once the interpreter is initialised and this thread holds it.
fn install() {
    let Some(a) = API.get() else { return };
    let a: &'static Api = a;
    // SAFETY: both are plain queries, valid at any time (audit hooks run with the GIL held).
    let ts = unsafe {
        if (a.is_initialized)() == 0 {
            return;
        }
        (a.thread_state)()
    };
    if ts.is_null() || INSTALLED.swap(true, Ordering::AcqRel) {
        return;
    }
    let (how, r) = match &a.way {
        Way::FrameEval(f) => ("frame hook", frame_eval::install(a, f, ts)),
        Way::Monitoring(m) => ("sys.monitoring", monitoring::install(a, m)),
    };
    let version = api::version_text(a.version);
    match r {
        Ok(()) => log::info(&format!(
            "python regions: {how} installed in Python {version}"
        )),
        Err(e) => log::error(&format!("Python {version}: {e}; python regions are off")),
    }
}
