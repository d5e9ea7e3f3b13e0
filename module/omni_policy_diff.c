/*
 * Copyright (C) The omni gateway authors
 *
 * Comparing two policies (omni_policy.h): diff(), roles by name,
 * rules by id, and the anonymous role in force.
 */


#include <string.h>

#include <jansson.h>

#include "omni_json_diff.h"
#include "omni_policy_int.h"


static json_t *omni_policy_diff_rules(json_t *roles);
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

    failed |= omni_json_diff_names(json_object_get(a, "roles"),
                                     json_object_get(b, "roles"), part);

    ra = omni_policy_diff_rules(json_object_get(a, "roles"));
    rb = omni_policy_diff_rules(json_object_get(b, "roles"));
    part = json_object();

    if (ra == NULL || rb == NULL || part == NULL
        || json_object_set_new(out, "rules", part) != 0)
    {
        goto done;
    }

    failed |= omni_json_diff_names(ra, rb, part);

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


static const char *
omni_policy_anon_name(json_t *root)
{
    const char  *name;

    name = json_string_value(json_object_get(root, "anonymous_role"));

    return (name != NULL) ? name : "anonymous";
}
