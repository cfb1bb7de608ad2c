//! Preparing the engine on the loading thread: the back end's checks (XSAVE, the TLS slot at a
//! fixed offset), the thread registry, and the one client.
//! Invariant: nothing is hooked before `init` succeeded (`attach` refuses).

use super::client::{self, Client};
use super::registry;
use super::x86_64::{tls, trampoline};

pub fn init(c: &'static dyn Client) -> Result<(), String> {
    if !trampoline::init_xsave() {
        return Err("the CPU or kernel does not support XSAVE".into());
    }
    tls::init()
        .ok_or("the agent's TLS is not in the static TLS block (load it with LD_PRELOAD)")?;
    client::set(c);
    registry::init()
}
