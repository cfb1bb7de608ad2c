"""Call-heavy Python workload for scripts/bench-python.sh (issue 14: Python functions as regions).

usage: workload.py [FIB_N FIB_REPS METHOD_CALLS BUILTIN_LOOPS RARE_CALLS]
       (default 27 5 3000000 2000000 100)

Phases, each timed inside the process (start-up and exit excluded), in wall time and in the
main thread's CPU time:
  fib       FIB_REPS x recursive fib(FIB_N): every call is a Python call doing almost nothing
  methods   a loop of METHOD_CALLS calls of the method Point.step
  builtins  a loop of BUILTIN_LOOPS iterations, two builtin (C) calls each: len, abs
  rare      RARE_CALLS calls of rare(), the function a region is put on
Prints one JSON line: phase times (s; "wall", "cpu") and the number of calls each region candidate received.
Region candidates: `rare`, `fib`, `Point.step` (qualnames; the module is __main__)."""
import json
import sys
import time


def fib(n):
    return n if n < 2 else fib(n - 1) + fib(n - 2)


def fib_calls(n):
    """Calls fib(n) makes, itself included: 2 * F(n + 1) - 1."""
    a, b = 0, 1
    for _ in range(n + 1):
        a, b = b, a + b
    return 2 * a - 1


class Point:
    def __init__(self):
        self.x = 0

    def step(self, d):
        self.x += d
        return self.x


def rare(k):
    return sum(range(k))


def methods(n):
    p = Point()
    for _ in range(n):
        p.step(1)
    return p.x


def builtins(n):
    s = 0
    for i in range(n):
        s += len("ab") + abs(-i)
    return s


class Clock:
    """Times one phase twice: wall (perf_counter) and this thread's CPU time (thread_time, which
    a shared machine's other work does not inflate)."""

    def __init__(self, out, phase):
        self.out, self.phase = out, phase

    def __enter__(self):
        self.w, self.c = time.perf_counter(), time.thread_time()

    def __exit__(self, *exc):
        c, w = time.thread_time(), time.perf_counter()
        self.out["wall"][self.phase] = w - self.w
        self.out["cpu"][self.phase] = c - self.c


def main():
    args = [int(a) for a in sys.argv[1:]]
    fib_n, fib_reps, method_calls, builtin_loops, rare_calls = args or [27, 5, 3_000_000, 2_000_000, 100]
    out = {"wall": {}, "cpu": {}}
    with Clock(out, "fib"):
        for _ in range(fib_reps):
            fib(fib_n)
    with Clock(out, "methods"):
        methods(method_calls)
    with Clock(out, "builtins"):
        builtins(builtin_loops)
    with Clock(out, "rare"):
        for _ in range(rare_calls):
            rare(1000)
    out["calls"] = {"fib": fib_reps * fib_calls(fib_n), "Point.step": method_calls,
                    "builtin": 2 * builtin_loops, "rare": rare_calls}
    print(json.dumps(out), flush=True)


main()
