//! A program that links the system libhdf5 itself runs correctly under the agent (which carries
//! its own HDF5): its own files hold exactly what it wrote, and the profile is complete.

use scope_tests::oracle::venv_python;
use scope_tests::{fixture, run_with_agent_mpirun, Cmd, Flavor, Profile, WorkDir};

const CONFIG: &str = "[[regions]]\nsymbol = \"compute\"\n";

/// Check rank r's file with h5py: data[i][k] == (r*1000 + i*64 + k) * 0.5, shape 10x64.
const CHECK: &str = r#"
import sys, h5py
prefix, n = sys.argv[1], int(sys.argv[2])
for r in range(n):
    with h5py.File(f"{prefix}.rank{r}.h5", "r") as f:
        d = f["data"][()]
        assert d.shape == (10, 64), d.shape
        for i in range(10):
            for k in range(64):
                want = (r * 1000 + i * 64 + k) * 0.5
                assert d[i, k] == want, (r, i, k, d[i, k], want)
        assert list(f.keys()) == ["data"], list(f.keys())
print("ok")
"#;

fn check(flavor: Flavor) {
    let wd = WorkDir::new(&format!("hdf5_user_{}", flavor.suffix()));
    let data = wd.subdir("data");
    let prefix = data.join("own");
    let prog = fixture(&flavor.fixture("hdf5_user")).path;
    let run = run_with_agent_mpirun(&wd, flavor, 4, CONFIG, &prog, &[prefix.as_os_str()]);
    run.output.assert_success("hdf5_user under the agent");
    assert!(
        run.output.stdout.contains("mismatches=0\n"),
        "{}",
        run.output
    );
    let out = Cmd::new(venv_python("venv-0.7"))
        .arg("-c")
        .arg(CHECK)
        .arg(&prefix)
        .arg("4")
        .run();
    out.assert_success("h5py check of the program's own files");
    let p = Profile::open(&run.profile);
    p.assert_ranks(4);
    p.assert_exact_counts(&[("compute", 10)]);
}

#[test]
fn hdf5_user_open_mpi() {
    check(Flavor::OpenMpi);
}

#[test]
fn hdf5_user_mpich() {
    check(Flavor::Mpich);
}
