/*
 * Copyright (C) The omni gateway authors
 *
 * The access-phase pipeline: an ordered list of steps sharing one
 * per-request context.  A step returns NGX_OK to go on, NGX_AGAIN or
 * NGX_DONE while it waits (and is called again), NGX_ERROR on our own
 * failure, or an HTTP status after filling ctx->error to reject the
 * request.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_omni_module.h"


#define NGX_HTTP_OMNI_DESCRIPTION_MAX  128


typedef ngx_int_t (*ngx_http_omni_step_pt)(ngx_http_request_t *r,
    ngx_http_omni_ctx_t *ctx, ngx_http_omni_loc_conf_t *olcf);


static ngx_int_t ngx_http_omni_access_steps(ngx_http_request_t *r,
    ngx_http_omni_ctx_t *ctx, ngx_http_omni_loc_conf_t *olcf);
static ngx_http_omni_ctx_t *ngx_http_omni_create_ctx(ngx_http_request_t *r);
static void ngx_http_omni_cleanup_ctx(void *data);
static ngx_int_t ngx_http_omni_reject(ngx_http_request_t *r,
    ngx_http_omni_ctx_t *ctx);
static ngx_int_t ngx_http_omni_challenge(ngx_http_request_t *r,
    ngx_http_omni_ctx_t *ctx);


/*
 * A direct answer (a CORS preflight) comes before any credential check;
 * the contract is written last, with the dispatch's decision.
 */
static ngx_http_omni_step_pt  ngx_http_omni_steps[] = {
    ngx_http_omni_body_step,
    ngx_http_omni_respond_step,
    ngx_http_omni_jwt_step,
    ngx_http_omni_channel_step,
    ngx_http_omni_limit_step,
    ngx_http_omni_policy_step,
    ngx_http_omni_cases_step,
    ngx_http_omni_dispatch_step,
    ngx_http_omni_contract_step,
};


ngx_int_t
ngx_http_omni_access_handler(ngx_http_request_t *r)
{
    uint64_t                    start;
    ngx_int_t                   rc;
    ngx_http_omni_ctx_t        *ctx;
    ngx_http_omni_loc_conf_t   *olcf;
    ngx_http_omni_main_conf_t  *omcf;

    olcf = ngx_http_get_module_loc_conf(r, ngx_http_omni_module);

    if (!olcf->enable) {
        return NGX_DECLINED;
    }

    ctx = ngx_http_get_module_ctx(r, ngx_http_omni_module);

    if (ctx == NULL) {
        ctx = ngx_http_omni_create_ctx(r);
        if (ctx == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
    }

    omcf = ngx_http_get_module_main_conf(r, ngx_http_omni_module);

    if (omcf->metrics == NULL) {
        return ngx_http_omni_access_steps(r, ctx, olcf);
    }

    /*
     * The metrics' clocks.  NGX_DONE may mean the request was answered and
     * freed here (its log phase then took the time from phase_ns), or
     * that it waits for its body: either way r is not touched again.
     */
    start = ngx_http_omni_clock_ns();

    if (ctx->started_ns == 0) {
        ctx->started_ns = start;
    }

    ctx->phase_ns = start;

    rc = ngx_http_omni_access_steps(r, ctx, olcf);

    if (rc != NGX_DONE) {
        ctx->own_ns += ngx_http_omni_clock_ns() - start;
        ctx->phase_ns = 0;
    }

    return rc;
}


static ngx_int_t
ngx_http_omni_access_steps(ngx_http_request_t *r, ngx_http_omni_ctx_t *ctx,
    ngx_http_omni_loc_conf_t *olcf)
{
    ngx_int_t  rc;

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "omni: access phase, channel \"%V\", step %ui",
                   &olcf->channel, ctx->step);

    while (ctx->step < sizeof(ngx_http_omni_steps)
                       / sizeof(ngx_http_omni_steps[0]))
    {
        rc = ngx_http_omni_steps[ctx->step](r, ctx, olcf);

        if (rc == NGX_OK) {
            ctx->step++;
            continue;
        }

        if (rc == NGX_AGAIN || rc == NGX_DONE) {
            return rc;
        }

        if (rc == NGX_ERROR) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        if (ctx->error.code == NULL) {
            /* nginx's own refusal, e.g. 413 from client_max_body_size */
            return rc;
        }

        ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "omni: request refused: %s, status %ui",
                       ctx->error.code, ctx->error.status);

        return ngx_http_omni_reject(r, ctx);
    }

    ngx_log_debug0(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "omni: access phase done, the request goes on");

    return NGX_OK;
}


static ngx_http_omni_ctx_t *
ngx_http_omni_create_ctx(ngx_http_request_t *r)
{
    ngx_pool_cleanup_t   *cln;
    ngx_http_omni_ctx_t  *ctx;

    ctx = ngx_pcalloc(r->pool, sizeof(ngx_http_omni_ctx_t));
    if (ctx == NULL) {
        return NULL;
    }

    ctx->lua_ref = OMNI_LUA_NOREF;

    /* the prepared request holds a reference in the VM */
    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (cln == NULL) {
        return NULL;
    }

    cln->handler = ngx_http_omni_cleanup_ctx;
    cln->data = ctx;

    ngx_http_set_ctx(r, ctx, ngx_http_omni_module);

    return ctx;
}


static void
ngx_http_omni_cleanup_ctx(void *data)
{
    ngx_http_omni_ctx_t  *ctx = data;

    ngx_http_omni_main_conf_t  *omcf;

    if (ctx->lua_ref != OMNI_LUA_NOREF) {
        omcf = ngx_http_cycle_get_module_main_conf(ngx_cycle,
                                                   ngx_http_omni_module);
        if (omcf && omcf->vm) {
            omni_lua_release(omcf->vm, ctx->lua_ref);
        }
    }
}


/*
 * Answers with the error as JSON and, for 401, the RFC 6750 challenge.
 * Returns NGX_DONE once the answer is sent, or a status for the phase
 * handler to act on.
 * Messages may come from a plugin, so they are escaped for JSON and
 * cut down to RFC 6750's character set for the challenge.
 */

static ngx_int_t
ngx_http_omni_reject(ngx_http_request_t *r, ngx_http_omni_ctx_t *ctx)
{
    size_t                      i;
    ngx_int_t                   rc;
    ngx_str_t                   body;
    ngx_buf_t                  *b;
    ngx_chain_t                 out;
    omni_lua_rc_t               lrc;
    omni_lua_result_t           res;
    ngx_http_core_loc_conf_t   *clcf;
    ngx_http_omni_loc_conf_t   *olcf;
    ngx_http_omni_main_conf_t  *omcf;

    clcf = ngx_http_get_module_loc_conf(r, ngx_http_core_module);

    /*
     * With "satisfy any" another access module may still let the request
     * in, so only the status is returned: the phase handler then drops
     * the challenge on success or answers with it on failure.
     */
    if (clcf->satisfy == NGX_HTTP_SATISFY_ANY) {
        if (ngx_http_omni_challenge(r, ctx) != NGX_OK) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        return ctx->error.status;
    }

    olcf = ngx_http_get_module_loc_conf(r, ngx_http_omni_module);
    omcf = ngx_http_get_module_main_conf(r, ngx_http_omni_module);

    if (ngx_http_omni_retry_after(r, ctx) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (olcf->channel.len && omcf->vm) {
        ngx_http_omni_result_init(r, &res);

        lrc = omni_lua_render_error(omcf->vm, (const char *) olcf->channel.data,
                                    ctx->lua_ref, ctx->error.status,
                                    ctx->error.code, ctx->error.message,
                                    ngx_http_omni_request_id(r, ctx),
                                    &res);

        if (lrc == OMNI_LUA_OK) {
            /* the plugin's own challenge, when it gives one, wins */
            for (i = 0; i < res.nheaders; i++) {
                if (res.headers[i].name.len == sizeof("WWW-Authenticate") - 1
                    && ngx_strncasecmp((u_char *) res.headers[i].name.data,
                                       (u_char *) "WWW-Authenticate",
                                       sizeof("WWW-Authenticate") - 1) == 0)
                {
                    break;
                }
            }

            if (res.status == NGX_HTTP_UNAUTHORIZED && i == res.nheaders
                && ngx_http_omni_challenge(r, ctx) != NGX_OK)
            {
                return NGX_HTTP_INTERNAL_SERVER_ERROR;
            }

            return ngx_http_omni_send_answer(r, &res);
        }

        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "omni: plugin \"%V\" could not render \"%s\": %s",
                      &olcf->channel, ctx->error.code, res.message.data);
    }

    if (ngx_http_omni_challenge(r, ctx) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    if (ngx_http_omni_error_body(r->pool, ctx->error.code,
                                 ctx->error.message, 1, &body)
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    b = ngx_calloc_buf(r->pool);
    if (b == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    b->pos = body.data;
    b->last = body.data + body.len;
    b->memory = 1;
    b->last_buf = (r == r->main) ? 1 : 0;
    b->last_in_chain = 1;

    r->headers_out.status = ctx->error.status;
    r->headers_out.content_length_n = b->last - b->pos;
    ngx_str_set(&r->headers_out.content_type, "application/json");
    r->headers_out.content_type_len = r->headers_out.content_type.len;
    r->headers_out.content_type_lowcase = NULL;

    rc = ngx_http_send_header(r);

    if (rc != NGX_ERROR && rc <= NGX_OK && !r->header_only) {
        out.buf = b;
        out.next = NULL;
        rc = ngx_http_output_filter(r, &out);
    }

    ngx_http_finalize_request(r, rc);

    return NGX_DONE;
}


/* The RFC 6750 challenge of a 401. */

static ngx_int_t
ngx_http_omni_challenge(ngx_http_request_t *r, ngx_http_omni_ctx_t *ctx)
{
    u_char           *p, c;
    size_t            i, len;
    ngx_table_elt_t  *h;

    if (ctx->error.status != NGX_HTTP_UNAUTHORIZED) {
        return NGX_OK;
    }

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    h->hash = 1;
    ngx_str_set(&h->key, "WWW-Authenticate");

    if (ngx_strcmp(ctx->error.code, "token_missing") == 0) {
        /* RFC 6750 3.1: no error code when no credentials came */
        ngx_str_set(&h->value, "Bearer");

    } else {
        len = ngx_min(ngx_strlen(ctx->error.message),
                      NGX_HTTP_OMNI_DESCRIPTION_MAX);

        h->value.data = ngx_pnalloc(r->pool,
                                    sizeof("Bearer error=\"invalid_token\", "
                                           "error_description=\"\"") - 1
                                    + len);
        if (h->value.data == NULL) {
            return NGX_ERROR;
        }

        p = ngx_cpymem(h->value.data,
                       "Bearer error=\"invalid_token\", error_description=\"",
                       sizeof("Bearer error=\"invalid_token\", "
                              "error_description=\"") - 1);

        for (i = 0; i < len; i++) {
            c = (u_char) ctx->error.message[i];
            *p++ = (c < 0x20 || c > 0x7e || c == '"' || c == '\\') ? '?' : c;
        }

        *p++ = '"';
        h->value.len = p - h->value.data;
    }

    r->headers_out.www_authenticate = h;

    return NGX_OK;
}
