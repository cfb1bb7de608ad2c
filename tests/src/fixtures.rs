//! The fixture programs of `tests/fixtures/` (see its README for regions and expected counts).
//! They are built into `$SCOPE_FIXTURES` or `target/fixtures`; if a test finds one missing it runs
//! `tests/fixtures/build.sh` once per test process (the script is incremental).

use crate::paths::{repo_root, target_dir};
use crate::proc::Cmd;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

/// A fixture program, by file name in the fixtures directory (`mpi_compute.openmpi`, `rust_mpi`).
#[derive(Debug, Clone)]
pub struct Fixture {
    pub name: String,
    pub path: PathBuf,
}

/// Where the built fixtures are.
pub fn fixtures_dir() -> PathBuf {
    match std::env::var_os("SCOPE_FIXTURES") {
        Some(d) => PathBuf::from(d),
        None => target_dir().join("fixtures"),
    }
}

static BUILD: Mutex<bool> = Mutex::new(false);

/// Run build.sh (once per process) so that every fixture exists.
pub fn ensure_built() {
    let mut built = BUILD.lock().unwrap_or_else(|e| e.into_inner());
    if *built {
        return;
    }
    let script = repo_root().join("tests/fixtures/build.sh");
    let out = Cmd::new("bash")
        .arg(&script)
        .arg(fixtures_dir())
        .timeout(Duration::from_secs(1200))
        .run();
    out.assert_success("tests/fixtures/build.sh");
    *built = true;
}

/// The fixture called `name`, built if missing.
pub fn fixture(name: &str) -> Fixture {
    let path = fixtures_dir().join(name);
    if !path.is_file() {
        ensure_built();
    }
    assert!(path.is_file(), "fixture {} was not built", path.display());
    Fixture {
        name: name.to_string(),
        path,
    }
}

/// The C/C++/Fortran MPI fixtures that exist once per MPI flavour (name without suffix).
pub const MPI_FIXTURES: &[&str] = &[
    "mpi_compute",
    "mpi_calls",
    "mpi_overload",
    "mpi_use_mpi",
    "mpi_f08",
    "hdf5_user",
];
