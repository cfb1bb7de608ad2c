/* slowmeta.h: the seccomp side of bench/finalize_nodes/slowmeta.c, shared with prog.c.
 *
 * SLOWMETA_CALLS lists the system calls that stop for the supervisor: every x86-64 call that
 * opens, creates, stats, removes or renames a file or directory by name (or stats an open
 * descriptor). The supervisor delays those whose path lies in its directory and lets the
 * others through at once; everything else (read, write, pread, pwrite, copy_file_range,
 * ftruncate, close, fsync, getdents64, MPI's traffic) never stops. */
#ifndef SLOWMETA_H
#define SLOWMETA_H

#include <errno.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <sys/syscall.h>
#include <unistd.h>

#define SLOWMETA_CALLS(X)                                                                      \
    X(open) X(openat) X(openat2) X(creat) X(stat) X(lstat) X(fstat) X(newfstatat) X(statx)      \
    X(access) X(faccessat) X(faccessat2) X(unlink) X(unlinkat) X(mkdir) X(mkdirat) X(rmdir)     \
    X(rename) X(renameat) X(renameat2)

#define SLOWMETA_COUNT_ONE(name) +1
enum { SLOWMETA_NCALLS = 0 SLOWMETA_CALLS(SLOWMETA_COUNT_ONE) };

/* Installs the filter on every thread of the calling process (TSYNC) and returns the
 * listener descriptor, or -1 with errno set. Needs CAP_SYS_ADMIN or no_new_privs. */
static inline int slowmeta_install(void)
{
#define SLOWMETA_JUMP(name) BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_##name, 0, 1),                \
                            BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_USER_NOTIF),
    struct sock_filter code[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        SLOWMETA_CALLS(SLOWMETA_JUMP)
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
#undef SLOWMETA_JUMP
    struct sock_fprog prog = {.len = sizeof code / sizeof code[0], .filter = code};
    return (int)syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER,
                        SECCOMP_FILTER_FLAG_NEW_LISTENER | SECCOMP_FILTER_FLAG_TSYNC |
                            SECCOMP_FILTER_FLAG_TSYNC_ESRCH,
                        &prog);
}

#endif
