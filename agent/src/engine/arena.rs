//! Executable arenas within reach of the functions they serve: each back end says how far its
//! entry patch branches (x86-64: a rel32 `jmp`, ±2 GiB; aarch64: a `B`, ±128 MiB).
//!
//! Invariants: an arena is mapped read+write while stubs are written into it and is switched
//! to read+execute (never both writable and executable) before any function jumps to it;
//! arenas are never unmapped (a hooked function may be running in them at any time).

const ARENA: usize = 64 * 1024;

pub struct Arena {
    pub base: u64,
    pub used: usize,
    /// How far from the functions it serves the arena may lie (the back end's search radius).
    reach: u64,
}

impl Arena {
    pub fn cursor(&self) -> u64 {
        self.base + self.used as u64
    }
    pub fn fits(&self, near: u64, len: usize) -> bool {
        self.used + len <= ARENA
            && self.base.abs_diff(near) < self.reach
            && (self.cursor() + len as u64).abs_diff(near) < self.reach
    }
    /// Copies `code` to the cursor (16-byte aligned afterwards). The arena must still be writable.
    pub fn push(&mut self, code: &[u8]) -> u64 {
        let at = self.cursor();
        // SAFETY: `fits` was checked by the caller; the arena is a writable mapping of ARENA
        // bytes owned by the engine and not yet executable.
        unsafe { std::ptr::copy_nonoverlapping(code.as_ptr(), at as *mut u8, code.len()) };
        self.used = (self.used + code.len() + 15) & !15;
        at
    }
    /// Makes the arena executable and read-only.
    pub fn seal(&self) -> Result<(), String> {
        // SAFETY: our own mapping.
        let rc = unsafe {
            libc::mprotect(
                self.base as *mut _,
                ARENA,
                libc::PROT_READ | libc::PROT_EXEC,
            )
        };
        if rc != 0 {
            return Err(format!(
                "mprotect(PROT_EXEC) refused: {}",
                std::io::Error::last_os_error()
            ));
        }
        Ok(())
    }
}

/// Maps a new writable arena whose every byte lies within `reach` of `near`.
pub fn arena_near(near: u64, reach: u64) -> Result<Arena, String> {
    let maps =
        std::fs::read_to_string("/proc/self/maps").map_err(|e| format!("/proc/self/maps: {e}"))?;
    let mut used: Vec<(u64, u64)> = maps
        .lines()
        .filter_map(|l| {
            let range = l.split_whitespace().next()?;
            let (a, b) = range.split_once('-')?;
            Some((
                u64::from_str_radix(a, 16).ok()?,
                u64::from_str_radix(b, 16).ok()?,
            ))
        })
        .collect();
    used.sort_unstable();
    let page = 4096u64;
    let lo = near.saturating_sub(reach).max(0x10000);
    let hi = near.saturating_add(reach);
    // Candidate gaps between mappings, nearest first.
    let mut gaps = Vec::new();
    let mut prev_end = lo;
    for &(a, b) in &used {
        if a > prev_end && a - prev_end >= ARENA as u64 + 2 * page {
            gaps.push((prev_end + page, a - page));
        }
        prev_end = prev_end.max(b);
    }
    if hi > prev_end {
        gaps.push((prev_end + page, hi));
    }
    gaps.sort_by_key(|&(a, b)| a.abs_diff(near).min(b.abs_diff(near)));
    for (a, b) in gaps {
        let start = if b <= near {
            b.saturating_sub(ARENA as u64) & !(page - 1)
        } else {
            (a + page - 1) & !(page - 1)
        };
        if start < a
            || start + ARENA as u64 > b
            || start.abs_diff(near) >= reach
            || (start + ARENA as u64).abs_diff(near) >= reach
        {
            continue;
        }
        // SAFETY: MAP_FIXED_NOREPLACE never replaces an existing mapping; on success we own it.
        let p = unsafe {
            libc::mmap(
                start as *mut _,
                ARENA,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_FIXED_NOREPLACE,
                -1,
                0,
            )
        };
        if p != libc::MAP_FAILED && p as u64 == start {
            return Ok(Arena {
                base: start,
                used: 0,
                reach,
            });
        }
        if p != libc::MAP_FAILED {
            // SAFETY: an unwanted mapping we just created (old kernels ignore NOREPLACE).
            unsafe { libc::munmap(p, ARENA) };
        }
    }
    Err(format!(
        "no free memory within ±{} MiB of {near:#x} for a stub",
        reach >> 20
    ))
}
