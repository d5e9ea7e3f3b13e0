/*
 * Copyright (C) The omni gateway authors
 *
 * Cases shared between nodes (omni_store.h, "Cases between nodes";
 * docs/cluster.md): the change a local case write logs in its
 * transaction (the case and the events it appended), the first digit a
 * node gives its case ids, the case a change carries on the wire (its
 * encoding, read from the store when omni-sync publishes, and its strict
 * decoding), and the merge of a case from another node into this node's.
 *
 * The merge: the events are a union (each appended where it arrives);
 * the record is the one of the later write (updated, then the origin
 * node), except that a closed case stays closed: a node that closed it
 * keeps its record, and one that had not takes the closing record
 * whenever it comes.  Every node thus ends with the same record.
 */


#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lmdb.h>

#include "omni_store_int.h"


#define OMNI_CASE_DIGIT  "n:case_digit"   /* changes sub-database */


typedef struct {
    omni_store_case_t         c;
    char                      origin[OMNI_STORE_ID_MAX + 1];
    size_t                    nev;
    omni_store_case_event_t   ev[OMNI_STORE_CASE_MSG_EVENTS];
} omni_case_msg_t;


static void omni_case_data_write(const omni_case_msg_t *m, omni_sbuf_t *b);
static int omni_case_data_read(const omni_store_change_t *ch,
    omni_case_msg_t *m, char *err);
static int omni_case_msg_check(const omni_case_msg_t *m, char *err);
static int omni_case_merge(omni_store_t *st, MDB_txn *txn,
    omni_store_case_t *cur, const omni_case_msg_t *m, const char *node,
    int *applied, char *err);
static int omni_case_events_add(omni_store_t *st, MDB_txn *txn,
    omni_store_case_t *c, const omni_case_msg_t *m, int *added, char *err);
static int omni_case_touches_merge(omni_store_case_t *cur,
    const omni_store_case_t *in);


/* a local write, in its transaction: the record is this node's again */

int
omni_store_case_logged(omni_store_t *st, MDB_txn *txn, const char *id,
    uint32_t first, uint32_t count, char *err)
{
    int            rc;
    unsigned char  val[5];

    val[0] = (unsigned char) (first >> 24);
    val[1] = (unsigned char) (first >> 16);
    val[2] = (unsigned char) (first >> 8);
    val[3] = (unsigned char) first;
    val[4] = (unsigned char) count;

    rc = omni_store_change_log(st, txn, OMNI_STORE_FAMILY_CASE,
                               OMNI_STORE_CHANGE_PUT, id, strlen(id), val,
                               sizeof(val), err);
    if (rc != OMNI_STORE_OK) {
        return rc;
    }

    return omni_store_version_del(st, txn, OMNI_STORE_FAMILY_CASE, id, err);
}


/* the first digit of this node's case ids */

typedef struct {
    int   digit;
} omni_case_digit_t;


static int
omni_case_digit_op(omni_store_t *st, MDB_txn *txn, void *data, char *err)
{
    int                 rc;
    omni_skey_t         k;
    unsigned char       d;
    omni_case_digit_t  *ctx;

    ctx = data;

    omni_sbuf_str(omni_skey_init(&k), OMNI_CASE_DIGIT);

    if (ctx->digit < 0) {
        rc = omni_store_del(st, txn, OMNI_STORE_DB_CHANGES, &k.b, err);
        return (rc == OMNI_STORE_NOT_FOUND) ? OMNI_STORE_OK : rc;
    }

    d = (unsigned char) ('0' + ctx->digit);

    return omni_store_put(st, txn, OMNI_STORE_DB_CHANGES, &k.b, &d, 1, 0,
                          err);
}


int
omni_store_case_digit(omni_store_t *st, int digit, char *err)
{
    omni_case_digit_t  ctx;

    if (digit < -1 || digit > 9) {
        omni_err(err, "a case id's first digit is 0 to 9, not %d", digit);
        return OMNI_STORE_INVALID;
    }

    ctx.digit = digit;

    return omni_store_write(st, omni_case_digit_op, &ctx, err);
}


int
omni_store_case_digit_get(omni_store_t *st, MDB_txn *txn, int *digit,
    char *err)
{
    int                   rc;
    MDB_val               v;
    omni_skey_t           k;
    const unsigned char  *p;

    *digit = -1;

    omni_sbuf_str(omni_skey_init(&k), OMNI_CASE_DIGIT);

    rc = omni_store_get(st, txn, OMNI_STORE_DB_CHANGES, &k.b, &v, err);
    if (rc == OMNI_STORE_NOT_FOUND) {
        return OMNI_STORE_OK;
    }

    if (rc != OMNI_STORE_OK) {
        return rc;
    }

    p = v.mv_data;

    if (v.mv_size != 1 || p[0] < '0' || p[0] > '9') {
        omni_err(err, "the case id digit of %s is one this build cannot "
                       "read", st->dir);
        return OMNI_STORE_ERROR;
    }

    *digit = p[0] - '0';

    return OMNI_STORE_OK;
}


/* omni-sync: change ch of the log, with its case and events as they are */

int
omni_store_change_case_encode(omni_store_t *st, omni_store_change_t *ch,
    const char *node, unsigned char *out, size_t cap, size_t *len,
    char *err)
{
    int                    rc, own;
    char                   id[OMNI_STORE_CASE_ID_LEN + 1];
    size_t                 n;
    MDB_txn               *txn;
    uint32_t               first;
    omni_sbuf_t            b;
    omni_case_msg_t       *m;
    omni_store_version_t   v;
    unsigned char         *data;

    if (ch->family != OMNI_STORE_FAMILY_CASE
        || omni_store_change_case_check(ch, err) != OMNI_STORE_OK)
    {
        omni_err(err, "not a case change");
        return OMNI_STORE_INVALID;
    }

    memcpy(id, ch->key, OMNI_STORE_CASE_ID_LEN);
    id[OMNI_STORE_CASE_ID_LEN] = '\0';
    first = (uint32_t) omni_be_get(ch->val, 4);

    m = calloc(1, sizeof(omni_case_msg_t) + OMNI_STORE_CASE_DATA_MAX);
    if (m == NULL) {
        omni_err(err, "out of memory");
        return OMNI_STORE_ERROR;
    }

    data = (unsigned char *) (m + 1);

    rc = omni_store_rbegin(st, &txn, &own, err);
    if (rc == OMNI_STORE_OK) {
        rc = omni_store_case_load(st, txn, id, 1, &m->c, err);

        if (rc == OMNI_STORE_OK) {
            rc = omni_store_version_get(st, txn, OMNI_STORE_FAMILY_CASE, id,
                                        &v, err);
        }

        omni_store_rend(st, own);
    }

    /* the events this change appended: gone only with the case */
    if (rc == OMNI_STORE_OK && ch->val[4] > 0) {
        rc = omni_store_case_events(st, id, first, 0, m->ev, ch->val[4], &n,
                                    err);
        m->nev = n;
    }

    if (rc == OMNI_STORE_NOT_FOUND) {
        omni_err(err, "the case was erased before it was published");
    }

    if (rc == OMNI_STORE_OK) {
        /* node is the caller's string: copied to its NUL, not past it */
        snprintf(m->origin, sizeof(m->origin), "%s",
                 v.origin[0] != '\0' ? v.origin : node);
        ch->val[4] = (unsigned char) m->nev;

        omni_sbuf_init(&b, data, OMNI_STORE_CASE_DATA_MAX);
        omni_case_data_write(m, &b);

        if (b.overflow) {
            omni_err(err, "a case that does not fit a change");
            rc = OMNI_STORE_ERROR;
        }
    }

    if (rc == OMNI_STORE_OK) {
        ch->data = data;
        ch->data_len = b.len;

        rc = omni_store_change_encode(ch, out, cap, len, err);

        ch->data = NULL;
        ch->data_len = 0;
    }

    free(m);

    return rc;
}


/*
 * The wire decoder's check: a put of a case id naming the events it
 * appended, with the case or none (in the log)
 */

int
omni_store_change_case_check(const omni_store_change_t *c, char *err)
{
    int               rc;
    omni_case_msg_t  *m;

    if (c->op != OMNI_STORE_CHANGE_PUT
        || c->key_len != OMNI_STORE_CASE_ID_LEN
        || !omni_store_case_id_valid((const char *) c->key, c->key_len)
        || c->val_len != 5 || c->val[4] > OMNI_STORE_CASE_MSG_EVENTS)
    {
        omni_err(err, "a case change that is not a put of a case id and "
                       "its events");
        return OMNI_STORE_INVALID;
    }

    if (c->data_len == 0) {
        return OMNI_STORE_OK;
    }

    m = malloc(sizeof(omni_case_msg_t));
    if (m == NULL) {
        omni_err(err, "out of memory");
        return OMNI_STORE_ERROR;
    }

    rc = omni_case_data_read(c, m, err);

    free(m);

    return rc;
}


/* a case from another node, merged into this node's */

int
omni_store_case_apply(omni_store_t *st, MDB_txn *txn,
    const omni_store_change_t *c, const char *node, int *applied, char *err)
{
    int                    rc, erased;
    omni_case_msg_t       *m;
    omni_store_case_t     *cur;
    omni_store_version_t   v;

    *applied = 0;

    if (c->data_len == 0) {
        omni_err(err, "a case change without its case");
        return OMNI_STORE_INVALID;
    }

    m = malloc(sizeof(omni_case_msg_t) + sizeof(omni_store_case_t));
    if (m == NULL) {
        omni_err(err, "out of memory");
        return OMNI_STORE_ERROR;
    }

    cur = (omni_store_case_t *) (m + 1);

    rc = omni_case_data_read(c, m, err);

    if (rc == OMNI_STORE_OK) {
        rc = omni_store_erased(st, txn, m->c.customer, &erased, err);
    }

    if (rc != OMNI_STORE_OK || erased) {
        free(m);
        return rc;
    }

    rc = omni_store_case_load(st, txn, m->c.id, 1, cur, err);

    if (rc == OMNI_STORE_OK) {
        rc = omni_case_merge(st, txn, cur, m, node, applied, err);

    } else if (rc == OMNI_STORE_NOT_FOUND) {
        /* new here: the record as it came, the events carried */
        memcpy(cur, &m->c, sizeof(omni_store_case_t));
        cur->nevents = 0;

        rc = omni_case_events_add(st, txn, cur, m, applied, err);

        if (rc == OMNI_STORE_OK) {
            rc = omni_store_case_write(st, txn, cur, err);
        }

        if (rc == OMNI_STORE_OK) {
            rc = omni_store_case_index(st, txn, cur, 1, err);
        }

        if (rc == OMNI_STORE_OK) {
            v.ms = m->c.updated;
            memcpy(v.origin, m->origin, sizeof(v.origin));

            rc = omni_store_version_put(st, txn, OMNI_STORE_FAMILY_CASE,
                                        cur->id, &v, err);
        }

        *applied = (rc == OMNI_STORE_OK);
    }

    free(m);

    return rc;
}


static int
omni_case_merge(omni_store_t *st, MDB_txn *txn, omni_store_case_t *cur,
    const omni_case_msg_t *m, const char *node, int *applied, char *err)
{
    int                        rc, take, added, touched, old;
    const omni_store_case_t   *in;
    omni_store_version_t       v;

    in = &m->c;

    /* ids are random: one that names another case here is no update */
    if (strcmp(cur->customer, in->customer) != 0
        || cur->created != in->created)
    {
        omni_err(err, "a case whose id names another case here");
        return OMNI_STORE_INVALID;
    }

    rc = omni_case_events_add(st, txn, cur, m, &added, err);
    if (rc != OMNI_STORE_OK) {
        return rc;
    }

    if (cur->status == OMNI_STORE_CASE_CLOSED
        && in->status != OMNI_STORE_CASE_CLOSED)
    {
        take = 0;                    /* closed stays closed */

    } else if (in->status == OMNI_STORE_CASE_CLOSED
               && cur->status != OMNI_STORE_CASE_CLOSED)
    {
        take = 1;                    /* the closing record, whenever */

    } else {
        rc = omni_store_version_get(st, txn, OMNI_STORE_FAMILY_CASE, cur->id,
                                    &v, err);
        if (rc != OMNI_STORE_OK) {
            return rc;
        }

        if (v.origin[0] == '\0') {
            (void) strcpy(v.origin, node);
        }

        take = (in->updated != cur->updated)
               ? in->updated > cur->updated
               : strcmp(m->origin, v.origin) > 0;
    }

    touched = omni_case_touches_merge(cur, in);
    *applied = added || touched;

    /* the first public answer was given when it was, wherever */
    if (in->first_response_at > 0
        && (cur->first_response_at == 0
            || in->first_response_at < cur->first_response_at))
    {
        cur->first_response_at = in->first_response_at;
        *applied = 1;
    }

    old = cur->status;

    if (take) {
        cur->status = in->status;
        cur->priority = in->priority;
        cur->updated = in->updated;
        cur->first_response_due = in->first_response_due;
        cur->resolution_due = in->resolution_due;
        cur->resolved_at = in->resolved_at;
        cur->closed_at = in->closed_at;
        memcpy(cur->assignee, in->assignee, sizeof(cur->assignee));
        memcpy(cur->pool, in->pool, sizeof(cur->pool));

        v.ms = in->updated;
        memcpy(v.origin, m->origin, sizeof(v.origin));

        rc = omni_store_version_put(st, txn, OMNI_STORE_FAMILY_CASE, cur->id,
                                    &v, err);
        if (rc != OMNI_STORE_OK) {
            return rc;
        }

        *applied = 1;
    }

    if (!*applied) {
        return OMNI_STORE_OK;
    }

    /* the indexes name the status: out with the old entries */
    if (cur->status != old) {
        cur->status = old;
        rc = omni_store_case_index(st, txn, cur, 0, err);
        cur->status = in->status;

        if (rc == OMNI_STORE_OK) {
            rc = omni_store_case_index(st, txn, cur, 1, err);
        }

        if (rc != OMNI_STORE_OK) {
            return rc;
        }
    }

    return omni_store_case_write(st, txn, cur, err);
}


/* the events carried, appended as they come (a full case takes no more) */
static int
omni_case_events_add(omni_store_t *st, MDB_txn *txn, omni_store_case_t *c,
    const omni_case_msg_t *m, int *added, char *err)
{
    int                             rc;
    size_t                          i;
    omni_store_case_by_t            by;
    const omni_store_case_event_t  *ev;

    *added = 0;

    for (i = 0; i < m->nev; i++) {
        ev = &m->ev[i];

        memset(&by, 0, sizeof(by));
        by.author = ev->author;
        by.channel = ev->channel;
        by.now = ev->time;

        rc = omni_store_case_event_add(st, txn, c, &by, ev->kind, ev->from,
                                       ev->to, ev->text, ev->text_len, err);

        if (rc == OMNI_STORE_CONFLICT) {
            continue;
        }

        if (rc != OMNI_STORE_OK) {
            return rc;
        }

        *added = 1;
    }

    return OMNI_STORE_OK;
}


/* both lists of touches, by time, the newest kept: 1 when cur changed */
static int
omni_case_touches_merge(omni_store_case_t *cur, const omni_store_case_t *in)
{
    int                             changed;
    unsigned                        i, j;
    const omni_store_case_touch_t  *t;

    changed = 0;

    for (i = 0; i < in->ntouches; i++) {
        t = &in->touches[i];

        for (j = 0; j < cur->ntouches; j++) {
            if (memcmp(&cur->touches[j], t, sizeof(*t)) == 0) {
                break;
            }
        }

        if (j < cur->ntouches) {
            continue;
        }

        /* the place by time; the oldest goes when the list is full */
        for (j = cur->ntouches; j > 0 && cur->touches[j - 1].time > t->time;
             j--)
        {
            /* void */
        }

        if (cur->ntouches == OMNI_STORE_CASE_TOUCHES) {
            if (j == 0) {
                continue;
            }

            memmove(&cur->touches[0], &cur->touches[1],
                    (j - 1) * sizeof(omni_store_case_touch_t));
            j--;

        } else {
            memmove(&cur->touches[j + 1], &cur->touches[j],
                    (cur->ntouches - j) * sizeof(omni_store_case_touch_t));
            cur->ntouches++;
        }

        cur->touches[j] = *t;
        changed = 1;
    }

    if (in->touches_total > cur->touches_total) {
        cur->touches_total = in->touches_total;
        changed = 1;
    }

    return changed;
}


static void
omni_case_data_write(const omni_case_msg_t *m, omni_sbuf_t *b)
{
    size_t                          i;
    const omni_store_case_t        *c;
    const omni_store_case_touch_t  *t;
    const omni_store_case_event_t  *ev;

    c = &m->c;

    omni_sbuf_u8(b, OMNI_STORE_REC_V1);
    omni_sbuf_lstr(b, m->origin);
    omni_sbuf_lstr(b, c->customer);
    omni_sbuf_u8(b, (unsigned) c->status);
    omni_sbuf_u8(b, (unsigned) c->priority);
    omni_sbuf_be(b, (uint64_t) c->created, 8);
    omni_sbuf_be(b, (uint64_t) c->updated, 8);
    omni_sbuf_be(b, (uint64_t) c->first_response_due, 8);
    omni_sbuf_be(b, (uint64_t) c->resolution_due, 8);
    omni_sbuf_be(b, (uint64_t) c->first_response_at, 8);
    omni_sbuf_be(b, (uint64_t) c->resolved_at, 8);
    omni_sbuf_be(b, (uint64_t) c->closed_at, 8);
    omni_sbuf_be(b, c->touches_total, 4);
    omni_sbuf_lstr(b, c->category);
    omni_sbuf_lstr(b, c->channel);
    omni_sbuf_lstr(b, c->assignee);
    omni_sbuf_lstr(b, c->pool);
    omni_sbuf_lstr(b, c->follow_up_of);
    omni_sbuf_be(b, strlen(c->subject), 2);
    omni_sbuf_str(b, c->subject);
    omni_sbuf_u8(b, c->ntouches);

    for (i = 0; i < c->ntouches; i++) {
        t = &c->touches[i];
        omni_sbuf_be(b, (uint64_t) t->time, 8);
        omni_sbuf_lstr(b, t->channel);
        omni_sbuf_lstr(b, t->identity_type);
        omni_sbuf_lstr(b, t->session);
    }

    omni_sbuf_u8(b, (unsigned) m->nev);

    for (i = 0; i < m->nev; i++) {
        ev = &m->ev[i];
        omni_sbuf_be(b, (uint64_t) ev->time, 8);
        omni_sbuf_u8(b, (unsigned) ev->kind);
        omni_sbuf_u8(b, (unsigned) ev->from);
        omni_sbuf_u8(b, (unsigned) ev->to);
        omni_sbuf_lstr(b, ev->author);
        omni_sbuf_lstr(b, ev->channel);
        omni_sbuf_be(b, ev->text_len, 2);
        omni_sbuf_add(b, ev->text, ev->text_len);
    }
}


/* untrusted bytes (a NATS message), checked as the store checks its input */
static int
omni_case_data_read(const omni_store_change_t *ch, omni_case_msg_t *m,
    char *err)
{
    size_t                    i, n;
    MDB_val                   val;
    uint64_t                  t[7];
    omni_srd_t                r;
    omni_store_case_t        *c;
    omni_store_case_event_t  *ev;

    memset(m, 0, sizeof(omni_case_msg_t));
    c = &m->c;

    memcpy(c->id, ch->key, OMNI_STORE_CASE_ID_LEN);
    c->id[OMNI_STORE_CASE_ID_LEN] = '\0';

    val.mv_data = (void *) ch->data;
    val.mv_size = ch->data_len;
    omni_srd_init(&r, &val);

    if (omni_srd_u8(&r) != OMNI_STORE_REC_V1) {
        r.bad = 1;
    }

    omni_srd_name(&r, m->origin, OMNI_STORE_ID_MAX);
    omni_srd_name(&r, c->customer, OMNI_STORE_ID_MAX);
    c->status = (int) omni_srd_u8(&r);
    c->priority = (int) omni_srd_u8(&r);

    for (i = 0; i < 7; i++) {
        t[i] = omni_srd_be(&r, 8);
        r.bad |= (t[i] > INT64_MAX);
    }

    c->created = (int64_t) t[0];
    c->updated = (int64_t) t[1];
    c->first_response_due = (int64_t) t[2];
    c->resolution_due = (int64_t) t[3];
    c->first_response_at = (int64_t) t[4];
    c->resolved_at = (int64_t) t[5];
    c->closed_at = (int64_t) t[6];
    c->touches_total = (uint32_t) omni_srd_be(&r, 4);
    omni_srd_name(&r, c->category, OMNI_STORE_CASE_NAME_MAX);
    omni_srd_name(&r, c->channel, OMNI_STORE_CHANNEL_MAX);
    omni_srd_name(&r, c->assignee, OMNI_STORE_CASE_AUTHOR_MAX);
    omni_srd_name(&r, c->pool, OMNI_STORE_CASE_NAME_MAX);
    omni_srd_name(&r, c->follow_up_of, OMNI_STORE_CASE_ID_LEN);
    n = (size_t) omni_srd_be(&r, 2);
    omni_srd_bytes(&r, n, c->subject, OMNI_STORE_CASE_SUBJECT_MAX);
    c->ntouches = omni_srd_u8(&r);

    if (c->ntouches > OMNI_STORE_CASE_TOUCHES) {
        r.bad = 1;
    }

    for (i = 0; !r.bad && i < c->ntouches; i++) {
        c->touches[i].time = (int64_t) omni_srd_be(&r, 8);
        omni_srd_name(&r, c->touches[i].channel, OMNI_STORE_CHANNEL_MAX);
        omni_srd_name(&r, c->touches[i].identity_type,
                       OMNI_STORE_TYPE_MAX);
        omni_srd_name(&r, c->touches[i].session, OMNI_STORE_ID_MAX);
    }

    m->nev = omni_srd_u8(&r);

    if (m->nev > OMNI_STORE_CASE_MSG_EVENTS || m->nev != ch->val[4]) {
        r.bad = 1;
    }

    for (i = 0; !r.bad && i < m->nev; i++) {
        ev = &m->ev[i];
        ev->time = (int64_t) omni_srd_be(&r, 8);
        ev->kind = (int) omni_srd_u8(&r);
        ev->from = (int) omni_srd_u8(&r);
        ev->to = (int) omni_srd_u8(&r);
        omni_srd_name(&r, ev->author, OMNI_STORE_CASE_AUTHOR_MAX);
        omni_srd_name(&r, ev->channel, OMNI_STORE_CHANNEL_MAX);
        ev->text_len = (size_t) omni_srd_be(&r, 2);
        omni_srd_bytes(&r, ev->text_len, ev->text, OMNI_STORE_CASE_TEXT_MAX);
    }

    if (r.bad || r.pos != r.len) {
        omni_err(err, "a case change whose case is truncated or too long");
        return OMNI_STORE_INVALID;
    }

    if (strlen(c->subject) != n) {
        omni_err(err, "a case change whose subject holds a NUL");
        return OMNI_STORE_INVALID;
    }

    return omni_case_msg_check(m, err);
}


static int
omni_case_msg_check(const omni_case_msg_t *m, char *err)
{
    int                             rc, text;
    size_t                          i;
    const omni_store_case_t        *c;
    const omni_store_case_event_t  *ev;
    const omni_store_case_touch_t  *t;

    c = &m->c;

    rc = omni_store_check_id("origin", m->origin, OMNI_STORE_ID_MAX, err);

    if (rc == OMNI_STORE_OK) {
        rc = omni_store_case_check_fields(c, err);
    }

    if (rc == OMNI_STORE_OK) {
        rc = omni_store_check_id("channel", c->channel,
                                 OMNI_STORE_CHANNEL_MAX, err);
    }

    if (rc != OMNI_STORE_OK) {
        return rc;
    }

    if (c->status < 0 || c->status >= OMNI_STORE_CASE_STATUSES
        || (c->follow_up_of[0] != '\0'
            && !omni_store_case_id_valid(c->follow_up_of,
                                         strlen(c->follow_up_of)))
        || c->updated < c->created)
    {
        omni_err(err, "a case change with a status, a follow-up or times "
                       "out of range");
        return OMNI_STORE_INVALID;
    }

    for (i = 0; rc == OMNI_STORE_OK && i < c->ntouches; i++) {
        t = &c->touches[i];

        rc = omni_store_check_id("channel", t->channel,
                                 OMNI_STORE_CHANNEL_MAX, err);

        if (rc == OMNI_STORE_OK && t->identity_type[0] != '\0') {
            rc = omni_store_check_id("identity type", t->identity_type,
                                     OMNI_STORE_TYPE_MAX, err);
        }

        if (rc == OMNI_STORE_OK && t->session[0] != '\0') {
            rc = omni_store_check_id("session id", t->session,
                                     OMNI_STORE_ID_MAX, err);
        }
    }

    for (i = 0; rc == OMNI_STORE_OK && i < m->nev; i++) {
        ev = &m->ev[i];

        rc = omni_store_check_text("author", ev->author,
                                   OMNI_STORE_CASE_AUTHOR_MAX, err);

        if (rc == OMNI_STORE_OK) {
            rc = omni_store_check_id("channel", ev->channel,
                                     OMNI_STORE_CHANNEL_MAX, err);
        }

        if (rc != OMNI_STORE_OK) {
            break;
        }

        text = (ev->kind == OMNI_STORE_CASE_EV_NOTE
                || ev->kind == OMNI_STORE_CASE_EV_INTERNAL
                || ev->kind == OMNI_STORE_CASE_EV_REPLY);

        if (ev->kind >= OMNI_STORE_CASE_EV_KINDS
            || ev->from >= OMNI_STORE_CASE_STATUSES
            || ev->to >= OMNI_STORE_CASE_STATUSES || ev->time < 0
            || (text && !omni_store_case_text_valid(ev->text, ev->text_len,
                                                    OMNI_STORE_CASE_TEXT_MAX,
                                                    1))
            || (!text && ev->kind != OMNI_STORE_CASE_EV_ASSIGN
                && ev->text_len != 0)
            || memchr(ev->text, '\0', ev->text_len) != NULL)
        {
            omni_err(err, "a case change with an event that is not one");
            rc = OMNI_STORE_INVALID;
        }
    }

    return rc;
}
