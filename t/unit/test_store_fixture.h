/*
 * Copyright (C) The omni gateway authors
 *
 * The store tests' per-test fixture: a fresh directory under the group's
 * (test_tmpdir_make()) with a store in it that syncs nothing, as cmocka
 * setup and teardown work.
 */

#ifndef TEST_STORE_FIXTURE_H_INCLUDED_
#define TEST_STORE_FIXTURE_H_INCLUDED_


#include <stdio.h>
#include <stdlib.h>

#include "test_tmpdir.h"

#include "omni_store.h"


#define TEST_STORE_DIR_LEN  256


typedef struct {
    char           dir[TEST_STORE_DIR_LEN];
    omni_store_t  *st;
} test_store_ctx_t;


static inline int
test_store_ctx_open(void **state, const char *base, size_t map_max)
{
    char               err[OMNI_ERRLEN];
    test_store_ctx_t  *ctx;

    ctx = calloc(1, sizeof(test_store_ctx_t));
    if (ctx == NULL) {
        return -1;
    }

    snprintf(ctx->dir, sizeof(ctx->dir), "%s/t-XXXXXX", base);

    if (mkdtemp(ctx->dir) == NULL) {
        free(ctx);
        return -1;
    }

    ctx->st = omni_store_open(ctx->dir, map_max, OMNI_STORE_SYNC_NONE, err);
    if (ctx->st == NULL) {
        fprintf(stderr, "%s\n", err);
        free(ctx);
        return -1;
    }

    *state = ctx;

    return 0;
}


static inline int
test_store_ctx_close(void **state)
{
    test_store_ctx_t  *ctx;

    ctx = *state;

    omni_store_close(ctx->st);
    (void) test_tmpdir_remove(ctx->dir);
    free(ctx);

    return 0;
}


#endif /* TEST_STORE_FIXTURE_H_INCLUDED_ */
