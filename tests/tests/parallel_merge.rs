//! The parallel finalize (issue 17, agent/src/leaders.rs): rank 0 lays the output out from the
//! ranks' manifests, one leader per node (its lowest rank) copies its node's ranks into it, rank
//! 0 commits. On the simulated cluster (tests/cluster/cluster.sh), under Open MPI and MPICH:
//! - 8 ranks on 4 nodes (4× more ranks than this machine's cores): the file equals, object by
//!   object and attribute by attribute, the serial merge of the very same rank files
//!   (`SCOPE_KEEP_RANK_FILES=1`), and rank 0 says 4 leaders copied;
//! - a node leader killed after it got its plans, before copying (`SCOPE_TEST_KILL_LEADER`):
//!   the run fails, the file exists, says incomplete and lists what the design guarantees;
//!   the same under scope-run (no salvage: the output exists; the rank files stay);
//! - `SCOPE_MERGE=bogus`: an error line, then the node-count rule (serial on 2 nodes).
//!
//! On one node with `SCOPE_MERGE=parallel` (one leader, rank 0): the C fixture's exact counts,
//! read by scope-format and both reference readers. `SCOPE_MERGE=serial` on the cluster is
//! in tests/tests/cluster.rs (six ranks, both paths). Where no cluster can be made (not root)
//! the cluster tests print why and return, as cluster.rs's do.

use scope_format::compare::assert_same_file;
use scope_format::{merge_launched_world, private_dir_prefix, Intervals};
use scope_tests::cluster::Cluster;
use scope_tests::mpi::{agent_cmd, run_locked};
use scope_tests::oracle::{inspect07, read_ref02};
use scope_tests::paths::scope_run;
use scope_tests::workdir::list_dir;
use scope_tests::{fixture, Flavor, Output, Profile, WorkDir};
use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// `phase` and `work` calls per rank in mpi_barriers.c, and its MPI_Barrier calls.
const PHASES: usize = 8;
/// Two plain regions and one MPI call region (five columns: `bytes`, `peer`).
const CONFIG: &str = "[[regions]]\nsymbol = \"phase\"\n\n[[regions]]\nsymbol = \"work\"\n\n\
                      [mpi]\ncalls = [\"MPI_Barrier\"]\n";
const TIMEOUT: Duration = Duration::from_secs(90);

/// A run of mpi_barriers with the agent on a cluster.
struct Run {
    out: Output,
    profile: PathBuf,
    out_dir: PathBuf,
}

/// `cfg/scope.toml` (CONFIG) and the output `out/profile.h5` in `wd`.
fn config_and_output(wd: &WorkDir) -> (PathBuf, PathBuf, PathBuf) {
    let cfg = wd.write("cfg/scope.toml", CONFIG);
    let out_dir = wd.subdir("out");
    let profile = out_dir.join("profile.h5");
    (cfg, out_dir, profile)
}

/// mpi_barriers on `ranks` ranks of `c` (2 per node), started on node 1 with the agent, verbose,
/// and `vars` in every rank's environment.
fn run_barriers(
    c: &Cluster,
    flavor: Flavor,
    wd: &WorkDir,
    ranks: u32,
    vars: &[(&str, &str)],
) -> Run {
    let (cfg, out_dir, profile) = config_and_output(wd);
    let mut all: Vec<(&str, &OsStr)> = vec![
        ("SCOPE_CONFIG", cfg.as_os_str()),
        ("SCOPE_OUTPUT", profile.as_os_str()),
        ("SCOPE_VERBOSE", OsStr::new("1")),
    ];
    all.extend(vars.iter().map(|(k, v)| (*k, OsStr::new(v))));
    let prog = fixture(&flavor.fixture("mpi_barriers")).path;
    let cmd = c.agent_mpirun(flavor, &wd.subdir("run"), ranks, &all, prog, &[""; 0]);
    Run {
        out: run_locked(cmd.timeout(TIMEOUT)),
        profile,
        out_dir,
    }
}

/// The one private directory of rank files left beside `profile` (`.scope-<stem>-XXXXXX`).
fn kept_dir(out_dir: &Path, profile: &Path) -> PathBuf {
    let prefix = private_dir_prefix(profile, false);
    let dirs: Vec<String> = list_dir(out_dir)
        .into_iter()
        .filter(|n| n.starts_with(&prefix))
        .collect();
    assert_eq!(dirs.len(), 1, "private dirs beside the output: {dirs:?}");
    out_dir.join(&dirs[0])
}

/// What rank 0's serial path makes of the rank files of `dir` (a run of `ranks` ranks that
/// reached the merge): `merge_launched_world` of a copy of them (it removes its inputs).
fn serial_merge(wd: &WorkDir, dir: &Path, ranks: u32) -> PathBuf {
    let copy = wd.subdir("serial-in");
    for r in 0..ranks {
        let name = scope_format::rank_file_name(r);
        std::fs::copy(dir.join(&name), copy.join(&name))
            .unwrap_or_else(|e| panic!("{}: {e}", dir.join(&name).display()));
    }
    let serial = wd.join("serial.h5");
    let w = merge_launched_world(&copy, ranks, &serial, true)
        .unwrap_or_else(|e| panic!("serial merge of {}: {e}", copy.display()));
    assert_eq!(w.merge.merged, (0..ranks).collect::<Vec<_>>(), "{w:?}");
    serial
}

fn assert_said(out: &Output, lines: &[&str]) {
    for l in lines {
        assert!(out.stderr.contains(l), "rank 0 did not say {l:?}\n{out}");
    }
}

fn parallel_equals_serial(flavor: Flavor) {
    const NODES: u32 = 4;
    const RANKS: u32 = 8;
    let Some(c) = Cluster::for_flavor(NODES, flavor) else {
        return;
    };
    let wd = WorkDir::new(&format!("parallel_vs_serial_{}", flavor.suffix()));
    let run = run_barriers(
        &c,
        flavor,
        &wd,
        RANKS,
        &[("SCOPE_MERGE", "parallel"), ("SCOPE_KEEP_RANK_FILES", "1")],
    );
    run.out
        .assert_success("mpi_barriers on 4 nodes, parallel merge");
    let events = RANKS as usize * 3 * PHASES;
    assert_said(
        &run.out,
        &[
            &format!(
                "merged {RANKS} ranks, {events} events into {}",
                run.profile.display()
            ),
            "parallel merge: laid out by rank 0, copied by 4 node leaders",
            "(parallel merge)",
        ],
    );
    let p = Profile::open(&run.profile);
    p.assert_ranks(RANKS);
    p.assert_well_formed();
    p.assert_exact_counts(&[("MPI_Barrier", PHASES), ("phase", PHASES), ("work", PHASES)]);
    let hosts: Vec<(u32, String)> = p
        .rank_attrs
        .iter()
        .map(|(r, a)| (*r, a.hostname.clone()))
        .collect();
    let want: Vec<(u32, String)> = (0..RANKS).map(|r| (r, c.hostname(r / 2 + 1))).collect();
    assert_eq!(hosts, want, "rank hostnames\n{p}");

    let dir = kept_dir(&run.out_dir, &run.profile);
    let serial = serial_merge(&wd, &dir, RANKS);
    let seen = assert_same_file(&run.profile, &serial);
    // Root, then per rank: its group, `regions`, 3 regions; 3 + 3 + 5 columns of 8 values.
    let per_rank = 3 + 3 + 5;
    assert_eq!(
        (seen.groups, seen.datasets, seen.values),
        (
            1 + RANKS as usize * 5,
            RANKS as usize * per_rank,
            RANKS as usize * per_rank * PHASES
        ),
        "what the comparison walked: {seen:?}"
    );
    assert!(seen.attributes > 0, "{seen:?}");
}

#[test]
fn openmpi_parallel_merge_equals_serial_on_four_nodes() {
    parallel_equals_serial(Flavor::OpenMpi);
}

#[test]
fn mpich_parallel_merge_equals_serial_on_four_nodes() {
    parallel_equals_serial(Flavor::Mpich);
}

/// The leader of node 2 in a run of 6 ranks on 3 nodes (2 per node, in order).
const KILLED: u32 = 2;

/// What a run whose node-2 leader died before copying left in `profile` (rank files in `dir`):
/// the design guarantees (leaders.rs): every rank group at its full length, `complete =
/// false`, node 2's ranks listed missing (copied by nobody: zeros), and every rank *not* listed
/// missing holding exactly its file's data. Rank 0 records each node's answer as it arrives, so
/// which other ranks are still listed depends on how fast the launcher killed rank 0 after the
/// leader died (a listed rank's data may be whole, partial or zeros).
fn assert_killed_leader_file(wd: &WorkDir, profile: &Path, dir: &Path) {
    const RANKS: u32 = 6;
    let p = Profile::open(profile);
    assert!(!p.attrs.complete, "{p}");
    let missing = p.attrs.missing_ranks.clone();
    for r in [KILLED, KILLED + 1] {
        assert!(
            missing.contains(&i64::from(r)),
            "rank {r} not listed missing\n{p}"
        );
    }
    assert_eq!(p.attrs.ranks, i64::from(RANKS), "{p}");
    p.assert_exact_counts(&[("MPI_Barrier", PHASES), ("phase", PHASES), ("work", PHASES)]);
    // Every rank closed its file before the merge began: a serial merge of them is whole.
    let whole = Profile::open(&serial_merge(wd, dir, RANKS));
    whole.assert_ranks(RANKS);
    let mut copied = Vec::new();
    for r in 0..RANKS {
        for (region, iv) in &p.ranks[&r] {
            let want = whole.intervals(r, region);
            let cols = |iv: &Intervals| {
                [
                    iv.start_times.clone(),
                    iv.end_times.clone(),
                    iv.thread_ids.clone(),
                ]
            };
            for (got, want) in cols(iv).iter().zip(cols(want).iter()) {
                if !missing.contains(&i64::from(r)) {
                    assert_eq!(got, want, "rank {r} {region}: not listed missing\n{p}");
                } else if r / 2 + 1 == KILLED / 2 + 1 {
                    assert!(
                        got.iter().all(|&v| v == 0),
                        "rank {r} {region}: {got:?}\n{p}"
                    );
                } else {
                    assert!(
                        got.iter().zip(want).all(|(g, w)| g == w || *g == 0),
                        "rank {r} {region}: {got:?}, its file: {want:?}"
                    );
                }
            }
        }
        if p.ranks[&r] == whole.ranks[&r] {
            copied.push(r);
        }
    }
    eprintln!(
        "listed missing: {missing:?}; ranks whose data was copied whole before the launcher \
         ended the run: {copied:?}"
    );
}

fn killed_leader(flavor: Flavor) {
    let Some(c) = Cluster::for_flavor(3, flavor) else {
        return;
    };
    let wd = WorkDir::new(&format!("parallel_killed_leader_{}", flavor.suffix()));
    let killed = KILLED.to_string();
    let run = run_barriers(
        &c,
        flavor,
        &wd,
        6,
        &[
            ("SCOPE_MERGE", "parallel"),
            ("SCOPE_TEST_KILL_LEADER", &killed),
        ],
    );
    run.out.assert_failure("a run whose node leader was killed");
    assert_said(
        &run.out,
        &[&format!(
            "scope[rank {KILLED}]: SCOPE_TEST_KILL_LEADER: this node leader dies before copying"
        )],
    );
    assert!(!run.out.stderr.contains("merged 6 ranks"), "{}", run.out);
    let dir = kept_dir(&run.out_dir, &run.profile);
    assert_killed_leader_file(&wd, &run.profile, &dir);
}

#[test]
fn openmpi_killed_node_leader_leaves_an_incomplete_file() {
    killed_leader(Flavor::OpenMpi);
}

#[test]
fn mpich_killed_node_leader_leaves_an_incomplete_file() {
    killed_leader(Flavor::Mpich);
}

/// The same under scope-run (the knob reaches rank 2 on node 2 as a launcher option): the
/// launcher's status passes through; the output exists, so scope-run salvages nothing, says the
/// profile is incomplete naming at least node 2's ranks, and leaves the private directory,
/// whose six rank files are whole, where it is.
fn killed_leader_under_scope_run(flavor: Flavor) {
    let Some(c) = Cluster::for_flavor(3, flavor) else {
        return;
    };
    let wd = WorkDir::new(&format!(
        "parallel_killed_leader_scope_run_{}",
        flavor.suffix()
    ));
    let (cfg, out_dir, profile) = config_and_output(&wd);
    let mut args: Vec<OsString> =
        vec!["-c".into(), cfg.into(), "-o".into(), profile.clone().into()];
    args.extend(c.host_options(flavor));
    let killed = KILLED.to_string();
    match flavor {
        Flavor::OpenMpi => args.extend([
            "-x".into(),
            format!("SCOPE_TEST_KILL_LEADER={killed}").into(),
            "-x".into(),
            "SCOPE_MERGE=parallel".into(),
        ]),
        Flavor::Mpich => args.extend([
            "-genv".into(),
            "SCOPE_TEST_KILL_LEADER".into(),
            killed.into(),
            "-genv".into(),
            "SCOPE_MERGE".into(),
            "parallel".into(),
        ]),
    }
    args.extend(["-n".into(), "6".into(), "--".into()]);
    args.push(fixture(&flavor.fixture("mpi_barriers")).path.into());
    let out = run_locked(
        c.on_node(1, flavor, &wd.subdir("run"), scope_run(), &args)
            .timeout(TIMEOUT),
    );
    // mpirun's status for a rank killed by a signal (137 for Open MPI, 255 for Hydra).
    let want = match flavor {
        Flavor::OpenMpi => 137,
        Flavor::Mpich => 255,
    };
    out.assert_code(want, "scope-run, node leader killed");
    let dir = kept_dir(&out_dir, &profile);
    assert!(!out.stderr.contains("salvaged"), "{out}");
    assert_eq!(
        list_dir(&out_dir).len(),
        2,
        "only the output and the private directory: {:?}",
        list_dir(&out_dir)
    );
    let said = out
        .stderr
        .lines()
        .find(|l| l.contains("the profile is incomplete: rank(s) "))
        .unwrap_or_else(|| panic!("scope-run does not say the profile is incomplete\n{out}"));
    assert!(said.contains("2, 3"), "node 2's ranks not named: {said}");
    assert_killed_leader_file(&wd, &profile, &dir);
}

#[test]
fn openmpi_killed_node_leader_under_scope_run() {
    killed_leader_under_scope_run(Flavor::OpenMpi);
}

#[test]
fn mpich_killed_node_leader_under_scope_run() {
    killed_leader_under_scope_run(Flavor::Mpich);
}

#[test]
fn bogus_scope_merge_falls_back_to_the_node_count() {
    let flavor = Flavor::OpenMpi;
    let Some(c) = Cluster::for_flavor(2, flavor) else {
        return;
    };
    let wd = WorkDir::new("parallel_bogus_choice");
    let run = run_barriers(&c, flavor, &wd, 4, &[("SCOPE_MERGE", "bogus")]);
    run.out.assert_success("SCOPE_MERGE=bogus on 2 nodes");
    let line = "SCOPE_MERGE=\"bogus\" is neither serial nor parallel; choosing by node count";
    assert_eq!(
        run.out.stderr.matches(line).count(),
        1,
        "rank 0 alone decides, and says so once\n{}",
        run.out
    );
    assert!(
        run.out.stderr.contains(&format!("scope[rank 0]: {line}")),
        "{}",
        run.out
    );
    // 2 nodes: the node count from which parallel is the default (`AUTO_NODES`).
    assert_said(&run.out, &["(parallel merge)"]);
    let p = Profile::open(&run.profile);
    p.assert_ranks(4);
    p.assert_exact_counts(&[("MPI_Barrier", PHASES), ("phase", PHASES), ("work", PHASES)]);
    assert_eq!(list_dir(&run.out_dir), vec!["profile.h5".to_string()]);
}

const C_CONFIG: &str = "[[regions]]\nsymbol = \"compute\"\n\n[[regions]]\nsymbol = \"outer\"\n\n\
                        [[regions]]\nsymbol = \"inner\"\n";

/// mpi_compute on 4 ranks of this one node with `SCOPE_MERGE=parallel`: rank 0 is the only
/// leader and copies every rank; the counts of agent_c.rs hold, the reference readers agree.
fn one_node_parallel(flavor: Flavor) {
    let wd = WorkDir::new(&format!("parallel_one_node_{}", flavor.suffix()));
    let cfg = wd.write("cfg/scope.toml", C_CONFIG);
    let out_dir = wd.subdir("out");
    let profile = out_dir.join("profiling_data.h5");
    let vars: [(&str, &OsStr); 4] = [
        ("SCOPE_CONFIG", cfg.as_os_str()),
        ("SCOPE_OUTPUT", profile.as_os_str()),
        ("SCOPE_MERGE", OsStr::new("parallel")),
        ("SCOPE_VERBOSE", OsStr::new("1")),
    ];
    let prog = fixture(&flavor.fixture("mpi_compute")).path;
    let run_dir = wd.subdir("run");
    let out = run_locked(agent_cmd(Some((flavor, 4)), &vars, prog, &[""; 0]).cwd(&run_dir));
    out.assert_success("mpi_compute, parallel merge on one node");
    assert_said(
        &out,
        &[
            "parallel merge: laid out by rank 0, copied by 1 node leaders",
            "(parallel merge)",
        ],
    );
    let p = Profile::open(&profile);
    p.assert_ranks(4);
    p.assert_well_formed();
    p.assert_exact_counts(&[("compute", 100), ("outer", 10), ("inner", 30)]);
    p.assert_min_duration("compute", 2_000_000);
    p.assert_nested("inner", "outer");
    let v = read_ref02(&profile);
    assert_eq!(
        (v.num_ranks, &v.counts),
        (4, &p.counts()),
        "ProfilingH5Reader\n{p}"
    );
    let v = inspect07(&profile);
    assert_eq!(
        (v.num_ranks, &v.counts),
        (4, &p.counts()),
        "scope-profiler inspect\n{p}"
    );
    assert_eq!(list_dir(&out_dir), vec!["profiling_data.h5".to_string()]);
    assert!(list_dir(&run_dir).is_empty(), "{:?}", list_dir(&run_dir));
}

#[test]
fn openmpi_one_node_parallel_merge_c_fixture() {
    one_node_parallel(Flavor::OpenMpi);
}

#[test]
fn mpich_one_node_parallel_merge_c_fixture() {
    one_node_parallel(Flavor::Mpich);
}
