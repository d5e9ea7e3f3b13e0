/*
 * Copyright (C) The omni gateway authors
 *
 * The policy engine: who may do what, on which channel, and see which
 * reply fields.  A policy (JSON, schema/policy.schema.json, docs/policy.md)
 * is validated in full and compiled once into a matcher; decisions and
 * reply scopes are then computed without parsing or scanning every rule.
 * Knows nothing of NGINX.
 *
 * Model:
 *   - roles with inheritance (a role has the rules of the roles it
 *     inherits, transitively; cycles are refused);
 *   - rules: an id unique in the policy, an effect (allow or deny), action
 *     patterns ("order.refund" exact, "order.*" any action below "order",
 *     "*" every action), optionally channels and conditions on the request
 *     (anonymous, customer tier, session age);
 *   - an explicit deny wins over any allow; nothing matching is a deny
 *     (rule id "default"); when several rules of the deciding effect
 *     match, the first in policy order (roles in file order, each role's
 *     rules in order) is the one reported;
 *   - callers without a principal have the policy's anonymous role, and
 *     only it; roles the policy does not know grant nothing;
 *   - scopes, per role and not inherited: reply fields (dotted paths into
 *     the unified reply, e.g. "data.bank_card") removed or masked.  With
 *     several roles a field is left as it is if one of the roles has no
 *     scope for it, masked if one masks it (keeping the most characters
 *     any of them keeps), removed only if all remove it; a role that
 *     removes or masks a field sees nothing below it.  Unknown roles count
 *     for nothing here either.
 */

#ifndef OMNI_POLICY_H_INCLUDED_
#define OMNI_POLICY_H_INCLUDED_


#include <stddef.h>
#include <stdint.h>


#define OMNI_POLICY_SIZE_MAX     (4 * 1024 * 1024)   /* bytes of JSON */
#define OMNI_POLICY_ROLES_MAX    10000
#define OMNI_POLICY_RULES_MAX    100000               /* in the policy */
#define OMNI_POLICY_ERRORS_MAX   100                  /* errors reported */
#define OMNI_POLICY_PATH_MAX     1024                 /* explain() text */


typedef struct omni_policy_s  omni_policy_t;


typedef struct {
    const char *const  *roles;        /* the token's roles */
    size_t              nroles;
    int                 anonymous;    /* no principal: the anonymous role */
    const char         *channel;
    const char         *action;
    const char         *tier;         /* customer.tier, NULL when none */
    int                 has_session;
    int64_t             session_age;  /* seconds, when has_session */
} omni_policy_request_t;


typedef struct {
    int                 allow;
    const char         *rule;         /* the deciding rule's id, "default" */
    const char         *role;         /* the role that holds it, or NULL */
} omni_policy_decision_t;


/*
 * Validates and compiles a policy.  On failure returns NULL and *errors
 * (malloc()ed, to free()) lists every error found, one per line without a
 * final newline, in the order of the file, each naming where:
 * "roles.agent.rules[2].effect must be \"allow\" or \"deny\"", "roles:
 * inheritance cycle agent -> desk -> agent", ...; past
 * OMNI_POLICY_ERRORS_MAX a last line "N more errors not listed".  Out of
 * memory: NULL and *errors NULL.  errors may be NULL.  On success *errors
 * is NULL.  The compiled policy is read-only: decisions on it may run
 * concurrently.
 */
omni_policy_t *omni_policy_compile(const char *json, size_t len,
    char **errors);
void omni_policy_free(omni_policy_t *p);

/*
 * Decides a request; never fails, never allocates (unknown roles simply
 * grant nothing; no action or an empty one is the default deny).
 * d->rule and d->role point into the policy: copy them to keep them past
 * omni_policy_free().
 */
void omni_policy_decide(const omni_policy_t *p,
    const omni_policy_request_t *req, omni_policy_decision_t *d);

/*
 * The same decision, and in buf the inheritance path from one of the
 * caller's roles to the role holding the deciding rule ("vip_desk >
 * agent > customer"), or "" for the default.  The path starts at the
 * caller's role nearest to the holder (the first in the request on a
 * tie) and follows the breadth-first order of inheritance.  A buffer too
 * small gets "vip_desk > ... > customer", cut to fit; OMNI_POLICY_PATH_MAX
 * is enough for most.  Slower than decide(): for tools and logs.
 */
void omni_policy_explain(const omni_policy_t *p,
    const omni_policy_request_t *req, omni_policy_decision_t *d, char *buf,
    size_t len);

/*
 * Whether scopes may change a reply for this caller: 0 when a known role
 * of the caller has no scope at all (it sees every field), when it knows
 * none, or for an anonymous caller whose anonymous role has no scopes or
 * does not exist.  Most callers have none: the reply is then not parsed.
 */
int omni_policy_has_scopes(const omni_policy_t *p,
    const omni_policy_request_t *req);

/*
 * Applies the caller's scopes to a unified reply (JSON text).  Returns 0
 * with *out NULL when nothing changed (the reply is not even parsed when
 * has_scopes() says 0), 0 with *out (malloc()ed, NUL-terminated) and
 * *out_len when fields were removed or masked: compact JSON, members in
 * their order, numbers as jansson writes them (an integer past 64 bits
 * makes every number a double).  -1 when the reply could not be scoped:
 * it is not a JSON object, has a duplicate key, the caller holds more
 * than 64 known roles, or memory ran out.  Then the reply still holds
 * what the caller may not see: it must not be sent as it is.
 */
int omni_policy_apply_scopes(const omni_policy_t *p,
    const omni_policy_request_t *req, const char *reply, size_t len,
    char **out, size_t *out_len);

/*
 * A summary of what changed between two valid policies, as compact JSON
 * text (malloc()ed): {"roles": {"added": [...], "removed": [...],
 * "changed": [...]}, "rules": {"added": [...], "removed": [...],
 * "changed": [...]}, "anonymous_role": {"from": .., "to": ..} or absent}.
 * Roles are compared by name (changed: any difference in the role's
 * object, key order aside), rules by id (changed: other content, or now
 * held by another role); the anonymous roles as in force (the default is
 * "anonymous").  Added and changed names come in the order of to, removed
 * ones in the order of from.  NULL when either is not a valid policy or
 * memory ran out.
 */
char *omni_policy_diff(const char *from, size_t from_len, const char *to,
    size_t to_len);

size_t omni_policy_roles(const omni_policy_t *p);
size_t omni_policy_rules(const omni_policy_t *p);


#endif /* OMNI_POLICY_H_INCLUDED_ */
