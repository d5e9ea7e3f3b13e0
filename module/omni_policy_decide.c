/*
 * Copyright (C) The omni gateway authors
 *
 * Deciding (omni_policy.h): decide() and explain() on a compiled
 * policy, and the lookup of a role by name that compiling and scopes
 * share with them.
 */


#include <stdio.h>
#include <string.h>

#include "omni_policy_int.h"


#define OMNI_POLICY_PREFIXES     64       /* dots in OMNI_POLICY_ACTION_MAX
                                             bytes of an action */

#define omni_policy_bloom_has(r, bit)                                         \
    ((r)->bloom[(bit) >> 6] & ((uint64_t) 1 << ((bit) & 63)))


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


static int64_t omni_policy_role_find(const omni_policy_t *p, const char *s,
    size_t len);

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


int64_t
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
