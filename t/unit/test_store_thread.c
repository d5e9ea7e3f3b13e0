/*
 * Copyright (C) The omni gateway authors
 *
 * The store used from two threads as a worker uses it: the thread that
 * opened it reads and writes while a second one commits journey batches
 * with omni_store_journey_append_detached() (nginx's thread pool).  Run
 * under ThreadSanitizer or ASan with make test-asan for the races.
 */


#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "omni_store.h"


#define TEST_NOW        1700000000
#define TEST_BATCHES    400
#define TEST_BATCH      32
#define TEST_CUSTOMERS  8             /* the journey bound keeps them all */
#define TEST_SESSIONS   2000


typedef struct {
    omni_store_t  *st;
    int            rc;
    int            again;
    char           err[OMNI_ERRLEN];
} test_writer_t;


static void *
test_writer(void *data)
{
    int                         b, i;
    char                        customers[TEST_CUSTOMERS][16];
    test_writer_t              *w;
    omni_store_journey_t        ev[TEST_BATCH];
    omni_store_journey_item_t   items[TEST_BATCH];

    w = data;

    for (i = 0; i < TEST_CUSTOMERS; i++) {
        snprintf(customers[i], sizeof(customers[i]), "cust%d", i);
    }

    for (b = 0; b < TEST_BATCHES; b++) {
        memset(ev, 0, sizeof(ev));

        for (i = 0; i < TEST_BATCH; i++) {
            ev[i].time_ms = (int64_t) TEST_NOW * 1000 + b;
            strcpy(ev[i].channel, "web");
            snprintf(ev[i].action, sizeof(ev[i].action), "a%d.%d", b, i);
            strcpy(ev[i].outcome, "ok");
            items[i].customer = customers[i % TEST_CUSTOMERS];
            items[i].ev = &ev[i];
        }

        w->rc = omni_store_journey_append_detached(w->st, items, TEST_BATCH,
                                                   1000000, 0, NULL, w->err);
        if (w->rc == OMNI_STORE_AGAIN) {
            w->again++;
        }

        if (w->rc != OMNI_STORE_OK) {
            break;
        }
    }

    return NULL;
}


static void
test_two_threads(void **state)
{
    int                    i;
    char                   dir[64], err[OMNI_ERRLEN], cmd[96];
    size_t                 got;
    pthread_t              thread;
    omni_store_t          *st;
    test_writer_t          w;
    omni_store_session_t   s, out;
    omni_store_stats_t     stats;
    omni_store_journey_t   page[1];

    (void) state;

    strcpy(dir, "/tmp/omni-thread-XXXXXX");
    assert_non_null(mkdtemp(dir));

    st = omni_store_open(dir, (size_t) 256 * 1024 * 1024,
                         OMNI_STORE_SYNC_NONE, err);
    assert_non_null(st);

    memset(&w, 0, sizeof(w));
    w.st = st;

    assert_int_equal(pthread_create(&thread, NULL, test_writer, &w), 0);

    /* meanwhile, what requests do on the event loop: reads and writes */
    for (i = 0; i < TEST_SESSIONS; i++) {
        memset(&s, 0, sizeof(s));
        snprintf(s.id, sizeof(s.id), "sess%04d", i);
        strcpy(s.customer, "cust0");
        s.created = TEST_NOW;
        s.last_seen = TEST_NOW;

        assert_int_equal(omni_store_session_put(st, &s, err), OMNI_STORE_OK);

        assert_int_equal(omni_store_read_begin(st, err), OMNI_STORE_OK);
        assert_int_equal(omni_store_session_get(st, s.id, &out, err),
                         OMNI_STORE_OK);
        omni_store_read_end(st);
    }

    assert_int_equal(pthread_join(thread, NULL), 0);

    if (w.rc != OMNI_STORE_OK) {
        fail_msg("the detached writer failed: %d %s", w.rc, w.err);
    }

    assert_int_equal(w.again, 0);

    /* every event of every batch is there */
    assert_int_equal(omni_store_stats(st, &stats, err), OMNI_STORE_OK);
    assert_int_equal(stats.entries[OMNI_STORE_DB_JOURNEYS],
                     TEST_BATCHES * TEST_BATCH);
    assert_int_equal(stats.entries[OMNI_STORE_DB_SESSIONS], TEST_SESSIONS);

    assert_int_equal(omni_store_journey_read(st, "cust1", NULL, page, 1, &got,
                                             err),
                     OMNI_STORE_OK);
    assert_int_equal(got, 1);

    omni_store_close(st);

    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(test_two_threads),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
