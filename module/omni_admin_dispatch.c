/*
 * Copyright (C) The omni gateway authors
 *
 * The admin API's workflow revisions (omni_admin.c): the routes of a
 * revisioned document (omni_admin_revision.c) over the workflow's store
 * revisions (omni_store_workflow.c), each checked by the dispatch engine
 * (omni_dispatch.h) before it is written; and the capacities set live
 * (omni_dispatch_live.h), one pool's or one pool's channel's at a time,
 * checked against the store's current workflow.
 */


#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "omni_admin_int.h"
#include "omni_dispatch.h"
#include "omni_dispatch_live.h"


static int omni_admin_workflow_compile(const char *json, size_t len,
    char **errors);
static int omni_admin_capacity_compile(const char *json, size_t len,
    char **errors);
static int omni_admin_capacity_check(omni_admin_ctx_t *ctx,
    const char *pool, const char *channel);


static const char *const  omni_admin_capacity_keys[] = {
    "pool", "channel", "capacity", NULL
};


static const omni_admin_doc_t  omni_admin_workflow = {
    "workflow", "workflow_invalid", omni_store_workflow_get,
    omni_store_workflow_put, omni_store_workflow_list,
    omni_admin_workflow_compile, omni_dispatch_diff
};

static const omni_admin_doc_t  omni_admin_capacity = {
    "capacity", "capacity_invalid", omni_store_capacity_get,
    omni_store_capacity_put, omni_store_capacity_list,
    omni_admin_capacity_compile, NULL
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


int
omni_admin_workflow_diff(omni_admin_ctx_t *ctx)
{
    return omni_admin_doc_diff(ctx, &omni_admin_workflow);
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


int
omni_admin_capacity_get(omni_admin_ctx_t *ctx)
{
    return omni_admin_doc_answer(ctx, &omni_admin_capacity, 0);
}


int
omni_admin_capacity_revisions(omni_admin_ctx_t *ctx)
{
    return omni_admin_doc_revisions(ctx, &omni_admin_capacity);
}


/*
 * {"pool", "channel" (optional), "capacity": N or "workflow"}: the next
 * revision of the capacities set live, with that one changed.
 */
int
omni_admin_capacity_post(omni_admin_ctx_t *ctx)
{
    int                          rc, failed, tries;
    char                         note[OMNI_DISPATCH_ID_MAX
                                      + OMNI_DISPATCH_CHANNEL_MAX + 32];
    char                        *old, *text;
    size_t                       len;
    json_t                      *v, *answer, *record;
    int64_t                      capacity;
    uint32_t                     rev;
    const char                  *pool, *channel;
    omni_store_revision_info_t   info;

    if (omni_admin_body_keys(ctx, omni_admin_capacity_keys) != OMNI_ADMIN_GO
        || omni_admin_body_string(ctx, "pool", 1, &pool) != OMNI_ADMIN_GO
        || omni_admin_body_string(ctx, "channel", 0, &channel)
           != OMNI_ADMIN_GO)
    {
        return OMNI_ADMIN_STOP;
    }

    v = json_object_get(ctx->body, "capacity");

    if (json_is_string(v) && strcmp(json_string_value(v), "workflow") == 0) {
        capacity = -1;

    } else if (json_is_integer(v) && json_integer_value(v) >= 0
               && json_integer_value(v) <= OMNI_DISPATCH_CAPACITY_MAX)
    {
        capacity = json_integer_value(v);

    } else {
        return omni_admin_fail(ctx, 400, "invalid_argument",
                               "\"capacity\" must be an integer from 0 to "
                               "%d, or \"workflow\"",
                               OMNI_DISPATCH_CAPACITY_MAX);
    }

    if (omni_admin_capacity_check(ctx, pool, channel) != OMNI_ADMIN_GO) {
        return OMNI_ADMIN_STOP;
    }

    snprintf(note, sizeof(note), "%s%s%s %s", pool, channel ? "/" : "",
             channel ? channel : "",
             capacity < 0 ? "workflow" : "set");

    /*
     * The record read, changed and put from the revision read: a put from
     * elsewhere in between (another worker, omnictl) makes it read again
     * rather than write over that change.
     */
    for (tries = 0; ; tries++) {
        old = NULL;
        len = 0;
        info.rev = 0;

        rc = omni_store_capacity_get(ctx->st, 0, &old, &len, &info,
                                     ctx->err);
        if (rc != OMNI_STORE_OK && rc != OMNI_STORE_NOT_FOUND) {
            return omni_admin_store_fail(ctx, rc, 0);
        }

        text = omni_dispatch_live_set(old, len, pool, channel, capacity,
                                      ctx->err);
        free(old);

        if (text == NULL) {
            return omni_admin_fail(ctx, 500, "store_error", "the capacities "
                                   "set live: %s", ctx->err);
        }

        rc = omni_store_capacity_replace(ctx->st, info.rev, text,
                                         strlen(text), omni_admin_actor(ctx),
                                         note, ctx->req->now, &rev,
                                         ctx->err);

        if (rc == OMNI_STORE_OK) {
            break;
        }

        free(text);

        if (rc == OMNI_STORE_CONFLICT && tries < OMNI_ADMIN_PUT_TRIES) {
            continue;
        }

        if (rc == OMNI_STORE_CONFLICT) {
            return omni_admin_fail(ctx, 409, "conflict", "%s: the capacities "
                                   "changed under every one of %d tries",
                                   ctx->err, OMNI_ADMIN_PUT_TRIES);
        }

        return omni_admin_store_fail(ctx, rc, 0);
    }

    omni_admin_audit(ctx, "capacity revision %" PRIu32 " (%s)", rev, note);

    record = json_loads(text, 0, NULL);
    free(text);

    failed = (record == NULL);
    answer = json_object();
    omni_admin_set(answer, "revision", json_integer((json_int_t) rev),
                   &failed);
    omni_admin_set(answer, "capacity", record, &failed);

    return omni_admin_reply(ctx, 201, answer, failed);
}


/* GO when the store's workflow has the pool, and the channel of its own */
static int
omni_admin_capacity_check(omni_admin_ctx_t *ctx, const char *pool,
    const char *channel)
{
    int               rc, i, c;
    char             *json;
    size_t            len;
    omni_dispatch_t  *d;

    rc = omni_store_workflow_get(ctx->st, 0, &json, &len, NULL, ctx->err);
    if (rc != OMNI_STORE_OK) {
        return omni_admin_store_fail(ctx, rc, 0);
    }

    d = omni_dispatch_compile(json, len, NULL);
    free(json);

    if (d == NULL) {
        return omni_admin_fail(ctx, 500, "store_error", "the store's "
                               "workflow does not compile");
    }

    i = omni_dispatch_pool(d, pool, strlen(pool));
    c = (i >= 0 && channel) ? omni_dispatch_pool_channel(&d->pools[i],
                                                         channel)
                            : 0;

    omni_dispatch_free(d);

    if (i < 0) {
        return omni_admin_fail(ctx, 400, "invalid_argument",
                               "\"pool\" must name a pool of the store's "
                               "workflow");
    }

    if (c < 0) {
        return omni_admin_fail(ctx, 400, "invalid_argument",
                               "\"channel\" must name a channel of the "
                               "pool's \"channels\"");
    }

    return OMNI_ADMIN_GO;
}


/* 0 for a record of capacities; else -1 and the error */
static int
omni_admin_capacity_compile(const char *json, size_t len, char **errors)
{
    int                    rc;
    char                   err[OMNI_ERRLEN];
    size_t                 n;
    omni_dispatch_live_t  *live;

    *errors = NULL;

    live = malloc(OMNI_DISPATCH_LIVE_MAX * sizeof(omni_dispatch_live_t));
    if (live == NULL) {
        return -1;
    }

    rc = omni_dispatch_live_parse(json, len, live, OMNI_DISPATCH_LIVE_MAX,
                                  &n, err);
    free(live);

    if (rc != 0) {
        *errors = strdup(err);
    }

    return rc;
}
