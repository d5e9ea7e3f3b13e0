/*
 * Copyright (C) The omni gateway authors
 *
 * Role permissions in the request path: the policy step decides each
 * normalized request, the audit log records decisions, the reply filter
 * applies the caller's scopes.  The policy is compiled from the file at
 * configuration time and, with a store, follows the store's current
 * revision: a worker notices a new revision on its next request.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_omni_module.h"
#include "omni_policy.h"


#define NGX_HTTP_OMNI_AUDIT_LINE  4096


static void ngx_http_omni_policy_refresh(ngx_log_t *log,
    ngx_http_omni_main_conf_t *omcf, uint32_t rev);
static void ngx_http_omni_policy_request(ngx_http_request_t *r,
    ngx_http_omni_ctx_t *ctx, omni_policy_request_t *req);
static void ngx_http_omni_policy_audit(ngx_http_request_t *r,
    ngx_http_omni_ctx_t *ctx, ngx_http_omni_main_conf_t *omcf);
static u_char *ngx_http_omni_json_str(u_char *p, u_char *last,
    const char *s, size_t len);


ngx_int_t
ngx_http_omni_policy_step(ngx_http_request_t *r, ngx_http_omni_ctx_t *ctx,
    ngx_http_omni_loc_conf_t *olcf)
{
    omni_policy_request_t       req;
    omni_policy_decision_t      d;
    ngx_http_omni_main_conf_t  *omcf;

    if (!olcf->policy) {
        return NGX_OK;
    }

    if (olcf->admin && ngx_http_omni_admin_action(r, ctx) != NGX_OK) {
        return NGX_ERROR;
    }

    omcf = ngx_http_get_module_main_conf(r, ngx_http_omni_module);

    if (omcf->store && ngx_http_omni_store_revisions(r, ctx) == NGX_OK) {
        ngx_http_omni_policy_refresh(r->connection->log, omcf,
                                     ctx->store_policy_rev);
    }

    if (omcf->policy == NULL) {
        /* no policy anywhere: deny, as a policy that allows nothing */
        d.allow = 0;
        d.rule = "default";
        d.role = NULL;

    } else {
        ngx_http_omni_policy_request(r, ctx, &req);
        omni_policy_decide(omcf->policy, &req, &d);

        ctx->scoped = d.allow && omni_policy_has_scopes(omcf->policy, &req);
    }

    /*
     * the rule id lives in the policy, which a refresh may free: copy it,
     * with its NUL for the metrics' label
     */
    ctx->policy_rule.len = ngx_strlen(d.rule);
    ctx->policy_rule.data = ngx_pnalloc(r->pool, ctx->policy_rule.len + 1);
    if (ctx->policy_rule.data == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(ctx->policy_rule.data, d.rule, ctx->policy_rule.len + 1);
    ctx->policy_decided = 1;
    ctx->policy_allowed = d.allow;
    ctx->policy_rev = omcf->policy_rev;

    ngx_log_debug4(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "omni: policy %s action \"%V\", rule \"%V\", "
                   "revision %uD", d.allow ? "allows" : "denies",
                   &ctx->action, &ctx->policy_rule, ctx->policy_rev);

    if (omcf->audit && (!d.allow || omcf->audit_all)) {
        ngx_http_omni_policy_audit(r, ctx, omcf);
    }

    if (d.allow) {
        return NGX_OK;
    }

    /* the error page is ours to render, not a reply of the service */
    ctx->render = 0;

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "omni: permission denied: action \"%V\" on channel "
                  "\"%V\", rule \"%V\", policy revision %uD",
                  &ctx->action, &olcf->channel, &ctx->policy_rule,
                  ctx->policy_rev);

    ctx->error.status = NGX_HTTP_FORBIDDEN;
    ctx->error.code = "permission_denied";
    ctx->error.message = "the caller may not perform this action";

    return NGX_HTTP_FORBIDDEN;
}


/*
 * rev, the store's current revision, replaces this worker's compiled
 * policy when it is new
 */
static void
ngx_http_omni_policy_refresh(ngx_log_t *log, ngx_http_omni_main_conf_t *omcf,
    uint32_t rev)
{
    int             rc;
    char            err[OMNI_ERRLEN];
    char           *json, *errors;
    size_t          len;
    omni_policy_t  *p;

    if (rev == omcf->policy_rev || rev == 0) {
        return;
    }

    rc = omni_store_policy_get(omcf->store, rev, &json, &len, NULL, err);

    if (rc != OMNI_STORE_OK) {
        ngx_log_error(NGX_LOG_ERR, log, 0,
                      "omni: policy revision %uD unreadable, keeping %uD: "
                      "%s", rev, omcf->policy_rev, err);

        /* the store's revisions read again on the next request */
        omcf->revisions_seen = 0;
        return;
    }

    p = omni_policy_compile(json, len, &errors);
    free(json);

    if (p == NULL) {
        /* revisions are validated before they are written: this is damage */
        ngx_log_error(NGX_LOG_ERR, log, 0,
                      "omni: policy revision %uD is invalid, keeping %uD: "
                      "%s", rev, omcf->policy_rev,
                      errors ? errors : "out of memory");
        free(errors);

        /* do not try again on every request */
        omcf->policy_rev = rev;
        return;
    }

    ngx_log_error(NGX_LOG_NOTICE, log, 0,
                  "omni: policy revision %uD in use (was %uD)", rev,
                  omcf->policy_rev);

    if (omcf->policy && omcf->policy != omcf->policy_file_compiled) {
        omni_policy_free(omcf->policy);
    }

    omcf->policy = p;
    omcf->policy_rev = rev;
}


static void
ngx_http_omni_policy_request(ngx_http_request_t *r, ngx_http_omni_ctx_t *ctx,
    omni_policy_request_t *req)
{
    ngx_http_omni_loc_conf_t  *olcf;

    olcf = ngx_http_get_module_loc_conf(r, ngx_http_omni_module);

    ngx_memzero(req, sizeof(omni_policy_request_t));

    req->anonymous = !ctx->authenticated;

    if (ctx->authenticated) {
        req->roles = (const char *const *) ctx->token.roles;
        req->nroles = ctx->token.nroles;
    }

    req->channel = (const char *) olcf->channel.data;
    req->action = (const char *) ctx->action.data;
    req->tier = (const char *) ctx->tier.data;

    if (ctx->session.len) {
        req->has_session = 1;
        req->session_age = (int64_t) (ngx_time() - ctx->session_created);
    }
}


/*
 * One JSON line per decision: what the security team needs to explain it
 * later, never the token.
 */
static void
ngx_http_omni_policy_audit(ngx_http_request_t *r, ngx_http_omni_ctx_t *ctx,
    ngx_http_omni_main_conf_t *omcf)
{
    u_char                    *p, *last;
    ngx_uint_t                 i;
    const char                *sub;
    omni_str_t                *rid;
    ngx_http_omni_loc_conf_t  *olcf;
    u_char                     line[NGX_HTTP_OMNI_AUDIT_LINE];

    olcf = ngx_http_get_module_loc_conf(r, ngx_http_omni_module);
    rid = ngx_http_omni_request_id(r, ctx);

    p = line;
    last = line + sizeof(line) - 2;

    p = ngx_slprintf(p, last, "{\"time\":\"%V\",\"request_id\":",
                     &ngx_cached_http_log_iso8601);
    p = ngx_http_omni_json_str(p, last, rid->data, rid->len);

    p = ngx_slprintf(p, last, ",\"subject\":");
    sub = ctx->authenticated ? ctx->token.sub : NULL;
    p = ngx_http_omni_json_str(p, last, sub, sub ? ngx_strlen(sub) : 0);

    p = ngx_slprintf(p, last, ",\"roles\":[");
    for (i = 0; ctx->authenticated && i < ctx->token.nroles; i++) {
        if (i) {
            p = ngx_slprintf(p, last, ",");
        }
        p = ngx_http_omni_json_str(p, last, ctx->token.roles[i],
                                   ngx_strlen(ctx->token.roles[i]));
    }

    p = ngx_slprintf(p, last, "],\"channel\":\"%V\",\"action\":",
                     &olcf->channel);
    p = ngx_http_omni_json_str(p, last, (const char *) ctx->action.data,
                               ctx->action.len);

    p = ngx_slprintf(p, last, ",\"decision\":\"%s\",\"rule\":",
                     ctx->policy_allowed ? "allow" : "deny");
    p = ngx_http_omni_json_str(p, last,
                               (const char *) ctx->policy_rule.data,
                               ctx->policy_rule.len);

    p = ngx_slprintf(p, last, ",\"revision\":%uD}", ctx->policy_rev);

    if (p == last) {
        /* a line too long to be JSON: mark it rather than cut it */
        p = ngx_slprintf(line, last, "{\"request_id\":");
        p = ngx_http_omni_json_str(p, last, rid->data, rid->len);
        p = ngx_slprintf(p, last, ",\"truncated\":true}");
    }

    *p++ = LF;

    (void) ngx_write_fd(omcf->audit->fd, line, p - line);
}


/* a JSON string, or null; control bytes and quotes escaped */
static u_char *
ngx_http_omni_json_str(u_char *p, u_char *last, const char *s, size_t len)
{
    size_t  need;

    if (s == NULL) {
        return ngx_slprintf(p, last, "null");
    }

    need = len + ngx_escape_json(NULL, (u_char *) s, len) + 2;

    if ((size_t) (last - p) < need) {
        return last;
    }

    *p++ = '"';
    p = (u_char *) ngx_escape_json(p, (u_char *) s, len);
    *p++ = '"';

    return p;
}


/*
 * Reply filter: the caller's scopes remove or mask fields of the reply.
 * NGX_DECLINED: the reply cannot be scoped and must not be sent.
 */

ngx_int_t
ngx_http_omni_policy_scopes(ngx_http_request_t *r, ngx_http_omni_ctx_t *ctx,
    omni_str_t *reply)
{
    char                       *out;
    size_t                      len;
    u_char                     *p;
    omni_policy_request_t       req;
    ngx_http_omni_main_conf_t  *omcf;

    omcf = ngx_http_get_module_main_conf(r, ngx_http_omni_module);

    if (!ctx->scoped || omcf->policy == NULL) {
        return NGX_OK;
    }

    ngx_http_omni_policy_request(r, ctx, &req);

    if (omni_policy_apply_scopes(omcf->policy, &req, reply->data, reply->len,
                                 &out, &len)
        != 0)
    {
        /* unscopable (not an object, a duplicate key): never sent as is */
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "omni: the reply cannot be scoped for the caller's "
                      "roles and is not sent");
        return NGX_DECLINED;
    }

    if (out == NULL) {
        return NGX_OK;
    }

    p = ngx_pnalloc(r->pool, len);
    if (p == NULL) {
        free(out);
        return NGX_ERROR;
    }

    ngx_memcpy(p, out, len);
    free(out);

    reply->data = (const char *) p;
    reply->len = len;

    return NGX_OK;
}


/* Configuration: the file compiles at load, so nginx -t names its errors. */

char *
ngx_http_omni_policy_file(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_omni_main_conf_t *omcf = conf;

    char                *errors;
    size_t               size;
    u_char              *buf;
    ngx_str_t           *value, text;
    omni_policy_t       *p;
    ngx_pool_cleanup_t  *cln;

    if (omcf->policy_file.len) {
        return "is duplicate";
    }

    value = cf->args->elts;
    omcf->policy_file = value[1];

    if (ngx_http_omni_read_conf_file(cf, &omcf->policy_file,
                                     OMNI_POLICY_SIZE_MAX, "policy", &text)
        != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    buf = text.data;
    size = text.len;

    p = omni_policy_compile((const char *) buf, size, &errors);

    if (p == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid policy file \"%V\":\n%s",
                           &omcf->policy_file,
                           errors ? errors : "out of memory");
        free(errors);
        return NGX_CONF_ERROR;
    }

    cln = ngx_pool_cleanup_add(cf->pool, 0);
    if (cln == NULL) {
        omni_policy_free(p);
        return NGX_CONF_ERROR;
    }

    cln->handler = (ngx_pool_cleanup_pt) omni_policy_free;
    cln->data = p;

    omcf->policy_file_compiled = p;

    /* kept for the workers, which seed the store with it */
    omcf->policy_file_text.data = ngx_pnalloc(cf->pool, size);
    if (omcf->policy_file_text.data == NULL) {
        return NGX_CONF_ERROR;
    }

    ngx_memcpy(omcf->policy_file_text.data, buf, size);
    omcf->policy_file_text.len = size;

    return NGX_CONF_OK;
}


char *
ngx_http_omni_policy_audit_log(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_omni_main_conf_t *omcf = conf;

    ngx_str_t  *value;

    if (omcf->audit) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (cf->args->nelts == 3) {
        if (ngx_strcmp(value[2].data, "all") != 0) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid parameter \"%V\", expected \"all\"",
                               &value[2]);
            return NGX_CONF_ERROR;
        }

        omcf->audit_all = 1;
    }

    omcf->audit = ngx_conf_open_file(cf->cycle, &value[1]);
    if (omcf->audit == NULL) {
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


/*
 * Worker start: the file seeds an empty store; then the store's current
 * revision, or else the file, is this worker's policy.
 */
ngx_int_t
ngx_http_omni_policy_init_worker(ngx_cycle_t *cycle,
    ngx_http_omni_main_conf_t *omcf)
{
    int        rc;
    char       err[OMNI_ERRLEN];
    char       author[NGX_MAX_PATH + 8];
    uint32_t   rev;

    omcf->policy = omcf->policy_file_compiled;
    omcf->policy_rev = 0;

    if (omcf->store == NULL) {
        return NGX_OK;
    }

    if (omcf->policy_file.len) {
        ngx_http_omni_seed_author(&omcf->policy_file, author,
                                  sizeof(author));

        rc = omni_store_policy_seed(omcf->store,
                                    (const char *) omcf->policy_file_text.data,
                                    omcf->policy_file_text.len, author,
                                    ngx_time(), &rev, err);

        if (rc != OMNI_STORE_OK) {
            ngx_log_error(NGX_LOG_ERR, cycle->log, 0,
                          "omni: policy file not seeded into the store: %s",
                          err);

        } else if (rev) {
            ngx_log_error(NGX_LOG_NOTICE, cycle->log, 0,
                          "omni: policy file \"%V\" seeded the store as "
                          "revision %uD", &omcf->policy_file, rev);
        }
    }

    /* compile now rather than on the first request */
    rc = omni_store_policy_current(omcf->store, &rev, NULL, err);

    if (rc != OMNI_STORE_OK) {
        ngx_log_error(NGX_LOG_ERR, cycle->log, 0,
                      "omni: policy revision unknown, keeping %uD: %s",
                      omcf->policy_rev, err);
        return NGX_OK;
    }

    ngx_http_omni_policy_refresh(cycle->log, omcf, rev);

    return NGX_OK;
}


void
ngx_http_omni_policy_exit_worker(ngx_http_omni_main_conf_t *omcf)
{
    if (omcf->policy && omcf->policy != omcf->policy_file_compiled) {
        omni_policy_free(omcf->policy);
    }

    omcf->policy = NULL;
}
