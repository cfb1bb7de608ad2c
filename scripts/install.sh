#!/usr/bin/env bash
# Install scope: PREFIX/bin/scope-run, PREFIX/bin/scope-pproc and PREFIX/lib/scope/libscope_agent.so
# (where scope-run looks for the agent when it is not beside it and SCOPE_AGENT is unset).
#
# Usage: scripts/install.sh [--prefix DIR] [--no-build]
#   --prefix DIR   where to install (default: $PREFIX, else ~/.local)
#   --no-build     install what target/release holds; do not run cargo (it must be built)
#
# The agent installed is the one built for this machine (x86-64 here, aarch64 on an Arm machine);
# an agent for another architecture is used through SCOPE_AGENT (docs/aarch64.md).
set -euo pipefail

# shellcheck source=scripts/env.sh
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"

log() { printf 'install: %s\n' "$*" >&2; }
usage() { sed -n '2,10p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; }

prefix="${PREFIX:-$HOME/.local}"
build=1
while [ "$#" -gt 0 ]; do
    case "$1" in
        --prefix)
            [ "$#" -ge 2 ] || { log "--prefix needs a directory"; exit 2; }
            prefix="$2"
            shift 2
            ;;
        --prefix=*)
            prefix="${1#--prefix=}"
            shift
            ;;
        --no-build)
            build=0
            shift
            ;;
        -h | --help)
            usage
            exit 0
            ;;
        *)
            log "unknown argument $1"
            usage >&2
            exit 2
            ;;
    esac
done
[ -n "$prefix" ] || { log "--prefix needs a directory"; exit 2; }
mkdir -p "$prefix"
prefix="$(cd "$prefix" && pwd)"

target="${CARGO_TARGET_DIR:-target}"
case "$target" in /*) ;; *) target="$SCOPE_ROOT/$target" ;; esac
rel="$target/release"
if [ "$build" -eq 1 ]; then
    # cmake >= 3.26 for the static HDF5 (a no-op when it is there or the build is up to date).
    # shellcheck source=scripts/cmake.sh
    source "$SCOPE_ROOT/scripts/cmake.sh"
    ensure_cmake
    log "cargo build --release -p scope-launcher -p scope-agent"
    (cd "$SCOPE_ROOT" && cargo build --release -p scope-launcher -p scope-agent)
fi
for f in scope-run scope-pproc libscope_agent.so; do
    [ -f "$rel/$f" ] || { log "$rel/$f is missing: build it (cargo build --release) or drop --no-build"; exit 1; }
done

install -d "$prefix/bin" "$prefix/lib/scope"
install -m 0755 "$rel/scope-run" "$rel/scope-pproc" "$prefix/bin/"
install -m 0755 "$rel/libscope_agent.so" "$prefix/lib/scope/"
printf '%s\n' "$prefix/bin/scope-run" "$prefix/bin/scope-pproc" "$prefix/lib/scope/libscope_agent.so"

case ":$PATH:" in
    *":$prefix/bin:"*) ;;
    *) log "$prefix/bin is not on PATH: export PATH=\"$prefix/bin:\$PATH\"" ;;
esac
