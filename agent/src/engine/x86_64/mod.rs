//! The x86-64 back end of the engine: the stubs (`stub.rs`), the trampolines to the slow
//! paths (`trampoline.rs`), prologue analysis and relocation (`prologue.rs`), writing into mapped code (`patch.rs`), the TLS slot
//! (`tls.rs`), and the plan that puts them together for one target (`plan.rs`). iced-x86
//! decodes, relocates and assembles.
//!
//! Invariant: everything that depends on the instruction set lives here; nothing outside
//! `engine/` refers to it.

/// Checks what the stubs and trampolines rely on: XSAVE (the slow paths save the whole
/// extended state) and the agent's TLS slot at a fixed thread-pointer offset.
pub fn init() -> Result<(), String> {
    if !trampoline::init_xsave() {
        return Err("the CPU or kernel does not support XSAVE".into());
    }
    tls::init()
        .ok_or("the agent's TLS is not in the static TLS block (load it with LD_PRELOAD)")?;
    Ok(())
}

/// Threads of this process that are not the program's: none on x86-64 (see the aarch64 back
/// end, which may run under qemu-user).
pub fn emulator_threads() -> usize {
    0
}

pub mod frames;
pub mod patch;
pub mod plan;
pub mod prologue;
pub mod stub;
pub mod tls;
pub mod trampoline;
