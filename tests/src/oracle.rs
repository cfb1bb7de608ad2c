//! The reference tool as an oracle: `tests/oracle/read_ref02.py` (ProfilingH5Reader of
//! scope-profiler 0.2.6) and `tests/oracle/inspect07.sh` (`scope-profiler inspect` of 0.7.5).
//! Both print `{"num_ranks": N, "counts": {region: {rank: calls}}}`, as does
//! `tests/oracle/counts07.py` (0.7.5's `read_h5`, which also reads the files 0.7.5 writes).

use crate::paths::{oracle_dir, repo_root};
use crate::proc::Cmd;
use crate::profile::RankCounts;
use std::path::{Path, PathBuf};

/// What an oracle read from a file.
#[derive(Debug, Clone, PartialEq)]
pub struct OracleView {
    pub num_ranks: u64,
    pub counts: RankCounts,
}

/// The Python interpreter of one oracle venv (`venv-0.2` or `venv-0.7`; both have h5py).
pub fn venv_python(venv: &str) -> PathBuf {
    venv_bin(venv, "python")
}

fn venv_bin(venv: &str, exe: &str) -> PathBuf {
    let p = oracle_dir().join(venv).join("bin").join(exe);
    assert!(
        p.exists(),
        "{} is missing: run scripts/setup.sh (it creates the oracle venvs)",
        p.display()
    );
    p
}

fn parse(json: &str, what: &str) -> OracleView {
    let v: serde_json::Value = serde_json::from_str(json.trim())
        .unwrap_or_else(|e| panic!("{what}: bad JSON {e}: {json}"));
    let num_ranks = v["num_ranks"]
        .as_u64()
        .unwrap_or_else(|| panic!("{what}: {json}"));
    let mut counts = RankCounts::new();
    let obj = v["counts"]
        .as_object()
        .unwrap_or_else(|| panic!("{what}: {json}"));
    for (region, per_rank) in obj {
        let per_rank = per_rank
            .as_object()
            .unwrap_or_else(|| panic!("{what}: {json}"));
        for (rank, n) in per_rank {
            let rank: u32 = rank
                .parse()
                .unwrap_or_else(|_| panic!("{what}: rank {rank}"));
            let n = n.as_u64().unwrap_or_else(|| panic!("{what}: count {n}")) as usize;
            counts.entry(region.clone()).or_default().insert(rank, n);
        }
    }
    OracleView { num_ranks, counts }
}

/// Counts as `ProfilingH5Reader` (scope-profiler 0.2.6) sees them.
pub fn read_ref02(file: &Path) -> OracleView {
    let out = Cmd::new(venv_bin("venv-0.2", "python"))
        .arg(repo_root().join("tests/oracle/read_ref02.py"))
        .arg(file)
        .run();
    out.assert_success("read_ref02.py");
    parse(&out.stdout, "read_ref02.py")
}

/// Counts as `scope-profiler inspect` (0.7.5) prints them.
pub fn inspect07(file: &Path) -> OracleView {
    // Checked here so the message names what is missing.
    venv_bin("venv-0.7", "scope-profiler");
    let out = Cmd::new("bash")
        .arg(repo_root().join("tests/oracle/inspect07.sh"))
        .arg(file)
        .env("SCOPE_ORACLE_DIR", oracle_dir())
        .run();
    out.assert_success("inspect07.sh");
    parse(&out.stdout, "inspect07.sh")
}

/// Counts as scope-profiler 0.7.5's own reader (`read_h5`) sees them: reads scope's layout and
/// the files 0.7.5 writes itself (`tests/oracle/counts07.py`).
pub fn counts07(file: &Path) -> OracleView {
    let out = Cmd::new(venv_bin("venv-0.7", "python"))
        .arg(repo_root().join("tests/oracle/counts07.py"))
        .arg(file)
        .run();
    out.assert_success("counts07.py");
    parse(&out.stdout, "counts07.py")
}

/// A root attribute of an HDF5 file as h5py prints it (`str()` of the value; bytes decoded),
/// `None` when the file has no such attribute. Independent of scope-format, whatever the type.
pub fn root_attr_text(file: &Path, name: &str) -> Option<String> {
    let script = "import sys, h5py\n\
                  f = h5py.File(sys.argv[1], 'r')\n\
                  v = f.attrs.get(sys.argv[2])\n\
                  if v is None: sys.exit(3)\n\
                  if isinstance(v, bytes): v = v.decode()\n\
                  if hasattr(v, 'tolist'): v = v.tolist()\n\
                  if isinstance(v, list): v = [x.decode() if isinstance(x, bytes) else x for x in v]\n\
                  print(v)\n";
    let out = Cmd::new(venv_bin("venv-0.7", "python"))
        .arg("-c")
        .arg(script)
        .arg(file)
        .arg(name)
        .run();
    if out.code() == 3 {
        return None;
    }
    out.assert_success("h5py root attribute");
    Some(out.stdout.trim_end().to_string())
}
