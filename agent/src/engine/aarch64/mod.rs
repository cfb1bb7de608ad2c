//! The aarch64 back end of the engine: the stub template (`stub.rs`), the trampolines to the
//! slow paths (`trampoline.rs`), prologue analysis and relocation (`prologue.rs`, decoding by
//! yaxpeax-arm, the few instructions written in `insn.rs`), writing into mapped code and cache
//! maintenance (`patch.rs`), BTI-guarded code (`bti.rs`), the TLS slot (`tls.rs`), where frames keep their returns
//! (`frames.rs`), and the plan that puts them together for one target (`plan.rs`).
//!
//! Invariant: everything that depends on the instruction set lives here; nothing outside
//! `engine/` refers to it.

/// Checks what the stubs rely on (the agent's TLS slot at a fixed offset from `tpidr_el0`) and
/// picks the trampolines for the CPU's vector state.
pub fn init() -> Result<(), String> {
    trampoline::init();
    tls::init()
        .ok_or("the agent's TLS is not in the static TLS block (load it with LD_PRELOAD)")?;
    Ok(())
}

/// Threads of this process that are not the program's: under qemu-user (the way aarch64 is
/// tested on x86-64 machines) the emulator runs one thread of its own (RCU) from the start,
/// which never runs the program's code. Detected by the executable of the process's main
/// thread, which qemu does not hide behind the program's (it does for `/proc/self/exe`).
pub fn emulator_threads() -> usize {
    let pid = std::process::id();
    match std::fs::read_link(format!("/proc/{pid}/task/{pid}/exe")) {
        Ok(p)
            if p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("qemu-")) =>
        {
            1
        }
        _ => 0,
    }
}

pub mod bti;
pub mod frames;
pub mod insn;
pub mod patch;
pub mod plan;
pub mod prologue;
pub mod stub;
pub mod tls;
pub mod trampoline;
