//! `scope-pproc comm FILE [--ranks R..] [--format table|json]`: the rank × rank matrix of bytes
//! and messages sent, from the `bytes` and `peer` columns of the MPI call regions
//! (`[mpi] calls`), and its heat map for `--show` (`heatmap`).
//!
//! What is counted (one message per call, `bytes` of that call; the agent's columns as
//! docs/output.md defines them):
//!   - sends: `MPI_Send`, `Ssend`, `Bsend`, `Rsend`, `Isend`, `Issend`, `Ibsend`, `Irsend`, and
//!     the send part of `MPI_Sendrecv` and `MPI_Sendrecv_replace`: calling rank → `peer`;
//!   - rooted collectives, as the logical message between the root and each other rank, counted
//!     on the non-root rank with its own payload: `MPI_Bcast`, `MPI_Scatter(v)` (and their `I`
//!     forms): root → rank; `MPI_Reduce`, `MPI_Gather(v)` (and `I` forms): rank → root. The
//!     root's own call (peer = its rank) adds nothing: no rank sends to itself.
//!
//! Not counted: receives (the sender counts the message; a receive's `bytes` is only the size
//! posted), probes, completions (`MPI_Wait*`, `MPI_Test*`: a non-blocking call counts when it
//! is posted), persistent requests (`MPI_*_init`: the agent records the set-up, not each
//! `MPI_Start`), collectives without a root (no peer: `MPI_Allreduce`, `MPI_Alltoall`, …),
//! and peers that are not ranks (`MPI_PROC_NULL`, `MPI_ROOT` of an intercommunicator).
//! `peer` is a rank of the call's communicator: the agent does not record the communicator, so
//! calls on another communicator than `MPI_COMM_WORLD` land on the axes by their rank in that
//! communicator. The matrix lists the communicator-creating calls it saw, to say when that may
//! have happened.
//! Invariants: exact integer counts; one MPI call region's `bytes` and `peer` columns are held at
//! a time (16 B per call); the table and the JSON carry the same numbers.

use super::report::Format;
use super::{open, parse, Input};
use crate::error::Result;
use crate::summary::format_bytes;
use clap::Parser;
use scope_format::PEER_PROC_NULL;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::fmt::Write;
use std::path::PathBuf;

/// How a call enters the matrix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// A message from the calling rank to `peer`.
    Send,
    /// A rooted collective: a message from the root (`peer`) to the calling rank.
    FromRoot,
    /// A rooted collective: a message from the calling rank to the root (`peer`).
    ToRoot,
}

impl Role {
    pub fn label(self) -> &'static str {
        match self {
            Role::Send => "rank → peer",
            Role::FromRoot => "root → rank",
            Role::ToRoot => "rank → root",
        }
    }
}

/// The role of the MPI call `name`, or `None` if it is not counted.
pub fn role(name: &str) -> Option<Role> {
    match name.strip_prefix("MPI_")? {
        "Send" | "Ssend" | "Bsend" | "Rsend" | "Isend" | "Issend" | "Ibsend" | "Irsend"
        | "Sendrecv" | "Sendrecv_replace" => Some(Role::Send),
        "Bcast" | "Ibcast" | "Scatter" | "Iscatter" | "Scatterv" | "Iscatterv" => {
            Some(Role::FromRoot)
        }
        "Reduce" | "Ireduce" | "Gather" | "Igather" | "Gatherv" | "Igatherv" => Some(Role::ToRoot),
        _ => None,
    }
}

/// Calls that make a new communicator (whose ranks may differ from `MPI_COMM_WORLD`'s).
pub fn creates_communicator(name: &str) -> bool {
    let Some(n) = name.strip_prefix("MPI_") else {
        return false;
    };
    [
        "Comm_split",
        "Comm_create",
        "Comm_dup",
        "Comm_idup",
        "Cart_create",
        "Cart_sub",
        "Graph_create",
        "Dist_graph_create",
        "Intercomm_create",
        "Intercomm_merge",
        "Comm_spawn",
        "Comm_accept",
        "Comm_connect",
        "Comm_join",
    ]
    .iter()
    .any(|p| n.starts_with(p))
}

/// A counted call's totals.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counted {
    pub calls: u64,
    pub messages: u64,
    pub bytes: u64,
}

/// The matrix and what went into it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommMatrix {
    /// Size of the axes: ranks 0..n (the file's `ranks`, or more if a rank or peer is larger).
    pub n: usize,
    /// Row-major `[from * n + to]`.
    pub bytes: Vec<u64>,
    pub messages: Vec<u64>,
    /// Ranks whose calls were read.
    pub ranks: Vec<u32>,
    /// Per counted call name.
    pub counted: BTreeMap<String, Counted>,
    /// Per MPI call not counted: calls.
    pub not_counted: BTreeMap<String, u64>,
    /// Calls of communicator-creating functions seen.
    pub communicators: BTreeMap<String, u64>,
    /// Counted messages whose size the agent could not read (`bytes` = -1): in `messages`,
    /// not in `bytes`.
    pub unknown_size: u64,
    /// Calls of counted functions with `MPI_PROC_NULL` as the peer (no message).
    pub proc_null: u64,
    /// Root's own calls of rooted collectives (peer = the calling rank).
    pub root_self: u64,
    /// Calls of counted functions with another peer code (`MPI_ROOT`, none, a wildcard).
    pub not_a_rank: u64,
}

impl CommMatrix {
    pub fn new(n: usize) -> CommMatrix {
        CommMatrix {
            n,
            bytes: vec![0; n * n],
            messages: vec![0; n * n],
            ranks: Vec::new(),
            counted: BTreeMap::new(),
            not_counted: BTreeMap::new(),
            communicators: BTreeMap::new(),
            unknown_size: 0,
            proc_null: 0,
            root_self: 0,
            not_a_rank: 0,
        }
    }

    /// Bytes and messages from `from` to `to`.
    pub fn cell(&self, from: usize, to: usize) -> (u64, u64) {
        let i = from * self.n + to;
        (self.bytes[i], self.messages[i])
    }

    fn grow(&mut self, n: usize) {
        if n <= self.n {
            return;
        }
        let mut bytes = vec![0; n * n];
        let mut messages = vec![0; n * n];
        for f in 0..self.n {
            for t in 0..self.n {
                bytes[f * n + t] = self.bytes[f * self.n + t];
                messages[f * n + t] = self.messages[f * self.n + t];
            }
        }
        (self.n, self.bytes, self.messages) = (n, bytes, messages);
    }

    /// Adds the calls of one MPI call region `name` of `rank` (its `bytes` and `peer` columns).
    pub fn add(&mut self, rank: u32, name: &str, bytes: &[i64], peer: &[i64]) {
        let calls = peer.len() as u64;
        if creates_communicator(name) {
            *self.communicators.entry(name.to_string()).or_default() += calls;
        }
        let Some(role) = role(name) else {
            *self.not_counted.entry(name.to_string()).or_default() += calls;
            return;
        };
        let me = rank as usize;
        let entry = self.counted.entry(name.to_string()).or_default();
        entry.calls += calls;
        let (mut messages, mut sum) = (0u64, 0u64);
        let mut cells: Vec<(usize, usize, u64)> = Vec::new();
        for (i, &p) in peer.iter().enumerate() {
            if p < 0 {
                if p == PEER_PROC_NULL {
                    self.proc_null += 1;
                } else {
                    self.not_a_rank += 1;
                }
                continue;
            }
            let p = p as usize;
            if role != Role::Send && p == me {
                self.root_self += 1;
                continue;
            }
            let b = bytes.get(i).copied().unwrap_or(-1);
            let b = if b < 0 {
                self.unknown_size += 1;
                0
            } else {
                b as u64
            };
            let (from, to) = if role == Role::FromRoot {
                (p, me)
            } else {
                (me, p)
            };
            cells.push((from, to, b));
            messages += 1;
            sum = sum.saturating_add(b);
        }
        let entry = self.counted.get_mut(name).expect("inserted above");
        entry.messages += messages;
        entry.bytes = entry.bytes.saturating_add(sum);
        if let Some(top) = cells.iter().map(|c| c.0.max(c.1)).max() {
            self.grow(top + 1);
        }
        for (from, to, b) in cells {
            let i = from * self.n + to;
            self.bytes[i] = self.bytes[i].saturating_add(b);
            self.messages[i] += 1;
        }
    }

    pub fn sent(&self, from: usize) -> (u64, u64) {
        (0..self.n).fold((0, 0), |(b, m), t| {
            let (cb, cm) = self.cell(from, t);
            (b + cb, m + cm)
        })
    }

    pub fn received(&self, to: usize) -> (u64, u64) {
        (0..self.n).fold((0, 0), |(b, m), f| {
            let (cb, cm) = self.cell(f, to);
            (b + cb, m + cm)
        })
    }

    pub fn total(&self) -> (u64, u64) {
        (self.bytes.iter().sum(), self.messages.iter().sum())
    }

    /// True when at least one MPI call region was read.
    pub fn has_mpi_calls(&self) -> bool {
        !self.counted.is_empty() || !self.not_counted.is_empty()
    }
}

/// What the output says about the axes (the communicator caveat).
pub fn axes_note(m: &CommMatrix) -> String {
    let base = "peer is a rank of the call's communicator; the agent does not record which \
                communicator a call used, so the axes are MPI_COMM_WORLD ranks only where every \
                counted call was on MPI_COMM_WORLD (or a communicator with the same ranks)";
    if m.communicators.is_empty() {
        base.to_string()
    } else {
        let made: Vec<String> = m
            .communicators
            .iter()
            .map(|(n, c)| format!("{n} ×{c}"))
            .collect();
        format!(
            "{base}; this program created communicators ({}): counted calls on them are placed \
             by their rank in that communicator",
            made.join(", ")
        )
    }
}

/// One line on what is counted.
pub const COUNTED_NOTE: &str = "counted: sends (MPI_Send, Ssend, Bsend, Rsend, their I forms, \
     the send part of MPI_Sendrecv(_replace)) rank → peer, posted calls for non-blocking ones; \
     rooted collectives as one message between root and each other rank, of that rank's \
     payload: MPI_Bcast, MPI_Scatter(v) root → rank, MPI_Reduce, MPI_Gather(v) rank → root \
     (and their I forms); not counted: receives, waits, persistent requests, collectives \
     without a root, MPI_PROC_NULL";

/// Reads the MPI call regions of `ranks` into a matrix (axes at least the file's `ranks`).
pub fn compute(input: &Input) -> Result<CommMatrix> {
    let world = input.reader.attrs()?.ranks.max(0) as usize;
    let top = input.ranks.iter().max().map_or(0, |&r| r as usize + 1);
    let mut m = CommMatrix::new(world.max(top));
    m.ranks = input.ranks.clone();
    for &rank in &input.ranks {
        for name in input.reader.regions(rank)? {
            if !input.reader.is_mpi_call(rank, &name)? {
                continue;
            }
            let column = |c: &str| -> Result<Vec<i64>> {
                Ok(input.reader.column(rank, &name, c)?.unwrap_or_default())
            };
            let peer = column(scope_format::PEER)?;
            let bytes = if role(&name).is_some() {
                column(scope_format::BYTES)?
            } else {
                Vec::new()
            };
            m.add(rank, &name, &bytes, &peer);
        }
    }
    Ok(m)
}

/// Ranks up to which the table prints the full matrix; beyond, the largest pairs.
pub const MAX_TABLE_RANKS: usize = 16;
/// Pairs listed beyond `MAX_TABLE_RANKS`.
pub const TOP_PAIRS: usize = 32;

/// The matrix as text: bytes, then messages (row = sender), with sent/received totals; the
/// counted and uncounted calls and the notes.
pub fn table(m: &CommMatrix, file: &str) -> String {
    let mut o = String::new();
    let (tb, tm) = m.total();
    let _ = writeln!(
        o,
        "{file}: messages between ranks, from the MPI calls' bytes and peer ({} ranks): {} in {tm} messages",
        m.n,
        format_bytes(tb.into())
    );
    if !m.has_mpi_calls() {
        o.push_str("no MPI calls recorded (record them with [mpi] calls = true)\n");
        return o;
    }
    if m.n <= MAX_TABLE_RANKS {
        grid(&mut o, m, "bytes sent", |b, _| {
            if b == 0 {
                "-".into()
            } else {
                format_bytes(b.into())
            }
        });
        grid(&mut o, m, "messages sent", |_, n| {
            if n == 0 {
                "-".into()
            } else {
                n.to_string()
            }
        });
    } else {
        let mut pairs: Vec<(usize, usize, u64, u64)> = (0..m.n * m.n)
            .filter(|&i| m.messages[i] > 0)
            .map(|i| (i / m.n, i % m.n, m.bytes[i], m.messages[i]))
            .collect();
        pairs.sort_by(|a, b| {
            b.2.cmp(&a.2)
                .then(b.3.cmp(&a.3))
                .then((a.0, a.1).cmp(&(b.0, b.1)))
        });
        let _ = writeln!(
            o,
            "{:>6} {:>6} {:>10} {:>9}",
            "from", "to", "bytes", "messages"
        );
        for p in pairs.iter().take(TOP_PAIRS) {
            let _ = writeln!(
                o,
                "{:>6} {:>6} {:>10} {:>9}",
                p.0,
                p.1,
                format_bytes(p.2.into()),
                p.3
            );
        }
        if pairs.len() > TOP_PAIRS {
            let _ = writeln!(
                o,
                "… {} more pairs (--format json has the whole matrix)",
                pairs.len() - TOP_PAIRS
            );
        }
    }
    if !m.counted.is_empty() {
        let list: Vec<String> = m
            .counted
            .iter()
            .map(|(n, c)| {
                let r = role(n).map_or("", Role::label);
                format!(
                    "{n} ({r}: {} messages, {})",
                    c.messages,
                    format_bytes(c.bytes.into())
                )
            })
            .collect();
        let _ = writeln!(o, "by call: {}", list.join(", "));
    }
    let mut skipped = Vec::new();
    if m.proc_null > 0 {
        skipped.push(format!("{} calls to MPI_PROC_NULL", m.proc_null));
    }
    if m.root_self > 0 {
        skipped.push(format!(
            "{} roots' own parts of rooted collectives",
            m.root_self
        ));
    }
    if m.not_a_rank > 0 {
        skipped.push(format!("{} calls whose peer is not a rank", m.not_a_rank));
    }
    if !m.not_counted.is_empty() {
        let names: Vec<String> = m
            .not_counted
            .iter()
            .map(|(n, c)| format!("{n} ×{c}"))
            .collect();
        skipped.push(format!("the calls {}", names.join(", ")));
    }
    if !skipped.is_empty() {
        let _ = writeln!(o, "not counted: {}", skipped.join("; "));
    }
    if m.unknown_size > 0 {
        let _ = writeln!(
            o,
            "{} messages of unknown size (the agent could not read their datatype) are counted as messages, not bytes",
            m.unknown_size
        );
    }
    let _ = writeln!(o, "{COUNTED_NOTE}");
    let _ = writeln!(o, "note: {}", axes_note(m));
    o
}

fn grid(o: &mut String, m: &CommMatrix, what: &str, cell: impl Fn(u64, u64) -> String) {
    let mut rows: Vec<Vec<String>> = Vec::new();
    let mut head = vec!["from\\to".to_string()];
    head.extend((0..m.n).map(|t| t.to_string()));
    head.push("sent".into());
    rows.push(head);
    for f in 0..m.n {
        let mut r = vec![f.to_string()];
        r.extend((0..m.n).map(|t| {
            let (b, n) = m.cell(f, t);
            cell(b, n)
        }));
        let (b, n) = m.sent(f);
        r.push(cell(b, n));
        rows.push(r);
    }
    let mut last = vec!["received".to_string()];
    last.extend((0..m.n).map(|t| {
        let (b, n) = m.received(t);
        cell(b, n)
    }));
    let (b, n) = m.total();
    last.push(cell(b, n));
    rows.push(last);
    let cols = rows[0].len();
    let widths: Vec<usize> = (0..cols)
        .map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0))
        .collect();
    let _ = writeln!(o, "{what} (row: from rank, column: to rank)");
    for r in rows {
        let line: Vec<String> = r
            .iter()
            .enumerate()
            .map(|(c, s)| {
                if c == 0 {
                    format!("{s:<w$}", w = widths[c])
                } else {
                    format!("{s:>w$}", w = widths[c])
                }
            })
            .collect();
        let _ = writeln!(o, "{}", line.join("  ").trim_end());
    }
}

/// The matrix as JSON: exact integers; `bytes[from][to]`, `messages[from][to]`.
pub fn to_json(m: &CommMatrix, file: &str) -> Value {
    let rows = |v: &[u64]| -> Vec<Vec<u64>> { v.chunks(m.n.max(1)).map(<[u64]>::to_vec).collect() };
    let (tb, tm) = m.total();
    json!({
        "file": file,
        "ranks": m.n,
        "ranks_read": m.ranks,
        "bytes": if m.n == 0 { Vec::new() } else { rows(&m.bytes) },
        "messages": if m.n == 0 { Vec::new() } else { rows(&m.messages) },
        "sent_bytes": (0..m.n).map(|r| m.sent(r).0).collect::<Vec<_>>(),
        "sent_messages": (0..m.n).map(|r| m.sent(r).1).collect::<Vec<_>>(),
        "received_bytes": (0..m.n).map(|r| m.received(r).0).collect::<Vec<_>>(),
        "received_messages": (0..m.n).map(|r| m.received(r).1).collect::<Vec<_>>(),
        "total_bytes": tb,
        "total_messages": tm,
        "counted": m.counted.iter().map(|(n, c)| json!({
            "name": n,
            "direction": role(n).map(Role::label),
            "calls": c.calls,
            "messages": c.messages,
            "bytes": c.bytes,
        })).collect::<Vec<_>>(),
        "not_counted": m.not_counted.iter().map(|(n, c)| json!({"name": n, "calls": c}))
            .collect::<Vec<_>>(),
        "skipped": {
            "proc_null": m.proc_null,
            "root_self": m.root_self,
            "not_a_rank": m.not_a_rank,
        },
        "unknown_size_messages": m.unknown_size,
        "communicators_created": m.communicators.iter()
            .map(|(n, c)| json!({"name": n, "calls": c})).collect::<Vec<_>>(),
        "counted_note": COUNTED_NOTE,
        "axes_note": axes_note(m),
    })
}

#[derive(Debug, Parser)]
#[command(
    name = "scope-pproc comm",
    about = "The rank × rank matrix of bytes and messages sent, from the MPI calls' bytes and peer"
)]
struct Cli {
    /// The profile (e.g. profiling_data.h5), recorded with `[mpi] calls`.
    file: PathBuf,
    /// Read the calls of these ranks only: `--ranks 0 2`, `--ranks 0-3`.
    #[arg(long, num_args = 1.., value_name = "RANK", allow_hyphen_values = true)]
    ranks: Vec<String>,
    /// Output on stdout.
    #[arg(long, value_enum, default_value = "table")]
    format: Format,
}

/// `argv[0]` is `comm`.
pub fn main(argv: &[String]) -> Result<()> {
    let cli: Cli = parse(argv)?;
    let input = open(&cli.file, &cli.ranks)?;
    let m = compute(&input)?;
    let shown = cli.file.display().to_string();
    match cli.format {
        Format::Table => print!("{}", table(&m, &shown)),
        Format::Json => println!(
            "{}",
            serde_json::to_string_pretty(&to_json(&m, &shown)).expect("JSON of plain values")
        ),
    }
    Ok(())
}

pub mod heatmap;

#[cfg(test)]
mod tests;
