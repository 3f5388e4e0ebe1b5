/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * test_spawn.c - spawn_child with real processes: the child exits with its
 * procedure's status and never returns into the caller; its parent's
 * handlers are gone, its role's table is installed (handled, ignored,
 * blocked); the descriptors kept out are closed (or kept by a serving
 * role); the parent's signal mask is what it was.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "batchup/spawn.h"

static void on_any(int sig)
{
    (void)sig;
}

static const struct spawn_signal role_signals[] = {
    {SIGUSR1, SPAWN_HANDLE, on_any, true},
    {SIGHUP, SPAWN_IGNORE, NULL, false},
    {SIGWINCH, SPAWN_BLOCK, NULL, false},
};

static const struct spawn_role plain_role = SPAWN_ROLE("test child", role_signals, false, 0);
static const struct spawn_role serving_role = SPAWN_ROLE("test worker", role_signals, true, 0);

/* The child's disposition of sig: 'd'efault, 'i'gnored, 'h'andled. */
static char disposition(int sig)
{
    struct sigaction sa;

    sigaction(sig, NULL, &sa);
    return sa.sa_handler == SIG_DFL ? 'd' : sa.sa_handler == SIG_IGN ? 'i' : 'h';
}

/* In the child: 0 when everything is as its role says, else the number
 * of the first check that failed. */
static int check_child(void *data)
{
    const int *fds = data;
    sigset_t mask;

    sigprocmask(SIG_SETMASK, NULL, &mask);
    if (disposition(SIGUSR2) != 'd') /* the parent's handler */
        return 10;
    if (disposition(SIGUSR1) != 'h' || disposition(SIGHUP) != 'i')
        return 11;
    if (disposition(SIGTERM) != 'i') /* ignored by the parent, not in the table */
        return 12;
    if (!sigismember(&mask, SIGWINCH) || sigismember(&mask, SIGUSR2))
        return 13;
    if (fcntl(fds[0], F_GETFD) != -1 || errno != EBADF) /* kept out */
        return 14;
    if (fcntl(fds[1], F_GETFD) == -1) /* kept by a serving role only */
        return fds[2] ? 15 : 0;
    return fds[2] ? 0 : 16;
}

static int exit_status(pid_t pid)
{
    int status;

    assert_true(pid > 0);
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    return WEXITSTATUS(status);
}

static int seven(void *data)
{
    (void)data;
    return 7;
}

static void test_status_and_no_return(void **state)
{
    pid_t me = getpid();
    pid_t pid = spawn_child(&plain_role, seven, NULL);

    (void)state;
    if (getpid() != me)
        _exit(99); /* the child came back here */
    assert_int_equal(exit_status(pid), 7);
}

static void test_role_table(void **state)
{
    int a[2], b[2], fds[3];
    sigset_t before, after, usr2;

    (void)state;
    assert_int_equal(pipe(a), 0);
    assert_int_equal(pipe(b), 0);
    signal(SIGUSR2, on_any);
    signal(SIGTERM, SIG_IGN);
    sigemptyset(&usr2);
    sigaddset(&usr2, SIGUSR2);
    sigprocmask(SIG_BLOCK, &usr2, &before);
    sigprocmask(SIG_SETMASK, NULL, &before);
    fds[0] = a[0];
    fds[1] = b[0];
    spawn_keep_out(a[0], false);
    spawn_keep_out(b[0], true);
    fds[2] = 0;
    assert_int_equal(exit_status(spawn_child(&plain_role, check_child, fds)), 0);
    fds[2] = 1;
    assert_int_equal(exit_status(spawn_child(&serving_role, check_child, fds)), 0);
    sigprocmask(SIG_SETMASK, NULL, &after);
    assert_true(sigismember(&after, SIGUSR2) && !sigismember(&after, SIGWINCH));
    assert_int_not_equal(fcntl(a[0], F_GETFD), -1); /* the parent keeps its own */
    signal(SIGUSR2, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    sigprocmask(SIG_UNBLOCK, &usr2, NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_status_and_no_return),
        cmocka_unit_test(test_role_table),
    };
    return cmocka_run_group_tests_name("spawn", tests, NULL, NULL);
}
