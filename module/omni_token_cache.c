/*
 * Copyright (C) The omni gateway authors
 *
 * The per-worker verified-token cache (omni_token_cache.h).
 */


#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "omni_siphash.h"
#include "omni_token_cache.h"


struct omni_token_cache_entry_s {
    omni_token_cache_entry_t  *next;         /* in its bucket */
    omni_token_cache_entry_t  *newer;        /* in the LRU list */
    omni_token_cache_entry_t  *older;
    const void                *conf;
    void                      *value;
    omni_token_cache_free_pt   free_value;
    size_t                     bytes;
    time_t                     expires;
    unsigned                   refs;
    unsigned char              key[OMNI_TOKEN_CACHE_KEY_LEN];
};


struct omni_token_cache_s {
    omni_token_cache_entry_t **buckets;
    size_t                     mask;
    omni_token_cache_entry_t  *newest;
    omni_token_cache_entry_t  *oldest;
    size_t                     max_entries;
    size_t                     max_bytes;
    time_t                     ttl;
    omni_token_cache_free_pt   free_value;
    omni_token_cache_stats_t   stats;
    unsigned char              secret[OMNI_SIPHASH_KEY_LEN];
};


static omni_token_cache_entry_t **omni_token_cache_bucket(
    omni_token_cache_t *cache, const unsigned char *key, const void *conf);
static omni_token_cache_entry_t *omni_token_cache_find(
    omni_token_cache_t *cache, const unsigned char *key, const void *conf);
static void omni_token_cache_unlink(omni_token_cache_t *cache,
    omni_token_cache_entry_t *e);
static void omni_token_cache_lru_remove(omni_token_cache_t *cache,
    omni_token_cache_entry_t *e);
static void omni_token_cache_lru_push(omni_token_cache_t *cache,
    omni_token_cache_entry_t *e);


omni_token_cache_t *
omni_token_cache_new(size_t max_entries, size_t max_bytes, time_t ttl,
    omni_token_cache_free_pt free_value)
{
    size_t               n;
    omni_token_cache_t  *cache;

    cache = calloc(1, sizeof(omni_token_cache_t));
    if (cache == NULL) {
        return NULL;
    }

    if (RAND_bytes(cache->secret, sizeof(cache->secret)) != 1) {
        free(cache);
        return NULL;
    }

    /* a power of two at least as large: one entry a bucket on average */
    for (n = 1; n < max_entries; n <<= 1) {
        /* void */
    }

    cache->buckets = calloc(n, sizeof(omni_token_cache_entry_t *));
    if (cache->buckets == NULL) {
        free(cache);
        return NULL;
    }

    cache->mask = n - 1;
    cache->max_entries = max_entries;
    cache->max_bytes = max_bytes;
    cache->ttl = ttl;
    cache->free_value = free_value;

    return cache;
}


void
omni_token_cache_free(omni_token_cache_t *cache)
{
    while (cache->newest != NULL) {
        omni_token_cache_unlink(cache, cache->newest);
    }

    free(cache->buckets);
    free(cache);
}


/*
 * A keyed hash rather than a digest such as SHA-256: the cache's secret
 * key makes two tokens that share a key as unlikely as guessing it (2^-128
 * a try), and the hash of a token takes about a seventh of SHA-256's
 * instructions, the largest cost of a cache hit before.
 */
void
omni_token_cache_key(const omni_token_cache_t *cache, const char *token,
    size_t len, unsigned char *key)
{
    omni_siphash128(cache->secret, token, len, key);
}


omni_token_cache_entry_t *
omni_token_cache_get(omni_token_cache_t *cache, const unsigned char *key,
    const void *conf, time_t now)
{
    omni_token_cache_entry_t  *e;

    e = omni_token_cache_find(cache, key, conf);

    if (e != NULL && now >= e->expires) {
        omni_token_cache_unlink(cache, e);
        cache->stats.expirations++;
        e = NULL;
    }

    if (e == NULL) {
        cache->stats.misses++;
        return NULL;
    }

    cache->stats.hits++;

    omni_token_cache_lru_remove(cache, e);
    omni_token_cache_lru_push(cache, e);

    e->refs++;

    return e;
}


omni_token_cache_entry_t *
omni_token_cache_put(omni_token_cache_t *cache, const unsigned char *key,
    const void *conf, void *value, size_t bytes, time_t expires, time_t now)
{
    omni_token_cache_entry_t  *e, *old, **bucket;

    e = malloc(sizeof(omni_token_cache_entry_t));
    if (e == NULL) {
        return NULL;
    }

    memcpy(e->key, key, OMNI_TOKEN_CACHE_KEY_LEN);
    e->conf = conf;
    e->value = value;
    e->free_value = cache->free_value;
    e->bytes = bytes + sizeof(omni_token_cache_entry_t);
    e->refs = 1;
    e->next = NULL;
    e->newer = NULL;
    e->older = NULL;

    /* time_t cannot overflow before the year 9999 that exp is bound to */
    e->expires = now + cache->ttl;

    if (expires != 0 && expires < e->expires) {
        e->expires = expires;
    }

    if (now >= e->expires || e->bytes > cache->max_bytes) {
        return e;
    }

    old = omni_token_cache_find(cache, key, conf);
    if (old != NULL) {
        omni_token_cache_unlink(cache, old);
    }

    while (cache->stats.entries >= cache->max_entries
           || cache->stats.bytes + e->bytes > cache->max_bytes)
    {
        omni_token_cache_unlink(cache, cache->oldest);
        cache->stats.evictions++;
    }

    bucket = omni_token_cache_bucket(cache, key, conf);
    e->next = *bucket;
    *bucket = e;

    omni_token_cache_lru_push(cache, e);

    /* one reference is the cache's, one the caller's */
    e->refs++;
    cache->stats.entries++;
    cache->stats.bytes += e->bytes;

    return e;
}


void *
omni_token_cache_value(const omni_token_cache_entry_t *entry)
{
    return entry->value;
}


void
omni_token_cache_release(omni_token_cache_entry_t *entry)
{
    if (--entry->refs == 0) {
        entry->free_value(entry->value);
        free(entry);
    }
}


const omni_token_cache_stats_t *
omni_token_cache_stats(const omni_token_cache_t *cache)
{
    return &cache->stats;
}


static omni_token_cache_entry_t **
omni_token_cache_bucket(omni_token_cache_t *cache, const unsigned char *key,
    const void *conf)
{
    size_t  h;

    /* a keyed hash is as good a hash as any; the conf spreads the rest */
    memcpy(&h, key, sizeof(size_t));
    h ^= (size_t) (uintptr_t) conf >> 4;

    return &cache->buckets[h & cache->mask];
}


static omni_token_cache_entry_t *
omni_token_cache_find(omni_token_cache_t *cache, const unsigned char *key,
    const void *conf)
{
    omni_token_cache_entry_t  *e;

    /* a key stands for a bearer token: compared in constant time */
    for (e = *omni_token_cache_bucket(cache, key, conf); e; e = e->next) {
        if (e->conf == conf
            && CRYPTO_memcmp(e->key, key, OMNI_TOKEN_CACHE_KEY_LEN) == 0)
        {
            return e;
        }
    }

    return NULL;
}


/* Out of the cache; the entry lives on while someone holds it. */

static void
omni_token_cache_unlink(omni_token_cache_t *cache,
    omni_token_cache_entry_t *e)
{
    omni_token_cache_entry_t  **p;

    for (p = omni_token_cache_bucket(cache, e->key, e->conf); *p != e;
         p = &(*p)->next)
    {
        /* void */
    }

    *p = e->next;

    omni_token_cache_lru_remove(cache, e);

    cache->stats.entries--;
    cache->stats.bytes -= e->bytes;

    omni_token_cache_release(e);
}


static void
omni_token_cache_lru_remove(omni_token_cache_t *cache,
    omni_token_cache_entry_t *e)
{
    if (e->newer != NULL) {
        e->newer->older = e->older;

    } else {
        cache->newest = e->older;
    }

    if (e->older != NULL) {
        e->older->newer = e->newer;

    } else {
        cache->oldest = e->newer;
    }

    e->newer = NULL;
    e->older = NULL;
}


static void
omni_token_cache_lru_push(omni_token_cache_t *cache,
    omni_token_cache_entry_t *e)
{
    e->older = cache->newest;
    e->newer = NULL;

    if (cache->newest != NULL) {
        cache->newest->newer = e;

    } else {
        cache->oldest = e;
    }

    cache->newest = e;
}
