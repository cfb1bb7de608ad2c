//! ELF symbol names as the matcher sees them: raw, demangled once, and the normalised forms
//! patterns compare against.
//! Invariants: `SymbolName::new` never panics; plain C and Fortran names (anything not starting
//! with `_Z`, `__Z`, `_R` or `__R`) are never handed to a demangler, so building tens of
//! thousands of names stays cheap; `demangled` is the full demangled text (C++ without the
//! return type of template functions, Rust without its hash).

use crate::normalize::{
    is_clone, spaces, unwrap_inherent_impl, without_clone_note, without_generics, without_params,
};

/// Longest symbol we try to demangle; longer ones are matched by their raw name only.
const MAX_DEMANGLE: usize = 64 * 1024;

/// One ELF symbol name, demangled once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SymbolName {
    /// The name in the symbol table.
    pub raw: String,
    /// The full demangled name (C++ with parameters; Rust without the hash), if it is mangled.
    pub demangled: Option<String>,
    pub(crate) forms: Forms,
}

/// Normalised forms of the demangled name, computed once (see `normalize`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct Forms {
    /// Demangled, whitespace-normalised, clone note removed.
    pub full: Option<String>,
    /// `full` without the parameter list (`ns::Foo::bar`).
    pub short: Option<String>,
    /// `short` without template/generic arguments, when it had some.
    pub generic_free: Option<String>,
    /// A compiler-made copy (`.isra.`, `.cold`, ...).
    pub clone: bool,
}

impl SymbolName {
    /// Builds the name, demangling C++ (Itanium) and Rust (legacy and v0) symbols.
    pub fn new(raw: &str) -> SymbolName {
        let demangled = demangle(raw);
        let mut forms = Forms {
            clone: is_clone(raw),
            ..Forms::default()
        };
        if let Some(d) = &demangled {
            let full = spaces(without_clone_note(d));
            let short = without_params(&full);
            let short = unwrap_inherent_impl(short).unwrap_or_else(|| short.to_string());
            forms.generic_free = without_generics(&short);
            forms.short = Some(short);
            forms.full = Some(full);
        }
        SymbolName {
            raw: raw.to_string(),
            demangled,
            forms,
        }
    }

    /// What to show a person: the demangled name if there is one, else the raw name.
    pub fn display(&self) -> &str {
        self.demangled.as_deref().unwrap_or(&self.raw)
    }
}

fn demangle(raw: &str) -> Option<String> {
    let cxx = raw.starts_with("_Z") || raw.starts_with("__Z");
    let rust = raw.starts_with("_R") || raw.starts_with("__R") || is_rust_legacy(raw);
    if !(cxx || rust) || raw.len() > MAX_DEMANGLE {
        return None;
    }
    // The demanglers are fuzzed, but a bug in one must not take the profiled program down.
    std::panic::catch_unwind(|| {
        if rust {
            if let Ok(d) = rustc_demangle::try_demangle(raw) {
                return Some(format!("{d:#}"));
            }
        }
        if cxx {
            return demangle_cxx(raw);
        }
        None
    })
    .ok()
    .flatten()
}

fn demangle_cxx(raw: &str) -> Option<String> {
    let symbol = cpp_demangle::Symbol::new(raw.as_bytes()).ok()?;
    let options = cpp_demangle::DemangleOptions::new().no_return_type();
    symbol.demangle(&options).ok().filter(|d| !d.is_empty())
}

/// `_ZN...17h<16 hex digits>E`: the legacy Rust scheme (a valid Itanium prefix too).
fn is_rust_legacy(raw: &str) -> bool {
    (raw.starts_with("_ZN") || raw.starts_with("__ZN"))
        && raw.as_bytes().windows(20).any(|w| {
            w.starts_with(b"17h") && w[3..19].iter().all(u8::is_ascii_hexdigit) && w[19] == b'E'
        })
}
