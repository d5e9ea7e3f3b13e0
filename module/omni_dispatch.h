/*
 * Copyright (C) The omni gateway authors
 *
 * The workflow file (docs/dispatch.md): a JSON document validated in
 * full, every error with its JSON path, compiled once into read-only
 * tables.  What it holds so far: the rate limits, an ordered list of
 * limits matching a request by channel, customer tier and anonymous or
 * not, each with a rate and a burst; the first that matches is the
 * request's.
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
#define OMNI_DISPATCH_ID_MAX       64               /* a limit's id */
#define OMNI_DISPATCH_NAMES_MAX    16               /* channels, tiers */
#define OMNI_DISPATCH_CHANNEL_MAX  32
#define OMNI_DISPATCH_TIER_MAX     64
#define OMNI_DISPATCH_RATE_MAX     1000000
#define OMNI_DISPATCH_BURST_MAX    1000000

/* a limit's anonymous condition */
#define OMNI_DISPATCH_ANY          -1


typedef struct {
    char            id[OMNI_DISPATCH_ID_MAX + 1];
    int             unlimited;
    uint32_t        rate;           /* tokens a period */
    uint32_t        burst;          /* tokens at once */
    uint64_t        period_us;      /* a second, a minute or an hour */
    uint64_t        interval_us;    /* one token every */
    uint64_t        tolerance_us;   /* (burst - 1) intervals */

    /* what it matches; no entries: any */
    size_t          nchannels;
    char            channels[OMNI_DISPATCH_NAMES_MAX]
                            [OMNI_DISPATCH_CHANNEL_MAX + 1];
    size_t          ntiers;
    char            tiers[OMNI_DISPATCH_NAMES_MAX][OMNI_DISPATCH_TIER_MAX + 1];
    int             anonymous;      /* 0, 1 or OMNI_DISPATCH_ANY */
} omni_dispatch_limit_t;


typedef struct {
    size_t                   nlimits;
    omni_dispatch_limit_t   *limits;
} omni_dispatch_t;


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

/*
 * Whether a limit could match requests of channel whatever their tier:
 * the limits a location of that channel needs to look at.
 */
int omni_dispatch_limit_channel(const omni_dispatch_limit_t *l,
    const char *channel);


#endif /* OMNI_DISPATCH_H_INCLUDED_ */
