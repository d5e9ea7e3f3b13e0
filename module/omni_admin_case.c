/*
 * Copyright (C) The omni gateway authors
 *
 * The admin API's cases (omni_admin.c, docs/cases.md): open one, read it
 * with its events, list them by customer (open ones first) or status,
 * change a status, add a note, assign.  The actor (the token's subject)
 * is the author of every change.  Audit lines name the case, the
 * customer and what changed, never a subject or a note.
 */


#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "omni_admin_int.h"


static int omni_admin_case_id(omni_admin_ctx_t *ctx);
static void omni_admin_case_by(omni_admin_ctx_t *ctx,
    omni_store_case_by_t *by);
static int omni_admin_case_answer(omni_admin_ctx_t *ctx, unsigned status,
    const char *id);
static int omni_admin_case_list(omni_admin_ctx_t *ctx, const char *customer,
    int status);
static json_t *omni_admin_case_json(const omni_store_case_t *c,
    const omni_store_case_event_t *ev, size_t nev);
static json_t *omni_admin_time_or_null(int64_t t);


int
omni_admin_customer_cases(omni_admin_ctx_t *ctx)
{
    int  status;

    if (omni_admin_check_id(ctx, "customer id", ctx->seg[1],
                            OMNI_STORE_ID_MAX)
        != OMNI_ADMIN_GO)
    {
        return OMNI_ADMIN_STOP;
    }

    status = -1;

    if (ctx->given & OMNI_ADMIN_Q_STATUS) {
        if (strcmp(ctx->status, "open") != 0) {
            return omni_admin_fail(ctx, 400, "invalid_argument",
                                   "status: only \"open\" here (or none: "
                                   "all cases, open ones first)");
        }

        status = OMNI_STORE_CASE_OPEN;
    }

    return omni_admin_case_list(ctx, ctx->seg[1], status);
}


int
omni_admin_cases_get(omni_admin_ctx_t *ctx)
{
    int  status;

    status = (ctx->given & OMNI_ADMIN_Q_STATUS)
             ? omni_store_case_status_parse(ctx->status, strlen(ctx->status))
             : -1;

    if (status < 0) {
        return omni_admin_fail(ctx, 400, "invalid_argument",
                               "status must be one of new, open, pending, "
                               "on_hold, resolved, closed");
    }

    return omni_admin_case_list(ctx, NULL, status);
}


/* a page of cases: of customer (status -1: all, else open only), or of
 * one status */
static int
omni_admin_case_list(omni_admin_ctx_t *ctx, const char *customer,
    int status)
{
    int                 rc, failed;
    size_t              i, n;
    json_t             *answer, *cases;
    const char         *after;
    omni_store_id_t    *ids;
    omni_store_case_t  *c;

    after = (ctx->given & OMNI_ADMIN_Q_AFTER) ? ctx->after : NULL;

    if (after != NULL && !omni_store_case_id_valid(after, strlen(after))) {
        return omni_admin_fail(ctx, 400, "invalid_argument",
                               "after is not a case id");
    }

    ids = malloc((ctx->limit + 1) * sizeof(omni_store_id_t));
    c = malloc(sizeof(omni_store_case_t));

    if (ids == NULL || c == NULL) {
        free(ids);
        free(c);
        ctx->nomem = 1;
        return OMNI_ADMIN_STOP;
    }

    if (omni_admin_snapshot(ctx) != OMNI_ADMIN_GO) {
        free(ids);
        free(c);
        return OMNI_ADMIN_STOP;
    }

    if (customer != NULL) {
        rc = omni_store_cases_by_customer(ctx->st, customer, after,
                                          status >= 0, ids, ctx->limit + 1,
                                          &n, ctx->err);

    } else {
        rc = omni_store_cases_by_status(ctx->st, status, after, ids,
                                        ctx->limit + 1, &n, ctx->err);
    }

    failed = 0;
    cases = json_array();

    for (i = 0; rc == OMNI_STORE_OK && i < n && i < ctx->limit; i++) {
        rc = omni_store_case_get(ctx->st, ids[i].id, c, ctx->err);

        if (rc == OMNI_STORE_OK) {
            omni_admin_append(cases, omni_admin_case_json(c, NULL, 0),
                              &failed);
        }
    }

    omni_store_read_end(ctx->st);

    if (rc != OMNI_STORE_OK) {
        json_decref(cases);
        free(ids);
        free(c);
        return omni_admin_store_fail(ctx, rc, 0);
    }

    answer = json_object();
    omni_admin_set(answer, "cases", cases, &failed);
    omni_admin_set(answer, "next",
                   n > ctx->limit
                   ? omni_admin_str(ids[ctx->limit - 1].id) : json_null(),
                   &failed);

    free(ids);
    free(c);

    return omni_admin_reply(ctx, 200, answer, failed);
}


int
omni_admin_case_post(omni_admin_ctx_t *ctx)
{
    int                    rc;
    const char            *customer, *subject, *category, *priority;
    const char            *channel, *assignee, *pool;
    omni_store_case_t      c;
    omni_store_case_by_t   by;

    static const char *const  keys[] = {
        "customer", "subject", "category", "priority", "channel",
        "assignee", "pool", NULL
    };

    if (omni_admin_body_keys(ctx, keys) != OMNI_ADMIN_GO
        || omni_admin_body_string(ctx, "customer", 1, &customer)
           != OMNI_ADMIN_GO
        || omni_admin_body_string(ctx, "subject", 1, &subject)
           != OMNI_ADMIN_GO
        || omni_admin_body_string(ctx, "category", 1, &category)
           != OMNI_ADMIN_GO
        || omni_admin_body_string(ctx, "priority", 0, &priority)
           != OMNI_ADMIN_GO
        || omni_admin_body_string(ctx, "channel", 0, &channel)
           != OMNI_ADMIN_GO
        || omni_admin_body_string(ctx, "assignee", 0, &assignee)
           != OMNI_ADMIN_GO
        || omni_admin_body_string(ctx, "pool", 0, &pool) != OMNI_ADMIN_GO
        || omni_admin_check_id(ctx, "customer", customer, OMNI_STORE_ID_MAX)
           != OMNI_ADMIN_GO
        || omni_admin_check_id(ctx, "category", category,
                               OMNI_STORE_CASE_NAME_MAX)
           != OMNI_ADMIN_GO
        || (channel != NULL
            && omni_admin_check_id(ctx, "channel", channel,
                                   OMNI_STORE_CHANNEL_MAX)
               != OMNI_ADMIN_GO)
        || (assignee != NULL
            && omni_admin_check_text(ctx, "assignee", assignee,
                                     OMNI_STORE_CASE_AUTHOR_MAX)
               != OMNI_ADMIN_GO)
        || (pool != NULL
            && omni_admin_check_id(ctx, "pool", pool,
                                   OMNI_STORE_CASE_NAME_MAX)
               != OMNI_ADMIN_GO))
    {
        return OMNI_ADMIN_STOP;
    }

    if (!omni_store_case_text_valid(subject, json_string_length(
                                        json_object_get(ctx->body,
                                                        "subject")),
                                    OMNI_STORE_CASE_SUBJECT_MAX, 0))
    {
        return omni_admin_fail(ctx, 400, "invalid_argument",
                               "subject must be 1 to %d bytes without control "
                               "characters", OMNI_STORE_CASE_SUBJECT_MAX);
    }

    memset(&c, 0, sizeof(c));

    c.priority = (priority != NULL)
                 ? omni_store_case_priority_parse(priority, strlen(priority))
                 : OMNI_STORE_CASE_NORMAL;

    if (c.priority < 0) {
        return omni_admin_fail(ctx, 400, "invalid_argument",
                               "priority must be one of low, normal, high, "
                               "urgent");
    }

    memcpy(c.customer, customer, strlen(customer) + 1);
    memcpy(c.subject, subject, strlen(subject) + 1);
    memcpy(c.category, category, strlen(category) + 1);

    if (assignee != NULL) {
        memcpy(c.assignee, assignee, strlen(assignee) + 1);
    }

    if (pool != NULL) {
        memcpy(c.pool, pool, strlen(pool) + 1);
    }

    omni_case_sla_due(ctx->req->sla, c.category, c.priority, ctx->req->now,
                      &c.first_response_due, &c.resolution_due);

    omni_admin_case_by(ctx, &by);

    if (channel != NULL) {
        by.channel = channel;
    }

    rc = omni_store_case_create(ctx->st, &c, &by, ctx->err);
    if (rc != OMNI_STORE_OK) {
        return omni_admin_store_fail(ctx, rc, 0);
    }

    omni_admin_audit(ctx, "open case %s (%s, %s) for %s", c.id, c.category,
                     omni_store_case_priority_name(c.priority), c.customer);

    return omni_admin_case_answer(ctx, 201, c.id);
}


int
omni_admin_case_get(omni_admin_ctx_t *ctx)
{
    if (omni_admin_case_id(ctx) != OMNI_ADMIN_GO) {
        return OMNI_ADMIN_STOP;
    }

    return omni_admin_case_answer(ctx, 200, ctx->seg[1]);
}


int
omni_admin_case_status(omni_admin_ctx_t *ctx)
{
    int                    rc, status;
    const char            *s;
    omni_store_case_t      c;
    omni_store_case_by_t   by;

    static const char *const  keys[] = { "status", NULL };

    if (omni_admin_case_id(ctx) != OMNI_ADMIN_GO
        || omni_admin_body_keys(ctx, keys) != OMNI_ADMIN_GO
        || omni_admin_body_string(ctx, "status", 1, &s) != OMNI_ADMIN_GO)
    {
        return OMNI_ADMIN_STOP;
    }

    status = omni_store_case_status_parse(s, strlen(s));
    if (status < 0) {
        return omni_admin_fail(ctx, 400, "invalid_argument",
                               "status must be one of new, open, pending, "
                               "on_hold, resolved, closed");
    }

    omni_admin_case_by(ctx, &by);

    rc = omni_store_case_set_status(ctx->st, ctx->seg[1], status, &by, &c,
                                    ctx->err);
    if (rc == OMNI_STORE_CONFLICT) {
        return omni_admin_fail(ctx, 409, "conflict", "%s", ctx->err);
    }

    if (rc != OMNI_STORE_OK) {
        return omni_admin_store_fail(ctx, rc, 0);
    }

    /* counted once per resolution: a case opened again may breach again */
    if (status == OMNI_STORE_CASE_RESOLVED && c.resolution_due != 0
        && c.resolved_at > c.resolution_due)
    {
        ctx->res->sla_breach |= OMNI_ADMIN_BREACH_RESOLUTION;
    }

    omni_admin_audit(ctx, "case %s to %s", ctx->seg[1],
                     omni_store_case_status_name(status));

    return omni_admin_case_answer(ctx, 200, ctx->seg[1]);
}


int
omni_admin_case_note(omni_admin_ctx_t *ctx)
{
    int                    rc, kind, watch;
    const char            *text, *k;
    omni_store_case_t      due;
    omni_store_case_by_t   by;
    char                   follow_up[OMNI_STORE_CASE_ID_LEN + 1];

    static const char *const  keys[] = { "text", "kind", NULL };

    if (omni_admin_case_id(ctx) != OMNI_ADMIN_GO
        || omni_admin_body_keys(ctx, keys) != OMNI_ADMIN_GO
        || omni_admin_body_string(ctx, "text", 1, &text) != OMNI_ADMIN_GO
        || omni_admin_body_string(ctx, "kind", 0, &k) != OMNI_ADMIN_GO)
    {
        return OMNI_ADMIN_STOP;
    }

    kind = OMNI_STORE_CASE_EV_NOTE;

    if (k != NULL) {
        if (strcmp(k, "internal") == 0) {
            kind = OMNI_STORE_CASE_EV_INTERNAL;

        } else if (strcmp(k, "reply") == 0) {
            kind = OMNI_STORE_CASE_EV_REPLY;

        } else if (strcmp(k, "note") != 0) {
            return omni_admin_fail(ctx, 400, "invalid_argument",
                                   "kind must be note, internal or reply");
        }
    }

    /* jansson strings may hold a NUL: the length is the string's own */
    if (!omni_store_case_text_valid(text, json_string_length(
                                        json_object_get(ctx->body, "text")),
                                    OMNI_STORE_CASE_TEXT_MAX, 1))
    {
        return omni_admin_fail(ctx, 400, "invalid_argument",
                               "text must be 1 to %d bytes without control "
                               "characters but tabs and newlines",
                               OMNI_STORE_CASE_TEXT_MAX);
    }

    omni_admin_case_by(ctx, &by);

    /* a reply to a closed case opens a follow-up: it takes the due times
     * of a case of its category and priority opened now */
    memset(&due, 0, sizeof(due));

    rc = omni_store_case_get(ctx->st, ctx->seg[1], &due, ctx->err);

    /* a first response may come now, and be late */
    watch = (rc == OMNI_STORE_OK && kind == OMNI_STORE_CASE_EV_NOTE
             && due.first_response_at == 0 && due.first_response_due != 0);

    if (rc == OMNI_STORE_OK) {
        omni_case_sla_due(ctx->req->sla, due.category, due.priority,
                          ctx->req->now, &due.first_response_due,
                          &due.resolution_due);

        rc = omni_store_case_note(ctx->st, ctx->seg[1], kind, text,
                                  strlen(text), &by, &due, follow_up,
                                  ctx->err);
    }

    if (rc == OMNI_STORE_CONFLICT) {
        return omni_admin_fail(ctx, 409, "conflict", "%s", ctx->err);
    }

    if (rc != OMNI_STORE_OK) {
        return omni_admin_store_fail(ctx, rc, 0);
    }

    /* the note that was the first response, given late */
    if (watch && follow_up[0] == '\0'
        && omni_store_case_get(ctx->st, ctx->seg[1], &due, ctx->err)
           == OMNI_STORE_OK
        && due.first_response_at > due.first_response_due)
    {
        ctx->res->sla_breach |= OMNI_ADMIN_BREACH_FIRST_RESPONSE;
    }

    if (follow_up[0] != '\0') {
        omni_admin_audit(ctx, "reply to closed case %s opens case %s",
                         ctx->seg[1], follow_up);
        return omni_admin_case_answer(ctx, 201, follow_up);
    }

    omni_admin_audit(ctx, "add a%s %s to case %s",
                     kind == OMNI_STORE_CASE_EV_INTERNAL ? "n" : "",
                     omni_store_case_event_name(kind), ctx->seg[1]);

    return omni_admin_case_answer(ctx, 200, ctx->seg[1]);
}


int
omni_admin_case_assign(omni_admin_ctx_t *ctx)
{
    int                    rc;
    const char            *assignee, *pool;
    omni_store_case_by_t   by;

    static const char *const  keys[] = { "assignee", "pool", NULL };

    if (omni_admin_case_id(ctx) != OMNI_ADMIN_GO
        || omni_admin_body_keys(ctx, keys) != OMNI_ADMIN_GO
        || omni_admin_body_string(ctx, "assignee", 0, &assignee)
           != OMNI_ADMIN_GO
        || omni_admin_body_string(ctx, "pool", 0, &pool) != OMNI_ADMIN_GO
        || (assignee != NULL && assignee[0] != '\0'
            && omni_admin_check_text(ctx, "assignee", assignee,
                                     OMNI_STORE_CASE_AUTHOR_MAX)
               != OMNI_ADMIN_GO)
        || (pool != NULL && pool[0] != '\0'
            && omni_admin_check_id(ctx, "pool", pool,
                                   OMNI_STORE_CASE_NAME_MAX)
               != OMNI_ADMIN_GO))
    {
        return OMNI_ADMIN_STOP;
    }

    if (assignee == NULL && pool == NULL) {
        return omni_admin_fail(ctx, 400, "invalid_argument",
                               "give \"assignee\", \"pool\" or both (\"\" "
                               "clears one)");
    }

    omni_admin_case_by(ctx, &by);

    rc = omni_store_case_assign(ctx->st, ctx->seg[1],
                                assignee != NULL ? assignee : "",
                                pool != NULL ? pool : "", &by, ctx->err);
    if (rc == OMNI_STORE_CONFLICT) {
        return omni_admin_fail(ctx, 409, "conflict", "%s", ctx->err);
    }

    if (rc != OMNI_STORE_OK) {
        return omni_admin_store_fail(ctx, rc, 0);
    }

    omni_admin_audit(ctx, "assign case %s", ctx->seg[1]);

    return omni_admin_case_answer(ctx, 200, ctx->seg[1]);
}


/* the path's case id: a mistyped one is a 400, never another case */
static int
omni_admin_case_id(omni_admin_ctx_t *ctx)
{
    if (!omni_store_case_id_valid(ctx->seg[1], strlen(ctx->seg[1]))) {
        return omni_admin_fail(ctx, 400, "invalid_argument",
                               "not a case id: %d digits, the last a check "
                               "digit", OMNI_STORE_CASE_ID_LEN);
    }

    return OMNI_ADMIN_GO;
}


static void
omni_admin_case_by(omni_admin_ctx_t *ctx, omni_store_case_by_t *by)
{
    memset(by, 0, sizeof(omni_store_case_by_t));

    by->author = (ctx->req->actor != NULL) ? ctx->req->actor : "-";
    by->channel = "admin";
    by->now = ctx->req->now;
}


/* the case with every event */
static int
omni_admin_case_answer(omni_admin_ctx_t *ctx, unsigned status, const char *id)
{
    int                       rc;
    size_t                    n;
    omni_store_case_t        *c;
    omni_store_case_event_t  *ev;
    json_t                   *answer;

    c = malloc(sizeof(omni_store_case_t));
    ev = calloc(OMNI_STORE_CASE_EVENTS, sizeof(omni_store_case_event_t));

    if (c == NULL || ev == NULL) {
        free(c);
        free(ev);
        ctx->nomem = 1;
        return OMNI_ADMIN_STOP;
    }

    if (omni_admin_snapshot(ctx) != OMNI_ADMIN_GO) {
        free(c);
        free(ev);
        return OMNI_ADMIN_STOP;
    }

    n = 0;
    rc = omni_store_case_get(ctx->st, id, c, ctx->err);

    if (rc == OMNI_STORE_OK) {
        rc = omni_store_case_events(ctx->st, id, 0, 0, ev,
                                    OMNI_STORE_CASE_EVENTS, &n, ctx->err);
    }

    omni_store_read_end(ctx->st);

    if (rc != OMNI_STORE_OK) {
        free(c);
        free(ev);
        return omni_admin_store_fail(ctx, rc, 0);
    }

    answer = omni_admin_case_json(c, ev, n);

    free(c);
    free(ev);

    return omni_admin_reply(ctx, status, answer, 0);
}


/* NULL when memory ran out; events only when ev is given */
static json_t *
omni_admin_case_json(const omni_store_case_t *c,
    const omni_store_case_event_t *ev, size_t nev)
{
    int       failed;
    size_t    i;
    json_t   *o, *touches, *events, *t;

    failed = 0;
    touches = json_array();

    for (i = 0; i < c->ntouches && i < OMNI_STORE_CASE_TOUCHES; i++) {
        t = json_object();
        omni_admin_set(t, "time", omni_admin_time(c->touches[i].time, 0),
                       &failed);
        omni_admin_set(t, "channel", omni_admin_str(c->touches[i].channel),
                       &failed);
        omni_admin_set(t, "identity_type",
                       omni_admin_str_or_null(c->touches[i].identity_type),
                       &failed);
        omni_admin_set(t, "session",
                       omni_admin_str_or_null(c->touches[i].session),
                       &failed);
        omni_admin_append(touches, t, &failed);
    }

    o = json_object();
    omni_admin_set(o, "id", omni_admin_str(c->id), &failed);
    omni_admin_set(o, "customer", omni_admin_str(c->customer), &failed);
    omni_admin_set(o, "subject", omni_admin_str(c->subject), &failed);
    omni_admin_set(o, "category", omni_admin_str(c->category), &failed);
    omni_admin_set(o, "priority",
                   json_string(omni_store_case_priority_name(c->priority)),
                   &failed);
    omni_admin_set(o, "status",
                   json_string(omni_store_case_status_name(c->status)),
                   &failed);
    omni_admin_set(o, "channel", omni_admin_str(c->channel), &failed);
    omni_admin_set(o, "assignee", omni_admin_str_or_null(c->assignee),
                   &failed);
    omni_admin_set(o, "pool", omni_admin_str_or_null(c->pool), &failed);
    omni_admin_set(o, "follow_up_of", omni_admin_str_or_null(c->follow_up_of),
                   &failed);
    omni_admin_set(o, "created_at", omni_admin_time(c->created, 0), &failed);
    omni_admin_set(o, "updated_at", omni_admin_time(c->updated, 0), &failed);
    omni_admin_set(o, "first_response_due",
                   omni_admin_time_or_null(c->first_response_due), &failed);
    omni_admin_set(o, "resolution_due",
                   omni_admin_time_or_null(c->resolution_due), &failed);
    omni_admin_set(o, "first_response_at",
                   omni_admin_time_or_null(c->first_response_at), &failed);
    omni_admin_set(o, "resolved_at", omni_admin_time_or_null(c->resolved_at),
                   &failed);
    omni_admin_set(o, "closed_at", omni_admin_time_or_null(c->closed_at),
                   &failed);
    omni_admin_set(o, "touches", touches, &failed);
    omni_admin_set(o, "touches_total", json_integer(c->touches_total),
                   &failed);

    if (ev != NULL) {
        events = json_array();

        for (i = 0; i < nev; i++) {
            t = json_object();
            omni_admin_set(t, "seq", json_integer(ev[i].seq), &failed);
            omni_admin_set(t, "time", omni_admin_time(ev[i].time, 0),
                           &failed);
            omni_admin_set(t, "kind",
                           json_string(omni_store_case_event_name(
                                           ev[i].kind)),
                           &failed);
            omni_admin_set(t, "author", omni_admin_str(ev[i].author),
                           &failed);
            omni_admin_set(t, "channel", omni_admin_str(ev[i].channel),
                           &failed);

            if (ev[i].kind == OMNI_STORE_CASE_EV_STATUS) {
                omni_admin_set(t, "from",
                               json_string(omni_store_case_status_name(
                                               ev[i].from)),
                               &failed);
                omni_admin_set(t, "to",
                               json_string(omni_store_case_status_name(
                                               ev[i].to)),
                               &failed);
            }

            if (ev[i].text_len > 0) {
                omni_admin_set(t, "text", omni_admin_str(ev[i].text),
                               &failed);
            }

            omni_admin_append(events, t, &failed);
        }

        omni_admin_set(o, "events", events, &failed);
    }

    if (failed) {
        json_decref(o);
        return NULL;
    }

    return o;
}


static json_t *
omni_admin_time_or_null(int64_t t)
{
    return (t > 0) ? omni_admin_time(t, 0) : json_null();
}
