#!/usr/bin/env python3
"""Merge and finalize at scale (see docs/benchmarks.md, "Finalize and merge").

Part A, merge sweep: for every (R files, E events per file) of the grid, time one merge of R
generated per-rank files (`merge_bench merge`, i.e. `merge_rank_dir` in a fresh process) and a
`cp -r` of the same files to a fresh directory on the same disk, side by side, alternating which
goes first, `reps` times. Both start with the inputs in the page cache (just generated) and after
a `sync`; "warm" is the command alone, "to disk" adds the `sync` right after it.

Part B, end-to-end finalize: the fixture `finalize` (bench/merge/finalize.c) at 1, 2, 4, 8 real
ranks, plain and under scope-run, timing MPI_Finalize inside every rank.

Prints markdown tables, writes --json and --md.
"""
import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import time

EVENT_BYTES = 24  # start, end, thread: three int64


def log(*a):
    print("bench-merge:", *a, file=sys.stderr, flush=True)


def sync():
    subprocess.run(["sync"], check=True)


def rm(path):
    if os.path.isdir(path):
        shutil.rmtree(path)
    elif os.path.exists(path):
        os.remove(path)


def link_files(src_dir, dst_dir, ranks):
    rm(dst_dir)
    os.makedirs(dst_dir)
    for r in range(ranks):
        os.link(os.path.join(src_dir, f"rank_{r}.h5"), os.path.join(dst_dir, f"rank_{r}.h5"))


def timed(cmd):
    """Runs cmd under /usr/bin/time; returns (warm s, to-disk s, max RSS KiB, stdout)."""
    sync()
    t0 = time.perf_counter()
    p = subprocess.run(["/usr/bin/time", "-f", "TIME %e %M"] + cmd, capture_output=True, text=True)
    t1 = time.perf_counter()
    sync()
    t2 = time.perf_counter()
    if p.returncode != 0:
        raise SystemExit(f"bench-merge: {' '.join(cmd)} failed ({p.returncode}): {p.stderr}")
    m = re.search(r"TIME (\S+) (\d+)", p.stderr)
    return t1 - t0, t2 - t0, int(m.group(2)), p.stdout


def med(xs):
    return statistics.median(xs) if xs else float("nan")


def merge_sweep(a):
    work = os.path.join(a.workdir, "sweep")
    rm(work)
    os.makedirs(work)
    points = []
    for e in a.events:
        rs = [r for r in a.ranks if r * e * EVENT_BYTES <= a.max_bytes]
        if not rs:
            continue
        gen = os.path.join(work, f"gen-e{e}")
        t0 = time.perf_counter()
        subprocess.run([a.bench, "gen", gen, str(max(rs)), str(e)], check=True)
        log(f"generated {max(rs)} files x {e} events in {time.perf_counter() - t0:.1f} s")
        for r in rs:
            points.append((r, e, gen))
    for r, e in a.extra:
        gen = os.path.join(work, f"gen-extra-r{r}-e{e}")
        subprocess.run([a.bench, "gen", gen, str(r), str(e)], check=True)
        points.append((r, e, gen))

    results = []
    for r, e, gen in points:
        src = os.path.join(work, "cpsrc")
        link_files(gen, src, r)
        in_bytes = sum(os.path.getsize(os.path.join(src, f)) for f in os.listdir(src))
        runs = []
        for rep in range(a.reps):
            row = {"rep": rep}
            order = ["merge", "cp"] if rep % 2 == 0 else ["cp", "merge"]
            for what in order:
                if what == "merge":
                    mdir, out = os.path.join(work, "in"), os.path.join(work, "out.h5")
                    link_files(gen, mdir, r)
                    rm(out)
                    warm, disk, rss, stdout = timed([a.bench, "merge", mdir, out])
                    info = json.loads(stdout.strip().splitlines()[-1])
                    if info["events"] != r * e or info["files"] != r:
                        raise SystemExit(f"bench-merge: merged {info}, expected {r} x {e}")
                    row.update(merge_s=warm, merge_disk_s=disk, merge_rss_kib=rss,
                               merge_inner_s=info["seconds"], merge_peak_kib=info["peak_rss_kib"],
                               merge_rss_before_kib=info["rss_before_kib"],
                               out_bytes=info["out_bytes"])
                    rm(out)
                    rm(mdir)
                else:
                    dst = os.path.join(work, "cpdst")
                    rm(dst)
                    warm, disk, rss, _ = timed(["cp", "-r", src, dst])
                    row.update(cp_s=warm, cp_disk_s=disk)
                    rm(dst)
            runs.append(row)
        pt = {"ranks": r, "events": e, "in_bytes": in_bytes, "runs": runs}
        for k in ["merge_s", "merge_disk_s", "cp_s", "cp_disk_s", "merge_inner_s"]:
            pt[k] = med([x[k] for x in runs])
        pt["merge_peak_kib"] = max(x["merge_peak_kib"] for x in runs)
        pt["merge_rss_kib"] = max(x["merge_rss_kib"] for x in runs)
        pt["ratio"] = med([x["cp_s"] / x["merge_s"] for x in runs])
        pt["ratio_disk"] = med([x["cp_disk_s"] / x["merge_disk_s"] for x in runs])
        results.append(pt)
        log(f"R={r:5} E={e:8} {in_bytes / 1e6:9.1f} MB  merge {pt['merge_s']:.3f} s "
            f"({in_bytes / pt['merge_s'] / 1e6:.0f} MB/s)  cp {pt['cp_s']:.3f} s "
            f"({in_bytes / pt['cp_s'] / 1e6:.0f} MB/s)  merge/cp throughput {pt['ratio']:.2f}  "
            f"peak {pt['merge_peak_kib']} KiB")
        rm(src)
    rm(work)
    return results


def fit(results):
    """Least squares: merge seconds = c0 + c_file * R + event bytes / throughput. The bytes are
    the events' (R x E x 24), the ones the merge copies; a file's size adds chunk padding that
    is the same for every E up to a chunk, which would make it a second per-file term."""
    rows = [(1.0, float(p["ranks"]), float(p["ranks"] * p["events"] * EVENT_BYTES), p["merge_s"])
            for p in results]
    # Normal equations for three unknowns, solved by Gaussian elimination.
    n = 3
    ata = [[sum(r[i] * r[j] for r in rows) for j in range(n)] for i in range(n)]
    atb = [sum(r[i] * r[3] for r in rows) for i in range(n)]
    m = [ata[i] + [atb[i]] for i in range(n)]
    for c in range(n):
        piv = max(range(c, n), key=lambda i: abs(m[i][c]))
        m[c], m[piv] = m[piv], m[c]
        for i in range(n):
            if i != c and m[c][c]:
                f = m[i][c] / m[c][c]
                m[i] = [x - f * y for x, y in zip(m[i], m[c])]
    c0, c_file, c_byte = (m[i][n] / m[i][i] for i in range(n))
    return {"fixed_s": c0, "per_file_s": c_file, "per_byte_s": c_byte,
            "bytes_per_s": 1 / c_byte if c_byte > 0 else None}


def count_events(path):
    try:
        import h5py  # noqa: PLC0415
    except ImportError:
        return None
    with h5py.File(path, "r") as f:
        return {k: sum(len(g["start_times"]) for g in f[k]["regions"].values())
                for k in f if k.startswith("rank")}


def finalize_runs(a):
    work = os.path.join(a.workdir, "finalize")
    rm(work)
    os.makedirs(work)
    cfg = os.path.join(work, "scope.toml")
    with open(cfg, "w") as f:
        f.write('[[regions]]\nsymbol = "work"\n')
    out = os.path.join(work, "out.h5")
    env = dict(os.environ)
    results = []
    for e in a.finalize_events:
        for n in a.finalize_ranks:
            # "-yield": Open MPI told to yield the core while waiting (ranks that wait for
            # rank 0's merge otherwise spin, and with 8 ranks on 2 cores they take its CPU).
            variants = ["plain", "scope", "plain-yield", "scope-yield"]
            runs = {v: [] for v in variants}
            for rep in range(a.reps):
                for v in variants[rep % 4:] + variants[:rep % 4]:
                    venv = dict(env)
                    if v.endswith("-yield"):
                        venv["OMPI_MCA_mpi_yield_when_idle"] = "1"
                    if v.startswith("plain"):
                        cmd = ["mpirun", "-n", str(n), a.finalize_bin, str(e)]
                    else:
                        rm(out)
                        cmd = [a.scope_run, "-n", str(n), "-c", cfg, "-o", out, "--",
                               a.finalize_bin, str(e)]
                    sync()
                    t0 = time.perf_counter()
                    p = subprocess.run(cmd, capture_output=True, text=True, env=venv, cwd=work)
                    wall = time.perf_counter() - t0
                    if p.returncode != 0:
                        raise SystemExit(f"bench-merge: {' '.join(cmd)} failed: {p.stderr}")
                    secs = {int(m.group(1)): float(m.group(2)) for m in re.finditer(
                        r"finalize rank=(\d+) size=\d+ events=\d+ seconds=(\S+)", p.stdout)}
                    if sorted(secs) != list(range(n)):
                        raise SystemExit(f"bench-merge: missing ranks in {p.stdout}")
                    run = {"rank0_s": secs[0], "max_s": max(secs.values()), "wall_s": wall}
                    if v.startswith("scope"):
                        counts = count_events(out)
                        if counts is not None and counts != {f"rank{r}": e for r in range(n)}:
                            raise SystemExit(f"bench-merge: scope recorded {counts}")
                        run["out_bytes"] = os.path.getsize(out)
                        rm(out)
                    runs[v].append(run)
            pt = {"ranks": n, "events": e, "runs": runs}
            for v in runs:
                for k in ["rank0_s", "max_s", "wall_s"]:
                    pt[f"{v}_{k}"] = med([x[k] for x in runs[v]])
                pt[f"{v}_max_s_all"] = [x["max_s"] for x in runs[v]]
            pt["out_bytes"] = runs["scope"][0]["out_bytes"]
            results.append(pt)
            log(f"finalize n={n} E={e}: plain {pt['plain_max_s'] * 1e3:.1f} ms, "
                f"scope {pt['scope_max_s'] * 1e3:.1f} ms (rank 0 {pt['scope_rank0_s'] * 1e3:.1f}); "
                f"yielding: plain {pt['plain-yield_max_s'] * 1e3:.1f} ms, "
                f"scope {pt['scope-yield_max_s'] * 1e3:.1f} ms")
    rm(work)
    return results


def human(n):
    for unit, f in [("GB", 1e9), ("MB", 1e6), ("kB", 1e3)]:
        if n >= f:
            return f"{n / f:.1f} {unit}"
    return f"{n} B"


def markdown(sweep, model, fin):
    out = []
    if sweep:
        out += ["| R files | E events/file | input | merge s | cp s | merge MB/s | cp MB/s | "
                "merge/cp throughput | to disk: merge/cp | merge peak RSS (process) |",
                "|---|---|---|---|---|---|---|---|---|---|"]
        for p in sweep:
            b = p["in_bytes"]
            out.append(
                f"| {p['ranks']} | {p['events']:.0e} | {human(b)} | {p['merge_s']:.3f} | "
                f"{p['cp_s']:.3f} | {b / p['merge_s'] / 1e6:.0f} | {b / p['cp_s'] / 1e6:.0f} | "
                f"**{p['ratio']:.2f}** | {p['ratio_disk']:.2f} | "
                f"{p['merge_peak_kib'] / 1024:.1f} MiB ({p['merge_rss_kib'] / 1024:.1f} MiB) |")
    if model:
        out.append(f"Fit over the {model['points']} points with inputs up to "
                   f"{human(model['max_bytes'])}, merge seconds = "
                   f"{model['fixed_s'] * 1e3:.2f} ms + {model['per_file_s'] * 1e3:.3f} ms x R + "
                   f"event bytes / {(model['bytes_per_s'] or 0) / 1e6:.0f} MB/s")
        out.append("")
    if fin:
        out += ["| ranks | E events/rank | output | plain | scope | rank 0 under scope | added "
                "| plain, yielding | scope, yielding | added, yielding |",
                "|---|---|---|---|---|---|---|---|---|---|"]
        for p in fin:
            ms = lambda k: f"{p[k] * 1e3:.1f} ms"  # noqa: E731
            out.append(
                f"| {p['ranks']} | {p['events']:.0e} | {human(p['out_bytes'])} | "
                f"{ms('plain_max_s')} | {ms('scope_max_s')} | {ms('scope_rank0_s')} | "
                f"**{(p['scope_max_s'] - p['plain_max_s']) * 1e3:.1f} ms** | "
                f"{ms('plain-yield_max_s')} | {ms('scope-yield_max_s')} | "
                f"{(p['scope-yield_max_s'] - p['plain-yield_max_s']) * 1e3:.1f} ms |")
    return "\n".join(out) + "\n"


def ints(s):
    return [int(float(x)) for x in s.split(",") if x]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bench", required=True)
    ap.add_argument("--workdir", required=True)
    ap.add_argument("--scope-run", required=True)
    ap.add_argument("--finalize-bin", required=True)
    ap.add_argument("--ranks", type=ints, default=ints("1,4,16,64,256,1024"))
    ap.add_argument("--events", type=ints, default=ints("1e3,1e4,1e5,1e6"))
    ap.add_argument("--extra", default="1x1e7", help="more RxE points, e.g. 1x1e7,4x1e7")
    ap.add_argument("--max-bytes", type=float, default=4e9)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--fit-max-bytes", type=float, default=1e9,
                    help="fit the cost model on points with inputs up to this")
    ap.add_argument("--finalize-ranks", type=ints, default=ints("1,2,4,8"))
    ap.add_argument("--finalize-events", type=ints, default=ints("1e5,1e6"))
    ap.add_argument("--skip-sweep", action="store_true")
    ap.add_argument("--skip-finalize", action="store_true")
    ap.add_argument("--json", required=True)
    ap.add_argument("--md", required=True)
    a = ap.parse_args()
    a.extra = [tuple(ints(x.replace("x", ","))) for x in a.extra.split(",") if x]
    os.makedirs(a.workdir, exist_ok=True)
    sweep = [] if a.skip_sweep else merge_sweep(a)
    # Past about a gigabyte the page cache starts throttling writers (writeback), and both the
    # merge and cp spread over 2-5x between reps; those points would swamp the fit.
    small = [p for p in sweep if p["in_bytes"] <= a.fit_max_bytes]
    model = fit(small) if len(small) >= 3 else {}
    if model:
        model.update(points=len(small), max_bytes=a.fit_max_bytes)
    fin = [] if a.skip_finalize else finalize_runs(a)
    md = markdown(sweep, model, fin)
    print(md)
    with open(a.md, "w") as f:
        f.write(md)
    with open(a.json, "w") as f:
        json.dump({"sweep": sweep, "model": model, "finalize": fin,
                   "loadavg": open("/proc/loadavg").read().split()[:3]}, f, indent=1)


if __name__ == "__main__":
    main()
