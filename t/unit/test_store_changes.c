/*
 * Copyright (C) The omni gateway authors
 *
 * Unit tests of the change log (module/omni_store_changes.c): every
 * revocation put and removal logs a change in its transaction, the log is
 * trimmed past its bound with the oldest kept sequence recorded, the
 * cursors, the node id, applying another node's changes (a union, no
 * echo, redeliveries ignored), the wire codec's refusals, and a writer
 * killed with SIGKILL that leaves a change and its record together or
 * neither.
 */


#define _GNU_SOURCE

#include <ftw.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "test_store_fixture.h"

#include "omni_store.h"


#define TEST_MAP_MAX  ((size_t) 64 * 1024 * 1024)
#define TEST_DIR_LEN  256


typedef test_store_ctx_t  test_ctx_t;


static char  test_base[200];


static int
test_group_setup(void **state)
{
    (void) state;

    return test_tmpdir_make(test_base, sizeof(test_base), "changes");
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


static void
test_state(omni_store_t *st, omni_store_changes_state_t *s)
{
    char  err[OMNI_ERRLEN];

    assert_int_equal(omni_store_changes_state(st, s, err), OMNI_STORE_OK);
}


/* a change from node "other" putting a revocation record */
static void
test_remote(omni_store_change_t *c, uint64_t seq, const char *key, int op,
    int64_t t)
{
    memset(c, 0, sizeof(omni_store_change_t));

    c->seq = seq;
    c->family = OMNI_STORE_FAMILY_REVOCATION;
    c->op = op;
    c->time_ms = 1700000000000LL;
    strcpy(c->origin, "other");
    c->key_len = strlen(key);
    memcpy(c->key, key, c->key_len);

    if (op == OMNI_STORE_CHANGE_PUT) {
        c->val_len = 9;
        c->val[0] = 1;
        c->val[1] = 0;
        c->val[2] = 0;
        c->val[3] = 0;
        c->val[4] = (unsigned char) ((uint64_t) t >> 32);
        c->val[5] = (unsigned char) (t >> 24);
        c->val[6] = (unsigned char) (t >> 16);
        c->val[7] = (unsigned char) (t >> 8);
        c->val[8] = (unsigned char) t;
    }
}


static void
test_log(void **state)
{
    int                          rule;
    char                         err[OMNI_ERRLEN];
    size_t                       n;
    test_ctx_t                  *ctx;
    omni_store_change_t          c[8];
    omni_store_changes_state_t   s;

    ctx = *state;

    test_state(ctx->st, &s);
    assert_int_equal(s.last, 0);
    assert_int_equal(s.first, 1);
    assert_int_equal(s.max, OMNI_STORE_CHANGES_KEEP);
    assert_string_equal(s.node, "");

    assert_int_equal(omni_store_revoke_jti(ctx->st, "j1", 2000000000, err),
                     OMNI_STORE_OK);
    assert_int_equal(omni_store_revoke_subject_before(ctx->st, "alice",
                                                      1700000000, err),
                     OMNI_STORE_OK);
    assert_int_equal(omni_store_revoke_session(ctx->st, "sess1", 1700000000,
                                               err),
                     OMNI_STORE_OK);
    assert_int_equal(omni_store_revocation_remove(ctx->st,
                                                  OMNI_STORE_REVOKED_JTI,
                                                  "j1", err),
                     OMNI_STORE_OK);

    /* a refused removal logs nothing */
    assert_int_equal(omni_store_revocation_remove(ctx->st,
                                                  OMNI_STORE_REVOKED_JTI,
                                                  "nope", err),
                     OMNI_STORE_NOT_FOUND);

    test_state(ctx->st, &s);
    assert_int_equal(s.last, 4);

    assert_int_equal(omni_store_changes_read(ctx->st, 0, c, 8, &n, err),
                     OMNI_STORE_OK);
    assert_int_equal(n, 4);
    assert_int_equal(c[0].seq, 1);
    assert_int_equal(c[0].op, OMNI_STORE_CHANGE_PUT);
    assert_int_equal(c[0].key_len, 4);
    assert_memory_equal(c[0].key, "j:j1", 4);
    assert_int_equal(c[0].val_len, 9);
    assert_memory_equal(c[1].key, "u:alice", 7);
    assert_memory_equal(c[2].key, "s:sess1", 7);
    assert_int_equal(c[3].op, OMNI_STORE_CHANGE_DELETE);
    assert_int_equal(c[3].val_len, 0);
    assert_true(c[3].time_ms > 1600000000000LL);

    assert_int_equal(omni_store_changes_read(ctx->st, 2, c, 8, &n, err),
                     OMNI_STORE_OK);
    assert_int_equal(n, 2);
    assert_int_equal(c[0].seq, 3);

    assert_int_equal(omni_store_changes_read(ctx->st, 4, c, 8, &n, err),
                     OMNI_STORE_OK);
    assert_int_equal(n, 0);

    /* omni-sync's heartbeat for the fail-closed check */
    assert_int_equal(s.caught_up, 0);
    assert_int_equal(omni_store_changes_caught_up(ctx->st, 1700000123, err),
                     OMNI_STORE_OK);
    assert_int_equal(omni_store_changes_caught_up(ctx->st, -1, err),
                     OMNI_STORE_INVALID);
    test_state(ctx->st, &s);
    assert_int_equal(s.caught_up, 1700000123);

    /* the cursor of what was published */
    assert_int_equal(omni_store_changes_published(ctx->st, 3, err),
                     OMNI_STORE_OK);
    assert_int_equal(omni_store_changes_published(ctx->st, 2, err),
                     OMNI_STORE_OK);
    assert_int_equal(omni_store_changes_published(ctx->st, 5, err),
                     OMNI_STORE_INVALID);
    test_state(ctx->st, &s);
    assert_int_equal(s.published, 3);

    /* the node id: recorded once; a change carries it from then on */
    assert_int_equal(omni_store_changes_node(ctx->st, "n 1", err),
                     OMNI_STORE_INVALID);
    assert_int_equal(omni_store_changes_node(ctx->st, "node1", err),
                     OMNI_STORE_OK);
    assert_int_equal(omni_store_changes_node(ctx->st, "node1", err),
                     OMNI_STORE_OK);
    assert_int_equal(omni_store_changes_node(ctx->st, "node2", err),
                     OMNI_STORE_INVALID);
    assert_non_null(strstr(err, "belongs to node node1"));

    assert_int_equal(omni_store_revoke_jti(ctx->st, "j2", 0, err),
                     OMNI_STORE_OK);
    assert_int_equal(omni_store_changes_read(ctx->st, 4, c, 8, &n, err),
                     OMNI_STORE_OK);
    assert_int_equal(n, 1);
    assert_string_equal(c[0].origin, "node1");

    assert_int_equal(omni_store_is_revoked(ctx->st, "j2", NULL, NULL, -1,
                                           &rule, err),
                     OMNI_STORE_OK);
    assert_int_equal(rule, OMNI_STORE_REVOKED_JTI);
}


static int
test_export_record(void *data, const omni_store_record_t *rec)
{
    size_t  *n;

    n = data;

    if (rec->db == OMNI_STORE_DB_CHANGES) {
        return 1;
    }

    (*n)++;

    return 0;
}


static void
test_trim(void **state)
{
    int                          i;
    char                         err[OMNI_ERRLEN], jti[32];
    size_t                       n;
    test_ctx_t                  *ctx;
    omni_store_change_t          c[16];
    omni_store_changes_state_t   s;

    ctx = *state;

    assert_int_equal(omni_store_changes_limit(ctx->st, 0, err),
                     OMNI_STORE_INVALID);
    assert_int_equal(omni_store_changes_limit(ctx->st, 10, err),
                     OMNI_STORE_OK);

    for (i = 0; i < 25; i++) {
        snprintf(jti, sizeof(jti), "t%d", i);
        assert_int_equal(omni_store_revoke_jti(ctx->st, jti, 0, err),
                         OMNI_STORE_OK);
    }

    test_state(ctx->st, &s);
    assert_int_equal(s.last, 25);
    assert_int_equal(s.first, 16);
    assert_int_equal(s.max, 10);

    /* a reader behind first - 1 sees it missed changes */
    assert_int_equal(omni_store_changes_read(ctx->st, 0, c, 16, &n, err),
                     OMNI_STORE_OK);
    assert_int_equal(n, 10);
    assert_int_equal(c[0].seq, 16);
    assert_int_equal(c[9].seq, 25);

    /* a lower bound trims at once */
    assert_int_equal(omni_store_changes_limit(ctx->st, 3, err),
                     OMNI_STORE_OK);
    test_state(ctx->st, &s);
    assert_int_equal(s.first, 23);
    assert_int_equal(omni_store_changes_read(ctx->st, 0, c, 16, &n, err),
                     OMNI_STORE_OK);
    assert_int_equal(n, 3);
    assert_int_equal(c[0].seq, 23);

    /* export leaves the log out */
    n = 0;
    assert_int_equal(omni_store_export(ctx->st, test_export_record, &n,
                                       err),
                     OMNI_STORE_OK);
    assert_int_equal(n, 26);         /* format, 25 revocations, no change */
}


static void
test_apply(void **state)
{
    int                          rule, applied;
    char                         err[OMNI_ERRLEN];
    size_t                       n;
    test_ctx_t                  *ctx;
    omni_store_change_t          c, out[4];
    omni_store_session_t         sess;
    omni_store_revocation_t      r[4];
    omni_store_changes_state_t   s;

    ctx = *state;

    assert_int_equal(omni_store_changes_node(ctx->st, "self", err),
                     OMNI_STORE_OK);

    test_remote(&c, 1, "j:remote1", OMNI_STORE_CHANGE_PUT, 2000000000);
    assert_int_equal(omni_store_changes_apply(ctx->st, &c, 10, &applied,
                                              err),
                     OMNI_STORE_OK);
    assert_int_equal(applied, 1);

    assert_int_equal(omni_store_is_revoked(ctx->st, "remote1", NULL, NULL,
                                           -1, &rule, err),
                     OMNI_STORE_OK);
    assert_int_equal(rule, OMNI_STORE_REVOKED_JTI);

    /* not logged again: no echo */
    test_state(ctx->st, &s);
    assert_int_equal(s.last, 0);
    assert_int_equal(s.applied, 10);

    /* a redelivery changes nothing */
    test_remote(&c, 1, "j:remote1", OMNI_STORE_CHANGE_DELETE, 0);
    assert_int_equal(omni_store_changes_apply(ctx->st, &c, 10, &applied,
                                              err),
                     OMNI_STORE_OK);
    assert_int_equal(applied, 0);
    assert_int_equal(omni_store_is_revoked(ctx->st, "remote1", NULL, NULL,
                                           -1, &rule, err),
                     OMNI_STORE_OK);
    assert_int_equal(rule, OMNI_STORE_REVOKED_JTI);

    /* union: the later expiry stays, in either order; 0 (never) wins */
    test_remote(&c, 2, "j:remote1", OMNI_STORE_CHANGE_PUT, 1900000000);
    assert_int_equal(omni_store_changes_apply(ctx->st, &c, 11, &applied,
                                              err),
                     OMNI_STORE_OK);
    assert_int_equal(omni_store_revocations_list(ctx->st,
                                                 OMNI_STORE_REVOKED_JTI,
                                                 NULL, r, 4, &n, err),
                     OMNI_STORE_OK);
    assert_int_equal(n, 1);
    assert_int_equal(r[0].time, 2000000000);

    test_remote(&c, 3, "j:remote1", OMNI_STORE_CHANGE_PUT, 0);
    assert_int_equal(omni_store_changes_apply(ctx->st, &c, 12, &applied,
                                              err),
                     OMNI_STORE_OK);
    test_remote(&c, 4, "j:remote1", OMNI_STORE_CHANGE_PUT, 2100000000);
    assert_int_equal(omni_store_changes_apply(ctx->st, &c, 13, &applied,
                                              err),
                     OMNI_STORE_OK);
    assert_int_equal(omni_store_revocations_list(ctx->st,
                                                 OMNI_STORE_REVOKED_JTI,
                                                 NULL, r, 4, &n, err),
                     OMNI_STORE_OK);
    assert_int_equal(r[0].time, 0);

    /* subjects: the later cut */
    test_remote(&c, 5, "u:bob", OMNI_STORE_CHANGE_PUT, 1700000500);
    assert_int_equal(omni_store_changes_apply(ctx->st, &c, 14, NULL, err),
                     OMNI_STORE_OK);
    test_remote(&c, 6, "u:bob", OMNI_STORE_CHANGE_PUT, 1700000100);
    assert_int_equal(omni_store_changes_apply(ctx->st, &c, 15, NULL, err),
                     OMNI_STORE_OK);
    assert_int_equal(omni_store_is_revoked(ctx->st, NULL, NULL, "bob",
                                           1700000300, &rule, err),
                     OMNI_STORE_OK);
    assert_int_equal(rule, OMNI_STORE_REVOKED_SUBJECT);

    /* a session revoked elsewhere ends here too */
    memset(&sess, 0, sizeof(sess));
    strcpy(sess.id, "s-live");
    sess.created = 1700000000;
    sess.last_seen = 1700000000;
    assert_int_equal(omni_store_session_put(ctx->st, &sess, err),
                     OMNI_STORE_OK);
    test_remote(&c, 7, "s:s-live", OMNI_STORE_CHANGE_PUT, 1700000000);
    assert_int_equal(omni_store_changes_apply(ctx->st, &c, 16, NULL, err),
                     OMNI_STORE_OK);
    assert_int_equal(omni_store_session_get(ctx->st, "s-live", &sess, err),
                     OMNI_STORE_NOT_FOUND);

    /* a delete, and a delete of what is not there */
    test_remote(&c, 8, "j:remote1", OMNI_STORE_CHANGE_DELETE, 0);
    assert_int_equal(omni_store_changes_apply(ctx->st, &c, 17, NULL, err),
                     OMNI_STORE_OK);
    assert_int_equal(omni_store_changes_apply(ctx->st, &c, 18, NULL, err),
                     OMNI_STORE_OK);
    assert_int_equal(omni_store_is_revoked(ctx->st, "remote1", NULL, NULL,
                                           -1, &rule, err),
                     OMNI_STORE_OK);
    assert_int_equal(rule, OMNI_STORE_REVOKED_NONE);

    /* this node's own change moves the cursor only */
    test_remote(&c, 9, "j:mine", OMNI_STORE_CHANGE_PUT, 0);
    strcpy(c.origin, "self");
    assert_int_equal(omni_store_changes_apply(ctx->st, &c, 19, &applied,
                                              err),
                     OMNI_STORE_OK);
    assert_int_equal(applied, 0);
    assert_int_equal(omni_store_is_revoked(ctx->st, "mine", NULL, NULL, -1,
                                           &rule, err),
                     OMNI_STORE_OK);
    assert_int_equal(rule, OMNI_STORE_REVOKED_NONE);

    /* refusals: nothing written, passed over */
    test_remote(&c, 10, "x:what", OMNI_STORE_CHANGE_PUT, 0);
    assert_int_equal(omni_store_changes_apply(ctx->st, &c, 20, NULL, err),
                     OMNI_STORE_INVALID);
    test_remote(&c, 10, "s:not an id", OMNI_STORE_CHANGE_PUT, 0);
    assert_int_equal(omni_store_changes_apply(ctx->st, &c, 21, NULL, err),
                     OMNI_STORE_INVALID);
    test_remote(&c, 10, "j:x", OMNI_STORE_CHANGE_PUT, 0);
    c.val[0] = 7;
    assert_int_equal(omni_store_changes_apply(ctx->st, &c, 22, NULL, err),
                     OMNI_STORE_INVALID);
    test_state(ctx->st, &s);
    assert_int_equal(s.applied, 22);
    assert_int_equal(omni_store_is_revoked(ctx->st, "x", NULL, NULL, -1,
                                           &rule, err),
                     OMNI_STORE_OK);
    assert_int_equal(rule, OMNI_STORE_REVOKED_NONE);

    /* a message that could not be read is passed over */
    assert_int_equal(omni_store_changes_apply(ctx->st, NULL, 23, NULL, err),
                     OMNI_STORE_OK);
    test_state(ctx->st, &s);
    assert_int_equal(s.applied, 23);

    /* a batch: one commit, a refusal in the middle passed over */
    {
        omni_store_change_t       b[3];
        omni_store_change_item_t  items[3];

        test_remote(&b[0], 11, "j:b0", OMNI_STORE_CHANGE_PUT, 0);
        test_remote(&b[1], 12, "q:b1", OMNI_STORE_CHANGE_PUT, 0);
        test_remote(&b[2], 13, "j:b2", OMNI_STORE_CHANGE_PUT, 0);
        items[0].change = &b[0];
        items[0].stream_seq = 23;          /* seen already */
        items[1].change = &b[1];
        items[1].stream_seq = 24;
        items[2].change = &b[2];
        items[2].stream_seq = 25;

        assert_int_equal(omni_store_changes_apply_batch(ctx->st, items, 3,
                                                        err),
                         OMNI_STORE_OK);
        assert_int_equal(items[0].applied, 0);
        assert_int_equal(items[1].rc, OMNI_STORE_INVALID);
        assert_int_equal(items[2].applied, 1);
        assert_int_equal(omni_store_is_revoked(ctx->st, "b2", NULL, NULL, -1,
                                               &rule, err),
                         OMNI_STORE_OK);
        assert_int_equal(rule, OMNI_STORE_REVOKED_JTI);

        /* sequences must grow */
        items[2].stream_seq = 24;
        assert_int_equal(omni_store_changes_apply_batch(ctx->st, items, 3,
                                                        err),
                         OMNI_STORE_INVALID);
    }

    /* nothing applied was logged: the local session put only */
    test_state(ctx->st, &s);
    assert_int_equal(s.applied, 25);
    assert_int_equal(s.last, 1);

    assert_int_equal(omni_store_changes_read(ctx->st, 0, out, 4, &n, err),
                     OMNI_STORE_OK);
    assert_int_equal(n, 1);
    assert_int_equal(out[0].family, OMNI_STORE_FAMILY_SESSION);
}


static void
test_wire(void **state)
{
    char                  err[OMNI_ERRLEN];
    size_t                len, i;
    unsigned char         buf[OMNI_STORE_CHANGE_WIRE_MAX + 8];
    omni_store_change_t   c, d;

    (void) state;

    test_remote(&c, 42, "j:abc", OMNI_STORE_CHANGE_PUT, 1234);
    assert_int_equal(omni_store_change_encode(&c, buf, sizeof(buf), &len,
                                              err),
                     OMNI_STORE_OK);
    assert_int_equal(omni_store_change_decode(buf, len, &d, err),
                     OMNI_STORE_OK);
    assert_int_equal(d.seq, 42);
    assert_string_equal(d.origin, "other");
    assert_int_equal(d.key_len, 5);
    assert_memory_equal(d.key, "j:abc", 5);
    assert_int_equal(d.val_len, 9);
    assert_int_equal(d.time_ms, c.time_ms);

    /* every truncation, and a byte more, is refused */
    for (i = 0; i < len; i++) {
        assert_int_equal(omni_store_change_decode(buf, i, &d, err),
                         OMNI_STORE_INVALID);
    }

    buf[len] = 0;
    assert_int_equal(omni_store_change_decode(buf, len + 1, &d, err),
                     OMNI_STORE_INVALID);

    /* version, family, op, a NUL in the origin */
    buf[0] = 2;
    assert_int_equal(omni_store_change_decode(buf, len, &d, err),
                     OMNI_STORE_INVALID);
    buf[0] = 1;
    buf[9] = 9;
    assert_int_equal(omni_store_change_decode(buf, len, &d, err),
                     OMNI_STORE_INVALID);
    buf[9] = 1;
    buf[10] = 3;
    assert_int_equal(omni_store_change_decode(buf, len, &d, err),
                     OMNI_STORE_INVALID);
    buf[10] = 1;
    buf[21] = '\0';
    assert_int_equal(omni_store_change_decode(buf, len, &d, err),
                     OMNI_STORE_INVALID);
    buf[21] = 't';
    assert_int_equal(omni_store_change_decode(buf, len, &d, err),
                     OMNI_STORE_OK);

    /* a delete carries no value, a put one */
    test_remote(&c, 43, "j:abc", OMNI_STORE_CHANGE_DELETE, 0);
    c.val_len = 1;
    assert_int_equal(omni_store_change_encode(&c, buf, sizeof(buf), &len,
                                              err),
                     OMNI_STORE_OK);
    assert_int_equal(omni_store_change_decode(buf, len, &d, err),
                     OMNI_STORE_INVALID);

    /* a buffer too small */
    test_remote(&c, 44, "j:abc", OMNI_STORE_CHANGE_PUT, 1);
    assert_int_equal(omni_store_change_encode(&c, buf, 10, &len, err),
                     OMNI_STORE_INVALID);
}


static void
test_policy_current(omni_store_t *st, const char *want, const char *author)
{
    char                       err[OMNI_ERRLEN], *json;
    size_t                     len;
    omni_store_policy_info_t   info;

    assert_int_equal(omni_store_policy_get(st, 0, &json, &len, &info, err),
                     OMNI_STORE_OK);
    assert_int_equal(len, strlen(want));
    assert_memory_equal(json, want, len);
    assert_string_equal(info.author, author);
    free(json);
}


/* a policy change from node "other", naming its revision rev */
static void
test_remote_policy(omni_store_change_t *d, uint64_t seq, unsigned char rev,
    const char *json)
{
    test_remote(d, seq, "p:", OMNI_STORE_CHANGE_DELETE, 0);

    d->family = OMNI_STORE_FAMILY_POLICY;
    d->op = OMNI_STORE_CHANGE_PUT;
    d->time_ms = 1700000005000LL;
    d->key_len = 6;
    memset(d->key + 2, 0, 3);
    d->key[5] = rev;
    d->data = (const unsigned char *) json;
    d->data_len = strlen(json);
}


static void
test_policy(void **state)
{
    int                          applied;
    char                         err[OMNI_ERRLEN];
    size_t                       n, len;
    uint32_t                     rev;
    test_ctx_t                  *ctx;
    unsigned char                buf[OMNI_STORE_CHANGE_WIRE_MAX + 64];
    omni_store_change_t          c, d;
    omni_store_changes_state_t   s;
    const char                  *p0 = "{\"seed\":1}", *p1 = "{\"p\":1}";
    const char                  *p2 = "{\"p\":2}", *p3 = "{\"p\":3}";

    ctx = *state;

    assert_int_equal(omni_store_changes_node(ctx->st, "self", err),
                     OMNI_STORE_OK);

    /* a seed is not logged, a put is, naming its revision */
    assert_int_equal(omni_store_policy_seed(ctx->st, p0, strlen(p0), "conf",
                                            1700000000, &rev, err),
                     OMNI_STORE_OK);
    assert_int_equal(omni_store_policy_put(ctx->st, p1, strlen(p1), "alice",
                                           NULL, 1700000001, &rev, err),
                     OMNI_STORE_OK);
    assert_int_equal(rev, 2);

    assert_int_equal(omni_store_changes_read(ctx->st, 0, &c, 1, &n, err),
                     OMNI_STORE_OK);
    assert_int_equal(n, 1);
    assert_int_equal(c.family, OMNI_STORE_FAMILY_POLICY);
    assert_int_equal(c.key_len, 6);
    assert_memory_equal(c.key, "p:\0\0\0\2", 6);
    assert_int_equal(c.data_len, 0);
    test_state(ctx->st, &s);
    assert_int_equal(s.policy_local, 1);

    /* another node's policy becomes the current one, not logged */
    test_remote_policy(&d, 7, 5, p2);

    assert_int_equal(omni_store_changes_apply(ctx->st, &d, 1, &applied, err),
                     OMNI_STORE_OK);
    test_policy_current(ctx->st, p2, "other");
    test_state(ctx->st, &s);
    assert_int_equal(s.last, 1);

    /* the current one again: no new revision */
    assert_int_equal(omni_store_changes_apply(ctx->st, &d, 2, &applied, err),
                     OMNI_STORE_OK);
    assert_int_equal(omni_store_policy_current(ctx->st, &rev, NULL, err),
                     OMNI_STORE_OK);
    assert_int_equal(rev, 3);

    /* this node's own change comes back after it: the stream's order */
    c.data = (const unsigned char *) p1;
    c.data_len = strlen(p1);
    assert_int_equal(omni_store_changes_apply(ctx->st, &c, 3, &applied, err),
                     OMNI_STORE_OK);
    test_policy_current(ctx->st, p1, "self");

    /* ... unless the node changed its policy again since */
    assert_int_equal(omni_store_policy_put(ctx->st, p3, strlen(p3), "alice",
                                           "again", 1700000010, &rev, err),
                     OMNI_STORE_OK);
    assert_int_equal(omni_store_changes_apply(ctx->st, &c, 4, &applied, err),
                     OMNI_STORE_OK);
    test_policy_current(ctx->st, p3, "alice");

    /* an empty policy is refused and passed over */
    d.data_len = 0;
    assert_int_equal(omni_store_changes_apply(ctx->st, &d, 5, &applied, err),
                     OMNI_STORE_INVALID);
    test_policy_current(ctx->st, p3, "alice");

    /* the wire carries the policy after the record */
    d.data_len = strlen(p2);
    assert_int_equal(omni_store_change_encode(&d, buf, sizeof(buf), &len,
                                              err),
                     OMNI_STORE_OK);
    memset(&c, 0, sizeof(c));
    assert_int_equal(omni_store_change_decode(buf, len, &c, err),
                     OMNI_STORE_OK);
    assert_int_equal(c.data_len, strlen(p2));
    assert_memory_equal(c.data, p2, c.data_len);
    assert_int_equal(omni_store_change_decode(buf, len - 1, &c, err),
                     OMNI_STORE_INVALID);

    /* a policy change that is not a put of p:<revision> */
    d.op = OMNI_STORE_CHANGE_DELETE;
    assert_int_equal(omni_store_change_encode(&d, buf, sizeof(buf), &len,
                                              err),
                     OMNI_STORE_OK);
    assert_int_equal(omni_store_change_decode(buf, len, &c, err),
                     OMNI_STORE_INVALID);
    d.op = OMNI_STORE_CHANGE_PUT;
    d.key[0] = 'j';
    assert_int_equal(omni_store_change_encode(&d, buf, sizeof(buf), &len,
                                              err),
                     OMNI_STORE_OK);
    assert_int_equal(omni_store_change_decode(buf, len, &c, err),
                     OMNI_STORE_INVALID);
}


/*
 * The full resync sends the current policy again when a policy change was
 * trimmed from the log before it was published, not otherwise.
 */
static void
test_policy_resync(void **state)
{
    int                          applied;
    char                         err[OMNI_ERRLEN], jti[16];
    size_t                       i;
    uint32_t                     rev;
    test_ctx_t                  *ctx;
    omni_store_change_t          c, d;
    const char                  *p1 = "{\"p\":1}", *p2 = "{\"p\":2}";

    ctx = *state;

    assert_int_equal(omni_store_changes_node(ctx->st, "self", err),
                     OMNI_STORE_OK);
    assert_int_equal(omni_store_changes_limit(ctx->st, 3, err),
                     OMNI_STORE_OK);

    /* nothing logged, or the policy change still in the log: none */
    assert_int_equal(omni_store_policy_resync(ctx->st, &c, err),
                     OMNI_STORE_NOT_FOUND);
    assert_int_equal(omni_store_policy_put(ctx->st, p1, strlen(p1), "alice",
                                           NULL, 1700000001, &rev, err),
                     OMNI_STORE_OK);
    assert_int_equal(omni_store_policy_resync(ctx->st, &c, err),
                     OMNI_STORE_NOT_FOUND);

    /* trimmed before it was published: the current revision */
    for (i = 0; i < 4; i++) {
        snprintf(jti, sizeof(jti), "pr%zu", i);
        assert_int_equal(omni_store_revoke_jti(ctx->st, jti, 0, err),
                         OMNI_STORE_OK);
    }

    assert_int_equal(omni_store_policy_resync(ctx->st, &c, err),
                     OMNI_STORE_OK);
    assert_int_equal(c.family, OMNI_STORE_FAMILY_POLICY);
    assert_int_equal(c.op, OMNI_STORE_CHANGE_PUT);
    assert_int_equal(c.key_len, 6);
    assert_memory_equal(c.key, "p:\0\0\0\1", 6);

    /* published past it: none */
    assert_int_equal(omni_store_changes_published(ctx->st, 2, err),
                     OMNI_STORE_OK);
    assert_int_equal(omni_store_policy_resync(ctx->st, &c, err),
                     OMNI_STORE_NOT_FOUND);

    /* a policy from the cluster replaced it since: none */
    assert_int_equal(omni_store_policy_put(ctx->st, p1, strlen(p1), "alice",
                                           NULL, 1700000002, &rev, err),
                     OMNI_STORE_OK);
    test_remote_policy(&d, 9, 4, p2);
    assert_int_equal(omni_store_changes_apply(ctx->st, &d, 1, &applied, err),
                     OMNI_STORE_OK);

    for (i = 4; i < 8; i++) {
        snprintf(jti, sizeof(jti), "pr%zu", i);
        assert_int_equal(omni_store_revoke_jti(ctx->st, jti, 0, err),
                         OMNI_STORE_OK);
    }

    assert_int_equal(omni_store_policy_resync(ctx->st, &c, err),
                     OMNI_STORE_NOT_FOUND);
}


/* omni-sync sets up on stream name made at created */
static void
test_stream_seen(omni_store_t *st, const char *name, int64_t created,
    int made_again, uint64_t applied)
{
    int                          again;
    char                         err[OMNI_ERRLEN];
    omni_store_changes_state_t   s;

    assert_int_equal(omni_store_changes_stream(st, name, created, &again,
                                               err),
                     OMNI_STORE_OK);
    assert_int_equal(again, made_again);
    test_state(st, &s);
    assert_int_equal(s.applied, applied);
}


/*
 * The stream the applied cursor counts in: recorded once; one made again
 * (another creation time) or of another name sets the cursor back to 0.
 */
static void
test_stream(void **state)
{
    int                   again, applied, rule;
    char                  err[OMNI_ERRLEN], name[OMNI_STORE_ID_MAX + 1];
    int64_t               created;
    test_ctx_t           *ctx;
    omni_store_change_t   c;

    ctx = *state;

    assert_int_equal(omni_store_changes_stream_get(ctx->st, name, &created,
                                                   err),
                     OMNI_STORE_NOT_FOUND);

    /* the first stream seen, a cursor already there: kept; then again */
    test_remote(&c, 1, "j:st1", OMNI_STORE_CHANGE_PUT, 0);
    assert_int_equal(omni_store_changes_apply(ctx->st, &c, 7, &applied, err),
                     OMNI_STORE_OK);
    test_stream_seen(ctx->st, "OMNI", 1764900000000000001LL, 0, 7);
    test_stream_seen(ctx->st, "OMNI", 1764900000000000001LL, 0, 7);

    assert_int_equal(omni_store_changes_stream_get(ctx->st, name, &created,
                                                   err),
                     OMNI_STORE_OK);
    assert_string_equal(name, "OMNI");
    assert_true(created == 1764900000000000001LL);

    /* made again: the cursor from 0, and message 1 is applied again */
    test_stream_seen(ctx->st, "OMNI", 1764900000500000000LL, 1, 0);

    test_remote(&c, 2, "j:st2", OMNI_STORE_CHANGE_PUT, 0);
    assert_int_equal(omni_store_changes_apply(ctx->st, &c, 1, &applied, err),
                     OMNI_STORE_OK);
    assert_int_equal(applied, 1);
    assert_int_equal(omni_store_is_revoked(ctx->st, "st2", NULL, NULL, -1,
                                           &rule, err),
                     OMNI_STORE_OK);
    assert_int_equal(rule, OMNI_STORE_REVOKED_JTI);

    /* another name */
    test_stream_seen(ctx->st, "OTHER", 1764900000500000000LL, 1, 0);

    /* what cannot be a stream */
    assert_int_equal(omni_store_changes_stream(ctx->st, "no such", 1, &again,
                                               err),
                     OMNI_STORE_INVALID);
    assert_int_equal(omni_store_changes_stream(ctx->st, "OMNI", 0, &again,
                                               err),
                     OMNI_STORE_INVALID);
    assert_int_equal(omni_store_changes_stream_get(ctx->st, name, &created,
                                                   err),
                     OMNI_STORE_OK);
    assert_string_equal(name, "OTHER");
}


/*
 * A child revokes jtis in a loop and is killed with SIGKILL: every
 * revocation present has its change and every change its revocation, the
 * sequences without a gap.
 */
static void
test_killed(void **state)
{
    int                          rule, status, i, round;
    char                         err[OMNI_ERRLEN], jti[32];
    pid_t                        pid;
    size_t                       n, got, j, count;
    test_ctx_t                  *ctx;
    omni_store_t                *st;
    omni_store_change_t         *c;
    omni_store_changes_state_t   s;
    omni_store_revocation_t      r[64];
    struct timespec              ts;

    ctx = *state;

    c = calloc(4096, sizeof(omni_store_change_t));
    assert_non_null(c);

    for (round = 0; round < 3; round++) {
        pid = fork();
        assert_true(pid >= 0);

        if (pid == 0) {
            st = omni_store_open(ctx->dir, TEST_MAP_MAX,
                                 OMNI_STORE_SYNC_NONE, err);
            if (st == NULL) {
                _exit(1);
            }

            for (i = 0; i < 1300; i++) {
                snprintf(jti, sizeof(jti), "k%d-%d", round, i);
                if (omni_store_revoke_jti(st, jti, 0, err)
                    != OMNI_STORE_OK)
                {
                    _exit(2);
                }
            }

            pause();
            _exit(0);
        }

        ts.tv_sec = 0;
        ts.tv_nsec = 20000000 + round * 7000000;
        nanosleep(&ts, NULL);

        assert_int_equal(kill(pid, SIGKILL), 0);
        assert_int_equal(waitpid(pid, &status, 0), pid);
        assert_true(WIFSIGNALED(status));
    }

    test_state(ctx->st, &s);
    assert_true(s.last > 0);
    assert_true(s.last < 4096);

    got = 0;
    assert_int_equal(omni_store_changes_read(ctx->st, 0, c, 4096, &got, err),
                     OMNI_STORE_OK);
    assert_int_equal(got, s.last);

    for (j = 0; j < got; j++) {
        assert_int_equal(c[j].seq, j + 1);
        memcpy(jti, c[j].key + 2, c[j].key_len - 2);
        jti[c[j].key_len - 2] = '\0';
        assert_int_equal(omni_store_is_revoked(ctx->st, jti, NULL, NULL, -1,
                                               &rule, err),
                         OMNI_STORE_OK);
        assert_int_equal(rule, OMNI_STORE_REVOKED_JTI);
    }

    /* and no revocation without its change */
    count = 0;
    jti[0] = '\0';

    for ( ;; ) {
        assert_int_equal(omni_store_revocations_list(ctx->st,
                             OMNI_STORE_REVOKED_JTI,
                             count ? jti : NULL, r, 64, &n, err),
                         OMNI_STORE_OK);
        count += n;

        if (n < 64) {
            break;
        }

        strcpy(jti, r[n - 1].value);
    }

    assert_int_equal(count, got);

    free(c);
}


/*
 * The consuming side's full resync: the record survives a reopen, every
 * request gets a new growing number, only the last one clears it; its
 * changes apply by the stream's rules without moving the stream cursor
 * and repeat harmlessly.
 */
static void
test_resync(void **state)
{
    int                          rule;
    char                         err[OMNI_ERRLEN];
    uint64_t                     r1, r2, r3;
    test_ctx_t                  *ctx;
    omni_store_change_t          c[2];
    omni_store_change_item_t     items[3];
    omni_store_changes_state_t   s;

    ctx = *state;

    test_state(ctx->st, &s);
    assert_int_equal(s.resync_since, 0);
    assert_int_equal(s.resync_request, 0);

    assert_int_equal(omni_store_changes_resync(ctx->st, -1, &r1, err),
                     OMNI_STORE_INVALID);
    assert_int_equal(omni_store_changes_resync(ctx->st, 1700000000000LL,
                                               &r1, err),
                     OMNI_STORE_OK);
    assert_int_equal(r1, 1700000000000ULL);

    /* the clock went back: still a new number; since is the first ask */
    assert_int_equal(omni_store_changes_resync(ctx->st, 1600000000000LL,
                                               &r2, err),
                     OMNI_STORE_OK);
    assert_int_equal(r2, r1 + 1);

    omni_store_close(ctx->st);
    ctx->st = omni_store_open(ctx->dir, TEST_MAP_MAX, OMNI_STORE_SYNC_NONE,
                            err);
    assert_non_null(ctx->st);

    test_state(ctx->st, &s);
    assert_int_equal(s.resync_since, 1700000000000LL);
    assert_int_equal(s.resync_request, r2);

    /* an earlier request's end leaves the later one's record */
    assert_int_equal(omni_store_changes_resync_done(ctx->st, r1, err),
                     OMNI_STORE_OK);
    test_state(ctx->st, &s);
    assert_int_equal(s.resync_since, 1700000000000LL);

    assert_int_equal(omni_store_changes_resync_done(ctx->st, r2, err),
                     OMNI_STORE_OK);
    test_state(ctx->st, &s);
    assert_int_equal(s.resync_since, 0);
    assert_int_equal(s.resync_request, r2);

    assert_int_equal(omni_store_changes_resync(ctx->st, 1700000000001LL,
                                               &r3, err),
                     OMNI_STORE_OK);
    assert_true(r3 > r2);
    test_state(ctx->st, &s);
    assert_int_equal(s.resync_since, 1700000000001LL);

    /* applied, a repetition and an unreadable message included */
    assert_int_equal(omni_store_changes_apply(ctx->st, NULL, 7, NULL, err),
                     OMNI_STORE_OK);

    test_remote(&c[0], 1, "j:resync1", OMNI_STORE_CHANGE_PUT, 0);
    test_remote(&c[1], 1, "u:carol", OMNI_STORE_CHANGE_PUT, 1700000500);

    items[0].change = &c[0];
    items[0].stream_seq = 0;
    items[1].change = NULL;
    items[1].stream_seq = 0;
    items[2].change = &c[1];
    items[2].stream_seq = 0;

    assert_int_equal(omni_store_changes_apply_resync(ctx->st, items, 3, err),
                     OMNI_STORE_OK);
    assert_int_equal(items[0].applied, 1);
    assert_int_equal(items[1].applied, 0);
    assert_int_equal(items[2].applied, 1);

    assert_int_equal(omni_store_changes_apply_resync(ctx->st, items, 3, err),
                     OMNI_STORE_OK);
    assert_int_equal(omni_store_changes_apply_resync(ctx->st, items, 0, err),
                     OMNI_STORE_OK);

    assert_int_equal(omni_store_is_revoked(ctx->st, "resync1", NULL, NULL,
                                           -1, &rule, err),
                     OMNI_STORE_OK);
    assert_int_equal(rule, OMNI_STORE_REVOKED_JTI);
    assert_int_equal(omni_store_is_revoked(ctx->st, NULL, NULL, "carol",
                                           1700000300, &rule, err),
                     OMNI_STORE_OK);
    assert_int_equal(rule, OMNI_STORE_REVOKED_SUBJECT);

    /* neither logged nor moving the stream's cursor */
    test_state(ctx->st, &s);
    assert_int_equal(s.last, 0);
    assert_int_equal(s.applied, 7);
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test_setup_teardown(test_log, test_setup,
                                        test_teardown),
        cmocka_unit_test_setup_teardown(test_trim, test_setup,
                                        test_teardown),
        cmocka_unit_test_setup_teardown(test_apply, test_setup,
                                        test_teardown),
        cmocka_unit_test(test_wire),
        cmocka_unit_test_setup_teardown(test_policy, test_setup,
                                        test_teardown),
        cmocka_unit_test_setup_teardown(test_policy_resync, test_setup,
                                        test_teardown),
        cmocka_unit_test_setup_teardown(test_stream, test_setup,
                                        test_teardown),
        cmocka_unit_test_setup_teardown(test_killed, test_setup,
                                        test_teardown),
        cmocka_unit_test_setup_teardown(test_resync, test_setup,
                                        test_teardown),
    };

    return cmocka_run_group_tests(tests, test_group_setup,
                                  test_group_teardown);
}
