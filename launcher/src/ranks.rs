//! Rank selection as the reference tool spells it: `--ranks 0 2`, `--ranks 0-3`, mixed, and
//! comma lists (`0,2-3`).
//! Invariant: a successful parse is non-empty, sorted and free of duplicates.

use crate::error::{Fail, Result};

/// Parses the values given after `--ranks`.
pub fn parse(values: &[String]) -> Result<Vec<u32>> {
    let mut out = Vec::new();
    for v in values {
        for part in v.split(',').map(str::trim) {
            if part.is_empty() {
                return Err(bad(v, "empty rank"));
            }
            match part.split_once('-') {
                Some((a, b)) => {
                    let (a, b) = (number(a, v)?, number(b, v)?);
                    if a > b {
                        return Err(bad(v, &format!("range {a}-{b} runs backwards")));
                    }
                    out.extend(a..=b);
                }
                None => out.push(number(part, v)?),
            }
        }
    }
    if out.is_empty() {
        return Err(Fail::check("--ranks needs at least one rank"));
    }
    out.sort_unstable();
    out.dedup();
    Ok(out)
}

fn number(s: &str, whole: &str) -> Result<u32> {
    s.trim()
        .parse()
        .map_err(|_| bad(whole, &format!("'{s}' is not a rank number")))
}

fn bad(value: &str, why: &str) -> Fail {
    Fail::check(format!(
        "invalid rank selection '{value}': {why} (expected e.g. 0 2 or 0-3)"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(v: &[&str]) -> Result<Vec<u32>> {
        parse(&v.iter().map(|s| s.to_string()).collect::<Vec<_>>())
    }

    #[test]
    fn lists_ranges_and_mixes() {
        assert_eq!(p(&["0", "2"]).unwrap(), vec![0, 2]);
        assert_eq!(p(&["0-3"]).unwrap(), vec![0, 1, 2, 3]);
        assert_eq!(p(&["3", "0-1", "1"]).unwrap(), vec![0, 1, 3]);
        assert_eq!(p(&["0,2-3"]).unwrap(), vec![0, 2, 3]);
    }

    #[test]
    fn rejects_bad_input() {
        assert!(p(&[]).is_err());
        assert!(p(&["x"]).is_err());
        assert!(p(&["3-1"]).unwrap_err().message.contains("backwards"));
        assert!(p(&["-1"]).is_err());
        assert!(p(&["1-"]).is_err());
        assert!(p(&["0,,1"]).is_err());
    }
}
