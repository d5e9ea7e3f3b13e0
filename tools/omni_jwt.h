/*
 * Copyright (C) The omni gateway authors
 *
 * omni-jwt (tools/omni_jwt.c): what its files share.  omni_jwt.c has the
 * command line, the helpers and "mint"; omni_jwt_jwks.c has "jwks".
 */

#ifndef OMNI_JWT_TOOL_H_INCLUDED_
#define OMNI_JWT_TOOL_H_INCLUDED_


#include <stddef.h>
#include <stdio.h>

#include <jwt.h>
#include <openssl/evp.h>


#define OMNI_JWT_EXIT_OK       0
#define OMNI_JWT_EXIT_ERROR    1
#define OMNI_JWT_EXIT_USAGE    2

/* Upper bound for any key or secret file we are willing to read. */
#define OMNI_JWT_MAX_FILE      (1024 * 1024)

#define OMNI_JWT_DEFAULT_TTL   3600

/* Most tokens one "mint --count" prints. */
#define OMNI_JWT_MAX_COUNT     10000000


typedef enum {
    OMNI_JWT_KEY_NONE,
    OMNI_JWT_KEY_HMAC,
    OMNI_JWT_KEY_RSA,
    OMNI_JWT_KEY_EC
} omni_jwt_key_kind_t;


typedef struct {
    const char           *name;
    jwt_alg_t             alg;
    omni_jwt_key_kind_t   kind;
    const char           *crv;      /* required JWK curve for ES* */
} omni_jwt_alg_t;


typedef struct {
    const char  *crv;               /* JWK "crv" */
    const char  *names[3];          /* OpenSSL group name aliases */
    size_t       field_len;         /* coordinate size in bytes */
} omni_jwt_curve_t;


/* One key of a "jwks" run. */
typedef struct {
    const char  *path;
    int          secret;            /* 1: --secret-file, 0: PEM */
    const char  *kid;
    const char  *alg;
    const char  *use;
} omni_jwt_jwk_spec_t;


void omni_jwt_err(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));
void omni_jwt_free_secret(unsigned char *buf, size_t len);
int omni_jwt_is_help(const char *arg);
EVP_PKEY *omni_jwt_load_pkey(const char *path, const unsigned char *buf,
    size_t len, int want_private);
int omni_jwt_opt(int argc, char **argv, int *i, const char *name,
    const char **val);
const omni_jwt_curve_t *omni_jwt_pkey_curve(EVP_PKEY *pkey);
int omni_jwt_read_file(const char *path, unsigned char **out, size_t *out_len);
void omni_jwt_usage(FILE *fp);
int omni_jwt_usage_err(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));
int omni_jwt_jwks(int argc, char **argv);


#endif /* OMNI_JWT_TOOL_H_INCLUDED_ */
