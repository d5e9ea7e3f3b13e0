/*
 * Copyright (C) The omni gateway authors
 *
 * The keys of a sealed store (omni_store.h, docs/store.md): crypto-
 * erasure of a customer, which destroys its data key with every record
 * of it; the re-wrapping of every data key by the newest KEK after a
 * rotation, with the count of keys each KEK version still wraps; and the
 * rebuilding of the identity map under a new index key.  Rotations are
 * resumable: meta keeps where they are.
 */


#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <lmdb.h>
#include <openssl/crypto.h>

#include "omni_store_int.h"


#define OMNI_STORE_REWRAP_SCAN  4096     /* keys looked at per rewrap */


typedef struct {
    const char     *customer;
    int64_t         now;
    size_t          records;
} omni_erase_op_t;


typedef struct {
    size_t          max;
    size_t          done;
    int             finished;
} omni_rewrap_op_t;


typedef struct {
    size_t          max;
    size_t          done;
    int             finished;
    uint32_t        from;
    uint32_t        to;
} omni_reindex_op_t;


static int omni_erase_op(omni_store_t *st, MDB_txn *txn, void *data,
    char *err);
static int omni_erase_one(omni_store_t *st, MDB_txn *txn, const char *who,
    size_t *records, char *err);
static int omni_del_prefix(omni_store_t *st, MDB_txn *txn, int db,
    const omni_sbuf_t *prefix, size_t *records, char *err);
static int omni_rewrap_op(omni_store_t *st, MDB_txn *txn, void *data,
    char *err);
static int omni_dk_key(const MDB_val *k);
static int omni_reindex_op(omni_store_t *st, MDB_txn *txn, void *data,
    char *err);
static int omni_reindex_chunk(omni_store_t *st, MDB_txn *txn,
    omni_item_t *after, omni_item_t *keys, size_t *n, size_t *looked,
    int *end, char *err);
static int omni_reindex_move(omni_store_t *st, MDB_txn *txn,
    const omni_item_t *item, uint32_t to, int *moved, char *err);
static int omni_reindex_mark(omni_store_t *st, MDB_txn *txn, uint32_t to,
    const omni_item_t *last, char *err);


/* imports (omni_store_import()) */

/*
 * An export's index records ("index", "reindex") go into a sealed store
 * only when they are the store's own or its identity map is empty (a
 * restore into a new store takes them): an identity map keyed by two
 * versions at once, with nothing rebuilding it, would lose identities.
 * Refused before anything is written.
 */
int
omni_store_import_check(omni_store_t *st, const omni_store_record_t *recs,
    size_t n, char *err)
{
    int          rc, own, mrc;
    size_t       i;
    MDB_val      k, v;
    MDB_txn     *txn;
    MDB_stat     ms;

    if (!st->sealed) {
        return OMNI_STORE_OK;
    }

    rc = omni_store_rbegin(st, &txn, &own, err);
    if (rc != OMNI_STORE_OK) {
        return rc;
    }

    for (i = 0; rc == OMNI_STORE_OK && i < n; i++) {
        if (recs[i].db != OMNI_STORE_DB_META
            || !((recs[i].key_len == sizeof(OMNI_STORE_INDEX) - 1
                  && memcmp(recs[i].key, OMNI_STORE_INDEX,
                            recs[i].key_len) == 0)
                 || (recs[i].key_len == sizeof(OMNI_STORE_REINDEX) - 1
                     && memcmp(recs[i].key, OMNI_STORE_REINDEX,
                               recs[i].key_len) == 0)))
        {
            continue;
        }

        k.mv_data = (void *) recs[i].key;
        k.mv_size = recs[i].key_len;

        mrc = mdb_get(txn, st->dbi[OMNI_STORE_DB_META], &k, &v);

        if (mrc == 0 && v.mv_size == recs[i].val_len
            && memcmp(v.mv_data, recs[i].val, v.mv_size) == 0)
        {
            continue;
        }

        if (mrc != 0 && mrc != MDB_NOTFOUND) {
            rc = omni_store_mdb(st, mrc, "mdb_get", err);
            break;
        }

        mrc = mdb_stat(txn, st->dbi[OMNI_STORE_DB_IDENTITIES], &ms);
        if (mrc != 0) {
            rc = omni_store_mdb(st, mrc, "mdb_stat", err);
            break;
        }

        if (ms.ms_entries > 0) {
            omni_err(err, "record %zu: the identity map of the export is "
                     "keyed by other index versions than that of the store "
                     "at %s, which has identities: import it into a new "
                     "store", i + 1, st->dir);
            rc = OMNI_STORE_INVALID;
        }
    }

    omni_store_rend(st, own);

    return rc;
}


/*
 * Whether an imported record is left out: one of a customer the store
 * erased (*skip 1), found by the customer the record names (its key, or
 * in the identity map and sessions its value); or, *skip 2, a data key
 * the store has for the customer already (a customer's data key never
 * changes; the store's may be wrapped by a newer KEK) and a rewrap cursor
 * of another time.  Expiry records hold a time and a session id only;
 * one left of an erased customer's session goes with the next purge.
 */
int
omni_store_import_skip(omni_store_t *st, MDB_txn *txn,
    const omni_store_record_t *rec, int *skip, char *err)
{
    int                   rc, erased;
    char                  customer[OMNI_STORE_ID_MAX + 1];
    size_t                len;
    MDB_val               k, v;
    const unsigned char  *p, *nul;

    *skip = 0;
    p = rec->val;
    len = 0;

    k.mv_data = (void *) rec->key;
    k.mv_size = rec->key_len;

    if (rec->db == OMNI_STORE_DB_META
        && rec->key_len == sizeof(OMNI_STORE_REWRAP) - 1
        && memcmp(rec->key, OMNI_STORE_REWRAP, rec->key_len) == 0)
    {
        *skip = 2;
        return OMNI_STORE_OK;
    }

    if (rec->db == OMNI_STORE_DB_CUSTOMERS && omni_dk_key(&k)
        && mdb_get(txn, st->dbi[OMNI_STORE_DB_CUSTOMERS], &k, &v) == 0)
    {
        *skip = 2;
        return OMNI_STORE_OK;
    }

    switch (rec->db) {

    case OMNI_STORE_DB_CUSTOMERS:
    case OMNI_STORE_DB_JOURNEYS:
        p = rec->key;
        nul = memchr(p, '\0', rec->key_len);
        len = (nul != NULL) ? (size_t) (nul - p) : 0;
        break;

    case OMNI_STORE_DB_CASES:
        /* version, len customer, customer */
        if (rec->val_len > 2 && (size_t) p[1] + 2 <= rec->val_len) {
            len = p[1];
            p += 2;
        }
        break;

    case OMNI_STORE_DB_IDENTITIES:
        if (rec->val_len >= 2) {
            p++;
            len = rec->val_len - 1;
        }
        break;

    case OMNI_STORE_DB_SESSIONS:
        /* version, nchannels, be16, be64 created, be64 last_seen, len */
        if (rec->val_len > 20 && (size_t) p[20] + 21 <= rec->val_len) {
            len = p[20];
            p += 21;
        }
        break;

    default:
        break;
    }

    if (len == 0 || len > OMNI_STORE_ID_MAX) {
        return OMNI_STORE_OK;
    }

    memcpy(customer, p, len);
    customer[len] = '\0';

    rc = omni_store_erased(st, txn, customer, &erased, err);

    if (erased) {
        *skip = 1;
    }

    return rc;
}


/* crypto-erasure */

int
omni_store_customer_erase(omni_store_t *st, const char *customer,
    int64_t now, size_t *records, char *err)
{
    int              rc;
    omni_erase_op_t  ctx;

    if (records != NULL) {
        *records = 0;
    }

    rc = omni_store_check_id("customer id", customer, OMNI_STORE_ID_MAX,
                             err);
    if (rc == OMNI_STORE_OK) {
        rc = omni_store_check_time("now", now, err);
    }

    if (rc != OMNI_STORE_OK) {
        return rc;
    }

    ctx.customer = customer;
    ctx.now = now;
    ctx.records = 0;

    rc = omni_store_write(st, omni_erase_op, &ctx, err);

    if (rc == OMNI_STORE_OK && records != NULL) {
        *records = ctx.records;
    }

    return rc;
}


static int
omni_erase_op(omni_store_t *st, MDB_txn *txn, void *data, char *err)
{
    int               rc, erased;
    size_t            n;
    MDB_val           val;
    omni_skey_t       key, prefix;
    omni_erase_op_t  *ctx;

    ctx = data;
    ctx->records = 0;

    omni_key_customer(omni_skey_init(&key), ctx->customer, OMNI_TAG_MERGED);

    rc = omni_store_get(st, txn, OMNI_STORE_DB_CUSTOMERS, &key.b, &val, err);

    if (rc == OMNI_STORE_OK) {
        omni_err(err, "customer %s was merged into another: erase the "
                 "customer it resolves to", ctx->customer);
        return OMNI_STORE_INVALID;
    }

    if (rc != OMNI_STORE_NOT_FOUND) {
        return rc;
    }

    omni_sbuf_str(omni_skey_init(&prefix), ctx->customer);
    omni_sbuf_u8(&prefix.b, '\0');

    n = 0;

    rc = omni_store_scan(st, txn, OMNI_STORE_DB_CUSTOMERS, &prefix.b, NULL,
                         0, 1, omni_store_count_item, NULL, &n, err);
    if (rc != OMNI_STORE_OK) {
        return rc;
    }

    if (n == 0) {
        rc = omni_store_erased(st, txn, ctx->customer, &erased, err);
        if (rc == OMNI_STORE_OK) {
            omni_err(err, "customer %s %s", ctx->customer,
                     erased ? "was erased already" : "is unknown");
            rc = OMNI_STORE_NOT_FOUND;
        }

        return rc;
    }

    rc = omni_store_erase_txn(st, txn, ctx->customer, ctx->now,
                              &ctx->records, err);
    if (rc != OMNI_STORE_OK) {
        return rc;
    }

    return omni_store_erasure_logged(st, txn, ctx->customer, err);
}


/*
 * Erases customer and every customer merged into it, known or not (a
 * customer this node has no record of is only recorded as erased), and
 * their links from the change log; the erasure itself is not logged.
 */
int
omni_store_erase_txn(omni_store_t *st, MDB_txn *txn, const char *customer,
    int64_t now, size_t *records, char *err)
{
    int            rc;
    char           who[OMNI_STORE_ID_MAX + 1];
    size_t         i, n;
    omni_sbuf_t    b;
    omni_skey_t    key, prefix;
    omni_item_t   *merged;
    unsigned char  rec[9];

    merged = calloc(OMNI_STORE_MERGED_MAX + 1, sizeof(omni_item_t));
    if (merged == NULL) {
        omni_err(err, "out of memory erasing customer %s", customer);
        return OMNI_STORE_ERROR;
    }

    n = 0;
    omni_key_customer(omni_skey_init(&prefix), customer, OMNI_TAG_FROM);

    rc = omni_store_scan(st, txn, OMNI_STORE_DB_CUSTOMERS, &prefix.b, NULL,
                         0, OMNI_STORE_MERGED_MAX + 1,
                         omni_store_collect_item, merged, &n, err);

    omni_sbuf_init(&b, rec, sizeof(rec));
    omni_sbuf_u8(&b, OMNI_STORE_REC_V1);
    omni_sbuf_be(&b, (uint64_t) now, 8);

    /* the customers merged into it first, then itself */
    for (i = 0; rc == OMNI_STORE_OK && i <= n; i++) {
        if (i < n) {
            if (merged[i].len == 0 || merged[i].len > OMNI_STORE_ID_MAX) {
                omni_err(err, "customer %s has a malformed merge record",
                         customer);
                rc = OMNI_STORE_ERROR;
                break;
            }

            memcpy(who, merged[i].data, merged[i].len);
            who[merged[i].len] = '\0';

        } else {
            memcpy(who, customer, strlen(customer) + 1);
        }

        rc = omni_erase_one(st, txn, who, records, err);

        if (rc == OMNI_STORE_OK) {
            omni_sbuf_str(omni_skey_init(&key), OMNI_STORE_ERASED);
            omni_sbuf_str(&key.b, who);

            rc = omni_store_put(st, txn, OMNI_STORE_DB_META, &key.b, b.p,
                                b.len, 0, err);
        }
    }

    if (rc == OMNI_STORE_OK) {
        rc = omni_store_identity_scrub(st, txn, customer, merged, n, err);
    }

    free(merged);

    return rc;
}


/*
 * Every record of one customer: the identities its index names, its
 * sessions, its cases, its journey, then whatever is left under <who>\0, the data
 * key among them.
 */
static int
omni_erase_one(omni_store_t *st, MDB_txn *txn, const char *who,
    size_t *records, char *err)
{
    int           rc;
    char          owner[OMNI_STORE_ID_MAX + 1];
    size_t        i, n;
    MDB_val       val;
    omni_skey_t   prefix, key;
    omni_item_t   items[OMNI_STORE_CHUNK];
    char          id[OMNI_STORE_ID_MAX + 1];

    omni_key_customer(omni_skey_init(&prefix), who, OMNI_TAG_IDENTITY);

    do {
        n = 0;

        rc = omni_store_scan(st, txn, OMNI_STORE_DB_CUSTOMERS, &prefix.b,
                             NULL, 0, OMNI_STORE_CHUNK,
                             omni_store_collect_item, items, &n, err);

        for (i = 0; rc == OMNI_STORE_OK && i < n; i++) {
            omni_sbuf_init(&key.b, key.data, sizeof(key.data));
            omni_sbuf_add(&key.b, items[i].data, items[i].len);

            /* the map entry, unless it names another customer now */
            rc = omni_store_get(st, txn, OMNI_STORE_DB_IDENTITIES, &key.b,
                                &val, err);

            if (rc == OMNI_STORE_OK) {
                owner[0] = '\0';

                if (val.mv_size >= 2 && val.mv_size <= OMNI_STORE_ID_MAX + 1)
                {
                    memcpy(owner, (char *) val.mv_data + 1, val.mv_size - 1);
                    owner[val.mv_size - 1] = '\0';
                }

                if (strcmp(owner, who) == 0) {
                    rc = omni_store_del(st, txn, OMNI_STORE_DB_IDENTITIES,
                                        &key.b, err);
                    (*records)++;
                }

            } else if (rc == OMNI_STORE_NOT_FOUND) {
                rc = OMNI_STORE_OK;
            }

            if (rc == OMNI_STORE_OK) {
                omni_sbuf_init(&key.b, key.data, sizeof(key.data));
                omni_sbuf_add(&key.b, prefix.b.p, prefix.b.len);
                omni_sbuf_add(&key.b, items[i].data, items[i].len);

                rc = omni_store_del(st, txn, OMNI_STORE_DB_CUSTOMERS, &key.b,
                                    err);
                (*records)++;
            }
        }

    } while (rc == OMNI_STORE_OK && n == OMNI_STORE_CHUNK);

    if (rc != OMNI_STORE_OK) {
        return rc;
    }

    omni_key_customer(omni_skey_init(&prefix), who, OMNI_TAG_SESSION);

    do {
        n = 0;

        rc = omni_store_scan(st, txn, OMNI_STORE_DB_CUSTOMERS, &prefix.b,
                             NULL, 0, OMNI_STORE_CHUNK,
                             omni_store_collect_item, items, &n, err);

        for (i = 0; rc == OMNI_STORE_OK && i < n; i++) {
            if (items[i].len == 0 || items[i].len > OMNI_STORE_ID_MAX) {
                omni_err(err, "customer %s has a malformed session index",
                         who);
                return OMNI_STORE_ERROR;
            }

            memcpy(id, items[i].data, items[i].len);
            id[items[i].len] = '\0';

            rc = omni_store_session_remove(st, txn, id, err);
            if (rc == OMNI_STORE_NOT_FOUND) {
                rc = OMNI_STORE_OK;
            }

            /* the index entry, should the session name another customer */
            if (rc == OMNI_STORE_OK) {
                omni_sbuf_init(&key.b, key.data, sizeof(key.data));
                omni_sbuf_add(&key.b, prefix.b.p, prefix.b.len);
                omni_sbuf_add(&key.b, items[i].data, items[i].len);

                rc = omni_store_del(st, txn, OMNI_STORE_DB_CUSTOMERS, &key.b,
                                    err);
                if (rc == OMNI_STORE_NOT_FOUND) {
                    rc = OMNI_STORE_OK;
                }

                (*records)++;
            }
        }

    } while (rc == OMNI_STORE_OK && n == OMNI_STORE_CHUNK);

    if (rc != OMNI_STORE_OK) {
        return rc;
    }

    rc = omni_store_case_erase(st, txn, who, records, err);
    if (rc != OMNI_STORE_OK) {
        return rc;
    }

    omni_sbuf_str(omni_skey_init(&prefix), who);
    omni_sbuf_u8(&prefix.b, '\0');

    rc = omni_del_prefix(st, txn, OMNI_STORE_DB_JOURNEYS, &prefix.b, records,
                         err);
    if (rc != OMNI_STORE_OK) {
        return rc;
    }

    return omni_del_prefix(st, txn, OMNI_STORE_DB_CUSTOMERS, &prefix.b,
                           records, err);
}


static int
omni_del_prefix(omni_store_t *st, MDB_txn *txn, int db,
    const omni_sbuf_t *prefix, size_t *records, char *err)
{
    int          mrc;
    MDB_val      k, v;
    MDB_cursor  *cur;

    mrc = mdb_cursor_open(txn, st->dbi[db], &cur);
    if (mrc != 0) {
        return omni_store_mdb(st, mrc, "mdb_cursor_open", err);
    }

    for ( ;; ) {
        k.mv_data = prefix->p;
        k.mv_size = prefix->len;

        mrc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);

        if (mrc != 0 || k.mv_size < prefix->len
            || memcmp(k.mv_data, prefix->p, prefix->len) != 0)
        {
            break;
        }

        mrc = mdb_cursor_del(cur, 0);
        if (mrc != 0) {
            break;
        }

        (*records)++;
    }

    mdb_cursor_close(cur);

    if (mrc != 0 && mrc != MDB_NOTFOUND) {
        return omni_store_mdb(st, mrc, "cannot erase a record", err);
    }

    return OMNI_STORE_OK;
}


/* rotation */

int
omni_store_rewrap(omni_store_t *st, size_t max, size_t *done, int *finished,
    char *err)
{
    int               rc;
    omni_rewrap_op_t  ctx;

    *done = 0;
    *finished = 0;

    if (st->kr == NULL) {
        omni_err(err, "the store at %s has no keyring to rewrap with",
                 st->dir);
        return OMNI_STORE_INVALID;
    }

    ctx.max = max;
    ctx.done = 0;
    ctx.finished = 0;

    rc = omni_store_write(st, omni_rewrap_op, &ctx, err);

    if (rc == OMNI_STORE_OK) {
        *done = ctx.done;
        *finished = ctx.finished;
    }

    return rc;
}


/* a key <customer>\0K: the first NUL of the key is its second to last byte */

static int
omni_dk_key(const MDB_val *k)
{
    const unsigned char  *p;

    p = k->mv_data;

    return k->mv_size >= 2 && p[k->mv_size - 1] == OMNI_TAG_KEY
           && memchr(p, '\0', k->mv_size) == p + k->mv_size - 2;
}


static int
omni_rewrap_op(omni_store_t *st, MDB_txn *txn, void *data, char *err)
{
    int                        mrc;
    size_t                     looked;
    MDB_val                    k, v, ck, cv;
    uint32_t                   version;
    MDB_cursor                *cur;
    omni_seal_rc_t             src;
    omni_rewrap_op_t          *ctx;
    const omni_keyring_key_t  *kek;
    unsigned char              dk[OMNI_SEAL_KEY_LEN];
    unsigned char              wrapped[OMNI_SEAL_WRAPPED_LEN];
    unsigned char              last[OMNI_STORE_KEY_MAX];

    ctx = data;
    ctx->done = 0;
    ctx->finished = 0;

    kek = omni_keyring_kek(st->kr);

    ck.mv_data = OMNI_STORE_REWRAP;
    ck.mv_size = sizeof(OMNI_STORE_REWRAP) - 1;

    mrc = mdb_get(txn, st->dbi[OMNI_STORE_DB_META], &ck, &cv);
    if (mrc != 0 && mrc != MDB_NOTFOUND) {
        return omni_store_mdb(st, mrc, "cannot read the rewrap cursor", err);
    }

    k.mv_size = 0;
    k.mv_data = last;

    if (mrc == 0 && cv.mv_size > 0 && cv.mv_size <= sizeof(last)) {
        memcpy(last, cv.mv_data, cv.mv_size);
        k.mv_size = cv.mv_size;
    }

    mrc = mdb_cursor_open(txn, st->dbi[OMNI_STORE_DB_CUSTOMERS], &cur);
    if (mrc != 0) {
        return omni_store_mdb(st, mrc, "mdb_cursor_open", err);
    }

    if (k.mv_size == 0) {
        mrc = mdb_cursor_get(cur, &k, &v, MDB_FIRST);

    } else {
        mrc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);

        if (mrc == 0 && k.mv_size == cv.mv_size
            && memcmp(k.mv_data, last, k.mv_size) == 0)
        {
            mrc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
        }
    }

    for (looked = 0;
         mrc == 0 && ctx->done < ctx->max && looked < OMNI_STORE_REWRAP_SCAN;
         looked++)
    {
        memcpy(last, k.mv_data, k.mv_size);
        ck.mv_size = k.mv_size;

        if (omni_dk_key(&k)
            && omni_seal_wrapped_version(v.mv_data, v.mv_size)
               != kek->version)
        {
            src = omni_seal_unwrap(st->seal, st->kr, k.mv_data,
                                   k.mv_size - 2, v.mv_data, v.mv_size, dk,
                                   &version);
            if (src == OMNI_SEAL_OK) {
                src = omni_seal_wrap(st->seal, kek, k.mv_data, k.mv_size - 2,
                                     dk, wrapped);
            }

            OPENSSL_cleanse(dk, sizeof(dk));

            if (src != OMNI_SEAL_OK) {
                mdb_cursor_close(cur);
                omni_err(err, "the data key of customer %.*s does not open "
                         "(%s)", (int) k.mv_size - 2, (char *) k.mv_data,
                         src == OMNI_SEAL_NO_KEY
                         ? "the keyring lacks its KEK version" : "damaged");
                return OMNI_STORE_ERROR;
            }

            v.mv_data = wrapped;
            v.mv_size = sizeof(wrapped);

            mrc = mdb_cursor_put(cur, &k, &v, MDB_CURRENT);
            if (mrc != 0) {
                break;
            }

            ctx->done++;
        }

        mrc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
    }

    mdb_cursor_close(cur);

    if (mrc != 0 && mrc != MDB_NOTFOUND) {
        return omni_store_mdb(st, mrc, "cannot rewrap a data key", err);
    }

    ck.mv_data = last;
    cv.mv_data = OMNI_STORE_REWRAP;
    cv.mv_size = sizeof(OMNI_STORE_REWRAP) - 1;

    if (mrc == MDB_NOTFOUND) {
        ctx->finished = 1;

        mrc = mdb_del(txn, st->dbi[OMNI_STORE_DB_META], &cv, NULL);

    } else {
        /* the cursor: the last key looked at */
        mrc = mdb_put(txn, st->dbi[OMNI_STORE_DB_META], &cv, &ck, 0);
    }

    if (mrc != 0 && mrc != MDB_NOTFOUND) {
        return omni_store_mdb(st, mrc, "cannot record the rewrap cursor",
                              err);
    }

    return OMNI_STORE_OK;
}


int
omni_store_kek_usage(omni_store_t *st, omni_store_kek_use_t *out,
    size_t max, size_t *n, char *err)
{
    int          rc, own, mrc;
    size_t       i, j;
    MDB_val      k, v;
    MDB_txn     *txn;
    uint32_t     version;
    MDB_cursor  *cur;

    *n = 0;

    rc = omni_store_rbegin(st, &txn, &own, err);
    if (rc != OMNI_STORE_OK) {
        return rc;
    }

    mrc = mdb_cursor_open(txn, st->dbi[OMNI_STORE_DB_CUSTOMERS], &cur);
    if (mrc != 0) {
        omni_store_rend(st, own);
        return omni_store_mdb(st, mrc, "mdb_cursor_open", err);
    }

    for (mrc = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
         mrc == 0;
         mrc = mdb_cursor_get(cur, &k, &v, MDB_NEXT))
    {
        if (!omni_dk_key(&k)) {
            continue;
        }

        version = omni_seal_wrapped_version(v.mv_data, v.mv_size);

        for (i = 0; i < *n && out[i].version < version; i++) {
            /* void */
        }

        if (i < *n && out[i].version == version) {
            out[i].keys++;
            continue;
        }

        if (*n == max) {
            continue;
        }

        for (j = *n; j > i; j--) {
            out[j] = out[j - 1];
        }

        out[i].version = version;
        out[i].keys = 1;
        (*n)++;
    }

    mdb_cursor_close(cur);
    omni_store_rend(st, own);

    if (mrc != MDB_NOTFOUND) {
        return omni_store_mdb(st, mrc, "mdb_cursor_get", err);
    }

    return OMNI_STORE_OK;
}


/* index-key rotation */

int
omni_store_reindex(omni_store_t *st, size_t max, size_t *done,
    int *finished, uint32_t *from, uint32_t *to, char *err)
{
    int                rc;
    omni_reindex_op_t  ctx;

    *done = 0;
    *finished = 0;

    if (st->kr == NULL || !st->sealed) {
        omni_err(err, "the store at %s is not sealed: it has no index to "
                 "rebuild", st->dir);
        return OMNI_STORE_INVALID;
    }

    memset(&ctx, 0, sizeof(ctx));
    ctx.max = max;

    rc = omni_store_write(st, omni_reindex_op, &ctx, err);

    if (rc == OMNI_STORE_OK) {
        *done = ctx.done;
        *finished = ctx.finished;

        if (from != NULL) {
            *from = ctx.from;
        }

        if (to != NULL) {
            *to = ctx.to;
        }
    }

    return rc;
}


static int
omni_reindex_op(omni_store_t *st, MDB_txn *txn, void *data, char *err)
{
    int                 rc, mrc, end, moved;
    size_t              i, n, looked;
    MDB_val             k, v;
    omni_item_t         keys[OMNI_STORE_CHUNK];
    omni_item_t         last, after;
    omni_reindex_op_t  *ctx;

    ctx = data;
    ctx->done = 0;
    ctx->finished = 0;

    rc = omni_store_index_state(st, txn, err);
    if (rc != OMNI_STORE_OK) {
        return rc;
    }

    ctx->from = st->index_version;
    ctx->to = st->index_next ? st->index_next
                             : omni_keyring_index(st->kr)->version;

    if (ctx->to == ctx->from) {
        ctx->finished = 1;
        return OMNI_STORE_OK;
    }

    /* where the last call stopped: the key after the version */
    last.len = 0;

    k.mv_data = OMNI_STORE_REINDEX;
    k.mv_size = sizeof(OMNI_STORE_REINDEX) - 1;

    mrc = mdb_get(txn, st->dbi[OMNI_STORE_DB_META], &k, &v);

    if (mrc == 0 && v.mv_size > 4 && v.mv_size - 4 <= sizeof(last.data)) {
        last.len = v.mv_size - 4;
        memcpy(last.data, (unsigned char *) v.mv_data + 4, last.len);

    } else if (mrc != 0 && mrc != MDB_NOTFOUND) {
        return omni_store_mdb(st, mrc, "cannot read the reindex record", err);
    }

    /* from now on lookups try both versions and links take the new one */
    st->index_next = ctx->to;
    looked = 0;
    end = 0;

    while (!end && ctx->done < ctx->max && looked < OMNI_STORE_REWRAP_SCAN) {
        after = last;

        rc = omni_reindex_chunk(st, txn, &after, keys, &n, &looked, &end,
                                err);
        if (rc != OMNI_STORE_OK) {
            return rc;
        }

        for (i = 0; i < n && ctx->done < ctx->max; i++) {
            rc = omni_reindex_move(st, txn, &keys[i], ctx->to, &moved, err);
            if (rc != OMNI_STORE_OK) {
                return rc;
            }

            ctx->done += moved;
        }

        /* stopped inside the chunk: on from the last key moved */
        if (i < n) {
            last = keys[i - 1];
            end = 0;
            break;
        }

        last = after;
    }

    if (!end) {
        return omni_reindex_mark(st, txn, ctx->to, &last, err);
    }

    /* done: the store is keyed by the new version alone */
    rc = omni_store_index_record(st, txn, ctx->to, err);
    if (rc != OMNI_STORE_OK) {
        return rc;
    }

    k.mv_data = OMNI_STORE_REINDEX;
    k.mv_size = sizeof(OMNI_STORE_REINDEX) - 1;

    mrc = mdb_del(txn, st->dbi[OMNI_STORE_DB_META], &k, NULL);
    if (mrc != 0 && mrc != MDB_NOTFOUND) {
        return omni_store_mdb(st, mrc, "cannot record the new index", err);
    }

    st->index_version = ctx->to;
    st->index_next = 0;
    ctx->finished = 1;

    return OMNI_STORE_OK;
}


/*
 * Up to OMNI_STORE_CHUNK identity index keys (<customer>\0I...) after
 * *after, copied out into keys; *after becomes the last key looked at,
 * *end is set at the end of the database.
 */
static int
omni_reindex_chunk(omni_store_t *st, MDB_txn *txn, omni_item_t *after,
    omni_item_t *keys, size_t *n, size_t *looked, int *end, char *err)
{
    int                   mrc;
    MDB_val               k, v;
    MDB_cursor           *cur;
    const unsigned char  *p, *nul;

    *n = 0;
    *end = 0;

    mrc = mdb_cursor_open(txn, st->dbi[OMNI_STORE_DB_CUSTOMERS], &cur);
    if (mrc != 0) {
        return omni_store_mdb(st, mrc, "mdb_cursor_open", err);
    }

    if (after->len == 0) {
        mrc = mdb_cursor_get(cur, &k, &v, MDB_FIRST);

    } else {
        k.mv_data = after->data;
        k.mv_size = after->len;

        mrc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);

        if (mrc == 0 && k.mv_size == after->len
            && memcmp(k.mv_data, after->data, after->len) == 0)
        {
            mrc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
        }
    }

    while (mrc == 0 && *n < OMNI_STORE_CHUNK
           && *looked < OMNI_STORE_REWRAP_SCAN)
    {
        (*looked)++;
        p = k.mv_data;

        if (k.mv_size > sizeof(after->data)) {
            mdb_cursor_close(cur);
            omni_err(err, "the customers of the store at %s hold a key "
                     "this build cannot read", st->dir);
            return OMNI_STORE_ERROR;
        }

        nul = memchr(p, '\0', k.mv_size);

        if (nul != NULL && nul + 1 < p + k.mv_size
            && nul[1] == OMNI_TAG_IDENTITY)
        {
            keys[*n].len = k.mv_size;
            memcpy(keys[*n].data, p, k.mv_size);
            (*n)++;
        }

        after->len = k.mv_size;
        memcpy(after->data, p, k.mv_size);

        mrc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
    }

    mdb_cursor_close(cur);

    if (mrc == MDB_NOTFOUND) {
        *end = 1;
        return OMNI_STORE_OK;
    }

    if (mrc != 0) {
        return omni_store_mdb(st, mrc, "mdb_cursor_get", err);
    }

    return OMNI_STORE_OK;
}


/* one index entry, and its map entry, to the key under version to */

static int
omni_reindex_move(omni_store_t *st, MDB_txn *txn, const omni_item_t *item,
    uint32_t to, int *moved, char *err)
{
    int                    rc;
    char                   customer[OMNI_STORE_ID_MAX + 1];
    size_t                 clen, len;
    MDB_val                val;
    omni_skey_t            key, nkey, nentry;
    omni_store_identity_t  id;
    unsigned char          rec[OMNI_STORE_IDENT_REC_MAX];
    unsigned char          map[OMNI_STORE_ID_MAX + 2];
    const unsigned char   *rest;

    *moved = 0;

    clen = (const unsigned char *) memchr(item->data, '\0', item->len)
           - item->data;
    rest = item->data + clen + 2;
    len = item->len - clen - 2;

    if (clen > OMNI_STORE_ID_MAX) {
        omni_err(err, "the customers of the store at %s hold a key this "
                 "build cannot read", st->dir);
        return OMNI_STORE_ERROR;
    }

    memcpy(customer, item->data, clen);
    customer[clen] = '\0';

    omni_sbuf_init(&key.b, key.data, sizeof(key.data));
    omni_sbuf_add(&key.b, item->data, item->len);

    rc = omni_store_get(st, txn, OMNI_STORE_DB_CUSTOMERS, &key.b, &val, err);

    /* gone since the chunk was read: nothing to move */
    if (rc == OMNI_STORE_NOT_FOUND) {
        return OMNI_STORE_OK;
    }

    if (rc == OMNI_STORE_OK) {
        rc = omni_store_ident_open(st, txn, customer, rest, len, &val, &id,
                                   err);
    }

    if (rc == OMNI_STORE_OK) {
        rc = omni_store_ident_key_v(st, to, id.type, id.value,
                                    omni_skey_init(&nkey), NULL, err);
    }

    if (rc != OMNI_STORE_OK
        || (nkey.b.len == len && memcmp(nkey.b.p, rest, len) == 0))
    {
        OPENSSL_cleanse(&id, sizeof(id));
        return rc;
    }

    /* the index entry, sealed again: its key is bound into it */
    rc = omni_store_ident_seal(st, txn, customer, nkey.b.p, nkey.b.len,
                               id.value, rec, &len, err);

    OPENSSL_cleanse(&id, sizeof(id));

    if (rc == OMNI_STORE_OK) {
        omni_key_customer(omni_skey_init(&nentry), customer,
                          OMNI_TAG_IDENTITY);
        omni_sbuf_add(&nentry.b, nkey.b.p, nkey.b.len);

        rc = omni_store_put(st, txn, OMNI_STORE_DB_CUSTOMERS, &nentry.b, rec,
                            len, 0, err);
    }

    if (rc == OMNI_STORE_OK) {
        rc = omni_store_del(st, txn, OMNI_STORE_DB_CUSTOMERS, &key.b, err);
    }

    if (rc != OMNI_STORE_OK) {
        return rc;
    }

    /* the map entry, when it is there and names this customer */
    omni_sbuf_init(&key.b, key.data, sizeof(key.data));
    omni_sbuf_add(&key.b, rest, item->len - clen - 2);

    rc = omni_store_get(st, txn, OMNI_STORE_DB_IDENTITIES, &key.b, &val, err);

    if (rc == OMNI_STORE_OK && val.mv_size > sizeof(map)) {
        omni_err(err, "an identity of customer %s has a map record this "
                 "build cannot read", customer);
        return OMNI_STORE_ERROR;
    }

    if (rc == OMNI_STORE_OK) {
        memcpy(map, val.mv_data, val.mv_size);
        len = val.mv_size;

        rc = omni_store_put(st, txn, OMNI_STORE_DB_IDENTITIES, &nkey.b, map,
                            len, 0, err);
        if (rc == OMNI_STORE_OK) {
            rc = omni_store_del(st, txn, OMNI_STORE_DB_IDENTITIES, &key.b,
                                err);
        }

    } else if (rc == OMNI_STORE_NOT_FOUND) {
        rc = OMNI_STORE_OK;
    }

    *moved = (rc == OMNI_STORE_OK);

    return rc;
}


/* the reindex record: the version, then the cursor */

static int
omni_reindex_mark(omni_store_t *st, MDB_txn *txn, uint32_t to,
    const omni_item_t *last, char *err)
{
    omni_sbuf_t    b;
    omni_skey_t    key;
    unsigned char  rec[4 + OMNI_STORE_IKEY_MAX];

    omni_sbuf_init(&b, rec, sizeof(rec));
    omni_sbuf_be(&b, to, 4);
    omni_sbuf_add(&b, last->data, last->len);

    omni_sbuf_str(omni_skey_init(&key), OMNI_STORE_REINDEX);

    return omni_store_put(st, txn, OMNI_STORE_DB_META, &key.b, b.p, b.len, 0,
                          err);
}
