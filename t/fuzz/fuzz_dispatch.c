/*
 * Copyright (C) The omni gateway authors
 *
 * Fuzz target: the workflow file's compiler (omni_dispatch.h).  The input
 * is compiled as a workflow; a failure must list at least one error, one
 * a line, without control bytes but the newlines; a success must hold
 * limits that are sane (an id, a rate, an interval, a tolerance that
 * fits the burst) and that the matcher finds for requests made of their
 * own channels and tiers; a rule's request (its own channel, tier,
 * action and intent) is decided with every pool idle and with every pool
 * full: idle, it goes to one of the rule's targets; full, to none; and
 * the workflow compared with itself (omni_dispatch_diff) shows no change.
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


static void
fuzz_rules(const omni_dispatch_t *w)
{
    int                            r;
    size_t                         i, j;
    uint32_t                       idle[OMNI_DISPATCH_POOLS_MAX];
    uint32_t                       full[OMNI_DISPATCH_POOLS_MAX];
    omni_dispatch_req_t            q;
    omni_dispatch_decision_t       d;
    const omni_dispatch_rule_t    *rule;

    for (i = 0; i < w->npools; i++) {
        idle[i] = 0;
        full[i] = w->pools[i].capacity;
    }

    for (i = 0; i < w->nrules; i++) {
        rule = &w->rules[i];

        q.channel = rule->match.nchannels ? rule->match.channels[0] : "web";
        q.action = rule->match.nactions ? rule->match.actions[0] : "a.b";
        q.tier = rule->match.ntiers ? rule->match.tiers[0] : NULL;
        q.anonymous = rule->match.anonymous == 1;
        q.open_case = rule->match.open_case == 1;
        q.intent = rule->match.nintents ? rule->match.intents[0] : NULL;
        q.confidence = 1.0;
        q.affinity = (int) (i % (w->npools + 1)) - 1;
        q.capacity = NULL;
        q.channel_in_flight = NULL;
        q.channel_capacity = NULL;

        r = omni_dispatch_decide(w, &q, idle, &d);

        if (r < 0 || (size_t) r >= w->nrules || d.rule == NULL) {
            fuzz_fail("no rule decided");
        }

        if (d.pool >= 0) {
            for (j = 0; j < w->rules[r].ntargets; j++) {
                if (w->rules[r].targets[j].pool == (uint32_t) d.pool) {
                    break;
                }
            }

            if (j == w->rules[r].ntargets || (int) j != d.step) {
                fuzz_fail("a pool that is not the rule's target");
            }

        } else if (w->rules[r].ntargets) {
            fuzz_fail("no pool while every pool is idle");
        }

        (void) omni_dispatch_decide(w, &q, full, &d);

        if (d.pool >= 0 || d.reason != OMNI_DISPATCH_NO_CAPACITY) {
            fuzz_fail("a pool while every pool is full");
        }
    }
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char                         *errors, *p, *diff;
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
        m = omni_dispatch_limit(w,
                                l->match.nchannels ? l->match.channels[0]
                                                   : "web",
                                l->match.ntiers ? l->match.tiers[0] : NULL,
                                l->match.anonymous == 1);
        if (m == NULL || m > l) {
            fuzz_fail("a limit its own request does not find");
        }
    }

    fuzz_rules(w);

    omni_dispatch_free(w);

    /* a workflow compared with itself: nothing added, removed, changed */
    diff = omni_dispatch_diff((const char *) data, size, (const char *) data,
                              size);
    if (diff != NULL && (strstr(diff, "\"added\":[\"") != NULL
                         || strstr(diff, "\"removed\":[\"") != NULL
                         || strstr(diff, "\"changed\":[\"") != NULL
                         || strstr(diff, "\"reordered\":true") != NULL
                         || strstr(diff, "\"settings\":{}") == NULL))
    {
        fuzz_fail("a workflow differs from itself");
    }

    free(diff);

    return 0;
}
