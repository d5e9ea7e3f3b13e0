/*
 * Copyright (C) The omni gateway authors
 *
 * The keyring file of omni_store_keyring on the command line: keys init,
 * status, rotate, and rewrap, which re-wraps a store's data keys after a
 * rotation.  No key is ever printed: ids and version numbers only.
 */


#include "omnictl.h"


static json_t *omnictl_keys_versions(const omni_keyring_key_t *keys,
    size_t n);
static json_t *omnictl_keys_usage(omnictl_ctx_t *ctx);
static int omnictl_keys_store(omnictl_ctx_t *ctx, const char *command);
static int omnictl_keys_index(omnictl_ctx_t *ctx, json_t *store);
static int omnictl_keys_write(omnictl_ctx_t *ctx);
static int omnictl_keys_in_use(omnictl_ctx_t *ctx, int kek,
    uint32_t version);


int
omnictl_cmd_keys_init(omnictl_ctx_t *ctx)
{
    int              fd;
    char             err[OMNI_ERRLEN], id[2 * OMNI_KEYRING_ID_LEN + 1];
    char             change[256];
    const char      *file;
    omni_keyring_t  *kr;

    file = ctx->argv[0];

    /* the name taken first: two inits racing cannot both win */
    fd = open(file, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
              0600);
    if (fd == -1) {
        fprintf(stderr, "omnictl: \"%s\": %s%s\n", file, strerror(errno),
                errno == EEXIST ? "; keys init never replaces a keyring"
                                : "");
        return OMNICTL_EXIT_FAIL;
    }

    close(fd);

    if (omni_keyring_generate(&kr, err) != 0
        || omni_keyring_save(kr, file, 0, err) != 0)
    {
        fprintf(stderr, "omnictl: %s\n", err);
        omni_keyring_free(kr);
        (void) unlink(file);
        return OMNICTL_EXIT_FAIL;
    }

    omni_keyring_id_hex(kr, id);
    omni_keyring_free(kr);

    snprintf(change, sizeof(change), "keyring %s created", id);
    omnictl_audit(ctx, change);

    return omnictl_answer(json_pack("{s:s, s:s, s:i, s:i}", "keyring", file,
                                    "id", id, "kek", 1, "index", 1));
}


/*
 * The keyring, and with a store whether it fits, without writing to it
 * unless it records the keyring: then it is opened (as every open with
 * its keyring does, that converts a store not sealed yet) to count the
 * data keys each KEK version wraps, which says which may be retired.
 */

int
omnictl_cmd_keys_status(omnictl_ctx_t *ctx)
{
    int              rc, recorded, fit;
    char             err[OMNI_ERRLEN], id[2 * OMNI_KEYRING_ID_LEN + 1];
    json_t          *json, *store, *usage;
    omni_keyring_t  *kr;

    if (ctx->keyring_file == NULL) {
        return omnictl_usage_error("keys status needs a keyring: give "
                                   "--keyring FILE or set OMNI_KEYRING");
    }

    rc = omnictl_keyring(ctx);
    if (rc != OMNICTL_EXIT_OK) {
        return rc;
    }

    kr = ctx->keyring;
    omni_keyring_id_hex(kr, id);

    store = NULL;
    fit = OMNI_STORE_OK;

    if (ctx->dir != NULL) {
        fit = omni_store_keyring_probe(ctx->dir, kr->id, &recorded, err);

        store = (fit == OMNI_STORE_OK)
                ? json_pack("{s:s, s:b, s:b}", "dir", ctx->dir, "fits", 1,
                            "recorded", recorded)
                : json_pack("{s:s, s:b, s:s}", "dir", ctx->dir, "fits", 0,
                            "problem", err);

        /* takes the list, or frees it when store is NULL */
        if (fit == OMNI_STORE_OK && recorded) {
            usage = omnictl_keys_usage(ctx);

            if (usage == NULL) {
                fit = OMNI_STORE_ERROR;
                snprintf(err, sizeof(err), "cannot count the data keys of "
                         "the store at %s", ctx->dir);

            } else if (json_object_set_new(store, "kek_in_use", usage) != 0
                       || omnictl_keys_index(ctx, store) != 0)
            {
                json_decref(store);
                store = NULL;
            }
        }
    }

    json = json_pack("{s:s, s:s, s:{s:o, s:I}, s:{s:o, s:I}}",
                     "keyring", ctx->keyring_file, "id", id,
                     "kek", "versions",
                     omnictl_keys_versions(kr->kek, kr->nkek),
                     "newest", (json_int_t) omni_keyring_kek(kr)->version,
                     "index", "versions",
                     omnictl_keys_versions(kr->index, kr->nindex),
                     "newest", (json_int_t) omni_keyring_index(kr)->version);

    /* takes store, or frees it when json or store is NULL */
    if (ctx->dir != NULL && json_object_set_new(json, "store", store) != 0) {
        json_decref(json);
        json = NULL;
    }

    rc = omnictl_answer(json);

    if (rc == OMNICTL_EXIT_OK && fit != OMNI_STORE_OK) {
        fprintf(stderr, "omnictl: %s\n", err);
        return OMNICTL_EXIT_FAIL;
    }

    return rc;
}


/*
 * A new version, which nginx knows from its next reload.  The data keys
 * wrapped by older KEKs are re-wrapped by keys rewrap, the identity map
 * is rebuilt under a new index key by keys reindex.  The note says so.
 */

int
omnictl_cmd_keys_rotate(omnictl_ctx_t *ctx)
{
    int              rc, kek;
    char             err[OMNI_ERRLEN], id[2 * OMNI_KEYRING_ID_LEN + 1];
    char             change[256];
    uint32_t         version;
    omni_keyring_t  *kr;

    if ((ctx->kek == NULL) == (ctx->index == NULL)) {
        return omnictl_usage_error("keys rotate needs --kek or --index");
    }

    if (ctx->keyring_file == NULL) {
        return omnictl_usage_error("keys rotate needs a keyring: give "
                                   "--keyring FILE or set OMNI_KEYRING");
    }

    rc = omnictl_keyring(ctx);
    if (rc != OMNICTL_EXIT_OK) {
        return rc;
    }

    kr = ctx->keyring;
    kek = (ctx->kek != NULL);

    rc = kek ? omni_keyring_add_kek(kr, err) : omni_keyring_add_index(kr, err);

    if (rc != 0) {
        fprintf(stderr, "omnictl: %s\n", err);
        return OMNICTL_EXIT_FAIL;
    }

    rc = omnictl_keys_write(ctx);
    if (rc != OMNICTL_EXIT_OK) {
        return rc;
    }

    omni_keyring_id_hex(kr, id);
    version = kek ? omni_keyring_kek(kr)->version
                  : omni_keyring_index(kr)->version;

    snprintf(change, sizeof(change), "keyring %s: %s version %lu added", id,
             kek ? "kek" : "index", (unsigned long) version);
    omnictl_audit(ctx, change);

    return omnictl_answer(json_pack(
               "{s:s, s:s, s:s, s:I, s:s}", "keyring", ctx->keyring_file,
               "id", id, "rotated", kek ? "kek" : "index",
               "version", (json_int_t) version, "note", kek
               ? "new data keys are wrapped with this version once nginx "
                 "reloads; then run omnictl keys rewrap to re-wrap the "
                 "existing ones, and keys status to see which versions are "
                 "still in use"
               : "a store keeps its identity map under the index key it "
                 "is keyed by until it is rebuilt: reload nginx, then run "
                 "omnictl keys reindex"));
}


/*
 * An old version out of the keyring file, once the store in -d no longer
 * uses it: a KEK that wraps no data key, an index key the identity map
 * is not keyed by (nor being rebuilt under).  Never the newest.  nginx
 * drops it at its next reload.
 */

int
omnictl_cmd_keys_retire(omnictl_ctx_t *ctx)
{
    int            rc, kek;
    char          *end, id[2 * OMNI_KEYRING_ID_LEN + 1], change[256];
    uint32_t       version;
    unsigned long  v;

    kek = (strcmp(ctx->argv[0], "kek") == 0);

    if (!kek && strcmp(ctx->argv[0], "index") != 0) {
        return omnictl_usage_error("keys retire takes kek or index, not "
                                   "\"%s\"", ctx->argv[0]);
    }

    errno = 0;
    v = strtoul(ctx->argv[1], &end, 10);

    if (errno != 0 || end == ctx->argv[1] || *end != '\0'
        || ctx->argv[1][0] == '-' || v == 0 || v > UINT32_MAX)
    {
        return omnictl_usage_error("\"%s\" is not a key version",
                                   ctx->argv[1]);
    }

    version = (uint32_t) v;

    rc = omnictl_keys_store(ctx, "retire");
    if (rc != OMNICTL_EXIT_OK) {
        return rc;
    }

    rc = omnictl_keys_in_use(ctx, kek, version);
    if (rc != OMNICTL_EXIT_OK) {
        return rc;
    }

    rc = kek ? omni_keyring_drop_kek(ctx->keyring, version)
             : omni_keyring_drop_index(ctx->keyring, version);

    if (rc != 0) {
        fprintf(stderr, "omnictl: the keyring has no %s version %lu but "
                "the newest\n", kek ? "KEK" : "index key", v);
        return OMNICTL_EXIT_FAIL;
    }

    rc = omnictl_keys_write(ctx);
    if (rc != OMNICTL_EXIT_OK) {
        return rc;
    }

    omni_keyring_id_hex(ctx->keyring, id);

    snprintf(change, sizeof(change), "keyring %s: %s version %lu retired", id,
             kek ? "kek" : "index", v);
    omnictl_audit(ctx, change);

    return omnictl_answer(json_pack("{s:s, s:s, s:s, s:I}",
                                    "keyring", ctx->keyring_file, "id", id,
                                    "retired", kek ? "kek" : "index",
                                    "version", (json_int_t) version));
}


/* refuses a version the store still uses */

static int
omnictl_keys_in_use(omnictl_ctx_t *ctx, int kek, uint32_t version)
{
    char                   err[OMNI_ERRLEN];
    size_t                 i, n;
    uint32_t               current, next;
    omni_store_kek_use_t   use[OMNI_KEYRING_VERSIONS];

    if (!kek) {
        if (omni_store_index_versions(ctx->st, &current, &next, err)
            != OMNI_STORE_OK)
        {
            fprintf(stderr, "omnictl: %s\n", err);
            return OMNICTL_EXIT_FAIL;
        }

        if (version == current || version == next) {
            fprintf(stderr, "omnictl: the identity map of the store at %s "
                    "is %s index version %lu: run keys reindex first\n",
                    ctx->dir, version == current ? "keyed by"
                                                 : "being rebuilt under",
                    (unsigned long) version);
            return OMNICTL_EXIT_FAIL;
        }

        return OMNICTL_EXIT_OK;
    }

    if (omni_store_kek_usage(ctx->st, use, OMNI_KEYRING_VERSIONS, &n, err)
        != OMNI_STORE_OK)
    {
        fprintf(stderr, "omnictl: %s\n", err);
        return OMNICTL_EXIT_FAIL;
    }

    for (i = 0; i < n; i++) {
        if (use[i].version == version) {
            fprintf(stderr, "omnictl: KEK version %lu still wraps %zu data "
                    "keys of the store at %s: run keys rewrap first\n",
                    (unsigned long) version, use[i].keys, ctx->dir);
            return OMNICTL_EXIT_FAIL;
        }
    }

    return OMNICTL_EXIT_OK;
}


/* the keyring saved over its file, keeping the file's mode and owner */

static int
omnictl_keys_write(omnictl_ctx_t *ctx)
{
    char         err[OMNI_ERRLEN];
    struct stat  was, now;

    /* loaded from it: a regular file, not a link */
    if (stat(ctx->keyring_file, &was) != 0) {
        fprintf(stderr, "omnictl: \"%s\": %s\n", ctx->keyring_file,
                strerror(errno));
        return OMNICTL_EXIT_FAIL;
    }

    if (omni_keyring_save(ctx->keyring, ctx->keyring_file,
                          (was.st_mode & S_IRGRP) != 0, err)
        != 0)
    {
        fprintf(stderr, "omnictl: %s\n", err);
        return OMNICTL_EXIT_FAIL;
    }

    /* the new file is the writer's: give it back its owner and group */
    if (stat(ctx->keyring_file, &now) == 0
        && (now.st_uid != was.st_uid || now.st_gid != was.st_gid)
        && chown(ctx->keyring_file, was.st_uid, was.st_gid) != 0)
    {
        fprintf(stderr, "omnictl: warning: \"%s\" now belongs to uid %lu "
                "gid %lu, not %lu %lu as before: %s\n", ctx->keyring_file,
                (unsigned long) now.st_uid, (unsigned long) now.st_gid,
                (unsigned long) was.st_uid, (unsigned long) was.st_gid,
                strerror(errno));
    }

    return OMNICTL_EXIT_OK;
}


/*
 * Every data key of the store wrapped by the newest KEK, a batch per
 * commit; a stop resumes where it was (the store keeps a cursor).  Every
 * process that opens the store must know the newest KEK first: nginx
 * after a reload.
 */

int
omnictl_cmd_keys_rewrap(omnictl_ctx_t *ctx)
{
    int              rc, finished;
    char             err[OMNI_ERRLEN], id[2 * OMNI_KEYRING_ID_LEN + 1];
    char             change[256];
    size_t           done, total;
    json_t          *json;

    rc = omnictl_keys_store(ctx, "rewrap");
    if (rc != OMNICTL_EXIT_OK) {
        return rc;
    }

    total = 0;

    do {
        rc = omni_store_rewrap(ctx->st, OMNICTL_REWRAP_BATCH, &done,
                               &finished, err);
        if (rc != OMNI_STORE_OK) {
            fprintf(stderr, "omnictl: %s (%zu data keys re-wrapped before; "
                    "run it again to go on)\n", err, total);
            return OMNICTL_EXIT_FAIL;
        }

        total += done;

        if (done > 0 && !finished) {
            fprintf(stderr, "omnictl: %zu data keys re-wrapped\n", total);
        }

    } while (!finished);

    omni_keyring_id_hex(ctx->keyring, id);

    snprintf(change, sizeof(change), "keyring %s: %zu data keys re-wrapped "
             "with kek version %lu", id, total,
             (unsigned long) omni_keyring_kek(ctx->keyring)->version);
    omnictl_audit(ctx, change);

    json = json_pack("{s:s, s:I, s:I, s:o}", "id", id,
                     "rewrapped", (json_int_t) total,
                     "kek", (json_int_t) omni_keyring_kek(ctx->keyring)->version,
                     "kek_in_use", omnictl_keys_usage(ctx));

    return omnictl_answer(json);
}


/*
 * The identity map rebuilt under the newest index key, a batch per
 * commit, every identity found all along (under the new key or the old
 * one); a stop resumes where it was.  As for rewrap, nginx must have the
 * new index key first.
 */

int
omnictl_cmd_keys_reindex(omnictl_ctx_t *ctx)
{
    int              rc, finished;
    char             err[OMNI_ERRLEN], id[2 * OMNI_KEYRING_ID_LEN + 1];
    char             change[256];
    size_t           done, total;
    uint32_t         from, to;

    rc = omnictl_keys_store(ctx, "reindex");
    if (rc != OMNICTL_EXIT_OK) {
        return rc;
    }

    total = 0;

    do {
        rc = omni_store_reindex(ctx->st, OMNICTL_REWRAP_BATCH, &done,
                                &finished, &from, &to, err);
        if (rc != OMNI_STORE_OK) {
            fprintf(stderr, "omnictl: %s (%zu identities re-indexed before; "
                    "run it again to go on)\n", err, total);
            return OMNICTL_EXIT_FAIL;
        }

        total += done;

        if (done > 0 && !finished) {
            fprintf(stderr, "omnictl: %zu identities re-indexed\n", total);
        }

    } while (!finished);

    omni_keyring_id_hex(ctx->keyring, id);

    snprintf(change, sizeof(change), "keyring %s: %zu identities re-indexed "
             "from index version %lu to %lu", id, total, (unsigned long) from,
             (unsigned long) to);
    omnictl_audit(ctx, change);

    return omnictl_answer(json_pack("{s:s, s:I, s:I, s:I}", "id", id,
                                    "reindexed", (json_int_t) total,
                                    "from", (json_int_t) from,
                                    "index", (json_int_t) to));
}


/* the store of -d, opened with the keyring a keys command needs */

static int
omnictl_keys_store(omnictl_ctx_t *ctx, const char *command)
{
    if (ctx->keyring_file == NULL) {
        return omnictl_usage_error("keys %s needs a keyring: give --keyring "
                                   "FILE or set OMNI_KEYRING", command);
    }

    return omnictl_open(ctx);
}


/*
 * [{"version", "keys"}]: the data keys each KEK version wraps; NULL when
 * the store cannot say (the message is on stderr)
 */

static json_t *
omnictl_keys_usage(omnictl_ctx_t *ctx)
{
    char                   err[OMNI_ERRLEN];
    size_t                 i, n;
    json_t                *list;
    omni_store_kek_use_t   use[OMNI_KEYRING_VERSIONS];

    if (omnictl_open(ctx) != OMNICTL_EXIT_OK) {
        return NULL;
    }

    if (omni_store_kek_usage(ctx->st, use, OMNI_KEYRING_VERSIONS, &n, err)
        != OMNI_STORE_OK)
    {
        fprintf(stderr, "omnictl: %s\n", err);
        return NULL;
    }

    list = json_array();

    for (i = 0; list != NULL && i < n; i++) {
        if (json_array_append_new(list, json_pack("{s:I, s:I}",
                                  "version", (json_int_t) use[i].version,
                                  "keys", (json_int_t) use[i].keys))
            != 0)
        {
            json_decref(list);
            list = NULL;
        }
    }

    return list;
}


static json_t *
omnictl_keys_versions(const omni_keyring_key_t *keys, size_t n)
{
    size_t   i;
    json_t  *list;

    list = json_array();

    for (i = 0; list != NULL && i < n; i++) {
        if (json_array_append_new(list, json_integer(keys[i].version)) != 0) {
            json_decref(list);
            list = NULL;
        }
    }

    return list;
}


/* "index": the version the map is keyed by, "reindexing_to" in a rebuild */

static int
omnictl_keys_index(omnictl_ctx_t *ctx, json_t *store)
{
    char      err[OMNI_ERRLEN];
    uint32_t  current, next;

    if (omni_store_index_versions(ctx->st, &current, &next, err)
        != OMNI_STORE_OK)
    {
        fprintf(stderr, "omnictl: %s\n", err);
        return -1;
    }

    if (json_object_set_new(store, "index", json_integer(current)) != 0) {
        return -1;
    }

    return next ? json_object_set_new(store, "reindexing_to",
                                      json_integer(next))
                : 0;
}
