/*
 * Copyright (C) The omni gateway authors
 *
 * Variables over the verified token, computed only when a configuration
 * reads them.  Values that could carry control bytes are refused rather
 * than copied into a header.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_omni_module.h"


typedef enum {
    NGX_HTTP_OMNI_VAR_SUB = 0,
    NGX_HTTP_OMNI_VAR_ISS,
    NGX_HTTP_OMNI_VAR_KID,
    NGX_HTTP_OMNI_VAR_ALG
} ngx_http_omni_var_field_e;


static ngx_int_t ngx_http_omni_variable_field(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static ngx_int_t ngx_http_omni_variable_roles(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static ngx_int_t ngx_http_omni_variable_claims(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static ngx_int_t ngx_http_omni_variable_claim(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static ngx_int_t ngx_http_omni_variable_cache(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static ngx_int_t ngx_http_omni_variable_error(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static ngx_int_t ngx_http_omni_variable_contract(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static ngx_int_t ngx_http_omni_variable_policy(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static ngx_http_omni_ctx_t *ngx_http_omni_verified(ngx_http_request_t *r);
static void ngx_http_omni_set_value(ngx_http_variable_value_t *v,
    u_char *data, size_t len);


static ngx_http_variable_t  ngx_http_omni_vars[] = {

    { ngx_string("omni_jwt_sub"), NULL, ngx_http_omni_variable_field,
      NGX_HTTP_OMNI_VAR_SUB, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("omni_jwt_iss"), NULL, ngx_http_omni_variable_field,
      NGX_HTTP_OMNI_VAR_ISS, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("omni_jwt_kid"), NULL, ngx_http_omni_variable_field,
      NGX_HTTP_OMNI_VAR_KID, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("omni_jwt_alg"), NULL, ngx_http_omni_variable_field,
      NGX_HTTP_OMNI_VAR_ALG, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("omni_jwt_roles"), NULL, ngx_http_omni_variable_roles,
      0, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("omni_jwt_claims"), NULL, ngx_http_omni_variable_claims,
      0, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("omni_jwt_claim_"), NULL, ngx_http_omni_variable_claim,
      0, NGX_HTTP_VAR_NOCACHEABLE|NGX_HTTP_VAR_PREFIX, 0 },

    { ngx_string("omni_jwt_cache"), NULL, ngx_http_omni_variable_cache,
      0, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("omni_error"), NULL, ngx_http_omni_variable_error,
      0, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("omni_contract"), NULL, ngx_http_omni_variable_contract,
      offsetof(ngx_http_omni_ctx_t, contract), NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("omni_action"), NULL, ngx_http_omni_variable_contract,
      offsetof(ngx_http_omni_ctx_t, action), NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("omni_customer"), NULL, ngx_http_omni_variable_contract,
      offsetof(ngx_http_omni_ctx_t, customer), NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("omni_session"), NULL, ngx_http_omni_variable_contract,
      offsetof(ngx_http_omni_ctx_t, session), NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("omni_policy_rule"), NULL, ngx_http_omni_variable_contract,
      offsetof(ngx_http_omni_ctx_t, policy_rule), NGX_HTTP_VAR_NOCACHEABLE,
      0 },

    { ngx_string("omni_policy_decision"), NULL,
      ngx_http_omni_variable_policy, 0, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("omni_policy_revision"), NULL,
      ngx_http_omni_variable_policy, 1, NGX_HTTP_VAR_NOCACHEABLE, 0 },

      ngx_http_null_variable
};


ngx_int_t
ngx_http_omni_add_variables(ngx_conf_t *cf)
{
    return ngx_http_omni_add_variable_table(cf, ngx_http_omni_vars);
}


/* a table of variables, ended by ngx_http_null_variable */
ngx_int_t
ngx_http_omni_add_variable_table(ngx_conf_t *cf, ngx_http_variable_t *vars)
{
    ngx_http_variable_t  *var, *v;

    for (v = vars; v->name.len; v++) {
        var = ngx_http_add_variable(cf, &v->name, v->flags);
        if (var == NULL) {
            return NGX_ERROR;
        }

        var->get_handler = v->get_handler;
        var->data = v->data;
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_omni_variable_field(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    const char           *s;
    ngx_http_omni_ctx_t  *ctx;

    ctx = ngx_http_omni_verified(r);
    if (ctx == NULL) {
        v->not_found = 1;
        return NGX_OK;
    }

    switch (data) {
    case NGX_HTTP_OMNI_VAR_SUB:
        s = ctx->token.sub;
        break;
    case NGX_HTTP_OMNI_VAR_ISS:
        s = ctx->token.iss;
        break;
    case NGX_HTTP_OMNI_VAR_KID:
        s = ctx->token.kid;
        break;
    default: /* NGX_HTTP_OMNI_VAR_ALG */
        s = ctx->token.alg;
        break;
    }

    /* sub is checked at verification; iss and kid are checked here */
    if (s == NULL || !omni_text_is_clean(s, ngx_strlen(s))) {
        v->not_found = 1;
        return NGX_OK;
    }

    ngx_http_omni_set_value(v, (u_char *) s, ngx_strlen(s));

    return NGX_OK;
}


static ngx_int_t
ngx_http_omni_variable_roles(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    u_char               *p;
    size_t                len;
    ngx_uint_t            i;
    ngx_http_omni_ctx_t  *ctx;

    ctx = ngx_http_omni_verified(r);
    if (ctx == NULL) {
        v->not_found = 1;
        return NGX_OK;
    }

    if (ctx->roles.data == NULL) {
        len = 0;

        for (i = 0; i < ctx->token.nroles; i++) {
            len += ngx_strlen(ctx->token.roles[i]) + 1;
        }

        p = ngx_pnalloc(r->pool, len + 1);
        if (p == NULL) {
            return NGX_ERROR;
        }

        ctx->roles.data = p;

        for (i = 0; i < ctx->token.nroles; i++) {
            if (i) {
                *p++ = ',';
            }

            p = ngx_cpymem(p, ctx->token.roles[i],
                           ngx_strlen(ctx->token.roles[i]));
        }

        ctx->roles.len = p - ctx->roles.data;
    }

    ngx_http_omni_set_value(v, ctx->roles.data, ctx->roles.len);

    return NGX_OK;
}


static ngx_int_t
ngx_http_omni_variable_claims(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    ngx_http_omni_ctx_t  *ctx;

    ctx = ngx_http_omni_verified(r);
    if (ctx == NULL) {
        v->not_found = 1;
        return NGX_OK;
    }

    /* compact JSON text, which holds no control byte */
    ngx_http_omni_set_value(v, (u_char *) ctx->token.claims,
                            ctx->token.claims_len);

    return NGX_OK;
}


static ngx_int_t
ngx_http_omni_variable_claim(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    ngx_str_t *var = (ngx_str_t *) data;

    long                  len;
    char                 *buf;
    ngx_str_t             name;
    const char           *text;
    ngx_http_omni_ctx_t  *ctx;

    ctx = ngx_http_omni_verified(r);
    if (ctx == NULL) {
        v->not_found = 1;
        return NGX_OK;
    }

    name.len = var->len - (sizeof("omni_jwt_claim_") - 1);
    name.data = var->data + sizeof("omni_jwt_claim_") - 1;

    len = omni_token_claim_text(&ctx->token, (const char *) name.data,
                                name.len, NULL, 0, &text);
    if (len < 0) {
        v->not_found = 1;
        return NGX_OK;
    }

    /* a value other than a string is written as JSON into the pool */
    if (text == NULL) {
        buf = ngx_pnalloc(r->pool, len);
        if (buf == NULL) {
            return NGX_ERROR;
        }

        len = omni_token_claim_text(&ctx->token, (const char *) name.data,
                                    name.len, buf, len, &text);
    }

    if (!omni_text_is_clean(text, len)) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "omni: claim \"%V\" has control characters, "
                      "not exposed", &name);
        v->not_found = 1;
        return NGX_OK;
    }

    ngx_http_omni_set_value(v, (u_char *) text, len);

    return NGX_OK;
}


/* "hit", "miss" or "off": how this worker's cache served the token */
static ngx_int_t
ngx_http_omni_variable_cache(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    ngx_http_omni_ctx_t  *ctx;

    static ngx_str_t  states[] = {
        ngx_null_string,
        ngx_string("hit"),
        ngx_string("miss"),
        ngx_string("off"),
    };

    ctx = ngx_http_get_module_ctx(r->main, ngx_http_omni_module);

    if (ctx == NULL || ctx->jwt_cache == NGX_HTTP_OMNI_CACHE_NONE) {
        v->not_found = 1;
        return NGX_OK;
    }

    ngx_http_omni_set_value(v, states[ctx->jwt_cache].data,
                            states[ctx->jwt_cache].len);

    return NGX_OK;
}


static ngx_int_t
ngx_http_omni_variable_error(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    ngx_http_omni_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_omni_module);

    if (ctx == NULL || ctx->error.code == NULL) {
        v->not_found = 1;
        return NGX_OK;
    }

    ngx_http_omni_set_value(v, (u_char *) ctx->error.code,
                            ngx_strlen(ctx->error.code));

    return NGX_OK;
}


/* A string kept in the request context once the plugin normalized it. */

/* data 0: "allow" or "deny"; 1: the policy revision that decided */
static ngx_int_t
ngx_http_omni_variable_policy(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    u_char               *p;
    ngx_http_omni_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r->main, ngx_http_omni_module);

    if (ctx == NULL || !ctx->policy_decided) {
        v->not_found = 1;
        return NGX_OK;
    }

    if (data == 0) {
        p = (u_char *) (ctx->policy_allowed ? "allow" : "deny");
        ngx_http_omni_set_value(v, p, ngx_strlen(p));
        return NGX_OK;
    }

    p = ngx_pnalloc(r->pool, NGX_INT32_LEN);
    if (p == NULL) {
        return NGX_ERROR;
    }

    ngx_http_omni_set_value(v, p, ngx_sprintf(p, "%uD", ctx->policy_rev) - p);

    return NGX_OK;
}


static ngx_int_t
ngx_http_omni_variable_contract(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    ngx_str_t            *s;
    ngx_http_omni_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r->main, ngx_http_omni_module);

    if (ctx == NULL) {
        v->not_found = 1;
        return NGX_OK;
    }

    s = (ngx_str_t *) ((char *) ctx + data);

    if (s->data == NULL) {
        v->not_found = 1;
        return NGX_OK;
    }

    ngx_http_omni_set_value(v, s->data, s->len);

    return NGX_OK;
}


static ngx_http_omni_ctx_t *
ngx_http_omni_verified(ngx_http_request_t *r)
{
    ngx_http_omni_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r->main, ngx_http_omni_module);

    if (ctx == NULL || !ctx->authenticated) {
        return NULL;
    }

    return ctx;
}


static void
ngx_http_omni_set_value(ngx_http_variable_value_t *v, u_char *data,
    size_t len)
{
    v->data = data;
    v->len = len;
    v->valid = 1;
    v->no_cacheable = 0;
    v->not_found = 0;
}
