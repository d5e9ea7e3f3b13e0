/*
 * Copyright (C) The omni gateway authors
 *
 * Policy revisions (omni_store.h, "policy revisions"): the policy as one
 * of the store's revisioned documents (omni_store_revision.c), and a
 * policy coming from the cluster's change stream.  The store does not
 * look inside a policy: the policy engine (omni_policy.c) compiles it.
 */


#include <inttypes.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <lmdb.h>

#include "omni_store_int.h"


#define OMNI_STORE_POLICY_REMOTE_NOTE  "from the cluster"


int
omni_store_policy_current(omni_store_t *st, uint32_t *rev,
    uint64_t *snapshot, char *err)
{
    return omni_store_doc_current(st, &omni_store_doc_policy, rev, snapshot,
                                  err);
}


int
omni_store_policy_get(omni_store_t *st, uint32_t rev, char **json,
    size_t *len, omni_store_policy_info_t *info, char *err)
{
    return omni_store_doc_get(st, &omni_store_doc_policy, rev, json, len,
                              info, err);
}


int
omni_store_policy_put(omni_store_t *st, const char *json, size_t len,
    const char *author, const char *note, int64_t now, uint32_t *rev,
    char *err)
{
    return omni_store_doc_put(st, &omni_store_doc_policy, json, len, author,
                              note, now, 0, rev, err);
}


int
omni_store_policy_seed(omni_store_t *st, const char *json, size_t len,
    const char *author, int64_t now, uint32_t *rev, char *err)
{
    return omni_store_doc_put(st, &omni_store_doc_policy, json, len, author,
                              NULL, now, 1, rev, err);
}


int
omni_store_policy_list(omni_store_t *st, uint32_t before,
    omni_store_policy_info_t *out, size_t max, size_t *n, char *err)
{
    return omni_store_doc_list(st, &omni_store_doc_policy, before, out, max,
                               n, err);
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
    int                          rc;
    size_t                       offset;
    uint32_t                     cur;
    MDB_val                      val;
    const char                  *author;
    omni_store_doc_op_t          op;
    omni_store_revision_info_t   ri;

    *wrote = 0;

    author = origin[0] ? origin : "cluster";

    rc = omni_store_doc_check(&omni_store_doc_policy, (const char *) json,
                              len, author, OMNI_STORE_POLICY_REMOTE_NOTE,
                              now, err);
    if (rc != OMNI_STORE_OK) {
        return rc;
    }

    rc = omni_store_doc_current_get(st, txn, &omni_store_doc_policy, &cur,
                                    err);
    if (rc != OMNI_STORE_OK) {
        return rc;
    }

    if (cur != 0) {
        rc = omni_store_doc_record(st, txn, &omni_store_doc_policy, cur,
                                   &val, &ri, &offset, err);
        if (rc != OMNI_STORE_OK) {
            return rc;
        }

        if (ri.len == len
            && memcmp((unsigned char *) val.mv_data + offset, json, len) == 0)
        {
            return OMNI_STORE_OK;
        }
    }

    op.doc = &omni_store_doc_policy;
    op.json = (const char *) json;
    op.len = len;
    op.author = author;
    op.note = OMNI_STORE_POLICY_REMOTE_NOTE;
    op.now = now;
    op.seed = 0;
    op.on_base = 0;
    op.remote = 1;
    op.rev = 0;

    rc = omni_store_doc_write(st, txn, &op, err);

    *wrote = (rc == OMNI_STORE_OK);

    return rc;
}
