/*
 * Copyright (C) The omni gateway authors
 *
 * The capacities set live (omni_dispatch_live.h): reading a record into
 * its entries, and writing one entry into a record.
 */


#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "omni_contract.h"
#include "omni_dispatch_int.h"
#include "omni_dispatch_live.h"
#include "omni_err.h"


static int omni_dispatch_live_key(const char *key, omni_dispatch_live_t *e);


int
omni_dispatch_live_parse(const char *json, size_t len,
    omni_dispatch_live_t *out, size_t max, size_t *n, char *err)
{
    json_t        *root, *v;
    json_int_t     c;
    const char    *key;
    json_error_t   jerr;
    char           q[OMNI_DISPATCH_QUOTE];

    *n = 0;

    if (len > OMNI_DISPATCH_LIVE_SIZE_MAX) {
        omni_err(err, "the capacities are %zu bytes, more than %d", len,
                 OMNI_DISPATCH_LIVE_SIZE_MAX);
        return -1;
    }

    root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &jerr);

    if (!json_is_object(root)) {
        omni_err(err, "the capacities must be a JSON object%s%s",
                 root ? "" : ": ", root ? "" : jerr.text);
        json_decref(root);
        return -1;
    }

    if (json_object_size(root) > max) {
        omni_err(err, "the capacities have %zu entries, at most %zu",
                 json_object_size(root), max);
        json_decref(root);
        return -1;
    }

    json_object_foreach(root, key, v) {
        omni_dispatch_quote(q, sizeof(q), key, strlen(key));

        if (omni_dispatch_live_key(key, &out[*n]) != 0) {
            omni_err(err, "the capacities' key %s must be a pool, or a "
                     "pool and a channel as \"pool/channel\"", q);
            json_decref(root);
            return -1;
        }

        c = json_is_integer(v) ? json_integer_value(v) : -1;

        if (c < 0 || c > OMNI_DISPATCH_CAPACITY_MAX) {
            omni_err(err, "%s must be an integer from 0 to %d", q,
                     OMNI_DISPATCH_CAPACITY_MAX);
            json_decref(root);
            return -1;
        }

        out[(*n)++].capacity = (uint32_t) c;
    }

    json_decref(root);

    return 0;
}


char *
omni_dispatch_live_set(const char *json, size_t len, const char *pool,
    const char *channel, int64_t capacity, char *err)
{
    int                    rc;
    char                  *text, key[OMNI_DISPATCH_ID_MAX
                                      + OMNI_DISPATCH_CHANNEL_MAX + 2];
    size_t                 n;
    json_t                *root;
    omni_dispatch_live_t  *live;

    /* what was written before is checked as a record first */
    live = malloc(OMNI_DISPATCH_LIVE_MAX * sizeof(omni_dispatch_live_t));
    if (live == NULL) {
        omni_err(err, "out of memory");
        return NULL;
    }

    rc = json ? omni_dispatch_live_parse(json, len, live,
                                         OMNI_DISPATCH_LIVE_MAX, &n, err)
              : 0;
    free(live);

    if (rc != 0) {
        return NULL;
    }

    root = json ? json_loadb(json, len, 0, NULL) : json_object();
    if (root == NULL) {
        omni_err(err, "out of memory");
        return NULL;
    }

    if (strlen(pool) > OMNI_DISPATCH_ID_MAX
        || (channel && strlen(channel) > OMNI_DISPATCH_CHANNEL_MAX))
    {
        omni_err(err, "a pool or channel name too long");
        json_decref(root);
        return NULL;
    }

    strcpy(key, pool);

    if (channel) {
        strcat(key, "/");
        strcat(key, channel);
    }

    if (capacity < 0) {
        (void) json_object_del(root, key);
        rc = 0;

    } else {
        rc = json_object_set_new(root, key, json_integer(capacity));
    }

    text = (rc == 0) ? json_dumps(root, JSON_SORT_KEYS | JSON_COMPACT)
                     : NULL;
    json_decref(root);

    if (text == NULL) {
        omni_err(err, "out of memory");
    }

    return text;
}


const omni_dispatch_live_t *
omni_dispatch_live_find(const omni_dispatch_live_t *live, size_t n,
    const char *pool, const char *channel)
{
    size_t  i;

    for (i = 0; i < n; i++) {
        if (strcmp(live[i].pool, pool) == 0
            && strcmp(live[i].channel, channel) == 0)
        {
            return &live[i];
        }
    }

    return NULL;
}


/* "pool" or "pool/channel" into e; -1 when it is neither */
static int
omni_dispatch_live_key(const char *key, omni_dispatch_live_t *e)
{
    size_t       len;
    const char  *slash;

    slash = strchr(key, '/');
    len = slash ? (size_t) (slash - key) : strlen(key);

    if (!omni_dispatch_is_id(key, len)) {
        return -1;
    }

    memcpy(e->pool, key, len);
    e->pool[len] = '\0';
    e->channel[0] = '\0';

    if (slash == NULL) {
        return 0;
    }

    len = strlen(slash + 1);

    if (!omni_contract_is_name(slash + 1, len)) {
        return -1;
    }

    memcpy(e->channel, slash + 1, len + 1);

    return 0;
}
