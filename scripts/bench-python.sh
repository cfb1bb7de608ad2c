#!/usr/bin/env bash
# Python functions as regions (issue 14): what a region on a Python function costs the functions
# that are not regions, and the ns added per recorded call, side by side in one run with plain
# Python, cProfile and viztracer (PyPI). See docs/benchmarks.md, "Python regions".
#
# Usage: scripts/bench-python.sh [--rounds N] [--quick] [--prototype] [--variants LIST]
#   --rounds     interleaved rounds of every variant (default 7)
#   --quick      2 rounds of a smaller workload (a smoke test, not a measurement)
#   --prototype  also run bench/python's pyhook.so (the PEP 523 prototype of the design note)
#   --variants   only these (comma-separated keys: scope-native, scope-rare, scope-all,
#                monitoring-floor (3.12+), proto-passthru, proto-rare, proto-fib, proto-step,
#                cprofile, viztracer; plain always runs)
#   --python PY  the interpreter (default /usr/bin/python3.11, Debian 12's; e.g. pyenv's 3.12
#                or 3.13, where scope uses sys.monitoring)
#   --clock wall compare the phases' wall times (default: the main thread's CPU time)
# Workload: bench/pyregions/workload.py on PY (5 x recursive fib(27), 3 M method calls, 4 M
# builtin calls, 100 calls of `rare`). Output: a table on stdout, target/bench/python-<version>.json (every
# run) and target/bench/python-<version>.md. Exits non-zero if a variant failed or scope (or cProfile, or
# the prototype) recorded a number of calls other than the number made.
# Installs what it needs once: apt python3-venv (and gcc, python3.11-dev for --prototype); a venv
# target/bench/venv-python-<version>-<hash of the interpreter's path> with viztracer from PyPI.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SRC="$ROOT/bench/pyregions"
OUT="$ROOT/target/bench"
WORK="$OUT/python-work"

ROUNDS=7
WORKLOAD_ARGS=""
PROTOTYPE=0
VARIANTS=()
PY=/usr/bin/python3.11
CLOCK=cpu
while [ $# -gt 0 ]; do
    case "$1" in
        --rounds) ROUNDS="$2"; shift 2 ;;
        --quick) ROUNDS=2; WORKLOAD_ARGS="22 5 300000 200000 100"; shift ;;
        --prototype) PROTOTYPE=1; shift ;;
        --variants) VARIANTS=(--variants "$2"); shift 2 ;;
        --python) PY="$2"; shift 2 ;;
        --clock) CLOCK="$2"; shift 2 ;;
        -h|--help) sed -n '2,22p' "$0"; exit 0 ;;
        *) echo "bench-python: unknown argument $1" >&2; exit 2 ;;
    esac
done

log() { printf 'bench-python: %s\n' "$*" >&2; }
# shellcheck source=scripts/apt.sh
source "$ROOT/scripts/apt.sh"

[ -x "$PY" ] || { log "no interpreter $PY (Debian 12: apt-get install python3.11)"; exit 2; }

# --- tools (idempotent) -----------------------------------------------------------------------
APT=(python3-venv)
[ "$PROTOTYPE" = 1 ] && APT+=(gcc python3.11-dev)
apt_install "${APT[@]}"

# viztracer runs on the same interpreter: the venv's python is a link to $PY. One venv per
# interpreter (version and path), so runs on several interpreters each keep theirs.
PY_REAL="$(realpath "$PY")"
PY_VERSION="$("$PY" -c 'import sys; print(sys.version.split()[0])')"
VENV="$OUT/venv-python-$PY_VERSION-$(printf '%s' "$PY_REAL" | md5sum | cut -c1-8)"
PY_SPEC="viztracer==1.1.1"
if [ ! -f "$VENV/.bench-installed" ] || [ "$(cat "$VENV/.bench-installed")" != "$PY_SPEC $PY_REAL" ]; then
    log "venv $VENV with $PY_SPEC"
    rm -rf "$VENV"
    "$PY" -m venv "$VENV"
    "$VENV/bin/python" -m pip install -q --disable-pip-version-check "$PY_SPEC"
    printf '%s' "$PY_SPEC $PY_REAL" >"$VENV/.bench-installed"
fi
VIZ_VERSION="$("$VENV/bin/python" -c 'import viztracer; print(viztracer.__version__)')"

# --- agent, reader, prototype -----------------------------------------------------------------
log "cargo build --release -p scope-agent -p scope-launcher"
(cd "$ROOT" && cargo build --release -p scope-agent -p scope-launcher -j "${SCOPE_JOBS:-2}" >&2)
AGENT="$ROOT/target/release/libscope_agent.so"
PPROC="$ROOT/target/release/scope-pproc"

mkdir -p "$WORK"
PROTO_ARGS=()
if [ "$PROTOTYPE" = 1 ] && [ "${PY_VERSION%.*}" != 3.11 ]; then
    log "--prototype: pyhook.so is written for 3.11 only; not run on $PY_VERSION"
    PROTOTYPE=0
fi
if [ "$PROTOTYPE" = 1 ]; then
    gcc -O2 -shared -fPIC -I/usr/include/python3.11 -o "$WORK/pyhook.so" "$ROOT/bench/python/pyhook.c"
    PROTO_ARGS=(--prototype "$WORK/pyhook.so")
fi

# Does this agent know `python = ...` regions? If not, say so once; the scope variants then fail
# (and the script exits non-zero) while the others still run.
printf '[[regions]]\npython = "probe"\n' >"$WORK/probe.toml"
probe="$(env SCOPE_CONFIG="$WORK/probe.toml" SCOPE_OUTPUT="$WORK/probe.h5" LD_PRELOAD="$AGENT" \
    "$PY" -c pass 2>&1 || true)"
rm -f "$WORK/probe.h5"
case "$probe" in
    *"unknown field \`python\`"*) log "this agent has no Python regions (\`unknown field python\`): the scope variants will fail" ;;
esac

log "agent $(git -C "$ROOT" describe --always --dirty 2>/dev/null || echo '?'); viztracer $VIZ_VERSION; $("$PY" -VV)"
log "running $ROUNDS rounds; load average now: $(cut -d' ' -f1-3 /proc/loadavg)"

/usr/bin/python3 "$SRC/run.py" --python "$PY" --workload "$SRC/workload.py" \
    --workload-args "$WORKLOAD_ARGS" --agent "$AGENT" --pproc "$PPROC" "${PROTO_ARGS[@]}" \
    --viztracer "$VENV/bin/viztracer" --viztracer-version "$VIZ_VERSION" "${VARIANTS[@]}" \
    --rounds "$ROUNDS" --clock "$CLOCK" --workdir "$WORK" --json "$OUT/python-$PY_VERSION.json" --md "$OUT/python-$PY_VERSION.md"
