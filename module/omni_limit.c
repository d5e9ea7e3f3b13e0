/*
 * Copyright (C) The omni gateway authors
 *
 * The rate limits' table of buckets (omni_limit.h): open addressing over
 * a fixed array of slots, OMNI_LIMIT_PROBES looked at for a bucket, a
 * slot whose bucket is full again reused.  A slot is never emptied, so a
 * probe stops at the first slot never used.
 */


#include <string.h>

#include "omni_limit.h"


#define OMNI_LIMIT_MAGIC  UINT64_C(0x6f6d6e696c696d31)      /* "omnilim1" */


typedef struct {
    uint64_t            hash;           /* 0: never used */
    uint64_t            tat;            /* µs of the shared clock */
} omni_limit_slot_t;


struct omni_limit_table_s {
    uint64_t            magic;
    uint64_t            nslots;
    uint64_t            seed;
    uint64_t            pad;
    omni_limit_slot_t   slots[];
};


static uint64_t
omni_limit_fnv(uint64_t h, const char *p, size_t len)
{
    size_t  i;

    for (i = 0; i < len; i++) {
        h = (h ^ (unsigned char) p[i]) * UINT64_C(0x100000001b3);
    }

    return h;
}


size_t
omni_limit_size(size_t slots)
{
    return sizeof(omni_limit_table_t) + slots * sizeof(omni_limit_slot_t);
}


size_t
omni_limit_capacity(size_t size)
{
    if (size < sizeof(omni_limit_table_t) + sizeof(omni_limit_slot_t)) {
        return 0;
    }

    return (size - sizeof(omni_limit_table_t)) / sizeof(omni_limit_slot_t);
}


omni_limit_table_t *
omni_limit_init(void *mem, size_t size, uint64_t seed, int *kept)
{
    size_t               n;
    omni_limit_table_t  *t;

    n = omni_limit_capacity(size);
    *kept = 0;

    if (n == 0 || ((uintptr_t) mem & 7) != 0) {
        return NULL;
    }

    t = mem;

    if (t->magic == OMNI_LIMIT_MAGIC && t->nslots == n) {
        *kept = 1;
        return t;
    }

    memset(t, 0, omni_limit_size(n));
    t->nslots = n;
    t->seed = seed;
    t->magic = OMNI_LIMIT_MAGIC;

    return t;
}


/* FNV-1a over the seed, the id, a separator and the key, then mixed */
uint64_t
omni_limit_hash(const omni_limit_table_t *t, const char *id, size_t id_len,
    int kind, const char *a, size_t a_len, const char *b, size_t b_len)
{
    uint64_t  h;

    h = omni_limit_fnv(UINT64_C(0xcbf29ce484222325) ^ t->seed, id, id_len);

    /* lengths between the parts: ("ab", "c") is not ("a", "bc") */
    h = (h ^ (unsigned char) kind) * UINT64_C(0x100000001b3);
    h = (h ^ (uint64_t) a_len) * UINT64_C(0x100000001b3);
    h = omni_limit_fnv(h, a, a_len);
    h = (h ^ (uint64_t) b_len) * UINT64_C(0x100000001b3);
    h = omni_limit_fnv(h, b, b_len);

    /* splitmix64's finalizer: every bit of h reaches the slot index */
    h ^= h >> 30;
    h *= UINT64_C(0xbf58476d1ce4e5b9);
    h ^= h >> 27;
    h *= UINT64_C(0x94d049bb133111eb);
    h ^= h >> 31;

    return h ? h : 1;
}


omni_limit_rc_t
omni_limit_take(omni_limit_table_t *t, uint64_t hash, uint64_t now_us,
    uint64_t interval_us, uint64_t tolerance_us, uint64_t *wait_us)
{
    size_t              i, at;
    uint64_t            tat;
    omni_limit_slot_t  *slot, *reuse;

    slot = NULL;
    reuse = NULL;
    at = (size_t) (hash % t->nslots);

    for (i = 0; i < OMNI_LIMIT_PROBES && i < t->nslots; i++) {
        slot = &t->slots[(at + i) % t->nslots];

        if (slot->hash == hash) {
            break;
        }

        if (slot->hash == 0) {
            if (reuse == NULL) {
                reuse = slot;
            }

            slot = NULL;
            break;
        }

        if (reuse == NULL && slot->tat <= now_us) {
            reuse = slot;
        }

        slot = NULL;
    }

    if (slot == NULL) {
        if (reuse == NULL) {
            return OMNI_LIMIT_UNTRACKED;
        }

        slot = reuse;
        slot->hash = hash;
        slot->tat = now_us;
    }

    tat = (slot->tat > now_us) ? slot->tat : now_us;

    if (tat - now_us > tolerance_us) {
        *wait_us = tat - now_us - tolerance_us;
        return OMNI_LIMIT_OVER;
    }

    slot->tat = tat + interval_us;

    return OMNI_LIMIT_PASS;
}


size_t
omni_limit_used(const omni_limit_table_t *t, uint64_t now_us)
{
    size_t  i, n;

    n = 0;

    for (i = 0; i < t->nslots; i++) {
        if (t->slots[i].hash != 0 && t->slots[i].tat > now_us) {
            n++;
        }
    }

    return n;
}


size_t
omni_limit_slots(const omni_limit_table_t *t)
{
    return (size_t) t->nslots;
}
