//! The word that names a hook and its region, as the stubs write it into a shadow entry and
//! an event: the hook id in the high half, the region id in the low half (little-endian: the
//! stub stores the region at offset 0 and the hook at offset 4 of the word).
//!
//! Invariants: hook ids start at 1, so a word written by a stub is never 0 (readers on other
//! threads take a record as complete once its word is non-zero); `ARGS_RECORD` is no hook's
//! id (ids stay below `hooks::MAX_HOOKS`).

/// The hook-id half of an args record's word (see `Record`).
pub const ARGS_RECORD: u32 = u32::MAX;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(transparent)]
pub struct HookWord(pub u64);

impl HookWord {
    pub const fn new(hook: u32, region: u32) -> HookWord {
        HookWord((hook as u64) << 32 | region as u64)
    }

    /// The word of an args record of `region`.
    pub const fn args(region: u32) -> HookWord {
        HookWord::new(ARGS_RECORD, region)
    }

    pub const fn hook(self) -> u32 {
        (self.0 >> 32) as u32
    }

    pub const fn region(self) -> u32 {
        self.0 as u32
    }

    /// An args record's word, not a call's.
    pub const fn is_args(self) -> bool {
        self.hook() == ARGS_RECORD
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packs_as_the_stubs_write_it() {
        let w = HookWord::new(7, 3);
        let bytes = w.0.to_le_bytes();
        assert_eq!(u32::from_le_bytes(bytes[..4].try_into().unwrap()), 3);
        assert_eq!(u32::from_le_bytes(bytes[4..].try_into().unwrap()), 7);
        assert_eq!((w.hook(), w.region(), w.is_args()), (7, 3, false));
        assert!(HookWord::args(3).is_args());
        assert_eq!(HookWord::args(3).region(), 3);
    }
}
