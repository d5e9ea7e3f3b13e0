/*
 * Copyright (C) The omni gateway authors
 *
 * The capacities set live (docs/dispatch.md, "Agent availability"): a
 * small JSON record, {"POOL": N, "POOL/CHANNEL": N, ...}, each a pool's
 * capacity or its capacity on a channel of its own (0 to 1,000,000),
 * replacing the workflow's.  Kept in the store as revisions
 * (omni_store.h), adopted by every worker, written by the admin API and
 * omnictl.
 *
 * Knows nothing of NGINX.
 */

#ifndef OMNI_DISPATCH_LIVE_H_INCLUDED_
#define OMNI_DISPATCH_LIVE_H_INCLUDED_


#include <stddef.h>
#include <stdint.h>

#include "omni_dispatch.h"
#include "omni_err.h"


#define OMNI_DISPATCH_LIVE_MAX                                                \
    (OMNI_DISPATCH_POOLS_MAX * (1 + OMNI_DISPATCH_NAMES_MAX))
#define OMNI_DISPATCH_LIVE_SIZE_MAX  65536          /* bytes of JSON */


typedef struct {
    char            pool[OMNI_DISPATCH_ID_MAX + 1];
    char            channel[OMNI_DISPATCH_CHANNEL_MAX + 1];  /* "": none */
    uint32_t        capacity;
} omni_dispatch_live_t;


/*
 * The entries of a record, at most max; -1 and err (OMNI_ERRLEN) naming
 * the first bad key or value.
 */
int omni_dispatch_live_parse(const char *json, size_t len,
    omni_dispatch_live_t *out, size_t max, size_t *n, char *err);

/*
 * The record json (NULL: none yet) with pool's capacity, or its capacity
 * on channel (NULL: the pool's own), set to capacity, or dropped for the
 * workflow's (capacity -1); malloc()ed text, keys sorted.  NULL and err
 * when json is not a record or memory ran out.
 */
char *omni_dispatch_live_set(const char *json, size_t len, const char *pool,
    const char *channel, int64_t capacity, char *err);

/* the entry for pool and channel ("": its own), or NULL */
const omni_dispatch_live_t *omni_dispatch_live_find(
    const omni_dispatch_live_t *live, size_t n, const char *pool,
    const char *channel);


#endif /* OMNI_DISPATCH_LIVE_H_INCLUDED_ */
