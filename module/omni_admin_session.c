/*
 * Copyright (C) The omni gateway authors
 *
 * The admin API's sessions (omni_admin.c): GET and DELETE /sessions/{id},
 * and a session as JSON, as the customers' pages list them too.
 */


#include <string.h>

#include <jansson.h>

#include "omni_admin_int.h"


int
omni_admin_session_get(omni_admin_ctx_t *ctx)
{
    int                   rc;
    omni_store_session_t  s;

    rc = omni_store_session_get(ctx->st, ctx->seg[1], &s, ctx->err);
    if (rc != OMNI_STORE_OK) {
        return omni_admin_store_fail(ctx, rc, 0);
    }

    return omni_admin_reply(ctx, 200, omni_admin_session_json(&s), 0);
}


/*
 * Revokes the session: tokens naming it are refused from now on, and the
 * store drops its record.  An unknown id is revoked all the same: a token
 * may name a session that was purged.
 */
int
omni_admin_session_revoke(omni_admin_ctx_t *ctx)
{
    int      rc, failed;
    json_t  *answer;

    rc = omni_store_revoke_session(ctx->st, ctx->seg[1], ctx->req->now,
                                   ctx->err);
    if (rc != OMNI_STORE_OK) {
        return omni_admin_store_fail(ctx, rc, 0);
    }

    omni_admin_audit(ctx, "revoke session %s", ctx->seg[1]);

    failed = 0;
    answer = json_object();
    omni_admin_set(answer, "session", omni_admin_str(ctx->seg[1]), &failed);
    omni_admin_set(answer, "revoked", json_true(), &failed);

    return omni_admin_reply(ctx, 200, answer, failed);
}


/* answers */

/* NULL when memory ran out */
json_t *
omni_admin_session_json(const omni_store_session_t *s)
{
    int            failed;
    unsigned       i;
    json_t        *o, *channels, *context;
    json_error_t   jerr;

    failed = 0;
    channels = json_array();

    for (i = 0; i < s->nchannels && i < OMNI_STORE_CHANNELS; i++) {
        omni_admin_append(channels, omni_admin_str(s->channels[i]), &failed);
    }

    /* the store checks contexts on write: null means a damaged record */
    if (s->context_len == 0) {
        context = json_object();

    } else {
        memset(&jerr, 0, sizeof(json_error_t));
        context = json_loadb(s->context, s->context_len,
                             JSON_REJECT_DUPLICATES, &jerr);

        if (context == NULL && omni_admin_load_nomem(&jerr)) {
            failed = 1;

        } else if (!json_is_object(context)) {
            json_decref(context);
            context = json_null();
        }
    }

    o = json_object();
    omni_admin_set(o, "id", omni_admin_str(s->id), &failed);
    omni_admin_set(o, "customer", omni_admin_str_or_null(s->customer),
                   &failed);
    omni_admin_set(o, "created_at", omni_admin_time(s->created, 0), &failed);
    omni_admin_set(o, "last_seen_at", omni_admin_time(s->last_seen, 0),
                   &failed);
    omni_admin_set(o, "channels", channels, &failed);
    omni_admin_set(o, "context", context, &failed);

    if (failed) {
        json_decref(o);
        return NULL;
    }

    return o;
}
