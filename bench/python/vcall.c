/* vcall.c: does 3.11 honour a per-function vectorcall override on Python-to-Python calls?
 * vc_wrap counts, takes 2 rdtsc and calls _PyFunction_Vectorcall (found with dlsym). vcall.py
 * writes its address into one function object's `vectorcall` slot with ctypes (an experiment
 * only: the agent would set it from a hook on PyFunction_New, not from Python). */
#define _GNU_SOURCE
#include <Python.h>
#include <dlfcn.h>
#include <x86intrin.h>
unsigned long long vc_calls, vc_ticks;
static vectorcallfunc real;
PyObject *vc_wrap(PyObject *f, PyObject *const *args, size_t nargsf, PyObject *kw) {
    if (!real) real = (vectorcallfunc)dlsym(RTLD_DEFAULT, "_PyFunction_Vectorcall");
    unsigned long long t = __rdtsc();
    PyObject *r = real(f, args, nargsf, kw);
    vc_ticks += __rdtsc() - t;
    vc_calls++;
    return r;
}
