/*
 * Copyright (C) The omni gateway authors
 *
 * Fuzz target: the workflow file's compiler (omni_dispatch.h).  The input
 * is compiled as a workflow; a failure must list at least one error, one
 * a line, without control bytes but the newlines; a success must hold
 * limits that are sane (an id, a rate, an interval, a tolerance that
 * fits the burst) and that the matcher finds for requests made of their
 * own channels and tiers.
 */


#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "omni_dispatch.h"


static void
fuzz_fail(const char *what)
{
    fprintf(stderr, "fuzz_dispatch: %s\n", what);
    abort();
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char                         *errors, *p;
    size_t                        i;
    omni_dispatch_t              *w;
    const omni_dispatch_limit_t  *l, *m;

    w = omni_dispatch_compile((const char *) data, size, &errors);

    if (w == NULL) {
        if (errors == NULL) {
            return 0;           /* out of memory */
        }

        if (errors[0] == '\0') {
            fuzz_fail("a failure without an error");
        }

        for (p = errors; *p; p++) {
            if ((unsigned char) *p < 0x20 && *p != '\n') {
                fuzz_fail("a control byte in an error");
            }
        }

        free(errors);
        return 0;
    }

    if (errors != NULL) {
        fuzz_fail("errors with a success");
    }

    for (i = 0; i < w->nlimits; i++) {
        l = &w->limits[i];

        if (l->id[0] == '\0') {
            fuzz_fail("a limit without an id");
        }

        if (!l->unlimited
            && (l->rate == 0 || l->burst == 0 || l->interval_us == 0
                || l->tolerance_us != l->interval_us * (l->burst - 1)))
        {
            fuzz_fail("a limit with a bad rate");
        }

        /* a request of its first channel and tier finds it or one before */
        m = omni_dispatch_limit(w, l->nchannels ? l->channels[0] : "web",
                                l->ntiers ? l->tiers[0] : NULL,
                                l->anonymous == 1);
        if (m == NULL || m > l) {
            fuzz_fail("a limit its own request does not find");
        }
    }

    omni_dispatch_free(w);

    return 0;
}
