//! Where the rank files go, on one node or many. Rank 0 makes the private directory next to
//! the output (or under `SCOPE_TMPDIR`) and broadcasts its path with a random token written
//! into it; each rank checks that it sees that very directory. A rank that does not (the
//! directory is on rank 0's node-local disk, or `SCOPE_TMPDIR` is node-local) writes its file
//! into a private directory of its own node, and at `MPI_Finalize` sends the closed file to
//! rank 0 over MPI, which puts it beside the others before merging. Where every rank sees the
//! directory nothing is sent.
//!
//! Invariants: `agree` and `send_to_rank_0` are collective (every rank calls them at the same
//! point, whatever failed locally, so no rank hangs); a rank removes its node-local copy only
//! after rank 0 said it wrote the file; a rank that dies before finalize leaves its file on its
//! node and is named missing in the merged file.

use crate::base::log;
use crate::mpi::Mpi;
use crate::output;
use scope_format::rank_file_name;
use std::path::{Path, PathBuf};

/// The token file rank 0 writes into its directory.
const TOKEN_FILE: &str = ".scope-token";
const TAG: i32 = 0x5c0a;
/// Bytes per message when a file is sent (MPI counts are `int`).
const CHUNK: usize = 8 << 20;

/// Where this rank's file goes and which ranks must send theirs.
#[derive(Debug, Clone, Default)]
pub struct Placement {
    /// Rank 0's directory (the one the merge reads), if it could be made.
    pub shared: Option<PathBuf>,
    /// This rank's own directory when it does not see `shared`.
    pub local: Option<PathBuf>,
    /// Per rank: it sees `shared` (false: it sends its file at finalize).
    pub sees: Vec<bool>,
}

impl Placement {
    /// The directory this rank writes its file into.
    pub fn my_dir(&self) -> Option<&Path> {
        self.local.as_deref().or(self.shared.as_deref())
    }

    /// The ranks that send their file to rank 0 (never rank 0; nobody without a directory).
    pub fn senders(&self) -> Vec<u32> {
        if self.shared.is_none() {
            return Vec::new();
        }
        (1..self.sees.len() as u32)
            .filter(|&r| !self.sees[r as usize])
            .collect()
    }
}

fn token() -> String {
    let t = crate::base::clock::monotonic_ns();
    format!(
        "{:x}-{:x}-{:x}",
        std::process::id(),
        t,
        &t as *const i64 as usize
    )
}

/// Collective, right after the real `MPI_Init`: makes rank 0's directory and decides, per rank,
/// whether it sees it.
pub fn agree(m: &Mpi, rank: u32, out: &Path, spawned: bool) -> Placement {
    let mut buf = vec![0u8; 4096];
    if rank == 0 {
        match output::make_world_tmpdir(out, spawned) {
            Ok(d) => {
                let tok = token();
                if let Err(e) = std::fs::write(d.join(TOKEN_FILE), &tok) {
                    log::error(&format!("cannot write into {}: {e}", d.display()));
                }
                let text = format!("{}\n{tok}", d.display());
                if text.len() < buf.len() {
                    buf[..text.len()].copy_from_slice(text.as_bytes());
                }
            }
            Err(e) => log::error(&format!("{e}; not profiling")),
        }
    }
    m.bcast_bytes(&mut buf);
    let end = buf.iter().position(|&b| b == 0).unwrap_or(0);
    let text = String::from_utf8_lossy(&buf[..end]).into_owned();
    let (dir, tok) = text.split_once('\n').unwrap_or(("", ""));
    let shared = (!dir.is_empty()).then(|| PathBuf::from(dir));
    let seen = shared
        .as_ref()
        .is_some_and(|d| std::fs::read_to_string(d.join(TOKEN_FILE)).is_ok_and(|t| t == tok));
    let sees: Vec<bool> = m
        .allgather_bytes(&[u8::from(seen)])
        .into_iter()
        .map(|b| b != 0)
        .collect();
    if rank == 0 {
        // Every rank has looked: the directory holds only rank files from here on.
        if let Some(d) = &shared {
            let _ = std::fs::remove_file(d.join(TOKEN_FILE));
        }
    }
    let local = (shared.is_some() && !seen)
        .then(|| own_dir(out, spawned))
        .flatten();
    Placement {
        shared,
        local,
        sees,
    }
}

/// A private directory on this rank's node: where rank 0's would be, else the system's
/// temporary directory.
fn own_dir(out: &Path, spawned: bool) -> Option<PathBuf> {
    let tmp = std::env::temp_dir().join(out.file_name().unwrap_or_default());
    match output::make_world_tmpdir(out, spawned)
        .or_else(|_| output::make_world_tmpdir(&tmp, spawned))
    {
        Ok(d) => Some(d),
        Err(e) => {
            log::error(&format!("{e}; my data will be missing"));
            None
        }
    }
}

/// Collective, at `MPI_Finalize` after every rank closed its file: the ranks that do not see
/// rank 0's directory send their file there. Returns how many files arrived (rank 0).
pub fn send_to_rank_0(m: &Mpi, rank: u32, p: &Placement) -> usize {
    let senders = p.senders();
    if senders.is_empty() {
        return 0;
    }
    if rank == 0 {
        let mut arrived = 0;
        for r in senders {
            if receive(m, r, p.shared.as_deref()) {
                arrived += 1;
            }
        }
        arrived
    } else {
        if senders.contains(&rank) {
            send(m, rank, p.local.as_deref());
        }
        0
    }
}

/// A sender: the file's length (-1: none), its bytes, then rank 0's word that it is written.
fn send(m: &Mpi, rank: u32, dir: Option<&Path>) {
    let file = dir.map(|d| d.join(rank_file_name(rank)));
    let bytes = file.as_ref().and_then(|f| std::fs::read(f).ok());
    let len = bytes.as_ref().map_or(-1i64, |b| b.len() as i64);
    m.send_bytes(&len.to_le_bytes(), 0, TAG);
    for part in bytes.as_deref().unwrap_or(&[]).chunks(CHUNK) {
        m.send_bytes(part, 0, TAG);
    }
    let mut ok = [0u8; 1];
    m.recv_bytes(&mut ok, 0, TAG);
    if ok[0] == 1 {
        if let (Some(f), Some(d)) = (&file, dir) {
            let _ = std::fs::remove_file(f);
            let _ = std::fs::remove_dir(d);
        }
    } else if let Some(f) = &file {
        log::error(&format!(
            "rank 0 could not take my file; it stays in {}",
            f.display()
        ));
    }
}

/// Rank 0: one sender's file into `dir`.
fn receive(m: &Mpi, from: u32, dir: Option<&Path>) -> bool {
    let mut len = [0u8; 8];
    m.recv_bytes(&mut len, from as i32, TAG);
    let len = i64::from_le_bytes(len);
    let mut bytes = vec![0u8; len.max(0) as usize];
    for part in bytes.chunks_mut(CHUNK) {
        m.recv_bytes(part, from as i32, TAG);
    }
    let written = len >= 0
        && dir.is_some_and(|d| {
            let path = d.join(rank_file_name(from));
            match std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&path)
                .and_then(|mut f| std::io::Write::write_all(&mut f, &bytes))
            {
                Ok(()) => true,
                Err(e) => {
                    log::error(&format!(
                        "cannot write rank {from}'s file {}: {e}",
                        path.display()
                    ));
                    false
                }
            }
        });
    m.send_bytes(&[u8::from(written)], from as i32, TAG);
    written
}
