"""The floor of scope's way on Python 3.12+, without scope: sys.monitoring with PY_START enabled
for every function and a callback that answers DISABLE at once (so each function's start is
reported once, then runs uninstrumented), which is what scope does for functions that are not
regions. Runs the script given as argument as __main__ under it.

usage: monitoring_floor.py SCRIPT [ARGS...]   (Python 3.12+)"""
import runpy
import sys

TOOL = 5  # a free tool id (0-5 are for tools; scope's agent takes its own)
m = sys.monitoring
m.use_tool_id(TOOL, "scope-bench-floor")
m.register_callback(TOOL, m.events.PY_START, lambda code, offset: m.DISABLE)
m.set_events(TOOL, m.events.PY_START)
sys.argv = sys.argv[1:]
runpy.run_path(sys.argv[0], run_name="__main__")
