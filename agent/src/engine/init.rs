//! Preparing the engine on the loading thread: the back end's checks (XSAVE, the TLS slot at a
//! fixed offset), the thread registry, and the one client.
//! Invariant: nothing is hooked before `init` succeeded (`attach` refuses).

use super::backend;
use super::client::{self, Client};
use super::registry;

pub fn init(c: &'static dyn Client) -> Result<(), String> {
    backend::init()?;
    client::set(c);
    registry::init()
}
