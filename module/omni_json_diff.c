/*
 * Copyright (C) The omni gateway authors
 *
 * Comparing two JSON objects member by member (omni_json_diff.h).
 */


#include <jansson.h>

#include "omni_json_diff.h"


int
omni_json_diff_names(json_t *from, json_t *to, json_t *out)
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
