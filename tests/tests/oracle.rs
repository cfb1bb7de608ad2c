//! The reference tool reads our files unchanged and sees the same counts:
//! `ProfilingH5Reader` (scope-profiler 0.2.6) and `scope-profiler inspect` (0.7.5).

use scope_tests::oracle::{inspect07, read_ref02};
use scope_tests::{fixture, run_with_agent_mpirun, Flavor, Profile, WorkDir};

const CONFIG: &str = "[[regions]]\nsymbol = \"compute\"\n[[regions]]\nsymbol = \"outer\"\n[[regions]]\nsymbol = \"inner\"\n";

fn profile(test: &str, flavor: Flavor) -> (WorkDir, Profile) {
    let wd = WorkDir::new(test);
    let prog = fixture(&flavor.fixture("mpi_compute")).path;
    let run = run_with_agent_mpirun(&wd, flavor, 4, CONFIG, &prog, &[""; 0]);
    run.output.assert_success("mpi_compute under the agent");
    let p = Profile::open(&run.profile);
    p.assert_ranks(4);
    p.assert_exact_counts(&[("compute", 100), ("outer", 10), ("inner", 30)]);
    (wd, p)
}

#[test]
fn profiling_h5_reader_0_2_agrees() {
    for fl in Flavor::ALL {
        let (_wd, p) = profile("oracle02", fl);
        let v = read_ref02(&p.path);
        assert_eq!(v.num_ranks, 4, "ProfilingH5Reader num_ranks");
        assert_eq!(
            v.counts,
            p.counts(),
            "ProfilingH5Reader counts vs scope-format\n{p}"
        );
    }
}

#[test]
fn scope_profiler_inspect_0_7_agrees() {
    let (_wd, p) = profile("oracle07", Flavor::OpenMpi);
    let v = inspect07(&p.path);
    assert_eq!(v.num_ranks, 4, "inspect rank(s)");
    assert_eq!(
        v.counts,
        p.counts(),
        "scope-profiler inspect counts vs scope-format\n{p}"
    );
}

#[test]
fn both_oracles_read_qualified_region_names() {
    // Names with `::` and parentheses (C++ and Rust paths) survive the round trip unchanged.
    let wd = WorkDir::new("oracle_names");
    let cfg =
        "[[regions]]\nsymbol = \"rust_compute\"\n[[regions]]\nsymbol = \"rust_mpi::solve_step\"\n";
    let run = run_with_agent_mpirun(
        &wd,
        Flavor::OpenMpi,
        4,
        cfg,
        fixture("rust_mpi").path,
        &[""; 0],
    );
    run.output.assert_success("rust_mpi under the agent");
    let p = Profile::open(&run.profile);
    p.assert_exact_counts(&[("rust_compute", 50), ("rust_mpi::solve_step", 30)]);
    assert_eq!(
        read_ref02(&p.path).counts,
        p.counts(),
        "ProfilingH5Reader\n{p}"
    );
    assert_eq!(
        inspect07(&p.path).counts,
        p.counts(),
        "scope-profiler inspect\n{p}"
    );
}

#[test]
fn both_oracles_read_mpi_call_regions_with_their_further_columns() {
    // `bytes` and `peer` beside the times do not disturb the reference readers.
    let wd = WorkDir::new("oracle_mpi_calls");
    let prog = fixture(&Flavor::OpenMpi.fixture("mpi_calls")).path;
    let run = run_with_agent_mpirun(
        &wd,
        Flavor::OpenMpi,
        4,
        "[mpi]\ncalls = true\n",
        &prog,
        &[""; 0],
    );
    run.output.assert_success("mpi_calls under the agent");
    let p = Profile::open(&run.profile);
    p.assert_ranks(4);
    assert_eq!(p.counts()["MPI_Barrier"].values().sum::<usize>(), 40);
    // Odd ranks never call MPI_Send: scope-format and `inspect` list it there with 0 calls,
    // ProfilingH5Reader not at all. Compared without the zeros.
    let nonzero = |mut c: scope_tests::RankCounts| {
        for per_rank in c.values_mut() {
            per_rank.retain(|_, n| *n > 0);
        }
        c
    };
    let counts = nonzero(p.counts());
    for (what, v) in [
        ("ProfilingH5Reader", read_ref02(&p.path)),
        ("scope-profiler inspect", inspect07(&p.path)),
    ] {
        assert_eq!(v.num_ranks, 4, "{what}");
        assert_eq!(
            nonzero(v.counts),
            counts,
            "{what} counts vs scope-format\n{p}"
        );
    }
}
