/*
 * Copyright (C) The omni gateway authors
 *
 * The store of the store fuzz targets: one LMDB store per process in a
 * temporary directory under /tmp, removed at exit, and made anew when it
 * has grown past a few megabytes (the inputs only add to it), so that
 * writes keep succeeding rather than all ending in OMNI_STORE_FULL.
 */

#ifndef FUZZ_STORE_H_INCLUDED_
#define FUZZ_STORE_H_INCLUDED_


#include "omni_admin.h"
#include "omni_store.h"


#define FUZZ_STORE_NOW  1800000000


/*
 * The store, opened on the first call, made anew when it grew too big;
 * *fresh says whether it was just made.
 */
omni_store_t *fuzz_store(int *fresh);

void fuzz_store_fail(const char *what, const char *detail);

/* an admin request at FUZZ_STORE_NOW; path (len bytes) may hold "?query" */
void fuzz_store_request(omni_store_t *st, const char *method,
    const char *path, size_t len, const char *body, size_t body_len,
    omni_admin_result_t *res);

/*
 * Aborts unless the answer is a JSON object of the length said, with a
 * status, an error with its code and message, a 405 with its Allow, and
 * no audit line for a refusal.
 */
void fuzz_store_check(const omni_admin_result_t *res);


#endif /* FUZZ_STORE_H_INCLUDED_ */
