/*
 * Copyright (C) The omni gateway authors
 *
 * Compiling a policy (omni_policy.h): compile() and free(), and the
 * validation pass that reads the document into the tables of
 * omni_policy_int.h, part by part, with the JSON path of every error.
 * The passes that follow and the build state's helpers are in
 * omni_policy_build.c.
 */


#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "omni_policy_int.h"


#define OMNI_POLICY_VERSION      1
#define OMNI_POLICY_ID_MAX       64       /* a rule id */
#define OMNI_POLICY_DESC_MAX     1024     /* bytes of a description */
#define OMNI_POLICY_LIST_MAX     64       /* entries of each array in a role
                                             or rule */
#define OMNI_POLICY_CHANNEL_MAX  32
#define OMNI_POLICY_TIER_MAX     64       /* as contract customer tiers */
#define OMNI_POLICY_AGE_MAX      INT64_C(2147483647)
#define OMNI_POLICY_KEEP_MAX     1024

#define OMNI_POLICY_ROLE_CHARS   "1 to 128 of A-Z a-z 0-9 _ . : -"
#define OMNI_POLICY_ID_CHARS     "1 to 64 of A-Z a-z 0-9 _ . -"


static int omni_policy_top(omni_pbuild_t *b, json_t *root);
static void omni_policy_keys(omni_pbuild_t *b, json_t *obj, const char *path,
    const char *const *allowed);
static int omni_policy_role(omni_pbuild_t *b, const char *name, json_t *v);
static int omni_policy_inherits(omni_pbuild_t *b, omni_prole_t *r,
    const char *path, json_t *v);
static int omni_policy_rule(omni_pbuild_t *b, uint32_t role,
    const char *rpath, size_t j, json_t *v);
static int omni_policy_actions(omni_pbuild_t *b, uint32_t rule,
    const char *path, json_t *v);
static int omni_policy_names(omni_pbuild_t *b, const char *path, json_t *v,
    const char *what, int channels, uint32_t *first, uint32_t *n);
static int omni_policy_when(omni_pbuild_t *b, omni_prule_t *rule,
    const char *path, json_t *v);
static void omni_policy_age(omni_pbuild_t *b, const char *path,
    const char *name, json_t *v, int64_t *out);
static int omni_policy_scope_list(omni_pbuild_t *b, omni_prole_t *r,
    const char *path, json_t *v);
static int omni_policy_scope(omni_pbuild_t *b, const char *path, json_t *v,
    int *added);
static int omni_policy_segments(omni_pbuild_t *b, const char *s, size_t len,
    omni_pscope_t *sc);
static void omni_policy_text(omni_pbuild_t *b, const char *path, json_t *v);
static int omni_policy_twice(const char *const *seen, size_t n,
    const char *s);

static int omni_policy_is_rule_id(const char *s, size_t len);
static int omni_policy_is_channel(const char *s, size_t len);
static unsigned omni_policy_pattern(const char *s, size_t len,
    size_t *keylen);


static const char *const  omni_policy_top_keys[] = {
    "version", "anonymous_role", "roles", NULL
};

static const char *const  omni_policy_role_keys[] = {
    "description", "inherits", "rules", "scopes", NULL
};

static const char *const  omni_policy_rule_keys[] = {
    "id", "description", "effect", "actions", "channels", "when", NULL
};

static const char *const  omni_policy_when_keys[] = {
    "anonymous", "tier", "session_age_max", "session_age_min", NULL
};

static const char *const  omni_policy_scope_keys[] = {
    "path", "remove", "mask", NULL
};

static const char *const  omni_policy_mask_keys[] = {
    "keep_last", NULL
};


omni_policy_t *
omni_policy_compile(const char *json, size_t len, char **errors)
{
    char            *text;
    json_t          *root;
    json_error_t     jerr;
    omni_pbuild_t   *b;
    omni_policy_t   *p;

    if (errors != NULL) {
        *errors = NULL;
    }

    /* the build state, with its list of errors */
    b = calloc(1, sizeof(omni_pbuild_t));
    if (b == NULL) {
        return NULL;
    }

    b->p = calloc(1, sizeof(omni_policy_t));
    if (b->p == NULL) {
        free(b);
        return NULL;
    }

    b->p->anonymous = -1;
    b->anon_name = OMNI_POLICY_NONE;
    root = NULL;

    if (len > OMNI_POLICY_SIZE_MAX) {
        omni_policy_error(b, "the policy is larger than %d bytes",
                          OMNI_POLICY_SIZE_MAX);
        goto done;
    }

    /* offset 0 is "", the key of "*" */
    if (omni_policy_str(b, "", 0) == OMNI_POLICY_NONE) {
        goto done;
    }

    memset(&jerr, 0, sizeof(json_error_t));
    root = json_loadb(json, len, OMNI_POLICY_LOAD, &jerr);

    if (root == NULL) {
        if (json_error_code(&jerr) == json_error_out_of_memory) {
            b->nomem = 1;

        } else {
            omni_policy_error(b, "the policy is not valid JSON: %s at line "
                              "%d column %d", jerr.text, jerr.line,
                              jerr.column);
        }

        goto done;
    }

    if (omni_policy_top(b, root) != 0 || b->nerrs > 0) {
        goto done;
    }

    if (omni_policy_closures(b) != 0 || b->nerrs > 0) {
        goto done;
    }

    (void) omni_policy_index(b);

done:

    json_decref(root);

    if (!b->nomem && b->nerrs == 0) {
        p = b->p;
        b->p = NULL;
        omni_policy_build_free(b);
        return p;
    }

    text = NULL;

    if (!b->nomem && errors != NULL) {
        text = omni_policy_errors_text(b);
    }

    if (errors != NULL) {
        *errors = text;

    } else {
        free(text);
    }

    omni_policy_build_free(b);

    return NULL;
}


void
omni_policy_free(omni_policy_t *p)
{
    if (p == NULL) {
        return;
    }

    free(p->strs);
    free(p->roles);
    free(p->rules);
    free(p->refs);
    free(p->closure);
    free(p->keys);
    free(p->lists);
    free(p->scopes);
    free(p->segs);
    free(p->role_slots);
    free(p->key_slots);
    free(p);
}


size_t
omni_policy_roles(const omni_policy_t *p)
{
    return p->nroles;
}


size_t
omni_policy_rules(const omni_policy_t *p)
{
    return p->nrules;
}


/* validation: each returns -1 only when memory ran out */

static int
omni_policy_top(omni_pbuild_t *b, json_t *root)
{
    size_t       total, nroles;
    json_t      *v, *roles, *rules;
    const char  *name, *key;
    char         q[OMNI_POLICY_MSG_MAX];

    if (!json_is_object(root)) {
        omni_policy_error(b, "the policy is not a JSON object");
        return 0;
    }

    omni_policy_keys(b, root, "policy", omni_policy_top_keys);

    v = json_object_get(root, "version");

    if (v == NULL) {
        omni_policy_error(b, "version is missing");

    } else if (!json_is_integer(v)
               || json_integer_value(v) != OMNI_POLICY_VERSION)
    {
        omni_policy_error(b, "version must be %d", OMNI_POLICY_VERSION);
    }

    name = "anonymous";
    v = json_object_get(root, "anonymous_role");

    if (v != NULL) {
        b->anon_given = 1;
        name = json_string_value(v);

        if (name == NULL) {
            omni_policy_error(b, "anonymous_role must be a string");

        } else if (!omni_policy_is_role_name(name, json_string_length(v))) {
            omni_policy_error(b, "anonymous_role %s is not a role name (%s)",
                              omni_policy_quote(q, sizeof(q), name,
                                                json_string_length(v)),
                              OMNI_POLICY_ROLE_CHARS);
            name = NULL;
        }
    }

    if (name != NULL) {
        b->anon_name = omni_policy_str(b, name, strlen(name));
        if (b->anon_name == OMNI_POLICY_NONE) {
            return -1;
        }
    }

    roles = json_object_get(root, "roles");

    if (roles == NULL) {
        omni_policy_error(b, "roles is missing");
        return 0;
    }

    if (!json_is_object(roles)) {
        omni_policy_error(b, "roles must be an object");
        return 0;
    }

    nroles = json_object_size(roles);

    if (nroles > OMNI_POLICY_ROLES_MAX) {
        omni_policy_error(b, "roles: more than %d roles",
                          OMNI_POLICY_ROLES_MAX);
        return 0;
    }

    /* counted first, so a huge policy is refused before it is copied */
    total = 0;

    json_object_foreach(roles, key, v) {
        rules = json_object_get(v, "rules");
        total += json_array_size(rules);
    }

    if (total > OMNI_POLICY_RULES_MAX) {
        omni_policy_error(b, "roles: more than %d rules",
                          OMNI_POLICY_RULES_MAX);
        return 0;
    }

    json_object_foreach(roles, key, v) {
        b->where = omni_policy_where(b->p->nroles, OMNI_PWHERE_ROLE);

        if (omni_policy_role(b, key, v) != 0) {
            return -1;
        }
    }

    b->where = 0;

    return omni_policy_link(b);
}


static void
omni_policy_keys(omni_pbuild_t *b, json_t *obj, const char *path,
    const char *const *allowed)
{
    size_t       i;
    json_t      *v;
    const char  *key;
    char         q[OMNI_POLICY_MSG_MAX];

    json_object_foreach(obj, key, v) {
        for (i = 0; allowed[i] != NULL; i++) {
            if (strcmp(allowed[i], key) == 0) {
                break;
            }
        }

        if (allowed[i] == NULL) {
            omni_policy_error(b, "%s: unknown key %s", path,
                              omni_policy_quote(q, sizeof(q), key,
                                                strlen(key)));
        }
    }
}


static int
omni_policy_role(omni_pbuild_t *b, const char *name, json_t *v)
{
    size_t          j, len;
    json_t         *rules;
    uint32_t        index;
    omni_prole_t   *r, *roles;
    omni_policy_t  *p;
    char            path[OMNI_POLICY_MSG_MAX];
    char            q[OMNI_POLICY_MSG_MAX];

    p = b->p;

    roles = omni_policy_grow(b, p->roles, &b->cap_roles, p->nroles,
                             sizeof(omni_prole_t));
    if (roles == NULL) {
        return -1;
    }

    p->roles = roles;
    index = (uint32_t) p->nroles++;
    r = &p->roles[index];
    memset(r, 0, sizeof(omni_prole_t));

    len = strlen(name);
    r->name = omni_policy_str(b, name, len);
    if (r->name == OMNI_POLICY_NONE) {
        return -1;
    }

    r->inherits = (uint32_t) p->nrefs;
    r->rules = (uint32_t) p->nrules;
    r->scopes = (uint32_t) p->nscopes;

    if (!omni_policy_is_role_name(name, len)) {
        omni_policy_error(b, "roles: %s is not a role name (%s)",
                          omni_policy_quote(q, sizeof(q), name, len),
                          OMNI_POLICY_ROLE_CHARS);
    }

    omni_policy_sub(path, sizeof(path), "roles.%s",
                    omni_policy_label(p, index, q, sizeof(q)));

    if (!json_is_object(v)) {
        omni_policy_error(b, "%s must be an object", path);
        return 0;
    }

    omni_policy_keys(b, v, path, omni_policy_role_keys);
    omni_policy_text(b, path, json_object_get(v, "description"));

    /* r may move as the arrays grow: each step finds it again */
    if (omni_policy_inherits(b, &p->roles[index], path,
                             json_object_get(v, "inherits"))
        != 0)
    {
        return -1;
    }

    b->where = omni_policy_where(index, OMNI_PWHERE_RULES);
    rules = json_object_get(v, "rules");

    if (rules != NULL && !json_is_array(rules)) {
        omni_policy_error(b, "%s.rules must be an array", path);
    }

    for (j = 0; j < json_array_size(rules); j++) {
        if (omni_policy_rule(b, index, path, j, json_array_get(rules, j))
            != 0)
        {
            return -1;
        }

        p->roles[index].nrules++;
    }

    b->where = omni_policy_where(index, OMNI_PWHERE_SCOPES);

    return omni_policy_scope_list(b, &p->roles[index], path,
                                  json_object_get(v, "scopes"));
}


/* inherited names go to refs now and become role indices in link() */
static int
omni_policy_inherits(omni_pbuild_t *b, omni_prole_t *r, const char *path,
    json_t *v)
{
    size_t           j, len;
    json_t          *item;
    uint32_t        *refs, off;
    const char      *s;
    const char      *seen[OMNI_POLICY_LIST_MAX];
    char             q[OMNI_POLICY_MSG_MAX];
    omni_policy_t   *p;

    if (v == NULL) {
        return 0;
    }

    if (!json_is_array(v) || json_array_size(v) > OMNI_POLICY_LIST_MAX) {
        omni_policy_error(b, "%s.inherits must be an array of at most %d "
                          "role names", path, OMNI_POLICY_LIST_MAX);
        return 0;
    }

    p = b->p;

    for (j = 0; j < json_array_size(v); j++) {
        item = json_array_get(v, j);
        s = json_string_value(item);
        seen[j] = NULL;
        off = OMNI_POLICY_NONE;

        if (s == NULL) {
            omni_policy_error(b, "%s.inherits[%zu] must be a string", path, j);

        } else if (!omni_policy_is_role_name(s, json_string_length(item))) {
            omni_policy_error(b, "%s.inherits[%zu] %s is not a role name (%s)",
                              path, j,
                              omni_policy_quote(q, sizeof(q), s,
                                                json_string_length(item)),
                              OMNI_POLICY_ROLE_CHARS);

        } else if (omni_policy_twice(seen, j, s)) {
            omni_policy_error(b, "%s.inherits[%zu] %s is listed twice", path,
                              j, omni_policy_quote(q, sizeof(q), s,
                                                   strlen(s)));

        } else {
            seen[j] = s;
            len = strlen(s);
            off = omni_policy_str(b, s, len);
            if (off == OMNI_POLICY_NONE) {
                return -1;
            }
        }

        /* one entry per position, so link() can name the position */
        refs = omni_policy_grow(b, p->refs, &b->cap_refs, p->nrefs,
                                sizeof(uint32_t));
        if (refs == NULL) {
            return -1;
        }

        p->refs = refs;
        p->refs[p->nrefs++] = off;
        r->ninherits++;
    }

    return 0;
}


static int
omni_policy_rule(omni_pbuild_t *b, uint32_t role, const char *rpath,
    size_t j, json_t *v)
{
    json_t          *item;
    uint32_t         index, off;
    const char      *s;
    omni_prule_t    *rules, *rule;
    omni_policy_t   *p;
    char             path[OMNI_POLICY_MSG_MAX];
    char             q[OMNI_POLICY_MSG_MAX];

    p = b->p;

    rules = omni_policy_grow(b, p->rules, &b->cap_rules, p->nrules,
                             sizeof(omni_prule_t));
    if (rules == NULL) {
        return -1;
    }

    p->rules = rules;
    index = (uint32_t) p->nrules++;
    rule = &p->rules[index];
    memset(rule, 0, sizeof(omni_prule_t));
    rule->id = OMNI_POLICY_NONE;
    rule->role = role;
    rule->age_min = -1;
    rule->age_max = -1;
    rule->anonymous = -1;

    omni_policy_sub(path, sizeof(path), "%s.rules[%zu]", rpath, j);

    if (!json_is_object(v)) {
        omni_policy_error(b, "%s must be an object", path);
        return 0;
    }

    omni_policy_keys(b, v, path, omni_policy_rule_keys);

    item = json_object_get(v, "id");
    s = json_string_value(item);

    if (item == NULL) {
        omni_policy_error(b, "%s.id is missing", path);

    } else if (s == NULL) {
        omni_policy_error(b, "%s.id must be a string", path);

    } else if (!omni_policy_is_rule_id(s, json_string_length(item))) {
        omni_policy_error(b, "%s.id %s is not a rule id (%s)", path,
                          omni_policy_quote(q, sizeof(q), s,
                                            json_string_length(item)),
                          OMNI_POLICY_ID_CHARS);

    } else if (strcmp(s, "default") == 0) {
        omni_policy_error(b, "%s.id \"default\" is reserved for the default "
                          "deny", path);

    } else {
        off = omni_policy_str(b, s, strlen(s));
        if (off == OMNI_POLICY_NONE) {
            return -1;
        }

        p->rules[index].id = off;
    }

    omni_policy_text(b, path, json_object_get(v, "description"));

    item = json_object_get(v, "effect");
    s = json_string_value(item);

    if (item == NULL) {
        omni_policy_error(b, "%s.effect is missing", path);

    } else if (s != NULL && strcmp(s, "allow") == 0) {
        p->rules[index].allow = 1;

    } else if (s == NULL || strcmp(s, "deny") != 0) {
        omni_policy_error(b, "%s.effect must be \"allow\" or \"deny\"", path);
    }

    if (omni_policy_actions(b, index, path, json_object_get(v, "actions"))
        != 0)
    {
        return -1;
    }

    item = json_object_get(v, "channels");

    if (item != NULL) {
        if (omni_policy_names(b, path, item, "channels", 1,
                              &p->rules[index].channels,
                              &p->rules[index].nchannels)
            != 0)
        {
            return -1;
        }
    }

    return omni_policy_when(b, &p->rules[index], path,
                            json_object_get(v, "when"));
}


static int
omni_policy_actions(omni_pbuild_t *b, uint32_t rule, const char *path,
    json_t *v)
{
    size_t          j, len, keylen;
    json_t         *item;
    unsigned        kind;
    uint32_t        off;
    const char     *s;
    const char     *seen[OMNI_POLICY_LIST_MAX];
    char            q[OMNI_POLICY_MSG_MAX];
    omni_ppat_t    *pats;

    if (v == NULL) {
        omni_policy_error(b, "%s.actions is missing", path);
        return 0;
    }

    if (!json_is_array(v) || json_array_size(v) == 0
        || json_array_size(v) > OMNI_POLICY_LIST_MAX)
    {
        omni_policy_error(b, "%s.actions must be an array of 1 to %d action "
                          "patterns", path, OMNI_POLICY_LIST_MAX);
        return 0;
    }

    for (j = 0; j < json_array_size(v); j++) {
        item = json_array_get(v, j);
        s = json_string_value(item);
        seen[j] = NULL;

        if (s == NULL) {
            omni_policy_error(b, "%s.actions[%zu] must be a string", path, j);
            continue;
        }

        len = json_string_length(item);
        kind = omni_policy_pattern(s, len, &keylen);

        if (kind == 0) {
            omni_policy_error(b, "%s.actions[%zu] %s is not an action pattern "
                              "(\"*\", or dotted lowercase words with an "
                              "optional final \".*\", at most %d bytes)",
                              path, j, omni_policy_quote(q, sizeof(q), s, len),
                              OMNI_POLICY_ACTION_MAX);
            continue;
        }

        if (omni_policy_twice(seen, j, s)) {
            omni_policy_error(b, "%s.actions[%zu] %s is listed twice", path, j,
                              omni_policy_quote(q, sizeof(q), s, len));
            continue;
        }

        seen[j] = s;

        off = omni_policy_str(b, s, keylen);
        if (off == OMNI_POLICY_NONE) {
            return -1;
        }

        pats = omni_policy_grow(b, b->pats, &b->cap_pats, b->npats,
                                sizeof(omni_ppat_t));
        if (pats == NULL) {
            return -1;
        }

        b->pats = pats;
        pats[b->npats].rule = rule;
        pats[b->npats].kind = kind;
        pats[b->npats].key = off;
        pats[b->npats].len = (uint32_t) keylen;
        pats[b->npats].slot = OMNI_POLICY_NONE;
        b->npats++;
    }

    return 0;
}


/* channels (channels != 0) or tiers: 1 to OMNI_POLICY_LIST_MAX names */
static int
omni_policy_names(omni_pbuild_t *b, const char *path, json_t *v,
    const char *what, int channels, uint32_t *first, uint32_t *n)
{
    size_t          j, len;
    json_t         *item;
    uint32_t       *refs, off;
    const char     *s;
    const char     *seen[OMNI_POLICY_LIST_MAX];
    char            q[OMNI_POLICY_MSG_MAX];
    omni_policy_t  *p;

    if (!json_is_array(v) || json_array_size(v) == 0
        || json_array_size(v) > OMNI_POLICY_LIST_MAX)
    {
        omni_policy_error(b, "%s.%s must be an array of 1 to %d %s", path,
                          what, OMNI_POLICY_LIST_MAX,
                          channels ? "channel names" : "tiers");
        return 0;
    }

    p = b->p;
    *first = (uint32_t) p->nrefs;

    for (j = 0; j < json_array_size(v); j++) {
        item = json_array_get(v, j);
        s = json_string_value(item);
        len = json_string_length(item);
        seen[j] = NULL;

        if (channels && s == NULL) {
            omni_policy_error(b, "%s.%s[%zu] must be a string", path, what, j);
            continue;
        }

        if (channels && !omni_policy_is_channel(s, len)) {
            omni_policy_error(b, "%s.%s[%zu] %s is not a channel name (a-z, "
                              "then up to %d of a-z 0-9 _)", path, what, j,
                              omni_policy_quote(q, sizeof(q), s, len),
                              OMNI_POLICY_CHANNEL_MAX - 1);
            continue;
        }

        if (!channels
            && (s == NULL || len == 0 || len > OMNI_POLICY_TIER_MAX
                || strlen(s) != len))
        {
            omni_policy_error(b, "%s.%s[%zu] must be a string of 1 to %d "
                              "bytes", path, what, j, OMNI_POLICY_TIER_MAX);
            continue;
        }

        if (omni_policy_twice(seen, j, s)) {
            omni_policy_error(b, "%s.%s[%zu] %s is listed twice", path, what,
                              j, omni_policy_quote(q, sizeof(q), s, len));
            continue;
        }

        seen[j] = s;

        off = omni_policy_str(b, s, len);
        if (off == OMNI_POLICY_NONE) {
            return -1;
        }

        refs = omni_policy_grow(b, p->refs, &b->cap_refs, p->nrefs,
                                sizeof(uint32_t));
        if (refs == NULL) {
            return -1;
        }

        p->refs = refs;
        p->refs[p->nrefs++] = off;
    }

    *n = (uint32_t) (p->nrefs - *first);

    return 0;
}


static int
omni_policy_when(omni_pbuild_t *b, omni_prule_t *rule, const char *path,
    json_t *v)
{
    size_t          index;
    json_t         *item;
    omni_policy_t  *p;
    char            wpath[OMNI_POLICY_MSG_MAX];

    if (v == NULL) {
        return 0;
    }

    omni_policy_sub(wpath, sizeof(wpath), "%s.when", path);

    if (!json_is_object(v)) {
        omni_policy_error(b, "%s must be an object", wpath);
        return 0;
    }

    omni_policy_keys(b, v, wpath, omni_policy_when_keys);

    item = json_object_get(v, "anonymous");

    if (item != NULL) {
        if (json_is_boolean(item)) {
            rule->anonymous = json_is_true(item);

        } else {
            omni_policy_error(b, "%s.anonymous must be true or false", wpath);
        }
    }

    omni_policy_age(b, wpath, "session_age_max",
                    json_object_get(v, "session_age_max"), &rule->age_max);
    omni_policy_age(b, wpath, "session_age_min",
                    json_object_get(v, "session_age_min"), &rule->age_min);

    if (rule->age_max >= 0 && rule->age_min > rule->age_max) {
        omni_policy_error(b, "%s: session_age_min is greater than "
                          "session_age_max", wpath);
    }

    item = json_object_get(v, "tier");

    if (item == NULL) {
        return 0;
    }

    /* refs may move: the rule is found again by its index */
    p = b->p;
    index = rule - p->rules;

    return omni_policy_names(b, wpath, item, "tier", 0,
                             &p->rules[index].tiers, &p->rules[index].ntiers);
}


static void
omni_policy_age(omni_pbuild_t *b, const char *path, const char *name,
    json_t *v, int64_t *out)
{
    json_int_t  n;

    if (v == NULL) {
        return;
    }

    n = json_is_integer(v) ? json_integer_value(v) : -1;

    if (n < 0 || n > OMNI_POLICY_AGE_MAX) {
        omni_policy_error(b, "%s.%s must be an integer from 0 to %lld", path,
                          name, (long long) OMNI_POLICY_AGE_MAX);
        return;
    }

    *out = (int64_t) n;
}


static int
omni_policy_scope_list(omni_pbuild_t *b, omni_prole_t *r, const char *path,
    json_t *v)
{
    int             added;
    size_t          j, k, index;
    json_t         *path_json;
    const char     *s;
    const char     *seen[OMNI_POLICY_LIST_MAX];
    char            spath[OMNI_POLICY_MSG_MAX];
    char            q[OMNI_POLICY_MSG_MAX];
    omni_policy_t  *p;

    if (v == NULL) {
        return 0;
    }

    if (!json_is_array(v) || json_array_size(v) > OMNI_POLICY_LIST_MAX) {
        omni_policy_error(b, "%s.scopes must be an array of at most %d "
                          "scopes", path, OMNI_POLICY_LIST_MAX);
        return 0;
    }

    p = b->p;
    index = r - p->roles;

    for (j = 0; j < json_array_size(v); j++) {
        omni_policy_sub(spath, sizeof(spath), "%s.scopes[%zu]", path, j);
        seen[j] = NULL;

        if (omni_policy_scope(b, spath, json_array_get(v, j), &added) != 0) {
            return -1;
        }

        if (!added) {
            continue;
        }

        p->roles[index].nscopes++;

        path_json = json_object_get(json_array_get(v, j), "path");
        s = json_string_value(path_json);

        for (k = 0; k < j; k++) {
            if (seen[k] != NULL && strcmp(seen[k], s) == 0) {
                omni_policy_error(b, "%s.path %s is also %s.scopes[%zu]",
                                  spath,
                                  omni_policy_quote(q, sizeof(q), s,
                                                    strlen(s)),
                                  path, k);
                break;
            }
        }

        seen[j] = s;
    }

    return 0;
}


/* *added: whether a scope went to the table (only a valid one does) */
static int
omni_policy_scope(omni_pbuild_t *b, const char *path, json_t *v, int *added)
{
    int              bad;
    size_t           len;
    json_t          *item, *remove, *mask, *keep;
    json_int_t       n;
    const char      *s;
    char             q[OMNI_POLICY_MSG_MAX];
    char             mpath[OMNI_POLICY_MSG_MAX];
    omni_pscope_t    sc, *scopes;
    omni_policy_t   *p;

    *added = 0;

    if (!json_is_object(v)) {
        omni_policy_error(b, "%s must be an object", path);
        return 0;
    }

    omni_policy_keys(b, v, path, omni_policy_scope_keys);

    bad = 0;
    memset(&sc, 0, sizeof(omni_pscope_t));
    p = b->p;
    sc.segs = (uint32_t) p->nsegs;

    item = json_object_get(v, "path");
    s = json_string_value(item);
    len = json_string_length(item);

    if (item == NULL) {
        omni_policy_error(b, "%s.path is missing", path);
        bad = 1;

    } else if (s == NULL) {
        omni_policy_error(b, "%s.path must be a string", path);
        bad = 1;

    } else {
        switch (omni_policy_segments(b, s, len, &sc)) {
        case -1:
            return -1;

        case 1:
            omni_policy_error(b, "%s.path %s is not a reply path (1 to %d "
                              "keys or \"*\" joined by \".\", each of 1 to %d "
                              "bytes without control characters)", path,
                              omni_policy_quote(q, sizeof(q), s, len),
                              OMNI_POLICY_DEPTH, OMNI_POLICY_SEGMENT_MAX);
            bad = 1;
            break;

        default:
            break;
        }
    }

    remove = json_object_get(v, "remove");
    mask = json_object_get(v, "mask");

    if (remove == NULL && mask == NULL) {
        omni_policy_error(b, "%s needs \"remove\": true or \"mask\"", path);
        bad = 1;

    } else if (remove != NULL && mask != NULL) {
        omni_policy_error(b, "%s has both \"remove\" and \"mask\"", path);
        bad = 1;

    } else if (remove != NULL) {
        if (!json_is_true(remove)) {
            omni_policy_error(b, "%s.remove must be true", path);
            bad = 1;
        }

        sc.remove = 1;

    } else if (!json_is_object(mask)) {
        omni_policy_error(b, "%s.mask must be an object", path);
        bad = 1;

    } else {
        omni_policy_sub(mpath, sizeof(mpath), "%s.mask", path);
        omni_policy_keys(b, mask, mpath, omni_policy_mask_keys);

        keep = json_object_get(mask, "keep_last");
        n = 0;

        if (keep != NULL) {
            n = json_is_integer(keep) ? json_integer_value(keep) : -1;

            if (n < 0 || n > OMNI_POLICY_KEEP_MAX) {
                omni_policy_error(b, "%s.keep_last must be an integer from 0 "
                                  "to %d", mpath, OMNI_POLICY_KEEP_MAX);
                bad = 1;
            }
        }

        sc.keep_last = (uint32_t) n;
    }

    if (bad) {
        /* segments of a bad scope are left behind: the compile fails */
        return 0;
    }

    scopes = omni_policy_grow(b, p->scopes, &b->cap_scopes, p->nscopes,
                              sizeof(omni_pscope_t));
    if (scopes == NULL) {
        return -1;
    }

    p->scopes = scopes;
    p->scopes[p->nscopes++] = sc;
    *added = 1;

    return 0;
}


/*
 * Splits a reply path into segs: 0, 1 when it is not a path, -1 out of
 * memory.  A segment that is a decimal number without leading zeros
 * also names that index of an array.
 */
static int
omni_policy_segments(omni_pbuild_t *b, const char *s, size_t len,
    omni_pscope_t *sc)
{
    size_t          i, d, start, seglen;
    int64_t         index;
    uint32_t        off;
    omni_pseg_t    *segs, *seg;
    omni_policy_t  *p;

    p = b->p;
    start = 0;

    if (len == 0) {
        return 1;
    }

    for (i = 0; i <= len; i++) {
        if (i < len && s[i] != '.') {
            if ((unsigned char) s[i] < 0x20 || s[i] == 0x7f) {
                return 1;
            }

            continue;
        }

        seglen = i - start;

        if (seglen == 0 || seglen > OMNI_POLICY_SEGMENT_MAX
            || sc->nsegs == OMNI_POLICY_DEPTH)
        {
            return 1;
        }

        off = omni_policy_str(b, s + start, seglen);
        if (off == OMNI_POLICY_NONE) {
            return -1;
        }

        segs = omni_policy_grow(b, p->segs, &b->cap_segs, p->nsegs,
                                sizeof(omni_pseg_t));
        if (segs == NULL) {
            return -1;
        }

        p->segs = segs;
        seg = &p->segs[p->nsegs++];
        seg->str = off;
        seg->len = (uint32_t) seglen;
        seg->any = (seglen == 1 && s[start] == '*');

        /* 18 digits at most: no overflow */
        index = (seglen <= 18 && (s[start] != '0' || seglen == 1)) ? 0 : -1;

        for (d = 0; index >= 0 && d < seglen; d++) {
            if (s[start + d] < '0' || s[start + d] > '9') {
                index = -1;
                break;
            }

            index = index * 10 + (s[start + d] - '0');
        }

        seg->index = index;
        sc->nsegs++;
        start = i + 1;
    }

    return 0;
}


static void
omni_policy_text(omni_pbuild_t *b, const char *path, json_t *v)
{
    if (v != NULL
        && (!json_is_string(v)
            || json_string_length(v) > OMNI_POLICY_DESC_MAX))
    {
        omni_policy_error(b, "%s.description must be a string of at most %d "
                          "bytes", path, OMNI_POLICY_DESC_MAX);
    }
}


static int
omni_policy_twice(const char *const *seen, size_t n, const char *s)
{
    size_t  i;

    for (i = 0; i < n; i++) {
        if (seen[i] != NULL && strcmp(seen[i], s) == 0) {
            return 1;
        }
    }

    return 0;
}


int
omni_policy_is_role_name(const char *s, size_t len)
{
    size_t         i;
    unsigned char  c;

    if (len == 0 || len > OMNI_POLICY_NAME_MAX || strlen(s) != len) {
        return 0;
    }

    for (i = 0; i < len; i++) {
        c = (unsigned char) s[i];

        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
              || (c >= '0' && c <= '9') || c == '_' || c == '.' || c == ':'
              || c == '-'))
        {
            return 0;
        }
    }

    return 1;
}


static int
omni_policy_is_rule_id(const char *s, size_t len)
{
    size_t         i;
    unsigned char  c;

    if (len == 0 || len > OMNI_POLICY_ID_MAX || strlen(s) != len) {
        return 0;
    }

    for (i = 0; i < len; i++) {
        c = (unsigned char) s[i];

        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
              || (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-'))
        {
            return 0;
        }
    }

    return 1;
}


static int
omni_policy_is_channel(const char *s, size_t len)
{
    size_t  i;

    if (len == 0 || len > OMNI_POLICY_CHANNEL_MAX || strlen(s) != len
        || s[0] < 'a' || s[0] > 'z')
    {
        return 0;
    }

    for (i = 1; i < len; i++) {
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9')
              || s[i] == '_'))
        {
            return 0;
        }
    }

    return 1;
}


/*
 * "*", "w(.w)*" or "w(.w)*.*" with w = [a-z][a-z0-9_]*: its kind and the
 * length of its key ("order" for "order.*"), or 0 when it is none.
 */
static unsigned
omni_policy_pattern(const char *s, size_t len, size_t *keylen)
{
    size_t    i, n;
    unsigned  kind;

    *keylen = 0;

    if (len == 1 && s[0] == '*') {
        return OMNI_PKIND_ANY;
    }

    if (len == 0 || len > OMNI_POLICY_ACTION_MAX || strlen(s) != len) {
        return 0;
    }

    kind = OMNI_PKIND_EXACT;
    n = len;

    if (len > 2 && s[len - 2] == '.' && s[len - 1] == '*') {
        kind = OMNI_PKIND_PREFIX;
        n = len - 2;
    }

    for (i = 0; i < n; i++) {
        /* a word starts with a letter, after the start or a dot */
        if (i == 0 || s[i - 1] == '.') {
            if (s[i] < 'a' || s[i] > 'z') {
                return 0;
            }

            continue;
        }

        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9')
              || s[i] == '_' || s[i] == '.'))
        {
            return 0;
        }
    }

    if (s[n - 1] == '.') {
        return 0;
    }

    *keylen = n;

    return kind;
}
