/*
 * Copyright (C) The omni gateway authors
 *
 * Identities and customers (omni_store.h, "identities and customers"):
 * the identity map and each customer's identity index, the claim a
 * request makes, "merged into" records, their survivors and merges.  A
 * local link, unlink or merge is logged in its own write transaction
 * (omni_store_changes_customer.c); one applied from another node is not.
 */


#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <lmdb.h>

#include "omni_store_int.h"


typedef struct {
    const char             *type;
    const char             *value;
    const char             *customer;
    int                     log;        /* a local change, for the log */
} omni_identity_op_t;


typedef struct {
    const char             *from;
    const char             *to;
    int64_t                 now;
} omni_merge_op_t;


typedef struct {
    const omni_store_identity_t  *ids;
    size_t                        n;
    const char                   *new_id;
    char                         *customer;
    int                           created;
} omni_claim_op_t;


static int omni_claim_find(omni_store_t *st, MDB_txn *txn,
    omni_claim_op_t *ctx, size_t *unknown, char *err);
static int omni_claim_op(omni_store_t *st, MDB_txn *txn, void *data,
    char *err);
static int omni_customer_follow(omni_store_t *st, MDB_txn *txn,
    const char *id, char *survivor, char *err);
static int omni_customer_count(omni_store_t *st, MDB_txn *txn,
    const char *customer, int tag, size_t max, size_t *n, char *err);
static int omni_customer_known(omni_store_t *st, MDB_txn *txn,
    const char *customer, int *known, char *err);
static int omni_identity_customer(const MDB_val *v, char *customer);
static int omni_identity_link_op(omni_store_t *st, MDB_txn *txn, void *data,
    char *err);
static int omni_identity_unlink_op(omni_store_t *st, MDB_txn *txn,
    void *data, char *err);
static int omni_identity_item(void *out, size_t i, const unsigned char *rest,
    size_t len, const MDB_val *val);
static int omni_identity_sealed_item(void *out, size_t i,
    const unsigned char *rest, size_t len, const MDB_val *val);
static int omni_merge_op(omni_store_t *st, MDB_txn *txn, void *data,
    char *err);
static int omni_merge_move(omni_store_t *st, MDB_txn *txn,
    const char *from, const char *to, int64_t now, omni_item_t *ids,
    size_t nids, omni_item_t *merged, size_t nmerged, char *err);
static int omni_merge_reseal(omni_store_t *st, MDB_txn *txn,
    const char *from, const char *to, const omni_item_t *id,
    omni_sbuf_t *nkey, unsigned char *rec, size_t *len, char *err);


/* identities_by_customer() of a sealed store: the values are opened */
typedef struct {
    omni_store_t           *st;
    MDB_txn                *txn;
    const char             *customer;
    omni_store_identity_t  *ids;
    char                    err[OMNI_ERRLEN];
} omni_identity_list_t;


/* identities and customers */

int
omni_store_identity_resolve(omni_store_t *st, const char *type,
    const char *value, char *customer, char *err)
{
    int          rc, own;
    char         direct[OMNI_STORE_ID_MAX + 1];
    MDB_txn     *txn;
    MDB_val      val;
    omni_skey_t  key;

    rc = omni_store_ident_key(st, type, value, omni_skey_init(&key), NULL,
                              err);
    if (rc != OMNI_STORE_OK) {
        return rc;
    }

    rc = omni_store_rbegin(st, &txn, &own, err);
    if (rc != OMNI_STORE_OK) {
        return rc;
    }

    rc = omni_store_ident_find(st, txn, type, value, omni_skey_init(&key),
                               NULL, &val, err);

    if (rc == OMNI_STORE_NOT_FOUND) {
        omni_err(err, "identity %s:%s is not linked", type, value);

    } else if (rc == OMNI_STORE_OK) {
        if (omni_identity_customer(&val, direct) != 0) {
            omni_err(err, "identity %s:%s has a record this build "
                           "cannot read", type, value);
            rc = OMNI_STORE_ERROR;

        } else {
            rc = omni_customer_follow(st, txn, direct, customer, err);
        }
    }

    omni_store_rend(st, own);

    return rc;
}


int
omni_store_customer_claim(omni_store_t *st,
    const omni_store_identity_t *ids, size_t n, int create,
    const char *new_id, char *customer, int *created, char *err)
{
    int              rc, own;
    size_t           unknown;
    MDB_txn         *txn;
    omni_claim_op_t  ctx;

    *created = 0;
    customer[0] = '\0';

    if (create) {
        rc = omni_store_check_id("customer id", new_id, OMNI_STORE_ID_MAX,
                                 err);
        if (rc != OMNI_STORE_OK) {
            return rc;
        }
    }

    if (n > OMNI_STORE_CLAIM_MAX) {
        omni_err(err, "%zu identities, more than %d", n,
                       OMNI_STORE_CLAIM_MAX);
        return OMNI_STORE_INVALID;
    }

    ctx.ids = ids;
    ctx.n = n;
    ctx.new_id = new_id;
    ctx.customer = customer;
    ctx.created = 0;

    rc = omni_store_rbegin(st, &txn, &own, err);
    if (rc != OMNI_STORE_OK) {
        return rc;
    }

    rc = omni_claim_find(st, txn, &ctx, &unknown, err);

    omni_store_rend(st, own);

    if (rc != OMNI_STORE_OK) {
        return rc;
    }

    if (!create || unknown == 0) {
        if (customer[0] == '\0') {
            omni_err(err, "no identity is linked to a customer");
            return OMNI_STORE_NOT_FOUND;
        }

        return OMNI_STORE_OK;
    }

    rc = omni_store_write(st, omni_claim_op, &ctx, err);

    if (rc == OMNI_STORE_OK) {
        *created = ctx.created;
    }

    return rc;
}


/*
 * Resolves the identities in order: the first that resolves names the
 * customer; *unknown counts those linked to nobody.  Identities the
 * store cannot hold (a space in a value, too long) are skipped: a
 * channel may see them, the map does not keep them.
 */
static int
omni_claim_find(omni_store_t *st, MDB_txn *txn, omni_claim_op_t *ctx,
    size_t *unknown, char *err)
{
    int          rc;
    char         direct[OMNI_STORE_ID_MAX + 1];
    size_t       i;
    MDB_val      val;
    omni_skey_t  key;

    *unknown = 0;
    ctx->customer[0] = '\0';

    for (i = 0; i < ctx->n; i++) {
        rc = omni_store_ident_find(st, txn, ctx->ids[i].type,
                                   ctx->ids[i].value, omni_skey_init(&key),
                                   NULL, &val, err);

        /* a value the map cannot hold, or a sealed store cannot index */
        if (rc == OMNI_STORE_INVALID) {
            continue;
        }

        if (rc == OMNI_STORE_NOT_FOUND) {
            (*unknown)++;
            continue;
        }

        if (rc != OMNI_STORE_OK) {
            return rc;
        }

        if (ctx->customer[0] != '\0') {
            continue;
        }

        if (omni_identity_customer(&val, direct) != 0) {
            omni_err(err, "identity %s:%s has a record this build "
                           "cannot read", ctx->ids[i].type,
                           ctx->ids[i].value);
            return OMNI_STORE_ERROR;
        }

        rc = omni_customer_follow(st, txn, direct, ctx->customer, err);
        if (rc != OMNI_STORE_OK) {
            return rc;
        }
    }

    return OMNI_STORE_OK;
}


static int
omni_claim_op(omni_store_t *st, MDB_txn *txn, void *data, char *err)
{
    int                  rc;
    size_t               i, unknown;
    MDB_val              val;
    omni_skey_t          key;
    omni_claim_op_t     *ctx;
    omni_identity_op_t   link;

    ctx = data;
    ctx->created = 0;

    /* resolve again: another process may have linked them meanwhile */
    rc = omni_claim_find(st, txn, ctx, &unknown, err);
    if (rc != OMNI_STORE_OK || unknown == 0) {
        return rc;
    }

    if (ctx->customer[0] == '\0') {
        memcpy(ctx->customer, ctx->new_id, strlen(ctx->new_id) + 1);
        ctx->created = 1;
    }

    for (i = 0; i < ctx->n; i++) {
        rc = omni_store_ident_find(st, txn, ctx->ids[i].type,
                                   ctx->ids[i].value, omni_skey_init(&key),
                                   NULL, &val, err);

        if (rc == OMNI_STORE_OK || rc == OMNI_STORE_INVALID) {
            continue;
        }

        if (rc != OMNI_STORE_NOT_FOUND) {
            return rc;
        }

        link.type = ctx->ids[i].type;
        link.value = ctx->ids[i].value;
        link.customer = ctx->customer;
        link.log = 1;

        rc = omni_identity_link_op(st, txn, &link, err);

        /* a customer at OMNI_STORE_IDENTITIES_MAX keeps what it has */
        if (rc == OMNI_STORE_INVALID) {
            break;
        }

        if (rc != OMNI_STORE_OK) {
            return rc;
        }
    }

    return OMNI_STORE_OK;
}


int
omni_store_identity_link(omni_store_t *st, const char *type,
    const char *value, const char *customer, char *err)
{
    int                 rc;
    omni_skey_t         key;
    omni_identity_op_t  ctx;

    rc = omni_store_ident_key(st, type, value, omni_skey_init(&key), NULL,
                              err);
    if (rc == OMNI_STORE_OK) {
        rc = omni_store_check_id("customer id", customer, OMNI_STORE_ID_MAX,
                                 err);
    }

    if (rc != OMNI_STORE_OK) {
        return rc;
    }

    ctx.type = type;
    ctx.value = value;
    ctx.customer = customer;
    ctx.log = 1;

    return omni_store_write(st, omni_identity_link_op, &ctx, err);
}


int
omni_store_identity_unlink(omni_store_t *st, const char *type,
    const char *value, char *err)
{
    int                 rc;
    omni_skey_t         key;
    omni_identity_op_t  ctx;

    rc = omni_store_ident_key(st, type, value, omni_skey_init(&key), NULL,
                              err);
    if (rc != OMNI_STORE_OK) {
        return rc;
    }

    ctx.type = type;
    ctx.value = value;
    ctx.customer = NULL;
    ctx.log = 1;

    return omni_store_write(st, omni_identity_unlink_op, &ctx, err);
}


int
omni_store_link_txn(omni_store_t *st, MDB_txn *txn, const char *type,
    const char *value, const char *customer, char *err)
{
    omni_identity_op_t  ctx;

    ctx.type = type;
    ctx.value = value;
    ctx.customer = customer;
    ctx.log = 0;

    return omni_identity_link_op(st, txn, &ctx, err);
}


int
omni_store_unlink_txn(omni_store_t *st, MDB_txn *txn, const char *type,
    const char *value, char *err)
{
    omni_identity_op_t  ctx;

    ctx.type = type;
    ctx.value = value;
    ctx.customer = NULL;
    ctx.log = 0;

    return omni_identity_unlink_op(st, txn, &ctx, err);
}


int
omni_store_identities_by_customer(omni_store_t *st, const char *customer,
    const omni_store_identity_t *after, omni_store_identity_t *ids,
    size_t max, size_t *n, char *err)
{
    int                    rc, own;
    MDB_val                val;
    MDB_txn               *txn;
    omni_skey_t            prefix, start;
    omni_identity_list_t  *list;

    *n = 0;

    rc = omni_store_check_id("customer id", customer, OMNI_STORE_ID_MAX,
                             err);
    if (rc == OMNI_STORE_OK && after != NULL) {
        rc = omni_store_ident_key(st, after->type, after->value,
                                  omni_skey_init(&start), NULL, err);
    }

    if (rc != OMNI_STORE_OK) {
        return rc;
    }

    omni_key_customer(omni_skey_init(&prefix), customer, OMNI_TAG_IDENTITY);

    rc = omni_store_rbegin(st, &txn, &own, err);
    if (rc != OMNI_STORE_OK) {
        return rc;
    }

    if (!st->sealed) {
        rc = omni_store_scan(st, txn, OMNI_STORE_DB_CUSTOMERS, &prefix.b,
                             after != NULL ? start.b.p : NULL,
                             after != NULL ? start.b.len : 0, max,
                             omni_identity_item, ids, n, err);

        omni_store_rend(st, own);

        return rc;
    }

    /* the key it is at now, which a rebuild may have moved */
    if (after != NULL) {
        rc = omni_store_ident_find(st, txn, after->type, after->value,
                                   omni_skey_init(&start), NULL, &val, err);

        if (rc != OMNI_STORE_OK && rc != OMNI_STORE_NOT_FOUND) {
            omni_store_rend(st, own);
            return rc;
        }
    }

    list = malloc(sizeof(omni_identity_list_t));
    if (list == NULL) {
        omni_store_rend(st, own);
        omni_err(err, "out of memory listing the identities of %s",
                 customer);
        return OMNI_STORE_ERROR;
    }

    list->st = st;
    list->txn = txn;
    list->customer = customer;
    list->ids = ids;
    list->err[0] = '\0';

    rc = omni_store_scan(st, txn, OMNI_STORE_DB_CUSTOMERS, &prefix.b,
                         after != NULL ? start.b.p : NULL,
                         after != NULL ? start.b.len : 0, max,
                         omni_identity_sealed_item, list, n, err);

    omni_store_rend(st, own);

    /* the reason a value did not open, rather than the scan's */
    if (rc != OMNI_STORE_OK && list->err[0] != '\0') {
        memcpy(err, list->err, OMNI_ERRLEN);
    }

    free(list);

    if (rc != OMNI_STORE_OK) {
        memset(ids, 0, max * sizeof(omni_store_identity_t));
        *n = 0;
    }

    return rc;
}


int
omni_store_customer_resolve(omni_store_t *st, const char *id,
    char *survivor, char *err)
{
    int       rc, own;
    MDB_txn  *txn;

    rc = omni_store_check_id("customer id", id, OMNI_STORE_ID_MAX, err);
    if (rc != OMNI_STORE_OK) {
        return rc;
    }

    rc = omni_store_rbegin(st, &txn, &own, err);
    if (rc != OMNI_STORE_OK) {
        return rc;
    }

    rc = omni_customer_follow(st, txn, id, survivor, err);

    omni_store_rend(st, own);

    return rc;
}


int
omni_store_customer_merge(omni_store_t *st, const char *from,
    const char *to, int64_t now, char *err)
{
    int              rc;
    omni_merge_op_t  ctx;

    rc = omni_store_check_id("customer id", from, OMNI_STORE_ID_MAX, err);
    if (rc == OMNI_STORE_OK) {
        rc = omni_store_check_id("customer id", to, OMNI_STORE_ID_MAX, err);
    }

    if (rc == OMNI_STORE_OK) {
        rc = omni_store_check_time("now", now, err);
    }

    if (rc != OMNI_STORE_OK) {
        return rc;
    }

    if (strcmp(from, to) == 0) {
        omni_err(err, "cannot merge customer %s into itself", from);
        return OMNI_STORE_INVALID;
    }

    ctx.from = from;
    ctx.to = to;
    ctx.now = now;

    return omni_store_write(st, omni_merge_op, &ctx, err);
}


int
omni_store_survivor(omni_store_t *st, MDB_txn *txn, const char *id,
    char *survivor, char *err)
{
    return omni_customer_follow(st, txn, id, survivor, err);
}


/*
 * Follows "merged into" records from id, at most OMNI_STORE_CHAIN_MAX
 * hops, so that a damaged store with a loop still answers.
 */
static int
omni_customer_follow(omni_store_t *st, MDB_txn *txn, const char *id,
    char *survivor, char *err)
{
    int          rc, hop;
    char         cur[OMNI_STORE_ID_MAX + 1];
    MDB_val      val;
    omni_srd_t   r;
    omni_skey_t  key;

    memcpy(cur, id, strlen(id) + 1);

    for (hop = 0; hop <= OMNI_STORE_CHAIN_MAX; hop++) {
        omni_key_customer(omni_skey_init(&key), cur, OMNI_TAG_MERGED);

        rc = omni_store_get(st, txn, OMNI_STORE_DB_CUSTOMERS, &key.b, &val,
                            err);

        if (rc == OMNI_STORE_NOT_FOUND) {
            memcpy(survivor, cur, strlen(cur) + 1);
            return OMNI_STORE_OK;
        }

        if (rc != OMNI_STORE_OK) {
            return rc;
        }

        if (hop == OMNI_STORE_CHAIN_MAX) {
            break;
        }

        omni_srd_init(&r, &val);

        if (omni_srd_u8(&r) != OMNI_STORE_REC_V1) {
            r.bad = 1;
        }

        (void) omni_srd_be(&r, 8);
        omni_srd_bytes(&r, r.len - (r.pos < r.len ? r.pos : r.len), cur,
                       OMNI_STORE_ID_MAX);

        if (r.bad || cur[0] == '\0') {
            omni_err(err, "customer %s has a merge record this build "
                           "cannot read", id);
            return OMNI_STORE_ERROR;
        }
    }

    omni_err(err, "customer %s: merge chain longer than %d hops", id,
                   OMNI_STORE_CHAIN_MAX);

    return OMNI_STORE_ERROR;
}


/*
 * Whether the store holds any record of customer: an identity, a session,
 * a journey, a merge either way.  Customers have no record of their own.
 */
static int
omni_customer_known(omni_store_t *st, MDB_txn *txn, const char *customer,
    int *known, char *err)
{
    int          rc;
    size_t       n;
    omni_skey_t  prefix;

    omni_sbuf_str(omni_skey_init(&prefix), customer);
    omni_sbuf_u8(&prefix.b, '\0');

    n = 0;

    rc = omni_store_scan(st, txn, OMNI_STORE_DB_CUSTOMERS, &prefix.b, NULL,
                         0, 1, omni_store_count_item, NULL, &n, err);

    *known = (n != 0);

    return rc;
}


/* counts the <customer>\0<tag> records, stopping at max */
static int
omni_customer_count(omni_store_t *st, MDB_txn *txn, const char *customer,
    int tag, size_t max, size_t *n, char *err)
{
    omni_skey_t  prefix;

    *n = 0;
    omni_key_customer(omni_skey_init(&prefix), customer, tag);

    return omni_store_scan(st, txn, OMNI_STORE_DB_CUSTOMERS, &prefix.b, NULL,
                           0, max, omni_store_count_item, NULL, n, err);
}


static int
omni_identity_customer(const MDB_val *v, char *customer)
{
    const unsigned char  *p;

    p = v->mv_data;

    if (v->mv_size < 2 || v->mv_size > OMNI_STORE_ID_MAX + 1
        || p[0] != OMNI_STORE_REC_V1)
    {
        return -1;
    }

    memcpy(customer, p + 1, v->mv_size - 1);
    customer[v->mv_size - 1] = '\0';

    return 0;
}


static int
omni_identity_link_op(omni_store_t *st, MDB_txn *txn, void *data, char *err)
{
    int                  rc, erased, linked;
    char                 target[OMNI_STORE_ID_MAX + 1];
    char                 old[OMNI_STORE_ID_MAX + 1];
    char                 norm[OMNI_STORE_VALUE_MAX + 1];
    size_t               n, len;
    MDB_val              val;
    omni_skey_t          key, ikey, found;
    unsigned char        rec[OMNI_STORE_ID_MAX + 1];
    unsigned char        entry[OMNI_STORE_IDENT_REC_MAX];
    omni_sbuf_t          b;
    omni_identity_op_t  *ctx;

    ctx = data;

    rc = omni_customer_follow(st, txn, ctx->customer, target, err);
    if (rc != OMNI_STORE_OK) {
        return rc;
    }

    rc = omni_store_erased(st, txn, target, &erased, err);
    if (rc != OMNI_STORE_OK) {
        return rc;
    }

    if (erased) {
        omni_err(err, "customer %s was erased", target);
        return OMNI_STORE_INVALID;
    }

    /* where it is (under the index it moves from, in a rebuild) */
    linked = omni_store_ident_find(st, txn, ctx->type, ctx->value,
                                   omni_skey_init(&found), norm, &val, err);
    if (linked != OMNI_STORE_OK && linked != OMNI_STORE_NOT_FOUND) {
        return linked;
    }

    /* where it goes */
    rc = omni_store_ident_key(st, ctx->type, ctx->value,
                              omni_skey_init(&ikey), NULL, err);
    if (rc != OMNI_STORE_OK) {
        return rc;
    }

    if (linked == OMNI_STORE_OK) {
        if (omni_identity_customer(&val, old) != 0) {
            omni_err(err, "identity %s:%s has a record this build "
                           "cannot read", ctx->type, ctx->value);
            return OMNI_STORE_ERROR;
        }

        if (strcmp(old, target) == 0 && found.b.len == ikey.b.len
            && memcmp(found.b.p, ikey.b.p, ikey.b.len) == 0)
        {
            return OMNI_STORE_OK;
        }

        /* the identity moves: drop it from its former customer and key */
        omni_key_customer(omni_skey_init(&key), old, OMNI_TAG_IDENTITY);
        omni_sbuf_add(&key.b, found.b.p, found.b.len);

        rc = omni_store_del(st, txn, OMNI_STORE_DB_CUSTOMERS, &key.b, err);
        if (rc == OMNI_STORE_NOT_FOUND) {
            rc = OMNI_STORE_OK;
        }

        if (rc == OMNI_STORE_OK) {
            rc = omni_store_del(st, txn, OMNI_STORE_DB_IDENTITIES, &found.b,
                                err);
        }

        if (rc != OMNI_STORE_OK) {
            return rc;
        }
    }

    rc = omni_customer_count(st, txn, target, OMNI_TAG_IDENTITY,
                             OMNI_STORE_IDENTITIES_MAX, &n, err);
    if (rc != OMNI_STORE_OK) {
        return rc;
    }

    if (n >= OMNI_STORE_IDENTITIES_MAX) {
        omni_err(err, "customer %s has %d identities already", target,
                       OMNI_STORE_IDENTITIES_MAX);
        return OMNI_STORE_INVALID;
    }

    omni_sbuf_init(&b, rec, sizeof(rec));
    omni_sbuf_u8(&b, OMNI_STORE_REC_V1);
    omni_sbuf_str(&b, target);

    rc = omni_store_put(st, txn, OMNI_STORE_DB_IDENTITIES, &ikey.b, b.p,
                        b.len, 0, err);
    if (rc != OMNI_STORE_OK) {
        return rc;
    }

    rc = omni_store_ident_seal(st, txn, target, ikey.b.p, ikey.b.len, norm,
                               entry, &len, err);
    if (rc != OMNI_STORE_OK) {
        return rc;
    }

    omni_key_customer(omni_skey_init(&key), target, OMNI_TAG_IDENTITY);
    omni_sbuf_add(&key.b, ikey.b.p, ikey.b.len);

    rc = omni_store_put(st, txn, OMNI_STORE_DB_CUSTOMERS, &key.b, entry,
                        len, 0, err);
    if (rc != OMNI_STORE_OK || !ctx->log) {
        return rc;
    }

    return omni_store_identity_logged(st, txn, OMNI_STORE_CHANGE_PUT, target,
                                      ikey.b.p, ikey.b.len, norm, err);
}


static int
omni_identity_unlink_op(omni_store_t *st, MDB_txn *txn, void *data,
    char *err)
{
    int                  rc;
    char                 old[OMNI_STORE_ID_MAX + 1];
    char                 norm[OMNI_STORE_VALUE_MAX + 1];
    MDB_val              val;
    omni_skey_t          key, ikey;
    omni_identity_op_t  *ctx;

    ctx = data;

    rc = omni_store_ident_find(st, txn, ctx->type, ctx->value,
                               omni_skey_init(&ikey), norm, &val, err);
    if (rc == OMNI_STORE_NOT_FOUND) {
        omni_err(err, "identity %s:%s is not linked", ctx->type,
                       ctx->value);
    }

    if (rc != OMNI_STORE_OK) {
        return rc;
    }

    if (omni_identity_customer(&val, old) != 0) {
        omni_err(err, "identity %s:%s has a record this build cannot "
                       "read", ctx->type, ctx->value);
        return OMNI_STORE_ERROR;
    }

    rc = omni_store_del(st, txn, OMNI_STORE_DB_IDENTITIES, &ikey.b, err);
    if (rc != OMNI_STORE_OK) {
        return rc;
    }

    omni_key_customer(omni_skey_init(&key), old, OMNI_TAG_IDENTITY);
    omni_sbuf_add(&key.b, ikey.b.p, ikey.b.len);

    rc = omni_store_del(st, txn, OMNI_STORE_DB_CUSTOMERS, &key.b, err);
    if (rc == OMNI_STORE_NOT_FOUND) {
        rc = OMNI_STORE_OK;
    }

    if (rc != OMNI_STORE_OK || !ctx->log) {
        return rc;
    }

    return omni_store_identity_logged(st, txn, OMNI_STORE_CHANGE_DELETE, old,
                                      ikey.b.p, ikey.b.len, norm, err);
}


static int
omni_identity_item(void *out, size_t i, const unsigned char *rest,
    size_t len, const MDB_val *val)
{
    const unsigned char    *colon;
    omni_store_identity_t  *ids;

    (void) val;

    ids = out;
    colon = memchr(rest, ':', len);

    if (colon == NULL || colon == rest
        || (size_t) (colon - rest) > OMNI_STORE_TYPE_MAX
        || len - (size_t) (colon - rest) - 1 > OMNI_STORE_VALUE_MAX)
    {
        return -1;
    }

    memcpy(ids[i].type, rest, colon - rest);
    ids[i].type[colon - rest] = '\0';
    memcpy(ids[i].value, colon + 1, len - (colon - rest) - 1);
    ids[i].value[len - (colon - rest) - 1] = '\0';

    return 0;
}


static int
omni_identity_sealed_item(void *out, size_t i, const unsigned char *rest,
    size_t len, const MDB_val *val)
{
    omni_identity_list_t  *list;

    list = out;

    return omni_store_ident_open(list->st, list->txn, list->customer, rest,
                                 len, val, &list->ids[i], list->err)
           == OMNI_STORE_OK ? 0 : -1;
}


static int
omni_merge_op(omni_store_t *st, MDB_txn *txn, void *data, char *err)
{
    int               rc, known;
    char              target[OMNI_STORE_ID_MAX + 1];
    omni_merge_op_t  *ctx;

    ctx = data;

    rc = omni_customer_follow(st, txn, ctx->from, target, err);
    if (rc != OMNI_STORE_OK) {
        return rc;
    }

    if (strcmp(target, ctx->from) != 0) {
        omni_err(err, "customer %s is merged into %s already",
                       ctx->from, target);
        return OMNI_STORE_INVALID;
    }

    /*
     * Both ends must be customers the store knows: a mistyped id would
     * otherwise take the identities, or leave the real customer apart
     * while the merge was reported done.
     */
    rc = omni_customer_known(st, txn, ctx->from, &known, err);
    if (rc != OMNI_STORE_OK) {
        return rc;
    }

    if (!known) {
        omni_err(err, "customer %s is unknown", ctx->from);
        return OMNI_STORE_NOT_FOUND;
    }

    rc = omni_customer_follow(st, txn, ctx->to, target, err);
    if (rc != OMNI_STORE_OK) {
        return rc;
    }

    if (strcmp(target, ctx->from) == 0) {
        omni_err(err, "merging customer %s into %s would make a loop: "
                       "%s resolves to %s", ctx->from, ctx->to, ctx->to,
                       ctx->from);
        return OMNI_STORE_INVALID;
    }

    /* the end of the chain, which a damaged store may lack */
    rc = omni_customer_known(st, txn, target, &known, err);
    if (rc != OMNI_STORE_OK) {
        return rc;
    }

    if (!known) {
        if (strcmp(target, ctx->to) == 0) {
            omni_err(err, "customer %s is unknown", ctx->to);

        } else {
            omni_err(err, "customer %s, which %s was merged into, is "
                           "unknown", target, ctx->to);
        }

        return OMNI_STORE_NOT_FOUND;
    }

    rc = omni_store_merge_txn(st, txn, ctx->from, target, ctx->now, err);
    if (rc != OMNI_STORE_OK) {
        return rc;
    }

    return omni_store_merge_logged(st, txn, ctx->from, target, err);
}


/*
 * Merges from, which is no survivor of another, into to, a survivor,
 * within the limits; not logged.  Whether they are known is the caller's.
 */
int
omni_store_merge_txn(omni_store_t *st, MDB_txn *txn, const char *from,
    const char *to, int64_t now, char *err)
{
    int           rc;
    size_t        nids, nmerged, n;
    omni_item_t  *ids, *merged;
    omni_skey_t   prefix;

    ids = calloc(OMNI_STORE_IDENTITIES_MAX + OMNI_STORE_MERGED_MAX + 2,
                 sizeof(omni_item_t));
    if (ids == NULL) {
        omni_err(err, "out of memory merging customer %s", from);
        return OMNI_STORE_ERROR;
    }

    merged = ids + OMNI_STORE_IDENTITIES_MAX + 1;
    nids = 0;
    nmerged = 0;

    /* what moves is read first: the writes go to the same database */
    omni_key_customer(omni_skey_init(&prefix), from, OMNI_TAG_IDENTITY);

    rc = omni_store_scan(st, txn, OMNI_STORE_DB_CUSTOMERS, &prefix.b, NULL,
                         0, OMNI_STORE_IDENTITIES_MAX + 1,
                         omni_store_collect_item, ids, &nids, err);
    if (rc != OMNI_STORE_OK) {
        goto done;
    }

    rc = omni_customer_count(st, txn, to, OMNI_TAG_IDENTITY,
                             OMNI_STORE_IDENTITIES_MAX + 1, &n, err);
    if (rc != OMNI_STORE_OK) {
        goto done;
    }

    if (nids + n > OMNI_STORE_IDENTITIES_MAX) {
        omni_err(err, "merging customer %s into %s would give %s more "
                       "than %d identities", from, to, to,
                       OMNI_STORE_IDENTITIES_MAX);
        rc = OMNI_STORE_INVALID;
        goto done;
    }

    omni_key_customer(omni_skey_init(&prefix), from, OMNI_TAG_FROM);

    rc = omni_store_scan(st, txn, OMNI_STORE_DB_CUSTOMERS, &prefix.b, NULL,
                         0, OMNI_STORE_MERGED_MAX + 1,
                         omni_store_collect_item, merged, &nmerged, err);
    if (rc != OMNI_STORE_OK) {
        goto done;
    }

    rc = omni_customer_count(st, txn, to, OMNI_TAG_FROM,
                             OMNI_STORE_MERGED_MAX + 1, &n, err);
    if (rc != OMNI_STORE_OK) {
        goto done;
    }

    if (nmerged + n + 1 > OMNI_STORE_MERGED_MAX) {
        omni_err(err, "merging customer %s into %s would merge more "
                       "than %d customers into %s", from, to,
                       OMNI_STORE_MERGED_MAX, to);
        rc = OMNI_STORE_INVALID;
        goto done;
    }

    rc = omni_merge_move(st, txn, from, to, now, ids, nids,
                         merged, nmerged, err);

done:

    free(ids);

    return rc;
}


/*
 * Points every identity of from, and every customer merged into from, at
 * to, then records from as merged into to: no chain grows past one hop.
 */
static int
omni_merge_move(omni_store_t *st, MDB_txn *txn, const char *from,
    const char *to, int64_t now, omni_item_t *ids, size_t nids,
    omni_item_t *merged, size_t nmerged, char *err)
{
    int            rc;
    char           id[OMNI_STORE_ID_MAX + 1];
    size_t         i, len;
    omni_sbuf_t    b;
    omni_skey_t    key, ikey;
    unsigned char  rec[OMNI_STORE_ID_MAX + 9];
    unsigned char  entry[OMNI_STORE_IDENT_REC_MAX];

    omni_sbuf_init(&b, rec, sizeof(rec));
    omni_sbuf_u8(&b, OMNI_STORE_REC_V1);
    omni_sbuf_str(&b, to);

    for (i = 0; i < nids; i++) {
        rc = omni_merge_reseal(st, txn, from, to, &ids[i],
                               omni_skey_init(&ikey), entry, &len, err);
        if (rc != OMNI_STORE_OK) {
            return rc;
        }

        /* the map entry, moved to the key it has now if that changed */
        if (ikey.b.len != ids[i].len
            || memcmp(ikey.b.p, ids[i].data, ids[i].len) != 0)
        {
            omni_sbuf_init(&key.b, key.data, sizeof(key.data));
            omni_sbuf_add(&key.b, ids[i].data, ids[i].len);

            rc = omni_store_del(st, txn, OMNI_STORE_DB_IDENTITIES, &key.b,
                                err);
            if (rc != OMNI_STORE_OK && rc != OMNI_STORE_NOT_FOUND) {
                return rc;
            }
        }

        rc = omni_store_put(st, txn, OMNI_STORE_DB_IDENTITIES, &ikey.b, b.p,
                            b.len, 0, err);
        if (rc != OMNI_STORE_OK) {
            return rc;
        }

        omni_key_customer(omni_skey_init(&key), to, OMNI_TAG_IDENTITY);
        omni_sbuf_add(&key.b, ikey.b.p, ikey.b.len);

        rc = omni_store_put(st, txn, OMNI_STORE_DB_CUSTOMERS, &key.b, entry,
                            len, 0, err);
        if (rc != OMNI_STORE_OK) {
            return rc;
        }

        omni_key_customer(omni_skey_init(&key), from, OMNI_TAG_IDENTITY);
        omni_sbuf_add(&key.b, ids[i].data, ids[i].len);

        rc = omni_store_del(st, txn, OMNI_STORE_DB_CUSTOMERS, &key.b, err);
        if (rc != OMNI_STORE_OK) {
            return rc;
        }
    }

    omni_sbuf_init(&b, rec, sizeof(rec));
    omni_sbuf_u8(&b, OMNI_STORE_REC_V1);
    omni_sbuf_be(&b, (uint64_t) now, 8);
    omni_sbuf_str(&b, to);

    for (i = 0; i <= nmerged; i++) {
        if (i < nmerged) {
            if (merged[i].len == 0 || merged[i].len > OMNI_STORE_ID_MAX) {
                omni_err(err, "customer %s has a malformed merge "
                               "record", from);
                return OMNI_STORE_ERROR;
            }

            memcpy(id, merged[i].data, merged[i].len);
            id[merged[i].len] = '\0';

        } else {
            memcpy(id, from, strlen(from) + 1);
        }

        omni_key_customer(omni_skey_init(&key), id, OMNI_TAG_MERGED);

        rc = omni_store_put(st, txn, OMNI_STORE_DB_CUSTOMERS, &key.b, b.p,
                            b.len, 0, err);
        if (rc != OMNI_STORE_OK) {
            return rc;
        }

        omni_key_customer(omni_skey_init(&key), to, OMNI_TAG_FROM);
        omni_sbuf_str(&key.b, id);

        rc = omni_store_put(st, txn, OMNI_STORE_DB_CUSTOMERS, &key.b, "", 0,
                            0, err);
        if (rc != OMNI_STORE_OK) {
            return rc;
        }

        if (i < nmerged) {
            omni_key_customer(omni_skey_init(&key), from, OMNI_TAG_FROM);
            omni_sbuf_str(&key.b, id);

            rc = omni_store_del(st, txn, OMNI_STORE_DB_CUSTOMERS, &key.b,
                                err);
            if (rc != OMNI_STORE_OK) {
                return rc;
            }
        }
    }

    return OMNI_STORE_OK;
}


/*
 * An identity of from as to keeps it: in a sealed store opened, keyed
 * under the index version new links take (a rebuild may be under way)
 * and sealed again for to; in a plain store as it is.
 */
static int
omni_merge_reseal(omni_store_t *st, MDB_txn *txn, const char *from,
    const char *to, const omni_item_t *id, omni_sbuf_t *nkey,
    unsigned char *rec, size_t *len, char *err)
{
    int                    rc;
    MDB_val                val;
    omni_skey_t            key;
    omni_store_identity_t  ident;

    *len = 0;

    if (!st->sealed) {
        omni_sbuf_add(nkey, id->data, id->len);
        return OMNI_STORE_OK;
    }

    omni_key_customer(omni_skey_init(&key), from, OMNI_TAG_IDENTITY);
    omni_sbuf_add(&key.b, id->data, id->len);

    rc = omni_store_get(st, txn, OMNI_STORE_DB_CUSTOMERS, &key.b, &val, err);

    if (rc == OMNI_STORE_OK) {
        rc = omni_store_ident_open(st, txn, from, id->data, id->len, &val,
                                   &ident, err);
    }

    if (rc == OMNI_STORE_OK) {
        rc = omni_store_ident_key(st, ident.type, ident.value, nkey, NULL,
                                  err);
    }

    if (rc == OMNI_STORE_OK) {
        rc = omni_store_ident_seal(st, txn, to, nkey->p, nkey->len,
                                   ident.value, rec, len, err);
    }

    memset(&ident, 0, sizeof(ident));

    return rc;
}
