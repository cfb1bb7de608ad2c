//! Shell-style wildcard matching: `*` matches any run of characters (also none), `?` exactly
//! one character, everything else itself.
//! Invariants: linear-time backtracking (no exponential blow-up on `*a*a*a...`), no allocation
//! beyond two small character buffers, no panics.

/// True if `text` matches the whole wildcard `pattern`.
pub fn glob(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        match p.get(pi) {
            Some('*') => {
                star = Some((pi, ti));
                pi += 1;
            }
            Some(&c) if c == '?' || c == t[ti] => {
                pi += 1;
                ti += 1;
            }
            _ => match star {
                Some((sp, st)) => {
                    pi = sp + 1;
                    ti = st + 1;
                    star = Some((sp, st + 1));
                }
                None => return false,
            },
        }
    }
    p[pi.min(p.len())..].iter().all(|&c| c == '*')
}

#[cfg(test)]
mod tests {
    use super::glob;

    #[test]
    fn wildcards() {
        assert!(glob("comp*", "compute"));
        assert!(glob("*", ""));
        assert!(glob("c?mpute", "compute"));
        assert!(glob("*::area", "geo::area"));
        assert!(glob("a*b*c", "aXXbYYc"));
        assert!(!glob("a*b*c", "aXXbYY"));
        assert!(!glob("comp", "compute"));
        assert!(!glob("?", ""));
        assert!(glob("", ""));
        assert!(!glob("", "x"));
        let long = "a".repeat(2000);
        assert!(!glob(&format!("{}c", "*a".repeat(50)), &long));
        assert!(glob(&"*a".repeat(50), &long));
    }
}
