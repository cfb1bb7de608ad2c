//! Python 3.12 and later: `sys.monitoring`, driven from C. The agent takes a tool id, enables
//! `PY_START` globally and answers `DISABLE` for every code object that is not a region, so the
//! interpreter removes the event from that code for good: functions that are not regions run
//! as if nothing were installed after their first call. A region's code object gets the local
//! events `PY_RESUME`, `PY_RETURN` and `PY_YIELD`; `PY_UNWIND` (a call ending by an exception)
//! and `PY_THROW` (a generator resumed by `throw`) exist only globally and are filtered by the
//! cached decision. Enter events open an engine span, leave events close the innermost one.
//! Generators and coroutines: `PY_START` comes at the first resumption, not at creation, so
//! each resumption is one interval, as on 3.11.
//!
//! Invariants: the callbacks never raise and never leave an exception set; the spans a thread
//! opened are closed innermost first (Python calls of one thread nest); no panic leaves a
//! callback; a leave event without an open span of ours (a call that started before the
//! install) is ignored.

use super::api::{Api, FastCall, MethodDef, Monitoring, PyObj, METH_FASTCALL};
use super::decide::{self, NOT_REGION};
use crate::engine;
use std::cell::RefCell;
use std::ffi::{c_char, c_long, CStr};
use std::sync::OnceLock;

struct Hot {
    api: &'static Api,
    mon: &'static Monitoring,
    index: isize,
    /// `sys.monitoring.DISABLE`, `set_local_events`, and our tool id as a Python int.
    disable: PyObj,
    set_local_events: PyObj,
    tool: PyObj,
    /// The local events a region's code gets.
    local_events: c_long,
}

// SAFETY: the Python objects are only used with the GIL held; `Hot` is written once.
unsafe impl Send for Hot {}
// SAFETY: as above.
unsafe impl Sync for Hot {}

static HOT: OnceLock<Hot> = OnceLock::new();

thread_local! {
    /// This thread's open spans of ours, innermost last.
    static OPEN: RefCell<Vec<engine::Span>> = const { RefCell::new(Vec::new()) };
}

/// Tool ids tried in turn (`sys.monitoring.PROFILER_ID` first; cProfile takes it on 3.12+).
const TOOL_IDS: [c_long; 4] = [2, 3, 4, 1];

/// Takes a tool id and registers the callbacks (GIL held, interpreter initialised).
pub fn install(a: &'static Api, m: &'static Monitoring) -> Result<(), String> {
    // SAFETY: the GIL is held; every new reference is either kept for the life of the process
    // (the module, the callbacks) or released; errors are cleared before returning.
    unsafe {
        let fail = |what: &str| {
            (m.err_clear)();
            Err::<(), String>(format!("sys.monitoring: {what}"))
        };
        let sys = (m.import)(c"sys".as_ptr());
        if sys.is_null() {
            return fail("cannot import sys");
        }
        let mon = (a.getattr)(sys, c"monitoring".as_ptr());
        let events = if mon.is_null() {
            std::ptr::null_mut()
        } else {
            (a.getattr)(mon, c"events".as_ptr())
        };
        if events.is_null() {
            return fail("not found");
        }
        let ev = |name: &CStr| -> c_long {
            let o = (a.getattr)(events, name.as_ptr());
            if o.is_null() {
                return 0;
            }
            let v = (a.as_long)(o);
            (a.dec_ref)(o);
            v
        };
        let (start, resume, ret, yld, unwind, throw) = (
            ev(c"PY_START"),
            ev(c"PY_RESUME"),
            ev(c"PY_RETURN"),
            ev(c"PY_YIELD"),
            ev(c"PY_UNWIND"),
            ev(c"PY_THROW"),
        );
        if [start, resume, ret, yld, unwind, throw].contains(&0) {
            return fail("an event is missing");
        }
        let call = |name: &CStr, args: &[PyObj]| -> bool {
            let f = (a.getattr)(mon, name.as_ptr());
            if f.is_null() {
                return false;
            }
            let r = (m.vectorcall)(f, args.as_ptr(), args.len(), std::ptr::null_mut());
            (a.dec_ref)(f);
            if r.is_null() {
                (m.err_clear)();
                return false;
            }
            (a.dec_ref)(r);
            true
        };
        let name = (m.str_from)(c"scope".as_ptr());
        let tool = TOOL_IDS.iter().find_map(|&id| {
            let t = (m.long_from)(id);
            if call(c"use_tool_id", &[t, name]) {
                Some(t)
            } else {
                (a.dec_ref)(t);
                None
            }
        });
        let Some(tool) = tool else {
            return fail("every tool id is taken");
        };
        let callbacks: [(c_long, FastCall, &CStr); 6] = [
            (start, on_start, c"scope_py_start"),
            (resume, on_resume, c"scope_py_resume"),
            (throw, on_throw, c"scope_py_throw"),
            (ret, on_leave, c"scope_py_return"),
            (yld, on_leave, c"scope_py_yield"),
            (unwind, on_unwind, c"scope_py_unwind"),
        ];
        for (event, f, fname) in callbacks {
            let def = Box::leak(Box::new(MethodDef {
                name: fname.as_ptr(),
                meth: f,
                flags: METH_FASTCALL,
                doc: std::ptr::null::<c_char>(),
            }));
            let func = (m.cfunction)(def, std::ptr::null_mut(), std::ptr::null_mut());
            let e = (m.long_from)(event);
            if func.is_null() || !call(c"register_callback", &[tool, e, func]) {
                return fail("cannot register a callback");
            }
            (a.dec_ref)(e);
        }
        let index = (a.request_extra)(std::ptr::null_mut());
        let disable = (a.getattr)(mon, c"DISABLE".as_ptr());
        let set_local_events = (a.getattr)(mon, c"set_local_events".as_ptr());
        if index < 0 || disable.is_null() || set_local_events.is_null() {
            return fail("no code-object slot, DISABLE or set_local_events");
        }
        let _ = HOT.set(Hot {
            api: a,
            mon: m,
            index,
            disable,
            set_local_events,
            tool,
            local_events: resume | ret | yld,
        });
        let global = (m.long_from)(start | unwind | throw);
        if !call(c"set_events", &[tool, global]) {
            return fail("set_events refused");
        }
        (a.dec_ref)(global);
    }
    Ok(())
}

/// `None`, or `DISABLE`, as a new reference (what a callback returns).
fn answer(h: &Hot, disable: bool) -> PyObj {
    let o = if disable {
        h.disable
    } else {
        h.mon.none as PyObj
    };
    // SAFETY: both are live objects kept for the life of the process; GIL held.
    unsafe { (h.api.inc_ref)(o) };
    o
}

/// The code object of a callback (its first argument), if given.
///
/// # Safety
/// `args` holds `nargs` live objects (the interpreter's call).
unsafe fn code_of(args: *const PyObj, nargs: isize) -> Option<PyObj> {
    // SAFETY: per the contract.
    (nargs >= 1).then(|| unsafe { *args })
}

/// The decision for `code`, making it (and giving a region's code its local events) the
/// first time.
fn decision(h: &Hot, code: PyObj) -> usize {
    match decide::cached(h.api, h.index, code) {
        0 => {
            // SAFETY: called from a callback of the frame that runs `code`: the current
            // frame's globals are its module's (borrowed).
            let globals = unsafe { (h.mon.globals)() };
            let v = decide::decide(h.api, h.index, code, globals);
            if v != NOT_REGION {
                enable_local(h, code);
            }
            v
        }
        v => v,
    }
}

/// `sys.monitoring.set_local_events(tool, code, PY_RESUME | PY_RETURN | PY_YIELD)`.
fn enable_local(h: &Hot, code: PyObj) {
    let _ = engine::as_agent(|| {
        let mut saved: [PyObj; 3] = [std::ptr::null_mut(); 3];
        // SAFETY: GIL held; the pending exception is kept around our call.
        unsafe {
            (h.api.err_fetch)(&mut saved[0], &mut saved[1], &mut saved[2]);
            let e = (h.mon.long_from)(h.local_events);
            let args = [h.tool, code, e];
            let r = (h.mon.vectorcall)(
                h.set_local_events,
                args.as_ptr(),
                args.len(),
                std::ptr::null_mut(),
            );
            if r.is_null() {
                (h.mon.err_clear)();
            } else {
                (h.api.dec_ref)(r);
            }
            (h.api.dec_ref)(e);
            (h.api.err_restore)(saved[0], saved[1], saved[2]);
        }
    });
}

fn open(v: usize) {
    let span = engine::open_span(decide::region_of(v));
    OPEN.with(|o| o.borrow_mut().push(span));
}

fn close() {
    if let Some(span) = OPEN.with(|o| o.borrow_mut().pop()) {
        engine::close_span(span);
    }
}

/// A callback body: `f(hot, code)` returns whether to answer `DISABLE`.
fn callback(args: *const PyObj, nargs: isize, f: impl FnOnce(&Hot, PyObj) -> bool) -> PyObj {
    let Some(h) = HOT.get() else {
        return std::ptr::null_mut(); // cannot happen: registered after HOT was set
    };
    // SAFETY: the interpreter calls us with `nargs` arguments.
    let Some(code) = (unsafe { code_of(args, nargs) }) else {
        return answer(h, false);
    };
    let disable =
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(h, code))).unwrap_or(false);
    answer(h, disable)
}

/// `PY_START`: a region's call begins; any other code is disabled for good.
unsafe extern "C" fn on_start(_s: PyObj, args: *const PyObj, nargs: isize) -> PyObj {
    callback(args, nargs, |h, code| {
        let v = decision(h, code);
        if v == NOT_REGION {
            return true;
        }
        open(v);
        false
    })
}

/// `PY_RESUME` (regions' code only): a generator or coroutine resumes.
unsafe extern "C" fn on_resume(_s: PyObj, args: *const PyObj, nargs: isize) -> PyObj {
    callback(args, nargs, |h, code| {
        let v = decision(h, code);
        if v != NOT_REGION {
            open(v);
        }
        false
    })
}

/// `PY_THROW` (global): a generator or coroutine resumed by `throw`.
unsafe extern "C" fn on_throw(_s: PyObj, args: *const PyObj, nargs: isize) -> PyObj {
    callback(args, nargs, |h, code| {
        if let Some(v) = cached_region(h, code) {
            open(v);
        }
        false
    })
}

/// The cached decision of `code` if it is a region (not one for undecided code: a call that
/// began before the install).
fn cached_region(h: &Hot, code: PyObj) -> Option<usize> {
    let v = decide::cached(h.api, h.index, code);
    (v != 0 && v != NOT_REGION).then_some(v)
}

/// A call or resumption of `code` ends: a region's span closes.
fn leave(h: &Hot, code: PyObj) -> bool {
    if cached_region(h, code).is_some() {
        close();
    }
    false
}

/// `PY_RETURN`, `PY_YIELD` (regions' code only): the call or resumption ends.
unsafe extern "C" fn on_leave(_s: PyObj, args: *const PyObj, nargs: isize) -> PyObj {
    callback(args, nargs, leave)
}

/// `PY_UNWIND` (global): a call ends by an exception; a region's closes.
unsafe extern "C" fn on_unwind(_s: PyObj, args: *const PyObj, nargs: isize) -> PyObj {
    callback(args, nargs, leave)
}
