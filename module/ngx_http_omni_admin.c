/*
 * Copyright (C) The omni gateway authors
 *
 * The admin location: the store's administration (omni_admin.h) as JSON
 * endpoints.  The access phase has verified the token with the location's
 * keys; this content handler checks the admin role, reads the body into
 * memory, hands the request to the plain-C core and sends its answer.
 * Changes are logged at notice level with the token's subject, never the
 * token.
 *
 * The glue's own answers, in the core's {"error", "message"} shape:
 *
 *   401 token_missing, or the code of the token step's refusal: no
 *       verified token, as when "satisfy any" let the request in through
 *       another access module
 *   403 permission_denied: the token lacks the location's admin role
 *   404 unknown_route: the raw path does not start with the location name
 *       (a percent-encoded prefix, a URI rewritten into the location)
 *   413 body_too_large: a body over OMNI_ADMIN_BODY_MAX (a policy: over
 *       OMNI_STORE_POLICY_MAX), or one that went to a temporary file
 *       (larger than client_body_buffer_size)
 *   500 store_error: no store in this worker, or out of memory
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_omni_module.h"
#include "omni_admin.h"


#define NGX_HTTP_OMNI_ADMIN_ROLE_MAX  128
#define NGX_HTTP_OMNI_ADMIN_RESOURCE  32      /* bytes of an action's word */


static const char *ngx_http_omni_admin_actor(ngx_http_omni_ctx_t *ctx);
static ngx_int_t ngx_http_omni_admin_handler(ngx_http_request_t *r);
static ngx_int_t ngx_http_omni_admin_unauthorized(ngx_http_request_t *r,
    ngx_http_omni_ctx_t *ctx);
static ngx_int_t ngx_http_omni_admin_forbidden(ngx_http_request_t *r,
    ngx_http_omni_ctx_t *ctx, ngx_str_t *role);
static ngx_uint_t ngx_http_omni_admin_has_role(ngx_http_omni_ctx_t *ctx,
    ngx_str_t *role);
static void ngx_http_omni_admin_body_handler(ngx_http_request_t *r);
static ngx_int_t ngx_http_omni_admin_process(ngx_http_request_t *r);
static ngx_int_t ngx_http_omni_admin_body(ngx_http_request_t *r,
    ngx_str_t *body);
static size_t ngx_http_omni_admin_body_max(ngx_http_request_t *r);
static ngx_int_t ngx_http_omni_admin_path(ngx_http_request_t *r,
    ngx_str_t *path);
static void ngx_http_omni_admin_audit(ngx_http_request_t *r,
    ngx_http_omni_ctx_t *ctx, omni_admin_result_t *res);
static ngx_int_t ngx_http_omni_admin_acked(ngx_http_request_t *r, void *data,
    ngx_uint_t acked);
static void ngx_http_omni_admin_result_free(void *data);
static ngx_int_t ngx_http_omni_admin_answer(ngx_http_request_t *r,
    ngx_http_omni_ctx_t *ctx, omni_admin_result_t *res);
static const char *ngx_http_omni_admin_subject(ngx_http_omni_ctx_t *ctx,
    const char **quote);
static ngx_int_t ngx_http_omni_admin_refuse(ngx_http_request_t *r,
    ngx_uint_t status, const char *code, const char *message);
static ngx_int_t ngx_http_omni_admin_error(ngx_http_request_t *r,
    ngx_uint_t status, const char *code, const char *message);
static ngx_int_t ngx_http_omni_admin_send(ngx_http_request_t *r,
    ngx_uint_t status, u_char *body, size_t len, ngx_str_t *allow);
static ngx_int_t ngx_http_omni_admin_header(ngx_http_request_t *r,
    char *name, size_t name_len, u_char *value, size_t len);


/*
 * omni_admin [role=NAME]: the location answers the admin API to tokens
 * with the role (default "admin").  What follows the location name in the
 * URI is the route, so only a prefix location ending with "/" can hold it.
 */

char *
ngx_http_omni_admin(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_omni_loc_conf_t *olcf = conf;

    u_char                    *p;
    ngx_str_t                 *value, role;
    ngx_uint_t                 i;
    ngx_http_core_loc_conf_t  *clcf;

    if (olcf->admin != NGX_CONF_UNSET) {
        return "is duplicate";
    }

    value = cf->args->elts;
    ngx_str_null(&role);

    if (cf->args->nelts == 2) {

        if (value[1].len <= sizeof("role=") - 1
            || value[1].len > sizeof("role=") - 1
                              + NGX_HTTP_OMNI_ADMIN_ROLE_MAX
            || ngx_strncmp(value[1].data, "role=", sizeof("role=") - 1) != 0)
        {
            goto invalid;
        }

        role.data = value[1].data + sizeof("role=") - 1;
        role.len = value[1].len - (sizeof("role=") - 1);

        p = role.data;

        for (i = 0; i < role.len; i++) {
            if (p[i] <= ' ' || p[i] == ',' || p[i] == 0x7f) {
                goto invalid;
            }
        }
    }

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);

    if (clcf->exact_match
#if (NGX_PCRE)
        || clcf->regex
#endif
        || clcf->named
        || clcf->name.len == 0
        || clcf->name.data[clcf->name.len - 1] != '/')
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"omni_admin\" needs a prefix location ending "
                           "with \"/\", such as \"location /admin/\"");
        return NGX_CONF_ERROR;
    }

    olcf->admin = 1;

    if (role.len) {
        /* directive arguments are NUL-terminated by the parser */
        olcf->admin_role = role;
    }

    clcf->handler = ngx_http_omni_admin_handler;

    return NGX_CONF_OK;

invalid:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "invalid omni_admin parameter \"%V\", "
                       "expected \"role=name\"", &value[1]);
    return NGX_CONF_ERROR;
}


/* the token's subject when the store can record it, else NULL ("-") */
static const char *
ngx_http_omni_admin_actor(ngx_http_omni_ctx_t *ctx)
{
    const char  *sub;

    sub = ctx->token.sub;

    if (sub == NULL
        || !omni_store_text_valid(sub,
                                  ngx_strnlen((u_char *) sub,
                                              OMNI_STORE_VALUE_MAX + 1),
                                  OMNI_STORE_VALUE_MAX))
    {
        return NULL;
    }

    return sub;
}


static ngx_int_t
ngx_http_omni_admin_handler(ngx_http_request_t *r)
{
    ngx_int_t                  rc;
    ngx_http_omni_ctx_t       *ctx;
    ngx_http_omni_loc_conf_t  *olcf;

    olcf = ngx_http_get_module_loc_conf(r, ngx_http_omni_module);
    ctx = ngx_http_get_module_ctx(r, ngx_http_omni_module);

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "omni admin: %V request, token %s", &r->method_name,
                   (ctx && ctx->authenticated) ? "verified" : "missing");

    /*
     * No context: a subrequest, which skips the access phase.  A context
     * without a verified token: "satisfy any" let the request in through
     * another module.  Neither is an administrator.
     */
    if (ctx == NULL || !ctx->authenticated) {
        return ngx_http_omni_admin_unauthorized(r, ctx);
    }

    /* with omni_policy on, the access phase's policy step decided */
    if (!olcf->policy
        && !ngx_http_omni_admin_has_role(ctx, &olcf->admin_role))
    {
        return ngx_http_omni_admin_forbidden(r, ctx, &olcf->admin_role);
    }

    if (r->headers_in.content_length_n
        > (off_t) ngx_http_omni_admin_body_max(r))
    {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "omni admin: body_too_large: a body of %O bytes, "
                      "%uz at most", r->headers_in.content_length_n,
                      ngx_http_omni_admin_body_max(r));

        return ngx_http_omni_admin_refuse(r,
                                          NGX_HTTP_REQUEST_ENTITY_TOO_LARGE,
                                          "body_too_large",
                                          "the body is larger than the "
                                          "admin API accepts");
    }

    /* the core takes the body as one string: keep it in one buffer */
    r->request_body_in_single_buf = 1;

    rc = ngx_http_read_client_request_body(r,
                                           ngx_http_omni_admin_body_handler);

    if (rc >= NGX_HTTP_SPECIAL_RESPONSE) {
        return rc;
    }

    return NGX_DONE;
}


static ngx_int_t
ngx_http_omni_admin_unauthorized(ngx_http_request_t *r,
    ngx_http_omni_ctx_t *ctx)
{
    const char  *code, *message;

    code = "token_missing";
    message = "the admin API needs a verified token";

    /* the token step's own reason, when it refused a token */
    if (ctx && ctx->error.status == NGX_HTTP_UNAUTHORIZED
        && ctx->error.code && ctx->error.message)
    {
        code = ctx->error.code;
        message = ctx->error.message;
    }

    if (ngx_strcmp(code, "token_missing") == 0) {
        /* RFC 6750 3.1: no error code when no credentials came */
        if (ngx_http_omni_admin_header(r, "WWW-Authenticate",
                                       sizeof("WWW-Authenticate") - 1,
                                       (u_char *) "Bearer",
                                       sizeof("Bearer") - 1)
            != NGX_OK)
        {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

    } else if (ngx_http_omni_admin_header(r, "WWW-Authenticate",
                                          sizeof("WWW-Authenticate") - 1,
                                          (u_char *) "Bearer error="
                                                     "\"invalid_token\"",
                                          sizeof("Bearer error="
                                                 "\"invalid_token\"") - 1)
               != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_omni_admin_refuse(r, NGX_HTTP_UNAUTHORIZED, code,
                                      message);
}


static ngx_int_t
ngx_http_omni_admin_forbidden(ngx_http_request_t *r,
    ngx_http_omni_ctx_t *ctx, ngx_str_t *role)
{
    u_char      *message;
    const char  *sub, *quote;
    omni_str_t  *id;

    sub = ngx_http_omni_admin_subject(ctx, &quote);
    id = ngx_http_omni_request_id(r, ctx);

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "omni admin: permission_denied: the token of %s%s%s "
                  "lacks the role \"%V\" (request %*s)",
                  quote, sub, quote, role, id->len, id->data);

    message = ngx_pnalloc(r->pool,
                          sizeof("the token lacks the role \"\"") + role->len);
    if (message == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_sprintf(message, "the token lacks the role \"%V\"%Z", role);

    return ngx_http_omni_admin_refuse(r, NGX_HTTP_FORBIDDEN,
                                      "permission_denied",
                                      (const char *) message);
}


static ngx_uint_t
ngx_http_omni_admin_has_role(ngx_http_omni_ctx_t *ctx, ngx_str_t *role)
{
    size_t  i;

    for (i = 0; i < ctx->token.nroles; i++) {
        if (ngx_strlen(ctx->token.roles[i]) == role->len
            && ngx_strncmp(ctx->token.roles[i], role->data, role->len) == 0)
        {
            return 1;
        }
    }

    return 0;
}


static void
ngx_http_omni_admin_body_handler(ngx_http_request_t *r)
{
    ngx_http_finalize_request(r, ngx_http_omni_admin_process(r));
}


static ngx_int_t
ngx_http_omni_admin_process(ngx_http_request_t *r)
{
    int                         rc;
    u_char                     *method;
    uint64_t                    last;
    ngx_str_t                   body, path;
    ngx_int_t                   nrc;
    ngx_pool_cleanup_t         *cln;
    omni_admin_result_t        *res;
    omni_admin_request_t        req;
    ngx_http_omni_ctx_t        *ctx;
    ngx_http_omni_main_conf_t  *omcf;

    ctx = ngx_http_get_module_ctx(r, ngx_http_omni_module);
    omcf = ngx_http_get_module_main_conf(r, ngx_http_omni_module);

    switch (ngx_http_omni_admin_body(r, &body)) {

    case NGX_OK:
        break;

    case NGX_DECLINED:
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "omni admin: body_too_large: the body exceeds "
                      "client_body_buffer_size or %uz bytes",
                      ngx_http_omni_admin_body_max(r));

        return ngx_http_omni_admin_error(r, NGX_HTTP_REQUEST_ENTITY_TOO_LARGE,
                                         "body_too_large",
                                         "the body is larger than the "
                                         "admin API accepts");

    default:
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    nrc = ngx_http_omni_admin_path(r, &path);

    if (nrc == NGX_DECLINED) {
        return ngx_http_omni_admin_error(r, NGX_HTTP_NOT_FOUND,
                                         "unknown_route",
                                         "the path does not start with "
                                         "the admin location");
    }

    if (omcf->store == NULL) {
        ngx_log_error(NGX_LOG_ALERT, r->connection->log, 0,
                      "omni admin: no store in this worker");

        return ngx_http_omni_admin_error(r, NGX_HTTP_INTERNAL_SERVER_ERROR,
                                         "store_error",
                                         "the store is not open");
    }

    /* the core takes the method as a C string */
    method = ngx_pnalloc(r->pool, r->method_name.len + 1);
    if (method == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_cpystrn(method, r->method_name.data, r->method_name.len + 1);

    ngx_memzero(&req, sizeof(omni_admin_request_t));

    req.method = (const char *) method;
    req.path = (const char *) path.data;
    req.path_len = path.len;

    if (r->args.len) {
        req.query = (const char *) r->args.data;
        req.query_len = r->args.len;
    }

    if (body.len) {
        req.body = (const char *) body.data;
        req.body_len = body.len;
    }

    req.now = (int64_t) ngx_time();
    req.sla = omcf->case_sla;

    /* recorded as the author of policy revisions: a name without spaces */
    req.actor = ngx_http_omni_admin_actor(ctx);

    /* freed with the request: an acknowledged answer outlives this */
    res = ngx_pcalloc(r->pool, sizeof(omni_admin_result_t));
    if (res == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (cln == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    cln->handler = ngx_http_omni_admin_result_free;
    cln->data = res;

    last = 0;

    if (omcf->cluster_ack && ngx_http_omni_cluster_last(r, &last) != NGX_OK)
    {
        return ngx_http_omni_admin_error(r, NGX_HTTP_INTERNAL_SERVER_ERROR,
                                         "store_error",
                                         "the change log is unreadable");
    }

    rc = omni_admin_handle(omcf->store, &req, res);

#if (NGX_DEBUG)
    {
    u_char  *end;

    /* the resource only: what follows may be an identity's value */
    end = ngx_strlchr(path.data + 1, path.data + path.len, '/');

    ngx_log_debug4(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "omni admin: route %V /%*s, status %ui", &r->method_name,
                   (size_t) ((end ? end : path.data + path.len)
                             - (path.data + 1)),
                   path.data + 1, (ngx_uint_t) res->status);
    }
#endif

    if (rc != 0 || res->body == NULL) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "omni admin: out of memory");

        return ngx_http_omni_admin_error(r, NGX_HTTP_INTERNAL_SERVER_ERROR,
                                         "store_error", "out of memory");
    }

    if (res->audit) {
        ngx_http_omni_admin_audit(r, ctx, res);
    }

    ngx_http_omni_metrics_case_breaches(omcf, res->sla_breach);

    /* omni_cluster ack=on: a change is answered once JetStream has it */
    if (omcf->cluster_ack && res->audit && res->status < 300) {
        nrc = ngx_http_omni_cluster_ack(r, last, ngx_http_omni_admin_acked,
                                        res);
        if (nrc == NGX_DONE) {
            return NGX_DONE;
        }

        if (nrc != NGX_OK) {
            return ngx_http_omni_admin_error(r,
                                             NGX_HTTP_INTERNAL_SERVER_ERROR,
                                             "store_error",
                                             "the change log is unreadable");
        }
    }

    return ngx_http_omni_admin_answer(r, ctx, res);
}


/*
 * The answer of a change omni_cluster ack=on waited for: the core's once
 * JetStream accepted it, else 503 cluster_ack_timeout (the change stays
 * made here, and omni-sync publishes it when it can).
 */
static ngx_int_t
ngx_http_omni_admin_acked(ngx_http_request_t *r, void *data,
    ngx_uint_t acked)
{
    omni_admin_result_t  *res = data;

    if (acked) {
        return ngx_http_omni_admin_answer(r,
                   ngx_http_get_module_ctx(r, ngx_http_omni_module), res);
    }

    return ngx_http_omni_admin_error(r, NGX_HTTP_SERVICE_UNAVAILABLE,
                                     "cluster_ack_timeout",
                                     "the change is made and recorded on "
                                     "this node, and will be published to "
                                     "the cluster, but JetStream did not "
                                     "accept it within omni_cluster "
                                     "ack_timeout");
}


static void
ngx_http_omni_admin_result_free(void *data)
{
    omni_admin_result_free(data);
}


/*
 * The body as one memory string.  NGX_DECLINED when it is over the limit
 * or (part of it) went to a temporary file.
 */

static ngx_int_t
ngx_http_omni_admin_body(ngx_http_request_t *r, ngx_str_t *body)
{
    ngx_int_t  rc;

    rc = ngx_http_omni_request_body(r, body);

    if (rc == NGX_OK && body->len > ngx_http_omni_admin_body_max(r)) {
        return NGX_DECLINED;
    }

    return rc;
}


/*
 * The route: the raw path (not decoded, without the arguments) after the
 * location name, with its leading "/".  The location matched the decoded
 * URI; when the raw one does not start with the name literally (an
 * encoded prefix, a rewrite) there is no route to take: NGX_DECLINED.
 */

static ngx_int_t
ngx_http_omni_admin_path(ngx_http_request_t *r, ngx_str_t *path)
{
    u_char                    *q;
    size_t                     len;
    ngx_http_core_loc_conf_t  *clcf;

    clcf = ngx_http_get_module_loc_conf(r, ngx_http_core_module);

    len = r->unparsed_uri.len;

    q = ngx_strlchr(r->unparsed_uri.data, r->unparsed_uri.data + len, '?');
    if (q) {
        len = q - r->unparsed_uri.data;
    }

    if (len < clcf->name.len
        || ngx_strncmp(r->unparsed_uri.data, clcf->name.data, clcf->name.len)
           != 0)
    {
        return NGX_DECLINED;
    }

    /* keep the "/" that ends the name */
    path->data = r->unparsed_uri.data + clcf->name.len - 1;
    path->len = len - clcf->name.len + 1;

    return NGX_OK;
}


/*
 * The policy's view of an admin request, "admin.RESOURCE.read" (GET,
 * HEAD) or "admin.RESOURCE.write", RESOURCE the path's first segment when
 * it is a word of the policy's action names ("other" when not): one
 * policy gives each role the routes it may use.
 */
ngx_int_t
ngx_http_omni_admin_action(ngx_http_request_t *r, ngx_http_omni_ctx_t *ctx)
{
    u_char      *p, *last, *seg, *end;
    size_t       len;
    ngx_str_t    path;
    const char  *verb;

    verb = (r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD)) ? "read" : "write";

    seg = NULL;
    end = NULL;

    if (ngx_http_omni_admin_path(r, &path) == NGX_OK && path.len > 1) {
        seg = path.data + 1;
        last = path.data + path.len;

        for (p = seg; p < last && *p != '/'; p++) {
            if (!((*p >= 'a' && *p <= 'z')
                  || (p > seg && ((*p >= '0' && *p <= '9') || *p == '_'))))
            {
                seg = NULL;
                break;
            }
        }

        end = p;

        if (seg && (end == seg || end - seg > NGX_HTTP_OMNI_ADMIN_RESOURCE)) {
            seg = NULL;
        }
    }

    if (seg == NULL) {
        seg = (u_char *) "other";
        end = seg + sizeof("other") - 1;
    }

    len = sizeof("admin.") - 1 + (end - seg) + 1 + ngx_strlen(verb);

    ctx->action.data = ngx_pnalloc(r->pool, len + 1);
    if (ctx->action.data == NULL) {
        return NGX_ERROR;
    }

    ctx->action.len = ngx_sprintf(ctx->action.data, "admin.%*s.%s%Z",
                                  end - seg, seg, verb)
                      - ctx->action.data - 1;

    return NGX_OK;
}


/*
 * A whole policy may be larger than other bodies; it must still fit the
 * location's client_body_buffer_size, as every body here.
 */
static size_t
ngx_http_omni_admin_body_max(ngx_http_request_t *r)
{
    ngx_str_t  path;

    if (ngx_http_omni_admin_path(r, &path) == NGX_OK
        && path.len == sizeof("/policy") - 1
        && ngx_strncmp(path.data, "/policy", path.len) == 0)
    {
        return OMNI_STORE_POLICY_MAX;
    }

    return OMNI_ADMIN_BODY_MAX;
}


/* Logs the change the core made, when it is made. */

static void
ngx_http_omni_admin_audit(ngx_http_request_t *r, ngx_http_omni_ctx_t *ctx,
    omni_admin_result_t *res)
{
    ngx_log_t    log;
    omni_str_t  *id;
    const char  *sub, *quote;

    sub = ngx_http_omni_admin_subject(ctx, &quote);
    id = ngx_http_omni_request_id(r, ctx);

    /*
     * Without nginx's request context: its "request:" would repeat the
     * path, which holds an identity's value on identity routes.
     */
    log = *r->connection->log;
    log.handler = NULL;

    ngx_log_error(NGX_LOG_NOTICE, &log, 0,
                  "omni admin: %s by %s%s%s (request %*s)",
                  res->audit, quote, sub, quote, id->len, id->data);
}


/*
 * One admin API call made by another admin route of the gateway
 * (omni_dispatch_pools), for the request's token; the change audited.
 * NGX_ERROR when memory ran out; res to free with omni_admin_result_free.
 */
ngx_int_t
ngx_http_omni_admin_call(ngx_http_request_t *r, ngx_http_omni_ctx_t *ctx,
    const char *method, const char *path, const char *body, size_t len,
    omni_admin_result_t *res)
{
    omni_admin_request_t        req;
    ngx_http_omni_main_conf_t  *omcf;

    omcf = ngx_http_get_module_main_conf(r, ngx_http_omni_module);

    ngx_memzero(&req, sizeof(omni_admin_request_t));
    req.method = method;
    req.path = path;
    req.path_len = ngx_strlen(path);
    req.body = body;
    req.body_len = len;
    req.now = (int64_t) ngx_time();
    req.sla = omcf->case_sla;
    req.actor = ngx_http_omni_admin_actor(ctx);

    if (omni_admin_handle(omcf->store, &req, res) != 0 || res->body == NULL) {
        omni_admin_result_free(res);
        return NGX_ERROR;
    }

    if (res->audit) {
        ngx_http_omni_admin_audit(r, ctx, res);
    }

    return NGX_OK;
}


/* Sends the core's answer. */

static ngx_int_t
ngx_http_omni_admin_answer(ngx_http_request_t *r, ngx_http_omni_ctx_t *ctx,
    omni_admin_result_t *res)
{
    u_char                    *body;
    size_t                     len;
    ngx_int_t                  rc;
    ngx_str_t                  allow, *a;
    omni_str_t                 answer;
    ngx_http_omni_loc_conf_t  *olcf;

    olcf = ngx_http_get_module_loc_conf(r, ngx_http_omni_module);

    if (res->status < 200 || res->status > 599) {
        ngx_log_error(NGX_LOG_ALERT, r->connection->log, 0,
                      "omni admin: the core answered with status %ui",
                      (ngx_uint_t) res->status);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /* the result is the core's (malloc()ed): the pool keeps copies */
    body = NULL;
    len = res->body_len;

    if (len) {
        body = ngx_pnalloc(r->pool, len);
        if (body == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        ngx_memcpy(body, res->body, len);
    }

    /* under omni_policy, what the caller's roles may not see is masked */
    if (body && olcf->policy && res->status == NGX_HTTP_OK) {
        answer.data = (const char *) body;
        answer.len = len;

        rc = ngx_http_omni_policy_scopes(r, ctx, &answer);

        if (rc == NGX_ERROR) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        if (rc == NGX_DECLINED) {
            return ngx_http_omni_admin_refuse(r,
                                              NGX_HTTP_INTERNAL_SERVER_ERROR,
                                              "internal_error",
                                              "the answer cannot be scoped "
                                              "for the caller's roles");
        }

        body = (u_char *) answer.data;
        len = answer.len;
    }

    a = NULL;

    if (res->allow) {
        allow.len = ngx_strlen(res->allow);
        allow.data = ngx_pnalloc(r->pool, allow.len);
        if (allow.data == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        ngx_memcpy(allow.data, res->allow, allow.len);
        a = &allow;
    }

    return ngx_http_omni_admin_send(r, res->status, body, len, a);
}


/*
 * The token's subject for a log line, quoted, or "-" unquoted when it
 * has none or one with control bytes.
 */

static const char *
ngx_http_omni_admin_subject(ngx_http_omni_ctx_t *ctx, const char **quote)
{
    const char  *sub;

    sub = ctx->token.sub;

    if (sub == NULL || !omni_text_is_clean(sub, ngx_strlen(sub))) {
        *quote = "";
        return "-";
    }

    *quote = "\"";

    return sub;
}


/* An error before the body is read: the body is discarded first. */

static ngx_int_t
ngx_http_omni_admin_refuse(ngx_http_request_t *r, ngx_uint_t status,
    const char *code, const char *message)
{
    ngx_int_t  rc;

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    return ngx_http_omni_admin_error(r, status, code, message);
}


/* {"error":CODE,"message":MESSAGE}, the core's error shape. */

static ngx_int_t
ngx_http_omni_admin_error(ngx_http_request_t *r, ngx_uint_t status,
    const char *code, const char *message)
{
    ngx_str_t  body;

    if (ngx_http_omni_error_body(r->pool, code, message, 0, &body)
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_omni_admin_send(r, status, body.data, body.len, NULL);
}


static ngx_int_t
ngx_http_omni_admin_send(ngx_http_request_t *r, ngx_uint_t status,
    u_char *body, size_t len, ngx_str_t *allow)
{
    ngx_int_t     rc;
    ngx_buf_t    *b;
    ngx_chain_t   out;

    if (ngx_http_omni_admin_header(r, "Cache-Control",
                                   sizeof("Cache-Control") - 1,
                                   (u_char *) "no-store",
                                   sizeof("no-store") - 1)
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (allow
        && ngx_http_omni_admin_header(r, "Allow", sizeof("Allow") - 1,
                                      allow->data, allow->len)
           != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    r->headers_out.status = status;
    r->headers_out.content_length_n = len;
    ngx_str_set(&r->headers_out.content_type, "application/json");
    r->headers_out.content_type_len = r->headers_out.content_type.len;
    r->headers_out.content_type_lowcase = NULL;

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    b = ngx_calloc_buf(r->pool);
    if (b == NULL) {
        return NGX_ERROR;
    }

    b->pos = body;
    b->last = body + len;
    b->memory = len ? 1 : 0;
    b->last_buf = (r == r->main) ? 1 : 0;
    b->last_in_chain = 1;

    out.buf = b;
    out.next = NULL;

    return ngx_http_output_filter(r, &out);
}


static ngx_int_t
ngx_http_omni_admin_header(ngx_http_request_t *r, char *name, size_t name_len,
    u_char *value, size_t len)
{
    ngx_table_elt_t  *h;

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    h->hash = 1;
    h->key.data = (u_char *) name;
    h->key.len = name_len;
    h->value.data = value;
    h->value.len = len;

    if (name_len == sizeof("WWW-Authenticate") - 1
        && ngx_strncmp(name, "WWW-Authenticate", name_len) == 0)
    {
        r->headers_out.www_authenticate = h;
    }

    return NGX_OK;
}
