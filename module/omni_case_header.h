/*
 * Copyright (C) The omni gateway authors
 *
 * X-Omni-Case (docs/cases.md, "Services"): what a service asks of the
 * customer's cases in a response header, parsed and checked whole before
 * anything is written.  One JSON object of at most OMNI_CASE_HEADER_MAX
 * bytes, either
 *
 *   {"open": {"category": "complaint", "subject": "...",
 *             "priority": "high"}}                  priority optional
 *
 * or
 *
 *   {"case": "4821093756", "status": "pending",     each optional, one
 *    "note": "...", "internal": false}              at least
 *
 * A duplicate key, another key, a value of the wrong type, a case id
 * failing its check digit, a subject or note the store would refuse, an
 * unknown status or priority: the whole header is refused, with a
 * message naming the key, never its value.  Knows nothing of NGINX.
 */

#ifndef OMNI_CASE_HEADER_H_INCLUDED_
#define OMNI_CASE_HEADER_H_INCLUDED_


#include <stddef.h>

#include "omni_store.h"


#define OMNI_CASE_HEADER_MAX  4096


typedef struct {
    int         open;                /* 1: open a case; 0: change one */

    /* open */
    char        category[OMNI_STORE_CASE_NAME_MAX + 1];
    char        subject[OMNI_STORE_CASE_SUBJECT_MAX + 1];
    int         priority;

    /* change */
    char        id[OMNI_STORE_CASE_ID_LEN + 1];
    int         status;              /* -1: unchanged */
    int         note_kind;           /* OMNI_STORE_CASE_EV_NOTE or
                                        _INTERNAL; -1: no note */
    size_t      note_len;
    char        note[OMNI_STORE_CASE_TEXT_MAX + 1];
} omni_case_header_t;


/* 0, or -1 with the reason in err */
int omni_case_header_parse(const char *s, size_t len, omni_case_header_t *h,
    char *err);


#endif /* OMNI_CASE_HEADER_H_INCLUDED_ */
