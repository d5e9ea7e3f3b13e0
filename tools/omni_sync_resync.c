/*
 * Copyright (C) The omni gateway authors
 *
 * omni-sync's full resync on the consuming side (docs/cluster.md): a
 * node whose consumer is behind the stream's first message records in
 * its store that it wants one (a restart asks again), asks on the core
 * subject omni.resync.<node>, and applies what every other node answers
 * on omni.resync-data.<node>.<request>.<answerer> in a stream of its own
 * that trims by age only (<stream>_RESYNC, an hour), up to each one's
 * end marker (an empty message); it clears its record once every node
 * it knows an origin of answered, or after --resync-wait seconds.
 * The answering side: every node answers a request from its loop with
 * its full state (omni_sync_state_send()).
 */


#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "omni_sync.h"


#define OMNI_SYNC_RESYNC_AGE  ((int64_t) 3600 * 1000 * 1000 * 1000)  /* ns */
#define OMNI_SYNC_RESYNC_FETCH_MS  5
#define OMNI_SYNC_REQUEST_MAX      20      /* digits of a request */


static void omni_sync_resync_answer(omni_sync_t *s, natsMsg *m);
static void omni_sync_resync_ask(omni_sync_t *s, uint64_t request);
static void omni_sync_resync_origins(omni_sync_t *s);
static int omni_sync_resync_node(omni_sync_t *s, const char *node,
    size_t len);
static int omni_sync_resync_apply(omni_sync_t *s);
static void omni_sync_resync_end(omni_sync_t *s, int64_t now);


/*
 * The stream the answers go through, and the subscription to the other
 * nodes' requests: a synchronous one, read by the loop, so that no
 * client thread touches the store or the loop's state.  A request this
 * store recorded and no run asked yet (a restart) is asked again.
 */
int
omni_sync_resync_setup(omni_sync_t *s)
{
    int                          rc;
    char                         err[OMNI_ERRLEN];
    const char                  *subjects[1];
    uint64_t                     request;
    jsErrCode                    jerr;
    natsStatus                   ns;
    jsStreamInfo                *si;
    jsStreamConfig               sc;
    omni_store_changes_state_t   state;

    subjects[0] = OMNI_SYNC_RESYNC_DATA ".>";

    jsStreamConfig_Init(&sc);
    sc.Name = s->resync_stream;
    sc.Subjects = subjects;
    sc.SubjectsLen = 1;
    sc.Storage = js_FileStorage;
    sc.MaxAge = OMNI_SYNC_RESYNC_AGE;
    sc.MaxMsgs = -1;

    ns = omni_sync_stream_add(s->js, &sc, &si, &jerr);

    if (ns != NATS_OK) {
        omni_sync_failed(s, "resync stream", ns, jerr, 1);
        return -1;
    }

    jsStreamInfo_Destroy(si);

    if (s->asks == NULL) {
        ns = natsConnection_SubscribeSync(&s->asks, s->nc,
                                          OMNI_SYNC_RESYNC_ASK ".*");

        /* requests are small and few: a flood is dropped, not kept */
        if (ns == NATS_OK) {
            ns = natsSubscription_SetPendingLimits(s->asks, 64, 64 * 1024);
        }

        if (ns != NATS_OK) {
            natsSubscription_Destroy(s->asks);
            s->asks = NULL;
            omni_sync_failed(s, "resync subscribe", ns, 0, 1);
            return -1;
        }
    }

    if (s->resync.request != 0 || s->resync.want) {
        return 0;
    }

    rc = omni_store_changes_state(s->st, &state, err);

    if (rc == OMNI_STORE_OK && state.resync_since != 0) {
        rc = omni_store_changes_resync(s->st,
                                       (int64_t) time(NULL) * 1000,
                                       &request, err);
        if (rc == OMNI_STORE_OK) {
            omni_sync_log(s, "a full resync wanted since %" PRId64 " ms "
                          "was not finished: asking again",
                          state.resync_since);
            s->resync.want = 1;
            s->resync.since = state.resync_since;
            s->resync.request = request;
        }
    }

    if (rc != OMNI_STORE_OK) {
        omni_sync_log(s, "%s", err);
    }

    return 0;
}


/*
 * The stream no longer holds messages from to to, which this node never
 * applied: recorded in the store before the consumer moves past them,
 * asked by the loop's next round.
 */
void
omni_sync_resync_want(omni_sync_t *s, uint64_t from, uint64_t to)
{
    int                          rc;
    char                         err[OMNI_ERRLEN];
    uint64_t                     request;
    omni_store_changes_state_t   state;

    rc = omni_store_changes_resync(s->st, (int64_t) time(NULL) * 1000,
                                   &request, err);

    if (rc == OMNI_STORE_OK) {
        rc = omni_store_changes_state(s->st, &state, err);
    }

    if (rc != OMNI_STORE_OK) {
        omni_sync_log(s, "the stream no longer holds messages %" PRIu64
                      " to %" PRIu64 " and a full resync cannot be "
                      "recorded: %s", from, to, err);
        return;
    }

    omni_sync_log(s, "the stream no longer holds messages %" PRIu64 " to %"
                  PRIu64 ": asking the other nodes for a full resync "
                  "(request %" PRIu64 ")", from, to, request);

    s->resync.want = 1;
    s->resync.since = state.resync_since;
    s->resync.request = request;
}


/* a round: requests answered, one asked, answers applied */
int
omni_sync_resync(omni_sync_t *s)
{
    int                  i;
    int64_t              now;
    natsMsg             *m;
    natsStatus           ns;
    omni_sync_resync_t  *rs;

    rs = &s->resync;

    for (i = 0; s->asks != NULL && i < OMNI_SYNC_RESYNC_ASKS; i++) {
        m = NULL;
        ns = natsSubscription_NextMsg(&m, s->asks, 1);

        if (ns != NATS_OK) {
            break;
        }

        omni_sync_resync_answer(s, m);
        natsMsg_Destroy(m);

        if (!s->ready) {
            return -1;
        }
    }

    if (rs->want) {
        omni_sync_resync_ask(s, rs->request);
        return s->ready ? 0 : -1;
    }

    if (rs->answers == NULL) {
        return 0;
    }

    if (omni_sync_resync_apply(s) != 0) {
        return -1;
    }

    now = omni_sync_now_ms();

    if (rs->answers != NULL && now - rs->asked_at > s->resync_wait * 1000)
    {
        omni_sync_resync_end(s, now);
    }

    return 0;
}


/* another node's request: its subject names it, its body the number */
static void
omni_sync_resync_answer(omni_sync_t *s, natsMsg *m)
{
    int            len;
    char           subject[sizeof(OMNI_SYNC_RESYNC_DATA) + 3 * 24
                           + 2 * OMNI_STORE_ID_MAX];
    char           idprefix[2 * OMNI_STORE_ID_MAX + 48];
    char           number[OMNI_SYNC_REQUEST_MAX + 1];
    char          *end;
    const char    *asker, *data;
    uint64_t       request, revocations, customers, sessions;
    jsErrCode      jerr;
    natsStatus     ns;
    jsPubAck      *pa;
    jsPubOptions   po;

    asker = natsMsg_GetSubject(m) + sizeof(OMNI_SYNC_RESYNC_ASK);
    data = natsMsg_GetData(m);
    len = natsMsg_GetDataLength(m);

    if (!omni_store_id_valid(asker, strnlen(asker, OMNI_STORE_ID_MAX + 1),
                             OMNI_STORE_ID_MAX)
        || len < 1 || len > OMNI_SYNC_REQUEST_MAX)
    {
        omni_sync_log(s, "a resync request that is not one: passed over");
        return;
    }

    if (strcmp(asker, s->node) == 0) {
        return;
    }

    memcpy(number, data, (size_t) len);
    number[len] = '\0';

    request = strtoull(number, &end, 10);

    if (*end != '\0' || number[0] < '0' || number[0] > '9' || request == 0)
    {
        omni_sync_log(s, "a resync request from %s without a number: "
                      "passed over", asker);
        return;
    }

    snprintf(subject, sizeof(subject), "%s.%s.%" PRIu64 ".%s",
             OMNI_SYNC_RESYNC_DATA, asker, request, s->node);
    snprintf(idprefix, sizeof(idprefix), "%s:resync-%s-%" PRIu64, s->node,
             asker, request);

    if (omni_sync_state_send(s, subject, idprefix, 1, &revocations,
                             &customers, &sessions)
        != 0)
    {
        return;
    }

    /* the end marker: empty, which no change is */
    strcat(idprefix, ":end");

    jsPubOptions_Init(&po);
    po.MsgId = idprefix;
    po.MaxWait = 2000;

    pa = NULL;
    jerr = 0;
    ns = js_Publish(&pa, s->js, subject, NULL, 0, &po, &jerr);

    if (pa != NULL) {
        jsPubAck_Destroy(pa);
    }

    if (ns != NATS_OK) {
        omni_sync_failed(s, "resync answer", ns, jerr, 1);
        return;
    }

    omni_sync_log(s, "full resync asked by %s (request %" PRIu64 "): %"
                  PRIu64 " revocations, %" PRIu64 " merges and identity "
                  "links, %" PRIu64 " sessions sent", asker, request,
                  revocations, customers, sessions);
}


/*
 * The consumer of the request's answers comes first, so that none is
 * missed; then the nodes the stream knows, then the request itself.
 */
static void
omni_sync_resync_ask(omni_sync_t *s, uint64_t request)
{
    char                 body[OMNI_SYNC_REQUEST_MAX + 1];
    char                 filter[sizeof(OMNI_SYNC_RESYNC_DATA) + 32
                                + OMNI_STORE_ID_MAX];
    char                 subject[sizeof(OMNI_SYNC_RESYNC_ASK) + 1
                                 + OMNI_STORE_ID_MAX];
    jsErrCode            jerr;
    natsStatus           ns;
    jsSubOptions         so;
    omni_sync_resync_t  *rs;

    rs = &s->resync;

    if (rs->answers != NULL) {
        natsSubscription_Destroy(rs->answers);
        rs->answers = NULL;
    }

    rs->nodes = 0;
    rs->received = 0;
    rs->applied = 0;

    snprintf(filter, sizeof(filter), "%s.%s.%" PRIu64 ".*",
             OMNI_SYNC_RESYNC_DATA, s->node, request);

    jsSubOptions_Init(&so);
    so.Stream = s->resync_stream;
    so.Config.DeliverPolicy = js_DeliverAll;
    so.Config.AckPolicy = js_AckNone;
    so.ManualAck = true;

    jerr = 0;
    ns = js_PullSubscribe(&rs->answers, s->js, filter, NULL, NULL, &so,
                          &jerr);
    if (ns != NATS_OK) {
        rs->answers = NULL;
        omni_sync_failed(s, "resync consumer", ns, jerr, 1);
        return;
    }

    omni_sync_resync_origins(s);

    snprintf(subject, sizeof(subject), "%s.%s", OMNI_SYNC_RESYNC_ASK,
             s->node);
    snprintf(body, sizeof(body), "%" PRIu64, request);

    ns = natsConnection_PublishString(s->nc, subject, body);
    if (ns != NATS_OK) {
        omni_sync_failed(s, "resync request", ns, 0, 1);
        return;
    }

    rs->want = 0;
    rs->asked_at = omni_sync_now_ms();

    omni_sync_log(s, "full resync request %" PRIu64 " sent: %zu other "
                  "nodes known", request, rs->nodes);
}


/* the other nodes the stream holds changes of */
static void
omni_sync_resync_origins(omni_sync_t *s)
{
    int                    i;
    const char            *node;
    jsErrCode              jerr;
    jsOptions              o;
    natsStatus             ns;
    jsStreamInfo          *si;
    jsStreamStateSubject  *subj;

    jsOptions_Init(&o);
    o.Stream.Info.SubjectsFilter = OMNI_SYNC_SUBJECT ".>";

    si = NULL;
    jerr = 0;
    ns = js_GetStreamInfo(&si, s->js, s->stream, &o, &jerr);
    if (ns != NATS_OK) {
        return;
    }

    for (i = 0; si->State.Subjects != NULL && i < si->State.Subjects->Count;
         i++)
    {
        subj = &si->State.Subjects->List[i];

        if (strncmp(subj->Subject, OMNI_SYNC_SUBJECT ".",
                    sizeof(OMNI_SYNC_SUBJECT)) != 0)
        {
            continue;
        }

        node = subj->Subject + sizeof(OMNI_SYNC_SUBJECT);

        (void) omni_sync_resync_node(s, node, strlen(node));
    }

    jsStreamInfo_Destroy(si);
}


/* the node's slot in the request's list, -1 for none (self, bad, full) */
static int
omni_sync_resync_node(omni_sync_t *s, const char *node, size_t len)
{
    size_t               i;
    omni_sync_resync_t  *rs;

    rs = &s->resync;

    if (!omni_store_id_valid(node, len, OMNI_STORE_ID_MAX)
        || (len == strlen(s->node) && memcmp(node, s->node, len) == 0))
    {
        return -1;
    }

    for (i = 0; i < rs->nodes; i++) {
        if (strlen(rs->node[i]) == len && memcmp(rs->node[i], node, len) == 0)
        {
            return (int) i;
        }
    }

    if (rs->nodes == OMNI_SYNC_RESYNC_NODES) {
        return -1;
    }

    memcpy(rs->node[i], node, len);
    rs->node[i][len] = '\0';
    rs->answered[i] = 0;
    rs->nodes++;

    return (int) i;
}


/*
 * A batch of answers applied in one write transaction, by the rules of
 * the stream's changes (a union, idempotent merges): a repetition
 * changes nothing.  A policy is passed over: policies follow the
 * stream's order, which a node's current policy out of it would break.
 */
static int
omni_sync_resync_apply(omni_sync_t *s)
{
    int                               i, slot, done;
    char                              err[OMNI_ERRLEN];
    size_t                            n, j;
    jsErrCode                         jerr;
    natsMsg                          *m;
    natsStatus                        ns;
    const char                       *from;
    natsMsgList                       list;
    omni_sync_resync_t               *rs;
    static omni_store_change_t        changes[OMNI_SYNC_BATCH];
    static omni_store_change_item_t   items[OMNI_SYNC_BATCH];

    rs = &s->resync;

    jerr = 0;
    memset(&list, 0, sizeof(natsMsgList));

    ns = natsSubscription_Fetch(&list, rs->answers, OMNI_SYNC_BATCH,
                                OMNI_SYNC_RESYNC_FETCH_MS, &jerr);
    if (ns == NATS_TIMEOUT) {
        return 0;
    }

    if (ns != NATS_OK) {
        natsMsgList_Destroy(&list);

        /* the request's consumer is gone (NATS restarted): asked again */
        rs->want = 1;
        omni_sync_failed(s, "resync fetch", ns, jerr, 1);
        return -1;
    }

    n = 0;
    done = 0;

    for (i = 0; i < list.Count && n < OMNI_SYNC_BATCH; i++) {
        m = list.Msgs[i];
        from = strrchr(natsMsg_GetSubject(m), '.') + 1;

        if (natsMsg_GetDataLength(m) == 0) {
            slot = omni_sync_resync_node(s, from, strlen(from));
            if (slot >= 0) {
                rs->answered[slot] = 1;
            }

            continue;
        }

        rs->received++;
        items[n].stream_seq = 0;
        items[n].change = &changes[n];

        if (omni_store_change_decode((const unsigned char *)
                                     natsMsg_GetData(m),
                                     (size_t) natsMsg_GetDataLength(m),
                                     &changes[n], err)
            != OMNI_STORE_OK)
        {
            /* never the content: it may name a token */
            omni_sync_log(s, "a resync message from %s passed over: %s",
                          from, err);
            items[n].change = NULL;

        } else if (changes[n].family == OMNI_STORE_FAMILY_POLICY) {
            items[n].change = NULL;
        }

        n++;
    }

    natsMsgList_Destroy(&list);

    if (omni_store_changes_apply_resync(s->st, items, n, err)
        != OMNI_STORE_OK)
    {
        omni_sync_log(s, "%zu resync messages not applied: %s", n, err);
        rs->want = 1;
        omni_sync_failed(s, "resync apply", NATS_ERR, 0, 0);
        return -1;
    }

    for (j = 0; j < n; j++) {
        rs->applied += (items[j].applied != 0);

        if (items[j].applied
            && items[j].change->family == OMNI_STORE_FAMILY_ERASURE)
        {
            omni_sync_audit(s, &items[j]);
        }
    }

    for (j = 0; j < rs->nodes; j++) {
        done += rs->answered[j];
    }

    if (done > 0 && (size_t) done == rs->nodes) {
        omni_sync_resync_end(s, omni_sync_now_ms());

    } else if (n > 0 && omni_sync_now_ms() - rs->logged_at >= 1000) {
        rs->logged_at = omni_sync_now_ms();
        omni_sync_log(s, "full resync request %" PRIu64 ": %d of %zu nodes "
                      "answered, %" PRIu64 " changes received, %" PRIu64
                      " applied", rs->request, done, rs->nodes,
                      rs->received, rs->applied);
    }

    return 0;
}


/* every node answered, or the wait is over: the record is cleared */
static void
omni_sync_resync_end(omni_sync_t *s, int64_t now)
{
    int                  done;
    char                 err[OMNI_ERRLEN];
    char                 silent[128];
    size_t               i, len;
    omni_sync_resync_t  *rs;

    rs = &s->resync;
    done = 0;
    len = 0;
    silent[0] = '\0';

    for (i = 0; i < rs->nodes; i++) {
        if (rs->answered[i]) {
            done++;

        } else if (len + strlen(rs->node[i]) + 2 < sizeof(silent)) {
            len += (size_t) snprintf(silent + len, sizeof(silent) - len,
                                     "%s%s", len ? " " : "", rs->node[i]);
        }
    }

    snprintf(rs->outcome, sizeof(rs->outcome), "request %" PRIu64 ": %d "
             "of %zu nodes answered in %" PRId64 " ms, %" PRIu64 " changes "
             "received, %" PRIu64 " applied%s%s", rs->request, done,
             rs->nodes, now - rs->asked_at, rs->received, rs->applied,
             silent[0] ? "; no answer from " : "", silent);

    omni_sync_log(s, "full resync done: %s", rs->outcome);

    if (omni_store_changes_resync_done(s->st, rs->request, err)
        != OMNI_STORE_OK)
    {
        omni_sync_log(s, "%s", err);
    }

    natsSubscription_Destroy(rs->answers);
    rs->answers = NULL;
    rs->request = 0;
    rs->since = 0;
}


/* the state file's "resync" member (omni_sync_write_status()) */
void
omni_sync_resync_status(omni_sync_t *s, FILE *f)
{
    int                  done;
    size_t               i;
    omni_sync_resync_t  *rs;

    rs = &s->resync;
    done = 0;

    for (i = 0; i < rs->nodes; i++) {
        done += rs->answered[i];
    }

    fprintf(f, ",\"resync\":{\"under_way\":%s,\"request\":%" PRIu64 ","
            "\"wanted_since_ms\":%" PRId64 ",\"nodes\":%zu,\"answered\":%d,"
            "\"received\":%" PRIu64 ",\"applied\":%" PRIu64 ","
            "\"last\":\"%s\"}",
            rs->request ? "true" : "false", rs->request, rs->since,
            rs->request ? rs->nodes : 0, rs->request ? done : 0,
            rs->received, rs->applied, rs->outcome);
}


void
omni_sync_resync_close(omni_sync_t *s)
{
    if (s->resync.answers != NULL) {
        natsSubscription_Destroy(s->resync.answers);
    }

    if (s->asks != NULL) {
        natsSubscription_Destroy(s->asks);
    }
}
