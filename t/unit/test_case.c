/*
 * Copyright (C) The omni gateway authors
 *
 * Unit tests of cases (omni_store_case.c): ids and their check digit,
 * texts, the status lifecycle (every pair of statuses), closed cases and
 * their follow-ups, due times and first responses, events and what the
 * customer sees of them, lists by customer and status, the bounds, the
 * journey events, sealing of subjects and notes, erasure, and an export
 * imported into a new store.  Each test runs on a plain store and on one
 * sealed with a keyring.
 */


#define _GNU_SOURCE   /* memmem() */

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

#include "test_tmpdir.h"

#include "omni_case_view.h"
#include "omni_keyring.h"
#include "omni_store.h"


#define TEST_DIR_LEN    256
#define TEST_MAP_MAX    ((size_t) 64 * 1024 * 1024)
#define TEST_NOW        1700000000
#define TEST_SUBJECT    "Parcel MARKER-SUBJECT-5521 never came"
#define TEST_NOTE       "Called the courier: MARKER-NOTE-7734\nback soon"


typedef struct {
    char             dir[TEST_DIR_LEN];
    int              sealed;
    omni_keyring_t  *kr;
    omni_store_t    *st;
} test_ctx_t;


static char  test_base[64];


static int
test_group_setup(void **state)
{
    (void) state;

    return test_tmpdir_make(test_base, sizeof(test_base), "case");
}


static int
test_group_teardown(void **state)
{
    (void) state;

    return test_tmpdir_remove(test_base);
}


static omni_store_t *
test_open_dir(const char *dir, const omni_keyring_t *kr)
{
    char           err[OMNI_ERRLEN];
    omni_store_t  *st;

    st = omni_store_open(dir, TEST_MAP_MAX, OMNI_STORE_SYNC_NONE, err);
    assert_non_null(st);

    if (kr != NULL) {
        if (omni_store_use_keyring(st, kr, err) != OMNI_STORE_OK) {
            fprintf(stderr, "use_keyring: %s\n", err);
            fail();
        }

    } else {
        assert_int_equal(omni_store_keyring_check(st, NULL, err),
                         OMNI_STORE_OK);
    }

    return st;
}


static int
test_setup_mode(void **state, int sealed)
{
    char         err[OMNI_ERRLEN];
    test_ctx_t  *ctx;

    ctx = calloc(1, sizeof(test_ctx_t));
    if (ctx == NULL) {
        return -1;
    }

    snprintf(ctx->dir, sizeof(ctx->dir), "%s/t-XXXXXX", test_base);
    ctx->sealed = sealed;

    if (mkdtemp(ctx->dir) == NULL
        || (sealed && omni_keyring_generate(&ctx->kr, err) != 0))
    {
        free(ctx);
        return -1;
    }

    ctx->st = test_open_dir(ctx->dir, ctx->kr);
    *state = ctx;

    /* customers exist through their records */
    assert_int_equal(omni_store_identity_link(ctx->st, "phone",
                                              "+8613800000000", "cA", err),
                     OMNI_STORE_OK);
    assert_int_equal(omni_store_identity_link(ctx->st, "openid", "oB-1",
                                              "cB", err),
                     OMNI_STORE_OK);

    return 0;
}


static int
test_setup_plain(void **state)
{
    return test_setup_mode(state, 0);
}


static int
test_setup_sealed(void **state)
{
    return test_setup_mode(state, 1);
}


static int
test_teardown(void **state)
{
    test_ctx_t  *ctx;

    ctx = *state;

    omni_store_close(ctx->st);
    omni_keyring_free(ctx->kr);
    test_tmpdir_remove(ctx->dir);
    free(ctx);

    return 0;
}


static omni_store_case_by_t
test_by(const char *author, const char *channel, int64_t now)
{
    omni_store_case_by_t  by;

    memset(&by, 0, sizeof(by));
    by.author = author;
    by.channel = channel;
    by.now = now;

    return by;
}


/* a new case of customer, its id in id */
static void
test_create(omni_store_t *st, const char *customer, const char *category,
    char *id)
{
    char                  err[OMNI_ERRLEN];
    omni_store_case_t     c;
    omni_store_case_by_t  by;

    memset(&c, 0, sizeof(c));
    snprintf(c.customer, sizeof(c.customer), "%s", customer);
    snprintf(c.subject, sizeof(c.subject), "%s", TEST_SUBJECT);
    snprintf(c.category, sizeof(c.category), "%s", category);
    c.priority = OMNI_STORE_CASE_HIGH;
    c.first_response_due = TEST_NOW + 3600;
    c.resolution_due = TEST_NOW + 86400;

    by = test_by("customer", "web", TEST_NOW);
    by.identity_type = "phone";
    by.session = "s1";

    if (omni_store_case_create(st, &c, &by, err) != OMNI_STORE_OK) {
        fprintf(stderr, "create: %s\n", err);
        fail();
    }

    memcpy(id, c.id, sizeof(c.id));
}


static int
test_status(omni_store_t *st, const char *id, int status)
{
    char                  err[OMNI_ERRLEN];
    omni_store_case_by_t  by;

    by = test_by("agent-7", "admin", TEST_NOW + 10);

    return omni_store_case_set_status(st, id, status, &by, NULL, err);
}


/* a public note of TEST_NOTE */
static void
test_note(omni_store_t *st, const char *id, const omni_store_case_by_t *by)
{
    char  err[OMNI_ERRLEN];

    assert_int_equal(omni_store_case_note(st, id, OMNI_STORE_CASE_EV_NOTE,
                                          TEST_NOTE, strlen(TEST_NOTE), by,
                                          NULL, NULL, err),
                     OMNI_STORE_OK);
}


/* whether the store's data file holds s anywhere */
static int
test_file_has(const char *dir, const char *s)
{
    int    found;
    char   path[TEST_DIR_LEN + 16];
    FILE  *f;
    long   len;
    char  *data;

    snprintf(path, sizeof(path), "%s/data.mdb", dir);

    f = fopen(path, "r");
    assert_non_null(f);
    assert_int_equal(fseek(f, 0, SEEK_END), 0);
    len = ftell(f);
    assert_true(len > 0);
    rewind(f);

    data = malloc((size_t) len);
    assert_non_null(data);
    assert_int_equal(fread(data, 1, (size_t) len, f), (size_t) len);
    fclose(f);

    found = memmem(data, (size_t) len, s, strlen(s)) != NULL;
    free(data);

    return found;
}


/* ids: every single-digit error and adjacent swap is caught */

static void
test_case_ids(void **state)
{
    int   d, i, caught, swaps;
    char  id[OMNI_STORE_CASE_ID_LEN + 1], bad[OMNI_STORE_CASE_ID_LEN + 1];
    char  err[OMNI_ERRLEN];
    char  c;
    omni_store_case_t  cs;
    test_ctx_t        *ctx;

    ctx = *state;

    /* Luhn: 7992739875 sums to 60 */
    assert_int_equal(omni_store_case_check_digit("799273987"), '5');
    assert_true(omni_store_case_id_valid("7992739875", 10));
    assert_true(omni_store_case_id_valid("0000000000", 10));
    assert_false(omni_store_case_id_valid("000000000", 9));
    assert_false(omni_store_case_id_valid("00000000000", 11));
    assert_false(omni_store_case_id_valid("00000a0000", 10));
    assert_false(omni_store_case_id_valid("0000-00000", 10));
    assert_false(omni_store_case_id_valid(NULL, 10));

    test_create(ctx->st, "cA", "complaint", id);
    assert_true(omni_store_case_id_valid(id, strlen(id)));

    caught = 0;

    for (i = 0; i < OMNI_STORE_CASE_ID_LEN; i++) {
        for (d = 0; d < 10; d++) {
            if (id[i] == '0' + d) {
                continue;
            }

            memcpy(bad, id, sizeof(bad));
            bad[i] = (char) ('0' + d);
            caught += !omni_store_case_id_valid(bad, strlen(bad));
        }
    }

    assert_int_equal(caught, OMNI_STORE_CASE_ID_LEN * 9);

    swaps = 0;
    caught = 0;

    for (i = 0; i + 1 < OMNI_STORE_CASE_ID_LEN; i++) {
        if (id[i] == id[i + 1]
            || (id[i] == '0' && id[i + 1] == '9')
            || (id[i] == '9' && id[i + 1] == '0'))
        {
            continue;      /* Luhn's one blind spot, and no swap at all */
        }

        memcpy(bad, id, sizeof(bad));
        c = bad[i];
        bad[i] = bad[i + 1];
        bad[i + 1] = c;
        swaps++;
        caught += !omni_store_case_id_valid(bad, strlen(bad));
    }

    assert_int_equal(caught, swaps);

    /* every lookup checks the id */
    memcpy(bad, id, sizeof(bad));
    bad[0] = (bad[0] == '9') ? '0' : (char) (bad[0] + 1);
    assert_int_equal(omni_store_case_get(ctx->st, bad, &cs, err),
                     OMNI_STORE_INVALID);
    assert_non_null(strstr(err, "not a case id"));
    assert_int_equal(test_status(ctx->st, bad, OMNI_STORE_CASE_OPEN),
                     OMNI_STORE_INVALID);

    /* a well-formed id nobody has */
    memcpy(bad, "123456789", 9);
    bad[9] = omni_store_case_check_digit(bad);
    bad[10] = '\0';
    assert_int_equal(omni_store_case_get(ctx->st, bad, &cs, err),
                     OMNI_STORE_NOT_FOUND);
}


static void
test_case_texts(void **state)
{
    char                  err[OMNI_ERRLEN];
    char                  id[OMNI_STORE_CASE_ID_LEN + 1];
    char                  big[OMNI_STORE_CASE_TEXT_MAX + 2];
    omni_store_case_t     c;
    omni_store_case_by_t  by;
    test_ctx_t           *ctx;

    ctx = *state;

    assert_true(omni_store_case_text_valid("Où est mon colis ? 快递",
                                           strlen("Où est mon colis ? 快递"),
                                           200, 0));
    assert_false(omni_store_case_text_valid("a\tb", 3, 200, 0));
    assert_true(omni_store_case_text_valid("a\tb\nc", 5, 200, 1));
    assert_false(omni_store_case_text_valid("a\rb", 3, 200, 1));
    assert_false(omni_store_case_text_valid("a\x7f", 2, 200, 1));
    assert_false(omni_store_case_text_valid("\xc2\x85", 2, 200, 1));  /* C1 */
    assert_false(omni_store_case_text_valid("\xc0\xaf", 2, 200, 1));
    assert_false(omni_store_case_text_valid("\xed\xa0\x80", 3, 200, 1));
    assert_false(omni_store_case_text_valid("\xf4\x90\x80\x80", 4, 200, 1));
    assert_false(omni_store_case_text_valid("\xe4\xb8", 2, 200, 1));
    assert_false(omni_store_case_text_valid("", 0, 200, 1));
    assert_false(omni_store_case_text_valid("abc", 3, 2, 1));

    /* refused fields */
    memset(&c, 0, sizeof(c));
    snprintf(c.customer, sizeof(c.customer), "cA");
    snprintf(c.subject, sizeof(c.subject), "bad\x01subject");
    snprintf(c.category, sizeof(c.category), "complaint");
    by = test_by("customer", "web", TEST_NOW);

    assert_int_equal(omni_store_case_create(ctx->st, &c, &by, err),
                     OMNI_STORE_INVALID);
    assert_non_null(strstr(err, "subject"));

    snprintf(c.subject, sizeof(c.subject), "ok");
    snprintf(c.category, sizeof(c.category), "no spaces");
    assert_int_equal(omni_store_case_create(ctx->st, &c, &by, err),
                     OMNI_STORE_INVALID);

    snprintf(c.category, sizeof(c.category), "complaint");
    c.priority = OMNI_STORE_CASE_PRIORITIES;
    assert_int_equal(omni_store_case_create(ctx->st, &c, &by, err),
                     OMNI_STORE_INVALID);

    c.priority = OMNI_STORE_CASE_LOW;
    by.author = "two words";
    assert_int_equal(omni_store_case_create(ctx->st, &c, &by, err),
                     OMNI_STORE_INVALID);

    by.author = "customer";
    snprintf(c.customer, sizeof(c.customer), "nobody");
    assert_int_equal(omni_store_case_create(ctx->st, &c, &by, err),
                     OMNI_STORE_NOT_FOUND);

    /* notes */
    test_create(ctx->st, "cA", "complaint", id);
    by = test_by("agent-7", "admin", TEST_NOW);

    memset(big, 'x', sizeof(big));
    assert_int_equal(omni_store_case_note(ctx->st, id,
                                          OMNI_STORE_CASE_EV_NOTE, big,
                                          OMNI_STORE_CASE_TEXT_MAX + 1, &by,
                                          NULL, NULL, err),
                     OMNI_STORE_INVALID);
    assert_int_equal(omni_store_case_note(ctx->st, id,
                                          OMNI_STORE_CASE_EV_NOTE, big,
                                          OMNI_STORE_CASE_TEXT_MAX, &by,
                                          NULL, NULL, err),
                     OMNI_STORE_OK);
    assert_int_equal(omni_store_case_note(ctx->st, id,
                                          OMNI_STORE_CASE_EV_STATUS, "x", 1,
                                          &by, NULL, NULL, err),
                     OMNI_STORE_INVALID);

    /* names */
    assert_int_equal(omni_store_case_status_parse("on_hold", 7),
                     OMNI_STORE_CASE_ON_HOLD);
    assert_int_equal(omni_store_case_status_parse("on_hol", 6), -1);
    assert_int_equal(omni_store_case_priority_parse("urgent", 6),
                     OMNI_STORE_CASE_URGENT);
    assert_string_equal(omni_store_case_status_name(99), "unknown");
}


/* every pair of statuses: the table holds, refusals change nothing */

static const int  test_moves[OMNI_STORE_CASE_STATUSES]
                            [OMNI_STORE_CASE_STATUSES] =
{
    /* to: new open pending on_hold resolved closed */
    { 0, 1, 1, 1, 1, 0 },
    { 0, 0, 1, 1, 1, 0 },
    { 0, 1, 0, 1, 1, 0 },
    { 0, 1, 1, 0, 1, 0 },
    { 0, 1, 0, 0, 0, 1 },
    { 0, 0, 0, 0, 0, 0 },
};

/* a path from new to each status */
static const int  test_paths[OMNI_STORE_CASE_STATUSES][3] = {
    { -1, -1, -1 },
    { OMNI_STORE_CASE_OPEN, -1, -1 },
    { OMNI_STORE_CASE_PENDING, -1, -1 },
    { OMNI_STORE_CASE_ON_HOLD, -1, -1 },
    { OMNI_STORE_CASE_RESOLVED, -1, -1 },
    { OMNI_STORE_CASE_RESOLVED, OMNI_STORE_CASE_CLOSED, -1 },
};


static void
test_case_lifecycle(void **state)
{
    int                from, to, i, rc;
    char               err[OMNI_ERRLEN];
    char               id[OMNI_STORE_CASE_ID_LEN + 1];
    omni_store_case_t  before, after;
    test_ctx_t        *ctx;

    ctx = *state;

    for (from = 0; from < OMNI_STORE_CASE_STATUSES; from++) {
        for (to = 0; to < OMNI_STORE_CASE_STATUSES; to++) {
            assert_int_equal(omni_store_case_transition_valid(from, to),
                             test_moves[from][to]);

            test_create(ctx->st, "cB", "billing", id);

            for (i = 0; i < 3 && test_paths[from][i] >= 0; i++) {
                assert_int_equal(test_status(ctx->st, id,
                                             test_paths[from][i]),
                                 OMNI_STORE_OK);
            }

            assert_int_equal(omni_store_case_get(ctx->st, id, &before, err),
                             OMNI_STORE_OK);
            assert_int_equal(before.status, from);

            rc = test_status(ctx->st, id, to);

            assert_int_equal(omni_store_case_get(ctx->st, id, &after, err),
                             OMNI_STORE_OK);

            if (test_moves[from][to]) {
                assert_int_equal(rc, OMNI_STORE_OK);
                assert_int_equal(after.status, to);
                assert_int_equal(after.nevents, before.nevents + 1);

            } else {
                assert_int_equal(rc, OMNI_STORE_CONFLICT);
                assert_int_equal(after.status, from);
                assert_int_equal(after.nevents, before.nevents);
                assert_int_equal(after.updated, before.updated);
            }
        }
    }

    assert_int_equal(omni_store_case_transition_valid(-1, 0), 0);
    assert_int_equal(omni_store_case_transition_valid(0, 6), 0);
    assert_int_equal(test_status(ctx->st, id, 17), OMNI_STORE_INVALID);
}


static void
test_case_closed(void **state)
{
    char                  err[OMNI_ERRLEN];
    char                  id[OMNI_STORE_CASE_ID_LEN + 1];
    char                  fu[OMNI_STORE_CASE_ID_LEN + 1];
    size_t                n;
    omni_store_case_t     c, due;
    omni_store_case_by_t  by;
    omni_store_case_event_t  ev[8];
    test_ctx_t           *ctx;

    ctx = *state;

    test_create(ctx->st, "cA", "complaint", id);
    assert_int_equal(test_status(ctx->st, id, OMNI_STORE_CASE_RESOLVED),
                     OMNI_STORE_OK);
    assert_int_equal(test_status(ctx->st, id, OMNI_STORE_CASE_CLOSED),
                     OMNI_STORE_OK);

    by = test_by("agent-7", "admin", TEST_NOW + 100);

    assert_int_equal(omni_store_case_note(ctx->st, id,
                                          OMNI_STORE_CASE_EV_NOTE, "hi", 2,
                                          &by, NULL, fu, err),
                     OMNI_STORE_CONFLICT);
    assert_string_equal(fu, "");
    assert_int_equal(omni_store_case_note(ctx->st, id,
                                          OMNI_STORE_CASE_EV_INTERNAL, "hi",
                                          2, &by, NULL, NULL, err),
                     OMNI_STORE_CONFLICT);
    assert_int_equal(omni_store_case_assign(ctx->st, id, "agent-8", "",
                                            &by, err),
                     OMNI_STORE_CONFLICT);
    assert_int_equal(omni_store_case_touch(ctx->st, id, &by, err),
                     OMNI_STORE_CONFLICT);

    assert_int_equal(omni_store_case_get(ctx->st, id, &c, err),
                     OMNI_STORE_OK);
    assert_int_equal(c.status, OMNI_STORE_CASE_CLOSED);
    assert_int_equal(c.closed_at, TEST_NOW + 10);
    assert_int_equal(c.nevents, 3);

    /* the customer's reply opens a follow-up that names it */
    memset(&due, 0, sizeof(due));
    due.first_response_due = TEST_NOW + 200 + 3600;
    by = test_by("customer", "ivr", TEST_NOW + 200);
    by.identity_type = "phone";

    assert_int_equal(omni_store_case_note(ctx->st, id,
                                          OMNI_STORE_CASE_EV_REPLY,
                                          "still broken", 12, &by, &due, fu,
                                          err),
                     OMNI_STORE_OK);
    assert_true(omni_store_case_id_valid(fu, strlen(fu)));
    assert_string_not_equal(fu, id);

    assert_int_equal(omni_store_case_get(ctx->st, fu, &c, err),
                     OMNI_STORE_OK);
    assert_string_equal(c.follow_up_of, id);
    assert_string_equal(c.customer, "cA");
    assert_string_equal(c.subject, TEST_SUBJECT);
    assert_string_equal(c.category, "complaint");
    assert_string_equal(c.channel, "ivr");
    assert_int_equal(c.status, OMNI_STORE_CASE_NEW);
    assert_int_equal(c.priority, OMNI_STORE_CASE_HIGH);
    assert_int_equal(c.first_response_due, TEST_NOW + 200 + 3600);
    assert_int_equal(c.resolution_due, 0);

    assert_int_equal(omni_store_case_events(ctx->st, fu, 0, 1, ev, 8, &n,
                                            err),
                     OMNI_STORE_OK);
    assert_int_equal(n, 2);
    assert_int_equal(ev[0].kind, OMNI_STORE_CASE_EV_CREATED);
    assert_int_equal(ev[1].kind, OMNI_STORE_CASE_EV_REPLY);
    assert_string_equal(ev[1].text, "still broken");

    /* after a merge, the follow-up is the survivor's */
    {
        char  cb[OMNI_STORE_CASE_ID_LEN + 1];

        test_create(ctx->st, "cB", "billing", cb);
        assert_int_equal(test_status(ctx->st, cb, OMNI_STORE_CASE_RESOLVED),
                         OMNI_STORE_OK);
        assert_int_equal(test_status(ctx->st, cb, OMNI_STORE_CASE_CLOSED),
                         OMNI_STORE_OK);
        assert_int_equal(omni_store_customer_merge(ctx->st, "cB", "cA",
                                                   TEST_NOW, err),
                         OMNI_STORE_OK);
        assert_int_equal(omni_store_case_note(ctx->st, cb,
                                              OMNI_STORE_CASE_EV_REPLY, "hi",
                                              2, &by, NULL, fu, err),
                         OMNI_STORE_OK);
        assert_int_equal(omni_store_case_get(ctx->st, fu, &c, err),
                         OMNI_STORE_OK);
        assert_string_equal(c.customer, "cA");
        assert_string_equal(c.follow_up_of, cb);
    }

    /* the closed case did not change */
    assert_int_equal(omni_store_case_get(ctx->st, id, &c, err),
                     OMNI_STORE_OK);
    assert_int_equal(c.nevents, 3);
    assert_int_equal(c.updated, TEST_NOW + 10);
}


static void
test_case_events(void **state)
{
    char                  err[OMNI_ERRLEN];
    char                  id[OMNI_STORE_CASE_ID_LEN + 1];
    size_t                n;
    omni_store_case_t     c;
    omni_store_case_by_t  by;
    omni_store_case_event_t  *ev;
    test_ctx_t           *ctx;

    ctx = *state;

    ev = calloc(OMNI_STORE_CASE_EVENTS + 1, sizeof(*ev));
    assert_non_null(ev);

    test_create(ctx->st, "cA", "complaint", id);

    assert_int_equal(omni_store_case_get(ctx->st, id, &c, err),
                     OMNI_STORE_OK);
    assert_string_equal(c.subject, TEST_SUBJECT);
    assert_int_equal(c.status, OMNI_STORE_CASE_NEW);
    assert_int_equal(c.created, TEST_NOW);
    assert_int_equal(c.first_response_due, TEST_NOW + 3600);
    assert_int_equal(c.resolution_due, TEST_NOW + 86400);
    assert_int_equal(c.first_response_at, 0);
    assert_int_equal(c.ntouches, 1);
    assert_string_equal(c.touches[0].channel, "web");
    assert_string_equal(c.touches[0].identity_type, "phone");
    assert_string_equal(c.touches[0].session, "s1");

    /* an internal note is no first response; a public one is */
    by = test_by("agent-7", "admin", TEST_NOW + 60);
    assert_int_equal(omni_store_case_note(ctx->st, id,
                                          OMNI_STORE_CASE_EV_INTERNAL,
                                          "internal only", 13, &by, NULL,
                                          NULL, err),
                     OMNI_STORE_OK);
    assert_int_equal(omni_store_case_get(ctx->st, id, &c, err),
                     OMNI_STORE_OK);
    assert_int_equal(c.first_response_at, 0);

    by.now = TEST_NOW + 120;
    test_note(ctx->st, id, &by);
    assert_int_equal(omni_store_case_assign(ctx->st, id, "agent-7",
                                            "returns", &by, err),
                     OMNI_STORE_OK);
    assert_int_equal(omni_store_case_assign(ctx->st, id, "two words", "",
                                            &by, err),
                     OMNI_STORE_INVALID);
    assert_int_equal(test_status(ctx->st, id, OMNI_STORE_CASE_PENDING),
                     OMNI_STORE_OK);

    /* the customer answers what the case waited for: open again */
    by = test_by("customer", "wechat_oa", TEST_NOW + 300);
    by.identity_type = "wechat_openid";
    assert_int_equal(omni_store_case_note(ctx->st, id,
                                          OMNI_STORE_CASE_EV_REPLY, "thanks",
                                          6, &by, NULL, NULL, err),
                     OMNI_STORE_OK);

    assert_int_equal(omni_store_case_get(ctx->st, id, &c, err),
                     OMNI_STORE_OK);
    assert_int_equal(c.first_response_at, TEST_NOW + 120);
    assert_int_equal(c.status, OMNI_STORE_CASE_OPEN);

    /* answered: what is due now is the resolution */
    {
        omni_store_case_brief_t  brief[1];

        assert_int_equal(omni_store_cases_open_brief(ctx->st, "cA", brief, 1,
                                                     &n, err),
                         OMNI_STORE_OK);
        assert_int_equal(n, 1);
        assert_int_equal(brief[0].due, TEST_NOW + 86400);
    }
    assert_string_equal(c.assignee, "agent-7");
    assert_string_equal(c.pool, "returns");
    assert_int_equal(c.ntouches, 2);
    assert_string_equal(c.touches[1].channel, "wechat_oa");

    /* every event for an agent, the public ones for the customer */
    assert_int_equal(omni_store_case_events(ctx->st, id, 0, 0, ev, 16, &n,
                                            err),
                     OMNI_STORE_OK);
    assert_int_equal(n, 7);
    assert_int_equal(ev[1].kind, OMNI_STORE_CASE_EV_INTERNAL);
    assert_string_equal(ev[2].text, TEST_NOTE);
    assert_int_equal(ev[2].seq, 2);
    assert_string_equal(ev[2].author, "agent-7");
    assert_int_equal(ev[3].kind, OMNI_STORE_CASE_EV_ASSIGN);
    assert_string_equal(ev[3].text, "agent-7@returns");
    assert_int_equal(ev[4].kind, OMNI_STORE_CASE_EV_STATUS);
    assert_int_equal(ev[4].to, OMNI_STORE_CASE_PENDING);
    assert_int_equal(ev[6].kind, OMNI_STORE_CASE_EV_STATUS);
    assert_int_equal(ev[6].from, OMNI_STORE_CASE_PENDING);
    assert_int_equal(ev[6].to, OMNI_STORE_CASE_OPEN);

    assert_int_equal(omni_store_case_events(ctx->st, id, 0, 1, ev, 16, &n,
                                            err),
                     OMNI_STORE_OK);
    assert_int_equal(n, 5);
    assert_int_equal(ev[1].kind, OMNI_STORE_CASE_EV_NOTE);

    assert_int_equal(omni_store_case_events(ctx->st, id, 5, 0, ev, 16, &n,
                                            err),
                     OMNI_STORE_OK);
    assert_int_equal(n, 2);
    assert_int_equal(ev[0].seq, 5);

    /* the bound on events: notes stop short of it, status changes do
     * not, so a full case can still be resolved and closed */
    by = test_by("agent-7", "admin", TEST_NOW + 400);

    for (n = 7; n < OMNI_STORE_CASE_EVENTS - OMNI_STORE_CASE_EVENTS_KEPT;
         n++)
    {
        assert_int_equal(omni_store_case_note(ctx->st, id,
                                              OMNI_STORE_CASE_EV_INTERNAL,
                                              "x", 1, &by, NULL, NULL, err),
                         OMNI_STORE_OK);
    }

    assert_int_equal(omni_store_case_note(ctx->st, id,
                                          OMNI_STORE_CASE_EV_INTERNAL, "x", 1,
                                          &by, NULL, NULL, err),
                     OMNI_STORE_CONFLICT);
    assert_int_equal(omni_store_case_assign(ctx->st, id, "a", "", &by, err),
                     OMNI_STORE_CONFLICT);

    for (n = 0; n < OMNI_STORE_CASE_EVENTS_KEPT / 2; n++) {
        assert_int_equal(test_status(ctx->st, id, OMNI_STORE_CASE_PENDING),
                         OMNI_STORE_OK);
        assert_int_equal(test_status(ctx->st, id, OMNI_STORE_CASE_OPEN),
                         OMNI_STORE_OK);
    }

    assert_int_equal(test_status(ctx->st, id, OMNI_STORE_CASE_RESOLVED),
                     OMNI_STORE_CONFLICT);
    assert_int_equal(omni_store_case_events(ctx->st, id, 0, 0, ev,
                                            OMNI_STORE_CASE_EVENTS + 1, &n,
                                            err),
                     OMNI_STORE_OK);
    assert_int_equal(n, OMNI_STORE_CASE_EVENTS);

    free(ev);
}


static void
test_case_touches(void **state)
{
    int                   i;
    char                  err[OMNI_ERRLEN];
    char                  id[OMNI_STORE_CASE_ID_LEN + 1];
    omni_store_case_t     c;
    omni_store_case_by_t  by;
    test_ctx_t           *ctx;

    ctx = *state;

    test_create(ctx->st, "cA", "complaint", id);

    by = test_by("customer", "app", TEST_NOW);
    by.identity_type = "device_id";

    for (i = 0; i < OMNI_STORE_CASE_TOUCHES + 4; i++) {
        by.now = TEST_NOW + 1 + i;
        assert_int_equal(omni_store_case_touch(ctx->st, id, &by, err),
                         OMNI_STORE_OK);
    }

    assert_int_equal(omni_store_case_get(ctx->st, id, &c, err),
                     OMNI_STORE_OK);
    assert_int_equal(c.ntouches, OMNI_STORE_CASE_TOUCHES);
    assert_int_equal(c.touches_total, OMNI_STORE_CASE_TOUCHES + 5);
    assert_int_equal(c.touches[0].time, TEST_NOW + 5);
    assert_int_equal(c.touches[OMNI_STORE_CASE_TOUCHES - 1].time,
                     TEST_NOW + OMNI_STORE_CASE_TOUCHES + 4);
    assert_int_equal(c.nevents, 1);     /* a touch is no event */

    by.session = "bad session";
    assert_int_equal(omni_store_case_touch(ctx->st, id, &by, err),
                     OMNI_STORE_INVALID);
}


static void
test_case_lists(void **state)
{
    int              i;
    char             err[OMNI_ERRLEN];
    char             ids[5][OMNI_STORE_CASE_ID_LEN + 1];
    char             other[OMNI_STORE_CASE_ID_LEN + 1];
    size_t           n;
    omni_store_id_t  out[8];
    omni_store_journey_t  jev[16];
    test_ctx_t      *ctx;

    ctx = *state;

    for (i = 0; i < 5; i++) {
        test_create(ctx->st, "cA", "complaint", ids[i]);
    }

    test_create(ctx->st, "cB", "billing", other);

    /* the first two done: listed after the open ones */
    assert_int_equal(test_status(ctx->st, ids[0], OMNI_STORE_CASE_RESOLVED),
                     OMNI_STORE_OK);
    assert_int_equal(test_status(ctx->st, ids[1], OMNI_STORE_CASE_RESOLVED),
                     OMNI_STORE_OK);
    assert_int_equal(test_status(ctx->st, ids[1], OMNI_STORE_CASE_CLOSED),
                     OMNI_STORE_OK);
    assert_int_equal(test_status(ctx->st, ids[2], OMNI_STORE_CASE_ON_HOLD),
                     OMNI_STORE_OK);

    assert_int_equal(omni_store_cases_by_customer(ctx->st, "cA", NULL, 0,
                                                  out, 8, &n, err),
                     OMNI_STORE_OK);
    assert_int_equal(n, 5);

    for (i = 0; i < 3; i++) {
        int  k, found = 0;

        for (k = 2; k < 5; k++) {
            found += strcmp(out[i].id, ids[k]) == 0;
        }

        assert_int_equal(found, 1);
    }

    assert_int_equal(omni_store_cases_by_customer(ctx->st, "cA", NULL, 1,
                                                  out, 8, &n, err),
                     OMNI_STORE_OK);
    assert_int_equal(n, 3);

    /* pages */
    assert_int_equal(omni_store_cases_by_customer(ctx->st, "cA", NULL, 0,
                                                  out, 2, &n, err),
                     OMNI_STORE_OK);
    assert_int_equal(n, 2);
    assert_int_equal(omni_store_cases_by_customer(ctx->st, "cA", out[1].id,
                                                  0, out, 8, &n, err),
                     OMNI_STORE_OK);
    assert_int_equal(n, 3);

    /* a cursor of another customer's case */
    assert_int_equal(omni_store_cases_by_customer(ctx->st, "cA", other, 0,
                                                  out, 8, &n, err),
                     OMNI_STORE_NOT_FOUND);
    assert_int_equal(omni_store_cases_by_customer(ctx->st, "cA", "123", 0,
                                                  out, 8, &n, err),
                     OMNI_STORE_INVALID);

    assert_int_equal(omni_store_cases_by_status(ctx->st,
                                                OMNI_STORE_CASE_NEW, NULL,
                                                out, 8, &n, err),
                     OMNI_STORE_OK);
    assert_int_equal(n, 3);
    assert_int_equal(omni_store_cases_by_status(ctx->st,
                                                OMNI_STORE_CASE_NEW,
                                                out[0].id, out, 8, &n, err),
                     OMNI_STORE_OK);
    assert_int_equal(n, 2);
    assert_int_equal(omni_store_cases_by_status(ctx->st,
                                                OMNI_STORE_CASE_CLOSED, NULL,
                                                out, 8, &n, err),
                     OMNI_STORE_OK);
    assert_int_equal(n, 1);
    assert_string_equal(out[0].id, ids[1]);
    assert_int_equal(omni_store_cases_by_status(ctx->st, 9, NULL, out, 8,
                                                &n, err),
                     OMNI_STORE_INVALID);

    /* what the contract carries: the open ones, no subject opened */
    {
        omni_store_case_brief_t  brief[8];

        assert_int_equal(omni_store_cases_open_brief(ctx->st, "cA", brief, 8,
                                                     &n, err),
                         OMNI_STORE_OK);
        assert_int_equal(n, 3);
        assert_string_equal(brief[0].category, "complaint");
        assert_int_equal(brief[0].due, TEST_NOW + 3600);

        assert_int_equal(omni_store_cases_open_brief(ctx->st, "cA", brief, 2,
                                                     &n, err),
                         OMNI_STORE_OK);
        assert_int_equal(n, 2);

        assert_int_equal(omni_store_cases_open_brief(ctx->st, "nobody", brief,
                                                     8, &n, err),
                         OMNI_STORE_OK);
        assert_int_equal(n, 0);
    }

    /* every change is a journey event, newest first */
    assert_int_equal(omni_store_journey_read(ctx->st, "cB", NULL, jev, 16,
                                             &n, err),
                     OMNI_STORE_OK);
    assert_int_equal(n, 1);
    assert_string_equal(jev[0].channel, "web");
    assert_int_equal(strncmp(jev[0].action, "case.created:", 13), 0);
    assert_string_equal(jev[0].action + 13, other);
    assert_string_equal(jev[0].outcome, "new");
    assert_string_equal(jev[0].session, "s1");

    assert_int_equal(omni_store_journey_read(ctx->st, "cA", NULL, jev, 16,
                                             &n, err),
                     OMNI_STORE_OK);
    assert_int_equal(n, 9);
    assert_int_equal(strncmp(jev[0].action, "case.status:", 12), 0);
    assert_string_equal(jev[0].channel, "admin");
}


static void
test_case_open_bound(void **state)
{
    int                   i;
    char                  err[OMNI_ERRLEN];
    char                  id[OMNI_STORE_CASE_ID_LEN + 1];
    omni_store_case_t     c;
    omni_store_case_by_t  by;
    test_ctx_t           *ctx;

    ctx = *state;

    for (i = 0; i < OMNI_STORE_CASES_OPEN; i++) {
        test_create(ctx->st, "cA", "complaint", id);
    }

    memset(&c, 0, sizeof(c));
    snprintf(c.customer, sizeof(c.customer), "cA");
    snprintf(c.subject, sizeof(c.subject), "one more");
    snprintf(c.category, sizeof(c.category), "complaint");
    by = test_by("customer", "web", TEST_NOW);

    assert_int_equal(omni_store_case_create(ctx->st, &c, &by, err),
                     OMNI_STORE_CONFLICT);

    /* one resolved makes room */
    assert_int_equal(test_status(ctx->st, id, OMNI_STORE_CASE_RESOLVED),
                     OMNI_STORE_OK);
    assert_int_equal(omni_store_case_create(ctx->st, &c, &by, err),
                     OMNI_STORE_OK);
}


/* the open cases past a due time, counted through the status index */
static void
test_case_past_due(void **state)
{
    char                     err[OMNI_ERRLEN];
    char                     id[4][OMNI_STORE_CASE_ID_LEN + 1];
    test_ctx_t              *ctx;
    omni_store_case_by_t     by;
    omni_store_cases_due_t   due;

    ctx = *state;

    test_create(ctx->st, "cA", "complaint", id[0]);
    test_create(ctx->st, "cA", "billing", id[1]);
    test_create(ctx->st, "cA", "billing", id[2]);
    test_create(ctx->st, "cB", "complaint", id[3]);

    assert_int_equal(omni_store_cases_past_due(ctx->st, TEST_NOW + 10, 100,
                                               &due, err),
                     OMNI_STORE_OK);
    assert_int_equal(due.first_response, 0);
    assert_int_equal(due.resolution, 0);
    assert_int_equal(due.scanned, 4);
    assert_int_equal(due.truncated, 0);

    /* answered (a public note by an agent), pending, resolved */
    by = test_by("agent-7", "admin", TEST_NOW + 20);
    test_note(ctx->st, id[0], &by);
    assert_int_equal(test_status(ctx->st, id[1], OMNI_STORE_CASE_PENDING),
                     OMNI_STORE_OK);
    assert_int_equal(test_status(ctx->st, id[2], OMNI_STORE_CASE_RESOLVED),
                     OMNI_STORE_OK);

    /* past the first response's due time: cases 1 and 3 not answered */
    assert_int_equal(omni_store_cases_past_due(ctx->st, TEST_NOW + 4000, 100,
                                               &due, err),
                     OMNI_STORE_OK);
    assert_int_equal(due.first_response, 2);
    assert_int_equal(due.resolution, 0);
    assert_int_equal(due.scanned, 3);

    /* and past the resolution's: the three open ones */
    assert_int_equal(omni_store_cases_past_due(ctx->st, TEST_NOW + 90000,
                                               100, &due, err),
                     OMNI_STORE_OK);
    assert_int_equal(due.first_response, 2);
    assert_int_equal(due.resolution, 3);

    /* the bound: exactly reached is whole, one short is truncated */
    assert_int_equal(omni_store_cases_past_due(ctx->st, TEST_NOW + 90000, 3,
                                               &due, err),
                     OMNI_STORE_OK);
    assert_int_equal(due.scanned, 3);
    assert_int_equal(due.truncated, 0);

    assert_int_equal(omni_store_cases_past_due(ctx->st, TEST_NOW + 90000, 2,
                                               &due, err),
                     OMNI_STORE_OK);
    assert_int_equal(due.scanned, 2);
    assert_int_equal(due.truncated, 1);
    assert_int_equal(due.resolution, 2);
}


static void
test_case_sealing(void **state)
{
    char                  id[OMNI_STORE_CASE_ID_LEN + 1];
    omni_store_case_by_t  by;
    test_ctx_t           *ctx;

    ctx = *state;

    test_create(ctx->st, "cA", "complaint", id);
    by = test_by("agent-7", "admin", TEST_NOW);
    test_note(ctx->st, id, &by);

    omni_store_close(ctx->st);

    /* sealed: neither subject nor note in clear; plain: both are */
    assert_int_equal(test_file_has(ctx->dir, "MARKER-SUBJECT-5521"),
                     !ctx->sealed);
    assert_int_equal(test_file_has(ctx->dir, "MARKER-NOTE-7734"),
                     !ctx->sealed);
    assert_true(test_file_has(ctx->dir, id));

    ctx->st = test_open_dir(ctx->dir, ctx->kr);
}


static void
test_case_erase(void **state)
{
    char                  err[OMNI_ERRLEN];
    char                  id[OMNI_STORE_CASE_ID_LEN + 1];
    char                  kept[OMNI_STORE_CASE_ID_LEN + 1];
    size_t                n, records;
    omni_store_id_t       out[4];
    omni_store_case_t     c;
    omni_store_stats_t    stats;
    omni_store_case_by_t  by;
    test_ctx_t           *ctx;

    ctx = *state;

    test_create(ctx->st, "cA", "complaint", id);
    test_create(ctx->st, "cB", "billing", kept);
    by = test_by("agent-7", "admin", TEST_NOW);
    test_note(ctx->st, id, &by);

    assert_int_equal(omni_store_customer_erase(ctx->st, "cA", TEST_NOW,
                                               &records, err),
                     OMNI_STORE_OK);

    assert_int_equal(omni_store_case_get(ctx->st, id, &c, err),
                     OMNI_STORE_NOT_FOUND);
    assert_int_equal(omni_store_cases_by_customer(ctx->st, "cA", NULL, 0,
                                                  out, 4, &n, err),
                     OMNI_STORE_OK);
    assert_int_equal(n, 0);
    assert_int_equal(omni_store_cases_by_status(ctx->st,
                                                OMNI_STORE_CASE_NEW, NULL,
                                                out, 4, &n, err),
                     OMNI_STORE_OK);
    assert_int_equal(n, 1);
    assert_string_equal(out[0].id, kept);

    /* cB's case and its two events and its status entry are all left */
    assert_int_equal(omni_store_stats(ctx->st, &stats, err), OMNI_STORE_OK);
    assert_int_equal(stats.entries[OMNI_STORE_DB_CASES], 3);

    /* and no case for it again */
    memset(&c, 0, sizeof(c));
    snprintf(c.customer, sizeof(c.customer), "cA");
    snprintf(c.subject, sizeof(c.subject), "again");
    snprintf(c.category, sizeof(c.category), "complaint");
    assert_int_equal(omni_store_case_create(ctx->st, &c, &by, err),
                     OMNI_STORE_NOT_FOUND);
}


/* an export, imported into a new store with the same keyring */

typedef struct {
    size_t                n;
    omni_store_record_t   recs[256];
} test_copy_t;


static int
test_copy_record(void *data, const omni_store_record_t *rec)
{
    void         *k, *v;
    test_copy_t  *cp;

    cp = data;

    if (cp->n == 256) {
        return 1;
    }

    k = malloc(rec->key_len);
    v = malloc(rec->val_len + 1);
    assert_non_null(k);
    assert_non_null(v);
    memcpy(k, rec->key, rec->key_len);
    memcpy(v, rec->val, rec->val_len);

    cp->recs[cp->n] = *rec;
    cp->recs[cp->n].key = k;
    cp->recs[cp->n].val = v;
    cp->n++;

    return 0;
}


static void
test_case_export(void **state)
{
    char                  err[OMNI_ERRLEN];
    char                  id[OMNI_STORE_CASE_ID_LEN + 1];
    char                  dir[TEST_DIR_LEN];
    size_t                i, n, skipped;
    omni_store_t         *st;
    omni_store_id_t       out[4];
    omni_store_case_t     c;
    omni_store_case_by_t  by;
    test_copy_t          *cp;
    omni_store_case_event_t  ev[4];
    test_ctx_t           *ctx;

    ctx = *state;

    test_create(ctx->st, "cA", "complaint", id);
    by = test_by("agent-7", "admin", TEST_NOW);
    test_note(ctx->st, id, &by);

    cp = calloc(1, sizeof(test_copy_t));
    assert_non_null(cp);
    assert_int_equal(omni_store_export(ctx->st, test_copy_record, cp, err),
                     OMNI_STORE_OK);

    snprintf(dir, sizeof(dir), "%s/i-XXXXXX", test_base);
    assert_non_null(mkdtemp(dir));
    st = test_open_dir(dir, ctx->kr);

    assert_int_equal(omni_store_import(st, cp->recs, cp->n, &skipped, err),
                     OMNI_STORE_OK);
    assert_int_equal(skipped, 0);

    assert_int_equal(omni_store_case_get(st, id, &c, err), OMNI_STORE_OK);
    assert_string_equal(c.subject, TEST_SUBJECT);
    assert_int_equal(omni_store_case_events(st, id, 0, 0, ev, 4, &n, err),
                     OMNI_STORE_OK);
    assert_int_equal(n, 2);
    assert_string_equal(ev[1].text, TEST_NOTE);
    assert_int_equal(omni_store_cases_by_customer(st, "cA", NULL, 1, out, 4,
                                                  &n, err),
                     OMNI_STORE_OK);
    assert_int_equal(n, 1);
    assert_int_equal(omni_store_cases_by_status(st, OMNI_STORE_CASE_NEW,
                                                NULL, out, 4, &n, err),
                     OMNI_STORE_OK);
    assert_int_equal(n, 1);

    /* an erased customer's cases do not come back */
    assert_int_equal(omni_store_customer_erase(st, "cA", TEST_NOW, NULL, err),
                     OMNI_STORE_OK);
    assert_int_equal(omni_store_import(st, cp->recs, cp->n, &skipped, err),
                     OMNI_STORE_OK);
    assert_true(skipped >= 4);
    assert_int_equal(omni_store_case_get(st, id, &c, err),
                     OMNI_STORE_NOT_FOUND);
    assert_int_equal(omni_store_cases_by_status(st, OMNI_STORE_CASE_NEW,
                                                NULL, out, 4, &n, err),
                     OMNI_STORE_OK);
    assert_int_equal(n, 0);

    omni_store_close(st);
    test_tmpdir_remove(dir);

    for (i = 0; i < cp->n; i++) {
        free((void *) cp->recs[i].key);
        free((void *) cp->recs[i].val);
    }

    free(cp);
}


/* the customer's own view: theirs only, public events only */

static void
test_case_view(void **state)
{
    char                  err[OMNI_ERRLEN];
    char                  id[OMNI_STORE_CASE_ID_LEN + 1];
    char                  other[OMNI_STORE_CASE_ID_LEN + 1];
    char                  bad[OMNI_STORE_CASE_ID_LEN + 1];
    omni_case_view_t      v;
    omni_store_case_by_t  by;
    test_ctx_t           *ctx;

    ctx = *state;

    test_create(ctx->st, "cA", "complaint", id);
    test_create(ctx->st, "cB", "billing", other);
    by = test_by("agent-7", "admin", TEST_NOW + 5);
    assert_int_equal(omni_store_case_note(ctx->st, id,
                                          OMNI_STORE_CASE_EV_INTERNAL,
                                          "SECRET-INTERNAL", 15, &by, NULL,
                                          NULL, err),
                     OMNI_STORE_OK);
    test_note(ctx->st, id, &by);
    assert_int_equal(omni_store_case_assign(ctx->st, id, "agent-7", "pool1",
                                            &by, err),
                     OMNI_STORE_OK);

    assert_true(omni_case_view_action("case.list", 9));
    assert_true(omni_case_view_action("case.get", 8));
    assert_false(omni_case_view_action("case.gets", 9));
    assert_false(omni_case_view_action("case.lis", 8));

    assert_int_equal(omni_case_view(ctx->st, "case.list", "cA", NULL, &v,
                                    err), 0);
    assert_int_equal(v.status, 200);
    assert_non_null(strstr(v.body, id));
    assert_null(strstr(v.body, other));
    assert_non_null(strstr(v.body, "\"ok\":true"));
    free(v.body);

    assert_int_equal(omni_case_view(ctx->st, "case.get", "cA", id, &v, err),
                     0);
    assert_int_equal(v.status, 200);
    assert_non_null(strstr(v.body, "MARKER-NOTE-7734"));
    assert_non_null(strstr(v.body, "\"subject\":\"Parcel MARKER-SUBJECT"));
    assert_null(strstr(v.body, "SECRET-INTERNAL"));
    assert_null(strstr(v.body, "agent-7"));
    assert_null(strstr(v.body, "pool1"));
    assert_null(strstr(v.body, "assign"));
    free(v.body);

    /* another customer's case is none; a caller the store does not know
     * has none; a mistyped or missing id is a 400 */
    assert_int_equal(omni_case_view(ctx->st, "case.get", "cA", other, &v,
                                    err), 0);
    assert_int_equal(v.status, 404);
    assert_non_null(strstr(v.body, "case_not_found"));
    assert_null(strstr(v.body, "billing"));
    free(v.body);

    assert_int_equal(omni_case_view(ctx->st, "case.get", NULL, id, &v, err),
                     0);
    assert_int_equal(v.status, 404);
    free(v.body);

    assert_int_equal(omni_case_view(ctx->st, "case.list", NULL, NULL, &v,
                                    err), 0);
    assert_int_equal(v.status, 200);
    assert_string_equal(v.body, "{\"ok\":true,\"data\":{\"cases\":[]}}");
    free(v.body);

    memcpy(bad, id, sizeof(bad));
    bad[9] = (char) ('0' + (bad[9] - '0' + 1) % 10);

    assert_int_equal(omni_case_view(ctx->st, "case.get", "cA", bad, &v, err),
                     0);
    assert_int_equal(v.status, 400);
    assert_non_null(strstr(v.body, "case_id_invalid"));
    free(v.body);

    assert_int_equal(omni_case_view(ctx->st, "case.get", "cA", NULL, &v,
                                    err), 0);
    assert_int_equal(v.status, 400);
    free(v.body);
}


int
main(void)
{
    int  rc;

#define TEST(name)                                                            \
    cmocka_unit_test_setup_teardown(name, test_setup_plain, test_teardown),   \
    cmocka_unit_test_setup_teardown(name, test_setup_sealed, test_teardown)

    const struct CMUnitTest  tests[] = {
        TEST(test_case_ids),
        TEST(test_case_texts),
        TEST(test_case_lifecycle),
        TEST(test_case_closed),
        TEST(test_case_events),
        TEST(test_case_touches),
        TEST(test_case_lists),
        TEST(test_case_open_bound),
        TEST(test_case_past_due),
        TEST(test_case_sealing),
        TEST(test_case_erase),
        TEST(test_case_export),
        TEST(test_case_view),
    };

#undef TEST

    rc = cmocka_run_group_tests_name("omni_store cases", tests,
                                     test_group_setup, test_group_teardown);

    return rc;
}
