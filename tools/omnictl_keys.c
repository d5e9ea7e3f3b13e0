/*
 * Copyright (C) The omni gateway authors
 *
 * The keyring file of omni_store_keyring on the command line: keys init,
 * status and rotate.  No key is ever printed: ids and version numbers
 * only.
 */


#include "omnictl.h"


static json_t *omnictl_keys_versions(const omni_keyring_key_t *keys,
    size_t n);


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


/* the keyring, and with a store whether it fits, without writing to it */

int
omnictl_cmd_keys_status(omnictl_ctx_t *ctx)
{
    int              rc, recorded, fit;
    char             err[OMNI_ERRLEN], id[2 * OMNI_KEYRING_ID_LEN + 1];
    json_t          *json, *store;
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
 * A new version, which nginx uses from its next reload.  Nothing is
 * sealed yet (issue 13), so there are no data keys to re-wrap and no
 * indexes to rebuild; the note says so.
 */

int
omnictl_cmd_keys_rotate(omnictl_ctx_t *ctx)
{
    int              rc, kek;
    char             err[OMNI_ERRLEN], id[2 * OMNI_KEYRING_ID_LEN + 1];
    char             change[256];
    uint32_t         version;
    struct stat      sb, now;
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

    /* loaded: a regular file, not a link */
    if (stat(ctx->keyring_file, &sb) != 0) {
        fprintf(stderr, "omnictl: \"%s\": %s\n", ctx->keyring_file,
                strerror(errno));
        return OMNICTL_EXIT_FAIL;
    }

    kr = ctx->keyring;
    kek = (ctx->kek != NULL);

    rc = kek ? omni_keyring_add_kek(kr, err) : omni_keyring_add_index(kr, err);

    if (rc != 0
        || omni_keyring_save(kr, ctx->keyring_file, (sb.st_mode & S_IRGRP) != 0,
                             err)
           != 0)
    {
        fprintf(stderr, "omnictl: %s\n", err);
        return OMNICTL_EXIT_FAIL;
    }

    /* the new file is the writer's: give it back its owner and group */
    if (stat(ctx->keyring_file, &now) == 0
        && (now.st_uid != sb.st_uid || now.st_gid != sb.st_gid)
        && chown(ctx->keyring_file, sb.st_uid, sb.st_gid) != 0)
    {
        fprintf(stderr, "omnictl: warning: \"%s\" now belongs to uid %lu "
                "gid %lu, not %lu %lu as before: %s\n", ctx->keyring_file,
                (unsigned long) now.st_uid, (unsigned long) now.st_gid,
                (unsigned long) sb.st_uid, (unsigned long) sb.st_gid,
                strerror(errno));
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
               ? "new data keys will be wrapped with this version once "
                 "nginx reloads; re-wrapping the existing ones comes with "
                 "sealing (not yet: nothing is sealed)"
               : "new blind indexes will use this version once nginx "
                 "reloads; rebuilding the existing ones comes with sealing "
                 "(not yet: nothing is indexed)"));
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
