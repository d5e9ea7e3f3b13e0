/*
 * Copyright (C) The omni gateway authors
 *
 * The admin API over the public store API.  A request goes through the
 * same steps whatever its route: path (split, then percent-decoded per
 * segment, so %2F is a slash inside a value), route, method, query, body,
 * then one handler that talks to the store and builds the answer.
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
 *                           and "message" counts them ("3 errors")
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
 * identity T:V to SURVIVOR", "unlink identity T:V", "revoke jti V [until
 * TIME]", "revoke subject S before TIME", "remove revocation of KIND V",
 * "policy revision N (put)", "policy revision M (rollback to N)".  When
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

#include "omni_admin.h"
#include "omni_policy.h"


#define OMNI_ADMIN_SEGMENTS     3        /* of the longest route */
#define OMNI_ADMIN_SEGMENT_MAX  OMNI_STORE_VALUE_MAX
#define OMNI_ADMIN_QUERY_MAX    (OMNI_STORE_TYPE_MAX + 1                      \
                                 + OMNI_STORE_VALUE_MAX)   /* TYPE:VALUE */
#define OMNI_ADMIN_NAME_MAX     16       /* of a query parameter */
#define OMNI_ADMIN_MSG_MAX      512
#define OMNI_ADMIN_AUDIT_MAX    1024
#define OMNI_ADMIN_TIME_MAX     INT64_C(253402300799)  /* 9999-12-31 */
#define OMNI_ADMIN_TIME_LEN     80       /* 24 used; room for any int */
#define OMNI_ADMIN_DUMP         (JSON_COMPACT | JSON_PRESERVE_ORDER)
#define OMNI_ADMIN_LOAD         (JSON_REJECT_DUPLICATES | JSON_DECODE_ANY)

/* what a step returns: go on, or the answer is set (refusal or done) */
#define OMNI_ADMIN_GO           0
#define OMNI_ADMIN_STOP         1

/* query parameters, as bits: which a route accepts, which were given */
#define OMNI_ADMIN_Q_LIMIT      0x01
#define OMNI_ADMIN_Q_AFTER      0x02
#define OMNI_ADMIN_Q_BEFORE     0x04
#define OMNI_ADMIN_Q_KIND       0x08
#define OMNI_ADMIN_Q_FROM       0x10
#define OMNI_ADMIN_Q_TO         0x20
#define OMNI_ADMIN_Q_NOTE       0x40

/* results of percent-decoding */
#define OMNI_ADMIN_DEC_OK       0
#define OMNI_ADMIN_DEC_ESCAPE   1
#define OMNI_ADMIN_DEC_CONTROL  2
#define OMNI_ADMIN_DEC_LONG     3
#define OMNI_ADMIN_DEC_UTF8     4


typedef struct {
    omni_store_t                *st;
    const omni_admin_request_t  *req;
    omni_admin_result_t         *res;
    const char                  *route;     /* "/sessions/{id}" */
    size_t                       nseg;
    char                         seg[OMNI_ADMIN_SEGMENTS]
                                    [OMNI_ADMIN_SEGMENT_MAX + 1];
    unsigned                     given;     /* OMNI_ADMIN_Q_* */
    size_t                       limit;
    char                         after[OMNI_ADMIN_QUERY_MAX + 1];
    char                         before[OMNI_ADMIN_QUERY_MAX + 1];
    char                         kind[OMNI_ADMIN_QUERY_MAX + 1];
    char                         from[OMNI_ADMIN_QUERY_MAX + 1];
    char                         to[OMNI_ADMIN_QUERY_MAX + 1];
    char                         note[OMNI_ADMIN_QUERY_MAX + 1];
    json_t                      *body;
    unsigned                     nomem:1;
    char                         err[OMNI_STORE_ERRLEN];
} omni_admin_ctx_t;


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
static int omni_admin_hex(int c);
static int omni_admin_decode(const char *s, size_t len, char *out,
    size_t max);

static int omni_admin_stats(omni_admin_ctx_t *ctx);
static int omni_admin_session_get(omni_admin_ctx_t *ctx);
static int omni_admin_session_revoke(omni_admin_ctx_t *ctx);
static int omni_admin_customer_get(omni_admin_ctx_t *ctx);
static int omni_admin_customer_sessions(omni_admin_ctx_t *ctx);
static int omni_admin_customer_identities(omni_admin_ctx_t *ctx);
static int omni_admin_customer_journey(omni_admin_ctx_t *ctx);
static int omni_admin_customer_merge(omni_admin_ctx_t *ctx);
static int omni_admin_identity_answer(omni_admin_ctx_t *ctx,
    const char *customer);
static int omni_admin_identity_get(omni_admin_ctx_t *ctx);
static int omni_admin_identity_put(omni_admin_ctx_t *ctx);
static int omni_admin_identity_delete(omni_admin_ctx_t *ctx);
static int omni_admin_revocations_get(omni_admin_ctx_t *ctx);
static int omni_admin_revocation_post(omni_admin_ctx_t *ctx);
static int omni_admin_revocation_delete(omni_admin_ctx_t *ctx);
static int omni_admin_policy_get(omni_admin_ctx_t *ctx);
static int omni_admin_policy_put(omni_admin_ctx_t *ctx);
static int omni_admin_policy_revisions(omni_admin_ctx_t *ctx);
static int omni_admin_policy_revision(omni_admin_ctx_t *ctx);
static int omni_admin_policy_rollback(omni_admin_ctx_t *ctx);
static int omni_admin_policy_diff(omni_admin_ctx_t *ctx);

static json_t *omni_admin_session_json(const omni_store_session_t *s);
static json_t *omni_admin_identities_json(const omni_store_identity_t *ids,
    size_t n);
static json_t *omni_admin_revocation_json(const omni_store_revocation_t *r);
static int omni_admin_policy_answer(omni_admin_ctx_t *ctx, uint32_t rev);
static int omni_admin_policy_invalid(omni_admin_ctx_t *ctx, char *errors,
    uint32_t rev);
static int omni_admin_policy_check(omni_admin_ctx_t *ctx, const char *json,
    size_t len, uint32_t rev);
static const char *omni_admin_actor(omni_admin_ctx_t *ctx);
static json_t *omni_admin_revocations_page(omni_admin_ctx_t *ctx, int kind,
    const char *after, int *rc);
static int omni_admin_after_identity(omni_admin_ctx_t *ctx,
    omni_store_identity_t *after);
static int omni_admin_cursor(const char *s, omni_store_cursor_t *cur);
static int omni_admin_revision(const char *s, uint32_t *rev);
static int omni_admin_kind(const char *name);
static const char *omni_admin_kind_name(int kind);

static int omni_admin_body_keys(omni_admin_ctx_t *ctx,
    const char *const *keys);
static int omni_admin_body_string(omni_admin_ctx_t *ctx, const char *key,
    int required, const char **out);
static int omni_admin_body_time(omni_admin_ctx_t *ctx, const char *key,
    int64_t *out, int *given);
static int omni_admin_check_id(omni_admin_ctx_t *ctx, const char *what,
    const char *s, size_t max);
static int omni_admin_check_text(omni_admin_ctx_t *ctx, const char *what,
    const char *s, size_t max);

static int omni_admin_snapshot(omni_admin_ctx_t *ctx);
static int omni_admin_store_fail(omni_admin_ctx_t *ctx, int rc,
    int refusal);
static int omni_admin_fail(omni_admin_ctx_t *ctx, unsigned status,
    const char *code, const char *fmt, ...);
static int omni_admin_reply(omni_admin_ctx_t *ctx, unsigned status,
    json_t *answer, int failed);
static void omni_admin_audit(omni_admin_ctx_t *ctx, const char *fmt, ...);

static int omni_admin_load_nomem(const json_error_t *jerr);
static void omni_admin_set(json_t *obj, const char *key, json_t *v,
    int *failed);
static void omni_admin_append(json_t *arr, json_t *v, int *failed);
static json_t *omni_admin_str(const char *s);
static json_t *omni_admin_str_or_null(const char *s);
static void omni_admin_time_text(char *buf, size_t size, int64_t t, int ms);
static json_t *omni_admin_time(int64_t t, int ms);
static size_t omni_admin_utf8(const unsigned char *p, size_t n);


static const omni_admin_route_t  omni_admin_routes[] = {

    { "/stats", 1, { "stats" }, "GET",
      { { "GET", omni_admin_stats, 0, 0 } } },

    { "/sessions/{id}", 2, { "sessions", NULL }, "GET, DELETE",
      { { "GET", omni_admin_session_get, 0, 0 },
        { "DELETE", omni_admin_session_revoke, 0, 0 } } },

    { "/customers/{id}", 2, { "customers", NULL }, "GET",
      { { "GET", omni_admin_customer_get, OMNI_ADMIN_Q_LIMIT, 0 } } },

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
};


static const char *const  omni_admin_merge_keys[] = { "into", NULL };
static const char *const  omni_admin_link_keys[] = { "customer", NULL };
static const char *const  omni_admin_rollback_keys[] = { "revision", NULL };
static const char *const  omni_admin_revoke_keys[] = {
    "kind", "value", "expires_at", "before", NULL
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
    omni_admin_param_t   params[7];

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


static int
omni_admin_hex(int c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }

    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }

    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }

    return -1;
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
            hi = (len - i >= 3) ? omni_admin_hex(s[i + 1]) : -1;
            lo = (len - i >= 3) ? omni_admin_hex(s[i + 2]) : -1;

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


/* handlers */

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


static int
omni_admin_session_get(omni_admin_ctx_t *ctx)
{
    int                   rc;
    omni_store_session_t  s;

    rc = omni_store_session_get(ctx->st, ctx->seg[1], &s, ctx->err);
    if (rc != OMNI_STORE_OK) {
        return omni_admin_store_fail(ctx, rc, 0);
    }

    return omni_admin_reply(ctx, 200, omni_admin_session_json(&s), 0);
}


/*
 * Revokes the session: tokens naming it are refused from now on, and the
 * store drops its record.  An unknown id is revoked all the same: a token
 * may name a session that was purged.
 */
static int
omni_admin_session_revoke(omni_admin_ctx_t *ctx)
{
    int      rc, failed;
    json_t  *answer;

    rc = omni_store_revoke_session(ctx->st, ctx->seg[1], ctx->req->now,
                                   ctx->err);
    if (rc != OMNI_STORE_OK) {
        return omni_admin_store_fail(ctx, rc, 0);
    }

    omni_admin_audit(ctx, "revoke session %s", ctx->seg[1]);

    failed = 0;
    answer = json_object();
    omni_admin_set(answer, "session", omni_admin_str(ctx->seg[1]), &failed);
    omni_admin_set(answer, "revoked", json_true(), &failed);

    return omni_admin_reply(ctx, 200, answer, failed);
}


/*
 * A customer exists only through its records, so one is unknown (404)
 * unless it was merged into another or holds an identity, a session or
 * a journey event.  The lists are its own records: after a merge its
 * identities are the survivor's (ask for that one), its sessions stay.
 */
static int
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
static int
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


static int
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


static int
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
static int
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


static int
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
static int
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


static int
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


/*
 * With kind: one page of that kind.  Without: the first page of each
 * kind, keyed by kind, each as the answer with that kind would be, so a
 * client follows each "next" with kind set ("after" needs kind).
 */
static int
omni_admin_revocations_get(omni_admin_ctx_t *ctx)
{
    int      rc, kind, failed;
    json_t  *answer, *page;

    kind = OMNI_STORE_REVOKED_NONE;

    if (ctx->given & OMNI_ADMIN_Q_KIND) {
        kind = omni_admin_kind(ctx->kind);
        if (kind == OMNI_STORE_REVOKED_NONE) {
            return omni_admin_fail(ctx, 400, "invalid_argument",
                                   "query parameter \"kind\" must be jti, "
                                   "session or subject");
        }

    } else if (ctx->given & OMNI_ADMIN_Q_AFTER) {
        return omni_admin_fail(ctx, 400, "invalid_argument",
                               "query parameter \"after\" needs \"kind\"");
    }

    rc = OMNI_STORE_OK;

    if (kind != OMNI_STORE_REVOKED_NONE) {
        page = omni_admin_revocations_page(ctx, kind,
                                           (ctx->given & OMNI_ADMIN_Q_AFTER)
                                           ? ctx->after : NULL, &rc);
        if (rc != OMNI_STORE_OK) {
            return omni_admin_store_fail(ctx, rc, 0);
        }

        return omni_admin_reply(ctx, 200, page, 0);
    }

    if (omni_admin_snapshot(ctx) != OMNI_ADMIN_GO) {
        return OMNI_ADMIN_STOP;
    }

    failed = 0;
    answer = json_object();

    for (kind = OMNI_STORE_REVOKED_JTI; kind <= OMNI_STORE_REVOKED_SUBJECT;
         kind++)
    {
        page = omni_admin_revocations_page(ctx, kind, NULL, &rc);
        if (rc != OMNI_STORE_OK) {
            break;
        }

        omni_admin_set(answer, omni_admin_kind_name(kind), page, &failed);
    }

    omni_store_read_end(ctx->st);

    if (rc != OMNI_STORE_OK) {
        json_decref(answer);
        return omni_admin_store_fail(ctx, rc, 0);
    }

    return omni_admin_reply(ctx, 200, answer, failed);
}


static int
omni_admin_revocation_post(omni_admin_ctx_t *ctx)
{
    int                      rc, kind, has_expires, has_before;
    char                     t[OMNI_ADMIN_TIME_LEN];
    int64_t                  expires_at, before;
    const char              *kind_name, *value;
    omni_store_revocation_t  r;

    if (omni_admin_body_keys(ctx, omni_admin_revoke_keys) != OMNI_ADMIN_GO
        || omni_admin_body_string(ctx, "kind", 1, &kind_name)
           != OMNI_ADMIN_GO
        || omni_admin_body_string(ctx, "value", 1, &value) != OMNI_ADMIN_GO
        || omni_admin_body_time(ctx, "expires_at", &expires_at, &has_expires)
           != OMNI_ADMIN_GO
        || omni_admin_body_time(ctx, "before", &before, &has_before)
           != OMNI_ADMIN_GO)
    {
        return OMNI_ADMIN_STOP;
    }

    kind = omni_admin_kind(kind_name);
    if (kind == OMNI_STORE_REVOKED_NONE) {
        return omni_admin_fail(ctx, 400, "invalid_argument",
                               "\"kind\" must be jti, session or subject");
    }

    if (has_expires && kind != OMNI_STORE_REVOKED_JTI) {
        return omni_admin_fail(ctx, 400, "invalid_argument",
                               "\"expires_at\" applies to kind jti only");
    }

    if (has_before && kind != OMNI_STORE_REVOKED_SUBJECT) {
        return omni_admin_fail(ctx, 400, "invalid_argument",
                               "\"before\" applies to kind subject only");
    }

    switch (kind) {
    case OMNI_STORE_REVOKED_JTI:
        r.time = has_expires ? expires_at : 0;
        rc = omni_store_revoke_jti(ctx->st, value, r.time, ctx->err);
        break;
    case OMNI_STORE_REVOKED_SESSION:
        r.time = ctx->req->now;
        rc = omni_store_revoke_session(ctx->st, value, r.time, ctx->err);
        break;
    default:
        r.time = has_before ? before : ctx->req->now;
        rc = omni_store_revoke_subject_before(ctx->st, value, r.time,
                                              ctx->err);
        break;
    }

    if (rc != OMNI_STORE_OK) {
        return omni_admin_store_fail(ctx, rc, 0);
    }

    omni_admin_time_text(t, sizeof(t), r.time, 0);

    if (kind == OMNI_STORE_REVOKED_SUBJECT) {
        omni_admin_audit(ctx, "revoke subject %s before %s", value, t);

    } else if (kind == OMNI_STORE_REVOKED_JTI && r.time > 0) {
        omni_admin_audit(ctx, "revoke jti %s until %s", value, t);

    } else {
        omni_admin_audit(ctx, "revoke %s %s", kind_name, value);
    }

    r.kind = kind;
    snprintf(r.value, sizeof(r.value), "%s", value);

    return omni_admin_reply(ctx, 201, omni_admin_revocation_json(&r), 0);
}


static int
omni_admin_revocation_delete(omni_admin_ctx_t *ctx)
{
    int      rc, kind, failed;
    json_t  *answer;

    kind = omni_admin_kind(ctx->seg[1]);
    if (kind == OMNI_STORE_REVOKED_NONE) {
        return omni_admin_fail(ctx, 400, "invalid_argument",
                               "the kind must be jti, session or subject");
    }

    rc = omni_store_revocation_remove(ctx->st, kind, ctx->seg[2], ctx->err);
    if (rc != OMNI_STORE_OK) {
        return omni_admin_store_fail(ctx, rc, 0);
    }

    omni_admin_audit(ctx, "remove revocation of %s %s", ctx->seg[1],
                     ctx->seg[2]);

    failed = 0;
    answer = json_object();
    omni_admin_set(answer, "kind", omni_admin_str(ctx->seg[1]), &failed);
    omni_admin_set(answer, "value", omni_admin_str(ctx->seg[2]), &failed);
    omni_admin_set(answer, "removed", json_true(), &failed);

    return omni_admin_reply(ctx, 200, answer, failed);
}


/* policy */

static int
omni_admin_policy_get(omni_admin_ctx_t *ctx)
{
    return omni_admin_policy_answer(ctx, 0);
}


static int
omni_admin_policy_revision(omni_admin_ctx_t *ctx)
{
    uint32_t  rev;

    if (omni_admin_revision(ctx->seg[2], &rev) != 0) {
        return omni_admin_fail(ctx, 400, "invalid_argument",
                               "the revision must be an integer from 1 to "
                               "%" PRIu32, UINT32_MAX);
    }

    return omni_admin_policy_answer(ctx, rev);
}


/*
 * The body is the policy: compiled to check it, then stored as it came,
 * byte for byte.  The note, if any, comes in the query.
 */
static int
omni_admin_policy_put(omni_admin_ctx_t *ctx)
{
    int        rc, failed;
    json_t    *answer;
    uint32_t   rev;

    if (omni_admin_policy_check(ctx, ctx->req->body, ctx->req->body_len, 0)
        != OMNI_ADMIN_GO)
    {
        return OMNI_ADMIN_STOP;
    }

    rc = omni_store_policy_put(ctx->st, ctx->req->body, ctx->req->body_len,
                               omni_admin_actor(ctx),
                               (ctx->given & OMNI_ADMIN_Q_NOTE)
                               ? ctx->note : "",
                               ctx->req->now, &rev, ctx->err);
    if (rc != OMNI_STORE_OK) {
        return omni_admin_store_fail(ctx, rc, 0);
    }

    omni_admin_audit(ctx, "policy revision %" PRIu32 " (put)", rev);

    failed = 0;
    answer = json_object();
    omni_admin_set(answer, "revision", json_integer((json_int_t) rev),
                   &failed);

    return omni_admin_reply(ctx, 201, answer, failed);
}


static int
omni_admin_policy_revisions(omni_admin_ctx_t *ctx)
{
    int                        rc, failed;
    size_t                     i, n;
    json_t                    *answer, *list, *o;
    uint32_t                   before;
    omni_store_policy_info_t  *infos;

    before = 0;

    if ((ctx->given & OMNI_ADMIN_Q_BEFORE)
        && omni_admin_revision(ctx->before, &before) != 0)
    {
        return omni_admin_fail(ctx, 400, "invalid_argument",
                               "query parameter \"before\" must be a "
                               "revision, the \"next\" of a page");
    }

    infos = malloc((ctx->limit + 1) * sizeof(omni_store_policy_info_t));
    if (infos == NULL) {
        ctx->nomem = 1;
        return OMNI_ADMIN_STOP;
    }

    rc = omni_store_policy_list(ctx->st, before, infos, ctx->limit + 1, &n,
                                ctx->err);
    if (rc != OMNI_STORE_OK) {
        free(infos);
        return omni_admin_store_fail(ctx, rc, 0);
    }

    failed = 0;
    list = json_array();

    for (i = 0; i < n && i < ctx->limit; i++) {
        o = json_object();
        omni_admin_set(o, "revision", json_integer((json_int_t) infos[i].rev),
                       &failed);
        omni_admin_set(o, "time", omni_admin_time(infos[i].time, 0),
                       &failed);
        omni_admin_set(o, "author", omni_admin_str(infos[i].author),
                       &failed);
        omni_admin_set(o, "note", omni_admin_str(infos[i].note), &failed);
        omni_admin_set(o, "size", json_integer((json_int_t) infos[i].len),
                       &failed);
        omni_admin_append(list, o, &failed);
    }

    answer = json_object();
    omni_admin_set(answer, "revisions", list, &failed);
    omni_admin_set(answer, "next",
                   n > ctx->limit
                   ? json_integer((json_int_t) infos[ctx->limit - 1].rev)
                   : json_null(),
                   &failed);

    free(infos);

    return omni_admin_reply(ctx, 200, answer, failed);
}


/*
 * A new revision with the policy of an old one.  The old one is compiled
 * again: a policy this build no longer accepts is not brought back.
 */
static int
omni_admin_policy_rollback(omni_admin_ctx_t *ctx)
{
    int          rc, failed;
    char         note[64], *json;
    size_t       len;
    json_t      *v, *answer;
    uint32_t     from, rev;
    json_int_t   n;

    if (omni_admin_body_keys(ctx, omni_admin_rollback_keys) != OMNI_ADMIN_GO)
    {
        return OMNI_ADMIN_STOP;
    }

    v = json_object_get(ctx->body, "revision");
    if (v == NULL) {
        return omni_admin_fail(ctx, 400, "invalid_argument",
                               "\"revision\" is missing");
    }

    n = json_is_integer(v) ? json_integer_value(v) : 0;

    if (n < 1 || n > (json_int_t) UINT32_MAX) {
        return omni_admin_fail(ctx, 400, "invalid_argument",
                               "\"revision\" must be an integer from 1 to "
                               "%" PRIu32, UINT32_MAX);
    }

    from = (uint32_t) n;

    rc = omni_store_policy_get(ctx->st, from, &json, &len, NULL, ctx->err);
    if (rc != OMNI_STORE_OK) {
        return omni_admin_store_fail(ctx, rc, 0);
    }

    if (omni_admin_policy_check(ctx, json, len, from) != OMNI_ADMIN_GO) {
        free(json);
        return OMNI_ADMIN_STOP;
    }

    snprintf(note, sizeof(note), "rollback to %" PRIu32, from);

    rc = omni_store_policy_put(ctx->st, json, len, omni_admin_actor(ctx),
                               note, ctx->req->now, &rev, ctx->err);
    free(json);

    if (rc != OMNI_STORE_OK) {
        return omni_admin_store_fail(ctx, rc, 0);
    }

    omni_admin_audit(ctx, "policy revision %" PRIu32 " (rollback to %"
                     PRIu32 ")", rev, from);

    failed = 0;
    answer = json_object();
    omni_admin_set(answer, "revision", json_integer((json_int_t) rev),
                   &failed);

    return omni_admin_reply(ctx, 201, answer, failed);
}


/* the engine's summary of two revisions, read from one snapshot */
static int
omni_admin_policy_diff(omni_admin_ctx_t *ctx)
{
    int                        rc, failed;
    char                      *a, *b, *text;
    size_t                     alen, blen;
    json_t                    *diff, *answer;
    uint32_t                   from, to;
    json_error_t               jerr;
    omni_store_policy_info_t   info;

    if (!(ctx->given & OMNI_ADMIN_Q_FROM)) {
        return omni_admin_fail(ctx, 400, "invalid_argument",
                               "GET /policy/diff needs query parameter "
                               "\"from\"");
    }

    to = 0;

    if (omni_admin_revision(ctx->from, &from) != 0
        || ((ctx->given & OMNI_ADMIN_Q_TO)
            && omni_admin_revision(ctx->to, &to) != 0))
    {
        return omni_admin_fail(ctx, 400, "invalid_argument",
                               "query parameters \"from\" and \"to\" must "
                               "be integers from 1 to %" PRIu32,
                               UINT32_MAX);
    }

    if (omni_admin_snapshot(ctx) != OMNI_ADMIN_GO) {
        return OMNI_ADMIN_STOP;
    }

    b = NULL;
    blen = 0;

    rc = omni_store_policy_get(ctx->st, from, &a, &alen, NULL, ctx->err);
    if (rc == OMNI_STORE_OK) {
        rc = omni_store_policy_get(ctx->st, to, &b, &blen, &info, ctx->err);
    }

    omni_store_read_end(ctx->st);

    if (rc != OMNI_STORE_OK) {
        free(a);
        return omni_admin_store_fail(ctx, rc, 0);
    }

    to = info.rev;

    text = omni_policy_diff(a, alen, b, blen);

    if (text == NULL) {
        /* one that no longer compiles says so; else memory ran out */
        if (omni_admin_policy_check(ctx, a, alen, from) == OMNI_ADMIN_GO
            && omni_admin_policy_check(ctx, b, blen, to) == OMNI_ADMIN_GO)
        {
            ctx->nomem = 1;
        }

        free(a);
        free(b);
        return OMNI_ADMIN_STOP;
    }

    free(a);
    free(b);

    memset(&jerr, 0, sizeof(json_error_t));
    diff = json_loads(text, JSON_REJECT_DUPLICATES, &jerr);
    free(text);

    if (diff == NULL && omni_admin_load_nomem(&jerr)) {
        ctx->nomem = 1;
        return OMNI_ADMIN_STOP;
    }

    if (!json_is_object(diff)) {
        json_decref(diff);
        return omni_admin_fail(ctx, 500, "store_error", "the diff of "
                               "revisions %" PRIu32 " and %" PRIu32 " is "
                               "not a JSON object", from, to);
    }

    failed = 0;
    answer = json_object();
    omni_admin_set(answer, "from", json_integer((json_int_t) from), &failed);
    omni_admin_set(answer, "to", json_integer((json_int_t) to), &failed);

    if (answer != NULL && json_object_update(answer, diff) != 0) {
        failed = 1;
    }

    json_decref(diff);

    return omni_admin_reply(ctx, 200, answer, failed);
}


/* answers */

/* NULL when memory ran out */
static json_t *
omni_admin_session_json(const omni_store_session_t *s)
{
    int            failed;
    unsigned       i;
    json_t        *o, *channels, *context;
    json_error_t   jerr;

    failed = 0;
    channels = json_array();

    for (i = 0; i < s->nchannels && i < OMNI_STORE_CHANNELS; i++) {
        omni_admin_append(channels, omni_admin_str(s->channels[i]), &failed);
    }

    /* the store checks contexts on write: null means a damaged record */
    if (s->context_len == 0) {
        context = json_object();

    } else {
        memset(&jerr, 0, sizeof(json_error_t));
        context = json_loadb(s->context, s->context_len,
                             JSON_REJECT_DUPLICATES, &jerr);

        if (context == NULL && omni_admin_load_nomem(&jerr)) {
            failed = 1;

        } else if (!json_is_object(context)) {
            json_decref(context);
            context = json_null();
        }
    }

    o = json_object();
    omni_admin_set(o, "id", omni_admin_str(s->id), &failed);
    omni_admin_set(o, "customer", omni_admin_str_or_null(s->customer),
                   &failed);
    omni_admin_set(o, "created_at", omni_admin_time(s->created, 0), &failed);
    omni_admin_set(o, "last_seen_at", omni_admin_time(s->last_seen, 0),
                   &failed);
    omni_admin_set(o, "channels", channels, &failed);
    omni_admin_set(o, "context", context, &failed);

    if (failed) {
        json_decref(o);
        return NULL;
    }

    return o;
}


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


static json_t *
omni_admin_revocation_json(const omni_store_revocation_t *r)
{
    int      failed;
    json_t  *o;

    failed = 0;
    o = json_object();
    omni_admin_set(o, "kind", json_string(omni_admin_kind_name(r->kind)),
                   &failed);
    omni_admin_set(o, "value", omni_admin_str(r->value), &failed);
    omni_admin_set(o, "time",
                   (r->kind == OMNI_STORE_REVOKED_JTI && r->time == 0)
                   ? json_null() : omni_admin_time(r->time, 0),
                   &failed);

    if (failed) {
        json_decref(o);
        return NULL;
    }

    return o;
}


/*
 * One page of revocations of kind as {"revocations", "next"}.  NULL with
 * *rc set when the store fails, NULL with *rc OMNI_STORE_OK when memory
 * ran out.
 */
static json_t *
omni_admin_revocations_page(omni_admin_ctx_t *ctx, int kind,
    const char *after, int *rc)
{
    int                       failed;
    size_t                    i, n;
    json_t                   *page, *list;
    omni_store_revocation_t  *recs;

    recs = malloc((ctx->limit + 1) * sizeof(omni_store_revocation_t));
    if (recs == NULL) {
        *rc = OMNI_STORE_OK;
        return NULL;
    }

    *rc = omni_store_revocations_list(ctx->st, kind, after, recs,
                                      ctx->limit + 1, &n, ctx->err);
    if (*rc != OMNI_STORE_OK) {
        free(recs);
        return NULL;
    }

    failed = 0;
    list = json_array();

    for (i = 0; i < n && i < ctx->limit; i++) {
        omni_admin_append(list, omni_admin_revocation_json(&recs[i]),
                          &failed);
    }

    page = json_object();
    omni_admin_set(page, "revocations", list, &failed);
    omni_admin_set(page, "next",
                   n > ctx->limit
                   ? omni_admin_str(recs[ctx->limit - 1].value) : json_null(),
                   &failed);

    free(recs);

    if (failed) {
        json_decref(page);
        return NULL;
    }

    return page;
}


/* {"revision", "time", "author", "note", "policy"} of rev (0: current) */
static int
omni_admin_policy_answer(omni_admin_ctx_t *ctx, uint32_t rev)
{
    int                        rc, failed;
    char                      *json;
    size_t                     len;
    json_t                    *answer, *policy;
    json_error_t               jerr;
    omni_store_policy_info_t   info;

    rc = omni_store_policy_get(ctx->st, rev, &json, &len, &info, ctx->err);
    if (rc != OMNI_STORE_OK) {
        return omni_admin_store_fail(ctx, rc, 0);
    }

    memset(&jerr, 0, sizeof(json_error_t));
    policy = json_loadb(json, len, OMNI_ADMIN_LOAD, &jerr);
    free(json);

    if (policy == NULL && omni_admin_load_nomem(&jerr)) {
        ctx->nomem = 1;
        return OMNI_ADMIN_STOP;
    }

    /* written through the admin API it was JSON: an import or damage */
    if (policy == NULL) {
        return omni_admin_fail(ctx, 500, "store_error", "policy revision %"
                               PRIu32 " is not JSON: %s", info.rev,
                               jerr.text);
    }

    failed = 0;
    answer = json_object();
    omni_admin_set(answer, "revision", json_integer((json_int_t) info.rev),
                   &failed);
    omni_admin_set(answer, "time", omni_admin_time(info.time, 0), &failed);
    omni_admin_set(answer, "author", omni_admin_str(info.author), &failed);
    omni_admin_set(answer, "note", omni_admin_str(info.note), &failed);
    omni_admin_set(answer, "policy", policy, &failed);

    return omni_admin_reply(ctx, 200, answer, failed);
}


/*
 * 422 policy_invalid with every error of a policy that does not compile,
 * one a line of errors (freed here).  rev names a stored revision being
 * checked again, 0 the body.  The engine lists OMNI_POLICY_ERRORS_MAX
 * errors and counts the rest in a last line, "N more errors not listed":
 * the message counts them all.
 */
static int
omni_admin_policy_invalid(omni_admin_ctx_t *ctx, char *errors, uint32_t rev)
{
    int      failed, end;
    char    *p, *nl, msg[OMNI_ADMIN_MSG_MAX];
    size_t   n, more;
    json_t  *answer, *list;

    failed = 0;
    n = 0;
    list = json_array();

    for (p = errors; *p != '\0'; p = nl + 1) {
        nl = strchr(p, '\n');
        if (nl != NULL) {
            *nl = '\0';
        }

        if (*p != '\0') {
            omni_admin_append(list, omni_admin_str(p), &failed);

            end = 0;

            if (sscanf(p, "%zu more errors not listed%n", &more, &end) == 1
                && end > 0 && p[end] == '\0')
            {
                n += more;

            } else {
                n++;
            }
        }

        if (nl == NULL) {
            break;
        }
    }

    free(errors);

    if (rev == 0) {
        snprintf(msg, sizeof(msg), "%zu error%s", n, n == 1 ? "" : "s");

    } else {
        snprintf(msg, sizeof(msg), "revision %" PRIu32 " is not a valid "
                 "policy: %zu error%s", rev, n, n == 1 ? "" : "s");
    }

    answer = json_object();
    omni_admin_set(answer, "error", json_string("policy_invalid"), &failed);
    omni_admin_set(answer, "message", json_string(msg), &failed);
    omni_admin_set(answer, "errors", list, &failed);

    return omni_admin_reply(ctx, 422, answer, failed);
}


/* GO for a policy that compiles; else the answer is set */
static int
omni_admin_policy_check(omni_admin_ctx_t *ctx, const char *json, size_t len,
    uint32_t rev)
{
    char           *errors;
    omni_policy_t  *p;

    errors = NULL;

    p = omni_policy_compile(json, len, &errors);

    if (p != NULL) {
        omni_policy_free(p);
        free(errors);
        return OMNI_ADMIN_GO;
    }

    if (errors == NULL) {
        ctx->nomem = 1;
        return OMNI_ADMIN_STOP;
    }

    return omni_admin_policy_invalid(ctx, errors, rev);
}


/* who a revision is written by: the token's subject, omnictl's user */
static const char *
omni_admin_actor(omni_admin_ctx_t *ctx)
{
    if (ctx->req->actor == NULL || ctx->req->actor[0] == '\0') {
        return "-";
    }

    return ctx->req->actor;
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


/* decimal digits without sign or leading zeros, 1 to UINT32_MAX */
static int
omni_admin_revision(const char *s, uint32_t *rev)
{
    size_t    i;
    uint64_t  v;

    v = 0;

    for (i = 0; s[i] >= '0' && s[i] <= '9'; i++) {
        if (i == 10) {
            return -1;
        }

        v = v * 10 + (uint64_t) (s[i] - '0');
    }

    if (i == 0 || s[i] != '\0' || s[0] == '0' || v > UINT32_MAX) {
        return -1;
    }

    *rev = (uint32_t) v;

    return 0;
}


static int
omni_admin_kind(const char *name)
{
    int  kind;

    for (kind = OMNI_STORE_REVOKED_JTI; kind <= OMNI_STORE_REVOKED_SUBJECT;
         kind++)
    {
        if (strcmp(name, omni_admin_kind_name(kind)) == 0) {
            return kind;
        }
    }

    return OMNI_STORE_REVOKED_NONE;
}


static const char *
omni_admin_kind_name(int kind)
{
    switch (kind) {
    case OMNI_STORE_REVOKED_JTI:
        return "jti";
    case OMNI_STORE_REVOKED_SESSION:
        return "session";
    case OMNI_STORE_REVOKED_SUBJECT:
        return "subject";
    default:
        return "none";
    }
}


static int
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


static int
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
static int
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


/* the store's rules for ids, so that a refusal later is not about names */
static int
omni_admin_check_id(omni_admin_ctx_t *ctx, const char *what, const char *s,
    size_t max)
{
    size_t  i;

    for (i = 0; i <= max && s[i] != '\0'; i++) {
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z')
              || (s[i] >= '0' && s[i] <= '9') || s[i] == '_' || s[i] == '-'))
        {
            break;
        }
    }

    if (i == 0 || i > max || s[i] != '\0') {
        return omni_admin_fail(ctx, 400, "invalid_argument",
                               "%s is not [A-Za-z0-9_-]{1,%zu}", what, max);
    }

    return OMNI_ADMIN_GO;
}


static int
omni_admin_check_text(omni_admin_ctx_t *ctx, const char *what,
    const char *s, size_t max)
{
    size_t          i;
    unsigned char   c;

    for (i = 0; i <= max && s[i] != '\0'; i++) {
        c = (unsigned char) s[i];

        if (c <= ' ' || c == 0x7f) {
            break;
        }
    }

    if (i == 0 || i > max || s[i] != '\0') {
        return omni_admin_fail(ctx, 400, "invalid_argument",
                               "%s must be 1 to %zu bytes without spaces or "
                               "control characters", what, max);
    }

    return OMNI_ADMIN_GO;
}


/* answering */

/* one read snapshot for handlers that read more than once */
static int
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


static int
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


static int
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
static int
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
static void
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
static int
omni_admin_load_nomem(const json_error_t *jerr)
{
    return jerr->text[0] == '\0'
           || json_error_code(jerr) == json_error_out_of_memory;
}


static void
omni_admin_set(json_t *obj, const char *key, json_t *v, int *failed)
{
    /* takes v even on failure, and fails on a NULL obj or v */
    if (json_object_set_new(obj, key, v) != 0) {
        *failed = 1;
    }
}


static void
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
static json_t *
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


static json_t *
omni_admin_str_or_null(const char *s)
{
    return (s[0] == '\0') ? json_null() : omni_admin_str(s);
}


/*
 * RFC 3339 UTC.  A time past year 9999 (never one of ours: request times
 * are bounded) reads as its last second, four-digit years being all that
 * RFC 3339 has.
 */
static void
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


static json_t *
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
