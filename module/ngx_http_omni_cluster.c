/*
 * Copyright (C) The omni gateway authors
 *
 * The node's part in a cluster (docs/cluster.md), as nginx sees it: the
 * omni_cluster directive, the acknowledgement wait of admin changes
 * (ack=on: answered once omni-sync recorded the change as accepted by
 * JetStream), and the cluster state that omni_health and omni_metrics
 * show.  The workers never talk to NATS: everything here reads the
 * store's change-log cursors, which omni-sync moves, and at scrape time
 * the state file omni-sync writes every second.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <jansson.h>

#include "ngx_http_omni_module.h"


#define NGX_HTTP_OMNI_ACK_POLL        5        /* ms between cursor reads */
#define NGX_HTTP_OMNI_ACK_TIMEOUT     5000     /* ms, ack_timeout= */
#define NGX_HTTP_OMNI_ACK_TIMEOUT_MAX 60000
#define NGX_HTTP_OMNI_SYNC_STATUS     "/omni-sync.status"
#define NGX_HTTP_OMNI_SYNC_STATUS_MAX 4096
#define NGX_HTTP_OMNI_SYNC_STALE      5        /* s: the sync is gone */


typedef struct {
    ngx_http_request_t         *request;
    ngx_event_t                 timer;
    uint64_t                    seq;           /* the change to see out */
    ngx_msec_t                  deadline;
    ngx_http_omni_ack_pt        done;
    void                       *data;
} ngx_http_omni_ack_t;


static ngx_int_t ngx_http_omni_cluster_read(ngx_http_omni_main_conf_t *omcf,
    ngx_log_t *log, omni_store_changes_state_t *s);
static void ngx_http_omni_cluster_ack_handler(ngx_event_t *ev);
static void ngx_http_omni_cluster_ack_cleanup(void *data);
static void ngx_http_omni_cluster_sync(ngx_http_omni_main_conf_t *omcf,
    time_t now, ngx_http_omni_cluster_state_t *cs, ngx_log_t *log);


/*
 * omni_cluster off | [fail_closed_lag=time] [ack=on|off] [ack_timeout=time]
 */
char *
ngx_http_omni_cluster(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_omni_main_conf_t *omcf = conf;

    time_t       lag;
    ngx_str_t   *value, s;
    ngx_msec_t   timeout;
    ngx_uint_t   i, ack_set;

    if (omcf->cluster_set) {
        return "is duplicate";
    }

    omcf->cluster_set = 1;
    value = cf->args->elts;

    if (ngx_strcmp(value[1].data, "off") == 0) {
        if (cf->args->nelts > 2) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "\"off\" takes no "
                               "other parameter, \"%V\" given", &value[2]);
            return NGX_CONF_ERROR;
        }

        return NGX_CONF_OK;
    }

    ack_set = 0;
    timeout = 0;

    for (i = 1; i < cf->args->nelts; i++) {

        if (ngx_strncmp(value[i].data, "fail_closed_lag=", 16) == 0) {
            if (omcf->cluster_lag) {
                goto twice;
            }

            s.data = value[i].data + 16;
            s.len = value[i].len - 16;

            lag = ngx_parse_time(&s, 1);
            if (lag == (time_t) NGX_ERROR || lag < 1 || lag > 24 * 60 * 60)
            {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "invalid lag "
                                   "\"%V\", 1s to 24h", &value[i]);
                return NGX_CONF_ERROR;
            }

            omcf->cluster_lag = lag;
            continue;
        }

        if (ngx_strncmp(value[i].data, "ack=", 4) == 0) {
            if (ack_set++) {
                goto twice;
            }

            if (ngx_strcmp(value[i].data + 4, "on") == 0) {
                omcf->cluster_ack = 1;

            } else if (ngx_strcmp(value[i].data + 4, "off") != 0) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "invalid value "
                                   "\"%V\", expected \"ack=on\" or "
                                   "\"ack=off\"", &value[i]);
                return NGX_CONF_ERROR;
            }

            continue;
        }

        if (ngx_strncmp(value[i].data, "ack_timeout=", 12) == 0) {
            if (timeout) {
                goto twice;
            }

            s.data = value[i].data + 12;
            s.len = value[i].len - 12;

            timeout = ngx_parse_time(&s, 0);
            if (timeout == (ngx_msec_t) NGX_ERROR || timeout < 10
                || timeout > NGX_HTTP_OMNI_ACK_TIMEOUT_MAX)
            {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "invalid timeout "
                                   "\"%V\", 10ms to 60s", &value[i]);
                return NGX_CONF_ERROR;
            }

            continue;
        }

        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "invalid parameter \"%V\", "
                           "expected \"off\", \"fail_closed_lag=time\", "
                           "\"ack=on|off\" or \"ack_timeout=time\"",
                           &value[i]);
        return NGX_CONF_ERROR;
    }

    /* a timeout for a wait that never happens would mislead */
    if (timeout && !omcf->cluster_ack) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "\"ack_timeout=\" needs "
                           "\"ack=on\"");
        return NGX_CONF_ERROR;
    }

    omcf->cluster_ack_timeout = timeout ? timeout : NGX_HTTP_OMNI_ACK_TIMEOUT;

    return NGX_CONF_OK;

twice:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "parameter \"%V\" given twice",
                       &value[i]);
    return NGX_CONF_ERROR;
}


/* the newest local change of the log, before an admin request writes */
ngx_int_t
ngx_http_omni_cluster_last(ngx_http_request_t *r, uint64_t *last)
{
    omni_store_changes_state_t   s;
    ngx_http_omni_main_conf_t   *omcf;

    omcf = ngx_http_get_module_main_conf(r, ngx_http_omni_module);

    if (ngx_http_omni_cluster_read(omcf, r->connection->log, &s) != NGX_OK) {
        return NGX_ERROR;
    }

    *last = s.last;

    return NGX_OK;
}


/*
 * omni_cluster ack=on: when the request logged changes past "before",
 * its answer waits for omni-sync to record the newest as published (the
 * cursor moves once JetStream acked it).  The event loop goes on: a
 * timer reads the cursor every NGX_HTTP_OMNI_ACK_POLL ms until then or
 * ack_timeout, and done() makes the answer.  NGX_OK: nothing to wait
 * for; NGX_DONE: done() will be called; NGX_ERROR.
 */
ngx_int_t
ngx_http_omni_cluster_ack(ngx_http_request_t *r, uint64_t before,
    ngx_http_omni_ack_pt done, void *data)
{
    ngx_pool_cleanup_t          *cln;
    ngx_http_omni_ack_t         *ack;
    omni_store_changes_state_t   s;
    ngx_http_omni_main_conf_t   *omcf;

    omcf = ngx_http_get_module_main_conf(r, ngx_http_omni_module);

    if (ngx_http_omni_cluster_read(omcf, r->connection->log, &s) != NGX_OK) {
        return NGX_ERROR;
    }

    /* another worker's change may be among them: waited for as well */
    if (s.last <= before || s.published >= s.last) {
        return NGX_OK;
    }

    ack = ngx_pcalloc(r->pool, sizeof(ngx_http_omni_ack_t));
    if (ack == NULL) {
        return NGX_ERROR;
    }

    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (cln == NULL) {
        return NGX_ERROR;
    }

    ack->request = r;
    ack->seq = s.last;
    ack->deadline = ngx_current_msec + omcf->cluster_ack_timeout;
    ack->done = done;
    ack->data = data;

    ack->timer.handler = ngx_http_omni_cluster_ack_handler;
    ack->timer.data = ack;
    ack->timer.log = r->connection->log;

    cln->handler = ngx_http_omni_cluster_ack_cleanup;
    cln->data = ack;

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "omni cluster: waiting for change %uL, published %uL",
                   s.last, s.published);

    ngx_add_timer(&ack->timer, NGX_HTTP_OMNI_ACK_POLL);

    /* the timer's handler finalizes the request */
    r->main->count++;

    return NGX_DONE;
}


static void
ngx_http_omni_cluster_ack_handler(ngx_event_t *ev)
{
    ngx_int_t                    rc, acked;
    ngx_connection_t            *c;
    ngx_http_request_t          *r;
    ngx_http_omni_ack_t         *ack;
    omni_store_changes_state_t   s;
    ngx_http_omni_main_conf_t   *omcf;

    ack = ev->data;
    r = ack->request;
    c = r->connection;

    ngx_http_set_log_request(c->log, r);

    omcf = ngx_http_get_module_main_conf(r, ngx_http_omni_module);

    acked = ngx_http_omni_cluster_read(omcf, c->log, &s);

    if (acked == NGX_OK && s.published < ack->seq) {
        acked = NGX_DECLINED;
    }

    if (acked == NGX_DECLINED
        && (ngx_msec_int_t) (ack->deadline - ngx_current_msec) > 0)
    {
        ngx_add_timer(&ack->timer, NGX_HTTP_OMNI_ACK_POLL);
        return;
    }

    if (acked == NGX_DECLINED) {
        ngx_log_error(NGX_LOG_WARN, c->log, 0,
                      "omni admin: change %uL not accepted by the cluster "
                      "within omni_cluster ack_timeout=%Mms: it is "
                      "recorded on this node and omni-sync will publish it",
                      ack->seq, omcf->cluster_ack_timeout);
    }

    rc = (acked == NGX_ERROR) ? NGX_HTTP_INTERNAL_SERVER_ERROR
                              : ack->done(r, ack->data, acked == NGX_OK);

    ngx_http_finalize_request(r, rc);
    ngx_http_run_posted_requests(c);
}


static ngx_int_t
ngx_http_omni_cluster_read(ngx_http_omni_main_conf_t *omcf, ngx_log_t *log,
    omni_store_changes_state_t *s)
{
    char  err[OMNI_ERRLEN];

    if (omni_store_changes_state(omcf->store, s, err) != OMNI_STORE_OK) {
        ngx_log_error(NGX_LOG_ERR, log, 0, "omni: cluster state "
                      "unreadable: %s", err);
        return NGX_ERROR;
    }

    return NGX_OK;
}


/* a request freed while waiting (its connection closed): no timer left */
static void
ngx_http_omni_cluster_ack_cleanup(void *data)
{
    ngx_http_omni_ack_t  *ack = data;

    if (ack->timer.timer_set) {
        ngx_del_timer(&ack->timer);
    }
}


/*
 * The cluster as this node knows it, for omni_health and omni_metrics:
 * the store's cursors, and the state file of omni-sync (read here, at
 * scrape time only).  NGX_DECLINED: the node is in no cluster (no node
 * id recorded, no omni_cluster).
 */
ngx_int_t
ngx_http_omni_cluster_state(ngx_http_omni_main_conf_t *omcf,
    ngx_http_omni_cluster_state_t *cs, ngx_log_t *log)
{
    time_t                       now;
    omni_store_changes_state_t   s;

    ngx_memzero(cs, sizeof(ngx_http_omni_cluster_state_t));

    if (omcf->store == NULL) {
        return NGX_DECLINED;
    }

    if (ngx_http_omni_cluster_read(omcf, log, &s) != NGX_OK) {
        return NGX_ERROR;
    }

    if (s.node[0] == '\0' && !omcf->cluster_set) {
        return NGX_DECLINED;
    }

    now = ngx_time();

    cs->unpublished = s.last - s.published;
    cs->caught_up = (time_t) s.caught_up;
    cs->lag = now - (time_t) s.caught_up;
    cs->refusing = omcf->cluster_lag && cs->lag > omcf->cluster_lag;

    ngx_http_omni_cluster_sync(omcf, now, cs, log);

    return NGX_OK;
}


/*
 * <store>/omni-sync.status (tools/omni_sync.c), untrusted: a JSON object
 * of at most NGX_HTTP_OMNI_SYNC_STATUS_MAX bytes.  The sync runs when it
 * wrote the file within NGX_HTTP_OMNI_SYNC_STALE seconds; the engine is
 * reachable when a running sync says so.
 */
static void
ngx_http_omni_cluster_sync(ngx_http_omni_main_conf_t *omcf, time_t now,
    ngx_http_omni_cluster_state_t *cs, ngx_log_t *log)
{
    u_char        *p;
    ssize_t        n;
    json_t        *json, *at;
    ngx_fd_t       fd;
    json_error_t   jerr;
    u_char         path[NGX_MAX_PATH];
    u_char         buf[NGX_HTTP_OMNI_SYNC_STATUS_MAX + 1];

    p = ngx_snprintf(path, NGX_MAX_PATH - 1, "%V" NGX_HTTP_OMNI_SYNC_STATUS
                     "%Z", &omcf->store_dir);
    if (p >= path + NGX_MAX_PATH - 1) {
        return;
    }

    fd = ngx_open_file(path, NGX_FILE_RDONLY, NGX_FILE_OPEN, 0);
    if (fd == NGX_INVALID_FILE) {
        return;
    }

    n = ngx_read_fd(fd, buf, sizeof(buf));

    if (ngx_close_file(fd) == NGX_FILE_ERROR) {
        ngx_log_error(NGX_LOG_ALERT, log, ngx_errno,
                      ngx_close_file_n " \"%s\" failed", path);
    }

    if (n <= 0 || n > NGX_HTTP_OMNI_SYNC_STATUS_MAX) {
        return;
    }

    json = json_loadb((char *) buf, (size_t) n, JSON_REJECT_DUPLICATES,
                      &jerr);
    if (json == NULL) {
        return;
    }

    at = json_object_get(json, "updated_at");

    cs->sync_running = json_is_object(json) && json_is_integer(at)
                       && json_integer_value(at) + NGX_HTTP_OMNI_SYNC_STALE
                          >= (json_int_t) now;

    cs->reachable = cs->sync_running
                    && json_is_true(json_object_get(json,
                                                    "engine_reachable"));

    json_decref(json);
}
