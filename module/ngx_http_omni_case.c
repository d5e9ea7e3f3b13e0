/*
 * Copyright (C) The omni gateway authors
 *
 * A service's X-Omni-Case header (docs/cases.md, "Services"): open a case
 * for the request's customer, or change one of theirs, in the header
 * filter beside the context patch.  The header never reaches the client.
 * What is not applied is logged at warn with the request id and why,
 * never the header's content (a subject or a note is the customer's).
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_omni_module.h"
#include "omni_case_header.h"


static ngx_int_t ngx_http_omni_case_apply(ngx_http_request_t *r,
    ngx_http_omni_ctx_t *ctx, const omni_case_header_t *h, char *opened,
    char *err);


static ngx_str_t  ngx_http_omni_case_header = ngx_string("X-Omni-Case");


/*
 * The customer's open cases into the contract (customer.cases, 1.2): at
 * most OMNI_CONTRACT_CASES, no subject opened.  A store that cannot be
 * read leaves them null (unknown) and says so at error: the cases are
 * what a service may tell the customer, never what the gateway decides
 * on.
 */
void
ngx_http_omni_case_contract(ngx_http_request_t *r, ngx_http_omni_ctx_t *ctx,
    omni_contract_t *c)
{
    int                         rc;
    char                        err[OMNI_ERRLEN];
    size_t                      i, n;
    const char                 *status;
    omni_contract_case_t       *out;
    omni_store_case_brief_t    *brief;
    ngx_http_omni_main_conf_t  *omcf;

    omcf = ngx_http_get_module_main_conf(r, ngx_http_omni_module);

    brief = ngx_palloc(r->pool, OMNI_CONTRACT_CASES
                                * sizeof(omni_store_case_brief_t));
    out = ngx_pcalloc(r->pool, OMNI_CONTRACT_CASES
                               * sizeof(omni_contract_case_t));
    if (brief == NULL || out == NULL) {
        return;
    }

    rc = omni_store_cases_open_brief(omcf->store,
                                     (const char *) ctx->customer.data,
                                     brief, OMNI_CONTRACT_CASES, &n, err);

    if (rc != OMNI_STORE_OK) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "omni: the open cases of customer %V are not in the "
                      "contract: %s", &ctx->customer, err);
        return;
    }

    for (i = 0; i < n; i++) {
        out[i].id.data = brief[i].id;
        out[i].id.len = ngx_strlen(brief[i].id);
        out[i].category.data = brief[i].category;
        out[i].category.len = ngx_strlen(brief[i].category);
        status = omni_store_case_status_name(brief[i].status);
        out[i].status.data = status;
        out[i].status.len = ngx_strlen(status);
        out[i].due = brief[i].due * 1000;
    }

    c->cases = out;
    c->ncases = n;
}


void
ngx_http_omni_case_patch(ngx_http_request_t *r, ngx_http_omni_ctx_t *ctx)
{
    char                 err[OMNI_ERRLEN];
    char                 opened[OMNI_STORE_CASE_ID_LEN + 1];
    ngx_str_t           *value;
    omni_str_t          *id;
    ngx_uint_t           n;
    omni_case_header_t  *ch;

    n = ngx_http_omni_take_header(r, &ngx_http_omni_case_header, &value);

    if (n == 0 || r != r->main) {
        return;
    }

    id = ngx_http_omni_request_id(r, ctx);

    if (n > 1) {
        ngx_snprintf((u_char *) err, OMNI_ERRLEN, "the reply has %ui of "
                     "them, none is applied%Z", n);
        goto failed;
    }

    if (ctx->customer.len == 0) {
        ngx_snprintf((u_char *) err, OMNI_ERRLEN, "the request has no "
                     "customer%Z");
        goto failed;
    }

    ch = ngx_palloc(r->pool, sizeof(omni_case_header_t));
    if (ch == NULL) {
        ngx_snprintf((u_char *) err, OMNI_ERRLEN, "out of memory%Z");
        goto failed;
    }

    if (omni_case_header_parse((const char *) value->data, value->len, ch,
                               err)
        != 0
        || ngx_http_omni_case_apply(r, ctx, ch, opened, err) != NGX_OK)
    {
        goto failed;
    }

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "omni: X-Omni-Case %s case %s (request %*s)",
                  ch->open ? "opened" : "changed",
                  ch->open ? opened : ch->id, id->len, id->data);

    return;

failed:

    ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                  "omni: X-Omni-Case not applied (request %*s): %s",
                  id->len, id->data, err);
}


static ngx_int_t
ngx_http_omni_case_apply(ngx_http_request_t *r, ngx_http_omni_ctx_t *ctx,
    const omni_case_header_t *h, char *opened, char *err)
{
    int                          rc;
    u_char                       channel[OMNI_STORE_CHANNEL_MAX + 1];
    omni_store_case_t           *c;
    omni_store_case_by_t         by;
    ngx_http_omni_loc_conf_t    *olcf;
    ngx_http_omni_main_conf_t   *omcf;

    omcf = ngx_http_get_module_main_conf(r, ngx_http_omni_module);
    olcf = ngx_http_get_module_loc_conf(r, ngx_http_omni_module);

    if (olcf->channel.len == 0 || olcf->channel.len > OMNI_STORE_CHANNEL_MAX
        || omcf->store == NULL)
    {
        ngx_snprintf((u_char *) err, OMNI_ERRLEN, "not a channel location "
                     "with a store%Z");
        return NGX_ERROR;
    }

    ngx_memcpy(channel, olcf->channel.data, olcf->channel.len);
    channel[olcf->channel.len] = '\0';

    ngx_memzero(&by, sizeof(by));
    by.author = "service";
    by.channel = (const char *) channel;
    by.session = (const char *) ctx->session.data;
    by.now = (int64_t) ngx_time();

    c = ngx_pcalloc(r->pool, sizeof(omni_store_case_t));
    if (c == NULL) {
        ngx_snprintf((u_char *) err, OMNI_ERRLEN, "out of memory%Z");
        return NGX_ERROR;
    }

    if (h->open) {
        ngx_memcpy(c->customer, ctx->customer.data, ctx->customer.len + 1);
        ngx_memcpy(c->category, h->category, sizeof(h->category));
        ngx_memcpy(c->subject, h->subject, sizeof(h->subject));
        c->priority = h->priority;

        omni_case_sla_due(omcf->case_sla, c->category, c->priority, by.now,
                          &c->first_response_due, &c->resolution_due);

        rc = omni_store_case_create(omcf->store, c, &by, err);

        if (rc == OMNI_STORE_OK) {
            ngx_memcpy(opened, c->id, sizeof(c->id));
        }

        return (rc == OMNI_STORE_OK) ? NGX_OK : NGX_ERROR;
    }

    /* a case of another customer is as good as none */
    rc = omni_store_case_get(omcf->store, h->id, c, err);

    if (rc == OMNI_STORE_OK
        && ngx_strcmp(c->customer, ctx->customer.data) != 0)
    {
        rc = OMNI_STORE_NOT_FOUND;
    }

    if (rc == OMNI_STORE_NOT_FOUND) {
        ngx_snprintf((u_char *) err, OMNI_ERRLEN, "the customer has no case "
                     "%s%Z", h->id);
        return NGX_ERROR;
    }

    if (rc == OMNI_STORE_OK && h->status >= 0) {
        rc = omni_store_case_set_status(omcf->store, h->id, h->status, &by,
                                        NULL, err);
    }

    if (rc == OMNI_STORE_OK && h->note_kind >= 0) {
        rc = omni_store_case_note(omcf->store, h->id, h->note_kind, h->note,
                                  h->note_len, &by, NULL, NULL, err);
    }

    return (rc == OMNI_STORE_OK) ? NGX_OK : NGX_ERROR;
}
