"""Call-heavy workload for the issue-14 hook measurements. Prints one JSON line of phase times.
Region candidates: `rare` (called 100 times), `fib` (5 x fib(27): 3 178 105 calls), `Point.step`
(3 000 000 calls)."""
import json, sys, time

def fib(n):
    return n if n < 2 else fib(n - 1) + fib(n - 2)

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
    for i in range(n):
        p.step(1)
    return p.x

def builtins(n):            # C calls only: what PyTrace_C_CALL/C_RETURN cost a profile hook
    s = 0
    for i in range(n):
        s += len("ab") + abs(-i)
    return s

out = {}
t = time.perf_counter()
for _ in range(5):
    fib(27)
out["fib"] = time.perf_counter() - t
t = time.perf_counter(); methods(3_000_000); out["methods"] = time.perf_counter() - t
t = time.perf_counter(); builtins(2_000_000); out["builtins"] = time.perf_counter() - t
t = time.perf_counter()
for _ in range(100):
    rare(1000)
out["rare"] = time.perf_counter() - t
print(json.dumps(out), flush=True)
