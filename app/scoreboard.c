/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * scoreboard.c - the workers' states in shared memory (see scoreboard.h).
 *
 * One writer per slot, many readers: each slot is a seqlock.  The worker
 * makes its sequence number odd, writes, makes it even again; a reader
 * copies the slot and retries when the number was odd or changed, so it
 * never sees half of an update, and a worker never waits for a reader.  A
 * reader retries a bounded number of times (READ_TRIES, yielding the CPU
 * between them): a worker that died between making its number odd and even
 * again (SIGKILL, a crash) leaves it odd for ever, and a reader that spun
 * on it would hang, the master first.  The master writes a slot only while
 * no worker owns it (before the fork, after the reap, which clears the
 * slot of a dead worker whatever state it was left in).  The one field others write, a takeover
 * request, is a single atomic integer beside the seqlock, and so are the
 * fields of admission control (the request's class, keys and whether it is
 * a held upload), which other workers count.  A held upload's place is the
 * one field of admission another worker writes: a granted upload that finds
 * the uploads' share full takes it (compare-and-swap, then SIGUSR2), and the
 * held worker leaves at once.
 */
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <unistd.h>

#include "batchup/clock.h"
#include "batchup/log.h"
#include "batchup/scoreboard.h"

/* Tries of a reader before it gives up on a slot being written.  A live
 * writer holds its sequence odd for a few stores; the yields let one that
 * was preempted in between run again. */
#define READ_TRIES 1000
#define READ_SPINS 100 /* tries before the reader starts yielding */

/* A held upload's place (slot.held): none, held, or asked to end its hold
 * by a granted upload that took the place. */
enum { HOLD_NONE, HOLD_ON, HOLD_ENDED };

struct slot {
    unsigned seq;
    int release;       /* enum scoreboard_release, written by other workers */
    unsigned recorded; /* recordings of upload progress, by the worker */
    /* Admission (see scoreboard_admit): the request's long-running class,
     * and the hashes of its client (address or user) and link, by the
     * worker. */
    int cls;
    uint64_t client_key, link_key;
    int held; /* HOLD_*: a queued upload held in the upload class */
    struct scoreboard_worker w;
};

struct shared {
    char pool_id[17];
    uint64_t accepted;
    struct scoreboard_pool pool; /* written by the master only */
    struct slot slot[SCOREBOARD_SLOTS];
};

static struct shared *board;
static struct slot *self;

int scoreboard_init(void)
{
    unsigned char raw[8];
    void *p = mmap(NULL, sizeof *board, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);

    if (p == MAP_FAILED)
        return -1;
    board = p;
    if (getrandom(raw, sizeof raw, 0) != (ssize_t)sizeof raw)
        return -1;
    for (size_t i = 0; i < sizeof raw; i++)
        snprintf(board->pool_id + 2 * i, 3, "%02x", raw[i]);
    board->pool.started = clock_now();
    board->pool.listen_queue = board->pool.listen_backlog = -1;
    return 0;
}

void scoreboard_pool_read(struct scoreboard_pool *out)
{
    if (board == NULL) {
        memset(out, 0, sizeof *out);
        out->listen_queue = out->listen_backlog = -1;
        return;
    }
    out->started = board->pool.started;
    out->listen_queue = __atomic_load_n(&board->pool.listen_queue, __ATOMIC_RELAXED);
    out->listen_backlog = __atomic_load_n(&board->pool.listen_backlog, __ATOMIC_RELAXED);
    out->max_reached = __atomic_load_n(&board->pool.max_reached, __ATOMIC_RELAXED);
}

void scoreboard_pool_listen(long queue, long backlog)
{
    if (board == NULL)
        return;
    __atomic_store_n(&board->pool.listen_queue, queue, __ATOMIC_RELAXED);
    __atomic_store_n(&board->pool.listen_backlog, backlog, __ATOMIC_RELAXED);
}

void scoreboard_pool_max_reached(void)
{
    if (board != NULL)
        __atomic_add_fetch(&board->pool.max_reached, 1, __ATOMIC_RELAXED);
}

const char *scoreboard_pool_id(void)
{
    return board != NULL ? board->pool_id : "nopool";
}

void scoreboard_assign(int index)
{
    if (board == NULL)
        return;
    memset(&board->slot[index], 0, sizeof board->slot[index]);
    board->slot[index].w.state = SB_STARTING;
    board->slot[index].w.started = clock_now();
    board->slot[index].w.since = board->slot[index].w.started;
}

void scoreboard_clear(int index)
{
    if (board != NULL)
        memset(&board->slot[index], 0, sizeof board->slot[index]);
}

bool scoreboard_read(int index, struct scoreboard_worker *out)
{
    const struct slot *s = &board->slot[index];

    for (int i = 0; i < READ_TRIES; i++) {
        unsigned before = __atomic_load_n(&s->seq, __ATOMIC_ACQUIRE);
        if (before % 2 == 0) {
            memcpy(out, &s->w, sizeof *out);
            __atomic_thread_fence(__ATOMIC_ACQUIRE);
            if (__atomic_load_n(&s->seq, __ATOMIC_RELAXED) == before)
                return true;
        }
        if (i >= READ_SPINS)
            sched_yield();
    }
    /* Its writer died in the middle of a write, or is stopped there: what
     * the slot holds may be half old and half new.  The caller gets that
     * copy with its state unknown, counted busy: never idle (it would be
     * handed nothing, nor retired), never free. */
    memcpy(out, &s->w, sizeof *out);
    out->pid = __atomic_load_n(&s->w.pid, __ATOMIC_RELAXED);
    out->state = SB_HANDLING;
    return false;
}

uint64_t scoreboard_accepted(void)
{
    return board != NULL ? __atomic_load_n(&board->accepted, __ATOMIC_RELAXED) : 0;
}

/* ---- the worker's own slot ------------------------------------------ */

static void write_begin(void)
{
    __atomic_add_fetch(&self->seq, 1, __ATOMIC_RELAXED);
    __atomic_thread_fence(__ATOMIC_RELEASE);
}

static void write_end(void)
{
    __atomic_add_fetch(&self->seq, 1, __ATOMIC_RELEASE);
}

void scoreboard_attach(int index)
{
    self = board != NULL ? &board->slot[index] : NULL;
    if (self == NULL)
        return;
    write_begin();
    self->w.pid = getpid();
    write_end();
}

static void set_state(enum scoreboard_state state)
{
    if (self->w.state != state) {
        self->w.state = state;
        self->w.since = clock_now();
    }
}

void scoreboard_state(enum scoreboard_state state)
{
    if (self == NULL)
        return;
    write_begin();
    set_state(state);
    write_end();
}

void scoreboard_request(const char *method, const char *path)
{
    if (self == NULL)
        return;
    write_begin();
    set_state(SB_HANDLING);
    self->w.request_at = clock_now();
    snprintf(self->w.method, sizeof self->w.method, "%s", method);
    /* A download-link token (the capability to a batch) never leaves
     * the worker: the status page shows the path as the log does. */
    log_redact_path(path, self->w.path, sizeof self->w.path);
    self->w.user[0] = self->w.upload[0] = self->w.lock_token[0] = '\0';
    self->w.bytes_in = self->w.bytes_out = 0;
    write_end();
    __atomic_add_fetch(&board->accepted, 1, __ATOMIC_RELAXED);
}

void scoreboard_user(const char *user)
{
    if (self == NULL)
        return;
    write_begin();
    snprintf(self->w.user, sizeof self->w.user, "%s", user);
    write_end();
}

void scoreboard_upload(const char *file_id, const char *lock_token)
{
    if (self == NULL)
        return;
    write_begin();
    /* A held request claims again every half second (upload.c's hold): it
     * stays queued, since the hold began, until the hold ends. */
    if (file_id[0] == '\0' || self->w.state != SB_QUEUED)
        set_state(file_id[0] != '\0' ? SB_RECEIVING : SB_HANDLING);
    snprintf(self->w.upload, sizeof self->w.upload, "%s", file_id);
    snprintf(self->w.lock_token, sizeof self->w.lock_token, "%s", lock_token);
    self->w.last_byte = clock_now();
    write_end();
    __atomic_store_n(&self->release, SB_RELEASE_NONE, __ATOMIC_RELAXED);
}

void scoreboard_bytes(uint64_t in, uint64_t out)
{
    if (self == NULL)
        return;
    write_begin();
    if (in != self->w.bytes_in)
        self->w.last_byte = clock_now();
    if (out != self->w.bytes_out && self->w.state != SB_SENDING)
        set_state(SB_SENDING);
    self->w.bytes_in = in;
    self->w.bytes_out = out;
    write_end();
}

void scoreboard_done(void)
{
    if (self == NULL)
        return;
    scoreboard_leave();
    write_begin();
    set_state(SB_IDLE);
    self->w.requests++;
    self->w.request_at = 0;
    self->w.upload[0] = self->w.lock_token[0] = '\0';
    write_end();
    __atomic_store_n(&self->release, SB_RELEASE_NONE, __ATOMIC_RELAXED);
}

enum scoreboard_release scoreboard_take_release(void)
{
    if (self == NULL)
        return SB_RELEASE_NONE;
    return (enum scoreboard_release)__atomic_exchange_n(&self->release, SB_RELEASE_NONE,
                                                        __ATOMIC_ACQ_REL);
}

/* ---- other workers -------------------------------------------------- */

void scoreboard_recorded(void)
{
    if (self != NULL)
        __atomic_add_fetch(&self->recorded, 1, __ATOMIC_RELEASE);
}

/* The slot of the live worker holding lock_token, or -1. */
static int holder_slot(const char *lock_token)
{
    if (board == NULL || lock_token[0] == '\0')
        return -1;
    for (int i = 0; i < SCOREBOARD_SLOTS; i++) {
        struct scoreboard_worker w;
        if (__atomic_load_n(&board->slot[i].w.pid, __ATOMIC_RELAXED) == 0)
            continue;
        /* A slot that cannot be read whole is the holder only when its
         * worker still lives: a dead one holds nothing (its lock may be
         * overruled), a live one must be asked. */
        if (!scoreboard_read(i, &w) && (w.pid <= 0 || kill(w.pid, 0) != 0))
            continue;
        w.lock_token[sizeof w.lock_token - 1] = '\0';
        if (w.pid != 0 && strcmp(w.lock_token, lock_token) == 0)
            return i;
    }
    return -1;
}

int scoreboard_ask(const char *lock_token, enum scoreboard_release what, unsigned *recorded)
{
    int i = holder_slot(lock_token), was;
    pid_t pid;

    if (i < 0)
        return 0;
    *recorded = __atomic_load_n(&board->slot[i].recorded, __ATOMIC_ACQUIRE);
    was = __atomic_load_n(&board->slot[i].release, __ATOMIC_RELAXED);
    while (was < (int)what &&
           !__atomic_compare_exchange_n(&board->slot[i].release, &was, (int)what, false,
                                        __ATOMIC_ACQ_REL, __ATOMIC_RELAXED))
        ;
    pid = __atomic_load_n(&board->slot[i].w.pid, __ATOMIC_RELAXED);
    return pid > 0 && kill(pid, SIGUSR2) == 0;
}

bool scoreboard_recorded_since(const char *lock_token, unsigned before)
{
    int i = holder_slot(lock_token);

    return i < 0 || __atomic_load_n(&board->slot[i].recorded, __ATOMIC_ACQUIRE) != before;
}

/* ---- admission ------------------------------------------------------ */

/* Give the request's place in its class back (a short request has none). */
void scoreboard_leave(void)
{
    if (self == NULL)
        return;
    __atomic_store_n(&self->link_key, 0, __ATOMIC_SEQ_CST);
    __atomic_store_n(&self->client_key, 0, __ATOMIC_SEQ_CST);
    __atomic_store_n(&self->cls, SB_CLASS_SHORT, __ATOMIC_SEQ_CST);
    __atomic_store_n(&self->held, HOLD_NONE, __ATOMIC_SEQ_CST);
}

bool scoreboard_hold_ended(void)
{
    return self != NULL && __atomic_load_n(&self->held, __ATOMIC_SEQ_CST) == HOLD_ENDED;
}

bool scoreboard_unhold(void)
{
    int was = HOLD_ON;

    return self == NULL || __atomic_compare_exchange_n(&self->held, &was, HOLD_NONE, false,
                                                       __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
}

/* A granted upload needs `want` places that held uploads occupy: ask that
 * many to end their holds (each place is taken by one asker only, by the
 * compare-and-swap), and wake them.  true when it got them all; a place
 * asked for stays counted until its worker leaves it, at once. */
static bool take_held_places(int want)
{
    for (int i = 0; i < SCOREBOARD_SLOTS && want > 0; i++) {
        struct slot *s = &board->slot[i];
        int was = HOLD_ON;
        pid_t pid;
        if (s == self || __atomic_load_n(&s->cls, __ATOMIC_SEQ_CST) != SB_CLASS_UPLOAD ||
            !__atomic_compare_exchange_n(&s->held, &was, HOLD_ENDED, false, __ATOMIC_SEQ_CST,
                                         __ATOMIC_SEQ_CST))
            continue;
        pid = __atomic_load_n(&s->w.pid, __ATOMIC_RELAXED);
        if (pid > 0)
            kill(pid, SIGUSR2);
        want--;
    }
    return want == 0;
}

/* The place is taken first and the pool counted after, every access
 * sequentially consistent: of two workers admitting at once, each sees the
 * other's place, so a cap is never exceeded (both may be refused, which
 * errs on the side of the short requests). */
bool scoreboard_admit(const struct scoreboard_admission *a)
{
    int same = 0, any = 0, client = 0, link = 0, held = 0, over;

    if (self == NULL || a->cls == SB_CLASS_SHORT)
        return true;
    __atomic_store_n(&self->held, a->held ? HOLD_ON : HOLD_NONE, __ATOMIC_SEQ_CST);
    __atomic_store_n(&self->client_key, a->client_key, __ATOMIC_SEQ_CST);
    __atomic_store_n(&self->link_key, a->link_key, __ATOMIC_SEQ_CST);
    __atomic_store_n(&self->cls, (int)a->cls, __ATOMIC_SEQ_CST);
    for (int i = 0; i < SCOREBOARD_SLOTS; i++) {
        const struct slot *s = &board->slot[i];
        int cls = __atomic_load_n(&s->cls, __ATOMIC_SEQ_CST);
        if (cls == SB_CLASS_SHORT)
            continue;
        any++;
        if (cls != (int)a->cls)
            continue;
        same++;
        held += s != self && __atomic_load_n(&s->held, __ATOMIC_SEQ_CST) == HOLD_ON;
        if (a->client_key != 0 &&
            __atomic_load_n(&s->client_key, __ATOMIC_SEQ_CST) == a->client_key)
            client++;
        if (a->link_key != 0 && __atomic_load_n(&s->link_key, __ATOMIC_SEQ_CST) == a->link_key)
            link++;
    }
    over = same - a->cap > any - a->long_cap ? same - a->cap : any - a->long_cap;
    if ((a->per_client > 0 && client > a->per_client) || (a->per_link > 0 && link > a->per_link) ||
        (over > 0 && (a->held || over > held || !take_held_places(over)))) {
        scoreboard_leave();
        return false;
    }
    return true;
}
