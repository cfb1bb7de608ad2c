//! Names inside the file. HDF5 uses `/` as its path separator, so a region name is stored
//! percent-encoded: `%` becomes `%25` and `/` becomes `%2F` (a name without either is stored
//! as written). The original name is also kept in the group's `name` attribute.
//! Invariant: `decode_region_name(&encode_region_name(x)) == x` for every string `x`.

/// `rank<N>`: the group of rank N, as the reference tool names it.
pub fn rank_group_name(rank: u32) -> String {
    format!("rank{rank}")
}

/// `rank_<N>.h5`: the per-rank file in the temporary directory, as the reference tool names it.
pub fn rank_file_name(rank: u32) -> String {
    format!("rank_{rank}.h5")
}

/// The rank of a per-rank file name (`rank_<N>.h5`), if it is one.
pub fn rank_of_file_name(name: &str) -> Option<u32> {
    name.strip_prefix("rank_")?
        .strip_suffix(".h5")?
        .parse()
        .ok()
}

/// Encodes a region name into one HDF5 link name.
pub fn encode_region_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for c in name.chars() {
        match c {
            '%' => out.push_str("%25"),
            '/' => out.push_str("%2F"),
            '.' if out.is_empty() && name == "." => out.push_str("%2E"),
            _ => out.push(c),
        }
    }
    out
}

/// Decodes a link name written by [`encode_region_name`]; other text is returned as is.
pub fn decode_region_name(link: &str) -> String {
    let mut out = String::with_capacity(link.len());
    let mut rest = link;
    while let Some(pos) = rest.find('%') {
        out.push_str(&rest[..pos]);
        let code = rest.get(pos + 1..pos + 3);
        match code {
            Some("25") => out.push('%'),
            Some("2F") | Some("2f") => out.push('/'),
            Some("2E") | Some("2e") => out.push('.'),
            _ => {
                out.push('%');
                rest = &rest[pos + 1..];
                continue;
            }
        }
        rest = &rest[pos + 3..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        for s in ["compute", "a/b", "50%", "%2F", "/", "", "ns::f(int)", "."] {
            let e = encode_region_name(s);
            assert!(!e.contains('/'), "{e}");
            assert_eq!(decode_region_name(&e), s);
        }
        assert_eq!(encode_region_name("a/b%"), "a%2Fb%25");
    }
}
