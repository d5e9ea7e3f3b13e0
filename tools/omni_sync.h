/*
 * Copyright (C) The omni gateway authors
 *
 * omni-sync (docs/cluster.md): what its files share.  omni_sync.c holds
 * main, the command line, the connection, the stream's set-up (a stream
 * made again) and the loop with its state file; omni_sync_publish.c
 * publishes the store's change log, its full resync (tombstones, the
 * current policy) and a node's full state; omni_sync_consume.c applies
 * the stream's messages (erasures audited, a consumer gone found out);
 * omni_sync_resync.c asks the other nodes for their full state when the
 * stream no longer holds what this node missed, and answers their
 * requests; omni_sync_journey.c (its own header) runs the journeys'
 * stream.
 */

#ifndef OMNI_SYNC_H_INCLUDED_
#define OMNI_SYNC_H_INCLUDED_


#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <nats/nats.h>

#include "omni_store.h"
#include "omni_sync_journey.h"


#define OMNI_SYNC_MAP_MAX     ((size_t) 1024 * 1024 * 1024)
#define OMNI_SYNC_BATCH       256       /* changes published, messages
                                           fetched per round */
#define OMNI_SYNC_FETCH_MS    20        /* a fetch's wait: the loop's tick */
#define OMNI_SYNC_CURSOR_MS   20        /* published cursor recorded */
#define OMNI_SYNC_SLOW_MS     1000      /* a step of the loop said slow */
#define OMNI_SYNC_BACKOFF_MIN 100
#define OMNI_SYNC_BACKOFF_MAX 5000
#define OMNI_SYNC_SUBJECT     "omni.changes"
#define OMNI_SYNC_STATUS      "/omni-sync.status"
#define OMNI_SYNC_DUP_WINDOW  ((int64_t) 600 * 1000 * 1000 * 1000)  /* ns */
#define OMNI_SYNC_SECRET_MAX  1024      /* bytes of a password or token */
#define OMNI_SYNC_JOURNEY_MAX 1000      /* as omni_journey_limits max= */
#define OMNI_SYNC_JOURNEY_AGE ((int64_t) 90 * 86400)   /* and age=, s */
#define OMNI_SYNC_JOURNEY_WAIT 250      /* ms, a journey stream API call */
#define OMNI_SYNC_RECORD_MAX  (OMNI_STORE_CASE_MSG_MAX                     \
                               > OMNI_STORE_SESSION_MSG_MAX                \
                               ? OMNI_STORE_CASE_MSG_MAX                   \
                               : OMNI_STORE_SESSION_MSG_MAX)

#define OMNI_SYNC_RESYNC_ASK  "omni.resync"       /* core: .<asker> */
#define OMNI_SYNC_RESYNC_DATA "omni.resync-data"  /* .<asker>.<request>
                                                     .<answerer> */
#define OMNI_SYNC_RESYNC_NODES  64      /* origins a request follows */
#define OMNI_SYNC_RESYNC_ASKS   4       /* requests answered per round */
#define OMNI_SYNC_RESYNC_WAIT   30      /* s, --resync-wait */
#define OMNI_SYNC_RESYNC_WAIT_MAX  3600


/* a full resync this node asked for (omni_sync_resync.c) */
typedef struct {
    uint64_t             request;        /* under way, 0: none */
    int                  want;           /* a new gap: ask again */
    int64_t              asked_at;       /* ms, monotonic */
    int64_t              logged_at;      /* ms: progress, once a second */
    int64_t              since;          /* ms, wall clock, recorded */
    natsSubscription    *answers;        /* the request's messages */
    uint64_t             received;       /* changes received */
    uint64_t             applied;        /* changes that changed the store */
    size_t               nodes;          /* origins known, then answered */
    char                 node[OMNI_SYNC_RESYNC_NODES][OMNI_STORE_ID_MAX + 1];
    unsigned char        answered[OMNI_SYNC_RESYNC_NODES];
    char                 outcome[256];   /* the last one's, for the status */
} omni_sync_resync_t;


typedef struct {
    const char          *dir;
    const char          *node;
    const char          *url;
    const char          *stream;
    const char          *creds;
    const char          *tls_ca;
    const char          *tls_cert;
    const char          *tls_key;
    const char          *keyring;
    const char          *user;
    const char          *password_file;
    const char          *token_file;
    const char          *case_digit;
    uint64_t             log_max;
    int64_t              stream_max;
    int64_t              journey_max;
    int64_t              journey_age;
    int64_t              resync_wait;    /* s: then the silent are named */

    omni_store_t        *st;
    omni_keyring_t      *kr;             /* a sealed store's, or NULL */
    natsOptions         *opts;
    natsConnection      *nc;
    jsCtx               *js;
    natsSubscription    *sub;
    natsSubscription    *asks;           /* other nodes' resync requests */
    char                 resync_stream[OMNI_STORE_ID_MAX + 8];
    omni_sync_resync_t   resync;
    char                 subject[sizeof(OMNI_SYNC_SUBJECT) + 1
                                 + OMNI_STORE_ID_MAX + 1];
    char                 durable[OMNI_STORE_ID_MAX + 8];

    int                  ready;          /* stream and consumer in place */
    int                  remake;         /* the consumer, from the cursor */
    int                  reconnected;    /* set by the client's thread */
    int                  backoff_ms;
    int64_t              retry_at;       /* ms, monotonic */
    uint64_t             pending;        /* stream messages not applied */
    uint64_t             applied;        /* the store's stream cursor */
    uint64_t             published_n;    /* counters of this run */
    uint64_t             applied_n;
    uint64_t             fetched_n;      /* messages fetches returned */
    int64_t              status_at;
    int64_t              caught_up_at;   /* s, recorded in the store */
    omni_sync_stall_t    stall;          /* the consumer still there and
                                            delivering to this node */
    char                 last_error[256];

    omni_sync_journey_t  journey;        /* journeys: a stream of their own */
} omni_sync_t;


void omni_sync_log(omni_sync_t *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
int64_t omni_sync_now_ms(void);
void omni_sync_failed(omni_sync_t *s, const char *what, natsStatus ns,
    jsErrCode jerr, int reset);
void omni_sync_write_status(omni_sync_t *s);
int omni_sync_publish(omni_sync_t *s);
int omni_sync_consume(omni_sync_t *s);
void omni_sync_audit(omni_sync_t *s, const omni_store_change_item_t *it);
int omni_sync_state_send(omni_sync_t *s, const char *subject,
    const char *idprefix, uint64_t seq, uint64_t *revocations,
    uint64_t *customers, uint64_t *sessions);
int omni_sync_resync_setup(omni_sync_t *s);
void omni_sync_resync_want(omni_sync_t *s, uint64_t from, uint64_t to);
int omni_sync_resync(omni_sync_t *s);
void omni_sync_resync_status(omni_sync_t *s, FILE *f);
void omni_sync_resync_close(omni_sync_t *s);


#endif /* OMNI_SYNC_H_INCLUDED_ */
