/*
 * Copyright (C) The omni gateway authors
 *
 * The policy engine's private header, included only by omni_policy*.c:
 * the other cores and the glue know omni_policy.h alone.  It holds the
 * compiled policy, the build state the two compiling files share, the
 * helpers one room of the engine calls in another, and the hashes the
 * action index is built and probed with (inline: a decision computes
 * them for every key it tries).  The rooms:
 *
 *   omni_policy.c          compile(), free(): the document validated into
 *                          the tables, every error with its JSON path
 *   omni_policy_build.c    the passes after validation (role links, rule
 *                          ids, cycles, closures, the action index) and
 *                          the build state: errors, the string arena
 *   omni_policy_decide.c   decide(), explain(), a role by its name
 *   omni_policy_scope.c    has_scopes(), apply_scopes()
 *   omni_policy_diff.c     diff()
 *
 * The compiled policy.  Strings live in one arena (strs) and are named by
 * their offset in it; every other table is a flat array:
 *
 *   roles     in file order; the rules of a role are contiguous in rules
 *   rules     in file order, role after role: the "policy order"
 *   refs      inherited role indices, channel and tier name offsets
 *   closure   per role, itself then every role it inherits, breadth first
 *   keys      the action index: (role, kind, key) -> a run of lists
 *   lists     rule indices, ascending: the first match in a run is the
 *             first in policy order
 *   scopes    per role, the reply paths it removes or masks; their
 *   segs      path segments
 *
 * Two open-addressing tables (power-of-two sizes, at most half full; a slot
 * holds an index plus one, 0 is empty) map role names to roles and
 * (role, kind, key) to keys.  Compiling validates the whole JSON, and
 * builds closures and the action index only when no error was found; a
 * decision then hashes the action and its dotted prefixes once and, for
 * each role of the caller's closure, tests the role's filter and probes
 * the table only for keys it may have: no parsing, no allocation, no scan
 * over rules that cannot match.
 */

#ifndef OMNI_POLICY_INT_H_INCLUDED_
#define OMNI_POLICY_INT_H_INCLUDED_


#include <stddef.h>
#include <stdint.h>

#include "omni_policy.h"


#define OMNI_POLICY_NAME_MAX     128      /* a role name, as a token role */
#define OMNI_POLICY_ACTION_MAX   128      /* bytes, as contract actions */
#define OMNI_POLICY_DEPTH        32       /* segments of a scope path */
#define OMNI_POLICY_SEGMENT_MAX  128      /* bytes of a segment */
#define OMNI_POLICY_MSG_MAX      1024
#define OMNI_POLICY_BLOOM        256      /* bits per role: a key's bit is
                                             set when the role has it */
#define OMNI_POLICY_NONE         UINT32_MAX
#define OMNI_POLICY_DUMP         (JSON_COMPACT | JSON_PRESERVE_ORDER)
#define OMNI_POLICY_LOAD         (JSON_REJECT_DUPLICATES | JSON_DECODE_ANY)

/* the kinds of action patterns, bits of omni_prole_t.kinds */
#define OMNI_PKIND_EXACT         0x01     /* "order.refund" */
#define OMNI_PKIND_PREFIX        0x02     /* "order.*": key "order" */
#define OMNI_PKIND_ANY           0x04     /* "*": key "" */

#define OMNI_FNV_BASIS           UINT64_C(14695981039346656037)
#define OMNI_FNV_PRIME           UINT64_C(1099511628211)

/*
 * Where an error is, to list errors in the order of the file: the top
 * level first, then role by role its own keys and inherits, its rules,
 * its scopes, whichever pass found them.
 */
#define OMNI_PWHERE_ROLE         0
#define OMNI_PWHERE_RULES        1
#define OMNI_PWHERE_SCOPES       2
#define omni_policy_where(role, part)  (((size_t) (role) + 1) * 4 + (part))


typedef struct {
    uint32_t            name;         /* offset in strs */
    uint32_t            inherits;     /* first in refs */
    uint32_t            ninherits;
    uint32_t            closure;      /* first in closure */
    uint32_t            nclosure;
    uint32_t            rules;        /* first rule */
    uint32_t            nrules;
    uint32_t            scopes;       /* first in scopes */
    uint32_t            nscopes;
    unsigned            kinds;        /* OMNI_PKIND_* of its patterns */
    uint64_t            bloom[OMNI_POLICY_BLOOM / 64];   /* of its keys */
} omni_prole_t;


typedef struct {
    uint32_t            id;           /* offset in strs, NONE if invalid */
    uint32_t            role;
    uint32_t            channels;     /* first in refs: name offsets */
    uint32_t            nchannels;
    uint32_t            tiers;        /* first in refs: name offsets */
    uint32_t            ntiers;
    int64_t             age_min;      /* -1: no condition */
    int64_t             age_max;      /* -1: no condition */
    int                 anonymous;    /* -1: no condition */
    unsigned            allow:1;
} omni_prule_t;


typedef struct {
    uint64_t            hash;
    uint32_t            role;
    uint32_t            kind;
    uint32_t            key;          /* offset in strs */
    uint32_t            len;
    uint32_t            first;        /* in lists */
    uint32_t            n;
} omni_pkey_t;


typedef struct {
    uint32_t            str;          /* offset in strs */
    uint32_t            len;
    int64_t             index;        /* the array index it names, or -1 */
    unsigned            any:1;        /* "*" */
} omni_pseg_t;


typedef struct {
    uint32_t            segs;         /* first in segs */
    uint32_t            nsegs;
    uint32_t            keep_last;
    unsigned            remove:1;
} omni_pscope_t;


struct omni_policy_s {
    char               *strs;
    omni_prole_t       *roles;
    omni_prule_t       *rules;
    uint32_t           *refs;
    uint32_t           *closure;
    omni_pkey_t        *keys;
    uint32_t           *lists;
    omni_pscope_t      *scopes;
    omni_pseg_t        *segs;
    uint32_t           *role_slots;
    uint32_t           *key_slots;
    size_t              nstrs;
    size_t              nroles;
    size_t              nrules;
    size_t              nrefs;
    size_t              nclosure;
    size_t              nkeys;
    size_t              nscopes;
    size_t              nsegs;
    size_t              role_mask;
    size_t              key_mask;
    int64_t             anonymous;    /* the anonymous role, -1: none */
};


/* compiling */

typedef struct {
    uint32_t            rule;
    uint32_t            kind;
    uint32_t            key;          /* offset in strs */
    uint32_t            len;
    uint32_t            slot;         /* its entry in keys, once indexed */
} omni_ppat_t;


typedef struct {
    char               *text;
    size_t              where;        /* omni_policy_where(), 0: the top */
} omni_perr_t;


typedef struct {
    omni_policy_t      *p;
    size_t              cap_strs;
    size_t              cap_roles;
    size_t              cap_rules;
    size_t              cap_refs;
    size_t              cap_closure;
    size_t              cap_scopes;
    size_t              cap_segs;
    size_t              cap_pats;
    omni_ppat_t        *pats;
    size_t              npats;
    uint32_t            anon_name;    /* offset in strs, NONE if invalid */
    unsigned            anon_given:1;
    unsigned            nomem:1;
    size_t              where;        /* of the errors found now */
    size_t              nerrs;
    size_t              more;         /* errors past OMNI_POLICY_ERRORS_MAX */
    omni_perr_t         errs[OMNI_POLICY_ERRORS_MAX];
} omni_pbuild_t;


/* omni_policy.c */

int omni_policy_is_role_name(const char *s, size_t len);

/* omni_policy_build.c */

int omni_policy_link(omni_pbuild_t *b);
int omni_policy_closures(omni_pbuild_t *b);
int omni_policy_index(omni_pbuild_t *b);

void omni_policy_error(omni_pbuild_t *b, const char *fmt, ...);
void omni_policy_sub(char *buf, size_t size, const char *fmt, ...);
char *omni_policy_errors_text(omni_pbuild_t *b);
void omni_policy_build_free(omni_pbuild_t *b);
char *omni_policy_quote(char *buf, size_t size, const char *s, size_t len);
const char *omni_policy_label(const omni_policy_t *p, uint32_t role,
    char *buf, size_t size);
uint32_t omni_policy_str(omni_pbuild_t *b, const char *s, size_t len);
void *omni_policy_grow(omni_pbuild_t *b, void *items, size_t *cap,
    size_t n, size_t size);

/* omni_policy_decide.c */

int64_t omni_policy_role_named(const omni_policy_t *p, const char *name);


/* hashing: FNV-1a, so an action's prefixes hash on the way */

static inline uint64_t
omni_policy_fnv(uint64_t h, const char *s, size_t len)
{
    size_t  i;

    for (i = 0; i < len; i++) {
        h ^= (unsigned char) s[i];
        h *= OMNI_FNV_PRIME;
    }

    return h;
}


/* the role and kind mixed in, then splitmix64's finalizer spreads it */
static inline uint64_t
omni_policy_mix(uint64_t h, uint32_t role, uint32_t kind)
{
    h ^= ((uint64_t) role << 8) | kind;
    h ^= h >> 30;
    h *= UINT64_C(0xbf58476d1ce4e5b9);
    h ^= h >> 27;
    h *= UINT64_C(0x94d049bb133111eb);
    h ^= h >> 31;

    return h;
}


/*
 * A key's bit in the roles' filters: it does not depend on the role, so a
 * decision computes it once per key and tests it in every role it visits;
 * a clear bit spares a probe of the key table (most keys are not a given
 * role's).
 */
static inline unsigned
omni_policy_bloom_bit(uint64_t fnv, uint32_t kind)
{
    return (unsigned) (omni_policy_mix(fnv, OMNI_POLICY_NONE, kind) >> 56)
           % OMNI_POLICY_BLOOM;
}


#endif /* OMNI_POLICY_INT_H_INCLUDED_ */
