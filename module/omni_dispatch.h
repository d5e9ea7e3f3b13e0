/*
 * Copyright (C) The omni gateway authors
 *
 * The workflow file (docs/dispatch.md): a JSON document validated in
 * full, every error with its JSON path, compiled once into read-only
 * tables.  It holds the rate limits, an ordered list matching a request
 * by channel, customer tier and anonymous or not, each with a rate and a
 * burst; and the dispatch: pools (each an nginx upstream with a capacity
 * of requests in flight), ordered rules matching a request by channel,
 * action, tier, anonymity and intent, each naming pools tried in order
 * with conditions, and a default.  The first limit and the first rule
 * that match a request are its own.
 *
 * Knows nothing of NGINX; allocates only when compiling.
 */

#ifndef OMNI_DISPATCH_H_INCLUDED_
#define OMNI_DISPATCH_H_INCLUDED_


#include <stddef.h>
#include <stdint.h>


#define OMNI_DISPATCH_SIZE_MAX     (1024 * 1024)    /* bytes of JSON */
#define OMNI_DISPATCH_ERRORS_MAX   100              /* errors reported */
#define OMNI_DISPATCH_LIMITS_MAX   64
#define OMNI_DISPATCH_RULES_MAX    256
#define OMNI_DISPATCH_POOLS_MAX    64
#define OMNI_DISPATCH_TARGETS_MAX  8                /* pools of a rule */
#define OMNI_DISPATCH_ID_MAX       64               /* ids, pool names */
#define OMNI_DISPATCH_UPSTREAM_MAX 128
#define OMNI_DISPATCH_NAMES_MAX    16               /* of each list */
#define OMNI_DISPATCH_CHANNEL_MAX  32
#define OMNI_DISPATCH_TIER_MAX     64
#define OMNI_DISPATCH_ACTION_MAX   128              /* actions, intents */
#define OMNI_DISPATCH_RATE_MAX     1000000
#define OMNI_DISPATCH_BURST_MAX    1000000
#define OMNI_DISPATCH_CAPACITY_MAX 1000000
#define OMNI_DISPATCH_AFFINITY_MAX 86400            /* s */
#define OMNI_DISPATCH_AFFINITY_DEFAULT 1800             /* s, by default */

/* a condition on anonymity or an open case: either */
#define OMNI_DISPATCH_ANY          -1
/* no confidence reported */
#define OMNI_DISPATCH_NO_CONFIDENCE  -1.0


/* What a limit or a rule matches; a list without entries: any. */
typedef struct {
    size_t          nchannels;
    char            channels[OMNI_DISPATCH_NAMES_MAX]
                            [OMNI_DISPATCH_CHANNEL_MAX + 1];
    size_t          ntiers;
    char            tiers[OMNI_DISPATCH_NAMES_MAX][OMNI_DISPATCH_TIER_MAX + 1];
    int             anonymous;      /* 0, 1 or OMNI_DISPATCH_ANY */
    int             open_case;      /* rules: 0, 1 or OMNI_DISPATCH_ANY */
    /* patterns: "*", "a.b", "a.*" */
    size_t          nactions;
    char            actions[OMNI_DISPATCH_NAMES_MAX]
                           [OMNI_DISPATCH_ACTION_MAX + 1];
    size_t          nintents;
    char            intents[OMNI_DISPATCH_NAMES_MAX]
                           [OMNI_DISPATCH_ACTION_MAX + 1];
    double          confidence_min; /* with intents; 0: any */
} omni_dispatch_match_t;


typedef struct {
    char                    id[OMNI_DISPATCH_ID_MAX + 1];
    int                     unlimited;
    uint32_t                rate;           /* tokens a period */
    uint32_t                burst;          /* tokens at once */
    uint64_t                period_us;      /* a second, a minute, an hour */
    uint64_t                interval_us;    /* one token every */
    uint64_t                tolerance_us;   /* (burst - 1) intervals */
    omni_dispatch_match_t   match;          /* channels, tiers, anonymous */
} omni_dispatch_limit_t;


typedef struct {
    char            name[OMNI_DISPATCH_ID_MAX + 1];
    char            upstream[OMNI_DISPATCH_UPSTREAM_MAX + 1];
    uint32_t        capacity;       /* requests in flight at most */
    int             bot;            /* "kind": "bot" (else "people") */
    /* "channels": requests in flight at most on these channels, within
       the capacity */
    size_t          nchannels;
    char            channels[OMNI_DISPATCH_NAMES_MAX]
                            [OMNI_DISPATCH_CHANNEL_MAX + 1];
    uint32_t        channel_capacity[OMNI_DISPATCH_NAMES_MAX];
} omni_dispatch_pool_t;


typedef struct {
    uint32_t        pool;           /* index in pools */
    uint32_t        in_flight_below;    /* 0: no such condition */
} omni_dispatch_target_t;


typedef struct {
    char                    id[OMNI_DISPATCH_ID_MAX + 1];
    omni_dispatch_match_t   match;
    size_t                  ntargets;
    omni_dispatch_target_t  targets[OMNI_DISPATCH_TARGETS_MAX];
} omni_dispatch_rule_t;


/* the rules that can match the requests of one channel, in order */
typedef struct {
    char                     channel[OMNI_DISPATCH_CHANNEL_MAX + 1];
    size_t                   nrules;
    uint16_t                *rules;     /* indexes, the default's last */
} omni_dispatch_set_t;


typedef struct {
    size_t                   nlimits;
    omni_dispatch_limit_t   *limits;
    size_t                   npools;
    omni_dispatch_pool_t    *pools;
    size_t                   nrules;
    omni_dispatch_rule_t    *rules;     /* the default last, id "default" */
    /* one set per channel a rule names, then one for every other
       channel (sets[nsets]): a decision scans its channel's set only */
    size_t                   nsets;
    omni_dispatch_set_t     *sets;
    uint16_t                *set_rules;
    double                   bot_confidence_min;
    uint32_t                 affinity_seconds;  /* 0: no affinity */
} omni_dispatch_t;


/* A request as the dispatch sees it; strings NUL-terminated, NULL: none. */
typedef struct {
    const char     *channel;
    const char     *action;
    const char     *tier;
    int             anonymous;
    int             open_case;      /* the customer has an open case */
    const char     *intent;
    double          confidence;     /* 0..1, or OMNI_DISPATCH_NO_CONFIDENCE */
    int             affinity;       /* the pool that last served, or -1 */
    /* the pools' capacities set live (capacity[i] for pools[i]), or NULL:
       the file's */
    const uint32_t *capacity;
    /* for a pool with a capacity on the request's channel: its requests
       in flight on that channel (NULL: none), and that capacity set live
       (NULL: the file's) */
    const uint32_t *channel_in_flight;
    const uint32_t *channel_capacity;
} omni_dispatch_req_t;


typedef enum {
    OMNI_DISPATCH_FIRST = 0,        /* the rule's first target */
    OMNI_DISPATCH_OVERFLOW,         /* a later target: those before were
                                       full or did not apply */
    OMNI_DISPATCH_AFFINITY,         /* the pool that last served the
                                       customer, one of the rule's */
    OMNI_DISPATCH_NO_CAPACITY       /* every target full: pool -1 */
} omni_dispatch_reason_t;


typedef struct {
    int                      pool;      /* index, -1: no_capacity */
    const char              *rule;      /* id, "default" */
    int                      step;      /* the target's index in the rule */
    omni_dispatch_reason_t   reason;
    /* why each target before was passed over (explain) */
    const char              *skipped[OMNI_DISPATCH_TARGETS_MAX];
} omni_dispatch_decision_t;


/*
 * Validates and compiles a workflow file.  On failure returns NULL and
 * *errors (malloc()ed, to free()) lists every error found, one per line
 * without a final newline, each naming where: "rate_limits[1].per must
 * be \"second\", \"minute\" or \"hour\"", ...; past
 * OMNI_DISPATCH_ERRORS_MAX a last line "N more errors not listed".  Out
 * of memory: NULL and *errors NULL.  errors may be NULL.
 */
omni_dispatch_t *omni_dispatch_compile(const char *json, size_t len,
    char **errors);
void omni_dispatch_free(omni_dispatch_t *d);

/*
 * The first limit that matches a request on channel (NUL-terminated),
 * with tier (NULL: none) and anonymous or not; NULL when none does.
 */
const omni_dispatch_limit_t *omni_dispatch_limit(const omni_dispatch_t *d,
    const char *channel, const char *tier, int anonymous);

/* whether a limit or rule could match requests of channel */
int omni_dispatch_match_channel(const omni_dispatch_match_t *m,
    const char *channel);

/*
 * Decides where a request goes, given each pool's requests in flight
 * (in_flight[i] for pools[i]); never fails, never allocates.  Returns the
 * rule's index.  Without pools (a file of rate limits only): -1.
 */
int omni_dispatch_decide(const omni_dispatch_t *d,
    const omni_dispatch_req_t *req, const uint32_t *in_flight,
    omni_dispatch_decision_t *out);

const char *omni_dispatch_reason(omni_dispatch_reason_t reason);

/* the pool named so, or -1 */
int omni_dispatch_pool(const omni_dispatch_t *d, const char *name,
    size_t len);

/*
 * A summary of what changed between two valid workflows, as compact JSON
 * text (malloc()ed): {"pools": {"added", "removed", "changed"}, "rules":
 * {"added", "removed", "changed", "reordered"}, "rate_limits": {the
 * same}, "settings": {"affinity_seconds": {"from", "to"}, ...}}.  Pools
 * by name, rules (the default as "default") and rate limits by id,
 * "changed" for any other content; "reordered" when the ids in both come
 * in another order; settings (version, description, bot_confidence_min,
 * affinity_seconds) that differ, null for absent.  NULL when either is
 * not a valid workflow or memory ran out.
 */
char *omni_dispatch_diff(const char *from, size_t from_len, const char *to,
    size_t to_len);

/* the index of channel (NUL-terminated) in the pool's "channels", or -1 */
int omni_dispatch_pool_channel(const omni_dispatch_pool_t *pool,
    const char *channel);


#endif /* OMNI_DISPATCH_H_INCLUDED_ */
