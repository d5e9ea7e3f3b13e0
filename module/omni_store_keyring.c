/*
 * Copyright (C) The omni gateway authors
 *
 * The keyring a store was made with: its id in the meta record
 * "keyring", recorded on the first open with a keyring, checked on every
 * open (omni_store_keyring_check()) and by a configuration check that only
 * reads (omni_store_keyring_probe()).  The store sees the id, never a key.
 */


#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <lmdb.h>

#include "omni_store_int.h"


int
omni_store_keyring_check(omni_store_t *st, const unsigned char *id,
    char *err)
{
    int                   rc, own;
    MDB_txn              *txn;
    const unsigned char  *rec;

    rc = omni_store_rbegin(st, &txn, &own, err);
    if (rc != OMNI_STORE_OK) {
        return rc;
    }

    rc = omni_store_keyring_get(txn, st->dbi[OMNI_STORE_DB_META], st->dir,
                                &rec, err);
    if (rc == OMNI_STORE_OK) {
        rc = omni_store_keyring_fits(st->dir, rec, id, err);
    }

    omni_store_rend(st, own);

    /* the write lock only for the first open with a keyring */
    if (rc == OMNI_STORE_NOT_FOUND) {
        rc = (id != NULL) ? omni_store_write(st, omni_store_keyring_op,
                                             (void *) id, err)
                          : OMNI_STORE_OK;
    }

    return rc;
}


/*
 * Records the keyring id data unless the store records one, which must
 * then be the same: another process may have recorded one since a read.
 * Also the first step of a conversion (omni_store_seal.c), in its
 * transaction.
 */
int
omni_store_keyring_op(omni_store_t *st, MDB_txn *txn, void *data, char *err)
{
    int                   rc, mrc;
    MDB_val               key, val;
    const unsigned char  *rec;

    rc = omni_store_keyring_get(txn, st->dbi[OMNI_STORE_DB_META], st->dir,
                                &rec, err);
    if (rc == OMNI_STORE_OK) {
        return omni_store_keyring_fits(st->dir, rec, data, err);
    }

    if (rc != OMNI_STORE_NOT_FOUND) {
        return rc;
    }

    key.mv_data = OMNI_STORE_KEYRING;
    key.mv_size = sizeof(OMNI_STORE_KEYRING) - 1;
    val.mv_data = data;
    val.mv_size = OMNI_STORE_KEYRING_ID_LEN;

    mrc = mdb_put(txn, st->dbi[OMNI_STORE_DB_META], &key, &val, 0);
    if (mrc != 0) {
        return omni_store_mdb(st, mrc, "cannot record the keyring", err);
    }

    return OMNI_STORE_OK;
}


/*
 * Read-only, so that a master running as root creates no file its
 * workers could not open: no lock file either while there is none (then
 * no process has the store open).
 */
int
omni_store_keyring_probe(const char *dir, const unsigned char *id,
    int *recorded, char *err)
{
    int                   rc, mrc;
    char                  path[PATH_MAX];
    MDB_dbi               meta;
    MDB_env              *env;
    MDB_txn              *txn;
    unsigned              flags;
    struct stat           sb;
    const unsigned char  *rec;

    if (recorded != NULL) {
        *recorded = 0;
    }

    /* INVALID says "does not fit" alone */
    if (dir == NULL || dir[0] == '\0') {
        omni_err(err, "no store directory");
        return OMNI_STORE_ERROR;
    }

    if (strlen(dir) + sizeof("/data.mdb") > sizeof(path)) {
        omni_err(err, "store directory \"%s\" is too long", dir);
        return OMNI_STORE_ERROR;
    }

    if (stat(dir, &sb) != 0) {
        omni_err(err, "store directory \"%s\": %s", dir, strerror(errno));
        return OMNI_STORE_ERROR;
    }

    if (!S_ISDIR(sb.st_mode)) {
        omni_err(err, "store directory \"%s\" is not a directory", dir);
        return OMNI_STORE_ERROR;
    }

    snprintf(path, sizeof(path), "%s%s", dir, OMNI_STORE_DATA_FILE);

    /* no data file: no store yet, which every keyring fits */
    if (stat(path, &sb) != 0) {
        if (errno == ENOENT) {
            return OMNI_STORE_OK;
        }

        omni_err(err, "cannot read the store at %s: %s", dir,
                 strerror(errno));
        return OMNI_STORE_ERROR;
    }

    flags = MDB_RDONLY | MDB_NOTLS;

    snprintf(path, sizeof(path), "%s%s", dir, OMNI_STORE_LOCK_FILE);

    if (stat(path, &sb) != 0 && errno == ENOENT) {
        flags |= MDB_NOLOCK;
    }

    mrc = mdb_env_create(&env);
    if (mrc != 0) {
        omni_err(err, "cannot read the store at %s: %s", dir,
                 mdb_strerror(mrc));
        return OMNI_STORE_ERROR;
    }

    txn = NULL;

    /* meta is the one database read */
    mrc = mdb_env_set_maxdbs(env, 1);
    if (mrc == 0) {
        mrc = mdb_env_open(env, dir, flags, 0660);
    }

    if (mrc == 0) {
        mrc = mdb_txn_begin(env, NULL, MDB_RDONLY, &txn);
    }

    if (mrc == 0) {
        mrc = mdb_dbi_open(txn, omni_store_db_name(OMNI_STORE_DB_META), 0,
                           &meta);
    }

    if (mrc == 0) {
        rc = omni_store_keyring_get(txn, meta, dir, &rec, err);

        if (rc == OMNI_STORE_OK) {
            rc = omni_store_keyring_fits(dir, rec, id, err);

            if (rc == OMNI_STORE_OK && recorded != NULL) {
                *recorded = 1;
            }

        } else if (rc == OMNI_STORE_NOT_FOUND) {
            rc = OMNI_STORE_OK;
        }

    } else if (mrc == MDB_NOTFOUND) {
        /* no meta database: a store being created */
        rc = OMNI_STORE_OK;

    } else {
        omni_err(err, "cannot read the store at %s: %s", dir,
                 mdb_strerror(mrc));
        rc = OMNI_STORE_ERROR;
    }

    if (txn != NULL) {
        mdb_txn_abort(txn);
    }

    mdb_env_close(env);

    return rc;
}


/* *rec points into txn's snapshot: read it before the transaction ends */

int
omni_store_keyring_get(MDB_txn *txn, MDB_dbi meta, const char *dir,
    const unsigned char **rec, char *err)
{
    int      mrc;
    MDB_val  key, val;

    key.mv_data = OMNI_STORE_KEYRING;
    key.mv_size = sizeof(OMNI_STORE_KEYRING) - 1;

    mrc = mdb_get(txn, meta, &key, &val);

    if (mrc == MDB_NOTFOUND) {
        return OMNI_STORE_NOT_FOUND;
    }

    if (mrc != 0) {
        omni_err(err, "cannot read the keyring record of the store at %s: "
                 "%s", dir, mdb_strerror(mrc));
        return OMNI_STORE_ERROR;
    }

    if (val.mv_size != OMNI_STORE_KEYRING_ID_LEN) {
        omni_err(err, "the keyring record of the store at %s is %zu bytes, "
                 "not %d", dir, val.mv_size, OMNI_STORE_KEYRING_ID_LEN);
        return OMNI_STORE_ERROR;
    }

    *rec = val.mv_data;

    return OMNI_STORE_OK;
}


int
omni_store_keyring_fits(const char *dir, const unsigned char *rec,
    const unsigned char *id, char *err)
{
    char  made[2 * OMNI_STORE_KEYRING_ID_LEN + 1];
    char  given[2 * OMNI_STORE_KEYRING_ID_LEN + 1];

    if (id != NULL && memcmp(rec, id, OMNI_STORE_KEYRING_ID_LEN) == 0) {
        return OMNI_STORE_OK;
    }

    omni_store_keyring_hex(rec, made);

    if (id == NULL) {
        omni_err(err, "the store at %s was made with keyring %s", dir, made);
        return OMNI_STORE_INVALID;
    }

    omni_store_keyring_hex(id, given);
    omni_err(err, "keyring %s does not fit the store at %s (made with "
             "keyring %s)", given, dir, made);

    return OMNI_STORE_INVALID;
}


void
omni_store_keyring_hex(const unsigned char *id, char *out)
{
    int  i;

    for (i = 0; i < OMNI_STORE_KEYRING_ID_LEN; i++) {
        snprintf(out + 2 * i, 3, "%02x", id[i]);
    }
}
