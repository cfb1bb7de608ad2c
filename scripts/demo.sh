#!/usr/bin/env bash
# Demo: install what the demo needs and nothing else, build scope, profile the example solver
# (examples/solver.c) on 4 ranks, write its Gantt chart beside the profile, and print the command
# that opens it. The test suite's extras (the second MPI, the reference tools, browsers, the
# aarch64 cross tools) are scripts/setup.sh's business, not this one's.
#
# Usage: scripts/demo.sh [OUTDIR]     profile into OUTDIR (default: a fresh temporary directory)
#        scripts/demo.sh --packages   print the Debian packages the demo would install, and exit
#        scripts/demo.sh --help
set -euo pipefail

# shellcheck source=scripts/env.sh
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
# shellcheck source=scripts/apt.sh
source "$SCOPE_ROOT/scripts/apt.sh"
# shellcheck source=scripts/cmake.sh
source "$SCOPE_ROOT/scripts/cmake.sh"

log() { printf 'demo: %s\n' "$*" >&2; }

# A C compiler and make (for mpicc and the static HDF5 build), Open MPI with its mpicc, and
# python3-venv only where cmake >= 3.26 must come from PyPI (Debian 12's is 3.25).
DEMO_APT_PACKAGES=(build-essential openmpi-bin libopenmpi-dev)
cmake_ok || DEMO_APT_PACKAGES+=(python3-venv)

case "${1:-}" in
    -h | --help)
        sed -n '2,9p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
        exit 0
        ;;
    --packages)
        printf '%s\n' "${DEMO_APT_PACKAGES[@]}"
        exit 0
        ;;
    -*)
        log "unknown option $1 (see --help)"
        exit 2
        ;;
esac

start=$SECONDS
step() { printf '==> [%3ds] %s\n' "$((SECONDS - start))" "$*" >&2; }

if ! command -v cargo >/dev/null 2>&1; then
    log "cargo not found: install Rust first (https://rustup.rs):"
    log "  curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh -s -- -y && . \"\$HOME/.cargo/env\""
    exit 1
fi

step "apt packages: ${DEMO_APT_PACKAGES[*]} (those missing)"
apt_install "${DEMO_APT_PACKAGES[@]}"
ensure_cmake

step "cargo build --release (scope-run, scope-pproc, libscope_agent.so)"
cargo build --release -j "${SCOPE_JOBS:-$(nproc)}" -p scope-launcher -p scope-agent

out="${1:-$(mktemp -d "${TMPDIR:-/tmp}/scope-demo.XXXXXX")}"
mkdir -p "$out"
out="$(cd "$out" && pwd)"
step "mpicc examples/solver.c -o $out/solver"
mpicc -O2 -o "$out/solver" "$SCOPE_ROOT/examples/solver.c" -lm
# The example's regions, and every MPI call (bytes and peer): the chart's MPI view (the
# communication matrix's heat map) comes from them.
{ cat "$SCOPE_ROOT/examples/scope.toml"; printf '\n[mpi]\ncalls = true\n'; } >"$out/scope.toml"

bin="$SCOPE_ROOT/target/release"
profile="$out/profiling_data.h5"
step "scope-run -n 4 -- ./solver   (in $out; regions and MPI calls from scope.toml)"
(cd "$out" && "$bin/scope-run" -n 4 --force -- ./solver)

step "scope-pproc profiling_data.h5 --show"
"$bin/scope-pproc" "$profile" --show

step "done"
stem="${profile%.h5}"
cat <<EOF

profile:      $profile
charts:       $stem.gantt.html   (zoomable Gantt chart, MPI calls in red, communication matrix below)
              $stem.gantt.svg
open them:    xdg-open $stem.gantt.html    (or open that file in any browser)
EOF
