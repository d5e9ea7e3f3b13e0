/*
 * Copyright (C) The omni gateway authors
 *
 * omni-loadgen: the latency histograms, the clocks, and the table and summary
 * line printed at the end.
 */


#define _GNU_SOURCE

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "loadgen.h"


static double omni_lg_hist_us(const omni_lg_hist_t *h, double q);
static void omni_lg_tails(const omni_lg_hist_t *h, double *us);


void
omni_lg_hist_add(omni_lg_hist_t *h, uint64_t v)
{
    int     e;
    size_t  i;

    if (v >> OMNI_LG_TOP_BITS) {
        v = (UINT64_C(1) << OMNI_LG_TOP_BITS) - 1;
    }

    if (v < OMNI_LG_SUB) {
        i = (size_t) v;

    } else {
        /* the top OMNI_LG_SUB_BITS bits of v, in its power of two's row */
        e = 63 - __builtin_clzll(v) - OMNI_LG_SUB_BITS + 1;
        i = (size_t) e * OMNI_LG_HALF + (size_t) (v >> e);
    }

    h->bucket[i]++;
    h->count++;
    h->sum += v;

    if (v > h->max) {
        h->max = v;
    }
}


/* the q-quantile, in µs: the middle of the bucket that holds it */
static double
omni_lg_hist_us(const omni_lg_hist_t *h, double q)
{
    size_t    i;
    uint64_t  rank, seen, v, e;

    if (h->count == 0) {
        return 0;
    }

    rank = (uint64_t) ceil(q * (double) h->count);
    rank = rank ? rank : 1;
    seen = 0;

    for (i = 0; i < OMNI_LG_BUCKETS - 1; i++) {
        seen += h->bucket[i];
        if (seen >= rank) {
            break;
        }
    }

    if (i < OMNI_LG_SUB) {
        v = i;

    } else {
        e = i / OMNI_LG_HALF - 1;
        v = ((i % OMNI_LG_HALF + OMNI_LG_HALF) << e) + (UINT64_C(1) << e) / 2;
    }

    return (double) (v < h->max ? v : h->max) / 1e3;
}


/* p50, p99, p99.9 and max, in µs */
static void
omni_lg_tails(const omni_lg_hist_t *h, double *us)
{
    us[0] = omni_lg_hist_us(h, 0.5);
    us[1] = omni_lg_hist_us(h, 0.99);
    us[2] = omni_lg_hist_us(h, 0.999);
    us[3] = omni_lg_hist_us(h, 1);
}


int
omni_lg_report(omni_lg_t *lg, const omni_lg_opts_t *o)
{
    int       i;
    double    rate, lat[6], lag[4], rlag[4];
    uint64_t  errors;

    static const double  qs[] = { 0.5, 0.9, 0.99, 0.999, 1 };

    errors = 0;
    for (i = 0; i < OMNI_LG_ERR_N; i++) {
        errors += lg->errors[i];
    }

    /*
     * Answers per second, from when the first measured request was due to
     * the last measured answer: a server that keeps up shows the target
     * (less a latency in a whole run), one that does not its own pace,
     * and a stall of the client in the middle changes neither.
     */
    rate = 0;
    if (lg->done > 1 && lg->last_done > lg->first_due) {
        rate = (double) (lg->done - 1) * 1e9
               / (double) (lg->last_done - lg->first_due);
    }

    lat[0] = lg->latency.count ? (double) lg->latency.sum
                                 / (double) lg->latency.count / 1e3
                               : 0;
    for (i = 0; i < 5; i++) {
        lat[i + 1] = omni_lg_hist_us(&lg->latency, qs[i]);
    }

    omni_lg_tails(&lg->lag, lag);
    omni_lg_tails(&lg->read_lag, rlag);

    printf("omni-loadgen: %s http://%s%s, %zu connections, %s schedule "
           "at %g requests/s\n", o->method, o->host, o->path, lg->nconns,
           lg->poisson ? "Poisson" : "uniform", lg->rate);
    printf("answers: %" PRIu64 " measured, at %.1f/s; %" PRIu64
           " in the %g s warm-up\n", lg->done, rate, lg->warm_done,
           o->warmup);

    printf("\nlatency from the time each request was due, µs:\n");
    printf("%10s %10s %10s %10s %10s %10s\n", "mean", "p50", "p90", "p99",
           "p99.9", "max");
    printf("%10.1f %10.1f %10.1f %10.1f %10.1f %10.1f\n", lat[0], lat[1],
           lat[2], lat[3], lat[4], lat[5]);

    printf("\npacing, how late the requests left, µs (%" PRIu64 " requests;"
           " %" PRIu64 " more found every connection busy):\n",
           lg->lag.count, lg->queued);
    printf("%10s %10s %10s %10s\n", "p50", "p99", "p99.9", "max");
    printf("%10.1f %10.1f %10.1f %10.1f\n", lag[0], lag[1], lag[2], lag[3]);

    printf("\nhow long the answers waited to be read, µs (not in the "
           "latency):\n");
    printf("%10s %10s %10s %10s\n", "p50", "p99", "p99.9", "max");
    printf("%10.1f %10.1f %10.1f %10.1f\n", rlag[0], rlag[1], rlag[2],
           rlag[3]);

    printf("\nstatuses:");
    for (i = 1; i < 6; i++) {
        if (lg->classes[i]) {
            printf(" %dxx %" PRIu64 ",", i, lg->classes[i]);
        }
    }

    if (lg->expect) {
        printf(" not %d: %" PRIu64 "\n", lg->expect, lg->unexpected);

    } else {
        printf(" not 2xx: %" PRIu64 "\n", lg->unexpected);
    }

    printf("socket errors: connect %" PRIu64 ", read %" PRIu64 ", write %"
           PRIu64 ", timeout %" PRIu64 ", malformed answer %" PRIu64
           "; reconnects %" PRIu64 "\n", lg->errors[OMNI_LG_ERR_CONNECT],
           lg->errors[OMNI_LG_ERR_READ], lg->errors[OMNI_LG_ERR_WRITE],
           lg->errors[OMNI_LG_ERR_TIMEOUT],
           lg->errors[OMNI_LG_ERR_MALFORMED], lg->reconnects);

    if (lg->live == 0) {
        printf("every connection failed: %s\n", strerror(lg->connect_errno));
    }

    printf("summary target=%g rate=%.1f requests=%" PRIu64 " warmup_requests=%"
           PRIu64 " errors=%" PRIu64 " unexpected=%" PRIu64 " queued=%"
           PRIu64 " mean_us=%.1f p50_us=%.1f p90_us=%.1f p99_us=%.1f "
           "p999_us=%.1f max_us=%.1f lag_p50_us=%.1f lag_p99_us=%.1f "
           "lag_p999_us=%.1f lag_max_us=%.1f read_lag_p50_us=%.1f "
           "read_lag_p99_us=%.1f read_lag_p999_us=%.1f "
           "read_lag_max_us=%.1f\n",
           lg->rate, rate, lg->done, lg->warm_done, errors, lg->unexpected,
           lg->queued, lat[0], lat[1], lat[2], lat[3], lat[4], lat[5],
           lag[0], lag[1], lag[2], lag[3], rlag[0], rlag[1], rlag[2],
           rlag[3]);

    return (errors || lg->unexpected) ? OMNI_LG_EXIT_FAIL : 0;
}


uint64_t
omni_lg_now(void)
{
    struct timespec  ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);

    return (uint64_t) ts.tv_sec * OMNI_LG_NS + (uint64_t) ts.tv_nsec;
}


/* CLOCK_REALTIME - CLOCK_MONOTONIC, read between two monotonic readings */
uint64_t
omni_lg_real_offset(void)
{
    uint64_t         before, after;
    struct timespec  real;

    before = omni_lg_now();
    clock_gettime(CLOCK_REALTIME, &real);
    after = omni_lg_now();

    return (uint64_t) real.tv_sec * OMNI_LG_NS + (uint64_t) real.tv_nsec
           - before / 2 - after / 2;
}
