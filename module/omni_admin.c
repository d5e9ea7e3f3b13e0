/*
 * Copyright (C) The omni gateway authors
 *
 * The admin API over the public store API.  A request goes through the
 * same steps whatever its route: path (split, then percent-decoded per
 * segment, so %2F is a slash inside a value), route, method, query, body,
 * then one handler that talks to the store and builds the answer.
 *
 * The router, the request and answer helpers, the audit line and GET
 * /stats are here; each resource's handlers are in a room of their own,
 * sharing omni_admin_int.h: omni_admin_session.c (/sessions),
 * omni_admin_customer.c (/customers and /identities: sessions,
 * identities, journeys, merges, links), omni_admin_revocation.c
 * (/revocations), omni_admin_policy.c (/policy: revisions, rollback,
 * diff) and omni_admin_dispatch.c (/workflow: revisions, rollback), both
 * over omni_admin_revision.c.
 *
 * Status codes and error codes:
 *   400 invalid_path        bad percent escape, control byte, empty segment,
 *                           a segment over 255 bytes or not UTF-8
 *   400 invalid_argument    bad query parameter or body member, a value
 *                           the store refuses
 *   400 bad_json            the body is empty, not JSON or not an object
 *   404 unknown_route       no route has this path
 *   404 not_found           the store has no such record (a merge of or
 *                           into a customer without any)
 *   405 method_not_allowed  with res->allow; HEAD included
 *   409 conflict            a merge or link the store refuses on valid
 *                           input: into itself, merged already, a loop,
 *                           too many identities or merged customers
 *   413 body_too_large      more than OMNI_ADMIN_BODY_MAX bytes (PUT
 *                           /policy: OMNI_STORE_POLICY_MAX)
 *   422 policy_invalid      a policy omni_policy_compile() refuses: the
 *                           answer adds "errors", every error it found,
 *                           and "message" counts them ("3 errors");
 *                           workflow_invalid the same for a workflow
 *                           omni_dispatch_compile() refuses
 *   500 store_error         I/O, LMDB or a record this build cannot read
 *   503 store_full          the map reached its maximum
 *
 * Answers (times are RFC 3339 UTC; every list comes with "next", the
 * cursor for the following page or null on the last one):
 *
 *   GET    /stats          {"entries": {"meta": n, "sessions": n,
 *                          "identities": n, "customers": n,
 *                          "revocations": n, "journeys": n, "expiry": n},
 *                          "map_used": n, "map_size": n, "map_max": n,
 *                          "last_txn": n}
 *   GET    /sessions/ID    SESSION: {"id", "customer" (null while
 *                          anonymous), "created_at", "last_seen_at",
 *                          "channels": [...], "context": {...} ({} when
 *                          empty, null when unreadable)}
 *   DELETE /sessions/ID    {"session": ID, "revoked": true}
 *   GET    /customers/ID   {"id", "survivor", "identities": [IDENTITY],
 *                          "identities_next", "sessions": [session id],
 *                          "sessions_next"}
 *   GET    .../sessions    {"sessions": [SESSION], "next": session id}
 *   GET    .../identities  {"identities": [IDENTITY], "next": "TYPE:VALUE"}
 *                          IDENTITY: {"type", "value"}
 *   GET    .../journey     {"events": [{"time" (with milliseconds),
 *                          "channel", "action", "outcome", "session" (null
 *                          when none)}], "next": "TIME_MS.SEQ"}, newest
 *                          first
 *   POST   .../merge       {"merged": ID, "into": survivor}
 *   DELETE /customers/ID?erase=true
 *                          {"customer": ID, "erased": true, "records": n}:
 *                          crypto-erasure, for good (the customers merged
 *                          into ID too); 409 for a customer merged into
 *                          another, 404 for one unknown or erased already
 *   GET|PUT /identities/T/V     {"type", "value", "customer": survivor}
 *   DELETE /identities/T/V      {"type", "value", "unlinked": true}
 *   GET    /revocations?kind=K  {"revocations": [REVOCATION], "next": V}
 *   GET    /revocations         {"jti": {"revocations", "next"},
 *                               "session": {...}, "subject": {...}}
 *                               REVOCATION: {"kind", "value", "time"}
 *   POST   /revocations         201 REVOCATION
 *   DELETE /revocations/K/V     {"kind", "value", "removed": true}
 *   GET    /policy              REVISION: {"revision", "time", "author",
 *                               "note", "policy": the policy's JSON};
 *                               404 when the store has none
 *   GET    /policy/revisions/N  REVISION
 *   PUT    /policy              201 {"revision": N}
 *   POST   /policy/rollback     201 {"revision": N}
 *   GET    /policy/revisions    {"revisions": [{"revision", "time",
 *                               "author", "note", "size" (bytes)}],
 *                               "next": N}, newest first
 *   GET    /policy/diff         {"from": A, "to": B, then the members of
 *                               omni_policy_diff(): "roles", "rules",
 *                               "anonymous_role" when it changed}
 *   GET    /workflow            as /policy, "workflow" the dispatch
 *   GET    /workflow/revisions  workflow's JSON (omni_dispatch.h); 422
 *   GET    /workflow/revisions/N    workflow_invalid for one that does
 *   PUT    /workflow                not compile
 *   POST   /workflow/rollback
 *   GET    /workflow/diff       {"from", "to", then omni_dispatch_diff()'s
 *                               "pools", "rules", "rate_limits",
 *                               "settings"}
 *   GET    /capacity            as /policy, "capacity" the capacities
 *   GET    /capacity/revisions  set live (omni_dispatch_live.h)
 *   POST   /capacity            {"pool", "channel", "capacity": N or
 *                               "workflow"}: 201 {"revision", "capacity"}
 *
 * A revocation's "time" is the jti's expires_at (null: kept until
 * removed), the session's revocation time, or the subject's "before".
 * The customer lists answer [] for a customer they do not know; only
 * GET /customers/ID says 404.
 *
 * Requests: "limit" is 1 to OMNI_ADMIN_LIMIT_MAX (OMNI_ADMIN_LIMIT by
 * default), "after" and "before" are the "next" of the previous page,
 * "kind" is jti, session or subject; a route refuses the parameters it
 * does not take.  Bodies: POST /customers/ID/merge {"into": ID}, PUT
 * /identities/T/V {"customer": ID}, POST /revocations {"kind", "value",
 * "expires_at" (jti only; 0 or absent: kept until removed), "before"
 * (subject only; default now)}; times in requests are integers, seconds
 * since the epoch.
 *
 * Policies: PUT /policy takes the policy itself as the body (validated by
 * omni_policy_compile(), stored byte for byte) and an optional "note"
 * (up to 255 bytes, spaces allowed) in the query; the author is the
 * request's actor ("-" when none).  POST /policy/rollback {"revision": N}
 * compiles N's policy again and writes it as a new revision, note
 * "rollback to N".  Revision numbers ("before", "from", "to", N) are
 * integers from 1 to 4294967295; "before" is the "next" of the previous
 * page, "to" defaults to the current revision.
 *
 * Audit lines, for changes only: "revoke session ID" (DELETE /sessions
 * and POST /revocations alike), "merge customer A into SURVIVOR", "link
 * a T identity to SURVIVOR", "unlink a T identity", "erase customer ID
 * (N records)", "revoke jti V [until
 * TIME]", "revoke subject S before TIME", "remove revocation of KIND V",
 * "policy revision N (put)", "policy revision M (rollback to N)", the
 * same with "workflow".  When
 * memory runs out after a change was made, the audit line is kept
 * although the body is not.
 *
 * The store accepts any bytes above space in identity values; answers
 * are JSON, so a byte that is not UTF-8 reads as U+FFFD there.  Input
 * that is not UTF-8 is refused, so the admin API never writes one.
 */


#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "omni_admin_int.h"
#include "omni_str.h"


#define OMNI_ADMIN_NAME_MAX     16       /* of a query parameter */
#define OMNI_ADMIN_AUDIT_MAX    1024
#define OMNI_ADMIN_TIME_MAX     INT64_C(253402300799)  /* 9999-12-31 */
#define OMNI_ADMIN_DUMP         (JSON_COMPACT | JSON_PRESERVE_ORDER)

/* results of percent-decoding */
#define OMNI_ADMIN_DEC_OK       0
#define OMNI_ADMIN_DEC_ESCAPE   1
#define OMNI_ADMIN_DEC_CONTROL  2
#define OMNI_ADMIN_DEC_LONG     3
#define OMNI_ADMIN_DEC_UTF8     4


typedef int (*omni_admin_handler_pt)(omni_admin_ctx_t *ctx);


typedef struct {
    const char             *name;
    omni_admin_handler_pt   handler;
    unsigned                query;      /* OMNI_ADMIN_Q_* accepted */
    size_t                  body_max;   /* 0: OMNI_ADMIN_BODY_MAX */
} omni_admin_method_t;


typedef struct {
    const char             *name;
    size_t                  nseg;
    const char             *seg[OMNI_ADMIN_SEGMENTS];  /* NULL: any */
    const char             *allow;
    omni_admin_method_t     methods[3];
} omni_admin_route_t;


typedef struct {
    const char             *name;
    unsigned                bit;
    char                   *value;      /* NULL: limit, parsed apart */
} omni_admin_param_t;


static int omni_admin_path(omni_admin_ctx_t *ctx);
static const omni_admin_route_t *omni_admin_match(omni_admin_ctx_t *ctx);
static int omni_admin_query(omni_admin_ctx_t *ctx, unsigned accepted);
static int omni_admin_param(omni_admin_ctx_t *ctx, unsigned accepted,
    const char *p, size_t len);
static int omni_admin_limit(omni_admin_ctx_t *ctx, const char *s);
static int omni_admin_body(omni_admin_ctx_t *ctx, size_t max);
static int omni_admin_decode(const char *s, size_t len, char *out,
    size_t max);

static int omni_admin_stats(omni_admin_ctx_t *ctx);

static size_t omni_admin_utf8(const unsigned char *p, size_t n);


static const omni_admin_route_t  omni_admin_routes[] = {

    { "/stats", 1, { "stats" }, "GET",
      { { "GET", omni_admin_stats, 0, 0 } } },

    { "/sessions/{id}", 2, { "sessions", NULL }, "GET, DELETE",
      { { "GET", omni_admin_session_get, 0, 0 },
        { "DELETE", omni_admin_session_revoke, 0, 0 } } },

    { "/customers/{id}", 2, { "customers", NULL }, "GET, DELETE",
      { { "GET", omni_admin_customer_get, OMNI_ADMIN_Q_LIMIT, 0 },
        { "DELETE", omni_admin_customer_erase, OMNI_ADMIN_Q_ERASE, 0 } } },

    { "/customers/{id}/sessions", 3, { "customers", NULL, "sessions" },
      "GET",
      { { "GET", omni_admin_customer_sessions,
          OMNI_ADMIN_Q_LIMIT | OMNI_ADMIN_Q_AFTER, 0 } } },

    { "/customers/{id}/identities", 3, { "customers", NULL, "identities" },
      "GET",
      { { "GET", omni_admin_customer_identities,
          OMNI_ADMIN_Q_LIMIT | OMNI_ADMIN_Q_AFTER, 0 } } },

    { "/customers/{id}/journey", 3, { "customers", NULL, "journey" }, "GET",
      { { "GET", omni_admin_customer_journey,
          OMNI_ADMIN_Q_LIMIT | OMNI_ADMIN_Q_BEFORE, 0 } } },

    { "/customers/{id}/merge", 3, { "customers", NULL, "merge" }, "POST",
      { { "POST", omni_admin_customer_merge, 0, 0 } } },

    { "/identities/{type}/{value}", 3, { "identities", NULL, NULL },
      "GET, PUT, DELETE",
      { { "GET", omni_admin_identity_get, 0, 0 },
        { "PUT", omni_admin_identity_put, 0, 0 },
        { "DELETE", omni_admin_identity_delete, 0, 0 } } },

    { "/revocations", 1, { "revocations" }, "GET, POST",
      { { "GET", omni_admin_revocations_get,
          OMNI_ADMIN_Q_KIND | OMNI_ADMIN_Q_AFTER | OMNI_ADMIN_Q_LIMIT, 0 },
        { "POST", omni_admin_revocation_post, 0, 0 } } },

    { "/revocations/{kind}/{value}", 3, { "revocations", NULL, NULL },
      "DELETE",
      { { "DELETE", omni_admin_revocation_delete, 0, 0 } } },

    /* a policy may pass OMNI_ADMIN_BODY_MAX: the store's bound is its own */
    { "/customers/{id}/cases", 3, { "customers", NULL, "cases" }, "GET",
      { { "GET", omni_admin_customer_cases,
          OMNI_ADMIN_Q_LIMIT | OMNI_ADMIN_Q_AFTER | OMNI_ADMIN_Q_STATUS, 0 } } },

    { "/cases", 1, { "cases" }, "GET, POST",
      { { "GET", omni_admin_cases_get,
          OMNI_ADMIN_Q_LIMIT | OMNI_ADMIN_Q_AFTER | OMNI_ADMIN_Q_STATUS, 0 },
        { "POST", omni_admin_case_post, 0, 0 } } },

    { "/cases/{id}", 2, { "cases", NULL }, "GET",
      { { "GET", omni_admin_case_get, 0, 0 } } },

    { "/cases/{id}/status", 3, { "cases", NULL, "status" }, "POST",
      { { "POST", omni_admin_case_status, 0, 0 } } },

    { "/cases/{id}/notes", 3, { "cases", NULL, "notes" }, "POST",
      { { "POST", omni_admin_case_note, 0, 0 } } },

    { "/cases/{id}/assign", 3, { "cases", NULL, "assign" }, "POST",
      { { "POST", omni_admin_case_assign, 0, 0 } } },

    { "/policy", 1, { "policy" }, "GET, PUT",
      { { "GET", omni_admin_policy_get, 0, 0 },
        { "PUT", omni_admin_policy_put, OMNI_ADMIN_Q_NOTE,
          OMNI_STORE_POLICY_MAX } } },

    { "/policy/revisions", 2, { "policy", "revisions" }, "GET",
      { { "GET", omni_admin_policy_revisions,
          OMNI_ADMIN_Q_BEFORE | OMNI_ADMIN_Q_LIMIT, 0 } } },

    { "/policy/revisions/{n}", 3, { "policy", "revisions", NULL }, "GET",
      { { "GET", omni_admin_policy_revision, 0, 0 } } },

    { "/policy/rollback", 2, { "policy", "rollback" }, "POST",
      { { "POST", omni_admin_policy_rollback, 0, 0 } } },

    { "/policy/diff", 2, { "policy", "diff" }, "GET",
      { { "GET", omni_admin_policy_diff,
          OMNI_ADMIN_Q_FROM | OMNI_ADMIN_Q_TO, 0 } } },

    { "/workflow", 1, { "workflow" }, "GET, PUT",
      { { "GET", omni_admin_workflow_get, 0, 0 },
        { "PUT", omni_admin_workflow_put, OMNI_ADMIN_Q_NOTE,
          OMNI_STORE_WORKFLOW_MAX } } },

    { "/workflow/revisions", 2, { "workflow", "revisions" }, "GET",
      { { "GET", omni_admin_workflow_revisions,
          OMNI_ADMIN_Q_BEFORE | OMNI_ADMIN_Q_LIMIT, 0 } } },

    { "/workflow/revisions/{n}", 3, { "workflow", "revisions", NULL }, "GET",
      { { "GET", omni_admin_workflow_revision, 0, 0 } } },

    { "/workflow/rollback", 2, { "workflow", "rollback" }, "POST",
      { { "POST", omni_admin_workflow_rollback, 0, 0 } } },

    { "/workflow/diff", 2, { "workflow", "diff" }, "GET",
      { { "GET", omni_admin_workflow_diff,
          OMNI_ADMIN_Q_FROM | OMNI_ADMIN_Q_TO, 0 } } },

    { "/capacity", 1, { "capacity" }, "GET, POST",
      { { "GET", omni_admin_capacity_get, 0, 0 },
        { "POST", omni_admin_capacity_post, 0, 0 } } },

    { "/capacity/revisions", 2, { "capacity", "revisions" }, "GET",
      { { "GET", omni_admin_capacity_revisions,
          OMNI_ADMIN_Q_BEFORE | OMNI_ADMIN_Q_LIMIT, 0 } } },
};


int
omni_admin_handle(omni_store_t *st, const omni_admin_request_t *req,
    omni_admin_result_t *res)
{
    size_t                      i;
    omni_admin_ctx_t            ctx;
    const omni_admin_route_t   *route;
    const omni_admin_method_t  *method;

    memset(res, 0, sizeof(omni_admin_result_t));
    res->status = 500;

    memset(&ctx, 0, sizeof(omni_admin_ctx_t));
    ctx.st = st;
    ctx.req = req;
    ctx.res = res;
    ctx.limit = OMNI_ADMIN_LIMIT;

    if (omni_admin_path(&ctx) != OMNI_ADMIN_GO) {
        goto done;
    }

    route = omni_admin_match(&ctx);
    if (route == NULL) {
        (void) omni_admin_fail(&ctx, 404, "unknown_route",
                               "no route for %s %.*s", req->method,
                               (int) (req->path_len < 256
                                      ? req->path_len : 256), req->path);
        goto done;
    }

    ctx.route = route->name;
    method = NULL;

    for (i = 0; i < sizeof(route->methods) / sizeof(route->methods[0]); i++)
    {
        if (route->methods[i].name != NULL
            && strcmp(route->methods[i].name, req->method) == 0)
        {
            method = &route->methods[i];
            break;
        }
    }

    if (method == NULL) {
        (void) omni_admin_fail(&ctx, 405, "method_not_allowed",
                               "%s is not allowed on %s, only %s",
                               req->method, route->name, route->allow);
        res->allow = route->allow;
        goto done;
    }

    if (omni_admin_query(&ctx, method->query) != OMNI_ADMIN_GO
        || omni_admin_body(&ctx, method->body_max ? method->body_max
                                                  : OMNI_ADMIN_BODY_MAX)
           != OMNI_ADMIN_GO)
    {
        goto done;
    }

    (void) method->handler(&ctx);

done:

    json_decref(ctx.body);

    if (ctx.nomem) {
        free(res->body);
        res->body = NULL;
        res->body_len = 0;
        res->status = 500;
        return -1;
    }

    return 0;
}


void
omni_admin_result_free(omni_admin_result_t *res)
{
    free(res->body);
    free(res->audit);

    res->body = NULL;
    res->body_len = 0;
    res->audit = NULL;
    res->allow = NULL;
}


/* request parsing */

/*
 * Splits the path on "/" before decoding, so an escaped slash stays in
 * its segment.  One trailing slash is tolerated; any other empty segment
 * is refused.  More segments than the longest route: no route matches.
 */
static int
omni_admin_path(omni_admin_ctx_t *ctx)
{
    int          rc;
    size_t       seglen;
    const char  *p, *q, *end;

    p = ctx->req->path;
    end = p + ctx->req->path_len;

    if (ctx->req->path_len == 0 || p[0] != '/') {
        return omni_admin_fail(ctx, 400, "invalid_path",
                               "the path does not start with /");
    }

    p++;

    while (p <= end) {
        q = memchr(p, '/', end - p);
        if (q == NULL) {
            q = end;
        }

        seglen = q - p;

        if (seglen == 0) {
            if (q == end) {
                break;
            }

            return omni_admin_fail(ctx, 400, "invalid_path",
                                   "the path has an empty segment");
        }

        if (ctx->nseg == OMNI_ADMIN_SEGMENTS) {
            ctx->nseg = OMNI_ADMIN_SEGMENTS + 1;
            return OMNI_ADMIN_GO;
        }

        rc = omni_admin_decode(p, seglen, ctx->seg[ctx->nseg],
                               OMNI_ADMIN_SEGMENT_MAX);

        switch (rc) {
        case OMNI_ADMIN_DEC_OK:
            break;
        case OMNI_ADMIN_DEC_ESCAPE:
            return omni_admin_fail(ctx, 400, "invalid_path",
                                   "the path has a bad percent escape");
        case OMNI_ADMIN_DEC_CONTROL:
            return omni_admin_fail(ctx, 400, "invalid_path",
                                   "the path has a control byte");
        case OMNI_ADMIN_DEC_LONG:
            return omni_admin_fail(ctx, 400, "invalid_path",
                                   "a path segment is longer than %d bytes",
                                   OMNI_ADMIN_SEGMENT_MAX);
        default:
            return omni_admin_fail(ctx, 400, "invalid_path",
                                   "the path is not UTF-8");
        }

        ctx->nseg++;

        if (q == end) {
            break;
        }

        p = q + 1;
    }

    return OMNI_ADMIN_GO;
}


static const omni_admin_route_t *
omni_admin_match(omni_admin_ctx_t *ctx)
{
    size_t                     i, j;
    const omni_admin_route_t  *r;

    for (i = 0; i < sizeof(omni_admin_routes) / sizeof(omni_admin_routes[0]);
         i++)
    {
        r = &omni_admin_routes[i];

        if (r->nseg != ctx->nseg) {
            continue;
        }

        for (j = 0; j < r->nseg; j++) {
            if (r->seg[j] != NULL && strcmp(r->seg[j], ctx->seg[j]) != 0) {
                break;
            }
        }

        if (j == r->nseg) {
            return r;
        }
    }

    return NULL;
}


/*
 * name=value pairs split on "&", names and values percent-decoded; "+"
 * is a plus, not a space (identity values such as phone numbers carry
 * one, and no HTML form posts here).  Empty pairs ("a=1&&b=2") are
 * skipped; a parameter the route does not take, a repeated one or an
 * empty value is refused.
 */
static int
omni_admin_query(omni_admin_ctx_t *ctx, unsigned accepted)
{
    const char  *p, *q, *end;

    if (ctx->req->query == NULL) {
        return OMNI_ADMIN_GO;
    }

    p = ctx->req->query;
    end = p + ctx->req->query_len;

    while (p < end) {
        q = memchr(p, '&', end - p);
        if (q == NULL) {
            q = end;
        }

        if (q > p && omni_admin_param(ctx, accepted, p, q - p)
                     != OMNI_ADMIN_GO)
        {
            return OMNI_ADMIN_STOP;
        }

        if (q == end) {
            break;
        }

        p = q + 1;
    }

    return OMNI_ADMIN_GO;
}


static int
omni_admin_param(omni_admin_ctx_t *ctx, unsigned accepted, const char *p,
    size_t len)
{
    int                  rc;
    char                 name[OMNI_ADMIN_NAME_MAX + 1];
    char                 value[OMNI_ADMIN_QUERY_MAX + 1];
    size_t               i, nlen;
    const char          *eq;
    omni_admin_param_t   params[9];

    params[0].name = "limit";
    params[0].bit = OMNI_ADMIN_Q_LIMIT;
    params[0].value = NULL;
    params[1].name = "after";
    params[1].bit = OMNI_ADMIN_Q_AFTER;
    params[1].value = ctx->after;
    params[2].name = "before";
    params[2].bit = OMNI_ADMIN_Q_BEFORE;
    params[2].value = ctx->before;
    params[3].name = "kind";
    params[3].bit = OMNI_ADMIN_Q_KIND;
    params[3].value = ctx->kind;
    params[4].name = "from";
    params[4].bit = OMNI_ADMIN_Q_FROM;
    params[4].value = ctx->from;
    params[5].name = "to";
    params[5].bit = OMNI_ADMIN_Q_TO;
    params[5].value = ctx->to;
    params[6].name = "note";
    params[6].bit = OMNI_ADMIN_Q_NOTE;
    params[6].value = ctx->note;
    params[7].name = "erase";
    params[7].bit = OMNI_ADMIN_Q_ERASE;
    params[7].value = ctx->erase;
    params[8].name = "status";
    params[8].bit = OMNI_ADMIN_Q_STATUS;
    params[8].value = ctx->status;

    eq = memchr(p, '=', len);
    nlen = (eq != NULL) ? (size_t) (eq - p) : len;

    if (omni_admin_decode(p, nlen, name, OMNI_ADMIN_NAME_MAX)
        != OMNI_ADMIN_DEC_OK)
    {
        return omni_admin_fail(ctx, 400, "invalid_argument",
                               "%s %s takes no such query parameter",
                               ctx->req->method, ctx->route);
    }

    for (i = 0; i < sizeof(params) / sizeof(params[0]); i++) {
        if (strcmp(params[i].name, name) == 0) {
            break;
        }
    }

    if (i == sizeof(params) / sizeof(params[0])
        || (accepted & params[i].bit) == 0)
    {
        return omni_admin_fail(ctx, 400, "invalid_argument",
                               "%s %s takes no query parameter \"%s\"",
                               ctx->req->method, ctx->route, name);
    }

    if (ctx->given & params[i].bit) {
        return omni_admin_fail(ctx, 400, "invalid_argument",
                               "query parameter \"%s\" is repeated", name);
    }

    ctx->given |= params[i].bit;

    rc = omni_admin_decode(eq != NULL ? eq + 1 : p + len,
                           eq != NULL ? len - nlen - 1 : 0, value,
                           OMNI_ADMIN_QUERY_MAX);

    switch (rc) {
    case OMNI_ADMIN_DEC_OK:
        break;
    case OMNI_ADMIN_DEC_ESCAPE:
        return omni_admin_fail(ctx, 400, "invalid_argument",
                               "query parameter \"%s\" has a bad percent "
                               "escape", name);
    case OMNI_ADMIN_DEC_CONTROL:
        return omni_admin_fail(ctx, 400, "invalid_argument",
                               "query parameter \"%s\" has a control byte",
                               name);
    case OMNI_ADMIN_DEC_LONG:
        return omni_admin_fail(ctx, 400, "invalid_argument",
                               "query parameter \"%s\" is longer than %d "
                               "bytes", name, OMNI_ADMIN_QUERY_MAX);
    default:
        return omni_admin_fail(ctx, 400, "invalid_argument",
                               "query parameter \"%s\" is not UTF-8", name);
    }

    if (value[0] == '\0') {
        return omni_admin_fail(ctx, 400, "invalid_argument",
                               "query parameter \"%s\" is empty", name);
    }

    if (params[i].value == NULL) {
        return omni_admin_limit(ctx, value);
    }

    memcpy(params[i].value, value, strlen(value) + 1);

    return OMNI_ADMIN_GO;
}


static int
omni_admin_limit(omni_admin_ctx_t *ctx, const char *s)
{
    size_t  i, v;

    v = 0;

    /* four digits at most: the bound is checked without overflow */
    for (i = 0; s[i] != '\0'; i++) {
        if (s[i] < '0' || s[i] > '9' || i == 4) {
            v = 0;
            break;
        }

        v = v * 10 + (s[i] - '0');
    }

    if (v < 1 || v > OMNI_ADMIN_LIMIT_MAX) {
        return omni_admin_fail(ctx, 400, "invalid_argument",
                               "query parameter \"limit\" must be an "
                               "integer from 1 to %d", OMNI_ADMIN_LIMIT_MAX);
    }

    ctx->limit = v;

    return OMNI_ADMIN_GO;
}


/*
 * POST and PUT take a JSON object, GET and DELETE nothing.  The size is
 * checked before a byte is parsed; jansson refuses duplicate keys and
 * \u0000 in strings, so a string member is a C string.
 */
static int
omni_admin_body(omni_admin_ctx_t *ctx, size_t max)
{
    int                          takes;
    json_error_t                 jerr;
    const omni_admin_request_t  *req;

    req = ctx->req;

    if (req->body_len > max) {
        return omni_admin_fail(ctx, 413, "body_too_large",
                               "the body is %zu bytes, more than the %zu "
                               "allowed", req->body_len, max);
    }

    takes = (strcmp(req->method, "POST") == 0
             || strcmp(req->method, "PUT") == 0);

    if (!takes) {
        if (req->body != NULL && req->body_len > 0) {
            return omni_admin_fail(ctx, 400, "invalid_argument",
                                   "%s %s takes no body", req->method,
                                   ctx->route);
        }

        return OMNI_ADMIN_GO;
    }

    if (req->body == NULL || req->body_len == 0) {
        return omni_admin_fail(ctx, 400, "bad_json", "the body is empty");
    }

    memset(&jerr, 0, sizeof(json_error_t));
    ctx->body = json_loadb(req->body, req->body_len, OMNI_ADMIN_LOAD, &jerr);

    if (ctx->body == NULL && omni_admin_load_nomem(&jerr)) {
        ctx->nomem = 1;
        return OMNI_ADMIN_STOP;
    }

    if (ctx->body == NULL) {
        return omni_admin_fail(ctx, 400, "bad_json",
                               "the body is not valid JSON: %s at line %d "
                               "column %d", jerr.text, jerr.line,
                               jerr.column);
    }

    if (!json_is_object(ctx->body)) {
        return omni_admin_fail(ctx, 400, "bad_json",
                               "the body is not a JSON object");
    }

    return OMNI_ADMIN_GO;
}


/*
 * Decodes %XX escapes of s into out (max bytes and a NUL).  Control
 * bytes, escaped or not, are refused (NUL among them: the store's names
 * are C strings), and so is text that is not UTF-8.
 */
static int
omni_admin_decode(const char *s, size_t len, char *out, size_t max)
{
    int            hi, lo;
    size_t         i, n, step;
    unsigned char  c;

    n = 0;

    for (i = 0; i < len; i++) {
        c = (unsigned char) s[i];

        if (c == '%') {
            hi = (len - i >= 3) ? omni_hex_digit(s[i + 1]) : -1;
            lo = (len - i >= 3) ? omni_hex_digit(s[i + 2]) : -1;

            if (hi < 0 || lo < 0) {
                return OMNI_ADMIN_DEC_ESCAPE;
            }

            c = (unsigned char) (hi << 4 | lo);
            i += 2;
        }

        if (c < 0x20 || c == 0x7f) {
            return OMNI_ADMIN_DEC_CONTROL;
        }

        if (n == max) {
            return OMNI_ADMIN_DEC_LONG;
        }

        out[n++] = (char) c;
    }

    out[n] = '\0';

    for (i = 0; i < n; i += step) {
        step = omni_admin_utf8((unsigned char *) out + i, n - i);
        if (step == 0) {
            return OMNI_ADMIN_DEC_UTF8;
        }
    }

    return OMNI_ADMIN_DEC_OK;
}


/* GET /stats: the one route about no resource */

static int
omni_admin_stats(omni_admin_ctx_t *ctx)
{
    int                 i, rc, failed;
    json_t             *answer, *entries;
    omni_store_stats_t  stats;

    rc = omni_store_stats(ctx->st, &stats, ctx->err);
    if (rc != OMNI_STORE_OK) {
        return omni_admin_store_fail(ctx, rc, 0);
    }

    failed = 0;
    entries = json_object();

    for (i = 0; i < OMNI_STORE_DB_COUNT; i++) {
        omni_admin_set(entries, omni_store_db_name(i),
                       json_integer((json_int_t) stats.entries[i]), &failed);
    }

    answer = json_object();
    omni_admin_set(answer, "entries", entries, &failed);
    omni_admin_set(answer, "map_used",
                   json_integer((json_int_t) stats.map_used), &failed);
    omni_admin_set(answer, "map_size",
                   json_integer((json_int_t) stats.map_size), &failed);
    omni_admin_set(answer, "map_max",
                   json_integer((json_int_t) stats.map_max), &failed);
    omni_admin_set(answer, "last_txn",
                   json_integer((json_int_t) stats.txn_id), &failed);

    return omni_admin_reply(ctx, 200, answer, failed);
}


/* request values */

int
omni_admin_body_keys(omni_admin_ctx_t *ctx, const char *const *keys)
{
    size_t       i;
    json_t      *v;
    const char  *key;

    json_object_foreach(ctx->body, key, v) {
        for (i = 0; keys[i] != NULL; i++) {
            if (strcmp(keys[i], key) == 0) {
                break;
            }
        }

        if (keys[i] == NULL) {
            return omni_admin_fail(ctx, 400, "invalid_argument",
                                   "unknown key \"%s\"", key);
        }
    }

    return OMNI_ADMIN_GO;
}


int
omni_admin_body_string(omni_admin_ctx_t *ctx, const char *key, int required,
    const char **out)
{
    json_t  *v;

    *out = NULL;
    v = json_object_get(ctx->body, key);

    if (v == NULL) {
        if (required) {
            return omni_admin_fail(ctx, 400, "invalid_argument",
                                   "\"%s\" is missing", key);
        }

        return OMNI_ADMIN_GO;
    }

    if (!json_is_string(v)) {
        return omni_admin_fail(ctx, 400, "invalid_argument",
                               "\"%s\" must be a string", key);
    }

    *out = json_string_value(v);

    return OMNI_ADMIN_GO;
}


/* seconds since the epoch, up to the end of year 9999 (RFC 3339) */
int
omni_admin_body_time(omni_admin_ctx_t *ctx, const char *key, int64_t *out,
    int *given)
{
    json_t      *v;
    json_int_t   t;

    *out = 0;
    *given = 0;

    v = json_object_get(ctx->body, key);
    if (v == NULL) {
        return OMNI_ADMIN_GO;
    }

    t = json_is_integer(v) ? json_integer_value(v) : -1;

    if (t < 0 || t > OMNI_ADMIN_TIME_MAX) {
        return omni_admin_fail(ctx, 400, "invalid_argument",
                               "\"%s\" must be an integer from 0 to %" PRId64
                               " (seconds since the epoch)", key,
                               OMNI_ADMIN_TIME_MAX);
    }

    *out = (int64_t) t;
    *given = 1;

    return OMNI_ADMIN_GO;
}


/*
 * The store's own name rules (omni_store.h), checked before it is called
 * so that a refusal later is not about names; the messages are ours.
 */
int
omni_admin_check_id(omni_admin_ctx_t *ctx, const char *what, const char *s,
    size_t max)
{
    if (!omni_store_id_valid(s, strnlen(s, max + 1), max)) {
        return omni_admin_fail(ctx, 400, "invalid_argument",
                               "%s is not [A-Za-z0-9_-]{1,%zu}", what, max);
    }

    return OMNI_ADMIN_GO;
}


int
omni_admin_check_text(omni_admin_ctx_t *ctx, const char *what,
    const char *s, size_t max)
{
    if (!omni_store_text_valid(s, strnlen(s, max + 1), max)) {
        return omni_admin_fail(ctx, 400, "invalid_argument",
                               "%s must be 1 to %zu bytes without spaces or "
                               "control characters", what, max);
    }

    return OMNI_ADMIN_GO;
}


/* answering */

/* one read snapshot for handlers that read more than once */
int
omni_admin_snapshot(omni_admin_ctx_t *ctx)
{
    int  rc;

    rc = omni_store_read_begin(ctx->st, ctx->err);
    if (rc != OMNI_STORE_OK) {
        /* "already open" is the caller's bug, not the client's */
        return omni_admin_store_fail(ctx, rc == OMNI_STORE_INVALID
                                          ? OMNI_STORE_ERROR : rc, 0);
    }

    return OMNI_ADMIN_GO;
}


int
omni_admin_store_fail(omni_admin_ctx_t *ctx, int rc, int refusal)
{
    switch (rc) {
    case OMNI_STORE_NOT_FOUND:
        return omni_admin_fail(ctx, 404, "not_found", "%s", ctx->err);
    case OMNI_STORE_INVALID:
        if (refusal) {
            return omni_admin_fail(ctx, 409, "conflict", "%s", ctx->err);
        }

        return omni_admin_fail(ctx, 400, "invalid_argument", "%s", ctx->err);
    case OMNI_STORE_FULL:
        return omni_admin_fail(ctx, 503, "store_full", "%s", ctx->err);
    default:
        return omni_admin_fail(ctx, 500, "store_error", "%s", ctx->err);
    }
}


int
omni_admin_fail(omni_admin_ctx_t *ctx, unsigned status, const char *code,
    const char *fmt, ...)
{
    int       failed;
    char      msg[OMNI_ADMIN_MSG_MAX];
    json_t   *answer;
    va_list   args;

    va_start(args, fmt);
    vsnprintf(msg, sizeof(msg), fmt, args);
    va_end(args);

    failed = 0;
    answer = json_object();
    omni_admin_set(answer, "error", json_string(code), &failed);
    omni_admin_set(answer, "message", omni_admin_str(msg), &failed);

    return omni_admin_reply(ctx, status, answer, failed);
}


/*
 * Writes answer (consumed) as the body: compact, keys in the order they
 * were set, NUL-terminated after body_len for callers that print it.
 */
int
omni_admin_reply(omni_admin_ctx_t *ctx, unsigned status, json_t *answer,
    int failed)
{
    char    *body;
    size_t   n;

    ctx->res->status = status;

    if (answer == NULL || failed) {
        goto nomem;
    }

    n = json_dumpb(answer, NULL, 0, OMNI_ADMIN_DUMP);
    if (n == 0) {
        goto nomem;
    }

    body = malloc(n + 1);
    if (body == NULL) {
        goto nomem;
    }

    if (json_dumpb(answer, body, n, OMNI_ADMIN_DUMP) != n) {
        free(body);
        goto nomem;
    }

    body[n] = '\0';
    json_decref(answer);

    free(ctx->res->body);
    ctx->res->body = body;
    ctx->res->body_len = n;

    return OMNI_ADMIN_STOP;

nomem:

    json_decref(answer);
    ctx->nomem = 1;

    return OMNI_ADMIN_STOP;
}


/*
 * The audit line of a change that was made.  Names reach here checked,
 * but a control byte or a backslash would still be written as \xNN, so
 * one line stays one line and reads back unambiguously.
 */
void
omni_admin_audit(omni_admin_ctx_t *ctx, const char *fmt, ...)
{
    char           line[OMNI_ADMIN_AUDIT_MAX], *out, *p;
    size_t         i, len;
    va_list        args;
    unsigned char  c;

    va_start(args, fmt);
    vsnprintf(line, sizeof(line), fmt, args);
    va_end(args);

    len = strlen(line);

    out = malloc(len * 4 + 1);
    if (out == NULL) {
        ctx->nomem = 1;
        return;
    }

    p = out;

    for (i = 0; i < len; i++) {
        c = (unsigned char) line[i];

        if (c < 0x20 || c == 0x7f || c == '\\') {
            p += snprintf(p, 5, "\\x%02x", c);

        } else {
            *p++ = (char) c;
        }
    }

    *p = '\0';

    free(ctx->res->audit);
    ctx->res->audit = out;
}


/* jansson helpers: a failure is out of memory, recorded in *failed */

/*
 * Whether json_loadb() failed for want of memory.  It may fail so before
 * it writes any text (jerr zeroed by the caller), else it says so.
 */
int
omni_admin_load_nomem(const json_error_t *jerr)
{
    return jerr->text[0] == '\0'
           || json_error_code(jerr) == json_error_out_of_memory;
}


void
omni_admin_set(json_t *obj, const char *key, json_t *v, int *failed)
{
    /* takes v even on failure, and fails on a NULL obj or v */
    if (json_object_set_new(obj, key, v) != 0) {
        *failed = 1;
    }
}


void
omni_admin_append(json_t *arr, json_t *v, int *failed)
{
    if (json_array_append_new(arr, v) != 0) {
        *failed = 1;
    }
}


/*
 * A JSON string of s; a byte that does not start valid UTF-8 becomes
 * U+FFFD, so that NULL means out of memory only.
 */
json_t *
omni_admin_str(const char *s)
{
    char    *copy;
    size_t   i, n, len, step;
    json_t  *json;

    len = strlen(s);

    for (i = 0; i < len; i += step) {
        step = omni_admin_utf8((const unsigned char *) s + i, len - i);
        if (step == 0) {
            break;
        }
    }

    if (i >= len) {
        return json_stringn(s, len);
    }

    copy = malloc(len * 3 + 1);
    if (copy == NULL) {
        return NULL;
    }

    n = 0;

    for (i = 0; i < len; i += step) {
        step = omni_admin_utf8((const unsigned char *) s + i, len - i);

        if (step == 0) {
            memcpy(copy + n, "\xef\xbf\xbd", 3);
            n += 3;
            step = 1;

        } else {
            memcpy(copy + n, s + i, step);
            n += step;
        }
    }

    json = json_stringn(copy, n);
    free(copy);

    return json;
}


json_t *
omni_admin_str_or_null(const char *s)
{
    return (s[0] == '\0') ? json_null() : omni_admin_str(s);
}


/*
 * RFC 3339 UTC.  A time past year 9999 (never one of ours: request times
 * are bounded) reads as its last second, four-digit years being all that
 * RFC 3339 has.
 */
void
omni_admin_time_text(char *buf, size_t size, int64_t t, int ms)
{
    int        frac;
    time_t     sec;
    struct tm  tm;

    frac = 0;

    if (t < 0) {
        t = 0;
    }

    if (ms) {
        frac = (int) (t % 1000);
        t /= 1000;
    }

    if (t > OMNI_ADMIN_TIME_MAX) {
        t = OMNI_ADMIN_TIME_MAX;
        frac = 999;
    }

    sec = (time_t) t;

    if (gmtime_r(&sec, &tm) == NULL) {
        memset(&tm, 0, sizeof(struct tm));
        tm.tm_year = 70;
        tm.tm_mday = 1;
    }

    if (ms) {
        snprintf(buf, size, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ",
                 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
                 tm.tm_min, tm.tm_sec, frac);

    } else {
        snprintf(buf, size, "%04d-%02d-%02dT%02d:%02d:%02dZ",
                 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
                 tm.tm_min, tm.tm_sec);
    }
}


json_t *
omni_admin_time(int64_t t, int ms)
{
    char  buf[OMNI_ADMIN_TIME_LEN];

    omni_admin_time_text(buf, sizeof(buf), t, ms);

    return json_string(buf);
}


/*
 * The length of the UTF-8 sequence at p (n bytes available), or 0 when
 * none starts there: no overlong forms, surrogates or code points past
 * U+10FFFF, as jansson checks.
 */
static size_t
omni_admin_utf8(const unsigned char *p, size_t n)
{
    size_t         i, len;
    unsigned char  lo, hi;

    if (p[0] < 0x80) {
        return 1;
    }

    lo = 0x80;
    hi = 0xbf;

    if (p[0] >= 0xc2 && p[0] <= 0xdf) {
        len = 2;

    } else if (p[0] >= 0xe0 && p[0] <= 0xef) {
        len = 3;
        lo = (p[0] == 0xe0) ? 0xa0 : 0x80;
        hi = (p[0] == 0xed) ? 0x9f : 0xbf;

    } else if (p[0] >= 0xf0 && p[0] <= 0xf4) {
        len = 4;
        lo = (p[0] == 0xf0) ? 0x90 : 0x80;
        hi = (p[0] == 0xf4) ? 0x8f : 0xbf;

    } else {
        return 0;
    }

    if (n < len || p[1] < lo || p[1] > hi) {
        return 0;
    }

    for (i = 2; i < len; i++) {
        if ((p[i] & 0xc0) != 0x80) {
            return 0;
        }
    }

    return len;
}
