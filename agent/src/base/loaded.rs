//! The objects loaded in this process (`dl_iterate_phdr`) and symbol look-ups inside one of
//! them (`dlopen(RTLD_NOLOAD)` + `dlsym`), and the next definition of a symbol after the agent
//! (`dlsym(RTLD_NEXT)`), shared by the exported wrappers, region resolution and the MPI layer.
//! Invariant: nothing here loads or unloads an object: `RTLD_NOLOAD` only returns a handle to an
//! object that is already loaded, and each such handle is closed again.

use std::ffi::{CStr, CString};

/// A loaded object: its path as the loader knows it, load bias, executable segments.
pub struct Object {
    pub path: String,
    pub base: u64,
    pub exec: Vec<(u64, u64)>,
}

/// Every object loaded in the process, in the loader's order (the executable has path "").
pub fn objects() -> Vec<Object> {
    unsafe extern "C" fn cb(
        info: *mut libc::dl_phdr_info,
        _size: usize,
        data: *mut libc::c_void,
    ) -> libc::c_int {
        // SAFETY: the loader passes a valid info struct for the duration of the callback, and
        // `data` is the Vec we passed in.
        let (info, out) = unsafe { (&*info, &mut *(data as *mut Vec<Object>)) };
        let name = if info.dlpi_name.is_null() {
            String::new()
        } else {
            // SAFETY: dlpi_name is a NUL-terminated string owned by the loader.
            unsafe { CStr::from_ptr(info.dlpi_name) }
                .to_string_lossy()
                .into_owned()
        };
        let mut exec = Vec::new();
        for i in 0..info.dlpi_phnum as usize {
            // SAFETY: dlpi_phdr points to dlpi_phnum program headers.
            let ph = unsafe { &*info.dlpi_phdr.add(i) };
            if ph.p_type == libc::PT_LOAD && ph.p_flags & libc::PF_X != 0 {
                let start = info.dlpi_addr + ph.p_vaddr;
                exec.push((start, start + ph.p_memsz));
            }
        }
        out.push(Object {
            path: name,
            base: info.dlpi_addr,
            exec,
        });
        0
    }
    let mut objs: Vec<Object> = Vec::new();
    // SAFETY: the callback only reads the info it is given and pushes into `objs`.
    unsafe { libc::dl_iterate_phdr(Some(cb), &mut objs as *mut Vec<Object> as *mut libc::c_void) };
    objs
}

/// `name` looked up in the loaded object `path` (for an IFUNC: the resolved implementation).
pub fn symbol_in(path: &str, name: &str) -> Option<usize> {
    let c = CString::new(name).ok()?;
    let p = CString::new(path).ok()?;
    // SAFETY: RTLD_NOLOAD only returns a handle to an object that is already loaded.
    let h = unsafe { libc::dlopen(p.as_ptr(), libc::RTLD_NOLOAD | libc::RTLD_LAZY) };
    if h.is_null() {
        return None;
    }
    // SAFETY: valid handle and C string.
    let s = unsafe { libc::dlsym(h, c.as_ptr()) };
    // SAFETY: balances the dlopen above; the object stays loaded.
    unsafe { libc::dlclose(h) };
    (!s.is_null()).then_some(s as usize)
}

/// The next definition of `name` after the agent's own (`dlsym(RTLD_NEXT)`), if any.
pub fn next_symbol(name: &CStr) -> Option<usize> {
    // SAFETY: dlsym with a valid C string.
    let p = unsafe { libc::dlsym(libc::RTLD_NEXT, name.as_ptr()) };
    (!p.is_null()).then_some(p as usize)
}

/// The first definition of `name` in the global lookup order (`dlsym(RTLD_DEFAULT)`), if any.
pub fn default_symbol(name: &CStr) -> Option<usize> {
    // SAFETY: dlsym with a valid C string.
    let p = unsafe { libc::dlsym(libc::RTLD_DEFAULT, name.as_ptr()) };
    (!p.is_null()).then_some(p as usize)
}
