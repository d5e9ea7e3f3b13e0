/*
 * Copyright (C) The omni gateway authors
 *
 * The store's engine: the LMDB environment (open, close, the format
 * record), read transactions, the write loop that grows the map or
 * adopts another process's growth, statistics, the export and import of
 * raw records, the permission check of a store directory, the name
 * predicates, and the low-level helpers every record family calls (get,
 * put, del, scans, errors, argument checks).
 *
 * The public API is omni_store.h.  The record families are
 * omni_store_session.c, omni_store_customer.c, omni_store_revocation.c,
 * omni_store_journey.c and omni_store_policy.c, the keyring's record
 * omni_store_keyring.c, sealing omni_store_seal.c and omni_store_dkeys.c;
 * the records' layout and what the files share are in omni_store_int.h.
 */


#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include <lmdb.h>

#include "omni_store_int.h"


#define OMNI_STORE_WRITE_TRIES 64       /* doublings and remaps per write */


typedef struct {
    const omni_store_record_t  *recs;
    size_t                      n;
    size_t                      skipped;
} omni_import_op_t;


static const char  *omni_store_db_names[] = {
    "meta",
    "sessions",
    "identities",
    "customers",
    "revocations",
    "journeys",
    "expiry",
    "changes",
    "cases",
};


/* the directory, then the files LMDB keeps in it (omni_store_access()) */
static const char  *omni_store_files[] = {
    "",
    OMNI_STORE_DATA_FILE,
    OMNI_STORE_LOCK_FILE,
};


static const char  *omni_store_rc_names[] = {
    "ok",
    "not_found",
    "full",
    "invalid",
    "error",
    "again",
    "conflict",
};


static int omni_store_grow(omni_store_t *st, char *err);
static int omni_store_remap(omni_store_t *st, char *err);
static int omni_store_write_once(omni_store_t *st, omni_store_op_pt op,
    void *data, int *resize, char *err);
static int omni_store_init_op(omni_store_t *st, MDB_txn *txn, void *data,
    char *err);
static int omni_store_init(omni_store_t *st, char *err);
static int omni_import_op(omni_store_t *st, MDB_txn *txn, void *data,
    char *err);
static int omni_store_mdb_key(const omni_sbuf_t *key, int db, MDB_val *k,
    char *err);
static int omni_import_meta(const omni_store_record_t *rec,
    const char *name);
static int omni_import_keyring(omni_store_t *st, MDB_txn *txn, size_t i,
    const unsigned char *made, char *err);


/* the store */

omni_store_t *
omni_store_open(const char *dir, size_t map_max, int sync_mode, char *err)
{
    int            mrc, dead;
    long           page;
    size_t         size;
    unsigned int   flags;
    struct stat    sb;
    omni_store_t  *st;

    if (dir == NULL || dir[0] == '\0') {
        omni_err(err, "no store directory");
        return NULL;
    }

    if (stat(dir, &sb) != 0) {
        omni_err(err, "store directory \"%s\": %s", dir,
                       strerror(errno));
        return NULL;
    }

    if (!S_ISDIR(sb.st_mode)) {
        omni_err(err, "store directory \"%s\" is not a directory",
                       dir);
        return NULL;
    }

    if (access(dir, R_OK | W_OK | X_OK) != 0) {
        omni_err(err, "store directory \"%s\" is not writable: %s",
                       dir, strerror(errno));
        return NULL;
    }

    switch (sync_mode) {
    case OMNI_STORE_SYNC_FULL:
        flags = 0;
        break;
    case OMNI_STORE_SYNC_META:
        flags = MDB_NOMETASYNC;
        break;
    case OMNI_STORE_SYNC_NONE:
        flags = MDB_NOSYNC;
        break;
    default:
        omni_err(err, "unknown sync mode %d for store %s", sync_mode,
                       dir);
        return NULL;
    }

    page = sysconf(_SC_PAGESIZE);
    if (page <= 0) {
        page = 4096;
    }

    map_max -= map_max % (size_t) page;

    if (map_max < OMNI_STORE_MAP_MIN) {
        omni_err(err, "map size of store %s is below the minimum of "
                       "%d bytes", dir, OMNI_STORE_MAP_MIN);
        return NULL;
    }

    st = calloc(1, sizeof(omni_store_t));
    if (st == NULL) {
        omni_err(err, "out of memory opening store %s", dir);
        return NULL;
    }

    st->dir = strdup(dir);
    if (st->dir == NULL) {
        free(st);
        omni_err(err, "out of memory opening store %s", dir);
        return NULL;
    }

    if (pthread_rwlock_init(&st->map_lock, NULL) != 0) {
        free(st->dir);
        free(st);
        omni_err(err, "cannot create the map lock of store %s", dir);
        return NULL;
    }

    st->map_max = map_max;
    st->pid = getpid();

    mrc = mdb_env_create(&st->env);
    if (mrc != 0) {
        st->env = NULL;
        omni_err(err, "cannot create the environment of store %s: %s",
                       dir, mdb_strerror(mrc));
        goto failed;
    }

    size = map_max < OMNI_STORE_MAP_INITIAL ? map_max
                                            : OMNI_STORE_MAP_INITIAL;

    mrc = mdb_env_set_maxdbs(st->env, 16);
    if (mrc == 0) {
        mrc = mdb_env_set_mapsize(st->env, size);
    }

    if (mrc == 0) {
        mrc = mdb_env_open(st->env, dir, flags | MDB_NOTLS, 0660);
    }

    if (mrc != 0) {
        omni_err(err, "cannot open store %s: %s", dir,
                       mdb_strerror(mrc));
        goto failed;
    }

    /* slots left by processes that died inside a read transaction */
    mrc = mdb_reader_check(st->env, &dead);
    if (mrc != 0) {
        omni_err(err, "cannot check the readers of store %s: %s", dir,
                       mdb_strerror(mrc));
        goto failed;
    }

    if (omni_store_init(st, err) != OMNI_STORE_OK) {
        goto failed;
    }

    return st;

failed:

    if (st->env != NULL) {
        mdb_env_close(st->env);
    }

    (void) pthread_rwlock_destroy(&st->map_lock);
    free(st->dir);
    free(st);

    return NULL;
}


void
omni_store_close(omni_store_t *st)
{
    if (st == NULL) {
        return;
    }

    /*
     * In a child that inherited the store mdb_env_close() would free the
     * parent's reader slots: leave the environment alone there.
     */
    if (st->pid == getpid()) {
        if (st->rtxn != NULL) {
            mdb_txn_abort(st->rtxn);
        }

        mdb_env_close(st->env);
    }

    (void) pthread_rwlock_destroy(&st->map_lock);
    omni_store_seal_free(st);

    free(st->dir);
    free(st);
}


/*
 * The permissions the kernel would apply to uid for each path: the
 * owner's bits, else the group's when uid is in the file's group, else
 * the others'.
 */
int
omni_store_access(const char *dir, uid_t uid, const gid_t *groups,
    int ngroups, const char *user, char *err)
{
    int          i, n;
    char         path[PATH_MAX];
    size_t       f;
    unsigned     need, shift;
    struct stat  sb;

    if (dir == NULL || dir[0] == '\0') {
        omni_err(err, "no store directory");
        return OMNI_STORE_INVALID;
    }

    for (f = 0; f < sizeof(omni_store_files) / sizeof(omni_store_files[0]);
         f++)
    {
        n = snprintf(path, sizeof(path), "%s%s", dir, omni_store_files[f]);
        if (n < 0 || (size_t) n >= sizeof(path)) {
            return OMNI_STORE_OK;
        }

        if (stat(path, &sb) != 0) {
            continue;
        }

        /* rwx for the directory, rw for its files */
        need = (f == 0) ? 7 : 6;

        if (sb.st_uid == uid) {
            shift = 6;

        } else {
            for (i = 0; i < ngroups; i++) {
                if (groups[i] == sb.st_gid) {
                    break;
                }
            }

            shift = (i < ngroups) ? 3 : 0;
        }

        if (((sb.st_mode >> shift) & need) != need) {
            omni_err(err, "\"%s\" is not readable and writable by the "
                           "worker user \"%s\"; chown it to that user", path,
                           user);
            return OMNI_STORE_INVALID;
        }
    }

    return OMNI_STORE_OK;
}


const char *
omni_store_rc_name(int rc)
{
    if (rc < 0 || rc > OMNI_STORE_CONFLICT) {
        return "unknown";
    }

    return omni_store_rc_names[rc];
}


const char *
omni_store_db_name(int db)
{
    if (db < 0 || db >= OMNI_STORE_DB_COUNT) {
        return "unknown";
    }

    return omni_store_db_names[db];
}


int
omni_store_read_begin(omni_store_t *st, char *err)
{
    int  i, rc, mrc;

    if (st->reading) {
        omni_err(err, "a read transaction is open already");
        return OMNI_STORE_INVALID;
    }

    mrc = 0;

    for (i = 0; i < 3; i++) {
        if (st->rtxn != NULL) {
            mrc = mdb_txn_renew(st->rtxn);
            if (mrc != 0) {
                mdb_txn_abort(st->rtxn);
                st->rtxn = NULL;
            }

        } else {
            mrc = mdb_txn_begin(st->env, NULL, MDB_RDONLY, &st->rtxn);
            if (mrc != 0) {
                st->rtxn = NULL;
            }
        }

        if (mrc != MDB_MAP_RESIZED) {
            break;
        }

        rc = omni_store_remap(st, err);
        if (rc != OMNI_STORE_OK) {
            return rc;
        }

        mrc = MDB_MAP_RESIZED;
    }

    if (mrc != 0) {
        return omni_store_mdb(st, mrc, "cannot begin a read transaction",
                              err);
    }

    st->reading = 1;

    return OMNI_STORE_OK;
}


void
omni_store_read_end(omni_store_t *st)
{
    if (st->reading) {
        mdb_txn_reset(st->rtxn);
        st->reading = 0;
    }
}


int
omni_store_stats(omni_store_t *st, omni_store_stats_t *stats, char *err)
{
    int          i, rc, own, mrc;
    MDB_txn     *txn;
    MDB_stat     ms;
    MDB_envinfo  info;

    memset(stats, 0, sizeof(omni_store_stats_t));

    rc = omni_store_rbegin(st, &txn, &own, err);
    if (rc != OMNI_STORE_OK) {
        return rc;
    }

    for (i = 0; i < OMNI_STORE_DB_COUNT; i++) {
        mrc = mdb_stat(txn, st->dbi[i], &ms);
        if (mrc != 0) {
            omni_store_rend(st, own);
            return omni_store_mdb(st, mrc, "mdb_stat", err);
        }

        stats->entries[i] = ms.ms_entries;
    }

    omni_store_rend(st, own);

    mrc = mdb_env_info(st->env, &info);
    if (mrc == 0) {
        mrc = mdb_env_stat(st->env, &ms);
    }

    if (mrc != 0) {
        return omni_store_mdb(st, mrc, "mdb_env_info", err);
    }

    stats->txn_id = info.me_last_txnid;
    stats->map_used = (info.me_last_pgno + 1) * (size_t) ms.ms_psize;
    stats->map_size = info.me_mapsize;
    stats->map_max = st->map_max;

    return OMNI_STORE_OK;
}


uint64_t
omni_store_last_commit(omni_store_t *st)
{
    MDB_envinfo  info;

    if (mdb_env_info(st->env, &info) != 0) {
        return 0;
    }

    return (uint64_t) info.me_last_txnid;
}


int
omni_store_export(omni_store_t *st, omni_store_record_pt record,
    void *data, char *err)
{
    int                  db, rc, own, mrc;
    MDB_txn             *txn;
    MDB_val              k, v;
    MDB_cursor          *cur;
    omni_store_record_t  rec;

    rc = omni_store_rbegin(st, &txn, &own, err);
    if (rc != OMNI_STORE_OK) {
        return rc;
    }

    for (db = 0; db < OMNI_STORE_DB_COUNT; db++) {
        if (db == OMNI_STORE_DB_CHANGES) {
            continue;                  /* this node's log and cursors */
        }

        mrc = mdb_cursor_open(txn, st->dbi[db], &cur);
        if (mrc != 0) {
            omni_store_rend(st, own);
            return omni_store_mdb(st, mrc, "mdb_cursor_open", err);
        }

        for (mrc = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
             mrc == 0;
             mrc = mdb_cursor_get(cur, &k, &v, MDB_NEXT))
        {
            rec.db = db;
            rec.key = k.mv_data;
            rec.key_len = k.mv_size;
            rec.val = v.mv_data;
            rec.val_len = v.mv_size;

            if (record(data, &rec) != 0) {
                mdb_cursor_close(cur);
                omni_store_rend(st, own);
                omni_err(err, "export of %s stopped", st->dir);
                return OMNI_STORE_ERROR;
            }
        }

        mdb_cursor_close(cur);

        if (mrc != MDB_NOTFOUND) {
            omni_store_rend(st, own);
            return omni_store_mdb(st, mrc, "mdb_cursor_get", err);
        }
    }

    omni_store_rend(st, own);

    return OMNI_STORE_OK;
}


int
omni_store_import(omni_store_t *st, const omni_store_record_t *recs,
    size_t n, size_t *skipped, char *err)
{
    int               rc, own;
    char              format[16];
    size_t            i, len;
    MDB_txn          *txn;
    omni_import_op_t  ctx;


    /* the keyring first: a sealed export refused says which it needs */
    for (i = 0; i < n; i++) {
        if (omni_import_meta(&recs[i], OMNI_STORE_KEYRING)
            && recs[i].val_len == OMNI_STORE_KEYRING_ID_LEN)
        {
            rc = omni_store_rbegin(st, &txn, &own, err);
            if (rc == OMNI_STORE_OK) {
                rc = omni_import_keyring(st, txn, i, recs[i].val, err);
                omni_store_rend(st, own);
            }

            if (rc != OMNI_STORE_OK) {
                return rc;
            }
        }
    }

    rc = omni_store_import_check(st, recs, n, err);
    if (rc != OMNI_STORE_OK) {
        return rc;
    }

    /* a sealed export goes into a sealed store, a plain one into a plain */
    len = (size_t) snprintf(format, sizeof(format), "%d",
                            st->sealed ? OMNI_STORE_FORMAT_SEALED
                                       : OMNI_STORE_FORMAT);

    for (i = 0; i < n; i++) {
        if (recs[i].db < 0 || recs[i].db >= OMNI_STORE_DB_COUNT
            || recs[i].db == OMNI_STORE_DB_CHANGES)
        {
            omni_err(err, "record %zu: no sub-database %d", i + 1,
                           recs[i].db);
            return OMNI_STORE_INVALID;
        }

        if (recs[i].key_len == 0 || recs[i].key_len > OMNI_STORE_KEY_MAX) {
            omni_err(err, "record %zu: a key of %zu bytes (1 to %d)",
                           i + 1, recs[i].key_len, OMNI_STORE_KEY_MAX);
            return OMNI_STORE_INVALID;
        }

        if (omni_import_meta(&recs[i], "format")
            && (recs[i].val_len != len
                || memcmp(recs[i].val, format, len) != 0))
        {
            omni_err(err, "record %zu: a store format other than "
                           "this store's (%s)", i + 1, format);
            return OMNI_STORE_INVALID;
        }

        if (omni_import_meta(&recs[i], OMNI_STORE_KEYRING)
            && recs[i].val_len != OMNI_STORE_KEYRING_ID_LEN)
        {
            omni_err(err, "record %zu: a keyring id of %zu bytes, not %d",
                     i + 1, recs[i].val_len, OMNI_STORE_KEYRING_ID_LEN);
            return OMNI_STORE_INVALID;
        }
    }

    if (skipped != NULL) {
        *skipped = 0;
    }

    if (n == 0) {
        return OMNI_STORE_OK;
    }

    ctx.recs = recs;
    ctx.n = n;
    ctx.skipped = 0;

    rc = omni_store_write(st, omni_import_op, &ctx, err);

    if (rc == OMNI_STORE_OK && skipped != NULL) {
        *skipped = ctx.skipped;
    }

    return rc;
}


static int
omni_import_op(omni_store_t *st, MDB_txn *txn, void *data, char *err)
{
    int                rc, mrc, skip;
    size_t             i;
    MDB_val            k, v;
    omni_import_op_t  *ctx;

    ctx = data;
    ctx->skipped = 0;

    for (i = 0; i < ctx->n; i++) {
        /* checked before, and again: another process may have recorded one */
        if (omni_import_meta(&ctx->recs[i], OMNI_STORE_KEYRING)) {
            rc = omni_import_keyring(st, txn, i, ctx->recs[i].val, err);
            if (rc != OMNI_STORE_OK) {
                return rc;
            }
        }

        rc = omni_store_import_skip(st, txn, &ctx->recs[i], &skip, err);
        if (rc != OMNI_STORE_OK) {
            return rc;
        }

        /* erased customers' records are counted, the store's own kept */
        if (skip) {
            ctx->skipped += (skip == 1);
            continue;
        }

        k.mv_data = (void *) ctx->recs[i].key;
        k.mv_size = ctx->recs[i].key_len;
        v.mv_data = (void *) ctx->recs[i].val;
        v.mv_size = ctx->recs[i].val_len;

        mrc = mdb_put(txn, st->dbi[ctx->recs[i].db], &k, &v, 0);
        if (mrc != 0) {
            return omni_store_mdb(st, mrc, "mdb_put", err);
        }
    }

    return OMNI_STORE_OK;
}


static int
omni_import_meta(const omni_store_record_t *rec, const char *name)
{
    return rec->db == OMNI_STORE_DB_META && rec->key_len == strlen(name)
           && memcmp(rec->key, name, rec->key_len) == 0;
}


/*
 * An export made with a keyring goes only into a store that records the
 * same one: the keyring that opens its records.  Its meta records come
 * first, so a refusal comes before anything is written.
 */
static int
omni_import_keyring(omni_store_t *st, MDB_txn *txn, size_t i,
    const unsigned char *made, char *err)
{
    int                   rc;
    char                  hex[2 * OMNI_STORE_KEYRING_ID_LEN + 1];
    char                  have[2 * OMNI_STORE_KEYRING_ID_LEN + 1];
    const unsigned char  *rec;

    rc = omni_store_keyring_get(txn, st->dbi[OMNI_STORE_DB_META], st->dir,
                                &rec, err);

    if (rc == OMNI_STORE_OK
        && memcmp(rec, made, OMNI_STORE_KEYRING_ID_LEN) == 0)
    {
        return OMNI_STORE_OK;
    }

    if (rc != OMNI_STORE_OK && rc != OMNI_STORE_NOT_FOUND) {
        return rc;
    }

    omni_store_keyring_hex(made, hex);

    if (rc == OMNI_STORE_NOT_FOUND) {
        omni_err(err, "record %zu: the export was made with keyring %s and "
                 "the store at %s has none; open it with that keyring "
                 "first", i + 1, hex, st->dir);

    } else {
        omni_store_keyring_hex(rec, have);
        omni_err(err, "record %zu: the export was made with keyring %s, the "
                 "store at %s with keyring %s", i + 1, hex, st->dir, have);
    }

    return OMNI_STORE_INVALID;
}


static int
omni_store_init_op(omni_store_t *st, MDB_txn *txn, void *data, char *err)
{
    int           i, mrc, printable;
    char          format[16];
    size_t        len;
    MDB_val       key, val;
    unsigned      flags;
    const char   *p;

    /* a read transaction (data NULL) only finds, a write one creates */
    flags = (data != NULL) ? MDB_CREATE : 0;

    /* meta first: a later format may lay the other databases out anew */
    mrc = mdb_dbi_open(txn, omni_store_db_names[OMNI_STORE_DB_META], flags,
                       &st->dbi[OMNI_STORE_DB_META]);
    if (mrc == MDB_NOTFOUND && flags == 0) {
        return OMNI_STORE_NOT_FOUND;
    }

    if (mrc != 0) {
        return omni_store_mdb(st, mrc, "cannot open the meta database", err);
    }

    len = (size_t) snprintf(format, sizeof(format), "%d", OMNI_STORE_FORMAT);

    key.mv_data = "format";
    key.mv_size = sizeof("format") - 1;

    mrc = mdb_get(txn, st->dbi[OMNI_STORE_DB_META], &key, &val);

    /* a sealed store (omni_store_seal.c) opens here, and with its keyring */
    st->sealed = (mrc == 0 && val.mv_size == 1
                  && *(char *) val.mv_data == '0' + OMNI_STORE_FORMAT_SEALED);

    if (st->sealed) {
        val.mv_data = format;
        val.mv_size = len;
    }

    if (mrc == MDB_NOTFOUND && flags == 0) {
        return OMNI_STORE_NOT_FOUND;
    }

    if (mrc == MDB_NOTFOUND) {
        val.mv_data = format;
        val.mv_size = len;

        mrc = mdb_put(txn, st->dbi[OMNI_STORE_DB_META], &key, &val, 0);
        if (mrc != 0) {
            return omni_store_mdb(st, mrc, "cannot write the store format",
                                  err);
        }

    } else if (mrc != 0) {
        return omni_store_mdb(st, mrc, "cannot read the store format", err);

    } else if (val.mv_size != len || memcmp(val.mv_data, format, len) != 0) {
        p = val.mv_data;
        printable = val.mv_size > 0 && val.mv_size <= 16;

        for (i = 0; printable && (size_t) i < val.mv_size; i++) {
            printable = (p[i] > ' ' && p[i] < 0x7f);
        }

        omni_err(err, "store format %.*s in %s is not supported by "
                       "this build (%d, or %d sealed)",
                       printable ? (int) val.mv_size : 1,
                       printable ? p : "?", st->dir, OMNI_STORE_FORMAT,
                       OMNI_STORE_FORMAT_SEALED);
        return OMNI_STORE_INVALID;
    }

    for (i = OMNI_STORE_DB_META + 1; i < OMNI_STORE_DB_COUNT; i++) {
        mrc = mdb_dbi_open(txn, omni_store_db_names[i], flags, &st->dbi[i]);
        if (mrc == MDB_NOTFOUND && flags == 0) {
            return OMNI_STORE_NOT_FOUND;
        }

        if (mrc != 0) {
            return omni_store_mdb(st, mrc, "cannot open a database", err);
        }
    }

    return OMNI_STORE_OK;
}


/*
 * Opens the databases of an existing store under a read transaction, so
 * that workers starting together do not queue for the write lock; a store
 * being created takes the write path.
 */
static int
omni_store_init(omni_store_t *st, char *err)
{
    int       rc, mrc, create;
    MDB_txn  *txn;

    mrc = mdb_txn_begin(st->env, NULL, MDB_RDONLY, &txn);

    if (mrc == 0) {
        rc = omni_store_init_op(st, txn, NULL, err);

        if (rc == OMNI_STORE_OK) {
            /* a committed read transaction leaves its handles open */
            mrc = mdb_txn_commit(txn);
            if (mrc != 0) {
                return omni_store_mdb(st, mrc, "cannot open the databases",
                                      err);
            }

            return OMNI_STORE_OK;
        }

        mdb_txn_abort(txn);

        if (rc != OMNI_STORE_NOT_FOUND) {
            return rc;
        }
    }

    create = 1;

    return omni_store_write(st, omni_store_init_op, &create, err);
}


/*
 * Runs op in a write transaction and commits it.  When the map is full the
 * transaction is aborted, the map doubled (up to map_max) and op run again;
 * when another process grew the map its size is adopted first.
 */
int
omni_store_write(omni_store_t *st, omni_store_op_pt op, void *data,
    char *err)
{
    int  i, rc, resize;

    for (i = 0; i < OMNI_STORE_WRITE_TRIES; i++) {
        rc = omni_store_write_once(st, op, data, &resize, err);

        if (rc != OMNI_STORE_AGAIN) {
            return rc;
        }

        rc = (resize == OMNI_STORE_RESIZE_ADOPT) ? omni_store_remap(st, err)
                                                 : omni_store_grow(st, err);
        if (rc != OMNI_STORE_OK) {
            return rc;
        }
    }

    omni_err(err, "gave up writing to store %s after %d attempts",
                   st->dir, OMNI_STORE_WRITE_TRIES);

    return OMNI_STORE_ERROR;
}


int
omni_store_write_detached(omni_store_t *st, omni_store_op_pt op, void *data,
    char *err)
{
    int  resize;

    return omni_store_write_once(st, op, data, &resize, err);
}


/*
 * One write transaction.  OMNI_STORE_AGAIN, with *resize saying why, when
 * the map must be resized before op can run: that is for the caller, as
 * the map may only be resized by the thread that reads from it.  The map
 * lock, held shared meanwhile, keeps a resize by another thread out of
 * the transaction.
 */
static int
omni_store_write_once(omni_store_t *st, omni_store_op_pt op, void *data,
    int *resize, char *err)
{
    int       rc, mrc, full;
    MDB_txn  *txn;

    if (pthread_rwlock_rdlock(&st->map_lock) != 0) {
        omni_err(err, "cannot take the map lock of store %s", st->dir);
        return OMNI_STORE_ERROR;
    }

    mrc = mdb_txn_begin(st->env, NULL, 0, &txn);

    if (mrc == MDB_MAP_RESIZED) {
        (void) pthread_rwlock_unlock(&st->map_lock);
        *resize = OMNI_STORE_RESIZE_ADOPT;
        return OMNI_STORE_AGAIN;
    }

    if (mrc != 0) {
        (void) pthread_rwlock_unlock(&st->map_lock);
        return omni_store_mdb(st, mrc, "cannot begin a write transaction",
                              err);
    }

    st->map_full = 0;

    rc = op(st, txn, data, err);

    if (rc != OMNI_STORE_OK) {
        /* map_full belongs to whoever holds the writer lock: read it first */
        full = st->map_full;
        mdb_txn_abort(txn);

    } else {
        mrc = mdb_txn_commit(txn);
        full = (mrc == MDB_MAP_FULL);

        if (mrc != 0 && !full) {
            rc = omni_store_mdb(st, mrc, "cannot commit", err);
        }
    }

    (void) pthread_rwlock_unlock(&st->map_lock);

    if (!full) {
        return rc;
    }

    *resize = OMNI_STORE_RESIZE_GROW;

    return OMNI_STORE_AGAIN;
}


static int
omni_store_grow(omni_store_t *st, char *err)
{
    int          rc, mrc;
    size_t       next;
    MDB_envinfo  info;

    if (st->reading) {
        omni_err(err, "store %s is full and cannot grow while a read "
                       "transaction is open", st->dir);
        return OMNI_STORE_FULL;
    }

    if (pthread_rwlock_wrlock(&st->map_lock) != 0) {
        omni_err(err, "cannot take the map lock of store %s", st->dir);
        return OMNI_STORE_ERROR;
    }

    mrc = mdb_env_info(st->env, &info);

    if (mrc != 0) {
        rc = omni_store_mdb(st, mrc, "mdb_env_info", err);

    } else if (info.me_mapsize >= st->map_max) {
        omni_err(err, "store %s is full: its map reached the maximum "
                       "of %zu bytes", st->dir, st->map_max);
        rc = OMNI_STORE_FULL;

    } else {
        next = info.me_mapsize > st->map_max / 2 ? st->map_max
                                                 : info.me_mapsize * 2;

        mrc = mdb_env_set_mapsize(st->env, next);
        rc = (mrc == 0) ? OMNI_STORE_OK
                        : omni_store_mdb(st, mrc, "cannot grow the map", err);
    }

    (void) pthread_rwlock_unlock(&st->map_lock);

    return rc;
}


/* another process grew the map: adopt its size */
static int
omni_store_remap(omni_store_t *st, char *err)
{
    int  mrc;

    if (st->reading) {
        omni_err(err, "store %s grew in another process while a read "
                       "transaction is open here", st->dir);
        return OMNI_STORE_ERROR;
    }

    if (pthread_rwlock_wrlock(&st->map_lock) != 0) {
        omni_err(err, "cannot take the map lock of store %s", st->dir);
        return OMNI_STORE_ERROR;
    }

    mrc = mdb_env_set_mapsize(st->env, 0);

    (void) pthread_rwlock_unlock(&st->map_lock);

    if (mrc != 0) {
        return omni_store_mdb(st, mrc, "cannot adopt the new map size", err);
    }

    return OMNI_STORE_OK;
}


int
omni_store_rbegin(omni_store_t *st, MDB_txn **txn, int *own, char *err)
{
    int  rc;

    if (st->reading) {
        *own = 0;
        *txn = st->rtxn;
        return OMNI_STORE_OK;
    }

    rc = omni_store_read_begin(st, err);
    if (rc != OMNI_STORE_OK) {
        return rc;
    }

    *own = 1;
    *txn = st->rtxn;

    return OMNI_STORE_OK;
}


void
omni_store_rend(omni_store_t *st, int own)
{
    if (own) {
        omni_store_read_end(st);
    }
}


/* low level */

/* The MDB_val of a built key, refused when the key did not fit. */

static int
omni_store_mdb_key(const omni_sbuf_t *key, int db, MDB_val *k, char *err)
{
    if (key->overflow) {
        omni_err(err, "key too long for %s", omni_store_db_names[db]);
        return OMNI_STORE_INVALID;
    }

    k->mv_data = key->p;
    k->mv_size = key->len;

    return OMNI_STORE_OK;
}


int
omni_store_get(omni_store_t *st, MDB_txn *txn, int db,
    const omni_sbuf_t *key, MDB_val *val, char *err)
{
    int      mrc;
    MDB_val  k;

    if (omni_store_mdb_key(key, db, &k, err) != OMNI_STORE_OK) {
        return OMNI_STORE_INVALID;
    }

    mrc = mdb_get(txn, st->dbi[db], &k, val);

    /* most lookups of revocations find none: no formatting for that */
    if (mrc == MDB_NOTFOUND) {
        omni_err_text(err, "not found");
        return OMNI_STORE_NOT_FOUND;
    }

    if (mrc != 0) {
        return omni_store_mdb(st, mrc, "mdb_get", err);
    }

    return OMNI_STORE_OK;
}


/*
 * The last key of db that sorts before bound, in *key (mv_size 0 when
 * there is none); *at tells whether bound itself is a key.  The key stays
 * valid until the transaction writes.
 */

int
omni_store_before(omni_store_t *st, MDB_txn *txn, int db,
    const omni_sbuf_t *bound, MDB_val *key, int *at, char *err)
{
    int          mrc;
    MDB_val      k, v;
    MDB_cursor  *cur;

    key->mv_size = 0;
    *at = 0;

    if (omni_store_mdb_key(bound, db, &k, err) != OMNI_STORE_OK) {
        return OMNI_STORE_INVALID;
    }

    mrc = mdb_cursor_open(txn, st->dbi[db], &cur);
    if (mrc != 0) {
        return omni_store_mdb(st, mrc, "mdb_cursor_open", err);
    }

    mrc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);

    if (mrc == 0) {
        *at = (k.mv_size == bound->len
               && memcmp(k.mv_data, bound->p, bound->len) == 0);

        mrc = mdb_cursor_get(cur, &k, &v, MDB_PREV);

    } else if (mrc == MDB_NOTFOUND) {
        mrc = mdb_cursor_get(cur, &k, &v, MDB_LAST);
    }

    mdb_cursor_close(cur);

    if (mrc == 0) {
        *key = k;
        return OMNI_STORE_OK;
    }

    if (mrc != MDB_NOTFOUND) {
        return omni_store_mdb(st, mrc, "mdb_cursor_get", err);
    }

    return OMNI_STORE_OK;
}


int
omni_store_put(omni_store_t *st, MDB_txn *txn, int db,
    const omni_sbuf_t *key, const void *data, size_t len, unsigned flags,
    char *err)
{
    int      mrc;
    MDB_val  k, v;

    if (omni_store_mdb_key(key, db, &k, err) != OMNI_STORE_OK) {
        return OMNI_STORE_INVALID;
    }
    v.mv_data = (void *) data;
    v.mv_size = len;

    mrc = mdb_put(txn, st->dbi[db], &k, &v, flags);

    if (mrc == MDB_KEYEXIST) {
        omni_err(err, "key exists in %s", omni_store_db_names[db]);
        return OMNI_STORE_INVALID;
    }

    if (mrc != 0) {
        return omni_store_mdb(st, mrc, "mdb_put", err);
    }

    return OMNI_STORE_OK;
}


int
omni_store_del(omni_store_t *st, MDB_txn *txn, int db,
    const omni_sbuf_t *key, char *err)
{
    int      mrc;
    MDB_val  k;

    if (omni_store_mdb_key(key, db, &k, err) != OMNI_STORE_OK) {
        return OMNI_STORE_INVALID;
    }

    mrc = mdb_del(txn, st->dbi[db], &k, NULL);

    if (mrc == MDB_NOTFOUND) {
        omni_err(err, "not found");
        return OMNI_STORE_NOT_FOUND;
    }

    if (mrc != 0) {
        return omni_store_mdb(st, mrc, "mdb_del", err);
    }

    return OMNI_STORE_OK;
}


/*
 * Calls item for up to max keys that start with prefix, in key order,
 * from the first key after prefix + after (or from prefix); *n counts them.
 */
int
omni_store_scan(omni_store_t *st, MDB_txn *txn, int db,
    const omni_sbuf_t *prefix, const void *after, size_t alen, size_t max,
    omni_store_item_pt item, void *out, size_t *n, char *err)
{
    omni_skey_t  start;

    omni_sbuf_init(&start.b, start.data, sizeof(start.data));
    omni_sbuf_add(&start.b, prefix->p, prefix->len);

    if (after != NULL) {
        omni_sbuf_add(&start.b, after, alen);
    }

    return omni_store_walk(st, txn, db, prefix, &start.b, after != NULL,
                           MDB_NEXT, max, item, out, n, err);
}


/*
 * Calls item for up to max keys that start with prefix, from start on in
 * direction op: MDB_NEXT from the first key at or past start (past it
 * when exclusive), MDB_PREV from the last key before start.
 */
int
omni_store_walk(omni_store_t *st, MDB_txn *txn, int db,
    const omni_sbuf_t *prefix, const omni_sbuf_t *start, int exclusive,
    MDB_cursor_op op, size_t max, omni_store_item_pt item, void *out,
    size_t *n, char *err)
{
    int          mrc;
    MDB_val      k, v;
    MDB_cursor  *cur;

    if (prefix->overflow || start->overflow) {
        omni_err(err, "key too long for %s", omni_store_db_names[db]);
        return OMNI_STORE_INVALID;
    }

    if (max == 0) {
        return OMNI_STORE_OK;
    }

    mrc = mdb_cursor_open(txn, st->dbi[db], &cur);
    if (mrc != 0) {
        return omni_store_mdb(st, mrc, "mdb_cursor_open", err);
    }

    k.mv_data = start->p;
    k.mv_size = start->len;

    mrc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);

    if (op == MDB_PREV) {
        if (mrc == 0) {
            mrc = mdb_cursor_get(cur, &k, &v, MDB_PREV);

        } else if (mrc == MDB_NOTFOUND) {
            mrc = mdb_cursor_get(cur, &k, &v, MDB_LAST);
        }

    } else if (mrc == 0 && exclusive && k.mv_size == start->len
               && memcmp(k.mv_data, start->p, start->len) == 0)
    {
        mrc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
    }

    while (mrc == 0 && *n < max) {
        if (k.mv_size < prefix->len
            || memcmp(k.mv_data, prefix->p, prefix->len) != 0)
        {
            break;
        }

        if (item(out, *n, (unsigned char *) k.mv_data + prefix->len,
                 k.mv_size - prefix->len, &v)
            != 0)
        {
            mdb_cursor_close(cur);
            omni_err(err, "%s in %s holds a record this build cannot "
                           "read", omni_store_db_names[db], st->dir);
            return OMNI_STORE_ERROR;
        }

        (*n)++;

        mrc = mdb_cursor_get(cur, &k, &v, op);
    }

    mdb_cursor_close(cur);

    if (mrc != 0 && mrc != MDB_NOTFOUND) {
        return omni_store_mdb(st, mrc, "mdb_cursor_get", err);
    }

    return OMNI_STORE_OK;
}


int
omni_store_count_item(void *out, size_t i, const unsigned char *rest,
    size_t len, const MDB_val *val)
{
    (void) out;
    (void) i;
    (void) rest;
    (void) len;
    (void) val;

    return 0;
}


int
omni_store_collect_item(void *out, size_t i, const unsigned char *rest,
    size_t len, const MDB_val *val)
{
    omni_item_t  *items;

    (void) val;

    if (len > OMNI_STORE_IKEY_MAX) {
        return -1;
    }

    items = out;
    items[i].len = len;
    memcpy(items[i].data, rest, len);

    return 0;
}



int
omni_store_mdb(omni_store_t *st, int mrc, const char *what, char *err)
{
    if (mrc == MDB_MAP_FULL) {
        st->map_full = 1;
        omni_err(err, "store %s is full", st->dir);
        return OMNI_STORE_FULL;
    }

    omni_err(err, "%s in store %s: %s", what, st->dir,
                   mdb_strerror(mrc));

    return OMNI_STORE_ERROR;
}


/* [A-Za-z0-9_-]: a table, as every store call checks its ids */
static const unsigned char  omni_store_id_chars[256] = {
    ['0' ... '9'] = 1, ['A' ... 'Z'] = 1, ['a' ... 'z'] = 1,
    ['_'] = 1, ['-'] = 1
};


/*
 * The names of omni_store.h: ids, channels and identity types are
 * [A-Za-z0-9_-], values and journey names any bytes but spaces and
 * control characters.
 */
int
omni_store_id_valid(const char *s, size_t len, size_t max)
{
    size_t  i;

    if (s == NULL || len == 0 || len > max) {
        return 0;
    }

    for (i = 0; i < len; i++) {
        if (!omni_store_id_chars[(unsigned char) s[i]]) {
            return 0;
        }
    }

    return 1;
}


int
omni_store_text_valid(const char *s, size_t len, size_t max)
{
    size_t          i;
    unsigned char   c;

    if (s == NULL || len == 0 || len > max) {
        return 0;
    }

    for (i = 0; i < len; i++) {
        c = (unsigned char) s[i];

        if (c <= ' ' || c == 0x7f) {
            return 0;
        }
    }

    return 1;
}


/* the checks of every argument: s is a C string, NULL refused */
int
omni_store_check_id(const char *what, const char *s, size_t max, char *err)
{
    if (s == NULL || !omni_store_id_valid(s, strnlen(s, max + 1), max)) {
        omni_err(err, "%s is not [A-Za-z0-9_-]{1,%zu}", what, max);
        return OMNI_STORE_INVALID;
    }

    return OMNI_STORE_OK;
}


int
omni_store_check_text(const char *what, const char *s, size_t max,
    char *err)
{
    if (s == NULL || !omni_store_text_valid(s, strnlen(s, max + 1), max)) {
        omni_err(err, "%s must be 1 to %zu bytes without spaces or "
                       "control characters", what, max);
        return OMNI_STORE_INVALID;
    }

    return OMNI_STORE_OK;
}


int
omni_store_check_time(const char *what, int64_t t, char *err)
{
    if (t < 0) {
        omni_err(err, "%s is negative", what);
        return OMNI_STORE_INVALID;
    }

    return OMNI_STORE_OK;
}
