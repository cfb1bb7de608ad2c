#!/usr/bin/env bash
# Finalize across nodes (issue 17): the agent's MPI_Finalize time and rank 0's peak memory,
# serial merge against the parallel one (node leaders), side by side in one run, at 16, 64 and
# 256 ranks over 2, 4 and 8 simulated nodes (tests/cluster/cluster.sh; ranks spread evenly),
# with 0 and 0.5 ms of injected latency on every metadata call in the output's directory
# (bench/finalize_nodes/slowmeta.c). See docs/benchmarks.md, "Finalize across nodes".
#
# Usage: scripts/bench-finalize-nodes.sh [--quick] [--reps N] [--ranks LIST] [--nodes LIST]
#                                        [--latency-us LIST] [--events E] [--mpi openmpi|mpich]
#                                        [--keep]
#   --reps        repetitions of every point, serial and parallel each time (default 3)
#   --ranks       rank counts (default 16,64,256); --nodes node counts (default 2,4,8)
#   --latency-us  injected latency per metadata call in µs, 0 = none (default 0,500)
#   --events      events per rank (default 4000: 4 regions, 1000 steps)
#   --mpi         openmpi (default) or mpich (on a cluster sharing IPC, as its tests need)
#   --quick       1 rep of 16 and 64 ranks on 2 and 4 nodes: a smoke test, not a measurement
#   --keep        keep every run's directory (logs, slowmeta logs, output) under target/bench
# Needs root (network, mount, UTS and time namespaces), strace-free: the latency comes from a
# seccomp supervisor. Prints the CPU and the tables; writes target/bench/finalize-nodes.json and
# target/bench/finalize-nodes.md. Everything it made (namespaces, veth links, processes) goes
# when it ends, also on failure or Ctrl-C. Exit status: non-zero if a run failed or an output
# was incomplete.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=scripts/env.sh
source "$ROOT/scripts/env.sh"
OUT="$ROOT/target/bench"
BIN="$OUT/finalize-nodes-bin"
WORK="$OUT/finalize-nodes-work"
CLUSTER_SH="$ROOT/tests/cluster/cluster.sh"

MPI=openmpi
ARGS=()
while [ $# -gt 0 ]; do
    case "$1" in
        --quick) ARGS+=(--reps 1 --ranks "16,64" --nodes "2,4"); shift ;;
        --mpi) MPI="${2:?--mpi needs openmpi or mpich}"; shift 2 ;;
        --reps|--ranks|--nodes|--latency-us|--events|--timeout)
            ARGS+=("$1" "${2:?$1 needs a value}"); shift 2 ;;
        --keep) ARGS+=(--keep); shift ;;
        -h|--help) sed -n '2,24p' "$0"; exit 0 ;;
        *) printf 'bench-finalize-nodes: unknown option %s\n' "$1" >&2; exit 2 ;;
    esac
done
case "$MPI" in openmpi|mpich) ;; *) echo "bench-finalize-nodes: --mpi openmpi|mpich" >&2; exit 2 ;; esac

log() { printf 'bench-finalize-nodes: %s\n' "$*" >&2; }

[ "$(id -u)" = 0 ] || { log "needs root (the simulated cluster's namespaces)"; exit 1; }

# The most nodes any point needs.
NODES=8
for ((i = 0; i < ${#ARGS[@]}; i++)); do
    if [ "${ARGS[$i]}" = --nodes ]; then
        NODES=$(tr ',' '\n' <<<"${ARGS[$((i + 1))]}" | sort -n | tail -n1)
    fi
done

CLUSTER=""
RUNNER=""
# shellcheck disable=SC2317 # reached through the traps
cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    if [ -n "$RUNNER" ] && kill -0 "$RUNNER" 2>/dev/null; then
        kill -TERM "$RUNNER" 2>/dev/null || true
        wait "$RUNNER" 2>/dev/null || true
    fi
    if [ -n "$CLUSTER" ]; then
        log "removing cluster $CLUSTER"
        "$CLUSTER_SH" down "$CLUSTER" >&2 || log "cluster $CLUSTER was not removed cleanly"
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

log "cargo build --release -p scope-agent -p scope-launcher"
(cd "$ROOT" && cargo build --release -p scope-agent -p scope-launcher -j "${SCOPE_JOBS:-2}" >&2)
mkdir -p "$BIN" "$WORK"
gcc -O2 -Wall -Wextra -o "$BIN/slowmeta" "$ROOT/bench/finalize_nodes/slowmeta.c"
PROGS=()
if [ "$MPI" = openmpi ]; then
    mpicc.openmpi -O2 -Wall -Wextra -o "$BIN/prog.openmpi" "$ROOT/bench/finalize_nodes/prog.c"
    PROGS=(--prog-openmpi "$BIN/prog.openmpi")
else
    mpicc.mpich -O2 -Wall -Wextra -o "$BIN/prog.mpich" "$ROOT/bench/finalize_nodes/prog.c"
    PROGS=(--prog-mpich "$BIN/prog.mpich")
fi

UP=("$NODES" --owner "$$")
[ "$MPI" = mpich ] && UP+=(--share-ipc)
CLUSTER="$("$CLUSTER_SH" up "${UP[@]}")"
log "cluster $CLUSTER: $NODES nodes (hostnames $CLUSTER-node1 ... $CLUSTER-node$NODES)"

log "CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'), $(nproc) CPUs;" \
    "$(grep -m1 'cpu family' /proc/cpuinfo | tr -d '\t'), $(grep -m1 '^model\s' /proc/cpuinfo | tr -d '\t')"
log "load average now: $(cut -d' ' -f1-3 /proc/loadavg); $(mpirun.openmpi --version | head -n1)"
START=$(date +%s)
SCOPE_CLUSTER="$CLUSTER" python3 "$ROOT/bench/finalize_nodes/run.py" \
    --cluster-script "$CLUSTER_SH" --cluster "$CLUSTER" --flavor "$MPI" \
    --agent "$ROOT/target/release/libscope_agent.so" --pproc "$ROOT/target/release/scope-pproc" \
    --slowmeta "$BIN/slowmeta" "${PROGS[@]}" --workdir "$WORK" \
    --json "$OUT/finalize-nodes.json" --md "$OUT/finalize-nodes.md" "${ARGS[@]}" &
RUNNER=$!
STATUS=0
wait "$RUNNER" || STATUS=$?
RUNNER=""
log "done in $(($(date +%s) - START)) s (status $STATUS)"
exit "$STATUS"
