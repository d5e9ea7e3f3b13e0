/*
 * Copyright (C) The omni gateway authors
 *
 * The workflow in a worker (docs/dispatch.md, "Live revisions"): with
 * omni_store, omni_dispatch_file only seeds the store's workflow
 * revisions, and each worker dispatches with the store's current one,
 * compiled once per revision and worker when a request first finds it
 * new, as the policy is.  The store's current revisions (the policy's,
 * the workflow's, the capacities') are read again only when the store
 * committed something since.
 *
 * A request pins the compiled workflow it started with (its rate limit,
 * its decision, $omni_pool and the metrics name that workflow's rules and
 * pools), so a revision that replaces it frees it only once the last
 * request holding it ends.
 *
 * The capacities set live (omni_dispatch_live.h) are a revisioned record
 * of the store too: a worker that finds a new one writes it into the
 * dispatch zone, where every worker reads capacities, and writes it
 * again for the pools of each workflow it adopts.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_omni_module.h"


static void ngx_http_omni_workflow_adopt(ngx_log_t *log,
    ngx_http_omni_main_conf_t *omcf, uint32_t rev);
static ngx_http_omni_workflow_t *ngx_http_omni_workflow_new(ngx_log_t *log,
    ngx_http_omni_main_conf_t *omcf, omni_dispatch_t *d, uint32_t rev);
static void ngx_http_omni_workflow_release(void *data);
static void ngx_http_omni_live_adopt(ngx_log_t *log,
    ngx_http_omni_main_conf_t *omcf, uint32_t rev);
static void ngx_http_omni_live_apply(ngx_http_omni_main_conf_t *omcf,
    ngx_http_omni_workflow_t *w);


/*
 * The store's current revisions (policy, workflow, capacities), once per
 * request: read again, in one snapshot, only when the store committed
 * something since they were last read (LMDB's last transaction id, one
 * read of the map).  NGX_ERROR (logged) when they cannot be read: each
 * keeps its own.
 */
ngx_int_t
ngx_http_omni_store_revisions(ngx_http_request_t *r, ngx_http_omni_ctx_t *ctx)
{
    int                         rc;
    char                        err[OMNI_ERRLEN];
    uint64_t                    seen;
    ngx_http_omni_main_conf_t  *omcf;

    if (ctx->store_revs) {
        return (ctx->store_revs == 1) ? NGX_OK : NGX_ERROR;
    }

    omcf = ngx_http_get_module_main_conf(r, ngx_http_omni_module);

    ctx->store_revs = 2;

    if (omcf->store == NULL) {
        return NGX_ERROR;
    }

    if (omcf->revisions_seen == 0
        || omni_store_last_commit(omcf->store) != omcf->revisions_seen)
    {
        rc = omni_store_read_begin(omcf->store, err);

        if (rc == OMNI_STORE_OK) {
            rc = omni_store_policy_current(omcf->store, &omcf->current[0],
                                           &seen, err);
            if (rc == OMNI_STORE_OK) {
                rc = omni_store_workflow_current(omcf->store,
                                                 &omcf->current[1], err);
            }

            if (rc == OMNI_STORE_OK) {
                rc = omni_store_capacity_current(omcf->store,
                                                 &omcf->current[2], err);
            }

            omni_store_read_end(omcf->store);
        }

        if (rc != OMNI_STORE_OK) {
            omcf->revisions_seen = 0;

            ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                          "omni: the store's current revisions are "
                          "unknown, the policy and the workflow in use "
                          "stay: %s", err);
            return NGX_ERROR;
        }

        omcf->revisions_seen = seen;
    }

    ctx->store_policy_rev = omcf->current[0];
    ctx->store_workflow_rev = omcf->current[1];
    ctx->store_capacity_rev = omcf->current[2];
    ctx->store_revs = 1;

    return NGX_OK;
}


/*
 * The workflow of the request: the worker's current one (first adopting
 * the store's current revision when it is new), held until the request
 * ends.  NULL only when memory ran out.
 */
ngx_http_omni_workflow_t *
ngx_http_omni_workflow(ngx_http_request_t *r, ngx_http_omni_ctx_t *ctx)
{
    ngx_pool_cleanup_t         *cln;
    ngx_http_omni_workflow_t   *w;
    ngx_http_omni_main_conf_t  *omcf;

    if (ctx->workflow) {
        return ctx->workflow;
    }

    omcf = ngx_http_get_module_main_conf(r, ngx_http_omni_module);

    if (omcf->store
        && ngx_http_omni_store_revisions(r, ctx) == NGX_OK
        && ctx->store_workflow_rev != 0
        && ctx->store_workflow_rev != omcf->workflow_seen)
    {
        ngx_http_omni_workflow_adopt(r->connection->log, omcf,
                                     ctx->store_workflow_rev);
    }

    if (omcf->store
        && ngx_http_omni_store_revisions(r, ctx) == NGX_OK
        && ctx->store_capacity_rev != omcf->live_seen)
    {
        ngx_http_omni_live_adopt(r->connection->log, omcf,
                                 ctx->store_capacity_rev);
    }

    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (cln == NULL) {
        return NULL;
    }

    w = omcf->workflow;
    w->refs++;

    cln->handler = ngx_http_omni_workflow_release;
    cln->data = w;

    ctx->workflow = w;

    return w;
}


/*
 * The file's workflow first; with a store, the file seeds the store's
 * revisions (when it has none), and the store's current one is compiled
 * now rather than on the first request.
 */
ngx_int_t
ngx_http_omni_workflow_init_worker(ngx_cycle_t *cycle,
    ngx_http_omni_main_conf_t *omcf)
{
    int        rc;
    char       err[OMNI_ERRLEN];
    char       author[NGX_MAX_PATH + 8];
    uint32_t   rev;

    omcf->workflow = NULL;
    omcf->workflow_seen = 0;

    if (omcf->dispatch == NULL) {
        return NGX_OK;
    }

    omcf->workflow = ngx_http_omni_workflow_new(cycle->log, omcf,
                                                omcf->dispatch, 0);
    if (omcf->workflow == NULL) {
        return NGX_ERROR;
    }

    if (omcf->store == NULL) {
        return NGX_OK;
    }

    ngx_http_omni_seed_author(&omcf->dispatch_file, author, sizeof(author));

    rc = omni_store_workflow_seed(omcf->store,
                                  (const char *) omcf->dispatch_file_text.data,
                                  omcf->dispatch_file_text.len, author,
                                  ngx_time(), &rev, err);

    if (rc != OMNI_STORE_OK) {
        ngx_log_error(NGX_LOG_ERR, cycle->log, 0,
                      "omni: workflow file not seeded into the store: %s",
                      err);

    } else if (rev) {
        ngx_log_error(NGX_LOG_NOTICE, cycle->log, 0,
                      "omni: workflow file \"%V\" seeded the store as "
                      "revision %uD", &omcf->dispatch_file, rev);
    }

    rc = omni_store_workflow_current(omcf->store, &rev, err);

    if (rc != OMNI_STORE_OK) {
        ngx_log_error(NGX_LOG_ERR, cycle->log, 0,
                      "omni: workflow revision unknown, the file's in use: "
                      "%s", err);
        return NGX_OK;
    }

    if (rev) {
        ngx_http_omni_workflow_adopt(cycle->log, omcf, rev);
    }

    omcf->live = ngx_alloc(OMNI_DISPATCH_LIVE_MAX
                           * sizeof(omni_dispatch_live_t), cycle->log);
    if (omcf->live == NULL) {
        return NGX_ERROR;
    }

    rc = omni_store_capacity_current(omcf->store, &rev, err);

    if (rc != OMNI_STORE_OK) {
        ngx_log_error(NGX_LOG_ERR, cycle->log, 0,
                      "omni: capacities set live unknown: %s", err);

    } else if (rev) {
        ngx_http_omni_live_adopt(cycle->log, omcf, rev);
    }

    return NGX_OK;
}


/*
 * Revision rev becomes this worker's workflow if it compiles and fits
 * this configuration: every pool an upstream{} block, and pools when the
 * file has them (omni_dispatch on needs them).  Else the one in use stays
 * and rev is not tried again.
 */
static void
ngx_http_omni_workflow_adopt(ngx_log_t *log, ngx_http_omni_main_conf_t *omcf,
    uint32_t rev)
{
    int                             rc;
    char                            err[OMNI_ERRLEN];
    char                           *json, *errors;
    size_t                          len;
    omni_dispatch_t                *d;
    ngx_http_omni_workflow_t       *w, *old;
    ngx_http_upstream_main_conf_t  *umcf;

    omcf->workflow_seen = rev;

    rc = omni_store_workflow_get(omcf->store, rev, &json, &len, NULL, err);

    if (rc != OMNI_STORE_OK) {
        ngx_log_error(NGX_LOG_ERR, log, 0,
                      "omni: workflow revision %uD unreadable, keeping %uD: "
                      "%s", rev, omcf->workflow->rev, err);
        return;
    }

    d = omni_dispatch_compile(json, len, &errors);
    ngx_free(json);

    if (d == NULL) {
        /* revisions are compiled before they are written: this is damage */
        ngx_log_error(NGX_LOG_ERR, log, 0,
                      "omni: workflow revision %uD is invalid, keeping %uD: "
                      "%s", rev, omcf->workflow->rev,
                      errors ? errors : "out of memory");
        ngx_free(errors);
        return;
    }

    umcf = ngx_http_cycle_get_module_main_conf(ngx_cycle,
                                               ngx_http_upstream_module);

    if (omcf->dispatch->npools && d->npools == 0) {
        ngx_log_error(NGX_LOG_ERR, log, 0,
                      "omni: workflow revision %uD has no pools, which "
                      "omni_dispatch needs: keeping %uD", rev,
                      omcf->workflow->rev);
        goto refused;
    }

    if (ngx_http_omni_dispatch_upstreams(log, umcf, d, NULL, NULL)
        != NGX_OK)
    {
        ngx_log_error(NGX_LOG_ERR, log, 0,
                      "omni: workflow revision %uD does not fit this "
                      "configuration, keeping %uD", rev,
                      omcf->workflow->rev);
        goto refused;
    }

    w = ngx_http_omni_workflow_new(log, omcf, d, rev);
    if (w == NULL) {
        goto refused;
    }

    ngx_log_error(NGX_LOG_NOTICE, log, 0,
                  "omni: workflow revision %uD in use (was %uD)", rev,
                  omcf->workflow->rev);

    old = omcf->workflow;
    omcf->workflow = w;

    ngx_http_omni_workflow_release(old);

    /* its pools may be new to the capacities set live */
    if (omcf->live_seen) {
        ngx_http_omni_live_apply(omcf, w);
    }

    return;

refused:

    omni_dispatch_free(d);
}


static ngx_http_omni_workflow_t *
ngx_http_omni_workflow_new(ngx_log_t *log, ngx_http_omni_main_conf_t *omcf,
    omni_dispatch_t *d, uint32_t rev)
{
    ngx_http_omni_workflow_t       *w;
    ngx_http_upstream_main_conf_t  *umcf;

    w = ngx_calloc(sizeof(ngx_http_omni_workflow_t), log);
    if (w == NULL) {
        return NULL;
    }

    w->dispatch = d;
    w->rev = rev;
    w->refs = 1;

    /* checked already: the file's at configuration, a revision's above */
    umcf = ngx_http_cycle_get_module_main_conf(ngx_cycle,
                                               ngx_http_upstream_module);
    (void) ngx_http_omni_dispatch_upstreams(log, umcf, d, NULL,
                                            w->upstreams);

    ngx_http_omni_dispatch_index(log, omcf, w);

    return w;
}


/*
 * The worker's current workflow let go (freed unless a request holds it),
 * and its buffer of the capacities set live
 */
void
ngx_http_omni_workflow_exit_worker(ngx_http_omni_main_conf_t *omcf)
{
    if (omcf->workflow) {
        ngx_http_omni_workflow_release(omcf->workflow);
        omcf->workflow = NULL;
    }

    if (omcf->live) {
        ngx_free(omcf->live);
        omcf->live = NULL;
    }
}


/* a request ends, or a revision replaces w: freed by its last holder */
static void
ngx_http_omni_workflow_release(void *data)
{
    ngx_http_omni_workflow_t *w = data;

    if (--w->refs) {
        return;
    }

    /* the file's belongs to the configuration */
    if (w->rev) {
        omni_dispatch_free(w->dispatch);
    }

    ngx_free(w);
}


/*
 * Revision rev of the capacities set live: read, kept, and written into
 * the zone for the workflow in use.  A record that cannot be read is
 * logged and not tried again; the zone keeps what it has.
 */
static void
ngx_http_omni_live_adopt(ngx_log_t *log, ngx_http_omni_main_conf_t *omcf,
    uint32_t rev)
{
    int      rc;
    char     err[OMNI_ERRLEN];
    char    *json;
    size_t   len;

    omcf->live_seen = rev;

    if (omcf->live == NULL) {
        return;
    }

    rc = omni_store_capacity_get(omcf->store, rev, &json, &len, NULL, err);

    if (rc == OMNI_STORE_OK) {
        rc = omni_dispatch_live_parse(json, len, omcf->live,
                                      OMNI_DISPATCH_LIVE_MAX, &omcf->nlive,
                                      err);
        ngx_free(json);
    }

    if (rc != OMNI_STORE_OK) {
        omcf->nlive = 0;
        ngx_log_error(NGX_LOG_ERR, log, 0,
                      "omni: capacities set live, revision %uD, unusable: "
                      "%s", rev, err);
        return;
    }

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, log, 0,
                   "omni: capacities set live, revision %uD", rev);

    ngx_http_omni_live_apply(omcf, omcf->workflow);
}


/* each capacity of w's pools: the record's, else the workflow's */
static void
ngx_http_omni_live_apply(ngx_http_omni_main_conf_t *omcf,
    ngx_http_omni_workflow_t *w)
{
    ngx_uint_t                   i, c;
    const omni_dispatch_pool_t  *pool;
    const omni_dispatch_live_t  *e;

    for (i = 0; i < w->dispatch->npools; i++) {
        pool = &w->dispatch->pools[i];

        e = omni_dispatch_live_find(omcf->live, omcf->nlive, pool->name, "");
        (void) ngx_http_omni_pool_set_capacity(omcf, w, i, -1,
                                               e ? (ngx_int_t) e->capacity
                                                 : -1);

        for (c = 0; c < pool->nchannels; c++) {
            e = omni_dispatch_live_find(omcf->live, omcf->nlive, pool->name,
                                        pool->channels[c]);
            (void) ngx_http_omni_pool_set_capacity(omcf, w, i,
                                                   (ngx_int_t) c,
                                                   e ? (ngx_int_t) e->capacity
                                                     : -1);
        }
    }
}
