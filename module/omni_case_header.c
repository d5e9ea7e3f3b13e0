/*
 * Copyright (C) The omni gateway authors
 *
 * X-Omni-Case (omni_case_header.h): a service's request to open or change
 * a case of the customer, checked whole.
 */


#include <string.h>

#include <jansson.h>

#include "omni_case_header.h"


static int omni_case_header_open(json_t *o, omni_case_header_t *h,
    char *err);
static int omni_case_header_change(json_t *root, omni_case_header_t *h,
    char *err);
static const char *omni_case_header_str(json_t *o, const char *key,
    size_t *len);


int
omni_case_header_parse(const char *s, size_t len, omni_case_header_t *h,
    char *err)
{
    int           rc;
    json_t       *root, *open;
    json_error_t  jerr;

    memset(h, 0, sizeof(omni_case_header_t));
    h->status = -1;
    h->note_kind = -1;
    h->priority = OMNI_STORE_CASE_NORMAL;

    if (len == 0 || len > OMNI_CASE_HEADER_MAX) {
        omni_err(err, "the header must be 1 to %d bytes",
                 OMNI_CASE_HEADER_MAX);
        return -1;
    }

    root = json_loadb(s, len, JSON_REJECT_DUPLICATES, &jerr);

    if (root == NULL) {
        /* jansson's text may quote the input: the position only */
        omni_err(err, "the header is not valid JSON (line %d column %d)",
                 jerr.line, jerr.column);
        return -1;
    }

    if (!json_is_object(root)) {
        omni_err(err, "the header is not a JSON object");
        json_decref(root);
        return -1;
    }

    open = json_object_get(root, "open");

    if (open != NULL) {
        if (json_object_size(root) != 1) {
            omni_err(err, "\"open\" takes no other key beside it");
            rc = -1;

        } else {
            rc = omni_case_header_open(open, h, err);
        }

    } else {
        rc = omni_case_header_change(root, h, err);
    }

    json_decref(root);

    return rc;
}


static int
omni_case_header_open(json_t *o, omni_case_header_t *h, char *err)
{
    size_t       len;
    json_t      *v;
    const char  *key, *s;

    h->open = 1;

    if (!json_is_object(o)) {
        omni_err(err, "\"open\" is not an object");
        return -1;
    }

    json_object_foreach(o, key, v) {
        if (strcmp(key, "category") != 0 && strcmp(key, "subject") != 0
            && strcmp(key, "priority") != 0)
        {
            omni_err(err, "\"open\" takes category, subject and priority "
                     "only");
            return -1;
        }
    }

    s = omni_case_header_str(o, "category", &len);

    if (s == NULL || !omni_store_id_valid(s, len, OMNI_STORE_CASE_NAME_MAX)) {
        omni_err(err, "open.category must be [A-Za-z0-9_-]{1,%d}",
                 OMNI_STORE_CASE_NAME_MAX);
        return -1;
    }

    memcpy(h->category, s, len + 1);

    s = omni_case_header_str(o, "subject", &len);

    if (s == NULL
        || !omni_store_case_text_valid(s, len, OMNI_STORE_CASE_SUBJECT_MAX,
                                       0))
    {
        omni_err(err, "open.subject must be 1 to %d bytes of UTF-8 without "
                 "control characters", OMNI_STORE_CASE_SUBJECT_MAX);
        return -1;
    }

    memcpy(h->subject, s, len + 1);

    if (json_object_get(o, "priority") != NULL) {
        s = omni_case_header_str(o, "priority", &len);
        h->priority = omni_store_case_priority_parse(s, len);

        if (h->priority < 0) {
            omni_err(err, "open.priority must be low, normal, high or "
                     "urgent");
            return -1;
        }
    }

    return 0;
}


static int
omni_case_header_change(json_t *root, omni_case_header_t *h, char *err)
{
    size_t       len;
    json_t      *v, *internal;
    const char  *key, *s;

    json_object_foreach(root, key, v) {
        if (strcmp(key, "case") != 0 && strcmp(key, "status") != 0
            && strcmp(key, "note") != 0 && strcmp(key, "internal") != 0)
        {
            omni_err(err, "the header takes \"open\", or \"case\" with "
                     "status, note and internal");
            return -1;
        }
    }

    s = omni_case_header_str(root, "case", &len);

    if (s == NULL || !omni_store_case_id_valid(s, len)) {
        omni_err(err, "\"case\" must be a case id: %d digits, the last a "
                 "check digit", OMNI_STORE_CASE_ID_LEN);
        return -1;
    }

    memcpy(h->id, s, len + 1);

    if (json_object_get(root, "status") != NULL) {
        s = omni_case_header_str(root, "status", &len);
        h->status = omni_store_case_status_parse(s, len);

        if (h->status < 0) {
            omni_err(err, "\"status\" must be new, open, pending, on_hold, "
                     "resolved or closed");
            return -1;
        }
    }

    internal = json_object_get(root, "internal");

    if (internal != NULL && !json_is_boolean(internal)) {
        omni_err(err, "\"internal\" must be true or false");
        return -1;
    }

    if (json_object_get(root, "note") != NULL) {
        s = omni_case_header_str(root, "note", &len);

        if (s == NULL
            || !omni_store_case_text_valid(s, len, OMNI_STORE_CASE_TEXT_MAX,
                                           1))
        {
            omni_err(err, "\"note\" must be 1 to %d bytes of UTF-8 without "
                     "control characters but tabs and newlines",
                     OMNI_STORE_CASE_TEXT_MAX);
            return -1;
        }

        memcpy(h->note, s, len + 1);
        h->note_len = len;
        h->note_kind = json_is_true(internal) ? OMNI_STORE_CASE_EV_INTERNAL
                                              : OMNI_STORE_CASE_EV_NOTE;

    } else if (internal != NULL) {
        omni_err(err, "\"internal\" without a note");
        return -1;
    }

    if (h->status < 0 && h->note_kind < 0) {
        omni_err(err, "\"case\" needs a status, a note or both");
        return -1;
    }

    return 0;
}


/* the string at key, NULL when it is none; NULs make it none too */
static const char *
omni_case_header_str(json_t *o, const char *key, size_t *len)
{
    json_t      *v;
    const char  *s;

    v = json_object_get(o, key);

    if (!json_is_string(v)) {
        return NULL;
    }

    s = json_string_value(v);
    *len = json_string_length(v);

    return (memchr(s, '\0', *len) == NULL) ? s : NULL;
}
