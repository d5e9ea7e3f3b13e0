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


#include "omni_store.h"


/* the store, opened on the first call, made anew when it grew too big */
omni_store_t *fuzz_store(void);

void fuzz_store_fail(const char *what, const char *detail);


#endif /* FUZZ_STORE_H_INCLUDED_ */
