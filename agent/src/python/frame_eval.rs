//! Python 3.11: the PEP 523 frame-evaluation hook, which every Python call of every thread of
//! the interpreter goes through. It reads the code object from the frame and the decision
//! cached in the code object (`decide.rs`), and for a region opens an engine span around the
//! real evaluation. A generator's or coroutine's code is evaluated once per resumption (each
//! recorded) and once to create it (not recorded: its frame is then still the thread's, not
//! the generator's).
//!
//! Invariants: the hook calls the evaluator it replaced exactly once per call, whatever
//! fails; it reads 3.11's frame and code layouts only (installed on 3.11 only); no panic
//! leaves it.

use super::api::{self, Api, EvalFn, FrameEval, PyObj};
use super::decide::{self, NOT_REGION, RESUMABLE};
use crate::base::log;
use crate::engine;
use std::ffi::c_int;
use std::sync::OnceLock;

/// What the frame hook needs on every call.
struct Hot {
    api: &'static Api,
    index: isize,
    /// The evaluator that was installed before ours (the default one, or another tool's).
    next: EvalFn,
}

static HOT: OnceLock<Hot> = OnceLock::new();

/// Installs the hook for the interpreter of thread state `ts` (GIL held).
pub fn install(a: &'static Api, f: &FrameEval, ts: PyObj) -> Result<(), String> {
    // SAFETY: `ts` is this thread's live thread state; the index request and the evaluator
    // swap are what PEP 523 tools do at any point after initialisation.
    unsafe {
        let interp = (f.interpreter_of)(ts);
        let index = (a.request_extra)(std::ptr::null_mut());
        if interp.is_null() || index < 0 {
            return Err("the interpreter gave no code-object slot".into());
        }
        let next = match (f.get_eval)(interp) {
            Some(p) if p as usize != f.eval_default as usize => {
                log::info("another frame evaluator is installed; python regions wrap it");
                p
            }
            _ => f.eval_default,
        };
        let _ = HOT.set(Hot {
            api: a,
            index,
            next,
        });
        (f.set_eval)(interp, eval);
    }
    Ok(())
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
    let v = match cached(code, h.index) {
        // SAFETY: `f_globals` is a borrowed reference in the live frame.
        0 => decide::decide(h.api, h.index, code, unsafe {
            *(frame.cast::<u8>().add(api::FRAME_GLOBALS) as *const PyObj)
        }),
        v => v,
    };
    // SAFETY: as for `code`; `owner` is a byte inside the frame. A resumable code's frame
    // still owned by the thread is the call that creates the generator or coroutine.
    let creating = v & RESUMABLE != 0
        && unsafe { *frame.cast::<u8>().add(api::FRAME_OWNER) } == api::OWNED_BY_THREAD;
    if v == NOT_REGION || creating {
        // SAFETY: the evaluator we replaced, with the interpreter's own arguments.
        return unsafe { (h.next)(ts, frame, throwflag) };
    }
    let span = engine::open_span(decide::region_of(v));
    // SAFETY: as above.
    let result = unsafe { (h.next)(ts, frame, throwflag) };
    engine::close_span(span);
    result
}

/// The decision cached in `code`'s extra slot `index` (0: none yet). Reads the slot as
/// `_PyCode_GetExtra` does, without its call and type check (the frame's code is a code object).
#[inline(always)]
fn cached(code: PyObj, index: isize) -> usize {
    // SAFETY: `code` is a live 3.11 code object; `co_extra` is null or points at its extras
    // (`ce_size`, then `ce_size` slots), which only `_PyCode_SetExtra` changes, under the GIL
    // this thread holds.
    unsafe {
        let extra = *(code.cast::<u8>().add(api::CODE_EXTRA) as *const *const isize);
        if extra.is_null() || *extra <= index {
            return 0;
        }
        *extra.add(1 + index as usize) as usize
    }
}
