/*
 * Copyright (C) The omni gateway authors
 *
 * Unit tests of the JSON merge patch: RFC 7396 Appendix A, the bounds on
 * depth and size, and the refusals.  Results are compared as text: the
 * output is compact and its key order is defined (target order, then new
 * keys in patch order).
 */


#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <jansson.h>

#include "omni_json_patch.h"


#define TEST_OUT_MAX  8192


static size_t  test_allocs_left;        /* jansson allocations that pass */


/* applies patch to target and checks the result text */
static void
test_merge_ok(const char *target, const char *patch, const char *expect)
{
    int     rc;
    char    out[TEST_OUT_MAX], err[OMNI_ERRLEN];
    size_t  len;

    err[0] = '\0';

    rc = omni_json_merge_patch(target, strlen(target), patch, strlen(patch),
                               out, sizeof(out), &len, err);
    if (rc != 0) {
        fprintf(stderr, "%s + %s: %s\n", target, patch, err);
    }

    assert_int_equal(rc, 0);
    assert_int_equal(len, strlen(expect));
    assert_memory_equal(out, expect, len);
    assert_int_equal(out[len], '\0');
}


/* applies patch to target and checks the refusal's message */
static void
test_merge_fails(const char *target, const char *patch, const char *expect)
{
    int     rc;
    char    out[TEST_OUT_MAX], err[OMNI_ERRLEN];
    size_t  len;

    len = 99;

    rc = omni_json_merge_patch(target, strlen(target), patch, strlen(patch),
                               out, sizeof(out), &len, err);

    assert_int_equal(rc, -1);
    assert_int_equal(len, 0);
    assert_string_equal(err, expect);
}


/*
 * A document nested depth levels deep (the document itself is level 1):
 * {"a":{"a":...{}...}}, or with arrays {"a":[[...[]...]]}.
 */
static char *
test_nested(int depth, int arrays)
{
    int     i;
    char   *s, *p;

    s = malloc(depth * 6 + 8);
    assert_non_null(s);

    p = s;

    /*
     * memcpy, not sprintf: gcc's -Wformat-overflow sees a NULL destination
     * in the sanitizer build (cmocka's asserts are not noreturn)
     */
    if (arrays) {
        memcpy(p, "{\"a\":", 5);
        p += 5;

        for (i = 1; i < depth; i++) {
            *p++ = '[';
        }

        for (i = 1; i < depth; i++) {
            *p++ = ']';
        }

        *p++ = '}';

    } else {
        for (i = 1; i < depth; i++) {
            memcpy(p, "{\"a\":", 5);
            p += 5;
        }

        *p++ = '{';
        *p++ = '}';

        for (i = 1; i < depth; i++) {
            *p++ = '}';
        }
    }

    *p = '\0';

    return s;
}


/* tests */

/* RFC 7396 Appendix A, every example whose patch is an object */
static void
test_rfc7396_objects(void **state)
{
    (void) state;

    test_merge_ok("{\"a\":\"b\"}", "{\"a\":\"c\"}", "{\"a\":\"c\"}");
    test_merge_ok("{\"a\":\"b\"}", "{\"b\":\"c\"}",
                  "{\"a\":\"b\",\"b\":\"c\"}");
    test_merge_ok("{\"a\":\"b\"}", "{\"a\":null}", "{}");
    test_merge_ok("{\"a\":\"b\",\"b\":\"c\"}", "{\"a\":null}",
                  "{\"b\":\"c\"}");
    test_merge_ok("{\"a\":[\"b\"]}", "{\"a\":\"c\"}", "{\"a\":\"c\"}");
    test_merge_ok("{\"a\":\"c\"}", "{\"a\":[\"b\"]}", "{\"a\":[\"b\"]}");
    test_merge_ok("{\"a\": {\"b\": \"c\"}}",
                  "{\"a\": {\"b\": \"d\", \"c\": null}}",
                  "{\"a\":{\"b\":\"d\"}}");
    test_merge_ok("{\"a\": [{\"b\":\"c\"}]}", "{\"a\": [1]}",
                  "{\"a\":[1]}");
    test_merge_ok("{\"e\":null}", "{\"a\":1}", "{\"e\":null,\"a\":1}");
    test_merge_ok("{}", "{\"a\": {\"bb\": {\"ccc\": null}}}",
                  "{\"a\":{\"bb\":{}}}");
}


/*
 * The Appendix A examples with an array or scalar at the top, one level
 * down: the same rules apply to a member, where they are allowed.
 */
static void
test_rfc7396_members(void **state)
{
    (void) state;

    test_merge_ok("{\"x\":[\"a\",\"b\"]}", "{\"x\":[\"c\",\"d\"]}",
                  "{\"x\":[\"c\",\"d\"]}");
    test_merge_ok("{\"x\":{\"a\":\"b\"}}", "{\"x\":[\"c\"]}",
                  "{\"x\":[\"c\"]}");
    test_merge_ok("{\"x\":{\"a\":\"foo\"}}", "{\"x\":null}", "{}");
    test_merge_ok("{\"x\":{\"a\":\"foo\"}}", "{\"x\":\"bar\"}",
                  "{\"x\":\"bar\"}");
    test_merge_ok("{\"x\":[1,2]}", "{\"x\":{\"a\":\"b\",\"c\":null}}",
                  "{\"x\":{\"a\":\"b\"}}");
}


/* the Appendix A examples this API refuses: the patch must be an object */
static void
test_rfc7396_refused(void **state)
{
    (void) state;

    test_merge_fails("[\"a\",\"b\"]", "[\"c\",\"d\"]",
                     "the patch is not a JSON object");
    test_merge_fails("{\"a\":\"b\"}", "[\"c\"]",
                     "the patch is not a JSON object");
    test_merge_fails("{\"a\":\"foo\"}", "null",
                     "the patch is not a JSON object");
    test_merge_fails("{\"a\":\"foo\"}", "\"bar\"",
                     "the patch is not a JSON object");
    test_merge_fails("[1,2]", "{\"a\":\"b\",\"c\":null}",
                     "the target is not a JSON object");
}


static void
test_empty_target(void **state)
{
    int     rc;
    char    out[64], err[OMNI_ERRLEN];
    size_t  len;

    (void) state;

    rc = omni_json_merge_patch("", 0, "{\"a\":1}", 7, out, sizeof(out),
                               &len, err);
    assert_int_equal(rc, 0);
    assert_int_equal(len, 7);
    assert_string_equal(out, "{\"a\":1}");

    /* target_len 0 means {} whatever the pointer */
    rc = omni_json_merge_patch(NULL, 0, "{}", 2, out, sizeof(out), &len,
                               err);
    assert_int_equal(rc, 0);
    assert_string_equal(out, "{}");

    rc = omni_json_merge_patch("", 0, "{\"a\":null}", 10, out, sizeof(out),
                               &len, err);
    assert_int_equal(rc, 0);
    assert_int_equal(len, 2);
    assert_string_equal(out, "{}");

    test_merge_ok("{}", "{}", "{}");
    test_merge_ok(" { } ", "{ }", "{}");
}


static void
test_delete_missing(void **state)
{
    (void) state;

    test_merge_ok("{\"a\":1}", "{\"b\":null}", "{\"a\":1}");
    test_merge_ok("{\"a\":{\"b\":1}}", "{\"a\":{\"c\":null}}",
                  "{\"a\":{\"b\":1}}");
    test_merge_ok("{\"a\":1}", "{\"a\":null}", "{}");
}


static void
test_nested_create(void **state)
{
    (void) state;

    test_merge_ok("{}", "{\"a\":{\"b\":{\"c\":1}}}",
                  "{\"a\":{\"b\":{\"c\":1}}}");
    test_merge_ok("{\"a\":1}", "{\"a\":{\"b\":null,\"c\":2}}",
                  "{\"a\":{\"c\":2}}");
    test_merge_ok("{\"a\":{\"x\":1,\"y\":2}}", "{\"a\":{\"z\":{\"q\":[]}}}",
                  "{\"a\":{\"x\":1,\"y\":2,\"z\":{\"q\":[]}}}");
}


/* target order first, new keys in patch order; everything else as is */
static void
test_order_and_values(void **state)
{
    (void) state;

    test_merge_ok("{\"z\":1,\"a\":2,\"m\":3}", "{\"b\":4,\"a\":5,\"c\":6}",
                  "{\"z\":1,\"a\":5,\"m\":3,\"b\":4,\"c\":6}");
    test_merge_ok("{\"s\":\"\\u00e9\\u4e2d \\\"q\\\"\\n\"}",
                  "{\"t\":true,\"f\":false,\"n\":-12,\"e\":[]}",
                  "{\"s\":\"\xc3\xa9\xe4\xb8\xad \\\"q\\\"\\n\",\"t\":true,"
                  "\"f\":false,\"n\":-12,\"e\":[]}");
    test_merge_ok("{\"r\":0.5}", "{\"k\":\"\"}", "{\"r\":0.5,\"k\":\"\"}");
    test_merge_ok("{\"\":1}", "{\"\":{\"\":2}}", "{\"\":{\"\":2}}");
}


static void
test_depth(void **state)
{
    char    *ok, *deep, *arr_ok, *arr_deep, *expect;
    size_t   len;

    (void) state;

    ok = test_nested(OMNI_JSON_PATCH_DEPTH, 0);
    deep = test_nested(OMNI_JSON_PATCH_DEPTH + 1, 0);
    arr_ok = test_nested(OMNI_JSON_PATCH_DEPTH, 1);
    arr_deep = test_nested(OMNI_JSON_PATCH_DEPTH + 1, 1);

    /* exactly at the limit, as patch and as target */
    test_merge_ok("{}", ok, ok);
    test_merge_ok("{}", arr_ok, arr_ok);
    test_merge_ok(ok, ok, ok);

    len = strlen(ok);
    expect = malloc(len + 8);
    assert_non_null(expect);
    memcpy(expect, ok, len - 1);
    memcpy(expect + len - 1, ",\"b\":1}", 8);
    test_merge_ok(ok, "{\"b\":1}", expect);

    /* one past it */
    test_merge_fails("{}", deep, "the patch nests deeper than 32 levels");
    test_merge_fails("{}", arr_deep, "the patch nests deeper than 32 levels");
    test_merge_fails(deep, "{}", "the target nests deeper than 32 levels");
    test_merge_fails(arr_deep, "{\"b\":1}",
                     "the target nests deeper than 32 levels");

    /* far past it: still a clean refusal */
    free(deep);
    deep = test_nested(5000, 0);
    test_merge_fails("{}", deep, "the patch is not valid JSON: nested too "
                     "deeply at line 1 column 10241");

    free(ok);
    free(deep);
    free(arr_ok);
    free(arr_deep);
    free(expect);
}


/*
 * A result of exactly max bytes fits (no NUL written after it); one more
 * byte is refused with both sizes named and out left alone.
 */
static void
test_size(void **state)
{
    int     rc;
    char    out[64], err[OMNI_ERRLEN];
    size_t  len;

    (void) state;

    /* {"a":"xxxxxxxxxx"} is 18 bytes */
    memset(out, '#', sizeof(out));

    rc = omni_json_merge_patch("{}", 2, "{\"a\":\"xxxxxxxxxx\"}", 18,
                               out, 18, &len, err);
    assert_int_equal(rc, 0);
    assert_int_equal(len, 18);
    assert_memory_equal(out, "{\"a\":\"xxxxxxxxxx\"}", 18);
    assert_int_equal(out[18], '#');

    memset(out, '#', sizeof(out));

    rc = omni_json_merge_patch("{}", 2, "{\"a\":\"xxxxxxxxxx\"}", 18,
                               out, 19, &len, err);
    assert_int_equal(rc, 0);
    assert_int_equal(len, 18);
    assert_int_equal(out[18], '\0');

    memset(out, '#', sizeof(out));
    len = 99;

    rc = omni_json_merge_patch("{}", 2, "{\"a\":\"xxxxxxxxxx\"}", 18,
                               out, 17, &len, err);
    assert_int_equal(rc, -1);
    assert_int_equal(len, 0);
    assert_string_equal(err, "the context would be 18 bytes, more than the "
                        "17 allowed");
    assert_int_equal(out[0], '#');

    /* the size is the result's, not the target's or the patch's */
    rc = omni_json_merge_patch("{\"a\":\"xxxxxxxxxxxxxxxxxxxxxxxx\"}", 32,
                               "{\"a\":null}", 10, out, 2, &len, err);
    assert_int_equal(rc, 0);
    assert_int_equal(len, 2);
    assert_memory_equal(out, "{}", 2);
}


static void
test_invalid_patch(void **state)
{
    (void) state;

    /* what is wrong and where, never the text: the caller logs it */
    test_merge_fails("{}", "{\"a\" 1}", "the patch is not valid JSON: "
                     "invalid syntax at line 1 column 6");
    test_merge_fails("{}", "", "the patch is not valid JSON: it ends too "
                     "early at line 1 column 0");
    test_merge_fails("{}", "{\"a\":1} x", "the patch is not valid JSON: "
                     "text after the document at line 1 column 9");
    test_merge_fails("{}", "{\n\"a\":\n tru}", "the patch is not valid "
                     "JSON: invalid syntax at line 3 column 4");
    test_merge_fails("{}", "{\"a\":\"\\u0000\"}", "the patch is not "
                     "valid JSON: \\u0000 (NUL) in a string at line 1 "
                     "column 13");
    test_merge_fails("{}", "{\"a\":1,\"a\":2}", "the patch is not valid "
                     "JSON: a duplicate key at line 1 column 10");
    test_merge_fails("{}", "{\"a\":\"\xff\"}", "the patch is not valid "
                     "JSON: invalid UTF-8 at line 1 column 6");
    test_merge_fails("{}", "{\"secret-key\" \"secret-value\"}",
                     "the patch is not valid JSON: invalid syntax at line 1 "
                     "column 28");
}


static void
test_non_object_patch(void **state)
{
    (void) state;

    test_merge_fails("{}", "[]", "the patch is not a JSON object");
    test_merge_fails("{}", "[{\"a\":1}]", "the patch is not a JSON object");
    test_merge_fails("{}", "\"str\"", "the patch is not a JSON object");
    test_merge_fails("{}", "null", "the patch is not a JSON object");
    test_merge_fails("{}", "1", "the patch is not a JSON object");
    test_merge_fails("{}", "true", "the patch is not a JSON object");
}


static void
test_non_object_target(void **state)
{
    int     rc;
    char    out[64], err[OMNI_ERRLEN];
    size_t  len;

    (void) state;

    test_merge_fails("[]", "{}", "the target is not a JSON object");
    test_merge_fails("\"s\"", "{}", "the target is not a JSON object");
    test_merge_fails("null", "{\"a\":1}", "the target is not a JSON object");
    test_merge_fails("{\"a\":", "{}", "the target is not valid JSON: "
                     "it ends too early at line 1 column 5");

    /* a target given with its length: no NUL needed, none read past it */
    rc = omni_json_merge_patch("{\"a\":1}garbage", 7, "{\"b\":2}", 7, out,
                               sizeof(out), &len, err);
    assert_int_equal(rc, 0);
    assert_string_equal(out, "{\"a\":1,\"b\":2}");

    /* a patch is checked before the target */
    test_merge_fails("[]", "[]", "the patch is not a JSON object");
}


static void *
test_failing_malloc(size_t size)
{
    if (test_allocs_left == 0) {
        return NULL;
    }

    test_allocs_left--;

    return malloc(size);
}


/*
 * jansson's allocations fail after n of them, for n = 0, 1, ... until
 * the merge goes through: until then each attempt fails cleanly and
 * leaves nothing behind (valgrind checks).
 */
static void
test_out_of_memory(void **state)
{
    int          rc;
    char         out[256], err[OMNI_ERRLEN];
    size_t       n, len;
    const char  *target, *patch, *expect;

    (void) state;

    target = "{\"a\":{\"b\":[1,2],\"c\":\"x\"},\"d\":1,\"e\":{\"f\":2}}";
    patch = "{\"a\":{\"c\":null,\"g\":{\"h\":true}},\"d\":null,\"i\":[3]}";
    expect = "{\"a\":{\"b\":[1,2],\"g\":{\"h\":true}},\"e\":{\"f\":2},"
             "\"i\":[3]}";

    for (n = 0; n < 10000; n++) {
        test_allocs_left = n;
        json_set_alloc_funcs(test_failing_malloc, free);

        rc = omni_json_merge_patch(target, strlen(target), patch,
                                   strlen(patch), out, sizeof(out), &len,
                                   err);

        json_set_alloc_funcs(malloc, free);

        if (rc == 0) {
            break;
        }

        /* jansson's lexer reports some failed allocations as bad syntax */
        if (strcmp(err, "out of memory") != 0
            && strstr(err, "is not valid JSON: ") == NULL)
        {
            fail_msg("after %zu allocations: %s", n, err);
        }
    }

    assert_true(n > 0);
    assert_int_equal(rc, 0);
    assert_string_equal(out, expect);
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(test_rfc7396_objects),
        cmocka_unit_test(test_rfc7396_members),
        cmocka_unit_test(test_rfc7396_refused),
        cmocka_unit_test(test_empty_target),
        cmocka_unit_test(test_delete_missing),
        cmocka_unit_test(test_nested_create),
        cmocka_unit_test(test_order_and_values),
        cmocka_unit_test(test_depth),
        cmocka_unit_test(test_size),
        cmocka_unit_test(test_invalid_patch),
        cmocka_unit_test(test_non_object_patch),
        cmocka_unit_test(test_non_object_target),
        cmocka_unit_test(test_out_of_memory),
    };

    return cmocka_run_group_tests_name("omni_json_patch", tests, NULL, NULL);
}
