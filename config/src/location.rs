//! Byte offsets in the configuration text turned into what people read: 1-based line and column.
//! Invariants: never panics, whatever the offset (offsets past the end or inside a UTF-8
//! sequence are clamped to the preceding character boundary); columns count characters.

/// 1-based (line, column) of the byte at `offset` in `text`.
#[cfg(test)]
pub fn line_column(text: &str, offset: usize) -> (usize, usize) {
    Lines::new(text).at(offset)
}

/// The line starts of one text, so that each look-up costs a binary search and the length of
/// one line (a config with many regions is located in linear time, not quadratic).
pub struct Lines<'a> {
    text: &'a str,
    /// Byte offset of the start of every line after the first.
    starts: Vec<usize>,
}

impl<'a> Lines<'a> {
    pub fn new(text: &'a str) -> Lines<'a> {
        let starts = text.match_indices('\n').map(|(i, _)| i + 1).collect();
        Lines { text, starts }
    }

    /// 1-based (line, column) of the byte at `offset`.
    pub fn at(&self, offset: usize) -> (usize, usize) {
        let mut end = offset.min(self.text.len());
        while !self.text.is_char_boundary(end) {
            end -= 1;
        }
        // Lines starting at or before `end`, after the first.
        let before = self.starts.partition_point(|&s| s <= end);
        let line_start = if before == 0 {
            0
        } else {
            self.starts[before - 1]
        };
        let column = self.text[line_start..end].chars().count() + 1;
        (before + 1, column)
    }
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
