//! The handle values in docs/design mpi-abi.md, checked against each installed `mpi.h`: the agent
//! hard-codes them (it is built against no MPI), so a mismatch here is a wrong handle there.
//! `ranks=` are MPI_ANY_SOURCE, MPI_PROC_NULL and MPI_ROOT, which `[mpi] calls` maps to its
//! `peer` codes (agent/src/mpi/calls.rs).

use scope_tests::mpi::run_plain;
use scope_tests::{Cmd, WorkDir};

const MPICH_PROBE: &str = r#"
#include <mpi.h>
#include <stdio.h>
#define P(x) printf(#x "=0x%08x\n", (unsigned)(x))
int main(void) {
    P(MPI_COMM_WORLD); P(MPI_COMM_SELF); P(MPI_COMM_NULL);
    P(MPI_BYTE); P(MPI_CHAR); P(MPI_INT); P(MPI_DOUBLE); P(MPI_INT64_T); P(MPI_UINT64_T);
    P(MPI_SUM); P(MPI_MAX); P(MPI_MIN);
    printf("MPI_IN_PLACE=%ld\n", (long)(MPI_IN_PLACE));
    printf("MPI_STATUS_IGNORE=%ld\n", (long)(MPI_STATUS_IGNORE));
    printf("ranks=%d,%d,%d\n", MPI_ANY_SOURCE, MPI_PROC_NULL, MPI_ROOT);
    printf("threads=%d,%d,%d,%d success=%d\n", MPI_THREAD_SINGLE, MPI_THREAD_FUNNELED,
           MPI_THREAD_SERIALIZED, MPI_THREAD_MULTIPLE, MPI_SUCCESS);
    return 0;
}
"#;

const MPICH_EXPECTED: &str = "MPI_COMM_WORLD=0x44000000
MPI_COMM_SELF=0x44000001
MPI_COMM_NULL=0x04000000
MPI_BYTE=0x4c00010d
MPI_CHAR=0x4c000101
MPI_INT=0x4c000405
MPI_DOUBLE=0x4c00080b
MPI_INT64_T=0x4c00083a
MPI_UINT64_T=0x4c00083e
MPI_SUM=0x58000003
MPI_MAX=0x58000001
MPI_MIN=0x58000002
MPI_IN_PLACE=-1
MPI_STATUS_IGNORE=1
ranks=-2,-1,-3
threads=0,1,2,3 success=0
";

const OMPI_PROBE: &str = r#"
#include <mpi.h>
#include <stdio.h>
#define S(h, sym) printf(#h "=%d\n", (void *)(h) == (void *)&(sym))
int main(void) {
    S(MPI_COMM_WORLD, ompi_mpi_comm_world); S(MPI_COMM_SELF, ompi_mpi_comm_self);
    S(MPI_COMM_NULL, ompi_mpi_comm_null);
    S(MPI_BYTE, ompi_mpi_byte); S(MPI_CHAR, ompi_mpi_char); S(MPI_INT, ompi_mpi_int);
    S(MPI_DOUBLE, ompi_mpi_double); S(MPI_INT64_T, ompi_mpi_int64_t);
    S(MPI_UINT64_T, ompi_mpi_uint64_t);
    S(MPI_SUM, ompi_mpi_op_sum); S(MPI_MAX, ompi_mpi_op_max); S(MPI_MIN, ompi_mpi_op_min);
    printf("MPI_IN_PLACE=%ld\n", (long)(MPI_IN_PLACE));
    printf("MPI_STATUS_IGNORE=%ld\n", (long)(MPI_STATUS_IGNORE));
    printf("ranks=%d,%d,%d\n", MPI_ANY_SOURCE, MPI_PROC_NULL, MPI_ROOT);
    printf("threads=%d,%d,%d,%d success=%d\n", MPI_THREAD_SINGLE, MPI_THREAD_FUNNELED,
           MPI_THREAD_SERIALIZED, MPI_THREAD_MULTIPLE, MPI_SUCCESS);
    return 0;
}
"#;

const OMPI_EXPECTED: &str = "MPI_COMM_WORLD=1
MPI_COMM_SELF=1
MPI_COMM_NULL=1
MPI_BYTE=1
MPI_CHAR=1
MPI_INT=1
MPI_DOUBLE=1
MPI_INT64_T=1
MPI_UINT64_T=1
MPI_SUM=1
MPI_MAX=1
MPI_MIN=1
MPI_IN_PLACE=1
MPI_STATUS_IGNORE=0
ranks=-1,-2,-4
threads=0,1,2,3 success=0
";

fn probe(test: &str, cc: &str, src: &str) -> String {
    let wd = WorkDir::new(test);
    let c = wd.write("probe.c", src);
    let exe = wd.join("probe");
    run_plain(Cmd::new(cc).arg("-O0").arg(&c).arg("-o").arg(&exe)).assert_success(cc);
    let out = run_plain(Cmd::new(&exe));
    out.assert_success("probe");
    out.stdout
}

#[test]
fn mpich_handles_match_the_table() {
    assert_eq!(
        probe("abi_mpich", "mpicc.mpich", MPICH_PROBE),
        MPICH_EXPECTED
    );
}

#[test]
fn open_mpi_handles_match_the_table() {
    assert_eq!(
        probe("abi_ompi", "mpicc.openmpi", OMPI_PROBE),
        OMPI_EXPECTED
    );
}
