/*
 * Copyright (C) The omni gateway authors
 *
 * Unit tests of the policy engine: inheritance, cycles, deny precedence,
 * action patterns, channels, conditions, the anonymous role, every
 * validation message, reply scopes, explain() paths and diff().
 *
 * Policies are written with single quotes, which test_json() turns into
 * double quotes: JSON in C strings stays readable.
 */


#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <dirent.h>

#include "omni_policy.h"


#define TEST_ROLES_MAX   8
#define TEST_TEXT_MAX    65536


typedef struct {
    char                    *names[TEST_ROLES_MAX];
    const char              *roles[TEST_ROLES_MAX];
    char                     buf[256];
    omni_policy_request_t    req;
} test_req_t;


static char  test_text[TEST_TEXT_MAX];


/* helpers */

/* single quotes to double quotes, in a static buffer */
static const char *
test_json(const char *s)
{
    size_t  i;

    assert_true(strlen(s) < sizeof(test_text));

    for (i = 0; s[i] != '\0'; i++) {
        test_text[i] = (s[i] == '\'') ? '"' : s[i];
    }

    test_text[i] = '\0';

    return test_text;
}


static omni_policy_t *
test_compile(const char *sq)
{
    char           *errors;
    const char     *json;
    omni_policy_t  *p;

    json = test_json(sq);
    p = omni_policy_compile(json, strlen(json), &errors);

    if (p == NULL) {
        print_error("unexpected errors:\n%s\n", errors ? errors : "(none)");
    }

    assert_non_null(p);
    assert_null(errors);

    return p;
}


/* the policy must fail with exactly these errors (lines joined by \n) */
static void
test_errors(const char *sq, const char *want)
{
    char           *errors;
    const char     *json;
    omni_policy_t  *p;

    json = test_json(sq);
    p = omni_policy_compile(json, strlen(json), &errors);

    assert_null(p);
    assert_non_null(errors);
    assert_string_equal(errors, want);

    free(errors);
}


/* a request: roles comma-separated, NULL for an anonymous caller */
static omni_policy_request_t *
test_request(test_req_t *t, const char *roles, const char *channel,
    const char *action)
{
    char  *p, *comma;

    memset(t, 0, sizeof(test_req_t));

    t->req.channel = channel;
    t->req.action = action;
    t->req.roles = t->roles;

    if (roles == NULL) {
        t->req.anonymous = 1;
        return &t->req;
    }

    snprintf(t->buf, sizeof(t->buf), "%s", roles);
    p = t->buf;

    while (p != NULL && t->req.nroles < TEST_ROLES_MAX) {
        comma = strchr(p, ',');
        if (comma != NULL) {
            *comma++ = '\0';
        }

        t->roles[t->req.nroles++] = p;
        p = comma;
    }

    return &t->req;
}


/* "allow RULE ROLE" or "deny RULE ROLE", "-" for no role */
static const char *
test_decide(const omni_policy_t *p, const char *roles, const char *channel,
    const char *action)
{
    static char             out[256];
    test_req_t              t;
    omni_policy_decision_t  d;

    omni_policy_decide(p, test_request(&t, roles, channel, action), &d);

    snprintf(out, sizeof(out), "%s %s %s", d.allow ? "allow" : "deny",
             d.rule, d.role ? d.role : "-");

    return out;
}


/* "RULE: PATH" */
static const char *
test_explain(const omni_policy_t *p, const char *roles, const char *channel,
    const char *action)
{
    static char             out[OMNI_POLICY_PATH_MAX + 80];
    char                    path[OMNI_POLICY_PATH_MAX];
    test_req_t              t;
    omni_policy_decision_t  d;

    omni_policy_explain(p, test_request(&t, roles, channel, action), &d,
                        path, sizeof(path));

    snprintf(out, sizeof(out), "%s: %s", d.rule, path);

    return out;
}


/* the scoped reply, "=" when unchanged, "!" when refused */
static const char *
test_scope(const omni_policy_t *p, const char *roles, const char *reply)
{
    static char  out[TEST_TEXT_MAX];
    int          rc;
    char        *text, *json;
    size_t       len;
    test_req_t   t;

    json = strdup(test_json(reply));
    assert_non_null(json);

    rc = omni_policy_apply_scopes(p, test_request(&t, roles, "web", "x.y"),
                                  json, strlen(json), &text, &len);
    free(json);

    if (rc != 0) {
        assert_null(text);
        return "!";
    }

    if (text == NULL) {
        assert_int_equal(len, 0);
        return "=";
    }

    assert_int_equal(len, strlen(text));

    /* back to single quotes, to compare with the tests' literals */
    snprintf(out, sizeof(out), "%s", text);
    free(text);

    for (len = 0; out[len] != '\0'; len++) {
        if (out[len] == '"') {
            out[len] = '\'';
        }
    }

    return out;
}


static int
test_has_scopes(const omni_policy_t *p, const char *roles)
{
    test_req_t  t;

    return omni_policy_has_scopes(p, test_request(&t, roles, "web", "x.y"));
}


/* a growing text, for the generated policies */
typedef struct {
    char    *p;
    size_t   len;
    size_t   cap;
} test_buf_t;


static void
test_add(test_buf_t *b, const char *fmt, ...)
{
    int      n;
    va_list  args;

    for ( ;; ) {
        va_start(args, fmt);
        n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, args);
        va_end(args);

        assert_true(n >= 0);

        if (b->len + n < b->cap) {
            b->len += n;
            return;
        }

        b->cap = b->cap ? b->cap * 2 : 65536;
        b->p = realloc(b->p, b->cap);
        assert_non_null(b->p);
    }
}


/* the shop: the policy most decision tests use */

static const char  *test_shop =
    "{'version': 1,"
    " 'roles': {"
    "  'anonymous': {'rules': ["
    "    {'id': 'anon-catalog', 'effect': 'allow', 'actions': ['catalog.*']}"
    "  ]},"
    "  'customer': {'description': 'a signed-in customer',"
    "   'inherits': ['anonymous'],"
    "   'rules': ["
    "    {'id': 'cust-orders', 'effect': 'allow',"
    "     'actions': ['order.query', 'order.list']},"
    "    {'id': 'cust-self', 'effect': 'allow', 'actions': ['customer.*']}"
    "  ]},"
    "  'agent': {'inherits': ['customer'], 'rules': ["
    "    {'id': 'agent-orders', 'effect': 'allow', 'actions': ['order.*'],"
    "     'channels': ['web', 'ivr']},"
    "    {'id': 'agent-no-create', 'effect': 'deny',"
    "     'actions': ['order.create']}"
    "  ]},"
    "  'vip_desk': {'inherits': ['agent'], 'rules': ["
    "    {'id': 'vip-create', 'effect': 'allow', 'actions': ['order.create']}"
    "  ]},"
    "  'auditor': {'rules': ["
    "    {'id': 'audit-read', 'effect': 'allow',"
    "     'actions': ['order.query', 'audit.*']},"
    "    {'id': 'audit-no-write', 'effect': 'deny',"
    "     'actions': ['order.refund', 'order.create', 'customer.update']}"
    "  ]},"
    "  'admin': {'rules': ["
    "    {'id': 'admin-all', 'effect': 'allow', 'actions': ['*']}"
    "  ]}"
    " }}";


/* inheritance */

static void
test_inheritance_levels(void **state)
{
    omni_policy_t  *p;

    (void) state;

    p = test_compile(test_shop);

    assert_int_equal(omni_policy_roles(p), 6);
    assert_int_equal(omni_policy_rules(p), 9);

    /* vip_desk > agent > customer > anonymous: three levels down */
    assert_string_equal(test_decide(p, "vip_desk", "web", "catalog.browse"),
                        "allow anon-catalog anonymous");
    assert_string_equal(test_decide(p, "vip_desk", "app", "customer.get"),
                        "allow cust-self customer");
    assert_string_equal(test_decide(p, "agent", "web", "order.refund"),
                        "allow agent-orders agent");
    assert_string_equal(test_decide(p, "customer", "web", "order.refund"),
                        "deny default -");

    /* inheritance goes down only */
    assert_string_equal(test_decide(p, "customer", "web", "order.cancel"),
                        "deny default -");
    assert_string_equal(test_decide(p, "anonymous", "web", "order.query"),
                        "deny default -");

    omni_policy_free(p);
}


static void
test_inheritance_diamond(void **state)
{
    omni_policy_t  *p;

    (void) state;

    /* top inherits left and right, both inherit base */
    p = test_compile(
        "{'version': 1, 'roles': {"
        " 'top': {'inherits': ['left', 'right']},"
        " 'left': {'inherits': ['base'], 'rules': ["
        "   {'id': 'left-a', 'effect': 'allow', 'actions': ['a.left']}]},"
        " 'right': {'inherits': ['base'], 'rules': ["
        "   {'id': 'right-no-b', 'effect': 'deny', 'actions': ['b.shared']}]},"
        " 'base': {'rules': ["
        "   {'id': 'base-b', 'effect': 'allow', 'actions': ['b.*']}]}"
        "}}");

    assert_string_equal(test_decide(p, "top", "web", "a.left"),
                        "allow left-a left");
    assert_string_equal(test_decide(p, "top", "web", "b.other"),
                        "allow base-b base");
    assert_string_equal(test_decide(p, "left", "web", "b.shared"),
                        "allow base-b base");

    /* the deny of one branch wins over the allow of the shared base */
    assert_string_equal(test_decide(p, "top", "web", "b.shared"),
                        "deny right-no-b right");

    /* base is reached through left first (breadth first, file order) */
    assert_string_equal(test_explain(p, "top", "web", "b.other"),
                        "base-b: top > left > base");

    omni_policy_free(p);
}


static void
test_inheritance_long_chain(void **state)
{
    size_t          i;
    test_buf_t      b;
    omni_policy_t  *p;
    char           *errors;
    char            want[64];

    (void) state;

    /* r0 inherits r1 ... r199 holds the only rule */
    memset(&b, 0, sizeof(b));
    test_add(&b, "{\"version\": 1, \"roles\": {");

    for (i = 0; i < 200; i++) {
        if (i < 199) {
            test_add(&b, "\"r%zu\": {\"inherits\": [\"r%zu\"]},", i, i + 1);

        } else {
            test_add(&b, "\"r%zu\": {\"rules\": [{\"id\": \"deep\", "
                     "\"effect\": \"allow\", \"actions\": [\"x.y\"]}]}", i);
        }
    }

    test_add(&b, "}}");

    p = omni_policy_compile(b.p, b.len, &errors);
    assert_non_null(p);

    assert_string_equal(test_decide(p, "r0", "web", "x.y"),
                        "allow deep r199");
    assert_string_equal(test_decide(p, "r150", "web", "x.y"),
                        "allow deep r199");
    snprintf(want, sizeof(want), "deep: r197 > r198 > r199");
    assert_string_equal(test_explain(p, "r197", "web", "x.y"), want);

    omni_policy_free(p);
    free(b.p);
}


/* cycles */

static void
test_cycles(void **state)
{
    (void) state;

    test_errors("{'version': 1, 'roles': {'a': {'inherits': ['a']}}}",
                "roles: inheritance cycle a -> a");

    test_errors("{'version': 1, 'roles': {"
                " 'agent': {'inherits': ['desk']},"
                " 'desk': {'inherits': ['agent']}}}",
                "roles: inheritance cycle agent -> desk -> agent");

    test_errors("{'version': 1, 'roles': {"
                " 'a': {'inherits': ['b']},"
                " 'b': {'inherits': ['c']},"
                " 'c': {'inherits': ['a']}}}",
                "roles: inheritance cycle a -> b -> c -> a");

    /* entered from outside: the cycle alone is named */
    test_errors("{'version': 1, 'roles': {"
                " 'x': {'inherits': ['a']},"
                " 'a': {'inherits': ['b']},"
                " 'b': {'inherits': ['a', 'c']},"
                " 'c': {}}}",
                "roles: inheritance cycle a -> b -> a");

    /* two separate cycles: both; in the order of the file */
    test_errors("{'version': 1, 'roles': {"
                " 'p': {'inherits': ['q']},"
                " 'q': {'inherits': ['p']},"
                " 's': {'inherits': ['s']}}}",
                "roles: inheritance cycle p -> q -> p\n"
                "roles: inheritance cycle s -> s");

    /* a cycle and another error: each in its role's place */
    test_errors("{'version': 1, 'roles': {"
                " 'a': {'inherits': ['a']},"
                " 'b': {'rules': [{'id': 'x', 'effect': 'maybe',"
                "                  'actions': ['*']}]}}}",
                "roles: inheritance cycle a -> a\n"
                "roles.b.rules[0].effect must be \"allow\" or \"deny\"");
}


/* deny wins */

static void
test_deny_precedence(void **state)
{
    omni_policy_t  *p;

    (void) state;

    p = test_compile(test_shop);

    /* the agent's deny is inherited and beats the vip's own allow */
    assert_string_equal(test_decide(p, "vip_desk", "web", "order.create"),
                        "deny agent-no-create agent");

    /* a deny in one of the caller's roles beats an allow in another */
    assert_string_equal(test_decide(p, "admin", "web", "order.refund"),
                        "allow admin-all admin");
    assert_string_equal(test_decide(p, "admin,auditor", "web",
                                    "order.refund"),
                        "deny audit-no-write auditor");
    assert_string_equal(test_decide(p, "auditor,admin", "web",
                                    "order.refund"),
                        "deny audit-no-write auditor");

    /* a deny that does not match the action changes nothing */
    assert_string_equal(test_decide(p, "auditor,admin", "web",
                                    "order.cancel"),
                        "allow admin-all admin");

    omni_policy_free(p);
}


static void
test_first_rule_in_policy_order(void **state)
{
    omni_policy_t  *p;

    (void) state;

    p = test_compile(
        "{'version': 1, 'roles': {"
        " 'a': {'inherits': ['b'], 'rules': ["
        "   {'id': 'a-any', 'effect': 'allow', 'actions': ['*']},"
        "   {'id': 'a-prefix', 'effect': 'allow', 'actions': ['x.*']},"
        "   {'id': 'a-deny2', 'effect': 'deny', 'actions': ['x.y.z']}]},"
        " 'b': {'rules': ["
        "   {'id': 'b-deny1', 'effect': 'deny', 'actions': ['x.*']},"
        "   {'id': 'b-exact', 'effect': 'allow', 'actions': ['x.y']}]}"
        "}}");

    /* several allows: the first in the file, whatever the kind */
    assert_string_equal(test_decide(p, "a", "web", "x.y"),
                        "deny b-deny1 b");
    assert_string_equal(test_decide(p, "b", "web", "x.y"),
                        "deny b-deny1 b");
    assert_string_equal(test_decide(p, "a", "web", "q.r"),
                        "allow a-any a");

    /* several denies: the first in the file (a's come before b's) */
    assert_string_equal(test_decide(p, "a", "web", "x.y.z"),
                        "deny a-deny2 a");

    omni_policy_free(p);

    p = test_compile(
        "{'version': 1, 'roles': {"
        " 'a': {'rules': ["
        "   {'id': 'one', 'effect': 'allow', 'actions': ['x.y'],"
        "    'channels': ['app']},"
        "   {'id': 'two', 'effect': 'allow', 'actions': ['x.*']},"
        "   {'id': 'three', 'effect': 'allow', 'actions': ['x.y']}]}"
        "}}");

    assert_string_equal(test_decide(p, "a", "app", "x.y"), "allow one a");
    assert_string_equal(test_decide(p, "a", "web", "x.y"), "allow two a");

    omni_policy_free(p);
}


/* patterns */

static void
test_patterns(void **state)
{
    omni_policy_t  *p;

    (void) state;

    p = test_compile(
        "{'version': 1, 'roles': {"
        " 'exact': {'rules': [{'id': 'e', 'effect': 'allow',"
        "   'actions': ['order.refund']}]},"
        " 'prefix': {'rules': [{'id': 'p', 'effect': 'allow',"
        "   'actions': ['order.*']}]},"
        " 'deep': {'rules': [{'id': 'd', 'effect': 'allow',"
        "   'actions': ['order.refund.*']}]},"
        " 'all': {'rules': [{'id': 'a', 'effect': 'allow',"
        "   'actions': ['*']}]},"
        " 'single': {'rules': [{'id': 's', 'effect': 'allow',"
        "   'actions': ['order']}]}"
        "}}");

    assert_string_equal(test_decide(p, "exact", "web", "order.refund"),
                        "allow e exact");
    assert_string_equal(test_decide(p, "exact", "web", "order.refunds"),
                        "deny default -");
    assert_string_equal(test_decide(p, "exact", "web", "order.refund.x"),
                        "deny default -");
    assert_string_equal(test_decide(p, "exact", "web", "order"),
                        "deny default -");

    /* a prefix matches every depth below it */
    assert_string_equal(test_decide(p, "prefix", "web", "order.refund"),
                        "allow p prefix");
    assert_string_equal(test_decide(p, "prefix", "web", "order.refund.partial"),
                        "allow p prefix");
    assert_string_equal(test_decide(p, "prefix", "web", "order.a.b.c.d.e"),
                        "allow p prefix");

    /* ... never a partial segment, never the prefix itself */
    assert_string_equal(test_decide(p, "prefix", "web", "orders.x"),
                        "deny default -");
    assert_string_equal(test_decide(p, "prefix", "web", "order"),
                        "deny default -");
    assert_string_equal(test_decide(p, "prefix", "web", "order."),
                        "deny default -");
    assert_string_equal(test_decide(p, "prefix", "web", "orderx.y"),
                        "deny default -");
    assert_string_equal(test_decide(p, "prefix", "web", "pre.order.x"),
                        "deny default -");

    assert_string_equal(test_decide(p, "deep", "web", "order.refund.partial"),
                        "allow d deep");
    assert_string_equal(test_decide(p, "deep", "web", "order.refund.a.b"),
                        "allow d deep");
    assert_string_equal(test_decide(p, "deep", "web", "order.refund"),
                        "deny default -");
    assert_string_equal(test_decide(p, "deep", "web", "order.refunds.x"),
                        "deny default -");

    assert_string_equal(test_decide(p, "all", "web", "anything.at_all"),
                        "allow a all");
    assert_string_equal(test_decide(p, "all", "web", "x"), "allow a all");

    /* no action: nothing to allow, not even "*" */
    assert_string_equal(test_decide(p, "all", "web", ""), "deny default -");
    assert_string_equal(test_decide(p, "all", "web", NULL), "deny default -");

    /* a one-word pattern is valid and matches that word only */
    assert_string_equal(test_decide(p, "single", "web", "order"),
                        "allow s single");
    assert_string_equal(test_decide(p, "single", "web", "order.x"),
                        "deny default -");

    omni_policy_free(p);
}


/* channels and conditions */

static void
test_channels(void **state)
{
    omni_policy_t  *p;

    (void) state;

    p = test_compile(test_shop);

    assert_string_equal(test_decide(p, "agent", "web", "order.cancel"),
                        "allow agent-orders agent");
    assert_string_equal(test_decide(p, "agent", "ivr", "order.cancel"),
                        "allow agent-orders agent");
    assert_string_equal(test_decide(p, "agent", "app", "order.cancel"),
                        "deny default -");
    assert_string_equal(test_decide(p, "agent", NULL, "order.cancel"),
                        "deny default -");

    /* a rule without channels holds on every channel */
    assert_string_equal(test_decide(p, "agent", "app", "order.query"),
                        "allow cust-orders customer");
    assert_string_equal(test_decide(p, "agent", NULL, "order.query"),
                        "allow cust-orders customer");

    omni_policy_free(p);

    /* a deny limited to a channel */
    p = test_compile(
        "{'version': 1, 'roles': {'r': {'rules': ["
        " {'id': 'no-ivr', 'effect': 'deny', 'actions': ['pay.*'],"
        "  'channels': ['ivr']},"
        " {'id': 'pay', 'effect': 'allow', 'actions': ['pay.*']}]}}}");

    assert_string_equal(test_decide(p, "r", "ivr", "pay.card"),
                        "deny no-ivr r");
    assert_string_equal(test_decide(p, "r", "web", "pay.card"),
                        "allow pay r");

    omni_policy_free(p);
}


static const char  *test_conditions_policy =
    "{'version': 1, 'anonymous_role': 'everyone', 'roles': {"
    " 'everyone': {'rules': ["
    "  {'id': 'guests', 'effect': 'allow', 'actions': ['guest.*'],"
    "   'when': {'anonymous': true}},"
    "  {'id': 'members', 'effect': 'allow', 'actions': ['cart.*'],"
    "   'when': {'anonymous': false}}]},"
    " 'member': {'inherits': ['everyone'], 'rules': ["
    "  {'id': 'gold', 'effect': 'allow', 'actions': ['perk.claim'],"
    "   'when': {'tier': ['gold', 'platinum']}},"
    "  {'id': 'fresh', 'effect': 'allow', 'actions': ['pay.confirm'],"
    "   'when': {'session_age_max': 3600}},"
    "  {'id': 'settled', 'effect': 'allow', 'actions': ['pay.large'],"
    "   'when': {'session_age_min': 60}},"
    "  {'id': 'window', 'effect': 'allow', 'actions': ['pay.window'],"
    "   'when': {'session_age_min': 60, 'session_age_max': 120,"
    "            'tier': ['gold'], 'anonymous': false},"
    "   'channels': ['app']},"
    "  {'id': 'empty-when', 'effect': 'allow', 'actions': ['any.thing'],"
    "   'when': {}}]}"
    "}}";


static const char *
test_decide_full(const omni_policy_t *p, const char *roles,
    const char *channel, const char *action, const char *tier,
    int has_session, int64_t age)
{
    static char             out[256];
    test_req_t              t;
    omni_policy_request_t  *req;
    omni_policy_decision_t  d;

    req = test_request(&t, roles, channel, action);
    req->tier = tier;
    req->has_session = has_session;
    req->session_age = age;

    omni_policy_decide(p, req, &d);

    snprintf(out, sizeof(out), "%s %s", d.allow ? "allow" : "deny", d.rule);

    return out;
}


static void
test_conditions(void **state)
{
    omni_policy_t  *p;

    (void) state;

    p = test_compile(test_conditions_policy);

    /* anonymous */
    assert_string_equal(test_decide(p, NULL, "web", "guest.look"),
                        "allow guests everyone");
    assert_string_equal(test_decide(p, NULL, "web", "cart.add"),
                        "deny default -");
    assert_string_equal(test_decide(p, "member", "web", "guest.look"),
                        "deny default -");
    assert_string_equal(test_decide(p, "member", "web", "cart.add"),
                        "allow members everyone");

    /* tier: in the list; none is no match */
    assert_string_equal(test_decide_full(p, "member", "web", "perk.claim",
                                         "gold", 0, 0), "allow gold");
    assert_string_equal(test_decide_full(p, "member", "web", "perk.claim",
                                         "platinum", 0, 0), "allow gold");
    assert_string_equal(test_decide_full(p, "member", "web", "perk.claim",
                                         "silver", 0, 0), "deny default");
    assert_string_equal(test_decide_full(p, "member", "web", "perk.claim",
                                         "Gold", 0, 0), "deny default");
    assert_string_equal(test_decide_full(p, "member", "web", "perk.claim",
                                         NULL, 0, 0), "deny default");

    /* session age at most, bounds included; no session is no match */
    assert_string_equal(test_decide_full(p, "member", "web", "pay.confirm",
                                         NULL, 1, 0), "allow fresh");
    assert_string_equal(test_decide_full(p, "member", "web", "pay.confirm",
                                         NULL, 1, 3600), "allow fresh");
    assert_string_equal(test_decide_full(p, "member", "web", "pay.confirm",
                                         NULL, 1, 3601), "deny default");
    assert_string_equal(test_decide_full(p, "member", "web", "pay.confirm",
                                         NULL, 0, 0), "deny default");

    /* session age at least */
    assert_string_equal(test_decide_full(p, "member", "web", "pay.large",
                                         NULL, 1, 60), "allow settled");
    assert_string_equal(test_decide_full(p, "member", "web", "pay.large",
                                         NULL, 1, 59), "deny default");
    assert_string_equal(test_decide_full(p, "member", "web", "pay.large",
                                         NULL, 0, 100000), "deny default");

    /* all conditions together, and the channel */
    assert_string_equal(test_decide_full(p, "member", "app", "pay.window",
                                         "gold", 1, 90), "allow window");
    assert_string_equal(test_decide_full(p, "member", "web", "pay.window",
                                         "gold", 1, 90), "deny default");
    assert_string_equal(test_decide_full(p, "member", "app", "pay.window",
                                         "gold", 1, 121), "deny default");
    assert_string_equal(test_decide_full(p, "member", "app", "pay.window",
                                         "gold", 1, 59), "deny default");
    assert_string_equal(test_decide_full(p, "member", "app", "pay.window",
                                         "silver", 1, 90), "deny default");
    assert_string_equal(test_decide_full(p, "member", "app", "pay.window",
                                         "gold", 0, 90), "deny default");

    /* an empty "when" is no condition */
    assert_string_equal(test_decide(p, "member", "web", "any.thing"),
                        "allow empty-when member");

    omni_policy_free(p);
}


/* the anonymous role and unknown roles */

static void
test_anonymous(void **state)
{
    omni_policy_t  *p;

    (void) state;

    p = test_compile(test_shop);

    assert_string_equal(test_decide(p, NULL, "web", "catalog.list"),
                        "allow anon-catalog anonymous");
    assert_string_equal(test_decide(p, NULL, "web", "order.query"),
                        "deny default -");

    omni_policy_free(p);

    /* an anonymous request has the anonymous role only, whatever roles */
    p = test_compile(test_shop);
    {
        test_req_t              t;
        omni_policy_decision_t  d;
        omni_policy_request_t  *req;

        req = test_request(&t, "admin", "web", "order.query");
        req->anonymous = 1;
        omni_policy_decide(p, req, &d);
        assert_int_equal(d.allow, 0);
        assert_string_equal(d.rule, "default");
    }
    omni_policy_free(p);

    /* the default anonymous role need not exist: then nothing */
    p = test_compile("{'version': 1, 'roles': {'r': {'rules': ["
                     " {'id': 'x', 'effect': 'allow', 'actions': ['*']}]}}}");
    assert_string_equal(test_decide(p, NULL, "web", "catalog.list"),
                        "deny default -");
    assert_int_equal(test_has_scopes(p, NULL), 0);
    assert_string_equal(test_scope(p, NULL, "{'data': {'x': 1}}"), "=");
    omni_policy_free(p);

    /* another name */
    p = test_compile("{'version': 1, 'anonymous_role': 'guest', 'roles': {"
                     " 'anonymous': {'rules': [{'id': 'no', 'effect': 'allow',"
                     "   'actions': ['*']}]},"
                     " 'guest': {'rules': [{'id': 'g', 'effect': 'allow',"
                     "   'actions': ['catalog.*']}]}}}");
    assert_string_equal(test_decide(p, NULL, "web", "catalog.list"),
                        "allow g guest");
    assert_string_equal(test_decide(p, NULL, "web", "order.list"),
                        "deny default -");
    omni_policy_free(p);

    /* a name given must exist */
    test_errors("{'version': 1, 'anonymous_role': 'guest', 'roles': {}}",
                "anonymous_role: unknown role \"guest\"");
}


static void
test_unknown_roles(void **state)
{
    omni_policy_t  *p;

    (void) state;

    p = test_compile(test_shop);

    assert_string_equal(test_decide(p, "nobody", "web", "catalog.list"),
                        "deny default -");
    assert_string_equal(test_decide(p, "", "web", "catalog.list"),
                        "deny default -");
    assert_string_equal(test_decide(p, "Customer", "web", "order.query"),
                        "deny default -");

    /* unknown roles next to known ones change nothing */
    assert_string_equal(test_decide(p, "nobody,customer,ghost", "web",
                                    "order.query"),
                        "allow cust-orders customer");

    /* a role twice is a role once */
    assert_string_equal(test_decide(p, "customer,customer", "web",
                                    "order.query"),
                        "allow cust-orders customer");

    /* no roles at all */
    {
        test_req_t              t;
        omni_policy_decision_t  d;
        omni_policy_request_t  *req;

        req = test_request(&t, "x", "web", "catalog.list");
        req->nroles = 0;
        omni_policy_decide(p, req, &d);
        assert_int_equal(d.allow, 0);
        assert_string_equal(d.rule, "default");
        assert_null(d.role);
    }

    omni_policy_free(p);
}


/* malformed policies */

static void
test_bad_json(void **state)
{
    char           *big, *errors;
    omni_policy_t  *p;

    (void) state;

    test_errors("{", "the policy is not valid JSON: string or '}' expected "
                "near end of file at line 1 column 1");
    test_errors("", "the policy is not valid JSON: unexpected token near end "
                "of file at line 1 column 0");
    test_errors("{'version': 1, 'roles': {}} x", "the policy is not valid "
                "JSON: end of file expected near 'x' at line 1 column 29");
    /* a control byte jansson quotes stays out of the message */
    test_errors("{'version': 1\n\x01}", "the policy is not valid JSON: "
                "'}' expected near '?' at line 2 column 1");
    test_errors("{'version': 1, 'version': 1}", "the policy is not valid "
                "JSON: duplicate object key near '\"version\"' at line 1 "
                "column 24");
    test_errors("[]", "the policy is not a JSON object");
    test_errors("'policy'", "the policy is not a JSON object");

    /* the size is checked before a byte is parsed */
    big = malloc(OMNI_POLICY_SIZE_MAX + 1);
    assert_non_null(big);
    memset(big, ' ', OMNI_POLICY_SIZE_MAX + 1);
    memcpy(big, "{\"version\": 1, \"roles\": {}}", 27);

    p = omni_policy_compile(big, OMNI_POLICY_SIZE_MAX + 1, &errors);
    assert_null(p);
    assert_string_equal(errors, "the policy is larger than 4194304 bytes");
    free(errors);

    /* exactly the limit is fine */
    p = omni_policy_compile(big, OMNI_POLICY_SIZE_MAX, &errors);
    assert_non_null(p);
    assert_null(errors);
    omni_policy_free(p);
    free(big);

    /* errors may be NULL: only the result then */
    assert_null(omni_policy_compile("{", 1, NULL));
}


static void
test_bad_top(void **state)
{
    (void) state;

    test_errors("{'roles': {}}", "version is missing");
    test_errors("{'version': 2, 'roles': {}}", "version must be 1");
    test_errors("{'version': '1', 'roles': {}}", "version must be 1");
    test_errors("{'version': 1.0, 'roles': {}}", "version must be 1");
    test_errors("{'version': 1}", "roles is missing");
    test_errors("{'version': 1, 'roles': []}", "roles must be an object");
    test_errors("{'version': 1, 'roles': {}, 'rules': []}",
                "policy: unknown key \"rules\"");
    test_errors("{'version': 1, 'anonymous_role': 7, 'roles': {}}",
                "anonymous_role must be a string");
    test_errors("{'version': 1, 'anonymous_role': 'a b', 'roles': {}}",
                "anonymous_role \"a b\" is not a role name (1 to 128 of A-Z "
                "a-z 0-9 _ . : -)");

    /* every error at once, the top level first */
    test_errors("{'version': 3, 'x': 1, 'roles': {'r': {'y': 2}}}",
                "policy: unknown key \"x\"\n"
                "version must be 1\n"
                "roles.r: unknown key \"y\"");
}


static void
test_bad_roles(void **state)
{
    char  name[160];
    char  policy[512];
    char  want[512];

    (void) state;

    test_errors("{'version': 1, 'roles': {'r': []}}",
                "roles.r must be an object");
    test_errors("{'version': 1, 'roles': {'r': {'rulez': []}}}",
                "roles.r: unknown key \"rulez\"");
    test_errors("{'version': 1, 'roles': {'r': {'description': 5}}}",
                "roles.r.description must be a string of at most 1024 "
                "bytes");

    test_errors("{'version': 1, 'roles': {'c d': {}}}",
                "roles: \"c d\" is not a role name (1 to 128 of A-Z a-z 0-9 "
                "_ . : -)");
    test_errors("{'version': 1, 'roles': {'a,b': {}}}",
                "roles: \"a,b\" is not a role name (1 to 128 of A-Z a-z 0-9 "
                "_ . : -)");
    test_errors("{'version': 1, 'roles': {'': {}}}",
                "roles: \"\" is not a role name (1 to 128 of A-Z a-z 0-9 "
                "_ . : -)");

    /* a bad name is quoted in the paths below it */
    test_errors("{'version': 1, 'roles': {'c d': {'rules': 1}}}",
                "roles: \"c d\" is not a role name (1 to 128 of A-Z a-z 0-9 "
                "_ . : -)\n"
                "roles.\"c d\".rules must be an array");

    /* control bytes and quotes are escaped, long values cut */
    test_errors("{'version': 1, 'roles': {'a\\nb\\\"': {}}}",
                "roles: \"a\\u000ab\\\"\" is not a role name (1 to 128 of "
                "A-Z a-z 0-9 _ . : -)");

    memset(name, 'x', 129);
    name[129] = '\0';
    snprintf(policy, sizeof(policy), "{'version': 1, 'roles': {'%s': {}}}",
             name);
    snprintf(want, sizeof(want), "roles: \"%.64s...\" is not a role name "
             "(1 to 128 of A-Z a-z 0-9 _ . : -)", name);
    test_errors(policy, want);

    /* 128 characters, the full alphabet, are fine */
    memset(name, 'x', 128);
    memcpy(name, "Aa0_.:-", 7);
    name[128] = '\0';
    snprintf(policy, sizeof(policy), "{'version': 1, 'roles': {'%s': {}}}",
             name);
    omni_policy_free(test_compile(policy));
}


static void
test_bad_inherits(void **state)
{
    (void) state;

    test_errors("{'version': 1, 'roles': {'r': {'inherits': 'a'}}}",
                "roles.r.inherits must be an array of at most 64 role names");
    test_errors("{'version': 1, 'roles': {'r': {'inherits': [1]}}}",
                "roles.r.inherits[0] must be a string");
    test_errors("{'version': 1, 'roles': {'r': {'inherits': ['a b']}}}",
                "roles.r.inherits[0] \"a b\" is not a role name (1 to 128 of "
                "A-Z a-z 0-9 _ . : -)");
    test_errors("{'version': 1, 'roles': {'a': {},"
                " 'r': {'inherits': ['a', 'a']}}}",
                "roles.r.inherits[1] \"a\" is listed twice");
    test_errors("{'version': 1, 'roles': {'customer': {},"
                " 'agent': {'inherits': ['customer', 'custmer']}}}",
                "roles.agent.inherits[1]: unknown role \"custmer\"");
}


static void
test_bad_rules(void **state)
{
    (void) state;

    test_errors("{'version': 1, 'roles': {'r': {'rules': {}}}}",
                "roles.r.rules must be an array");
    test_errors("{'version': 1, 'roles': {'r': {'rules': [1]}}}",
                "roles.r.rules[0] must be an object");
    test_errors("{'version': 1, 'roles': {'r': {'rules': ["
                " {'id': 'x', 'effect': 'allow', 'actions': ['*'],"
                "  'action': 'y'}]}}}",
                "roles.r.rules[0]: unknown key \"action\"");
    test_errors("{'version': 1, 'roles': {'r': {'rules': ["
                " {'effect': 'allow', 'actions': ['*']}]}}}",
                "roles.r.rules[0].id is missing");
    test_errors("{'version': 1, 'roles': {'r': {'rules': ["
                " {'id': 3, 'effect': 'allow', 'actions': ['*']}]}}}",
                "roles.r.rules[0].id must be a string");
    test_errors("{'version': 1, 'roles': {'r': {'rules': ["
                " {'id': 'a:b', 'effect': 'allow', 'actions': ['*']}]}}}",
                "roles.r.rules[0].id \"a:b\" is not a rule id (1 to 64 of "
                "A-Z a-z 0-9 _ . -)");
    test_errors("{'version': 1, 'roles': {'r': {'rules': ["
                " {'id': 'default', 'effect': 'allow', 'actions': ['*']}]}}}",
                "roles.r.rules[0].id \"default\" is reserved for the default "
                "deny");
    test_errors("{'version': 1, 'roles': {'r': {'rules': ["
                " {'id': 'x', 'effect': 'allow', 'actions': ['*'],"
                "  'description': ['no']}]}}}",
                "roles.r.rules[0].description must be a string of at most "
                "1024 bytes");

    test_errors("{'version': 1, 'roles': {'r': {'rules': ["
                " {'id': 'x', 'actions': ['*']}]}}}",
                "roles.r.rules[0].effect is missing");
    test_errors("{'version': 1, 'roles': {'r': {'rules': ["
                " {'id': 'x', 'effect': 'Allow', 'actions': ['*']}]}}}",
                "roles.r.rules[0].effect must be \"allow\" or \"deny\"");
    test_errors("{'version': 1, 'roles': {'r': {'rules': ["
                " {'id': 'x', 'effect': true, 'actions': ['*']}]}}}",
                "roles.r.rules[0].effect must be \"allow\" or \"deny\"");

    /* unique in the whole policy, named where they clash */
    test_errors("{'version': 1, 'roles': {"
                " 'agent': {'rules': ["
                "  {'id': 'y', 'effect': 'allow', 'actions': ['*']},"
                "  {'id': 'x', 'effect': 'allow', 'actions': ['*']}]},"
                " 'desk': {'rules': ["
                "  {'id': 'x', 'effect': 'deny', 'actions': ['*']}]}}}",
                "roles.desk.rules[0].id \"x\" is also roles.agent.rules[1]");
    test_errors("{'version': 1, 'roles': {'r': {'rules': ["
                "  {'id': 'x', 'effect': 'allow', 'actions': ['a.b']},"
                "  {'id': 'x', 'effect': 'allow', 'actions': ['a.c']},"
                "  {'id': 'x', 'effect': 'allow', 'actions': ['a.d']}]}}}",
                "roles.r.rules[1].id \"x\" is also roles.r.rules[0]\n"
                "roles.r.rules[2].id \"x\" is also roles.r.rules[0]");
}


static void
test_bad_actions(void **state)
{
    size_t       i;
    char         policy[512];
    char         want[512];
    char         longest[160];

    static const char  *bad[] = {
        "Order.x", "order.", "order..x", ".x", "order.*.x", "*.*", "order*",
        "", "1order", "order.X", "order.-x", "order.x y", "**", ".*",
        "order.**",
    };

    (void) state;

    test_errors("{'version': 1, 'roles': {'r': {'rules': ["
                " {'id': 'x', 'effect': 'allow'}]}}}",
                "roles.r.rules[0].actions is missing");
    test_errors("{'version': 1, 'roles': {'r': {'rules': ["
                " {'id': 'x', 'effect': 'allow', 'actions': []}]}}}",
                "roles.r.rules[0].actions must be an array of 1 to 64 action "
                "patterns");
    test_errors("{'version': 1, 'roles': {'r': {'rules': ["
                " {'id': 'x', 'effect': 'allow', 'actions': '*'}]}}}",
                "roles.r.rules[0].actions must be an array of 1 to 64 action "
                "patterns");
    test_errors("{'version': 1, 'roles': {'r': {'rules': ["
                " {'id': 'x', 'effect': 'allow', 'actions': [7]}]}}}",
                "roles.r.rules[0].actions[0] must be a string");
    test_errors("{'version': 1, 'roles': {'r': {'rules': ["
                " {'id': 'x', 'effect': 'allow',"
                "  'actions': ['a.*', 'b.c', 'a.*']}]}}}",
                "roles.r.rules[0].actions[2] \"a.*\" is listed twice");

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        snprintf(policy, sizeof(policy), "{'version': 1, 'roles': {'r': "
                 "{'rules': [{'id': 'x', 'effect': 'allow', 'actions': "
                 "['%s']}]}}}", bad[i]);
        snprintf(want, sizeof(want), "roles.r.rules[0].actions[0] \"%s\" is "
                 "not an action pattern (\"*\", or dotted lowercase words "
                 "with an optional final \".*\", at most 128 bytes)", bad[i]);
        test_errors(policy, want);
    }

    /* 128 bytes is the limit, 129 too many */
    memset(longest, 'a', 129);
    longest[1] = '.';
    longest[129] = '\0';
    snprintf(policy, sizeof(policy), "{'version': 1, 'roles': {'r': "
             "{'rules': [{'id': 'x', 'effect': 'allow', 'actions': "
             "['%s']}]}}}", longest);
    snprintf(want, sizeof(want), "roles.r.rules[0].actions[0] \"%.64s...\" "
             "is not an action pattern (\"*\", or dotted lowercase words "
             "with an optional final \".*\", at most 128 bytes)", longest);
    test_errors(policy, want);

    longest[128] = '\0';
    snprintf(policy, sizeof(policy), "{'version': 1, 'roles': {'r': "
             "{'rules': [{'id': 'x', 'effect': 'allow', 'actions': "
             "['%s', 'a_1.b2.c_.*']}]}}}", longest);
    omni_policy_free(test_compile(policy));
}


static void
test_bad_channels(void **state)
{
    (void) state;

    test_errors("{'version': 1, 'roles': {'r': {'rules': ["
                " {'id': 'x', 'effect': 'allow', 'actions': ['*'],"
                "  'channels': []}]}}}",
                "roles.r.rules[0].channels must be an array of 1 to 64 "
                "channel names");
    test_errors("{'version': 1, 'roles': {'r': {'rules': ["
                " {'id': 'x', 'effect': 'allow', 'actions': ['*'],"
                "  'channels': 'web'}]}}}",
                "roles.r.rules[0].channels must be an array of 1 to 64 "
                "channel names");
    test_errors("{'version': 1, 'roles': {'r': {'rules': ["
                " {'id': 'x', 'effect': 'allow', 'actions': ['*'],"
                "  'channels': [null]}]}}}",
                "roles.r.rules[0].channels[0] must be a string");
    test_errors("{'version': 1, 'roles': {'r': {'rules': ["
                " {'id': 'x', 'effect': 'allow', 'actions': ['*'],"
                "  'channels': ['web', 'Web', '1app', '',"
                "   'a23456789012345678901234567890123']}]}}}",
                "roles.r.rules[0].channels[1] \"Web\" is not a channel name "
                "(a-z, then up to 31 of a-z 0-9 _)\n"
                "roles.r.rules[0].channels[2] \"1app\" is not a channel name "
                "(a-z, then up to 31 of a-z 0-9 _)\n"
                "roles.r.rules[0].channels[3] \"\" is not a channel name "
                "(a-z, then up to 31 of a-z 0-9 _)\n"
                "roles.r.rules[0].channels[4] "
                "\"a23456789012345678901234567890123\" is not a channel name "
                "(a-z, then up to 31 of a-z 0-9 _)");
    test_errors("{'version': 1, 'roles': {'r': {'rules': ["
                " {'id': 'x', 'effect': 'allow', 'actions': ['*'],"
                "  'channels': ['web', 'web']}]}}}",
                "roles.r.rules[0].channels[1] \"web\" is listed twice");
}


static void
test_bad_when(void **state)
{
    (void) state;

    test_errors("{'version': 1, 'roles': {'r': {'rules': ["
                " {'id': 'x', 'effect': 'allow', 'actions': ['*'],"
                "  'when': []}]}}}",
                "roles.r.rules[0].when must be an object");
    test_errors("{'version': 1, 'roles': {'r': {'rules': ["
                " {'id': 'x', 'effect': 'allow', 'actions': ['*'],"
                "  'when': {'tiers': ['gold']}}]}}}",
                "roles.r.rules[0].when: unknown key \"tiers\"");
    test_errors("{'version': 1, 'roles': {'r': {'rules': ["
                " {'id': 'x', 'effect': 'allow', 'actions': ['*'],"
                "  'when': {'anonymous': 'no'}}]}}}",
                "roles.r.rules[0].when.anonymous must be true or false");
    test_errors("{'version': 1, 'roles': {'r': {'rules': ["
                " {'id': 'x', 'effect': 'allow', 'actions': ['*'],"
                "  'when': {'tier': []}}]}}}",
                "roles.r.rules[0].when.tier must be an array of 1 to 64 "
                "tiers");
    test_errors("{'version': 1, 'roles': {'r': {'rules': ["
                " {'id': 'x', 'effect': 'allow', 'actions': ['*'],"
                "  'when': {'tier': ['gold', 1, '',"
                "   'x123456789012345678901234567890123456789012345678901234"
                "5678901234', 'gold']}}]}}}",
                "roles.r.rules[0].when.tier[1] must be a string of 1 to 64 "
                "bytes\n"
                "roles.r.rules[0].when.tier[2] must be a string of 1 to 64 "
                "bytes\n"
                "roles.r.rules[0].when.tier[3] must be a string of 1 to 64 "
                "bytes\n"
                "roles.r.rules[0].when.tier[4] \"gold\" is listed twice");
    test_errors("{'version': 1, 'roles': {'r': {'rules': ["
                " {'id': 'x', 'effect': 'allow', 'actions': ['*'],"
                "  'when': {'session_age_max': -1, 'session_age_min': 1.5}}"
                "]}}}",
                "roles.r.rules[0].when.session_age_max must be an integer "
                "from 0 to 2147483647\n"
                "roles.r.rules[0].when.session_age_min must be an integer "
                "from 0 to 2147483647");
    test_errors("{'version': 1, 'roles': {'r': {'rules': ["
                " {'id': 'x', 'effect': 'allow', 'actions': ['*'],"
                "  'when': {'session_age_max': 2147483648}}]}}}",
                "roles.r.rules[0].when.session_age_max must be an integer "
                "from 0 to 2147483647");
    test_errors("{'version': 1, 'roles': {'r': {'rules': ["
                " {'id': 'x', 'effect': 'allow', 'actions': ['*'],"
                "  'when': {'session_age_max': 60, 'session_age_min': 61}}"
                "]}}}",
                "roles.r.rules[0].when: session_age_min is greater than "
                "session_age_max");
}


static void
test_bad_scopes(void **state)
{
    (void) state;

    test_errors("{'version': 1, 'roles': {'r': {'scopes': {}}}}",
                "roles.r.scopes must be an array of at most 64 scopes");
    test_errors("{'version': 1, 'roles': {'r': {'scopes': ['data.x']}}}",
                "roles.r.scopes[0] must be an object");
    test_errors("{'version': 1, 'roles': {'r': {'scopes': ["
                " {'path': 'data.x', 'remove': true, 'why': 'pii'}]}}}",
                "roles.r.scopes[0]: unknown key \"why\"");
    test_errors("{'version': 1, 'roles': {'r': {'scopes': ["
                " {'remove': true}]}}}",
                "roles.r.scopes[0].path is missing");
    test_errors("{'version': 1, 'roles': {'r': {'scopes': ["
                " {'path': ['data'], 'remove': true}]}}}",
                "roles.r.scopes[0].path must be a string");
    test_errors("{'version': 1, 'roles': {'r': {'scopes': ["
                " {'path': 'data.x'}]}}}",
                "roles.r.scopes[0] needs \"remove\": true or \"mask\"");
    test_errors("{'version': 1, 'roles': {'r': {'scopes': ["
                " {'path': 'data.x', 'remove': true, 'mask': {}}]}}}",
                "roles.r.scopes[0] has both \"remove\" and \"mask\"");
    test_errors("{'version': 1, 'roles': {'r': {'scopes': ["
                " {'path': 'data.x', 'remove': false}]}}}",
                "roles.r.scopes[0].remove must be true");
    test_errors("{'version': 1, 'roles': {'r': {'scopes': ["
                " {'path': 'data.x', 'mask': 4}]}}}",
                "roles.r.scopes[0].mask must be an object");
    test_errors("{'version': 1, 'roles': {'r': {'scopes': ["
                " {'path': 'data.x', 'mask': {'keep_first': 4}}]}}}",
                "roles.r.scopes[0].mask: unknown key \"keep_first\"");
    test_errors("{'version': 1, 'roles': {'r': {'scopes': ["
                " {'path': 'data.x', 'mask': {'keep_last': -1}},"
                " {'path': 'data.y', 'mask': {'keep_last': 1025}},"
                " {'path': 'data.z', 'mask': {'keep_last': '4'}}]}}}",
                "roles.r.scopes[0].mask.keep_last must be an integer from 0 "
                "to 1024\n"
                "roles.r.scopes[1].mask.keep_last must be an integer from 0 "
                "to 1024\n"
                "roles.r.scopes[2].mask.keep_last must be an integer from 0 "
                "to 1024");
    test_errors("{'version': 1, 'roles': {'r': {'scopes': ["
                " {'path': 'data.x', 'remove': true},"
                " {'path': 'data.y', 'remove': true},"
                " {'path': 'data.x', 'mask': {'keep_last': 2}}]}}}",
                "roles.r.scopes[2].path \"data.x\" is also roles.r.scopes[0]");
}


static void
test_bad_paths(void **state)
{
    size_t       i, n;
    char         policy[1024];
    char         want[1024];
    char         path[256];

    static const char  *bad[] = {
        "", "a..b", ".a", "a.", ".", "a.\\tb",
    };

    (void) state;

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        snprintf(policy, sizeof(policy), "{'version': 1, 'roles': {'r': "
                 "{'scopes': [{'path': '%s', 'remove': true}]}}}", bad[i]);
        snprintf(want, sizeof(want), "roles.r.scopes[0].path \"%s\" is not "
                 "a reply path (1 to 32 keys or \"*\" joined by \".\", each "
                 "of 1 to 128 bytes without control characters)",
                 strcmp(bad[i], "a.\\tb") == 0 ? "a.\\u0009b" : bad[i]);
        test_errors(policy, want);
    }

    /* 32 segments are fine, 33 too many */
    n = 0;
    for (i = 0; i < 33; i++) {
        n += snprintf(path + n, sizeof(path) - n, "%s%c", i ? "." : "",
                      (int) ('a' + i % 26));
    }

    snprintf(policy, sizeof(policy), "{'version': 1, 'roles': {'r': "
             "{'scopes': [{'path': '%s', 'remove': true}]}}}", path);
    snprintf(want, sizeof(want), "roles.r.scopes[0].path \"%.64s...\" is "
             "not a reply path (1 to 32 keys or \"*\" joined by \".\", each "
             "of 1 to 128 bytes without control characters)", path);
    test_errors(policy, want);

    path[n - 2] = '\0';
    snprintf(policy, sizeof(policy), "{'version': 1, 'roles': {'r': "
             "{'scopes': [{'path': '%s', 'remove': true},"
             " {'path': '*.0.%s', 'remove': true}]}}}", path, "$weird key!");
    omni_policy_free(test_compile(policy));
}


static void
test_error_limits(void **state)
{
    size_t          i;
    char           *errors, *line, *next;
    size_t          lines;
    test_buf_t      b;
    omni_policy_t  *p;
    char            want[128];

    (void) state;

    /* 150 bad rules: the first 100 errors, then a count of the rest */
    memset(&b, 0, sizeof(b));
    test_add(&b, "{\"version\": 1, \"roles\": {\"r\": {\"rules\": [");
    for (i = 0; i < 150; i++) {
        test_add(&b, "%s{\"id\": \"r%zu\", \"effect\": \"maybe\", "
                 "\"actions\": [\"*\"]}", i ? "," : "", i);
    }
    test_add(&b, "]}}}");

    p = omni_policy_compile(b.p, b.len, &errors);
    assert_null(p);
    assert_non_null(errors);

    lines = 0;
    for (line = errors; line != NULL; line = next) {
        next = strchr(line, '\n');
        if (next != NULL) {
            *next++ = '\0';
        }

        if (lines < OMNI_POLICY_ERRORS_MAX) {
            snprintf(want, sizeof(want), "roles.r.rules[%zu].effect must be "
                     "\"allow\" or \"deny\"", lines);
            assert_string_equal(line, want);

        } else {
            assert_string_equal(line, "50 more errors not listed");
        }

        lines++;
    }

    assert_int_equal(lines, OMNI_POLICY_ERRORS_MAX + 1);
    free(errors);
    free(b.p);

    /* more roles than allowed */
    memset(&b, 0, sizeof(b));
    test_add(&b, "{\"version\": 1, \"roles\": {");
    for (i = 0; i <= OMNI_POLICY_ROLES_MAX; i++) {
        test_add(&b, "%s\"r%zu\": {}", i ? "," : "", i);
    }
    test_add(&b, "}}");

    p = omni_policy_compile(b.p, b.len, &errors);
    assert_null(p);
    assert_string_equal(errors, "roles: more than 10000 roles");
    free(errors);
    free(b.p);

    /* more rules than allowed: counted before a rule is looked at */
    memset(&b, 0, sizeof(b));
    test_add(&b, "{\"version\": 1, \"roles\": {\"a\": {\"rules\": [");
    for (i = 0; i <= OMNI_POLICY_RULES_MAX / 2; i++) {
        test_add(&b, "%s0", i ? "," : "");
    }
    test_add(&b, "]}, \"b\": {\"rules\": [");
    for (i = 0; i < OMNI_POLICY_RULES_MAX / 2; i++) {
        test_add(&b, "%s0", i ? "," : "");
    }
    test_add(&b, "]}}}");

    p = omni_policy_compile(b.p, b.len, &errors);
    assert_null(p);
    assert_string_equal(errors, "roles: more than 100000 rules");
    free(errors);
    free(b.p);
}


static void
test_closure_limit(void **state)
{
    size_t          i, n;
    char           *errors;
    test_buf_t      b;
    omni_policy_t  *p;

    (void) state;

    /*
     * A chain of n roles, each inheriting the next: n (n + 1) / 2 roles
     * in all closures; 4471 stays under 10,000,000, 4472 does not.
     */
    for (n = 4471; n <= 4472; n++) {
        memset(&b, 0, sizeof(b));
        test_add(&b, "{\"version\": 1, \"roles\": {");
        for (i = 0; i < n; i++) {
            if (i + 1 < n) {
                test_add(&b, "\"r%zu\": {\"inherits\": [\"r%zu\"]},", i,
                         i + 1);
            } else {
                test_add(&b, "\"r%zu\": {}", i);
            }
        }
        test_add(&b, "}}");

        p = omni_policy_compile(b.p, b.len, &errors);

        if (n == 4471) {
            assert_non_null(p);
            assert_string_equal(test_decide(p, "r0", "web", "a.b"),
                                "deny default -");
            omni_policy_free(p);

        } else {
            assert_null(p);
            assert_string_equal(errors, "roles: the roles inherited by each "
                                "role add up to more than 10000000");
            free(errors);
        }

        free(b.p);
    }
}


/* scopes */

static const char  *test_scoped =
    "{'version': 1, 'roles': {"
    " 'a': {'scopes': ["
    "  {'path': 'data.card', 'mask': {'keep_last': 4}},"
    "  {'path': 'data.id', 'remove': true},"
    "  {'path': 'data.orders.*.address', 'remove': true},"
    "  {'path': 'data.people.*.phone', 'mask': {'keep_last': 2}},"
    "  {'path': 'data.secret', 'mask': {}},"
    "  {'path': 'data.list.1', 'remove': true},"
    "  {'path': 'data.deep.a.b.c.d', 'remove': true}]},"
    " 'b': {'scopes': ["
    "  {'path': 'data.card', 'remove': true},"
    "  {'path': 'data.secret', 'remove': true}]},"
    " 'c': {'rules': [{'id': 'c-all', 'effect': 'allow', 'actions': ['*']}]},"
    " 'd': {'scopes': ["
    "  {'path': 'data.id', 'remove': true},"
    "  {'path': 'data.card', 'mask': {'keep_last': 6}}]},"
    " 'e': {'scopes': [{'path': 'data', 'remove': true}]},"
    " 'f': {'scopes': [{'path': 'data', 'mask': {}}]},"
    " 'anonymous': {'scopes': [{'path': '*', 'remove': true}]}"
    "}}";


static void
test_scopes_paths(void **state)
{
    omni_policy_t  *p;

    (void) state;

    p = test_compile(test_scoped);

    /* nested, order kept */
    assert_string_equal(test_scope(p, "a",
        "{'ok': true, 'data': {'name': 'Li', 'card': '6222020202020202',"
        " 'id': '110101199003071234', 'z': 1}}"),
        "{'ok':true,'data':{'name':'Li','card':'************0202','z':1}}");

    /* a wildcard over an array */
    assert_string_equal(test_scope(p, "a",
        "{'data': {'orders': [{'no': 1, 'address': 'x'}, {'no': 2},"
        " {'no': 3, 'address': {'city': 'y'}}, 'flat']}}"),
        "{'data':{'orders':[{'no':1},{'no':2},{'no':3},'flat']}}");

    /* a wildcard over an object */
    assert_string_equal(test_scope(p, "a",
        "{'data': {'people': {'li': {'phone': '13800138000'},"
        " 'wang': {'phone': '13900139000', 'age': 3}}}}"),
        "{'data':{'people':{'li':{'phone':'*********00'},"
        "'wang':{'phone':'*********00','age':3}}}}");

    /* a number names an array index, or an object member */
    assert_string_equal(test_scope(p, "a",
        "{'data': {'list': [10, 11, 12]}}"),
        "{'data':{'list':[10,12]}}");
    assert_string_equal(test_scope(p, "a",
        "{'data': {'list': {'0': 10, '1': 11}}}"),
        "{'data':{'list':{'0':10}}}");

    /* deep */
    assert_string_equal(test_scope(p, "a",
        "{'data': {'deep': {'a': {'b': {'c': {'d': 1, 'e': 2}}}}}}"),
        "{'data':{'deep':{'a':{'b':{'c':{'e':2}}}}}}");

    /* missing paths, and paths through scalars, are left alone */
    assert_string_equal(test_scope(p, "a", "{'ok': true}"), "=");
    assert_string_equal(test_scope(p, "a", "{'data': 'card'}"), "=");
    assert_string_equal(test_scope(p, "a",
        "{'data': {'orders': 5, 'people': [1], 'deep': {'a': 1}}}"), "=");
    assert_string_equal(test_scope(p, "a", "{'data': {'cards': 'x'}}"), "=");

    /* the anonymous role's "*": every member of the reply */
    assert_string_equal(test_scope(p, NULL, "{'ok': true, 'data': 1}"), "{}");

    omni_policy_free(p);
}


static void
test_scopes_mask(void **state)
{
    omni_policy_t  *p;

    (void) state;

    p = test_compile(test_scoped);

    /* keep_last longer than the string: all starred, never shown whole */
    assert_string_equal(test_scope(p, "a", "{'data': {'card': '123'}}"),
                        "{'data':{'card':'***'}}");
    assert_string_equal(test_scope(p, "a", "{'data': {'card': '1234'}}"),
                        "{'data':{'card':'****'}}");
    assert_string_equal(test_scope(p, "a", "{'data': {'card': '12345'}}"),
                        "{'data':{'card':'*2345'}}");
    assert_string_equal(test_scope(p, "a", "{'data': {'card': ''}}"),
                        "{'data':{'card':''}}");

    /* characters, not bytes: five Chinese characters keep four */
    assert_string_equal(test_scope(p, "a",
                                   "{'data': {'card': '\xe5\xbc\xa0\xe4\xb8"
                                   "\x89\xe4\xb8\xb0\xe6\x9d\x8e\xe5\x9b"
                                   "\x9b'}}"),
                        "{'data':{'card':'*\xe4\xb8\x89\xe4\xb8\xb0\xe6"
                        "\x9d\x8e\xe5\x9b\x9b'}}");

    /* keep_last 0 (the default) stars everything */
    assert_string_equal(test_scope(p, "a", "{'data': {'secret': 'abc'}}"),
                        "{'data':{'secret':'***'}}");

    /* anything but a string becomes "****" */
    assert_string_equal(test_scope(p, "a",
        "{'data': {'card': 6222020202020202}}"),
        "{'data':{'card':'****'}}");
    assert_string_equal(test_scope(p, "a",
        "{'data': {'card': {'no': '6222', 'cvv': '123'}}}"),
        "{'data':{'card':'****'}}");
    assert_string_equal(test_scope(p, "a", "{'data': {'card': null}}"),
                        "{'data':{'card':'****'}}");
    assert_string_equal(test_scope(p, "a", "{'data': {'card': [1, 2]}}"),
                        "{'data':{'card':'****'}}");
    assert_string_equal(test_scope(p, "a", "{'data': {'card': true}}"),
                        "{'data':{'card':'****'}}");

    omni_policy_free(p);
}


static void
test_scopes_combined(void **state)
{
    omni_policy_t  *p;

    (void) state;

    p = test_compile(test_scoped);

    assert_int_equal(test_has_scopes(p, "a"), 1);
    assert_int_equal(test_has_scopes(p, "c"), 0);
    assert_int_equal(test_has_scopes(p, "nobody"), 0);
    assert_int_equal(test_has_scopes(p, "a,nobody"), 1);
    assert_int_equal(test_has_scopes(p, "a,c"), 0);
    assert_int_equal(test_has_scopes(p, NULL), 1);

    /* a role without scopes sees everything */
    assert_string_equal(test_scope(p, "a,c",
        "{'data': {'card': '6222020202020202', 'id': 'x'}}"), "=");
    assert_string_equal(test_scope(p, "c,a",
        "{'data': {'card': '6222020202020202', 'id': 'x'}}"), "=");

    /* unknown roles count for nothing, neither way */
    assert_string_equal(test_scope(p, "a,nobody",
        "{'data': {'card': '6222020202020202', 'id': 'x'}}"),
        "{'data':{'card':'************0202'}}");
    assert_string_equal(test_scope(p, "nobody",
        "{'data': {'card': '6222020202020202'}}"), "=");

    /* mask beats remove; a field one role does not scope stays */
    assert_string_equal(test_scope(p, "a,b",
        "{'data': {'card': '6222020202020202', 'id': 'x', 'secret': 's'}}"),
        "{'data':{'card':'************0202','id':'x','secret':'*'}}");
    assert_string_equal(test_scope(p, "b,a",
        "{'data': {'card': '6222020202020202', 'id': 'x'}}"),
        "{'data':{'card':'************0202','id':'x'}}");

    /* removed only when every role removes; masks keep the most */
    assert_string_equal(test_scope(p, "a,d",
        "{'data': {'card': '6222020202020202', 'id': 'x', 'y': 1}}"),
        "{'data':{'card':'**********020202','y':1}}");

    /* a role that removes a parent sees nothing below it */
    assert_string_equal(test_scope(p, "e,a",
        "{'ok': 1, 'data': {'card': '6222020202020202', 'id': 'x', 'n': 1}}"),
        "{'ok':1,'data':{'card':'************0202','n':1}}");
    assert_string_equal(test_scope(p, "e,b",
        "{'data': {'card': '6222020202020202', 'n': 1}}"),
        "{'data':{'n':1}}");
    assert_string_equal(test_scope(p, "e", "{'ok': 1, 'data': {'n': 1}}"),
                        "{'ok':1}");

    /* masking a parent hides what is below it: the child goes */
    assert_string_equal(test_scope(p, "f,b",
        "{'data': {'card': '6222020202020202', 'n': 1}}"),
        "{'data':{'n':1}}");

    /* a role listed twice is one role */
    assert_string_equal(test_scope(p, "a,a",
        "{'data': {'card': '6222020202020202'}}"),
        "{'data':{'card':'************0202'}}");

    omni_policy_free(p);
}


/* the text-only shortcut never skips a field a scope reaches */
static void
test_scopes_shortcut(void **state)
{
    omni_policy_t  *p;

    (void) state;

    p = test_compile(test_scoped);

    /* a key written with an escape is still found */
    assert_string_equal(test_scope(p, "a",
        "{'data': {'c\\u0061rd': '6222020202020202'}}"),
        "{'data':{'card':'************0202'}}");
    assert_string_equal(test_scope(p, "a",
        "{'d\\u0061ta': {'card': '6222020202020202', 'x': 'a\\nb'}}"),
        "{'data':{'card':'************0202','x':'a\\nb'}}");

    /* a number segment needs no key: it may be an index */
    assert_string_equal(test_scope(p, "a",
        "{'data': {'list': [1, 2]}}"), "{'data':{'list':[1]}}");

    /* the name of a key inside a value is not a key: still correct */
    assert_string_equal(test_scope(p, "a",
        "{'data': {'note': 'card', 'x': 'id'}}"), "=");

    /* one role's scopes reach nothing here: nothing changes */
    assert_string_equal(test_scope(p, "a,b",
        "{'data': {'id': 'x', 'orders': [{'address': 'y'}]}}"), "=");
    assert_string_equal(test_scope(p, "a,d",
        "{'data': {'id': 'x', 'orders': [{'address': 'y'}]}}"),
        "{'data':{'orders':[{'address':'y'}]}}");

    /* "*" alone reaches everything */
    assert_string_equal(test_scope(p, NULL, "{'q': 1}"), "{}");

    omni_policy_free(p);
}


static void
test_scopes_refused(void **state)
{
    char           *out;
    size_t          len;
    test_req_t      t;
    omni_policy_t  *p;

    (void) state;

    p = test_compile(test_scoped);

    /* refused when a scope could reach into it */
    assert_string_equal(test_scope(p, "a", "[{'data': {'card': 'x'}}]"),
                        "!");
    assert_string_equal(test_scope(p, "a", "['data', 'card']"), "!");
    assert_string_equal(test_scope(p, "a", "{'data': {'card': "), "!");
    assert_string_equal(test_scope(p, "a",
        "{'data': {'card': '6222020202020202'}, 'data': {}}"), "!");

    /* NUL, which no decoder of the gateway accepts (the renderer refuses it
     * when the reply is not scoped) */
    assert_string_equal(test_scope(p, "a",
        "{'data': {'card': '6222020202020202', 'echo': 'a\\u0000b'}}"), "!");

    /* an integer past 64 bits: every number is read as a double */
    assert_string_equal(test_scope(p, "a",
        "{'n': 123456789012345678901234, 'm': 7,"
        " 'data': {'card': '6222020202020202'}}"),
        "{'n':1.2345678901234569e23,'m':7.0,"
        "'data':{'card':'************0202'}}");

    /* not parsed at all when no scope applies, or none can reach */
    assert_string_equal(test_scope(p, "c", "not json"), "=");
    assert_string_equal(test_scope(p, "a", "[1, 2]"), "=");
    assert_string_equal(test_scope(p, "a", "{'data': "), "=");
    assert_string_equal(test_scope(p, "a", "{'cards': {'card': 1}}"), "=");

    /* an empty reply holds no field: unchanged, left to the renderer */
    len = 1;
    assert_int_equal(omni_policy_apply_scopes(p,
                         test_request(&t, "a", "web", "x.y"), "", 0, &out,
                         &len), 0);
    assert_null(out);
    assert_int_equal(len, 0);

    omni_policy_free(p);
}


/* explain */

static void
test_explain_paths(void **state)
{
    char                    tiny[16];
    test_req_t              t;
    omni_policy_t          *p;
    omni_policy_decision_t  d;

    (void) state;

    p = test_compile(test_shop);

    assert_string_equal(test_explain(p, "vip_desk", "web", "order.refund"),
                        "agent-orders: vip_desk > agent");
    assert_string_equal(test_explain(p, "vip_desk", "web", "order.query"),
                        "cust-orders: vip_desk > agent > customer");
    assert_string_equal(test_explain(p, "vip_desk", "web", "catalog.list"),
                        "anon-catalog: vip_desk > agent > customer > "
                        "anonymous");
    assert_string_equal(test_explain(p, "vip_desk", "web", "order.create"),
                        "agent-no-create: vip_desk > agent");
    assert_string_equal(test_explain(p, "customer", "web", "order.query"),
                        "cust-orders: customer");
    assert_string_equal(test_explain(p, "customer", "web", "order.refund"),
                        "default: ");
    assert_string_equal(test_explain(p, NULL, "web", "catalog.list"),
                        "anon-catalog: anonymous");

    /* from the caller's role nearest to the holder */
    assert_string_equal(test_explain(p, "vip_desk,customer", "web",
                                     "order.query"),
                        "cust-orders: customer");
    assert_string_equal(test_explain(p, "nobody,agent,vip_desk", "web",
                                     "order.query"),
                        "cust-orders: agent > customer");
    assert_string_equal(test_explain(p, "auditor,vip_desk", "web",
                                     "order.create"),
                        "agent-no-create: vip_desk > agent");
    assert_string_equal(test_explain(p, "auditor,vip_desk", "web",
                                     "order.refund"),
                        "audit-no-write: auditor");

    /* too small a buffer: the ends of the path */
    omni_policy_explain(p, test_request(&t, "vip_desk", "web",
                                        "catalog.list"),
                        &d, tiny, sizeof(tiny));
    assert_string_equal(d.rule, "anon-catalog");
    assert_string_equal(tiny, "vip_desk > ... ");

    /* no buffer: the decision alone */
    omni_policy_explain(p, test_request(&t, "vip_desk", "web",
                                        "catalog.list"),
                        &d, NULL, 0);
    assert_int_equal(d.allow, 1);
    assert_string_equal(d.role, "anonymous");

    omni_policy_free(p);
}


/* diff */

static char *
test_diff(const char *from_sq, const char *to_sq)
{
    char   *from, *diff;
    size_t  i;

    from = strdup(test_json(from_sq));
    assert_non_null(from);
    test_json(to_sq);

    diff = omni_policy_diff(from, strlen(from), test_text, strlen(test_text));
    free(from);

    for (i = 0; diff != NULL && diff[i] != '\0'; i++) {
        if (diff[i] == '"') {
            diff[i] = '\'';
        }
    }

    return diff;
}


static void
test_diff_output(void **state)
{
    char  *diff;

    (void) state;

    diff = test_diff(
        "{'version': 1, 'roles': {"
        " 'a': {'rules': ["
        "  {'id': 'r1', 'effect': 'allow', 'actions': ['x.y']}]},"
        " 'b': {'rules': ["
        "  {'id': 'r2', 'effect': 'allow', 'actions': ['x.z']},"
        "  {'id': 'r3', 'effect': 'deny', 'actions': ['x.q']}]},"
        " 'c': {},"
        " 'e': {'rules': [{'id': 'r5', 'effect': 'allow', 'actions': ['p.q']}]}"
        "}}",
        "{'version': 1, 'anonymous_role': 'c', 'roles': {"
        " 'a': {'rules': ["
        "  {'effect': 'allow', 'actions': ['x.y'], 'id': 'r1'}]},"
        " 'c': {'description': 'now described'},"
        " 'd': {'rules': ["
        "  {'id': 'r2', 'effect': 'allow', 'actions': ['x.z']},"
        "  {'id': 'r4', 'effect': 'allow', 'actions': ['x.w']}]},"
        " 'e': {'rules': [{'id': 'r5', 'effect': 'allow', 'actions': ['p.*']}]}"
        "}}");

    assert_non_null(diff);
    assert_string_equal(diff,
        "{'roles':{'added':['d'],'removed':['b'],'changed':['c','e']},"
        "'rules':{'added':['r4'],'removed':['r3'],'changed':['r2','r5']},"
        "'anonymous_role':{'from':'anonymous','to':'c'}}");
    free(diff);

    /* the same policy, written differently: nothing */
    diff = test_diff("{'version': 1, 'roles': {'anonymous': {}, 'a': {}}}",
                     "{'roles': {'anonymous': {}, 'a': {}}, 'version': 1,"
                     " 'anonymous_role': 'anonymous'}");
    assert_non_null(diff);
    assert_string_equal(diff,
        "{'roles':{'added':[],'removed':[],'changed':[]},"
        "'rules':{'added':[],'removed':[],'changed':[]}}");
    free(diff);

    /* an invalid policy on either side: NULL */
    assert_null(test_diff("{'version': 1, 'roles': {}}",
                          "{'version': 2, 'roles': {}}"));
    assert_null(test_diff("{'version': 1, 'roles': {'a': {'inherits': ['a']}}}",
                          "{'version': 1, 'roles': {}}"));
}


/* a whole file, NULL when it cannot be read */
static char *
test_read(const char *path, size_t *len)
{
    char  *text;
    long   size;
    FILE  *f;

    f = fopen(path, "rb");
    if (f == NULL) {
        return NULL;
    }

    assert_int_equal(fseek(f, 0, SEEK_END), 0);
    size = ftell(f);
    assert_true(size >= 0);
    rewind(f);

    text = malloc(size + 1);
    assert_non_null(text);
    assert_int_equal(fread(text, 1, size, f), (size_t) size);
    fclose(f);

    text[size] = '\0';
    *len = (size_t) size;

    return text;
}


/* every fixture of dir compiles (valid) or fails (not valid); the count */
static size_t
test_fixture_dir(const char *dir, int valid)
{
    char            *json, *errors;
    char             path[512];
    size_t           len, n;
    DIR             *d;
    struct dirent   *e;
    omni_policy_t   *p;

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

        p = omni_policy_compile(json, len, &errors);

        if ((p != NULL) != valid) {
            print_error("%s: %s\n", path,
                        p != NULL ? "compiles" : errors);
        }

        assert_true((p != NULL) == valid);
        assert_true((errors == NULL) == valid);

        omni_policy_free(p);
        free(errors);
        free(json);
        n++;
    }

    closedir(d);

    return n;
}


/*
 * The schema's fixtures (t/schema/run.sh checks them against
 * schema/policy.schema.json) and the examples of docs/policy.md: the
 * compiler must agree with the schema on every one.
 */
static void
test_fixtures(void **state)
{
    char            *doc, *p, *start, *end, *errors;
    size_t           len, n;
    omni_policy_t   *policy;

    static const char  marker[] = "<!-- example: policy -->\n```json\n";

    (void) state;

    if (test_fixture_dir("t/fixtures/policies/valid", 1) == 0) {
        skip();
    }

    assert_true(test_fixture_dir("t/fixtures/policies/invalid", 0) > 0);

    doc = test_read("docs/policy.md", &len);
    assert_non_null(doc);

    n = 0;

    for (p = strstr(doc, marker); p != NULL; p = strstr(end, marker)) {
        start = p + sizeof(marker) - 1;
        end = strstr(start, "\n```\n");
        assert_non_null(end);

        policy = omni_policy_compile(start, end + 1 - start, &errors);

        if (policy == NULL) {
            print_error("docs/policy.md example %zu:\n%s\n", n + 1, errors);
        }

        assert_non_null(policy);
        omni_policy_free(policy);
        n++;
    }

    assert_true(n > 0);
    free(doc);
}


/* the example policy shipped in conf/ compiles and says what docs say */

static void
test_conf_policy(void **state)
{
    char           *json, *errors;
    long            size;
    FILE           *f;
    omni_policy_t  *p;

    (void) state;

    f = fopen("conf/policy.json", "rb");
    if (f == NULL) {
        skip();
    }

    assert_int_equal(fseek(f, 0, SEEK_END), 0);
    size = ftell(f);
    assert_true(size > 0);
    rewind(f);

    json = malloc(size);
    assert_non_null(json);
    assert_int_equal(fread(json, 1, size, f), (size_t) size);
    fclose(f);

    p = omni_policy_compile(json, size, &errors);
    if (p == NULL) {
        print_error("%s\n", errors);
    }
    assert_non_null(p);
    free(json);

    assert_string_equal(test_decide(p, NULL, "web", "catalog.search"),
                        "allow anon-browse anonymous");
    assert_string_equal(test_decide(p, NULL, "web", "order.query"),
                        "deny default -");
    assert_string_equal(test_decide(p, "customer", "app", "order.query"),
                        "allow customer-orders customer");
    assert_string_equal(test_decide(p, "customer", "app", "order.refund"),
                        "deny default -");
    assert_string_equal(test_decide(p, "agent", "web", "order.refund"),
                        "allow agent-orders agent");
    assert_string_equal(test_decide(p, "agent", "app", "order.refund"),
                        "deny default -");
    assert_string_equal(test_decide(p, "agent", "web", "customer.delete"),
                        "deny agent-no-delete agent");
    assert_string_equal(test_decide(p, "supervisor", "web",
                                    "customer.delete"),
                        "deny agent-no-delete agent");
    assert_string_equal(test_decide(p, "supervisor", "web", "order.refund"),
                        "allow agent-orders agent");
    assert_string_equal(test_decide(p, "auditor", "web", "audit.read"),
                        "allow auditor-read auditor");
    assert_string_equal(test_decide(p, "auditor", "web", "order.refund"),
                        "deny auditor-read-only auditor");
    assert_string_equal(test_decide(p, "admin", "web", "customer.delete"),
                        "allow admin-all admin");
    assert_string_equal(test_explain(p, "vip_desk", "web", "order.query"),
                        "customer-orders: vip_desk > agent > customer");

    omni_policy_free(p);
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(test_inheritance_levels),
        cmocka_unit_test(test_inheritance_diamond),
        cmocka_unit_test(test_inheritance_long_chain),
        cmocka_unit_test(test_cycles),
        cmocka_unit_test(test_deny_precedence),
        cmocka_unit_test(test_first_rule_in_policy_order),
        cmocka_unit_test(test_patterns),
        cmocka_unit_test(test_channels),
        cmocka_unit_test(test_conditions),
        cmocka_unit_test(test_anonymous),
        cmocka_unit_test(test_unknown_roles),
        cmocka_unit_test(test_bad_json),
        cmocka_unit_test(test_bad_top),
        cmocka_unit_test(test_bad_roles),
        cmocka_unit_test(test_bad_inherits),
        cmocka_unit_test(test_bad_rules),
        cmocka_unit_test(test_bad_actions),
        cmocka_unit_test(test_bad_channels),
        cmocka_unit_test(test_bad_when),
        cmocka_unit_test(test_bad_scopes),
        cmocka_unit_test(test_bad_paths),
        cmocka_unit_test(test_error_limits),
        cmocka_unit_test(test_closure_limit),
        cmocka_unit_test(test_scopes_paths),
        cmocka_unit_test(test_scopes_mask),
        cmocka_unit_test(test_scopes_combined),
        cmocka_unit_test(test_scopes_shortcut),
        cmocka_unit_test(test_scopes_refused),
        cmocka_unit_test(test_explain_paths),
        cmocka_unit_test(test_diff_output),
        cmocka_unit_test(test_conf_policy),
        cmocka_unit_test(test_fixtures),
    };

    return cmocka_run_group_tests_name("omni_policy", tests, NULL, NULL);
}
