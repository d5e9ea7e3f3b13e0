/*
 * Copyright (C) The omni gateway authors
 *
 * The admin API's customers and identities (omni_admin.c): a customer
 * with its identities and sessions, the pages of each and of its
 * journey, merges; an identity resolved, linked and unlinked.
 */


#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "omni_admin_int.h"


static const char *const  omni_admin_merge_keys[] = { "into", NULL };
static const char *const  omni_admin_link_keys[] = { "customer", NULL };


static int omni_admin_identity_answer(omni_admin_ctx_t *ctx,
    const char *customer);

static json_t *omni_admin_identities_json(const omni_store_identity_t *ids,
    size_t n);
static int omni_admin_after_identity(omni_admin_ctx_t *ctx,
    omni_store_identity_t *after);
static int omni_admin_cursor(const char *s, omni_store_cursor_t *cur);
static json_t *omni_admin_journey_dispatch(const omni_store_journey_t *ev);


/*
 * A customer exists only through its records, so one is unknown (404)
 * unless it was merged into another or holds an identity, a session or
 * a journey event.  The lists are its own records: after a merge its
 * identities are the survivor's (ask for that one), its sessions stay.
 */
int
omni_admin_customer_get(omni_admin_ctx_t *ctx)
{
    int                     rc, failed;
    char                    survivor[OMNI_STORE_ID_MAX + 1];
    char                    next[OMNI_ADMIN_QUERY_MAX + 1];
    size_t                  i, ni, ns, nj;
    json_t                 *answer, *ids_json, *sessions;
    const char             *id;
    omni_store_id_t        *sids;
    omni_store_journey_t    ev;
    omni_store_identity_t  *ids;

    id = ctx->seg[1];
    ni = 0;
    ns = 0;
    nj = 0;

    ids = malloc((ctx->limit + 1) * sizeof(omni_store_identity_t));
    sids = malloc((ctx->limit + 1) * sizeof(omni_store_id_t));

    if (ids == NULL || sids == NULL) {
        free(ids);
        free(sids);
        ctx->nomem = 1;
        return OMNI_ADMIN_STOP;
    }

    if (omni_admin_snapshot(ctx) != OMNI_ADMIN_GO) {
        free(ids);
        free(sids);
        return OMNI_ADMIN_STOP;
    }

    rc = omni_store_customer_resolve(ctx->st, id, survivor, ctx->err);

    if (rc == OMNI_STORE_OK) {
        rc = omni_store_identities_by_customer(ctx->st, id, NULL, ids,
                                               ctx->limit + 1, &ni,
                                               ctx->err);
    }

    if (rc == OMNI_STORE_OK) {
        rc = omni_store_sessions_by_customer(ctx->st, id, NULL, sids,
                                             ctx->limit + 1, &ns, ctx->err);
    }

    if (rc == OMNI_STORE_OK) {
        rc = omni_store_journey_read(ctx->st, id, NULL, &ev, 1, &nj,
                                     ctx->err);
    }

    omni_store_read_end(ctx->st);

    if (rc != OMNI_STORE_OK) {
        free(ids);
        free(sids);
        return omni_admin_store_fail(ctx, rc, 0);
    }

    if (strcmp(survivor, id) == 0 && ni == 0 && ns == 0 && nj == 0) {
        free(ids);
        free(sids);
        return omni_admin_fail(ctx, 404, "not_found",
                               "customer %s is unknown", id);
    }

    failed = 0;

    ids_json = omni_admin_identities_json(ids,
                                          ni > ctx->limit ? ctx->limit : ni);
    sessions = json_array();

    for (i = 0; i < ns && i < ctx->limit; i++) {
        omni_admin_append(sessions, omni_admin_str(sids[i].id), &failed);
    }

    answer = json_object();
    omni_admin_set(answer, "id", omni_admin_str(id), &failed);
    omni_admin_set(answer, "survivor", omni_admin_str(survivor), &failed);
    omni_admin_set(answer, "identities", ids_json, &failed);

    if (ni > ctx->limit) {
        snprintf(next, sizeof(next), "%s:%s", ids[ctx->limit - 1].type,
                 ids[ctx->limit - 1].value);
        omni_admin_set(answer, "identities_next", omni_admin_str(next),
                       &failed);

    } else {
        omni_admin_set(answer, "identities_next", json_null(), &failed);
    }

    omni_admin_set(answer, "sessions", sessions, &failed);
    omni_admin_set(answer, "sessions_next",
                   ns > ctx->limit
                   ? omni_admin_str(sids[ctx->limit - 1].id) : json_null(),
                   &failed);

    free(ids);
    free(sids);

    return omni_admin_reply(ctx, 200, answer, failed);
}


/* sessions of the customer id itself (not of those merged into it) */
int
omni_admin_customer_sessions(omni_admin_ctx_t *ctx)
{
    int                    rc, failed;
    size_t                 i, n;
    json_t                *answer, *sessions;
    omni_store_id_t       *sids;
    omni_store_session_t   s;

    sids = malloc((ctx->limit + 1) * sizeof(omni_store_id_t));
    if (sids == NULL) {
        ctx->nomem = 1;
        return OMNI_ADMIN_STOP;
    }

    if (omni_admin_snapshot(ctx) != OMNI_ADMIN_GO) {
        free(sids);
        return OMNI_ADMIN_STOP;
    }

    failed = 0;
    sessions = json_array();

    rc = omni_store_sessions_by_customer(ctx->st, ctx->seg[1],
                                         (ctx->given & OMNI_ADMIN_Q_AFTER)
                                         ? ctx->after : NULL,
                                         sids, ctx->limit + 1, &n, ctx->err);

    for (i = 0; rc == OMNI_STORE_OK && i < n && i < ctx->limit; i++) {
        rc = omni_store_session_get(ctx->st, sids[i].id, &s, ctx->err);

        /* an index entry without its session: nothing to show */
        if (rc == OMNI_STORE_NOT_FOUND) {
            rc = OMNI_STORE_OK;
            continue;
        }

        if (rc == OMNI_STORE_OK) {
            omni_admin_append(sessions, omni_admin_session_json(&s),
                              &failed);
        }
    }

    omni_store_read_end(ctx->st);

    if (rc != OMNI_STORE_OK) {
        json_decref(sessions);
        free(sids);
        return omni_admin_store_fail(ctx, rc, 0);
    }

    answer = json_object();
    omni_admin_set(answer, "sessions", sessions, &failed);
    omni_admin_set(answer, "next",
                   n > ctx->limit
                   ? omni_admin_str(sids[ctx->limit - 1].id) : json_null(),
                   &failed);

    free(sids);

    return omni_admin_reply(ctx, 200, answer, failed);
}


int
omni_admin_customer_identities(omni_admin_ctx_t *ctx)
{
    int                     rc, failed;
    char                    next[OMNI_ADMIN_QUERY_MAX + 1];
    size_t                  n;
    json_t                 *answer;
    omni_store_identity_t   after, *ids;

    if ((ctx->given & OMNI_ADMIN_Q_AFTER)
        && omni_admin_after_identity(ctx, &after) != OMNI_ADMIN_GO)
    {
        return OMNI_ADMIN_STOP;
    }

    ids = malloc((ctx->limit + 1) * sizeof(omni_store_identity_t));
    if (ids == NULL) {
        ctx->nomem = 1;
        return OMNI_ADMIN_STOP;
    }

    rc = omni_store_identities_by_customer(ctx->st, ctx->seg[1],
                                           (ctx->given & OMNI_ADMIN_Q_AFTER)
                                           ? &after : NULL,
                                           ids, ctx->limit + 1, &n,
                                           ctx->err);
    if (rc != OMNI_STORE_OK) {
        free(ids);
        return omni_admin_store_fail(ctx, rc, 0);
    }

    failed = 0;
    answer = json_object();
    omni_admin_set(answer, "identities",
                   omni_admin_identities_json(ids,
                                              n > ctx->limit ? ctx->limit : n),
                   &failed);

    if (n > ctx->limit) {
        snprintf(next, sizeof(next), "%s:%s", ids[ctx->limit - 1].type,
                 ids[ctx->limit - 1].value);
        omni_admin_set(answer, "next", omni_admin_str(next), &failed);

    } else {
        omni_admin_set(answer, "next", json_null(), &failed);
    }

    free(ids);

    return omni_admin_reply(ctx, 200, answer, failed);
}


int
omni_admin_customer_journey(omni_admin_ctx_t *ctx)
{
    int                    rc, failed;
    char                   next[48];
    size_t                 i, n;
    json_t                *answer, *events, *ev;
    omni_store_cursor_t    before;
    omni_store_journey_t  *evs;

    if ((ctx->given & OMNI_ADMIN_Q_BEFORE)
        && omni_admin_cursor(ctx->before, &before) != 0)
    {
        return omni_admin_fail(ctx, 400, "invalid_argument",
                               "query parameter \"before\" must be "
                               "TIME_MS.SEQ, the \"next\" of a page");
    }

    evs = malloc((ctx->limit + 1) * sizeof(omni_store_journey_t));
    if (evs == NULL) {
        ctx->nomem = 1;
        return OMNI_ADMIN_STOP;
    }

    rc = omni_store_journey_read(ctx->st, ctx->seg[1],
                                 (ctx->given & OMNI_ADMIN_Q_BEFORE)
                                 ? &before : NULL,
                                 evs, ctx->limit + 1, &n, ctx->err);
    if (rc != OMNI_STORE_OK) {
        free(evs);
        return omni_admin_store_fail(ctx, rc, 0);
    }

    failed = 0;
    events = json_array();

    for (i = 0; i < n && i < ctx->limit; i++) {
        ev = json_object();
        omni_admin_set(ev, "time", omni_admin_time(evs[i].time_ms, 1),
                       &failed);
        omni_admin_set(ev, "channel", omni_admin_str(evs[i].channel),
                       &failed);
        omni_admin_set(ev, "action", omni_admin_str(evs[i].action), &failed);
        omni_admin_set(ev, "outcome", omni_admin_str(evs[i].outcome),
                       &failed);
        omni_admin_set(ev, "session", omni_admin_str_or_null(evs[i].session),
                       &failed);
        omni_admin_set(ev, "dispatch", omni_admin_journey_dispatch(&evs[i]),
                       &failed);
        omni_admin_set(ev, "intent", omni_admin_str_or_null(evs[i].intent),
                       &failed);
        omni_admin_append(events, ev, &failed);
    }

    answer = json_object();
    omni_admin_set(answer, "events", events, &failed);

    if (n > ctx->limit) {
        snprintf(next, sizeof(next), "%" PRId64 ".%" PRIu32,
                 evs[ctx->limit - 1].time_ms, evs[ctx->limit - 1].seq);
        omni_admin_set(answer, "next", omni_admin_str(next), &failed);

    } else {
        omni_admin_set(answer, "next", json_null(), &failed);
    }

    free(evs);

    return omni_admin_reply(ctx, 200, answer, failed);
}


/*
 * Ids are checked here, so that what the store refuses afterwards is a
 * refusal of the merge itself: 409, not 400.
 */
int
omni_admin_customer_merge(omni_admin_ctx_t *ctx)
{
    int          rc, failed;
    char         survivor[OMNI_STORE_ID_MAX + 1];
    json_t      *answer;
    const char  *from, *into;

    from = ctx->seg[1];

    if (omni_admin_body_keys(ctx, omni_admin_merge_keys) != OMNI_ADMIN_GO
        || omni_admin_body_string(ctx, "into", 1, &into) != OMNI_ADMIN_GO
        || omni_admin_check_id(ctx, "customer id", from, OMNI_STORE_ID_MAX)
           != OMNI_ADMIN_GO
        || omni_admin_check_id(ctx, "\"into\"", into, OMNI_STORE_ID_MAX)
           != OMNI_ADMIN_GO)
    {
        return OMNI_ADMIN_STOP;
    }

    if (strcmp(from, into) == 0) {
        return omni_admin_fail(ctx, 409, "conflict",
                               "cannot merge customer %s into itself", from);
    }

    rc = omni_store_customer_merge(ctx->st, from, into, ctx->req->now,
                                   ctx->err);
    if (rc != OMNI_STORE_OK) {
        return omni_admin_store_fail(ctx, rc, 1);
    }

    /* what from resolves to now; into itself if that read fails */
    if (omni_store_customer_resolve(ctx->st, from, survivor, ctx->err)
        != OMNI_STORE_OK)
    {
        memcpy(survivor, into, strlen(into) + 1);
    }

    omni_admin_audit(ctx, "merge customer %s into %s", from, survivor);

    failed = 0;
    answer = json_object();
    omni_admin_set(answer, "merged", omni_admin_str(from), &failed);
    omni_admin_set(answer, "into", omni_admin_str(survivor), &failed);

    return omni_admin_reply(ctx, 200, answer, failed);
}


/*
 * Crypto-erasure: asked for in so many words, since nothing brings the
 * customer back.  The audit line names the customer, never a value.
 */
int
omni_admin_customer_erase(omni_admin_ctx_t *ctx)
{
    int          rc, failed;
    size_t       records;
    json_t      *answer;
    const char  *id;

    id = ctx->seg[1];

    if (!(ctx->given & OMNI_ADMIN_Q_ERASE) || strcmp(ctx->erase, "true") != 0)
    {
        return omni_admin_fail(ctx, 400, "invalid_argument",
                               "DELETE /customers/ID erases the customer "
                               "for good: it needs erase=true");
    }

    if (omni_admin_check_id(ctx, "customer id", id, OMNI_STORE_ID_MAX)
        != OMNI_ADMIN_GO)
    {
        return OMNI_ADMIN_STOP;
    }

    rc = omni_store_customer_erase(ctx->st, id, ctx->req->now, &records,
                                   ctx->err);
    if (rc != OMNI_STORE_OK) {
        return omni_admin_store_fail(ctx, rc, 1);
    }

    omni_admin_audit(ctx, "erase customer %s (%zu records)", id, records);

    failed = 0;
    answer = json_object();
    omni_admin_set(answer, "customer", omni_admin_str(id), &failed);
    omni_admin_set(answer, "erased", json_true(), &failed);
    omni_admin_set(answer, "records", json_integer((json_int_t) records),
                   &failed);

    return omni_admin_reply(ctx, 200, answer, failed);
}


static int
omni_admin_identity_answer(omni_admin_ctx_t *ctx, const char *customer)
{
    int      failed;
    json_t  *answer;

    failed = 0;
    answer = json_object();
    omni_admin_set(answer, "type", omni_admin_str(ctx->seg[1]), &failed);
    omni_admin_set(answer, "value", omni_admin_str(ctx->seg[2]), &failed);
    omni_admin_set(answer, "customer", omni_admin_str(customer), &failed);

    return omni_admin_reply(ctx, 200, answer, failed);
}


int
omni_admin_identity_get(omni_admin_ctx_t *ctx)
{
    int   rc;
    char  customer[OMNI_STORE_ID_MAX + 1];

    rc = omni_store_identity_resolve(ctx->st, ctx->seg[1], ctx->seg[2],
                                     customer, ctx->err);
    if (rc != OMNI_STORE_OK) {
        return omni_admin_store_fail(ctx, rc, 0);
    }

    return omni_admin_identity_answer(ctx, customer);
}


/* as for merges, what the store refuses on valid names is a 409 */
int
omni_admin_identity_put(omni_admin_ctx_t *ctx)
{
    int          rc;
    char         linked[OMNI_STORE_ID_MAX + 1];
    const char  *customer;

    if (omni_admin_body_keys(ctx, omni_admin_link_keys) != OMNI_ADMIN_GO
        || omni_admin_body_string(ctx, "customer", 1, &customer)
           != OMNI_ADMIN_GO
        || omni_admin_check_id(ctx, "identity type", ctx->seg[1],
                               OMNI_STORE_TYPE_MAX) != OMNI_ADMIN_GO
        || omni_admin_check_text(ctx, "identity value", ctx->seg[2],
                                 OMNI_STORE_VALUE_MAX) != OMNI_ADMIN_GO
        || omni_admin_check_id(ctx, "\"customer\"", customer,
                               OMNI_STORE_ID_MAX) != OMNI_ADMIN_GO)
    {
        return OMNI_ADMIN_STOP;
    }

    /* a value a sealed store cannot index is the caller's to fix: 400 */
    rc = omni_store_identity_check(ctx->st, ctx->seg[1], ctx->seg[2],
                                   ctx->err);
    if (rc != OMNI_STORE_OK) {
        return omni_admin_store_fail(ctx, rc, 0);
    }

    rc = omni_store_identity_link(ctx->st, ctx->seg[1], ctx->seg[2],
                                  customer, ctx->err);
    if (rc != OMNI_STORE_OK) {
        return omni_admin_store_fail(ctx, rc, 1);
    }

    /* linked to the survivor when customer was merged */
    if (omni_store_identity_resolve(ctx->st, ctx->seg[1], ctx->seg[2], linked,
                                    ctx->err)
        != OMNI_STORE_OK)
    {
        memcpy(linked, customer, strlen(customer) + 1);
    }

    /* the value is a customer's phone, e-mail...: never in a log line */
    omni_admin_audit(ctx, "link a %s identity to %s", ctx->seg[1], linked);

    return omni_admin_identity_answer(ctx, linked);
}


int
omni_admin_identity_delete(omni_admin_ctx_t *ctx)
{
    int      rc, failed;
    json_t  *answer;

    rc = omni_store_identity_unlink(ctx->st, ctx->seg[1], ctx->seg[2],
                                    ctx->err);
    if (rc != OMNI_STORE_OK) {
        return omni_admin_store_fail(ctx, rc, 0);
    }

    omni_admin_audit(ctx, "unlink a %s identity", ctx->seg[1]);

    failed = 0;
    answer = json_object();
    omni_admin_set(answer, "type", omni_admin_str(ctx->seg[1]), &failed);
    omni_admin_set(answer, "value", omni_admin_str(ctx->seg[2]), &failed);
    omni_admin_set(answer, "unlinked", json_true(), &failed);

    return omni_admin_reply(ctx, 200, answer, failed);
}


/* answers */

static json_t *
omni_admin_identities_json(const omni_store_identity_t *ids, size_t n)
{
    int      failed;
    size_t   i;
    json_t  *arr, *o;

    failed = 0;
    arr = json_array();

    for (i = 0; i < n; i++) {
        o = json_object();
        omni_admin_set(o, "type", omni_admin_str(ids[i].type), &failed);
        omni_admin_set(o, "value", omni_admin_str(ids[i].value), &failed);
        omni_admin_append(arr, o, &failed);
    }

    if (failed) {
        json_decref(arr);
        return NULL;
    }

    return arr;
}


/* a journey event's {"pool", "rule"}, or null: not dispatched */
static json_t *
omni_admin_journey_dispatch(const omni_store_journey_t *ev)
{
    int      failed;
    json_t  *o;

    if (ev->pool[0] == '\0') {
        return json_null();
    }

    failed = 0;
    o = json_object();
    omni_admin_set(o, "pool", omni_admin_str(ev->pool), &failed);
    omni_admin_set(o, "rule", omni_admin_str(ev->rule), &failed);

    if (failed) {
        json_decref(o);
        return NULL;
    }

    return o;
}


/* request values */

/* "TYPE:VALUE", split at the first colon: types hold none */
static int
omni_admin_after_identity(omni_admin_ctx_t *ctx,
    omni_store_identity_t *after)
{
    size_t       tlen, vlen;
    const char  *colon;

    colon = strchr(ctx->after, ':');

    tlen = (colon != NULL) ? (size_t) (colon - ctx->after) : 0;
    vlen = (colon != NULL) ? strlen(colon + 1) : 0;

    if (tlen == 0 || tlen > OMNI_STORE_TYPE_MAX || vlen == 0
        || vlen > OMNI_STORE_VALUE_MAX)
    {
        return omni_admin_fail(ctx, 400, "invalid_argument",
                               "query parameter \"after\" must be "
                               "TYPE:VALUE, the \"next\" of a page");
    }

    memcpy(after->type, ctx->after, tlen);
    after->type[tlen] = '\0';
    memcpy(after->value, colon + 1, vlen + 1);

    return OMNI_ADMIN_GO;
}


/*
 * "TIME_MS.SEQ" as written in "next": decimal digits without sign or
 * leading zeros, time within int64_t, seq within uint32_t.
 */
static int
omni_admin_cursor(const char *s, omni_store_cursor_t *cur)
{
    size_t       nd;
    uint64_t     t, q;
    const char  *p, *start;

    t = 0;
    p = s;

    for (nd = 0; *p >= '0' && *p <= '9'; p++, nd++) {
        if (nd == 19) {
            return -1;
        }

        t = t * 10 + (uint64_t) (*p - '0');
    }

    if (nd == 0 || (nd > 1 && s[0] == '0') || t > (uint64_t) INT64_MAX
        || *p != '.')
    {
        return -1;
    }

    q = 0;
    start = ++p;

    for (nd = 0; *p >= '0' && *p <= '9'; p++, nd++) {
        if (nd == 10) {
            return -1;
        }

        q = q * 10 + (uint64_t) (*p - '0');
    }

    if (nd == 0 || (nd > 1 && start[0] == '0') || q > UINT32_MAX
        || *p != '\0')
    {
        return -1;
    }

    cur->time_ms = (int64_t) t;
    cur->seq = (uint32_t) q;

    return 0;
}
