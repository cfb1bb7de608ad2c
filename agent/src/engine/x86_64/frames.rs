//! Where an open hooked frame keeps its return into the stub: on x86-64 the `call` of the
//! caller pushed it at the frame's slot (the stack pointer at the function's entry), which the
//! shadow entry records.
//!
//! Invariant: pure address arithmetic; the caller checks a slot's value before writing it.

use super::super::thread::Entry;

/// Every open frame's return slot, with its index in `open`. `_sp` and `_value` are what
/// a back end that must search needs (aarch64); here the slot is known.
pub fn return_slots(open: &[Entry], _sp: u64, _value: impl Fn(&Entry) -> u64) -> Vec<(usize, u64)> {
    open.iter().enumerate().map(|(i, e)| (i, e.slot)).collect()
}

/// A return address as stored: x86-64 stores them plain.
pub fn strip(word: u64) -> u64 {
    word
}

/// The word to store in place of `_stored` (which holds `_old`) so that it means `new`.
pub fn resign(_stored: u64, _old: u64, new: u64, _frame: u64) -> u64 {
    new
}
