/*
 * Copyright (C) The omni gateway authors
 *
 * Unlink tombstones (docs/cluster.md, "Full resync"): an unlink trimmed
 * from the change log before omni-sync published it is kept, as the log
 * held it, under the identity it unlinked, so that the full resync can
 * send it (a store keeps no other trace of an unlink).  One per identity
 * (a newer unlink of it replaces it), forgotten once the published
 * cursor passes it, and scrubbed by an erasure as the log is.
 *
 * Keys of the "changes" sub-database:
 *   "u"<identity key>   the unlink, encoded as in the log
 */


#include <stdint.h>
#include <string.h>

#include <lmdb.h>

#include "omni_store_int.h"


static int omni_tomb_forget(const omni_store_change_t *c, void *data);


/* in the trimming transaction: the change at k is about to leave the log */
int
omni_store_unlink_keep(omni_store_t *st, MDB_txn *txn, const omni_sbuf_t *k,
    char *err)
{
    int                   rc;
    MDB_val               v;
    omni_skey_t           key;
    omni_store_change_t   c;

    rc = omni_store_get(st, txn, OMNI_STORE_DB_CHANGES, k, &v, err);

    /* a hole an erasure left */
    if (rc == OMNI_STORE_NOT_FOUND) {
        return OMNI_STORE_OK;
    }

    if (rc != OMNI_STORE_OK) {
        return rc;
    }

    if (omni_store_change_decode(v.mv_data, v.mv_size, &c, err)
        != OMNI_STORE_OK)
    {
        omni_err(err, "the change log of %s holds a change this build "
                       "cannot read", st->dir);
        return OMNI_STORE_ERROR;
    }

    if (c.family != OMNI_STORE_FAMILY_IDENTITY
        || c.op != OMNI_STORE_CHANGE_DELETE)
    {
        return OMNI_STORE_OK;
    }

    omni_skey_init(&key);
    omni_sbuf_u8(&key.b, OMNI_STORE_TOMB_REC);
    omni_sbuf_add(&key.b, c.key, c.key_len);

    return omni_store_put(st, txn, OMNI_STORE_DB_CHANGES, &key.b,
                          v.mv_data, v.mv_size, 0, err);
}


/* the published cursor moved to seq: the tombstones up to it were sent */
int
omni_store_unlink_forget(omni_store_t *st, MDB_txn *txn, uint64_t seq,
    char *err)
{
    return omni_store_unlink_walk(st, txn, omni_tomb_forget, &seq, err);
}


static int
omni_tomb_forget(const omni_store_change_t *c, void *data)
{
    return (c->seq <= *(uint64_t *) data) ? OMNI_CHANGES_DROP
                                          : OMNI_CHANGES_NEXT;
}


/* fn for every tombstone, as omni_store_changes_walk() for the log */
int
omni_store_unlink_walk(omni_store_t *st, MDB_txn *txn,
    omni_store_change_pt fn, void *data, char *err)
{
    omni_skey_t  start;

    omni_sbuf_u8(omni_skey_init(&start), OMNI_STORE_TOMB_REC);

    return omni_store_changes_walk_from(st, txn, &start.b, fn, data, err);
}
