"""Where a hooked call's CPU goes: reads `perf script` output (cpu-clock samples with call
chains) of one run of the overhead fixture under scope and charges every sample to one part of
scope's path, by thread and by the functions on its stack. Prints ns per recorded event for each
part (a sample's period is in ns of CPU time), and writes the table as JSON.

Usage: perf script -F comm,tid,period,ip,sym,dso -i perf.data | python3 attribute.py EVENTS PROGRAM [--json OUT]
"""
import json
import sys
from collections import defaultdict

# (part, test on (thread, leaf symbol, leaf object, every symbol of the chain)), first match wins.
WRITES = ("generic_perform_write", "ksys_write", "vfs_write", "ksys_pwrite64", "__x64_sys_pwrite64")


def has(ch, *names):
    return any(any(n in c for n in names) for c in ch)


RULES = [
    ("program: the loop and work() (the floor's loop)", lambda t, s, d, ch: t == "prog" and d.endswith("/prog")),
    ("program: stubs (enter + leave, two rdtsc included)", lambda t, s, d, ch: t == "prog" and "perf-" in d and d.endswith(".map")),
    ("finalize/exit: merge into the output (copy_file_range, HDF5)", lambda t, s, d, ch: t == "prog" and (has(ch, "copy_file_range", "merge") or (has(ch, "H5") and not has(ch, "engine")))),
    ("program: agent slow paths (buffer hand-over, waits)", lambda t, s, d, ch: t == "prog" and has(ch, "scope_agent::engine", "futex", "nanosleep")),
    ("program: start-up, exit and kernel (page faults, loading)", lambda t, s, d, ch: t == "prog"),
    ("writer: records to columns (to_batch)", lambda t, s, d, ch: t == "writer" and "to_batch" in s),
    ("writer: emptying buffers (memset)", lambda t, s, d, ch: t == "writer" and "memset" in s and not has(ch, "H5")),
    ("writer: file writes in the kernel (page cache, ext4)", lambda t, s, d, ch: t == "writer" and has(ch, *WRITES)),
    ("writer: page faults (fresh memory)", lambda t, s, d, ch: t == "writer" and has(ch, "page_fault")),
    ("writer: HDF5 library (appends, chunk index, flush)", lambda t, s, d, ch: t == "writer" and has(ch, "H5")),
    ("writer: other (drain, sink, allocator, kernel)", lambda t, s, d, ch: t == "writer"),
    ("other threads and processes (MPI progress, launcher)", lambda t, s, d, ch: True),
]


def samples(stream):
    """Yields (comm, tid, period, [(sym, dso), ...] leaf first)."""
    head, chain = None, []
    for line in stream:
        line = line.rstrip("\n")
        if not line.strip():
            if head:
                yield head + (chain,)
            head, chain = None, []
            continue
        if not line.startswith((" ", "\t")):
            if head:
                yield head + (chain,)
            parts = line.split()
            # comm may contain spaces: the last two fields are tid and period
            head = (" ".join(parts[:-2]), parts[-2], int(parts[-1]))
            chain = []
        else:
            f = line.strip().split(None, 1)
            rest = f[1] if len(f) > 1 else ""
            if rest.endswith(")") and " (" in rest:
                sym, dso = rest.rsplit(" (", 1)
                chain.append((sym, dso[:-1]))
            else:
                chain.append((rest, ""))
    if head:
        yield head + (chain,)


def main():
    events = int(sys.argv[1])
    program = sys.argv[2]
    out = sys.argv[sys.argv.index("--json") + 1] if "--json" in sys.argv else None
    ns = defaultdict(int)
    total = 0
    for comm, _tid, period, chain in samples(sys.stdin):
        if comm == "scope-writer":
            thread = "writer"
        elif comm == program[:15]:
            thread = "prog"
        else:
            thread = "other"
        sym, dso = chain[0] if chain else ("", "")
        syms = [s for s, _ in chain]
        dso = dso.replace("/" + program, "/prog") if dso.endswith("/" + program) else dso
        for part, test in RULES:
            if test(thread, sym, dso, syms):
                ns[part] += period
                break
        total += period
    rows = [(p, ns[p] / events) for p, _ in RULES if ns[p]]
    print("| part | ns per event | share |")
    print("|---|---|---|")
    for p, v in rows:
        print("| %s | %.1f | %.0f %% |" % (p, v, 100.0 * v * events / total))
    print("| **all CPU of the run** | **%.1f** | 100 %% |" % (total / events))
    if out:
        with open(out, "w") as f:
            json.dump({"events": events, "ns_per_event": dict(rows), "total_ns_per_event": total / events}, f, indent=1)


if __name__ == "__main__":
    main()
