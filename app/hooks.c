/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * hooks.c - batch-completion hooks: the delivery child of the master.
 *
 * The events are not produced here: triggers write them to the outbox
 * (batchup.hook_events) in the transaction of the status change itself
 * (sql/functions/80_hooks.sql), so an event exists exactly when its cause
 * committed.  This process only delivers them.  The master starts it when
 * hook_command or hook_url is set, and starts it again when it dies.  Its
 * loop:
 *
 *   LISTEN batchup_hook (once per connection, and not through a connection
 *   pooler: see store_hook_listen); claim one due event (FOR UPDATE SKIP
 *   LOCKED, with a lease, so another deliverer on any host leaves it
 *   alone); run the command and/or POST to the URL; record each target that
 *   accepted it and the outcome (delivered, or the next attempt after an
 *   exponential backoff, or failed after hook_max_attempts); when nothing
 *   is due, wait for a NOTIFY or one second, whichever comes first.
 *
 * Exactly once in effect: a receiver may see an event twice, when this
 * process dies (or the master is killed with it) after the receiver
 * accepted the event and before the outcome was recorded; the lease then
 * runs out and the event is delivered again, with the same id.  Every
 * delivery carries the event id (JSON "id", the Idempotency-Key header,
 * BATCHUP_EVENT_ID), so a receiver that drops ids it has seen acts once per
 * event.
 *
 * Only what somebody receives is queued: this process registers, for its
 * host, the kinds it delivers (store_hook_register, at its first
 * connection and then every HOOKS_REGISTER_EVERY seconds, valid for
 * HOOKS_REGISTER_LEASE), and the database's triggers write an event only
 * while such a registration is live.  With no hook configured no child
 * runs, the registration runs out, and no event piles up; a hook
 * configured later receives what happens from then on.  The lease
 * outlives a restart of the server, so none is lost then.  Users take
 * turns (batchup.hook_claim): one user's flood does not delay another's.
 *
 * The command runs as `/bin/sh -c hook_command` in a process group of its
 * own, with the event in its environment and the JSON on its standard
 * input, its output discarded (it may print the link, which is a secret:
 * batchup's log must not hold it); it is killed after hook_timeout_seconds.
 * Exit status 0 is success.  The URL gets a POST of the JSON; any 2xx is
 * success.  A stop signal (SIGQUIT, SIGTERM, SIGINT) lets the current
 * delivery finish; so does the master's death, noticed through getppid.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "batchup/clock.h"
#include "batchup/hooks.h"
#include "batchup/log.h"
#include "batchup/spawn.h"
#include "batchup/store.h"

extern char **environ;

/* Seconds between two registrations, and how long one holds. */
#define HOOKS_REGISTER_EVERY 60
#define HOOKS_REGISTER_LEASE 600

static volatile sig_atomic_t stopping;

static void on_stop(int sig)
{
    (void)sig;
    stopping = 1;
}

/* The hooks child's signals (installed by spawn.c when it starts): stop
 * signals set a flag and interrupt the wait for a NOTIFY (no SA_RESTART),
 * SIGUSR1 asks for the log to be reopened, SIGHUP is the master's, a
 * receiver that hangs up is an EPIPE, and the command's exit is collected
 * by waitpid (SIGCHLD at its default). */
static const struct spawn_signal hooks_signals[] = {
    {SIGTERM, SPAWN_HANDLE, on_stop, false}, {SIGINT, SPAWN_HANDLE, on_stop, false},
    {SIGQUIT, SPAWN_HANDLE, on_stop, false}, {SIGUSR1, SPAWN_HANDLE, log_reopen_handler, true},
    {SIGHUP, SPAWN_IGNORE, NULL, false},     {SIGPIPE, SPAWN_IGNORE, NULL, false},
    {SIGCHLD, SPAWN_DEFAULT, NULL, false},
};

const struct spawn_role hooks_role = SPAWN_ROLE("hooks child", hooks_signals, false, 0);

/* A hook command's: the handlers above are gone (spawn.c), SIGPIPE is back
 * at its default for the shell and what it runs; SIGHUP stays ignored. */
static const struct spawn_signal command_signals[] = {
    {SIGPIPE, SPAWN_DEFAULT, NULL, false},
};

static const struct spawn_role command_role = SPAWN_ROLE("hook command", command_signals, false, 0);

bool hooks_enabled(const struct bu_config *cfg)
{
    return cfg->hook_command[0] != '\0' || cfg->hook_url[0] != '\0';
}

/* ---- the command ------------------------------------------------------ */

/* Is environ entry var one the command must not see: batchup's BATCHUP_*
 * settings (they may hold a database password), and libpq's sources of
 * one (the password itself, the files that hold passwords)? */
static bool secret_var(const char *var)
{
    static const char *const names[] = {"PGPASSWORD=", "PGPASSFILE=", "PGSERVICEFILE="};

    if (strncmp(var, "BATCHUP_", 8) == 0)
        return true;
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strncmp(var, names[i], strlen(names[i])) == 0)
            return true;
    return false;
}

/* The command's environment: batchup's own, less the secrets (secret_var),
 * plus the event.  NULL when out of memory; free with free_env. */
static char **command_env(const struct store_hook_event *ev)
{
    const char *const vars[][2] = {
        {"BATCHUP_EVENT_ID", ev->id},       {"BATCHUP_EVENT", ev->kind},
        {"BATCHUP_BATCH_ID", ev->batch_id}, {"BATCHUP_USER", ev->user_name},
        {"BATCHUP_LINK", ev->download_url}, {"BATCHUP_FILE_ID", ev->file_id},
    };
    size_t n = 0, o = 0, nvars = sizeof vars / sizeof vars[0];
    char **env;

    while (environ[n] != NULL)
        n++;
    env = calloc(n + nvars + 2, sizeof *env);
    if (env == NULL)
        return NULL;
    for (size_t i = 0; i < n; i++)
        if (!secret_var(environ[i]))
            env[o++] = strdup(environ[i]);
    for (size_t i = 0; i < nvars; i++)
        if (asprintf(&env[o++], "%s=%s", vars[i][0], vars[i][1]) < 0)
            env[o - 1] = NULL;
    if (asprintf(&env[o++], "BATCHUP_ATTEMPT=%d", ev->attempt) < 0)
        env[o - 1] = NULL;
    return env;
}

static void free_env(char **env)
{
    for (size_t i = 0; env != NULL && env[i] != NULL; i++)
        free(env[i]);
    free(env);
}

/* What the command's child runs: the command, its standard input (the
 * read end of the pipe) and its environment. */
struct command_args {
    const char *command;
    int in_fd;
    char **env;
};

/* In the spawned child: stdin from the pipe, output discarded, and no
 * other descriptor (libpq's and curl's sockets, anything a library left
 * open without close-on-exec): the command inherits nothing of batchup's.
 * Then exec; exit status 127 when that fails, as the shell's. */
static int command_exec(void *data)
{
    const struct command_args *a = data;
    int null_fd = open("/dev/null", O_WRONLY);

    setpgid(0, 0);
    dup2(a->in_fd, STDIN_FILENO);
    if (null_fd >= 0) {
        dup2(null_fd, STDOUT_FILENO);
        dup2(null_fd, STDERR_FILENO);
    }
    close_range(3, ~0U, 0);
    execle("/bin/sh", "sh", "-c", a->command, (char *)NULL, a->env);
    _exit(127);
}

/* ---- outcomes ------------------------------------------------------------
 *
 * What one delivery to one target came to: a result and its one number
 * (an errno, an exit status, a signal, seconds, a libcurl code, an HTTP
 * status).  Words are made of it only for the log and the event's
 * last_error, by one table. */

enum hooks_result {
    HOOKS_DELIVERED,       /* exit status 0, or a 2xx */
    HOOKS_COMMAND_START,   /* no environment or pipe (errno) */
    HOOKS_COMMAND_FORK,    /* fork failed (errno) */
    HOOKS_COMMAND_TIMEOUT, /* no exit within hook_timeout_seconds (seconds); killed */
    HOOKS_COMMAND_WAIT,    /* waitpid failed (errno) */
    HOOKS_COMMAND_EXIT,    /* a non-zero exit status */
    HOOKS_COMMAND_SIGNAL,  /* killed by a signal */
    HOOKS_URL_TRANSFER,    /* the POST did not complete (CURLcode) */
    HOOKS_URL_STATUS,      /* an answer other than 2xx (HTTP status) */
};

struct hooks_outcome {
    enum hooks_result result;
    long detail;
};

/* How each result is told: its words, and what its number is. */
static const struct {
    const char *format;
    enum { DETAIL_NUMBER, DETAIL_ERRNO, DETAIL_CURL } detail;
} hooks_results[] = {
    [HOOKS_DELIVERED] = {"delivered", DETAIL_NUMBER},
    [HOOKS_COMMAND_START] = {"command: cannot start: %s", DETAIL_ERRNO},
    [HOOKS_COMMAND_FORK] = {"command: fork: %s", DETAIL_ERRNO},
    [HOOKS_COMMAND_TIMEOUT] = {"command: no exit within %ld s (killed)", DETAIL_NUMBER},
    [HOOKS_COMMAND_WAIT] = {"command: waitpid: %s", DETAIL_ERRNO},
    [HOOKS_COMMAND_EXIT] = {"command: exit status %ld", DETAIL_NUMBER},
    [HOOKS_COMMAND_SIGNAL] = {"command: killed by signal %ld", DETAIL_NUMBER},
    [HOOKS_URL_TRANSFER] = {"url: %s", DETAIL_CURL},
    [HOOKS_URL_STATUS] = {"url: HTTP %ld", DETAIL_NUMBER},
};

static struct hooks_outcome outcome(enum hooks_result result, long detail)
{
    return (struct hooks_outcome){result, detail};
}

/* Append the outcome's words to buf ("; " between two targets). */
static void outcome_describe(struct hooks_outcome o, char *buf, size_t cap)
{
    size_t used = strlen(buf);
    char one[256];

    if (hooks_results[o.result].detail == DETAIL_ERRNO)
        snprintf(one, sizeof one, hooks_results[o.result].format, strerror((int)o.detail));
    else if (hooks_results[o.result].detail == DETAIL_CURL)
        snprintf(one, sizeof one, hooks_results[o.result].format,
                 curl_easy_strerror((CURLcode)o.detail));
    else
        snprintf(one, sizeof one, hooks_results[o.result].format, o.detail);
    snprintf(buf + used, cap - used, "%s%s", used > 0 ? "; " : "", one);
}

/* Wait for the command until the deadline, then kill its process group.
 * HOOKS_DELIVERED on exit status 0. */
static struct hooks_outcome command_wait(pid_t pid, int timeout)
{
    double deadline = clock_now() + timeout;
    int status;
    pid_t r;

    while ((r = waitpid(pid, &status, WNOHANG)) == 0 || (r < 0 && errno == EINTR)) {
        struct timespec ts = {0, 20000000L};
        if (clock_now() >= deadline) {
            kill(-pid, SIGKILL);
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            return outcome(HOOKS_COMMAND_TIMEOUT, timeout);
        }
        nanosleep(&ts, NULL);
    }
    if (r < 0)
        return outcome(HOOKS_COMMAND_WAIT, errno);
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
        return outcome(HOOKS_DELIVERED, 0);
    if (WIFEXITED(status))
        return outcome(HOOKS_COMMAND_EXIT, WEXITSTATUS(status));
    return outcome(HOOKS_COMMAND_SIGNAL, WTERMSIG(status));
}

static struct hooks_outcome run_command(const struct bu_config *cfg,
                                        const struct store_hook_event *ev)
{
    int in[2];
    char **env = command_env(ev);
    struct command_args args = {.command = cfg->hook_command};
    pid_t pid;
    size_t len = strlen(ev->payload);

    if (env == NULL || pipe2(in, O_CLOEXEC) != 0) {
        int e = errno;
        free_env(env);
        return outcome(HOOKS_COMMAND_START, e);
    }
    args.in_fd = in[0];
    args.env = env;
    pid = spawn_child(&command_role, command_exec, &args);
    free_env(env);
    close(in[0]);
    if (pid < 0) {
        int e = errno;
        close(in[1]);
        return outcome(HOOKS_COMMAND_FORK, e);
    }
    /* The document is a few KiB: it fits the pipe, so this never blocks. */
    if (write(in[1], ev->payload, len) != (ssize_t)len) {
        /* The command need not read it. */
    }
    close(in[1]);
    return command_wait(pid, cfg->hook_timeout_seconds);
}

/* ---- the URL ---------------------------------------------------------- */

static size_t discard(char *data, size_t size, size_t n, void *ctx)
{
    (void)data;
    (void)ctx;
    return size * n;
}

static struct hooks_outcome post_url(CURL *curl, const struct bu_config *cfg,
                                     const struct store_hook_event *ev)
{
    struct curl_slist *headers = NULL;
    char key[80], kind[64];
    long code = 0;
    CURLcode rc;

    snprintf(key, sizeof key, "Idempotency-Key: %s", ev->id);
    snprintf(kind, sizeof kind, "X-Batchup-Event: %s", ev->kind);
    headers = curl_slist_append(headers, "Content-Type: application/json");
    headers = curl_slist_append(headers, key);
    headers = curl_slist_append(headers, kind);
    curl_easy_setopt(curl, CURLOPT_URL, cfg->hook_url);
    curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, ev->payload);
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, (long)strlen(ev->payload));
    curl_easy_setopt(curl, CURLOPT_USERAGENT, "batchup/" BATCHUP_VERSION);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT, (long)cfg->hook_timeout_seconds);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, discard);
    rc = curl_easy_perform(curl);
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, NULL);
    curl_slist_free_all(headers);
    if (rc != CURLE_OK)
        return outcome(HOOKS_URL_TRANSFER, rc);
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &code);
    if (code >= 200 && code < 300)
        return outcome(HOOKS_DELIVERED, 0);
    return outcome(HOOKS_URL_STATUS, code);
}

/* ---- the loop --------------------------------------------------------- */

struct deliverer {
    const struct bu_config *cfg;
    struct db db;
    CURL *curl;
    unsigned long listen_checked; /* db.connects when LISTEN was last settled */
    double registered_at;         /* clock_now() of the last registration, 0: none */
    char name[300];               /* this deliverer in batchup.hook_subscribers: the host */
};

/* Deliver one claimed event to every target that has not accepted it yet,
 * and record the outcome. */
static void deliver(struct deliverer *d, const struct store_hook_event *ev)
{
    const struct bu_config *cfg = d->cfg;
    char why[300] = "";
    struct bu_error err;
    bool failed = false;

    if (cfg->hook_command[0] != '\0' && !ev->command_done) {
        struct hooks_outcome o = run_command(cfg, ev);
        if (o.result == HOOKS_DELIVERED)
            store_hook_target_done(&d->db, &err, ev->id, "command");
        else
            outcome_describe(o, why, sizeof why);
    }
    if (cfg->hook_url[0] != '\0' && !ev->url_done) {
        struct hooks_outcome o = post_url(d->curl, cfg, ev);
        if (o.result == HOOKS_DELIVERED)
            store_hook_target_done(&d->db, &err, ev->id, "url");
        else
            outcome_describe(o, why, sizeof why);
    }
    if (store_hook_finish(&d->db, &err, ev->id, why[0] ? why : NULL, cfg->hook_retry_seconds,
                          cfg->hook_max_attempts, &failed) != 0)
        log_warn("hook event %s: outcome not recorded (%s); it will be delivered again", ev->id,
                 err.message);
    else if (why[0] == '\0')
        log_info("hook event %s (%s, batch %s) delivered, attempt %d", ev->id, ev->kind,
                 ev->batch_id, ev->attempt);
    else
        log_warn("hook event %s (%s, batch %s) attempt %d failed: %s%s", ev->id, ev->kind,
                 ev->batch_id, ev->attempt, why, failed ? "; giving up" : "");
}

/* LISTEN once on each new connection (a new session), unless a connection
 * pooler is in between (store_hook_listen): then the timer alone wakes us.
 * 0 go on, -1 the database failed. */
static int listen_once(struct deliverer *d)
{
    struct bu_error err;
    int rc;

    if (d->db.conn != NULL && d->listen_checked == d->db.connects)
        return 0;
    rc = store_hook_listen(&d->db, &err);
    if (rc < 0)
        return -1;
    d->listen_checked = d->db.connects;
    if (rc == 1)
        log_info("hooks: listening for batchup_hook notifications");
    else
        log_info("hooks: the database connection goes through a pooler: no LISTEN, the outbox is"
                 " polled every second");
    return 0;
}

/* Register (again) the kinds delivered here when the last registration is
 * HOOKS_REGISTER_EVERY seconds old.  A failure is retried at the next turn;
 * the previous registration holds meanwhile. */
static void register_due(struct deliverer *d)
{
    struct bu_error err;
    double now = clock_now();

    if (d->registered_at > 0 && now - d->registered_at < HOOKS_REGISTER_EVERY)
        return;
    if (store_hook_register(&d->db, &err, d->name, d->cfg->hook_events, HOOKS_REGISTER_LEASE) !=
        0) {
        log_warn("hooks: cannot register as a deliverer: %s", err.message);
        return;
    }
    d->registered_at = now;
}

/* One turn: deliver every due event, then wait for a notification or the
 * timer. */
static void turn(struct deliverer *d, pid_t parent)
{
    struct store_hook_event ev;
    struct bu_error err;
    int targets = (d->cfg->hook_command[0] != '\0') + (d->cfg->hook_url[0] != '\0');
    int lease = (d->cfg->hook_timeout_seconds + 1) * targets + 2;

    if (listen_once(d) != 0) {
        db_wait_notify(&d->db, 1000);
        return;
    }
    register_due(d);
    while (!stopping && getppid() == parent &&
           store_hook_claim(&d->db, &err, d->cfg->hook_events, lease, &ev) == 1) {
        deliver(d, &ev);
        store_hook_event_free(&ev);
    }
    db_wait_notify(&d->db, 1000);
}

int hooks_run(const struct bu_config *cfg)
{
    struct deliverer d = {.cfg = cfg};
    pid_t parent = getppid();

    if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0 || (d.curl = curl_easy_init()) == NULL) {
        log_error("hooks: cannot initialise libcurl");
        return 1;
    }
    db_init(&d.db, cfg->database);
    if (gethostname(d.name, sizeof d.name - 1) != 0 || d.name[0] == '\0')
        snprintf(d.name, sizeof d.name, "localhost");
    log_info("hooks: delivering %s events to %s", cfg->hook_events,
             !cfg->hook_url[0]       ? "the command"
             : !cfg->hook_command[0] ? "the URL"
                                     : "the command and the URL");
    while (!stopping && getppid() == parent) {
        log_reopen_if_asked();
        turn(&d, parent);
    }
    db_close(&d.db);
    curl_easy_cleanup(d.curl);
    curl_global_cleanup();
    return 0;
}
