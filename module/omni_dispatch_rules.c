/*
 * Copyright (C) The omni gateway authors
 *
 * The workflow's dispatch (omni_dispatch.h): reading the pools, the rules
 * and the default, and deciding a request: the first rule that matches,
 * then its targets in order, the first with room taken; the pool that
 * last served the customer first when it is one of them and has room; a
 * bot pool passed over for an intent of low confidence.
 */


#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "omni_contract.h"
#include "omni_dispatch_int.h"


static void omni_dispatch_one_pool(omni_dbuild_t *b, const char *name,
    json_t *v, omni_dispatch_pool_t *pool);
static void omni_dispatch_pool_channels(omni_dbuild_t *b, const char *path,
    json_t *v, omni_dispatch_pool_t *pool);
static void omni_dispatch_one_rule(omni_dbuild_t *b, const char *path,
    json_t *v, omni_dispatch_rule_t *rule, int is_default);
static void omni_dispatch_targets(omni_dbuild_t *b, const char *path,
    json_t *v, omni_dispatch_rule_t *rule);
static const char *omni_dispatch_room(const omni_dispatch_t *d,
    const omni_dispatch_req_t *req, const omni_dispatch_target_t *t,
    const uint32_t *in_flight);
static int omni_dispatch_is_upstream(const char *s, size_t len);
static void omni_dispatch_sets(omni_dbuild_t *b);
static const omni_dispatch_set_t *omni_dispatch_set(const omni_dispatch_t *d,
    const char *channel);


static const char *const  omni_dispatch_pool_keys[] = {
    "description", "upstream", "capacity", "kind", "channels", NULL
};

static const char *const  omni_dispatch_rule_keys[] = {
    "id", "description", "channels", "tiers", "anonymous", "actions",
    "intents", "confidence_min", "open_case", "targets", NULL
};

static const char *const  omni_dispatch_default_keys[] = {
    "description", "targets", NULL
};

static const char *const  omni_dispatch_target_keys[] = {
    "pool", "in_flight_below", NULL
};


void
omni_dispatch_pools(omni_dbuild_t *b, json_t *v)
{
    size_t       n;
    json_t      *p;
    const char  *name;

    if (!json_is_object(v) || json_object_size(v) == 0) {
        omni_dispatch_error(b, "pools must be a non-empty object");
        return;
    }

    n = json_object_size(v);

    if (n > OMNI_DISPATCH_POOLS_MAX) {
        omni_dispatch_error(b, "pools has %zu entries, at most %d", n,
                            OMNI_DISPATCH_POOLS_MAX);
        return;
    }

    b->d->pools = calloc(n, sizeof(omni_dispatch_pool_t));
    if (b->d->pools == NULL) {
        b->nomem = 1;
        return;
    }

    json_object_foreach(v, name, p) {
        omni_dispatch_one_pool(b, name, p, &b->d->pools[b->d->npools++]);
    }
}


static void
omni_dispatch_one_pool(omni_dbuild_t *b, const char *name, json_t *v,
    omni_dispatch_pool_t *pool)
{
    size_t       len;
    json_t      *f;
    const char  *s;
    char         path[OMNI_DISPATCH_PATH_MAX], q[OMNI_DISPATCH_QUOTE];

    len = strlen(name);
    omni_dispatch_quote(q, sizeof(q), name, len);

    if (!omni_dispatch_is_id(name, len)) {
        omni_dispatch_error(b, "pools: the name %s must be "
                            OMNI_DISPATCH_ID_CHARS, q);
        return;
    }

    snprintf(path, sizeof(path), "pools.%s", name);
    memcpy(pool->name, name, len + 1);
    memcpy(pool->upstream, name, len + 1);

    if (!json_is_object(v)) {
        omni_dispatch_error(b, "%s must be an object", path);
        return;
    }

    (void) omni_dispatch_keys(b, v, path, omni_dispatch_pool_keys);

    f = json_object_get(v, "description");

    if (f != NULL && !json_is_string(f)) {
        omni_dispatch_error(b, "%s.description must be a string", path);
    }

    f = json_object_get(v, "upstream");

    if (f != NULL) {
        s = json_is_string(f) ? json_string_value(f) : NULL;

        if (s == NULL || !omni_dispatch_is_upstream(s, json_string_length(f)))
        {
            omni_dispatch_error(b, "%s.upstream must be an upstream's name "
                                "(1 to 128 of A-Z a-z 0-9 _ . : -)", path);

        } else {
            memcpy(pool->upstream, s, json_string_length(f) + 1);
        }
    }

    f = json_object_get(v, "capacity");

    if (f == NULL) {
        omni_dispatch_error(b, "%s.capacity is missing (the requests in "
                            "flight it takes at most)", path);

    } else {
        snprintf(path, sizeof(path), "pools.%s.capacity", name);
        (void) omni_dispatch_count(b, path, f, OMNI_DISPATCH_CAPACITY_MAX,
                                   &pool->capacity);
        snprintf(path, sizeof(path), "pools.%s", name);
    }

    f = json_object_get(v, "kind");

    if (f != NULL) {
        s = json_is_string(f) ? json_string_value(f) : "";

        if (strcmp(s, "bot") == 0 && json_string_length(f) == 3) {
            pool->bot = 1;

        } else if (strcmp(s, "people") != 0 || json_string_length(f) != 6) {
            omni_dispatch_error(b, "%s.kind must be \"bot\" or \"people\"",
                                path);
        }
    }

    f = json_object_get(v, "channels");

    if (f != NULL) {
        omni_dispatch_pool_channels(b, path, f, pool);
    }
}


/*
 * "channels": {"ivr": 2, "web": 20}, the requests in flight a pool takes
 * at most on each of these channels (one call but several chats per
 * agent), within its capacity.
 */
static void
omni_dispatch_pool_channels(omni_dbuild_t *b, const char *path, json_t *v,
    omni_dispatch_pool_t *pool)
{
    size_t       len;
    json_t      *n;
    const char  *name;
    char         sub[OMNI_DISPATCH_PATH_MAX], q[OMNI_DISPATCH_QUOTE];

    if (!json_is_object(v) || json_object_size(v) == 0
        || json_object_size(v) > OMNI_DISPATCH_NAMES_MAX)
    {
        omni_dispatch_error(b, "%s.channels must be an object of 1 to %d "
                            "channels, each with its capacity", path,
                            OMNI_DISPATCH_NAMES_MAX);
        return;
    }

    json_object_foreach(v, name, n) {
        len = strlen(name);

        if (!omni_contract_is_name(name, len)) {
            omni_dispatch_error(b, "%s.channels: %s is not a channel name "
                                "(a-z, 0-9, _; 32 bytes at most)", path,
                                omni_dispatch_quote(q, sizeof(q), name,
                                                    len));
            continue;
        }

        snprintf(sub, sizeof(sub), "pools.%s.channels.%s", pool->name,
                 name);

        if (omni_dispatch_count(b, sub, n, OMNI_DISPATCH_CAPACITY_MAX,
                                &pool->channel_capacity[pool->nchannels])
            == 0)
        {
            memcpy(pool->channels[pool->nchannels++], name, len + 1);
        }
    }
}


int
omni_dispatch_pool_channel(const omni_dispatch_pool_t *pool,
    const char *channel)
{
    size_t  i;

    for (i = 0; i < pool->nchannels; i++) {
        if (strcmp(pool->channels[i], channel) == 0) {
            return (int) i;
        }
    }

    return -1;
}


/* the rules, then the default as a last rule of id "default" */
void
omni_dispatch_rules(omni_dbuild_t *b, json_t *rules, json_t *def)
{
    size_t                  i, j, n;
    omni_dispatch_rule_t   *rule;
    char                    path[OMNI_DISPATCH_PATH_MAX];
    char                    q[OMNI_DISPATCH_QUOTE];

    n = 0;

    if (rules != NULL) {
        if (!json_is_array(rules)) {
            omni_dispatch_error(b, "rules must be an array");
            rules = NULL;

        } else {
            n = json_array_size(rules);

            if (n > OMNI_DISPATCH_RULES_MAX) {
                omni_dispatch_error(b, "rules has %zu entries, at most %d", n,
                                    OMNI_DISPATCH_RULES_MAX);
                n = 0;
            }
        }
    }

    if (def == NULL) {
        omni_dispatch_error(b, "default is missing: the targets of a "
                            "request no rule matches");
    }

    b->d->rules = calloc(n + 1, sizeof(omni_dispatch_rule_t));
    if (b->d->rules == NULL) {
        b->nomem = 1;
        return;
    }

    for (i = 0; i < n; i++) {
        rule = &b->d->rules[i];
        snprintf(path, sizeof(path), "rules[%zu]", i);
        omni_dispatch_one_rule(b, path, json_array_get(rules, i), rule, 0);

        if (rule->id[0] == '\0') {
            continue;
        }

        if (strcmp(rule->id, "default") == 0) {
            omni_dispatch_error(b, "%s.id \"default\" is the default's", path);
            continue;
        }

        for (j = 0; j < i; j++) {
            if (strcmp(b->d->rules[j].id, rule->id) == 0) {
                omni_dispatch_error(b, "%s.id %s is also rules[%zu]'s", path,
                                    omni_dispatch_quote(q, sizeof(q),
                                                        rule->id,
                                                        strlen(rule->id)),
                                    j);
                break;
            }
        }
    }

    rule = &b->d->rules[n];
    memcpy(rule->id, "default", sizeof("default"));
    rule->match.anonymous = OMNI_DISPATCH_ANY;
    rule->match.open_case = OMNI_DISPATCH_ANY;
    b->d->nrules = n + 1;

    if (def != NULL) {
        omni_dispatch_one_rule(b, "default", def, rule, 1);
    }

    omni_dispatch_sets(b);
}


/*
 * The rules indexed by channel: for each channel some rule names, the
 * rules that name it or no channel; for every other channel, the rules
 * that name none.  Each set in the rules' order, the default last.
 */
static void
omni_dispatch_sets(omni_dbuild_t *b)
{
    size_t                  i, j, k, n;
    omni_dispatch_t        *d;
    omni_dispatch_set_t    *set;
    omni_dispatch_rule_t   *rule;

    d = b->d;

    /* the channels named, each once */
    n = 0;

    for (i = 0; i + 1 < d->nrules; i++) {
        n += d->rules[i].match.nchannels;
    }

    d->sets = calloc(n + 1, sizeof(omni_dispatch_set_t));
    if (d->sets == NULL) {
        b->nomem = 1;
        return;
    }

    for (i = 0; i + 1 < d->nrules; i++) {
        rule = &d->rules[i];

        for (j = 0; j < rule->match.nchannels; j++) {
            for (k = 0; k < d->nsets; k++) {
                if (strcmp(d->sets[k].channel, rule->match.channels[j]) == 0)
                {
                    break;
                }
            }

            if (k == d->nsets) {
                memcpy(d->sets[d->nsets++].channel, rule->match.channels[j],
                       sizeof(rule->match.channels[j]));
            }
        }
    }

    d->set_rules = calloc((d->nsets + 1) * d->nrules, sizeof(uint16_t));
    if (d->set_rules == NULL) {
        b->nomem = 1;
        return;
    }

    for (k = 0; k <= d->nsets; k++) {
        set = &d->sets[k];
        set->rules = d->set_rules + k * d->nrules;

        for (i = 0; i < d->nrules; i++) {
            rule = &d->rules[i];

            if (rule->match.nchannels == 0
                || (k < d->nsets
                    && omni_dispatch_match_channel(&rule->match,
                                                   set->channel)))
            {
                set->rules[set->nrules++] = (uint16_t) i;
            }
        }
    }
}


/* the set of the request's channel's rules */
static const omni_dispatch_set_t *
omni_dispatch_set(const omni_dispatch_t *d, const char *channel)
{
    size_t  k;

    for (k = 0; channel && k < d->nsets; k++) {
        if (strcmp(d->sets[k].channel, channel) == 0) {
            break;
        }
    }

    return &d->sets[k];
}


static void
omni_dispatch_one_rule(omni_dbuild_t *b, const char *path, json_t *v,
    omni_dispatch_rule_t *rule, int is_default)
{
    json_t  *f;
    char     sub[OMNI_DISPATCH_PATH_MAX + 16];

    if (!json_is_object(v)) {
        omni_dispatch_error(b, "%s must be an object", path);
        return;
    }

    if (is_default) {
        (void) omni_dispatch_keys(b, v, path, omni_dispatch_default_keys);

        f = json_object_get(v, "description");

        if (f != NULL && !json_is_string(f)) {
            omni_dispatch_error(b, "%s.description must be a string", path);
        }

    } else {
        (void) omni_dispatch_keys(b, v, path, omni_dispatch_rule_keys);
        omni_dispatch_id(b, path, json_object_get(v, "id"), rule->id);
        omni_dispatch_conditions(b, path, v, &rule->match);
    }

    f = json_object_get(v, "targets");

    if (f == NULL) {
        omni_dispatch_error(b, "%s.targets is missing", path);
        return;
    }

    snprintf(sub, sizeof(sub), "%s.targets", path);
    omni_dispatch_targets(b, sub, f, rule);
}


/* pools tried in order: "name" or {"pool": "name", "in_flight_below": N} */
static void
omni_dispatch_targets(omni_dbuild_t *b, const char *path, json_t *v,
    omni_dispatch_rule_t *rule)
{
    int                      pool;
    size_t                   i, j, n;
    json_t                  *e, *name, *below;
    omni_dispatch_target_t  *t;
    char                     sub[2 * OMNI_DISPATCH_PATH_MAX];
    char                     q[OMNI_DISPATCH_QUOTE];

    if (!json_is_array(v) || json_array_size(v) == 0) {
        omni_dispatch_error(b, "%s must be a non-empty array", path);
        return;
    }

    n = json_array_size(v);

    if (n > OMNI_DISPATCH_TARGETS_MAX) {
        omni_dispatch_error(b, "%s has %zu entries, at most %d", path, n,
                            OMNI_DISPATCH_TARGETS_MAX);
        return;
    }

    json_array_foreach(v, i, e) {
        snprintf(sub, sizeof(sub), "%s[%zu]", path, i);
        below = NULL;
        name = e;

        if (json_is_object(e)) {
            (void) omni_dispatch_keys(b, e, sub, omni_dispatch_target_keys);
            name = json_object_get(e, "pool");
            below = json_object_get(e, "in_flight_below");

            if (name == NULL) {
                omni_dispatch_error(b, "%s.pool is missing", sub);
                continue;
            }

            snprintf(sub, sizeof(sub), "%s[%zu].pool", path, i);
        }

        if (!json_is_string(name)) {
            omni_dispatch_error(b, "%s must be a pool's name", sub);
            continue;
        }

        pool = omni_dispatch_pool(b->d, json_string_value(name),
                                  json_string_length(name));

        if (pool < 0) {
            if (b->d->npools) {
                omni_dispatch_error(b, "%s: unknown pool %s", sub,
                                    omni_dispatch_quote(q, sizeof(q),
                                                  json_string_value(name),
                                                  json_string_length(name)));
            }

            continue;
        }

        for (j = 0; j < rule->ntargets; j++) {
            if (rule->targets[j].pool == (uint32_t) pool) {
                omni_dispatch_error(b, "%s: pool %s is listed twice", sub,
                                    omni_dispatch_quote(q, sizeof(q),
                                                  json_string_value(name),
                                                  json_string_length(name)));
                break;
            }
        }

        if (j < rule->ntargets) {
            continue;
        }

        t = &rule->targets[rule->ntargets++];
        t->pool = (uint32_t) pool;

        if (below != NULL) {
            snprintf(sub, sizeof(sub), "%s[%zu].in_flight_below", path, i);
            (void) omni_dispatch_count(b, sub, below,
                                       OMNI_DISPATCH_CAPACITY_MAX,
                                       &t->in_flight_below);
        }
    }
}


int
omni_dispatch_pool(const omni_dispatch_t *d, const char *name, size_t len)
{
    size_t  i;

    for (i = 0; i < d->npools; i++) {
        if (strlen(d->pools[i].name) == len
            && memcmp(d->pools[i].name, name, len) == 0)
        {
            return (int) i;
        }
    }

    return -1;
}


int
omni_dispatch_decide(const omni_dispatch_t *d, const omni_dispatch_req_t *req,
    const uint32_t *in_flight, omni_dispatch_decision_t *out)
{
    size_t                       i, k, r;
    const char                  *why;
    const omni_dispatch_set_t   *set;
    const omni_dispatch_rule_t  *rule;

    memset(out, 0, sizeof(omni_dispatch_decision_t));
    out->pool = -1;
    out->step = -1;
    out->reason = OMNI_DISPATCH_NO_CAPACITY;

    if (d->nrules == 0) {
        return -1;
    }

    /* only the rules that can match the channel; the default, last, any */
    set = omni_dispatch_set(d, req->channel);

    for (k = 0; k + 1 < set->nrules; k++) {
        if (omni_dispatch_matches(&d->rules[set->rules[k]].match, req)) {
            break;
        }
    }

    r = set->rules[k];
    rule = &d->rules[r];
    out->rule = rule->id;

    if (req->affinity >= 0) {
        for (i = 0; i < rule->ntargets; i++) {
            if (rule->targets[i].pool == (uint32_t) req->affinity
                && omni_dispatch_room(d, req, &rule->targets[i], in_flight)
                   == NULL)
            {
                out->pool = req->affinity;
                out->step = (int) i;
                out->reason = OMNI_DISPATCH_AFFINITY;
                return (int) r;
            }
        }
    }

    for (i = 0; i < rule->ntargets; i++) {
        why = omni_dispatch_room(d, req, &rule->targets[i], in_flight);

        if (why == NULL) {
            out->pool = (int) rule->targets[i].pool;
            out->step = (int) i;
            out->reason = i ? OMNI_DISPATCH_OVERFLOW : OMNI_DISPATCH_FIRST;
            return (int) r;
        }

        out->skipped[i] = why;
    }

    return (int) r;
}


/*
 * NULL when the target takes the request, else why not.  A pool with a
 * capacity on the request's channel is full when either its capacity or
 * that one is reached, and its in-flight for in_flight_below is the
 * channel's.
 */
static const char *
omni_dispatch_room(const omni_dispatch_t *d, const omni_dispatch_req_t *req,
    const omni_dispatch_target_t *t, const uint32_t *in_flight)
{
    int                          c;
    uint32_t                     n;
    const omni_dispatch_pool_t  *pool;

    pool = &d->pools[t->pool];

    if (pool->bot && req->intent != NULL
        && req->confidence < d->bot_confidence_min)
    {
        return "low_confidence";
    }

    n = in_flight[t->pool];

    if (n >= (req->capacity ? req->capacity[t->pool] : pool->capacity)) {
        return "full";
    }

    c = (pool->nchannels && req->channel)
        ? omni_dispatch_pool_channel(pool, req->channel) : -1;

    if (c >= 0) {
        n = req->channel_in_flight ? req->channel_in_flight[t->pool] : 0;

        if (n >= (req->channel_capacity ? req->channel_capacity[t->pool]
                                         : pool->channel_capacity[c]))
        {
            return "full";
        }
    }

    if (t->in_flight_below && n >= t->in_flight_below) {
        return "busy";
    }

    return NULL;
}


const char *
omni_dispatch_reason(omni_dispatch_reason_t reason)
{
    static const char  *reasons[] = {
        "first", "overflow", "affinity", "no_capacity"
    };

    return (unsigned) reason < sizeof(reasons) / sizeof(reasons[0])
           ? reasons[reason] : "unknown";
}


static int
omni_dispatch_is_upstream(const char *s, size_t len)
{
    size_t  i;

    if (len == 0 || len > OMNI_DISPATCH_UPSTREAM_MAX) {
        return 0;
    }

    for (i = 0; i < len; i++) {
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z')
              || (s[i] >= '0' && s[i] <= '9') || s[i] == '_' || s[i] == '.'
              || s[i] == ':' || s[i] == '-'))
        {
            return 0;
        }
    }

    return 1;
}
