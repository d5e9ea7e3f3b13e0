/*
 * Copyright (C) The omni gateway authors
 *
 * Dispatch: the omni_dispatch_file, omni_dispatch_zone, omni_rate_limit
 * and omni_dispatch directives, and two steps of the access pipeline.
 * The workflow file is compiled once at configuration (omni_dispatch.h);
 * the zone, in nginx's slab pool and kept across reloads, holds the
 * buckets of every worker (omni_limit.h) and the requests in flight per
 * pool.  The rate-limit step takes a token from the bucket of the
 * request's limit and caller (the customer, else the token's subject,
 * else the channel identity) or refuses with 429 rate_limited and
 * Retry-After; the dispatch step decides the pool ($omni_pool), counts the
 * request in flight there until the request ends, or refuses with 503
 * no_capacity.
 *
 * Affinity: the pool that last served the caller (as a rate limit names
 * it), kept in the zone for the workflow's affinity_seconds
 * (omni_limit.h), preferred when it is one of the rule's targets.
 *
 * In flight: a total per pool, found by the pool's name (a reload that
 * reorders pools keeps counting right), and each worker's share in a
 * slot of its own, so that the share of a worker that died is taken off
 * the totals by the next worker that starts.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <openssl/rand.h>

#include "ngx_http_omni_module.h"


#define NGX_HTTP_OMNI_FLIGHT_SLOTS    64      /* workers, old and new */
#define NGX_HTTP_OMNI_NO_CAPACITY_RETRY  5   /* s, Retry-After of a 503 */
#define NGX_HTTP_OMNI_DISPATCH_TRIES  4      /* decisions raced by others */
#define NGX_HTTP_OMNI_PAIR_LEN                                                \
    (OMNI_DISPATCH_ID_MAX + 1 + OMNI_DISPATCH_CHANNEL_MAX + 1)


typedef struct {
    ngx_pid_t                   pid;        /* 0: free */
    ngx_atomic_t                count[OMNI_DISPATCH_POOLS_MAX];
    ngx_atomic_t                pair[NGX_HTTP_OMNI_PAIRS];
} ngx_http_omni_flight_slot_t;


/* the zone's own data, shpool->data */
typedef struct {
    void                       *limits_mem;
    size_t                      limits_size;
    void                       *affinity_mem;
    size_t                      affinity_size;
    char                        pool[OMNI_DISPATCH_POOLS_MAX]
                                    [OMNI_DISPATCH_ID_MAX + 1];
    ngx_atomic_t                total[OMNI_DISPATCH_POOLS_MAX];
    ngx_atomic_t                live[OMNI_DISPATCH_POOLS_MAX];  /* capacity
                                                   set live + 1; 0: the
                                                   file's */
    /* a pool's channel with a capacity of its own: "pool/channel" */
    char                        pair[NGX_HTTP_OMNI_PAIRS]
                                    [NGX_HTTP_OMNI_PAIR_LEN];
    ngx_atomic_t                pair_total[NGX_HTTP_OMNI_PAIRS];
    ngx_atomic_t                pair_live[NGX_HTTP_OMNI_PAIRS];
    ngx_http_omni_flight_slot_t slot[NGX_HTTP_OMNI_FLIGHT_SLOTS];
} ngx_http_omni_dispatch_shm_t;


/* a request counted in flight: the zone's pool and pair (-1: none) */
typedef struct {
    ngx_http_omni_main_conf_t  *omcf;
    ngx_int_t                   pool;
    ngx_int_t                   pair;
} ngx_http_omni_flight_t;


static ngx_int_t ngx_http_omni_dispatch_init_zone(ngx_shm_zone_t *shm_zone,
    void *data);
static int ngx_http_omni_caller(ngx_http_omni_ctx_t *ctx, const char **a,
    size_t *a_len, const char **b, size_t *b_len);
static int ngx_http_omni_affinity(ngx_http_omni_main_conf_t *omcf,
    ngx_http_omni_workflow_t *w, ngx_http_omni_ctx_t *ctx, uint64_t *hash);
static void ngx_http_omni_flight_done(void *data);
static ngx_int_t ngx_http_omni_flight_take(ngx_http_omni_workflow_t *w,
    ngx_http_omni_flight_t *f, ngx_uint_t pool, ngx_int_t c, uint32_t max,
    uint32_t channel_max);
static ngx_int_t ngx_http_omni_atomic_take(ngx_atomic_t *n, uint32_t max);
static ngx_int_t ngx_http_omni_zone_name(char *table, size_t width,
    ngx_uint_t n, const char *name);
static uint32_t ngx_http_omni_count(ngx_atomic_int_t n);
static uint32_t ngx_http_omni_live(ngx_atomic_int_t live, uint32_t capacity);
static void ngx_http_omni_reclaim(ngx_log_t *log,
    ngx_http_omni_dispatch_shm_t *shm, ngx_http_omni_flight_slot_t *slot);
static ngx_int_t ngx_http_omni_pool_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static ngx_int_t ngx_http_omni_dispatch_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);


static ngx_http_variable_t  ngx_http_omni_dispatch_vars[] = {

    { ngx_string("omni_pool"), NULL, ngx_http_omni_pool_variable, 0,
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("omni_dispatch"), NULL, ngx_http_omni_dispatch_variable, 0,
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

      ngx_http_null_variable
};


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

    /* kept for the workers, which seed the store with it */
    omcf->dispatch_file_text.data = ngx_pnalloc(cf->pool, text.len);
    if (omcf->dispatch_file_text.data == NULL) {
        return NGX_CONF_ERROR;
    }

    ngx_memcpy(omcf->dispatch_file_text.data, text.data, text.len);
    omcf->dispatch_file_text.len = text.len;

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

    if (size == NGX_ERROR || size < (ssize_t) (32 * ngx_pagesize)) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid zone size \"%V\": %uz bytes at least",
                           &value[1], 32 * ngx_pagesize);
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
 * releases when a worker dies holding it: the zone's data is one
 * allocation (the pools in flight), and the buckets another of the free
 * pages but one, found again through the pool's data on a reload.
 */
static ngx_int_t
ngx_http_omni_dispatch_init_zone(ngx_shm_zone_t *shm_zone, void *data)
{
    ngx_http_omni_main_conf_t *omcf = shm_zone->data;

    int                            kept;
    uint64_t                       seed;
    ngx_slab_pool_t               *shpool;
    ngx_http_omni_dispatch_shm_t  *shm;

    shpool = (ngx_slab_pool_t *) shm_zone->shm.addr;
    shm = shpool->data;

    if (shm == NULL) {
        shm = ngx_slab_calloc(shpool, sizeof(ngx_http_omni_dispatch_shm_t));
        if (shm == NULL || shpool->pfree < 2) {
            goto nomem;
        }

        /* half the pages for the buckets, the others but one for affinity */
        shm->limits_size = (shpool->pfree / 2) * ngx_pagesize;
        shm->affinity_size = (shpool->pfree - shpool->pfree / 2 - 1)
                             * ngx_pagesize;

        shm->limits_mem = ngx_slab_alloc(shpool, shm->limits_size);
        shm->affinity_mem = ngx_slab_alloc(shpool, shm->affinity_size);
        if (shm->limits_mem == NULL || shm->affinity_mem == NULL) {
            goto nomem;
        }

        shpool->data = shm;
    }

    if (RAND_bytes((u_char *) &seed, sizeof(seed)) != 1) {
        ngx_log_error(NGX_LOG_EMERG, shm_zone->shm.log, 0,
                      "omni_dispatch_zone: RAND_bytes() failed");
        return NGX_ERROR;
    }

    omcf->limits = omni_limit_init(shm->limits_mem, shm->limits_size, seed,
                                   &kept);
    omcf->affinity = omni_affinity_init(shm->affinity_mem, shm->affinity_size,
                                        seed, &kept);
    if (omcf->limits == NULL || omcf->affinity == NULL) {
        goto nomem;
    }

    omcf->dispatch_shpool = shpool;
    omcf->dispatch_shm = shm;

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
 * omni_rate_limit and omni_dispatch on need the workflow file and the
 * zone where they count, dispatch pools too: in a channel's location (set
 * at the server or http level, they apply to the channels below and to
 * nothing else).
 */
char *
ngx_http_omni_dispatch_needed(ngx_conf_t *cf, ngx_http_omni_loc_conf_t *conf)
{
    ngx_http_omni_main_conf_t  *omcf;

    if ((!conf->rate_limit && !conf->dispatch) || conf->channel.len == 0) {
        return NGX_CONF_OK;
    }

    omcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_omni_module);

    if (omcf->dispatch == NULL || omcf->dispatch_zone == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%s\" needs \"omni_dispatch_file\" and "
                           "\"omni_dispatch_zone\" at the http level",
                           conf->rate_limit ? "omni_rate_limit"
                                            : "omni_dispatch");
        return NGX_CONF_ERROR;
    }

    if (conf->dispatch && omcf->dispatch->npools == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"omni_dispatch\" needs pools in the workflow "
                           "file \"%V\"", &omcf->dispatch_file);
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
    ngx_http_omni_workflow_t     *w;
    ngx_http_omni_main_conf_t    *omcf;

    if (!olcf->rate_limit || olcf->channel.len == 0) {
        return NGX_OK;
    }

    omcf = ngx_http_get_module_main_conf(r, ngx_http_omni_module);

    w = ngx_http_omni_workflow(r, ctx);
    if (w == NULL) {
        return NGX_ERROR;
    }

    limit = omni_dispatch_limit(w->dispatch,
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

    kind = ngx_http_omni_caller(ctx, &a, &a_len, &b, &b_len);

    if (kind == 0) {
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


/*
 * Who the caller is, for its bucket and its affinity: the customer, else
 * the token's subject, else the plugin's first identity (type and value);
 * the kind's letter, or 0 for none.
 */
static int
ngx_http_omni_caller(ngx_http_omni_ctx_t *ctx, const char **a, size_t *a_len,
    const char **b, size_t *b_len)
{
    *b = NULL;
    *b_len = 0;

    if (ctx->customer.len) {
        *a = (const char *) ctx->customer.data;
        *a_len = ctx->customer.len;
        return 'c';
    }

    if (ctx->authenticated && ctx->token.sub) {
        *a = ctx->token.sub;
        *a_len = ngx_strlen(ctx->token.sub);
        return 's';
    }

    if (ctx->identity.name.len) {
        *a = ctx->identity.name.data;
        *a_len = ctx->identity.name.len;
        *b = ctx->identity.value.data;
        *b_len = ctx->identity.value.len;
        return 'i';
    }

    return 0;
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


/*
 * Every pool of the workflow is an upstream{} block, so that
 * proxy_pass http://$omni_pool never falls back to a name lookup, and
 * omni_dispatch_balancer has a block to hand each request to.
 */
ngx_int_t
ngx_http_omni_dispatch_init_conf(ngx_conf_t *cf,
    ngx_http_omni_main_conf_t *omcf)
{
    ngx_http_upstream_main_conf_t  *umcf;

    if (omcf->dispatch == NULL || omcf->dispatch->npools == 0) {
        return NGX_OK;
    }

    umcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_upstream_module);

    return ngx_http_omni_dispatch_upstreams(cf->log, umcf, omcf->dispatch,
                                            &omcf->dispatch_file, NULL);
}


/*
 * NGX_ERROR, logged, when a pool of d names an upstream that no
 * upstream{} block defines, or one with omni_dispatch_balancer (which
 * would hand the request back to itself): at configuration (source: the
 * file, an emerg) or for a store revision in a worker (source NULL, an
 * error).  Each pool's block goes to found[i] unless found is NULL.
 */
ngx_int_t
ngx_http_omni_dispatch_upstreams(ngx_log_t *log,
    ngx_http_upstream_main_conf_t *umcf, const omni_dispatch_t *d,
    ngx_str_t *source, ngx_http_upstream_srv_conf_t **found)
{
    size_t                          len;
    ngx_uint_t                      i, j, level;
    const char                     *name, *why;
    ngx_http_upstream_srv_conf_t  **uscfp;

    uscfp = umcf->upstreams.elts;

    for (i = 0; i < d->npools; i++) {
        name = d->pools[i].upstream;
        len = ngx_strlen(name);

        for (j = 0; j < umcf->upstreams.nelts; j++) {
            if ((uscfp[j]->flags & NGX_HTTP_UPSTREAM_CREATE)
                && uscfp[j]->host.len == len
                && ngx_strncasecmp(uscfp[j]->host.data, (u_char *) name, len)
                   == 0)
            {
                break;
            }
        }

        if (j == umcf->upstreams.nelts) {
            why = "which no upstream{} block defines";

        } else if (ngx_http_omni_balancer_is(uscfp[j])) {
            why = "whose block balances by the pools "
                  "(omni_dispatch_balancer)";

        } else {
            if (found) {
                found[i] = uscfp[j];
            }

            continue;
        }

        level = source ? NGX_LOG_EMERG : NGX_LOG_ERR;

        if (source) {
            ngx_log_error(level, log, 0,
                          "workflow file \"%V\": pool \"%s\" names the "
                          "upstream \"%s\", %s", source, d->pools[i].name,
                          name, why);

        } else {
            ngx_log_error(level, log, 0,
                          "omni: workflow pool \"%s\" names the upstream "
                          "\"%s\", %s", d->pools[i].name, name, why);
        }

        return NGX_ERROR;
    }

    return NGX_OK;
}


ngx_int_t
ngx_http_omni_dispatch_add_variables(ngx_conf_t *cf)
{
    return ngx_http_omni_add_variable_table(cf, ngx_http_omni_dispatch_vars);
}


/*
 * A worker's slot of the pools in flight: the shares of workers that died
 * are taken off the totals first, then a free slot is this worker's.
 */
void
ngx_http_omni_dispatch_init_worker(ngx_cycle_t *cycle,
    ngx_http_omni_main_conf_t *omcf)
{
    ngx_uint_t                     i, free;
    ngx_http_omni_flight_slot_t   *slot;
    ngx_http_omni_dispatch_shm_t  *shm;

    shm = omcf->dispatch_shm;
    omcf->flight_slot = -1;

    if (shm == NULL || omcf->dispatch == NULL
        || omcf->dispatch->npools == 0)
    {
        return;
    }

    ngx_shmtx_lock(&omcf->dispatch_shpool->mutex);

    free = NGX_HTTP_OMNI_FLIGHT_SLOTS;

    for (i = 0; i < NGX_HTTP_OMNI_FLIGHT_SLOTS; i++) {
        slot = &shm->slot[i];

        if (slot->pid != 0 && kill(slot->pid, 0) == -1 && errno == ESRCH) {
            ngx_http_omni_reclaim(cycle->log, shm, slot);
        }

        if (slot->pid == 0 && free == NGX_HTTP_OMNI_FLIGHT_SLOTS) {
            free = i;
        }
    }

    if (free < NGX_HTTP_OMNI_FLIGHT_SLOTS) {
        shm->slot[free].pid = ngx_pid;
        omcf->flight_slot = (ngx_int_t) free;
    }

    ngx_shmtx_unlock(&omcf->dispatch_shpool->mutex);

    if (omcf->flight_slot < 0) {
        ngx_log_error(NGX_LOG_ALERT, cycle->log, 0,
                      "omni: omni_dispatch_zone has no slot left for this "
                      "worker: its requests are not counted in flight");
    }
}


/*
 * What a worker still counted, taken off the totals: a dead one's
 * (logged), or its own at a graceful exit (log NULL).  The zone's mutex
 * is held.
 */
static void
ngx_http_omni_reclaim(ngx_log_t *log, ngx_http_omni_dispatch_shm_t *shm,
    ngx_http_omni_flight_slot_t *slot)
{
    ngx_uint_t  j;

    for (j = 0; j < OMNI_DISPATCH_POOLS_MAX; j++) {
        if (slot->count[j] == 0) {
            continue;
        }

        if (log) {
            ngx_log_error(NGX_LOG_NOTICE, log, 0,
                          "omni: worker %P died with %uA requests in flight "
                          "to pool \"%s\": no longer counted", slot->pid,
                          slot->count[j], shm->pool[j]);
        }

        (void) ngx_atomic_fetch_add(&shm->total[j], -slot->count[j]);
        slot->count[j] = 0;
    }

    for (j = 0; j < NGX_HTTP_OMNI_PAIRS; j++) {
        if (slot->pair[j]) {
            (void) ngx_atomic_fetch_add(&shm->pair_total[j], -slot->pair[j]);
            slot->pair[j] = 0;
        }
    }

    slot->pid = 0;
}


/*
 * Where the zone counts each pool of a workflow, and each pool's channel
 * with a capacity of its own: found by name, or given a place (-1: the
 * zone is full of names, or there is no zone).
 */
void
ngx_http_omni_dispatch_index(ngx_log_t *log, ngx_http_omni_main_conf_t *omcf,
    ngx_http_omni_workflow_t *w)
{
    ngx_uint_t                     i, c;
    const omni_dispatch_t         *d;
    const omni_dispatch_pool_t    *pool;
    ngx_http_omni_dispatch_shm_t  *shm;
    u_char                         pair[NGX_HTTP_OMNI_PAIR_LEN];

    shm = omcf->dispatch_shm;
    d = w->dispatch;

    for (i = 0; i < d->npools; i++) {
        w->pool_index[i] = -1;

        for (c = 0; c < OMNI_DISPATCH_NAMES_MAX; c++) {
            w->pair_index[i][c] = -1;
        }
    }

    if (shm == NULL || d->npools == 0) {
        return;
    }

    ngx_shmtx_lock(&omcf->dispatch_shpool->mutex);

    for (i = 0; i < d->npools; i++) {
        pool = &d->pools[i];

        w->pool_index[i] = ngx_http_omni_zone_name(&shm->pool[0][0],
                                                   sizeof(shm->pool[0]),
                                                   OMNI_DISPATCH_POOLS_MAX,
                                                   pool->name);

        for (c = 0; c < pool->nchannels; c++) {
            ngx_snprintf(pair, sizeof(pair), "%s/%s%Z", pool->name,
                         pool->channels[c]);

            w->pair_index[i][c] = ngx_http_omni_zone_name(&shm->pair[0][0],
                                                          sizeof(shm->pair[0]),
                                                          NGX_HTTP_OMNI_PAIRS,
                                                          (char *) pair);
        }
    }

    ngx_shmtx_unlock(&omcf->dispatch_shpool->mutex);

    for (i = 0; i < d->npools; i++) {
        pool = &d->pools[i];

        if (w->pool_index[i] < 0) {
            ngx_log_error(NGX_LOG_ALERT, log, 0,
                          "omni: omni_dispatch_zone has seen %d pools, "
                          "pool \"%s\" is not counted in flight",
                          OMNI_DISPATCH_POOLS_MAX, pool->name);
        }

        for (c = 0; c < pool->nchannels; c++) {
            if (w->pair_index[i][c] < 0) {
                ngx_log_error(NGX_LOG_ALERT, log, 0,
                              "omni: omni_dispatch_zone has seen %d pools' "
                              "channels, pool \"%s\" on \"%s\" is not "
                              "counted in flight", NGX_HTTP_OMNI_PAIRS,
                              pool->name, pool->channels[c]);
            }
        }
    }
}


/*
 * The place of name in a table of n names of width bytes each, the first
 * free one taken when it is not there yet; -1 when the table is full.
 */
static ngx_int_t
ngx_http_omni_zone_name(char *table, size_t width, ngx_uint_t n,
    const char *name)
{
    char        *e;
    size_t       len;
    ngx_uint_t   j;

    len = ngx_strlen(name) + 1;

    for (j = 0; j < n; j++) {
        e = table + j * width;

        if (e[0] == '\0') {
            ngx_memcpy(e, name, len);
        }

        if (ngx_strcmp(e, name) == 0) {
            return (ngx_int_t) j;
        }
    }

    return -1;
}


/* at a graceful exit, whatever is still counted is given back */
void
ngx_http_omni_dispatch_exit_worker(ngx_http_omni_main_conf_t *omcf)
{
    ngx_http_omni_flight_slot_t   *slot;
    ngx_http_omni_dispatch_shm_t  *shm;

    shm = omcf->dispatch_shm;

    if (shm == NULL || omcf->flight_slot < 0) {
        return;
    }

    slot = &shm->slot[omcf->flight_slot];

    ngx_shmtx_lock(&omcf->dispatch_shpool->mutex);
    ngx_http_omni_reclaim(NULL, shm, slot);
    ngx_shmtx_unlock(&omcf->dispatch_shpool->mutex);

    omcf->flight_slot = -1;
}


/*
 * The dispatch step, once the policy allowed the request: the workflow
 * decides on the pools' totals in flight; the request is counted in its
 * pool if the pool still has room (another worker may have taken it
 * since), else decided again.
 */
ngx_int_t
ngx_http_omni_dispatch_step(ngx_http_request_t *r, ngx_http_omni_ctx_t *ctx,
    ngx_http_omni_loc_conf_t *olcf)
{
    int                            rule;
    uint64_t                       hash;
    ngx_int_t                      z, c;
    ngx_uint_t                     try;
    uint32_t                       max, channel_max;
    uint32_t                       in_flight[OMNI_DISPATCH_POOLS_MAX];
    uint32_t                       capacity[OMNI_DISPATCH_POOLS_MAX];
    uint32_t                       ch_flight[OMNI_DISPATCH_POOLS_MAX];
    uint32_t                       ch_capacity[OMNI_DISPATCH_POOLS_MAX];
    omni_dispatch_req_t            q;
    ngx_pool_cleanup_t            *cln;
    ngx_http_omni_flight_t        *f;
    omni_dispatch_decision_t       d;
    ngx_http_omni_workflow_t      *w;
    ngx_http_omni_main_conf_t     *omcf;
    const omni_dispatch_pool_t    *pool;
    const omni_dispatch_target_t  *t;

    /* a case query the gateway answers itself needs no pool */
    if (!olcf->dispatch || olcf->channel.len == 0 || ctx->pool
        || ctx->case_reply.len)
    {
        return NGX_OK;
    }

    omcf = ngx_http_get_module_main_conf(r, ngx_http_omni_module);

    w = ngx_http_omni_workflow(r, ctx);
    if (w == NULL) {
        return NGX_ERROR;
    }

    /* the handler is set once the request is counted */
    cln = ngx_pool_cleanup_add(r->pool, sizeof(ngx_http_omni_flight_t));
    if (cln == NULL) {
        return NGX_ERROR;
    }

    f = cln->data;
    f->omcf = omcf;

    q.channel = (const char *) olcf->channel.data;
    q.action = (const char *) ctx->action.data;
    q.tier = (const char *) ctx->tier.data;
    q.anonymous = !ctx->authenticated;
    q.open_case = (ctx->open_cases > 0);
    q.intent = (const char *) ctx->intent.data;
    q.confidence = ctx->intent.len
                   ? (ctx->confidence >= 0 ? ctx->confidence : 1.0)
                   : OMNI_DISPATCH_NO_CONFIDENCE;
    q.affinity = ngx_http_omni_affinity(omcf, w, ctx, &hash);
    q.capacity = capacity;
    q.channel_in_flight = ch_flight;
    q.channel_capacity = ch_capacity;

    for (try = 0; try < NGX_HTTP_OMNI_DISPATCH_TRIES; try++) {

        ngx_http_omni_pools_now(omcf, w, q.channel, in_flight, capacity,
                                ch_flight, ch_capacity);

        rule = omni_dispatch_decide(w->dispatch, &q, in_flight, &d);

        if (d.pool < 0) {
            break;
        }

        /* the limits omni_dispatch_decide() checked, taken atomically */
        pool = &w->dispatch->pools[d.pool];
        t = &w->dispatch->rules[rule].targets[d.step];
        c = pool->nchannels ? omni_dispatch_pool_channel(pool, q.channel)
                            : -1;
        max = capacity[d.pool];
        channel_max = ch_capacity[d.pool];

        if (t->in_flight_below && c >= 0) {
            channel_max = ngx_min(channel_max, t->in_flight_below);

        } else if (t->in_flight_below) {
            max = ngx_min(max, t->in_flight_below);
        }

        if (ngx_http_omni_flight_take(w, f, (ngx_uint_t) d.pool, c, max,
                                      channel_max)
            == NGX_OK)
        {
            break;
        }
    }

    ctx->dispatch_rule = d.rule;
    ctx->dispatch_step = d.step;
    ctx->dispatch_reason = omni_dispatch_reason(d.reason);

    ngx_log_debug4(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "omni: dispatch rule \"%s\", step %d, %s, pool %d",
                   d.rule, d.step, ctx->dispatch_reason, d.pool);

    if (d.pool < 0 || try == NGX_HTTP_OMNI_DISPATCH_TRIES) {
        ctx->dispatch_reason = "no_capacity";
        ctx->retry_after = NGX_HTTP_OMNI_NO_CAPACITY_RETRY;
        ctx->render = 0;
        ctx->error.status = NGX_HTTP_SERVICE_UNAVAILABLE;
        ctx->error.code = "no_capacity";
        ctx->error.message = "every desk is busy: retry shortly";

        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "omni: no_capacity: rule \"%s\" on channel \"%V\", "
                      "every target full", d.rule, &olcf->channel);

        return NGX_HTTP_SERVICE_UNAVAILABLE;
    }

    ctx->pool = (ngx_uint_t) d.pool + 1;

    /* the decision, for the record: names from the workflow, no caller */
    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "omni: dispatched to pool \"%s\" by rule \"%s\", step %d, "
                  "%s, channel \"%V\"", w->dispatch->pools[d.pool].name,
                  d.rule, d.step, ctx->dispatch_reason, &olcf->channel);

    z = w->pool_index[d.pool];

    /* the last pool, its time refreshed */
    if (hash && z >= 0) {
        ngx_shmtx_lock(&omcf->dispatch_shpool->mutex);
        omni_affinity_set(omcf->affinity, hash, (uint32_t) z,
                          (uint32_t) ngx_time());
        ngx_shmtx_unlock(&omcf->dispatch_shpool->mutex);
    }

    if (f->pool >= 0) {
        cln->handler = ngx_http_omni_flight_done;
    }

    return NGX_OK;
}


/*
 * The pool (the workflow's index) that last served the caller, or -1;
 * *hash the caller's, or 0 without a caller or affinity.
 */
static int
ngx_http_omni_affinity(ngx_http_omni_main_conf_t *omcf,
    ngx_http_omni_workflow_t *w, ngx_http_omni_ctx_t *ctx, uint64_t *hash)
{
    int          kind, z;
    size_t       a_len, b_len;
    ngx_uint_t   i;
    const char  *a, *b;

    *hash = 0;

    if (omcf->affinity == NULL || w->dispatch->affinity_seconds == 0) {
        return -1;
    }

    kind = ngx_http_omni_caller(ctx, &a, &a_len, &b, &b_len);
    if (kind == 0) {
        return -1;
    }

    *hash = omni_affinity_hash(omcf->affinity, kind, a, a_len, b, b_len);

    ngx_shmtx_lock(&omcf->dispatch_shpool->mutex);
    z = omni_affinity_get(omcf->affinity, *hash, (uint32_t) ngx_time(),
                          w->dispatch->affinity_seconds);
    ngx_shmtx_unlock(&omcf->dispatch_shpool->mutex);

    if (z < 0) {
        return -1;
    }

    for (i = 0; i < w->dispatch->npools; i++) {
        if (w->pool_index[i] == z) {
            return (int) i;
        }
    }

    return -1;
}


/*
 * One more in flight in the workflow's pool if fewer than max are, and on
 * its channel c (-1: none of its own) if fewer than channel_max are; f
 * says what was counted (f->pool -1: nothing, the zone does not count
 * this pool or this worker).
 */
static ngx_int_t
ngx_http_omni_flight_take(ngx_http_omni_workflow_t *w,
    ngx_http_omni_flight_t *f, ngx_uint_t pool, ngx_int_t c, uint32_t max,
    uint32_t channel_max)
{
    ngx_int_t                      z, pz;
    ngx_http_omni_flight_slot_t   *slot;
    ngx_http_omni_dispatch_shm_t  *shm;

    shm = f->omcf->dispatch_shm;
    z = w->pool_index[pool];
    pz = (c >= 0) ? w->pair_index[pool][c] : -1;

    f->pool = -1;
    f->pair = -1;

    if (z < 0 || f->omcf->flight_slot < 0) {
        return NGX_OK;
    }

    if (ngx_http_omni_atomic_take(&shm->total[z], max) != NGX_OK) {
        return NGX_BUSY;
    }

    if (pz >= 0
        && ngx_http_omni_atomic_take(&shm->pair_total[pz], channel_max)
           != NGX_OK)
    {
        (void) ngx_atomic_fetch_add(&shm->total[z], -1);
        return NGX_BUSY;
    }

    slot = &shm->slot[f->omcf->flight_slot];

    (void) ngx_atomic_fetch_add(&slot->count[z], 1);

    if (pz >= 0) {
        (void) ngx_atomic_fetch_add(&slot->pair[pz], 1);
    }

    f->pool = z;
    f->pair = pz;

    return NGX_OK;
}


/* one more in n if fewer than max are there, by compare-and-swap */
static ngx_int_t
ngx_http_omni_atomic_take(ngx_atomic_t *n, uint32_t max)
{
    ngx_atomic_uint_t  v;

    for ( ;; ) {
        v = *n;

        if (v >= max) {
            return NGX_BUSY;
        }

        if (ngx_atomic_cmp_set(n, v, v + 1)) {
            return NGX_OK;
        }
    }
}


/* the request's end, however it ends */
static void
ngx_http_omni_flight_done(void *data)
{
    ngx_http_omni_flight_t *f = data;

    ngx_http_omni_flight_slot_t   *slot;
    ngx_http_omni_dispatch_shm_t  *shm;

    shm = f->omcf->dispatch_shm;

    if (shm == NULL || f->omcf->flight_slot < 0) {
        return;
    }

    slot = &shm->slot[f->omcf->flight_slot];

    (void) ngx_atomic_fetch_add(&shm->total[f->pool], -1);
    (void) ngx_atomic_fetch_add(&slot->count[f->pool], -1);

    if (f->pair >= 0) {
        (void) ngx_atomic_fetch_add(&shm->pair_total[f->pair], -1);
        (void) ngx_atomic_fetch_add(&slot->pair[f->pair], -1);
    }
}


/*
 * The pools of the workflow as the zone has them now: requests in flight
 * (a total below zero read as none) and capacities (set live, else the
 * workflow's); and with channel, for each pool with a capacity on that
 * channel, its requests in flight and its capacity there (else none and
 * UINT32_MAX).
 */
void
ngx_http_omni_pools_now(ngx_http_omni_main_conf_t *omcf,
    ngx_http_omni_workflow_t *w, const char *channel, uint32_t *in_flight,
    uint32_t *capacity, uint32_t *channel_in_flight,
    uint32_t *channel_capacity)
{
    int                            c;
    ngx_int_t                      z;
    ngx_uint_t                     i;
    const omni_dispatch_pool_t    *pool;
    ngx_http_omni_dispatch_shm_t  *shm;

    shm = omcf->dispatch_shm;

    for (i = 0; i < w->dispatch->npools; i++) {
        pool = &w->dispatch->pools[i];
        z = w->pool_index[i];

        in_flight[i] = (z < 0) ? 0 : ngx_http_omni_count(shm->total[z]);
        capacity[i] = (z < 0) ? pool->capacity
                              : ngx_http_omni_live(shm->live[z],
                                                   pool->capacity);

        if (channel == NULL) {
            continue;
        }

        c = pool->nchannels ? omni_dispatch_pool_channel(pool, channel) : -1;

        if (c < 0) {
            channel_in_flight[i] = 0;
            channel_capacity[i] = UINT32_MAX;

        } else {
            ngx_http_omni_pair_now(omcf, w, i, c, &channel_in_flight[i],
                                   &channel_capacity[i]);
        }
    }
}


/* pool i's requests in flight on its channel c now, and its capacity */
void
ngx_http_omni_pair_now(ngx_http_omni_main_conf_t *omcf,
    ngx_http_omni_workflow_t *w, ngx_uint_t i, ngx_uint_t c,
    uint32_t *in_flight, uint32_t *capacity)
{
    ngx_int_t                      z;
    const omni_dispatch_pool_t    *pool;
    ngx_http_omni_dispatch_shm_t  *shm;

    shm = omcf->dispatch_shm;
    pool = &w->dispatch->pools[i];
    z = w->pair_index[i][c];

    *in_flight = (z < 0) ? 0 : ngx_http_omni_count(shm->pair_total[z]);
    *capacity = (z < 0) ? pool->channel_capacity[c]
                        : ngx_http_omni_live(shm->pair_live[z],
                                             pool->channel_capacity[c]);
}


/*
 * A pool's capacity set live, or its capacity on its channel c (-1: the
 * pool's own): capacity + 1 kept, 0 back to the workflow's (capacity
 * -1); NGX_DECLINED when the zone does not count that pool or channel.
 */
ngx_int_t
ngx_http_omni_pool_set_capacity(ngx_http_omni_main_conf_t *omcf,
    ngx_http_omni_workflow_t *w, ngx_uint_t i, ngx_int_t c,
    ngx_int_t capacity)
{
    ngx_int_t                      z;
    ngx_atomic_t                  *live;
    ngx_http_omni_dispatch_shm_t  *shm;

    shm = omcf->dispatch_shm;

    if (shm == NULL || i >= w->dispatch->npools) {
        return NGX_DECLINED;
    }

    z = (c < 0) ? w->pool_index[i] : w->pair_index[i][c];

    if (z < 0) {
        return NGX_DECLINED;
    }

    live = (c < 0) ? &shm->live[z] : &shm->pair_live[z];
    *live = (capacity < 0) ? 0 : (ngx_atomic_uint_t) capacity + 1;

    return NGX_OK;
}


/* a total in the zone, below zero read as none */
static uint32_t
ngx_http_omni_count(ngx_atomic_int_t n)
{
    return (n <= 0) ? 0 : (uint32_t) n;
}


/* a capacity set live (+ 1), else the workflow's */
static uint32_t
ngx_http_omni_live(ngx_atomic_int_t live, uint32_t capacity)
{
    return (live <= 0) ? capacity : (uint32_t) (live - 1);
}


/* $omni_pool: the upstream of the pool the request was dispatched to */
static ngx_int_t
ngx_http_omni_pool_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    ngx_http_omni_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_omni_module);

    if (ctx == NULL || ctx->pool == 0) {
        v->not_found = 1;
        return NGX_OK;
    }

    v->data = (u_char *) ctx->workflow->dispatch->pools[ctx->pool - 1]
                                                  .upstream;
    v->len = ngx_strlen(v->data);
    v->valid = 1;
    v->no_cacheable = 0;
    v->not_found = 0;

    return NGX_OK;
}


/* $omni_dispatch: "pool rule step reason", "- rule - no_capacity" */
static ngx_int_t
ngx_http_omni_dispatch_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    u_char               *p;
    ngx_http_omni_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_omni_module);

    if (ctx == NULL || ctx->dispatch_rule == NULL) {
        v->not_found = 1;
        return NGX_OK;
    }

    p = ngx_pnalloc(r->pool, 2 * (OMNI_DISPATCH_ID_MAX + 1) + NGX_INT_T_LEN
                             + sizeof("no_capacity"));
    if (p == NULL) {
        return NGX_ERROR;
    }

    v->data = p;

    if (ctx->pool) {
        p = ngx_sprintf(p, "%s %s %i %s",
                        ctx->workflow->dispatch->pools[ctx->pool - 1].name,
                        ctx->dispatch_rule, ctx->dispatch_step,
                        ctx->dispatch_reason);

    } else {
        p = ngx_sprintf(p, "- %s - %s", ctx->dispatch_rule,
                        ctx->dispatch_reason);
    }

    v->len = p - v->data;
    v->valid = 1;
    v->no_cacheable = 0;
    v->not_found = 0;

    return NGX_OK;
}
