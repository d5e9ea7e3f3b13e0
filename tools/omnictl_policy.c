/*
 * Copyright (C) The omni gateway authors
 *
 * Policy revisions on the command line: validate, load, show, revisions,
 * rollback, diff and check.  load, show, revisions, rollback and diff are
 * one implementation over the admin API's revisioned documents, which
 * dispatch load|show|revisions|rollback|diff use for the workflow
 * (omnictl_dispatch.c).
 */


#include "omnictl.h"


static omni_policy_t *omnictl_policy_compile(const char *name,
    const char *json, size_t len);
static void omnictl_errors(const char *errors);


int
omnictl_cmd_policy_validate(omnictl_ctx_t *ctx)
{
    int             rc;
    char           *json;
    size_t          len;
    const char     *name;
    omni_policy_t  *p;

    name = ctx->argv[0];

    rc = omnictl_policy_read(name, &json, &len);
    if (rc != OMNICTL_EXIT_OK) {
        return rc;
    }

    p = omnictl_policy_compile(name, json, len);
    free(json);

    if (p == NULL) {
        return OMNICTL_EXIT_FAIL;
    }

    rc = OMNICTL_EXIT_OK;

    if (printf("%s: ok (%zu roles, %zu rules)\n", name, omni_policy_roles(p),
               omni_policy_rules(p))
        < 0)
    {
        fprintf(stderr, "omnictl: writing the output: %s\n",
                strerror(errno));
        rc = OMNICTL_EXIT_FAIL;
    }

    omni_policy_free(p);

    return rc;
}


int
omnictl_cmd_policy_load(omnictl_ctx_t *ctx)
{
    return omnictl_revisions_load(ctx, "policy");
}


int
omnictl_cmd_policy_show(omnictl_ctx_t *ctx)
{
    return omnictl_revisions_show(ctx, "policy");
}


int
omnictl_cmd_policy_revisions(omnictl_ctx_t *ctx)
{
    return omnictl_revisions_list(ctx, "policy");
}


int
omnictl_cmd_policy_rollback(omnictl_ctx_t *ctx)
{
    return omnictl_revisions_rollback(ctx, "policy");
}


/*
 * A document's revisions through the admin API's routes named by what
 * ("policy", "workflow").  The file is put as it is, so that the store
 * keeps the author's text.
 */

int
omnictl_revisions_load(omnictl_ctx_t *ctx, const char *what)
{
    int             rc;
    char           *json;
    size_t          len;
    json_t         *answer;
    omnictl_str_t   path = { NULL, 0, 0, 0 };
    omnictl_str_t   query = { NULL, 0, 0, 0 };

    rc = omnictl_policy_read(ctx->argv[0], &json, &len);
    if (rc != OMNICTL_EXIT_OK) {
        return rc;
    }

    omnictl_path(&path, what, NULL);
    omnictl_param(&query, "note", ctx->note);

    answer = NULL;

    rc = omnictl_request_raw(ctx, "PUT", &path, &query, json, len, &answer);
    free(json);

    if (rc == OMNICTL_EXIT_OK) {
        rc = omnictl_print(answer);
    }

    json_decref(answer);

    return rc;
}


int
omnictl_revisions_show(omnictl_ctx_t *ctx, const char *what)
{
    omnictl_str_t  path = { NULL, 0, 0, 0 };

    if (ctx->argc == 0) {
        omnictl_path(&path, what, NULL);

    } else if (omnictl_number("revision", ctx->argv[0]) != 0) {
        return OMNICTL_EXIT_USAGE;

    } else {
        omnictl_path(&path, what, "revisions", ctx->argv[0], NULL);
    }

    return omnictl_call(ctx, "GET", &path, NULL, NULL);
}


int
omnictl_revisions_list(omnictl_ctx_t *ctx, const char *what)
{
    omnictl_str_t  path = { NULL, 0, 0, 0 };
    omnictl_str_t  query = { NULL, 0, 0, 0 };

    if (ctx->before != NULL && omnictl_number("--before", ctx->before) != 0)
    {
        return OMNICTL_EXIT_USAGE;
    }

    omnictl_path(&path, what, "revisions", NULL);
    omnictl_param(&query, "before", ctx->before);
    omnictl_param(&query, "limit", ctx->limit);

    return omnictl_call(ctx, "GET", &path, &query, NULL);
}


int
omnictl_revisions_rollback(omnictl_ctx_t *ctx, const char *what)
{
    json_t         *body;
    omnictl_str_t   path = { NULL, 0, 0, 0 };

    if (omnictl_number("revision", ctx->argv[0]) != 0) {
        return OMNICTL_EXIT_USAGE;
    }

    body = json_pack("{s:I}", "revision",
                     (json_int_t) strtoll(ctx->argv[0], NULL, 10));
    if (body == NULL) {
        fprintf(stderr, "omnictl: out of memory\n");
        return OMNICTL_EXIT_FAIL;
    }

    omnictl_path(&path, what, "rollback", NULL);

    return omnictl_call(ctx, "POST", &path, NULL, body);
}


int
omnictl_cmd_policy_diff(omnictl_ctx_t *ctx)
{
    return omnictl_revisions_diff(ctx, "policy");
}


int
omnictl_revisions_diff(omnictl_ctx_t *ctx, const char *what)
{
    int            i;
    omnictl_str_t  path = { NULL, 0, 0, 0 };
    omnictl_str_t  query = { NULL, 0, 0, 0 };

    for (i = 0; i < ctx->argc; i++) {
        if (omnictl_number("revision", ctx->argv[i]) != 0) {
            return OMNICTL_EXIT_USAGE;
        }
    }

    omnictl_path(&path, what, "diff", NULL);
    omnictl_param(&query, "from", ctx->argv[0]);
    omnictl_param(&query, "to", ctx->argc == 2 ? ctx->argv[1] : NULL);

    return omnictl_call(ctx, "GET", &path, &query, NULL);
}


/*
 * One decision, explained, against --file or the store's current policy:
 * "allow  rule agent-orders  via vip_desk > agent" and exit 0, or
 * "deny  rule ..." and exit 3.
 */

int
omnictl_cmd_policy_check(omnictl_ctx_t *ctx)
{
    int                     rc, n;
    char                   *json, *list, *p, err[OMNI_ERRLEN];
    char                    how[OMNI_POLICY_PATH_MAX];
    size_t                  len, nroles;
    const char             *roles[OMNICTL_ROLES_MAX], *name;
    omni_policy_t          *policy;
    omni_policy_request_t   req;
    omni_policy_decision_t  d;

    if (ctx->action == NULL || ctx->channel == NULL) {
        return omnictl_usage_error("policy check needs --action and "
                                   "--channel");
    }

    memset(&req, 0, sizeof(req));
    req.action = ctx->action;
    req.channel = ctx->channel;
    req.tier = ctx->tier;
    req.anonymous = (ctx->anonymous != NULL);

    if (ctx->session_age != NULL) {
        if (omnictl_number("--session-age", ctx->session_age) != 0) {
            return OMNICTL_EXIT_USAGE;
        }

        req.has_session = 1;
        req.session_age = (int64_t) strtoll(ctx->session_age, NULL, 10);
    }

    /* "a,b": empty names between commas are skipped */
    list = strdup(ctx->roles ? ctx->roles : "");
    if (list == NULL) {
        fprintf(stderr, "omnictl: out of memory\n");
        return OMNICTL_EXIT_FAIL;
    }

    nroles = 0;

    for (p = strtok(list, ","); p != NULL; p = strtok(NULL, ",")) {
        if (nroles == OMNICTL_ROLES_MAX) {
            free(list);
            return omnictl_usage_error("--roles names more than %d roles",
                                       OMNICTL_ROLES_MAX);
        }

        roles[nroles++] = p;
    }

    req.roles = roles;
    req.nroles = nroles;

    if (ctx->file != NULL) {
        name = ctx->file;
        rc = omnictl_policy_read(name, &json, &len);

    } else {
        name = "the store's policy";
        rc = omnictl_open(ctx);

        if (rc == OMNICTL_EXIT_OK
            && omni_store_policy_get(ctx->st, 0, &json, &len, NULL, err)
               != OMNI_STORE_OK)
        {
            fprintf(stderr, "omnictl: %s\n", err);
            rc = OMNICTL_EXIT_FAIL;
        }
    }

    if (rc != OMNICTL_EXIT_OK) {
        free(list);
        return rc;
    }

    policy = omnictl_policy_compile(name, json, len);
    free(json);

    if (policy == NULL) {
        free(list);
        return OMNICTL_EXIT_FAIL;
    }

    how[0] = '\0';
    omni_policy_explain(policy, &req, &d, how, sizeof(how));

    if (strcmp(d.rule, "default") == 0) {
        n = printf("%s  rule default (no rule matched)\n",
                   d.allow ? "allow" : "deny");

    } else if (how[0] != '\0') {
        n = printf("%s  rule %s  via %s\n", d.allow ? "allow" : "deny",
                   d.rule, how);

    } else {
        n = printf("%s  rule %s\n", d.allow ? "allow" : "deny", d.rule);
    }

    rc = d.allow ? OMNICTL_EXIT_OK : OMNICTL_EXIT_DENY;

    if (n < 0) {
        fprintf(stderr, "omnictl: writing the output: %s\n",
                strerror(errno));
        rc = OMNICTL_EXIT_FAIL;
    }

    omni_policy_free(policy);
    free(list);

    return rc;
}


/*
 * A policy file (- is stdin) of at most OMNI_POLICY_SIZE_MAX bytes; the
 * workflow file too, whose compiler refuses one past its own bound.
 */

int
omnictl_policy_read(const char *file, char **json, size_t *len)
{
    FILE    *in;
    char    *buf, *p;
    size_t   n, cap, size;

    *json = NULL;
    *len = 0;

    if (strcmp(file, "-") == 0) {
        in = stdin;

    } else {
        in = fopen(file, "r");
        if (in == NULL) {
            fprintf(stderr, "omnictl: \"%s\": %s\n", file, strerror(errno));
            return OMNICTL_EXIT_FAIL;
        }
    }

    buf = NULL;
    size = 0;
    cap = 0;

    for ( ;; ) {
        if (size == cap) {
            cap = cap ? cap * 2 : 65536;

            /* one byte past the maximum tells a file too large */
            if (cap > (size_t) OMNI_POLICY_SIZE_MAX + 1) {
                cap = (size_t) OMNI_POLICY_SIZE_MAX + 1;
            }

            p = realloc(buf, cap + 1);
            if (p == NULL) {
                fprintf(stderr, "omnictl: out of memory\n");
                goto failed;
            }

            buf = p;
        }

        n = fread(buf + size, 1, cap - size, in);
        size += n;

        if (n == 0 || size > (size_t) OMNI_POLICY_SIZE_MAX) {
            break;
        }
    }

    if (ferror(in)) {
        fprintf(stderr, "omnictl: reading \"%s\": %s\n", file,
                strerror(errno));
        goto failed;
    }

    if (size > (size_t) OMNI_POLICY_SIZE_MAX) {
        fprintf(stderr, "omnictl: \"%s\" is larger than %d bytes, the most "
                "a policy may have\n", file, OMNI_POLICY_SIZE_MAX);
        goto failed;
    }

    if (in != stdin) {
        fclose(in);
    }

    buf[size] = '\0';
    *json = buf;
    *len = size;

    return OMNICTL_EXIT_OK;

failed:

    if (in != stdin) {
        fclose(in);
    }

    free(buf);

    return OMNICTL_EXIT_FAIL;
}


/* NULL when it does not compile, its errors printed under its name */

static omni_policy_t *
omnictl_policy_compile(const char *name, const char *json, size_t len)
{
    int             end;
    char           *errors;
    size_t          n, more;
    const char     *p, *nl;
    omni_policy_t  *policy;

    errors = NULL;

    policy = omni_policy_compile(json, len, &errors);
    if (policy != NULL) {
        free(errors);
        return policy;
    }

    if (errors == NULL) {
        fprintf(stderr, "omnictl: out of memory\n");
        return NULL;
    }

    /* as the admin API counts them: see omni_admin_policy_invalid() */
    n = 0;

    for (p = errors; *p != '\0'; p = nl + 1) {
        nl = strchr(p, '\n');
        end = 0;

        if (sscanf(p, "%zu more errors not listed%n", &more, &end) == 1
            && end > 0 && (p[end] == '\n' || p[end] == '\0'))
        {
            n += more;

        } else if (*p != '\n') {
            n++;
        }

        if (nl == NULL) {
            break;
        }
    }

    fprintf(stderr, "omnictl: %s: %zu error%s\n", name, n,
            n == 1 ? "" : "s");
    omnictl_errors(errors);
    free(errors);

    return NULL;
}


/* one error a line, indented, as the admin API's "errors" are printed */

static void
omnictl_errors(const char *errors)
{
    const char  *p, *nl;

    for (p = errors; *p != '\0'; p = nl + 1) {
        nl = strchr(p, '\n');

        if (nl == NULL) {
            fprintf(stderr, "  %s\n", p);
            break;
        }

        if (nl > p) {
            fprintf(stderr, "  %.*s\n", (int) (nl - p), p);
        }
    }
}
