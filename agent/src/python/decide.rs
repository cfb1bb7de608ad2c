//! One decision per code object: is it a region, and which. Made the first time the code
//! runs (from its `co_qualname`, `co_flags` and its module's `__name__`), then cached in the
//! code object's extra slot, which lives and dies with it (so nothing is keyed by an address
//! that a later code object could reuse).
//!
//! The cached word: 0 = not decided yet, `NOT_REGION`, or `(region id + 1) << 2` with
//! `RESUMABLE` set for generator and coroutine code.
//!
//! Invariants: a decision runs as agent code (nothing it calls is recorded), keeps the
//! thread's pending exception exactly as it was, and copies every name it reads.

use super::api::{self, Api, PyObj};
use super::regions;
use crate::engine;
use std::ffi::{c_char, c_void, CStr};

pub const NOT_REGION: usize = 1;
pub const RESUMABLE: usize = 2;

/// The region id of a cached region word.
pub fn region_of(v: usize) -> u32 {
    ((v >> 2) - 1) as u32
}

/// The cached word of `code` (0: none yet), through the C API.
pub fn cached(a: &Api, index: isize, code: PyObj) -> usize {
    let mut extra: *mut c_void = std::ptr::null_mut();
    // SAFETY: a live code object (the interpreter handed it to us) and our slot index.
    unsafe { (a.get_extra)(code, index, &mut extra) };
    extra as usize
}

/// Decides for `code`, whose module globals are `globals` (borrowed; may be null), and caches
/// the answer in slot `index`.
pub fn decide(a: &Api, index: isize, code: PyObj, globals: PyObj) -> usize {
    let v = engine::as_agent(|| decision(a, code, globals)).unwrap_or(NOT_REGION);
    // SAFETY: a code object, our index, and a value that is not a pointer (no free function
    // was registered for the slot).
    unsafe { (a.set_extra)(code, index, v as *mut c_void) };
    v
}

fn decision(a: &Api, code: PyObj, globals: PyObj) -> usize {
    let mut saved: [PyObj; 3] = [std::ptr::null_mut(); 3];
    // SAFETY: the GIL is held (we run inside the interpreter); fetching and restoring the
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
        let module = if globals.is_null() {
            None
        } else {
            let name = (a.dict_get)(globals, c"__name__".as_ptr());
            if name.is_null() {
                None
            } else {
                text((a.as_utf8)(name))
            }
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
