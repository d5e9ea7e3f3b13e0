/*
 * Copyright (C) The omni gateway authors
 *
 * Unit tests of the cores' error buffer (omni_err.c): a formatted
 * message, a message copied as it is, both cut to OMNI_ERRLEN with their
 * NUL, and control bytes made printable.
 */


#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "omni_err.h"


static void
test_err_format(void **state)
{
    char  err[OMNI_ERRLEN];

    (void) state;

    omni_err(err, "no %s revision %d", "policy", 3);
    assert_string_equal(err, "no policy revision 3");
}


static void
test_err_text(void **state)
{
    char  err[OMNI_ERRLEN], long_text[OMNI_ERRLEN + 10];

    (void) state;

    omni_err_text(err, "not found");
    assert_string_equal(err, "not found");

    /* a % is text here, not a conversion */
    omni_err_text(err, "100% %s");
    assert_string_equal(err, "100% %s");

    /* cut to the buffer, NUL included, as omni_err() cuts */
    memset(long_text, 'x', sizeof(long_text) - 1);
    long_text[sizeof(long_text) - 1] = '\0';

    memset(err, 'y', sizeof(err));
    omni_err_text(err, long_text);
    assert_int_equal(strlen(err), OMNI_ERRLEN - 1);

    omni_err(err, "%s", long_text);
    assert_int_equal(strlen(err), OMNI_ERRLEN - 1);
}


static void
test_err_printable(void **state)
{
    char  err[OMNI_ERRLEN];

    (void) state;

    omni_err(err, "bad\nline\twith\x7f");
    omni_err_printable(err);
    assert_string_equal(err, "bad?line?with?");
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(test_err_format),
        cmocka_unit_test(test_err_text),
        cmocka_unit_test(test_err_printable),
    };

    return cmocka_run_group_tests_name("err", tests, NULL, NULL);
}
