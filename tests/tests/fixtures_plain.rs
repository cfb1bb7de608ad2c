//! Everything that does not need the agent: the fixtures build, run plainly, exit as told, and
//! print the same stdout on every run (so "identical with and without the agent" means something).

use scope_tests::fixtures::{fixtures_dir, MPI_FIXTURES};
use scope_tests::mpi::{run_plain, run_plain_mpirun};
use scope_tests::paths::system_python;
use scope_tests::{fixture, Cmd, Flavor, Output, WorkDir};

fn plain(wd: &WorkDir, flavor: Option<Flavor>, name: &str, args: &[String]) -> Output {
    match flavor {
        Some(fl) => run_plain_mpirun(wd.path(), fl, 4, fixture(&fl.fixture(name)).path, args),
        None => run_plain(Cmd::new(fixture(name).path).cwd(wd.path()).args(args)),
    }
}

/// Run twice; both succeed with identical stdout; return it.
fn deterministic(wd: &WorkDir, flavor: Option<Flavor>, name: &str, args: &[String]) -> String {
    let a = plain(wd, flavor, name, args);
    a.assert_success(name);
    let b = plain(wd, flavor, name, args);
    b.assert_success(name);
    assert_eq!(
        a.stdout, b.stdout,
        "{name}: stdout differs between two runs\n{a}\n{b}"
    );
    assert!(!a.stdout.is_empty(), "{name}: printed nothing\n{a}");
    a.stdout
}

#[test]
fn all_fixtures_are_built() {
    let mut names: Vec<String> = Vec::new();
    for fl in Flavor::ALL {
        for n in MPI_FIXTURES {
            names.push(fl.fixture(n));
        }
    }
    names.extend(
        [
            "serial_compute",
            "static_prog",
            "mpi4py_cos.py",
            "mpi4py_calls.py",
            "mpi4py_regions.py",
            "mpi_example.py",
            "mpi_example_scope_profiler.py",
            "rust_mpi",
            "py_semantics.py",
            "libcthread.so",
            "arm_work",
        ]
        .map(String::from),
    );
    for n in &names {
        let f = fixture(n);
        assert!(f.path.starts_with(fixtures_dir()));
    }
}

#[test]
fn mpi_c_cpp_fortran_fixtures_are_deterministic_on_4_ranks() {
    let wd = WorkDir::new("det_mpi");
    for fl in Flavor::ALL {
        for name in ["mpi_compute", "mpi_overload", "mpi_use_mpi", "mpi_f08"] {
            let out = deterministic(&wd, Some(fl), name, &[]);
            assert!(out.starts_with("ranks=4\n"), "{name}.{fl:?}: {out}");
            assert!(out.contains("checksum="), "{name}.{fl:?}: {out}");
        }
    }
}

#[test]
fn both_mpis_compute_the_same_results() {
    let wd = WorkDir::new("same_results");
    for name in ["mpi_compute", "mpi_overload", "mpi_use_mpi", "mpi_f08"] {
        let a = plain(&wd, Some(Flavor::OpenMpi), name, &[]);
        let b = plain(&wd, Some(Flavor::Mpich), name, &[]);
        a.assert_success(name);
        b.assert_success(name);
        assert_eq!(
            a.stdout, b.stdout,
            "{name}: Open MPI and MPICH disagree\n{a}\n{b}"
        );
    }
}

#[test]
fn mpi_compute_returns_the_requested_exit_status() {
    let wd = WorkDir::new("exit3");
    for fl in Flavor::ALL {
        let out = plain(&wd, Some(fl), "mpi_compute", &["3".to_string()]);
        out.assert_code(3, "mpi_compute 3");
        assert!(out.stdout.contains("checksum="), "{out}");
    }
}

#[test]
fn rust_fixture_is_deterministic() {
    let wd = WorkDir::new("det_rust");
    let a = run_plain_mpirun(
        wd.path(),
        Flavor::OpenMpi,
        4,
        fixture("rust_mpi").path,
        &[""; 0],
    );
    let b = run_plain_mpirun(
        wd.path(),
        Flavor::OpenMpi,
        4,
        fixture("rust_mpi").path,
        &[""; 0],
    );
    a.assert_success("rust_mpi");
    b.assert_success("rust_mpi");
    assert_eq!(a.stdout, b.stdout, "{a}\n{b}");
    assert!(a.stdout.starts_with("ranks=4\n"), "{a}");
}

#[test]
fn mpi4py_fixture_is_deterministic() {
    let wd = WorkDir::new("det_py");
    let script = fixture("mpi4py_cos.py").path;
    let run = || {
        let o = run_plain_mpirun(
            wd.path(),
            Flavor::OpenMpi,
            4,
            system_python(),
            &[script.as_os_str()],
        );
        o.assert_success("mpi4py_cos.py");
        o
    };
    let (a, b) = (run(), run());
    assert_eq!(a.stdout, b.stdout, "{a}\n{b}");
    assert!(a.stdout.starts_with("ranks=4\nrank0="), "{a}");
}

/// The Python-regions fixture: the same stdout twice and under both MPIs (Debian's mpi4py, the
/// MPICH venv's), and its argument as exit status.
#[test]
fn mpi4py_regions_fixture_is_deterministic_under_both_mpis() {
    let wd = WorkDir::new("det_py_regions");
    let script = fixture("mpi4py_regions.py").path;
    let run = |fl: Flavor, status: &str| {
        let python = match fl {
            Flavor::OpenMpi => system_python(),
            Flavor::Mpich => scope_tests::paths::mpich_python(),
        };
        let args = [script.as_os_str(), status.as_ref()];
        let o = run_plain_mpirun(wd.path(), fl, 4, python, &args);
        o.assert_code(status.parse().unwrap(), "mpi4py_regions.py");
        o
    };
    let a = run(Flavor::OpenMpi, "0");
    for (fl, status) in [
        (Flavor::OpenMpi, "0"),
        (Flavor::Mpich, "0"),
        (Flavor::Mpich, "3"),
    ] {
        let b = run(fl, status);
        assert_eq!(a.stdout, b.stdout, "{a}\n{b}");
    }
    assert!(a.stdout.starts_with("ranks=4\nrank0="), "{a}");
    assert!(a.stdout.ends_with("\nchecksum=18105.620080\n"), "{a}");
}

#[test]
fn serial_fixture_is_deterministic() {
    let wd = WorkDir::new("det_serial");
    let out = deterministic(&wd, None, "serial_compute", &[]);
    assert!(out.starts_with("checksum="), "{out}");
}

#[test]
fn hdf5_user_writes_and_reads_its_own_files() {
    let wd = WorkDir::new("hdf5_plain");
    for fl in Flavor::ALL {
        let prefix = wd.join(format!("data_{}", fl.suffix()));
        let args = [prefix.to_string_lossy().into_owned()];
        let out = deterministic(&wd, Some(fl), "hdf5_user", &args);
        assert!(out.contains("mismatches=0\n"), "{out}");
        for r in 0..4 {
            let f = wd.join(format!("data_{}.rank{r}.h5", fl.suffix()));
            assert!(f.is_file(), "{} missing", f.display());
        }
    }
}

#[test]
fn static_fixture_is_static_and_runs() {
    let wd = WorkDir::new("static");
    let out = deterministic(&wd, None, "static_prog", &[]);
    assert_eq!(out, "static 41\n");
    // No PT_INTERP program header: a static executable, which LD_PRELOAD cannot reach.
    let bytes = std::fs::read(fixture("static_prog").path).expect("read static_prog");
    assert!(!has_interp(&bytes), "static_prog has PT_INTERP: not static");
    let dynamic = std::fs::read(fixture("serial_compute").path).expect("read serial_compute");
    assert!(has_interp(&dynamic), "serial_compute has no PT_INTERP");
}

/// Whether a 64-bit little-endian ELF file has a PT_INTERP program header.
fn has_interp(elf: &[u8]) -> bool {
    assert_eq!(&elf[..4], b"\x7fELF", "not an ELF file");
    let u16_at = |o: usize| u16::from_le_bytes([elf[o], elf[o + 1]]) as usize;
    let phoff = u64::from_le_bytes(elf[0x20..0x28].try_into().expect("8 bytes")) as usize;
    let phentsize = u16_at(0x36);
    let phnum = u16_at(0x38);
    (0..phnum).any(|i| {
        let o = phoff + i * phentsize;
        u32::from_le_bytes(elf[o..o + 4].try_into().expect("4 bytes")) == 3
    })
}
