import ctypes, sys, time
lib = ctypes.CDLL(sys.argv[1])
def fib(n):
    return n if n < 2 else fib(n - 1) + fib(n - 2)
def rare(k):
    return k
def run(tag):
    t = time.perf_counter()
    for _ in range(5):
        fib(27)
    fib_s = time.perf_counter() - t
    for _ in range(100):
        rare(1)
    print(f"{tag}: 5x fib(27) {fib_s:.3f} s, wrapper saw {ctypes.c_ulonglong.in_dll(lib, 'vc_calls').value} calls")
OFF = 16 + 13 * 8   # 3.11 PyFunctionObject: head, 8 common fields, 5 more pointers, vectorcall
wrap = ctypes.cast(lib.vc_wrap, ctypes.c_void_p).value
run("plain")
ctypes.c_void_p.from_address(id(rare) + OFF).value = wrap   # only the rare function
run("rare wrapped")
ctypes.c_void_p.from_address(id(fib) + OFF).value = wrap    # every fib call, if honoured
run("fib wrapped")
list(map(rare, range(10)))   # a call from C (map) goes through the vectorcall slot
print(f"after 10 calls of rare from map(): wrapper saw {ctypes.c_ulonglong.in_dll(lib, 'vc_calls').value} calls")
