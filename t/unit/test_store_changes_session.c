/*
 * Copyright (C) The omni gateway authors
 *
 * Unit tests of sessions and cases shared between nodes
 * (module/omni_store_changes_session.c, omni_store_changes_case.c).
 * Sessions: which session writes log a change, a session published from
 * one store and applied to another, the merge (the order of arrival does
 * not matter, a touch never undoes a context), an ended session that
 * stays ended, redeliveries and echoes, a sealed store on either side,
 * and the wire decoder's refusals of a session change.  Cases: a case
 * opened on one node is updated on another and seen on a third, the
 * events a union and the record the later write's whatever the order, a
 * closed case that stays closed, case ids of a node's own first digit,
 * an id that names another case refused, and the decoder's refusals.
 * Journeys: every local event logged in the journey log, applied on
 * another node with the journey cursor (no echo, redeliveries), and the
 * decoder's refusals.
 */


#define _GNU_SOURCE

#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "test_tmpdir.h"

#include "omni_keyring.h"
#include "omni_store.h"


#define TEST_MAP_MAX  ((size_t) 64 * 1024 * 1024)
#define TEST_DIR_LEN  256
#define TEST_NOW      1800000000


typedef struct {
    char             dir[3][TEST_DIR_LEN];
    omni_store_t    *st[3];              /* nodes a, b and c */
    uint64_t         seq[3];             /* stream sequences applied */
    omni_keyring_t  *kr;                 /* b's, when sealed */
} test_ctx_t;


typedef struct {
    unsigned char  data[OMNI_STORE_CASE_MSG_MAX];
    size_t         len;
} test_msg_t;


static char  test_base[200];


static int
test_group_setup(void **state)
{
    (void) state;

    return test_tmpdir_make(test_base, sizeof(test_base), "csess");
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
    int          i;
    char         err[OMNI_ERRLEN];
    test_ctx_t  *ctx;

    static const char  *nodes[] = { "a", "b", "c" };

    ctx = calloc(1, sizeof(test_ctx_t));
    if (ctx == NULL) {
        return -1;
    }

    for (i = 0; i < 3; i++) {
        snprintf(ctx->dir[i], TEST_DIR_LEN, "%s/t-XXXXXX", test_base);

        if (mkdtemp(ctx->dir[i]) == NULL) {
            return -1;
        }

        ctx->st[i] = omni_store_open(ctx->dir[i], TEST_MAP_MAX,
                                     OMNI_STORE_SYNC_NONE, err);
        if (ctx->st[i] == NULL
            || omni_store_changes_node(ctx->st[i], nodes[i], err)
               != OMNI_STORE_OK
            || omni_store_journeys_enable(ctx->st[i], err) != OMNI_STORE_OK)
        {
            fprintf(stderr, "%s\n", err);
            return -1;
        }
    }

    *state = ctx;

    return 0;
}


static int
test_teardown(void **state)
{
    int          i;
    test_ctx_t  *ctx;

    ctx = *state;

    for (i = 0; i < 3; i++) {
        omni_store_close(ctx->st[i]);
        (void) test_tmpdir_remove(ctx->dir[i]);
    }

    if (ctx->kr != NULL) {
        omni_keyring_free(ctx->kr);
    }

    free(ctx);

    return 0;
}


static uint64_t
test_last(omni_store_t *st)
{
    char                         err[OMNI_ERRLEN];
    omni_store_changes_state_t   s;

    assert_int_equal(omni_store_changes_state(st, &s, err), OMNI_STORE_OK);

    return s.last;
}


/* the newest change of node i's log, published as omni-sync does */
static int
test_publish(test_ctx_t *ctx, int i, test_msg_t *m)
{
    char                  err[OMNI_ERRLEN];
    size_t                n;
    uint64_t              last;
    omni_store_change_t   c;
    static const char    *nodes[] = { "a", "b", "c" };

    last = test_last(ctx->st[i]);
    assert_true(last > 0);

    assert_int_equal(omni_store_changes_read(ctx->st[i], last - 1, &c, 1, &n,
                                             err),
                     OMNI_STORE_OK);
    assert_int_equal(n, 1);

    if (c.family == OMNI_STORE_FAMILY_CASE) {
        return omni_store_change_case_encode(ctx->st[i], &c, nodes[i],
                                             m->data, sizeof(m->data),
                                             &m->len, err);
    }

    assert_int_equal(c.family, OMNI_STORE_FAMILY_SESSION);

    return omni_store_change_session_encode(ctx->st[i], &c, nodes[i],
                                            m->data, sizeof(m->data),
                                            &m->len, err);
}


/* message m applied on node i as the next message of its stream */
static int
test_apply(test_ctx_t *ctx, int i, const test_msg_t *m, int *applied)
{
    int                   rc;
    char                  err[OMNI_ERRLEN];
    omni_store_change_t   c;

    rc = omni_store_change_decode(m->data, m->len, &c, err);
    if (rc != OMNI_STORE_OK) {
        return rc;
    }

    return omni_store_changes_apply(ctx->st[i], &c, ++ctx->seq[i], applied,
                                    err);
}


static int
test_set_context(void *data, const char *context, size_t len, char *out,
    size_t *out_len, char *err)
{
    (void) context;
    (void) len;
    (void) err;

    *out_len = strlen(data);
    memcpy(out, data, *out_len);

    return OMNI_STORE_OK;
}


static void
test_started(test_ctx_t *ctx, int i, const char *customer,
    const char *channel, int64_t now, const char *id)
{
    int                   created;
    char                  err[OMNI_ERRLEN];
    omni_store_session_t  s;

    assert_int_equal(omni_store_session_resume(ctx->st[i], customer, channel,
                                               now, 1800, 0, 60, id, &s,
                                               &created, err),
                     OMNI_STORE_OK);
}


static void
test_get(test_ctx_t *ctx, int i, const char *id, omni_store_session_t *s)
{
    char  err[OMNI_ERRLEN];

    assert_int_equal(omni_store_session_get(ctx->st[i], id, s, err),
                     OMNI_STORE_OK);
}


/* what a session write logs, and what it does not */
static void
test_logged(void **state)
{
    int                   wrote;
    char                  err[OMNI_ERRLEN];
    size_t                n;
    test_ctx_t           *ctx;
    omni_store_change_t   c;
    omni_store_session_t  s;

    ctx = *state;

    test_started(ctx, 0, "cust1", "web", TEST_NOW, "sess1");
    assert_int_equal(test_last(ctx->st[0]), 1);

    assert_int_equal(omni_store_changes_read(ctx->st[0], 0, &c, 1, &n, err),
                     OMNI_STORE_OK);
    assert_int_equal(n, 1);
    assert_int_equal(c.family, OMNI_STORE_FAMILY_SESSION);
    assert_int_equal(c.op, OMNI_STORE_CHANGE_PUT);
    assert_int_equal(c.key_len, 5);
    assert_memory_equal(c.key, "sess1", 5);
    assert_int_equal(c.val_len, 0);

    /* a resume within the touch interval only reads: nothing logged */
    test_started(ctx, 0, "cust1", "web", TEST_NOW + 30, "unused");
    assert_int_equal(test_last(ctx->st[0]), 1);

    /* past it, or on a new channel, the write is logged */
    test_started(ctx, 0, "cust1", "web", TEST_NOW + 61, "unused");
    assert_int_equal(test_last(ctx->st[0]), 2);
    test_started(ctx, 0, "cust1", "app", TEST_NOW + 62, "unused");
    assert_int_equal(test_last(ctx->st[0]), 3);

    assert_int_equal(omni_store_session_touch(ctx->st[0], "sess1", "app",
                                              TEST_NOW + 63, 60, &wrote, &s,
                                              err),
                     OMNI_STORE_OK);
    assert_int_equal(wrote, 0);
    assert_int_equal(test_last(ctx->st[0]), 3);
    assert_int_equal(omni_store_session_touch(ctx->st[0], "sess1", "ivr",
                                              TEST_NOW + 64, 60, &wrote, &s,
                                              err),
                     OMNI_STORE_OK);
    assert_int_equal(wrote, 1);
    assert_int_equal(test_last(ctx->st[0]), 4);

    /* a context change */
    assert_int_equal(omni_store_session_update(ctx->st[0], "sess1",
                                               test_set_context,
                                               "{\"cart\":3}", &s, err),
                     OMNI_STORE_OK);
    assert_int_equal(test_last(ctx->st[0]), 5);

    /* a put */
    memset(&s, 0, sizeof(s));
    strcpy(s.id, "sess2");
    strcpy(s.customer, "cust2");
    s.created = TEST_NOW;
    s.last_seen = TEST_NOW;
    assert_int_equal(omni_store_session_put(ctx->st[0], &s, err),
                     OMNI_STORE_OK);
    assert_int_equal(test_last(ctx->st[0]), 6);

    /* an end is a revocation (its own family); a purge is each node's */
    assert_int_equal(omni_store_revoke_session(ctx->st[0], "sess2", TEST_NOW,
                                               err),
                     OMNI_STORE_OK);
    assert_int_equal(test_last(ctx->st[0]), 7);
    assert_int_equal(omni_store_changes_read(ctx->st[0], 6, &c, 1, &n, err),
                     OMNI_STORE_OK);
    assert_int_equal(c.family, OMNI_STORE_FAMILY_REVOCATION);

    assert_int_equal(omni_store_session_purge(ctx->st[0], TEST_NOW + 10000,
                                              1800, 0, 100, &n, err),
                     OMNI_STORE_OK);
    assert_int_equal(n, 1);
    assert_int_equal(test_last(ctx->st[0]), 7);
}


/* started on a, resumed on b: the same id, customer, channels, context */
static void
test_resume(void **state)
{
    int                   applied, created;
    char                  err[OMNI_ERRLEN];
    uint64_t              last;
    test_ctx_t           *ctx;
    test_msg_t            m;
    omni_store_session_t  s, t;

    ctx = *state;

    test_started(ctx, 0, "cust1", "web", TEST_NOW, "sess1");
    assert_int_equal(omni_store_session_update(ctx->st[0], "sess1",
                                               test_set_context,
                                               "{\"cart\":3}", NULL, err),
                     OMNI_STORE_OK);

    assert_int_equal(test_publish(ctx, 0, &m), OMNI_STORE_OK);
    assert_int_equal(test_apply(ctx, 1, &m, &applied), OMNI_STORE_OK);
    assert_int_equal(applied, 1);

    test_get(ctx, 0, "sess1", &s);
    test_get(ctx, 1, "sess1", &t);
    assert_string_equal(t.customer, "cust1");
    assert_int_equal(t.nchannels, 1);
    assert_string_equal(t.channels[0], "web");
    assert_int_equal(t.created, s.created);
    assert_int_equal(t.last_seen, s.last_seen);
    assert_string_equal(t.context, "{\"cart\":3}");

    /* applied, never logged again (no echo) */
    assert_int_equal(test_last(ctx->st[1]), 0);

    /* a redelivery changes nothing */
    ctx->seq[1]--;
    assert_int_equal(test_apply(ctx, 1, &m, &applied), OMNI_STORE_OK);
    assert_int_equal(applied, 0);

    /* a's own change coming back only moves its cursor */
    assert_int_equal(test_apply(ctx, 0, &m, &applied), OMNI_STORE_OK);
    assert_int_equal(applied, 0);

    /* the customer's session on b is the one a started */
    assert_int_equal(omni_store_session_resume(ctx->st[1], "cust1", "app",
                                               TEST_NOW + 100, 1800, 0, 60,
                                               "other", &t, &created, err),
                     OMNI_STORE_OK);
    assert_int_equal(created, 0);
    assert_string_equal(t.id, "sess1");
    assert_string_equal(t.context, "{\"cart\":3}");

    /* and b's touch reaches a */
    last = test_last(ctx->st[1]);
    assert_int_equal(last, 1);
    assert_int_equal(test_publish(ctx, 1, &m), OMNI_STORE_OK);
    assert_int_equal(test_apply(ctx, 0, &m, &applied), OMNI_STORE_OK);
    assert_int_equal(applied, 1);
    test_get(ctx, 0, "sess1", &s);
    assert_int_equal(s.last_seen, TEST_NOW + 100);
    assert_int_equal(s.nchannels, 2);
    assert_string_equal(s.channels[1], "app");
    assert_string_equal(s.context, "{\"cart\":3}");
    assert_int_equal(test_last(ctx->st[0]), 2);

    /* a session gone before it was published is not published */
    assert_int_equal(omni_store_session_delete(ctx->st[0], "sess1", err),
                     OMNI_STORE_OK);
    assert_int_equal(test_publish(ctx, 0, &m), OMNI_STORE_NOT_FOUND);
}


/*
 * Concurrent writes on two nodes: each node ends with the same session
 * whatever the order: the later context, the later last_seen, both
 * channels.  A touch carries the context's version unchanged, so an
 * older touch never undoes a newer context.
 */
static void
test_merge(void **state)
{
    int                   applied;
    char                  err[OMNI_ERRLEN];
    test_ctx_t           *ctx;
    test_msg_t            m0, m1, m2;
    omni_store_session_t  s, t, u;

    ctx = *state;

    test_started(ctx, 0, "cust1", "web", TEST_NOW, "sess1");
    assert_int_equal(test_publish(ctx, 0, &m0), OMNI_STORE_OK);
    assert_int_equal(test_apply(ctx, 1, &m0, &applied), OMNI_STORE_OK);
    assert_int_equal(test_apply(ctx, 2, &m0, &applied), OMNI_STORE_OK);

    /* a writes the context, then b touches on a new channel, later */
    assert_int_equal(omni_store_session_update(ctx->st[0], "sess1",
                                               test_set_context,
                                               "{\"from\":\"a\"}", NULL,
                                               err),
                     OMNI_STORE_OK);
    assert_int_equal(test_publish(ctx, 0, &m1), OMNI_STORE_OK);

    test_started(ctx, 1, "cust1", "app", TEST_NOW + 500, "unused");
    assert_int_equal(test_publish(ctx, 1, &m2), OMNI_STORE_OK);

    /* a takes b's touch; b takes a's context; c takes both the other way */
    assert_int_equal(test_apply(ctx, 0, &m2, &applied), OMNI_STORE_OK);
    assert_int_equal(applied, 1);
    assert_int_equal(test_apply(ctx, 1, &m1, &applied), OMNI_STORE_OK);
    assert_int_equal(applied, 1);
    assert_int_equal(test_apply(ctx, 2, &m2, &applied), OMNI_STORE_OK);
    assert_int_equal(test_apply(ctx, 2, &m1, &applied), OMNI_STORE_OK);

    test_get(ctx, 0, "sess1", &s);
    test_get(ctx, 1, "sess1", &t);
    test_get(ctx, 2, "sess1", &u);

    assert_string_equal(s.context, "{\"from\":\"a\"}");
    assert_string_equal(t.context, s.context);
    assert_string_equal(u.context, s.context);
    assert_int_equal(s.last_seen, TEST_NOW + 500);
    assert_int_equal(t.last_seen, s.last_seen);
    assert_int_equal(u.last_seen, s.last_seen);
    assert_int_equal(s.created, TEST_NOW);
    assert_int_equal(t.created, TEST_NOW);
    assert_int_equal(u.created, TEST_NOW);
    assert_int_equal(s.nchannels, 2);
    assert_int_equal(t.nchannels, 2);
    assert_int_equal(u.nchannels, 2);

    /* b writes the context later: it wins everywhere, old news is ignored */
    usleep(2000);
    assert_int_equal(omni_store_session_update(ctx->st[1], "sess1",
                                               test_set_context,
                                               "{\"from\":\"b\"}", NULL,
                                               err),
                     OMNI_STORE_OK);
    assert_int_equal(test_publish(ctx, 1, &m2), OMNI_STORE_OK);
    assert_int_equal(test_apply(ctx, 0, &m2, &applied), OMNI_STORE_OK);
    assert_int_equal(applied, 1);
    assert_int_equal(test_apply(ctx, 0, &m1, &applied), OMNI_STORE_OK);
    assert_int_equal(applied, 0);
    assert_int_equal(test_apply(ctx, 2, &m2, &applied), OMNI_STORE_OK);

    test_get(ctx, 0, "sess1", &s);
    test_get(ctx, 2, "sess1", &u);
    assert_string_equal(s.context, "{\"from\":\"b\"}");
    assert_string_equal(u.context, "{\"from\":\"b\"}");

    /* a's touch after that carries b's context on */
    test_started(ctx, 0, "cust1", "ivr", TEST_NOW + 600, "unused");
    assert_int_equal(test_publish(ctx, 0, &m1), OMNI_STORE_OK);
    assert_int_equal(test_apply(ctx, 1, &m1, &applied), OMNI_STORE_OK);
    assert_int_equal(applied, 1);
    test_get(ctx, 1, "sess1", &t);
    assert_string_equal(t.context, "{\"from\":\"b\"}");
    assert_int_equal(t.nchannels, 3);
    assert_int_equal(t.last_seen, TEST_NOW + 600);

    /* the same id under another customer is refused, b's stays */
    test_started(ctx, 2, "cust9", "web", TEST_NOW, "sess9");
    test_started(ctx, 0, "cust8", "web", TEST_NOW, "sess9");
    assert_int_equal(test_publish(ctx, 0, &m1), OMNI_STORE_OK);
    assert_int_equal(test_apply(ctx, 2, &m1, &applied), OMNI_STORE_INVALID);
    test_get(ctx, 2, "sess9", &u);
    assert_string_equal(u.customer, "cust9");
}


/* an ended session stays ended: a put that comes after is dropped */
static void
test_ended(void **state)
{
    int                   applied;
    char                  err[OMNI_ERRLEN];
    size_t                n;
    test_ctx_t           *ctx;
    test_msg_t            m;
    omni_store_change_t   c;
    omni_store_session_t  s;

    ctx = *state;

    test_started(ctx, 0, "cust1", "web", TEST_NOW, "sess1");
    assert_int_equal(test_publish(ctx, 0, &m), OMNI_STORE_OK);
    assert_int_equal(test_apply(ctx, 1, &m, &applied), OMNI_STORE_OK);

    /* b ends it; a touches it meanwhile */
    assert_int_equal(omni_store_revoke_session(ctx->st[1], "sess1", TEST_NOW,
                                               err),
                     OMNI_STORE_OK);
    test_started(ctx, 0, "cust1", "app", TEST_NOW + 70, "unused");
    assert_int_equal(test_publish(ctx, 0, &m), OMNI_STORE_OK);

    assert_int_equal(test_apply(ctx, 1, &m, &applied), OMNI_STORE_OK);
    assert_int_equal(applied, 0);
    assert_int_equal(omni_store_session_get(ctx->st[1], "sess1", &s, err),
                     OMNI_STORE_NOT_FOUND);

    /* b's revocation reaches a: the session ends there too */
    assert_int_equal(omni_store_changes_read(ctx->st[1], 0, &c, 1, &n, err),
                     OMNI_STORE_OK);
    assert_int_equal(c.family, OMNI_STORE_FAMILY_REVOCATION);
    strcpy(c.origin, "b");
    assert_int_equal(omni_store_changes_apply(ctx->st[0], &c, ++ctx->seq[0],
                                              &applied, err),
                     OMNI_STORE_OK);
    assert_int_equal(omni_store_session_get(ctx->st[0], "sess1", &s, err),
                     OMNI_STORE_NOT_FOUND);

    /* a session of an erased customer is not written */
    test_started(ctx, 0, "cust2", "web", TEST_NOW, "sess2");
    assert_int_equal(test_publish(ctx, 0, &m), OMNI_STORE_OK);
    test_started(ctx, 2, "cust2", "web", TEST_NOW, "sess3");
    assert_int_equal(omni_store_customer_erase(ctx->st[2], "cust2", TEST_NOW,
                                               &n, err),
                     OMNI_STORE_OK);
    assert_int_equal(test_apply(ctx, 2, &m, &applied), OMNI_STORE_OK);
    assert_int_equal(applied, 0);
    assert_int_equal(omni_store_session_get(ctx->st[2], "sess2", &s, err),
                     OMNI_STORE_NOT_FOUND);
}


/* whether file holds the bytes s */
static int
test_file_has(const char *dir, const char *s)
{
    int     found;
    char    path[TEST_DIR_LEN + 16];
    char   *buf;
    long    len, i;
    FILE   *f;

    snprintf(path, sizeof(path), "%s/data.mdb", dir);

    f = fopen(path, "rb");
    assert_non_null(f);
    assert_int_equal(fseek(f, 0, SEEK_END), 0);
    len = ftell(f);
    assert_int_equal(fseek(f, 0, SEEK_SET), 0);

    buf = malloc(len);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, len, f), (size_t) len);
    fclose(f);

    found = 0;

    for (i = 0; !found && i + (long) strlen(s) <= len; i++) {
        found = (memcmp(buf + i, s, strlen(s)) == 0);
    }

    free(buf);

    return found;
}


/*
 * A sealed store on node b: a session from a is sealed there (its context
 * is not in data.mdb in clear), and b publishes its sessions opened
 */
static void
test_sealed(void **state)
{
    int                   applied;
    char                  err[OMNI_ERRLEN];
    test_ctx_t           *ctx;
    test_msg_t            m;
    omni_keyring_t       *kr;
    omni_store_session_t  s;

    ctx = *state;

    omni_store_close(ctx->st[1]);
    (void) test_tmpdir_remove(ctx->dir[1]);
    snprintf(ctx->dir[1], TEST_DIR_LEN, "%s/t-XXXXXX", test_base);
    assert_non_null(mkdtemp(ctx->dir[1]));

    assert_int_equal(omni_keyring_generate(&ctx->kr, err), 0);
    kr = ctx->kr;
    ctx->st[1] = omni_store_open(ctx->dir[1], TEST_MAP_MAX,
                                 OMNI_STORE_SYNC_NONE, err);
    assert_non_null(ctx->st[1]);
    assert_int_equal(omni_store_use_keyring(ctx->st[1], kr, err),
                     OMNI_STORE_OK);
    assert_int_equal(omni_store_changes_node(ctx->st[1], "b", err),
                     OMNI_STORE_OK);

    test_started(ctx, 0, "cust1", "web", TEST_NOW, "sess1");
    assert_int_equal(omni_store_session_update(ctx->st[0], "sess1",
                                               test_set_context,
                                               "{\"secret\":\"tangerine\"}",
                                               NULL, err),
                     OMNI_STORE_OK);
    assert_int_equal(test_publish(ctx, 0, &m), OMNI_STORE_OK);
    assert_int_equal(test_apply(ctx, 1, &m, &applied), OMNI_STORE_OK);
    assert_int_equal(applied, 1);

    test_get(ctx, 1, "sess1", &s);
    assert_string_equal(s.context, "{\"secret\":\"tangerine\"}");

    /* b writes it on; c, plain, takes it opened */
    assert_int_equal(omni_store_session_update(ctx->st[1], "sess1",
                                               test_set_context,
                                               "{\"secret\":\"clementine\"}",
                                               NULL, err),
                     OMNI_STORE_OK);
    assert_int_equal(test_publish(ctx, 1, &m), OMNI_STORE_OK);
    assert_int_equal(test_apply(ctx, 2, &m, &applied), OMNI_STORE_OK);
    test_get(ctx, 2, "sess1", &s);
    assert_string_equal(s.context, "{\"secret\":\"clementine\"}");

    omni_store_close(ctx->st[1]);
    ctx->st[1] = NULL;
    assert_false(test_file_has(ctx->dir[1], "tangerine"));
    assert_false(test_file_has(ctx->dir[1], "clementine"));

    ctx->st[1] = omni_store_open(ctx->dir[1], TEST_MAP_MAX,
                                 OMNI_STORE_SYNC_NONE, err);
    assert_non_null(ctx->st[1]);
    assert_int_equal(omni_store_use_keyring(ctx->st[1], kr, err),
                     OMNI_STORE_OK);
}


/* the decoder refuses every session change that is not exactly one */
static void
test_wire(void **state)
{
    int                   applied;
    char                  err[OMNI_ERRLEN];
    size_t                i, at, len;
    test_ctx_t           *ctx;
    test_msg_t            m, bad;
    omni_store_change_t   c;

    ctx = *state;

    test_started(ctx, 0, "cust1", "web", TEST_NOW, "sess1");
    assert_int_equal(omni_store_session_update(ctx->st[0], "sess1",
                                               test_set_context,
                                               "{\"a\":1}", NULL, err),
                     OMNI_STORE_OK);
    assert_int_equal(test_publish(ctx, 0, &m), OMNI_STORE_OK);
    assert_int_equal(omni_store_change_decode(m.data, m.len, &c, err),
                     OMNI_STORE_OK);
    assert_int_equal(c.family, OMNI_STORE_FAMILY_SESSION);
    assert_true(c.data_len > 0);

    /* every truncation, and a byte more */
    for (i = 0; i < m.len; i++) {
        assert_int_equal(omni_store_change_decode(m.data, i, &c, err),
                         OMNI_STORE_INVALID);
    }

    bad = m;
    bad.data[m.len] = 0;
    assert_int_equal(omni_store_change_decode(bad.data, m.len + 1, &c, err),
                     OMNI_STORE_INVALID);

    /* the session starts after the be32 length; find the context's "a" */
    len = m.len;
    at = len - 7;
    assert_memory_equal(m.data + at, "{\"a\":1}", 7);

    /* a context that is not a JSON object, or holds a NUL */
    bad = m;
    bad.data[at] = '[';
    assert_int_equal(omni_store_change_decode(bad.data, len, &c, err),
                     OMNI_STORE_INVALID);
    bad = m;
    bad.data[at + 2] = '\0';
    assert_int_equal(omni_store_change_decode(bad.data, len, &c, err),
                     OMNI_STORE_INVALID);

    /* the session record's version, a NUL in the origin or the customer */
    for (i = 0; i < m.len; i++) {
        if (memcmp(m.data + i, "\001a\005cust1", 8) == 0) {
            break;
        }
    }

    assert_true(i < m.len);
    at = i;

    bad = m;
    bad.data[at + 1] = '\0';
    assert_int_equal(omni_store_change_decode(bad.data, len, &c, err),
                     OMNI_STORE_INVALID);
    bad = m;
    bad.data[at + 4] = '\0';
    assert_int_equal(omni_store_change_decode(bad.data, len, &c, err),
                     OMNI_STORE_INVALID);
    bad = m;
    bad.data[at - 25] = 2;
    assert_int_equal(omni_store_change_decode(bad.data, len, &c, err),
                     OMNI_STORE_INVALID);

    /* last_seen before created */
    bad = m;
    bad.data[at - 24] = 0x7f;
    assert_int_equal(omni_store_change_decode(bad.data, len, &c, err),
                     OMNI_STORE_INVALID);

    /* more channels than a session holds */
    bad = m;
    bad.data[at + 8] = OMNI_STORE_CHANNELS + 1;
    assert_int_equal(omni_store_change_decode(bad.data, len, &c, err),
                     OMNI_STORE_INVALID);

    /* a delete, a value, a key that is no session id */
    assert_int_equal(omni_store_change_decode(m.data, m.len, &c, err),
                     OMNI_STORE_OK);
    c.op = OMNI_STORE_CHANGE_DELETE;
    assert_int_equal(omni_store_change_encode(&c, bad.data,
                                              sizeof(bad.data), &bad.len,
                                              err),
                     OMNI_STORE_OK);
    assert_int_equal(omni_store_change_decode(bad.data, bad.len, &c, err),
                     OMNI_STORE_INVALID);

    assert_int_equal(omni_store_change_decode(m.data, m.len, &c, err),
                     OMNI_STORE_OK);
    c.val_len = 1;
    assert_int_equal(omni_store_change_encode(&c, bad.data,
                                              sizeof(bad.data), &bad.len,
                                              err),
                     OMNI_STORE_OK);
    assert_int_equal(omni_store_change_decode(bad.data, bad.len, &c, err),
                     OMNI_STORE_INVALID);

    assert_int_equal(omni_store_change_decode(m.data, m.len, &c, err),
                     OMNI_STORE_OK);
    c.key[2] = '/';
    assert_int_equal(omni_store_change_encode(&c, bad.data,
                                              sizeof(bad.data), &bad.len,
                                              err),
                     OMNI_STORE_OK);
    assert_int_equal(omni_store_change_decode(bad.data, bad.len, &c, err),
                     OMNI_STORE_INVALID);

    /* a session change without its session is refused when applied */
    assert_int_equal(omni_store_change_decode(m.data, m.len, &c, err),
                     OMNI_STORE_OK);
    c.data = NULL;
    c.data_len = 0;
    assert_int_equal(omni_store_changes_apply(ctx->st[1], &c, 1, &applied,
                                              err),
                     OMNI_STORE_INVALID);
    assert_int_equal(applied, 0);

    /* a session too large for the message */
    assert_int_equal(omni_store_change_decode(m.data, m.len, &c, err),
                     OMNI_STORE_OK);
    c.data_len = OMNI_STORE_SESSION_DATA_MAX + 1;
    assert_int_equal(omni_store_change_encode(&c, bad.data,
                                              sizeof(bad.data), &bad.len,
                                              err),
                     OMNI_STORE_INVALID);
}


/* cases */

static omni_store_case_by_t
test_by(const char *author, int64_t now)
{
    omni_store_case_by_t  by;

    memset(&by, 0, sizeof(by));
    by.author = author;
    by.channel = "admin";
    by.now = now;

    return by;
}


/* a case of customer cust1 opened on node i, its id in id */
static void
test_case_open(test_ctx_t *ctx, int i, char *id)
{
    char                  err[OMNI_ERRLEN];
    omni_store_case_t     c;
    omni_store_case_by_t  by;

    test_started(ctx, i, "cust1", "web", TEST_NOW, "sess-case");

    memset(&c, 0, sizeof(c));
    strcpy(c.customer, "cust1");
    strcpy(c.subject, "Parcel never came");
    strcpy(c.category, "complaint");
    c.priority = OMNI_STORE_CASE_HIGH;

    by = test_by("agent-1", TEST_NOW);
    assert_int_equal(omni_store_case_create(ctx->st[i], &c, &by, err),
                     OMNI_STORE_OK);
    strcpy(id, c.id);
}


static void
test_case_get(test_ctx_t *ctx, int i, const char *id, omni_store_case_t *c,
    size_t *nevents)
{
    char                      err[OMNI_ERRLEN];
    omni_store_case_event_t  *ev;

    assert_int_equal(omni_store_case_get(ctx->st[i], id, c, err),
                     OMNI_STORE_OK);

    ev = calloc(OMNI_STORE_CASE_EVENTS, sizeof(omni_store_case_event_t));
    assert_non_null(ev);
    assert_int_equal(omni_store_case_events(ctx->st[i], id, 0, 0, ev,
                                            OMNI_STORE_CASE_EVENTS, nevents,
                                            err),
                     OMNI_STORE_OK);
    free(ev);
}


static void
test_case_status(test_ctx_t *ctx, int i, const char *id, int status,
    int64_t now)
{
    char                  err[OMNI_ERRLEN];
    omni_store_case_by_t  by;

    by = test_by("agent-1", now);
    assert_int_equal(omni_store_case_set_status(ctx->st[i], id, status, &by,
                                                NULL, err),
                     OMNI_STORE_OK);
}


/* opened on a, updated on b, seen on c */
static void
test_case_shared(void **state)
{
    int                   applied;
    char                  err[OMNI_ERRLEN], id[OMNI_STORE_CASE_ID_LEN + 1];
    size_t                n;
    test_ctx_t           *ctx;
    test_msg_t            m;
    omni_store_case_t     c;
    omni_store_change_t   ch;
    omni_store_case_by_t  by;
    omni_store_id_t       ids[4];

    ctx = *state;

    test_case_open(ctx, 0, id);

    assert_int_equal(omni_store_changes_read(ctx->st[0], test_last(ctx->st[0])
                                             - 1, &ch, 1, &n, err),
                     OMNI_STORE_OK);
    assert_int_equal(ch.family, OMNI_STORE_FAMILY_CASE);
    assert_int_equal(ch.val_len, 5);
    assert_int_equal(ch.val[4], 1);

    assert_int_equal(test_publish(ctx, 0, &m), OMNI_STORE_OK);
    assert_int_equal(test_apply(ctx, 1, &m, &applied), OMNI_STORE_OK);
    assert_int_equal(applied, 1);
    assert_int_equal(test_apply(ctx, 2, &m, &applied), OMNI_STORE_OK);

    test_case_get(ctx, 1, id, &c, &n);
    assert_string_equal(c.customer, "cust1");
    assert_string_equal(c.subject, "Parcel never came");
    assert_int_equal(c.status, OMNI_STORE_CASE_NEW);
    assert_int_equal(n, 1);

    /* listed by customer and by status there, and never logged again */
    assert_int_equal(omni_store_cases_by_customer(ctx->st[1], "cust1", NULL,
                                                  0, ids, 4, &n, err),
                     OMNI_STORE_OK);
    assert_int_equal(n, 1);
    assert_int_equal(test_last(ctx->st[2]), 0);

    /* b opens it and writes a note; a and c take both */
    test_case_status(ctx, 1, id, OMNI_STORE_CASE_OPEN, TEST_NOW + 10);
    assert_int_equal(test_publish(ctx, 1, &m), OMNI_STORE_OK);
    assert_int_equal(test_apply(ctx, 0, &m, &applied), OMNI_STORE_OK);
    assert_int_equal(test_apply(ctx, 2, &m, &applied), OMNI_STORE_OK);

    by = test_by("agent-2", TEST_NOW + 20);
    assert_int_equal(omni_store_case_note(ctx->st[1], id,
                                          OMNI_STORE_CASE_EV_NOTE,
                                          "On its way", 10, &by, NULL, NULL,
                                          err),
                     OMNI_STORE_OK);
    assert_int_equal(test_publish(ctx, 1, &m), OMNI_STORE_OK);
    assert_int_equal(test_apply(ctx, 0, &m, &applied), OMNI_STORE_OK);
    assert_int_equal(applied, 1);
    assert_int_equal(test_apply(ctx, 2, &m, &applied), OMNI_STORE_OK);

    test_case_get(ctx, 2, id, &c, &n);
    assert_int_equal(c.status, OMNI_STORE_CASE_OPEN);
    assert_int_equal(c.first_response_at, TEST_NOW + 20);
    assert_int_equal(n, 3);
    test_case_get(ctx, 0, id, &c, &n);
    assert_int_equal(c.status, OMNI_STORE_CASE_OPEN);
    assert_int_equal(n, 3);

    assert_int_equal(omni_store_cases_by_status(ctx->st[0],
                                                OMNI_STORE_CASE_OPEN, NULL,
                                                ids, 4, &n, err),
                     OMNI_STORE_OK);
    assert_int_equal(n, 1);
    assert_int_equal(omni_store_cases_by_status(ctx->st[0],
                                                OMNI_STORE_CASE_NEW, NULL,
                                                ids, 4, &n, err),
                     OMNI_STORE_OK);
    assert_int_equal(n, 0);
}


/*
 * Concurrent changes: every node ends with the later write's record and
 * every event, whatever the order; a closed case stays closed
 */
static void
test_case_conflict(void **state)
{
    int                   applied;
    char                  err[OMNI_ERRLEN], id[OMNI_STORE_CASE_ID_LEN + 1];
    size_t                n[3], i;
    test_ctx_t           *ctx;
    test_msg_t            m0, m1, m2;
    omni_store_case_t     c[3];
    omni_store_case_by_t  by;

    ctx = *state;

    test_case_open(ctx, 0, id);
    assert_int_equal(test_publish(ctx, 0, &m0), OMNI_STORE_OK);
    assert_int_equal(test_apply(ctx, 1, &m0, &applied), OMNI_STORE_OK);
    assert_int_equal(test_apply(ctx, 2, &m0, &applied), OMNI_STORE_OK);

    /* a: pending; b, later: on hold; c takes them in the other order */
    test_case_status(ctx, 0, id, OMNI_STORE_CASE_PENDING, TEST_NOW + 10);
    assert_int_equal(test_publish(ctx, 0, &m0), OMNI_STORE_OK);
    test_case_status(ctx, 1, id, OMNI_STORE_CASE_ON_HOLD, TEST_NOW + 20);
    assert_int_equal(test_publish(ctx, 1, &m1), OMNI_STORE_OK);

    assert_int_equal(test_apply(ctx, 0, &m1, &applied), OMNI_STORE_OK);
    assert_int_equal(test_apply(ctx, 1, &m0, &applied), OMNI_STORE_OK);
    assert_int_equal(applied, 1);
    assert_int_equal(test_apply(ctx, 2, &m1, &applied), OMNI_STORE_OK);
    assert_int_equal(test_apply(ctx, 2, &m0, &applied), OMNI_STORE_OK);

    for (i = 0; i < 3; i++) {
        test_case_get(ctx, i, id, &c[i], &n[i]);
        assert_int_equal(c[i].status, OMNI_STORE_CASE_ON_HOLD);
        assert_int_equal(c[i].updated, TEST_NOW + 20);
        assert_int_equal(n[i], 3);
    }

    /* the same second: the greater node id decides, everywhere */
    test_case_status(ctx, 0, id, OMNI_STORE_CASE_OPEN, TEST_NOW + 30);
    assert_int_equal(test_publish(ctx, 0, &m0), OMNI_STORE_OK);
    test_case_status(ctx, 1, id, OMNI_STORE_CASE_PENDING, TEST_NOW + 30);
    assert_int_equal(test_publish(ctx, 1, &m1), OMNI_STORE_OK);
    assert_int_equal(test_apply(ctx, 0, &m1, &applied), OMNI_STORE_OK);
    assert_int_equal(test_apply(ctx, 1, &m0, &applied), OMNI_STORE_OK);
    assert_int_equal(test_apply(ctx, 2, &m0, &applied), OMNI_STORE_OK);
    assert_int_equal(test_apply(ctx, 2, &m1, &applied), OMNI_STORE_OK);

    for (i = 0; i < 3; i++) {
        test_case_get(ctx, i, id, &c[i], &n[i]);
        assert_int_equal(c[i].status, OMNI_STORE_CASE_PENDING);
        assert_int_equal(n[i], 5);
    }

    /* a resolves and closes it; b, later, assigns it: closed wins */
    test_case_status(ctx, 0, id, OMNI_STORE_CASE_RESOLVED, TEST_NOW + 40);
    assert_int_equal(test_publish(ctx, 0, &m2), OMNI_STORE_OK);
    test_case_status(ctx, 0, id, OMNI_STORE_CASE_CLOSED, TEST_NOW + 41);
    assert_int_equal(test_publish(ctx, 0, &m0), OMNI_STORE_OK);

    by = test_by("agent-2", TEST_NOW + 50);
    assert_int_equal(omni_store_case_assign(ctx->st[1], id, "agent-2",
                                            "returns", &by, err),
                     OMNI_STORE_OK);
    assert_int_equal(test_publish(ctx, 1, &m1), OMNI_STORE_OK);

    assert_int_equal(test_apply(ctx, 0, &m1, &applied), OMNI_STORE_OK);
    assert_int_equal(test_apply(ctx, 1, &m2, &applied), OMNI_STORE_OK);
    assert_int_equal(test_apply(ctx, 1, &m0, &applied), OMNI_STORE_OK);
    assert_int_equal(test_apply(ctx, 2, &m2, &applied), OMNI_STORE_OK);
    assert_int_equal(test_apply(ctx, 2, &m1, &applied), OMNI_STORE_OK);
    assert_int_equal(test_apply(ctx, 2, &m0, &applied), OMNI_STORE_OK);

    for (i = 0; i < 3; i++) {
        test_case_get(ctx, i, id, &c[i], &n[i]);
        assert_int_equal(c[i].status, OMNI_STORE_CASE_CLOSED);
        assert_int_equal(c[i].closed_at, TEST_NOW + 41);
        assert_string_equal(c[i].assignee, c[0].assignee);
        assert_int_equal(n[i], 8);
    }

    /* closed, it changes no more, wherever */
    by = test_by("agent-2", TEST_NOW + 60);
    assert_int_equal(omni_store_case_assign(ctx->st[1], id, "agent-3", "",
                                            &by, err),
                     OMNI_STORE_CONFLICT);
}


/* a node's own first digit; an id that names another case is refused */
static void
test_case_ids(void **state)
{
    int                   i, applied;
    char                  err[OMNI_ERRLEN], id[OMNI_STORE_CASE_ID_LEN + 1];
    size_t                k;
    test_ctx_t           *ctx;
    test_msg_t            m;
    omni_store_case_t     c;

    ctx = *state;

    assert_int_equal(omni_store_case_digit(ctx->st[0], 10, err),
                     OMNI_STORE_INVALID);
    assert_int_equal(omni_store_case_digit(ctx->st[0], 3, err),
                     OMNI_STORE_OK);
    assert_int_equal(omni_store_case_digit(ctx->st[1], 7, err),
                     OMNI_STORE_OK);

    for (i = 0; i < 20; i++) {
        test_case_open(ctx, 0, id);
        assert_int_equal(id[0], '3');
        assert_true(omni_store_case_id_valid(id, strlen(id)));
        test_case_open(ctx, 1, id);
        assert_int_equal(id[0], '7');
    }

    assert_int_equal(omni_store_case_digit(ctx->st[1], -1, err),
                     OMNI_STORE_OK);

    /* a's case with another customer's name: refused, c's case stays */
    test_case_open(ctx, 0, id);
    assert_int_equal(test_publish(ctx, 0, &m), OMNI_STORE_OK);
    assert_int_equal(test_apply(ctx, 2, &m, &applied), OMNI_STORE_OK);

    for (k = 0; k + 5 <= m.len; k++) {
        if (memcmp(m.data + k, "\005cust1", 6) == 0) {
            break;
        }
    }

    assert_true(k + 5 <= m.len);
    m.data[k + 5] = '2';
    assert_int_equal(test_apply(ctx, 2, &m, &applied), OMNI_STORE_INVALID);
    test_case_get(ctx, 2, id, &c, &k);
    assert_string_equal(c.customer, "cust1");
}


/* the decoder refuses every case change that is not exactly one */
static void
test_case_wire(void **state)
{
    char                  err[OMNI_ERRLEN], id[OMNI_STORE_CASE_ID_LEN + 1];
    size_t                i;
    test_ctx_t           *ctx;
    test_msg_t            m, bad;
    omni_store_change_t   c;

    ctx = *state;

    test_case_open(ctx, 0, id);
    assert_int_equal(test_publish(ctx, 0, &m), OMNI_STORE_OK);
    assert_int_equal(omni_store_change_decode(m.data, m.len, &c, err),
                     OMNI_STORE_OK);
    assert_int_equal(c.family, OMNI_STORE_FAMILY_CASE);

    for (i = 0; i < m.len; i++) {
        assert_int_equal(omni_store_change_decode(m.data, i, &c, err),
                         OMNI_STORE_INVALID);
    }

    /* the event count of the value and of the case disagree */
    assert_int_equal(omni_store_change_decode(m.data, m.len, &c, err),
                     OMNI_STORE_OK);
    c.val[4] = 2;
    assert_int_equal(omni_store_change_encode(&c, bad.data, sizeof(bad.data),
                                              &bad.len, err),
                     OMNI_STORE_OK);
    assert_int_equal(omni_store_change_decode(bad.data, bad.len, &c, err),
                     OMNI_STORE_INVALID);

    /* a key that is no case id (its check digit) */
    assert_int_equal(omni_store_change_decode(m.data, m.len, &c, err),
                     OMNI_STORE_OK);
    c.key[9] = (char) ('0' + (c.key[9] - '0' + 1) % 10);
    assert_int_equal(omni_store_change_encode(&c, bad.data, sizeof(bad.data),
                                              &bad.len, err),
                     OMNI_STORE_OK);
    assert_int_equal(omni_store_change_decode(bad.data, bad.len, &c, err),
                     OMNI_STORE_INVALID);

    /* an event of an unknown kind: the created event is the last bytes */
    bad = m;
    for (i = m.len - 1; i > 0; i--) {
        if (memcmp(bad.data + i, "\007agent-1", 8) == 0) {
            break;
        }
    }

    assert_true(i > 3);
    bad.data[i - 3] = OMNI_STORE_CASE_EV_KINDS;
    assert_int_equal(omni_store_change_decode(bad.data, bad.len, &c, err),
                     OMNI_STORE_INVALID);

    /* a subject with a control character */
    bad = m;
    for (i = 0; i < m.len; i++) {
        if (memcmp(bad.data + i, "Parcel", 6) == 0) {
            break;
        }
    }

    bad.data[i] = '\001';
    assert_int_equal(omni_store_change_decode(bad.data, bad.len, &c, err),
                     OMNI_STORE_INVALID);
}


/* journeys */

static void
test_journey_event(omni_store_journey_t *ev, int64_t t, const char *action)
{
    memset(ev, 0, sizeof(omni_store_journey_t));
    ev->time_ms = t;
    strcpy(ev->channel, "web");
    strcpy(ev->action, action);
    strcpy(ev->outcome, "ok");
    strcpy(ev->session, "sess1");
}


/* node i's journey log after after, each as omni-sync publishes it */
static size_t
test_journeys_published(test_ctx_t *ctx, int i, uint64_t after,
    test_msg_t *out, size_t max)
{
    char                          err[OMNI_ERRLEN];
    size_t                        n, k;
    omni_store_journey_change_t  *ev;
    static const char            *nodes[] = { "a", "b", "c" };

    ev = calloc(max, sizeof(omni_store_journey_change_t));
    assert_non_null(ev);
    assert_int_equal(omni_store_journeys_read(ctx->st[i], after, ev, max, &n,
                                              err),
                     OMNI_STORE_OK);

    for (k = 0; k < n; k++) {
        assert_string_equal(ev[k].c.origin, "");
        strcpy(ev[k].c.origin, nodes[i]);
        assert_int_equal(omni_store_change_encode(&ev[k].c, out[k].data,
                                                  sizeof(out[k].data),
                                                  &out[k].len, err),
                         OMNI_STORE_OK);
    }

    free(ev);

    return n;
}


static void
test_journeys_apply(test_ctx_t *ctx, int i, test_msg_t *m, size_t n,
    uint64_t first_seq, size_t *applied)
{
    char                       err[OMNI_ERRLEN];
    size_t                     k;
    omni_store_change_t       *c;
    omni_store_change_item_t  *items;

    c = calloc(n, sizeof(omni_store_change_t));
    items = calloc(n, sizeof(omni_store_change_item_t));
    assert_non_null(c);
    assert_non_null(items);

    for (k = 0; k < n; k++) {
        assert_int_equal(omni_store_change_decode(m[k].data, m[k].len, &c[k],
                                                  err),
                         OMNI_STORE_OK);
        items[k].change = &c[k];
        items[k].stream_seq = first_seq + k;
    }

    assert_int_equal(omni_store_journeys_apply_batch(ctx->st[i], items, n,
                                                     err),
                     OMNI_STORE_OK);

    *applied = 0;

    for (k = 0; k < n; k++) {
        *applied += items[k].applied;
    }

    free(items);
    free(c);
}


static void
test_journey_shared(void **state)
{
    char                          err[OMNI_ERRLEN];
    size_t                        n, applied;
    test_ctx_t                   *ctx;
    test_msg_t                   *m;
    omni_store_journey_t          ev[3], got[8];
    omni_store_journey_item_t     items[3];
    omni_store_journeys_state_t   js;

    ctx = *state;

    m = calloc(8, sizeof(test_msg_t));
    assert_non_null(m);

    /* a store that never synced logs none (its journey is its own) */
    {
        char           dir[TEST_DIR_LEN];
        omni_store_t  *lone;

        snprintf(dir, sizeof(dir), "%s/t-XXXXXX", test_base);
        assert_non_null(mkdtemp(dir));
        lone = omni_store_open(dir, TEST_MAP_MAX, OMNI_STORE_SYNC_NONE, err);
        assert_non_null(lone);
        test_journey_event(&ev[0], 1800000000001, "order.query");
        assert_int_equal(omni_store_journey_append(lone, "cust1", &ev[0], 10,
                                                   0, err),
                         OMNI_STORE_OK);
        assert_int_equal(omni_store_journeys_state(lone, &js, err),
                         OMNI_STORE_OK);
        assert_int_equal(js.last, 0);
        omni_store_close(lone);
        (void) test_tmpdir_remove(dir);
    }

    /* a worker's batch: one transaction, each event logged in it */
    test_journey_event(&ev[0], 1800000000001, "order.query");
    test_journey_event(&ev[1], 1800000000002, "order.cancel");
    test_journey_event(&ev[2], 1800000000003, "order.query");

    /* a dispatched request's decision travels with its event */
    strcpy(ev[1].pool, "refunds");
    strcpy(ev[1].rule, "r-2");
    strcpy(ev[1].intent, "refund");
    items[0].customer = "cust1";
    items[0].ev = &ev[0];
    items[1].customer = "cust1";
    items[1].ev = &ev[1];
    items[2].customer = "cust2";
    items[2].ev = &ev[2];

    assert_int_equal(omni_store_journey_append_many(ctx->st[0], items, 3, 100,
                                                    0, NULL, err),
                     OMNI_STORE_OK);
    assert_int_equal(omni_store_journeys_state(ctx->st[0], &js, err),
                     OMNI_STORE_OK);
    assert_int_equal(js.last, 3);

    /* the change log is not the journeys' */
    assert_int_equal(test_last(ctx->st[0]), 0);

    n = test_journeys_published(ctx, 0, 0, m, 8);
    assert_int_equal(n, 3);
    assert_int_equal(omni_store_journeys_published(ctx->st[0], 3, err),
                     OMNI_STORE_OK);
    assert_int_equal(omni_store_journeys_published(ctx->st[0], 4, err),
                     OMNI_STORE_INVALID);

    test_journeys_apply(ctx, 1, m, n, 1, &applied);
    assert_int_equal(applied, 3);

    assert_int_equal(omni_store_journey_read(ctx->st[1], "cust1", NULL, got,
                                             8, &n, err),
                     OMNI_STORE_OK);
    assert_int_equal(n, 2);
    assert_string_equal(got[0].action, "order.cancel");
    assert_int_equal(got[0].time_ms, 1800000000002);
    assert_string_equal(got[0].pool, "refunds");
    assert_string_equal(got[0].rule, "r-2");
    assert_string_equal(got[0].intent, "refund");
    assert_string_equal(got[1].pool, "");
    assert_string_equal(got[1].session, "sess1");

    /* applied, never logged again; a redelivery changes nothing */
    assert_int_equal(omni_store_journeys_state(ctx->st[1], &js, err),
                     OMNI_STORE_OK);
    assert_int_equal(js.last, 0);
    assert_int_equal(js.applied, 3);

    test_journeys_apply(ctx, 1, m, 3, 1, &applied);
    assert_int_equal(applied, 0);
    assert_int_equal(omni_store_journey_read(ctx->st[1], "cust1", NULL, got,
                                             8, &n, err),
                     OMNI_STORE_OK);
    assert_int_equal(n, 2);

    /* a's own events coming back only move its cursor */
    test_journeys_apply(ctx, 0, m, 3, 1, &applied);
    assert_int_equal(applied, 0);
    assert_int_equal(omni_store_journey_read(ctx->st[0], "cust1", NULL, got,
                                             8, &n, err),
                     OMNI_STORE_OK);
    assert_int_equal(n, 2);

    /* a case change's journey event is logged too */
    {
        char  id[OMNI_STORE_CASE_ID_LEN + 1];

        test_case_open(ctx, 2, id);
        assert_int_equal(omni_store_journeys_state(ctx->st[2], &js, err),
                         OMNI_STORE_OK);
        assert_int_equal(js.last, 1);
    }

    free(m);
}


static void
test_journey_wire(void **state)
{
    char                  err[OMNI_ERRLEN];
    size_t                i, n;
    test_ctx_t           *ctx;
    test_msg_t           *m, bad;
    omni_store_change_t   c;
    omni_store_journey_t  ev;

    ctx = *state;

    m = calloc(1, sizeof(test_msg_t));
    assert_non_null(m);

    test_journey_event(&ev, 1800000000001, "order.query");
    assert_int_equal(omni_store_journey_append(ctx->st[0], "cust1", &ev, 10,
                                               0, err),
                     OMNI_STORE_OK);
    n = test_journeys_published(ctx, 0, 0, m, 1);
    assert_int_equal(n, 1);

    for (i = 0; i < m->len; i++) {
        assert_int_equal(omni_store_change_decode(m->data, i, &c, err),
                         OMNI_STORE_INVALID);
    }

    /* a NUL in the action, an action with a space */
    for (i = 0; i < m->len; i++) {
        if (memcmp(m->data + i, "order.query", 11) == 0) {
            break;
        }
    }

    assert_true(i < m->len);
    bad = *m;
    bad.data[i + 5] = '\0';
    assert_int_equal(omni_store_change_decode(bad.data, bad.len, &c, err),
                     OMNI_STORE_INVALID);
    bad.data[i + 5] = ' ';
    assert_int_equal(omni_store_change_decode(bad.data, bad.len, &c, err),
                     OMNI_STORE_INVALID);

    /* a value, a key that is no customer id, a delete */
    assert_int_equal(omni_store_change_decode(m->data, m->len, &c, err),
                     OMNI_STORE_OK);
    c.val_len = 1;
    assert_int_equal(omni_store_change_encode(&c, bad.data, sizeof(bad.data),
                                              &bad.len, err),
                     OMNI_STORE_OK);
    assert_int_equal(omni_store_change_decode(bad.data, bad.len, &c, err),
                     OMNI_STORE_INVALID);

    assert_int_equal(omni_store_change_decode(m->data, m->len, &c, err),
                     OMNI_STORE_OK);
    c.key[1] = ':';
    assert_int_equal(omni_store_change_encode(&c, bad.data, sizeof(bad.data),
                                              &bad.len, err),
                     OMNI_STORE_OK);
    assert_int_equal(omni_store_change_decode(bad.data, bad.len, &c, err),
                     OMNI_STORE_INVALID);

    assert_int_equal(omni_store_change_decode(m->data, m->len, &c, err),
                     OMNI_STORE_OK);
    c.op = OMNI_STORE_CHANGE_DELETE;
    assert_int_equal(omni_store_change_encode(&c, bad.data, sizeof(bad.data),
                                              &bad.len, err),
                     OMNI_STORE_OK);
    assert_int_equal(omni_store_change_decode(bad.data, bad.len, &c, err),
                     OMNI_STORE_INVALID);

    /* a journey event on the change stream is refused */
    assert_int_equal(omni_store_change_decode(m->data, m->len, &c, err),
                     OMNI_STORE_OK);
    assert_int_equal(omni_store_changes_apply(ctx->st[1], &c, 1, NULL, err),
                     OMNI_STORE_INVALID);

    free(m);
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test_setup_teardown(test_logged, test_setup,
                                        test_teardown),
        cmocka_unit_test_setup_teardown(test_resume, test_setup,
                                        test_teardown),
        cmocka_unit_test_setup_teardown(test_merge, test_setup,
                                        test_teardown),
        cmocka_unit_test_setup_teardown(test_ended, test_setup,
                                        test_teardown),
        cmocka_unit_test_setup_teardown(test_sealed, test_setup,
                                        test_teardown),
        cmocka_unit_test_setup_teardown(test_wire, test_setup,
                                        test_teardown),
        cmocka_unit_test_setup_teardown(test_case_shared, test_setup,
                                        test_teardown),
        cmocka_unit_test_setup_teardown(test_case_conflict, test_setup,
                                        test_teardown),
        cmocka_unit_test_setup_teardown(test_case_ids, test_setup,
                                        test_teardown),
        cmocka_unit_test_setup_teardown(test_case_wire, test_setup,
                                        test_teardown),
        cmocka_unit_test_setup_teardown(test_journey_shared, test_setup,
                                        test_teardown),
        cmocka_unit_test_setup_teardown(test_journey_wire, test_setup,
                                        test_teardown),
    };

    return cmocka_run_group_tests(tests, test_group_setup,
                                  test_group_teardown);
}
