//! A simulated cluster (`tests/cluster/cluster.sh`) for one test: nodes brought up by
//! [`Cluster::up`], commands run "on" a node with [`Cluster::on_node`], everything removed when
//! the value is dropped (also when the test panics). Needs root and Linux namespaces: without
//! them `up` says why and the test skips.

use crate::mpi::{kv, with_mpi_env, Flavor};
use crate::paths::{agent_so, repo_root};
use crate::proc::Cmd;
use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// How nodes share the machine besides the repository (see cluster.sh's header).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Isolation {
    /// Own network, hostname, mount (/tmp, /dev/shm), IPC, boot_id and CLOCK_MONOTONIC.
    Full,
    /// As `Full` but with the host's IPC namespace and boot_id (UCX sees one machine).
    SharedIpc,
}

pub struct Cluster {
    id: String,
    nodes: u32,
    state: PathBuf,
}

/// `tests/cluster/cluster.sh`.
pub fn script() -> PathBuf {
    repo_root().join("tests/cluster/cluster.sh")
}

/// `tests/cluster/fake-ssh`.
pub fn fake_ssh() -> PathBuf {
    repo_root().join("tests/cluster/fake-ssh")
}

fn script_cmd() -> Cmd {
    Cmd::new(script()).timeout(Duration::from_secs(60))
}

impl Cluster {
    /// `cluster.sh up NODES --owner <this process>`: `Err` with the reason when it cannot be made
    /// here (not root, no namespaces), for the caller to print and skip.
    pub fn up(nodes: u32, isolation: Isolation) -> Result<Cluster, String> {
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            return Err("not root: network, mount, UTS and time namespaces need root".into());
        }
        let mut cmd = script_cmd()
            .arg("up")
            .arg(nodes.to_string())
            .arg("--owner")
            .arg(std::process::id().to_string());
        if isolation == Isolation::SharedIpc {
            cmd = cmd.arg("--share-ipc");
        }
        let out = cmd.run();
        if !out.success() {
            return Err(format!("cluster.sh up failed\n{out}"));
        }
        let id = out.stdout.trim().to_string();
        let state = PathBuf::from("/run/scope-cluster").join(&id);
        if !state.is_dir() {
            return Err(format!("cluster.sh up printed {id:?}, which has no state"));
        }
        Ok(Cluster { id, nodes, state })
    }

    /// `nodes` nodes as `flavor` needs them (MPICH's UCX needs [`Isolation::SharedIpc`]: over
    /// TCP it hangs in MPI_Finalize, see cluster.sh), or `None`, printed, where no cluster can be
    /// made here; with `SCOPE_REQUIRE_CLUSTER` set that panics instead (CI that runs as root).
    pub fn for_flavor(nodes: u32, flavor: Flavor) -> Option<Cluster> {
        let isolation = match flavor {
            Flavor::OpenMpi => Isolation::Full,
            Flavor::Mpich => Isolation::SharedIpc,
        };
        match Cluster::up(nodes, isolation) {
            Ok(c) => Some(c),
            Err(why) if std::env::var_os("SCOPE_REQUIRE_CLUSTER").is_some() => {
                panic!("SCOPE_REQUIRE_CLUSTER is set but no cluster can be made: {why}")
            }
            Err(why) => {
                eprintln!("SKIPPED: cannot simulate a cluster here: {why}");
                None
            }
        }
    }

    /// Launcher options that put 2 ranks on each node (filled in node order by both MPIs) and
    /// reach the nodes through fake-ssh.
    pub fn host_options(&self, flavor: Flavor) -> Vec<OsString> {
        let hostfile = self.hostfile(flavor).into_os_string();
        let ssh = fake_ssh().into_os_string();
        match flavor {
            Flavor::OpenMpi => vec![
                "--hostfile".into(),
                hostfile,
                "--mca".into(),
                "plm_rsh_agent".into(),
                ssh,
            ],
            Flavor::Mpich => vec![
                "-f".into(),
                hostfile,
                "-launcher".into(),
                "ssh".into(),
                "-launcher-exec".into(),
                ssh,
                "-iface".into(),
                "scope0".into(),
            ],
        }
    }

    /// `MPIRUN HOSTOPTS -x K=V… -n N PROGRAM ARGS` (`-genv K V` for MPICH) started on node 1 in
    /// `cwd`: the agent (`LD_PRELOAD`) and `vars` reach every rank on every node, and only the
    /// ranks (a remote node's ranks get nothing else of the caller's environment). Run it with
    /// [`crate::mpi::run_locked`].
    pub fn agent_mpirun<S: AsRef<OsStr>>(
        &self,
        flavor: Flavor,
        cwd: &Path,
        n: u32,
        vars: &[(&str, &OsStr)],
        program: impl AsRef<OsStr>,
        args: &[S],
    ) -> Cmd {
        let agent = agent_so();
        let mut a = self.host_options(flavor);
        for (k, v) in std::iter::once(("LD_PRELOAD", agent.as_os_str())).chain(vars.iter().copied())
        {
            match flavor {
                Flavor::OpenMpi => a.extend(["-x".into(), kv(k, Path::new(v))]),
                Flavor::Mpich => a.extend(["-genv".into(), k.into(), v.to_os_string()]),
            }
        }
        a.extend(["-n".into(), n.to_string().into(), program.as_ref().into()]);
        a.extend(args.iter().map(|s| s.as_ref().to_os_string()));
        self.on_node(1, flavor, cwd, flavor.mpirun(), &a)
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    pub fn nodes(&self) -> u32 {
        self.nodes
    }

    /// The hostname of node `k` (1-based).
    pub fn hostname(&self, k: u32) -> String {
        format!("{}-node{k}", self.id)
    }

    /// The hostfile for `flavor` (2 slots per node).
    pub fn hostfile(&self, flavor: Flavor) -> PathBuf {
        self.state.join(format!("hostfile.{}", flavor.suffix()))
    }

    /// Node `k`'s own view of the file system (its private /tmp is `<root>/tmp`).
    pub fn node_root(&self, k: u32) -> PathBuf {
        let pid = std::fs::read_to_string(self.state.join(format!("node{k}.pid")))
            .unwrap_or_else(|e| panic!("cluster {}: node {k} has no holder: {e}", self.id));
        PathBuf::from(format!("/proc/{}/root", pid.trim()))
    }

    /// The variables of `cluster.sh env FLAVOR` (`export K=V` lines).
    pub fn env(&self, flavor: Flavor) -> Vec<(String, String)> {
        let out = script_cmd()
            .arg("env")
            .arg(flavor.suffix())
            .env("SCOPE_CLUSTER", &self.id)
            .run();
        out.assert_success("cluster.sh env");
        out.stdout
            .lines()
            .filter_map(|l| l.strip_prefix("export "))
            .filter_map(|kv| kv.split_once('='))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    /// The variables that choose the launcher's remote agent and interface
    /// (`OMPI_MCA_plm_rsh_agent`, `HYDRA_LAUNCHER*`, `HYDRA_IFACE`): tests that check that
    /// scope-run passes launcher options through give these on the command line instead.
    pub const LAUNCH_VARS: [&'static str; 4] = [
        "OMPI_MCA_plm_rsh_agent",
        "HYDRA_LAUNCHER",
        "HYDRA_LAUNCHER_EXEC",
        "HYDRA_IFACE",
    ];

    /// `PROGRAM ARGS...` on node `k` in `cwd` (a shared directory), with the MPI environment and
    /// the cluster's environment for `flavor` (which replaces the loopback-only settings) except
    /// [`Self::LAUNCH_VARS`].
    pub fn on_node<S: AsRef<OsStr>>(
        &self,
        k: u32,
        flavor: Flavor,
        cwd: &Path,
        program: impl AsRef<OsStr>,
        args: &[S],
    ) -> Cmd {
        let cmd = Cmd::new(script())
            .cwd(cwd)
            .arg("exec")
            .arg(k.to_string())
            .arg(program)
            .args(args);
        self.env(flavor)
            .into_iter()
            .filter(|(k, _)| !Self::LAUNCH_VARS.contains(&k.as_str()))
            .fold(with_mpi_env(cmd), |c, (k, v)| c.env(k, v))
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let out = script_cmd().arg("down").arg(&self.id).run();
        if !out.success() {
            eprintln!("cluster {} was not removed cleanly\n{out}", self.id);
        }
    }
}
