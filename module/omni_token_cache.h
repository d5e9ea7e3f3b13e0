/*
 * Copyright (C) The omni gateway authors
 *
 * A per-worker cache of verified tokens, bounded by entries and by bytes,
 * the least recently used entry out first.  An entry is keyed by a hash
 * of the token under the cache's own secret key (SipHash-2-4, 128 bits;
 * never the token itself) and the identity of the configuration that
 * verified it, and holds an immutable value
 * shared by reference: one evicted while requests hold it lives until the
 * last of them lets go.  Knows nothing of NGINX, nor of tokens.
 */

#ifndef OMNI_TOKEN_CACHE_H_INCLUDED_
#define OMNI_TOKEN_CACHE_H_INCLUDED_


#include <stddef.h>
#include <stdint.h>
#include <time.h>


#define OMNI_TOKEN_CACHE_KEY_LEN  16


typedef struct omni_token_cache_s        omni_token_cache_t;
typedef struct omni_token_cache_entry_s  omni_token_cache_entry_t;

typedef void (*omni_token_cache_free_pt)(void *value);


typedef struct {
    uint64_t                   hits;
    uint64_t                   misses;
    uint64_t                   evictions;    /* pushed out by the bounds */
    uint64_t                   expirations;  /* found past their time */
    size_t                     entries;
    size_t                     bytes;
} omni_token_cache_stats_t;


/*
 * At most max_entries (1 or more) entries of max_bytes in all, each living
 * at most ttl seconds; free_value frees a value once no one holds its
 * entry.  Its secret key comes from OpenSSL's RAND_bytes().  NULL when out
 * of memory or of randomness.
 */
omni_token_cache_t *omni_token_cache_new(size_t max_entries,
    size_t max_bytes, time_t ttl, omni_token_cache_free_pt free_value);

/* Entries still held by someone outlive the cache. */
void omni_token_cache_free(omni_token_cache_t *cache);

/* The key of a token in this cache, into key (OMNI_TOKEN_CACHE_KEY_LEN). */
void omni_token_cache_key(const omni_token_cache_t *cache, const char *token,
    size_t len, unsigned char *key);

/*
 * The entry of key under conf while now is before its expiry, held once
 * more for the caller; NULL on a miss.  Counts the hit or the miss.
 */
omni_token_cache_entry_t *omni_token_cache_get(omni_token_cache_t *cache,
    const unsigned char *key, const void *conf, time_t now);

/*
 * Keeps value (bytes large, valid before expires, 0 if always) as the
 * entry of key under conf, evicting what the bounds need, and returns the
 * entry held for the caller.  An entry that fits no bound or has expired
 * already is returned held, but not kept.  NULL when out of memory, the
 * value then left to the caller.
 */
omni_token_cache_entry_t *omni_token_cache_put(omni_token_cache_t *cache,
    const unsigned char *key, const void *conf, void *value, size_t bytes,
    time_t expires, time_t now);

void *omni_token_cache_value(const omni_token_cache_entry_t *entry);

/* Lets go of an entry: the last holder frees it. */
void omni_token_cache_release(omni_token_cache_entry_t *entry);

const omni_token_cache_stats_t *omni_token_cache_stats(
    const omni_token_cache_t *cache);


#endif /* OMNI_TOKEN_CACHE_H_INCLUDED_ */
