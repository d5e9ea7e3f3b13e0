/*
 * Copyright (C) The omni gateway authors
 *
 * Customers and sessions in the request path: the customer behind a
 * request's identities, the customer's cross-channel session, and the
 * context patch a service sends back (X-Omni-Context); the
 * omni_session_timeout directive.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_omni_module.h"
#include "omni_json_patch.h"


#define NGX_HTTP_OMNI_IDENTITIES      17      /* the plugin's 16 + jwt_sub */


static ngx_int_t ngx_http_omni_store_failed(ngx_http_request_t *r,
    ngx_http_omni_ctx_t *ctx, const char *what, int rc, const char *err);
static ngx_int_t ngx_http_omni_session_out(ngx_http_request_t *r,
    ngx_http_omni_ctx_t *ctx, omni_store_session_t *s, omni_contract_t *c,
    omni_contract_session_t *cs);
static int ngx_http_omni_patch(void *data, const char *context, size_t len,
    char *out, size_t *out_len, char *err);


ngx_http_omni_counters_t  ngx_http_omni_counters;

static ngx_str_t  ngx_http_omni_context_header = ngx_string("X-Omni-Context");


/*
 * After normalize: the identities name a customer (created when the
 * location says so), and the customer's live session is resumed or a
 * new one begins.  Reads only, unless something is new.
 */

ngx_int_t
ngx_http_omni_customer_step(ngx_http_request_t *r, ngx_http_omni_ctx_t *ctx,
    ngx_http_omni_loc_conf_t *olcf, omni_contract_t *c,
    omni_contract_session_t *cs)
{
    int                         rc, created;
    char                        err[OMNI_ERRLEN];
    char                        customer[OMNI_STORE_ID_MAX + 1];
    char                        new_id[NGX_HTTP_OMNI_ID_LEN + 1];
    size_t                      i, n, len;
    omni_store_session_t        s;
    omni_pair_t                *id;
    omni_store_identity_t       ids[NGX_HTTP_OMNI_IDENTITIES];
    ngx_http_omni_main_conf_t  *omcf;

    omcf = ngx_http_get_module_main_conf(r, ngx_http_omni_module);
    n = 0;

    /* the verified subject first: on a conflict it decides */
    if (ctx->authenticated && ctx->token.sub) {
        len = ngx_strlen(ctx->token.sub);

        if (len <= OMNI_STORE_VALUE_MAX) {
            ngx_memcpy(ids[n].type, "jwt_sub", sizeof("jwt_sub"));
            ngx_memcpy(ids[n].value, ctx->token.sub, len + 1);
            n++;
        }
    }

    for (i = 0; i < c->nidentities && n < NGX_HTTP_OMNI_IDENTITIES; i++) {
        id = &c->identities[i];

        /*
         * Values the map cannot hold are skipped; none holds a NUL, which
         * would cut it short here: the contract's checks refused it.
         */
        if (id->name.len > OMNI_STORE_TYPE_MAX
            || id->value.len > OMNI_STORE_VALUE_MAX)
        {
            continue;
        }

        ngx_memcpy(ids[n].type, id->name.data, id->name.len + 1);
        ngx_memcpy(ids[n].value, id->value.data, id->value.len + 1);
        n++;
    }

#if (NGX_DEBUG)
    for (i = 0; i < n; i++) {
        /* the type only: a value names a person */
        ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "omni: identity %uz of type \"%s\"", i, ids[i].type);
    }
#endif

    if (n == 0) {
        ngx_log_debug0(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "omni: no identity, no customer");
        return NGX_OK;
    }

    if (ngx_http_omni_new_id(new_id) != NGX_OK) {
        return NGX_ERROR;
    }

    rc = omni_store_customer_claim(omcf->store, ids, n,
                                   olcf->customers
                                   == NGX_HTTP_OMNI_CUSTOMERS_CREATE,
                                   new_id, customer, &created, err);

    if (rc == OMNI_STORE_NOT_FOUND) {
        ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "omni: no customer for the %uz identities", n);
        return NGX_OK;
    }

    if (rc != OMNI_STORE_OK) {
        return ngx_http_omni_store_failed(r, ctx, "customer", rc, err);
    }

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "omni: customer %s %s", customer,
                   created ? "created" : "resolved");

    if (created) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "omni: new customer %s", customer);
    }

    len = ngx_strlen(customer);

    ctx->customer.data = ngx_pnalloc(r->pool, len + 1);
    if (ctx->customer.data == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(ctx->customer.data, customer, len + 1);
    ctx->customer.len = len;

    c->customer_id.data = (const char *) ctx->customer.data;
    c->customer_id.len = len;

    ngx_http_omni_case_contract(r, ctx, c);

    if (!olcf->session) {
        return NGX_OK;
    }

    if (ngx_http_omni_new_id(new_id) != NGX_OK) {
        return NGX_ERROR;
    }

    rc = omni_store_session_resume(omcf->store, customer,
                                   (const char *) olcf->channel.data,
                                   ngx_time(), omcf->session_idle,
                                   omcf->session_absolute,
                                   omcf->session_touch, new_id, &s,
                                   &created, err);

    if (rc != OMNI_STORE_OK) {
        return ngx_http_omni_store_failed(r, ctx, "session", rc, err);
    }

    ctx->session_new = created ? 1 : 0;
    ctx->session_created = (time_t) s.created;

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "omni: session %s %s", s.id,
                   created ? "created" : "resumed");

    return ngx_http_omni_session_out(r, ctx, &s, c, cs);
}


/* copies the session out of the stack into the request and the contract */
static ngx_int_t
ngx_http_omni_session_out(ngx_http_request_t *r, ngx_http_omni_ctx_t *ctx,
    omni_store_session_t *s, omni_contract_t *c, omni_contract_session_t *cs)
{
    u_char      *p;
    size_t       len;
    ngx_uint_t   i;
    omni_str_t  *channels;

    len = ngx_strlen(s->id);

    p = ngx_pnalloc(r->pool, len + 1 + s->context_len);
    if (p == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(p, s->id, len + 1);
    ctx->session.data = p;
    ctx->session.len = len;

    ngx_memzero(cs, sizeof(omni_contract_session_t));

    cs->id.data = (const char *) p;
    cs->id.len = len;
    cs->new = ctx->session_new;
    cs->created_at = (int64_t) s->created * 1000;
    cs->last_seen_at = (int64_t) s->last_seen * 1000;

    p += len + 1;
    ngx_memcpy(p, s->context, s->context_len);
    cs->context.data = (const char *) p;
    cs->context.len = s->context_len;

    channels = ngx_palloc(r->pool, s->nchannels * sizeof(omni_str_t));
    if (channels == NULL) {
        return NGX_ERROR;
    }

    for (i = 0; i < s->nchannels; i++) {
        len = ngx_strlen(s->channels[i]);

        p = ngx_pnalloc(r->pool, len);
        if (p == NULL) {
            return NGX_ERROR;
        }

        ngx_memcpy(p, s->channels[i], len);
        channels[i].data = (const char *) p;
        channels[i].len = len;
    }

    cs->channels = channels;
    cs->nchannels = s->nchannels;
    c->session = cs;

    return NGX_OK;
}


/*
 * A full store refuses what needs a write and keeps answering reads;
 * anything else is the store failing.
 */
static ngx_int_t
ngx_http_omni_store_failed(ngx_http_request_t *r, ngx_http_omni_ctx_t *ctx,
    const char *what, int rc, const char *err)
{
    if (rc == OMNI_STORE_FULL) {
        ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                      "omni: %s not stored: %s", what, err);

        ctx->error.status = NGX_HTTP_SERVICE_UNAVAILABLE;
        ctx->error.code = "store_full";
        ctx->error.message = "the gateway's store is full";

        return NGX_HTTP_SERVICE_UNAVAILABLE;
    }

    ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                  "omni: %s lookup failed: %s", what, err);

    ctx->error.status = NGX_HTTP_INTERNAL_SERVER_ERROR;
    ctx->error.code = "store_error";
    ctx->error.message = "the gateway's store failed";

    return NGX_HTTP_INTERNAL_SERVER_ERROR;
}


/*
 * Header filter: a service's X-Omni-Context header is a JSON merge patch
 * of the session's context.  It is applied once and never reaches the
 * client, session or not.  Two or more are refused, all of them: which
 * one the service meant cannot be told, and applying one would keep a
 * state the service did not ask for.  What is not applied is logged with
 * the request id, never the header's content (a context holds what
 * services keep of a customer), and counted.
 */

void
ngx_http_omni_context_patch(ngx_http_request_t *r, ngx_http_omni_ctx_t *ctx)
{
    int                         rc;
    char                        err[OMNI_ERRLEN];
    ngx_str_t                  *patch;
    omni_str_t                 *id;
    ngx_uint_t                  n, level, *count;
    ngx_http_omni_main_conf_t  *omcf;

    n = ngx_http_omni_take_header(r, &ngx_http_omni_context_header, &patch);

    if (n == 0 || r != r->main) {
        return;
    }

    id = ngx_http_omni_request_id(r, ctx);

    if (n > 1) {
        ngx_http_omni_counters.context_repeated++;

        ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                      "omni: X-Omni-Context not applied (request %*s): the "
                      "reply has %ui of them, none is applied (%ui such "
                      "replies in this worker)", id->len, id->data, n,
                      ngx_http_omni_counters.context_repeated);
        return;
    }

    if (ctx->session.len == 0) {
        ngx_http_omni_counters.context_no_session++;

        ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                      "omni: X-Omni-Context not applied (request %*s): the "
                      "request has no session (%ui such replies in this "
                      "worker)", id->len, id->data,
                      ngx_http_omni_counters.context_no_session);
        return;
    }

    omcf = ngx_http_get_module_main_conf(r, ngx_http_omni_module);

    rc = omni_store_session_update(omcf->store, (const char *)
                                   ctx->session.data, ngx_http_omni_patch,
                                   patch, NULL, err);

    if (rc == OMNI_STORE_OK) {
        ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "omni: context patch applied to session %V",
                       &ctx->session);
        return;
    }

    if (rc == OMNI_STORE_INVALID) {
        level = NGX_LOG_WARN;
        count = &ngx_http_omni_counters.context_invalid;

    } else {
        level = NGX_LOG_ERR;
        count = &ngx_http_omni_counters.context_failed;
    }

    (*count)++;

    ngx_log_error(level, r->connection->log, 0,
                  "omni: X-Omni-Context not applied (request %*s, session "
                  "%V): %s (%ui such replies in this worker)", id->len,
                  id->data, &ctx->session, err, *count);
}


static int
ngx_http_omni_patch(void *data, const char *context, size_t len, char *out,
    size_t *out_len, char *err)
{
    ngx_str_t  *patch = data;

    size_t  i, grown;

    if (omni_json_merge_patch(context, len, (const char *) patch->data,
                              patch->len, out, OMNI_STORE_CONTEXT_MAX,
                              out_len, err)
        != 0)
    {
        return OMNI_STORE_INVALID;
    }

    /* the contract's encoder writes DEL as \u007f: count it so */
    grown = *out_len;

    for (i = 0; i < *out_len; i++) {
        if (out[i] == 0x7f) {
            grown += 5;
        }
    }

    if (grown > OMNI_STORE_CONTEXT_MAX) {
        ngx_snprintf((u_char *) err, OMNI_ERRLEN,
                     "the context would be %uz bytes in the contract, more "
                     "than %d%Z", grown, OMNI_STORE_CONTEXT_MAX);
        return OMNI_STORE_INVALID;
    }

    return OMNI_STORE_OK;
}


/* omni_session_timeout idle=30m [absolute=24h|off] [touch=60s] [purge=60s] */
char *
ngx_http_omni_session_timeout(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_omni_main_conf_t *omcf = conf;

    time_t      t, *field;
    ngx_str_t  *value, s;
    ngx_uint_t  i;

    if (omcf->session_idle != NGX_CONF_UNSET) {
        return "is duplicate";
    }

    value = cf->args->elts;

    for (i = 1; i < cf->args->nelts; i++) {

        if (ngx_strncmp(value[i].data, "idle=", 5) == 0) {
            field = &omcf->session_idle;
            s.data = value[i].data + 5;
            s.len = value[i].len - 5;

        } else if (ngx_strncmp(value[i].data, "absolute=", 9) == 0) {
            field = &omcf->session_absolute;
            s.data = value[i].data + 9;
            s.len = value[i].len - 9;

        } else if (ngx_strncmp(value[i].data, "touch=", 6) == 0) {
            field = &omcf->session_touch;
            s.data = value[i].data + 6;
            s.len = value[i].len - 6;

        } else if (ngx_strncmp(value[i].data, "purge=", 6) == 0) {
            field = &omcf->session_purge;
            s.data = value[i].data + 6;
            s.len = value[i].len - 6;

        } else {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid parameter \"%V\", expected "
                               "\"idle=\", \"absolute=\", \"touch=\" or "
                               "\"purge=\"", &value[i]);
            return NGX_CONF_ERROR;
        }

        /* only absolute= and purge= may be off */
        if (s.len == 3 && ngx_strncmp(s.data, "off", 3) == 0
            && (field == &omcf->session_absolute
                || field == &omcf->session_purge))
        {
            *field = 0;
            continue;
        }

        t = ngx_parse_time(&s, 1);
        if (t == (time_t) NGX_ERROR || t == 0) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid time in \"%V\"", &value[i]);
            return NGX_CONF_ERROR;
        }

        *field = t;
    }

    if (omcf->session_idle == NGX_CONF_UNSET) {
        return "needs idle=time";
    }

    if (omcf->session_touch != NGX_CONF_UNSET
        && omcf->session_touch >= omcf->session_idle)
    {
        return "needs touch= shorter than idle=";
    }

    return NGX_CONF_OK;
}
