/*
 * omni_plugin_watchdog: the backstop behind omni_plugin_timeout.  The time
 * budget stops plugin code at its next Lua instruction (docs/plugins.md),
 * but not a single call into C that runs for minutes (a pathological
 * string.find), nor a loop inside LuaJIT itself; such a worker would
 * serve nothing, never finish a graceful shutdown, and hold a reload up
 * forever.  A thread of the worker looks once a second: when nginx's
 * clock has not moved for the watchdog's time while the worker's main
 * thread was running at every look, the event loop is stuck in one
 * handler; it logs why and aborts the worker, whose master starts another.
 * An idle worker sleeps in epoll_wait (not running) and a busy one updates
 * the clock at every turn of its loop, so neither is taken for stuck.
 */

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <pthread.h>
#include <signal.h>

#include "ngx_http_omni_module.h"


typedef struct {
    pthread_t          thread;
    pthread_mutex_t    lock;
    pthread_cond_t     wake;
    ngx_uint_t         stop;
    ngx_msec_t         limit;
    ngx_log_t         *log;
    char               stat_path[64];
} ngx_http_omni_watchdog_t;


static void *ngx_http_omni_watchdog_cycle(void *data);
static ngx_uint_t ngx_http_omni_main_thread_runs(
    ngx_http_omni_watchdog_t *wd);


static ngx_http_omni_watchdog_t  *ngx_http_omni_watchdog;


char *
ngx_http_omni_watchdog_conf(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_omni_main_conf_t *omcf = conf;

    ngx_str_t   *value;
    ngx_msec_t   ms;

    if (omcf->watchdog != NGX_CONF_UNSET_MSEC) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (ngx_strcmp(value[1].data, "off") == 0) {
        omcf->watchdog = 0;
        return NGX_CONF_OK;
    }

    ms = ngx_parse_time(&value[1], 0);

    if (ms == (ngx_msec_t) NGX_ERROR || ms < 1000
        || ms > 3600 * 1000)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"omni_plugin_watchdog\" must be \"off\" or a "
                           "time from 1s to 1h, not \"%V\"", &value[1]);
        return NGX_CONF_ERROR;
    }

    omcf->watchdog = ms;

    return NGX_CONF_OK;
}


ngx_int_t
ngx_http_omni_watchdog_init_worker(ngx_cycle_t *cycle,
    ngx_http_omni_main_conf_t *omcf)
{
    int                        err;
    sigset_t                   all, old;
    ngx_http_omni_watchdog_t  *wd;

    if (omcf->watchdog == 0 || omcf->plugins.len == 0) {
        return NGX_OK;
    }

    wd = ngx_calloc(sizeof(ngx_http_omni_watchdog_t), cycle->log);
    if (wd == NULL) {
        return NGX_ERROR;
    }

    wd->limit = omcf->watchdog;
    wd->log = cycle->log;
    ngx_sprintf((u_char *) wd->stat_path, "/proc/self/task/%P/stat%Z",
                ngx_pid);

    if (pthread_mutex_init(&wd->lock, NULL) != 0) {
        ngx_free(wd);
        return NGX_ERROR;
    }

    if (pthread_cond_init(&wd->wake, NULL) != 0) {
        (void) pthread_mutex_destroy(&wd->lock);
        ngx_free(wd);
        return NGX_ERROR;
    }

    /* every signal stays the main thread's, SIGPROF (the budget) first */
    sigfillset(&all);
    (void) pthread_sigmask(SIG_BLOCK, &all, &old);

    err = pthread_create(&wd->thread, NULL, ngx_http_omni_watchdog_cycle, wd);

    (void) pthread_sigmask(SIG_SETMASK, &old, NULL);

    if (err != 0) {
        ngx_log_error(NGX_LOG_ALERT, cycle->log, err,
                      "omni: the plugin watchdog's thread cannot start");
        (void) pthread_cond_destroy(&wd->wake);
        (void) pthread_mutex_destroy(&wd->lock);
        ngx_free(wd);
        return NGX_ERROR;
    }

    ngx_http_omni_watchdog = wd;

    return NGX_OK;
}


void
ngx_http_omni_watchdog_exit_worker(void)
{
    ngx_http_omni_watchdog_t  *wd;

    wd = ngx_http_omni_watchdog;

    if (wd == NULL) {
        return;
    }

    (void) pthread_mutex_lock(&wd->lock);
    wd->stop = 1;
    (void) pthread_cond_signal(&wd->wake);
    (void) pthread_mutex_unlock(&wd->lock);

    (void) pthread_join(wd->thread, NULL);

    (void) pthread_cond_destroy(&wd->wake);
    (void) pthread_mutex_destroy(&wd->lock);
    ngx_free(wd);

    ngx_http_omni_watchdog = NULL;
}


static void *
ngx_http_omni_watchdog_cycle(void *data)
{
    ngx_http_omni_watchdog_t *wd = data;

    ngx_msec_t        seen, stuck;
    struct timespec   at;

    seen = ngx_current_msec;
    stuck = 0;

    (void) pthread_mutex_lock(&wd->lock);

    while (!wd->stop) {
        (void) clock_gettime(CLOCK_REALTIME, &at);
        at.tv_sec += 1;

        (void) pthread_cond_timedwait(&wd->wake, &wd->lock, &at);

        if (wd->stop) {
            break;
        }

        /* the loop turned, or waits for events: all is well */
        if (ngx_current_msec != seen
            || !ngx_http_omni_main_thread_runs(wd))
        {
            seen = ngx_current_msec;
            stuck = 0;
            continue;
        }

        stuck += 1000;

        if (stuck < wd->limit) {
            continue;
        }

        ngx_log_error(NGX_LOG_ALERT, wd->log, 0,
                      "omni: worker %P has run %M ms without returning to "
                      "its event loop (a plugin's call into C, or LuaJIT "
                      "itself), past omni_plugin_watchdog %M ms: aborting "
                      "it, its master starts another", ngx_pid, stuck,
                      wd->limit);
        abort();
    }

    (void) pthread_mutex_unlock(&wd->lock);

    return NULL;
}


/* "R" in the third field of /proc/self/task/PID/stat */
static ngx_uint_t
ngx_http_omni_main_thread_runs(ngx_http_omni_watchdog_t *wd)
{
    int       fd;
    char      buf[128], *p;
    ssize_t   n;

    fd = open(wd->stat_path, O_RDONLY);
    if (fd == -1) {
        return 0;
    }

    n = read(fd, buf, sizeof(buf) - 1);
    (void) close(fd);

    if (n <= 0) {
        return 0;
    }

    buf[n] = '\0';

    /* the command may hold spaces and parentheses: after the last ')' */
    p = strrchr(buf, ')');

    return p != NULL && p[1] == ' ' && p[2] == 'R';
}
