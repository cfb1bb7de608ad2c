/* End-to-end finalize cost: each rank calls work() N times (the profiled region), meets the
 * others at a barrier, then times its own MPI_Finalize with CLOCK_MONOTONIC. Under scope the
 * agent's work happens inside MPI_Finalize: flush the last events, barrier, rank 0 merges the
 * per-rank files into the output and removes them. Prints one line per rank:
 *   finalize rank=R size=S events=N seconds=T
 * Usage: finalize N */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

__attribute__((noinline, noclone)) int work(int x) {
    __asm__ volatile("");
    return (x * 3) ^ (x >> 2);
}

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int main(int argc, char **argv) {
    long n = argc > 1 ? atol(argv[1]) : 1000000;
    int rank = 0, size = 1;
    MPI_Init(&argc, &argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    volatile int acc = 0;
    for (long i = 0; i < n; i++) acc += work((int)i);
    MPI_Barrier(MPI_COMM_WORLD);
    double t0 = now();
    MPI_Finalize();
    double t1 = now();
    printf("finalize rank=%d size=%d events=%ld seconds=%.6f\n", rank, size, n, t1 - t0);
    return acc == 42 ? 1 : 0;
}
