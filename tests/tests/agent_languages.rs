//! C++, Fortran (`use mpi`, `mpi_f08`), Rust and mpi4py fixtures under the agent: regions
//! written as the user knows them resolve, and every rank records exact counts.

use scope_tests::paths::system_python;
use scope_tests::{fixture, run_with_agent_mpirun, Flavor, Profile, WorkDir};

const CPP_CONFIG: &str = r#"
[[regions]]
symbol = "geo::area"            # both overloads

[[regions]]
symbol = "geo::area(double)"    # one overload

[[regions]]
symbol = "geo::Solver::step"
"#;

const FORTRAN_CONFIG: &str = r#"
[[regions]]
symbol = "step"    # module procedure physics::step -> __physics_MOD_step

[[regions]]
symbol = "work"    # external subroutine -> work_
"#;

const RUST_CONFIG: &str = r#"
[[regions]]
symbol = "rust_compute"

[[regions]]
symbol = "rust_mpi::solve_step"
"#;

const PY_CONFIG: &str = r#"
[[regions]]
symbol = "cos"
"#;

fn run_fixture(
    test: &str,
    flavor: Flavor,
    config: &str,
    program: &std::path::Path,
    args: &[&std::ffi::OsStr],
) -> Profile {
    let wd = WorkDir::new(test);
    let run = run_with_agent_mpirun(&wd, flavor, 4, config, program, args);
    run.output.assert_success(test);
    let p = Profile::open(&run.profile);
    p.assert_ranks(4);
    p.assert_well_formed();
    p
}

fn cpp(flavor: Flavor) {
    let prog = fixture(&flavor.fixture("mpi_overload")).path;
    let p = run_fixture("cpp", flavor, CPP_CONFIG, &prog, &[]);
    p.assert_exact_counts(&[
        ("geo::area", 50),
        ("geo::area(double)", 30),
        ("geo::Solver::step", 40),
    ]);
    p.assert_min_duration("geo::area", 1_000_000);
    p.assert_min_duration("geo::Solver::step", 1_000_000);
}

#[test]
fn cpp_overloads_and_members_open_mpi() {
    cpp(Flavor::OpenMpi);
}

#[test]
fn cpp_overloads_and_members_mpich() {
    cpp(Flavor::Mpich);
}

fn fortran(flavor: Flavor, name: &str) {
    let prog = fixture(&flavor.fixture(name)).path;
    let p = run_fixture(name, flavor, FORTRAN_CONFIG, &prog, &[]);
    p.assert_exact_counts(&[("step", 25), ("work", 15)]);
    p.assert_min_duration("step", 1_000_000);
    p.assert_min_duration("work", 1_000_000);
}

#[test]
fn fortran_use_mpi_open_mpi() {
    fortran(Flavor::OpenMpi, "mpi_use_mpi");
}

#[test]
fn fortran_use_mpi_mpich() {
    fortran(Flavor::Mpich, "mpi_use_mpi");
}

#[test]
fn fortran_mpi_f08_open_mpi() {
    fortran(Flavor::OpenMpi, "mpi_f08");
}

#[test]
fn fortran_mpi_f08_mpich() {
    fortran(Flavor::Mpich, "mpi_f08");
}

#[test]
fn rust_extern_c_and_mangled_path() {
    let prog = fixture("rust_mpi").path;
    let p = run_fixture("rust", Flavor::OpenMpi, RUST_CONFIG, &prog, &[]);
    p.assert_exact_counts(&[("rust_compute", 50), ("rust_mpi::solve_step", 30)]);
    p.assert_min_duration("rust_compute", 1_000_000);
    p.assert_min_duration("rust_mpi::solve_step", 1_000_000);
}

#[test]
fn mpi4py_libm_cos_on_every_rank() {
    let script = fixture("mpi4py_cos.py").path;
    let p = run_fixture(
        "mpi4py",
        Flavor::OpenMpi,
        PY_CONFIG,
        &system_python(),
        &[script.as_os_str()],
    );
    p.assert_exact_counts(&[("cos", 1000)]);
}
