/*
 * Copyright (C) The omni gateway authors
 *
 * omnictl cases: the admin API's cases (docs/cases.md) from the command
 * line, through omni_admin_handle() as every other command.  The SLA
 * table, for the due times of a case opened here (or of a follow-up), is
 * --sla FILE or $OMNI_CASE_SLA: the file of nginx's omni_case_sla.
 */


#include "omnictl.h"


static int omnictl_cases_sla(omnictl_ctx_t *ctx);
static int omnictl_cases_body(json_t **body);


int
omnictl_cmd_cases_open(omnictl_ctx_t *ctx)
{
    int             rc;
    json_t         *body;
    omnictl_str_t   path = { NULL, 0, 0, 0 };

    rc = omnictl_cases_sla(ctx);
    if (rc != OMNICTL_EXIT_OK || (rc = omnictl_cases_body(&body)) != 0) {
        return rc;
    }

    if (omnictl_set(body, "customer", ctx->argv[0]) != OMNICTL_EXIT_OK
        || omnictl_set(body, "category", ctx->argv[1]) != OMNICTL_EXIT_OK
        || omnictl_set(body, "subject", ctx->argv[2]) != OMNICTL_EXIT_OK
        || (ctx->priority != NULL
            && omnictl_set(body, "priority", ctx->priority)
               != OMNICTL_EXIT_OK)
        || (ctx->channel != NULL
            && omnictl_set(body, "channel", ctx->channel)
               != OMNICTL_EXIT_OK))
    {
        json_decref(body);
        return OMNICTL_EXIT_FAIL;
    }

    omnictl_path(&path, "cases", NULL);

    return omnictl_call(ctx, "POST", &path, NULL, body);
}


int
omnictl_cmd_cases_show(omnictl_ctx_t *ctx)
{
    omnictl_str_t  path = { NULL, 0, 0, 0 };

    omnictl_path(&path, "cases", ctx->argv[0], NULL);

    return omnictl_call(ctx, "GET", &path, NULL, NULL);
}


int
omnictl_cmd_cases_list(omnictl_ctx_t *ctx)
{
    omnictl_str_t  path = { NULL, 0, 0, 0 };
    omnictl_str_t  query = { NULL, 0, 0, 0 };

    omnictl_path(&path, "customers", ctx->argv[0], "cases", NULL);
    omnictl_param(&query, "status", ctx->status);
    omnictl_param(&query, "after", ctx->after);
    omnictl_param(&query, "limit", ctx->limit);

    return omnictl_call(ctx, "GET", &path, &query, NULL);
}


int
omnictl_cmd_cases_by_status(omnictl_ctx_t *ctx)
{
    omnictl_str_t  path = { NULL, 0, 0, 0 };
    omnictl_str_t  query = { NULL, 0, 0, 0 };

    omnictl_path(&path, "cases", NULL);
    omnictl_param(&query, "status", ctx->argv[0]);
    omnictl_param(&query, "after", ctx->after);
    omnictl_param(&query, "limit", ctx->limit);

    return omnictl_call(ctx, "GET", &path, &query, NULL);
}


int
omnictl_cmd_cases_status(omnictl_ctx_t *ctx)
{
    int             rc;
    json_t         *body;
    omnictl_str_t   path = { NULL, 0, 0, 0 };

    rc = omnictl_cases_body(&body);
    if (rc != OMNICTL_EXIT_OK) {
        return rc;
    }

    if (omnictl_set(body, "status", ctx->argv[1]) != OMNICTL_EXIT_OK) {
        json_decref(body);
        return OMNICTL_EXIT_FAIL;
    }

    omnictl_path(&path, "cases", ctx->argv[0], "status", NULL);

    return omnictl_call(ctx, "POST", &path, NULL, body);
}


int
omnictl_cmd_cases_note(omnictl_ctx_t *ctx)
{
    int             rc;
    json_t         *body;
    omnictl_str_t   path = { NULL, 0, 0, 0 };

    rc = omnictl_cases_sla(ctx);
    if (rc != OMNICTL_EXIT_OK || (rc = omnictl_cases_body(&body)) != 0) {
        return rc;
    }

    if (omnictl_set(body, "text", ctx->argv[1]) != OMNICTL_EXIT_OK
        || (ctx->kind != NULL
            && omnictl_set(body, "kind", ctx->kind) != OMNICTL_EXIT_OK))
    {
        json_decref(body);
        return OMNICTL_EXIT_FAIL;
    }

    omnictl_path(&path, "cases", ctx->argv[0], "notes", NULL);

    return omnictl_call(ctx, "POST", &path, NULL, body);
}


int
omnictl_cmd_cases_assign(omnictl_ctx_t *ctx)
{
    int             rc;
    json_t         *body;
    omnictl_str_t   path = { NULL, 0, 0, 0 };

    rc = omnictl_cases_body(&body);
    if (rc != OMNICTL_EXIT_OK) {
        return rc;
    }

    if ((ctx->argc == 2
         && omnictl_set(body, "assignee", ctx->argv[1]) != OMNICTL_EXIT_OK)
        || (ctx->pool != NULL
            && omnictl_set(body, "pool", ctx->pool) != OMNICTL_EXIT_OK))
    {
        json_decref(body);
        return OMNICTL_EXIT_FAIL;
    }

    omnictl_path(&path, "cases", ctx->argv[0], "assign", NULL);

    return omnictl_call(ctx, "POST", &path, NULL, body);
}


/* the SLA table of --sla or $OMNI_CASE_SLA, when one is named */
static int
omnictl_cases_sla(omnictl_ctx_t *ctx)
{
    char         err[OMNI_ERRLEN];
    const char  *file;

    file = (ctx->sla_file != NULL) ? ctx->sla_file : getenv("OMNI_CASE_SLA");

    if (file == NULL || file[0] == '\0') {
        return OMNICTL_EXIT_OK;
    }

    ctx->sla = omni_case_sla_load(file, err);

    if (ctx->sla == NULL) {
        fprintf(stderr, "omnictl: the SLA table \"%s\": %s\n", file, err);
        return OMNICTL_EXIT_FAIL;
    }

    return OMNICTL_EXIT_OK;
}


static int
omnictl_cases_body(json_t **body)
{
    *body = json_object();

    if (*body == NULL) {
        fprintf(stderr, "omnictl: out of memory\n");
        return OMNICTL_EXIT_FAIL;
    }

    return OMNICTL_EXIT_OK;
}
