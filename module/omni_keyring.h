/*
 * Copyright (C) The omni gateway authors
 *
 * The store's keyring: versioned key-encryption keys (KEKs), which wrap
 * each customer's data key, and versioned blind-index keys, which turn
 * identity values into lookup keys.  A file of its own, separate from
 * the store, read once when the configuration is loaded (or by omnictl),
 * never logged.  Knows nothing of NGINX or LMDB.
 *
 * The file is JSON:
 *
 *   {"format": "omni-keyring/1", "id": "<32 hex digits>",
 *    "kek":   [{"version": 1, "key": "<base64url of 32 bytes>"}, ...],
 *    "index": [{"version": 1, "key": "..."}, ...]}
 *
 * The newest version of each list seals and indexes new data; the older
 * ones are kept to open what they sealed until nothing uses them.  The id
 * ties the keyring to the store it was made for.
 */

#ifndef OMNI_KEYRING_H_INCLUDED_
#define OMNI_KEYRING_H_INCLUDED_


#include <stddef.h>
#include <stdint.h>

#include "omni_err.h"


#define OMNI_KEYRING_KEY_LEN     32
#define OMNI_KEYRING_ID_LEN      16
#define OMNI_KEYRING_VERSIONS    64         /* of each kind */
#define OMNI_KEYRING_FORMAT      "omni-keyring/1"


typedef struct {
    uint32_t         version;                /* 1 and up */
    unsigned char    key[OMNI_KEYRING_KEY_LEN];
} omni_keyring_key_t;


typedef struct {
    unsigned char        id[OMNI_KEYRING_ID_LEN];
    size_t               nkek;
    omni_keyring_key_t   kek[OMNI_KEYRING_VERSIONS];     /* oldest first */
    size_t               nindex;
    omni_keyring_key_t   index[OMNI_KEYRING_VERSIONS];
} omni_keyring_t;


/*
 * Reads path.  Refused, with err naming the file: a file others may read
 * or anyone but its owner may write, a symbolic link, not JSON of the
 * format above, a key that is not 32 bytes, versions that repeat or do not
 * grow, an empty list.  The keyring is allocated; free it with
 * omni_keyring_free(), which wipes the keys.
 */
int omni_keyring_load(const char *path, omni_keyring_t **kr, char *err);

/* A new keyring: a random id, KEK version 1, index key version 1. */
int omni_keyring_generate(omni_keyring_t **kr, char *err);

/*
 * Writes the keyring to path with mode 0600 (0640 with group_read): to a
 * temporary file in the same directory, synced, then renamed over path.
 */
int omni_keyring_save(const omni_keyring_t *kr, const char *path,
    int group_read, char *err);

/* Adds the next version of the KEKs or of the index keys, at random. */
int omni_keyring_add_kek(omni_keyring_t *kr, char *err);
int omni_keyring_add_index(omni_keyring_t *kr, char *err);

/* Drops an old version (never the newest); -1 when there is none such. */
int omni_keyring_drop_kek(omni_keyring_t *kr, uint32_t version);
int omni_keyring_drop_index(omni_keyring_t *kr, uint32_t version);

/* The newest KEK and index key: what seals and indexes new data. */
const omni_keyring_key_t *omni_keyring_kek(const omni_keyring_t *kr);
const omni_keyring_key_t *omni_keyring_index(const omni_keyring_t *kr);

/* A version of either kind; NULL when the keyring does not have it. */
const omni_keyring_key_t *omni_keyring_kek_version(const omni_keyring_t *kr,
    uint32_t version);
const omni_keyring_key_t *omni_keyring_index_version(
    const omni_keyring_t *kr, uint32_t version);

/* The id in hex, 32 digits and a NUL. */
void omni_keyring_id_hex(const omni_keyring_t *kr, char *out);

void omni_keyring_free(omni_keyring_t *kr);


#endif /* OMNI_KEYRING_H_INCLUDED_ */
