/*
 * Copyright (C) The omni gateway authors
 *
 * Fuzz target: a service's X-Omni-Case header (omni_case_header.c).  What
 * parses must be what the store takes: a valid category and subject to
 * open, or a case id whose check digit holds with a known status or a
 * note within the text rules; what does not must say why.
 */


#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "omni_case_header.h"


static void
fuzz_fail(const char *what)
{
    fprintf(stderr, "fuzz_case_header: %s\n", what);
    abort();
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char                 err[OMNI_ERRLEN];
    omni_case_header_t   h;

    err[0] = '\0';

    if (omni_case_header_parse((const char *) data, size, &h, err) != 0) {
        if (memchr(err, '\0', sizeof(err)) == NULL || err[0] == '\0') {
            fuzz_fail("a refusal without a message");
        }

        return 0;
    }

    if (h.open) {
        if (!omni_store_id_valid(h.category, strlen(h.category),
                                 OMNI_STORE_CASE_NAME_MAX)
            || !omni_store_case_text_valid(h.subject, strlen(h.subject),
                                           OMNI_STORE_CASE_SUBJECT_MAX, 0)
            || h.priority < 0 || h.priority >= OMNI_STORE_CASE_PRIORITIES)
        {
            fuzz_fail("an open the store would refuse");
        }

        return 0;
    }

    if (!omni_store_case_id_valid(h.id, strlen(h.id))
        || (h.status < 0 && h.note_kind < 0)
        || h.status >= OMNI_STORE_CASE_STATUSES
        || (h.note_kind >= 0
            && (h.note_len != strlen(h.note)
                || !omni_store_case_text_valid(h.note, h.note_len,
                                               OMNI_STORE_CASE_TEXT_MAX, 1))))
    {
        fuzz_fail("a change the store would refuse");
    }

    return 0;
}
