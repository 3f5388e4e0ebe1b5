/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * race.c: many real connections racing through batchup's SQL functions,
 * then the invariants checked.
 *
 * The pgTAP tests prove each rule on one connection; this proves the rules
 * hold when they race.  RACE_CONNECTIONS worker threads, each with its own
 * libpq connection, act for RACE_USERS users with different slot limits:
 * they create batches, claim slots (with a global active-users cap lower
 * than the number of users, so that cap binds), record progress, complete,
 * abort files and whole batches, and abandon uploads mid-way so that leases
 * run out.  Meanwhile
 *
 *   - a sampler connection reads batchup.active_slots, batchup.user_usage
 *     and the raw slots table over and over, and counts every sample that
 *     shows a user above its limit or more users than the cap;
 *   - a listener connection LISTENs on batchup_batch_complete and records
 *     every notification;
 *   - the sampler also runs batchup.gc now and then, as the master would.
 *
 * After RACE_SECONDS the workers stop and the driver asserts:
 *
 *   1. no sample showed a user above its limit, or more than
 *      max_active_users users holding slots;
 *   2. every batch is in the state its files dictate: files_remaining
 *      equals its unfinished files; with none left and one completed it is
 *      complete with a token; with none completed it is expired without
 *      one; otherwise it is uploading without one;
 *   3. every complete batch got exactly one NOTIFY, and no other batch got
 *      any; every token complete_file handed out equals the batch's final
 *      token (a token is issued once, never replaced);
 *   4. once the leases have run out, no slot is shown, and after gc none is
 *      stored.
 *
 * Before the random run, one interleaving is played deterministically on
 * three connections, because random traffic rarely hits its window: user A
 * holds the only slot under max_active_users = 1 and, while the commit
 * that releases it is in flight, claims a second file; user B claims after
 * the release committed but before A's claim did.  A claim that decided
 * "A already holds a slot, no need for the cap" from a slot that was being
 * deleted would let both A and B in.
 *
 * Expected errors are counted, not failures: BU409 (two workers moved the
 * same file's offset; the real service prevents this with its per-upload
 * lock) and BU410 (the file was finished by another worker in between).
 * Anything else, a deadlock above all, fails the run.
 *
 * Environment: PGHOST/PGDATABASE/... as for libpq; RACE_SECONDS (10),
 * RACE_CONNECTIONS (32), RACE_USERS (60), RACE_MAX_ACTIVE_USERS (20),
 * RACE_DEFAULT_LIMIT (3), RACE_LEASE_SECONDS (2).  Exit status 0 when every
 * invariant held, 1 otherwise.
 */
#define _GNU_SOURCE
#include <libpq-fe.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define LINK_TTL "3600"
#define RETRY_SECONDS "1"

struct token_seen {
    char batch[37];
    char token[64];
};

struct worker {
    pthread_t thread;
    PGconn *conn;
    unsigned seed;
    struct token_seen *tokens;
    size_t ntokens, captokens;
};

static int race_seconds = 10, race_connections = 32, race_users = 60;
static int race_max_active = 20, race_default_limit = 3, race_lease = 2;
static int user_base; /* id of the first race user */
static char lease_str[16];

static atomic_int stop_workers, stop_listener;
static atomic_long n_batches, n_granted, n_queued, n_completed, n_aborted, n_abort_batch,
    n_abandoned, n_progress, n_gone, n_bu404, n_bu409, n_bu410, n_unexpected;
static atomic_long n_samples, n_over_limit, n_over_cap, max_users_seen, n_gc;

static char **notes;
static size_t nnotes, capnotes;

static int env_int(const char *name, int def)
{
    const char *v = getenv(name);
    return v && *v ? atoi(v) : def;
}

static PGconn *race_connect(void)
{
    PGconn *c = PQconnectdb("");
    if (PQstatus(c) != CONNECTION_OK) {
        fprintf(stderr, "race: cannot connect: %s", PQerrorMessage(c));
        exit(1);
    }
    return c;
}

/* Runs a parameterised statement; on failure classifies the SQLSTATE and
 * returns NULL. */
static PGresult *race_exec(PGconn *c, const char *sql, int n, ...)
{
    const char *params[8];
    va_list ap;
    va_start(ap, n);
    for (int i = 0; i < n; i++)
        params[i] = va_arg(ap, const char *);
    va_end(ap);

    PGresult *r = PQexecParams(c, sql, n, NULL, params, NULL, NULL, 0);
    ExecStatusType st = PQresultStatus(r);
    if (st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK)
        return r;
    const char *state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
    if (state && strcmp(state, "BU404") == 0)
        n_bu404++; /* a file of a batch another client deleted */
    else if (state && strcmp(state, "BU409") == 0)
        n_bu409++;
    else if (state && strcmp(state, "BU410") == 0)
        n_bu410++;
    else if (n_unexpected++ < 10)
        fprintf(stderr, "race: unexpected error %s: %s", state ? state : "?", PQresultErrorMessage(r));
    PQclear(r);
    return NULL;
}

/* Does the file still exist (its batch not deleted)? */
static bool file_exists(PGconn *c, const char *file)
{
    const char *p[1] = {file};
    PGresult *r = PQexecParams(c, "SELECT 1 FROM batchup.files WHERE id = $1", 1, NULL, p, NULL, NULL, 0);
    bool found = PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1;

    PQclear(r);
    return found;
}

static void race_must(PGconn *c, const char *sql)
{
    PGresult *r = PQexec(c, sql);
    if (PQresultStatus(r) != PGRES_COMMAND_OK && PQresultStatus(r) != PGRES_TUPLES_OK) {
        fprintf(stderr, "race: %s: %s", sql, PQerrorMessage(c));
        exit(1);
    }
    PQclear(r);
}

static void remember_token(struct worker *w, const char *batch, const char *token)
{
    if (w->ntokens == w->captokens) {
        w->captokens = w->captokens ? 2 * w->captokens : 64;
        w->tokens = realloc(w->tokens, w->captokens * sizeof *w->tokens);
        if (!w->tokens)
            abort();
    }
    snprintf(w->tokens[w->ntokens].batch, sizeof w->tokens[0].batch, "%s", batch);
    snprintf(w->tokens[w->ntokens].token, sizeof w->tokens[0].token, "%s", token);
    w->ntokens++;
}

static void create_batch(struct worker *w, const char *user)
{
    char json[1024];
    int nfiles = 1 + rand_r(&w->seed) % 4, len = 0;
    len += snprintf(json + len, sizeof json - len, "[");
    for (int i = 0; i < nfiles; i++) {
        /* One file in ten is empty: it completes at creation. */
        long size = rand_r(&w->seed) % 10 == 0 ? 0 : 1 + rand_r(&w->seed) % 1000000;
        len += snprintf(json + len, sizeof json - len, "%s{\"name\": \"f%d.bin\", \"size\": %ld}",
                        i ? ", " : "", i, size);
    }
    snprintf(json + len, sizeof json - len, "]");
    PGresult *r = race_exec(w->conn, "SELECT batchup.create_batch($1, $2, " LINK_TTL ")", 2, user, json);
    if (r) {
        n_batches++;
        PQclear(r);
    }
}

/* The file was granted a slot: do something with it. */
static void use_slot(struct worker *w, const char *user, const char *file, long offset, long size)
{
    int dice = rand_r(&w->seed) % 100;
    char off[32];
    PGresult *r;

    if (dice < 70) {
        long to = dice < 55 ? size : offset + (size - offset) / 2;
        snprintf(off, sizeof off, "%ld", to);
        r = race_exec(w->conn, "SELECT batchup.record_progress($1, $2, $3)", 3, file, off, lease_str);
        if (!r)
            return;
        n_progress++;
        PQclear(r);
        if (dice >= 55)
            return; /* a partial upload, left for later or for its lease */
        char sha[65];
        for (int i = 0; i < 64; i++)
            sha[i] = "0123456789abcdef"[rand_r(&w->seed) % 16];
        sha[64] = '\0';
        r = race_exec(w->conn,
                      "SELECT batch_id, batch_complete, download_token, file_status"
                      " FROM batchup.complete_file($1, $2, " LINK_TTL ")",
                      2, file, sha);
        if (!r)
            return;
        if (PQntuples(r) == 1 && strcmp(PQgetvalue(r, 0, 3), "completed") == 0) {
            n_completed++;
            if (strcmp(PQgetvalue(r, 0, 1), "t") == 0)
                remember_token(w, PQgetvalue(r, 0, 0), PQgetvalue(r, 0, 2));
        } else {
            n_gone++;
        }
        PQclear(r);
    } else if (dice < 80) {
        r = race_exec(w->conn, "SELECT batchup.abort_file($1, $2, " LINK_TTL ")", 2, file, user);
        if (r) {
            n_aborted++;
            PQclear(r);
        }
    } else if (dice < 84) {
        r = race_exec(w->conn,
                      "SELECT count(*) FROM batchup.delete_batch("
                      "(SELECT batch_id FROM batchup.files WHERE id = $1), $2)",
                      2, file, user);
        if (r) {
            n_abort_batch++;
            PQclear(r);
        }
    } else {
        n_abandoned++; /* the client vanished: only the lease frees the slot */
    }
}

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    char user[16], limit[16], cap[16];
    snprintf(limit, sizeof limit, "%d", race_default_limit);
    snprintf(cap, sizeof cap, "%d", race_max_active);

    while (!stop_workers) {
        /* A third of the traffic goes to five hot users, so that files of
         * the same user and batch really collide. */
        int u = rand_r(&w->seed) % 3 == 0 ? rand_r(&w->seed) % 5 : rand_r(&w->seed) % race_users;
        snprintf(user, sizeof user, "%d", user_base + u);

        PGresult *r = race_exec(w->conn,
                                "SELECT id FROM batchup.files WHERE user_id = $1"
                                " AND status IN ('pending', 'queued', 'uploading')"
                                " ORDER BY random() LIMIT 1",
                                1, user);
        if (!r)
            continue;
        int have = PQntuples(r) == 1;
        char file[37] = "";
        if (have)
            snprintf(file, sizeof file, "%s", PQgetvalue(r, 0, 0));
        PQclear(r);
        if (!have || rand_r(&w->seed) % 10 == 0) {
            create_batch(w, user);
            continue;
        }

        r = race_exec(w->conn, "SELECT result, queue_position, upload_offset, size"
                               " FROM batchup.claim_slot($1, $2, $3, $4, $5, " RETRY_SECONDS ")",
                      5, file, user, limit, cap, lease_str);
        if (!r)
            continue;
        const char *result = PQgetvalue(r, 0, 0);
        if (strcmp(result, "granted") == 0) {
            n_granted++;
            long offset = atol(PQgetvalue(r, 0, 2)), size = atol(PQgetvalue(r, 0, 3));
            PQclear(r);
            use_slot(w, user, file, offset, size);
        } else if (strcmp(result, "queued") == 0) {
            n_queued++;
            PQclear(r);
        } else if (strcmp(result, "gone") == 0 || strcmp(result, "completed") == 0) {
            n_gone++;
            PQclear(r);
        } else if (strcmp(result, "not_found") == 0 && !file_exists(w->conn, file)) {
            n_gone++; /* its batch was deleted (by another client of the user) */
            PQclear(r);
        } else {
            if (n_unexpected++ < 10)
                fprintf(stderr, "race: claim_slot of the owner's file %s said %s\n", file, result);
            PQclear(r);
        }
    }
    return NULL;
}

static void *sampler_main(void *arg)
{
    (void)arg;
    PGconn *c = race_connect();
    char limit[16], cap[16];
    snprintf(limit, sizeof limit, "%d", race_default_limit);
    snprintf(cap, sizeof cap, "%d", race_max_active);
    /* One statement, one snapshot: the views and the raw table together. */
    const char *sql =
        "SELECT"
        " (SELECT count(*) FROM batchup.user_usage uu"
        "   WHERE uu.active > coalesce(nullif(uu.slot_limit, 0), $1::int)),"
        " (SELECT count(*) FROM (SELECT s.user_id FROM batchup.slots s JOIN batchup.users u ON u.id = s.user_id"
        "   GROUP BY s.user_id, u.slot_limit HAVING count(*) > coalesce(nullif(u.slot_limit, 0), $1::int)) x),"
        " (SELECT count(DISTINCT user_name) FROM batchup.active_slots),"
        " (SELECT count(DISTINCT user_id) FROM batchup.slots)";
    long i = 0;
    while (!stop_workers) {
        const char *p[1] = {limit};
        PGresult *r = PQexecParams(c, sql, 1, NULL, p, NULL, NULL, 0);
        if (PQresultStatus(r) != PGRES_TUPLES_OK) {
            fprintf(stderr, "race: sampler: %s", PQerrorMessage(c));
            n_unexpected++;
        } else {
            long over = atol(PQgetvalue(r, 0, 0)) + atol(PQgetvalue(r, 0, 1));
            long users = atol(PQgetvalue(r, 0, 2)), row_users = atol(PQgetvalue(r, 0, 3));
            if (row_users > users)
                users = row_users;
            n_samples++;
            if (over)
                n_over_limit++;
            if (users > race_max_active)
                n_over_cap++;
            if (users > max_users_seen)
                max_users_seen = users;
        }
        PQclear(r);
        if (++i % 50 == 0) {
            race_must(c, "SELECT count(*) FROM batchup.gc(3600)");
            n_gc++;
        }
    }
    PQfinish(c);
    return NULL;
}

static void *listener_main(void *arg)
{
    PGconn *c = arg;
    while (!stop_listener) {
        struct pollfd pfd = {.fd = PQsocket(c), .events = POLLIN};
        if (poll(&pfd, 1, 100) < 0)
            continue;
        if (!PQconsumeInput(c)) {
            fprintf(stderr, "race: listener: %s", PQerrorMessage(c));
            n_unexpected++;
            return NULL;
        }
        PGnotify *n;
        while ((n = PQnotifies(c)) != NULL) {
            if (nnotes == capnotes) {
                capnotes = capnotes ? 2 * capnotes : 256;
                notes = realloc(notes, capnotes * sizeof *notes);
                if (!notes)
                    abort();
            }
            notes[nnotes++] = strdup(n->extra);
            PQfreemem(n);
        }
    }
    return NULL;
}

/* Sends a statement without waiting for its answer. */
static void send_async(PGconn *c, const char *sql)
{
    if (!PQsendQuery(c, sql)) {
        fprintf(stderr, "race: %s: %s", sql, PQerrorMessage(c));
        exit(1);
    }
}

/* Whether the statement sent on c is still waiting (after a grace time). */
static int still_waiting(PGconn *c)
{
    usleep(300 * 1000);
    PQconsumeInput(c);
    return PQisBusy(c);
}

/* The first value of the answer to the statement sent on c. */
static char *answer(PGconn *c)
{
    static char buf[64];
    PGresult *r, *first = NULL;
    while ((r = PQgetResult(c)) != NULL) {
        if (!first)
            first = r;
        else
            PQclear(r);
    }
    if (!first || PQresultStatus(first) != PGRES_TUPLES_OK) {
        fprintf(stderr, "race: scenario: %s", first ? PQresultErrorMessage(first) : "no result\n");
        exit(1);
    }
    snprintf(buf, sizeof buf, "%s", PQgetvalue(first, 0, 0));
    PQclear(first);
    return buf;
}

static int failures;

static void check(int ok, const char *what, long detail);
static long scalar(PGconn *c, const char *sql);

/* The deterministic interleaving described at the top. */
static void scenario_cap_release(PGconn *c0)
{
    PGconn *c1 = race_connect(), *c2 = race_connect(), *c3 = race_connect();
    race_must(c0, "DELETE FROM batchup.users WHERE name LIKE 'racecap\\_%'");
    race_must(c0, "SELECT batchup.create_batch(batchup.user_add('racecap_a', NULL, 0),"
                  " '[{\"name\": \"a1\", \"size\": 10}, {\"name\": \"a2\", \"size\": 10}]', 60),"
                  " batchup.create_batch(batchup.user_add('racecap_b', NULL, 0), '[{\"name\": \"b1\", \"size\": 10}]', 60)");
#define CAP_CLAIM(user, file)                                                                     \
    "SELECT result FROM batchup.files f JOIN batchup.users u ON u.id = f.user_id,"              \
    " batchup.claim_slot(f.id, u.id, 5, 1, 30, 1) WHERE u.name = '" user "' AND f.name = '" file "'"
    send_async(c0, CAP_CLAIM("racecap_a", "a1"));
    int ok = strcmp(answer(c0), "granted") == 0;

    race_must(c1, "BEGIN");
    send_async(c1, "SELECT c.file_status FROM batchup.files f, batchup.complete_file(f.id, repeat('a', 64), 60) c"
                   " WHERE f.name = 'a1' AND f.user_id = (SELECT id FROM batchup.users WHERE name = 'racecap_a')");
    answer(c1); /* a1's slot is deleted, not yet committed */
    race_must(c2, "BEGIN");
    send_async(c2, CAP_CLAIM("racecap_a", "a2"));
    int a2_waited = still_waiting(c2);
    race_must(c1, "COMMIT");
    ok = ok && strcmp(answer(c2), "granted") == 0;
    send_async(c3, CAP_CLAIM("racecap_b", "b1"));
    int b1_waited = still_waiting(c3);
    race_must(c2, "COMMIT");
    char *b1 = answer(c3);
    ok = ok && strcmp(b1, "queued") == 0;
    long users = scalar(c0, "SELECT count(DISTINCT s.user_id) FROM batchup.slots s JOIN batchup.users u"
                            " ON u.id = s.user_id WHERE u.name LIKE 'racecap\\_%'");
    printf("race: scenario: A's second claim %s for the release, B's claim %s and got %s\n",
           a2_waited ? "waited" : "did not wait", b1_waited ? "waited for A's" : "did not wait", b1);
    check(ok && users == 1, "a release racing a claim cannot let a second user past max_active_users = 1", users);
#undef CAP_CLAIM
    race_must(c0, "DELETE FROM batchup.users WHERE name LIKE 'racecap\\_%'");
    PQfinish(c1);
    PQfinish(c2);
    PQfinish(c3);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void check(int ok, const char *what, long detail)
{
    printf("  %-4s %s", ok ? "ok" : "FAIL", what);
    if (!ok)
        printf(" (%ld)", detail);
    printf("\n");
    if (!ok)
        failures++;
}

static long scalar(PGconn *c, const char *sql)
{
    PGresult *r = PQexec(c, sql);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        fprintf(stderr, "race: %s: %s", sql, PQerrorMessage(c));
        exit(1);
    }
    long v = atol(PQgetvalue(r, 0, 0));
    PQclear(r);
    return v;
}

int main(void)
{
    race_seconds = env_int("RACE_SECONDS", race_seconds);
    race_connections = env_int("RACE_CONNECTIONS", race_connections);
    race_users = env_int("RACE_USERS", race_users);
    race_max_active = env_int("RACE_MAX_ACTIVE_USERS", race_max_active);
    race_default_limit = env_int("RACE_DEFAULT_LIMIT", race_default_limit);
    race_lease = env_int("RACE_LEASE_SECONDS", race_lease);
    snprintf(lease_str, sizeof lease_str, "%d", race_lease);

    PGconn *main_conn = race_connect();
    race_must(main_conn, "SET client_min_messages = warning");
    /* A clean slate of race users; their batches, files and slots cascade. */
    race_must(main_conn, "DELETE FROM batchup.users WHERE name LIKE 'race\\_%'");
    char sql[512];
    /* Limits 0 (the default), 1, 2, 3, 4 and 5 in turn. */
    snprintf(sql, sizeof sql,
             "SELECT min(batchup.user_add('race_' || i, NULL, i %% 6)) FROM generate_series(1, %d) i", race_users);
    user_base = (int)scalar(main_conn, sql);
    snprintf(sql, sizeof sql, "SELECT count(*) FROM batchup.users WHERE name LIKE 'race\\_%%' AND id BETWEEN %d AND %d",
             user_base, user_base + race_users - 1);
    if (scalar(main_conn, sql) != race_users) {
        fprintf(stderr, "race: race users do not have consecutive ids\n");
        return 1;
    }

    scenario_cap_release(main_conn);

    PGconn *listen_conn = race_connect();
    race_must(listen_conn, "LISTEN batchup_batch_complete");

    printf("race: %d connections, %d users (limits default %d, 1..5), max_active_users %d, lease %d s, %d s\n",
           race_connections, race_users, race_default_limit, race_max_active, race_lease, race_seconds);

    struct worker *workers = calloc(race_connections, sizeof *workers);
    for (int i = 0; i < race_connections; i++) {
        workers[i].conn = race_connect();
        workers[i].seed = (unsigned)time(NULL) * 7919u + (unsigned)i;
    }
    pthread_t sampler, listener;
    pthread_create(&listener, NULL, listener_main, listen_conn);
    pthread_create(&sampler, NULL, sampler_main, NULL);
    for (int i = 0; i < race_connections; i++)
        pthread_create(&workers[i].thread, NULL, worker_main, &workers[i]);

    sleep(race_seconds);
    stop_workers = 1;
    for (int i = 0; i < race_connections; i++)
        pthread_join(workers[i].thread, NULL);
    pthread_join(sampler, NULL);

    /* Every lease was taken at the latest now: wait them out.  Meanwhile
     * the listener collects the last notifications. */
    sleep((unsigned)race_lease + 1);
    stop_listener = 1;
    pthread_join(listener, NULL);

    printf("race: %ld batches created, %ld slots granted, %ld queued answers, %ld progress, %ld completed,"
           " %ld aborted, %ld batch deletes, %ld abandoned, %ld finished by others\n",
           n_batches, n_granted, n_queued, n_progress, n_completed, n_aborted, n_abort_batch, n_abandoned, n_gone);
    printf("race: %ld samples, at most %ld users active, %ld gc passes; expected conflicts: %ld BU404, %ld BU409, %ld BU410;"
           " %zu notifications\n",
           n_samples, max_users_seen, n_gc, n_bu404, n_bu409, n_bu410, nnotes);

    check(n_unexpected == 0, "no unexpected error (deadlock, constraint violation, ...)", n_unexpected);
    check(n_samples > 0 && n_granted > 0 && n_queued > 0 && n_completed > 0, "the run did real work", n_samples);
    check(n_over_limit == 0, "no sample showed a user above its limit", n_over_limit);
    check(n_over_cap == 0, "no sample showed more than max_active_users users holding slots", n_over_cap);

    /* The books of every batch. */
    long bad_books = scalar(main_conn,
        "SELECT count(*) FROM ("
        " SELECT b.status, b.download_token, b.files_remaining,"
        "        count(*) FILTER (WHERE f.status IN ('pending', 'queued', 'uploading')) AS unfinished,"
        "        count(*) FILTER (WHERE f.status = 'completed') AS completed"
        "   FROM batchup.batches b JOIN batchup.files f ON f.batch_id = b.id"
        "   JOIN batchup.users u ON u.id = b.user_id"
        "  WHERE u.name LIKE 'race\\_%' GROUP BY b.id) x"
        " WHERE files_remaining <> unfinished"
        "    OR (unfinished = 0 AND completed > 0 AND (status <> 'complete' OR download_token IS NULL))"
        "    OR (unfinished = 0 AND completed = 0 AND (status <> 'expired' OR download_token IS NOT NULL))"
        "    OR (unfinished > 0 AND (status <> 'uploading' OR download_token IS NOT NULL))");
    check(bad_books == 0, "every batch's status and token match its files", bad_books);
    long complete = scalar(main_conn, "SELECT count(*) FROM batchup.batches b JOIN batchup.users u ON u.id = b.user_id"
                                      " WHERE u.name LIKE 'race\\_%' AND b.status = 'complete'");
    printf("race: %ld batches complete\n", complete);

    /* Exactly one notification per complete batch, none for the others. */
    qsort(notes, nnotes, sizeof *notes, cmp_str);
    long dup = 0;
    for (size_t i = 1; i < nnotes; i++)
        if (strcmp(notes[i], notes[i - 1]) == 0)
            dup++;
    check(dup == 0, "no batch was notified twice", dup);
    race_must(main_conn, "CREATE TEMPORARY TABLE race_notes (batch uuid)");
    race_must(main_conn, "CREATE TEMPORARY TABLE race_tokens (batch uuid, token text)");
    for (size_t i = 0; i < nnotes; i++) {
        const char *p[1] = {notes[i]};
        PQclear(PQexecParams(main_conn, "INSERT INTO race_notes VALUES ($1)", 1, NULL, p, NULL, NULL, 0));
    }
    for (int i = 0; i < race_connections; i++)
        for (size_t j = 0; j < workers[i].ntokens; j++) {
            const char *p[2] = {workers[i].tokens[j].batch, workers[i].tokens[j].token};
            PQclear(PQexecParams(main_conn, "INSERT INTO race_tokens VALUES ($1, $2)", 2, NULL, p, NULL, NULL, 0));
        }
    long unnotified = scalar(main_conn,
        "SELECT count(*) FROM batchup.batches b JOIN batchup.users u ON u.id = b.user_id"
        " WHERE u.name LIKE 'race\\_%' AND b.status = 'complete'"
        "   AND NOT EXISTS (SELECT 1 FROM race_notes n WHERE n.batch = b.id)");
    check(unnotified == 0, "every complete batch was notified", unnotified);
    long stray = scalar(main_conn,
        "SELECT count(*) FROM race_notes n"
        " JOIN batchup.batches b ON b.id = n.batch WHERE b.status <> 'complete'");
    check(stray == 0, "no notification for a batch that is not complete (deleted ones aside)", stray);
    long wrong_tokens = scalar(main_conn,
        "SELECT count(*) FROM race_tokens t JOIN batchup.batches b ON b.id = t.batch"
        " WHERE b.download_token IS DISTINCT FROM t.token");
    check(wrong_tokens == 0, "every token handed out is the batch's one token", wrong_tokens);

    /* Leases have run out by now. */
    long shown = scalar(main_conn, "SELECT count(*) FROM batchup.active_slots WHERE user_name LIKE 'race\\_%'");
    check(shown == 0, "no slot is shown once the leases ran out", shown);
    race_must(main_conn, "SELECT count(*) FROM batchup.gc(3600)");
    long stored = scalar(main_conn, "SELECT count(*) FROM batchup.slots s JOIN batchup.users u ON u.id = s.user_id"
                                    " WHERE u.name LIKE 'race\\_%'");
    check(stored == 0, "no slot is stored after gc", stored);

    printf("race: %s\n", failures ? "FAILED" : "all invariants held");
    for (int i = 0; i < race_connections; i++) {
        PQfinish(workers[i].conn);
        free(workers[i].tokens);
    }
    for (size_t i = 0; i < nnotes; i++)
        free(notes[i]);
    free(notes);
    free(workers);
    PQfinish(listen_conn);
    PQfinish(main_conn);
    return failures ? 1 : 0;
}
