/*
 * Copyright (C) The omni gateway authors
 *
 * The workflow file (omni_dispatch.h): compile() reads the document part
 * by part, collecting every error with its JSON path; the tables it
 * builds are read-only afterwards.  limit() finds a request's rate limit.
 */


#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "omni_contract.h"
#include "omni_dispatch.h"
#include "omni_str.h"


#define OMNI_DISPATCH_VERSION   1
#define OMNI_DISPATCH_LOAD      (JSON_REJECT_DUPLICATES | JSON_DECODE_ANY)
#define OMNI_DISPATCH_MSG_MAX   512
#define OMNI_DISPATCH_PATH_MAX  128
#define OMNI_DISPATCH_SHOW      40          /* bytes of a value quoted */

#define OMNI_DISPATCH_ID_CHARS  "1 to 64 of A-Z a-z 0-9 _ . -"


typedef struct {
    omni_dispatch_t    *d;
    char               *errs[OMNI_DISPATCH_ERRORS_MAX];
    size_t              nerrs;
    size_t              more;
    int                 nomem;
} omni_dbuild_t;


static void omni_dispatch_error(omni_dbuild_t *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static char *omni_dispatch_errors_text(omni_dbuild_t *b);
static void omni_dispatch_top(omni_dbuild_t *b, json_t *root);
static int omni_dispatch_keys(omni_dbuild_t *b, json_t *obj,
    const char *path, const char *const *allowed);
static void omni_dispatch_limits(omni_dbuild_t *b, json_t *v);
static void omni_dispatch_one_limit(omni_dbuild_t *b, size_t i, json_t *v,
    omni_dispatch_limit_t *l);
static void omni_dispatch_names(omni_dbuild_t *b, const char *path,
    json_t *v, int channels, char *out, size_t size, size_t *n);
static int omni_dispatch_count(omni_dbuild_t *b, const char *path,
    json_t *v, uint32_t max, uint32_t *out);
static const char *omni_dispatch_quote(char *buf, size_t size,
    const char *s, size_t len);
static int omni_dispatch_is_id(const char *s, size_t len);


static const char *const  omni_dispatch_top_keys[] = {
    "version", "description", "rate_limits", NULL
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
    free(d);
}


const omni_dispatch_limit_t *
omni_dispatch_limit(const omni_dispatch_t *d, const char *channel,
    const char *tier, int anonymous)
{
    size_t                        i, j;
    const omni_dispatch_limit_t  *l;

    for (i = 0; i < d->nlimits; i++) {
        l = &d->limits[i];

        if (l->anonymous != OMNI_DISPATCH_ANY
            && l->anonymous != (anonymous != 0))
        {
            continue;
        }

        if (!omni_dispatch_limit_channel(l, channel)) {
            continue;
        }

        if (l->ntiers) {
            if (tier == NULL) {
                continue;
            }

            for (j = 0; j < l->ntiers; j++) {
                if (strcmp(l->tiers[j], tier) == 0) {
                    break;
                }
            }

            if (j == l->ntiers) {
                continue;
            }
        }

        return l;
    }

    return NULL;
}


int
omni_dispatch_limit_channel(const omni_dispatch_limit_t *l,
    const char *channel)
{
    size_t  i;

    if (l->nchannels == 0) {
        return 1;
    }

    for (i = 0; i < l->nchannels; i++) {
        if (strcmp(l->channels[i], channel) == 0) {
            return 1;
        }
    }

    return 0;
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
}


/* every key of obj is one of allowed; 0 when they all are */
static int
omni_dispatch_keys(omni_dbuild_t *b, json_t *obj, const char *path,
    const char *const *allowed)
{
    int          bad;
    size_t       i;
    json_t      *v;
    const char  *key;
    char         q[OMNI_DISPATCH_SHOW + 8];

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
    char                    q[OMNI_DISPATCH_SHOW + 8];

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
    char         q[OMNI_DISPATCH_SHOW + 8];

    snprintf(path, sizeof(path), "rate_limits[%zu]", i);
    l->anonymous = OMNI_DISPATCH_ANY;

    if (!json_is_object(v)) {
        omni_dispatch_error(b, "%s must be an object", path);
        return;
    }

    (void) omni_dispatch_keys(b, v, path, omni_dispatch_limit_keys);

    f = json_object_get(v, "id");

    if (f == NULL) {
        omni_dispatch_error(b, "%s.id is missing", path);

    } else if (!json_is_string(f)
               || !omni_dispatch_is_id(json_string_value(f),
                                       json_string_length(f)))
    {
        s = json_is_string(f) ? json_string_value(f) : NULL;
        omni_dispatch_error(b, "%s.id %s must be " OMNI_DISPATCH_ID_CHARS,
                            path, s ? omni_dispatch_quote(q, sizeof(q), s,
                                                          json_string_length(f))
                                    : "(not a string)");

    } else {
        memcpy(l->id, json_string_value(f), json_string_length(f) + 1);
    }

    f = json_object_get(v, "description");

    if (f != NULL && !json_is_string(f)) {
        omni_dispatch_error(b, "%s.description must be a string", path);
    }

    f = json_object_get(v, "channels");

    if (f != NULL) {
        snprintf(sub, sizeof(sub), "%s.channels", path);
        omni_dispatch_names(b, sub, f, 1, &l->channels[0][0],
                            sizeof(l->channels[0]), &l->nchannels);
    }

    f = json_object_get(v, "tiers");

    if (f != NULL) {
        snprintf(sub, sizeof(sub), "%s.tiers", path);
        omni_dispatch_names(b, sub, f, 0, &l->tiers[0][0],
                            sizeof(l->tiers[0]), &l->ntiers);
    }

    f = json_object_get(v, "anonymous");

    if (f != NULL) {
        if (!json_is_boolean(f)) {
            omni_dispatch_error(b, "%s.anonymous must be true or false",
                                path);

        } else {
            l->anonymous = json_is_true(f);
        }
    }

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


/*
 * A list of names: channels (as the contract's) or tiers (1 to 64 bytes
 * without control bytes), at least one, no repeats.
 */
static void
omni_dispatch_names(omni_dbuild_t *b, const char *path, json_t *v,
    int channels, char *out, size_t size, size_t *n)
{
    size_t       i, j, len, count;
    json_t      *e;
    const char  *s;
    char         q[OMNI_DISPATCH_SHOW + 8];

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

        if (channels ? !omni_contract_is_name(s, len)
                     : (len == 0 || len > OMNI_DISPATCH_TIER_MAX
                        || memchr(s, '\0', len) != NULL
                        || !omni_text_is_clean(s, len)))
        {
            omni_dispatch_error(b, "%s[%zu] %s is not a %s", path, i,
                                omni_dispatch_quote(q, sizeof(q), s, len),
                                channels ? "channel name (a-z, 0-9, _; 32 "
                                           "bytes at most)"
                                         : "tier (1 to 64 bytes, no control "
                                           "characters)");
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

        if (j < *n || len >= size) {
            continue;
        }

        memcpy(out + *n * size, s, len + 1);
        (*n)++;
    }
}


/* an integer from 1 to max */
static int
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


static void
omni_dispatch_error(omni_dbuild_t *b, const char *fmt, ...)
{
    char    *p, text[OMNI_DISPATCH_MSG_MAX];
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
    for (p = text; *p; p++) {
        if ((unsigned char) *p < 0x20 || *p == 0x7f) {
            *p = '?';
        }
    }

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
static const char *
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


static int
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
