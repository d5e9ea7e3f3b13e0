/*
 * Copyright (C) The omni gateway authors
 *
 * The admin API's policy revisions (omni_admin.c): the routes of a
 * revisioned document (omni_admin_revision.c) over the policy's store
 * revisions and its engine, and the engine's diff of two revisions.
 */


#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "omni_admin_int.h"
#include "omni_policy.h"


static int omni_admin_policy_compile(const char *json, size_t len,
    char **errors);


static const omni_admin_doc_t  omni_admin_policy = {
    "policy", "policy_invalid", omni_store_policy_get, omni_store_policy_put,
    omni_store_policy_list, omni_admin_policy_compile
};


int
omni_admin_policy_get(omni_admin_ctx_t *ctx)
{
    return omni_admin_doc_answer(ctx, &omni_admin_policy, 0);
}


int
omni_admin_policy_revision(omni_admin_ctx_t *ctx)
{
    return omni_admin_doc_revision(ctx, &omni_admin_policy);
}


int
omni_admin_policy_put(omni_admin_ctx_t *ctx)
{
    return omni_admin_doc_put(ctx, &omni_admin_policy);
}


int
omni_admin_policy_revisions(omni_admin_ctx_t *ctx)
{
    return omni_admin_doc_revisions(ctx, &omni_admin_policy);
}


int
omni_admin_policy_rollback(omni_admin_ctx_t *ctx)
{
    return omni_admin_doc_rollback(ctx, &omni_admin_policy);
}


/* the engine's summary of two revisions, read from one snapshot */
int
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
        if (omni_admin_doc_check(ctx, &omni_admin_policy, a, alen, from) == OMNI_ADMIN_GO
            && omni_admin_doc_check(ctx, &omni_admin_policy, b, blen,
                                    to) == OMNI_ADMIN_GO)
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


/* 0 for a policy that compiles; else -1 and its errors (NULL: memory) */
static int
omni_admin_policy_compile(const char *json, size_t len, char **errors)
{
    omni_policy_t  *p;

    p = omni_policy_compile(json, len, errors);

    if (p == NULL) {
        return -1;
    }

    omni_policy_free(p);
    free(*errors);
    *errors = NULL;

    return 0;
}
