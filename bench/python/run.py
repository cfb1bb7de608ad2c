#!/usr/bin/env python3
"""Side-by-side run of bench.py under each variant, interleaved rounds, medians.
usage: run.py [ROUNDS]   (from the repo root; builds into target/pyproto)"""
import json, os, statistics, subprocess, sys
root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
here = os.path.join(root, "bench", "python")
out = os.path.join(root, "target", "pyproto")
os.makedirs(out, exist_ok=True)
so = os.path.join(out, "pyhook.so")
subprocess.check_call(["gcc", "-O2", "-shared", "-fPIC", "-I/usr/include/python3.11", "-o", so,
                       os.path.join(here, "pyhook.c")])
PY = "/usr/bin/python3.11"
bench = os.path.join(here, "bench.py")
venv = os.path.join(out, "venv")
viz = os.path.join(venv, "bin", "viztracer")
def pre(mode, region): return {"LD_PRELOAD": so, "PYHOOK_MODE": mode, "PYHOOK_REGION": region}
variants = [
    ("plain", [PY, bench], {}),
    ("profile hook, empty callback", [PY, bench], pre("profile-noop", "rare")),
    ("profile hook, region=rare", [PY, bench], pre("profile", "rare")),
    ("profile hook, region=fib", [PY, bench], pre("profile", "fib")),
    ("profile hook, region=Point.step", [PY, bench], pre("profile", "Point.step")),
    ("pep523 hook, pass-through only", [PY, bench], pre("pep523-passthru", "rare")),
    ("pep523 hook, region=rare", [PY, bench], pre("pep523", "rare")),
    ("pep523 hook, region=fib", [PY, bench], pre("pep523", "fib")),
    ("pep523 hook, region=Point.step", [PY, bench], pre("pep523", "Point.step")),
    ("cProfile", [PY, "-m", "cProfile", "-o", os.path.join(out, "cprof.out"), bench], {}),
]
if os.path.exists(viz):
    variants.append(("viztracer", [viz, "--quiet", "-o", os.path.join(out, "viz.json"), bench], {}))
rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 5
res = {name: [] for name, _, _ in variants}
for r in range(rounds):
    for name, cmd, env in variants:
        p = subprocess.run(cmd, env={**os.environ, **env}, capture_output=True, text=True)
        line = [l for l in p.stdout.splitlines() if l.startswith("{")]
        if p.returncode or not line:
            sys.exit(f"{name}: rc={p.returncode}\n{p.stdout}\n{p.stderr}")
        res[name].append(json.loads(line[0]))
    print(f"round {r + 1}/{rounds} done", file=sys.stderr)
CALLS = {"fib": 5 * 635621, "methods": 3000000, "builtins": 4000000}
med = {n: {ph: statistics.median(x[ph] for x in v) for ph in ("fib", "methods", "builtins", "rare")}
       for n, v in res.items()}
base = med["plain"]
cpu = [l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")][0]
ver = subprocess.run([PY, "-VV"], capture_output=True, text=True).stdout.split("(")[0].strip()
print(f"CPU: {cpu}; {rounds} interleaved rounds, medians; bench.py on {PY} ({ver})")
print("| variant | 5x fib(27) s | x plain | ns added/call | 3M methods s | x plain | ns added/call | 4M builtin calls s | x plain | ns added/call |")
print("|---|---|---|---|---|---|---|---|---|---|")
for n, m in med.items():
    row = [n]
    for ph in ("fib", "methods", "builtins"):
        row += [f"{m[ph]:.3f}", f"{m[ph] / base[ph]:.2f}"]
        row.append(f"{(m[ph] - base[ph]) / CALLS[ph] * 1e9:.0f}")
    print("| " + " | ".join(row) + " |")
json.dump({"cpu": cpu, "rounds": rounds, "runs": res, "medians": med},
          open(os.path.join(out, "results.json"), "w"), indent=1)
