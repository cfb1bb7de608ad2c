//! The interpreter's C API, found at run time in the process (`dlsym(RTLD_DEFAULT)`, as the
//! MPI layer finds MPI): the agent is not linked against libpython. Also the layout of the
//! one private struct the frame hook reads, per supported version.
//!
//! Invariants: an `Api` exists only if every function it holds was found; the frame layout
//! constants are 3.11's and are used only through `Way::FrameEval`, which only 3.11 gets;
//! nothing here calls into Python by itself.

use crate::base::loaded::default_symbol;
use std::ffi::{c_char, c_int, c_long, c_void, CStr};

/// A `PyObject *` (and the other opaque interpreter pointers).
pub type PyObj = *mut c_void;
/// `_PyFrameEvalFunction` (3.11): `(PyThreadState *, _PyInterpreterFrame *, int throwflag)`.
pub type EvalFn = unsafe extern "C" fn(PyObj, PyObj, c_int) -> PyObj;
/// `Py_AuditHookFunction`.
pub type AuditFn = unsafe extern "C" fn(*const c_char, PyObj, *mut c_void) -> c_int;

/// 3.11 only: offsets in `_PyInterpreterFrame` (Include/internal/pycore_frame.h).
pub const FRAME_GLOBALS: usize = 8;
pub const FRAME_CODE: usize = 32;
pub const FRAME_OWNER: usize = 69;
/// Offset of `co_extra` in 3.11's `PyCodeObject`: null, or a `{ Py_ssize_t ce_size; void
/// *ce_extras[]; }` (Objects/codeobject.c) that `_PyCode_SetExtra` allocates.
pub const CODE_EXTRA: usize = 176;
/// 3.11 only: offsets in `PyThreadState` of `recursion_remaining` and `recursion_limit`.
pub const TSTATE_RECURSION_REMAINING: usize = 32;
pub const TSTATE_RECURSION_LIMIT: usize = 36;
/// `FRAME_OWNED_BY_THREAD`: a frame on the thread's stack (not a generator's).
pub const OWNED_BY_THREAD: u8 = 0;
/// `CO_GENERATOR | CO_COROUTINE | CO_ASYNC_GENERATOR`.
pub const CO_RESUMABLE: c_long = 0x20 | 0x80 | 0x200;

/// The functions every supported version has (under one of their names).
pub struct Api {
    /// `Py_Version` (e.g. 0x030b02f0).
    pub version: u64,
    pub add_audit_hook: unsafe extern "C" fn(AuditFn, *mut c_void) -> c_int,
    pub is_initialized: unsafe extern "C" fn() -> c_int,
    pub thread_state: unsafe extern "C" fn() -> PyObj,
    pub request_extra: unsafe extern "C" fn(*mut c_void) -> isize,
    pub get_extra: unsafe extern "C" fn(PyObj, isize, *mut *mut c_void) -> c_int,
    pub set_extra: unsafe extern "C" fn(PyObj, isize, *mut c_void) -> c_int,
    pub getattr: unsafe extern "C" fn(PyObj, *const c_char) -> PyObj,
    pub as_utf8: unsafe extern "C" fn(PyObj) -> *const c_char,
    pub as_long: unsafe extern "C" fn(PyObj) -> c_long,
    pub dict_get: unsafe extern "C" fn(PyObj, *const c_char) -> PyObj,
    pub inc_ref: unsafe extern "C" fn(PyObj),
    pub dec_ref: unsafe extern "C" fn(PyObj),
    pub err_fetch: unsafe extern "C" fn(*mut PyObj, *mut PyObj, *mut PyObj),
    pub err_restore: unsafe extern "C" fn(PyObj, PyObj, PyObj),
    /// How this version is hooked.
    pub way: Way,
}

/// The hook a version gets.
pub enum Way {
    /// 3.11: PEP 523 frame evaluation.
    FrameEval(FrameEval),
    /// 3.12+: `sys.monitoring`, events on the regions' code objects only.
    Monitoring(Monitoring),
}

pub struct FrameEval {
    /// `PyErr_SetString` and the address of `PyExc_RecursionError` (a `PyObject *` variable).
    pub set_string: unsafe extern "C" fn(PyObj, *const c_char),
    pub recursion_error: usize,
    pub interpreter_of: unsafe extern "C" fn(PyObj) -> PyObj,
    pub get_eval: unsafe extern "C" fn(PyObj) -> Option<EvalFn>,
    pub set_eval: unsafe extern "C" fn(PyObj, EvalFn),
    pub eval_default: EvalFn,
}

/// `PyMethodDef`.
#[repr(C)]
pub struct MethodDef {
    pub name: *const c_char,
    pub meth: FastCall,
    pub flags: c_int,
    pub doc: *const c_char,
}

/// A `METH_FASTCALL` C function: `(self, args, nargs)`.
pub type FastCall = unsafe extern "C" fn(PyObj, *const PyObj, isize) -> PyObj;
pub const METH_FASTCALL: c_int = 0x0080;

pub struct Monitoring {
    pub import: unsafe extern "C" fn(*const c_char) -> PyObj,
    pub vectorcall: unsafe extern "C" fn(PyObj, *const PyObj, usize, PyObj) -> PyObj,
    pub long_from: unsafe extern "C" fn(c_long) -> PyObj,
    pub str_from: unsafe extern "C" fn(*const c_char) -> PyObj,
    pub cfunction: unsafe extern "C" fn(*mut MethodDef, PyObj, PyObj) -> PyObj,
    pub err_clear: unsafe extern "C" fn(),
    /// `PyEval_GetGlobals`: the globals of the frame running now (borrowed).
    pub globals: unsafe extern "C" fn() -> PyObj,
    /// The address of `Py_None` (an address, so that the table is `Send`/`Sync`).
    pub none: usize,
}

/// What looking for the interpreter found.
pub enum Found {
    /// No Python interpreter in this process.
    NoPython,
    /// An interpreter whose version is not supported (its `Py_Version`), or missing functions.
    Unsupported(String),
    Api(Box<Api>),
}

/// The first of `names` the process defines.
fn sym(names: &[&CStr]) -> Result<usize, String> {
    names
        .iter()
        .find_map(|n| default_symbol(n))
        .ok_or_else(|| format!("{} not found", names[0].to_string_lossy()))
}

macro_rules! func {
    ($($name:literal)|+) => {{
        let a = sym(&[$($name),+])?;
        // SAFETY: `a` is the address of the exported C function named, whose signature
        // (CPython's headers, every version that has it) is the field's type.
        unsafe { std::mem::transmute_copy::<usize, _>(&a) }
    }};
}

/// `Py_Version` as "3.11".
pub fn version_text(v: u64) -> String {
    format!("{}.{}", v >> 24, (v >> 16) & 0xff)
}

/// Looks for the interpreter's API in the process.
pub fn find() -> Found {
    let Some(v) = default_symbol(c"Py_Version") else {
        return older();
    };
    // SAFETY: `Py_Version` is a `const unsigned long` exported by CPython 3.11+ (older
    // versions do not define it: they are "no Python" here, and not hooked).
    let version: u64 = unsafe { *(v as *const std::ffi::c_ulong) };
    if version >> 16 < 0x030b {
        return Found::Unsupported(format!(
            "Python {} (python regions need Python 3.11 or later)",
            version_text(version)
        ));
    }
    match load(version) {
        Ok(api) => Found::Api(Box::new(api)),
        Err(e) => Found::Unsupported(format!("Python {}: {e}", version_text(version))),
    }
}

/// A process without `Py_Version`: no Python, or one older than 3.11 (`Py_GetVersion`, safe
/// before initialisation, says which).
fn older() -> Found {
    let Some(f) = default_symbol(c"Py_GetVersion") else {
        return Found::NoPython;
    };
    // SAFETY: `const char *Py_GetVersion(void)` of every CPython; returns a static string.
    let text = unsafe {
        let f: unsafe extern "C" fn() -> *const c_char = std::mem::transmute_copy(&f);
        let p = f();
        if p.is_null() {
            return Found::NoPython;
        }
        CStr::from_ptr(p).to_string_lossy().into_owned()
    };
    let short = text.split_whitespace().next().unwrap_or("?").to_string();
    Found::Unsupported(format!(
        "Python {short} (python regions need Python 3.11 or later)"
    ))
}

fn load(version: u64) -> Result<Api, String> {
    let way = if version >> 16 == 0x030b {
        Way::FrameEval(FrameEval {
            set_string: func!(c"PyErr_SetString"),
            recursion_error: sym(&[c"PyExc_RecursionError"])?,
            interpreter_of: func!(c"PyThreadState_GetInterpreter"),
            get_eval: func!(c"_PyInterpreterState_GetEvalFrameFunc"),
            set_eval: func!(c"_PyInterpreterState_SetEvalFrameFunc"),
            eval_default: func!(c"_PyEval_EvalFrameDefault"),
        })
    } else {
        let none = sym(&[c"_Py_NoneStruct"])?;
        Way::Monitoring(Monitoring {
            import: func!(c"PyImport_ImportModule"),
            vectorcall: func!(c"PyObject_Vectorcall"),
            long_from: func!(c"PyLong_FromLong"),
            str_from: func!(c"PyUnicode_FromString"),
            cfunction: func!(c"PyCFunction_NewEx"),
            err_clear: func!(c"PyErr_Clear"),
            globals: func!(c"PyEval_GetGlobals"),
            none,
        })
    };
    Ok(Api {
        version,
        add_audit_hook: func!(c"PySys_AddAuditHook"),
        is_initialized: func!(c"Py_IsInitialized"),
        thread_state: func!(c"PyThreadState_GetUnchecked" | c"_PyThreadState_UncheckedGet"),
        request_extra: func!(
            c"PyUnstable_Eval_RequestCodeExtraIndex" | c"_PyEval_RequestCodeExtraIndex"
        ),
        get_extra: func!(c"PyUnstable_Code_GetExtra" | c"_PyCode_GetExtra"),
        set_extra: func!(c"PyUnstable_Code_SetExtra" | c"_PyCode_SetExtra"),
        getattr: func!(c"PyObject_GetAttrString"),
        as_utf8: func!(c"PyUnicode_AsUTF8"),
        as_long: func!(c"PyLong_AsLong"),
        dict_get: func!(c"PyDict_GetItemString"),
        inc_ref: func!(c"Py_IncRef"),
        dec_ref: func!(c"Py_DecRef"),
        err_fetch: func!(c"PyErr_Fetch"),
        err_restore: func!(c"PyErr_Restore"),
        way,
    })
}
