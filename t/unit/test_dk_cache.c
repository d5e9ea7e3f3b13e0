/*
 * Copyright (C) The omni gateway authors
 *
 * Unit tests of the data-key cache (module/omni_dk_cache.c).
 */


#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <string.h>
#include <cmocka.h>

#include "omni_dk_cache.h"


/* a wrapped key told apart by n; same_bucket keeps the hashed bytes */
static void
test_wrapped(unsigned char *w, unsigned n, int same_bucket)
{
    memset(w, 0, OMNI_SEAL_WRAPPED_LEN);
    w[0] = 'K';
    w[4] = 1;

    if (!same_bucket) {
        w[5] = (unsigned char) n;
        w[6] = (unsigned char) (n >> 8);
    }

    /* the tag, as unique as the nonce */
    w[OMNI_SEAL_WRAPPED_LEN - 2] = (unsigned char) n;
    w[OMNI_SEAL_WRAPPED_LEN - 1] = (unsigned char) (n >> 8);
}


static void
test_dk(unsigned char *dk, unsigned n)
{
    memset(dk, (int) (n & 0xff), OMNI_SEAL_KEY_LEN);
    dk[0] = (unsigned char) (n >> 8);
}


static void
test_bounds(void **state)
{
    (void) state;

    assert_null(omni_dk_cache_new(0));
    assert_null(omni_dk_cache_new(OMNI_DK_CACHE_MAX + 1));

    omni_dk_cache_free(NULL);
}


static void
test_get_put(void **state)
{
    unsigned char     w[OMNI_SEAL_WRAPPED_LEN];
    unsigned char     dk[OMNI_SEAL_KEY_LEN], got[OMNI_SEAL_KEY_LEN];
    omni_dk_cache_t  *c;

    (void) state;

    c = omni_dk_cache_new(8);
    assert_non_null(c);

    test_wrapped(w, 1, 0);
    test_dk(dk, 1);

    assert_int_equal(omni_dk_cache_get(c, w, got), 0);

    omni_dk_cache_put(c, w, dk);
    memset(got, 0, sizeof(got));
    assert_int_equal(omni_dk_cache_get(c, w, got), 1);
    assert_memory_equal(got, dk, OMNI_SEAL_KEY_LEN);

    /* a wrapped key that differs in its last byte is another key */
    w[OMNI_SEAL_WRAPPED_LEN - 1] ^= 1;
    assert_int_equal(omni_dk_cache_get(c, w, got), 0);
    w[OMNI_SEAL_WRAPPED_LEN - 1] ^= 1;

    /* put again: the newer key wins, one entry */
    test_dk(dk, 2);
    omni_dk_cache_put(c, w, dk);
    assert_int_equal(omni_dk_cache_get(c, w, got), 1);
    assert_memory_equal(got, dk, OMNI_SEAL_KEY_LEN);

    assert_int_equal(omni_dk_cache_stats(c)->hits, 2);
    assert_int_equal(omni_dk_cache_stats(c)->misses, 2);
    assert_int_equal(omni_dk_cache_stats(c)->entries, 1);

    omni_dk_cache_clear(c);
    assert_int_equal(omni_dk_cache_get(c, w, got), 0);
    assert_int_equal(omni_dk_cache_stats(c)->entries, 0);

    omni_dk_cache_free(c);
}


/* the least recently used goes first, whether the keys share a bucket */
static void
test_lru(int same_bucket)
{
    unsigned          i;
    unsigned char     w[OMNI_SEAL_WRAPPED_LEN];
    unsigned char     dk[OMNI_SEAL_KEY_LEN], got[OMNI_SEAL_KEY_LEN];
    omni_dk_cache_t  *c;

    c = omni_dk_cache_new(4);
    assert_non_null(c);

    for (i = 0; i < 4; i++) {
        test_wrapped(w, i, same_bucket);
        test_dk(dk, i);
        omni_dk_cache_put(c, w, dk);
    }

    /* 0 used again: 1 is now the oldest */
    test_wrapped(w, 0, same_bucket);
    assert_int_equal(omni_dk_cache_get(c, w, got), 1);

    for (i = 4; i < 6; i++) {
        test_wrapped(w, i, same_bucket);
        test_dk(dk, i);
        omni_dk_cache_put(c, w, dk);
    }

    assert_int_equal(omni_dk_cache_stats(c)->evictions, 2);
    assert_int_equal(omni_dk_cache_stats(c)->entries, 4);

    for (i = 0; i < 6; i++) {
        test_wrapped(w, i, same_bucket);
        test_dk(dk, i);

        if (i == 1 || i == 2) {
            assert_int_equal(omni_dk_cache_get(c, w, got), 0);
            continue;
        }

        assert_int_equal(omni_dk_cache_get(c, w, got), 1);
        assert_memory_equal(got, dk, OMNI_SEAL_KEY_LEN);
    }

    /* a long run through a full cache keeps only the newest */
    for (i = 100; i < 1100; i++) {
        test_wrapped(w, i, same_bucket);
        test_dk(dk, i);
        omni_dk_cache_put(c, w, dk);
    }

    for (i = 1090; i < 1100; i++) {
        test_wrapped(w, i, same_bucket);
        assert_int_equal(omni_dk_cache_get(c, w, got), i >= 1096);
    }

    omni_dk_cache_free(c);
}


static void
test_lru_buckets(void **state)
{
    (void) state;

    test_lru(0);
}


static void
test_lru_one_chain(void **state)
{
    (void) state;

    test_lru(1);
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(test_bounds),
        cmocka_unit_test(test_get_put),
        cmocka_unit_test(test_lru_buckets),
        cmocka_unit_test(test_lru_one_chain),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
