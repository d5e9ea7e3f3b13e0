/*
 * Copyright (C) The omni gateway authors
 *
 * Fuzz target: the policy compiler and what runs on a compiled policy.
 * The input is compiled as a policy document; when it compiles, requests
 * are made of the strings it holds (role names, actions, channels, tiers
 * as they appear), each decided and explained, the reply scopes applied
 * to a reply, and the policy diffed against itself.  Decisions and
 * explanations must agree, a self-diff must be empty, a scoped reply must
 * be a JSON object, and a caller without scopes must get the reply as it
 * is.
 */


#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "omni_policy.h"


#define FUZZ_STRINGS   16
#define FUZZ_REQUESTS  8


static const char  fuzz_reply[] =
    "{\"ok\":true,\"data\":{\"bank_card\":\"6222020000001234\","
    "\"name\":\"Alice\",\"orders\":[{\"id\":1,\"total\":9.5}],"
    "\"profile\":{\"phone\":\"+8613800000000\",\"address\":{\"city\":\"X\"}}},"
    "\"meta\":{\"request_id\":\"r-1\"}}";

static const char  *fuzz_defaults[] = {
    "customer", "agent", "order.refund", "web", "gold", "admin",
    "order.view", "ivr"
};


static void
fuzz_fail(const char *what, const char *detail)
{
    fprintf(stderr, "fuzz_policy: %s%s%s\n", what, detail ? ": " : "",
            detail ? detail : "");
    abort();
}


/* every key and string in the document, in order, up to FUZZ_STRINGS */
static void
fuzz_strings(json_t *v, const char **s, size_t *n)
{
    size_t       i;
    json_t      *item;
    const char  *key;

    if (*n == FUZZ_STRINGS) {
        return;
    }

    if (json_is_string(v)) {
        s[(*n)++] = json_string_value(v);

    } else if (json_is_object(v)) {
        json_object_foreach(v, key, item) {
            if (*n < FUZZ_STRINGS) {
                s[(*n)++] = key;
            }

            fuzz_strings(item, s, n);
        }

    } else if (json_is_array(v)) {
        json_array_foreach(v, i, item) {
            fuzz_strings(item, s, n);
        }
    }
}


static void
fuzz_requests(const omni_policy_t *p, const char **s, size_t n)
{
    int                     rc;
    char                    path[OMNI_POLICY_PATH_MAX], tiny[12];
    char                   *out;
    size_t                  i, out_len;
    json_t                 *json;
    const char             *roles[2];
    omni_policy_request_t   req;
    omni_policy_decision_t  d, e;

    for (i = 0; i < FUZZ_REQUESTS; i++) {
        memset(&req, 0, sizeof(omni_policy_request_t));

        roles[0] = s[i % n];
        roles[1] = s[(i + 1) % n];
        req.roles = roles;
        req.nroles = i % 3;
        req.anonymous = (i == 0);
        req.action = (i == 7) ? NULL : s[(i + 2) % n];
        req.channel = s[(i + 3) % n];
        req.tier = (i & 1) ? s[(i + 4) % n] : NULL;
        req.has_session = (i & 2) != 0;
        req.session_age = (int64_t) i * 900 - 1;

        omni_policy_decide(p, &req, &d);
        omni_policy_explain(p, &req, &e, (i & 4) ? tiny : path,
                            (i & 4) ? sizeof(tiny) : sizeof(path));

        if (d.allow != e.allow || d.rule == NULL || e.rule == NULL
            || strcmp(d.rule, e.rule) != 0
            || (d.role == NULL) != (e.role == NULL)
            || (d.role != NULL && strcmp(d.role, e.role) != 0))
        {
            fuzz_fail("decide and explain disagree", d.rule);
        }

        if (d.allow && d.role == NULL) {
            fuzz_fail("an allow without a role", d.rule);
        }

        if (memchr((i & 4) ? tiny : path, '\0',
                   (i & 4) ? sizeof(tiny) : sizeof(path)) == NULL)
        {
            fuzz_fail("an explanation without its NUL", NULL);
        }

        out = NULL;
        rc = omni_policy_apply_scopes(p, &req, fuzz_reply,
                                      sizeof(fuzz_reply) - 1, &out, &out_len);

        if (!omni_policy_has_scopes(p, &req) && (rc != 0 || out != NULL)) {
            fuzz_fail("a caller without scopes had the reply changed", NULL);
        }

        if (out != NULL) {
            json = json_loadb(out, out_len, JSON_REJECT_DUPLICATES, NULL);
            if (!json_is_object(json) || out[out_len] != '\0') {
                fuzz_fail("a scoped reply is not a JSON object", out);
            }

            json_decref(json);
            free(out);
        }
    }
}


static void
fuzz_self_diff(const char *text, size_t len)
{
    char    *diff;
    json_t  *json;

    diff = omni_policy_diff(text, len, text, len);
    if (diff == NULL) {
        fuzz_fail("a valid policy does not diff", NULL);
    }

    json = json_loads(diff, 0, NULL);

    if (json == NULL
        || json_array_size(json_object_get(json_object_get(json, "roles"),
                                           "added"))
           + json_array_size(json_object_get(json_object_get(json, "roles"),
                                             "removed"))
           + json_array_size(json_object_get(json_object_get(json, "roles"),
                                             "changed"))
           + json_array_size(json_object_get(json_object_get(json, "rules"),
                                             "added"))
           + json_array_size(json_object_get(json_object_get(json, "rules"),
                                             "removed"))
           + json_array_size(json_object_get(json_object_get(json, "rules"),
                                             "changed")) != 0
        || json_object_get(json, "anonymous_role") != NULL)
    {
        fuzz_fail("a policy differs from itself", diff);
    }

    json_decref(json);
    free(diff);
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char           *errors;
    size_t          n;
    json_t         *doc;
    const char     *s[FUZZ_STRINGS];
    omni_policy_t  *p;

    p = omni_policy_compile((const char *) data, size, &errors);

    if (p == NULL) {
        if (errors == NULL) {
            fuzz_fail("a refusal without errors", NULL);
        }

        free(errors);
        return 0;
    }

    if (errors != NULL) {
        fuzz_fail("a compiled policy with errors", errors);
    }

    doc = json_loadb((const char *) data, size, 0, NULL);

    n = 0;
    fuzz_strings(doc, s, &n);

    while (n < FUZZ_STRINGS) {
        s[n] = fuzz_defaults[n % (sizeof(fuzz_defaults) / sizeof(char *))];
        n++;
    }

    fuzz_requests(p, s, n);
    fuzz_self_diff((const char *) data, size);

    json_decref(doc);
    omni_policy_free(p);

    return 0;
}
