/*
 * Copyright (C) The omni gateway authors
 *
 * The change log (omni_store.h, "The change log"; docs/cluster.md): the
 * local changes a record family (revocations, policy revisions, identity
 * links and merges; sessions: omni_store_changes_session.c, cases:
 * omni_store_changes_case.c) appends in its own write transaction
 * (omni_store_change_log()), their reading and trimming, the state and
 * cursors omni-sync keeps (and the stream its applied cursor counts in),
 * the encoding of a change on the wire and its
 * strict decoder, and the application of a change from another node,
 * which is never logged again.
 *
 * Keys of the "changes" sub-database:
 *   "c"<be64 seq>   a change, encoded as on the wire
 *   "s"             1, be64 last, be64 first, be64 max, be64 published,
 *                   be64 applied, be64 policy_local, be64 caught_up,
 *                   len node
 *   "t"             1, be64 created (ns), len name: the stream that
 *                   "applied" counts in
 *   "u"...          unlink tombstones (omni_store_changes_unlink.c)
 *   "r"             1, be64 request, be64 since: a full resync wanted
 *                   since (ms, 0: none), asked as request (kept, so that
 *                   the next request gets a new number)
 */


#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <lmdb.h>

#include "omni_store_int.h"


#define OMNI_CHANGES_TRIM     16       /* old changes deleted per append */
#define OMNI_CHANGES_STATE    "s"
#define OMNI_CHANGES_STREAM   "t"
#define OMNI_CHANGES_RESYNC   "r"
#define OMNI_CHANGES_REC      'c'
#define OMNI_CHANGES_STATE_MAX  (1 + 7 * 8 + 1 + OMNI_STORE_ID_MAX)


typedef struct {
    omni_store_change_item_t    *items;
    size_t                       n;
    int                          resync;   /* no cursor to move */
} omni_changes_apply_t;


typedef struct {
    uint64_t                     value;
    const char                  *node;
    int                          what;
} omni_changes_set_t;


typedef struct {
    const char                  *name;
    int64_t                      created;
    int                          made_again;
} omni_changes_stream_t;


enum {
    OMNI_CHANGES_SET_LIMIT = 1,
    OMNI_CHANGES_SET_NODE,
    OMNI_CHANGES_SET_PUBLISHED,
    OMNI_CHANGES_SET_CAUGHT_UP,
    OMNI_CHANGES_SET_RESYNC,
    OMNI_CHANGES_SET_RESYNC_DONE
};


static int omni_changes_state_get(omni_store_t *st, MDB_txn *txn,
    omni_store_changes_state_t *s, char *err);
static int omni_changes_state_put(omni_store_t *st, MDB_txn *txn,
    const omni_store_changes_state_t *s, char *err);
static int omni_changes_trim(omni_store_t *st, MDB_txn *txn,
    omni_store_changes_state_t *s, size_t budget, char *err);
static int omni_changes_set_op(omni_store_t *st, MDB_txn *txn, void *data,
    char *err);
static int omni_changes_apply_op(omni_store_t *st, MDB_txn *txn, void *data,
    char *err);
static int omni_changes_resync_get(omni_store_t *st, MDB_txn *txn,
    omni_store_changes_state_t *s, char *err);
static int omni_changes_resync_put(omni_store_t *st, MDB_txn *txn,
    const omni_store_changes_state_t *s, char *err);
static void omni_changes_key(omni_sbuf_t *k, uint64_t seq);
static int omni_changes_stream_op(omni_store_t *st, MDB_txn *txn,
    void *data, char *err);
static int omni_changes_stream_read(omni_store_t *st, MDB_txn *txn,
    char *name, int64_t *created, char *err);
static size_t omni_changes_data_max(int family);


/* called by a record family inside its write transaction */

int
omni_store_change_log(omni_store_t *st, MDB_txn *txn, int family, int op,
    const void *key, size_t key_len, const void *val, size_t val_len,
    char *err)
{
    int                          rc;
    size_t                       len;
    omni_skey_t                  k;
    struct timespec              ts;
    omni_store_change_t          c;
    omni_store_changes_state_t   s;
    unsigned char                rec[OMNI_STORE_CHANGE_WIRE_MAX];

    if (key_len == 0 || key_len > OMNI_STORE_CHANGE_KEY_MAX
        || val_len > OMNI_STORE_CHANGE_VAL_MAX)
    {
        omni_err(err, "a change of %zu key and %zu value bytes cannot be "
                       "logged", key_len, val_len);
        return OMNI_STORE_INVALID;
    }

    rc = omni_changes_state_get(st, txn, &s, err);
    if (rc != OMNI_STORE_OK) {
        return rc;
    }

    (void) clock_gettime(CLOCK_REALTIME, &ts);

    c.seq = s.last + 1;
    c.family = family;
    c.op = op;
    c.time_ms = (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
    memcpy(c.origin, s.node, sizeof(c.origin));
    c.key_len = key_len;
    memcpy(c.key, key, key_len);
    c.val_len = val_len;
    c.data = NULL;
    c.data_len = 0;

    if (val_len > 0) {
        memcpy(c.val, val, val_len);
    }

    rc = omni_store_change_encode(&c, rec, sizeof(rec), &len, err);
    if (rc != OMNI_STORE_OK) {
        return rc;
    }

    omni_changes_key(omni_skey_init(&k), c.seq);

    rc = omni_store_put(st, txn, OMNI_STORE_DB_CHANGES, &k.b, rec, len, 0,
                        err);
    if (rc != OMNI_STORE_OK) {
        return rc;
    }

    s.last = c.seq;

    if (family == OMNI_STORE_FAMILY_POLICY) {
        s.policy_local = c.seq;
    }

    rc = omni_changes_trim(st, txn, &s, OMNI_CHANGES_TRIM, err);
    if (rc != OMNI_STORE_OK) {
        return rc;
    }

    return omni_changes_state_put(st, txn, &s, err);
}


int
omni_store_changes_state(omni_store_t *st, omni_store_changes_state_t *state,
    char *err)
{
    int       rc, own;
    MDB_txn  *txn;

    rc = omni_store_rbegin(st, &txn, &own, err);
    if (rc != OMNI_STORE_OK) {
        return rc;
    }

    rc = omni_changes_state_get(st, txn, state, err);

    omni_store_rend(st, own);

    return rc;
}


int
omni_store_changes_read(omni_store_t *st, uint64_t after,
    omni_store_change_t *out, size_t max, size_t *n, char *err)
{
    int          rc, own, mrc;
    MDB_txn     *txn;
    MDB_val      k, v;
    MDB_cursor  *cur;
    omni_skey_t  start;
    const unsigned char  *p;

    *n = 0;

    if (max == 0 || after == UINT64_MAX) {
        return OMNI_STORE_OK;
    }

    rc = omni_store_rbegin(st, &txn, &own, err);
    if (rc != OMNI_STORE_OK) {
        return rc;
    }

    mrc = mdb_cursor_open(txn, st->dbi[OMNI_STORE_DB_CHANGES], &cur);
    if (mrc != 0) {
        omni_store_rend(st, own);
        return omni_store_mdb(st, mrc, "mdb_cursor_open", err);
    }

    omni_changes_key(omni_skey_init(&start), after + 1);

    k.mv_data = start.b.p;
    k.mv_size = start.b.len;

    for (mrc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
         mrc == 0 && *n < max;
         mrc = mdb_cursor_get(cur, &k, &v, MDB_NEXT))
    {
        p = k.mv_data;

        if (k.mv_size != 9 || p[0] != OMNI_CHANGES_REC) {
            break;
        }

        rc = omni_store_change_decode(v.mv_data, v.mv_size, &out[*n], err);
        if (rc != OMNI_STORE_OK
            || out[*n].seq != omni_be_get(p + 1, 8))
        {
            omni_err(err, "the change log of %s holds a change this build "
                           "cannot read", st->dir);
            rc = OMNI_STORE_ERROR;
            break;
        }

        (*n)++;
    }

    mdb_cursor_close(cur);
    omni_store_rend(st, own);

    if (rc != OMNI_STORE_OK) {
        return rc;
    }

    if (mrc != 0 && mrc != MDB_NOTFOUND) {
        return omni_store_mdb(st, mrc, "mdb_cursor_get", err);
    }

    return OMNI_STORE_OK;
}


int
omni_store_changes_limit(omni_store_t *st, uint64_t max, char *err)
{
    omni_changes_set_t  ctx;

    if (max == 0) {
        omni_err(err, "the change log must keep at least one change");
        return OMNI_STORE_INVALID;
    }

    ctx.what = OMNI_CHANGES_SET_LIMIT;
    ctx.value = max;
    ctx.node = NULL;

    return omni_store_write(st, omni_changes_set_op, &ctx, err);
}


int
omni_store_changes_node(omni_store_t *st, const char *node, char *err)
{
    int                 rc;
    omni_changes_set_t  ctx;

    rc = omni_store_check_id("node id", node, OMNI_STORE_ID_MAX, err);
    if (rc != OMNI_STORE_OK) {
        return rc;
    }

    ctx.what = OMNI_CHANGES_SET_NODE;
    ctx.value = 0;
    ctx.node = node;

    return omni_store_write(st, omni_changes_set_op, &ctx, err);
}


int
omni_store_changes_published(omni_store_t *st, uint64_t seq, char *err)
{
    omni_changes_set_t  ctx;

    ctx.what = OMNI_CHANGES_SET_PUBLISHED;
    ctx.value = seq;
    ctx.node = NULL;

    return omni_store_write(st, omni_changes_set_op, &ctx, err);
}


int
omni_store_changes_caught_up(omni_store_t *st, int64_t now, char *err)
{
    int                 rc;
    omni_changes_set_t  ctx;

    rc = omni_store_check_time("now", now, err);
    if (rc != OMNI_STORE_OK) {
        return rc;
    }

    ctx.what = OMNI_CHANGES_SET_CAUGHT_UP;
    ctx.value = (uint64_t) now;
    ctx.node = NULL;

    return omni_store_write(st, omni_changes_set_op, &ctx, err);
}


int
omni_store_changes_stream(omni_store_t *st, const char *name,
    int64_t created, int *made_again, char *err)
{
    int                    rc;
    omni_changes_stream_t  ctx;

    *made_again = 0;

    rc = omni_store_check_id("stream name", name, OMNI_STORE_ID_MAX, err);
    if (rc != OMNI_STORE_OK) {
        return rc;
    }

    if (created <= 0) {
        omni_err(err, "stream %s has no time it was made", name);
        return OMNI_STORE_INVALID;
    }

    ctx.name = name;
    ctx.created = created;
    ctx.made_again = 0;

    rc = omni_store_write(st, omni_changes_stream_op, &ctx, err);

    *made_again = ctx.made_again;

    return rc;
}


int
omni_store_changes_stream_get(omni_store_t *st,
    char name[OMNI_STORE_ID_MAX + 1], int64_t *created, char *err)
{
    int       rc, own;
    MDB_txn  *txn;

    rc = omni_store_rbegin(st, &txn, &own, err);
    if (rc != OMNI_STORE_OK) {
        return rc;
    }

    rc = omni_changes_stream_read(st, txn, name, created, err);

    omni_store_rend(st, own);

    return rc;
}


int
omni_store_changes_resync(omni_store_t *st, int64_t now_ms,
    uint64_t *request, char *err)
{
    int                 rc;
    omni_changes_set_t  ctx;

    rc = omni_store_check_time("now", now_ms, err);
    if (rc != OMNI_STORE_OK) {
        return rc;
    }

    ctx.what = OMNI_CHANGES_SET_RESYNC;
    ctx.value = (uint64_t) now_ms;
    ctx.node = NULL;

    rc = omni_store_write(st, omni_changes_set_op, &ctx, err);

    if (rc == OMNI_STORE_OK) {
        *request = ctx.value;
    }

    return rc;
}


int
omni_store_changes_resync_done(omni_store_t *st, uint64_t request, char *err)
{
    omni_changes_set_t  ctx;

    ctx.what = OMNI_CHANGES_SET_RESYNC_DONE;
    ctx.value = request;
    ctx.node = NULL;

    return omni_store_write(st, omni_changes_set_op, &ctx, err);
}


int
omni_store_changes_apply(omni_store_t *st, const omni_store_change_t *c,
    uint64_t stream_seq, int *applied, char *err)
{
    int                        rc;
    omni_store_change_item_t   item;

    if (applied != NULL) {
        *applied = 0;
    }

    item.change = c;
    item.stream_seq = stream_seq;

    rc = omni_store_changes_apply_batch(st, &item, 1, err);

    if (rc == OMNI_STORE_OK && item.rc != OMNI_STORE_OK) {
        return item.rc;
    }

    if (rc == OMNI_STORE_OK && applied != NULL) {
        *applied = item.applied;
    }

    return rc;
}


int
omni_store_changes_apply_batch(omni_store_t *st,
    omni_store_change_item_t *items, size_t n, char *err)
{
    int                   rc;
    omni_changes_apply_t  ctx;

    rc = omni_store_change_items_check(items, n, err);
    if (rc != OMNI_STORE_OK || n == 0) {
        return rc;
    }

    ctx.items = items;
    ctx.n = n;
    ctx.resync = 0;

    return omni_store_write(st, omni_changes_apply_op, &ctx, err);
}


/* a stream's batch, as both streams' applications take it */
int
omni_store_change_items_check(omni_store_change_item_t *items, size_t n,
    char *err)
{
    size_t  i;

    for (i = 0; i < n; i++) {
        items[i].applied = 0;
        items[i].rc = OMNI_STORE_OK;

        if (items[i].stream_seq == 0
            || (i > 0 && items[i].stream_seq <= items[i - 1].stream_seq))
        {
            omni_err(err, "stream sequences must grow from 1");
            return OMNI_STORE_INVALID;
        }
    }

    return OMNI_STORE_OK;
}


int
omni_store_changes_apply_resync(omni_store_t *st,
    omni_store_change_item_t *items, size_t n, char *err)
{
    omni_changes_apply_t  ctx;

    if (n == 0) {
        return OMNI_STORE_OK;
    }

    ctx.items = items;
    ctx.n = n;
    ctx.resync = 1;

    return omni_store_write(st, omni_changes_apply_op, &ctx, err);
}


static int
omni_changes_set_op(omni_store_t *st, MDB_txn *txn, void *data, char *err)
{
    int                          rc;
    omni_changes_set_t          *ctx;
    omni_store_changes_state_t   s;

    ctx = data;

    rc = omni_changes_state_get(st, txn, &s, err);
    if (rc != OMNI_STORE_OK) {
        return rc;
    }

    switch (ctx->what) {

    case OMNI_CHANGES_SET_LIMIT:
        s.max = ctx->value;

        rc = omni_changes_trim(st, txn, &s, SIZE_MAX, err);
        if (rc != OMNI_STORE_OK) {
            return rc;
        }

        break;

    case OMNI_CHANGES_SET_NODE:
        if (s.node[0] != '\0' && strcmp(s.node, ctx->node) != 0) {
            omni_err(err, "the store at %s belongs to node %s, not %s",
                           st->dir, s.node, ctx->node);
            return OMNI_STORE_INVALID;
        }

        if (s.node[0] != '\0') {
            return OMNI_STORE_OK;
        }

        (void) strcpy(s.node, ctx->node);
        break;

    case OMNI_CHANGES_SET_CAUGHT_UP:
        s.caught_up = (int64_t) ctx->value;
        break;

    /*
     * A request's number is new even when the clock went back or a
     * second request comes within the millisecond: a node's earlier
     * answers are never taken for this one's.
     */
    case OMNI_CHANGES_SET_RESYNC:
        s.resync_request = ctx->value > s.resync_request
                           ? ctx->value : s.resync_request + 1;

        if (s.resync_since == 0) {
            s.resync_since = (int64_t) ctx->value;
        }

        ctx->value = s.resync_request;

        return omni_changes_resync_put(st, txn, &s, err);

    case OMNI_CHANGES_SET_RESYNC_DONE:
        /* a later request is under way: it clears the record itself */
        if (ctx->value != s.resync_request || s.resync_since == 0) {
            return OMNI_STORE_OK;
        }

        s.resync_since = 0;

        return omni_changes_resync_put(st, txn, &s, err);

    default: /* OMNI_CHANGES_SET_PUBLISHED */
        if (ctx->value > s.last) {
            omni_err(err, "change %llu was never written",
                           (unsigned long long) ctx->value);
            return OMNI_STORE_INVALID;
        }

        if (ctx->value < s.published) {
            return OMNI_STORE_OK;
        }

        s.published = ctx->value;

        rc = omni_store_unlink_forget(st, txn, s.published, err);
        if (rc != OMNI_STORE_OK) {
            return rc;
        }

        break;
    }

    return omni_changes_state_put(st, txn, &s, err);
}


static int
omni_changes_apply_op(omni_store_t *st, MDB_txn *txn, void *data, char *err)
{
    int                          rc, refused, own;
    char                         scratch[OMNI_ERRLEN];
    size_t                       i;
    omni_changes_apply_t        *ctx;
    omni_store_change_item_t    *it;
    const omni_store_change_t   *c;
    omni_store_changes_state_t   s;

    ctx = data;
    refused = 0;

    rc = omni_changes_state_get(st, txn, &s, err);
    if (rc != OMNI_STORE_OK) {
        return rc;
    }

    for (i = 0; i < ctx->n; i++) {
        it = &ctx->items[i];
        c = it->change;
        it->applied = 0;
        it->rc = OMNI_STORE_OK;
        it->records = 0;

        /*
         * A redelivery after a crash between the commit and the ack; a
         * resync's message is from another stream: no cursor.
         */
        if (!ctx->resync) {
            if (it->stream_seq <= s.applied) {
                continue;
            }

            s.applied = it->stream_seq;
        }

        own = (c != NULL && s.node[0] != '\0'
               && strcmp(c->origin, s.node) == 0);

        /*
         * A node's own revocations are here already; its policies, links
         * and merges race with the other nodes' and follow the stream.
         */
        if (c == NULL
            || (own && c->family != OMNI_STORE_FAMILY_POLICY
                && !omni_store_customer_family(c->family)))
        {
            continue;
        }

        if (c->family == OMNI_STORE_FAMILY_POLICY) {
            /* the node's own, changed again since: that change comes next */
            if (own && c->seq < s.policy_local) {
                continue;
            }

            rc = omni_store_policy_apply(st, txn, c->origin, c->data,
                                         c->data_len, c->time_ms / 1000,
                                         &it->applied,
                                         refused ? scratch : err);

        } else if (omni_store_customer_family(c->family)) {
            rc = omni_store_customer_change_apply(st, txn, c, own,
                                                  &it->applied, &it->records,
                                                  refused ? scratch : err);

        } else if (c->family == OMNI_STORE_FAMILY_SESSION) {
            rc = omni_store_session_apply(st, txn, c, s.node, &it->applied,
                                          refused ? scratch : err);

        } else if (c->family == OMNI_STORE_FAMILY_CASE) {
            rc = omni_store_case_apply(st, txn, c, s.node, &it->applied,
                                       refused ? scratch : err);

        } else if (c->family != OMNI_STORE_FAMILY_REVOCATION) {
            rc = OMNI_STORE_INVALID;
            omni_err(refused ? scratch : err, "a change of unknown family %d",
                     c->family);

        } else {
            /* refusals come before anything is written */
            rc = omni_store_revoke_apply(st, txn, c->op, c->key, c->key_len,
                                         c->val, c->val_len,
                                         refused ? scratch : err);
        }

        if (rc == OMNI_STORE_INVALID) {
            it->rc = rc;
            refused = 1;
            continue;
        }

        if (rc != OMNI_STORE_OK) {
            return rc;
        }

        it->applied |= (c->family == OMNI_STORE_FAMILY_REVOCATION);
    }

    return ctx->resync ? OMNI_STORE_OK
                       : omni_changes_state_put(st, txn, &s, err);
}


int
omni_store_changes_walk(omni_store_t *st, MDB_txn *txn, uint64_t seq,
    omni_store_change_pt fn, void *data, char *err)
{
    omni_skey_t  start;

    omni_changes_key(omni_skey_init(&start), seq + 1);

    return omni_store_changes_walk_from(st, txn, &start.b, fn, data, err);
}


int
omni_store_changes_walk_from(omni_store_t *st, MDB_txn *txn,
    const omni_sbuf_t *start, omni_store_change_pt fn, void *data,
    char *err)
{
    int                   rc, mrc, next;
    MDB_val               k, v;
    MDB_cursor           *cur;
    omni_store_change_t   c;
    const unsigned char  *p;

    mrc = mdb_cursor_open(txn, st->dbi[OMNI_STORE_DB_CHANGES], &cur);
    if (mrc != 0) {
        return omni_store_mdb(st, mrc, "mdb_cursor_open", err);
    }

    k.mv_data = start->p;
    k.mv_size = start->len;
    rc = OMNI_STORE_OK;

    for (mrc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
         mrc == 0;
         mrc = mdb_cursor_get(cur, &k, &v, MDB_NEXT))
    {
        p = k.mv_data;

        /* the records of start's tag only */
        if (k.mv_size < 2 || p[0] != start->p[0]) {
            break;
        }

        if (omni_store_change_decode(v.mv_data, v.mv_size, &c, err)
            != OMNI_STORE_OK)
        {
            omni_err(err, "the change log of %s holds a change this build "
                           "cannot read", st->dir);
            rc = OMNI_STORE_ERROR;
            break;
        }

        next = fn(&c, data);

        if (next == OMNI_CHANGES_STOP) {
            break;
        }

        /* the cursor is at the next change then, which MDB_NEXT gives */
        if (next == OMNI_CHANGES_DROP) {
            mrc = mdb_cursor_del(cur, 0);
            if (mrc != 0) {
                break;
            }
        }
    }

    mdb_cursor_close(cur);

    if (rc == OMNI_STORE_OK && mrc != 0 && mrc != MDB_NOTFOUND) {
        rc = omni_store_mdb(st, mrc, "mdb_cursor", err);
    }

    return rc;
}


/* deletes the oldest changes past s->max, at most budget of them */
static int
omni_changes_trim(omni_store_t *st, MDB_txn *txn,
    omni_store_changes_state_t *s, size_t budget, char *err)
{
    int          rc;
    omni_skey_t  k;

    while (budget > 0 && s->first <= s->last
           && s->last - s->first + 1 > s->max)
    {
        omni_changes_key(omni_skey_init(&k), s->first);

        /* an unlink not published yet leaves a tombstone */
        if (s->first > s->published) {
            rc = omni_store_unlink_keep(st, txn, &k.b, err);
            if (rc != OMNI_STORE_OK) {
                return rc;
            }
        }

        rc = omni_store_del(st, txn, OMNI_STORE_DB_CHANGES, &k.b, err);
        if (rc != OMNI_STORE_OK && rc != OMNI_STORE_NOT_FOUND) {
            return rc;
        }

        s->first++;
        budget--;
    }

    return OMNI_STORE_OK;
}


static int
omni_changes_state_get(omni_store_t *st, MDB_txn *txn,
    omni_store_changes_state_t *s, char *err)
{
    int          rc;
    MDB_val      v;
    omni_srd_t   r;
    omni_skey_t  k;

    memset(s, 0, sizeof(omni_store_changes_state_t));
    s->first = 1;
    s->max = OMNI_STORE_CHANGES_KEEP;

    omni_sbuf_str(omni_skey_init(&k), OMNI_CHANGES_STATE);

    rc = omni_store_get(st, txn, OMNI_STORE_DB_CHANGES, &k.b, &v, err);
    if (rc == OMNI_STORE_NOT_FOUND) {
        return omni_changes_resync_get(st, txn, s, err);
    }

    if (rc != OMNI_STORE_OK) {
        return rc;
    }

    omni_srd_init(&r, &v);

    if (omni_srd_u8(&r) != OMNI_STORE_REC_V1) {
        r.bad = 1;
    }

    s->last = omni_srd_be(&r, 8);
    s->first = omni_srd_be(&r, 8);
    s->max = omni_srd_be(&r, 8);
    s->published = omni_srd_be(&r, 8);
    s->applied = omni_srd_be(&r, 8);
    s->policy_local = omni_srd_be(&r, 8);
    s->caught_up = (int64_t) omni_srd_be(&r, 8);
    omni_srd_lstr(&r, s->node, OMNI_STORE_ID_MAX);

    if (r.bad || r.pos != r.len || s->first == 0 || s->max == 0
        || s->caught_up < 0
        || s->first > s->last + 1 || s->published > s->last)
    {
        omni_err(err, "the change log state of %s is one this build "
                       "cannot read", st->dir);
        return OMNI_STORE_ERROR;
    }

    return omni_changes_resync_get(st, txn, s, err);
}


static int
omni_changes_resync_get(omni_store_t *st, MDB_txn *txn,
    omni_store_changes_state_t *s, char *err)
{
    int          rc;
    MDB_val      v;
    omni_srd_t   r;
    omni_skey_t  k;

    omni_sbuf_str(omni_skey_init(&k), OMNI_CHANGES_RESYNC);

    rc = omni_store_get(st, txn, OMNI_STORE_DB_CHANGES, &k.b, &v, err);
    if (rc == OMNI_STORE_NOT_FOUND) {
        return OMNI_STORE_OK;
    }

    if (rc != OMNI_STORE_OK) {
        return rc;
    }

    omni_srd_init(&r, &v);

    if (omni_srd_u8(&r) != OMNI_STORE_REC_V1) {
        r.bad = 1;
    }

    s->resync_request = omni_srd_be(&r, 8);
    s->resync_since = (int64_t) omni_srd_be(&r, 8);

    if (r.bad || r.pos != r.len || s->resync_since < 0) {
        omni_err(err, "the resync record of %s is one this build cannot "
                       "read", st->dir);
        return OMNI_STORE_ERROR;
    }

    return OMNI_STORE_OK;
}


static int
omni_changes_state_put(omni_store_t *st, MDB_txn *txn,
    const omni_store_changes_state_t *s, char *err)
{
    omni_sbuf_t    b;
    omni_skey_t    k;
    unsigned char  rec[OMNI_CHANGES_STATE_MAX];

    omni_sbuf_init(&b, rec, sizeof(rec));
    omni_sbuf_u8(&b, OMNI_STORE_REC_V1);
    omni_sbuf_be(&b, s->last, 8);
    omni_sbuf_be(&b, s->first, 8);
    omni_sbuf_be(&b, s->max, 8);
    omni_sbuf_be(&b, s->published, 8);
    omni_sbuf_be(&b, s->applied, 8);
    omni_sbuf_be(&b, s->policy_local, 8);
    omni_sbuf_be(&b, (uint64_t) s->caught_up, 8);
    omni_sbuf_lstr(&b, s->node);

    if (b.overflow) {
        omni_err(err, "the change log state does not fit");
        return OMNI_STORE_ERROR;
    }

    omni_sbuf_str(omni_skey_init(&k), OMNI_CHANGES_STATE);

    return omni_store_put(st, txn, OMNI_STORE_DB_CHANGES, &k.b, b.p, b.len,
                          0, err);
}


/*
 * Another stream than the one recorded: its sequences are not the
 * cursor's, which starts again from 0 (applying its messages again is
 * harmless: the rules are idempotent).
 */
static int
omni_changes_stream_op(omni_store_t *st, MDB_txn *txn, void *data,
    char *err)
{
    int                          rc;
    char                         name[OMNI_STORE_ID_MAX + 1];
    int64_t                      created;
    omni_sbuf_t                  b;
    omni_skey_t                  k;
    unsigned char                rec[1 + 8 + 1 + OMNI_STORE_ID_MAX];
    omni_changes_stream_t       *ctx;
    omni_store_changes_state_t   s;

    ctx = data;

    rc = omni_changes_stream_read(st, txn, name, &created, err);

    if (rc == OMNI_STORE_OK) {
        if (created == ctx->created && strcmp(name, ctx->name) == 0) {
            return OMNI_STORE_OK;
        }

        rc = omni_changes_state_get(st, txn, &s, err);
        if (rc != OMNI_STORE_OK) {
            return rc;
        }

        s.applied = 0;

        rc = omni_changes_state_put(st, txn, &s, err);
        if (rc != OMNI_STORE_OK) {
            return rc;
        }

        ctx->made_again = 1;

    } else if (rc != OMNI_STORE_NOT_FOUND) {
        return rc;
    }

    omni_sbuf_init(&b, rec, sizeof(rec));
    omni_sbuf_u8(&b, OMNI_STORE_REC_V1);
    omni_sbuf_be(&b, (uint64_t) ctx->created, 8);
    omni_sbuf_lstr(&b, ctx->name);

    omni_sbuf_str(omni_skey_init(&k), OMNI_CHANGES_STREAM);

    return omni_store_put(st, txn, OMNI_STORE_DB_CHANGES, &k.b, b.p, b.len,
                          0, err);
}


static int
omni_changes_resync_put(omni_store_t *st, MDB_txn *txn,
    const omni_store_changes_state_t *s, char *err)
{
    omni_sbuf_t    b;
    omni_skey_t    k;
    unsigned char  rec[1 + 2 * 8];

    omni_sbuf_init(&b, rec, sizeof(rec));
    omni_sbuf_u8(&b, OMNI_STORE_REC_V1);
    omni_sbuf_be(&b, s->resync_request, 8);
    omni_sbuf_be(&b, (uint64_t) s->resync_since, 8);

    omni_sbuf_str(omni_skey_init(&k), OMNI_CHANGES_RESYNC);

    return omni_store_put(st, txn, OMNI_STORE_DB_CHANGES, &k.b, b.p, b.len,
                          0, err);
}


static int
omni_changes_stream_read(omni_store_t *st, MDB_txn *txn, char *name,
    int64_t *created, char *err)
{
    int          rc;
    MDB_val      v;
    omni_srd_t   r;
    omni_skey_t  k;

    omni_sbuf_str(omni_skey_init(&k), OMNI_CHANGES_STREAM);

    rc = omni_store_get(st, txn, OMNI_STORE_DB_CHANGES, &k.b, &v, err);
    if (rc != OMNI_STORE_OK) {
        return rc;
    }

    omni_srd_init(&r, &v);

    if (omni_srd_u8(&r) != OMNI_STORE_REC_V1) {
        r.bad = 1;
    }

    *created = (int64_t) omni_srd_be(&r, 8);
    omni_srd_lstr(&r, name, OMNI_STORE_ID_MAX);

    if (r.bad || r.pos != r.len || *created <= 0 || name[0] == '\0') {
        omni_err(err, "the stream record of %s is one this build cannot "
                       "read", st->dir);
        return OMNI_STORE_ERROR;
    }

    return OMNI_STORE_OK;
}


static void
omni_changes_key(omni_sbuf_t *k, uint64_t seq)
{
    omni_sbuf_u8(k, OMNI_CHANGES_REC);
    omni_sbuf_be(k, seq, 8);
}


/* the record a family's message carries after the change, at most; 0: none */
static size_t
omni_changes_data_max(int family)
{
    switch (family) {

    case OMNI_STORE_FAMILY_POLICY:
        return OMNI_STORE_POLICY_MAX;

    case OMNI_STORE_FAMILY_SESSION:
        return OMNI_STORE_SESSION_DATA_MAX;

    case OMNI_STORE_FAMILY_CASE:
        return OMNI_STORE_CASE_DATA_MAX;

    case OMNI_STORE_FAMILY_JOURNEY:
        return OMNI_STORE_JOURNEY_DATA_MAX;

    default:
        return 0;
    }
}


/* the wire */

int
omni_store_change_encode(const omni_store_change_t *c, unsigned char *out,
    size_t cap, size_t *len, char *err)
{
    size_t       olen;
    omni_sbuf_t  b;

    olen = strnlen(c->origin, OMNI_STORE_ID_MAX + 1);

    if ((olen > 0 && !omni_store_id_valid(c->origin, olen,
                                          OMNI_STORE_ID_MAX))
        || c->key_len == 0 || c->key_len > OMNI_STORE_CHANGE_KEY_MAX
        || c->val_len > OMNI_STORE_CHANGE_VAL_MAX || c->seq == 0
        || c->time_ms < 0)
    {
        omni_err(err, "a change that cannot be encoded");
        return OMNI_STORE_INVALID;
    }

    omni_sbuf_init(&b, out, cap);
    omni_sbuf_u8(&b, OMNI_STORE_REC_V1);
    omni_sbuf_be(&b, c->seq, 8);
    omni_sbuf_u8(&b, (unsigned) c->family);
    omni_sbuf_u8(&b, (unsigned) c->op);
    omni_sbuf_be(&b, (uint64_t) c->time_ms, 8);
    omni_sbuf_u8(&b, (unsigned) olen);
    omni_sbuf_add(&b, c->origin, olen);
    omni_sbuf_be(&b, c->key_len, 2);
    omni_sbuf_add(&b, c->key, c->key_len);
    omni_sbuf_be(&b, c->val_len, 2);
    omni_sbuf_add(&b, c->val, c->val_len);

    if (omni_changes_data_max(c->family) > 0) {
        if (c->data_len > omni_changes_data_max(c->family)
            || (c->data_len > 0 && c->data == NULL))
        {
            omni_err(err, "a record that cannot be encoded");
            return OMNI_STORE_INVALID;
        }

        omni_sbuf_be(&b, c->data_len, 4);
        omni_sbuf_add(&b, c->data, c->data_len);
    }

    if (b.overflow) {
        omni_err(err, "a change of %zu bytes does not fit %zu", b.len, cap);
        return OMNI_STORE_INVALID;
    }

    *len = b.len;

    return OMNI_STORE_OK;
}


int
omni_store_change_decode(const unsigned char *p, size_t len,
    omni_store_change_t *c, char *err)
{
    size_t      n;
    MDB_val     v;
    uint64_t    t;
    omni_srd_t  r;

    memset(c, 0, sizeof(omni_store_change_t));

    if (len > OMNI_STORE_CHANGE_WIRE_MAX + OMNI_STORE_POLICY_MAX) {
        omni_err(err, "a change of %zu bytes (at most %d)", len,
                 (int) (OMNI_STORE_CHANGE_WIRE_MAX + OMNI_STORE_POLICY_MAX));
        return OMNI_STORE_INVALID;
    }

    v.mv_data = (void *) p;
    v.mv_size = len;
    omni_srd_init(&r, &v);

    if (omni_srd_u8(&r) != OMNI_STORE_REC_V1) {
        omni_err(err, "not a change of version %d", OMNI_STORE_REC_V1);
        return OMNI_STORE_INVALID;
    }

    c->seq = omni_srd_be(&r, 8);
    c->family = (int) omni_srd_u8(&r);
    c->op = (int) omni_srd_u8(&r);
    t = omni_srd_be(&r, 8);
    n = omni_srd_u8(&r);
    omni_srd_bytes(&r, n, c->origin, OMNI_STORE_ID_MAX);

    /* a NUL would make two origins of one */
    if (!r.bad && strlen(c->origin) != n) {
        r.bad = 1;
    }

    n = (size_t) omni_srd_be(&r, 2);
    if (!r.bad && (n == 0 || n > OMNI_STORE_CHANGE_KEY_MAX
                   || r.len - r.pos < n))
    {
        r.bad = 1;
    }

    if (!r.bad) {
        memcpy(c->key, r.p + r.pos, n);
        c->key_len = n;
        r.pos += n;
    }

    n = (size_t) omni_srd_be(&r, 2);
    if (!r.bad && (n > OMNI_STORE_CHANGE_VAL_MAX || r.len - r.pos < n)) {
        r.bad = 1;
    }

    if (!r.bad) {
        memcpy(c->val, r.p + r.pos, n);
        c->val_len = n;
        r.pos += n;
    }

    if (omni_changes_data_max(c->family) > 0) {
        n = (size_t) omni_srd_be(&r, 4);

        if (!r.bad && (n > omni_changes_data_max(c->family)
                       || r.len - r.pos != n))
        {
            r.bad = 1;
        }

        if (!r.bad) {
            c->data = n > 0 ? r.p + r.pos : NULL;
            c->data_len = n;
            r.pos += n;
        }
    }

    if (r.bad || r.pos != r.len) {
        omni_err(err, "a change that is truncated or too long");
        return OMNI_STORE_INVALID;
    }

    if (c->seq == 0 || t > INT64_MAX) {
        omni_err(err, "a change with sequence 0 or a time out of range");
        return OMNI_STORE_INVALID;
    }

    c->time_ms = (int64_t) t;

    if (c->origin[0] != '\0'
        && !omni_store_id_valid(c->origin, strlen(c->origin),
                                OMNI_STORE_ID_MAX))
    {
        omni_err(err, "a change whose origin is not a node id");
        return OMNI_STORE_INVALID;
    }

    if (c->family == OMNI_STORE_FAMILY_POLICY) {
        if (c->op != OMNI_STORE_CHANGE_PUT || c->val_len != 0
            || c->key_len != 6 || c->key[0] != 'p' || c->key[1] != ':')
        {
            omni_err(err, "a policy change that is not a put of \"p:\" "
                           "and a revision");
            return OMNI_STORE_INVALID;
        }

        return OMNI_STORE_OK;
    }

    if (omni_store_customer_family(c->family)) {
        return omni_store_customer_change_check(c, err);
    }

    if (c->family == OMNI_STORE_FAMILY_SESSION) {
        return omni_store_change_session_check(c, err);
    }

    if (c->family == OMNI_STORE_FAMILY_CASE) {
        return omni_store_change_case_check(c, err);
    }

    if (c->family == OMNI_STORE_FAMILY_JOURNEY) {
        return omni_store_change_journey_check(c, err);
    }

    if (c->family != OMNI_STORE_FAMILY_REVOCATION) {
        omni_err(err, "a change of unknown family %d", c->family);
        return OMNI_STORE_INVALID;
    }

    if (c->op != OMNI_STORE_CHANGE_PUT && c->op != OMNI_STORE_CHANGE_DELETE) {
        omni_err(err, "a change of unknown operation %d", c->op);
        return OMNI_STORE_INVALID;
    }

    if ((c->op == OMNI_STORE_CHANGE_DELETE) != (c->val_len == 0)) {
        omni_err(err, "a %s with%s a value",
                       c->op == OMNI_STORE_CHANGE_PUT ? "put" : "delete",
                       c->val_len == 0 ? "out" : "");
        return OMNI_STORE_INVALID;
    }

    return OMNI_STORE_OK;
}
