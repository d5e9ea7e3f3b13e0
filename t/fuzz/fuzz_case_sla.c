/*
 * Copyright (C) The omni gateway authors
 *
 * Fuzz target: the SLA table of cases (omni_case_sla.c).  A table that
 * parses must give due times within its bound, after now, for any
 * category and priority; one that does not must say why.
 */


#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "omni_case_sla.h"
#include "omni_store.h"


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int               p;
    char              err[OMNI_ERRLEN];
    int64_t           fr, res;
    omni_case_sla_t  *sla;

    static const char  *categories[] = { "complaint", "billing", "x", NULL };
    size_t              i;

    err[0] = '\0';

    sla = omni_case_sla_parse((const char *) data, size, err);

    if (sla == NULL) {
        if (memchr(err, '\0', sizeof(err)) == NULL || err[0] == '\0') {
            fprintf(stderr, "fuzz_case_sla: a refusal without a message\n");
            abort();
        }

        return 0;
    }

    for (i = 0; i < sizeof(categories) / sizeof(categories[0]); i++) {
        for (p = -1; p <= OMNI_STORE_CASE_PRIORITIES; p++) {
            omni_case_sla_due(sla, categories[i], p, 1000, &fr, &res);

            if (fr < 0 || res < 0 || (fr != 0 && fr <= 1000)
                || (res != 0 && res <= 1000)
                || fr > 1000 + OMNI_CASE_SLA_MAX
                || res > 1000 + OMNI_CASE_SLA_MAX)
            {
                fprintf(stderr, "fuzz_case_sla: due times out of bounds\n");
                abort();
            }
        }
    }

    omni_case_sla_free(sla);

    return 0;
}
