#!/usr/bin/env python3
"""Per-rank call counts of a profile as scope-profiler 0.7.5's own reader (`read_h5`) sees them.

Usage: counts07.py FILE
Run with target/oracle/venv-0.7/bin/python (or venv-0.7-mpi4py). Prints JSON
{"num_ranks": N, "counts": {region: {rank: calls}}}, the shape of read_ref02.py. Unlike
inspect07.sh (which reads rank groups, the layout scope writes), this reads both layouts: the
`rank<N>/regions/...` groups and 0.7.5's own columnar file (`events`, `region_table`, ...), so
it is how the tests read what scope-profiler 0.7.5 itself wrote.
"""
import json
import sys

from scope_profiler.h5reader import read_h5


def main() -> int:
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    results = read_h5(sys.argv[1])
    counts = {}
    for name in results.region_names:
        region = results.get_region(name)
        counts[name] = {str(rank): int(r.num_calls) for rank, r in region.regions.items()}
    print(json.dumps({"num_ranks": int(results.num_ranks), "counts": counts}, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
