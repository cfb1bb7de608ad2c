#!/usr/bin/env bash
# Finalize and merge at scale: merge time, throughput (next to `cp` of the same bytes on the same
# disk) and rank-0 peak memory for R generated per-rank files x E events, and end-to-end
# MPI_Finalize time at 1, 2, 4 and 8 real ranks, plain and under scope. See docs/benchmarks.md.
#
# Usage: scripts/bench-merge.sh [--reps N] [--max-bytes BYTES] [--quick] [run.py options]
#   --reps       repetitions of every point, merge and cp alternating first (default 3)
#   --max-bytes  skip grid points whose input exceeds this (default 4e9)
#   --quick      1 rep, R <= 64, E <= 1e5, finalize at E = 1e5 only: a smoke test
# Output: tables on stdout, target/bench/merge.json and target/bench/merge.md.
# Needs: cargo, mpicc (Open MPI), python3 (h5py optional: checks the finalize runs' event counts).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=scripts/env.sh
source "$ROOT/scripts/env.sh"
OUT="$ROOT/target/bench"
BIN="$OUT/merge-bin"
WORK="$OUT/merge-work"

ARGS=()
while [ $# -gt 0 ]; do
    case "$1" in
        --quick) ARGS+=(--reps 1 --ranks 1,4,16,64 --events 1e3,1e4,1e5 --extra 1x1e6
                        --finalize-events 1e5); shift ;;
        -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
        *) ARGS+=("$1"); shift ;;
    esac
done

log() { printf 'bench-merge: %s\n' "$*" >&2; }

log "cargo build --release -p scope-agent -p scope-launcher; example merge_bench"
(cd "$ROOT" && cargo build --release -p scope-agent -p scope-launcher -j "${SCOPE_JOBS:-2}" >&2)
(cd "$ROOT" && cargo build --release -p scope-format --example merge_bench -j "${SCOPE_JOBS:-2}" >&2)
mkdir -p "$BIN" "$WORK"
mpicc -O2 -Wall -Wextra -o "$BIN/finalize" "$ROOT/bench/merge/finalize.c"

log "disk: $(df -h --output=source,fstype,size,avail "$WORK" | tail -n1); $(cp --version | head -n1)"
log "load average now: $(cut -d' ' -f1-3 /proc/loadavg)"
python3 "$ROOT/bench/merge/run.py" --bench "$ROOT/target/release/examples/merge_bench" \
    --workdir "$WORK" --scope-run "$ROOT/target/release/scope-run" --finalize-bin "$BIN/finalize" \
    --json "$OUT/merge.json" --md "$OUT/merge.md" "${ARGS[@]}"
