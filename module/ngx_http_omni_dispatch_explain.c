/*
 * Copyright (C) The omni gateway authors
 *
 * The dispatch's admin locations; the caller's token must hold the
 * location's admin role, as for omni_admin.
 *
 * omni_dispatch_explain explains where the workflow would send a request,
 * from the pools as they are now, without sending anything: GET with the
 * request in the query string (channel, action, tier, anonymous,
 * open_case, intent, confidence, affinity).
 *
 * omni_dispatch_pools shows the pools (capacity, the file's, in flight)
 * on GET, and sets a pool's capacity live on POST ?pool=NAME&capacity=N
 * (capacity=file: back to the file's): agents coming and going.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_omni_module.h"
#include "omni_contract.h"


#define NGX_HTTP_OMNI_EXPLAIN_ARG  (OMNI_DISPATCH_ACTION_MAX + 1)


static char *ngx_http_omni_dispatch_admin(ngx_conf_t *cf,
    ngx_http_omni_loc_conf_t *olcf, ngx_http_handler_pt handler);
static ngx_uint_t ngx_http_omni_dispatch_auth(ngx_http_request_t *r,
    ngx_uint_t methods, ngx_int_t *rc);
static ngx_int_t ngx_http_omni_explain_handler(ngx_http_request_t *r);
static ngx_int_t ngx_http_omni_pools_handler(ngx_http_request_t *r);


static const char  *ngx_http_omni_explain_args[] = {
    "channel", "action", "tier", "anonymous", "open_case", "intent",
    "confidence", "affinity"
};

static ngx_int_t ngx_http_omni_pools_record(ngx_http_request_t *r,
    const omni_dispatch_t *w, ngx_int_t pool, ngx_int_t c, ngx_int_t n);
static ngx_int_t ngx_http_omni_explain_arg(ngx_http_request_t *r,
    const char *name, u_char *buf, ngx_str_t *value);
static ngx_int_t ngx_http_omni_explain_refuse(ngx_http_request_t *r,
    ngx_uint_t status, const char *code, const char *message);
static ngx_int_t ngx_http_omni_explain_send(ngx_http_request_t *r,
    ngx_uint_t status, u_char *p, size_t len);


/* omni_dispatch_explain [role=NAME] */
char *
ngx_http_omni_dispatch_explain(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    return ngx_http_omni_dispatch_admin(cf, conf,
                                        ngx_http_omni_explain_handler);
}


/* omni_dispatch_pools [role=NAME] */
char *
ngx_http_omni_dispatch_pools(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    return ngx_http_omni_dispatch_admin(cf, conf,
                                        ngx_http_omni_pools_handler);
}


static char *
ngx_http_omni_dispatch_admin(ngx_conf_t *cf, ngx_http_omni_loc_conf_t *olcf,
    ngx_http_handler_pt handler)
{
    ngx_str_t                  *value;
    ngx_http_core_loc_conf_t   *clcf;
    ngx_http_omni_main_conf_t  *omcf;

    omcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_omni_module);

    if (omcf->dispatch == NULL || omcf->dispatch->npools == 0) {
        return "needs \"omni_dispatch_file\" with pools at the http level, "
               "before it";
    }

    value = cf->args->elts;

    if (cf->args->nelts == 2) {
        if (value[1].len <= sizeof("role=") - 1
            || ngx_strncmp(value[1].data, "role=", sizeof("role=") - 1) != 0)
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid parameter \"%V\", expected "
                               "\"role=NAME\"", &value[1]);
            return NGX_CONF_ERROR;
        }

        olcf->admin_role.data = value[1].data + sizeof("role=") - 1;
        olcf->admin_role.len = value[1].len - (sizeof("role=") - 1);
    }

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);
    clcf->handler = handler;

    return NGX_CONF_OK;
}


/*
 * Whether the request may go on: one of methods, its body dropped, the
 * verified token holding the location's admin role.  If not, *rc is what
 * the handler returns (a refusal sent, or a status).
 */
static ngx_uint_t
ngx_http_omni_dispatch_auth(ngx_http_request_t *r, ngx_uint_t methods,
    ngx_int_t *rc)
{
    ngx_uint_t                 i;
    ngx_http_omni_ctx_t       *ctx;
    ngx_http_omni_loc_conf_t  *olcf;

    if (!(r->method & methods)) {
        *rc = NGX_HTTP_NOT_ALLOWED;
        return 0;
    }

    *rc = ngx_http_discard_request_body(r);
    if (*rc != NGX_OK) {
        return 0;
    }

    olcf = ngx_http_get_module_loc_conf(r, ngx_http_omni_module);
    ctx = ngx_http_get_module_ctx(r, ngx_http_omni_module);

    if (ctx == NULL || !ctx->authenticated) {
        *rc = ngx_http_omni_explain_refuse(r, NGX_HTTP_UNAUTHORIZED,
                                           "token_missing",
                                           "an admin token is needed");
        return 0;
    }

    for (i = 0; i < ctx->token.nroles; i++) {
        if (ngx_strlen(ctx->token.roles[i]) == olcf->admin_role.len
            && ngx_strncmp(ctx->token.roles[i], olcf->admin_role.data,
                           olcf->admin_role.len) == 0)
        {
            return 1;
        }
    }

    *rc = ngx_http_omni_explain_refuse(r, NGX_HTTP_FORBIDDEN,
                                       "permission_denied",
                                       "the token lacks the admin role");
    return 0;
}


static ngx_int_t
ngx_http_omni_explain_handler(ngx_http_request_t *r)
{
    int                            rule;
    u_char                        *p, *out;
    size_t                         len;
    uint32_t                       in_flight[OMNI_DISPATCH_POOLS_MAX];
    uint32_t                       capacity[OMNI_DISPATCH_POOLS_MAX];
    uint32_t                       ch_flight[OMNI_DISPATCH_POOLS_MAX];
    uint32_t                       ch_capacity[OMNI_DISPATCH_POOLS_MAX];
    ngx_int_t                      rc;
    ngx_str_t                      v;
    ngx_uint_t                     i, j;
    omni_dispatch_req_t            q;
    omni_dispatch_decision_t       d;
    const omni_dispatch_t         *w;
    const omni_dispatch_rule_t    *rl;
    const omni_dispatch_limit_t   *limit;
    ngx_http_omni_workflow_t      *wf;
    ngx_http_omni_main_conf_t     *omcf;
    u_char                         channel[NGX_HTTP_OMNI_EXPLAIN_ARG];
    u_char                         action[NGX_HTTP_OMNI_EXPLAIN_ARG];
    u_char                         tier[NGX_HTTP_OMNI_EXPLAIN_ARG];
    u_char                         intent[NGX_HTTP_OMNI_EXPLAIN_ARG];
    u_char                         num[NGX_HTTP_OMNI_EXPLAIN_ARG];

    if (!ngx_http_omni_dispatch_auth(r, NGX_HTTP_GET|NGX_HTTP_HEAD, &rc)) {
        return rc;
    }

    omcf = ngx_http_get_module_main_conf(r, ngx_http_omni_module);

    wf = ngx_http_omni_workflow(r, ngx_http_get_module_ctx(r,
                                                  ngx_http_omni_module));
    if (wf == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    w = wf->dispatch;

    ngx_memzero(&q, sizeof(omni_dispatch_req_t));
    q.confidence = OMNI_DISPATCH_NO_CONFIDENCE;
    q.affinity = -1;

    for (i = 0; i < sizeof(ngx_http_omni_explain_args)
                    / sizeof(ngx_http_omni_explain_args[0]); i++)
    {
        if (ngx_http_omni_explain_arg(r, ngx_http_omni_explain_args[i], num,
                                      &v)
            == NGX_ERROR)
        {
            return ngx_http_omni_explain_refuse(r, NGX_HTTP_BAD_REQUEST,
                                                "invalid_parameter",
                                                "a parameter is longer than "
                                                "128 bytes or holds a NUL");
        }
    }

    if (ngx_http_omni_explain_arg(r, "channel", channel, &v) != NGX_OK
        || !omni_contract_is_name((char *) v.data, v.len))
    {
        return ngx_http_omni_explain_refuse(r, NGX_HTTP_BAD_REQUEST,
                                            "invalid_parameter",
                                            "channel must be a channel name");
    }

    q.channel = (char *) channel;

    if (ngx_http_omni_explain_arg(r, "action", action, &v) == NGX_OK) {
        if (!omni_contract_is_action((char *) v.data, v.len)) {
            return ngx_http_omni_explain_refuse(r, NGX_HTTP_BAD_REQUEST,
                                                "invalid_parameter",
                                                "action must be an action");
        }

        q.action = (char *) action;
    }

    if (ngx_http_omni_explain_arg(r, "tier", tier, &v) == NGX_OK) {
        if (v.len == 0 || v.len > OMNI_DISPATCH_TIER_MAX
            || !omni_text_is_clean((char *) v.data, v.len))
        {
            return ngx_http_omni_explain_refuse(r, NGX_HTTP_BAD_REQUEST,
                                                "invalid_parameter",
                                                "tier must be 1 to 64 bytes "
                                                "without control characters");
        }

        q.tier = (char *) tier;
    }

    if (ngx_http_omni_explain_arg(r, "anonymous", num, &v) == NGX_OK) {
        q.anonymous = (v.len == 1 && v.data[0] == '1');
    }

    if (ngx_http_omni_explain_arg(r, "open_case", num, &v) == NGX_OK) {
        q.open_case = (v.len == 1 && v.data[0] == '1');
    }

    if (ngx_http_omni_explain_arg(r, "intent", intent, &v) == NGX_OK) {
        if (v.len == 0 || !omni_text_is_clean((char *) v.data, v.len)) {
            return ngx_http_omni_explain_refuse(r, NGX_HTTP_BAD_REQUEST,
                                                "invalid_parameter",
                                                "intent must be a name");
        }

        q.intent = (char *) intent;
        q.confidence = 1.0;
    }

    if (ngx_http_omni_explain_arg(r, "confidence", num, &v) == NGX_OK) {
        q.confidence = strtod((char *) num, (char **) &p);

        if (*p != '\0' || v.len == 0 || q.confidence < 0
            || q.confidence > 1)
        {
            return ngx_http_omni_explain_refuse(r, NGX_HTTP_BAD_REQUEST,
                                                "invalid_parameter",
                                                "confidence must be a number "
                                                "from 0 to 1");
        }
    }

    if (ngx_http_omni_explain_arg(r, "affinity", num, &v) == NGX_OK) {
        q.affinity = omni_dispatch_pool(w, (char *) v.data, v.len);

        if (q.affinity < 0) {
            return ngx_http_omni_explain_refuse(r, NGX_HTTP_BAD_REQUEST,
                                                "invalid_parameter",
                                                "affinity must name a pool");
        }
    }

    ngx_http_omni_pools_now(omcf, wf, q.channel, in_flight, capacity,
                            ch_flight, ch_capacity);
    q.capacity = capacity;
    q.channel_in_flight = ch_flight;
    q.channel_capacity = ch_capacity;

    limit = omni_dispatch_limit(w, q.channel, q.tier, q.anonymous);
    rule = omni_dispatch_decide(w, &q, in_flight, &d);
    rl = &w->rules[rule];

    /* names are the workflow's (checked ids), numbers ours: no escaping */
    len = sizeof("{\"rate_limit\":null,\"rule\":\"\",\"pool\":null,"
                 "\"upstream\":null,\"step\":null,\"reason\":\"no_capacity\","
                 "\"passed_over\":[],\"in_flight\":{}}\n")
          + 3 * (OMNI_DISPATCH_ID_MAX + 2) + OMNI_DISPATCH_UPSTREAM_MAX
          + NGX_INT_T_LEN
          + OMNI_DISPATCH_TARGETS_MAX
            * (sizeof("{\"pool\":\"\",\"in_flight\":,\"why\":\"\"},")
               + OMNI_DISPATCH_ID_MAX + NGX_INT_T_LEN
               + sizeof("low_confidence"))
          + w->npools * (OMNI_DISPATCH_ID_MAX + NGX_INT_T_LEN + 4);

    out = ngx_pnalloc(r->pool, len);
    if (out == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = out;

    if (limit) {
        p = ngx_sprintf(p, "{\"rate_limit\":\"%s\"", limit->id);

    } else {
        p = ngx_cpymem(p, "{\"rate_limit\":null", 18);
    }

    p = ngx_sprintf(p, ",\"rule\":\"%s\"", d.rule);

    if (d.pool >= 0) {
        p = ngx_sprintf(p, ",\"pool\":\"%s\",\"upstream\":\"%s\",\"step\":%d",
                        w->pools[d.pool].name, w->pools[d.pool].upstream,
                        d.step);

    } else {
        p = ngx_sprintf(p, ",\"pool\":null,\"upstream\":null,\"step\":null");
    }

    p = ngx_sprintf(p, ",\"reason\":\"%s\",\"passed_over\":[",
                    omni_dispatch_reason(d.reason));

    for (i = 0, j = 0; i < rl->ntargets; i++) {
        if (d.skipped[i] == NULL) {
            continue;
        }

        p = ngx_sprintf(p, "%s{\"pool\":\"%s\",\"in_flight\":%uD,"
                        "\"why\":\"%s\"}", j++ ? "," : "",
                        w->pools[rl->targets[i].pool].name,
                        in_flight[rl->targets[i].pool], d.skipped[i]);
    }

    p = ngx_cpymem(p, "],\"in_flight\":{", 15);

    for (i = 0; i < w->npools; i++) {
        p = ngx_sprintf(p, "%s\"%s\":%uD", i ? "," : "", w->pools[i].name,
                        in_flight[i]);
    }

    p = ngx_cpymem(p, "}}\n", 3);

    return ngx_http_omni_explain_send(r, NGX_HTTP_OK, out, p - out);
}


/*
 * GET: every pool with its capacity now, the file's and its requests in
 * flight.  POST ?pool=NAME&capacity=N (0 to 1,000,000) or capacity=file:
 * the pool's capacity set live, for every worker, until set again or the
 * zone is laid out anew; the answer is the pools as GET shows them.
 */
static ngx_int_t
ngx_http_omni_pools_handler(ngx_http_request_t *r)
{
    int                          pool;
    u_char                      *p, *out;
    size_t                       len;
    uint32_t                     in_flight[OMNI_DISPATCH_POOLS_MAX];
    uint32_t                     capacity[OMNI_DISPATCH_POOLS_MAX];
    uint32_t                     ch_flight, ch_capacity;
    ngx_int_t                    rc, n, c;
    ngx_str_t                    v;
    ngx_uint_t                   i, j;
    const omni_dispatch_t       *w;
    ngx_http_omni_workflow_t    *wf;
    ngx_http_omni_main_conf_t   *omcf;
    u_char                       name[NGX_HTTP_OMNI_EXPLAIN_ARG];
    u_char                       num[NGX_HTTP_OMNI_EXPLAIN_ARG];

    if (!ngx_http_omni_dispatch_auth(r,
                                     NGX_HTTP_GET|NGX_HTTP_HEAD|NGX_HTTP_POST,
                                     &rc))
    {
        return rc;
    }

    omcf = ngx_http_get_module_main_conf(r, ngx_http_omni_module);

    wf = ngx_http_omni_workflow(r, ngx_http_get_module_ctx(r,
                                                  ngx_http_omni_module));
    if (wf == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    w = wf->dispatch;

    if (r->method == NGX_HTTP_POST) {
        if (ngx_http_omni_explain_arg(r, "pool", name, &v) != NGX_OK
            || (pool = omni_dispatch_pool(w, (char *) v.data, v.len)) < 0)
        {
            return ngx_http_omni_explain_refuse(r, NGX_HTTP_BAD_REQUEST,
                                                "invalid_parameter",
                                                "pool must name a pool of "
                                                "the workflow");
        }

        /* the pool's capacity, or its capacity on a channel of its own */
        c = -1;

        if (ngx_http_omni_explain_arg(r, "channel", name, &v) == NGX_OK) {
            c = omni_dispatch_pool_channel(&w->pools[pool],
                                           (const char *) v.data);

            if (c < 0 || ngx_strlen(v.data) != v.len) {
                return ngx_http_omni_explain_refuse(r, NGX_HTTP_BAD_REQUEST,
                                                    "invalid_parameter",
                                                    "channel must name a "
                                                    "channel of the pool's "
                                                    "\"channels\"");
            }
        }

        /* -2: not a capacity; -1 (NGX_ERROR): the file's */
        if (ngx_http_omni_explain_arg(r, "capacity", num, &v) != NGX_OK) {
            n = -2;

        } else if (v.len == 4 && ngx_strncmp(v.data, "file", 4) == 0) {
            n = -1;

        } else {
            n = ngx_atoi(v.data, v.len);

            if (n == NGX_ERROR || n > OMNI_DISPATCH_CAPACITY_MAX) {
                n = -2;
            }
        }

        if (n == -2) {
            return ngx_http_omni_explain_refuse(r, NGX_HTTP_BAD_REQUEST,
                                                "invalid_parameter",
                                                "capacity must be a number "
                                                "from 0 to 1000000, or "
                                                "\"file\"");
        }

        /* with a store, a capacity set live is its record too */
        if (omcf->store) {
            rc = ngx_http_omni_pools_record(r, w, pool, c, n);
            if (rc != NGX_OK) {
                return rc;
            }
        }

        if (ngx_http_omni_pool_set_capacity(omcf, wf, (ngx_uint_t) pool, c,
                                            n)
            != NGX_OK)
        {
            return ngx_http_omni_explain_refuse(r, NGX_HTTP_CONFLICT,
                                                "pool_not_counted",
                                                "omni_dispatch_zone does not "
                                                "count this pool");
        }

        ngx_log_error(NGX_LOG_NOTICE, r->connection->log, 0,
                      "omni: pool \"%s\"%s%s capacity set live to %s%i",
                      w->pools[pool].name, c < 0 ? "" : " on ",
                      c < 0 ? "" : w->pools[pool].channels[c],
                      n < 0 ? "the workflow's " : "",
                      n < 0 ? (ngx_int_t) (c < 0 ? w->pools[pool].capacity
                                           : w->pools[pool]
                                             .channel_capacity[c])
                            : n);
    }

    ngx_http_omni_pools_now(omcf, wf, NULL, in_flight, capacity, NULL, NULL);

    len = sizeof("{\"pools\":[]}\n")
          + w->npools * (sizeof("{\"pool\":\"\",\"upstream\":\"\","
                                "\"kind\":\"people\",\"capacity\":,"
                                "\"file_capacity\":,\"in_flight\":,"
                                "\"channels\":{}},")
                         + OMNI_DISPATCH_ID_MAX + OMNI_DISPATCH_UPSTREAM_MAX
                         + 3 * NGX_INT_T_LEN
                         + OMNI_DISPATCH_NAMES_MAX
                           * (sizeof("\"\":{\"capacity\":,"
                                     "\"file_capacity\":,\"in_flight\":},")
                              + OMNI_DISPATCH_CHANNEL_MAX
                              + 3 * NGX_INT_T_LEN));

    out = ngx_pnalloc(r->pool, len);
    if (out == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = ngx_cpymem(out, "{\"pools\":[", 10);

    for (i = 0; i < w->npools; i++) {
        p = ngx_sprintf(p, "%s{\"pool\":\"%s\",\"upstream\":\"%s\","
                        "\"kind\":\"%s\",\"capacity\":%uD,"
                        "\"file_capacity\":%uD,\"in_flight\":%uD",
                        i ? "," : "", w->pools[i].name, w->pools[i].upstream,
                        w->pools[i].bot ? "bot" : "people", capacity[i],
                        w->pools[i].capacity, in_flight[i]);

        /* each channel with a capacity of its own */
        if (w->pools[i].nchannels) {
            p = ngx_cpymem(p, ",\"channels\":{",
                           sizeof(",\"channels\":{") - 1);

            for (j = 0; j < w->pools[i].nchannels; j++) {
                ngx_http_omni_pair_now(omcf, wf, i, j, &ch_flight,
                                       &ch_capacity);

                p = ngx_sprintf(p, "%s\"%s\":{\"capacity\":%uD,"
                                "\"file_capacity\":%uD,\"in_flight\":%uD}",
                                j ? "," : "", w->pools[i].channels[j],
                                ch_capacity,
                                w->pools[i].channel_capacity[j], ch_flight);
            }

            *p++ = '}';
        }

        *p++ = '}';
    }

    p = ngx_cpymem(p, "]}\n", 3);

    return ngx_http_omni_explain_send(r, NGX_HTTP_OK, out, p - out);
}


/*
 * A query argument, unescaped into buf (NGX_HTTP_OMNI_EXPLAIN_ARG bytes,
 * NUL-terminated); NGX_DECLINED when absent, NGX_ERROR when too long or
 * holding a NUL.
 */
static ngx_int_t
ngx_http_omni_explain_arg(ngx_http_request_t *r, const char *name,
    u_char *buf, ngx_str_t *value)
{
    u_char     *dst, *src;
    ngx_str_t   raw;

    value->data = buf;
    value->len = 0;
    buf[0] = '\0';

    if (ngx_http_arg(r, (u_char *) name, ngx_strlen(name), &raw) != NGX_OK) {
        return NGX_DECLINED;
    }

    if (raw.len >= NGX_HTTP_OMNI_EXPLAIN_ARG) {
        return NGX_ERROR;
    }

    dst = buf;
    src = raw.data;
    ngx_unescape_uri(&dst, &src, raw.len, NGX_UNESCAPE_URI);

    value->len = dst - buf;
    *dst = '\0';

    if (ngx_strlen(buf) != value->len) {
        return NGX_ERROR;
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_omni_explain_refuse(ngx_http_request_t *r, ngx_uint_t status,
    const char *code, const char *message)
{
    ngx_str_t  body;

    if (ngx_http_omni_error_body(r->pool, code, message, 1, &body)
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_omni_explain_send(r, status, body.data, body.len);
}


static ngx_int_t
ngx_http_omni_explain_send(ngx_http_request_t *r, ngx_uint_t status,
    u_char *p, size_t len)
{
    ngx_int_t     rc;
    ngx_buf_t    *b;
    ngx_chain_t   out;

    b = ngx_calloc_buf(r->pool);
    if (b == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    b->pos = p;
    b->last = p + len;
    b->memory = 1;
    b->last_buf = (r == r->main) ? 1 : 0;
    b->last_in_chain = 1;

    r->headers_out.status = status;
    r->headers_out.content_length_n = len;
    ngx_str_set(&r->headers_out.content_type, "application/json");
    r->headers_out.content_type_len = r->headers_out.content_type.len;

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    out.buf = b;
    out.next = NULL;

    return ngx_http_output_filter(r, &out);
}


/*
 * The capacity set live written into the store's record as POST
 * /capacity of the admin API writes it (omnictl dispatch capacity too),
 * so every worker, and a restart, agree; NGX_OK, or the answer sent.
 */
static ngx_int_t
ngx_http_omni_pools_record(ngx_http_request_t *r, const omni_dispatch_t *w,
    ngx_int_t pool, ngx_int_t c, ngx_int_t n)
{
    u_char               *p;
    ngx_int_t             rc;
    omni_admin_result_t   res;
    u_char                body[sizeof("{\"pool\":\"\",\"channel\":\"\","
                                  "\"capacity\":\"workflow\"}")
                           + OMNI_DISPATCH_ID_MAX
                           + OMNI_DISPATCH_CHANNEL_MAX + NGX_INT_T_LEN];

    /* names the workflow checked: nothing to escape */
    p = ngx_sprintf(body, "{\"pool\":\"%s\"", w->pools[pool].name);

    if (c >= 0) {
        p = ngx_sprintf(p, ",\"channel\":\"%s\"", w->pools[pool].channels[c]);
    }

    p = (n < 0) ? ngx_sprintf(p, ",\"capacity\":\"workflow\"}")
                : ngx_sprintf(p, ",\"capacity\":%i}", n);

    if (ngx_http_omni_admin_call(r, ngx_http_get_module_ctx(r,
                                                 ngx_http_omni_module),
                                 "POST", "/capacity", (const char *) body,
                                 p - body, &res)
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    rc = NGX_OK;

    if (res.status != 201) {
        /* the store's workflow lacks it: the store is not this nginx's */
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "omni: capacity not stored: %*s", res.body_len,
                      res.body);

        rc = ngx_http_omni_explain_refuse(r, NGX_HTTP_CONFLICT,
                                          "capacity_not_stored",
                                          "the store refused the capacity: "
                                          "see the error log");
    }

    omni_admin_result_free(&res);

    return rc;
}
