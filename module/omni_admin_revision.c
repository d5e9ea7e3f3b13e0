/*
 * Copyright (C) The omni gateway authors
 *
 * The admin API's routes over a document kept as store revisions (the
 * policy, omni_admin_policy.c; the workflow, omni_admin_dispatch.c): the
 * current revision and any other, a new one put once its engine compiles
 * it, the list, rollback, and the engine's diff of two revisions.  One implementation for both, told apart
 * by an omni_admin_doc_t.
 */


#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "omni_admin_int.h"


static const char *const  omni_admin_rollback_keys[] = { "revision", NULL };


static int omni_admin_doc_invalid(omni_admin_ctx_t *ctx,
    const omni_admin_doc_t *doc, char *errors, uint32_t rev);


int
omni_admin_doc_revision(omni_admin_ctx_t *ctx, const omni_admin_doc_t *doc)
{
    uint32_t  rev;

    if (omni_admin_revision(ctx->seg[2], &rev) != 0) {
        return omni_admin_fail(ctx, 400, "invalid_argument",
                               "the revision must be an integer from 1 to "
                               "%" PRIu32, UINT32_MAX);
    }

    return omni_admin_doc_answer(ctx, doc, rev);
}


/*
 * The body is the document: compiled to check it, then stored as it
 * came, byte for byte.  The note, if any, comes in the query.
 */
int
omni_admin_doc_put(omni_admin_ctx_t *ctx, const omni_admin_doc_t *doc)
{
    int        rc, failed;
    json_t    *answer;
    uint32_t   rev;

    if (omni_admin_doc_check(ctx, doc, ctx->req->body, ctx->req->body_len, 0)
        != OMNI_ADMIN_GO)
    {
        return OMNI_ADMIN_STOP;
    }

    rc = doc->put(ctx->st, ctx->req->body, ctx->req->body_len,
                  omni_admin_actor(ctx),
                  (ctx->given & OMNI_ADMIN_Q_NOTE) ? ctx->note : "",
                  ctx->req->now, &rev, ctx->err);
    if (rc != OMNI_STORE_OK) {
        return omni_admin_store_fail(ctx, rc, 0);
    }

    omni_admin_audit(ctx, "%s revision %" PRIu32 " (put)", doc->name, rev);

    failed = 0;
    answer = json_object();
    omni_admin_set(answer, "revision", json_integer((json_int_t) rev),
                   &failed);

    return omni_admin_reply(ctx, 201, answer, failed);
}


int
omni_admin_doc_revisions(omni_admin_ctx_t *ctx, const omni_admin_doc_t *doc)
{
    int                          rc, failed;
    size_t                       i, n;
    json_t                      *answer, *list, *o;
    uint32_t                     before;
    omni_store_revision_info_t  *infos;

    before = 0;

    if ((ctx->given & OMNI_ADMIN_Q_BEFORE)
        && omni_admin_revision(ctx->before, &before) != 0)
    {
        return omni_admin_fail(ctx, 400, "invalid_argument",
                               "query parameter \"before\" must be a "
                               "revision, the \"next\" of a page");
    }

    infos = malloc((ctx->limit + 1) * sizeof(omni_store_revision_info_t));
    if (infos == NULL) {
        ctx->nomem = 1;
        return OMNI_ADMIN_STOP;
    }

    rc = doc->list(ctx->st, before, infos, ctx->limit + 1, &n, ctx->err);
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
 * A new revision with the document of an old one.  The old one is
 * compiled again: a document this build no longer accepts is not brought
 * back.
 */
int
omni_admin_doc_rollback(omni_admin_ctx_t *ctx, const omni_admin_doc_t *doc)
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

    rc = doc->get(ctx->st, from, &json, &len, NULL, ctx->err);
    if (rc != OMNI_STORE_OK) {
        return omni_admin_store_fail(ctx, rc, 0);
    }

    if (omni_admin_doc_check(ctx, doc, json, len, from) != OMNI_ADMIN_GO) {
        free(json);
        return OMNI_ADMIN_STOP;
    }

    snprintf(note, sizeof(note), "rollback to %" PRIu32, from);

    rc = doc->put(ctx->st, json, len, omni_admin_actor(ctx), note,
                  ctx->req->now, &rev, ctx->err);
    free(json);

    if (rc != OMNI_STORE_OK) {
        return omni_admin_store_fail(ctx, rc, 0);
    }

    omni_admin_audit(ctx, "%s revision %" PRIu32 " (rollback to %" PRIu32
                     ")", doc->name, rev, from);

    failed = 0;
    answer = json_object();
    omni_admin_set(answer, "revision", json_integer((json_int_t) rev),
                   &failed);

    return omni_admin_reply(ctx, 201, answer, failed);
}


/* the engine's summary of two revisions, read from one snapshot */
int
omni_admin_doc_diff(omni_admin_ctx_t *ctx, const omni_admin_doc_t *doc)
{
    int                          rc, failed;
    char                        *a, *b, *text;
    size_t                       alen, blen;
    json_t                      *diff, *answer;
    uint32_t                     from, to;
    json_error_t                 jerr;
    omni_store_revision_info_t   info;

    if (!(ctx->given & OMNI_ADMIN_Q_FROM)) {
        return omni_admin_fail(ctx, 400, "invalid_argument",
                               "GET /%s/diff needs query parameter "
                               "\"from\"", doc->name);
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

    rc = doc->get(ctx->st, from, &a, &alen, NULL, ctx->err);
    if (rc == OMNI_STORE_OK) {
        rc = doc->get(ctx->st, to, &b, &blen, &info, ctx->err);
    }

    omni_store_read_end(ctx->st);

    if (rc != OMNI_STORE_OK) {
        free(a);
        return omni_admin_store_fail(ctx, rc, 0);
    }

    to = info.rev;

    text = doc->diff(a, alen, b, blen);

    if (text == NULL) {
        /* one that no longer compiles says so; else memory ran out */
        if (omni_admin_doc_check(ctx, doc, a, alen, from) == OMNI_ADMIN_GO
            && omni_admin_doc_check(ctx, doc, b, blen, to) == OMNI_ADMIN_GO)
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


/* {"revision", "time", "author", "note", NAME} of rev (0: current) */
int
omni_admin_doc_answer(omni_admin_ctx_t *ctx, const omni_admin_doc_t *doc,
    uint32_t rev)
{
    int                          rc, failed;
    char                        *json;
    size_t                       len;
    json_t                      *answer, *text;
    json_error_t                 jerr;
    omni_store_revision_info_t   info;

    rc = doc->get(ctx->st, rev, &json, &len, &info, ctx->err);
    if (rc != OMNI_STORE_OK) {
        return omni_admin_store_fail(ctx, rc, 0);
    }

    memset(&jerr, 0, sizeof(json_error_t));
    text = json_loadb(json, len, OMNI_ADMIN_LOAD, &jerr);
    free(json);

    if (text == NULL && omni_admin_load_nomem(&jerr)) {
        ctx->nomem = 1;
        return OMNI_ADMIN_STOP;
    }

    /* written through the admin API it was JSON: an import or damage */
    if (text == NULL) {
        return omni_admin_fail(ctx, 500, "store_error", "%s revision %"
                               PRIu32 " is not JSON: %s", doc->name,
                               info.rev, jerr.text);
    }

    failed = 0;
    answer = json_object();
    omni_admin_set(answer, "revision", json_integer((json_int_t) info.rev),
                   &failed);
    omni_admin_set(answer, "time", omni_admin_time(info.time, 0), &failed);
    omni_admin_set(answer, "author", omni_admin_str(info.author), &failed);
    omni_admin_set(answer, "note", omni_admin_str(info.note), &failed);
    omni_admin_set(answer, doc->name, text, &failed);

    return omni_admin_reply(ctx, 200, answer, failed);
}


/*
 * 422 with every error of a document that does not compile, one a line
 * of errors (freed here).  rev names a stored revision being checked
 * again, 0 the body.  The engines list their first errors and count the
 * rest in a last line, "N more errors not listed": the message counts
 * them all.
 */
static int
omni_admin_doc_invalid(omni_admin_ctx_t *ctx, const omni_admin_doc_t *doc,
    char *errors, uint32_t rev)
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
                 "%s: %zu error%s", rev, doc->name, n, n == 1 ? "" : "s");
    }

    answer = json_object();
    omni_admin_set(answer, "error", json_string(doc->invalid), &failed);
    omni_admin_set(answer, "message", json_string(msg), &failed);
    omni_admin_set(answer, "errors", list, &failed);

    return omni_admin_reply(ctx, 422, answer, failed);
}


/* GO for a document that compiles; else the answer is set */
int
omni_admin_doc_check(omni_admin_ctx_t *ctx, const omni_admin_doc_t *doc,
    const char *json, size_t len, uint32_t rev)
{
    char  *errors;

    errors = NULL;

    if (doc->compile(json, len, &errors) == 0) {
        return OMNI_ADMIN_GO;
    }

    if (errors == NULL) {
        ctx->nomem = 1;
        return OMNI_ADMIN_STOP;
    }

    return omni_admin_doc_invalid(ctx, doc, errors, rev);
}


/* who a revision is written by: the token's subject, omnictl's user */
const char *
omni_admin_actor(omni_admin_ctx_t *ctx)
{
    if (ctx->req->actor == NULL || ctx->req->actor[0] == '\0') {
        return "-";
    }

    return ctx->req->actor;
}


/* decimal digits without sign or leading zeros, 1 to UINT32_MAX */
int
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
