/*
 * Copyright (C) The omni gateway authors
 *
 * Cases (omni_store.h, "cases"): a customer's complaint or request with
 * its status lifecycle, events, touches and due times, in the cases
 * sub-database, indexed by customer (open cases first) and by status.
 * Every change appends an event to the case and one to the customer's
 * journey in the same write transaction, and logs a change for the other
 * nodes (omni_store_changes_case.c, which merges theirs in through the
 * record, index and event writers here).  Names, ids, texts, reading
 * events and the lists: omni_store_case_read.c.
 */


#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lmdb.h>
#include <openssl/rand.h>

#include "omni_store_int.h"


#define OMNI_CASE_ID_TRIES   16       /* random ids tried per create */
#define OMNI_CASE_PAYLOAD    (OMNI_STORE_CASE_ID_LEN - 1)

/* the record: everything but the subject and the touches, at most */
#define OMNI_CASE_REC_MAX    (1 + 1 + OMNI_STORE_ID_MAX + 2 + 7 * 8 + 4 + 4 \
                              + 1 + 5 * (1 + OMNI_STORE_ID_MAX) + 2        \
                              + OMNI_STORE_CASE_SUBJECT_MAX                \
                              + OMNI_SEAL_OVERHEAD                         \
                              + OMNI_STORE_CASE_TOUCHES                    \
                                * (8 + 3 * (1 + OMNI_STORE_ID_MAX)))
#define OMNI_CASE_EV_MAX     (1 + 1 + OMNI_STORE_ID_MAX + 8 + 3           \
                              + 2 * (1 + OMNI_STORE_ID_MAX) + 2           \
                              + OMNI_STORE_CASE_TEXT_MAX                  \
                              + OMNI_SEAL_OVERHEAD)


/* what an operation on one case does, inside its write transaction */
typedef struct {
    const char                  *id;
    const omni_store_case_by_t  *by;
    int                          what;
    int                          status;
    int                          kind;
    const char                  *text;
    size_t                       len;
    const char                  *assignee;
    const char                  *pool;
    const omni_store_case_t     *due;
    char                        *follow_up;
    omni_store_case_t           *c;       /* the case, as stored after */
} omni_case_op_t;

enum {
    OMNI_CASE_DO_STATUS = 0,
    OMNI_CASE_DO_NOTE,
    OMNI_CASE_DO_ASSIGN,
    OMNI_CASE_DO_TOUCH
};


static int omni_case_check_by(const omni_store_case_by_t *by, char *err);
static int omni_case_create_op(omni_store_t *st, MDB_txn *txn, void *data,
    char *err);
static int omni_case_new(omni_store_t *st, MDB_txn *txn, omni_store_case_t *c,
    const omni_store_case_by_t *by, const char *first_text, size_t first_len,
    char *err);
static int omni_case_change_op(omni_store_t *st, MDB_txn *txn, void *data,
    char *err);
static int omni_case_journey(omni_store_t *st, MDB_txn *txn,
    const omni_store_case_t *c, const omni_store_case_by_t *by,
    const char *what, char *err);
static void omni_case_add_touch(omni_store_case_t *c,
    const omni_store_case_by_t *by);
static int omni_case_open_count(omni_store_t *st, MDB_txn *txn,
    const char *customer, size_t *n, char *err);


/* checks */

static int
omni_case_check_by(const omni_store_case_by_t *by, char *err)
{
    int  rc;

    if (by == NULL) {
        omni_err(err, "a case change needs its author");
        return OMNI_STORE_INVALID;
    }

    rc = omni_store_check_text("author", by->author,
                               OMNI_STORE_CASE_AUTHOR_MAX, err);

    if (rc == OMNI_STORE_OK) {
        rc = omni_store_check_id("channel", by->channel,
                                 OMNI_STORE_CHANNEL_MAX, err);
    }

    if (rc == OMNI_STORE_OK && by->identity_type != NULL
        && by->identity_type[0] != '\0')
    {
        rc = omni_store_check_id("identity type", by->identity_type,
                                 OMNI_STORE_TYPE_MAX, err);
    }

    if (rc == OMNI_STORE_OK && by->session != NULL && by->session[0] != '\0')
    {
        rc = omni_store_check_id("session id", by->session, OMNI_STORE_ID_MAX,
                                 err);
    }

    if (rc == OMNI_STORE_OK) {
        rc = omni_store_check_time("now", by->now, err);
    }

    return rc;
}


int
omni_store_case_check_fields(const omni_store_case_t *c, char *err)
{
    int  rc;

    rc = omni_store_check_id("customer id", c->customer, OMNI_STORE_ID_MAX,
                             err);

    if (rc == OMNI_STORE_OK
        && !omni_store_case_text_valid(c->subject,
                                       strnlen(c->subject,
                                               OMNI_STORE_CASE_SUBJECT_MAX
                                               + 1),
                                       OMNI_STORE_CASE_SUBJECT_MAX, 0))
    {
        omni_err(err, "a case subject must be 1 to %d bytes of UTF-8 "
                 "without control characters", OMNI_STORE_CASE_SUBJECT_MAX);
        rc = OMNI_STORE_INVALID;
    }

    if (rc == OMNI_STORE_OK) {
        rc = omni_store_check_id("category", c->category,
                                 OMNI_STORE_CASE_NAME_MAX, err);
    }

    if (rc == OMNI_STORE_OK
        && (c->priority < 0 || c->priority >= OMNI_STORE_CASE_PRIORITIES))
    {
        omni_err(err, "unknown case priority %d", c->priority);
        rc = OMNI_STORE_INVALID;
    }

    if (rc == OMNI_STORE_OK && c->assignee[0] != '\0') {
        rc = omni_store_check_text("assignee", c->assignee,
                                   OMNI_STORE_CASE_AUTHOR_MAX, err);
    }

    if (rc == OMNI_STORE_OK && c->pool[0] != '\0') {
        rc = omni_store_check_id("pool", c->pool, OMNI_STORE_CASE_NAME_MAX,
                                 err);
    }

    if (rc == OMNI_STORE_OK && c->first_response_due < 0) {
        rc = omni_store_check_time("first response due", -1, err);
    }

    if (rc == OMNI_STORE_OK && c->resolution_due < 0) {
        rc = omni_store_check_time("resolution due", -1, err);
    }

    return rc;
}


/* create */

typedef struct {
    omni_store_case_t            *c;
    const omni_store_case_by_t   *by;
} omni_case_create_t;


int
omni_store_case_create(omni_store_t *st, omni_store_case_t *c,
    const omni_store_case_by_t *by, char *err)
{
    int                 rc;
    omni_case_create_t  ctx;

    rc = omni_case_check_by(by, err);
    if (rc == OMNI_STORE_OK) {
        rc = omni_store_case_check_fields(c, err);
    }

    if (rc != OMNI_STORE_OK) {
        return rc;
    }

    ctx.c = c;
    ctx.by = by;

    return omni_store_write(st, omni_case_create_op, &ctx, err);
}


static int
omni_case_create_op(omni_store_t *st, MDB_txn *txn, void *data, char *err)
{
    int                  rc, erased;
    size_t               n;
    omni_skey_t          prefix;
    omni_case_create_t  *ctx;
    char                 survivor[OMNI_STORE_ID_MAX + 1];

    ctx = data;

    rc = omni_store_survivor(st, txn, ctx->c->customer, survivor, err);
    if (rc != OMNI_STORE_OK) {
        return rc;
    }

    rc = omni_store_erased(st, txn, survivor, &erased, err);
    if (rc != OMNI_STORE_OK) {
        return rc;
    }

    /* a customer exists through its records only */
    omni_sbuf_str(omni_skey_init(&prefix), survivor);
    omni_sbuf_u8(&prefix.b, '\0');
    n = 0;

    rc = omni_store_scan(st, txn, OMNI_STORE_DB_CUSTOMERS, &prefix.b, NULL,
                         0, 1, omni_store_count_item, NULL, &n, err);
    if (rc != OMNI_STORE_OK) {
        return rc;
    }

    if (erased || n == 0) {
        omni_err(err, "customer %s is %s", survivor,
                 erased ? "erased" : "unknown");
        return OMNI_STORE_NOT_FOUND;
    }

    memcpy(ctx->c->customer, survivor, sizeof(survivor));
    ctx->c->follow_up_of[0] = '\0';

    return omni_case_new(st, txn, ctx->c, ctx->by, NULL, 0, err);
}


/*
 * Writes a new case from c's fields: the id, status, times, the first
 * touch and the "created" event are set here; first_text, when given,
 * is a reply that follows (a follow-up's first words).
 */
static int
omni_case_new(omni_store_t *st, MDB_txn *txn, omni_store_case_t *c,
    const omni_store_case_by_t *by, const char *first_text, size_t first_len,
    char *err)
{
    int            rc, i, digit;
    size_t         n, k;
    MDB_val        val;
    uint64_t       r;
    omni_skey_t    key;
    unsigned char  rnd[8];

    rc = omni_case_open_count(st, txn, c->customer, &n, err);
    if (rc != OMNI_STORE_OK) {
        return rc;
    }

    /* a node of a cluster makes ids of its own first digit only */
    rc = omni_store_case_digit_get(st, txn, &digit, err);
    if (rc != OMNI_STORE_OK) {
        return rc;
    }

    if (n >= OMNI_STORE_CASES_OPEN) {
        omni_err(err, "customer %s has %d open cases already", c->customer,
                 OMNI_STORE_CASES_OPEN);
        return OMNI_STORE_CONFLICT;
    }

    for (i = 0; i < OMNI_CASE_ID_TRIES; i++) {
        if (RAND_bytes(rnd, sizeof(rnd)) != 1) {
            omni_err(err, "no random bytes for a case id");
            return OMNI_STORE_ERROR;
        }

        r = omni_be_get(rnd, 8);

        for (k = OMNI_CASE_PAYLOAD; k > 0; k--) {
            c->id[k - 1] = (char) ('0' + r % 10);
            r /= 10;
        }

        if (digit >= 0) {
            c->id[0] = (char) ('0' + digit);
        }

        c->id[OMNI_CASE_PAYLOAD] = omni_store_case_check_digit(c->id);
        c->id[OMNI_STORE_CASE_ID_LEN] = '\0';

        omni_key_case(omni_skey_init(&key), 'c', c->id);

        rc = omni_store_get(st, txn, OMNI_STORE_DB_CASES, &key.b, &val, err);
        if (rc == OMNI_STORE_NOT_FOUND) {
            break;
        }

        if (rc != OMNI_STORE_OK) {
            return rc;
        }
    }

    if (i == OMNI_CASE_ID_TRIES) {
        omni_err(err, "no free case id after %d tries", OMNI_CASE_ID_TRIES);
        return OMNI_STORE_ERROR;
    }

    c->status = OMNI_STORE_CASE_NEW;
    c->created = by->now;
    c->updated = by->now;
    c->first_response_at = 0;
    c->resolved_at = 0;
    c->closed_at = 0;
    c->nevents = 0;
    c->touches_total = 0;
    c->ntouches = 0;

    if (c->first_response_due > 0 && c->first_response_due < by->now) {
        c->first_response_due = by->now;
    }

    memcpy(c->channel, by->channel, strlen(by->channel) + 1);
    omni_case_add_touch(c, by);

    rc = omni_store_case_event_add(st, txn, c, by,
                                   OMNI_STORE_CASE_EV_CREATED,
                                   OMNI_STORE_CASE_NEW, OMNI_STORE_CASE_NEW,
                                   NULL, 0, err);

    if (rc == OMNI_STORE_OK && first_text != NULL) {
        rc = omni_store_case_event_add(st, txn, c, by,
                                       OMNI_STORE_CASE_EV_REPLY, 0, 0,
                                       first_text, first_len, err);
    }

    if (rc == OMNI_STORE_OK) {
        rc = omni_store_case_write(st, txn, c, err);
    }

    if (rc == OMNI_STORE_OK) {
        rc = omni_store_case_index(st, txn, c, 1, err);
    }

    if (rc == OMNI_STORE_OK) {
        rc = omni_case_journey(st, txn, c, by, "created", err);
    }

    if (rc == OMNI_STORE_OK) {
        rc = omni_store_case_logged(st, txn, c->id, 0, c->nevents, err);
    }

    return rc;
}


/* get */

int
omni_store_case_get(omni_store_t *st, const char *id, omni_store_case_t *c,
    char *err)
{
    int       rc, own;
    MDB_txn  *txn;

    rc = omni_store_case_check(id, err);
    if (rc != OMNI_STORE_OK) {
        return rc;
    }

    rc = omni_store_rbegin(st, &txn, &own, err);
    if (rc != OMNI_STORE_OK) {
        return rc;
    }

    rc = omni_store_case_load(st, txn, id, 1, c, err);

    omni_store_rend(st, own);

    return rc;
}


/* changes */

static int
omni_case_change(omni_store_t *st, omni_case_op_t *ctx, char *err)
{
    int                rc;
    omni_store_case_t  *c;

    rc = omni_store_case_check(ctx->id, err);
    if (rc == OMNI_STORE_OK) {
        rc = omni_case_check_by(ctx->by, err);
    }

    if (rc != OMNI_STORE_OK) {
        return rc;
    }

    c = malloc(sizeof(omni_store_case_t));
    if (c == NULL) {
        omni_err(err, "out of memory");
        return OMNI_STORE_ERROR;
    }

    ctx->c = c;

    rc = omni_store_write(st, omni_case_change_op, ctx, err);

    free(c);

    return rc;
}


int
omni_store_case_set_status(omni_store_t *st, const char *id, int status,
    const omni_store_case_by_t *by, omni_store_case_t *c, char *err)
{
    int             rc;
    omni_case_op_t  ctx;

    if (status < 0 || status >= OMNI_STORE_CASE_STATUSES) {
        omni_err(err, "unknown case status %d", status);
        return OMNI_STORE_INVALID;
    }

    memset(&ctx, 0, sizeof(ctx));
    ctx.id = id;
    ctx.by = by;
    ctx.what = OMNI_CASE_DO_STATUS;
    ctx.status = status;

    rc = omni_case_change(st, &ctx, err);

    if (rc == OMNI_STORE_OK && c != NULL) {
        rc = omni_store_case_get(st, id, c, err);
    }

    return rc;
}


int
omni_store_case_note(omni_store_t *st, const char *id, int kind,
    const char *text, size_t len, const omni_store_case_by_t *by,
    const omni_store_case_t *c_due, char *follow_up, char *err)
{
    omni_case_op_t  ctx;

    if (follow_up != NULL) {
        follow_up[0] = '\0';
    }

    if (kind != OMNI_STORE_CASE_EV_NOTE && kind != OMNI_STORE_CASE_EV_INTERNAL
        && kind != OMNI_STORE_CASE_EV_REPLY)
    {
        omni_err(err, "not a kind of note: %d", kind);
        return OMNI_STORE_INVALID;
    }

    if (!omni_store_case_text_valid(text, len, OMNI_STORE_CASE_TEXT_MAX, 1)) {
        omni_err(err, "a note must be 1 to %d bytes of UTF-8 without control "
                 "characters but tabs and newlines", OMNI_STORE_CASE_TEXT_MAX);
        return OMNI_STORE_INVALID;
    }

    memset(&ctx, 0, sizeof(ctx));
    ctx.id = id;
    ctx.by = by;
    ctx.what = OMNI_CASE_DO_NOTE;
    ctx.kind = kind;
    ctx.text = text;
    ctx.len = len;
    ctx.due = c_due;
    ctx.follow_up = follow_up;

    return omni_case_change(st, &ctx, err);
}


int
omni_store_case_assign(omni_store_t *st, const char *id, const char *assignee,
    const char *pool, const omni_store_case_by_t *by, char *err)
{
    int             rc;
    omni_case_op_t  ctx;

    rc = OMNI_STORE_OK;

    if (assignee == NULL || pool == NULL) {
        omni_err(err, "an assignment needs an assignee and a pool, \"\" for "
                 "none");
        return OMNI_STORE_INVALID;
    }

    if (assignee[0] != '\0') {
        rc = omni_store_check_text("assignee", assignee,
                                   OMNI_STORE_CASE_AUTHOR_MAX, err);
    }

    if (rc == OMNI_STORE_OK && pool[0] != '\0') {
        rc = omni_store_check_id("pool", pool, OMNI_STORE_CASE_NAME_MAX, err);
    }

    if (rc != OMNI_STORE_OK) {
        return rc;
    }

    memset(&ctx, 0, sizeof(ctx));
    ctx.id = id;
    ctx.by = by;
    ctx.what = OMNI_CASE_DO_ASSIGN;
    ctx.assignee = assignee;
    ctx.pool = pool;

    return omni_case_change(st, &ctx, err);
}


int
omni_store_case_touch(omni_store_t *st, const char *id,
    const omni_store_case_by_t *by, char *err)
{
    omni_case_op_t  ctx;

    memset(&ctx, 0, sizeof(ctx));
    ctx.id = id;
    ctx.by = by;
    ctx.what = OMNI_CASE_DO_TOUCH;

    return omni_case_change(st, &ctx, err);
}


static int
omni_case_change_op(omni_store_t *st, MDB_txn *txn, void *data, char *err)
{
    int                 rc, from, reindex;
    char                text[OMNI_STORE_CASE_AUTHOR_MAX + 1
                             + OMNI_STORE_CASE_NAME_MAX + 2];
    uint32_t            first;
    omni_case_op_t     *ctx;
    omni_store_case_t  *c;
    const char         *what;

    ctx = data;
    c = ctx->c;

    rc = omni_store_case_load(st, txn, ctx->id, 1, c, err);
    if (rc != OMNI_STORE_OK) {
        return rc;
    }

    from = c->status;
    first = c->nevents;
    reindex = 0;

    if (ctx->what == OMNI_CASE_DO_NOTE && ctx->kind == OMNI_STORE_CASE_EV_REPLY
        && from == OMNI_STORE_CASE_CLOSED)
    {
        /* a reply to a closed case: a follow-up that names it, for the
         * customer the closed case's resolves to now */
        rc = omni_store_survivor(st, txn, c->customer, c->customer, err);
        if (rc != OMNI_STORE_OK) {
            return rc;
        }

        memcpy(c->follow_up_of, c->id, sizeof(c->id));
        c->assignee[0] = '\0';
        c->first_response_due = 0;
        c->resolution_due = 0;

        if (ctx->due != NULL) {
            c->first_response_due = ctx->due->first_response_due;
            c->resolution_due = ctx->due->resolution_due;
        }

        rc = omni_case_new(st, txn, c, ctx->by, ctx->text, ctx->len, err);

        if (rc == OMNI_STORE_OK && ctx->follow_up != NULL) {
            memcpy(ctx->follow_up, c->id, sizeof(c->id));
        }

        return rc;
    }

    if (from == OMNI_STORE_CASE_CLOSED) {
        omni_err(err, "case %s is closed: it changes no more", c->id);
        return OMNI_STORE_CONFLICT;
    }

    if (ctx->what == OMNI_CASE_DO_TOUCH) {
        omni_case_add_touch(c, ctx->by);
        c->updated = ctx->by->now;

        rc = omni_store_case_write(st, txn, c, err);
        if (rc != OMNI_STORE_OK) {
            return rc;
        }

        return omni_store_case_logged(st, txn, c->id, first, 0, err);
    }

    switch (ctx->what) {

    case OMNI_CASE_DO_STATUS:
        if (!omni_store_case_transition_valid(from, ctx->status)) {
            omni_err(err, "case %s cannot go from %s to %s", c->id,
                     omni_store_case_status_name(from),
                     omni_store_case_status_name(ctx->status));
            return OMNI_STORE_CONFLICT;
        }

        rc = omni_store_case_event_add(st, txn, c, ctx->by,
                                       OMNI_STORE_CASE_EV_STATUS, from,
                                       ctx->status, NULL, 0, err);
        c->status = ctx->status;
        what = "status";
        break;

    case OMNI_CASE_DO_NOTE:
        rc = omni_store_case_event_add(st, txn, c, ctx->by, ctx->kind, from,
                                       from, ctx->text, ctx->len, err);

        if (ctx->kind == OMNI_STORE_CASE_EV_NOTE
            && c->first_response_at == 0)
        {
            c->first_response_at = ctx->by->now;
        }

        /* the customer answered what the case waited for */
        if (ctx->kind == OMNI_STORE_CASE_EV_REPLY
            && (from == OMNI_STORE_CASE_PENDING
                || from == OMNI_STORE_CASE_RESOLVED))
        {
            if (rc == OMNI_STORE_OK) {
                rc = omni_store_case_event_add(st, txn, c, ctx->by,
                                               OMNI_STORE_CASE_EV_STATUS,
                                               from, OMNI_STORE_CASE_OPEN,
                                               NULL, 0, err);
            }

            c->status = OMNI_STORE_CASE_OPEN;
        }

        what = (ctx->kind == OMNI_STORE_CASE_EV_REPLY) ? "reply" : "note";
        break;

    default: /* OMNI_CASE_DO_ASSIGN */
        (void) snprintf(text, sizeof(text), "%s%s%s", ctx->assignee,
                        (ctx->pool[0] != '\0') ? "@" : "", ctx->pool);

        rc = omni_store_case_event_add(st, txn, c, ctx->by,
                                       OMNI_STORE_CASE_EV_ASSIGN, from, from,
                                       text, strlen(text), err);
        memcpy(c->assignee, ctx->assignee, strlen(ctx->assignee) + 1);
        memcpy(c->pool, ctx->pool, strlen(ctx->pool) + 1);
        what = "assign";
        break;
    }

    if (rc != OMNI_STORE_OK) {
        return rc;
    }

    if (c->status != from) {
        if (c->status == OMNI_STORE_CASE_RESOLVED) {
            c->resolved_at = ctx->by->now;

        } else if (c->status == OMNI_STORE_CASE_CLOSED) {
            c->closed_at = ctx->by->now;

        } else {
            c->resolved_at = 0;
        }

        /* the indexes name the status: out with the old entries */
        c->updated = ctx->by->now;
        c->status = from;
        rc = omni_store_case_index(st, txn, c, 0, err);
        c->status = (ctx->what == OMNI_CASE_DO_STATUS) ? ctx->status
                                                       : OMNI_STORE_CASE_OPEN;
        reindex = 1;
    }

    c->updated = ctx->by->now;
    omni_case_add_touch(c, ctx->by);

    if (rc == OMNI_STORE_OK) {
        rc = omni_store_case_write(st, txn, c, err);
    }

    if (rc == OMNI_STORE_OK && reindex) {
        rc = omni_store_case_index(st, txn, c, 1, err);
    }

    if (rc == OMNI_STORE_OK) {
        rc = omni_case_journey(st, txn, c, ctx->by, what, err);
    }

    if (rc == OMNI_STORE_OK) {
        rc = omni_store_case_logged(st, txn, c->id, first,
                                    c->nevents - first, err);
    }

    return rc;
}


/*
 * A touch of the case by its change's channel; a change from the admin
 * API (no identity type, no session) is no touch of the customer.
 */
static void
omni_case_add_touch(omni_store_case_t *c, const omni_store_case_by_t *by)
{
    omni_store_case_touch_t  *t;

    if ((by->identity_type == NULL || by->identity_type[0] == '\0')
        && (by->session == NULL || by->session[0] == '\0')
        && c->ntouches > 0)
    {
        return;
    }

    if (c->ntouches == OMNI_STORE_CASE_TOUCHES) {
        memmove(&c->touches[0], &c->touches[1],
                (OMNI_STORE_CASE_TOUCHES - 1)
                * sizeof(omni_store_case_touch_t));
        c->ntouches--;
    }

    t = &c->touches[c->ntouches++];
    memset(t, 0, sizeof(omni_store_case_touch_t));

    t->time = by->now;
    memcpy(t->channel, by->channel, strlen(by->channel) + 1);

    if (by->identity_type != NULL) {
        memcpy(t->identity_type, by->identity_type,
               strlen(by->identity_type) + 1);
    }

    if (by->session != NULL) {
        memcpy(t->session, by->session, strlen(by->session) + 1);
    }

    if (c->touches_total < UINT32_MAX) {
        c->touches_total++;
    }
}


/* records */

int
omni_store_case_index(omni_store_t *st, MDB_txn *txn,
    const omni_store_case_t *c, int add, char *err)
{
    int            rc;
    omni_skey_t    key;
    omni_sbuf_t    b;
    unsigned char  rec[2 + OMNI_STORE_ID_MAX];

    omni_key_case_customer(omni_skey_init(&key), c->customer, c);

    rc = add ? omni_store_put(st, txn, OMNI_STORE_DB_CUSTOMERS, &key.b, "", 0,
                              0, err)
             : omni_store_del(st, txn, OMNI_STORE_DB_CUSTOMERS, &key.b, err);

    if (rc == OMNI_STORE_NOT_FOUND && !add) {
        rc = OMNI_STORE_OK;
    }

    if (rc != OMNI_STORE_OK) {
        return rc;
    }

    omni_key_case_status(omni_skey_init(&key), c->status, c->created, c->id);

    /* every record of the cases database names its customer first */
    omni_sbuf_init(&b, rec, sizeof(rec));
    omni_sbuf_u8(&b, OMNI_STORE_REC_V1);
    omni_sbuf_lstr(&b, c->customer);

    rc = add ? omni_store_put(st, txn, OMNI_STORE_DB_CASES, &key.b, b.p,
                              b.len, 0, err)
             : omni_store_del(st, txn, OMNI_STORE_DB_CASES, &key.b, err);

    if (rc == OMNI_STORE_NOT_FOUND && !add) {
        rc = OMNI_STORE_OK;
    }

    return rc;
}


int
omni_store_case_write(omni_store_t *st, MDB_txn *txn,
    const omni_store_case_t *c, char *err)
{
    int                             rc;
    size_t                          len;
    unsigned                        i;
    omni_sbuf_t                     b;
    omni_skey_t                     key;
    const omni_store_case_touch_t  *t;
    unsigned char                  *rec;
    unsigned char                   sealed[OMNI_STORE_CASE_SUBJECT_MAX
                                           + OMNI_SEAL_OVERHEAD];

    len = strlen(c->subject);

    if (!st->sealed) {
        rc = omni_store_plain_check(st, txn, err);

    } else {
        rc = omni_store_seal_rec(st, txn, c->customer, "case", c->id,
                                 strlen(c->id), c->subject, len, sealed,
                                 err);
    }

    if (rc != OMNI_STORE_OK) {
        return rc;
    }

    rec = malloc(OMNI_CASE_REC_MAX);
    if (rec == NULL) {
        omni_err(err, "out of memory");
        return OMNI_STORE_ERROR;
    }

    omni_sbuf_init(&b, rec, OMNI_CASE_REC_MAX);
    omni_sbuf_u8(&b, st->sealed ? OMNI_STORE_REC_SEALED : OMNI_STORE_REC_V1);
    omni_sbuf_lstr(&b, c->customer);
    omni_sbuf_u8(&b, (unsigned) c->status);
    omni_sbuf_u8(&b, (unsigned) c->priority);
    omni_sbuf_be(&b, (uint64_t) c->created, 8);
    omni_sbuf_be(&b, (uint64_t) c->updated, 8);
    omni_sbuf_be(&b, (uint64_t) c->first_response_due, 8);
    omni_sbuf_be(&b, (uint64_t) c->resolution_due, 8);
    omni_sbuf_be(&b, (uint64_t) c->first_response_at, 8);
    omni_sbuf_be(&b, (uint64_t) c->resolved_at, 8);
    omni_sbuf_be(&b, (uint64_t) c->closed_at, 8);
    omni_sbuf_be(&b, c->nevents, 4);
    omni_sbuf_be(&b, c->touches_total, 4);
    omni_sbuf_u8(&b, c->ntouches);
    omni_sbuf_lstr(&b, c->category);
    omni_sbuf_lstr(&b, c->channel);
    omni_sbuf_lstr(&b, c->assignee);
    omni_sbuf_lstr(&b, c->pool);
    omni_sbuf_lstr(&b, c->follow_up_of);

    if (st->sealed) {
        omni_sbuf_be(&b, len + OMNI_SEAL_OVERHEAD, 2);
        omni_sbuf_add(&b, sealed, len + OMNI_SEAL_OVERHEAD);

    } else {
        omni_sbuf_be(&b, len, 2);
        omni_sbuf_add(&b, c->subject, len);
    }

    for (i = 0; i < c->ntouches && i < OMNI_STORE_CASE_TOUCHES; i++) {
        t = &c->touches[i];
        omni_sbuf_be(&b, (uint64_t) t->time, 8);
        omni_sbuf_lstr(&b, t->channel);
        omni_sbuf_lstr(&b, t->identity_type);
        omni_sbuf_lstr(&b, t->session);
    }

    if (b.overflow) {
        free(rec);
        omni_err(err, "case %s does not fit a record", c->id);
        return OMNI_STORE_INVALID;
    }

    omni_key_case(omni_skey_init(&key), 'c', c->id);

    rc = omni_store_put(st, txn, OMNI_STORE_DB_CASES, &key.b, b.p, b.len, 0,
                        err);

    free(rec);

    return rc;
}


int
omni_store_case_load(omni_store_t *st, MDB_txn *txn, const char *id,
    int subject, omni_store_case_t *c, char *err)
{
    int            rc;
    size_t         len, n;
    unsigned       i, version;
    MDB_val        val;
    omni_srd_t     r;
    omni_skey_t    key;
    unsigned char  sealed[OMNI_STORE_CASE_SUBJECT_MAX + OMNI_SEAL_OVERHEAD
                          + 1];

    memset(c, 0, sizeof(omni_store_case_t));

    omni_key_case(omni_skey_init(&key), 'c', id);

    rc = omni_store_get(st, txn, OMNI_STORE_DB_CASES, &key.b, &val, err);
    if (rc == OMNI_STORE_NOT_FOUND) {
        omni_err(err, "no case %s", id);
        return rc;
    }

    if (rc != OMNI_STORE_OK) {
        return rc;
    }

    omni_srd_init(&r, &val);

    version = omni_srd_u8(&r);
    if (version != (st->sealed ? OMNI_STORE_REC_SEALED : OMNI_STORE_REC_V1)) {
        r.bad = 1;
    }

    omni_srd_lstr(&r, c->customer, OMNI_STORE_ID_MAX);
    c->status = (int) omni_srd_u8(&r);
    c->priority = (int) omni_srd_u8(&r);
    c->created = (int64_t) omni_srd_be(&r, 8);
    c->updated = (int64_t) omni_srd_be(&r, 8);
    c->first_response_due = (int64_t) omni_srd_be(&r, 8);
    c->resolution_due = (int64_t) omni_srd_be(&r, 8);
    c->first_response_at = (int64_t) omni_srd_be(&r, 8);
    c->resolved_at = (int64_t) omni_srd_be(&r, 8);
    c->closed_at = (int64_t) omni_srd_be(&r, 8);
    c->nevents = (uint32_t) omni_srd_be(&r, 4);
    c->touches_total = (uint32_t) omni_srd_be(&r, 4);
    c->ntouches = omni_srd_u8(&r);
    omni_srd_lstr(&r, c->category, OMNI_STORE_CASE_NAME_MAX);
    omni_srd_lstr(&r, c->channel, OMNI_STORE_CHANNEL_MAX);
    omni_srd_lstr(&r, c->assignee, OMNI_STORE_CASE_AUTHOR_MAX);
    omni_srd_lstr(&r, c->pool, OMNI_STORE_CASE_NAME_MAX);
    omni_srd_lstr(&r, c->follow_up_of, OMNI_STORE_CASE_ID_LEN);
    len = (size_t) omni_srd_be(&r, 2);
    omni_srd_bytes(&r, len, (char *) sealed, sizeof(sealed) - 1);

    if (c->ntouches > OMNI_STORE_CASE_TOUCHES
        || c->status >= OMNI_STORE_CASE_STATUSES
        || c->priority >= OMNI_STORE_CASE_PRIORITIES)
    {
        r.bad = 1;
    }

    for (i = 0; !r.bad && i < c->ntouches; i++) {
        c->touches[i].time = (int64_t) omni_srd_be(&r, 8);
        omni_srd_lstr(&r, c->touches[i].channel, OMNI_STORE_CHANNEL_MAX);
        omni_srd_lstr(&r, c->touches[i].identity_type, OMNI_STORE_TYPE_MAX);
        omni_srd_lstr(&r, c->touches[i].session, OMNI_STORE_ID_MAX);
    }

    if (r.bad || r.pos != r.len) {
        memset(c, 0, sizeof(omni_store_case_t));
        omni_err(err, "case %s has a record this %s cannot read", id,
                 st->sealed ? "sealed store" : "build");
        return OMNI_STORE_ERROR;
    }

    memcpy(c->id, id, OMNI_STORE_CASE_ID_LEN + 1);

    if (!st->sealed) {
        if (len > OMNI_STORE_CASE_SUBJECT_MAX) {
            omni_err(err, "case %s has a subject this build cannot read", id);
            return OMNI_STORE_ERROR;
        }

        memcpy(c->subject, sealed, len + 1);
        return OMNI_STORE_OK;
    }

    /* a sealed subject opens only when asked for: lists need none */
    if (!subject) {
        return OMNI_STORE_OK;
    }

    rc = omni_store_open_rec(st, txn, c->customer, "case", id, strlen(id),
                             sealed, len, (unsigned char *) c->subject, &n,
                             err);

    if (rc == OMNI_STORE_OK
        && (n > OMNI_STORE_CASE_SUBJECT_MAX || memchr(c->subject, '\0', n)))
    {
        omni_err(err, "case %s has a subject this build cannot read", id);
        rc = OMNI_STORE_ERROR;
    }

    if (rc != OMNI_STORE_OK) {
        memset(c->subject, 0, sizeof(c->subject));
        return rc;
    }

    c->subject[n] = '\0';

    return OMNI_STORE_OK;
}


/* events: e<id><be32 seq> */

int
omni_store_case_event_add(omni_store_t *st, MDB_txn *txn, omni_store_case_t *c,
    const omni_store_case_by_t *by, int kind, int from, int to,
    const char *text, size_t len, char *err)
{
    int             rc;
    uint32_t        max;
    omni_sbuf_t     b;
    omni_skey_t     key;
    unsigned char  *rec, field[OMNI_STORE_CASE_ID_LEN + 4];

    /* the last events are kept for status changes: a full case closes */
    max = (kind == OMNI_STORE_CASE_EV_STATUS
           || kind == OMNI_STORE_CASE_EV_CREATED)
          ? OMNI_STORE_CASE_EVENTS
          : OMNI_STORE_CASE_EVENTS - OMNI_STORE_CASE_EVENTS_KEPT;

    if (c->nevents >= max) {
        omni_err(err, "case %s has %u events: no more %s", c->id,
                 c->nevents,
                 (max == OMNI_STORE_CASE_EVENTS) ? "of any kind"
                                                 : "but status changes");
        return OMNI_STORE_CONFLICT;
    }

    rec = malloc(OMNI_CASE_EV_MAX);
    if (rec == NULL) {
        omni_err(err, "out of memory");
        return OMNI_STORE_ERROR;
    }

    omni_sbuf_init(&b, rec, OMNI_CASE_EV_MAX);
    omni_sbuf_u8(&b, st->sealed ? OMNI_STORE_REC_SEALED : OMNI_STORE_REC_V1);
    omni_sbuf_lstr(&b, c->customer);
    omni_sbuf_be(&b, (uint64_t) by->now, 8);
    omni_sbuf_u8(&b, (unsigned) kind);
    omni_sbuf_u8(&b, (unsigned) from);
    omni_sbuf_u8(&b, (unsigned) to);
    omni_sbuf_lstr(&b, by->author);
    omni_sbuf_lstr(&b, by->channel);

    rc = OMNI_STORE_OK;

    if (len == 0) {
        omni_sbuf_be(&b, 0, 2);

    } else if (!st->sealed) {
        omni_sbuf_be(&b, len, 2);
        omni_sbuf_add(&b, text, len);

    } else if (b.len + 2 + len + OMNI_SEAL_OVERHEAD > OMNI_CASE_EV_MAX) {
        b.overflow = 1;

    } else {
        memcpy(field, c->id, OMNI_STORE_CASE_ID_LEN);
        field[OMNI_STORE_CASE_ID_LEN] = (unsigned char) (c->nevents >> 24);
        field[OMNI_STORE_CASE_ID_LEN + 1] = (unsigned char) (c->nevents >> 16);
        field[OMNI_STORE_CASE_ID_LEN + 2] = (unsigned char) (c->nevents >> 8);
        field[OMNI_STORE_CASE_ID_LEN + 3] = (unsigned char) c->nevents;

        omni_sbuf_be(&b, len + OMNI_SEAL_OVERHEAD, 2);

        rc = omni_store_seal_rec(st, txn, c->customer, "case_event", field,
                                 sizeof(field), text, len, b.p + b.len, err);
        b.len += len + OMNI_SEAL_OVERHEAD;
    }

    if (rc == OMNI_STORE_OK && b.overflow) {
        omni_err(err, "an event of case %s does not fit a record", c->id);
        rc = OMNI_STORE_INVALID;
    }

    if (rc == OMNI_STORE_OK) {
        omni_key_case(omni_skey_init(&key), 'e', c->id);
        omni_sbuf_be(&key.b, c->nevents, 4);

        rc = omni_store_put(st, txn, OMNI_STORE_DB_CASES, &key.b, b.p, b.len,
                            MDB_NOOVERWRITE, err);
    }

    free(rec);

    if (rc == OMNI_STORE_OK) {
        c->nevents++;
    }

    return rc;
}


/* the customer's journey: action case.<what>:<id>, outcome the status */
static int
omni_case_journey(omni_store_t *st, MDB_txn *txn, const omni_store_case_t *c,
    const omni_store_case_by_t *by, const char *what, char *err)
{
    omni_store_journey_t  ev;

    memset(&ev, 0, sizeof(ev));

    ev.time_ms = by->now * 1000;
    memcpy(ev.channel, by->channel, strlen(by->channel) + 1);
    (void) snprintf(ev.action, sizeof(ev.action), "case.%s:%s", what, c->id);
    memcpy(ev.outcome, omni_store_case_status_name(c->status),
           strlen(omni_store_case_status_name(c->status)) + 1);

    if (by->session != NULL) {
        memcpy(ev.session, by->session, strlen(by->session) + 1);
    }

    return omni_store_journey_add(st, txn, c->customer, &ev, err);
}


/* lists */

static int
omni_case_open_count(omni_store_t *st, MDB_txn *txn, const char *customer,
    size_t *n, char *err)
{
    omni_skey_t  prefix;

    *n = 0;
    omni_key_customer(omni_skey_init(&prefix), customer, OMNI_TAG_CASE);
    omni_sbuf_u8(&prefix.b, '0');

    return omni_store_scan(st, txn, OMNI_STORE_DB_CUSTOMERS, &prefix.b, NULL,
                           0, OMNI_STORE_CASES_OPEN, omni_store_count_item,
                           NULL, n, err);
}


/*
 * Erasure (omni_store_dkeys.c): every case of who, their events and
 * status entries; the customer index entries go with the rest of
 * <who>\0 in the caller.
 */
int
omni_store_case_erase(omni_store_t *st, MDB_txn *txn, const char *who,
    size_t *records, char *err)
{
    int              rc, mrc;
    size_t           i, n, deleted;
    MDB_val          k, v;
    MDB_cursor      *cur;
    omni_skey_t      prefix, key;
    omni_item_t      items[OMNI_STORE_CHUNK];
    omni_store_id_t  id;
    omni_store_case_t  *c;

    c = malloc(sizeof(omni_store_case_t));
    if (c == NULL) {
        omni_err(err, "out of memory erasing the cases of %s", who);
        return OMNI_STORE_ERROR;
    }

    omni_key_customer(omni_skey_init(&prefix), who, OMNI_TAG_CASE);

    do {
        n = 0;

        rc = omni_store_scan(st, txn, OMNI_STORE_DB_CUSTOMERS, &prefix.b,
                             NULL, 0, OMNI_STORE_CHUNK,
                             omni_store_collect_item, items, &n, err);

        for (i = 0; rc == OMNI_STORE_OK && i < n; i++) {
            if (omni_store_case_id_item(&id, 0, items[i].data, items[i].len, NULL)
                != 0)
            {
                omni_err(err, "customer %s has a malformed case index", who);
                rc = OMNI_STORE_ERROR;
                break;
            }

            /* the case record and its status entry, if still its */
            omni_key_case(omni_skey_init(&key), 'c', id.id);

            rc = omni_store_get(st, txn, OMNI_STORE_DB_CASES, &key.b, &v,
                                err);

            if (rc == OMNI_STORE_OK && v.mv_size > 2
                && ((unsigned char *) v.mv_data)[1] == strlen(who)
                && v.mv_size >= 12 + strlen(who)
                && memcmp((char *) v.mv_data + 2, who, strlen(who)) == 0)
            {
                c->status = ((unsigned char *) v.mv_data)[2 + strlen(who)];
                c->created = (int64_t) omni_be_get((unsigned char *) v.mv_data
                                                   + 4 + strlen(who), 8);

                rc = omni_store_del(st, txn, OMNI_STORE_DB_CASES, &key.b,
                                    err);
                (*records)++;

                omni_key_case_status(omni_skey_init(&key), c->status,
                                     c->created, id.id);

                if (rc == OMNI_STORE_OK) {
                    rc = omni_store_del(st, txn, OMNI_STORE_DB_CASES, &key.b,
                                        err);
                    if (rc == OMNI_STORE_NOT_FOUND) {
                        rc = OMNI_STORE_OK;
                    }
                }

                /* its events */
                omni_key_case(omni_skey_init(&key), 'e', id.id);

                mrc = (rc == OMNI_STORE_OK)
                      ? mdb_cursor_open(txn, st->dbi[OMNI_STORE_DB_CASES],
                                        &cur)
                      : 0;

                for (deleted = 0;
                     rc == OMNI_STORE_OK && mrc == 0
                     && deleted <= OMNI_STORE_CASE_EVENTS;
                     deleted++)
                {
                    k.mv_data = key.b.p;
                    k.mv_size = key.b.len;

                    mrc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);

                    if (mrc != 0 || k.mv_size != key.b.len + 4
                        || memcmp(k.mv_data, key.b.p, key.b.len) != 0)
                    {
                        break;
                    }

                    mrc = mdb_cursor_del(cur, 0);
                    (*records)++;
                }

                if (rc == OMNI_STORE_OK) {
                    mdb_cursor_close(cur);
                }

                if (rc == OMNI_STORE_OK && mrc != 0 && mrc != MDB_NOTFOUND) {
                    rc = omni_store_mdb(st, mrc, "cannot erase a case event",
                                        err);
                }

            } else if (rc == OMNI_STORE_NOT_FOUND) {
                rc = OMNI_STORE_OK;
            }

            if (rc == OMNI_STORE_OK) {
                omni_sbuf_init(&key.b, key.data, sizeof(key.data));
                omni_sbuf_add(&key.b, prefix.b.p, prefix.b.len);
                omni_sbuf_add(&key.b, items[i].data, items[i].len);

                rc = omni_store_del(st, txn, OMNI_STORE_DB_CUSTOMERS, &key.b,
                                    err);
                (*records)++;
            }
        }

    } while (rc == OMNI_STORE_OK && n == OMNI_STORE_CHUNK);

    free(c);

    return rc;
}
