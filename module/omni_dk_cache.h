/*
 * Copyright (C) The omni gateway authors
 *
 * A per-worker cache of unwrapped data keys (omni_seal.h), so that a
 * request touching a customer's sealed records opens the data key once
 * per worker, not once per record.  An entry is keyed by the wrapped key
 * as the store holds it: a key re-wrapped by a rotation is a new entry,
 * and a key destroyed by an erasure can no longer be asked for.  Bounded
 * by entries, the least recently used out first; every key leaves memory
 * zeroed (evicted, cleared, or with the cache).  Knows nothing of NGINX.
 */

#ifndef OMNI_DK_CACHE_H_INCLUDED_
#define OMNI_DK_CACHE_H_INCLUDED_


#include <stddef.h>
#include <stdint.h>

#include "omni_seal.h"


#define OMNI_DK_CACHE_MAX  (1 << 20)         /* entries */


typedef struct omni_dk_cache_s  omni_dk_cache_t;


typedef struct {
    uint64_t     hits;
    uint64_t     misses;
    uint64_t     evictions;
    size_t       entries;
} omni_dk_cache_stats_t;


/* At most max_entries (1 to OMNI_DK_CACHE_MAX); NULL when out of memory. */
omni_dk_cache_t *omni_dk_cache_new(size_t max_entries);

/* Zeroes every key, then frees the cache. */
void omni_dk_cache_free(omni_dk_cache_t *c);

/*
 * Copies the data key of a wrapped key (OMNI_SEAL_WRAPPED_LEN bytes) into
 * dk and returns 1, or returns 0 on a miss.  Counts the hit or the miss.
 */
int omni_dk_cache_get(omni_dk_cache_t *c, const unsigned char *wrapped,
    unsigned char dk[OMNI_SEAL_KEY_LEN]);

/* Keeps dk as the key of wrapped, evicting the oldest entry when full. */
void omni_dk_cache_put(omni_dk_cache_t *c, const unsigned char *wrapped,
    const unsigned char dk[OMNI_SEAL_KEY_LEN]);

/* Forgets (and zeroes) every key: a keyring reloaded, say. */
void omni_dk_cache_clear(omni_dk_cache_t *c);

const omni_dk_cache_stats_t *omni_dk_cache_stats(const omni_dk_cache_t *c);


#endif /* OMNI_DK_CACHE_H_INCLUDED_ */
