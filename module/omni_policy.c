/*
 * Copyright (C) The omni gateway authors
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


/* memmem(): glibc's is vectorised; nginx's own build defines it too */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "omni_policy.h"


#define OMNI_POLICY_VERSION      1
#define OMNI_POLICY_NAME_MAX     128      /* a role name, as a token role */
#define OMNI_POLICY_ID_MAX       64       /* a rule id */
#define OMNI_POLICY_DESC_MAX     1024     /* bytes of a description */
#define OMNI_POLICY_LIST_MAX     64       /* entries of each array in a role
                                             or rule */
#define OMNI_POLICY_ACTION_MAX   128      /* bytes, as contract actions */
#define OMNI_POLICY_CHANNEL_MAX  32
#define OMNI_POLICY_TIER_MAX     64       /* as contract customer tiers */
#define OMNI_POLICY_AGE_MAX      INT64_C(2147483647)
#define OMNI_POLICY_DEPTH        32       /* segments of a scope path */
#define OMNI_POLICY_SEGMENT_MAX  128      /* bytes of a segment */
#define OMNI_POLICY_KEEP_MAX     1024
#define OMNI_POLICY_CLOSURE_MAX  10000000 /* roles in all closures */
#define OMNI_POLICY_CALLER_MAX   64       /* roles whose scopes combine: a
                                             bit each */
#define OMNI_POLICY_PREFIXES     64       /* dots in OMNI_POLICY_ACTION_MAX
                                             bytes of an action */
#define OMNI_POLICY_MSG_MAX      1024
#define OMNI_POLICY_QUOTE_MAX    64       /* bytes of a value quoted in an
                                             error message */
#define OMNI_POLICY_TABLE_MIN    16
#define OMNI_POLICY_BLOOM        256      /* bits per role: a key's bit is
                                             set when the role has it */
#define OMNI_POLICY_NONE         UINT32_MAX
#define OMNI_POLICY_MASKED       "****"
#define OMNI_POLICY_DUMP         (JSON_COMPACT | JSON_PRESERVE_ORDER)
#define OMNI_POLICY_LOAD         (JSON_REJECT_DUPLICATES | JSON_DECODE_ANY)

#define OMNI_POLICY_ROLE_CHARS   "1 to 128 of A-Z a-z 0-9 _ . : -"
#define OMNI_POLICY_ID_CHARS     "1 to 64 of A-Z a-z 0-9 _ . -"

/* the kinds of action patterns, bits of omni_prole_t.kinds */
#define OMNI_PKIND_EXACT         0x01     /* "order.refund" */
#define OMNI_PKIND_PREFIX        0x02     /* "order.*": key "order" */
#define OMNI_PKIND_ANY           0x04     /* "*": key "" */

/* what the caller's roles together do to one reply field */
#define OMNI_PSCOPE_KEEP         0
#define OMNI_PSCOPE_MASK         1
#define OMNI_PSCOPE_REMOVE       2

#define OMNI_FNV_BASIS           UINT64_C(14695981039346656037)

/*
 * Where an error is, to list errors in the order of the file: the top
 * level first, then role by role its own keys and inherits, its rules,
 * its scopes, whichever pass found them.
 */
#define OMNI_PWHERE_ROLE         0
#define OMNI_PWHERE_RULES        1
#define OMNI_PWHERE_SCOPES       2
#define omni_policy_where(role, part)  (((size_t) (role) + 1) * 4 + (part))

#define omni_policy_bloom_has(r, bit)                                         \
    ((r)->bloom[(bit) >> 6] & ((uint64_t) 1 << ((bit) & 63)))
#define OMNI_FNV_PRIME           UINT64_C(1099511628211)


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


/* deciding */

typedef struct {
    const char         *action;
    size_t              len;          /* 0: no exact match possible */
    uint64_t            hash;
    uint64_t            any;          /* the hash of "" */
    unsigned            exact_bit;    /* bloom bits of the three kinds */
    unsigned            any_bit;
    size_t              nprefixes;
    size_t              prefix_len[OMNI_POLICY_PREFIXES];
    uint64_t            prefix_hash[OMNI_POLICY_PREFIXES];
    unsigned            prefix_bit[OMNI_POLICY_PREFIXES];
    uint32_t            deny;         /* the first matching rule, or NONE */
    uint32_t            allow;
} omni_pmatch_t;


/* applying scopes */

typedef struct {
    uint32_t            scope;
    uint32_t            bit;          /* the caller role's bit number */
} omni_pstate_t;


typedef struct {
    const omni_policy_t *p;
    omni_pstate_t       *states;      /* per depth, max of them */
    size_t               max;
    uint64_t             all;         /* a bit per caller role */
    unsigned             changed:1;
    unsigned             nomem:1;
} omni_papply_t;


static int omni_policy_top(omni_pbuild_t *b, json_t *root);
static void omni_policy_keys(omni_pbuild_t *b, json_t *obj, const char *path,
    const char *const *allowed);
static int omni_policy_role(omni_pbuild_t *b, const char *name, json_t *v);
static int omni_policy_inherits(omni_pbuild_t *b, omni_prole_t *r,
    const char *path, json_t *v);
static int omni_policy_rule(omni_pbuild_t *b, uint32_t role,
    const char *rpath, size_t j, json_t *v);
static int omni_policy_actions(omni_pbuild_t *b, uint32_t rule,
    const char *path, json_t *v);
static int omni_policy_names(omni_pbuild_t *b, const char *path, json_t *v,
    const char *what, int channels, uint32_t *first, uint32_t *n);
static int omni_policy_when(omni_pbuild_t *b, omni_prule_t *rule,
    const char *path, json_t *v);
static void omni_policy_age(omni_pbuild_t *b, const char *path,
    const char *name, json_t *v, int64_t *out);
static int omni_policy_scope_list(omni_pbuild_t *b, omni_prole_t *r,
    const char *path, json_t *v);
static int omni_policy_scope(omni_pbuild_t *b, const char *path, json_t *v,
    int *added);
static int omni_policy_segments(omni_pbuild_t *b, const char *s, size_t len,
    omni_pscope_t *sc);
static void omni_policy_text(omni_pbuild_t *b, const char *path, json_t *v);
static int omni_policy_twice(const char *const *seen, size_t n,
    const char *s);

static int omni_policy_link(omni_pbuild_t *b);
static int omni_policy_rule_ids(omni_pbuild_t *b);
static int omni_policy_cycles(omni_pbuild_t *b);
static void omni_policy_cycle(omni_pbuild_t *b, const uint32_t *stack,
    size_t from, size_t top);
static int omni_policy_closures(omni_pbuild_t *b);
static int omni_policy_index(omni_pbuild_t *b);

static void omni_policy_error(omni_pbuild_t *b, const char *fmt, ...);
static void omni_policy_sub(char *buf, size_t size, const char *fmt, ...);
static char *omni_policy_errors_text(omni_pbuild_t *b);
static void omni_policy_build_free(omni_pbuild_t *b);
static char *omni_policy_quote(char *buf, size_t size, const char *s,
    size_t len);
static const char *omni_policy_label(const omni_policy_t *p, uint32_t role,
    char *buf, size_t size);
static uint32_t omni_policy_str(omni_pbuild_t *b, const char *s, size_t len);
static void *omni_policy_grow(omni_pbuild_t *b, void *items, size_t *cap,
    size_t n, size_t size);
static uint32_t *omni_policy_table(size_t n, size_t *mask);

static int omni_policy_is_role_name(const char *s, size_t len);
static int omni_policy_is_rule_id(const char *s, size_t len);
static int omni_policy_is_channel(const char *s, size_t len);
static unsigned omni_policy_pattern(const char *s, size_t len,
    size_t *keylen);

static uint64_t omni_policy_fnv(uint64_t h, const char *s, size_t len);
static uint64_t omni_policy_mix(uint64_t h, uint32_t role, uint32_t kind);
static unsigned omni_policy_bloom_bit(uint64_t fnv, uint32_t kind);
static int64_t omni_policy_role_find(const omni_policy_t *p, const char *s,
    size_t len);
static int64_t omni_policy_role_named(const omni_policy_t *p,
    const char *name);

static int64_t omni_policy_match(const omni_policy_t *p,
    const omni_policy_request_t *req, omni_policy_decision_t *d);
static void omni_policy_visit(const omni_policy_t *p,
    const omni_policy_request_t *req, omni_pmatch_t *m, uint32_t role);
static void omni_policy_scan(const omni_policy_t *p,
    const omni_policy_request_t *req, omni_pmatch_t *m, uint32_t role,
    uint32_t kind, const char *key, size_t len, uint64_t fnv);
static int omni_policy_applies(const omni_policy_t *p,
    const omni_prule_t *rule, const omni_policy_request_t *req);
static size_t omni_policy_depth(const omni_policy_t *p, uint32_t root,
    uint32_t role);
static uint32_t omni_policy_parent(const omni_policy_t *p, uint32_t root,
    uint32_t role);
static void omni_policy_write_path(const omni_policy_t *p, uint32_t root,
    uint32_t holder, char *buf, size_t len);

static int omni_policy_callers(const omni_policy_t *p,
    const omni_policy_request_t *req, uint32_t *roles, size_t *n);
static void omni_policy_walk(omni_papply_t *a, json_t *node, size_t depth,
    const omni_pstate_t *st, size_t n, uint64_t covered);
static int omni_policy_target(omni_papply_t *a, size_t depth,
    const omni_pstate_t *st, size_t n, uint64_t covered, const char *key,
    int64_t index, omni_pstate_t *next, size_t *m, uint64_t *cov,
    uint32_t *keep);
static json_t *omni_policy_mask(const json_t *v, uint32_t keep);
static int omni_policy_unreached(const omni_policy_t *p,
    const uint32_t *roles, size_t nroles, const char *reply, size_t len);
static int omni_policy_has_key(const char *text, size_t len,
    const char *key, size_t klen);

static json_t *omni_policy_diff_rules(json_t *roles);
static int omni_policy_diff_names(json_t *from, json_t *to, json_t *out);
static const char *omni_policy_anon_name(json_t *root);


static const char *const  omni_policy_top_keys[] = {
    "version", "anonymous_role", "roles", NULL
};

static const char *const  omni_policy_role_keys[] = {
    "description", "inherits", "rules", "scopes", NULL
};

static const char *const  omni_policy_rule_keys[] = {
    "id", "description", "effect", "actions", "channels", "when", NULL
};

static const char *const  omni_policy_when_keys[] = {
    "anonymous", "tier", "session_age_max", "session_age_min", NULL
};

static const char *const  omni_policy_scope_keys[] = {
    "path", "remove", "mask", NULL
};

static const char *const  omni_policy_mask_keys[] = {
    "keep_last", NULL
};


omni_policy_t *
omni_policy_compile(const char *json, size_t len, char **errors)
{
    char            *text;
    json_t          *root;
    json_error_t     jerr;
    omni_pbuild_t   *b;
    omni_policy_t   *p;

    if (errors != NULL) {
        *errors = NULL;
    }

    /* the build state, with its list of errors */
    b = calloc(1, sizeof(omni_pbuild_t));
    if (b == NULL) {
        return NULL;
    }

    b->p = calloc(1, sizeof(omni_policy_t));
    if (b->p == NULL) {
        free(b);
        return NULL;
    }

    b->p->anonymous = -1;
    b->anon_name = OMNI_POLICY_NONE;
    root = NULL;

    if (len > OMNI_POLICY_SIZE_MAX) {
        omni_policy_error(b, "the policy is larger than %d bytes",
                          OMNI_POLICY_SIZE_MAX);
        goto done;
    }

    /* offset 0 is "", the key of "*" */
    if (omni_policy_str(b, "", 0) == OMNI_POLICY_NONE) {
        goto done;
    }

    memset(&jerr, 0, sizeof(json_error_t));
    root = json_loadb(json, len, OMNI_POLICY_LOAD, &jerr);

    if (root == NULL) {
        if (json_error_code(&jerr) == json_error_out_of_memory) {
            b->nomem = 1;

        } else {
            omni_policy_error(b, "the policy is not valid JSON: %s at line "
                              "%d column %d", jerr.text, jerr.line,
                              jerr.column);
        }

        goto done;
    }

    if (omni_policy_top(b, root) != 0 || b->nerrs > 0) {
        goto done;
    }

    if (omni_policy_closures(b) != 0 || b->nerrs > 0) {
        goto done;
    }

    (void) omni_policy_index(b);

done:

    json_decref(root);

    if (!b->nomem && b->nerrs == 0) {
        p = b->p;
        b->p = NULL;
        omni_policy_build_free(b);
        return p;
    }

    text = NULL;

    if (!b->nomem && errors != NULL) {
        text = omni_policy_errors_text(b);
    }

    if (errors != NULL) {
        *errors = text;

    } else {
        free(text);
    }

    omni_policy_build_free(b);

    return NULL;
}


void
omni_policy_free(omni_policy_t *p)
{
    if (p == NULL) {
        return;
    }

    free(p->strs);
    free(p->roles);
    free(p->rules);
    free(p->refs);
    free(p->closure);
    free(p->keys);
    free(p->lists);
    free(p->scopes);
    free(p->segs);
    free(p->role_slots);
    free(p->key_slots);
    free(p);
}


size_t
omni_policy_roles(const omni_policy_t *p)
{
    return p->nroles;
}


size_t
omni_policy_rules(const omni_policy_t *p)
{
    return p->nrules;
}


/* validation: each returns -1 only when memory ran out */

static int
omni_policy_top(omni_pbuild_t *b, json_t *root)
{
    size_t       total, nroles;
    json_t      *v, *roles, *rules;
    const char  *name, *key;
    char         q[OMNI_POLICY_MSG_MAX];

    if (!json_is_object(root)) {
        omni_policy_error(b, "the policy is not a JSON object");
        return 0;
    }

    omni_policy_keys(b, root, "policy", omni_policy_top_keys);

    v = json_object_get(root, "version");

    if (v == NULL) {
        omni_policy_error(b, "version is missing");

    } else if (!json_is_integer(v)
               || json_integer_value(v) != OMNI_POLICY_VERSION)
    {
        omni_policy_error(b, "version must be %d", OMNI_POLICY_VERSION);
    }

    name = "anonymous";
    v = json_object_get(root, "anonymous_role");

    if (v != NULL) {
        b->anon_given = 1;
        name = json_string_value(v);

        if (name == NULL) {
            omni_policy_error(b, "anonymous_role must be a string");

        } else if (!omni_policy_is_role_name(name, json_string_length(v))) {
            omni_policy_error(b, "anonymous_role %s is not a role name (%s)",
                              omni_policy_quote(q, sizeof(q), name,
                                                json_string_length(v)),
                              OMNI_POLICY_ROLE_CHARS);
            name = NULL;
        }
    }

    if (name != NULL) {
        b->anon_name = omni_policy_str(b, name, strlen(name));
        if (b->anon_name == OMNI_POLICY_NONE) {
            return -1;
        }
    }

    roles = json_object_get(root, "roles");

    if (roles == NULL) {
        omni_policy_error(b, "roles is missing");
        return 0;
    }

    if (!json_is_object(roles)) {
        omni_policy_error(b, "roles must be an object");
        return 0;
    }

    nroles = json_object_size(roles);

    if (nroles > OMNI_POLICY_ROLES_MAX) {
        omni_policy_error(b, "roles: more than %d roles",
                          OMNI_POLICY_ROLES_MAX);
        return 0;
    }

    /* counted first, so a huge policy is refused before it is copied */
    total = 0;

    json_object_foreach(roles, key, v) {
        rules = json_object_get(v, "rules");
        total += json_array_size(rules);
    }

    if (total > OMNI_POLICY_RULES_MAX) {
        omni_policy_error(b, "roles: more than %d rules",
                          OMNI_POLICY_RULES_MAX);
        return 0;
    }

    json_object_foreach(roles, key, v) {
        b->where = omni_policy_where(b->p->nroles, OMNI_PWHERE_ROLE);

        if (omni_policy_role(b, key, v) != 0) {
            return -1;
        }
    }

    b->where = 0;

    return omni_policy_link(b);
}


static void
omni_policy_keys(omni_pbuild_t *b, json_t *obj, const char *path,
    const char *const *allowed)
{
    size_t       i;
    json_t      *v;
    const char  *key;
    char         q[OMNI_POLICY_MSG_MAX];

    json_object_foreach(obj, key, v) {
        for (i = 0; allowed[i] != NULL; i++) {
            if (strcmp(allowed[i], key) == 0) {
                break;
            }
        }

        if (allowed[i] == NULL) {
            omni_policy_error(b, "%s: unknown key %s", path,
                              omni_policy_quote(q, sizeof(q), key,
                                                strlen(key)));
        }
    }
}


static int
omni_policy_role(omni_pbuild_t *b, const char *name, json_t *v)
{
    size_t          j, len;
    json_t         *rules;
    uint32_t        index;
    omni_prole_t   *r, *roles;
    omni_policy_t  *p;
    char            path[OMNI_POLICY_MSG_MAX];
    char            q[OMNI_POLICY_MSG_MAX];

    p = b->p;

    roles = omni_policy_grow(b, p->roles, &b->cap_roles, p->nroles,
                             sizeof(omni_prole_t));
    if (roles == NULL) {
        return -1;
    }

    p->roles = roles;
    index = (uint32_t) p->nroles++;
    r = &p->roles[index];
    memset(r, 0, sizeof(omni_prole_t));

    len = strlen(name);
    r->name = omni_policy_str(b, name, len);
    if (r->name == OMNI_POLICY_NONE) {
        return -1;
    }

    r->inherits = (uint32_t) p->nrefs;
    r->rules = (uint32_t) p->nrules;
    r->scopes = (uint32_t) p->nscopes;

    if (!omni_policy_is_role_name(name, len)) {
        omni_policy_error(b, "roles: %s is not a role name (%s)",
                          omni_policy_quote(q, sizeof(q), name, len),
                          OMNI_POLICY_ROLE_CHARS);
    }

    omni_policy_sub(path, sizeof(path), "roles.%s",
                    omni_policy_label(p, index, q, sizeof(q)));

    if (!json_is_object(v)) {
        omni_policy_error(b, "%s must be an object", path);
        return 0;
    }

    omni_policy_keys(b, v, path, omni_policy_role_keys);
    omni_policy_text(b, path, json_object_get(v, "description"));

    /* r may move as the arrays grow: each step finds it again */
    if (omni_policy_inherits(b, &p->roles[index], path,
                             json_object_get(v, "inherits"))
        != 0)
    {
        return -1;
    }

    b->where = omni_policy_where(index, OMNI_PWHERE_RULES);
    rules = json_object_get(v, "rules");

    if (rules != NULL && !json_is_array(rules)) {
        omni_policy_error(b, "%s.rules must be an array", path);
    }

    for (j = 0; j < json_array_size(rules); j++) {
        if (omni_policy_rule(b, index, path, j, json_array_get(rules, j))
            != 0)
        {
            return -1;
        }

        p->roles[index].nrules++;
    }

    b->where = omni_policy_where(index, OMNI_PWHERE_SCOPES);

    return omni_policy_scope_list(b, &p->roles[index], path,
                                  json_object_get(v, "scopes"));
}


/* inherited names go to refs now and become role indices in link() */
static int
omni_policy_inherits(omni_pbuild_t *b, omni_prole_t *r, const char *path,
    json_t *v)
{
    size_t           j, len;
    json_t          *item;
    uint32_t        *refs, off;
    const char      *s;
    const char      *seen[OMNI_POLICY_LIST_MAX];
    char             q[OMNI_POLICY_MSG_MAX];
    omni_policy_t   *p;

    if (v == NULL) {
        return 0;
    }

    if (!json_is_array(v) || json_array_size(v) > OMNI_POLICY_LIST_MAX) {
        omni_policy_error(b, "%s.inherits must be an array of at most %d "
                          "role names", path, OMNI_POLICY_LIST_MAX);
        return 0;
    }

    p = b->p;

    for (j = 0; j < json_array_size(v); j++) {
        item = json_array_get(v, j);
        s = json_string_value(item);
        seen[j] = NULL;
        off = OMNI_POLICY_NONE;

        if (s == NULL) {
            omni_policy_error(b, "%s.inherits[%zu] must be a string", path, j);

        } else if (!omni_policy_is_role_name(s, json_string_length(item))) {
            omni_policy_error(b, "%s.inherits[%zu] %s is not a role name (%s)",
                              path, j,
                              omni_policy_quote(q, sizeof(q), s,
                                                json_string_length(item)),
                              OMNI_POLICY_ROLE_CHARS);

        } else if (omni_policy_twice(seen, j, s)) {
            omni_policy_error(b, "%s.inherits[%zu] %s is listed twice", path,
                              j, omni_policy_quote(q, sizeof(q), s,
                                                   strlen(s)));

        } else {
            seen[j] = s;
            len = strlen(s);
            off = omni_policy_str(b, s, len);
            if (off == OMNI_POLICY_NONE) {
                return -1;
            }
        }

        /* one entry per position, so link() can name the position */
        refs = omni_policy_grow(b, p->refs, &b->cap_refs, p->nrefs,
                                sizeof(uint32_t));
        if (refs == NULL) {
            return -1;
        }

        p->refs = refs;
        p->refs[p->nrefs++] = off;
        r->ninherits++;
    }

    return 0;
}


static int
omni_policy_rule(omni_pbuild_t *b, uint32_t role, const char *rpath,
    size_t j, json_t *v)
{
    json_t          *item;
    uint32_t         index, off;
    const char      *s;
    omni_prule_t    *rules, *rule;
    omni_policy_t   *p;
    char             path[OMNI_POLICY_MSG_MAX];
    char             q[OMNI_POLICY_MSG_MAX];

    p = b->p;

    rules = omni_policy_grow(b, p->rules, &b->cap_rules, p->nrules,
                             sizeof(omni_prule_t));
    if (rules == NULL) {
        return -1;
    }

    p->rules = rules;
    index = (uint32_t) p->nrules++;
    rule = &p->rules[index];
    memset(rule, 0, sizeof(omni_prule_t));
    rule->id = OMNI_POLICY_NONE;
    rule->role = role;
    rule->age_min = -1;
    rule->age_max = -1;
    rule->anonymous = -1;

    omni_policy_sub(path, sizeof(path), "%s.rules[%zu]", rpath, j);

    if (!json_is_object(v)) {
        omni_policy_error(b, "%s must be an object", path);
        return 0;
    }

    omni_policy_keys(b, v, path, omni_policy_rule_keys);

    item = json_object_get(v, "id");
    s = json_string_value(item);

    if (item == NULL) {
        omni_policy_error(b, "%s.id is missing", path);

    } else if (s == NULL) {
        omni_policy_error(b, "%s.id must be a string", path);

    } else if (!omni_policy_is_rule_id(s, json_string_length(item))) {
        omni_policy_error(b, "%s.id %s is not a rule id (%s)", path,
                          omni_policy_quote(q, sizeof(q), s,
                                            json_string_length(item)),
                          OMNI_POLICY_ID_CHARS);

    } else if (strcmp(s, "default") == 0) {
        omni_policy_error(b, "%s.id \"default\" is reserved for the default "
                          "deny", path);

    } else {
        off = omni_policy_str(b, s, strlen(s));
        if (off == OMNI_POLICY_NONE) {
            return -1;
        }

        p->rules[index].id = off;
    }

    omni_policy_text(b, path, json_object_get(v, "description"));

    item = json_object_get(v, "effect");
    s = json_string_value(item);

    if (item == NULL) {
        omni_policy_error(b, "%s.effect is missing", path);

    } else if (s != NULL && strcmp(s, "allow") == 0) {
        p->rules[index].allow = 1;

    } else if (s == NULL || strcmp(s, "deny") != 0) {
        omni_policy_error(b, "%s.effect must be \"allow\" or \"deny\"", path);
    }

    if (omni_policy_actions(b, index, path, json_object_get(v, "actions"))
        != 0)
    {
        return -1;
    }

    item = json_object_get(v, "channels");

    if (item != NULL) {
        if (omni_policy_names(b, path, item, "channels", 1,
                              &p->rules[index].channels,
                              &p->rules[index].nchannels)
            != 0)
        {
            return -1;
        }
    }

    return omni_policy_when(b, &p->rules[index], path,
                            json_object_get(v, "when"));
}


static int
omni_policy_actions(omni_pbuild_t *b, uint32_t rule, const char *path,
    json_t *v)
{
    size_t          j, len, keylen;
    json_t         *item;
    unsigned        kind;
    uint32_t        off;
    const char     *s;
    const char     *seen[OMNI_POLICY_LIST_MAX];
    char            q[OMNI_POLICY_MSG_MAX];
    omni_ppat_t    *pats;

    if (v == NULL) {
        omni_policy_error(b, "%s.actions is missing", path);
        return 0;
    }

    if (!json_is_array(v) || json_array_size(v) == 0
        || json_array_size(v) > OMNI_POLICY_LIST_MAX)
    {
        omni_policy_error(b, "%s.actions must be an array of 1 to %d action "
                          "patterns", path, OMNI_POLICY_LIST_MAX);
        return 0;
    }

    for (j = 0; j < json_array_size(v); j++) {
        item = json_array_get(v, j);
        s = json_string_value(item);
        seen[j] = NULL;

        if (s == NULL) {
            omni_policy_error(b, "%s.actions[%zu] must be a string", path, j);
            continue;
        }

        len = json_string_length(item);
        kind = omni_policy_pattern(s, len, &keylen);

        if (kind == 0) {
            omni_policy_error(b, "%s.actions[%zu] %s is not an action pattern "
                              "(\"*\", or dotted lowercase words with an "
                              "optional final \".*\", at most %d bytes)",
                              path, j, omni_policy_quote(q, sizeof(q), s, len),
                              OMNI_POLICY_ACTION_MAX);
            continue;
        }

        if (omni_policy_twice(seen, j, s)) {
            omni_policy_error(b, "%s.actions[%zu] %s is listed twice", path, j,
                              omni_policy_quote(q, sizeof(q), s, len));
            continue;
        }

        seen[j] = s;

        off = omni_policy_str(b, s, keylen);
        if (off == OMNI_POLICY_NONE) {
            return -1;
        }

        pats = omni_policy_grow(b, b->pats, &b->cap_pats, b->npats,
                                sizeof(omni_ppat_t));
        if (pats == NULL) {
            return -1;
        }

        b->pats = pats;
        pats[b->npats].rule = rule;
        pats[b->npats].kind = kind;
        pats[b->npats].key = off;
        pats[b->npats].len = (uint32_t) keylen;
        pats[b->npats].slot = OMNI_POLICY_NONE;
        b->npats++;
    }

    return 0;
}


/* channels (channels != 0) or tiers: 1 to OMNI_POLICY_LIST_MAX names */
static int
omni_policy_names(omni_pbuild_t *b, const char *path, json_t *v,
    const char *what, int channels, uint32_t *first, uint32_t *n)
{
    size_t          j, len;
    json_t         *item;
    uint32_t       *refs, off;
    const char     *s;
    const char     *seen[OMNI_POLICY_LIST_MAX];
    char            q[OMNI_POLICY_MSG_MAX];
    omni_policy_t  *p;

    if (!json_is_array(v) || json_array_size(v) == 0
        || json_array_size(v) > OMNI_POLICY_LIST_MAX)
    {
        omni_policy_error(b, "%s.%s must be an array of 1 to %d %s", path,
                          what, OMNI_POLICY_LIST_MAX,
                          channels ? "channel names" : "tiers");
        return 0;
    }

    p = b->p;
    *first = (uint32_t) p->nrefs;

    for (j = 0; j < json_array_size(v); j++) {
        item = json_array_get(v, j);
        s = json_string_value(item);
        len = json_string_length(item);
        seen[j] = NULL;

        if (channels && s == NULL) {
            omni_policy_error(b, "%s.%s[%zu] must be a string", path, what, j);
            continue;
        }

        if (channels && !omni_policy_is_channel(s, len)) {
            omni_policy_error(b, "%s.%s[%zu] %s is not a channel name (a-z, "
                              "then up to %d of a-z 0-9 _)", path, what, j,
                              omni_policy_quote(q, sizeof(q), s, len),
                              OMNI_POLICY_CHANNEL_MAX - 1);
            continue;
        }

        if (!channels
            && (s == NULL || len == 0 || len > OMNI_POLICY_TIER_MAX
                || strlen(s) != len))
        {
            omni_policy_error(b, "%s.%s[%zu] must be a string of 1 to %d "
                              "bytes", path, what, j, OMNI_POLICY_TIER_MAX);
            continue;
        }

        if (omni_policy_twice(seen, j, s)) {
            omni_policy_error(b, "%s.%s[%zu] %s is listed twice", path, what,
                              j, omni_policy_quote(q, sizeof(q), s, len));
            continue;
        }

        seen[j] = s;

        off = omni_policy_str(b, s, len);
        if (off == OMNI_POLICY_NONE) {
            return -1;
        }

        refs = omni_policy_grow(b, p->refs, &b->cap_refs, p->nrefs,
                                sizeof(uint32_t));
        if (refs == NULL) {
            return -1;
        }

        p->refs = refs;
        p->refs[p->nrefs++] = off;
    }

    *n = (uint32_t) (p->nrefs - *first);

    return 0;
}


static int
omni_policy_when(omni_pbuild_t *b, omni_prule_t *rule, const char *path,
    json_t *v)
{
    size_t          index;
    json_t         *item;
    omni_policy_t  *p;
    char            wpath[OMNI_POLICY_MSG_MAX];

    if (v == NULL) {
        return 0;
    }

    omni_policy_sub(wpath, sizeof(wpath), "%s.when", path);

    if (!json_is_object(v)) {
        omni_policy_error(b, "%s must be an object", wpath);
        return 0;
    }

    omni_policy_keys(b, v, wpath, omni_policy_when_keys);

    item = json_object_get(v, "anonymous");

    if (item != NULL) {
        if (json_is_boolean(item)) {
            rule->anonymous = json_is_true(item);

        } else {
            omni_policy_error(b, "%s.anonymous must be true or false", wpath);
        }
    }

    omni_policy_age(b, wpath, "session_age_max",
                    json_object_get(v, "session_age_max"), &rule->age_max);
    omni_policy_age(b, wpath, "session_age_min",
                    json_object_get(v, "session_age_min"), &rule->age_min);

    if (rule->age_max >= 0 && rule->age_min > rule->age_max) {
        omni_policy_error(b, "%s: session_age_min is greater than "
                          "session_age_max", wpath);
    }

    item = json_object_get(v, "tier");

    if (item == NULL) {
        return 0;
    }

    /* refs may move: the rule is found again by its index */
    p = b->p;
    index = rule - p->rules;

    return omni_policy_names(b, wpath, item, "tier", 0,
                             &p->rules[index].tiers, &p->rules[index].ntiers);
}


static void
omni_policy_age(omni_pbuild_t *b, const char *path, const char *name,
    json_t *v, int64_t *out)
{
    json_int_t  n;

    if (v == NULL) {
        return;
    }

    n = json_is_integer(v) ? json_integer_value(v) : -1;

    if (n < 0 || n > OMNI_POLICY_AGE_MAX) {
        omni_policy_error(b, "%s.%s must be an integer from 0 to %lld", path,
                          name, (long long) OMNI_POLICY_AGE_MAX);
        return;
    }

    *out = (int64_t) n;
}


static int
omni_policy_scope_list(omni_pbuild_t *b, omni_prole_t *r, const char *path,
    json_t *v)
{
    int             added;
    size_t          j, k, index;
    json_t         *path_json;
    const char     *s;
    const char     *seen[OMNI_POLICY_LIST_MAX];
    char            spath[OMNI_POLICY_MSG_MAX];
    char            q[OMNI_POLICY_MSG_MAX];
    omni_policy_t  *p;

    if (v == NULL) {
        return 0;
    }

    if (!json_is_array(v) || json_array_size(v) > OMNI_POLICY_LIST_MAX) {
        omni_policy_error(b, "%s.scopes must be an array of at most %d "
                          "scopes", path, OMNI_POLICY_LIST_MAX);
        return 0;
    }

    p = b->p;
    index = r - p->roles;

    for (j = 0; j < json_array_size(v); j++) {
        omni_policy_sub(spath, sizeof(spath), "%s.scopes[%zu]", path, j);
        seen[j] = NULL;

        if (omni_policy_scope(b, spath, json_array_get(v, j), &added) != 0) {
            return -1;
        }

        if (!added) {
            continue;
        }

        p->roles[index].nscopes++;

        path_json = json_object_get(json_array_get(v, j), "path");
        s = json_string_value(path_json);

        for (k = 0; k < j; k++) {
            if (seen[k] != NULL && strcmp(seen[k], s) == 0) {
                omni_policy_error(b, "%s.path %s is also %s.scopes[%zu]",
                                  spath,
                                  omni_policy_quote(q, sizeof(q), s,
                                                    strlen(s)),
                                  path, k);
                break;
            }
        }

        seen[j] = s;
    }

    return 0;
}


/* *added: whether a scope went to the table (only a valid one does) */
static int
omni_policy_scope(omni_pbuild_t *b, const char *path, json_t *v, int *added)
{
    int              bad;
    size_t           len;
    json_t          *item, *remove, *mask, *keep;
    json_int_t       n;
    const char      *s;
    char             q[OMNI_POLICY_MSG_MAX];
    char             mpath[OMNI_POLICY_MSG_MAX];
    omni_pscope_t    sc, *scopes;
    omni_policy_t   *p;

    *added = 0;

    if (!json_is_object(v)) {
        omni_policy_error(b, "%s must be an object", path);
        return 0;
    }

    omni_policy_keys(b, v, path, omni_policy_scope_keys);

    bad = 0;
    memset(&sc, 0, sizeof(omni_pscope_t));
    p = b->p;
    sc.segs = (uint32_t) p->nsegs;

    item = json_object_get(v, "path");
    s = json_string_value(item);
    len = json_string_length(item);

    if (item == NULL) {
        omni_policy_error(b, "%s.path is missing", path);
        bad = 1;

    } else if (s == NULL) {
        omni_policy_error(b, "%s.path must be a string", path);
        bad = 1;

    } else {
        switch (omni_policy_segments(b, s, len, &sc)) {
        case -1:
            return -1;

        case 1:
            omni_policy_error(b, "%s.path %s is not a reply path (1 to %d "
                              "keys or \"*\" joined by \".\", each of 1 to %d "
                              "bytes without control characters)", path,
                              omni_policy_quote(q, sizeof(q), s, len),
                              OMNI_POLICY_DEPTH, OMNI_POLICY_SEGMENT_MAX);
            bad = 1;
            break;

        default:
            break;
        }
    }

    remove = json_object_get(v, "remove");
    mask = json_object_get(v, "mask");

    if (remove == NULL && mask == NULL) {
        omni_policy_error(b, "%s needs \"remove\": true or \"mask\"", path);
        bad = 1;

    } else if (remove != NULL && mask != NULL) {
        omni_policy_error(b, "%s has both \"remove\" and \"mask\"", path);
        bad = 1;

    } else if (remove != NULL) {
        if (!json_is_true(remove)) {
            omni_policy_error(b, "%s.remove must be true", path);
            bad = 1;
        }

        sc.remove = 1;

    } else if (!json_is_object(mask)) {
        omni_policy_error(b, "%s.mask must be an object", path);
        bad = 1;

    } else {
        omni_policy_sub(mpath, sizeof(mpath), "%s.mask", path);
        omni_policy_keys(b, mask, mpath, omni_policy_mask_keys);

        keep = json_object_get(mask, "keep_last");
        n = 0;

        if (keep != NULL) {
            n = json_is_integer(keep) ? json_integer_value(keep) : -1;

            if (n < 0 || n > OMNI_POLICY_KEEP_MAX) {
                omni_policy_error(b, "%s.keep_last must be an integer from 0 "
                                  "to %d", mpath, OMNI_POLICY_KEEP_MAX);
                bad = 1;
            }
        }

        sc.keep_last = (uint32_t) n;
    }

    if (bad) {
        /* segments of a bad scope are left behind: the compile fails */
        return 0;
    }

    scopes = omni_policy_grow(b, p->scopes, &b->cap_scopes, p->nscopes,
                              sizeof(omni_pscope_t));
    if (scopes == NULL) {
        return -1;
    }

    p->scopes = scopes;
    p->scopes[p->nscopes++] = sc;
    *added = 1;

    return 0;
}


/*
 * Splits a reply path into segs: 0, 1 when it is not a path, -1 out of
 * memory.  A segment that is a decimal number without leading zeros
 * also names that index of an array.
 */
static int
omni_policy_segments(omni_pbuild_t *b, const char *s, size_t len,
    omni_pscope_t *sc)
{
    size_t          i, d, start, seglen;
    int64_t         index;
    uint32_t        off;
    omni_pseg_t    *segs, *seg;
    omni_policy_t  *p;

    p = b->p;
    start = 0;

    if (len == 0) {
        return 1;
    }

    for (i = 0; i <= len; i++) {
        if (i < len && s[i] != '.') {
            if ((unsigned char) s[i] < 0x20 || s[i] == 0x7f) {
                return 1;
            }

            continue;
        }

        seglen = i - start;

        if (seglen == 0 || seglen > OMNI_POLICY_SEGMENT_MAX
            || sc->nsegs == OMNI_POLICY_DEPTH)
        {
            return 1;
        }

        off = omni_policy_str(b, s + start, seglen);
        if (off == OMNI_POLICY_NONE) {
            return -1;
        }

        segs = omni_policy_grow(b, p->segs, &b->cap_segs, p->nsegs,
                                sizeof(omni_pseg_t));
        if (segs == NULL) {
            return -1;
        }

        p->segs = segs;
        seg = &p->segs[p->nsegs++];
        seg->str = off;
        seg->len = (uint32_t) seglen;
        seg->any = (seglen == 1 && s[start] == '*');

        /* 18 digits at most: no overflow */
        index = (seglen <= 18 && (s[start] != '0' || seglen == 1)) ? 0 : -1;

        for (d = 0; index >= 0 && d < seglen; d++) {
            if (s[start + d] < '0' || s[start + d] > '9') {
                index = -1;
                break;
            }

            index = index * 10 + (s[start + d] - '0');
        }

        seg->index = index;
        sc->nsegs++;
        start = i + 1;
    }

    return 0;
}


static void
omni_policy_text(omni_pbuild_t *b, const char *path, json_t *v)
{
    if (v != NULL
        && (!json_is_string(v)
            || json_string_length(v) > OMNI_POLICY_DESC_MAX))
    {
        omni_policy_error(b, "%s.description must be a string of at most %d "
                          "bytes", path, OMNI_POLICY_DESC_MAX);
    }
}


static int
omni_policy_twice(const char *const *seen, size_t n, const char *s)
{
    size_t  i;

    for (i = 0; i < n; i++) {
        if (seen[i] != NULL && strcmp(seen[i], s) == 0) {
            return 1;
        }
    }

    return 0;
}


/*
 * The role table, inherited names to indices, the anonymous role, rule
 * ids unique, no inheritance cycle.  Runs even when the roles had other
 * errors, so one attempt reports as much as it can.
 */
static int
omni_policy_link(omni_pbuild_t *b)
{
    size_t          i, j, slot;
    uint64_t        h;
    uint32_t        off;
    int64_t         found;
    omni_prole_t   *r;
    omni_policy_t  *p;
    char            q[OMNI_POLICY_MSG_MAX];
    char            label[OMNI_POLICY_MSG_MAX];

    p = b->p;

    p->role_slots = omni_policy_table(p->nroles, &p->role_mask);
    if (p->role_slots == NULL) {
        b->nomem = 1;
        return -1;
    }

    for (i = 0; i < p->nroles; i++) {
        h = omni_policy_mix(omni_policy_fnv(OMNI_FNV_BASIS,
                                            p->strs + p->roles[i].name,
                                            strlen(p->strs
                                                   + p->roles[i].name)),
                            0, 0);

        /*
         * JSON refuses duplicate keys: every name is new.  The table is at
         * most half full: an empty slot ends every probe.
         */
        for (slot = h & p->role_mask; p->role_slots[slot] != 0;
             slot = (slot + 1) & p->role_mask)
        {
            /* void */
        }

        p->role_slots[slot] = (uint32_t) i + 1;
    }

    for (i = 0; i < p->nroles; i++) {
        r = &p->roles[i];
        b->where = omni_policy_where(i, OMNI_PWHERE_ROLE);

        for (j = 0; j < r->ninherits; j++) {
            off = p->refs[r->inherits + j];

            if (off == OMNI_POLICY_NONE) {
                continue;
            }

            found = omni_policy_role_named(p, p->strs + off);

            if (found < 0) {
                omni_policy_error(b, "roles.%s.inherits[%zu]: unknown role %s",
                                  omni_policy_label(p, (uint32_t) i, label,
                                                    sizeof(label)),
                                  j,
                                  omni_policy_quote(q, sizeof(q),
                                                    p->strs + off,
                                                    strlen(p->strs + off)));
            }

            p->refs[r->inherits + j] = (found < 0) ? OMNI_POLICY_NONE
                                                   : (uint32_t) found;
        }
    }

    b->where = 0;

    if (b->anon_name != OMNI_POLICY_NONE) {
        p->anonymous = omni_policy_role_named(p, p->strs + b->anon_name);

        /* a name given is checked; the default need not exist */
        if (p->anonymous < 0 && b->anon_given) {
            omni_policy_error(b, "anonymous_role: unknown role %s",
                              omni_policy_quote(q, sizeof(q),
                                                p->strs + b->anon_name,
                                                strlen(p->strs
                                                       + b->anon_name)));
        }
    }

    if (omni_policy_rule_ids(b) != 0) {
        return -1;
    }

    return omni_policy_cycles(b);
}


static int
omni_policy_rule_ids(omni_pbuild_t *b)
{
    size_t           i, slot, mask, first;
    uint32_t        *slots;
    uint64_t         h;
    const char      *id, *other;
    omni_prule_t    *rule, *prev;
    omni_policy_t   *p;
    char             q[OMNI_POLICY_MSG_MAX];
    char             l1[OMNI_POLICY_MSG_MAX];
    char             l2[OMNI_POLICY_MSG_MAX];

    p = b->p;

    slots = omni_policy_table(p->nrules, &mask);
    if (slots == NULL) {
        b->nomem = 1;
        return -1;
    }

    for (i = 0; i < p->nrules; i++) {
        rule = &p->rules[i];

        if (rule->id == OMNI_POLICY_NONE) {
            continue;
        }

        id = p->strs + rule->id;
        h = omni_policy_mix(omni_policy_fnv(OMNI_FNV_BASIS, id, strlen(id)),
                            0, 0);

        /* at most half full: an empty slot ends the probe */
        for (slot = h & mask; slots[slot] != 0; slot = (slot + 1) & mask) {
            prev = &p->rules[slots[slot] - 1];
            other = p->strs + prev->id;

            if (strcmp(other, id) != 0) {
                continue;
            }

            first = p->roles[rule->role].rules;
            b->where = omni_policy_where(rule->role, OMNI_PWHERE_RULES);
            omni_policy_error(b, "roles.%s.rules[%zu].id %s is also "
                              "roles.%s.rules[%zu]",
                              omni_policy_label(p, rule->role, l1,
                                                sizeof(l1)),
                              i - first,
                              omni_policy_quote(q, sizeof(q), id, strlen(id)),
                              omni_policy_label(p, prev->role, l2,
                                                sizeof(l2)),
                              (size_t) (prev - p->rules)
                              - p->roles[prev->role].rules);
            break;
        }

        if (slots[slot] == 0) {
            slots[slot] = (uint32_t) i + 1;
        }
    }

    b->where = 0;
    free(slots);

    return 0;
}


/*
 * Depth-first over the known inherits, roots in file order: an edge to a
 * role on the stack closes a cycle, reported from that role.  Each role
 * is pushed once and each edge followed once: linear, no recursion.
 */
static int
omni_policy_cycles(omni_pbuild_t *b)
{
    size_t          i, n, k;
    uint32_t        role, next, *stack, *pos;
    uint8_t        *state;      /* 0 new, 1 on the stack, 2 done */
    omni_prole_t   *r;
    omni_policy_t  *p;

    p = b->p;

    if (p->nroles == 0) {
        return 0;
    }

    state = calloc(p->nroles, sizeof(uint8_t));
    stack = calloc(p->nroles, sizeof(uint32_t));
    pos = calloc(p->nroles, sizeof(uint32_t));

    if (state == NULL || stack == NULL || pos == NULL) {
        free(state);
        free(stack);
        free(pos);
        b->nomem = 1;
        return -1;
    }

    for (i = 0; i < p->nroles; i++) {
        if (state[i] != 0) {
            continue;
        }

        n = 1;
        stack[0] = (uint32_t) i;
        pos[0] = 0;
        state[i] = 1;

        while (n > 0) {
            role = stack[n - 1];
            r = &p->roles[role];

            if (pos[n - 1] == r->ninherits) {
                state[role] = 2;
                n--;
                continue;
            }

            next = p->refs[r->inherits + pos[n - 1]++];

            if (next == OMNI_POLICY_NONE || state[next] == 2) {
                continue;
            }

            if (state[next] == 1) {
                for (k = 0; k < n && stack[k] != next; k++) {
                    /* void: next is on the stack */
                }

                omni_policy_cycle(b, stack, k, n - 1);
                continue;
            }

            state[next] = 1;
            stack[n] = next;
            pos[n] = 0;
            n++;
        }
    }

    free(state);
    free(stack);
    free(pos);

    return 0;
}


/* "roles: inheritance cycle a -> b -> a", long cycles shortened */
static void
omni_policy_cycle(omni_pbuild_t *b, const uint32_t *stack, size_t from,
    size_t top)
{
    size_t          k, n, len;
    const char     *name;
    omni_policy_t  *p;
    char            text[OMNI_POLICY_MSG_MAX - 64];

    p = b->p;
    n = 0;

    /* every role of a cycle was reached by name: all names are valid */
    for (k = from; k <= top; k++) {
        name = p->strs + p->roles[stack[k]].name;
        len = strlen(name);

        /* room for this name, " -> ... -> " and the first name again */
        if (n + len + 2 * OMNI_POLICY_NAME_MAX + 16 > sizeof(text)) {
            n += snprintf(text + n, sizeof(text) - n, "... -> ");
            break;
        }

        n += snprintf(text + n, sizeof(text) - n, "%s -> ", name);
    }

    snprintf(text + n, sizeof(text) - n, "%s",
             p->strs + p->roles[stack[from]].name);

    b->where = omni_policy_where(stack[from], OMNI_PWHERE_ROLE);
    omni_policy_error(b, "roles: inheritance cycle %s", text);
    b->where = 0;
}


/*
 * Per role, itself and all it inherits, breadth first: the closure is its
 * own queue, each role enters it once.  Breadth first matters: explain()
 * finds the shortest inheritance path from this order.
 */
static int
omni_policy_closures(omni_pbuild_t *b)
{
    size_t          i, j, head;
    uint32_t       *seen, *closure, next;
    omni_prole_t   *r;
    omni_policy_t  *p;

    p = b->p;

    if (p->nroles == 0) {
        return 0;
    }

    /* seen[x] == i + 1: x is in the closure of i already */
    seen = calloc(p->nroles, sizeof(uint32_t));
    if (seen == NULL) {
        b->nomem = 1;
        return -1;
    }

    for (i = 0; i < p->nroles; i++) {
        head = p->nclosure;
        p->roles[i].closure = (uint32_t) head;
        next = (uint32_t) i;
        r = NULL;
        j = 0;

        for ( ;; ) {
            if (next != OMNI_POLICY_NONE && seen[next] != i + 1) {
                if (p->nclosure == OMNI_POLICY_CLOSURE_MAX) {
                    omni_policy_error(b, "roles: the roles inherited by each "
                                      "role add up to more than %d",
                                      OMNI_POLICY_CLOSURE_MAX);
                    free(seen);
                    return 0;
                }

                closure = omni_policy_grow(b, p->closure, &b->cap_closure,
                                           p->nclosure, sizeof(uint32_t));
                if (closure == NULL) {
                    free(seen);
                    return -1;
                }

                p->closure = closure;
                p->closure[p->nclosure++] = next;
                seen[next] = (uint32_t) i + 1;
            }

            /* the next inherited role of the queue's head */
            while (r == NULL || j == r->ninherits) {
                if (head == p->nclosure) {
                    break;
                }

                r = &p->roles[p->closure[head++]];
                j = 0;
            }

            if (j == r->ninherits) {
                break;
            }

            next = p->refs[r->inherits + j++];
        }

        p->roles[i].nclosure = (uint32_t) (p->nclosure - p->roles[i].closure);
    }

    free(seen);

    return 0;
}


/* the action index: (role, kind, key) -> the rules, in policy order */
static int
omni_policy_index(omni_pbuild_t *b)
{
    size_t          i, slot, first;
    unsigned        bit;
    uint64_t        fnv, h;
    omni_pkey_t    *k;
    omni_prole_t   *r;
    omni_ppat_t    *pat;
    omni_policy_t  *p;

    p = b->p;

    p->key_slots = omni_policy_table(b->npats, &p->key_mask);
    p->keys = malloc((b->npats ? b->npats : 1) * sizeof(omni_pkey_t));
    p->lists = malloc((b->npats ? b->npats : 1) * sizeof(uint32_t));

    if (p->key_slots == NULL || p->keys == NULL || p->lists == NULL) {
        b->nomem = 1;
        return -1;
    }

    for (i = 0; i < b->npats; i++) {
        pat = &b->pats[i];
        fnv = omni_policy_fnv(OMNI_FNV_BASIS, p->strs + pat->key, pat->len);
        h = omni_policy_mix(fnv, p->rules[pat->rule].role, pat->kind);

        /* at most half full: an empty slot ends the probe */
        for (slot = h & p->key_mask; p->key_slots[slot] != 0;
             slot = (slot + 1) & p->key_mask)
        {
            k = &p->keys[p->key_slots[slot] - 1];

            if (k->hash == h && k->role == p->rules[pat->rule].role
                && k->kind == pat->kind && k->len == pat->len
                && memcmp(p->strs + k->key, p->strs + pat->key, pat->len)
                   == 0)
            {
                break;
            }
        }

        if (p->key_slots[slot] == 0) {
            k = &p->keys[p->nkeys];
            k->hash = h;
            k->role = p->rules[pat->rule].role;
            k->kind = pat->kind;
            k->key = pat->key;
            k->len = pat->len;
            k->first = 0;
            k->n = 0;
            p->key_slots[slot] = (uint32_t) ++p->nkeys;
        }

        pat->slot = p->key_slots[slot] - 1;
        p->keys[pat->slot].n++;

        r = &p->roles[p->rules[pat->rule].role];
        r->kinds |= pat->kind;
        bit = omni_policy_bloom_bit(fnv, pat->kind);
        r->bloom[bit >> 6] |= (uint64_t) 1 << (bit & 63);
    }

    first = 0;

    for (i = 0; i < p->nkeys; i++) {
        p->keys[i].first = (uint32_t) first;
        first += p->keys[i].n;
        p->keys[i].n = 0;
    }

    /* patterns come in rule order: every run ends up ascending */
    for (i = 0; i < b->npats; i++) {
        k = &p->keys[b->pats[i].slot];
        p->lists[k->first + k->n++] = b->pats[i].rule;
    }

    return 0;
}


static void
omni_policy_error(omni_pbuild_t *b, const char *fmt, ...)
{
    char     text[OMNI_POLICY_MSG_MAX];
    va_list  args;

    if (b->nomem) {
        return;
    }

    if (b->nerrs == OMNI_POLICY_ERRORS_MAX) {
        b->more++;
        return;
    }

    va_start(args, fmt);
    vsnprintf(text, sizeof(text), fmt, args);
    va_end(args);

    b->errs[b->nerrs].text = strdup(text);
    if (b->errs[b->nerrs].text == NULL) {
        b->nomem = 1;
        return;
    }

    b->errs[b->nerrs].where = b->where;
    b->nerrs++;
}


/* a path below another one: cut at size, as the message it goes into */
static void
omni_policy_sub(char *buf, size_t size, const char *fmt, ...)
{
    va_list  args;

    va_start(args, fmt);
    vsnprintf(buf, size, fmt, args);
    va_end(args);
}


/*
 * The errors in the order of the file (a stable sort on where: within a
 * part of a role, as found), one per line, no final newline.
 */
static char *
omni_policy_errors_text(omni_pbuild_t *b)
{
    char         *text;
    size_t        i, j, len, n;
    omni_perr_t   e;
    char          more[64];

    for (i = 1; i < b->nerrs; i++) {
        e = b->errs[i];

        for (j = i; j > 0 && b->errs[j - 1].where > e.where; j--) {
            b->errs[j] = b->errs[j - 1];
        }

        b->errs[j] = e;
    }

    more[0] = '\0';

    if (b->more) {
        snprintf(more, sizeof(more), "%zu more errors not listed", b->more);
    }

    len = strlen(more) + 1;

    for (i = 0; i < b->nerrs; i++) {
        len += strlen(b->errs[i].text) + 1;
    }

    text = malloc(len);
    if (text == NULL) {
        return NULL;
    }

    n = 0;

    for (i = 0; i < b->nerrs; i++) {
        n += snprintf(text + n, len - n, "%s%s", i ? "\n" : "",
                      b->errs[i].text);
    }

    if (more[0] != '\0') {
        snprintf(text + n, len - n, "\n%s", more);
    }

    return text;
}


static void
omni_policy_build_free(omni_pbuild_t *b)
{
    size_t  i;

    for (i = 0; i < b->nerrs; i++) {
        free(b->errs[i].text);
    }

    omni_policy_free(b->p);
    free(b->pats);
    free(b);
}


/*
 * A value for an error message: in double quotes, quotes, backslashes
 * and control bytes escaped as in JSON, cut after OMNI_POLICY_QUOTE_MAX
 * bytes (at a character boundary) with "...", so a message stays one
 * short line whatever the policy holds.
 */
static char *
omni_policy_quote(char *buf, size_t size, const char *s, size_t len)
{
    size_t         i, n, cut;
    unsigned char  c;

    cut = len;

    if (len > OMNI_POLICY_QUOTE_MAX) {
        cut = OMNI_POLICY_QUOTE_MAX;

        while (cut > 0 && ((unsigned char) s[cut] & 0xc0) == 0x80) {
            cut--;
        }
    }

    n = 0;
    buf[n++] = '"';

    for (i = 0; i < cut && n + 8 < size; i++) {
        c = (unsigned char) s[i];

        if (c == '"' || c == '\\') {
            buf[n++] = '\\';
            buf[n++] = (char) c;

        } else if (c < 0x20 || c == 0x7f) {
            n += snprintf(buf + n, size - n, "\\u%04x", c);

        } else {
            buf[n++] = (char) c;
        }
    }

    if (cut < len && n + 5 < size) {
        memcpy(buf + n, "...", 3);
        n += 3;
    }

    buf[n++] = '"';
    buf[n] = '\0';

    return buf;
}


/* a role's name for a message: as it is when valid, else quoted */
static const char *
omni_policy_label(const omni_policy_t *p, uint32_t role, char *buf,
    size_t size)
{
    const char  *name;

    name = p->strs + p->roles[role].name;

    if (omni_policy_is_role_name(name, strlen(name))) {
        return name;
    }

    return omni_policy_quote(buf, size, name, strlen(name));
}


/* appends a string to the arena: its offset, NONE out of memory */
static uint32_t
omni_policy_str(omni_pbuild_t *b, const char *s, size_t len)
{
    char           *strs;
    size_t          cap, off;
    omni_policy_t  *p;

    p = b->p;

    if (p->nstrs + len + 1 > b->cap_strs) {
        cap = b->cap_strs ? b->cap_strs : 4096;

        while (cap < p->nstrs + len + 1) {
            cap *= 2;
        }

        strs = realloc(p->strs, cap);
        if (strs == NULL) {
            b->nomem = 1;
            return OMNI_POLICY_NONE;
        }

        p->strs = strs;
        b->cap_strs = cap;
    }

    off = p->nstrs;
    memcpy(p->strs + off, s, len);
    p->strs[off + len] = '\0';
    p->nstrs += len + 1;

    return (uint32_t) off;
}


/* room for one more item: the array (perhaps moved), NULL out of memory */
static void *
omni_policy_grow(omni_pbuild_t *b, void *items, size_t *cap, size_t n,
    size_t size)
{
    void    *grown;
    size_t   ncap;

    if (n < *cap) {
        return items;
    }

    ncap = *cap ? *cap * 2 : 16;

    if (ncap > SIZE_MAX / size) {
        b->nomem = 1;
        return NULL;
    }

    grown = realloc(items, ncap * size);
    if (grown == NULL) {
        b->nomem = 1;
        return NULL;
    }

    *cap = ncap;

    return grown;
}


/* a zeroed table of slots for n entries, at most half full */
static uint32_t *
omni_policy_table(size_t n, size_t *mask)
{
    size_t  size;

    size = OMNI_POLICY_TABLE_MIN;

    while (size < 2 * n) {
        size *= 2;
    }

    *mask = size - 1;

    return calloc(size, sizeof(uint32_t));
}


static int
omni_policy_is_role_name(const char *s, size_t len)
{
    size_t         i;
    unsigned char  c;

    if (len == 0 || len > OMNI_POLICY_NAME_MAX || strlen(s) != len) {
        return 0;
    }

    for (i = 0; i < len; i++) {
        c = (unsigned char) s[i];

        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
              || (c >= '0' && c <= '9') || c == '_' || c == '.' || c == ':'
              || c == '-'))
        {
            return 0;
        }
    }

    return 1;
}


static int
omni_policy_is_rule_id(const char *s, size_t len)
{
    size_t         i;
    unsigned char  c;

    if (len == 0 || len > OMNI_POLICY_ID_MAX || strlen(s) != len) {
        return 0;
    }

    for (i = 0; i < len; i++) {
        c = (unsigned char) s[i];

        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
              || (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-'))
        {
            return 0;
        }
    }

    return 1;
}


static int
omni_policy_is_channel(const char *s, size_t len)
{
    size_t  i;

    if (len == 0 || len > OMNI_POLICY_CHANNEL_MAX || strlen(s) != len
        || s[0] < 'a' || s[0] > 'z')
    {
        return 0;
    }

    for (i = 1; i < len; i++) {
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9')
              || s[i] == '_'))
        {
            return 0;
        }
    }

    return 1;
}


/*
 * "*", "w(.w)*" or "w(.w)*.*" with w = [a-z][a-z0-9_]*: its kind and the
 * length of its key ("order" for "order.*"), or 0 when it is none.
 */
static unsigned
omni_policy_pattern(const char *s, size_t len, size_t *keylen)
{
    size_t    i, n;
    unsigned  kind;

    *keylen = 0;

    if (len == 1 && s[0] == '*') {
        return OMNI_PKIND_ANY;
    }

    if (len == 0 || len > OMNI_POLICY_ACTION_MAX || strlen(s) != len) {
        return 0;
    }

    kind = OMNI_PKIND_EXACT;
    n = len;

    if (len > 2 && s[len - 2] == '.' && s[len - 1] == '*') {
        kind = OMNI_PKIND_PREFIX;
        n = len - 2;
    }

    for (i = 0; i < n; i++) {
        /* a word starts with a letter, after the start or a dot */
        if (i == 0 || s[i - 1] == '.') {
            if (s[i] < 'a' || s[i] > 'z') {
                return 0;
            }

            continue;
        }

        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9')
              || s[i] == '_' || s[i] == '.'))
        {
            return 0;
        }
    }

    if (s[n - 1] == '.') {
        return 0;
    }

    *keylen = n;

    return kind;
}


/* hashing: FNV-1a, so an action's prefixes hash on the way */

static uint64_t
omni_policy_fnv(uint64_t h, const char *s, size_t len)
{
    size_t  i;

    for (i = 0; i < len; i++) {
        h ^= (unsigned char) s[i];
        h *= OMNI_FNV_PRIME;
    }

    return h;
}


/*
 * A key's bit in the roles' filters: it does not depend on the role, so a
 * decision computes it once per key and tests it in every role it visits;
 * a clear bit spares a probe of the key table (most keys are not a given
 * role's).
 */
static unsigned
omni_policy_bloom_bit(uint64_t fnv, uint32_t kind)
{
    return (unsigned) (omni_policy_mix(fnv, OMNI_POLICY_NONE, kind) >> 56)
           % OMNI_POLICY_BLOOM;
}


/* the role and kind mixed in, then splitmix64's finalizer spreads it */
static uint64_t
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


static int64_t
omni_policy_role_find(const omni_policy_t *p, const char *s, size_t len)
{
    size_t        slot, n;
    uint64_t      h;
    const char   *name;

    if (len == 0 || len > OMNI_POLICY_NAME_MAX) {
        return -1;
    }

    h = omni_policy_mix(omni_policy_fnv(OMNI_FNV_BASIS, s, len), 0, 0);

    for (slot = h & p->role_mask, n = 0; n <= p->role_mask;
         slot = (slot + 1) & p->role_mask, n++)
    {
        if (p->role_slots[slot] == 0) {
            return -1;
        }

        name = p->strs + p->roles[p->role_slots[slot] - 1].name;

        if (strncmp(name, s, len) == 0 && name[len] == '\0') {
            return p->role_slots[slot] - 1;
        }
    }

    return -1;
}


static int64_t
omni_policy_role_named(const omni_policy_t *p, const char *name)
{
    if (name == NULL) {
        return -1;
    }

    /* a longer name is no role: the scan stops one byte past the limit */
    return omni_policy_role_find(p, name,
                                 strnlen(name, OMNI_POLICY_NAME_MAX + 1));
}


/* decisions */

void
omni_policy_decide(const omni_policy_t *p, const omni_policy_request_t *req,
    omni_policy_decision_t *d)
{
    (void) omni_policy_match(p, req, d);
}


/*
 * The path starts at the caller's role nearest to the holder (fewest
 * inheritance steps; the first in the request on a tie), so a caller
 * holding "customer" itself reads "customer", not a detour through
 * another of its roles.  Runs after the decision, at leisure: it scans
 * closures, which decide() never does.
 */
void
omni_policy_explain(const omni_policy_t *p, const omni_policy_request_t *req,
    omni_policy_decision_t *d, char *buf, size_t len)
{
    size_t    i, depth, best_depth;
    int64_t   holder, role, best;

    holder = omni_policy_match(p, req, d);

    if (buf == NULL || len == 0) {
        return;
    }

    buf[0] = '\0';

    if (holder < 0) {
        return;
    }

    best = -1;
    best_depth = SIZE_MAX;

    if (req->anonymous) {
        best = p->anonymous;

    } else {
        for (i = 0; i < req->nroles; i++) {
            role = omni_policy_role_named(p, req->roles[i]);

            if (role < 0) {
                continue;
            }

            depth = omni_policy_depth(p, (uint32_t) role, (uint32_t) holder);

            if (depth < best_depth) {
                best = role;
                best_depth = depth;
            }
        }
    }

    if (best >= 0) {
        omni_policy_write_path(p, (uint32_t) best, (uint32_t) holder, buf,
                               len);
    }
}


/* fills d; returns the role holding the deciding rule, -1: the default */
static int64_t
omni_policy_match(const omni_policy_t *p, const omni_policy_request_t *req,
    omni_policy_decision_t *d)
{
    size_t               i, k, nknown;
    int64_t              role, first;
    uint32_t             c, rule;
    uint64_t             h;
    const omni_prole_t  *r;
    omni_pmatch_t        m;
    uint8_t              seen[(OMNI_POLICY_ROLES_MAX + 7) / 8];

    d->allow = 0;
    d->rule = "default";
    d->role = NULL;

    m.action = (req->action != NULL) ? req->action : "";
    m.len = 0;
    m.hash = 0;
    m.exact_bit = 0;
    m.any = OMNI_FNV_BASIS;
    m.nprefixes = 0;
    m.deny = OMNI_POLICY_NONE;
    m.allow = OMNI_POLICY_NONE;

    /*
     * One pass hashes the action and, at each dot, the prefix before it:
     * "order.refund.partial" is looked up as itself, and as "order" and
     * "order.refund" for the ".*" patterns.  A dot that ends the action
     * starts no prefix: "order.*" needs a word below "order".
     */
    h = OMNI_FNV_BASIS;

    for (i = 0; i <= OMNI_POLICY_ACTION_MAX && m.action[i] != '\0'; i++) {
        if (m.action[i] == '.' && i > 0 && m.action[i + 1] != '\0'
            && m.nprefixes < OMNI_POLICY_PREFIXES)
        {
            m.prefix_len[m.nprefixes] = i;
            m.prefix_hash[m.nprefixes] = h;
            m.prefix_bit[m.nprefixes] = omni_policy_bloom_bit(h,
                                                      OMNI_PKIND_PREFIX);
            m.nprefixes++;
        }

        h ^= (unsigned char) m.action[i];
        h *= OMNI_FNV_PRIME;
    }

    if (i == 0) {
        /* no action, nothing to allow: not even "*" */
        return -1;
    }

    if (m.action[i] == '\0') {
        m.len = i;
        m.hash = h;
        m.exact_bit = omni_policy_bloom_bit(h, OMNI_PKIND_EXACT);
    }

    m.any_bit = omni_policy_bloom_bit(m.any, OMNI_PKIND_ANY);

    if (req->anonymous) {
        if (p->anonymous >= 0) {
            r = &p->roles[p->anonymous];

            for (k = 0; k < r->nclosure; k++) {
                omni_policy_visit(p, req, &m, p->closure[r->closure + k]);
            }
        }

    } else {
        /*
         * One known role visits its closure as it is; with more, a bit
         * per policy role skips those two closures share.  Only the bits
         * this policy has are cleared.
         */
        nknown = 0;
        first = -1;

        for (i = 0; i < req->nroles; i++) {
            role = omni_policy_role_named(p, req->roles[i]);

            if (role < 0) {
                continue;
            }

            if (nknown++ == 0) {
                first = role;
                continue;
            }

            if (nknown == 2) {
                memset(seen, 0, (p->nroles + 7) / 8);
                r = &p->roles[first];

                for (k = 0; k < r->nclosure; k++) {
                    c = p->closure[r->closure + k];
                    seen[c >> 3] |= (uint8_t) (1 << (c & 7));
                    omni_policy_visit(p, req, &m, c);
                }
            }

            r = &p->roles[role];

            for (k = 0; k < r->nclosure; k++) {
                c = p->closure[r->closure + k];

                if (seen[c >> 3] & (1 << (c & 7))) {
                    continue;
                }

                seen[c >> 3] |= (uint8_t) (1 << (c & 7));
                omni_policy_visit(p, req, &m, c);
            }
        }

        if (nknown == 1) {
            r = &p->roles[first];

            for (k = 0; k < r->nclosure; k++) {
                omni_policy_visit(p, req, &m, p->closure[r->closure + k]);
            }
        }
    }

    if (m.deny != OMNI_POLICY_NONE) {
        rule = m.deny;

    } else if (m.allow != OMNI_POLICY_NONE) {
        rule = m.allow;
        d->allow = 1;

    } else {
        return -1;
    }

    d->rule = p->strs + p->rules[rule].id;
    d->role = p->strs + p->roles[p->rules[rule].role].name;

    return p->rules[rule].role;
}


/* the rules of one role for this action: "*", the action, its prefixes */
static void
omni_policy_visit(const omni_policy_t *p, const omni_policy_request_t *req,
    omni_pmatch_t *m, uint32_t role)
{
    size_t               k;
    const omni_prole_t  *r;

    r = &p->roles[role];

    if ((r->kinds & OMNI_PKIND_ANY) && omni_policy_bloom_has(r, m->any_bit)) {
        omni_policy_scan(p, req, m, role, OMNI_PKIND_ANY, "", 0, m->any);
    }

    if ((r->kinds & OMNI_PKIND_EXACT) && m->len > 0
        && omni_policy_bloom_has(r, m->exact_bit))
    {
        omni_policy_scan(p, req, m, role, OMNI_PKIND_EXACT, m->action,
                         m->len, m->hash);
    }

    if (r->kinds & OMNI_PKIND_PREFIX) {
        for (k = 0; k < m->nprefixes; k++) {
            if (omni_policy_bloom_has(r, m->prefix_bit[k])) {
                omni_policy_scan(p, req, m, role, OMNI_PKIND_PREFIX,
                                 m->action, m->prefix_len[k],
                                 m->prefix_hash[k]);
            }
        }
    }
}


/*
 * The run of rules under one key, in policy order: a rule after the best
 * deny so far cannot change the decision, an allow after the best allow
 * neither.
 */
static void
omni_policy_scan(const omni_policy_t *p, const omni_policy_request_t *req,
    omni_pmatch_t *m, uint32_t role, uint32_t kind, const char *key,
    size_t len, uint64_t fnv)
{
    size_t               slot, n, i;
    uint32_t             index;
    uint64_t             h;
    const omni_pkey_t   *k;
    const omni_prule_t  *rule;

    h = omni_policy_mix(fnv, role, kind);
    k = NULL;

    for (slot = h & p->key_mask, n = 0; n <= p->key_mask;
         slot = (slot + 1) & p->key_mask, n++)
    {
        if (p->key_slots[slot] == 0) {
            return;
        }

        k = &p->keys[p->key_slots[slot] - 1];

        if (k->hash == h && k->role == role && k->kind == kind
            && k->len == len && memcmp(p->strs + k->key, key, len) == 0)
        {
            break;
        }

        k = NULL;
    }

    if (k == NULL) {
        return;
    }

    for (i = 0; i < k->n; i++) {
        index = p->lists[k->first + i];

        if (index >= m->deny) {
            break;
        }

        rule = &p->rules[index];

        if ((rule->allow && index >= m->allow)
            || !omni_policy_applies(p, rule, req))
        {
            continue;
        }

        if (rule->allow) {
            m->allow = index;

        } else {
            m->deny = index;
        }
    }
}


static int
omni_policy_applies(const omni_policy_t *p, const omni_prule_t *rule,
    const omni_policy_request_t *req)
{
    size_t  i;

    if (rule->anonymous >= 0 && rule->anonymous != (req->anonymous != 0)) {
        return 0;
    }

    if (rule->nchannels > 0) {
        if (req->channel == NULL) {
            return 0;
        }

        for (i = 0; i < rule->nchannels; i++) {
            if (strcmp(p->strs + p->refs[rule->channels + i], req->channel)
                == 0)
            {
                break;
            }
        }

        if (i == rule->nchannels) {
            return 0;
        }
    }

    if (rule->ntiers > 0) {
        if (req->tier == NULL) {
            return 0;
        }

        for (i = 0; i < rule->ntiers; i++) {
            if (strcmp(p->strs + p->refs[rule->tiers + i], req->tier) == 0) {
                break;
            }
        }

        if (i == rule->ntiers) {
            return 0;
        }
    }

    if (rule->age_max >= 0 || rule->age_min >= 0) {
        if (!req->has_session) {
            return 0;
        }

        if (rule->age_max >= 0 && req->session_age > rule->age_max) {
            return 0;
        }

        if (rule->age_min >= 0 && req->session_age < rule->age_min) {
            return 0;
        }
    }

    return 1;
}


/* inheritance steps from root to role, SIZE_MAX when it is not inherited */
static size_t
omni_policy_depth(const omni_policy_t *p, uint32_t root, uint32_t role)
{
    size_t               i, n;
    uint32_t             cur;
    const omni_prole_t  *r;

    r = &p->roles[root];

    for (i = 0; i < r->nclosure; i++) {
        if (p->closure[r->closure + i] == role) {
            break;
        }
    }

    if (i == r->nclosure) {
        return SIZE_MAX;
    }

    cur = role;

    for (n = 0; cur != root && n < r->nclosure; n++) {
        cur = omni_policy_parent(p, root, cur);
    }

    return n;
}


/*
 * The role through which root's breadth-first closure reached role: the
 * first role of the closure that inherits it.  The first such role comes
 * before it, so following parents always ends at root.
 */
static uint32_t
omni_policy_parent(const omni_policy_t *p, uint32_t root, uint32_t role)
{
    size_t               i, j;
    uint32_t             c;
    const omni_prole_t  *r, *cr;

    r = &p->roles[root];

    for (i = 0; i < r->nclosure; i++) {
        c = p->closure[r->closure + i];
        cr = &p->roles[c];

        for (j = 0; j < cr->ninherits; j++) {
            if (p->refs[cr->inherits + j] == role) {
                return c;
            }
        }
    }

    return root;
}


/* "root > ... > holder", written from its end; shortened if too long */
static void
omni_policy_write_path(const omni_policy_t *p, uint32_t root,
    uint32_t holder, char *buf, size_t len)
{
    size_t               need, pos, n, steps;
    uint32_t             cur;
    const char          *name;
    const omni_prole_t  *r;

    r = &p->roles[root];
    need = 0;
    cur = holder;

    for (steps = 0; steps <= r->nclosure; steps++) {
        need += strlen(p->strs + p->roles[cur].name);

        if (cur == root) {
            break;
        }

        need += 3;
        cur = omni_policy_parent(p, root, cur);
    }

    if (need >= len) {
        snprintf(buf, len, "%s > ... > %s", p->strs + r->name,
                 p->strs + p->roles[holder].name);
        return;
    }

    pos = need;
    buf[pos] = '\0';
    cur = holder;

    for (steps = 0; steps <= r->nclosure; steps++) {
        name = p->strs + p->roles[cur].name;
        n = strlen(name);
        pos -= n;
        memcpy(buf + pos, name, n);

        if (cur == root) {
            break;
        }

        pos -= 3;
        memcpy(buf + pos, " > ", 3);
        cur = omni_policy_parent(p, root, cur);
    }
}


/* scopes */

int
omni_policy_has_scopes(const omni_policy_t *p,
    const omni_policy_request_t *req)
{
    size_t   i, known;
    int64_t  role;

    if (req->anonymous) {
        return p->anonymous >= 0 && p->roles[p->anonymous].nscopes > 0;
    }

    known = 0;

    for (i = 0; i < req->nroles; i++) {
        role = omni_policy_role_named(p, req->roles[i]);

        if (role < 0) {
            continue;
        }

        /* a role without scopes sees every field: nothing to apply */
        if (p->roles[role].nscopes == 0) {
            return 0;
        }

        known++;
    }

    return known > 0;
}


/*
 * Walks the reply once, every scope of every caller role at once: a
 * state is a scope still matching at this depth; a field that every role
 * covers (a scope of its own ends there, or one ended above it) is
 * masked if one of the roles that reaches it masks it, else removed, and
 * not walked further; other fields stay and are walked while a state is
 * left.  So each node is visited once, depth is bounded by
 * OMNI_POLICY_DEPTH and "*" expands to no more than the reply holds.
 */
int
omni_policy_apply_scopes(const omni_policy_t *p,
    const omni_policy_request_t *req, const char *reply, size_t len,
    char **out, size_t *out_len)
{
    size_t               i, j, k, n, nroles;
    json_t              *root;
    uint32_t             roles[OMNI_POLICY_CALLER_MAX];
    json_error_t         jerr;
    omni_papply_t        a;
    const omni_prole_t  *r;

    *out = NULL;
    *out_len = 0;

    if (omni_policy_callers(p, req, roles, &nroles) != 0) {
        return -1;
    }

    n = 0;

    for (i = 0; i < nroles; i++) {
        if (p->roles[roles[i]].nscopes == 0) {
            return 0;
        }

        n += p->roles[roles[i]].nscopes;
    }

    if (n == 0 || omni_policy_unreached(p, roles, nroles, reply, len)) {
        return 0;
    }

    memset(&a, 0, sizeof(omni_papply_t));
    a.p = p;
    a.max = n;
    a.all = (nroles == 64) ? UINT64_MAX : ((uint64_t) 1 << nroles) - 1;

    a.states = malloc((OMNI_POLICY_DEPTH + 1) * n * sizeof(omni_pstate_t));
    if (a.states == NULL) {
        return -1;
    }

    /*
     * Duplicate keys are refused: jansson would keep one, a client might
     * read another.  So is \u0000 (no JSON_ALLOW_NUL), as the renderer's
     * decoder refuses it: a reply with NUL is upstream_reply_invalid
     * whether or not it is scoped.  An integer beyond 64 bits fails
     * jansson's decoding: then every number is read as a double, which is
     * all the renderer's decoder makes of numbers anyway.
     */
    root = json_loadb(reply, len, JSON_REJECT_DUPLICATES, &jerr);

    if (root == NULL && json_error_code(&jerr) == json_error_numeric_overflow)
    {
        root = json_loadb(reply, len,
                          JSON_REJECT_DUPLICATES | JSON_DECODE_INT_AS_REAL,
                          &jerr);
    }

    if (root == NULL || !json_is_object(root)) {
        json_decref(root);
        free(a.states);
        return -1;
    }

    k = 0;

    for (i = 0; i < nroles; i++) {
        r = &p->roles[roles[i]];

        for (j = 0; j < r->nscopes; j++) {
            a.states[k].scope = r->scopes + (uint32_t) j;
            a.states[k].bit = (uint32_t) i;
            k++;
        }
    }

    omni_policy_walk(&a, root, 0, a.states, n, 0);

    free(a.states);

    if (a.nomem) {
        json_decref(root);
        return -1;
    }

    if (!a.changed) {
        json_decref(root);
        return 0;
    }

    *out = json_dumps(root, OMNI_POLICY_DUMP);
    json_decref(root);

    if (*out == NULL) {
        return -1;
    }

    *out_len = strlen(*out);

    return 0;
}


/*
 * Whether the reply cannot change, seen from its text alone: parsing and
 * writing it back costs far more than looking.  Without a backslash in
 * the text no key is written with escapes, so a member named K appears
 * as "K": a scope one of whose named segments (not "*", not a number,
 * which may be an index) is absent reaches nothing.  A role none of whose
 * scopes reaches anything leaves every field as it is, for all the
 * caller's roles.
 */
static int
omni_policy_unreached(const omni_policy_t *p, const uint32_t *roles,
    size_t nroles, const char *reply, size_t len)
{
    size_t               i, j, k;
    const omni_pseg_t   *seg;
    const omni_prole_t  *r;
    const omni_pscope_t *sc;

    if (memchr(reply, '\\', len) != NULL) {
        return 0;
    }

    for (i = 0; i < nroles; i++) {
        r = &p->roles[roles[i]];

        for (j = 0; j < r->nscopes; j++) {
            sc = &p->scopes[r->scopes + j];

            for (k = 0; k < sc->nsegs; k++) {
                seg = &p->segs[sc->segs + k];

                if (!seg->any && seg->index < 0
                    && !omni_policy_has_key(reply, len, p->strs + seg->str,
                                            seg->len))
                {
                    break;
                }
            }

            if (k == sc->nsegs) {
                /* this scope may reach a field: so may the role */
                break;
            }
        }

        if (j == r->nscopes) {
            return 1;
        }
    }

    return 0;
}


/* whether "key" (with its quotes) is in the text */
static int
omni_policy_has_key(const char *text, size_t len, const char *key,
    size_t klen)
{
    char  needle[OMNI_POLICY_SEGMENT_MAX + 2];

    needle[0] = '"';
    memcpy(needle + 1, key, klen);
    needle[klen + 1] = '"';

    return memmem(text, len, needle, klen + 2) != NULL;
}


/* the caller's distinct known roles: -1 when there are too many */
static int
omni_policy_callers(const omni_policy_t *p, const omni_policy_request_t *req,
    uint32_t *roles, size_t *n)
{
    size_t   i, j;
    int64_t  role;

    *n = 0;

    if (req->anonymous) {
        if (p->anonymous >= 0) {
            roles[(*n)++] = (uint32_t) p->anonymous;
        }

        return 0;
    }

    for (i = 0; i < req->nroles; i++) {
        role = omni_policy_role_named(p, req->roles[i]);

        if (role < 0) {
            continue;
        }

        for (j = 0; j < *n; j++) {
            if (roles[j] == (uint32_t) role) {
                break;
            }
        }

        if (j < *n) {
            continue;
        }

        if (*n == OMNI_POLICY_CALLER_MAX) {
            return -1;
        }

        roles[(*n)++] = (uint32_t) role;
    }

    return 0;
}


static void
omni_policy_walk(omni_papply_t *a, json_t *node, size_t depth,
    const omni_pstate_t *st, size_t n, uint64_t covered)
{
    int             action;
    void           *iter, *next_iter;
    size_t          i, m;
    json_t         *child, *v;
    uint32_t        keep;
    uint64_t        cov;
    const char     *key;
    omni_pstate_t  *next;

    next = a->states + (depth + 1) * a->max;

    if (json_is_object(node)) {
        /* the next member is taken first: this one may be deleted */
        iter = json_object_iter(node);

        while (iter != NULL && !a->nomem) {
            key = json_object_iter_key(iter);
            child = json_object_iter_value(iter);
            next_iter = json_object_iter_next(node, iter);

            action = omni_policy_target(a, depth, st, n, covered, key, -1,
                                        next, &m, &cov, &keep);

            if (action == OMNI_PSCOPE_REMOVE) {
                json_object_del(node, key);
                a->changed = 1;

            } else if (action == OMNI_PSCOPE_MASK) {
                v = omni_policy_mask(child, keep);

                if (v == NULL || json_object_iter_set_new(node, iter, v) != 0)
                {
                    a->nomem = 1;

                } else {
                    a->changed = 1;
                }

            } else if (m > 0) {
                omni_policy_walk(a, child, depth + 1, next, m, cov);
            }

            iter = next_iter;
        }

        return;
    }

    if (!json_is_array(node)) {
        return;
    }

    /* backwards: removing an element moves only those already done */
    for (i = json_array_size(node); i > 0 && !a->nomem; i--) {
        child = json_array_get(node, i - 1);

        action = omni_policy_target(a, depth, st, n, covered, NULL,
                                    (int64_t) (i - 1), next, &m, &cov, &keep);

        if (action == OMNI_PSCOPE_REMOVE) {
            if (json_array_remove(node, i - 1) != 0) {
                a->nomem = 1;

            } else {
                a->changed = 1;
            }

        } else if (action == OMNI_PSCOPE_MASK) {
            v = omni_policy_mask(child, keep);

            if (v == NULL || json_array_set_new(node, i - 1, v) != 0) {
                a->nomem = 1;

            } else {
                a->changed = 1;
            }

        } else if (m > 0) {
            omni_policy_walk(a, child, depth + 1, next, m, cov);
        }
    }
}


/*
 * What happens to one child (an object member named key, or an array
 * element at index): the states that go on below it in next, the roles
 * that cover it in cov.  A role covered above already sees nothing here:
 * its own mask at this depth does not count.  Several masks keep the
 * most characters any of them keeps.
 */
static int
omni_policy_target(omni_papply_t *a, size_t depth, const omni_pstate_t *st,
    size_t n, uint64_t covered, const char *key, int64_t index,
    omni_pstate_t *next, size_t *m, uint64_t *cov, uint32_t *keep)
{
    int                   masked;
    size_t                i;
    uint64_t              hit, bit;
    const omni_pseg_t    *seg;
    const omni_pscope_t  *sc;
    const omni_policy_t  *p;

    p = a->p;
    hit = 0;
    masked = 0;
    *keep = 0;
    *m = 0;

    for (i = 0; i < n; i++) {
        sc = &p->scopes[st[i].scope];
        seg = &p->segs[sc->segs + depth];

        if (!seg->any) {
            if (key != NULL ? strcmp(p->strs + seg->str, key) != 0
                            : seg->index != index)
            {
                continue;
            }
        }

        if (depth + 1 < sc->nsegs) {
            next[(*m)++] = st[i];
            continue;
        }

        bit = (uint64_t) 1 << st[i].bit;
        hit |= bit;

        if (!sc->remove && !(covered & bit)) {
            masked = 1;

            if (sc->keep_last > *keep) {
                *keep = sc->keep_last;
            }
        }
    }

    *cov = covered | hit;

    if (hit == 0 || *cov != a->all) {
        return OMNI_PSCOPE_KEEP;
    }

    return masked ? OMNI_PSCOPE_MASK : OMNI_PSCOPE_REMOVE;
}


/*
 * A string keeps its last keep characters (code points) and the others
 * become "*"; a string of keep characters or fewer is starred whole, so
 * a mask never shows a whole value.  Anything else becomes "****".
 */
static json_t *
omni_policy_mask(const json_t *v, uint32_t keep)
{
    char        *buf;
    size_t       i, len, chars, stars, tail, kept;
    json_t      *masked;
    const char  *s;

    if (!json_is_string(v)) {
        return json_string(OMNI_POLICY_MASKED);
    }

    s = json_string_value(v);
    len = json_string_length(v);
    chars = 0;

    for (i = 0; i < len; i++) {
        if (((unsigned char) s[i] & 0xc0) != 0x80) {
            chars++;
        }
    }

    tail = len;

    if (chars <= keep) {
        stars = chars;

    } else {
        stars = chars - keep;

        /* back over keep characters: a lead byte ends each */
        for (kept = 0; kept < keep && tail > 0; ) {
            tail--;

            if (((unsigned char) s[tail] & 0xc0) != 0x80) {
                kept++;
            }
        }
    }

    buf = malloc(stars + (len - tail) + 1);
    if (buf == NULL) {
        return NULL;
    }

    memset(buf, '*', stars);
    memcpy(buf + stars, s + tail, len - tail);

    masked = json_stringn(buf, stars + (len - tail));
    free(buf);

    return masked;
}


/* diff */

char *
omni_policy_diff(const char *from, size_t from_len, const char *to,
    size_t to_len)
{
    int             failed;
    char           *text;
    json_t         *a, *b, *out, *part, *ra, *rb, *anon;
    const char     *an, *bn;
    json_error_t    jerr;
    omni_policy_t  *p;

    /* only valid policies are compared */
    p = omni_policy_compile(from, from_len, NULL);
    if (p == NULL) {
        return NULL;
    }

    omni_policy_free(p);

    p = omni_policy_compile(to, to_len, NULL);
    if (p == NULL) {
        return NULL;
    }

    omni_policy_free(p);

    text = NULL;
    failed = 0;
    ra = NULL;
    rb = NULL;

    a = json_loadb(from, from_len, OMNI_POLICY_LOAD, &jerr);
    b = json_loadb(to, to_len, OMNI_POLICY_LOAD, &jerr);
    out = json_object();

    if (a == NULL || b == NULL || out == NULL) {
        goto done;
    }

    part = json_object();
    if (part == NULL || json_object_set_new(out, "roles", part) != 0) {
        goto done;
    }

    failed |= omni_policy_diff_names(json_object_get(a, "roles"),
                                     json_object_get(b, "roles"), part);

    ra = omni_policy_diff_rules(json_object_get(a, "roles"));
    rb = omni_policy_diff_rules(json_object_get(b, "roles"));
    part = json_object();

    if (ra == NULL || rb == NULL || part == NULL
        || json_object_set_new(out, "rules", part) != 0)
    {
        goto done;
    }

    failed |= omni_policy_diff_names(ra, rb, part);

    an = omni_policy_anon_name(a);
    bn = omni_policy_anon_name(b);

    if (strcmp(an, bn) != 0) {
        anon = json_pack("{s:s, s:s}", "from", an, "to", bn);

        if (anon == NULL || json_object_set_new(out, "anonymous_role", anon)
                            != 0)
        {
            goto done;
        }
    }

    if (!failed) {
        text = json_dumps(out, OMNI_POLICY_DUMP);
    }

done:

    json_decref(a);
    json_decref(b);
    json_decref(out);
    json_decref(ra);
    json_decref(rb);

    return text;
}


/* rule id -> {"role": the role holding it, "rule": the rule as written} */
static json_t *
omni_policy_diff_rules(json_t *roles)
{
    size_t       j;
    json_t      *map, *role, *rules, *rule, *entry;
    const char  *name;

    map = json_object();
    if (map == NULL) {
        return NULL;
    }

    json_object_foreach(roles, name, role) {
        rules = json_object_get(role, "rules");

        json_array_foreach(rules, j, rule) {
            entry = json_pack("{s:s, s:O}", "role", name, "rule", rule);

            if (entry == NULL
                || json_object_set_new(map,
                                       json_string_value(
                                           json_object_get(rule, "id")),
                                       entry)
                   != 0)
            {
                json_decref(map);
                return NULL;
            }
        }
    }

    return map;
}


/*
 * Names in to and not in from are added, in from and not in to removed,
 * in both with different values changed; added and changed in the order
 * of to, removed in the order of from.  Returns 1 out of memory.
 */
static int
omni_policy_diff_names(json_t *from, json_t *to, json_t *out)
{
    int          failed;
    json_t      *added, *removed, *changed, *v, *old;
    const char  *key;

    added = json_array();
    removed = json_array();
    changed = json_array();
    failed = 0;

    /* set_new() takes each array, even when it fails */
    if (added == NULL || removed == NULL || changed == NULL) {
        json_decref(added);
        json_decref(removed);
        json_decref(changed);
        return 1;
    }

    if (json_object_set_new(out, "added", added) != 0) {
        json_decref(removed);
        json_decref(changed);
        return 1;
    }

    if (json_object_set_new(out, "removed", removed) != 0) {
        json_decref(changed);
        return 1;
    }

    if (json_object_set_new(out, "changed", changed) != 0) {
        return 1;
    }

    json_object_foreach(to, key, v) {
        old = json_object_get(from, key);

        if (old == NULL) {
            failed |= json_array_append_new(added, json_string(key)) != 0;

        } else if (!json_equal(old, v)) {
            failed |= json_array_append_new(changed, json_string(key)) != 0;
        }
    }

    json_object_foreach(from, key, v) {
        if (json_object_get(to, key) == NULL) {
            failed |= json_array_append_new(removed, json_string(key)) != 0;
        }
    }

    return failed;
}


static const char *
omni_policy_anon_name(json_t *root)
{
    const char  *name;

    name = json_string_value(json_object_get(root, "anonymous_role"));

    return (name != NULL) ? name : "anonymous";
}
