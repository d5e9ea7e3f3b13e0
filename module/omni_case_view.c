/*
 * Copyright (C) The omni gateway authors
 *
 * The customer's own view of their cases (omni_case_view.h): unified
 * replies built from the store, public events only.
 */


#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "omni_case_view.h"
#include "omni_contract.h"


#define OMNI_CASE_VIEW_TIME  32


static int omni_case_view_list(omni_store_t *st, const char *customer,
    omni_case_view_t *out, char *err);
static int omni_case_view_get(omni_store_t *st, const char *customer,
    const char *case_id, omni_case_view_t *out, char *err);
static json_t *omni_case_view_case(const omni_store_case_t *c);
static json_t *omni_case_view_events(const omni_store_case_event_t *ev,
    size_t n);
static json_t *omni_case_view_time(int64_t t);
static int omni_case_view_ok(omni_case_view_t *out, const char *key,
    json_t *value, int failed);
static int omni_case_view_error(omni_case_view_t *out, unsigned status,
    const char *code, const char *message);
static int omni_case_view_done(omni_case_view_t *out, unsigned status,
    json_t *reply);
static void omni_case_view_set(json_t *o, const char *key, json_t *v,
    int *failed);


int
omni_case_view_action(const char *action, size_t len)
{
    return (len == sizeof("case.list") - 1
            && memcmp(action, "case.list", len) == 0)
           || (len == sizeof("case.get") - 1
               && memcmp(action, "case.get", len) == 0);
}


int
omni_case_view(omni_store_t *st, const char *action, const char *customer,
    const char *case_id, omni_case_view_t *out, char *err)
{
    memset(out, 0, sizeof(omni_case_view_t));
    err[0] = '\0';

    if (strcmp(action, "case.list") == 0) {
        return omni_case_view_list(st, customer, out, err);
    }

    /* a caller the store does not know has no case */
    if (customer == NULL && case_id != NULL
        && omni_store_case_id_valid(case_id, strlen(case_id)))
    {
        return omni_case_view_error(out, 404, "case_not_found",
                                    "no such case");
    }

    return omni_case_view_get(st, customer, case_id, out, err);
}


static int
omni_case_view_list(omni_store_t *st, const char *customer,
    omni_case_view_t *out, char *err)
{
    int                 rc, failed;
    size_t              i, n;
    json_t             *cases;
    omni_store_id_t     ids[OMNI_CASE_VIEW_LIST];
    omni_store_case_t  *c;

    c = malloc(sizeof(omni_store_case_t));
    if (c == NULL) {
        return -1;
    }

    rc = omni_store_read_begin(st, err);

    if (rc == OMNI_STORE_OK) {
        n = 0;

        /* a caller the store does not know has no case */
        if (customer != NULL) {
            rc = omni_store_cases_by_customer(st, customer, NULL, 0, ids,
                                              OMNI_CASE_VIEW_LIST, &n, err);
        }

        failed = 0;
        cases = json_array();

        for (i = 0; rc == OMNI_STORE_OK && i < n; i++) {
            rc = omni_store_case_get(st, ids[i].id, c, err);

            if (rc == OMNI_STORE_NOT_FOUND) {
                rc = OMNI_STORE_OK;
                continue;
            }

            if (rc == OMNI_STORE_OK
                && json_array_append_new(cases, omni_case_view_case(c)) != 0)
            {
                failed = 1;
            }
        }

        omni_store_read_end(st);

    } else {
        failed = 0;
        cases = NULL;
    }

    free(c);

    if (rc != OMNI_STORE_OK) {
        json_decref(cases);
        return omni_case_view_error(out, 500, "store_error",
                                    "your cases cannot be read now");
    }

    return omni_case_view_ok(out, "cases", cases, failed);
}


static int
omni_case_view_get(omni_store_t *st, const char *customer,
    const char *case_id, omni_case_view_t *out, char *err)
{
    int                       rc, failed;
    size_t                    n;
    json_t                   *one;
    omni_store_case_t        *c;
    omni_store_case_event_t  *ev;

    if (case_id == NULL) {
        return omni_case_view_error(out, 400, "case_id_invalid",
                                    "which case? give its number");
    }

    if (!omni_store_case_id_valid(case_id, strlen(case_id))) {
        return omni_case_view_error(out, 400, "case_id_invalid",
                                    "that is not a case number: check the "
                                    "digits");
    }

    c = malloc(sizeof(omni_store_case_t));
    ev = calloc(OMNI_STORE_CASE_EVENTS, sizeof(omni_store_case_event_t));

    if (c == NULL || ev == NULL) {
        free(c);
        free(ev);
        return -1;
    }

    n = 0;
    rc = omni_store_read_begin(st, err);

    if (rc == OMNI_STORE_OK) {
        rc = omni_store_case_get(st, case_id, c, err);

        /* another customer's case is none: it is not theirs to know of */
        if (rc == OMNI_STORE_OK && strcmp(c->customer, customer) != 0) {
            rc = OMNI_STORE_NOT_FOUND;
        }

        if (rc == OMNI_STORE_OK) {
            rc = omni_store_case_events(st, case_id, 0, 1, ev,
                                        OMNI_STORE_CASE_EVENTS, &n, err);
        }

        omni_store_read_end(st);
    }

    if (rc == OMNI_STORE_NOT_FOUND) {
        free(c);
        free(ev);
        err[0] = '\0';
        return omni_case_view_error(out, 404, "case_not_found",
                                    "no such case");
    }

    if (rc != OMNI_STORE_OK) {
        free(c);
        free(ev);
        return omni_case_view_error(out, 500, "store_error",
                                    "your case cannot be read now");
    }

    failed = 0;
    one = omni_case_view_case(c);
    omni_case_view_set(one, "events", omni_case_view_events(ev, n), &failed);

    free(c);
    free(ev);

    return omni_case_view_ok(out, "case", one, failed);
}


/* NULL when memory ran out: the caller's set fails then */
static json_t *
omni_case_view_case(const omni_store_case_t *c)
{
    int       failed;
    int64_t   due;
    json_t   *o;

    failed = 0;
    due = (c->first_response_at == 0 && c->first_response_due)
          ? c->first_response_due : c->resolution_due;

    if (c->status >= OMNI_STORE_CASE_RESOLVED) {
        due = 0;
    }

    o = json_object();
    omni_case_view_set(o, "id", json_string(c->id), &failed);
    omni_case_view_set(o, "status",
                       json_string(omni_store_case_status_name(c->status)),
                       &failed);
    omni_case_view_set(o, "category", json_string(c->category), &failed);
    omni_case_view_set(o, "subject", json_string(c->subject), &failed);
    omni_case_view_set(o, "channel", json_string(c->channel), &failed);
    omni_case_view_set(o, "created_at", omni_case_view_time(c->created),
                       &failed);
    omni_case_view_set(o, "updated_at", omni_case_view_time(c->updated),
                       &failed);
    omni_case_view_set(o, "due", due ? omni_case_view_time(due) : json_null(),
                       &failed);
    omni_case_view_set(o, "follow_up_of",
                       c->follow_up_of[0] ? json_string(c->follow_up_of)
                                          : json_null(),
                       &failed);

    if (failed) {
        json_decref(o);
        return NULL;
    }

    return o;
}


/* public events: who wrote them stays inside */
static json_t *
omni_case_view_events(const omni_store_case_event_t *ev, size_t n)
{
    int       failed;
    size_t    i;
    json_t   *arr, *e;

    failed = 0;
    arr = json_array();

    for (i = 0; i < n; i++) {
        e = json_object();
        omni_case_view_set(e, "time", omni_case_view_time(ev[i].time),
                           &failed);
        omni_case_view_set(e, "kind",
                           json_string(omni_store_case_event_name(ev[i].kind)),
                           &failed);

        if (ev[i].kind == OMNI_STORE_CASE_EV_STATUS) {
            omni_case_view_set(e, "status",
                               json_string(omni_store_case_status_name(
                                               ev[i].to)),
                               &failed);
        }

        if ((ev[i].kind == OMNI_STORE_CASE_EV_NOTE
             || ev[i].kind == OMNI_STORE_CASE_EV_REPLY)
            && ev[i].text_len > 0)
        {
            omni_case_view_set(e, "text", json_stringn(ev[i].text,
                                                       ev[i].text_len),
                               &failed);
        }

        if (arr == NULL) {
            json_decref(e);
            failed = 1;

        } else if (json_array_append_new(arr, e) != 0) {
            failed = 1;
        }
    }

    if (failed) {
        json_decref(arr);
        return NULL;
    }

    return arr;
}


static json_t *
omni_case_view_time(int64_t t)
{
    char  buf[OMNI_CASE_VIEW_TIME];

    buf[omni_contract_timestamp(t * 1000, buf)] = '\0';

    return json_string(buf);
}


/* {"ok": true, "data": {key: value}}, value consumed */
static int
omni_case_view_ok(omni_case_view_t *out, const char *key, json_t *value,
    int failed)
{
    json_t  *data, *reply;

    data = json_object();
    omni_case_view_set(data, key, value, &failed);
    reply = json_object();
    omni_case_view_set(reply, "ok", json_true(), &failed);
    omni_case_view_set(reply, "data", data, &failed);

    if (failed) {
        json_decref(reply);
        return -1;
    }

    return omni_case_view_done(out, 200, reply);
}


static int
omni_case_view_error(omni_case_view_t *out, unsigned status,
    const char *code, const char *message)
{
    int      failed;
    json_t  *reply, *error;

    failed = 0;
    error = json_object();
    omni_case_view_set(error, "code", json_string(code), &failed);
    omni_case_view_set(error, "message", json_string(message), &failed);
    reply = json_object();
    omni_case_view_set(reply, "ok", json_false(), &failed);
    omni_case_view_set(reply, "error", error, &failed);

    if (failed) {
        json_decref(reply);
        return -1;
    }

    return omni_case_view_done(out, status, reply);
}


static int
omni_case_view_done(omni_case_view_t *out, unsigned status, json_t *reply)
{
    out->body = json_dumps(reply, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(reply);

    if (out->body == NULL) {
        return -1;
    }

    out->len = strlen(out->body);
    out->status = status;

    return 0;
}


/* json_object_set_new() that notes a NULL value or a failure */
static void
omni_case_view_set(json_t *o, const char *key, json_t *v, int *failed)
{
    if (o == NULL || v == NULL) {
        json_decref(v);
        *failed = 1;
        return;
    }

    if (json_object_set_new(o, key, v) != 0) {
        *failed = 1;
    }
}
