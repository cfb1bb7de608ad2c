/* pyhook.c: LD_PRELOAD prototype for issue 14 (Python functions as regions on 3.11).
 *
 * Not the agent: a measurement vehicle. Every Python C-API function it calls is found at run time
 * with dlsym(RTLD_DEFAULT) (the .so is not linked against libpython; the 3.11 headers are used for
 * types and struct layouts only).
 *
 *   PYHOOK_MODE    = profile | pep523 | off        (unset: off; nothing installed)
 *                    profile-noop: PyEval_SetProfile with a callback that returns at once
 *                    pep523-passthru: a frame-eval hook that only calls _PyEval_EvalFrameDefault
 *   PYHOOK_REGION  = qualname or module.qualname    (one region; e.g. "rare", "__main__.fib")
 *   PYHOOK_LOG     = 1: print every hook event seen for the region (generators, exceptions)
 *   PYHOOK_VERBOSE = 1: say when and from which audit event the hook was installed; 2: also list
 *                    the audit events up to the script start (cpython.run_*)
 *
 * Install: an audit hook (PySys_AddAuditHook, legal before Py_Initialize) registered by the
 * constructor; the first audit event raised once Py_IsInitialized() is true installs the Python
 * hook, before the script's first line runs.
 * Threads (profile mode): the profile callback watches C_RETURN of _thread.start_new_thread and
 * gives every thread state that lacks it the callback (_PyEval_SetProfile(tstate, ...)).
 * Recording: two rdtsc per region call into a thread-local array; counts printed from Py_AtExit.
 */
#define _GNU_SOURCE
#include <Python.h>
#include <frameobject.h>
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <x86intrin.h>

/* 3.11's _PyInterpreterFrame, first fields (Include/internal/pycore_frame.h) */
typedef struct IFrame311 {
    PyObject *f_func, *f_globals, *f_builtins, *f_locals;
    PyCodeObject *f_code;
} IFrame311;
typedef PyObject *(*EvalFn)(PyThreadState *, IFrame311 *, int);

/* ---- the C API, found at run time ---- */
#define API(ret, name, args) static ret(*p_##name) args;
API(int, PySys_AddAuditHook, (Py_AuditHookFunction, void *))
API(int, Py_IsInitialized, (void))
API(int, Py_AtExit, (void (*)(void)))
API(void, PyEval_SetProfile, (Py_tracefunc, PyObject *))
API(int, _PyEval_SetProfile, (PyThreadState *, Py_tracefunc, PyObject *))
API(PyThreadState *, _PyThreadState_UncheckedGet, (void))
API(PyInterpreterState *, PyInterpreterState_Get, (void))
API(PyThreadState *, PyInterpreterState_ThreadHead, (PyInterpreterState *))
API(PyThreadState *, PyThreadState_Next, (PyThreadState *))
API(void, _PyInterpreterState_SetEvalFrameFunc, (PyInterpreterState *, EvalFn))
API(PyObject *, _PyEval_EvalFrameDefault, (PyThreadState *, IFrame311 *, int))
API(Py_ssize_t, _PyEval_RequestCodeExtraIndex, (freefunc))
API(int, _PyCode_GetExtra, (PyObject *, Py_ssize_t, void **))
API(int, _PyCode_SetExtra, (PyObject *, Py_ssize_t, void *))
API(PyCodeObject *, PyFrame_GetCode, (PyFrameObject *))
API(PyObject *, PyFrame_GetGlobals, (PyFrameObject *))
API(PyObject *, PyObject_GetAttrString, (PyObject *, const char *))
API(const char *, PyUnicode_AsUTF8, (PyObject *))
API(PyObject *, PyDict_GetItemString, (PyObject *, const char *))
API(PyObject *, PyImport_ImportModule, (const char *))
API(void, Py_DecRef, (PyObject *))
API(void, PyErr_Clear, (void))
static const unsigned long *p_Py_Version;

static int resolve(void) {
#define R(name) if (!(*(void **)&p_##name = dlsym(RTLD_DEFAULT, #name))) return 0;
    R(PySys_AddAuditHook) R(Py_IsInitialized) R(Py_AtExit) R(PyEval_SetProfile) R(_PyEval_SetProfile)
    R(_PyThreadState_UncheckedGet) R(PyInterpreterState_Get) R(PyInterpreterState_ThreadHead)
    R(PyThreadState_Next) R(_PyInterpreterState_SetEvalFrameFunc) R(_PyEval_EvalFrameDefault)
    R(_PyEval_RequestCodeExtraIndex) R(_PyCode_GetExtra) R(_PyCode_SetExtra) R(PyFrame_GetCode)
    R(PyFrame_GetGlobals) R(PyObject_GetAttrString) R(PyUnicode_AsUTF8) R(PyDict_GetItemString)
    R(PyImport_ImportModule) R(Py_DecRef) R(PyErr_Clear)
    p_Py_Version = dlsym(RTLD_DEFAULT, "Py_Version"); /* 3.11+: PY_VERSION_HEX as data */
    return 1;
}

/* ---- state ---- */
static int mode; /* 0 off, 1 profile, 2 pep523 */
static const char *region;
static int logev, verbose, installed;
static Py_ssize_t xidx = -1;
static PyObject *start_new_thread;  /* the _thread.start_new_thread builtin, compared by pointer */
#define NOT_REGION ((void *)1)
#define IS_REGION ((void *)2)

typedef struct { unsigned long long t; int kind; } Ev; /* kind: 1 enter, 2 leave, 3 leave by exception */
#define NEV (1 << 16)
static __thread Ev evbuf[NEV];
static __thread unsigned long nev;
static __thread unsigned long long *cnt; /* enters, leaves, leaves by exception: per thread, on the
                                           heap so that they outlive the thread */
static unsigned long long *cnt_of[256];        /* registry of the threads' counters, read at exit */
static int ncnt;
static unsigned long long nthreads_covered;
static char region_seen[512]; /* agent-owned copy of the matched name: readable after finalize */

static inline void rec(int kind) {
    if (__builtin_expect(nev == 0, 0)) { /* first event of this thread: register its counters */
        cnt = calloc(3, sizeof *cnt);
        int i = __atomic_fetch_add(&ncnt, 1, __ATOMIC_RELAXED);
        if (i < 256) cnt_of[i] = cnt;
    }
    Ev *e = &evbuf[nev++ & (NEV - 1)];
    e->t = __rdtsc();
    e->kind = kind;
    cnt[kind - 1]++;
}

/* The region decision, once per code object, cached in co_extra. */
static int decide(PyCodeObject *co, PyObject *globals) {
    void *x = NULL;
    p__PyCode_GetExtra((PyObject *)co, xidx, &x);
    if (x) return x == IS_REGION;
    int yes = 0;
    PyObject *q = p_PyObject_GetAttrString((PyObject *)co, "co_qualname");
    const char *qs = q ? p_PyUnicode_AsUTF8(q) : NULL;
    if (qs) {
        PyObject *m = globals ? p_PyDict_GetItemString(globals, "__name__") : NULL; /* borrowed */
        const char *ms = m ? p_PyUnicode_AsUTF8(m) : NULL;
        char full[512];
        snprintf(full, sizeof full, "%s.%s", ms ? ms : "?", qs);
        yes = !strcmp(region, qs) || !strcmp(region, full);
        if (yes && !region_seen[0]) snprintf(region_seen, sizeof region_seen, "%s", full);
    }
    if (q) p_Py_DecRef(q);
    if (!qs) p_PyErr_Clear();
    p__PyCode_SetExtra((PyObject *)co, xidx, yes ? IS_REGION : NOT_REGION);
    return yes;
}

/* ---- profile hook ---- */
static int prof_cb(PyObject *obj, PyFrameObject *f, int what, PyObject *arg);
static void cover_threads(void) {
    for (PyThreadState *t = p_PyInterpreterState_ThreadHead(p_PyInterpreterState_Get()); t;
         t = p_PyThreadState_Next(t))
        if (t->c_profilefunc != prof_cb && !p__PyEval_SetProfile(t, prof_cb, NULL))
            __atomic_fetch_add(&nthreads_covered, 1, __ATOMIC_RELAXED);
}
static const char *what_s[] = {"CALL", "EXCEPTION", "LINE", "RETURN", "C_CALL", "C_EXCEPTION",
                               "C_RETURN", "OPCODE"};
static int prof_cb(PyObject *obj, PyFrameObject *f, int what, PyObject *arg) {
    (void)obj;
    if (what == PyTrace_CALL || what == PyTrace_RETURN) {
        /* PyFrame_GetCode returns a new reference; the frame keeps one, so drop ours by hand */
        PyCodeObject *co = p_PyFrame_GetCode(f);
        Py_SET_REFCNT(co, Py_REFCNT(co) - 1);
        void *x = NULL;
        p__PyCode_GetExtra((PyObject *)co, xidx, &x);
        int yes;
        if (x) yes = x == IS_REGION;
        else {
            PyObject *g = p_PyFrame_GetGlobals(f);
            Py_SET_REFCNT(g, Py_REFCNT(g) - 1);
            yes = decide(co, g);
        }
        if (yes) {
            rec(what == PyTrace_CALL ? 1 : arg ? 2 : 3);
            if (logev) fprintf(stderr, "[profile] %s arg=%s\n", what_s[what], arg ? "value" : "NULL");
        }
    } else if (what == PyTrace_C_RETURN || what == PyTrace_C_EXCEPTION) {
        if (arg == start_new_thread) cover_threads();
    }
    return 0;
}

static int noop_cb(PyObject *obj, PyFrameObject *f, int what, PyObject *arg) {
    (void)obj; (void)f; (void)what; (void)arg;
    return 0;
}

/* ---- PEP 523 hook ---- */
static PyObject *passthru_hook(PyThreadState *ts, IFrame311 *fr, int throwflag) {
    return p__PyEval_EvalFrameDefault(ts, fr, throwflag);
}
static PyObject *eval_hook(PyThreadState *ts, IFrame311 *fr, int throwflag) {
    void *x = NULL;
    p__PyCode_GetExtra((PyObject *)fr->f_code, xidx, &x);
    int yes = x ? x == IS_REGION : decide(fr->f_code, fr->f_globals);
    if (!yes) return p__PyEval_EvalFrameDefault(ts, fr, throwflag);
    rec(1);
    if (logev) fprintf(stderr, "[pep523] enter throwflag=%d\n", throwflag);
    PyObject *r = p__PyEval_EvalFrameDefault(ts, fr, throwflag);
    rec(r ? 2 : 3);
    if (logev) fprintf(stderr, "[pep523] exit result=%s\n", r ? "value" : "NULL");
    return r;
}

/* ---- after finalize: nothing here may touch Python ---- */
static void at_exit(void) {
    unsigned long long total_enters = 0, total_leaves = 0, total_exc = 0;
    for (int i = 0; i < ncnt && i < 256; i++)
        total_enters += cnt_of[i][0], total_leaves += cnt_of[i][1], total_exc += cnt_of[i][2];
    fprintf(stderr,
            "pyhook: Py_AtExit: Py_IsInitialized()=%d tstate=%p | region '%s' (%s): %llu enters, "
            "%llu leaves, %llu leaves by exception; threads given the profile hook: %llu\n",
            p_Py_IsInitialized(), (void *)p__PyThreadState_UncheckedGet(), region,
            region_seen[0] ? region_seen : "never matched", total_enters, total_leaves, total_exc,
            nthreads_covered);
}

static const char *m_names[] = {"off", "profile", "pep523", "profile-noop", "pep523-passthru"};
static void install(const char *event) {
    installed = 1;
    xidx = p__PyEval_RequestCodeExtraIndex(NULL);
    if (mode == 1) {
        PyObject *m = p_PyImport_ImportModule("_thread");
        if (m) { start_new_thread = p_PyObject_GetAttrString(m, "start_new_thread"); p_Py_DecRef(m); }
        else p_PyErr_Clear();
        p_PyEval_SetProfile(prof_cb, NULL);
        cover_threads();
    } else if (mode == 2) {
        p__PyInterpreterState_SetEvalFrameFunc(p_PyInterpreterState_Get(), eval_hook);
    } else if (mode == 3) {
        p_PyEval_SetProfile(noop_cb, NULL);
    } else if (mode == 4) {
        p__PyInterpreterState_SetEvalFrameFunc(p_PyInterpreterState_Get(), passthru_hook);
    }
    p_Py_AtExit(at_exit);
    if (verbose)
        fprintf(stderr, "pyhook: Python %lx, installed %s hook at audit event '%s'\n",
                p_Py_Version ? *p_Py_Version : 0, m_names[mode], event);
}

static int audit(const char *event, PyObject *args, void *ud) {
    (void)args; (void)ud;
    static int seen_run;
    if (verbose > 1 && !seen_run) { /* the events up to the script's start */
        fprintf(stderr, "pyhook: audit '%s' initialized=%d\n", event, p_Py_IsInitialized());
        seen_run = !strncmp(event, "cpython.run_", 12);
    }
    if (!installed && p_Py_IsInitialized() && p__PyThreadState_UncheckedGet()) install(event);
    return 0;
}

__attribute__((constructor)) static void ctor(void) {
    const char *m = getenv("PYHOOK_MODE");
    mode = 0;
    for (int i = 1; m && i < 5; i++)
        if (!strcmp(m, m_names[i])) mode = i;
    region = getenv("PYHOOK_REGION") ? getenv("PYHOOK_REGION") : "rare";
    logev = !!getenv("PYHOOK_LOG");
    verbose = getenv("PYHOOK_VERBOSE") ? atoi(getenv("PYHOOK_VERBOSE")) : 0;
    if (!mode) return;
    if (!resolve()) { if (verbose) fprintf(stderr, "pyhook: not a Python 3.11+ process\n"); return; }
    if (verbose)
        fprintf(stderr, "pyhook: ctor: Py_Version=%lx Py_IsInitialized()=%d\n",
                p_Py_Version ? *p_Py_Version : 0, p_Py_IsInitialized());
    p_PySys_AddAuditHook(audit, NULL); /* documented as safe before Py_Initialize */
}
