/*
 * Copyright (C) The omni gateway authors
 *
 * What the glue files share: the configurations, the per-request
 * context, and the functions each file offers the others, by file.
 */

#ifndef NGX_HTTP_OMNI_MODULE_H_INCLUDED_
#define NGX_HTTP_OMNI_MODULE_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "omni_admin.h"
#include "omni_case_sla.h"
#include "omni_dispatch.h"
#include "omni_dispatch_live.h"
#include "omni_keyring.h"
#include "omni_keys.h"
#include "omni_limit.h"
#include "omni_lua.h"
#include "omni_metrics.h"
#include "omni_policy.h"
#include "omni_store.h"
#include "omni_str.h"
#include "omni_token.h"
#include "omni_token_cache.h"


#define NGX_HTTP_OMNI_AUTH_JWT      0x01
#define NGX_HTTP_OMNI_AUTH_PLUGIN   0x02
#define NGX_HTTP_OMNI_AUTH_OFF      0x04

/* what omni_jwt_key and omni_jwt_secret read */
#define NGX_HTTP_OMNI_KEY_PEM       0
#define NGX_HTTP_OMNI_KEY_SECRET    1

#define NGX_HTTP_OMNI_ID_BYTES           16      /* 128 random bits */
#define NGX_HTTP_OMNI_ID_LEN             (2 * NGX_HTTP_OMNI_ID_BYTES)

#define NGX_HTTP_OMNI_CUSTOMERS_OFF      0
#define NGX_HTTP_OMNI_CUSTOMERS_RESOLVE  1
#define NGX_HTTP_OMNI_CUSTOMERS_CREATE   2

/* what $omni_jwt_cache says of a request's token */
#define NGX_HTTP_OMNI_CACHE_NONE    0
#define NGX_HTTP_OMNI_CACHE_HIT     1
#define NGX_HTTP_OMNI_CACHE_MISS    2
#define NGX_HTTP_OMNI_CACHE_OFF     3

/*
 * A cached token costs 1-2 KB (its claims parsed and as text): by default
 * a worker keeps 4096 of them in 8 MB at most, each for 5 minutes at most.
 */
/*
 * Metrics series a worker finds once and keeps (slot + 1; 0: not found
 * yet): the common case of a location, and token results of any.
 */
#define NGX_HTTP_OMNI_SERIES_OK        0
#define NGX_HTTP_OMNI_SERIES_DURATION  1
#define NGX_HTTP_OMNI_SERIES_OWN       2
#define NGX_HTTP_OMNI_SERIES_UPSTREAM  3
#define NGX_HTTP_OMNI_SERIES_LOC       4
#define NGX_HTTP_OMNI_SERIES_VERIFIED  0
#define NGX_HTTP_OMNI_SERIES_HIT       1
#define NGX_HTTP_OMNI_SERIES_MISS      2
#define NGX_HTTP_OMNI_SERIES_MAIN      3

#define NGX_HTTP_OMNI_CACHE_ENTRIES  4096
#define NGX_HTTP_OMNI_CACHE_BYTES    (8 * 1024 * 1024)
#define NGX_HTTP_OMNI_CACHE_TTL      (5 * 60)

/* pools' channels with a capacity of their own, counted in the zone */
#define NGX_HTTP_OMNI_PAIRS          64


/* the decisions' metrics series a worker has found, by their labels */
#define NGX_HTTP_OMNI_DECISION_SERIES  32

/*
 * A decision's labels as pointers: the location's channel, the rule's id
 * and the pool's index in the workflow, a reason of the code's; they live
 * as long as the workflow that holds the entry.
 */
typedef struct {
    const char                 *channel;
    const char                 *rule;           /* NULL: an empty entry */
    const char                 *reason;
    ngx_uint_t                  pool;
    int                         series;
} ngx_http_omni_decision_series_t;


/*
 * A compiled workflow in a worker (ngx_http_omni_workflow.c): the file's
 * or a store revision's, with where the dispatch zone counts each of its
 * pools.  Freed when it is no longer current and no request holds it.
 */
typedef struct {
    omni_dispatch_t            *dispatch;
    uint32_t                    rev;            /* the store's; 0: file */
    ngx_uint_t                  refs;           /* requests, + 1: current */
    ngx_int_t                   pool_index[OMNI_DISPATCH_POOLS_MAX];
    ngx_int_t                   pair_index[OMNI_DISPATCH_POOLS_MAX]
                                          [OMNI_DISPATCH_NAMES_MAX];
    /* each pool's upstream{} block, for omni_dispatch_balancer */
    ngx_http_upstream_srv_conf_t
                               *upstreams[OMNI_DISPATCH_POOLS_MAX];
    ngx_http_omni_decision_series_t
                                decision_series
                                    [NGX_HTTP_OMNI_DECISION_SERIES];
} ngx_http_omni_workflow_t;


typedef struct {
    ngx_str_t                   plugins;        /* omni_plugins */
    ngx_str_t                   lua_library;    /* omni_lua_library */
    ngx_msec_t                  timeout;        /* omni_plugin_timeout */
    size_t                      memory;         /* omni_plugin_memory */
    ngx_msec_t                  watchdog;       /* omni_plugin_watchdog,
                                                   0: off */
    ngx_array_t                 channels;       /* of ngx_http_omni_ref_t */
    ngx_int_t                   request_id_index;
    omni_lua_t                 *vm;             /* this worker's VM */

    ngx_str_t                   store_dir;      /* omni_store */
    size_t                      store_max;
    ngx_uint_t                  store_sync;
    omni_store_t               *store;          /* this worker's env */
    ngx_str_t                   keyring_file;   /* omni_store_keyring */
    omni_keyring_t             *keyring;
    time_t                      cluster_lag;    /* omni_cluster, 0: off */
    ngx_flag_t                  cluster_set;
    ngx_flag_t                  cluster_ack;    /* ack=on */
    ngx_msec_t                  cluster_ack_timeout;
    omni_case_sla_t            *case_sla;       /* omni_case_sla */

    time_t                      session_idle;   /* omni_session_timeout */
    time_t                      session_absolute;
    time_t                      session_touch;
    ngx_uint_t                  journey_max;    /* omni_journey_limits */
    time_t                      journey_age;
    ngx_msec_t                  journey_flush;
    ngx_flag_t                  journey_thread; /* commits off the loop */
    ngx_str_t                   journey_pool_name;
    ngx_flag_t                  journey_used;   /* omni_journey on, anywhere */
#if (NGX_THREADS)
    ngx_thread_pool_t          *journey_pool;
#endif
    time_t                      session_purge;

    ngx_str_t                   policy_file;    /* omni_policy_file */
    ngx_str_t                   policy_file_text;
    omni_policy_t              *policy_file_compiled;
    omni_policy_t              *policy;         /* this worker's */
    uint32_t                    policy_rev;     /* 0: the file's */
    uint64_t                    revisions_seen; /* the store's commit the
                                                   current revisions were
                                                   read at, 0: none */
    uint32_t                    current[3];     /* then: policy, workflow,
                                                   capacities */
    ngx_open_file_t            *audit;          /* omni_policy_audit */
    ngx_flag_t                  audit_all;

    ngx_shm_zone_t             *metrics_zone;   /* omni_metrics_zone */
    omni_metrics_t             *metrics;
    double                      buckets[OMNI_METRICS_BUCKETS_MAX];
    ngx_uint_t                  nbuckets;
    int                         metrics_series[NGX_HTTP_OMNI_SERIES_MAIN];

    ngx_str_t                   dispatch_file;  /* omni_dispatch_file */
    ngx_str_t                   dispatch_file_text;
    omni_dispatch_t            *dispatch;       /* the file's */
    ngx_http_omni_workflow_t   *workflow;       /* this worker's, current */
    uint32_t                    workflow_seen;  /* the store's revision last
                                                   tried */
    omni_dispatch_live_t       *live;           /* the capacities set live, */
    size_t                      nlive;          /* the store's revision */
    uint32_t                    live_seen;      /* last read */
    ngx_shm_zone_t             *dispatch_zone;  /* omni_dispatch_zone */
    ngx_slab_pool_t            *dispatch_shpool;
    void                       *dispatch_shm;
    omni_limit_table_t         *limits;
    omni_affinity_t            *affinity;
    ngx_int_t                   flight_slot;    /* this worker's, or -1 */

    ngx_uint_t                  cache_entries;  /* omni_jwt_cache, 0: off */
    size_t                      cache_bytes;
    time_t                      cache_ttl;
    omni_token_cache_t         *token_cache;    /* this worker's */
} ngx_http_omni_main_conf_t;


/*
 * What this worker dropped of services' X-Omni-Context headers, counted
 * since it started, for a metrics endpoint to export.  Plain counters:
 * each worker owns its own.
 */
typedef struct {
    ngx_uint_t                  context_invalid;    /* not JSON, not an
                                                       object, too deep or
                                                       too large */
    ngx_uint_t                  context_repeated;   /* replies with two or
                                                       more: none applied */
    ngx_uint_t                  context_no_session; /* the request had none */
    ngx_uint_t                  context_failed;     /* the session is
                                                       gone, or the store
                                                       failed */
} ngx_http_omni_counters_t;


/* A channel named by omni_channel, checked once plugins are loaded. */
typedef struct {
    ngx_str_t                   name;
    ngx_str_t                   file;
    ngx_uint_t                  line;
} ngx_http_omni_ref_t;


typedef struct {
    ngx_flag_t                  enable;
    omni_keyset_t              *keys;
    ngx_http_complex_value_t   *token;
    ngx_array_t                *issuers;       /* of ngx_str_t */
    ngx_array_t                *audiences;     /* of ngx_str_t */
    time_t                      leeway;
    ngx_flag_t                  require_exp;
    time_t                      max_lifetime;  /* 0: off */
    size_t                      max_length;
    ngx_str_t                   roles_claim;

    ngx_str_t                   channel;       /* omni_channel */
    ngx_uint_t                  auth;          /* omni_auth */
    ngx_array_t                *settings;      /* omni_plugin_set */
    size_t                      reply_buffer;  /* omni_reply_buffer */

    ngx_uint_t                  customers;     /* omni_customers */
    ngx_flag_t                  session;       /* omni_session */
    ngx_flag_t                  journey;       /* omni_journey */
    ngx_flag_t                  admin;         /* omni_admin */
    ngx_str_t                   admin_role;
    ngx_flag_t                  policy;        /* omni_policy */
    ngx_flag_t                  rate_limit;    /* omni_rate_limit */
    ngx_flag_t                  dispatch;      /* omni_dispatch */
    ngx_flag_t                  cases;         /* omni_cases */

    /* the plain-C view of the above, built once in merge */
    omni_token_conf_t           token_conf;

    /* this worker's metrics series of the location's common case */
    int                         metrics_series[NGX_HTTP_OMNI_SERIES_LOC];
} ngx_http_omni_loc_conf_t;


typedef struct {
    ngx_uint_t                  status;
    const char                 *code;          /* stable error code */
    const char                 *message;       /* for error_description */
} ngx_http_omni_error_t;


/* the contract between the channel step and the contract step */
typedef struct {
    omni_contract_t             contract;
    omni_contract_session_t     session;
    omni_contract_dispatch_t    dispatch;
} ngx_http_omni_prepared_t;


typedef struct {
    ngx_uint_t                  step;          /* next pipeline step */
    ngx_http_omni_error_t       error;
    unsigned                    authenticated:1;
    unsigned                    body_read:1;
    unsigned                    waiting_body:1;
    unsigned                    render:1;      /* render the reply */
    unsigned                    filtering:1;   /* holding the reply */
    unsigned                    reply_too_large:1;
    ngx_uint_t                  jwt_cache;     /* NGX_HTTP_OMNI_CACHE_* */
    omni_token_t                token;         /* a view of the verified
                                                  token, held until the
                                                  pool is cleaned up */
    omni_token_error_t          token_error;
    ngx_str_t                   roles;         /* memoized "a,b" */
    omni_str_t                  request_id;
    ngx_http_omni_prepared_t   *prepared;      /* not written yet */
    ngx_str_t                   contract;      /* $omni_contract */
    ngx_str_t                   action;        /* $omni_action */
    int                         lua_ref;       /* the prepared req */
    ngx_buf_t                  *reply;         /* the reply gathered */
    ngx_str_t                   reply_data;    /* the whole reply */
    off_t                       reply_expected;
    ngx_str_t                   customer;      /* $omni_customer */
    ngx_str_t                   session;       /* $omni_session */
    unsigned                    session_new:1;
    unsigned                    context_seen:1;
    unsigned                    policy_decided:1;
    unsigned                    policy_allowed:1;
    unsigned                    scoped:1;      /* the reply has scopes */
    ngx_str_t                   tier;          /* customer.tier */
    ngx_str_t                   case_reply;    /* omni_cases' answer */
    ngx_uint_t                  open_cases;    /* the customer's, in the
                                                  contract (8 at most) */
    ngx_uint_t                  case_status;
    time_t                      session_created;
    ngx_str_t                   policy_rule;   /* $omni_policy_rule */
    uint32_t                    policy_rev;
    uint32_t                    store_policy_rev;   /* the store's */
    uint32_t                    store_workflow_rev; /* current ones */
    uint32_t                    store_capacity_rev;
    unsigned                    store_revs:2;  /* 0: unread, 1: read,
                                                  2: unreadable */
    omni_pair_t                 identity;      /* the plugin's first */
    ngx_str_t                   intent;        /* the plugin's, for the */
    double                      confidence;    /* dispatch; -1: none */
    const char                 *limit_id;      /* the rate limit's */
    unsigned                    limit_untracked:1;
    time_t                      retry_after;   /* s; 0: no Retry-After */
    ngx_http_omni_workflow_t   *workflow;      /* pinned by the request */
    ngx_uint_t                  pool;          /* the workflow's + 1 */
    const char                 *dispatch_rule; /* NULL: not dispatched */
    ngx_int_t                   dispatch_step;
    const char                 *dispatch_reason;
    uint64_t                    started_ns;    /* for the metrics: the */
    uint64_t                    own_ns;        /* access phase's start, the
                                                  gateway's own time, and */
    uint64_t                    phase_ns;      /* the start of an access
                                                  phase still running */
} ngx_http_omni_ctx_t;


/* ngx_http_omni_util.c */
void ngx_http_omni_random_reset(void);
void ngx_http_omni_seed_author(ngx_str_t *file, char *buf, size_t size);
ngx_int_t ngx_http_omni_new_id(char *id);
omni_str_t *ngx_http_omni_request_id(ngx_http_request_t *r,
    ngx_http_omni_ctx_t *ctx);
ngx_int_t ngx_http_omni_request_body(ngx_http_request_t *r,
    ngx_str_t *body);
ngx_uint_t ngx_http_omni_take_header(ngx_http_request_t *r, ngx_str_t *name,
    ngx_str_t **value);
void ngx_http_omni_result_init(ngx_http_request_t *r,
    omni_lua_result_t *res);
ngx_int_t ngx_http_omni_send_answer(ngx_http_request_t *r,
    omni_lua_result_t *res);
ngx_int_t ngx_http_omni_answer_header(ngx_http_request_t *r,
    omni_pair_t *header);
ngx_int_t ngx_http_omni_error_body(ngx_pool_t *pool, const char *code,
    const char *message, ngx_uint_t newline, ngx_str_t *body);
ngx_int_t ngx_http_omni_read_conf_file(ngx_conf_t *cf, ngx_str_t *name,
    size_t max, const char *what, ngx_str_t *text);

/* ngx_http_omni_metrics.c */
uint64_t ngx_http_omni_clock_ns(void);
ngx_int_t ngx_http_omni_metrics_log(ngx_http_request_t *r);
void ngx_http_omni_metrics_init_worker(ngx_http_omni_main_conf_t *omcf);
void ngx_http_omni_metrics_journey(ngx_http_omni_main_conf_t *omcf,
    uint64_t us, ngx_uint_t lost);
void ngx_http_omni_metrics_case_breaches(ngx_http_omni_main_conf_t *omcf,
    unsigned breach);
char *ngx_http_omni_metrics_zone(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_http_omni_metrics(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
char *ngx_http_omni_health(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);

/* ngx_http_omni_cluster.c */

/* what omni_health and omni_metrics show of the cluster */
typedef struct {
    uint64_t                    unpublished;    /* local changes */
    time_t                      caught_up;      /* 0: never */
    time_t                      lag;            /* s since caught_up */
    ngx_uint_t                  refusing;       /* past fail_closed_lag */
    ngx_uint_t                  sync_running;
    ngx_uint_t                  reachable;      /* the engine */
} ngx_http_omni_cluster_state_t;

/* an acknowledged (acked 1) or timed out (0) admin change's answer */
typedef ngx_int_t (*ngx_http_omni_ack_pt)(ngx_http_request_t *r, void *data,
    ngx_uint_t acked);

char *ngx_http_omni_cluster(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
ngx_int_t ngx_http_omni_cluster_last(ngx_http_request_t *r, uint64_t *last);
ngx_int_t ngx_http_omni_cluster_ack(ngx_http_request_t *r, uint64_t before,
    ngx_http_omni_ack_pt done, void *data);
ngx_int_t ngx_http_omni_cluster_state(ngx_http_omni_main_conf_t *omcf,
    ngx_http_omni_cluster_state_t *cs, ngx_log_t *log);

/* ngx_http_omni_access.c */
ngx_int_t ngx_http_omni_access_handler(ngx_http_request_t *r);

/* ngx_http_omni_jwt.c */
ngx_int_t ngx_http_omni_jwt_step(ngx_http_request_t *r,
    ngx_http_omni_ctx_t *ctx, ngx_http_omni_loc_conf_t *olcf);
ngx_int_t ngx_http_omni_jwt_init_worker(ngx_cycle_t *cycle,
    ngx_http_omni_main_conf_t *omcf);
void ngx_http_omni_jwt_exit_worker(ngx_http_omni_main_conf_t *omcf);
char *ngx_http_omni_jwt_key(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
char *ngx_http_omni_jwt_jwks(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_http_omni_jwt_max_lifetime(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_http_omni_jwt_cache(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_http_omni_check_roles_claim(ngx_conf_t *cf, void *post,
    void *data);

/* ngx_http_omni_channel.c */
ngx_int_t ngx_http_omni_body_step(ngx_http_request_t *r,
    ngx_http_omni_ctx_t *ctx, ngx_http_omni_loc_conf_t *olcf);
ngx_int_t ngx_http_omni_respond_step(ngx_http_request_t *r,
    ngx_http_omni_ctx_t *ctx, ngx_http_omni_loc_conf_t *olcf);
ngx_int_t ngx_http_omni_channel_step(ngx_http_request_t *r,
    ngx_http_omni_ctx_t *ctx, ngx_http_omni_loc_conf_t *olcf);
ngx_int_t ngx_http_omni_contract_step(ngx_http_request_t *r,
    ngx_http_omni_ctx_t *ctx, ngx_http_omni_loc_conf_t *olcf);
ngx_int_t ngx_http_omni_plugins_load(ngx_log_t *log,
    ngx_http_omni_main_conf_t *omcf, omni_lua_t **vmp);
char *ngx_http_omni_channel(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_http_omni_auth(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);

/* ngx_http_omni_session.c */
ngx_int_t ngx_http_omni_customer_step(ngx_http_request_t *r,
    ngx_http_omni_ctx_t *ctx, ngx_http_omni_loc_conf_t *olcf,
    omni_contract_t *c, omni_contract_session_t *cs);
void ngx_http_omni_context_patch(ngx_http_request_t *r,
    ngx_http_omni_ctx_t *ctx);

/* ngx_http_omni_case.c */
void ngx_http_omni_case_patch(ngx_http_request_t *r,
    ngx_http_omni_ctx_t *ctx);
void ngx_http_omni_case_contract(ngx_http_request_t *r,
    ngx_http_omni_ctx_t *ctx, omni_contract_t *c);
ngx_int_t ngx_http_omni_cases_step(ngx_http_request_t *r,
    ngx_http_omni_ctx_t *ctx, ngx_http_omni_loc_conf_t *olcf);
char *ngx_http_omni_session_timeout(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);

/* ngx_http_omni_store.c */
char *ngx_http_omni_store_init_conf(ngx_conf_t *cf,
    ngx_http_omni_main_conf_t *omcf);
ngx_int_t ngx_http_omni_store_init_worker(ngx_cycle_t *cycle,
    ngx_http_omni_main_conf_t *omcf);
void ngx_http_omni_store_exit_worker(ngx_cycle_t *cycle,
    ngx_http_omni_main_conf_t *omcf);
ngx_int_t ngx_http_omni_journey_handler(ngx_http_request_t *r);
char *ngx_http_omni_store(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
char *ngx_http_omni_store_keyring(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_http_omni_case_sla(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
ngx_int_t ngx_http_omni_journey_init_conf(ngx_conf_t *cf,
    ngx_http_omni_main_conf_t *omcf);
char *ngx_http_omni_journey_limits(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);

/* ngx_http_omni_policy.c */
ngx_int_t ngx_http_omni_policy_step(ngx_http_request_t *r,
    ngx_http_omni_ctx_t *ctx, ngx_http_omni_loc_conf_t *olcf);
ngx_int_t ngx_http_omni_policy_scopes(ngx_http_request_t *r,
    ngx_http_omni_ctx_t *ctx, omni_str_t *reply);
ngx_int_t ngx_http_omni_policy_init_worker(ngx_cycle_t *cycle,
    ngx_http_omni_main_conf_t *omcf);
void ngx_http_omni_policy_exit_worker(ngx_http_omni_main_conf_t *omcf);
char *ngx_http_omni_policy_file(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_http_omni_policy_audit_log(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);

/* ngx_http_omni_dispatch.c */
ngx_int_t ngx_http_omni_limit_step(ngx_http_request_t *r,
    ngx_http_omni_ctx_t *ctx, ngx_http_omni_loc_conf_t *olcf);
ngx_int_t ngx_http_omni_retry_after(ngx_http_request_t *r,
    ngx_http_omni_ctx_t *ctx);
char *ngx_http_omni_dispatch_needed(ngx_conf_t *cf,
    ngx_http_omni_loc_conf_t *conf);
char *ngx_http_omni_dispatch_file(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_http_omni_dispatch_zone(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
ngx_int_t ngx_http_omni_dispatch_step(ngx_http_request_t *r,
    ngx_http_omni_ctx_t *ctx, ngx_http_omni_loc_conf_t *olcf);
ngx_int_t ngx_http_omni_dispatch_init_conf(ngx_conf_t *cf,
    ngx_http_omni_main_conf_t *omcf);
ngx_int_t ngx_http_omni_dispatch_add_variables(ngx_conf_t *cf);
void ngx_http_omni_dispatch_init_worker(ngx_cycle_t *cycle,
    ngx_http_omni_main_conf_t *omcf);
void ngx_http_omni_dispatch_exit_worker(ngx_http_omni_main_conf_t *omcf);
void ngx_http_omni_pools_now(ngx_http_omni_main_conf_t *omcf,
    ngx_http_omni_workflow_t *w, const char *channel, uint32_t *in_flight,
    uint32_t *capacity, uint32_t *channel_in_flight,
    uint32_t *channel_capacity);
void ngx_http_omni_pair_now(ngx_http_omni_main_conf_t *omcf,
    ngx_http_omni_workflow_t *w, ngx_uint_t i, ngx_uint_t c,
    uint32_t *in_flight, uint32_t *capacity);
ngx_int_t ngx_http_omni_pool_set_capacity(ngx_http_omni_main_conf_t *omcf,
    ngx_http_omni_workflow_t *w, ngx_uint_t i, ngx_int_t c,
    ngx_int_t capacity);
void ngx_http_omni_dispatch_index(ngx_log_t *log,
    ngx_http_omni_main_conf_t *omcf, ngx_http_omni_workflow_t *w);
ngx_int_t ngx_http_omni_dispatch_upstreams(ngx_log_t *log,
    ngx_http_upstream_main_conf_t *umcf, const omni_dispatch_t *d,
    ngx_str_t *source, ngx_http_upstream_srv_conf_t **found);

/* ngx_http_omni_watchdog.c */
char *ngx_http_omni_watchdog_conf(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
ngx_int_t ngx_http_omni_watchdog_init_worker(ngx_cycle_t *cycle,
    ngx_http_omni_main_conf_t *omcf);
void ngx_http_omni_watchdog_exit_worker(void);

/* ngx_http_omni_balancer.c */
char *ngx_http_omni_balancer(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
ngx_uint_t ngx_http_omni_balancer_is(ngx_http_upstream_srv_conf_t *us);

/* ngx_http_omni_workflow.c */
ngx_int_t ngx_http_omni_store_revisions(ngx_http_request_t *r,
    ngx_http_omni_ctx_t *ctx);
ngx_http_omni_workflow_t *ngx_http_omni_workflow(ngx_http_request_t *r,
    ngx_http_omni_ctx_t *ctx);
ngx_int_t ngx_http_omni_workflow_init_worker(ngx_cycle_t *cycle,
    ngx_http_omni_main_conf_t *omcf);
void ngx_http_omni_workflow_exit_worker(ngx_http_omni_main_conf_t *omcf);

/* ngx_http_omni_dispatch_explain.c */
char *ngx_http_omni_dispatch_explain(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_http_omni_dispatch_pools(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);

/* ngx_http_omni_filter.c */
ngx_int_t ngx_http_omni_filter_init(ngx_conf_t *cf);

/* ngx_http_omni_admin.c */
char *ngx_http_omni_admin(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
ngx_int_t ngx_http_omni_admin_action(ngx_http_request_t *r,
    ngx_http_omni_ctx_t *ctx);
ngx_int_t ngx_http_omni_admin_call(ngx_http_request_t *r,
    ngx_http_omni_ctx_t *ctx, const char *method, const char *path,
    const char *body, size_t len, omni_admin_result_t *res);

/* ngx_http_omni_variables.c */
ngx_int_t ngx_http_omni_add_variables(ngx_conf_t *cf);
ngx_int_t ngx_http_omni_add_variable_table(ngx_conf_t *cf,
    ngx_http_variable_t *vars);


extern ngx_module_t              ngx_http_omni_module;
extern ngx_http_omni_counters_t  ngx_http_omni_counters;


#endif /* NGX_HTTP_OMNI_MODULE_H_INCLUDED_ */
