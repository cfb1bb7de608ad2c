#!/usr/bin/env bash
# MPI call overhead of `[mpi] calls`: ns per MPI call added by scope, against the plain run,
# for MPI_Comm_rank, MPI_Allreduce on MPI_COMM_SELF and an 8-byte MPI_Send/MPI_Recv ping-pong,
# under Open MPI and MPICH, plain and scoped runs alternating. See docs/benchmarks.md.
#
# Usage: scripts/bench-mpi-calls.sh [--rounds N] [--n CALLS] [--ranks 1|2]   (defaults 5, 1e6, 2)
#   --ranks 1: no ping-pong; the rank's writer thread has the second core to itself.
# Output: a table on stdout, target/bench/mpi-calls.json and target/bench/mpi-calls.md.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=scripts/env.sh
source "$ROOT/scripts/env.sh"
OUT="$ROOT/target/bench"
BIN="$OUT/mpi-calls-bin"
mkdir -p "$BIN"

(cd "$ROOT" && cargo build --release -p scope-agent -p scope-launcher -j "${SCOPE_JOBS:-2}" >&2)
for flavor in openmpi mpich; do
    "mpicc.$flavor" -O2 -Wall -o "$BIN/mpi_calls_bench.$flavor" "$ROOT/bench/mpi_calls/bench.c"
done
printf 'bench-mpi-calls: load average now: %s\n' "$(cut -d' ' -f1-3 /proc/loadavg)" >&2
python3 "$ROOT/bench/mpi_calls/run.py" --bin-dir "$BIN" --scope-run "$ROOT/target/release/scope-run" \
    --work "$OUT/mpi-calls-work" --json "$OUT/mpi-calls.json" --md "$OUT/mpi-calls.md" "$@"
