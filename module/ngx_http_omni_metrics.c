/*
 * Copyright (C) The omni gateway authors
 *
 * Monitoring: the omni_metrics_zone, omni_metrics and omni_health
 * directives.  The log phase counts every request the gateway handled
 * into the shared zone (omni_metrics.h); omni_metrics serves the zone as
 * Prometheus text, with the store's gauges read at scrape time;
 * omni_health answers load balancers from this worker's view.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_omni_module.h"
#include "omni_admin.h"


#define NGX_HTTP_OMNI_METRICS_BUF    16384
#define NGX_HTTP_OMNI_STORE_NEAR     95      /* % of max: not healthy */
#define NGX_HTTP_OMNI_CASES_SCAN     10000   /* open cases read per scrape */


/* the families, in the order of ngx_http_omni_metric_families[] */
enum {
    NGX_HTTP_OMNI_M_REQUESTS = 0,
    NGX_HTTP_OMNI_M_DURATION,
    NGX_HTTP_OMNI_M_UPSTREAM,
    NGX_HTTP_OMNI_M_OWN,
    NGX_HTTP_OMNI_M_JWT,
    NGX_HTTP_OMNI_M_TOKEN_CACHE,
    NGX_HTTP_OMNI_M_POLICY,
    NGX_HTTP_OMNI_M_PLUGIN,
    NGX_HTTP_OMNI_M_STORE_WRITE,
    NGX_HTTP_OMNI_M_JOURNEY_LOST,
    NGX_HTTP_OMNI_M_STORE_MAP,
    NGX_HTTP_OMNI_M_STORE_RECORDS,
    NGX_HTTP_OMNI_M_WORKER_START,
    NGX_HTTP_OMNI_M_RATE_LIMITED,
    NGX_HTTP_OMNI_M_RATE_UNTRACKED,
    NGX_HTTP_OMNI_M_DISPATCH,
    NGX_HTTP_OMNI_M_IN_FLIGHT,
    NGX_HTTP_OMNI_M_CAPACITY,
    NGX_HTTP_OMNI_M_CASE_BREACHES,
    NGX_HTTP_OMNI_M_CASES_PAST_DUE,
    NGX_HTTP_OMNI_M_CASES_SCANNED,
    NGX_HTTP_OMNI_M_CLUSTER_UNPUBLISHED,
    NGX_HTTP_OMNI_M_CLUSTER_CAUGHT_UP,
    NGX_HTTP_OMNI_M_CLUSTER_LAG,
    NGX_HTTP_OMNI_M_CLUSTER_SYNC,
    NGX_HTTP_OMNI_M_CLUSTER_REACHABLE,

    NGX_HTTP_OMNI_M_CH_IN_FLIGHT,
    NGX_HTTP_OMNI_M_CH_CAPACITY,
    NGX_HTTP_OMNI_M_COUNT
};


static const omni_metrics_family_t  ngx_http_omni_metric_families[] = {
    { "omni_requests_total",
      "Requests the gateway handled, by channel, outcome (ok or the "
      "gateway's error code) and status class.", OMNI_METRICS_COUNTER },
    { "omni_request_duration_seconds",
      "Time from the access phase to the log phase, by channel.",
      OMNI_METRICS_HISTOGRAM },
    { "omni_upstream_duration_seconds",
      "Time the services took to answer (nginx's upstream response time, "
      "in milliseconds), by channel.", OMNI_METRICS_HISTOGRAM },
    { "omni_gateway_duration_seconds",
      "Time the gateway itself spent on a request: the access phase and "
      "the reply's rendering, by channel.", OMNI_METRICS_HISTOGRAM },
    { "omni_jwt_total",
      "Token checks, by result: verified or the refusal's error code.",
      OMNI_METRICS_COUNTER },
    { "omni_token_cache_total",
      "Verified-token cache lookups, by result.", OMNI_METRICS_COUNTER },
    { "omni_policy_decisions_total",
      "Policy decisions, by decision and the rule that made it.",
      OMNI_METRICS_COUNTER },
    { "omni_plugin_failures_total",
      "Plugin calls that failed, by channel and reason (timeout, memory, "
      "error).", OMNI_METRICS_COUNTER },
    { "omni_store_write_duration_seconds",
      "Store commits, by what they wrote.", OMNI_METRICS_HISTOGRAM },
    { "omni_journey_events_lost_total",
      "Journey events that could not be written.", OMNI_METRICS_COUNTER },
    { "omni_store_map_bytes",
      "The store's map: bytes holding pages, its size now, and the most it "
      "may grow to.", OMNI_METRICS_GAUGE },
    { "omni_store_records",
      "Records in the store, by family.", OMNI_METRICS_GAUGE },
    { "omni_worker_start_time_seconds",
      "When each worker process started, by its number.",
      OMNI_METRICS_GAUGE },
    { "omni_rate_limited_total",
      "Requests refused 429 rate_limited, by channel and the workflow's "
      "rate limit (its id).", OMNI_METRICS_COUNTER },
    { "omni_rate_limit_untracked_total",
      "Requests that passed uncounted because omni_dispatch_zone had no "
      "bucket free, by channel.", OMNI_METRICS_COUNTER },
    { "omni_dispatch_decisions_total",
      "Dispatch decisions, by channel, the workflow's rule, the pool chosen "
      "(none for no_capacity) and the reason (first, overflow, affinity, "
      "no_capacity).", OMNI_METRICS_COUNTER },
    { "omni_pool_in_flight",
      "Requests in flight per dispatch pool, every worker's.",
      OMNI_METRICS_GAUGE },
    { "omni_pool_capacity",
      "Requests in flight each dispatch pool takes at most now: set live "
      "(omni_dispatch_pools) or the workflow file's.", OMNI_METRICS_GAUGE },
    { "omni_case_sla_breaches_total",
      "Cases whose first response was given, or that were resolved, past "
      "the due time, through the admin API.", OMNI_METRICS_COUNTER },
    { "omni_cases_past_due",
      "Open cases past a due time now, by the due time missed.",
      OMNI_METRICS_GAUGE },
    { "omni_cases_past_due_scanned",
      "Open cases the last scrape read to count those past due, and "
      "whether it stopped at its bound.", OMNI_METRICS_GAUGE },
    { "omni_cluster_unpublished_changes",
      "Local changes omni-sync has not published to the cluster yet.",
      OMNI_METRICS_GAUGE },
    { "omni_cluster_caught_up_time_seconds",
      "When omni-sync last found nothing left to apply from the cluster "
      "(0: never).", OMNI_METRICS_GAUGE },
    { "omni_cluster_lag_seconds",
      "Seconds since omni-sync last found nothing left to apply.",
      OMNI_METRICS_GAUGE },
    { "omni_cluster_sync_running",
      "Whether omni-sync wrote its state within the last 5 seconds.",
      OMNI_METRICS_GAUGE },
    { "omni_cluster_engine_reachable",
      "Whether a running omni-sync reaches NATS.", OMNI_METRICS_GAUGE },

    { "omni_pool_channel_in_flight",
      "Requests in flight per dispatch pool on each channel it has a "
      "capacity of its own for, every worker's.", OMNI_METRICS_GAUGE },
    { "omni_pool_channel_capacity",
      "Requests in flight each dispatch pool takes at most now on each "
      "channel it has a capacity of its own for.", OMNI_METRICS_GAUGE },
};


static const double  ngx_http_omni_default_buckets[] = {
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
    0.25, 0.5, 1, 2.5, 5, 10
};


typedef struct {
    ngx_http_request_t         *r;
    ngx_chain_t                *first;
    ngx_chain_t                *last;
} ngx_http_omni_render_t;


static ngx_int_t ngx_http_omni_metrics_init_zone(ngx_shm_zone_t *shm_zone,
    void *data);
static void ngx_http_omni_metrics_cleanup(void *data);
static int ngx_http_omni_series(omni_metrics_t *m, size_t family,
    const char *name, const char *value, const char *name2,
    const char *value2, const char *name3, const char *value3);
static int ngx_http_omni_cached(omni_metrics_t *m, int *cache,
    size_t family, const char *name, const char *value, const char *name2,
    const char *value2, const char *name3, const char *value3);
static void ngx_http_omni_metrics_gauges(omni_metrics_t *m,
    ngx_http_omni_main_conf_t *omcf, ngx_log_t *log);
static void ngx_http_omni_metrics_cases(omni_metrics_t *m,
    ngx_http_omni_main_conf_t *omcf, ngx_log_t *log);
static void ngx_http_omni_metrics_cluster(omni_metrics_t *m,
    ngx_http_omni_main_conf_t *omcf, ngx_log_t *log);
static void ngx_http_omni_metrics_pools(omni_metrics_t *m,
    ngx_http_omni_main_conf_t *omcf, ngx_http_omni_workflow_t *w);
static void ngx_http_omni_metrics_dispatch(omni_metrics_t *m,
    ngx_http_omni_ctx_t *ctx, const char *channel);
static int ngx_http_omni_metrics_out(void *data, const char *p, size_t len);
static ngx_int_t ngx_http_omni_metrics_handler(ngx_http_request_t *r);
static ngx_int_t ngx_http_omni_health_handler(ngx_http_request_t *r);
static ngx_int_t ngx_http_omni_monitoring_read(ngx_http_request_t *r);
static ngx_int_t ngx_http_omni_monitoring_send(ngx_http_request_t *r,
    ngx_uint_t status, ngx_str_t *type, ngx_chain_t *out, off_t len);


uint64_t
ngx_http_omni_clock_ns(void)
{
    struct timespec  ts;

    (void) clock_gettime(CLOCK_MONOTONIC, &ts);

    return (uint64_t) ts.tv_sec * 1000000000 + (uint64_t) ts.tv_nsec;
}


/*
 * omni_metrics_zone size [buckets=seconds,...]: the shared zone, laid out
 * when the configuration is loaded; a reload with the same size and
 * buckets keeps its counts.
 */
char *
ngx_http_omni_metrics_zone(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_omni_main_conf_t *omcf = conf;

    char                *end;
    char                 err[OMNI_ERRLEN];
    u_char              *p, *last, num[32];
    ssize_t              size;
    ngx_str_t           *value, name;
    ngx_uint_t           i;
    ngx_pool_cleanup_t  *cln;

    if (omcf->metrics_zone) {
        return "is duplicate";
    }

    value = cf->args->elts;

    size = ngx_parse_size(&value[1]);

    if (size == NGX_ERROR || omni_metrics_capacity((size_t) size) < 64) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid zone size \"%V\": it must hold 64 "
                           "series at least (%uz bytes)", &value[1],
                           omni_metrics_size(64));
        return NGX_CONF_ERROR;
    }

    omcf->nbuckets = sizeof(ngx_http_omni_default_buckets) / sizeof(double);
    ngx_memcpy(omcf->buckets, ngx_http_omni_default_buckets,
               sizeof(ngx_http_omni_default_buckets));

    for (i = 2; i < cf->args->nelts; i++) {

        if (ngx_strncmp(value[i].data, "buckets=", 8) != 0) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid parameter \"%V\", expected "
                               "\"buckets=\"", &value[i]);
            return NGX_CONF_ERROR;
        }

        omcf->nbuckets = 0;
        p = value[i].data + 8;
        last = value[i].data + value[i].len;

        while (p < last) {
            end = (char *) ngx_strlchr(p, last, ',');
            if (end == NULL) {
                end = (char *) last;
            }

            if ((u_char *) end - p == 0 || (u_char *) end - p >= 32
                || omcf->nbuckets == OMNI_METRICS_BUCKETS_MAX)
            {
                goto invalid;
            }

            ngx_memcpy(num, p, (u_char *) end - p);
            num[(u_char *) end - p] = '\0';

            omcf->buckets[omcf->nbuckets] = strtod((char *) num, (char **) &p);

            if (*p != '\0') {
                goto invalid;
            }

            omcf->nbuckets++;
            p = (u_char *) end + 1;
        }

        if (omni_metrics_check_bounds(omcf->buckets, omcf->nbuckets, err)
            != 0)
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "\"%V\": %s",
                               &value[i], err);
            return NGX_CONF_ERROR;
        }
    }

    ngx_str_set(&name, "omni_metrics");

    omcf->metrics_zone = ngx_shared_memory_add(cf, &name, (size_t) size,
                                               &ngx_http_omni_module);
    if (omcf->metrics_zone == NULL) {
        return NGX_CONF_ERROR;
    }

    omcf->metrics_zone->init = ngx_http_omni_metrics_init_zone;
    omcf->metrics_zone->data = omcf;

    cln = ngx_pool_cleanup_add(cf->pool, 0);
    if (cln == NULL) {
        return NGX_CONF_ERROR;
    }

    cln->handler = ngx_http_omni_metrics_cleanup;
    cln->data = omcf;

    return NGX_CONF_OK;

invalid:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "invalid buckets in \"%V\": up to %d numbers of "
                       "seconds, separated by commas", &value[i],
                       OMNI_METRICS_BUCKETS_MAX);
    return NGX_CONF_ERROR;
}


/*
 * nginx lays a slab pool at the start of every shared zone (its master
 * unlocks the pool's mutex after a worker dies): the table is one
 * allocation of every free page, found again through the pool's data on
 * a reload, with its size in front.
 */
static ngx_int_t
ngx_http_omni_metrics_init_zone(ngx_shm_zone_t *shm_zone, void *data)
{
    ngx_http_omni_main_conf_t *omcf = shm_zone->data;

    int               kept;
    char              err[OMNI_ERRLEN];
    size_t            size, *block;
    ngx_slab_pool_t  *shpool;

    shpool = (ngx_slab_pool_t *) shm_zone->shm.addr;
    block = shpool->data;

    if (block == NULL) {
        size = shpool->pfree * ngx_pagesize;

        block = ngx_slab_alloc(shpool, size);
        if (block == NULL) {
            ngx_log_error(NGX_LOG_EMERG, shm_zone->shm.log, 0,
                          "omni_metrics_zone: no room for the table");
            return NGX_ERROR;
        }

        *block = size;
        shpool->data = block;
    }

    omcf->metrics = omni_metrics_init(block + 1, *block - sizeof(size_t),
                                      ngx_http_omni_metric_families,
                                      NGX_HTTP_OMNI_M_COUNT, omcf->buckets,
                                      omcf->nbuckets, &kept, err);
    if (omcf->metrics == NULL) {
        ngx_log_error(NGX_LOG_EMERG, shm_zone->shm.log, 0,
                      "omni_metrics_zone: %s", err);
        return NGX_ERROR;
    }

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, shm_zone->shm.log, 0,
                   "omni: metrics zone %s", kept ? "kept" : "laid out");

    return NGX_OK;
}


static void
ngx_http_omni_metrics_cleanup(void *data)
{
    ngx_http_omni_main_conf_t *omcf = data;

    omni_metrics_free(omcf->metrics);
    omcf->metrics = NULL;
}


/* a worker says when it started, under its number */
void
ngx_http_omni_metrics_init_worker(ngx_http_omni_main_conf_t *omcf)
{
    u_char  n[NGX_INT_T_LEN + 1];

    if (omcf->metrics == NULL) {
        return;
    }

    *ngx_sprintf(n, "%ui", ngx_worker) = '\0';

    omni_metrics_set(omcf->metrics,
                     ngx_http_omni_series(omcf->metrics,
                                          NGX_HTTP_OMNI_M_WORKER_START,
                                          "worker", (char *) n, NULL, NULL,
                                          NULL, NULL),
                     (int64_t) ngx_time());
}


/*
 * Log phase: what the request was, into the zone.  Every label value is
 * the configuration's (channel) or from a bounded set of the code (error
 * codes, results, policy rule ids); nothing of the caller.
 */
ngx_int_t
ngx_http_omni_metrics_log(ngx_http_request_t *r)
{
    int                        *cache, series;
    char                        cls[4];
    const char                 *outcome, *channel, *result;
    uint64_t                    now;
    ngx_uint_t                  i, status;
    ngx_msec_t                  upstream;
    omni_metrics_t             *m;
    ngx_http_omni_ctx_t        *ctx;
    ngx_http_upstream_state_t  *state;
    ngx_http_omni_loc_conf_t   *olcf;
    ngx_http_omni_main_conf_t  *omcf;

    omcf = ngx_http_get_module_main_conf(r, ngx_http_omni_module);
    ctx = ngx_http_get_module_ctx(r, ngx_http_omni_module);
    m = omcf->metrics;

    if (m == NULL || ctx == NULL || ctx->started_ns == 0) {
        return NGX_OK;
    }

    olcf = ngx_http_get_module_loc_conf(r, ngx_http_omni_module);
    channel = olcf->channel.len ? (const char *) olcf->channel.data : "";
    cache = olcf->metrics_series;

    status = r->err_status ? r->err_status : r->headers_out.status;

    cls[0] = (status >= 100 && status <= 599) ? (char) ('0' + status / 100)
                                              : '0';
    cls[1] = 'x';
    cls[2] = 'x';
    cls[3] = '\0';

    outcome = ctx->error.code ? ctx->error.code : "ok";

    if (ctx->error.code == NULL && cls[0] == '2') {
        series = ngx_http_omni_cached(m, &cache[NGX_HTTP_OMNI_SERIES_OK],
                                      NGX_HTTP_OMNI_M_REQUESTS, "channel",
                                      channel, "outcome", outcome, "class",
                                      cls);
    } else {
        series = ngx_http_omni_series(m, NGX_HTTP_OMNI_M_REQUESTS, "channel",
                                      channel, "outcome", outcome, "class",
                                      cls);
    }

    omni_metrics_add(m, series, 1);

    now = ngx_http_omni_clock_ns();

    /* answered from the access phase: finalized before it returned */
    if (ctx->phase_ns) {
        ctx->own_ns += now - ctx->phase_ns;
        ctx->phase_ns = 0;
    }

    omni_metrics_observe(m, ngx_http_omni_cached(m,
                                &cache[NGX_HTTP_OMNI_SERIES_DURATION],
                                NGX_HTTP_OMNI_M_DURATION, "channel", channel,
                                NULL, NULL, NULL, NULL),
                         (now - ctx->started_ns) / 1000);

    omni_metrics_observe(m, ngx_http_omni_cached(m,
                                &cache[NGX_HTTP_OMNI_SERIES_OWN],
                                NGX_HTTP_OMNI_M_OWN, "channel", channel,
                                NULL, NULL, NULL, NULL),
                         ctx->own_ns / 1000);

    if (r->upstream_states && r->upstream_states->nelts) {
        state = r->upstream_states->elts;
        upstream = 0;

        for (i = 0; i < r->upstream_states->nelts; i++) {
            if (state[i].status
                && state[i].response_time != (ngx_msec_t) -1)
            {
                upstream += state[i].response_time;
            }
        }

        omni_metrics_observe(m, ngx_http_omni_cached(m,
                                    &cache[NGX_HTTP_OMNI_SERIES_UPSTREAM],
                                    NGX_HTTP_OMNI_M_UPSTREAM, "channel",
                                    channel, NULL, NULL, NULL, NULL),
                             (uint64_t) upstream * 1000);
    }

    cache = omcf->metrics_series;

    if (ctx->authenticated) {
        omni_metrics_add(m, ngx_http_omni_cached(m,
                                &cache[NGX_HTTP_OMNI_SERIES_VERIFIED],
                                NGX_HTTP_OMNI_M_JWT, "result", "verified",
                                NULL, NULL, NULL, NULL),
                         1);

    } else if (ctx->error.code
               && ngx_strncmp(ctx->error.code, "token_", 6) == 0)
    {
        omni_metrics_add(m, ngx_http_omni_series(m, NGX_HTTP_OMNI_M_JWT,
                                                 "result", ctx->error.code,
                                                 NULL, NULL, NULL, NULL),
                         1);
    }

    if (ctx->jwt_cache == NGX_HTTP_OMNI_CACHE_HIT
        || ctx->jwt_cache == NGX_HTTP_OMNI_CACHE_MISS)
    {
        i = (ctx->jwt_cache == NGX_HTTP_OMNI_CACHE_HIT)
            ? NGX_HTTP_OMNI_SERIES_HIT : NGX_HTTP_OMNI_SERIES_MISS;
        result = (i == NGX_HTTP_OMNI_SERIES_HIT) ? "hit" : "miss";

        omni_metrics_add(m, ngx_http_omni_cached(m, &cache[i],
                                                 NGX_HTTP_OMNI_M_TOKEN_CACHE,
                                                 "result", result, NULL,
                                                 NULL, NULL, NULL),
                         1);
    }

    if (ctx->policy_decided) {
        /* an id of at most 64 bytes (docs/policy.md), NUL-terminated */
        series = ngx_http_omni_series(m, NGX_HTTP_OMNI_M_POLICY, "decision",
                                      ctx->policy_allowed ? "allow" : "deny",
                                      "rule",
                                      ctx->policy_rule.len
                                      ? (const char *) ctx->policy_rule.data
                                      : "(none)",
                                      NULL, NULL);
        omni_metrics_add(m, series, 1);
    }

    if (ctx->limit_id
        && (ctx->limit_untracked
            || (ctx->error.code
                && ngx_strcmp(ctx->error.code, "rate_limited") == 0)))
    {
        series = ctx->limit_untracked
                 ? ngx_http_omni_series(m, NGX_HTTP_OMNI_M_RATE_UNTRACKED,
                                        "channel", channel, NULL, NULL, NULL,
                                        NULL)
                 : ngx_http_omni_series(m, NGX_HTTP_OMNI_M_RATE_LIMITED,
                                        "channel", channel, "limit",
                                        ctx->limit_id, NULL, NULL);
        omni_metrics_add(m, series, 1);
    }

    if (ctx->dispatch_rule) {
        ngx_http_omni_metrics_dispatch(m, ctx, channel);
    }

    if (ctx->error.code && ngx_strncmp(ctx->error.code, "plugin_", 7) == 0) {
        series = ngx_http_omni_series(m, NGX_HTTP_OMNI_M_PLUGIN,
                                      "channel", channel,
                                      "reason", ctx->error.code + 7,
                                      NULL, NULL);
        omni_metrics_add(m, series, 1);
    }

    return NGX_OK;
}


/*
 * The decision's labels: the workflow's rule and pool names, bounded.
 * Found once a worker through the workflow's own table, keyed by where
 * the names are rather than by their text: building the label key every
 * request cost as much as the rest of the dispatch's metrics.
 */
static void
ngx_http_omni_metrics_dispatch(omni_metrics_t *m, ngx_http_omni_ctx_t *ctx,
    const char *channel)
{
    int                               series;
    uintptr_t                         h;
    omni_metrics_pair_t               labels[4];
    ngx_http_omni_decision_series_t  *e;

    h = ((uintptr_t) ctx->dispatch_rule >> 3)
        ^ ((uintptr_t) ctx->dispatch_reason >> 2)
        ^ ((uintptr_t) channel >> 4) ^ (ctx->pool * 5);
    e = &ctx->workflow->decision_series[h % NGX_HTTP_OMNI_DECISION_SERIES];

    if (e->rule == ctx->dispatch_rule && e->pool == ctx->pool
        && e->reason == ctx->dispatch_reason && e->channel == channel)
    {
        omni_metrics_add(m, e->series, 1);
        return;
    }

    labels[0].name = "channel";
    labels[0].value = channel;
    labels[1].name = "rule";
    labels[1].value = ctx->dispatch_rule;
    labels[2].name = "pool";
    labels[2].value = ctx->pool
                      ? ctx->workflow->dispatch->pools[ctx->pool - 1].name
                      : "(none)";
    labels[3].name = "reason";
    labels[3].value = ctx->dispatch_reason;

    series = omni_metrics_series_of(m, NGX_HTTP_OMNI_M_DISPATCH, labels, 4,
                                    0);

    /* a dropped one is not kept: the zone may have room later */
    if (series >= 0) {
        e->channel = channel;
        e->rule = ctx->dispatch_rule;
        e->reason = ctx->dispatch_reason;
        e->pool = ctx->pool;
        e->series = series;
    }

    omni_metrics_add(m, series, 1);
}


/* a journey batch's commit, from the event loop or a thread of the pool */
void
ngx_http_omni_metrics_journey(ngx_http_omni_main_conf_t *omcf, uint64_t us,
    ngx_uint_t lost)
{
    omni_metrics_t       *m;
    omni_metrics_pair_t   what;

    m = omcf->metrics;

    if (m == NULL) {
        return;
    }

    /* not remembered: this may run on a thread beside the event loop */
    if (lost) {
        omni_metrics_add(m, omni_metrics_series_of(m,
                                                   NGX_HTTP_OMNI_M_JOURNEY_LOST,
                                                   NULL, 0, 0),
                         lost);
        return;
    }

    what.name = "what";
    what.value = "journey";

    omni_metrics_observe(m, omni_metrics_series_of(m,
                                                   NGX_HTTP_OMNI_M_STORE_WRITE,
                                                   &what, 1, 0),
                         us);
}


/*
 * The series of up to three labels, a NULL name ending them, remembered
 * by this worker: only the event loop calls it (the pool's threads use
 * omni_metrics_series_of() without remembering).
 */
static int
ngx_http_omni_series(omni_metrics_t *m, size_t family, const char *name,
    const char *value, const char *name2, const char *value2,
    const char *name3, const char *value3)
{
    size_t               n;
    omni_metrics_pair_t  labels[3];

    n = 0;

    if (name) {
        labels[n].name = name;
        labels[n++].value = value;

        if (name2) {
            labels[n].name = name2;
            labels[n++].value = value2;

            if (name3) {
                labels[n].name = name3;
                labels[n++].value = value3;
            }
        }
    }

    return omni_metrics_series_of(m, family, labels, n, 1);
}


/*
 * The same for labels that do not change where the cache lives (a
 * location's channel, a constant): a slot never moves, so a worker finds
 * it once.
 */
static int
ngx_http_omni_cached(omni_metrics_t *m, int *cache, size_t family,
    const char *name, const char *value, const char *name2,
    const char *value2, const char *name3, const char *value3)
{
    int  series;

    if (*cache) {
        return *cache - 1;
    }

    series = ngx_http_omni_series(m, family, name, value, name2, value2,
                                  name3, value3);
    if (series >= 0) {
        *cache = series + 1;
    }

    return series;
}


/* omni_metrics: a location's content handler */
char *
ngx_http_omni_metrics(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_core_loc_conf_t   *clcf;
    ngx_http_omni_main_conf_t  *omcf;

    omcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_omni_module);

    if (omcf->metrics_zone == NULL) {
        return "needs \"omni_metrics_zone\" at the http level, before it";
    }

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);
    clcf->handler = ngx_http_omni_metrics_handler;

    return NGX_CONF_OK;
}


/* omni_health: a location's content handler */
char *
ngx_http_omni_health(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_core_loc_conf_t  *clcf;

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);
    clcf->handler = ngx_http_omni_health_handler;

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_http_omni_metrics_handler(ngx_http_request_t *r)
{
    off_t                       len;
    ngx_int_t                   rc;
    ngx_chain_t                *cl;
    ngx_http_omni_render_t      out;
    ngx_http_omni_main_conf_t  *omcf;

    static ngx_str_t  type = ngx_string("text/plain; version=0.0.4; "
                                        "charset=utf-8");

    rc = ngx_http_omni_monitoring_read(r);
    if (rc != NGX_OK) {
        return rc;
    }

    omcf = ngx_http_get_module_main_conf(r, ngx_http_omni_module);

    if (omcf->metrics == NULL) {
        return NGX_HTTP_SERVICE_UNAVAILABLE;
    }

    ngx_http_omni_metrics_gauges(omcf->metrics, omcf, r->connection->log);

    out.r = r;
    out.first = NULL;
    out.last = NULL;

    if (omni_metrics_render(omcf->metrics, ngx_http_omni_metrics_out, &out)
        != 0)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    len = 0;

    for (cl = out.first; cl; cl = cl->next) {
        len += cl->buf->last - cl->buf->pos;
    }

    return ngx_http_omni_monitoring_send(r, NGX_HTTP_OK, &type, out.first,
                                         len);
}


/* the store's gauges, as this worker's environment sees it now */
static void
ngx_http_omni_metrics_gauges(omni_metrics_t *m,
    ngx_http_omni_main_conf_t *omcf, ngx_log_t *log)
{
    int                  rc;
    char                 err[OMNI_ERRLEN];
    size_t               i;
    omni_store_stats_t   stats;

    static const char  *of[] = { "used", "size", "max" };

    if (omcf->workflow && omcf->workflow->dispatch->npools
        && omcf->dispatch_shm)
    {
        ngx_http_omni_metrics_pools(m, omcf, omcf->workflow);
    }

    if (omcf->store == NULL) {
        return;
    }

    ngx_http_omni_metrics_cases(m, omcf, log);
    ngx_http_omni_metrics_cluster(m, omcf, log);

    rc = omni_store_stats(omcf->store, &stats, err);
    if (rc != OMNI_STORE_OK) {
        return;
    }

    for (i = 0; i < 3; i++) {
        omni_metrics_set(m, ngx_http_omni_series(m, NGX_HTTP_OMNI_M_STORE_MAP,
                                                 "of", of[i], NULL, NULL,
                                                 NULL, NULL),
                         (int64_t) (i == 0 ? stats.map_used
                                    : i == 1 ? stats.map_size
                                    : stats.map_max));
    }

    for (i = 1; i < OMNI_STORE_DB_COUNT; i++) {
        omni_metrics_set(m, ngx_http_omni_series(m,
                                                 NGX_HTTP_OMNI_M_STORE_RECORDS,
                                                 "family",
                                                 omni_store_db_name((int) i),
                                                 NULL, NULL, NULL, NULL),
                         (int64_t) stats.entries[i]);
    }
}


/*
 * The open cases past due: a scan of the store's status index at scrape
 * time (no due-time index), NGX_HTTP_OMNI_CASES_SCAN cases at most.
 */
static void
ngx_http_omni_metrics_cases(omni_metrics_t *m,
    ngx_http_omni_main_conf_t *omcf, ngx_log_t *log)
{
    char                     err[OMNI_ERRLEN];
    omni_store_cases_due_t   due;

    if (omni_store_cases_past_due(omcf->store, (int64_t) ngx_time(),
                                  NGX_HTTP_OMNI_CASES_SCAN, &due, err)
        != OMNI_STORE_OK)
    {
        ngx_log_error(NGX_LOG_ERR, log, 0, "omni metrics: cases past due "
                      "not counted: %s", err);
        return;
    }

    omni_metrics_set(m, ngx_http_omni_series(m,
                                             NGX_HTTP_OMNI_M_CASES_PAST_DUE,
                                             "due", "first_response", NULL,
                                             NULL, NULL, NULL),
                     (int64_t) due.first_response);
    omni_metrics_set(m, ngx_http_omni_series(m,
                                             NGX_HTTP_OMNI_M_CASES_PAST_DUE,
                                             "due", "resolution", NULL, NULL,
                                             NULL, NULL),
                     (int64_t) due.resolution);
    omni_metrics_set(m, ngx_http_omni_series(m,
                                             NGX_HTTP_OMNI_M_CASES_SCANNED,
                                             "of", "read", NULL, NULL, NULL,
                                             NULL),
                     (int64_t) due.scanned);
    omni_metrics_set(m, ngx_http_omni_series(m,
                                             NGX_HTTP_OMNI_M_CASES_SCANNED,
                                             "of", "truncated", NULL, NULL,
                                             NULL, NULL),
                     due.truncated);
}


/* the cluster's gauges, when the node is in one */
static void
ngx_http_omni_metrics_cluster(omni_metrics_t *m,
    ngx_http_omni_main_conf_t *omcf, ngx_log_t *log)
{
    ngx_http_omni_cluster_state_t  cs;

    if (ngx_http_omni_cluster_state(omcf, &cs, log) != NGX_OK) {
        return;
    }

    omni_metrics_set(m, ngx_http_omni_series(m,
                                         NGX_HTTP_OMNI_M_CLUSTER_UNPUBLISHED,
                                         NULL, NULL, NULL, NULL, NULL, NULL),
                     (int64_t) cs.unpublished);
    omni_metrics_set(m, ngx_http_omni_series(m,
                                         NGX_HTTP_OMNI_M_CLUSTER_CAUGHT_UP,
                                         NULL, NULL, NULL, NULL, NULL, NULL),
                     (int64_t) cs.caught_up);
    omni_metrics_set(m, ngx_http_omni_series(m, NGX_HTTP_OMNI_M_CLUSTER_LAG,
                                             NULL, NULL, NULL, NULL, NULL,
                                             NULL),
                     (int64_t) cs.lag);
    omni_metrics_set(m, ngx_http_omni_series(m, NGX_HTTP_OMNI_M_CLUSTER_SYNC,
                                             NULL, NULL, NULL, NULL, NULL,
                                             NULL),
                     (int64_t) cs.sync_running);
    omni_metrics_set(m, ngx_http_omni_series(m,
                                         NGX_HTTP_OMNI_M_CLUSTER_REACHABLE,
                                         NULL, NULL, NULL, NULL, NULL, NULL),
                     (int64_t) cs.reachable);
}


/* an admin change that met a case's due time late (omni_admin.h) */
void
ngx_http_omni_metrics_case_breaches(ngx_http_omni_main_conf_t *omcf,
    unsigned breach)
{
    omni_metrics_t  *m;

    m = omcf->metrics;

    if (m == NULL || breach == 0) {
        return;
    }

    if (breach & OMNI_ADMIN_BREACH_FIRST_RESPONSE) {
        omni_metrics_add(m, ngx_http_omni_series(m,
                                                 NGX_HTTP_OMNI_M_CASE_BREACHES,
                                                 "due", "first_response",
                                                 NULL, NULL, NULL, NULL),
                         1);
    }

    if (breach & OMNI_ADMIN_BREACH_RESOLUTION) {
        omni_metrics_add(m, ngx_http_omni_series(m,
                                                 NGX_HTTP_OMNI_M_CASE_BREACHES,
                                                 "due", "resolution", NULL,
                                                 NULL, NULL, NULL),
                         1);
    }
}


/* the pools' gauges, and their channels' with a capacity of their own */
static void
ngx_http_omni_metrics_pools(omni_metrics_t *m,
    ngx_http_omni_main_conf_t *omcf, ngx_http_omni_workflow_t *w)
{
    size_t                        i, c;
    uint32_t                      n, cap;
    const omni_dispatch_pool_t   *pool;
    uint32_t                      in_flight[OMNI_DISPATCH_POOLS_MAX];
    uint32_t                      capacity[OMNI_DISPATCH_POOLS_MAX];

    ngx_http_omni_pools_now(omcf, w, NULL, in_flight, capacity, NULL, NULL);

    for (i = 0; i < w->dispatch->npools; i++) {
        pool = &w->dispatch->pools[i];

        omni_metrics_set(m, ngx_http_omni_series(m, NGX_HTTP_OMNI_M_IN_FLIGHT,
                                                 "pool", pool->name, NULL,
                                                 NULL, NULL, NULL),
                         (int64_t) in_flight[i]);
        omni_metrics_set(m, ngx_http_omni_series(m, NGX_HTTP_OMNI_M_CAPACITY,
                                                 "pool", pool->name, NULL,
                                                 NULL, NULL, NULL),
                         (int64_t) capacity[i]);

        for (c = 0; c < pool->nchannels; c++) {
            ngx_http_omni_pair_now(omcf, w, i, c, &n, &cap);

            omni_metrics_set(m,
                             ngx_http_omni_series(m,
                                                  NGX_HTTP_OMNI_M_CH_IN_FLIGHT,
                                                  "pool", pool->name,
                                                  "channel",
                                                  pool->channels[c], NULL,
                                                  NULL),
                             (int64_t) n);
            omni_metrics_set(m,
                             ngx_http_omni_series(m,
                                                  NGX_HTTP_OMNI_M_CH_CAPACITY,
                                                  "pool", pool->name,
                                                  "channel",
                                                  pool->channels[c], NULL,
                                                  NULL),
                             (int64_t) cap);
        }
    }
}


/* omni_metrics_render()'s output, into buffers of the request's pool */
static int
ngx_http_omni_metrics_out(void *data, const char *p, size_t len)
{
    ngx_http_omni_render_t *out = data;

    ngx_buf_t    *b;
    ngx_chain_t  *cl;

    if (out->last == NULL
        || (size_t) (out->last->buf->end - out->last->buf->last) < len)
    {
        b = ngx_create_temp_buf(out->r->pool,
                                ngx_max(len, NGX_HTTP_OMNI_METRICS_BUF));
        if (b == NULL) {
            return -1;
        }

        cl = ngx_alloc_chain_link(out->r->pool);
        if (cl == NULL) {
            return -1;
        }

        cl->buf = b;
        cl->next = NULL;

        if (out->last) {
            out->last->next = cl;

        } else {
            out->first = cl;
        }

        out->last = cl;
    }

    out->last->buf->last = ngx_cpymem(out->last->buf->last, p, len);

    return 0;
}


/*
 * omni_health: 200 when this worker can serve, 503 otherwise, with what
 * it checked: the store open, readable, writable and not nearly full;
 * the policy compiled; the plugins loaded.
 */
static ngx_int_t
ngx_http_omni_health_handler(ngx_http_request_t *r)
{
    char                        err[OMNI_ERRLEN];
    u_char                     *p;
    size_t                      len;
    ngx_int_t                   rc;
    ngx_buf_t                  *b;
    ngx_int_t                   cluster;
    ngx_uint_t                  ok, store_ok;
    ngx_chain_t                 out;
    omni_store_stats_t          stats;
    ngx_http_omni_main_conf_t  *omcf;
    ngx_http_omni_cluster_state_t  cs;
    u_char                      path[NGX_MAX_PATH];

    static ngx_str_t  type = ngx_string("application/json");

    rc = ngx_http_omni_monitoring_read(r);
    if (rc != NGX_OK) {
        return rc;
    }

    omcf = ngx_http_get_module_main_conf(r, ngx_http_omni_module);

    ok = 1;
    store_ok = 1;

    if (omcf->store_dir.len) {
        store_ok = omcf->store != NULL
                   && omni_store_stats(omcf->store, &stats, err)
                      == OMNI_STORE_OK
                   && stats.map_used * 100
                      < stats.map_max * NGX_HTTP_OMNI_STORE_NEAR;

        if (store_ok) {
            p = ngx_snprintf(path, NGX_MAX_PATH - 1, "%V/data.mdb%Z",
                             &omcf->store_dir);
            store_ok = (p < path + NGX_MAX_PATH - 1
                        && access((char *) path, R_OK|W_OK) == 0);
        }

        ok = ok && store_ok;
    }

    if (omcf->policy_file.len || omcf->policy_rev) {
        ok = ok && omcf->policy != NULL;
    }

    if (omcf->plugins.len) {
        ok = ok && omcf->vm != NULL;
    }

    /* a node refusing tokens for its lag sends the balancer elsewhere */
    cluster = store_ok ? ngx_http_omni_cluster_state(omcf, &cs,
                                                     r->connection->log)
                       : NGX_DECLINED;

    ok = ok && (cluster != NGX_OK || !cs.refusing);

    len = sizeof("{\"status\":\"unavailable\",\"worker\":,\"pid\":,"
                 "\"store\":\"unavailable\",\"policy\":\"unavailable\","
                 "\"plugins\":\"unavailable\",\"cluster\":{\"status\":"
                 "\"lagging\",\"unpublished\":,\"caught_up_at\":,"
                 "\"lag\":,\"sync_running\":false,"
                 "\"engine_reachable\":false}}\n")
          + 5 * NGX_INT_T_LEN;

    b = ngx_create_temp_buf(r->pool, len);
    if (b == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    b->last = ngx_sprintf(b->last,
                          "{\"status\":\"%s\",\"worker\":%ui,\"pid\":%P,"
                          "\"store\":\"%s\",\"policy\":\"%s\","
                          "\"plugins\":\"%s\"}\n",
                          ok ? "ok" : "unavailable", ngx_worker, ngx_pid,
                          omcf->store_dir.len == 0 ? "off"
                          : store_ok ? "ok" : "unavailable",
                          omcf->policy_file.len == 0 && omcf->policy == NULL
                          ? "off" : omcf->policy ? "ok" : "unavailable",
                          omcf->plugins.len == 0 ? "off"
                          : omcf->vm ? "ok" : "unavailable");

    if (cluster == NGX_OK) {
        b->last = ngx_sprintf(b->last - 2,
                              ",\"cluster\":{\"status\":\"%s\","
                              "\"unpublished\":%uL,\"caught_up_at\":%T,"
                              "\"lag\":%T,\"sync_running\":%s,"
                              "\"engine_reachable\":%s}}\n",
                              cs.refusing ? "lagging" : "ok", cs.unpublished,
                              cs.caught_up, cs.lag,
                              cs.sync_running ? "true" : "false",
                              cs.reachable ? "true" : "false");
    }

    b->last_buf = (r == r->main) ? 1 : 0;
    b->last_in_chain = 1;

    out.buf = b;
    out.next = NULL;

    return ngx_http_omni_monitoring_send(r, ok ? NGX_HTTP_OK
                                               : NGX_HTTP_SERVICE_UNAVAILABLE,
                                         &type, &out, b->last - b->pos);
}


/* GET and HEAD only, and whatever body came is read and dropped */
static ngx_int_t
ngx_http_omni_monitoring_read(ngx_http_request_t *r)
{
    if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
        return NGX_HTTP_NOT_ALLOWED;
    }

    return ngx_http_discard_request_body(r);
}


static ngx_int_t
ngx_http_omni_monitoring_send(ngx_http_request_t *r, ngx_uint_t status,
    ngx_str_t *type, ngx_chain_t *out, off_t len)
{
    ngx_int_t     rc;
    ngx_chain_t  *cl;

    r->headers_out.status = status;
    r->headers_out.content_type = *type;
    r->headers_out.content_type_len = type->len;
    r->headers_out.content_length_n = len;

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    if (out == NULL) {
        return ngx_http_send_special(r, NGX_HTTP_LAST);
    }

    for (cl = out; cl->next; cl = cl->next) { /* void */ }

    cl->buf->last_buf = (r == r->main) ? 1 : 0;
    cl->buf->last_in_chain = 1;

    return ngx_http_output_filter(r, out);
}
