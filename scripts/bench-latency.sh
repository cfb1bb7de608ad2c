#!/usr/bin/env bash
# Small-message MPI latency, plain and under scope with `[mpi] calls = true`: NetPIPE (Debian's
# netpipe-openmpi and netpipe-mpich2) on 2 ranks, 1-8-byte messages, under Open MPI and MPICH,
# plain and scoped runs interleaved round by round. Every scoped profile is read back and must
# hold NetPIPE's MPI_Send/MPI_Recv calls. See docs/benchmarks.md ("MPI latency (NetPIPE)").
#
# Usage: scripts/bench-latency.sh [--rounds N] [--calls LIST] [--max-bytes B] [--repeats N]
#                                 [--mpi openmpi|mpich|both] [--keep]
#   --rounds N     runs of each variant per MPI, interleaved (default 10)
#   --calls LIST   also a third variant with `calls = [LIST]`, e.g. --calls MPI_Send,MPI_Recv
#   --max-bytes B  largest message, NetPIPE -u (default 8: sizes 1, 2, 3, 4, 6, 8 bytes)
#   --repeats N    round trips per trial, NetPIPE -n (default: NetPIPE calibrates, ~0.25 s)
#   --mpi M        only this MPI (default both)
#   --keep         keep the scoped runs' profiles (target/bench/latency-work/*.h5)
# Output: a table on stdout, target/bench/latency.json (every run) and target/bench/latency.md.
# 3-4 minutes with the defaults (10 rounds, 2 MPIs, 2 variants), 5 with --calls.
# Installs NetPIPE (apt) once.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source-path=SCRIPTDIR source=env.sh
source "$ROOT/scripts/env.sh"
OUT="$ROOT/target/bench"

ARGS=()
while [ $# -gt 0 ]; do
    case "$1" in
        --rounds|--calls|--max-bytes|--repeats)
            [ $# -ge 2 ] || { echo "bench-latency: $1 needs a value" >&2; exit 2; }
            ARGS+=("$1" "$2"); shift 2 ;;
        --mpi)
            case "${2:-}" in
                openmpi|mpich) ARGS+=(--mpis "$2") ;;
                both) ;;
                *) echo "bench-latency: --mpi openmpi|mpich|both" >&2; exit 2 ;;
            esac
            shift 2 ;;
        --keep) ARGS+=(--keep); shift ;;
        -h|--help) sed -n '2,17p' "$0"; exit 0 ;;
        *) echo "bench-latency: unknown argument $1" >&2; exit 2 ;;
    esac
done

log() { printf 'bench-latency: %s\n' "$*" >&2; }
# shellcheck source=scripts/apt.sh
source "$ROOT/scripts/apt.sh"

# --- tools (idempotent) -----------------------------------------------------------------------
APT=(netpipe-openmpi netpipe-mpich2 openmpi-bin mpich python3)
apt_install "${APT[@]}"
for b in /usr/bin/NPopenmpi /usr/bin/NPmpich2; do
    [ -x "$b" ] || { log "$b missing (dpkg -L netpipe-openmpi netpipe-mpich2)"; exit 1; }
done

log "cargo build --release -p scope-agent -p scope-launcher"
(cd "$ROOT" && cargo build --release -p scope-agent -p scope-launcher -j "${SCOPE_JOBS:-2}" >&2)

CPU="$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n1)"
FAM="$(sed -n 's/^cpu family[[:space:]]*: //p' /proc/cpuinfo | head -n1)"
MODEL="$(sed -n 's/^model[[:space:]]*: //p' /proc/cpuinfo | head -n1)"
HYP="$(lscpu 2>/dev/null | sed -n 's/^Hypervisor vendor:[[:space:]]*//p')"
CPU="${CPU:-$(uname -m)} (family ${FAM:-?} model ${MODEL:-?}${HYP:+, $HYP guest}), $(nproc) CPUs"
pkgver() { dpkg-query -W -f='${Version}' "$1" 2>/dev/null || echo '?'; }
log "CPU: $CPU"
log "NetPIPE $(pkgver netpipe-openmpi); Open MPI $(pkgver openmpi-bin); MPICH $(pkgver mpich)"
log "load average now: $(cut -d' ' -f1-3 /proc/loadavg)"

mkdir -p "$OUT"
python3 "$ROOT/bench/latency/run.py" --scope-run "$ROOT/target/release/scope-run" \
    --scope-pproc "$ROOT/target/release/scope-pproc" --work "$OUT/latency-work" \
    --json "$OUT/latency.json" --md "$OUT/latency.md" --cpu "$CPU" "${ARGS[@]}"
