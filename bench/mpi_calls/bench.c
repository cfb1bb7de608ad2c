/* MPI call overhead benchmark: ns per call of three MPI calls, timed by the program itself, so
 * a run under scope and a plain run compare the calls alone (not start-up or finalize).
 * Run on 1 or 2 ranks (the ping-pong needs 2): mpi_calls_bench N. Rank 0 prints one line per phase: "<phase> <ns per call>".
 *   comm_rank  MPI_Comm_rank, N calls (no payload: the cheapest MPI call there is)
 *   allreduce  MPI_Allreduce of 1 double on MPI_COMM_SELF, N calls (payload read: a
 *              datatype-size lookup per call)
 *   pingpong   MPI_Send + MPI_Recv of 8 bytes between the two ranks, N/10 round trips
 *              (ns per call = round trip / 2, each rank making one send and one receive) */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e9 + t.tv_nsec;
}

int main(int argc, char **argv) {
    MPI_Init(&argc, &argv);
    long n = argc > 1 ? atol(argv[1]) : 1000000;
    int rank, r;
    double x = 1.0, y = 0.0, sink = 0.0;
    char msg[8] = {0};
    int size;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    MPI_Barrier(MPI_COMM_WORLD);

    double t0 = now_ns();
    for (long i = 0; i < n; i++) {
        MPI_Comm_rank(MPI_COMM_WORLD, &r);
        sink += r;
    }
    double t1 = now_ns();
    for (long i = 0; i < n; i++) {
        MPI_Allreduce(&x, &y, 1, MPI_DOUBLE, MPI_SUM, MPI_COMM_SELF);
        sink += y;
    }
    double t2 = now_ns();
    MPI_Barrier(MPI_COMM_WORLD);
    long trips = size > 1 ? n / 10 : 0;
    double t3 = now_ns();
    for (long i = 0; i < trips; i++) {
        if (rank == 0) {
            MPI_Send(msg, 8, MPI_BYTE, 1, 0, MPI_COMM_WORLD);
            MPI_Recv(msg, 8, MPI_BYTE, 1, 0, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
        } else if (rank == 1) {
            MPI_Recv(msg, 8, MPI_BYTE, 0, 0, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
            MPI_Send(msg, 8, MPI_BYTE, 0, 0, MPI_COMM_WORLD);
        }
    }
    double t4 = now_ns();
    if (rank == 0) {
        printf("comm_rank %.2f\nallreduce %.2f\n", (t1 - t0) / n, (t2 - t1) / n);
        if (trips > 0) printf("pingpong %.2f\n", (t4 - t3) / (2.0 * trips));
        fprintf(stderr, "sink %.0f\n", sink);
    }
    MPI_Finalize();
    return 0;
}
