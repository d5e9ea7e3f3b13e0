/*
 * Copyright (C) The omni gateway authors
 *
 * Encryption at rest in the store (omni_store.h, docs/store.md): the
 * keyring a store seals with, each customer's data key, identity keys
 * through blind indexes, sealing and opening records, the conversion of
 * a store written in plain text.  The keys come from omni_keyring, the
 * cipher from omni_seal, the indexes from omni_blind; unwrapped data keys
 * stay in the store's omni_dk_cache and are wiped everywhere else.
 * Crypto-erasure and rotation are omni_store_dkeys.c.
 */


#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <lmdb.h>
#include <openssl/crypto.h>

#include "omni_store_int.h"


#define OMNI_STORE_GROW         1024     /* records collected at a time */

/* "%s%s" of whose data key: a customer, or sessions without one */
#define omni_owner(c)                                                       \
    (c)[0] != '\0' ? "customer " : "",                                      \
    (c)[0] != '\0' ? (c) : "the sessions without a customer"


/* records read before they are rewritten: the writes go to the same db */
typedef struct {
    size_t          n;
    size_t          cap;
    MDB_val        *keys;
    MDB_val        *vals;
} omni_records_t;


static int omni_store_convert_op(omni_store_t *st, MDB_txn *txn, void *data,
    char *err);
static int omni_convert_map(omni_store_t *st, MDB_txn *txn, char *err);
static int omni_convert_index(omni_store_t *st, MDB_txn *txn, char *err);
static int omni_records_read(omni_store_t *st, MDB_txn *txn, int db,
    int tag, omni_records_t *recs, char *err);
static void omni_records_free(omni_records_t *recs);
static int omni_convert_ident(omni_store_t *st, const unsigned char *p,
    size_t len, const char *customer, char *type, omni_sbuf_t *key,
    char *norm, char *err);
static const char *omni_ident_rule(const char *type);


int
omni_store_use_keyring(omni_store_t *st, const omni_keyring_t *kr,
    char *err)
{
    int                   rc, own;
    MDB_txn              *txn;
    const unsigned char  *rec;

    if (st->kr != NULL) {
        omni_err(err, "the store at %s has its keyring already", st->dir);
        return OMNI_STORE_INVALID;
    }

    /*
     * Read only: a store that records no keyring yet records it in the
     * conversion's transaction, so a conversion that fails leaves the
     * store as it was, to be opened without a keyring and put right.
     */
    rc = omni_store_rbegin(st, &txn, &own, err);
    if (rc != OMNI_STORE_OK) {
        return rc;
    }

    rc = omni_store_keyring_get(txn, st->dbi[OMNI_STORE_DB_META], st->dir,
                                &rec, err);
    if (rc == OMNI_STORE_OK) {
        rc = omni_store_keyring_fits(st->dir, rec, kr->id, err);

    } else if (rc == OMNI_STORE_NOT_FOUND && st->sealed) {
        omni_err(err, "the store at %s is sealed but records no keyring",
                 st->dir);
        rc = OMNI_STORE_ERROR;

    } else if (rc == OMNI_STORE_NOT_FOUND) {
        rc = OMNI_STORE_OK;
    }

    omni_store_rend(st, own);

    if (rc != OMNI_STORE_OK) {
        return rc;
    }

    st->seal = omni_seal_new(err);
    if (st->seal == NULL) {
        return OMNI_STORE_ERROR;
    }

    st->blind = omni_blind_new(kr, err);
    if (st->blind == NULL) {
        omni_store_seal_free(st);
        return OMNI_STORE_ERROR;
    }

    st->dkc = omni_dk_cache_new(OMNI_STORE_DK_CACHE);
    if (st->dkc == NULL) {
        omni_store_seal_free(st);
        omni_err(err, "out of memory opening store %s", st->dir);
        return OMNI_STORE_ERROR;
    }

    st->kr = kr;

    /* a sealed store only reads which index key it is keyed by */
    if (st->sealed) {
        rc = omni_store_rbegin(st, &txn, &own, err);
        if (rc == OMNI_STORE_OK) {
            rc = omni_store_index_state(st, txn, err);
            omni_store_rend(st, own);
        }

    } else {
        rc = omni_store_write(st, omni_store_convert_op, NULL, err);
    }

    if (rc != OMNI_STORE_OK) {
        omni_store_seal_free(st);
    }

    return rc;
}


int
omni_store_is_sealed(omni_store_t *st)
{
    return st->sealed;
}


int
omni_store_index_versions(omni_store_t *st, uint32_t *current,
    uint32_t *next, char *err)
{
    int       rc, own;
    MDB_txn  *txn;

    rc = omni_store_rbegin(st, &txn, &own, err);
    if (rc != OMNI_STORE_OK) {
        return rc;
    }

    rc = omni_store_index_state(st, txn, err);

    omni_store_rend(st, own);

    *current = st->index_version;
    *next = st->index_next;

    return rc;
}


void
omni_store_seal_free(omni_store_t *st)
{
    omni_seal_free(st->seal);
    omni_blind_free(st->blind);
    omni_dk_cache_free(st->dkc);

    st->seal = NULL;
    st->blind = NULL;
    st->dkc = NULL;
    st->kr = NULL;
}


/*
 * The "index" record of a sealed store, and "reindex" while a rebuild
 * runs: the versions the keyring needs, read again by every transaction
 * that looks an identity up, since another process may move them on.  A
 * version the keyring lacks is OMNI_STORE_ERROR, never INVALID: a claim
 * skips what is invalid, and would take a known identity for a new one.
 */
int
omni_store_index_state(omni_store_t *st, MDB_txn *txn, char *err)
{
    int                  mrc;
    MDB_val              key, val;
    const unsigned char *p;

    if (!st->sealed) {
        return OMNI_STORE_OK;
    }

    key.mv_data = OMNI_STORE_REINDEX;
    key.mv_size = sizeof(OMNI_STORE_REINDEX) - 1;

    mrc = mdb_get(txn, st->dbi[OMNI_STORE_DB_META], &key, &val);
    if (mrc != 0 && mrc != MDB_NOTFOUND) {
        return omni_store_mdb(st, mrc, "cannot read the reindex record", err);
    }

    st->index_next = (mrc == 0 && val.mv_size >= 4)
                     ? (uint32_t) omni_be_get(val.mv_data, 4) : 0;

    if (st->index_next != 0
        && omni_keyring_index_version(st->kr, st->index_next) == NULL)
    {
        omni_err(err, "the store at %s is being indexed with index key "
                 "version %u, which the keyring lacks (reload after a "
                 "rotation)", st->dir, (unsigned) st->index_next);
        return OMNI_STORE_ERROR;
    }

    key.mv_data = OMNI_STORE_INDEX;
    key.mv_size = sizeof(OMNI_STORE_INDEX) - 1;

    mrc = mdb_get(txn, st->dbi[OMNI_STORE_DB_META], &key, &val);
    if (mrc != 0 && mrc != MDB_NOTFOUND) {
        return omni_store_mdb(st, mrc, "cannot read the index record", err);
    }

    if (mrc == MDB_NOTFOUND || val.mv_size != 4) {
        omni_err(err, "the store at %s is sealed but its index record is "
                 "missing or damaged", st->dir);
        return OMNI_STORE_ERROR;
    }

    p = val.mv_data;
    st->index_version = (uint32_t) omni_be_get(p, 4);

    if (omni_keyring_index_version(st->kr, st->index_version) == NULL) {
        omni_err(err, "the store at %s is indexed with index key version "
                 "%u, which the keyring lacks (reload after a rotation)",
                 st->dir, (unsigned) st->index_version);
        return OMNI_STORE_ERROR;
    }

    return OMNI_STORE_OK;
}


/*
 * A process that opened the store without a keyring writes no plain
 * value into it once another process sealed it (omnictl --keyring on a
 * store nginx was using without one): it is told to start again.
 */
int
omni_store_plain_check(omni_store_t *st, MDB_txn *txn, char *err)
{
    int      mrc;
    MDB_val  key, val;

    if (st->sealed) {
        return OMNI_STORE_OK;
    }

    key.mv_data = "format";
    key.mv_size = sizeof("format") - 1;

    mrc = mdb_get(txn, st->dbi[OMNI_STORE_DB_META], &key, &val);
    if (mrc != 0) {
        return omni_store_mdb(st, mrc, "cannot read the store format", err);
    }

    if (val.mv_size == 1
        && *(char *) val.mv_data == '0' + OMNI_STORE_FORMAT_SEALED)
    {
        omni_err(err, "the store at %s was sealed with a keyring since "
                 "this process opened it: it writes nothing in clear; "
                 "start it again with the keyring", st->dir);
        return OMNI_STORE_ERROR;
    }

    return OMNI_STORE_OK;
}


/* the "index" record: the version the map is keyed by */

int
omni_store_index_record(omni_store_t *st, MDB_txn *txn, uint32_t version,
    char *err)
{
    omni_sbuf_t    b;
    omni_skey_t    key;
    unsigned char  rec[4];

    omni_sbuf_init(&b, rec, sizeof(rec));
    omni_sbuf_be(&b, version, 4);
    omni_sbuf_str(omni_skey_init(&key), OMNI_STORE_INDEX);

    return omni_store_put(st, txn, OMNI_STORE_DB_META, &key.b, b.p, b.len, 0,
                          err);
}


/*
 * The conversion of a plain store, in one write transaction: whatever
 * stops it (a crash included) leaves the store as it was.
 */
static int
omni_store_convert_op(omni_store_t *st, MDB_txn *txn, void *data,
    char *err)
{
    int            rc, mrc;
    char           format[16];
    MDB_val        key, val;

    (void) data;

    key.mv_data = "format";
    key.mv_size = sizeof("format") - 1;

    mrc = mdb_get(txn, st->dbi[OMNI_STORE_DB_META], &key, &val);
    if (mrc != 0) {
        return omni_store_mdb(st, mrc, "cannot read the store format", err);
    }

    /* another process converted it since this one opened it */
    if (val.mv_size == 1 && *(char *) val.mv_data == '2') {
        st->sealed = 1;
        return omni_store_index_state(st, txn, err);
    }

    st->sealed = 1;
    st->index_version = omni_keyring_index(st->kr)->version;

    rc = omni_store_keyring_op(st, txn, (void *) st->kr->id, err);

    if (rc == OMNI_STORE_OK) {
        rc = omni_convert_map(st, txn, err);
    }

    if (rc == OMNI_STORE_OK) {
        rc = omni_convert_index(st, txn, err);
    }

    if (rc == OMNI_STORE_OK) {
        rc = omni_store_session_reseal(st, txn, err);
    }

    if (rc == OMNI_STORE_OK) {
        (void) snprintf(format, sizeof(format), "%d",
                        OMNI_STORE_FORMAT_SEALED);
        val.mv_data = format;
        val.mv_size = strlen(format);

        mrc = mdb_put(txn, st->dbi[OMNI_STORE_DB_META], &key, &val, 0);

        rc = (mrc == 0)
             ? omni_store_index_record(st, txn, st->index_version, err)
             : omni_store_mdb(st, mrc, "cannot record the sealed format",
                              err);
    }

    if (rc != OMNI_STORE_OK) {
        st->sealed = 0;
    }

    return rc;
}


/* the identity map: <type>:<value> -> <type>:<index>, the same record */

static int
omni_convert_map(omni_store_t *st, MDB_txn *txn, char *err)
{
    int             rc, mrc;
    char            type[OMNI_STORE_TYPE_MAX + 1];
    char            norm[OMNI_STORE_VALUE_MAX + 1];
    char            owner[OMNI_STORE_ID_MAX + 1];
    size_t          i;
    MDB_val         k, v;
    omni_skey_t     key;
    omni_records_t  recs;

    rc = omni_records_read(st, txn, OMNI_STORE_DB_IDENTITIES, 0, &recs, err);
    if (rc != OMNI_STORE_OK) {
        return rc;
    }

    for (i = 0; i < recs.n; i++) {
        owner[0] = '?';
        owner[1] = '\0';

        if (recs.vals[i].mv_size >= 2
            && recs.vals[i].mv_size <= OMNI_STORE_ID_MAX + 1)
        {
            memcpy(owner, (char *) recs.vals[i].mv_data + 1,
                   recs.vals[i].mv_size - 1);
            owner[recs.vals[i].mv_size - 1] = '\0';
        }

        rc = omni_convert_ident(st, recs.keys[i].mv_data,
                                recs.keys[i].mv_size, owner, type,
                                omni_skey_init(&key), norm, err);
        if (rc != OMNI_STORE_OK) {
            break;
        }

        /* two spellings of one value may meet, never for two customers */
        k.mv_data = key.b.p;
        k.mv_size = key.b.len;

        mrc = mdb_get(txn, st->dbi[OMNI_STORE_DB_IDENTITIES], &k, &v);

        if (mrc == 0 && (v.mv_size != recs.vals[i].mv_size
                         || memcmp(v.mv_data, recs.vals[i].mv_data,
                                   v.mv_size) != 0))
        {
            omni_err(err, "cannot seal the store at %s: two identities of "
                     "type %s of different customers (one is %s) are the "
                     "same value once normalised; unlink one first",
                     st->dir, type, owner);
            rc = OMNI_STORE_INVALID;
            break;
        }

        if (mrc != 0 && mrc != MDB_NOTFOUND) {
            rc = omni_store_mdb(st, mrc, "mdb_get", err);
            break;
        }

        mrc = mdb_del(txn, st->dbi[OMNI_STORE_DB_IDENTITIES], &recs.keys[i],
                      NULL);

        if (mrc == 0) {
            mrc = mdb_put(txn, st->dbi[OMNI_STORE_DB_IDENTITIES], &k,
                          &recs.vals[i], 0);
        }

        if (mrc != 0) {
            rc = omni_store_mdb(st, mrc, "cannot rewrite an identity", err);
            break;
        }
    }

    omni_records_free(&recs);

    return rc;
}


/* each customer's identity index: the value goes into the record, sealed */

static int
omni_convert_index(omni_store_t *st, MDB_txn *txn, char *err)
{
    int             rc, mrc;
    char            customer[OMNI_STORE_ID_MAX + 1];
    char            type[OMNI_STORE_TYPE_MAX + 1];
    char            norm[OMNI_STORE_VALUE_MAX + 1];
    size_t          i, clen;
    MDB_val         k, v;
    omni_skey_t     key, ikey;
    unsigned char  *p;
    unsigned char   rec[OMNI_STORE_IDENT_REC_MAX];

    omni_records_t  recs;

    rc = omni_records_read(st, txn, OMNI_STORE_DB_CUSTOMERS,
                           OMNI_TAG_IDENTITY, &recs, err);
    if (rc != OMNI_STORE_OK) {
        return rc;
    }

    for (i = 0; i < recs.n; i++) {
        p = recs.keys[i].mv_data;
        clen = (unsigned char *) memchr(p, '\0', recs.keys[i].mv_size) - p;

        if (clen == 0 || clen > OMNI_STORE_ID_MAX) {
            omni_err(err, "cannot seal the store at %s: an identity index "
                     "holds a record this build cannot read", st->dir);
            rc = OMNI_STORE_ERROR;
            break;
        }

        memcpy(customer, p, clen);
        customer[clen] = '\0';

        rc = omni_convert_ident(st, p + clen + 2,
                                recs.keys[i].mv_size - clen - 2, customer,
                                type, omni_skey_init(&ikey), norm, err);
        if (rc != OMNI_STORE_OK) {
            break;
        }

        rc = omni_store_ident_seal(st, txn, customer, ikey.b.p, ikey.b.len,
                                   norm, rec, &v.mv_size, err);
        if (rc != OMNI_STORE_OK) {
            break;
        }

        omni_key_customer(omni_skey_init(&key), customer, OMNI_TAG_IDENTITY);
        omni_sbuf_add(&key.b, ikey.b.p, ikey.b.len);

        k.mv_data = key.b.p;
        k.mv_size = key.b.len;
        v.mv_data = rec;

        mrc = mdb_del(txn, st->dbi[OMNI_STORE_DB_CUSTOMERS], &recs.keys[i],
                      NULL);

        if (mrc == 0) {
            mrc = mdb_put(txn, st->dbi[OMNI_STORE_DB_CUSTOMERS], &k, &v, 0);
        }

        if (mrc != 0) {
            rc = omni_store_mdb(st, mrc, "cannot rewrite an identity", err);
            break;
        }
    }

    OPENSSL_cleanse(norm, sizeof(norm));
    omni_records_free(&recs);

    return rc;
}


/*
 * Copies every record of db (of customers: only the <customer>\0<tag>
 * ones), keys and values, out of the transaction's pages.
 */
static int
omni_records_read(omni_store_t *st, MDB_txn *txn, int db, int tag,
    omni_records_t *recs, char *err)
{
    int           mrc;
    size_t        cap;
    MDB_val       k, v, *keys, *vals;
    MDB_cursor   *cur;
    const char   *nul;

    memset(recs, 0, sizeof(omni_records_t));

    mrc = mdb_cursor_open(txn, st->dbi[db], &cur);
    if (mrc != 0) {
        return omni_store_mdb(st, mrc, "mdb_cursor_open", err);
    }

    for (mrc = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
         mrc == 0;
         mrc = mdb_cursor_get(cur, &k, &v, MDB_NEXT))
    {
        if (tag != 0) {
            nul = memchr(k.mv_data, '\0', k.mv_size);

            if (nul == NULL || (size_t) (nul - (char *) k.mv_data) + 2
                               > k.mv_size
                || nul[1] != tag)
            {
                continue;
            }
        }

        if (recs->n == recs->cap) {
            cap = recs->cap + OMNI_STORE_GROW;
            keys = realloc(recs->keys, cap * sizeof(MDB_val));

            if (keys != NULL) {
                recs->keys = keys;
                vals = realloc(recs->vals, cap * sizeof(MDB_val));

                if (vals != NULL) {
                    recs->vals = vals;
                    recs->cap = cap;
                }
            }

            if (recs->n == recs->cap) {
                break;
            }
        }

        recs->keys[recs->n].mv_data = malloc(k.mv_size + v.mv_size + 1);
        if (recs->keys[recs->n].mv_data == NULL) {
            break;
        }

        memcpy(recs->keys[recs->n].mv_data, k.mv_data, k.mv_size);
        recs->keys[recs->n].mv_size = k.mv_size;
        recs->vals[recs->n].mv_data =
                               (char *) recs->keys[recs->n].mv_data + k.mv_size;
        memcpy(recs->vals[recs->n].mv_data, v.mv_data, v.mv_size);
        recs->vals[recs->n].mv_size = v.mv_size;
        recs->n++;
    }

    mdb_cursor_close(cur);

    if (mrc == 0) {
        omni_records_free(recs);
        omni_err(err, "out of memory sealing the store at %s", st->dir);
        return OMNI_STORE_ERROR;
    }

    if (mrc != MDB_NOTFOUND) {
        omni_records_free(recs);
        return omni_store_mdb(st, mrc, "mdb_cursor_get", err);
    }

    return OMNI_STORE_OK;
}


static void
omni_records_free(omni_records_t *recs)
{
    size_t  i;

    for (i = 0; i < recs->n; i++) {
        OPENSSL_cleanse(recs->keys[i].mv_data,
                        recs->keys[i].mv_size + recs->vals[i].mv_size);
        free(recs->keys[i].mv_data);
    }

    free(recs->keys);
    free(recs->vals);
    memset(recs, 0, sizeof(omni_records_t));
}


/*
 * "<type>:<value>" of a plain store's key (of customer: for the message),
 * and its key in the sealed store; type holds OMNI_STORE_TYPE_MAX + 1.
 */
static int
omni_convert_ident(omni_store_t *st, const unsigned char *p, size_t len,
    const char *customer, char *type, omni_sbuf_t *key, char *norm,
    char *err)
{
    int                   rc;
    char                  value[OMNI_STORE_VALUE_MAX + 1];
    const unsigned char  *colon;

    colon = memchr(p, ':', len);

    if (colon == NULL || colon == p
        || (size_t) (colon - p) > OMNI_STORE_TYPE_MAX
        || len - (size_t) (colon - p) - 1 > OMNI_STORE_VALUE_MAX)
    {
        omni_err(err, "cannot seal the store at %s: an identity of customer "
                 "%s has a key this build cannot read", st->dir, customer);
        return OMNI_STORE_ERROR;
    }

    memcpy(type, p, colon - p);
    type[colon - p] = '\0';
    memcpy(value, colon + 1, len - (colon - p) - 1);
    value[len - (colon - p) - 1] = '\0';

    rc = omni_store_ident_key(st, type, value, key, norm, err);

    OPENSSL_cleanse(value, sizeof(value));

    if (rc != OMNI_STORE_OK) {
        omni_err(err, "cannot seal the store at %s: an identity of type %s "
                 "of customer %s is not %s; unlink it first", st->dir, type,
                 customer, omni_ident_rule(type));
        return OMNI_STORE_INVALID;
    }

    return OMNI_STORE_OK;
}


/* what a value of type must be, for a refusal that never repeats it */

static const char *
omni_ident_rule(const char *type)
{
    switch (omni_blind_rule(type, strlen(type))) {

    case OMNI_BLIND_PHONE:
        return "a phone number in E.164 (\"+\" and 8 to 15 digits)";

    case OMNI_BLIND_EMAIL:
        return "an e-mail address";

    case OMNI_BLIND_CARD:
        return "a card number (12 to 19 digits passing the Luhn check)";

    case OMNI_BLIND_UPPER:
        return "an id number";

    default:
        return "a value of 1 to 255 bytes";
    }
}


/* the key of an identity under the index version new links take */

int
omni_store_ident_key(omni_store_t *st, const char *type, const char *value,
    omni_sbuf_t *key, char *norm, char *err)
{
    return omni_store_ident_key_v(st, st->index_next ? st->index_next
                                                     : st->index_version,
                                  type, value, key, norm, err);
}


/*
 * Finds an identity in the map: *key receives the key it is at, or, when
 * it is not there (OMNI_STORE_NOT_FOUND), the key a link gives it.
 * While a rebuild runs, under the version it moves to, then under the
 * one it moves from.
 */
int
omni_store_ident_find(omni_store_t *st, MDB_txn *txn, const char *type,
    const char *value, omni_sbuf_t *key, char *norm, MDB_val *val,
    char *err)
{
    int          rc;
    omni_skey_t  old;

    rc = omni_store_index_state(st, txn, err);

    if (rc == OMNI_STORE_OK) {
        rc = omni_store_ident_key(st, type, value, key, norm, err);
    }

    if (rc == OMNI_STORE_OK) {
        rc = omni_store_get(st, txn, OMNI_STORE_DB_IDENTITIES, key, val,
                            err);
    }

    if (rc != OMNI_STORE_NOT_FOUND || st->index_next == 0) {
        return rc;
    }

    rc = omni_store_ident_key_v(st, st->index_version, type, value,
                                omni_skey_init(&old), NULL, err);
    if (rc == OMNI_STORE_OK) {
        rc = omni_store_get(st, txn, OMNI_STORE_DB_IDENTITIES, &old.b, val,
                            err);
    }

    if (rc == OMNI_STORE_OK) {
        omni_sbuf_init(key, key->p, key->cap);
        omni_sbuf_add(key, old.b.p, old.b.len);
    }

    return rc;
}


int
omni_store_ident_key_v(omni_store_t *st, uint32_t version, const char *type,
    const char *value, omni_sbuf_t *key, char *norm, char *err)
{
    int            rc;
    char           buf[OMNI_BLIND_VALUE_MAX + 1];
    size_t         len, tlen;
    unsigned char  idx[OMNI_BLIND_LEN];

    rc = omni_store_check_id("identity type", type, OMNI_STORE_TYPE_MAX,
                             err);
    if (rc == OMNI_STORE_OK) {
        rc = omni_store_check_text("identity value", value,
                                   OMNI_STORE_VALUE_MAX, err);
    }

    if (rc != OMNI_STORE_OK) {
        return rc;
    }

    tlen = strlen(type);
    omni_sbuf_add(key, type, tlen);
    omni_sbuf_u8(key, ':');

    if (!st->sealed) {
        omni_sbuf_str(key, value);

        if (norm != NULL) {
            memcpy(norm, value, strlen(value) + 1);
        }

        return OMNI_STORE_OK;
    }

    if (st->blind == NULL) {
        omni_err(err, "the store at %s is sealed: it opens only with its "
                 "keyring", st->dir);
        return OMNI_STORE_INVALID;
    }

    if (omni_blind_normalize(type, tlen, value, strlen(value), buf, &len)
        != 0)
    {
        omni_err(err, "an identity of type %s must be %s", type,
                 omni_ident_rule(type));
        return OMNI_STORE_INVALID;
    }

    if (omni_blind_index(st->blind, version, type, tlen, buf, len, idx)
        != 0)
    {
        OPENSSL_cleanse(buf, sizeof(buf));
        omni_err(err, "no blind index with index key version %u",
                 (unsigned) version);
        return OMNI_STORE_ERROR;
    }

    omni_sbuf_add(key, idx, OMNI_BLIND_LEN);

    if (norm != NULL) {
        memcpy(norm, buf, len);
        norm[len] = '\0';
    }

    OPENSSL_cleanse(buf, sizeof(buf));

    return OMNI_STORE_OK;
}


/*
 * An identity index entry of a sealed store: rest is its key after
 * <customer>\0I ("<type>:" and the index), val its record; id receives
 * the type and the value, opened.
 */
int
omni_store_ident_open(omni_store_t *st, MDB_txn *txn, const char *customer,
    const unsigned char *rest, size_t len, const MDB_val *val,
    omni_store_identity_t *id, char *err)
{
    int                   rc;
    size_t                n;
    const unsigned char  *colon, *p;

    p = val->mv_data;
    colon = memchr(rest, ':', len);

    if (colon == NULL || colon == rest
        || (size_t) (colon - rest) > OMNI_STORE_TYPE_MAX
        || len - (size_t) (colon - rest) - 1 != OMNI_BLIND_LEN
        || val->mv_size < 1 + OMNI_SEAL_OVERHEAD
        || val->mv_size > OMNI_STORE_IDENT_REC_MAX
        || p[0] != OMNI_STORE_REC_SEALED)
    {
        omni_err(err, "an identity of customer %s has a record this sealed "
                 "store cannot read", customer);
        return OMNI_STORE_ERROR;
    }

    rc = omni_store_open_rec(st, txn, customer, "identity", rest, len, p + 1,
                             val->mv_size - 1, (unsigned char *) id->value,
                             &n, err);
    if (rc != OMNI_STORE_OK) {
        return rc;
    }

    id->value[n] = '\0';

    if (!omni_store_text_valid(id->value, n, OMNI_STORE_VALUE_MAX)) {
        OPENSSL_cleanse(id->value, sizeof(id->value));
        omni_err(err, "an identity of customer %s has a value this build "
                 "cannot read", customer);
        return OMNI_STORE_ERROR;
    }

    memcpy(id->type, rest, colon - rest);
    id->type[colon - rest] = '\0';

    return OMNI_STORE_OK;
}


/*
 * The record of an identity index entry: empty in a plain store (the key
 * holds the value), else the value sealed with the customer's data key,
 * bound to the customer and to the key; rec holds
 * OMNI_STORE_IDENT_REC_MAX bytes.
 */
int
omni_store_ident_seal(omni_store_t *st, MDB_txn *txn, const char *customer,
    const unsigned char *ikey, size_t ikey_len, const char *value,
    unsigned char *rec, size_t *len, char *err)
{
    int  rc;

    *len = 0;

    if (!st->sealed) {
        return omni_store_plain_check(st, txn, err);
    }

    rec[0] = OMNI_STORE_REC_SEALED;

    rc = omni_store_seal_rec(st, txn, customer, "identity", ikey, ikey_len,
                             value, strlen(value), rec + 1, err);
    if (rc == OMNI_STORE_OK) {
        *len = 1 + strlen(value) + OMNI_SEAL_OVERHEAD;
    }

    return rc;
}


int
omni_store_identity_check(omni_store_t *st, const char *type,
    const char *value, char *err)
{
    omni_skey_t  key;

    return omni_store_ident_key(st, type, value, omni_skey_init(&key), NULL,
                                err);
}


int
omni_store_dk(omni_store_t *st, MDB_txn *txn, const char *customer,
    int create, unsigned char *dk, char *err)
{
    int              rc, erased;
    MDB_val          val;
    uint32_t         version;
    omni_skey_t      key;
    omni_seal_rc_t   src;
    unsigned char    wrapped[OMNI_SEAL_WRAPPED_LEN];

    if (st->seal == NULL) {
        omni_err(err, "the store at %s is sealed: it opens only with its "
                 "keyring", st->dir);
        return OMNI_STORE_INVALID;
    }

    omni_key_customer(omni_skey_init(&key), customer, OMNI_TAG_KEY);

    rc = omni_store_get(st, txn, OMNI_STORE_DB_CUSTOMERS, &key.b, &val, err);

    if (rc == OMNI_STORE_OK) {
        if (val.mv_size != OMNI_SEAL_WRAPPED_LEN) {
            omni_err(err, "the data key of %s%s is damaged",
                     omni_owner(customer));
            return OMNI_STORE_ERROR;
        }

        if (omni_dk_cache_get(st->dkc, val.mv_data, dk)) {
            return OMNI_STORE_OK;
        }

        src = omni_seal_unwrap(st->seal, st->kr, customer, strlen(customer),
                               val.mv_data, val.mv_size, dk, &version);

        if (src == OMNI_SEAL_OK) {
            omni_dk_cache_put(st->dkc, val.mv_data, dk);
            return OMNI_STORE_OK;
        }

        if (src == OMNI_SEAL_NO_KEY) {
            omni_err(err, "the data key of %s%s is wrapped by KEK version %u, "
                     "which this keyring lacks (reload after a rotation)",
                     omni_owner(customer), (unsigned) version);

        } else if (src == OMNI_SEAL_BAD) {
            omni_err(err, "the data key of %s%s does not open: damaged, or "
                     "not its owner's", omni_owner(customer));

        } else {
            omni_err(err, "cannot open the data key of %s%s",
                     omni_owner(customer));
        }

        return OMNI_STORE_ERROR;
    }

    if (rc != OMNI_STORE_NOT_FOUND) {
        return rc;
    }

    if (!create) {
        omni_err(err, "%s%s has no data key", omni_owner(customer));
        return OMNI_STORE_NOT_FOUND;
    }

    /* an erased customer never has a key again: nothing is sealed for it */
    rc = omni_store_erased(st, txn, customer, &erased, err);
    if (rc != OMNI_STORE_OK) {
        return rc;
    }

    if (erased) {
        omni_err(err, "customer %s was erased", customer);
        return OMNI_STORE_INVALID;
    }

    if (omni_seal_data_key(st->seal, dk) != OMNI_SEAL_OK
        || omni_seal_wrap(st->seal, omni_keyring_kek(st->kr), customer,
                          strlen(customer), dk, wrapped)
           != OMNI_SEAL_OK)
    {
        OPENSSL_cleanse(dk, OMNI_SEAL_KEY_LEN);
        omni_err(err, "cannot make a data key for %s%s", omni_owner(customer));
        return OMNI_STORE_ERROR;
    }

    rc = omni_store_put(st, txn, OMNI_STORE_DB_CUSTOMERS, &key.b, wrapped,
                        sizeof(wrapped), 0, err);
    if (rc != OMNI_STORE_OK) {
        OPENSSL_cleanse(dk, OMNI_SEAL_KEY_LEN);
        return rc;
    }

    omni_dk_cache_put(st->dkc, wrapped, dk);

    return OMNI_STORE_OK;
}


/* out holds len + OMNI_SEAL_OVERHEAD bytes; the data key is made if new */

int
omni_store_seal_rec(omni_store_t *st, MDB_txn *txn, const char *customer,
    const char *record, const void *field, size_t field_len,
    const void *plain, size_t len, unsigned char *out, char *err)
{
    int              rc;
    omni_seal_rc_t   src;
    omni_seal_aad_t  aad;
    unsigned char    dk[OMNI_SEAL_KEY_LEN];

    rc = omni_store_dk(st, txn, customer, 1, dk, err);
    if (rc != OMNI_STORE_OK) {
        return rc;
    }

    aad.customer = customer;
    aad.customer_len = strlen(customer);
    aad.record = record;
    aad.field = field;
    aad.field_len = field_len;

    src = omni_seal_value(st->seal, dk, &aad, plain, len, out);

    OPENSSL_cleanse(dk, sizeof(dk));

    if (src != OMNI_SEAL_OK) {
        omni_err(err, "cannot seal a %s record of %s%s", record,
                 omni_owner(customer));
        return OMNI_STORE_ERROR;
    }

    return OMNI_STORE_OK;
}


/* out holds len bytes; nothing that fails to open is handed out */

int
omni_store_open_rec(omni_store_t *st, MDB_txn *txn, const char *customer,
    const char *record, const void *field, size_t field_len,
    const unsigned char *in, size_t len, unsigned char *out,
    size_t *out_len, char *err)
{
    int              rc;
    omni_seal_rc_t   src;
    omni_seal_aad_t  aad;
    unsigned char    dk[OMNI_SEAL_KEY_LEN];

    rc = omni_store_dk(st, txn, customer, 0, dk, err);

    if (rc == OMNI_STORE_NOT_FOUND) {
        omni_err(err, "a %s record of %s%s does not open: its data key is "
                 "gone", record, omni_owner(customer));
        return OMNI_STORE_ERROR;
    }

    if (rc != OMNI_STORE_OK) {
        return rc;
    }

    aad.customer = customer;
    aad.customer_len = strlen(customer);
    aad.record = record;
    aad.field = field;
    aad.field_len = field_len;

    src = omni_seal_open(st->seal, dk, &aad, in, len, out, out_len);

    OPENSSL_cleanse(dk, sizeof(dk));

    if (src != OMNI_SEAL_OK) {
        omni_err(err, "a %s record of %s%s does not open: damaged, or moved "
                 "from another record", record, omni_owner(customer));
        return OMNI_STORE_ERROR;
    }

    return OMNI_STORE_OK;
}


int
omni_store_erased(omni_store_t *st, MDB_txn *txn, const char *customer,
    int *erased, char *err)
{
    int          rc;
    MDB_val      val;
    omni_skey_t  key;

    omni_sbuf_str(omni_skey_init(&key), OMNI_STORE_ERASED);
    omni_sbuf_str(&key.b, customer);

    rc = omni_store_get(st, txn, OMNI_STORE_DB_META, &key.b, &val, err);

    *erased = (rc == OMNI_STORE_OK);

    return rc == OMNI_STORE_NOT_FOUND ? OMNI_STORE_OK : rc;
}
