/*
 * Copyright (C) The omni gateway authors
 *
 * The rate limits' table of buckets (omni_limit.h): open addressing over
 * a fixed array of slots, OMNI_LIMIT_PROBES looked at for a bucket, a
 * slot whose bucket is full again reused.  A slot is never emptied, so a
 * probe stops at the first slot never used.  The affinity table is laid
 * out and hashed the same way; a new caller there takes a slot never
 * used, else the oldest of those looked at.
 */


#include <string.h>

#include "omni_limit.h"
#include "omni_str.h"


#define OMNI_LIMIT_MAGIC     UINT64_C(0x6f6d6e696c696d31)   /* "omnilim1" */
#define OMNI_AFFINITY_MAGIC  UINT64_C(0x6f6d6e6961666631)   /* "omniaff1" */


typedef struct {
    uint64_t            hash;           /* 0: never used */
    uint64_t            tat;            /* µs of the shared clock */
} omni_limit_slot_t;


typedef struct {
    uint64_t            hash;           /* 0: never used */
    uint32_t            pool;
    uint32_t            when;           /* s of the caller's clock */
} omni_affinity_slot_t;


/* what both tables start with */
typedef struct {
    uint64_t            magic;
    uint64_t            nslots;
    uint64_t            seed;
    uint64_t            pad;
} omni_table_head_t;


struct omni_limit_table_s {
    omni_table_head_t   head;
    omni_limit_slot_t   slots[];
};


struct omni_affinity_s {
    omni_table_head_t      head;
    omni_affinity_slot_t   slots[];
};


static void *omni_table_init(void *mem, size_t size, size_t slot,
    uint64_t magic, uint64_t seed, int *kept);
static uint64_t omni_table_hash(uint64_t seed, const char *id, size_t id_len,
    int kind, const char *a, size_t a_len, const char *b, size_t b_len);


size_t
omni_limit_size(size_t slots)
{
    return sizeof(omni_limit_table_t) + slots * sizeof(omni_limit_slot_t);
}


size_t
omni_limit_capacity(size_t size)
{
    if (size < omni_limit_size(1)) {
        return 0;
    }

    return (size - sizeof(omni_limit_table_t)) / sizeof(omni_limit_slot_t);
}


omni_limit_table_t *
omni_limit_init(void *mem, size_t size, uint64_t seed, int *kept)
{
    return omni_table_init(mem, size, sizeof(omni_limit_slot_t),
                           OMNI_LIMIT_MAGIC, seed, kept);
}


uint64_t
omni_limit_hash(const omni_limit_table_t *t, const char *id, size_t id_len,
    int kind, const char *a, size_t a_len, const char *b, size_t b_len)
{
    return omni_table_hash(t->head.seed, id, id_len, kind, a, a_len, b,
                           b_len);
}


/* a table's slots laid out after its head, or kept with the same count */
static void *
omni_table_init(void *mem, size_t size, size_t slot, uint64_t magic,
    uint64_t seed, int *kept)
{
    size_t              n;
    omni_table_head_t  *head;

    *kept = 0;

    if (size < sizeof(omni_table_head_t) + slot
        || ((uintptr_t) mem & 7) != 0)
    {
        return NULL;
    }

    n = (size - sizeof(omni_table_head_t)) / slot;
    head = mem;

    if (head->magic == magic && head->nslots == n) {
        *kept = 1;
        return head;
    }

    memset(head, 0, sizeof(omni_table_head_t) + n * slot);
    head->nslots = n;
    head->seed = seed;
    head->magic = magic;

    return head;
}


/* the seed, the id, the kind and the parts with their lengths, mixed */
static uint64_t
omni_table_hash(uint64_t seed, const char *id, size_t id_len, int kind,
    const char *a, size_t a_len, const char *b, size_t b_len)
{
    uint64_t  h;

    h = omni_hash_bytes(UINT64_C(0xcbf29ce484222325) ^ seed, id, id_len);

    /* lengths between the parts: ("ab", "c") is not ("a", "bc") */
    h = omni_hash_bytes(h ^ ((uint64_t) id_len << 8 | (unsigned char) kind),
                       a, a_len);
    h = omni_hash_bytes(h ^ (uint64_t) a_len, b, b_len);
    h ^= (uint64_t) b_len;

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
    at = (size_t) (hash % t->head.nslots);

    for (i = 0; i < OMNI_LIMIT_PROBES && i < t->head.nslots; i++) {
        slot = &t->slots[(at + i) % t->head.nslots];

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

    for (i = 0; i < t->head.nslots; i++) {
        if (t->slots[i].hash != 0 && t->slots[i].tat > now_us) {
            n++;
        }
    }

    return n;
}


size_t
omni_limit_slots(const omni_limit_table_t *t)
{
    return (size_t) t->head.nslots;
}


size_t
omni_affinity_size(size_t slots)
{
    return sizeof(omni_affinity_t) + slots * sizeof(omni_affinity_slot_t);
}


size_t
omni_affinity_capacity(size_t size)
{
    if (size < omni_affinity_size(1)) {
        return 0;
    }

    return (size - sizeof(omni_affinity_t)) / sizeof(omni_affinity_slot_t);
}


omni_affinity_t *
omni_affinity_init(void *mem, size_t size, uint64_t seed, int *kept)
{
    return omni_table_init(mem, size, sizeof(omni_affinity_slot_t),
                           OMNI_AFFINITY_MAGIC, seed, kept);
}


uint64_t
omni_affinity_hash(const omni_affinity_t *a, int kind, const char *key,
    size_t len, const char *b, size_t b_len)
{
    return omni_table_hash(a->head.seed, NULL, 0, kind, key, len, b, b_len);
}


int
omni_affinity_get(const omni_affinity_t *a, uint64_t hash, uint32_t now,
    uint32_t ttl)
{
    size_t                       i;
    const omni_affinity_slot_t  *s;

    for (i = 0; i < OMNI_AFFINITY_PROBES && i < a->head.nslots; i++) {
        s = &a->slots[(hash + i) % a->head.nslots];

        if (s->hash == hash) {
            return (now - s->when < ttl) ? (int) s->pool : -1;
        }

        if (s->hash == 0) {
            break;
        }
    }

    return -1;
}


void
omni_affinity_set(omni_affinity_t *a, uint64_t hash, uint32_t pool,
    uint32_t now)
{
    size_t                 i;
    omni_affinity_slot_t  *s, *oldest;

    oldest = NULL;

    for (i = 0; i < OMNI_AFFINITY_PROBES && i < a->head.nslots; i++) {
        s = &a->slots[(hash + i) % a->head.nslots];

        if (s->hash == hash || s->hash == 0) {
            oldest = s;
            break;
        }

        if (oldest == NULL || now - s->when > now - oldest->when) {
            oldest = s;
        }
    }

    oldest->hash = hash;
    oldest->pool = pool;
    oldest->when = now;
}
