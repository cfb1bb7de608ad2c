//! Measuring each rank's `CLOCK_MONOTONIC` against rank 0's with the program's own MPI (on the
//! agent's communicator), as Score-P and Intel's trace collector do: ping-pongs between rank 0
//! and one rank per clock, keeping the sample with the smallest round trip.
//!
//! Ranks share a clock when they share a kernel boot and a time namespace (`boot_id` and the
//! `/proc/self/ns/time` link): those get rank 0's clock exactly (offset 0, error 0) when they
//! share rank 0's, else the measurement of the lowest rank of their clock. One measurement per
//! clock (per node, on a real cluster), so the cost grows with nodes, not ranks.
//!
//! Invariants: every rank of the world calls `measure` at the same point (it is collective);
//! the offset is the rank's clock minus rank 0's at the same instant; the error bound is half
//! the smallest round trip (the true offset lies within it).

use super::Mpi;
use crate::base::clock::monotonic_ns;
use scope_format::ClockSample;

/// Ping-pongs per clock: at least `MIN_ROUNDS`, then on until a round trip under `GOOD_RTT_NS`
/// was seen or `MAX_ROUNDS` were made; the smallest round trip wins. (On a node with more
/// ranks than cores a round trip can wait for a time slice: more tries find a quick one.)
const MIN_ROUNDS: usize = 10;
const MAX_ROUNDS: usize = 50;
const GOOD_RTT_NS: i64 = 50_000;
/// Bytes of a clock's identity in the exchange.
const KEY_LEN: usize = 96;
const TAG: i32 = 0x5c09;

/// What identifies this process's `CLOCK_MONOTONIC`: the kernel boot and the time namespace.
fn clock_key() -> [u8; KEY_LEN] {
    let boot = std::fs::read_to_string("/proc/sys/kernel/random/boot_id").unwrap_or_default();
    let ns = std::fs::read_link("/proc/self/ns/time")
        .map(|p| p.to_string_lossy().into_owned())
        .unwrap_or_default();
    let text = format!("{}|{}", boot.trim(), ns);
    let mut key = [0u8; KEY_LEN];
    let n = text.len().min(KEY_LEN);
    key[..n].copy_from_slice(&text.as_bytes()[..n]);
    key
}

/// For every rank, the lowest rank that shares its clock.
fn clock_leaders(keys: &[u8], size: usize) -> Vec<usize> {
    let key = |r: usize| &keys[r * KEY_LEN..(r + 1) * KEY_LEN];
    (0..size)
        .map(|r| (0..=r).find(|&l| key(l) == key(r)).unwrap_or(r))
        .collect()
}

/// Rank 0's side of the ping-pong with `peer`: (offset, error) of `peer`'s clock.
fn measure_peer(m: &Mpi, peer: i32) -> (i64, i64) {
    let mut best = (i64::MAX, 0i64);
    let mut reply = [0u8; 8];
    let mut rounds = 0;
    while rounds < MIN_ROUNDS || (best.0 > GOOD_RTT_NS && rounds < MAX_ROUNDS) {
        let t0 = monotonic_ns();
        m.send_bytes(&PING, peer, TAG);
        m.recv_bytes(&mut reply, peer, TAG);
        let t1 = monotonic_ns();
        let theirs = i64::from_le_bytes(reply);
        let rtt = t1 - t0;
        if rtt < best.0 {
            best = (rtt, theirs - (t0 + rtt / 2));
        }
        rounds += 1;
    }
    m.send_bytes(&DONE, peer, TAG);
    (best.1, (best.0 + 1) / 2)
}

const PING: [u8; 8] = [1, 0, 0, 0, 0, 0, 0, 0];
const DONE: [u8; 8] = [0; 8];

/// A clock leader's side: answer each ping with the time now, until rank 0 is done.
fn answer(m: &Mpi) {
    let mut ping = [0u8; 8];
    // Rank 0 may be measuring other clocks first: wait for it without spinning.
    m.recv_bytes_sleeping(&mut ping, 0, TAG);
    loop {
        if ping != PING {
            return;
        }
        m.send_bytes(&monotonic_ns().to_le_bytes(), 0, TAG);
        m.recv_bytes(&mut ping, 0, TAG);
    }
}

/// Collective: this rank's clock against rank 0's, now; and how long this rank waited in the
/// first exchange for the others to arrive (not the measurement's own cost: the program's
/// next collective would have waited as long).
pub fn measure(m: &Mpi, rank: u32, size: u32) -> (ClockSample, i64) {
    let size = size.max(1) as usize;
    let rank = rank as usize;
    let arrived = monotonic_ns();
    let keys = m.allgather_bytes(&clock_key());
    let waited = monotonic_ns() - arrived;
    let leaders = clock_leaders(&keys, size);
    // Per rank: offset and error, filled in by rank 0 and broadcast.
    let mut table = vec![0u8; size * 16];
    if rank == 0 {
        let mut per_leader = std::collections::HashMap::new();
        for (r, &l) in leaders.iter().enumerate() {
            if l != r || leaders[0] == l {
                continue; // not a leader, or rank 0's own clock
            }
            per_leader.insert(l, measure_peer(m, l as i32));
        }
        for (r, &l) in leaders.iter().enumerate() {
            let (off, err) = per_leader.get(&l).copied().unwrap_or((0, 0));
            table[r * 16..r * 16 + 8].copy_from_slice(&off.to_le_bytes());
            table[r * 16 + 8..r * 16 + 16].copy_from_slice(&err.to_le_bytes());
        }
    } else if leaders[rank] == rank && leaders[0] != rank {
        answer(m);
    }
    // The ranks not measured wait without spinning (they would take the CPU from the
    // ping-pongs where ranks outnumber cores); every rank uses the same, non-blocking, call.
    m.bcast_bytes_sleeping(&mut table);
    let at = |i: usize| i64::from_le_bytes(table[i..i + 8].try_into().expect("8 bytes"));
    let sample = ClockSample {
        at_ns: monotonic_ns(),
        offset_ns: at(rank * 16),
        error_ns: at(rank * 16 + 8),
    };
    (sample, waited)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranks_sharing_a_clock_follow_its_lowest_rank() {
        let mut keys = Vec::new();
        for k in [b'a', b'b', b'a', b'c', b'b'] {
            keys.extend_from_slice(&[k; KEY_LEN]);
        }
        assert_eq!(clock_leaders(&keys, 5), vec![0, 1, 0, 3, 1]);
    }

    #[test]
    fn this_process_has_a_clock_identity() {
        let k = clock_key();
        assert!(k.iter().any(|&b| b != 0));
        assert_eq!(k, clock_key());
    }
}
