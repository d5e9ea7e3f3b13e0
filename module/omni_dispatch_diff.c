/*
 * Copyright (C) The omni gateway authors
 *
 * Comparing two workflows (omni_dispatch.h): omni_dispatch_diff(), pools
 * by name, rules (the default among them) and rate limits by id, whether
 * the rules or limits both have now come in another order (the first
 * that matches decides), and the settings of the document itself.
 */


#include <string.h>

#include <jansson.h>

#include "omni_dispatch.h"
#include "omni_json_diff.h"


#define OMNI_DISPATCH_DIFF_LOAD  (JSON_REJECT_DUPLICATES)


static int omni_dispatch_diff_list(json_t *a, json_t *b, const char *name,
    json_t *out);
static json_t *omni_dispatch_diff_ids(json_t *root, const char *name);
static int omni_dispatch_diff_reordered(json_t *a, json_t *b);


static const char *const  omni_dispatch_diff_settings[] = {
    "version", "description", "bot_confidence_min", "affinity_seconds",
    NULL
};


char *
omni_dispatch_diff(const char *from, size_t from_len, const char *to,
    size_t to_len)
{
    int               failed;
    char             *text;
    size_t            i;
    json_t           *a, *b, *out, *part, *va, *vb, *settings;
    omni_dispatch_t  *d;

    /* only valid workflows are compared */
    d = omni_dispatch_compile(from, from_len, NULL);
    if (d == NULL) {
        return NULL;
    }

    omni_dispatch_free(d);

    d = omni_dispatch_compile(to, to_len, NULL);
    if (d == NULL) {
        return NULL;
    }

    omni_dispatch_free(d);

    text = NULL;

    a = json_loadb(from, from_len, OMNI_DISPATCH_DIFF_LOAD, NULL);
    b = json_loadb(to, to_len, OMNI_DISPATCH_DIFF_LOAD, NULL);
    out = json_object();
    part = json_object();
    settings = json_object();

    if (a == NULL || b == NULL || out == NULL || part == NULL
        || settings == NULL
        || json_object_set_new(out, "pools", part) != 0)
    {
        json_decref(part);
        goto done;
    }

    failed = omni_json_diff_names(json_object_get(a, "pools"),
                                  json_object_get(b, "pools"), part);

    failed |= omni_dispatch_diff_list(a, b, "rules", out);
    failed |= omni_dispatch_diff_list(a, b, "rate_limits", out);

    /* a setting absent is its default: shown as null */
    for (i = 0; omni_dispatch_diff_settings[i]; i++) {
        va = json_object_get(a, omni_dispatch_diff_settings[i]);
        vb = json_object_get(b, omni_dispatch_diff_settings[i]);

        if ((va == NULL) != (vb == NULL) || (va && !json_equal(va, vb))) {
            failed |= json_object_set_new(settings,
                                          omni_dispatch_diff_settings[i],
                                          json_pack("{s:O?, s:O?}", "from",
                                                    va, "to", vb))
                      != 0;
        }
    }

    failed |= json_object_set(out, "settings", settings) != 0;

    if (!failed) {
        text = json_dumps(out, JSON_COMPACT | JSON_PRESERVE_ORDER);
    }

done:

    json_decref(a);
    json_decref(b);
    json_decref(out);
    json_decref(settings);

    return text;
}


/*
 * "rules" (the default as the id "default") or "rate_limits" compared by
 * id, and "reordered" when the ids in both come in another order.
 * Returns 1 out of memory.
 */
static int
omni_dispatch_diff_list(json_t *a, json_t *b, const char *name, json_t *out)
{
    int      failed;
    json_t  *ia, *ib, *part;

    ia = omni_dispatch_diff_ids(a, name);
    ib = omni_dispatch_diff_ids(b, name);
    part = json_object();
    failed = 1;

    if (ia != NULL && ib != NULL && part != NULL
        && json_object_set(out, name, part) == 0
        && omni_json_diff_names(ia, ib, part) == 0
        && json_object_set_new(part, "reordered",
                               json_boolean(
                                   omni_dispatch_diff_reordered(ia, ib)))
           == 0)
    {
        failed = 0;
    }

    json_decref(ia);
    json_decref(ib);
    json_decref(part);

    return failed;
}


/* id -> entry, in the list's order (the default last among the rules) */
static json_t *
omni_dispatch_diff_ids(json_t *root, const char *name)
{
    size_t   i;
    json_t  *map, *e, *def;

    map = json_object();
    if (map == NULL) {
        return NULL;
    }

    json_array_foreach(json_object_get(root, name), i, e) {
        if (json_object_set(map, json_string_value(json_object_get(e, "id")),
                            e)
            != 0)
        {
            json_decref(map);
            return NULL;
        }
    }

    def = json_object_get(root, "default");

    if (strcmp(name, "rules") == 0 && def != NULL
        && json_object_set(map, "default", def) != 0)
    {
        json_decref(map);
        return NULL;
    }

    return map;
}


/* whether the ids in both maps come in another order */
static int
omni_dispatch_diff_reordered(json_t *a, json_t *b)
{
    void        *ia, *ib;
    const char  *ka, *kb;

    ia = json_object_iter(a);
    ib = json_object_iter(b);

    for ( ;; ) {
        while (ia && json_object_get(b, json_object_iter_key(ia)) == NULL) {
            ia = json_object_iter_next(a, ia);
        }

        while (ib && json_object_get(a, json_object_iter_key(ib)) == NULL) {
            ib = json_object_iter_next(b, ib);
        }

        if (ia == NULL || ib == NULL) {
            return 0;
        }

        ka = json_object_iter_key(ia);
        kb = json_object_iter_key(ib);

        if (strcmp(ka, kb) != 0) {
            return 1;
        }

        ia = json_object_iter_next(a, ia);
        ib = json_object_iter_next(b, ib);
    }
}
