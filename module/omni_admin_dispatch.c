/*
 * Copyright (C) The omni gateway authors
 *
 * The admin API's workflow revisions (omni_admin.c): the routes of a
 * revisioned document (omni_admin_revision.c) over the workflow's store
 * revisions (omni_store_workflow.c), each checked by the dispatch engine
 * (omni_dispatch.h) before it is written.
 */


#include <stdlib.h>

#include <jansson.h>

#include "omni_admin_int.h"
#include "omni_dispatch.h"


static int omni_admin_workflow_compile(const char *json, size_t len,
    char **errors);


static const omni_admin_doc_t  omni_admin_workflow = {
    "workflow", "workflow_invalid", omni_store_workflow_get,
    omni_store_workflow_put, omni_store_workflow_list,
    omni_admin_workflow_compile
};


int
omni_admin_workflow_get(omni_admin_ctx_t *ctx)
{
    return omni_admin_doc_answer(ctx, &omni_admin_workflow, 0);
}


int
omni_admin_workflow_revision(omni_admin_ctx_t *ctx)
{
    return omni_admin_doc_revision(ctx, &omni_admin_workflow);
}


int
omni_admin_workflow_put(omni_admin_ctx_t *ctx)
{
    return omni_admin_doc_put(ctx, &omni_admin_workflow);
}


int
omni_admin_workflow_revisions(omni_admin_ctx_t *ctx)
{
    return omni_admin_doc_revisions(ctx, &omni_admin_workflow);
}


int
omni_admin_workflow_rollback(omni_admin_ctx_t *ctx)
{
    return omni_admin_doc_rollback(ctx, &omni_admin_workflow);
}


/* 0 for a workflow that compiles; else -1 and its errors (NULL: memory) */
static int
omni_admin_workflow_compile(const char *json, size_t len, char **errors)
{
    omni_dispatch_t  *d;

    d = omni_dispatch_compile(json, len, errors);

    if (d == NULL) {
        return -1;
    }

    omni_dispatch_free(d);
    free(*errors);
    *errors = NULL;

    return 0;
}
