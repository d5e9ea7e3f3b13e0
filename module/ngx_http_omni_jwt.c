/*
 * Copyright (C) The omni gateway authors
 *
 * The token step of the pipeline: find the token, verify it with the
 * location's keys and claim rules, log a rejection once.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_omni_module.h"


#define NGX_HTTP_OMNI_LOG_VALUE_MAX  64


static void ngx_http_omni_bearer(ngx_http_request_t *r, ngx_str_t *token);
static u_char *ngx_http_omni_log_value(u_char *buf, const char *s);


ngx_int_t
ngx_http_omni_jwt_step(ngx_http_request_t *r, ngx_http_omni_ctx_t *ctx,
    ngx_http_omni_loc_conf_t *olcf)
{
    u_char           kid[NGX_HTTP_OMNI_LOG_VALUE_MAX + 3];
    u_char           sub[NGX_HTTP_OMNI_LOG_VALUE_MAX + 3];
    ngx_str_t        token;
    omni_token_rc_t  rc;

    if (!(olcf->auth & NGX_HTTP_OMNI_AUTH_JWT)) {
        return NGX_OK;
    }

    if (olcf->token) {
        if (ngx_http_complex_value(r, olcf->token, &token) != NGX_OK) {
            return NGX_ERROR;
        }

    } else {
        ngx_http_omni_bearer(r, &token);
    }

    rc = omni_token_verify(&olcf->token_conf, (const char *) token.data,
                           token.len, ngx_time(), &ctx->token);

    if (rc == OMNI_TOKEN_OK) {
        ctx->authenticated = 1;
        return NGX_OK;
    }

    if (rc == OMNI_TOKEN_NO_MEMORY) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "omni: token verification failed: out of memory");
        return NGX_ERROR;
    }

    ctx->error.status = NGX_HTTP_UNAUTHORIZED;
    ctx->error.code = omni_token_code(rc);
    ctx->error.message = ctx->token.detail;

    /* never the token itself; kid and sub are attacker-supplied text */
    *ngx_http_omni_log_value(kid, ctx->token.kid) = '\0';
    *ngx_http_omni_log_value(sub, ctx->token.sub) = '\0';

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "omni: token rejected: %s (%s), kid: %s, sub: %s",
                  ctx->error.code, ctx->error.message, kid, sub);

    return NGX_HTTP_UNAUTHORIZED;
}


static void
ngx_http_omni_bearer(ngx_http_request_t *r, ngx_str_t *token)
{
    u_char  *p, *last;

    ngx_str_null(token);

    if (r->headers_in.authorization == NULL) {
        return;
    }

    p = r->headers_in.authorization->value.data;
    last = p + r->headers_in.authorization->value.len;

    if (last - p < 7 || ngx_strncasecmp(p, (u_char *) "Bearer ", 7) != 0) {
        return;
    }

    p += 7;

    while (p < last && *p == ' ') {
        p++;
    }

    while (last > p && last[-1] == ' ') {
        last--;
    }

    token->data = p;
    token->len = last - p;
}


/* Quotes s, with unprintable bytes as '?' and long values cut short. */

static u_char *
ngx_http_omni_log_value(u_char *buf, const char *s)
{
    size_t  i;

    if (s == NULL) {
        return ngx_cpymem(buf, "-", 1);
    }

    *buf++ = '"';

    for (i = 0; s[i] && i < NGX_HTTP_OMNI_LOG_VALUE_MAX; i++) {
        *buf++ = ((u_char) s[i] < 0x20 || (u_char) s[i] >= 0x7f
                  || s[i] == '"') ? '?' : (u_char) s[i];
    }

    *buf++ = '"';

    return buf;
}
