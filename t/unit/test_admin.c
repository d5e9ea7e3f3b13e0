/*
 * Copyright (C) The omni gateway authors
 *
 * Unit tests of the admin API against a real store: every route, every
 * error code, pagination and the audit lines.  Answers are parsed with
 * jansson and compared as JSON; key order is checked only where it is
 * defined (the stats' databases).  Every test gets a fresh directory
 * under one mkdtemp() directory that the group teardown removes.
 */


#define _GNU_SOURCE

#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "test_tmpdir.h"

#include <jansson.h>

#include "omni_admin.h"
#include "omni_store.h"


#define TEST_BASE_LEN      200
#define TEST_DIR_LEN       256
#define TEST_MAP_MAX       ((size_t) 64 * 1024 * 1024)
#define TEST_NOW           1795543200        /* 2026-11-24T18:00:00Z */
#define TEST_NOW_TEXT      "2026-11-24T18:00:00Z"
#define TEST_NOW_MS        (INT64_C(1795543200) * 1000)


typedef struct {
    char                  dir[TEST_DIR_LEN];
    omni_store_t         *st;
    omni_admin_result_t   res;
    json_t               *json;          /* the last answer, parsed */
    const char           *actor;         /* of the next requests */
    char                  last[512];     /* the last request, for failures */
} test_ctx_t;


static char    test_base[TEST_BASE_LEN];
static size_t  test_allocs_left;        /* jansson allocations that pass */


/* fixtures */


static int
test_group_setup(void **state)
{
    (void) state;

    return test_tmpdir_make(test_base, sizeof(test_base), "admin");
}


static int
test_group_teardown(void **state)
{
    (void) state;

    return test_tmpdir_remove(test_base);
}


static int
test_open(test_ctx_t *ctx, size_t map_max)
{
    char  err[OMNI_ERRLEN];

    ctx->st = omni_store_open(ctx->dir, map_max, OMNI_STORE_SYNC_NONE, err);
    if (ctx->st == NULL) {
        fprintf(stderr, "%s\n", err);
        return -1;
    }

    return 0;
}


static int
test_setup(void **state)
{
    test_ctx_t  *ctx;

    ctx = calloc(1, sizeof(test_ctx_t));
    if (ctx == NULL) {
        return -1;
    }

    snprintf(ctx->dir, sizeof(ctx->dir), "%s/t-XXXXXX", test_base);

    if (mkdtemp(ctx->dir) == NULL || test_open(ctx, TEST_MAP_MAX) != 0) {
        free(ctx);
        return -1;
    }

    *state = ctx;

    return 0;
}


static int
test_teardown(void **state)
{
    test_ctx_t  *ctx;

    ctx = *state;

    omni_admin_result_free(&ctx->res);
    json_decref(ctx->json);
    omni_store_close(ctx->st);
    test_tmpdir_remove(ctx->dir);
    free(ctx);

    return 0;
}


/* requests */

/*
 * One request: target is the path with an optional "?query".  The answer
 * must be a JSON object whatever the status; it is kept in ctx until the
 * next request.
 */
static json_t *
test_call(test_ctx_t *ctx, const char *method, const char *target,
    const char *body, size_t body_len)
{
    const char            *q;
    json_error_t           jerr;
    omni_admin_request_t   req;

    omni_admin_result_free(&ctx->res);
    json_decref(ctx->json);
    ctx->json = NULL;

    snprintf(ctx->last, sizeof(ctx->last), "%s %s", method, target);

    memset(&req, 0, sizeof(omni_admin_request_t));
    req.method = method;

    q = strchr(target, '?');
    req.path = target;
    req.path_len = (q != NULL) ? (size_t) (q - target) : strlen(target);
    req.query = (q != NULL) ? q + 1 : NULL;
    req.query_len = (q != NULL) ? strlen(q + 1) : 0;
    req.body = body;
    req.body_len = body_len;
    req.now = TEST_NOW;
    req.actor = ctx->actor;

    assert_int_equal(omni_admin_handle(ctx->st, &req, &ctx->res), 0);
    assert_non_null(ctx->res.body);
    assert_int_equal(strlen(ctx->res.body), ctx->res.body_len);

    ctx->json = json_loadb(ctx->res.body, ctx->res.body_len,
                           JSON_REJECT_DUPLICATES, &jerr);
    if (ctx->json == NULL) {
        fprintf(stderr, "%s: %s: %s\n", ctx->last, ctx->res.body, jerr.text);
    }

    assert_non_null(ctx->json);
    assert_true(json_is_object(ctx->json));

    /* compact: no space outside strings in what we write */
    if (strstr(ctx->res.body, "\": ") != NULL
        || strstr(ctx->res.body, ", \"") != NULL)
    {
        fail_msg("%s: not compact: %s", ctx->last, ctx->res.body);
    }

    return ctx->json;
}


static json_t *
test_req(test_ctx_t *ctx, const char *method, const char *target)
{
    return test_call(ctx, method, target, NULL, 0);
}


static json_t *
test_send(test_ctx_t *ctx, const char *method, const char *target,
    const char *body)
{
    return test_call(ctx, method, target, body, strlen(body));
}


/* the last answer had this status and equals expect as JSON */
static void
test_expect(test_ctx_t *ctx, unsigned status, const char *expect)
{
    json_t        *e;
    json_error_t   jerr;

    e = json_loads(expect, 0, &jerr);
    if (e == NULL) {
        fail_msg("bad expectation %s: %s", expect, jerr.text);
    }

    if (ctx->res.status != status || !json_equal(e, ctx->json)) {
        fprintf(stderr, "%s\n  got  %u %s\n  want %u %s\n", ctx->last,
                ctx->res.status, ctx->res.body, status, expect);
    }

    assert_int_equal(ctx->res.status, status);
    assert_true(json_equal(e, ctx->json));

    json_decref(e);
}


/*
 * The last answer was an error: status, code, a message holding part
 * (when not NULL), nothing else, and no audit line.
 */
static void
test_expect_error(test_ctx_t *ctx, unsigned status, const char *code,
    const char *part)
{
    const char  *msg;

    if (ctx->res.status != status) {
        fprintf(stderr, "%s\n  got  %u %s\n  want %u %s\n", ctx->last,
                ctx->res.status, ctx->res.body, status, code);
    }

    assert_int_equal(ctx->res.status, status);
    assert_int_equal(json_object_size(ctx->json), 2);
    assert_string_equal(json_string_value(json_object_get(ctx->json,
                                                          "error")),
                        code);

    msg = json_string_value(json_object_get(ctx->json, "message"));
    assert_non_null(msg);
    assert_true(msg[0] != '\0');

    if (part != NULL && strstr(msg, part) == NULL) {
        fail_msg("%s: message \"%s\" lacks \"%s\"", ctx->last, msg, part);
    }

    assert_null(ctx->res.audit);
}


static void
test_expect_audit(test_ctx_t *ctx, const char *audit)
{
    if (ctx->res.audit == NULL || strcmp(ctx->res.audit, audit) != 0) {
        fail_msg("%s: audit \"%s\", want \"%s\"", ctx->last,
                 ctx->res.audit != NULL ? ctx->res.audit : "(null)", audit);
    }
}


static const char *
test_member(test_ctx_t *ctx, const char *key)
{
    return json_string_value(json_object_get(ctx->json, key));
}


/* store fixtures */

static void
test_put_session(test_ctx_t *ctx, const char *id, const char *customer,
    const char *context)
{
    char                  err[OMNI_ERRLEN];
    omni_store_session_t  s;

    memset(&s, 0, sizeof(omni_store_session_t));
    snprintf(s.id, sizeof(s.id), "%s", id);
    snprintf(s.customer, sizeof(s.customer), "%s", customer);
    s.created = TEST_NOW - 60;
    s.last_seen = TEST_NOW;
    s.nchannels = 2;
    snprintf(s.channels[0], sizeof(s.channels[0]), "web");
    snprintf(s.channels[1], sizeof(s.channels[1]), "app");
    s.context_len = strlen(context);
    memcpy(s.context, context, s.context_len + 1);

    if (omni_store_session_put(ctx->st, &s, err) != OMNI_STORE_OK) {
        fail_msg("session_put %s: %s", id, err);
    }
}


static void
test_link(test_ctx_t *ctx, const char *type, const char *value,
    const char *customer)
{
    char  err[OMNI_ERRLEN];

    if (omni_store_identity_link(ctx->st, type, value, customer, err)
        != OMNI_STORE_OK)
    {
        fail_msg("identity_link %s:%s: %s", type, value, err);
    }
}


static void test_append_dispatched(test_ctx_t *ctx, const char *customer,
    int64_t time_ms, const char *action, const char *session,
    const char *pool, const char *rule, const char *intent);


static void
test_append(test_ctx_t *ctx, const char *customer, int64_t time_ms,
    const char *action, const char *session)
{
    test_append_dispatched(ctx, customer, time_ms, action, session, "", "",
                           "");
}


/* an event of a request the dispatch sent to pool by rule ("": none) */
static void
test_append_dispatched(test_ctx_t *ctx, const char *customer,
    int64_t time_ms, const char *action, const char *session,
    const char *pool, const char *rule, const char *intent)
{
    char                  err[OMNI_ERRLEN];
    omni_store_journey_t  ev;

    memset(&ev, 0, sizeof(omni_store_journey_t));
    ev.time_ms = time_ms;
    snprintf(ev.channel, sizeof(ev.channel), "web");
    snprintf(ev.action, sizeof(ev.action), "%s", action);
    snprintf(ev.outcome, sizeof(ev.outcome), "ok");
    snprintf(ev.session, sizeof(ev.session), "%s", session);
    snprintf(ev.pool, sizeof(ev.pool), "%s", pool);
    snprintf(ev.rule, sizeof(ev.rule), "%s", rule);
    snprintf(ev.intent, sizeof(ev.intent), "%s", intent);

    if (omni_store_journey_append(ctx->st, customer, &ev, 0, 0, err)
        != OMNI_STORE_OK)
    {
        fail_msg("journey_append %s: %s", customer, err);
    }
}


/* tests */

static void
test_stats(void **state)
{
    int          i;
    json_t      *entries, *v;
    test_ctx_t  *ctx;
    const char  *key;

    ctx = *state;

    test_put_session(ctx, "s1", "", "");
    test_req(ctx, "GET", "/stats");

    assert_int_equal(ctx->res.status, 200);
    assert_null(ctx->res.audit);
    assert_null(ctx->res.allow);

    /* the databases in omni_store_db_name() order */
    entries = json_object_get(ctx->json, "entries");
    assert_true(json_is_object(entries));
    assert_int_equal(json_object_size(entries), OMNI_STORE_DB_COUNT);

    i = 0;

    json_object_foreach(entries, key, v) {
        assert_string_equal(key, omni_store_db_name(i));
        assert_true(json_is_integer(v));
        i++;
    }

    assert_int_equal(json_integer_value(json_object_get(entries,
                                                        "sessions")), 1);
    assert_int_equal(json_integer_value(json_object_get(ctx->json,
                                                        "map_max")),
                     TEST_MAP_MAX);
    assert_true(json_integer_value(json_object_get(ctx->json, "map_used"))
                > 0);
    assert_true(json_integer_value(json_object_get(ctx->json, "map_size"))
                > 0);
    assert_true(json_integer_value(json_object_get(ctx->json, "last_txn"))
                > 0);
    assert_int_equal(json_object_size(ctx->json), 5);

    /* one trailing slash is tolerated */
    test_req(ctx, "GET", "/stats/");
    assert_int_equal(ctx->res.status, 200);
}


static void
test_unknown_route(void **state)
{
    test_ctx_t  *ctx;

    ctx = *state;

    test_req(ctx, "GET", "/nope");
    test_expect_error(ctx, 404, "unknown_route", "no route for GET /nope");
    assert_null(ctx->res.allow);

    test_req(ctx, "GET", "/");
    test_expect_error(ctx, 404, "unknown_route", NULL);

    test_req(ctx, "GET", "/stats/x");
    test_expect_error(ctx, 404, "unknown_route", NULL);

    test_req(ctx, "GET", "/identities/phone");
    test_expect_error(ctx, 404, "unknown_route", NULL);

    test_req(ctx, "GET", "/identities/phone/");
    test_expect_error(ctx, 404, "unknown_route", NULL);

    test_req(ctx, "GET", "/customers/c1/orders");
    test_expect_error(ctx, 404, "unknown_route", NULL);

    test_req(ctx, "GET", "/customers/c1/sessions/x/y/z");
    test_expect_error(ctx, 404, "unknown_route", NULL);

    test_req(ctx, "DELETE", "/sessions");
    test_expect_error(ctx, 404, "unknown_route", NULL);

    /* an unknown method on an unknown path: the path decides */
    test_req(ctx, "BREW", "/coffee");
    test_expect_error(ctx, 404, "unknown_route", NULL);
}


static void
test_method_not_allowed(void **state)
{
    size_t       i;
    test_ctx_t  *ctx;

    static const struct {
        const char  *method;
        const char  *target;
        const char  *allow;
    } cases[] = {
        { "POST", "/stats", "GET" },
        { "HEAD", "/stats", "GET" },
        { "PUT", "/sessions/s1", "GET, DELETE" },
        { "HEAD", "/sessions/s1", "GET, DELETE" },
        { "PUT", "/customers/c1", "GET, DELETE" },
        { "POST", "/customers/c1/sessions", "GET" },
        { "DELETE", "/customers/c1/identities", "GET" },
        { "PUT", "/customers/c1/journey", "GET" },
        { "GET", "/customers/c1/merge", "POST" },
        { "POST", "/identities/phone/123", "GET, PUT, DELETE" },
        { "PATCH", "/identities/phone/123", "GET, PUT, DELETE" },
        { "DELETE", "/revocations", "GET, POST" },
        { "HEAD", "/revocations", "GET, POST" },
        { "GET", "/revocations/jti/x", "DELETE" },
        { "get", "/stats", "GET" },
    };

    ctx = *state;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        test_req(ctx, cases[i].method, cases[i].target);
        test_expect_error(ctx, 405, "method_not_allowed", cases[i].allow);
        assert_non_null(ctx->res.allow);
        assert_string_equal(ctx->res.allow, cases[i].allow);
    }
}


static void
test_invalid_path(void **state)
{
    size_t       i;
    char         target[400];
    test_ctx_t  *ctx;

    static const char  *bad[] = {
        "",
        "stats",
        "//stats",
        "/stats//",
        "/sessions//s1",
        "/sessions/%zz",
        "/sessions/%4",
        "/sessions/s1%",
        "/sessions/a%00b",
        "/sessions/a%0ab",
        "/sessions/a%7fb",
        "/sessions/a\x01" "b",
        "/sessions/a%ffb",
        "/sessions/a%c0%afb",
        "/sessions/\xed\xa0\x80",
    };

    ctx = *state;

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        test_req(ctx, "GET", bad[i]);
        test_expect_error(ctx, 400, "invalid_path", NULL);
    }

    test_req(ctx, "GET", "/sessions/%zz");
    test_expect_error(ctx, 400, "invalid_path", "percent escape");

    test_req(ctx, "GET", "/sessions/a%0ab");
    test_expect_error(ctx, 400, "invalid_path", "control byte");

    test_req(ctx, "GET", "/sessions/a%ffb");
    test_expect_error(ctx, 400, "invalid_path", "not UTF-8");

    /* 255 bytes decoded is the most a segment holds */
    memcpy(target, "/identities/t/", 14);
    memset(target + 14, 'v', 255);
    target[14 + 255] = '\0';
    test_req(ctx, "GET", target);
    test_expect_error(ctx, 404, "not_found", NULL);

    memcpy(target + 14 + 254, "%41", 4);
    test_req(ctx, "GET", target);
    test_expect_error(ctx, 404, "not_found", NULL);

    memset(target + 14, 'v', 256);
    target[14 + 256] = '\0';
    test_req(ctx, "GET", target);
    test_expect_error(ctx, 400, "invalid_path", "longer than 255 bytes");

    /* decoding happens after the split: %2F stays in its segment */
    test_send(ctx, "PUT", "/identities/email/a%2Fb%40x", "{\"customer\":"
              "\"c1\"}");
    test_expect(ctx, 200, "{\"type\":\"email\",\"value\":\"a/b@x\","
                "\"customer\":\"c1\"}");

    /* "+" is a plus, in the path as in the query */
    test_send(ctx, "PUT", "/identities/phone/+8613800000000",
              "{\"customer\":\"c1\"}");
    test_expect(ctx, 200, "{\"type\":\"phone\",\"value\":\"+8613800000000\","
                "\"customer\":\"c1\"}");

    test_req(ctx, "GET", "/identities/phone/%2B8613800000000");
    test_expect(ctx, 200, "{\"type\":\"phone\",\"value\":\"+8613800000000\","
                "\"customer\":\"c1\"}");

    /* escapes in literal segments decode too */
    test_req(ctx, "GET", "/%73tats");
    assert_int_equal(ctx->res.status, 200);

    /* UTF-8 passes */
    test_send(ctx, "PUT", "/identities/name/%E5%BC%A0%E4%B8%89",
              "{\"customer\":\"c1\"}");
    test_expect(ctx, 200, "{\"type\":\"name\",\"value\":\"\\u5f20\\u4e09\","
                "\"customer\":\"c1\"}");
}


static void
test_query(void **state)
{
    size_t       i;
    test_ctx_t  *ctx;

    static const char  *bad_limit[] = {
        "0", "1001", "abc", "-1", "+5", "10x", "1e2", "99999", "%31%30x",
        " 5", "5 ",
    };

    ctx = *state;

    test_put_session(ctx, "s1", "c1", "");

    /* parameters a route does not take, known or not */
    test_req(ctx, "GET", "/customers/c1/sessions?foo=1");
    test_expect_error(ctx, 400, "invalid_argument", "\"foo\"");

    test_req(ctx, "GET", "/stats?limit=1");
    test_expect_error(ctx, 400, "invalid_argument", "\"limit\"");

    test_req(ctx, "GET", "/customers/c1/journey?after=x");
    test_expect_error(ctx, 400, "invalid_argument", "\"after\"");

    test_req(ctx, "DELETE", "/sessions/s1?kind=jti");
    test_expect_error(ctx, 400, "invalid_argument", "\"kind\"");

    test_req(ctx, "GET", "/customers/c1/sessions?limit=1&limit=2");
    test_expect_error(ctx, 400, "invalid_argument", "repeated");

    test_req(ctx, "GET", "/customers/c1/sessions?after=");
    test_expect_error(ctx, 400, "invalid_argument", "empty");

    test_req(ctx, "GET", "/customers/c1/sessions?after");
    test_expect_error(ctx, 400, "invalid_argument", "empty");

    test_req(ctx, "GET", "/customers/c1/sessions?after=%g0");
    test_expect_error(ctx, 400, "invalid_argument", "percent escape");

    test_req(ctx, "GET", "/customers/c1/sessions?after=a%09");
    test_expect_error(ctx, 400, "invalid_argument", "control byte");

    test_req(ctx, "GET", "/customers/c1/sessions?after=%fe");
    test_expect_error(ctx, 400, "invalid_argument", "not UTF-8");

    for (i = 0; i < sizeof(bad_limit) / sizeof(bad_limit[0]); i++) {
        char  target[64];

        snprintf(target, sizeof(target), "/customers/c1/sessions?limit=%s",
                 bad_limit[i]);
        test_req(ctx, "GET", target);
        test_expect_error(ctx, 400, "invalid_argument",
                          "\"limit\" must be an integer from 1 to 1000");
    }

    /* the bounds themselves, escaped digits and empty pairs */
    test_req(ctx, "GET", "/customers/c1/sessions?limit=1000");
    assert_int_equal(ctx->res.status, 200);

    test_req(ctx, "GET", "/customers/c1/sessions?limit=1");
    assert_int_equal(ctx->res.status, 200);

    test_req(ctx, "GET", "/customers/c1/sessions?&&limit=%31&");
    assert_int_equal(ctx->res.status, 200);

    test_req(ctx, "GET", "/customers/c1/sessions?");
    assert_int_equal(ctx->res.status, 200);

    /* a value the store refuses: 400 with the store's words */
    test_req(ctx, "GET", "/customers/c1/sessions?after=a%2Bb");
    test_expect_error(ctx, 400, "invalid_argument", "session id");
}


static void
test_body(void **state)
{
    char        *big;
    test_ctx_t  *ctx;

    ctx = *state;

    big = malloc(OMNI_ADMIN_BODY_MAX + 2);
    assert_non_null(big);
    memset(big, ' ', OMNI_ADMIN_BODY_MAX + 1);
    memcpy(big, "{}", 2);
    big[OMNI_ADMIN_BODY_MAX + 1] = '\0';

    test_send(ctx, "POST", "/revocations", big);
    test_expect_error(ctx, 413, "body_too_large",
                      "the body is 65537 bytes, more than the 65536 "
                      "allowed");

    /* exactly the maximum is parsed */
    big[OMNI_ADMIN_BODY_MAX] = '\0';
    test_send(ctx, "POST", "/revocations", big);
    test_expect_error(ctx, 400, "invalid_argument", "\"kind\" is missing");
    free(big);

    test_req(ctx, "POST", "/revocations");
    test_expect_error(ctx, 400, "bad_json", "the body is empty");

    test_send(ctx, "POST", "/revocations", "{\"kind\": \"jti\",");
    test_expect_error(ctx, 400, "bad_json", "the body is not valid JSON: ");
    assert_non_null(strstr(test_member(ctx, "message"), " at line 1 "
                           "column "));

    test_send(ctx, "POST", "/revocations", "{\"kind\" 1}");
    test_expect_error(ctx, 400, "bad_json", "the body is not valid JSON: "
                      "':' expected near '1' at line 1 column 9");

    test_send(ctx, "POST", "/revocations", "{\"a\":1,\"a\":2}");
    test_expect_error(ctx, 400, "bad_json", "duplicate object key");

    test_send(ctx, "POST", "/revocations", "{\"value\":\"a\\u0000b\"}");
    test_expect_error(ctx, 400, "bad_json", "\\u0000");

    test_send(ctx, "POST", "/revocations", "[]");
    test_expect_error(ctx, 400, "bad_json", "the body is not a JSON object");

    test_send(ctx, "POST", "/revocations", "\"jti\"");
    test_expect_error(ctx, 400, "bad_json", "the body is not a JSON object");

    test_send(ctx, "POST", "/revocations", "null");
    test_expect_error(ctx, 400, "bad_json", "the body is not a JSON object");

    /* members */
    test_send(ctx, "POST", "/revocations", "{\"kind\":\"jti\",\"value\":\"j\","
              "\"foo\":1}");
    test_expect_error(ctx, 400, "invalid_argument", "unknown key \"foo\"");

    test_send(ctx, "POST", "/revocations", "{\"kind\":1,\"value\":\"j\"}");
    test_expect_error(ctx, 400, "invalid_argument",
                      "\"kind\" must be a string");

    test_send(ctx, "POST", "/revocations", "{\"kind\":\"jti\"}");
    test_expect_error(ctx, 400, "invalid_argument", "\"value\" is missing");

    test_send(ctx, "POST", "/revocations", "{\"kind\":\"jti\",\"value\":\"j\","
              "\"expires_at\":\"tomorrow\"}");
    test_expect_error(ctx, 400, "invalid_argument", "\"expires_at\" must be "
                      "an integer from 0 to 253402300799");

    test_send(ctx, "POST", "/revocations", "{\"kind\":\"jti\",\"value\":\"j\","
              "\"expires_at\":-1}");
    test_expect_error(ctx, 400, "invalid_argument", "\"expires_at\"");

    test_send(ctx, "POST", "/revocations", "{\"kind\":\"jti\",\"value\":\"j\","
              "\"expires_at\":1.5}");
    test_expect_error(ctx, 400, "invalid_argument", "\"expires_at\"");

    test_send(ctx, "POST", "/revocations", "{\"kind\":\"jti\",\"value\":\"j\","
              "\"expires_at\":253402300800}");
    test_expect_error(ctx, 400, "invalid_argument", "\"expires_at\"");

    test_send(ctx, "POST", "/revocations", "{\"kind\":\"session\","
              "\"value\":\"s\",\"expires_at\":5}");
    test_expect_error(ctx, 400, "invalid_argument",
                      "\"expires_at\" applies to kind jti only");

    test_send(ctx, "POST", "/revocations", "{\"kind\":\"jti\",\"value\":\"j\","
              "\"before\":5}");
    test_expect_error(ctx, 400, "invalid_argument",
                      "\"before\" applies to kind subject only");

    test_send(ctx, "POST", "/revocations", "{\"kind\":\"token\","
              "\"value\":\"j\"}");
    test_expect_error(ctx, 400, "invalid_argument",
                      "\"kind\" must be jti, session or subject");

    test_send(ctx, "POST", "/revocations", "{\"kind\":\"jti\","
              "\"value\":\"a b\"}");
    test_expect_error(ctx, 400, "invalid_argument", "jti must be 1 to 255");

    test_send(ctx, "POST", "/customers/c1/merge", "{\"into\":[\"c2\"]}");
    test_expect_error(ctx, 400, "invalid_argument",
                      "\"into\" must be a string");

    test_send(ctx, "PUT", "/identities/phone/1", "{\"customer\":null}");
    test_expect_error(ctx, 400, "invalid_argument",
                      "\"customer\" must be a string");

    /* no body for GET and DELETE */
    test_send(ctx, "GET", "/stats", "{}");
    test_expect_error(ctx, 400, "invalid_argument", "GET /stats takes no "
                      "body");

    test_send(ctx, "DELETE", "/sessions/s1", "{}");
    test_expect_error(ctx, 400, "invalid_argument", "takes no body");

    /* nothing was written by any of it */
    test_req(ctx, "GET", "/revocations");
    test_expect(ctx, 200, "{\"jti\":{\"revocations\":[],\"next\":null},"
                "\"session\":{\"revocations\":[],\"next\":null},"
                "\"subject\":{\"revocations\":[],\"next\":null}}");
}


static void
test_session_get(void **state)
{
    test_ctx_t  *ctx;

    ctx = *state;

    test_put_session(ctx, "s1", "c1", "{\"cart\":[1,2],\"step\":\"pay\"}");
    test_put_session(ctx, "anon", "", "");

    test_req(ctx, "GET", "/sessions/s1");
    test_expect(ctx, 200, "{\"id\":\"s1\",\"customer\":\"c1\","
                "\"created_at\":\"2026-11-24T17:59:00Z\","
                "\"last_seen_at\":\"" TEST_NOW_TEXT "\","
                "\"channels\":[\"web\",\"app\"],"
                "\"context\":{\"cart\":[1,2],\"step\":\"pay\"}}");
    assert_null(ctx->res.audit);

    test_req(ctx, "GET", "/sessions/anon");
    test_expect(ctx, 200, "{\"id\":\"anon\",\"customer\":null,"
                "\"created_at\":\"2026-11-24T17:59:00Z\","
                "\"last_seen_at\":\"" TEST_NOW_TEXT "\","
                "\"channels\":[\"web\",\"app\"],\"context\":{}}");

    test_req(ctx, "GET", "/sessions/nope");
    test_expect_error(ctx, 404, "not_found", "session nope not found");

    test_req(ctx, "GET", "/sessions/bad%21id");
    test_expect_error(ctx, 400, "invalid_argument", "session id is not");
}


static void
test_session_revoke(void **state)
{
    int          rule;
    char         err[OMNI_ERRLEN];
    test_ctx_t  *ctx;

    ctx = *state;

    test_put_session(ctx, "s1", "c1", "");

    test_req(ctx, "DELETE", "/sessions/s1");
    test_expect(ctx, 200, "{\"session\":\"s1\",\"revoked\":true}");
    test_expect_audit(ctx, "revoke session s1");

    assert_int_equal(omni_store_is_revoked(ctx->st, NULL, "s1", NULL, -1,
                                           &rule, err), OMNI_STORE_OK);
    assert_int_equal(rule, OMNI_STORE_REVOKED_SESSION);

    test_req(ctx, "GET", "/revocations?kind=session");
    test_expect(ctx, 200, "{\"revocations\":[{\"kind\":\"session\","
                "\"value\":\"s1\",\"time\":\"" TEST_NOW_TEXT "\"}],"
                "\"next\":null}");
    assert_null(ctx->res.audit);

    /* a session the store never saw is revoked all the same */
    test_req(ctx, "DELETE", "/sessions/never-seen");
    test_expect(ctx, 200, "{\"session\":\"never-seen\",\"revoked\":true}");
    test_expect_audit(ctx, "revoke session never-seen");

    test_req(ctx, "DELETE", "/sessions/no%20such");
    test_expect_error(ctx, 400, "invalid_argument", "session id is not");
}


static void
test_customer_get(void **state)
{
    test_ctx_t  *ctx;

    ctx = *state;

    test_link(ctx, "phone", "+861", "c1");
    test_link(ctx, "email", "a@x", "c1");
    test_put_session(ctx, "s2", "c1", "");
    test_put_session(ctx, "s1", "c1", "");

    test_req(ctx, "GET", "/customers/c1");
    test_expect(ctx, 200, "{\"id\":\"c1\",\"survivor\":\"c1\","
                "\"identities\":[{\"type\":\"email\",\"value\":\"a@x\"},"
                "{\"type\":\"phone\",\"value\":\"+861\"}],"
                "\"identities_next\":null,"
                "\"sessions\":[\"s1\",\"s2\"],\"sessions_next\":null}");
    assert_null(ctx->res.audit);

    test_req(ctx, "GET", "/customers/c1?limit=1");
    test_expect(ctx, 200, "{\"id\":\"c1\",\"survivor\":\"c1\","
                "\"identities\":[{\"type\":\"email\",\"value\":\"a@x\"}],"
                "\"identities_next\":\"email:a@x\","
                "\"sessions\":[\"s1\"],\"sessions_next\":\"s1\"}");

    /* unknown: no identity, session, journey or merge */
    test_req(ctx, "GET", "/customers/c9");
    test_expect_error(ctx, 404, "not_found", "customer c9 is unknown");

    /* known by its journey alone */
    test_append(ctx, "c9", TEST_NOW_MS, "login", "");
    test_req(ctx, "GET", "/customers/c9");
    test_expect(ctx, 200, "{\"id\":\"c9\",\"survivor\":\"c9\","
                "\"identities\":[],\"identities_next\":null,"
                "\"sessions\":[],\"sessions_next\":null}");

    /* merged: its identities moved, its sessions stayed */
    test_link(ctx, "phone", "+862", "c2");
    test_put_session(ctx, "s3", "c2", "");
    test_send(ctx, "POST", "/customers/c2/merge", "{\"into\":\"c1\"}");
    assert_int_equal(ctx->res.status, 200);

    test_req(ctx, "GET", "/customers/c2");
    test_expect(ctx, 200, "{\"id\":\"c2\",\"survivor\":\"c1\","
                "\"identities\":[],\"identities_next\":null,"
                "\"sessions\":[\"s3\"],\"sessions_next\":null}");

    test_req(ctx, "GET", "/customers/bad.id");
    test_expect_error(ctx, 400, "invalid_argument", "customer id is not");
}


static void
test_customer_sessions(void **state)
{
    json_t      *sessions;
    test_ctx_t  *ctx;

    ctx = *state;

    test_put_session(ctx, "a", "c1", "{\"n\":1}");
    test_put_session(ctx, "b", "c1", "");
    test_put_session(ctx, "c", "c1", "");
    test_put_session(ctx, "d", "c1", "");
    test_put_session(ctx, "e", "c1", "");
    test_put_session(ctx, "x", "c2", "");

    test_req(ctx, "GET", "/customers/c1/sessions?limit=2");
    assert_int_equal(ctx->res.status, 200);
    assert_null(ctx->res.audit);
    sessions = json_object_get(ctx->json, "sessions");
    assert_int_equal(json_array_size(sessions), 2);
    assert_string_equal(test_member(ctx, "next"), "b");
    assert_string_equal(json_string_value(json_object_get(
                            json_array_get(sessions, 0), "id")), "a");

    /* the whole session, as GET /sessions/{id} has it */
    {
        json_t  *first;

        first = json_incref(json_array_get(sessions, 0));
        test_req(ctx, "GET", "/sessions/a");
        assert_true(json_equal(first, ctx->json));
        json_decref(first);
    }

    test_req(ctx, "GET", "/customers/c1/sessions?limit=2&after=b");
    sessions = json_object_get(ctx->json, "sessions");
    assert_int_equal(json_array_size(sessions), 2);
    assert_string_equal(json_string_value(json_object_get(
                            json_array_get(sessions, 0), "id")), "c");
    assert_string_equal(test_member(ctx, "next"), "d");

    test_req(ctx, "GET", "/customers/c1/sessions?after=d&limit=2");
    sessions = json_object_get(ctx->json, "sessions");
    assert_int_equal(json_array_size(sessions), 1);
    assert_string_equal(json_string_value(json_object_get(
                            json_array_get(sessions, 0), "id")), "e");
    assert_true(json_is_null(json_object_get(ctx->json, "next")));

    /* exactly one page: no next */
    test_req(ctx, "GET", "/customers/c1/sessions?limit=5");
    assert_int_equal(json_array_size(json_object_get(ctx->json, "sessions")),
                     5);
    assert_true(json_is_null(json_object_get(ctx->json, "next")));

    /* a list of nothing is a list */
    test_req(ctx, "GET", "/customers/c7/sessions");
    test_expect(ctx, 200, "{\"sessions\":[],\"next\":null}");
}


static void
test_customer_identities(void **state)
{
    test_ctx_t  *ctx;

    ctx = *state;

    test_link(ctx, "email", "a@x", "c1");
    test_link(ctx, "phone", "+861", "c1");
    test_link(ctx, "sip", "u:1@host", "c1");
    test_link(ctx, "sip", "u:2@host", "c1");
    test_link(ctx, "wechat", "o-1", "c1");

    test_req(ctx, "GET", "/customers/c1/identities?limit=2");
    test_expect(ctx, 200, "{\"identities\":[{\"type\":\"email\","
                "\"value\":\"a@x\"},{\"type\":\"phone\",\"value\":\"+861\"}],"
                "\"next\":\"phone:+861\"}");
    assert_null(ctx->res.audit);

    /* the cursor goes back as it came, "+" and all */
    test_req(ctx, "GET", "/customers/c1/identities?limit=2&after=phone:+861");
    test_expect(ctx, 200, "{\"identities\":[{\"type\":\"sip\","
                "\"value\":\"u:1@host\"},{\"type\":\"sip\","
                "\"value\":\"u:2@host\"}],\"next\":\"sip:u:2@host\"}");

    /* split at the first colon: the value keeps its own */
    test_req(ctx, "GET", "/customers/c1/identities?limit=2&"
             "after=sip%3Au%3A2%40host");
    test_expect(ctx, 200, "{\"identities\":[{\"type\":\"wechat\","
                "\"value\":\"o-1\"}],\"next\":null}");

    test_req(ctx, "GET", "/customers/c1/identities?after=nocolon");
    test_expect_error(ctx, 400, "invalid_argument", "TYPE:VALUE");

    test_req(ctx, "GET", "/customers/c1/identities?after=:x");
    test_expect_error(ctx, 400, "invalid_argument", "TYPE:VALUE");

    test_req(ctx, "GET", "/customers/c1/identities?after=x:");
    test_expect_error(ctx, 400, "invalid_argument", "TYPE:VALUE");

    test_req(ctx, "GET", "/customers/c1/identities?after=a.b:x");
    test_expect_error(ctx, 400, "invalid_argument", "identity type");

    test_req(ctx, "GET", "/customers/c8/identities");
    test_expect(ctx, 200, "{\"identities\":[],\"next\":null}");
}


static void
test_customer_journey(void **state)
{
    size_t       i;
    char         target[128];
    test_ctx_t  *ctx;

    static const char  *bad[] = {
        "abc", "1", "1.", ".1", "01.1", "1.01", "-1.0", "+1.0", "1.-1",
        "1.4294967296", "9223372036854775808.0", "99999999999999999999.0",
        "1.1x", "1.1.1", "1%2E1%20", "1.99999999999",
    };

    ctx = *state;

    test_append(ctx, "c1", TEST_NOW_MS + 123, "login", "s1");
    test_append(ctx, "c1", TEST_NOW_MS + 123, "order", "");
    test_append_dispatched(ctx, "c1", TEST_NOW_MS + 2000, "pay", "s1",
                           "agents", "gold", "order.pay");
    test_append(ctx, "c1", TEST_NOW_MS - 1000, "visit", "");
    test_append(ctx, "c2", TEST_NOW_MS, "other", "");

    /* newest first; events of one millisecond by seq, last first */
    test_req(ctx, "GET", "/customers/c1/journey?limit=2");
    test_expect(ctx, 200, "{\"events\":["
                "{\"time\":\"2026-11-24T18:00:02.000Z\",\"channel\":\"web\","
                "\"action\":\"pay\",\"outcome\":\"ok\",\"session\":\"s1\","
                "\"dispatch\":{\"pool\":\"agents\",\"rule\":\"gold\"},"
                "\"intent\":\"order.pay\"},"
                "{\"time\":\"2026-11-24T18:00:00.123Z\",\"channel\":\"web\","
                "\"action\":\"order\",\"outcome\":\"ok\",\"session\":null,"
                "\"dispatch\":null,\"intent\":null}],"
                "\"next\":\"1795543200123.1\"}");
    assert_null(ctx->res.audit);

    test_req(ctx, "GET", "/customers/c1/journey?limit=2&"
             "before=1795543200123.1");
    test_expect(ctx, 200, "{\"events\":["
                "{\"time\":\"2026-11-24T18:00:00.123Z\",\"channel\":\"web\","
                "\"action\":\"login\",\"outcome\":\"ok\",\"session\":\"s1\","
                "\"dispatch\":null,\"intent\":null},"
                "{\"time\":\"2026-11-24T17:59:59.000Z\",\"channel\":\"web\","
                "\"action\":\"visit\",\"outcome\":\"ok\",\"session\":null,"
                "\"dispatch\":null,\"intent\":null}],"
                "\"next\":null}");

    test_req(ctx, "GET", "/customers/c1/journey?before=1795543199000.0");
    test_expect(ctx, 200, "{\"events\":[],\"next\":null}");

    test_req(ctx, "GET", "/customers/c1/journey?before=0.0");
    test_expect(ctx, 200, "{\"events\":[],\"next\":null}");

    test_req(ctx, "GET", "/customers/c1/journey?before="
             "9223372036854775807.4294967295&limit=1");
    assert_int_equal(ctx->res.status, 200);
    assert_string_equal(test_member(ctx, "next"), "1795543202000.0");

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        snprintf(target, sizeof(target), "/customers/c1/journey?before=%s",
                 bad[i]);
        test_req(ctx, "GET", target);
        test_expect_error(ctx, 400, "invalid_argument", "TIME_MS.SEQ");
    }
}


/* DELETE /customers/ID?erase=true: every record goes, audited, for good */
static void
test_erase(void **state)
{
    test_ctx_t  *ctx;

    ctx = *state;

    test_link(ctx, "phone", "1", "a");
    test_link(ctx, "phone", "2", "b");
    test_put_session(ctx, "s1", "a", "{}");
    test_send(ctx, "POST", "/customers/b/merge", "{\"into\":\"a\"}");

    /* nothing without erase=true */
    test_req(ctx, "DELETE", "/customers/a");
    test_expect_error(ctx, 400, "invalid_argument", "it needs erase=true");
    test_req(ctx, "DELETE", "/customers/a?erase=yes");
    test_expect_error(ctx, 400, "invalid_argument", "it needs erase=true");
    test_req(ctx, "DELETE", "/customers/a?erase=true&limit=2");
    test_expect_error(ctx, 400, "invalid_argument", "no query parameter");
    assert_null(ctx->res.audit);

    /* a customer merged into another: its survivor is the one to erase */
    test_req(ctx, "DELETE", "/customers/b?erase=true");
    test_expect_error(ctx, 409, "conflict", "merged into another");

    test_req(ctx, "DELETE", "/customers/a?erase=true");
    assert_int_equal(ctx->res.status, 200);
    assert_string_equal(test_member(ctx, "customer"), "a");
    assert_non_null(ctx->res.audit);
    assert_non_null(strstr(ctx->res.audit, "erase customer a ("));
    assert_null(strstr(ctx->res.audit, "phone"));

    test_req(ctx, "GET", "/identities/phone/1");
    test_expect_error(ctx, 404, "not_found", "is not linked");
    test_req(ctx, "GET", "/identities/phone/2");
    test_expect_error(ctx, 404, "not_found", "is not linked");
    test_req(ctx, "GET", "/sessions/s1");
    test_expect_error(ctx, 404, "not_found", "not found");
    test_req(ctx, "GET", "/customers/a");
    test_expect_error(ctx, 404, "not_found", "");

    test_req(ctx, "DELETE", "/customers/a?erase=true");
    test_expect_error(ctx, 404, "not_found", "was erased already");

    test_send(ctx, "PUT", "/identities/phone/3", "{\"customer\":\"a\"}");
    test_expect_error(ctx, 409, "conflict", "customer a was erased");
}


static void
test_merge(void **state)
{
    test_ctx_t  *ctx;

    ctx = *state;

    test_link(ctx, "phone", "1", "a");
    test_link(ctx, "phone", "2", "b");
    test_link(ctx, "phone", "3", "c");

    test_send(ctx, "POST", "/customers/a/merge", "{\"into\":\"b\"}");
    test_expect(ctx, 200, "{\"merged\":\"a\",\"into\":\"b\"}");
    test_expect_audit(ctx, "merge customer a into b");

    test_req(ctx, "GET", "/identities/phone/1");
    test_expect(ctx, 200, "{\"type\":\"phone\",\"value\":\"1\","
                "\"customer\":\"b\"}");

    /* into a merged customer: into its survivor */
    test_send(ctx, "POST", "/customers/c/merge", "{\"into\":\"a\"}");
    test_expect(ctx, 200, "{\"merged\":\"c\",\"into\":\"b\"}");
    test_expect_audit(ctx, "merge customer c into b");

    /* refusals of valid requests: 409 */
    test_send(ctx, "POST", "/customers/b/merge", "{\"into\":\"b\"}");
    test_expect_error(ctx, 409, "conflict", "into itself");

    test_send(ctx, "POST", "/customers/a/merge", "{\"into\":\"d\"}");
    test_expect_error(ctx, 409, "conflict", "merged into b already");

    test_send(ctx, "POST", "/customers/b/merge", "{\"into\":\"a\"}");
    test_expect_error(ctx, 409, "conflict", "loop");

    /* bad requests: 400 */
    test_send(ctx, "POST", "/customers/b/merge", "{\"into\":\"x y\"}");
    test_expect_error(ctx, 400, "invalid_argument", "\"into\" is not");

    test_send(ctx, "POST", "/customers/b/merge", "{\"into\":\"\"}");
    test_expect_error(ctx, 400, "invalid_argument", "\"into\" is not");

    test_send(ctx, "POST", "/customers/b%2Bc/merge", "{\"into\":\"a\"}");
    test_expect_error(ctx, 400, "invalid_argument", "customer id is not");

    test_send(ctx, "POST", "/customers/b/merge", "{\"into\":\"a\","
              "\"force\":true}");
    test_expect_error(ctx, 400, "invalid_argument", "unknown key \"force\"");

    test_send(ctx, "POST", "/customers/b/merge", "{}");
    test_expect_error(ctx, 400, "invalid_argument", "\"into\" is missing");

    /* customers the store does not know: 404, nothing moves, no audit */
    test_send(ctx, "POST", "/customers/b/merge",
              "{\"into\":\"doesnotexist\"}");
    test_expect_error(ctx, 404, "not_found",
                      "customer doesnotexist is unknown");
    assert_null(ctx->res.audit);

    test_send(ctx, "POST", "/customers/typo/merge", "{\"into\":\"b\"}");
    test_expect_error(ctx, 404, "not_found", "customer typo is unknown");
    assert_null(ctx->res.audit);

    test_req(ctx, "GET", "/identities/phone/2");
    test_expect(ctx, 200, "{\"type\":\"phone\",\"value\":\"2\","
                "\"customer\":\"b\"}");

    /* and nothing was written for the made-up id */
    test_req(ctx, "GET", "/customers/doesnotexist");
    test_expect_error(ctx, 404, "not_found", "is unknown");
}


static void
test_identities(void **state)
{
    int          i;
    char         value[16], target[64];
    test_ctx_t  *ctx;

    ctx = *state;

    test_req(ctx, "GET", "/identities/phone/+861");
    test_expect_error(ctx, 404, "not_found", "identity phone:+861 is not "
                      "linked");

    test_send(ctx, "PUT", "/identities/phone/+861", "{\"customer\":\"c1\"}");
    test_expect(ctx, 200, "{\"type\":\"phone\",\"value\":\"+861\","
                "\"customer\":\"c1\"}");
    test_expect_audit(ctx, "link a phone identity to c1");

    test_req(ctx, "GET", "/identities/phone/+861");
    test_expect(ctx, 200, "{\"type\":\"phone\",\"value\":\"+861\","
                "\"customer\":\"c1\"}");
    assert_null(ctx->res.audit);

    /* moving it, and linking to a merged customer: to its survivor */
    test_link(ctx, "email", "x@y", "c3");
    test_link(ctx, "email", "z@y", "c2");
    test_send(ctx, "POST", "/customers/c2/merge", "{\"into\":\"c3\"}");
    assert_int_equal(ctx->res.status, 200);

    test_send(ctx, "PUT", "/identities/phone/+861", "{\"customer\":\"c2\"}");
    test_expect(ctx, 200, "{\"type\":\"phone\",\"value\":\"+861\","
                "\"customer\":\"c3\"}");
    test_expect_audit(ctx, "link a phone identity to c3");

    test_req(ctx, "DELETE", "/identities/phone/+861");
    test_expect(ctx, 200, "{\"type\":\"phone\",\"value\":\"+861\","
                "\"unlinked\":true}");
    test_expect_audit(ctx, "unlink a phone identity");

    test_req(ctx, "DELETE", "/identities/phone/+861");
    test_expect_error(ctx, 404, "not_found", "is not linked");

    test_req(ctx, "GET", "/identities/phone/+861");
    test_expect_error(ctx, 404, "not_found", NULL);

    /* names */
    test_send(ctx, "PUT", "/identities/ph.one/1", "{\"customer\":\"c1\"}");
    test_expect_error(ctx, 400, "invalid_argument", "identity type is not");

    test_send(ctx, "PUT", "/identities/phone/1%202", "{\"customer\":\"c1\"}");
    test_expect_error(ctx, 400, "invalid_argument", "identity value must be");

    test_send(ctx, "PUT", "/identities/phone/1", "{\"customer\":\"c 1\"}");
    test_expect_error(ctx, 400, "invalid_argument", "\"customer\" is not");

    test_send(ctx, "PUT", "/identities/phone/1", "{\"customer\":\"c1\","
              "\"note\":\"x\"}");
    test_expect_error(ctx, 400, "invalid_argument", "unknown key \"note\"");

    test_req(ctx, "GET", "/identities/ph.one/1");
    test_expect_error(ctx, 400, "invalid_argument", "identity type");

    /* a customer that is full refuses the next one: 409 */
    for (i = 0; i < OMNI_STORE_IDENTITIES_MAX; i++) {
        snprintf(value, sizeof(value), "n%03d", i);
        test_link(ctx, "num", value, "big");
    }

    snprintf(target, sizeof(target), "/identities/num/n%03d",
             OMNI_STORE_IDENTITIES_MAX);
    test_send(ctx, "PUT", target, "{\"customer\":\"big\"}");
    test_expect_error(ctx, 409, "conflict", "identities already");

    /* the value never reaches the audit line, whatever its bytes */
    test_send(ctx, "PUT", "/identities/win/dom%5Cuser",
              "{\"customer\":\"c1\"}");
    test_expect(ctx, 200, "{\"type\":\"win\",\"value\":\"dom\\\\user\","
                "\"customer\":\"c1\"}");
    test_expect_audit(ctx, "link a win identity to c1");
}


static void
test_revocations(void **state)
{
    test_ctx_t  *ctx;

    ctx = *state;

    test_send(ctx, "POST", "/revocations", "{\"kind\":\"jti\","
              "\"value\":\"j1\",\"expires_at\":1795543260}");
    test_expect(ctx, 201, "{\"kind\":\"jti\",\"value\":\"j1\","
                "\"time\":\"2026-11-24T18:01:00Z\"}");
    test_expect_audit(ctx, "revoke jti j1 until 2026-11-24T18:01:00Z");

    test_send(ctx, "POST", "/revocations", "{\"kind\":\"jti\","
              "\"value\":\"j0\"}");
    test_expect(ctx, 201, "{\"kind\":\"jti\",\"value\":\"j0\","
                "\"time\":null}");
    test_expect_audit(ctx, "revoke jti j0");

    test_send(ctx, "POST", "/revocations", "{\"kind\":\"jti\","
              "\"value\":\"j2\",\"expires_at\":0}");
    test_expect(ctx, 201, "{\"kind\":\"jti\",\"value\":\"j2\","
                "\"time\":null}");

    test_send(ctx, "POST", "/revocations", "{\"kind\":\"subject\","
              "\"value\":\"user@x\",\"before\":1795539600}");
    test_expect(ctx, 201, "{\"kind\":\"subject\",\"value\":\"user@x\","
                "\"time\":\"2026-11-24T17:00:00Z\"}");
    test_expect_audit(ctx, "revoke subject user@x before "
                      "2026-11-24T17:00:00Z");

    test_send(ctx, "POST", "/revocations", "{\"kind\":\"subject\","
              "\"value\":\"other\"}");
    test_expect(ctx, 201, "{\"kind\":\"subject\",\"value\":\"other\","
                "\"time\":\"" TEST_NOW_TEXT "\"}");
    test_expect_audit(ctx, "revoke subject other before " TEST_NOW_TEXT);

    /* a backslash reaches the audit line escaped */
    test_send(ctx, "POST", "/revocations", "{\"kind\":\"subject\","
              "\"value\":\"dom\\\\user\"}");
    assert_int_equal(ctx->res.status, 201);
    test_expect_audit(ctx, "revoke subject dom\\x5cuser before "
                      TEST_NOW_TEXT);
    test_req(ctx, "DELETE", "/revocations/subject/dom%5Cuser");
    assert_int_equal(ctx->res.status, 200);
    test_expect_audit(ctx, "remove revocation of subject dom\\x5cuser");

    test_send(ctx, "POST", "/revocations", "{\"kind\":\"session\","
              "\"value\":\"s1\"}");
    test_expect(ctx, 201, "{\"kind\":\"session\",\"value\":\"s1\","
                "\"time\":\"" TEST_NOW_TEXT "\"}");
    test_expect_audit(ctx, "revoke session s1");

    test_send(ctx, "POST", "/revocations", "{\"kind\":\"session\","
              "\"value\":\"s/1\"}");
    test_expect_error(ctx, 400, "invalid_argument", "session id is not");

    /* one kind, in pages */
    test_req(ctx, "GET", "/revocations?kind=jti&limit=2");
    test_expect(ctx, 200, "{\"revocations\":["
                "{\"kind\":\"jti\",\"value\":\"j0\",\"time\":null},"
                "{\"kind\":\"jti\",\"value\":\"j1\","
                "\"time\":\"2026-11-24T18:01:00Z\"}],\"next\":\"j1\"}");
    assert_null(ctx->res.audit);

    test_req(ctx, "GET", "/revocations?limit=2&after=j1&kind=jti");
    test_expect(ctx, 200, "{\"revocations\":["
                "{\"kind\":\"jti\",\"value\":\"j2\",\"time\":null}],"
                "\"next\":null}");

    /* every kind: the first page of each */
    test_req(ctx, "GET", "/revocations?limit=1");
    test_expect(ctx, 200, "{"
                "\"jti\":{\"revocations\":[{\"kind\":\"jti\","
                "\"value\":\"j0\",\"time\":null}],\"next\":\"j0\"},"
                "\"session\":{\"revocations\":[{\"kind\":\"session\","
                "\"value\":\"s1\",\"time\":\"" TEST_NOW_TEXT "\"}],"
                "\"next\":null},"
                "\"subject\":{\"revocations\":[{\"kind\":\"subject\","
                "\"value\":\"other\",\"time\":\"" TEST_NOW_TEXT "\"}],"
                "\"next\":\"other\"}}");

    test_req(ctx, "GET", "/revocations?after=j1");
    test_expect_error(ctx, 400, "invalid_argument", "needs \"kind\"");

    test_req(ctx, "GET", "/revocations?kind=token");
    test_expect_error(ctx, 400, "invalid_argument", "jti, session or "
                      "subject");

    /* removal */
    test_req(ctx, "DELETE", "/revocations/jti/j1");
    test_expect(ctx, 200, "{\"kind\":\"jti\",\"value\":\"j1\","
                "\"removed\":true}");
    test_expect_audit(ctx, "remove revocation of jti j1");

    test_req(ctx, "DELETE", "/revocations/jti/j1");
    test_expect_error(ctx, 404, "not_found", "no revocation of jti j1");

    test_req(ctx, "DELETE", "/revocations/subject/user@x");
    test_expect(ctx, 200, "{\"kind\":\"subject\",\"value\":\"user@x\","
                "\"removed\":true}");

    test_req(ctx, "DELETE", "/revocations/token/x");
    test_expect_error(ctx, 400, "invalid_argument", "jti, session or "
                      "subject");

    test_req(ctx, "GET", "/revocations?kind=jti");
    test_expect(ctx, 200, "{\"revocations\":["
                "{\"kind\":\"jti\",\"value\":\"j0\",\"time\":null},"
                "{\"kind\":\"jti\",\"value\":\"j2\",\"time\":null}],"
                "\"next\":null}");
}


/* a store at its smallest map fills up: 503, and reads go on */
static void
test_store_full(void **state)
{
    int          i;
    char         body[400];
    test_ctx_t  *ctx;

    ctx = *state;

    omni_store_close(ctx->st);
    assert_int_equal(test_open(ctx, OMNI_STORE_MAP_MIN), 0);

    for (i = 0; i < 100000; i++) {
        snprintf(body, sizeof(body), "{\"kind\":\"jti\",\"value\":\"%06d"
                 "%0240d\"}", i, 0);
        test_send(ctx, "POST", "/revocations", body);

        if (ctx->res.status != 201) {
            break;
        }

        assert_non_null(ctx->res.audit);
    }

    assert_true(i > 10);
    assert_true(i < 100000);
    test_expect_error(ctx, 503, "store_full", "is full");

    test_req(ctx, "GET", "/stats");
    assert_int_equal(ctx->res.status, 200);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(
                         ctx->json, "entries"), "revocations")), i);

    /* the first value: 246 zeros */
    memset(body, '0', 246);
    body[246] = '\0';

    test_req(ctx, "GET", "/revocations?kind=jti&limit=1");
    assert_int_equal(ctx->res.status, 200);
    assert_string_equal(test_member(ctx, "next"), body);
}


/* the store takes any bytes above space; answers stay JSON */
static void
test_not_utf8(void **state)
{
    test_ctx_t  *ctx;

    ctx = *state;

    test_link(ctx, "raw", "a\xff" "b\xc3", "c1");

    test_req(ctx, "GET", "/customers/c1/identities");
    test_expect(ctx, 200, "{\"identities\":[{\"type\":\"raw\","
                "\"value\":\"a\\ufffdb\\ufffd\"}],\"next\":null}");
}


/* policy revisions */

#define TEST_POLICY_A                                                         \
    "{\"version\":1,\"anonymous_role\":\"anonymous\",\"roles\":{"             \
    "\"anonymous\":{\"rules\":[{\"id\":\"anon-coupons\","                     \
    "\"effect\":\"allow\",\"actions\":[\"coupon.*\"]}]},"                     \
    "\"customer\":{\"rules\":[{\"id\":\"cust-self\",\"effect\":\"allow\","    \
    "\"actions\":[\"order.query\"]}]},"                                       \
    "\"agent\":{\"inherits\":[\"customer\"],\"rules\":[{\"id\":"              \
    "\"agent-orders\",\"effect\":\"allow\",\"actions\":[\"order.*\"],"        \
    "\"channels\":[\"web\"]}]}}}"

/* A with a role more, one rule changed and one removed */
#define TEST_POLICY_B                                                         \
    "{\"version\":1,\"anonymous_role\":\"anonymous\",\"roles\":{"             \
    "\"anonymous\":{},"                                                       \
    "\"customer\":{\"rules\":[{\"id\":\"cust-self\",\"effect\":\"allow\","    \
    "\"actions\":[\"order.query\",\"order.list\"]}]},"                        \
    "\"agent\":{\"inherits\":[\"customer\"],\"rules\":[{\"id\":"              \
    "\"agent-orders\",\"effect\":\"allow\",\"actions\":[\"order.*\"],"        \
    "\"channels\":[\"web\"]}]},"                                              \
    "\"supervisor\":{\"inherits\":[\"agent\"]}}}"

/* three mistakes: an effect, a rule id used twice, an unknown parent */
#define TEST_POLICY_BAD                                                       \
    "{\"version\":1,\"roles\":{"                                              \
    "\"a\":{\"rules\":[{\"id\":\"x\",\"effect\":\"maybe\","                   \
    "\"actions\":[\"*\"]}]},"                                                 \
    "\"b\":{\"inherits\":[\"nobody\"],\"rules\":[{\"id\":\"x\","              \
    "\"effect\":\"allow\",\"actions\":[\"a.b\"]}]}}}"

#define TEST_POLICY_CYCLE                                                     \
    "{\"version\":1,\"roles\":{\"a\":{\"inherits\":[\"b\"]},"                 \
    "\"b\":{\"inherits\":[\"a\"]}}}"


static void
test_put_policy(test_ctx_t *ctx, const char *target, const char *policy,
    unsigned rev)
{
    char  expect[64];

    test_send(ctx, "PUT", target, policy);
    snprintf(expect, sizeof(expect), "{\"revision\":%u}", rev);
    test_expect(ctx, 201, expect);
    snprintf(expect, sizeof(expect), "policy revision %u (put)", rev);
    test_expect_audit(ctx, expect);
}


/* the last answer was revision rev of policy, with this author and note */
static void
test_expect_policy(test_ctx_t *ctx, unsigned rev, const char *author,
    const char *note, const char *policy)
{
    char          prefix[64];
    json_t       *want;
    json_error_t  jerr;

    if (ctx->res.status != 200) {
        fail_msg("%s: %u %s", ctx->last, ctx->res.status, ctx->res.body);
    }

    want = json_pack_ex(&jerr, 0, "{s:i, s:s, s:s, s:s, s:o}", "revision",
                        (int) rev, "time", TEST_NOW_TEXT, "author", author,
                        "note", note, "policy", json_loads(policy, 0, NULL));
    assert_non_null(want);

    if (!json_equal(want, ctx->json)) {
        fail_msg("%s: %s", ctx->last, ctx->res.body);
    }

    json_decref(want);

    /* in this order, the policy last */
    snprintf(prefix, sizeof(prefix), "{\"revision\":%u,\"time\":", rev);
    assert_memory_equal(ctx->res.body, prefix, strlen(prefix));
    assert_non_null(strstr(ctx->res.body, ",\"policy\":{"));
    assert_null(ctx->res.audit);
}


static void
test_policy_put_get(void **state)
{
    char        *big;
    size_t       len;
    test_ctx_t  *ctx;

    ctx = *state;

    /* nothing yet */
    test_req(ctx, "GET", "/policy");
    test_expect_error(ctx, 404, "not_found", "the store has no policy");

    test_req(ctx, "GET", "/policy/revisions");
    test_expect(ctx, 200, "{\"revisions\":[],\"next\":null}");

    test_req(ctx, "GET", "/policy/revisions/1");
    test_expect_error(ctx, 404, "not_found", "no policy revision 1");

    /* the actor is the author, the note comes in the query */
    ctx->actor = "secops-1";
    test_put_policy(ctx, "/policy?note=first%20one", TEST_POLICY_A, 1);

    test_req(ctx, "GET", "/policy");
    test_expect_policy(ctx, 1, "secops-1", "first one", TEST_POLICY_A);

    /* no actor: "-"; no note: "" */
    ctx->actor = NULL;
    test_put_policy(ctx, "/policy", TEST_POLICY_B, 2);

    test_req(ctx, "GET", "/policy");
    test_expect_policy(ctx, 2, "-", "", TEST_POLICY_B);

    test_req(ctx, "GET", "/policy/revisions/1");
    test_expect_policy(ctx, 1, "secops-1", "first one", TEST_POLICY_A);

    test_req(ctx, "GET", "/policy/revisions/2");
    test_expect_policy(ctx, 2, "-", "", TEST_POLICY_B);

    test_req(ctx, "GET", "/policy/revisions/3");
    test_expect_error(ctx, 404, "not_found", "no policy revision 3");

    test_req(ctx, "GET", "/policy/revisions/4294967295");
    test_expect_error(ctx, 404, "not_found", "no policy revision 4294967295");

    /* revision numbers */
    test_req(ctx, "GET", "/policy/revisions/0");
    test_expect_error(ctx, 400, "invalid_argument", "the revision must be an "
                      "integer from 1 to 4294967295");
    test_req(ctx, "GET", "/policy/revisions/01");
    test_expect_error(ctx, 400, "invalid_argument", "the revision must be");
    test_req(ctx, "GET", "/policy/revisions/4294967296");
    test_expect_error(ctx, 400, "invalid_argument", "the revision must be");
    test_req(ctx, "GET", "/policy/revisions/-1");
    test_expect_error(ctx, 400, "invalid_argument", "the revision must be");
    test_req(ctx, "GET", "/policy/revisions/two");
    test_expect_error(ctx, 400, "invalid_argument", "the revision must be");

    /* the policy is stored as sent, not as jansson would write it */
    big = malloc(OMNI_STORE_POLICY_MAX + 2);
    assert_non_null(big);

    /* larger than any other body may be */
    len = strlen(TEST_POLICY_A);
    memset(big, ' ', OMNI_STORE_POLICY_MAX + 1);
    memcpy(big, TEST_POLICY_A, len - 1);
    big[OMNI_ADMIN_BODY_MAX * 2] = '}';
    big[OMNI_ADMIN_BODY_MAX * 2 + 1] = '\0';

    test_put_policy(ctx, "/policy?note=big", big, 3);

    test_req(ctx, "GET", "/policy/revisions?limit=1");
    assert_int_equal(ctx->res.status, 200);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(
                         json_object_get(ctx->json, "revisions"), 0),
                         "size")),
                     OMNI_ADMIN_BODY_MAX * 2 + 1);

    test_req(ctx, "GET", "/policy");
    test_expect_policy(ctx, 3, "-", "big", TEST_POLICY_A);

    /* up to the store's maximum, not one byte more */
    big[OMNI_ADMIN_BODY_MAX * 2] = ' ';
    big[OMNI_ADMIN_BODY_MAX * 2 + 1] = ' ';
    big[OMNI_STORE_POLICY_MAX] = '}';
    big[OMNI_STORE_POLICY_MAX + 1] = '\0';

    test_send(ctx, "PUT", "/policy", big);
    test_expect_error(ctx, 413, "body_too_large", "the body is 4194305 "
                      "bytes, more than the 4194304 allowed");

    big[OMNI_STORE_POLICY_MAX] = '\0';
    big[OMNI_STORE_POLICY_MAX - 1] = '}';
    test_put_policy(ctx, "/policy", big, 4);

    free(big);

    /* other routes keep their bound */
    test_req(ctx, "POST", "/policy");
    test_expect_error(ctx, 405, "method_not_allowed", "GET, PUT");
    assert_string_equal(ctx->res.allow, "GET, PUT");

    test_req(ctx, "DELETE", "/policy/revisions/1");
    test_expect_error(ctx, 405, "method_not_allowed", "GET");

    test_req(ctx, "PUT", "/policy/revisions");
    test_expect_error(ctx, 405, "method_not_allowed", "GET");

    test_req(ctx, "GET", "/policy/rollback");
    test_expect_error(ctx, 405, "method_not_allowed", "POST");

    test_req(ctx, "POST", "/policy/diff");
    test_expect_error(ctx, 405, "method_not_allowed", "GET");

    test_req(ctx, "GET", "/policy/nothing");
    test_expect_error(ctx, 404, "unknown_route", NULL);

    test_req(ctx, "GET", "/policy?note=x");
    test_expect_error(ctx, 400, "invalid_argument", "\"note\"");
}


/* workflow revisions: the same routes over the dispatch's workflow */

#define TEST_WORKFLOW_A                                                       \
    "{\"version\":1,\"pools\":{\"desk\":{\"capacity\":2}},"                   \
    "\"default\":{\"targets\":[\"desk\"]}}"

#define TEST_WORKFLOW_B                                                       \
    "{\"version\":1,\"pools\":{\"desk\":{\"capacity\":2},"                    \
    "\"bot\":{\"kind\":\"bot\",\"capacity\":9}},"                              \
    "\"default\":{\"targets\":[\"bot\",\"desk\"]}}"

/* two mistakes, each with its path */
#define TEST_WORKFLOW_BAD                                                     \
    "{\"version\":1,\"pools\":{\"desk\":{\"capacity\":0}},"                   \
    "\"default\":{\"targets\":[\"nowhere\"]}}"


static void
test_workflow_revisions(void **state)
{
    json_t      *errors;
    test_ctx_t  *ctx;

    ctx = *state;

    test_req(ctx, "GET", "/workflow");
    test_expect_error(ctx, 404, "not_found", "the store has no workflow");

    test_send(ctx, "PUT", "/workflow?note=desk%20only", TEST_WORKFLOW_A);
    test_expect(ctx, 201, "{\"revision\":1}");
    test_expect_audit(ctx, "workflow revision 1 (put)");

    test_send(ctx, "PUT", "/workflow", TEST_WORKFLOW_B);
    test_expect(ctx, 201, "{\"revision\":2}");

    test_req(ctx, "GET", "/workflow");
    assert_int_equal(ctx->res.status, 200);
    assert_int_equal(json_integer_value(json_object_get(ctx->json,
                                                        "revision")), 2);
    assert_non_null(json_object_get(json_object_get(json_object_get(
                        ctx->json, "workflow"), "pools"), "bot"));

    test_req(ctx, "GET", "/workflow/revisions/1");
    assert_int_equal(ctx->res.status, 200);
    assert_string_equal(test_member(ctx, "note"), "desk only");

    test_req(ctx, "GET", "/workflow/revisions?limit=1");
    assert_int_equal(ctx->res.status, 200);
    assert_int_equal(json_array_size(json_object_get(ctx->json,
                                                     "revisions")), 1);
    assert_int_equal(json_integer_value(json_object_get(ctx->json, "next")),
                     2);

    /* refused whole, with every error's path; nothing written */
    test_send(ctx, "PUT", "/workflow", TEST_WORKFLOW_BAD);
    assert_int_equal(ctx->res.status, 422);
    assert_string_equal(test_member(ctx, "error"), "workflow_invalid");
    assert_string_equal(test_member(ctx, "message"), "2 errors");
    assert_null(ctx->res.audit);

    errors = json_object_get(ctx->json, "errors");
    assert_int_equal(json_array_size(errors), 2);
    assert_non_null(strstr(json_string_value(json_array_get(errors, 0)),
                           "pools.desk.capacity"));
    assert_non_null(strstr(json_string_value(json_array_get(errors, 1)),
                           "default.targets[0]"));

    /* rollback: a new revision with revision 1's workflow */
    test_send(ctx, "POST", "/workflow/rollback", "{\"revision\":1}");
    test_expect(ctx, 201, "{\"revision\":3}");
    test_expect_audit(ctx, "workflow revision 3 (rollback to 1)");

    test_req(ctx, "GET", "/workflow");
    assert_string_equal(test_member(ctx, "note"), "rollback to 1");
    assert_null(json_object_get(json_object_get(json_object_get(
                    ctx->json, "workflow"), "pools"), "bot"));

    /* what changed: the bot pool came, the default's targets changed */
    test_req(ctx, "GET", "/workflow/diff?from=1&to=2");
    assert_int_equal(ctx->res.status, 200);
    assert_string_equal(ctx->res.body,
                        "{\"from\":1,\"to\":2,\"pools\":{\"added\":[\"bot\"],"
                        "\"removed\":[],\"changed\":[]},\"rules\":{\"added\":[],"
                        "\"removed\":[],\"changed\":[\"default\"],"
                        "\"reordered\":false},\"rate_limits\":{\"added\":[],"
                        "\"removed\":[],\"changed\":[],\"reordered\":false},"
                        "\"settings\":{}}");

    test_req(ctx, "GET", "/workflow/diff");
    assert_int_equal(ctx->res.status, 400);
    assert_non_null(strstr(ctx->res.body, "GET /workflow/diff needs"));

    test_send(ctx, "POST", "/workflow/rollback", "{\"revision\":9}");
    test_expect_error(ctx, 404, "not_found", "no workflow revision 9");

    /* the policy's revisions are their own */
    test_req(ctx, "GET", "/policy");
    test_expect_error(ctx, 404, "not_found", "the store has no policy");
}


static void
test_policy_refused(void **state)
{
    char         target[400];
    size_t       i;
    json_t      *errors;
    test_ctx_t  *ctx;

    ctx = *state;

    /* every error at once, and nothing written */
    test_send(ctx, "PUT", "/policy", TEST_POLICY_BAD);
    assert_int_equal(ctx->res.status, 422);
    assert_string_equal(test_member(ctx, "error"), "policy_invalid");
    assert_string_equal(test_member(ctx, "message"), "3 errors");
    assert_int_equal(json_object_size(ctx->json), 3);
    assert_null(ctx->res.audit);

    errors = json_object_get(ctx->json, "errors");
    assert_int_equal(json_array_size(errors), 3);

    for (i = 0; i < 3; i++) {
        assert_true(json_is_string(json_array_get(errors, i)));
        assert_true(json_string_length(json_array_get(errors, i)) > 0);
    }

    assert_string_equal(json_string_value(json_array_get(errors, 0)),
                        "roles.a.rules[0].effect must be \"allow\" or "
                        "\"deny\"");
    assert_non_null(strstr(json_string_value(json_array_get(errors, 1)),
                           "nobody"));
    assert_non_null(strstr(json_string_value(json_array_get(errors, 2)),
                           "\"x\""));

    test_send(ctx, "PUT", "/policy", TEST_POLICY_CYCLE);
    assert_int_equal(ctx->res.status, 422);
    assert_string_equal(test_member(ctx, "message"), "1 error");
    assert_int_equal(json_array_size(json_object_get(ctx->json, "errors")),
                     1);
    assert_non_null(strstr(ctx->res.body, "cycle"));
    assert_null(ctx->res.audit);

    test_send(ctx, "PUT", "/policy", "{}");
    assert_int_equal(ctx->res.status, 422);
    assert_null(ctx->res.audit);

    /* what is not a JSON object is refused before the engine sees it */
    test_req(ctx, "PUT", "/policy");
    test_expect_error(ctx, 400, "bad_json", "the body is empty");

    test_send(ctx, "PUT", "/policy", "{\"roles\":");
    test_expect_error(ctx, 400, "bad_json", "not valid JSON");

    test_send(ctx, "PUT", "/policy", "[]");
    test_expect_error(ctx, 400, "bad_json", "not a JSON object");

    /* notes and authors the store refuses */
    test_send(ctx, "PUT", "/policy?note=a%0Ab", TEST_POLICY_A);
    test_expect_error(ctx, 400, "invalid_argument", "control byte");

    memcpy(target, "/policy?note=", 13);
    memset(target + 13, 'n', 256);
    target[13 + 256] = '\0';
    test_send(ctx, "PUT", target, TEST_POLICY_A);
    test_expect_error(ctx, 400, "invalid_argument", "note must be at most "
                      "255 bytes without control characters");

    test_send(ctx, "PUT", "/policy?note=", TEST_POLICY_A);
    test_expect_error(ctx, 400, "invalid_argument", "empty");

    ctx->actor = "two words";
    test_send(ctx, "PUT", "/policy", TEST_POLICY_A);
    test_expect_error(ctx, 400, "invalid_argument", "author must be 1 to "
                      "255 bytes without spaces or control characters");
    ctx->actor = NULL;

    /* none of it was written */
    test_req(ctx, "GET", "/policy/revisions");
    test_expect(ctx, 200, "{\"revisions\":[],\"next\":null}");

    /* 255 bytes of note pass */
    target[13 + 255] = '\0';
    test_put_policy(ctx, target, TEST_POLICY_A, 1);
}


/* the last answer was a page of revisions from..to (newest first) */
static void
test_expect_revisions(test_ctx_t *ctx, unsigned from, unsigned to,
    const char *next)
{
    char      expect[2048], *p;
    unsigned  rev;

    p = expect;
    p += sprintf(p, "{\"revisions\":[");

    for (rev = from; rev >= to && rev > 0; rev--) {
        p += sprintf(p, "%s{\"revision\":%u,\"time\":\"" TEST_NOW_TEXT "\","
                     "\"author\":\"omnictl:ann\",\"note\":\"change %u\","
                     "\"size\":%zu}", rev == from ? "" : ",", rev, rev,
                     strlen(rev % 2 ? TEST_POLICY_A : TEST_POLICY_B));
    }

    sprintf(p, "],\"next\":%s}", next);

    test_expect(ctx, 200, expect);
    assert_null(ctx->res.audit);
}


static void
test_policy_revisions(void **state)
{
    size_t       i;
    unsigned     rev;
    char         target[64];
    test_ctx_t  *ctx;

    static const char  *bad_before[] = {
        "0", "01", "x", "4294967296", "-2", "1.5", "99999999999"
    };

    ctx = *state;

    ctx->actor = "omnictl:ann";

    for (rev = 1; rev <= 5; rev++) {
        snprintf(target, sizeof(target), "/policy?note=change%%20%u", rev);
        test_put_policy(ctx, target, rev % 2 ? TEST_POLICY_A : TEST_POLICY_B,
                        rev);
    }

    /* pages, each "before" the "next" of the last */
    test_req(ctx, "GET", "/policy/revisions?limit=2");
    test_expect_revisions(ctx, 5, 4, "4");

    test_req(ctx, "GET", "/policy/revisions?before=4&limit=2");
    test_expect_revisions(ctx, 3, 2, "2");

    test_req(ctx, "GET", "/policy/revisions?limit=2&before=2");
    test_expect_revisions(ctx, 1, 1, "null");

    test_req(ctx, "GET", "/policy/revisions?before=1");
    test_expect(ctx, 200, "{\"revisions\":[],\"next\":null}");

    /* exactly a page: no next */
    test_req(ctx, "GET", "/policy/revisions?limit=5");
    test_expect_revisions(ctx, 5, 1, "null");

    test_req(ctx, "GET", "/policy/revisions");
    test_expect_revisions(ctx, 5, 1, "null");

    test_req(ctx, "GET", "/policy/revisions?before=4294967295&limit=1");
    test_expect_revisions(ctx, 5, 5, "5");

    for (i = 0; i < sizeof(bad_before) / sizeof(bad_before[0]); i++) {
        snprintf(target, sizeof(target), "/policy/revisions?before=%s",
                 bad_before[i]);
        test_req(ctx, "GET", target);
        test_expect_error(ctx, 400, "invalid_argument", "query parameter "
                          "\"before\" must be a revision, the \"next\" of a "
                          "page");
    }

    test_req(ctx, "GET", "/policy/revisions?limit=0");
    test_expect_error(ctx, 400, "invalid_argument", "\"limit\"");

    test_req(ctx, "GET", "/policy/revisions?after=3");
    test_expect_error(ctx, 400, "invalid_argument", "\"after\"");
}


static void
test_policy_rollback(void **state)
{
    char         err[OMNI_ERRLEN];
    uint32_t     rev;
    test_ctx_t  *ctx;

    ctx = *state;

    ctx->actor = "secops-1";
    test_put_policy(ctx, "/policy?note=a", TEST_POLICY_A, 1);
    test_put_policy(ctx, "/policy?note=b", TEST_POLICY_B, 2);

    ctx->actor = "secops-2";
    test_send(ctx, "POST", "/policy/rollback", "{\"revision\":1}");
    test_expect(ctx, 201, "{\"revision\":3}");
    test_expect_audit(ctx, "policy revision 3 (rollback to 1)");

    test_req(ctx, "GET", "/policy");
    test_expect_policy(ctx, 3, "secops-2", "rollback to 1", TEST_POLICY_A);

    /* the old revisions stay */
    test_req(ctx, "GET", "/policy/revisions/2");
    test_expect_policy(ctx, 2, "secops-1", "b", TEST_POLICY_B);

    /* to the current one: a new revision all the same */
    test_send(ctx, "POST", "/policy/rollback", "{\"revision\":3}");
    test_expect(ctx, 201, "{\"revision\":4}");
    test_expect_audit(ctx, "policy revision 4 (rollback to 3)");

    /* refusals write nothing */
    test_send(ctx, "POST", "/policy/rollback", "{\"revision\":9}");
    test_expect_error(ctx, 404, "not_found", "no policy revision 9");

    test_send(ctx, "POST", "/policy/rollback", "{\"revision\":0}");
    test_expect_error(ctx, 400, "invalid_argument", "\"revision\" must be an "
                      "integer from 1 to 4294967295");

    test_send(ctx, "POST", "/policy/rollback", "{\"revision\":4294967296}");
    test_expect_error(ctx, 400, "invalid_argument", "\"revision\" must be");

    test_send(ctx, "POST", "/policy/rollback", "{\"revision\":\"1\"}");
    test_expect_error(ctx, 400, "invalid_argument", "\"revision\" must be");

    test_send(ctx, "POST", "/policy/rollback", "{\"revision\":1.0}");
    test_expect_error(ctx, 400, "invalid_argument", "\"revision\" must be");

    test_send(ctx, "POST", "/policy/rollback", "{}");
    test_expect_error(ctx, 400, "invalid_argument", "\"revision\" is missing");

    test_send(ctx, "POST", "/policy/rollback", "{\"revision\":1,\"to\":2}");
    test_expect_error(ctx, 400, "invalid_argument", "unknown key \"to\"");

    test_req(ctx, "POST", "/policy/rollback");
    test_expect_error(ctx, 400, "bad_json", "the body is empty");

    /* a stored revision the engine refuses now is not brought back */
    assert_int_equal(omni_store_policy_put(ctx->st, TEST_POLICY_CYCLE,
                                           strlen(TEST_POLICY_CYCLE), "old",
                                           "", TEST_NOW, &rev, err),
                     OMNI_STORE_OK);
    assert_int_equal(rev, 5);

    test_send(ctx, "POST", "/policy/rollback", "{\"revision\":5}");
    assert_int_equal(ctx->res.status, 422);
    assert_string_equal(test_member(ctx, "error"), "policy_invalid");
    assert_string_equal(test_member(ctx, "message"), "revision 5 is not a "
                        "valid policy: 1 error");
    assert_non_null(strstr(ctx->res.body, "cycle"));
    assert_null(ctx->res.audit);

    test_req(ctx, "GET", "/policy/revisions?limit=1");
    assert_int_equal(json_integer_value(json_object_get(json_array_get(
                         json_object_get(ctx->json, "revisions"), 0),
                         "revision")),
                     5);
}


/* a name is in the list at key of the diff member what */
static int
test_diff_has(test_ctx_t *ctx, const char *what, const char *key,
    const char *name)
{
    size_t   i;
    json_t  *list, *v;

    list = json_object_get(json_object_get(ctx->json, what), key);

    json_array_foreach(list, i, v) {
        if (json_is_string(v) && strcmp(json_string_value(v), name) == 0) {
            return 1;
        }
    }

    return 0;
}


static void
test_policy_diff(void **state)
{
    test_ctx_t  *ctx;

    ctx = *state;

    test_req(ctx, "GET", "/policy/diff?from=1");
    test_expect_error(ctx, 404, "not_found", "no policy revision 1");

    test_put_policy(ctx, "/policy", TEST_POLICY_A, 1);
    test_put_policy(ctx, "/policy", TEST_POLICY_B, 2);

    /* to the current revision by default */
    test_req(ctx, "GET", "/policy/diff?from=1");
    assert_int_equal(ctx->res.status, 200);
    assert_null(ctx->res.audit);
    assert_int_equal(json_integer_value(json_object_get(ctx->json, "from")),
                     1);
    assert_int_equal(json_integer_value(json_object_get(ctx->json, "to")),
                     2);
    assert_memory_equal(ctx->res.body, "{\"from\":1,\"to\":2,", 17);
    assert_true(test_diff_has(ctx, "roles", "added", "supervisor"));
    assert_true(test_diff_has(ctx, "rules", "removed", "anon-coupons"));
    assert_true(test_diff_has(ctx, "rules", "changed", "cust-self"));
    assert_false(test_diff_has(ctx, "rules", "changed", "agent-orders"));

    /* and back */
    test_req(ctx, "GET", "/policy/diff?from=2&to=1");
    assert_int_equal(ctx->res.status, 200);
    assert_int_equal(json_integer_value(json_object_get(ctx->json, "to")),
                     1);
    assert_true(test_diff_has(ctx, "roles", "removed", "supervisor"));
    assert_true(test_diff_has(ctx, "rules", "added", "anon-coupons"));

    /* a revision against itself: nothing */
    test_req(ctx, "GET", "/policy/diff?to=2&from=2");
    assert_int_equal(ctx->res.status, 200);
    assert_int_equal(json_array_size(json_object_get(json_object_get(
                         ctx->json, "roles"), "added")), 0);
    assert_int_equal(json_array_size(json_object_get(json_object_get(
                         ctx->json, "rules"), "changed")), 0);
    assert_null(json_object_get(ctx->json, "anonymous_role"));

    test_req(ctx, "GET", "/policy/diff");
    test_expect_error(ctx, 400, "invalid_argument", "GET /policy/diff needs "
                      "query parameter \"from\"");

    test_req(ctx, "GET", "/policy/diff?to=1");
    test_expect_error(ctx, 400, "invalid_argument", "needs query parameter "
                      "\"from\"");

    test_req(ctx, "GET", "/policy/diff?from=0");
    test_expect_error(ctx, 400, "invalid_argument", "query parameters "
                      "\"from\" and \"to\" must be integers from 1 to "
                      "4294967295");

    test_req(ctx, "GET", "/policy/diff?from=1&to=x");
    test_expect_error(ctx, 400, "invalid_argument", "\"to\"");

    test_req(ctx, "GET", "/policy/diff?from=1&to=3");
    test_expect_error(ctx, 404, "not_found", "no policy revision 3");

    test_req(ctx, "GET", "/policy/diff?from=7");
    test_expect_error(ctx, 404, "not_found", "no policy revision 7");

    test_req(ctx, "GET", "/policy/diff?from=1&limit=3");
    test_expect_error(ctx, 400, "invalid_argument", "\"limit\"");
}


static void *
test_failing_malloc(size_t size)
{
    if (test_allocs_left == 0) {
        return NULL;
    }

    test_allocs_left--;

    return malloc(size);
}


/*
 * jansson's allocations fail after n of them, for n = 0, 1, ... until a
 * request goes through: at every step the answer is complete, or
 * omni_admin_handle() returns -1 with status 500 and no body.  valgrind
 * checks that nothing leaks on the way.
 */
static void
test_out_of_memory(void **state)
{
    int                    rc;
    size_t                 i, n;
    const char            *q;
    test_ctx_t            *ctx;
    omni_admin_result_t    res;
    omni_admin_request_t   req;

    static const struct {
        const char  *method;
        const char  *target;
        const char  *body;
        unsigned     status;
    } cases[] = {
        { "GET", "/stats", NULL, 200 },
        { "GET", "/sessions/s1", NULL, 200 },
        { "GET", "/customers/c1?limit=1", NULL, 200 },
        { "GET", "/customers/c1/sessions", NULL, 200 },
        { "GET", "/customers/c1/identities?limit=1", NULL, 200 },
        { "GET", "/customers/c1/journey", NULL, 200 },
        { "GET", "/revocations", NULL, 200 },
        { "POST", "/revocations",
          "{\"kind\":\"jti\",\"value\":\"j1\",\"expires_at\":5}", 201 },
        { "PUT", "/identities/phone/1", "{\"customer\":\"c1\"}", 200 },
        { "POST", "/customers/c1/merge", "{\"into\":\"c1\"}", 409 },
        { "GET", "/nope", NULL, 404 },
        { "POST", "/revocations", "{\"kind\":", 400 },
        { "GET", "/policy", NULL, 200 },
        { "GET", "/policy/revisions/1", NULL, 200 },
        { "GET", "/policy/revisions?limit=1", NULL, 200 },
        { "GET", "/policy/diff?from=1", NULL, 200 },
        { "PUT", "/policy", TEST_POLICY_BAD, 422 },
        { "POST", "/policy/rollback", "{\"revision\":9}", 404 },
    };

    ctx = *state;

    test_put_session(ctx, "s1", "c1", "{\"a\":{\"b\":[1,2,3]},\"c\":\"d\"}");
    test_put_session(ctx, "s2", "c1", "{\"x\":1}");
    test_link(ctx, "phone", "1", "c1");
    test_link(ctx, "phone", "2", "c1");
    test_append(ctx, "c1", TEST_NOW_MS, "login", "s1");
    test_send(ctx, "POST", "/revocations", "{\"kind\":\"subject\","
              "\"value\":\"u\"}");
    assert_int_equal(ctx->res.status, 201);
    test_put_policy(ctx, "/policy?note=one", TEST_POLICY_A, 1);
    test_put_policy(ctx, "/policy?note=two", TEST_POLICY_B, 2);

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {

        for (n = 0; n < 10000; n++) {
            q = strchr(cases[i].target, '?');

            memset(&req, 0, sizeof(omni_admin_request_t));
            req.method = cases[i].method;
            req.path = cases[i].target;
            req.path_len = (q != NULL) ? (size_t) (q - cases[i].target)
                                       : strlen(cases[i].target);
            req.query = (q != NULL) ? q + 1 : NULL;
            req.query_len = (q != NULL) ? strlen(q + 1) : 0;
            req.body = cases[i].body;
            req.body_len = cases[i].body ? strlen(cases[i].body) : 0;
            req.now = TEST_NOW;

            test_allocs_left = n;
            json_set_alloc_funcs(test_failing_malloc, free);

            rc = omni_admin_handle(ctx->st, &req, &res);

            json_set_alloc_funcs(malloc, free);

            /* jansson's lexer reports some failed allocations as bad JSON */
            if (rc == 0 && res.status == 400 && cases[i].status != 400
                && strstr(res.body, "\"bad_json\"") != NULL)
            {
                omni_admin_result_free(&res);
                continue;
            }

            if (rc == 0) {
                break;
            }

            assert_int_equal(rc, -1);
            assert_int_equal(res.status, 500);
            assert_null(res.body);
            assert_int_equal(res.body_len, 0);

            omni_admin_result_free(&res);
        }

        /* when it goes through, it is the answer it would always be */
        assert_int_equal(res.status, cases[i].status);
        assert_non_null(res.body);

        test_call(ctx, cases[i].method, cases[i].target, cases[i].body,
                  cases[i].body ? strlen(cases[i].body) : 0);
        assert_string_equal(res.body, ctx->res.body);

        if (res.audit != NULL || ctx->res.audit != NULL) {
            assert_string_equal(res.audit, ctx->res.audit);
        }

        omni_admin_result_free(&res);

        /* it did go through, after failing at least once */
        assert_true(n > 0);
        assert_true(n < 10000);
    }
}


/* reads and refusals leave no audit line; only changes do */
static void
test_audit(void **state)
{
    size_t       i;
    test_ctx_t  *ctx;

    static const char  *reads[] = {
        "/stats",
        "/sessions/s1",
        "/customers/c1",
        "/customers/c1/sessions",
        "/customers/c1/identities",
        "/customers/c1/journey",
        "/identities/phone/1",
        "/revocations",
        "/revocations?kind=jti",
    };

    ctx = *state;

    test_put_session(ctx, "s1", "c1", "");
    test_link(ctx, "phone", "1", "c1");
    test_append(ctx, "c1", TEST_NOW_MS, "login", "s1");

    for (i = 0; i < sizeof(reads) / sizeof(reads[0]); i++) {
        test_req(ctx, "GET", reads[i]);
        assert_int_equal(ctx->res.status, 200);
        assert_null(ctx->res.audit);
    }

    test_send(ctx, "POST", "/customers/c1/merge", "{\"into\":\"c1\"}");
    assert_int_equal(ctx->res.status, 409);
    assert_null(ctx->res.audit);

    test_req(ctx, "DELETE", "/revocations/jti/none");
    assert_int_equal(ctx->res.status, 404);
    assert_null(ctx->res.audit);

    /* the audit line never holds anything but the change */
    test_send(ctx, "POST", "/revocations", "{\"kind\":\"jti\","
              "\"value\":\"abc\"}");
    test_expect_audit(ctx, "revoke jti abc");
}


int
main(void)
{
#define TEST(name)  cmocka_unit_test_setup_teardown(name, test_setup,         \
                                                    test_teardown)

    const struct CMUnitTest  tests[] = {
        TEST(test_stats),
        TEST(test_unknown_route),
        TEST(test_method_not_allowed),
        TEST(test_invalid_path),
        TEST(test_query),
        TEST(test_body),
        TEST(test_session_get),
        TEST(test_session_revoke),
        TEST(test_customer_get),
        TEST(test_customer_sessions),
        TEST(test_customer_identities),
        TEST(test_customer_journey),
        TEST(test_merge),
        TEST(test_erase),
        TEST(test_identities),
        TEST(test_revocations),
        TEST(test_store_full),
        TEST(test_not_utf8),
        TEST(test_audit),
        TEST(test_policy_put_get),
        TEST(test_policy_refused),
        TEST(test_policy_revisions),
        TEST(test_policy_rollback),
        TEST(test_policy_diff),
        TEST(test_workflow_revisions),
        TEST(test_out_of_memory),
    };

#undef TEST

    return cmocka_run_group_tests_name("omni_admin", tests,
                                       test_group_setup, test_group_teardown);
}
