use super::*;
use scope_format::{PEER_ANY_SOURCE, PEER_NONE, PEER_ROOT};

/// A ring, pairs and rooted collectives on 4 ranks, by hand.
fn pattern() -> CommMatrix {
    let mut m = CommMatrix::new(4);
    for r in 0..4u32 {
        let right = i64::from((r + 1) % 4);
        // ring: 5 × 512 B to the right
        m.add(r, "MPI_Sendrecv", &[512; 5], &[right; 5]);
        // pairs 0↔1 (Isend 3 × 400 B), 2↔3 (Ssend 2 × 2000 B)
        let partner = i64::from(r ^ 1);
        if r < 2 {
            m.add(r, "MPI_Isend", &[400; 3], &[partner; 3]);
            m.add(r, "MPI_Irecv", &[400; 3], &[partner; 3]);
        } else {
            m.add(r, "MPI_Ssend", &[2000; 2], &[partner; 2]);
            m.add(r, "MPI_Recv", &[2000; 2], &[PEER_ANY_SOURCE; 2]);
        }
        // rooted: Bcast 2 × 256 B from 0, Scatter 16 B from 0, Gather 16 B to 3, Reduce 12 B to 2
        m.add(r, "MPI_Bcast", &[256; 2], &[0; 2]);
        m.add(r, "MPI_Scatter", &[16], &[0]);
        m.add(r, "MPI_Gather", &[16], &[3]);
        m.add(r, "MPI_Reduce", &[12], &[2]);
        m.add(r, "MPI_Allreduce", &[8], &[PEER_NONE]);
        m.add(r, "MPI_Send", &[99], &[PEER_PROC_NULL]);
        m.add(r, "MPI_Waitall", &[0], &[PEER_NONE]);
    }
    m
}

pub const WANT_BYTES: [[u64; 4]; 4] = [
    [0, 4288, 540, 544],
    [1200, 0, 2572, 16],
    [0, 0, 0, 6576],
    [2560, 0, 4012, 0],
];
pub const WANT_MESSAGES: [[u64; 4]; 4] = [[0, 11, 4, 4], [3, 0, 6, 1], [0, 0, 0, 8], [5, 0, 3, 0]];

fn rows(m: &CommMatrix, v: &[u64]) -> Vec<Vec<u64>> {
    v.chunks(m.n).map(<[u64]>::to_vec).collect()
}

#[test]
fn ring_pairs_and_roots_give_the_exact_matrix() {
    let m = pattern();
    assert_eq!(rows(&m, &m.bytes), WANT_BYTES.map(|r| r.to_vec()).to_vec());
    assert_eq!(
        rows(&m, &m.messages),
        WANT_MESSAGES.map(|r| r.to_vec()).to_vec()
    );
    // The roots' own parts: Bcast ×2 + Scatter on 0, Gather on 3, Reduce on 2.
    assert_eq!(m.root_self, 5);
    assert_eq!(m.proc_null, 4);
    assert_eq!(m.not_a_rank, 0);
    assert_eq!(
        m.not_counted.keys().collect::<Vec<_>>(),
        ["MPI_Allreduce", "MPI_Irecv", "MPI_Recv", "MPI_Waitall"]
    );
    assert_eq!(
        m.counted["MPI_Bcast"],
        Counted {
            calls: 8,
            messages: 6,
            bytes: 6 * 256
        }
    );
    assert_eq!(m.counted["MPI_Send"].messages, 0);
    assert_eq!(m.total(), (22_308, 45));
    assert_eq!(m.sent(0), (4288 + 540 + 544, 19));
    assert_eq!(m.received(2), (540 + 2572 + 4012, 13));
    let j = to_json(&m, "f.h5");
    assert_eq!(j["bytes"][2][3], 6576);
    assert_eq!(j["messages"][0][1], 11);
    assert_eq!(j["total_messages"], 45);
    assert_eq!(j["skipped"]["proc_null"], 4);
    assert!(j["communicators_created"].as_array().unwrap().is_empty());
}

#[test]
fn the_table_has_both_matrices_with_totals_and_says_what_is_counted() {
    let t = table(&pattern(), "f.h5");
    assert!(
        t.contains("bytes sent (row: from rank, column: to rank)"),
        "{t}"
    );
    assert!(
        t.contains("messages sent (row: from rank, column: to rank)"),
        "{t}"
    );
    let line = |start: &str, after: &str| {
        t.split(after)
            .nth(1)
            .and_then(|rest| rest.lines().find(|l| l.starts_with(start)))
            .unwrap_or_else(|| panic!("no {start:?} line after {after:?}: {t}"))
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
    };
    assert_eq!(line("0 ", "messages sent"), "0 - 11 4 4 19");
    assert_eq!(line("received", "messages sent"), "received 8 11 13 13 45");
    assert_eq!(line("2 ", "bytes sent"), "2 - - - 6.42 KiB 6.42 KiB");
    assert!(t.contains("4 calls to MPI_PROC_NULL"), "{t}");
    assert!(t.contains("MPI_Allreduce ×4"), "{t}");
    assert!(
        t.contains("peer is a rank of the call's communicator"),
        "{t}"
    );
    assert!(!t.contains("this program created communicators"), "{t}");
}

#[test]
fn peers_that_are_not_ranks_unknown_sizes_and_larger_peers() {
    let mut m = CommMatrix::new(2);
    m.add(0, "MPI_Isend", &[-1, 8], &[1, 1]);
    m.add(1, "MPI_Bcast", &[4], &[PEER_ROOT]);
    m.add(1, "MPI_Send", &[4], &[5]);
    m.add(0, "MPI_Comm_split", &[0], &[PEER_NONE]);
    assert_eq!(m.cell(0, 1), (8, 2));
    assert_eq!(m.unknown_size, 1);
    assert_eq!(m.not_a_rank, 1);
    // A peer past the file's ranks widens the axes.
    assert_eq!(m.n, 6);
    assert_eq!(m.cell(1, 5), (4, 1));
    assert_eq!(m.cell(0, 1), (8, 2), "cells kept when the axes grow");
    assert_eq!(m.communicators["MPI_Comm_split"], 1);
    let t = table(&m, "f");
    assert!(
        t.contains("this program created communicators (MPI_Comm_split ×1)"),
        "{t}"
    );
    assert!(t.contains("1 messages of unknown size"), "{t}");
}

#[test]
fn roles_of_calls() {
    assert_eq!(role("MPI_Sendrecv_replace"), Some(Role::Send));
    assert_eq!(role("MPI_Ibcast"), Some(Role::FromRoot));
    assert_eq!(role("MPI_Iscatterv"), Some(Role::FromRoot));
    assert_eq!(role("MPI_Igatherv"), Some(Role::ToRoot));
    for n in [
        "MPI_Recv",
        "MPI_Send_init",
        "MPI_Allreduce",
        "MPI_Wait",
        "MPI_Start",
        "Send",
    ] {
        assert_eq!(role(n), None, "{n}");
    }
    assert!(creates_communicator("MPI_Comm_split_type") && creates_communicator("MPI_Cart_sub"));
    assert!(!creates_communicator("MPI_Comm_rank") && !creates_communicator("MPI_Comm_free"));
}

#[test]
fn many_ranks_list_the_largest_pairs() {
    let mut m = CommMatrix::new(40);
    for r in 0..40u32 {
        m.add(
            r,
            "MPI_Send",
            &[i64::from(r) * 10],
            &[i64::from((r + 1) % 40)],
        );
    }
    let t = table(&m, "f");
    let first = t
        .lines()
        .nth(2)
        .unwrap()
        .split_whitespace()
        .collect::<Vec<_>>();
    assert_eq!(first, ["39", "0", "390", "B", "1"], "{t}");
    assert!(t.contains("… 8 more pairs"), "{t}");
}

#[test]
fn heat_map_cells_carry_exact_figures_and_bin_many_ranks() {
    let p = heatmap::panel(&pattern(), 0.0);
    assert!(p.markup.contains("Communication matrix"));
    assert_eq!(p.markup.matches("class=\"comm-cell\"").count(), 9);
    assert!(p
        .markup
        .contains(r#"data-from="2" data-to="3" data-bytes="6576" data-messages="8""#));
    assert!(p.markup.contains("rank 2 → rank 3: 6.42 KiB in 8 messages"));
    let mut big = CommMatrix::new(300);
    for r in 0..300u32 {
        big.add(r, "MPI_Send", &[1], &[i64::from((r + 1) % 300)]);
    }
    let p = heatmap::panel(&big, 0.0);
    assert!(p.markup.contains(r#"data-bin="3""#));
    assert!(p.markup.matches("class=\"comm-cell\"").count() <= 2 * heatmap::MAX_CELLS);
    let empty = heatmap::panel(&CommMatrix::new(2), 0.0);
    assert!(empty.markup.contains("no messages counted"));
}
