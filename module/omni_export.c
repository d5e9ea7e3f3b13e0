/*
 * Copyright (C) The omni gateway authors
 *
 * Reading the store's export format (omni_export.h): the header line and
 * the record lines that omnictl import applies.
 */


#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "omni_base64.h"
#include "omni_export.h"


int
omni_export_header(const char *line, size_t len, char *err)
{
    int           rc;
    json_t       *json;
    json_int_t    version, format;
    const char   *when;
    json_error_t  jerr;

    json = json_loadb(line, len, JSON_REJECT_DUPLICATES, &jerr);

    if (json == NULL
        || json_unpack_ex(json, &jerr, JSON_STRICT, "{s:I, s:I, s:s}",
                          "omni_store_export", &version, "format", &format,
                          "exported_at", &when) != 0)
    {
        omni_err(err, "not the header of an omnictl export: %s",
                        jerr.text);
        json_decref(json);
        return -1;
    }

    rc = 0;

    if (version != OMNI_EXPORT_VERSION) {
        omni_err(err, "export version %lld, this omnictl reads %d",
                        (long long) version, OMNI_EXPORT_VERSION);
        rc = -1;

    } else if (format != OMNI_STORE_FORMAT
               && format != OMNI_STORE_FORMAT_SEALED)
    {
        omni_err(err, "store format %lld, this build writes %d (plain) or "
                        "%d (sealed)", (long long) format, OMNI_STORE_FORMAT,
                        OMNI_STORE_FORMAT_SEALED);
        rc = -1;
    }

    json_decref(json);

    return rc;
}


int
omni_export_record(const char *line, size_t len, omni_store_record_t *rec,
    char *err)
{
    int             db;
    long            klen, vlen;
    size_t          kmax, vmax;
    json_t         *json;
    const char     *name, *key, *value;
    json_error_t    jerr;
    unsigned char  *buf;

    json = json_loadb(line, len, JSON_REJECT_DUPLICATES, &jerr);

    if (json == NULL
        || json_unpack_ex(json, &jerr, JSON_STRICT, "{s:s, s:s, s:s}",
                          "db", &name, "key", &key, "value", &value) != 0)
    {
        omni_err(err, "not a record {\"db\", \"key\", \"value\"}: %s",
                        jerr.text);
        json_decref(json);
        return -1;
    }

    for (db = 0; db < OMNI_STORE_DB_COUNT; db++) {
        if (strcmp(name, omni_store_db_name(db)) == 0) {
            break;
        }
    }

    if (db == OMNI_STORE_DB_COUNT) {
        omni_err(err, "no sub-database \"%s\"", name);
        json_decref(json);
        return -1;
    }

    kmax = omni_base64_decoded_len(strlen(key));
    vmax = omni_base64_decoded_len(strlen(value));

    buf = malloc(kmax + vmax + 1);
    if (buf == NULL) {
        omni_err(err, "out of memory");
        json_decref(json);
        return -1;
    }

    /* the one encoding omnictl export writes (omni_base64.h) */
    klen = omni_base64_decode(buf, key, strlen(key));
    vlen = (klen < 0) ? -1 : omni_base64_decode(buf + klen, value,
                                                strlen(value));

    json_decref(json);

    if (klen < 0 || vlen < 0) {
        omni_err(err, "the %s is not base64 with padding",
                        klen < 0 ? "key" : "value");
        free(buf);
        return -1;
    }

    if (klen == 0 || klen > OMNI_EXPORT_KEY_MAX) {
        omni_err(err, "a key of %ld bytes (1 to %d)", klen,
                        OMNI_EXPORT_KEY_MAX);
        free(buf);
        return -1;
    }

    /* which of the two the store takes is the store's to say */
    if (db == OMNI_STORE_DB_META && klen == sizeof("format") - 1
        && memcmp(buf, "format", klen) == 0
        && (vlen != 1 || (buf[klen] != '0' + OMNI_STORE_FORMAT
                          && buf[klen] != '0' + OMNI_STORE_FORMAT_SEALED)))
    {
        omni_err(err, "the store's format record is neither %d (plain) "
                        "nor %d (sealed)", OMNI_STORE_FORMAT,
                        OMNI_STORE_FORMAT_SEALED);
        free(buf);
        return -1;
    }

    rec->db = db;
    rec->key = buf;
    rec->key_len = (size_t) klen;
    rec->val = buf + klen;
    rec->val_len = (size_t) vlen;

    return 0;
}
