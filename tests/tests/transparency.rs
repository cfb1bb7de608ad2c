//! The agent changes nothing the program shows: stdout and exit status are identical with and
//! without it, for every fixture (the fixtures print only deterministic results, from rank 0).

use scope_tests::mpi::{run_plain, run_plain_mpirun, run_with_agent_in_env};
use scope_tests::paths::system_python;
use scope_tests::{fixture, run_with_agent_mpirun, Cmd, Flavor, Output, Profile, WorkDir};
use std::ffi::OsString;

const C_CONFIG: &str = "[[regions]]\nsymbol = \"compute\"\n[[regions]]\nsymbol = \"outer\"\n[[regions]]\nsymbol = \"inner\"\n";
const CPP_CONFIG: &str =
    "[[regions]]\nsymbol = \"geo::area\"\n[[regions]]\nsymbol = \"geo::Solver::step\"\n";
const F_CONFIG: &str = "[[regions]]\nsymbol = \"step\"\n[[regions]]\nsymbol = \"work\"\n";
const RUST_CONFIG: &str =
    "[[regions]]\nsymbol = \"rust_compute\"\n[[regions]]\nsymbol = \"rust_mpi::solve_step\"\n";
const PY_CONFIG: &str = "[[regions]]\nsymbol = \"cos\"\n";
const H5_CONFIG: &str = "[[regions]]\nsymbol = \"compute\"\n";

fn same(plain: &Output, agent: &Output, what: &str) {
    assert!(
        !plain.timed_out && !agent.timed_out,
        "{what}: timed out\n{plain}\n{agent}"
    );
    assert_eq!(
        plain.status.and_then(|s| s.code()),
        agent.status.and_then(|s| s.code()),
        "{what}: exit status differs\nwithout agent:\n{plain}\nwith agent:\n{agent}"
    );
    assert_eq!(
        plain.stdout, agent.stdout,
        "{what}: stdout differs\nwithout agent:\n{plain}\nwith agent:\n{agent}"
    );
}

/// Plain run vs. agent run of one MPI program on 4 ranks; the agent run wrote a 4-rank profile.
fn compare(test: &str, flavor: Flavor, config: &str, program: OsString, args: &[OsString]) {
    let wd = WorkDir::new(test);
    let plain = run_plain_mpirun(wd.path(), flavor, 4, &program, args);
    let agent = run_with_agent_mpirun(&wd, flavor, 4, config, &program, args);
    same(&plain, &agent.output, test);
    Profile::open(&agent.profile).assert_ranks(4);
}

fn fx(name: &str) -> OsString {
    fixture(name).path.into_os_string()
}

#[test]
fn c_cpp_fortran_both_mpis() {
    for fl in Flavor::ALL {
        compare("tr_c", fl, C_CONFIG, fx(&fl.fixture("mpi_compute")), &[]);
        compare(
            "tr_cpp",
            fl,
            CPP_CONFIG,
            fx(&fl.fixture("mpi_overload")),
            &[],
        );
        compare("tr_f", fl, F_CONFIG, fx(&fl.fixture("mpi_use_mpi")), &[]);
        compare("tr_f08", fl, F_CONFIG, fx(&fl.fixture("mpi_f08")), &[]);
    }
}

#[test]
fn exit_status_3_passes_through() {
    for fl in Flavor::ALL {
        let wd = WorkDir::new("tr_exit3");
        let prog = fx(&fl.fixture("mpi_compute"));
        let args = [OsString::from("3")];
        let plain = run_plain_mpirun(wd.path(), fl, 4, &prog, &args);
        plain.assert_code(3, "mpi_compute 3 without agent");
        let agent = run_with_agent_mpirun(&wd, fl, 4, C_CONFIG, &prog, &args);
        agent.output.assert_code(3, "mpi_compute 3 with agent");
        same(&plain, &agent.output, "mpi_compute 3");
        // The ranks finalized before returning 3: the data is all there.
        let p = Profile::open(&agent.profile);
        p.assert_ranks(4);
        p.assert_exact_counts(&[("compute", 100), ("outer", 10), ("inner", 30)]);
    }
}

#[test]
fn rust_fixture() {
    compare("tr_rust", Flavor::OpenMpi, RUST_CONFIG, fx("rust_mpi"), &[]);
}

#[test]
fn mpi4py_fixture() {
    let script = fx("mpi4py_cos.py");
    compare(
        "tr_py",
        Flavor::OpenMpi,
        PY_CONFIG,
        system_python().into_os_string(),
        &[script],
    );
}

#[test]
fn hdf5_user_fixture() {
    for fl in Flavor::ALL {
        let wd = WorkDir::new("tr_h5");
        let prefix = wd.join("data").into_os_string();
        compare(
            "tr_h5",
            fl,
            H5_CONFIG,
            fx(&fl.fixture("hdf5_user")),
            &[prefix],
        );
    }
}

#[test]
fn serial_fixture() {
    let wd = WorkDir::new("tr_serial");
    let prog = fixture("serial_compute").path;
    let plain = run_plain(Cmd::new(&prog).cwd(wd.path()));
    let agent = run_with_agent_in_env(&wd, None, C_CONFIG, &prog, &[""; 0]);
    same(&plain, &agent.output, "serial_compute");
}
