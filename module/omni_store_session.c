/*
 * Copyright (C) The omni gateway authors
 *
 * Sessions (omni_store.h, "sessions"): the session records, their
 * customer index and their idle and age expiry indexes; get, put, touch,
 * resume, context update, listing by customer, delete and purge.
 * omni_store_session_remove() is shared: a revoked session goes too.
 * Every local write is logged for the other nodes in its transaction
 * (omni_store_changes_session.c, which merges theirs in through
 * omni_store_session_set()).
 */


#include <stdint.h>
#include <string.h>

#include <jansson.h>
#include <lmdb.h>

#include "omni_store_int.h"


/* a session: version, nchannels, be16, two be64, then the strings */
#define OMNI_STORE_VAL_MAX                                                    \
    (20 + 1 + OMNI_STORE_ID_MAX                                               \
     + OMNI_STORE_CHANNELS * (1 + OMNI_STORE_CHANNEL_MAX)                     \
     + OMNI_STORE_CONTEXT_MAX + OMNI_SEAL_OVERHEAD)
#define OMNI_STORE_RESUME_SCAN 32       /* sessions of a customer looked at */

#define OMNI_IDX_CUSTOMER      0x01
#define OMNI_IDX_SEEN          0x02
#define OMNI_IDX_CREATED       0x04
#define OMNI_IDX_ALL           0x07

/* what omni_session_decode() does with a record's context */
#define OMNI_SESSION_OPEN      0        /* opens it where it is sealed */
#define OMNI_SESSION_RAW       1        /* leaves it: the rest only */
#define OMNI_SESSION_PLAIN     2        /* a plain record only: conversion */


typedef struct {
    const omni_store_session_t  *in;
} omni_session_put_t;


typedef struct {
    const char             *id;
    const char             *channel;
    int64_t                 now;
    int64_t                 min_interval;
    int                     wrote;
    omni_store_session_t   *s;
} omni_session_touch_t;


typedef struct {
    int64_t                 now;
    int64_t                 idle;
    int64_t                 absolute;
    size_t                  max;
    size_t                  purged;
} omni_session_purge_t;


typedef struct {
    const char             *customer;
    const char             *channel;
    int64_t                 now;
    int64_t                 idle;
    int64_t                 absolute;
    int64_t                 touch;
    const char             *new_id;
    omni_store_session_t   *s;
    int                     created;
} omni_session_resume_t;


typedef struct {
    const char             *id;
    omni_store_update_pt    update;
    void                   *data;
    omni_store_session_t   *s;
} omni_session_update_t;


static void omni_session_encode(const omni_store_session_t *s,
    unsigned version, const void *context, size_t context_len,
    omni_sbuf_t *b);
static int omni_session_decode(omni_store_t *st, MDB_txn *txn,
    const char *id, int mode, omni_store_session_t *s, char *err);
static int omni_session_index(omni_store_t *st, MDB_txn *txn,
    const omni_store_session_t *s, unsigned what, int add, char *err);
static int omni_session_store(omni_store_t *st, MDB_txn *txn,
    const omni_store_session_t *s, char *err);
static int omni_session_save(omni_store_t *st, MDB_txn *txn,
    const omni_store_session_t *s, int context, char *err);
static int omni_session_has_channel(const omni_store_session_t *s,
    const char *channel);
static int omni_session_needs_write(const omni_store_session_t *s,
    const char *channel, int64_t now, int64_t min_interval);
static int omni_session_put_op(omni_store_t *st, MDB_txn *txn, void *data,
    char *err);
static int omni_session_touch_op(omni_store_t *st, MDB_txn *txn, void *data,
    char *err);
static int omni_session_delete_op(omni_store_t *st, MDB_txn *txn,
    void *data, char *err);
static int omni_session_purge_op(omni_store_t *st, MDB_txn *txn, void *data,
    char *err);
static int omni_session_purge_index(omni_store_t *st, MDB_txn *txn,
    omni_session_purge_t *ctx, int tag, int64_t cutoff, char *err);
static int omni_session_find_live(omni_store_t *st, MDB_txn *txn,
    omni_session_resume_t *ctx, int *found, char *err);
static int omni_session_resume_op(omni_store_t *st, MDB_txn *txn,
    void *data, char *err);
static int omni_session_update_op(omni_store_t *st, MDB_txn *txn,
    void *data, char *err);
static int omni_session_id_item(void *out, size_t i,
    const unsigned char *rest, size_t len, const MDB_val *val);


/* sessions */

int
omni_store_session_get(omni_store_t *st, const char *id,
    omni_store_session_t *s, char *err)
{
    int       rc, own;
    MDB_txn  *txn;

    rc = omni_store_check_id("session id", id, OMNI_STORE_ID_MAX, err);
    if (rc != OMNI_STORE_OK) {
        return rc;
    }

    rc = omni_store_rbegin(st, &txn, &own, err);
    if (rc != OMNI_STORE_OK) {
        return rc;
    }

    rc = omni_store_session_load(st, txn, id, s, err);

    omni_store_rend(st, own);

    return rc;
}


int
omni_store_session_put(omni_store_t *st, const omni_store_session_t *s,
    char *err)
{
    int                 rc;
    omni_session_put_t  ctx;

    rc = omni_store_session_check(s, err);
    if (rc != OMNI_STORE_OK) {
        return rc;
    }

    ctx.in = s;

    return omni_store_write(st, omni_session_put_op, &ctx, err);
}


int
omni_store_session_touch(omni_store_t *st, const char *id,
    const char *channel, int64_t now, int64_t min_interval, int *wrote,
    omni_store_session_t *s, char *err)
{
    int                    rc, own;
    MDB_txn               *txn;
    omni_store_session_t  *cur, local;
    omni_session_touch_t   ctx;

    if (wrote != NULL) {
        *wrote = 0;
    }

    rc = omni_store_check_id("session id", id, OMNI_STORE_ID_MAX, err);
    if (rc == OMNI_STORE_OK) {
        rc = omni_store_check_id("channel", channel, OMNI_STORE_CHANNEL_MAX,
                                 err);
    }

    if (rc == OMNI_STORE_OK) {
        rc = omni_store_check_time("now", now, err);
    }

    if (rc == OMNI_STORE_OK) {
        rc = omni_store_check_time("minimum interval", min_interval, err);
    }

    if (rc != OMNI_STORE_OK) {
        return rc;
    }

    cur = (s != NULL) ? s : &local;

    /* most touches change nothing: decide under the read lock first */
    rc = omni_store_rbegin(st, &txn, &own, err);
    if (rc != OMNI_STORE_OK) {
        return rc;
    }

    rc = omni_store_session_load(st, txn, id, cur, err);

    omni_store_rend(st, own);

    if (rc != OMNI_STORE_OK) {
        return rc;
    }

    if (!omni_session_needs_write(cur, channel, now, min_interval)) {
        return OMNI_STORE_OK;
    }

    ctx.id = id;
    ctx.channel = channel;
    ctx.now = now;
    ctx.min_interval = min_interval;
    ctx.wrote = 0;
    ctx.s = cur;

    rc = omni_store_write(st, omni_session_touch_op, &ctx, err);

    if (rc == OMNI_STORE_OK && wrote != NULL) {
        *wrote = ctx.wrote;
    }

    return rc;
}


int
omni_store_session_delete(omni_store_t *st, const char *id, char *err)
{
    int  rc;

    rc = omni_store_check_id("session id", id, OMNI_STORE_ID_MAX, err);
    if (rc != OMNI_STORE_OK) {
        return rc;
    }

    return omni_store_write(st, omni_session_delete_op, (void *) id, err);
}


int
omni_store_sessions_by_customer(omni_store_t *st, const char *customer,
    const char *after, omni_store_id_t *ids, size_t max, size_t *n,
    char *err)
{
    int          rc, own;
    MDB_txn     *txn;
    omni_skey_t  prefix;

    *n = 0;

    rc = omni_store_check_id("customer id", customer, OMNI_STORE_ID_MAX,
                             err);
    if (rc == OMNI_STORE_OK && after != NULL) {
        rc = omni_store_check_id("session id", after, OMNI_STORE_ID_MAX,
                                 err);
    }

    if (rc != OMNI_STORE_OK) {
        return rc;
    }

    omni_key_customer(omni_skey_init(&prefix), customer, OMNI_TAG_SESSION);

    rc = omni_store_rbegin(st, &txn, &own, err);
    if (rc != OMNI_STORE_OK) {
        return rc;
    }

    rc = omni_store_scan(st, txn, OMNI_STORE_DB_CUSTOMERS, &prefix.b, after,
                         after != NULL ? strlen(after) : 0, max,
                         omni_session_id_item, ids, n, err);

    omni_store_rend(st, own);

    return rc;
}


int
omni_store_sessions_list(omni_store_t *st, const char *after,
    omni_store_id_t *ids, size_t max, size_t *n, char *err)
{
    int          rc, own;
    MDB_txn     *txn;
    omni_skey_t  start, all;

    *n = 0;

    if (after != NULL) {
        rc = omni_store_check_id("session id", after, OMNI_STORE_ID_MAX,
                                 err);
        if (rc != OMNI_STORE_OK) {
            return rc;
        }
    }

    /* from a NUL (an LMDB key is never empty), which no id holds */
    omni_sbuf_u8(omni_skey_init(&start), '\0');

    if (after != NULL) {
        omni_sbuf_init(&start.b, start.data, sizeof(start.data));
        omni_sbuf_str(&start.b, after);
    }

    omni_skey_init(&all);

    rc = omni_store_rbegin(st, &txn, &own, err);
    if (rc != OMNI_STORE_OK) {
        return rc;
    }

    rc = omni_store_walk(st, txn, OMNI_STORE_DB_SESSIONS, &all.b, &start.b,
                         after != NULL, MDB_NEXT, max, omni_session_id_item,
                         ids, n, err);

    omni_store_rend(st, own);

    return rc;
}


int
omni_store_session_purge(omni_store_t *st, int64_t now,
    int64_t idle_timeout, int64_t absolute_timeout, size_t max_batch,
    size_t *purged, char *err)
{
    int                   rc;
    omni_session_purge_t  ctx;

    *purged = 0;

    rc = omni_store_check_time("now", now, err);
    if (rc == OMNI_STORE_OK) {
        rc = omni_store_check_time("idle timeout", idle_timeout, err);
    }

    if (rc == OMNI_STORE_OK) {
        rc = omni_store_check_time("absolute timeout", absolute_timeout,
                                   err);
    }

    if (rc != OMNI_STORE_OK) {
        return rc;
    }

    if (max_batch == 0 || (idle_timeout == 0 && absolute_timeout == 0)) {
        return OMNI_STORE_OK;
    }

    ctx.now = now;
    ctx.idle = idle_timeout;
    ctx.absolute = absolute_timeout;
    ctx.max = max_batch;
    ctx.purged = 0;

    rc = omni_store_write(st, omni_session_purge_op, &ctx, err);

    if (rc == OMNI_STORE_OK) {
        *purged = ctx.purged;
    }

    return rc;
}


int
omni_store_session_resume(omni_store_t *st, const char *customer,
    const char *channel, int64_t now, int64_t idle, int64_t absolute,
    int64_t touch_interval, const char *new_id, omni_store_session_t *s,
    int *created, char *err)
{
    int                    rc, own, found;
    MDB_txn               *txn;
    omni_session_resume_t  ctx;

    *created = 0;

    rc = omni_store_check_id("customer id", customer, OMNI_STORE_ID_MAX,
                             err);
    if (rc == OMNI_STORE_OK) {
        rc = omni_store_check_id("channel", channel, OMNI_STORE_CHANNEL_MAX,
                                 err);
    }

    if (rc == OMNI_STORE_OK) {
        rc = omni_store_check_id("session id", new_id, OMNI_STORE_ID_MAX,
                                 err);
    }

    if (rc == OMNI_STORE_OK) {
        rc = omni_store_check_time("now", now, err);
    }

    if (rc == OMNI_STORE_OK) {
        rc = omni_store_check_time("idle timeout", idle, err);
    }

    if (rc == OMNI_STORE_OK) {
        rc = omni_store_check_time("absolute timeout", absolute, err);
    }

    if (rc == OMNI_STORE_OK) {
        rc = omni_store_check_time("touch interval", touch_interval, err);
    }

    if (rc != OMNI_STORE_OK) {
        return rc;
    }

    if (idle == 0) {
        omni_err(err, "the idle timeout must be positive");
        return OMNI_STORE_INVALID;
    }

    ctx.customer = customer;
    ctx.channel = channel;
    ctx.now = now;
    ctx.idle = idle;
    ctx.absolute = absolute;
    ctx.touch = touch_interval;
    ctx.new_id = new_id;
    ctx.s = s;
    ctx.created = 0;

    /* a request within the touch interval of the last one only reads */
    rc = omni_store_rbegin(st, &txn, &own, err);
    if (rc != OMNI_STORE_OK) {
        return rc;
    }

    rc = omni_session_find_live(st, txn, &ctx, &found, err);

    omni_store_rend(st, own);

    if (rc != OMNI_STORE_OK) {
        return rc;
    }

    if (found && !omni_session_needs_write(s, channel, now, touch_interval)) {
        return OMNI_STORE_OK;
    }

    rc = omni_store_write(st, omni_session_resume_op, &ctx, err);

    if (rc == OMNI_STORE_OK) {
        *created = ctx.created;
    }

    return rc;
}


int
omni_store_session_update(omni_store_t *st, const char *id,
    omni_store_update_pt update, void *data, omni_store_session_t *s,
    char *err)
{
    int                    rc;
    omni_store_session_t   local;
    omni_session_update_t  ctx;

    rc = omni_store_check_id("session id", id, OMNI_STORE_ID_MAX, err);
    if (rc != OMNI_STORE_OK) {
        return rc;
    }

    ctx.id = id;
    ctx.update = update;
    ctx.data = data;
    ctx.s = (s != NULL) ? s : &local;

    return omni_store_write(st, omni_session_update_op, &ctx, err);
}


/*
 * The most recently seen live session of the customer, among the first
 * OMNI_STORE_RESUME_SCAN of them in id order: a customer has few at a
 * time and the purge removes the dead ones.
 */
static int
omni_session_find_live(omni_store_t *st, MDB_txn *txn,
    omni_session_resume_t *ctx, int *found, char *err)
{
    int                    rc;
    size_t                 i, n;
    omni_skey_t            prefix;
    omni_store_id_t        ids[OMNI_STORE_RESUME_SCAN];
    omni_store_session_t   cand;

    *found = 0;
    n = 0;

    omni_key_customer(omni_skey_init(&prefix), ctx->customer,
                      OMNI_TAG_SESSION);

    rc = omni_store_scan(st, txn, OMNI_STORE_DB_CUSTOMERS, &prefix.b, NULL,
                         0, OMNI_STORE_RESUME_SCAN, omni_session_id_item,
                         ids, &n, err);
    if (rc != OMNI_STORE_OK) {
        return rc;
    }

    for (i = 0; i < n; i++) {
        rc = omni_store_session_load(st, txn, ids[i].id, &cand, err);

        if (rc == OMNI_STORE_NOT_FOUND) {
            continue;
        }

        if (rc != OMNI_STORE_OK) {
            return rc;
        }

        if (ctx->now - cand.last_seen >= ctx->idle
            || (ctx->absolute > 0 && ctx->now - cand.created >= ctx->absolute))
        {
            continue;
        }

        if (!*found || cand.last_seen > ctx->s->last_seen) {
            *ctx->s = cand;
            *found = 1;
        }
    }

    return OMNI_STORE_OK;
}


static int
omni_session_resume_op(omni_store_t *st, MDB_txn *txn, void *data,
    char *err)
{
    int                     rc, found, erased;
    omni_store_session_t   *s;
    omni_session_resume_t  *ctx;

    ctx = data;
    s = ctx->s;
    ctx->created = 0;

    /* another worker may have created or touched it since the read */
    rc = omni_session_find_live(st, txn, ctx, &found, err);
    if (rc != OMNI_STORE_OK) {
        return rc;
    }

    if (!found) {
        /* a request that resolved before an erasure makes nothing after */
        rc = omni_store_erased(st, txn, ctx->customer, &erased, err);
        if (rc != OMNI_STORE_OK) {
            return rc;
        }

        if (erased) {
            omni_err(err, "customer %s was erased", ctx->customer);
            return OMNI_STORE_NOT_FOUND;
        }

        memset(s, 0, sizeof(omni_store_session_t));
        memcpy(s->id, ctx->new_id, strlen(ctx->new_id) + 1);
        memcpy(s->customer, ctx->customer, strlen(ctx->customer) + 1);
        memcpy(s->channels[0], ctx->channel, strlen(ctx->channel) + 1);
        s->nchannels = 1;
        s->created = ctx->now;
        s->last_seen = ctx->now;

        rc = omni_session_save(st, txn, s, 0, err);
        if (rc == OMNI_STORE_OK) {
            rc = omni_session_index(st, txn, s, OMNI_IDX_ALL, 1, err);
        }

        if (rc == OMNI_STORE_OK) {
            ctx->created = 1;
        }

        return rc;
    }

    if (!omni_session_needs_write(s, ctx->channel, ctx->now, ctx->touch)) {
        return OMNI_STORE_OK;
    }

    /* a session past OMNI_STORE_CHANNELS channels just stops listing them */
    if (!omni_session_has_channel(s, ctx->channel)
        && s->nchannels < OMNI_STORE_CHANNELS)
    {
        memcpy(s->channels[s->nchannels], ctx->channel,
               strlen(ctx->channel) + 1);
        s->nchannels++;
    }

    if (ctx->now > s->last_seen) {
        rc = omni_session_index(st, txn, s, OMNI_IDX_SEEN, 0, err);
        if (rc != OMNI_STORE_OK) {
            return rc;
        }

        s->last_seen = ctx->now;

        rc = omni_session_index(st, txn, s, OMNI_IDX_SEEN, 1, err);
        if (rc != OMNI_STORE_OK) {
            return rc;
        }
    }

    return omni_session_save(st, txn, s, 0, err);
}


static int
omni_session_update_op(omni_store_t *st, MDB_txn *txn, void *data,
    char *err)
{
    int                     rc;
    char                    out[OMNI_STORE_CONTEXT_MAX + 1];
    size_t                  len;
    omni_store_session_t   *s;
    omni_session_update_t  *ctx;

    ctx = data;
    s = ctx->s;

    rc = omni_store_session_load(st, txn, ctx->id, s, err);
    if (rc != OMNI_STORE_OK) {
        return rc;
    }

    s->context[s->context_len] = '\0';
    len = 0;

    rc = ctx->update(ctx->data, s->context, s->context_len, out, &len, err);
    if (rc != OMNI_STORE_OK) {
        return rc;
    }

    if (len > OMNI_STORE_CONTEXT_MAX) {
        omni_err(err, "the context of session %s would be %zu bytes, "
                       "more than %d", ctx->id, len, OMNI_STORE_CONTEXT_MAX);
        return OMNI_STORE_INVALID;
    }

    memcpy(s->context, out, len);
    s->context[len] = '\0';
    s->context_len = len;

    return omni_session_save(st, txn, s, 1, err);
}


int
omni_store_session_check(const omni_store_session_t *s, char *err)
{
    int           rc;
    unsigned      i, j;
    json_t       *json;
    json_error_t  jerr;

    rc = omni_store_check_id("session id", s->id, OMNI_STORE_ID_MAX, err);
    if (rc != OMNI_STORE_OK) {
        return rc;
    }

    if (s->customer[0] != '\0') {
        rc = omni_store_check_id("customer id", s->customer,
                                 OMNI_STORE_ID_MAX, err);
        if (rc != OMNI_STORE_OK) {
            return rc;
        }
    }

    rc = omni_store_check_time("created", s->created, err);
    if (rc == OMNI_STORE_OK) {
        rc = omni_store_check_time("last_seen", s->last_seen, err);
    }

    if (rc != OMNI_STORE_OK) {
        return rc;
    }

    if (s->nchannels > OMNI_STORE_CHANNELS) {
        omni_err(err, "session %s has more than %d channels", s->id,
                       OMNI_STORE_CHANNELS);
        return OMNI_STORE_INVALID;
    }

    for (i = 0; i < s->nchannels; i++) {
        rc = omni_store_check_id("channel", s->channels[i],
                                 OMNI_STORE_CHANNEL_MAX, err);
        if (rc != OMNI_STORE_OK) {
            return rc;
        }

        for (j = 0; j < i; j++) {
            if (strcmp(s->channels[i], s->channels[j]) == 0) {
                omni_err(err, "session %s lists channel %s twice",
                               s->id, s->channels[i]);
                return OMNI_STORE_INVALID;
            }
        }
    }

    if (s->context_len == 0) {
        return OMNI_STORE_OK;
    }

    if (s->context_len > OMNI_STORE_CONTEXT_MAX) {
        omni_err(err, "context of session %s is longer than %d bytes",
                       s->id, OMNI_STORE_CONTEXT_MAX);
        return OMNI_STORE_INVALID;
    }

    if (memchr(s->context, '\0', s->context_len) != NULL) {
        omni_err(err, "context of session %s holds a NUL byte", s->id);
        return OMNI_STORE_INVALID;
    }

    json = json_loadb(s->context, s->context_len, JSON_REJECT_DUPLICATES,
                      &jerr);
    if (json == NULL) {
        omni_err(err, "context of session %s is not JSON: %s", s->id,
                       jerr.text);
        return OMNI_STORE_INVALID;
    }

    rc = json_is_object(json);
    json_decref(json);

    if (!rc) {
        omni_err(err, "context of session %s is not a JSON object",
                       s->id);
        return OMNI_STORE_INVALID;
    }

    return OMNI_STORE_OK;
}


static void
omni_session_encode(const omni_store_session_t *s, unsigned version,
    const void *context, size_t context_len, omni_sbuf_t *b)
{
    unsigned  i;

    omni_sbuf_u8(b, version);
    omni_sbuf_u8(b, s->nchannels);
    omni_sbuf_be(b, context_len, 2);
    omni_sbuf_be(b, (uint64_t) s->created, 8);
    omni_sbuf_be(b, (uint64_t) s->last_seen, 8);
    omni_sbuf_lstr(b, s->customer);

    for (i = 0; i < s->nchannels; i++) {
        omni_sbuf_lstr(b, s->channels[i]);
    }

    omni_sbuf_add(b, context, context_len);
}


int
omni_store_session_load(omni_store_t *st, MDB_txn *txn, const char *id,
    omni_store_session_t *s, char *err)
{
    return omni_session_decode(st, txn, id, OMNI_SESSION_OPEN, s, err);
}


/*
 * A sealed store holds sealed records (version 2) only, a plain store
 * plain ones (version 1): a record of the other kind is refused, never
 * taken for what it is not.
 */
static int
omni_session_decode(omni_store_t *st, MDB_txn *txn, const char *id,
    int mode, omni_store_session_t *s, char *err)
{
    int            rc;
    char           sealed[OMNI_STORE_CONTEXT_MAX + OMNI_SEAL_OVERHEAD + 1];
    size_t         ctxlen, max;
    unsigned       i, version, want;
    MDB_val        val;
    omni_srd_t     r;
    omni_skey_t    key;

    omni_sbuf_str(omni_skey_init(&key), id);

    rc = omni_store_get(st, txn, OMNI_STORE_DB_SESSIONS, &key.b, &val, err);
    if (rc == OMNI_STORE_NOT_FOUND) {
        omni_err(err, "session %s not found", id);
    }

    if (rc != OMNI_STORE_OK) {
        return rc;
    }

    memset(s, 0, sizeof(omni_store_session_t));
    omni_srd_init(&r, &val);

    version = omni_srd_u8(&r);
    want = (st->sealed && mode != OMNI_SESSION_PLAIN) ? OMNI_STORE_REC_SEALED
                                                     : OMNI_STORE_REC_V1;
    max = (version == OMNI_STORE_REC_SEALED)
          ? OMNI_STORE_CONTEXT_MAX + OMNI_SEAL_OVERHEAD : OMNI_STORE_CONTEXT_MAX;

    s->nchannels = omni_srd_u8(&r);
    ctxlen = (size_t) omni_srd_be(&r, 2);
    s->created = (int64_t) omni_srd_be(&r, 8);
    s->last_seen = (int64_t) omni_srd_be(&r, 8);
    omni_srd_lstr(&r, s->customer, OMNI_STORE_ID_MAX);

    if (version != want || s->nchannels > OMNI_STORE_CHANNELS) {
        r.bad = 1;
    }

    for (i = 0; !r.bad && i < s->nchannels; i++) {
        omni_srd_lstr(&r, s->channels[i], OMNI_STORE_CHANNEL_MAX);
    }

    omni_srd_bytes(&r, ctxlen, sealed, max);

    if (r.bad || r.pos != r.len) {
        omni_err(err, "session %s has a record this %s cannot read "
                       "(version %u)", id,
                       st->sealed ? "sealed store" : "build", version);
        return OMNI_STORE_ERROR;
    }

    memcpy(s->id, id, strlen(id) + 1);

    if (version == OMNI_STORE_REC_V1 || ctxlen == 0) {
        memcpy(s->context, sealed, ctxlen + 1);
        s->context_len = ctxlen;
        return OMNI_STORE_OK;
    }

    if (mode == OMNI_SESSION_RAW) {
        return OMNI_STORE_OK;
    }

    rc = omni_store_open_rec(st, txn, s->customer, "session", id, strlen(id),
                             (unsigned char *) sealed, ctxlen,
                             (unsigned char *) s->context, &s->context_len,
                             err);

    if (rc == OMNI_STORE_OK && (s->context_len > OMNI_STORE_CONTEXT_MAX
                                || memchr(s->context, '\0', s->context_len)))
    {
        omni_err(err, "session %s has a context this build cannot read",
                 id);
        rc = OMNI_STORE_ERROR;
    }

    if (rc != OMNI_STORE_OK) {
        memset(s->context, 0, sizeof(s->context));
        s->context_len = 0;
        return rc;
    }

    s->context[s->context_len] = '\0';

    return OMNI_STORE_OK;
}


static int
omni_session_index(omni_store_t *st, MDB_txn *txn,
    const omni_store_session_t *s, unsigned what, int add, char *err)
{
    int          i, rc, db;
    omni_skey_t  key;
    omni_sbuf_t *k;

    for (i = 0; i < 3; i++) {
        k = omni_skey_init(&key);

        if (i == 0 && (what & OMNI_IDX_CUSTOMER) && s->customer[0] != '\0') {
            omni_key_customer(k, s->customer, OMNI_TAG_SESSION);
            omni_sbuf_str(k, s->id);
            db = OMNI_STORE_DB_CUSTOMERS;

        } else if (i == 1 && (what & OMNI_IDX_SEEN)) {
            omni_key_expiry(k, OMNI_EXP_SEEN, s->last_seen, s->id);
            db = OMNI_STORE_DB_EXPIRY;

        } else if (i == 2 && (what & OMNI_IDX_CREATED)) {
            omni_key_expiry(k, OMNI_EXP_CREATED, s->created, s->id);
            db = OMNI_STORE_DB_EXPIRY;

        } else {
            continue;
        }

        if (add) {
            rc = omni_store_put(st, txn, db, k, "", 0, 0, err);

        } else {
            rc = omni_store_del(st, txn, db, k, err);
            if (rc == OMNI_STORE_NOT_FOUND) {
                rc = OMNI_STORE_OK;
            }
        }

        if (rc != OMNI_STORE_OK) {
            return rc;
        }
    }

    return OMNI_STORE_OK;
}


static int
omni_session_store(omni_store_t *st, MDB_txn *txn,
    const omni_store_session_t *s, char *err)
{
    int            rc;
    unsigned char  data[OMNI_STORE_VAL_MAX];
    unsigned char  sealed[OMNI_STORE_CONTEXT_MAX + OMNI_SEAL_OVERHEAD];
    omni_sbuf_t    val;
    omni_skey_t    key;

    omni_sbuf_init(&val, data, sizeof(data));

    if (!st->sealed) {
        rc = omni_store_plain_check(st, txn, err);
        if (rc != OMNI_STORE_OK) {
            return rc;
        }

        omni_session_encode(s, OMNI_STORE_REC_V1, s->context, s->context_len,
                            &val);

    } else if (s->context_len == 0) {
        omni_session_encode(s, OMNI_STORE_REC_SEALED, "", 0, &val);

    } else {
        if (s->context_len > OMNI_STORE_CONTEXT_MAX) {
            omni_err(err, "context of session %s is longer than %d bytes",
                     s->id, OMNI_STORE_CONTEXT_MAX);
            return OMNI_STORE_INVALID;
        }

        rc = omni_store_seal_rec(st, txn, s->customer, "session", s->id,
                                 strlen(s->id), s->context, s->context_len,
                                 sealed, err);
        if (rc != OMNI_STORE_OK) {
            return rc;
        }

        omni_session_encode(s, OMNI_STORE_REC_SEALED, sealed,
                            s->context_len + OMNI_SEAL_OVERHEAD, &val);
    }

    if (val.overflow) {
        omni_err(err, "session %s does not fit a record", s->id);
        return OMNI_STORE_INVALID;
    }

    omni_sbuf_str(omni_skey_init(&key), s->id);

    return omni_store_put(st, txn, OMNI_STORE_DB_SESSIONS, &key.b, val.p,
                          val.len, 0, err);
}


/*
 * A local write: stored and, in the same transaction, logged for the
 * other nodes (context: the context was written, its version too)
 */
static int
omni_session_save(omni_store_t *st, MDB_txn *txn,
    const omni_store_session_t *s, int context, char *err)
{
    int  rc;

    rc = omni_session_store(st, txn, s, err);
    if (rc != OMNI_STORE_OK) {
        return rc;
    }

    return omni_store_session_logged(st, txn, s->id, context, err);
}


static int
omni_session_has_channel(const omni_store_session_t *s, const char *channel)
{
    unsigned  i;

    for (i = 0; i < s->nchannels && i < OMNI_STORE_CHANNELS; i++) {
        if (strcmp(s->channels[i], channel) == 0) {
            return 1;
        }
    }

    return 0;
}


static int
omni_session_needs_write(const omni_store_session_t *s, const char *channel,
    int64_t now, int64_t min_interval)
{
    if (!omni_session_has_channel(s, channel)) {
        return 1;
    }

    return now > s->last_seen && now - s->last_seen >= min_interval;
}


static int
omni_session_put_op(omni_store_t *st, MDB_txn *txn, void *data, char *err)
{
    int                  rc;
    omni_session_put_t  *ctx;

    ctx = data;

    rc = omni_store_session_set(st, txn, ctx->in, err);
    if (rc != OMNI_STORE_OK) {
        return rc;
    }

    return omni_store_session_logged(st, txn, ctx->in->id, 1, err);
}


/* s written over the session of its id, if any, with its indexes */

int
omni_store_session_set(omni_store_t *st, MDB_txn *txn,
    const omni_store_session_t *s, char *err)
{
    int                    rc;
    omni_store_session_t   old;

    rc = omni_store_session_load(st, txn, s->id, &old, err);

    if (rc == OMNI_STORE_OK) {
        rc = omni_session_index(st, txn, &old, OMNI_IDX_ALL, 0, err);

    } else if (rc == OMNI_STORE_NOT_FOUND) {
        rc = OMNI_STORE_OK;
    }

    if (rc == OMNI_STORE_OK) {
        rc = omni_session_store(st, txn, s, err);
    }

    if (rc == OMNI_STORE_OK) {
        rc = omni_session_index(st, txn, s, OMNI_IDX_ALL, 1, err);
    }

    return rc;
}


static int
omni_session_touch_op(omni_store_t *st, MDB_txn *txn, void *data, char *err)
{
    int                    rc;
    omni_store_session_t  *s;
    omni_session_touch_t  *ctx;

    ctx = data;
    s = ctx->s;
    ctx->wrote = 0;

    /* another process may have written since the read */
    rc = omni_store_session_load(st, txn, ctx->id, s, err);
    if (rc != OMNI_STORE_OK) {
        return rc;
    }

    if (!omni_session_needs_write(s, ctx->channel, ctx->now,
                                  ctx->min_interval))
    {
        return OMNI_STORE_OK;
    }

    if (!omni_session_has_channel(s, ctx->channel)) {
        if (s->nchannels >= OMNI_STORE_CHANNELS) {
            omni_err(err, "session %s has seen %d channels already",
                           s->id, OMNI_STORE_CHANNELS);
            return OMNI_STORE_INVALID;
        }

        memcpy(s->channels[s->nchannels], ctx->channel,
               strlen(ctx->channel) + 1);
        s->nchannels++;
    }

    if (ctx->now > s->last_seen) {
        rc = omni_session_index(st, txn, s, OMNI_IDX_SEEN, 0, err);
        if (rc != OMNI_STORE_OK) {
            return rc;
        }

        s->last_seen = ctx->now;

        rc = omni_session_index(st, txn, s, OMNI_IDX_SEEN, 1, err);
        if (rc != OMNI_STORE_OK) {
            return rc;
        }
    }

    rc = omni_session_save(st, txn, s, 0, err);
    if (rc == OMNI_STORE_OK) {
        ctx->wrote = 1;
    }

    return rc;
}


static int
omni_session_delete_op(omni_store_t *st, MDB_txn *txn, void *data, char *err)
{
    return omni_store_session_remove(st, txn, data, err);
}


int
omni_store_session_remove(omni_store_t *st, MDB_txn *txn, const char *id,
    char *err)
{
    int                   rc;
    omni_skey_t           key;
    omni_store_session_t  s;

    /* no key is needed to delete: an erased customer's sessions go too */
    rc = omni_session_decode(st, txn, id, OMNI_SESSION_RAW, &s, err);
    if (rc != OMNI_STORE_OK) {
        return rc;
    }

    rc = omni_session_index(st, txn, &s, OMNI_IDX_ALL, 0, err);
    if (rc == OMNI_STORE_OK) {
        rc = omni_store_version_del(st, txn, OMNI_STORE_FAMILY_SESSION, id,
                                   err);
    }

    if (rc != OMNI_STORE_OK) {
        return rc;
    }

    omni_sbuf_str(omni_skey_init(&key), id);

    return omni_store_del(st, txn, OMNI_STORE_DB_SESSIONS, &key.b, err);
}


/* every session of a plain store, rewritten with its context sealed */

int
omni_store_session_reseal(omni_store_t *st, MDB_txn *txn, char *err)
{
    int                    rc;
    size_t                 i, n;
    omni_skey_t            start, all;
    omni_store_id_t        ids[OMNI_STORE_CHUNK];
    omni_store_session_t   s;

    /*
     * The records are rewritten in place: the keys stay, so a walk goes,
     * from a NUL (an LMDB key is never empty), which no id holds
     */
    omni_sbuf_u8(omni_skey_init(&start), '\0');
    omni_skey_init(&all);

    do {
        n = 0;

        rc = omni_store_walk(st, txn, OMNI_STORE_DB_SESSIONS, &all.b,
                             &start.b, start.b.p[0] != '\0', MDB_NEXT,
                             OMNI_STORE_CHUNK, omni_session_id_item, ids, &n,
                             err);

        for (i = 0; rc == OMNI_STORE_OK && i < n; i++) {
            rc = omni_session_decode(st, txn, ids[i].id, OMNI_SESSION_PLAIN,
                                     &s, err);
            if (rc == OMNI_STORE_OK) {
                rc = omni_session_store(st, txn, &s, err);
            }
        }

        if (n > 0) {
            omni_sbuf_init(&start.b, start.data, sizeof(start.data));
            omni_sbuf_str(&start.b, ids[n - 1].id);
        }

    } while (rc == OMNI_STORE_OK && n == OMNI_STORE_CHUNK);

    memset(&s, 0, sizeof(s));

    return rc;
}


static int
omni_session_purge_op(omni_store_t *st, MDB_txn *txn, void *data, char *err)
{
    int                    rc;
    omni_session_purge_t  *ctx;

    ctx = data;
    ctx->purged = 0;

    if (ctx->idle > 0 && ctx->now >= ctx->idle) {
        rc = omni_session_purge_index(st, txn, ctx, OMNI_EXP_SEEN,
                                      ctx->now - ctx->idle, err);
        if (rc != OMNI_STORE_OK) {
            return rc;
        }
    }

    if (ctx->absolute > 0 && ctx->now >= ctx->absolute) {
        rc = omni_session_purge_index(st, txn, ctx, OMNI_EXP_CREATED,
                                      ctx->now - ctx->absolute, err);
        if (rc != OMNI_STORE_OK) {
            return rc;
        }
    }

    return OMNI_STORE_OK;
}


/*
 * Removes the sessions whose index time (last_seen or created) is at or
 * before cutoff, oldest first, until ctx->max are gone.  Index keys are
 * collected a chunk at a time and deleted after the cursor is closed.
 */
static int
omni_session_purge_index(omni_store_t *st, MDB_txn *txn,
    omni_session_purge_t *ctx, int tag, int64_t cutoff, char *err)
{
    int              rc, mrc;
    char             ids[OMNI_STORE_CHUNK][OMNI_STORE_ID_MAX + 1];
    size_t           i, n, idlen, budget;
    int64_t          times[OMNI_STORE_CHUNK];
    uint64_t         t;
    MDB_val          k, v;
    MDB_cursor      *cur;
    omni_skey_t      key;
    unsigned char    start;
    unsigned char   *p;

    start = (unsigned char) tag;

    /* every index key looked at costs one, whether a session went or not */
    budget = ctx->max - ctx->purged;

    while (budget > 0) {
        mrc = mdb_cursor_open(txn, st->dbi[OMNI_STORE_DB_EXPIRY], &cur);
        if (mrc != 0) {
            return omni_store_mdb(st, mrc, "mdb_cursor_open", err);
        }

        k.mv_data = &start;
        k.mv_size = 1;
        n = 0;

        mrc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);

        while (mrc == 0 && n < OMNI_STORE_CHUNK && n < budget) {
            p = k.mv_data;

            if (k.mv_size == 0 || p[0] != start) {
                break;
            }

            idlen = k.mv_size - 9;

            if (k.mv_size < 10 || idlen > OMNI_STORE_ID_MAX) {
                mdb_cursor_close(cur);
                omni_err(err, "store %s holds a malformed expiry key",
                               st->dir);
                return OMNI_STORE_ERROR;
            }

            t = omni_be_get(p + 1, 8);
            if (t > (uint64_t) cutoff) {
                break;
            }

            times[n] = (int64_t) t;
            memcpy(ids[n], p + 9, idlen);
            ids[n][idlen] = '\0';
            n++;

            mrc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
        }

        mdb_cursor_close(cur);

        if (mrc != 0 && mrc != MDB_NOTFOUND) {
            return omni_store_mdb(st, mrc, "mdb_cursor_get", err);
        }

        if (n == 0) {
            break;
        }

        budget -= n;

        for (i = 0; i < n; i++) {
            /* the key found goes even if the record disagrees with it */
            omni_key_expiry(omni_skey_init(&key), tag, times[i], ids[i]);

            rc = omni_store_del(st, txn, OMNI_STORE_DB_EXPIRY, &key.b, err);

            if (rc == OMNI_STORE_NOT_FOUND) {
                /*
                 * Gone with a session purged earlier in this chunk, whose
                 * index held a stale entry too (an import over it)
                 */
                continue;
            }

            if (rc == OMNI_STORE_OK) {
                rc = omni_store_session_remove(st, txn, ids[i], err);

                if (rc == OMNI_STORE_OK) {
                    ctx->purged++;

                } else if (rc == OMNI_STORE_NOT_FOUND) {
                    rc = OMNI_STORE_OK;
                }
            }

            if (rc != OMNI_STORE_OK) {
                return rc;
            }
        }

        /* a chunk that ended short found everything due */
        if (n < OMNI_STORE_CHUNK && budget > 0) {
            break;
        }
    }

    return OMNI_STORE_OK;
}


static int
omni_session_id_item(void *out, size_t i, const unsigned char *rest,
    size_t len, const MDB_val *val)
{
    omni_store_id_t  *ids;

    (void) val;

    if (len == 0 || len > OMNI_STORE_ID_MAX) {
        return -1;
    }

    ids = out;
    memcpy(ids[i].id, rest, len);
    ids[i].id[len] = '\0';

    return 0;
}
