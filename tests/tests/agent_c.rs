//! The C fixture on 4 ranks under Open MPI and MPICH, agent preloaded into the ranks with
//! `mpirun -x` / `-genv`: exact counts per rank, durations, nesting, and nothing else written.

use scope_tests::workdir::list_dir;
use scope_tests::{fixture, run_with_agent_mpirun, Flavor, Profile, WorkDir};

pub const C_CONFIG: &str = r#"
[[regions]]
symbol = "compute"

[[regions]]
symbol = "outer"

[[regions]]
symbol = "inner"
"#;

fn check_c_fixture(flavor: Flavor) {
    let wd = WorkDir::new(&format!("agent_c_{}", flavor.suffix()));
    let prog = fixture(&flavor.fixture("mpi_compute")).path;
    let run = run_with_agent_mpirun(&wd, flavor, 4, C_CONFIG, &prog, &[""; 0]);
    run.output.assert_success("mpi_compute under the agent");
    let p = Profile::open(&run.profile);
    p.assert_ranks(4);
    p.assert_exact_counts(&[("compute", 100), ("outer", 10), ("inner", 30)]);
    p.assert_well_formed();
    p.assert_min_duration("compute", 2_000_000);
    p.assert_min_duration("inner", 1_000_000);
    p.assert_min_duration("outer", 3_000_000);
    p.assert_nested("inner", "outer");
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
fn c_fixture_open_mpi_4_ranks() {
    check_c_fixture(Flavor::OpenMpi);
}

#[test]
fn c_fixture_mpich_4_ranks() {
    check_c_fixture(Flavor::Mpich);
}

#[test]
fn c_fixture_single_rank_under_mpirun() {
    let wd = WorkDir::new("agent_c_1rank");
    let prog = fixture(&Flavor::OpenMpi.fixture("mpi_compute")).path;
    let run = run_with_agent_mpirun(&wd, Flavor::OpenMpi, 1, C_CONFIG, &prog, &[""; 0]);
    run.output.assert_success("mpi_compute -n 1");
    let p = Profile::open(&run.profile);
    p.assert_ranks(1);
    p.assert_exact_counts(&[("compute", 100), ("outer", 10), ("inner", 30)]);
}

#[test]
fn region_name_overrides_the_symbol_text() {
    let wd = WorkDir::new("agent_c_names");
    let prog = fixture(&Flavor::OpenMpi.fixture("mpi_compute")).path;
    let cfg = "[[regions]]\nsymbol = \"compute\"\nname = \"kernel\"\n";
    let run = run_with_agent_mpirun(&wd, Flavor::OpenMpi, 2, cfg, &prog, &[""; 0]);
    run.output.assert_success("mpi_compute");
    let p = Profile::open(&run.profile);
    p.assert_ranks(2);
    p.assert_exact_counts(&[("kernel", 100)]);
}
