/*
 * omni_dispatch_balancer: an upstream{} block whose peers are those of the
 * upstream the request's pool names, so that a dispatching location says
 * proxy_pass http://NAME; with a fixed name.  The alternative,
 * proxy_pass http://$omni_pool, makes nginx evaluate a URL, parse it and
 * look the upstream up by name on every request (about a quarter of what
 * dispatch costs a request); here the pool's upstream is found when the
 * workflow is compiled (ngx_http_omni_workflow.c) and the request only
 * hands over to its balancer: round robin, hash, keepalive, whatever the
 * pool's block has.
 */

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_omni_module.h"


static ngx_int_t ngx_http_omni_balancer_init(ngx_conf_t *cf,
    ngx_http_upstream_srv_conf_t *us);
static ngx_int_t ngx_http_omni_balancer_init_peer(ngx_http_request_t *r,
    ngx_http_upstream_srv_conf_t *us);


char *
ngx_http_omni_balancer(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_upstream_server_t    *placeholder;
    ngx_http_upstream_srv_conf_t  *uscf;

    uscf = ngx_http_conf_get_module_srv_conf(cf, ngx_http_upstream_module);

    if (uscf->peer.init_upstream == ngx_http_omni_balancer_init) {
        return "is duplicate";
    }

    if (uscf->peer.init_upstream) {
        return "cannot follow another balancing method: the pools' "
               "upstream{} blocks have theirs";
    }

    uscf->peer.init_upstream = ngx_http_omni_balancer_init;

    /* nginx wants a server in every upstream{}: one that is never used */
    placeholder = ngx_array_push(uscf->servers);
    if (placeholder == NULL) {
        return NGX_CONF_ERROR;
    }

    ngx_memzero(placeholder, sizeof(ngx_http_upstream_server_t));

    return NGX_CONF_OK;
}


/* the upstream{} block holds nothing else to balance */
static ngx_int_t
ngx_http_omni_balancer_init(ngx_conf_t *cf, ngx_http_upstream_srv_conf_t *us)
{
    /* a method after this one took its place, or wraps it (keepalive) */
    if (us->peer.init_upstream != ngx_http_omni_balancer_init) {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "upstream \"%V\" has \"omni_dispatch_balancer\" and "
                      "another method: \"keepalive\" and the like go in "
                      "the pools' upstream{} blocks", &us->host);
        return NGX_ERROR;
    }

    if (us->servers->nelts > 1) {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "upstream \"%V\" has \"omni_dispatch_balancer\": its "
                      "servers are those of the pools' upstream{} blocks, "
                      "it takes no \"server\" of its own", &us->host);
        return NGX_ERROR;
    }

    if (us->shm_zone) {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "upstream \"%V\" has \"omni_dispatch_balancer\", "
                      "which keeps no peers for a \"zone\"", &us->host);
        return NGX_ERROR;
    }

    us->peer.init = ngx_http_omni_balancer_init_peer;

    return NGX_OK;
}


/*
 * Whether an upstream{} block balances by the pools: a pool that named
 * one would hand each request back to itself.
 */
ngx_uint_t
ngx_http_omni_balancer_is(ngx_http_upstream_srv_conf_t *us)
{
    return us->peer.init_upstream == ngx_http_omni_balancer_init;
}


static ngx_int_t
ngx_http_omni_balancer_init_peer(ngx_http_request_t *r,
    ngx_http_upstream_srv_conf_t *us)
{
    ngx_http_omni_ctx_t           *ctx;
    ngx_http_upstream_srv_conf_t  *pool;

    ctx = ngx_http_get_module_ctx(r->main, ngx_http_omni_module);

    if (ctx == NULL || ctx->pool == 0) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "omni: upstream \"%V\" takes dispatched requests "
                      "only: this one has no pool (\"omni_dispatch on\" "
                      "where it is proxied?)", &us->host);
        return NGX_ERROR;
    }

    pool = ctx->workflow->upstreams[ctx->pool - 1];

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "omni: upstream \"%V\": the pool's, \"%V\"", &us->host,
                   &pool->host);

    return pool->peer.init(r, pool);
}
