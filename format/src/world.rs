//! Worlds: the MPI world that was launched and the worlds it started with `MPI_Comm_spawn`
//! (mpi4py.futures' `MPIPoolExecutor`, manager/worker codes). Each world's rank 0 merges that
//! world's ranks into a file of its own: the launched world into the output, a spawned world
//! into the first free `<stem>.world<K>.<ext>` (K = 1, 2, …) beside it. The root attribute
//! `world` says which: 0 for the launched world, K for `<stem>.world<K>.<ext>`.
//! The private directories of per-rank files are `.scope-<stem>-XXXXXX` (launched world) and
//! `.scope-<stem>-world-XXXXXX` (a spawned world), so a salvage tells them apart.
//! Invariant: a world file is created exclusively, never over anything; a world that loses the
//! race for a name to another takes the next one.

use crate::error::AtPath;
use crate::merge::{merge_rank_dir, DirMerge};
use crate::FormatError;
use std::path::{Path, PathBuf};

/// The root attribute naming the world of a merged file (int64; 0 = the launched world).
pub const WORLD_ATTR: &str = "world";

fn stem_ext(output: &Path) -> (String, String) {
    let stem = output
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let ext = output
        .extension()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "h5".into());
    (stem, ext)
}

/// `<stem>.world<k>.<ext>` beside `output`.
pub fn world_file(output: &Path, k: u32) -> PathBuf {
    let (stem, ext) = stem_ext(output);
    output.with_file_name(format!("{stem}.world{k}.{ext}"))
}

/// K if `name` (a file name) is `<stem>.world<K>.<ext>` of `output`, K ≥ 1.
pub fn world_of_file_name(output: &Path, name: &str) -> Option<u32> {
    let (stem, ext) = stem_ext(output);
    let k = name
        .strip_prefix(&format!("{stem}.world"))?
        .strip_suffix(&format!(".{ext}"))?;
    if k.is_empty() || !k.bytes().all(|b| b.is_ascii_digit()) || k.starts_with('0') {
        return None;
    }
    k.parse().ok()
}

/// The name of a private directory of per-rank files without its six random characters:
/// `.scope-<stem>-` for the launched world, `.scope-<stem>-world-` for a spawned one.
pub fn private_dir_prefix(output: &Path, spawned: bool) -> String {
    let (stem, _) = stem_ext(output);
    if spawned {
        format!(".scope-{stem}-world-")
    } else {
        format!(".scope-{stem}-")
    }
}

/// Writes the `world` root attribute into the merged file `path`.
pub fn write_world(path: &Path, world: u32) -> Result<(), FormatError> {
    let file = crate::files::open_rw(path).at(path)?;
    crate::attrs::write_i64(&file, WORLD_ATTR, world.into(), path)?;
    file.close().at(path)
}

/// The root attribute saying how many ranks did not see rank 0's directory and sent their
/// files to rank 0 over MPI (absent: every rank wrote into the directory the merge read).
pub const SENT_OVER_MPI_ATTR: &str = "rank_files_sent_over_mpi";

/// Writes [`SENT_OVER_MPI_ATTR`] into the merged file `path`.
pub fn write_sent_over_mpi(path: &Path, n: i64) -> Result<(), FormatError> {
    let file = crate::files::open_rw(path).at(path)?;
    crate::attrs::write_i64(&file, SENT_OVER_MPI_ATTR, n, path)?;
    file.close().at(path)
}

/// [`SENT_OVER_MPI_ATTR`] of a merged file, if written.
pub fn read_sent_over_mpi(path: &Path) -> Option<i64> {
    let file = crate::files::open(path).ok()?;
    crate::attrs::read_i64(&file, SENT_OVER_MPI_ATTR)
}

/// The root attribute listing the Python regions that matched no function that ran, one per
/// line: the region as written, a tab, and the closest functions that did run (`, `-separated).
pub const PYTHON_UNMATCHED_ATTR: &str = "python_regions_unmatched";

/// Writes [`PYTHON_UNMATCHED_ATTR`] into the merged file `path`: `(region, closest)` pairs.
pub fn write_python_unmatched(
    path: &Path,
    unmatched: &[(String, Vec<String>)],
) -> Result<(), FormatError> {
    let text: Vec<String> = unmatched
        .iter()
        .map(|(r, close)| format!("{r}\t{}", close.join(", ")))
        .collect();
    let file = crate::files::open_rw(path).at(path)?;
    crate::attrs::write_str(&file, PYTHON_UNMATCHED_ATTR, &text.join("\n"), path)?;
    file.close().at(path)
}

/// [`PYTHON_UNMATCHED_ATTR`] of a merged file: `(region, closest)` pairs (empty if absent).
pub fn read_python_unmatched(path: &Path) -> Vec<(String, Vec<String>)> {
    let Some(text) = crate::files::open(path)
        .ok()
        .and_then(|f| crate::attrs::read_str(&f, PYTHON_UNMATCHED_ATTR))
    else {
        return Vec::new();
    };
    text.lines()
        .filter(|l| !l.is_empty())
        .map(|l| {
            let (r, close) = l.split_once('\t').unwrap_or((l, ""));
            let close = close
                .split(", ")
                .filter(|c| !c.is_empty())
                .map(str::to_string)
                .collect();
            (r.to_string(), close)
        })
        .collect()
}

/// The `world` root attribute of a merged file (None: unreadable, or written before worlds
/// were recorded).
pub fn read_world(path: &Path) -> Option<u32> {
    let file = crate::files::open(path).ok()?;
    let w = crate::attrs::read_i64(&file, WORLD_ATTR)?;
    u32::try_from(w).ok()
}

/// Something (a file, a directory, a symlink, even a dangling one) is at `p`.
fn taken(p: &Path) -> bool {
    std::fs::symlink_metadata(p).is_ok()
}

/// `output` if free, else the first free `<stem>.<N>.<ext>` beside it. A symlink, dangling or
/// not, makes a name taken: the merge creates the file exclusively and never follows one.
pub fn free_output_name(output: &Path) -> PathBuf {
    if !taken(output) {
        return output.to_path_buf();
    }
    let (stem, ext) = stem_ext(output);
    (1..)
        .map(|n| output.with_file_name(format!("{stem}.{n}.{ext}")))
        .find(|p| !taken(p))
        .expect("some name is free")
}

/// Merges the launched world's per-rank files of `dir` (see [`merge_rank_dir`]) into `target`
/// (created; fails if it exists) and writes `world = 0` into it.
pub fn merge_launched_world(
    dir: &Path,
    world_size: u32,
    target: &Path,
    finished: bool,
) -> Result<WorldMerge, FormatError> {
    let merge = merge_rank_dir(dir, world_size, target, finished)?;
    Ok(WorldMerge {
        path: target.to_path_buf(),
        world: 0,
        merge,
        attr_error: write_world(target, 0).err().map(|e| e.to_string()),
    })
}

/// As [`merge_launched_world`], into `output` if it is free, else the first free
/// `<stem>.<N>.<ext>` beside it; a name another process creates first is skipped.
pub fn merge_launched_world_beside(
    dir: &Path,
    world_size: u32,
    output: &Path,
    finished: bool,
) -> Result<WorldMerge, FormatError> {
    loop {
        let target = free_output_name(output);
        match merge_launched_world(dir, world_size, &target, finished) {
            // Another process created this name between the look and the exclusive create (a
            // failed merge of our own removes what it created, so the name would be free).
            Err(_) if taken(&target) => continue,
            r => return r,
        }
    }
}

/// What [`merge_world_dir`] and [`merge_launched_world`] did.
#[derive(Debug)]
pub struct WorldMerge {
    /// The file written: the output (or `<stem>.<N>.<ext>`) for the launched world,
    /// `<stem>.world<K>.<ext>` for a spawned one.
    pub path: PathBuf,
    /// 0 for the launched world, K for a spawned one.
    pub world: u32,
    pub merge: DirMerge,
    /// Why the `world` attribute could not be written, if it could not (the data is merged).
    pub attr_error: Option<String>,
}

/// Merges the per-rank files of a spawned world's `dir` (see [`merge_rank_dir`]) into the first
/// free `<stem>.world<K>.<ext>` beside `output`, and writes `world = K` into it. A name that
/// another world creates first is skipped.
pub fn merge_world_dir(
    dir: &Path,
    world_size: u32,
    output: &Path,
    finished: bool,
) -> Result<WorldMerge, FormatError> {
    let mut k = 1u32;
    loop {
        let path = world_file(output, k);
        if taken(&path) {
            k += 1;
            continue;
        }
        match merge_rank_dir(dir, world_size, &path, finished) {
            Ok(merge) => {
                let attr_error = write_world(&path, k).err().map(|e| e.to_string());
                return Ok(WorldMerge {
                    path,
                    world: k,
                    merge,
                    attr_error,
                });
            }
            // Another world created this name between the look and the exclusive create (a
            // failed merge of our own removes what it created, so the name would be free).
            Err(_) if taken(&path) && k < u32::MAX => k += 1,
            Err(e) => return Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ProfileReader, RankAttrs, RankWriter};

    #[test]
    fn names_round_trip() {
        let out = Path::new("/d/profiling_data.h5");
        assert_eq!(world_file(out, 3), Path::new("/d/profiling_data.world3.h5"));
        assert_eq!(world_of_file_name(out, "profiling_data.world3.h5"), Some(3));
        for other in [
            "profiling_data.h5",
            "profiling_data.1.h5",
            "profiling_data.world.h5",
            "profiling_data.world03.h5",
            "profiling_data.world3.h5.tmp",
            "other.world1.h5",
        ] {
            assert_eq!(world_of_file_name(out, other), None, "{other}");
        }
        assert_eq!(private_dir_prefix(out, false), ".scope-profiling_data-");
        assert_eq!(
            private_dir_prefix(out, true),
            ".scope-profiling_data-world-"
        );
    }

    fn rank_dir(dir: &Path, ranks: u32) {
        std::fs::create_dir_all(dir).unwrap();
        for rank in 0..ranks {
            let mut w = RankWriter::create(
                &dir.join(crate::rank_file_name(rank)),
                RankAttrs {
                    rank: rank.into(),
                    ..Default::default()
                },
            )
            .unwrap();
            w.append("work", &[1, 5], &[2, 9], &[0, 0]).unwrap();
            w.finish().unwrap();
        }
    }

    #[test]
    fn spawned_worlds_take_the_next_free_name_and_say_which_they_are() {
        let base = std::env::temp_dir().join(format!("scope-world-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&base);
        std::fs::create_dir_all(&base).unwrap();
        let out = base.join("p.h5");
        std::fs::write(&out, b"the launched world's").unwrap();
        // A dangling symlink at world1 makes the name taken.
        std::os::unix::fs::symlink(base.join("nowhere"), world_file(&out, 1)).unwrap();
        let dir = base.join(".scope-p-world-aaaaaa");
        rank_dir(&dir, 2);
        let m = merge_world_dir(&dir, 2, &out, true).unwrap();
        assert_eq!((m.world, m.path.clone()), (2, world_file(&out, 2)));
        assert!(m.attr_error.is_none(), "{:?}", m.attr_error);
        assert!(!dir.exists());
        assert_eq!(read_world(&m.path), Some(2));
        let r = ProfileReader::open(&m.path).unwrap();
        assert_eq!(r.ranks().unwrap(), vec![0, 1]);
        assert_eq!(r.count(1, "work").unwrap(), 2);
        assert_eq!(std::fs::read(&out).unwrap(), b"the launched world's");
        // The next world goes on to world3.
        rank_dir(&dir, 1);
        assert_eq!(merge_world_dir(&dir, 1, &out, true).unwrap().world, 3);
        std::fs::remove_dir_all(&base).unwrap();
    }
}
