//! Python 3.11: the PEP 523 frame-evaluation hook, which every Python call of every thread of
//! the interpreter goes through. It reads the code object from the frame and the decision
//! cached in the code object (`decide.rs`), and for a region opens an engine span around the
//! real evaluation. A generator's or coroutine's code is evaluated once per resumption (each
//! recorded) and once to create it (not recorded: its frame is then still the thread's, not
//! the generator's).
//!
//! Every Python call under this hook is also a C call (3.11 evaluates Python-to-Python calls
//! inline only without a PEP 523 hook), so a recursion that plain 3.11 runs in a few MiB of C
//! stack (a program that raised `sys.setrecursionlimit`) would overflow the C stack here: past
//! `CHECK_DEPTH` Python frames the hook measures the C stack left and, when it runs short,
//! raises `RecursionError` instead of letting the process crash.
//!
//! Invariants: the hook calls the evaluator it replaced exactly once per call, except a call it
//! refuses with `RecursionError` (a thread-owned frame, which its caller clears as after any
//! error); it reads 3.11's frame, code and thread-state layouts only (installed on 3.11 only);
//! no panic leaves it.

use super::api::{self, Api, EvalFn, FrameEval, PyObj};
use super::decide::{self, NOT_REGION, RESUMABLE};
use crate::base::log;
use crate::engine;
use std::ffi::{c_char, c_int, CStr};
use std::sync::OnceLock;

/// What the frame hook needs on every call.
struct Hot {
    api: &'static Api,
    /// `PyErr_SetString` and `PyExc_RecursionError`.
    set_string: unsafe extern "C" fn(PyObj, *const c_char),
    recursion_error: PyObj,
    index: isize,
    /// The evaluator that was installed before ours (the default one, or another tool's).
    next: EvalFn,
}

// SAFETY: the exception type is a process-lifetime object only used with the GIL held; `Hot`
// is written once, before the hook that reads it is installed.
unsafe impl Send for Hot {}
// SAFETY: as above.
unsafe impl Sync for Hot {}

static HOT: OnceLock<Hot> = OnceLock::new();

/// Installs the hook for the interpreter of thread state `ts` (GIL held).
pub fn install(a: &'static Api, f: &FrameEval, ts: PyObj) -> Result<(), String> {
    // SAFETY: `ts` is this thread's live thread state; the index request and the evaluator
    // swap are what PEP 523 tools do at any point after initialisation; `recursion_error` is
    // the address of CPython's `PyObject *PyExc_RecursionError`, set since initialisation.
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
            set_string: f.set_string,
            recursion_error: *(f.recursion_error as *const PyObj),
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
    // SAFETY: `ts` is the live 3.11 thread state the interpreter passes; two ints in it.
    let depth = unsafe {
        let t = ts.cast::<u8>();
        *(t.add(api::TSTATE_RECURSION_LIMIT) as *const c_int)
            - *(t.add(api::TSTATE_RECURSION_REMAINING) as *const c_int)
    };
    // SAFETY: `frame` is a live 3.11 `_PyInterpreterFrame`; `owner` is a byte inside it.
    let owned_by_thread =
        unsafe { *frame.cast::<u8>().add(api::FRAME_OWNER) } == api::OWNED_BY_THREAD;
    if depth > CHECK_DEPTH && owned_by_thread && c_stack_short() {
        // SAFETY: the GIL is held; a live exception type and a static C string.
        unsafe { (h.set_string)(h.recursion_error, RECURSION_MESSAGE.as_ptr()) };
        return std::ptr::null_mut();
    }
    // SAFETY: `f_code` is a strong reference to the frame's code object.
    let code = unsafe { *(frame.cast::<u8>().add(api::FRAME_CODE) as *const PyObj) };
    let v = match cached(code, h.index) {
        // SAFETY: `f_globals` is a borrowed reference in the live frame.
        0 => decide::decide(h.api, h.index, code, unsafe {
            *(frame.cast::<u8>().add(api::FRAME_GLOBALS) as *const PyObj)
        }),
        v => v,
    };
    // A resumable code's frame still owned by the thread is the call that creates the
    // generator or coroutine.
    let creating = v & RESUMABLE != 0 && owned_by_thread;
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

/// Python depth past which each call checks the C stack (a cheap compare before it).
const CHECK_DEPTH: c_int = 1000;
/// C stack kept free: what one more evaluation and the error path may need.
const STACK_RESERVE: usize = 512 * 1024;
const RECURSION_MESSAGE: &CStr = c"maximum recursion depth exceeded: the C stack is nearly \
full (with scope's Python 3.11 frame hook each Python call is also a C call)";

thread_local! {
    /// The lowest address of this thread's stack (0: not looked up yet).
    static STACK_LOW: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// Less than `STACK_RESERVE` of this thread's C stack is left.
#[inline(never)]
fn c_stack_short() -> bool {
    let here = 0u8;
    let sp = std::ptr::addr_of!(here) as usize;
    let low = STACK_LOW.with(|l| {
        if l.get() == 0 {
            l.set(stack_low());
        }
        l.get()
    });
    low != usize::MAX && sp.saturating_sub(low) < STACK_RESERVE
}

/// The lowest address of the calling thread's stack, `usize::MAX` if unknown.
fn stack_low() -> usize {
    // SAFETY: `attr` is filled by pthread_getattr_np for the calling thread and destroyed
    // after reading its stack bounds.
    unsafe {
        let mut attr: libc::pthread_attr_t = std::mem::zeroed();
        if libc::pthread_getattr_np(libc::pthread_self(), &mut attr) != 0 {
            return usize::MAX;
        }
        let mut addr: *mut libc::c_void = std::ptr::null_mut();
        let mut size: libc::size_t = 0;
        let ok = libc::pthread_attr_getstack(&attr, &mut addr, &mut size) == 0;
        libc::pthread_attr_destroy(&mut attr);
        if ok {
            addr as usize
        } else {
            usize::MAX
        }
    }
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
