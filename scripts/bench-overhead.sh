#!/usr/bin/env bash
# Hook overhead: ns added per hooked call (enter + leave, recording included) by scope, uftrace
# (dynamic patching, -P) and Frida (Interceptor + CModule listener), at 1 thread, as many threads
# as CPUs, and 4, measured side by side in one run against the uninstrumented fixture. Per variant
# and thread count also the wall time added per call in the calling threads and the whole-process
# CPU added per call (writer thread, start-up, finalize and merge included), each as a ratio to
# the floor (two rdtsc per call) measured in the same run, with a verdict for issue 15's targets;
# prints the CPU model. See docs/benchmarks.md.
#
# Usage: scripts/bench-overhead.sh [--rounds N] [--n-scope CALLS] [--n-tool CALLS] [--quick]
#   --rounds   rounds of every variant x thread count, interleaved (default 7)
#   --n-scope  calls per thread for scope and the baselines (default 2000000)
#   --n-tool   calls per thread for uftrace and Frida (default 1000000)
#   --quick    2 rounds, smaller N (a smoke test, not a measurement)
#   --agent-b SO  also run scope's variants with this second agent, side by side in the same
#              rounds (as `scope@b`, ...): before/after comparisons of an agent change
#   --variants LIST  only these variants (comma-separated; default: all of run.py's)
#   --threads LIST   thread counts (comma-separated; default: 1, the number of CPUs, 4)
# Output: a table on stdout, target/bench/overhead.json (every run + summary) and
# target/bench/overhead.md. Exits non-zero if a tool failed or recorded the wrong number of calls.
# Installs what it needs (apt: uftrace, gcc, MPICH; a venv with frida and h5py) once.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SRC="$ROOT/bench/overhead"
OUT="$ROOT/target/bench"
BIN="$OUT/bin"
VENV="$OUT/venv"
WORK="$OUT/work"

ROUNDS=7
N_SCOPE=2000000
N_TOOL=1000000
AGENT_B=()
VARIANTS=()
THREADS=()
while [ $# -gt 0 ]; do
    case "$1" in
        --rounds) ROUNDS="$2"; shift 2 ;;
        --n-scope) N_SCOPE="$2"; shift 2 ;;
        --n-tool) N_TOOL="$2"; shift 2 ;;
        --agent-b) AGENT_B=(--agent-b "$(realpath "$2")"); shift 2 ;;
        --variants) VARIANTS=(--variants "$2"); shift 2 ;;
        --threads) THREADS=(--threads "$2"); shift 2 ;;
        --quick) ROUNDS=2; N_SCOPE=400000; N_TOOL=200000; shift ;;
        -h|--help) sed -n '2,22p' "$0"; exit 0 ;;
        *) echo "bench-overhead: unknown argument $1" >&2; exit 2 ;;
    esac
done

log() { printf 'bench-overhead: %s\n' "$*" >&2; }
# shellcheck source=scripts/apt.sh
source "$ROOT/scripts/apt.sh"

# --- tools (idempotent) -----------------------------------------------------------------------
APT=(uftrace gcc mpich libmpich-dev python3-venv)
apt_install "${APT[@]}"

PY_SPEC="frida h5py"
if [ ! -f "$VENV/.bench-installed" ] || [ "$(cat "$VENV/.bench-installed")" != "$PY_SPEC" ]; then
    log "venv $VENV with $PY_SPEC"
    rm -rf "$VENV"
    /usr/bin/python3 -m venv "$VENV"
    # shellcheck disable=SC2086
    "$VENV/bin/python" -m pip install -q --disable-pip-version-check $PY_SPEC
    printf '%s' "$PY_SPEC" >"$VENV/.bench-installed"
fi
PY="$VENV/bin/python"

# --- agent and fixtures -----------------------------------------------------------------------
log "cargo build --release -p scope-agent"
(cd "$ROOT" && cargo build --release -p scope-agent -j "${SCOPE_JOBS:-2}" >&2)
AGENT="$ROOT/target/release/libscope_agent.so"

mkdir -p "$BIN" "$WORK"
CFLAGS=(-O2 -pthread -Wall -Wextra)
gcc "${CFLAGS[@]}" -o "$BIN/plain" "$SRC/fixture.c"
gcc "${CFLAGS[@]}" -DRDTSC_FLOOR -o "$BIN/rdtsc-floor" "$SRC/fixture.c"
# uftrace -P patches the 5 NOPs this option puts at every function's entry.
gcc "${CFLAGS[@]}" -fpatchable-function-entry=5 -o "$BIN/plain-pfe" "$SRC/fixture.c"
# The same loop with MPI_Init before it and MPI_Finalize after (MPICH, run as a singleton): scope
# opens its rank file at MPI_Init, so every full buffer is written to HDF5 during the loop, as in
# a real MPI run. Without MPI the agent keeps events in memory until exit (at most 4 Mi events).
mpicc.mpich "${CFLAGS[@]}" -Dmain=fixture_main -c -o "$WORK/fixture-mpi.o" "$SRC/fixture.c"
mpicc.mpich "${CFLAGS[@]}" -o "$BIN/plain-mpi" "$SRC/mpi_main.c" "$WORK/fixture-mpi.o"

log "versions: $(uftrace --version | head -n1); frida $("$PY" -c 'import frida; print(frida.__version__)'); $(gcc --version | head -n1)"
log "running $ROUNDS rounds (n_scope=$N_SCOPE, n_tool=$N_TOOL); load average now: $(cut -d' ' -f1-3 /proc/loadavg)"

"$PY" "$SRC/run.py" --bindir "$BIN" --srcdir "$SRC" --workdir "$WORK" --agent "$AGENT" "${AGENT_B[@]}" "${VARIANTS[@]}" \
    "${THREADS[@]}" --python "$PY" --rounds "$ROUNDS" --n-scope "$N_SCOPE" --n-tool "$N_TOOL" \
    --json "$OUT/overhead.json" --md "$OUT/overhead.md"
