//! The two hooks the agent gives the interpreter: an audit hook, registered from the agent's
//! constructor (legal before `Py_Initialize`), whose first call after initialisation installs
//! the frame-evaluation hook (PEP 523) for the interpreter, before the script's first line; and
//! that frame hook, which every Python call of every thread goes through.
//!
//! The frame hook reads the code object from the frame, looks up the cached decision in the
//! code object's extra slot (`_PyCode_GetExtra`: one per code object, so nothing is keyed by an
//! address that could be reused), decides once if there is none, and for a region opens an
//! engine span around the real evaluation. A generator's or coroutine's code is evaluated once
//! per resumption (each is recorded) and once to create it (not recorded: the frame is then
//! still the thread's, not the generator's).
//!
//! Invariants: no panic leaves an `extern "C"` function here; the frame hook calls the
//! evaluator it replaced exactly once per call, whatever fails; a decision runs as agent code
//! and keeps the thread's pending exception; after install nothing here takes a lock except in
//! a decision.

use super::api::{self, Api, EvalFn, PyObj};
use super::regions;
use crate::base::log;
use crate::engine;
use std::ffi::{c_char, c_int, c_void, CStr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::OnceLock;

/// Cached decisions in a code object's extra slot: 0 = not decided yet.
const NOT_REGION: usize = 1;
/// A region: `(region id + 1) << 2`, with this bit for generator/coroutine code.
const RESUMABLE: usize = 2;

static API: OnceLock<Box<Api>> = OnceLock::new();
static INSTALLED: AtomicBool = AtomicBool::new(false);

/// What the frame hook needs on every call.
struct Hot {
    get_extra: unsafe extern "C" fn(PyObj, isize, *mut *mut c_void) -> c_int,
    index: isize,
    /// The evaluator that was installed before ours (the default one, or another tool's).
    next: EvalFn,
}

static HOT: OnceLock<Hot> = OnceLock::new();

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

/// The frame hook is installed (the interpreter started with the agent's hooks).
pub fn installed() -> bool {
    INSTALLED.load(Ordering::Acquire)
}

unsafe extern "C" fn audit(_event: *const c_char, _args: PyObj, _data: *mut c_void) -> c_int {
    if !INSTALLED.load(Ordering::Relaxed) {
        let _ = std::panic::catch_unwind(install);
    }
    0
}

/// Installs the frame hook once the interpreter is initialised and this thread holds it.
fn install() {
    let Some(a) = API.get() else { return };
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
    // SAFETY: `ts` is this thread's live thread state (GIL held); the index request and the
    // evaluator swap are what PEP 523 tools do at any point after initialisation.
    unsafe {
        let interp = (a.interpreter_of)(ts);
        let index = (a.request_extra)(std::ptr::null_mut());
        if interp.is_null() || index < 0 {
            log::error("the Python interpreter gave no code-object slot; python regions are off");
            return;
        }
        let prev = (a.get_eval)(interp);
        let next = match prev {
            Some(p) if p as usize != a.eval_default as usize => {
                log::info("another frame evaluator is installed; python regions wrap it");
                p
            }
            _ => a.eval_default,
        };
        let _ = HOT.set(Hot {
            get_extra: a.get_extra,
            index,
            next,
        });
        (a.set_eval)(interp, eval);
    }
    log::info(&format!(
        "python regions: frame hook installed in Python {}",
        api::version_text(a.version)
    ));
}

/// The frame hook (`_PyFrameEvalFunction`).
unsafe extern "C" fn eval(ts: PyObj, frame: PyObj, throwflag: c_int) -> PyObj {
    // Installed only after HOT was set.
    let Some(h) = HOT.get() else {
        std::process::abort()
    };
    // SAFETY: `frame` is a live 3.11 `_PyInterpreterFrame` (the interpreter calls us with
    // one); `f_code` is a strong reference to its code object.
    let code = unsafe { *(frame.cast::<u8>().add(api::FRAME_CODE) as *const PyObj) };
    let mut extra: *mut c_void = std::ptr::null_mut();
    // SAFETY: a code object and the index the interpreter gave us.
    unsafe { (h.get_extra)(code, h.index, &mut extra) };
    let mut v = extra as usize;
    if v == 0 {
        v = decide(h, code, frame);
    }
    // SAFETY (both calls below): the evaluator we replaced, with the interpreter's arguments.
    if v == NOT_REGION {
        return unsafe { (h.next)(ts, frame, throwflag) };
    }
    // SAFETY: as for `code`; `owner` is a byte inside the frame.
    if v & RESUMABLE != 0
        && unsafe { *frame.cast::<u8>().add(api::FRAME_OWNER) } == api::OWNED_BY_THREAD
    {
        return unsafe { (h.next)(ts, frame, throwflag) }; // creates the generator
    }
    let span = engine::open_span(((v >> 2) - 1) as u32);
    let result = unsafe { (h.next)(ts, frame, throwflag) };
    engine::close_span(span);
    result
}

/// Decides whether `code` is a region and caches the answer in its extra slot.
fn decide(h: &Hot, code: PyObj, frame: PyObj) -> usize {
    let v = engine::as_agent(|| match API.get() {
        Some(a) => decision(a, code, frame),
        None => NOT_REGION,
    })
    .unwrap_or(NOT_REGION);
    if let Some(a) = API.get() {
        // SAFETY: a code object, our index, and a value that is not a pointer (no free
        // function was registered for the slot).
        unsafe { (a.set_extra)(code, h.index, v as *mut c_void) };
    }
    v
}

fn decision(a: &Api, code: PyObj, frame: PyObj) -> usize {
    let mut saved: [PyObj; 3] = [std::ptr::null_mut(); 3];
    // SAFETY: the GIL is held (we run inside the evaluator); fetching and restoring the
    // pending exception around our own calls keeps it exactly as it was.
    let (module, qualname, flags) = unsafe {
        (a.err_fetch)(&mut saved[0], &mut saved[1], &mut saved[2]);
        let qualname = attr_text(a, code, c"co_qualname");
        let flags = {
            let f = (a.getattr)(code, c"co_flags".as_ptr());
            if f.is_null() {
                0
            } else {
                let v = (a.as_long)(f);
                (a.dec_ref)(f);
                v
            }
        };
        let globals = *(frame.cast::<u8>().add(api::FRAME_GLOBALS) as *const PyObj);
        let module = if globals.is_null() {
            None
        } else {
            text((a.as_utf8)((a.dict_get)(globals, c"__name__".as_ptr())))
        };
        (a.err_restore)(saved[0], saved[1], saved[2]);
        (module.unwrap_or_default(), qualname, flags)
    };
    let Some(qualname) = qualname else {
        return NOT_REGION;
    };
    match regions::choose(&module, &qualname) {
        Some(id) => {
            let resumable = if flags & api::CO_RESUMABLE != 0 {
                RESUMABLE
            } else {
                0
            };
            ((id as usize + 1) << 2) | resumable
        }
        None => NOT_REGION,
    }
}

/// `getattr(obj, name)` as text, if it is a `str`.
///
/// # Safety
/// The GIL is held and `obj` is a live object.
unsafe fn attr_text(a: &Api, obj: PyObj, name: &CStr) -> Option<String> {
    // SAFETY: per the function's contract; the new reference is released after copying.
    unsafe {
        let v = (a.getattr)(obj, name.as_ptr());
        if v.is_null() {
            return None;
        }
        let t = text((a.as_utf8)(v));
        (a.dec_ref)(v);
        t
    }
}

/// A copy of a UTF-8 C string owned by Python (null: none).
fn text(p: *const c_char) -> Option<String> {
    // SAFETY: a NUL-terminated buffer owned by a live `str` object (copied at once).
    (!p.is_null()).then(|| unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned())
}
