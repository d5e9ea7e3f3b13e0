/*
 * Copyright (C) The omni gateway authors
 *
 * The store in a worker: the omni_store, omni_store_keyring and
 * omni_journey_limits directives, the directory checked at configuration
 * time (also for the user the workers run as, and against the keyring),
 * the environment each worker opens and closes, the journey events the
 * log phase queues and a timer writes in batches, and the timer that
 * purges expired sessions and revocations.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#if (NGX_THREADS)
#include <ngx_thread_pool.h>
#endif

#include "ngx_http_omni_module.h"


#define NGX_HTTP_OMNI_JOURNEY_BUFFER  256     /* events held per worker */
#define NGX_HTTP_OMNI_PURGE_BATCH     256     /* deletes per transaction */
#define NGX_HTTP_OMNI_PURGE_ROUNDS    8       /* transactions per tick */
#define NGX_HTTP_OMNI_PURGE_AGAIN     100     /* ms, while more are due */
#define NGX_HTTP_OMNI_GROUPS_MAX      64      /* of the workers' user */
#define NGX_HTTP_OMNI_JOURNEY_WAIT    10000   /* ms, for a thread at exit */

/* the keyring core's id is what the store records */
#if (OMNI_KEYRING_ID_LEN != OMNI_STORE_KEYRING_ID_LEN)
#error "a keyring id is not the size the store records"
#endif


typedef struct {
    char                        customer[OMNI_STORE_ID_MAX + 1];
    omni_store_journey_t        ev;
} ngx_http_omni_journey_event_t;


/*
 * A batch of events: one fills while the other may be written by a
 * thread of the pool, which reports through rc, skipped and err.
 */
typedef struct {
    ngx_uint_t                  n;
    int                         rc;
    size_t                      skipped;
    ngx_atomic_t                written;    /* by the thread, when done */
    char                        err[OMNI_ERRLEN];
    omni_store_journey_item_t   items[NGX_HTTP_OMNI_JOURNEY_BUFFER];
    ngx_http_omni_journey_event_t  events[NGX_HTTP_OMNI_JOURNEY_BUFFER];
} ngx_http_omni_journey_batch_t;


typedef struct {
    ngx_uint_t                  dropped;
    ngx_event_t                 flush;
    ngx_event_t                 purge;
    ngx_http_omni_main_conf_t  *omcf;
    ngx_http_omni_journey_batch_t  *filling;
#if (NGX_THREADS)
    ngx_thread_task_t          *task;       /* NULL: commits on the loop */
    ngx_http_omni_journey_batch_t  *writing; /* by the task, or NULL */
#endif
    ngx_http_omni_journey_batch_t   batches[2];
} ngx_http_omni_worker_t;


static char *ngx_http_omni_store_access(ngx_conf_t *cf, ngx_str_t *dir);
static void ngx_http_omni_store_misfit(ngx_log_t *log,
    ngx_http_omni_main_conf_t *omcf, int rc, const char *err);
static void ngx_http_omni_journey_flush(ngx_log_t *log);
static int ngx_http_omni_journey_append(ngx_http_omni_journey_batch_t *b,
    ngx_uint_t detached);
static void ngx_http_omni_journey_written(ngx_http_omni_journey_batch_t *b,
    ngx_log_t *log);
#if (NGX_THREADS)
static void ngx_http_omni_journey_thread(void *data, ngx_log_t *log);
static void ngx_http_omni_journey_done(ngx_event_t *ev);
static ngx_int_t ngx_http_omni_journey_wait(ngx_log_t *log);
#endif
static void ngx_http_omni_flush_handler(ngx_event_t *ev);
static void ngx_http_omni_purge_handler(ngx_event_t *ev);


static ngx_http_omni_worker_t  *ngx_http_omni_worker;


/* The directory must be there, and usable by the workers. */

char *
ngx_http_omni_store_init_conf(ngx_conf_t *cf, ngx_http_omni_main_conf_t *omcf)
{
    int              rc;
    char             err[OMNI_ERRLEN];
    ngx_file_info_t  fi;

    if (ngx_conf_full_name(cf->cycle, &omcf->store_dir, 1) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    if (ngx_file_info(omcf->store_dir.data, &fi) == NGX_FILE_ERROR) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           "omni_store directory \"%V\" is not there",
                           &omcf->store_dir);
        return NGX_CONF_ERROR;
    }

    if (!ngx_is_dir(&fi)
        || access((const char *) omcf->store_dir.data, R_OK|W_OK|X_OK) != 0)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "omni_store \"%V\" is not a writable "
                           "directory", &omcf->store_dir);
        return NGX_CONF_ERROR;
    }

    if (ngx_http_omni_store_access(cf, &omcf->store_dir) != NGX_CONF_OK) {
        return NGX_CONF_ERROR;
    }

    /*
     * The keyring must fit the store, or the store have none when there is
     * none: said by nginx -t rather than by every worker at start.  Read
     * only, so that a master running as root creates no file.
     */
    rc = omni_store_keyring_probe((const char *) omcf->store_dir.data,
                                  omcf->keyring ? omcf->keyring->id : NULL,
                                  NULL, err);
    if (rc != OMNI_STORE_OK) {
        ngx_http_omni_store_misfit(cf->log, omcf, rc, err);
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


/*
 * The master checks as root; the workers open the store as nginx's user.
 * Say so now rather than have every worker exit at start.
 */
static char *
ngx_http_omni_store_access(ngx_conf_t *cf, ngx_str_t *dir)
{
    int              ngroups;
    char             err[OMNI_ERRLEN];
    gid_t            groups[NGX_HTTP_OMNI_GROUPS_MAX];
    struct passwd   *pw;
    ngx_core_conf_t  *ccf;
    u_char           path[NGX_MAX_PATH];

    if (geteuid() != 0) {
        return NGX_CONF_OK;
    }

    ccf = (ngx_core_conf_t *) ngx_get_conf(cf->cycle->conf_ctx,
                                           ngx_core_module);

    /* without a master there are no workers: the process stays root */
    if (ccf->master == 0) {
        return NGX_CONF_OK;
    }

    /* the "user" directive, or the default the core module will apply */
    pw = getpwnam(ccf->username ? ccf->username : NGX_USER);
    if (pw == NULL || pw->pw_uid == 0) {
        return NGX_CONF_OK;
    }

    ngroups = NGX_HTTP_OMNI_GROUPS_MAX;
    if (getgrouplist(pw->pw_name, ccf->user != (ngx_uid_t) NGX_CONF_UNSET_UINT
                                  ? ccf->group : pw->pw_gid,
                     groups, &ngroups) < 0)
    {
        ngroups = NGX_HTTP_OMNI_GROUPS_MAX;
    }

    /* a path too long to be opened is left for the open to refuse */
    if (ngx_snprintf(path, NGX_MAX_PATH, "%V%Z", dir) == path + NGX_MAX_PATH) {
        return NGX_CONF_OK;
    }

    if (omni_store_access((char *) path, pw->pw_uid, groups, ngroups,
                          pw->pw_name, err)
        != OMNI_STORE_OK)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "omni_store: %s", err);
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


/* a store that does not fit: the message names the directive to fix */
static void
ngx_http_omni_store_misfit(ngx_log_t *log, ngx_http_omni_main_conf_t *omcf,
    int rc, const char *err)
{
    if (rc != OMNI_STORE_INVALID) {
        ngx_log_error(NGX_LOG_EMERG, log, 0, "omni_store: %s", err);

    } else if (omcf->keyring) {
        ngx_log_error(NGX_LOG_EMERG, log, 0, "omni_store_keyring \"%V\": %s",
                      &omcf->keyring_file, err);

    } else {
        ngx_log_error(NGX_LOG_EMERG, log, 0, "omni_store: %s; "
                      "\"omni_store_keyring\" is missing", err);
    }
}


/*
 * Worker start: an LMDB environment may not cross a fork, so each worker
 * opens its own.
 */

ngx_int_t
ngx_http_omni_store_init_worker(ngx_cycle_t *cycle,
    ngx_http_omni_main_conf_t *omcf)
{
    int                      rc;
    char                     err[OMNI_ERRLEN];
    ngx_http_omni_worker_t  *w;

    omcf->store = omni_store_open((const char *) omcf->store_dir.data,
                                  omcf->store_max, (int) omcf->store_sync,
                                  err);
    if (omcf->store == NULL) {
        ngx_log_error(NGX_LOG_EMERG, cycle->log, 0, "omni: %s", err);
        return NGX_ERROR;
    }

    /*
     * A store new since the configuration check takes the keyring here;
     * with one, the store seals (converted on the first open with it).
     */
    rc = omcf->keyring ? omni_store_use_keyring(omcf->store, omcf->keyring,
                                                err)
                       : omni_store_keyring_check(omcf->store, NULL, err);
    if (rc != OMNI_STORE_OK) {
        ngx_http_omni_store_misfit(cycle->log, omcf, rc, err);
        omni_store_close(omcf->store);
        omcf->store = NULL;
        return NGX_ERROR;
    }

    w = ngx_pcalloc(cycle->pool, sizeof(ngx_http_omni_worker_t));
    if (w == NULL) {
        return NGX_ERROR;
    }

    w->omcf = omcf;
    w->filling = &w->batches[0];

#if (NGX_THREADS)
    if (omcf->journey_pool) {
        w->task = ngx_thread_task_alloc(cycle->pool, 0);
        if (w->task == NULL) {
            return NGX_ERROR;
        }

        w->task->handler = ngx_http_omni_journey_thread;
        w->task->event.handler = ngx_http_omni_journey_done;
        w->task->event.data = w;
        w->task->event.log = cycle->log;
    }
#endif

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


/* Worker exit: the queued journey events are written, then it closes. */

void
ngx_http_omni_store_exit_worker(ngx_cycle_t *cycle,
    ngx_http_omni_main_conf_t *omcf)
{
    if (omcf->store == NULL) {
        return;
    }

    if (ngx_http_omni_worker) {
#if (NGX_THREADS)
        if (ngx_http_omni_journey_wait(cycle->log) != NGX_OK) {
            /* never close the environment under a thread's transaction */
            ngx_http_omni_worker = NULL;
            omcf->store = NULL;
            return;
        }

        /* the pool's threads are gone: the rest is written here */
        ngx_http_omni_worker->task = NULL;
#endif
        ngx_http_omni_journey_flush(cycle->log);
        ngx_http_omni_worker = NULL;
    }

    omni_store_close(omcf->store);
    omcf->store = NULL;
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

    if (w->filling->n == NGX_HTTP_OMNI_JOURNEY_BUFFER) {
        ngx_http_omni_journey_flush(r->connection->log);
    }

    e = &w->filling->events[w->filling->n];
    ngx_memzero(e, sizeof(ngx_http_omni_journey_event_t));

    ngx_memcpy(e->customer, ctx->customer.data, ctx->customer.len);
    ngx_memcpy(e->ev.channel, olcf->channel.data, olcf->channel.len);

    /* an action past the journey's 64 bytes is cut, not lost */
    len = ngx_min(ctx->action.len, OMNI_STORE_NAME_MAX);
    ngx_memcpy(e->ev.action, ctx->action.data, len);

    /* a location may keep journeys without sessions */
    if (ctx->session.len) {
        ngx_memcpy(e->ev.session, ctx->session.data, ctx->session.len);
    }

    /* the dispatch's decision: names of the workflow and of the plugin */
    if (ctx->pool) {
        ngx_cpystrn((u_char *) e->ev.pool,
                    (u_char *) ctx->workflow->dispatch->pools[ctx->pool - 1]
                                                   .name,
                    OMNI_STORE_NAME_MAX + 1);
        ngx_cpystrn((u_char *) e->ev.rule, (u_char *) ctx->dispatch_rule,
                    OMNI_STORE_NAME_MAX + 1);

        if (ctx->intent.len && ctx->intent.len <= OMNI_STORE_INTENT_MAX) {
            ngx_memcpy(e->ev.intent, ctx->intent.data, ctx->intent.len);
        }
    }

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

    w->filling->n++;

    ngx_log_debug3(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "omni: journey event \"%s\" queued for customer %V, "
                   "%ui waiting", e->ev.outcome, &ctx->customer,
                   w->filling->n);

    if (!w->flush.timer_set) {
        ngx_add_timer(&w->flush, w->omcf->journey_flush);
    }

    return NGX_OK;
}


/*
 * The filling batch goes to the thread pool when there is one and it is
 * not writing the other batch: the commit, whose fsync takes hundreds of
 * microseconds, then runs while the event loop goes on.  Otherwise, and
 * when the pool refuses the task, it is written here.
 */
static void
ngx_http_omni_journey_flush(ngx_log_t *log)
{
    ngx_uint_t                      i;
    ngx_http_omni_worker_t         *w;
    ngx_http_omni_journey_batch_t  *b;

    w = ngx_http_omni_worker;
    b = w->filling;

    if (b->n == 0) {
        return;
    }

    for (i = 0; i < b->n; i++) {
        b->items[i].customer = b->events[i].customer;
        b->items[i].ev = &b->events[i].ev;
    }

#if (NGX_THREADS)
    if (w->writing && b->n < NGX_HTTP_OMNI_JOURNEY_BUFFER) {
        /* the timer again, once the other batch is written */
        return;
    }

    if (w->task && w->writing == NULL) {
        b->written = 0;
        w->task->ctx = b;

        if (ngx_thread_task_post(w->omcf->journey_pool, w->task) == NGX_OK) {
            ngx_log_debug1(NGX_LOG_DEBUG_HTTP, log, 0,
                           "omni: journey flush, %ui events to the thread "
                           "pool", b->n);

            w->writing = b;
            w->filling = (b == &w->batches[0]) ? &w->batches[1]
                                               : &w->batches[0];
            return;
        }

        /* the pool logged why; nothing is lost, the loop writes it */
    }
#endif

    b->rc = ngx_http_omni_journey_append(b, 0);

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, log, 0,
                   "omni: journey flush, %ui events", b->n);

    ngx_http_omni_journey_written(b, log);
}


/* detached: from a thread of the pool, which may not resize the map */
static int
ngx_http_omni_journey_append(ngx_http_omni_journey_batch_t *b,
    ngx_uint_t detached)
{
    int                         rc;
    int64_t                     age;
    uint64_t                    start;
    ngx_http_omni_main_conf_t  *omcf;

    omcf = ngx_http_omni_worker->omcf;
    age = (int64_t) omcf->journey_age * 1000;
    start = ngx_http_omni_clock_ns();

    if (detached) {
        rc = omni_store_journey_append_detached(omcf->store, b->items, b->n,
                                                omcf->journey_max, age,
                                                &b->skipped, b->err);

    } else {
        rc = omni_store_journey_append_many(omcf->store, b->items, b->n,
                                            omcf->journey_max, age,
                                            &b->skipped, b->err);
    }

    if (rc == OMNI_STORE_OK) {
        ngx_http_omni_metrics_journey(omcf,
                                      (ngx_http_omni_clock_ns() - start)
                                      / 1000, 0);
    }

    return rc;
}


/* what became of a batch: logged, counted, and the batch emptied */
static void
ngx_http_omni_journey_written(ngx_http_omni_journey_batch_t *b,
    ngx_log_t *log)
{
    ngx_uint_t               level;
    ngx_http_omni_worker_t  *w;

    w = ngx_http_omni_worker;

    if (b->rc != OMNI_STORE_OK) {
        w->dropped += b->n;
        ngx_http_omni_metrics_journey(w->omcf, 0, b->n);
        level = (b->rc == OMNI_STORE_FULL) ? NGX_LOG_WARN : NGX_LOG_ERR;

        ngx_log_error(level, log, 0,
                      "omni: %ui journey events lost (%ui so far): %s",
                      b->n, w->dropped, b->err);

    } else if (b->skipped) {
        ngx_log_error(NGX_LOG_WARN, log, 0,
                      "omni: %uz journey events had fields the journey "
                      "cannot hold", b->skipped);
    }

    b->n = 0;
}


#if (NGX_THREADS)

/*
 * In a thread of the pool: the store's detached write, which leaves a
 * map to resize to the event loop (OMNI_STORE_AGAIN).
 */
static void
ngx_http_omni_journey_thread(void *data, ngx_log_t *log)
{
    ngx_http_omni_journey_batch_t *b = data;

    b->rc = ngx_http_omni_journey_append(b, 1);

    ngx_memory_barrier();
    b->written = 1;
}


/* Back on the event loop once the thread is done with the batch. */
static void
ngx_http_omni_journey_done(ngx_event_t *ev)
{
    ngx_http_omni_worker_t         *w;
    ngx_http_omni_journey_batch_t  *b;

    w = ev->data;
    b = w->writing;

    if (b == NULL) {
        return;
    }

    w->writing = NULL;

    if (b->rc == OMNI_STORE_AGAIN) {
        /* the map had to be resized, which only this thread may do */
        b->rc = ngx_http_omni_journey_append(b, 0);
    }

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, ev->log, 0,
                   "omni: journey batch of %ui events written by the "
                   "thread pool: %d", b->n, b->rc);

    ngx_http_omni_journey_written(b, ev->log);

    /* what came meanwhile may have found the timer gone */
    if (w->filling->n && !w->flush.timer_set) {
        ngx_add_timer(&w->flush, w->omcf->journey_flush);
    }
}


/*
 * Worker exit: the pool's threads may not have reported a batch back, as
 * the event loop has stopped; the store must not close under a thread.
 */
static ngx_int_t
ngx_http_omni_journey_wait(ngx_log_t *log)
{
    ngx_uint_t               i;
    ngx_http_omni_worker_t  *w;

    w = ngx_http_omni_worker;

    if (w->writing == NULL) {
        return NGX_OK;
    }

    for (i = 0; !w->writing->written; i++) {
        if (i == NGX_HTTP_OMNI_JOURNEY_WAIT) {
            ngx_log_error(NGX_LOG_ALERT, log, 0,
                          "omni: a thread still writes %ui journey events "
                          "at exit; the store is left open",
                          w->writing->n);
            return NGX_ERROR;
        }

        ngx_msleep(1);
    }

    ngx_memory_barrier();

    ngx_http_omni_journey_done(&w->task->event);

    return NGX_OK;
}

#endif


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
    char                        err[OMNI_ERRLEN];
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


char *
ngx_http_omni_store(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_omni_main_conf_t *omcf = conf;

    ssize_t      size;
    ngx_str_t   *value, s;
    ngx_uint_t   i;

    if (omcf->store_dir.len) {
        return "is duplicate";
    }

    value = cf->args->elts;

    omcf->store_dir = value[1];
    omcf->store_max = 1024 * 1024 * 1024;
    omcf->store_sync = OMNI_STORE_SYNC_FULL;

    for (i = 2; i < cf->args->nelts; i++) {

        if (ngx_strncmp(value[i].data, "max=", 4) == 0) {
            s.data = value[i].data + 4;
            s.len = value[i].len - 4;

            size = ngx_parse_size(&s);
            if (size == NGX_ERROR || size < 1024 * 1024) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid omni_store size \"%V\", "
                                   "1m at least", &value[i]);
                return NGX_CONF_ERROR;
            }

            omcf->store_max = (size_t) size;
            continue;
        }

        if (ngx_strcmp(value[i].data, "sync=full") == 0) {
            omcf->store_sync = OMNI_STORE_SYNC_FULL;
            continue;
        }

        if (ngx_strcmp(value[i].data, "sync=meta") == 0) {
            omcf->store_sync = OMNI_STORE_SYNC_META;
            continue;
        }

        if (ngx_strcmp(value[i].data, "sync=none") == 0) {
            omcf->store_sync = OMNI_STORE_SYNC_NONE;
            continue;
        }

        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid parameter \"%V\", expected "
                           "\"max=size\" or \"sync=full|meta|none\"",
                           &value[i]);
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


/*
 * omni_store_keyring file: read here, once, by the master; the workers
 * inherit it.  Never logged.
 */
char *
ngx_http_omni_store_keyring(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_omni_main_conf_t *omcf = conf;

    char                 err[OMNI_ERRLEN];
    ngx_str_t           *value;
    ngx_pool_cleanup_t  *cln;

    if (omcf->keyring) {
        return "is duplicate";
    }

    value = cf->args->elts;
    omcf->keyring_file = value[1];

    if (ngx_conf_full_name(cf->cycle, &omcf->keyring_file, 1) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    /* first, so that a keyring loaded always has its cleanup */
    cln = ngx_pool_cleanup_add(cf->pool, 0);
    if (cln == NULL) {
        return NGX_CONF_ERROR;
    }

    if (omni_keyring_load((const char *) omcf->keyring_file.data,
                          &omcf->keyring, err)
        != 0)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "%s", err);
        return NGX_CONF_ERROR;
    }

    /* wiped when the cycle that loaded it goes */
    cln->handler = (ngx_pool_cleanup_pt) omni_keyring_free;
    cln->data = omcf->keyring;

    return NGX_CONF_OK;
}


/*
 * omni_case_sla file: the SLA table of cases (docs/cases.md), read and
 * checked whole by the master; the workers inherit it.
 */
char *
ngx_http_omni_case_sla(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_omni_main_conf_t *omcf = conf;

    char                 err[OMNI_ERRLEN];
    ngx_str_t           *value, file;
    ngx_pool_cleanup_t  *cln;

    if (omcf->case_sla) {
        return "is duplicate";
    }

    value = cf->args->elts;
    file = value[1];

    if (ngx_conf_full_name(cf->cycle, &file, 1) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    cln = ngx_pool_cleanup_add(cf->pool, 0);
    if (cln == NULL) {
        return NGX_CONF_ERROR;
    }

    omcf->case_sla = omni_case_sla_load((const char *) file.data, err);

    if (omcf->case_sla == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "omni_case_sla \"%V\": %s",
                           &file, err);
        return NGX_CONF_ERROR;
    }

    cln->handler = (ngx_pool_cleanup_pt) omni_case_sla_free;
    cln->data = omcf->case_sla;

    return NGX_CONF_OK;
}


/*
 * Journeys commit in nginx's thread pool (by default "default", which
 * nginx makes when something asks for it) when a location keeps them.
 */
ngx_int_t
ngx_http_omni_journey_init_conf(ngx_conf_t *cf,
    ngx_http_omni_main_conf_t *omcf)
{
    if (omcf->journey_thread == NGX_CONF_UNSET) {
#if (NGX_THREADS)
        omcf->journey_thread = 1;
#else
        omcf->journey_thread = 0;
#endif
    }

    if (!omcf->journey_used || !omcf->journey_thread) {
        return NGX_OK;
    }

#if (NGX_THREADS)
    omcf->journey_pool = ngx_thread_pool_add(cf,
                                             omcf->journey_pool_name.len
                                             ? &omcf->journey_pool_name
                                             : NULL);
    if (omcf->journey_pool == NULL) {
        return NGX_ERROR;
    }
#endif

    return NGX_OK;
}


/*
 * omni_journey_limits [max=1000] [age=90d] [flush=1s]
 *                     [thread_pool=default|NAME|off]
 */
char *
ngx_http_omni_journey_limits(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_omni_main_conf_t *omcf = conf;

    time_t      t;
    ngx_int_t   n;
    ngx_str_t  *value, s;
    ngx_uint_t  i;

    if (omcf->journey_max != NGX_CONF_UNSET_UINT
        || omcf->journey_age != NGX_CONF_UNSET
        || omcf->journey_flush != NGX_CONF_UNSET_MSEC
        || omcf->journey_thread != NGX_CONF_UNSET)
    {
        return "is duplicate";
    }

    value = cf->args->elts;

    for (i = 1; i < cf->args->nelts; i++) {

        if (ngx_strncmp(value[i].data, "max=", 4) == 0) {
            n = ngx_atoi(value[i].data + 4, value[i].len - 4);
            if (n == NGX_ERROR || n < 1 || n > 1000000) {
                goto invalid;
            }

            omcf->journey_max = (ngx_uint_t) n;
            continue;
        }

        if (ngx_strncmp(value[i].data, "age=", 4) == 0) {
            s.data = value[i].data + 4;
            s.len = value[i].len - 4;

            t = ngx_parse_time(&s, 1);
            if (t == (time_t) NGX_ERROR || t == 0) {
                goto invalid;
            }

            omcf->journey_age = t;
            continue;
        }

        if (ngx_strncmp(value[i].data, "flush=", 6) == 0) {
            s.data = value[i].data + 6;
            s.len = value[i].len - 6;

            n = ngx_parse_time(&s, 0);
            if (n == NGX_ERROR || n < 1 || n > 60000) {
                goto invalid;
            }

            omcf->journey_flush = (ngx_msec_t) n;
            continue;
        }

        if (ngx_strncmp(value[i].data, "thread_pool=", 12) == 0) {
            s.data = value[i].data + 12;
            s.len = value[i].len - 12;

            if (s.len == 0) {
                goto invalid;
            }

            if (s.len == 3 && ngx_strncmp(s.data, "off", 3) == 0) {
                omcf->journey_thread = 0;
                continue;
            }

#if (NGX_THREADS)
            omcf->journey_thread = 1;
            omcf->journey_pool_name = s;
            continue;
#else
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "\"%V\" needs nginx built with threads "
                               "(--with-threads)", &value[i]);
            return NGX_CONF_ERROR;
#endif
        }

        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid parameter \"%V\", expected \"max=\", "
                           "\"age=\", \"flush=\" or \"thread_pool=\"",
                           &value[i]);
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;

invalid:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "invalid value in \"%V\" (max=1..1000000, age= a "
                       "time, flush=1ms..60s, thread_pool= a name or off)",
                       &value[i]);
    return NGX_CONF_ERROR;
}
