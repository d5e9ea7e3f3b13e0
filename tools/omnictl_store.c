/*
 * Copyright (C) The omni gateway authors
 *
 * The store's records on the command line: stat, sessions, customers,
 * identities, journeys and revocations, each a request to the admin API.
 */


#include "omnictl.h"


static const char  *omnictl_kinds[] = { "jti", "session", "subject", NULL };


static int omnictl_revocations_page(json_t *answer, const char *kind,
    json_t **next);
static int omnictl_rfc3339(const char *s, int64_t *t);
static int omnictl_customer_page(omnictl_ctx_t *ctx, const char *what,
    const char *cursor_name, const char *cursor);


int
omnictl_cmd_stat(omnictl_ctx_t *ctx)
{
    omnictl_str_t  path = { NULL, 0, 0, 0 };

    omnictl_path(&path, "stats", NULL);

    return omnictl_call(ctx, "GET", &path, NULL, NULL);
}


int
omnictl_cmd_session(omnictl_ctx_t *ctx)
{
    omnictl_str_t  path = { NULL, 0, 0, 0 };

    omnictl_path(&path, "sessions", ctx->argv[0], NULL);

    return omnictl_call(ctx, "GET", &path, NULL, NULL);
}


int
omnictl_cmd_session_revoke(omnictl_ctx_t *ctx)
{
    omnictl_str_t  path = { NULL, 0, 0, 0 };

    omnictl_path(&path, "sessions", ctx->argv[0], NULL);

    return omnictl_call(ctx, "DELETE", &path, NULL, NULL);
}


int
omnictl_cmd_customer(omnictl_ctx_t *ctx)
{
    omnictl_str_t  path = { NULL, 0, 0, 0 };
    omnictl_str_t  query = { NULL, 0, 0, 0 };

    omnictl_path(&path, "customers", ctx->argv[0], NULL);
    omnictl_param(&query, "limit", ctx->limit);

    return omnictl_call(ctx, "GET", &path, &query, NULL);
}


/* a page of one of a customer's lists, from the cursor given */
static int
omnictl_customer_page(omnictl_ctx_t *ctx, const char *what,
    const char *cursor_name, const char *cursor)
{
    omnictl_str_t  path = { NULL, 0, 0, 0 };
    omnictl_str_t  query = { NULL, 0, 0, 0 };

    omnictl_path(&path, "customers", ctx->argv[0], what, NULL);
    omnictl_param(&query, cursor_name, cursor);
    omnictl_param(&query, "limit", ctx->limit);

    return omnictl_call(ctx, "GET", &path, &query, NULL);
}


int
omnictl_cmd_sessions(omnictl_ctx_t *ctx)
{
    return omnictl_customer_page(ctx, "sessions", "after", ctx->after);
}


int
omnictl_cmd_identities(omnictl_ctx_t *ctx)
{
    return omnictl_customer_page(ctx, "identities", "after", ctx->after);
}


int
omnictl_cmd_journey(omnictl_ctx_t *ctx)
{
    return omnictl_customer_page(ctx, "journey", "before", ctx->before);
}


int
omnictl_cmd_resolve(omnictl_ctx_t *ctx)
{
    omnictl_str_t  path = { NULL, 0, 0, 0 };

    omnictl_path(&path, "identities", ctx->argv[0], ctx->argv[1], NULL);

    return omnictl_call(ctx, "GET", &path, NULL, NULL);
}


int
omnictl_cmd_link(omnictl_ctx_t *ctx)
{
    int             rc;
    json_t         *body;
    omnictl_str_t   path = { NULL, 0, 0, 0 };

    body = json_object();
    if (body == NULL) {
        fprintf(stderr, "omnictl: out of memory\n");
        return OMNICTL_EXIT_FAIL;
    }

    rc = omnictl_set(body, "customer", ctx->argv[2]);
    if (rc != OMNICTL_EXIT_OK) {
        json_decref(body);
        return rc;
    }

    omnictl_path(&path, "identities", ctx->argv[0], ctx->argv[1], NULL);

    return omnictl_call(ctx, "PUT", &path, NULL, body);
}


int
omnictl_cmd_unlink(omnictl_ctx_t *ctx)
{
    omnictl_str_t  path = { NULL, 0, 0, 0 };

    omnictl_path(&path, "identities", ctx->argv[0], ctx->argv[1], NULL);

    return omnictl_call(ctx, "DELETE", &path, NULL, NULL);
}


int
omnictl_cmd_merge(omnictl_ctx_t *ctx)
{
    int             rc;
    json_t         *body;
    omnictl_str_t   path = { NULL, 0, 0, 0 };

    body = json_object();
    if (body == NULL) {
        fprintf(stderr, "omnictl: out of memory\n");
        return OMNICTL_EXIT_FAIL;
    }

    rc = omnictl_set(body, "into", ctx->argv[1]);
    if (rc != OMNICTL_EXIT_OK) {
        json_decref(body);
        return rc;
    }

    omnictl_path(&path, "customers", ctx->argv[0], "merge", NULL);

    return omnictl_call(ctx, "POST", &path, NULL, body);
}


/* DELETE /customers/ID?erase=true: the admin API audits it */

int
omnictl_cmd_customers_erase(omnictl_ctx_t *ctx)
{
    omnictl_str_t   path = { NULL, 0, 0, 0 };
    omnictl_str_t   query = { NULL, 0, 0, 0 };

    omnictl_path(&path, "customers", ctx->argv[0], NULL);
    omnictl_param(&query, "erase", "true");

    return omnictl_call(ctx, "DELETE", &path, &query, NULL);
}


int
omnictl_cmd_revoke(omnictl_ctx_t *ctx)
{
    int             rc;
    json_t         *body, *jt;
    int64_t         t;
    const char     *kind;
    omnictl_str_t   path = { NULL, 0, 0, 0 };

    kind = ctx->argv[0];

    if (strcmp(kind, "jti") != 0 && strcmp(kind, "subject") != 0
        && strcmp(kind, "session") != 0)
    {
        return omnictl_usage_error("revoke jti, subject or session, not "
                                   "\"%s\"", kind);
    }

    if (ctx->argc == 3 && strcmp(kind, "session") == 0) {
        return omnictl_usage_error("revoke session takes no time");
    }

    /* without a time the admin API's defaults: a jti for good, now */
    t = 0;

    if (ctx->argc == 3) {
        rc = omnictl_time(ctx->argv[2], &t);
        if (rc != OMNICTL_EXIT_OK) {
            return rc;
        }
    }

    body = json_object();
    if (body == NULL) {
        fprintf(stderr, "omnictl: out of memory\n");
        return OMNICTL_EXIT_FAIL;
    }

    rc = omnictl_set(body, "kind", kind);

    if (rc == OMNICTL_EXIT_OK) {
        rc = omnictl_set(body, "value", ctx->argv[1]);
    }

    if (rc == OMNICTL_EXIT_OK && ctx->argc == 3) {
        jt = json_integer((json_int_t) t);

        if (jt == NULL
            || json_object_set_new(body, strcmp(kind, "jti") == 0
                                         ? "expires_at" : "before", jt) != 0)
        {
            fprintf(stderr, "omnictl: out of memory\n");
            rc = OMNICTL_EXIT_FAIL;
        }
    }

    if (rc != OMNICTL_EXIT_OK) {
        json_decref(body);
        return rc;
    }

    omnictl_path(&path, "revocations", NULL);

    return omnictl_call(ctx, "POST", &path, NULL, body);
}


int
omnictl_cmd_unrevoke(omnictl_ctx_t *ctx)
{
    omnictl_str_t  path = { NULL, 0, 0, 0 };

    if (strcmp(ctx->argv[0], "jti") != 0
        && strcmp(ctx->argv[0], "subject") != 0
        && strcmp(ctx->argv[0], "session") != 0)
    {
        return omnictl_usage_error("unrevoke jti, subject or session, not "
                                   "\"%s\"", ctx->argv[0]);
    }

    omnictl_path(&path, "revocations", ctx->argv[0], ctx->argv[1], NULL);

    return omnictl_call(ctx, "DELETE", &path, NULL, NULL);
}


/*
 * Text, one revocation a line ("kind value time"), kinds in the order
 * jti, session, subject: every page of GET /revocations.
 */

int
omnictl_cmd_revocations(omnictl_ctx_t *ctx)
{
    int             rc, k;
    char            limit[32];
    char           *after;
    json_t         *answer, *next;
    omnictl_str_t   path, query;

    if (ctx->kind != NULL) {
        for (k = 0; omnictl_kinds[k] != NULL; k++) {
            if (strcmp(ctx->kind, omnictl_kinds[k]) == 0) {
                break;
            }
        }

        if (omnictl_kinds[k] == NULL) {
            return omnictl_usage_error("--kind jti, subject or session, not "
                                       "\"%s\"", ctx->kind);
        }
    }

    snprintf(limit, sizeof(limit), "%d", OMNI_ADMIN_LIMIT_MAX);

    for (k = 0; omnictl_kinds[k] != NULL; k++) {
        if (ctx->kind != NULL && strcmp(ctx->kind, omnictl_kinds[k]) != 0) {
            continue;
        }

        after = NULL;

        for ( ;; ) {
            memset(&path, 0, sizeof(path));
            memset(&query, 0, sizeof(query));

            omnictl_path(&path, "revocations", NULL);
            omnictl_param(&query, "kind", omnictl_kinds[k]);
            omnictl_param(&query, "after", after);
            omnictl_param(&query, "limit", limit);

            free(after);
            after = NULL;
            answer = NULL;

            rc = omnictl_request(ctx, "GET", &path, &query, NULL, &answer);
            if (rc != OMNICTL_EXIT_OK) {
                return rc;
            }

            next = NULL;
            rc = omnictl_revocations_page(answer, omnictl_kinds[k], &next);

            if (rc == OMNICTL_EXIT_OK && next != NULL) {
                after = strdup(json_string_value(next));
                if (after == NULL) {
                    fprintf(stderr, "omnictl: out of memory\n");
                    rc = OMNICTL_EXIT_FAIL;
                }
            }

            json_decref(answer);

            if (rc != OMNICTL_EXIT_OK) {
                return rc;
            }

            if (after == NULL) {
                break;
            }
        }
    }

    return OMNICTL_EXIT_OK;
}


/*
 * Prints the revocations of one page; *next is where the following page
 * starts, NULL after the last.  The answer's times are RFC 3339 (null: a
 * jti kept until removed); the lines have epoch seconds (0: none).
 */

static int
omnictl_revocations_page(json_t *answer, const char *kind, json_t **next)
{
    size_t   i;
    int64_t  secs;
    json_t  *items, *item, *value, *t;

    items = json_object_get(answer, "revocations");
    *next = json_object_get(answer, "next");

    if (!json_is_array(items) || !(json_is_string(*next)
                                   || json_is_null(*next)))
    {
        fprintf(stderr, "omnictl: the answer has no \"revocations\" or "
                "\"next\"\n");
        return OMNICTL_EXIT_FAIL;
    }

    if (json_is_null(*next)) {
        *next = NULL;
    }

    json_array_foreach(items, i, item) {
        value = json_object_get(item, "value");
        t = json_object_get(item, "time");
        secs = 0;

        if (!json_is_string(value)
            || !(json_is_null(t)
                 || (json_is_string(t)
                     && omnictl_rfc3339(json_string_value(t), &secs) == 0)))
        {
            fprintf(stderr, "omnictl: revocation %zu of the answer has no "
                    "\"value\" or no \"time\"\n", i);
            return OMNICTL_EXIT_FAIL;
        }

        if (printf("%s %s %lld\n", kind, json_string_value(value),
                   (long long) secs) < 0)
        {
            fprintf(stderr, "omnictl: writing the output: %s\n",
                    strerror(errno));
            return OMNICTL_EXIT_FAIL;
        }
    }

    return OMNICTL_EXIT_OK;
}


/* "YYYY-MM-DDTHH:MM:SSZ" as the admin API writes it, in epoch seconds */

static int
omnictl_rfc3339(const char *s, int64_t *t)
{
    int        n;
    time_t     secs;
    struct tm  tm;

    memset(&tm, 0, sizeof(tm));
    n = 0;

    if (strlen(s) != sizeof("1970-01-01T00:00:00Z") - 1
        || sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2dZ%n", &tm.tm_year, &tm.tm_mon,
                  &tm.tm_mday, &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &n) != 6
        || n != (int) strlen(s))
    {
        return -1;
    }

    tm.tm_year -= 1900;
    tm.tm_mon -= 1;

    secs = timegm(&tm);
    if (secs == (time_t) -1) {
        return -1;
    }

    *t = (int64_t) secs;

    return 0;
}
