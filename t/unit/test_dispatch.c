/*
 * Copyright (C) The omni gateway authors
 *
 * The workflow file (omni_dispatch.h): the fixtures under
 * t/fixtures/workflows (each invalid one breaks exactly one rule, so its
 * one error is checked), the examples of docs/dispatch.md, every error of
 * a document listed with its path, the errors' bound; the rate limits
 * compiled (defaults, intervals) and matched in order by channel, tier
 * and anonymity.
 */


#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "omni_dispatch.h"


static char *
test_read(const char *path, size_t *len)
{
    FILE   *f;
    char   *buf;
    long    n;

    f = fopen(path, "rb");
    if (f == NULL) {
        return NULL;
    }

    fseek(f, 0, SEEK_END);
    n = ftell(f);
    fseek(f, 0, SEEK_SET);

    buf = malloc((size_t) n + 1);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, (size_t) n, f), (size_t) n);
    buf[n] = '\0';
    fclose(f);

    *len = (size_t) n;

    return buf;
}


static size_t
test_fixture_dir(const char *dir, int valid)
{
    DIR              *d;
    char             *json, *errors, path[512];
    size_t            len, n;
    struct dirent    *e;
    omni_dispatch_t  *w;

    d = opendir(dir);
    if (d == NULL) {
        return 0;
    }

    n = 0;

    while ((e = readdir(d)) != NULL) {
        len = strlen(e->d_name);

        if (len < 6 || strcmp(e->d_name + len - 5, ".json") != 0) {
            continue;
        }

        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        json = test_read(path, &len);
        assert_non_null(json);

        w = omni_dispatch_compile(json, len, &errors);

        if ((w != NULL) != valid) {
            print_error("%s: %s\n", path, w != NULL ? "compiles" : errors);
        }

        assert_true((w != NULL) == valid);
        assert_true((errors == NULL) == valid);

        /* an invalid fixture breaks one rule: one error */
        if (!valid && strchr(errors, '\n') != NULL) {
            print_error("%s: more than one error:\n%s\n", path, errors);
            fail();
        }

        omni_dispatch_free(w);
        free(errors);
        free(json);
        n++;
    }

    closedir(d);

    return n;
}


static void
test_fixtures(void **state)
{
    char             *doc, *p, *start, *end, *errors;
    size_t            len, n;
    omni_dispatch_t  *w;

    static const char  marker[] = "<!-- example: workflow -->\n```json\n";

    (void) state;

    if (test_fixture_dir("t/fixtures/workflows/valid", 1) == 0) {
        skip();
    }

    assert_true(test_fixture_dir("t/fixtures/workflows/invalid", 0) >= 30);

    doc = test_read("docs/dispatch.md", &len);
    assert_non_null(doc);

    n = 0;

    for (p = strstr(doc, marker); p != NULL; p = strstr(end, marker)) {
        start = p + sizeof(marker) - 1;
        end = strstr(start, "```");
        assert_non_null(end);

        w = omni_dispatch_compile(start, (size_t) (end - start), &errors);
        if (w == NULL) {
            print_error("docs/dispatch.md example %zu: %s\n", n, errors);
        }

        assert_non_null(w);
        omni_dispatch_free(w);
        n++;
    }

    assert_true(n >= 1);
    free(doc);
}


static omni_dispatch_t *
test_compile(const char *json)
{
    char             *errors;
    omni_dispatch_t  *w;

    w = omni_dispatch_compile(json, strlen(json), &errors);
    if (w == NULL) {
        print_error("%s\n", errors);
    }

    assert_non_null(w);
    assert_null(errors);

    return w;
}


static char *
test_errors(const char *json)
{
    char             *errors;
    omni_dispatch_t  *w;

    w = omni_dispatch_compile(json, strlen(json), &errors);
    assert_null(w);
    assert_non_null(errors);

    return errors;
}


static void
test_every_error(void **state)
{
    char  *errors;

    (void) state;

    errors = test_errors(
        "{\"version\": 2, \"extra\": 1, \"rate_limits\": ["
        " {\"id\": \"a b\", \"rate\": 0, \"per\": \"day\"},"
        " {\"id\": \"x\", \"channels\": [\"web\", 3], \"rate\": 1,"
        "  \"per\": \"second\", \"burst\": 1000001},"
        " {\"id\": \"x\", \"unlimited\": true, \"rate\": 3}]}");

    assert_string_equal(errors,
        "unknown key \"extra\"\n"
        "version must be 1\n"
        "rate_limits[0].id \"a b\" must be 1 to 64 of A-Z a-z 0-9 _ . -\n"
        "rate_limits[0].rate must be an integer from 1 to 1000000, not 0\n"
        "rate_limits[0].per must be \"second\", \"minute\" or \"hour\"\n"
        "rate_limits[1].channels[1] must be a string\n"
        "rate_limits[1].burst must be an integer from 1 to 1000000, not "
        "1000001\n"
        "rate_limits[2]: an unlimited entry has no rate, per or burst\n"
        "rate_limits[2].id \"x\" is also rate_limits[1]'s");
    free(errors);

    /* JSON itself, size, and duplicate keys anywhere */
    errors = test_errors("{\"version\": 1,");
    assert_non_null(strstr(errors, "the workflow is not valid JSON: "));
    assert_non_null(strstr(errors, " at line 1 column "));
    free(errors);

    errors = test_errors("{\"version\": 1, \"rate_limits\": [{\"id\": \"a\","
                         " \"id\": \"b\", \"rate\": 1, \"per\": \"hour\"}]}");
    assert_non_null(strstr(errors, "duplicate object key"));
    free(errors);

    /* jansson quotes the document: its control bytes are not passed on */
    errors = test_errors("{\"version\": 1\n\001}");
    assert_null(strchr(errors, '\001'));
    assert_non_null(strstr(errors, "not valid JSON: '}' expected near '?'"));
    free(errors);

    errors = test_errors("[]");
    assert_string_equal(errors, "the workflow must be a JSON object");
    free(errors);

    /* a control byte in a value is not echoed */
    errors = test_errors("{\"version\": 1, \"rate_limits\": [{\"id\": "
                         "\"a\\u001bb\", \"rate\": 1, \"per\": \"hour\"}]}");
    assert_non_null(strstr(errors, "\"a?b\""));
    free(errors);
}


static void
test_errors_bounded(void **state)
{
    char    *json, *errors, *p;
    size_t   i, n, len;

    (void) state;

    /* 64 limits of 3 errors each: 100 listed, the rest counted */
    len = 64 * 64 + 64;
    json = malloc(len);
    assert_non_null(json);

    n = (size_t) snprintf(json, len, "{\"version\": 1, \"rate_limits\": [");

    for (i = 0; i < 64; i++) {
        n += (size_t) snprintf(json + n, len - n, "%s{\"id\": \"l%zu\", "
                               "\"rate\": 0, \"per\": 1, \"burst\": 0}",
                               i ? "," : "", i);
    }

    snprintf(json + n, len - n, "]}");

    errors = test_errors(json);

    n = 0;

    for (p = errors; (p = strchr(p, '\n')) != NULL; p++) {
        n++;
    }

    assert_int_equal(n, 100);
    assert_non_null(strstr(errors, "\n92 more errors not listed"));

    free(errors);
    free(json);

    /* larger than the bound: refused before parsing */
    len = OMNI_DISPATCH_SIZE_MAX + 1;
    json = malloc(len);
    assert_non_null(json);
    memset(json, ' ', len);
    assert_null(omni_dispatch_compile(json, len, &errors));
    assert_string_equal(errors, "the workflow is larger than 1048576 bytes");
    free(errors);
    free(json);

    /* errors may be NULL */
    assert_null(omni_dispatch_compile("[]", 2, NULL));
}


static void
test_limits(void **state)
{
    omni_dispatch_t              *w;
    const omni_dispatch_limit_t  *l;

    (void) state;

    w = test_compile(
        "{\"version\": 1, \"rate_limits\": ["
        " {\"id\": \"vip\", \"tiers\": [\"vip\", \"gold\"], \"rate\": 120,"
        "  \"per\": \"minute\", \"burst\": 10},"
        " {\"id\": \"staff\", \"tiers\": [\"staff\"], \"unlimited\": true},"
        " {\"id\": \"calls\", \"channels\": [\"ivr\"], \"rate\": 3,"
        "  \"per\": \"hour\"},"
        " {\"id\": \"signed\", \"anonymous\": false, \"rate\": 5,"
        "  \"per\": \"second\"},"
        " {\"id\": \"rest\", \"channels\": [\"web\"], \"rate\": 1,"
        "  \"per\": \"second\"}]}");

    assert_int_equal(w->nlimits, 5);

    l = &w->limits[0];
    assert_int_equal(l->interval_us, 500000);
    assert_int_equal(l->tolerance_us, 9 * 500000);

    /* the burst is the rate unless given */
    l = &w->limits[2];
    assert_int_equal(l->burst, 3);
    assert_int_equal(l->interval_us, UINT64_C(1200000000));
    assert_int_equal(l->tolerance_us, UINT64_C(2400000000));

    /* first match in order */
    l = omni_dispatch_limit(w, "ivr", "gold", 0);
    assert_string_equal(l->id, "vip");
    l = omni_dispatch_limit(w, "web", "staff", 1);
    assert_string_equal(l->id, "staff");
    assert_true(l->unlimited);
    l = omni_dispatch_limit(w, "ivr", NULL, 1);
    assert_string_equal(l->id, "calls");
    l = omni_dispatch_limit(w, "ivr", "bronze", 0);
    assert_string_equal(l->id, "calls");
    l = omni_dispatch_limit(w, "app", NULL, 0);
    assert_string_equal(l->id, "signed");
    l = omni_dispatch_limit(w, "web", NULL, 1);
    assert_string_equal(l->id, "rest");
    assert_null(omni_dispatch_limit(w, "app", NULL, 1));
    assert_null(omni_dispatch_limit(w, "app", "Vip", 1));

    assert_true(omni_dispatch_limit_channel(&w->limits[2], "ivr"));
    assert_false(omni_dispatch_limit_channel(&w->limits[2], "web"));
    assert_true(omni_dispatch_limit_channel(&w->limits[0], "web"));

    omni_dispatch_free(w);

    /* no limits at all */
    w = test_compile("{\"version\": 1}");
    assert_null(omni_dispatch_limit(w, "web", NULL, 0));
    omni_dispatch_free(w);

    omni_dispatch_free(NULL);
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(test_fixtures),
        cmocka_unit_test(test_every_error),
        cmocka_unit_test(test_errors_bounded),
        cmocka_unit_test(test_limits),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
