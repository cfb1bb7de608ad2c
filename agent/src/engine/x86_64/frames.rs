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
