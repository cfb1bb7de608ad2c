"""Runs bench.c plain and under scope (`[mpi] calls = true`) alternately, for each MPI, and
reports the median ns per call and what scope adds. Usage: see scripts/bench-mpi-calls.sh."""
import argparse
import json
import os
import statistics
import subprocess
import sys

p = argparse.ArgumentParser()
p.add_argument("--bin-dir", required=True)
p.add_argument("--scope-run", required=True)
p.add_argument("--work", required=True)
p.add_argument("--rounds", type=int, default=5)
p.add_argument("--n", type=int, default=1000000)
p.add_argument("--json", required=True)
p.add_argument("--md", required=True)
p.add_argument("--ranks", type=int, default=2)
a = p.parse_args()

MPIS = {"openmpi": ["mpirun.openmpi"], "mpich": ["mpirun.mpich"]}
os.makedirs(a.work, exist_ok=True)
cfg = os.path.join(a.work, "scope.toml")
with open(cfg, "w") as f:
    f.write("[mpi]\ncalls = true\n")


def parse(out):
    return {k: float(v) for k, v in (line.split() for line in out.strip().splitlines())}


def run(flavor, scoped):
    prog = os.path.join(a.bin_dir, f"mpi_calls_bench.{flavor}")
    if scoped:
        out = os.path.join(a.work, f"{flavor}.h5")
        if os.path.exists(out):
            os.remove(out)
        # scope-run picks the launcher of the MPI the program is linked with.
        cmd = [a.scope_run, "-c", cfg, "-o", out, "-n", str(a.ranks), "--", prog, str(a.n)]
    else:
        cmd = MPIS[flavor] + ["-n", str(a.ranks), prog, str(a.n)]
    r = subprocess.run(cmd, capture_output=True, text=True, cwd=a.work, timeout=600)
    if r.returncode != 0:
        sys.exit(f"failed: {' '.join(cmd)}\n{r.stdout}\n{r.stderr}")
    return parse(r.stdout)


results = {}
for flavor in MPIS:
    runs = {"plain": [], "scope": []}
    for i in range(a.rounds):
        order = ["plain", "scope"] if i % 2 == 0 else ["scope", "plain"]
        for v in order:
            runs[v].append(run(flavor, v == "scope"))
    results[flavor] = runs

rows = []
for flavor, runs in results.items():
    for phase in ["comm_rank", "allreduce", "pingpong"][: 3 if a.ranks > 1 else 2]:
        plain = statistics.median(r[phase] for r in runs["plain"])
        scope = statistics.median(r[phase] for r in runs["scope"])
        rows.append((flavor, phase, plain, scope, scope - plain))

with open(a.json, "w") as f:
    json.dump({"n": a.n, "rounds": a.rounds, "runs": results,
               "summary": [dict(zip(["mpi", "call", "plain_ns", "scope_ns", "added_ns"], r))
                           for r in rows]}, f, indent=1)
lines = ["| MPI | call | plain ns/call | scope ns/call | added ns/call |", "|---|---|---|---|---|"]
lines += [f"| {m} | {c} | {p:.1f} | {s:.1f} | {d:+.1f} |" for m, c, p, s, d in rows]
text = "\n".join(lines)
with open(a.md, "w") as f:
    f.write(text + "\n")
print(f"{a.ranks} ranks, n = {a.n} calls per phase, {a.rounds} rounds each, medians\n{text}")
