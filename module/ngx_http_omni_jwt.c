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


static ngx_int_t ngx_http_omni_revocation(ngx_http_request_t *r,
    ngx_http_omni_ctx_t *ctx);
static const char *ngx_http_omni_nameable(const char *s, size_t max,
    ngx_uint_t id);
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
        return ngx_http_omni_revocation(r, ctx);
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


/*
 * A verified token may still be revoked: by its jti, or all tokens of its
 * subject issued before a time.  Read from the shared store on every
 * request, so a revocation holds at once in every worker.
 */

/* s when a revocation can name it: ids are [A-Za-z0-9_-], values any text */
static const char *
ngx_http_omni_nameable(const char *s, size_t max, ngx_uint_t id)
{
    u_char  c;
    size_t  i;

    if (s == NULL) {
        return NULL;
    }

    for (i = 0; s[i]; i++) {
        c = (u_char) s[i];

        if (i == max || c <= ' ' || c == 0x7f) {
            return NULL;
        }

        if (id && !((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
                   || (c >= '0' && c <= '9') || c == '_' || c == '-'))
        {
            return NULL;
        }
    }

    return i ? s : NULL;
}


static ngx_int_t
ngx_http_omni_revocation(ngx_http_request_t *r, ngx_http_omni_ctx_t *ctx)
{
    int                         rc, rule;
    char                        err[OMNI_STORE_ERRLEN];
    u_char                      sub[NGX_HTTP_OMNI_LOG_VALUE_MAX + 3];
    ngx_http_omni_main_conf_t  *omcf;

    omcf = ngx_http_get_module_main_conf(r, ngx_http_omni_module);

    if (omcf->store == NULL) {
        return NGX_OK;
    }

    /*
     * A value no revocation can name (too long, spaces) is left out, so
     * that it cannot hide the others; a token naming its session ("sid")
     * dies with that session.
     */
    rc = omni_store_is_revoked(omcf->store,
                               ngx_http_omni_nameable(ctx->token.jti,
                                                      OMNI_STORE_VALUE_MAX, 0),
                               ngx_http_omni_nameable(
                                   jwt_get_grant(ctx->token.jwt, "sid"),
                                   OMNI_STORE_ID_MAX, 1),
                               ngx_http_omni_nameable(ctx->token.sub,
                                                      OMNI_STORE_VALUE_MAX, 0),
                               (int64_t) ctx->token.iat, &rule, err);

    if (rc != OMNI_STORE_OK) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "omni: revocation check failed: %s", err);
        return NGX_ERROR;
    }

    if (rule == OMNI_STORE_REVOKED_NONE) {
        return NGX_OK;
    }

    ctx->authenticated = 0;
    ctx->error.status = NGX_HTTP_UNAUTHORIZED;
    ctx->error.code = "token_revoked";
    ctx->error.message = (rule == OMNI_STORE_REVOKED_JTI)
                         ? "token is revoked"
                         : (rule == OMNI_STORE_REVOKED_SESSION)
                         ? "the token's session is revoked"
                         : "tokens of this subject are revoked";

    *ngx_http_omni_log_value(sub, ctx->token.sub) = '\0';

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "omni: token rejected: token_revoked (%s), sub: %s",
                  ctx->error.message, sub);

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
