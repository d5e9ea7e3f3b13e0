/*
 * Copyright (C) The omni gateway authors
 */


#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "fuzz_store.h"


#define FUZZ_STORE_MAP     (64 * 1024 * 1024)
#define FUZZ_STORE_GROWN   (16 * 1024 * 1024)


static char           fuzz_store_dir[] = "/tmp/omni-fuzz-XXXXXX";
static omni_store_t  *fuzz_store_st;


void
fuzz_store_fail(const char *what, const char *detail)
{
    fprintf(stderr, "fuzz: %s%s%s\n", what, detail ? ": " : "",
            detail ? detail : "");
    abort();
}


static void
fuzz_store_remove(void)
{
    char  path[sizeof(fuzz_store_dir) + 16];

    if (fuzz_store_st != NULL) {
        omni_store_close(fuzz_store_st);
        fuzz_store_st = NULL;
    }

    snprintf(path, sizeof(path), "%s/data.mdb", fuzz_store_dir);
    (void) unlink(path);
    snprintf(path, sizeof(path), "%s/lock.mdb", fuzz_store_dir);
    (void) unlink(path);
}


static void
fuzz_store_exit(void)
{
    fuzz_store_remove();
    (void) rmdir(fuzz_store_dir);
}


omni_store_t *
fuzz_store(int *fresh)
{
    char                err[OMNI_ERRLEN];
    omni_store_stats_t  stats;

    *fresh = 1;

    if (fuzz_store_st == NULL) {
        if (mkdtemp(fuzz_store_dir) == NULL) {
            fuzz_store_fail("mkdtemp", fuzz_store_dir);
        }

        atexit(fuzz_store_exit);

    } else if (omni_store_stats(fuzz_store_st, &stats, err) != OMNI_STORE_OK
               || stats.map_used > FUZZ_STORE_GROWN)
    {
        fuzz_store_remove();

    } else {
        *fresh = 0;
        return fuzz_store_st;
    }

    fuzz_store_st = omni_store_open(fuzz_store_dir, FUZZ_STORE_MAP,
                                    OMNI_STORE_SYNC_NONE, err);
    if (fuzz_store_st == NULL) {
        fuzz_store_fail("the store does not open", err);
    }

    return fuzz_store_st;
}


void
fuzz_store_request(omni_store_t *st, const char *method, const char *path,
    size_t len, const char *body, size_t body_len, omni_admin_result_t *res)
{
    const char            *q;
    omni_admin_request_t   req;

    memset(&req, 0, sizeof(omni_admin_request_t));
    memset(res, 0, sizeof(omni_admin_result_t));

    q = memchr(path, '?', len);

    req.method = method;
    req.path = path;
    req.path_len = q ? (size_t) (q - path) : len;
    req.query = q ? q + 1 : NULL;
    req.query_len = q ? len - req.path_len - 1 : 0;
    req.body = body;
    req.body_len = body_len;
    req.now = FUZZ_STORE_NOW;
    req.actor = "fuzz";

    if (omni_admin_handle(st, &req, res) != 0) {
        fuzz_store_fail("out of memory", NULL);
    }
}


void
fuzz_store_check(const omni_admin_result_t *res)
{
    json_t  *json;

    if (res->body == NULL || strlen(res->body) != res->body_len) {
        fuzz_store_fail("an answer without its body or of another length",
                        res->body);
    }

    json = json_loadb(res->body, res->body_len, JSON_REJECT_DUPLICATES,
                      NULL);

    if (!json_is_object(json)) {
        fuzz_store_fail("an answer that is not a JSON object", res->body);
    }

    if (res->status < 200 || res->status > 599) {
        fuzz_store_fail("an answer without a status", res->body);
    }

    if (res->status >= 400
        && (!json_is_string(json_object_get(json, "error"))
            || !json_is_string(json_object_get(json, "message"))))
    {
        fuzz_store_fail("an error without its code or message", res->body);
    }

    if (res->status == 405 && res->allow == NULL) {
        fuzz_store_fail("a 405 without Allow", res->body);
    }

    if (res->audit != NULL && res->status >= 300) {
        fuzz_store_fail("a refusal audited as a change", res->audit);
    }

    json_decref(json);
}
