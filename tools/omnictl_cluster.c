/*
 * Copyright (C) The omni gateway authors
 *
 * omnictl cluster status: the node's change log and cursors and the
 * stream its applied cursor counts in, read from the store, and the state the node's omni-sync writes every second to
 * <store>/omni-sync.status (engine reachable, messages pending), read
 * as untrusted JSON (docs/cluster.md); a full resync this node wants,
 * from the store (a restart of the sync keeps it).
 */


#include <sys/stat.h>
#include <time.h>

#include "omnictl.h"


#define OMNICTL_SYNC_STATUS      "/omni-sync.status"
#define OMNICTL_SYNC_STATUS_MAX  4096
#define OMNICTL_SYNC_STALE       5        /* seconds: the sync is gone */


static json_t *omnictl_cluster_sync(const char *dir, int *alive);
static json_t *omnictl_cluster_stream(omni_store_t *st, int *failed);


int
omnictl_cmd_cluster_status(omnictl_ctx_t *ctx)
{
    int                          rc, alive, failed;
    char                         err[OMNI_ERRLEN];
    json_t                      *out, *sync, *stream;
    omni_store_changes_state_t   s;

    rc = omnictl_open(ctx);
    if (rc != OMNICTL_EXIT_OK) {
        return rc;
    }

    if (omni_store_changes_state(ctx->st, &s, err) != OMNI_STORE_OK) {
        fprintf(stderr, "omnictl: %s\n", err);
        return OMNICTL_EXIT_FAIL;
    }

    failed = 0;
    stream = omnictl_cluster_stream(ctx->st, &failed);
    if (failed) {
        return OMNICTL_EXIT_FAIL;
    }

    sync = omnictl_cluster_sync(ctx->dir, &alive);

    out = json_object();
    failed = (out == NULL);

    if (!failed) {
        failed = json_object_set_new(out, "node", s.node[0]
                                     ? json_string(s.node) : json_null())
                 || json_object_set_new(out, "last_change",
                                        json_integer((json_int_t) s.last))
                 || json_object_set_new(out, "oldest_kept",
                                        json_integer((json_int_t) s.first))
                 || json_object_set_new(out, "published",
                                        json_integer((json_int_t)
                                                     s.published))
                 || json_object_set_new(out, "lag_local",
                                        json_integer((json_int_t)
                                                     (s.last - s.published)))
                 || json_object_set_new(out, "applied",
                                        json_integer((json_int_t) s.applied))
                 || json_object_set_new(out, "stream",
                                        stream ? stream : json_null())
                 || json_object_set_new(out, "resync_wanted_since_ms",
                                        s.resync_since
                                        ? json_integer((json_int_t)
                                                       s.resync_since)
                                        : json_null())
                 || json_object_set_new(out, "sync_running",
                                        json_boolean(alive))
                 || json_object_set_new(out, "sync",
                                        sync ? sync : json_null());
        sync = NULL;
        stream = NULL;
    }

    json_decref(sync);
    json_decref(stream);

    if (failed) {
        json_decref(out);
        fprintf(stderr, "omnictl: out of memory\n");
        return OMNICTL_EXIT_FAIL;
    }

    rc = omnictl_print(out);
    json_decref(out);

    return rc;
}


/*
 * The stream "applied" counts in, as omni-sync recorded it: its name and
 * when the engine made it; NULL before omni-sync first saw it.
 */
static json_t *
omnictl_cluster_stream(omni_store_t *st, int *failed)
{
    int        rc;
    char       err[OMNI_ERRLEN], name[OMNI_STORE_ID_MAX + 1], when[32];
    time_t     t;
    json_t    *out;
    int64_t    created;
    struct tm  tm;

    rc = omni_store_changes_stream_get(st, name, &created, err);
    if (rc == OMNI_STORE_NOT_FOUND) {
        return NULL;
    }

    if (rc != OMNI_STORE_OK) {
        fprintf(stderr, "omnictl: %s\n", err);
        *failed = 1;
        return NULL;
    }

    t = (time_t) (created / 1000000000);
    gmtime_r(&t, &tm);
    strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);

    out = json_pack("{s:s, s:s, s:I}", "name", name, "created", when,
                    "created_ns", (json_int_t) created);
    if (out == NULL) {
        fprintf(stderr, "omnictl: out of memory\n");
        *failed = 1;
    }

    return out;
}


/*
 * The sync's state file: an object of at most OMNICTL_SYNC_STATUS_MAX
 * bytes, no duplicate key, or NULL.  *alive: written within
 * OMNICTL_SYNC_STALE seconds.
 */
static json_t *
omnictl_cluster_sync(const char *dir, int *alive)
{
    char          path[4096];
    json_t       *json, *at;
    struct stat   sb;
    json_error_t  jerr;

    *alive = 0;

    if ((size_t) snprintf(path, sizeof(path), "%s%s", dir,
                          OMNICTL_SYNC_STATUS) >= sizeof(path)
        || stat(path, &sb) != 0 || !S_ISREG(sb.st_mode)
        || sb.st_size > OMNICTL_SYNC_STATUS_MAX)
    {
        return NULL;
    }

    json = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
    if (json == NULL || !json_is_object(json)) {
        json_decref(json);
        return NULL;
    }

    at = json_object_get(json, "updated_at");

    *alive = json_is_integer(at)
             && json_integer_value(at) + OMNICTL_SYNC_STALE
                >= (json_int_t) time(NULL);

    return json;
}
