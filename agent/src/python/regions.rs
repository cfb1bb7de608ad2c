//! Which Python functions are regions: the configured patterns, the decision for one function
//! (made once per code object, then cached by the frame hook), which patterns matched, and the
//! functions that ran (for close matches of a pattern that matched none).
//!
//! Invariants: names are copied into agent memory when a decision is made (no pointer into a
//! Python object is kept, and nothing here calls Python); a function matching several patterns
//! records under the first (file order); the list of functions that ran is bounded.

use scope_config::{suggest_python, PythonRegion};
use std::collections::HashSet;
use std::sync::Mutex;

/// Most distinct functions remembered for suggestions.
const MAX_RAN: usize = 100_000;

struct Regions {
    list: Vec<PythonRegion>,
    matched: Vec<bool>,
    ran: HashSet<(String, String)>,
    /// Region id for a region name (given by the agent's lifecycle: one id space with the
    /// native regions).
    id_of: fn(&str) -> Option<u32>,
}

static REGIONS: Mutex<Option<Regions>> = Mutex::new(None);

fn with<R>(f: impl FnOnce(&mut Regions) -> R) -> Option<R> {
    let mut g = REGIONS.lock().unwrap_or_else(|p| p.into_inner());
    g.as_mut().map(f)
}

/// Sets the patterns; `id_of` gives (registering it if new) the region id of a region name.
pub fn set(list: Vec<PythonRegion>, id_of: fn(&str) -> Option<u32>) {
    let mut g = REGIONS.lock().unwrap_or_else(|p| p.into_inner());
    *g = Some(Regions {
        matched: vec![false; list.len()],
        list,
        ran: HashSet::new(),
        id_of,
    });
}

/// The region id function `qualname` of `module` records under, if it is a region.
pub fn choose(module: &str, qualname: &str) -> Option<u32> {
    let (name, id_of) = with(|r| {
        if r.ran.len() < MAX_RAN {
            r.ran.insert((module.to_string(), qualname.to_string()));
        }
        let i = r
            .list
            .iter()
            .position(|p| p.pattern.matches(module, qualname))?;
        r.matched[i] = true;
        Some((r.list[i].region_for(module, qualname), r.id_of))
    })??;
    id_of(&name)
}

/// Patterns that matched no function that ran, with up to three close functions that did.
pub fn unmatched() -> Vec<(String, Vec<String>)> {
    with(|r| {
        r.list
            .iter()
            .zip(&r.matched)
            .filter(|(_, m)| !**m)
            .map(|(p, _)| {
                let ran = r.ran.iter().map(|(m, q)| (m.as_str(), q.as_str()));
                (p.text.clone(), suggest_python(&p.text, ran))
            })
            .collect()
    })
    .unwrap_or_default()
}
