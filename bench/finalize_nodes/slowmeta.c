/* slowmeta: a parallel filesystem's metadata latency, imitated for one process.
 *
 *   slowmeta DIR DELAY_US [LOG]     (started by prog.c, fd 3 a UNIX socket to it)
 *
 * The process to slow down installs the seccomp filter of slowmeta.h on all its threads and
 * sends the listener descriptor over fd 3 (SCM_RIGHTS); slowmeta answers one byte and from then
 * on receives every call of SLOWMETA_CALLS the process makes. A call whose path (or, for a
 * call on a descriptor or with an empty path, the descriptor's path; for rename, either name)
 * is DIR or lies below it is let through DELAY_US microseconds after it was made; any other at
 * once. Paths are the caller's, made absolute against its cwd or dirfd (/proc/TID/cwd,
 * /proc/TID/fd/N), not canonicalised. Calls are held concurrently (one timer queue), so two
 * threads of the process are not serialised by slowmeta.
 *
 * LOG, if given, gets one line per call, "<µs since start> D|P <call> <held µs> <path>", then
 * "summary delayed=N passed=M held_mean_us=X held_max_us=Y". slowmeta exits when the process
 * and all its children are gone. */
#define _GNU_SOURCE
#include "slowmeta.h"

#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>

#define SLOWMETA_NAME(name) {SYS_##name, #name},
static const struct {
    long nr;
    const char *name;
} CALLS[] = {SLOWMETA_CALLS(SLOWMETA_NAME)};

static const char *call_name(long nr)
{
    for (size_t i = 0; i < sizeof CALLS / sizeof CALLS[0]; i++)
        if (CALLS[i].nr == nr) return CALLS[i].name;
    return "?";
}

static int64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* The NUL-terminated string at `addr` in task `tid`, read page by page. */
static int read_str(pid_t tid, uint64_t addr, char *out, size_t cap)
{
    size_t got = 0;
    while (got + 1 < cap) {
        uint64_t a = addr + got;
        size_t want = 4096 - (size_t)(a % 4096);
        if (want > cap - 1 - got) want = cap - 1 - got;
        struct iovec local = {out + got, want}, remote = {(void *)(uintptr_t)a, want};
        ssize_t n = process_vm_readv(tid, &local, 1, &remote, 1, 0);
        if (n <= 0) return -1;
        void *nul = memchr(out + got, 0, (size_t)n);
        if (nul) return 0;
        got += (size_t)n;
    }
    out[cap - 1] = 0;
    return 0;
}

/* Where `fd` (AT_FDCWD: the cwd) of task `tid` points. */
static int fd_path(pid_t tid, long fd, char *out, size_t cap)
{
    char link[64];
    if ((int)fd == AT_FDCWD)
        snprintf(link, sizeof link, "/proc/%d/cwd", (int)tid);
    else
        snprintf(link, sizeof link, "/proc/%d/fd/%d", (int)tid, (int)fd);
    ssize_t n = readlink(link, out, cap - 1);
    if (n < 0) return -1;
    out[n] = 0;
    return 0;
}

/* The absolute path of (dirfd, path at addr); an empty or absent path is dirfd's own. */
static int resolve(pid_t tid, long dirfd, uint64_t addr, char *out, size_t cap)
{
    char rel[PATH_MAX];
    rel[0] = 0;
    if (addr && read_str(tid, addr, rel, sizeof rel) != 0) return -1;
    if (rel[0] == '/') {
        snprintf(out, cap, "%s", rel);
        return 0;
    }
    char base[PATH_MAX];
    if (fd_path(tid, dirfd, base, sizeof base) != 0) return -1;
    size_t b = strlen(base), r = strlen(rel);
    if (b + 1 + r + 1 > cap) return -1;
    memcpy(out, base, b);
    out[b] = 0;
    if (r) {
        out[b] = '/';
        memcpy(out + b + 1, rel, r + 1);
    }
    return 0;
}

static const char *dir;
static size_t dir_len;

static int below(const char *p)
{
    return strncmp(p, dir, dir_len) == 0 && (p[dir_len] == 0 || p[dir_len] == '/');
}

/* Whether the call names a path in `dir`; `shown` gets the (first) path for the log. */
static int in_dir(const struct seccomp_notif *req, char *shown, size_t cap)
{
    const __u64 *a = req->data.args;
    pid_t tid = (pid_t)req->pid;
    char p[PATH_MAX], q[PATH_MAX];
    int r1 = -1, r2 = -1;
    long nr = req->data.nr;
    p[0] = q[0] = 0;
    if (nr == SYS_fstat) {
        r1 = fd_path(tid, (long)a[0], p, sizeof p);
    } else if (nr == SYS_rename) {
        r1 = resolve(tid, AT_FDCWD, a[0], p, sizeof p);
        r2 = resolve(tid, AT_FDCWD, a[1], q, sizeof q);
    } else if (nr == SYS_renameat || nr == SYS_renameat2) {
        r1 = resolve(tid, (long)a[0], a[1], p, sizeof p);
        r2 = resolve(tid, (long)a[2], a[3], q, sizeof q);
    } else if (nr == SYS_openat || nr == SYS_openat2 || nr == SYS_newfstatat || nr == SYS_statx ||
               nr == SYS_faccessat || nr == SYS_faccessat2 || nr == SYS_unlinkat ||
               nr == SYS_mkdirat) {
        r1 = resolve(tid, (long)a[0], a[1], p, sizeof p);
    } else {
        r1 = resolve(tid, AT_FDCWD, a[0], p, sizeof p);
    }
    snprintf(shown, cap, "%s%s%s", r1 == 0 ? p : "<unreadable>", r2 == 0 ? " -> " : "",
             r2 == 0 ? q : "");
    return (r1 == 0 && below(p)) || (r2 == 0 && below(q));
}

struct held {
    uint64_t id;
    int64_t since, due;
    long nr;
    char path[PATH_MAX + 8];
};

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: slowmeta DIR DELAY_US [LOG]  (fd 3: the socket)\n");
        return 2;
    }
    dir = argv[1];
    dir_len = strlen(dir);
    while (dir_len > 1 && dir[dir_len - 1] == '/') dir_len--;
    int64_t delay = atoll(argv[2]);
    FILE *log = argc > 3 ? fopen(argv[3], "w") : NULL;

    /* The listener, from the process to slow down. */
    char byte;
    char ctl[CMSG_SPACE(sizeof(int))];
    struct iovec iov = {&byte, 1};
    struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl,
                         .msg_controllen = sizeof ctl};
    if (recvmsg(3, &msg, 0) != 1) return 3;
    struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
    if (!c || c->cmsg_type != SCM_RIGHTS) return 3;
    int fd;
    memcpy(&fd, CMSG_DATA(c), sizeof fd);
    if (write(3, "k", 1) != 1) return 3;
    close(3);

    struct seccomp_notif_sizes sizes;
    if (syscall(SYS_seccomp, SECCOMP_GET_NOTIF_SIZES, 0, &sizes) != 0) return 4;
    struct seccomp_notif *req = calloc(1, sizes.seccomp_notif > sizeof *req ? sizes.seccomp_notif
                                                                            : sizeof *req);
    struct seccomp_notif_resp *resp =
        calloc(1, sizes.seccomp_notif_resp > sizeof *resp ? sizes.seccomp_notif_resp
                                                          : sizeof *resp);
    size_t cap = 64, n_held = 0;
    struct held *held = calloc(cap, sizeof *held);
    long delayed = 0, passed = 0;
    int64_t held_sum = 0, held_max = 0, start = now_us();
    int hung_up = 0;

    for (;;) {
        int64_t t = now_us();
        /* Answer what is due. */
        for (size_t i = 0; i < n_held;) {
            if (held[i].due > t) {
                i++;
                continue;
            }
            memset(resp, 0, sizes.seccomp_notif_resp);
            resp->id = held[i].id;
            resp->flags = SECCOMP_USER_NOTIF_FLAG_CONTINUE;
            ioctl(fd, SECCOMP_IOCTL_NOTIF_SEND, resp); /* ENOENT: the caller is gone */
            int64_t h = t - held[i].since;
            held_sum += h;
            if (h > held_max) held_max = h;
            delayed++;
            if (log)
                fprintf(log, "%lld D %s %lld %s\n", (long long)(held[i].since - start),
                        call_name(held[i].nr), (long long)h, held[i].path);
            held[i] = held[--n_held];
        }
        if (hung_up && n_held == 0) break;
        struct timespec ts, *tsp = NULL;
        if (n_held) {
            int64_t due = held[0].due;
            for (size_t i = 1; i < n_held; i++)
                if (held[i].due < due) due = held[i].due;
            int64_t wait = due - now_us();
            if (wait < 0) wait = 0;
            ts.tv_sec = wait / 1000000;
            ts.tv_nsec = (wait % 1000000) * 1000;
            tsp = &ts;
        }
        struct pollfd pfd = {fd, POLLIN, 0};
        if (hung_up) pfd.fd = -1;
        int r = ppoll(&pfd, 1, tsp, NULL);
        if (r < 0 && errno != EINTR) break;
        if (r <= 0) continue;
        if (pfd.revents & POLLIN) {
            memset(req, 0, sizes.seccomp_notif);
            if (ioctl(fd, SECCOMP_IOCTL_NOTIF_RECV, req) != 0) continue;
            char path[PATH_MAX + 8];
            int slow = in_dir(req, path, sizeof path);
            if (slow && delay > 0) {
                if (n_held == cap) {
                    cap *= 2;
                    held = realloc(held, cap * sizeof *held);
                }
                struct held *h = &held[n_held++];
                h->id = req->id;
                h->since = now_us();
                h->due = h->since + delay;
                h->nr = req->data.nr;
                memcpy(h->path, path, sizeof h->path);
                continue;
            }
            memset(resp, 0, sizes.seccomp_notif_resp);
            resp->id = req->id;
            resp->flags = SECCOMP_USER_NOTIF_FLAG_CONTINUE;
            ioctl(fd, SECCOMP_IOCTL_NOTIF_SEND, resp);
            if (slow) {
                delayed++;
            } else {
                passed++;
            }
            if (log)
                fprintf(log, "%lld %c %s 0 %s\n", (long long)(now_us() - start), slow ? 'D' : 'P',
                        call_name(req->data.nr), path);
        } else if (pfd.revents & (POLLHUP | POLLERR | POLLNVAL)) {
            hung_up = 1; /* no task is left under the filter */
        }
    }
    if (log) {
        fprintf(log, "summary delayed=%ld passed=%ld held_mean_us=%.1f held_max_us=%lld\n",
                delayed, passed, delayed ? (double)held_sum / (double)delayed : 0.0,
                (long long)held_max);
        fclose(log);
    }
    return 0;
}
