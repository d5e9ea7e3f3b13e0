/*
 * Copyright (C) The omni gateway authors
 *
 * The admin API's policy revisions (omni_admin.c): the routes of a
 * revisioned document (omni_admin_revision.c) over the policy's store
 * revisions and its engine (compile, diff).
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
    omni_store_policy_list, omni_admin_policy_compile, omni_policy_diff
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


int
omni_admin_policy_diff(omni_admin_ctx_t *ctx)
{
    return omni_admin_doc_diff(ctx, &omni_admin_policy);
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
