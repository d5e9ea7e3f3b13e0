/*
 * Copyright (C) The omni gateway authors
 *
 * The rate limits' buckets (omni_limit.h): the cell rate algorithm's
 * bursts, refills and waits; buckets of distinct callers and limits kept
 * apart; a full table that lets requests through uncounted rather than
 * evict a bucket in use, and reuses a bucket full again; a table kept
 * across a second layout (an nginx reload); two processes sharing one.
 */


#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "omni_limit.h"


#define S  UINT64_C(1000000)          /* a second in µs */


static uint64_t  mem[4096];


static omni_limit_table_t *
test_table(size_t slots)
{
    int                  kept;
    omni_limit_table_t  *t;

    memset(mem, 0, sizeof(mem));
    t = omni_limit_init(mem, omni_limit_size(slots), 42, &kept);
    assert_non_null(t);
    assert_int_equal(kept, 0);
    assert_int_equal(omni_limit_slots(t), slots);

    return t;
}


static uint64_t
test_key(omni_limit_table_t *t, const char *who)
{
    return omni_limit_hash(t, "default", 7, 'c', who, strlen(who), NULL, 0);
}


static void
test_burst_then_rate(void **state)
{
    int                  i;
    uint64_t             h, wait, now;
    omni_limit_table_t  *t;

    (void) state;

    t = test_table(64);
    h = test_key(t, "alice");
    now = 1000 * S;

    /* 3 at once, then one a second */
    for (i = 0; i < 3; i++) {
        assert_int_equal(omni_limit_take(t, h, now, S, 2 * S, &wait),
                         OMNI_LIMIT_PASS);
    }

    wait = 0;
    assert_int_equal(omni_limit_take(t, h, now, S, 2 * S, &wait),
                     OMNI_LIMIT_OVER);
    assert_int_equal(wait, S);

    /* a refused request takes nothing: the wait only shrinks */
    assert_int_equal(omni_limit_take(t, h, now + S / 2, S, 2 * S, &wait),
                     OMNI_LIMIT_OVER);
    assert_int_equal(wait, S / 2);

    assert_int_equal(omni_limit_take(t, h, now + S, S, 2 * S, &wait),
                     OMNI_LIMIT_PASS);
    assert_int_equal(omni_limit_take(t, h, now + S, S, 2 * S, &wait),
                     OMNI_LIMIT_OVER);

    /* long idle: the bucket is full again, not fuller */
    now += 100 * S;

    for (i = 0; i < 3; i++) {
        assert_int_equal(omni_limit_take(t, h, now, S, 2 * S, &wait),
                         OMNI_LIMIT_PASS);
    }

    assert_int_equal(omni_limit_take(t, h, now, S, 2 * S, &wait),
                     OMNI_LIMIT_OVER);
}


static void
test_burst_of_one(void **state)
{
    uint64_t             h, wait;
    omni_limit_table_t  *t;

    (void) state;

    t = test_table(64);
    h = test_key(t, "bob");

    assert_int_equal(omni_limit_take(t, h, 5 * S, 720 * S, 0, &wait),
                     OMNI_LIMIT_PASS);
    assert_int_equal(omni_limit_take(t, h, 5 * S, 720 * S, 0, &wait),
                     OMNI_LIMIT_OVER);
    assert_int_equal(wait, 720 * S);
    assert_int_equal(omni_limit_take(t, h, 725 * S, 720 * S, 0, &wait),
                     OMNI_LIMIT_PASS);
}


static void
test_keys_apart(void **state)
{
    uint64_t             a, b, wait;
    omni_limit_table_t  *t;

    (void) state;

    t = test_table(64);

    /* parts, kinds and limits all separate buckets */
    assert_true(omni_limit_hash(t, "x", 1, 'i', "ab", 2, "c", 1)
                != omni_limit_hash(t, "x", 1, 'i', "a", 1, "bc", 2));
    assert_true(omni_limit_hash(t, "x", 1, 'c', "ab", 2, NULL, 0)
                != omni_limit_hash(t, "x", 1, 's', "ab", 2, NULL, 0));
    assert_true(omni_limit_hash(t, "x", 1, 'c', "ab", 2, NULL, 0)
                != omni_limit_hash(t, "y", 1, 'c', "ab", 2, NULL, 0));
    assert_true(omni_limit_hash(t, "xa", 2, 'c', "b", 1, NULL, 0)
                != omni_limit_hash(t, "x", 1, 'c', "ab", 2, NULL, 0));
    assert_int_equal(omni_limit_hash(t, "x", 1, 'c', "ab", 2, NULL, 0),
                     omni_limit_hash(t, "x", 1, 'c', "ab", 2, NULL, 0));

    a = test_key(t, "carol");
    b = test_key(t, "dave");

    assert_int_equal(omni_limit_take(t, a, S, S, 0, &wait), OMNI_LIMIT_PASS);
    assert_int_equal(omni_limit_take(t, a, S, S, 0, &wait), OMNI_LIMIT_OVER);
    assert_int_equal(omni_limit_take(t, b, S, S, 0, &wait), OMNI_LIMIT_PASS);
}


static void
test_seeded(void **state)
{
    int                  kept;
    uint64_t             h1, h2;
    omni_limit_table_t  *t;
    static uint64_t      other[64];

    (void) state;

    t = test_table(16);
    h1 = test_key(t, "erin");

    t = omni_limit_init(other, sizeof(other), 43, &kept);
    assert_non_null(t);
    h2 = test_key(t, "erin");

    assert_true(h1 != h2);
}


/* a full table passes new callers uncounted, and reuses full buckets */
static void
test_full(void **state)
{
    int                  i;
    char                 who[16];
    uint64_t             wait, h;
    omni_limit_table_t  *t;

    (void) state;

    t = test_table(4);

    for (i = 0; i < 4; i++) {
        snprintf(who, sizeof(who), "c%d", i);
        assert_int_equal(omni_limit_take(t, test_key(t, who), S, 10 * S, 0,
                                         &wait),
                         OMNI_LIMIT_PASS);
    }

    assert_int_equal(omni_limit_used(t, S), 4);

    h = test_key(t, "late");
    assert_int_equal(omni_limit_take(t, h, S, 10 * S, 0, &wait),
                     OMNI_LIMIT_UNTRACKED);

    /* those in use keep their state */
    assert_int_equal(omni_limit_take(t, test_key(t, "c2"), 2 * S, 10 * S, 0,
                                     &wait),
                     OMNI_LIMIT_OVER);

    /* once full again, a bucket's slot goes to whoever needs one */
    assert_int_equal(omni_limit_used(t, 11 * S), 0);
    assert_int_equal(omni_limit_take(t, h, 11 * S, 10 * S, 0, &wait),
                     OMNI_LIMIT_PASS);
    assert_int_equal(omni_limit_take(t, h, 11 * S, 10 * S, 0, &wait),
                     OMNI_LIMIT_OVER);
    assert_int_equal(omni_limit_used(t, 11 * S), 1);

    /* a bucket past a reused slot is still found, not doubled */
    for (i = 0; i < 4; i++) {
        snprintf(who, sizeof(who), "c%d", i);
        (void) omni_limit_take(t, test_key(t, who), 11 * S, 10 * S, 0,
                               &wait);
    }

    assert_int_equal(omni_limit_take(t, h, 12 * S, 10 * S, 0, &wait),
                     OMNI_LIMIT_OVER);
}


static void
test_layout(void **state)
{
    int                  kept;
    uint64_t             h, wait;
    omni_limit_table_t  *t;

    (void) state;

    assert_null(omni_limit_init(mem, 8, 1, &kept));
    assert_int_equal(omni_limit_capacity(8), 0);
    assert_null(omni_limit_init((char *) mem + 4, omni_limit_size(4), 1,
                                &kept));
    assert_int_equal(omni_limit_capacity(omni_limit_size(10)), 10);

    t = test_table(32);
    h = test_key(t, "frank");
    assert_int_equal(omni_limit_take(t, h, S, S, 0, &wait), OMNI_LIMIT_PASS);

    /* a reload: the same block, the buckets and the first seed kept */
    t = omni_limit_init(mem, omni_limit_size(32), 99, &kept);
    assert_non_null(t);
    assert_int_equal(kept, 1);
    assert_int_equal(test_key(t, "frank"), h);
    assert_int_equal(omni_limit_take(t, h, S, S, 0, &wait), OMNI_LIMIT_OVER);

    /* another size is another table */
    t = omni_limit_init(mem, omni_limit_size(16), 99, &kept);
    assert_non_null(t);
    assert_int_equal(kept, 0);
}


/* two processes take from one bucket in shared memory */
static void
test_shared(void **state)
{
    int                  kept, status, i, passed;
    pid_t                pid;
    uint64_t             h, wait;
    void                *shm;
    omni_limit_table_t  *t;

    (void) state;

    shm = mmap(NULL, omni_limit_size(64), PROT_READ | PROT_WRITE,
               MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    assert_true(shm != MAP_FAILED);

    t = omni_limit_init(shm, omni_limit_size(64), 7, &kept);
    assert_non_null(t);
    h = test_key(t, "grace");

    pid = fork();
    assert_true(pid >= 0);

    if (pid == 0) {
        for (i = 0; i < 3; i++) {
            if (omni_limit_take(t, h, S, S, 4 * S, &wait) != OMNI_LIMIT_PASS) {
                _exit(1);
            }
        }

        _exit(0);
    }

    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);

    passed = 0;

    for (i = 0; i < 5; i++) {
        passed += omni_limit_take(t, h, S, S, 4 * S, &wait)
                  == OMNI_LIMIT_PASS;
    }

    assert_int_equal(passed, 2);

    munmap(shm, omni_limit_size(64));
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(test_burst_then_rate),
        cmocka_unit_test(test_burst_of_one),
        cmocka_unit_test(test_keys_apart),
        cmocka_unit_test(test_seeded),
        cmocka_unit_test(test_full),
        cmocka_unit_test(test_layout),
        cmocka_unit_test(test_shared),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
