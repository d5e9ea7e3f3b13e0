/*
 * Copyright (C) The omni gateway authors
 *
 * The store's administration as JSON requests: one entry point that the
 * admin location (ngx_http_omni_admin.c) and omnictl both call, so the
 * HTTP API and the command line do exactly the same things.  Knows
 * nothing of NGINX.
 *
 * Routes (paths relative to the admin root; segments percent-decoded):
 *
 *   GET    /stats
 *   GET    /sessions/{id}
 *   DELETE /sessions/{id}                 revoke: ends it everywhere
 *   GET    /customers/{id}                survivor, identities, sessions
 *   GET    /customers/{id}/sessions       ?after=ID&limit=N
 *   GET    /customers/{id}/identities     ?after=TYPE:VALUE&limit=N
 *   GET    /customers/{id}/journey        ?before=CURSOR&limit=N
 *   POST   /customers/{id}/merge          {"into": "ID"}
 *   GET    /identities/{type}/{value}     resolve
 *   PUT    /identities/{type}/{value}     {"customer": "ID"}: link
 *   DELETE /identities/{type}/{value}     unlink
 *   GET    /revocations                   ?kind=jti|session|subject&after=V&limit=N
 *   POST   /revocations                   {"kind", "value", "expires_at" | "before"}
 *   DELETE /revocations/{kind}/{value}
 *   GET    /policy                        the current revision
 *   PUT    /policy                        ?note=TEXT, body: a policy (up to
 *                                         OMNI_STORE_POLICY_MAX bytes):
 *                                         the next revision, by actor
 *   GET    /policy/revisions              ?before=N&limit=N, newest first
 *   GET    /policy/revisions/{n}
 *   POST   /policy/rollback               {"revision": N}: a new revision
 *                                         with N's policy
 *   GET    /policy/diff                   ?from=A&to=B (default: current)
 *   GET    /customers/{id}/cases          ?status=open&after=ID&limit=N: open
 *                                         ones first (docs/cases.md)
 *   GET    /cases                         ?status=S&after=ID&limit=N
 *   POST   /cases                         {"customer", "subject",
 *                                         "category", "priority", ...}
 *   GET    /cases/{id}                    with its events
 *   POST   /cases/{id}/status             {"status": S}
 *   POST   /cases/{id}/notes              {"text", "kind": note|internal|reply}
 *   POST   /cases/{id}/assign             {"assignee", "pool"}
 *
 * Every answer is a JSON object; errors are {"error": CODE, "message": M}
 * (and "errors": [...] for policy_invalid).
 */

#ifndef OMNI_ADMIN_H_INCLUDED_
#define OMNI_ADMIN_H_INCLUDED_


#include <stddef.h>
#include <stdint.h>

#include "omni_case_sla.h"
#include "omni_store.h"


#define OMNI_ADMIN_BODY_MAX   65536      /* request bodies larger: 413 */
#define OMNI_ADMIN_LIMIT_MAX  1000       /* items per page */
#define OMNI_ADMIN_LIMIT      100        /* items per page by default */


typedef struct {
    const char    *method;           /* "GET", "PUT", ... */
    const char    *path;             /* "/sessions/abc", not decoded */
    size_t         path_len;
    const char    *query;            /* without "?", may be NULL */
    size_t         query_len;
    const char    *body;             /* may be NULL */
    size_t         body_len;
    int64_t        now;              /* seconds since the epoch */
    const char    *actor;            /* who asks: recorded with policy
                                        revisions and case events;
                                        NULL: "-" */
    const omni_case_sla_t  *sla;     /* due times of new cases; NULL:
                                        none */
} omni_admin_request_t;


typedef struct {
    unsigned       status;           /* 200, 201, 400, 404, 405, 409, ... */
    char          *body;             /* JSON object text, malloc()ed */
    size_t         body_len;
    const char    *allow;            /* for 405: "GET, DELETE" */
    char          *audit;            /* a change, described in one line
                                        for the audit log; NULL for reads
                                        and refusals; malloc()ed */
    unsigned       sla_breach;       /* OMNI_ADMIN_BREACH_*: due times
                                        this change met late */
} omni_admin_result_t;


/* a case's first response given, or the case resolved, past its due time */
#define OMNI_ADMIN_BREACH_FIRST_RESPONSE  0x01
#define OMNI_ADMIN_BREACH_RESOLUTION      0x02


/*
 * Handles one request against st.  Always fills res (status 500 with a
 * body when even that fails is impossible: body is NULL only when memory
 * ran out); returns 0, or -1 when out of memory.
 */
int omni_admin_handle(omni_store_t *st, const omni_admin_request_t *req,
    omni_admin_result_t *res);

void omni_admin_result_free(omni_admin_result_t *res);


#endif /* OMNI_ADMIN_H_INCLUDED_ */
