/*
 * Copyright (C) The omni gateway authors
 *
 * Compiling a policy, after validation (omni_policy.c): role names
 * linked to indices, rule ids unique, no inheritance cycle, closures, the
 * action index; and the build state's helpers both passes use: errors
 * in the order of the file, quoting, the string arena, growing arrays,
 * hash tables.
 */


#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "omni_err.h"
#include "omni_policy_int.h"


#define OMNI_POLICY_CLOSURE_MAX  10000000 /* roles in all closures */
#define OMNI_POLICY_QUOTE_MAX    64       /* bytes of a value quoted in an
                                             error message */
#define OMNI_POLICY_TABLE_MIN    16


static int omni_policy_rule_ids(omni_pbuild_t *b);
static int omni_policy_cycles(omni_pbuild_t *b);
static void omni_policy_cycle(omni_pbuild_t *b, const uint32_t *stack,
    size_t from, size_t top);
static uint32_t *omni_policy_table(size_t n, size_t *mask);


/*
 * The role table, inherited names to indices, the anonymous role, rule
 * ids unique, no inheritance cycle.  Runs even when the roles had other
 * errors, so one attempt reports as much as it can.
 */
int
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
int
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
int
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


void
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

    /* jansson's messages may quote the document's bytes: one line each */
    omni_err_printable(text);

    b->errs[b->nerrs].text = strdup(text);
    if (b->errs[b->nerrs].text == NULL) {
        b->nomem = 1;
        return;
    }

    b->errs[b->nerrs].where = b->where;
    b->nerrs++;
}


/* a path below another one: cut at size, as the message it goes into */
void
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
char *
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


void
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
char *
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
const char *
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
uint32_t
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
void *
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
