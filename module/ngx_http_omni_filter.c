/*
 * Copyright (C) The omni gateway authors
 *
 * Renders a service's unified reply in the channel's native format: the
 * reply is held (up to omni_reply_buffer bytes), handed to the plugin's
 * render(), and replaced by what it returns.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_omni_module.h"


static ngx_int_t ngx_http_omni_header_filter(ngx_http_request_t *r);
static ngx_int_t ngx_http_omni_body_filter(ngx_http_request_t *r,
    ngx_chain_t *in);
static ngx_int_t ngx_http_omni_reply_room(ngx_http_request_t *r,
    ngx_http_omni_ctx_t *ctx, ngx_http_omni_loc_conf_t *olcf, size_t size);
static ngx_int_t ngx_http_omni_render_reply(ngx_http_request_t *r,
    ngx_http_omni_ctx_t *ctx);


static ngx_http_output_header_filter_pt  ngx_http_next_header_filter;
static ngx_http_output_body_filter_pt    ngx_http_next_body_filter;


ngx_int_t
ngx_http_omni_filter_init(ngx_conf_t *cf)
{
    ngx_http_next_header_filter = ngx_http_top_header_filter;
    ngx_http_top_header_filter = ngx_http_omni_header_filter;

    ngx_http_next_body_filter = ngx_http_top_body_filter;
    ngx_http_top_body_filter = ngx_http_omni_body_filter;

    return NGX_OK;
}


static ngx_int_t
ngx_http_omni_header_filter(ngx_http_request_t *r)
{
    ngx_http_omni_ctx_t  *ctx;

    if (r != r->main) {
        return ngx_http_next_header_filter(r);
    }

    ctx = ngx_http_get_module_ctx(r, ngx_http_omni_module);

    if (ctx && !ctx->context_seen) {
        ctx->context_seen = 1;
        ngx_http_omni_context_patch(r, ctx);
        ngx_http_omni_case_patch(r, ctx);
    }

    /* only replies to requests a plugin normalized, and only once */
    if (ctx == NULL || !ctx->render || ctx->filtering) {
        return ngx_http_next_header_filter(r);
    }

    ctx->render = 0;
    ctx->filtering = 1;

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "omni: reply filter holds the reply, status %ui, "
                   "length %O", r->headers_out.status,
                   r->headers_out.content_length_n);

    if (r->header_only) {
        return ngx_http_omni_render_reply(r, ctx);
    }

    r->filter_need_in_memory = 1;
    r->allow_ranges = 0;

    /* the first guess at the held reply's size */
    ctx->reply_expected = r->headers_out.content_length_n;

    return NGX_OK;
}


/*
 * Holds the reply: a reply that comes whole in one memory buffer (the
 * usual case behind proxy_pass) is rendered where it lies; otherwise it
 * is gathered into a buffer that grows to omni_reply_buffer at most.
 */
static ngx_int_t
ngx_http_omni_body_filter(ngx_http_request_t *r, ngx_chain_t *in)
{
    size_t                     size;
    ngx_buf_t                 *b;
    ngx_uint_t                 last;
    ngx_chain_t               *cl;
    ngx_http_omni_ctx_t       *ctx;
    ngx_http_omni_loc_conf_t  *olcf;

    ctx = ngx_http_get_module_ctx(r, ngx_http_omni_module);

    if (ctx == NULL || !ctx->filtering || r != r->main) {
        return ngx_http_next_body_filter(r, in);
    }

    olcf = ngx_http_get_module_loc_conf(r, ngx_http_omni_module);

    if (ctx->reply == NULL && in && in->next == NULL
        && (in->buf->last_buf || in->buf->last_in_chain)
        && !in->buf->in_file && ngx_buf_in_memory(in->buf))
    {
        size = ngx_buf_size(in->buf);

        if (size > olcf->reply_buffer) {
            ctx->reply_too_large = 1;

        } else {
            ctx->reply_data.data = in->buf->pos;
            ctx->reply_data.len = size;
        }

        /* consumed here, never sent: rendered before this call returns */
        in->buf->pos = in->buf->last;

        return ngx_http_omni_render_reply(r, ctx);
    }

    last = 0;

    for (cl = in; cl; cl = cl->next) {
        size = ngx_buf_size(cl->buf);

        if (!cl->buf->in_file && ngx_buf_in_memory(cl->buf) && size
            && !ctx->reply_too_large)
        {
            if (ngx_http_omni_reply_room(r, ctx, olcf, size) != NGX_OK) {
                return NGX_ERROR;
            }

            /* past omni_reply_buffer nothing more is kept */
            if (!ctx->reply_too_large) {
                b = ctx->reply;
                b->last = ngx_cpymem(b->last, cl->buf->pos, size);
            }
        }

        /* the original reply is consumed here, never sent */
        cl->buf->pos = cl->buf->last;
        cl->buf->file_pos = cl->buf->file_last;

        if (cl->buf->last_buf || cl->buf->last_in_chain) {
            last = 1;
        }
    }

    if (!last) {
        return NGX_OK;
    }

    if (ctx->reply) {
        ctx->reply_data.data = ctx->reply->pos;
        ctx->reply_data.len = ctx->reply->last - ctx->reply->pos;
    }

    return ngx_http_omni_render_reply(r, ctx);
}


/*
 * Room for size more bytes of the reply: the buffer starts at what the
 * upstream announced (or 4k) and doubles, up to omni_reply_buffer.
 */
static ngx_int_t
ngx_http_omni_reply_room(ngx_http_request_t *r, ngx_http_omni_ctx_t *ctx,
    ngx_http_omni_loc_conf_t *olcf, size_t size)
{
    size_t      have, cap;
    ngx_buf_t  *b, *nb;

    b = ctx->reply;
    have = b ? (size_t) (b->last - b->pos) : 0;

    if (have + size > olcf->reply_buffer) {
        ctx->reply_too_large = 1;
        return NGX_OK;
    }

    if (b && (size_t) (b->end - b->last) >= size) {
        return NGX_OK;
    }

    if (b) {
        cap = 2 * (size_t) (b->end - b->start);

    } else if (ctx->reply_expected > 0) {
        cap = (size_t) ctx->reply_expected;

    } else {
        cap = 4096;
    }

    if (cap < have + size) {
        cap = have + size;
    }

    if (cap > olcf->reply_buffer) {
        cap = olcf->reply_buffer;
    }

    nb = ngx_create_temp_buf(r->pool, cap);
    if (nb == NULL) {
        return NGX_ERROR;
    }

    if (have) {
        nb->last = ngx_cpymem(nb->last, b->pos, have);
    }

    ctx->reply = nb;

    return NGX_OK;
}


static ngx_int_t
ngx_http_omni_render_reply(ngx_http_request_t *r, ngx_http_omni_ctx_t *ctx)
{
    size_t                      i;
    uint64_t                    start;
    ngx_int_t                   rc;
    ngx_str_t                   body;
    omni_str_t                  reply;
    ngx_buf_t                  *b;
    ngx_chain_t                 out;
    omni_lua_rc_t               lrc;
    omni_lua_result_t           res;
    ngx_http_omni_loc_conf_t   *olcf;
    ngx_http_omni_main_conf_t  *omcf;

    olcf = ngx_http_get_module_loc_conf(r, ngx_http_omni_module);
    omcf = ngx_http_get_module_main_conf(r, ngx_http_omni_module);

    ctx->filtering = 0;

    if (omcf->vm == NULL) {
        return NGX_ERROR;
    }

    ngx_http_omni_result_init(r, &res);

    start = omcf->metrics ? ngx_http_omni_clock_ns() : 0;

    if (ctx->reply_too_large) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "omni: the reply is larger than omni_reply_buffer "
                      "(%uz bytes)", olcf->reply_buffer);

        lrc = omni_lua_render_error(omcf->vm,
                                    (const char *) olcf->channel.data,
                                    ctx->lua_ref, NGX_HTTP_BAD_GATEWAY,
                                    "upstream_reply_too_large",
                                    "the service sent a reply too large",
                                    ngx_http_omni_request_id(r, ctx),
                                    &res);

    } else {
        reply.data = ctx->reply_data.data ? (const char *) ctx->reply_data.data
                                          : "";
        reply.len = ctx->reply_data.len;

        /* what the caller's role may not see never reaches the renderer */
        rc = ngx_http_omni_policy_scopes(r, ctx, &reply);

        if (rc == NGX_ERROR) {
            return NGX_ERROR;
        }

        if (rc == NGX_DECLINED) {
            lrc = omni_lua_render_error(omcf->vm,
                                        (const char *) olcf->channel.data,
                                        ctx->lua_ref, NGX_HTTP_BAD_GATEWAY,
                                        "upstream_reply_invalid",
                                        "the service sent an invalid reply",
                                        ngx_http_omni_request_id(r, ctx),
                                        &res);

        } else {
            lrc = omni_lua_render(omcf->vm,
                                  (const char *) olcf->channel.data,
                                  ctx->lua_ref, r->headers_out.status,
                                  ngx_http_omni_request_id(r, ctx),
                                  &reply, &res);
        }
    }

    if (start) {
        ctx->own_ns += ngx_http_omni_clock_ns() - start;
    }

    if (lrc != OMNI_LUA_OK) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "omni: plugin \"%V\" render failed: %s",
                      &olcf->channel, res.message.data);

        /* a bare 502 is all that can be said without the plugin */
        if (ngx_http_omni_error_body(r->pool, "plugin_error",
                                     "the reply could not be rendered", 1,
                                     &body)
            != NGX_OK)
        {
            return NGX_ERROR;
        }

        res.status = NGX_HTTP_BAD_GATEWAY;
        res.nheaders = 0;
        res.body.data = (const char *) body.data;
        res.body.len = body.len;
        ngx_str_set(&r->headers_out.content_type, "application/json");
        r->headers_out.content_type_len = r->headers_out.content_type.len;
        r->headers_out.content_type_lowcase = NULL;
    }

    /* the service's representation headers no longer describe the body */
    ngx_http_clear_content_length(r);
    ngx_http_clear_accept_ranges(r);
    ngx_http_clear_last_modified(r);
    ngx_http_clear_etag(r);

    if (r->headers_out.content_encoding) {
        r->headers_out.content_encoding->hash = 0;
        r->headers_out.content_encoding = NULL;
    }

    for (i = 0; i < res.nheaders; i++) {
        if (ngx_http_omni_answer_header(r, &res.headers[i]) != NGX_OK) {
            return NGX_ERROR;
        }
    }

    r->headers_out.status = res.status;
    r->headers_out.status_line.len = 0;
    r->headers_out.content_length_n = res.body.len;

    ngx_log_debug3(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "omni: reply rendered by \"%V\", status %ui, %uz bytes",
                   &olcf->channel, (ngx_uint_t) res.status, res.body.len);

    rc = ngx_http_next_header_filter(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    b = ngx_calloc_buf(r->pool);
    if (b == NULL) {
        return NGX_ERROR;
    }

    b->pos = (u_char *) res.body.data;
    b->last = b->pos + res.body.len;
    b->memory = res.body.len ? 1 : 0;
    b->last_buf = 1;
    b->last_in_chain = 1;

    out.buf = b;
    out.next = NULL;

    return ngx_http_next_body_filter(r, &out);
}
