//! The rank and size an MPI launcher gives a process in its environment, before (or without)
//! any MPI call: Open MPI's `mpirun` (`OMPI_COMM_WORLD_RANK`/`_SIZE`), MPICH's Hydra and other
//! PMI launchers (`PMI_RANK`/`PMI_SIZE`), Slurm's `srun` (`SLURM_PROCID`/`SLURM_NTASKS`).
//! Invariant: a pair is returned only when both values parse and rank < size.

/// The launcher's `(rank, size)` for this process, if it was started by one.
pub fn launcher_rank() -> Option<(u32, u32)> {
    const PAIRS: [(&str, &str); 3] = [
        ("OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE"),
        ("PMI_RANK", "PMI_SIZE"),
        ("SLURM_PROCID", "SLURM_NTASKS"),
    ];
    let num = |k: &str| std::env::var(k).ok()?.trim().parse::<u32>().ok();
    PAIRS
        .iter()
        .find_map(|(r, s)| Some((num(r)?, num(s)?)))
        .filter(|(r, s)| r < s)
}
