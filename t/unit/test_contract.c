/*
 * Copyright (C) The omni gateway authors
 *
 * Unit tests of the contract's checks and writer (omni_contract.c) alone:
 * the text it writes (compared whole: its key order is defined), the
 * messages that name a field, the user agent's repair, the identities'
 * merge and bound, the gateway's values, times, and buffers that grow or
 * cannot.  The Lua side (omni_lua_contract.c) is covered by the specs.
 */


#define _GNU_SOURCE   /* memmem() */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "omni_contract.h"


#define TEST_CAP  65536


typedef struct {
    omni_buf_t   b;
    u_char       mem[TEST_CAP];
    size_t       grows;
    size_t       grow_limit;     /* 0: any */
} test_out_t;


#define S(s)   ((omni_str_t) { s, sizeof(s) - 1 })


/* grows from a fixed arena, as a pool would; fails past the limit */
static u_char *
test_grow(omni_buf_t *b, size_t n)
{
    size_t       cap;
    test_out_t  *t = b->ctx;

    if (t->grow_limit && t->grows == t->grow_limit) {
        return NULL;
    }

    cap = b->cap * 2;
    if (cap < b->len + n) {
        cap = b->len + n;
    }

    if (cap > TEST_CAP) {
        return NULL;
    }

    if (b->data != t->mem) {
        memcpy(t->mem, b->data, b->len);
    }

    b->data = t->mem;
    b->cap = cap;
    t->grows++;

    return b->data + b->len;
}


static void
test_out_init(test_out_t *t, size_t first)
{
    static u_char  small[8];

    memset(t, 0, sizeof(test_out_t));

    /* a tiny first buffer makes the writer grow at once */
    t->b.data = small;
    t->b.cap = first < sizeof(small) ? first : sizeof(small);
    t->b.grow = test_grow;
    t->b.ctx = t;
}


static void
test_minimal(omni_contract_t *c)
{
    memset(c, 0, sizeof(omni_contract_t));

    c->action = S("order.query");
    c->request_id = S("4f1c0c5e2a9b4d7c8e6f1a2b3c4d5e6f");
    c->received_at = 1795540000123LL;
    c->channel = S("miniprogram");
    c->client_ip = S("203.0.113.7");
}


static void
test_written(const omni_contract_t *c, const char *expect)
{
    char        err[OMNI_ERRLEN];
    test_out_t  out;

    test_out_init(&out, 8);

    err[0] = '\0';
    assert_int_equal(omni_contract_write(c, &out.b, err), OMNI_CONTRACT_OK);

    if (out.b.len != strlen(expect)
        || memcmp(out.b.data, expect, out.b.len) != 0)
    {
        fprintf(stderr, "got:  %.*s\nwant: %s\n", (int) out.b.len,
                out.b.data, expect);
    }

    assert_int_equal(out.b.len, strlen(expect));
    assert_memory_equal(out.b.data, expect, out.b.len);
    assert_true(out.grows > 0);
}


static void
test_refused(const omni_contract_t *c, const char *expect)
{
    char        err[OMNI_ERRLEN];
    test_out_t  out;

    test_out_init(&out, 8);

    assert_int_equal(omni_contract_write(c, &out.b, err),
                     OMNI_CONTRACT_INVALID);
    assert_string_equal(err, expect);
}


static void
test_write_minimal(void **state)
{
    omni_contract_t  c;

    (void) state;

    test_minimal(&c);

    test_written(&c, "{\"action\":\"order.query\",\"channel\":{\"app_id\":null,"
                 "\"client_version\":null,\"name\":\"miniprogram\"},\"client\":"
                 "{\"device_id\":null,\"ip\":\"203.0.113.7\",\"user_agent\":"
                 "null},\"customer\":{\"anonymous\":true,\"cases\":null,\"id\":null,"
                 "\"identities\":[],\"tier\":null},\"dispatch\":null,"
                 "\"intent\":null,\"locale\":null,"
                 "\"params\":{},\"principal\":null,\"received_at\":"
                 "\"2026-11-24T17:06:40.123Z\",\"request_id\":"
                 "\"4f1c0c5e2a9b4d7c8e6f1a2b3c4d5e6f\",\"route\":null,"
                 "\"session\":null,\"version\":\"1.3\"}");
}


static omni_contract_rc_t
test_params(void *data, const char *path, omni_buf_t *out, char *err)
{
    const char  *mode = data;

    if (strcmp(mode, "bad") == 0) {
        omni_err(err, "%s.cb is a function", path);
        return OMNI_CONTRACT_INVALID;
    }

    return omni_buf_add(out, "{\"order_no\":\"42\"}", 17)
           ? OMNI_CONTRACT_NO_MEMORY : OMNI_CONTRACT_OK;
}


static void
test_write_full(void **state)
{
    char                     err[OMNI_ERRLEN];
    omni_str_t               roles[] = { S("agent"), S("with space"), S("a,b"),
                                         S("vip") };
    omni_str_t               channels[] = { S("web"), S("app") };
    omni_contract_t          c;
    omni_contract_session_t  s;
    omni_contract_case_t     cases[OMNI_CONTRACT_CASES + 1];

    (void) state;

    test_minimal(&c);

    c.app_id = S("wx1");
    c.client_version = S("8.0.1");
    c.device_id = S("d\"1");
    c.tier = S("gold");
    c.locale = S("zh-CN");
    c.params = test_params;
    c.params_data = "good";
    c.user_agent = S("Mozilla/5.0");
    c.principal = 1;
    c.subject = S("alice");
    c.roles = roles;
    c.nroles = 4;
    c.customer_id = S("cus_1");

    assert_int_equal(omni_contract_add_identity(&c, S("wechat_openid"),
                                                S("o6\n"), err),
                     OMNI_CONTRACT_OK);

    memset(&s, 0, sizeof(s));
    s.id = S("ses_1");
    s.new = 1;
    s.created_at = 0;
    s.last_seen_at = 951825600999LL;          /* 2000-02-29T12:00:00.999Z */
    s.channels = channels;
    s.nchannels = 2;
    s.context = S("{\"cart\":{\"items\":2}}");
    c.session = &s;

    memset(cases, 0, sizeof(cases));
    cases[0].id = S("4821093756");
    cases[0].status = S("pending");
    cases[0].category = S("complaint");
    cases[0].due = 951825600999LL;
    cases[1].id = S("0000000000");
    cases[1].status = S("new");
    cases[1].category = S("billing");
    c.cases = cases;
    c.ncases = 2;

    assert_int_equal(omni_contract_check_gateway(&c, err), OMNI_CONTRACT_OK);

    test_written(&c, "{\"action\":\"order.query\",\"channel\":{\"app_id\":"
                 "\"wx1\",\"client_version\":\"8.0.1\",\"name\":"
                 "\"miniprogram\"},\"client\":{\"device_id\":\"d\\\"1\","
                 "\"ip\":\"203.0.113.7\",\"user_agent\":\"Mozilla/5.0\"},"
                 "\"customer\":{\"anonymous\":false,\"cases\":[{\"category\":"
                 "\"complaint\",\"due\":\"2000-02-29T12:00:00.999Z\",\"id\":"
                 "\"4821093756\",\"status\":\"pending\"},{\"category\":"
                 "\"billing\",\"due\":null,\"id\":\"0000000000\",\"status\":"
                 "\"new\"}],\"id\":\"cus_1\","
                 "\"identities\":[{\"type\":\"wechat_openid\",\"value\":"
                 "\"o6\\n\"}],\"tier\":\"gold\"},\"dispatch\":null,"
                 "\"intent\":null,\"locale\":\"zh-CN\","
                 "\"params\":{\"order_no\":\"42\"},\"principal\":{\"issuer\":"
                 "null,\"roles\":[\"agent\",\"vip\"],\"subject\":\"alice\"},"
                 "\"received_at\":\"2026-11-24T17:06:40.123Z\",\"request_id\":"
                 "\"4f1c0c5e2a9b4d7c8e6f1a2b3c4d5e6f\",\"route\":null,"
                 "\"session\":{\"channels\":[\"web\",\"app\"],\"context\":"
                 "{\"cart\":{\"items\":2}},\"created_at\":"
                 "\"1970-01-01T00:00:00.000Z\",\"id\":\"ses_1\","
                 "\"last_seen_at\":\"2000-02-29T12:00:00.999Z\",\"new\":true},"
                 "\"version\":\"1.3\"}");

    /* cases need a customer, are at most 8, and are as the store holds */
    c.customer_id.data = NULL;
    assert_int_equal(omni_contract_check_gateway(&c, err),
                     OMNI_CONTRACT_INVALID);
    c.customer_id = S("cus_1");
    c.ncases = OMNI_CONTRACT_CASES + 1;
    assert_int_equal(omni_contract_check_gateway(&c, err),
                     OMNI_CONTRACT_INVALID);
    c.ncases = 2;
    cases[1].status = S("On Hold");
    assert_int_equal(omni_contract_check_gateway(&c, err),
                     OMNI_CONTRACT_INVALID);
    assert_non_null(strstr(err, "customer.cases[2]"));
    c.cases = NULL;
    c.ncases = 0;

    /* a context the store could not have written is carried as {} */
    s.context = S("{\"a\":1,\"a\":2}");
    s.new = 0;
    c.params = NULL;
    c.principal = 0;
    c.app_id.data = NULL;
    c.client_version.data = NULL;
    c.device_id.data = NULL;
    c.tier.data = NULL;
    c.locale.data = NULL;
    c.user_agent.data = NULL;
    c.nidentities = 0;

    test_written(&c, "{\"action\":\"order.query\",\"channel\":{\"app_id\":null,"
                 "\"client_version\":null,\"name\":\"miniprogram\"},\"client\":"
                 "{\"device_id\":null,\"ip\":\"203.0.113.7\",\"user_agent\":"
                 "null},\"customer\":{\"anonymous\":false,\"cases\":null,\"id\":\"cus_1\","
                 "\"identities\":[],\"tier\":null},\"dispatch\":null,"
                 "\"intent\":null,\"locale\":null,"
                 "\"params\":{},\"principal\":null,\"received_at\":"
                 "\"2026-11-24T17:06:40.123Z\",\"request_id\":"
                 "\"4f1c0c5e2a9b4d7c8e6f1a2b3c4d5e6f\",\"route\":null,"
                 "\"session\":{\"channels\":[\"web\",\"app\"],\"context\":{},"
                 "\"created_at\":\"1970-01-01T00:00:00.000Z\",\"id\":\"ses_1\","
                 "\"last_seen_at\":\"2000-02-29T12:00:00.999Z\",\"new\":false},"
                 "\"version\":\"1.3\"}");
}


/* 1.3: the dispatch's decision and the plugin's intent */
static void
test_write_dispatch(void **state)
{
    char                      err[OMNI_ERRLEN];
    char                      want[1024], intent[128];
    size_t                    i;
    omni_contract_t           c;
    omni_contract_dispatch_t  d;

    static const char  *fmt = "{\"action\":\"order.query\",\"channel\":"
        "{\"app_id\":null,\"client_version\":null,\"name\":\"miniprogram\"},"
        "\"client\":{\"device_id\":null,\"ip\":\"203.0.113.7\","
        "\"user_agent\":null},\"customer\":{\"anonymous\":true,\"cases\":"
        "null,\"id\":null,\"identities\":[],\"tier\":null},\"dispatch\":%s,"
        "\"intent\":%s,\"locale\":null,\"params\":{},\"principal\":null,"
        "\"received_at\":\"2026-11-24T17:06:40.123Z\",\"request_id\":"
        "\"4f1c0c5e2a9b4d7c8e6f1a2b3c4d5e6f\",\"route\":null,"
        "\"session\":null,\"version\":\"1.3\"}";

    static const struct {
        double       confidence;
        const char  *text;
    } numbers[] = {
        { -1, "null" }, { 0, "0" }, { 1, "1" }, { 0.92, "0.92" },
        { 0.5, "0.5" }, { 1.0 / 3, "0.3333333333333333" },
        { 0.1 + 0.2, "0.30000000000000004" }, { 0.0005, "0.0005" },
        { 0.9995, "0.9995" }, { 0.12345, "0.12345" },
        { 5e-324, "4.9406564584125e-324" }
    };

    (void) state;

    test_minimal(&c);

    d.pool = S("vip_desk");
    d.rule = S("vip-1.a");
    d.step = 2;
    d.reason = S("overflow");

    c.dispatch = &d;
    c.intent = S("order.status");
    c.confidence = 0.92;

    assert_int_equal(omni_contract_check_gateway(&c, err), OMNI_CONTRACT_OK);

    snprintf(want, sizeof(want), fmt, "{\"pool\":\"vip_desk\",\"reason\":"
             "\"overflow\",\"rule\":\"vip-1.a\",\"step\":2}",
             "{\"confidence\":0.92,\"name\":\"order.status\"}");
    test_written(&c, want);

    /* a confidence as omni.json writes the number; none: null */
    c.dispatch = NULL;
    c.intent = S("complaint");

    for (i = 0; i < sizeof(numbers) / sizeof(numbers[0]); i++) {
        c.confidence = numbers[i].confidence;

        snprintf(intent, sizeof(intent), "{\"confidence\":%s,\"name\":"
                 "\"complaint\"}", numbers[i].text);
        snprintf(want, sizeof(want), fmt, "null", intent);
        test_written(&c, want);
    }

    /* every 3-decimal confidence as %.14g writes it (the fast path) */
    for (i = 1; i < 1000; i++) {
        c.confidence = (double) i / 1000;

        snprintf(intent, sizeof(intent), "{\"confidence\":%.14g,\"name\":"
                 "\"complaint\"}", c.confidence);
        snprintf(want, sizeof(want), fmt, "null", intent);
        test_written(&c, want);
    }

    /* past 1, or NaN: never written */
    c.confidence = 1.5;
    test_refused(&c, "intent.confidence must be a number from 0 to 1");
    c.confidence = 0.0 / 0.0;
    test_refused(&c, "intent.confidence must be a number from 0 to 1");
    c.confidence = 0.5;

    /* the decision's names are checked again */
    c.dispatch = &d;

    d.pool = S("");
    assert_int_equal(omni_contract_check_gateway(&c, err),
                     OMNI_CONTRACT_INVALID);
    assert_string_equal(err, "dispatch.pool must match "
                        "^[A-Za-z0-9_.-]{1,64}$ (got '')");

    d.pool = S("a b");
    assert_int_equal(omni_contract_check_gateway(&c, err),
                     OMNI_CONTRACT_INVALID);

    d.pool = S("agents");
    d.rule = S("x\"y");
    assert_int_equal(omni_contract_check_gateway(&c, err),
                     OMNI_CONTRACT_INVALID);
    assert_non_null(strstr(err, "dispatch.rule"));

    d.rule = S("default");
    d.step = 8;
    assert_int_equal(omni_contract_check_gateway(&c, err),
                     OMNI_CONTRACT_INVALID);
    assert_string_equal(err, "dispatch.step must be 0 to 7 (got 8)");

    d.step = -1;
    assert_int_equal(omni_contract_check_gateway(&c, err),
                     OMNI_CONTRACT_INVALID);

    d.step = 7;
    d.reason = S("Overflow");
    assert_int_equal(omni_contract_check_gateway(&c, err),
                     OMNI_CONTRACT_INVALID);
    assert_non_null(strstr(err, "dispatch.reason"));

    d.reason = S("first");
    assert_int_equal(omni_contract_check_gateway(&c, err), OMNI_CONTRACT_OK);
}


static void
test_write_refusals(void **state)
{
    char                     err[OMNI_ERRLEN];
    omni_str_t               channels[] = { S("web"), S("a\xff") };
    omni_contract_t          c;
    omni_contract_session_t  s;
    omni_contract_case_t     cases[2];

    (void) state;

    test_minimal(&c);
    c.app_id = S("\xff");
    test_refused(&c, "channel.app_id is not valid UTF-8");

    test_minimal(&c);
    c.tier = S("\xc0\x80");
    test_refused(&c, "customer.tier is not valid UTF-8");

    test_minimal(&c);
    assert_int_equal(omni_contract_add_identity(&c, S("phone"), S("1"), err),
                     OMNI_CONTRACT_OK);
    assert_int_equal(omni_contract_add_identity(&c, S("phone"), S("x\xed\xa0\x80"),
                                                err),
                     OMNI_CONTRACT_OK);
    test_refused(&c, "customer.identities[2].value is not valid UTF-8");

    test_minimal(&c);
    c.principal = 1;
    c.subject = S("bad\xfe");
    test_refused(&c, "principal.subject is not valid UTF-8");

    /* an item's path names its place in the list, and its member */
    test_minimal(&c);
    memset(&s, 0, sizeof(s));
    s.id = S("ses_1");
    s.channels = channels;
    s.nchannels = 2;
    c.session = &s;
    test_refused(&c, "session.channels[2] is not valid UTF-8");

    test_minimal(&c);
    memset(cases, 0, sizeof(cases));
    cases[0].id = S("4821093756");
    cases[0].status = S("new");
    cases[0].category = S("billing");
    cases[1] = cases[0];
    cases[1].status = S("ne\0w");
    c.cases = cases;
    c.ncases = 2;
    test_refused(&c, "customer.cases[2].status holds a NUL character "
                 "(U+0000)");

    test_minimal(&c);
    c.params = test_params;
    c.params_data = "bad";
    test_refused(&c, "params.cb is a function");

    /* no JSON the gateway writes holds NUL, whoever gave the string */
    test_minimal(&c);
    c.app_id = S("wx\0x");
    test_refused(&c, "channel.app_id holds a NUL character (U+0000)");

    test_minimal(&c);
    assert_int_equal(omni_contract_add_identity(&c, S("phone"), S("+1\0x"),
                                                err),
                     OMNI_CONTRACT_OK);
    test_refused(&c, "customer.identities[1].value holds a NUL character "
                 "(U+0000)");

    test_minimal(&c);
    c.principal = 1;
    c.issuer = S("https://idp\0");
    test_refused(&c, "principal.issuer holds a NUL character (U+0000)");
}


static void
test_user_agent(void **state)
{
    char             ua[700];
    omni_contract_t  c;

    (void) state;

    /* each stray byte, and NUL, becomes U+FFFD; never refused */
    test_minimal(&c);
    c.user_agent = S("bad\xffua\xe4\xb8\0");

    test_written(&c, "{\"action\":\"order.query\",\"channel\":{\"app_id\":null,"
                 "\"client_version\":null,\"name\":\"miniprogram\"},\"client\":"
                 "{\"device_id\":null,\"ip\":\"203.0.113.7\",\"user_agent\":"
                 "\"bad\xef\xbf\xbdua\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\"},"
                 "\"customer\":"
                 "{\"anonymous\":true,\"cases\":null,\"id\":null,\"identities\":[],\"tier\":"
                 "null},\"dispatch\":null,\"intent\":null,\"locale\":null,"
                 "\"params\":{},\"principal\":null,"
                 "\"received_at\":\"2026-11-24T17:06:40.123Z\",\"request_id\":"
                 "\"4f1c0c5e2a9b4d7c8e6f1a2b3c4d5e6f\",\"route\":null,"
                 "\"session\":null,\"version\":\"1.3\"}");

    /* 233 three-byte characters: cut to 170 (510 bytes), not split */
    memset(ua, 0, sizeof(ua));
    for (size_t i = 0; i < 233; i++) {
        memcpy(ua + 3 * i, "\xe4\xb8\xad", 3);
    }

    test_minimal(&c);
    c.user_agent.data = ua;
    c.user_agent.len = 699;

    {
        char        err[OMNI_ERRLEN];
        test_out_t  out;
        const char  *p, *e;

        test_out_init(&out, 8);
        assert_int_equal(omni_contract_write(&c, &out.b, err),
                         OMNI_CONTRACT_OK);

        p = memmem(out.b.data, out.b.len, "\"user_agent\":\"", 14);
        assert_non_null(p);
        p += 14;
        e = memchr(p, '"', out.b.len - (size_t) (p - (char *) out.b.data));
        assert_non_null(e);
        assert_int_equal(e - p, 510);
    }
}


static void
test_identities(void **state)
{
    char             err[OMNI_ERRLEN], value[8];
    size_t           i;
    omni_contract_t  c;

    (void) state;

    test_minimal(&c);

    for (i = 0; i < 16; i++) {
        snprintf(value, sizeof(value), "v%zu", i);
        assert_int_equal(omni_contract_add_identity(&c, S("a"),
                                                    (omni_str_t) { strdup(value),
                                                    strlen(value) }, err),
                         OMNI_CONTRACT_OK);
    }

    /* a repeat is dropped, even when full; a 17th is refused */
    assert_int_equal(omni_contract_add_identity(&c, S("a"), S("v3"), err),
                     OMNI_CONTRACT_OK);
    assert_int_equal(c.nidentities, 16);

    assert_int_equal(omni_contract_add_identity(&c, S("b"), S("v3"), err),
                     OMNI_CONTRACT_INVALID);
    assert_string_equal(err, "too many identities (more than 16)");

    for (i = 0; i < 16; i++) {
        free((void *) c.identities[i].value.data);
    }
}


static void
test_gateway_values(void **state)
{
    char                     err[OMNI_ERRLEN];
    omni_str_t               channels[17];
    omni_contract_t          c;
    omni_contract_session_t  s;
    size_t                   i;

    (void) state;

    test_minimal(&c);
    c.customer_id = S("cus 1");
    assert_int_equal(omni_contract_check_gateway(&c, err),
                     OMNI_CONTRACT_INVALID);
    assert_string_equal(err, "customer.id must be null or match "
                        "^[A-Za-z0-9_-]{1,64}$ (got 'cus 1')");

    test_minimal(&c);
    memset(&s, 0, sizeof(s));
    s.id = S("ses_1");
    s.channels = channels;
    c.session = &s;

    s.nchannels = 0;
    assert_int_equal(omni_contract_check_gateway(&c, err),
                     OMNI_CONTRACT_INVALID);
    assert_string_equal(err, "session.channels must not be empty");

    channels[0] = S("web");
    channels[1] = S("Web");
    s.nchannels = 2;
    assert_int_equal(omni_contract_check_gateway(&c, err),
                     OMNI_CONTRACT_INVALID);
    assert_string_equal(err, "session.channels[2] must match "
                        "^[a-z][a-z0-9_]{0,31}$ (got 'Web')");

    channels[1] = S("web");
    assert_int_equal(omni_contract_check_gateway(&c, err),
                     OMNI_CONTRACT_INVALID);
    assert_string_equal(err, "session.channels[2] repeats 'web'");

    for (i = 0; i < 17; i++) {
        channels[i] = S("c");
    }
    s.nchannels = 17;
    assert_int_equal(omni_contract_check_gateway(&c, err),
                     OMNI_CONTRACT_INVALID);
    assert_string_equal(err, "session.channels has more than 16 entries");

    s.nchannels = 1;
    assert_int_equal(omni_contract_check_gateway(&c, err),
                     OMNI_CONTRACT_INVALID);
    assert_string_equal(err, "session must be null when customer.id is null");

    c.customer_id = S("cus_1");
    s.context.len = 4097;
    s.context.data = "{}";
    assert_int_equal(omni_contract_check_gateway(&c, err),
                     OMNI_CONTRACT_INVALID);
    assert_string_equal(err, "session.context must be at most 4096 bytes as "
                        "compact JSON (got 4097)");

    /* times the writer could not write as RFC 3339 */
    s.context = S("{}");
    s.created_at = -1;
    assert_int_equal(omni_contract_check_gateway(&c, err),
                     OMNI_CONTRACT_INVALID);
    assert_string_equal(err, "session.created_at must be milliseconds "
                        "since the epoch, before the year 10000 (got -1)");

    s.created_at = 0;
    s.last_seen_at = OMNI_CONTRACT_MS_MAX;
    assert_int_equal(omni_contract_check_gateway(&c, err),
                     OMNI_CONTRACT_INVALID);
    assert_string_equal(err, "session.last_seen_at must be milliseconds "
                        "since the epoch, before the year 10000 (got "
                        "253402300800000)");

    s.last_seen_at = OMNI_CONTRACT_MS_MAX - 1;
    c.client_ip.len = 0;
    assert_int_equal(omni_contract_check_gateway(&c, err),
                     OMNI_CONTRACT_INVALID);
    assert_string_equal(err, "client.ip must be a string of 1 to 64 bytes");

    c.client_ip = S("127.0.0.1");
    assert_int_equal(omni_contract_check_gateway(&c, err), OMNI_CONTRACT_OK);
}


static void
test_predicates(void **state)
{
    char  long_action[200];

    (void) state;

    assert_true(omni_contract_is_action("a.b", 3));
    assert_true(omni_contract_is_action("cart.add_item.x1", 16));
    assert_false(omni_contract_is_action("order", 5));
    assert_false(omni_contract_is_action("order.", 6));
    assert_false(omni_contract_is_action(".order.x", 8));
    assert_false(omni_contract_is_action("order..x", 8));
    assert_false(omni_contract_is_action("order._x", 8));
    assert_false(omni_contract_is_action("Order.x", 7));
    assert_false(omni_contract_is_action("", 0));

    memset(long_action, 'b', sizeof(long_action));
    memcpy(long_action, "a.", 2);
    assert_true(omni_contract_is_action(long_action, 128));
    assert_false(omni_contract_is_action(long_action, 129));

    assert_true(omni_contract_is_locale("zh-Hans-CN", 10));
    assert_true(omni_contract_is_locale("abcdefgh-12345678", 17));
    assert_false(omni_contract_is_locale("zh_CN", 5));
    assert_false(omni_contract_is_locale("z", 1));
    assert_false(omni_contract_is_locale("abcdefghi", 9));
    assert_false(omni_contract_is_locale("zh-", 3));
    assert_false(omni_contract_is_locale("zh-123456789", 12));

    assert_true(omni_contract_is_code("order_not_found", 15));
    assert_false(omni_contract_is_code("order.not_found", 15));
    assert_true(omni_contract_is_name("wechat_oa", 9));
    assert_false(omni_contract_is_name("1web", 4));
    assert_true(omni_contract_is_id("a-B_9", 5));
    assert_false(omni_contract_is_id("a b", 3));
    assert_false(omni_contract_is_id("", 0));
    assert_true(omni_contract_is_role("agent", 5));
    assert_false(omni_contract_is_role("a\x7f", 2));
}


static void
test_timestamps(void **state)
{
    char  buf[25];

    (void) state;

    buf[24] = '\0';

    omni_contract_timestamp(0, buf);
    assert_string_equal(buf, "1970-01-01T00:00:00.000Z");

    omni_contract_timestamp(951868799999LL, buf);
    assert_string_equal(buf, "2000-02-29T23:59:59.999Z");

    omni_contract_timestamp(4107542400000LL, buf);
    assert_string_equal(buf, "2100-03-01T00:00:00.000Z");

    omni_contract_timestamp(OMNI_CONTRACT_MS_MAX - 1, buf);
    assert_string_equal(buf, "9999-12-31T23:59:59.999Z");
}


static void
test_no_memory(void **state)
{
    char             err[OMNI_ERRLEN];
    size_t           limit, grows;
    test_out_t       out;
    omni_contract_t  c;

    (void) state;

    test_minimal(&c);

    test_out_init(&out, 8);
    assert_int_equal(omni_contract_write(&c, &out.b, err), OMNI_CONTRACT_OK);
    grows = out.grows;
    assert_true(grows > 2);

    /* a growth that fails, wherever it comes, ends the write so */
    for (limit = 1; limit < grows; limit++) {
        test_out_init(&out, 8);
        out.grow_limit = limit;

        assert_int_equal(omni_contract_write(&c, &out.b, err),
                         OMNI_CONTRACT_NO_MEMORY);
    }

    test_out_init(&out, 8);
    out.b.grow = NULL;
    assert_int_equal(omni_contract_write(&c, &out.b, err),
                     OMNI_CONTRACT_NO_MEMORY);
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(test_write_minimal),
        cmocka_unit_test(test_write_full),
        cmocka_unit_test(test_write_dispatch),
        cmocka_unit_test(test_write_refusals),
        cmocka_unit_test(test_user_agent),
        cmocka_unit_test(test_identities),
        cmocka_unit_test(test_gateway_values),
        cmocka_unit_test(test_predicates),
        cmocka_unit_test(test_timestamps),
        cmocka_unit_test(test_no_memory),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
