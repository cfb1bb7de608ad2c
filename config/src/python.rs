//! Python functions as regions: `[[regions]] python = "..."`. A pattern names a function by
//! `module.qualname` (`__main__.compute`, `mylib.solver.Solver.step`), by its bare qualname in
//! any module (`compute`, `Solver.step`), or by a glob (`*`, `?`) over either form.
//! Nothing can be checked before launch (the functions exist only once the interpreter runs),
//! so [`suggest_python`] names close matches among the functions that did run.
//!
//! Invariants: a parsed pattern is non-empty, has no whitespace or control characters; matching
//! never panics.

use crate::glob::glob;

/// One Python region.
#[derive(Debug, Clone)]
pub struct PythonRegion {
    /// The `python` text as written (surrounding whitespace removed).
    pub text: String,
    /// The region name: `name`, else the text. A glob without `name` records each function it
    /// matches under its own region, named `module.qualname` (see [`PythonRegion::region_for`]).
    pub name: String,
    /// A `name` was given.
    pub named: bool,
    pub pattern: PythonPattern,
    /// 1-based line and column (characters) of the `python` value.
    pub line: usize,
    pub column: usize,
}

impl PythonRegion {
    /// The region a matched function records into.
    pub fn region_for(&self, module: &str, qualname: &str) -> String {
        if self.pattern.is_glob() && !self.named {
            full_name(module, qualname)
        } else {
            self.name.clone()
        }
    }
}

/// `module.qualname` (the qualname alone when the module is unknown).
pub fn full_name(module: &str, qualname: &str) -> String {
    if module.is_empty() {
        qualname.to_string()
    } else {
        format!("{module}.{qualname}")
    }
}

/// A validated `python` text.
#[derive(Debug, Clone)]
pub struct PythonPattern {
    text: String,
    glob: bool,
}

impl PythonPattern {
    pub fn parse(text: &str) -> Result<PythonPattern, String> {
        let text = text.trim();
        if text.is_empty() {
            return Err("python function name is empty".to_string());
        }
        if text.chars().any(|c| c.is_control() || c.is_whitespace()) {
            return Err(format!(
                "python function name '{text}' contains a space or control character \
                 (write module.qualname, a qualname, or a glob)"
            ));
        }
        if text.starts_with('.') || text.ends_with('.') || text.contains("..") {
            return Err(format!("python function name '{text}' has an empty part"));
        }
        Ok(PythonPattern {
            text: text.to_string(),
            glob: text.contains('*') || text.contains('?'),
        })
    }

    pub fn text(&self) -> &str {
        &self.text
    }

    pub fn is_glob(&self) -> bool {
        self.glob
    }

    /// True if the function `qualname` of module `module` is selected: the text equals (or
    /// globs) the qualname, or `module.qualname`.
    pub fn matches(&self, module: &str, qualname: &str) -> bool {
        if self.glob {
            return glob(&self.text, qualname)
                || (!module.is_empty() && glob(&self.text, &full_name(module, qualname)));
        }
        if self.text == qualname {
            return true;
        }
        self.text
            .strip_prefix(module)
            .and_then(|rest| rest.strip_prefix('.'))
            .is_some_and(|rest| !module.is_empty() && rest == qualname)
    }
}

/// The sentence that reports a pattern that matched no function (the agent's and
/// `scope-run`'s), with the close functions that did run.
pub fn unmatched_python_sentence(pattern: &str, close: &[String]) -> String {
    let mut s = format!("python region '{pattern}' matched no Python function that ran");
    if !close.is_empty() {
        s.push_str(&format!("; closest: {}", close.join(", ")));
    }
    s
}

/// Up to three functions that ran (as `(module, qualname)`) close to `pattern`, best first,
/// shown as `module.qualname`.
pub fn suggest_python<'a, I>(pattern: &str, ran: I) -> Vec<String>
where
    I: IntoIterator<Item = (&'a str, &'a str)>,
{
    let wanted = pattern.trim().to_lowercase();
    let limit = (wanted.chars().count() / 3).clamp(1, 5);
    let mut scored: Vec<(usize, String)> = Vec::new();
    for (module, qualname) in ran {
        let full = full_name(module, qualname);
        let last = qualname.rsplit('.').next().unwrap_or(qualname);
        let best = [qualname, full.as_str(), last]
            .iter()
            .map(|k| strsim::osa_distance(&wanted, &k.to_lowercase()))
            .min()
            .unwrap_or(usize::MAX);
        if best <= limit {
            scored.push((best, full));
        }
    }
    scored.sort();
    scored.dedup_by(|a, b| a.1 == b.1);
    scored.into_iter().take(3).map(|(_, s)| s).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(t: &str) -> PythonPattern {
        PythonPattern::parse(t).unwrap()
    }

    #[test]
    fn bare_qualnames_match_in_any_module() {
        assert!(p("compute").matches("__main__", "compute"));
        assert!(p("compute").matches("mylib", "compute"));
        assert!(!p("compute").matches("__main__", "Solver.compute"));
        assert!(p("Solver.step").matches("mylib.solver", "Solver.step"));
    }

    #[test]
    fn module_qualified_names_match_that_module_only() {
        assert!(p("__main__.compute").matches("__main__", "compute"));
        assert!(!p("__main__.compute").matches("other", "compute"));
        assert!(p("mylib.solver.Solver.step").matches("mylib.solver", "Solver.step"));
        assert!(!p("mylib.solver.Solver.step").matches("mylib", "solver.Solver.step2"));
        assert!(!p("lib.compute").matches("mylib", "compute"));
    }

    #[test]
    fn globs_match_either_form() {
        assert!(p("mylib.solver.*").matches("mylib.solver", "Solver.step"));
        assert!(!p("mylib.solver.*").matches("mylib.io", "read"));
        assert!(p("step*").matches("x", "step_two"));
        assert!(p("Solver.*").matches("m", "Solver.step"));
    }

    #[test]
    fn bad_texts_are_refused() {
        for t in ["", "  ", "a b", ".a", "a.", "a..b", "a\tb"] {
            assert!(PythonPattern::parse(t).is_err(), "{t:?}");
        }
    }

    #[test]
    fn close_matches_come_from_functions_that_ran() {
        let ran = [
            ("__main__", "compute"),
            ("__main__", "main"),
            ("m", "Solver.step"),
        ];
        assert_eq!(suggest_python("compte", ran), vec!["__main__.compute"]);
        assert_eq!(suggest_python("Solver.stpe", ran), vec!["m.Solver.step"]);
        assert!(suggest_python("zzzzzz", ran).is_empty());
    }
}
