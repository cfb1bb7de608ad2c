//! The one error type of the launcher binaries: a message and the exit status it ends with.
//! Invariant: every failure is reported as one line per problem, each prefixed with the tool
//! name by the caller (`scope-run: …`); nothing else is printed for it.

use std::fmt;

/// Exit status for a check that failed before anything ran (usage, program, config, symbols).
pub const EXIT_CHECK: i32 = 2;
/// Exit status of a run whose program succeeded but whose profile holds fewer ranks than were
/// launched (see `shortfall`); a failed program's own status is kept instead.
pub const EXIT_RANKS_MISSING: i32 = 3;
/// Exit status when the launcher or program could not be executed at all.
pub const EXIT_NOT_STARTED: i32 = 127;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fail {
    pub code: i32,
    /// One or more lines, without the tool prefix.
    pub message: String,
}

impl Fail {
    /// A failed check: exit status 2.
    pub fn check(message: impl Into<String>) -> Fail {
        Fail {
            code: EXIT_CHECK,
            message: message.into(),
        }
    }

    pub fn with_code(code: i32, message: impl Into<String>) -> Fail {
        Fail {
            code,
            message: message.into(),
        }
    }

    /// Prints every line to stderr prefixed with `tool: `.
    pub fn report(&self, tool: &str) {
        for line in self.message.lines() {
            eprintln!("{tool}: {line}");
        }
    }
}

impl fmt::Display for Fail {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

pub type Result<T> = std::result::Result<T, Fail>;

/// A profile that cannot be read ends the post-processing with status 1.
impl From<scope_format::FormatError> for Fail {
    fn from(e: scope_format::FormatError) -> Fail {
        Fail::with_code(1, format!("cannot read the profile: {e}"))
    }
}
