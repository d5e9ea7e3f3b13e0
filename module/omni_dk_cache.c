/*
 * Copyright (C) The omni gateway authors
 *
 * The data-key cache (omni_dk_cache.h): entries in one array allocated
 * with the cache, found through hash chains, in a least-recently-used
 * list; no allocation after omni_dk_cache_new().
 */


#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "omni_dk_cache.h"


#define OMNI_DK_NONE  UINT32_MAX


typedef struct {
    unsigned char    wrapped[OMNI_SEAL_WRAPPED_LEN];
    unsigned char    dk[OMNI_SEAL_KEY_LEN];
    uint32_t         chain;          /* the next entry of its bucket */
    uint32_t         newer;          /* the LRU list, newest at head */
    uint32_t         older;
} omni_dk_entry_t;


struct omni_dk_cache_s {
    omni_dk_entry_t       *entries;
    uint32_t              *buckets;
    uint32_t               mask;     /* buckets - 1 */
    uint32_t               cap;
    uint32_t               used;     /* entries [0, used) are in use */
    uint32_t               head;
    uint32_t               tail;
    omni_dk_cache_stats_t  stats;
};


static uint32_t omni_dk_bucket(const omni_dk_cache_t *c,
    const unsigned char *wrapped);
static uint32_t omni_dk_find(const omni_dk_cache_t *c,
    const unsigned char *wrapped);
static void omni_dk_unchain(omni_dk_cache_t *c, uint32_t i);
static void omni_dk_unlink(omni_dk_cache_t *c, uint32_t i);
static void omni_dk_push(omni_dk_cache_t *c, uint32_t i);


omni_dk_cache_t *
omni_dk_cache_new(size_t max_entries)
{
    size_t            nb;
    omni_dk_cache_t  *c;

    if (max_entries == 0 || max_entries > OMNI_DK_CACHE_MAX) {
        return NULL;
    }

    c = calloc(1, sizeof(omni_dk_cache_t));
    if (c == NULL) {
        return NULL;
    }

    for (nb = 1; nb < max_entries; nb <<= 1) {
        /* void */
    }

    c->entries = calloc(max_entries, sizeof(omni_dk_entry_t));
    c->buckets = malloc(nb * sizeof(uint32_t));

    if (c->entries == NULL || c->buckets == NULL) {
        free(c->entries);
        free(c->buckets);
        free(c);
        return NULL;
    }

    memset(c->buckets, 0xff, nb * sizeof(uint32_t));

    c->mask = (uint32_t) nb - 1;
    c->cap = (uint32_t) max_entries;
    c->head = OMNI_DK_NONE;
    c->tail = OMNI_DK_NONE;

    return c;
}


void
omni_dk_cache_free(omni_dk_cache_t *c)
{
    if (c == NULL) {
        return;
    }

    OPENSSL_cleanse(c->entries, (size_t) c->cap * sizeof(omni_dk_entry_t));

    free(c->entries);
    free(c->buckets);
    free(c);
}


int
omni_dk_cache_get(omni_dk_cache_t *c, const unsigned char *wrapped,
    unsigned char dk[OMNI_SEAL_KEY_LEN])
{
    uint32_t  i;

    i = omni_dk_find(c, wrapped);

    if (i == OMNI_DK_NONE) {
        c->stats.misses++;
        return 0;
    }

    c->stats.hits++;

    if (c->head != i) {
        omni_dk_unlink(c, i);
        omni_dk_push(c, i);
    }

    memcpy(dk, c->entries[i].dk, OMNI_SEAL_KEY_LEN);

    return 1;
}


void
omni_dk_cache_put(omni_dk_cache_t *c, const unsigned char *wrapped,
    const unsigned char dk[OMNI_SEAL_KEY_LEN])
{
    uint32_t          i, b;
    omni_dk_entry_t  *e;

    i = omni_dk_find(c, wrapped);

    if (i != OMNI_DK_NONE) {
        omni_dk_unlink(c, i);

    } else {
        if (c->used < c->cap) {
            i = c->used++;

        } else {
            i = c->tail;
            omni_dk_unlink(c, i);
            omni_dk_unchain(c, i);
            c->stats.evictions++;
        }

        e = &c->entries[i];
        memcpy(e->wrapped, wrapped, OMNI_SEAL_WRAPPED_LEN);

        b = omni_dk_bucket(c, wrapped);
        e->chain = c->buckets[b];
        c->buckets[b] = i;
    }

    memcpy(c->entries[i].dk, dk, OMNI_SEAL_KEY_LEN);
    omni_dk_push(c, i);

    c->stats.entries = c->used;
}


void
omni_dk_cache_clear(omni_dk_cache_t *c)
{
    OPENSSL_cleanse(c->entries, (size_t) c->cap * sizeof(omni_dk_entry_t));
    memset(c->buckets, 0xff, ((size_t) c->mask + 1) * sizeof(uint32_t));

    c->used = 0;
    c->head = OMNI_DK_NONE;
    c->tail = OMNI_DK_NONE;
    c->stats.entries = 0;
}


const omni_dk_cache_stats_t *
omni_dk_cache_stats(const omni_dk_cache_t *c)
{
    return &c->stats;
}


/* The wrapped key's nonce is random: its first bytes are a hash already. */

static uint32_t
omni_dk_bucket(const omni_dk_cache_t *c, const unsigned char *wrapped)
{
    uint32_t  h;

    memcpy(&h, wrapped + 5, sizeof(uint32_t));

    return h & c->mask;
}


static uint32_t
omni_dk_find(const omni_dk_cache_t *c, const unsigned char *wrapped)
{
    uint32_t  i;

    for (i = c->buckets[omni_dk_bucket(c, wrapped)];
         i != OMNI_DK_NONE;
         i = c->entries[i].chain)
    {
        if (memcmp(c->entries[i].wrapped, wrapped, OMNI_SEAL_WRAPPED_LEN)
            == 0)
        {
            return i;
        }
    }

    return OMNI_DK_NONE;
}


/* Takes entry i out of its bucket's chain, its key zeroed. */

static void
omni_dk_unchain(omni_dk_cache_t *c, uint32_t i)
{
    uint32_t  *p;

    for (p = &c->buckets[omni_dk_bucket(c, c->entries[i].wrapped)];
         *p != i;
         p = &c->entries[*p].chain)
    {
        /* void */
    }

    *p = c->entries[i].chain;

    OPENSSL_cleanse(c->entries[i].dk, OMNI_SEAL_KEY_LEN);
}


static void
omni_dk_unlink(omni_dk_cache_t *c, uint32_t i)
{
    omni_dk_entry_t  *e;

    e = &c->entries[i];

    if (e->newer != OMNI_DK_NONE) {
        c->entries[e->newer].older = e->older;

    } else {
        c->head = e->older;
    }

    if (e->older != OMNI_DK_NONE) {
        c->entries[e->older].newer = e->newer;

    } else {
        c->tail = e->newer;
    }
}


static void
omni_dk_push(omni_dk_cache_t *c, uint32_t i)
{
    omni_dk_entry_t  *e;

    e = &c->entries[i];
    e->newer = OMNI_DK_NONE;
    e->older = c->head;

    if (c->head != OMNI_DK_NONE) {
        c->entries[c->head].newer = i;
    }

    c->head = i;

    if (c->tail == OMNI_DK_NONE) {
        c->tail = i;
    }
}
