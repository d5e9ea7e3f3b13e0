/*
 * Copyright (C) The omni gateway authors
 *
 * Fuzz target: a change as omni-sync reads it from NATS
 * (omni_store_change_decode()), of any family (a revocation, a policy, a
 * session, a case with its events, a journey event), then applied to a
 * store as another node's change (omni_store_changes_apply(), or
 * omni_store_journeys_apply_batch() for a journey event, which comes on
 * a stream of its own).  A change the decoder
 * takes must encode back to the very same bytes (one reading per input);
 * applying it must never log it (no echo) and must succeed or refuse
 * with OMNI_STORE_INVALID, never fail otherwise: but for an identity
 * change sealed with a keyring (the store here has none), which waits.
 * Revocations, policies, identity links and merges are all read.
 */


#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_store.h"


static uint64_t  fuzz_change_seq;


/* an identity change whose value travels sealed (its form byte is 1) */
static int
fuzz_change_sealed(const omni_store_change_t *c)
{
    return c->family == OMNI_STORE_FAMILY_IDENTITY && c->val_len > 2
           && (size_t) c->val[1] + 2 < c->val_len
           && c->val[c->val[1] + 2] == 1;
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int                          rc, fresh;
    char                         err[OMNI_ERRLEN];
    size_t                       len;
    omni_store_t                *st;
    omni_store_change_t          c;
    omni_store_changes_state_t   s;
    omni_store_journeys_state_t  js;
    omni_store_change_item_t     item;

    /* as large as the decoder takes: any record encodes back */
    static unsigned char         out[OMNI_STORE_CHANGE_WIRE_MAX
                                     + OMNI_STORE_POLICY_MAX];

    err[0] = '\0';

    rc = omni_store_change_decode(data, size, &c, err);

    if (rc != OMNI_STORE_OK) {
        if (rc != OMNI_STORE_INVALID || err[0] == '\0') {
            fuzz_store_fail("a refusal without OMNI_STORE_INVALID and a "
                            "message", err);
        }

        return 0;
    }

    if (omni_store_change_encode(&c, out, sizeof(out), &len, err)
        != OMNI_STORE_OK)
    {
        fuzz_store_fail("a decoded change does not encode", err);
    }

    if (len != size || memcmp(out, data, size) != 0) {
        fuzz_store_fail("a decoded change encodes to other bytes", NULL);
    }

    st = fuzz_store(&fresh);

    if (fresh) {
        fuzz_change_seq = 0;
    }

    item.change = &c;
    item.stream_seq = ++fuzz_change_seq;

    rc = (c.family == OMNI_STORE_FAMILY_JOURNEY)
         ? omni_store_journeys_apply_batch(st, &item, 1, err)
         : omni_store_changes_apply(st, &c, item.stream_seq, NULL, err);

    /* a sealed identity change waits for a keyring this store lacks */
    if (rc == OMNI_STORE_ERROR && fuzz_change_sealed(&c)) {
        rc = OMNI_STORE_INVALID;
    }

    if (rc != OMNI_STORE_OK && rc != OMNI_STORE_INVALID) {
        fuzz_store_fail("a change not applied", err);
    }

    if (omni_store_changes_state(st, &s, err) != OMNI_STORE_OK) {
        fuzz_store_fail("no state", err);
    }

    if (omni_store_journeys_state(st, &js, err) != OMNI_STORE_OK) {
        fuzz_store_fail("no journey state", err);
    }

    if (s.last != 0 || js.last != 0) {
        fuzz_store_fail("a change from another node was logged", NULL);
    }

    return 0;
}
