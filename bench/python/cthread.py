"""A Python function called from a native (non-threading) thread, 3 times, and once from main."""
import ctypes, os, sys
lib = ctypes.CDLL(sys.argv[1])
CB = ctypes.CFUNCTYPE(None, ctypes.c_int)
def work(i):
    return i * 2
cb = CB(work)
work(0)
lib.call_from_native_thread(cb)
print("work: 1 call in main + 3 from a native thread")
