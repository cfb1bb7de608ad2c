#!/usr/bin/env python3
"""Finalize across simulated nodes: serial against parallel merge (see docs/benchmarks.md,
"Finalize across nodes", and scripts/bench-finalize-nodes.sh, which builds everything, brings
the cluster up and down and calls this).

For every rep, every (ranks, nodes) point and every injected metadata latency, runs
bench/finalize_nodes/prog under the agent on the simulated cluster twice, SCOPE_MERGE=serial and
SCOPE_MERGE=parallel, side by side (which goes first alternates), and reads from rank 0's
verbose log the agent's own account: `finalize: X ms in scope (...), peak memory Y KiB`, and
how long its clock measurement at MPI_Finalize took. Every output is checked with
`scope-pproc --format json` (complete, every rank, every event). Prints markdown tables and
writes --json and --md.
"""
import argparse
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import threading
import time

REGIONS = ["bench_step", "bench_kern_a", "bench_kern_b", "bench_kern_c"]

FINALIZE_RE = re.compile(r"scope\[rank 0\]: finalize: ([0-9.]+) ms in scope \((\w+) merge\), "
                         r"peak memory (\d+) KiB")
CLOCK_RE = re.compile(r"scope\[rank 0\]: clock at MPI_Finalize: .* measured in (\d+) µs "
                      r"after waiting (\d+) µs")
MERGED_RE = re.compile(r"scope\[rank 0\]: merged (\d+) ranks, (\d+) events")
PROG_RE = re.compile(r"finalize_nodes rank=(\d+) size=(\d+) events=(\d+) seconds=([0-9.]+)")
SUMMARY_RE = re.compile(r"summary delayed=(\d+) passed=(\d+) held_mean_us=([0-9.]+) "
                        r"held_max_us=(\d+)")


def log(*a):
    print("bench-finalize-nodes:", *a, file=sys.stderr, flush=True)


def med(xs):
    return statistics.median(xs) if xs else float("nan")


def ints(s):
    return [int(x) for x in s.split(",") if x]


class Cluster:
    """The cluster brought up by the shell script: its id, node count, script."""

    def __init__(self, script, cid, flavor):
        self.script = script
        self.id = cid
        self.flavor = flavor
        self.state = os.path.join("/run/scope-cluster", cid)
        out = subprocess.run([script, "env", flavor], env=dict(os.environ, SCOPE_CLUSTER=cid),
                             capture_output=True, text=True, check=True).stdout
        self.env = {}
        for line in out.splitlines():
            if line.startswith("export "):
                k, _, v = line[len("export "):].partition("=")
                self.env[k] = v.strip("'")
        with open(os.path.join(self.state, "nodes")) as f:
            self.nodes = int(f.read().strip())

    def host(self, k):
        return f"{self.id}-node{k}"

    def holders(self):
        """The pids that keep the nodes (and their unshare parents): never to be killed."""
        keep = set()
        for k in range(1, self.nodes + 1):
            try:
                with open(os.path.join(self.state, f"node{k}.pid")) as f:
                    pid = int(f.read().strip())
            except (OSError, ValueError):
                continue
            keep.add(pid)
            try:
                with open(f"/proc/{pid}/stat") as f:
                    keep.add(int(f.read().rsplit(")", 1)[1].split()[1]))
            except (OSError, ValueError, IndexError):
                pass
        return keep

    def leftovers(self):
        """Processes left in this cluster's node namespaces (not the holders): pid -> comm."""
        keep = self.holders()
        found = {}
        for k in range(1, self.nodes + 1):
            p = subprocess.run(["ip", "netns", "pids", f"{self.id}-node{k}"],
                               capture_output=True, text=True)
            for tok in p.stdout.split():
                pid = int(tok)
                if pid in keep:
                    continue
                try:
                    with open(f"/proc/{pid}/comm") as f:
                        found[pid] = f.read().strip()
                except OSError:
                    pass
        return found

    def kill_leftovers(self):
        found = self.leftovers()
        for pid in found:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        return found


def reap_orphans():
    """We are the child subreaper of everything we start: collect exited orphans."""
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def launch_cmd(a, c, ranks, nodes, workdir, out, mode, latency_us):
    """The command line (run on node 1) and the environment for one run."""
    hostfile = os.path.join(workdir, "hosts")
    per = ranks // nodes
    benv = {
        "SCOPE_CONFIG": a.config,
        "SCOPE_OUTPUT": out,
        "SCOPE_VERBOSE": "1",
        "SCOPE_MERGE": mode,
    }
    if latency_us > 0:
        benv.update({
            "BENCH_DELAY_US": str(latency_us),
            "BENCH_DELAY_DIR": os.path.dirname(out),
            "BENCH_SLOWMETA": a.slowmeta,
            "BENCH_DELAY_LOG": os.path.join(workdir, "slowmeta", "log"),
        })
    if c.flavor == "openmpi":
        with open(hostfile, "w") as f:
            for k in range(1, nodes + 1):
                f.write(f"{c.host(k)} slots={per}\n")
        benv["OMPI_MCA_mpi_yield_when_idle"] = "1"
        cmd = ["mpirun.openmpi", "--hostfile", hostfile, "--map-by", "slot", "--bind-to", "none",
               "-n", str(ranks), "-x", f"LD_PRELOAD={a.agent}"]
        for k, v in benv.items():
            cmd += ["-x", f"{k}={v}"]
        cmd += [a.prog_openmpi, str(a.events)]
    else:
        with open(hostfile, "w") as f:
            for k in range(1, nodes + 1):
                f.write(f"{c.host(k)}:{per}\n")
        cmd = ["mpiexec.mpich", "-f", hostfile, "-n", str(ranks), "-genv", "LD_PRELOAD", a.agent]
        for k, v in benv.items():
            cmd += ["-genv", k, v]
        cmd += [a.prog_mpich, str(a.events)]
    env = dict(os.environ)
    env.update(c.env)
    return [c.script, "exec", "1"] + cmd, env


def summarise_calls(body, outdir):
    """Rank 0's slowmeta log: delayed (D) and passed (P) calls by system call, and the paths
    of the passed ones (which must all lie outside the output's directory)."""
    d, p, outside = {}, {}, set()
    for line in body.splitlines():
        f = line.split(" ", 4)
        if len(f) < 5 or f[1] not in ("D", "P"):
            continue
        (d if f[1] == "D" else p)[f[2]] = (d if f[1] == "D" else p).get(f[2], 0) + 1
        if f[1] == "P":
            outside.add(f[4])
        elif not f[4].startswith(outdir):
            outside.add("DELAYED OUTSIDE: " + f[4])
    return {"delayed": d, "passed": p, "passed_paths": sorted(outside)[:20]}


def check_output(a, out, ranks):
    p = subprocess.run([a.pproc, "--format", "json", out], capture_output=True, text=True)
    if p.returncode != 0:
        return {"ok": False, "why": f"scope-pproc failed: {p.stderr.strip()[:300]}"}
    d = json.loads(p.stdout)
    want = ranks * (a.events // 4) * 4
    ok = d.get("complete") is True and not d.get("missing_ranks") and d.get("events") == want \
        and len(d.get("ranks", [])) == ranks
    return {"ok": ok, "complete": d.get("complete"), "missing_ranks": d.get("missing_ranks"),
            "events": d.get("events"), "events_expected": want,
            "why": None if ok else f"complete={d.get('complete')} events={d.get('events')}/"
                                   f"{want} missing={d.get('missing_ranks')}"}


def one_run(a, c, ranks, nodes, latency_us, mode, tag):
    workdir = os.path.join(a.workdir, tag)
    shutil.rmtree(workdir, ignore_errors=True)
    os.makedirs(os.path.join(workdir, "out"))
    os.makedirs(os.path.join(workdir, "slowmeta"))
    out = os.path.join(workdir, "out", "profile.h5")
    cmd, env = launch_cmd(a, c, ranks, nodes, workdir, out, mode, latency_us)
    t0 = time.monotonic()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, errors="replace")
    lines = []
    finished = []

    def reader():
        for line in proc.stdout:
            lines.append(line)
            if PROG_RE.search(line):
                finished.append(time.monotonic())

    th = threading.Thread(target=reader, daemon=True)
    th.start()
    # Wait for the launcher; if it lingers after every rank has left MPI_Finalize (Open MPI's
    # daemons sometimes hang at exit with hundreds of ranks), or past the timeout, kill what is
    # left in the cluster.
    timed_out = False
    while proc.poll() is None:
        now = time.monotonic()
        if now - t0 > a.timeout:
            timed_out = True
            break
        if len(finished) >= ranks and now - finished[ranks - 1] > a.linger:
            break
        time.sleep(0.2)
    wall = time.monotonic() - t0
    killed = {}
    if proc.poll() is None:
        killed = c.kill_leftovers()
        try:
            proc.kill()
        except ProcessLookupError:
            pass
    proc.wait()
    th.join(timeout=10)
    status = proc.returncode
    # Anything still in the namespaces (a daemon that outlived its launcher).
    time.sleep(0.2)
    stray = c.kill_leftovers()
    killed.update(stray)
    reap_orphans()
    text = "".join(lines)
    with open(os.path.join(workdir, "run.log"), "w") as f:
        f.write(text)
    r = {"ranks": ranks, "nodes": nodes, "latency_us": latency_us, "mode": mode, "tag": tag,
         "wall_s": round(wall, 2), "status": status, "timed_out": timed_out,
         "killed_after": sorted(set(killed.values())), "killed_count": len(killed)}
    m = FINALIZE_RE.search(text)
    if m:
        r["finalize_ms"] = float(m.group(1))
        r["merge_taken"] = m.group(2)
        r["peak_kib"] = int(m.group(3))
    m = CLOCK_RE.search(text)
    if m:
        r["clock_sync_ms"] = (int(m.group(1)) + int(m.group(2))) / 1000.0
        if "finalize_ms" in r:
            r["after_sync_ms"] = round(r["finalize_ms"] - r["clock_sync_ms"], 1)
    m = MERGED_RE.search(text)
    if m:
        r["merged_ranks"] = int(m.group(1))
    secs = [float(m.group(4)) for m in PROG_RE.finditer(text)]
    r["finalize_slowest_rank_s"] = max(secs) if secs else None
    r["ranks_finished"] = len(secs)
    r["not_copied"] = [l.strip() for l in text.splitlines() if "could not be copied" in l]
    r["fallback"] = [l.strip() for l in text.splitlines() if "parallel merge not possible" in l]
    r["errors"] = [l.strip() for l in text.splitlines()
                   if re.search(r"error|cannot|could not|refus|failed|copying rank|changed since", l, re.I)
                   and "plm:rsh: Warning: setpgid" not in l][:20]
    if latency_us > 0:
        sums = []
        rank0_delayed = None
        for name in sorted(os.listdir(os.path.join(workdir, "slowmeta"))):
            with open(os.path.join(workdir, "slowmeta", name), errors="replace") as f:
                body = f.read()
            m = SUMMARY_RE.search(body)
            if not m:
                continue
            s = (int(m.group(1)), int(m.group(2)), float(m.group(3)), int(m.group(4)))
            sums.append(s)
            if name == "log.0":
                rank0_delayed = s[0]
                r["rank0_calls"] = summarise_calls(body, os.path.dirname(out))
        delayed = sum(s[0] for s in sums)
        r["delay"] = {
            "supervisors": len(sums),
            "delayed_calls": delayed,
            "passed_calls": sum(s[1] for s in sums),
            "held_mean_us": round(sum(s[0] * s[2] for s in sums) / delayed, 1) if delayed else 0,
            "held_max_us": max((s[3] for s in sums), default=0),
            "rank0_delayed_calls": rank0_delayed,
        }
    if os.path.exists(out):
        r["output"] = check_output(a, out, ranks)
    else:
        r["output"] = {"ok": False, "why": "no output file"}
    r["ok"] = bool(r["output"]["ok"] and "finalize_ms" in r and r.get("merge_taken") == mode
                   and not timed_out)
    if not a.keep:
        shutil.rmtree(workdir, ignore_errors=True)
    return r


def summarise(runs, a):
    rows = []
    for ranks in a.ranks:
        for nodes in a.nodes:
            if ranks % nodes:
                continue
            for lat in a.latency_us:
                pt = [r for r in runs if r["ranks"] == ranks and r["nodes"] == nodes
                      and r["latency_us"] == lat]
                if not pt:
                    continue
                row = {"ranks": ranks, "nodes": nodes, "latency_us": lat}
                for mode in ("serial", "parallel"):
                    every = [r for r in pt if r["mode"] == mode and "finalize_ms" in r]
                    good = [r for r in every if r["ok"]]
                    # Medians over complete runs: a run that lost ranks skipped their copies.
                    rs = good if good else every
                    fin = [r["finalize_ms"] for r in rs]
                    aft = [r["after_sync_ms"] for r in rs if "after_sync_ms" in r]
                    row[mode] = {
                        "runs": len([r for r in pt if r["mode"] == mode]),
                        "complete": len(good),
                        "from_incomplete": not good,
                        "finalize_ms": fin,
                        "finalize_med": med(fin),
                        "after_sync_ms": aft,
                        "after_sync_med": med(aft),
                        "peak_kib": [r["peak_kib"] for r in rs],
                        "peak_kib_med": med([r["peak_kib"] for r in rs]),
                        "rank0_delayed_med": med([r["delay"]["rank0_delayed_calls"] for r in rs
                                                  if r.get("delay") and
                                                  r["delay"]["rank0_delayed_calls"] is not None]),
                        "held_mean_us": med([r["delay"]["held_mean_us"] for r in rs
                                             if r.get("delay")]),
                    }
                s, p = row["serial"], row["parallel"]
                row["ratio_finalize"] = s["finalize_med"] / p["finalize_med"] \
                    if p["finalize_ms"] and s["finalize_ms"] else float("nan")
                row["ratio_after_sync"] = s["after_sync_med"] / p["after_sync_med"] \
                    if p["after_sync_ms"] and s["after_sync_ms"] else float("nan")
                # Per rep, serial / parallel of the same rep (the pair ran side by side).
                pairs = []
                for rep in sorted({r["rep"] for r in pt}):
                    ss = [r for r in pt if r["rep"] == rep and r["mode"] == "serial"
                          and "after_sync_ms" in r and r["ok"]]
                    pp = [r for r in pt if r["rep"] == rep and r["mode"] == "parallel"
                          and "after_sync_ms" in r and r["ok"]]
                    if ss and pp and pp[0]["after_sync_ms"] > 0:
                        pairs.append(ss[0]["after_sync_ms"] / pp[0]["after_sync_ms"])
                row["pair_ratios_after_sync"] = [round(x, 2) for x in pairs]
                rows.append(row)
    return rows


def fmt_ms(xs, m, bad=False):
    if not xs:
        return "–"
    return f"{m:.0f} ({min(xs):.0f}–{max(xs):.0f})" + (" †" if bad else "")


def tables(rows):
    out = []
    out.append("| ranks | nodes | latency | serial: finalize ms | parallel: finalize ms | "
               "serial / parallel | serial: after clock sync ms | parallel: after clock sync "
               "ms | serial / parallel (per-rep pairs) | rank-0 peak KiB serial / parallel | "
               "complete serial / parallel |")
    out.append("|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        s, p = r["serial"], r["parallel"]
        lat = f"{r['latency_us'] / 1000:g} ms"
        out.append(
            f"| {r['ranks']} | {r['nodes']} | {lat} | "
            f"{fmt_ms(s['finalize_ms'], s['finalize_med'], s['from_incomplete'])}"
            f" | {fmt_ms(p['finalize_ms'], p['finalize_med'], p['from_incomplete'])} | "
            f"{r['ratio_finalize']:.2f} | "
            f"{fmt_ms(s['after_sync_ms'], s['after_sync_med'], s['from_incomplete'])} | "
            f"{fmt_ms(p['after_sync_ms'], p['after_sync_med'], p['from_incomplete'])} | "
            f"{r['ratio_after_sync']:.2f} ({', '.join(f'{x:.2f}' for x in r['pair_ratios_after_sync'])})"
            f" | {s['peak_kib_med']:.0f} / {p['peak_kib_med']:.0f} | "
            f"{s['complete']}/{s['runs']} / {p['complete']}/{p['runs']} |")
    delayed = [r for r in rows if r["latency_us"] > 0]
    if delayed:
        out.append("")
        out.append("| ranks | nodes | latency | delayed calls on rank 0, serial / parallel | "
                   "mean hold µs (injected + scheduling) serial / parallel |")
        out.append("|---|---|---|---|---|")
        for r in delayed:
            s, p = r["serial"], r["parallel"]
            out.append(f"| {r['ranks']} | {r['nodes']} | {r['latency_us'] / 1000:g} ms | "
                       f"{s['rank0_delayed_med']:.0f} / {p['rank0_delayed_med']:.0f} | "
                       f"{s['held_mean_us']:.0f} / {p['held_mean_us']:.0f} |")
    out.append("")
    out.append("Medians (min–max) over the complete runs of each point; † = no complete run, "
               "from runs that lost ranks (and skipped their copies). Per-rep pairs: serial / "
               "parallel of the same rep, both complete.")
    return "\n".join(out)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cluster-script", required=True)
    ap.add_argument("--cluster", required=True)
    ap.add_argument("--flavor", default="openmpi", choices=["openmpi", "mpich"])
    ap.add_argument("--agent", required=True)
    ap.add_argument("--pproc", required=True)
    ap.add_argument("--prog-openmpi")
    ap.add_argument("--prog-mpich")
    ap.add_argument("--slowmeta", required=True)
    ap.add_argument("--workdir", required=True)
    ap.add_argument("--ranks", type=ints, default=[16, 64, 256])
    ap.add_argument("--nodes", type=ints, default=[2, 4, 8])
    ap.add_argument("--latency-us", type=ints, default=[0, 500])
    ap.add_argument("--events", type=int, default=4000)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--timeout", type=float, default=300.0)
    ap.add_argument("--linger", type=float, default=20.0,
                    help="seconds the launcher may take to exit after every rank finished")
    ap.add_argument("--keep", action="store_true", help="keep every run's directory")
    ap.add_argument("--json", required=True)
    ap.add_argument("--md", required=True)
    a = ap.parse_args()
    a.workdir = os.path.abspath(a.workdir)
    os.makedirs(a.workdir, exist_ok=True)
    a.config = os.path.join(a.workdir, "scope.toml")
    with open(a.config, "w") as f:
        for name in REGIONS:
            f.write(f'[[regions]]\nsymbol = "{name}"\n\n')

    # Started in the background by the shell script: SIGINT may come ignored; SIGTERM is how
    # the script stops us. Both end the sweep and summarise what ran.
    signal.signal(signal.SIGINT, signal.default_int_handler)

    def on_term(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)

    # Orphans of the runs (slowmeta supervisors, daemons) come to us, not to pid 1.
    import ctypes
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER

    c = Cluster(a.cluster_script, a.cluster, a.flavor)
    points = [(r, n) for r in a.ranks for n in a.nodes if r % n == 0 and n <= c.nodes]
    total = len(points) * len(a.latency_us) * 2 * a.reps
    log(f"{total} runs: ranks {a.ranks} x nodes {a.nodes} x latency {a.latency_us} µs x "
        f"serial/parallel x {a.reps} reps, {a.events} events per rank, {a.flavor}")
    runs = []
    t_start = time.monotonic()
    k = 0
    stop = False
    try:
        for rep in range(a.reps):
            for (ranks, nodes) in points:
                for lat in a.latency_us:
                    order = ["serial", "parallel"] if (rep + k) % 2 == 0 else ["parallel", "serial"]
                    for mode in order:
                        k += 1
                        tag = f"r{ranks}-n{nodes}-l{lat}-{mode}-rep{rep}"
                        r = one_run(a, c, ranks, nodes, lat, mode, tag)
                        r["rep"] = rep
                        r["load"] = os.getloadavg()[0]
                        runs.append(r)
                        log(f"[{k}/{total}] {tag}: finalize {r.get('finalize_ms')} ms "
                            f"(after clock sync {r.get('after_sync_ms')}), peak "
                            f"{r.get('peak_kib')} KiB, wall {r['wall_s']} s, "
                            f"{'ok' if r['ok'] else 'NOT OK: ' + str(r['output'].get('why'))}"
                            + (f", killed {r['killed_after']}" if r["killed_count"] else "")
                            + (f", {len(r['not_copied'])} 'could not be copied'"
                               if r["not_copied"] else ""))
    except KeyboardInterrupt:
        stop = True
        # A second signal (the script's TERM after the terminal's INT) must not cut the summary.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        log("interrupted: summarising what ran")
    elapsed = time.monotonic() - t_start
    rows = summarise(runs, a)
    table = tables(rows)
    with open("/proc/cpuinfo") as f:
        cpu = next((l.split(":", 1)[1].strip() for l in f if l.startswith("model name")), "?")
    head = (f"CPU: {cpu}, {os.cpu_count()} CPUs; {a.flavor}; {a.events} events per rank "
            f"(4 regions); {a.reps} reps; sweep {elapsed:.0f} s; load at end "
            f"{os.getloadavg()[0]:.1f}")
    print(head)
    print()
    print(table)
    bad = [r for r in runs if not r["ok"]]
    if bad:
        print()
        print(f"{len(bad)} run(s) not OK:")
        for r in bad:
            print(f"- {r['tag']}: {r['output'].get('why')}; merge taken {r.get('merge_taken')}; "
                  f"timed out {r['timed_out']}; {len(r['not_copied'])} 'could not be copied'; "
                  f"first errors: {r['errors'][:3]}")
    with open(a.json, "w") as f:
        json.dump({"head": head, "elapsed_s": elapsed, "cpu": cpu, "args": vars(a),
                   "runs": runs, "rows": rows}, f, indent=1, default=str)
    with open(a.md, "w") as f:
        f.write(head + "\n\n" + table + "\n")
    if stop:
        sys.exit(130)
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
