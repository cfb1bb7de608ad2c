#!/usr/bin/env bash
# Does scope's start-up make Open MPI's start-up race under srun likelier? (docs/multi-node.md,
# "The SIGSEGV inside PMPI_Init"). Starts the test Slurm (tests/cluster/slurm.sh: 3 nodes, each
# its own hostname, /tmp, /dev/shm and clock), and inside one allocation of 6 tasks runs ROUNDS
# rounds of `srun --mpi=pmix -n 6 mpi_barriers` plain and under `scope-run`, interleaved, and
# counts the runs that failed (a crash in MPI_Init fails the run).
# Usage: scripts/repro-init-race.sh [ROUNDS]   (default 200; needs root and a built tree:
# run scripts/test.sh first). Output: one line `rounds=N plain_failed=A scope_failed=B`, the
# failures' stderr in target/race/{plain,scope}.err.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=scripts/env.sh
source "$ROOT/scripts/env.sh"
ROUNDS="${1:-200}"
[[ "$ROUNDS" =~ ^[1-9][0-9]*$ ]] || { echo "repro-init-race: ROUNDS must be a number" >&2; exit 2; }
WORK="$ROOT/target/race"
PROG="$ROOT/target/fixtures/mpi_barriers.openmpi"
mkdir -p "$WORK"
rm -f "$WORK"/*.err
printf '[[regions]]\nsymbol = "phase"\n' >"$WORK/scope.toml"
bash "$ROOT/tests/cluster/slurm.sh" up 3 >&2
trap 'bash "$ROOT/tests/cluster/slurm.sh" down >&2 || true' EXIT
eval "$(bash "$ROOT/tests/cluster/slurm.sh" env)"
cd "$WORK"
# shellcheck disable=SC2016 # expanded by the inner shell, inside the allocation
salloc -N 3 -n 6 --ntasks-per-node=2 bash -c '
    plain=0; scope=0
    for i in $(seq 1 "$1"); do
        srun --mpi=pmix -n 6 "$2" >/dev/null 2>>plain.err || { plain=$((plain + 1)); echo "run $i failed" >>plain.err; }
        "$3/target/release/scope-run" -c scope.toml -o "p.h5" -n 6 -- "$2" >/dev/null 2>>scope.err \
            || { scope=$((scope + 1)); echo "run $i failed" >>scope.err; }
        rm -f p.h5
    done
    echo "rounds=$1 plain_failed=$plain scope_failed=$scope"' bash "$ROUNDS" "$PROG" "$ROOT"
