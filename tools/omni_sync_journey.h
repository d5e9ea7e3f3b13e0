/*
 * Copyright (C) The omni gateway authors
 *
 * omni-sync's journeys (docs/cluster.md, "Journeys"): the node's journey
 * log published on a stream of their own, one subject per customer with
 * per-customer and age limits, and the other nodes' events applied with
 * a cursor of their own.  tools/omni_sync.c drives it from its loop.
 * What both streams share is here too: the stream and the durable
 * consumer made, a fetched batch read and acked, a consumer that stalls
 * found out.
 */


#ifndef OMNI_SYNC_JOURNEY_H_INCLUDED_
#define OMNI_SYNC_JOURNEY_H_INCLUDED_


#include <stdint.h>

#include <nats/nats.h>

#include "omni_store.h"


#define OMNI_SYNC_JOURNEY_SUBJECT  "omni.journey"
#define OMNI_SYNC_JOURNEY_DUPS     ((int64_t) 600 * 1000 * 1000 * 1000)
#define OMNI_SYNC_STALL_MS         6000   /* a consumer delivering elsewhere:
                                             its ack wait and a second */


/*
 * A consumer that holds messages for the node (not delivered yet, or
 * delivered and not acked) while the node's fetches return none for
 * OMNI_SYNC_STALL_MS (past its ack wait: a redelivery was due in it)
 * delivers elsewhere: to a pull request not the node's (another process
 * under its durable name) or one its client no longer reads
 * (docs/cluster.md).  Both loops look once a second, after a fetch that
 * found nothing, and make such a consumer again from the cursor: a
 * false alarm costs only that.
 */
typedef struct {
    int64_t              checked_at;     /* ms: the last look */
    int64_t              since;          /* ms: holding, none fetched since;
                                            0 when not */
    uint64_t             fetched;        /* the fetch count then */
    uint64_t             held;           /* what it held at the last look */
    int64_t              lasted;         /* ms: the last stall's length */
    uint64_t             n;              /* consumers made again for it */
} omni_sync_stall_t;

/*
 * 0 when the last look was under a second ago, else 1 with *ci the
 * consumer's info (the caller's to destroy), ns and jerr the lookup's
 */
int omni_sync_stall_look(omni_sync_stall_t *st, jsCtx *js,
    const char *stream, const char *durable, int64_t now,
    jsConsumerInfo **ci, natsStatus *ns, jsErrCode *jerr);

/* 1 when the consumer looked at must be made again (counted), else 0 */
int omni_sync_stalled(omni_sync_stall_t *st, const jsConsumerInfo *ci,
    uint64_t fetched, int64_t now);


typedef struct {
    /* set by the caller */
    omni_store_t        *st;
    jsCtx               *js;
    const char          *node;
    int64_t              max_per_customer;   /* messages, 0: no bound */
    int64_t              max_age;            /* s, 0: no bound */
    void               (*log)(void *data, const char *text);
    void                *log_data;
    char                 stream[OMNI_STORE_ID_MAX + 3];     /* <stream>_J */
    char                 durable[OMNI_STORE_ID_MAX + 16];   /* omni-<node>-j */

    /* its own, the caller's loop's state among them */
    natsSubscription    *sub;
    int                  ready;              /* stream, consumer in place */
    int                  remake;             /* the consumer, from the cursor */
    int                  backoff_ms;
    int64_t              retry_at;           /* ms, monotonic */
    uint64_t             published_n;        /* counters of this run */
    uint64_t             applied_n;
    uint64_t             fetched_n;
    omni_sync_stall_t    stall;
    char                 error[OMNI_ERRLEN + 64];  /* the last failure */
    char                 last_error[OMNI_ERRLEN + 64];   /* the one said */
} omni_sync_journey_t;


/*
 * Both streams' durable pull consumer, from the store's cursor applied:
 * one that acked past it, or any when remake is set, is made again
 * (remade, its ack_floor said); then a pull subscription on it in *sub
 * (an earlier one destroyed).  0, or -1 with what failed.
 */
typedef struct {
    jsCtx               *js;
    const char          *stream;
    const char          *durable;
    const char          *filter;
    uint64_t             applied;
    int                  remake;

    int                  remade;
    uint64_t             ack_floor;
    const char          *what;
    natsStatus           ns;
    jsErrCode            jerr;
} omni_sync_consumer_t;

int omni_sync_consumer(omni_sync_consumer_t *c, natsSubscription **sub);

/*
 * The stream name of subject, made when it is missing (file storage, a
 * duplicate window of 10 minutes, the limits given, 0: none; max_age in
 * s), else as it is; its info in *si
 */
natsStatus omni_sync_stream(jsCtx *js, const char *name,
    const char *subject, int64_t max_msgs, int64_t max_per_subject,
    int64_t max_age, jsStreamInfo **si, jsErrCode *jerr);

/* The stream sc describes, made when it is missing, else as it is */
natsStatus omni_sync_stream_add(jsCtx *js, jsStreamConfig *sc,
    jsStreamInfo **si, jsErrCode *jerr);

/*
 * A fetched list as a batch to apply, up to max: each message's stream
 * sequence and change in items (change NULL for one that cannot be read,
 * said through passed), a redelivery of an earlier message of the batch
 * acked alone, acks[i] the message of items[i], *pending the messages
 * the stream holds past the last one.  omni_sync_acked(), once the batch
 * is applied, says what the store refused, acks every message and counts
 * what was applied.
 */
typedef void (*omni_sync_passed_pt)(void *data, uint64_t seq,
    const char *why);

size_t omni_sync_batch(natsMsgList *list, omni_store_change_t *changes,
    omni_store_change_item_t *items, natsMsg **acks, size_t max,
    uint64_t *pending, omni_sync_passed_pt passed, void *data);
uint64_t omni_sync_acked(omni_store_change_item_t *items, natsMsg **acks,
    size_t n, omni_sync_passed_pt passed, void *data);


/*
 * The journeys' round in the caller's loop (now: ms, monotonic): set up,
 * published, fetched and applied, every 100 ms at most, backing off on
 * its own after a failure (said once through log)
 */
void omni_sync_journey_round(omni_sync_journey_t *j, int64_t now);

/* each 0, or -1 with the reason in j->error (the caller backs off) */
int omni_sync_journey_setup(omni_sync_journey_t *j);
int omni_sync_journey_publish(omni_sync_journey_t *j);
int omni_sync_journey_consume(omni_sync_journey_t *j, int64_t now);
void omni_sync_journey_close(omni_sync_journey_t *j);


#endif /* OMNI_SYNC_JOURNEY_H_INCLUDED_ */
