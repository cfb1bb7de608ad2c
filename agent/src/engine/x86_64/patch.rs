//! Writing into code that is mapped read+execute: through `/proc/self/mem`, which the kernel
//! lets a process use on its own read-only pages, so no page is ever made writable+executable.
//! Falls back to a brief `mprotect` (RWX, then back to RX) where `/proc` is not available.
//!
//! Invariant: called only while the process has a single thread, or on bytes no thread can be
//! executing (see `mod.rs`), since the 5-byte write is not atomic.

use std::os::unix::fs::FileExt;

pub fn write_code(addr: u64, bytes: &[u8]) -> Result<(), String> {
    match std::fs::OpenOptions::new()
        .write(true)
        .open("/proc/self/mem")
    {
        Ok(f) => f
            .write_all_at(bytes, addr)
            .map_err(|e| format!("writing /proc/self/mem at {addr:#x}: {e}")),
        Err(_) => write_with_mprotect(addr, bytes),
    }
}

fn write_with_mprotect(addr: u64, bytes: &[u8]) -> Result<(), String> {
    let page = 4096u64;
    let start = addr & !(page - 1);
    let end = (addr + bytes.len() as u64 + page - 1) & !(page - 1);
    let len = (end - start) as usize;
    let rwx = libc::PROT_READ | libc::PROT_WRITE | libc::PROT_EXEC;
    // SAFETY: the range covers mapped code pages of a function we resolved from the loaded
    // objects; they are restored to read+execute right after the copy.
    unsafe {
        if libc::mprotect(start as *mut _, len, rwx) != 0 {
            return Err(format!(
                "mprotect at {addr:#x}: {}",
                std::io::Error::last_os_error()
            ));
        }
        std::ptr::copy_nonoverlapping(bytes.as_ptr(), addr as *mut u8, bytes.len());
        libc::mprotect(start as *mut _, len, libc::PROT_READ | libc::PROT_EXEC);
    }
    Ok(())
}

/// `jmp rel32` from `at` to `to`, padded with int3 up to `len` bytes.
pub fn jmp_bytes(at: u64, to: u64, len: usize) -> Option<Vec<u8>> {
    let rel = i32::try_from(to as i64 - (at as i64 + 5)).ok()?;
    let mut v = vec![0xE9];
    v.extend_from_slice(&rel.to_le_bytes());
    v.resize(len.max(5), 0xCC);
    Some(v)
}

/// `jmp rel8` from `at` to `to`, padded with int3 up to `len` bytes.
pub fn short_jmp_bytes(at: u64, to: u64, len: usize) -> Option<Vec<u8>> {
    let rel = i8::try_from(to as i64 - (at as i64 + 2)).ok()?;
    let mut v = vec![0xEB, rel as u8];
    v.resize(len.max(2), 0xCC);
    Some(v)
}
