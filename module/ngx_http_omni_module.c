/*
 * Copyright (C) The omni gateway authors
 *
 * Directives, configuration and registration of the omni gateway.  The
 * request pipeline lives in ngx_http_omni_access.c, its steps in their own
 * files, the variables in ngx_http_omni_variables.c.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_omni_module.h"


#define NGX_HTTP_OMNI_KEY_PEM      0
#define NGX_HTTP_OMNI_KEY_SECRET   1

#define NGX_HTTP_OMNI_GROUPS_MAX   64


static ngx_int_t ngx_http_omni_preconfiguration(ngx_conf_t *cf);
static ngx_int_t ngx_http_omni_init(ngx_conf_t *cf);
static void *ngx_http_omni_create_main_conf(ngx_conf_t *cf);
static char *ngx_http_omni_init_main_conf(ngx_conf_t *cf, void *conf);
static ngx_int_t ngx_http_omni_init_process(ngx_cycle_t *cycle);
static void ngx_http_omni_exit_process(ngx_cycle_t *cycle);
static char *ngx_http_omni_channel(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_omni_auth(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_omni_session_timeout(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
static char *ngx_http_omni_journey_limits(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_omni_store_needed(ngx_conf_t *cf,
    ngx_http_omni_loc_conf_t *conf);
static char *ngx_http_omni_store_access(ngx_conf_t *cf, ngx_str_t *dir);
static char *ngx_http_omni_policy_needed(ngx_conf_t *cf,
    ngx_http_omni_loc_conf_t *conf);
static char *ngx_http_omni_store(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static void *ngx_http_omni_create_loc_conf(ngx_conf_t *cf);
static char *ngx_http_omni_merge_loc_conf(ngx_conf_t *cf, void *parent,
    void *child);
static char *ngx_http_omni_jwt_key(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_omni_jwt_jwks(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static omni_keyset_t *ngx_http_omni_keyset(ngx_conf_t *cf,
    ngx_http_omni_loc_conf_t *olcf);
static void ngx_http_omni_keyset_cleanup(void *data);
static const char **ngx_http_omni_cstrings(ngx_conf_t *cf, ngx_array_t *a,
    size_t *n);
static char *ngx_http_omni_check_roles_claim(ngx_conf_t *cf, void *post,
    void *data);
static char *ngx_http_omni_jwt_max_lifetime(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);


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
     */

    omcf->timeout = NGX_CONF_UNSET_MSEC;
    omcf->memory = NGX_CONF_UNSET_SIZE;
    omcf->session_idle = NGX_CONF_UNSET;
    omcf->session_absolute = NGX_CONF_UNSET;
    omcf->session_touch = NGX_CONF_UNSET;
    omcf->session_purge = NGX_CONF_UNSET;
    omcf->journey_max = NGX_CONF_UNSET_UINT;
    omcf->journey_age = NGX_CONF_UNSET;
    omcf->journey_flush = NGX_CONF_UNSET_MSEC;
    omcf->cache_entries = NGX_CONF_UNSET_UINT;
    omcf->cache_bytes = NGX_CONF_UNSET_SIZE;
    omcf->cache_ttl = NGX_CONF_UNSET;

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

    ngx_file_info_t  fi;

    ngx_conf_init_msec_value(omcf->timeout, 50);
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

    if (omcf->store_dir.len) {
        if (ngx_conf_full_name(cf->cycle, &omcf->store_dir, 1) != NGX_OK) {
            return NGX_CONF_ERROR;
        }

        if (ngx_file_info(omcf->store_dir.data, &fi) == NGX_FILE_ERROR) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                               "omni_store directory \"%V\" is not there",
                               &omcf->store_dir);
            return NGX_CONF_ERROR;
        }

        if (!ngx_is_dir(&fi)
            || access((const char *) omcf->store_dir.data,
                      R_OK|W_OK|X_OK) != 0)
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "omni_store \"%V\" is not a writable "
                               "directory", &omcf->store_dir);
            return NGX_CONF_ERROR;
        }

        if (ngx_http_omni_store_access(cf, &omcf->store_dir) != NGX_CONF_OK) {
            return NGX_CONF_ERROR;
        }
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
    char                        err[OMNI_STORE_ERRLEN];
    ngx_http_omni_main_conf_t  *omcf;

    omcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_http_omni_module);

    if (omcf == NULL) {
        return NGX_OK;
    }

    if (ngx_http_omni_jwt_init_worker(cycle, omcf) != NGX_OK) {
        return NGX_ERROR;
    }

    /* neither an LMDB environment nor a VM may cross a fork */
    if (omcf->store_dir.len) {
        omcf->store = omni_store_open((const char *) omcf->store_dir.data,
                                      omcf->store_max,
                                      (int) omcf->store_sync, err);
        if (omcf->store == NULL) {
            ngx_log_error(NGX_LOG_EMERG, cycle->log, 0, "omni: %s", err);
            return NGX_ERROR;
        }

        if (ngx_http_omni_store_init_worker(cycle, omcf) != NGX_OK) {
            return NGX_ERROR;
        }
    }

    if (ngx_http_omni_policy_init_worker(cycle, omcf) != NGX_OK) {
        return NGX_ERROR;
    }

    if (omcf->plugins.len == 0) {
        return NGX_OK;
    }

    return ngx_http_omni_plugins_load(cycle->log, omcf, &omcf->vm);
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
    }

    if (omcf && omcf->store) {
        ngx_http_omni_store_exit_worker(cycle);
        omni_store_close(omcf->store);
        omcf->store = NULL;
    }
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


static char *
ngx_http_omni_jwt_key(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_omni_loc_conf_t *olcf = conf;

    int             rc;
    char            err[OMNI_KEY_ERRLEN];
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


static char *
ngx_http_omni_jwt_jwks(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_omni_loc_conf_t *olcf = conf;

    char            err[OMNI_KEY_ERRLEN];
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


static char *
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
static char *
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


static char *
ngx_http_omni_channel(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_omni_loc_conf_t *olcf = conf;

    ngx_str_t                  *value;
    ngx_http_omni_ref_t        *ref;
    ngx_http_omni_main_conf_t  *omcf;

    if (olcf->channel.len) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (value[1].len == 0 || value[1].len > 32) {
        return "needs a channel name of 1 to 32 characters";
    }

    olcf->channel = value[1];

    omcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_omni_module);

    ref = ngx_array_push(&omcf->channels);
    if (ref == NULL) {
        return NGX_CONF_ERROR;
    }

    ref->name = value[1];
    ref->file = cf->conf_file->file.name;
    ref->line = cf->conf_file->line;

    return NGX_CONF_OK;
}


static char *
ngx_http_omni_auth(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_omni_loc_conf_t *olcf = conf;

    ngx_str_t   *value;
    ngx_uint_t   i;

    if (olcf->auth != NGX_CONF_UNSET_UINT) {
        return "is duplicate";
    }

    value = cf->args->elts;
    olcf->auth = 0;

    for (i = 1; i < cf->args->nelts; i++) {

        if (ngx_strcmp(value[i].data, "jwt") == 0) {
            olcf->auth |= NGX_HTTP_OMNI_AUTH_JWT;

        } else if (ngx_strcmp(value[i].data, "plugin") == 0) {
            olcf->auth |= NGX_HTTP_OMNI_AUTH_PLUGIN;

        } else if (ngx_strcmp(value[i].data, "off") == 0
                   && cf->args->nelts == 2)
        {
            olcf->auth = NGX_HTTP_OMNI_AUTH_OFF;

        } else {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid value \"%V\", expected \"jwt\", "
                               "\"plugin\", \"jwt plugin\" or \"off\"",
                               &value[i]);
            return NGX_CONF_ERROR;
        }
    }

    return NGX_CONF_OK;
}


/*
 * The master checks as root; the workers open the store as nginx's user.
 * Say so now rather than have every worker exit at start.
 */
static char *
ngx_http_omni_store_access(ngx_conf_t *cf, ngx_str_t *dir)
{
    int              i, ngroups;
    gid_t            groups[NGX_HTTP_OMNI_GROUPS_MAX];
    ngx_uint_t       f, need, shift;
    struct stat      st;
    struct passwd   *pw;
    ngx_core_conf_t  *ccf;
    u_char           path[NGX_MAX_PATH];

    static const char  *files[] = { "", "/data.mdb", "/lock.mdb" };

    if (geteuid() != 0) {
        return NGX_CONF_OK;
    }

    ccf = (ngx_core_conf_t *) ngx_get_conf(cf->cycle->conf_ctx,
                                           ngx_core_module);

    /* without a master there are no workers: the process stays root */
    if (ccf->master == 0) {
        return NGX_CONF_OK;
    }

    /* the "user" directive, or the default the core module will apply */
    pw = getpwnam(ccf->username ? ccf->username : NGX_USER);
    if (pw == NULL || pw->pw_uid == 0) {
        return NGX_CONF_OK;
    }

    ngroups = NGX_HTTP_OMNI_GROUPS_MAX;
    if (getgrouplist(pw->pw_name, ccf->user != (ngx_uid_t) NGX_CONF_UNSET_UINT
                                  ? ccf->group : pw->pw_gid,
                     groups, &ngroups) < 0)
    {
        ngroups = NGX_HTTP_OMNI_GROUPS_MAX;
    }

    for (f = 0; f < sizeof(files) / sizeof(files[0]); f++) {
        if (ngx_snprintf(path, NGX_MAX_PATH, "%V%s%Z", dir, files[f])
            == path + NGX_MAX_PATH)
        {
            return NGX_CONF_OK;
        }

        if (stat((char *) path, &st) != 0) {
            continue;
        }

        /* rwx for the directory, rw for its files */
        need = (f == 0) ? 7 : 6;

        if (st.st_uid == pw->pw_uid) {
            shift = 6;

        } else {
            for (i = 0; i < ngroups; i++) {
                if (groups[i] == st.st_gid) {
                    break;
                }
            }

            shift = (i < ngroups) ? 3 : 0;
        }

        if (((st.st_mode >> shift) & need) != need) {
            goto denied;
        }
    }

    return NGX_CONF_OK;

denied:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "omni_store: \"%s\" is not readable and writable by "
                       "the worker user \"%s\"; chown it to that user",
                       path, pw->pw_name);

    return NGX_CONF_ERROR;
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

    if (conf->channel.len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"omni_policy\" needs \"omni_channel\": "
                           "decisions are made on the contract's action");
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


/* omni_session_timeout idle=30m [absolute=24h|off] [touch=60s] [purge=60s] */
static char *
ngx_http_omni_session_timeout(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_omni_main_conf_t *omcf = conf;

    time_t      t, *field;
    ngx_str_t  *value, s;
    ngx_uint_t  i;

    if (omcf->session_idle != NGX_CONF_UNSET) {
        return "is duplicate";
    }

    value = cf->args->elts;

    for (i = 1; i < cf->args->nelts; i++) {

        if (ngx_strncmp(value[i].data, "idle=", 5) == 0) {
            field = &omcf->session_idle;
            s.data = value[i].data + 5;
            s.len = value[i].len - 5;

        } else if (ngx_strncmp(value[i].data, "absolute=", 9) == 0) {
            field = &omcf->session_absolute;
            s.data = value[i].data + 9;
            s.len = value[i].len - 9;

        } else if (ngx_strncmp(value[i].data, "touch=", 6) == 0) {
            field = &omcf->session_touch;
            s.data = value[i].data + 6;
            s.len = value[i].len - 6;

        } else if (ngx_strncmp(value[i].data, "purge=", 6) == 0) {
            field = &omcf->session_purge;
            s.data = value[i].data + 6;
            s.len = value[i].len - 6;

        } else {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid parameter \"%V\", expected "
                               "\"idle=\", \"absolute=\", \"touch=\" or "
                               "\"purge=\"", &value[i]);
            return NGX_CONF_ERROR;
        }

        /* only absolute= and purge= may be off */
        if (s.len == 3 && ngx_strncmp(s.data, "off", 3) == 0
            && (field == &omcf->session_absolute
                || field == &omcf->session_purge))
        {
            *field = 0;
            continue;
        }

        t = ngx_parse_time(&s, 1);
        if (t == (time_t) NGX_ERROR || t == 0) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid time in \"%V\"", &value[i]);
            return NGX_CONF_ERROR;
        }

        *field = t;
    }

    if (omcf->session_idle == NGX_CONF_UNSET) {
        return "needs idle=time";
    }

    if (omcf->session_touch != NGX_CONF_UNSET
        && omcf->session_touch >= omcf->session_idle)
    {
        return "needs touch= shorter than idle=";
    }

    return NGX_CONF_OK;
}


/* omni_journey_limits [max=1000] [age=90d] [flush=1s] */
static char *
ngx_http_omni_journey_limits(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_omni_main_conf_t *omcf = conf;

    time_t      t;
    ngx_int_t   n;
    ngx_str_t  *value, s;
    ngx_uint_t  i;

    if (omcf->journey_max != NGX_CONF_UNSET_UINT
        || omcf->journey_age != NGX_CONF_UNSET
        || omcf->journey_flush != NGX_CONF_UNSET_MSEC)
    {
        return "is duplicate";
    }

    value = cf->args->elts;

    for (i = 1; i < cf->args->nelts; i++) {

        if (ngx_strncmp(value[i].data, "max=", 4) == 0) {
            n = ngx_atoi(value[i].data + 4, value[i].len - 4);
            if (n == NGX_ERROR || n < 1 || n > 1000000) {
                goto invalid;
            }

            omcf->journey_max = (ngx_uint_t) n;
            continue;
        }

        if (ngx_strncmp(value[i].data, "age=", 4) == 0) {
            s.data = value[i].data + 4;
            s.len = value[i].len - 4;

            t = ngx_parse_time(&s, 1);
            if (t == (time_t) NGX_ERROR || t == 0) {
                goto invalid;
            }

            omcf->journey_age = t;
            continue;
        }

        if (ngx_strncmp(value[i].data, "flush=", 6) == 0) {
            s.data = value[i].data + 6;
            s.len = value[i].len - 6;

            n = ngx_parse_time(&s, 0);
            if (n == NGX_ERROR || n < 1 || n > 60000) {
                goto invalid;
            }

            omcf->journey_flush = (ngx_msec_t) n;
            continue;
        }

        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid parameter \"%V\", expected \"max=\", "
                           "\"age=\" or \"flush=\"", &value[i]);
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;

invalid:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "invalid value in \"%V\" (max=1..1000000, age= a "
                       "time, flush=1ms..60s)", &value[i]);
    return NGX_CONF_ERROR;
}


static char *
ngx_http_omni_store(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_omni_main_conf_t *omcf = conf;

    ssize_t      size;
    ngx_str_t   *value, s;
    ngx_uint_t   i;

    if (omcf->store_dir.len) {
        return "is duplicate";
    }

    value = cf->args->elts;

    omcf->store_dir = value[1];
    omcf->store_max = 1024 * 1024 * 1024;
    omcf->store_sync = OMNI_STORE_SYNC_FULL;

    for (i = 2; i < cf->args->nelts; i++) {

        if (ngx_strncmp(value[i].data, "max=", 4) == 0) {
            s.data = value[i].data + 4;
            s.len = value[i].len - 4;

            size = ngx_parse_size(&s);
            if (size == NGX_ERROR || size < 1024 * 1024) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid omni_store size \"%V\", "
                                   "1m at least", &value[i]);
                return NGX_CONF_ERROR;
            }

            omcf->store_max = (size_t) size;
            continue;
        }

        if (ngx_strcmp(value[i].data, "sync=full") == 0) {
            omcf->store_sync = OMNI_STORE_SYNC_FULL;
            continue;
        }

        if (ngx_strcmp(value[i].data, "sync=meta") == 0) {
            omcf->store_sync = OMNI_STORE_SYNC_META;
            continue;
        }

        if (ngx_strcmp(value[i].data, "sync=none") == 0) {
            omcf->store_sync = OMNI_STORE_SYNC_NONE;
            continue;
        }

        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid parameter \"%V\", expected "
                           "\"max=size\" or \"sync=full|meta|none\"",
                           &value[i]);
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}
