/*
 * Copyright (C) The omni gateway authors
 *
 * Journeys (omni_store.h, "journeys"): a customer's events in time
 * order, appended one at a time or in batches of several customers,
 * trimmed by count and age, read newest first page by page.  An event of
 * a dispatched request also holds the pool, the rule and the intent; the
 * record of one that was not is as it always was.  Every local event is
 * logged for the other nodes in its transaction
 * (omni_store_changes_journey.c).
 */


#include <stdint.h>
#include <string.h>

#include <lmdb.h>

#include "omni_store_int.h"


#define OMNI_STORE_JKEY_EXTRA  14       /* \0, be64 time, \0, be32 seq */


typedef struct {
    const char             *customer;
    omni_store_journey_t   *ev;
    size_t                  max_count;
    int64_t                 max_age;
} omni_journey_op_t;


typedef struct {
    omni_store_journey_item_t  *items;
    size_t                      n;
    size_t                      max_count;
    int64_t                     max_age;
    size_t                      skipped;
} omni_journey_many_t;


typedef int (*omni_journey_write_pt)(omni_store_t *st, omni_store_op_pt op,
    void *data, char *err);


static int omni_journey_append_batch(omni_store_t *st,
    omni_store_journey_item_t *items, size_t n, size_t max_count,
    int64_t max_age_ms, size_t *skipped, omni_journey_write_pt write,
    char *err);
static int omni_journey_append_run(omni_store_t *st, MDB_txn *txn,
    omni_store_journey_item_t *items, size_t n, size_t max_count,
    int64_t max_age, int log, char *err);
static int omni_journey_many_op(omni_store_t *st, MDB_txn *txn, void *data,
    char *err);
static int omni_journey_append_op(omni_store_t *st, MDB_txn *txn, void *data,
    char *err);
static int omni_journey_seq(omni_store_t *st, MDB_txn *txn,
    const omni_sbuf_t *prefix, int64_t t, uint32_t *seq, char *err);
static int omni_journey_trim(omni_store_t *st, MDB_txn *txn,
    const omni_sbuf_t *prefix, int64_t cutoff, size_t max_count,
    uint32_t *count, char *err);
static int omni_journey_item(void *out, size_t i, const unsigned char *p,
    size_t len, const MDB_val *v);


/* journeys */

int
omni_store_journey_append(omni_store_t *st, const char *customer,
    omni_store_journey_t *ev, size_t max_count, int64_t max_age_ms,
    char *err)
{
    int                rc;
    omni_journey_op_t  ctx;

    rc = omni_store_journey_check(customer, ev, err);
    if (rc == OMNI_STORE_OK) {
        rc = omni_store_check_time("maximum age", max_age_ms, err);
    }

    if (rc != OMNI_STORE_OK) {
        return rc;
    }

    ctx.customer = customer;
    ctx.ev = ev;
    ctx.max_count = max_count;
    ctx.max_age = max_age_ms;

    return omni_store_write(st, omni_journey_append_op, &ctx, err);
}


int
omni_store_journey_append_many(omni_store_t *st,
    omni_store_journey_item_t *items, size_t n, size_t max_count,
    int64_t max_age_ms, size_t *skipped, char *err)
{
    return omni_journey_append_batch(st, items, n, max_count, max_age_ms,
                                     skipped, omni_store_write, err);
}


int
omni_store_journey_append_detached(omni_store_t *st,
    omni_store_journey_item_t *items, size_t n, size_t max_count,
    int64_t max_age_ms, size_t *skipped, char *err)
{
    return omni_journey_append_batch(st, items, n, max_count, max_age_ms,
                                     skipped, omni_store_write_detached, err);
}


static int
omni_journey_append_batch(omni_store_t *st, omni_store_journey_item_t *items,
    size_t n, size_t max_count, int64_t max_age_ms, size_t *skipped,
    omni_journey_write_pt write, char *err)
{
    int                  rc;
    omni_journey_many_t  ctx;

    if (skipped != NULL) {
        *skipped = 0;
    }

    rc = omni_store_check_time("maximum age", max_age_ms, err);
    if (rc != OMNI_STORE_OK) {
        return rc;
    }

    if (n == 0) {
        return OMNI_STORE_OK;
    }

    ctx.items = items;
    ctx.n = n;
    ctx.max_count = max_count;
    ctx.max_age = max_age_ms;
    ctx.skipped = 0;

    rc = write(st, omni_journey_many_op, &ctx, err);

    if (rc == OMNI_STORE_OK && skipped != NULL) {
        *skipped = ctx.skipped;
    }

    return rc;
}


static int
omni_journey_many_op(omni_store_t *st, MDB_txn *txn, void *data, char *err)
{
    int                   rc;
    char                  ignored[OMNI_ERRLEN];
    size_t                i, run;
    omni_journey_many_t  *ctx;

    ctx = data;
    ctx->skipped = 0;

    /* events that cannot be stored are left out, at the front of a run */
    for (i = 0; i < ctx->n; i += run) {
        if (omni_store_journey_check(ctx->items[i].customer, ctx->items[i].ev,
                               ignored)
            != OMNI_STORE_OK)
        {
            ctx->skipped++;
            run = 1;
            continue;
        }

        /* a run: consecutive valid events of the same customer */
        for (run = 1; i + run < ctx->n; run++) {
            if (strcmp(ctx->items[i + run].customer, ctx->items[i].customer)
                != 0
                || omni_store_journey_check(ctx->items[i + run].customer,
                                      ctx->items[i + run].ev, ignored)
                   != OMNI_STORE_OK)
            {
                break;
            }
        }

        rc = omni_journey_append_run(st, txn, ctx->items + i, run,
                                     ctx->max_count, ctx->max_age, 1, err);
        if (rc != OMNI_STORE_OK) {
            return rc;
        }
    }

    return OMNI_STORE_OK;
}


int
omni_store_journey_read(omni_store_t *st, const char *customer,
    const omni_store_cursor_t *before, omni_store_journey_t *out, size_t max,
    size_t *n, char *err)
{
    int          rc, own;
    MDB_txn     *txn;
    omni_skey_t  prefix, start;

    *n = 0;

    rc = omni_store_check_id("customer id", customer, OMNI_STORE_ID_MAX,
                             err);
    if (rc == OMNI_STORE_OK && before != NULL) {
        rc = omni_store_check_time("cursor time", before->time_ms, err);
    }

    if (rc != OMNI_STORE_OK) {
        return rc;
    }

    omni_sbuf_str(omni_skey_init(&prefix), customer);
    omni_sbuf_u8(&prefix.b, '\0');

    /* the first key past the ones wanted: the event before, or the end */
    omni_skey_init(&start);

    if (before != NULL) {
        omni_key_journey(&start.b, customer, before->time_ms, before->seq);

    } else {
        omni_sbuf_add(&start.b, prefix.b.p, prefix.b.len);
        omni_sbuf_u8(&start.b, 0xff);
    }

    rc = omni_store_rbegin(st, &txn, &own, err);
    if (rc != OMNI_STORE_OK) {
        return rc;
    }

    rc = omni_store_walk(st, txn, OMNI_STORE_DB_JOURNEYS, &prefix.b,
                         &start.b, 1, MDB_PREV, max, omni_journey_item, out,
                         n, err);

    omni_store_rend(st, own);

    return rc;
}


int
omni_store_journey_add(omni_store_t *st, MDB_txn *txn, const char *customer,
    omni_store_journey_t *ev, char *err)
{
    int                         rc;
    omni_store_journey_item_t   item;

    rc = omni_store_journey_check(customer, ev, err);
    if (rc != OMNI_STORE_OK) {
        return rc;
    }

    item.customer = customer;
    item.ev = ev;

    return omni_journey_append_run(st, txn, &item, 1, 0, 0, 1, err);
}


/* an event from another node: not logged again, the count bound left to
 * this node's next append */

int
omni_store_journey_put(omni_store_t *st, MDB_txn *txn, const char *customer,
    omni_store_journey_t *ev, char *err)
{
    omni_store_journey_item_t   item;

    item.customer = customer;
    item.ev = ev;

    return omni_journey_append_run(st, txn, &item, 1, 0, 0, 0, err);
}


int
omni_store_journey_check(const char *customer, const omni_store_journey_t *ev,
    char *err)
{
    int  rc;

    rc = omni_store_check_id("customer id", customer, OMNI_STORE_ID_MAX,
                             err);
    if (rc == OMNI_STORE_OK) {
        rc = omni_store_check_time("event time", ev->time_ms, err);
    }

    if (rc == OMNI_STORE_OK) {
        rc = omni_store_check_id("channel", ev->channel,
                                 OMNI_STORE_CHANNEL_MAX, err);
    }

    if (rc == OMNI_STORE_OK) {
        rc = omni_store_check_text("action", ev->action, OMNI_STORE_NAME_MAX,
                                   err);
    }

    if (rc == OMNI_STORE_OK) {
        rc = omni_store_check_text("outcome", ev->outcome,
                                   OMNI_STORE_NAME_MAX, err);
    }

    if (rc == OMNI_STORE_OK && ev->session[0] != '\0') {
        rc = omni_store_check_id("session id", ev->session,
                                 OMNI_STORE_ID_MAX, err);
    }

    if (rc != OMNI_STORE_OK || ev->pool[0] == '\0') {
        if (rc == OMNI_STORE_OK && (ev->rule[0] != '\0'
                                    || ev->intent[0] != '\0'))
        {
            omni_err(err, "a rule or an intent without a pool");
            rc = OMNI_STORE_INVALID;
        }

        return rc;
    }

    rc = omni_store_check_text("pool", ev->pool, OMNI_STORE_NAME_MAX, err);

    if (rc == OMNI_STORE_OK) {
        rc = omni_store_check_text("rule", ev->rule, OMNI_STORE_NAME_MAX,
                                   err);
    }

    if (rc == OMNI_STORE_OK && ev->intent[0] != '\0') {
        rc = omni_store_check_text("intent", ev->intent,
                                   OMNI_STORE_INTENT_MAX, err);
    }

    return rc;
}


static int
omni_journey_append_op(omni_store_t *st, MDB_txn *txn, void *data,
    char *err)
{
    omni_journey_op_t          *ctx;
    omni_store_journey_item_t   item;

    ctx = data;
    item.customer = ctx->customer;
    item.ev = ctx->ev;

    return omni_journey_append_run(st, txn, &item, 1, ctx->max_count,
                                   ctx->max_age, 1, err);
}


/*
 * Appends events of one customer: each gets its sequence number and its
 * record (and, log set, a change for the other nodes); the customer's
 * event count is read, the oldest events trimmed and the count written
 * once for the whole run.
 */
static int
omni_journey_append_run(omni_store_t *st, MDB_txn *txn,
    omni_store_journey_item_t *items, size_t n, size_t max_count,
    int64_t max_age, int log, char *err)
{
    int                    rc;
    size_t                 i, deleted;
    int64_t                cutoff, last_time;
    uint32_t               seq, count, before;
    MDB_val                val;
    omni_sbuf_t            b;
    omni_skey_t            key, prefix;
    const char            *customer;
    unsigned char          rec[1 + 6 * (1 + OMNI_STORE_NAME_MAX)
                               + 1 + OMNI_STORE_INTENT_MAX];
    omni_store_journey_t  *ev;

    customer = items[0].customer;

    omni_sbuf_str(omni_skey_init(&prefix), customer);
    omni_sbuf_u8(&prefix.b, '\0');

    last_time = -1;
    seq = 0;

    for (i = 0; i < n; i++) {
        ev = items[i].ev;

        /* events in the same millisecond follow each other in the run */
        if (ev->time_ms == last_time && seq < UINT32_MAX) {
            seq++;

        } else {
            rc = omni_journey_seq(st, txn, &prefix.b, ev->time_ms, &seq,
                                  err);
            if (rc != OMNI_STORE_OK) {
                return rc;
            }
        }

        last_time = ev->time_ms;

        omni_sbuf_init(&b, rec, sizeof(rec));
        omni_sbuf_u8(&b, OMNI_STORE_REC_V1);
        omni_sbuf_lstr(&b, ev->channel);
        omni_sbuf_lstr(&b, ev->action);
        omni_sbuf_lstr(&b, ev->outcome);
        omni_sbuf_lstr(&b, ev->session);

        if (ev->pool[0] != '\0') {
            omni_sbuf_lstr(&b, ev->pool);
            omni_sbuf_lstr(&b, ev->rule);
            omni_sbuf_lstr(&b, ev->intent);
        }

        omni_key_journey(omni_skey_init(&key), customer, ev->time_ms, seq);

        rc = omni_store_put(st, txn, OMNI_STORE_DB_JOURNEYS, &key.b, b.p,
                            b.len, MDB_NOOVERWRITE, err);
        if (rc == OMNI_STORE_OK && log) {
            rc = omni_store_journey_logged(st, txn, customer, ev, err);
        }

        if (rc != OMNI_STORE_OK) {
            return rc;
        }

        ev->seq = seq;
    }

    /* the event count lives with the customer */
    omni_key_customer(omni_skey_init(&key), customer, OMNI_TAG_JOURNEY);

    rc = omni_store_get(st, txn, OMNI_STORE_DB_CUSTOMERS, &key.b, &val, err);

    if (rc == OMNI_STORE_OK) {
        if (val.mv_size != 5
            || ((unsigned char *) val.mv_data)[0] != OMNI_STORE_REC_V1)
        {
            omni_err(err, "journey count of customer %s has a record "
                           "this build cannot read", customer);
            return OMNI_STORE_ERROR;
        }

        count = (uint32_t) omni_be_get((unsigned char *) val.mv_data + 1, 4);

    } else if (rc == OMNI_STORE_NOT_FOUND) {
        count = 0;

    } else {
        return rc;
    }

    count = (count > UINT32_MAX - n) ? UINT32_MAX : count + (uint32_t) n;

    cutoff = -1;

    if (max_age > 0 && items[n - 1].ev->time_ms >= max_age) {
        cutoff = items[n - 1].ev->time_ms - max_age;
    }

    /* each round deletes at most OMNI_STORE_TRIM_BATCH: one per event */
    for (deleted = 0; deleted < n * OMNI_STORE_TRIM_BATCH; /* void */) {
        before = count;

        rc = omni_journey_trim(st, txn, &prefix.b, cutoff, max_count, &count,
                               err);
        if (rc != OMNI_STORE_OK) {
            return rc;
        }

        if (before - count < OMNI_STORE_TRIM_BATCH) {
            break;
        }

        deleted += before - count;
    }

    omni_sbuf_init(&b, rec, sizeof(rec));
    omni_sbuf_u8(&b, OMNI_STORE_REC_V1);
    omni_sbuf_be(&b, count, 4);

    return omni_store_put(st, txn, OMNI_STORE_DB_CUSTOMERS, &key.b, b.p,
                          b.len, 0, err);
}


/* the next sequence number for an event of the customer at time t */
static int
omni_journey_seq(omni_store_t *st, MDB_txn *txn, const omni_sbuf_t *prefix,
    int64_t t, uint32_t *seq, char *err)
{
    int            rc, at;
    MDB_val        k;
    omni_skey_t    last;
    unsigned char *p;

    *seq = 0;

    omni_sbuf_init(&last.b, last.data, sizeof(last.data));
    omni_sbuf_add(&last.b, prefix->p, prefix->len);
    omni_sbuf_be(&last.b, (uint64_t) t, 8);
    omni_sbuf_u8(&last.b, '\0');
    omni_sbuf_be(&last.b, UINT32_MAX, 4);

    rc = omni_store_before(st, txn, OMNI_STORE_DB_JOURNEYS, &last.b, &k, &at,
                           err);
    if (rc != OMNI_STORE_OK) {
        return rc;
    }

    if (at) {
        omni_err(err, "too many journey events in one millisecond");
        return OMNI_STORE_INVALID;
    }

    /* the same customer and millisecond: one more than the last */
    if (k.mv_size == last.b.len
        && memcmp(k.mv_data, last.b.p, last.b.len - 4) == 0)
    {
        p = k.mv_data;
        *seq = (uint32_t) omni_be_get(p + k.mv_size - 4, 4) + 1;
    }

    return OMNI_STORE_OK;
}


/*
 * Deletes the oldest events of the customer, at most OMNI_STORE_TRIM_BATCH
 * of them, while more than max_count remain (0: no bound) or their time
 * is at or before cutoff (-1: no bound).
 */
static int
omni_journey_trim(omni_store_t *st, MDB_txn *txn, const omni_sbuf_t *prefix,
    int64_t cutoff, size_t max_count, uint32_t *count, char *err)
{
    int          mrc;
    size_t       n, len;
    int64_t      t;
    MDB_val      k, v;
    MDB_cursor  *cur;

    if (max_count == 0 && cutoff < 0) {
        return OMNI_STORE_OK;
    }

    mrc = mdb_cursor_open(txn, st->dbi[OMNI_STORE_DB_JOURNEYS], &cur);
    if (mrc != 0) {
        return omni_store_mdb(st, mrc, "mdb_cursor_open", err);
    }

    k.mv_data = prefix->p;
    k.mv_size = prefix->len;
    n = 0;
    len = prefix->len + OMNI_STORE_JKEY_EXTRA - 1;

    mrc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);

    /*
     * Deleted where the cursor stands, not looked up again by key: after
     * a deletion MDB_NEXT gives the record that took the deleted one's
     * place.
     */
    while (mrc == 0 && n < OMNI_STORE_TRIM_BATCH) {
        if (k.mv_size != len
            || memcmp(k.mv_data, prefix->p, prefix->len) != 0)
        {
            break;
        }

        t = (int64_t) omni_be_get((unsigned char *) k.mv_data + prefix->len,
                                  8);

        if (!((max_count > 0 && *count - n > max_count)
              || (cutoff >= 0 && t <= cutoff)))
        {
            break;
        }

        mrc = mdb_cursor_del(cur, 0);
        if (mrc != 0) {
            mdb_cursor_close(cur);
            return omni_store_mdb(st, mrc, "mdb_cursor_del", err);
        }

        n++;

        mrc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
    }

    mdb_cursor_close(cur);

    *count = (*count > n) ? *count - (uint32_t) n : 0;

    if (mrc != 0 && mrc != MDB_NOTFOUND) {
        return omni_store_mdb(st, mrc, "mdb_cursor_get", err);
    }

    return OMNI_STORE_OK;
}


/* rest: be64 time, \0, be32 seq; out: the events */
static int
omni_journey_item(void *out, size_t i, const unsigned char *p, size_t len,
    const MDB_val *v)
{
    omni_srd_t             r;
    omni_store_journey_t  *ev;

    if (len != OMNI_STORE_JKEY_EXTRA - 1) {
        return -1;
    }

    ev = (omni_store_journey_t *) out + i;

    memset(ev, 0, sizeof(omni_store_journey_t));
    ev->time_ms = (int64_t) omni_be_get(p, 8);
    ev->seq = (uint32_t) omni_be_get(p + 9, 4);

    omni_srd_init(&r, v);

    if (omni_srd_u8(&r) != OMNI_STORE_REC_V1) {
        return -1;
    }

    omni_srd_lstr(&r, ev->channel, OMNI_STORE_CHANNEL_MAX);
    omni_srd_lstr(&r, ev->action, OMNI_STORE_NAME_MAX);
    omni_srd_lstr(&r, ev->outcome, OMNI_STORE_NAME_MAX);
    omni_srd_lstr(&r, ev->session, OMNI_STORE_ID_MAX);

    /* a dispatched request's decision follows */
    if (!r.bad && r.pos < r.len) {
        omni_srd_lstr(&r, ev->pool, OMNI_STORE_NAME_MAX);
        omni_srd_lstr(&r, ev->rule, OMNI_STORE_NAME_MAX);
        omni_srd_lstr(&r, ev->intent, OMNI_STORE_INTENT_MAX);
    }

    return (r.bad || r.pos != r.len) ? -1 : 0;
}
