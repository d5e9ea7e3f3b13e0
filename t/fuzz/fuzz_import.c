/*
 * Copyright (C) The omni gateway authors
 *
 * Fuzz target: `omnictl import` and the store's decoding of what it
 * imports.  The input is an export file: its first line is checked as
 * the header, every other line decoded as a record (module/omni_export.c,
 * what omnictl runs).  The records that decode are imported as they are
 * (omni_store_import() writes raw records, checking nothing inside them)
 * and then read back the ways the gateway and the admin API read them:
 * for each record, the session, customer, identity, journey and
 * revocation it would be, through the admin router; the policy routes;
 * and the purges, which walk the expiry index.  Reads of records that
 * make no sense must refuse them, never crash; answers are checked as
 * the admin target's.
 */


#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_store.h"
#include "omni_export.h"


#define FUZZ_RECORDS  64             /* lines of an input imported */
#define FUZZ_NAME     (3 * 511 + 64)


/* method and path ("%s" the name, percent-encoded) of each record's db */
static const struct {
    const char  *method;
    const char  *path;
} fuzz_reads[OMNI_STORE_DB_COUNT][4] = {
    [OMNI_STORE_DB_META] = {
        { "GET", "/policy" }, { "GET", "/policy/revisions?limit=3" },
        { "GET", "/policy/diff?from=1" }, { "GET", "/stats" } },
    [OMNI_STORE_DB_SESSIONS] = {
        { "GET", "/sessions/%s" }, { "DELETE", "/sessions/%s" } },
    [OMNI_STORE_DB_IDENTITIES] = {
        { "GET", "/identities/%s" }, { "DELETE", "/identities/%s" } },
    [OMNI_STORE_DB_CUSTOMERS] = {
        { "GET", "/customers/%s" }, { "GET", "/customers/%s/sessions" },
        { "GET", "/customers/%s/identities" },
        { "GET", "/customers/%s/journey?limit=5" } },
    [OMNI_STORE_DB_REVOCATIONS] = {
        { "GET", "/revocations?kind=jti" },
        { "GET", "/revocations?kind=session" },
        { "GET", "/revocations?kind=subject" },
        { "DELETE", "/revocations/%s" } },
    [OMNI_STORE_DB_JOURNEYS] = {
        { "GET", "/customers/%s/journey" },
        { "POST", "/customers/%s/merge" } },
    [OMNI_STORE_DB_EXPIRY] = {
        { "GET", "/stats" } },
};


/*
 * The name a record stands for, percent-encoded for a path: the key up
 * to its first NUL; an identity's "type:value" and a revocation's
 * "kind:value" become "type/value" and "kind/value".
 */
static void
fuzz_name(const omni_store_record_t *rec, char *out)
{
    char                 *p;
    size_t                i;
    const unsigned char  *k;

    static const char  hex[] = "0123456789ABCDEF";

    k = rec->key;
    p = out;

    for (i = 0; i < rec->key_len && k[i] != '\0'; i++) {
        if ((k[i] >= 'a' && k[i] <= 'z') || (k[i] >= 'A' && k[i] <= 'Z')
            || (k[i] >= '0' && k[i] <= '9') || k[i] == '-' || k[i] == '_')
        {
            *p++ = (char) k[i];

        } else if (k[i] == ':' && (rec->db == OMNI_STORE_DB_IDENTITIES
                                   || rec->db == OMNI_STORE_DB_REVOCATIONS))
        {
            *p++ = '/';

        } else {
            *p++ = '%';
            *p++ = hex[k[i] >> 4];
            *p++ = hex[k[i] & 0xf];
        }
    }

    *p = '\0';
}


static void
fuzz_read_back(omni_store_t *st, const omni_store_record_t *rec)
{
    int                  n;
    char                 name[FUZZ_NAME], path[FUZZ_NAME + 64];
    size_t               i;
    omni_admin_result_t  res;

    static const char  merge[] = "{\"into\":\"c1\"}";

    fuzz_name(rec, name);

    for (i = 0; i < 4 && fuzz_reads[rec->db][i].method != NULL; i++) {
        n = snprintf(path, sizeof(path), fuzz_reads[rec->db][i].path, name);

        fuzz_store_request(st, fuzz_reads[rec->db][i].method, path,
                           (size_t) n, merge, sizeof(merge) - 1, &res);
        fuzz_store_check(&res);
        omni_admin_result_free(&res);
    }
}


static void
fuzz_purge(omni_store_t *st)
{
    int     rc;
    char    err[OMNI_ERRLEN];
    size_t  purged;

    /* far enough ahead that every session and jti has expired */
    rc = omni_store_session_purge(st, FUZZ_STORE_NOW * 2LL, 60, 60, 8,
                                  &purged, err);
    if (rc == OMNI_STORE_INVALID || rc == OMNI_STORE_NOT_FOUND) {
        fuzz_store_fail("the session purge", err);
    }

    rc = omni_store_revocations_purge(st, FUZZ_STORE_NOW * 2LL, 8, &purged,
                                      err);
    if (rc == OMNI_STORE_INVALID || rc == OMNI_STORE_NOT_FOUND) {
        fuzz_store_fail("the revocation purge", err);
    }
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int                   rc, fresh;
    char                  err[OMNI_ERRLEN];
    size_t                i, n, len;
    const char           *line, *end, *nl;
    omni_store_t         *st;
    omni_store_record_t   recs[FUZZ_RECORDS];

    line = (const char *) data;
    end = line + size;
    nl = memchr(line, '\n', size);

    if (nl == NULL) {
        return 0;
    }

    rc = omni_export_header(line, (size_t) (nl - line), err);
    if (rc != 0 && (err[0] == '\0' || memchr(err, '\0', sizeof(err)) == NULL))
    {
        fuzz_store_fail("a refused header without a message", NULL);
    }

    n = 0;

    for (line = nl + 1; line < end && n < FUZZ_RECORDS; line = nl + 1) {
        nl = memchr(line, '\n', (size_t) (end - line));
        len = (size_t) ((nl ? nl : end) - line);

        if (omni_export_record(line, len, &recs[n], err) == 0) {
            if (recs[n].key_len == 0 || recs[n].key_len > 511
                || recs[n].db < 0 || recs[n].db >= OMNI_STORE_DB_COUNT)
            {
                fuzz_store_fail("a record outside the bounds", NULL);
            }

            n++;
        }

        if (nl == NULL) {
            break;
        }
    }

    if (n == 0) {
        return 0;
    }

    st = fuzz_store(&fresh);

    rc = omni_store_import(st, recs, n, NULL, err);

    if (rc == OMNI_STORE_OK) {
        for (i = 0; i < n; i++) {
            fuzz_read_back(st, &recs[i]);
        }

        fuzz_purge(st);
    }

    for (i = 0; i < n; i++) {
        free((void *) recs[i].key);
    }

    return 0;
}
