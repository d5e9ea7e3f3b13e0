/*
 * Copyright (C) The omni gateway authors
 *
 * Fuzz target: the admin router (omni_admin_handle()) against a real
 * store holding a customer with identities, a merged customer, a
 * session, a journey, a revocation, a policy and a case.  The input is a request:
 *
 *   METHOD SP PATH [? QUERY] LF BODY
 *
 * Every answer must be as fuzz_store_check() says.
 */


#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_store.h"


#define FUZZ_METHOD  16


static const char  fuzz_policy[] =
    "{\"version\":1,\"roles\":{\"customer\":{\"rules\":[{\"id\":\"own\","
    "\"effect\":\"allow\",\"actions\":[\"order.*\"]}]},\"agent\":{"
    "\"inherits\":[\"customer\"],\"rules\":[{\"id\":\"refund\",\"effect\":"
    "\"allow\",\"actions\":[\"order.refund\"],\"channels\":[\"web\"]}],"
    "\"scopes\":[{\"path\":\"data.card\",\"mask\":{\"keep_last\":4}}]}}}";


/* what every store starts with, as an operator would have made it */
static void
fuzz_seed(omni_store_t *st)
{
    char                   err[OMNI_ERRLEN];
    size_t                 i;
    omni_admin_result_t    res;
    omni_store_session_t   s;
    omni_store_journey_t   ev;

    static const struct {
        const char  *method;
        const char  *path;
        const char  *body;
    } seed[] = {
        { "PUT", "/identities/phone/%2B8613800000000",
          "{\"customer\":\"c1\"}" },
        { "PUT", "/identities/email/a%40example.com",
          "{\"customer\":\"c1\"}" },
        { "PUT", "/identities/wechat_openid/o6_x",
          "{\"customer\":\"c2\"}" },
        { "POST", "/customers/c2/merge", "{\"into\":\"c1\"}" },
        { "POST", "/revocations",
          "{\"kind\":\"jti\",\"value\":\"j1\",\"expires_at\":1900000000}" },
        { "POST", "/revocations",
          "{\"kind\":\"subject\",\"value\":\"mallory\","
          "\"before\":1800000000}" },
        { "PUT", "/policy?note=seed", fuzz_policy },
        { "PUT", "/policy?note=again", fuzz_policy },
        { "POST", "/cases",
          "{\"customer\":\"c1\",\"subject\":\"Parcel lost\","
          "\"category\":\"complaint\",\"priority\":\"high\"}" },
    };

    for (i = 0; i < sizeof(seed) / sizeof(seed[0]); i++) {
        fuzz_store_request(st, seed[i].method, seed[i].path,
                           strlen(seed[i].path), seed[i].body,
                           strlen(seed[i].body), &res);

        if (res.status >= 300) {
            fuzz_store_fail("the seed fails", res.body);
        }

        omni_admin_result_free(&res);
    }

    memset(&s, 0, sizeof(omni_store_session_t));
    strcpy(s.id, "s1");
    strcpy(s.customer, "c1");
    s.created = FUZZ_STORE_NOW - 600;
    s.last_seen = FUZZ_STORE_NOW - 60;
    s.nchannels = 2;
    strcpy(s.channels[0], "web");
    strcpy(s.channels[1], "ivr");
    strcpy(s.context, "{\"cart\":[1,2]}");
    s.context_len = strlen(s.context);

    if (omni_store_session_put(st, &s, err) != OMNI_STORE_OK) {
        fuzz_store_fail("the seed session", err);
    }

    for (i = 0; i < 3; i++) {
        memset(&ev, 0, sizeof(omni_store_journey_t));
        ev.time_ms = (int64_t) FUZZ_STORE_NOW * 1000 + (int64_t) i;
        strcpy(ev.channel, "web");
        strcpy(ev.action, "order.view");
        strcpy(ev.outcome, "ok");
        strcpy(ev.session, "s1");

        if (omni_store_journey_append(st, "c1", &ev, 100, 0, err)
            != OMNI_STORE_OK)
        {
            fuzz_store_fail("the seed journey", err);
        }
    }
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int                  fresh;
    char                 method[FUZZ_METHOD], *path;
    size_t               mlen, plen;
    const char          *text, *sp, *nl;
    omni_store_t        *st;
    omni_admin_result_t  res;

    st = fuzz_store(&fresh);

    if (fresh) {
        fuzz_seed(st);
    }

    text = (const char *) data;
    sp = memchr(text, ' ', size);

    if (sp == NULL || (size_t) (sp - text) >= FUZZ_METHOD) {
        return 0;
    }

    mlen = (size_t) (sp - text);
    memcpy(method, text, mlen);
    method[mlen] = '\0';

    nl = memchr(sp + 1, '\n', size - mlen - 1);
    plen = (size_t) ((nl ? nl : text + size) - (sp + 1));

    /* NUL-terminated, as nginx's URI is in memory, but not counted */
    path = malloc(plen + 1);
    if (path == NULL) {
        fuzz_store_fail("out of memory", NULL);
    }

    memcpy(path, sp + 1, plen);
    path[plen] = '\0';

    fuzz_store_request(st, method, path, plen, nl ? nl + 1 : NULL,
                       nl ? (size_t) (text + size - nl - 1) : 0, &res);

    fuzz_store_check(&res);

    omni_admin_result_free(&res);
    free(path);

    return 0;
}
