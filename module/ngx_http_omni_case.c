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

#include <jansson.h>

#include "ngx_http_omni_module.h"
#include "omni_case_header.h"
#include "omni_case_view.h"


static ngx_int_t ngx_http_omni_case_apply(ngx_http_request_t *r,
    ngx_http_omni_ctx_t *ctx, const omni_case_header_t *h, char *opened,
    char *err);


static ngx_int_t ngx_http_omni_cases_content(ngx_http_request_t *r);
static void ngx_http_omni_cases_param(ngx_http_omni_ctx_t *ctx, char *id,
    char *type);


static ngx_str_t  ngx_http_omni_case_header = ngx_string("X-Omni-Case");


/*
 * omni_cases on: the customer's own case.list and case.get, once the
 * policy allowed them, are answered here from the store (a unified reply
 * the plugin renders as it renders a service's), instead of by the
 * location's service.  A case.get also touches the case: the customer
 * came back to it from this channel.
 */
ngx_int_t
ngx_http_omni_cases_step(ngx_http_request_t *r, ngx_http_omni_ctx_t *ctx,
    ngx_http_omni_loc_conf_t *olcf)
{
    int                         rc;
    char                        err[OMNI_ERRLEN];
    ngx_int_t                   step;
    char                        id[OMNI_STORE_CASE_ID_LEN + 2];
    char                        type[OMNI_STORE_TYPE_MAX + 1];
    char                        action[sizeof("case.list")];
    u_char                      channel[OMNI_STORE_CHANNEL_MAX + 1];
    omni_case_view_t            view;
    omni_store_case_by_t        by;
    ngx_http_omni_main_conf_t  *omcf;

    if (!olcf->cases || !ctx->render
        || !omni_case_view_action((const char *) ctx->action.data,
                                  ctx->action.len)
        || (ctx->policy_decided && !ctx->policy_allowed))
    {
        return NGX_OK;
    }

    omcf = ngx_http_get_module_main_conf(r, ngx_http_omni_module);

    if (omcf->store == NULL) {
        return NGX_OK;
    }

    ngx_memcpy(action, ctx->action.data, ctx->action.len);
    action[ctx->action.len] = '\0';

    /* answered here, not dispatched: the contract is written now */
    step = ngx_http_omni_contract_step(r, ctx, olcf);
    if (step != NGX_OK) {
        return step;
    }

    ngx_http_omni_cases_param(ctx, id, type);

    rc = omni_case_view(omcf->store, action,
                        ctx->customer.len ? (const char *) ctx->customer.data
                                          : NULL,
                        id[0] ? id : NULL, &view, err);
    if (rc != 0) {
        return NGX_ERROR;
    }

    if (err[0] != '\0') {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "omni: %s answered %ui: %s", action, view.status, err);
    }

    ctx->case_reply.data = ngx_pnalloc(r->pool, view.len);
    if (ctx->case_reply.data == NULL) {
        free(view.body);
        return NGX_ERROR;
    }

    ngx_memcpy(ctx->case_reply.data, view.body, view.len);
    ctx->case_reply.len = view.len;
    ctx->case_status = view.status;
    free(view.body);

    if (view.status == NGX_HTTP_OK && id[0] != '\0'
        && olcf->channel.len <= OMNI_STORE_CHANNEL_MAX)
    {
        ngx_memcpy(channel, olcf->channel.data, olcf->channel.len);
        channel[olcf->channel.len] = '\0';

        ngx_memzero(&by, sizeof(by));
        by.author = "customer";
        by.channel = (const char *) channel;
        by.identity_type = type;
        by.session = (const char *) ctx->session.data;
        by.now = (int64_t) ngx_time();

        /* a closed case takes no touch: that is no failure of the answer */
        (void) omni_store_case_touch(omcf->store, id, &by, err);
    }

    r->content_handler = ngx_http_omni_cases_content;

    return NGX_OK;
}


/*
 * From the contract: params.case_id ("" when absent; one byte past an id
 * at most, so a longer one is refused as such) and the type of the first
 * identity the caller showed ("" when none), for the touch.
 */
static void
ngx_http_omni_cases_param(ngx_http_omni_ctx_t *ctx, char *id, char *type)
{
    size_t        len;
    json_t       *contract, *v;
    const char   *s;

    id[0] = '\0';
    type[0] = '\0';

    contract = json_loadb((const char *) ctx->contract.data,
                          ctx->contract.len, 0, NULL);
    v = json_object_get(json_object_get(contract, "params"), "case_id");

    if (json_is_string(v)) {
        s = json_string_value(v);
        len = json_string_length(v);

        if (len > OMNI_STORE_CASE_ID_LEN + 1) {
            len = OMNI_STORE_CASE_ID_LEN + 1;
        }

        if (memchr(s, '\0', len) == NULL) {
            ngx_memcpy(id, s, len);
            id[len] = '\0';
        }
    }

    v = json_object_get(json_array_get(json_object_get(
            json_object_get(contract, "customer"), "identities"), 0), "type");

    if (json_is_string(v) && json_string_length(v) <= OMNI_STORE_TYPE_MAX
        && omni_store_id_valid(json_string_value(v), json_string_length(v),
                               OMNI_STORE_TYPE_MAX))
    {
        ngx_memcpy(type, json_string_value(v), json_string_length(v) + 1);
    }

    json_decref(contract);
}


static ngx_int_t
ngx_http_omni_cases_content(ngx_http_request_t *r)
{
    ngx_int_t             rc;
    ngx_buf_t            *b;
    ngx_chain_t           out;
    ngx_http_omni_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_omni_module);

    if (ctx == NULL || ctx->case_reply.len == 0) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    r->headers_out.status = ctx->case_status;
    r->headers_out.content_length_n = ctx->case_reply.len;
    ngx_str_set(&r->headers_out.content_type, "application/json");
    r->headers_out.content_type_len = r->headers_out.content_type.len;

    rc = ngx_http_send_header(r);
    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    b = ngx_calloc_buf(r->pool);
    if (b == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    b->pos = ctx->case_reply.data;
    b->last = b->pos + ctx->case_reply.len;
    b->memory = 1;
    b->last_buf = (r == r->main) ? 1 : 0;
    b->last_in_chain = 1;

    out.buf = b;
    out.next = NULL;

    return ngx_http_output_filter(r, &out);
}


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
    ctx->open_cases = n;
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
