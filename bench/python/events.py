"""What each hook sees. Run with PYHOOK_REGION set to one of: at_import, gen, coro, raiser, work."""
import asyncio, sys, threading

def at_import():            # called at import time of the script (module level, first lines)
    return 1
at_import()

def gen():                  # 3 yields, then return
    for i in range(3):
        yield i

def raiser(n):              # raises on odd n, caught by the caller
    if n % 2:
        raise ValueError(n)
    return n

async def coro():           # awaits twice
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    return 7

def work(k):
    s = 0
    for i in range(k):
        s += i
    return s

which = sys.argv[1] if len(sys.argv) > 1 else "all"
if which in ("gen", "all"):
    print("gen:", list(gen()))
if which in ("raiser", "all"):
    caught = 0
    for n in range(4):
        try:
            raiser(n)
        except ValueError:
            caught += 1
    print("raiser: caught", caught)
if which in ("coro", "all"):
    print("coro:", asyncio.run(coro()))
if which in ("work", "all"):
    ts = [threading.Thread(target=lambda: [work(1000) for _ in range(5)]) for _ in range(2)]
    for t in ts: t.start()
    for t in ts: t.join()
    work(10)
    print("work: 2 threads x 5 calls + 1 in main")
