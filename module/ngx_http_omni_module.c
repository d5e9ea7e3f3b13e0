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


static ngx_int_t ngx_http_omni_preconfiguration(ngx_conf_t *cf);
static ngx_int_t ngx_http_omni_init(ngx_conf_t *cf);
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


static ngx_uint_t  ngx_http_omni_key_pem = NGX_HTTP_OMNI_KEY_PEM;
static ngx_uint_t  ngx_http_omni_key_secret = NGX_HTTP_OMNI_KEY_SECRET;

static ngx_conf_num_bounds_t  ngx_http_omni_max_length_bounds = {
    ngx_conf_check_num_bounds, 64, 1024 * 1024
};

static ngx_conf_post_handler_pt  ngx_http_omni_roles_claim_post =
    ngx_http_omni_check_roles_claim;


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

      ngx_null_command
};


static ngx_http_module_t  ngx_http_omni_module_ctx = {
    ngx_http_omni_preconfiguration,        /* preconfiguration */
    ngx_http_omni_init,                    /* postconfiguration */

    NULL,                                  /* create main configuration */
    NULL,                                  /* init main configuration */

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
    NULL,                                  /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    NULL,                                  /* exit process */
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
    ngx_http_handler_pt        *h;
    ngx_http_core_main_conf_t  *cmcf;

    cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module);

    h = ngx_array_push(&cmcf->phases[NGX_HTTP_ACCESS_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    *h = ngx_http_omni_access_handler;

    return NGX_OK;
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
     *     conf->token_conf = { 0 };
     */

    conf->enable = NGX_CONF_UNSET;
    conf->token = NGX_CONF_UNSET_PTR;
    conf->issuers = NGX_CONF_UNSET_PTR;
    conf->audiences = NGX_CONF_UNSET_PTR;
    conf->leeway = NGX_CONF_UNSET;
    conf->require_exp = NGX_CONF_UNSET;
    conf->max_length = NGX_CONF_UNSET_SIZE;

    return conf;
}


static char *
ngx_http_omni_merge_loc_conf(ngx_conf_t *cf, void *parent, void *child)
{
    ngx_http_omni_loc_conf_t *prev = parent;
    ngx_http_omni_loc_conf_t *conf = child;

    omni_token_conf_t  *tc;

    ngx_conf_merge_value(conf->enable, prev->enable, 0);

    /* keys set at a level replace, never extend, the inherited ones */
    if (conf->keys == NULL) {
        conf->keys = prev->keys;
    }

    ngx_conf_merge_ptr_value(conf->token, prev->token, NULL);
    ngx_conf_merge_ptr_value(conf->issuers, prev->issuers, NULL);
    ngx_conf_merge_ptr_value(conf->audiences, prev->audiences, NULL);
    ngx_conf_merge_sec_value(conf->leeway, prev->leeway, 0);
    ngx_conf_merge_value(conf->require_exp, prev->require_exp, 1);
    ngx_conf_merge_size_value(conf->max_length, prev->max_length, 8192);
    ngx_conf_merge_str_value(conf->roles_claim, prev->roles_claim, "roles");

    if (conf->enable && conf->keys == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"omni_gateway\" is on but no key is configured "
                           "(omni_jwt_key, omni_jwt_secret or omni_jwt_jwks)");
        return NGX_CONF_ERROR;
    }

    tc = &conf->token_conf;

    tc->keys = conf->keys;
    tc->max_length = conf->max_length;
    tc->leeway = (long) conf->leeway;
    tc->require_exp = conf->require_exp;
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
