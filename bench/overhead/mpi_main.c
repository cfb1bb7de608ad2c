/* MPI wrapper for the overhead fixture: fixture.c is compiled with -Dmain=fixture_main and
 * linked with this file, so the timed loop is identical and MPI_Init/MPI_Finalize sit around it. */
#include <mpi.h>

int fixture_main(int argc, char **argv);

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    int rc = fixture_main(argc, argv);
    MPI_Finalize();
    return rc;
}
