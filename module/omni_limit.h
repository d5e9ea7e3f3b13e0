/*
 * Copyright (C) The omni gateway authors
 *
 * Rate limits: one table of token buckets in a block of memory that
 * every worker maps (nginx's shared zone), a bucket per limit and caller,
 * found by a seeded 64-bit hash of both.  A bucket is the generic cell
 * rate algorithm's one number, the theoretical arrival time: a request at
 * now passes when tat - now <= tolerance, and moves tat on by one
 * interval.  A bucket whose tat is past is full again, the same as no
 * bucket at all, so its slot may go to another caller without anyone
 * gaining or losing a token.
 *
 * The table does not lock: the caller holds a lock around every call that
 * takes (the glue holds the zone's slab mutex, which nginx's master
 * releases when a worker dies).
 *
 * The same room keeps dispatch affinity: the pool that last served a
 * caller, in another such table, found by a hash of the caller alone,
 * forgotten after a time.  A table of preferences, not of state: when it
 * is full the oldest of the slots looked at is replaced.
 *
 * Knows nothing of NGINX.
 */

#ifndef OMNI_LIMIT_H_INCLUDED_
#define OMNI_LIMIT_H_INCLUDED_


#include <stddef.h>
#include <stdint.h>


#define OMNI_LIMIT_PROBES  16       /* slots looked at for one bucket */


typedef enum {
    OMNI_LIMIT_PASS = 0,            /* a token taken */
    OMNI_LIMIT_OVER,                /* no token: *wait_us says how long */
    OMNI_LIMIT_UNTRACKED            /* no slot free: passes, uncounted */
} omni_limit_rc_t;


typedef struct omni_limit_table_s  omni_limit_table_t;


/*
 * The size of a table of that many slots, and the number of slots a block
 * of size bytes holds (0: too small).
 */
size_t omni_limit_size(size_t slots);
size_t omni_limit_capacity(size_t size);

/*
 * Lays the table out in mem (size bytes, 8-byte aligned) with seed for
 * its hash, or keeps the table already there (an nginx reload: *kept 1,
 * the seed and the buckets of the first layout stay).  NULL when size is
 * too small.
 */
omni_limit_table_t *omni_limit_init(void *mem, size_t size, uint64_t seed,
    int *kept);

/*
 * The bucket of a limit (its id) and a caller: the kind of key (a letter
 * of the caller's choosing), and the key in one or two parts (a type and
 * a value; b_len 0 for one part).
 */
uint64_t omni_limit_hash(const omni_limit_table_t *t, const char *id,
    size_t id_len, int kind, const char *a, size_t a_len, const char *b,
    size_t b_len);

/*
 * Takes a token from the bucket of hash at now_us (a clock every process
 * shares, CLOCK_MONOTONIC), one every interval_us, up to burst at once
 * (tolerance_us = (burst - 1) * interval_us).  On OMNI_LIMIT_OVER,
 * *wait_us is how long until the next token.
 */
omni_limit_rc_t omni_limit_take(omni_limit_table_t *t, uint64_t hash,
    uint64_t now_us, uint64_t interval_us, uint64_t tolerance_us,
    uint64_t *wait_us);

/* slots in use (buckets not yet full again at now_us), and all slots */
size_t omni_limit_used(const omni_limit_table_t *t, uint64_t now_us);
size_t omni_limit_slots(const omni_limit_table_t *t);


#define OMNI_AFFINITY_PROBES  8         /* slots looked at for a caller */


typedef struct omni_affinity_s  omni_affinity_t;


size_t omni_affinity_size(size_t slots);
size_t omni_affinity_capacity(size_t size);

/* as omni_limit_init() */
omni_affinity_t *omni_affinity_init(void *mem, size_t size, uint64_t seed,
    int *kept);

/* the key's hash, in two parts as omni_limit's (b_len 0: one part) */
uint64_t omni_affinity_hash(const omni_affinity_t *a, int kind,
    const char *key, size_t len, const char *b, size_t b_len);

/* the pool set for hash less than ttl seconds before now, or -1 */
int omni_affinity_get(const omni_affinity_t *a, uint64_t hash, uint32_t now,
    uint32_t ttl);

void omni_affinity_set(omni_affinity_t *a, uint64_t hash, uint32_t pool,
    uint32_t now);


#endif /* OMNI_LIMIT_H_INCLUDED_ */
