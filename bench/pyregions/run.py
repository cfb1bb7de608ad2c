#!/usr/bin/env python3
"""Runs the Python-regions benchmark: every variant of workload.py, interleaved, for some rounds.

Called by scripts/bench-python.sh, which installs the tools and builds the agent first.
Standard library only (the harness reads scope's output through scope-pproc's JSON summary).

Metric: the workload's own phase times, measured inside the process (so interpreter start-up and
the profilers' exit work are excluded), by default in the main thread's CPU time (time.thread_time:
the time other work on a shared machine takes from the process is not counted; wall time is kept
in the JSON, and --clock wall compares it instead). Per round, every variant's phase time is
divided by plain's in the same round; the table gives the median of those ratios over the rounds
and their min-max. "ns/call" = median over rounds of (variant - plain) / calls made in the phase.
A coarser column, "whole run", is the process's wall time (start-up and exit included: scope's
HDF5 write, cProfile's and viztracer's dumps) over plain's.

Every scope run is checked: scope-pproc must find exactly the calls the workload made for each
region (rare = 100, fib = every recursive call, Point.step = every method call), no dropped
events, and interval durations consistent with the phase times; cProfile's pstats must count every
fib call; the prototype (--prototype) must report its enters. A variant that recorded anything
else is a failure: the script exits non-zero.
"""
import argparse
import datetime
import json
import os
import platform
import pstats
import re
import resource
import statistics
import subprocess
import sys
import time

PHASES = ("fib", "methods", "builtins")
# calls made in each phase, keyed as workload.py's "calls"
PHASE_CALLS = {"fib": "fib", "methods": "Point.step", "builtins": "builtin"}
TARGET_SLOWDOWN = 1.3         # 3.11: PEP 523, every Python call passes through scope's hook
TARGET_SLOWDOWN_MONITORING = 1.0  # 3.12+: sys.monitoring, functions that are not regions untouched
MONITORING_TOLERANCE = 1.05   # what "1.0x" is judged against: the spread of a no-op variant
TARGET_NS = 150.0


def log(msg):
    print("bench-python: " + msg, file=sys.stderr, flush=True)


def child_cpu():
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def workload_line(stdout):
    for line in stdout.splitlines():
        if line.startswith('{"wall"'):
            return json.loads(line)
    return None


class Variant:
    """name, what it is, command prefix before the workload, extra env, the check to run."""

    def __init__(self, key, label, prefix, env=None, check=None, regions=None, baseline=False,
                 short=None):
        self.key, self.label, self.prefix = key, label, prefix
        self.short = short or label
        self.env = env or {}
        self.check = check
        self.regions = regions or []
        self.baseline = baseline


class Bench:
    def __init__(self, a):
        self.a = a
        self.work = a.workdir
        os.makedirs(self.work, exist_ok=True)
        self.failures = []
        self.variants = self.make_variants()

    def config(self, name, body):
        path = os.path.join(self.work, name + ".toml")
        with open(path, "w") as f:
            f.write(body)
        return path

    def scope_env(self, key, cfg):
        out = os.path.join(self.work, key + ".h5")
        return {"LD_PRELOAD": self.a.agent, "SCOPE_CONFIG": cfg, "SCOPE_OUTPUT": out}, out

    def make_variants(self):
        a, py = self.a, self.a.python
        v = [Variant("plain", "plain", [py], baseline=True)]
        if a.agent:
            # The agent preloaded with a native region only (libm's cos, never called here):
            # what loading scope costs a Python program that names no Python function.
            env, out = self.scope_env("scope-native", self.config(
                "scope-native", '[[regions]]\nsymbol = "cos"\n'))
            v.append(Variant("scope-native", "scope, no Python region (native `cos` only)",
                             [py], env, ("scope", out), short="scope, no Python region"))
            env, out = self.scope_env("scope-rare", self.config(
                "scope-rare", '[[regions]]\npython = "rare"\n'))
            v.append(Variant("scope-rare", "**scope, region `rare`** (fib, methods, builtins: "
                             "not regions)", [py], env, ("scope", out), ["rare"],
                             short="scope, region `rare`"))
            env, out = self.scope_env("scope-all", self.config(
                "scope-all", '[[regions]]\npython = "fib"\n\n[[regions]]\npython = "Point.step"\n'))
            v.append(Variant("scope-all", "**scope, regions `fib` + `Point.step`** (every call "
                             "recorded)", [py], env, ("scope", out), ["fib", "Point.step"],
                             short="scope, regions `fib` + `Point.step`"))
        if a.version >= (3, 12):
            v.append(Variant("monitoring-floor", "sys.monitoring floor, no scope (`PY_START` for "
                             "every function, the callback returns `DISABLE`)",
                             [py, os.path.join(os.path.dirname(a.workload), "monitoring_floor.py")],
                             short="sys.monitoring floor"))
        if a.prototype:
            so = a.prototype
            v.append(Variant("proto-passthru", "prototype `pyhook.so`: PEP 523 hook that only calls "
                             "the default evaluator (the floor of 3.11's way)", [py],
                             {"LD_PRELOAD": so, "PYHOOK_MODE": "pep523-passthru",
                              "PYHOOK_REGION": "rare"}, short="PEP 523 floor (prototype)"))
            for region, key in (("rare", "proto-rare"), ("fib", "proto-fib"),
                                ("Point.step", "proto-step")):
                v.append(Variant(key, "prototype `pyhook.so` (PEP 523), region `%s`" % region,
                                 [py], {"LD_PRELOAD": so, "PYHOOK_MODE": "pep523",
                                        "PYHOOK_REGION": region},
                                 ("proto", region), [region],
                                 short="prototype, region `%s`" % region))
        prof = os.path.join(self.work, "cprofile.out")
        v.append(Variant("cprofile", "cProfile (`python -m cProfile -o`)",
                         [py, "-m", "cProfile", "-o", prof], check=("cprofile", prof),
                         short="cProfile"))
        if a.viztracer:
            vj = os.path.join(self.work, "viztracer.json")
            v.append(Variant("viztracer", "viztracer %s (`viztracer -o`)" % a.viztracer_version,
                             [a.viztracer, "--quiet", "-o", vj], check=("viztracer", vj),
                             short="viztracer"))
        if a.variants:
            keep = set(a.variants.split(",")) | {"plain"}
            v = [x for x in v if x.key in keep]
        return v

    # ---- one run of one variant -------------------------------------------------------------
    def run(self, var, rnd):
        a = self.a
        env = {k: val for k, val in os.environ.items()
               if not (k.startswith("SCOPE_") or k.startswith("PYHOOK_") or k.startswith("PYTHON")
                       or k == "LD_PRELOAD")}
        env.update(var.env)
        if var.check and var.check[0] in ("scope", "cprofile", "viztracer"):
            if os.path.exists(var.check[1]):
                os.remove(var.check[1])
        cmd = var.prefix + [a.workload] + a.workload_args
        c0, w0 = child_cpu(), time.monotonic()
        p = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
        wall, cpu = time.monotonic() - w0, child_cpu() - c0
        rec = {"round": rnd, "variant": var.key, "command": " ".join(cmd), "rc": p.returncode,
               "wall_s": wall, "process_cpu_s": cpu}
        for k in ("LD_PRELOAD", "SCOPE_CONFIG", "PYHOOK_MODE", "PYHOOK_REGION"):
            if k in var.env:
                rec.setdefault("env", {})[k] = var.env[k]
        w = workload_line(p.stdout)
        if p.stderr.strip():
            rec["stderr"] = p.stderr.strip()[-3000:]
        if p.returncode != 0 or w is None:
            rec["error"] = "rc=%d, no result line; stderr: %s" % (p.returncode, p.stderr.strip()[-1500:])
            self.failures.append("round %d %s: %s" % (rnd, var.key, rec["error"]))
            return rec
        rec["phases"] = dict(w[a.clock])
        rec["phases_wall"], rec["phases_cpu"] = w["wall"], w["cpu"]
        rec["calls"] = w["calls"]
        if var.check:
            problems, seen = self.verify(var, w, p.stderr)
            rec["recorded"] = seen
            if problems:
                rec["error"] = "; ".join(problems)
                self.failures.append("round %d %s: %s" % (rnd, var.key, rec["error"]))
        return rec

    def verify(self, var, w, stderr):
        kind, path = var.check
        calls = w["calls"]
        if kind == "scope":
            if not os.path.exists(path):
                return ["no output file %s (stderr: %s)" % (path, stderr.strip()[-500:])], {}
            p = subprocess.run([self.a.pproc, "--format", "json", path], capture_output=True,
                               text=True, timeout=600)
            if p.returncode != 0:
                return ["scope-pproc failed: %s" % p.stderr.strip()[-500:]], {}
            s = json.loads(p.stdout)
            regions = {r["name"]: r for r in s.get("regions", [])}
            seen = {n: r["calls"] for n, r in regions.items()}
            seen["dropped_events"] = s.get("dropped_events", 0)
            problems = []
            if s.get("dropped_events", 0):
                problems.append("%d dropped events" % s["dropped_events"])
            if not s.get("complete", True):
                problems.append("file not complete: %s" % s.get("note"))
            for name in var.regions:
                r = regions.get(name)
                if r is None:
                    problems.append("no region '%s' in the output (regions: %s)"
                                    % (name, sorted(regions) or "none"))
                elif r["calls"] != calls[name]:
                    problems.append("region '%s': %d intervals, the workload made %d calls"
                                    % (name, r["calls"], calls[name]))
            extra = sorted(set(regions) - set(var.regions))
            if extra:
                problems.append("unexpected regions %s" % extra)
            # Durations (intervals are wall time): they cannot exceed the phase's wall time, and
            # cannot be shorter than the CPU time the calls used (the phase's CPU time less the
            # loop around the calls, which is small: 0.8 leaves room for it). rare: the sum of
            # its intervals; Point.step: the sum stays below the methods phase; fib: the longest
            # interval is one whole fib(N), at least half a repetition's CPU time.
            wall_ns = {k: w["wall"][k] * 1e9 for k in PHASES + ("rare",)}
            cpu_ns = {k: w["cpu"][k] * 1e9 for k in PHASES + ("rare",)}
            r = regions.get("rare")
            if r and "rare" in var.regions and not (0.8 * cpu_ns["rare"] <= r["total_ns"]
                                                    <= 1.02 * wall_ns["rare"]):
                problems.append("rare: intervals sum to %d ns, the phase took %d ns wall, %d ns CPU"
                                % (r["total_ns"], wall_ns["rare"], cpu_ns["rare"]))
            r = regions.get("Point.step")
            if r and "Point.step" in var.regions and r["total_ns"] > 1.02 * wall_ns["methods"]:
                problems.append("Point.step: intervals sum to %d ns, more than the %d ns phase"
                                % (r["total_ns"], wall_ns["methods"]))
            r = regions.get("fib")
            reps = int(self.a.workload_args[1]) if self.a.workload_args else 5
            if r and "fib" in var.regions and not (0.5 * cpu_ns["fib"] / reps <= r["max_ns"]
                                                   <= 1.02 * wall_ns["fib"]):
                problems.append("fib: longest interval %d ns, phase %d ns wall, %d ns CPU, over %d "
                                "repetitions" % (r["max_ns"], wall_ns["fib"], cpu_ns["fib"], reps))
            if self.a.keep_output:
                os.replace(path, path + ".last")
            else:
                os.remove(path)
            return problems, seen
        if kind == "cprofile":
            st = pstats.Stats(path).stats
            got = sum(v[1] for (fn, _, name), v in st.items()
                      if name == "fib" and fn.endswith("workload.py"))
            if got != calls["fib"]:
                return ["cProfile counted %d fib calls, the workload made %d" % (got, calls["fib"])], {"fib": got}
            return [], {"fib": got}
        if kind == "viztracer":
            # Its ring buffer (1 Mi entries by default) keeps the last calls only: no count to
            # compare; the file must exist.
            if not os.path.exists(path):
                return ["no viztracer output %s" % path], {}
            return [], {"bytes": os.path.getsize(path)}
        if kind == "proto":
            m = re.search(r"region '([^']*)' \(([^)]*)\): (\d+) enters", stderr)
            if not m:
                return ["no pyhook report on stderr"], {}
            got = int(m.group(3))
            if got != calls[path]:
                return ["pyhook counted %d enters of %s, the workload made %d"
                        % (got, path, calls[path])], {path: got}
            return [], {path: got}
        raise ValueError(kind)

    # ---- all rounds ---------------------------------------------------------------------------
    def run_all(self):
        runs = []
        for rnd in range(1, self.a.rounds + 1):
            for var in self.variants:
                rec = self.run(var, rnd)
                runs.append(rec)
                if "error" in rec:
                    log("round %d %s: FAILED: %s" % (rnd, var.key, rec["error"][:400]))
            log("round %d/%d done" % (rnd, self.a.rounds))
        return runs


def summarise(runs, variants, rounds):
    by = {(r["round"], r["variant"]): r for r in runs}
    out = {}
    for var in variants:
        s = {"label": var.label, "phases": {}}
        ok = [r for r in runs if r["variant"] == var.key and "error" not in r]
        s["ok_rounds"] = len(ok)
        s["errors"] = [r["error"] for r in runs if r["variant"] == var.key and "error" in r]
        for ph in PHASES + ("rare",):
            ratios, added, secs = [], [], []
            for rnd in range(1, rounds + 1):
                r, b = by.get((rnd, var.key)), by.get((rnd, "plain"))
                if not r or not b or "error" in r or "error" in b:
                    continue
                secs.append(r["phases"][ph])
                ratios.append(r["phases"][ph] / b["phases"][ph])
                if ph in PHASE_CALLS:
                    added.append((r["phases"][ph] - b["phases"][ph]) * 1e9 / r["calls"][PHASE_CALLS[ph]])
            if not ratios:
                continue
            s["phases"][ph] = {
                "seconds": statistics.median(secs),
                "ratio": statistics.median(ratios), "ratio_min": min(ratios), "ratio_max": max(ratios),
                "ns_per_call": statistics.median(added) if added else None,
                "ns_min": min(added) if added else None, "ns_max": max(added) if added else None,
            }
        # The other clock's phase ratios, and whole-process wall and CPU (all threads, start-up
        # and exit included), as medians of per-round ratios to plain.
        other = {}
        for rnd in range(1, rounds + 1):
            r, b = by.get((rnd, var.key)), by.get((rnd, "plain"))
            if r and b and "error" not in r and "error" not in b:
                for ph in PHASES:
                    for clock in ("wall", "cpu"):
                        other.setdefault(clock + ":" + ph, []).append(
                            r["phases_" + clock][ph] / b["phases_" + clock][ph])
                other.setdefault("process_wall", []).append(r["wall_s"] / b["wall_s"])
                other.setdefault("process_cpu", []).append(r["process_cpu_s"] / b["process_cpu_s"])
        s["ratios"] = {k: statistics.median(v) for k, v in other.items()}
        if other:
            s["wall_ratio"] = s["ratios"]["process_wall"]
            s["wall_s"] = statistics.median(r["wall_s"] for r in ok)
            s["process_cpu_s"] = statistics.median(r["process_cpu_s"] for r in ok)
        out[var.key] = s
    return out


def fmt_table(summary, variants, calls):
    lines = ["| variant | fib: %d calls, ×plain (min–max) | ns/call | methods: %d `Point.step` calls,"
             " ×plain (min–max) | ns/call | builtins: %d calls, ×plain (min–max) | ns/call |"
             " whole run ×plain |" % (calls["fib"], calls["Point.step"], calls["builtin"]),
             "|---|---|---|---|---|---|---|---|"]
    for var in variants:
        s = summary[var.key]
        if var.baseline:
            p = s["phases"]
            lines.append("| plain (%s s / %s s / %s s; whole run %.2f s) | 1.00 | – | 1.00 | – | 1.00 | – | 1.00 |"
                         % tuple(["%.3f" % p[ph]["seconds"] for ph in PHASES] + [s.get("wall_s", 0)]))
            continue
        if not s["phases"]:
            err = re.sub(r"/\S*/", "", s["errors"][0] if s["errors"] else "no run")
            lines.append("| %s | failed in every round: %s | | | | | | |"
                         % (var.label, err[:200].replace("|", "/")))
            continue
        row = [var.label + ("" if not s["errors"] else " (%d of %d rounds failed)"
                            % (len(s["errors"]), len(s["errors"]) + s["ok_rounds"]))]
        for ph in PHASES:
            q = s["phases"][ph]
            row.append("%.2f (%.2f–%.2f)" % (q["ratio"], q["ratio_min"], q["ratio_max"]))
            row.append(("%.0f" % q["ns_per_call"]).replace("-0", "0") if abs(q["ns_per_call"]) < 0.5
                       else "%.0f" % q["ns_per_call"])
        row.append("%.2f" % s.get("wall_ratio", float("nan")))
        lines.append("| " + " | ".join(row) + " |")
    return lines


def fmt_clocks(summary, variants):
    """Both clocks side by side: phases in the main thread's CPU time and in wall time, and the
    whole process (wall; CPU of all its threads), medians of per-round ratios to plain."""
    lines = ["| variant | fib CPU / wall | methods CPU / wall | builtins CPU / wall |"
             " whole process wall | whole process CPU |", "|---|---|---|---|---|---|"]
    for var in variants:
        s = summary[var.key]
        q = s.get("ratios")
        if not q:
            continue
        if var.baseline:
            lines.append("| plain (whole process: %.2f s wall, %.2f s CPU) | 1 / 1 | 1 / 1 | 1 / 1 | 1 | 1 |"
                         % (s["wall_s"], s["process_cpu_s"]))
            continue
        row = [var.short]
        row += ["%.2f / %.2f" % (q["cpu:" + ph], q["wall:" + ph]) for ph in PHASES]
        row += ["%.2f" % q["process_wall"], "%.2f" % q["process_cpu"]]
        lines.append("| " + " | ".join(row) + " |")
    return lines


def verdict(summary, version):
    lines = []
    if version >= (3, 12):
        target, limit = "1.0× (sys.monitoring; judged ≤ %.2f×)" % MONITORING_TOLERANCE, MONITORING_TOLERANCE
    else:
        target, limit = "≤ %.1f×" % TARGET_SLOWDOWN, TARGET_SLOWDOWN
    r, f = summary.get("scope-rare"), summary.get("scope-all")
    if r and r["phases"]:
        worst = max(r["phases"][ph]["ratio"] for ph in PHASES)
        lines.append("non-region slowdown (region `rare`): fib %.2f×, methods %.2f×, builtins %.2f× "
                     "(target %s): %s"
                     % (r["phases"]["fib"]["ratio"], r["phases"]["methods"]["ratio"],
                        r["phases"]["builtins"]["ratio"], target,
                        "met" if worst <= limit else "MISSED (worst %.2f×)" % worst))
    floor = summary.get("monitoring-floor") or summary.get("proto-passthru")
    if r and r["phases"] and floor and floor["phases"]:
        lines.append("the way's own floor in the same run, no scope (%s): fib %.2f×, methods %.2f×, "
                     "builtins %.2f×; scope above it: fib %+.0f, methods %+.0f ns/call"
                     % ("sys.monitoring, PY_START answered DISABLE" if version >= (3, 12)
                        else "PEP 523 pass-through hook of the prototype",
                        floor["phases"]["fib"]["ratio"], floor["phases"]["methods"]["ratio"],
                        floor["phases"]["builtins"]["ratio"],
                        r["phases"]["fib"]["ns_per_call"] - floor["phases"]["fib"]["ns_per_call"],
                        r["phases"]["methods"]["ns_per_call"] - floor["phases"]["methods"]["ns_per_call"]))
    if f and f["phases"]:
        a, b = f["phases"]["fib"]["ns_per_call"], f["phases"]["methods"]["ns_per_call"]
        lines.append("ns added per recorded call: fib %.0f, Point.step %.0f (target ≤ %.0f): %s"
                     % (a, b, TARGET_NS, "met" if max(a, b) <= TARGET_NS else "MISSED"))
        if r and r["phases"]:
            lines.append("of which recording (regions fib+Point.step minus region rare): fib %.0f, "
                         "Point.step %.0f ns/call"
                         % (a - r["phases"]["fib"]["ns_per_call"], b - r["phases"]["methods"]["ns_per_call"]))
    return lines


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--python", default="/usr/bin/python3.11")
    ap.add_argument("--workload", required=True)
    ap.add_argument("--workload-args", default="", help="FIB_N FIB_REPS METHODS BUILTINS RARE")
    ap.add_argument("--agent", default="")
    ap.add_argument("--pproc", default="")
    ap.add_argument("--prototype", default="", help="bench/python's pyhook.so, built")
    ap.add_argument("--viztracer", default="")
    ap.add_argument("--viztracer-version", default="?")
    ap.add_argument("--variants", default="")
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--clock", choices=("cpu", "wall"), default="cpu",
                    help="phase times compared: the main thread's CPU time (default) or wall")
    ap.add_argument("--workdir", required=True)
    ap.add_argument("--keep-output", action="store_true")
    ap.add_argument("--json", required=True)
    ap.add_argument("--md", required=True)
    a = ap.parse_args()
    a.workload_args = a.workload_args.split()
    a.version = tuple(json.loads(subprocess.run(
        [a.python, "-c", "import sys, json; print(json.dumps(sys.version_info[:2]))"],
        capture_output=True, text=True, check=True).stdout))

    info = {}
    for line in open("/proc/cpuinfo"):
        k, _, v = line.partition(":")
        info.setdefault(k.strip(), v.strip())
    cpu = "%s (family %s model %s%s)" % (
        info.get("model name", platform.processor()), info.get("cpu family", "?"),
        info.get("model", "?"), ", VM guest" if "hypervisor" in info.get("flags", "").split() else "")
    pyver = subprocess.run([a.python, "-VV"], capture_output=True, text=True).stdout.strip()
    head = ["CPU: %s (%d logical CPUs); load average at start: %s" % (
                cpu, os.cpu_count(), open("/proc/loadavg").read().split()[:3]),
            "Python: %s = %s" % (a.python, pyver),
            "Workload: %s %s; %d interleaved rounds; phase times in %s; medians of per-round ratios "
            "to plain (min–max), ns/call = (variant − plain) / calls in the phase"
            % (os.path.basename(a.workload), " ".join(a.workload_args) or "(defaults)", a.rounds,
               "the main thread's CPU time" if a.clock == "cpu" else "wall time")]
    for h in head:
        log(h)
    b = Bench(a)
    log("variants: " + ", ".join(v.key for v in b.variants))
    t0 = time.monotonic()
    runs = b.run_all()
    summary = summarise(runs, b.variants, a.rounds)
    calls = next((r["calls"] for r in runs if "calls" in r), None)
    table = fmt_table(summary, b.variants, calls) if calls else ["(no successful run)"]
    ver = verdict(summary, a.version)
    table += ["", "The same runs on both clocks (×plain, medians of per-round ratios):", ""]
    table += fmt_clocks(summary, b.variants)
    checks = []
    for v in b.variants:
        if v.regions and summary[v.key]["ok_rounds"]:
            rec = next(r for r in runs if r["variant"] == v.key and "error" not in r)
            checks.append("%s: %s recorded in %d/%d rounds (%s)" % (
                v.key, ", ".join("%s = %d" % (n, rec["recorded"].get(n, -1)) for n in v.regions),
                summary[v.key]["ok_rounds"], a.rounds,
                "scope-pproc" if v.check[0] == "scope" else "pyhook's own count"))
    text = head + [""] + table + [""] + ver + checks
    if b.failures:
        text += ["", "FAILURES (%d runs):" % len(b.failures)]
        for v in b.variants:
            errs = summary[v.key]["errors"]
            if errs:
                text.append("- %s: %d of %d rounds, first: %s" % (v.key, len(errs), a.rounds, errs[0][:600]))
    print("\n".join(text))
    with open(a.md, "w") as f:
        f.write("\n".join(text) + "\n")
    with open(a.json, "w") as f:
        json.dump({"date": datetime.datetime.now().isoformat(timespec="seconds"), "cpu": cpu,
                   "python": pyver, "rounds": a.rounds, "clock": a.clock, "workload_args": a.workload_args,
                   "elapsed_s": time.monotonic() - t0, "summary": summary, "verdict": ver,
                   "failures": b.failures, "runs": runs}, f, indent=1)
    log("wrote %s and %s (%.0f s)" % (a.json, a.md, time.monotonic() - t0))
    sys.exit(1 if b.failures else 0)


if __name__ == "__main__":
    main()
