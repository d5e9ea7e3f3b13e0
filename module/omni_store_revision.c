/*
 * Copyright (C) The omni gateway authors
 *
 * Documents kept as numbered revisions in the meta database (the policy,
 * omni_store_policy.c; the workflow and the capacities set live,
 * omni_store_workflow.c): each
 * revision with its time, author and note, and the current one.  The
 * store does not look inside a document: its engine validates it before
 * a put.  One implementation for every such document, told apart by its
 * omni_store_doc_t (keys, size bound, name in messages).
 */


#include <inttypes.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <lmdb.h>

#include "omni_store_int.h"


#define OMNI_STORE_DOC_SEED_NOTE  "seed"


static void omni_key_doc(omni_sbuf_t *k, const omni_store_doc_t *doc,
    uint32_t rev);
static int omni_store_doc_last(omni_store_t *st, MDB_txn *txn,
    const omni_store_doc_t *doc, uint32_t *rev, char *err);
static int omni_store_doc_commit(omni_store_t *st,
    const omni_store_doc_t *doc, omni_store_doc_op_t *op, const char *json,
    size_t len, const char *author, const char *note, int64_t now,
    uint32_t *rev, char *err);
static int omni_store_doc_info_item(void *out, size_t i,
    const unsigned char *p, size_t len, const MDB_val *v);


const omni_store_doc_t  omni_store_doc_policy = {
    "policy", OMNI_STORE_POLICY_CURRENT, OMNI_STORE_POLICY_REV,
    OMNI_STORE_POLICY_REV_LEN, OMNI_STORE_POLICY_MAX, 1
};

const omni_store_doc_t  omni_store_doc_workflow = {
    "workflow", OMNI_STORE_WORKFLOW_CURRENT, OMNI_STORE_WORKFLOW_REV,
    OMNI_STORE_WORKFLOW_REV_LEN, OMNI_STORE_WORKFLOW_MAX, 0
};

const omni_store_doc_t  omni_store_doc_capacity = {
    "capacity", OMNI_STORE_CAPACITY_CURRENT, OMNI_STORE_CAPACITY_REV,
    OMNI_STORE_CAPACITY_REV_LEN, OMNI_STORE_CAPACITY_MAX, 0
};


/* snapshot (may be NULL): the commit it was read at */
int
omni_store_doc_current(omni_store_t *st, const omni_store_doc_t *doc,
    uint32_t *rev, uint64_t *snapshot, char *err)
{
    int       rc, own;
    MDB_txn  *txn;

    *rev = 0;

    rc = omni_store_rbegin(st, &txn, &own, err);
    if (rc != OMNI_STORE_OK) {
        return rc;
    }

    rc = omni_store_doc_current_get(st, txn, doc, rev, err);

    if (snapshot) {
        *snapshot = (rc == OMNI_STORE_OK) ? (uint64_t) mdb_txn_id(txn) : 0;
    }

    omni_store_rend(st, own);

    return rc;
}


int
omni_store_doc_get(omni_store_t *st, const omni_store_doc_t *doc,
    uint32_t rev, char **json, size_t *len, omni_store_revision_info_t *info,
    char *err)
{
    int                          rc, own;
    char                        *buf;
    size_t                       offset;
    MDB_txn                     *txn;
    MDB_val                      val;
    omni_skey_t                  key;
    omni_store_revision_info_t   ri;

    *json = NULL;
    *len = 0;

    rc = omni_store_rbegin(st, &txn, &own, err);
    if (rc != OMNI_STORE_OK) {
        return rc;
    }

    if (rev == 0) {
        rc = omni_store_doc_current_get(st, txn, doc, &rev, err);

        if (rc == OMNI_STORE_OK && rev == 0) {
            omni_err(err, "the store has no %s", doc->name);
            rc = OMNI_STORE_NOT_FOUND;
        }

        if (rc != OMNI_STORE_OK) {
            omni_store_rend(st, own);
            return rc;
        }
    }

    omni_key_doc(omni_skey_init(&key), doc, rev);

    rc = omni_store_get(st, txn, OMNI_STORE_DB_META, &key.b, &val, err);
    if (rc == OMNI_STORE_NOT_FOUND) {
        omni_err(err, "no %s revision %" PRIu32, doc->name, rev);
    }

    if (rc != OMNI_STORE_OK) {
        omni_store_rend(st, own);
        return rc;
    }

    if (omni_store_doc_decode(rev, &val, &ri, &offset) != 0) {
        omni_store_rend(st, own);
        omni_err(err, "%s revision %" PRIu32 " has a record this build "
                       "cannot read", doc->name, rev);
        return OMNI_STORE_ERROR;
    }

    buf = malloc(ri.len + 1);
    if (buf == NULL) {
        omni_store_rend(st, own);
        omni_err(err, "out of memory reading %s revision %" PRIu32,
                       doc->name, rev);
        return OMNI_STORE_ERROR;
    }

    memcpy(buf, (const unsigned char *) val.mv_data + offset, ri.len);
    buf[ri.len] = '\0';

    omni_store_rend(st, own);

    *json = buf;
    *len = ri.len;

    if (info != NULL) {
        *info = ri;
    }

    return OMNI_STORE_OK;
}


/* a put, or a seed: revision 1 only when there is no current one yet */
int
omni_store_doc_put(omni_store_t *st, const omni_store_doc_t *doc,
    const char *json, size_t len, const char *author, const char *note,
    int64_t now, int seed, uint32_t *rev, char *err)
{
    omni_store_doc_op_t  op;

    op.seed = seed;
    op.on_base = 0;
    op.base = 0;

    return omni_store_doc_commit(st, doc, &op, json, len, author, note, now,
                                 rev, err);
}


/*
 * A put made from revision base (0: none) of the document: refused with
 * OMNI_STORE_CONFLICT when another put made another current meanwhile,
 * so that a read-modify-write loses no one else's change.
 */
int
omni_store_doc_replace(omni_store_t *st, const omni_store_doc_t *doc,
    uint32_t base, const char *json, size_t len, const char *author,
    const char *note, int64_t now, uint32_t *rev, char *err)
{
    omni_store_doc_op_t  op;

    op.seed = 0;
    op.on_base = 1;
    op.base = base;

    return omni_store_doc_commit(st, doc, &op, json, len, author, note, now,
                                 rev, err);
}


static int
omni_store_doc_commit(omni_store_t *st, const omni_store_doc_t *doc,
    omni_store_doc_op_t *op, const char *json, size_t len,
    const char *author, const char *note, int64_t now, uint32_t *rev,
    char *err)
{
    int  rc;

    *rev = 0;

    if (op->seed) {
        note = OMNI_STORE_DOC_SEED_NOTE;

    } else if (note == NULL) {
        note = "";
    }

    rc = omni_store_doc_check(doc, json, len, author, note, now, err);
    if (rc != OMNI_STORE_OK) {
        return rc;
    }

    op->doc = doc;
    op->json = json;
    op->len = len;
    op->author = author;
    op->note = note;
    op->now = now;
    op->remote = 0;
    op->rev = 0;

    rc = omni_store_write(st, omni_store_doc_write, op, err);

    if (rc == OMNI_STORE_OK) {
        *rev = op->rev;
    }

    return rc;
}


int
omni_store_doc_list(omni_store_t *st, const omni_store_doc_t *doc,
    uint32_t before, omni_store_revision_info_t *out, size_t max, size_t *n,
    char *err)
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
        omni_key_doc(&start.b, doc, before);

    } else {
        omni_sbuf_str(&start.b, doc->prefix);
        omni_sbuf_be(&start.b, UINT64_MAX, 5);
    }

    rc = omni_store_rbegin(st, &txn, &own, err);
    if (rc != OMNI_STORE_OK) {
        return rc;
    }

    omni_sbuf_str(omni_skey_init(&prefix), doc->prefix);

    rc = omni_store_walk(st, txn, OMNI_STORE_DB_META, &prefix.b, &start.b, 1,
                         MDB_PREV, max, omni_store_doc_info_item, out, n,
                         err);

    omni_store_rend(st, own);

    return rc;
}


int
omni_store_doc_check(const omni_store_doc_t *doc, const char *json,
    size_t len, const char *author, const char *note, int64_t now, char *err)
{
    int             rc;
    size_t          i;
    unsigned char   c;

    if (json == NULL || len == 0) {
        omni_err(err, "the %s is empty", doc->name);
        return OMNI_STORE_INVALID;
    }

    if (len > doc->max) {
        omni_err(err, "the %s is %zu bytes, more than the %zu allowed",
                       doc->name, len, doc->max);
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
omni_key_doc(omni_sbuf_t *k, const omni_store_doc_t *doc, uint32_t rev)
{
    omni_sbuf_str(k, doc->prefix);
    omni_sbuf_be(k, rev, 4);
}


/* the current revision, 0 when there is none */
int
omni_store_doc_current_get(omni_store_t *st, MDB_txn *txn,
    const omni_store_doc_t *doc, uint32_t *rev, char *err)
{
    int          rc;
    MDB_val      val;
    omni_skey_t  key;

    *rev = 0;

    omni_sbuf_str(omni_skey_init(&key), doc->current);

    rc = omni_store_get(st, txn, OMNI_STORE_DB_META, &key.b, &val, err);

    if (rc == OMNI_STORE_NOT_FOUND) {
        return OMNI_STORE_OK;
    }

    if (rc != OMNI_STORE_OK) {
        return rc;
    }

    if (val.mv_size != 4) {
        omni_err(err, "the current %s revision in store %s has a record "
                       "this build cannot read", doc->name, st->dir);
        return OMNI_STORE_ERROR;
    }

    *rev = (uint32_t) omni_be_get(val.mv_data, 4);

    return OMNI_STORE_OK;
}


/* the record of revision rev, and where its document starts */
int
omni_store_doc_record(omni_store_t *st, MDB_txn *txn,
    const omni_store_doc_t *doc, uint32_t rev, MDB_val *val,
    omni_store_revision_info_t *info, size_t *offset, char *err)
{
    int          rc;
    omni_skey_t  key;

    omni_key_doc(omni_skey_init(&key), doc, rev);

    rc = omni_store_get(st, txn, OMNI_STORE_DB_META, &key.b, val, err);
    if (rc != OMNI_STORE_OK) {
        return rc;
    }

    if (omni_store_doc_decode(rev, val, info, offset) != 0) {
        omni_err(err, "%s revision %" PRIu32 " has a record this build "
                       "cannot read", doc->name, rev);
        return OMNI_STORE_ERROR;
    }

    return OMNI_STORE_OK;
}


/* the highest revision written, 0 when there is none */
static int
omni_store_doc_last(omni_store_t *st, MDB_txn *txn,
    const omni_store_doc_t *doc, uint32_t *rev, char *err)
{
    int            rc, at;
    MDB_val        k;
    omni_skey_t    end;
    unsigned char *p;

    *rev = 0;

    omni_sbuf_str(omni_skey_init(&end), doc->prefix);
    omni_sbuf_be(&end.b, UINT64_MAX, 5);

    rc = omni_store_before(st, txn, OMNI_STORE_DB_META, &end.b, &k, &at, err);
    if (rc != OMNI_STORE_OK) {
        return rc;
    }

    if (k.mv_size == doc->prefix_len + 4
        && memcmp(k.mv_data, doc->prefix, doc->prefix_len) == 0)
    {
        p = k.mv_data;
        *rev = (uint32_t) omni_be_get(p + doc->prefix_len, 4);
    }

    return OMNI_STORE_OK;
}


/*
 * Writes the revision after the highest one (the current one, or one
 * written past it by an import) and makes it current; a seed writes
 * nothing when a revision is current already.  The value is reserved and
 * filled in place: a document is not copied once more.  data: an
 * omni_store_doc_op_t.
 */
int
omni_store_doc_write(omni_store_t *st, MDB_txn *txn, void *data, char *err)
{
    int                      mrc, rc;
    uint32_t                 cur, last, next;
    MDB_val                  k, v;
    omni_sbuf_t              hdr;
    omni_skey_t              key;
    unsigned char            head[1 + 8 + 2 * (1 + OMNI_STORE_VALUE_MAX)];
    unsigned char            rec[4];
    omni_store_doc_op_t     *op;
    const omni_store_doc_t  *doc;

    op = data;
    doc = op->doc;
    op->rev = 0;

    rc = omni_store_doc_current_get(st, txn, doc, &cur, err);
    if (rc != OMNI_STORE_OK) {
        return rc;
    }

    if (op->seed && cur != 0) {
        return OMNI_STORE_OK;
    }

    if (op->on_base && cur != op->base) {
        omni_err(err, "%s revision %" PRIu32 " became current after "
                       "revision %" PRIu32 " was read", doc->name, cur,
                       op->base);
        return OMNI_STORE_CONFLICT;
    }

    rc = omni_store_doc_last(st, txn, doc, &last, err);
    if (rc != OMNI_STORE_OK) {
        return rc;
    }

    if (last < cur) {
        last = cur;
    }

    if (last == UINT32_MAX) {
        omni_err(err, "store %s has no %s revision number left", st->dir,
                       doc->name);
        return OMNI_STORE_INVALID;
    }

    next = last + 1;

    omni_sbuf_init(&hdr, head, sizeof(head));
    omni_sbuf_u8(&hdr, OMNI_STORE_REC_V1);
    omni_sbuf_be(&hdr, (uint64_t) op->now, 8);
    omni_sbuf_lstr(&hdr, op->author);
    omni_sbuf_lstr(&hdr, op->note);

    omni_key_doc(omni_skey_init(&key), doc, next);

    k.mv_data = key.b.p;
    k.mv_size = key.b.len;
    v.mv_data = NULL;
    v.mv_size = hdr.len + op->len;

    mrc = mdb_put(txn, st->dbi[OMNI_STORE_DB_META], &k, &v,
                  MDB_RESERVE | MDB_NOOVERWRITE);

    if (mrc == MDB_KEYEXIST) {
        omni_err(err, "%s revision %" PRIu32 " exists already in store %s",
                       doc->name, next, st->dir);
        return OMNI_STORE_ERROR;
    }

    if (mrc != 0) {
        return omni_store_mdb(st, mrc, "mdb_put", err);
    }

    memcpy(v.mv_data, hdr.p, hdr.len);
    memcpy((unsigned char *) v.mv_data + hdr.len, op->json, op->len);

    omni_sbuf_init(&hdr, rec, sizeof(rec));
    omni_sbuf_be(&hdr, next, 4);
    omni_sbuf_str(omni_skey_init(&key), doc->current);

    rc = omni_store_put(st, txn, OMNI_STORE_DB_META, &key.b, hdr.p, hdr.len,
                        0, err);
    if (rc != OMNI_STORE_OK) {
        return rc;
    }

    op->rev = next;

    /* a seed is each node's own start, never the cluster's document */
    if (!doc->logged || op->seed || op->remote) {
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


/* the info of a revision's record and where its document starts */
int
omni_store_doc_decode(uint32_t rev, const MDB_val *v,
    omni_store_revision_info_t *info, size_t *offset)
{
    omni_srd_t  r;

    memset(info, 0, sizeof(omni_store_revision_info_t));
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
omni_store_doc_info_item(void *out, size_t i, const unsigned char *p,
    size_t len, const MDB_val *v)
{
    size_t  offset;

    if (len != 4) {
        return -1;
    }

    return omni_store_doc_decode((uint32_t) omni_be_get(p, 4), v,
                                 (omni_store_revision_info_t *) out + i,
                                 &offset);
}
