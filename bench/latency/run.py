"""Small-message MPI latency with NetPIPE, plain and under scope (`[mpi] calls = true`, and
optionally `calls = [LIST]`), 2 ranks, Open MPI and MPICH, runs interleaved round by round.
Every scoped profile is read back (scope-pproc --format json) and must hold the MPI_Send and
MPI_Recv calls NetPIPE made, so the benchmark cannot measure a scope that recorded nothing.
Usage: see scripts/bench-latency.sh."""
import argparse
import datetime
import fnmatch
import json
import os
import re
import statistics
import subprocess
import sys

p = argparse.ArgumentParser()
p.add_argument("--scope-run", required=True)
p.add_argument("--scope-pproc", required=True)
p.add_argument("--work", required=True)
p.add_argument("--json", required=True)
p.add_argument("--md", required=True)
p.add_argument("--rounds", type=int, default=10)
p.add_argument("--max-bytes", type=int, default=8)
p.add_argument("--repeats", type=int, default=0, help="NetPIPE -n (0: NetPIPE calibrates)")
p.add_argument("--calls", default="", help="comma-separated list: adds a `calls = [...]` variant")
p.add_argument("--mpis", default="openmpi,mpich")
p.add_argument("--keep", action="store_true", help="keep the profiles")
p.add_argument("--cpu", default="")
a = p.parse_args()

NP = {
    "openmpi": {"plain": ["mpirun.openmpi", "-n", "2"], "prog": "/usr/bin/NPopenmpi",
                "name": "Open MPI"},
    "mpich": {"plain": ["mpiexec.mpich", "-n", "2"], "prog": "/usr/bin/NPmpich2", "name": "MPICH"},
}
mpis = [m for m in a.mpis.split(",") if m]
for m in mpis:
    if m not in NP:
        sys.exit(f"bench-latency: unknown MPI {m} (openmpi, mpich)")
# NetPIPE does every size TRIALS times (nrepeat round trips each) and keeps the fastest trial.
TRIALS = 3

os.makedirs(a.work, exist_ok=True)
variants = {"plain": None, "calls=true": "[mpi]\ncalls = true\n"}
call_list = [c.strip() for c in a.calls.split(",") if c.strip()]
if call_list:
    listed = ", ".join(json.dumps(c) for c in call_list)
    variants["calls=list"] = f"[mpi]\ncalls = [{listed}]\n"
cfgs = {}
for v, text in variants.items():
    if text is not None:
        cfgs[v] = os.path.join(a.work, v.replace("=", "-") + ".toml")
        with open(cfgs[v], "w") as f:
            f.write(text)


def recorded(v, name):
    """Whether variant v records MPI call `name`."""
    if v == "calls=true":
        return True
    return any(fnmatch.fnmatch(name.lower(), c.lower()) for c in call_list)


def netpipe_args(out):
    args = ["-l", "1", "-u", str(a.max_bytes), "-p", "0", "-o", out]
    if a.repeats:
        args += ["-n", str(a.repeats)]
    return args


def run(mpi, v, tag):
    np_out = os.path.join(a.work, f"{tag}.np")
    if os.path.exists(np_out):
        os.remove(np_out)
    prog = [NP[mpi]["prog"]] + netpipe_args(np_out)
    h5 = os.path.join(a.work, f"{tag}.h5")
    if v == "plain":
        cmd = NP[mpi]["plain"] + prog
    else:
        if os.path.exists(h5):
            os.remove(h5)
        # scope-run picks the launcher of the MPI the program links (mpirun.openmpi, mpiexec.mpich).
        cmd = [a.scope_run, "-n", "2", "-c", cfgs[v], "-o", h5, "--"] + prog
    r = subprocess.run(cmd, capture_output=True, text=True, cwd=a.work, timeout=300)
    if r.returncode != 0:
        sys.exit(f"bench-latency: failed ({r.returncode}): {' '.join(cmd)}\n{r.stdout}\n{r.stderr}")
    sizes = {}
    with open(np_out) as f:
        for line in f:
            b, _mbps, t = line.split()[:3]
            sizes[int(b)] = float(t) * 1e6  # NetPIPE's time: one way (half a round trip), seconds
    repeats = [int(m.group(1)) for m in re.finditer(r"bytes\s+(\d+) times", r.stderr + r.stdout)]
    if not sizes or len(repeats) != len(sizes):
        sys.exit(f"bench-latency: could not read NetPIPE's output of {' '.join(cmd)}\n{r.stderr}")
    res = {"sizes_us": sizes, "latency_us": statistics.median(sizes.values()),
           "repeats": repeats}
    if v != "plain":
        res["profile"] = check_profile(h5, v, repeats)
        if not a.keep:
            os.remove(h5)
    return res


def check_profile(h5, v, repeats):
    r = subprocess.run([a.scope_pproc, "--format", "json", h5], capture_output=True, text=True,
                       timeout=300)
    if r.returncode != 0:
        sys.exit(f"bench-latency: scope-pproc failed on {h5}\n{r.stderr}")
    prof = json.loads(r.stdout)
    calls = {c["name"]: c["calls"] for c in (prof.get("mpi") or {}).get("calls", [])}
    # Each rank sends and receives once per round trip: both ranks together make at least
    # 2 * TRIALS * sum(repeats) MPI_Send and as many MPI_Recv (plus NetPIPE's set-up ones).
    need = 2 * TRIALS * sum(repeats)
    bad = []
    if not prof.get("complete") or prof.get("dropped_events"):
        bad.append(f"complete={prof.get('complete')} dropped_events={prof.get('dropped_events')}")
    for name in ["MPI_Send", "MPI_Recv"]:
        if recorded(v, name) and calls.get(name, 0) < need:
            bad.append(f"{name}: {calls.get(name, 0)} recorded, NetPIPE made >= {need}")
    if v == "calls=list":
        bad += [f"{n} recorded but not listed" for n in calls if not recorded(v, n)]
    if prof.get("events", 0) <= 0:
        bad.append("no events")
    if bad:
        sys.exit(f"bench-latency: profile {h5} ({v}) is wrong: " + "; ".join(bad))
    return {"events": prof["events"], "calls": calls, "netpipe_round_trips": need // 2}


runs = {m: {v: [] for v in variants} for m in mpis}
order = list(variants)
load_start = open("/proc/loadavg").read().split()[:3]
t_start = datetime.datetime.now()
for i in range(a.rounds):
    for m in mpis:
        # plain, scoped, plain, scoped ...: the order turns every round so neither comes first.
        k = i % len(order)
        for v in order[k:] + order[:k]:
            res = run(m, v, f"{m}-{v.replace('=', '-')}")
            res["load1"] = float(open("/proc/loadavg").read().split()[0])
            runs[m][v].append(res)
            ev = f", {res['profile']['events']} events" if "profile" in res else ""
            print(f"  round {i + 1}/{a.rounds} {m:7s} {v:10s} {res['latency_us']:.3f} us{ev}",
                  file=sys.stderr, flush=True)
load_end = open("/proc/loadavg").read().split()[:3]
secs = (datetime.datetime.now() - t_start).total_seconds()
loads = [r["load1"] for m in mpis for v in variants for r in runs[m][v]]


def stats(xs):
    xs = sorted(xs)
    q = statistics.quantiles(xs, n=4, method="inclusive") if len(xs) > 1 else [xs[0]] * 3
    return {"median": statistics.median(xs), "min": xs[0], "max": xs[-1], "q1": q[0], "q3": q[2]}


rows = []
for m in mpis:
    base = stats([r["latency_us"] for r in runs[m]["plain"]])
    for v in variants:
        s = stats([r["latency_us"] for r in runs[m][v]])
        row = {"mpi": m, "variant": v, **{k + "_us": x for k, x in s.items()},
               "ratio": s["median"] / base["median"],
               "added_ns": (s["median"] - base["median"]) * 1000}
        if v != "plain":
            row["events_median"] = statistics.median(r["profile"]["events"] for r in runs[m][v])
            # Per round, scoped / plain of the same round: how steady the ratio is.
            pr = [s_["latency_us"] / p_["latency_us"]
                  for s_, p_ in zip(runs[m][v], runs[m]["plain"])]
            row["paired_ratio_min"], row["paired_ratio_max"] = min(pr), max(pr)
        rows.append(row)

label = {"plain": "plain", "calls=true": "`calls = true`",
         "calls=list": "`calls = [" + ", ".join(f'"{c}"' for c in call_list) + "]`"}
lines = [f"{a.cpu}; 2 ranks; NetPIPE 1-{a.max_bytes} B, "
         f"{'calibrated repeats' if not a.repeats else f'{a.repeats} repeats'}; "
         f"{a.rounds} interleaved runs per row; load average {' '.join(load_start)} at the start, "
         f"{' '.join(load_end)} at the end, 1-min load {min(loads):.2f}-{max(loads):.2f} after "
         f"the runs (median {statistics.median(loads):.2f}); {t_start:%Y-%m-%d}",
         "",
         "| MPI | run | median µs | IQR µs | min–max µs | scoped / plain | added ns/message | "
         "events / run |",
         "|---|---|---|---|---|---|---|---|"]
for r in rows:
    ev = "–"
    if "events_median" in r:
        e = r["events_median"]
        ev = f"{e / 1e6:.2f} M" if e >= 1e5 else f"{e:.0f}"
    ratio = f"{r['ratio']:.2f}×" if r["variant"] != "plain" else "–"
    added = f"{r['added_ns']:+.0f}" if r["variant"] != "plain" else "–"
    lines.append(f"| {NP[r['mpi']]['name']} | {label[r['variant']]} | {r['median_us']:.3f} | "
                 f"{r['q1_us']:.3f}–{r['q3_us']:.3f} | {r['min_us']:.3f}–{r['max_us']:.3f} | "
                 f"{ratio} | {added} | {ev} |")
verdict = []
for r in rows:
    if r["variant"] == "calls=true":
        ok = r["ratio"] <= 1.10
        verdict.append(f"target (scoped within 10 % of plain), {NP[r['mpi']]['name']}: "
                       f"{'met' if ok else 'missed'} ({r['median_us']:.3f} vs "
                       f"{r['median_us'] / r['ratio']:.3f} µs, {r['ratio']:.2f}×)")
text = "\n".join(lines)
with open(a.md, "w") as f:
    f.write(text + "\n\n" + "\n".join(f"- {x}" for x in verdict) + "\n")
with open(a.json, "w") as f:
    json.dump({"cpu": a.cpu, "date": t_start.isoformat(timespec="seconds"), "rounds": a.rounds,
               "max_bytes": a.max_bytes, "repeats": a.repeats or None, "calls": call_list,
               "load_start": load_start, "load_end": load_end, "load1_after_runs": loads,
               "seconds": secs,
               "summary": rows, "runs": runs}, f, indent=1)
print(text)
print()
print("\n".join(verdict))
print(f"({secs:.0f} s; every scoped profile checked: complete, nothing dropped, all of "
      f"NetPIPE's MPI_Send/MPI_Recv calls that the configuration selects recorded)")
