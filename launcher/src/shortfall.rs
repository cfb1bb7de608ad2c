//! Whether the profile holds every rank scope-run launched. A run of `-n N` whose file holds
//! fewer rank groups is a failure even when the program exited 0: the ranks started as separate
//! MPI jobs (a launcher or `srun --mpi` plugin that does not match the program's MPI gives N
//! one-rank worlds that race for one output file), or ranks lost their data.
//! Invariant: only a file that exists is judged (a run that wrote none is reported elsewhere
//! and keeps the program's status); the message names the launched count, the held count and
//! the world size the file records.

use crate::mpi::Kind;
use scope_format::ProfileReader;
use std::path::Path;

/// The lines to print when `output` holds fewer than `launched` ranks, else `None`. `plugin` is
/// the `srun --mpi` plugin for the program's MPI, where known (named in the advice for Slurm).
pub fn check(
    output: &Path,
    launched: u32,
    kind: Kind,
    plugin: Option<&str>,
) -> Option<Vec<String>> {
    let reader = ProfileReader::open(output).ok()?;
    let held = reader.ranks().ok()?;
    if held.len() >= launched as usize {
        return None;
    }
    let world = reader.attrs().map(|a| a.ranks).unwrap_or(0);
    let mut lines = vec![format!(
        "error: {launched} ranks were launched but {} holds {} ({})",
        output.display(),
        held.len(),
        list(&held)
    )];
    if world < i64::from(launched) {
        lines.push(format!(
            "error: the ranks' MPI_COMM_WORLD had {world} rank(s), not {launched}: they started \
             as separate MPI jobs, not as one"
        ));
        if kind == Kind::Slurm {
            let which = plugin.map_or_else(
                || "--mpi=pmix (Open MPI) or --mpi=pmi2 (MPICH)".to_string(),
                |p| format!("--mpi={p}"),
            );
            lines.push(format!(
                "error: srun's MPI plugin does not serve the program's MPI; this one needs {which}"
            ));
        }
    } else {
        let missing: Vec<u32> = (0..launched).filter(|r| !held.contains(r)).collect();
        lines.push(format!(
            "error: no data from rank(s) {} of the {world}",
            list(&missing)
        ));
    }
    Some(lines)
}

/// `0, 2, 5`, or `none`.
fn list(ranks: &[u32]) -> String {
    if ranks.is_empty() {
        return "none".to_string();
    }
    ranks
        .iter()
        .map(u32::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use scope_format::merge_rank_dir;
    use std::path::PathBuf;

    /// A merged file of a world of `world` ranks of which `present` left data.
    fn merged(name: &str, world: u32, present: &[u32]) -> (PathBuf, PathBuf) {
        let base = std::env::temp_dir().join(format!("scope-short-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&base);
        let dir = base.join(".scope-profiling_data-abc123");
        crate::test_files::rank_files(&dir, present, "compute", true);
        let out = base.join("profiling_data.h5");
        merge_rank_dir(&dir, world, &out, false).unwrap();
        (base, out)
    }

    #[test]
    fn a_full_world_passes() {
        let (base, out) = merged("full", 3, &[0, 1, 2]);
        assert_eq!(check(&out, 3, Kind::Slurm, None), None);
        std::fs::remove_dir_all(&base).unwrap();
    }

    #[test]
    fn one_rank_worlds_are_named_with_the_srun_hint() {
        let (base, out) = merged("single", 1, &[0]);
        let lines = check(&out, 6, Kind::Slurm, Some("pmi2")).unwrap();
        assert!(
            lines[0].starts_with("error: 6 ranks were launched but ")
                && lines[0].ends_with(" holds 1 (0)"),
            "{lines:?}"
        );
        assert!(lines[1].contains("had 1 rank(s), not 6"), "{lines:?}");
        assert!(lines[2].ends_with("this one needs --mpi=pmi2"), "{lines:?}");
        let unknown = check(&out, 6, Kind::Slurm, None).unwrap();
        assert!(
            unknown[2].contains("--mpi=pmix (Open MPI) or --mpi=pmi2"),
            "{unknown:?}"
        );
        assert_eq!(check(&out, 6, Kind::OpenMpi, None).unwrap().len(), 2);
        std::fs::remove_dir_all(&base).unwrap();
    }

    #[test]
    fn ranks_without_data_are_named() {
        let (base, out) = merged("lost", 4, &[0, 2]);
        let lines = check(&out, 4, Kind::Hydra, None).unwrap();
        assert!(lines[0].ends_with(" holds 2 (0, 2)"), "{lines:?}");
        assert_eq!(lines[1], "error: no data from rank(s) 1, 3 of the 4");
        std::fs::remove_dir_all(&base).unwrap();
    }

    #[test]
    fn no_file_is_not_judged_here() {
        let none = Path::new("/nonexistent/x.h5");
        assert_eq!(check(none, 4, Kind::Slurm, None), None);
    }
}
