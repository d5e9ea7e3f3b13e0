/*
 * Copyright (C) The omni gateway authors
 *
 * The affinity table (omni_limit.h): a pool set is found again until
 * its time is up; keys apart by kind and parts; a full probe run replaces
 * its oldest slot and never a newer one; a second layout keeps the table
 * (an nginx reload), another size resets it.
 */


#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "omni_limit.h"


static uint64_t  mem[1024];


static omni_affinity_t *
test_table(size_t slots)
{
    int               kept;
    omni_affinity_t  *a;

    memset(mem, 0, sizeof(mem));
    a = omni_affinity_init(mem, omni_affinity_size(slots), 5, &kept);
    assert_non_null(a);
    assert_int_equal(kept, 0);

    return a;
}


static void
test_set_get(void **state)
{
    uint64_t          h;
    omni_affinity_t  *a;

    (void) state;

    a = test_table(64);
    h = omni_affinity_hash(a, 'c', "cust-1", 6, NULL, 0);

    assert_int_equal(omni_affinity_get(a, h, 100, 60), -1);

    omni_affinity_set(a, h, 3, 100);
    assert_int_equal(omni_affinity_get(a, h, 100, 60), 3);
    assert_int_equal(omni_affinity_get(a, h, 159, 60), 3);
    assert_int_equal(omni_affinity_get(a, h, 160, 60), -1);

    /* set again: another pool, the time refreshed */
    omni_affinity_set(a, h, 1, 150);
    assert_int_equal(omni_affinity_get(a, h, 200, 60), 1);

    /* keys apart */
    assert_true(omni_affinity_hash(a, 'c', "ab", 2, NULL, 0)
                != omni_affinity_hash(a, 's', "ab", 2, NULL, 0));
    assert_true(omni_affinity_hash(a, 'i', "ab", 2, "c", 1)
                != omni_affinity_hash(a, 'i', "a", 1, "bc", 2));
    assert_int_equal(omni_affinity_get(a,
                         omni_affinity_hash(a, 'c', "cust-2", 6, NULL, 0),
                         200, 60),
                     -1);
}


static void
test_full(void **state)
{
    int               i;
    char              key[16];
    uint64_t          h[OMNI_AFFINITY_PROBES + 1];
    omni_affinity_t  *a;

    (void) state;

    /* as many slots as probes: every key looks at every slot */
    a = test_table(OMNI_AFFINITY_PROBES);

    for (i = 0; i < OMNI_AFFINITY_PROBES; i++) {
        snprintf(key, sizeof(key), "k%d", i);
        h[i] = omni_affinity_hash(a, 'c', key, strlen(key), NULL, 0);
        omni_affinity_set(a, h[i], (uint32_t) i, (uint32_t) (10 + i));
    }

    h[i] = omni_affinity_hash(a, 'c', "late", 4, NULL, 0);
    omni_affinity_set(a, h[i], 7, 100);

    /* the oldest, k0, made room; the others stay */
    assert_int_equal(omni_affinity_get(a, h[i], 100, 1000), 7);
    assert_int_equal(omni_affinity_get(a, h[0], 100, 1000), -1);

    for (i = 1; i < OMNI_AFFINITY_PROBES; i++) {
        assert_int_equal(omni_affinity_get(a, h[i], 100, 1000), i);
    }
}


static void
test_layout(void **state)
{
    int               kept;
    uint64_t          h;
    omni_affinity_t  *a;

    (void) state;

    assert_null(omni_affinity_init(mem, 8, 1, &kept));
    assert_null(omni_affinity_init((char *) mem + 4, omni_affinity_size(4),
                                   1, &kept));

    a = test_table(32);
    h = omni_affinity_hash(a, 'c', "x", 1, NULL, 0);
    omni_affinity_set(a, h, 2, 10);

    a = omni_affinity_init(mem, omni_affinity_size(32), 9, &kept);
    assert_int_equal(kept, 1);
    assert_int_equal(omni_affinity_hash(a, 'c', "x", 1, NULL, 0), h);
    assert_int_equal(omni_affinity_get(a, h, 10, 5), 2);

    a = omni_affinity_init(mem, omni_affinity_size(16), 9, &kept);
    assert_int_equal(kept, 0);
    assert_int_equal(omni_affinity_get(a, h, 10, 5), -1);
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(test_set_get),
        cmocka_unit_test(test_full),
        cmocka_unit_test(test_layout),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
