/*
 * Copyright (C) The omni gateway authors
 *
 * Unit tests of the verified-token cache core: bounds by entries and by
 * bytes, LRU order, expiry, configuration identity, references and
 * statistics.  Values are small counted allocations, not tokens.
 */


#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "omni_siphash.h"
#include "omni_token_cache.h"


#define TEST_NOW  1700000000


typedef struct {
    int   id;
    char  text[16];
} test_value_t;


static int  test_freed;

/* two configurations: only their addresses matter */
static const int  test_conf_a = 1;
static const int  test_conf_b = 2;


static void
test_value_free(void *value)
{
    test_freed++;
    free(value);
}


static test_value_t *
test_value(int id)
{
    test_value_t  *v;

    v = malloc(sizeof(test_value_t));
    assert_non_null(v);

    v->id = id;
    snprintf(v->text, sizeof(v->text), "value %d", id);

    return v;
}


static void
test_key(omni_token_cache_t *cache, unsigned char *key, int id)
{
    char  token[32];

    snprintf(token, sizeof(token), "token-%d", id);
    omni_token_cache_key(cache, token, strlen(token), key);
}


/* puts value id under key id, valid until expires, and lets go of it */
static void
test_put(omni_token_cache_t *cache, int id, const void *conf, size_t bytes,
    time_t expires, time_t now)
{
    unsigned char              key[OMNI_TOKEN_CACHE_KEY_LEN];
    omni_token_cache_entry_t  *e;

    test_key(cache, key, id);

    e = omni_token_cache_put(cache, key, conf, test_value(id), bytes,
                             expires, now);
    assert_non_null(e);
    assert_int_equal(((test_value_t *) omni_token_cache_value(e))->id, id);

    omni_token_cache_release(e);
}


/* the id of the value found under key id, 0 on a miss */
static int
test_get(omni_token_cache_t *cache, int id, const void *conf, time_t now)
{
    int                        found;
    unsigned char              key[OMNI_TOKEN_CACHE_KEY_LEN];
    omni_token_cache_entry_t  *e;

    test_key(cache, key, id);

    e = omni_token_cache_get(cache, key, conf, now);
    if (e == NULL) {
        return 0;
    }

    found = ((test_value_t *) omni_token_cache_value(e))->id;
    omni_token_cache_release(e);

    return found;
}


static omni_token_cache_t *
test_cache(size_t entries, size_t bytes, time_t ttl)
{
    omni_token_cache_t  *cache;

    test_freed = 0;

    cache = omni_token_cache_new(entries, bytes, ttl, test_value_free);
    assert_non_null(cache);

    return cache;
}


static void
test_cache_key(void **state)
{
    unsigned char        a[OMNI_TOKEN_CACHE_KEY_LEN];
    unsigned char        b[OMNI_TOKEN_CACHE_KEY_LEN];
    omni_token_cache_t  *one, *two;

    (void) state;

    one = test_cache(4, 1 << 20, 300);
    two = test_cache(4, 1 << 20, 300);

    /* the same token, the same key in one cache */
    omni_token_cache_key(one, "abc", 3, a);
    omni_token_cache_key(one, "abcd", 3, b);
    assert_memory_equal(a, b, sizeof(a));

    omni_token_cache_key(one, "abd", 3, b);
    assert_memory_not_equal(a, b, sizeof(a));

    /* each cache its own secret: keys made elsewhere say nothing here */
    omni_token_cache_key(two, "abc", 3, b);
    assert_memory_not_equal(a, b, sizeof(a));

    omni_token_cache_free(one);
    omni_token_cache_free(two);
}


/*
 * SipHash-2-4's 128-bit output against OpenSSL's (EVP_MAC "SIPHASH",
 * size 16: "openssl mac -macopt hexkey:0001..0f -macopt size:16"), an
 * implementation of its own: the empty message (the first of the
 * reference vectors), 15 bytes 00..0e (the paper's message), and a token
 * of 69 bytes (eight words and five bytes).
 */
static void
test_siphash(void **state)
{
    size_t         i;
    unsigned char  key[OMNI_SIPHASH_KEY_LEN], msg[15], out[OMNI_SIPHASH_LEN];

    static const char  token[] =
        "eyJhbGciOiJIUzI1NiIsImtpZCI6ImhzIn0.eyJzdWIiOiJiZW5jaCJ9."
        "c2lnbmF0dXJl";

    static const unsigned char  empty[] = {
        0xa3, 0x81, 0x7f, 0x04, 0xba, 0x25, 0xa8, 0xe6,
        0x6d, 0xf6, 0x72, 0x14, 0xc7, 0x55, 0x02, 0x93
    };
    static const unsigned char  fifteen[] = {
        0x54, 0x93, 0xe9, 0x99, 0x33, 0xb0, 0xa8, 0x11,
        0x7e, 0x08, 0xec, 0x0f, 0x97, 0xcf, 0xc3, 0xd9
    };
    static const unsigned char  jwt[] = {
        0x44, 0x19, 0xaa, 0x8a, 0x7c, 0x8c, 0x68, 0x02,
        0x8b, 0xd4, 0x1c, 0xc4, 0x12, 0x7f, 0x66, 0x27
    };

    (void) state;

    for (i = 0; i < sizeof(key); i++) {
        key[i] = (unsigned char) i;
    }

    for (i = 0; i < sizeof(msg); i++) {
        msg[i] = (unsigned char) i;
    }

    omni_siphash128(key, "", 0, out);
    assert_memory_equal(out, empty, sizeof(out));

    omni_siphash128(key, msg, sizeof(msg), out);
    assert_memory_equal(out, fifteen, sizeof(out));

    omni_siphash128(key, token, sizeof(token) - 1, out);
    assert_memory_equal(out, jwt, sizeof(out));
}


static void
test_cache_hit_miss(void **state)
{
    omni_token_cache_t              *cache;
    const omni_token_cache_stats_t  *stats;

    (void) state;

    cache = test_cache(8, 1 << 20, 300);
    stats = omni_token_cache_stats(cache);

    assert_int_equal(test_get(cache, 1, &test_conf_a, TEST_NOW), 0);
    test_put(cache, 1, &test_conf_a, 100, 0, TEST_NOW);

    assert_int_equal(test_get(cache, 1, &test_conf_a, TEST_NOW), 1);
    assert_int_equal(test_get(cache, 1, &test_conf_a, TEST_NOW + 1), 1);
    assert_int_equal(test_get(cache, 2, &test_conf_a, TEST_NOW), 0);

    assert_int_equal(stats->hits, 2);
    assert_int_equal(stats->misses, 2);
    assert_int_equal(stats->entries, 1);
    assert_true(stats->bytes >= 100);
    assert_int_equal(test_freed, 0);

    omni_token_cache_free(cache);
    assert_int_equal(test_freed, 1);
}


static void
test_cache_conf_identity(void **state)
{
    unsigned char              key[OMNI_TOKEN_CACHE_KEY_LEN];
    omni_token_cache_t        *cache;
    omni_token_cache_entry_t  *a, *b;

    (void) state;

    cache = test_cache(8, 1 << 20, 300);

    /* verified under one configuration, unknown under another */
    test_put(cache, 1, &test_conf_a, 100, 0, TEST_NOW);
    assert_int_equal(test_get(cache, 1, &test_conf_b, TEST_NOW), 0);
    assert_int_equal(test_get(cache, 1, &test_conf_a, TEST_NOW), 1);

    /* the same token under both: two entries, each its own value */
    test_key(cache, key, 1);
    b = omni_token_cache_put(cache, key, &test_conf_b, test_value(2), 100, 0,
                             TEST_NOW);
    assert_non_null(b);
    omni_token_cache_release(b);

    a = omni_token_cache_get(cache, key, &test_conf_a, TEST_NOW);
    b = omni_token_cache_get(cache, key, &test_conf_b, TEST_NOW);
    assert_non_null(a);
    assert_non_null(b);
    assert_ptr_not_equal(a, b);
    assert_int_equal(((test_value_t *) omni_token_cache_value(a))->id, 1);
    assert_int_equal(((test_value_t *) omni_token_cache_value(b))->id, 2);
    omni_token_cache_release(a);
    omni_token_cache_release(b);

    assert_int_equal(omni_token_cache_stats(cache)->entries, 2);

    /* put again under one conf: the older entry makes way */
    test_put(cache, 1, &test_conf_a, 100, 0, TEST_NOW);
    assert_int_equal(omni_token_cache_stats(cache)->entries, 2);
    assert_int_equal(omni_token_cache_stats(cache)->evictions, 0);
    assert_int_equal(test_freed, 1);

    omni_token_cache_free(cache);
    assert_int_equal(test_freed, 3);
}


static void
test_cache_bound_entries(void **state)
{
    int                              i;
    omni_token_cache_t              *cache;
    const omni_token_cache_stats_t  *stats;

    (void) state;

    cache = test_cache(3, 1 << 20, 300);
    stats = omni_token_cache_stats(cache);

    for (i = 1; i <= 3; i++) {
        test_put(cache, i, &test_conf_a, 100, 0, TEST_NOW);
    }

    /* 1 was used last: 2 is the least recently used */
    assert_int_equal(test_get(cache, 1, &test_conf_a, TEST_NOW), 1);
    test_put(cache, 4, &test_conf_a, 100, 0, TEST_NOW);

    assert_int_equal(stats->entries, 3);
    assert_int_equal(stats->evictions, 1);
    assert_int_equal(test_freed, 1);
    assert_int_equal(test_get(cache, 2, &test_conf_a, TEST_NOW), 0);
    assert_int_equal(test_get(cache, 1, &test_conf_a, TEST_NOW), 1);
    assert_int_equal(test_get(cache, 3, &test_conf_a, TEST_NOW), 3);
    assert_int_equal(test_get(cache, 4, &test_conf_a, TEST_NOW), 4);

    /* now 1 is the oldest again */
    test_put(cache, 5, &test_conf_a, 100, 0, TEST_NOW);
    assert_int_equal(test_get(cache, 1, &test_conf_a, TEST_NOW), 0);
    assert_int_equal(stats->entries, 3);
    assert_int_equal(stats->evictions, 2);

    omni_token_cache_free(cache);
    assert_int_equal(test_freed, 5);
}


static void
test_cache_bound_bytes(void **state)
{
    size_t                           each;
    unsigned char                    key[OMNI_TOKEN_CACHE_KEY_LEN];
    omni_token_cache_t              *cache;
    omni_token_cache_entry_t        *e;
    const omni_token_cache_stats_t  *stats;

    (void) state;

    /* room for two entries of 1000 bytes and what an entry costs itself */
    cache = test_cache(100, 2500, 300);
    stats = omni_token_cache_stats(cache);

    test_put(cache, 1, &test_conf_a, 1000, 0, TEST_NOW);
    each = stats->bytes;
    assert_true(each > 1000 && each < 1250);

    test_put(cache, 2, &test_conf_a, 1000, 0, TEST_NOW);
    assert_int_equal(stats->bytes, 2 * each);

    test_put(cache, 3, &test_conf_a, 1000, 0, TEST_NOW);
    assert_int_equal(stats->entries, 2);
    assert_int_equal(stats->bytes, 2 * each);
    assert_int_equal(stats->evictions, 1);
    assert_int_equal(test_get(cache, 1, &test_conf_a, TEST_NOW), 0);

    /* a large one pushes out as many as it needs */
    test_put(cache, 4, &test_conf_a, 2000, 0, TEST_NOW);
    assert_int_equal(stats->entries, 1);
    assert_int_equal(stats->evictions, 3);
    assert_int_equal(test_get(cache, 4, &test_conf_a, TEST_NOW), 4);

    /* one larger than the whole cache is handed back, but not kept */
    test_key(cache, key, 5);
    e = omni_token_cache_put(cache, key, &test_conf_a, test_value(5), 3000,
                             0, TEST_NOW);
    assert_non_null(e);
    assert_int_equal(((test_value_t *) omni_token_cache_value(e))->id, 5);
    assert_int_equal(stats->entries, 1);
    assert_int_equal(stats->evictions, 3);

    omni_token_cache_release(e);
    assert_int_equal(test_freed, 4);
    assert_int_equal(test_get(cache, 5, &test_conf_a, TEST_NOW), 0);
    assert_int_equal(test_get(cache, 4, &test_conf_a, TEST_NOW), 4);

    omni_token_cache_free(cache);
    assert_int_equal(test_freed, 5);
}


static void
test_cache_expiry(void **state)
{
    unsigned char                    key[OMNI_TOKEN_CACHE_KEY_LEN];
    omni_token_cache_t              *cache;
    omni_token_cache_entry_t        *e;
    const omni_token_cache_stats_t  *stats;

    (void) state;

    cache = test_cache(8, 1 << 20, 300);
    stats = omni_token_cache_stats(cache);

    /* the token's own end (exp + leeway) comes before the ttl */
    test_put(cache, 1, &test_conf_a, 100, TEST_NOW + 60, TEST_NOW);
    assert_int_equal(test_get(cache, 1, &test_conf_a, TEST_NOW + 59), 1);
    assert_int_equal(test_get(cache, 1, &test_conf_a, TEST_NOW + 60), 0);
    assert_int_equal(stats->expirations, 1);
    assert_int_equal(stats->entries, 0);
    assert_int_equal(stats->bytes, 0);
    assert_int_equal(test_freed, 1);

    /* the ttl comes before a far end, and bounds a token without one */
    test_put(cache, 2, &test_conf_a, 100, TEST_NOW + 86400, TEST_NOW);
    test_put(cache, 3, &test_conf_a, 100, 0, TEST_NOW);
    assert_int_equal(test_get(cache, 2, &test_conf_a, TEST_NOW + 299), 2);
    assert_int_equal(test_get(cache, 3, &test_conf_a, TEST_NOW + 299), 3);
    assert_int_equal(test_get(cache, 2, &test_conf_a, TEST_NOW + 300), 0);
    assert_int_equal(test_get(cache, 3, &test_conf_a, TEST_NOW + 301), 0);
    assert_int_equal(stats->expirations, 3);

    /* a hit does not extend an entry's life */
    test_put(cache, 4, &test_conf_a, 100, TEST_NOW + 10, TEST_NOW);
    assert_int_equal(test_get(cache, 4, &test_conf_a, TEST_NOW + 9), 4);
    assert_int_equal(test_get(cache, 4, &test_conf_a, TEST_NOW + 10), 0);

    /* already over when put: handed back, never kept */
    test_key(cache, key, 5);
    e = omni_token_cache_put(cache, key, &test_conf_a, test_value(5), 100,
                             TEST_NOW, TEST_NOW);
    assert_non_null(e);
    assert_int_equal(stats->entries, 0);
    omni_token_cache_release(e);
    assert_int_equal(test_get(cache, 5, &test_conf_a, TEST_NOW - 1), 0);

    assert_int_equal(test_freed, 5);
    omni_token_cache_free(cache);
}


static void
test_cache_references(void **state)
{
    int                        i;
    unsigned char              key[OMNI_TOKEN_CACHE_KEY_LEN];
    test_value_t              *v;
    omni_token_cache_t        *cache;
    omni_token_cache_entry_t  *held, *again;

    (void) state;

    cache = test_cache(2, 1 << 20, 300);

    /* a request holds the entry it was given */
    test_key(cache, key, 1);
    held = omni_token_cache_put(cache, key, &test_conf_a, test_value(1), 100,
                                0, TEST_NOW);
    assert_non_null(held);
    v = omni_token_cache_value(held);

    again = omni_token_cache_get(cache, key, &test_conf_a, TEST_NOW);
    assert_ptr_equal(again, held);
    omni_token_cache_release(again);

    /* evicted meanwhile: still there for its holder */
    for (i = 2; i <= 3; i++) {
        test_put(cache, i, &test_conf_a, 100, 0, TEST_NOW);
    }

    assert_int_equal(omni_token_cache_stats(cache)->evictions, 1);
    assert_int_equal(test_get(cache, 1, &test_conf_a, TEST_NOW), 0);
    assert_int_equal(test_freed, 0);
    assert_ptr_equal(omni_token_cache_value(held), v);
    assert_string_equal(v->text, "value 1");

    /* the last holder frees it */
    omni_token_cache_release(held);
    assert_int_equal(test_freed, 1);

    /* expired while held: the same */
    test_key(cache, key, 4);
    held = omni_token_cache_put(cache, key, &test_conf_a, test_value(4), 100,
                                TEST_NOW + 5, TEST_NOW);
    assert_int_equal(test_get(cache, 4, &test_conf_a, TEST_NOW + 5), 0);
    assert_int_equal(test_freed, 2);
    assert_string_equal(((test_value_t *) omni_token_cache_value(held))->text,
                        "value 4");
    omni_token_cache_release(held);
    assert_int_equal(test_freed, 3);

    /* and the cache itself may go first */
    test_key(cache, key, 5);
    held = omni_token_cache_put(cache, key, &test_conf_a, test_value(5), 100,
                                0, TEST_NOW);
    omni_token_cache_free(cache);
    assert_int_equal(test_freed, 4);
    assert_string_equal(((test_value_t *) omni_token_cache_value(held))->text,
                        "value 5");
    omni_token_cache_release(held);
    assert_int_equal(test_freed, 5);
}


static void
test_cache_many(void **state)
{
    int                              i;
    omni_token_cache_t              *cache;
    const omni_token_cache_stats_t  *stats;

    (void) state;

    /* more entries than buckets would hold alone, and churn through them */
    cache = test_cache(1000, 1 << 30, 300);
    stats = omni_token_cache_stats(cache);

    for (i = 1; i <= 5000; i++) {
        test_put(cache, i, (i & 1) ? &test_conf_a : &test_conf_b, 10, 0,
                 TEST_NOW);
    }

    assert_int_equal(stats->entries, 1000);
    assert_int_equal(stats->evictions, 4000);

    for (i = 4001; i <= 5000; i++) {
        assert_int_equal(test_get(cache, i,
                                  (i & 1) ? &test_conf_a : &test_conf_b,
                                  TEST_NOW), i);
    }

    assert_int_equal(test_get(cache, 4000, &test_conf_b, TEST_NOW), 0);
    assert_int_equal(stats->hits, 1000);
    assert_int_equal(stats->misses, 1);

    omni_token_cache_free(cache);
    assert_int_equal(test_freed, 5000);
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(test_cache_key),
        cmocka_unit_test(test_siphash),
        cmocka_unit_test(test_cache_hit_miss),
        cmocka_unit_test(test_cache_conf_identity),
        cmocka_unit_test(test_cache_bound_entries),
        cmocka_unit_test(test_cache_bound_bytes),
        cmocka_unit_test(test_cache_expiry),
        cmocka_unit_test(test_cache_references),
        cmocka_unit_test(test_cache_many),
    };

    return cmocka_run_group_tests_name("omni_token_cache", tests, NULL,
                                       NULL);
}
