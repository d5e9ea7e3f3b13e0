/*
 * Copyright (C) The omni gateway authors
 *
 * omni-store-bench: the store alone, for make bench.  Times session reads,
 * touches that the coalescing turns into reads, touches that must write,
 * and the resume a request performs, in a scratch store under DIR; then
 * what sealing costs (docs/store.md, "Encryption at rest"): a session
 * with a context read and an identity resolved, in a plain store and in
 * one sealed with a new keyring.
 *
 *     omni-store-bench DIR [sessions]
 */


#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "omni_keyring.h"
#include "omni_store.h"


#define BENCH_NOW       1700000000
#define BENCH_SESSIONS  10000
#define BENCH_WRITES    2000
#define BENCH_CONTEXT   "{\"cart\":{\"items\":3,\"coupon\":\"SPRING-10\"}," \
                        "\"step\":\"checkout\",\"locale\":\"zh-CN\"}"


static double bench_now(void);
static omni_store_t *bench_open(const char *base, const char *name, int sync);
static void bench_report(const char *what, size_t n, double secs);
static void bench_fail(const char *what, int rc, const char *err);
static void bench_sealing(const char *base, const char *name,
    const omni_keyring_t *kr, size_t n);


int
main(int argc, char **argv)
{
    int                    rc, created, sync;
    char                   err[OMNI_ERRLEN];
    omni_keyring_t        *kr;
    char                   id[OMNI_STORE_ID_MAX + 1];
    char                   customer[OMNI_STORE_ID_MAX + 1];
    size_t                 i, n, writes;
    double                 t0;
    omni_store_t          *st;
    omni_store_session_t   s;

    static const char  *sync_names[] = { "full", "meta", "none" };

    if (argc < 2) {
        fprintf(stderr, "usage: omni-store-bench DIR [sessions]\n");
        return 2;
    }

    n = (argc > 2) ? (size_t) strtoul(argv[2], NULL, 10) : BENCH_SESSIONS;
    if (n == 0) {
        n = BENCH_SESSIONS;
    }

    writes = n < BENCH_WRITES ? n : BENCH_WRITES;

    st = bench_open(argv[1], "reads", OMNI_STORE_SYNC_NONE);

    for (i = 0; i < n; i++) {
        snprintf(id, sizeof(id), "s%zu", i);
        snprintf(customer, sizeof(customer), "c%zu", i);

        rc = omni_store_session_resume(st, customer, "web", BENCH_NOW, 1800,
                                       0, 60, id, &s, &created, err);
        if (rc != OMNI_STORE_OK) {
            bench_fail("resume", rc, err);
        }
    }

    t0 = bench_now();
    for (i = 0; i < n; i++) {
        snprintf(id, sizeof(id), "s%zu", i);
        rc = omni_store_session_get(st, id, &s, err);
        if (rc != OMNI_STORE_OK) {
            bench_fail("get", rc, err);
        }
    }
    bench_report("session read", n, bench_now() - t0);

    /* within the touch interval: decided under the read lock, no write */
    t0 = bench_now();
    for (i = 0; i < n; i++) {
        snprintf(id, sizeof(id), "s%zu", i);
        rc = omni_store_session_touch(st, id, "web", BENCH_NOW + 30, 60, NULL,
                                      &s, err);
        if (rc != OMNI_STORE_OK) {
            bench_fail("touch", rc, err);
        }
    }
    bench_report("session touch, coalesced", n, bench_now() - t0);

    /* what a request of a known customer does: claim + resume, reads */
    t0 = bench_now();
    for (i = 0; i < n; i++) {
        snprintf(customer, sizeof(customer), "c%zu", i);
        snprintf(id, sizeof(id), "x%zu", i);
        rc = omni_store_session_resume(st, customer, "web", BENCH_NOW + 30,
                                       1800, 0, 60, id, &s, &created, err);
        if (rc != OMNI_STORE_OK || created) {
            bench_fail("resume", rc, err);
        }
    }
    bench_report("session resume, known", n, bench_now() - t0);

    omni_store_close(st);

    for (sync = OMNI_STORE_SYNC_FULL; sync <= OMNI_STORE_SYNC_NONE; sync++) {
        st = bench_open(argv[1], sync_names[sync], sync);

        for (i = 0; i < writes; i++) {
            snprintf(id, sizeof(id), "s%zu", i);
            snprintf(customer, sizeof(customer), "c%zu", i);
            rc = omni_store_session_resume(st, customer, "web", BENCH_NOW,
                                           1800, 0, 60, id, &s, &created,
                                           err);
            if (rc != OMNI_STORE_OK) {
                bench_fail("resume", rc, err);
            }
        }

        /* a minute later every touch writes */
        t0 = bench_now();
        for (i = 0; i < writes; i++) {
            snprintf(id, sizeof(id), "s%zu", i);
            rc = omni_store_session_touch(st, id, "web", BENCH_NOW + 60, 60,
                                          NULL, &s, err);
            if (rc != OMNI_STORE_OK) {
                bench_fail("touch", rc, err);
            }
        }

        snprintf(err, sizeof(err), "session touch, writing (sync=%s)",
                 sync_names[sync]);
        bench_report(err, writes, bench_now() - t0);

        omni_store_close(st);
    }

    if (omni_keyring_generate(&kr, err) != 0) {
        bench_fail("keyring", OMNI_STORE_ERROR, err);
    }

    bench_sealing(argv[1], "plain", NULL, writes);
    bench_sealing(argv[1], "sealed", kr, writes);

    omni_keyring_free(kr);

    return 0;
}


/*
 * Sessions with a context and an identity each, then reads: with kr the
 * store seals (each read opens the context, the data key from the cache
 * after its first use), without it it does not.
 */
static void
bench_sealing(const char *base, const char *name, const omni_keyring_t *kr,
    size_t n)
{
    int                    rc;
    char                   err[OMNI_ERRLEN], what[64];
    char                   value[OMNI_STORE_VALUE_MAX + 1];
    char                   customer[OMNI_STORE_ID_MAX + 1];
    size_t                 i;
    double                 t0;
    omni_store_t          *st;
    omni_store_session_t   s;

    st = bench_open(base, name, OMNI_STORE_SYNC_NONE);

    rc = (kr != NULL) ? omni_store_use_keyring(st, kr, err)
                      : omni_store_keyring_check(st, NULL, err);
    if (rc != OMNI_STORE_OK) {
        bench_fail("keyring", rc, err);
    }

    for (i = 0; i < n; i++) {
        memset(&s, 0, sizeof(s));
        snprintf(s.id, sizeof(s.id), "s%zu", i);
        snprintf(s.customer, sizeof(s.customer), "c%zu", i);
        s.nchannels = 1;
        memcpy(s.channels[0], "web", 4);
        s.created = BENCH_NOW;
        s.last_seen = BENCH_NOW;
        s.context_len = sizeof(BENCH_CONTEXT) - 1;
        memcpy(s.context, BENCH_CONTEXT, sizeof(BENCH_CONTEXT));

        rc = omni_store_session_put(st, &s, err);

        if (rc == OMNI_STORE_OK) {
            snprintf(value, sizeof(value), "+86138%08zu", i);
            rc = omni_store_identity_link(st, "phone", value, s.customer,
                                          err);
        }

        if (rc != OMNI_STORE_OK) {
            bench_fail("put", rc, err);
        }
    }

    t0 = bench_now();
    for (i = 0; i < n; i++) {
        snprintf(customer, sizeof(customer), "s%zu", i);
        rc = omni_store_session_get(st, customer, &s, err);
        if (rc != OMNI_STORE_OK || s.context_len == 0) {
            bench_fail("get", rc, err);
        }
    }
    snprintf(what, sizeof(what), "context read (%s)", name);
    bench_report(what, n, bench_now() - t0);

    t0 = bench_now();
    for (i = 0; i < n; i++) {
        snprintf(value, sizeof(value), "+86138%08zu", i);
        rc = omni_store_identity_resolve(st, "phone", value, customer, err);
        if (rc != OMNI_STORE_OK) {
            bench_fail("resolve", rc, err);
        }
    }
    snprintf(what, sizeof(what), "identity resolve (%s)", name);
    bench_report(what, n, bench_now() - t0);

    omni_store_close(st);
}


static double
bench_now(void)
{
    struct timespec  ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);

    return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}


static omni_store_t *
bench_open(const char *base, const char *name, int sync)
{
    char           dir[4096], err[OMNI_ERRLEN];
    omni_store_t  *st;

    snprintf(dir, sizeof(dir), "%s/%s", base, name);

    if (mkdir(dir, 0700) != 0) {
        perror(dir);
        exit(1);
    }

    st = omni_store_open(dir, (size_t) 1024 * 1024 * 1024, sync, err);
    if (st == NULL) {
        fprintf(stderr, "omni-store-bench: %s\n", err);
        exit(1);
    }

    return st;
}


static void
bench_report(const char *what, size_t n, double secs)
{
    printf("%-34s %12.0f %8s %12.2f\n", what, (double) n / secs, "",
           secs * 1e6 / (double) n);
}


static void
bench_fail(const char *what, int rc, const char *err)
{
    fprintf(stderr, "omni-store-bench: %s: %s: %s\n", what,
            omni_store_rc_name(rc), err);
    exit(1);
}
