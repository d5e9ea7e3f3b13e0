/*
 * Copyright (C) The omni gateway authors
 *
 * Unit tests of the workflow's revisions in the store
 * (omni_store_workflow.c over omni_store_revision.c): numbered from 1
 * with author, time and note, the current one, a seed that writes only
 * into a store without a workflow, pages of revisions, refusals, and
 * independence from the policy's revisions kept beside them; the
 * capacities' put from a revision read, refused once another is current.
 */


#define _GNU_SOURCE   /* nftw() */

#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "test_store_fixture.h"

#include "omni_store.h"


#define TEST_DIR_LEN    256
#define TEST_MAP_MAX    ((size_t) 64 * 1024 * 1024)
#define TEST_NOW        1700000000


typedef test_store_ctx_t  test_ctx_t;


static const char  test_wf_a[] = "{\"version\":1}";
static const char  test_wf_b[] = "{\"version\":1,\"description\":\"b\"}";
static char        test_base[64];


static int
test_group_setup(void **state)
{
    (void) state;

    return test_tmpdir_make(test_base, sizeof(test_base), "wf");
}


static int
test_group_teardown(void **state)
{
    (void) state;

    return test_tmpdir_remove(test_base);
}


static int
test_setup(void **state)
{
    return test_store_ctx_open(state, test_base, TEST_MAP_MAX);
}


static int
test_teardown(void **state)
{
    return test_store_ctx_close(state);
}


static uint32_t
test_put(omni_store_t *st, const char *json, const char *author,
    const char *note, int64_t now)
{
    char      err[OMNI_ERRLEN];
    uint32_t  rev;

    rev = 0;

    if (omni_store_workflow_put(st, json, strlen(json), author, note, now,
                                &rev, err)
        != OMNI_STORE_OK)
    {
        fail_msg("workflow_put: %s", err);
    }

    return rev;
}


static uint32_t
test_current(omni_store_t *st)
{
    char      err[OMNI_ERRLEN];
    uint32_t  rev;

    rev = 12345;

    assert_int_equal(omni_store_workflow_current(st, &rev, err),
                     OMNI_STORE_OK);

    return rev;
}


/* the workflow of rev is json, with this info */
static void
test_is(omni_store_t *st, uint32_t rev, const char *json, uint32_t want_rev,
    const char *author, const char *note, int64_t time)
{
    char                        err[OMNI_ERRLEN], *got;
    size_t                      len;
    omni_store_revision_info_t  info;

    got = NULL;
    memset(&info, 0xff, sizeof(info));

    if (omni_store_workflow_get(st, rev, &got, &len, &info, err)
        != OMNI_STORE_OK)
    {
        fail_msg("workflow_get %u: %s", (unsigned) rev, err);
    }

    assert_int_equal(len, strlen(json));
    assert_memory_equal(got, json, len + 1);
    assert_int_equal(info.rev, want_rev);
    assert_int_equal(info.time, time);
    assert_string_equal(info.author, author);
    assert_string_equal(info.note, note);
    assert_int_equal(info.len, len);

    free(got);
}


static void
test_revisions(void **state)
{
    char         err[OMNI_ERRLEN], *json;
    size_t       len;
    test_ctx_t  *ctx;

    ctx = *state;

    assert_int_equal(test_current(ctx->st), 0);

    json = (char *) "untouched";
    assert_int_equal(omni_store_workflow_get(ctx->st, 0, &json, &len, NULL,
                                             err),
                     OMNI_STORE_NOT_FOUND);
    assert_string_equal(err, "the store has no workflow");
    assert_null(json);

    assert_int_equal(test_put(ctx->st, test_wf_a, "alice", "first",
                              TEST_NOW),
                     1);
    assert_int_equal(test_put(ctx->st, test_wf_b, "omnictl:bob", NULL,
                              TEST_NOW + 5),
                     2);
    assert_int_equal(test_current(ctx->st), 2);

    test_is(ctx->st, 0, test_wf_b, 2, "omnictl:bob", "", TEST_NOW + 5);
    test_is(ctx->st, 1, test_wf_a, 1, "alice", "first", TEST_NOW);

    assert_int_equal(omni_store_workflow_get(ctx->st, 3, &json, &len, NULL,
                                             err),
                     OMNI_STORE_NOT_FOUND);
    assert_string_equal(err, "no workflow revision 3");

    /* a rollback is a new revision with an old one's text */
    assert_int_equal(test_put(ctx->st, test_wf_a, "alice", "rollback to 1",
                              TEST_NOW + 9),
                     3);
    test_is(ctx->st, 0, test_wf_a, 3, "alice", "rollback to 1",
            TEST_NOW + 9);
}


/* the policy's revisions and the workflow's are counted apart */
static void
test_beside_policy(void **state)
{
    char         err[OMNI_ERRLEN];
    uint32_t     rev;
    test_ctx_t  *ctx;

    ctx = *state;

    assert_int_equal(omni_store_policy_put(ctx->st, "{\"roles\":{}}", 12,
                                           "alice", "", TEST_NOW, &rev, err),
                     OMNI_STORE_OK);
    assert_int_equal(omni_store_policy_put(ctx->st, "{\"roles\":{}}", 12,
                                           "alice", "", TEST_NOW, &rev, err),
                     OMNI_STORE_OK);
    assert_int_equal(rev, 2);

    assert_int_equal(test_current(ctx->st), 0);
    assert_int_equal(test_put(ctx->st, test_wf_a, "alice", "", TEST_NOW), 1);

    assert_int_equal(omni_store_policy_current(ctx->st, &rev, NULL, err),
                     OMNI_STORE_OK);
    assert_int_equal(rev, 2);
    assert_int_equal(test_current(ctx->st), 1);
}


static void
test_seed(void **state)
{
    char         err[OMNI_ERRLEN];
    uint32_t     rev;
    test_ctx_t  *ctx;

    ctx = *state;

    rev = 99;
    assert_int_equal(omni_store_workflow_seed(ctx->st, test_wf_a,
                                              strlen(test_wf_a),
                                              "file:/etc/wf.json", TEST_NOW,
                                              &rev, err),
                     OMNI_STORE_OK);
    assert_int_equal(rev, 1);
    test_is(ctx->st, 0, test_wf_a, 1, "file:/etc/wf.json", "seed", TEST_NOW);

    /* a store with a workflow keeps it: the file is only the seed */
    rev = 99;
    assert_int_equal(omni_store_workflow_seed(ctx->st, test_wf_b,
                                              strlen(test_wf_b), "file",
                                              TEST_NOW + 1, &rev, err),
                     OMNI_STORE_OK);
    assert_int_equal(rev, 0);
    test_is(ctx->st, 0, test_wf_a, 1, "file:/etc/wf.json", "seed", TEST_NOW);
}


static void
test_list(void **state)
{
    int                         i;
    char                        err[OMNI_ERRLEN], json[64];
    size_t                      n;
    test_ctx_t                 *ctx;
    omni_store_revision_info_t  out[8];

    ctx = *state;

    n = 5;
    assert_int_equal(omni_store_workflow_list(ctx->st, 0, out, 8, &n, err),
                     OMNI_STORE_OK);
    assert_int_equal(n, 0);

    for (i = 1; i <= 12; i++) {
        snprintf(json, sizeof(json), "{\"version\":1,\"n\":%d}", i);
        assert_int_equal(test_put(ctx->st, json, "alice", "x",
                                  TEST_NOW + i),
                         i);
    }

    /* a policy revision in between is not listed */
    assert_int_equal(omni_store_policy_put(ctx->st, "{\"roles\":{}}", 12,
                                           "alice", "", TEST_NOW, &out[0].rev,
                                           err),
                     OMNI_STORE_OK);

    assert_int_equal(omni_store_workflow_list(ctx->st, 0, out, 8, &n, err),
                     OMNI_STORE_OK);
    assert_int_equal(n, 8);
    assert_int_equal(out[0].rev, 12);
    assert_int_equal(out[0].time, TEST_NOW + 12);
    assert_int_equal(out[7].rev, 5);

    assert_int_equal(omni_store_workflow_list(ctx->st, 5, out, 8, &n, err),
                     OMNI_STORE_OK);
    assert_int_equal(n, 4);
    assert_int_equal(out[0].rev, 4);
    assert_int_equal(out[3].rev, 1);
}


static void
test_invalid(void **state)
{
    char         err[OMNI_ERRLEN], *big;
    uint32_t     rev;
    test_ctx_t  *ctx;

    ctx = *state;

    assert_int_equal(omni_store_workflow_put(ctx->st, test_wf_a, 0, "alice",
                                             "", TEST_NOW, &rev, err),
                     OMNI_STORE_INVALID);
    assert_string_equal(err, "the workflow is empty");

    assert_int_equal(omni_store_workflow_put(ctx->st, test_wf_a,
                                             strlen(test_wf_a), "a b", "",
                                             TEST_NOW, &rev, err),
                     OMNI_STORE_INVALID);
    assert_string_equal(err, "author must be 1 to 255 bytes without spaces "
                        "or control characters");

    assert_int_equal(omni_store_workflow_put(ctx->st, test_wf_a,
                                             strlen(test_wf_a), "alice",
                                             "a\nb", TEST_NOW, &rev, err),
                     OMNI_STORE_INVALID);

    big = malloc(OMNI_STORE_WORKFLOW_MAX + 1);
    assert_non_null(big);
    memset(big, ' ', OMNI_STORE_WORKFLOW_MAX + 1);

    assert_int_equal(omni_store_workflow_put(ctx->st, big,
                                             OMNI_STORE_WORKFLOW_MAX + 1,
                                             "alice", "", TEST_NOW, &rev,
                                             err),
                     OMNI_STORE_INVALID);
    assert_string_equal(err, "the workflow is 1048577 bytes, more than the "
                        "1048576 allowed");
    free(big);

    /* nothing was written */
    assert_int_equal(test_current(ctx->st), 0);
}


/*
 * The capacities' put from a revision read: written while that revision
 * is current (none: 0), refused with a conflict and nothing written once
 * another put made another current.
 */
static void
test_capacity_replace(void **state)
{
    char         err[OMNI_ERRLEN], *got;
    size_t       len;
    uint32_t     rev, cur;
    test_ctx_t  *ctx;

    ctx = *state;

    assert_int_equal(omni_store_capacity_replace(ctx->st, 0, test_wf_a,
                                                 strlen(test_wf_a), "alice",
                                                 "first", TEST_NOW, &rev,
                                                 err),
                     OMNI_STORE_OK);
    assert_int_equal(rev, 1);

    /* a second writer that read "none" too */
    rev = 99;
    assert_int_equal(omni_store_capacity_replace(ctx->st, 0, test_wf_b,
                                                 strlen(test_wf_b), "bob",
                                                 "lost?", TEST_NOW, &rev,
                                                 err),
                     OMNI_STORE_CONFLICT);
    assert_int_equal(rev, 0);
    assert_string_equal(err, "capacity revision 1 became current after "
                        "revision 0 was read");

    assert_int_equal(omni_store_capacity_replace(ctx->st, 1, test_wf_b,
                                                 strlen(test_wf_b), "bob",
                                                 "second", TEST_NOW, &rev,
                                                 err),
                     OMNI_STORE_OK);
    assert_int_equal(rev, 2);

    /* from revision 1 again: 2 is current */
    assert_int_equal(omni_store_capacity_replace(ctx->st, 1, test_wf_a,
                                                 strlen(test_wf_a), "carol",
                                                 "stale", TEST_NOW, &rev,
                                                 err),
                     OMNI_STORE_CONFLICT);

    assert_int_equal(omni_store_capacity_current(ctx->st, &cur, err),
                     OMNI_STORE_OK);
    assert_int_equal(cur, 2);
    assert_int_equal(omni_store_capacity_get(ctx->st, 0, &got, &len, NULL,
                                             err),
                     OMNI_STORE_OK);
    assert_string_equal(got, test_wf_b);
    free(got);

    /* the workflow's revisions are not the capacities' */
    assert_int_equal(test_current(ctx->st), 0);
}


int
main(void)
{
#define TEST(name)  cmocka_unit_test_setup_teardown(name, test_setup,         \
                                                    test_teardown)

    const struct CMUnitTest  tests[] = {
        TEST(test_revisions),
        TEST(test_beside_policy),
        TEST(test_seed),
        TEST(test_list),
        TEST(test_invalid),
        TEST(test_capacity_replace),
    };

#undef TEST

    return cmocka_run_group_tests_name("store_workflow", tests,
                                       test_group_setup, test_group_teardown);
}
