//! A real Slurm for one test: `tests/cluster/slurm.sh up N` (munged, slurmctld, N slurmd) when
//! made, `slurm.sh down` when dropped, also when the test panics. Its directory
//! (`target/slurm-test`) and ports (from 16900) are the tests' own, apart from a Slurm started
//! by hand with the script's defaults. Starting needs root: without it [`Slurm::up`] says why,
//! and the test skips. Tests using it hold [`crate::mpi::run_lock`] for the cluster's lifetime.

use crate::paths::{repo_root, target_dir};
use crate::proc::Cmd;
use std::path::PathBuf;
use std::time::Duration;

pub struct Slurm {
    dir: PathBuf,
}

const PORT: &str = "16900";

fn script(dir: &PathBuf, verb: &str) -> Cmd {
    Cmd::new("bash")
        .arg(repo_root().join("tests/cluster/slurm.sh"))
        .arg(verb)
        .env("SCOPE_SLURM_DIR", dir)
        .env("SCOPE_SLURM_PORT", PORT)
        .timeout(Duration::from_secs(600))
}

impl Slurm {
    /// Starts `nodes` nodes and waits until they are idle; `Err` with the reason when this
    /// process cannot (not root). Any other failure panics with the script's output.
    pub fn up(nodes: u32) -> Result<Slurm, String> {
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            return Err("not root: cannot install or start munged, slurmctld, slurmd".into());
        }
        let dir = target_dir().join("slurm-test");
        let o = script(&dir, "up").arg(nodes.to_string()).run();
        let slurm = Slurm { dir };
        if !o.success() {
            let logs = std::fs::read_dir(slurm.dir.join("log"))
                .into_iter()
                .flatten()
                .flatten()
                .map(|e| {
                    let text = std::fs::read_to_string(e.path()).unwrap_or_default();
                    format!("--- {}\n{text}", e.path().display())
                })
                .collect::<String>();
            panic!("slurm.sh up {nodes} failed\n{o}\n{logs}");
        }
        Ok(slurm)
    }

    /// The generated `slurm.conf` (`SLURM_CONF` for srun, salloc, sbatch).
    pub fn conf(&self) -> PathBuf {
        self.dir.join("slurm.conf")
    }

    /// `program` with `SLURM_CONF` pointing at this cluster.
    pub fn cmd(&self, program: &str) -> Cmd {
        Cmd::new(program).env("SLURM_CONF", self.conf())
    }
}

impl Drop for Slurm {
    fn drop(&mut self) {
        let o = script(&self.dir, "down").run();
        if !o.success() {
            eprintln!("slurm.sh down failed\n{o}");
        }
    }
}
