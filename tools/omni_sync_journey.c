/*
 * Copyright (C) The omni gateway authors
 *
 * omni-sync's journeys (tools/omni_sync_journey.h; docs/cluster.md): a
 * stream of their own, <stream>_J, subjects omni.journey.<customer>, so
 * that JetStream keeps at most --journey-max events of each customer and
 * none older than --journey-age, and so that a burst of requests never
 * holds a revocation back on the change stream.  The node's journey log
 * (omni_store.h, "Journeys between nodes") is published a batch per
 * round, each event with the message id <node>:j<seq>; the other nodes'
 * events are fetched without waiting (the change stream's fetch is the
 * loop's tick) and applied with the journey cursor.
 */


#define _GNU_SOURCE

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "omni_sync_journey.h"


#define OMNI_SYNC_JOURNEY_BATCH   64     /* events published per round */
#define OMNI_SYNC_JOURNEY_FETCH   256    /* messages fetched per round */
#define OMNI_SYNC_JOURNEY_EVERY   100    /* ms between rounds, at least */
#define OMNI_SYNC_JOURNEY_BACKOFF_MIN  100
#define OMNI_SYNC_JOURNEY_BACKOFF_MAX  5000


static int omni_sync_journey_fail(omni_sync_journey_t *j, const char *what,
    natsStatus ns, jsErrCode jerr);
static void omni_sync_journey_log(omni_sync_journey_t *j, const char *fmt,
    ...) __attribute__((format(printf, 2, 3)));
static void omni_sync_journey_passed_over(void *data, uint64_t seq,
    const char *why);
static int omni_sync_journey_check(omni_sync_journey_t *j, int64_t now);


/*
 * The round, every OMNI_SYNC_JOURNEY_EVERY ms at most: set up, failing
 * and backing off on its own, so that journeys never stop revocations
 * (nor slow their tick)
 */
void
omni_sync_journey_round(omni_sync_journey_t *j, int64_t now)
{
    if (now < j->retry_at || j->js == NULL) {
        return;
    }

    if (!j->ready && omni_sync_journey_setup(j) == 0) {
        j->ready = 1;
        omni_sync_journey_log(j, "journey stream %s and consumer %s ready",
                              j->stream, j->durable);
    }

    if (j->ready && omni_sync_journey_publish(j) == 0
        && omni_sync_journey_consume(j, now) == 0)
    {
        j->backoff_ms = OMNI_SYNC_JOURNEY_BACKOFF_MIN;
        j->last_error[0] = '\0';
        j->retry_at = now + OMNI_SYNC_JOURNEY_EVERY;
        return;
    }

    if (strcmp(j->error, j->last_error) != 0) {
        omni_sync_journey_log(j, "%s (retrying, %d ms apart at most)",
                              j->error, OMNI_SYNC_JOURNEY_BACKOFF_MAX);
        memcpy(j->last_error, j->error, sizeof(j->last_error));
    }

    j->ready = 0;
    j->backoff_ms = (j->backoff_ms == 0) ? OMNI_SYNC_JOURNEY_BACKOFF_MIN
                    : (j->backoff_ms * 2 > OMNI_SYNC_JOURNEY_BACKOFF_MAX)
                    ? OMNI_SYNC_JOURNEY_BACKOFF_MAX : j->backoff_ms * 2;
    j->retry_at = now + j->backoff_ms;
}


int
omni_sync_journey_setup(omni_sync_journey_t *j)
{
    int                           rc;
    char                          err[OMNI_ERRLEN];
    jsErrCode                     jerr;
    natsStatus                    ns;
    jsStreamInfo                 *si;
    omni_sync_consumer_t          oc;
    omni_store_journeys_state_t   state;

    rc = omni_store_journeys_state(j->st, &state, err);
    if (rc != OMNI_STORE_OK) {
        snprintf(j->error, sizeof(j->error), "journeys: %s", err);
        return -1;
    }

    ns = omni_sync_stream(j->js, j->stream, OMNI_SYNC_JOURNEY_SUBJECT ".>",
                          0, j->max_per_customer, j->max_age, &si, &jerr);

    if (ns != NATS_OK) {
        return omni_sync_journey_fail(j, "journey stream", ns, jerr);
    }

    jsStreamInfo_Destroy(si);

    memset(&oc, 0, sizeof(omni_sync_consumer_t));
    oc.js = j->js;
    oc.stream = j->stream;
    oc.durable = j->durable;
    oc.filter = OMNI_SYNC_JOURNEY_SUBJECT ".>";
    oc.applied = state.applied;
    oc.remake = j->remake;

    if (omni_sync_consumer(&oc, &j->sub) != 0) {
        return omni_sync_journey_fail(j, oc.what, oc.ns, oc.jerr);
    }

    j->remake = 0;

    return 0;
}


/* a batch of the journey log, in order */
int
omni_sync_journey_publish(omni_sync_journey_t *j)
{
    int                                 rc;
    char                                err[OMNI_ERRLEN];
    char                                msgid[OMNI_STORE_ID_MAX + 24];
    char                                subject[sizeof(
                                            OMNI_SYNC_JOURNEY_SUBJECT) + 1
                                            + OMNI_STORE_ID_MAX + 1];
    size_t                              i, n, len;
    uint64_t                            done;
    jsErrCode                           jerr;
    natsStatus                          ns;
    jsPubAck                           *pa;
    jsPubOptions                        po;
    omni_store_change_t                *c;
    omni_store_journeys_state_t         state;
    static omni_store_journey_change_t  events[OMNI_SYNC_JOURNEY_BATCH];
    unsigned char                       buf[OMNI_STORE_JOURNEY_MSG_MAX];

    rc = omni_store_journeys_state(j->st, &state, err);
    if (rc != OMNI_STORE_OK) {
        snprintf(j->error, sizeof(j->error), "journeys: %s", err);
        return -1;
    }

    if (state.published >= state.last) {
        return 0;
    }

    if (state.published + 1 < state.first) {
        omni_sync_journey_log(j, "journey events %" PRIu64 " to %" PRIu64
                              " were trimmed from the log before they were "
                              "published: they stay on this node",
                              state.published + 1, state.first - 1);
        state.published = state.first - 1;
    }

    rc = omni_store_journeys_read(j->st, state.published, events,
                                  OMNI_SYNC_JOURNEY_BATCH, &n, err);
    if (rc != OMNI_STORE_OK) {
        snprintf(j->error, sizeof(j->error), "journeys: %s", err);
        return -1;
    }

    done = state.published;
    ns = NATS_OK;
    jerr = 0;

    for (i = 0; i < n; i++) {
        c = &events[i].c;

        if (c->origin[0] == '\0') {
            (void) strcpy(c->origin, j->node);
        }

        if (omni_store_change_encode(c, buf, sizeof(buf), &len, err)
            != OMNI_STORE_OK)
        {
            omni_sync_journey_log(j, "journey event %" PRIu64 " not "
                                  "published: %s", c->seq, err);
            done = c->seq;
            continue;
        }

        snprintf(subject, sizeof(subject), "%s.%.*s",
                 OMNI_SYNC_JOURNEY_SUBJECT, (int) c->key_len,
                 (const char *) c->key);
        snprintf(msgid, sizeof(msgid), "%s:j%" PRIu64, j->node, c->seq);

        jsPubOptions_Init(&po);
        po.MsgId = msgid;
        po.MaxWait = 2000;

        pa = NULL;
        ns = js_Publish(&pa, j->js, subject, buf, (int) len, &po, &jerr);

        if (pa != NULL) {
            jsPubAck_Destroy(pa);
        }

        if (ns != NATS_OK) {
            break;
        }

        done = c->seq;
        j->published_n++;
    }

    /* the events a stream limit dropped at once were published anyway */
    if (done > state.published
        && omni_store_journeys_published(j->st, done, err) != OMNI_STORE_OK)
    {
        omni_sync_journey_log(j, "%s", err);
    }

    if (ns != NATS_OK) {
        return omni_sync_journey_fail(j, "journey publish", ns, jerr);
    }

    return 0;
}


/* what the journey stream holds for this node, without waiting */
int
omni_sync_journey_consume(omni_sync_journey_t *j, int64_t now)
{
    int                               rc;
    char                              err[OMNI_ERRLEN];
    size_t                            n;
    uint64_t                          pending;
    jsErrCode                         jerr;
    natsStatus                        ns;
    natsMsgList                       list;
    jsFetchRequest                    req;
    static omni_store_change_t        changes[OMNI_SYNC_JOURNEY_FETCH];
    static omni_store_change_item_t   items[OMNI_SYNC_JOURNEY_FETCH];
    static natsMsg                   *acks[OMNI_SYNC_JOURNEY_FETCH];

    jsFetchRequest_Init(&req);
    req.Batch = OMNI_SYNC_JOURNEY_FETCH;
    req.NoWait = true;
    req.Expires = (int64_t) 1000 * 1000;

    memset(&list, 0, sizeof(natsMsgList));
    jerr = 0;

    ns = natsSubscription_FetchRequest(&list, j->sub, &req);

    if (ns == NATS_TIMEOUT || ns == NATS_NOT_FOUND) {
        natsMsgList_Destroy(&list);
        return omni_sync_journey_check(j, now);
    }

    if (ns != NATS_OK) {
        natsMsgList_Destroy(&list);
        return omni_sync_journey_fail(j, "journey fetch", ns, jerr);
    }

    j->fetched_n += (uint64_t) list.Count;

    n = omni_sync_batch(&list, changes, items, acks,
                        OMNI_SYNC_JOURNEY_FETCH, &pending,
                        omni_sync_journey_passed_over, j);

    rc = omni_store_journeys_apply_batch(j->st, items, n, err);

    if (rc != OMNI_STORE_OK) {
        /* not acked: the consumer is made again from the cursor */
        natsMsgList_Destroy(&list);
        j->remake = 1;
        snprintf(j->error, sizeof(j->error), "journeys not applied: %s",
                 err);
        return -1;
    }

    j->applied_n += omni_sync_acked(items, acks, n,
                                    omni_sync_journey_passed_over, j);
    natsMsgList_Destroy(&list);

    return 0;
}


/*
 * After a fetch that found nothing, once a second: the journey consumer
 * still there and delivering to this node (omni_sync_stalled()); one
 * gone or stalled is set up again, made again from the cursor.
 */
static int
omni_sync_journey_check(omni_sync_journey_t *j, int64_t now)
{
    int              again;
    jsErrCode        jerr;
    natsStatus       ns;
    jsConsumerInfo  *ci;

    if (!omni_sync_stall_look(&j->stall, j->js, j->stream, j->durable, now,
                              &ci, &ns, &jerr))
    {
        return 0;
    }

    if (ns == NATS_NOT_FOUND || jerr == JSConsumerNotFoundErr
        || jerr == JSStreamNotFoundErr)
    {
        jsConsumerInfo_Destroy(ci);
        return omni_sync_journey_fail(j, "journey consumer gone", ns, jerr);
    }

    again = (ns == NATS_OK
             && omni_sync_stalled(&j->stall, ci, j->fetched_n, now));
    jsConsumerInfo_Destroy(ci);

    if (again) {
        omni_sync_journey_log(j, "consumer %s holds %" PRIu64 " messages "
                              "for this node and its fetches returned none "
                              "in %" PRId64 " ms: made again from the "
                              "cursor", j->durable, j->stall.held,
                              j->stall.lasted);
        j->remake = 1;
        j->ready = 0;
    }

    return 0;
}


int
omni_sync_stall_look(omni_sync_stall_t *st, jsCtx *js, const char *stream,
    const char *durable, int64_t now, jsConsumerInfo **ci, natsStatus *ns,
    jsErrCode *jerr)
{
    if (now - st->checked_at < 1000) {
        return 0;
    }

    st->checked_at = now;

    *ci = NULL;
    *jerr = 0;
    *ns = js_GetConsumerInfo(ci, js, stream, durable, NULL, jerr);

    return 1;
}


int
omni_sync_stalled(omni_sync_stall_t *st, const jsConsumerInfo *ci,
    uint64_t fetched, int64_t now)
{
    st->held = ci->NumPending + (uint64_t) ci->NumAckPending;

    if (st->held == 0 || fetched != st->fetched) {
        st->since = 0;
        st->fetched = fetched;
        return 0;
    }

    if (st->since == 0) {
        st->since = now;
        return 0;
    }

    if (now - st->since < OMNI_SYNC_STALL_MS) {
        return 0;
    }

    st->lasted = now - st->since;
    st->since = 0;
    st->n++;

    return 1;
}


int
omni_sync_consumer(omni_sync_consumer_t *c, natsSubscription **sub)
{
    jsConsumerInfo    *ci;
    jsConsumerConfig   cc;
    jsSubOptions       so;

    ci = NULL;
    c->jerr = 0;
    c->ns = js_GetConsumerInfo(&ci, c->js, c->stream, c->durable, NULL,
                               &c->jerr);

    if (c->ns == NATS_OK
        && (ci->AckFloor.Stream > c->applied || c->remake))
    {
        c->ack_floor = ci->AckFloor.Stream;
        jsConsumerInfo_Destroy(ci);
        ci = NULL;

        c->ns = js_DeleteConsumer(c->js, c->stream, c->durable, NULL,
                                  &c->jerr);
        if (c->ns != NATS_OK) {
            c->what = "consumer delete";
            return -1;
        }

        c->remade = 1;
        c->ns = NATS_NOT_FOUND;
    }

    if (c->ns == NATS_NOT_FOUND
        || (c->ns != NATS_OK && c->jerr == JSConsumerNotFoundErr))
    {
        jsConsumerConfig_Init(&cc);
        cc.Durable = c->durable;
        cc.AckPolicy = js_AckExplicit;
        cc.AckWait = (int64_t) 5 * 1000 * 1000 * 1000;
        cc.FilterSubject = c->filter;

        if (c->applied > 0) {
            cc.DeliverPolicy = js_DeliverByStartSequence;
            cc.OptStartSeq = c->applied + 1;

        } else {
            cc.DeliverPolicy = js_DeliverAll;
        }

        c->ns = js_AddConsumer(&ci, c->js, c->stream, &cc, NULL, &c->jerr);
    }

    if (c->ns != NATS_OK) {
        c->what = "consumer";
        return -1;
    }

    jsConsumerInfo_Destroy(ci);

    if (*sub != NULL) {
        natsSubscription_Destroy(*sub);
        *sub = NULL;
    }

    jsSubOptions_Init(&so);
    so.Stream = c->stream;
    so.Consumer = c->durable;
    so.ManualAck = true;

    c->ns = js_PullSubscribe(sub, c->js, c->filter, c->durable, NULL, &so,
                             &c->jerr);
    if (c->ns != NATS_OK) {
        *sub = NULL;
        c->what = "subscribe";
        return -1;
    }

    return 0;
}


void
omni_sync_journey_close(omni_sync_journey_t *j)
{
    if (j->sub != NULL) {
        natsSubscription_Destroy(j->sub);
        j->sub = NULL;
    }
}


natsStatus
omni_sync_stream(jsCtx *js, const char *name, const char *subject,
    int64_t max_msgs, int64_t max_per_subject, int64_t max_age,
    jsStreamInfo **si, jsErrCode *jerr)
{
    const char      *subjects[1];
    jsStreamConfig   sc;

    subjects[0] = subject;

    jsStreamConfig_Init(&sc);
    sc.Name = name;
    sc.Subjects = subjects;
    sc.SubjectsLen = 1;
    sc.Storage = js_FileStorage;
    sc.Duplicates = OMNI_SYNC_JOURNEY_DUPS;
    sc.MaxMsgs = max_msgs > 0 ? max_msgs : -1;
    sc.MaxMsgsPerSubject = max_per_subject > 0 ? max_per_subject : -1;
    sc.MaxAge = max_age * 1000 * 1000 * 1000;

    return omni_sync_stream_add(js, &sc, si, jerr);
}


/*
 * Another node's sync may be making the same stream at the same moment:
 * JetStream may then refuse ours as a subject overlap (with the stream
 * being made) rather than as a name in use.  Either way the stream of
 * that name, once it is there, is the one to use; a real overlap, with a
 * stream of another name, keeps its error.
 */
natsStatus
omni_sync_stream_add(jsCtx *js, jsStreamConfig *sc, jsStreamInfo **si,
    jsErrCode *jerr)
{
    jsErrCode   found_err;
    natsStatus  ns;

    *si = NULL;
    *jerr = 0;

    ns = js_AddStream(si, js, sc, NULL, jerr);

    if (ns == NATS_OK
        || (*jerr != JSStreamNameExistErr
            && *jerr != JSStreamSubjectOverlapErr))
    {
        return ns;
    }

    found_err = 0;

    if (js_GetStreamInfo(si, js, sc->Name, NULL, &found_err) == NATS_OK) {
        *jerr = 0;
        return NATS_OK;
    }

    *si = NULL;

    return ns;
}


size_t
omni_sync_batch(natsMsgList *list, omni_store_change_t *changes,
    omni_store_change_item_t *items, natsMsg **acks, size_t max,
    uint64_t *pending, omni_sync_passed_pt passed, void *data)
{
    int             i;
    char            err[OMNI_ERRLEN];
    size_t          n;
    uint64_t        seq;
    natsMsg        *m;
    jsMsgMetaData  *meta;

    n = 0;
    seq = 0;

    for (i = 0; i < list->Count && n < max; i++) {
        m = list->Msgs[i];
        meta = NULL;

        if (natsMsg_GetMetaData(&meta, m) != NATS_OK) {
            passed(data, 0, "a message without JetStream metadata");
            (void) natsMsg_Ack(m, NULL);
            continue;
        }

        /* a redelivery of an earlier message of the batch: acked alone */
        if (meta->Sequence.Stream <= seq) {
            (void) natsMsg_Ack(m, NULL);
            jsMsgMetaData_Destroy(meta);
            continue;
        }

        seq = meta->Sequence.Stream;
        *pending = meta->NumPending;
        jsMsgMetaData_Destroy(meta);

        items[n].stream_seq = seq;
        items[n].change = &changes[n];

        if (omni_store_change_decode((const unsigned char *)
                                     natsMsg_GetData(m),
                                     (size_t) natsMsg_GetDataLength(m),
                                     &changes[n], err)
            != OMNI_STORE_OK)
        {
            passed(data, seq, err);
            items[n].change = NULL;
        }

        acks[n++] = m;
    }

    return n;
}


uint64_t
omni_sync_acked(omni_store_change_item_t *items, natsMsg **acks, size_t n,
    omni_sync_passed_pt passed, void *data)
{
    size_t    i;
    uint64_t  applied;

    applied = 0;

    for (i = 0; i < n; i++) {
        if (items[i].rc != OMNI_STORE_OK) {
            passed(data, items[i].stream_seq, "the store refused it");
        }

        applied += (items[i].applied != 0);
        (void) natsMsg_Ack(acks[i], NULL);
    }

    return applied;
}


/* never the content: it names a customer */
static void
omni_sync_journey_passed_over(void *data, uint64_t seq, const char *why)
{
    omni_sync_journey_log(data, "journey message %" PRIu64 " passed over: "
                          "%s", seq, why);
}


static int
omni_sync_journey_fail(omni_sync_journey_t *j, const char *what,
    natsStatus ns, jsErrCode jerr)
{
    if (jerr) {
        snprintf(j->error, sizeof(j->error), "%s: %s, JetStream error %d",
                 what, natsStatus_GetText(ns), (int) jerr);

    } else {
        snprintf(j->error, sizeof(j->error), "%s: %s", what,
                 natsStatus_GetText(ns));
    }

    return -1;
}


static void
omni_sync_journey_log(omni_sync_journey_t *j, const char *fmt, ...)
{
    char     text[1024];
    va_list  ap;

    va_start(ap, fmt);
    vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);

    j->log(j->log_data, text);
}
