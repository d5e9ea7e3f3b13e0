/*
 * Copyright (C) The omni gateway authors
 *
 * The channel steps of the pipeline: read the body, hand the request to
 * the location's channel plugin (respond, authenticate, normalize), and
 * write the contract for $omni_contract once the dispatch has decided.
 * Also loads the plugins directory into a VM, and the omni_channel and
 * omni_auth directives.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_omni_module.h"


#define NGX_HTTP_OMNI_MAX_HEADERS  100


static void ngx_http_omni_body_handler(ngx_http_request_t *r);
static ngx_int_t ngx_http_omni_raw_request(ngx_http_request_t *r,
    ngx_http_omni_loc_conf_t *olcf, omni_lua_request_t *req);
static ngx_int_t ngx_http_omni_known(ngx_http_request_t *r,
    ngx_http_omni_ctx_t *ctx, ngx_http_omni_loc_conf_t *olcf,
    omni_contract_t *c);
static ngx_int_t ngx_http_omni_plugin_error(ngx_http_request_t *r,
    ngx_http_omni_ctx_t *ctx, const char *fn, omni_lua_rc_t rc,
    omni_lua_result_t *res);
static ngx_int_t ngx_http_omni_location(ngx_http_request_t *r,
    omni_str_t *location);
static ngx_uint_t ngx_http_omni_plugin_name_valid(u_char *name, size_t len);


ngx_int_t
ngx_http_omni_body_step(ngx_http_request_t *r, ngx_http_omni_ctx_t *ctx,
    ngx_http_omni_loc_conf_t *olcf)
{
    ngx_int_t  rc;

    if (olcf->channel.len == 0 || ctx->body_read) {
        return NGX_OK;
    }

    if (ctx->waiting_body) {
        return NGX_DONE;
    }

    /* plugins see the body as one string: keep it in one memory buffer */
    r->request_body_in_single_buf = 1;

    rc = ngx_http_read_client_request_body(r, ngx_http_omni_body_handler);

    if (rc >= NGX_HTTP_SPECIAL_RESPONSE) {
        return rc;
    }

    if (rc == NGX_ERROR) {
        return NGX_ERROR;
    }

    if (ctx->body_read) {
        /* read at once: balance the count the read took */
        r->main->count--;
        return NGX_OK;
    }

    ctx->waiting_body = 1;

    ngx_log_debug0(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "omni: waiting for the request body");

    /* the handler resumes the phases once the body is in */
    ngx_http_finalize_request(r, NGX_DONE);

    return NGX_DONE;
}


static void
ngx_http_omni_body_handler(ngx_http_request_t *r)
{
    ngx_http_omni_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_omni_module);

    ctx->body_read = 1;

    if (ctx->waiting_body) {
        ctx->waiting_body = 0;
        r->write_event_handler = ngx_http_core_run_phases;
        ngx_http_core_run_phases(r);
    }
}


/*
 * Before authentication: the request is prepared for the plugin, which may
 * answer it directly (a CORS preflight, a webhook's URL verification).
 */

ngx_int_t
ngx_http_omni_respond_step(ngx_http_request_t *r, ngx_http_omni_ctx_t *ctx,
    ngx_http_omni_loc_conf_t *olcf)
{
    const char                 *fn;
    const char                 *channel;
    omni_lua_t                 *vm;
    omni_lua_rc_t               rc;
    omni_lua_result_t           res;
    omni_lua_request_t          req;
    ngx_http_omni_main_conf_t  *omcf;

    if (olcf->channel.len == 0) {
        return NGX_OK;
    }

    omcf = ngx_http_get_module_main_conf(r, ngx_http_omni_module);
    vm = omcf->vm;
    channel = (const char *) olcf->channel.data;

    if (vm == NULL) {
        ngx_log_error(NGX_LOG_ALERT, r->connection->log, 0,
                      "omni: no plugin VM in this worker");
        return NGX_ERROR;
    }

    switch (ngx_http_omni_raw_request(r, olcf, &req)) {

    case NGX_OK:
        break;

    case NGX_DECLINED:
        /* part of the body went to a temporary file */
        ctx->error.status = NGX_HTTP_REQUEST_ENTITY_TOO_LARGE;
        ctx->error.code = "body_too_large";
        ctx->error.message = "the body is larger than client_body_buffer_size";

        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "omni: body_too_large: the body of a \"%V\" request "
                      "exceeds client_body_buffer_size", &olcf->channel);

        return NGX_HTTP_REQUEST_ENTITY_TOO_LARGE;

    default:
        return NGX_ERROR;
    }

    ngx_http_omni_result_init(r, &res);

    rc = omni_lua_begin(vm, channel, &req, &ctx->lua_ref, &fn, &res);

    ngx_log_debug3(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "omni: plugin \"%V\" begin, %uz body bytes: %s",
                   &olcf->channel, req.body.len,
                   rc == OMNI_LUA_OK ? "answered"
                   : rc == OMNI_LUA_DECLINED ? "declined"
                   : "refused or failed");

    if (rc == OMNI_LUA_OK) {
        return ngx_http_omni_send_answer(r, &res);
    }

    if (rc != OMNI_LUA_DECLINED) {
        return ngx_http_omni_plugin_error(r, ctx, fn, rc, &res);
    }

    return NGX_OK;
}


/*
 * After authentication: the verified claims join the request, the plugin
 * checks the channel's own credentials when asked to, and normalizes the
 * request; the contract is prepared (the plugin's fields checked, the
 * customer and the session filled in when the location keeps them) and
 * written once by the contract step, when the dispatch has decided.
 */

ngx_int_t
ngx_http_omni_channel_step(ngx_http_request_t *r, ngx_http_omni_ctx_t *ctx,
    ngx_http_omni_loc_conf_t *olcf)
{
    omni_str_t                  claims;
    const char                 *channel;
    omni_lua_t                 *vm;
    omni_lua_rc_t               rc;
    u_char                     *name;
    ngx_int_t                   step;
    omni_contract_t            *c;
    omni_lua_result_t           res;
    ngx_http_omni_prepared_t   *p;
    ngx_http_omni_main_conf_t  *omcf;

    if (olcf->channel.len == 0) {
        return NGX_OK;
    }

    omcf = ngx_http_get_module_main_conf(r, ngx_http_omni_module);
    vm = omcf->vm;
    channel = (const char *) olcf->channel.data;

    if (ctx->authenticated) {
        claims.data = ctx->token.claims;
        claims.len = ctx->token.claims_len;

        omni_lua_set_claims(vm, ctx->lua_ref, &claims);
    }

    if (olcf->auth & NGX_HTTP_OMNI_AUTH_PLUGIN) {
        ngx_http_omni_result_init(r, &res);

        rc = omni_lua_authenticate(vm, channel, ctx->lua_ref, &res);
        if (rc != OMNI_LUA_OK) {
            return ngx_http_omni_plugin_error(r, ctx, "authenticate", rc,
                                              &res);
        }

        ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "omni: plugin \"%V\" authenticate: accepted",
                       &olcf->channel);
    }

    p = ngx_pcalloc(r->pool, sizeof(ngx_http_omni_prepared_t));
    if (p == NULL) {
        return NGX_ERROR;
    }

    c = &p->contract;

    ngx_http_omni_result_init(r, &res);

    rc = omni_lua_normalize(vm, channel, ctx->lua_ref, c, &res);
    if (rc != OMNI_LUA_OK) {
        return ngx_http_omni_plugin_error(r, ctx, "normalize", rc, &res);
    }

    ctx->action.data = (u_char *) c->action.data;
    ctx->action.len = c->action.len;

    ngx_log_debug3(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "omni: plugin \"%V\" normalize: action \"%V\", "
                   "%uz identities", &olcf->channel, &ctx->action,
                   c->nidentities);

    /* the caller of a rate limit when no customer or subject is known */
    if (c->nidentities) {
        ctx->identity = c->identities[0];
    }

    /* the checks refused a NUL: the dispatch compares C strings */
    ctx->intent.data = (u_char *) c->intent.data;
    ctx->intent.len = c->intent.len;
    ctx->confidence = c->confidence;

    /* policy conditions compare C strings: the checks refused a NUL */
    if (c->tier.data) {
        ctx->tier.data = (u_char *) c->tier.data;
        ctx->tier.len = c->tier.len;
    }

    /*
     * $omni_action and the journey are read in the log phase, when the
     * plugin's fields may have been collected: the action and the intent
     * are copied (NUL-terminated, as the policy and the dispatch read
     * them).
     */
    name = ngx_pnalloc(r->pool, ctx->action.len + ctx->intent.len + 2);
    if (name == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(name, ctx->action.data, ctx->action.len);
    name[ctx->action.len] = '\0';
    ctx->action.data = name;

    if (ctx->intent.data) {
        name += ctx->action.len + 1;
        ngx_memcpy(name, ctx->intent.data, ctx->intent.len);
        name[ctx->intent.len] = '\0';
        ctx->intent.data = name;
    }

    if (ngx_http_omni_known(r, ctx, olcf, c) != NGX_OK) {
        return NGX_ERROR;
    }

    if (olcf->customers != NGX_HTTP_OMNI_CUSTOMERS_OFF) {
        step = ngx_http_omni_customer_step(r, ctx, olcf, c, &p->session);
        if (step != NGX_OK) {
            return step;
        }
    }

    ctx->prepared = p;
    ctx->render = 1;

    return NGX_OK;
}


/*
 * The last step, and the cases step when it needs the contract before:
 * the prepared contract gets the dispatch decision and is written, once,
 * into the request's pool.  The plugin's fields are still on the VM's
 * stack: no step between runs plugin code.  The writer checks params;
 * what it refuses is the plugin's fault (plugin_contract_invalid).
 */

ngx_int_t
ngx_http_omni_contract_step(ngx_http_request_t *r, ngx_http_omni_ctx_t *ctx,
    ngx_http_omni_loc_conf_t *olcf)
{
    omni_lua_rc_t               rc;
    omni_lua_result_t           res;
    omni_dispatch_pool_t       *pool;
    omni_contract_dispatch_t   *d;
    ngx_http_omni_prepared_t   *p;
    ngx_http_omni_main_conf_t  *omcf;

    p = ctx->prepared;

    if (p == NULL) {
        return NGX_OK;
    }

    ctx->prepared = NULL;

    omcf = ngx_http_get_module_main_conf(r, ngx_http_omni_module);

    if (ctx->pool) {
        pool = &ctx->workflow->dispatch->pools[ctx->pool - 1];
        d = &p->dispatch;

        d->pool.data = pool->name;
        d->pool.len = ngx_strlen(pool->name);
        d->rule.data = ctx->dispatch_rule;
        d->rule.len = ngx_strlen(ctx->dispatch_rule);
        d->step = (int) ctx->dispatch_step;
        d->reason.data = ctx->dispatch_reason;
        d->reason.len = ngx_strlen(ctx->dispatch_reason);

        p->contract.dispatch = d;
    }

    ngx_http_omni_result_init(r, &res);

    rc = omni_lua_contract(omcf->vm, &p->contract, &res);
    if (rc != OMNI_LUA_OK) {
        ctx->render = 0;
        return ngx_http_omni_plugin_error(r, ctx, "normalize", rc, &res);
    }

    ctx->contract.data = (u_char *) res.contract.data;
    ctx->contract.len = res.contract.len;

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "omni: contract built, %uz bytes", ctx->contract.len);

    return NGX_OK;
}


/*
 * Turns a refusal or a failure of a plugin call into the request's error:
 * refusals are the client's business (info), failures are ours (error).
 */

static ngx_int_t
ngx_http_omni_plugin_error(ngx_http_request_t *r, ngx_http_omni_ctx_t *ctx,
    const char *fn, omni_lua_rc_t rc, omni_lua_result_t *res)
{
    ngx_http_omni_loc_conf_t  *olcf;

    olcf = ngx_http_get_module_loc_conf(r, ngx_http_omni_module);

    ngx_log_debug3(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "omni: plugin \"%V\" %s: %s", &olcf->channel, fn,
                   rc == OMNI_LUA_REJECTED ? "refused" : "failed");

    if (rc == OMNI_LUA_REJECTED) {
        ctx->error.status = res->status;
        ctx->error.code = res->code.data;
        ctx->error.message = res->message.data;

        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "omni: channel \"%V\" %s refused the request: %s (%s)",
                      &olcf->channel, fn, res->code.data, res->message.data);

        return res->status;
    }

    ctx->error.status = NGX_HTTP_INTERNAL_SERVER_ERROR;
    ctx->error.message = "the channel plugin failed";

    switch (rc) {
    case OMNI_LUA_TIMEOUT:
        ctx->error.code = "plugin_timeout";
        break;
    case OMNI_LUA_MEMORY:
        ctx->error.code = "plugin_memory";
        break;
    default:
        ctx->error.code = "plugin_error";
        break;
    }

    ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                  "omni: plugin \"%V\" %s failed: %s: %s",
                  &olcf->channel, fn, ctx->error.code, res->message.data);

    return NGX_HTTP_INTERNAL_SERVER_ERROR;
}


ngx_int_t
ngx_http_omni_plugins_load(ngx_log_t *log, ngx_http_omni_main_conf_t *omcf,
    omni_lua_t **vmp)
{
    char             err[OMNI_ERRLEN];
    u_char          *path, *name;
    size_t           len;
    ngx_int_t        rc;
    ngx_dir_t        dir;
    omni_lua_t      *vm;
    ngx_uint_t       i;
    ngx_http_omni_ref_t  *ref;

    vm = omni_lua_new((const char *) omcf->lua_library.data, omcf->memory,
                      (unsigned) omcf->timeout, err);
    if (vm == NULL) {
        ngx_log_error(NGX_LOG_EMERG, log, 0, "omni: %s", err);
        return NGX_ERROR;
    }

    if (!omni_lua_jit(vm)) {
        ngx_log_error(NGX_LOG_WARN, log, 0,
                      "omni: LuaJIT's profiler is held by other Lua code in "
                      "this process (jit.profile?): plugins run interpreted, "
                      "so that omni_plugin_timeout still holds");
    }

    if (ngx_open_dir(&omcf->plugins, &dir) == NGX_ERROR) {
        ngx_log_error(NGX_LOG_EMERG, log, ngx_errno,
                      ngx_open_dir_n " \"%V\" failed", &omcf->plugins);
        omni_lua_free(vm);
        return NGX_ERROR;
    }

    rc = NGX_OK;

    for ( ;; ) {
        ngx_set_errno(0);

        if (ngx_read_dir(&dir) == NGX_ERROR) {
            if (ngx_errno != NGX_ENOMOREFILES) {
                ngx_log_error(NGX_LOG_EMERG, log, ngx_errno,
                              ngx_read_dir_n " \"%V\" failed",
                              &omcf->plugins);
                rc = NGX_ERROR;
            }

            break;
        }

        name = ngx_de_name(&dir);
        len = ngx_de_namelen(&dir);

        if (len <= 4 || ngx_strcmp(name + len - 4, ".lua") != 0) {
            continue;
        }

        len -= 4;

        if (!ngx_http_omni_plugin_name_valid(name, len)) {
            ngx_log_error(NGX_LOG_EMERG, log, 0,
                          "omni: plugin file name \"%s\" in \"%V\" is not "
                          "a channel name ([a-z][a-z0-9_]*, 32 at most)",
                          name, &omcf->plugins);
            rc = NGX_ERROR;
            break;
        }

        path = ngx_alloc(omcf->plugins.len + len + 6, log);
        if (path == NULL) {
            rc = NGX_ERROR;
            break;
        }

        ngx_sprintf(path, "%V/%s%Z", &omcf->plugins, name);
        name[len] = '\0';

        if (omni_lua_load_plugin(vm, (const char *) name, (const char *) path,
                                 err)
            != 0)
        {
            ngx_log_error(NGX_LOG_EMERG, log, 0, "omni: %s", err);
            ngx_free(path);
            rc = NGX_ERROR;
            break;
        }

        ngx_free(path);
    }

    ngx_close_dir(&dir);

    if (rc == NGX_OK) {
        ref = omcf->channels.elts;

        for (i = 0; i < omcf->channels.nelts; i++) {
            if (!omni_lua_has_plugin(vm, (const char *) ref[i].name.data)) {
                ngx_log_error(NGX_LOG_EMERG, log, 0,
                              "omni: no plugin \"%V.lua\" in \"%V\" for "
                              "omni_channel in %V:%ui", &ref[i].name,
                              &omcf->plugins, &ref[i].file, ref[i].line);
                rc = NGX_ERROR;
                break;
            }
        }
    }

    if (rc != NGX_OK) {
        omni_lua_free(vm);
        return NGX_ERROR;
    }

    *vmp = vm;

    return NGX_OK;
}


static ngx_int_t
ngx_http_omni_raw_request(ngx_http_request_t *r,
    ngx_http_omni_loc_conf_t *olcf, omni_lua_request_t *req)
{
    ngx_str_t          body;
    ngx_int_t          rc;
    ngx_uint_t         i, n, max;
    ngx_list_part_t   *part;
    ngx_keyval_t      *kv;
    ngx_table_elt_t   *h;

    ngx_memzero(req, sizeof(omni_lua_request_t));

    rc = ngx_http_omni_request_body(r, &body);

    if (rc != NGX_OK) {
        return rc;
    }

    req->body.data = body.data ? (const char *) body.data : "";
    req->body.len = body.len;

    req->method.data = (const char *) r->method_name.data;
    req->method.len = r->method_name.len;
    req->path.data = (const char *) r->uri.data;
    req->path.len = r->uri.len;
    req->query.data = r->args.len ? (const char *) r->args.data : "";
    req->query.len = r->args.len;
    req->client_ip.data = (const char *) r->connection->addr_text.data;
    req->client_ip.len = r->connection->addr_text.len;
    req->time = (int64_t) r->start_sec;

    if (ngx_http_omni_location(r, &req->location) != NGX_OK) {
        return NGX_ERROR;
    }

    /* as many as came, up to the limit: the request's pool is small */
    max = 0;

    for (part = &r->headers_in.headers.part; part; part = part->next) {
        max += part->nelts;
    }

    max = ngx_min(max, NGX_HTTP_OMNI_MAX_HEADERS);

    req->headers = ngx_palloc(r->pool, max * sizeof(omni_pair_t));
    if (req->headers == NULL) {
        return NGX_ERROR;
    }

    n = 0;
    part = &r->headers_in.headers.part;
    h = part->elts;

    for (i = 0; n < max; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                break;
            }

            part = part->next;
            h = part->elts;
            i = 0;
        }

        if (h[i].hash == 0) {
            continue;
        }

        req->headers[n].name.data = (const char *) h[i].lowcase_key;
        req->headers[n].name.len = h[i].key.len;
        req->headers[n].value.data = (const char *) h[i].value.data;
        req->headers[n].value.len = h[i].value.len;
        n++;
    }

    req->nheaders = n;

    if (olcf->settings) {
        kv = olcf->settings->elts;
        req->settings = ngx_palloc(r->pool,
                                   olcf->settings->nelts * sizeof(omni_pair_t));
        if (req->settings == NULL) {
            return NGX_ERROR;
        }

        for (i = 0; i < olcf->settings->nelts; i++) {
            req->settings[i].name.data = (const char *) kv[i].key.data;
            req->settings[i].name.len = kv[i].key.len;
            req->settings[i].value.data = (const char *) kv[i].value.data;
            req->settings[i].value.len = kv[i].value.len;
        }

        req->nsettings = olcf->settings->nelts;
    }

    return NGX_OK;
}


/*
 * The location's literal path, so that a plugin works under any mount
 * point (req.route): "/mp/" for a prefix location, "=/mp/api" for an
 * exact one; nothing for regular expressions and named locations.
 */

static ngx_int_t
ngx_http_omni_location(ngx_http_request_t *r, omni_str_t *location)
{
    u_char                    *p;
    ngx_http_core_loc_conf_t  *clcf;

    clcf = ngx_http_get_module_loc_conf(r, ngx_http_core_module);

    if (clcf->named
#if (NGX_PCRE)
        || clcf->regex
#endif
        || clcf->name.len == 0
        || clcf->name.data[0] != '/')
    {
        return NGX_OK;
    }

    if (!clcf->exact_match) {
        location->data = (const char *) clcf->name.data;
        location->len = clcf->name.len;
        return NGX_OK;
    }

    p = ngx_pnalloc(r->pool, clcf->name.len + 1);
    if (p == NULL) {
        return NGX_ERROR;
    }

    p[0] = '=';
    ngx_memcpy(p + 1, clcf->name.data, clcf->name.len);

    location->data = (const char *) p;
    location->len = clcf->name.len + 1;

    return NGX_OK;
}


/* what the gateway itself puts into the contract */
static ngx_int_t
ngx_http_omni_known(ngx_http_request_t *r, ngx_http_omni_ctx_t *ctx,
    ngx_http_omni_loc_conf_t *olcf, omni_contract_t *c)
{
    ngx_uint_t   i;
    omni_str_t  *roles;

    c->request_id = *ngx_http_omni_request_id(r, ctx);

    if (!omni_contract_is_id(c->request_id.data, c->request_id.len)) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "omni: the request id is not [A-Za-z0-9_-]{1,64}, "
                      "the contract cannot carry it");
        return NGX_ERROR;
    }

    c->received_at = (int64_t) r->start_sec * 1000 + r->start_msec;
    c->channel.data = (const char *) olcf->channel.data;
    c->channel.len = olcf->channel.len;
    c->client_ip.data = (const char *) r->connection->addr_text.data;
    c->client_ip.len = r->connection->addr_text.len;

    if (r->headers_in.user_agent) {
        c->user_agent.data =
                            (const char *) r->headers_in.user_agent->value.data;
        c->user_agent.len = r->headers_in.user_agent->value.len;
    }

    if (ctx->authenticated) {
        c->principal = 1;

        if (ctx->token.sub) {
            c->subject.data = ctx->token.sub;
            c->subject.len = ngx_strlen(ctx->token.sub);
        }

        if (ctx->token.iss && omni_text_is_clean(ctx->token.iss,
                                                 ngx_strlen(ctx->token.iss)))
        {
            c->issuer.data = ctx->token.iss;
            c->issuer.len = ngx_strlen(ctx->token.iss);
        }

        if (ctx->token.nroles) {
            roles = ngx_palloc(r->pool,
                               ctx->token.nroles * sizeof(omni_str_t));
            if (roles == NULL) {
                return NGX_ERROR;
            }

            for (i = 0; i < ctx->token.nroles; i++) {
                roles[i].data = ctx->token.roles[i];
                roles[i].len = ngx_strlen(ctx->token.roles[i]);
            }

            c->roles = roles;
            c->nroles = ctx->token.nroles;
        }
    }

    return NGX_OK;
}


static ngx_uint_t
ngx_http_omni_plugin_name_valid(u_char *name, size_t len)
{
    size_t  i;

    if (len == 0 || len > 32 || name[0] < 'a' || name[0] > 'z') {
        return 0;
    }

    for (i = 1; i < len; i++) {
        if (!((name[i] >= 'a' && name[i] <= 'z')
              || (name[i] >= '0' && name[i] <= '9') || name[i] == '_'))
        {
            return 0;
        }
    }

    return 1;
}


char *
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


char *
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
