/*
 * Copyright (C) The omni gateway authors
 *
 * Fuzz target: the JSON merge patch of session contexts.  The input's
 * first line is the stored context (the target), the rest the patch a
 * service sent, applied with the store's bound as the gateway applies it.
 * A result must be a JSON object within the bound, and applying the same
 * patch to it again must change nothing (RFC 7396 patches are
 * idempotent).
 */


#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "omni_json_patch.h"


#define FUZZ_MAX  4096              /* OMNI_STORE_CONTEXT_MAX */


static void
fuzz_fail(const char *what, const char *detail)
{
    fprintf(stderr, "fuzz_json_patch: %s%s%s\n", what,
            detail ? ": " : "", detail ? detail : "");
    abort();
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char          out[FUZZ_MAX + 1], again[FUZZ_MAX + 1];
    char          err[OMNI_ERRLEN];
    size_t        tlen, out_len, again_len;
    json_t       *json;
    const char   *text, *nl;
    json_error_t  jerr;

    text = (const char *) data;
    nl = memchr(text, '\n', size);
    tlen = nl ? (size_t) (nl - text) : size;

    err[0] = '\0';

    if (omni_json_merge_patch(text, tlen, nl ? nl + 1 : "",
                              nl ? size - tlen - 1 : 0, out, FUZZ_MAX,
                              &out_len, err) != 0)
    {
        if (memchr(err, '\0', sizeof(err)) == NULL || err[0] == '\0') {
            fuzz_fail("a failure without a message", NULL);
        }

        return 0;
    }

    if (out_len > FUZZ_MAX || out[out_len] != '\0') {
        fuzz_fail("a result past its bound or without its NUL", NULL);
    }

    json = json_loadb(out, out_len, JSON_REJECT_DUPLICATES, &jerr);
    if (!json_is_object(json)) {
        fuzz_fail("the result is not a JSON object", jerr.text);
    }

    json_decref(json);

    if (omni_json_merge_patch(out, out_len, nl + 1, size - tlen - 1, again,
                              FUZZ_MAX, &again_len, err) != 0)
    {
        fuzz_fail("the patch fails on its own result", err);
    }

    if (again_len != out_len || memcmp(again, out, out_len) != 0) {
        fuzz_fail("the patch applied twice changes the result", again);
    }

    return 0;
}
