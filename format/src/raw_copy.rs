//! Moving a column's bytes from a rank file to their place in the output, outside HDF5: with
//! `copy_file_range` (one copy inside the kernel, as `cp` does), with `std::io::copy` where the
//! kernel or the filesystems cannot, or through a small buffer where the values are times to be
//! moved into rank 0's time base (`crate::clock`). Used by the serial merge and by the node
//! leaders' planned copies (`layout.rs`).
//! Invariant: only the `len` bytes at the destination offset are written; the output is never
//! truncated, extended on purpose or read.

use crate::clock::ClockSync;
use crate::ffi;
use crate::FormatError;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

/// One input file: a plain descriptor and its length.
pub(crate) struct Src<'a> {
    pub raw: File,
    pub len: u64,
    pub path: &'a Path,
}

impl<'a> Src<'a> {
    /// Opens `path` for reading and takes its length.
    pub(crate) fn open(path: &'a Path) -> Result<Src<'a>, FormatError> {
        let io = |source| FormatError::Io {
            path: path.to_path_buf(),
            source,
        };
        let raw = File::open(path).map_err(io)?;
        let len = raw.metadata().map_err(io)?.len();
        Ok(Src { raw, len, path })
    }
}

/// The output, as a plain descriptor opened for writing.
pub(crate) struct Sink<'a> {
    pub raw: &'a File,
    pub path: &'a Path,
}

/// Values of column `col` must be moved into rank 0's time base: it holds times
/// (`start_times`, `end_times`) and the rank's clock is not rank 0's.
pub(crate) fn aligns(col: &str, clock: &ClockSync) -> bool {
    (col == crate::COLUMNS[0] || col == crate::COLUMNS[1]) && !clock.is_identity()
}

impl Sink<'_> {
    /// Copies `elems` int64 values at `from_off` of `src` to `to_off` of the output: byte for
    /// byte, or moved into rank 0's time base by `align` where given.
    pub(crate) fn copy_values(
        &self,
        src: &Src,
        from_off: u64,
        to_off: u64,
        elems: u64,
        align: Option<&ClockSync>,
    ) -> Result<(), FormatError> {
        match align {
            Some(clock) => self.copy_aligned(src, from_off, to_off, elems, clock),
            None => self.copy(src, from_off, to_off, elems * 8),
        }
    }

    /// Copies `elems` time values at `from_off` of `src` to `to_off` of the output, moved into
    /// rank 0's time base by `clock`.
    fn copy_aligned(
        &self,
        src: &Src,
        from_off: u64,
        to_off: u64,
        elems: u64,
        clock: &ClockSync,
    ) -> Result<(), FormatError> {
        use std::os::unix::fs::FileExt;
        const BLOCK: u64 = 1 << 16;
        let mut buf = vec![0u8; (BLOCK.min(elems) * 8) as usize];
        let mut done = 0u64;
        while done < elems {
            let n = BLOCK.min(elems - done);
            let part = &mut buf[..(n * 8) as usize];
            src.raw
                .read_exact_at(part, from_off + done * 8)
                .map_err(|source| FormatError::Io {
                    path: src.path.to_path_buf(),
                    source,
                })?;
            for v in part.chunks_exact_mut(8) {
                let mut word = [0u8; 8];
                word.copy_from_slice(v);
                let t = i64::from_le_bytes(word);
                v.copy_from_slice(&clock.to_reference(t).to_le_bytes());
            }
            self.raw
                .write_all_at(part, to_off + done * 8)
                .map_err(|source| FormatError::Io {
                    path: self.path.to_path_buf(),
                    source,
                })?;
            done += n;
        }
        Ok(())
    }

    /// Copies `len` bytes at `from_off` of `src` to `to_off` of the output.
    fn copy(&self, src: &Src, from_off: u64, to_off: u64, len: u64) -> Result<(), FormatError> {
        let io = |source| FormatError::Io {
            path: src.path.to_path_buf(),
            source,
        };
        if !ffi::copy_range(&src.raw, from_off, self.raw, to_off, len).map_err(io)? {
            copy_range_std(&src.raw, from_off, self.raw, to_off, len).map_err(io)?;
        }
        Ok(())
    }
}

/// `Sink::copy` where `copy_file_range` with offsets cannot be used: `std::io::copy` between
/// the two files (which falls back to read/write where it must).
fn copy_range_std(
    from: &File,
    from_off: u64,
    to: &File,
    to_off: u64,
    len: u64,
) -> std::io::Result<()> {
    let (mut from, mut to) = (from, to);
    from.seek(SeekFrom::Start(from_off))?;
    to.seek(SeekFrom::Start(to_off))?;
    let copied = std::io::copy(&mut from.take(len), &mut to)?;
    if copied != len {
        return Err(std::io::Error::new(
            std::io::ErrorKind::UnexpectedEof,
            format!("copied {copied} of {len} bytes at offset {from_off}"),
        ));
    }
    Ok(())
}
