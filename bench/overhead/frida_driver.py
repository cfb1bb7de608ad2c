#!/usr/bin/env python3
"""Runs the overhead fixture under Frida's native Interceptor with a CModule listener.

Usage: frida_driver.py FIXTURE THREADS CALLS_PER_THREAD

Spawns FIXTURE suspended, attaches `Interceptor.attach(work, cm)` where `cm` is a CModule
(C compiled in-process by Frida's bundled TinyCC) exporting `onEnter`/`onLeave`:
  - onEnter reads rdtsc into the invocation's private data (GUM_IC_GET_INVOCATION_DATA);
  - onLeave reads rdtsc again and appends {t_enter, t_exit, region} (24 bytes, the same event
    scope keeps) to a per-thread buffer of 16384 events (allocated with g_malloc0 on the
    thread's first call; the pointer lives in GUM_IC_GET_THREAD_DATA), wrapping around when
    full: unlike scope, nothing is converted or written to disk, so Frida does strictly less
    recording work. It also increments the thread's call counter, which lives in its own cache
    line of a global array (slot taken with one atomic add on the thread's first call; the
    array is allocated by the JS side: an atomic add on a global defined in the CModule itself
    (`int nslots;`) died with SIGSEGV, a write fault, with Frida 17.26.0).
  - a plain JS listener on `bench_done` (called once after the threads joined) reads the
    counters and sends them here before the process exits, so the driver can check that every
    call was seen.
Resumes the process, forwards the fixture's stdout line, and prints one JSON line of its own:
{"frida_version": ..., "events": total, "per_thread": [...]}.
"""
import json
import sys
import threading

import frida

CMODULE = r"""
#include <gum/guminterceptor.h>

#define BUF_EVENTS 16384
#define MAX_SLOTS 256

typedef struct { guint64 t_enter, t_exit, region; } Event;
typedef struct { Event *buf; guint64 len; guint64 slot; } ThreadState;
typedef struct { guint64 t_enter; } InvState;
typedef struct { guint64 total; guint64 pad[7]; } Slot;

/* Both live in memory the JS side allocates (Memory.alloc) and passes in as symbols: with
 * `int nslots;` defined here instead, the atomic add on it died with SIGSEGV (write fault). */
extern Slot slots[MAX_SLOTS];
extern int nslots;

static inline guint64 tsc(void)
{
  guint32 lo, hi;
  __asm__ __volatile__ ("rdtsc" : "=a" (lo), "=d" (hi));
  return ((guint64) hi << 32) | lo;
}

void onEnter(GumInvocationContext *ic)
{
  InvState *inv = GUM_IC_GET_INVOCATION_DATA (ic, InvState);
  inv->t_enter = tsc ();
}

void onLeave(GumInvocationContext *ic)
{
  guint64 t_exit = tsc ();
  InvState *inv = GUM_IC_GET_INVOCATION_DATA (ic, InvState);
  ThreadState *ts = GUM_IC_GET_THREAD_DATA (ic, ThreadState);
  if (ts->buf == NULL) {
    ts->buf = g_malloc0 (sizeof (Event) * BUF_EVENTS);
    ts->slot = (guint64) g_atomic_int_add (&nslots, 1);
    if (ts->slot >= MAX_SLOTS)
      ts->slot = MAX_SLOTS - 1;
  }
  Event *e = &ts->buf[ts->len];
  e->t_enter = inv->t_enter;
  e->t_exit = t_exit;
  e->region = 0;
  ts->len++;
  slots[ts->slot].total++;
  if (ts->len == BUF_EVENTS)
    ts->len = 0;
}
"""

JS = r"""
const slots = Memory.alloc(256 * 64);
const nslots = Memory.alloc(64);
for (let i = 0; i < 256 * 64; i += 8) slots.add(i).writeU64(0);
nslots.writeS32(0);
const cm = new CModule(%s, { slots, nslots });
const main = Process.mainModule;
const work = main.findSymbolByName('work') ?? main.getExportByName('work');
const done = main.findSymbolByName('bench_done') ?? main.getExportByName('bench_done');
Interceptor.attach(work, cm);
Interceptor.attach(done, {
  onEnter() {
    const n = Math.min(nslots.readS32(), 256);
    const per = [];
    for (let i = 0; i < n; i++)
      per.push(slots.add(i * 64).readU64().toString());
    send({ per_thread: per });
    recv('ack', () => {}).wait();
  }
});
send({ ready: true });
""" % json.dumps(CMODULE)


def main():
    if len(sys.argv) != 4:
        sys.stderr.write(__doc__)
        return 2
    fixture, threads, calls = sys.argv[1:]
    device = frida.get_local_device()
    out = []
    finished = threading.Event()
    result = {}
    errors = []

    def on_output(pid, fd, data):
        if fd == 1 and data:
            out.append(data.decode())
        elif data:
            sys.stderr.write(data.decode())

    device.on("output", on_output)
    pid = device.spawn([fixture, threads, calls], stdio="pipe")
    session = device.attach(pid)
    detach = {}

    def on_detached(reason, crash):
        detach["reason"] = reason
        detach["crash"] = crash
        finished.set()

    session.on("detached", on_detached)
    script = session.create_script(JS)

    def on_message(msg, data):
        if msg["type"] == "error":
            errors.append(msg.get("stack") or msg.get("description"))
            return
        payload = msg["payload"]
        if "per_thread" in payload:
            result["per_thread"] = [int(x) for x in payload["per_thread"]]
            script.post({"type": "ack"})

    def kill():
        try:
            device.kill(pid)
        except frida.ProcessNotFoundError:
            pass

    script.on("message", on_message)
    try:
        script.load()
    except Exception:
        kill()
        raise
    if errors:
        kill()
        sys.stderr.write("frida_driver: script error: %s\n" % errors)
        return 1
    device.resume(pid)
    if not finished.wait(timeout=600):
        kill()
        sys.stderr.write("frida_driver: timed out\n")
        return 1
    if errors:
        sys.stderr.write("frida_driver: script error: %s\n" % errors)
        return 1
    if detach.get("reason") != "process-terminated" or detach.get("crash") is not None:
        sys.stderr.write("frida_driver: session ended: %r %r\n" % (detach.get("reason"), detach.get("crash")))
    sys.stdout.write("".join(out))
    per = result.get("per_thread", [])
    print(json.dumps({"frida_version": frida.__version__, "events": sum(per), "per_thread": per}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
