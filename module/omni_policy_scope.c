/*
 * Copyright (C) The omni gateway authors
 *
 * Reply scopes (omni_policy.h): has_scopes() and apply_scopes(), the
 * caller's roles' scopes applied to a unified reply in one walk.
 */


/* memmem(): glibc's is vectorised; nginx's own build defines it too */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "omni_policy_int.h"


#define OMNI_POLICY_CALLER_MAX   64       /* roles whose scopes combine: a
                                             bit each */
#define OMNI_POLICY_MASKED       "****"

/* what the caller's roles together do to one reply field */
#define OMNI_PSCOPE_KEEP         0
#define OMNI_PSCOPE_MASK         1
#define OMNI_PSCOPE_REMOVE       2


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
