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
 *     (rule id "default");
 *   - callers without a principal have the policy's anonymous role;
 *   - scopes, per role and not inherited: reply fields (dotted paths into
 *     the unified reply, e.g. "data.bank_card") removed or masked.  With
 *     several roles a field is left as it is if one of the roles has no
 *     scope for it, masked if one masks it, removed only if all remove it.
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
 * (malloc()ed, to free()) lists every error found, one per line, each
 * naming where: "roles.agent.rules[2].effect must be \"allow\" or
 * \"deny\"", "roles: inheritance cycle agent -> desk -> agent", ...  Out
 * of memory: NULL and *errors NULL.
 */
omni_policy_t *omni_policy_compile(const char *json, size_t len,
    char **errors);
void omni_policy_free(omni_policy_t *p);

/* Decides a request; never fails (unknown roles simply grant nothing). */
void omni_policy_decide(const omni_policy_t *p,
    const omni_policy_request_t *req, omni_policy_decision_t *d);

/*
 * The same decision, and in buf the inheritance path from one of the
 * caller's roles to the role holding the deciding rule ("vip_desk >
 * agent > customer"), or "" for the default.
 */
void omni_policy_explain(const omni_policy_t *p,
    const omni_policy_request_t *req, omni_policy_decision_t *d, char *buf,
    size_t len);

/* Whether the caller's roles have any scope at all: most have none. */
int omni_policy_has_scopes(const omni_policy_t *p,
    const omni_policy_request_t *req);

/*
 * Applies the caller's scopes to a unified reply (JSON text).  Returns 0
 * with *out NULL when nothing changed, 0 with *out (malloc()ed) and
 * *out_len when fields were removed or masked, -1 when the reply is not
 * a JSON object (it is left to the renderer to refuse) or memory ran out.
 */
int omni_policy_apply_scopes(const omni_policy_t *p,
    const omni_policy_request_t *req, const char *reply, size_t len,
    char **out, size_t *out_len);

/*
 * A summary of what changed between two valid policies, as JSON text
 * (malloc()ed): {"roles": {"added": [...], "removed": [...], "changed":
 * [...]}, "rules": {"added": [...], "removed": [...], "changed": [...]},
 * "anonymous_role": {"from": .., "to": ..} or absent}.  NULL when either
 * is not a valid policy or memory ran out.
 */
char *omni_policy_diff(const char *from, size_t from_len, const char *to,
    size_t to_len);

size_t omni_policy_roles(const omni_policy_t *p);
size_t omni_policy_rules(const omni_policy_t *p);


#endif /* OMNI_POLICY_H_INCLUDED_ */
