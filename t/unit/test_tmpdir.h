/*
 * Copyright (C) The omni gateway authors
 *
 * The store tests' scratch directories, made with mkdtemp() under /tmp
 * (test_tmpdir_make()): removed whole, files and all, by
 * test_tmpdir_remove().
 */

#ifndef TEST_TMPDIR_H_INCLUDED_
#define TEST_TMPDIR_H_INCLUDED_


#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>


static inline int
test_tmpdir_entry(const char *path, const struct stat *sb, int flag,
    struct FTW *ftw)
{
    (void) sb;
    (void) flag;
    (void) ftw;

    return remove(path);
}


static inline int
test_tmpdir_remove(const char *path)
{
    return nftw(path, test_tmpdir_entry, 16, FTW_DEPTH | FTW_PHYS);
}


/* a new directory omni-<name>-XXXXXX under $TMPDIR (or /tmp) in base */
static inline int
test_tmpdir_make(char *base, size_t len, const char *name)
{
    const char  *tmp;

    tmp = getenv("TMPDIR");
    if (tmp == NULL || tmp[0] == '\0') {
        tmp = "/tmp";
    }

    snprintf(base, len, "%s/omni-%s-XXXXXX", tmp, name);

    return mkdtemp(base) == NULL ? -1 : 0;
}


#endif /* TEST_TMPDIR_H_INCLUDED_ */
