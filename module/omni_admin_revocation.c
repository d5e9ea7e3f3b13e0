/*
 * Copyright (C) The omni gateway authors
 *
 * The admin API's revocations (omni_admin.c): the pages of each kind,
 * a jti, session or subject revoked, a revocation removed.
 */


#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "omni_admin_int.h"


static const char *const  omni_admin_revoke_keys[] = {
    "kind", "value", "expires_at", "before", NULL
};


static json_t *omni_admin_revocation_json(const omni_store_revocation_t *r);
static json_t *omni_admin_revocations_page(omni_admin_ctx_t *ctx, int kind,
    const char *after, int *rc);
static int omni_admin_kind(const char *name);
static const char *omni_admin_kind_name(int kind);


/*
 * With kind: one page of that kind.  Without: the first page of each
 * kind, keyed by kind, each as the answer with that kind would be, so a
 * client follows each "next" with kind set ("after" needs kind).
 */
int
omni_admin_revocations_get(omni_admin_ctx_t *ctx)
{
    int      rc, kind, failed;
    json_t  *answer, *page;

    kind = OMNI_STORE_REVOKED_NONE;

    if (ctx->given & OMNI_ADMIN_Q_KIND) {
        kind = omni_admin_kind(ctx->kind);
        if (kind == OMNI_STORE_REVOKED_NONE) {
            return omni_admin_fail(ctx, 400, "invalid_argument",
                                   "query parameter \"kind\" must be jti, "
                                   "session or subject");
        }

    } else if (ctx->given & OMNI_ADMIN_Q_AFTER) {
        return omni_admin_fail(ctx, 400, "invalid_argument",
                               "query parameter \"after\" needs \"kind\"");
    }

    rc = OMNI_STORE_OK;

    if (kind != OMNI_STORE_REVOKED_NONE) {
        page = omni_admin_revocations_page(ctx, kind,
                                           (ctx->given & OMNI_ADMIN_Q_AFTER)
                                           ? ctx->after : NULL, &rc);
        if (rc != OMNI_STORE_OK) {
            return omni_admin_store_fail(ctx, rc, 0);
        }

        return omni_admin_reply(ctx, 200, page, 0);
    }

    if (omni_admin_snapshot(ctx) != OMNI_ADMIN_GO) {
        return OMNI_ADMIN_STOP;
    }

    failed = 0;
    answer = json_object();

    for (kind = OMNI_STORE_REVOKED_JTI; kind <= OMNI_STORE_REVOKED_SUBJECT;
         kind++)
    {
        page = omni_admin_revocations_page(ctx, kind, NULL, &rc);
        if (rc != OMNI_STORE_OK) {
            break;
        }

        omni_admin_set(answer, omni_admin_kind_name(kind), page, &failed);
    }

    omni_store_read_end(ctx->st);

    if (rc != OMNI_STORE_OK) {
        json_decref(answer);
        return omni_admin_store_fail(ctx, rc, 0);
    }

    return omni_admin_reply(ctx, 200, answer, failed);
}


int
omni_admin_revocation_post(omni_admin_ctx_t *ctx)
{
    int                      rc, kind, has_expires, has_before;
    char                     t[OMNI_ADMIN_TIME_LEN];
    int64_t                  expires_at, before;
    const char              *kind_name, *value;
    omni_store_revocation_t  r;

    if (omni_admin_body_keys(ctx, omni_admin_revoke_keys) != OMNI_ADMIN_GO
        || omni_admin_body_string(ctx, "kind", 1, &kind_name)
           != OMNI_ADMIN_GO
        || omni_admin_body_string(ctx, "value", 1, &value) != OMNI_ADMIN_GO
        || omni_admin_body_time(ctx, "expires_at", &expires_at, &has_expires)
           != OMNI_ADMIN_GO
        || omni_admin_body_time(ctx, "before", &before, &has_before)
           != OMNI_ADMIN_GO)
    {
        return OMNI_ADMIN_STOP;
    }

    kind = omni_admin_kind(kind_name);
    if (kind == OMNI_STORE_REVOKED_NONE) {
        return omni_admin_fail(ctx, 400, "invalid_argument",
                               "\"kind\" must be jti, session or subject");
    }

    if (has_expires && kind != OMNI_STORE_REVOKED_JTI) {
        return omni_admin_fail(ctx, 400, "invalid_argument",
                               "\"expires_at\" applies to kind jti only");
    }

    if (has_before && kind != OMNI_STORE_REVOKED_SUBJECT) {
        return omni_admin_fail(ctx, 400, "invalid_argument",
                               "\"before\" applies to kind subject only");
    }

    switch (kind) {
    case OMNI_STORE_REVOKED_JTI:
        r.time = has_expires ? expires_at : 0;
        rc = omni_store_revoke_jti(ctx->st, value, r.time, ctx->err);
        break;
    case OMNI_STORE_REVOKED_SESSION:
        r.time = ctx->req->now;
        rc = omni_store_revoke_session(ctx->st, value, r.time, ctx->err);
        break;
    default:
        r.time = has_before ? before : ctx->req->now;
        rc = omni_store_revoke_subject_before(ctx->st, value, r.time,
                                              ctx->err);
        break;
    }

    if (rc != OMNI_STORE_OK) {
        return omni_admin_store_fail(ctx, rc, 0);
    }

    omni_admin_time_text(t, sizeof(t), r.time, 0);

    if (kind == OMNI_STORE_REVOKED_SUBJECT) {
        omni_admin_audit(ctx, "revoke subject %s before %s", value, t);

    } else if (kind == OMNI_STORE_REVOKED_JTI && r.time > 0) {
        omni_admin_audit(ctx, "revoke jti %s until %s", value, t);

    } else {
        omni_admin_audit(ctx, "revoke %s %s", kind_name, value);
    }

    r.kind = kind;
    snprintf(r.value, sizeof(r.value), "%s", value);

    return omni_admin_reply(ctx, 201, omni_admin_revocation_json(&r), 0);
}


int
omni_admin_revocation_delete(omni_admin_ctx_t *ctx)
{
    int      rc, kind, failed;
    json_t  *answer;

    kind = omni_admin_kind(ctx->seg[1]);
    if (kind == OMNI_STORE_REVOKED_NONE) {
        return omni_admin_fail(ctx, 400, "invalid_argument",
                               "the kind must be jti, session or subject");
    }

    rc = omni_store_revocation_remove(ctx->st, kind, ctx->seg[2], ctx->err);
    if (rc != OMNI_STORE_OK) {
        return omni_admin_store_fail(ctx, rc, 0);
    }

    omni_admin_audit(ctx, "remove revocation of %s %s", ctx->seg[1],
                     ctx->seg[2]);

    failed = 0;
    answer = json_object();
    omni_admin_set(answer, "kind", omni_admin_str(ctx->seg[1]), &failed);
    omni_admin_set(answer, "value", omni_admin_str(ctx->seg[2]), &failed);
    omni_admin_set(answer, "removed", json_true(), &failed);

    return omni_admin_reply(ctx, 200, answer, failed);
}


/* answers */

static json_t *
omni_admin_revocation_json(const omni_store_revocation_t *r)
{
    int      failed;
    json_t  *o;

    failed = 0;
    o = json_object();
    omni_admin_set(o, "kind", json_string(omni_admin_kind_name(r->kind)),
                   &failed);
    omni_admin_set(o, "value", omni_admin_str(r->value), &failed);
    omni_admin_set(o, "time",
                   (r->kind == OMNI_STORE_REVOKED_JTI && r->time == 0)
                   ? json_null() : omni_admin_time(r->time, 0),
                   &failed);

    if (failed) {
        json_decref(o);
        return NULL;
    }

    return o;
}


/*
 * One page of revocations of kind as {"revocations", "next"}.  NULL with
 * *rc set when the store fails, NULL with *rc OMNI_STORE_OK when memory
 * ran out.
 */
static json_t *
omni_admin_revocations_page(omni_admin_ctx_t *ctx, int kind,
    const char *after, int *rc)
{
    int                       failed;
    size_t                    i, n;
    json_t                   *page, *list;
    omni_store_revocation_t  *recs;

    recs = malloc((ctx->limit + 1) * sizeof(omni_store_revocation_t));
    if (recs == NULL) {
        *rc = OMNI_STORE_OK;
        return NULL;
    }

    *rc = omni_store_revocations_list(ctx->st, kind, after, recs,
                                      ctx->limit + 1, &n, ctx->err);
    if (*rc != OMNI_STORE_OK) {
        free(recs);
        return NULL;
    }

    failed = 0;
    list = json_array();

    for (i = 0; i < n && i < ctx->limit; i++) {
        omni_admin_append(list, omni_admin_revocation_json(&recs[i]),
                          &failed);
    }

    page = json_object();
    omni_admin_set(page, "revocations", list, &failed);
    omni_admin_set(page, "next",
                   n > ctx->limit
                   ? omni_admin_str(recs[ctx->limit - 1].value) : json_null(),
                   &failed);

    free(recs);

    if (failed) {
        json_decref(page);
        return NULL;
    }

    return page;
}


/* request values */

static int
omni_admin_kind(const char *name)
{
    int  kind;

    for (kind = OMNI_STORE_REVOKED_JTI; kind <= OMNI_STORE_REVOKED_SUBJECT;
         kind++)
    {
        if (strcmp(name, omni_admin_kind_name(kind)) == 0) {
            return kind;
        }
    }

    return OMNI_STORE_REVOKED_NONE;
}


static const char *
omni_admin_kind_name(int kind)
{
    switch (kind) {
    case OMNI_STORE_REVOKED_JTI:
        return "jti";
    case OMNI_STORE_REVOKED_SESSION:
        return "session";
    case OMNI_STORE_REVOKED_SUBJECT:
        return "subject";
    default:
        return "none";
    }
}
