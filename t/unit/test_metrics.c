/*
 * Copyright (C) The omni gateway authors
 *
 * The metrics table (omni_metrics.h): series made once and found again,
 * by processes sharing the block too; counts, gauges and cumulative
 * histograms as the exposition format writes them; label escaping; a
 * full table that drops rather than evicts; a block kept or reset by its
 * layout.
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

#include "omni_metrics.h"


#define TEST_SERIES  64


static const omni_metrics_family_t  test_families[] = {
    { "t_requests_total", "Requests.", OMNI_METRICS_COUNTER },
    { "t_map_bytes", "Bytes.", OMNI_METRICS_GAUGE },
    { "t_duration_seconds", "Durations.", OMNI_METRICS_HISTOGRAM },
};

static const double  test_bounds[] = { 0.001, 0.01, 0.1 };


typedef struct {
    char    text[65536];
    size_t  len;
} test_out_t;


static int
test_out(void *data, const char *p, size_t len)
{
    test_out_t  *o = data;

    if (o->len + len >= sizeof(o->text)) {
        return -1;
    }

    memcpy(o->text + o->len, p, len);
    o->len += len;
    o->text[o->len] = '\0';

    return 0;
}


static void *
test_block(size_t size)
{
    void  *mem;

    mem = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
               -1, 0);
    assert_true(mem != MAP_FAILED);

    return mem;
}


static omni_metrics_t *
test_init(void *mem, size_t size, int *kept)
{
    char             err[OMNI_ERRLEN];
    omni_metrics_t  *m;

    m = omni_metrics_init(mem, size, test_families, 3, test_bounds, 3, kept,
                          err);
    if (m == NULL) {
        fail_msg("init: %s", err);
    }

    return m;
}


static void
test_series_and_render(void **state)
{
    int              a, b, h, kept;
    size_t           size;
    void            *mem;
    test_out_t       out;
    omni_metrics_t  *m;

    (void) state;

    size = omni_metrics_size(TEST_SERIES);
    mem = test_block(size);
    m = test_init(mem, size, &kept);
    assert_false(kept);

    a = omni_metrics_series(m, 0, "channel=\"web\"", 13);
    b = omni_metrics_series(m, 0, "channel=\"ivr\"", 13);
    assert_true(a >= 0 && b >= 0 && a != b);
    assert_int_equal(omni_metrics_series(m, 0, "channel=\"web\"", 13), a);

    omni_metrics_add(m, a, 2);
    omni_metrics_add(m, a, 1);
    omni_metrics_set(m, omni_metrics_series(m, 1, "", 0), -5);

    h = omni_metrics_series(m, 2, "channel=\"web\"", 13);
    omni_metrics_observe(m, h, 500);        /* 0.5 ms */
    omni_metrics_observe(m, h, 1000);       /* on the bound: in it */
    omni_metrics_observe(m, h, 50000);
    omni_metrics_observe(m, h, 2000000);    /* past every bound */

    memset(&out, 0, sizeof(out));
    assert_int_equal(omni_metrics_render(m, test_out, &out), 0);

    assert_non_null(strstr(out.text, "# HELP t_requests_total Requests.\n"
                                     "# TYPE t_requests_total counter\n"));
    assert_non_null(strstr(out.text, "t_requests_total{channel=\"web\"} 3\n"));
    assert_non_null(strstr(out.text, "t_requests_total{channel=\"ivr\"} 0\n"));
    assert_non_null(strstr(out.text, "# TYPE t_map_bytes gauge\n"
                                     "t_map_bytes -5\n"));
    assert_non_null(strstr(out.text,
        "t_duration_seconds_bucket{channel=\"web\",le=\"0.001\"} 2\n"
        "t_duration_seconds_bucket{channel=\"web\",le=\"0.01\"} 2\n"
        "t_duration_seconds_bucket{channel=\"web\",le=\"0.1\"} 3\n"
        "t_duration_seconds_bucket{channel=\"web\",le=\"+Inf\"} 4\n"
        "t_duration_seconds_sum{channel=\"web\"} 2.051500\n"
        "t_duration_seconds_count{channel=\"web\"} 4\n"));
    assert_non_null(strstr(out.text, "omni_metrics_dropped_total 0\n"));

    /* one HELP per family, whatever its series */
    assert_null(strstr(strstr(out.text, "# HELP t_requests_total") + 1,
                       "# HELP t_requests_total"));

    omni_metrics_free(m);
    munmap(mem, size);
}


static void
test_labels(void **state)
{
    char    buf[64];
    size_t  len;

    (void) state;

    len = 0;
    assert_int_equal(omni_metrics_label(buf, sizeof(buf), &len, "a", "x\"y",
                                        3), 0);
    assert_int_equal(omni_metrics_label(buf, sizeof(buf), &len, "b",
                                        "p\\q\nr\x01", 6), 0);
    assert_string_equal(buf, "a=\"x\\\"y\",b=\"p\\\\q\\nr_\"");
    assert_int_equal(len, strlen(buf));

    /* too long: refused, not cut */
    len = 0;
    assert_int_equal(omni_metrics_label(buf, 16, &len, "channel",
                                        "abcdefghijk", 11), -1);
}


static void
test_full_and_dropped(void **state)
{
    int              i, kept, made;
    char             labels[32];
    size_t           size;
    void            *mem;
    omni_metrics_t  *m;

    (void) state;

    size = omni_metrics_size(TEST_SERIES);
    mem = test_block(size);
    m = test_init(mem, size, &kept);

    made = 0;

    for (i = 0; i < 2 * TEST_SERIES; i++) {
        snprintf(labels, sizeof(labels), "n=\"%d\"", i);

        if (omni_metrics_series(m, 0, labels, strlen(labels)) >= 0) {
            made++;
        }
    }

    /* 90 % fill at most, so that probes stay short; the rest dropped */
    assert_int_equal(made, (TEST_SERIES * 90 + 99) / 100);
    assert_int_equal(omni_metrics_used(m), (size_t) made);
    assert_int_equal(omni_metrics_dropped(m), 2 * TEST_SERIES - made);

    /* live series are kept and found */
    assert_true(omni_metrics_series(m, 0, "n=\"0\"", 5) >= 0);

    /* an unknown family or labels past the limit are dropped too */
    assert_int_equal(omni_metrics_series(m, 7, "", 0), -1);
    assert_int_equal(omni_metrics_series(m, 0, labels,
                                         OMNI_METRICS_LABELS_MAX), -1);

    omni_metrics_free(m);
    munmap(mem, size);
}


/*
 * Series by raw label values: the series the rendered labels name,
 * remembered or not, in a second process's handle too; what cannot be
 * remembered (too long, dropped) is still found or counted
 */
static void
test_series_of(void **state)
{
    int                   i, kept, a, b;
    char                  value[200], labels[64];
    size_t                size;
    void                 *mem;
    omni_metrics_t       *m, *other;
    omni_metrics_pair_t   pairs[5];

    (void) state;

    size = omni_metrics_size(TEST_SERIES);
    mem = test_block(size);
    m = test_init(mem, size, &kept);
    other = test_init(mem, size, &kept);

    pairs[0].name = "channel";
    pairs[0].value = "web";
    pairs[1].name = "rule";
    pairs[1].value = "vip \"desk\"";

    a = omni_metrics_series_of(m, 0, pairs, 2, 1);
    assert_true(a >= 0);
    assert_int_equal(omni_metrics_series(m, 0,
                                         "channel=\"web\",rule=\"vip \\\"desk\\\"\"",
                                         strlen("channel=\"web\",rule="
                                                "\"vip \\\"desk\\\"\"")),
                     a);

    /* remembered, not remembered, and from another process: the same */
    for (i = 0; i < 3; i++) {
        assert_int_equal(omni_metrics_series_of(m, 0, pairs, 2, 1), a);
    }

    assert_int_equal(omni_metrics_series_of(m, 0, pairs, 2, 0), a);
    assert_int_equal(omni_metrics_series_of(other, 0, pairs, 2, 1), a);

    /* the family, a name or a value apart: another series */
    b = omni_metrics_series_of(m, 1, pairs, 2, 1);
    assert_true(b >= 0 && b != a);

    pairs[1].name = "rules";
    b = omni_metrics_series_of(m, 0, pairs, 2, 1);
    assert_true(b >= 0 && b != a);

    pairs[1].name = "rule";
    pairs[1].value = "vip \"desk";
    b = omni_metrics_series_of(m, 0, pairs, 2, 1);
    assert_true(b >= 0 && b != a);

    /* values joined differently are different label sets */
    pairs[0].value = "webrule";
    pairs[1].value = "";
    b = omni_metrics_series_of(m, 0, pairs, 2, 1);
    assert_true(b >= 0 && b != a);
    assert_int_equal(omni_metrics_series_of(m, 0, pairs, 2, 1), b);

    /* too long to remember: found every time all the same */
    memset(value, 'x', sizeof(value) - 1);
    value[sizeof(value) - 1] = '\0';
    value[130] = '\0';
    pairs[1].value = value;
    b = omni_metrics_series_of(m, 0, pairs, 2, 1);
    assert_true(b >= 0);
    assert_int_equal(omni_metrics_series_of(m, 0, pairs, 2, 1), b);

    /* past the rendered limit, or too many labels: dropped */
    value[130] = 'x';
    assert_int_equal(omni_metrics_series_of(m, 0, pairs, 2, 1), -1);

    for (i = 0; i < 5; i++) {
        pairs[i].name = "n";
        pairs[i].value = "v";
    }

    assert_int_equal(omni_metrics_series_of(m, 0, pairs, 5, 1), -1);

    /* a full table drops, and a dropped set is not remembered as one */
    for (i = 0; i < TEST_SERIES; i++) {
        snprintf(labels, sizeof(labels), "n=\"%d\"", i);
        (void) omni_metrics_series(m, 2, labels, strlen(labels));
    }

    pairs[0].value = "late";
    assert_int_equal(omni_metrics_series_of(m, 0, pairs, 1, 1), -1);
    assert_int_equal(omni_metrics_series_of(m, 0, pairs, 1, 1), -1);

    omni_metrics_free(other);
    omni_metrics_free(m);
    munmap(mem, size);
}


static void
test_processes_share(void **state)
{
    int              i, p, kept, status;
    pid_t            pids[4];
    size_t           size;
    void            *mem;
    test_out_t       out;
    omni_metrics_t  *m;

    (void) state;

    size = omni_metrics_size(TEST_SERIES);
    mem = test_block(size);
    m = test_init(mem, size, &kept);

    /* four processes make the same series at once, and count into it */
    for (p = 0; p < 4; p++) {
        pids[p] = fork();
        assert_true(pids[p] >= 0);

        if (pids[p] == 0) {
            for (i = 0; i < 10000; i++) {
                omni_metrics_add(m, omni_metrics_series(m, 0,
                                                        "channel=\"app\"",
                                                        13),
                                 1);
            }

            _exit(0);
        }
    }

    for (p = 0; p < 4; p++) {
        assert_int_equal(waitpid(pids[p], &status, 0), pids[p]);
        assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    }

    assert_int_equal(omni_metrics_used(m), 1);

    memset(&out, 0, sizeof(out));
    assert_int_equal(omni_metrics_render(m, test_out, &out), 0);
    assert_non_null(strstr(out.text,
                           "t_requests_total{channel=\"app\"} 40000\n"));

    omni_metrics_free(m);
    munmap(mem, size);
}


static void
test_layout_kept_or_reset(void **state)
{
    int              a, kept;
    char             err[OMNI_ERRLEN];
    size_t           size;
    void            *mem;
    omni_metrics_t  *m;

    static const double  other[] = { 0.005, 0.05 };

    (void) state;

    size = omni_metrics_size(TEST_SERIES);
    mem = test_block(size);

    m = test_init(mem, size, &kept);
    a = omni_metrics_series(m, 0, "", 0);
    omni_metrics_add(m, a, 7);
    omni_metrics_free(m);

    /* a reload with the same layout keeps the counts */
    m = test_init(mem, size, &kept);
    assert_true(kept);
    assert_int_equal(omni_metrics_series(m, 0, "", 0), a);
    assert_int_equal(omni_metrics_used(m), 1);
    omni_metrics_free(m);

    /* other buckets: reset */
    m = omni_metrics_init(mem, size, test_families, 3, other, 2, &kept, err);
    assert_non_null(m);
    assert_false(kept);
    assert_int_equal(omni_metrics_used(m), 0);
    omni_metrics_free(m);

    /* bad bounds and a block too small are refused, with a reason */
    assert_null(omni_metrics_init(mem, size, test_families, 3, other + 1, 0,
                                  &kept, err));
    assert_non_null(strstr(err, "1 to 16 buckets"));
    assert_int_not_equal(omni_metrics_check_bounds((double[]) { 0.1, 0.1 },
                                                   2, err), 0);
    assert_int_not_equal(omni_metrics_check_bounds((double[]) { -1 }, 1,
                                                   err), 0);
    assert_null(omni_metrics_init(mem, omni_metrics_size(8), test_families,
                                  3, test_bounds, 3, &kept, err));
    assert_non_null(strstr(err, "fewer than 16 series"));

    munmap(mem, size);
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(test_series_and_render),
        cmocka_unit_test(test_labels),
        cmocka_unit_test(test_full_and_dropped),
        cmocka_unit_test(test_series_of),
        cmocka_unit_test(test_processes_share),
        cmocka_unit_test(test_layout_kept_or_reset),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
