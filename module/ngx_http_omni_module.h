/*
 * Copyright (C) The omni gateway authors
 */

#ifndef NGX_HTTP_OMNI_MODULE_H_INCLUDED_
#define NGX_HTTP_OMNI_MODULE_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "omni_keys.h"
#include "omni_token.h"


typedef struct {
    ngx_flag_t                  enable;
    omni_keyset_t              *keys;
    ngx_http_complex_value_t   *token;
    ngx_array_t                *issuers;       /* of ngx_str_t */
    ngx_array_t                *audiences;     /* of ngx_str_t */
    time_t                      leeway;
    ngx_flag_t                  require_exp;
    size_t                      max_length;
    ngx_str_t                   roles_claim;

    /* the plain-C view of the above, built once in merge */
    omni_token_conf_t           token_conf;
} ngx_http_omni_loc_conf_t;


typedef struct {
    ngx_uint_t                  status;
    const char                 *code;          /* stable error code */
    const char                 *message;       /* for error_description */
} ngx_http_omni_error_t;


typedef struct {
    ngx_uint_t                  step;          /* next pipeline step */
    ngx_http_omni_error_t       error;
    unsigned                    authenticated:1;
    omni_token_t                token;
    ngx_str_t                   claims;        /* memoized payload JSON */
    ngx_str_t                   roles;         /* memoized "a,b" */
} ngx_http_omni_ctx_t;


ngx_int_t ngx_http_omni_access_handler(ngx_http_request_t *r);
ngx_int_t ngx_http_omni_jwt_step(ngx_http_request_t *r,
    ngx_http_omni_ctx_t *ctx, ngx_http_omni_loc_conf_t *olcf);
ngx_int_t ngx_http_omni_add_variables(ngx_conf_t *cf);


extern ngx_module_t  ngx_http_omni_module;


#endif /* NGX_HTTP_OMNI_MODULE_H_INCLUDED_ */
