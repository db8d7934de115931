/* SPDX-License-Identifier: GPL-2.0-or-later */
/* daemon/sandbox.c — the seccomp allow-list hotblockd applies once startup is done. */
#include "daemon/sandbox.h"

#include <errno.h>
#include <linux/fs.h>
#include <seccomp.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <termios.h>

#include "util/error.h"

/* gcc defines __SANITIZE_ADDRESS__; clang answers __has_feature. */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define HB_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define HB_SANITIZED 1
#endif
#endif

/*
 * Allowed without argument checks.  Names rather than __NR_ constants so
 * that a call missing on this architecture (open, poll on aarch64) is
 * simply skipped.  Each group says who needs it.
 */
static const char *const allowed[] = {
    /* data path and files: drivers, pidfile, export directory */
    "read", "write", "readv", "writev", "pread64", "pwrite64", "preadv",
    "pwritev", "preadv2", "pwritev2", "open", "openat", "close", "fstat",
    "stat", "lstat", "newfstatat", "statx", "lseek", "fcntl", "flock",
    "fsync", "fdatasync", "sync_file_range", "fallocate", "ftruncate",
    "fadvise64", "unlink", "unlinkat", "rename", "renameat", "renameat2",
    "getdents", "getdents64", "readlink", "readlinkat", "access", "faccessat",
    "faccessat2", "statfs", "fstatfs", "mkdir", "mkdirat", "fchmod",
    "fchmodat", "fchownat", "fchown",   /* socket owner for libvirt's QEMU user */ "umask", "getcwd", "dup", "dup2", "dup3", "pipe", "pipe2",
    /* memory: malloc, guest memory tables (memfd + mmap), locked keys */
    "mmap", "munmap", "mprotect", "madvise", "mremap", "brk", "memfd_create",
    "mlock", "mlock2", "munlock", "membarrier",
    /* threads: I/O threads, GLib's worker, pthread internals */
    "futex", "clone", "clone3", "set_robust_list", "get_robust_list",
    "rseq", "set_tid_address", "exit", "exit_group", "sched_yield",
    "sched_getaffinity", "sched_setaffinity", "gettid", "getpid",
    "getppid", "tgkill", "tkill", "kill",
    /* main loop and vhost-user notification */
    "poll", "ppoll", "select", "pselect6", "epoll_create", "epoll_create1",
    "epoll_ctl", "epoll_wait", "epoll_pwait", "epoll_pwait2", "eventfd",
    "eventfd2", "timerfd_create", "timerfd_settime", "timerfd_gettime",
    /*
     * io_uring: the I/O threads' rings (block/aio-ctx.c).  Their
     * operations bypass this filter, so every ring is restricted with
     * IORING_REGISTER_RESTRICTIONS to reads, writes, fsync and fallocate,
     * and all of them are set up before the sandbox (hb_aio_reserve_rings()):
     * no io_uring_setup here, so no unrestricted ring can be made later.
     * io_uring_register stays for IORING_REGISTER_ENABLE_RINGS; the
     * restrictions refuse every other register call on those rings.
     */
    "io_uring_enter", "io_uring_register",
    /* QMP and vhost-user sockets (socket() itself is restricted below) */
    "bind", "listen", "accept", "accept4", "connect", "recvmsg", "sendmsg",
    "recvfrom", "sendto", "getsockopt", "setsockopt", "shutdown",
    "getsockname", "getpeername", "socketpair",
    /* signals: SIGTERM/SIGINT handling through GLib */
    "rt_sigaction", "rt_sigprocmask", "rt_sigreturn", "rt_sigtimedwait",
    "rt_sigpending", "rt_sigqueueinfo", "rt_tgsigqueueinfo",
    "rt_sigsuspend", "sigaltstack", "restart_syscall",
    /* time, randomness, identity, misc libc */
    "clock_gettime", "clock_getres", "clock_nanosleep", "nanosleep",
    "gettimeofday", "time", "getrandom", "uname", "sysinfo", "prctl",
    "getuid", "geteuid", "getgid", "getegid", "getresuid", "getresgid",
    "getrlimit", "prlimit64", "getrusage", "times",
#ifdef HB_SANITIZED
    /* LeakSanitizer stops the world with a ptrace-ing helper thread. */
    "ptrace", "wait4", "waitid", "process_vm_readv",
#endif
};

/*
 * ioctl requests allowed (compared on the low 32 bits: the kernel takes an
 * unsigned int).  Block device geometry and discard for the file driver,
 * non-blocking/FIONREAD for sockets, TCGETS for isatty() in logging,
 * the inode flags for blockdev-create's nocow (btrfs) on the file it made.
 */
static const unsigned long allowed_ioctls[] = {
    BLKGETSIZE64, BLKSSZGET, BLKPBSZGET, BLKIOMIN, BLKIOOPT, BLKROGET,
    BLKDISCARD, BLKZEROOUT, BLKFLSBUF, FIONREAD, FIONBIO, FIOCLEX,
    FIONCLEX, TCGETS, TIOCGWINSZ, FS_IOC_GETFLAGS, FS_IOC_SETFLAGS,
};

static bool add_rules(scmp_filter_ctx ctx, GError **errp)
{
    guint i;
    int nr, rc;

    for (i = 0; i < G_N_ELEMENTS(allowed); i++) {
        nr = seccomp_syscall_resolve_name(allowed[i]);
        if (nr == __NR_SCMP_ERROR) {
            continue; /* not on this architecture */
        }
        rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 0);
        if (rc < 0) {
            hb_error_set_errno(errp, rc, "seccomp rule for %s", allowed[i]);
            return false;
        }
    }

    for (i = 0; i < G_N_ELEMENTS(allowed_ioctls); i++) {
        rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(ioctl), 1,
                              SCMP_A1(SCMP_CMP_MASKED_EQ, 0xffffffffUL,
                                      allowed_ioctls[i] & 0xffffffffUL));
        if (rc < 0) {
            hb_error_set_errno(errp, rc, "seccomp rule for ioctl %#lx",
                               allowed_ioctls[i]);
            return false;
        }
    }

    /* Only UNIX sockets: QMP and vhost-user are the daemon's only peers. */
    rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(socket), 1,
                          SCMP_A0(SCMP_CMP_EQ, AF_UNIX, 0));
    if (rc < 0) {
        hb_error_set_errno(errp, rc, "seccomp rule for socket");
        return false;
    }
#ifdef HB_HAVE_RBD
    /*
     * ...and, with the rbd driver built in, the Ceph monitors and OSDs:
     * librados opens TCP connections at blockdev-add and whenever the
     * cluster map moves an image's objects to another OSD.
     */
    static const int inet[] = { AF_INET, AF_INET6 };
    for (i = 0; i < G_N_ELEMENTS(inet); i++) {
        rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(socket), 1,
                              SCMP_A0(SCMP_CMP_EQ, inet[i], 0));
        if (rc < 0) {
            hb_error_set_errno(errp, rc, "seccomp rule for socket");
            return false;
        }
    }
#endif
    return true;
}

bool hb_sandbox_apply(GError **errp)
{
    scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ERRNO(ENOSYS));
    bool ok = false;
    int rc;

    if (!ctx) {
        hb_error_set(errp, "seccomp_init failed");
        return false;
    }
    /* Threads started before us (GLib's worker, I/O threads) too. */
    rc = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_TSYNC, 1);
    if (rc < 0) {
        hb_error_set_errno(errp, rc, "seccomp: cannot synchronise threads");
        goto out;
    }
    if (!add_rules(ctx, errp)) {
        goto out;
    }
    rc = seccomp_load(ctx);
    if (rc < 0) {
        hb_error_set_errno(errp, rc, "seccomp: cannot load the filter");
        goto out;
    }
    ok = true;
out:
    seccomp_release(ctx);
    return ok;
}
