/*
 * Copyright (C) The omni gateway authors
 *
 * The store in the request path: the customer behind a request's
 * identities, the customer's cross-channel session, the context patch a
 * service sends back, the journey event every request leaves, and the
 * worker timers that flush journeys and purge expired sessions.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <openssl/rand.h>

#include "ngx_http_omni_module.h"
#include "omni_json_patch.h"


/* the patch writes its errors into the store's error buffer */
#if (OMNI_JSON_PATCH_ERRLEN > OMNI_STORE_ERRLEN)
#error "OMNI_JSON_PATCH_ERRLEN must not exceed OMNI_STORE_ERRLEN"
#endif


#define NGX_HTTP_OMNI_RANDOM_POOL     4096    /* bytes drawn at once */
#define NGX_HTTP_OMNI_IDENTITIES      17      /* the plugin's 16 + jwt_sub */
#define NGX_HTTP_OMNI_JOURNEY_BUFFER  256     /* events held per worker */
#define NGX_HTTP_OMNI_PURGE_BATCH     256     /* deletes per transaction */
#define NGX_HTTP_OMNI_PURGE_ROUNDS    8       /* transactions per tick */
#define NGX_HTTP_OMNI_PURGE_AGAIN     100     /* ms, while more are due */


typedef struct {
    char                        customer[OMNI_STORE_ID_MAX + 1];
    omni_store_journey_t        ev;
} ngx_http_omni_journey_event_t;


typedef struct {
    ngx_uint_t                  n;
    ngx_uint_t                  dropped;
    ngx_event_t                 flush;
    ngx_event_t                 purge;
    ngx_http_omni_main_conf_t  *omcf;
    ngx_http_omni_journey_event_t  events[NGX_HTTP_OMNI_JOURNEY_BUFFER];
} ngx_http_omni_worker_t;


static ngx_int_t ngx_http_omni_store_failed(ngx_http_request_t *r,
    ngx_http_omni_ctx_t *ctx, const char *what, int rc, const char *err);
static ngx_int_t ngx_http_omni_session_out(ngx_http_request_t *r,
    ngx_http_omni_ctx_t *ctx, omni_store_session_t *s, omni_contract_t *c,
    omni_contract_session_t *cs);
static int ngx_http_omni_patch(void *data, const char *context, size_t len,
    char *out, size_t *out_len, char *err);
static void ngx_http_omni_journey_flush(ngx_log_t *log);
static void ngx_http_omni_flush_handler(ngx_event_t *ev);
static void ngx_http_omni_purge_handler(ngx_event_t *ev);


static ngx_http_omni_worker_t  *ngx_http_omni_worker;

ngx_http_omni_counters_t  ngx_http_omni_counters;

/*
 * Random bytes for ids, drawn from OpenSSL 4k at a time (each draw checks
 * for a fork with a getpid() system call).  Emptied at worker start, so
 * no two processes ever share what the master may have drawn.
 */
static u_char   ngx_http_omni_random[NGX_HTTP_OMNI_RANDOM_POOL];
static size_t   ngx_http_omni_random_used = NGX_HTTP_OMNI_RANDOM_POOL;

static ngx_str_t  ngx_http_omni_context_header = ngx_string("X-Omni-Context");


/*
 * After normalize: the identities name a customer (created when the
 * location says so), and the customer's live session is resumed or a
 * new one begins.  Reads only, unless something is new.
 */

ngx_int_t
ngx_http_omni_customer_step(ngx_http_request_t *r, ngx_http_omni_ctx_t *ctx,
    ngx_http_omni_loc_conf_t *olcf, omni_contract_t *c,
    omni_contract_session_t *cs)
{
    int                         rc, created;
    char                        err[OMNI_STORE_ERRLEN];
    char                        customer[OMNI_STORE_ID_MAX + 1];
    char                        new_id[NGX_HTTP_OMNI_ID_LEN + 1];
    size_t                      i, n, len;
    omni_store_session_t        s;
    omni_pair_t                *id;
    omni_store_identity_t       ids[NGX_HTTP_OMNI_IDENTITIES];
    ngx_http_omni_main_conf_t  *omcf;

    omcf = ngx_http_get_module_main_conf(r, ngx_http_omni_module);
    n = 0;

    /* the verified subject first: on a conflict it decides */
    if (ctx->authenticated && ctx->token.sub) {
        len = ngx_strlen(ctx->token.sub);

        if (len <= OMNI_STORE_VALUE_MAX) {
            ngx_memcpy(ids[n].type, "jwt_sub", sizeof("jwt_sub"));
            ngx_memcpy(ids[n].value, ctx->token.sub, len + 1);
            n++;
        }
    }

    for (i = 0; i < c->nidentities && n < NGX_HTTP_OMNI_IDENTITIES; i++) {
        id = &c->identities[i];

        /*
         * Values the map cannot hold are skipped; none holds a NUL, which
         * would cut it short here: the contract's checks refused it.
         */
        if (id->name.len > OMNI_STORE_TYPE_MAX
            || id->value.len > OMNI_STORE_VALUE_MAX)
        {
            continue;
        }

        ngx_memcpy(ids[n].type, id->name.data, id->name.len + 1);
        ngx_memcpy(ids[n].value, id->value.data, id->value.len + 1);
        n++;
    }

    if (n == 0) {
        return NGX_OK;
    }

    if (ngx_http_omni_new_id(new_id) != NGX_OK) {
        return NGX_ERROR;
    }

    rc = omni_store_customer_claim(omcf->store, ids, n,
                                   olcf->customers
                                   == NGX_HTTP_OMNI_CUSTOMERS_CREATE,
                                   new_id, customer, &created, err);

    if (rc == OMNI_STORE_NOT_FOUND) {
        return NGX_OK;
    }

    if (rc != OMNI_STORE_OK) {
        return ngx_http_omni_store_failed(r, ctx, "customer", rc, err);
    }

    if (created) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "omni: new customer %s", customer);
    }

    len = ngx_strlen(customer);

    ctx->customer.data = ngx_pnalloc(r->pool, len + 1);
    if (ctx->customer.data == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(ctx->customer.data, customer, len + 1);
    ctx->customer.len = len;

    c->customer_id.data = (const char *) ctx->customer.data;
    c->customer_id.len = len;

    if (!olcf->session) {
        return NGX_OK;
    }

    if (ngx_http_omni_new_id(new_id) != NGX_OK) {
        return NGX_ERROR;
    }

    rc = omni_store_session_resume(omcf->store, customer,
                                   (const char *) olcf->channel.data,
                                   ngx_time(), omcf->session_idle,
                                   omcf->session_absolute,
                                   omcf->session_touch, new_id, &s,
                                   &created, err);

    if (rc != OMNI_STORE_OK) {
        return ngx_http_omni_store_failed(r, ctx, "session", rc, err);
    }

    ctx->session_new = created ? 1 : 0;
    ctx->session_created = (time_t) s.created;

    return ngx_http_omni_session_out(r, ctx, &s, c, cs);
}


/* copies the session out of the stack into the request and the contract */
static ngx_int_t
ngx_http_omni_session_out(ngx_http_request_t *r, ngx_http_omni_ctx_t *ctx,
    omni_store_session_t *s, omni_contract_t *c, omni_contract_session_t *cs)
{
    u_char      *p;
    size_t       len;
    ngx_uint_t   i;
    omni_str_t  *channels;

    len = ngx_strlen(s->id);

    p = ngx_pnalloc(r->pool, len + 1 + s->context_len);
    if (p == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(p, s->id, len + 1);
    ctx->session.data = p;
    ctx->session.len = len;

    ngx_memzero(cs, sizeof(omni_contract_session_t));

    cs->id.data = (const char *) p;
    cs->id.len = len;
    cs->new = ctx->session_new;
    cs->created_at = (int64_t) s->created * 1000;
    cs->last_seen_at = (int64_t) s->last_seen * 1000;

    p += len + 1;
    ngx_memcpy(p, s->context, s->context_len);
    cs->context.data = (const char *) p;
    cs->context.len = s->context_len;

    channels = ngx_palloc(r->pool, s->nchannels * sizeof(omni_str_t));
    if (channels == NULL) {
        return NGX_ERROR;
    }

    for (i = 0; i < s->nchannels; i++) {
        len = ngx_strlen(s->channels[i]);

        p = ngx_pnalloc(r->pool, len);
        if (p == NULL) {
            return NGX_ERROR;
        }

        ngx_memcpy(p, s->channels[i], len);
        channels[i].data = (const char *) p;
        channels[i].len = len;
    }

    cs->channels = channels;
    cs->nchannels = s->nchannels;
    c->session = cs;

    return NGX_OK;
}


/*
 * A full store refuses what needs a write and keeps answering reads;
 * anything else is the store failing.
 */
static ngx_int_t
ngx_http_omni_store_failed(ngx_http_request_t *r, ngx_http_omni_ctx_t *ctx,
    const char *what, int rc, const char *err)
{
    if (rc == OMNI_STORE_FULL) {
        ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                      "omni: %s not stored: %s", what, err);

        ctx->error.status = NGX_HTTP_SERVICE_UNAVAILABLE;
        ctx->error.code = "store_full";
        ctx->error.message = "the gateway's store is full";

        return NGX_HTTP_SERVICE_UNAVAILABLE;
    }

    ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                  "omni: %s lookup failed: %s", what, err);

    ctx->error.status = NGX_HTTP_INTERNAL_SERVER_ERROR;
    ctx->error.code = "store_error";
    ctx->error.message = "the gateway's store failed";

    return NGX_HTTP_INTERNAL_SERVER_ERROR;
}


/*
 * 128 random bits in hex, NUL-terminated: ids nobody can guess or count,
 * for customers, sessions and requests.
 */
ngx_int_t
ngx_http_omni_new_id(char *id)
{
    u_char  *raw;

    if (ngx_http_omni_random_used + NGX_HTTP_OMNI_ID_BYTES
        > NGX_HTTP_OMNI_RANDOM_POOL)
    {
        if (RAND_bytes(ngx_http_omni_random, NGX_HTTP_OMNI_RANDOM_POOL)
            != 1)
        {
            ngx_log_error(NGX_LOG_ALERT, ngx_cycle->log, 0,
                          "omni: RAND_bytes() failed");
            return NGX_ERROR;
        }

        ngx_http_omni_random_used = 0;
    }

    raw = ngx_http_omni_random + ngx_http_omni_random_used;
    ngx_http_omni_random_used += NGX_HTTP_OMNI_ID_BYTES;

    *ngx_hex_dump((u_char *) id, raw, NGX_HTTP_OMNI_ID_BYTES) = '\0';

    /* an id handed out is not kept */
    ngx_explicit_memzero(raw, NGX_HTTP_OMNI_ID_BYTES);

    return NGX_OK;
}


/*
 * Header filter: a service's X-Omni-Context header is a JSON merge patch
 * of the session's context.  It is applied once and never reaches the
 * client, session or not.  Two or more are refused, all of them: which
 * one the service meant cannot be told, and applying one would keep a
 * state the service did not ask for.  What is not applied is logged with
 * the request id, never the header's content (a context holds what
 * services keep of a customer), and counted.
 */

void
ngx_http_omni_context_patch(ngx_http_request_t *r, ngx_http_omni_ctx_t *ctx)
{
    int                         rc;
    char                        err[OMNI_STORE_ERRLEN];
    ngx_str_t                  *patch;
    omni_str_t                 *id;
    ngx_uint_t                  i, n, level, *count;
    ngx_list_part_t            *part;
    ngx_table_elt_t            *h;
    ngx_http_omni_main_conf_t  *omcf;

    patch = NULL;
    n = 0;
    part = &r->headers_out.headers.part;
    h = part->elts;

    for (i = 0; /* void */; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                break;
            }

            part = part->next;
            h = part->elts;
            i = 0;
        }

        if (h[i].hash == 0
            || h[i].key.len != ngx_http_omni_context_header.len
            || ngx_strncasecmp(h[i].key.data,
                               ngx_http_omni_context_header.data,
                               h[i].key.len) != 0)
        {
            continue;
        }

        h[i].hash = 0;
        patch = &h[i].value;
        n++;
    }

    if (n == 0 || r != r->main) {
        return;
    }

    id = ngx_http_omni_request_id(r, ctx);

    if (n > 1) {
        ngx_http_omni_counters.context_repeated++;

        ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                      "omni: X-Omni-Context not applied (request %*s): the "
                      "reply has %ui of them, none is applied (%ui such "
                      "replies in this worker)", id->len, id->data, n,
                      ngx_http_omni_counters.context_repeated);
        return;
    }

    if (ctx->session.len == 0) {
        ngx_http_omni_counters.context_no_session++;

        ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                      "omni: X-Omni-Context not applied (request %*s): the "
                      "request has no session (%ui such replies in this "
                      "worker)", id->len, id->data,
                      ngx_http_omni_counters.context_no_session);
        return;
    }

    omcf = ngx_http_get_module_main_conf(r, ngx_http_omni_module);

    rc = omni_store_session_update(omcf->store, (const char *)
                                   ctx->session.data, ngx_http_omni_patch,
                                   patch, NULL, err);

    if (rc == OMNI_STORE_OK) {
        return;
    }

    if (rc == OMNI_STORE_INVALID) {
        level = NGX_LOG_WARN;
        count = &ngx_http_omni_counters.context_invalid;

    } else {
        level = NGX_LOG_ERR;
        count = &ngx_http_omni_counters.context_failed;
    }

    (*count)++;

    ngx_log_error(level, r->connection->log, 0,
                  "omni: X-Omni-Context not applied (request %*s, session "
                  "%V): %s (%ui such replies in this worker)", id->len,
                  id->data, &ctx->session, err, *count);
}


static int
ngx_http_omni_patch(void *data, const char *context, size_t len, char *out,
    size_t *out_len, char *err)
{
    ngx_str_t  *patch = data;

    size_t  i, grown;

    if (omni_json_merge_patch(context, len, (const char *) patch->data,
                              patch->len, out, OMNI_STORE_CONTEXT_MAX,
                              out_len, err)
        != 0)
    {
        return OMNI_STORE_INVALID;
    }

    /* the contract's encoder writes DEL as \u007f: count it so */
    grown = *out_len;

    for (i = 0; i < *out_len; i++) {
        if (out[i] == 0x7f) {
            grown += 5;
        }
    }

    if (grown > OMNI_STORE_CONTEXT_MAX) {
        ngx_snprintf((u_char *) err, OMNI_STORE_ERRLEN,
                     "the context would be %uz bytes in the contract, more "
                     "than %d%Z", grown, OMNI_STORE_CONTEXT_MAX);
        return OMNI_STORE_INVALID;
    }

    return OMNI_STORE_OK;
}


/*
 * Log phase: the request joins its customer's journey.  Events wait in
 * the worker and are written in batches: one commit per batch, not one
 * per request.
 */

ngx_int_t
ngx_http_omni_journey_handler(ngx_http_request_t *r)
{
    size_t                          len;
    ngx_uint_t                      status;
    ngx_http_omni_ctx_t            *ctx;
    ngx_http_omni_worker_t         *w;
    ngx_http_omni_loc_conf_t       *olcf;
    ngx_http_omni_journey_event_t  *e;

    w = ngx_http_omni_worker;
    ctx = ngx_http_get_module_ctx(r, ngx_http_omni_module);

    if (w == NULL || ctx == NULL || ctx->customer.len == 0
        || ctx->action.len == 0)
    {
        return NGX_OK;
    }

    olcf = ngx_http_get_module_loc_conf(r, ngx_http_omni_module);

    if (!olcf->journey) {
        return NGX_OK;
    }

    if (w->n == NGX_HTTP_OMNI_JOURNEY_BUFFER) {
        ngx_http_omni_journey_flush(r->connection->log);
    }

    e = &w->events[w->n];
    ngx_memzero(e, sizeof(ngx_http_omni_journey_event_t));

    ngx_memcpy(e->customer, ctx->customer.data, ctx->customer.len);
    ngx_memcpy(e->ev.channel, olcf->channel.data, olcf->channel.len);

    /* an action past the journey's 64 bytes is cut, not lost */
    len = ngx_min(ctx->action.len, OMNI_STORE_NAME_MAX);
    ngx_memcpy(e->ev.action, ctx->action.data, len);

    ngx_memcpy(e->ev.session, ctx->session.data, ctx->session.len);

    e->ev.time_ms = (int64_t) r->start_sec * 1000 + r->start_msec;

    status = r->err_status ? r->err_status : r->headers_out.status;

    if (ctx->error.code) {
        ngx_cpystrn((u_char *) e->ev.outcome, (u_char *) ctx->error.code,
                    OMNI_STORE_NAME_MAX + 1);

    } else if (status < NGX_HTTP_BAD_REQUEST) {
        ngx_memcpy(e->ev.outcome, "ok", sizeof("ok"));

    } else {
        ngx_sprintf((u_char *) e->ev.outcome, "http_%03ui%Z", status);
    }

    w->n++;

    if (!w->flush.timer_set) {
        ngx_add_timer(&w->flush, w->omcf->journey_flush);
    }

    return NGX_OK;
}


static void
ngx_http_omni_journey_flush(ngx_log_t *log)
{
    int                         rc;
    char                        err[OMNI_STORE_ERRLEN];
    size_t                      skipped;
    ngx_uint_t                  i, level;
    ngx_http_omni_worker_t     *w;
    omni_store_journey_item_t   items[NGX_HTTP_OMNI_JOURNEY_BUFFER];

    w = ngx_http_omni_worker;

    if (w->n == 0) {
        return;
    }

    for (i = 0; i < w->n; i++) {
        items[i].customer = w->events[i].customer;
        items[i].ev = &w->events[i].ev;
    }

    rc = omni_store_journey_append_many(w->omcf->store, items, w->n,
                                        w->omcf->journey_max,
                                        (int64_t) w->omcf->journey_age * 1000,
                                        &skipped, err);

    if (rc != OMNI_STORE_OK) {
        w->dropped += w->n;
        level = (rc == OMNI_STORE_FULL) ? NGX_LOG_WARN : NGX_LOG_ERR;

        ngx_log_error(level, log, 0, "omni: %ui journey events lost (%ui so far): "
                      "%s", w->n, w->dropped, err);

    } else if (skipped) {
        ngx_log_error(NGX_LOG_WARN, log, 0,
                      "omni: %uz journey events had fields the journey "
                      "cannot hold", skipped);
    }

    w->n = 0;
}


static void
ngx_http_omni_flush_handler(ngx_event_t *ev)
{
    ngx_http_omni_journey_flush(ev->log);
}


/* one worker deletes what has expired, a bounded batch at a time */
static void
ngx_http_omni_purge_handler(ngx_event_t *ev)
{
    int                         rc;
    char                        err[OMNI_STORE_ERRLEN];
    size_t                      purged, total;
    ngx_uint_t                  round, more;
    ngx_msec_t                  next;
    ngx_http_omni_main_conf_t  *omcf;

    omcf = ngx_http_omni_worker->omcf;
    total = 0;
    more = 0;
    rc = OMNI_STORE_OK;

    for (round = 0; round < NGX_HTTP_OMNI_PURGE_ROUNDS; round++) {
        rc = omni_store_session_purge(omcf->store, ngx_time(),
                                      omcf->session_idle,
                                      omcf->session_absolute,
                                      NGX_HTTP_OMNI_PURGE_BATCH, &purged,
                                      err);
        total += purged;
        more = (rc == OMNI_STORE_OK && purged == NGX_HTTP_OMNI_PURGE_BATCH);

        if (!more) {
            break;
        }
    }

    if (rc == OMNI_STORE_OK) {
        rc = omni_store_revocations_purge(omcf->store, ngx_time(),
                                          NGX_HTTP_OMNI_PURGE_BATCH, &purged,
                                          err);
    }

    if (rc != OMNI_STORE_OK) {
        ngx_log_error(NGX_LOG_ERR, ev->log, 0, "omni: purge failed: %s",
                      err);
    }

    if (total) {
        ngx_log_error(NGX_LOG_INFO, ev->log, 0,
                      "omni: %uz expired sessions purged", total);
    }

    if (ngx_exiting) {
        return;
    }

    /* more are due: come back soon rather than block this worker now */
    next = more ? NGX_HTTP_OMNI_PURGE_AGAIN
                : (ngx_msec_t) omcf->session_purge * 1000;

    ngx_add_timer(ev, next);
}


ngx_int_t
ngx_http_omni_store_init_worker(ngx_cycle_t *cycle,
    ngx_http_omni_main_conf_t *omcf)
{
    ngx_http_omni_worker_t  *w;

    w = ngx_pcalloc(cycle->pool, sizeof(ngx_http_omni_worker_t));
    if (w == NULL) {
        return NGX_ERROR;
    }

    w->omcf = omcf;

    ngx_explicit_memzero(ngx_http_omni_random, NGX_HTTP_OMNI_RANDOM_POOL);
    ngx_http_omni_random_used = NGX_HTTP_OMNI_RANDOM_POOL;

    w->flush.handler = ngx_http_omni_flush_handler;
    w->flush.log = cycle->log;
    w->flush.data = w;
    w->flush.cancelable = 1;

    w->purge.handler = ngx_http_omni_purge_handler;
    w->purge.log = cycle->log;
    w->purge.data = w;
    w->purge.cancelable = 1;

    ngx_http_omni_worker = w;

    /* worker 0 purges for all; the others would only queue behind it */
    if (ngx_worker == 0 && omcf->session_purge > 0) {
        ngx_add_timer(&w->purge, (ngx_msec_t) omcf->session_purge * 1000);
    }

    return NGX_OK;
}


void
ngx_http_omni_store_exit_worker(ngx_cycle_t *cycle)
{
    if (ngx_http_omni_worker == NULL) {
        return;
    }

    ngx_http_omni_journey_flush(cycle->log);
    ngx_http_omni_worker = NULL;
}
