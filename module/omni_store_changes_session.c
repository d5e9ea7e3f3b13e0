/*
 * Copyright (C) The omni gateway authors
 *
 * Sessions shared between nodes (omni_store.h, "Sessions"; docs/
 * cluster.md): the change a local session write logs in its transaction,
 * the version of a session's context, the session a change carries on
 * the wire (its encoding, read from the store when omni-sync publishes,
 * and its strict decoding), and the merge of a session from another node
 * into this node's.
 *
 * A session is merged field by field, so the order changes arrive in
 * does not matter and every node ends with the same session: created the
 * earlier, last_seen the later, the channels of both, and the context of
 * the later version.  A context's version is (the time it was written in
 * ms, the node that wrote it), kept in the changes sub-database
 * ("v"<family><id>, omni_store_int.h); a touch leaves it, so a touch on
 * one node never undoes a context written on another.  The versions'
 * readers and writers serve the other families (cases) too.
 */


#include <stdint.h>
#include <string.h>
#include <time.h>

#include <lmdb.h>

#include "omni_store_int.h"


#define OMNI_STORE_VERSION        'v'
#define OMNI_STORE_VERSION_MAX    (1 + 8 + 1 + OMNI_STORE_ID_MAX)


static int omni_session_data_read(const omni_store_change_t *c,
    omni_store_session_t *s, omni_store_version_t *v, char *err);
static void omni_session_data_write(const omni_store_session_t *s,
    const omni_store_version_t *v, omni_sbuf_t *b);
static void omni_version_key(omni_sbuf_t *k, int family, const char *id);
static int omni_session_newer(const omni_store_version_t *a,
    const omni_store_version_t *b);
static int omni_session_merge(omni_store_session_t *cur,
    const omni_store_session_t *in);
static int omni_session_revoked(omni_store_t *st, MDB_txn *txn,
    const char *id, int *revoked, char *err);


/* a local write, in its transaction */

int
omni_store_session_logged(omni_store_t *st, MDB_txn *txn, const char *id,
    int context, char *err)
{
    int                     rc;
    struct timespec         ts;
    omni_store_version_t  v;

    rc = omni_store_change_log(st, txn, OMNI_STORE_FAMILY_SESSION,
                               OMNI_STORE_CHANGE_PUT, id, strlen(id), NULL,
                               0, err);
    if (rc != OMNI_STORE_OK || !context) {
        return rc;
    }

    (void) clock_gettime(CLOCK_REALTIME, &ts);

    v.ms = (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
    v.origin[0] = '\0';

    return omni_store_version_put(st, txn, OMNI_STORE_FAMILY_SESSION,
                                  id, &v, err);
}


/* versions, of any family */

int
omni_store_version_del(omni_store_t *st, MDB_txn *txn, int family,
    const char *id, char *err)
{
    int          rc;
    omni_skey_t  k;

    omni_version_key(omni_skey_init(&k), family, id);

    rc = omni_store_del(st, txn, OMNI_STORE_DB_CHANGES, &k.b, err);

    return (rc == OMNI_STORE_NOT_FOUND) ? OMNI_STORE_OK : rc;
}


/* omni-sync: change c of the log, with its session as it is now */

int
omni_store_change_session_encode(omni_store_t *st, omni_store_change_t *c,
    const char *node, unsigned char *out, size_t cap, size_t *len,
    char *err)
{
    int                     rc, own;
    char                    id[OMNI_STORE_ID_MAX + 1];
    MDB_txn                *txn;
    omni_sbuf_t             b;
    omni_store_session_t    s;
    omni_store_version_t  v;
    unsigned char           data[OMNI_STORE_SESSION_DATA_MAX];

    if (c->family != OMNI_STORE_FAMILY_SESSION
        || c->key_len > OMNI_STORE_ID_MAX)
    {
        omni_err(err, "not a session change");
        return OMNI_STORE_INVALID;
    }

    memcpy(id, c->key, c->key_len);
    id[c->key_len] = '\0';

    rc = omni_store_rbegin(st, &txn, &own, err);
    if (rc != OMNI_STORE_OK) {
        return rc;
    }

    rc = omni_store_session_load(st, txn, id, &s, err);
    if (rc == OMNI_STORE_OK) {
        rc = omni_store_version_get(st, txn, OMNI_STORE_FAMILY_SESSION,
                                    id, &v, err);
    }

    omni_store_rend(st, own);

    if (rc == OMNI_STORE_NOT_FOUND) {
        /* not the id: a session id lets one act as the customer */
        omni_err(err, "the session ended before it was published");
    }

    if (rc != OMNI_STORE_OK) {
        return rc;
    }

    if (v.origin[0] == '\0') {
        (void) strcpy(v.origin, node);
    }

    omni_sbuf_init(&b, data, sizeof(data));
    omni_session_data_write(&s, &v, &b);

    if (b.overflow) {
        omni_err(err, "a session that does not fit a change");
        return OMNI_STORE_ERROR;
    }

    c->data = data;
    c->data_len = b.len;

    rc = omni_store_change_encode(c, out, cap, len, err);

    c->data = NULL;
    c->data_len = 0;

    return rc;
}


/* the wire decoder's check: a put of a session id, with a session or none
 * (in the log) */

int
omni_store_change_session_check(const omni_store_change_t *c, char *err)
{
    omni_store_session_t    s;
    omni_store_version_t  v;

    if (c->op != OMNI_STORE_CHANGE_PUT || c->val_len != 0
        || c->key_len > OMNI_STORE_ID_MAX
        || !omni_store_id_valid((const char *) c->key, c->key_len,
                                OMNI_STORE_ID_MAX))
    {
        omni_err(err, "a session change that is not a put of a session id");
        return OMNI_STORE_INVALID;
    }

    if (c->data_len == 0) {
        return OMNI_STORE_OK;
    }

    return omni_session_data_read(c, &s, &v, err);
}


/* a session from another node, merged into this node's */

int
omni_store_session_apply(omni_store_t *st, MDB_txn *txn,
    const omni_store_change_t *c, const char *node, int *applied, char *err)
{
    int                     rc, revoked, erased;
    omni_store_session_t    in, cur;
    omni_store_version_t  vin, vcur;

    *applied = 0;

    if (c->data_len == 0) {
        omni_err(err, "a session change without its session");
        return OMNI_STORE_INVALID;
    }

    rc = omni_session_data_read(c, &in, &vin, err);
    if (rc != OMNI_STORE_OK) {
        return rc;
    }

    /* an ended session stays ended: its revocation is its tombstone */
    rc = omni_session_revoked(st, txn, in.id, &revoked, err);
    if (rc != OMNI_STORE_OK || revoked) {
        return rc;
    }

    if (in.customer[0] != '\0') {
        rc = omni_store_erased(st, txn, in.customer, &erased, err);
        if (rc != OMNI_STORE_OK || erased) {
            return rc;
        }
    }

    rc = omni_store_session_load(st, txn, in.id, &cur, err);

    if (rc == OMNI_STORE_NOT_FOUND) {
        rc = omni_store_session_set(st, txn, &in, err);
        if (rc == OMNI_STORE_OK && vin.ms > 0) {
            rc = omni_store_version_put(st, txn, OMNI_STORE_FAMILY_SESSION,
                                        in.id, &vin, err);
        }

        *applied = (rc == OMNI_STORE_OK);
        return rc;
    }

    if (rc != OMNI_STORE_OK) {
        return rc;
    }

    if (strcmp(cur.customer, in.customer) != 0) {
        omni_err(err, "a session of another customer than this node's "
                       "session of that id");
        return OMNI_STORE_INVALID;
    }

    rc = omni_store_version_get(st, txn, OMNI_STORE_FAMILY_SESSION,
                                in.id, &vcur, err);
    if (rc != OMNI_STORE_OK) {
        return rc;
    }

    if (vcur.origin[0] == '\0') {
        (void) strcpy(vcur.origin, node);
    }

    *applied = omni_session_merge(&cur, &in);

    if (omni_session_newer(&vin, &vcur)) {
        memcpy(cur.context, in.context, in.context_len + 1);
        cur.context_len = in.context_len;
        *applied = 1;

        rc = omni_store_version_put(st, txn, OMNI_STORE_FAMILY_SESSION,
                                    in.id, &vin, err);
        if (rc != OMNI_STORE_OK) {
            return rc;
        }
    }

    if (!*applied) {
        return OMNI_STORE_OK;
    }

    return omni_store_session_set(st, txn, &cur, err);
}


/* the touch part: 1 when cur changed */
static int
omni_session_merge(omni_store_session_t *cur, const omni_store_session_t *in)
{
    int       changed;
    unsigned  i, j;

    changed = 0;

    if (in->created < cur->created) {
        cur->created = in->created;
        changed = 1;
    }

    if (in->last_seen > cur->last_seen) {
        cur->last_seen = in->last_seen;
        changed = 1;
    }

    /* a session past OMNI_STORE_CHANNELS channels stops listing them */
    for (i = 0; i < in->nchannels && cur->nchannels < OMNI_STORE_CHANNELS;
         i++)
    {
        for (j = 0; j < cur->nchannels; j++) {
            if (strcmp(cur->channels[j], in->channels[i]) == 0) {
                break;
            }
        }

        if (j == cur->nchannels) {
            memcpy(cur->channels[j], in->channels[i],
                   strlen(in->channels[i]) + 1);
            cur->nchannels++;
            changed = 1;
        }
    }

    return changed;
}


static int
omni_session_newer(const omni_store_version_t *a,
    const omni_store_version_t *b)
{
    if (a->ms != b->ms) {
        return a->ms > b->ms;
    }

    return strcmp(a->origin, b->origin) > 0;
}


static int
omni_session_revoked(omni_store_t *st, MDB_txn *txn, const char *id,
    int *revoked, char *err)
{
    int          rc;
    MDB_val      v;
    omni_skey_t  k;

    *revoked = 0;

    omni_sbuf_str(omni_skey_init(&k), "s:");
    omni_sbuf_str(&k.b, id);

    rc = omni_store_get(st, txn, OMNI_STORE_DB_REVOCATIONS, &k.b, &v, err);
    if (rc == OMNI_STORE_NOT_FOUND) {
        return OMNI_STORE_OK;
    }

    *revoked = (rc == OMNI_STORE_OK);

    return rc;
}


static void
omni_session_data_write(const omni_store_session_t *s,
    const omni_store_version_t *v, omni_sbuf_t *b)
{
    unsigned  i;

    omni_sbuf_u8(b, OMNI_STORE_REC_V1);
    omni_sbuf_be(b, (uint64_t) s->created, 8);
    omni_sbuf_be(b, (uint64_t) s->last_seen, 8);
    omni_sbuf_be(b, (uint64_t) v->ms, 8);
    omni_sbuf_lstr(b, v->origin);
    omni_sbuf_lstr(b, s->customer);
    omni_sbuf_u8(b, s->nchannels);

    for (i = 0; i < s->nchannels; i++) {
        omni_sbuf_lstr(b, s->channels[i]);
    }

    omni_sbuf_be(b, s->context_len, 2);
    omni_sbuf_add(b, s->context, s->context_len);
}


/*
 * Untrusted bytes (a NATS message): the session is checked as a put
 * checks it (ids, channels, a context that is a JSON object), and the
 * version must name a node.
 */
static int
omni_session_data_read(const omni_store_change_t *c,
    omni_store_session_t *s, omni_store_version_t *v, char *err)
{
    size_t      n;
    MDB_val     val;
    uint64_t    created, seen, ms;
    unsigned    i;
    omni_srd_t  r;

    memset(s, 0, sizeof(omni_store_session_t));

    if (c->key_len > OMNI_STORE_ID_MAX) {
        omni_err(err, "a session change whose key is not a session id");
        return OMNI_STORE_INVALID;
    }

    memcpy(s->id, c->key, c->key_len);
    s->id[c->key_len] = '\0';

    val.mv_data = (void *) c->data;
    val.mv_size = c->data_len;
    omni_srd_init(&r, &val);

    if (omni_srd_u8(&r) != OMNI_STORE_REC_V1) {
        r.bad = 1;
    }

    created = omni_srd_be(&r, 8);
    seen = omni_srd_be(&r, 8);
    ms = omni_srd_be(&r, 8);
    omni_srd_name(&r, v->origin, OMNI_STORE_ID_MAX);
    omni_srd_name(&r, s->customer, OMNI_STORE_ID_MAX);
    s->nchannels = omni_srd_u8(&r);

    if (s->nchannels > OMNI_STORE_CHANNELS) {
        r.bad = 1;
    }

    for (i = 0; !r.bad && i < s->nchannels; i++) {
        omni_srd_name(&r, s->channels[i], OMNI_STORE_CHANNEL_MAX);
    }

    n = (size_t) omni_srd_be(&r, 2);
    omni_srd_bytes(&r, n, s->context, OMNI_STORE_CONTEXT_MAX);

    if (r.bad || r.pos != r.len) {
        omni_err(err, "a session change whose session is truncated or too "
                       "long");
        return OMNI_STORE_INVALID;
    }

    if (created > INT64_MAX || seen > INT64_MAX || ms > INT64_MAX
        || seen < created
        || !omni_store_id_valid(v->origin, strlen(v->origin),
                                OMNI_STORE_ID_MAX))
    {
        omni_err(err, "a session change with a time out of range or no "
                       "origin");
        return OMNI_STORE_INVALID;
    }

    s->created = (int64_t) created;
    s->last_seen = (int64_t) seen;
    s->context_len = n;
    v->ms = (int64_t) ms;

    return omni_store_session_check(s, err);
}


int
omni_store_version_get(omni_store_t *st, MDB_txn *txn, int family,
    const char *id, omni_store_version_t *v, char *err)
{
    int          rc;
    MDB_val      val;
    omni_srd_t   r;
    omni_skey_t  k;

    v->ms = 0;
    v->origin[0] = '\0';

    omni_version_key(omni_skey_init(&k), family, id);

    rc = omni_store_get(st, txn, OMNI_STORE_DB_CHANGES, &k.b, &val, err);
    if (rc == OMNI_STORE_NOT_FOUND) {
        return OMNI_STORE_OK;
    }

    if (rc != OMNI_STORE_OK) {
        return rc;
    }

    omni_srd_init(&r, &val);

    if (omni_srd_u8(&r) != OMNI_STORE_REC_V1) {
        r.bad = 1;
    }

    v->ms = (int64_t) omni_srd_be(&r, 8);
    omni_srd_lstr(&r, v->origin, OMNI_STORE_ID_MAX);

    if (r.bad || r.pos != r.len || v->ms < 0) {
        omni_err(err, "a record version this build cannot read");
        return OMNI_STORE_ERROR;
    }

    return OMNI_STORE_OK;
}


int
omni_store_version_put(omni_store_t *st, MDB_txn *txn, int family,
    const char *id, const omni_store_version_t *v, char *err)
{
    omni_sbuf_t    b;
    omni_skey_t    k;
    unsigned char  rec[OMNI_STORE_VERSION_MAX];

    omni_sbuf_init(&b, rec, sizeof(rec));
    omni_sbuf_u8(&b, OMNI_STORE_REC_V1);
    omni_sbuf_be(&b, (uint64_t) v->ms, 8);
    omni_sbuf_lstr(&b, v->origin);

    omni_version_key(omni_skey_init(&k), family, id);

    return omni_store_put(st, txn, OMNI_STORE_DB_CHANGES, &k.b, b.p, b.len,
                          0, err);
}


static void
omni_version_key(omni_sbuf_t *k, int family, const char *id)
{
    omni_sbuf_u8(k, OMNI_STORE_VERSION);
    omni_sbuf_u8(k, (unsigned) family);
    omni_sbuf_str(k, id);
}
