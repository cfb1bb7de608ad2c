//! What a client asks the engine to hook (`Target`), when hooks may be written (`When`), and
//! a hook as the back end planned it (`Planned`), before it is published and patched in.

use super::hooks::Kind;

/// A function to hook.
#[derive(Debug, Clone)]
pub struct Target {
    pub address: u64,
    /// Symbol size (0 if unknown: the back-edge check is then skipped).
    pub size: u64,
    /// The client's region id, carried in every record of the hook.
    pub region: u32,
    pub kind: Kind,
    /// Alignment padding right before the function (`start`, `len`), from the symbol table.
    pub pad: Option<(u64, u64)>,
    /// Separate fragments of the function (`foo.cold`: address, size), checked for branches
    /// back into the patched bytes.
    pub fragments: Vec<(u64, u64)>,
    /// How to name it in messages.
    pub label: String,
    /// `Kind::TimingWithArgs`: the client's args reader id, handed back to
    /// `Client::read_args`.
    pub args_reader: u16,
}

/// When hooks may be written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum When {
    /// At start-up: the process must have exactly one thread (checked).
    StartUp,
    /// Right after `dlopen` returned: the targets are in objects just loaded, which no thread
    /// is running yet (their constructors have run and returned).
    FreshlyLoaded,
}

/// A hook the back end has built (stub and relocated prologue written into a sealed arena),
/// ready to be published and patched in.
pub struct Planned {
    pub hook_id: u32,
    /// The function's address and its relocated entry (callable as the unhooked original).
    pub address: u64,
    pub original: u64,
    pub kind: Kind,
    pub region: u32,
    pub args_reader: u16,
    /// Where a pass-through call continues.
    pub pass: u64,
    /// The stub's leave address (the return address its call pushes).
    pub leave: u64,
    /// Code to write before `entry_patch` (a springboard), if any: address and bytes.
    pub before: Option<(u64, Vec<u8>)>,
    /// The bytes that divert the function's entry to the stub, and where they go.
    pub patch_at: u64,
    pub entry_patch: Vec<u8>,
}
