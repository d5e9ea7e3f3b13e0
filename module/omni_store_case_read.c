/*
 * Copyright (C) The omni gateway authors
 *
 * Cases (omni_store.h, "cases"), what only reads: the names of statuses,
 * priorities and events, the lifecycle table, case ids and their check
 * digit, the text rules, a case's events, the lists by customer and
 * by status, and the count of open cases past due.  The records and every
 * change: omni_store_case.c.
 */


#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lmdb.h>

#include "omni_store_int.h"


#define OMNI_CASE_PAYLOAD    (OMNI_STORE_CASE_ID_LEN - 1)


static const char  *omni_case_statuses[] = {
    "new", "open", "pending", "on_hold", "resolved", "closed"
};

static const char  *omni_case_priorities[] = {
    "low", "normal", "high", "urgent"
};

static const char  *omni_case_events_names[] = {
    "created", "note", "internal", "reply", "status", "assign"
};

/* [from][to] */
static const unsigned char  omni_case_moves[OMNI_STORE_CASE_STATUSES]
                                           [OMNI_STORE_CASE_STATUSES] =
{
    /* new      */ { 0, 1, 1, 1, 1, 0 },
    /* open     */ { 0, 0, 1, 1, 1, 0 },
    /* pending  */ { 0, 1, 0, 1, 1, 0 },
    /* on_hold  */ { 0, 1, 1, 0, 1, 0 },
    /* resolved */ { 0, 1, 0, 0, 0, 1 },
    /* closed   */ { 0, 0, 0, 0, 0, 0 },
};


static int omni_case_utf8(const unsigned char *p, size_t len, int multiline);
static int omni_case_event_public(int kind);
static int omni_case_event_read(omni_store_t *st, MDB_txn *txn,
    const char *id, const MDB_val *k, const MDB_val *v,
    omni_store_case_event_t *e, char *err);


/* names */

static const char *
omni_case_name(const char **names, int n, int i)
{
    return (i < 0 || i >= n) ? "unknown" : names[i];
}


const char *
omni_store_case_status_name(int status)
{
    return omni_case_name(omni_case_statuses, OMNI_STORE_CASE_STATUSES,
                          status);
}


static int
omni_case_name_parse(const char **names, int n, const char *s, size_t len)
{
    int  i;

    for (i = 0; s != NULL && i < n; i++) {
        if (strlen(names[i]) == len && memcmp(names[i], s, len) == 0) {
            return i;
        }
    }

    return -1;
}


int
omni_store_case_status_parse(const char *s, size_t len)
{
    return omni_case_name_parse(omni_case_statuses, OMNI_STORE_CASE_STATUSES,
                                s, len);
}


const char *
omni_store_case_priority_name(int priority)
{
    return omni_case_name(omni_case_priorities, OMNI_STORE_CASE_PRIORITIES,
                          priority);
}


int
omni_store_case_priority_parse(const char *s, size_t len)
{
    return omni_case_name_parse(omni_case_priorities,
                                OMNI_STORE_CASE_PRIORITIES, s, len);
}


const char *
omni_store_case_event_name(int kind)
{
    return omni_case_name(omni_case_events_names, OMNI_STORE_CASE_EV_KINDS,
                          kind);
}


int
omni_store_case_transition_valid(int from, int to)
{
    if (from < 0 || from >= OMNI_STORE_CASE_STATUSES
        || to < 0 || to >= OMNI_STORE_CASE_STATUSES)
    {
        return 0;
    }

    return omni_case_moves[from][to];
}


/* ids: Luhn over the digits, the check digit last */

char
omni_store_case_check_digit(const char *digits)
{
    int     sum, d, dbl;
    size_t  i;

    sum = 0;
    dbl = 1;                  /* the rightmost payload digit is doubled */

    for (i = OMNI_CASE_PAYLOAD; i > 0; i--) {
        d = digits[i - 1] - '0';

        if (dbl) {
            d *= 2;
            if (d > 9) {
                d -= 9;
            }
        }

        sum += d;
        dbl = !dbl;
    }

    return (char) ('0' + (10 - sum % 10) % 10);
}


int
omni_store_case_id_valid(const char *s, size_t len)
{
    size_t  i;

    if (s == NULL || len != OMNI_STORE_CASE_ID_LEN) {
        return 0;
    }

    for (i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9') {
            return 0;
        }
    }

    return omni_store_case_check_digit(s) == s[OMNI_CASE_PAYLOAD];
}


int
omni_store_case_text_valid(const char *s, size_t len, size_t max,
    int multiline)
{
    if (s == NULL || len == 0 || len > max) {
        return 0;
    }

    return omni_case_utf8((const unsigned char *) s, len, multiline);
}


/*
 * Well-formed UTF-8 (no overlong form, surrogate or code point past
 * U+10FFFF) without control characters (C0, DEL, C1); tab and newline
 * pass when multiline.
 */
static int
omni_case_utf8(const unsigned char *p, size_t len, int multiline)
{
    size_t    i, n, k;
    uint32_t  cp, min;

    for (i = 0; i < len; i += n) {
        if (p[i] < 0x80) {
            n = 1;

            if ((p[i] < 0x20 || p[i] == 0x7f)
                && !(multiline && (p[i] == '\t' || p[i] == '\n')))
            {
                return 0;
            }

            continue;
        }

        if ((p[i] & 0xe0) == 0xc0) {
            n = 2; cp = p[i] & 0x1f; min = 0x80;

        } else if ((p[i] & 0xf0) == 0xe0) {
            n = 3; cp = p[i] & 0x0f; min = 0x800;

        } else if ((p[i] & 0xf8) == 0xf0) {
            n = 4; cp = p[i] & 0x07; min = 0x10000;

        } else {
            return 0;
        }

        if (len - i < n) {
            return 0;
        }

        for (k = 1; k < n; k++) {
            if ((p[i + k] & 0xc0) != 0x80) {
                return 0;
            }

            cp = (cp << 6) | (p[i + k] & 0x3f);
        }

        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)
            || (cp >= 0x80 && cp <= 0x9f))
        {
            return 0;
        }
    }

    return 1;
}


/* checks */

int
omni_store_case_check(const char *id, char *err)
{
    if (id == NULL
        || !omni_store_case_id_valid(id,
                                     strnlen(id, OMNI_STORE_CASE_ID_LEN + 1)))
    {
        omni_err(err, "not a case id: %d digits, the last a check digit",
                 OMNI_STORE_CASE_ID_LEN);
        return OMNI_STORE_INVALID;
    }

    return OMNI_STORE_OK;
}



/* events */

int
omni_store_case_events(omni_store_t *st, const char *id, uint32_t from,
    int public_only, omni_store_case_event_t *out, size_t max, size_t *n,
    char *err)
{
    int                       rc, own, mrc;
    size_t                    scanned;
    MDB_txn                  *txn;
    MDB_val                   k, v;
    MDB_cursor               *cur;
    omni_skey_t               prefix, start;

    *n = 0;

    rc = omni_store_case_check(id, err);
    if (rc != OMNI_STORE_OK) {
        return rc;
    }

    omni_key_case(omni_skey_init(&prefix), 'e', id);
    omni_key_case(omni_skey_init(&start), 'e', id);
    omni_sbuf_be(&start.b, from, 4);

    rc = omni_store_rbegin(st, &txn, &own, err);
    if (rc != OMNI_STORE_OK) {
        return rc;
    }

    mrc = mdb_cursor_open(txn, st->dbi[OMNI_STORE_DB_CASES], &cur);
    if (mrc != 0) {
        omni_store_rend(st, own);
        return omni_store_mdb(st, mrc, "mdb_cursor_open", err);
    }

    k.mv_data = start.b.p;
    k.mv_size = start.b.len;

    mrc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);

    for (scanned = 0;
         mrc == 0 && *n < max && scanned < OMNI_STORE_CASE_EVENTS;
         scanned++)
    {
        if (k.mv_size != prefix.b.len + 4
            || memcmp(k.mv_data, prefix.b.p, prefix.b.len) != 0)
        {
            break;
        }

        rc = omni_case_event_read(st, txn, id, &k, &v, &out[*n], err);
        if (rc != OMNI_STORE_OK) {
            break;
        }

        if (!public_only || omni_case_event_public(out[*n].kind)) {
            (*n)++;
        }

        mrc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
    }

    mdb_cursor_close(cur);
    omni_store_rend(st, own);

    if (rc != OMNI_STORE_OK) {
        return rc;
    }

    if (mrc != 0 && mrc != MDB_NOTFOUND) {
        return omni_store_mdb(st, mrc, "mdb_cursor_get", err);
    }

    return OMNI_STORE_OK;
}


/* what a customer may see: internal notes and assignments are not */
static int
omni_case_event_public(int kind)
{
    return kind != OMNI_STORE_CASE_EV_INTERNAL
           && kind != OMNI_STORE_CASE_EV_ASSIGN;
}


static int
omni_case_event_read(omni_store_t *st, MDB_txn *txn, const char *id,
    const MDB_val *k, const MDB_val *v, omni_store_case_event_t *e,
    char *err)
{
    int            rc;
    char           customer[OMNI_STORE_ID_MAX + 1];
    size_t         len, olen;
    unsigned       version;
    omni_srd_t     r;
    unsigned char  field[OMNI_STORE_CASE_ID_LEN + 4];
    unsigned char  text[OMNI_STORE_CASE_TEXT_MAX + OMNI_SEAL_OVERHEAD + 1];

    memset(e, 0, sizeof(omni_store_case_event_t));
    e->seq = (uint32_t) omni_be_get((unsigned char *) k->mv_data
                                    + k->mv_size - 4, 4);

    omni_srd_init(&r, v);

    version = omni_srd_u8(&r);
    if (version != (st->sealed ? OMNI_STORE_REC_SEALED : OMNI_STORE_REC_V1)) {
        r.bad = 1;
    }

    omni_srd_lstr(&r, customer, OMNI_STORE_ID_MAX);
    e->time = (int64_t) omni_srd_be(&r, 8);
    e->kind = (int) omni_srd_u8(&r);
    e->from = (int) omni_srd_u8(&r);
    e->to = (int) omni_srd_u8(&r);
    omni_srd_lstr(&r, e->author, OMNI_STORE_CASE_AUTHOR_MAX);
    omni_srd_lstr(&r, e->channel, OMNI_STORE_CHANNEL_MAX);
    len = (size_t) omni_srd_be(&r, 2);
    omni_srd_bytes(&r, len, (char *) text, sizeof(text) - 1);

    if (r.bad || r.pos != r.len || e->kind >= OMNI_STORE_CASE_EV_KINDS
        || e->from >= OMNI_STORE_CASE_STATUSES
        || e->to >= OMNI_STORE_CASE_STATUSES)
    {
        omni_err(err, "an event of case %s has a record this build cannot "
                 "read", id);
        return OMNI_STORE_ERROR;
    }

    if (len == 0) {
        return OMNI_STORE_OK;
    }

    if (!st->sealed) {
        olen = len;
        memcpy(e->text, text, len);

    } else {
        memcpy(field, id, OMNI_STORE_CASE_ID_LEN);
        memcpy(field + OMNI_STORE_CASE_ID_LEN,
               (unsigned char *) k->mv_data + k->mv_size - 4, 4);

        rc = omni_store_open_rec(st, txn, customer, "case_event", field,
                                 sizeof(field), text, len,
                                 (unsigned char *) e->text, &olen, err);
        if (rc != OMNI_STORE_OK) {
            memset(e->text, 0, sizeof(e->text));
            return rc;
        }
    }

    if (olen > OMNI_STORE_CASE_TEXT_MAX || memchr(e->text, '\0', olen)) {
        memset(e->text, 0, sizeof(e->text));
        omni_err(err, "an event of case %s has a text this build cannot "
                 "read", id);
        return OMNI_STORE_ERROR;
    }

    e->text[olen] = '\0';
    e->text_len = olen;

    return OMNI_STORE_OK;
}


/* lists */

/* rest: the key past the prefix, ending in the case id */
int
omni_store_case_id_item(void *out, size_t i, const unsigned char *rest, size_t len,
    const MDB_val *val)
{
    omni_store_id_t  *ids;

    (void) val;

    if (len < OMNI_STORE_CASE_ID_LEN) {
        return -1;
    }

    ids = out;
    memcpy(ids[i].id, rest + len - OMNI_STORE_CASE_ID_LEN,
           OMNI_STORE_CASE_ID_LEN);
    ids[i].id[OMNI_STORE_CASE_ID_LEN] = '\0';

    return 0;
}


int
omni_store_cases_by_customer(omni_store_t *st, const char *customer,
    const char *after, int open_only, omni_store_id_t *ids, size_t max,
    size_t *n, char *err)
{
    int                rc, own;
    MDB_txn           *txn;
    omni_skey_t        prefix, start;
    omni_store_case_t  *c;

    *n = 0;

    rc = omni_store_check_id("customer id", customer, OMNI_STORE_ID_MAX,
                             err);
    if (rc == OMNI_STORE_OK && after != NULL) {
        rc = omni_store_case_check(after, err);
    }

    if (rc != OMNI_STORE_OK) {
        return rc;
    }

    c = malloc(sizeof(omni_store_case_t));
    if (c == NULL) {
        omni_err(err, "out of memory");
        return OMNI_STORE_ERROR;
    }

    omni_key_customer(omni_skey_init(&prefix), customer, OMNI_TAG_CASE);

    if (open_only) {
        omni_sbuf_u8(&prefix.b, '0');
    }

    omni_sbuf_init(&start.b, start.data, sizeof(start.data));
    omni_sbuf_add(&start.b, prefix.b.p, prefix.b.len);

    rc = omni_store_rbegin(st, &txn, &own, err);
    if (rc != OMNI_STORE_OK) {
        free(c);
        return rc;
    }

    if (after != NULL) {
        rc = omni_store_case_load(st, txn, after, 0, c, err);

        if (rc == OMNI_STORE_OK && strcmp(c->customer, customer) != 0) {
            omni_err(err, "case %s is not a case of customer %s", after,
                     customer);
            rc = OMNI_STORE_NOT_FOUND;
        }

        if (rc == OMNI_STORE_OK) {
            omni_key_case_customer(omni_skey_init(&start), customer, c);
        }
    }

    if (rc == OMNI_STORE_OK) {
        rc = omni_store_walk(st, txn, OMNI_STORE_DB_CUSTOMERS, &prefix.b,
                             &start.b, after != NULL, MDB_NEXT, max,
                             omni_store_case_id_item, ids, n, err);
    }

    omni_store_rend(st, own);
    free(c);

    return rc;
}


int
omni_store_cases_by_status(omni_store_t *st, int status, const char *after,
    omni_store_id_t *ids, size_t max, size_t *n, char *err)
{
    int                rc, own;
    MDB_txn           *txn;
    omni_skey_t        prefix, start;
    omni_store_case_t  *c;

    *n = 0;

    if (status < 0 || status >= OMNI_STORE_CASE_STATUSES) {
        omni_err(err, "unknown case status %d", status);
        return OMNI_STORE_INVALID;
    }

    if (after != NULL) {
        rc = omni_store_case_check(after, err);
        if (rc != OMNI_STORE_OK) {
            return rc;
        }
    }

    c = malloc(sizeof(omni_store_case_t));
    if (c == NULL) {
        omni_err(err, "out of memory");
        return OMNI_STORE_ERROR;
    }

    omni_sbuf_init(&prefix.b, prefix.data, sizeof(prefix.data));
    omni_sbuf_u8(&prefix.b, 's');
    omni_sbuf_u8(&prefix.b, (unsigned) status);

    omni_sbuf_init(&start.b, start.data, sizeof(start.data));
    omni_sbuf_add(&start.b, prefix.b.p, prefix.b.len);

    rc = omni_store_rbegin(st, &txn, &own, err);
    if (rc != OMNI_STORE_OK) {
        free(c);
        return rc;
    }

    if (after != NULL) {
        rc = omni_store_case_load(st, txn, after, 0, c, err);

        if (rc == OMNI_STORE_OK) {
            omni_key_case_status(omni_skey_init(&start), status, c->created,
                                 after);
        }
    }

    if (rc == OMNI_STORE_OK) {
        rc = omni_store_walk(st, txn, OMNI_STORE_DB_CASES, &prefix.b,
                             &start.b, after != NULL, MDB_NEXT, max,
                             omni_store_case_id_item, ids, n, err);
    }

    omni_store_rend(st, own);
    free(c);

    return rc;
}


int
omni_store_cases_open_brief(omni_store_t *st, const char *customer,
    omni_store_case_brief_t *out, size_t max, size_t *n, char *err)
{
    int                rc, own;
    size_t             i, k;
    MDB_txn           *txn;
    omni_store_id_t    ids[OMNI_STORE_CASES_OPEN];
    omni_store_case_t  *c;

    *n = 0;

    rc = omni_store_check_id("customer id", customer, OMNI_STORE_ID_MAX,
                             err);
    if (rc != OMNI_STORE_OK) {
        return rc;
    }

    if (max > OMNI_STORE_CASES_OPEN) {
        max = OMNI_STORE_CASES_OPEN;
    }

    c = malloc(sizeof(omni_store_case_t));
    if (c == NULL) {
        omni_err(err, "out of memory");
        return OMNI_STORE_ERROR;
    }

    rc = omni_store_rbegin(st, &txn, &own, err);
    if (rc != OMNI_STORE_OK) {
        free(c);
        return rc;
    }

    rc = omni_store_cases_by_customer(st, customer, NULL, 1, ids, max, &k,
                                      err);

    for (i = 0; rc == OMNI_STORE_OK && i < k; i++) {
        rc = omni_store_case_load(st, txn, ids[i].id, 0, c, err);

        /* an index entry without its case: nothing to show */
        if (rc == OMNI_STORE_NOT_FOUND) {
            rc = OMNI_STORE_OK;
            continue;
        }

        if (rc != OMNI_STORE_OK) {
            break;
        }

        memcpy(out[*n].id, c->id, sizeof(c->id));
        memcpy(out[*n].category, c->category, sizeof(c->category));
        out[*n].status = c->status;
        out[*n].due = (c->first_response_at == 0 && c->first_response_due)
                      ? c->first_response_due : c->resolution_due;
        (*n)++;
    }

    omni_store_rend(st, own);
    free(c);

    return rc;
}


/*
 * The open cases (new to on_hold) past a due time at now, through the
 * status index: at most max of them read, in one read transaction,
 * without opening a subject.
 */
int
omni_store_cases_past_due(omni_store_t *st, int64_t now, size_t max,
    omni_store_cases_due_t *out, char *err)
{
    int                 rc, own, mrc, status;
    MDB_txn            *txn;
    MDB_val             k, v;
    MDB_cursor         *cur;
    omni_skey_t         prefix;
    omni_store_case_t  *c;
    char                id[OMNI_STORE_CASE_ID_LEN + 1];

    memset(out, 0, sizeof(omni_store_cases_due_t));

    c = malloc(sizeof(omni_store_case_t));
    if (c == NULL) {
        omni_err(err, "out of memory");
        return OMNI_STORE_ERROR;
    }

    rc = omni_store_rbegin(st, &txn, &own, err);
    if (rc != OMNI_STORE_OK) {
        free(c);
        return rc;
    }

    mrc = mdb_cursor_open(txn, st->dbi[OMNI_STORE_DB_CASES], &cur);
    if (mrc != 0) {
        omni_store_rend(st, own);
        free(c);
        return omni_store_mdb(st, mrc, "mdb_cursor_open", err);
    }

    for (status = OMNI_STORE_CASE_NEW;
         rc == OMNI_STORE_OK && status <= OMNI_STORE_CASE_ON_HOLD;
         status++)
    {
        omni_sbuf_init(&prefix.b, prefix.data, sizeof(prefix.data));
        omni_sbuf_u8(&prefix.b, 's');
        omni_sbuf_u8(&prefix.b, (unsigned) status);

        k.mv_data = prefix.b.p;
        k.mv_size = prefix.b.len;

        for (mrc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
             mrc == 0;
             mrc = mdb_cursor_get(cur, &k, &v, MDB_NEXT))
        {
            if (k.mv_size < prefix.b.len + OMNI_STORE_CASE_ID_LEN
                || memcmp(k.mv_data, prefix.b.p, prefix.b.len) != 0)
            {
                break;
            }

            if (out->scanned == max) {
                out->truncated = 1;
                break;
            }

            memcpy(id, (char *) k.mv_data + k.mv_size
                       - OMNI_STORE_CASE_ID_LEN, OMNI_STORE_CASE_ID_LEN);
            id[OMNI_STORE_CASE_ID_LEN] = '\0';

            rc = omni_store_case_load(st, txn, id, 0, c, err);

            /* an index entry without its case: nothing to count */
            if (rc == OMNI_STORE_NOT_FOUND) {
                rc = OMNI_STORE_OK;
                continue;
            }

            if (rc != OMNI_STORE_OK) {
                break;
            }

            out->scanned++;

            if (c->first_response_at == 0 && c->first_response_due != 0
                && c->first_response_due < now)
            {
                out->first_response++;
            }

            if (c->resolution_due != 0 && c->resolution_due < now) {
                out->resolution++;
            }
        }

        if (rc == OMNI_STORE_OK && mrc != 0 && mrc != MDB_NOTFOUND) {
            rc = omni_store_mdb(st, mrc, "mdb_cursor_get", err);
        }

        if (out->truncated) {
            break;
        }
    }

    mdb_cursor_close(cur);
    omni_store_rend(st, own);
    free(c);

    return rc;
}
