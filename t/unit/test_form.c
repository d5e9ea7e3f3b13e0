/*
 * Copyright (C) The omni gateway authors
 *
 * Unit tests of the form decoder (omni_form.c): the pairs it reports and
 * what it decodes, every refusal with its message and byte offset, the
 * bound on pairs at and past it, the bound on its scratch buffer, and a
 * handler or a buffer that fails.
 */


#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "omni_form.h"
#include "test_buf.h"


/* the pairs, written out: "name=value", one a line */
typedef struct {
    char        out[8192];
    size_t      len;
    size_t      pairs;              /* what start was told */
    int         started;
    int         stop_at;            /* the event that returns -1, or 0 */
    int         events;
    size_t      input;              /* the input's length */
} test_form_t;


static test_form_t  test_form;
static test_buf_t   test_buf;


static int
test_event(void)
{
    return ++test_form.events == test_form.stop_at ? -1 : 0;
}


static int
test_start(void *data, size_t pairs)
{
    assert_ptr_equal(data, &test_form);
    assert_false(test_form.started);

    test_form.started = 1;
    test_form.pairs = pairs;

    return test_event();
}


static int
test_pair(void *data, const u_char *name, size_t name_len,
    const u_char *value, size_t value_len)
{
    int  w;

    assert_ptr_equal(data, &test_form);
    assert_true(test_form.started);
    assert_true(name_len + value_len <= test_form.input);

    w = snprintf(test_form.out + test_form.len,
                 sizeof(test_form.out) - test_form.len, "%.*s=%.*s\n",
                 (int) name_len, name, (int) value_len, value);
    assert_true(w > 0);

    if ((size_t) w < sizeof(test_form.out) - test_form.len) {
        test_form.len += w;
    }

    return test_event();
}


static const omni_form_handler_t  test_handler = {
    test_start, test_pair, &test_form
};


static omni_form_rc_t
test_parse_len(const char *s, size_t len, omni_form_error_t *err)
{
    omni_form_rc_t  rc;

    memset(&test_form, 0, sizeof(test_form));
    test_form.input = len;

    test_buf_reset(&test_buf);

    rc = omni_form_parse((const u_char *) s, len, &test_buf.b,
                         &test_handler, err);

    assert_int_equal(err->rc, rc);

    return rc;
}


/* decodes s, expects it accepted, returns the pairs written out */
static const char *
test_decode(const char *s)
{
    omni_form_error_t  err;

    assert_int_equal(test_parse_len(s, strlen(s), &err), OMNI_FORM_OK);
    assert_int_equal(err.pos, 0);

    return test_form.out;
}


/* expects s refused with rc at pos, its message msg, nothing reported */
static void
test_refused_len(const char *s, size_t len, omni_form_rc_t rc, size_t pos,
    const char *msg)
{
    u_char             buf[128];
    size_t             n;
    omni_form_error_t  err;

    assert_int_equal(test_parse_len(s, len, &err), rc);
    assert_int_equal(err.pos, pos);
    assert_false(test_form.started);
    assert_int_equal(test_form.len, 0);

    n = omni_form_strerror(&err, buf, sizeof(buf));
    assert_true(n < sizeof(buf));
    assert_int_equal(n, strlen(msg));
    assert_memory_equal(buf, msg, n);
}


static void
test_pairs(void **state)
{
    (void) state;

    assert_string_equal(test_decode("a=1&b=2"), "a=1\nb=2\n");
    assert_int_equal(test_form.pairs, 2);

    /* every pair reported in order, the caller keeps the last or all */
    assert_string_equal(test_decode("b=1&a=x&b=2&b=3"),
                        "b=1\na=x\nb=2\nb=3\n");

    assert_string_equal(test_decode(""), "");
    assert_true(test_form.started);
    assert_int_equal(test_form.pairs, 0);

    /* empty pairs are skipped and not counted as pairs to come */
    assert_string_equal(test_decode("&a=1&&b=2&"), "a=1\nb=2\n");
    assert_int_equal(test_form.pairs, 2);
    assert_string_equal(test_decode("&&&"), "");
    assert_int_equal(test_form.pairs, 0);

    /* no '=': the value is ""; only the first '=' splits */
    assert_string_equal(test_decode("flag&x="), "flag=\nx=\n");
    assert_string_equal(test_decode("sig=ab=="), "sig=ab==\n");
    assert_string_equal(test_decode("=v"), "=v\n");
    assert_string_equal(test_decode("="), "=\n");

    /* ';' is no separator */
    assert_string_equal(test_decode("a=1;b=2"), "a=1;b=2\n");
}


static void
test_decoding(void **state)
{
    (void) state;

    assert_string_equal(test_decode("a%20b=%C3%a9%2F%26%3D&k=%41%fF"),
                        "a b=\xc3\xa9/&=\nk=A\xff\n");
    assert_string_equal(test_decode("q=a+b%2Bc&x+y=1"), "q=a b+c\nx y=1\n");

    /* a '%' without two hex digits stays, and no escape is read twice */
    assert_string_equal(test_decode("a=%zz&b=%&c=%4&d=100%&e=%%41"),
                        "a=%zz\nb=%\nc=%4\nd=100%\ne=%A\n");
    assert_string_equal(test_decode("a=%g1&b=%1g&c=%+1"),
                        "a=%g1\nb=%1g\nc=% 1\n");

    /* "%2500" is the text "%00", not a NUL */
    assert_string_equal(test_decode("a=%2500"), "a=%00\n");

    /* bytes pass without a UTF-8 check */
    assert_string_equal(test_decode("q=%D6%D0&r=\xff"), "q=\xd6\xd0\nr=\xff\n");
}


static void
test_nul(void **state)
{
    static const char  msg[] = "form: NUL (%00) at byte ";

    char  buf[64];

    (void) state;

    snprintf(buf, sizeof(buf), "%s3", msg);
    test_refused_len("a=%00", 5, OMNI_FORM_NUL, 3, buf);
    test_refused_len("a=\0", 3, OMNI_FORM_NUL, 3, buf);
    test_refused_len("a=\0&b=%00", 9, OMNI_FORM_NUL, 3, buf);
    test_refused_len("a=%00&b=\0", 9, OMNI_FORM_NUL, 3, buf);

    snprintf(buf, sizeof(buf), "%s8", msg);
    test_refused_len("a=1&b=x%00y", 11, OMNI_FORM_NUL, 8, buf);

    snprintf(buf, sizeof(buf), "%s1", msg);
    test_refused_len("%00=1", 5, OMNI_FORM_NUL, 1, buf);
    test_refused_len("\0", 1, OMNI_FORM_NUL, 1, buf);

    /* '%' kept, then %00 */
    snprintf(buf, sizeof(buf), "%s4", msg);
    test_refused_len("a=%%00", 6, OMNI_FORM_NUL, 4, buf);

    /* in a name, and at the very end */
    test_refused_len("k%00=1", 6, OMNI_FORM_NUL, 2,
                     "form: NUL (%00) at byte 2");
    test_refused_len("k=%00", 5, OMNI_FORM_NUL, 3,
                     "form: NUL (%00) at byte 3");

    /* "%0" at the end is no escape */
    assert_string_equal(test_decode("a=%0"), "a=%0\n");
}


static void
test_limits(void **state)
{
    char               *s, *p;
    size_t              i, len;
    omni_form_error_t   err;

    (void) state;

    len = 0;

    /* 1000 pairs: 999 '&', all of them empty */
    s = malloc(8 * 1002);
    assert_non_null(s);

    memset(s, '&', 1000);
    assert_int_equal(test_parse_len(s, 999, &err), OMNI_FORM_OK);
    assert_int_equal(test_form.pairs, 0);

    test_refused_len(s, 1000, OMNI_FORM_PAIRS, 0,
                     "form: too many parameters (more than 1000)");

    /* k1=1&...&k1000=1 passes, one more does not */
    p = s;

    for (i = 1; i <= 1001; i++) {
        p += sprintf(p, "%sk%zu=1", i > 1 ? "&" : "", i);

        if (i == 1000) {
            len = p - s;
        }
    }

    assert_int_equal(test_parse_len(s, len, &err), OMNI_FORM_OK);
    assert_int_equal(test_form.pairs, 1000);
    assert_int_equal(test_form.events, 1001);

    test_refused_len(s, p - s, OMNI_FORM_PAIRS, 0,
                     "form: too many parameters (more than 1000)");

    /* a NUL past the bound is what is reported: it is checked first */
    memset(s, '&', 5000);
    memcpy(s + 5000, "%00", 3);
    test_refused_len(s, 5003, OMNI_FORM_NUL, 5001,
                     "form: NUL (%00) at byte 5001");

    free(s);
}


static void
test_scratch(void **state)
{
    const char         *s;
    omni_form_error_t   err;

    (void) state;

    /* nothing to decode: reported from the input, no scratch */
    assert_string_equal(test_decode("aaaa=bbbbbbbb&c=d"),
                        "aaaa=bbbbbbbb\nc=d\n");
    assert_int_equal(test_buf.max, 0);

    /* the scratch holds the escaped parts of one pair at a time */
    assert_string_equal(test_decode("a=x+y&bbbbbbbb=1&c+c=%41%42"),
                        "a=x y\nbbbbbbbb=1\nc c=AB\n");
    assert_int_equal(test_buf.max, 3 + 6);

    /* only the escaped side of a pair */
    s = "longer_plain_name=x+";
    assert_int_equal(test_parse_len(s, strlen(s), &err), OMNI_FORM_OK);
    assert_int_equal(test_buf.max, 2);
}


static void
test_unescape(void **state)
{
    u_char   buf[32];
    size_t   n;
    char     s[] = "a+b%2fc%zz%41%";

    (void) state;

    n = omni_form_unescape(buf, (const u_char *) "a+b%2fc%zz", 10);
    assert_int_equal(n, 8);
    assert_memory_equal(buf, "a b/c%zz", 8);

    /* NUL bytes pass: refusing them is the parser's */
    n = omni_form_unescape(buf, (const u_char *) "%00\0", 4);
    assert_int_equal(n, 2);
    assert_memory_equal(buf, "\0\0", 2);

    /* in place */
    n = omni_form_unescape((u_char *) s, (const u_char *) s, strlen(s));
    assert_int_equal(n, 10);
    assert_memory_equal(s, "a b/c%zzA%", 10);

    assert_int_equal(omni_form_unescape(buf, (const u_char *) "", 0), 0);

    memcpy(s, "abc%", 4);
    assert_ptr_equal(omni_form_escaped((const u_char *) s, 3),
                     (const u_char *) s + 3);
    assert_ptr_equal(omni_form_escaped((const u_char *) s, 4),
                     (const u_char *) s + 3);
}


static void
test_messages(void **state)
{
    u_char             buf[8];
    size_t             n;
    omni_form_error_t  err;

    (void) state;

    /* cut to the buffer, the whole length returned */
    err.rc = OMNI_FORM_NUL;
    err.pos = 123456;
    n = omni_form_strerror(&err, buf, sizeof(buf));
    assert_int_equal(n, strlen("form: NUL (%00) at byte 123456"));
    assert_memory_equal(buf, "form: NU", sizeof(buf));

    assert_int_equal(omni_form_strerror(&err, NULL, 0), n);

    err.rc = OMNI_FORM_NO_MEMORY;
    err.pos = 0;
    n = omni_form_strerror(&err, buf, sizeof(buf));
    assert_int_equal(n, strlen("form: out of memory"));

    err.rc = OMNI_FORM_STOPPED;
    n = omni_form_strerror(&err, buf, sizeof(buf));
    assert_int_equal(n, strlen("form: stopped by its handler"));
}


static void
test_handler_stops(void **state)
{
    omni_form_error_t  err;

    (void) state;

    memset(&test_form, 0, sizeof(test_form));
    test_form.stop_at = 1;
    test_form.input = 7;
    assert_int_equal(omni_form_parse((const u_char *) "a=1&b=2", 7,
                                     &test_buf.b, &test_handler, &err),
                     OMNI_FORM_STOPPED);
    assert_int_equal(err.rc, OMNI_FORM_STOPPED);
    assert_int_equal(test_form.len, 0);

    memset(&test_form, 0, sizeof(test_form));
    test_form.stop_at = 2;
    test_form.input = 7;
    assert_int_equal(omni_form_parse((const u_char *) "a=1&b=2", 7,
                                     &test_buf.b, &test_handler, &err),
                     OMNI_FORM_STOPPED);
    assert_string_equal(test_form.out, "a=1\n");
}


static void
test_no_memory(void **state)
{
    u_char             small[2];
    omni_buf_t         b;
    omni_form_error_t  err;

    (void) state;

    b.data = small;
    b.len = 0;
    b.cap = sizeof(small);
    b.grow = NULL;
    b.ctx = NULL;

    memset(&test_form, 0, sizeof(test_form));
    test_form.input = 20;

    /* what fits, and what needs no scratch, passes */
    assert_int_equal(omni_form_parse((const u_char *) "a+=1&plain=text", 15,
                                     &b, &test_handler, &err),
                     OMNI_FORM_OK);
    assert_string_equal(test_form.out, "a =1\nplain=text\n");

    memset(&test_form, 0, sizeof(test_form));
    test_form.input = 20;
    assert_int_equal(omni_form_parse((const u_char *) "a=1&k=%41+", 10,
                                     &b, &test_handler, &err),
                     OMNI_FORM_NO_MEMORY);
    assert_int_equal(err.rc, OMNI_FORM_NO_MEMORY);
    assert_string_equal(test_form.out, "a=1\n");
}


static int
test_teardown(void **state)
{
    (void) state;

    test_buf_reset(&test_buf);

    return 0;
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(test_pairs),
        cmocka_unit_test(test_decoding),
        cmocka_unit_test(test_nul),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_scratch),
        cmocka_unit_test(test_unescape),
        cmocka_unit_test(test_messages),
        cmocka_unit_test(test_handler_stops),
        cmocka_unit_test(test_no_memory),
    };

    return cmocka_run_group_tests(tests, NULL, test_teardown);
}
