/*
 * Copyright (C) The omni gateway authors
 *
 * Journeys shared between nodes (omni_store.h, "Journeys between nodes";
 * docs/cluster.md): the journey log, apart from the change log so that a
 * burst of requests never holds a revocation back (a local event logged
 * in the transaction that appends it, the log read, trimmed and its
 * cursors kept), the strict decoder of a journey change, and the
 * application of the journey stream's messages with a cursor of their
 * own.  Journeys are a union: an event from another node is appended
 * where it arrives.
 *
 * Keys of the "changes" sub-database (omni_store_int.h):
 *   "j"<be64 seq>   a logged event, encoded as on the wire
 *   "n:journeys"    1, be64 last, be64 first, be64 published, be64 applied
 */


#include <stdint.h>
#include <string.h>

#include <lmdb.h>

#include "omni_store_int.h"


#define OMNI_JOURNEYS_STATE   "n:journeys"
#define OMNI_JOURNEYS_REC     'j'
#define OMNI_JOURNEYS_TRIM    16        /* old events deleted per append */


typedef struct {
    omni_store_change_item_t  *items;
    size_t                     n;
    const char                *node;
} omni_journeys_apply_t;


static int omni_journeys_state_get(omni_store_t *st, MDB_txn *txn,
    omni_store_journeys_state_t *s, int *found, char *err);
static int omni_journeys_enable_op(omni_store_t *st, MDB_txn *txn,
    void *data, char *err);
static int omni_journeys_state_put(omni_store_t *st, MDB_txn *txn,
    const omni_store_journeys_state_t *s, char *err);
static void omni_journeys_key(omni_sbuf_t *k, uint64_t seq);
static int omni_journeys_published_op(omni_store_t *st, MDB_txn *txn,
    void *data, char *err);
static int omni_journeys_apply_op(omni_store_t *st, MDB_txn *txn,
    void *data, char *err);
static int omni_journey_data_read(const omni_store_change_t *c,
    omni_store_journey_t *ev, char *err);
static int omni_journeys_item(void *out, size_t i, const unsigned char *rest,
    size_t len, const MDB_val *val);


/* a local event, in the transaction that appends it */

int
omni_store_journey_logged(omni_store_t *st, MDB_txn *txn,
    const char *customer, const omni_store_journey_t *ev, char *err)
{
    int                           rc, found;
    size_t                        len, i;
    omni_sbuf_t                   d;
    omni_skey_t                   k;
    omni_store_change_t           c;
    omni_store_journeys_state_t   s;
    unsigned char                 data[OMNI_STORE_JOURNEY_DATA_MAX];
    unsigned char                 rec[OMNI_STORE_JOURNEY_MSG_MAX];

    rc = omni_journeys_state_get(st, txn, &s, &found, err);

    /* a node that never synced keeps its journeys: one event a request */
    if (rc != OMNI_STORE_OK || !found) {
        return rc;
    }

    omni_sbuf_init(&d, data, sizeof(data));
    omni_sbuf_u8(&d, OMNI_STORE_REC_V1);
    omni_sbuf_be(&d, (uint64_t) ev->time_ms, 8);
    omni_sbuf_lstr(&d, ev->channel);
    omni_sbuf_lstr(&d, ev->action);
    omni_sbuf_lstr(&d, ev->outcome);
    omni_sbuf_lstr(&d, ev->session);

    /* a dispatched request's decision follows, as in the record */
    if (ev->pool[0] != '\0') {
        omni_sbuf_lstr(&d, ev->pool);
        omni_sbuf_lstr(&d, ev->rule);
        omni_sbuf_lstr(&d, ev->intent);
    }

    /* the origin is this node's: omni-sync names it when it publishes */
    memset(&c, 0, sizeof(omni_store_change_t));
    c.seq = s.last + 1;
    c.family = OMNI_STORE_FAMILY_JOURNEY;
    c.op = OMNI_STORE_CHANGE_PUT;
    c.time_ms = ev->time_ms;
    c.key_len = strlen(customer);
    memcpy(c.key, customer, c.key_len);
    c.data = data;
    c.data_len = d.len;

    if (d.overflow) {
        omni_err(err, "a journey event that does not fit a change");
        return OMNI_STORE_INVALID;
    }

    rc = omni_store_change_encode(&c, rec, sizeof(rec), &len, err);
    if (rc != OMNI_STORE_OK) {
        return rc;
    }

    omni_journeys_key(omni_skey_init(&k), c.seq);

    rc = omni_store_put(st, txn, OMNI_STORE_DB_CHANGES, &k.b, rec, len, 0,
                        err);
    if (rc != OMNI_STORE_OK) {
        return rc;
    }

    s.last = c.seq;

    /* the oldest go first: journeys are what a long absence loses */
    for (i = 0;
         i < OMNI_JOURNEYS_TRIM && s.first <= s.last
         && s.last - s.first + 1 > OMNI_STORE_JOURNEY_LOG_KEEP;
         i++)
    {
        omni_journeys_key(omni_skey_init(&k), s.first);

        rc = omni_store_del(st, txn, OMNI_STORE_DB_CHANGES, &k.b, err);
        if (rc != OMNI_STORE_OK && rc != OMNI_STORE_NOT_FOUND) {
            return rc;
        }

        s.first++;
    }

    return omni_journeys_state_put(st, txn, &s, err);
}


int
omni_store_journeys_enable(omni_store_t *st, char *err)
{
    return omni_store_write(st, omni_journeys_enable_op, NULL, err);
}


int
omni_store_journeys_state(omni_store_t *st,
    omni_store_journeys_state_t *state, char *err)
{
    int       rc, own, found;
    MDB_txn  *txn;

    rc = omni_store_rbegin(st, &txn, &own, err);
    if (rc != OMNI_STORE_OK) {
        return rc;
    }

    rc = omni_journeys_state_get(st, txn, state, &found, err);

    omni_store_rend(st, own);

    return rc;
}


int
omni_store_journeys_read(omni_store_t *st, uint64_t after,
    omni_store_journey_change_t *out, size_t max, size_t *n, char *err)
{
    int          rc, own;
    MDB_txn     *txn;
    omni_skey_t  prefix, start;

    *n = 0;

    if (after == UINT64_MAX) {
        return OMNI_STORE_OK;
    }

    omni_sbuf_u8(omni_skey_init(&prefix), OMNI_JOURNEYS_REC);
    omni_journeys_key(omni_skey_init(&start), after + 1);

    rc = omni_store_rbegin(st, &txn, &own, err);
    if (rc != OMNI_STORE_OK) {
        return rc;
    }

    rc = omni_store_walk(st, txn, OMNI_STORE_DB_CHANGES, &prefix.b, &start.b,
                         0, MDB_NEXT, max, omni_journeys_item, out, n, err);

    omni_store_rend(st, own);

    return rc;
}


int
omni_store_journeys_published(omni_store_t *st, uint64_t seq, char *err)
{
    return omni_store_write(st, omni_journeys_published_op, &seq, err);
}


int
omni_store_journeys_apply_batch(omni_store_t *st,
    omni_store_change_item_t *items, size_t n, char *err)
{
    int                          rc;
    omni_journeys_apply_t        ctx;
    omni_store_changes_state_t   cs;

    rc = omni_store_change_items_check(items, n, err);
    if (rc != OMNI_STORE_OK || n == 0) {
        return rc;
    }

    /* this node's own events come back: they are here already */
    rc = omni_store_changes_state(st, &cs, err);
    if (rc != OMNI_STORE_OK) {
        return rc;
    }

    ctx.items = items;
    ctx.n = n;
    ctx.node = cs.node;

    return omni_store_write(st, omni_journeys_apply_op, &ctx, err);
}


/* the wire decoder's check: a put of a customer id with its event */

int
omni_store_change_journey_check(const omni_store_change_t *c, char *err)
{
    omni_store_journey_t  ev;

    if (c->op != OMNI_STORE_CHANGE_PUT || c->val_len != 0
        || c->key_len > OMNI_STORE_ID_MAX
        || !omni_store_id_valid((const char *) c->key, c->key_len,
                                OMNI_STORE_ID_MAX))
    {
        omni_err(err, "a journey change that is not a put of a customer "
                       "id");
        return OMNI_STORE_INVALID;
    }

    return omni_journey_data_read(c, &ev, err);
}


static int
omni_journeys_published_op(omni_store_t *st, MDB_txn *txn, void *data,
    char *err)
{
    int                           rc, found;
    uint64_t                      seq;
    omni_store_journeys_state_t   s;

    seq = *(uint64_t *) data;

    rc = omni_journeys_state_get(st, txn, &s, &found, err);
    if (rc != OMNI_STORE_OK) {
        return rc;
    }

    if (seq > s.last) {
        omni_err(err, "journey event %llu was never logged",
                 (unsigned long long) seq);
        return OMNI_STORE_INVALID;
    }

    if (seq <= s.published) {
        return OMNI_STORE_OK;
    }

    s.published = seq;

    return omni_journeys_state_put(st, txn, &s, err);
}


static int
omni_journeys_apply_op(omni_store_t *st, MDB_txn *txn, void *data,
    char *err)
{
    int                           rc, refused, found;
    char                          customer[OMNI_STORE_ID_MAX + 1];
    char                          scratch[OMNI_ERRLEN];
    size_t                        i;
    omni_store_journey_t          ev;
    omni_journeys_apply_t        *ctx;
    omni_store_change_item_t     *it;
    omni_store_journeys_state_t   s;

    ctx = data;
    refused = 0;

    rc = omni_journeys_state_get(st, txn, &s, &found, err);
    if (rc != OMNI_STORE_OK) {
        return rc;
    }

    for (i = 0; i < ctx->n; i++) {
        it = &ctx->items[i];
        it->applied = 0;
        it->rc = OMNI_STORE_OK;

        /* a redelivery after a crash between the commit and the ack */
        if (it->stream_seq <= s.applied) {
            continue;
        }

        s.applied = it->stream_seq;

        if (it->change == NULL
            || (ctx->node[0] != '\0'
                && strcmp(it->change->origin, ctx->node) == 0))
        {
            continue;
        }

        rc = (it->change->family == OMNI_STORE_FAMILY_JOURNEY)
             ? omni_journey_data_read(it->change, &ev,
                                      refused ? scratch : err)
             : OMNI_STORE_INVALID;

        if (rc == OMNI_STORE_OK) {
            memcpy(customer, it->change->key, it->change->key_len);
            customer[it->change->key_len] = '\0';

            rc = omni_store_journey_put(st, txn, customer, &ev,
                                        refused ? scratch : err);

        } else if (it->change->family != OMNI_STORE_FAMILY_JOURNEY) {
            omni_err(refused ? scratch : err, "a change of family %d on the "
                     "journey stream", it->change->family);
        }

        if (rc == OMNI_STORE_INVALID) {
            it->rc = rc;
            refused = 1;
            continue;
        }

        if (rc != OMNI_STORE_OK) {
            return rc;
        }

        it->applied = 1;
    }

    return omni_journeys_state_put(st, txn, &s, err);
}


/* untrusted bytes (a NATS message), checked as an append checks them */
static int
omni_journey_data_read(const omni_store_change_t *c, omni_store_journey_t *ev,
    char *err)
{
    char        customer[OMNI_STORE_ID_MAX + 1];
    MDB_val     v;
    uint64_t    t;
    omni_srd_t  r;

    memset(ev, 0, sizeof(omni_store_journey_t));

    v.mv_data = (void *) c->data;
    v.mv_size = c->data_len;
    omni_srd_init(&r, &v);

    if (c->data_len == 0 || omni_srd_u8(&r) != OMNI_STORE_REC_V1) {
        r.bad = 1;
    }

    t = omni_srd_be(&r, 8);
    omni_srd_name(&r, ev->channel, OMNI_STORE_CHANNEL_MAX);
    omni_srd_name(&r, ev->action, OMNI_STORE_NAME_MAX);
    omni_srd_name(&r, ev->outcome, OMNI_STORE_NAME_MAX);
    omni_srd_name(&r, ev->session, OMNI_STORE_ID_MAX);

    if (!r.bad && r.pos < r.len) {
        omni_srd_name(&r, ev->pool, OMNI_STORE_NAME_MAX);
        omni_srd_name(&r, ev->rule, OMNI_STORE_NAME_MAX);
        omni_srd_name(&r, ev->intent, OMNI_STORE_INTENT_MAX);

        /* an empty pool would be read back as no decision */
        r.bad |= (ev->pool[0] == '\0');
    }

    if (r.bad || r.pos != r.len || t > INT64_MAX
        || c->key_len > OMNI_STORE_ID_MAX)
    {
        omni_err(err, "a journey change whose event is truncated or too "
                       "long");
        return OMNI_STORE_INVALID;
    }

    ev->time_ms = (int64_t) t;

    memcpy(customer, c->key, c->key_len);
    customer[c->key_len] = '\0';

    return omni_store_journey_check(customer, ev, err);
}


/* the journey log begins when omni-sync first runs on the store */
static int
omni_journeys_enable_op(omni_store_t *st, MDB_txn *txn, void *data,
    char *err)
{
    int                           rc, found;
    omni_store_journeys_state_t   s;

    (void) data;

    rc = omni_journeys_state_get(st, txn, &s, &found, err);
    if (rc != OMNI_STORE_OK || found) {
        return rc;
    }

    return omni_journeys_state_put(st, txn, &s, err);
}


static int
omni_journeys_state_get(omni_store_t *st, MDB_txn *txn,
    omni_store_journeys_state_t *s, int *found, char *err)
{
    int          rc;
    MDB_val      v;
    omni_srd_t   r;
    omni_skey_t  k;

    memset(s, 0, sizeof(omni_store_journeys_state_t));
    s->first = 1;
    *found = 0;

    omni_sbuf_str(omni_skey_init(&k), OMNI_JOURNEYS_STATE);

    rc = omni_store_get(st, txn, OMNI_STORE_DB_CHANGES, &k.b, &v, err);
    if (rc == OMNI_STORE_NOT_FOUND) {
        return OMNI_STORE_OK;
    }

    if (rc != OMNI_STORE_OK) {
        return rc;
    }

    *found = 1;

    omni_srd_init(&r, &v);

    if (omni_srd_u8(&r) != OMNI_STORE_REC_V1) {
        r.bad = 1;
    }

    s->last = omni_srd_be(&r, 8);
    s->first = omni_srd_be(&r, 8);
    s->published = omni_srd_be(&r, 8);
    s->applied = omni_srd_be(&r, 8);

    if (r.bad || r.pos != r.len || s->first == 0
        || s->first > s->last + 1 || s->published > s->last)
    {
        omni_err(err, "the journey log state of %s is one this build "
                       "cannot read", st->dir);
        return OMNI_STORE_ERROR;
    }

    return OMNI_STORE_OK;
}


static int
omni_journeys_state_put(omni_store_t *st, MDB_txn *txn,
    const omni_store_journeys_state_t *s, char *err)
{
    omni_sbuf_t    b;
    omni_skey_t    k;
    unsigned char  rec[1 + 4 * 8];

    omni_sbuf_init(&b, rec, sizeof(rec));
    omni_sbuf_u8(&b, OMNI_STORE_REC_V1);
    omni_sbuf_be(&b, s->last, 8);
    omni_sbuf_be(&b, s->first, 8);
    omni_sbuf_be(&b, s->published, 8);
    omni_sbuf_be(&b, s->applied, 8);

    omni_sbuf_str(omni_skey_init(&k), OMNI_JOURNEYS_STATE);

    return omni_store_put(st, txn, OMNI_STORE_DB_CHANGES, &k.b, b.p, b.len,
                          0, err);
}


/* rest: be64 seq; out: the events, copied out of the transaction */
static int
omni_journeys_item(void *out, size_t i, const unsigned char *rest,
    size_t len, const MDB_val *val)
{
    char                          err[OMNI_ERRLEN];
    omni_store_journey_change_t  *ev;

    ev = (omni_store_journey_change_t *) out + i;

    if (len != 8
        || omni_store_change_decode(val->mv_data, val->mv_size, &ev->c, err)
           != OMNI_STORE_OK
        || ev->c.seq != omni_be_get(rest, 8)
        || ev->c.family != OMNI_STORE_FAMILY_JOURNEY)
    {
        return -1;
    }

    memcpy(ev->data, ev->c.data, ev->c.data_len);
    ev->c.data = ev->data;

    return 0;
}


static void
omni_journeys_key(omni_sbuf_t *k, uint64_t seq)
{
    omni_sbuf_u8(k, OMNI_JOURNEYS_REC);
    omni_sbuf_be(k, seq, 8);
}
