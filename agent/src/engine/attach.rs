//! Attaching hooks: the back end plans every target (stub, relocated prologue, entry patch),
//! the hook table learns each hook before its patch makes it reachable, then the patches are
//! written. Also the way back to an unhooked original for the agent's own calls.
//!
//! Invariants: `attach` writes code only while no thread can run it (`When`); a function is
//! either fully hooked or untouched; every failure is a refusal with a reason.

use super::arena::Arena;
use super::backend::{self, patch, plan};
use super::hooks;
use super::registry;
use super::target::{Planned, Target, When};

/// Hooked functions and their relocated entries (see `unhooked`).
static ORIGINALS: std::sync::Mutex<Vec<(u64, u64)>> = std::sync::Mutex::new(Vec::new());

/// An address to call a function at without going through its hook: the relocated entry if
/// it is hooked, else the function itself (for the agent's own calls on its slow paths).
pub fn unhooked(address: u64) -> u64 {
    ORIGINALS
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .iter()
        .find(|o| o.0 == address)
        .map_or(address, |o| o.1)
}

/// Number of threads of this process, from /proc.
pub fn thread_count() -> usize {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Threads:").map(|v| v.trim().parse().ok()))
                .flatten()
        })
        .unwrap_or(0)
}

/// Hooks every target; returns, per target, `Ok(())` or the reason it was refused.
pub fn attach(targets: &[Target], when: When) -> Vec<Result<(), String>> {
    if !registry::ready() {
        return targets
            .iter()
            .map(|_| Err("engine not initialised".into()))
            .collect();
    }
    let threads = thread_count().saturating_sub(backend::emulator_threads());
    if when == When::StartUp && threads != 1 {
        let msg = format!("the process already runs {threads} threads; patching now is unsafe");
        return targets.iter().map(|_| Err(msg.clone())).collect();
    }
    let mut arenas: Vec<Arena> = Vec::new();
    let mut planned = Vec::new();
    let mut results: Vec<Result<(), String>> = Vec::with_capacity(targets.len());
    for t in targets {
        let r = plan::plan(t, &mut arenas);
        results.push(r.map(|p| planned.push(p)));
    }
    for a in &arenas {
        if let Err(e) = a.seal() {
            return targets.iter().map(|_| Err(e.clone())).collect();
        }
    }
    // Publish and patch only what was planned; results of planned targets stay Ok unless the
    // write itself fails.
    let mut planned_iter = planned.into_iter();
    for r in results.iter_mut() {
        if r.is_err() {
            continue;
        }
        let p: Planned = planned_iter.next().expect("one plan per Ok result");
        hooks::publish(p.hook_id, p.kind, p.pass, p.leave, p.region, p.args_reader);
        let written = match &p.before {
            Some((at, bytes)) => patch::write_code(*at, bytes),
            None => Ok(()),
        };
        match written.and_then(|_| patch::write_code(p.patch_at, &p.entry_patch)) {
            Ok(()) => ORIGINALS
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push((p.address, p.original)),
            Err(e) => *r = Err(e),
        }
    }
    results
}
