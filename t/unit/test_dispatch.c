/*
 * Copyright (C) The omni gateway authors
 *
 * The workflow file (omni_dispatch.h): the fixtures under
 * t/fixtures/workflows (each invalid one breaks exactly one rule, so its
 * one error is checked), the examples of docs/dispatch.md, every error of
 * a document listed with its path, the errors' bound; the rate limits
 * compiled (defaults, intervals) and matched in order by channel, tier
 * and anonymity.
 */


#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "omni_dispatch.h"
#include "omni_dispatch_live.h"


static char *
test_read(const char *path, size_t *len)
{
    FILE   *f;
    char   *buf;
    long    n;

    f = fopen(path, "rb");
    if (f == NULL) {
        return NULL;
    }

    fseek(f, 0, SEEK_END);
    n = ftell(f);
    fseek(f, 0, SEEK_SET);

    buf = malloc((size_t) n + 1);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, (size_t) n, f), (size_t) n);
    buf[n] = '\0';
    fclose(f);

    *len = (size_t) n;

    return buf;
}


static size_t
test_fixture_dir(const char *dir, int valid)
{
    DIR              *d;
    char             *json, *errors, path[512];
    size_t            len, n;
    struct dirent    *e;
    omni_dispatch_t  *w;

    d = opendir(dir);
    if (d == NULL) {
        return 0;
    }

    n = 0;

    while ((e = readdir(d)) != NULL) {
        len = strlen(e->d_name);

        if (len < 6 || strcmp(e->d_name + len - 5, ".json") != 0) {
            continue;
        }

        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        json = test_read(path, &len);
        assert_non_null(json);

        w = omni_dispatch_compile(json, len, &errors);

        if ((w != NULL) != valid) {
            print_error("%s: %s\n", path, w != NULL ? "compiles" : errors);
        }

        assert_true((w != NULL) == valid);
        assert_true((errors == NULL) == valid);

        /* an invalid fixture breaks one rule: one error */
        if (!valid && strchr(errors, '\n') != NULL) {
            print_error("%s: more than one error:\n%s\n", path, errors);
            fail();
        }

        omni_dispatch_free(w);
        free(errors);
        free(json);
        n++;
    }

    closedir(d);

    return n;
}


static void
test_fixtures(void **state)
{
    char             *doc, *p, *start, *end, *errors;
    size_t            len, n;
    omni_dispatch_t  *w;

    static const char  marker[] = "<!-- example: workflow -->\n```json\n";

    (void) state;

    if (test_fixture_dir("t/fixtures/workflows/valid", 1) == 0) {
        skip();
    }

    assert_true(test_fixture_dir("t/fixtures/workflows/invalid", 0) >= 30);

    doc = test_read("docs/dispatch.md", &len);
    assert_non_null(doc);

    n = 0;

    for (p = strstr(doc, marker); p != NULL; p = strstr(end, marker)) {
        start = p + sizeof(marker) - 1;
        end = strstr(start, "```");
        assert_non_null(end);

        w = omni_dispatch_compile(start, (size_t) (end - start), &errors);
        if (w == NULL) {
            print_error("docs/dispatch.md example %zu: %s\n", n, errors);
        }

        assert_non_null(w);
        omni_dispatch_free(w);
        n++;
    }

    assert_true(n >= 1);
    free(doc);
}


static omni_dispatch_t *
test_compile(const char *json)
{
    char             *errors;
    omni_dispatch_t  *w;

    w = omni_dispatch_compile(json, strlen(json), &errors);
    if (w == NULL) {
        print_error("%s\n", errors);
    }

    assert_non_null(w);
    assert_null(errors);

    return w;
}


static char *
test_errors(const char *json)
{
    char             *errors;
    omni_dispatch_t  *w;

    w = omni_dispatch_compile(json, strlen(json), &errors);
    assert_null(w);
    assert_non_null(errors);

    return errors;
}


static void
test_every_error(void **state)
{
    char  *errors;

    (void) state;

    errors = test_errors(
        "{\"version\": 2, \"extra\": 1, \"rate_limits\": ["
        " {\"id\": \"a b\", \"rate\": 0, \"per\": \"day\"},"
        " {\"id\": \"x\", \"channels\": [\"web\", 3], \"rate\": 1,"
        "  \"per\": \"second\", \"burst\": 1000001},"
        " {\"id\": \"x\", \"unlimited\": true, \"rate\": 3}]}");

    assert_string_equal(errors,
        "unknown key \"extra\"\n"
        "version must be 1\n"
        "rate_limits[0].id \"a b\" must be 1 to 64 of A-Z a-z 0-9 _ . -\n"
        "rate_limits[0].rate must be an integer from 1 to 1000000, not 0\n"
        "rate_limits[0].per must be \"second\", \"minute\" or \"hour\"\n"
        "rate_limits[1].channels[1] must be a string\n"
        "rate_limits[1].burst must be an integer from 1 to 1000000, not "
        "1000001\n"
        "rate_limits[2]: an unlimited entry has no rate, per or burst\n"
        "rate_limits[2].id \"x\" is also rate_limits[1]'s");
    free(errors);

    /* JSON itself, size, and duplicate keys anywhere */
    errors = test_errors("{\"version\": 1,");
    assert_non_null(strstr(errors, "the workflow is not valid JSON: "));
    assert_non_null(strstr(errors, " at line 1 column "));
    free(errors);

    errors = test_errors("{\"version\": 1, \"rate_limits\": [{\"id\": \"a\","
                         " \"id\": \"b\", \"rate\": 1, \"per\": \"hour\"}]}");
    assert_non_null(strstr(errors, "duplicate object key"));
    free(errors);

    /* jansson quotes the document: its control bytes are not passed on */
    errors = test_errors("{\"version\": 1\n\001}");
    assert_null(strchr(errors, '\001'));
    assert_non_null(strstr(errors, "not valid JSON: '}' expected near '?'"));
    free(errors);

    errors = test_errors("[]");
    assert_string_equal(errors, "the workflow must be a JSON object");
    free(errors);

    /* a control byte in a value is not echoed */
    errors = test_errors("{\"version\": 1, \"rate_limits\": [{\"id\": "
                         "\"a\\u001bb\", \"rate\": 1, \"per\": \"hour\"}]}");
    assert_non_null(strstr(errors, "\"a?b\""));
    free(errors);
}


static void
test_errors_bounded(void **state)
{
    char    *json, *errors, *p;
    size_t   i, n, len;

    (void) state;

    /* 64 limits of 3 errors each: 100 listed, the rest counted */
    len = 64 * 64 + 64;
    json = malloc(len);
    assert_non_null(json);

    n = (size_t) snprintf(json, len, "{\"version\": 1, \"rate_limits\": [");

    for (i = 0; i < 64; i++) {
        n += (size_t) snprintf(json + n, len - n, "%s{\"id\": \"l%zu\", "
                               "\"rate\": 0, \"per\": 1, \"burst\": 0}",
                               i ? "," : "", i);
    }

    snprintf(json + n, len - n, "]}");

    errors = test_errors(json);

    n = 0;

    for (p = errors; (p = strchr(p, '\n')) != NULL; p++) {
        n++;
    }

    assert_int_equal(n, 100);
    assert_non_null(strstr(errors, "\n92 more errors not listed"));

    free(errors);
    free(json);

    /* larger than the bound: refused before parsing */
    len = OMNI_DISPATCH_SIZE_MAX + 1;
    json = malloc(len);
    assert_non_null(json);
    memset(json, ' ', len);
    assert_null(omni_dispatch_compile(json, len, &errors));
    assert_string_equal(errors, "the workflow is larger than 1048576 bytes");
    free(errors);
    free(json);

    /* errors may be NULL */
    assert_null(omni_dispatch_compile("[]", 2, NULL));
}


static void
test_limits(void **state)
{
    omni_dispatch_t              *w;
    const omni_dispatch_limit_t  *l;

    (void) state;

    w = test_compile(
        "{\"version\": 1, \"rate_limits\": ["
        " {\"id\": \"vip\", \"tiers\": [\"vip\", \"gold\"], \"rate\": 120,"
        "  \"per\": \"minute\", \"burst\": 10},"
        " {\"id\": \"staff\", \"tiers\": [\"staff\"], \"unlimited\": true},"
        " {\"id\": \"calls\", \"channels\": [\"ivr\"], \"rate\": 3,"
        "  \"per\": \"hour\"},"
        " {\"id\": \"signed\", \"anonymous\": false, \"rate\": 5,"
        "  \"per\": \"second\"},"
        " {\"id\": \"rest\", \"channels\": [\"web\"], \"rate\": 1,"
        "  \"per\": \"second\"}]}");

    assert_int_equal(w->nlimits, 5);

    l = &w->limits[0];
    assert_int_equal(l->interval_us, 500000);
    assert_int_equal(l->tolerance_us, 9 * 500000);

    /* the burst is the rate unless given */
    l = &w->limits[2];
    assert_int_equal(l->burst, 3);
    assert_int_equal(l->interval_us, UINT64_C(1200000000));
    assert_int_equal(l->tolerance_us, UINT64_C(2400000000));

    /* first match in order */
    l = omni_dispatch_limit(w, "ivr", "gold", 0);
    assert_string_equal(l->id, "vip");
    l = omni_dispatch_limit(w, "web", "staff", 1);
    assert_string_equal(l->id, "staff");
    assert_true(l->unlimited);
    l = omni_dispatch_limit(w, "ivr", NULL, 1);
    assert_string_equal(l->id, "calls");
    l = omni_dispatch_limit(w, "ivr", "bronze", 0);
    assert_string_equal(l->id, "calls");
    l = omni_dispatch_limit(w, "app", NULL, 0);
    assert_string_equal(l->id, "signed");
    l = omni_dispatch_limit(w, "web", NULL, 1);
    assert_string_equal(l->id, "rest");
    assert_null(omni_dispatch_limit(w, "app", NULL, 1));
    assert_null(omni_dispatch_limit(w, "app", "Vip", 1));

    assert_true(omni_dispatch_match_channel(&w->limits[2].match, "ivr"));
    assert_false(omni_dispatch_match_channel(&w->limits[2].match, "web"));
    assert_true(omni_dispatch_match_channel(&w->limits[0].match, "web"));

    omni_dispatch_free(w);

    /* no limits at all */
    w = test_compile("{\"version\": 1}");
    assert_null(omni_dispatch_limit(w, "web", NULL, 0));
    omni_dispatch_free(w);

    omni_dispatch_free(NULL);
}


/* the workflow of the decision matrix */
static const char  test_workflow[] =
    "{\"version\": 1, \"bot_confidence_min\": 0.8,"
    " \"pools\": {"
    "  \"vip_desk\": {\"capacity\": 2, \"upstream\": \"vip_backend\"},"
    "  \"bot\": {\"capacity\": 3, \"kind\": \"bot\"},"
    "  \"experts\": {\"capacity\": 1, \"kind\": \"people\"},"
    "  \"agents\": {\"capacity\": 2}},"
    " \"rules\": ["
    "  {\"id\": \"vip\", \"tiers\": [\"vip\"], \"targets\": [\"vip_desk\","
    "   {\"pool\": \"experts\", \"in_flight_below\": 1}, \"agents\"]},"
    "  {\"id\": \"simple\", \"intents\": [\"order.status\", \"faq.*\"],"
    "   \"confidence_min\": 0.5, \"targets\": [\"bot\", \"agents\"]},"
    "  {\"id\": \"case-open\", \"open_case\": true, \"anonymous\": false,"
    "   \"targets\": [\"experts\", \"agents\"]},"
    "  {\"id\": \"ivr-agent\", \"channels\": [\"ivr\"],"
    "   \"actions\": [\"ivr.agent\"], \"open_case\": false,"
    "   \"targets\": [\"agents\"]},"
    "  {\"id\": \"anon\", \"anonymous\": true, \"targets\": [\"bot\"]}],"
    " \"default\": {\"targets\": [\"agents\", \"experts\"]}}";

enum { P_VIP = 0, P_BOT, P_EXPERTS, P_AGENTS };

static const uint32_t  test_capacity[] = { 2, 3, 1, 2 };


/*
 * The matrix's evaluator, written apart from the engine from the
 * workflow's text as docs/dispatch.md reads it: the rule by plain ifs,
 * then its targets.
 */
static void
test_expect(const omni_dispatch_req_t *q, const uint32_t *in_flight,
    const char **rule, int *pool, const char **reason)
{
    int          i, n, targets[3], below[3];
    int          intent_simple;

    below[0] = below[1] = below[2] = 0;

    intent_simple = q->intent
                    && (strcmp(q->intent, "order.status") == 0
                        || strncmp(q->intent, "faq.", 4) == 0)
                    && q->confidence >= 0.5;

    if (q->tier && strcmp(q->tier, "vip") == 0) {
        *rule = "vip";
        n = 3;
        targets[0] = P_VIP; targets[1] = P_EXPERTS; targets[2] = P_AGENTS;
        below[1] = 1;

    } else if (intent_simple) {
        *rule = "simple";
        n = 2;
        targets[0] = P_BOT; targets[1] = P_AGENTS;

    } else if (q->open_case && !q->anonymous) {
        *rule = "case-open";
        n = 2;
        targets[0] = P_EXPERTS; targets[1] = P_AGENTS;

    } else if (strcmp(q->channel, "ivr") == 0 && q->action
               && strcmp(q->action, "ivr.agent") == 0 && !q->open_case)
    {
        *rule = "ivr-agent";
        n = 1;
        targets[0] = P_AGENTS;

    } else if (q->anonymous) {
        *rule = "anon";
        n = 1;
        targets[0] = P_BOT;

    } else {
        *rule = "default";
        n = 2;
        targets[0] = P_AGENTS; targets[1] = P_EXPERTS;
    }

#define ROOM(i)                                                              \
    (!(targets[i] == P_BOT && q->intent && q->confidence < 0.8)              \
     && in_flight[targets[i]] < test_capacity[targets[i]]                    \
     && (below[i] == 0 || in_flight[targets[i]] < (uint32_t) below[i]))

    for (i = 0; i < n; i++) {
        if (targets[i] == q->affinity && ROOM(i)) {
            *pool = targets[i];
            *reason = "affinity";
            return;
        }
    }

    for (i = 0; i < n; i++) {
        if (ROOM(i)) {
            *pool = targets[i];
            *reason = i ? "overflow" : "first";
            return;
        }
    }

#undef ROOM

    *pool = -1;
    *reason = "no_capacity";
}


static void
test_decisions(void **state)
{
    int                        pool, r;
    size_t                     a, c, t, an, oc, in, af, fl, n;
    uint32_t                   in_flight[4];
    const char                *rule, *reason;
    omni_dispatch_t           *w;
    omni_dispatch_req_t        q;
    omni_dispatch_decision_t   d;
    size_t                     seen[OMNI_DISPATCH_NO_CAPACITY + 1];

    static const char  *channels[] = { "web", "ivr", "sms" };
    static const char  *actions[] = { "order.query", "ivr.agent" };
    static const char  *tiers[] = { NULL, "vip", "gold" };
    static const struct {
        const char  *intent;
        double       confidence;
    } intents[] = {
        { NULL, OMNI_DISPATCH_NO_CONFIDENCE }, { "order.status", 0.9 },
        { "order.status", 0.6 }, { "faq.refund", 0.3 }, { "faq.hours", 1 },
        { "faq", 0.9 }, { "complaint", 0.95 }
    };
    /* in flight per pool: none, each full, the experts' below 1, all full */
    static const uint32_t  flights[][4] = {
        { 0, 0, 0, 0 }, { 2, 0, 0, 0 }, { 0, 3, 0, 0 }, { 0, 0, 1, 0 },
        { 0, 0, 0, 2 }, { 2, 0, 1, 0 }, { 2, 3, 1, 2 }, { 1, 2, 0, 1 },
        { 2, 0, 0, 2 }
    };

    (void) state;

    memset(seen, 0, sizeof(seen));

    w = test_compile(test_workflow);
    assert_int_equal(w->npools, 4);
    assert_int_equal(w->nrules, 6);
    assert_int_equal(w->affinity_seconds, OMNI_DISPATCH_AFFINITY_DEFAULT);
    assert_string_equal(w->pools[P_VIP].upstream, "vip_backend");
    assert_string_equal(w->pools[P_BOT].upstream, "bot");
    assert_int_equal(omni_dispatch_pool(w, "experts", 7), P_EXPERTS);
    assert_int_equal(omni_dispatch_pool(w, "expert", 6), -1);

    n = 0;

    for (c = 0; c < 3; c++)
    for (a = 0; a < 2; a++)
    for (t = 0; t < 3; t++)
    for (an = 0; an < 2; an++)
    for (oc = 0; oc < 2; oc++)
    for (in = 0; in < sizeof(intents) / sizeof(intents[0]); in++)
    for (af = 0; af < 5; af++)
    for (fl = 0; fl < sizeof(flights) / sizeof(flights[0]); fl++) {
        q.channel = channels[c];
        q.action = actions[a];
        q.tier = tiers[t];
        q.anonymous = (int) an;
        q.open_case = (int) oc;
        q.intent = intents[in].intent;
        q.confidence = intents[in].confidence;
        q.affinity = (int) af - 1;
        q.capacity = NULL;
        q.channel_in_flight = NULL;
        q.channel_capacity = NULL;
        memcpy(in_flight, flights[fl], sizeof(in_flight));

        test_expect(&q, in_flight, &rule, &pool, &reason);
        r = omni_dispatch_decide(w, &q, in_flight, &d);

        if (d.pool != pool || strcmp(d.rule, rule) != 0
            || strcmp(omni_dispatch_reason(d.reason), reason) != 0
            || strcmp(w->rules[r].id, rule) != 0)
        {
            print_error("%s %s tier %s anon %zu case %zu intent %s %.2f "
                        "affinity %d flight %zu: got %s/%d/%s, want "
                        "%s/%d/%s\n",
                        q.channel, q.action, q.tier ? q.tier : "-", an, oc,
                        q.intent ? q.intent : "-", q.confidence, q.affinity,
                        fl, d.rule, d.pool, omni_dispatch_reason(d.reason),
                        rule, pool, reason);
            fail();
        }

        seen[d.reason]++;
        n++;
    }

    assert_int_equal(n, 3 * 2 * 3 * 2 * 2 * 7 * 5 * 9);

    /* the matrix reaches every reason */
    for (r = 0; r <= OMNI_DISPATCH_NO_CAPACITY; r++) {
        assert_true(seen[r] > 0);
    }

    /* why the targets before were passed over */
    q.channel = "web";
    q.action = "order.query";
    q.tier = "vip";
    q.anonymous = 0;
    q.open_case = 0;
    q.intent = NULL;
    q.confidence = OMNI_DISPATCH_NO_CONFIDENCE;
    q.affinity = -1;
    q.capacity = NULL;
    in_flight[P_VIP] = 2;
    in_flight[P_BOT] = 0;
    in_flight[P_EXPERTS] = 1;
    in_flight[P_AGENTS] = 0;

    (void) omni_dispatch_decide(w, &q, in_flight, &d);
    assert_int_equal(d.pool, P_AGENTS);
    assert_int_equal(d.step, 2);
    assert_string_equal(d.skipped[0], "full");
    assert_string_equal(d.skipped[1], "full");

    in_flight[P_EXPERTS] = 0;
    w->pools[P_EXPERTS].capacity = 5;
    in_flight[P_EXPERTS] = 1;
    (void) omni_dispatch_decide(w, &q, in_flight, &d);
    assert_string_equal(d.skipped[1], "busy");

    /* capacities set live replace the file's */
    {
        uint32_t  live[4] = { 0, 3, 5, 10 };

        in_flight[P_VIP] = 0;
        in_flight[P_EXPERTS] = 0;
        q.capacity = live;
        (void) omni_dispatch_decide(w, &q, in_flight, &d);
        assert_int_equal(d.pool, P_EXPERTS);
        assert_string_equal(d.skipped[0], "full");

        live[P_VIP] = 2;
        (void) omni_dispatch_decide(w, &q, in_flight, &d);
        assert_int_equal(d.pool, P_VIP);

        q.capacity = NULL;
    }

    q.tier = NULL;
    q.intent = "order.status";
    q.confidence = 0.6;
    (void) omni_dispatch_decide(w, &q, in_flight, &d);
    assert_string_equal(d.rule, "simple");
    assert_string_equal(d.skipped[0], "low_confidence");
    assert_int_equal(d.pool, P_AGENTS);

    omni_dispatch_free(w);

    /* a file of rate limits only decides nothing */
    w = test_compile("{\"version\": 1}");
    assert_int_equal(omni_dispatch_decide(w, &q, in_flight, &d), -1);
    assert_int_equal(d.pool, -1);
    omni_dispatch_free(w);
}


static void
test_rule_errors(void **state)
{
    char  *errors;

    (void) state;

    errors = test_errors(
        "{\"version\": 1, \"bot_confidence_min\": 2,"
        " \"pools\": {\"a\": {\"capacity\": 0, \"kind\": \"robot\","
        "  \"upstream\": \"a b\"}, \"b c\": {\"capacity\": 1},"
        "  \"d\": {\"capacity\": 1, \"size\": 1}},"
        " \"rules\": [{\"id\": \"default\", \"targets\": [\"a\"]},"
        "  {\"id\": \"r\", \"actions\": [\"Order\"], \"intents\": [\"x.*\"],"
        "   \"confidence_min\": -1, \"targets\": [\"z\", \"a\", \"a\","
        "   {\"pool\": \"d\", \"in_flight_below\": 0}]},"
        "  {\"id\": \"r\", \"confidence_min\": 0.5, \"targets\": []}],"
        " \"default\": {\"id\": \"x\","
        "  \"targets\": [{\"in_flight_below\": 1}]}}");

    assert_string_equal(errors,
        "bot_confidence_min must be a number from 0 to 1\n"
        "pools.a.upstream must be an upstream's name (1 to 128 of A-Z a-z "
        "0-9 _ . : -)\n"
        "pools.a.capacity must be an integer from 1 to 1000000, not 0\n"
        "pools.a.kind must be \"bot\" or \"people\"\n"
        "pools: the name \"b c\" must be 1 to 64 of A-Z a-z 0-9 _ . -\n"
        "pools.d: unknown key \"size\"\n"
        "rules[0].id \"default\" is the default's\n"
        "rules[1].actions[0] \"Order\" is not an action pattern (\"*\", or "
        "dotted lowercase words with an optional final \".*\", 128 bytes "
        "at most)\n"
        "rules[1].confidence_min must be a number from 0 to 1\n"
        "rules[1].targets[0]: unknown pool \"z\"\n"
        "rules[1].targets[2]: pool \"a\" is listed twice\n"
        "rules[1].targets[3].in_flight_below must be an integer from 1 to "
        "1000000, not 0\n"
        "rules[2].confidence_min needs intents\n"
        "rules[2].targets must be a non-empty array\n"
        "rules[2].id \"r\" is also rules[1]'s\n"
        "default: unknown key \"id\"\n"
        "default.targets[0].pool is missing");
    free(errors);

    /* open_case: a rule's condition, true or false; not a limit's */
    errors = test_errors(
        "{\"version\": 1, \"pools\": {\"a\": {\"capacity\": 1}},"
        " \"rate_limits\": [{\"id\": \"l\", \"open_case\": true,"
        "  \"rate\": 1, \"per\": \"second\"}],"
        " \"rules\": [{\"id\": \"r\", \"open_case\": 1, \"targets\": [\"a\"]}],"
        " \"default\": {\"open_case\": false, \"targets\": [\"a\"]}}");
    assert_string_equal(errors,
        "rate_limits[0]: unknown key \"open_case\"\n"
        "rules[0].open_case must be true or false\n"
        "default: unknown key \"open_case\"");
    free(errors);

    errors = test_errors("{\"version\": 1, \"rules\": []}");
    assert_string_equal(errors,
        "pools is missing: rules and a default name pools\n"
        "default is missing: the targets of a request no rule matches");
    free(errors);

    errors = test_errors("{\"version\": 1, \"pools\": {\"a\": "
                         "{\"capacity\": 1}}}");
    assert_string_equal(errors,
        "default is missing: the targets of a request no rule matches");
    free(errors);
}


/*
 * A pool's capacity per channel: an IVR call fills the voice slot while
 * chats still get in, within the pool's capacity; in_flight_below counts
 * the request's channel in such a pool; capacities set live replace the
 * file's.
 */
static void
test_channel_capacity(void **state)
{
    uint32_t                   in_flight[2], ch_flight[2], ch_live[2];
    omni_dispatch_t           *w;
    omni_dispatch_req_t        q;
    omni_dispatch_decision_t   d;

    (void) state;

    w = test_compile("{\"version\": 1,"
                     " \"pools\": {\"desk\": {\"capacity\": 4,"
                     "   \"channels\": {\"ivr\": 1, \"web\": 3}},"
                     "  \"overflow\": {\"capacity\": 9}},"
                     " \"rules\": [{\"id\": \"calm\", \"tiers\": [\"calm\"],"
                     "   \"targets\": [{\"pool\": \"desk\","
                     "     \"in_flight_below\": 2}, \"overflow\"]}],"
                     " \"default\": {\"targets\": [\"desk\", \"overflow\"]}}");

    assert_int_equal(w->pools[0].nchannels, 2);
    assert_int_equal(omni_dispatch_pool_channel(&w->pools[0], "web"), 1);
    assert_int_equal(omni_dispatch_pool_channel(&w->pools[0], "sms"), -1);
    assert_int_equal(omni_dispatch_pool_channel(&w->pools[1], "web"), -1);

    memset(&q, 0, sizeof(q));
    q.channel = "ivr";
    q.action = "call";
    q.confidence = OMNI_DISPATCH_NO_CONFIDENCE;
    q.affinity = -1;
    q.channel_in_flight = ch_flight;

    /* one call in flight on the desk: its voice slot is full */
    in_flight[0] = 1;
    in_flight[1] = 0;
    ch_flight[0] = 1;
    ch_flight[1] = 0;

    (void) omni_dispatch_decide(w, &q, in_flight, &d);
    assert_int_equal(d.pool, 1);
    assert_string_equal(d.skipped[0], "full");

    /* ...while chats still get in: the web's own count is 0 */
    q.channel = "web";
    ch_flight[0] = 0;
    (void) omni_dispatch_decide(w, &q, in_flight, &d);
    assert_int_equal(d.pool, 0);
    assert_int_equal(d.reason, OMNI_DISPATCH_FIRST);

    /* three chats fill the web's */
    ch_flight[0] = 3;
    in_flight[0] = 4 - 1;
    (void) omni_dispatch_decide(w, &q, in_flight, &d);
    assert_int_equal(d.pool, 1);

    /* a channel without its own capacity: the pool's alone */
    q.channel = "sms";
    (void) omni_dispatch_decide(w, &q, in_flight, &d);
    assert_int_equal(d.pool, 0);
    in_flight[0] = 4;
    (void) omni_dispatch_decide(w, &q, in_flight, &d);
    assert_int_equal(d.pool, 1);
    assert_string_equal(d.skipped[0], "full");

    /* the pool's capacity bounds every channel */
    q.channel = "web";
    ch_flight[0] = 0;
    (void) omni_dispatch_decide(w, &q, in_flight, &d);
    assert_int_equal(d.pool, 1);

    /* in_flight_below counts the request's channel in such a pool */
    q.tier = "calm";
    in_flight[0] = 3;
    ch_flight[0] = 1;
    (void) omni_dispatch_decide(w, &q, in_flight, &d);
    assert_int_equal(d.pool, 0);
    ch_flight[0] = 2;
    (void) omni_dispatch_decide(w, &q, in_flight, &d);
    assert_int_equal(d.pool, 1);
    assert_string_equal(d.skipped[0], "busy");

    /* set live: 0 closes the desk to calls, 2 opens a second line */
    q.tier = NULL;
    q.channel = "ivr";
    in_flight[0] = 1;
    ch_flight[0] = 1;
    ch_live[0] = 2;
    ch_live[1] = 0;
    q.channel_capacity = ch_live;
    (void) omni_dispatch_decide(w, &q, in_flight, &d);
    assert_int_equal(d.pool, 0);

    ch_live[0] = 0;
    ch_flight[0] = 0;
    (void) omni_dispatch_decide(w, &q, in_flight, &d);
    assert_int_equal(d.pool, 1);
    assert_string_equal(d.skipped[0], "full");

    omni_dispatch_free(w);
}


/*
 * The rules indexed by channel decide as a scan of every rule in order
 * would: a workflow whose rules name channels in every way, decided for
 * channels named by one rule, by several, and by none.
 */
static void
test_channel_index(void **state)
{
    size_t                     c, t, i, j, want;
    uint32_t                   idle[1];
    omni_dispatch_t           *w;
    omni_dispatch_req_t        q;
    omni_dispatch_decision_t   d;
    const omni_dispatch_rule_t  *rule;

    static const char  *channels[] = { "web", "ivr", "sms", "app", "wecom" };
    static const char  *tiers[] = { NULL, "vip", "gold", "bronze" };

    (void) state;

    w = test_compile("{\"version\": 1,"
                     " \"pools\": {\"p\": {\"capacity\": 1}},"
                     " \"rules\": ["
                     "  {\"id\": \"a\", \"channels\": [\"ivr\"],"
                     "   \"tiers\": [\"vip\"], \"targets\": [\"p\"]},"
                     "  {\"id\": \"b\", \"tiers\": [\"vip\"],"
                     "   \"targets\": [\"p\"]},"
                     "  {\"id\": \"c\", \"channels\": [\"web\", \"ivr\"],"
                     "   \"tiers\": [\"gold\"], \"targets\": [\"p\"]},"
                     "  {\"id\": \"d\", \"channels\": [\"sms\"],"
                     "   \"targets\": [\"p\"]},"
                     "  {\"id\": \"e\", \"tiers\": [\"gold\"],"
                     "   \"targets\": [\"p\"]},"
                     "  {\"id\": \"f\", \"channels\": [\"web\"],"
                     "   \"targets\": [\"p\"]}],"
                     " \"default\": {\"targets\": [\"p\"]}}");

    assert_int_equal(w->nsets, 3);

    memset(&q, 0, sizeof(q));
    q.action = "a.b";
    q.confidence = OMNI_DISPATCH_NO_CONFIDENCE;
    q.affinity = -1;
    idle[0] = 0;

    for (c = 0; c < sizeof(channels) / sizeof(channels[0]); c++)
    for (t = 0; t < sizeof(tiers) / sizeof(tiers[0]); t++) {
        q.channel = channels[c];
        q.tier = tiers[t];

        /* every rule in order, its conditions read from the workflow */
        for (want = 0; want + 1 < w->nrules; want++) {
            rule = &w->rules[want];

            for (i = 0; i < rule->match.nchannels; i++) {
                if (q.channel
                    && strcmp(rule->match.channels[i], q.channel) == 0)
                {
                    break;
                }
            }

            for (j = 0; j < rule->match.ntiers; j++) {
                if (q.tier && strcmp(rule->match.tiers[j], q.tier) == 0) {
                    break;
                }
            }

            if ((rule->match.nchannels == 0 || i < rule->match.nchannels)
                && (rule->match.ntiers == 0 || j < rule->match.ntiers))
            {
                break;
            }
        }

        if ((size_t) omni_dispatch_decide(w, &q, idle, &d) != want) {
            fail_msg("channel %s tier %s: rule %s, want %s",
                     q.channel ? q.channel : "-", q.tier ? q.tier : "-",
                     d.rule, w->rules[want].id);
        }
    }

    omni_dispatch_free(w);
}


/* what changed between two workflows */
static void
test_diff(void **state)
{
    char  *text;

    static const char  a[] =
        "{\"version\": 1, \"affinity_seconds\": 60,"
        " \"rate_limits\": [{\"id\": \"l1\", \"rate\": 1, \"per\": \"hour\"}],"
        " \"pools\": {\"desk\": {\"capacity\": 2}, \"bot\": {\"capacity\": 9},"
        "  \"old\": {\"capacity\": 1}},"
        " \"rules\": [{\"id\": \"r1\", \"tiers\": [\"vip\"], \"targets\": [\"desk\"]},"
        "  {\"id\": \"r2\", \"tiers\": [\"gold\"], \"targets\": [\"bot\"]},"
        "  {\"id\": \"r3\", \"tiers\": [\"x\"], \"targets\": [\"old\"]}],"
        " \"default\": {\"targets\": [\"desk\"]}}";
    static const char  b[] =
        "{\"version\": 1,"
        " \"rate_limits\": [{\"id\": \"l1\", \"rate\": 1, \"per\": \"hour\"}],"
        " \"pools\": {\"desk\": {\"capacity\": 3}, \"bot\": {\"capacity\": 9},"
        "  \"new\": {\"capacity\": 1}},"
        " \"rules\": [{\"id\": \"r2\", \"tiers\": [\"gold\"], \"targets\": [\"bot\"]},"
        "  {\"id\": \"r1\", \"tiers\": [\"vip\"], \"targets\": [\"desk\"]},"
        "  {\"id\": \"r4\", \"tiers\": [\"y\"], \"targets\": [\"new\"]}],"
        " \"default\": {\"targets\": [\"bot\", \"desk\"]}}";

    (void) state;

    text = omni_dispatch_diff(a, strlen(a), b, strlen(b));
    assert_non_null(text);
    assert_string_equal(text,
        "{\"pools\":{\"added\":[\"new\"],\"removed\":[\"old\"],"
        "\"changed\":[\"desk\"]},"
        "\"rules\":{\"added\":[\"r4\"],\"removed\":[\"r3\"],"
        "\"changed\":[\"default\"],\"reordered\":true},"
        "\"rate_limits\":{\"added\":[],\"removed\":[],\"changed\":[],"
        "\"reordered\":false},"
        "\"settings\":{\"affinity_seconds\":{\"from\":60,\"to\":null}}}");
    free(text);

    /* the same: nothing changed */
    text = omni_dispatch_diff(a, strlen(a), a, strlen(a));
    assert_non_null(text);
    assert_non_null(strstr(text, "\"rules\":{\"added\":[],\"removed\":[],"
                                 "\"changed\":[],\"reordered\":false}"));
    assert_non_null(strstr(text, "\"settings\":{}"));
    free(text);

    /* only valid workflows are compared */
    assert_null(omni_dispatch_diff(a, strlen(a), "{}", 2));
    assert_null(omni_dispatch_diff("[", 1, a, strlen(a)));
}


/* the capacities set live: a record read, one entry set or dropped */
static void
test_live(void **state)
{
    char                         err[OMNI_ERRLEN], *text, *more;
    size_t                       i, n;
    omni_dispatch_live_t         live[4];
    const omni_dispatch_live_t  *e;

    static const char  *bad[] = {
        "[]", "{\"a\": -1}", "{\"a\": 1000001}", "{\"a\": 1.5}",
        "{\"a b\": 1}", "{\"a/IVR\": 1}", "{\"a/\": 1}", "{\"/ivr\": 1}",
        "{\"a\": 1, \"a\": 2}", "{\"a\": \"1\"}", "not json",
        "{\"a\":1,\"b\":1,\"c\":1,\"d\":1,\"e\":1}"
    };

    (void) state;

    text = "{\"desk\": 3, \"desk/ivr\": 0}";
    assert_int_equal(omni_dispatch_live_parse(text, strlen(text), live, 4,
                                              &n, err), 0);
    assert_int_equal(n, 2);

    e = omni_dispatch_live_find(live, n, "desk", "");
    assert_non_null(e);
    assert_int_equal(e->capacity, 3);
    e = omni_dispatch_live_find(live, n, "desk", "ivr");
    assert_non_null(e);
    assert_int_equal(e->capacity, 0);
    assert_null(omni_dispatch_live_find(live, n, "desk", "web"));
    assert_null(omni_dispatch_live_find(live, n, "bot", ""));

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (omni_dispatch_live_parse(bad[i], strlen(bad[i]), live, 4, &n,
                                     err)
            == 0)
        {
            fail_msg("%s: read as capacities", bad[i]);
        }
    }

    /* set from nothing, then more, then one dropped */
    text = omni_dispatch_live_set(NULL, 0, "desk", NULL, 3, err);
    assert_non_null(text);
    assert_string_equal(text, "{\"desk\":3}");

    more = omni_dispatch_live_set(text, strlen(text), "desk", "ivr", 1, err);
    free(text);
    assert_non_null(more);
    assert_string_equal(more, "{\"desk\":3,\"desk/ivr\":1}");

    text = omni_dispatch_live_set(more, strlen(more), "desk", NULL, -1, err);
    free(more);
    assert_non_null(text);
    assert_string_equal(text, "{\"desk/ivr\":1}");
    free(text);

    /* a record that is not one is not written over */
    assert_null(omni_dispatch_live_set("[]", 2, "desk", NULL, 1, err));
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(test_fixtures),
        cmocka_unit_test(test_every_error),
        cmocka_unit_test(test_errors_bounded),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_decisions),
        cmocka_unit_test(test_channel_capacity),
        cmocka_unit_test(test_channel_index),
        cmocka_unit_test(test_diff),
        cmocka_unit_test(test_live),
        cmocka_unit_test(test_rule_errors),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
