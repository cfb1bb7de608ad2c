//! Text transformations on demangled names and user patterns, so both sides compare alike.
//! Invariants: pure functions on `&str`, no panics (all slicing is at ASCII delimiters found in
//! the same string); a function that cannot make sense of its input returns `None` rather than
//! a guess.

/// Suffixes compilers append to optimised copies of a function. A symbol carrying one is not the
/// function the user means unless the user names it.
const CLONE_MARKERS: &[&str] = &[
    ".isra.",
    ".constprop.",
    ".part.",
    ".cold",
    ".lto_priv.",
    ".clone.",
    ".localalias",
];

/// True if `raw` is a compiler-made copy (`foo.isra.0`, `foo.cold`, ...).
pub fn is_clone(raw: &str) -> bool {
    CLONE_MARKERS.iter().any(|m| raw.contains(m))
}

fn is_ident(c: char) -> bool {
    c.is_alphanumeric() || c == '_' || c == '$'
}

/// Whitespace removed except a single space between two identifier characters
/// (`geo::area(double, double)` -> `geo::area(double,double)`, `unsigned int` kept).
pub fn spaces(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut pending = false;
    for c in text.chars() {
        if c.is_whitespace() {
            pending = true;
            continue;
        }
        if pending && out.chars().next_back().is_some_and(is_ident) && is_ident(c) {
            out.push(' ');
        }
        pending = false;
        out.push(c);
    }
    out
}

/// Drops the ` [clone .isra.0]`-style annotations cpp_demangle appends for suffixed symbols.
pub fn without_clone_note(demangled: &str) -> &str {
    match demangled.find(" [clone ") {
        Some(i) => &demangled[..i],
        None => demangled,
    }
}

/// The name without its top-level parameter list and what follows it (`const`, `&&`):
/// `ns::Foo::bar(int) const` -> `ns::Foo::bar`, `ns::Foo::operator()(int)` -> `ns::Foo::operator()`.
/// Expects [`spaces`]-normalised text. Text that does not end in a parameter list is returned whole.
pub fn without_params(name: &str) -> &str {
    let mut end = name;
    loop {
        let trimmed = end.trim_end_matches(['&', ' ']);
        let trimmed = ["const", "volatile", "noexcept"]
            .iter()
            .find_map(|q| trimmed.strip_suffix(q))
            .unwrap_or(trimmed);
        if trimmed.len() == end.len() {
            break;
        }
        end = trimmed;
    }
    if !end.ends_with(')') {
        return name;
    }
    let mut depth = 0usize;
    for (i, c) in end.char_indices().rev() {
        match c {
            ')' => depth += 1,
            '(' => {
                depth = depth.saturating_sub(1);
                if depth == 0 {
                    let head = &end[..i];
                    return if head.is_empty() { name } else { head };
                }
            }
            _ => {}
        }
    }
    name
}

/// Operator spellings after `operator`, longest first, so `<`/`>` in them are not brackets.
const OPERATORS: &[&str] = &[
    "<<=", ">>=", "<=>", "->*", "()", "[]", "<<", ">>", "<=", ">=", "->", "<", ">",
];

/// The name with every template/generic argument list removed (`ns::Vec<double>::push` ->
/// `ns::Vec::push`, Rust `a::gen::<u32>` -> `a::gen`). `None` if there is none or the brackets
/// do not balance, or nothing sensible is left (`<S as Trait>::fmt`).
pub fn without_generics(name: &str) -> Option<String> {
    if !name.contains('<') {
        return None;
    }
    let mut out = String::with_capacity(name.len());
    let mut depth = 0usize;
    let mut rest = name;
    while let Some(c) = rest.chars().next() {
        if depth == 0
            && rest.starts_with("operator")
            && !out.chars().next_back().is_some_and(is_ident)
        {
            let after = &rest["operator".len()..];
            let op = OPERATORS
                .iter()
                .find(|op| after.starts_with(**op))
                .map_or(0, |op| op.len());
            let take = "operator".len() + op;
            out.push_str(&rest[..take]);
            rest = &rest[take..];
            continue;
        }
        match c {
            '<' => depth += 1,
            '>' => depth = depth.checked_sub(1)?,
            _ if depth == 0 => out.push(c),
            _ => {}
        }
        rest = &rest[c.len_utf8()..];
        if c == '<' && depth == 1 && out.ends_with("::") {
            out.truncate(out.len() - 2);
        }
    }
    if depth != 0 || out.is_empty() || out.starts_with("::") {
        return None;
    }
    Some(out)
}

/// Rust v0 demangles an inherent method as `<crate::m::Type>::method`; legacy mangling and
/// users write `crate::m::Type::method`. Returns that form, or `None` when `name` is not such a
/// path (a trait impl `<T as Trait>::f` is left alone).
pub fn unwrap_inherent_impl(name: &str) -> Option<String> {
    let rest = name.strip_prefix('<')?;
    let mut depth = 1usize;
    for (i, c) in rest.char_indices() {
        match c {
            '<' => depth += 1,
            '>' => depth -= 1,
            _ => {}
        }
        if depth == 0 {
            let (inner, after) = (&rest[..i], &rest[i + 1..]);
            if inner.contains(" as ") || !after.starts_with("::") || inner.is_empty() {
                return None;
            }
            return Some(format!("{inner}{after}"));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rust_inherent_impls_are_unwrapped() {
        assert_eq!(
            unwrap_inherent_impl("<disc_rust::solver::Grid>::relax").as_deref(),
            Some("disc_rust::solver::Grid::relax")
        );
        assert_eq!(
            unwrap_inherent_impl("<a::Vec<u32>>::push").as_deref(),
            Some("a::Vec<u32>::push")
        );
        assert_eq!(
            unwrap_inherent_impl("<a::S as core::fmt::Debug>::fmt"),
            None
        );
        assert_eq!(unwrap_inherent_impl("a::b"), None);
        assert_eq!(unwrap_inherent_impl("<a::b"), None);
    }

    #[test]
    fn spaces_are_normalised() {
        assert_eq!(
            spaces("geo::area(double, double)"),
            "geo::area(double,double)"
        );
        assert_eq!(spaces("f(unsigned  int) const"), "f(unsigned int)const");
        assert_eq!(spaces("a<b<int> >"), "a<b<int>>");
    }

    #[test]
    fn params_are_stripped() {
        assert_eq!(without_params("ns::Foo::bar(int)const"), "ns::Foo::bar");
        assert_eq!(
            without_params("ns::Foo::operator()(int)"),
            "ns::Foo::operator()"
        );
        assert_eq!(without_params("fp(void(*)(int),int(*)(double))"), "fp");
        assert_eq!(
            without_params("(anonymous namespace)::hidden(int)"),
            "(anonymous namespace)::hidden"
        );
        assert_eq!(
            without_params("twice<int(*)(int)>(int)&&"),
            "twice<int(*)(int)>"
        );
        assert_eq!(without_params("plain"), "plain");
        assert_eq!(without_params("(x)"), "(x)");
        assert_eq!(without_params(")"), ")");
        assert_eq!(without_params(""), "");
    }

    #[test]
    fn generics_are_stripped() {
        assert_eq!(
            without_generics("ns::Vec<double>::push").as_deref(),
            Some("ns::Vec::push")
        );
        assert_eq!(without_generics("a::gen::<u32>").as_deref(), Some("a::gen"));
        assert_eq!(
            without_generics("ns::Foo::operator<").as_deref(),
            Some("ns::Foo::operator<")
        );
        assert_eq!(
            without_generics("ns::operator<<<int>").as_deref(),
            Some("ns::operator<<")
        );
        assert_eq!(without_generics("<S as T>::fmt"), None);
        assert_eq!(without_generics("a>b<"), None);
        assert_eq!(without_generics("plain"), None);
    }

    #[test]
    fn clones_are_recognised() {
        assert!(is_clone("compute.constprop.0"));
        assert!(is_clone("compute.cold"));
        assert!(is_clone("_Z3foov.isra.0"));
        assert!(!is_clone("compute"));
        assert!(!is_clone(
            "_ZN4core3ptr13drop_in_place$LT$std..rt..X$GT$17h0123456789abcdefE"
        ));
    }
}
