#!/usr/bin/env bash
# Per-rank call counts of a profile as `scope-profiler inspect` (0.7.5) prints them.
# Usage: tests/oracle/inspect07.sh FILE
# Prints JSON {"num_ranks": N, "counts": {region: {rank: calls}}}, the same shape as
# read_ref02.py. `inspect` has no machine-readable region output (--export-metadata writes only
# metadata), so this runs `inspect --regions-only --columns region calls --ranks R` once per rank
# and parses the table: one row per region, the call count last; tree rows like "└─ (own)" skipped,
# the recursion marker " ↻" after a name dropped.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
VENV="${SCOPE_ORACLE_DIR:-$HERE/../../target/oracle}/venv-0.7"
FILE="${1:?usage: inspect07.sh FILE}"
[ -f "$FILE" ] || { echo "inspect07.sh: no such file: $FILE" >&2; exit 2; }

# Rank ids as the reference tool sees them (root groups other than "metadata").
ranks="$("$VENV/bin/python" -c '
import sys, h5py
with h5py.File(sys.argv[1], "r") as f:
    print(" ".join(str(int(k[4:])) for k in f if k != "metadata"))
' "$FILE")"

export COLUMNS=400 # rich would otherwise wrap or cut long region names
tables="$(mktemp)"
trap 'rm -f "$tables"' EXIT
for r in $ranks; do
    printf '@@rank %s\n' "$r" >>"$tables"
    "$VENV/bin/scope-profiler" inspect "$FILE" --regions-only --columns region calls \
        --sort name --ranks "$r" >>"$tables"
done

"$VENV/bin/python" - "$tables" "$ranks" <<'PY_EOF'
import json, re, sys
tables, ranks = sys.argv[1], sys.argv[2].split()
counts = {}
rank = None
header_ranks = None
with open(tables, encoding="utf-8") as fh:
    lines = fh.read().splitlines()
for line in lines:
    if line.startswith("@@rank "):
        rank = line.split()[1]
        continue
    m = re.match(r"^(\d+) rank\(s\)", line.strip())
    if m:
        header_ranks = int(m.group(1))
    if "│" not in line:
        continue
    cell = line.strip().strip("│").strip()
    cell = re.sub(r"^(?:[│├└─]\s*)+", "", cell).strip()
    if not cell or cell.startswith("(own)") or cell.split()[0] == "region":
        continue
    parts = cell.rsplit(None, 1)
    if len(parts) != 2 or not parts[1].isdigit():
        continue
    # " ↻" marks a recursive region (its count pools every level): a decoration, not the name.
    name = re.sub(r"\s+\u21bb$", "", parts[0])
    counts.setdefault(name, {})[rank] = int(parts[1])
print(json.dumps({"num_ranks": header_ranks if header_ranks is not None else len(ranks),
                  "counts": counts}, sort_keys=True))
PY_EOF
