#!/usr/bin/env python3
"""Runs the hook-overhead benchmark: every variant x thread count, interleaved, for some rounds.

Called by scripts/bench-overhead.sh, which installs the tools and builds the binaries first.
Writes a JSON file with every run and the summary, a Markdown table, and prints the table.

Metric: the fixture's own "cpu_ns_per_call" = the threads' summed CLOCK_THREAD_CPUTIME_ID over
their loops / calls. "Added" = variant - its uninstrumented baseline measured in the same round.
Ratios (uftrace/scope, frida/scope) are taken per round, then the median over rounds.
A second, coarser metric, "end-to-end", is the whole process tree's CPU (user+sys, getrusage
RUSAGE_CHILDREN) minus its baseline's, per call: it adds start-up, uftrace's separate recorder
process and scope's writer thread and final write/merge. Not available for Frida (the fixture is
not our child). Where the variant makes another number of calls than its baseline (uftrace,
scope-hotpath), the baseline's process CPU is scaled to the variant's calls: its fixed part (all
but its loop) plus its loop's CPU per call times the variant's calls (warm-up calls included).

Against the floor (issue 15): per variant and thread count, the wall time added per call in the
calling threads (each thread's own loop wall time / its calls, averaged over the threads, minus
the baseline's) and the whole-process CPU added per call (end-to-end above), each divided by the
floor's figure in the same round (rdtsc-floor: wall added per call, and CPU added per call in its
loop, which is all the CPU it adds), then the median and min-max over the rounds. The verdict
checks issue 15's targets at every thread count up to the number of CPUs this process may run on.
"""
import argparse
import datetime
import json
import os
import platform
import re
import resource
import shutil
import statistics
import subprocess
import sys
import time

EVENT_CAP = 65536  # scope's per-thread buffer (RECORD_CAP in agent/src/engine/thread.rs); flushed when full
# scope-hotpath: one full buffer (and its flush) plus a little during warm-up, so the buffer pages
# are touched and the thread state exists; then HOT_N timed calls that end before the second flush.
HOT_WARMUP = EVENT_CAP + 200
HOT_N = 60000
assert HOT_WARMUP + HOT_N < 2 * EVENT_CAP


def log(msg):
    print("bench: " + msg, file=sys.stderr, flush=True)


def child_cpu():
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def fixture_line(stdout):
    for line in stdout.splitlines():
        if line.startswith('{"threads"'):
            return json.loads(line)
    return None


class Bench:
    def __init__(self, a):
        self.a = a
        self.bindir = a.bindir
        self.work = os.path.join(a.workdir)
        os.makedirs(self.work, exist_ok=True)
        self.config = os.path.join(self.work, "scope.toml")
        with open(self.config, "w") as f:
            f.write('[[regions]]\nsymbol = "work"\n')
        self.failures = []

    def exe(self, name):
        return os.path.join(self.bindir, name)

    # ---- one run of one variant ---------------------------------------------------------
    def run(self, variant, threads):
        a = self.a
        # "<variant>@b": the same variant with the second agent (--agent-b), side by side.
        agent = a.agent_b if variant.endswith("@b") else a.agent
        full_name, variant = variant, variant.split("@")[0]
        env = dict(os.environ)
        for k in ("LD_PRELOAD", "SCOPE_CONFIG", "SCOPE_OUTPUT"):
            env.pop(k, None)
        n = a.n_scope
        warmup = 0
        verify = None
        if variant == "plain":
            cmd = [self.exe("plain")]
        elif variant == "plain-pfe":
            cmd = [self.exe("plain-pfe")]
        elif variant == "plain-mpi":
            cmd = [self.exe("plain-mpi")]
        elif variant == "rdtsc-floor":
            cmd = [self.exe("rdtsc-floor")]
        elif variant in ("scope", "scope-nompi", "scope-hotpath"):
            out = os.path.join(self.work, "scope-out.h5")
            if os.path.exists(out):
                os.remove(out)
            env.update(LD_PRELOAD=agent, SCOPE_CONFIG=self.config, SCOPE_OUTPUT=out)
            if variant == "scope":
                cmd = [self.exe("plain-mpi")]
            elif variant == "scope-hotpath":
                cmd = [self.exe("plain")]
                n, warmup = HOT_N, HOT_WARMUP
            else:
                # No MPI: events stay in memory up to 1 Mi, then spill to a private rank file.
                cmd = [self.exe("plain")]
            verify = ("scope", out)
        elif variant == "uftrace":
            d = os.path.join(self.work, "uftrace.data")
            shutil.rmtree(d, ignore_errors=True)
            n = a.n_tool
            cmd = ["uftrace", "record", "-d", d, "-P", "work", self.exe("plain-pfe")]
            verify = ("uftrace", d)
        elif variant == "frida":
            n = a.n_tool
            cmd = [a.python, os.path.join(a.srcdir, "frida_driver.py"), self.exe("plain")]
            verify = ("frida", None)
        else:
            raise ValueError(variant)
        cmd = cmd + [str(threads), str(n)] + ([str(warmup)] if warmup else [])
        c0, w0 = child_cpu(), time.monotonic()
        p = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
        c1, w1 = child_cpu(), time.monotonic()
        variant = full_name
        rec = {"variant": variant, "threads": threads, "calls_per_thread": n,
               "warmup_calls": warmup, "command": " ".join(cmd), "rc": p.returncode,
               "tree_cpu_s": c1 - c0, "elapsed_s": w1 - w0}
        fx = fixture_line(p.stdout)
        if p.returncode != 0 or fx is None:
            rec["error"] = "rc=%d, stderr: %s" % (p.returncode, p.stderr.strip()[-2000:])
            self.failures.append("%s T=%d: %s" % (variant, threads, rec["error"]))
            return rec
        rec["cpu_ns_per_call"] = fx["cpu_ns_per_call"]
        rec["wall_ns_per_call"] = fx["wall_ns_per_call"]
        rec["loop_wall_ns_per_call"] = fx["loop_wall_ns_per_call"]
        if p.stderr.strip():
            rec["stderr"] = p.stderr.strip()[-2000:]
        if verify:
            want = threads * (n + warmup)
            got, extra = self.count(verify, p.stdout)
            rec["events_expected"] = want
            rec["events_recorded"] = got
            rec.update(extra)
            if got != want:
                msg = "%s T=%d: recorded %s events, expected %d %s" % (variant, threads, got, want, extra)
                rec["error"] = msg
                self.failures.append(msg)
        if verify and verify[0] == "scope" and os.path.exists(verify[1]):
            os.remove(verify[1])
        if verify and verify[0] == "uftrace":
            shutil.rmtree(verify[1], ignore_errors=True)
        return rec

    def count(self, verify, stdout):
        kind, path = verify
        if kind == "scope":
            import h5py
            if not os.path.exists(path):
                return 0, {"note": "no output file"}
            with h5py.File(path, "r") as f:
                total, dropped, tids = 0, 0, set()
                for rank in f:
                    g = f[rank]
                    dropped += int(g.attrs.get("dropped_events", 0))
                    if "regions/work" in g:
                        total += len(g["regions/work/start_times"])
                        tids.update(int(t) for t in set(g["regions/work/thread_ids"][:: 4096]))
                return total, {"dropped_events": dropped, "thread_ids_seen": len(tids)}
        if kind == "uftrace":
            p = subprocess.run(["uftrace", "report", "-d", path, "--no-pager"],
                               capture_output=True, text=True)
            for line in p.stdout.splitlines():
                tok = line.split()
                if tok and tok[-1] == "work":
                    return int(tok[-2]), {}
            return 0, {"note": "no 'work' row in uftrace report: " + (p.stderr or p.stdout)[-500:]}
        if kind == "frida":
            for line in stdout.splitlines():
                if line.startswith('{"frida_version"'):
                    d = json.loads(line)
                    return d["events"], {"frida_version": d["frida_version"]}
            return 0, {"note": "no counter line from the Frida driver"}
        raise ValueError(kind)


def base_of(v):
    """The variant a "<variant>@b" run repeats with the second agent."""
    return v.split("@")[0]


BASELINE = {"scope": "plain-mpi", "scope-nompi": "plain", "scope-hotpath": "plain",
            "uftrace": "plain-pfe",
            "frida": "plain", "rdtsc-floor": "plain"}


def summarise(runs, variants, threads_list, rounds):
    by = {}
    for r in runs:
        by[(r["round"], r["variant"], r["threads"])] = r

    def added(rnd, v, t, key="cpu_ns_per_call"):
        r, b = by.get((rnd, v, t)), by.get((rnd, BASELINE[base_of(v)], t))
        if not r or not b or "error" in r or "error" in b or key not in r:
            return None
        return r[key] - b[key]

    def e2e(rnd, v, t):
        r, b = by.get((rnd, v, t)), by.get((rnd, BASELINE[base_of(v)], t))
        if not r or not b or "error" in r or "error" in b:
            return None
        calls_r = t * (r["calls_per_thread"] + r.get("warmup_calls", 0))
        calls_b = t * (b["calls_per_thread"] + b.get("warmup_calls", 0))
        # The baseline's process CPU at the variant's number of calls: its fixed part (start-up,
        # exit) plus its loop's CPU per call for each call the variant made. The same as the
        # plain difference when both made as many calls.
        base_fixed = b["tree_cpu_s"] * 1e9 - b["cpu_ns_per_call"] * calls_b
        return (r["tree_cpu_s"] * 1e9 - base_fixed - b["cpu_ns_per_call"] * calls_r) / calls_r

    def wall(rnd, v, t):
        return added(rnd, v, t, "loop_wall_ns_per_call")

    def ratio(x, y):
        return x / y if x is not None and y else None

    def stats(xs):
        xs = [x for x in xs if x is not None]
        if not xs:
            return None
        return {"median": statistics.median(xs), "min": min(xs), "max": max(xs), "n": len(xs)}

    s = {"added_ns_per_call": {}, "end_to_end_ns_per_call": {}, "baseline_ns_per_call": {},
         "ratios": {}, "wall_added_ns_per_call": {}, "baseline_wall_ns_per_call": {},
         "floor_ratio": {"wall": {}, "cpu": {}}, "thread_ratio": {"wall": {}, "cpu": {}}}
    has_floor = "rdtsc-floor" in variants
    for v in variants:
        for t in threads_list:
            key = "%s/T%d" % (v, t)
            if base_of(v) in BASELINE:
                s["added_ns_per_call"][key] = stats([added(i, v, t) for i in range(rounds)])
                s["wall_added_ns_per_call"][key] = stats([wall(i, v, t) for i in range(rounds)])
                if base_of(v) != "frida":
                    s["end_to_end_ns_per_call"][key] = stats([e2e(i, v, t) for i in range(rounds)])
                if has_floor and v != "rdtsc-floor":
                    # The floor's whole-process CPU is its loop's (nothing else runs), measured
                    # per thread with less noise than getrusage over the process tree.
                    s["floor_ratio"]["wall"][key] = stats(
                        [ratio(wall(i, v, t), wall(i, "rdtsc-floor", t)) for i in range(rounds)])
                    if base_of(v) != "frida":
                        s["floor_ratio"]["cpu"][key] = stats(
                            [ratio(e2e(i, v, t), added(i, "rdtsc-floor", t))
                             for i in range(rounds)])
                if t != threads_list[0]:
                    t0 = threads_list[0]
                    k = "%s T%d/T%d" % (v, t, t0)
                    s["thread_ratio"]["wall"][k] = stats(
                        [ratio(wall(i, v, t), wall(i, v, t0)) for i in range(rounds)])
                    if base_of(v) != "frida":
                        s["thread_ratio"]["cpu"][k] = stats(
                            [ratio(e2e(i, v, t), e2e(i, v, t0)) for i in range(rounds)])
            else:
                s["baseline_ns_per_call"][key] = stats(
                    [by[(i, v, t)].get("cpu_ns_per_call") for i in range(rounds)
                     if (i, v, t) in by])
                s["baseline_wall_ns_per_call"][key] = stats(
                    [by[(i, v, t)].get("loop_wall_ns_per_call") for i in range(rounds)
                     if (i, v, t) in by])
    for other in ("uftrace", "frida"):
        for ref in ("scope", "scope-hotpath"):
            for t in threads_list:
                xs = []
                for i in range(rounds):
                    a, b = added(i, other, t), added(i, ref, t)
                    xs.append(a / b if a is not None and b else None)
                s["ratios"]["%s/%s T%d" % (other, ref, t)] = stats(xs)
    xs = []
    for i in range(rounds):
        a, b = added(i, "scope", threads_list[-1]), added(i, "scope", threads_list[0])
        xs.append(a / b if a is not None and b else None)
    s["ratios"]["scope T%d/T%d" % (threads_list[-1], threads_list[0])] = stats(xs)
    return s


def verdict(s, threads_list):
    out = []
    sc = [s["added_ns_per_call"].get("scope/T%d" % t) for t in threads_list]
    if all(sc):
        worst = max(x["median"] for x in sc)
        out.append(("scope <= 45 ns/call added (median, every thread count)", worst <= 45.0,
                    "worst median %.1f ns" % worst))
    tr = s["ratios"].get("scope T%d/T%d" % (threads_list[-1], threads_list[0]))
    if tr:
        out.append(("scope independent of thread count (T%d/T%d within 0.8-1.2)"
                    % (threads_list[-1], threads_list[0]), 0.8 <= tr["median"] <= 1.2,
                    "median ratio %.2f" % tr["median"]))
    for other, want in (("uftrace", 3.0), ("frida", 5.0)):
        rs = [s["ratios"].get("%s/scope T%d" % (other, t)) for t in threads_list]
        if all(rs):
            worst = min(r["median"] for r in rs)
            out.append(("scope >= %gx cheaper than %s (median, every thread count)" % (want, other),
                        worst >= want, "worst median ratio %.2fx" % worst))
    return out


ISSUE15_VARIANTS = ("scope", "scope@b", "scope-nompi", "scope-nompi@b")
ISSUE15_LIMIT = 1.2


def verdict_issue15(s, threads_list, cores):
    """Issue 15's targets, per variant: wall and whole-process CPU added per call at most 1.2x the
    floor (median) at every thread count up to `cores`; the added wall and CPU per call at those
    thread counts within 0.8-1.2x of the first thread count's (median of the per-round ratios)."""
    out = []
    ts = [t for t in threads_list if t <= cores]
    for v in ISSUE15_VARIANTS:
        for what, label in (("wall", "wall added in the calling threads"),
                            ("cpu", "whole-process CPU added")):
            rs = [s["floor_ratio"][what].get("%s/T%d" % (v, t)) for t in ts]
            if not ts or not all(rs):
                continue
            worst = max(r["median"] for r in rs)
            out.append(("%s: %s <= %gx floor at T=%s" % (v, label, ISSUE15_LIMIT,
                                                        ",".join(str(t) for t in ts)),
                        worst <= ISSUE15_LIMIT,
                        "; ".join("T=%d %.2fx" % (t, r["median"]) for t, r in zip(ts, rs))))
        rs = [(t, what, s["thread_ratio"][what].get("%s T%d/T%d" % (v, t, ts[0])))
              for t in ts[1:] for what in ("wall", "cpu")]
        if not rs or not all(r for _, _, r in rs):
            if v in ("scope", "scope-nompi") and len(ts) < 2:
                out.append(("%s: independent of the thread count up to %d" % (v, cores), False,
                            "not measured: fewer than two thread counts <= %d" % cores))
            continue
        ok = all(0.8 <= r["median"] <= 1.2 for _, _, r in rs)
        out.append(("%s: independent of the thread count up to %d "
                    "(T/T=%d within 0.8-1.2, wall and CPU)" % (v, cores, ts[0]), ok,
                    "; ".join("%s T%d/T%d %.2f" % (w, t, ts[0], r["median"]) for t, w, r in rs)))
    return out


def fmt(st, unit="", digits=1):
    if not st:
        return "n/a"
    f = "%%.%df" % digits
    return (f + "%s (" + f + "–" + f + ")") % (st["median"], unit, st["min"], st["max"])


VARIANT_ORDER = ("rdtsc-floor", "scope", "scope@b", "scope-nompi", "scope-nompi@b", "scope-hotpath",
                 "scope-hotpath@b", "uftrace", "frida")


def markdown_floor(s, threads_list, cores):
    """Issue 15's table: wall and whole-process CPU added per call, and each as a ratio to the
    floor measured in the same rounds."""
    lines = ["| variant | T | wall added ns/call | wall ÷ floor | whole-process CPU added ns/call"
             " | CPU ÷ floor |", "|---|---|---|---|---|---|"]
    for v in VARIANT_ORDER:
        for t in threads_list:
            key = "%s/T%d" % (v, t)
            if key not in s["wall_added_ns_per_call"]:
                continue
            tl = "%d%s" % (t, " (> %d CPUs)" % cores if t > cores else "")
            if v == "rdtsc-floor":
                lines.append("| rdtsc-floor (in-loop CPU) | %s | %s | 1 | %s | 1 |" % (
                    tl, fmt(s["wall_added_ns_per_call"].get(key)),
                    fmt(s["added_ns_per_call"].get(key))))
                continue
            lines.append("| %s | %s | %s | %s | %s | %s |" % (
                v, tl, fmt(s["wall_added_ns_per_call"].get(key)),
                fmt(s["floor_ratio"]["wall"].get(key), "×", 2),
                fmt(s["end_to_end_ns_per_call"].get(key)),
                fmt(s["floor_ratio"]["cpu"].get(key), "×", 2)))
    if len(lines) == 2:
        return ""
    return "\n".join(lines)


def markdown(s, threads_list, ns):
    lines = []
    lines.append("| variant | calls/thread | " + " | ".join("T=%d added ns/call" % t for t in threads_list)
                 + " | " + " | ".join("T=%d end-to-end ns/call" % t for t in threads_list) + " |")
    lines.append("|---|---|" + "---|" * (2 * len(threads_list)))
    for v in ("rdtsc-floor", "scope", "scope@b", "scope-nompi", "scope-nompi@b", "scope-hotpath",
              "scope-hotpath@b", "uftrace", "frida"):
        if not any(("%s/T%d" % (v, t)) in s["added_ns_per_call"] for t in threads_list):
            continue
        row = "| %s | %s | " % (v, ns.get(v, ""))
        row += " | ".join(fmt(s["added_ns_per_call"].get("%s/T%d" % (v, t))) for t in threads_list)
        row += " | " + " | ".join(fmt(s["end_to_end_ns_per_call"].get("%s/T%d" % (v, t)))
                                  for t in threads_list) + " |"
        lines.append(row)
    lines.append("")
    lines.append("| ratio (per round, then median) | " + " | ".join("T=%d" % t for t in threads_list) + " |")
    lines.append("|---|" + "---|" * len(threads_list))
    for ref in ("scope", "scope-hotpath"):
        for other in ("uftrace", "frida"):
            lines.append("| %s / %s%s | " % (other, ref, " (informational)" if ref != "scope" else "")
                         + " | ".join(fmt(s["ratios"].get("%s/%s T%d" % (other, ref, t)), "×")
                                      for t in threads_list) + " |")
    k = "scope T%d/T%d" % (threads_list[-1], threads_list[0])
    lines.append("| %s | %s |%s" % (k, fmt(s["ratios"].get(k), "×"), " |" * (len(threads_list) - 1)))
    lines.append("")
    lines.append("| baseline (uninstrumented) | " + " | ".join("T=%d ns/call" % t for t in threads_list) + " |")
    lines.append("|---|" + "---|" * len(threads_list))
    for v in ("plain", "plain-pfe", "plain-mpi"):
        lines.append("| %s | " % v + " | ".join(
            fmt(s["baseline_ns_per_call"].get("%s/T%d" % (v, t))) for t in threads_list) + " |")
    return "\n".join(lines)


def cpu_info():
    """The CPU model string, family and model from /proc/cpuinfo (first CPU)."""
    info = {"model_name": platform.processor() or platform.machine(), "family": None, "model": None}
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if not line.strip():
                    break
                k, _, val = line.partition(":")
                k, val = k.strip(), val.strip()
                if k == "model name":
                    info["model_name"] = val
                elif k == "cpu family":
                    info["family"] = int(val)
                elif k == "model" and re.fullmatch(r"\d+", val):
                    info["model"] = int(val)
    except OSError:
        pass
    return info


def usable_cpus():
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bindir", required=True)
    ap.add_argument("--srcdir", required=True)
    ap.add_argument("--workdir", required=True)
    ap.add_argument("--agent", required=True)
    ap.add_argument("--agent-b", help="a second agent, run as the variants NAME@b side by side")
    ap.add_argument("--python", default=sys.executable)
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--threads", help="comma-separated thread counts (default: 1, the number of "
                    "CPUs this process may run on, and 4)")
    ap.add_argument("--n-scope", type=int, default=2_000_000)
    ap.add_argument("--n-tool", type=int, default=1_000_000)
    ap.add_argument("--variants", default="plain,plain-pfe,plain-mpi,rdtsc-floor,scope,scope-nompi,scope-hotpath,uftrace,frida")
    ap.add_argument("--json", required=True)
    ap.add_argument("--md", required=True)
    a = ap.parse_args()
    cores = usable_cpus()
    if a.threads:
        threads_list = sorted({int(x) for x in a.threads.split(",")})
    else:
        threads_list = sorted({1, cores, 4})
    cpu = cpu_info()
    load_start = os.getloadavg()
    cpu_line = "CPU: %s (family %s, model %s), %d CPUs usable; load average at start: %s" % (
        cpu["model_name"], cpu["family"], cpu["model"], cores,
        " ".join("%.2f" % x for x in load_start))
    log(cpu_line)
    variants = a.variants.split(",")
    if a.agent_b:
        variants += [v + "@b" for v in variants if v.startswith("scope")]
    b = Bench(a)
    pairs = [(v, t) for t in threads_list for v in variants]
    runs = []
    t_start = time.monotonic()
    for rnd in range(a.rounds):
        # Rotate the order every round so no variant always runs right after the same one.
        k = (rnd * 3) % len(pairs)
        order = pairs[k:] + pairs[:k]
        for v, t in order:
            rec = b.run(v, t)
            rec["round"] = rnd
            runs.append(rec)
        log("round %d/%d done (%.0f s)" % (rnd + 1, a.rounds, time.monotonic() - t_start))
    s = summarise(runs, variants, threads_list, a.rounds)
    v = verdict(s, threads_list)
    v15 = verdict_issue15(s, threads_list, cores)
    ns = {"scope": "%d" % a.n_scope, "scope@b": "%d" % a.n_scope,
          "scope-nompi@b": "%d" % a.n_scope,
          "scope-hotpath@b": "%d (+%d warm-up)" % (HOT_N, HOT_WARMUP),
          "scope-nompi": "%d" % a.n_scope,
          "scope-hotpath": "%d (+%d warm-up)" % (HOT_N, HOT_WARMUP), "uftrace": "%d" % a.n_tool, "frida": "%d" % a.n_tool, "rdtsc-floor": "%d" % a.n_scope}
    md = cpu_line + "; at end: %s\n\n" % " ".join("%.2f" % x for x in os.getloadavg())
    md += markdown(s, threads_list, ns)
    md += "\n\nVerdict:\n" + "\n".join(
        "- %s: **%s** (%s)" % (name, "yes" if ok else "no", detail) for name, ok, detail in v)
    floor_md = markdown_floor(s, threads_list, cores)
    if floor_md:
        md += ("\n\nAgainst the floor (issue 15): wall = time added per call in the calling "
               "threads' loop; CPU = whole-process CPU added per call (writer thread, start-up, "
               "finalize and merge included); ÷ floor = per round against rdtsc-floor's wall / "
               "in-loop CPU added, then the median (min–max over %d rounds):\n\n" % a.rounds)
        md += floor_md
        md += "\n\nVerdict (issue 15, thread counts up to %d CPUs):\n" % cores + "\n".join(
            "- %s: **%s** (%s)" % (name, "met" if ok else "missed", detail)
            for name, ok, detail in v15)
    if b.failures:
        md += "\n\nFailures:\n" + "\n".join("- " + f for f in b.failures)
    result = {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "machine": {"cpu": cpu["model_name"], "cpu_family": cpu["family"], "cpu_model": cpu["model"],
                    "cpus": os.cpu_count(), "cpus_usable": cores, "kernel": platform.release(),
                    "loadavg_at_start": load_start,
                    "loadavg_at_end": os.getloadavg()},
        "settings": {"rounds": a.rounds, "threads": threads_list, "n_scope": a.n_scope,
                     "n_tool": a.n_tool, "variants": variants},
        "summary": s,
        "verdict": [{"check": n, "pass": ok, "detail": d} for n, ok, d in v],
        "verdict_issue15": [{"check": n, "pass": ok, "detail": d} for n, ok, d in v15],
        "failures": b.failures,
        "runs": runs,
        "elapsed_s": time.monotonic() - t_start,
    }
    os.makedirs(os.path.dirname(os.path.abspath(a.json)), exist_ok=True)
    with open(a.json, "w") as f:
        json.dump(result, f, indent=1)
    with open(a.md, "w") as f:
        f.write(md + "\n")
    print(md)
    return 1 if b.failures else 0


if __name__ == "__main__":
    sys.exit(main())
