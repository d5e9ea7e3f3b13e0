/*
 * Copyright (C) The omni gateway authors
 *
 * Policy revisions (omni_store.h, "policy revisions"): numbered
 * revisions and the current one, kept in the meta database.  The store
 * does not look inside a policy: the policy engine (omni_policy.c)
 * compiles it and owns that prefix; the helpers here are
 * omni_store_policy_*.
 */


#include <inttypes.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <lmdb.h>

#include "omni_store_int.h"


#define OMNI_STORE_POLICY_SEED_NOTE    "seed"
#define OMNI_STORE_POLICY_REMOTE_NOTE  "from the cluster"


typedef struct {
    const char             *json;
    size_t                  len;
    const char             *author;
    const char             *note;
    int64_t                 now;
    int                     seed;       /* only when there is no current */
    int                     remote;     /* from another node: not logged */
    uint32_t                rev;        /* written; 0: none */
} omni_store_policy_op_t;


static int omni_store_policy_check(const char *json, size_t len,
    const char *author, const char *note, int64_t now, char *err);
static void omni_key_policy(omni_sbuf_t *k, uint32_t rev);
static int omni_store_policy_current_get(omni_store_t *st, MDB_txn *txn,
    uint32_t *rev, char *err);
static int omni_store_policy_last(omni_store_t *st, MDB_txn *txn,
    uint32_t *rev, char *err);
static int omni_store_policy_write_op(omni_store_t *st, MDB_txn *txn,
    void *data, char *err);
static int omni_store_policy_info_item(void *out, size_t i,
    const unsigned char *p, size_t len, const MDB_val *v);
static int omni_store_policy_decode(uint32_t rev, const MDB_val *v,
    omni_store_policy_info_t *info, size_t *offset);


/* policy revisions */

int
omni_store_policy_current(omni_store_t *st, uint32_t *rev,
    uint64_t *snapshot, char *err)
{
    int       rc, own;
    MDB_txn  *txn;

    *rev = 0;

    rc = omni_store_rbegin(st, &txn, &own, err);
    if (rc != OMNI_STORE_OK) {
        return rc;
    }

    rc = omni_store_policy_current_get(st, txn, rev, err);

    if (snapshot) {
        *snapshot = (rc == OMNI_STORE_OK) ? (uint64_t) mdb_txn_id(txn) : 0;
    }

    omni_store_rend(st, own);

    return rc;
}


int
omni_store_policy_get(omni_store_t *st, uint32_t rev, char **json,
    size_t *len, omni_store_policy_info_t *info, char *err)
{
    int                        rc, own;
    char                      *buf;
    size_t                     offset;
    MDB_txn                   *txn;
    MDB_val                    val;
    omni_skey_t                key;
    omni_store_policy_info_t   pi;

    *json = NULL;
    *len = 0;

    rc = omni_store_rbegin(st, &txn, &own, err);
    if (rc != OMNI_STORE_OK) {
        return rc;
    }

    if (rev == 0) {
        rc = omni_store_policy_current_get(st, txn, &rev, err);

        if (rc == OMNI_STORE_OK && rev == 0) {
            omni_err(err, "the store has no policy");
            rc = OMNI_STORE_NOT_FOUND;
        }

        if (rc != OMNI_STORE_OK) {
            omni_store_rend(st, own);
            return rc;
        }
    }

    omni_key_policy(omni_skey_init(&key), rev);

    rc = omni_store_get(st, txn, OMNI_STORE_DB_META, &key.b, &val, err);
    if (rc == OMNI_STORE_NOT_FOUND) {
        omni_err(err, "no policy revision %" PRIu32, rev);
    }

    if (rc != OMNI_STORE_OK) {
        omni_store_rend(st, own);
        return rc;
    }

    if (omni_store_policy_decode(rev, &val, &pi, &offset) != 0) {
        omni_store_rend(st, own);
        omni_err(err, "policy revision %" PRIu32 " has a record this "
                       "build cannot read", rev);
        return OMNI_STORE_ERROR;
    }

    buf = malloc(pi.len + 1);
    if (buf == NULL) {
        omni_store_rend(st, own);
        omni_err(err, "out of memory reading policy revision %" PRIu32,
                       rev);
        return OMNI_STORE_ERROR;
    }

    memcpy(buf, (const unsigned char *) val.mv_data + offset, pi.len);
    buf[pi.len] = '\0';

    omni_store_rend(st, own);

    *json = buf;
    *len = pi.len;

    if (info != NULL) {
        *info = pi;
    }

    return OMNI_STORE_OK;
}


int
omni_store_policy_put(omni_store_t *st, const char *json, size_t len,
    const char *author, const char *note, int64_t now, uint32_t *rev,
    char *err)
{
    int                     rc;
    omni_store_policy_op_t  ctx;

    *rev = 0;

    if (note == NULL) {
        note = "";
    }

    rc = omni_store_policy_check(json, len, author, note, now, err);
    if (rc != OMNI_STORE_OK) {
        return rc;
    }

    ctx.json = json;
    ctx.len = len;
    ctx.author = author;
    ctx.note = note;
    ctx.now = now;
    ctx.seed = 0;
    ctx.remote = 0;
    ctx.rev = 0;

    rc = omni_store_write(st, omni_store_policy_write_op, &ctx, err);

    if (rc == OMNI_STORE_OK) {
        *rev = ctx.rev;
    }

    return rc;
}


int
omni_store_policy_seed(omni_store_t *st, const char *json, size_t len,
    const char *author, int64_t now, uint32_t *rev, char *err)
{
    int                     rc;
    omni_store_policy_op_t  ctx;

    *rev = 0;

    rc = omni_store_policy_check(json, len, author,
                                 OMNI_STORE_POLICY_SEED_NOTE, now, err);
    if (rc != OMNI_STORE_OK) {
        return rc;
    }

    ctx.json = json;
    ctx.len = len;
    ctx.author = author;
    ctx.note = OMNI_STORE_POLICY_SEED_NOTE;
    ctx.now = now;
    ctx.seed = 1;
    ctx.remote = 0;
    ctx.rev = 0;

    rc = omni_store_write(st, omni_store_policy_write_op, &ctx, err);

    if (rc == OMNI_STORE_OK) {
        *rev = ctx.rev;
    }

    return rc;
}


int
omni_store_policy_list(omni_store_t *st, uint32_t before,
    omni_store_policy_info_t *out, size_t max, size_t *n, char *err)
{
    int           rc, own;
    MDB_txn      *txn;
    omni_skey_t   prefix, start;

    *n = 0;

    if (max == 0) {
        return OMNI_STORE_OK;
    }

    /* the first key past the ones wanted: revision before, or the end */
    omni_skey_init(&start);

    if (before != 0) {
        omni_key_policy(&start.b, before);

    } else {
        omni_sbuf_str(&start.b, OMNI_STORE_POLICY_REV);
        omni_sbuf_be(&start.b, UINT64_MAX, 5);
    }

    rc = omni_store_rbegin(st, &txn, &own, err);
    if (rc != OMNI_STORE_OK) {
        return rc;
    }

    omni_sbuf_str(omni_skey_init(&prefix), OMNI_STORE_POLICY_REV);

    rc = omni_store_walk(st, txn, OMNI_STORE_DB_META, &prefix.b, &start.b, 1,
                         MDB_PREV, max, omni_store_policy_info_item, out, n,
                         err);

    omni_store_rend(st, own);

    return rc;
}


static int
omni_store_policy_check(const char *json, size_t len, const char *author,
    const char *note, int64_t now, char *err)
{
    int             rc;
    size_t          i;
    unsigned char   c;

    if (json == NULL || len == 0) {
        omni_err(err, "the policy is empty");
        return OMNI_STORE_INVALID;
    }

    if (len > OMNI_STORE_POLICY_MAX) {
        omni_err(err, "the policy is %zu bytes, more than the %d "
                       "allowed", len, OMNI_STORE_POLICY_MAX);
        return OMNI_STORE_INVALID;
    }

    rc = omni_store_check_text("author", author, OMNI_STORE_VALUE_MAX, err);
    if (rc != OMNI_STORE_OK) {
        return rc;
    }

    /* a note is a phrase: spaces pass, control characters do not */
    for (i = 0; i <= OMNI_STORE_VALUE_MAX && note[i] != '\0'; i++) {
        c = (unsigned char) note[i];

        if (c < ' ' || c == 0x7f) {
            break;
        }
    }

    if (i > OMNI_STORE_VALUE_MAX || note[i] != '\0') {
        omni_err(err, "note must be at most %d bytes without control "
                       "characters", OMNI_STORE_VALUE_MAX);
        return OMNI_STORE_INVALID;
    }

    return omni_store_check_time("time", now, err);
}


static void
omni_key_policy(omni_sbuf_t *k, uint32_t rev)
{
    omni_sbuf_str(k, OMNI_STORE_POLICY_REV);
    omni_sbuf_be(k, rev, 4);
}


/* the current revision, 0 when there is none */
static int
omni_store_policy_current_get(omni_store_t *st, MDB_txn *txn, uint32_t *rev,
    char *err)
{
    int          rc;
    MDB_val      val;
    omni_skey_t  key;

    *rev = 0;

    omni_sbuf_str(omni_skey_init(&key), OMNI_STORE_POLICY_CURRENT);

    rc = omni_store_get(st, txn, OMNI_STORE_DB_META, &key.b, &val, err);

    if (rc == OMNI_STORE_NOT_FOUND) {
        return OMNI_STORE_OK;
    }

    if (rc != OMNI_STORE_OK) {
        return rc;
    }

    if (val.mv_size != 4) {
        omni_err(err, "the current policy revision in store %s has a "
                       "record this build cannot read", st->dir);
        return OMNI_STORE_ERROR;
    }

    *rev = (uint32_t) omni_be_get(val.mv_data, 4);

    return OMNI_STORE_OK;
}


/* the highest revision written, 0 when there is none */
static int
omni_store_policy_last(omni_store_t *st, MDB_txn *txn, uint32_t *rev,
    char *err)
{
    int            rc, at;
    MDB_val        k;
    omni_skey_t    end;
    unsigned char *p;

    *rev = 0;

    omni_sbuf_str(omni_skey_init(&end), OMNI_STORE_POLICY_REV);
    omni_sbuf_be(&end.b, UINT64_MAX, 5);

    rc = omni_store_before(st, txn, OMNI_STORE_DB_META, &end.b, &k, &at, err);
    if (rc != OMNI_STORE_OK) {
        return rc;
    }

    if (k.mv_size == OMNI_STORE_POLICY_REV_LEN + 4
        && memcmp(k.mv_data, OMNI_STORE_POLICY_REV,
                  OMNI_STORE_POLICY_REV_LEN) == 0)
    {
        p = k.mv_data;
        *rev = (uint32_t) omni_be_get(p + OMNI_STORE_POLICY_REV_LEN, 4);
    }

    return OMNI_STORE_OK;
}


/*
 * Writes the revision after the highest one (the current one, or one
 * written past it by an import) and makes it current; a seed writes
 * nothing when a revision is current already.  The value is reserved and
 * filled in place: a policy is not copied once more.
 */
static int
omni_store_policy_write_op(omni_store_t *st, MDB_txn *txn, void *data,
    char *err)
{
    int                      mrc, rc;
    uint32_t                 cur, last, next;
    MDB_val                  k, v;
    omni_sbuf_t              hdr;
    omni_skey_t              key;
    unsigned char            head[1 + 8 + 2 * (1 + OMNI_STORE_VALUE_MAX)];
    unsigned char            rec[4];
    omni_store_policy_op_t  *ctx;

    ctx = data;
    ctx->rev = 0;

    rc = omni_store_policy_current_get(st, txn, &cur, err);
    if (rc != OMNI_STORE_OK) {
        return rc;
    }

    if (ctx->seed && cur != 0) {
        return OMNI_STORE_OK;
    }

    rc = omni_store_policy_last(st, txn, &last, err);
    if (rc != OMNI_STORE_OK) {
        return rc;
    }

    if (last < cur) {
        last = cur;
    }

    if (last == UINT32_MAX) {
        omni_err(err, "store %s has no policy revision number left",
                       st->dir);
        return OMNI_STORE_INVALID;
    }

    next = last + 1;

    omni_sbuf_init(&hdr, head, sizeof(head));
    omni_sbuf_u8(&hdr, OMNI_STORE_REC_V1);
    omni_sbuf_be(&hdr, (uint64_t) ctx->now, 8);
    omni_sbuf_lstr(&hdr, ctx->author);
    omni_sbuf_lstr(&hdr, ctx->note);

    omni_key_policy(omni_skey_init(&key), next);

    k.mv_data = key.b.p;
    k.mv_size = key.b.len;
    v.mv_data = NULL;
    v.mv_size = hdr.len + ctx->len;

    mrc = mdb_put(txn, st->dbi[OMNI_STORE_DB_META], &k, &v,
                  MDB_RESERVE | MDB_NOOVERWRITE);

    if (mrc == MDB_KEYEXIST) {
        omni_err(err, "policy revision %" PRIu32 " exists already in "
                       "store %s", next, st->dir);
        return OMNI_STORE_ERROR;
    }

    if (mrc != 0) {
        return omni_store_mdb(st, mrc, "mdb_put", err);
    }

    memcpy(v.mv_data, hdr.p, hdr.len);
    memcpy((unsigned char *) v.mv_data + hdr.len, ctx->json, ctx->len);

    omni_sbuf_init(&hdr, rec, sizeof(rec));
    omni_sbuf_be(&hdr, next, 4);
    omni_sbuf_str(omni_skey_init(&key), OMNI_STORE_POLICY_CURRENT);

    rc = omni_store_put(st, txn, OMNI_STORE_DB_META, &key.b, hdr.p, hdr.len,
                        0, err);
    if (rc != OMNI_STORE_OK) {
        return rc;
    }

    ctx->rev = next;

    /* a seed is each node's own start, never the cluster's policy */
    if (ctx->seed || ctx->remote) {
        return OMNI_STORE_OK;
    }

    omni_sbuf_init(&hdr, rec, sizeof(rec));
    omni_sbuf_be(&hdr, next, 4);
    omni_sbuf_str(omni_skey_init(&key), "p:");
    omni_sbuf_add(&key.b, hdr.p, hdr.len);

    return omni_store_change_log(st, txn, OMNI_STORE_FAMILY_POLICY,
                                 OMNI_STORE_CHANGE_PUT, key.b.p, key.b.len,
                                 NULL, 0, err);
}


/*
 * A full resync (omni-sync) sends the current policy again when the
 * newest local policy change was trimmed from the log before it was
 * published, and no policy from the cluster replaced it since: the
 * change that names it, its seq, time and origin the caller's.
 */
int
omni_store_policy_resync(omni_store_t *st, omni_store_change_t *c,
    char *err)
{
    int                          rc;
    char                        *json;
    size_t                       len;
    omni_sbuf_t                  b;
    omni_store_policy_info_t     pi;
    omni_store_changes_state_t   s;

    rc = omni_store_changes_state(st, &s, err);
    if (rc != OMNI_STORE_OK) {
        return rc;
    }

    if (s.policy_local <= s.published || s.policy_local >= s.first) {
        return OMNI_STORE_NOT_FOUND;
    }

    rc = omni_store_policy_get(st, 0, &json, &len, &pi, err);
    if (rc != OMNI_STORE_OK) {
        return rc;
    }

    free(json);

    if (strcmp(pi.note, OMNI_STORE_POLICY_REMOTE_NOTE) == 0) {
        return OMNI_STORE_NOT_FOUND;
    }

    memset(c, 0, sizeof(omni_store_change_t));
    c->family = OMNI_STORE_FAMILY_POLICY;
    c->op = OMNI_STORE_CHANGE_PUT;

    omni_sbuf_init(&b, c->key, sizeof(c->key));
    omni_sbuf_add(&b, "p:", 2);
    omni_sbuf_be(&b, pi.rev, 4);
    c->key_len = b.len;

    return OMNI_STORE_OK;
}


/*
 * A policy from the stream (omni_store_changes.c): the current one from
 * now on, as a new revision by the node it came from, unless it is the
 * current one already (*wrote says which).  Not logged.
 */
int
omni_store_policy_apply(omni_store_t *st, MDB_txn *txn, const char *origin,
    const unsigned char *json, size_t len, int64_t now, int *wrote,
    char *err)
{
    int                      rc;
    size_t                   offset;
    uint32_t                 cur;
    MDB_val                  val;
    omni_skey_t              key;
    omni_store_policy_op_t   ctx;
    omni_store_policy_info_t pi;

    *wrote = 0;

    rc = omni_store_policy_check((const char *) json, len,
                                 origin[0] ? origin : "cluster",
                                 OMNI_STORE_POLICY_REMOTE_NOTE, now, err);
    if (rc != OMNI_STORE_OK) {
        return rc;
    }

    rc = omni_store_policy_current_get(st, txn, &cur, err);
    if (rc != OMNI_STORE_OK) {
        return rc;
    }

    if (cur != 0) {
        omni_key_policy(omni_skey_init(&key), cur);

        rc = omni_store_get(st, txn, OMNI_STORE_DB_META, &key.b, &val, err);
        if (rc != OMNI_STORE_OK) {
            return rc;
        }

        if (omni_store_policy_decode(cur, &val, &pi, &offset) != 0) {
            omni_err(err, "policy revision %" PRIu32 " has a record this "
                           "build cannot read", cur);
            return OMNI_STORE_ERROR;
        }

        if (pi.len == len
            && memcmp((unsigned char *) val.mv_data + offset, json, len) == 0)
        {
            return OMNI_STORE_OK;
        }
    }

    ctx.json = (const char *) json;
    ctx.len = len;
    ctx.author = origin[0] ? origin : "cluster";
    ctx.note = OMNI_STORE_POLICY_REMOTE_NOTE;
    ctx.now = now;
    ctx.seed = 0;
    ctx.remote = 1;
    ctx.rev = 0;

    rc = omni_store_policy_write_op(st, txn, &ctx, err);

    *wrote = (rc == OMNI_STORE_OK);

    return rc;
}


/* the info of a revision's record and where its policy starts */
static int
omni_store_policy_decode(uint32_t rev, const MDB_val *v,
    omni_store_policy_info_t *info, size_t *offset)
{
    omni_srd_t  r;

    memset(info, 0, sizeof(omni_store_policy_info_t));
    info->rev = rev;

    omni_srd_init(&r, v);

    if (omni_srd_u8(&r) != OMNI_STORE_REC_V1) {
        return -1;
    }

    info->time = (int64_t) omni_srd_be(&r, 8);
    omni_srd_lstr(&r, info->author, OMNI_STORE_VALUE_MAX);
    omni_srd_lstr(&r, info->note, OMNI_STORE_VALUE_MAX);

    if (r.bad || info->time < 0 || info->author[0] == '\0') {
        return -1;
    }

    *offset = r.pos;
    info->len = r.len - r.pos;

    return 0;
}


/* rest: be32 revision; out: the infos */
static int
omni_store_policy_info_item(void *out, size_t i, const unsigned char *p,
    size_t len, const MDB_val *v)
{
    size_t  offset;

    if (len != 4) {
        return -1;
    }

    return omni_store_policy_decode((uint32_t) omni_be_get(p, 4), v,
                                    (omni_store_policy_info_t *) out + i,
                                    &offset);
}
