#!/usr/bin/env bash
# Demo: build scope and the example solver, profile it on 4 ranks, print the summary.
# Usage: scripts/demo.sh [OUTDIR]   (default: a fresh temporary directory)
set -euo pipefail

# shellcheck source=scripts/env.sh
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$SCOPE_ROOT"

bash scripts/setup.sh
cargo build --release -j "${SCOPE_JOBS:-2}"

out="${1:-$(mktemp -d "${TMPDIR:-/tmp}/scope-demo.XXXXXX")}"
mkdir -p "$out"
mpicc -O2 -o "$out/solver" examples/solver.c -lm

echo "==> scope-run -n 4 -c examples/scope.toml -o $out/profiling_data.h5 -- ./solver" >&2
(cd "$out" && "$SCOPE_ROOT/target/release/scope-run" -n 4 -c "$SCOPE_ROOT/examples/scope.toml" \
    -o "$out/profiling_data.h5" -- ./solver)

# scope-run prints the per-region, per-rank summary itself; more views:
echo "==> profile: $out/profiling_data.h5 (try: target/release/scope-pproc $out/profiling_data.h5)" >&2
