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


typedef ngx_int_t (*ngx_http_omni_step_pt)(ngx_http_request_t *r,
    ngx_http_omni_ctx_t *ctx, ngx_http_omni_loc_conf_t *olcf);


static ngx_http_omni_ctx_t *ngx_http_omni_create_ctx(ngx_http_request_t *r);
static void ngx_http_omni_cleanup_ctx(void *data);
static ngx_int_t ngx_http_omni_reject(ngx_http_request_t *r,
    ngx_http_omni_ctx_t *ctx);


static ngx_http_omni_step_pt  ngx_http_omni_steps[] = {
    ngx_http_omni_jwt_step,
};


ngx_int_t
ngx_http_omni_access_handler(ngx_http_request_t *r)
{
    ngx_int_t                  rc;
    ngx_http_omni_ctx_t       *ctx;
    ngx_http_omni_loc_conf_t  *olcf;

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

        return ngx_http_omni_reject(r, ctx);
    }

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

    /* the verified token holds libjwt memory until the request ends */
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

    omni_token_release(&ctx->token);
}


/*
 * Answers with the error as JSON and, for 401, the RFC 6750 challenge.
 * Returns NGX_DONE once the answer is sent, or a status for the phase
 * handler to act on.
 * Codes and messages are fixed ASCII strings of our own without quotes,
 * so they go into the header and the body unescaped.
 */

static ngx_int_t
ngx_http_omni_reject(ngx_http_request_t *r, ngx_http_omni_ctx_t *ctx)
{
    size_t                     len;
    ngx_int_t                  rc;
    ngx_buf_t                 *b;
    ngx_chain_t                out;
    ngx_table_elt_t           *h;
    ngx_http_core_loc_conf_t  *clcf;

    if (ctx->error.status == NGX_HTTP_UNAUTHORIZED) {
        h = ngx_list_push(&r->headers_out.headers);
        if (h == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        h->hash = 1;
        ngx_str_set(&h->key, "WWW-Authenticate");

        if (ngx_strcmp(ctx->error.code, "token_missing") == 0) {
            /* RFC 6750 3.1: no error code when no credentials came */
            ngx_str_set(&h->value, "Bearer");

        } else {
            len = sizeof("Bearer error=\"invalid_token\", "
                         "error_description=\"\"") - 1
                  + ngx_strlen(ctx->error.message);

            h->value.data = ngx_pnalloc(r->pool, len);
            if (h->value.data == NULL) {
                return NGX_HTTP_INTERNAL_SERVER_ERROR;
            }

            h->value.len = ngx_sprintf(h->value.data,
                                       "Bearer error=\"invalid_token\", "
                                       "error_description=\"%s\"",
                                       ctx->error.message)
                           - h->value.data;
        }

        r->headers_out.www_authenticate = h;
    }

    /*
     * With "satisfy any" another access module may still let the request
     * in, so only the status is returned: the phase handler then drops
     * the challenge on success or answers with it on failure.
     */
    clcf = ngx_http_get_module_loc_conf(r, ngx_http_core_module);

    if (clcf->satisfy == NGX_HTTP_SATISFY_ANY) {
        return ctx->error.status;
    }

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    len = sizeof("{\"error\":\"\",\"message\":\"\"}\n") - 1
          + ngx_strlen(ctx->error.code) + ngx_strlen(ctx->error.message);

    b = ngx_create_temp_buf(r->pool, len);
    if (b == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    b->last = ngx_sprintf(b->pos, "{\"error\":\"%s\",\"message\":\"%s\"}\n",
                          ctx->error.code, ctx->error.message);
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
