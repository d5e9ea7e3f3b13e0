/*
 * Copyright (C) The omni gateway authors
 */


#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

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
fuzz_store(void)
{
    char                err[OMNI_STORE_ERRLEN];
    omni_store_stats_t  stats;

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
        return fuzz_store_st;
    }

    fuzz_store_st = omni_store_open(fuzz_store_dir, FUZZ_STORE_MAP,
                                    OMNI_STORE_SYNC_NONE, err);
    if (fuzz_store_st == NULL) {
        fuzz_store_fail("the store does not open", err);
    }

    return fuzz_store_st;
}
