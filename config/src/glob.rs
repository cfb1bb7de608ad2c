//! Shell-style wildcard matching: `*` matches any run of characters (also none), `?` exactly
//! one character, everything else itself.
//! Invariants: no allocation; O(pattern x text) worst case (single-star backtracking, never
//! exponential); positions only ever advance to character boundaries; no panics.

/// True if `text` matches the whole wildcard `pattern`.
pub fn glob(pattern: &str, text: &str) -> bool {
    let (p, t) = (pattern.as_bytes(), text.as_bytes());
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        match p.get(pi) {
            Some(b'*') => {
                star = Some((pi, ti));
                pi += 1;
            }
            Some(b'?') => {
                pi += 1;
                ti += char_len(t, ti);
            }
            Some(&c) if c == t[ti] => {
                pi += 1;
                ti += 1;
            }
            _ => match star {
                Some((sp, st)) => {
                    let next = st + char_len(t, st);
                    pi = sp + 1;
                    ti = next;
                    star = Some((sp, next));
                }
                None => return false,
            },
        }
    }
    p.get(pi..)
        .is_some_and(|rest| rest.iter().all(|&c| c == b'*'))
}

/// Length in bytes of the UTF-8 character starting at `i` (1 past the end or on a bad byte).
fn char_len(t: &[u8], i: usize) -> usize {
    match t.get(i) {
        Some(&b) if b >= 0xF0 => 4,
        Some(&b) if b >= 0xE0 => 3,
        Some(&b) if b >= 0xC0 => 2,
        _ => 1,
    }
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
        assert!(glob("caf?", "café"));
        assert!(glob("*é", "café"));
        assert!(!glob("caf??", "café"));
    }
}
