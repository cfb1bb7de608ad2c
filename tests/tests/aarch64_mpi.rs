//! aarch64 MPI programs under qemu-user (issue 16): `mpi_compute` built for aarch64 against the
//! arm64 Open MPI and MPICH, on 4 ranks started by the amd64 `mpirun.openmpi` / `mpiexec.mpich`,
//! plain and with the aarch64 agent preloaded into the ranks (tests/src/aarch64.rs). The program
//! must not notice the agent (same stdout, status 0); the counts are the fixture's exact ones on
//! every rank, and both reference readers see them.

use crate::agent_c::C_CONFIG;
use scope_tests::aarch64::{fixture, run_plain_mpirun, run_with_agent_mpirun};
use scope_tests::oracle::{inspect07, read_ref02};
use scope_tests::workdir::list_dir;
use scope_tests::{Flavor, Output, Profile, WorkDir};

/// What `mpi_compute` prints on 4 ranks (tests/fixtures/README.md), whatever the architecture.
const STDOUT_4_RANKS: &str = "ranks=4\nchecksum=379516.27845779248\n";

fn plain_run(wd: &WorkDir, flavor: Flavor) -> Output {
    let prog = fixture(&flavor.fixture("mpi_compute")).path;
    let out = run_plain_mpirun(&wd.subdir("plain"), flavor, 4, &prog, &[""; 0]);
    out.assert_success("aarch64 mpi_compute without the agent");
    assert_eq!(
        out.stdout, STDOUT_4_RANKS,
        "stdout without the agent\n{out}"
    );
    out
}

fn check_plain(flavor: Flavor) {
    let wd = WorkDir::new(&format!("aarch64_plain_{}", flavor.suffix()));
    plain_run(&wd, flavor);
}

fn check_agent(flavor: Flavor) {
    let wd = WorkDir::new(&format!("aarch64_agent_{}", flavor.suffix()));
    let plain = plain_run(&wd, flavor);
    let prog = fixture(&flavor.fixture("mpi_compute")).path;
    let run = run_with_agent_mpirun(&wd, flavor, 4, C_CONFIG, &prog, &[""; 0]);
    run.output
        .assert_success("aarch64 mpi_compute under the aarch64 agent");
    assert_eq!(
        run.output.stdout, plain.stdout,
        "stdout with the agent differs from without\n{}",
        run.output
    );
    assert!(
        run.profile.is_file(),
        "no profile at {}\n{}",
        run.profile.display(),
        run.output
    );
    let p = Profile::open(&run.profile);
    p.assert_ranks(4);
    p.assert_exact_counts(&[("compute", 100), ("outer", 10), ("inner", 30)]);
    p.assert_well_formed();
    p.assert_min_duration("compute", 2_000_000);
    p.assert_min_duration("inner", 1_000_000);
    p.assert_min_duration("outer", 3_000_000);
    p.assert_nested("inner", "outer");
    for (reader, view) in [
        ("ProfilingH5Reader 0.2.6", read_ref02(&p.path)),
        ("scope-profiler inspect 0.7.5", inspect07(&p.path)),
    ] {
        assert_eq!(view.num_ranks, 4, "{reader}: number of ranks");
        assert_eq!(view.counts, p.counts(), "{reader} vs scope-format\n{p}");
    }
    // The merge cleaned up after itself: only the output file is left in its directory.
    assert_eq!(
        list_dir(&run.out_dir),
        vec!["profiling_data.h5".to_string()]
    );
    assert!(
        list_dir(&run.run_dir).is_empty(),
        "stray files in the working directory: {:?}",
        list_dir(&run.run_dir)
    );
}

#[test]
fn aarch64_mpi_compute_open_mpi_4_ranks_plain() {
    check_plain(Flavor::OpenMpi);
}

#[test]
fn aarch64_mpi_compute_mpich_4_ranks_plain() {
    check_plain(Flavor::Mpich);
}

#[test]
fn aarch64_mpi_compute_open_mpi_4_ranks_agent() {
    check_agent(Flavor::OpenMpi);
}

#[test]
fn aarch64_mpi_compute_mpich_4_ranks_agent() {
    check_agent(Flavor::Mpich);
}
