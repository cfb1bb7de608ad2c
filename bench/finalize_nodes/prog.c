/* finalize_nodes: a short MPI program for scripts/bench-finalize-nodes.sh, where the agent's
 * MPI_Finalize work (flush, close, merge: its metadata operations) must dominate, not the
 * program. Four regions per rank: `bench_step` (outer) and `bench_kern_a`, `_b`, `_c` (inner,
 * one of each per step; not `step`: glibc exports one), EVENTS / 4 steps: EVENTS events per
 * rank in all.
 *
 * With BENCH_DELAY_US=N and BENCH_DELAY_DIR=DIR set, every rank, after its loop, starts
 * BENCH_SLOWMETA (bench/finalize_nodes/slowmeta.c) and puts itself under it (a seccomp filter
 * on all its threads, its listener handed over): from there on every call that opens, creates,
 * stats, removes or renames a path in DIR is held N µs before it runs, which imitates a
 * parallel filesystem's metadata latency for exactly the agent's finalize. BENCH_DELAY_LOG=L
 * makes slowmeta log every call to L.<rank> (see slowmeta.c). Then the ranks meet at a barrier
 * and call MPI_Finalize.
 *
 * Each rank times its own MPI_Finalize (CLOCK_MONOTONIC) and prints
 *   finalize_nodes rank=R size=S events=E seconds=T
 * Usage: prog [EVENTS] (default 4000). */
#define _GNU_SOURCE
#include "slowmeta.h"

#include <fcntl.h>
#include <mpi.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#define NOINLINE __attribute__((noinline, noclone))

extern char **environ;
static volatile long sink;

NOINLINE long bench_kern_a(long x) { sink = x * 3; return x * 3; }
NOINLINE long bench_kern_b(long x) { sink = x ^ 0x55; return x ^ 0x55; }
NOINLINE long bench_kern_c(long x) { sink = x >> 1; return x >> 1; }
NOINLINE long bench_step(long i) { return bench_kern_a(i) + bench_kern_b(i) + bench_kern_c(i); }

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* slowmeta's environment: ours without the agent (LD_PRELOAD, SCOPE_*). */
static char **clean_env(void)
{
    size_t n = 0;
    while (environ[n]) n++;
    char **e = malloc((n + 1) * sizeof *e);
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (strncmp(environ[i], "LD_PRELOAD=", 11) && strncmp(environ[i], "SCOPE_", 6))
            e[k++] = environ[i];
    e[k] = NULL;
    return e;
}

static void fail(int rank, const char *what)
{
    fprintf(stderr, "finalize_nodes: rank %d: %s: %s\n", rank, what, strerror(errno));
    MPI_Abort(MPI_COMM_WORLD, 3);
}

static void slow_down(int rank)
{
    const char *us = getenv("BENCH_DELAY_US"), *dir = getenv("BENCH_DELAY_DIR");
    const char *bin = getenv("BENCH_SLOWMETA"), *log = getenv("BENCH_DELAY_LOG");
    if (!us || !*us || !dir || !*dir) return;
    if (!bin || !*bin) bin = "slowmeta";
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) fail(rank, "socketpair");
    char logpath[4096] = "";
    if (log && *log) snprintf(logpath, sizeof logpath, "%s.%d", log, rank);
    char *argv[] = {(char *)bin, (char *)dir, (char *)us, logpath[0] ? logpath : NULL, NULL};
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_adddup2(&fa, sv[1], 3);
    pid_t child;
    errno = posix_spawnp(&child, bin, &fa, NULL, argv, clean_env());
    if (errno) fail(rank, bin);
    close(sv[1]);
    int fd = slowmeta_install();
    if (fd < 0) fail(rank, "seccomp (SECCOMP_FILTER_FLAG_NEW_LISTENER | TSYNC)");
    char byte = 'l', ctl[CMSG_SPACE(sizeof(int))];
    memset(ctl, 0, sizeof ctl);
    struct iovec iov = {&byte, 1};
    struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl,
                         .msg_controllen = sizeof ctl};
    struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(c), &fd, sizeof fd);
    if (sendmsg(sv[0], &msg, 0) != 1) fail(rank, "handing the listener to slowmeta");
    if (read(sv[0], &byte, 1) != 1) fail(rank, "slowmeta did not answer");
    close(fd);
    close(sv[0]);
}

int main(int argc, char **argv)
{
    long events = argc > 1 ? atol(argv[1]) : 4000;
    int rank = 0, size = 1;
    MPI_Init(&argc, &argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    long acc = 0;
    for (long i = 0; i < events / 4; i++) acc += bench_step(i);
    slow_down(rank);
    MPI_Barrier(MPI_COMM_WORLD);
    double t0 = now();
    MPI_Finalize();
    double t1 = now();
    printf("finalize_nodes rank=%d size=%d events=%ld seconds=%.6f\n", rank, size, events,
           t1 - t0);
    return acc == 42 ? 1 : 0;
}
