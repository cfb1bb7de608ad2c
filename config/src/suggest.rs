//! Close matches for a `symbol` that matched nothing, so a typo gets "did you mean".
//! Invariants: at most [`MAX`] suggestions, best first, no duplicates, each shown as the
//! demangled name when there is one; never panics; cost is bounded per candidate (long names
//! are skipped by a length check before any edit distance is computed).

use crate::name::SymbolName;

/// Most suggestions returned.
const MAX: usize = 3;

/// Most edits (insertions, deletions, substitutions, swaps of neighbours) between a pattern and
/// a suggestion; shorter patterns allow fewer (a third of their length, at least one).
const MAX_EDITS: usize = 5;

/// Something [`suggest`] can compare against: a [`SymbolName`] or a raw symbol string.
pub trait Candidate {
    /// Calls `f` with the name as it would be built by [`SymbolName::new`].
    fn with_name<R>(&self, f: impl FnOnce(&SymbolName) -> R) -> R;
}

impl Candidate for &SymbolName {
    fn with_name<R>(&self, f: impl FnOnce(&SymbolName) -> R) -> R {
        f(self)
    }
}

impl Candidate for &str {
    fn with_name<R>(&self, f: impl FnOnce(&SymbolName) -> R) -> R {
        f(&SymbolName::new(self))
    }
}

impl Candidate for &String {
    fn with_name<R>(&self, f: impl FnOnce(&SymbolName) -> R) -> R {
        f(&SymbolName::new(self))
    }
}

/// Up to three candidates close to `pattern`, best first. Compares (case-insensitively) against
/// the raw name, the demangled name without parameters, its last `::` component, and a Fortran
/// name without its trailing underscores or module prefix, and a clone's name without
/// its suffix.
pub fn suggest<I>(pattern: &str, candidates: I) -> Vec<String>
where
    I: IntoIterator,
    I::Item: Candidate,
{
    let wanted = pattern.trim().trim_start_matches("::").to_lowercase();
    let wanted_len = wanted.chars().count();
    let limit = (wanted_len / 3).clamp(1, MAX_EDITS);
    let mut scored: Vec<(usize, String)> = Vec::new();
    for candidate in candidates {
        let found = candidate.with_name(|name| {
            let best = keys(name)
                .filter(|k| k.chars().count().abs_diff(wanted_len) <= limit)
                .map(|k| strsim::osa_distance(&wanted, &k.to_lowercase()))
                .min()?;
            (best <= limit).then(|| (best, name.display().to_string()))
        });
        scored.extend(found);
    }
    scored.sort();
    let mut out: Vec<String> = Vec::new();
    for (_, shown) in scored {
        if !out.contains(&shown) {
            out.push(shown);
            if out.len() == MAX {
                break;
            }
        }
    }
    out
}

/// The forms of `name` a person might have been trying to write.
fn keys(name: &SymbolName) -> impl Iterator<Item = &str> {
    let raw = name.raw.as_str();
    let short = name.forms.short.as_deref();
    let last = short.and_then(|s| s.rsplit_once("::")).map(|(_, l)| l);
    let fortran = raw
        .rsplit_once("_MOD_")
        .map(|(_, p)| p)
        .or_else(|| raw.strip_suffix('_').map(|r| r.trim_end_matches('_')));
    let unclone = name.forms.clone.then(|| raw.split('.').next()).flatten();
    [Some(raw), short, last, fortran, unclone]
        .into_iter()
        .flatten()
}
