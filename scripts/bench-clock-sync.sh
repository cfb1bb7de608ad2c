#!/usr/bin/env bash
# Clock alignment on the simulated cluster (tests/cluster/cluster.sh: 3 nodes, CLOCK_MONOTONIC
# 7 h apart): the error bound the agent records and the time its clock measurement adds to
# MPI_Init and MPI_Finalize, at 6, 12 and 24 ranks (Open MPI, 2, 4 and 8 ranks per node), with
# `mpi_barriers` under scope-run. Figures come from the agent's own verbose lines (rank 0's
# "clock at ... measured in N µs", not counting the wait in the first exchange for ranks that
# arrive later, which the program's next collective would have waited anyway) and scope-run's
# "within ±N µs" (the largest error bound of the merged file).
# Usage: scripts/bench-clock-sync.sh [--reps N]   (needs root; builds nothing: run test.sh first)
# Output: a table on stdout and target/bench/clock-sync.md.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=scripts/env.sh
source "$ROOT/scripts/env.sh"
REPS=3
while [ $# -gt 0 ]; do
    case "$1" in
        --reps) REPS="$2"; shift 2 ;;
        -h|--help) sed -n '2,9p' "$0"; exit 0 ;;
        *) echo "bench-clock-sync: unknown argument $1" >&2; exit 2 ;;
    esac
done
CLUSTER="$ROOT/tests/cluster/cluster.sh"
OUT="$ROOT/target/bench"
WORK="$OUT/clock-sync"
mkdir -p "$WORK"
export SCOPE_CLUSTER
SCOPE_CLUSTER="$(bash "$CLUSTER" up 3 --owner $$)"
trap 'bash "$CLUSTER" down "$SCOPE_CLUSTER" >/dev/null 2>&1 || true' EXIT
eval "$(bash "$CLUSTER" env openmpi)"
printf '[[regions]]\nsymbol = "phase"\n[mpi]\ncalls = ["MPI_Barrier"]\n' >"$WORK/scope.toml"
PROG="$ROOT/target/fixtures/mpi_barriers.openmpi"
CPU="$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')"

median() { sort -n | awk '{a[NR]=$1} END {if (NR == 0) print "n/a"; else print a[int((NR + 1) / 2)]}'; }

{
    echo "CPU: $CPU, $(nproc) cores; 3 simulated nodes, Open MPI over TCP between network namespaces; $REPS runs each"
    echo
    echo "| ranks | per node | added to MPI_Init (rank 0, ms, median / max) | added to MPI_Finalize (ms, median / max) | largest error bound (µs, median / max) |"
    echo "|---|---|---|---|---|"
} >"$OUT/clock-sync.md"
for n in 6 12 24; do
    per=$((n / 3))
    hosts="$(bash "$CLUSTER" info | awk -v p="$per" '/^node/ {printf "%s%s:%d", sep, $2, p; sep=","}')"
    : >"$WORK/init.txt"; : >"$WORK/fin.txt"; : >"$WORK/err.txt"
    for rep in $(seq "$REPS"); do
        log="$WORK/run-$n-$rep.log"
        rm -f "$WORK/p.h5"
        (cd "$WORK" && bash "$CLUSTER" exec 1 "$ROOT/target/release/scope-run" -v -c "$WORK/scope.toml" \
            -o "$WORK/p.h5" -H "$hosts" -n "$n" -- "$PROG") >"$log" 2>&1 \
            || { echo "bench-clock-sync: run failed, see $log" >&2; exit 1; }
        grep 'rank 0\]: clock at MPI_Init' "$log" | sed 's/.*measured in \([0-9]*\) µs.*/\1/' >>"$WORK/init.txt"
        grep 'rank 0\]: clock at MPI_Finalize' "$log" | sed 's/.*measured in \([0-9]*\) µs.*/\1/' >>"$WORK/fin.txt"
        grep -o 'within ±[0-9]* µs' "$log" | tr -dc '0-9\n' >>"$WORK/err.txt"
    done
    ms() { awk '{printf "%.1f\n", $1 / 1000}'; }
    row="| $n | $per | $(ms <"$WORK/init.txt" | median) / $(ms <"$WORK/init.txt" | sort -n | tail -1) | $(ms <"$WORK/fin.txt" | median) / $(ms <"$WORK/fin.txt" | sort -n | tail -1) | $(median <"$WORK/err.txt") / $(sort -n "$WORK/err.txt" | tail -1) |"
    echo "$row" >>"$OUT/clock-sync.md"
done
cat "$OUT/clock-sync.md"
