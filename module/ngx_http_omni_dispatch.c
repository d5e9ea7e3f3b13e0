/*
 * Copyright (C) The omni gateway authors
 *
 * Dispatch: the omni_dispatch_file, omni_dispatch_zone and
 * omni_rate_limit directives, and the rate-limit step of the access
 * pipeline.  The workflow file is compiled once at configuration
 * (omni_dispatch.h); the zone holds the buckets of every worker
 * (omni_limit.h) in nginx's slab pool, kept across reloads; the step
 * takes a token from the bucket of the request's limit and caller (the
 * customer, else the token's subject, else the channel identity) or
 * refuses with 429 rate_limited and Retry-After.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <openssl/rand.h>

#include "ngx_http_omni_module.h"


static ngx_int_t ngx_http_omni_dispatch_init_zone(ngx_shm_zone_t *shm_zone,
    void *data);


/* omni_dispatch_file path: compiled now, so nginx -t lists its errors */
char *
ngx_http_omni_dispatch_file(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_omni_main_conf_t *omcf = conf;

    char                *errors;
    ngx_str_t           *value, text;
    omni_dispatch_t     *d;
    ngx_pool_cleanup_t  *cln;

    if (omcf->dispatch_file.len) {
        return "is duplicate";
    }

    value = cf->args->elts;
    omcf->dispatch_file = value[1];

    if (ngx_http_omni_read_conf_file(cf, &omcf->dispatch_file,
                                     OMNI_DISPATCH_SIZE_MAX, "workflow",
                                     &text)
        != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    d = omni_dispatch_compile((const char *) text.data, text.len, &errors);

    if (d == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid workflow file \"%V\":\n%s",
                           &omcf->dispatch_file,
                           errors ? errors : "out of memory");
        free(errors);
        return NGX_CONF_ERROR;
    }

    cln = ngx_pool_cleanup_add(cf->pool, 0);
    if (cln == NULL) {
        omni_dispatch_free(d);
        return NGX_CONF_ERROR;
    }

    cln->handler = (ngx_pool_cleanup_pt) omni_dispatch_free;
    cln->data = d;

    omcf->dispatch = d;

    return NGX_CONF_OK;
}


/* omni_dispatch_zone size: the rate limits' buckets of every worker */
char *
ngx_http_omni_dispatch_zone(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_omni_main_conf_t *omcf = conf;

    ssize_t     size;
    ngx_str_t  *value, name;

    if (omcf->dispatch_zone) {
        return "is duplicate";
    }

    value = cf->args->elts;

    size = ngx_parse_size(&value[1]);

    if (size == NGX_ERROR || size < (ssize_t) (8 * ngx_pagesize)) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid zone size \"%V\": %uz bytes at least",
                           &value[1], 8 * ngx_pagesize);
        return NGX_CONF_ERROR;
    }

    ngx_str_set(&name, "omni_dispatch");

    omcf->dispatch_zone = ngx_shared_memory_add(cf, &name, (size_t) size,
                                                &ngx_http_omni_module);
    if (omcf->dispatch_zone == NULL) {
        return NGX_CONF_ERROR;
    }

    omcf->dispatch_zone->init = ngx_http_omni_dispatch_init_zone;
    omcf->dispatch_zone->data = omcf;

    return NGX_CONF_OK;
}


/*
 * nginx lays a slab pool at the start of the zone, whose mutex its master
 * releases when a worker dies holding it: the buckets are one allocation
 * of the free pages but one (kept for the pools' counters), found again
 * through the pool's data on a reload, with its size in front.
 */
static ngx_int_t
ngx_http_omni_dispatch_init_zone(ngx_shm_zone_t *shm_zone, void *data)
{
    ngx_http_omni_main_conf_t *omcf = shm_zone->data;

    int               kept;
    size_t            size, *block;
    uint64_t          seed;
    ngx_slab_pool_t  *shpool;

    shpool = (ngx_slab_pool_t *) shm_zone->shm.addr;
    block = shpool->data;

    if (block == NULL) {
        if (shpool->pfree < 2) {
            goto nomem;
        }

        size = (shpool->pfree - 1) * ngx_pagesize;

        block = ngx_slab_alloc(shpool, size);
        if (block == NULL) {
            goto nomem;
        }

        *block = size;
        shpool->data = block;
    }

    if (RAND_bytes((u_char *) &seed, sizeof(seed)) != 1) {
        ngx_log_error(NGX_LOG_EMERG, shm_zone->shm.log, 0,
                      "omni_dispatch_zone: RAND_bytes() failed");
        return NGX_ERROR;
    }

    /* the block's first 8 bytes hold its size: the table follows */
    omcf->limits = omni_limit_init(block + 1, *block - sizeof(size_t), seed,
                                   &kept);
    if (omcf->limits == NULL) {
        goto nomem;
    }

    omcf->dispatch_shpool = shpool;

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, shm_zone->shm.log, 0,
                   "omni: dispatch zone %s, %uz buckets",
                   kept ? "kept" : "laid out",
                   omni_limit_slots(omcf->limits));

    return NGX_OK;

nomem:

    ngx_log_error(NGX_LOG_EMERG, shm_zone->shm.log, 0,
                  "omni_dispatch_zone: no room for the buckets");
    return NGX_ERROR;
}


/*
 * omni_rate_limit on needs the workflow file and the zone where it counts:
 * in a channel's location (set at the server or http level, it applies
 * to the channels below and to nothing else).
 */
char *
ngx_http_omni_dispatch_needed(ngx_conf_t *cf, ngx_http_omni_loc_conf_t *conf)
{
    ngx_http_omni_main_conf_t  *omcf;

    if (!conf->rate_limit || conf->channel.len == 0) {
        return NGX_CONF_OK;
    }

    omcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_omni_module);

    if (omcf->dispatch == NULL || omcf->dispatch_zone == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"omni_rate_limit\" needs \"omni_dispatch_file\" "
                           "and \"omni_dispatch_zone\" at the http level");
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


/*
 * The rate-limit step, once the channel step named the caller: the first
 * limit of the workflow that matches the request's channel, tier and
 * anonymity, and a token from the caller's bucket.  No key (an anonymous
 * request with no identity) is not limited here: nginx's limit_req by
 * address is for those.
 */
ngx_int_t
ngx_http_omni_limit_step(ngx_http_request_t *r, ngx_http_omni_ctx_t *ctx,
    ngx_http_omni_loc_conf_t *olcf)
{
    int                           kind;
    size_t                        a_len, b_len;
    uint64_t                      hash, now, wait;
    const char                   *a, *b;
    omni_limit_rc_t               rc;
    const omni_dispatch_limit_t  *limit;
    ngx_http_omni_main_conf_t    *omcf;

    if (!olcf->rate_limit || olcf->channel.len == 0) {
        return NGX_OK;
    }

    omcf = ngx_http_get_module_main_conf(r, ngx_http_omni_module);

    limit = omni_dispatch_limit(omcf->dispatch,
                                (const char *) olcf->channel.data,
                                (const char *) ctx->tier.data,
                                !ctx->authenticated);

    if (limit == NULL || limit->unlimited || omcf->limits == NULL) {
        ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "omni: rate limit: %s",
                       limit ? "unlimited" : "no limit matches");
        return NGX_OK;
    }

    ctx->limit_id = limit->id;
    b = NULL;
    b_len = 0;

    if (ctx->customer.len) {
        kind = 'c';
        a = (const char *) ctx->customer.data;
        a_len = ctx->customer.len;

    } else if (ctx->authenticated && ctx->token.sub) {
        kind = 's';
        a = ctx->token.sub;
        a_len = ngx_strlen(ctx->token.sub);

    } else if (ctx->identity.name.len) {
        kind = 'i';
        a = ctx->identity.name.data;
        a_len = ctx->identity.name.len;
        b = ctx->identity.value.data;
        b_len = ctx->identity.value.len;

    } else {
        ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "omni: rate limit \"%s\": no caller to count",
                       limit->id);
        return NGX_OK;
    }

    hash = omni_limit_hash(omcf->limits, limit->id, ngx_strlen(limit->id),
                           kind, a, a_len, b, b_len);
    now = ngx_http_omni_clock_ns() / 1000;
    wait = 0;

    ngx_shmtx_lock(&omcf->dispatch_shpool->mutex);

    rc = omni_limit_take(omcf->limits, hash, now, limit->interval_us,
                         limit->tolerance_us, &wait);

    ngx_shmtx_unlock(&omcf->dispatch_shpool->mutex);

    ngx_log_debug3(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "omni: rate limit \"%s\" by %c: %s", limit->id, kind,
                   rc == OMNI_LIMIT_PASS ? "pass"
                   : rc == OMNI_LIMIT_OVER ? "over" : "untracked");

    if (rc == OMNI_LIMIT_PASS) {
        return NGX_OK;
    }

    if (rc == OMNI_LIMIT_UNTRACKED) {
        ctx->limit_untracked = 1;

        ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                      "omni: rate limit \"%s\": omni_dispatch_zone is full, "
                      "the request passes uncounted", limit->id);
        return NGX_OK;
    }

    ctx->retry_after = (time_t) ((wait + 999999) / 1000000);

    /* the error page is ours to render, not a reply of the service */
    ctx->render = 0;

    ctx->error.status = NGX_HTTP_TOO_MANY_REQUESTS;
    ctx->error.code = "rate_limited";
    ctx->error.message = "too many requests: retry later";

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "omni: rate_limited by \"%s\" on channel \"%V\", retry in "
                  "%T s", limit->id, &olcf->channel, ctx->retry_after);

    return NGX_HTTP_TOO_MANY_REQUESTS;
}


/* Retry-After on a refusal that says when to come back */
ngx_int_t
ngx_http_omni_retry_after(ngx_http_request_t *r, ngx_http_omni_ctx_t *ctx)
{
    ngx_table_elt_t  *h;

    if (ctx->retry_after == 0) {
        return NGX_OK;
    }

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    h->value.data = ngx_pnalloc(r->pool, NGX_TIME_T_LEN);
    if (h->value.data == NULL) {
        return NGX_ERROR;
    }

    h->hash = 1;
    ngx_str_set(&h->key, "Retry-After");
    h->value.len = ngx_sprintf(h->value.data, "%T", ctx->retry_after)
                   - h->value.data;

    return NGX_OK;
}
