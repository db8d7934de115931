/* SPDX-License-Identifier: GPL-2.0-or-later */
/* tests/unit/test-sandbox.c — the seccomp allow-list: what still works, what fails with ENOSYS. */
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/mman.h>
#include <unistd.h>

#include "daemon/sandbox.h"
#include "util/error.h"

/* A thread started before the filter: TSYNC must cover it too. */
typedef struct {
    int go[2];
    long personality_ret;
    int personality_errno;
} ThreadProbe;

static gpointer probe_thread(gpointer data)
{
    ThreadProbe *p = data;
    char c;

    g_assert_cmpint(read(p->go[0], &c, 1), ==, 1);
    errno = 0;
    p->personality_ret = syscall(SYS_personality, 0xffffffffUL);
    p->personality_errno = errno;
    return NULL;
}

static gboolean quit_loop(gpointer data)
{
    g_main_loop_quit(data);
    return G_SOURCE_REMOVE;
}

static void sandboxed_checks(void)
{
    g_autoptr(GError) err = NULL;
    ThreadProbe probe = { 0 };
    GThread *th;
    int fds[2], sv[2], avail = -1;
    char buf[4] = { 0 };
    char *argv[] = { (char *)"/bin/true", NULL };
    void *mem;
    GMainLoop *loop;

    g_assert_cmpint(pipe(probe.go), ==, 0);
    th = g_thread_new("probe", probe_thread, &probe);

    g_assert_true(hb_sandbox_apply(&err));
    g_assert_no_error(err);

    /* Allowed: I/O, memory, sockets of the UNIX family, threads, time. */
    g_assert_cmpint(getpid(), >, 0);
    g_assert_cmpint(pipe2(fds, O_CLOEXEC), ==, 0);
    g_assert_cmpint(write(fds[1], "abc", 3), ==, 3);
    g_assert_cmpint(ioctl(fds[0], FIONREAD, &avail), ==, 0);
    g_assert_cmpint(avail, ==, 3);
    /* The inode-flags ioctl (blockdev-create's nocow) reaches the kernel: a pipe has none. */
    errno = 0;
    g_assert_cmpint(ioctl(fds[0], FS_IOC_GETFLAGS, &avail), ==, -1);
    g_assert_cmpint(errno, ==, ENOTTY);
    g_assert_cmpint(read(fds[0], buf, 3), ==, 3);
    g_assert_cmpstr(buf, ==, "abc");
    mem = mmap(NULL, 1 << 20, PROT_READ | PROT_WRITE,
               MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    g_assert_true(mem != MAP_FAILED);
    g_assert_cmpint(mlock(mem, 4096), ==, 0);
    g_assert_cmpint(munmap(mem, 1 << 20), ==, 0);
    g_assert_cmpint(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), ==, 0);
    close(sv[0]);
    close(sv[1]);
    g_free(g_malloc(10 << 20));
    g_usleep(1000);

    /* GLib's main loop (poll, eventfd wake-ups, timers) keeps working. */
    loop = g_main_loop_new(NULL, FALSE);
    g_timeout_add(5, quit_loop, loop);
    g_main_loop_run(loop);
    g_main_loop_unref(loop);

    /* Forbidden: each fails with ENOSYS and the process lives on. */
    errno = 0;
    g_assert_cmpint(syscall(SYS_personality, 0xffffffffUL), ==, -1);
    g_assert_cmpint(errno, ==, ENOSYS);
#ifdef HB_HAVE_RBD
    /* The rbd driver's librados reaches the Ceph cluster over TCP. */
    g_assert_cmpint(socket(AF_INET, SOCK_STREAM, 0), >=, 0);
    errno = 0;
    g_assert_true(socket(AF_INET6, SOCK_STREAM, 0) >= 0 || errno == EAFNOSUPPORT);
#else
    errno = 0;
    g_assert_cmpint(socket(AF_INET, SOCK_STREAM, 0), ==, -1);
    g_assert_cmpint(errno, ==, ENOSYS);
#endif
    /* Other families stay refused. */
    errno = 0;
    g_assert_cmpint(socket(AF_NETLINK, SOCK_RAW, 0), ==, -1);
    g_assert_cmpint(errno, ==, ENOSYS);
    g_assert_cmpint(socket(AF_UNIX, SOCK_STREAM, 0), >=, 0);
    errno = 0;
    g_assert_cmpint(ioctl(fds[0], TIOCSTI, "x"), ==, -1);
    g_assert_cmpint(errno, ==, ENOSYS);
    errno = 0;
    g_assert_cmpint(execv(argv[0], argv), ==, -1);
    g_assert_cmpint(errno, ==, ENOSYS);
    errno = 0;
    g_assert_cmpint(syscall(SYS_acct, NULL), ==, -1);
    g_assert_cmpint(errno, ==, ENOSYS);

    /* The thread that existed before the filter is filtered as well. */
    g_assert_cmpint(write(probe.go[1], "g", 1), ==, 1);
    g_thread_join(th);
    g_assert_cmpint(probe.personality_ret, ==, -1);
    g_assert_cmpint(probe.personality_errno, ==, ENOSYS);

    /* A second filter cannot be loaded (seccomp() is not allowed). */
    g_assert_false(hb_sandbox_apply(&err));
    g_assert_nonnull(err);
    close(fds[0]);
    close(fds[1]);
    close(probe.go[0]);
    close(probe.go[1]);
}

static void test_sandbox(void)
{
    if (g_test_subprocess()) {
        sandboxed_checks();
        return;
    }
    /* The filter is permanent: apply it in a child, never in the runner. */
    g_test_trap_subprocess(NULL, 30 * G_USEC_PER_SEC, 0);
    g_test_trap_assert_passed();
}

/* Without the filter personality works: the check above is not vacuous. */
static void test_unsandboxed_baseline(void)
{
    errno = 0;
    g_assert_cmpint(syscall(SYS_personality, 0xffffffffUL), !=, -1);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/sandbox/baseline", test_unsandboxed_baseline);
    g_test_add_func("/sandbox/apply", test_sandbox);
    return g_test_run();
}
