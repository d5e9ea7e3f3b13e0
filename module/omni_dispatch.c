/*
 * Copyright (C) The omni gateway authors
 *
 * The workflow file (omni_dispatch.h): compile() reads the document part
 * by part, collecting every error with its JSON path; the tables it
 * builds are read-only afterwards.  Here: the document, the rate limits,
 * the conditions a limit or a rule matches on, and the helpers the
 * pools' and rules' reader (omni_dispatch_rules.c) shares.
 */


#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "omni_contract.h"
#include "omni_dispatch_int.h"
#include "omni_str.h"


#define OMNI_DISPATCH_VERSION   1
#define OMNI_DISPATCH_LOAD      (JSON_REJECT_DUPLICATES | JSON_DECODE_ANY)
#define OMNI_DISPATCH_MSG_MAX   512

/* what a list of names holds */
#define OMNI_DISPATCH_CHANNELS  0
#define OMNI_DISPATCH_TIERS     1
#define OMNI_DISPATCH_ACTIONS   2
#define OMNI_DISPATCH_INTENTS   3


static char *omni_dispatch_errors_text(omni_dbuild_t *b);
static void omni_dispatch_top(omni_dbuild_t *b, json_t *root);
static void omni_dispatch_limits(omni_dbuild_t *b, json_t *v);
static void omni_dispatch_one_limit(omni_dbuild_t *b, size_t i, json_t *v,
    omni_dispatch_limit_t *l);
static void omni_dispatch_names(omni_dbuild_t *b, const char *path,
    json_t *v, int what, char *out, size_t size, size_t *n);
static void omni_dispatch_flag(omni_dbuild_t *b, const char *path,
    json_t *obj, const char *key, int *flag);
static int omni_dispatch_is_pattern(const char *s, size_t len, int what);
static int omni_dispatch_pattern_match(const char *pattern, const char *s);
static int omni_dispatch_listed(const char *list, size_t size, size_t n,
    const char *s, int patterns);


static const char *const  omni_dispatch_top_keys[] = {
    "version", "description", "rate_limits", "pools", "rules", "default",
    "bot_confidence_min", "affinity_seconds", NULL
};

static const char *const  omni_dispatch_limit_keys[] = {
    "id", "description", "channels", "tiers", "anonymous", "rate", "per",
    "burst", "unlimited", NULL
};


omni_dispatch_t *
omni_dispatch_compile(const char *json, size_t len, char **errors)
{
    size_t          i;
    json_t         *root;
    json_error_t    jerr;
    omni_dbuild_t   b;
    omni_dispatch_t  *d;

    if (errors != NULL) {
        *errors = NULL;
    }

    memset(&b, 0, sizeof(omni_dbuild_t));

    b.d = calloc(1, sizeof(omni_dispatch_t));
    if (b.d == NULL) {
        return NULL;
    }

    root = NULL;

    if (len > OMNI_DISPATCH_SIZE_MAX) {
        omni_dispatch_error(&b, "the workflow is larger than %d bytes",
                            OMNI_DISPATCH_SIZE_MAX);
        goto done;
    }

    memset(&jerr, 0, sizeof(json_error_t));
    root = json_loadb(json, len, OMNI_DISPATCH_LOAD, &jerr);

    if (root == NULL) {
        if (json_error_code(&jerr) == json_error_out_of_memory) {
            b.nomem = 1;

        } else {
            omni_dispatch_error(&b, "the workflow is not valid JSON: %s at "
                                "line %d column %d", jerr.text, jerr.line,
                                jerr.column);
        }

        goto done;
    }

    omni_dispatch_top(&b, root);

done:

    json_decref(root);

    if (!b.nomem && b.nerrs == 0) {
        return b.d;
    }

    if (!b.nomem && errors != NULL) {
        *errors = omni_dispatch_errors_text(&b);
    }

    for (i = 0; i < b.nerrs; i++) {
        free(b.errs[i]);
    }

    d = b.d;
    omni_dispatch_free(d);

    return NULL;
}


void
omni_dispatch_free(omni_dispatch_t *d)
{
    if (d == NULL) {
        return;
    }

    free(d->limits);
    free(d->pools);
    free(d->rules);
    free(d->sets);
    free(d->set_rules);
    free(d);
}


const omni_dispatch_limit_t *
omni_dispatch_limit(const omni_dispatch_t *d, const char *channel,
    const char *tier, int anonymous)
{
    size_t               i;
    omni_dispatch_req_t  req;

    req.channel = channel;
    req.action = NULL;
    req.tier = tier;
    req.anonymous = anonymous;
    req.open_case = 0;
    req.intent = NULL;
    req.confidence = OMNI_DISPATCH_NO_CONFIDENCE;
    req.affinity = -1;
    req.capacity = NULL;

    for (i = 0; i < d->nlimits; i++) {
        if (omni_dispatch_matches(&d->limits[i].match, &req)) {
            return &d->limits[i];
        }
    }

    return NULL;
}


/* whether a request meets every condition of m */
int
omni_dispatch_matches(const omni_dispatch_match_t *m,
    const omni_dispatch_req_t *req)
{
    if (m->anonymous != OMNI_DISPATCH_ANY
        && m->anonymous != (req->anonymous != 0))
    {
        return 0;
    }

    if (m->open_case != OMNI_DISPATCH_ANY
        && m->open_case != (req->open_case != 0))
    {
        return 0;
    }

    if (!omni_dispatch_match_channel(m, req->channel)) {
        return 0;
    }

    if (m->ntiers
        && (req->tier == NULL
            || !omni_dispatch_listed(&m->tiers[0][0], sizeof(m->tiers[0]),
                                     m->ntiers, req->tier, 0)))
    {
        return 0;
    }

    if (m->nactions
        && (req->action == NULL
            || !omni_dispatch_listed(&m->actions[0][0],
                                     sizeof(m->actions[0]), m->nactions,
                                     req->action, 1)))
    {
        return 0;
    }

    if (m->nintents
        && (req->intent == NULL
            || req->confidence < m->confidence_min
            || !omni_dispatch_listed(&m->intents[0][0],
                                     sizeof(m->intents[0]), m->nintents,
                                     req->intent, 1)))
    {
        return 0;
    }

    return 1;
}


int
omni_dispatch_match_channel(const omni_dispatch_match_t *m,
    const char *channel)
{
    return m->nchannels == 0
           || omni_dispatch_listed(&m->channels[0][0],
                                   sizeof(m->channels[0]), m->nchannels,
                                   channel, 0);
}


static int
omni_dispatch_listed(const char *list, size_t size, size_t n, const char *s,
    int patterns)
{
    size_t  i;

    for (i = 0; i < n; i++) {
        if (patterns ? omni_dispatch_pattern_match(list + i * size, s)
                     : strcmp(list + i * size, s) == 0)
        {
            return 1;
        }
    }

    return 0;
}


/* "*" any; "a.*" a.b, a.b.c but not a; else the same */
static int
omni_dispatch_pattern_match(const char *pattern, const char *s)
{
    size_t  len;

    len = strlen(pattern);

    if (len == 1 && pattern[0] == '*') {
        return 1;
    }

    if (len > 2 && pattern[len - 1] == '*') {
        return strncmp(pattern, s, len - 1) == 0 && s[len - 1] != '\0';
    }

    return strcmp(pattern, s) == 0;
}


static void
omni_dispatch_top(omni_dbuild_t *b, json_t *root)
{
    json_t  *v;

    if (!json_is_object(root)) {
        omni_dispatch_error(b, "the workflow must be a JSON object");
        return;
    }

    (void) omni_dispatch_keys(b, root, "", omni_dispatch_top_keys);

    v = json_object_get(root, "version");

    if (v == NULL) {
        omni_dispatch_error(b, "version is missing (it must be %d)",
                            OMNI_DISPATCH_VERSION);

    } else if (!json_is_integer(v)
               || json_integer_value(v) != OMNI_DISPATCH_VERSION)
    {
        omni_dispatch_error(b, "version must be %d", OMNI_DISPATCH_VERSION);
    }

    v = json_object_get(root, "description");

    if (v != NULL && !json_is_string(v)) {
        omni_dispatch_error(b, "description must be a string");
    }

    v = json_object_get(root, "rate_limits");

    if (v != NULL) {
        omni_dispatch_limits(b, v);
    }

    v = json_object_get(root, "bot_confidence_min");

    if (v != NULL) {
        if (!json_is_number(v) || json_number_value(v) < 0
            || json_number_value(v) > 1)
        {
            omni_dispatch_error(b, "bot_confidence_min must be a number "
                                "from 0 to 1");

        } else {
            b->d->bot_confidence_min = json_number_value(v);
        }
    }

    b->d->affinity_seconds = OMNI_DISPATCH_AFFINITY_DEFAULT;
    v = json_object_get(root, "affinity_seconds");

    if (v != NULL
        && (!json_is_integer(v) || json_integer_value(v) < 0
            || json_integer_value(v) > OMNI_DISPATCH_AFFINITY_MAX))
    {
        omni_dispatch_error(b, "affinity_seconds must be an integer from 0 "
                            "to %d", OMNI_DISPATCH_AFFINITY_MAX);

    } else if (v != NULL) {
        b->d->affinity_seconds = (uint32_t) json_integer_value(v);
    }

    v = json_object_get(root, "pools");

    if (v != NULL) {
        omni_dispatch_pools(b, v);
    }

    if ((json_object_get(root, "rules") || json_object_get(root, "default"))
        && v == NULL)
    {
        omni_dispatch_error(b, "pools is missing: rules and a default name "
                            "pools");
    }

    if (json_object_get(root, "rules") || json_object_get(root, "default")
        || v != NULL)
    {
        omni_dispatch_rules(b, json_object_get(root, "rules"),
                            json_object_get(root, "default"));
    }
}


/* every key of obj is one of allowed; 0 when they all are */
int
omni_dispatch_keys(omni_dbuild_t *b, json_t *obj, const char *path,
    const char *const *allowed)
{
    int          bad;
    size_t       i;
    json_t      *v;
    const char  *key;
    char         q[OMNI_DISPATCH_QUOTE];

    bad = 0;

    json_object_foreach(obj, key, v) {
        for (i = 0; allowed[i]; i++) {
            if (strcmp(key, allowed[i]) == 0) {
                break;
            }
        }

        if (allowed[i] == NULL) {
            omni_dispatch_error(b, "%s%sunknown key %s", path,
                                path[0] ? ": " : "",
                                omni_dispatch_quote(q, sizeof(q), key,
                                                    strlen(key)));
            bad = 1;
        }
    }

    return bad ? -1 : 0;
}


static void
omni_dispatch_limits(omni_dbuild_t *b, json_t *v)
{
    size_t                  i, j, n;
    omni_dispatch_limit_t  *l;
    char                    q[OMNI_DISPATCH_QUOTE];

    if (!json_is_array(v)) {
        omni_dispatch_error(b, "rate_limits must be an array");
        return;
    }

    n = json_array_size(v);

    if (n > OMNI_DISPATCH_LIMITS_MAX) {
        omni_dispatch_error(b, "rate_limits has %zu entries, at most %d",
                            n, OMNI_DISPATCH_LIMITS_MAX);
        return;
    }

    if (n == 0) {
        return;
    }

    b->d->limits = calloc(n, sizeof(omni_dispatch_limit_t));
    if (b->d->limits == NULL) {
        b->nomem = 1;
        return;
    }

    b->d->nlimits = n;

    for (i = 0; i < n; i++) {
        l = &b->d->limits[i];
        omni_dispatch_one_limit(b, i, json_array_get(v, i), l);

        if (l->id[0] == '\0') {
            continue;
        }

        for (j = 0; j < i; j++) {
            if (strcmp(b->d->limits[j].id, l->id) == 0) {
                omni_dispatch_error(b, "rate_limits[%zu].id %s is also "
                                    "rate_limits[%zu]'s", i,
                                    omni_dispatch_quote(q, sizeof(q), l->id,
                                                        strlen(l->id)),
                                    j);
                break;
            }
        }
    }
}


static void
omni_dispatch_one_limit(omni_dbuild_t *b, size_t i, json_t *v,
    omni_dispatch_limit_t *l)
{
    json_t      *f;
    uint32_t     n;
    const char  *s;
    char         path[OMNI_DISPATCH_PATH_MAX / 2];
    char         sub[OMNI_DISPATCH_PATH_MAX];

    snprintf(path, sizeof(path), "rate_limits[%zu]", i);
    l->match.anonymous = OMNI_DISPATCH_ANY;
    l->match.open_case = OMNI_DISPATCH_ANY;

    if (!json_is_object(v)) {
        omni_dispatch_error(b, "%s must be an object", path);
        return;
    }

    (void) omni_dispatch_keys(b, v, path, omni_dispatch_limit_keys);

    omni_dispatch_id(b, path, json_object_get(v, "id"), l->id);
    omni_dispatch_conditions(b, path, v, &l->match);

    f = json_object_get(v, "unlimited");

    if (f != NULL) {
        if (!json_is_true(f)) {
            omni_dispatch_error(b, "%s.unlimited may only be true", path);
            return;
        }

        l->unlimited = 1;

        if (json_object_get(v, "rate") || json_object_get(v, "per")
            || json_object_get(v, "burst"))
        {
            omni_dispatch_error(b, "%s: an unlimited entry has no rate, "
                                "per or burst", path);
        }

        return;
    }

    f = json_object_get(v, "rate");

    if (f == NULL) {
        omni_dispatch_error(b, "%s.rate is missing (or \"unlimited\": true)",
                            path);

    } else {
        snprintf(sub, sizeof(sub), "%s.rate", path);
        (void) omni_dispatch_count(b, sub, f, OMNI_DISPATCH_RATE_MAX,
                                   &l->rate);
    }

    f = json_object_get(v, "per");
    s = json_is_string(f) ? json_string_value(f) : "";

    if (f == NULL) {
        omni_dispatch_error(b, "%s.per is missing", path);

    } else if (strcmp(s, "second") == 0 && json_string_length(f) == 6) {
        l->period_us = UINT64_C(1000000);

    } else if (strcmp(s, "minute") == 0 && json_string_length(f) == 6) {
        l->period_us = UINT64_C(60000000);

    } else if (strcmp(s, "hour") == 0 && json_string_length(f) == 4) {
        l->period_us = UINT64_C(3600000000);

    } else {
        omni_dispatch_error(b, "%s.per must be \"second\", \"minute\" or "
                            "\"hour\"", path);
    }

    /* "10 a minute" lets 10 through at once by default */
    l->burst = l->rate;
    f = json_object_get(v, "burst");

    if (f != NULL) {
        snprintf(sub, sizeof(sub), "%s.burst", path);
        (void) omni_dispatch_count(b, sub, f, OMNI_DISPATCH_BURST_MAX, &n);
        l->burst = n;
    }

    if (l->rate && l->period_us && l->burst) {
        l->interval_us = l->period_us / l->rate;
        l->tolerance_us = l->interval_us * (l->burst - 1);
    }
}


/* path.id: required, OMNI_DISPATCH_ID_CHARS, copied to out */
void
omni_dispatch_id(omni_dbuild_t *b, const char *path, json_t *v, char *out)
{
    const char  *s;
    char         q[OMNI_DISPATCH_QUOTE];

    if (v == NULL) {
        omni_dispatch_error(b, "%s.id is missing", path);
        return;
    }

    s = json_is_string(v) ? json_string_value(v) : NULL;

    if (s == NULL || !omni_dispatch_is_id(s, json_string_length(v))) {
        omni_dispatch_error(b, "%s.id %s must be " OMNI_DISPATCH_ID_CHARS,
                            path,
                            s ? omni_dispatch_quote(q, sizeof(q), s,
                                                    json_string_length(v))
                              : "(not a string)");
        return;
    }

    memcpy(out, s, json_string_length(v) + 1);
}


/*
 * What a limit or a rule matches on, those of its keys that are there:
 * description, channels, tiers, anonymous; a rule's actions, intents,
 * confidence_min and open_case too (the caller refuses them in a limit).
 */
void
omni_dispatch_conditions(omni_dbuild_t *b, const char *path, json_t *obj,
    omni_dispatch_match_t *m)
{
    size_t   i;
    json_t  *f;
    char     sub[OMNI_DISPATCH_PATH_MAX];

    static const struct {
        const char  *key;
        int          what;
        size_t       offset;
        size_t       count;
        size_t       size;
    } lists[] = {
        { "channels", OMNI_DISPATCH_CHANNELS,
          offsetof(omni_dispatch_match_t, channels),
          offsetof(omni_dispatch_match_t, nchannels),
          OMNI_DISPATCH_CHANNEL_MAX + 1 },
        { "tiers", OMNI_DISPATCH_TIERS,
          offsetof(omni_dispatch_match_t, tiers),
          offsetof(omni_dispatch_match_t, ntiers),
          OMNI_DISPATCH_TIER_MAX + 1 },
        { "actions", OMNI_DISPATCH_ACTIONS,
          offsetof(omni_dispatch_match_t, actions),
          offsetof(omni_dispatch_match_t, nactions),
          OMNI_DISPATCH_ACTION_MAX + 1 },
        { "intents", OMNI_DISPATCH_INTENTS,
          offsetof(omni_dispatch_match_t, intents),
          offsetof(omni_dispatch_match_t, nintents),
          OMNI_DISPATCH_ACTION_MAX + 1 },
    };

    m->anonymous = OMNI_DISPATCH_ANY;
    m->open_case = OMNI_DISPATCH_ANY;

    f = json_object_get(obj, "description");

    if (f != NULL && !json_is_string(f)) {
        omni_dispatch_error(b, "%s.description must be a string", path);
    }

    for (i = 0; i < sizeof(lists) / sizeof(lists[0]); i++) {
        f = json_object_get(obj, lists[i].key);

        if (f != NULL) {
            snprintf(sub, sizeof(sub), "%s.%s", path, lists[i].key);
            omni_dispatch_names(b, sub, f, lists[i].what,
                                (char *) m + lists[i].offset, lists[i].size,
                                (size_t *) ((char *) m + lists[i].count));
        }
    }

    omni_dispatch_flag(b, path, obj, "anonymous", &m->anonymous);
    omni_dispatch_flag(b, path, obj, "open_case", &m->open_case);

    f = json_object_get(obj, "confidence_min");

    if (f != NULL) {
        if (json_object_get(obj, "intents") == NULL) {
            omni_dispatch_error(b, "%s.confidence_min needs intents", path);

        } else if (!json_is_number(f) || json_number_value(f) < 0
                   || json_number_value(f) > 1)
        {
            omni_dispatch_error(b, "%s.confidence_min must be a number from "
                                "0 to 1", path);

        } else {
            m->confidence_min = json_number_value(f);
        }
    }
}


/* a condition that is true or false: *flag 1 or 0, else left as it is */
static void
omni_dispatch_flag(omni_dbuild_t *b, const char *path, json_t *obj,
    const char *key, int *flag)
{
    json_t  *f;

    f = json_object_get(obj, key);

    if (f == NULL) {
        return;
    }

    if (!json_is_boolean(f)) {
        omni_dispatch_error(b, "%s.%s must be true or false", path, key);
        return;
    }

    *flag = json_is_true(f);
}


/*
 * A list of names: channels (as the contract's), tiers (1 to 64 bytes
 * without control bytes), action or intent patterns ("*", or dotted
 * lowercase words with an optional final ".*"); at least one, no
 * repeats.
 */
static void
omni_dispatch_names(omni_dbuild_t *b, const char *path, json_t *v,
    int what, char *out, size_t size, size_t *n)
{
    int          ok;
    size_t       i, j, len, count;
    json_t      *e;
    const char  *s;
    char         q[OMNI_DISPATCH_QUOTE];

    static const char  *expected[] = {
        "channel name (a-z, 0-9, _; 32 bytes at most)",
        "tier (1 to 64 bytes, no control characters)",
        "action pattern (\"*\", or dotted lowercase words with an optional "
        "final \".*\", 128 bytes at most)",
        "intent pattern (\"*\", or one or more dotted lowercase words with "
        "an optional final \".*\", 128 bytes at most)"
    };

    if (!json_is_array(v) || json_array_size(v) == 0) {
        omni_dispatch_error(b, "%s must be a non-empty array of strings",
                            path);
        return;
    }

    count = json_array_size(v);

    if (count > OMNI_DISPATCH_NAMES_MAX) {
        omni_dispatch_error(b, "%s has %zu entries, at most %d", path, count,
                            OMNI_DISPATCH_NAMES_MAX);
        return;
    }

    json_array_foreach(v, i, e) {
        if (!json_is_string(e)) {
            omni_dispatch_error(b, "%s[%zu] must be a string", path, i);
            continue;
        }

        s = json_string_value(e);
        len = json_string_length(e);

        switch (what) {
        case OMNI_DISPATCH_CHANNELS:
            ok = omni_contract_is_name(s, len);
            break;
        case OMNI_DISPATCH_TIERS:
            ok = len > 0 && len <= OMNI_DISPATCH_TIER_MAX
                 && omni_text_is_clean(s, len);
            break;
        default:
            ok = omni_dispatch_is_pattern(s, len, what);
            break;
        }

        if (!ok || len >= size) {
            omni_dispatch_error(b, "%s[%zu] %s is not a%s %s", path, i,
                                omni_dispatch_quote(q, sizeof(q), s, len),
                                what == OMNI_DISPATCH_ACTIONS
                                || what == OMNI_DISPATCH_INTENTS ? "n" : "",
                                expected[what]);
            continue;
        }

        for (j = 0; j < *n; j++) {
            if (strcmp(out + j * size, s) == 0) {
                omni_dispatch_error(b, "%s[%zu] %s is listed twice", path, i,
                                    omni_dispatch_quote(q, sizeof(q), s,
                                                        len));
                break;
            }
        }

        if (j < *n) {
            continue;
        }

        memcpy(out + *n * size, s, len + 1);
        (*n)++;
    }
}


/* actions have two words at least (as the contract's); intents one */
static int
omni_dispatch_is_pattern(const char *s, size_t len, int what)
{
    int  star;

    if (len == 1 && s[0] == '*') {
        return 1;
    }

    /* "a.*": a itself need not be an action of two words */
    star = (len > 2 && s[len - 1] == '*' && s[len - 2] == '.');

    if (star) {
        len -= 2;
    }

    return omni_contract_is_action(s, len)
           || ((star || what == OMNI_DISPATCH_INTENTS)
               && omni_contract_is_name(s, len));
}


/* an integer from 1 to max */
int
omni_dispatch_count(omni_dbuild_t *b, const char *path, json_t *v,
    uint32_t max, uint32_t *out)
{
    json_int_t  n;

    *out = 0;

    if (!json_is_integer(v)) {
        omni_dispatch_error(b, "%s must be an integer from 1 to %u", path,
                            max);
        return -1;
    }

    n = json_integer_value(v);

    if (n < 1 || n > (json_int_t) max) {
        omni_dispatch_error(b, "%s must be an integer from 1 to %u, not "
                            "%" JSON_INTEGER_FORMAT, path, max, n);
        return -1;
    }

    *out = (uint32_t) n;

    return 0;
}


void
omni_dispatch_error(omni_dbuild_t *b, const char *fmt, ...)
{
    char     text[OMNI_DISPATCH_MSG_MAX];
    va_list  args;

    if (b->nomem) {
        return;
    }

    if (b->nerrs == OMNI_DISPATCH_ERRORS_MAX) {
        b->more++;
        return;
    }

    va_start(args, fmt);
    vsnprintf(text, sizeof(text), fmt, args);
    va_end(args);

    /* jansson's messages may quote the document's bytes: one line each */
    omni_err_printable(text);

    b->errs[b->nerrs] = strdup(text);
    if (b->errs[b->nerrs] == NULL) {
        b->nomem = 1;
        return;
    }

    b->nerrs++;
}


/* one error a line, in the order found (the order of the file) */
static char *
omni_dispatch_errors_text(omni_dbuild_t *b)
{
    char    *text;
    size_t   i, len, n;
    char     more[64];

    more[0] = '\0';

    if (b->more) {
        snprintf(more, sizeof(more), "%zu more errors not listed", b->more);
    }

    len = strlen(more) + 2;

    for (i = 0; i < b->nerrs; i++) {
        len += strlen(b->errs[i]) + 1;
    }

    text = malloc(len);
    if (text == NULL) {
        return NULL;
    }

    n = 0;
    text[0] = '\0';

    for (i = 0; i < b->nerrs; i++) {
        n += snprintf(text + n, len - n, "%s%s", i ? "\n" : "", b->errs[i]);
    }

    if (more[0] != '\0') {
        snprintf(text + n, len - n, "\n%s", more);
    }

    return text;
}


/* "text" for a message: control bytes as ?, cut to OMNI_DISPATCH_SHOW */
const char *
omni_dispatch_quote(char *buf, size_t size, const char *s, size_t len)
{
    size_t  i, n;

    n = 0;
    buf[n++] = '"';

    for (i = 0; i < len && n + 5 < size; i++) {
        buf[n++] = ((unsigned char) s[i] < 0x20 || s[i] == 0x7f
                    || s[i] == '"') ? '?' : s[i];
    }

    if (i < len) {
        buf[n++] = '.';
        buf[n++] = '.';
        buf[n++] = '.';
    }

    buf[n++] = '"';
    buf[n] = '\0';

    return buf;
}


int
omni_dispatch_is_id(const char *s, size_t len)
{
    size_t  i;

    if (len == 0 || len > OMNI_DISPATCH_ID_MAX) {
        return 0;
    }

    for (i = 0; i < len; i++) {
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z')
              || (s[i] >= '0' && s[i] <= '9') || s[i] == '_' || s[i] == '.'
              || s[i] == '-'))
        {
            return 0;
        }
    }

    return 1;
}
