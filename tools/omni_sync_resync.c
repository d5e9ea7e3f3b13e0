/*
 * Copyright (C) The omni gateway authors
 *
 * omni-sync's publishing side beyond the log (omni_sync_resync.h): a
 * policy change on the wire with its policy, and the full resync of what
 * a node publishes when its log was trimmed past its published cursor:
 * revocations, erasures, merges, unlinks kept as tombstones, links and,
 * when one of its changes was trimmed, the current policy.
 */


#define _GNU_SOURCE

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <nats/nats.h>

#include "omni_store.h"
#include "omni_sync_resync.h"


static void omni_sync_resync_put(omni_sync_out_t *o, omni_store_change_t *c,
    uint64_t upto, int family);
static int omni_sync_resync_send(omni_sync_out_t *o, omni_store_change_t *c,
    uint64_t upto, uint64_t *sent);
static void omni_sync_out_log(omni_sync_out_t *o, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));


/*
 * A full resync of what this node publishes: every revocation of the
 * store as a put (a union takes them however often they come), every
 * erasure and merge as it is now, the unlinks the log trimmed before
 * they were published, every identity link as it is now (applying them
 * again is done already), the current policy when a policy change was among the
 * trimmed ones, every session (merged where it arrives), then the cursor
 * past the trimmed part of the log.
 * Removals that were trimmed are lost to the other nodes, which keep
 * refusing: the safe side.
 */
int
omni_sync_resync(omni_sync_out_t *o, uint64_t upto)
{
    int                              kind, rc, more;
    char                             err[OMNI_ERRLEN];
    char                             after[OMNI_STORE_VALUE_MAX + 1];
    size_t                           i, n, len, vlen;
    uint64_t                         sent, before;
    omni_store_change_t              c;
    omni_store_customer_cursor_t     cur;
    static omni_store_revocation_t   recs[OMNI_SYNC_BATCH];
    static omni_store_change_t       custs[OMNI_SYNC_BATCH];
    static omni_store_id_t           ids[OMNI_SYNC_BATCH];
    static const char                tags[] = "?jsu";

    sent = 0;

    for (kind = OMNI_STORE_REVOKED_JTI; kind <= OMNI_STORE_REVOKED_SUBJECT;
         kind++)
    {
        after[0] = '\0';

        do {
            rc = omni_store_revocations_list(o->st, kind,
                                             after[0] ? after : NULL, recs,
                                             OMNI_SYNC_BATCH, &n, err);
            if (rc != OMNI_STORE_OK) {
                omni_sync_out_log(o, "%s", err);
                return OMNI_SYNC_STORE;
            }

            for (i = 0; i < n; i++) {
                omni_sync_resync_put(o, &c, upto,
                                     OMNI_STORE_FAMILY_REVOCATION);

                vlen = strlen(recs[i].value);
                c.key[0] = (unsigned char) tags[kind];
                c.key[1] = ':';
                memcpy(c.key + 2, recs[i].value, vlen);
                c.key_len = 2 + vlen;

                c.val[0] = 1;
                for (len = 0; len < 8; len++) {
                    c.val[1 + len] = (unsigned char)
                        ((uint64_t) recs[i].time >> (8 * (7 - len)));
                }
                c.val_len = 9;

                rc = omni_sync_resync_send(o, &c, upto, &sent);
                if (rc != OMNI_SYNC_OK) {
                    return rc;
                }
            }

            more = (n == OMNI_SYNC_BATCH);

            if (more) {
                memcpy(after, recs[n - 1].value, sizeof(after));
            }

        } while (more);
    }

    omni_sync_out_log(o, "full resync: %" PRIu64 " revocations published",
                      sent);

    before = sent;
    memset(&cur, 0, sizeof(omni_store_customer_cursor_t));

    do {
        rc = omni_store_customer_changes(o->st, &cur, custs, OMNI_SYNC_BATCH,
                                         &n, err);
        if (rc != OMNI_STORE_OK) {
            omni_sync_out_log(o, "%s", err);
            return OMNI_SYNC_STORE;
        }

        for (i = 0; i < n; i++) {
            custs[i].seq = upto;
            custs[i].time_ms = (int64_t) time(NULL) * 1000;
            strcpy(custs[i].origin, o->node);

            rc = omni_sync_resync_send(o, &custs[i], upto, &sent);
            if (rc != OMNI_SYNC_OK) {
                return rc;
            }
        }

    } while (n == OMNI_SYNC_BATCH);

    omni_sync_out_log(o, "full resync: %" PRIu64 " merges, unlinks and "
                      "identity links published", sent - before);

    rc = omni_store_policy_resync(o->st, &c, err);

    if (rc == OMNI_STORE_OK) {
        c.seq = upto;
        c.time_ms = (int64_t) time(NULL) * 1000;
        strcpy(c.origin, o->node);

        rc = omni_sync_resync_send(o, &c, upto, &sent);
        if (rc != OMNI_SYNC_OK) {
            return rc;
        }

        omni_sync_out_log(o, "full resync: a policy change was trimmed "
                          "before it was published: the current policy "
                          "published");

    } else if (rc != OMNI_STORE_NOT_FOUND) {
        omni_sync_out_log(o, "%s", err);
        return OMNI_SYNC_STORE;
    }

    /* every session, merged where it arrives however often it comes */
    before = sent;
    after[0] = '\0';

    do {
        rc = omni_store_sessions_list(o->st, after[0] ? after : NULL, ids,
                                      OMNI_SYNC_BATCH, &n, err);
        if (rc != OMNI_STORE_OK) {
            omni_sync_out_log(o, "%s", err);
            return OMNI_SYNC_STORE;
        }

        for (i = 0; i < n; i++) {
            omni_sync_resync_put(o, &c, upto, OMNI_STORE_FAMILY_SESSION);
            c.key_len = strlen(ids[i].id);
            memcpy(c.key, ids[i].id, c.key_len);

            rc = omni_sync_resync_send(o, &c, upto, &sent);
            if (rc != OMNI_SYNC_OK) {
                return rc;
            }
        }

        if (n == OMNI_SYNC_BATCH) {
            memcpy(after, ids[n - 1].id, OMNI_STORE_ID_MAX + 1);
        }

    } while (n == OMNI_SYNC_BATCH);

    omni_sync_out_log(o, "full resync: %" PRIu64 " sessions published",
                      sent - before);

    rc = omni_store_changes_published(o->st, upto, err);
    if (rc != OMNI_STORE_OK) {
        omni_sync_out_log(o, "%s", err);
        return OMNI_SYNC_STORE;
    }

    return OMNI_SYNC_OK;
}


/* a put of the resync at upto, its key and value left to fill */
static void
omni_sync_resync_put(omni_sync_out_t *o, omni_store_change_t *c,
    uint64_t upto, int family)
{
    memset(c, 0, sizeof(omni_store_change_t));
    c->seq = upto;
    c->family = family;
    c->op = OMNI_STORE_CHANGE_PUT;
    c->time_ms = (int64_t) time(NULL) * 1000;
    strcpy(c->origin, o->node);
}


/*
 * One change of a full resync, its message id numbered after the log's
 * sequence and the changes sent before it in this resync (one count for
 * every family: two equal ids would be dropped as duplicates)
 */
static int
omni_sync_resync_send(omni_sync_out_t *o, omni_store_change_t *c,
    uint64_t upto, uint64_t *sent)
{
    int             rc;
    char            err[OMNI_ERRLEN];
    char            msgid[OMNI_STORE_ID_MAX + 64];
    size_t          len;
    jsErrCode       jerr;
    natsStatus      ns;
    jsPubAck       *pa;
    jsPubOptions    po;
    unsigned char  *out, *big;

    rc = omni_sync_encode(o, c, &out, &len, &big, err);

    /* a session gone since it was listed: nothing to send */
    if (rc == OMNI_STORE_NOT_FOUND) {
        return OMNI_SYNC_OK;
    }

    if (rc != OMNI_STORE_OK) {
        omni_sync_out_log(o, "full resync: a change not published: %s",
                          err);
        return OMNI_SYNC_OK;
    }

    snprintf(msgid, sizeof(msgid), "%s:snapshot-%" PRIu64 ":%" PRIu64,
             o->node, upto, ++*sent);

    jsPubOptions_Init(&po);
    po.MsgId = msgid;
    po.MaxWait = 2000;

    pa = NULL;
    jerr = 0;
    ns = js_Publish(&pa, o->js, o->subject, out, (int) len, &po, &jerr);

    free(big);

    if (pa != NULL) {
        jsPubAck_Destroy(pa);
    }

    if (ns != NATS_OK) {
        o->ns = ns;
        o->jerr = jerr;
        return OMNI_SYNC_ENGINE;
    }

    return OMNI_SYNC_OK;
}


/*
 * A change on the wire in *out (len bytes): a session or a case as the
 * store holds it now (OMNI_STORE_NOT_FOUND: gone since, nothing to
 * send), a policy with its text (in *big, malloc()ed), anything else as
 * logged.  *out is valid until the next call.
 */
int
omni_sync_encode(omni_sync_out_t *o, omni_store_change_t *c,
    unsigned char **out, size_t *len, unsigned char **big, char *err)
{
    int                   rc;
    static unsigned char  buf[OMNI_SYNC_RECORD_MAX];

    *big = NULL;
    *out = buf;

    switch (c->family) {

    case OMNI_STORE_FAMILY_SESSION:
        return omni_store_change_session_encode(o->st, c, o->node, buf,
                                                sizeof(buf), len, err);

    case OMNI_STORE_FAMILY_CASE:
        return omni_store_change_case_encode(o->st, c, o->node, buf,
                                             sizeof(buf), len, err);

    case OMNI_STORE_FAMILY_POLICY:
        rc = omni_sync_policy(o, c, big, len, err);

        if (*big != NULL) {
            *out = *big;
        }

        return rc;

    default:
        return omni_store_change_encode(c, buf, sizeof(buf), len, err);
    }
}


/*
 * A policy change on the wire: the revision the log names, read from the
 * store, after the record (malloc()ed in *out).  OMNI_STORE_INVALID for
 * one that cannot go (gone, larger than the server takes): passed over.
 */
int
omni_sync_policy(omni_sync_out_t *o, omni_store_change_t *c,
    unsigned char **out, size_t *len, char *err)
{
    int        rc;
    char      *json;
    size_t     jlen;
    int64_t    max;
    uint32_t   rev;

    *out = NULL;

    rev = ((uint32_t) c->key[2] << 24) | ((uint32_t) c->key[3] << 16)
          | ((uint32_t) c->key[4] << 8) | c->key[5];

    rc = omni_store_policy_get(o->st, rev, &json, &jlen, NULL, err);
    if (rc == OMNI_STORE_NOT_FOUND) {
        return OMNI_STORE_INVALID;
    }

    if (rc != OMNI_STORE_OK) {
        return rc;
    }

    max = natsConnection_GetMaxPayload(o->nc);

    if (max > 0 && (int64_t) (jlen + OMNI_STORE_CHANGE_WIRE_MAX) > max) {
        free(json);
        omni_err(err, "policy revision %" PRIu32 " is %zu bytes, more than "
                       "the NATS server takes (%" PRId64 ")", rev, jlen, max);
        return OMNI_STORE_INVALID;
    }

    *out = malloc(OMNI_STORE_CHANGE_WIRE_MAX + jlen);
    if (*out == NULL) {
        free(json);
        omni_err(err, "out of memory");
        return OMNI_STORE_ERROR;
    }

    c->data = (const unsigned char *) json;
    c->data_len = jlen;

    rc = omni_store_change_encode(c, *out, OMNI_STORE_CHANGE_WIRE_MAX + jlen,
                                  len, err);

    c->data = NULL;
    c->data_len = 0;
    free(json);

    return rc;
}


static void
omni_sync_out_log(omni_sync_out_t *o, const char *fmt, ...)
{
    char     text[1024];
    va_list  ap;

    va_start(ap, fmt);
    vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);

    o->log(o->data, text);
}
