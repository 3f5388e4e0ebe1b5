/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * scoreboard.h - what every worker of this pool is doing, in memory shared
 * by the master and the workers (php-fpm's scoreboard).
 *
 * The master maps it before forking and gives each worker a slot.  A worker
 * writes only its own slot; the master reads them all to grow and shrink the
 * pool, the status page to show them, and a request that wants an upload
 * another worker is writing finds that worker here and asks it to let go.
 */
#ifndef BATCHUP_SCOREBOARD_H
#define BATCHUP_SCOREBOARD_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#define SCOREBOARD_SLOTS 2048 /* workers, old and new during a reload */

enum scoreboard_state {
    SB_FREE,      /* no worker */
    SB_STARTING,  /* forked, not accepting yet */
    SB_IDLE,      /* waiting for a connection */
    SB_READING,   /* reading a request's head */
    SB_HANDLING,  /* working on a request */
    SB_RECEIVING, /* receiving an upload's body */
    SB_SENDING,   /* sending a response */
    SB_QUEUED,    /* holding a queued upload's PATCH until its slot is granted */
};

/* What another request asks of a worker writing an upload (scoreboard_ask). */
enum scoreboard_release {
    SB_RELEASE_NONE,
    SB_RECORD,      /* a HEAD: record what arrived (durable), and go on */
    SB_RELEASE_NOW, /* a PATCH of the same upload: its client moved on */
};

/* A consistent copy of one slot. */
struct scoreboard_worker {
    pid_t pid;
    enum scoreboard_state state;
    double since;      /* clock_now() of the state change */
    double started;    /* of the process */
    double request_at; /* of the request (0: none) */
    double last_byte;  /* of the upload body being received */
    uint64_t requests; /* answered */
    uint64_t bytes_in, bytes_out;
    char method[8];
    char path[96]; /* download-link tokens masked */
    char user[64];
    char upload[37];     /* the file id being received */
    char lock_token[24]; /* the upload lock held, "" for none */
};

/* The master: map the scoreboard (once, before forking); pool_id is a
 * random name for this pool, part of every upload lock it takes. */
int scoreboard_init(void);
const char *scoreboard_pool_id(void);
/* The master: slot index is about to belong to a worker it forks (which
 * writes its pid in scoreboard_attach), or to nobody (after the reap: the
 * slot is cleared whole, its sequence even again, whatever the dead
 * worker left). */
void scoreboard_assign(int index);
void scoreboard_clear(int index);
/* A copy of slot index: consistent (retried while its worker writes), true;
 * or, after a bounded number of tries (its worker died or stopped in the
 * middle of a write), false with a copy that may be torn and whose state
 * is SB_HANDLING (unknown: busy).  Never waits longer than a few
 * milliseconds. */
bool scoreboard_read(int index, struct scoreboard_worker *out);
/* Connections accepted by every worker since the pool started. */
uint64_t scoreboard_accepted(void);

/* What the master knows of the pool as a whole, for the status page. */
struct scoreboard_pool {
    double started;       /* clock_now() when the master started */
    long listen_queue;    /* connections waiting to be accepted; -1 unknown */
    long listen_backlog;  /* the most that may wait; -1 unknown */
    uint64_t max_reached; /* times the pool was full while connections waited */
};

void scoreboard_pool_read(struct scoreboard_pool *out);
/* The master: the listening socket's queue, and one more time full. */
void scoreboard_pool_listen(long queue, long backlog);
void scoreboard_pool_max_reached(void);

/* The worker: its own slot (from the master's assign, after fork). */
void scoreboard_attach(int index);
void scoreboard_state(enum scoreboard_state state);
void scoreboard_request(const char *method, const char *path);
void scoreboard_user(const char *user);
void scoreboard_upload(const char *file_id, const char *lock_token);
void scoreboard_bytes(uint64_t in, uint64_t out);
void scoreboard_done(void); /* the request ended: idle again */
/* What another request asked of this worker (and forget it). */
enum scoreboard_release scoreboard_take_release(void);
/* This worker recorded its upload's progress (what SB_RECORD asked). */
void scoreboard_recorded(void);

/* ---- admission: long-running requests capped at a share of the pool ----
 *
 * A request that may hold its worker for as long as its client likes (an
 * upload body, a download, a batch body) belongs to a class; each class may
 * hold at most its cap of the pool's workers at once, and all of them
 * together at most long_cap, so that short requests (health, HEAD, claims,
 * status) always find a worker.  Optionally a request is also capped per
 * client (a download per address, a batch body per user) and per link
 * (keys: hashes of them; 0 = not counted). */
enum scoreboard_class {
    SB_CLASS_SHORT, /* everything else: never refused */
    SB_CLASS_UPLOAD,
    SB_CLASS_DOWNLOAD,
    SB_CLASS_BODY,
    SB_CLASS_COUNT,
};

struct scoreboard_admission {
    enum scoreboard_class cls;
    int cap;      /* workers this class may hold */
    int long_cap; /* workers every long class together may hold */
    uint64_t client_key, link_key;
    int per_client, per_link; /* 0: no cap */
    /* An upload held while its file waits in the queue (upload.c): it
     * counts in the class like any upload, but an upload whose slot is
     * granted that finds the class full takes the place of a held one,
     * which is asked to end its hold (see scoreboard_hold_ended). */
    bool held;
};

/* The worker: take a place for its request in the class, or refuse (the
 * caller answers 503): true admitted.  The place is given back by
 * scoreboard_leave once the answer is written (the router calls it), by
 * scoreboard_done at the latest, or by the master's clearing of a dead
 * worker's slot. */
bool scoreboard_admit(const struct scoreboard_admission *a);
void scoreboard_leave(void);
/* The worker holding a queued upload: has a granted upload taken its place
 * (end the hold now)? */
bool scoreboard_hold_ended(void);
/* The held upload's slot was granted: it is an upload like any other from
 * here.  false when its place was taken meanwhile (answer 503). */
bool scoreboard_unhold(void);

/* Another worker: ask the worker of this pool holding lock_token to record
 * or let go (SIGUSR2 wakes it).  1 asked, 0 no live worker holds it;
 * *recorded is its count of recordings so far (see scoreboard_recorded_since). */
int scoreboard_ask(const char *lock_token, enum scoreboard_release what, unsigned *recorded);
/* Has the worker holding lock_token recorded since its count was `before`
 * (or does no live worker hold it any more)? */
bool scoreboard_recorded_since(const char *lock_token, unsigned before);

#endif
