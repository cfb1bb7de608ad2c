#!/usr/bin/env bash
# The aarch64 agent's per-call hot path, counted in instructions from the built agent.
#
# On x86-64 machines the aarch64 agent runs under qemu-user, whose timings say nothing about
# Arm hardware: what can be measured here is the code itself. This disassembles the stub
# template of the built libscope_agent.so (aarch64) and counts, per hooked call, the
# instructions of the fast paths (the entry patch's branch, enter up to its `blr`, the relocated
# window's branch back, leave up to its `ret`), by kind. Run on Arm hardware,
# scripts/bench-overhead.sh measures the time (docs/aarch64.md).
#
# Usage: scripts/bench-aarch64-hotpath.sh   (builds the aarch64 agent if it is missing)
set -euo pipefail
# shellcheck source=scripts/env.sh
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$SCOPE_ROOT"

TRIPLE=aarch64-unknown-linux-gnu
SO="${CARGO_TARGET_DIR:-target}/$TRIPLE/release/libscope_agent.so"
[ -f "$SO" ] || cargo build --release --target "$TRIPLE" -p scope-agent
command -v aarch64-linux-gnu-objdump >/dev/null || { echo "needs binutils-aarch64-linux-gnu (scripts/setup.sh)" >&2; exit 1; }

addr() { aarch64-linux-gnu-nm "$SO" | awk -v s="$1" '$3 == s { print "0x" $1 }'; }

# disasm FROM TO: the instructions in [FROM, TO), one mnemonic and operands per line.
disasm() {
    aarch64-linux-gnu-objdump -d --no-show-raw-insn --start-address="$1" --stop-address="$2" "$SO" |
        awk -F'\t' '/^ *[0-9a-f]+:\t/ { print $2 "\t" $3 }'
}

# upto FROM MNEMONIC: the path from FROM to the first MNEMONIC, inclusive.
upto() {
    disasm "$1" "$(addr scope_a64_stub_lits)" | awk -v m="$2" '{ print } $1 == m { exit }'
}

count() { # count LABEL: prints totals by kind from stdin
    awk -v label="$1" '{
        n++
        if ($1 ~ /^(ldr|ldp|ldxr|ldar)/) loads++
        else if ($1 ~ /^(str|stp|stxr|stlr)/) stores++
        else if ($1 ~ /^(mrs|msr)/) sysreg++
        else if ($1 ~ /^(b|bl|blr|br|ret|cbz|cbnz|tbz|tbnz)$/ || $1 ~ /^b\./) branches++
        else alu++
    } END { printf "%-34s %3d instructions: %2d loads, %2d stores, %d system-register reads, %d branches, %d other\n", label, n, loads, stores, sysreg, branches, alu }'
}

echo "CPU of this machine (not the one that matters here): $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')"
echo "agent: $SO"
enter=$(upto "$(addr scope_a64_stub_enter)" blr)
leave=$(upto "$(addr scope_a64_stub_leave)" ret)
args=$(disasm "$(addr scope_a64_stub)" "$(addr scope_a64_stub_enter)")
printf '%s\n' "$enter" | count "enter (stub entry to blr)"
printf '%s\n' "$leave" | count "leave (return to ret)"
printf '%s\n' "$args" | count "args prefix (MPI hooks, + slow path)"
total=$(( $(printf '%s\n' "$enter" | wc -l) + $(printf '%s\n' "$leave" | wc -l) + 2 ))
echo "per recorded call: $total instructions (enter + leave + the entry patch's b + the window's b back), 2 reads of cntvct_el0, 1 ldxr/stxr pair"
if [ "${VERBOSE:-0}" = 1 ]; then
    printf '\n-- enter --\n%s\n-- leave --\n%s\n' "$enter" "$leave"
fi
