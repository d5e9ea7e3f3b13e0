/*
 * Copyright (C) The omni gateway authors
 *
 * Comparing two policies (omni_policy.h): diff(), roles by name,
 * rules by id, and the anonymous role in force.
 */


#include <string.h>

#include <jansson.h>

#include "omni_policy_int.h"


static json_t *omni_policy_diff_rules(json_t *roles);
static int omni_policy_diff_names(json_t *from, json_t *to, json_t *out);
static const char *omni_policy_anon_name(json_t *root);


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
