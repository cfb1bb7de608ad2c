/* cthread.c: a native thread that calls back into Python (ctypes callback: PyGILState_Ensure
 * makes a thread state that Python's threading module never saw). Used by cthread.py. */
#include <pthread.h>
typedef void (*cb_t)(int);
static void *run(void *cb) { for (int i = 0; i < 3; i++) ((cb_t)cb)(i); return 0; }
int call_from_native_thread(cb_t cb) {
    pthread_t t;
    if (pthread_create(&t, 0, run, (void *)cb)) return -1;
    return pthread_join(t, 0);
}
