//! The interpreter's C API, found at run time in the process (`dlsym(RTLD_DEFAULT)`, as the
//! MPI layer finds MPI): the agent is not linked against libpython. Also the layout of the
//! one private struct the frame hook reads, per supported version.
//!
//! Invariants: an `Api` exists only if every function it holds was found and the version is
//! one whose layout is known (3.11); nothing here calls into Python by itself.

use crate::base::loaded::default_symbol;
use std::ffi::{c_char, c_int, c_long, c_void, CStr};

/// A `PyObject *` (and the other opaque interpreter pointers).
pub type PyObj = *mut c_void;
/// `_PyFrameEvalFunction` (3.11): `(PyThreadState *, _PyInterpreterFrame *, int throwflag)`.
pub type EvalFn = unsafe extern "C" fn(PyObj, PyObj, c_int) -> PyObj;
/// `Py_AuditHookFunction`.
pub type AuditFn = unsafe extern "C" fn(*const c_char, PyObj, *mut c_void) -> c_int;

/// Offsets in 3.11's `_PyInterpreterFrame` (Include/internal/pycore_frame.h).
pub const FRAME_GLOBALS: usize = 8;
pub const FRAME_CODE: usize = 32;
pub const FRAME_OWNER: usize = 69;
/// `FRAME_OWNED_BY_THREAD`: a frame on the thread's stack (not a generator's).
pub const OWNED_BY_THREAD: u8 = 0;
/// `CO_GENERATOR | CO_COROUTINE | CO_ASYNC_GENERATOR`.
pub const CO_RESUMABLE: c_long = 0x20 | 0x80 | 0x200;

pub struct Api {
    /// `Py_Version` (e.g. 0x030b02f0).
    pub version: u64,
    pub add_audit_hook: unsafe extern "C" fn(AuditFn, *mut c_void) -> c_int,
    pub is_initialized: unsafe extern "C" fn() -> c_int,
    pub thread_state: unsafe extern "C" fn() -> PyObj,
    pub interpreter_of: unsafe extern "C" fn(PyObj) -> PyObj,
    pub get_eval: unsafe extern "C" fn(PyObj) -> Option<EvalFn>,
    pub set_eval: unsafe extern "C" fn(PyObj, EvalFn),
    pub eval_default: EvalFn,
    pub request_extra: unsafe extern "C" fn(*mut c_void) -> isize,
    pub get_extra: unsafe extern "C" fn(PyObj, isize, *mut *mut c_void) -> c_int,
    pub set_extra: unsafe extern "C" fn(PyObj, isize, *mut c_void) -> c_int,
    pub getattr: unsafe extern "C" fn(PyObj, *const c_char) -> PyObj,
    pub as_utf8: unsafe extern "C" fn(PyObj) -> *const c_char,
    pub as_long: unsafe extern "C" fn(PyObj) -> c_long,
    pub dict_get: unsafe extern "C" fn(PyObj, *const c_char) -> PyObj,
    pub dec_ref: unsafe extern "C" fn(PyObj),
    pub err_fetch: unsafe extern "C" fn(*mut PyObj, *mut PyObj, *mut PyObj),
    pub err_restore: unsafe extern "C" fn(PyObj, PyObj, PyObj),
}

/// What looking for the interpreter found.
pub enum Found {
    /// No Python interpreter in this process.
    NoPython,
    /// An interpreter whose version is not supported (its `Py_Version`), or missing functions.
    Unsupported(String),
    Api(Box<Api>),
}

fn sym(name: &CStr) -> Result<usize, String> {
    default_symbol(name).ok_or_else(|| format!("{} not found", name.to_string_lossy()))
}

macro_rules! func {
    ($name:literal) => {{
        let a = sym($name)?;
        // SAFETY: `a` is the address of the exported C function `$name`, whose signature
        // (CPython 3.11's headers) is the field's type.
        unsafe { std::mem::transmute::<usize, _>(a) }
    }};
}

/// `Py_Version` as "3.11".
pub fn version_text(v: u64) -> String {
    format!("{}.{}", v >> 24, (v >> 16) & 0xff)
}

/// Looks for the interpreter's API in the process.
pub fn find() -> Found {
    let Some(v) = default_symbol(c"Py_Version") else {
        return Found::NoPython;
    };
    // SAFETY: `Py_Version` is a `const unsigned long` exported by CPython 3.11+.
    let version = unsafe { *(v as *const std::ffi::c_ulong) } as u64;
    if version >> 16 != 0x030b {
        return Found::Unsupported(format!(
            "Python {} (python regions are supported on Python 3.11 only)",
            version_text(version)
        ));
    }
    match load(version) {
        Ok(api) => Found::Api(Box::new(api)),
        Err(e) => Found::Unsupported(format!("Python {}: {e}", version_text(version))),
    }
}

fn load(version: u64) -> Result<Api, String> {
    Ok(Api {
        version,
        add_audit_hook: func!(c"PySys_AddAuditHook"),
        is_initialized: func!(c"Py_IsInitialized"),
        thread_state: func!(c"_PyThreadState_UncheckedGet"),
        interpreter_of: func!(c"PyThreadState_GetInterpreter"),
        get_eval: func!(c"_PyInterpreterState_GetEvalFrameFunc"),
        set_eval: func!(c"_PyInterpreterState_SetEvalFrameFunc"),
        eval_default: func!(c"_PyEval_EvalFrameDefault"),
        request_extra: func!(c"_PyEval_RequestCodeExtraIndex"),
        get_extra: func!(c"_PyCode_GetExtra"),
        set_extra: func!(c"_PyCode_SetExtra"),
        getattr: func!(c"PyObject_GetAttrString"),
        as_utf8: func!(c"PyUnicode_AsUTF8"),
        as_long: func!(c"PyLong_AsLong"),
        dict_get: func!(c"PyDict_GetItemString"),
        dec_ref: func!(c"Py_DecRef"),
        err_fetch: func!(c"PyErr_Fetch"),
        err_restore: func!(c"PyErr_Restore"),
    })
}
