#!/usr/bin/env bash
# Where a hooked call's CPU goes: the overhead fixture (bench/overhead/fixture.c, one thread,
# work() called N times) under scope, sampled with perf's software clock (cpu-clock, call
# chains, every thread of the process), each sample charged to one part of scope's path by
# bench/where/attribute.py: the program's stubs, the writer thread's conversion, buffer
# emptying, file writes, HDF5, page faults, and the merge at exit. Prints ns per recorded event
# per part, for the process without MPI (pending store, spill file) and for an MPI rank
# (MPICH, singleton: rank file from MPI_Init on). See docs/benchmarks.md (issue 15).
#
# Usage: scripts/bench-where-cpu.sh [--n CALLS] [--freq HZ] [--agent SO]
#   --n      calls of work() (default 5000000)
#   --freq   perf sampling frequency (default 5000; higher perturbs the run more)
#   --agent  the agent to measure (default target/release/libscope_agent.so)
# Output: the tables on stdout, target/bench/where-cpu-{nompi,mpi}.json. Needs perf (apt
# linux-perf) and perf_event_paranoid <= 1 (root is fine).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=scripts/env.sh
source "$ROOT/scripts/env.sh"
OUT="$ROOT/target/bench"
WORK="$OUT/where-cpu"
N=5000000
FREQ=5000
AGENT="$ROOT/target/release/libscope_agent.so"
while [ $# -gt 0 ]; do
    case "$1" in
        --n) N="$2"; shift 2 ;;
        --freq) FREQ="$2"; shift 2 ;;
        --agent) AGENT="$(realpath "$2")"; shift 2 ;;
        -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
        *) echo "bench-where-cpu: unknown argument $1" >&2; exit 2 ;;
    esac
done
log() { printf 'bench-where-cpu: %s\n' "$*" >&2; }
# shellcheck source=scripts/apt.sh
source "$ROOT/scripts/apt.sh"

apt_install linux-perf gcc mpich libmpich-dev
if [ "$AGENT" = "$ROOT/target/release/libscope_agent.so" ]; then
    (cd "$ROOT" && cargo build --release -p scope-agent >&2)
fi
mkdir -p "$WORK"
SRC="$ROOT/bench/overhead"
CFLAGS=(-O2 -g -pthread -fno-omit-frame-pointer)
gcc "${CFLAGS[@]}" -o "$WORK/fixture" "$SRC/fixture.c"
mpicc.mpich "${CFLAGS[@]}" -Dmain=fixture_main -c -o "$WORK/fixture-mpi.o" "$SRC/fixture.c"
mpicc.mpich "${CFLAGS[@]}" -o "$WORK/fixture-mpi" "$SRC/mpi_main.c" "$WORK/fixture-mpi.o"
printf '[[regions]]\nsymbol = "work"\n' >"$WORK/scope.toml"

echo "CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'), $(nproc) cores; load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "agent: $AGENT; $N calls of work(), 1 thread; perf cpu-clock at $FREQ Hz"
events=$((N + 100000)) # the fixture's warm-up calls are recorded too
for variant in nompi mpi; do
    prog="$WORK/fixture"
    [ "$variant" = mpi ] && prog="$WORK/fixture-mpi"
    rm -f "$WORK"/out*.h5
    echo
    echo "### $variant: $(basename "$prog") 1 $N 100000"
    SCOPE_CONFIG="$WORK/scope.toml" SCOPE_OUTPUT="$WORK/out.h5" LD_PRELOAD="$AGENT" \
        perf record -q -F "$FREQ" -e cpu-clock -g -o "$WORK/perf-$variant.data" \
        "$prog" 1 "$N" 100000 >"$WORK/fixture-$variant.json" 2>"$WORK/perf-$variant.log"
    echo "fixture: $(cat "$WORK/fixture-$variant.json")"
    perf script -F comm,tid,period,ip,sym,dso -i "$WORK/perf-$variant.data" 2>/dev/null |
        python3 "$ROOT/bench/where/attribute.py" "$events" "$(basename "$prog")" \
            --json "$OUT/where-cpu-$variant.json"
done
