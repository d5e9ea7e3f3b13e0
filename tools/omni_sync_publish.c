/*
 * Copyright (C) The omni gateway authors
 *
 * omni-sync's publishing side: the store's change log published in
 * order, each change with the message id <node>:<seq> (JetStream drops
 * the copy a restart after a crash publishes again), the published
 * cursor recorded in the store; a policy change carries the revision;
 * a log trimmed before it was published is replaced by a full resync of
 * the store's revocations, erasures, merges, unlinks kept as tombstones,
 * identity links, sessions and, when one of its changes was trimmed, the
 * current policy; a session or a case goes as the store holds it.  The store's full state is sent from here for that resync and
 * for the answers to other nodes' requests (omni_sync_resync.c).
 */


#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "omni_policy.h"
#include "omni_sync.h"


static int omni_sync_snapshot(omni_sync_t *s, uint64_t upto);
static int omni_sync_snapshot_send(omni_sync_t *s, omni_store_change_t *c,
    const char *subject, const char *idprefix, uint64_t *count);
static void omni_sync_snapshot_put(omni_sync_t *s, omni_store_change_t *c,
    uint64_t seq, int family);
static int omni_sync_encode(omni_sync_t *s, omni_store_change_t *c,
    unsigned char **out, size_t *len, unsigned char **big, char *err);
static int omni_sync_policy(omni_sync_t *s, omni_store_change_t *c,
    unsigned char **out, size_t *len, char *err);


/*
 * A full resync of what this node publishes: its full state (below),
 * the current policy when a policy change was among the trimmed ones,
 * then the cursor past the trimmed part of the log.  Removals that were
 * trimmed are lost to the other nodes, which keep refusing: the safe
 * side.
 */
static int
omni_sync_snapshot(omni_sync_t *s, uint64_t upto)
{
    int                   rc;
    char                  err[OMNI_ERRLEN];
    char                  idprefix[OMNI_STORE_ID_MAX + 32];
    uint64_t              revocations, customers, sessions, count;
    omni_store_change_t   c;

    snprintf(idprefix, sizeof(idprefix), "%s:snapshot-%" PRIu64, s->node,
             upto);

    if (omni_sync_state_send(s, s->subject, idprefix, upto, &revocations,
                             &customers, &sessions)
        != 0)
    {
        return -1;
    }

    omni_sync_log(s, "full resync: %" PRIu64 " revocations published",
                  revocations);
    omni_sync_log(s, "full resync: %" PRIu64 " merges, unlinks and "
                  "identity links published", customers);
    omni_sync_log(s, "full resync: %" PRIu64 " sessions published",
                  sessions);

    rc = omni_store_policy_resync(s->st, &c, err);

    if (rc == OMNI_STORE_OK) {
        c.seq = upto;
        c.time_ms = (int64_t) time(NULL) * 1000;
        strcpy(c.origin, s->node);

        /* its message id after the state's: one count for every family */
        count = revocations + customers + sessions;

        if (omni_sync_snapshot_send(s, &c, s->subject, idprefix, &count)
            != 0)
        {
            return -1;
        }

        omni_sync_log(s, "full resync: a policy change was trimmed before "
                      "it was published: the current policy published");

    } else if (rc != OMNI_STORE_NOT_FOUND) {
        omni_sync_log(s, "%s", err);
        omni_sync_failed(s, "store", NATS_ERR, 0, 0);
        return -1;
    }

    rc = omni_store_changes_published(s->st, upto, err);
    if (rc != OMNI_STORE_OK) {
        omni_sync_log(s, "%s", err);
        omni_sync_failed(s, "store", NATS_ERR, 0, 0);
        return -1;
    }

    return 0;
}


/*
 * The store's full state as changes numbered seq, on subject with the
 * message ids <idprefix>:<n>: every revocation as a put (a union takes
 * them however often they come), every erasure and merge as it is now,
 * the unlinks the log trimmed before they were published (tombstones),
 * every identity link as it is now (applying them again is done
 * already), every session (merged where it arrives).  For the
 * publishing side's full resync and for an answer to a node's request
 * (omni_sync_resync.c).
 */
int
omni_sync_state_send(omni_sync_t *s, const char *subject,
    const char *idprefix, uint64_t seq, uint64_t *revocations,
    uint64_t *customers, uint64_t *sessions)
{
    int                              kind, rc, more;
    char                             err[OMNI_ERRLEN];
    char                             after[OMNI_STORE_VALUE_MAX + 1];
    size_t                           i, n, len, vlen;
    uint64_t                         count;
    omni_store_change_t              c;
    omni_store_customer_cursor_t     cur;
    static omni_store_revocation_t   recs[OMNI_SYNC_BATCH];
    static omni_store_change_t       custs[OMNI_SYNC_BATCH];
    static omni_store_id_t           ids[OMNI_SYNC_BATCH];
    static const char                tags[] = "?jsu";

    /* one count for both parts: every message its own id */
    count = 0;

    for (kind = OMNI_STORE_REVOKED_JTI; kind <= OMNI_STORE_REVOKED_SUBJECT;
         kind++)
    {
        after[0] = '\0';

        do {
            rc = omni_store_revocations_list(s->st, kind,
                                             after[0] ? after : NULL, recs,
                                             OMNI_SYNC_BATCH, &n, err);
            if (rc != OMNI_STORE_OK) {
                omni_sync_log(s, "%s", err);
                omni_sync_failed(s, "store", NATS_ERR, 0, 0);
                return -1;
            }

            for (i = 0; i < n; i++) {
                omni_sync_snapshot_put(s, &c, seq,
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

                if (omni_sync_snapshot_send(s, &c, subject, idprefix,
                                            &count)
                    != 0)
                {
                    return -1;
                }
            }

            more = (n == OMNI_SYNC_BATCH);

            if (more) {
                memcpy(after, recs[n - 1].value, sizeof(after));
            }

        } while (more);
    }

    *revocations = count;
    memset(&cur, 0, sizeof(omni_store_customer_cursor_t));

    do {
        rc = omni_store_customer_changes(s->st, &cur, custs, OMNI_SYNC_BATCH,
                                         &n, err);
        if (rc != OMNI_STORE_OK) {
            omni_sync_log(s, "%s", err);
            omni_sync_failed(s, "store", NATS_ERR, 0, 0);
            return -1;
        }

        for (i = 0; i < n; i++) {
            custs[i].seq = seq;
            custs[i].time_ms = (int64_t) time(NULL) * 1000;
            strcpy(custs[i].origin, s->node);

            if (omni_sync_snapshot_send(s, &custs[i], subject, idprefix,
                                        &count)
                != 0)
            {
                return -1;
            }
        }

    } while (n == OMNI_SYNC_BATCH);

    *customers = count - *revocations;

    /* every session, merged where it arrives however often it comes */
    after[0] = '\0';

    do {
        rc = omni_store_sessions_list(s->st, after[0] ? after : NULL, ids,
                                      OMNI_SYNC_BATCH, &n, err);
        if (rc != OMNI_STORE_OK) {
            omni_sync_log(s, "%s", err);
            omni_sync_failed(s, "store", NATS_ERR, 0, 0);
            return -1;
        }

        for (i = 0; i < n; i++) {
            omni_sync_snapshot_put(s, &c, seq, OMNI_STORE_FAMILY_SESSION);
            c.key_len = strlen(ids[i].id);
            memcpy(c.key, ids[i].id, c.key_len);

            if (omni_sync_snapshot_send(s, &c, subject, idprefix, &count)
                != 0)
            {
                return -1;
            }
        }

        if (n == OMNI_SYNC_BATCH) {
            memcpy(after, ids[n - 1].id, OMNI_STORE_ID_MAX + 1);
        }

    } while (n == OMNI_SYNC_BATCH);

    *sessions = count - *revocations - *customers;

    return 0;
}


/* a put of a full state numbered seq, its key and value left to fill */
static void
omni_sync_snapshot_put(omni_sync_t *s, omni_store_change_t *c, uint64_t seq,
    int family)
{
    memset(c, 0, sizeof(omni_store_change_t));
    c->seq = seq;
    c->family = family;
    c->op = OMNI_STORE_CHANGE_PUT;
    c->time_ms = (int64_t) time(NULL) * 1000;
    strcpy(c->origin, s->node);
}


/*
 * One change of a full state, its message id numbered after the ones
 * sent before it (one count for every family: two equal ids would be
 * dropped as duplicates); one that cannot go is passed over, said so.
 */
static int
omni_sync_snapshot_send(omni_sync_t *s, omni_store_change_t *c,
    const char *subject, const char *idprefix, uint64_t *count)
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

    rc = omni_sync_encode(s, c, &out, &len, &big, err);

    /* a session gone since it was listed: nothing to send */
    if (rc == OMNI_STORE_NOT_FOUND) {
        return 0;
    }

    if (rc != OMNI_STORE_OK) {
        omni_sync_log(s, "full resync: a change not published: %s", err);
        return 0;
    }

    snprintf(msgid, sizeof(msgid), "%s:%" PRIu64, idprefix, ++*count);

    /* a large state takes seconds: the sync is not taken for gone */
    if (omni_sync_now_ms() - s->status_at >= 1000) {
        omni_sync_write_status(s);
    }

    jsPubOptions_Init(&po);
    po.MsgId = msgid;
    po.MaxWait = 2000;

    pa = NULL;
    jerr = 0;
    ns = js_Publish(&pa, s->js, subject, out, (int) len, &po, &jerr);

    free(big);

    if (pa != NULL) {
        jsPubAck_Destroy(pa);
    }

    if (ns != NATS_OK) {
        omni_sync_failed(s, "publish", ns, jerr, 1);
        return -1;
    }

    return 0;
}


/*
 * A change on the wire in *out (len bytes): a session or a case as the
 * store holds it now (OMNI_STORE_NOT_FOUND: gone since, nothing to
 * send), a policy with its text (in *big, malloc()ed, to free), anything
 * else as logged.  *out is valid until the next call.
 */
static int
omni_sync_encode(omni_sync_t *s, omni_store_change_t *c,
    unsigned char **out, size_t *len, unsigned char **big, char *err)
{
    int                   rc;
    static unsigned char  buf[OMNI_SYNC_RECORD_MAX];

    *big = NULL;
    *out = buf;

    switch (c->family) {

    case OMNI_STORE_FAMILY_SESSION:
        return omni_store_change_session_encode(s->st, c, s->node, buf,
                                                sizeof(buf), len, err);

    case OMNI_STORE_FAMILY_CASE:
        return omni_store_change_case_encode(s->st, c, s->node, buf,
                                             sizeof(buf), len, err);

    case OMNI_STORE_FAMILY_POLICY:
        rc = omni_sync_policy(s, c, big, len, err);

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
static int
omni_sync_policy(omni_sync_t *s, omni_store_change_t *c, unsigned char **out,
    size_t *len, char *err)
{
    int        rc;
    char      *json;
    size_t     jlen;
    int64_t    max;
    uint32_t   rev;

    *out = NULL;

    rev = ((uint32_t) c->key[2] << 24) | ((uint32_t) c->key[3] << 16)
          | ((uint32_t) c->key[4] << 8) | c->key[5];

    rc = omni_store_policy_get(s->st, rev, &json, &jlen, NULL, err);
    if (rc == OMNI_STORE_NOT_FOUND) {
        return OMNI_STORE_INVALID;
    }

    if (rc != OMNI_STORE_OK) {
        return rc;
    }

    max = natsConnection_GetMaxPayload(s->nc);

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


/* the local changes not published yet, in order */
int
omni_sync_publish(omni_sync_t *s)
{
    int                          rc;
    char                         err[OMNI_ERRLEN];
    char                         msgid[OMNI_STORE_ID_MAX + 24];
    size_t                       i, n, len;
    int64_t                      cursor_at;
    uint64_t                     done;
    jsErrCode                    jerr;
    natsStatus                   ns;
    jsPubAck                    *pa;
    jsPubOptions                 po;
    omni_store_changes_state_t   state;
    static omni_store_change_t   changes[OMNI_SYNC_BATCH];
    unsigned char               *out, *big;

    rc = omni_store_changes_state(s->st, &state, err);
    if (rc != OMNI_STORE_OK) {
        omni_sync_log(s, "%s", err);
        omni_sync_failed(s, "store", NATS_ERR, 0, 0);
        return -1;
    }

    if (state.published >= state.last) {
        return 0;
    }

    if (state.published + 1 < state.first) {
        omni_sync_log(s, "changes %" PRIu64 " to %" PRIu64 " were trimmed "
                      "from the log before they were published: publishing "
                      "every revocation, merge and identity link of the "
                      "store instead",
                      state.published + 1, state.first - 1);

        if (omni_sync_snapshot(s, state.first - 1) != 0) {
            return -1;
        }

        state.published = state.first - 1;
    }

    rc = omni_store_changes_read(s->st, state.published, changes,
                                 OMNI_SYNC_BATCH, &n, err);
    if (rc != OMNI_STORE_OK) {
        omni_sync_log(s, "%s", err);
        omni_sync_failed(s, "store", NATS_ERR, 0, 0);
        return -1;
    }

    done = state.published;
    cursor_at = omni_sync_now_ms();
    ns = NATS_OK;
    jerr = 0;

    for (i = 0; i < n; i++) {
        /* the origin of a change logged before the node id was set */
        if (changes[i].origin[0] == '\0') {
            strcpy(changes[i].origin, s->node);
        }

        rc = omni_sync_encode(s, &changes[i], &out, &len, &big, err);

        /* a session that ended or expired, a case erased since */
        if (rc == OMNI_STORE_NOT_FOUND) {
            done = changes[i].seq;
            continue;
        }

        if (rc != OMNI_STORE_OK) {
            free(big);

            if (rc == OMNI_STORE_ERROR) {
                omni_sync_log(s, "%s", err);
                break;
            }

            omni_sync_log(s, "change %" PRIu64 " not published: %s",
                          changes[i].seq, err);
            done = changes[i].seq;
            continue;
        }

        snprintf(msgid, sizeof(msgid), "%s:%" PRIu64, s->node,
                 changes[i].seq);

        jsPubOptions_Init(&po);
        po.MsgId = msgid;
        po.MaxWait = 2000;

        pa = NULL;
        ns = js_Publish(&pa, s->js, s->subject, out, (int) len, &po, &jerr);

        free(big);

        if (pa != NULL) {
            jsPubAck_Destroy(pa);
        }

        if (ns != NATS_OK) {
            break;
        }

        done = changes[i].seq;
        s->published_n++;

        /*
         * An admin request under omni_cluster ack=on waits for the cursor
         * to pass its change: recorded after the batch's last ack, and
         * within a long batch every OMNI_SYNC_CURSOR_MS (a commit per ack
         * would cut the throughput by three).
         */
        if (i + 1 < n
            && omni_sync_now_ms() - cursor_at < OMNI_SYNC_CURSOR_MS)
        {
            continue;
        }

        rc = omni_store_changes_published(s->st, done, err);
        if (rc != OMNI_STORE_OK) {
            omni_sync_log(s, "%s", err);
        }

        state.published = done;
        cursor_at = omni_sync_now_ms();
    }

    if (done > state.published) {
        rc = omni_store_changes_published(s->st, done, err);
        if (rc != OMNI_STORE_OK) {
            omni_sync_log(s, "%s", err);
        }
    }

    if (ns != NATS_OK) {
        omni_sync_failed(s, "publish", ns, jerr, 1);
        return -1;
    }

    return 0;
}
