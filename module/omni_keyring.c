/*
 * Copyright (C) The omni gateway authors
 *
 * The keyring file (omni_keyring.h): loading it with its permission and
 * format checks, generating, saving atomically, adding and dropping
 * versions.
 */


#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "omni_base64.h"
#include "omni_keyring.h"


#define OMNI_KEYRING_FILE_MAX   (64 * 1024)


static int omni_keyring_read(const char *path, char *buf, size_t *len,
    char *err);
static int omni_keyring_list(json_t *list, const char *name,
    omni_keyring_key_t *keys, size_t *n, const char *path, char *err);
static int omni_keyring_add(omni_keyring_key_t *keys, size_t *n, char *err);
static int omni_keyring_drop(omni_keyring_key_t *keys, size_t *n,
    uint32_t version);
static json_t *omni_keyring_json_list(const omni_keyring_key_t *keys,
    size_t n);
static const omni_keyring_key_t *omni_keyring_find(
    const omni_keyring_key_t *keys, size_t n, uint32_t version);
static int omni_keyring_fail(char *err, const char *fmt, ...);


int
omni_keyring_load(const char *path, omni_keyring_t **krp, char *err)
{
    int              hex;
    char             buf[OMNI_KEYRING_FILE_MAX], id[2 * OMNI_KEYRING_ID_LEN];
    size_t           len = 0, i;
    json_t          *doc, *v;
    json_error_t     jerr;
    const char      *s;
    omni_keyring_t  *kr;

    *krp = NULL;

    if (omni_keyring_read(path, buf, &len, err) != 0) {
        return -1;
    }

    doc = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &jerr);
    OPENSSL_cleanse(buf, len);

    if (doc == NULL) {
        return omni_keyring_fail(err, "keyring \"%s\" is not JSON: %s at "
                                 "line %d", path, jerr.text, jerr.line);
    }

    kr = calloc(1, sizeof(omni_keyring_t));
    if (kr == NULL) {
        json_decref(doc);
        return omni_keyring_fail(err, "out of memory");
    }

    v = json_object_get(doc, "format");

    if (!json_is_string(v)
        || strcmp(json_string_value(v), OMNI_KEYRING_FORMAT) != 0)
    {
        omni_keyring_fail(err, "keyring \"%s\" is not in the format "
                          "\"" OMNI_KEYRING_FORMAT "\"", path);
        goto failed;
    }

    v = json_object_get(doc, "id");
    s = json_string_value(v);

    if (s == NULL || strlen(s) != sizeof(id)) {
        omni_keyring_fail(err, "keyring \"%s\" has no id of %d hex digits",
                          path, (int) sizeof(id));
        goto failed;
    }

    for (i = 0; i < sizeof(id); i++) {
        hex = (s[i] >= '0' && s[i] <= '9') ? s[i] - '0'
              : (s[i] >= 'a' && s[i] <= 'f') ? s[i] - 'a' + 10 : -1;

        if (hex < 0) {
            omni_keyring_fail(err, "keyring \"%s\" has an id that is not "
                              "lowercase hex", path);
            goto failed;
        }

        kr->id[i / 2] = (unsigned char) (kr->id[i / 2] << 4 | hex);
    }

    if (omni_keyring_list(json_object_get(doc, "kek"), "kek", kr->kek,
                          &kr->nkek, path, err)
        != 0
        || omni_keyring_list(json_object_get(doc, "index"), "index",
                             kr->index, &kr->nindex, path, err)
           != 0)
    {
        goto failed;
    }

    if (json_object_size(doc) != 4) {
        omni_keyring_fail(err, "keyring \"%s\" has members other than "
                          "format, id, kek and index", path);
        goto failed;
    }

    json_decref(doc);
    *krp = kr;

    return 0;

failed:

    /* the keys parsed so far are wiped with the rest */
    json_decref(doc);
    omni_keyring_free(kr);

    return -1;
}


int
omni_keyring_generate(omni_keyring_t **krp, char *err)
{
    omni_keyring_t  *kr;

    *krp = NULL;

    kr = calloc(1, sizeof(omni_keyring_t));
    if (kr == NULL) {
        return omni_keyring_fail(err, "out of memory");
    }

    if (RAND_bytes(kr->id, OMNI_KEYRING_ID_LEN) != 1
        || omni_keyring_add_kek(kr, err) != 0
        || omni_keyring_add_index(kr, err) != 0)
    {
        omni_keyring_free(kr);
        return omni_keyring_fail(err, "no random bytes for a keyring");
    }

    *krp = kr;

    return 0;
}


int
omni_keyring_save(const omni_keyring_t *kr, const char *path, int group_read,
    char *err)
{
    int      fd, rc;
    char     id[2 * OMNI_KEYRING_ID_LEN + 1], *text, tmp[4096];
    size_t   len;
    json_t  *doc;

    if (strlen(path) + sizeof(".tmp") > sizeof(tmp)) {
        return omni_keyring_fail(err, "keyring path \"%s\" is too long",
                                 path);
    }

    omni_keyring_id_hex(kr, id);

    doc = json_pack("{s:s, s:s, s:o, s:o}", "format", OMNI_KEYRING_FORMAT,
                    "id", id, "kek",
                    omni_keyring_json_list(kr->kek, kr->nkek),
                    "index", omni_keyring_json_list(kr->index, kr->nindex));
    if (doc == NULL) {
        return omni_keyring_fail(err, "out of memory");
    }

    text = json_dumps(doc, JSON_INDENT(2) | JSON_SORT_KEYS);
    json_decref(doc);

    if (text == NULL) {
        return omni_keyring_fail(err, "out of memory");
    }

    len = strlen(text);
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);

    fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
              group_read ? 0640 : 0600);

    rc = -1;

    if (fd == -1) {
        omni_keyring_fail(err, "cannot create \"%s\": %s", tmp,
                          strerror(errno));

    } else if (write(fd, text, len) != (ssize_t) len
               || write(fd, "\n", 1) != 1 || fsync(fd) != 0)
    {
        omni_keyring_fail(err, "cannot write \"%s\": %s", tmp,
                          strerror(errno));
        close(fd);
        unlink(tmp);

    } else if (close(fd) != 0 || rename(tmp, path) != 0) {
        omni_keyring_fail(err, "cannot put the keyring at \"%s\": %s", path,
                          strerror(errno));
        unlink(tmp);

    } else {
        rc = 0;
    }

    OPENSSL_cleanse(text, len);
    free(text);

    return rc;
}


int
omni_keyring_add_kek(omni_keyring_t *kr, char *err)
{
    return omni_keyring_add(kr->kek, &kr->nkek, err);
}


int
omni_keyring_add_index(omni_keyring_t *kr, char *err)
{
    return omni_keyring_add(kr->index, &kr->nindex, err);
}


int
omni_keyring_drop_kek(omni_keyring_t *kr, uint32_t version)
{
    return omni_keyring_drop(kr->kek, &kr->nkek, version);
}


int
omni_keyring_drop_index(omni_keyring_t *kr, uint32_t version)
{
    return omni_keyring_drop(kr->index, &kr->nindex, version);
}


const omni_keyring_key_t *
omni_keyring_kek(const omni_keyring_t *kr)
{
    return &kr->kek[kr->nkek - 1];
}


const omni_keyring_key_t *
omni_keyring_index(const omni_keyring_t *kr)
{
    return &kr->index[kr->nindex - 1];
}


const omni_keyring_key_t *
omni_keyring_kek_version(const omni_keyring_t *kr, uint32_t version)
{
    return omni_keyring_find(kr->kek, kr->nkek, version);
}


const omni_keyring_key_t *
omni_keyring_index_version(const omni_keyring_t *kr, uint32_t version)
{
    return omni_keyring_find(kr->index, kr->nindex, version);
}


void
omni_keyring_id_hex(const omni_keyring_t *kr, char *out)
{
    size_t  i;

    for (i = 0; i < OMNI_KEYRING_ID_LEN; i++) {
        snprintf(out + 2 * i, 3, "%02x", kr->id[i]);
    }
}


void
omni_keyring_free(omni_keyring_t *kr)
{
    if (kr == NULL) {
        return;
    }

    OPENSSL_cleanse(kr, sizeof(omni_keyring_t));
    free(kr);
}


/*
 * The file as its owner keeps it: a regular file (not a link someone
 * could point elsewhere) that no other user may read and only its owner
 * may write.
 */

static int
omni_keyring_read(const char *path, char *buf, size_t *len, char *err)
{
    int          fd;
    ssize_t      n;
    struct stat  st;

    fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd == -1) {
        return omni_keyring_fail(err, "cannot open keyring \"%s\": %s", path,
                                 errno == ELOOP ? "a symbolic link"
                                                : strerror(errno));
    }

    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return omni_keyring_fail(err, "keyring \"%s\" is not a regular "
                                 "file", path);
    }

    if (st.st_mode & (S_IRWXO | S_IWGRP)) {
        close(fd);
        return omni_keyring_fail(err, "keyring \"%s\" has mode %04o: others "
                                 "may %s it (chmod 600, or 640 for a group "
                                 "that needs it)", path,
                                 (unsigned) (st.st_mode & 07777),
                                 (st.st_mode & S_IRWXO) ? "use" : "write");
    }

    if (st.st_size > OMNI_KEYRING_FILE_MAX) {
        close(fd);
        return omni_keyring_fail(err, "keyring \"%s\" is larger than %d "
                                 "bytes", path, OMNI_KEYRING_FILE_MAX);
    }

    n = read(fd, buf, OMNI_KEYRING_FILE_MAX);
    close(fd);

    if (n < 0) {
        return omni_keyring_fail(err, "cannot read keyring \"%s\": %s", path,
                                 strerror(errno));
    }

    *len = (size_t) n;

    return 0;
}


/* [{"version": N, "key": "..."}, ...]: versions from 1, growing */

static int
omni_keyring_list(json_t *list, const char *name, omni_keyring_key_t *keys,
    size_t *n, const char *path, char *err)
{
    long            len;
    size_t          i;
    json_t         *item, *version, *key;
    const char     *text;
    json_int_t      v;
    unsigned char   raw[omni_base64_decoded_len(64)];

    if (!json_is_array(list) || json_array_size(list) == 0
        || json_array_size(list) > OMNI_KEYRING_VERSIONS)
    {
        return omni_keyring_fail(err, "keyring \"%s\": \"%s\" must list 1 "
                                 "to %d keys", path, name,
                                 OMNI_KEYRING_VERSIONS);
    }

    json_array_foreach(list, i, item) {
        version = json_object_get(item, "version");
        key = json_object_get(item, "key");

        if (!json_is_object(item) || json_object_size(item) != 2
            || !json_is_integer(version) || !json_is_string(key))
        {
            return omni_keyring_fail(err, "keyring \"%s\": %s[%zu] must be "
                                     "{\"version\": N, \"key\": \"...\"}",
                                     path, name, i);
        }

        v = json_integer_value(version);

        if (v < 1 || v > UINT32_MAX
            || (i > 0 && (uint32_t) v <= keys[i - 1].version))
        {
            return omni_keyring_fail(err, "keyring \"%s\": %s[%zu] has "
                                     "version %lld: versions start at 1 and "
                                     "grow", path, name, i, (long long) v);
        }

        text = json_string_value(key);

        len = (strlen(text) <= 64)
              ? omni_base64url_decode(raw, text, strlen(text)) : -1;

        if (len != OMNI_KEYRING_KEY_LEN) {
            OPENSSL_cleanse(raw, sizeof(raw));
            return omni_keyring_fail(err, "keyring \"%s\": %s version %lld "
                                     "is not %d bytes in base64url", path,
                                     name, (long long) v,
                                     OMNI_KEYRING_KEY_LEN);
        }

        keys[i].version = (uint32_t) v;
        memcpy(keys[i].key, raw, OMNI_KEYRING_KEY_LEN);
        OPENSSL_cleanse(raw, sizeof(raw));
    }

    *n = json_array_size(list);

    return 0;
}


static int
omni_keyring_add(omni_keyring_key_t *keys, size_t *n, char *err)
{
    uint32_t  version;

    if (*n == OMNI_KEYRING_VERSIONS) {
        return omni_keyring_fail(err, "the keyring holds %d versions "
                                 "already: drop old ones first",
                                 OMNI_KEYRING_VERSIONS);
    }

    version = *n ? keys[*n - 1].version : 0;

    if (version == UINT32_MAX) {
        return omni_keyring_fail(err, "no version number is left");
    }

    if (RAND_bytes(keys[*n].key, OMNI_KEYRING_KEY_LEN) != 1) {
        return omni_keyring_fail(err, "no random bytes for a key");
    }

    keys[*n].version = version + 1;
    (*n)++;

    return 0;
}


static int
omni_keyring_drop(omni_keyring_key_t *keys, size_t *n, uint32_t version)
{
    size_t  i;

    for (i = 0; i + 1 < *n; i++) {
        if (keys[i].version == version) {
            memmove(&keys[i], &keys[i + 1],
                    (*n - i - 1) * sizeof(omni_keyring_key_t));
            (*n)--;
            OPENSSL_cleanse(&keys[*n], sizeof(omni_keyring_key_t));
            return 0;
        }
    }

    return -1;
}


static json_t *
omni_keyring_json_list(const omni_keyring_key_t *keys, size_t n)
{
    char     text[omni_base64_encoded_len(OMNI_KEYRING_KEY_LEN) + 1];
    size_t   i, len;
    json_t  *list, *item;

    list = json_array();
    if (list == NULL) {
        return NULL;
    }

    for (i = 0; i < n; i++) {
        len = omni_base64url_encode(text, keys[i].key, OMNI_KEYRING_KEY_LEN);
        text[len] = '\0';

        item = json_pack("{s:I, s:s}", "version", (json_int_t) keys[i].version,
                         "key", text);
        OPENSSL_cleanse(text, sizeof(text));

        if (item == NULL || json_array_append_new(list, item) != 0) {
            json_decref(list);
            return NULL;
        }
    }

    return list;
}


static const omni_keyring_key_t *
omni_keyring_find(const omni_keyring_key_t *keys, size_t n, uint32_t version)
{
    size_t  i;

    for (i = 0; i < n; i++) {
        if (keys[i].version == version) {
            return &keys[i];
        }
    }

    return NULL;
}


static int
omni_keyring_fail(char *err, const char *fmt, ...)
{
    va_list  args;

    va_start(args, fmt);
    omni_verr(err, fmt, args);
    va_end(args);

    return -1;
}
