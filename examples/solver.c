/* solver: a tiny 1-D heat equation (Jacobi iteration) distributed over MPI ranks.
 * Each rank owns LOCAL_N interior points plus one ghost cell on each side.
 * Regions worth profiling: halo_exchange, jacobi_step, compute_residual (see scope.toml).
 * Build: mpicc -O2 -o solver solver.c        Run: mpirun -n 4 ./solver [iterations] */
#include <math.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LOCAL_N 20000
#define NOINLINE __attribute__((noinline, noclone))

/* Swap ghost cells with the left and right neighbours. */
NOINLINE void halo_exchange(double *u, int rank, int size)
{
    int left = rank > 0 ? rank - 1 : MPI_PROC_NULL;
    int right = rank < size - 1 ? rank + 1 : MPI_PROC_NULL;
    MPI_Sendrecv(&u[1], 1, MPI_DOUBLE, left, 0, &u[LOCAL_N + 1], 1, MPI_DOUBLE, right, 0,
                 MPI_COMM_WORLD, MPI_STATUS_IGNORE);
    MPI_Sendrecv(&u[LOCAL_N], 1, MPI_DOUBLE, right, 1, &u[0], 1, MPI_DOUBLE, left, 1,
                 MPI_COMM_WORLD, MPI_STATUS_IGNORE);
}

/* One Jacobi sweep: unew = average of neighbours (+ source term). */
NOINLINE void jacobi_step(const double *u, double *unew, const double *f, double h2)
{
    for (int i = 1; i <= LOCAL_N; i++) {
        unew[i] = 0.5 * (u[i - 1] + u[i + 1] + h2 * f[i]);
    }
}

/* Global max-norm of the update. */
NOINLINE double compute_residual(const double *u, const double *unew)
{
    double local = 0.0;
    for (int i = 1; i <= LOCAL_N; i++) {
        double d = fabs(unew[i] - u[i]);
        if (d > local) local = d;
    }
    double global = 0.0;
    MPI_Allreduce(&local, &global, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
    return global;
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    int rank = 0, size = 1;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    int iters = argc > 1 ? atoi(argv[1]) : 500;

    double *u = calloc(LOCAL_N + 2, sizeof *u);
    double *unew = calloc(LOCAL_N + 2, sizeof *unew);
    double *f = calloc(LOCAL_N + 2, sizeof *f);
    if (!u || !unew || !f) MPI_Abort(MPI_COMM_WORLD, 1);
    double h = 1.0 / ((double)LOCAL_N * size + 1);
    for (int i = 1; i <= LOCAL_N; i++) f[i] = 1.0;

    double res = 0.0;
    int it;
    for (it = 0; it < iters; it++) {
        halo_exchange(u, rank, size);
        jacobi_step(u, unew, f, h * h);
        if (it % 10 == 0) {
            res = compute_residual(u, unew);
        }
        memcpy(&u[1], &unew[1], LOCAL_N * sizeof *u);
    }
    if (rank == 0) {
        printf("solver: %d ranks, %d iterations, residual %.6e\n", size, it, res);
    }
    free(u);
    free(unew);
    free(f);
    MPI_Finalize();
    return 0;
}
