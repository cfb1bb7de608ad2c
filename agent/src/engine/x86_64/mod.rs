//! The x86-64 back end of the engine: the stubs (`stub.rs`), the trampolines to the slow
//! paths (`trampoline.rs`), prologue analysis and relocation (`prologue.rs`), code arenas
//! near their functions (`memory.rs`), writing into mapped code (`patch.rs`), the TLS slot
//! (`tls.rs`), and the plan that puts them together for one target (`plan.rs`). iced-x86
//! decodes, relocates and assembles.
//!
//! Invariant: everything that depends on the instruction set lives here; nothing outside
//! `engine/` refers to it.

pub mod memory;
pub mod patch;
pub mod plan;
pub mod prologue;
pub mod stub;
pub mod tls;
pub mod trampoline;
