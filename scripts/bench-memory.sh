#!/usr/bin/env bash
# Resident memory of a rank that records many events: the overhead fixture (bench/overhead) run
# as an MPICH singleton with MPI_Init/MPI_Finalize around its loop, under /usr/bin/time, without
# and with the agent, for 10^6, 10^7 and 10^8 hooked calls (1 thread) and 4 x 2.5*10^7 (4 threads).
# With the rank file open, full buffers go to the writer thread and on to disk, so the peak
# resident set must not grow with the number of events. See docs/benchmarks.md.
#
# Usage: scripts/bench-memory.sh [--max-calls N]   (default 100000000)
# Output: a markdown table on stdout and in target/bench/memory.md. Exits non-zero if a run
# failed or the profile does not hold exactly the calls made. Needs ~2.4 GB of disk per 10^8
# events (the rank file, then the merged output), removed after each run.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUT="$ROOT/target/bench"
WORK="$OUT/memory"
MAX=100000000
while [ $# -gt 0 ]; do
    case "$1" in
        --max-calls) MAX="$2"; shift 2 ;;
        -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
        *) echo "bench-memory: unknown argument $1" >&2; exit 2 ;;
    esac
done

log() { printf 'bench-memory: %s\n' "$*" >&2; }
[ -x /usr/bin/time ] || { log "needs /usr/bin/time (Debian package time)"; exit 2; }

(cd "$ROOT" && cargo build --release -p scope-agent -p scope-launcher -j "${SCOPE_JOBS:-2}" >&2)
AGENT="$ROOT/target/release/libscope_agent.so"
PPROC="$ROOT/target/release/scope-pproc"
rm -rf "$WORK"
mkdir -p "$WORK"
CFLAGS=(-O2 -pthread -Wall -Wextra)
mpicc.mpich "${CFLAGS[@]}" -Dmain=fixture_main -c -o "$WORK/fixture-mpi.o" "$ROOT/bench/overhead/fixture.c"
mpicc.mpich "${CFLAGS[@]}" -o "$WORK/plain-mpi" "$ROOT/bench/overhead/mpi_main.c" "$WORK/fixture-mpi.o"
printf '[[regions]]\nsymbol = "work"\n' >"$WORK/scope.toml"

# peak RSS in KiB of one run: rss THREADS CALLS [agent]
rss() {
    local threads="$1" calls="$2" with="${3:-}" out="$WORK/out.h5"
    rm -f "$WORK"/out*.h5
    if [ -n "$with" ]; then
        env LD_PRELOAD="$AGENT" SCOPE_CONFIG="$WORK/scope.toml" SCOPE_OUTPUT="$out" \
            SCOPE_TARGET="$WORK/plain-mpi" \
            /usr/bin/time -f '%M' -o "$WORK/rss" "$WORK/plain-mpi" "$threads" "$calls" >/dev/null
        local got
        got=$("$PPROC" "$out" --format json | python3 -c '
import json, sys
d = json.load(sys.stdin)
print(sum(r["calls"] for r in d["regions"] if r["name"] == "work"))')
        if [ "$got" != "$((threads * calls))" ]; then
            log "profile holds $got calls, the program made $((threads * calls))"
            exit 1
        fi
        stat -c %s "$out" >"$WORK/size"
    else
        /usr/bin/time -f '%M' -o "$WORK/rss" "$WORK/plain-mpi" "$threads" "$calls" >/dev/null
    fi
    rm -f "$WORK"/out*.h5
    cat "$WORK/rss"
}

{
    echo "| threads x calls | events | peak RSS without agent (MiB) | peak RSS with agent (MiB) | added (MiB) | output file (MiB) |"
    echo "|---|---|---|---|---|---|"
    for spec in "1 1000000" "1 10000000" "1 100000000" "4 25000000"; do
        read -r t n <<<"$spec"
        [ $((t * n)) -le "$MAX" ] || continue
        log "$t thread(s) x $n calls"
        base=$(rss "$t" "$n")
        with=$(rss "$t" "$n" agent)
        python3 -c "
t, n, b, w, s = $t, $n, $base, $with, $(cat "$WORK/size")
print(f'| {t} x {n:.0e} | {t*n:.0e} | {b/1024:.1f} | {w/1024:.1f} | {(w-b)/1024:.1f} | {s/2**20:.0f} |')"
    done
} | tee "$OUT/memory.md"
