#!/usr/bin/env python3
"""Read a profile with the reference tool's documented 0.2.x reader and print per-rank counts.

Usage: read_ref02.py FILE
Run with target/oracle/venv-0.2/bin/python (scope-profiler==0.2.6, the last 0.2.x release that
ships `ProfilingH5Reader`). Prints JSON: {"num_ranks": N, "counts": {region: {rank: calls}}}.
Uses the reader exactly as the MPI-support page shows: ProfilingH5Reader(path),
get_region(name).regions -> {rank_id: rank_region}; a rank_region's call count is `num_calls`
(the length of its start_times).
"""
import json
import sys

from scope_profiler.h5reader import ProfilingH5Reader


def main() -> int:
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    reader = ProfilingH5Reader(sys.argv[1])
    counts = {}
    for name in reader.region_names:
        region = reader.get_region(name)
        per_rank = {}
        for rank_id, rank_region in region.regions.items():
            n = int(rank_region.num_calls)
            # The documented example's statistic must work too (it divides by the call count).
            _ = rank_region.average_duration
            if n != len(rank_region.start_times) or n != len(rank_region.end_times):
                print(f"{name} rank {rank_id}: num_calls {n} != len(start/end)", file=sys.stderr)
                return 1
            per_rank[str(rank_id)] = n
        counts[name] = per_rank
    print(json.dumps({"num_ranks": reader.num_ranks, "counts": counts}, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
