/*
 * Copyright (C) The omni gateway authors
 *
 * omni-sync's consuming side: the stream's messages fetched by the
 * node's durable pull consumer, the other nodes' changes applied in one
 * write transaction with the stream cursor, then acked; a gap in the
 * stream's sequence stops the batch (the consumer is made again from
 * the cursor) unless the stream trimmed it; an erasure from another
 * node audited; a consumer gone while idle (its stream deleted), or
 * holding messages none of which reach this node, found out; caught up
 * recorded for nginx's fail-closed check.
 */


#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>

#include "omni_policy.h"
#include "omni_sync.h"


static int omni_sync_gap(omni_sync_t *s, uint64_t next, uint64_t seq);
static void omni_sync_caught_up(omni_sync_t *s);
static int omni_sync_consumer_check(omni_sync_t *s);


/*
 * A batch of the stream: the other nodes' changes applied in one write
 * transaction with the cursor, then every message acked.
 */
int
omni_sync_consume(omni_sync_t *s)
{
    int                               i, rc;
    char                              err[OMNI_ERRLEN];
    size_t                            n, j;
    uint64_t                          seq, next;
    jsErrCode                         jerr;
    natsMsg                          *m;
    natsStatus                        ns;
    natsMsgList                       list;
    jsMsgMetaData                    *meta;
    char                             *errors;
    omni_policy_t                    *policy;
    static omni_store_change_t        changes[OMNI_SYNC_BATCH];
    static omni_store_change_item_t   items[OMNI_SYNC_BATCH];
    static natsMsg                   *acks[OMNI_SYNC_BATCH];

    jerr = 0;
    memset(&list, 0, sizeof(natsMsgList));

    ns = natsSubscription_Fetch(&list, s->sub, OMNI_SYNC_BATCH,
                                OMNI_SYNC_FETCH_MS, &jerr);

    /* a fetch times out too while the client reconnects: no catching up */
    if (ns == NATS_TIMEOUT
        && natsConnection_Status(s->nc) != NATS_CONN_STATUS_CONNECTED)
    {
        omni_sync_failed(s, "not connected", NATS_CONNECTION_DISCONNECTED,
                         0, 1);
        return -1;
    }

    if (ns == NATS_TIMEOUT) {
        if (omni_sync_consumer_check(s)) {
            s->ready = 0;
            return -1;
        }

        s->pending = 0;
        omni_sync_caught_up(s);
        return 0;
    }

    if (ns != NATS_OK) {
        natsMsgList_Destroy(&list);
        omni_sync_failed(s, "fetch", ns, jerr, 1);
        return -1;
    }

    n = 0;
    seq = 0;
    s->fetched_n += (uint64_t) list.Count;

    for (i = 0; i < list.Count && n < OMNI_SYNC_BATCH; i++) {
        m = list.Msgs[i];
        meta = NULL;

        if (natsMsg_GetMetaData(&meta, m) != NATS_OK) {
            omni_sync_log(s, "a message without JetStream metadata: "
                          "passed over");
            (void) natsMsg_Ack(m, NULL);
            continue;
        }

        /* a redelivery of an earlier message of the batch: acked alone */
        if (meta->Sequence.Stream <= seq) {
            (void) natsMsg_Ack(m, NULL);
            jsMsgMetaData_Destroy(meta);
            continue;
        }

        /*
         * Past a message the consumer delivered and this node never
         * applied (to a run killed before its commit, or lost on the
         * way): applying it would move the cursor past the other, whose
         * redelivery would then be taken for a duplicate.  The batch
         * stops here and the consumer is made again from the cursor.
         */
        next = (seq > s->applied ? seq : s->applied) + 1;

        if (meta->Sequence.Stream > next
            && !omni_sync_gap(s, next, meta->Sequence.Stream))
        {
            jsMsgMetaData_Destroy(meta);
            s->remake = 1;
            break;
        }

        seq = meta->Sequence.Stream;
        s->pending = meta->NumPending;

        items[n].stream_seq = seq;
        items[n].change = &changes[n];

        if (omni_store_change_decode((const unsigned char *)
                                     natsMsg_GetData(m),
                                     (size_t) natsMsg_GetDataLength(m),
                                     &changes[n], err)
            != OMNI_STORE_OK)
        {
            /* never the content: it may name a token */
            omni_sync_log(s, "stream message %" PRIu64 " passed over: %s",
                          seq, err);
            items[n].change = NULL;

        } else if (changes[n].family == OMNI_STORE_FAMILY_POLICY) {
            /* a policy from the stream is compiled before it is stored */
            policy = omni_policy_compile((const char *) changes[n].data,
                                         changes[n].data_len, &errors);
            if (policy == NULL) {
                omni_sync_log(s, "stream message %" PRIu64 " passed over: "
                              "not a valid policy", seq);
                items[n].change = NULL;
            }

            omni_policy_free(policy);
            free(errors);
        }

        acks[n++] = m;
        jsMsgMetaData_Destroy(meta);
    }

    rc = omni_store_changes_apply_batch(s->st, items, n, err);

    if (rc != OMNI_STORE_OK) {
        /* not acked: redelivered after AckWait, or after a restart */
        omni_sync_log(s, "%zu stream messages not applied: %s", n, err);
        natsMsgList_Destroy(&list);

        /*
         * Later messages must not overtake these: the consumer is made
         * again from the store's cursor, and delivers them first.
         */
        s->remake = 1;
        omni_sync_failed(s, "apply", NATS_ERR, 0, 1);
        return -1;
    }

    for (j = 0; j < n; j++) {
        if (items[j].rc != OMNI_STORE_OK) {
            omni_sync_log(s, "stream message %" PRIu64 " passed over: the "
                          "store refused its change", items[j].stream_seq);
        }

        s->applied_n += (items[j].applied != 0);
        (void) natsMsg_Ack(acks[j], NULL);

        if (items[j].applied
            && items[j].change->family == OMNI_STORE_FAMILY_ERASURE)
        {
            omni_sync_audit(s, &items[j]);
        }
    }

    if (n > 0 && items[n - 1].stream_seq > s->applied) {
        s->applied = items[n - 1].stream_seq;
    }

    natsMsgList_Destroy(&list);

    if (s->remake) {
        omni_sync_failed(s, "consumer ahead of the store", NATS_ERR, 0, 1);
        return -1;
    }

    if (s->pending == 0) {
        omni_sync_caught_up(s);
    }

    return 0;
}


/*
 * Stream messages next to seq - 1 were not delivered before seq: 1 when
 * the stream no longer holds any of them (trimmed by --stream-max:
 * missed, and said so), 0 when it holds some (they went to an earlier
 * run, or were lost on the way) or cannot tell.
 */
static int
omni_sync_gap(omni_sync_t *s, uint64_t next, uint64_t seq)
{
    uint64_t       first;
    jsErrCode      jerr;
    natsStatus     ns;
    jsStreamInfo  *si;

    si = NULL;
    jerr = 0;

    ns = js_GetStreamInfo(&si, s->js, s->stream, NULL, &jerr);
    if (ns != NATS_OK) {
        return 0;
    }

    first = si->State.FirstSeq;
    jsStreamInfo_Destroy(si);

    if (first > next) {
        omni_sync_resync_want(s, next, first - 1);
        next = first;
    }

    if (next < seq) {
        omni_sync_log(s, "stream message %" PRIu64 " came before %" PRIu64
                      " to %" PRIu64 " were applied: the consumer is made "
                      "again from there", seq, next, seq - 1);
        return 0;
    }

    return 1;
}


/*
 * An erasure from another node, from the stream or a full resync's
 * answer, is audited here as omnictl audits a local one (syslog,
 * authpriv): the customer's id, never an identity's value.
 */
void
omni_sync_audit(omni_sync_t *s, const omni_store_change_item_t *it)
{
    char                        change[OMNI_STORE_ID_MAX * 2 + 96];
    const omni_store_change_t  *c;

    c = it->change;

    snprintf(change, sizeof(change), "erase customer %.*s (%zu records) "
             "from the cluster, node %s", (int) c->key_len,
             (const char *) c->key, it->records, c->origin);

    syslog(LOG_AUTHPRIV | LOG_NOTICE, "%s by omni-sync %s", change,
           s->node);
    omni_sync_log(s, "audit: %s", change);
}


/*
 * While fetches return nothing, once a second: the consumer is still
 * there (its stream deleted takes it), and still delivers to this node
 * (omni_sync_stalled()).  1 when it must be set up again.
 */
static int
omni_sync_consumer_check(omni_sync_t *s)
{
    int              stalled;
    int64_t          now;
    jsErrCode        jerr;
    natsStatus       ns;
    jsConsumerInfo  *ci;

    now = omni_sync_now_ms();

    if (!omni_sync_stall_look(&s->stall, s->js, s->stream, s->durable, now,
                              &ci, &ns, &jerr))
    {
        return 0;
    }

    if (ns == NATS_NOT_FOUND || jerr == JSConsumerNotFoundErr
        || jerr == JSStreamNotFoundErr)
    {
        jsConsumerInfo_Destroy(ci);
        omni_sync_log(s, "consumer %s of stream %s is gone: set up again",
                      s->durable, s->stream);
        return 1;
    }

    stalled = (ns == NATS_OK
               && omni_sync_stalled(&s->stall, ci, s->fetched_n, now));
    jsConsumerInfo_Destroy(ci);

    if (!stalled) {
        return 0;
    }

    omni_sync_log(s, "consumer %s holds %" PRIu64 " messages for this node "
                  "and its fetches returned none in %" PRId64 " ms: made "
                  "again from the cursor", s->durable, s->stall.held,
                  s->stall.lasted);
    s->remake = 1;

    return 1;
}


/*
 * Nothing left to apply: recorded in the store once a second at most,
 * for nginx's fail-closed check (omni_cluster fail_closed_lag=)
 */
static void
omni_sync_caught_up(omni_sync_t *s)
{
    char     err[OMNI_ERRLEN];
    int64_t  now;

    now = (int64_t) time(NULL);

    if (now == s->caught_up_at) {
        return;
    }

    if (omni_store_changes_caught_up(s->st, now, err) != OMNI_STORE_OK) {
        omni_sync_log(s, "%s", err);
        return;
    }

    s->caught_up_at = now;
}
