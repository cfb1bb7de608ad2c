//! What a user's `symbol` text matches. A pattern matches a [`SymbolName`] if any of:
//! 1. the raw name equals the text (mangled or plain C name);
//! 2. the demangled name equals it (whitespace-normalised; C++ with its parameter list);
//! 3. the demangled name without its parameter list equals it (every overload), or without
//!    template/generic arguments as well (every instantiation); Rust paths have no hash;
//! 4. a Fortran procedure as written in the source: `step` finds `step_`, `step__`,
//!    `__<module>_MOD_step` (gfortran), `<module>_mp_step_` (Intel), `_QP..`/`_QM..P..` (flang);
//!    `physics::step` or `physics%step` finds only that module's procedure;
//! 5. a glob (`*`, `?`; not the `*` of `operator*`) matching the raw name or a demangled form.
//!
//! Invariants: compiler clones (`.isra.`, `.cold`, ...) match only a text that contains a `.`
//! (one that names them); `matches` allocates nothing except for clones; never panics.

use crate::glob::glob;
use crate::name::SymbolName;
use crate::normalize::spaces;

/// A validated `symbol` text, ready to match.
#[derive(Debug, Clone)]
pub struct SymbolPattern {
    /// The text as written, surrounding whitespace removed.
    text: String,
    /// `text` whitespace-normalised, without a leading `::`.
    compact: String,
    glob: bool,
    fortran: Option<Fortran>,
}

/// The raw names a Fortran procedure gets from the common compilers.
#[derive(Debug, Clone)]
struct Fortran {
    /// Exact raw names.
    exact: Vec<String>,
    /// (prefix, suffix) with a non-empty module name between them.
    in_any_module: Vec<(&'static str, String)>,
}

impl SymbolPattern {
    /// Validates `text`: not empty, no control characters, balanced parentheses.
    pub fn parse(text: &str) -> Result<SymbolPattern, String> {
        let text = text.trim();
        if text.is_empty() {
            return Err("symbol is empty".to_string());
        }
        if text.chars().any(char::is_control) {
            return Err("symbol contains a control character".to_string());
        }
        let normalised = spaces(text);
        let compact = normalised
            .strip_prefix("::")
            .unwrap_or(&normalised)
            .to_string();
        if compact.is_empty() {
            return Err(format!("symbol '{text}' names nothing"));
        }
        if !balanced(&compact.replace("operator()", "")) {
            return Err(format!("unbalanced parentheses in symbol '{text}'"));
        }
        Ok(SymbolPattern {
            text: text.to_string(),
            glob: is_glob(&compact),
            fortran: fortran(&compact),
            compact,
        })
    }

    /// The text as written (surrounding whitespace removed).
    pub fn text(&self) -> &str {
        &self.text
    }

    /// True if this pattern selects `sym` (see the module documentation for the rules).
    pub fn matches(&self, sym: &SymbolName) -> bool {
        if sym.raw == self.text {
            return true;
        }
        let forms = &sym.forms;
        if forms.clone {
            if !self.text.contains('.') {
                return false;
            }
            if sym.demangled.as_deref().map(spaces).as_ref() == Some(&self.compact) {
                return true;
            }
        }
        let demangled = [&forms.full, &forms.short, &forms.generic_free];
        if demangled.iter().any(|f| f.as_ref() == Some(&self.compact)) {
            return true;
        }
        if self.fortran.as_ref().is_some_and(|f| f.matches(&sym.raw)) {
            return true;
        }
        self.glob
            && (glob(&self.text, &sym.raw)
                || [&forms.full, &forms.short]
                    .iter()
                    .any(|f| f.as_ref().is_some_and(|s| glob(&self.compact, s))))
    }
}

impl Fortran {
    fn matches(&self, raw: &str) -> bool {
        self.exact.iter().any(|e| e == raw)
            || self.in_any_module.iter().any(|(prefix, suffix)| {
                raw.len() > prefix.len() + suffix.len()
                    && raw.starts_with(prefix)
                    && raw.ends_with(suffix.as_str())
            })
    }
}

fn is_ident(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$')
}

/// The Fortran spellings of `step`, `module::step` or `module%step`; `None` for anything else.
fn fortran(compact: &str) -> Option<Fortran> {
    let lower = compact.to_ascii_lowercase();
    if is_ident(&lower) {
        let p = lower;
        return Some(Fortran {
            exact: vec![format!("{p}_"), format!("{p}__"), format!("_QP{p}")],
            in_any_module: vec![
                ("__", format!("_MOD_{p}")),
                ("", format!("_mp_{p}_")),
                ("_QM", format!("P{p}")),
            ],
        });
    }
    let (m, p) = lower.split_once("::").or_else(|| lower.split_once('%'))?;
    if !is_ident(m) || !is_ident(p) {
        return None;
    }
    Some(Fortran {
        exact: vec![
            format!("__{m}_MOD_{p}"),
            format!("{m}_mp_{p}_"),
            format!("_QM{m}P{p}"),
        ],
        in_any_module: Vec::new(),
    })
}

/// True if the text has a `*` or `?` that is not part of an operator name (`operator*`,
/// `operator*=`, `operator->*`).
fn is_glob(compact: &str) -> bool {
    let mut rest = compact;
    while let Some(i) = rest.find(['*', '?']) {
        let before = &rest[..i];
        let op = before
            .rfind("operator")
            .map(|j| &before[j + "operator".len()..]);
        let in_operator = op.is_some_and(|o| o.chars().all(|c| "-+=<>!&|^%/~[]()".contains(c)));
        if !in_operator {
            return true;
        }
        rest = &rest[i + 1..];
    }
    false
}

/// Parentheses nest properly.
fn balanced(text: &str) -> bool {
    let mut depth = 0usize;
    for c in text.chars() {
        match c {
            '(' => depth += 1,
            ')' => match depth.checked_sub(1) {
                Some(d) => depth = d,
                None => return false,
            },
            _ => {}
        }
    }
    depth == 0
}
