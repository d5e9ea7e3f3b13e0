/*
 * Copyright (C) The omni gateway authors
 *
 * Unit tests of the LMDB customer store: sessions, identities, merges,
 * revocations, journeys, a full map, a growing map, two processes on one
 * environment, a writer killed mid-loop, the name predicates and the
 * permission check of a store directory.  Every test gets a fresh
 * directory under one mkdtemp() directory that the group teardown removes.
 */


#define _GNU_SOURCE

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "test_store_fixture.h"

#include <lmdb.h>

#include "omni_store.h"


#define TEST_BASE_LEN      200
#define TEST_DIR_LEN       256
#define TEST_MAP_MAX       ((size_t) 256 * 1024 * 1024)
#define TEST_MIB           ((size_t) 1024 * 1024)
#define TEST_NOW           1700000000


typedef test_store_ctx_t  test_ctx_t;


static char  test_base[TEST_BASE_LEN];


/* fixtures */


static int
test_group_setup(void **state)
{
    (void) state;

    return test_tmpdir_make(test_base, sizeof(test_base), "store");
}


static int
test_group_teardown(void **state)
{
    (void) state;

    return test_tmpdir_remove(test_base);
}


static int
test_mkdir(char *dir)
{
    snprintf(dir, TEST_DIR_LEN, "%s/t-XXXXXX", test_base);

    return mkdtemp(dir) == NULL ? -1 : 0;
}


/* a fresh directory and a store in it that syncs nothing: fast */
static int
test_setup(void **state)
{
    return test_store_ctx_open(state, test_base, TEST_MAP_MAX);
}


static int
test_teardown(void **state)
{
    return test_store_ctx_close(state);
}


static void
test_session(omni_store_session_t *s, const char *id, const char *customer,
    int64_t created, int64_t last_seen, const char *context)
{
    memset(s, 0, sizeof(omni_store_session_t));
    snprintf(s->id, sizeof(s->id), "%s", id);
    snprintf(s->customer, sizeof(s->customer), "%s", customer);
    s->created = created;
    s->last_seen = last_seen;
    s->nchannels = 1;
    snprintf(s->channels[0], sizeof(s->channels[0]), "web");
    s->context_len = strlen(context);
    memcpy(s->context, context, s->context_len + 1);
}


static void
test_put_session(omni_store_t *st, const char *id, const char *customer,
    int64_t created, int64_t last_seen)
{
    char                  err[OMNI_ERRLEN];
    omni_store_session_t  s;

    test_session(&s, id, customer, created, last_seen, "");
    assert_int_equal(omni_store_session_put(st, &s, err), OMNI_STORE_OK);
}


static int
test_has_session(omni_store_t *st, const char *id)
{
    int                   rc;
    char                  err[OMNI_ERRLEN];
    omni_store_session_t  s;

    rc = omni_store_session_get(st, id, &s, err);
    if (rc != OMNI_STORE_OK && rc != OMNI_STORE_NOT_FOUND) {
        fprintf(stderr, "session_get %s: %s\n", id, err);
    }

    return rc == OMNI_STORE_OK;
}


static size_t
test_txn_id(omni_store_t *st)
{
    char                err[OMNI_ERRLEN];
    omni_store_stats_t  stats;

    assert_int_equal(omni_store_stats(st, &stats, err), OMNI_STORE_OK);

    return stats.txn_id;
}


static void
test_append(omni_store_t *st, const char *customer, int64_t t,
    const char *action, size_t max_count, int64_t max_age)
{
    char                  err[OMNI_ERRLEN];
    omni_store_journey_t  ev;

    memset(&ev, 0, sizeof(ev));
    ev.time_ms = t;
    snprintf(ev.channel, sizeof(ev.channel), "app");
    snprintf(ev.action, sizeof(ev.action), "%s", action);
    snprintf(ev.outcome, sizeof(ev.outcome), "ok");
    snprintf(ev.session, sizeof(ev.session), "s1");

    assert_int_equal(omni_store_journey_append(st, customer, &ev, max_count,
                                               max_age, err),
                     OMNI_STORE_OK);
}


/* writes a raw value into a named database, the store being closed */
static void
test_raw_put(const char *dir, const char *db, const void *key, size_t klen,
    const void *val, size_t vlen)
{
    MDB_env  *env;
    MDB_txn  *txn;
    MDB_dbi   dbi;
    MDB_val   k, v;

    assert_int_equal(mdb_env_create(&env), 0);
    assert_int_equal(mdb_env_set_maxdbs(env, 8), 0);
    assert_int_equal(mdb_env_open(env, dir, MDB_NOTLS, 0600), 0);
    assert_int_equal(mdb_txn_begin(env, NULL, 0, &txn), 0);
    assert_int_equal(mdb_dbi_open(txn, db, MDB_CREATE, &dbi), 0);

    k.mv_data = (void *) key;
    k.mv_size = klen;
    v.mv_data = (void *) val;
    v.mv_size = vlen;

    assert_int_equal(mdb_put(txn, dbi, &k, &v, 0), 0);
    assert_int_equal(mdb_txn_commit(txn), 0);

    mdb_env_close(env);
}


static omni_store_t *
test_open(const char *dir, size_t map_max, int sync_mode)
{
    char           err[OMNI_ERRLEN];
    omni_store_t  *st;

    st = omni_store_open(dir, map_max, sync_mode, err);
    if (st == NULL) {
        fprintf(stderr, "open %s: %s\n", dir, err);
    }

    assert_non_null(st);

    return st;
}


/* reads one int from fd within ms milliseconds: 1, 0 at EOF, -1 */
static int
test_read_int(int fd, int *v, int ms)
{
    ssize_t        n;
    struct pollfd  pfd;

    pfd.fd = fd;
    pfd.events = POLLIN;

    if (poll(&pfd, 1, ms) != 1) {
        return -1;
    }

    n = read(fd, v, sizeof(int));

    return n == (ssize_t) sizeof(int) ? 1 : (n == 0 ? 0 : -1);
}


/*
 * Forks with no store open, as nginx must: the child opens its own, and
 * the parent reopens its store once the child exists.
 */
static pid_t
test_fork(test_ctx_t *ctx, int reopen)
{
    pid_t  pid;

    omni_store_close(ctx->st);
    ctx->st = NULL;

    pid = fork();
    assert_true(pid >= 0);

    if (pid > 0 && reopen) {
        ctx->st = test_open(ctx->dir, TEST_MAP_MAX, OMNI_STORE_SYNC_NONE);
    }

    return pid;
}


/* the store as a whole */

static void
test_open_errors(void **state)
{
    int            fd;
    char           err[OMNI_ERRLEN];
    char           path[TEST_DIR_LEN + 32], file[TEST_DIR_LEN];
    omni_store_t  *st;

    (void) state;

    snprintf(path, sizeof(path), "%s/missing", test_base);
    st = omni_store_open(path, TEST_MAP_MAX, OMNI_STORE_SYNC_FULL, err);
    assert_null(st);
    assert_non_null(strstr(err, path));
    assert_non_null(strstr(err, "No such file"));

    /* root writes anywhere: a directory under a regular file fails all */
    snprintf(file, sizeof(file), "%s/regular", test_base);
    fd = open(file, O_CREAT | O_WRONLY, 0600);
    assert_true(fd >= 0);
    close(fd);

    st = omni_store_open(file, TEST_MAP_MAX, OMNI_STORE_SYNC_FULL, err);
    assert_null(st);
    assert_non_null(strstr(err, "is not a directory"));
    assert_non_null(strstr(err, file));

    snprintf(path, sizeof(path), "%s/sub", file);
    st = omni_store_open(path, TEST_MAP_MAX, OMNI_STORE_SYNC_FULL, err);
    assert_null(st);
    assert_non_null(strstr(err, path));
    assert_non_null(strstr(err, "Not a directory"));

    unlink(file);

    st = omni_store_open(test_base, 4096, OMNI_STORE_SYNC_FULL, err);
    assert_null(st);
    assert_non_null(strstr(err, "below the minimum"));

    st = omni_store_open(test_base, TEST_MAP_MAX, 7, err);
    assert_null(st);
    assert_non_null(strstr(err, "unknown sync mode"));

    st = omni_store_open(NULL, TEST_MAP_MAX, OMNI_STORE_SYNC_FULL, err);
    assert_null(st);
    st = omni_store_open("", TEST_MAP_MAX, OMNI_STORE_SYNC_FULL, err);
    assert_null(st);
}


static void
test_reopen(void **state)
{
    int                   i, modes[3], rule;
    char                  err[OMNI_ERRLEN];
    char                  customer[OMNI_STORE_ID_MAX + 1];
    size_t                n;
    test_ctx_t           *ctx;
    omni_store_session_t  s;
    omni_store_journey_t  ev[4];

    ctx = *state;

    test_session(&s, "sess-1", "cust-1", TEST_NOW, TEST_NOW,
                 "{\"cart\":[1,2]}");
    assert_int_equal(omni_store_session_put(ctx->st, &s, err),
                     OMNI_STORE_OK);
    assert_int_equal(omni_store_identity_link(ctx->st, "phone", "+86138",
                                              "cust-1", err),
                     OMNI_STORE_OK);
    assert_int_equal(omni_store_revoke_jti(ctx->st, "jti-1", 0, err),
                     OMNI_STORE_OK);
    test_append(ctx->st, "cust-1", 1000, "order.query", 0, 0);

    modes[0] = OMNI_STORE_SYNC_FULL;
    modes[1] = OMNI_STORE_SYNC_META;
    modes[2] = OMNI_STORE_SYNC_NONE;

    for (i = 0; i < 3; i++) {
        omni_store_close(ctx->st);
        ctx->st = test_open(ctx->dir, TEST_MAP_MAX, modes[i]);

        memset(&s, 0, sizeof(s));
        assert_int_equal(omni_store_session_get(ctx->st, "sess-1", &s, err),
                         OMNI_STORE_OK);
        assert_string_equal(s.customer, "cust-1");
        assert_string_equal(s.context, "{\"cart\":[1,2]}");
        assert_int_equal(s.context_len, 14);

        assert_int_equal(omni_store_identity_resolve(ctx->st, "phone",
                                                     "+86138", customer, err),
                         OMNI_STORE_OK);
        assert_string_equal(customer, "cust-1");

        assert_int_equal(omni_store_is_revoked(ctx->st, "jti-1", NULL, NULL,
                                               0, &rule, err),
                         OMNI_STORE_OK);
        assert_int_equal(rule, OMNI_STORE_REVOKED_JTI);

        assert_int_equal(omni_store_journey_read(ctx->st, "cust-1", NULL, ev,
                                                 4, &n, err),
                         OMNI_STORE_OK);
        assert_int_equal(n, 1);
        assert_string_equal(ev[0].action, "order.query");

        /* each mode writes too */
        test_put_session(ctx->st, i == 0 ? "m0" : i == 1 ? "m1" : "m2", "",
                         TEST_NOW, TEST_NOW);
    }

    assert_true(test_has_session(ctx->st, "m0"));
    assert_true(test_has_session(ctx->st, "m1"));
}


static void
test_format_mismatch(void **state)
{
    char           err[OMNI_ERRLEN], expect[OMNI_ERRLEN + 64];
    omni_store_t  *st;
    test_ctx_t    *ctx;

    ctx = *state;

    omni_store_close(ctx->st);
    ctx->st = NULL;

    test_raw_put(ctx->dir, "meta", "format", 6, "3", 1);

    st = omni_store_open(ctx->dir, TEST_MAP_MAX, OMNI_STORE_SYNC_FULL, err);
    assert_null(st);

    snprintf(expect, sizeof(expect), "store format 3 in %s is not supported "
             "by this build (1, or 2 sealed)", ctx->dir);
    assert_string_equal(err, expect);

    test_raw_put(ctx->dir, "meta", "format", 6, "\x01\x02", 2);
    st = omni_store_open(ctx->dir, TEST_MAP_MAX, OMNI_STORE_SYNC_FULL, err);
    assert_null(st);
    assert_non_null(strstr(err, "store format ? in"));

    test_raw_put(ctx->dir, "meta", "format", 6, "1", 1);
    ctx->st = test_open(ctx->dir, TEST_MAP_MAX, OMNI_STORE_SYNC_NONE);
}


static void
test_stats(void **state)
{
    char                err[OMNI_ERRLEN];
    size_t              txn;
    test_ctx_t         *ctx;
    omni_store_stats_t  stats;

    ctx = *state;

    assert_int_equal(omni_store_stats(ctx->st, &stats, err), OMNI_STORE_OK);
    assert_int_equal(stats.entries[OMNI_STORE_DB_META], 1);
    assert_int_equal(stats.entries[OMNI_STORE_DB_SESSIONS], 0);
    assert_int_equal(stats.map_size, 64 * TEST_MIB);
    assert_int_equal(stats.map_max, TEST_MAP_MAX);
    assert_true(stats.map_used > 0 && stats.map_used < stats.map_size);
    txn = stats.txn_id;

    test_put_session(ctx->st, "a1", "c1", TEST_NOW, TEST_NOW);

    assert_int_equal(omni_store_stats(ctx->st, &stats, err), OMNI_STORE_OK);
    assert_int_equal(stats.txn_id, txn + 1);
    assert_int_equal(stats.entries[OMNI_STORE_DB_SESSIONS], 1);
    assert_int_equal(stats.entries[OMNI_STORE_DB_CUSTOMERS], 1);
    assert_int_equal(stats.entries[OMNI_STORE_DB_EXPIRY], 2);

    assert_string_equal(omni_store_db_name(OMNI_STORE_DB_JOURNEYS),
                        "journeys");
    assert_string_equal(omni_store_db_name(OMNI_STORE_DB_COUNT), "unknown");
    assert_string_equal(omni_store_rc_name(OMNI_STORE_FULL), "full");
    assert_string_equal(omni_store_rc_name(-1), "unknown");
}


static void
test_read_txn(void **state)
{
    int                   i;
    char                  err[OMNI_ERRLEN];
    test_ctx_t           *ctx;
    omni_store_session_t  s;

    ctx = *state;

    test_put_session(ctx->st, "old", "", TEST_NOW, TEST_NOW);

    assert_int_equal(omni_store_read_begin(ctx->st, err), OMNI_STORE_OK);
    assert_int_equal(omni_store_read_begin(ctx->st, err),
                     OMNI_STORE_INVALID);

    /* a write meanwhile is not in the snapshot */
    test_put_session(ctx->st, "new", "", TEST_NOW, TEST_NOW);

    assert_int_equal(omni_store_session_get(ctx->st, "old", &s, err),
                     OMNI_STORE_OK);
    assert_int_equal(omni_store_session_get(ctx->st, "new", &s, err),
                     OMNI_STORE_NOT_FOUND);
    assert_non_null(strstr(err, "session new not found"));

    omni_store_read_end(ctx->st);
    omni_store_read_end(ctx->st);

    assert_int_equal(omni_store_session_get(ctx->st, "new", &s, err),
                     OMNI_STORE_OK);

    /* the one transaction is renewed, never reallocated */
    for (i = 0; i < 1000; i++) {
        assert_int_equal(omni_store_read_begin(ctx->st, err), OMNI_STORE_OK);
        omni_store_read_end(ctx->st);
    }
}


/* sessions */

static void
test_session_crud(void **state)
{
    char                  err[OMNI_ERRLEN];
    test_ctx_t           *ctx;
    omni_store_session_t  s, got;

    ctx = *state;

    assert_int_equal(omni_store_session_get(ctx->st, "nope", &got, err),
                     OMNI_STORE_NOT_FOUND);
    assert_string_equal(err, "session nope not found");

    test_session(&s, "S_1-x", "", 100, 150, "");
    s.nchannels = 2;
    snprintf(s.channels[1], sizeof(s.channels[1]), "ivr");
    assert_int_equal(omni_store_session_put(ctx->st, &s, err),
                     OMNI_STORE_OK);

    assert_int_equal(omni_store_session_get(ctx->st, "S_1-x", &got, err),
                     OMNI_STORE_OK);
    assert_string_equal(got.id, "S_1-x");
    assert_string_equal(got.customer, "");
    assert_int_equal(got.created, 100);
    assert_int_equal(got.last_seen, 150);
    assert_int_equal(got.nchannels, 2);
    assert_string_equal(got.channels[0], "web");
    assert_string_equal(got.channels[1], "ivr");
    assert_int_equal(got.context_len, 0);
    assert_string_equal(got.context, "");

    /* update: the customer becomes known, the context grows */
    test_session(&s, "S_1-x", "cust-9", 100, 160, "{\"step\":2}");
    assert_int_equal(omni_store_session_put(ctx->st, &s, err),
                     OMNI_STORE_OK);
    assert_int_equal(omni_store_session_get(ctx->st, "S_1-x", &got, err),
                     OMNI_STORE_OK);
    assert_string_equal(got.customer, "cust-9");
    assert_int_equal(got.nchannels, 1);
    assert_string_equal(got.context, "{\"step\":2}");

    assert_int_equal(omni_store_session_delete(ctx->st, "S_1-x", err),
                     OMNI_STORE_OK);
    assert_int_equal(omni_store_session_get(ctx->st, "S_1-x", &got, err),
                     OMNI_STORE_NOT_FOUND);
    assert_int_equal(omni_store_session_delete(ctx->st, "S_1-x", err),
                     OMNI_STORE_NOT_FOUND);
}


static void
test_session_invalid(void **state)
{
    int                   rc;
    char                  err[OMNI_ERRLEN], id[80];
    size_t                i;
    test_ctx_t           *ctx;
    omni_store_session_t  s;

    ctx = *state;

    test_session(&s, "bad id", "", 1, 1, "");
    assert_int_equal(omni_store_session_put(ctx->st, &s, err),
                     OMNI_STORE_INVALID);
    assert_string_equal(err, "session id is not [A-Za-z0-9_-]{1,64}");

    test_session(&s, "", "", 1, 1, "");
    assert_int_equal(omni_store_session_put(ctx->st, &s, err),
                     OMNI_STORE_INVALID);

    memset(id, 'a', 65);
    id[65] = '\0';
    assert_int_equal(omni_store_session_get(ctx->st, id, &s, err),
                     OMNI_STORE_INVALID);
    id[64] = '\0';
    assert_int_equal(omni_store_session_get(ctx->st, id, &s, err),
                     OMNI_STORE_NOT_FOUND);
    assert_int_equal(omni_store_session_get(ctx->st, NULL, &s, err),
                     OMNI_STORE_INVALID);

    test_session(&s, "ok", "cust/1", 1, 1, "");
    assert_int_equal(omni_store_session_put(ctx->st, &s, err),
                     OMNI_STORE_INVALID);
    assert_non_null(strstr(err, "customer id"));

    test_session(&s, "ok", "", -1, 1, "");
    assert_int_equal(omni_store_session_put(ctx->st, &s, err),
                     OMNI_STORE_INVALID);

    test_session(&s, "ok", "", 1, 1, "[1,2]");
    assert_int_equal(omni_store_session_put(ctx->st, &s, err),
                     OMNI_STORE_INVALID);
    assert_non_null(strstr(err, "not a JSON object"));

    test_session(&s, "ok", "", 1, 1, "{\"a\":");
    assert_int_equal(omni_store_session_put(ctx->st, &s, err),
                     OMNI_STORE_INVALID);
    assert_non_null(strstr(err, "is not JSON"));

    test_session(&s, "ok", "", 1, 1, "{\"a\":1,\"a\":2}");
    assert_int_equal(omni_store_session_put(ctx->st, &s, err),
                     OMNI_STORE_INVALID);

    /* the store never keeps NUL: neither escaped nor raw */
    test_session(&s, "ok", "", 1, 1, "{\"a\":\"x\\u0000\"}");
    assert_int_equal(omni_store_session_put(ctx->st, &s, err),
                     OMNI_STORE_INVALID);
    assert_non_null(strstr(err, "is not JSON"));

    test_session(&s, "ok", "", 1, 1, "{\"a\":\"x\"}");
    s.context[6] = '\0';
    assert_int_equal(omni_store_session_put(ctx->st, &s, err),
                     OMNI_STORE_INVALID);
    assert_non_null(strstr(err, "holds a NUL byte"));

    test_session(&s, "ok", "", 1, 1, "{}");
    s.context_len = OMNI_STORE_CONTEXT_MAX + 1;
    assert_int_equal(omni_store_session_put(ctx->st, &s, err),
                     OMNI_STORE_INVALID);
    assert_non_null(strstr(err, "longer than 4096"));

    /* the largest context fits */
    test_session(&s, "ok", "", 1, 1, "{\"p\":\"");
    for (i = s.context_len; i < OMNI_STORE_CONTEXT_MAX - 2; i++) {
        s.context[i] = 'x';
    }
    memcpy(s.context + i, "\"}", 3);
    s.context_len = OMNI_STORE_CONTEXT_MAX;
    assert_int_equal(omni_store_session_put(ctx->st, &s, err),
                     OMNI_STORE_OK);

    test_session(&s, "ok", "", 1, 1, "");
    s.nchannels = OMNI_STORE_CHANNELS + 1;
    assert_int_equal(omni_store_session_put(ctx->st, &s, err),
                     OMNI_STORE_INVALID);

    test_session(&s, "ok", "", 1, 1, "");
    s.nchannels = 2;
    snprintf(s.channels[1], sizeof(s.channels[1]), "web");
    assert_int_equal(omni_store_session_put(ctx->st, &s, err),
                     OMNI_STORE_INVALID);
    assert_non_null(strstr(err, "twice"));

    test_session(&s, "ok", "", 1, 1, "");
    snprintf(s.channels[0], sizeof(s.channels[0]), "we.b");
    rc = omni_store_session_put(ctx->st, &s, err);
    assert_int_equal(rc, OMNI_STORE_INVALID);

    /* channels are 32 bytes at most */
    memset(id, 'c', 33);
    id[33] = '\0';
    assert_int_equal(omni_store_session_touch(ctx->st, "ok", id, 1, 0, NULL,
                                              NULL, err),
                     OMNI_STORE_INVALID);
    id[32] = '\0';
    assert_int_equal(omni_store_session_touch(ctx->st, "ok", id, 1, 0, NULL,
                                              NULL, err),
                     OMNI_STORE_OK);

    /* nothing invalid got in */
    assert_true(test_has_session(ctx->st, "ok"));
    assert_int_equal(omni_store_session_get(ctx->st, "ok", &s, err),
                     OMNI_STORE_OK);
    assert_int_equal(s.context_len, OMNI_STORE_CONTEXT_MAX);
}


static void
test_session_touch(void **state)
{
    int                   wrote, i;
    char                  err[OMNI_ERRLEN], ch[16];
    size_t                txn, n;
    test_ctx_t           *ctx;
    omni_store_session_t  s;

    ctx = *state;

    test_put_session(ctx->st, "t1", "c1", 1000, 1000);

    /* within the interval on a known channel: no write at all */
    txn = test_txn_id(ctx->st);
    assert_int_equal(omni_store_session_touch(ctx->st, "t1", "web", 1010, 60,
                                              &wrote, &s, err),
                     OMNI_STORE_OK);
    assert_int_equal(wrote, 0);
    assert_int_equal(s.last_seen, 1000);
    assert_string_equal(s.customer, "c1");
    assert_int_equal(test_txn_id(ctx->st), txn);

    assert_int_equal(omni_store_session_touch(ctx->st, "t1", "web", 1060, 60,
                                              &wrote, &s, err),
                     OMNI_STORE_OK);
    assert_int_equal(wrote, 1);
    assert_int_equal(s.last_seen, 1060);
    assert_int_equal(test_txn_id(ctx->st), txn + 1);

    assert_int_equal(omni_store_session_touch(ctx->st, "t1", "web", 1119, 60,
                                              &wrote, NULL, err),
                     OMNI_STORE_OK);
    assert_int_equal(wrote, 0);

    /* a clock going back writes nothing either */
    assert_int_equal(omni_store_session_touch(ctx->st, "t1", "web", 900, 0,
                                              &wrote, NULL, err),
                     OMNI_STORE_OK);
    assert_int_equal(wrote, 0);
    assert_int_equal(test_txn_id(ctx->st), txn + 1);

    /* a new channel writes whatever the interval */
    assert_int_equal(omni_store_session_touch(ctx->st, "t1", "ivr", 1061, 60,
                                              &wrote, &s, err),
                     OMNI_STORE_OK);
    assert_int_equal(wrote, 1);
    assert_int_equal(s.nchannels, 2);
    assert_string_equal(s.channels[1], "ivr");
    assert_int_equal(s.last_seen, 1061);

    assert_int_equal(omni_store_session_get(ctx->st, "t1", &s, err),
                     OMNI_STORE_OK);
    assert_int_equal(s.last_seen, 1061);
    assert_int_equal(s.nchannels, 2);

    assert_int_equal(omni_store_session_touch(ctx->st, "nope", "web", 1, 0,
                                              &wrote, NULL, err),
                     OMNI_STORE_NOT_FOUND);
    assert_int_equal(omni_store_session_touch(ctx->st, "t1", "w b", 1, 0,
                                              &wrote, NULL, err),
                     OMNI_STORE_INVALID);
    assert_int_equal(omni_store_session_touch(ctx->st, "t1", "web", -1, 0,
                                              &wrote, NULL, err),
                     OMNI_STORE_INVALID);

    /* sixteen channels at most */
    for (i = 2; i < OMNI_STORE_CHANNELS; i++) {
        snprintf(ch, sizeof(ch), "ch%d", i);
        assert_int_equal(omni_store_session_touch(ctx->st, "t1", ch, 1061,
                                                  60, &wrote, NULL, err),
                         OMNI_STORE_OK);
        assert_int_equal(wrote, 1);
    }

    assert_int_equal(omni_store_session_touch(ctx->st, "t1", "one-more",
                                              1061, 60, &wrote, NULL, err),
                     OMNI_STORE_INVALID);
    assert_int_equal(wrote, 0);
    assert_non_null(strstr(err, "16 channels"));

    /* the idle index followed last_seen: an idle purge at 1061 + 10 */
    assert_int_equal(omni_store_session_purge(ctx->st, 1070, 10, 0, 10, &n,
                                              err),
                     OMNI_STORE_OK);
    assert_int_equal(n, 0);
    assert_int_equal(omni_store_session_purge(ctx->st, 1071, 10, 0, 10, &n,
                                              err),
                     OMNI_STORE_OK);
    assert_int_equal(n, 1);
}


static void
test_sessions_by_customer(void **state)
{
    char                  err[OMNI_ERRLEN];
    size_t                n;
    test_ctx_t           *ctx;
    omni_store_id_t       ids[8];
    omni_store_session_t  s;

    ctx = *state;

    test_put_session(ctx->st, "s3", "cust", 1, 1);
    test_put_session(ctx->st, "s1", "cust", 1, 1);
    test_put_session(ctx->st, "s2", "cust", 1, 1);
    test_put_session(ctx->st, "x1", "cust2", 1, 1);
    test_put_session(ctx->st, "x2", "cus", 1, 1);
    test_put_session(ctx->st, "anon", "", 1, 1);

    assert_int_equal(omni_store_sessions_by_customer(ctx->st, "cust", NULL,
                                                     ids, 8, &n, err),
                     OMNI_STORE_OK);
    assert_int_equal(n, 3);
    assert_string_equal(ids[0].id, "s1");
    assert_string_equal(ids[1].id, "s2");
    assert_string_equal(ids[2].id, "s3");

    /* bounded, then the next page */
    assert_int_equal(omni_store_sessions_by_customer(ctx->st, "cust", NULL,
                                                     ids, 2, &n, err),
                     OMNI_STORE_OK);
    assert_int_equal(n, 2);
    assert_int_equal(omni_store_sessions_by_customer(ctx->st, "cust", "s2",
                                                     ids, 2, &n, err),
                     OMNI_STORE_OK);
    assert_int_equal(n, 1);
    assert_string_equal(ids[0].id, "s3");
    assert_int_equal(omni_store_sessions_by_customer(ctx->st, "cust", "s3",
                                                     ids, 2, &n, err),
                     OMNI_STORE_OK);
    assert_int_equal(n, 0);

    /* the index follows a change of customer and a delete */
    test_session(&s, "s2", "cust2", 1, 1, "");
    assert_int_equal(omni_store_session_put(ctx->st, &s, err),
                     OMNI_STORE_OK);
    assert_int_equal(omni_store_session_delete(ctx->st, "s1", err),
                     OMNI_STORE_OK);

    assert_int_equal(omni_store_sessions_by_customer(ctx->st, "cust", NULL,
                                                     ids, 8, &n, err),
                     OMNI_STORE_OK);
    assert_int_equal(n, 1);
    assert_string_equal(ids[0].id, "s3");

    assert_int_equal(omni_store_sessions_by_customer(ctx->st, "cust2", NULL,
                                                     ids, 8, &n, err),
                     OMNI_STORE_OK);
    assert_int_equal(n, 2);
    assert_string_equal(ids[0].id, "s2");
    assert_string_equal(ids[1].id, "x1");

    assert_int_equal(omni_store_sessions_by_customer(ctx->st, "nobody", NULL,
                                                     ids, 8, &n, err),
                     OMNI_STORE_OK);
    assert_int_equal(n, 0);
    assert_int_equal(omni_store_sessions_by_customer(ctx->st, "a b", NULL,
                                                     ids, 8, &n, err),
                     OMNI_STORE_INVALID);
}


/*
 * An expiry index with a second entry for one session (an import into a
 * store that held the session, or any stale entry): the purge that
 * removes the session with its own entries then meets the stale one, or
 * the other way round, and must go on, not stop every later purge.
 */
static void
test_session_purge_stale_index(void **state)
{
    char                 err[OMNI_ERRLEN];
    size_t               n, i;
    test_ctx_t          *ctx;
    unsigned char        key[9 + 2];
    omni_store_stats_t   stats;
    omni_store_record_t  rec;

    ctx = *state;

    /* last seen at 1010, and a stale "last seen at 1005" entry */
    test_put_session(ctx->st, "s1", "cust", 1000, 1010);

    key[0] = 'a';
    for (i = 0; i < 8; i++) {
        key[1 + i] = (unsigned char) ((uint64_t) 1005 >> (56 - 8 * i));
    }
    memcpy(key + 9, "s1", 2);

    rec.db = OMNI_STORE_DB_EXPIRY;
    rec.key = key;
    rec.key_len = sizeof(key);
    rec.val = "";
    rec.val_len = 0;

    assert_int_equal(omni_store_import(ctx->st, &rec, 1, NULL, err),
                     OMNI_STORE_OK);

    assert_int_equal(omni_store_session_purge(ctx->st, 1100, 50, 0, 10, &n,
                                              err),
                     OMNI_STORE_OK);
    assert_int_equal(n, 1);
    assert_false(test_has_session(ctx->st, "s1"));

    assert_int_equal(omni_store_stats(ctx->st, &stats, err), OMNI_STORE_OK);
    assert_int_equal(stats.entries[OMNI_STORE_DB_EXPIRY], 0);
    assert_int_equal(stats.entries[OMNI_STORE_DB_SESSIONS], 0);
}


static void
test_session_purge(void **state)
{
    int                 i;
    char                err[OMNI_ERRLEN], id[16];
    size_t              n;
    test_ctx_t         *ctx;
    omni_store_id_t     ids[16];
    omni_store_stats_t  stats;

    ctx = *state;

    /* created 1000 + i, last seen 1000 + 10 i */
    for (i = 0; i < 10; i++) {
        snprintf(id, sizeof(id), "p%d", i);
        test_put_session(ctx->st, id, "cust", 1000 + i, 1000 + 10 * i);
    }

    /* idle 50 at 1100: last_seen <= 1050, p0 to p5, four at a time */
    assert_int_equal(omni_store_session_purge(ctx->st, 1100, 50, 0, 4, &n,
                                              err),
                     OMNI_STORE_OK);
    assert_int_equal(n, 4);
    assert_false(test_has_session(ctx->st, "p0"));
    assert_false(test_has_session(ctx->st, "p3"));
    assert_true(test_has_session(ctx->st, "p4"));

    assert_int_equal(omni_store_session_purge(ctx->st, 1100, 50, 0, 4, &n,
                                              err),
                     OMNI_STORE_OK);
    assert_int_equal(n, 2);
    assert_int_equal(omni_store_session_purge(ctx->st, 1100, 50, 0, 4, &n,
                                              err),
                     OMNI_STORE_OK);
    assert_int_equal(n, 0);
    assert_true(test_has_session(ctx->st, "p6"));

    /* absolute 92 at 1100: created <= 1008, p6 to p8 */
    assert_int_equal(omni_store_session_purge(ctx->st, 1100, 0, 92, 100, &n,
                                              err),
                     OMNI_STORE_OK);
    assert_int_equal(n, 3);
    assert_true(test_has_session(ctx->st, "p9"));

    /* every index went with the sessions */
    assert_int_equal(omni_store_sessions_by_customer(ctx->st, "cust", NULL,
                                                     ids, 16, &n, err),
                     OMNI_STORE_OK);
    assert_int_equal(n, 1);
    assert_string_equal(ids[0].id, "p9");

    assert_int_equal(omni_store_stats(ctx->st, &stats, err), OMNI_STORE_OK);
    assert_int_equal(stats.entries[OMNI_STORE_DB_SESSIONS], 1);
    assert_int_equal(stats.entries[OMNI_STORE_DB_EXPIRY], 2);
    assert_int_equal(stats.entries[OMNI_STORE_DB_CUSTOMERS], 1);

    /* nothing due, off, or no batch */
    assert_int_equal(omni_store_session_purge(ctx->st, 10, 50, 50, 4, &n,
                                              err),
                     OMNI_STORE_OK);
    assert_int_equal(n, 0);
    assert_int_equal(omni_store_session_purge(ctx->st, 5000, 0, 0, 4, &n,
                                              err),
                     OMNI_STORE_OK);
    assert_int_equal(n, 0);
    assert_int_equal(omni_store_session_purge(ctx->st, 5000, 1, 1, 0, &n,
                                              err),
                     OMNI_STORE_OK);
    assert_int_equal(n, 0);
    assert_int_equal(omni_store_session_purge(ctx->st, 5000, -1, 1, 4, &n,
                                              err),
                     OMNI_STORE_INVALID);

    /* more than one chunk in one call; p9 is due first */
    for (i = 0; i < 100; i++) {
        snprintf(id, sizeof(id), "q%03d", i);
        test_put_session(ctx->st, id, "", 2000, 2000 + i);
    }

    assert_int_equal(omni_store_session_purge(ctx->st, 3000, 1, 0, 70, &n,
                                              err),
                     OMNI_STORE_OK);
    assert_int_equal(n, 70);
    assert_false(test_has_session(ctx->st, "p9"));
    assert_false(test_has_session(ctx->st, "q068"));
    assert_true(test_has_session(ctx->st, "q069"));
    assert_int_equal(omni_store_session_purge(ctx->st, 3000, 1, 0, 70, &n,
                                              err),
                     OMNI_STORE_OK);
    assert_int_equal(n, 31);
}


/* identities and customers */

static void
test_identity(void **state)
{
    char                   err[OMNI_ERRLEN];
    char                   customer[OMNI_STORE_ID_MAX + 1];
    size_t                 n;
    test_ctx_t            *ctx;
    omni_store_identity_t  ids[8], after;

    ctx = *state;

    assert_int_equal(omni_store_identity_resolve(ctx->st, "phone", "+86138",
                                                 customer, err),
                     OMNI_STORE_NOT_FOUND);
    assert_string_equal(err, "identity phone:+86138 is not linked");

    assert_int_equal(omni_store_identity_link(ctx->st, "phone", "+86138",
                                              "c1", err),
                     OMNI_STORE_OK);
    assert_int_equal(omni_store_identity_link(ctx->st, "email",
                                              "a@example.com", "c1", err),
                     OMNI_STORE_OK);
    assert_int_equal(omni_store_identity_link(ctx->st, "wechat",
                                              "oAbC:x-\xe4\xb8\xad", "c1",
                                              err),
                     OMNI_STORE_OK);

    /* linking again is harmless */
    assert_int_equal(omni_store_identity_link(ctx->st, "phone", "+86138",
                                              "c1", err),
                     OMNI_STORE_OK);

    assert_int_equal(omni_store_identity_resolve(ctx->st, "phone", "+86138",
                                                 customer, err),
                     OMNI_STORE_OK);
    assert_string_equal(customer, "c1");
    assert_int_equal(omni_store_identity_resolve(ctx->st, "wechat",
                                                 "oAbC:x-\xe4\xb8\xad",
                                                 customer, err),
                     OMNI_STORE_OK);
    assert_string_equal(customer, "c1");

    assert_int_equal(omni_store_identities_by_customer(ctx->st, "c1", NULL,
                                                       ids, 8, &n, err),
                     OMNI_STORE_OK);
    assert_int_equal(n, 3);
    assert_string_equal(ids[0].type, "email");
    assert_string_equal(ids[0].value, "a@example.com");
    assert_string_equal(ids[1].type, "phone");
    assert_string_equal(ids[2].type, "wechat");
    assert_string_equal(ids[2].value, "oAbC:x-\xe4\xb8\xad");

    after = ids[0];
    assert_int_equal(omni_store_identities_by_customer(ctx->st, "c1", &after,
                                                       ids, 1, &n, err),
                     OMNI_STORE_OK);
    assert_int_equal(n, 1);
    assert_string_equal(ids[0].type, "phone");

    /* the phone number changes hands */
    assert_int_equal(omni_store_identity_link(ctx->st, "phone", "+86138",
                                              "c2", err),
                     OMNI_STORE_OK);
    assert_int_equal(omni_store_identity_resolve(ctx->st, "phone", "+86138",
                                                 customer, err),
                     OMNI_STORE_OK);
    assert_string_equal(customer, "c2");
    assert_int_equal(omni_store_identities_by_customer(ctx->st, "c1", NULL,
                                                       ids, 8, &n, err),
                     OMNI_STORE_OK);
    assert_int_equal(n, 2);
    assert_int_equal(omni_store_identities_by_customer(ctx->st, "c2", NULL,
                                                       ids, 8, &n, err),
                     OMNI_STORE_OK);
    assert_int_equal(n, 1);

    assert_int_equal(omni_store_identity_unlink(ctx->st, "email",
                                                "a@example.com", err),
                     OMNI_STORE_OK);
    assert_int_equal(omni_store_identity_resolve(ctx->st, "email",
                                                 "a@example.com", customer,
                                                 err),
                     OMNI_STORE_NOT_FOUND);
    assert_int_equal(omni_store_identity_unlink(ctx->st, "email",
                                                "a@example.com", err),
                     OMNI_STORE_NOT_FOUND);
    assert_int_equal(omni_store_identities_by_customer(ctx->st, "c1", NULL,
                                                       ids, 8, &n, err),
                     OMNI_STORE_OK);
    assert_int_equal(n, 1);

    assert_int_equal(omni_store_identity_link(ctx->st, "pho:ne", "1", "c1",
                                              err),
                     OMNI_STORE_INVALID);
    assert_int_equal(omni_store_identity_link(ctx->st, "phone", "1 2", "c1",
                                              err),
                     OMNI_STORE_INVALID);
    assert_int_equal(omni_store_identity_link(ctx->st, "phone", "", "c1",
                                              err),
                     OMNI_STORE_INVALID);
    assert_int_equal(omni_store_identity_link(ctx->st, "phone", "\t", "c1",
                                              err),
                     OMNI_STORE_INVALID);
    assert_int_equal(omni_store_identity_link(ctx->st, "phone", "1", "c.1",
                                              err),
                     OMNI_STORE_INVALID);
}


static void
test_identity_limit(void **state)
{
    int          i;
    char         err[OMNI_ERRLEN], value[16];
    test_ctx_t  *ctx;

    ctx = *state;

    for (i = 0; i < OMNI_STORE_IDENTITIES_MAX; i++) {
        snprintf(value, sizeof(value), "v%d", i);
        assert_int_equal(omni_store_identity_link(ctx->st, "device", value,
                                                  "big", err),
                         OMNI_STORE_OK);
    }

    assert_int_equal(omni_store_identity_link(ctx->st, "device", "more",
                                              "big", err),
                     OMNI_STORE_INVALID);
    assert_non_null(strstr(err, "128 identities"));

    /* a merge that would pass the limit is refused as a whole */
    assert_int_equal(omni_store_identity_link(ctx->st, "device", "more",
                                              "small", err),
                     OMNI_STORE_OK);
    assert_int_equal(omni_store_customer_merge(ctx->st, "small", "big", 1,
                                               err),
                     OMNI_STORE_INVALID);
    assert_non_null(strstr(err, "more than 128 identities"));
    assert_int_equal(omni_store_customer_resolve(ctx->st, "small", value,
                                                 err),
                     OMNI_STORE_OK);
    assert_string_equal(value, "small");

    /* at most 256 customers merged into one; a session makes each known */
    test_put_session(ctx->st, "s-hub", "hub", 1, 1);

    for (i = 0; i < OMNI_STORE_MERGED_MAX; i++) {
        snprintf(value, sizeof(value), "m%d", i);
        test_put_session(ctx->st, value, value, 1, 1);
        assert_int_equal(omni_store_customer_merge(ctx->st, value, "hub", 1,
                                                   err),
                         OMNI_STORE_OK);
    }

    test_put_session(ctx->st, "one-more", "one-more", 1, 1);
    assert_int_equal(omni_store_customer_merge(ctx->st, "one-more", "hub", 1,
                                               err),
                     OMNI_STORE_INVALID);
    assert_non_null(strstr(err, "more than 256 customers"));

    /* nor through a customer carrying merges of its own */
    test_put_session(ctx->st, "x1", "x1", 1, 1);
    test_put_session(ctx->st, "x2", "x2", 1, 1);
    assert_int_equal(omni_store_customer_merge(ctx->st, "x1", "x2", 1, err),
                     OMNI_STORE_OK);
    assert_int_equal(omni_store_customer_merge(ctx->st, "x2", "m0", 1, err),
                     OMNI_STORE_INVALID);
    assert_int_equal(omni_store_customer_resolve(ctx->st, "x1", value, err),
                     OMNI_STORE_OK);
    assert_string_equal(value, "x2");
    assert_int_equal(omni_store_customer_resolve(ctx->st, "m255", value,
                                                 err),
                     OMNI_STORE_OK);
    assert_string_equal(value, "hub");
}


static void
test_merge(void **state)
{
    char                   err[OMNI_ERRLEN];
    char                   customer[OMNI_STORE_ID_MAX + 1];
    size_t                 n;
    test_ctx_t            *ctx;
    omni_store_identity_t  ids[8];

    ctx = *state;

    assert_int_equal(omni_store_identity_link(ctx->st, "phone", "+1555",
                                              "A", err),
                     OMNI_STORE_OK);
    assert_int_equal(omni_store_identity_link(ctx->st, "email", "a@x.org",
                                              "A", err),
                     OMNI_STORE_OK);
    assert_int_equal(omni_store_identity_link(ctx->st, "wechat", "oB", "B",
                                              err),
                     OMNI_STORE_OK);

    assert_int_equal(omni_store_customer_resolve(ctx->st, "A", customer,
                                                 err),
                     OMNI_STORE_OK);
    assert_string_equal(customer, "A");

    assert_int_equal(omni_store_customer_merge(ctx->st, "A", "B", 10, err),
                     OMNI_STORE_OK);

    assert_int_equal(omni_store_identity_resolve(ctx->st, "phone", "+1555",
                                                 customer, err),
                     OMNI_STORE_OK);
    assert_string_equal(customer, "B");
    assert_int_equal(omni_store_customer_resolve(ctx->st, "A", customer,
                                                 err),
                     OMNI_STORE_OK);
    assert_string_equal(customer, "B");
    assert_int_equal(omni_store_identities_by_customer(ctx->st, "B", NULL,
                                                       ids, 8, &n, err),
                     OMNI_STORE_OK);
    assert_int_equal(n, 3);
    assert_int_equal(omni_store_identities_by_customer(ctx->st, "A", NULL,
                                                       ids, 8, &n, err),
                     OMNI_STORE_OK);
    assert_int_equal(n, 0);

    /* a link to a merged customer lands on the survivor */
    assert_int_equal(omni_store_identity_link(ctx->st, "app", "dev-1", "A",
                                              err),
                     OMNI_STORE_OK);
    assert_int_equal(omni_store_identities_by_customer(ctx->st, "B", NULL,
                                                       ids, 8, &n, err),
                     OMNI_STORE_OK);
    assert_int_equal(n, 4);

    /* B into C: A follows to C in one hop, not through B */
    assert_int_equal(omni_store_identity_link(ctx->st, "wechat", "oC", "C",
                                              err),
                     OMNI_STORE_OK);
    assert_int_equal(omni_store_customer_merge(ctx->st, "B", "C", 20, err),
                     OMNI_STORE_OK);
    assert_int_equal(omni_store_customer_resolve(ctx->st, "A", customer,
                                                 err),
                     OMNI_STORE_OK);
    assert_string_equal(customer, "C");
    assert_int_equal(omni_store_customer_resolve(ctx->st, "B", customer,
                                                 err),
                     OMNI_STORE_OK);
    assert_string_equal(customer, "C");
    assert_int_equal(omni_store_identity_resolve(ctx->st, "email", "a@x.org",
                                                 customer, err),
                     OMNI_STORE_OK);
    assert_string_equal(customer, "C");

    /* merging into a merged customer goes to its survivor */
    test_put_session(ctx->st, "s-D", "D", 1, 1);
    assert_int_equal(omni_store_customer_merge(ctx->st, "D", "A", 30, err),
                     OMNI_STORE_OK);
    assert_int_equal(omni_store_customer_resolve(ctx->st, "D", customer,
                                                 err),
                     OMNI_STORE_OK);
    assert_string_equal(customer, "C");

    /* refusals: loops, merged twice, itself */
    assert_int_equal(omni_store_customer_merge(ctx->st, "C", "A", 40, err),
                     OMNI_STORE_INVALID);
    assert_non_null(strstr(err, "loop"));
    assert_int_equal(omni_store_customer_merge(ctx->st, "C", "B", 40, err),
                     OMNI_STORE_INVALID);
    assert_int_equal(omni_store_customer_merge(ctx->st, "A", "E", 40, err),
                     OMNI_STORE_INVALID);
    assert_string_equal(err, "customer A is merged into C already");
    assert_int_equal(omni_store_customer_merge(ctx->st, "C", "C", 40, err),
                     OMNI_STORE_INVALID);
    assert_int_equal(omni_store_customer_merge(ctx->st, "C", "x y", 40, err),
                     OMNI_STORE_INVALID);

    assert_int_equal(omni_store_customer_resolve(ctx->st, "C", customer,
                                                 err),
                     OMNI_STORE_OK);
    assert_string_equal(customer, "C");
}


/*
 * A merge names two customers the store knows: an unknown one on either
 * side, or a survivor chain that ends in a customer without records, is
 * not_found and changes nothing.
 */
static void
test_merge_unknown(void **state)
{
    int                     i;
    char                    err[OMNI_ERRLEN];
    char                    customer[OMNI_STORE_ID_MAX + 1];
    size_t                  n;
    static const char      *from[] = { "A", "S" };
    test_ctx_t             *ctx;
    unsigned char           rec[13];
    omni_store_stats_t      before, after;
    omni_store_identity_t   ids[8];

    ctx = *state;

    assert_int_equal(omni_store_identity_link(ctx->st, "phone", "1", "A",
                                              err),
                     OMNI_STORE_OK);
    assert_int_equal(omni_store_stats(ctx->st, &before, err), OMNI_STORE_OK);

    assert_int_equal(omni_store_customer_merge(ctx->st, "A", "doesnotexist",
                                               10, err),
                     OMNI_STORE_NOT_FOUND);
    assert_string_equal(err, "customer doesnotexist is unknown");

    assert_int_equal(omni_store_customer_merge(ctx->st, "ghost", "A", 10,
                                               err),
                     OMNI_STORE_NOT_FOUND);
    assert_string_equal(err, "customer ghost is unknown");

    assert_int_equal(omni_store_stats(ctx->st, &after, err), OMNI_STORE_OK);
    assert_memory_equal(before.entries, after.entries,
                        sizeof(before.entries));

    /* A was not merged, and the made-up id holds nothing */
    assert_int_equal(omni_store_customer_resolve(ctx->st, "A", customer,
                                                 err),
                     OMNI_STORE_OK);
    assert_string_equal(customer, "A");
    assert_int_equal(omni_store_identities_by_customer(ctx->st,
                                                       "doesnotexist", NULL,
                                                       ids, 8, &n, err),
                     OMNI_STORE_OK);
    assert_int_equal(n, 0);

    /* B was merged into Gone, whose records are gone: a damaged store */
    omni_store_close(ctx->st);

    memset(rec, 0, sizeof(rec));
    rec[0] = 1;
    memcpy(rec + 9, "Gone", 4);
    test_raw_put(ctx->dir, "customers", "B\0M", 3, rec, sizeof(rec));

    ctx->st = test_open(ctx->dir, TEST_MAP_MAX, OMNI_STORE_SYNC_NONE);

    assert_int_equal(omni_store_customer_merge(ctx->st, "A", "B", 10, err),
                     OMNI_STORE_NOT_FOUND);
    assert_string_equal(err, "customer Gone, which B was merged into, is "
                        "unknown");
    assert_int_equal(omni_store_customer_resolve(ctx->st, "A", customer,
                                                 err),
                     OMNI_STORE_OK);
    assert_string_equal(customer, "A");

    /*
     * Any record makes a customer: J has only a journey, S only a
     * session, and A (an identity) and S merge into J.
     */
    test_append(ctx->st, "J", 5, "order.query", 10, 0);
    test_put_session(ctx->st, "s-S", "S", 1, 1);

    for (i = 0; i < 2; i++) {
        assert_int_equal(omni_store_customer_merge(ctx->st, from[i], "J", 10,
                                                   err),
                         OMNI_STORE_OK);
    }

    assert_int_equal(omni_store_identity_resolve(ctx->st, "phone", "1",
                                                 customer, err),
                     OMNI_STORE_OK);
    assert_string_equal(customer, "J");
}


/*
 * A store damaged by hand (a merge loop, a record of a later build, an
 * orphan index key) still answers.
 */
static void
test_merge_loop_safe(void **state)
{
    char                  err[OMNI_ERRLEN];
    char                  customer[OMNI_STORE_ID_MAX + 1];
    size_t                n;
    test_ctx_t           *ctx;
    unsigned char         rec[11];
    omni_store_stats_t    stats;
    omni_store_session_t  s;

    ctx = *state;

    omni_store_close(ctx->st);

    memset(rec, 0, sizeof(rec));
    rec[0] = 1;
    rec[9] = 'Y';
    test_raw_put(ctx->dir, "customers", "X\0M", 3, rec, 10);
    rec[9] = 'X';
    test_raw_put(ctx->dir, "customers", "Y\0M", 3, rec, 10);
    test_raw_put(ctx->dir, "identities", "phone:1", 7, "\001X", 2);

    ctx->st = test_open(ctx->dir, TEST_MAP_MAX, OMNI_STORE_SYNC_NONE);

    assert_int_equal(omni_store_customer_resolve(ctx->st, "X", customer,
                                                 err),
                     OMNI_STORE_ERROR);
    assert_string_equal(err, "customer X: merge chain longer than 8 hops");
    assert_int_equal(omni_store_identity_resolve(ctx->st, "phone", "1",
                                                 customer, err),
                     OMNI_STORE_ERROR);
    assert_int_equal(omni_store_identity_link(ctx->st, "phone", "z", "Z",
                                              err),
                     OMNI_STORE_OK);
    assert_int_equal(omni_store_customer_merge(ctx->st, "Z", "X", 1, err),
                     OMNI_STORE_ERROR);

    /* a record from a later build is detected, not misread */
    omni_store_close(ctx->st);
    test_raw_put(ctx->dir, "sessions", "future", 6, "\002abc", 4);

    /* an idle index key whose session is gone */
    test_raw_put(ctx->dir, "expiry", "a\0\0\0\0\0\0\0\005ghost", 14, "", 0);
    ctx->st = test_open(ctx->dir, TEST_MAP_MAX, OMNI_STORE_SYNC_NONE);

    assert_int_equal(omni_store_customer_resolve(ctx->st, "Q", customer,
                                                 err),
                     OMNI_STORE_OK);

    assert_int_equal(omni_store_session_get(ctx->st, "future", &s, err),
                     OMNI_STORE_ERROR);
    assert_non_null(strstr(err, "version 2"));

    /* purged without counting, and gone: no purge trips on it again */
    assert_int_equal(omni_store_session_purge(ctx->st, 100, 10, 0, 10, &n,
                                              err),
                     OMNI_STORE_OK);
    assert_int_equal(n, 0);
    assert_int_equal(omni_store_stats(ctx->st, &stats, err), OMNI_STORE_OK);
    assert_int_equal(stats.entries[OMNI_STORE_DB_EXPIRY], 0);
}


/* revocations */

static void
test_revocations(void **state)
{
    int          rule;
    char         err[OMNI_ERRLEN];
    test_ctx_t  *ctx;

    ctx = *state;

    assert_int_equal(omni_store_is_revoked(ctx->st, "j1", "s1", "alice", 5,
                                           &rule, err),
                     OMNI_STORE_OK);
    assert_int_equal(rule, OMNI_STORE_REVOKED_NONE);

    assert_int_equal(omni_store_revoke_jti(ctx->st, "j1", TEST_NOW + 600,
                                           err),
                     OMNI_STORE_OK);
    assert_int_equal(omni_store_revoke_session(ctx->st, "s1", TEST_NOW, err),
                     OMNI_STORE_OK);
    assert_int_equal(omni_store_revoke_subject_before(ctx->st, "alice",
                                                      1000, err),
                     OMNI_STORE_OK);

    assert_int_equal(omni_store_is_revoked(ctx->st, "j1", NULL, NULL, 5,
                                           &rule, err),
                     OMNI_STORE_OK);
    assert_int_equal(rule, OMNI_STORE_REVOKED_JTI);

    /* jti is checked first */
    assert_int_equal(omni_store_is_revoked(ctx->st, "j1", "s1", "alice", 5,
                                           &rule, err),
                     OMNI_STORE_OK);
    assert_int_equal(rule, OMNI_STORE_REVOKED_JTI);

    assert_int_equal(omni_store_is_revoked(ctx->st, "j2", "s1", "alice", 5,
                                           &rule, err),
                     OMNI_STORE_OK);
    assert_int_equal(rule, OMNI_STORE_REVOKED_SESSION);

    assert_int_equal(omni_store_is_revoked(ctx->st, "j2", "s2", "alice", 999,
                                           &rule, err),
                     OMNI_STORE_OK);
    assert_int_equal(rule, OMNI_STORE_REVOKED_SUBJECT);

    assert_int_equal(omni_store_is_revoked(ctx->st, "j2", "s2", "alice",
                                           1000, &rule, err),
                     OMNI_STORE_OK);
    assert_int_equal(rule, OMNI_STORE_REVOKED_NONE);

    /* no iat: cannot prove it came after the cut */
    assert_int_equal(omni_store_is_revoked(ctx->st, NULL, NULL, "alice", -1,
                                           &rule, err),
                     OMNI_STORE_OK);
    assert_int_equal(rule, OMNI_STORE_REVOKED_SUBJECT);

    assert_int_equal(omni_store_is_revoked(ctx->st, NULL, NULL, "bob", -1,
                                           &rule, err),
                     OMNI_STORE_OK);
    assert_int_equal(rule, OMNI_STORE_REVOKED_NONE);

    assert_int_equal(omni_store_is_revoked(ctx->st, NULL, NULL, NULL, -1,
                                           &rule, err),
                     OMNI_STORE_OK);
    assert_int_equal(rule, OMNI_STORE_REVOKED_NONE);

    assert_int_equal(omni_store_is_revoked(ctx->st, "j 1", NULL, NULL, 1,
                                           &rule, err),
                     OMNI_STORE_INVALID);
    assert_int_equal(omni_store_is_revoked(ctx->st, NULL, "s/1", NULL, 1,
                                           &rule, err),
                     OMNI_STORE_INVALID);

    /* moving the cut later or earlier replaces it */
    assert_int_equal(omni_store_revoke_subject_before(ctx->st, "alice", 10,
                                                      err),
                     OMNI_STORE_OK);
    assert_int_equal(omni_store_is_revoked(ctx->st, NULL, NULL, "alice", 999,
                                           &rule, err),
                     OMNI_STORE_OK);
    assert_int_equal(rule, OMNI_STORE_REVOKED_NONE);

    assert_int_equal(omni_store_revocation_remove(ctx->st,
                                                  OMNI_STORE_REVOKED_SESSION,
                                                  "s1", err),
                     OMNI_STORE_OK);
    assert_int_equal(omni_store_is_revoked(ctx->st, "j2", "s1", NULL, 5,
                                           &rule, err),
                     OMNI_STORE_OK);
    assert_int_equal(rule, OMNI_STORE_REVOKED_NONE);
    assert_int_equal(omni_store_revocation_remove(ctx->st,
                                                  OMNI_STORE_REVOKED_SESSION,
                                                  "s1", err),
                     OMNI_STORE_NOT_FOUND);
    assert_string_equal(err, "no revocation of session s1");
    assert_int_equal(omni_store_revocation_remove(ctx->st, 9, "s1", err),
                     OMNI_STORE_INVALID);
}


static void
test_revocations_list_purge(void **state)
{
    char                     err[OMNI_ERRLEN];
    size_t                   n;
    test_ctx_t              *ctx;
    omni_store_stats_t       stats;
    omni_store_revocation_t  out[8];

    ctx = *state;

    assert_int_equal(omni_store_revoke_jti(ctx->st, "jc", 300, err),
                     OMNI_STORE_OK);
    assert_int_equal(omni_store_revoke_jti(ctx->st, "ja", 100, err),
                     OMNI_STORE_OK);
    assert_int_equal(omni_store_revoke_jti(ctx->st, "jb", 200, err),
                     OMNI_STORE_OK);
    assert_int_equal(omni_store_revoke_jti(ctx->st, "jz", 0, err),
                     OMNI_STORE_OK);
    assert_int_equal(omni_store_revoke_subject_before(ctx->st, "bob", 7,
                                                      err),
                     OMNI_STORE_OK);

    assert_int_equal(omni_store_revocations_list(ctx->st,
                                                 OMNI_STORE_REVOKED_JTI, NULL,
                                                 out, 2, &n, err),
                     OMNI_STORE_OK);
    assert_int_equal(n, 2);
    assert_string_equal(out[0].value, "ja");
    assert_int_equal(out[0].time, 100);
    assert_int_equal(out[0].kind, OMNI_STORE_REVOKED_JTI);
    assert_string_equal(out[1].value, "jb");

    assert_int_equal(omni_store_revocations_list(ctx->st,
                                                 OMNI_STORE_REVOKED_JTI,
                                                 "jb", out, 8, &n, err),
                     OMNI_STORE_OK);
    assert_int_equal(n, 2);
    assert_string_equal(out[0].value, "jc");
    assert_string_equal(out[1].value, "jz");

    assert_int_equal(omni_store_revocations_list(ctx->st,
                                                 OMNI_STORE_REVOKED_SUBJECT,
                                                 NULL, out, 8, &n, err),
                     OMNI_STORE_OK);
    assert_int_equal(n, 1);
    assert_string_equal(out[0].value, "bob");
    assert_int_equal(out[0].time, 7);
    assert_int_equal(out[0].kind, OMNI_STORE_REVOKED_SUBJECT);

    assert_int_equal(omni_store_revocations_list(ctx->st,
                                                 OMNI_STORE_REVOKED_SESSION,
                                                 NULL, out, 8, &n, err),
                     OMNI_STORE_OK);
    assert_int_equal(n, 0);

    /* re-revoking moves the expiry: jc now expires at 150 */
    assert_int_equal(omni_store_revoke_jti(ctx->st, "jc", 150, err),
                     OMNI_STORE_OK);

    assert_int_equal(omni_store_revocations_purge(ctx->st, 250, 1, &n, err),
                     OMNI_STORE_OK);
    assert_int_equal(n, 1);
    assert_int_equal(omni_store_revocations_purge(ctx->st, 250, 10, &n, err),
                     OMNI_STORE_OK);
    assert_int_equal(n, 2);
    assert_int_equal(omni_store_revocations_purge(ctx->st, 250, 10, &n, err),
                     OMNI_STORE_OK);
    assert_int_equal(n, 0);

    /* never-expiring and subject rules stay */
    assert_int_equal(omni_store_revocations_list(ctx->st,
                                                 OMNI_STORE_REVOKED_JTI, NULL,
                                                 out, 8, &n, err),
                     OMNI_STORE_OK);
    assert_int_equal(n, 1);
    assert_string_equal(out[0].value, "jz");

    assert_int_equal(omni_store_stats(ctx->st, &stats, err), OMNI_STORE_OK);
    assert_int_equal(stats.entries[OMNI_STORE_DB_REVOCATIONS], 2);
    assert_int_equal(stats.entries[OMNI_STORE_DB_EXPIRY], 0);

    assert_int_equal(omni_store_revocation_remove(ctx->st,
                                                  OMNI_STORE_REVOKED_JTI,
                                                  "jz", err),
                     OMNI_STORE_OK);
    assert_int_equal(omni_store_revoke_jti(ctx->st, "jy", 5000, err),
                     OMNI_STORE_OK);
    assert_int_equal(omni_store_revocation_remove(ctx->st,
                                                  OMNI_STORE_REVOKED_JTI,
                                                  "jy", err),
                     OMNI_STORE_OK);
    assert_int_equal(omni_store_stats(ctx->st, &stats, err), OMNI_STORE_OK);
    assert_int_equal(stats.entries[OMNI_STORE_DB_REVOCATIONS], 1);
    assert_int_equal(stats.entries[OMNI_STORE_DB_EXPIRY], 0);
}


/* journeys */

static void
test_journey_order(void **state)
{
    char                  err[OMNI_ERRLEN];
    size_t                n;
    test_ctx_t           *ctx;
    omni_store_cursor_t   cur;
    omni_store_journey_t  ev[8];

    ctx = *state;

    test_append(ctx->st, "cust", 3000, "c", 0, 0);
    test_append(ctx->st, "cust", 1000, "a", 0, 0);
    test_append(ctx->st, "cust", 2000, "b0", 0, 0);
    test_append(ctx->st, "cust", 2000, "b1", 0, 0);
    test_append(ctx->st, "cust", 4000, "d", 0, 0);

    /* neighbours on both sides of the key range stay out */
    test_append(ctx->st, "cus", 5000, "other", 0, 0);
    test_append(ctx->st, "cust2", 5000, "other", 0, 0);
    test_append(ctx->st, "cusu", 0, "other", 0, 0);

    assert_int_equal(omni_store_journey_read(ctx->st, "cust", NULL, ev, 8,
                                             &n, err),
                     OMNI_STORE_OK);
    assert_int_equal(n, 5);
    assert_string_equal(ev[0].action, "d");
    assert_string_equal(ev[1].action, "c");
    assert_string_equal(ev[2].action, "b1");
    assert_int_equal(ev[2].seq, 1);
    assert_string_equal(ev[3].action, "b0");
    assert_int_equal(ev[3].seq, 0);
    assert_string_equal(ev[4].action, "a");
    assert_int_equal(ev[4].time_ms, 1000);
    assert_string_equal(ev[4].channel, "app");
    assert_string_equal(ev[4].outcome, "ok");
    assert_string_equal(ev[4].session, "s1");

    /* pages of two */
    assert_int_equal(omni_store_journey_read(ctx->st, "cust", NULL, ev, 2,
                                             &n, err),
                     OMNI_STORE_OK);
    assert_int_equal(n, 2);
    assert_string_equal(ev[1].action, "c");

    cur.time_ms = ev[1].time_ms;
    cur.seq = ev[1].seq;
    assert_int_equal(omni_store_journey_read(ctx->st, "cust", &cur, ev, 2,
                                             &n, err),
                     OMNI_STORE_OK);
    assert_int_equal(n, 2);
    assert_string_equal(ev[0].action, "b1");
    assert_string_equal(ev[1].action, "b0");

    cur.time_ms = ev[1].time_ms;
    cur.seq = ev[1].seq;
    assert_int_equal(omni_store_journey_read(ctx->st, "cust", &cur, ev, 2,
                                             &n, err),
                     OMNI_STORE_OK);
    assert_int_equal(n, 1);
    assert_string_equal(ev[0].action, "a");

    cur.time_ms = ev[0].time_ms;
    cur.seq = ev[0].seq;
    assert_int_equal(omni_store_journey_read(ctx->st, "cust", &cur, ev, 2,
                                             &n, err),
                     OMNI_STORE_OK);
    assert_int_equal(n, 0);

    assert_int_equal(omni_store_journey_read(ctx->st, "cusu", NULL, ev, 8,
                                             &n, err),
                     OMNI_STORE_OK);
    assert_int_equal(n, 1);
    assert_int_equal(omni_store_journey_read(ctx->st, "nobody", NULL, ev, 8,
                                             &n, err),
                     OMNI_STORE_OK);
    assert_int_equal(n, 0);

    memset(ev, 0, sizeof(ev[0]));
    ev[0].time_ms = 1;
    snprintf(ev[0].channel, sizeof(ev[0].channel), "app");
    snprintf(ev[0].action, sizeof(ev[0].action), "has space");
    snprintf(ev[0].outcome, sizeof(ev[0].outcome), "ok");
    assert_int_equal(omni_store_journey_append(ctx->st, "cust", &ev[0], 0, 0,
                                               err),
                     OMNI_STORE_INVALID);
    snprintf(ev[0].action, sizeof(ev[0].action), "x");
    ev[0].time_ms = -5;
    assert_int_equal(omni_store_journey_append(ctx->st, "cust", &ev[0], 0, 0,
                                               err),
                     OMNI_STORE_INVALID);
}


/* a dispatched request's event holds the pool, the rule and the intent */
static void
test_journey_dispatch(void **state)
{
    char                  err[OMNI_ERRLEN];
    size_t                i, n;
    test_ctx_t           *ctx;
    omni_store_journey_t  ev, got[2];

    static const struct {
        const char  *pool, *rule, *intent;
    } bad[] = {
        { "a pool", "r", "" }, { "agents", "", "" },
        { "agents", "r", "faq\thours" }, { "", "r", "" }
    };

    ctx = *state;

    memset(&ev, 0, sizeof(ev));
    ev.time_ms = 1000;
    strcpy(ev.channel, "web");
    strcpy(ev.action, "order.query");
    strcpy(ev.outcome, "ok");
    strcpy(ev.pool, "vip_desk");
    strcpy(ev.rule, "follow-up.1");
    memset(ev.intent, 'a', OMNI_STORE_INTENT_MAX);
    assert_int_equal(omni_store_journey_append(ctx->st, "cd", &ev, 0, 0,
                                               err),
                     OMNI_STORE_OK);

    /* not dispatched: the record without them, read back empty */
    ev.time_ms = 2000;
    ev.pool[0] = ev.rule[0] = ev.intent[0] = '\0';
    assert_int_equal(omni_store_journey_append(ctx->st, "cd", &ev, 0, 0,
                                               err),
                     OMNI_STORE_OK);

    assert_int_equal(omni_store_journey_read(ctx->st, "cd", NULL, got, 2,
                                             &n, err),
                     OMNI_STORE_OK);
    assert_int_equal(n, 2);
    assert_string_equal(got[0].pool, "");
    assert_string_equal(got[0].rule, "");
    assert_string_equal(got[0].intent, "");
    assert_string_equal(got[1].pool, "vip_desk");
    assert_string_equal(got[1].rule, "follow-up.1");
    assert_int_equal(strlen(got[1].intent), OMNI_STORE_INTENT_MAX);

    /* a rule or an intent needs a pool; each is a name */
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        strcpy(ev.pool, bad[i].pool);
        strcpy(ev.rule, bad[i].rule);
        strcpy(ev.intent, bad[i].intent);
        assert_int_equal(omni_store_journey_append(ctx->st, "cd", &ev, 0, 0,
                                                   err),
                         OMNI_STORE_INVALID);
    }

    assert_string_equal(err, "a rule or an intent without a pool");
}


/* the last sequence number of a millisecond taken: the next is refused */
static void
test_journey_seq_full(void **state)
{
    char                  err[OMNI_ERRLEN];
    size_t                i, n;
    test_ctx_t           *ctx;
    unsigned char         key[5 + 8 + 1 + 4];
    omni_store_record_t   rec;
    omni_store_journey_t  ev, got[4];

    static const unsigned char  value[] = { 1, 3, 'a', 'p', 'p', 1, 'x',
                                            2, 'o', 'k', 0 };

    ctx = *state;

    test_append(ctx->st, "cust", 6999, "before", 0, 0);

    memcpy(key, "cust", 5);
    for (i = 0; i < 8; i++) {
        key[5 + i] = (unsigned char) ((uint64_t) 7000 >> (56 - 8 * i));
    }
    key[13] = '\0';
    memset(key + 14, 0xff, 4);

    rec.db = OMNI_STORE_DB_JOURNEYS;
    rec.key = key;
    rec.key_len = sizeof(key);
    rec.val = value;
    rec.val_len = sizeof(value);

    assert_int_equal(omni_store_import(ctx->st, &rec, 1, NULL, err),
                     OMNI_STORE_OK);

    memset(&ev, 0, sizeof(ev));
    ev.time_ms = 7000;
    snprintf(ev.channel, sizeof(ev.channel), "app");
    snprintf(ev.action, sizeof(ev.action), "y");
    snprintf(ev.outcome, sizeof(ev.outcome), "ok");

    assert_int_equal(omni_store_journey_append(ctx->st, "cust", &ev, 0, 0,
                                               err),
                     OMNI_STORE_INVALID);
    assert_string_equal(err, "too many journey events in one millisecond");

    /* the next millisecond starts again at 0 */
    test_append(ctx->st, "cust", 7001, "after", 0, 0);

    assert_int_equal(omni_store_journey_read(ctx->st, "cust", NULL, got, 4,
                                             &n, err),
                     OMNI_STORE_OK);
    assert_int_equal(n, 3);
    assert_string_equal(got[0].action, "after");
    assert_int_equal(got[0].seq, 0);
    assert_int_equal(got[1].seq, UINT32_MAX);
    assert_string_equal(got[2].action, "before");
}


static void
test_journey_bounds(void **state)
{
    int                   i;
    char                  err[OMNI_ERRLEN];
    size_t                n;
    test_ctx_t           *ctx;
    omni_store_journey_t  ev[64];

    ctx = *state;

    /* keep the last ten */
    for (i = 0; i < 30; i++) {
        test_append(ctx->st, "cnt", 1000 + i, "x", 10, 0);
    }

    assert_int_equal(omni_store_journey_read(ctx->st, "cnt", NULL, ev, 64,
                                             &n, err),
                     OMNI_STORE_OK);
    assert_int_equal(n, 10);
    assert_int_equal(ev[0].time_ms, 1029);
    assert_int_equal(ev[9].time_ms, 1020);

    /* bounded work: forty unbounded events shrink by 16 per append */
    for (i = 0; i < 40; i++) {
        test_append(ctx->st, "work", 1000 + i, "x", 0, 0);
    }

    test_append(ctx->st, "work", 2000, "x", 10, 0);
    assert_int_equal(omni_store_journey_read(ctx->st, "work", NULL, ev, 64,
                                             &n, err),
                     OMNI_STORE_OK);
    assert_int_equal(n, 41 - OMNI_STORE_TRIM_BATCH);

    test_append(ctx->st, "work", 2001, "x", 10, 0);
    test_append(ctx->st, "work", 2002, "x", 10, 0);
    assert_int_equal(omni_store_journey_read(ctx->st, "work", NULL, ev, 64,
                                             &n, err),
                     OMNI_STORE_OK);
    assert_int_equal(n, 10);
    assert_int_equal(ev[0].time_ms, 2002);

    /* age: events 5000 ms or more older than the new one go */
    for (i = 0; i < 10; i++) {
        test_append(ctx->st, "age", i * 1000, "x", 0, 0);
    }

    test_append(ctx->st, "age", 12000, "x", 0, 5000);
    assert_int_equal(omni_store_journey_read(ctx->st, "age", NULL, ev, 64,
                                             &n, err),
                     OMNI_STORE_OK);
    assert_int_equal(n, 3);
    assert_int_equal(ev[0].time_ms, 12000);
    assert_int_equal(ev[1].time_ms, 9000);
    assert_int_equal(ev[2].time_ms, 8000);

    /* the count stayed right through both kinds of trim */
    test_append(ctx->st, "age", 12001, "x", 2, 0);
    assert_int_equal(omni_store_journey_read(ctx->st, "age", NULL, ev, 64,
                                             &n, err),
                     OMNI_STORE_OK);
    assert_int_equal(n, 2);
    assert_int_equal(ev[1].time_ms, 12000);
}


/* limits */

static void
test_map_full(void **state)
{
    int                   i, rc, count;
    char                  err[OMNI_ERRLEN], id[16];
    char                  context[1100];
    test_ctx_t           *ctx;
    omni_store_stats_t    stats;
    omni_store_session_t  s;

    ctx = *state;

    omni_store_close(ctx->st);
    ctx->st = test_open(ctx->dir, TEST_MIB, OMNI_STORE_SYNC_NONE);

    memset(context, 'x', sizeof(context));
    memcpy(context, "{\"p\":\"", 6);
    memcpy(context + 1000, "\"}", 3);

    rc = OMNI_STORE_OK;
    count = 0;

    for (i = 0; i < 5000; i++) {
        snprintf(id, sizeof(id), "f%04d", i);
        test_session(&s, id, "c", TEST_NOW, TEST_NOW, context);

        rc = omni_store_session_put(ctx->st, &s, err);
        if (rc != OMNI_STORE_OK) {
            break;
        }

        count++;
    }

    assert_int_equal(rc, OMNI_STORE_FULL);
    assert_non_null(strstr(err, "is full"));
    assert_non_null(strstr(err, ctx->dir));
    assert_true(count > 100);

    assert_int_equal(omni_store_stats(ctx->st, &stats, err), OMNI_STORE_OK);
    assert_int_equal(stats.map_size, TEST_MIB);
    assert_int_equal(stats.entries[OMNI_STORE_DB_SESSIONS], count);

    /* everything acknowledged is there, reads go on */
    for (i = 0; i < count; i++) {
        snprintf(id, sizeof(id), "f%04d", i);
        assert_true(test_has_session(ctx->st, id));
    }

    assert_int_equal(omni_store_read_begin(ctx->st, err), OMNI_STORE_OK);
    omni_store_read_end(ctx->st);

    /* still full, cleanly */
    rc = omni_store_session_put(ctx->st, &s, err);
    assert_int_equal(rc, OMNI_STORE_FULL);

    omni_store_close(ctx->st);
    ctx->st = test_open(ctx->dir, TEST_MIB, OMNI_STORE_SYNC_NONE);
    assert_true(test_has_session(ctx->st, "f0000"));

    /* a larger limit lets it write again */
    omni_store_close(ctx->st);
    ctx->st = test_open(ctx->dir, 4 * TEST_MIB, OMNI_STORE_SYNC_NONE);
    assert_int_equal(omni_store_session_put(ctx->st, &s, err),
                     OMNI_STORE_OK);
    snprintf(id, sizeof(id), "f%04d", count - 1);
    assert_true(test_has_session(ctx->st, id));
}


/*
 * The map doubles from 64 MiB in a child while the parent keeps its
 * smaller map: the parent adopts the new size on its next read.
 */
static void
test_map_grow(void **state)
{
    int                         i, rc, status, last, fds[2];
    char                        err[OMNI_ERRLEN], id[16];
    char                        context[OMNI_STORE_CONTEXT_MAX + 1];
    pid_t                       pid;
    size_t                      n;
    test_ctx_t                 *ctx;
    omni_store_t               *st;
    omni_store_stats_t          stats;
    omni_store_session_t        s;
    omni_store_journey_t        ev;
    omni_store_journey_item_t   item;

    ctx = *state;

    memset(context, 'x', sizeof(context));
    memcpy(context, "{\"p\":\"", 6);
    memcpy(context + OMNI_STORE_CONTEXT_MAX - 2, "\"}", 3);

    assert_int_equal(pipe(fds), 0);

    pid = test_fork(ctx, 1);

    if (pid == 0) {
        /* the parent opens first, with its 64 MiB map */
        close(fds[1]);
        if (test_read_int(fds[0], &i, 5000) != 1) {
            _exit(7);
        }

        st = omni_store_open(ctx->dir, 80 * TEST_MIB, OMNI_STORE_SYNC_NONE,
                             err);
        if (st == NULL) {
            _exit(2);
        }

        for (i = 0; i < 20000; i++) {
            snprintf(id, sizeof(id), "g%05d", i);
            test_session(&s, id, "", TEST_NOW, TEST_NOW, context);

            if (omni_store_session_put(st, &s, err) != OMNI_STORE_OK) {
                _exit(3);
            }

            if (omni_store_stats(st, &stats, err) != OMNI_STORE_OK) {
                _exit(4);
            }

            /* well past the parent's map, then stop */
            if (stats.map_used > 66 * TEST_MIB) {
                omni_store_close(st);
                _exit(stats.map_size == 80 * TEST_MIB ? 0 : 5);
            }
        }

        _exit(6);
    }

    close(fds[0]);

    assert_int_equal(omni_store_stats(ctx->st, &stats, err), OMNI_STORE_OK);
    assert_int_equal(stats.map_size, 64 * TEST_MIB);

    /* a snapshot from before the growth stays open meanwhile */
    assert_int_equal(omni_store_read_begin(ctx->st, err), OMNI_STORE_OK);

    i = 1;
    assert_int_equal(write(fds[1], &i, sizeof(i)), sizeof(i));
    close(fds[1]);

    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);

    assert_false(test_has_session(ctx->st, "g00000"));

    /* no remap under an open read: the write fails cleanly */
    test_session(&s, "first", "", 1, 1, "");
    assert_int_equal(omni_store_session_put(ctx->st, &s, err),
                     OMNI_STORE_ERROR);
    assert_non_null(strstr(err, "grew in another process"));
    omni_store_read_end(ctx->st);

    /* a detached write (another thread's) leaves the remap to this one */
    memset(&ev, 0, sizeof(ev));
    ev.time_ms = (int64_t) TEST_NOW * 1000;
    strcpy(ev.channel, "web");
    strcpy(ev.action, "order.get");
    strcpy(ev.outcome, "ok");
    item.customer = "c1";
    item.ev = &ev;

    assert_int_equal(omni_store_journey_append_detached(ctx->st, &item, 1,
                                                        10, 0, NULL, err),
                     OMNI_STORE_AGAIN);

    /* the first thing after is a write: it adopts the size itself */
    assert_int_equal(omni_store_session_put(ctx->st, &s, err),
                     OMNI_STORE_OK);

    assert_int_equal(omni_store_stats(ctx->st, &stats, err), OMNI_STORE_OK);
    assert_true(stats.entries[OMNI_STORE_DB_SESSIONS] > 1000);
    last = (int) stats.entries[OMNI_STORE_DB_SESSIONS] - 2;   /* "first" */
    assert_true(stats.map_size == 80 * TEST_MIB);

    snprintf(id, sizeof(id), "g%05d", last);
    assert_true(test_has_session(ctx->st, id));
    assert_true(test_has_session(ctx->st, "g00000"));
    test_put_session(ctx->st, "after", "", 1, 1);

    /* adopted: the detached write goes through now */
    assert_int_equal(omni_store_journey_append_detached(ctx->st, &item, 1,
                                                        10, 0, NULL, err),
                     OMNI_STORE_OK);
    assert_int_equal(omni_store_journey_read(ctx->st, "c1", NULL, &ev, 1, &n,
                                             err),
                     OMNI_STORE_OK);
    assert_int_equal(n, 1);

    /* this process does not grow the map under an open read either */
    assert_int_equal(omni_store_read_begin(ctx->st, err), OMNI_STORE_OK);

    rc = OMNI_STORE_OK;

    for (i = last + 1; i < last + 4000; i++) {
        snprintf(id, sizeof(id), "g%05d", i);
        test_session(&s, id, "", TEST_NOW, TEST_NOW, context);

        rc = omni_store_session_put(ctx->st, &s, err);
        if (rc != OMNI_STORE_OK) {
            break;
        }
    }

    assert_int_equal(rc, OMNI_STORE_FULL);
    assert_non_null(strstr(err, "while a read transaction is open"));
    omni_store_read_end(ctx->st);

    /* and grows past its 80 MiB once the read is over */
    for (last = i; i < last + 20000; i++) {
        snprintf(id, sizeof(id), "g%05d", i);
        test_session(&s, id, "", TEST_NOW, TEST_NOW, context);
        assert_int_equal(omni_store_session_put(ctx->st, &s, err),
                         OMNI_STORE_OK);

        assert_int_equal(omni_store_stats(ctx->st, &stats, err),
                         OMNI_STORE_OK);
        if (stats.map_size > 80 * TEST_MIB) {
            break;
        }
    }

    assert_int_equal(stats.map_size, 160 * TEST_MIB);
    assert_true(test_has_session(ctx->st, id));
}


/* policy revisions */

static const char  test_policy_a[] = "{\"roles\":{\"agent\":{}}}";
static const char  test_policy_b[] = "{\"roles\":{\"desk\":{}}}";


static uint32_t
test_policy_put(omni_store_t *st, const char *json, const char *author,
    const char *note, int64_t now)
{
    char      err[OMNI_ERRLEN];
    uint32_t  rev;

    rev = 0;

    if (omni_store_policy_put(st, json, strlen(json), author, note, now,
                              &rev, err)
        != OMNI_STORE_OK)
    {
        fail_msg("policy_put: %s", err);
    }

    return rev;
}


static uint32_t
test_policy_current(omni_store_t *st)
{
    char      err[OMNI_ERRLEN];
    uint32_t  rev;

    rev = 12345;

    assert_int_equal(omni_store_policy_current(st, &rev, NULL, err),
                     OMNI_STORE_OK);

    return rev;
}


/* the policy of rev is json, with this info */
static void
test_policy_is(omni_store_t *st, uint32_t rev, const char *json,
    uint32_t want_rev, const char *author, const char *note, int64_t time)
{
    char                      err[OMNI_ERRLEN], *got;
    size_t                    len;
    omni_store_policy_info_t  info;

    got = NULL;
    memset(&info, 0xff, sizeof(info));

    if (omni_store_policy_get(st, rev, &got, &len, &info, err)
        != OMNI_STORE_OK)
    {
        fail_msg("policy_get %u: %s", (unsigned) rev, err);
    }

    assert_int_equal(len, strlen(json));
    assert_memory_equal(got, json, len + 1);
    assert_int_equal(info.rev, want_rev);
    assert_int_equal(info.time, time);
    assert_string_equal(info.author, author);
    assert_string_equal(info.note, note);
    assert_int_equal(info.len, len);

    free(got);

    /* info may be NULL */
    assert_int_equal(omni_store_policy_get(st, rev, &got, &len, NULL, err),
                     OMNI_STORE_OK);
    assert_int_equal(len, strlen(json));
    free(got);
}


static void
test_policy_revisions(void **state)
{
    char         err[OMNI_ERRLEN], *json;
    size_t       len;
    test_ctx_t  *ctx;

    ctx = *state;

    /* an empty store: no current revision, nothing to get */
    assert_int_equal(test_policy_current(ctx->st), 0);

    json = (char *) "untouched";
    len = 7;
    assert_int_equal(omni_store_policy_get(ctx->st, 0, &json, &len, NULL,
                                           err),
                     OMNI_STORE_NOT_FOUND);
    assert_string_equal(err, "the store has no policy");
    assert_null(json);
    assert_int_equal(len, 0);

    assert_int_equal(omni_store_policy_get(ctx->st, 1, &json, &len, NULL,
                                           err),
                     OMNI_STORE_NOT_FOUND);
    assert_string_equal(err, "no policy revision 1");

    /* numbered from 1, each put current */
    assert_int_equal(test_policy_put(ctx->st, test_policy_a, "alice",
                                     "first one", TEST_NOW),
                     1);
    assert_int_equal(test_policy_current(ctx->st), 1);
    test_policy_is(ctx->st, 0, test_policy_a, 1, "alice", "first one",
                   TEST_NOW);

    /* a NULL note is an empty one */
    assert_int_equal(test_policy_put(ctx->st, test_policy_b, "omnictl:bob",
                                     NULL, TEST_NOW + 5),
                     2);
    assert_int_equal(test_policy_current(ctx->st), 2);
    test_policy_is(ctx->st, 0, test_policy_b, 2, "omnictl:bob", "",
                   TEST_NOW + 5);
    test_policy_is(ctx->st, 2, test_policy_b, 2, "omnictl:bob", "",
                   TEST_NOW + 5);

    /* older revisions stay as they were */
    test_policy_is(ctx->st, 1, test_policy_a, 1, "alice", "first one",
                   TEST_NOW);

    assert_int_equal(omni_store_policy_get(ctx->st, 7, &json, &len, NULL,
                                           err),
                     OMNI_STORE_NOT_FOUND);
    assert_string_equal(err, "no policy revision 7");
    assert_null(json);

    assert_int_equal(omni_store_policy_get(ctx->st, UINT32_MAX, &json, &len,
                                           NULL, err),
                     OMNI_STORE_NOT_FOUND);
    assert_string_equal(err, "no policy revision 4294967295");

    /* inside one read snapshot too */
    assert_int_equal(omni_store_read_begin(ctx->st, err), OMNI_STORE_OK);
    assert_int_equal(test_policy_current(ctx->st), 2);
    test_policy_is(ctx->st, 1, test_policy_a, 1, "alice", "first one",
                   TEST_NOW);
    omni_store_read_end(ctx->st);

    /* policies and sessions do not mix */
    test_put_session(ctx->st, "s1", "c1", TEST_NOW, TEST_NOW);
    assert_int_equal(test_policy_current(ctx->st), 2);
    assert_true(test_has_session(ctx->st, "s1"));
}


/*
 * A revision read at a snapshot holds while the store's last commit is
 * that snapshot's: what lets a worker skip the read (the policy step)
 */
static void
test_policy_snapshot(void **state)
{
    char         err[OMNI_ERRLEN];
    uint32_t     rev;
    uint64_t     seen, older;
    test_ctx_t  *ctx;

    ctx = *state;

    assert_int_equal(test_policy_put(ctx->st, test_policy_a, "alice", NULL,
                                     TEST_NOW),
                     1);
    assert_int_equal(omni_store_policy_current(ctx->st, &rev, &seen, err),
                     OMNI_STORE_OK);
    assert_int_equal(rev, 1);
    assert_true(seen > 0);
    assert_true(omni_store_last_commit(ctx->st) == seen);

    /* reads commit nothing */
    assert_int_equal(test_policy_current(ctx->st), 1);
    assert_true(omni_store_last_commit(ctx->st) == seen);

    /* a revision written under an open snapshot: the snapshot is older */
    assert_int_equal(omni_store_read_begin(ctx->st, err), OMNI_STORE_OK);
    assert_int_equal(test_policy_put(ctx->st, test_policy_b, "bob", NULL,
                                     TEST_NOW + 1),
                     2);
    assert_int_equal(omni_store_policy_current(ctx->st, &rev, &older, err),
                     OMNI_STORE_OK);
    assert_int_equal(rev, 1);
    assert_true(older == seen);
    assert_true(omni_store_last_commit(ctx->st) > older);
    omni_store_read_end(ctx->st);

    assert_int_equal(omni_store_policy_current(ctx->st, &rev, &seen, err),
                     OMNI_STORE_OK);
    assert_int_equal(rev, 2);
    assert_true(omni_store_last_commit(ctx->st) == seen);

    /* any other write moves the commit too */
    test_put_session(ctx->st, "s1", "c1", TEST_NOW, TEST_NOW);
    assert_true(omni_store_last_commit(ctx->st) > seen);
}


static void
test_policy_seed(void **state)
{
    char         err[OMNI_ERRLEN];
    size_t       txn;
    uint32_t     rev;
    test_ctx_t  *ctx;

    ctx = *state;

    rev = 99;
    assert_int_equal(omni_store_policy_seed(ctx->st, test_policy_a,
                                            strlen(test_policy_a), "config",
                                            TEST_NOW, &rev, err),
                     OMNI_STORE_OK);
    assert_int_equal(rev, 1);
    test_policy_is(ctx->st, 0, test_policy_a, 1, "config", "seed", TEST_NOW);

    /* a second seed writes nothing, whatever it holds */
    txn = test_txn_id(ctx->st);
    rev = 99;
    assert_int_equal(omni_store_policy_seed(ctx->st, test_policy_b,
                                            strlen(test_policy_b), "config",
                                            TEST_NOW + 1, &rev, err),
                     OMNI_STORE_OK);
    assert_int_equal(rev, 0);
    assert_int_equal(test_policy_current(ctx->st), 1);
    test_policy_is(ctx->st, 0, test_policy_a, 1, "config", "seed", TEST_NOW);
    assert_int_equal(test_txn_id(ctx->st), txn);

    /* nor after a put */
    assert_int_equal(test_policy_put(ctx->st, test_policy_b, "alice",
                                     "edit", TEST_NOW + 2),
                     2);
    assert_int_equal(omni_store_policy_seed(ctx->st, test_policy_a,
                                            strlen(test_policy_a), "config",
                                            TEST_NOW + 3, &rev, err),
                     OMNI_STORE_OK);
    assert_int_equal(rev, 0);
    test_policy_is(ctx->st, 0, test_policy_b, 2, "alice", "edit",
                   TEST_NOW + 2);

    /* its arguments are checked as a put's */
    assert_int_equal(omni_store_policy_seed(ctx->st, test_policy_a, 0,
                                            "config", TEST_NOW, &rev, err),
                     OMNI_STORE_INVALID);
    assert_string_equal(err, "the policy is empty");
    assert_int_equal(omni_store_policy_seed(ctx->st, test_policy_a,
                                            strlen(test_policy_a), "a b",
                                            TEST_NOW, &rev, err),
                     OMNI_STORE_INVALID);
    assert_string_equal(err, "author must be 1 to 255 bytes without spaces "
                        "or control characters");
}


static void
test_policy_list(void **state)
{
    int                        i;
    char                       err[OMNI_ERRLEN], json[64], note[32];
    size_t                     n;
    test_ctx_t                *ctx;
    omni_store_policy_info_t   out[12];

    ctx = *state;

    /* nothing to list */
    n = 5;
    assert_int_equal(omni_store_policy_list(ctx->st, 0, out, 10, &n, err),
                     OMNI_STORE_OK);
    assert_int_equal(n, 0);

    for (i = 1; i <= 25; i++) {
        snprintf(json, sizeof(json), "{\"roles\":{},\"n\":%d}", i);
        snprintf(note, sizeof(note), "change %d", i);
        assert_int_equal(test_policy_put(ctx->st, json, "alice", note,
                                         TEST_NOW + i),
                         i);
    }

    /* a session record in between changes nothing */
    test_put_session(ctx->st, "s1", "c1", TEST_NOW, TEST_NOW);

    /* newest first, each page below the last revision of the previous */
    assert_int_equal(omni_store_policy_list(ctx->st, 0, out, 10, &n, err),
                     OMNI_STORE_OK);
    assert_int_equal(n, 10);

    for (i = 0; i < 10; i++) {
        snprintf(json, sizeof(json), "{\"roles\":{},\"n\":%d}", 25 - i);
        snprintf(note, sizeof(note), "change %d", 25 - i);
        assert_int_equal(out[i].rev, 25 - i);
        assert_int_equal(out[i].time, TEST_NOW + 25 - i);
        assert_string_equal(out[i].author, "alice");
        assert_string_equal(out[i].note, note);
        assert_int_equal(out[i].len, strlen(json));
    }

    assert_int_equal(omni_store_policy_list(ctx->st, out[9].rev, out, 10, &n,
                                            err),
                     OMNI_STORE_OK);
    assert_int_equal(n, 10);
    assert_int_equal(out[0].rev, 15);
    assert_int_equal(out[9].rev, 6);

    assert_int_equal(omni_store_policy_list(ctx->st, 6, out, 10, &n, err),
                     OMNI_STORE_OK);
    assert_int_equal(n, 5);
    assert_int_equal(out[0].rev, 5);
    assert_int_equal(out[4].rev, 1);

    assert_int_equal(omni_store_policy_list(ctx->st, 1, out, 10, &n, err),
                     OMNI_STORE_OK);
    assert_int_equal(n, 0);

    /* before past the newest: from the newest */
    assert_int_equal(omni_store_policy_list(ctx->st, 1000, out, 2, &n, err),
                     OMNI_STORE_OK);
    assert_int_equal(n, 2);
    assert_int_equal(out[0].rev, 25);
    assert_int_equal(out[1].rev, 24);

    assert_int_equal(omni_store_policy_list(ctx->st, UINT32_MAX, out, 1, &n,
                                            err),
                     OMNI_STORE_OK);
    assert_int_equal(n, 1);
    assert_int_equal(out[0].rev, 25);

    assert_int_equal(omni_store_policy_list(ctx->st, 0, out, 0, &n, err),
                     OMNI_STORE_OK);
    assert_int_equal(n, 0);
}


static void
test_policy_invalid(void **state)
{
    char                      err[OMNI_ERRLEN], long_text[300];
    char                     *big, *got;
    size_t                    txn, len;
    uint32_t                  rev;
    test_ctx_t               *ctx;
    omni_store_policy_info_t  info;

    static const struct {
        const char  *json;
        size_t       len;
        const char  *author;
        const char  *note;
        int64_t      now;
        const char  *err;
    } cases[] = {
        { NULL, 5, "alice", "", TEST_NOW, "the policy is empty" },
        { "{}", 0, "alice", "", TEST_NOW, "the policy is empty" },
        { "{}", 2, NULL, "", TEST_NOW,
          "author must be 1 to 255 bytes without spaces or control "
          "characters" },
        { "{}", 2, "", "", TEST_NOW,
          "author must be 1 to 255 bytes without spaces or control "
          "characters" },
        { "{}", 2, "al ice", "", TEST_NOW,
          "author must be 1 to 255 bytes without spaces or control "
          "characters" },
        { "{}", 2, "al\tice", "", TEST_NOW,
          "author must be 1 to 255 bytes without spaces or control "
          "characters" },
        { "{}", 2, "alice", "two\nlines", TEST_NOW,
          "note must be at most 255 bytes without control characters" },
        { "{}", 2, "alice", "a\x7f", TEST_NOW,
          "note must be at most 255 bytes without control characters" },
        { "{}", 2, "alice", "", -1, "time is negative" },
    };

    ctx = *state;

    txn = test_txn_id(ctx->st);

    for (len = 0; len < sizeof(cases) / sizeof(cases[0]); len++) {
        rev = 99;
        assert_int_equal(omni_store_policy_put(ctx->st, cases[len].json,
                                               cases[len].len,
                                               cases[len].author,
                                               cases[len].note,
                                               cases[len].now, &rev, err),
                         OMNI_STORE_INVALID);
        assert_string_equal(err, cases[len].err);
        assert_int_equal(rev, 0);
    }

    /* 255 bytes of author and note pass, 256 do not */
    memset(long_text, 'x', sizeof(long_text));
    long_text[256] = '\0';

    assert_int_equal(omni_store_policy_put(ctx->st, "{}", 2, long_text, "",
                                           TEST_NOW, &rev, err),
                     OMNI_STORE_INVALID);
    assert_string_equal(err, "author must be 1 to 255 bytes without spaces "
                        "or control characters");
    assert_int_equal(omni_store_policy_put(ctx->st, "{}", 2, "alice",
                                           long_text, TEST_NOW, &rev, err),
                     OMNI_STORE_INVALID);
    assert_string_equal(err, "note must be at most 255 bytes without "
                        "control characters");

    /* one byte over the maximum */
    big = malloc(OMNI_STORE_POLICY_MAX + 1);
    assert_non_null(big);
    memset(big, ' ', OMNI_STORE_POLICY_MAX + 1);
    big[0] = '{';
    big[OMNI_STORE_POLICY_MAX] = '}';

    assert_int_equal(omni_store_policy_put(ctx->st, big,
                                           OMNI_STORE_POLICY_MAX + 1,
                                           "alice", "", TEST_NOW, &rev, err),
                     OMNI_STORE_INVALID);
    assert_string_equal(err, "the policy is 4194305 bytes, more than the "
                        "4194304 allowed");

    /* nothing was written */
    assert_int_equal(test_txn_id(ctx->st), txn);
    assert_int_equal(test_policy_current(ctx->st), 0);

    /* the maximum itself is written and read back whole */
    long_text[255] = '\0';
    big[OMNI_STORE_POLICY_MAX - 1] = '}';

    assert_int_equal(omni_store_policy_put(ctx->st, big,
                                           OMNI_STORE_POLICY_MAX, long_text,
                                           long_text + 1, TEST_NOW, &rev,
                                           err),
                     OMNI_STORE_OK);
    assert_int_equal(rev, 1);

    got = NULL;
    assert_int_equal(omni_store_policy_get(ctx->st, 1, &got, &len, NULL, err),
                     OMNI_STORE_OK);
    assert_int_equal(len, OMNI_STORE_POLICY_MAX);
    assert_memory_equal(got, big, OMNI_STORE_POLICY_MAX);
    assert_int_equal(got[len], '\0');
    free(got);
    free(big);

    assert_int_equal(omni_store_policy_list(ctx->st, 0, &info, 1, &len, err),
                     OMNI_STORE_OK);
    assert_int_equal(len, 1);
    assert_string_equal(info.author, long_text);
    assert_string_equal(info.note, long_text + 1);
    assert_int_equal(info.len, OMNI_STORE_POLICY_MAX);
}


/* revisions survive a reopen; the next one follows the highest */
static void
test_policy_reopen(void **state)
{
    char           err[OMNI_ERRLEN], *json;
    size_t         len;
    uint32_t       rev;
    test_ctx_t    *ctx;
    unsigned char  rec[64];

    ctx = *state;

    assert_int_equal(test_policy_put(ctx->st, test_policy_a, "alice", "one",
                                     TEST_NOW), 1);
    assert_int_equal(test_policy_put(ctx->st, test_policy_b, "bob", "two",
                                     TEST_NOW + 1), 2);

    omni_store_close(ctx->st);
    ctx->st = test_open(ctx->dir, TEST_MAP_MAX, OMNI_STORE_SYNC_FULL);

    assert_int_equal(test_policy_current(ctx->st), 2);
    test_policy_is(ctx->st, 0, test_policy_b, 2, "bob", "two", TEST_NOW + 1);
    test_policy_is(ctx->st, 1, test_policy_a, 1, "alice", "one", TEST_NOW);

    /* a revision past the current one (an import): the next goes past it */
    omni_store_close(ctx->st);
    ctx->st = NULL;

    memcpy(rec, "\x01\0\0\0\0\0\0\0\x07\x01x\0{}", 14);
    test_raw_put(ctx->dir, "meta", "policy:rev:\0\0\0\x09", 15, rec, 14);

    ctx->st = test_open(ctx->dir, TEST_MAP_MAX, OMNI_STORE_SYNC_NONE);

    assert_int_equal(test_policy_current(ctx->st), 2);
    test_policy_is(ctx->st, 9, "{}", 9, "x", "", 7);
    assert_int_equal(test_policy_put(ctx->st, test_policy_a, "alice", "",
                                     TEST_NOW + 2), 10);
    assert_int_equal(test_policy_current(ctx->st), 10);

    /* records this build cannot read */
    omni_store_close(ctx->st);
    ctx->st = NULL;

    test_raw_put(ctx->dir, "meta", "policy:rev:\0\0\0\x03", 15,
                 "\x02\0\0\0\0\0\0\0\x07\x01x\0{}", 14);
    test_raw_put(ctx->dir, "meta", "policy:rev:\0\0\0\x04", 15,
                 "\x01\0\0\0\0\0\0\0\x07\x09x\0{}", 14);

    ctx->st = test_open(ctx->dir, TEST_MAP_MAX, OMNI_STORE_SYNC_NONE);

    assert_int_equal(omni_store_policy_get(ctx->st, 3, &json, &len, NULL,
                                           err),
                     OMNI_STORE_ERROR);
    assert_string_equal(err, "policy revision 3 has a record this build "
                        "cannot read");
    assert_null(json);

    assert_int_equal(omni_store_policy_get(ctx->st, 4, &json, &len, NULL,
                                           err),
                     OMNI_STORE_ERROR);
    assert_string_equal(err, "policy revision 4 has a record this build "
                        "cannot read");

    omni_store_close(ctx->st);
    ctx->st = NULL;

    test_raw_put(ctx->dir, "meta", "policy:current", 14, "\0\x02", 2);

    ctx->st = test_open(ctx->dir, TEST_MAP_MAX, OMNI_STORE_SYNC_NONE);

    assert_int_equal(omni_store_policy_current(ctx->st, &rev, NULL, err),
                     OMNI_STORE_ERROR);
    assert_non_null(strstr(err, "the current policy revision in store "));
    assert_int_equal(rev, 0);
    assert_int_equal(omni_store_policy_put(ctx->st, "{}", 2, "a", "", 0,
                                           &rev, err),
                     OMNI_STORE_ERROR);
    assert_int_equal(rev, 0);
}


/* a policy the map cannot hold: full, and what was written stays */
static void
test_policy_full(void **state)
{
    char                      err[OMNI_ERRLEN], *big, *got;
    size_t                    len, n;
    uint32_t                  rev;
    test_ctx_t               *ctx;
    omni_store_policy_info_t  info;

    ctx = *state;

    omni_store_close(ctx->st);
    ctx->st = test_open(ctx->dir, OMNI_STORE_MAP_MIN, OMNI_STORE_SYNC_NONE);

    big = malloc(OMNI_STORE_MAP_MIN);
    assert_non_null(big);
    memset(big, ' ', OMNI_STORE_MAP_MIN);
    big[0] = '{';
    big[100 * 1024 - 1] = '}';

    /* 100 KiB fits in overflow pages */
    assert_int_equal(omni_store_policy_put(ctx->st, big, 100 * 1024, "alice",
                                           "big", TEST_NOW, &rev, err),
                     OMNI_STORE_OK);
    assert_int_equal(rev, 1);

    big[OMNI_STORE_MAP_MIN - 1] = '}';

    rev = 99;
    assert_int_equal(omni_store_policy_put(ctx->st, big, OMNI_STORE_MAP_MIN,
                                           "alice", "too big", TEST_NOW + 1,
                                           &rev, err),
                     OMNI_STORE_FULL);
    assert_non_null(strstr(err, "is full"));
    assert_int_equal(rev, 0);

    assert_int_equal(omni_store_policy_seed(ctx->st, big, OMNI_STORE_MAP_MIN,
                                            "alice", TEST_NOW + 1, &rev, err),
                     OMNI_STORE_OK);
    assert_int_equal(rev, 0);

    /* nothing of it: revision 1 is current and whole */
    assert_int_equal(test_policy_current(ctx->st), 1);
    assert_int_equal(omni_store_policy_get(ctx->st, 0, &got, &len, &info,
                                           err),
                     OMNI_STORE_OK);
    assert_int_equal(len, 100 * 1024);
    assert_int_equal(info.rev, 1);
    assert_string_equal(info.note, "big");
    assert_memory_equal(got, big, 100 * 1024 - 1);
    free(got);

    assert_int_equal(omni_store_policy_list(ctx->st, 0, &info, 1, &n, err),
                     OMNI_STORE_OK);
    assert_int_equal(n, 1);
    assert_int_equal(info.rev, 1);

    /* small ones still go in */
    assert_int_equal(test_policy_put(ctx->st, test_policy_a, "alice", "",
                                     TEST_NOW + 2), 2);

    free(big);
}


/* processes */

static void
test_fork_shared(void **state)
{
    int            i, status, seen, polls;
    char           err[OMNI_ERRLEN], id[16];
    pid_t          pid;
    test_ctx_t    *ctx;
    omni_store_t  *st;

    ctx = *state;

    test_put_session(ctx->st, "parent", "", 1, 1);

    pid = test_fork(ctx, 1);

    if (pid == 0) {
        /* the child opens its own environment, never the inherited one */
        st = omni_store_open(ctx->dir, TEST_MAP_MAX, OMNI_STORE_SYNC_NONE,
                             err);
        if (st == NULL) {
            _exit(2);
        }

        if (!test_has_session(st, "parent")) {
            _exit(3);
        }

        for (i = 0; i < 300; i++) {
            snprintf(id, sizeof(id), "w%03d", i);
            test_put_session(st, id, "kid", 1, 1);

            if (i % 50 == 0) {
                usleep(2000);
            }
        }

        omni_store_close(st);
        _exit(0);
    }

    /* the parent reads while the child writes; writes appear in order */
    seen = 0;

    for (polls = 0; polls < 20000 && seen < 300; polls++) {
        assert_int_equal(omni_store_read_begin(ctx->st, err), OMNI_STORE_OK);

        while (seen < 300) {
            snprintf(id, sizeof(id), "w%03d", seen);
            if (!test_has_session(ctx->st, id)) {
                break;
            }

            seen++;
        }

        omni_store_read_end(ctx->st);

        if (seen < 300) {
            usleep(200);
        }
    }

    assert_int_equal(seen, 300);

    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);

    /* and the parent's handle still writes */
    test_put_session(ctx->st, "parent2", "", 1, 1);
    assert_true(test_has_session(ctx->st, "w299"));
}


static void
test_kill_one(test_ctx_t *ctx, int round, int sync_mode, int kill_after)
{
    int                   i, fds[2], v, last, status, rc;
    char                  err[OMNI_ERRLEN], id[32];
    pid_t                 pid;
    omni_store_t         *st;
    omni_store_session_t  s;

    assert_int_equal(pipe(fds), 0);

    pid = test_fork(ctx, 1);

    if (pid == 0) {
        close(fds[0]);

        st = omni_store_open(ctx->dir, TEST_MAP_MAX, sync_mode, err);
        if (st == NULL) {
            _exit(2);
        }

        for (i = 0; i < 1000000; i++) {
            snprintf(id, sizeof(id), "k%d-%d", round, i);
            test_session(&s, id, "victim", i, i, "{\"n\":1}");

            if (omni_store_session_put(st, &s, err) != OMNI_STORE_OK) {
                _exit(3);
            }

            /* acknowledged: committed */
            if (write(fds[1], &i, sizeof(i)) != (ssize_t) sizeof(i)) {
                _exit(4);
            }
        }

        _exit(5);
    }

    close(fds[1]);

    last = -1;

    while (last < kill_after) {
        rc = test_read_int(fds[0], &v, 5000);
        assert_int_equal(rc, 1);
        last = v;
    }

    assert_int_equal(kill(pid, SIGKILL), 0);
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFSIGNALED(status));
    assert_int_equal(WTERMSIG(status), SIGKILL);

    /* what it acknowledged before dying */
    while (test_read_int(fds[0], &v, 1000) == 1) {
        last = v;
    }

    close(fds[0]);

    for (i = 0; i <= last; i++) {
        snprintf(id, sizeof(id), "k%d-%d", round, i);
        assert_true(test_has_session(ctx->st, id));
    }

    /* a writer killed holding the write lock must not block this one */
    snprintf(id, sizeof(id), "after-%d", round);
    test_put_session(ctx->st, id, "", 1, 1);
}


/* a child killed while it holds the write lock, deterministically */
static void
test_kill_holder(test_ctx_t *ctx)
{
    int       fds[2], v, status;
    pid_t     pid;
    MDB_env  *env;
    MDB_txn  *txn;
    MDB_dbi   dbi;
    MDB_val   k, d;

    assert_int_equal(pipe(fds), 0);

    pid = test_fork(ctx, 0);

    if (pid == 0) {
        close(fds[0]);

        if (mdb_env_create(&env) != 0 || mdb_env_set_maxdbs(env, 8) != 0
            || mdb_env_set_mapsize(env, 64 * TEST_MIB) != 0
            || mdb_env_open(env, ctx->dir, MDB_NOTLS, 0600) != 0
            || mdb_txn_begin(env, NULL, 0, &txn) != 0
            || mdb_dbi_open(txn, "sessions", 0, &dbi) != 0)
        {
            _exit(2);
        }

        k.mv_data = "uncommitted";
        k.mv_size = 11;
        d.mv_data = "x";
        d.mv_size = 1;

        if (mdb_put(txn, dbi, &k, &d, 0) != 0) {
            _exit(3);
        }

        v = 1;
        if (write(fds[1], &v, sizeof(v)) != (ssize_t) sizeof(v)) {
            _exit(4);
        }

        pause();
        _exit(5);
    }

    close(fds[1]);

    assert_int_equal(test_read_int(fds[0], &v, 5000), 1);
    close(fds[0]);

    /* even opening needs no write lock now */
    ctx->st = test_open(ctx->dir, TEST_MAP_MAX, OMNI_STORE_SYNC_NONE);
    assert_false(test_has_session(ctx->st, "uncommitted"));

    assert_int_equal(kill(pid, SIGKILL), 0);
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFSIGNALED(status));

    /* the lock is recovered, the half-done transaction is gone */
    test_put_session(ctx->st, "after-holder", "", 1, 1);
    assert_false(test_has_session(ctx->st, "uncommitted"));
}


static void
test_kill_writer(void **state)
{
    char                err[OMNI_ERRLEN];
    test_ctx_t         *ctx;
    omni_store_stats_t  stats;

    ctx = *state;

    /* a lock never recovered would hang: fail loudly instead */
    alarm(60);

    test_kill_holder(ctx);
    test_kill_one(ctx, 0, OMNI_STORE_SYNC_NONE, 500);
    test_kill_one(ctx, 1, OMNI_STORE_SYNC_NONE, 1234);
    test_kill_one(ctx, 2, OMNI_STORE_SYNC_FULL, 20);

    omni_store_close(ctx->st);
    ctx->st = test_open(ctx->dir, TEST_MAP_MAX, OMNI_STORE_SYNC_FULL);

    assert_true(test_has_session(ctx->st, "after-2"));
    assert_true(test_has_session(ctx->st, "k1-1234"));
    assert_int_equal(omni_store_stats(ctx->st, &stats, err), OMNI_STORE_OK);
    assert_true(stats.entries[OMNI_STORE_DB_SESSIONS] > 1500);
    assert_true(test_has_session(ctx->st, "after-holder"));

    alarm(0);
}


static void
test_claim(void **state)
{
    int                     created;
    char                    err[OMNI_ERRLEN];
    char                    customer[OMNI_STORE_ID_MAX + 1];
    size_t                  n;
    test_ctx_t             *ctx;
    omni_store_identity_t   ids[4], got[8];
    omni_store_stats_t      before, after;

    ctx = *state;

    memset(ids, 0, sizeof(ids));
    strcpy(ids[0].type, "wechat_openid");
    strcpy(ids[0].value, "o6_bm");
    strcpy(ids[1].type, "phone");
    strcpy(ids[1].value, "+8613800138000");
    /* the map cannot hold a value with a space: skipped, not an error */
    strcpy(ids[2].type, "name");
    strcpy(ids[2].value, "Li Lei");

    /* resolve only: nobody yet */
    assert_int_equal(omni_store_customer_claim(ctx->st, ids, 3, 0, NULL,
                                               customer, &created, err),
                     OMNI_STORE_NOT_FOUND);
    assert_string_equal(err, "no identity is linked to a customer");
    assert_int_equal(created, 0);

    /* create: both storable identities go to the new customer */
    assert_int_equal(omni_store_customer_claim(ctx->st, ids, 3, 1, "cA",
                                               customer, &created, err),
                     OMNI_STORE_OK);
    assert_string_equal(customer, "cA");
    assert_int_equal(created, 1);

    assert_int_equal(omni_store_identities_by_customer(ctx->st, "cA", NULL,
                                                       got, 8, &n, err),
                     OMNI_STORE_OK);
    assert_int_equal(n, 2);

    /* known identities: a read, no write transaction */
    assert_int_equal(omni_store_stats(ctx->st, &before, err), OMNI_STORE_OK);
    assert_int_equal(omni_store_customer_claim(ctx->st, ids, 3, 1, "cB",
                                               customer, &created, err),
                     OMNI_STORE_OK);
    assert_string_equal(customer, "cA");
    assert_int_equal(created, 0);
    assert_int_equal(omni_store_stats(ctx->st, &after, err), OMNI_STORE_OK);
    assert_int_equal(before.txn_id, after.txn_id);

    /* a new identity beside a known one joins the known customer */
    strcpy(ids[2].type, "device_id");
    strcpy(ids[2].value, "dev-1");
    assert_int_equal(omni_store_customer_claim(ctx->st, ids + 1, 2, 1, "cC",
                                               customer, &created, err),
                     OMNI_STORE_OK);
    assert_string_equal(customer, "cA");
    assert_int_equal(created, 0);
    assert_int_equal(omni_store_identity_resolve(ctx->st, "device_id",
                                                 "dev-1", customer, err),
                     OMNI_STORE_OK);
    assert_string_equal(customer, "cA");

    /* identities of two customers: the first wins, nothing moves */
    assert_int_equal(omni_store_identity_link(ctx->st, "email", "b@x.org",
                                              "cB", err),
                     OMNI_STORE_OK);
    strcpy(ids[3].type, "email");
    strcpy(ids[3].value, "b@x.org");
    assert_int_equal(omni_store_customer_claim(ctx->st, ids + 3, 1, 1, "cD",
                                               customer, &created, err),
                     OMNI_STORE_OK);
    assert_string_equal(customer, "cB");
    assert_int_equal(omni_store_customer_claim(ctx->st, ids, 4, 1, "cD",
                                               customer, &created, err),
                     OMNI_STORE_OK);
    assert_string_equal(customer, "cA");
    assert_int_equal(omni_store_identity_resolve(ctx->st, "email", "b@x.org",
                                                 customer, err),
                     OMNI_STORE_OK);
    assert_string_equal(customer, "cB");

    /* after a merge the survivor answers */
    assert_int_equal(omni_store_customer_merge(ctx->st, "cB", "cA", TEST_NOW,
                                               err),
                     OMNI_STORE_OK);
    assert_int_equal(omni_store_customer_claim(ctx->st, ids + 3, 1, 0, NULL,
                                               customer, &created, err),
                     OMNI_STORE_OK);
    assert_string_equal(customer, "cA");

    /* bad arguments */
    assert_int_equal(omni_store_customer_claim(ctx->st, ids, 1, 1, "bad id",
                                               customer, &created, err),
                     OMNI_STORE_INVALID);
    assert_int_equal(omni_store_customer_claim(ctx->st, ids,
                                               OMNI_STORE_CLAIM_MAX + 1, 1,
                                               "cE", customer, &created, err),
                     OMNI_STORE_INVALID);
}


static void
test_session_resume(void **state)
{
    int                    created;
    char                   err[OMNI_ERRLEN];
    test_ctx_t            *ctx;
    omni_store_stats_t     before, after;
    omni_store_session_t   s, first;

    ctx = *state;

    /* first contact creates */
    assert_int_equal(omni_store_session_resume(ctx->st, "c1", "app",
                                               TEST_NOW, 1800, 86400, 60,
                                               "s1", &s, &created, err),
                     OMNI_STORE_OK);
    assert_int_equal(created, 1);
    assert_string_equal(s.id, "s1");
    assert_string_equal(s.customer, "c1");
    assert_int_equal(s.nchannels, 1);
    assert_string_equal(s.channels[0], "app");
    assert_int_equal(s.created, TEST_NOW);
    first = s;

    /* the same channel within the touch interval: read only */
    assert_int_equal(omni_store_stats(ctx->st, &before, err), OMNI_STORE_OK);
    assert_int_equal(omni_store_session_resume(ctx->st, "c1", "app",
                                               TEST_NOW + 30, 1800, 86400,
                                               60, "s2", &s, &created, err),
                     OMNI_STORE_OK);
    assert_int_equal(created, 0);
    assert_string_equal(s.id, "s1");
    assert_int_equal(s.last_seen, TEST_NOW);
    assert_int_equal(omni_store_stats(ctx->st, &after, err), OMNI_STORE_OK);
    assert_int_equal(before.txn_id, after.txn_id);

    /* another channel resumes it and is recorded */
    assert_int_equal(omni_store_session_resume(ctx->st, "c1", "ivr",
                                               TEST_NOW + 40, 1800, 86400,
                                               60, "s3", &s, &created, err),
                     OMNI_STORE_OK);
    assert_int_equal(created, 0);
    assert_string_equal(s.id, "s1");
    assert_int_equal(s.nchannels, 2);
    assert_string_equal(s.channels[1], "ivr");
    assert_int_equal(s.last_seen, TEST_NOW + 40);

    /* idle too long: a new session; the old one is not resumed */
    assert_int_equal(omni_store_session_resume(ctx->st, "c1", "web",
                                               TEST_NOW + 40 + 1800, 1800,
                                               86400, 60, "s4", &s, &created,
                                               err),
                     OMNI_STORE_OK);
    assert_int_equal(created, 1);
    assert_string_equal(s.id, "s4");

    /* the absolute timeout ends even a busy session */
    assert_int_equal(omni_store_session_resume(ctx->st, "c1", "web",
                                               TEST_NOW + 40 + 1800 + 100,
                                               1800, 100, 60, "s5", &s,
                                               &created, err),
                     OMNI_STORE_OK);
    assert_int_equal(created, 1);
    assert_string_equal(s.id, "s5");

    /* of two live sessions the most recently seen wins */
    assert_int_equal(omni_store_session_resume(ctx->st, "c1", "web",
                                               TEST_NOW + 40 + 1800 + 200,
                                               1800, 0, 60, "s6", &s,
                                               &created, err),
                     OMNI_STORE_OK);
    assert_int_equal(created, 0);
    assert_string_equal(s.id, "s5");

    /* a revoked session is gone: the next contact starts anew */
    assert_int_equal(omni_store_revoke_session(ctx->st, "s5", TEST_NOW, err),
                     OMNI_STORE_OK);
    assert_int_equal(omni_store_session_get(ctx->st, "s5", &s, err),
                     OMNI_STORE_NOT_FOUND);
    assert_int_equal(omni_store_session_resume(ctx->st, "c1", "web",
                                               TEST_NOW + 40 + 1800 + 210,
                                               1800, 0, 60, "s7", &s,
                                               &created, err),
                     OMNI_STORE_OK);
    assert_string_equal(s.id, "s4");

    /* bad arguments */
    assert_int_equal(omni_store_session_resume(ctx->st, "c1", "web",
                                               TEST_NOW, 0, 0, 60, "s8", &s,
                                               &created, err),
                     OMNI_STORE_INVALID);
    assert_string_equal(err, "the idle timeout must be positive");
    assert_int_equal(omni_store_session_resume(ctx->st, "c 1", "web",
                                               TEST_NOW, 10, 0, 60, "s8", &s,
                                               &created, err),
                     OMNI_STORE_INVALID);
    assert_int_equal(omni_store_session_resume(ctx->st, "c1", "web",
                                               TEST_NOW, 10, 0, 60, "", &s,
                                               &created, err),
                     OMNI_STORE_INVALID);

    (void) first;
}


static int
test_update_append(void *data, const char *context, size_t len, char *out,
    size_t *out_len, char *err)
{
    const char  *add;

    add = data;

    if (add == NULL) {
        omni_err(err, "refused");
        return OMNI_STORE_INVALID;
    }

    if (len == 0) {
        *out_len = (size_t) sprintf(out, "{\"n\":\"%s\"}", add);

    } else {
        *out_len = (size_t) sprintf(out, "%.*s,\"%s\":1}", (int) len - 1,
                                    context, add);
    }

    return OMNI_STORE_OK;
}


static int
test_update_huge(void *data, const char *context, size_t len, char *out,
    size_t *out_len, char *err)
{
    (void) data;
    (void) context;
    (void) len;
    (void) err;

    memset(out, 'x', OMNI_STORE_CONTEXT_MAX);
    *out_len = OMNI_STORE_CONTEXT_MAX + 1;

    return OMNI_STORE_OK;
}


static void
test_session_update(void **state)
{
    int                    created;
    char                   err[OMNI_ERRLEN];
    test_ctx_t            *ctx;
    omni_store_session_t   s;

    ctx = *state;

    assert_int_equal(omni_store_session_resume(ctx->st, "c1", "app",
                                               TEST_NOW, 1800, 0, 60, "s1",
                                               &s, &created, err),
                     OMNI_STORE_OK);

    assert_int_equal(omni_store_session_update(ctx->st, "s1",
                                               test_update_append, "a", &s,
                                               err),
                     OMNI_STORE_OK);
    assert_string_equal(s.context, "{\"n\":\"a\"}");
    assert_int_equal(omni_store_session_update(ctx->st, "s1",
                                               test_update_append, "b", NULL,
                                               err),
                     OMNI_STORE_OK);

    assert_int_equal(omni_store_session_get(ctx->st, "s1", &s, err),
                     OMNI_STORE_OK);
    assert_string_equal(s.context, "{\"n\":\"a\",\"b\":1}");
    assert_int_equal(s.context_len, strlen("{\"n\":\"a\",\"b\":1}"));

    /* a refusal and an oversized result leave the context as it was */
    assert_int_equal(omni_store_session_update(ctx->st, "s1",
                                               test_update_append, NULL, NULL,
                                               err),
                     OMNI_STORE_INVALID);
    assert_string_equal(err, "refused");
    assert_int_equal(omni_store_session_update(ctx->st, "s1",
                                               test_update_huge, NULL, NULL,
                                               err),
                     OMNI_STORE_INVALID);
    assert_int_equal(omni_store_session_get(ctx->st, "s1", &s, err),
                     OMNI_STORE_OK);
    assert_string_equal(s.context, "{\"n\":\"a\",\"b\":1}");

    assert_int_equal(omni_store_session_update(ctx->st, "nope",
                                               test_update_append, "a", NULL,
                                               err),
                     OMNI_STORE_NOT_FOUND);
}


static void
test_journey_many(void **state)
{
    char                        err[OMNI_ERRLEN];
    size_t                      n, skipped;
    test_ctx_t                 *ctx;
    omni_store_journey_t        ev[3], out[4];
    omni_store_journey_item_t   items[3];

    ctx = *state;

    memset(ev, 0, sizeof(ev));

    ev[0].time_ms = (int64_t) TEST_NOW * 1000;
    strcpy(ev[0].channel, "app");
    strcpy(ev[0].action, "order.query");
    strcpy(ev[0].outcome, "ok");
    strcpy(ev[0].session, "s1");

    ev[1] = ev[0];
    strcpy(ev[1].channel, "ivr");

    ev[2] = ev[0];
    strcpy(ev[2].action, "has space");

    items[0].customer = "c1";
    items[0].ev = &ev[0];
    items[1].customer = "c2";
    items[1].ev = &ev[1];
    items[2].customer = "c1";
    items[2].ev = &ev[2];

    assert_int_equal(omni_store_journey_append_many(ctx->st, items, 3, 100,
                                                    0, &skipped, err),
                     OMNI_STORE_OK);
    assert_int_equal(skipped, 1);

    assert_int_equal(omni_store_journey_read(ctx->st, "c1", NULL, out, 4, &n,
                                             err),
                     OMNI_STORE_OK);
    assert_int_equal(n, 1);
    assert_string_equal(out[0].channel, "app");

    assert_int_equal(omni_store_journey_read(ctx->st, "c2", NULL, out, 4, &n,
                                             err),
                     OMNI_STORE_OK);
    assert_int_equal(n, 1);
    assert_string_equal(out[0].channel, "ivr");

    assert_int_equal(omni_store_journey_append_many(ctx->st, items, 0, 100,
                                                    0, &skipped, err),
                     OMNI_STORE_OK);
}


/*
 * A batch with runs of one customer: events in the same millisecond get
 * consecutive sequence numbers after those stored before, and the bound
 * keeps the newest, as one append at a time would.
 */
static void
test_journey_many_runs(void **state)
{
    char                        err[OMNI_ERRLEN];
    size_t                      i, n, skipped;
    test_ctx_t                 *ctx;
    omni_store_journey_t        ev[40], out[40];
    omni_store_journey_item_t   items[40];

    ctx = *state;

    memset(ev, 0, sizeof(ev));

    for (i = 0; i < 40; i++) {
        /* 20 events at t, 20 at t + 1 ms: two runs of c1 around one of c2 */
        ev[i].time_ms = (int64_t) TEST_NOW * 1000 + (i < 20 ? 0 : 1);
        strcpy(ev[i].channel, "web");
        snprintf(ev[i].action, sizeof(ev[i].action), "order.n%zu", i);
        strcpy(ev[i].outcome, "ok");
        items[i].customer = (i == 10) ? "c2" : "c1";
        items[i].ev = &ev[i];
    }

    /* one event of c1 at t is there already: the batch's come after it */
    assert_int_equal(omni_store_journey_append_many(ctx->st, items, 1, 25, 0,
                                                    &skipped, err),
                     OMNI_STORE_OK);
    assert_int_equal(ev[0].seq, 0);

    assert_int_equal(omni_store_journey_append_many(ctx->st, items + 1, 39,
                                                    25, 0, &skipped, err),
                     OMNI_STORE_OK);
    assert_int_equal(skipped, 0);
    assert_int_equal(ev[1].seq, 1);
    assert_int_equal(ev[9].seq, 9);
    assert_int_equal(ev[11].seq, 10);
    assert_int_equal(ev[19].seq, 18);
    assert_int_equal(ev[20].seq, 0);
    assert_int_equal(ev[39].seq, 19);

    /* c1 has 39 events, bounded to the newest 25, newest first */
    assert_int_equal(omni_store_journey_read(ctx->st, "c1", NULL, out, 40, &n,
                                             err),
                     OMNI_STORE_OK);
    assert_int_equal(n, 25);
    assert_string_equal(out[0].action, "order.n39");
    assert_int_equal(out[0].seq, 19);
    assert_string_equal(out[24].action, "order.n15");
    assert_int_equal(out[24].seq, 14);

    assert_int_equal(omni_store_journey_read(ctx->st, "c2", NULL, out, 40, &n,
                                             err),
                     OMNI_STORE_OK);
    assert_int_equal(n, 1);
    assert_string_equal(out[0].action, "order.n10");
}


typedef struct {
    size_t                n;
    omni_store_record_t   recs[64];
    unsigned char         buf[64 * 1024];
    size_t                used;
    int                   stop_at;
} test_export_t;


static int
test_export_record(void *data, const omni_store_record_t *rec)
{
    test_export_t  *ex;

    ex = data;

    if (ex->stop_at > 0 && (size_t) ex->stop_at == ex->n + 1) {
        return 1;
    }

    assert_true(ex->n < 64);
    assert_true(ex->used + rec->key_len + rec->val_len <= sizeof(ex->buf));

    ex->recs[ex->n] = *rec;
    ex->recs[ex->n].key = memcpy(ex->buf + ex->used, rec->key, rec->key_len);
    ex->used += rec->key_len;
    ex->recs[ex->n].val = memcpy(ex->buf + ex->used, rec->val, rec->val_len);
    ex->used += rec->val_len;
    ex->n++;

    return 0;
}


static void
test_export_import(void **state)
{
    int                    created;
    char                   err[OMNI_ERRLEN];
    char                   dir[TEST_DIR_LEN + 8];
    char                   customer[OMNI_STORE_ID_MAX + 1];
    test_ctx_t            *ctx;
    omni_store_t          *copy;
    omni_store_session_t   s;
    omni_store_record_t    bad;
    static test_export_t   ex, ex2;

    ctx = *state;

    assert_int_equal(omni_store_identity_link(ctx->st, "phone", "+1555",
                                              "c1", err),
                     OMNI_STORE_OK);
    assert_int_equal(omni_store_session_resume(ctx->st, "c1", "app",
                                               TEST_NOW, 1800, 0, 60, "s1",
                                               &s, &created, err),
                     OMNI_STORE_OK);
    assert_int_equal(omni_store_revoke_jti(ctx->st, "j1", 0, err),
                     OMNI_STORE_OK);

    memset(&ex, 0, sizeof(ex));
    assert_int_equal(omni_store_export(ctx->st, test_export_record, &ex, err),
                     OMNI_STORE_OK);
    assert_true(ex.n >= 6);
    assert_int_equal(ex.recs[0].db, OMNI_STORE_DB_META);

    snprintf(dir, sizeof(dir), "%s.copy", ctx->dir);
    assert_int_equal(mkdir(dir, 0700), 0);
    copy = omni_store_open(dir, TEST_MAP_MAX, OMNI_STORE_SYNC_NONE, err);
    assert_non_null(copy);

    assert_int_equal(omni_store_import(copy, ex.recs, ex.n, NULL, err),
                     OMNI_STORE_OK);
    assert_int_equal(omni_store_identity_resolve(copy, "phone", "+1555",
                                                 customer, err),
                     OMNI_STORE_OK);
    assert_string_equal(customer, "c1");
    assert_int_equal(omni_store_session_get(copy, "s1", &s, err),
                     OMNI_STORE_OK);
    assert_string_equal(s.customer, "c1");

    memset(&ex2, 0, sizeof(ex2));
    assert_int_equal(omni_store_export(copy, test_export_record, &ex2, err),
                     OMNI_STORE_OK);
    assert_int_equal(ex2.n, ex.n);

    /* refusals name the record and write nothing */
    bad.db = OMNI_STORE_DB_META;
    bad.key = "format";
    bad.key_len = 6;
    bad.val = "99";
    bad.val_len = 2;
    assert_int_equal(omni_store_import(copy, &bad, 1, NULL, err),
                     OMNI_STORE_INVALID);
    assert_string_equal(err, "record 1: a store format other than this "
                        "store's (1)");
    bad.db = OMNI_STORE_DB_COUNT;
    assert_int_equal(omni_store_import(copy, &bad, 1, NULL, err),
                     OMNI_STORE_INVALID);
    bad.db = OMNI_STORE_DB_SESSIONS;
    bad.key_len = 0;
    assert_int_equal(omni_store_import(copy, &bad, 1, NULL, err),
                     OMNI_STORE_INVALID);

    /* a callback stops the export */
    memset(&ex2, 0, sizeof(ex2));
    ex2.stop_at = 2;
    assert_int_equal(omni_store_export(copy, test_export_record, &ex2, err),
                     OMNI_STORE_ERROR);
    assert_int_equal(ex2.n, 1);

    omni_store_close(copy);
    assert_int_equal(test_tmpdir_remove(dir), 0);
}


/* two keyring ids and what the store says of them */
static const unsigned char  test_kr_a[OMNI_STORE_KEYRING_ID_LEN] = {
    0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77,
    0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff
};

static const unsigned char  test_kr_b[OMNI_STORE_KEYRING_ID_LEN] = {
    0xfe, 0xdc, 0xba, 0x98, 0x76, 0x54, 0x32, 0x10,
    0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef
};

#define TEST_KR_A  "00112233445566778899aabbccddeeff"
#define TEST_KR_B  "fedcba98765432100123456789abcdef"


static void
test_keyring_misfit(const char *dir, char *err)
{
    char  want[TEST_DIR_LEN + 160];

    snprintf(want, sizeof(want), "keyring " TEST_KR_B " does not fit the "
             "store at %s (made with keyring " TEST_KR_A ")", dir);
    assert_string_equal(err, want);
}


static void
test_keyring_check(void **state)
{
    char          err[OMNI_ERRLEN], want[TEST_DIR_LEN + 160];
    size_t        txn;
    test_ctx_t   *ctx;

    ctx = *state;

    /* without a keyring a store stays without one */
    assert_int_equal(omni_store_keyring_check(ctx->st, NULL, err),
                     OMNI_STORE_OK);

    /* the first open with a keyring records it, once */
    assert_int_equal(omni_store_keyring_check(ctx->st, test_kr_a, err),
                     OMNI_STORE_OK);
    txn = test_txn_id(ctx->st);
    assert_int_equal(omni_store_keyring_check(ctx->st, test_kr_a, err),
                     OMNI_STORE_OK);
    assert_int_equal(test_txn_id(ctx->st), txn);

    omni_store_close(ctx->st);
    ctx->st = test_open(ctx->dir, TEST_MAP_MAX, OMNI_STORE_SYNC_NONE);

    assert_int_equal(omni_store_keyring_check(ctx->st, test_kr_a, err),
                     OMNI_STORE_OK);

    /* then neither another keyring nor none */
    assert_int_equal(omni_store_keyring_check(ctx->st, test_kr_b, err),
                     OMNI_STORE_INVALID);
    test_keyring_misfit(ctx->dir, err);

    assert_int_equal(omni_store_keyring_check(ctx->st, NULL, err),
                     OMNI_STORE_INVALID);
    snprintf(want, sizeof(want), "the store at %s was made with keyring "
             TEST_KR_A, ctx->dir);
    assert_string_equal(err, want);

    /* inside a read transaction of the caller's, the same answers */
    assert_int_equal(omni_store_read_begin(ctx->st, err), OMNI_STORE_OK);
    assert_int_equal(omni_store_keyring_check(ctx->st, test_kr_b, err),
                     OMNI_STORE_INVALID);
    assert_int_equal(omni_store_keyring_check(ctx->st, test_kr_a, err),
                     OMNI_STORE_OK);
    omni_store_read_end(ctx->st);

    /* a record that is not an id is an error, never a fit */
    omni_store_close(ctx->st);
    test_raw_put(ctx->dir, "meta", "keyring", 7, "short", 5);
    ctx->st = test_open(ctx->dir, TEST_MAP_MAX, OMNI_STORE_SYNC_NONE);

    assert_int_equal(omni_store_keyring_check(ctx->st, test_kr_a, err),
                     OMNI_STORE_ERROR);
    snprintf(want, sizeof(want), "the keyring record of the store at %s is "
             "5 bytes, not 16", ctx->dir);
    assert_string_equal(err, want);
    assert_int_equal(omni_store_keyring_check(ctx->st, NULL, err),
                     OMNI_STORE_ERROR);
}


/* the configuration's check: reads only, creates nothing */
static void
test_keyring_probe(void **state)
{
    int           recorded;
    char          err[OMNI_ERRLEN], want[TEST_DIR_LEN + 160];
    char          empty[TEST_DIR_LEN], path[TEST_DIR_LEN + 32];
    test_ctx_t   *ctx;
    struct stat   sb;

    ctx = *state;

    /* no store yet: every keyring fits, and no file appears */
    assert_int_equal(test_mkdir(empty), 0);
    recorded = -1;
    assert_int_equal(omni_store_keyring_probe(empty, test_kr_a, &recorded,
                                              err),
                     OMNI_STORE_OK);
    assert_int_equal(recorded, 0);
    assert_int_equal(omni_store_keyring_probe(empty, NULL, NULL, err),
                     OMNI_STORE_OK);
    snprintf(path, sizeof(path), "%s/lock.mdb", empty);
    assert_int_not_equal(stat(path, &sb), 0);
    snprintf(path, sizeof(path), "%s/data.mdb", empty);
    assert_int_not_equal(stat(path, &sb), 0);

    /* a store without a keyring: any keyring fits, none is recorded */
    omni_store_close(ctx->st);
    ctx->st = NULL;

    recorded = -1;
    assert_int_equal(omni_store_keyring_probe(ctx->dir, test_kr_a,
                                              &recorded, err),
                     OMNI_STORE_OK);
    assert_int_equal(recorded, 0);
    assert_int_equal(omni_store_keyring_probe(ctx->dir, NULL, &recorded,
                                              err),
                     OMNI_STORE_OK);

    ctx->st = test_open(ctx->dir, TEST_MAP_MAX, OMNI_STORE_SYNC_NONE);
    assert_int_equal(omni_store_keyring_check(ctx->st, NULL, err),
                     OMNI_STORE_OK);
    assert_int_equal(omni_store_keyring_check(ctx->st, test_kr_a, err),
                     OMNI_STORE_OK);
    omni_store_close(ctx->st);
    ctx->st = NULL;

    /* one that records a keyring */
    assert_int_equal(omni_store_keyring_probe(ctx->dir, test_kr_a,
                                              &recorded, err),
                     OMNI_STORE_OK);
    assert_int_equal(recorded, 1);

    assert_int_equal(omni_store_keyring_probe(ctx->dir, test_kr_b,
                                              &recorded, err),
                     OMNI_STORE_INVALID);
    assert_int_equal(recorded, 0);
    test_keyring_misfit(ctx->dir, err);

    assert_int_equal(omni_store_keyring_probe(ctx->dir, NULL, NULL, err),
                     OMNI_STORE_INVALID);
    snprintf(want, sizeof(want), "the store at %s was made with keyring "
             TEST_KR_A, ctx->dir);
    assert_string_equal(err, want);

    /* without lock.mdb no process has it open: read without a lock */
    snprintf(path, sizeof(path), "%s/lock.mdb", ctx->dir);
    assert_int_equal(unlink(path), 0);
    assert_int_equal(omni_store_keyring_probe(ctx->dir, test_kr_a,
                                              &recorded, err),
                     OMNI_STORE_OK);
    assert_int_equal(recorded, 1);
    assert_int_not_equal(stat(path, &sb), 0);

    assert_int_equal(omni_store_keyring_probe("", test_kr_a, NULL, err),
                     OMNI_STORE_ERROR);
    snprintf(path, sizeof(path), "%s/missing", test_base);
    assert_int_equal(omni_store_keyring_probe(path, test_kr_a, NULL, err),
                     OMNI_STORE_ERROR);
    assert_non_null(strstr(err, "No such file"));

    ctx->st = test_open(ctx->dir, TEST_MAP_MAX, OMNI_STORE_SYNC_NONE);
}


/* an export made with a keyring goes only where that keyring is */
static void
test_keyring_import(void **state)
{
    char                  err[OMNI_ERRLEN], want[TEST_DIR_LEN + 256];
    char                  dir[TEST_DIR_LEN + 8];
    char                  customer[OMNI_STORE_ID_MAX + 1];
    size_t                i;
    test_ctx_t           *ctx;
    omni_store_t         *copy;
    omni_store_record_t   bad;
    static test_export_t  ex;

    ctx = *state;

    assert_int_equal(omni_store_keyring_check(ctx->st, test_kr_a, err),
                     OMNI_STORE_OK);
    assert_int_equal(omni_store_identity_link(ctx->st, "phone", "+1555",
                                              "c1", err),
                     OMNI_STORE_OK);

    memset(&ex, 0, sizeof(ex));
    assert_int_equal(omni_store_export(ctx->st, test_export_record, &ex, err),
                     OMNI_STORE_OK);

    for (i = 0; i < ex.n; i++) {
        if (ex.recs[i].db == OMNI_STORE_DB_META && ex.recs[i].key_len == 7
            && memcmp(ex.recs[i].key, "keyring", 7) == 0)
        {
            break;
        }
    }

    assert_true(i < ex.n);
    assert_int_equal(ex.recs[i].val_len, OMNI_STORE_KEYRING_ID_LEN);
    assert_memory_equal(ex.recs[i].val, test_kr_a,
                        OMNI_STORE_KEYRING_ID_LEN);

    snprintf(dir, sizeof(dir), "%s.copy", ctx->dir);
    assert_int_equal(mkdir(dir, 0700), 0);
    copy = test_open(dir, TEST_MAP_MAX, OMNI_STORE_SYNC_NONE);

    /* a store without the keyring: refused, nothing written */
    assert_int_equal(omni_store_import(copy, ex.recs, ex.n, NULL, err),
                     OMNI_STORE_INVALID);
    snprintf(want, sizeof(want), "record %zu: the export was made with "
             "keyring " TEST_KR_A " and the store at %s has none; open it "
             "with that keyring first", i + 1, dir);
    assert_string_equal(err, want);
    assert_int_equal(omni_store_identity_resolve(copy, "phone", "+1555",
                                                 customer, err),
                     OMNI_STORE_NOT_FOUND);

    /* one with another keyring: refused */
    assert_int_equal(omni_store_keyring_check(copy, test_kr_b, err),
                     OMNI_STORE_OK);
    assert_int_equal(omni_store_import(copy, ex.recs, ex.n, NULL, err),
                     OMNI_STORE_INVALID);
    snprintf(want, sizeof(want), "record %zu: the export was made with "
             "keyring " TEST_KR_A ", the store at %s with keyring "
             TEST_KR_B, i + 1, dir);
    assert_string_equal(err, want);

    omni_store_close(copy);
    assert_int_equal(test_tmpdir_remove(dir), 0);

    /* one with the same keyring takes it */
    assert_int_equal(mkdir(dir, 0700), 0);
    copy = test_open(dir, TEST_MAP_MAX, OMNI_STORE_SYNC_NONE);
    assert_int_equal(omni_store_keyring_check(copy, test_kr_a, err),
                     OMNI_STORE_OK);
    assert_int_equal(omni_store_import(copy, ex.recs, ex.n, NULL, err),
                     OMNI_STORE_OK);
    assert_int_equal(omni_store_identity_resolve(copy, "phone", "+1555",
                                                 customer, err),
                     OMNI_STORE_OK);
    assert_string_equal(customer, "c1");

    /* a keyring record that is not an id */
    bad = ex.recs[i];
    bad.val_len = 5;
    assert_int_equal(omni_store_import(copy, &bad, 1, NULL, err),
                     OMNI_STORE_INVALID);
    assert_string_equal(err, "record 1: a keyring id of 5 bytes, not 16");

    omni_store_close(copy);
    assert_int_equal(test_tmpdir_remove(dir), 0);
}


/* the public name predicates: the rules the store checks arguments with */
static void
test_name_predicates(void **state)
{
    char         err[OMNI_ERRLEN], id[OMNI_STORE_ID_MAX + 2];
    test_ctx_t  *ctx;

    ctx = *state;

    assert_true(omni_store_id_valid("Ab-_09zZ", 8, OMNI_STORE_ID_MAX));
    assert_true(omni_store_id_valid("a", 1, 1));
    assert_false(omni_store_id_valid("", 0, OMNI_STORE_ID_MAX));
    assert_false(omni_store_id_valid(NULL, 0, OMNI_STORE_ID_MAX));
    assert_false(omni_store_id_valid("ab", 2, 1));
    assert_false(omni_store_id_valid("a b", 3, OMNI_STORE_ID_MAX));
    assert_false(omni_store_id_valid("a.b", 3, OMNI_STORE_ID_MAX));
    assert_false(omni_store_id_valid("a/b", 3, OMNI_STORE_ID_MAX));
    assert_false(omni_store_id_valid("a\0b", 3, OMNI_STORE_ID_MAX));
    assert_false(omni_store_id_valid("\xc3\xa9", 2, OMNI_STORE_ID_MAX));
    /* only len bytes are looked at */
    assert_true(omni_store_id_valid("ab cd", 2, OMNI_STORE_ID_MAX));

    memset(id, 'a', sizeof(id) - 1);
    id[sizeof(id) - 1] = '\0';
    assert_true(omni_store_id_valid(id, OMNI_STORE_ID_MAX,
                                    OMNI_STORE_ID_MAX));
    assert_false(omni_store_id_valid(id, OMNI_STORE_ID_MAX + 1,
                                     OMNI_STORE_ID_MAX));

    assert_true(omni_store_text_valid("+8613800000000", 14,
                                      OMNI_STORE_VALUE_MAX));
    assert_true(omni_store_text_valid("a/b.c@d:e", 9, OMNI_STORE_VALUE_MAX));
    assert_true(omni_store_text_valid("\xc3\xa9t\xc3\xa9", 5,
                                      OMNI_STORE_VALUE_MAX));
    assert_true(omni_store_text_valid("~", 1, 1));
    assert_false(omni_store_text_valid("", 0, OMNI_STORE_VALUE_MAX));
    assert_false(omni_store_text_valid(NULL, 0, OMNI_STORE_VALUE_MAX));
    assert_false(omni_store_text_valid("ab", 2, 1));
    assert_false(omni_store_text_valid("a b", 3, OMNI_STORE_VALUE_MAX));
    assert_false(omni_store_text_valid("a\tb", 3, OMNI_STORE_VALUE_MAX));
    assert_false(omni_store_text_valid("a\x7f", 2, OMNI_STORE_VALUE_MAX));
    assert_false(omni_store_text_valid("a\x1f", 2, OMNI_STORE_VALUE_MAX));
    assert_false(omni_store_text_valid("a\0b", 3, OMNI_STORE_VALUE_MAX));

    /* the store's own checks say the same */
    assert_int_equal(omni_store_revoke_jti(ctx->st, "a b", 0, err),
                     OMNI_STORE_INVALID);
    assert_non_null(strstr(err, "without spaces or control characters"));
    assert_int_equal(omni_store_session_delete(ctx->st, id, err),
                     OMNI_STORE_INVALID);
    assert_string_equal(err, "session id is not [A-Za-z0-9_-]{1,64}");
}


/* the permission check the module's master makes for its workers' user */
static void
test_access(void **state)
{
    char         err[OMNI_ERRLEN], want[TEST_DIR_LEN + 160];
    char         path[TEST_DIR_LEN + 32], empty[TEST_DIR_LEN];
    uid_t        me, other;
    gid_t        group[1];
    test_ctx_t  *ctx;
    struct stat  sb;

    ctx = *state;

    /* gcc's format checks under the sanitizers take ctx for maybe NULL */
    if (ctx == NULL) {
        fail();
        return;
    }

    me = geteuid();
    other = me + 4242;

    assert_int_equal(stat(ctx->dir, &sb), 0);
    group[0] = sb.st_gid;

    /* the owner: its own bits, whatever the group's and others' say */
    assert_int_equal(chmod(ctx->dir, 0700), 0);
    assert_int_equal(omni_store_access(ctx->dir, me, NULL, 0, "me", err),
                     OMNI_STORE_OK);

    assert_int_equal(chmod(ctx->dir, 0077), 0);
    assert_int_equal(omni_store_access(ctx->dir, me, group, 1, "me", err),
                     OMNI_STORE_INVALID);
    snprintf(want, sizeof(want), "\"%s\" is not readable and writable by "
             "the worker user \"me\"; chown it to that user", ctx->dir);
    assert_string_equal(err, want);

    /* another user: the directory is checked first */
    assert_int_equal(chmod(ctx->dir, 0700), 0);
    assert_int_equal(omni_store_access(ctx->dir, other, NULL, 0, "nobody",
                                       err),
                     OMNI_STORE_INVALID);
    snprintf(want, sizeof(want), "\"%s\" is not readable and writable by "
             "the worker user \"nobody\"; chown it to that user", ctx->dir);
    assert_string_equal(err, want);

    /* rwx for the directory, not rw alone */
    assert_int_equal(chmod(ctx->dir, 0760), 0);
    assert_int_equal(omni_store_access(ctx->dir, other, group, 1, "nobody",
                                       err),
                     OMNI_STORE_INVALID);

    /* in the group: the directory's and the files' group bits */
    assert_int_equal(chmod(ctx->dir, 0770), 0);
    snprintf(path, sizeof(path), "%s/data.mdb", ctx->dir);
    assert_int_equal(chmod(path, 0660), 0);
    snprintf(path, sizeof(path), "%s/lock.mdb", ctx->dir);
    assert_int_equal(chmod(path, 0660), 0);
    assert_int_equal(omni_store_access(ctx->dir, other, group, 1, "nobody",
                                       err),
                     OMNI_STORE_OK);

    /* each of LMDB's files, data.mdb ... */
    snprintf(path, sizeof(path), "%s/data.mdb", ctx->dir);
    assert_int_equal(chmod(path, 0640), 0);
    assert_int_equal(omni_store_access(ctx->dir, other, group, 1, "nobody",
                                       err),
                     OMNI_STORE_INVALID);
    snprintf(want, sizeof(want), "\"%s\" is not readable and writable by "
             "the worker user \"nobody\"; chown it to that user", path);
    assert_string_equal(err, want);
    assert_int_equal(chmod(path, 0660), 0);

    /* ... and lock.mdb, here through the others' bits */
    assert_int_equal(chmod(ctx->dir, 0777), 0);
    assert_int_equal(chmod(path, 0666), 0);
    assert_int_equal(omni_store_access(ctx->dir, other, NULL, 0, "nobody",
                                       err),
                     OMNI_STORE_INVALID);
    assert_non_null(strstr(err, "/lock.mdb\" is not readable"));

    snprintf(path, sizeof(path), "%s/lock.mdb", ctx->dir);
    assert_int_equal(chmod(path, 0666), 0);
    assert_int_equal(omni_store_access(ctx->dir, other, NULL, 0, "nobody",
                                       err),
                     OMNI_STORE_OK);

    /* files not there yet are not judged: the first open creates them */
    assert_int_equal(test_mkdir(empty), 0);
    assert_int_equal(chmod(empty, 0770), 0);
    assert_int_equal(omni_store_access(empty, other, group, 1, "nobody",
                                       err),
                     OMNI_STORE_OK);

    /* nor a directory that is not there: the open says so */
    snprintf(path, sizeof(path), "%s/missing", test_base);
    assert_int_equal(omni_store_access(path, other, NULL, 0, "nobody", err),
                     OMNI_STORE_OK);

    assert_int_equal(omni_store_access("", me, NULL, 0, "me", err),
                     OMNI_STORE_INVALID);
    assert_int_equal(omni_store_access(NULL, me, NULL, 0, "me", err),
                     OMNI_STORE_INVALID);

    assert_int_equal(chmod(ctx->dir, 0700), 0);
}


int
main(void)
{
#define TEST(name)  cmocka_unit_test_setup_teardown(name, test_setup,         \
                                                    test_teardown)

    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(test_open_errors),
        TEST(test_reopen),
        TEST(test_format_mismatch),
        TEST(test_stats),
        TEST(test_read_txn),
        TEST(test_session_crud),
        TEST(test_session_invalid),
        TEST(test_session_touch),
        TEST(test_sessions_by_customer),
        TEST(test_session_purge),
        TEST(test_session_purge_stale_index),
        TEST(test_identity),
        TEST(test_identity_limit),
        TEST(test_merge),
        TEST(test_merge_unknown),
        TEST(test_merge_loop_safe),
        TEST(test_revocations),
        TEST(test_revocations_list_purge),
        TEST(test_journey_order),
        TEST(test_journey_bounds),
        TEST(test_journey_seq_full),
        TEST(test_journey_dispatch),
        TEST(test_map_full),
        TEST(test_map_grow),
        TEST(test_fork_shared),
        TEST(test_kill_writer),
        TEST(test_claim),
        TEST(test_session_resume),
        TEST(test_session_update),
        TEST(test_journey_many),
        TEST(test_journey_many_runs),
        TEST(test_export_import),
        TEST(test_keyring_check),
        TEST(test_keyring_probe),
        TEST(test_keyring_import),
        TEST(test_policy_revisions),
        TEST(test_policy_snapshot),
        TEST(test_policy_seed),
        TEST(test_policy_list),
        TEST(test_policy_invalid),
        TEST(test_policy_reopen),
        TEST(test_policy_full),
        TEST(test_name_predicates),
        TEST(test_access),
    };

#undef TEST

    return cmocka_run_group_tests_name("omni_store", tests,
                                       test_group_setup, test_group_teardown);
}
