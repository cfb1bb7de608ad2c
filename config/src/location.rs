//! Byte offsets in the configuration text turned into what people read: 1-based line and column.
//! Invariants: never panics, whatever the offset (offsets past the end or inside a UTF-8
//! sequence are clamped to the preceding character boundary); columns count characters.

/// 1-based (line, column) of the byte at `offset` in `text`.
pub fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let mut end = offset.min(text.len());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let before = &text[..end];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before[line_start..].chars().count() + 1;
    (line, column)
}

#[cfg(test)]
mod tests {
    use super::line_column;

    #[test]
    fn offsets_become_lines_and_columns() {
        let t = "ab\ncdé\nf";
        assert_eq!(line_column(t, 0), (1, 1));
        assert_eq!(line_column(t, 1), (1, 2));
        assert_eq!(line_column(t, 3), (2, 1));
        assert_eq!(line_column(t, 7), (2, 4)); // after the two-byte 'é'
        assert_eq!(line_column(t, 6), (2, 3)); // inside 'é': clamped
        assert_eq!(line_column(t, 999), (3, 2));
        assert_eq!(line_column("", 5), (1, 1));
    }
}
