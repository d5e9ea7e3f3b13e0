/*
 * Copyright (C) The omni gateway authors
 *
 * Identity links, merges and erasures shared between nodes
 * (docs/cluster.md, "Conflicts: links, merges and erasures"): their
 * changes as the change log keeps them and the wire carries them, the
 * strict check of one from the wire, its application on another node
 * (never logged again), and the changes that describe a whole store for a
 * full resync.
 *
 * An identity change: key <type>:<value> in a plain store, <type>:<blind
 * index> in a sealed one; op put (link) or delete (unlink); value
 *   1, len customer, 0                     plain: the value is the key's
 *   1, len customer, 1, wrapped data key, be16 length, the value sealed
 *                                          sealed (record "change", field
 *                                          the key)
 * where customer is the one linked to (put) or linked to before (delete)
 * and the data key is that customer's, wrapped as the origin keeps it:
 * a node that shares the keyring unwraps it, opens the value, and keys
 * and seals it as its own store does.
 *
 * A merge change: key the customer merged; op put; value 1, len survivor.
 * An erasure: key the customer erased; op put; no value.
 */


#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <lmdb.h>
#include <openssl/crypto.h>

#include "omni_store_int.h"


#define OMNI_LINK_PLAIN       0
#define OMNI_LINK_SEALED      1
#define OMNI_LINK_RECORD      "change"
#define OMNI_LINK_SEALED_MAX  (OMNI_STORE_VALUE_MAX + OMNI_SEAL_OVERHEAD)
#define OMNI_LINK_NEWER_MAX   1024    /* own changes looked through */


/* a newer own change of an identity, among the next left */
typedef struct {
    const omni_store_change_t  *c;
    size_t                      left;
    int                         found;      /* -1: could not tell */
} omni_link_newer_t;


/* the customers an erasure erased */
typedef struct {
    const char                 *customer;
    const omni_item_t          *merged;
    size_t                      n;
} omni_link_scrub_t;


typedef struct {
    char                  type[OMNI_STORE_TYPE_MAX + 1];
    char                  customer[OMNI_STORE_ID_MAX + 1];
    const unsigned char  *rest;               /* the key after the colon */
    size_t                rest_len;
    int                   form;
    const unsigned char  *wrapped;            /* sealed: the data key */
    const unsigned char  *sealed;             /* and the value */
    size_t                sealed_len;
} omni_link_change_t;


static int omni_link_val(omni_store_t *st, MDB_txn *txn,
    const char *customer, const unsigned char *ikey, size_t ikey_len,
    const char *value, unsigned char *out, size_t *len, char *err);
static int omni_link_parse(const omni_store_change_t *c,
    omni_link_change_t *l);
static int omni_merge_parse(const omni_store_change_t *c, char *from,
    char *to);
static int omni_link_value(omni_store_t *st, MDB_txn *txn,
    const omni_store_change_t *c, const omni_link_change_t *l, char *value,
    char *err);
static int omni_link_newer(const omni_store_change_t *c, void *data);
static int omni_link_scrub(const omni_store_change_t *c, void *data);
static int omni_link_apply(omni_store_t *st, MDB_txn *txn,
    const omni_store_change_t *c, int own, int *applied, char *err);
static int omni_merge_apply(omni_store_t *st, MDB_txn *txn,
    const omni_store_change_t *c, int *applied, char *err);
static int omni_erasure_apply(omni_store_t *st, MDB_txn *txn,
    const omni_store_change_t *c, int *applied, size_t *records, char *err);
static int omni_erase_class(omni_store_t *st, MDB_txn *txn, const char *id,
    int64_t now, size_t *records, char *err);
static int omni_merge_flip(omni_store_t *st, MDB_txn *txn, const char *from,
    const char *to, int64_t now, char *err);
static int omni_merge_lowest(omni_store_t *st, MDB_txn *txn,
    const char *survivor, char *lowest, char *err);
static int omni_customer_change(omni_store_t *st, MDB_txn *txn, int phase,
    const MDB_val *k, const MDB_val *v, omni_store_change_t *c, char *err);


int
omni_store_identity_logged(omni_store_t *st, MDB_txn *txn, int op,
    const char *customer, const unsigned char *ikey, size_t ikey_len,
    const char *value, char *err)
{
    int            rc;
    size_t         len;
    unsigned char  val[OMNI_STORE_CHANGE_VAL_MAX];

    rc = omni_link_val(st, txn, customer, ikey, ikey_len, value, val, &len,
                       err);
    if (rc != OMNI_STORE_OK) {
        return rc;
    }

    return omni_store_change_log(st, txn, OMNI_STORE_FAMILY_IDENTITY, op,
                                 ikey, ikey_len, val, len, err);
}


int
omni_store_merge_logged(omni_store_t *st, MDB_txn *txn, const char *from,
    const char *to, char *err)
{
    omni_sbuf_t    b;
    unsigned char  val[2 + OMNI_STORE_ID_MAX];

    omni_sbuf_init(&b, val, sizeof(val));
    omni_sbuf_u8(&b, OMNI_STORE_REC_V1);
    omni_sbuf_lstr(&b, to);

    return omni_store_change_log(st, txn, OMNI_STORE_FAMILY_MERGE,
                                 OMNI_STORE_CHANGE_PUT, from, strlen(from),
                                 b.p, b.len, err);
}


int
omni_store_erasure_logged(omni_store_t *st, MDB_txn *txn,
    const char *customer, char *err)
{
    return omni_store_change_log(st, txn, OMNI_STORE_FAMILY_ERASURE,
                                 OMNI_STORE_CHANGE_PUT, customer,
                                 strlen(customer), NULL, 0, err);
}


/*
 * The value of an identity change; in a sealed store the value sealed
 * under customer's data key, which travels wrapped beside it.
 */
static int
omni_link_val(omni_store_t *st, MDB_txn *txn, const char *customer,
    const unsigned char *ikey, size_t ikey_len, const char *value,
    unsigned char *out, size_t *len, char *err)
{
    int            rc;
    size_t         vlen;
    MDB_val        dk;
    omni_sbuf_t    b;
    omni_skey_t    key;
    unsigned char  sealed[OMNI_LINK_SEALED_MAX];

    omni_sbuf_init(&b, out, OMNI_STORE_CHANGE_VAL_MAX);
    omni_sbuf_u8(&b, OMNI_STORE_REC_V1);
    omni_sbuf_lstr(&b, customer);

    if (!st->sealed) {
        omni_sbuf_u8(&b, OMNI_LINK_PLAIN);
        *len = b.len;
        return OMNI_STORE_OK;
    }

    vlen = strlen(value);

    rc = omni_store_seal_rec(st, txn, customer, OMNI_LINK_RECORD, ikey,
                             ikey_len, value, vlen, sealed, err);
    if (rc != OMNI_STORE_OK) {
        return rc;
    }

    omni_key_customer(omni_skey_init(&key), customer, OMNI_TAG_KEY);

    rc = omni_store_get(st, txn, OMNI_STORE_DB_CUSTOMERS, &key.b, &dk, err);
    if (rc != OMNI_STORE_OK) {
        return rc == OMNI_STORE_NOT_FOUND ? OMNI_STORE_ERROR : rc;
    }

    if (dk.mv_size != OMNI_SEAL_WRAPPED_LEN) {
        omni_err(err, "the data key of %s is damaged", customer);
        return OMNI_STORE_ERROR;
    }

    omni_sbuf_u8(&b, OMNI_LINK_SEALED);
    omni_sbuf_add(&b, dk.mv_data, dk.mv_size);
    omni_sbuf_be(&b, vlen + OMNI_SEAL_OVERHEAD, 2);
    omni_sbuf_add(&b, sealed, vlen + OMNI_SEAL_OVERHEAD);

    if (b.overflow) {
        omni_err(err, "an identity change does not fit");
        return OMNI_STORE_ERROR;
    }

    *len = b.len;

    return OMNI_STORE_OK;
}


/* the wire: what omni_store_change_decode() takes of these families */

int
omni_store_customer_change_check(const omni_store_change_t *c, char *err)
{
    char                from[OMNI_STORE_ID_MAX + 1];
    char                to[OMNI_STORE_ID_MAX + 1];
    omni_link_change_t  l;

    if (c->family == OMNI_STORE_FAMILY_ERASURE) {
        if (c->op != OMNI_STORE_CHANGE_PUT || c->val_len != 0
            || c->key_len > OMNI_STORE_ID_MAX
            || !omni_store_id_valid((const char *) c->key, c->key_len,
                                    OMNI_STORE_ID_MAX))
        {
            omni_err(err, "an erasure that is not a put of a customer id");
            return OMNI_STORE_INVALID;
        }

        return OMNI_STORE_OK;
    }

    if (c->family == OMNI_STORE_FAMILY_MERGE) {
        if (c->op != OMNI_STORE_CHANGE_PUT || omni_merge_parse(c, from, to)
            != 0)
        {
            omni_err(err, "a merge change that is not a put of two "
                           "customer ids");
            return OMNI_STORE_INVALID;
        }

        return OMNI_STORE_OK;
    }

    if ((c->op != OMNI_STORE_CHANGE_PUT && c->op != OMNI_STORE_CHANGE_DELETE)
        || omni_link_parse(c, &l) != 0)
    {
        omni_err(err, "an identity change that is not a link or an unlink "
                       "of a type, a customer id and a value");
        return OMNI_STORE_INVALID;
    }

    return OMNI_STORE_OK;
}


static int
omni_link_parse(const omni_store_change_t *c, omni_link_change_t *l)
{
    size_t                 n;
    MDB_val                v;
    omni_srd_t             r;
    const unsigned char   *colon;

    colon = memchr(c->key, ':', c->key_len);

    if (colon == NULL || colon == c->key
        || (size_t) (colon - c->key) > OMNI_STORE_TYPE_MAX
        || !omni_store_id_valid((const char *) c->key,
                                (size_t) (colon - c->key),
                                OMNI_STORE_TYPE_MAX))
    {
        return -1;
    }

    n = (size_t) (colon - c->key);
    memcpy(l->type, c->key, n);
    l->type[n] = '\0';

    l->rest = colon + 1;
    l->rest_len = c->key_len - n - 1;

    if (l->rest_len == 0 || l->rest_len > OMNI_STORE_VALUE_MAX) {
        return -1;
    }

    v.mv_data = (void *) c->val;
    v.mv_size = c->val_len;
    omni_srd_init(&r, &v);

    if (omni_srd_u8(&r) != OMNI_STORE_REC_V1) {
        return -1;
    }

    omni_srd_lstr(&r, l->customer, OMNI_STORE_ID_MAX);
    l->form = (int) omni_srd_u8(&r);
    l->wrapped = NULL;
    l->sealed = NULL;
    l->sealed_len = 0;

    if (!r.bad && l->form == OMNI_LINK_SEALED) {
        if (r.len - r.pos < OMNI_SEAL_WRAPPED_LEN) {
            return -1;
        }

        l->wrapped = r.p + r.pos;
        r.pos += OMNI_SEAL_WRAPPED_LEN;

        n = (size_t) omni_srd_be(&r, 2);

        if (r.bad || n <= OMNI_SEAL_OVERHEAD || n > OMNI_LINK_SEALED_MAX
            || r.len - r.pos != n)
        {
            return -1;
        }

        l->sealed = r.p + r.pos;
        l->sealed_len = n;
        r.pos += n;

    } else if (l->form != OMNI_LINK_PLAIN) {
        return -1;
    }

    if (r.bad || r.pos != r.len
        || !omni_store_id_valid(l->customer, strlen(l->customer),
                                OMNI_STORE_ID_MAX))
    {
        return -1;
    }

    return 0;
}


static int
omni_merge_parse(const omni_store_change_t *c, char *from, char *to)
{
    MDB_val     v;
    omni_srd_t  r;

    if (c->key_len > OMNI_STORE_ID_MAX
        || !omni_store_id_valid((const char *) c->key, c->key_len,
                                OMNI_STORE_ID_MAX))
    {
        return -1;
    }

    memcpy(from, c->key, c->key_len);
    from[c->key_len] = '\0';

    v.mv_data = (void *) c->val;
    v.mv_size = c->val_len;
    omni_srd_init(&r, &v);

    if (omni_srd_u8(&r) != OMNI_STORE_REC_V1) {
        return -1;
    }

    omni_srd_lstr(&r, to, OMNI_STORE_ID_MAX);

    if (r.bad || r.pos != r.len
        || !omni_store_id_valid(to, strlen(to), OMNI_STORE_ID_MAX)
        || strcmp(from, to) == 0)
    {
        return -1;
    }

    return 0;
}


/* application, in omni_store_changes_apply_batch()'s transaction */

int
omni_store_customer_change_apply(omni_store_t *st, MDB_txn *txn,
    const omni_store_change_t *c, int own, int *applied, size_t *records,
    char *err)
{
    *applied = 0;
    *records = 0;

    if (c->family == OMNI_STORE_FAMILY_ERASURE) {
        return omni_erasure_apply(st, txn, c, applied, records, err);
    }

    if (c->family == OMNI_STORE_FAMILY_MERGE) {
        return omni_merge_apply(st, txn, c, applied, err);
    }

    return omni_link_apply(st, txn, c, own, applied, err);
}


/*
 * The stream's order decides: a link or unlink is applied wherever it
 * comes in the stream, the node's own too (the others' may have come in
 * between), unless the node changed that identity again since: that
 * change comes later and decides.
 */
static int
omni_link_apply(omni_store_t *st, MDB_txn *txn, const omni_store_change_t *c,
    int own, int *applied, char *err)
{
    int                 rc;
    char                value[OMNI_STORE_VALUE_MAX + 1];
    omni_link_newer_t   newer;
    omni_link_change_t  l;

    if (omni_link_parse(c, &l) != 0) {
        omni_err(err, "an identity change that cannot be read");
        return OMNI_STORE_INVALID;
    }

    if (own) {
        newer.c = c;
        newer.left = OMNI_LINK_NEWER_MAX;
        newer.found = 0;

        rc = omni_store_changes_walk(st, txn, c->seq, omni_link_newer,
                                     &newer, err);
        if (rc != OMNI_STORE_OK) {
            return rc;
        }

        if (newer.found == 1) {
            return OMNI_STORE_OK;
        }
    }

    rc = omni_link_value(st, txn, c, &l, value, err);

    if (rc == OMNI_STORE_OK && c->op == OMNI_STORE_CHANGE_PUT) {
        rc = omni_store_link_txn(st, txn, l.type, value, l.customer, err);

    } else if (rc == OMNI_STORE_OK) {
        rc = omni_store_unlink_txn(st, txn, l.type, value, err);

        /* unlinked already: done */
        if (rc == OMNI_STORE_NOT_FOUND) {
            rc = OMNI_STORE_OK;
        }
    }

    /* the value opened may be personal data: never left on the stack */
    OPENSSL_cleanse(value, sizeof(value));

    *applied = (rc == OMNI_STORE_OK);

    return rc;
}


static int
omni_link_newer(const omni_store_change_t *c, void *data)
{
    omni_link_newer_t  *newer;

    newer = data;

    if (newer->left-- == 0) {
        newer->found = -1;
        return OMNI_CHANGES_STOP;
    }

    if (c->family == OMNI_STORE_FAMILY_IDENTITY
        && c->key_len == newer->c->key_len
        && memcmp(c->key, newer->c->key, c->key_len) == 0)
    {
        newer->found = 1;
        return OMNI_CHANGES_STOP;
    }

    return OMNI_CHANGES_NEXT;
}


/*
 * After an erasure the log (and its unlink tombstones) keeps no link or
 * unlink of the customers it erased: their values (sealed, with the data
 * key wrapped, or in clear) would outlive the erasure there.  The
 * erasure's own change follows in the log for the other nodes.
 */
int
omni_store_identity_scrub(omni_store_t *st, MDB_txn *txn,
    const char *customer, const omni_item_t *merged, size_t n, char *err)
{
    int                rc;
    omni_link_scrub_t  scrub;

    scrub.customer = customer;
    scrub.merged = merged;
    scrub.n = n;

    rc = omni_store_changes_walk(st, txn, 0, omni_link_scrub, &scrub, err);
    if (rc != OMNI_STORE_OK) {
        return rc;
    }

    /* and the unlinks kept after the log let them go */
    return omni_store_unlink_walk(st, txn, omni_link_scrub, &scrub, err);
}


static int
omni_link_scrub(const omni_store_change_t *c, void *data)
{
    size_t              i, len;
    omni_link_scrub_t  *scrub;
    omni_link_change_t  l;

    scrub = data;

    if (c->family != OMNI_STORE_FAMILY_IDENTITY || omni_link_parse(c, &l) != 0)
    {
        return OMNI_CHANGES_NEXT;
    }

    if (strcmp(l.customer, scrub->customer) == 0) {
        return OMNI_CHANGES_DROP;
    }

    len = strlen(l.customer);

    for (i = 0; i < scrub->n; i++) {
        if (scrub->merged[i].len == len
            && memcmp(scrub->merged[i].data, l.customer, len) == 0)
        {
            return OMNI_CHANGES_DROP;
        }
    }

    return OMNI_CHANGES_NEXT;
}


/*
 * The identity's value: the key's in a plain change; opened with the
 * data key that travels with a sealed one, which this node's keyring
 * must unwrap.  A keyring that cannot is OMNI_STORE_ERROR: the change is
 * not passed over but waits, its batch retried, until omni-sync runs
 * with a keyring that can.  A link's data key becomes the customer's on
 * a node that has none for it yet, so that the nodes share it.
 */
static int
omni_link_value(omni_store_t *st, MDB_txn *txn, const omni_store_change_t *c,
    const omni_link_change_t *l, char *value, char *err)
{
    int              rc, erased;
    char             survivor[OMNI_STORE_ID_MAX + 1];
    size_t           n;
    MDB_val          v;
    uint32_t         version;
    omni_skey_t      key;
    omni_seal_rc_t   src;
    omni_seal_aad_t  aad;
    unsigned char    dk[OMNI_SEAL_KEY_LEN];

    if (l->form == OMNI_LINK_PLAIN) {
        if (memchr(l->rest, '\0', l->rest_len) != NULL) {
            omni_err(err, "an identity change whose value holds a NUL");
            return OMNI_STORE_INVALID;
        }

        memcpy(value, l->rest, l->rest_len);
        value[l->rest_len] = '\0';

        return OMNI_STORE_OK;
    }

    if (st->seal == NULL) {
        omni_err(err, "a sealed identity change from node %s reached the "
                       "store at %s, which %s: every node of a cluster "
                       "uses the same keyring (omni-sync --keyring); the "
                       "change waits", c->origin, st->dir,
                       st->sealed ? "omni-sync opened without its keyring"
                                  : "is not sealed");
        return OMNI_STORE_ERROR;
    }

    src = omni_seal_unwrap(st->seal, st->kr, l->customer,
                           strlen(l->customer), l->wrapped,
                           OMNI_SEAL_WRAPPED_LEN, dk, &version);

    if (src == OMNI_SEAL_NO_KEY) {
        omni_err(err, "an identity change from node %s holds a data key "
                       "wrapped by KEK version %u, which the keyring of "
                       "omni-sync lacks: every node uses the same keyring "
                       "(restart omni-sync after a rotation); the change "
                       "waits", c->origin, (unsigned) version);
        return OMNI_STORE_ERROR;
    }

    if (src != OMNI_SEAL_OK) {
        omni_err(err, "an identity change from node %s holds a data key "
                       "that does not open: damaged, or wrapped by another "
                       "keyring", c->origin);
        return src == OMNI_SEAL_BAD ? OMNI_STORE_INVALID : OMNI_STORE_ERROR;
    }

    aad.customer = l->customer;
    aad.customer_len = strlen(l->customer);
    aad.record = OMNI_LINK_RECORD;
    aad.field = (const char *) c->key;
    aad.field_len = c->key_len;

    src = omni_seal_open(st->seal, dk, &aad, l->sealed, l->sealed_len,
                         (unsigned char *) value, &n);

    OPENSSL_cleanse(dk, sizeof(dk));

    if (src != OMNI_SEAL_OK || n == 0 || n > OMNI_STORE_VALUE_MAX
        || memchr(value, '\0', n) != NULL)
    {
        OPENSSL_cleanse(value, OMNI_STORE_VALUE_MAX + 1);
        omni_err(err, "an identity change from node %s holds a value that "
                       "does not open", c->origin);
        return OMNI_STORE_INVALID;
    }

    value[n] = '\0';

    if (c->op != OMNI_STORE_CHANGE_PUT) {
        return OMNI_STORE_OK;
    }

    /* a customer merged here links to its survivor, which has its key */
    rc = omni_store_survivor(st, txn, l->customer, survivor, err);
    if (rc != OMNI_STORE_OK || strcmp(survivor, l->customer) != 0) {
        return rc;
    }

    omni_key_customer(omni_skey_init(&key), l->customer, OMNI_TAG_KEY);

    rc = omni_store_get(st, txn, OMNI_STORE_DB_CUSTOMERS, &key.b, &v, err);
    if (rc != OMNI_STORE_NOT_FOUND) {
        return rc;
    }

    rc = omni_store_erased(st, txn, l->customer, &erased, err);
    if (rc != OMNI_STORE_OK || erased) {
        return rc;
    }

    return omni_store_put(st, txn, OMNI_STORE_DB_CUSTOMERS, &key.b,
                          l->wrapped, OMNI_SEAL_WRAPPED_LEN, 0, err);
}


/*
 * Merges are idempotent: one whose customers are one already is done.
 * One after the survivor was merged elsewhere follows it.  When the
 * merged customer was merged into another meanwhile (two merges of it
 * at once on two nodes), the two survivors are merged, the lower id the
 * survivor.  A merge whose customers are one already through the
 * survivor it merges closes a cycle (a into b and b into a; or a into b,
 * b into c and c into a on three nodes): whichever merge of the cycle
 * comes last here, the class is then the whole cycle, and its lowest id
 * becomes the survivor.  So every node ends with the same customers
 * whatever order the merges come in, and chains of one hop.  A merge
 * with an erased customer erases the other one too: a merge says they
 * are one person, who asked to be erased.
 */
static int
omni_merge_apply(omni_store_t *st, MDB_txn *txn, const omni_store_change_t *c,
    int *applied, char *err)
{
    int       rc, erased_f, erased_t;
    char      from[OMNI_STORE_ID_MAX + 1], to[OMNI_STORE_ID_MAX + 1];
    char      f[OMNI_STORE_ID_MAX + 1], t[OMNI_STORE_ID_MAX + 1];
    size_t    records;
    int64_t   now;

    if (omni_merge_parse(c, from, to) != 0) {
        omni_err(err, "a merge change that cannot be read");
        return OMNI_STORE_INVALID;
    }

    rc = omni_store_survivor(st, txn, from, f, err);
    if (rc == OMNI_STORE_OK) {
        rc = omni_store_survivor(st, txn, to, t, err);
    }

    if (rc != OMNI_STORE_OK) {
        return rc;
    }

    rc = omni_store_erased(st, txn, f, &erased_f, err);
    if (rc == OMNI_STORE_OK) {
        rc = omni_store_erased(st, txn, t, &erased_t, err);
    }

    if (rc != OMNI_STORE_OK) {
        return rc;
    }

    now = c->time_ms / 1000;

    if (erased_f || erased_t) {
        if (erased_f && erased_t) {
            return OMNI_STORE_OK;
        }

        rc = omni_erase_class(st, txn, erased_f ? t : f, now, &records,
                              err);
        *applied = (rc == OMNI_STORE_OK);

        return rc;
    }

    if (strcmp(f, t) == 0) {
        /* one already: done, unless the merge closes a cycle */
        if (strcmp(f, from) != 0) {
            return OMNI_STORE_OK;
        }

        rc = omni_merge_lowest(st, txn, f, t, err);
        if (rc != OMNI_STORE_OK || strcmp(f, t) == 0) {
            return rc;
        }

        rc = omni_merge_flip(st, txn, f, t, now, err);

    } else if (strcmp(f, from) == 0) {
        rc = omni_store_merge_txn(st, txn, from, t, now, err);

    } else if (strcmp(f, t) < 0) {
        rc = omni_store_merge_txn(st, txn, t, f, now, err);

    } else {
        rc = omni_store_merge_txn(st, txn, f, t, now, err);
    }

    *applied = (rc == OMNI_STORE_OK);

    return rc;
}


/*
 * An erasure erases the customer's survivor, with every customer merged
 * into it (a merge elsewhere may have made the customer part of another
 * before the erasure came); a customer this node does not know is
 * recorded as erased, so that links to it that come later are refused.
 */
static int
omni_erasure_apply(omni_store_t *st, MDB_txn *txn,
    const omni_store_change_t *c, int *applied, size_t *records, char *err)
{
    int   rc, erased;
    char  who[OMNI_STORE_ID_MAX + 1], s[OMNI_STORE_ID_MAX + 1];

    memcpy(who, c->key, c->key_len);
    who[c->key_len] = '\0';

    rc = omni_store_survivor(st, txn, who, s, err);
    if (rc == OMNI_STORE_OK) {
        rc = omni_store_erased(st, txn, s, &erased, err);
    }

    if (rc != OMNI_STORE_OK || erased) {
        return rc;
    }

    rc = omni_erase_class(st, txn, s, c->time_ms / 1000, records, err);
    *applied = (rc == OMNI_STORE_OK);

    return rc;
}


/* id, a survivor not erased, and every customer merged into it */
static int
omni_erase_class(omni_store_t *st, MDB_txn *txn, const char *id, int64_t now,
    size_t *records, char *err)
{
    *records = 0;

    return omni_store_erase_txn(st, txn, id, now, records, err);
}


/*
 * to was merged into from: to becomes the survivor of both, and of every
 * customer merged into from.
 */
static int
omni_merge_flip(omni_store_t *st, MDB_txn *txn, const char *from,
    const char *to, int64_t now, char *err)
{
    int          rc;
    omni_skey_t  key;

    omni_key_customer(omni_skey_init(&key), to, OMNI_TAG_MERGED);

    rc = omni_store_del(st, txn, OMNI_STORE_DB_CUSTOMERS, &key.b, err);
    if (rc != OMNI_STORE_OK) {
        return rc;
    }

    omni_key_customer(omni_skey_init(&key), from, OMNI_TAG_FROM);
    omni_sbuf_str(&key.b, to);

    rc = omni_store_del(st, txn, OMNI_STORE_DB_CUSTOMERS, &key.b, err);
    if (rc != OMNI_STORE_OK && rc != OMNI_STORE_NOT_FOUND) {
        return rc;
    }

    return omni_store_merge_txn(st, txn, from, to, now, err);
}


/*
 * The lowest id of a survivor's class: the survivor or the first customer
 * merged into it, the "merged from" records being in id order.
 */
static int
omni_merge_lowest(omni_store_t *st, MDB_txn *txn, const char *survivor,
    char *lowest, char *err)
{
    int           rc;
    char          id[OMNI_STORE_ID_MAX + 1];
    size_t        n;
    omni_skey_t   prefix;
    omni_item_t   first;

    omni_key_customer(omni_skey_init(&prefix), survivor, OMNI_TAG_FROM);

    n = 0;

    rc = omni_store_scan(st, txn, OMNI_STORE_DB_CUSTOMERS, &prefix.b, NULL,
                         0, 1, omni_store_collect_item, &first, &n, err);
    if (rc != OMNI_STORE_OK) {
        return rc;
    }

    if (n == 1 && (first.len == 0 || first.len > OMNI_STORE_ID_MAX)) {
        omni_err(err, "customer %s has a malformed merge record", survivor);
        return OMNI_STORE_ERROR;
    }

    (void) strcpy(lowest, survivor);

    if (n == 1) {
        memcpy(id, first.data, first.len);
        id[first.len] = '\0';

        if (strcmp(id, survivor) < 0) {
            (void) strcpy(lowest, id);
        }
    }

    return OMNI_STORE_OK;
}


/*
 * The full resync: the store's erasures, merges, unlink tombstones, then
 * its links, as changes (an unlink before the link that may follow it)
 */

int
omni_store_customer_changes(omni_store_t *st,
    omni_store_customer_cursor_t *cur, omni_store_change_t *out, size_t max,
    size_t *n, char *err)
{
    int                    rc, own, mrc;
    MDB_txn               *txn;
    MDB_val                k, v;
    MDB_cursor            *mc;
    static const int       dbs[] = {
        OMNI_STORE_DB_META, OMNI_STORE_DB_CUSTOMERS, OMNI_STORE_DB_CHANGES,
        OMNI_STORE_DB_IDENTITIES
    };

    *n = 0;

    rc = omni_store_rbegin(st, &txn, &own, err);
    if (rc != OMNI_STORE_OK) {
        return rc;
    }

    while (cur->phase < 4 && *n < max) {
        mrc = mdb_cursor_open(txn, st->dbi[dbs[cur->phase]], &mc);
        if (mrc != 0) {
            omni_store_rend(st, own);
            return omni_store_mdb(st, mrc, "mdb_cursor_open", err);
        }

        /* the tombstones' tag: never a tombstone's whole key */
        if (cur->phase == 2 && cur->len == 0) {
            cur->key[0] = OMNI_STORE_TOMB_REC;
            cur->len = 1;
        }

        k.mv_data = cur->key;
        k.mv_size = cur->len;

        mrc = mdb_cursor_get(mc, &k, &v, cur->len > 0 ? MDB_SET_RANGE
                                                       : MDB_FIRST);

        /* the cursor is the last key done */
        if (mrc == 0 && cur->len > 0 && k.mv_size == cur->len
            && memcmp(k.mv_data, cur->key, cur->len) == 0)
        {
            mrc = mdb_cursor_get(mc, &k, &v, MDB_NEXT);
        }

        for ( /* void */ ; mrc == 0 && *n < max;
             mrc = mdb_cursor_get(mc, &k, &v, MDB_NEXT))
        {
            if (k.mv_size > sizeof(cur->key)) {
                continue;
            }

            memcpy(cur->key, k.mv_data, k.mv_size);
            cur->len = k.mv_size;

            rc = omni_customer_change(st, txn, cur->phase, &k, &v, &out[*n],
                                      err);
            if (rc == OMNI_STORE_OK) {
                (*n)++;
                continue;
            }

            if (rc != OMNI_STORE_NOT_FOUND) {
                break;
            }

            rc = OMNI_STORE_OK;
        }

        mdb_cursor_close(mc);

        if (rc != OMNI_STORE_OK) {
            omni_store_rend(st, own);
            return rc;
        }

        if (mrc != 0 && mrc != MDB_NOTFOUND) {
            omni_store_rend(st, own);
            return omni_store_mdb(st, mrc, "mdb_cursor_get", err);
        }

        if (mrc == MDB_NOTFOUND) {
            cur->phase++;
            cur->len = 0;
        }
    }

    omni_store_rend(st, own);

    return OMNI_STORE_OK;
}


/*
 * The change a record describes: an "erased:" record of meta (phase 0), a
 * "merged into" record of the customers sub-database (phase 1), an unlink
 * tombstone of the changes sub-database (phase 2) or an identity of the
 * map (phase 3); OMNI_STORE_NOT_FOUND for any other record.
 */
static int
omni_customer_change(omni_store_t *st, MDB_txn *txn, int phase,
    const MDB_val *k, const MDB_val *v, omni_store_change_t *c, char *err)
{
    int                    rc;
    char                   customer[OMNI_STORE_ID_MAX + 1];
    size_t                 len;
    MDB_val                entry;
    omni_skey_t            key;
    const unsigned char   *p, *nul;
    omni_store_identity_t  ident;

    memset(c, 0, sizeof(omni_store_change_t));
    c->op = OMNI_STORE_CHANGE_PUT;
    p = k->mv_data;

    if (phase == 0) {
        if (k->mv_size <= OMNI_STORE_ERASED_LEN
            || k->mv_size - OMNI_STORE_ERASED_LEN > OMNI_STORE_ID_MAX
            || memcmp(p, OMNI_STORE_ERASED, OMNI_STORE_ERASED_LEN) != 0)
        {
            return OMNI_STORE_NOT_FOUND;
        }

        c->family = OMNI_STORE_FAMILY_ERASURE;
        c->key_len = k->mv_size - OMNI_STORE_ERASED_LEN;
        memcpy(c->key, p + OMNI_STORE_ERASED_LEN, c->key_len);

        return OMNI_STORE_OK;
    }

    if (phase == 1) {
        nul = memchr(p, '\0', k->mv_size);

        if (nul == NULL || nul == p || (size_t) (nul - p) > OMNI_STORE_ID_MAX
            || k->mv_size != (size_t) (nul - p) + 2 || nul[1] != OMNI_TAG_MERGED
            || v->mv_size < 10 || v->mv_size > 9 + OMNI_STORE_ID_MAX)
        {
            return OMNI_STORE_NOT_FOUND;
        }

        c->family = OMNI_STORE_FAMILY_MERGE;
        c->key_len = (size_t) (nul - p);
        memcpy(c->key, p, c->key_len);

        c->val[0] = OMNI_STORE_REC_V1;
        c->val[1] = (unsigned char) (v->mv_size - 9);
        memcpy(c->val + 2, (const unsigned char *) v->mv_data + 9,
               v->mv_size - 9);
        c->val_len = 2 + v->mv_size - 9;

        return OMNI_STORE_OK;
    }

    if (phase == 2) {
        if (k->mv_size < 2 || p[0] != OMNI_STORE_TOMB_REC) {
            return OMNI_STORE_NOT_FOUND;
        }

        if (omni_store_change_decode(v->mv_data, v->mv_size, c, err)
            != OMNI_STORE_OK)
        {
            omni_err(err, "an unlink kept in %s is one this build cannot "
                           "read", st->dir);
            return OMNI_STORE_ERROR;
        }

        return OMNI_STORE_OK;
    }

    p = v->mv_data;

    if (k->mv_size > OMNI_STORE_CHANGE_KEY_MAX || v->mv_size < 2
        || v->mv_size > OMNI_STORE_ID_MAX + 1 || p[0] != OMNI_STORE_REC_V1)
    {
        omni_err(err, "the identity map of %s holds a record this build "
                       "cannot read", st->dir);
        return OMNI_STORE_ERROR;
    }

    memcpy(customer, p + 1, v->mv_size - 1);
    customer[v->mv_size - 1] = '\0';

    c->family = OMNI_STORE_FAMILY_IDENTITY;
    c->key_len = k->mv_size;
    memcpy(c->key, k->mv_data, k->mv_size);

    if (!st->sealed) {
        return omni_link_val(st, txn, customer, c->key, c->key_len, NULL,
                             c->val, &c->val_len, err);
    }

    /* the value, from the customer's identity index entry */
    omni_key_customer(omni_skey_init(&key), customer, OMNI_TAG_IDENTITY);
    omni_sbuf_add(&key.b, k->mv_data, k->mv_size);

    rc = omni_store_get(st, txn, OMNI_STORE_DB_CUSTOMERS, &key.b, &entry,
                        err);
    if (rc == OMNI_STORE_OK) {
        rc = omni_store_ident_open(st, txn, customer, k->mv_data, k->mv_size,
                                   &entry, &ident, err);
    }

    if (rc == OMNI_STORE_OK) {
        rc = omni_link_val(st, txn, customer, c->key, c->key_len,
                           ident.value, c->val, &len, err);
        c->val_len = len;
    }

    OPENSSL_cleanse(&ident, sizeof(ident));

    return rc == OMNI_STORE_NOT_FOUND ? OMNI_STORE_ERROR : rc;
}
