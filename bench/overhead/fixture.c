/* Tight-loop fixture for scripts/bench-overhead.sh.
 *
 * T threads each call work() N times. Each thread times its own loop with
 * CLOCK_THREAD_CPUTIME_ID (CPU time charged to that thread: user + system, so
 * a hook that flushes its buffer with write() pays for it here). The reported
 * cost per call is the sum of the threads' CPU times divided by all calls, which
 * stays meaningful when T exceeds the number of cores (wall time would not: four
 * threads on two cores take twice the wall time for the same work per call).
 * Wall time of the parallel section is printed too, for reference, and each
 * thread's own loop wall time (CLOCK_MONOTONIC around the timed loop, warm-up
 * excluded), averaged over the threads per call: the time a call takes in the
 * calling thread, which on a full node includes waiting for a core.
 *
 * Built with -DRDTSC_FLOOR, the loop also reads the TSC before and after each call:
 * the cost of the two timestamps a timing hook cannot avoid.
 *
 * Usage: fixture THREADS CALLS_PER_THREAD [WARMUP_CALLS]
 * WARMUP_CALLS (default 0) are made by each thread before its timer starts.
 * Prints one JSON line on stdout.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#ifdef RDTSC_FLOOR
#include <x86intrin.h>
#endif

/* The hooked function: a few instructions, never inlined or cloned. The empty
 * asm statements stop the compiler from folding the arithmetic into the caller's
 * loop or proving anything about the argument. */
__attribute__((noinline, noclone)) int work(int x)
{
    __asm__ volatile("" : "+r"(x));
    x = x * 3 + 1;
    __asm__ volatile("" : "+r"(x));
    return x ^ (x >> 7);
}

/* Called once after all threads joined, never hooked by scope/uftrace; the Frida
 * driver attaches a JS listener here to read its per-thread counters before exit.
 * The stores only make it long enough (> 16 bytes) for any patcher. */
volatile uint64_t bench_sink;
__attribute__((noinline, noclone)) void bench_done(uint64_t calls, uint64_t sum)
{
    bench_sink = calls;
    bench_sink = sum;
    bench_sink = calls ^ sum;
}

static long calls_per_thread;
static long warmup_calls;
static pthread_barrier_t start_barrier;

struct result {
    uint64_t cpu_ns;
    uint64_t wall_ns;
    uint64_t sum;
    char pad[40];
};

static uint64_t ts_ns(const struct timespec *t)
{
    return (uint64_t)t->tv_sec * 1000000000u + (uint64_t)t->tv_nsec;
}

static void *run(void *arg)
{
    struct result *r = arg;
    struct timespec a, b, wa, wb;
    uint64_t sum = 0;
    pthread_barrier_wait(&start_barrier);
    for (long i = 0; i < warmup_calls; i++)
        sum += (uint64_t)work((int)i);
    clock_gettime(CLOCK_MONOTONIC, &wa);
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &a);
    for (long i = 0; i < calls_per_thread; i++) {
#ifdef RDTSC_FLOOR
        /* The floor for any timing hook: two timestamp reads around the call. */
        uint64_t t0 = __rdtsc();
        sum += (uint64_t)work((int)i);
        uint64_t t1 = __rdtsc();
        sum += t1 - t0;
#else
        sum += (uint64_t)work((int)i);
#endif
    }
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &b);
    clock_gettime(CLOCK_MONOTONIC, &wb);
    r->cpu_ns = ts_ns(&b) - ts_ns(&a);
    r->wall_ns = ts_ns(&wb) - ts_ns(&wa);
    r->sum = sum;
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc != 3 && argc != 4) {
        fprintf(stderr, "usage: %s THREADS CALLS_PER_THREAD [WARMUP_CALLS]\n", argv[0]);
        return 2;
    }
    int threads = atoi(argv[1]);
    calls_per_thread = atol(argv[2]);
    warmup_calls = argc == 4 ? atol(argv[3]) : 0;
    if (threads < 1 || threads > 256 || calls_per_thread < 1 || warmup_calls < 0) {
        fprintf(stderr, "bad arguments\n");
        return 2;
    }
    pthread_t tid[256];
    struct result res[256] = {0};
    struct timespec w0, w1;
    /* +1: main joins the barrier so the wall clock starts when every worker exists. */
    pthread_barrier_init(&start_barrier, NULL, (unsigned)threads + 1);
    for (int t = 0; t < threads; t++)
        if (pthread_create(&tid[t], NULL, run, &res[t]) != 0) {
            perror("pthread_create");
            return 1;
        }
    pthread_barrier_wait(&start_barrier);
    clock_gettime(CLOCK_MONOTONIC, &w0);
    for (int t = 0; t < threads; t++)
        pthread_join(tid[t], NULL);
    clock_gettime(CLOCK_MONOTONIC, &w1);
    uint64_t cpu = 0, loop_wall = 0, sum = 0;
    for (int t = 0; t < threads; t++) {
        cpu += res[t].cpu_ns;
        loop_wall += res[t].wall_ns;
        sum += res[t].sum;
    }
    bench_done((uint64_t)threads * (uint64_t)calls_per_thread, sum);
    double calls = (double)threads * (double)calls_per_thread;
    printf("{\"threads\": %d, \"calls_per_thread\": %ld, \"warmup_calls\": %ld, "
           "\"cpu_ns_per_call\": %.3f, \"wall_ns_per_call\": %.3f, "
           "\"loop_wall_ns_per_call\": %.3f, \"checksum\": %llu}\n",
           threads, calls_per_thread, warmup_calls, (double)cpu / calls,
           (double)(ts_ns(&w1) - ts_ns(&w0)) / calls, (double)loop_wall / calls,
           (unsigned long long)sum);
    return 0;
}
