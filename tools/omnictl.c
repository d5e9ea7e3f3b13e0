/*
 * Copyright (C) The omni gateway authors
 *
 * omnictl: works on the gateway's LMDB store directly, safely while nginx
 * runs (LMDB serialises writers across processes).  This first version
 * manages revocations and prints the store's statistics.
 */


#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "omni_store.h"


#define OMNICTL_EXIT_OK     0
#define OMNICTL_EXIT_FAIL   1
#define OMNICTL_EXIT_USAGE  2
#define OMNICTL_MAP_MAX     (1024UL * 1024 * 1024)
#define OMNICTL_PAGE        256


static const char  *omnictl_kinds[] = { NULL, "jti", "session", "subject" };


static int omnictl_usage(FILE *out);
static int omnictl_kind(const char *name);
static int omnictl_time(const char *s, int64_t *t);
static int omnictl_revoke(omni_store_t *st, int argc, char **argv);
static int omnictl_unrevoke(omni_store_t *st, int argc, char **argv);
static int omnictl_list(omni_store_t *st);
static int omnictl_stat(omni_store_t *st);


int
main(int argc, char **argv)
{
    int            rc;
    char           err[OMNI_STORE_ERRLEN];
    const char    *dir;
    omni_store_t  *st;

    if (argc < 2 || strcmp(argv[1], "--help") == 0
        || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "help") == 0)
    {
        return omnictl_usage(argc < 2 ? stderr : stdout);
    }

    if (strcmp(argv[1], "-d") != 0 || argc < 4) {
        return omnictl_usage(stderr);
    }

    dir = argv[2];

    st = omni_store_open(dir, OMNICTL_MAP_MAX, 0, err);
    if (st == NULL) {
        fprintf(stderr, "omnictl: %s\n", err);
        return OMNICTL_EXIT_FAIL;
    }

    if (strcmp(argv[3], "revoke") == 0) {
        rc = omnictl_revoke(st, argc - 4, argv + 4);

    } else if (strcmp(argv[3], "unrevoke") == 0) {
        rc = omnictl_unrevoke(st, argc - 4, argv + 4);

    } else if (strcmp(argv[3], "revocations") == 0 && argc == 4) {
        rc = omnictl_list(st);

    } else if (strcmp(argv[3], "stat") == 0 && argc == 4) {
        rc = omnictl_stat(st);

    } else {
        rc = omnictl_usage(stderr);
    }

    omni_store_close(st);

    return rc;
}


static int
omnictl_usage(FILE *out)
{
    fprintf(out,
        "Usage: omnictl -d DIR COMMAND\n"
        "\n"
        "  revoke jti JTI [EXPIRES]        refuse the token with this jti\n"
        "                                  (until EXPIRES, epoch seconds;\n"
        "                                  default: until unrevoked)\n"
        "  revoke subject SUB [BEFORE]     refuse SUB's tokens issued before\n"
        "                                  BEFORE (epoch seconds, default now)\n"
        "  revoke session ID               refuse the session\n"
        "  unrevoke jti|subject|session V  drop a revocation\n"
        "  revocations                     list revocations: kind value time\n"
        "  stat                            entries per sub-database, map use\n"
        "\n"
        "DIR is the directory of the omni_store directive.  Safe while\n"
        "nginx runs.  Exit status: 0 done, 1 failed, 2 usage error.\n");

    return out == stdout ? OMNICTL_EXIT_OK : OMNICTL_EXIT_USAGE;
}


static int
omnictl_kind(const char *name)
{
    int  kind;

    for (kind = OMNI_STORE_REVOKED_JTI; kind <= OMNI_STORE_REVOKED_SUBJECT;
         kind++)
    {
        if (strcmp(name, omnictl_kinds[kind]) == 0) {
            return kind;
        }
    }

    return -1;
}


static int
omnictl_time(const char *s, int64_t *t)
{
    char       *end;
    long long   v;

    errno = 0;
    v = strtoll(s, &end, 10);

    if (errno != 0 || end == s || *end != '\0' || v < 0) {
        fprintf(stderr, "omnictl: \"%s\" is not a time in epoch seconds\n",
                s);
        return -1;
    }

    *t = (int64_t) v;

    return 0;
}


static int
omnictl_revoke(omni_store_t *st, int argc, char **argv)
{
    int      rc, kind;
    char     err[OMNI_STORE_ERRLEN];
    int64_t  t;

    if (argc < 2 || argc > 3 || (kind = omnictl_kind(argv[0])) < 0
        || (kind == OMNI_STORE_REVOKED_SESSION && argc == 3))
    {
        return omnictl_usage(stderr);
    }

    t = (kind == OMNI_STORE_REVOKED_JTI) ? 0 : (int64_t) time(NULL);

    if (argc == 3 && omnictl_time(argv[2], &t) != 0) {
        return OMNICTL_EXIT_USAGE;
    }

    switch (kind) {
    case OMNI_STORE_REVOKED_JTI:
        rc = omni_store_revoke_jti(st, argv[1], t, err);
        break;
    case OMNI_STORE_REVOKED_SESSION:
        rc = omni_store_revoke_session(st, argv[1], t, err);
        break;
    default:
        rc = omni_store_revoke_subject_before(st, argv[1], t, err);
        break;
    }

    if (rc != OMNI_STORE_OK) {
        fprintf(stderr, "omnictl: %s\n", err);
        return OMNICTL_EXIT_FAIL;
    }

    return OMNICTL_EXIT_OK;
}


static int
omnictl_unrevoke(omni_store_t *st, int argc, char **argv)
{
    int   rc, kind;
    char  err[OMNI_STORE_ERRLEN];

    if (argc != 2 || (kind = omnictl_kind(argv[0])) < 0) {
        return omnictl_usage(stderr);
    }

    rc = omni_store_revocation_remove(st, kind, argv[1], err);

    if (rc != OMNI_STORE_OK) {
        fprintf(stderr, "omnictl: %s\n", err);
        return OMNICTL_EXIT_FAIL;
    }

    return OMNICTL_EXIT_OK;
}


static int
omnictl_list(omni_store_t *st)
{
    int                       kind, rc;
    char                      err[OMNI_STORE_ERRLEN];
    size_t                    i, n;
    const char               *after;
    omni_store_revocation_t  *page;

    page = calloc(OMNICTL_PAGE, sizeof(omni_store_revocation_t));
    if (page == NULL) {
        fprintf(stderr, "omnictl: out of memory\n");
        return OMNICTL_EXIT_FAIL;
    }

    for (kind = OMNI_STORE_REVOKED_JTI; kind <= OMNI_STORE_REVOKED_SUBJECT;
         kind++)
    {
        after = NULL;

        do {
            rc = omni_store_revocations_list(st, kind, after, page,
                                             OMNICTL_PAGE, &n, err);
            if (rc != OMNI_STORE_OK) {
                fprintf(stderr, "omnictl: %s\n", err);
                free(page);
                return OMNICTL_EXIT_FAIL;
            }

            for (i = 0; i < n; i++) {
                printf("%s %s %lld\n", omnictl_kinds[kind], page[i].value,
                       (long long) page[i].time);
            }

            /* the next page starts after the last value printed */
            after = n ? page[n - 1].value : NULL;

        } while (n == OMNICTL_PAGE);
    }

    free(page);

    return OMNICTL_EXIT_OK;
}


static int
omnictl_stat(omni_store_t *st)
{
    int                 db;
    char                err[OMNI_STORE_ERRLEN];
    omni_store_stats_t  stats;

    if (omni_store_stats(st, &stats, err) != OMNI_STORE_OK) {
        fprintf(stderr, "omnictl: %s\n", err);
        return OMNICTL_EXIT_FAIL;
    }

    for (db = 0; db < OMNI_STORE_DB_COUNT; db++) {
        printf("%-12s %zu\n", omni_store_db_name(db), stats.entries[db]);
    }

    printf("map_used     %zu\nmap_size     %zu\nmap_max      %zu\n",
           stats.map_used, stats.map_size, stats.map_max);

    return OMNICTL_EXIT_OK;
}
