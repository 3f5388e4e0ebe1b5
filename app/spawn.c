/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * spawn.c - starting child processes, and installing a role's signals.
 *
 * Every process batchup starts goes through spawn_child: the workers
 * (pool.c), the maintenance pass and the hooks child (supervisor.c), and
 * each hook command (hooks.c).  The parent blocks every signal around the
 * fork, so no signal reaches the child while it still has its parent's
 * handlers (the master's would write into the master's self-pipe).  The
 * child then
 *
 *   - sets every disposition that runs a handler back to the default (a
 *     handler of its parent's role must never run in it), then installs
 *     its own role's table, which also sets its mask;
 *   - closes the descriptors its parent registered with spawn_keep_out
 *     (the master's self-pipe; the listening socket, unless it serves);
 *   - asks for its role's signal when its parent dies, and leaves at once
 *     when the parent died before that;
 *   - runs its procedure and _exits with the status it returned.
 *
 * So a child never returns into the call stack it was forked from, and the
 * exit status of each role is the one its procedure chose.  _exit runs no
 * exit handler of the parent's libraries; the child's own standard output
 * is flushed, and under AddressSanitizer the leak check runs first.
 *
 * Each role's table lives beside its handlers (supervisor.c, worker.c,
 * hooks.c, main.c); this file is the only one that sets a disposition or
 * the signal mask.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

/* AddressSanitizer: gcc says so with __SANITIZE_ADDRESS__, clang with
 * __has_feature. */
#if defined(__SANITIZE_ADDRESS__)
#define SPAWN_LEAK_CHECK 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SPAWN_LEAK_CHECK 1
#endif
#endif
#ifdef SPAWN_LEAK_CHECK
#include <sanitizer/lsan_interface.h>
#endif

#include "batchup/log.h"
#include "batchup/spawn.h"

/* The descriptors registered with spawn_keep_out. */
#define SPAWN_KEEP_OUT_MAX 8

static struct {
    int fd;
    bool serving_keeps;
} keep_out[SPAWN_KEEP_OUT_MAX];
static size_t keep_out_len;

int spawn_signals(const struct spawn_role *role)
{
    sigset_t mask;

    sigemptyset(&mask);
    for (size_t i = 0; i < role->nsignals; i++) {
        const struct spawn_signal *s = &role->signals[i];
        struct sigaction sa;

        memset(&sa, 0, sizeof sa);
        sigemptyset(&sa.sa_mask);
        sa.sa_flags = s->restart ? SA_RESTART : 0;
        sa.sa_handler = s->action == SPAWN_HANDLE   ? s->handler
                        : s->action == SPAWN_IGNORE ? SIG_IGN
                                                    : SIG_DFL;
        if (sigaction(s->sig, &sa, NULL) != 0)
            return -1;
        if (s->action == SPAWN_BLOCK)
            sigaddset(&mask, s->sig);
    }
    return sigprocmask(SIG_SETMASK, &mask, NULL);
}

void spawn_keep_out(int fd, bool serving_keeps)
{
    if (fd < 0 || keep_out_len >= SPAWN_KEEP_OUT_MAX)
        return;
    keep_out[keep_out_len].fd = fd;
    keep_out[keep_out_len].serving_keeps = serving_keeps;
    keep_out_len++;
}

/* In the child: no handler of the parent's role stays installed. */
static void reset_handlers(void)
{
    for (int sig = 1; sig < NSIG; sig++) {
        struct sigaction old;
        if (sig == SIGKILL || sig == SIGSTOP || sigaction(sig, NULL, &old) != 0)
            continue;
        if (old.sa_handler != SIG_DFL && old.sa_handler != SIG_IGN)
            signal(sig, SIG_DFL);
    }
}

/* In the child: close what the parent registered (a standard descriptor
 * becomes /dev/null, so nothing else takes its number), then forget the
 * list: the numbers may be reused in this process. */
static void close_kept_out(const struct spawn_role *role)
{
    for (size_t i = 0; i < keep_out_len; i++) {
        int fd = keep_out[i].fd, null_fd;
        if (role->serves && keep_out[i].serving_keeps)
            continue;
        if (fd > 2) {
            close(fd);
        } else if ((null_fd = open("/dev/null", O_RDWR | O_CLOEXEC)) >= 0) {
            dup2(null_fd, fd);
            close(null_fd);
        }
    }
    keep_out_len = 0;
}

/* The child's side of spawn_child; never returns. */
static void child_life(const struct spawn_role *role, pid_t parent, int (*proc)(void *), void *data)
{
    int status;

    reset_handlers();
    close_kept_out(role);
    if (role->parent_death_sig != 0) {
        prctl(PR_SET_PDEATHSIG, role->parent_death_sig);
        if (getppid() != parent) {
            log_warn("%s started after its parent left; leaving", role->name);
            _exit(0);
        }
    }
    if (spawn_signals(role) != 0) {
        log_error("%s cannot set up its signals: %s", role->name, strerror(errno));
        _exit(1);
    }
    status = proc(data);
    fflush(stdout);
    fflush(stderr);
#ifdef SPAWN_LEAK_CHECK
    __lsan_do_leak_check();
#endif
    _exit(status & 0xff);
}

pid_t spawn_child(const struct spawn_role *role, int (*proc)(void *), void *data)
{
    sigset_t all, old;
    pid_t parent = getpid(), pid;
    int saved;

    sigfillset(&all);
    sigprocmask(SIG_SETMASK, &all, &old);
    pid = fork();
    if (pid == 0)
        child_life(role, parent, proc, data);
    saved = errno;
    sigprocmask(SIG_SETMASK, &old, NULL);
    errno = saved;
    return pid;
}
