/*
 * Copyright (C) The omni gateway authors
 *
 * The admin API's policy revisions (omni_admin.c): the current one and
 * any other, a new one put after the engine compiles it, the list,
 * rollback, and the engine's diff of two.
 */


#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "omni_admin_int.h"
#include "omni_policy.h"


static const char *const  omni_admin_rollback_keys[] = { "revision", NULL };


static int omni_admin_policy_answer(omni_admin_ctx_t *ctx, uint32_t rev);
static int omni_admin_policy_invalid(omni_admin_ctx_t *ctx, char *errors,
    uint32_t rev);
static int omni_admin_policy_check(omni_admin_ctx_t *ctx, const char *json,
    size_t len, uint32_t rev);
static const char *omni_admin_actor(omni_admin_ctx_t *ctx);
static int omni_admin_revision(const char *s, uint32_t *rev);


int
omni_admin_policy_get(omni_admin_ctx_t *ctx)
{
    return omni_admin_policy_answer(ctx, 0);
}


int
omni_admin_policy_revision(omni_admin_ctx_t *ctx)
{
    uint32_t  rev;

    if (omni_admin_revision(ctx->seg[2], &rev) != 0) {
        return omni_admin_fail(ctx, 400, "invalid_argument",
                               "the revision must be an integer from 1 to "
                               "%" PRIu32, UINT32_MAX);
    }

    return omni_admin_policy_answer(ctx, rev);
}


/*
 * The body is the policy: compiled to check it, then stored as it came,
 * byte for byte.  The note, if any, comes in the query.
 */
int
omni_admin_policy_put(omni_admin_ctx_t *ctx)
{
    int        rc, failed;
    json_t    *answer;
    uint32_t   rev;

    if (omni_admin_policy_check(ctx, ctx->req->body, ctx->req->body_len, 0)
        != OMNI_ADMIN_GO)
    {
        return OMNI_ADMIN_STOP;
    }

    rc = omni_store_policy_put(ctx->st, ctx->req->body, ctx->req->body_len,
                               omni_admin_actor(ctx),
                               (ctx->given & OMNI_ADMIN_Q_NOTE)
                               ? ctx->note : "",
                               ctx->req->now, &rev, ctx->err);
    if (rc != OMNI_STORE_OK) {
        return omni_admin_store_fail(ctx, rc, 0);
    }

    omni_admin_audit(ctx, "policy revision %" PRIu32 " (put)", rev);

    failed = 0;
    answer = json_object();
    omni_admin_set(answer, "revision", json_integer((json_int_t) rev),
                   &failed);

    return omni_admin_reply(ctx, 201, answer, failed);
}


int
omni_admin_policy_revisions(omni_admin_ctx_t *ctx)
{
    int                        rc, failed;
    size_t                     i, n;
    json_t                    *answer, *list, *o;
    uint32_t                   before;
    omni_store_policy_info_t  *infos;

    before = 0;

    if ((ctx->given & OMNI_ADMIN_Q_BEFORE)
        && omni_admin_revision(ctx->before, &before) != 0)
    {
        return omni_admin_fail(ctx, 400, "invalid_argument",
                               "query parameter \"before\" must be a "
                               "revision, the \"next\" of a page");
    }

    infos = malloc((ctx->limit + 1) * sizeof(omni_store_policy_info_t));
    if (infos == NULL) {
        ctx->nomem = 1;
        return OMNI_ADMIN_STOP;
    }

    rc = omni_store_policy_list(ctx->st, before, infos, ctx->limit + 1, &n,
                                ctx->err);
    if (rc != OMNI_STORE_OK) {
        free(infos);
        return omni_admin_store_fail(ctx, rc, 0);
    }

    failed = 0;
    list = json_array();

    for (i = 0; i < n && i < ctx->limit; i++) {
        o = json_object();
        omni_admin_set(o, "revision", json_integer((json_int_t) infos[i].rev),
                       &failed);
        omni_admin_set(o, "time", omni_admin_time(infos[i].time, 0),
                       &failed);
        omni_admin_set(o, "author", omni_admin_str(infos[i].author),
                       &failed);
        omni_admin_set(o, "note", omni_admin_str(infos[i].note), &failed);
        omni_admin_set(o, "size", json_integer((json_int_t) infos[i].len),
                       &failed);
        omni_admin_append(list, o, &failed);
    }

    answer = json_object();
    omni_admin_set(answer, "revisions", list, &failed);
    omni_admin_set(answer, "next",
                   n > ctx->limit
                   ? json_integer((json_int_t) infos[ctx->limit - 1].rev)
                   : json_null(),
                   &failed);

    free(infos);

    return omni_admin_reply(ctx, 200, answer, failed);
}


/*
 * A new revision with the policy of an old one.  The old one is compiled
 * again: a policy this build no longer accepts is not brought back.
 */
int
omni_admin_policy_rollback(omni_admin_ctx_t *ctx)
{
    int          rc, failed;
    char         note[64], *json;
    size_t       len;
    json_t      *v, *answer;
    uint32_t     from, rev;
    json_int_t   n;

    if (omni_admin_body_keys(ctx, omni_admin_rollback_keys) != OMNI_ADMIN_GO)
    {
        return OMNI_ADMIN_STOP;
    }

    v = json_object_get(ctx->body, "revision");
    if (v == NULL) {
        return omni_admin_fail(ctx, 400, "invalid_argument",
                               "\"revision\" is missing");
    }

    n = json_is_integer(v) ? json_integer_value(v) : 0;

    if (n < 1 || n > (json_int_t) UINT32_MAX) {
        return omni_admin_fail(ctx, 400, "invalid_argument",
                               "\"revision\" must be an integer from 1 to "
                               "%" PRIu32, UINT32_MAX);
    }

    from = (uint32_t) n;

    rc = omni_store_policy_get(ctx->st, from, &json, &len, NULL, ctx->err);
    if (rc != OMNI_STORE_OK) {
        return omni_admin_store_fail(ctx, rc, 0);
    }

    if (omni_admin_policy_check(ctx, json, len, from) != OMNI_ADMIN_GO) {
        free(json);
        return OMNI_ADMIN_STOP;
    }

    snprintf(note, sizeof(note), "rollback to %" PRIu32, from);

    rc = omni_store_policy_put(ctx->st, json, len, omni_admin_actor(ctx),
                               note, ctx->req->now, &rev, ctx->err);
    free(json);

    if (rc != OMNI_STORE_OK) {
        return omni_admin_store_fail(ctx, rc, 0);
    }

    omni_admin_audit(ctx, "policy revision %" PRIu32 " (rollback to %"
                     PRIu32 ")", rev, from);

    failed = 0;
    answer = json_object();
    omni_admin_set(answer, "revision", json_integer((json_int_t) rev),
                   &failed);

    return omni_admin_reply(ctx, 201, answer, failed);
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
        if (omni_admin_policy_check(ctx, a, alen, from) == OMNI_ADMIN_GO
            && omni_admin_policy_check(ctx, b, blen, to) == OMNI_ADMIN_GO)
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


/* answers */

/* {"revision", "time", "author", "note", "policy"} of rev (0: current) */
static int
omni_admin_policy_answer(omni_admin_ctx_t *ctx, uint32_t rev)
{
    int                        rc, failed;
    char                      *json;
    size_t                     len;
    json_t                    *answer, *policy;
    json_error_t               jerr;
    omni_store_policy_info_t   info;

    rc = omni_store_policy_get(ctx->st, rev, &json, &len, &info, ctx->err);
    if (rc != OMNI_STORE_OK) {
        return omni_admin_store_fail(ctx, rc, 0);
    }

    memset(&jerr, 0, sizeof(json_error_t));
    policy = json_loadb(json, len, OMNI_ADMIN_LOAD, &jerr);
    free(json);

    if (policy == NULL && omni_admin_load_nomem(&jerr)) {
        ctx->nomem = 1;
        return OMNI_ADMIN_STOP;
    }

    /* written through the admin API it was JSON: an import or damage */
    if (policy == NULL) {
        return omni_admin_fail(ctx, 500, "store_error", "policy revision %"
                               PRIu32 " is not JSON: %s", info.rev,
                               jerr.text);
    }

    failed = 0;
    answer = json_object();
    omni_admin_set(answer, "revision", json_integer((json_int_t) info.rev),
                   &failed);
    omni_admin_set(answer, "time", omni_admin_time(info.time, 0), &failed);
    omni_admin_set(answer, "author", omni_admin_str(info.author), &failed);
    omni_admin_set(answer, "note", omni_admin_str(info.note), &failed);
    omni_admin_set(answer, "policy", policy, &failed);

    return omni_admin_reply(ctx, 200, answer, failed);
}


/*
 * 422 policy_invalid with every error of a policy that does not compile,
 * one a line of errors (freed here).  rev names a stored revision being
 * checked again, 0 the body.  The engine lists OMNI_POLICY_ERRORS_MAX
 * errors and counts the rest in a last line, "N more errors not listed":
 * the message counts them all.
 */
static int
omni_admin_policy_invalid(omni_admin_ctx_t *ctx, char *errors, uint32_t rev)
{
    int      failed, end;
    char    *p, *nl, msg[OMNI_ADMIN_MSG_MAX];
    size_t   n, more;
    json_t  *answer, *list;

    failed = 0;
    n = 0;
    list = json_array();

    for (p = errors; *p != '\0'; p = nl + 1) {
        nl = strchr(p, '\n');
        if (nl != NULL) {
            *nl = '\0';
        }

        if (*p != '\0') {
            omni_admin_append(list, omni_admin_str(p), &failed);

            end = 0;

            if (sscanf(p, "%zu more errors not listed%n", &more, &end) == 1
                && end > 0 && p[end] == '\0')
            {
                n += more;

            } else {
                n++;
            }
        }

        if (nl == NULL) {
            break;
        }
    }

    free(errors);

    if (rev == 0) {
        snprintf(msg, sizeof(msg), "%zu error%s", n, n == 1 ? "" : "s");

    } else {
        snprintf(msg, sizeof(msg), "revision %" PRIu32 " is not a valid "
                 "policy: %zu error%s", rev, n, n == 1 ? "" : "s");
    }

    answer = json_object();
    omni_admin_set(answer, "error", json_string("policy_invalid"), &failed);
    omni_admin_set(answer, "message", json_string(msg), &failed);
    omni_admin_set(answer, "errors", list, &failed);

    return omni_admin_reply(ctx, 422, answer, failed);
}


/* GO for a policy that compiles; else the answer is set */
static int
omni_admin_policy_check(omni_admin_ctx_t *ctx, const char *json, size_t len,
    uint32_t rev)
{
    char           *errors;
    omni_policy_t  *p;

    errors = NULL;

    p = omni_policy_compile(json, len, &errors);

    if (p != NULL) {
        omni_policy_free(p);
        free(errors);
        return OMNI_ADMIN_GO;
    }

    if (errors == NULL) {
        ctx->nomem = 1;
        return OMNI_ADMIN_STOP;
    }

    return omni_admin_policy_invalid(ctx, errors, rev);
}


/* who a revision is written by: the token's subject, omnictl's user */
static const char *
omni_admin_actor(omni_admin_ctx_t *ctx)
{
    if (ctx->req->actor == NULL || ctx->req->actor[0] == '\0') {
        return "-";
    }

    return ctx->req->actor;
}


/* request values */

/* decimal digits without sign or leading zeros, 1 to UINT32_MAX */
static int
omni_admin_revision(const char *s, uint32_t *rev)
{
    size_t    i;
    uint64_t  v;

    v = 0;

    for (i = 0; s[i] >= '0' && s[i] <= '9'; i++) {
        if (i == 10) {
            return -1;
        }

        v = v * 10 + (uint64_t) (s[i] - '0');
    }

    if (i == 0 || s[i] != '\0' || s[0] == '0' || v > UINT32_MAX) {
        return -1;
    }

    *rev = (uint32_t) v;

    return 0;
}
