//! Who records: a program that never calls MPI_Init is one rank (`rank0` only); launchers and
//! shells that carry the agent in their environment record nothing and write nothing.

use scope_tests::mpi::run_with_agent_in_env;
use scope_tests::workdir::list_dir;
use scope_tests::{fixture, Flavor, Profile, WorkDir};

const CONFIG: &str = "[[regions]]\nsymbol = \"compute\"\n";

#[test]
fn non_mpi_program_writes_rank0_only() {
    let wd = WorkDir::new("serial_rank0");
    let prog = fixture("serial_compute").path;
    let run = run_with_agent_in_env(&wd, None, CONFIG, &prog, &[""; 0]);
    run.output.assert_success("serial_compute with the agent");
    let p = Profile::open(&run.profile);
    p.assert_ranks(1);
    p.assert_exact_counts(&[("compute", 100)]);
    p.assert_well_formed();
    p.assert_min_duration("compute", 1_000_000);
    assert_eq!(
        list_dir(&run.out_dir),
        vec!["profiling_data.h5".to_string()]
    );
    assert!(
        list_dir(&run.run_dir).is_empty(),
        "{:?}",
        list_dir(&run.run_dir)
    );
}

#[test]
fn a_shell_in_between_records_nothing() {
    // `sh -c 'prog; true'` keeps the shell alive around the program (no exec): the shell has the
    // agent too, but it is not the target and must not write or clobber the output.
    let wd = WorkDir::new("serial_shell");
    let prog = fixture("serial_compute").path;
    let script = format!("'{}'; true", prog.display());
    let run = run_with_agent_in_env(&wd, None, CONFIG, "/bin/sh", &["-c", &script]);
    run.output.assert_success("sh -c serial_compute");
    let p = Profile::open(&run.profile);
    p.assert_ranks(1);
    p.assert_exact_counts(&[("compute", 100)]);
    assert_eq!(
        list_dir(&run.out_dir),
        vec!["profiling_data.h5".to_string()]
    );
}

fn launcher_in_env(flavor: Flavor) {
    // LD_PRELOAD in mpirun's own environment also loads the agent into mpirun and orted
    // (Open MPI) or mpiexec.hydra and hydra_pmi_proxy (MPICH). They must write nothing: the file
    // holds exactly the ranks, and the output directory holds exactly the file.
    let wd = WorkDir::new(&format!("launcher_env_{}", flavor.suffix()));
    let prog = fixture(&flavor.fixture("mpi_compute")).path;
    let run = run_with_agent_in_env(&wd, Some((flavor, 2)), CONFIG, &prog, &[""; 0]);
    run.output
        .assert_success("mpirun with the agent in its environment");
    let p = Profile::open(&run.profile);
    p.assert_ranks(2);
    p.assert_exact_counts(&[("compute", 100)]);
    assert_eq!(
        list_dir(&run.out_dir),
        vec!["profiling_data.h5".to_string()]
    );
    assert!(
        list_dir(&run.run_dir).is_empty(),
        "{:?}",
        list_dir(&run.run_dir)
    );
}

#[test]
fn mpirun_and_orted_write_nothing_open_mpi() {
    launcher_in_env(Flavor::OpenMpi);
}

#[test]
fn mpiexec_hydra_and_proxy_write_nothing_mpich() {
    launcher_in_env(Flavor::Mpich);
}
