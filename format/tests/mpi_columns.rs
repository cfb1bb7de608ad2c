//! MPI call regions carry two further columns (`bytes`, `peer`) and ranks an MPI window; both
//! survive the merge unchanged (through a rank file's manifest and through HDF5), and a region
//! without them is not an MPI call.

use scope_format::{merge_rank_dir, rank_file_name, ProfileReader, RankAttrs, RankWriter};

#[test]
fn further_columns_and_window_survive_the_merge() {
    let dir = std::env::temp_dir().join(format!("scope-mpicols-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    for rank in 0..2u32 {
        let attrs = RankAttrs {
            rank: rank.into(),
            ..Default::default()
        };
        let mut w = RankWriter::create(&dir.join(rank_file_name(rank)), attrs).unwrap();
        let n = 20_000i64 + i64::from(rank);
        let s: Vec<i64> = (0..n).collect();
        let bytes: Vec<i64> = s.iter().map(|i| i * 8).collect();
        let peer: Vec<i64> = s.iter().map(|i| i % 3 - 1).collect();
        // Two appends: the second continues the further columns where the first ended.
        let k = 5000;
        let cols = |a: usize, b: usize| [("bytes", &bytes[a..b]), ("peer", &peer[a..b])];
        w.append_with("MPI_Send", &s[..k], &s[..k], &s[..k], &cols(0, k))
            .unwrap();
        let m = s.len();
        w.append_with("MPI_Send", &s[k..], &s[k..], &s[k..], &cols(k, m))
            .unwrap();
        w.append("compute", &s[..10], &s[..10], &s[..10]).unwrap();
        // A later append without the region's further columns is refused.
        assert!(w.append("MPI_Send", &s[..1], &s[..1], &s[..1]).is_err());
        w.set_window(Some(100 + i64::from(rank)), None).unwrap();
        w.set_window(None, Some(900)).unwrap();
        w.finish().unwrap();
    }
    // Rank 1 without its manifest (as a rank killed before closing would be): merged through
    // HDF5; rank 0 through its manifest. Both paths copy the further columns and the window.
    {
        use std::os::unix::fs::FileExt;
        let f = std::fs::OpenOptions::new()
            .write(true)
            .open(dir.join(rank_file_name(1)))
            .unwrap();
        f.write_all_at(&[0u8; 64], 0).unwrap();
    }
    let out = dir.with_extension("h5");
    let _ = std::fs::remove_file(&out);
    merge_rank_dir(&dir, 2, &out, true).unwrap();
    let r = ProfileReader::open(&out).unwrap();
    for rank in 0..2u32 {
        let n = 20_000 + rank as usize;
        assert!(r.is_mpi_call(rank, "MPI_Send").unwrap());
        assert!(!r.is_mpi_call(rank, "compute").unwrap());
        let bytes = r.column(rank, "MPI_Send", "bytes").unwrap().unwrap();
        let peer = r.column(rank, "MPI_Send", "peer").unwrap().unwrap();
        assert_eq!(bytes.len(), n);
        assert_eq!(
            bytes.iter().sum::<i64>(),
            (0..n as i64).map(|i| i * 8).sum()
        );
        assert_eq!(peer[..4], [-1, 0, 1, -1]);
        assert_eq!(r.column(rank, "compute", "bytes").unwrap(), None);
        assert_eq!(r.intervals(rank, "MPI_Send").unwrap().len(), n);
        assert_eq!(
            r.window(rank).unwrap(),
            (Some(100 + i64::from(rank)), Some(900))
        );
    }
    drop(r);
    let _ = std::fs::remove_file(&out);
    let _ = std::fs::remove_dir_all(&dir);
}
