/*
 * Copyright (C) The omni gateway authors
 *
 * The admin API's private header, included only by omni_admin*.c (the
 * glue and omnictl know omni_admin.h alone): the context a request
 * carries through its steps, and the functions the router and the
 * resources' rooms call in one another (omni_admin.c says which room
 * holds what).
 */

#ifndef OMNI_ADMIN_INT_H_INCLUDED_
#define OMNI_ADMIN_INT_H_INCLUDED_


#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "omni_admin.h"


#define OMNI_ADMIN_SEGMENTS     3        /* of the longest route */
#define OMNI_ADMIN_SEGMENT_MAX  OMNI_STORE_VALUE_MAX
#define OMNI_ADMIN_QUERY_MAX    (OMNI_STORE_TYPE_MAX + 1                      \
                                 + OMNI_STORE_VALUE_MAX)   /* TYPE:VALUE */
#define OMNI_ADMIN_MSG_MAX      512
#define OMNI_ADMIN_TIME_LEN     80       /* 24 used; room for any int */
#define OMNI_ADMIN_PUT_TRIES    8        /* reads of a record changed under
                                            a read-modify-write */
#define OMNI_ADMIN_LOAD         (JSON_REJECT_DUPLICATES | JSON_DECODE_ANY)

/* what a step returns: go on, or the answer is set (refusal or done) */
#define OMNI_ADMIN_GO           0
#define OMNI_ADMIN_STOP         1

/* query parameters, as bits: which a route accepts, which were given */
#define OMNI_ADMIN_Q_LIMIT      0x01
#define OMNI_ADMIN_Q_AFTER      0x02
#define OMNI_ADMIN_Q_BEFORE     0x04
#define OMNI_ADMIN_Q_KIND       0x08
#define OMNI_ADMIN_Q_FROM       0x10
#define OMNI_ADMIN_Q_TO         0x20
#define OMNI_ADMIN_Q_NOTE       0x40
#define OMNI_ADMIN_Q_ERASE      0x80
#define OMNI_ADMIN_Q_STATUS     0x100


typedef struct {
    omni_store_t                *st;
    const omni_admin_request_t  *req;
    omni_admin_result_t         *res;
    const char                  *route;     /* "/sessions/{id}" */
    size_t                       nseg;
    char                         seg[OMNI_ADMIN_SEGMENTS]
                                    [OMNI_ADMIN_SEGMENT_MAX + 1];
    unsigned                     given;     /* OMNI_ADMIN_Q_* */
    size_t                       limit;
    char                         after[OMNI_ADMIN_QUERY_MAX + 1];
    char                         before[OMNI_ADMIN_QUERY_MAX + 1];
    char                         kind[OMNI_ADMIN_QUERY_MAX + 1];
    char                         from[OMNI_ADMIN_QUERY_MAX + 1];
    char                         to[OMNI_ADMIN_QUERY_MAX + 1];
    char                         note[OMNI_ADMIN_QUERY_MAX + 1];
    char                         erase[OMNI_ADMIN_QUERY_MAX + 1];
    char                         status[OMNI_ADMIN_QUERY_MAX + 1];
    json_t                      *body;
    unsigned                     nomem:1;
    char                         err[OMNI_ERRLEN];
} omni_admin_ctx_t;


/* omni_admin.c: request values, answering, jansson helpers */

int omni_admin_body_keys(omni_admin_ctx_t *ctx, const char *const *keys);
int omni_admin_body_string(omni_admin_ctx_t *ctx, const char *key,
    int required, const char **out);
int omni_admin_body_time(omni_admin_ctx_t *ctx, const char *key,
    int64_t *out, int *given);
int omni_admin_check_id(omni_admin_ctx_t *ctx, const char *what,
    const char *s, size_t max);
int omni_admin_check_text(omni_admin_ctx_t *ctx, const char *what,
    const char *s, size_t max);

int omni_admin_snapshot(omni_admin_ctx_t *ctx);
int omni_admin_store_fail(omni_admin_ctx_t *ctx, int rc, int refusal);
int omni_admin_fail(omni_admin_ctx_t *ctx, unsigned status,
    const char *code, const char *fmt, ...);
int omni_admin_reply(omni_admin_ctx_t *ctx, unsigned status,
    json_t *answer, int failed);
void omni_admin_audit(omni_admin_ctx_t *ctx, const char *fmt, ...);

int omni_admin_load_nomem(const json_error_t *jerr);
void omni_admin_set(json_t *obj, const char *key, json_t *v, int *failed);
void omni_admin_append(json_t *arr, json_t *v, int *failed);
json_t *omni_admin_str(const char *s);
json_t *omni_admin_str_or_null(const char *s);
void omni_admin_time_text(char *buf, size_t size, int64_t t, int ms);
json_t *omni_admin_time(int64_t t, int ms);

/* omni_admin_session.c */

int omni_admin_session_get(omni_admin_ctx_t *ctx);
int omni_admin_session_revoke(omni_admin_ctx_t *ctx);

json_t *omni_admin_session_json(const omni_store_session_t *s);

/* omni_admin_customer.c */

int omni_admin_customer_get(omni_admin_ctx_t *ctx);
int omni_admin_customer_sessions(omni_admin_ctx_t *ctx);
int omni_admin_customer_identities(omni_admin_ctx_t *ctx);
int omni_admin_customer_journey(omni_admin_ctx_t *ctx);
int omni_admin_customer_merge(omni_admin_ctx_t *ctx);
int omni_admin_customer_erase(omni_admin_ctx_t *ctx);
int omni_admin_identity_get(omni_admin_ctx_t *ctx);
int omni_admin_identity_put(omni_admin_ctx_t *ctx);
int omni_admin_identity_delete(omni_admin_ctx_t *ctx);

/* omni_admin_case.c */

int omni_admin_customer_cases(omni_admin_ctx_t *ctx);
int omni_admin_cases_get(omni_admin_ctx_t *ctx);
int omni_admin_case_post(omni_admin_ctx_t *ctx);
int omni_admin_case_get(omni_admin_ctx_t *ctx);
int omni_admin_case_status(omni_admin_ctx_t *ctx);
int omni_admin_case_note(omni_admin_ctx_t *ctx);
int omni_admin_case_assign(omni_admin_ctx_t *ctx);

/* omni_admin_revocation.c */

int omni_admin_revocations_get(omni_admin_ctx_t *ctx);
int omni_admin_revocation_post(omni_admin_ctx_t *ctx);
int omni_admin_revocation_delete(omni_admin_ctx_t *ctx);

/* omni_admin_revision.c: a document kept as store revisions */

typedef struct {
    const char    *name;            /* "policy": answers' member, audit */
    const char    *invalid;         /* 422's error: "policy_invalid" */
    int          (*get)(omni_store_t *st, uint32_t rev, char **json,
                       size_t *len, omni_store_revision_info_t *info,
                       char *err);
    int          (*put)(omni_store_t *st, const char *json, size_t len,
                       const char *author, const char *note, int64_t now,
                       uint32_t *rev, char *err);
    int          (*list)(omni_store_t *st, uint32_t before,
                        omni_store_revision_info_t *out, size_t max,
                        size_t *n, char *err);
    /* 0 when it compiles; else -1, *errors one a line or NULL (memory) */
    int          (*compile)(const char *json, size_t len, char **errors);
    /* the engine's summary of two revisions, JSON text; NULL: no diff */
    char        *(*diff)(const char *from, size_t from_len, const char *to,
                        size_t to_len);
} omni_admin_doc_t;

int omni_admin_doc_answer(omni_admin_ctx_t *ctx, const omni_admin_doc_t *doc,
    uint32_t rev);
int omni_admin_doc_revision(omni_admin_ctx_t *ctx,
    const omni_admin_doc_t *doc);
int omni_admin_doc_put(omni_admin_ctx_t *ctx, const omni_admin_doc_t *doc);
int omni_admin_doc_revisions(omni_admin_ctx_t *ctx,
    const omni_admin_doc_t *doc);
int omni_admin_doc_rollback(omni_admin_ctx_t *ctx,
    const omni_admin_doc_t *doc);
int omni_admin_doc_diff(omni_admin_ctx_t *ctx, const omni_admin_doc_t *doc);
int omni_admin_doc_check(omni_admin_ctx_t *ctx, const omni_admin_doc_t *doc,
    const char *json, size_t len, uint32_t rev);
const char *omni_admin_actor(omni_admin_ctx_t *ctx);
int omni_admin_revision(const char *s, uint32_t *rev);

/* omni_admin_policy.c */

int omni_admin_policy_get(omni_admin_ctx_t *ctx);
int omni_admin_policy_put(omni_admin_ctx_t *ctx);
int omni_admin_policy_revisions(omni_admin_ctx_t *ctx);
int omni_admin_policy_revision(omni_admin_ctx_t *ctx);
int omni_admin_policy_rollback(omni_admin_ctx_t *ctx);
int omni_admin_policy_diff(omni_admin_ctx_t *ctx);

/* omni_admin_dispatch.c */

int omni_admin_workflow_get(omni_admin_ctx_t *ctx);
int omni_admin_workflow_put(omni_admin_ctx_t *ctx);
int omni_admin_workflow_revisions(omni_admin_ctx_t *ctx);
int omni_admin_workflow_revision(omni_admin_ctx_t *ctx);
int omni_admin_workflow_rollback(omni_admin_ctx_t *ctx);
int omni_admin_workflow_diff(omni_admin_ctx_t *ctx);
int omni_admin_capacity_get(omni_admin_ctx_t *ctx);
int omni_admin_capacity_revisions(omni_admin_ctx_t *ctx);
int omni_admin_capacity_post(omni_admin_ctx_t *ctx);


#endif /* OMNI_ADMIN_INT_H_INCLUDED_ */
