//! The worlds a run produced: the launched world's output and the world files
//! (`<stem>.world<K>.<ext>`) that worlds started with `MPI_Comm_spawn` wrote beside it.
//! Invariant: only world files modified at or after the run started count (a world file of an
//! earlier run in the same directory is never reported as this run's).

use scope_format::ProfileReader;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// One spawned world's file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorldFile {
    pub world: u32,
    pub path: PathBuf,
}

/// The world files of `output` modified at or after `since`, by K.
pub fn spawned(output: &Path, since: SystemTime) -> Vec<WorldFile> {
    let dir = output.parent().unwrap_or(Path::new("."));
    let mut v: Vec<WorldFile> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let world = scope_format::world_of_file_name(output, &e.file_name().to_string_lossy())?;
            let m = e.metadata().ok()?;
            (m.is_file() && m.modified().ok()? >= since).then(|| WorldFile {
                world,
                path: e.path(),
            })
        })
        .collect();
    v.sort_by_key(|w| w.world);
    v
}

/// `name (N ranks)`, `name (1 rank)` or `name (no profile)`.
fn describe(path: &Path) -> String {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    match ProfileReader::open(path).and_then(|r| r.attrs()) {
        Ok(a) if a.ranks == 1 => format!("{name} (1 rank)"),
        Ok(a) => format!("{name} ({} ranks)", a.ranks),
        Err(_) => format!("{name} (no profile)"),
    }
}

/// `N worlds ran: <output> (…), <world file> (…), …`, or None when only the launched one did.
pub fn line(output: &Path, spawned: &[WorldFile]) -> Option<String> {
    if spawned.is_empty() {
        return None;
    }
    let all: Vec<String> = std::iter::once(describe(output))
        .chain(spawned.iter().map(|w| describe(&w.path)))
        .collect();
    Some(format!("{} worlds ran: {}", all.len(), all.join(", ")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use scope_format::merge_rank_dir;

    fn profile(dir: &Path, out: &Path, ranks: u32) {
        let all: Vec<u32> = (0..ranks).collect();
        crate::test_files::rank_files(dir, &all, "work", true);
        merge_rank_dir(dir, ranks, out, true).unwrap();
    }

    #[test]
    fn finds_this_runs_world_files_and_names_them() {
        let base = std::env::temp_dir().join(format!("scope-worlds-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&base);
        std::fs::create_dir_all(&base).unwrap();
        let out = base.join("p.h5");
        profile(&base.join("a"), &out, 1);
        std::fs::write(base.join("p.world1.h5"), b"an earlier run's").unwrap();
        std::thread::sleep(std::time::Duration::from_millis(20));
        let since = SystemTime::now();
        std::thread::sleep(std::time::Duration::from_millis(20));
        profile(&base.join("b"), &base.join("p.world3.h5"), 2);
        profile(&base.join("c"), &base.join("p.world2.h5"), 1);
        std::fs::write(base.join("q.world4.h5"), b"another output's").unwrap();
        let found = spawned(&out, since);
        let ks: Vec<u32> = found.iter().map(|w| w.world).collect();
        assert_eq!(ks, vec![2, 3]);
        assert_eq!(
            line(&out, &found).unwrap(),
            "3 worlds ran: p.h5 (1 rank), p.world2.h5 (1 rank), p.world3.h5 (2 ranks)"
        );
        assert_eq!(line(&out, &[]), None);
        std::fs::remove_dir_all(&base).unwrap();
    }
}
