/*
 * Copyright (C) The omni gateway authors
 *
 * Revocations (omni_store.h, "revocations"): by jti, by session (which
 * deletes the session) and by subject before a time; the check every
 * request makes, listing, removal and the purge of expired jtis.
 */


#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <lmdb.h>

#include "omni_store_int.h"


typedef struct {
    int                     kind;
    const char             *value;
    int64_t                 time;
    int                     remote;   /* from another node: not logged */
} omni_revoke_op_t;


typedef struct {
    int64_t                 now;
    size_t                  max;
    size_t                  purged;
} omni_revoke_purge_t;


static int omni_revoke_key(int kind, const char *value, omni_sbuf_t *key,
    char *err);
static int omni_revoke_op(omni_store_t *st, MDB_txn *txn, void *data,
    char *err);
static int omni_revoke_remove_op(omni_store_t *st, MDB_txn *txn, void *data,
    char *err);
static int omni_revoke_purge_op(omni_store_t *st, MDB_txn *txn, void *data,
    char *err);
static int omni_revoke_time(const MDB_val *v, int64_t *t);
static int omni_revocation_item(void *out, size_t i,
    const unsigned char *rest, size_t len, const MDB_val *val);


/* revocations */

int
omni_store_revoke_jti(omni_store_t *st, const char *jti, int64_t expires_at,
    char *err)
{
    int               rc;
    omni_skey_t       key;
    omni_revoke_op_t  ctx;

    rc = omni_revoke_key(OMNI_STORE_REVOKED_JTI, jti, omni_skey_init(&key),
                         err);
    if (rc == OMNI_STORE_OK) {
        rc = omni_store_check_time("expires_at", expires_at, err);
    }

    if (rc != OMNI_STORE_OK) {
        return rc;
    }

    ctx.kind = OMNI_STORE_REVOKED_JTI;
    ctx.value = jti;
    ctx.time = expires_at;
    ctx.remote = 0;

    return omni_store_write(st, omni_revoke_op, &ctx, err);
}


int
omni_store_revoke_session(omni_store_t *st, const char *id, int64_t now,
    char *err)
{
    int               rc;
    omni_skey_t       key;
    omni_revoke_op_t  ctx;

    rc = omni_revoke_key(OMNI_STORE_REVOKED_SESSION, id,
                         omni_skey_init(&key), err);
    if (rc == OMNI_STORE_OK) {
        rc = omni_store_check_time("now", now, err);
    }

    if (rc != OMNI_STORE_OK) {
        return rc;
    }

    ctx.kind = OMNI_STORE_REVOKED_SESSION;
    ctx.value = id;
    ctx.time = now;
    ctx.remote = 0;

    return omni_store_write(st, omni_revoke_op, &ctx, err);
}


int
omni_store_revoke_subject_before(omni_store_t *st, const char *sub,
    int64_t before, char *err)
{
    int               rc;
    omni_skey_t       key;
    omni_revoke_op_t  ctx;

    rc = omni_revoke_key(OMNI_STORE_REVOKED_SUBJECT, sub,
                         omni_skey_init(&key), err);
    if (rc == OMNI_STORE_OK) {
        rc = omni_store_check_time("before", before, err);
    }

    if (rc != OMNI_STORE_OK) {
        return rc;
    }

    ctx.kind = OMNI_STORE_REVOKED_SUBJECT;
    ctx.value = sub;
    ctx.time = before;
    ctx.remote = 0;

    return omni_store_write(st, omni_revoke_op, &ctx, err);
}


int
omni_store_is_revoked(omni_store_t *st, const char *jti, const char *session,
    const char *sub, int64_t iat, int *rule, char *err)
{
    int           rc, own, kind;
    int64_t       before;
    MDB_txn      *txn;
    MDB_val       val;
    const char   *value;
    omni_skey_t   key;

    *rule = OMNI_STORE_REVOKED_NONE;

    /* every argument is checked before anything is read */
    for (kind = OMNI_STORE_REVOKED_JTI; kind <= OMNI_STORE_REVOKED_SUBJECT;
         kind++)
    {
        value = (kind == OMNI_STORE_REVOKED_JTI) ? jti
                : (kind == OMNI_STORE_REVOKED_SESSION) ? session : sub;

        if (value != NULL) {
            rc = omni_revoke_key(kind, value, omni_skey_init(&key), err);
            if (rc != OMNI_STORE_OK) {
                return rc;
            }
        }
    }

    rc = omni_store_rbegin(st, &txn, &own, err);
    if (rc != OMNI_STORE_OK) {
        return rc;
    }

    for (kind = OMNI_STORE_REVOKED_JTI; kind <= OMNI_STORE_REVOKED_SUBJECT;
         kind++)
    {
        value = (kind == OMNI_STORE_REVOKED_JTI) ? jti
                : (kind == OMNI_STORE_REVOKED_SESSION) ? session : sub;

        if (value == NULL) {
            continue;
        }

        (void) omni_revoke_key(kind, value, omni_skey_init(&key), err);

        rc = omni_store_get(st, txn, OMNI_STORE_DB_REVOCATIONS, &key.b, &val,
                            err);

        if (rc == OMNI_STORE_NOT_FOUND) {
            continue;
        }

        if (rc != OMNI_STORE_OK) {
            break;
        }

        if (kind != OMNI_STORE_REVOKED_SUBJECT) {
            *rule = kind;
            break;
        }

        if (omni_revoke_time(&val, &before) != 0) {
            omni_err(err, "revocation of subject %s has a record this "
                           "build cannot read", sub);
            rc = OMNI_STORE_ERROR;
            break;
        }

        /* a token without iat cannot show it came after the cut */
        if (iat < 0 || iat < before) {
            *rule = kind;
        }
    }

    omni_store_rend(st, own);

    return (rc == OMNI_STORE_NOT_FOUND) ? OMNI_STORE_OK : rc;
}


int
omni_store_revocations_list(omni_store_t *st, int kind, const char *after,
    omni_store_revocation_t *out, size_t max, size_t *n, char *err)
{
    int          rc, own;
    size_t       i;
    MDB_txn     *txn;
    omni_skey_t  prefix, start;

    *n = 0;

    rc = omni_revoke_key(kind, "-", omni_skey_init(&prefix), err);
    if (rc == OMNI_STORE_OK && after != NULL) {
        rc = omni_revoke_key(kind, after, omni_skey_init(&start), err);
    }

    if (rc != OMNI_STORE_OK) {
        return rc;
    }

    prefix.b.len = 2;                  /* "j:", "s:" or "u:" */

    rc = omni_store_rbegin(st, &txn, &own, err);
    if (rc != OMNI_STORE_OK) {
        return rc;
    }

    rc = omni_store_scan(st, txn, OMNI_STORE_DB_REVOCATIONS, &prefix.b,
                         after != NULL ? start.b.p + 2 : NULL,
                         after != NULL ? start.b.len - 2 : 0, max,
                         omni_revocation_item, out, n, err);

    omni_store_rend(st, own);

    for (i = 0; i < *n; i++) {
        out[i].kind = kind;
    }

    return rc;
}


int
omni_store_revocation_remove(omni_store_t *st, int kind, const char *value,
    char *err)
{
    int               rc;
    omni_skey_t       key;
    omni_revoke_op_t  ctx;

    rc = omni_revoke_key(kind, value, omni_skey_init(&key), err);
    if (rc != OMNI_STORE_OK) {
        return rc;
    }

    ctx.kind = kind;
    ctx.value = value;
    ctx.time = 0;
    ctx.remote = 0;

    return omni_store_write(st, omni_revoke_remove_op, &ctx, err);
}


int
omni_store_revocations_purge(omni_store_t *st, int64_t now,
    size_t max_batch, size_t *purged, char *err)
{
    int                  rc;
    omni_revoke_purge_t  ctx;

    *purged = 0;

    rc = omni_store_check_time("now", now, err);
    if (rc != OMNI_STORE_OK) {
        return rc;
    }

    if (max_batch == 0) {
        return OMNI_STORE_OK;
    }

    ctx.now = now;
    ctx.max = max_batch;
    ctx.purged = 0;

    rc = omni_store_write(st, omni_revoke_purge_op, &ctx, err);

    if (rc == OMNI_STORE_OK) {
        *purged = ctx.purged;
    }

    return rc;
}


static int
omni_revoke_key(int kind, const char *value, omni_sbuf_t *key, char *err)
{
    int  rc, tag;

    switch (kind) {
    case OMNI_STORE_REVOKED_JTI:
        tag = 'j';
        rc = omni_store_check_text("jti", value, OMNI_STORE_VALUE_MAX, err);
        break;
    case OMNI_STORE_REVOKED_SESSION:
        tag = 's';
        rc = omni_store_check_id("session id", value, OMNI_STORE_ID_MAX,
                                 err);
        break;
    case OMNI_STORE_REVOKED_SUBJECT:
        tag = 'u';
        rc = omni_store_check_text("subject", value, OMNI_STORE_VALUE_MAX,
                                   err);
        break;
    default:
        omni_err(err, "unknown revocation kind %d", kind);
        return OMNI_STORE_INVALID;
    }

    if (rc != OMNI_STORE_OK) {
        return rc;
    }

    omni_sbuf_u8(key, tag);
    omni_sbuf_u8(key, ':');
    omni_sbuf_str(key, value);

    return OMNI_STORE_OK;
}


static int
omni_revoke_op(omni_store_t *st, MDB_txn *txn, void *data, char *err)
{
    int                rc;
    int64_t            old;
    MDB_val            val;
    omni_sbuf_t        b;
    omni_skey_t        key, ekey;
    unsigned char      rec[9];
    omni_revoke_op_t  *ctx;

    ctx = data;

    (void) omni_revoke_key(ctx->kind, ctx->value, omni_skey_init(&key), err);

    if (ctx->kind == OMNI_STORE_REVOKED_JTI) {
        rc = omni_store_get(st, txn, OMNI_STORE_DB_REVOCATIONS, &key.b, &val,
                            err);

        if (rc == OMNI_STORE_OK) {
            if (omni_revoke_time(&val, &old) != 0) {
                omni_err(err, "revocation of jti %s has a record this "
                               "build cannot read", ctx->value);
                return OMNI_STORE_ERROR;
            }

            if (old > 0) {
                omni_key_expiry(omni_skey_init(&ekey), OMNI_EXP_JTI, old,
                                ctx->value);

                rc = omni_store_del(st, txn, OMNI_STORE_DB_EXPIRY, &ekey.b,
                                    err);
            }
        }

        if (rc == OMNI_STORE_NOT_FOUND) {
            rc = OMNI_STORE_OK;
        }

        if (rc == OMNI_STORE_OK && ctx->time > 0) {
            omni_key_expiry(omni_skey_init(&ekey), OMNI_EXP_JTI, ctx->time,
                            ctx->value);

            rc = omni_store_put(st, txn, OMNI_STORE_DB_EXPIRY, &ekey.b, "",
                                0, 0, err);
        }

        if (rc != OMNI_STORE_OK) {
            return rc;
        }
    }

    if (ctx->kind == OMNI_STORE_REVOKED_SESSION) {
        /* a revoked session ends: no channel can resume it */
        rc = omni_store_session_remove(st, txn, ctx->value, err);
        if (rc != OMNI_STORE_OK && rc != OMNI_STORE_NOT_FOUND) {
            return rc;
        }
    }

    omni_sbuf_init(&b, rec, sizeof(rec));
    omni_sbuf_u8(&b, OMNI_STORE_REC_V1);
    omni_sbuf_be(&b, (uint64_t) ctx->time, 8);

    rc = omni_store_put(st, txn, OMNI_STORE_DB_REVOCATIONS, &key.b, b.p,
                        b.len, 0, err);

    if (rc != OMNI_STORE_OK || ctx->remote) {
        return rc;
    }

    return omni_store_change_log(st, txn, OMNI_STORE_FAMILY_REVOCATION,
                                 OMNI_STORE_CHANGE_PUT, key.b.p, key.b.len,
                                 b.p, b.len, err);
}


static int
omni_revoke_remove_op(omni_store_t *st, MDB_txn *txn, void *data, char *err)
{
    int                rc;
    int64_t            old;
    MDB_val            val;
    omni_skey_t        key, ekey;
    omni_revoke_op_t  *ctx;

    ctx = data;

    (void) omni_revoke_key(ctx->kind, ctx->value, omni_skey_init(&key), err);

    rc = omni_store_get(st, txn, OMNI_STORE_DB_REVOCATIONS, &key.b, &val,
                        err);
    if (rc == OMNI_STORE_NOT_FOUND) {
        omni_err(err, "no revocation of %s %s", ctx->kind
                       == OMNI_STORE_REVOKED_JTI ? "jti"
                       : ctx->kind == OMNI_STORE_REVOKED_SESSION ? "session"
                       : "subject", ctx->value);
    }

    if (rc != OMNI_STORE_OK) {
        return rc;
    }

    if (ctx->kind == OMNI_STORE_REVOKED_JTI
        && omni_revoke_time(&val, &old) == 0 && old > 0)
    {
        omni_key_expiry(omni_skey_init(&ekey), OMNI_EXP_JTI, old, ctx->value);

        rc = omni_store_del(st, txn, OMNI_STORE_DB_EXPIRY, &ekey.b, err);
        if (rc != OMNI_STORE_OK && rc != OMNI_STORE_NOT_FOUND) {
            return rc;
        }
    }

    rc = omni_store_del(st, txn, OMNI_STORE_DB_REVOCATIONS, &key.b, err);

    if (rc != OMNI_STORE_OK || ctx->remote) {
        return rc;
    }

    return omni_store_change_log(st, txn, OMNI_STORE_FAMILY_REVOCATION,
                                 OMNI_STORE_CHANGE_DELETE, key.b.p,
                                 key.b.len, NULL, 0, err);
}


/*
 * A change from another node.  Puts are a union: of two records of one
 * value the stronger stays (a jti's later expiry, 0 being never; a
 * subject's later cut; a session's first revocation), whatever the order
 * they arrive in.  A delete of what is not there is done already.
 */
int
omni_store_revoke_apply(omni_store_t *st, MDB_txn *txn, int op,
    const unsigned char *key, size_t key_len, const unsigned char *val,
    size_t val_len, char *err)
{
    int               rc;
    char              value[OMNI_STORE_VALUE_MAX + 1];
    int64_t           old, t;
    MDB_val           v;
    omni_skey_t       k;
    omni_revoke_op_t  ctx;

    if (key_len < 3 || key_len - 2 > OMNI_STORE_VALUE_MAX || key[1] != ':'
        || memchr(key, '\0', key_len) != NULL)
    {
        omni_err(err, "a revocation change with a malformed key");
        return OMNI_STORE_INVALID;
    }

    ctx.kind = key[0] == 'j' ? OMNI_STORE_REVOKED_JTI
               : key[0] == 's' ? OMNI_STORE_REVOKED_SESSION
               : key[0] == 'u' ? OMNI_STORE_REVOKED_SUBJECT : 0;

    memcpy(value, key + 2, key_len - 2);
    value[key_len - 2] = '\0';

    ctx.value = value;
    ctx.time = 0;
    ctx.remote = 1;

    rc = omni_revoke_key(ctx.kind, value, omni_skey_init(&k), err);
    if (rc != OMNI_STORE_OK) {
        return rc;
    }

    if (op == OMNI_STORE_CHANGE_DELETE) {
        rc = omni_revoke_remove_op(st, txn, &ctx, err);
        return (rc == OMNI_STORE_NOT_FOUND) ? OMNI_STORE_OK : rc;
    }

    v.mv_data = (void *) val;
    v.mv_size = val_len;

    if (op != OMNI_STORE_CHANGE_PUT || omni_revoke_time(&v, &t) != 0
        || t < 0)
    {
        omni_err(err, "a revocation change with a malformed record");
        return OMNI_STORE_INVALID;
    }

    rc = omni_store_get(st, txn, OMNI_STORE_DB_REVOCATIONS, &k.b, &v, err);

    if (rc == OMNI_STORE_OK) {
        if (omni_revoke_time(&v, &old) != 0) {
            omni_err(err, "a revocation record this build cannot read");
            return OMNI_STORE_ERROR;
        }

        if (ctx.kind == OMNI_STORE_REVOKED_SESSION
            || (ctx.kind == OMNI_STORE_REVOKED_JTI
                && (old == 0 || (t != 0 && t <= old)))
            || (ctx.kind == OMNI_STORE_REVOKED_SUBJECT && t <= old))
        {
            return OMNI_STORE_OK;
        }

    } else if (rc != OMNI_STORE_NOT_FOUND) {
        return rc;
    }

    ctx.time = t;

    return omni_revoke_op(st, txn, &ctx, err);
}


static int
omni_revoke_purge_op(omni_store_t *st, MDB_txn *txn, void *data, char *err)
{
    int                   rc, mrc;
    size_t                i, n, len, budget;
    int64_t               times[OMNI_STORE_CHUNK], t;
    MDB_val               k, v;
    MDB_cursor           *cur;
    omni_skey_t           key;
    omni_item_t          *items;
    unsigned char         start, *p;
    omni_revoke_purge_t  *ctx;

    ctx = data;
    ctx->purged = 0;
    start = OMNI_EXP_JTI;
    budget = ctx->max;

    items = calloc(OMNI_STORE_CHUNK, sizeof(omni_item_t));
    if (items == NULL) {
        omni_err(err, "out of memory purging revocations");
        return OMNI_STORE_ERROR;
    }

    rc = OMNI_STORE_OK;

    while (budget > 0) {
        mrc = mdb_cursor_open(txn, st->dbi[OMNI_STORE_DB_EXPIRY], &cur);
        if (mrc != 0) {
            rc = omni_store_mdb(st, mrc, "mdb_cursor_open", err);
            break;
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

            len = k.mv_size - 9;

            if (k.mv_size < 10 || len > OMNI_STORE_VALUE_MAX) {
                omni_err(err, "store %s holds a malformed expiry key",
                               st->dir);
                rc = OMNI_STORE_ERROR;
                break;
            }

            t = (int64_t) omni_be_get(p + 1, 8);
            if (t > ctx->now) {
                break;
            }

            times[n] = t;
            items[n].len = len;
            memcpy(items[n].data, p + 9, len);
            n++;

            mrc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
        }

        mdb_cursor_close(cur);

        if (rc != OMNI_STORE_OK) {
            break;
        }

        if (mrc != 0 && mrc != MDB_NOTFOUND) {
            rc = omni_store_mdb(st, mrc, "mdb_cursor_get", err);
            break;
        }

        budget -= n;

        for (i = 0; rc == OMNI_STORE_OK && i < n; i++) {
            omni_sbuf_init(&key.b, key.data, sizeof(key.data));
            omni_sbuf_u8(&key.b, OMNI_EXP_JTI);
            omni_sbuf_be(&key.b, (uint64_t) times[i], 8);
            omni_sbuf_add(&key.b, items[i].data, items[i].len);

            rc = omni_store_del(st, txn, OMNI_STORE_DB_EXPIRY, &key.b, err);
            if (rc != OMNI_STORE_OK) {
                break;
            }

            omni_sbuf_init(&key.b, key.data, sizeof(key.data));
            omni_sbuf_u8(&key.b, 'j');
            omni_sbuf_u8(&key.b, ':');
            omni_sbuf_add(&key.b, items[i].data, items[i].len);

            /* the index names the expiry the record holds: both go */
            rc = omni_store_del(st, txn, OMNI_STORE_DB_REVOCATIONS, &key.b,
                                err);
            if (rc == OMNI_STORE_OK) {
                ctx->purged++;

            } else if (rc == OMNI_STORE_NOT_FOUND) {
                rc = OMNI_STORE_OK;
            }
        }

        if (rc != OMNI_STORE_OK || n < OMNI_STORE_CHUNK) {
            break;
        }
    }

    free(items);

    return rc;
}


static int
omni_revoke_time(const MDB_val *v, int64_t *t)
{
    const unsigned char  *p;

    p = v->mv_data;

    if (v->mv_size != 9 || p[0] != OMNI_STORE_REC_V1) {
        return -1;
    }

    *t = (int64_t) omni_be_get(p + 1, 8);

    return 0;
}


static int
omni_revocation_item(void *out, size_t i, const unsigned char *rest,
    size_t len, const MDB_val *val)
{
    omni_store_revocation_t  *r;

    r = out;

    if (len == 0 || len > OMNI_STORE_VALUE_MAX
        || omni_revoke_time(val, &r[i].time) != 0)
    {
        return -1;
    }

    memcpy(r[i].value, rest, len);
    r[i].value[len] = '\0';

    return 0;
}
