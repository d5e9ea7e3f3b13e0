/*
 * Copyright (C) The omni gateway authors
 *
 * The customer's own view of their cases (docs/cases.md, "The customer's
 * own queries"): the unified reply (docs/contract.md) the gateway answers
 * case.list and case.get with, from the store, for the request's
 * customer only and with public events only (no internal note, no
 * assignment, no assignee, pool or author subject).  Knows nothing of
 * NGINX.
 *
 *   case.list  {"ok": true, "data": {"cases": [CASE...]}}, open ones
 *              first, at most OMNI_CASE_VIEW_LIST
 *   case.get   {"ok": true, "data": {"case": CASE with "events"}}
 *              params.case_id: the id; a mistyped one is 400
 *              case_id_invalid, another customer's or none 404
 *              case_not_found
 *
 * CASE: {"id", "status", "category", "subject", "channel", "created_at",
 * "updated_at", "due", "follow_up_of"}; an event: {"time", "kind"
 * (created, note, reply, status), "text" (notes and replies), "status"
 * (a status change's new status)}.
 */

#ifndef OMNI_CASE_VIEW_H_INCLUDED_
#define OMNI_CASE_VIEW_H_INCLUDED_


#include <stddef.h>

#include "omni_store.h"


#define OMNI_CASE_VIEW_LIST  20


typedef struct {
    unsigned   status;               /* HTTP: 200, 400, 404, 500 */
    char      *body;                 /* a unified reply, malloc()ed */
    size_t     len;
} omni_case_view_t;


/*
 * Answers action ("case.list" or "case.get") for customer (NULL: a
 * caller the store does not know, who has no case); case_id is
 * params.case_id (NULL when absent).  0 with out filled (the store's
 * failure is a 500 with a unified error reply, and a message in err for
 * the log); -1 when memory ran out.
 */
int omni_case_view(omni_store_t *st, const char *action, const char *customer,
    const char *case_id, omni_case_view_t *out, char *err);

/* whether the gateway answers action itself */
int omni_case_view_action(const char *action, size_t len);


#endif /* OMNI_CASE_VIEW_H_INCLUDED_ */
