/*
 * Copyright (C) The omni gateway authors
 *
 * Registration of the omni gateway: the directives table, the main and
 * location configurations (created, merged, checked against each other),
 * the phase handlers and filters installed, and the worker start and exit
 * that call each concern's own.  A directive that is more than a stock
 * slot is parsed in its concern's file (ngx_http_omni_jwt.c, _store.c,
 * _session.c, _channel.c, _policy.c, _admin.c); the request pipeline is
 * ngx_http_omni_access.c.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_omni_module.h"


static ngx_int_t ngx_http_omni_preconfiguration(ngx_conf_t *cf);
static ngx_int_t ngx_http_omni_init(ngx_conf_t *cf);
static void *ngx_http_omni_create_main_conf(ngx_conf_t *cf);
static char *ngx_http_omni_init_main_conf(ngx_conf_t *cf, void *conf);
static ngx_int_t ngx_http_omni_init_process(ngx_cycle_t *cycle);
static void ngx_http_omni_exit_process(ngx_cycle_t *cycle);
static char *ngx_http_omni_store_needed(ngx_conf_t *cf,
    ngx_http_omni_loc_conf_t *conf);
static char *ngx_http_omni_policy_needed(ngx_conf_t *cf,
    ngx_http_omni_loc_conf_t *conf);
static void *ngx_http_omni_create_loc_conf(ngx_conf_t *cf);
static char *ngx_http_omni_merge_loc_conf(ngx_conf_t *cf, void *parent,
    void *child);
static const char **ngx_http_omni_cstrings(ngx_conf_t *cf, ngx_array_t *a,
    size_t *n);


static ngx_uint_t  ngx_http_omni_key_pem = NGX_HTTP_OMNI_KEY_PEM;
static ngx_uint_t  ngx_http_omni_key_secret = NGX_HTTP_OMNI_KEY_SECRET;

static ngx_conf_num_bounds_t  ngx_http_omni_max_length_bounds = {
    ngx_conf_check_num_bounds, 64, 1024 * 1024
};

static ngx_conf_post_handler_pt  ngx_http_omni_roles_claim_post =
    ngx_http_omni_check_roles_claim;

static ngx_conf_num_bounds_t  ngx_http_omni_timeout_bounds = {
    ngx_conf_check_num_bounds, 1, 60000
};

static ngx_conf_num_bounds_t  ngx_http_omni_memory_bounds = {
    ngx_conf_check_num_bounds, 1024 * 1024, 1024 * 1024 * 1024
};

static ngx_conf_num_bounds_t  ngx_http_omni_reply_buffer_bounds = {
    ngx_conf_check_num_bounds, 1024, 64 * 1024 * 1024
};


static ngx_conf_enum_t  ngx_http_omni_customers[] = {
    { ngx_string("off"), NGX_HTTP_OMNI_CUSTOMERS_OFF },
    { ngx_string("resolve"), NGX_HTTP_OMNI_CUSTOMERS_RESOLVE },
    { ngx_string("create"), NGX_HTTP_OMNI_CUSTOMERS_CREATE },
    { ngx_null_string, 0 }
};


static ngx_command_t  ngx_http_omni_commands[] = {

    { ngx_string("omni_gateway"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_omni_loc_conf_t, enable),
      NULL },

    { ngx_string("omni_jwt_key"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE123,
      ngx_http_omni_jwt_key,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      &ngx_http_omni_key_pem },

    { ngx_string("omni_jwt_secret"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE123,
      ngx_http_omni_jwt_key,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      &ngx_http_omni_key_secret },

    { ngx_string("omni_jwt_jwks"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_omni_jwt_jwks,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("omni_jwt_token"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_set_complex_value_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_omni_loc_conf_t, token),
      NULL },

    { ngx_string("omni_jwt_issuer"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_array_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_omni_loc_conf_t, issuers),
      NULL },

    { ngx_string("omni_jwt_audience"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_array_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_omni_loc_conf_t, audiences),
      NULL },

    { ngx_string("omni_jwt_leeway"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_sec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_omni_loc_conf_t, leeway),
      NULL },

    { ngx_string("omni_jwt_require_exp"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_omni_loc_conf_t, require_exp),
      NULL },

    { ngx_string("omni_jwt_max_lifetime"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_omni_jwt_max_lifetime,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_omni_loc_conf_t, max_lifetime),
      NULL },

    { ngx_string("omni_jwt_cache"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_1MORE,
      ngx_http_omni_jwt_cache,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("omni_jwt_max_length"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_size_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_omni_loc_conf_t, max_length),
      &ngx_http_omni_max_length_bounds },

    { ngx_string("omni_jwt_roles_claim"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_omni_loc_conf_t, roles_claim),
      &ngx_http_omni_roles_claim_post },

    { ngx_string("omni_plugins"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_omni_main_conf_t, plugins),
      NULL },

    { ngx_string("omni_lua_library"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_omni_main_conf_t, lua_library),
      NULL },

    { ngx_string("omni_plugin_timeout"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_omni_main_conf_t, timeout),
      &ngx_http_omni_timeout_bounds },

    { ngx_string("omni_plugin_watchdog"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_http_omni_watchdog_conf,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("omni_plugin_memory"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_size_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_omni_main_conf_t, memory),
      &ngx_http_omni_memory_bounds },

    { ngx_string("omni_store"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE123,
      ngx_http_omni_store,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("omni_store_keyring"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_http_omni_store_keyring,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("omni_cluster"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE123,
      ngx_http_omni_cluster,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("omni_case_sla"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_http_omni_case_sla,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("omni_session_timeout"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_1MORE,
      ngx_http_omni_session_timeout,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("omni_journey_limits"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_1MORE,
      ngx_http_omni_journey_limits,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("omni_metrics_zone"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE12,
      ngx_http_omni_metrics_zone,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("omni_metrics"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_omni_metrics,
      0,
      0,
      NULL },

    { ngx_string("omni_health"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_omni_health,
      0,
      0,
      NULL },

    { ngx_string("omni_customers"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_enum_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_omni_loc_conf_t, customers),
      &ngx_http_omni_customers },

    { ngx_string("omni_session"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_omni_loc_conf_t, session),
      NULL },

    { ngx_string("omni_journey"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_omni_loc_conf_t, journey),
      NULL },

    { ngx_string("omni_policy_file"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_http_omni_policy_file,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("omni_policy_audit"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE12,
      ngx_http_omni_policy_audit_log,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("omni_policy"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_omni_loc_conf_t, policy),
      NULL },

    { ngx_string("omni_dispatch_file"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_http_omni_dispatch_file,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("omni_dispatch_zone"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_http_omni_dispatch_zone,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("omni_rate_limit"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_omni_loc_conf_t, rate_limit),
      NULL },

    { ngx_string("omni_dispatch"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_omni_loc_conf_t, dispatch),
      NULL },

    { ngx_string("omni_dispatch_explain"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS|NGX_CONF_TAKE1,
      ngx_http_omni_dispatch_explain,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("omni_dispatch_pools"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS|NGX_CONF_TAKE1,
      ngx_http_omni_dispatch_pools,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("omni_dispatch_balancer"),
      NGX_HTTP_UPS_CONF|NGX_CONF_NOARGS,
      ngx_http_omni_balancer,
      0,
      0,
      NULL },

    { ngx_string("omni_cases"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_omni_loc_conf_t, cases),
      NULL },

    { ngx_string("omni_admin"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS|NGX_CONF_TAKE1,
      ngx_http_omni_admin,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("omni_channel"),
      NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_omni_channel,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("omni_auth"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE12,
      ngx_http_omni_auth,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("omni_plugin_set"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE2,
      ngx_conf_set_keyval_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_omni_loc_conf_t, settings),
      NULL },

    { ngx_string("omni_reply_buffer"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_size_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_omni_loc_conf_t, reply_buffer),
      &ngx_http_omni_reply_buffer_bounds },

      ngx_null_command
};


static ngx_http_module_t  ngx_http_omni_module_ctx = {
    ngx_http_omni_preconfiguration,        /* preconfiguration */
    ngx_http_omni_init,                    /* postconfiguration */

    ngx_http_omni_create_main_conf,        /* create main configuration */
    ngx_http_omni_init_main_conf,          /* init main configuration */

    NULL,                                  /* create server configuration */
    NULL,                                  /* merge server configuration */

    ngx_http_omni_create_loc_conf,         /* create location configuration */
    ngx_http_omni_merge_loc_conf           /* merge location configuration */
};


ngx_module_t  ngx_http_omni_module = {
    NGX_MODULE_V1,
    &ngx_http_omni_module_ctx,             /* module context */
    ngx_http_omni_commands,                /* module directives */
    NGX_HTTP_MODULE,                       /* module type */
    NULL,                                  /* init master */
    NULL,                                  /* init module */
    ngx_http_omni_init_process,            /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    ngx_http_omni_exit_process,            /* exit process */
    NULL,                                  /* exit master */
    NGX_MODULE_V1_PADDING
};


static ngx_int_t
ngx_http_omni_preconfiguration(ngx_conf_t *cf)
{
    if (ngx_http_omni_dispatch_add_variables(cf) != NGX_OK) {
        return NGX_ERROR;
    }

    return ngx_http_omni_add_variables(cf);
}


static ngx_int_t
ngx_http_omni_init(ngx_conf_t *cf)
{
    omni_lua_t                 *vm;
    ngx_http_handler_pt        *h;
    ngx_http_omni_main_conf_t  *omcf;
    ngx_http_core_main_conf_t  *cmcf;

    static ngx_str_t  request_id = ngx_string("request_id");

    cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module);

    h = ngx_array_push(&cmcf->phases[NGX_HTTP_ACCESS_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    *h = ngx_http_omni_access_handler;

    omcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_omni_module);

    if (omcf->store_dir.len) {
        h = ngx_array_push(&cmcf->phases[NGX_HTTP_LOG_PHASE].handlers);
        if (h == NULL) {
            return NGX_ERROR;
        }

        *h = ngx_http_omni_journey_handler;
    }

    if (omcf->metrics_zone) {
        h = ngx_array_push(&cmcf->phases[NGX_HTTP_LOG_PHASE].handlers);
        if (h == NULL) {
            return NGX_ERROR;
        }

        *h = ngx_http_omni_metrics_log;
    }

    if (omcf->channels.nelts && omcf->plugins.len == 0) {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "\"omni_channel\" is used but \"omni_plugins\" "
                      "names no plugin directory");
        return NGX_ERROR;
    }

    if (omcf->plugins.len) {
        /*
         * Load every plugin once now so that "nginx -t" names a broken
         * one; each worker loads its own VM after fork.
         */
        if (ngx_http_omni_plugins_load(cf->log, omcf, &vm) != NGX_OK) {
            return NGX_ERROR;
        }

        omni_lua_free(vm);
    }

    /* the filters render replies and take context patches off them */
    if (omcf->plugins.len || omcf->store_dir.len) {
        if (ngx_http_omni_filter_init(cf) != NGX_OK) {
            return NGX_ERROR;
        }
    }

    if (ngx_http_omni_journey_init_conf(cf, omcf) != NGX_OK) {
        return NGX_ERROR;
    }

    if (ngx_http_omni_dispatch_init_conf(cf, omcf) != NGX_OK) {
        return NGX_ERROR;
    }

    omcf->request_id_index = ngx_http_get_variable_index(cf, &request_id);
    if (omcf->request_id_index == NGX_ERROR) {
        return NGX_ERROR;
    }

    return NGX_OK;
}


static void *
ngx_http_omni_create_main_conf(ngx_conf_t *cf)
{
    ngx_http_omni_main_conf_t  *omcf;

    omcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_omni_main_conf_t));
    if (omcf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     omcf->plugins = { 0, NULL };
     *     omcf->lua_library = { 0, NULL };
     *     omcf->vm = NULL;
     *     omcf->keyring_file = { 0, NULL };
     *     omcf->keyring = NULL;
     *     omcf->case_sla = NULL;
     *     omcf->journey_pool_name = { 0, NULL };
     *     omcf->journey_used = 0;
     *     omcf->journey_pool = NULL;
     *     omcf->metrics_zone = NULL;
     *     omcf->metrics = NULL;
     *     omcf->dispatch_file = { 0, NULL };
     *     omcf->dispatch = NULL;
     *     omcf->dispatch_zone = NULL;
     *     omcf->dispatch_shpool = NULL;
     *     omcf->limits = NULL;
     */

    omcf->timeout = NGX_CONF_UNSET_MSEC;
    omcf->watchdog = NGX_CONF_UNSET_MSEC;
    omcf->memory = NGX_CONF_UNSET_SIZE;
    omcf->session_idle = NGX_CONF_UNSET;
    omcf->session_absolute = NGX_CONF_UNSET;
    omcf->session_touch = NGX_CONF_UNSET;
    omcf->session_purge = NGX_CONF_UNSET;
    omcf->journey_max = NGX_CONF_UNSET_UINT;
    omcf->journey_age = NGX_CONF_UNSET;
    omcf->journey_flush = NGX_CONF_UNSET_MSEC;
    omcf->journey_thread = NGX_CONF_UNSET;
    omcf->cache_entries = NGX_CONF_UNSET_UINT;
    omcf->cache_bytes = NGX_CONF_UNSET_SIZE;
    omcf->cache_ttl = NGX_CONF_UNSET;
    omcf->flight_slot = -1;

    if (ngx_array_init(&omcf->channels, cf->pool, 4,
                       sizeof(ngx_http_omni_ref_t))
        != NGX_OK)
    {
        return NULL;
    }

    return omcf;
}


static char *
ngx_http_omni_init_main_conf(ngx_conf_t *cf, void *conf)
{
    ngx_http_omni_main_conf_t *omcf = conf;

    ngx_conf_init_msec_value(omcf->timeout, 50);
    ngx_conf_init_msec_value(omcf->watchdog, 60 * 1000);
    ngx_conf_init_size_value(omcf->memory, 32 * 1024 * 1024);
    ngx_conf_init_value(omcf->session_idle, 30 * 60);
    ngx_conf_init_value(omcf->session_absolute, 24 * 60 * 60);
    ngx_conf_init_value(omcf->session_touch, 60);
    ngx_conf_init_value(omcf->session_purge, 60);
    ngx_conf_init_uint_value(omcf->journey_max, 1000);
    ngx_conf_init_value(omcf->journey_age, 90 * 24 * 60 * 60);
    ngx_conf_init_msec_value(omcf->journey_flush, 1000);
    ngx_conf_init_uint_value(omcf->cache_entries, NGX_HTTP_OMNI_CACHE_ENTRIES);
    ngx_conf_init_size_value(omcf->cache_bytes, NGX_HTTP_OMNI_CACHE_BYTES);
    ngx_conf_init_value(omcf->cache_ttl, NGX_HTTP_OMNI_CACHE_TTL);

    if (omcf->keyring && omcf->store_dir.len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"omni_store_keyring\" needs \"omni_store\" at "
                           "the http level");
        return NGX_CONF_ERROR;
    }

    if (omcf->cluster_set && (omcf->cluster_lag || omcf->cluster_ack)
        && omcf->store_dir.len == 0)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"omni_cluster\" needs \"omni_store\" at the "
                           "http level");
        return NGX_CONF_ERROR;
    }

    if (omcf->store_dir.len
        && ngx_http_omni_store_init_conf(cf, omcf) != NGX_CONF_OK)
    {
        return NGX_CONF_ERROR;
    }

    if (omcf->plugins.len == 0) {
        return NGX_CONF_OK;
    }

    if (ngx_conf_full_name(cf->cycle, &omcf->plugins, 1) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    if (omcf->lua_library.len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"omni_plugins\" needs \"omni_lua_library\", "
                           "the directory of the support library");
        return NGX_CONF_ERROR;
    }

    if (ngx_conf_full_name(cf->cycle, &omcf->lua_library, 1) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_http_omni_init_process(ngx_cycle_t *cycle)
{
    ngx_http_omni_main_conf_t  *omcf;

    omcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_http_omni_module);

    if (omcf == NULL) {
        return NGX_OK;
    }

    ngx_http_omni_random_reset();
    ngx_http_omni_metrics_init_worker(omcf);
    ngx_http_omni_dispatch_init_worker(cycle, omcf);

    if (ngx_http_omni_jwt_init_worker(cycle, omcf) != NGX_OK) {
        return NGX_ERROR;
    }

    /* neither an LMDB environment nor a VM may cross a fork */
    if (omcf->store_dir.len
        && ngx_http_omni_store_init_worker(cycle, omcf) != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (ngx_http_omni_policy_init_worker(cycle, omcf) != NGX_OK) {
        return NGX_ERROR;
    }

    if (ngx_http_omni_workflow_init_worker(cycle, omcf) != NGX_OK) {
        return NGX_ERROR;
    }

    if (omcf->plugins.len == 0) {
        return NGX_OK;
    }

    if (ngx_http_omni_plugins_load(cycle->log, omcf, &omcf->vm) != NGX_OK) {
        return NGX_ERROR;
    }

    return ngx_http_omni_watchdog_init_worker(cycle, omcf);
}


static void
ngx_http_omni_exit_process(ngx_cycle_t *cycle)
{
    ngx_http_omni_main_conf_t  *omcf;

    omcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_http_omni_module);

    if (omcf && omcf->vm) {
        omni_lua_free(omcf->vm);
        omcf->vm = NULL;
    }

    if (omcf) {
        ngx_http_omni_policy_exit_worker(omcf);
        ngx_http_omni_jwt_exit_worker(omcf);
        ngx_http_omni_store_exit_worker(cycle, omcf);
        ngx_http_omni_dispatch_exit_worker(omcf);
        ngx_http_omni_workflow_exit_worker(omcf);
    }

    /* last: it watches the exit too (closing the VM, the store) */
    ngx_http_omni_watchdog_exit_worker();
}


static void *
ngx_http_omni_create_loc_conf(ngx_conf_t *cf)
{
    ngx_http_omni_loc_conf_t  *conf;

    conf = ngx_pcalloc(cf->pool, sizeof(ngx_http_omni_loc_conf_t));
    if (conf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     conf->keys = NULL;
     *     conf->roles_claim = { 0, NULL };
     *     conf->channel = { 0, NULL };
     *     conf->token_conf = { 0 };
     */

    conf->enable = NGX_CONF_UNSET;
    conf->token = NGX_CONF_UNSET_PTR;
    conf->issuers = NGX_CONF_UNSET_PTR;
    conf->audiences = NGX_CONF_UNSET_PTR;
    conf->leeway = NGX_CONF_UNSET;
    conf->require_exp = NGX_CONF_UNSET;
    conf->max_lifetime = NGX_CONF_UNSET;
    conf->max_length = NGX_CONF_UNSET_SIZE;
    conf->auth = NGX_CONF_UNSET_UINT;
    conf->settings = NGX_CONF_UNSET_PTR;
    conf->reply_buffer = NGX_CONF_UNSET_SIZE;
    conf->customers = NGX_CONF_UNSET_UINT;
    conf->session = NGX_CONF_UNSET;
    conf->journey = NGX_CONF_UNSET;
    conf->admin = NGX_CONF_UNSET;
    conf->policy = NGX_CONF_UNSET;
    conf->rate_limit = NGX_CONF_UNSET;
    conf->dispatch = NGX_CONF_UNSET;
    conf->cases = NGX_CONF_UNSET;

    return conf;
}


static char *
ngx_http_omni_merge_loc_conf(ngx_conf_t *cf, void *parent, void *child)
{
    ngx_http_omni_loc_conf_t *prev = parent;
    ngx_http_omni_loc_conf_t *conf = child;

    omni_token_conf_t  *tc;

    ngx_conf_merge_str_value(conf->channel, prev->channel, "");
    ngx_conf_merge_value(conf->enable, prev->enable, 0);

    /* a channel location always runs the pipeline */
    if (conf->channel.len) {
        conf->enable = 1;
    }

    /* keys set at a level replace, never extend, the inherited ones */
    if (conf->keys == NULL) {
        conf->keys = prev->keys;
    }

    ngx_conf_merge_ptr_value(conf->token, prev->token, NULL);
    ngx_conf_merge_ptr_value(conf->issuers, prev->issuers, NULL);
    ngx_conf_merge_ptr_value(conf->audiences, prev->audiences, NULL);
    ngx_conf_merge_sec_value(conf->leeway, prev->leeway, 0);
    ngx_conf_merge_value(conf->require_exp, prev->require_exp, 1);
    ngx_conf_merge_sec_value(conf->max_lifetime, prev->max_lifetime, 0);
    ngx_conf_merge_size_value(conf->max_length, prev->max_length, 8192);
    ngx_conf_merge_str_value(conf->roles_claim, prev->roles_claim, "roles");

    ngx_conf_merge_uint_value(conf->auth, prev->auth,
                              NGX_HTTP_OMNI_AUTH_JWT);
    ngx_conf_merge_ptr_value(conf->settings, prev->settings, NULL);
    ngx_conf_merge_size_value(conf->reply_buffer, prev->reply_buffer,
                              64 * 1024);

    ngx_conf_merge_uint_value(conf->customers, prev->customers,
                              NGX_HTTP_OMNI_CUSTOMERS_OFF);
    ngx_conf_merge_value(conf->session, prev->session, 0);
    ngx_conf_merge_value(conf->journey, prev->journey, 0);
    /* like its content handler, the admin API is not inherited */
    if (conf->admin == NGX_CONF_UNSET) {
        conf->admin = 0;
    }

    ngx_conf_merge_str_value(conf->admin_role, prev->admin_role, "admin");
    ngx_conf_merge_value(conf->policy, prev->policy, 0);
    ngx_conf_merge_value(conf->cases, prev->cases, 0);

    ngx_conf_merge_value(conf->rate_limit, prev->rate_limit, 0);
    ngx_conf_merge_value(conf->dispatch, prev->dispatch, 0);

    if (ngx_http_omni_dispatch_needed(cf, conf) != NGX_CONF_OK) {
        return NGX_CONF_ERROR;
    }

    if (ngx_http_omni_policy_needed(cf, conf) != NGX_CONF_OK) {
        return NGX_CONF_ERROR;
    }

    if (ngx_http_omni_store_needed(cf, conf) != NGX_CONF_OK) {
        return NGX_CONF_ERROR;
    }

    if (conf->enable && (conf->auth & NGX_HTTP_OMNI_AUTH_JWT)
        && conf->keys == NULL)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "JWT authentication is on but no key is "
                           "configured (omni_jwt_key, omni_jwt_secret or "
                           "omni_jwt_jwks)");
        return NGX_CONF_ERROR;
    }

    tc = &conf->token_conf;

    tc->keys = conf->keys;
    tc->max_length = conf->max_length;
    tc->leeway = (long) conf->leeway;
    tc->require_exp = conf->require_exp;
    tc->max_lifetime = (long) conf->max_lifetime;
    tc->roles_claim = (const char *) conf->roles_claim.data;

    tc->issuers = ngx_http_omni_cstrings(cf, conf->issuers, &tc->nissuers);
    tc->audiences = ngx_http_omni_cstrings(cf, conf->audiences,
                                           &tc->naudiences);

    if ((conf->issuers && tc->issuers == NULL)
        || (conf->audiences && tc->audiences == NULL))
    {
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


static const char **
ngx_http_omni_cstrings(ngx_conf_t *cf, ngx_array_t *a, size_t *n)
{
    ngx_str_t    *s;
    ngx_uint_t    i;
    const char  **p;

    *n = 0;

    if (a == NULL) {
        return NULL;
    }

    p = ngx_palloc(cf->pool, a->nelts * sizeof(char *));
    if (p == NULL) {
        return NULL;
    }

    /* directive arguments are NUL-terminated by the configuration parser */
    s = a->elts;

    for (i = 0; i < a->nelts; i++) {
        p[i] = (const char *) s[i].data;
    }

    *n = a->nelts;

    return p;
}


/*
 * Customers, sessions, journeys and the admin API live in the store;
 * sessions and journeys belong to customers, which channels resolve.
 */
static char *
ngx_http_omni_store_needed(ngx_conf_t *cf, ngx_http_omni_loc_conf_t *conf)
{
    const char                 *what;
    ngx_http_omni_main_conf_t  *omcf;

    omcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_omni_module);

    what = conf->admin ? "omni_admin"
           : conf->customers != NGX_HTTP_OMNI_CUSTOMERS_OFF ? "omni_customers"
           : conf->session ? "omni_session"
           : conf->journey ? "omni_journey" : NULL;

    if (what == NULL) {
        return NGX_CONF_OK;
    }

    if (omcf->store_dir.len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%s\" needs \"omni_store\" at the http level",
                           what);
        return NGX_CONF_ERROR;
    }

    if (conf->journey) {
        omcf->journey_used = 1;
    }

    if ((conf->session || conf->journey)
        && conf->customers == NGX_HTTP_OMNI_CUSTOMERS_OFF)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%s\" needs \"omni_customers resolve\" or "
                           "\"omni_customers create\": sessions and journeys "
                           "belong to customers",
                           conf->session ? "omni_session" : "omni_journey");
        return NGX_CONF_ERROR;
    }

    if (conf->customers != NGX_HTTP_OMNI_CUSTOMERS_OFF
        && conf->channel.len == 0)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"omni_customers\" needs \"omni_channel\": the "
                           "channel's plugin reports the identities");
        return NGX_CONF_ERROR;
    }

    /* on an unauthenticated channel, identities are the client's claims */
    if (conf->customers == NGX_HTTP_OMNI_CUSTOMERS_CREATE
        && conf->auth == NGX_HTTP_OMNI_AUTH_OFF)
    {
        ngx_conf_log_error(NGX_LOG_WARN, cf, 0,
                           "\"omni_customers create\" with \"omni_auth off\" "
                           "lets clients link any identity they claim to a "
                           "customer; \"omni_customers resolve\" only reads");
    }

    /* ... and case queries answer whoever claims an identity */
    if (conf->cases && conf->channel.len
        && conf->customers != NGX_HTTP_OMNI_CUSTOMERS_OFF
        && conf->auth == NGX_HTTP_OMNI_AUTH_OFF)
    {
        ngx_conf_log_error(NGX_LOG_WARN, cf, 0,
                           "\"omni_cases on\" with \"omni_auth off\" answers "
                           "a client's case queries for any identity it "
                           "claims; let the policy deny case.* there, or "
                           "authenticate the channel");
    }

    if (conf->admin
        && (!conf->enable || !(conf->auth & NGX_HTTP_OMNI_AUTH_JWT)))
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"omni_admin\" needs \"omni_gateway on\" with "
                           "JWT authentication (omni_auth jwt)");
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


/* decisions need an action, which only a channel's plugin gives */
static char *
ngx_http_omni_policy_needed(ngx_conf_t *cf, ngx_http_omni_loc_conf_t *conf)
{
    ngx_http_omni_main_conf_t  *omcf;

    if (!conf->policy) {
        return NGX_CONF_OK;
    }

    omcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_omni_module);

    /* an admin location's routes are actions of their own */
    if (conf->channel.len == 0 && conf->admin != 1) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"omni_policy\" needs \"omni_channel\" or "
                           "\"omni_admin\": decisions are made on the "
                           "contract's action or the admin route");
        return NGX_CONF_ERROR;
    }

    if (omcf->policy_file.len == 0 && omcf->store_dir.len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"omni_policy\" needs \"omni_policy_file\" or "
                           "\"omni_store\" at the http level");
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}
