/*
 * Copyright (C) The omni gateway authors
 *
 * Fuzz target: the capacities set live (omni_dispatch_live.h), a record
 * the store keeps and every worker reads.  The input is read as a
 * record; a failure must say why; a success must hold entries of valid
 * pools, channels and capacities that each find themselves, and setting
 * an entry again must give a record that reads back with it.
 */


#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "omni_dispatch_live.h"


static void
fuzz_fail(const char *what)
{
    fprintf(stderr, "fuzz_dispatch_live: %s\n", what);
    abort();
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char                         err[OMNI_ERRLEN], *text;
    size_t                       i, n, m;
    omni_dispatch_live_t        *live, *again;
    const omni_dispatch_live_t  *e;

    live = malloc(2 * OMNI_DISPATCH_LIVE_MAX * sizeof(omni_dispatch_live_t));
    if (live == NULL) {
        return 0;
    }

    again = live + OMNI_DISPATCH_LIVE_MAX;
    err[0] = '\0';

    if (omni_dispatch_live_parse((const char *) data, size, live,
                                 OMNI_DISPATCH_LIVE_MAX, &n, err)
        != 0)
    {
        if (err[0] == '\0') {
            fuzz_fail("a failure without a reason");
        }

        free(live);
        return 0;
    }

    for (i = 0; i < n; i++) {
        if (live[i].pool[0] == '\0'
            || live[i].capacity > OMNI_DISPATCH_CAPACITY_MAX)
        {
            fuzz_fail("an entry that is not one");
        }

        e = omni_dispatch_live_find(live, n, live[i].pool, live[i].channel);
        if (e == NULL || e->capacity != live[i].capacity) {
            fuzz_fail("an entry that does not find itself");
        }
    }

    if (n > 0) {
        text = omni_dispatch_live_set((const char *) data, size, live[0].pool,
                                      live[0].channel[0] ? live[0].channel
                                                         : NULL,
                                      7, err);
        if (text == NULL) {
            free(live);
            return 0;
        }

        if (omni_dispatch_live_parse(text, strlen(text), again,
                                     OMNI_DISPATCH_LIVE_MAX, &m, err)
            != 0
            || m != n)
        {
            fuzz_fail("a record set that does not read back");
        }

        e = omni_dispatch_live_find(again, m, live[0].pool, live[0].channel);
        if (e == NULL || e->capacity != 7) {
            fuzz_fail("the entry set is not there");
        }

        free(text);
    }

    free(live);

    return 0;
}
