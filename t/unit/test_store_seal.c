/*
 * Copyright (C) The omni gateway authors
 *
 * Unit tests of the sealed store (omni_store_seal.c): a store used with a
 * keyring keeps no identity value or session context in clear, finds
 * identities by blind index, refuses tampered records, converts a plain
 * store in place, erases a customer for good and re-wraps data keys after
 * a KEK rotation.  Every test gets a fresh directory under one mkdtemp()
 * directory that the group teardown removes.
 */


#define _GNU_SOURCE   /* memmem() */

#include <fcntl.h>
#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "test_tmpdir.h"

#include <lmdb.h>

#include "omni_keyring.h"
#include "omni_store.h"


#define TEST_DIR_LEN    256
#define TEST_MAP_MAX    ((size_t) 64 * 1024 * 1024)
#define TEST_NOW        1700000000
#define TEST_PHONE      "+8613800000000"
#define TEST_OPENID     "oPENID-4711-secret"
#define TEST_CONTEXT    "{\"cart\":\"MARKER-CONTEXT-9931\"}"


typedef struct {
    char             dir[TEST_DIR_LEN];
    omni_keyring_t  *kr;
    omni_store_t    *st;
} test_ctx_t;


static char  test_base[64];


static int
test_group_setup(void **state)
{
    (void) state;

    return test_tmpdir_make(test_base, sizeof(test_base), "seal");
}


static int
test_group_teardown(void **state)
{
    (void) state;

    return test_tmpdir_remove(test_base);
}


static omni_store_t *
test_open(test_ctx_t *ctx, const omni_keyring_t *kr)
{
    char           err[OMNI_ERRLEN];
    omni_store_t  *st;

    st = omni_store_open(ctx->dir, TEST_MAP_MAX, OMNI_STORE_SYNC_NONE, err);
    assert_non_null(st);

    if (kr != NULL) {
        if (omni_store_use_keyring(st, kr, err) != OMNI_STORE_OK) {
            fprintf(stderr, "use_keyring: %s\n", err);
            fail();
        }
    }

    return st;
}


/* a fresh directory, a keyring, and a store sealed from its first open */
static int
test_setup(void **state)
{
    char         err[OMNI_ERRLEN];
    test_ctx_t  *ctx;

    ctx = calloc(1, sizeof(test_ctx_t));
    if (ctx == NULL) {
        return -1;
    }

    snprintf(ctx->dir, sizeof(ctx->dir), "%s/t-XXXXXX", test_base);

    if (mkdtemp(ctx->dir) == NULL
        || omni_keyring_generate(&ctx->kr, err) != 0)
    {
        free(ctx);
        return -1;
    }

    ctx->st = test_open(ctx, ctx->kr);
    *state = ctx;

    return 0;
}


static int
test_teardown(void **state)
{
    test_ctx_t  *ctx;

    ctx = *state;

    omni_store_close(ctx->st);
    omni_keyring_free(ctx->kr);
    test_tmpdir_remove(ctx->dir);
    free(ctx);

    return 0;
}


/* whether the store's data file holds s anywhere */
static int
test_file_has(const char *dir, const char *s)
{
    int          found;
    char         path[TEST_DIR_LEN + 16];
    FILE        *f;
    long         len;
    char        *data;

    snprintf(path, sizeof(path), "%s/data.mdb", dir);

    f = fopen(path, "r");
    assert_non_null(f);
    assert_int_equal(fseek(f, 0, SEEK_END), 0);
    len = ftell(f);
    assert_true(len > 0);
    rewind(f);

    data = malloc((size_t) len);
    assert_non_null(data);
    assert_int_equal(fread(data, 1, (size_t) len, f), (size_t) len);
    fclose(f);

    found = memmem(data, (size_t) len, s, strlen(s)) != NULL;
    free(data);

    return found;
}


/* a raw record, read or written with the store closed */
static int
test_raw(const char *dir, const char *db, const void *key, size_t klen,
    void *val, size_t *vlen, int put)
{
    int       rc;
    MDB_env  *env;
    MDB_txn  *txn;
    MDB_dbi   dbi;
    MDB_val   k, v;

    assert_int_equal(mdb_env_create(&env), 0);
    assert_int_equal(mdb_env_set_maxdbs(env, 8), 0);
    assert_int_equal(mdb_env_open(env, dir, MDB_NOTLS, 0600), 0);
    assert_int_equal(mdb_txn_begin(env, NULL, 0, &txn), 0);
    assert_int_equal(mdb_dbi_open(txn, db, 0, &dbi), 0);

    k.mv_data = (void *) key;
    k.mv_size = klen;

    if (put) {
        v.mv_data = val;
        v.mv_size = *vlen;
        rc = mdb_put(txn, dbi, &k, &v, 0);

    } else {
        rc = mdb_get(txn, dbi, &k, &v);
        if (rc == 0) {
            memcpy(val, v.mv_data, v.mv_size);
            *vlen = v.mv_size;
        }
    }

    assert_int_equal(mdb_txn_commit(txn), 0);
    mdb_env_close(env);

    return rc;
}


/* the test's store replaced by a new one without a keyring */
static void
test_plain_store(test_ctx_t *ctx)
{
    char  err[OMNI_ERRLEN];

    omni_store_close(ctx->st);
    test_tmpdir_remove(ctx->dir);
    assert_int_equal(mkdir(ctx->dir, 0700), 0);

    ctx->st = test_open(ctx, NULL);
    assert_int_equal(omni_store_keyring_check(ctx->st, NULL, err),
                     OMNI_STORE_OK);
}


/* a session put, with the status expected */
static void
test_put_session_rc(omni_store_t *st, const char *id, const char *customer,
    const char *context, int expect)
{
    int                   rc;
    char                  err[OMNI_ERRLEN];
    omni_store_session_t  s;

    memset(&s, 0, sizeof(s));
    snprintf(s.id, sizeof(s.id), "%s", id);
    snprintf(s.customer, sizeof(s.customer), "%s", customer);
    s.created = TEST_NOW;
    s.last_seen = TEST_NOW;
    s.nchannels = 1;
    snprintf(s.channels[0], sizeof(s.channels[0]), "web");
    s.context_len = strlen(context);
    memcpy(s.context, context, s.context_len + 1);

    rc = omni_store_session_put(st, &s, err);

    if (rc != expect) {
        fprintf(stderr, "session_put: %s\n", err);
        fail();
    }
}


static void
test_put_session(omni_store_t *st, const char *id, const char *customer,
    const char *context)
{
    test_put_session_rc(st, id, customer, context, OMNI_STORE_OK);
}


static void
test_link(omni_store_t *st, const char *type, const char *value,
    const char *customer)
{
    char  err[OMNI_ERRLEN];

    if (omni_store_identity_link(st, type, value, customer, err)
        != OMNI_STORE_OK)
    {
        fprintf(stderr, "link: %s\n", err);
        fail();
    }
}


static void
test_journey(omni_store_t *st, const char *customer)
{
    char                  err[OMNI_ERRLEN];
    omni_store_journey_t  ev;

    memset(&ev, 0, sizeof(ev));
    ev.time_ms = (int64_t) TEST_NOW * 1000;
    snprintf(ev.channel, sizeof(ev.channel), "web");
    snprintf(ev.action, sizeof(ev.action), "view");
    snprintf(ev.outcome, sizeof(ev.outcome), "ok");
    assert_int_equal(omni_store_journey_append(st, customer, &ev, 0, 0, err),
                     OMNI_STORE_OK);
}


static void
test_resolves(omni_store_t *st, const char *type, const char *value,
    const char *customer)
{
    char  err[OMNI_ERRLEN], got[OMNI_STORE_ID_MAX + 1];

    if (omni_store_identity_resolve(st, type, value, got, err)
        != OMNI_STORE_OK)
    {
        fprintf(stderr, "resolve %s: %s\n", type, err);
        fail();
    }

    assert_string_equal(got, customer);
}


/* identities and contexts are found and read, and never in the file */

static void
test_sealed_roundtrip(void **state)
{
    char                   err[OMNI_ERRLEN];
    size_t                 n;
    test_ctx_t            *ctx;
    omni_store_session_t   s;
    omni_store_identity_t  ids[4];

    ctx = *state;

    assert_int_equal(omni_store_is_sealed(ctx->st), 1);

    test_link(ctx->st, "phone", TEST_PHONE, "cA");
    test_link(ctx->st, "openid", TEST_OPENID, "cA");
    test_put_session(ctx->st, "s1", "cA", TEST_CONTEXT);
    test_put_session(ctx->st, "s2", "", TEST_CONTEXT);

    /* another spelling of the same phone number finds the same customer */
    test_resolves(ctx->st, "phone", "0086-138-0000-0000", "cA");
    test_resolves(ctx->st, "openid", TEST_OPENID, "cA");

    assert_int_equal(omni_store_identities_by_customer(ctx->st, "cA", NULL,
                                                       ids, 4, &n, err),
                     OMNI_STORE_OK);
    assert_int_equal(n, 2);
    assert_true((strcmp(ids[0].value, TEST_PHONE) == 0
                 && strcmp(ids[1].value, TEST_OPENID) == 0)
                || (strcmp(ids[1].value, TEST_PHONE) == 0
                    && strcmp(ids[0].value, TEST_OPENID) == 0));

    assert_int_equal(omni_store_session_get(ctx->st, "s1", &s, err),
                     OMNI_STORE_OK);
    assert_string_equal(s.context, TEST_CONTEXT);
    assert_int_equal(omni_store_session_get(ctx->st, "s2", &s, err),
                     OMNI_STORE_OK);
    assert_string_equal(s.context, TEST_CONTEXT);

    /* a phone number without its country code has no blind index */
    assert_int_equal(omni_store_identity_link(ctx->st, "phone", "13800000000",
                                              "cA", err),
                     OMNI_STORE_INVALID);
    assert_non_null(strstr(err, "must be a phone number in E.164"));
    assert_null(strstr(err, "13800000000"));

    omni_store_close(ctx->st);
    ctx->st = NULL;

    assert_false(test_file_has(ctx->dir, "8613800000000"));
    assert_false(test_file_has(ctx->dir, TEST_OPENID));
    assert_false(test_file_has(ctx->dir, "MARKER-CONTEXT"));

    /* without its keyring the store is refused, with another too */
    ctx->st = test_open(ctx, NULL);
    assert_int_equal(omni_store_keyring_check(ctx->st, NULL, err),
                     OMNI_STORE_INVALID);
    assert_non_null(strstr(err, "was made with keyring"));
    assert_int_equal(omni_store_identity_resolve(ctx->st, "openid",
                                                 TEST_OPENID, s.id, err),
                     OMNI_STORE_INVALID);
    assert_int_equal(omni_store_session_get(ctx->st, "s1", &s, err),
                     OMNI_STORE_INVALID);
    omni_store_close(ctx->st);

    ctx->st = test_open(ctx, ctx->kr);
    test_resolves(ctx->st, "phone", TEST_PHONE, "cA");
}


/* a ciphertext moved, flipped or cut is refused, never handed out */

static void
test_sealed_tamper(void **state)
{
    char                   err[OMNI_ERRLEN];
    char                   a[8192], b[8192], c[8192];
    size_t                 alen, blen, clen, n;
    test_ctx_t            *ctx;
    omni_store_session_t   s;
    omni_store_identity_t  ids[4];

    ctx = *state;

    test_put_session(ctx->st, "s1", "cA", TEST_CONTEXT);
    test_put_session(ctx->st, "s2", "cB", "{\"other\":1}");
    test_link(ctx->st, "openid", TEST_OPENID, "cA");

    omni_store_close(ctx->st);
    ctx->st = NULL;

    assert_int_equal(test_raw(ctx->dir, "sessions", "s1", 2, a, &alen, 0), 0);
    assert_int_equal(test_raw(ctx->dir, "sessions", "s2", 2, b, &blen, 0), 0);

    /* s2's record under s1's key: another session and customer */
    assert_int_equal(test_raw(ctx->dir, "sessions", "s1", 2, b, &blen, 1), 0);

    ctx->st = test_open(ctx, ctx->kr);
    assert_int_equal(omni_store_session_get(ctx->st, "s1", &s, err),
                     OMNI_STORE_ERROR);
    assert_non_null(strstr(err, "does not open"));
    assert_int_equal(s.context_len, 0);
    assert_null(strstr(s.context, "other"));
    omni_store_close(ctx->st);

    /* a byte of the ciphertext flipped */
    memcpy(c, a, alen);
    clen = alen;
    c[clen - 20] ^= 0x01;
    assert_int_equal(test_raw(ctx->dir, "sessions", "s1", 2, c, &clen, 1), 0);

    ctx->st = test_open(ctx, ctx->kr);
    assert_int_equal(omni_store_session_get(ctx->st, "s1", &s, err),
                     OMNI_STORE_ERROR);
    assert_int_equal(s.context_len, 0);
    omni_store_close(ctx->st);

    /* cut short */
    clen = alen - 5;
    memcpy(c, a, clen);
    assert_int_equal(test_raw(ctx->dir, "sessions", "s1", 2, c, &clen, 1), 0);

    ctx->st = test_open(ctx, ctx->kr);
    assert_int_equal(omni_store_session_get(ctx->st, "s1", &s, err),
                     OMNI_STORE_ERROR);
    omni_store_close(ctx->st);

    /* the data keys of two customers swapped */
    assert_int_equal(test_raw(ctx->dir, "sessions", "s1", 2, a, &alen, 1), 0);
    assert_int_equal(test_raw(ctx->dir, "customers", "cA\0K", 4, a, &alen,
                              0), 0);
    assert_int_equal(test_raw(ctx->dir, "customers", "cB\0K", 4, b, &blen,
                              0), 0);
    assert_int_equal(test_raw(ctx->dir, "customers", "cA\0K", 4, b, &blen,
                              1), 0);

    ctx->st = test_open(ctx, ctx->kr);
    assert_int_equal(omni_store_session_get(ctx->st, "s1", &s, err),
                     OMNI_STORE_ERROR);
    assert_non_null(strstr(err, "data key of customer cA does not open"));
    assert_int_equal(omni_store_identities_by_customer(ctx->st, "cA", NULL,
                                                       ids, 4, &n, err),
                     OMNI_STORE_ERROR);
    assert_int_equal(n, 0);

    /* put back, it opens again */
    omni_store_close(ctx->st);
    assert_int_equal(test_raw(ctx->dir, "customers", "cA\0K", 4, a, &alen,
                              1), 0);
    ctx->st = test_open(ctx, ctx->kr);
    assert_int_equal(omni_store_session_get(ctx->st, "s1", &s, err),
                     OMNI_STORE_OK);
    assert_string_equal(s.context, TEST_CONTEXT);
}


/* a merge re-seals the identities under the survivor's data key */

static void
test_sealed_merge(void **state)
{
    char                   err[OMNI_ERRLEN];
    size_t                 n;
    test_ctx_t            *ctx;
    omni_store_identity_t  ids[4];

    ctx = *state;

    test_link(ctx->st, "phone", TEST_PHONE, "cA");
    test_link(ctx->st, "openid", TEST_OPENID, "cB");

    assert_int_equal(omni_store_customer_merge(ctx->st, "cA", "cB", TEST_NOW,
                                               err),
                     OMNI_STORE_OK);

    test_resolves(ctx->st, "phone", TEST_PHONE, "cB");

    assert_int_equal(omni_store_identities_by_customer(ctx->st, "cB", NULL,
                                                       ids, 4, &n, err),
                     OMNI_STORE_OK);
    assert_int_equal(n, 2);
    assert_true(strcmp(ids[0].value, TEST_PHONE) == 0
                || strcmp(ids[1].value, TEST_PHONE) == 0);

    /* the survivor's identities page on */
    assert_int_equal(omni_store_identities_by_customer(ctx->st, "cB", &ids[0],
                                                       ids + 2, 2, &n, err),
                     OMNI_STORE_OK);
    assert_int_equal(n, 1);
    assert_string_equal(ids[2].value, ids[1].value);
}


/* erasure: every record of the customer goes, and stays gone */

static void
test_sealed_erase(void **state)
{
    int                    created;
    char                   err[OMNI_ERRLEN], got[OMNI_STORE_ID_MAX + 1];
    size_t                 n, records, wlen;
    test_ctx_t            *ctx;
    omni_store_session_t   s;
    omni_store_id_t        sids[4];
    omni_store_journey_t   evs[4];
    unsigned char          wrapped[128];

    ctx = *state;

    test_link(ctx->st, "phone", TEST_PHONE, "cA");
    test_link(ctx->st, "openid", TEST_OPENID, "cM");
    test_link(ctx->st, "openid", "another-openid", "cB");
    test_put_session(ctx->st, "s1", "cA", TEST_CONTEXT);
    test_put_session(ctx->st, "s2", "cM", TEST_CONTEXT);
    test_put_session(ctx->st, "s3", "cB", TEST_CONTEXT);

    test_journey(ctx->st, "cA");

    /* cM merged into cA goes with it */
    assert_int_equal(omni_store_customer_merge(ctx->st, "cM", "cA", TEST_NOW,
                                               err),
                     OMNI_STORE_OK);

    assert_int_equal(omni_store_customer_erase(ctx->st, "cM", TEST_NOW, NULL,
                                               err),
                     OMNI_STORE_INVALID);
    assert_non_null(strstr(err, "merged into another"));

    omni_store_close(ctx->st);
    ctx->st = NULL;
    assert_int_equal(test_raw(ctx->dir, "customers", "cA\0K", 4, wrapped,
                              &wlen, 0), 0);
    ctx->st = test_open(ctx, ctx->kr);

    assert_int_equal(omni_store_customer_erase(ctx->st, "cA", TEST_NOW + 1,
                                               &records, err),
                     OMNI_STORE_OK);
    assert_true(records >= 8);

    assert_int_equal(omni_store_identity_resolve(ctx->st, "phone", TEST_PHONE,
                                                 got, err),
                     OMNI_STORE_NOT_FOUND);
    assert_int_equal(omni_store_identity_resolve(ctx->st, "openid",
                                                 TEST_OPENID, got, err),
                     OMNI_STORE_NOT_FOUND);
    assert_int_equal(omni_store_session_get(ctx->st, "s1", &s, err),
                     OMNI_STORE_NOT_FOUND);
    assert_int_equal(omni_store_session_get(ctx->st, "s2", &s, err),
                     OMNI_STORE_NOT_FOUND);
    assert_int_equal(omni_store_sessions_by_customer(ctx->st, "cA", NULL,
                                                     sids, 4, &n, err),
                     OMNI_STORE_OK);
    assert_int_equal(n, 0);
    assert_int_equal(omni_store_journey_read(ctx->st, "cA", NULL, evs, 4, &n,
                                             err),
                     OMNI_STORE_OK);
    assert_int_equal(n, 0);

    /* the others are untouched */
    test_resolves(ctx->st, "openid", "another-openid", "cB");
    assert_int_equal(omni_store_session_get(ctx->st, "s3", &s, err),
                     OMNI_STORE_OK);

    /* never again: not a second time, nor a link to it */
    assert_int_equal(omni_store_customer_erase(ctx->st, "cA", TEST_NOW, NULL,
                                               err),
                     OMNI_STORE_NOT_FOUND);
    assert_non_null(strstr(err, "was erased already"));
    assert_int_equal(omni_store_identity_link(ctx->st, "openid", "x", "cA",
                                              err),
                     OMNI_STORE_INVALID);
    assert_non_null(strstr(err, "was erased"));

    assert_int_equal(omni_store_customer_erase(ctx->st, "nobody", TEST_NOW,
                                               NULL, err),
                     OMNI_STORE_NOT_FOUND);
    assert_non_null(strstr(err, "is unknown"));

    /* a request that resolved to it before creates no session after */
    assert_int_equal(omni_store_session_resume(ctx->st, "cA", "web",
                                               TEST_NOW, 60, 0, 1, "s9", &s,
                                               &created, err),
                     OMNI_STORE_NOT_FOUND);
    assert_non_null(strstr(err, "customer cA was erased"));

    /* the data key is gone from the store */
    omni_store_close(ctx->st);
    ctx->st = NULL;
    assert_int_equal(test_raw(ctx->dir, "customers", "cA\0K", 4, wrapped,
                              &wlen, 0), MDB_NOTFOUND);
    ctx->st = test_open(ctx, ctx->kr);
}


/* a plain store, then opened with a keyring: converted, nothing lost */

static void
test_sealed_convert(void **state)
{
    char                   err[OMNI_ERRLEN];
    size_t                 n;
    test_ctx_t            *ctx;
    omni_store_session_t   s;
    omni_store_identity_t  ids[4];

    ctx = *state;

    test_plain_store(ctx);
    assert_int_equal(omni_store_is_sealed(ctx->st), 0);

    test_link(ctx->st, "phone", TEST_PHONE, "cA");
    test_link(ctx->st, "openid", TEST_OPENID, "cA");
    test_put_session(ctx->st, "s1", "cA", TEST_CONTEXT);
    test_put_session(ctx->st, "s2", "", TEST_CONTEXT);
    test_put_session(ctx->st, "s3", "cA", "");

    /* an identity that has no normal form stops the conversion */
    test_link(ctx->st, "phone", "12345", "cB");
    omni_store_close(ctx->st);

    ctx->st = omni_store_open(ctx->dir, TEST_MAP_MAX, OMNI_STORE_SYNC_NONE,
                              err);
    assert_non_null(ctx->st);
    assert_int_equal(omni_store_use_keyring(ctx->st, ctx->kr, err),
                     OMNI_STORE_INVALID);
    assert_non_null(strstr(err, "an identity of type phone of customer cB"));
    assert_int_equal(omni_store_is_sealed(ctx->st), 0);

    /* untouched: still plain, no keyring recorded, still found */
    omni_store_close(ctx->st);
    ctx->st = test_open(ctx, NULL);
    assert_int_equal(omni_store_keyring_check(ctx->st, NULL, err),
                     OMNI_STORE_OK);
    assert_int_equal(omni_store_identity_unlink(ctx->st, "phone", "12345",
                                                err),
                     OMNI_STORE_OK);
    test_resolves(ctx->st, "phone", TEST_PHONE, "cA");
    omni_store_close(ctx->st);

    ctx->st = test_open(ctx, ctx->kr);
    assert_int_equal(omni_store_is_sealed(ctx->st), 1);

    test_resolves(ctx->st, "phone", TEST_PHONE, "cA");
    test_resolves(ctx->st, "openid", TEST_OPENID, "cA");
    assert_int_equal(omni_store_identities_by_customer(ctx->st, "cA", NULL,
                                                       ids, 4, &n, err),
                     OMNI_STORE_OK);
    assert_int_equal(n, 2);

    assert_int_equal(omni_store_session_get(ctx->st, "s1", &s, err),
                     OMNI_STORE_OK);
    assert_string_equal(s.context, TEST_CONTEXT);
    assert_int_equal(omni_store_session_get(ctx->st, "s2", &s, err),
                     OMNI_STORE_OK);
    assert_string_equal(s.context, TEST_CONTEXT);
    assert_int_equal(omni_store_session_get(ctx->st, "s3", &s, err),
                     OMNI_STORE_OK);
    assert_int_equal(s.context_len, 0);

    /* opened again, nothing more to convert */
    omni_store_close(ctx->st);
    ctx->st = test_open(ctx, ctx->kr);
    test_resolves(ctx->st, "openid", TEST_OPENID, "cA");
}


/* rotation: every data key re-wrapped by the new KEK, in batches */

static void
test_sealed_rewrap(void **state)
{
    int                    finished;
    char                   err[OMNI_ERRLEN], id[16];
    size_t                 i, n, done, total;
    test_ctx_t            *ctx;
    omni_store_session_t   s;
    omni_store_kek_use_t   use[4];

    ctx = *state;

    for (i = 0; i < 10; i++) {
        snprintf(id, sizeof(id), "c%zu", i);
        test_put_session(ctx->st, id, id, TEST_CONTEXT);
    }

    assert_int_equal(omni_store_kek_usage(ctx->st, use, 4, &n, err),
                     OMNI_STORE_OK);
    assert_int_equal(n, 1);
    assert_int_equal(use[0].version, 1);
    assert_int_equal(use[0].keys, 10);

    /* the store refuses to rewrap with nothing new: every key is done */
    assert_int_equal(omni_store_rewrap(ctx->st, 4, &done, &finished, err),
                     OMNI_STORE_OK);
    assert_int_equal(done, 0);
    assert_int_equal(finished, 1);

    assert_int_equal(omni_keyring_add_kek(ctx->kr, err), 0);
    omni_store_close(ctx->st);
    ctx->st = test_open(ctx, ctx->kr);

    total = 0;

    for (i = 0; i < 10; i++) {
        assert_int_equal(omni_store_rewrap(ctx->st, 4, &done, &finished, err),
                         OMNI_STORE_OK);
        total += done;

        if (finished) {
            break;
        }

        /* a stop between batches resumes where it was */
        omni_store_close(ctx->st);
        ctx->st = test_open(ctx, ctx->kr);
    }

    assert_int_equal(finished, 1);
    assert_int_equal(total, 10);

    assert_int_equal(omni_store_kek_usage(ctx->st, use, 4, &n, err),
                     OMNI_STORE_OK);
    assert_int_equal(n, 1);
    assert_int_equal(use[0].version, 2);

    /* version 1 retired: everything opens with version 2 alone */
    assert_int_equal(omni_keyring_drop_kek(ctx->kr, 1), 0);
    omni_store_close(ctx->st);
    ctx->st = test_open(ctx, ctx->kr);

    for (i = 0; i < 10; i++) {
        snprintf(id, sizeof(id), "c%zu", i);
        assert_int_equal(omni_store_session_get(ctx->st, id, &s, err),
                         OMNI_STORE_OK);
        assert_string_equal(s.context, TEST_CONTEXT);
    }
}


/* a rewrap killed between batches: the store opens, the next run goes on */

static void
test_sealed_rewrap_killed(void **state)
{
    int                    finished, fds[2], status;
    char                   err[OMNI_ERRLEN], id[16], c;
    pid_t                  pid;
    size_t                 i, n, done, total;
    test_ctx_t            *ctx;
    omni_store_session_t   s;
    omni_store_kek_use_t   use[4];

    ctx = *state;

    for (i = 0; i < 40; i++) {
        snprintf(id, sizeof(id), "k%zu", i);
        test_put_session(ctx->st, id, id, TEST_CONTEXT);
    }

    assert_int_equal(omni_keyring_add_kek(ctx->kr, err), 0);
    omni_store_close(ctx->st);
    ctx->st = NULL;

    assert_int_equal(pipe(fds), 0);

    pid = fork();
    assert_true(pid >= 0);

    if (pid == 0) {
        /* a batch of one key at a time, a byte after each, until killed */
        close(fds[0]);
        ctx->st = test_open(ctx, ctx->kr);

        for ( ;; ) {
            if (omni_store_rewrap(ctx->st, 1, &done, &finished, err)
                != OMNI_STORE_OK || finished)
            {
                _exit(1);
            }

            if (write(fds[1], "x", 1) != 1) {
                _exit(1);
            }

            usleep(2000);
        }
    }

    close(fds[1]);

    for (i = 0; i < 5; i++) {
        assert_int_equal(read(fds[0], &c, 1), 1);
    }

    assert_int_equal(kill(pid, SIGKILL), 0);
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFSIGNALED(status));
    close(fds[0]);

    ctx->st = test_open(ctx, ctx->kr);

    /* some keys on each version: nothing half-done, every session opens */
    assert_int_equal(omni_store_kek_usage(ctx->st, use, 4, &n, err),
                     OMNI_STORE_OK);
    assert_int_equal(n, 2);
    assert_true(use[1].keys >= 5);
    assert_int_equal(use[0].keys + use[1].keys, 40);

    for (i = 0; i < 40; i++) {
        snprintf(id, sizeof(id), "k%zu", i);
        assert_int_equal(omni_store_session_get(ctx->st, id, &s, err),
                         OMNI_STORE_OK);
    }

    /* the next run re-wraps only what is left */
    total = 0;

    do {
        assert_int_equal(omni_store_rewrap(ctx->st, 8, &done, &finished,
                                           err),
                         OMNI_STORE_OK);
        total += done;
    } while (!finished);

    assert_int_equal(total, use[0].keys);

    assert_int_equal(omni_store_kek_usage(ctx->st, use, 4, &n, err),
                     OMNI_STORE_OK);
    assert_int_equal(n, 1);
    assert_int_equal(use[0].version, 2);
    assert_int_equal(use[0].keys, 40);
}


/*
 * An erasure killed with SIGKILL while it runs: one transaction, so the
 * customer is either whole or gone, never in part, and the next erasure
 * finishes the work.
 */
static void
test_sealed_erase_killed(void **state)
{
    int                    status, erased_before;
    char                   err[OMNI_ERRLEN], id[16];
    char                   got[OMNI_STORE_ID_MAX + 1];
    pid_t                  pid;
    size_t                 i, n, present;
    test_ctx_t            *ctx;
    omni_store_session_t   s;
    omni_store_id_t        ids[8];

    ctx = *state;

    for (i = 0; i < 300; i++) {
        snprintf(id, sizeof(id), "e%zu", i);
        test_put_session(ctx->st, id, "cE", TEST_CONTEXT);
    }

    test_link(ctx->st, "phone", TEST_PHONE, "cE");
    omni_store_close(ctx->st);
    ctx->st = NULL;

    pid = fork();
    assert_true(pid >= 0);

    if (pid == 0) {
        ctx->st = test_open(ctx, ctx->kr);
        (void) omni_store_customer_erase(ctx->st, "cE", TEST_NOW, NULL, err);
        pause();
        _exit(0);
    }

    /* somewhere in the erasure, or after it */
    usleep(3000);
    assert_int_equal(kill(pid, SIGKILL), 0);
    assert_int_equal(waitpid(pid, &status, 0), pid);

    ctx->st = test_open(ctx, ctx->kr);

    present = 0;

    for (i = 0; i < 300; i++) {
        snprintf(id, sizeof(id), "e%zu", i);
        if (omni_store_session_get(ctx->st, id, &s, err) == OMNI_STORE_OK) {
            present++;
        }
    }

    erased_before = (present == 0);
    assert_true(present == 0 || present == 300);
    assert_int_equal(omni_store_identity_resolve(ctx->st, "phone", TEST_PHONE,
                                                 got, err),
                     erased_before ? OMNI_STORE_NOT_FOUND : OMNI_STORE_OK);

    if (!erased_before) {
        assert_int_equal(omni_store_customer_erase(ctx->st, "cE", TEST_NOW,
                                                   NULL, err),
                         OMNI_STORE_OK);
    }

    assert_int_equal(omni_store_sessions_by_customer(ctx->st, "cE", NULL, ids,
                                                     8, &n, err),
                     OMNI_STORE_OK);
    assert_int_equal(n, 0);
    assert_int_equal(omni_store_identity_resolve(ctx->st, "phone", TEST_PHONE,
                                                 got, err),
                     OMNI_STORE_NOT_FOUND);
}


/*
 * Index-key rotation: batches of one, with lookups, links, an unlink and
 * a merge between them, every identity found all along; then the old
 * index key can leave the keyring.
 */
static void
test_sealed_reindex(void **state)
{
    int                    finished;
    char                   err[OMNI_ERRLEN], value[32], who[16];
    char                   got[OMNI_STORE_ID_MAX + 1];
    size_t                 i, n, done, total;
    uint32_t               from, to;
    test_ctx_t            *ctx;
    omni_store_identity_t  ids[16];

    ctx = *state;

    for (i = 0; i < 6; i++) {
        snprintf(value, sizeof(value), "+861380000%04zu", i);
        snprintf(who, sizeof(who), "c%zu", i % 3);
        test_link(ctx->st, "phone", value, who);
    }

    test_link(ctx->st, "openid", TEST_OPENID, "c0");

    assert_int_equal(omni_keyring_add_index(ctx->kr, err), 0);
    omni_store_close(ctx->st);
    ctx->st = test_open(ctx, ctx->kr);

    /* still keyed by version 1 until a rebuild */
    test_resolves(ctx->st, "openid", TEST_OPENID, "c0");

    total = 0;

    for (i = 0; i < 20; i++) {
        assert_int_equal(omni_store_reindex(ctx->st, 1, &done, &finished,
                                            &from, &to, err),
                         OMNI_STORE_OK);
        total += done;

        if (finished) {
            break;
        }

        assert_int_equal(from, 1);
        assert_int_equal(to, 2);

        /* both versions readable meanwhile */
        test_resolves(ctx->st, "openid", TEST_OPENID, "c0");
        test_resolves(ctx->st, "phone", "+8613800000005", i < 2 ? "c2" : "c1");

        if (i == 1) {
            test_link(ctx->st, "email", "A@Example.com", "c1");
            assert_int_equal(omni_store_identity_unlink(ctx->st, "phone",
                                                        "+8613800000004", err),
                             OMNI_STORE_OK);
            assert_int_equal(omni_store_customer_merge(ctx->st, "c2", "c1",
                                                       TEST_NOW, err),
                             OMNI_STORE_OK);
        }

        if (i >= 1) {
            test_resolves(ctx->st, "email", "a@example.com", "c1");
        }
    }

    assert_int_equal(finished, 1);
    assert_true(total >= 4);

    /* again: nothing to do */
    assert_int_equal(omni_store_reindex(ctx->st, 8, &done, &finished, NULL,
                                        NULL, err),
                     OMNI_STORE_OK);
    assert_int_equal(done, 0);
    assert_int_equal(finished, 1);

    /* index version 1 retired */
    assert_int_equal(omni_keyring_drop_index(ctx->kr, 1), 0);
    omni_store_close(ctx->st);
    ctx->st = test_open(ctx, ctx->kr);

    test_resolves(ctx->st, "openid", TEST_OPENID, "c0");
    test_resolves(ctx->st, "email", "a@example.com", "c1");
    test_resolves(ctx->st, "phone", "+8613800000005", "c1");
    test_resolves(ctx->st, "phone", "+8613800000000", "c0");
    assert_int_equal(omni_store_identity_resolve(ctx->st, "phone",
                                                 "+8613800000004", got, err),
                     OMNI_STORE_NOT_FOUND);

    assert_int_equal(omni_store_identities_by_customer(ctx->st, "c1", NULL,
                                                       ids, 16, &n, err),
                     OMNI_STORE_OK);
    assert_int_equal(n, 4);
}


/*
 * A process that opened a plain store without a keyring writes nothing
 * in clear once another process sealed it.
 */
static void
test_sealed_under_plain(void **state)
{
    int                    status;
    char                   err[OMNI_ERRLEN];
    pid_t                  pid;
    test_ctx_t            *ctx;

    ctx = *state;

    test_plain_store(ctx);
    test_link(ctx->st, "openid", "before-7", "cA");

    pid = fork();
    assert_true(pid >= 0);

    if (pid == 0) {
        omni_store_t  *sealed;

        sealed = omni_store_open(ctx->dir, TEST_MAP_MAX,
                                 OMNI_STORE_SYNC_NONE, err);
        _exit(sealed != NULL
              && omni_store_use_keyring(sealed, ctx->kr, err)
                 == OMNI_STORE_OK ? 0 : 1);
    }

    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);

    assert_int_equal(omni_store_identity_link(ctx->st, "openid",
                                              "CLEAR-VALUE-61", "cA", err),
                     OMNI_STORE_ERROR);
    assert_non_null(strstr(err, "was sealed with a keyring since"));
    test_put_session_rc(ctx->st, "s1", "cA", TEST_CONTEXT, OMNI_STORE_ERROR);

    omni_store_close(ctx->st);
    ctx->st = NULL;
    assert_false(test_file_has(ctx->dir, "CLEAR-VALUE-61"));
    assert_false(test_file_has(ctx->dir, "MARKER-CONTEXT"));

    ctx->st = test_open(ctx, ctx->kr);
    test_resolves(ctx->st, "openid", "before-7", "cA");
}


/* an export of a sealed store carries no value in clear */

typedef struct {
    int     found;
} test_export_t;


static int
test_export_record(void *data, const omni_store_record_t *rec)
{
    test_export_t  *ex;

    ex = data;

    if (memmem(rec->key, rec->key_len, TEST_OPENID, strlen(TEST_OPENID))
        || memmem(rec->val, rec->val_len, TEST_OPENID, strlen(TEST_OPENID))
        || memmem(rec->val, rec->val_len, "MARKER", 6))
    {
        ex->found = 1;
    }

    return 0;
}


static void
test_sealed_export(void **state)
{
    char            err[OMNI_ERRLEN];
    test_ctx_t     *ctx;
    test_export_t   ex;

    ctx = *state;

    test_link(ctx->st, "openid", TEST_OPENID, "cA");
    test_put_session(ctx->st, "s1", "cA", TEST_CONTEXT);

    ex.found = 0;
    assert_int_equal(omni_store_export(ctx->st, test_export_record, &ex, err),
                     OMNI_STORE_OK);
    assert_int_equal(ex.found, 0);
}


/* an export made before an erasure brings nothing of the customer back */

typedef struct {
    size_t                n;
    omni_store_record_t   recs[64];
} test_copy_t;


static int
test_copy_record(void *data, const omni_store_record_t *rec)
{
    test_copy_t  *cp;
    void         *key, *val;

    cp = data;
    assert_true(cp->n < 64);

    key = malloc(rec->key_len);
    val = malloc(rec->val_len + 1);
    assert_non_null(key);
    assert_non_null(val);
    memcpy(key, rec->key, rec->key_len);
    memcpy(val, rec->val, rec->val_len);

    cp->recs[cp->n] = *rec;
    cp->recs[cp->n].key = key;
    cp->recs[cp->n].val = val;
    cp->n++;

    return 0;
}


static void
test_sealed_import_erased(void **state)
{
    char                   err[OMNI_ERRLEN], got[OMNI_STORE_ID_MAX + 1];
    size_t                 i, skipped;
    test_ctx_t            *ctx;
    test_copy_t           *cp;
    omni_store_session_t   s;

    ctx = *state;

    test_link(ctx->st, "phone", TEST_PHONE, "cA");
    test_link(ctx->st, "openid", TEST_OPENID, "cB");
    test_put_session(ctx->st, "s1", "cA", TEST_CONTEXT);
    test_put_session(ctx->st, "s2", "cB", TEST_CONTEXT);

    test_journey(ctx->st, "cA");

    cp = calloc(1, sizeof(test_copy_t));
    assert_non_null(cp);
    assert_int_equal(omni_store_export(ctx->st, test_copy_record, cp, err),
                     OMNI_STORE_OK);

    assert_int_equal(omni_store_customer_erase(ctx->st, "cA", TEST_NOW, NULL,
                                               err),
                     OMNI_STORE_OK);

    assert_int_equal(omni_store_import(ctx->st, cp->recs, cp->n, &skipped,
                                       err),
                     OMNI_STORE_OK);

    /* identity, index entry, session, its index, journey, count, key */
    assert_int_equal(skipped, 7);

    assert_int_equal(omni_store_identity_resolve(ctx->st, "phone", TEST_PHONE,
                                                 got, err),
                     OMNI_STORE_NOT_FOUND);
    assert_int_equal(omni_store_session_get(ctx->st, "s1", &s, err),
                     OMNI_STORE_NOT_FOUND);
    test_resolves(ctx->st, "openid", TEST_OPENID, "cB");
    assert_int_equal(omni_store_session_get(ctx->st, "s2", &s, err),
                     OMNI_STORE_OK);

    for (i = 0; i < cp->n; i++) {
        free((void *) cp->recs[i].key);
        free((void *) cp->recs[i].val);
    }

    free(cp);
}


/*
 * An import never replaces a data key the store has, and refuses an
 * export keyed by another index version while the store has identities.
 */
static void
test_sealed_import_keys(void **state)
{
    char                   err[OMNI_ERRLEN];
    size_t                 i, n, skipped;
    test_ctx_t            *ctx;
    test_copy_t           *cp;
    omni_store_record_t    rec;
    omni_store_identity_t  ids[4];
    unsigned char          bad[128];
    uint32_t               from, to;
    int                    finished;

    ctx = *state;

    test_link(ctx->st, "openid", TEST_OPENID, "cA");

    cp = calloc(1, sizeof(test_copy_t));
    assert_non_null(cp);
    assert_int_equal(omni_store_export(ctx->st, test_copy_record, cp, err),
                     OMNI_STORE_OK);

    /* cA's data key, damaged, imported over the store's: not taken */
    for (i = 0; i < cp->n; i++) {
        if (cp->recs[i].db == OMNI_STORE_DB_CUSTOMERS
            && cp->recs[i].key_len == 4
            && memcmp(cp->recs[i].key, "cA\0K", 4) == 0)
        {
            break;
        }
    }

    assert_true(i < cp->n);
    rec = cp->recs[i];
    assert_true(rec.val_len <= sizeof(bad));
    memcpy(bad, rec.val, rec.val_len);
    bad[10] ^= 0x01;
    rec.val = bad;

    assert_int_equal(omni_store_import(ctx->st, &rec, 1, &skipped, err),
                     OMNI_STORE_OK);
    assert_int_equal(skipped, 0);
    assert_int_equal(omni_store_identities_by_customer(ctx->st, "cA", NULL,
                                                       ids, 4, &n, err),
                     OMNI_STORE_OK);
    assert_int_equal(n, 1);

    /* the store rebuilt under index version 2: the old export is refused */
    assert_int_equal(omni_keyring_add_index(ctx->kr, err), 0);
    omni_store_close(ctx->st);
    ctx->st = test_open(ctx, ctx->kr);

    do {
        assert_int_equal(omni_store_reindex(ctx->st, 8, &n, &finished, &from,
                                            &to, err),
                         OMNI_STORE_OK);
    } while (!finished);

    assert_int_equal(omni_store_import(ctx->st, cp->recs, cp->n, &skipped,
                                       err),
                     OMNI_STORE_INVALID);
    assert_non_null(strstr(err, "keyed by other index versions"));
    test_resolves(ctx->st, "openid", TEST_OPENID, "cA");

    for (i = 0; i < cp->n; i++) {
        free((void *) cp->recs[i].key);
        free((void *) cp->recs[i].val);
    }

    free(cp);
}


int
main(void)
{
#define TEST(name)  cmocka_unit_test_setup_teardown(name, test_setup,         \
                                                    test_teardown)

    const struct CMUnitTest  tests[] = {
        TEST(test_sealed_roundtrip),
        TEST(test_sealed_tamper),
        TEST(test_sealed_merge),
        TEST(test_sealed_erase),
        TEST(test_sealed_convert),
        TEST(test_sealed_rewrap),
        TEST(test_sealed_rewrap_killed),
        TEST(test_sealed_erase_killed),
        TEST(test_sealed_reindex),
        TEST(test_sealed_export),
        TEST(test_sealed_import_erased),
        TEST(test_sealed_import_keys),
        TEST(test_sealed_under_plain),
    };

#undef TEST

    return cmocka_run_group_tests_name("omni_store sealed", tests,
                                       test_group_setup, test_group_teardown);
}
