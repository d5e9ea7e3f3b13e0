/*
 * Copyright (C) The omni gateway authors
 *
 * Unit tests of what cases read from outside the store: the SLA table
 * (omni_case_sla.c) and a service's X-Omni-Case header
 * (omni_case_header.c), every refusal with its message, none repeating a
 * value.
 */


#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "omni_case_header.h"
#include "omni_case_sla.h"


/* the SLA table: matching, times, and every refusal */

static void
test_case_sla(void **state)
{
    int64_t           fr, res;
    char              err[OMNI_ERRLEN];
    omni_case_sla_t  *sla;
    size_t            i;
    FILE             *f;
    char              dir[64], path[128];

    static const char  *table =
        "{\"default\": {\"first_response\": \"4h\", \"resolution\": \"3d\"},"
        " \"rules\": ["
        "  {\"category\": \"complaint\", \"priority\": \"urgent\","
        "   \"first_response\": \"30m\", \"resolution\": \"8h\"},"
        "  {\"priority\": \"high\", \"first_response\": \"90s\"},"
        "  {\"category\": \"billing\", \"resolution\": \"366d\"}]}";

    static const struct {
        const char  *json;
        const char  *message;
    } bad[] = {
        { "[]", "not a JSON object" },
        { "{", "not JSON" },
        { "{\"rules\": {}}", "not an array" },
        { "{\"other\": 1}", "unknown key" },
        { "{\"default\": {}}", "neither" },
        { "{\"default\": {\"category\": \"x\", \"resolution\": \"1d\"}}",
          "unknown key" },
        { "{\"default\": {\"resolution\": \"1d\", \"resolution\": \"2d\"}}",
          "not JSON" },
        { "{\"rules\": [{\"priority\": \"asap\", \"resolution\": \"1d\"}]}",
          "rule 1: \"priority\"" },
        { "{\"rules\": [{\"category\": \"a b\", \"resolution\": \"1d\"}]}",
          "\"category\"" },
        { "{\"rules\": [{\"resolution\": \"1w\"}]}", "not a time" },
        { "{\"rules\": [{\"resolution\": \"d\"}]}", "not a time" },
        { "{\"rules\": [{\"resolution\": \"-1d\"}]}", "not a time" },
        { "{\"rules\": [{\"resolution\": \"1234567s\"}]}", "not a time" },
        { "{\"rules\": [{\"resolution\": \"0m\"}]}", "more than 0" },
        { "{\"rules\": [{\"resolution\": \"367d\"}]}", "at most 366d" },
        { "{\"rules\": [{\"resolution\": 60}]}", "not a time" },
        { "{\"rules\": [1]}", "rule 1 is not an object" },
    };

    (void) state;

    snprintf(dir, sizeof(dir), "/tmp/omni-sla-XXXXXX");
    assert_non_null(mkdtemp(dir));

    sla = omni_case_sla_parse(table, strlen(table), err);
    assert_non_null(sla);

    omni_case_sla_due(sla, "complaint", OMNI_STORE_CASE_URGENT, 1000, &fr,
                      &res);
    assert_int_equal(fr, 1000 + 1800);
    assert_int_equal(res, 1000 + 8 * 3600);

    /* the first match wins: rule 2 over rule 3 and the default */
    omni_case_sla_due(sla, "billing", OMNI_STORE_CASE_HIGH, 1000, &fr, &res);
    assert_int_equal(fr, 1090);
    assert_int_equal(res, 0);

    omni_case_sla_due(sla, "billing", OMNI_STORE_CASE_LOW, 1000, &fr, &res);
    assert_int_equal(fr, 0);
    assert_int_equal(res, 1000 + 366 * 86400);

    omni_case_sla_due(sla, "other", OMNI_STORE_CASE_LOW, 1000, &fr, &res);
    assert_int_equal(fr, 1000 + 4 * 3600);
    assert_int_equal(res, 1000 + 3 * 86400);

    omni_case_sla_free(sla);

    omni_case_sla_due(NULL, "other", OMNI_STORE_CASE_LOW, 1000, &fr, &res);
    assert_int_equal(fr, 0);
    assert_int_equal(res, 0);

    /* no default: no due times */
    sla = omni_case_sla_parse("{}", 2, err);
    assert_non_null(sla);
    omni_case_sla_due(sla, "other", OMNI_STORE_CASE_LOW, 1000, &fr, &res);
    assert_int_equal(fr + res, 0);
    omni_case_sla_free(sla);

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        err[0] = '\0';
        sla = omni_case_sla_parse(bad[i].json, strlen(bad[i].json), err);

        if (sla != NULL || strstr(err, bad[i].message) == NULL) {
            fprintf(stderr, "%s: %s\n", bad[i].json, err);
            fail();
        }
    }

    /* the file */
    snprintf(path, sizeof(path), "%s/sla.json", dir);
    f = fopen(path, "w");
    assert_non_null(f);
    fputs(table, f);
    fclose(f);

    sla = omni_case_sla_load(path, err);
    assert_non_null(sla);
    omni_case_sla_free(sla);

    snprintf(path, sizeof(path), "%s/none.json", dir);
    assert_null(omni_case_sla_load(path, err));
    assert_non_null(strstr(err, "cannot open"));
    assert_null(omni_case_sla_load(dir, err));

    snprintf(path, sizeof(path), "%s/sla.json", dir);
    assert_int_equal(unlink(path), 0);
    assert_int_equal(rmdir(dir), 0);
}


/* X-Omni-Case: what parses, and every refusal */

static void
test_case_header(void **state)
{
    char                 err[OMNI_ERRLEN];
    char                 json[256], big[OMNI_CASE_HEADER_MAX + 2];
    size_t               i;
    omni_case_header_t   h;

    static const struct {
        const char  *json;
        const char  *message;
    } bad[] = {
        { "", "1 to" },
        { "[]", "not a JSON object" },
        { "{\"open\":", "not valid JSON" },
        { "{}", "must be a case id" },
        { "{\"open\": 1}", "not an object" },
        { "{\"open\": {\"category\": \"c\", \"subject\": \"s\"}, "
          "\"case\": \"0000000000\"}", "no other key" },
        { "{\"open\": {\"category\": \"a b\", \"subject\": \"s\"}}",
          "open.category" },
        { "{\"open\": {\"category\": \"c\"}}", "open.subject" },
        { "{\"open\": {\"category\": \"c\", \"subject\": \"a\\u0000b\"}}",
          "not valid JSON" },
        { "{\"open\": {\"category\": \"c\", \"subject\": \"a\\nb\"}}",
          "open.subject" },
        { "{\"open\": {\"category\": \"c\", \"subject\": \"s\", "
          "\"priority\": \"asap\"}}", "open.priority" },
        { "{\"open\": {\"category\": \"c\", \"subject\": \"s\", "
          "\"x\": 1}}", "only" },
        { "{\"case\": \"0000000001\", \"status\": \"open\"}",
          "must be a case id" },
        { "{\"case\": 0, \"status\": \"open\"}", "must be a case id" },
        { "{\"case\": \"0000000000\"}", "needs a status, a note" },
        { "{\"case\": \"0000000000\", \"status\": \"done\"}",
          "\"status\" must be" },
        { "{\"case\": \"0000000000\", \"note\": \"\"}", "\"note\" must" },
        { "{\"case\": \"0000000000\", \"note\": \"a\\rb\"}",
          "\"note\" must" },
        { "{\"case\": \"0000000000\", \"note\": \"n\", \"internal\": 1}",
          "true or false" },
        { "{\"case\": \"0000000000\", \"internal\": true, "
          "\"status\": \"open\"}", "without a note" },
        { "{\"case\": \"0000000000\", \"status\": \"open\", "
          "\"status\": \"pending\"}", "not valid JSON" },
        { "{\"case\": \"0000000000\", \"status\": \"open\", \"x\": 1}",
          "takes" },
    };

    (void) state;

    snprintf(json, sizeof(json), "{\"open\": {\"category\": \"complaint\", "
             "\"subject\": \"Où est mon colis\", \"priority\": \"urgent\"}}");
    assert_int_equal(omni_case_header_parse(json, strlen(json), &h, err), 0);
    assert_int_equal(h.open, 1);
    assert_string_equal(h.category, "complaint");
    assert_string_equal(h.subject, "Où est mon colis");
    assert_int_equal(h.priority, OMNI_STORE_CASE_URGENT);

    snprintf(json, sizeof(json), "{\"open\": {\"category\": \"c\", "
             "\"subject\": \"s\"}}");
    assert_int_equal(omni_case_header_parse(json, strlen(json), &h, err), 0);
    assert_int_equal(h.priority, OMNI_STORE_CASE_NORMAL);

    snprintf(json, sizeof(json), "{\"case\": \"7992739875\", \"status\": "
             "\"pending\", \"note\": \"We need\\nyour address\"}");
    assert_int_equal(omni_case_header_parse(json, strlen(json), &h, err), 0);
    assert_int_equal(h.open, 0);
    assert_string_equal(h.id, "7992739875");
    assert_int_equal(h.status, OMNI_STORE_CASE_PENDING);
    assert_int_equal(h.note_kind, OMNI_STORE_CASE_EV_NOTE);
    assert_string_equal(h.note, "We need\nyour address");
    assert_int_equal(h.note_len, 20);

    snprintf(json, sizeof(json), "{\"case\": \"7992739875\", \"note\": "
             "\"x\", \"internal\": true}");
    assert_int_equal(omni_case_header_parse(json, strlen(json), &h, err), 0);
    assert_int_equal(h.status, -1);
    assert_int_equal(h.note_kind, OMNI_STORE_CASE_EV_INTERNAL);

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        err[0] = '\0';

        if (omni_case_header_parse(bad[i].json, strlen(bad[i].json), &h, err)
            == 0
            || strstr(err, bad[i].message) == NULL)
        {
            fprintf(stderr, "%s: %s\n", bad[i].json, err);
            fail();
        }
    }

    /* too large, however valid */
    memset(big, ' ', sizeof(big));
    big[0] = '{';
    big[sizeof(big) - 1] = '}';
    assert_int_equal(omni_case_header_parse(big, sizeof(big), &h, err), -1);
    assert_non_null(strstr(err, "1 to 4096 bytes"));

    /* the message never repeats a value */
    snprintf(json, sizeof(json), "{\"open\": {\"category\": \"c\", "
             "\"subject\": \"SECRET\\u0001\"}}");
    assert_int_equal(omni_case_header_parse(json, strlen(json), &h, err), -1);
    assert_null(strstr(err, "SECRET"));
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(test_case_sla),
        cmocka_unit_test(test_case_header),
    };

    return cmocka_run_group_tests_name("omni_case input", tests, NULL, NULL);
}
