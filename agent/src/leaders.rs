//! Finalize past one node (docs/scaling.md): rank 0 lays the output out once from the ranks'
//! manifests (sizes, not data), and one leader per node copies its node's ranks' columns into
//! it at the planned offsets, all nodes at once; rank 0 commits last.
//!
//! Steps, all collective over the agent's communicator at `MPI_Finalize`, after every rank
//! closed its file in rank 0's directory (which every rank sees, else the serial path runs):
//! 1. every rank's node (its hostname's hash) is allgathered: a node's leader is its lowest
//!    rank;
//! 2. every rank sends its file's manifest to rank 0 (`read_manifest_bytes`, a few hundred
//!    bytes);
//! 3. rank 0 creates the output with every object preallocated and says `complete = false`,
//!    every rank missing (`lay_out`), and broadcasts where it is — or that the serial merge
//!    runs instead (a rank without a manifest, a layout that failed);
//! 4. rank 0 sends each leader its node's copy plans; the leaders copy (`copy_planned_all`, the
//!    output opened once per node) and answer which ranks they copied; rank 0 takes the
//!    answers as they arrive and rewrites `missing_ranks` (at most every `PROGRESS_EVERY`), so
//!    a leader that dies leaves a file that names its node's ranks missing (and those of nodes
//!    whose answer the launcher's kill overtook) and holds the others;
//! 5. rank 0 writes `world` and commits (`complete` last), then tells each leader that
//!    answered whether the rank files go (every rank copied, none kept by request); each
//!    leader removes its own node's files, so rank 0's metadata calls grow with its node's
//!    ranks and the number of nodes, not with all ranks. Whoever empties the directory last
//!    removes it.
//!
//! A progress rewrite grows the file (HDF5 puts the new strings in a new heap collection at
//! its end) while leaders copy: `copy_planned` accepts an output longer than the layout left
//! it (HDF5 never moves a contiguous dataset's preallocated storage), only a shorter one is
//! another layout's.
//!
//! Invariants: every rank takes every collective step whatever failed locally (a failure is
//! sent as an empty message, never skipped), so no rank hangs; the file says `complete` only
//! after every leader answered that its ranks were copied; nothing but the leaders' planned
//! copies touches the output between the layout and the last answer.

use crate::base::{log, sys};
use crate::mpi::Mpi;
use scope_format::{CopyPlan, FileAttrs};
use std::path::{Path, PathBuf};

const TAG_MANIFEST: i32 = 0x5c1a;
const TAG_PLANS: i32 = 0x5c1b;
const TAG_DONE: i32 = 0x5c1c;
const TAG_CLEAN: i32 = 0x5c1d;

/// How often rank 0 rewrites `missing_ranks` while answers arrive (each rewrite opens the
/// output with HDF5: several metadata calls on a shared filesystem).
const PROGRESS_EVERY: std::time::Duration = std::time::Duration::from_millis(250);

/// How the ranks' files become the output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Merge {
    /// Rank 0 merges file after file (`scope_format::merge_launched_world_beside`).
    Serial,
    /// Rank 0 lays out, node leaders copy.
    Parallel,
}

/// Nodes from which `SCOPE_MERGE` unset means parallel. Measured (docs/benchmarks.md,
/// scripts/bench-finalize-nodes.sh, 16–256 ranks): the parallel path makes 3R/N + 24 metadata
/// calls on rank 0 against the serial one's 3R + 16, fewer from 2 nodes on; on 2 nodes it ran
/// 1.1–1.5× as fast with 0.5 ms of metadata latency and 0.99–1.6× without.
pub const AUTO_NODES: usize = 2;

/// `SCOPE_MERGE=serial|parallel`, else parallel from `AUTO_NODES` nodes on.
pub fn choose(nodes: usize) -> Merge {
    match std::env::var(scope_config::env::MERGE).ok().as_deref() {
        Some("serial") => Merge::Serial,
        Some("parallel") => Merge::Parallel,
        Some(other) if !other.is_empty() => {
            log::error(&format!(
                "SCOPE_MERGE={other:?} is neither serial nor parallel; choosing by node count"
            ));
            auto(nodes)
        }
        _ => auto(nodes),
    }
}

fn auto(nodes: usize) -> Merge {
    if nodes >= AUTO_NODES {
        Merge::Parallel
    } else {
        Merge::Serial
    }
}

/// 64-bit FNV-1a: the node key of a hostname.
fn node_key(host: &str) -> u64 {
    host.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// Collective: every rank's node key, in rank order.
pub fn node_keys(m: &Mpi) -> Vec<u64> {
    let mine = node_key(&sys::hostname()).to_le_bytes();
    m.allgather_bytes(&mine)
        .chunks_exact(8)
        .map(|c| u64::from_le_bytes(c.try_into().unwrap_or([0; 8])))
        .collect()
}

/// The number of distinct nodes, and each rank's leader (the lowest rank of its node).
pub fn leaders(keys: &[u64]) -> (usize, Vec<u32>) {
    let mut first: Vec<(u64, u32)> = Vec::new();
    let mut leader = Vec::with_capacity(keys.len());
    for (r, k) in keys.iter().enumerate() {
        match first.iter().find(|(fk, _)| fk == k) {
            Some(&(_, l)) => leader.push(l),
            None => {
                first.push((*k, r as u32));
                leader.push(r as u32);
            }
        }
    }
    (first.len(), leader)
}

/// A length (8 bytes), then the bytes (if any), with one tag: MPI keeps the two in order.
fn send_blob(m: &Mpi, bytes: &[u8], dest: i32, tag: i32) {
    m.send_bytes(&(bytes.len() as u64).to_le_bytes(), dest, tag);
    if !bytes.is_empty() {
        m.send_bytes(bytes, dest, tag);
    }
}

fn recv_blob(m: &Mpi, from: i32, tag: i32) -> Vec<u8> {
    let mut len = [0u8; 8];
    m.recv_bytes_sleeping(&mut len, from, tag);
    let mut bytes = vec![0u8; u64::from_le_bytes(len) as usize];
    if !bytes.is_empty() {
        m.recv_bytes_sleeping(&mut bytes, from, tag);
    }
    bytes
}

/// Collective (every rank of a world of `size` whose files are all in `dir`): the parallel
/// merge into `out` (or the first free name beside it). `Ok(Some(path))` on rank 0 when it
/// wrote the file, `Ok(None)` elsewhere; `Err(why)` on every rank when the serial merge must
/// run instead (decided by rank 0 before anything was copied).
pub fn merge(
    m: &Mpi,
    rank: u32,
    size: u32,
    leader: &[u32],
    dir: &Path,
    out: &Path,
) -> Result<Option<PathBuf>, String> {
    let my_file = dir.join(scope_format::rank_file_name(rank));
    let manifest = match scope_format::read_manifest_bytes(&my_file) {
        Ok(Some(b)) => b,
        Ok(None) => Vec::new(),
        Err(e) => {
            log::error(&format!("reading my rank file's manifest: {e}"));
            Vec::new()
        }
    };
    // Step 2 and 3: manifests to rank 0, its decision back.
    let mut steps = Steps::start();
    let mut decision = vec![0u8; 4096];
    let mut plans: Vec<(u32, CopyPlan)> = Vec::new();
    let mut target = PathBuf::new();
    if rank == 0 {
        let mut manifests = vec![(0u32, manifest)];
        for r in 1..size {
            manifests.push((r, recv_blob(m, r as i32, TAG_MANIFEST)));
        }
        steps.mark("manifests");
        let laid_out = lay_out(&manifests, size, out);
        steps.mark("layout");
        match laid_out {
            Ok((path, p)) => {
                let s = path.as_os_str().as_encoded_bytes();
                if s.len() < decision.len() - 1 {
                    decision[0] = 1;
                    decision[1..1 + s.len()].copy_from_slice(s);
                    target = path;
                    plans = p;
                } else {
                    let _ = std::fs::remove_file(&path);
                    let why = b"the output path is too long to broadcast";
                    decision[1..1 + why.len()].copy_from_slice(why);
                }
            }
            Err(why) => {
                log::error(&format!("parallel merge: {why}; merging serially"));
                decision[1..1 + why.len().min(4000)]
                    .copy_from_slice(&why.as_bytes()[..why.len().min(4000)]);
            }
        }
    } else {
        send_blob(m, &manifest, 0, TAG_MANIFEST);
    }
    m.bcast_bytes_sleeping(&mut decision);
    steps.mark("decision");
    if decision[0] != 1 {
        let end = decision[1..].iter().position(|&b| b == 0).unwrap_or(0);
        return Err(String::from_utf8_lossy(&decision[1..1 + end]).into_owned());
    }
    if rank != 0 {
        let end = decision[1..].iter().position(|&b| b == 0).unwrap_or(0);
        // SAFETY: rank 0 sent these bytes from `OsStr::as_encoded_bytes` on the same platform.
        target = PathBuf::from(unsafe {
            std::ffi::OsStr::from_encoded_bytes_unchecked(&decision[1..1 + end])
        });
    }
    // Step 4: plans to the leaders, copies, answers.
    let leaders: Vec<u32> = {
        let mut l: Vec<u32> = leader.to_vec();
        l.sort_unstable();
        l.dedup();
        l
    };
    let i_lead = leader.get(rank as usize) == Some(&rank);
    if rank == 0 {
        let mine = plans_of(&plans, leader, 0);
        for &l in leaders.iter().filter(|&&l| l != 0) {
            send_blob(
                m,
                &encode_plans(&plans_of(&plans, leader, l)),
                l as i32,
                TAG_PLANS,
            );
        }
        let mut missing: Vec<u32> = (0..size).collect();
        let mut failed: Vec<u32> = Vec::new();
        let mut events = 0u64;
        let (copied, lost, n) = copy_node(&mine, dir, &target);
        events += n;
        account(&mut missing, &mut failed, &copied, &lost);
        steps.mark("own copies");
        progress(&target, size, &missing);
        steps.mark("progress");
        // Answers in arrival order: a leader that died keeps no other node's answer waiting.
        let others: Vec<i32> = leaders
            .iter()
            .filter(|&&l| l != 0)
            .map(|&l| l as i32)
            .collect();
        let mut last_progress = std::time::Instant::now();
        let mut answered: Vec<i32> = Vec::new();
        m.each_header_sleeping(&others, TAG_DONE, |l, len| {
            answered.push(l);
            let mut body = vec![0u8; u64::from_le_bytes(len) as usize];
            if !body.is_empty() {
                m.recv_bytes_sleeping(&mut body, l, TAG_DONE);
            }
            let (copied, lost, n) = decode_done(&body);
            events += n;
            account(&mut missing, &mut failed, &copied, &lost);
            if last_progress.elapsed() >= PROGRESS_EVERY {
                progress(&target, size, &missing);
                last_progress = std::time::Instant::now();
            }
        });
        steps.mark("answers");
        // Step 5: commit, then the rank files go. A copied rank whose file does not say it
        // finished is unfinished (its data is there, maybe cut short); one not copied is missing.
        let unfinished: Vec<i64> = plans
            .iter()
            .filter(|(r, p)| !p.finished() && !missing.contains(r))
            .map(|(r, _)| i64::from(*r))
            .collect();
        let complete = missing.is_empty() && unfinished.is_empty();
        let attrs = file_attrs(size, complete, &missing, unfinished);
        if let Err(e) = scope_format::write_world(&target, 0) {
            log::error(&format!("cannot write the world attribute: {e}"));
        }
        if let Err(e) = scope_format::commit(&target, &attrs) {
            log::error(&format!("committing {}: {e}", target.display()));
        }
        steps.mark("commit");
        if target != out {
            log::error(&format!(
                "{} exists; writing {} instead",
                out.display(),
                target.display()
            ));
        }
        log::info(&format!(
            "merged {} ranks, {events} events into {} (world 0)",
            size as usize - missing.len(),
            target.display()
        ));
        log::info(&format!(
            "parallel merge: laid out by rank 0, copied by {} node leaders",
            leaders.len()
        ));
        let clean = failed.is_empty() && missing.is_empty() && !keep_rank_files();
        for &l in &answered {
            send_blob(m, &[u8::from(clean)], l, TAG_CLEAN);
        }
        if clean {
            remove_rank_files(&mine, dir);
        }
        steps.mark("cleanup");
        log::info(&format!("parallel merge steps on rank 0 (ms): {steps}"));
        if !missing.is_empty() {
            log::error(&format!(
                "ranks {missing:?} could not be copied; their files stay in {}",
                dir.display()
            ));
        }
        Ok(Some(target))
    } else if i_lead {
        let mine = decode_plans(&recv_blob(m, 0, TAG_PLANS));
        test_kill_point(rank);
        let (copied, lost, n) = copy_node(&mine, dir, &target);
        send_blob(m, &encode_done(&copied, &lost, n), 0, TAG_DONE);
        if recv_blob(m, 0, TAG_CLEAN) == [1] {
            remove_rank_files(&mine, dir);
        }
        Ok(None)
    } else {
        Ok(None)
    }
}

/// Rank 0's time per step of the merge, for the verbose log (where a slow merge spends it).
struct Steps {
    last: std::time::Instant,
    done: Vec<(&'static str, f64)>,
}

impl Steps {
    fn start() -> Steps {
        Steps {
            last: std::time::Instant::now(),
            done: Vec::new(),
        }
    }

    fn mark(&mut self, step: &'static str) {
        let now = std::time::Instant::now();
        self.done
            .push((step, (now - self.last).as_secs_f64() * 1e3));
        self.last = now;
    }
}

impl std::fmt::Display for Steps {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, (step, ms)) in self.done.iter().enumerate() {
            write!(f, "{}{step} {ms:.1}", if i == 0 { "" } else { ", " })?;
        }
        Ok(())
    }
}

/// `SCOPE_KEEP_RANK_FILES=1`: the rank files stay after a parallel merge (how the tests compare
/// it with a serial merge of the very same files).
fn keep_rank_files() -> bool {
    std::env::var_os("SCOPE_KEEP_RANK_FILES").is_some_and(|v| v == "1")
}

/// `SCOPE_TEST_KILL_LEADER=<rank>`: that node leader kills itself between the layout and its
/// copies (how the tests make a leader fail at the worst moment).
fn test_kill_point(rank: u32) {
    if std::env::var("SCOPE_TEST_KILL_LEADER")
        .ok()
        .and_then(|v| v.parse::<u32>().ok())
        == Some(rank)
    {
        log::error("SCOPE_TEST_KILL_LEADER: this node leader dies before copying");
        // SAFETY: raising a signal on this process.
        unsafe { libc::raise(libc::SIGKILL) };
    }
}

/// Rank 0: the output laid out from every rank's manifest.
fn lay_out(
    manifests: &[(u32, Vec<u8>)],
    size: u32,
    out: &Path,
) -> Result<(PathBuf, Vec<(u32, CopyPlan)>), String> {
    if let Some((r, _)) = manifests.iter().find(|(_, b)| b.is_empty()) {
        return Err(format!("rank {r}'s file has no manifest"));
    }
    let every: Vec<u32> = (0..size).collect();
    let attrs = file_attrs(size, false, &every, Vec::new());
    loop {
        let target = scope_format::free_output_name(out);
        match scope_format::lay_out(&target, manifests, &attrs) {
            Ok(plans) => return Ok((target, plans)),
            // Another process took the name between the look and the exclusive create.
            Err(_) if std::fs::symlink_metadata(&target).is_ok() && target != out => continue,
            Err(e) => return Err(e.to_string()),
        }
    }
}

fn plans_of(plans: &[(u32, CopyPlan)], leader: &[u32], l: u32) -> Vec<(u32, CopyPlan)> {
    plans
        .iter()
        .filter(|(r, _)| leader.get(*r as usize) == Some(&l))
        .cloned()
        .collect()
}

/// A leader's copies: (ranks copied, ranks that failed, events).
fn copy_node(plans: &[(u32, CopyPlan)], dir: &Path, target: &Path) -> (Vec<u32>, Vec<u32>, u64) {
    let mut copied = Vec::new();
    let mut lost = Vec::new();
    let mut events = 0;
    let files: Vec<PathBuf> = plans
        .iter()
        .map(|(r, _)| dir.join(scope_format::rank_file_name(*r)))
        .collect();
    let copies: Vec<(&CopyPlan, &Path)> = plans
        .iter()
        .zip(&files)
        .map(|((_, plan), file)| (plan, file.as_path()))
        .collect();
    let results = scope_format::copy_planned_all(target, &copies);
    for ((r, _), result) in plans.iter().zip(results) {
        match result {
            Ok(n) => {
                events += n;
                copied.push(*r);
            }
            Err(e) => {
                log::error(&format!("copying rank {r}'s file: {e}"));
                lost.push(*r);
            }
        }
    }
    (copied, lost, events)
}

/// A leader's node's rank files, once the output is committed with all of them; then the
/// directory, if this leader emptied it last.
fn remove_rank_files(plans: &[(u32, CopyPlan)], dir: &Path) {
    for (r, _) in plans {
        let _ = std::fs::remove_file(dir.join(scope_format::rank_file_name(*r)));
    }
    let _ = std::fs::remove_dir(dir);
}

fn account(missing: &mut Vec<u32>, failed: &mut Vec<u32>, copied: &[u32], lost: &[u32]) {
    missing.retain(|r| !copied.contains(r));
    failed.extend_from_slice(lost);
}

/// The root attributes of a world of `size` ranks.
fn file_attrs(size: u32, complete: bool, missing: &[u32], unfinished: Vec<i64>) -> FileAttrs {
    FileAttrs {
        ranks: size.into(),
        version: scope_format::TOOL_VERSION.to_string(),
        complete,
        missing_ranks: missing.iter().map(|&r| i64::from(r)).collect(),
        unfinished_ranks: unfinished,
    }
}

/// Rank 0: the file says which ranks are still missing (not complete), after each node
/// (`unfinished_ranks` waits for the commit).
fn progress(target: &Path, size: u32, missing: &[u32]) {
    let attrs = file_attrs(size, false, missing, Vec::new());
    if let Err(e) = scope_format::commit(target, &attrs) {
        log::error(&format!("recording progress in {}: {e}", target.display()));
    }
}

/// `[rank u32][len u32][plan bytes]...`
fn encode_plans(plans: &[(u32, CopyPlan)]) -> Vec<u8> {
    let mut out = Vec::new();
    for (r, p) in plans {
        let b = p.to_bytes();
        out.extend_from_slice(&r.to_le_bytes());
        out.extend_from_slice(&(b.len() as u32).to_le_bytes());
        out.extend_from_slice(&b);
    }
    out
}

fn decode_plans(mut bytes: &[u8]) -> Vec<(u32, CopyPlan)> {
    let mut out = Vec::new();
    while bytes.len() >= 8 {
        let r = u32::from_le_bytes(bytes[..4].try_into().unwrap_or_default());
        let n = u32::from_le_bytes(bytes[4..8].try_into().unwrap_or_default()) as usize;
        let Some(body) = bytes.get(8..8 + n) else {
            log::error("parallel merge: a truncated plan from rank 0");
            break;
        };
        match CopyPlan::from_bytes(body) {
            Ok(p) => out.push((r, p)),
            Err(e) => log::error(&format!("parallel merge: rank {r}'s plan: {e}")),
        }
        bytes = &bytes[8 + n..];
    }
    out
}

/// `[events u64][n copied u32][ranks...][n lost u32][ranks...]`
fn encode_done(copied: &[u32], lost: &[u32], events: u64) -> Vec<u8> {
    let mut out = events.to_le_bytes().to_vec();
    for list in [copied, lost] {
        out.extend_from_slice(&(list.len() as u32).to_le_bytes());
        for r in list {
            out.extend_from_slice(&r.to_le_bytes());
        }
    }
    out
}

fn decode_done(bytes: &[u8]) -> (Vec<u32>, Vec<u32>, u64) {
    let u32_at = |at: usize| {
        bytes
            .get(at..at + 4)
            .map(|b| u32::from_le_bytes(b.try_into().unwrap_or_default()))
    };
    let events = bytes
        .get(..8)
        .map_or(0, |b| u64::from_le_bytes(b.try_into().unwrap_or_default()));
    let mut at = 8;
    let mut lists = [Vec::new(), Vec::new()];
    for list in &mut lists {
        let n = u32_at(at).unwrap_or(0) as usize;
        at += 4;
        for _ in 0..n {
            if let Some(r) = u32_at(at) {
                list.push(r);
            }
            at += 4;
        }
    }
    let [copied, lost] = lists;
    (copied, lost, events)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leaders_are_the_lowest_rank_of_each_node() {
        let (n, l) = leaders(&[7, 7, 9, 9, 7, 3]);
        assert_eq!(n, 3);
        assert_eq!(l, vec![0, 0, 2, 2, 0, 5]);
    }

    #[test]
    fn done_messages_round_trip() {
        let b = encode_done(&[1, 2, 5], &[9], 1234);
        assert_eq!(decode_done(&b), (vec![1, 2, 5], vec![9], 1234));
        assert_eq!(decode_done(&[]), (vec![], vec![], 0));
    }

    #[test]
    fn auto_is_parallel_from_two_nodes() {
        assert_eq!(auto(1), Merge::Serial);
        assert_eq!(auto(2), Merge::Parallel);
        assert_eq!(auto(8), Merge::Parallel);
    }
}
