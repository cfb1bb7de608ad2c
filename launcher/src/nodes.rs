//! What a run on several nodes looked like, for `scope-run`'s report: the nodes the ranks ran
//! on (their `hostname` attributes), how far their aligned clocks may be off rank 0's (the
//! largest `clock_error_ns`), and whether rank files had to be sent to rank 0 over MPI because
//! the output's directory is not shared by every node.
//! Invariant: says nothing for a run on one node whose files all went through the directory.

use scope_format::ProfileReader;
use std::path::Path;

/// The lines to print about `output` (none for a one-node run).
pub fn lines(output: &Path) -> Vec<String> {
    let Ok(r) = ProfileReader::open(output) else {
        return Vec::new();
    };
    let mut hosts: Vec<String> = Vec::new();
    let mut worst_error = 0i64;
    for rank in r.ranks().unwrap_or_default() {
        if let Ok(a) = r.rank_attrs(rank) {
            if !hosts.contains(&a.hostname) {
                hosts.push(a.hostname);
            }
        }
        if let Ok((_, Some(e))) = r.clock(rank) {
            worst_error = worst_error.max(e);
        }
    }
    let mut out = Vec::new();
    if hosts.len() > 1 {
        out.push(format!(
            "ranks ran on {} nodes ({}); their times are in rank 0's clock, within ±{} µs",
            hosts.len(),
            hosts.join(", "),
            (worst_error + 999) / 1000
        ));
    }
    if let Some(n) = scope_format::read_sent_over_mpi(output) {
        out.push(format!(
            "the directory beside the output is not shared by every node: {n} rank file(s) \
             were sent to rank 0 over MPI"
        ));
    }
    out
}
