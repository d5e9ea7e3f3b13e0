/*
 * Copyright (C) The omni gateway authors
 *
 * Unit tests of identity links, merges and erasures shared between nodes
 * (module/omni_store_changes_customer.c): nodes are stores of their own,
 * the stream an array of encoded changes that each node publishes its
 * log to and applies in order.  Links, unlinks, claims, merges and
 * erasures are logged; every node ends with the same answers (the
 * stream's order for links, idempotent merges with one-hop chains,
 * concurrent merges of one customer, merges in opposite directions,
 * erasures before and after merges and links); no echo; redeliveries; a
 * link before its customer; sealed stores sharing a keyring, one whose
 * keyring lacks the KEK (the change waits), one without a keyring; the
 * full resync's changes; the wire's refusals.
 */


#define _GNU_SOURCE

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

#include "omni_store.h"


#define TEST_MAP_MAX     ((size_t) 64 * 1024 * 1024)
#define TEST_DIR_LEN     256
#define TEST_NODES       3
#define TEST_STREAM_MAX  256


typedef struct {
    char            dir[TEST_DIR_LEN];
    char            name[16];
    omni_store_t   *st;
} test_node_t;


typedef struct {
    test_node_t     node[TEST_NODES];
    size_t          n;
    size_t          len[TEST_STREAM_MAX];
    unsigned char  *msg[TEST_STREAM_MAX];
    omni_keyring_t *kr;
    size_t          records;          /* erased by the last sync */
} test_ctx_t;


static char  test_base[200];


static int
test_group_setup(void **state)
{
    (void) state;

    return test_tmpdir_make(test_base, sizeof(test_base), "ccust");
}


static int
test_group_teardown(void **state)
{
    (void) state;

    return test_tmpdir_remove(test_base);
}


static void
test_node_open(test_node_t *node, const omni_keyring_t *kr)
{
    char  err[OMNI_ERRLEN];

    node->st = omni_store_open(node->dir, TEST_MAP_MAX, OMNI_STORE_SYNC_NONE,
                               err);
    assert_non_null(node->st);

    if (kr != NULL) {
        assert_int_equal(omni_store_use_keyring(node->st, kr, err),
                         OMNI_STORE_OK);
    }

    assert_int_equal(omni_store_changes_node(node->st, node->name, err),
                     OMNI_STORE_OK);
}


static int
test_setup_with(void **state, int sealed)
{
    char         err[OMNI_ERRLEN];
    size_t       i;
    test_ctx_t  *ctx;

    ctx = calloc(1, sizeof(test_ctx_t));
    if (ctx == NULL) {
        return -1;
    }

    if (sealed && omni_keyring_generate(&ctx->kr, err) != 0) {
        free(ctx);
        return -1;
    }

    for (i = 0; i < TEST_NODES; i++) {
        snprintf(ctx->node[i].dir, TEST_DIR_LEN, "%s/n-XXXXXX", test_base);
        snprintf(ctx->node[i].name, sizeof(ctx->node[i].name), "node%zu",
                 i + 1);

        if (mkdtemp(ctx->node[i].dir) == NULL) {
            return -1;
        }

        test_node_open(&ctx->node[i], ctx->kr);
    }

    *state = ctx;

    return 0;
}


static int
test_setup(void **state)
{
    return test_setup_with(state, 0);
}


static int
test_setup_sealed(void **state)
{
    return test_setup_with(state, 1);
}


static int
test_teardown(void **state)
{
    size_t       i;
    test_ctx_t  *ctx;

    ctx = *state;

    for (i = 0; i < TEST_NODES; i++) {
        if (ctx->node[i].st != NULL) {
            omni_store_close(ctx->node[i].st);
        }

        (void) test_tmpdir_remove(ctx->node[i].dir);
    }

    for (i = 0; i < ctx->n; i++) {
        free(ctx->msg[i]);
    }

    omni_keyring_free(ctx->kr);
    free(ctx);

    return 0;
}


/* a change onto the stream, as a node publishes it */
static void
test_push(test_ctx_t *ctx, const omni_store_change_t *c)
{
    char           err[OMNI_ERRLEN];
    size_t         len;
    unsigned char  buf[OMNI_STORE_CHANGE_WIRE_MAX];

    assert_int_equal(omni_store_change_encode(c, buf, sizeof(buf), &len,
                                              err),
                     OMNI_STORE_OK);
    assert_true(ctx->n < TEST_STREAM_MAX);

    ctx->msg[ctx->n] = malloc(len);
    assert_non_null(ctx->msg[ctx->n]);
    memcpy(ctx->msg[ctx->n], buf, len);
    ctx->len[ctx->n++] = len;
}


/* the node's changes not published yet, onto the stream */
static void
test_publish(test_ctx_t *ctx, size_t i)
{
    char                         err[OMNI_ERRLEN];
    size_t                       n, k;
    omni_store_change_t         *c;
    omni_store_changes_state_t   s;

    c = calloc(64, sizeof(omni_store_change_t));
    assert_non_null(c);

    assert_int_equal(omni_store_changes_state(ctx->node[i].st, &s, err),
                     OMNI_STORE_OK);
    assert_int_equal(omni_store_changes_read(ctx->node[i].st, s.published,
                                             c, 64, &n, err),
                     OMNI_STORE_OK);

    for (k = 0; k < n; k++) {
        test_push(ctx, &c[k]);
    }

    if (n > 0) {
        assert_int_equal(omni_store_changes_published(ctx->node[i].st,
                                                      c[n - 1].seq, err),
                         OMNI_STORE_OK);
    }

    free(c);
}


/* the stream past the node's cursor, applied in one batch */
static int
test_sync_some(test_ctx_t *ctx, size_t i, size_t *refused, char *err)
{
    int                          rc;
    size_t                       k, n;
    omni_store_change_t         *c;
    omni_store_change_item_t     items[TEST_STREAM_MAX];
    omni_store_changes_state_t   s;

    c = calloc(TEST_STREAM_MAX, sizeof(omni_store_change_t));
    assert_non_null(c);

    assert_int_equal(omni_store_changes_state(ctx->node[i].st, &s, err),
                     OMNI_STORE_OK);

    n = 0;

    for (k = s.applied; k < ctx->n; k++) {
        assert_int_equal(omni_store_change_decode(ctx->msg[k], ctx->len[k],
                                                  &c[n], err),
                         OMNI_STORE_OK);
        items[n].change = &c[n];
        items[n].stream_seq = k + 1;
        n++;
    }

    rc = omni_store_changes_apply_batch(ctx->node[i].st, items, n, err);

    *refused = 0;
    ctx->records = 0;

    for (k = 0; rc == OMNI_STORE_OK && k < n; k++) {
        *refused += (items[k].rc != OMNI_STORE_OK);
        ctx->records += items[k].records;
    }

    free(c);

    return rc;
}


/* the same when the store must refuse none of them */
static int
test_sync(test_ctx_t *ctx, size_t i, char *err)
{
    int     rc;
    size_t  refused;

    rc = test_sync_some(ctx, i, &refused, err);
    assert_int_equal(refused, 0);

    return rc;
}


static void
test_sync_all(test_ctx_t *ctx)
{
    char    err[OMNI_ERRLEN];
    size_t  i;

    for (i = 0; i < TEST_NODES; i++) {
        test_publish(ctx, i);
    }

    for (i = 0; i < TEST_NODES; i++) {
        assert_int_equal(test_sync(ctx, i, err), OMNI_STORE_OK);
    }
}


static void
test_resolves(test_ctx_t *ctx, const char *type, const char *value,
    const char *want)
{
    char    err[OMNI_ERRLEN], got[OMNI_STORE_ID_MAX + 1];
    size_t  i;

    for (i = 0; i < TEST_NODES; i++) {
        if (want == NULL) {
            assert_int_equal(omni_store_identity_resolve(ctx->node[i].st,
                                                         type, value, got,
                                                         err),
                             OMNI_STORE_NOT_FOUND);
            continue;
        }

        assert_int_equal(omni_store_identity_resolve(ctx->node[i].st, type,
                                                     value, got, err),
                         OMNI_STORE_OK);
        assert_string_equal(got, want);
    }
}


static void
test_survivor(test_ctx_t *ctx, const char *id, const char *want)
{
    char    err[OMNI_ERRLEN], got[OMNI_STORE_ID_MAX + 1];
    size_t  i;

    for (i = 0; i < TEST_NODES; i++) {
        assert_int_equal(omni_store_customer_resolve(ctx->node[i].st, id,
                                                     got, err),
                         OMNI_STORE_OK);
        assert_string_equal(got, want);
    }
}


/* every "merged into" record names a survivor: chains of one hop */
static int
test_hop_record(void *data, const omni_store_record_t *rec)
{
    char                  err[OMNI_ERRLEN], sv[OMNI_STORE_ID_MAX + 1];
    char                  to[OMNI_STORE_ID_MAX + 1];
    size_t                n;
    const unsigned char  *k, *v;

    k = rec->key;
    v = rec->val;
    n = strnlen(rec->key, rec->key_len);

    if (rec->db != OMNI_STORE_DB_CUSTOMERS || rec->key_len != n + 2
        || k[n + 1] != 'M')
    {
        return 0;
    }

    assert_true(rec->val_len > 9 && rec->val_len - 9 <= OMNI_STORE_ID_MAX);
    memcpy(to, v + 9, rec->val_len - 9);
    to[rec->val_len - 9] = '\0';

    assert_int_equal(omni_store_customer_resolve(data, to, sv, err),
                     OMNI_STORE_OK);
    assert_string_equal(sv, to);

    return 0;
}


static void
test_one_hop(test_ctx_t *ctx)
{
    char    err[OMNI_ERRLEN];
    size_t  i;

    for (i = 0; i < TEST_NODES; i++) {
        assert_int_equal(omni_store_export(ctx->node[i].st, test_hop_record,
                                           ctx->node[i].st, err),
                         OMNI_STORE_OK);
    }
}


static void
test_link(test_ctx_t *ctx, size_t i, const char *value, const char *who)
{
    char  err[OMNI_ERRLEN];

    assert_int_equal(omni_store_identity_link(ctx->node[i].st, "phone",
                                              value, who, err),
                     OMNI_STORE_OK);
}


static void
test_merge(test_ctx_t *ctx, size_t i, const char *from, const char *to)
{
    char  err[OMNI_ERRLEN];

    assert_int_equal(omni_store_customer_merge(ctx->node[i].st, from, to,
                                               1700000000, err),
                     OMNI_STORE_OK);
}


/* links, unlinks, claims and merges are logged; applied ones are not */
static void
test_logged(void **state)
{
    int                          created;
    char                         err[OMNI_ERRLEN];
    char                         who[OMNI_STORE_ID_MAX + 1];
    size_t                       n;
    test_ctx_t                  *ctx;
    omni_store_identity_t        ids[2];
    omni_store_change_t          c[8];
    omni_store_changes_state_t   s;

    ctx = *state;

    strcpy(ids[0].type, "phone");
    strcpy(ids[0].value, "+8613800000001");
    strcpy(ids[1].type, "openid");
    strcpy(ids[1].value, "o-1");

    assert_int_equal(omni_store_customer_claim(ctx->node[0].st, ids, 2, 1,
                                               "c1", who, &created, err),
                     OMNI_STORE_OK);
    assert_int_equal(created, 1);

    test_link(ctx, 0, "+8613800000002", "c2");
    test_merge(ctx, 0, "c2", "c1");
    assert_int_equal(omni_store_identity_unlink(ctx->node[0].st, "openid",
                                                "o-1", err),
                     OMNI_STORE_OK);

    /* refused writes log nothing */
    assert_int_equal(omni_store_customer_merge(ctx->node[0].st, "c2", "c1",
                                               1700000000, err),
                     OMNI_STORE_INVALID);

    assert_int_equal(omni_store_changes_read(ctx->node[0].st, 0, c, 8, &n,
                                             err),
                     OMNI_STORE_OK);
    assert_int_equal(n, 5);

    assert_int_equal(c[0].family, OMNI_STORE_FAMILY_IDENTITY);
    assert_int_equal(c[0].op, OMNI_STORE_CHANGE_PUT);
    assert_int_equal(c[2].family, OMNI_STORE_FAMILY_IDENTITY);
    assert_memory_equal(c[2].key, "phone:+8613800000002", c[2].key_len);
    assert_int_equal(c[3].family, OMNI_STORE_FAMILY_MERGE);
    assert_memory_equal(c[3].key, "c2", c[3].key_len);
    assert_int_equal(c[4].op, OMNI_STORE_CHANGE_DELETE);
    assert_memory_equal(c[4].key, "openid:o-1", c[4].key_len);

    /* the other nodes apply them, log none, and agree */
    test_sync_all(ctx);

    test_resolves(ctx, "phone", "+8613800000001", "c1");
    test_resolves(ctx, "phone", "+8613800000002", "c1");
    test_resolves(ctx, "openid", "o-1", NULL);
    test_survivor(ctx, "c2", "c1");

    assert_int_equal(omni_store_changes_state(ctx->node[1].st, &s, err),
                     OMNI_STORE_OK);
    assert_int_equal(s.last, 0);
    assert_int_equal(s.applied, 5);

    /* its own changes come back without harm */
    assert_int_equal(omni_store_changes_state(ctx->node[0].st, &s, err),
                     OMNI_STORE_OK);
    assert_int_equal(s.last, 5);
    assert_int_equal(s.applied, 5);

    /* a redelivery is recognised: nothing moves */
    assert_int_equal(omni_store_identity_unlink(ctx->node[1].st, "phone",
                                                "+8613800000001", err),
                     OMNI_STORE_OK);
    assert_int_equal(omni_store_change_decode(ctx->msg[0], ctx->len[0], c,
                                              err),
                     OMNI_STORE_OK);
    assert_int_equal(omni_store_changes_apply(ctx->node[1].st, c, 1,
                                              &created, err),
                     OMNI_STORE_OK);
    assert_int_equal(created, 0);
    assert_int_equal(omni_store_identity_resolve(ctx->node[1].st, "phone",
                                                 "+8613800000001", who, err),
                     OMNI_STORE_NOT_FOUND);
}


/* the stream's order decides a link made at once on two nodes */
static void
test_links(void **state)
{
    char                 err[OMNI_ERRLEN], who[OMNI_STORE_ID_MAX + 1];
    test_ctx_t          *ctx;
    omni_store_change_t  c;

    ctx = *state;

    /* made on node 2, seen on 1 and 3 */
    test_link(ctx, 1, "+8613800000010", "ann");
    test_sync_all(ctx);
    test_resolves(ctx, "phone", "+8613800000010", "ann");

    /* node 1 and node 3 link it elsewhere before they hear of each other */
    test_link(ctx, 0, "+8613800000010", "bob");
    test_link(ctx, 2, "+8613800000010", "cat");
    test_link(ctx, 2, "+8613800000011", "cat");

    test_publish(ctx, 2);
    test_publish(ctx, 0);
    test_sync_all(ctx);

    /* node 1's was last in the stream, node 3's own echo came first */
    test_resolves(ctx, "phone", "+8613800000010", "bob");
    test_resolves(ctx, "phone", "+8613800000011", "cat");

    /* a node that linked twice is not turned back by its first echo */
    test_link(ctx, 1, "+8613800000012", "ann");
    test_link(ctx, 1, "+8613800000012", "bob");
    test_publish(ctx, 1);

    assert_int_equal(omni_store_change_decode(ctx->msg[ctx->n - 2],
                                              ctx->len[ctx->n - 2], &c, err),
                     OMNI_STORE_OK);
    assert_int_equal(omni_store_changes_apply(ctx->node[1].st, &c,
                                              ctx->n - 1, NULL, err),
                     OMNI_STORE_OK);
    assert_int_equal(omni_store_identity_resolve(ctx->node[1].st, "phone",
                                                 "+8613800000012", who, err),
                     OMNI_STORE_OK);
    assert_string_equal(who, "bob");

    test_sync_all(ctx);
    test_resolves(ctx, "phone", "+8613800000012", "bob");

    /* an unlink ends it everywhere */
    assert_int_equal(omni_store_identity_unlink(ctx->node[2].st, "phone",
                                                "+8613800000012", err),
                     OMNI_STORE_OK);
    test_sync_all(ctx);
    test_resolves(ctx, "phone", "+8613800000012", NULL);
}


/* a link to a customer this node does not know yet makes it known */
static void
test_link_first(void **state)
{
    char                 err[OMNI_ERRLEN], who[OMNI_STORE_ID_MAX + 1];
    test_ctx_t          *ctx;
    omni_store_change_t  c;

    ctx = *state;

    /* a merge that comes before the links of its customers */
    memset(&c, 0, sizeof(c));
    c.seq = 1;
    c.family = OMNI_STORE_FAMILY_MERGE;
    c.op = OMNI_STORE_CHANGE_PUT;
    c.time_ms = 1700000000000;
    strcpy(c.origin, "far");
    memcpy(c.key, "old", 3);
    c.key_len = 3;
    memcpy(c.val, "\001\003new", 5);
    c.val_len = 5;

    test_push(ctx, &c);

    test_link(ctx, 1, "+8613800000020", "old");
    test_publish(ctx, 1);
    assert_int_equal(test_sync(ctx, 0, err), OMNI_STORE_OK);

    assert_int_equal(omni_store_identity_resolve(ctx->node[0].st, "phone",
                                                 "+8613800000020", who, err),
                     OMNI_STORE_OK);
    assert_string_equal(who, "new");
}


/* merges: idempotent, in any order, chains of one hop */
static void
test_merges(void **state)
{
    test_ctx_t  *ctx;

    ctx = *state;

    test_link(ctx, 0, "+8613800000031", "a");
    test_link(ctx, 0, "+8613800000032", "b");
    test_link(ctx, 0, "+8613800000033", "c");
    test_link(ctx, 0, "+8613800000034", "d");
    test_link(ctx, 0, "+8613800000035", "e");
    test_link(ctx, 0, "+8613800000036", "f");
    test_sync_all(ctx);

    /* merged on node 3, everywhere; once more from the stream: done */
    test_merge(ctx, 2, "a", "b");
    test_sync_all(ctx);
    test_survivor(ctx, "a", "b");
    test_resolves(ctx, "phone", "+8613800000031", "b");

    /* after the survivor was merged elsewhere: it follows */
    test_merge(ctx, 0, "b", "c");
    test_merge(ctx, 1, "d", "b");
    test_sync_all(ctx);
    test_survivor(ctx, "a", "c");
    test_survivor(ctx, "b", "c");
    test_survivor(ctx, "d", "c");
    test_resolves(ctx, "phone", "+8613800000034", "c");
    test_one_hop(ctx);

    /* one customer merged into two others at once: the lower id wins */
    test_merge(ctx, 0, "e", "f");
    test_merge(ctx, 1, "e", "d");
    test_sync_all(ctx);
    test_survivor(ctx, "e", "c");
    test_survivor(ctx, "f", "c");
    test_resolves(ctx, "phone", "+8613800000036", "c");
    test_one_hop(ctx);

    /* a pair merged in opposite directions: the lower id survives */
    test_link(ctx, 2, "+8613800000037", "y");
    test_link(ctx, 2, "+8613800000038", "x");
    test_sync_all(ctx);
    test_merge(ctx, 0, "x", "y");
    test_merge(ctx, 1, "y", "x");
    test_sync_all(ctx);
    test_survivor(ctx, "y", "x");
    test_survivor(ctx, "x", "x");
    test_resolves(ctx, "phone", "+8613800000037", "x");
    test_one_hop(ctx);
}


/*
 * A cycle merged at once on three nodes (a into b on node 1, b into c on
 * node 2, c into a on node 3), published in every order: each node takes
 * its own merge first and the others in the stream's order, so the six
 * runs apply the three merges in every order; every node ends with the
 * cycle's lowest id the survivor, without merging again.
 */
static void
test_merge_cycle(void **state)
{
    char          id[3][16], phone[16];
    size_t        p, i, k;
    test_ctx_t   *ctx;
    static const  size_t  order[6][3] = {
        { 0, 1, 2 }, { 0, 2, 1 }, { 1, 0, 2 },
        { 1, 2, 0 }, { 2, 0, 1 }, { 2, 1, 0 }
    };

    ctx = *state;

    for (p = 0; p < 6; p++) {
        for (i = 0; i < 3; i++) {
            snprintf(id[i], sizeof(id[i]), "cy%zu%c", p, (int) ('a' + i));
            snprintf(phone, sizeof(phone), "+86139000%02zu%zu", p, i);
            test_link(ctx, 0, phone, id[i]);
        }

        test_sync_all(ctx);

        for (i = 0; i < 3; i++) {
            test_merge(ctx, i, id[i], id[(i + 1) % 3]);
        }

        for (k = 0; k < 3; k++) {
            test_publish(ctx, order[p][k]);
        }

        test_sync_all(ctx);

        for (i = 0; i < 3; i++) {
            test_survivor(ctx, id[i], id[0]);
            snprintf(phone, sizeof(phone), "+86139000%02zu%zu", p, i);
            test_resolves(ctx, "phone", phone, id[0]);
        }

        test_one_hop(ctx);
    }
}


static void
test_erased(test_ctx_t *ctx, size_t i, const char *id)
{
    char  err[OMNI_ERRLEN];

    assert_int_equal(omni_store_identity_link(ctx->node[i].st, "phone",
                                              "+8613800000099", id, err),
                     OMNI_STORE_INVALID);
}


/* an erasure holds everywhere, whatever came before or after it */
static void
test_erasures(void **state)
{
    char                 err[OMNI_ERRLEN], who[OMNI_STORE_ID_MAX + 1];
    size_t               i, n, refused;
    test_ctx_t          *ctx;
    omni_store_change_t  c, *log;

    ctx = *state;

    test_link(ctx, 0, "+8613800000061", "e1");
    test_link(ctx, 0, "+8613800000065", "e1");
    test_link(ctx, 0, "+8613800000062", "e2");
    test_link(ctx, 0, "+8613800000063", "e3");
    test_sync_all(ctx);

    /* erased on node 2: gone on every node, and never linked again */
    assert_int_equal(omni_store_customer_erase(ctx->node[1].st, "e1",
                                               1700000000, NULL, err),
                     OMNI_STORE_OK);
    test_sync_all(ctx);
    test_resolves(ctx, "phone", "+8613800000061", NULL);

    /* what node 3 erased, for omni-sync's audit line */
    assert_true(ctx->records >= 2);

    for (i = 0; i < TEST_NODES; i++) {
        test_erased(ctx, i, "e1");
    }

    /* the node that linked it keeps no link of it in its log */
    log = calloc(64, sizeof(omni_store_change_t));
    assert_non_null(log);
    assert_int_equal(omni_store_changes_read(ctx->node[0].st, 0, log, 64, &n,
                                             err),
                     OMNI_STORE_OK);
    assert_int_equal(n, 2);

    for (i = 0; i < n; i++) {
        assert_null(memmem(log[i].key, log[i].key_len, "8613800000061",
                           13));
        assert_null(memmem(log[i].key, log[i].key_len, "8613800000065",
                           13));
    }

    free(log);

    /* erased on node 1 while node 2 merges it: both go, in either order */
    assert_int_equal(omni_store_customer_erase(ctx->node[0].st, "e2",
                                               1700000000, NULL, err),
                     OMNI_STORE_OK);
    test_merge(ctx, 1, "e2", "e3");
    test_publish(ctx, 1);
    test_sync_all(ctx);
    test_resolves(ctx, "phone", "+8613800000062", NULL);
    test_resolves(ctx, "phone", "+8613800000063", NULL);

    for (i = 0; i < TEST_NODES; i++) {
        test_erased(ctx, i, "e2");
        test_erased(ctx, i, "e3");
    }

    /* an erasure of a customer this node never knew, then a link to it */
    memset(&c, 0, sizeof(c));
    c.seq = 1;
    c.family = OMNI_STORE_FAMILY_ERASURE;
    c.op = OMNI_STORE_CHANGE_PUT;
    c.time_ms = 1700000000000;
    strcpy(c.origin, "far");
    memcpy(c.key, "ghost", 5);
    c.key_len = 5;
    test_push(ctx, &c);

    test_link(ctx, 1, "+8613800000064", "ghost");
    test_publish(ctx, 1);

    assert_int_equal(test_sync_some(ctx, 2, &refused, err), OMNI_STORE_OK);
    assert_int_equal(refused, 1);
    assert_int_equal(omni_store_identity_resolve(ctx->node[2].st, "phone",
                                                 "+8613800000064", who, err),
                     OMNI_STORE_NOT_FOUND);

    /* and node 2, which linked it first, erases it when the erasure comes */
    assert_int_equal(test_sync_some(ctx, 1, &refused, err), OMNI_STORE_OK);
    assert_int_equal(omni_store_identity_resolve(ctx->node[1].st, "phone",
                                                 "+8613800000064", who, err),
                     OMNI_STORE_NOT_FOUND);
}


/* sealed stores that share a keyring: the value travels sealed */
static void
test_sealed(void **state)
{
    char                 err[OMNI_ERRLEN], path[TEST_DIR_LEN + 16];
    char                 who[OMNI_STORE_ID_MAX + 1];
    size_t               k;
    test_ctx_t          *ctx;
    omni_keyring_t      *kr2;

    ctx = *state;

    test_link(ctx, 0, "0086-13800000040", "s1");
    test_sync_all(ctx);
    test_resolves(ctx, "phone", "+8613800000040", "s1");

    /* no value in clear on the wire */
    for (k = 0; k < ctx->n; k++) {
        assert_null(memmem(ctx->msg[k], ctx->len[k], "13800000040", 11));
    }

    /* a node whose keyring lacks the KEK: the change waits */
    snprintf(path, sizeof(path), "%s/old.keyring", ctx->node[1].dir);
    assert_int_equal(omni_keyring_save(ctx->kr, path, 0, err), 0);
    assert_int_equal(omni_keyring_load(path, &kr2, err), 0);
    omni_store_close(ctx->node[1].st);
    test_node_open(&ctx->node[1], kr2);

    assert_int_equal(omni_keyring_add_kek(ctx->kr, err), 0);
    test_link(ctx, 0, "+8613800000041", "s2");
    test_publish(ctx, 0);

    assert_int_equal(test_sync(ctx, 1, err), OMNI_STORE_ERROR);
    assert_non_null(strstr(err, "KEK version 2"));
    assert_null(strstr(err, "13800000041"));

    /* with the keyring that has it, the same change applies */
    omni_store_close(ctx->node[1].st);
    test_node_open(&ctx->node[1], ctx->kr);
    omni_keyring_free(kr2);

    assert_int_equal(test_sync(ctx, 1, err), OMNI_STORE_OK);
    assert_int_equal(omni_store_identity_resolve(ctx->node[1].st, "phone",
                                                 "+8613800000041", who, err),
                     OMNI_STORE_OK);
    assert_string_equal(who, "s2");

    /* a store without the keyring says so and applies nothing */
    omni_store_close(ctx->node[2].st);
    ctx->node[2].st = NULL;
    (void) test_tmpdir_remove(ctx->node[2].dir);
    assert_int_equal(mkdir(ctx->node[2].dir, 0700), 0);
    test_node_open(&ctx->node[2], NULL);

    assert_int_equal(test_sync(ctx, 2, err), OMNI_STORE_ERROR);
    assert_non_null(strstr(err, "same keyring"));
}


/* what a full resync publishes rebuilds the answers on an empty node */
/*
 * Node i's full resync onto the stream, numbered upto, two changes at a
 * time (so that the cursor is used); how many, and in *unlinks the index
 * on the stream of the first unlink and in *links of the first link
 */
static size_t
test_resync_send(test_ctx_t *ctx, size_t i, uint64_t upto, size_t *unlinks,
    size_t *links)
{
    char                           err[OMNI_ERRLEN];
    size_t                         n, k, sent;
    omni_store_change_t           *c;
    omni_store_customer_cursor_t   cur;

    c = calloc(2, sizeof(omni_store_change_t));
    assert_non_null(c);
    memset(&cur, 0, sizeof(cur));
    sent = 0;
    *unlinks = SIZE_MAX;
    *links = SIZE_MAX;

    do {
        assert_int_equal(omni_store_customer_changes(ctx->node[i].st, &cur,
                                                     c, 2, &n, err),
                         OMNI_STORE_OK);

        for (k = 0; k < n; k++) {
            if (c[k].family == OMNI_STORE_FAMILY_IDENTITY) {
                if (c[k].op == OMNI_STORE_CHANGE_DELETE) {
                    *unlinks = (*unlinks == SIZE_MAX) ? ctx->n : *unlinks;

                } else {
                    *links = (*links == SIZE_MAX) ? ctx->n : *links;
                }
            }

            c[k].seq = upto;
            c[k].time_ms = 1700000000000;
            strcpy(c[k].origin, ctx->node[i].name);
            test_push(ctx, &c[k]);
            sent++;
        }

    } while (n == 2);

    free(c);

    return sent;
}


static size_t
test_resync_push(test_ctx_t *ctx, size_t i, uint64_t upto)
{
    size_t  unlinks, links;

    return test_resync_send(ctx, i, upto, &unlinks, &links);
}


static void
test_resync_with(test_ctx_t *ctx)
{
    char                           err[OMNI_ERRLEN];
    char                           who[OMNI_STORE_ID_MAX + 1];

    test_link(ctx, 0, "+8613800000051", "r1");
    test_link(ctx, 0, "+8613800000052", "r2");
    test_link(ctx, 0, "+8613800000053", "r3");
    test_link(ctx, 0, "+8613800000054", "r4");
    test_merge(ctx, 0, "r1", "r2");
    assert_int_equal(omni_store_customer_erase(ctx->node[0].st, "r4",
                                               1700000000, NULL, err),
                     OMNI_STORE_OK);

    /* an erasure, a merge and three links */
    assert_int_equal(test_resync_push(ctx, 0, 1), 5);

    assert_int_equal(test_sync(ctx, 1, err), OMNI_STORE_OK);
    assert_int_equal(omni_store_identity_resolve(ctx->node[1].st, "phone",
                                                 "+8613800000051", who, err),
                     OMNI_STORE_OK);
    assert_string_equal(who, "r2");
    assert_int_equal(omni_store_customer_resolve(ctx->node[1].st, "r1", who,
                                                 err),
                     OMNI_STORE_OK);
    assert_string_equal(who, "r2");
    assert_int_equal(omni_store_identity_resolve(ctx->node[1].st, "phone",
                                                 "+8613800000053", who, err),
                     OMNI_STORE_OK);
    assert_string_equal(who, "r3");
    assert_int_equal(omni_store_identity_link(ctx->node[1].st, "phone",
                                              "+8613800000054", "r4", err),
                     OMNI_STORE_INVALID);
}


static void
test_resync(void **state)
{
    test_resync_with(*state);
}


/*
 * An unlink trimmed from the log before it was published is kept and
 * sent by the full resync, before the links; forgotten once published,
 * and scrubbed by an erasure.
 */
static void
test_resync_unlink(void **state)
{
    char         err[OMNI_ERRLEN], phone[24];
    size_t       i, unlinks, links, sent;
    test_ctx_t  *ctx;

    ctx = *state;

    test_link(ctx, 0, "+8613800000071", "u1");
    test_link(ctx, 0, "+8613800000072", "u2");
    test_link(ctx, 0, "+8613800000073", "u3");
    test_link(ctx, 0, "+8613800000074", "u3");
    test_sync_all(ctx);
    test_resolves(ctx, "phone", "+8613800000071", "u1");

    /* node 1, its sync away, unlinks two and links more than it keeps */
    assert_int_equal(omni_store_changes_limit(ctx->node[0].st, 3, err),
                     OMNI_STORE_OK);
    assert_int_equal(omni_store_identity_unlink(ctx->node[0].st, "phone",
                                                "+8613800000071", err),
                     OMNI_STORE_OK);
    assert_int_equal(omni_store_identity_unlink(ctx->node[0].st, "phone",
                                                "+8613800000073", err),
                     OMNI_STORE_OK);

    for (i = 0; i < 4; i++) {
        snprintf(phone, sizeof(phone), "+86138000001%02zu", i);
        test_link(ctx, 0, phone, "u2");
    }

    /* u3 erased meanwhile: its unlink is scrubbed, never sent */
    assert_int_equal(omni_store_customer_erase(ctx->node[0].st, "u3",
                                               1700000000, NULL, err),
                     OMNI_STORE_OK);

    sent = ctx->n;
    assert_true(test_resync_send(ctx, 0, 7, &unlinks, &links) > 0);
    assert_true(unlinks < links && links != SIZE_MAX);

    for (i = sent; i < ctx->n; i++) {
        assert_null(memmem(ctx->msg[i], ctx->len[i], "8613800000073", 13));
    }

    /* published: forgotten */
    assert_int_equal(omni_store_changes_published(ctx->node[0].st, 7, err),
                     OMNI_STORE_OK);
    (void) test_resync_send(ctx, 0, 7, &unlinks, &links);
    assert_int_equal(unlinks, SIZE_MAX);

    /* the other nodes: unlinked there too, the links kept */
    for (i = 1; i < TEST_NODES; i++) {
        assert_int_equal(test_sync(ctx, i, err), OMNI_STORE_OK);
    }

    assert_int_equal(omni_store_identity_resolve(ctx->node[1].st, "phone",
                                                 "+8613800000071", phone,
                                                 err),
                     OMNI_STORE_NOT_FOUND);
    assert_int_equal(omni_store_identity_resolve(ctx->node[2].st, "phone",
                                                 "+8613800000071", phone,
                                                 err),
                     OMNI_STORE_NOT_FOUND);
    assert_int_equal(omni_store_identity_resolve(ctx->node[2].st, "phone",
                                                 "+8613800000072", phone,
                                                 err),
                     OMNI_STORE_OK);
    assert_string_equal(phone, "u2");
}


/* the decoder refuses what these families cannot be */
static void
test_wire(void **state)
{
    char                 err[OMNI_ERRLEN];
    size_t               i, len;
    omni_store_change_t  c, d;
    unsigned char        buf[OMNI_STORE_CHANGE_WIRE_MAX];

    static const struct {
        int          family;
        int          op;
        const char  *key;
        size_t       key_len;
        const char  *val;
        size_t       val_len;
    }  bad[] = {
        { OMNI_STORE_FAMILY_IDENTITY, 1, "phone+86", 8, "\001\001c\000", 4 },
        { OMNI_STORE_FAMILY_IDENTITY, 1, ":1", 2, "\001\001c\000", 4 },
        { OMNI_STORE_FAMILY_IDENTITY, 1, "ph one:1", 8, "\001\001c\000", 4 },
        { OMNI_STORE_FAMILY_IDENTITY, 1, "phone:", 6, "\001\001c\000", 4 },
        { OMNI_STORE_FAMILY_IDENTITY, 1, "phone:1", 7, "\002\001c\000", 4 },
        { OMNI_STORE_FAMILY_IDENTITY, 1, "phone:1", 7, "\001\000\000", 3 },
        { OMNI_STORE_FAMILY_IDENTITY, 1, "phone:1", 7, "\001\001 \000", 4 },
        { OMNI_STORE_FAMILY_IDENTITY, 1, "phone:1", 7, "\001\001c\002", 4 },
        { OMNI_STORE_FAMILY_IDENTITY, 1, "phone:1", 7, "\001\001c\000x", 5 },
        { OMNI_STORE_FAMILY_IDENTITY, 1, "phone:1", 7, "\001\001c\001xx", 6 },
        { OMNI_STORE_FAMILY_IDENTITY, 3, "phone:1", 7, "\001\001c\000", 4 },
        { OMNI_STORE_FAMILY_MERGE, 1, "a", 1, "\001\001a", 3 },
        { OMNI_STORE_FAMILY_MERGE, 2, "a", 1, "\001\001b", 3 },
        { OMNI_STORE_FAMILY_MERGE, 1, "a b", 3, "\001\001b", 3 },
        { OMNI_STORE_FAMILY_MERGE, 1, "a", 1, "\001\002b", 3 },
        { OMNI_STORE_FAMILY_MERGE, 1, "a", 1, "\001\001bc", 4 },
        { OMNI_STORE_FAMILY_ERASURE, 1, "a", 1, "\001", 1 },
        { OMNI_STORE_FAMILY_ERASURE, 2, "a", 1, "", 0 },
        { OMNI_STORE_FAMILY_ERASURE, 1, "a:b", 3, "", 0 },
    };

    (void) state;

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        memset(&c, 0, sizeof(c));
        c.seq = 1;
        c.family = bad[i].family;
        c.op = bad[i].op;
        c.time_ms = 1;
        strcpy(c.origin, "n");
        memcpy(c.key, bad[i].key, bad[i].key_len);
        c.key_len = bad[i].key_len;
        memcpy(c.val, bad[i].val, bad[i].val_len);
        c.val_len = bad[i].val_len;

        assert_int_equal(omni_store_change_encode(&c, buf, sizeof(buf),
                                                  &len, err),
                         OMNI_STORE_OK);
        assert_int_equal(omni_store_change_decode(buf, len, &d, err),
                         OMNI_STORE_INVALID);
    }

    /* and takes the good ones whole */
    memcpy(c.key, "phone:+1", 8);
    c.key_len = 8;
    c.family = OMNI_STORE_FAMILY_IDENTITY;
    c.op = OMNI_STORE_CHANGE_DELETE;
    memcpy(c.val, "\001\001c\000", 4);
    c.val_len = 4;

    assert_int_equal(omni_store_change_encode(&c, buf, sizeof(buf), &len,
                                              err),
                     OMNI_STORE_OK);
    assert_int_equal(omni_store_change_decode(buf, len, &d, err),
                     OMNI_STORE_OK);
    assert_int_equal(d.val_len, 4);
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test_setup_teardown(test_logged, test_setup,
                                        test_teardown),
        cmocka_unit_test_setup_teardown(test_links, test_setup,
                                        test_teardown),
        cmocka_unit_test_setup_teardown(test_link_first, test_setup,
                                        test_teardown),
        cmocka_unit_test_setup_teardown(test_merges, test_setup,
                                        test_teardown),
        cmocka_unit_test_setup_teardown(test_merge_cycle, test_setup,
                                        test_teardown),
        cmocka_unit_test_setup_teardown(test_erasures, test_setup,
                                        test_teardown),
        cmocka_unit_test_setup_teardown(test_resync, test_setup,
                                        test_teardown),
        cmocka_unit_test_setup_teardown(test_resync_unlink, test_setup,
                                        test_teardown),
        cmocka_unit_test_setup_teardown(test_resync_unlink,
                                        test_setup_sealed, test_teardown),
        cmocka_unit_test_setup_teardown(test_sealed, test_setup_sealed,
                                        test_teardown),
        cmocka_unit_test_setup_teardown(test_resync, test_setup_sealed,
                                        test_teardown),
        cmocka_unit_test(test_wire),
    };

    return cmocka_run_group_tests(tests, test_group_setup,
                                  test_group_teardown);
}
