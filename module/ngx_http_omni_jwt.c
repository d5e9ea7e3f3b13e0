/*
 * Copyright (C) The omni gateway authors
 *
 * The token step of the pipeline: find the token, verify it with the
 * location's keys and claim rules (or find it verified in this worker's
 * cache), check it is not revoked, log a rejection once.  Also the token
 * directives that are more than a slot: the keys, the cache, the roles
 * claim and the maximum lifetime.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_omni_module.h"


#define NGX_HTTP_OMNI_LOG_VALUE_MAX  64


static omni_token_rc_t ngx_http_omni_verify(ngx_http_request_t *r,
    ngx_http_omni_ctx_t *ctx, ngx_http_omni_loc_conf_t *olcf,
    ngx_str_t *token, omni_token_t **tok);
static void ngx_http_omni_entry_cleanup(void *data);
static void ngx_http_omni_token_free(void *data);
static ngx_int_t ngx_http_omni_revocation(ngx_http_request_t *r,
    ngx_http_omni_ctx_t *ctx);
static ngx_int_t ngx_http_omni_cluster_lag(ngx_http_request_t *r,
    ngx_http_omni_ctx_t *ctx, ngx_http_omni_main_conf_t *omcf);
static const char *ngx_http_omni_nameable(const char *s, size_t max,
    ngx_uint_t id);
static void ngx_http_omni_bearer(ngx_http_request_t *r, ngx_str_t *token);
static u_char *ngx_http_omni_log_value(u_char *buf, const char *s);
static omni_keyset_t *ngx_http_omni_keyset(ngx_conf_t *cf,
    ngx_http_omni_loc_conf_t *olcf);
static void ngx_http_omni_keyset_cleanup(void *data);


ngx_int_t
ngx_http_omni_jwt_step(ngx_http_request_t *r, ngx_http_omni_ctx_t *ctx,
    ngx_http_omni_loc_conf_t *olcf)
{
    u_char           kid[NGX_HTTP_OMNI_LOG_VALUE_MAX + 3];
    u_char           sub[NGX_HTTP_OMNI_LOG_VALUE_MAX + 3];
    ngx_str_t        token;
    omni_token_t    *tok;
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

    rc = ngx_http_omni_verify(r, ctx, olcf, &token, &tok);

    if (rc == OMNI_TOKEN_OK) {
        ctx->token = *tok;
        ctx->authenticated = 1;

        ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "omni: token verified, alg %s, %uz roles",
                       tok->alg, tok->nroles);

        return ngx_http_omni_revocation(r, ctx);
    }

    if (rc == OMNI_TOKEN_NO_MEMORY) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "omni: token verification failed: out of memory");
        return NGX_ERROR;
    }

    ctx->error.status = NGX_HTTP_UNAUTHORIZED;
    ctx->error.code = omni_token_code(rc);
    ctx->error.message = ctx->token_error.detail;

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "omni: token not verified: %s", ctx->error.code);

    /* never the token itself; kid and sub are attacker-supplied text */
    *ngx_http_omni_log_value(kid, ctx->token_error.has_kid
                                  ? ctx->token_error.kid : NULL) = '\0';
    *ngx_http_omni_log_value(sub, ctx->token_error.has_sub
                                  ? ctx->token_error.sub : NULL) = '\0';

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "omni: token rejected: %s (%s), kid: %s, sub: %s",
                  ctx->error.code, ctx->error.message, kid, sub);

    return NGX_HTTP_UNAUTHORIZED;
}


/*
 * The verified token, from this worker's cache when the same token was
 * verified under this location's configuration before (the checks that
 * depend on the time then run again), else verified in full and cached.
 * The request holds it until its pool is cleaned up.
 */
static omni_token_rc_t
ngx_http_omni_verify(ngx_http_request_t *r, ngx_http_omni_ctx_t *ctx,
    ngx_http_omni_loc_conf_t *olcf, ngx_str_t *token, omni_token_t **tok)
{
    time_t                      now;
    u_char                      key[OMNI_TOKEN_CACHE_KEY_LEN];
    omni_token_rc_t             rc;
    ngx_pool_cleanup_t         *cln;
    omni_token_cache_t         *cache;
    omni_token_cache_entry_t   *e;
    ngx_http_omni_main_conf_t  *omcf;

    omcf = ngx_http_get_module_main_conf(r, ngx_http_omni_module);
    cache = omcf->token_cache;
    now = ngx_time();

    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (cln == NULL) {
        return OMNI_TOKEN_NO_MEMORY;
    }

    if (token->len) {
        ctx->jwt_cache = cache ? NGX_HTTP_OMNI_CACHE_MISS
                               : NGX_HTTP_OMNI_CACHE_OFF;
    }

    /* a token too large to verify is not worth hashing either */
    if (cache && token->len && token->len <= olcf->max_length) {
        omni_token_cache_key(cache, (const char *) token->data, token->len,
                             key);

        e = omni_token_cache_get(cache, key, &olcf->token_conf, now);

        ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "omni: token cache %s", e ? "hit" : "miss");

        if (e != NULL) {
            ctx->jwt_cache = NGX_HTTP_OMNI_CACHE_HIT;
            cln->handler = ngx_http_omni_entry_cleanup;
            cln->data = e;

            *tok = omni_token_cache_value(e);

            return omni_token_check_time(&olcf->token_conf, *tok, now,
                                         &ctx->token_error);
        }
    }

    rc = omni_token_verify(&olcf->token_conf, (const char *) token->data,
                           token->len, now, tok, &ctx->token_error);

    if (rc != OMNI_TOKEN_OK) {
        return rc;
    }

    if (ctx->jwt_cache == NGX_HTTP_OMNI_CACHE_OFF) {
        cln->handler = ngx_http_omni_token_free;
        cln->data = *tok;
        return OMNI_TOKEN_OK;
    }

    e = omni_token_cache_put(cache, key, &olcf->token_conf, *tok,
                             (*tok)->size,
                             omni_token_expires(&olcf->token_conf, *tok),
                             now);
    if (e == NULL) {
        omni_token_free(*tok);
        return OMNI_TOKEN_NO_MEMORY;
    }

    cln->handler = ngx_http_omni_entry_cleanup;
    cln->data = e;

    return OMNI_TOKEN_OK;
}


static void
ngx_http_omni_entry_cleanup(void *data)
{
    omni_token_cache_release(data);
}


static void
ngx_http_omni_token_free(void *data)
{
    omni_token_free(data);
}


/* Caches never cross a fork: each worker starts with an empty one. */

ngx_int_t
ngx_http_omni_jwt_init_worker(ngx_cycle_t *cycle,
    ngx_http_omni_main_conf_t *omcf)
{
    if (omcf->cache_entries == 0) {
        return NGX_OK;
    }

    omcf->token_cache = omni_token_cache_new(omcf->cache_entries,
                                             omcf->cache_bytes,
                                             omcf->cache_ttl,
                                             ngx_http_omni_token_free);
    if (omcf->token_cache == NULL) {
        ngx_log_error(NGX_LOG_EMERG, cycle->log, 0,
                      "omni: no memory or randomness for the token "
                      "cache");
        return NGX_ERROR;
    }

    return NGX_OK;
}


void
ngx_http_omni_jwt_exit_worker(ngx_http_omni_main_conf_t *omcf)
{
    if (omcf->token_cache) {
        omni_token_cache_free(omcf->token_cache);
        omcf->token_cache = NULL;
    }
}


/*
 * A verified token may still be revoked: by its jti, or all tokens of its
 * subject issued before a time.  Read from the shared store on every
 * request, so a revocation holds at once in every worker.
 */

/* s when a revocation can name it, by the store's rules for ids or values */
static const char *
ngx_http_omni_nameable(const char *s, size_t max, ngx_uint_t id)
{
    size_t  len;

    if (s == NULL) {
        return NULL;
    }

    len = ngx_strnlen((u_char *) s, max + 1);

    if (id) {
        return omni_store_id_valid(s, len, max) ? s : NULL;
    }

    return omni_store_text_valid(s, len, max) ? s : NULL;
}


static ngx_int_t
ngx_http_omni_revocation(ngx_http_request_t *r, ngx_http_omni_ctx_t *ctx)
{
    int                         rc, rule;
    char                        err[OMNI_ERRLEN];
    u_char                      sub[NGX_HTTP_OMNI_LOG_VALUE_MAX + 3];
    ngx_http_omni_main_conf_t  *omcf;

    omcf = ngx_http_get_module_main_conf(r, ngx_http_omni_module);

    if (omcf->store == NULL) {
        ngx_log_debug0(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "omni: no revocation lookup, no store");
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
                               ngx_http_omni_nameable(ctx->token.sid,
                                                      OMNI_STORE_ID_MAX, 1),
                               ngx_http_omni_nameable(ctx->token.sub,
                                                      OMNI_STORE_VALUE_MAX, 0),
                               (int64_t) ctx->token.iat, &rule, err);

    if (rc != OMNI_STORE_OK) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "omni: revocation check failed: %s", err);
        return NGX_ERROR;
    }

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "omni: revocation lookup: %s",
                   rule == OMNI_STORE_REVOKED_NONE ? "not revoked"
                   : rule == OMNI_STORE_REVOKED_JTI ? "revoked by its jti"
                   : rule == OMNI_STORE_REVOKED_SESSION ? "its session revoked"
                   : "its subject's tokens revoked");

    if (rule == OMNI_STORE_REVOKED_NONE) {
        return ngx_http_omni_cluster_lag(r, ctx, omcf);
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


char *
ngx_http_omni_jwt_key(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_omni_loc_conf_t *olcf = conf;

    int             rc;
    char            err[OMNI_ERRLEN];
    unsigned        algs;
    ngx_str_t      *value, file;
    ngx_uint_t      i;
    const char     *kid;
    omni_keyset_t  *ks;

    value = cf->args->elts;

    kid = NULL;
    algs = 0;

    for (i = 2; i < cf->args->nelts; i++) {

        if (ngx_strncmp(value[i].data, "kid=", 4) == 0 && kid == NULL) {
            kid = (const char *) value[i].data + 4;
            continue;
        }

        if (ngx_strncmp(value[i].data, "alg=", 4) == 0 && algs == 0) {
            if (omni_algs_parse((const char *) value[i].data + 4, &algs, err)
                != 0)
            {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "%s in \"%V\"",
                                   err, &value[i]);
                return NGX_CONF_ERROR;
            }

            continue;
        }

        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid parameter \"%V\"", &value[i]);
        return NGX_CONF_ERROR;
    }

    file = value[1];

    if (ngx_conf_full_name(cf->cycle, &file, 1) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    ks = ngx_http_omni_keyset(cf, olcf);
    if (ks == NULL) {
        return NGX_CONF_ERROR;
    }

    if (*(ngx_uint_t *) cmd->post == NGX_HTTP_OMNI_KEY_PEM) {
        rc = omni_keyset_add_pem(ks, (const char *) file.data, kid, algs,
                                 err);

    } else {
        rc = omni_keyset_add_secret(ks, (const char *) file.data, kid, algs,
                                    err);
    }

    if (rc != 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "%s", err);
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


char *
ngx_http_omni_jwt_jwks(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_omni_loc_conf_t *olcf = conf;

    char            err[OMNI_ERRLEN];
    ngx_str_t      *value, file;
    omni_keyset_t  *ks;

    value = cf->args->elts;
    file = value[1];

    if (ngx_conf_full_name(cf->cycle, &file, 1) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    ks = ngx_http_omni_keyset(cf, olcf);
    if (ks == NULL) {
        return NGX_CONF_ERROR;
    }

    if (omni_keyset_add_jwks(ks, (const char *) file.data, err) != 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "%s", err);
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


static omni_keyset_t *
ngx_http_omni_keyset(ngx_conf_t *cf, ngx_http_omni_loc_conf_t *olcf)
{
    ngx_pool_cleanup_t  *cln;

    if (olcf->keys) {
        return olcf->keys;
    }

    cln = ngx_pool_cleanup_add(cf->pool, 0);
    if (cln == NULL) {
        return NULL;
    }

    olcf->keys = omni_keyset_new();
    if (olcf->keys == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "out of memory");
        return NULL;
    }

    /* keys live as long as the configuration cycle that parsed them */
    cln->handler = ngx_http_omni_keyset_cleanup;
    cln->data = olcf->keys;

    return olcf->keys;
}


static void
ngx_http_omni_keyset_cleanup(void *data)
{
    omni_keyset_free(data);
}


char *
ngx_http_omni_check_roles_claim(ngx_conf_t *cf, void *post, void *data)
{
    ngx_str_t  *path = data;

    ngx_uint_t  i;

    for (i = 0; i < path->len; i++) {
        if (path->data[i] == '.'
            && (i == 0 || i == path->len - 1 || path->data[i + 1] == '.'))
        {
            return "has an empty path component";
        }
    }

    if (path->len == 0) {
        return "is empty";
    }

    return NGX_CONF_OK;
}


/* omni_jwt_max_lifetime time | off */
char *
ngx_http_omni_jwt_max_lifetime(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_omni_loc_conf_t *olcf = conf;

    time_t      t;
    ngx_str_t  *value;

    if (olcf->max_lifetime != NGX_CONF_UNSET) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (ngx_strcmp(value[1].data, "off") == 0) {
        olcf->max_lifetime = 0;
        return NGX_CONF_OK;
    }

    t = ngx_parse_time(&value[1], 1);

    if (t == (time_t) NGX_ERROR || t == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid value \"%V\" in \"%V\", expected a "
                           "time of 1s or more, or \"off\"",
                           &value[1], &cmd->name);
        return NGX_CONF_ERROR;
    }

    olcf->max_lifetime = t;

    return NGX_CONF_OK;
}


/*
 * omni_cluster fail_closed_lag=: a node whose omni-sync has not found
 * itself caught up with the cluster for longer than that may miss
 * revocations made elsewhere, so it refuses tokens (503 cluster_lag)
 * rather than let one through (docs/cluster.md).  One read of the store.
 */
static ngx_int_t
ngx_http_omni_cluster_lag(ngx_http_request_t *r, ngx_http_omni_ctx_t *ctx,
    ngx_http_omni_main_conf_t *omcf)
{
    char                         err[OMNI_ERRLEN];
    time_t                       lag;
    omni_store_changes_state_t   s;

    if (omcf->cluster_lag == 0) {
        return NGX_OK;
    }

    if (omni_store_changes_state(omcf->store, &s, err) != OMNI_STORE_OK) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "omni: cluster state unreadable: %s", err);
        return NGX_ERROR;
    }

    lag = ngx_time() - (time_t) s.caught_up;

    if (lag <= omcf->cluster_lag) {
        return NGX_OK;
    }

    ctx->authenticated = 0;
    ctx->error.status = NGX_HTTP_SERVICE_UNAVAILABLE;
    ctx->error.code = "cluster_lag";
    ctx->error.message = "this node may miss revocations made elsewhere: "
                         "its sync with the cluster is behind";

    ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                  "omni: token refused: cluster_lag (caught up %T s ago, "
                  "more than omni_cluster fail_closed_lag=%T)",
                  s.caught_up ? lag : (time_t) -1, omcf->cluster_lag);

    return NGX_HTTP_SERVICE_UNAVAILABLE;
}


/* omni_jwt_cache off | [size=4096] [bytes=8m] [ttl=5m] */
char *
ngx_http_omni_jwt_cache(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_omni_main_conf_t *omcf = conf;

    time_t      ttl;
    ssize_t     bytes;
    ngx_int_t   n;
    ngx_str_t  *value, s;
    ngx_uint_t  i;

    if (omcf->cache_entries != NGX_CONF_UNSET_UINT) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (cf->args->nelts == 2 && ngx_strcmp(value[1].data, "off") == 0) {
        omcf->cache_entries = 0;
        return NGX_CONF_OK;
    }

    omcf->cache_entries = NGX_HTTP_OMNI_CACHE_ENTRIES;

    for (i = 1; i < cf->args->nelts; i++) {

        if (ngx_strncmp(value[i].data, "size=", 5) == 0) {
            n = ngx_atoi(value[i].data + 5, value[i].len - 5);
            if (n == NGX_ERROR || n < 1 || n > 1024 * 1024) {
                goto invalid;
            }

            omcf->cache_entries = (ngx_uint_t) n;
            continue;
        }

        if (ngx_strncmp(value[i].data, "bytes=", 6) == 0) {
            s.data = value[i].data + 6;
            s.len = value[i].len - 6;

            bytes = ngx_parse_size(&s);
            if (bytes == NGX_ERROR || bytes < 64 * 1024
                || bytes > 1024 * 1024 * 1024)
            {
                goto invalid;
            }

            omcf->cache_bytes = (size_t) bytes;
            continue;
        }

        if (ngx_strncmp(value[i].data, "ttl=", 4) == 0) {
            s.data = value[i].data + 4;
            s.len = value[i].len - 4;

            ttl = ngx_parse_time(&s, 1);
            if (ttl == (time_t) NGX_ERROR || ttl < 1 || ttl > 24 * 60 * 60) {
                goto invalid;
            }

            omcf->cache_ttl = ttl;
            continue;
        }

        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid parameter \"%V\" in \"%V\", expected "
                           "\"off\" or \"size=\", \"bytes=\", \"ttl=\"",
                           &value[i], &cmd->name);
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;

invalid:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "invalid value in \"%V\" of \"%V\" (size=1..1048576, "
                       "bytes=64k..1g, ttl=1s..24h)", &value[i], &cmd->name);
    return NGX_CONF_ERROR;
}
