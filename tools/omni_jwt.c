/*
 * omni-jwt: mint JSON Web Tokens and convert PEM keys to a JWKS.
 *
 * A command line helper for the omni gateway test suite and for operators.
 * Tokens are produced with libjwt; keys are inspected with OpenSSL 3 EVP
 * APIs; JSON is handled with jansson.
 *
 *   omni-jwt mint --alg ALG [--key FILE] [options]
 *   omni-jwt jwks [--kid KID] [--alg ALG] [--use USE] PEM ...
 *                 [--secret-file FILE] ...
 *
 * Secrets and private keys are never printed.  The one exception is by
 * request: "jwks --secret-file" publishes the given symmetric secret as an
 * "oct" key, which is the whole point of that option.
 *
 * Exit status: 0 success, 1 runtime error, 2 usage error.
 */

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <jwt.h>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>

#include "omni_base64.h"

#include "omni_jwt.h"


static const omni_jwt_alg_t  omni_jwt_algs[] = {
    { "none",  JWT_ALG_NONE,  OMNI_JWT_KEY_NONE, NULL },
    { "HS256", JWT_ALG_HS256, OMNI_JWT_KEY_HMAC, NULL },
    { "HS384", JWT_ALG_HS384, OMNI_JWT_KEY_HMAC, NULL },
    { "HS512", JWT_ALG_HS512, OMNI_JWT_KEY_HMAC, NULL },
    { "RS256", JWT_ALG_RS256, OMNI_JWT_KEY_RSA,  NULL },
    { "RS384", JWT_ALG_RS384, OMNI_JWT_KEY_RSA,  NULL },
    { "RS512", JWT_ALG_RS512, OMNI_JWT_KEY_RSA,  NULL },
    { "ES256", JWT_ALG_ES256, OMNI_JWT_KEY_EC,   "P-256" },
    { "ES384", JWT_ALG_ES384, OMNI_JWT_KEY_EC,   "P-384" },
    { "ES512", JWT_ALG_ES512, OMNI_JWT_KEY_EC,   "P-521" },
    { NULL,    JWT_ALG_INVAL, OMNI_JWT_KEY_NONE, NULL }
};


static const omni_jwt_curve_t  omni_jwt_curves[] = {
    { "P-256", { "prime256v1", "secp256r1", "P-256" }, 32 },
    { "P-384", { "secp384r1",  "P-384",     NULL    }, 48 },
    { "P-521", { "secp521r1",  "P-521",     NULL    }, 66 },
    { NULL,    { NULL,         NULL,        NULL    }, 0 }
};


/* Claim and header operations of "mint", applied in command line order. */
typedef enum {
    OMNI_JWT_OP_SUB,
    OMNI_JWT_OP_ISS,
    OMNI_JWT_OP_AUD,
    OMNI_JWT_OP_JTI,
    OMNI_JWT_OP_ROLES,
    OMNI_JWT_OP_TTL,
    OMNI_JWT_OP_EXP,
    OMNI_JWT_OP_NO_EXP,
    OMNI_JWT_OP_NBF,
    OMNI_JWT_OP_IAT,
    OMNI_JWT_OP_NO_IAT,
    OMNI_JWT_OP_CLAIM,
    OMNI_JWT_OP_CLAIM_JSON,
    OMNI_JWT_OP_KID,
    OMNI_JWT_OP_HEADER_JSON
} omni_jwt_op_kind_t;


typedef struct {
    omni_jwt_op_kind_t   kind;
    const char          *opt;       /* option name, for messages */
    const char          *val;
} omni_jwt_op_t;


static const char  omni_jwt_usage_text[] =
"Usage:\n"
"  omni-jwt mint --alg ALG [--key FILE] [options]\n"
"  omni-jwt jwks [--kid KID] [--alg ALG] [--use USE] PEMFILE ...\n"
"                [--kid KID] [--secret-file FILE] ...\n"
"  omni-jwt --help | -h | help\n"
"\n"
"mint: print a signed JWT (compact serialization) and a newline.\n"
"  --alg ALG               HS256 HS384 HS512 RS256 RS384 RS512 ES256\n"
"                          ES384 ES512, or none (unsigned, no --key)\n"
"  --key FILE              HS*: the whole file, byte for byte, is the\n"
"                          secret (a trailing newline is part of it);\n"
"                          RS*/ES*: unencrypted PEM private key\n"
"  --sub S, --iss S, --jti S\n"
"                          string claims\n"
"  --aud S                 audience; repeat it to get a JSON array\n"
"  --roles A,B,...         claim \"roles\" as a JSON array of strings\n"
"  --ttl SECONDS           exp = now + SECONDS (default 3600)\n"
"  --exp T                 exp = T (may be in the past)\n"
"  --no-exp                omit exp\n"
"  --nbf T                 set nbf\n"
"  --iat T                 set iat (default: now)\n"
"  --no-iat                omit iat\n"
"  --claim NAME=STRING     add a string claim (repeatable)\n"
"  --claim-json NAME=JSON  add a claim with any JSON value (repeatable)\n"
"  --kid KID               set the \"kid\" header\n"
"  --header-json NAME=JSON\n"
"                          add a header with any JSON value (repeatable);\n"
"                          libjwt always sets \"alg\" itself, and sets\n"
"                          \"typ\" to \"JWT\" unless ALG is none\n"
"  --now EPOCH             pretend the current time is EPOCH\n"
"  --count N               print N tokens, one a line, that differ only by\n"
"                          \"jti\": JTI-1 ... JTI-N, where JTI is the jti\n"
"                          claim given (a string), else 16 random hex digits\n"
"  T is an absolute epoch, or +S / -S seconds relative to now.\n"
"  Claim and header options apply in order; later ones override earlier\n"
"  ones, including the built-in exp and iat.\n"
"\n"
"jwks: print a JSON Web Key Set {\"keys\":[...]} for the given keys.\n"
"  PEMFILE                 RSA or EC (P-256, P-384, P-521) public key;\n"
"                          a private key PEM is accepted and only its\n"
"                          public part is exported\n"
"  --secret-file FILE      add an \"oct\" key holding the file's raw bytes\n"
"  --kid KID, --alg ALG, --use USE\n"
"                          set on the next key only\n"
"\n"
"Exit status: 0 success, 1 runtime error, 2 usage error.\n";


void
omni_jwt_usage(FILE *fp)
{
    fputs(omni_jwt_usage_text, fp);
}


void
omni_jwt_err(const char *fmt, ...)
{
    va_list  ap;

    fputs("omni-jwt: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}


int
omni_jwt_usage_err(const char *fmt, ...)
{
    va_list  ap;

    fputs("omni-jwt: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputs("\nTry 'omni-jwt --help' for more information.\n", stderr);

    return OMNI_JWT_EXIT_USAGE;
}


/*
 * Match argv[*i] against a value-taking option NAME, given either as
 * "NAME VALUE" or "NAME=VALUE".  Returns 1 and sets *val on a match
 * (advancing *i past a separate value), 0 if argv[*i] is another option,
 * -1 if the value is missing.
 */
int
omni_jwt_opt(int argc, char **argv, int *i, const char *name,
    const char **val)
{
    size_t       n;
    const char  *arg;

    arg = argv[*i];
    n = strlen(name);

    if (strncmp(arg, name, n) != 0) {
        return 0;
    }

    if (arg[n] == '=') {
        *val = arg + n + 1;
        return 1;
    }

    if (arg[n] != '\0') {
        return 0;
    }

    if (*i + 1 >= argc) {
        omni_jwt_usage_err("option %s requires a value", name);
        return -1;
    }

    (*i)++;
    *val = argv[*i];

    return 1;
}


int
omni_jwt_is_help(const char *arg)
{
    return strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0;
}


/* Read a whole file; the buffer gets an extra NUL that is not counted. */
int
omni_jwt_read_file(const char *path, unsigned char **out, size_t *out_len)
{
    FILE           *fp;
    size_t          len, cap, n;
    unsigned char  *buf, *nbuf;

    *out = NULL;
    *out_len = 0;

    fp = fopen(path, "rb");
    if (fp == NULL) {
        omni_jwt_err("cannot open \"%s\": %s", path, strerror(errno));
        return -1;
    }

    cap = 4096;
    len = 0;
    buf = malloc(cap);
    if (buf == NULL) {
        omni_jwt_err("out of memory");
        fclose(fp);
        return -1;
    }

    for ( ;; ) {
        if (cap - len < 2) {
            if (cap >= OMNI_JWT_MAX_FILE) {
                omni_jwt_err("\"%s\" is too large (limit %d bytes)", path,
                             OMNI_JWT_MAX_FILE);
                goto failed;
            }

            nbuf = malloc(cap * 2);
            if (nbuf == NULL) {
                omni_jwt_err("out of memory");
                goto failed;
            }

            memcpy(nbuf, buf, len);
            OPENSSL_cleanse(buf, cap);
            free(buf);
            buf = nbuf;
            cap *= 2;
        }

        n = fread(buf + len, 1, cap - len - 1, fp);
        len += n;

        if (n == 0) {
            if (ferror(fp)) {
                omni_jwt_err("cannot read \"%s\": %s", path,
                             strerror(errno));
                goto failed;
            }
            break;
        }
    }

    fclose(fp);

    buf[len] = '\0';
    *out = buf;
    *out_len = len;

    return 0;

failed:

    OPENSSL_cleanse(buf, cap);
    free(buf);
    fclose(fp);

    return -1;
}


void
omni_jwt_free_secret(unsigned char *buf, size_t len)
{
    if (buf != NULL) {
        OPENSSL_cleanse(buf, len);
        free(buf);
    }
}


static int
omni_jwt_parse_ll(const char *s, long long *out)
{
    char       *end;
    long long   v;

    if (*s != '+' && *s != '-' && (*s < '0' || *s > '9')) {
        return -1;
    }

    errno = 0;
    v = strtoll(s, &end, 10);

    if (errno != 0 || end == s || *end != '\0') {
        return -1;
    }

    *out = v;

    return 0;
}


static int
omni_jwt_add_ll(long long a, long long b, long long *out)
{
    if ((b > 0 && a > LLONG_MAX - b) || (b < 0 && a < LLONG_MIN - b)) {
        return -1;
    }

    *out = a + b;

    return 0;
}


/* An absolute epoch, or "+S" / "-S" seconds relative to now. */
static int
omni_jwt_parse_time(const char *opt, const char *s, long long now,
    long long *out)
{
    long long  v;

    if (omni_jwt_parse_ll(s, &v) != 0) {
        omni_jwt_usage_err("%s: \"%s\" is not an integer", opt, s);
        return -1;
    }

    if (*s == '+' || *s == '-') {
        if (omni_jwt_add_ll(now, v, &v) != 0) {
            omni_jwt_usage_err("%s: \"%s\" is out of range", opt, s);
            return -1;
        }
    }

    *out = v;

    return 0;
}


/* Split "NAME=VALUE"; *name is allocated, *value points into arg. */
static int
omni_jwt_split_assign(const char *opt, const char *arg, char **name,
    const char **value)
{
    const char  *eq;
    size_t       n;

    eq = strchr(arg, '=');
    if (eq == NULL || eq == arg) {
        omni_jwt_usage_err("%s: expected NAME=VALUE, got \"%s\"", opt, arg);
        return OMNI_JWT_EXIT_USAGE;
    }

    n = (size_t) (eq - arg);

    *name = malloc(n + 1);
    if (*name == NULL) {
        omni_jwt_err("out of memory");
        return OMNI_JWT_EXIT_ERROR;
    }

    memcpy(*name, arg, n);
    (*name)[n] = '\0';
    *value = eq + 1;

    return OMNI_JWT_EXIT_OK;
}


static int
omni_jwt_set(json_t *obj, const char *name, json_t *val, const char *opt)
{
    if (val == NULL) {
        omni_jwt_usage_err("%s: value is not valid UTF-8 (or out of memory)",
                           opt);
        return OMNI_JWT_EXIT_USAGE;
    }

    if (json_object_set_new(obj, name, val) != 0) {
        omni_jwt_usage_err("%s: cannot set \"%s\" (name must be UTF-8)",
                           opt, name);
        return OMNI_JWT_EXIT_USAGE;
    }

    return OMNI_JWT_EXIT_OK;
}


static json_t *
omni_jwt_roles(const char *list)
{
    json_t      *arr, *s;
    const char  *p, *comma;

    arr = json_array();
    if (arr == NULL) {
        return NULL;
    }

    p = list;

    while (*p != '\0') {
        comma = strchr(p, ',');
        if (comma == NULL) {
            comma = p + strlen(p);
        }

        if (comma != p) {
            s = json_stringn(p, (size_t) (comma - p));
            if (s == NULL || json_array_append_new(arr, s) != 0) {
                json_decref(arr);
                return NULL;
            }
        }

        p = (*comma == ',') ? comma + 1 : comma;
    }

    return arr;
}


static int
omni_jwt_apply_json(const omni_jwt_op_t *op, json_t *obj, int header,
    jwt_alg_t alg)
{
    int            rc;
    char          *name;
    const char    *text;
    json_t        *val;
    json_error_t   jerr;

    rc = omni_jwt_split_assign(op->opt, op->val, &name, &text);
    if (rc != OMNI_JWT_EXIT_OK) {
        return rc;
    }

    if (header && strcmp(name, "alg") == 0) {
        free(name);
        return omni_jwt_usage_err("%s: the \"alg\" header is always set by "
                                  "libjwt and cannot be overridden", op->opt);
    }

    val = json_loads(text, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &jerr);
    if (val == NULL) {
        rc = omni_jwt_usage_err("%s %s: invalid JSON: %s (column %d)",
                                op->opt, name, jerr.text, jerr.column);
        free(name);
        return rc;
    }

    if (header && alg != JWT_ALG_NONE && strcmp(name, "typ") == 0) {
        json_decref(val);
        free(name);
        return omni_jwt_usage_err("%s: libjwt always sets the \"typ\" header "
                                  "of signed tokens to \"JWT\"; it can only "
                                  "be changed with --alg none", op->opt);
    }

    rc = omni_jwt_set(obj, name, val, op->opt);
    free(name);

    return rc;
}


static int
omni_jwt_apply_op(const omni_jwt_op_t *op, json_t *claims, json_t *headers,
    json_t *auds, long long now, jwt_alg_t alg)
{
    int          rc;
    char        *name;
    const char  *text, *cname;
    long long    t;
    json_t      *val;

    switch (op->kind) {

    case OMNI_JWT_OP_SUB:
        return omni_jwt_set(claims, "sub", json_string(op->val), op->opt);

    case OMNI_JWT_OP_ISS:
        return omni_jwt_set(claims, "iss", json_string(op->val), op->opt);

    case OMNI_JWT_OP_JTI:
        return omni_jwt_set(claims, "jti", json_string(op->val), op->opt);

    case OMNI_JWT_OP_AUD:
        val = json_string(op->val);
        if (val == NULL || json_array_append_new(auds, val) != 0) {
            return omni_jwt_usage_err("%s: value is not valid UTF-8",
                                      op->opt);
        }

        if (json_array_size(auds) == 1) {
            val = json_string(op->val);
        } else {
            val = json_deep_copy(auds);
        }

        return omni_jwt_set(claims, "aud", val, op->opt);

    case OMNI_JWT_OP_ROLES:
        return omni_jwt_set(claims, "roles", omni_jwt_roles(op->val),
                            op->opt);

    case OMNI_JWT_OP_TTL:
        if (omni_jwt_parse_ll(op->val, &t) != 0
            || omni_jwt_add_ll(now, t, &t) != 0)
        {
            return omni_jwt_usage_err("%s: \"%s\" is not a valid number of "
                                      "seconds", op->opt, op->val);
        }

        return omni_jwt_set(claims, "exp", json_integer(t), op->opt);

    case OMNI_JWT_OP_EXP:
    case OMNI_JWT_OP_NBF:
    case OMNI_JWT_OP_IAT:
        if (omni_jwt_parse_time(op->opt, op->val, now, &t) != 0) {
            return OMNI_JWT_EXIT_USAGE;
        }

        cname = (op->kind == OMNI_JWT_OP_EXP) ? "exp"
                : (op->kind == OMNI_JWT_OP_NBF) ? "nbf" : "iat";

        return omni_jwt_set(claims, cname, json_integer(t), op->opt);

    case OMNI_JWT_OP_NO_EXP:
        json_object_del(claims, "exp");
        return OMNI_JWT_EXIT_OK;

    case OMNI_JWT_OP_NO_IAT:
        json_object_del(claims, "iat");
        return OMNI_JWT_EXIT_OK;

    case OMNI_JWT_OP_CLAIM:
        rc = omni_jwt_split_assign(op->opt, op->val, &name, &text);
        if (rc != OMNI_JWT_EXIT_OK) {
            return rc;
        }

        rc = omni_jwt_set(claims, name, json_string(text), op->opt);
        free(name);

        return rc;

    case OMNI_JWT_OP_CLAIM_JSON:
        return omni_jwt_apply_json(op, claims, 0, alg);

    case OMNI_JWT_OP_KID:
        return omni_jwt_set(headers, "kid", json_string(op->val), op->opt);

    case OMNI_JWT_OP_HEADER_JSON:
        return omni_jwt_apply_json(op, headers, 1, alg);
    }

    return OMNI_JWT_EXIT_OK;
}


/* Passphrase callback that refuses: never prompt on the terminal. */
static int
omni_jwt_no_passphrase(char *buf, int size, int rwflag, void *u)
{
    (void) buf;
    (void) size;
    (void) rwflag;
    (void) u;

    return -1;
}


/*
 * Load a key from PEM bytes.  With want_private the file must hold a
 * private key; otherwise a public key is tried first, then a private one.
 * On failure an error naming path is printed and NULL returned.
 */
EVP_PKEY *
omni_jwt_load_pkey(const char *path, const unsigned char *buf, size_t len,
    int want_private)
{
    BIO       *bio;
    EVP_PKEY  *pkey;
    int        is_public;

    if (len > INT_MAX) {
        omni_jwt_err("\"%s\" is too large", path);
        return NULL;
    }

    pkey = NULL;
    is_public = 0;

    if (!want_private) {
        bio = BIO_new_mem_buf(buf, (int) len);
        if (bio == NULL) {
            omni_jwt_err("out of memory");
            return NULL;
        }

        pkey = PEM_read_bio_PUBKEY(bio, NULL, omni_jwt_no_passphrase, NULL);
        BIO_free(bio);
        ERR_clear_error();

        if (pkey != NULL) {
            return pkey;
        }
    }

    bio = BIO_new_mem_buf(buf, (int) len);
    if (bio == NULL) {
        omni_jwt_err("out of memory");
        return NULL;
    }

    pkey = PEM_read_bio_PrivateKey(bio, NULL, omni_jwt_no_passphrase, NULL);
    BIO_free(bio);
    ERR_clear_error();

    if (pkey != NULL) {
        return pkey;
    }

    if (want_private) {
        bio = BIO_new_mem_buf(buf, (int) len);
        if (bio == NULL) {
            omni_jwt_err("out of memory");
            return NULL;
        }

        pkey = PEM_read_bio_PUBKEY(bio, NULL, omni_jwt_no_passphrase, NULL);
        BIO_free(bio);
        ERR_clear_error();

        if (pkey != NULL) {
            is_public = 1;
            EVP_PKEY_free(pkey);
        }
    }

    if (is_public) {
        omni_jwt_err("\"%s\" holds a public key; signing needs a PEM "
                     "private key", path);

    } else if (strstr((const char *) buf, "ENCRYPTED") != NULL) {
        omni_jwt_err("\"%s\": encrypted private keys are not supported",
                     path);

    } else {
        omni_jwt_err("\"%s\": no usable PEM %skey found", path,
                     want_private ? "private " : "public or private ");
    }

    return NULL;
}


const omni_jwt_curve_t *
omni_jwt_pkey_curve(EVP_PKEY *pkey)
{
    char                     name[80];
    size_t                   n, j;
    const omni_jwt_curve_t  *c;

    if (!EVP_PKEY_get_utf8_string_param(pkey, OSSL_PKEY_PARAM_GROUP_NAME,
                                        name, sizeof(name), &n))
    {
        ERR_clear_error();
        return NULL;
    }

    for (c = omni_jwt_curves; c->crv != NULL; c++) {
        for (j = 0; j < sizeof(c->names) / sizeof(c->names[0]); j++) {
            if (c->names[j] != NULL && strcmp(c->names[j], name) == 0) {
                return c;
            }
        }
    }

    return NULL;
}


/* Check that a PEM private key fits the algorithm before libjwt sees it. */
static int
omni_jwt_check_key(const char *path, const unsigned char *buf, size_t len,
    const omni_jwt_alg_t *a)
{
    int                      rc;
    EVP_PKEY                *pkey;
    const omni_jwt_curve_t  *c;

    pkey = omni_jwt_load_pkey(path, buf, len, 1);
    if (pkey == NULL) {
        return OMNI_JWT_EXIT_ERROR;
    }

    rc = OMNI_JWT_EXIT_OK;

    if (a->kind == OMNI_JWT_KEY_RSA) {
        if (EVP_PKEY_get_id(pkey) != EVP_PKEY_RSA) {
            omni_jwt_err("\"%s\" is not an RSA private key; %s needs one",
                         path, a->name);
            rc = OMNI_JWT_EXIT_ERROR;
        }

    } else {
        if (EVP_PKEY_get_id(pkey) != EVP_PKEY_EC) {
            omni_jwt_err("\"%s\" is not an EC private key; %s needs one",
                         path, a->name);
            rc = OMNI_JWT_EXIT_ERROR;

        } else {
            c = omni_jwt_pkey_curve(pkey);

            if (c == NULL || strcmp(c->crv, a->crv) != 0) {
                omni_jwt_err("\"%s\" is an EC key on curve %s; %s needs %s",
                             path, c ? c->crv : "(unsupported)", a->name,
                             a->crv);
                rc = OMNI_JWT_EXIT_ERROR;
            }
        }
    }

    EVP_PKEY_free(pkey);

    return rc;
}


/*
 * What "mint --count" numbers its tokens' jti with: the string jti the
 * options set, else 16 random hex digits.  Allocated; NULL on failure.
 */
static char *
omni_jwt_jti_base(json_t *claims)
{
    size_t          k;
    char           *base;
    const char     *jti;
    unsigned char   rnd[8];

    jti = json_string_value(json_object_get(claims, "jti"));
    if (jti != NULL) {
        return strdup(jti);
    }

    if (RAND_bytes(rnd, sizeof(rnd)) != 1) {
        return NULL;
    }

    base = malloc(2 * sizeof(rnd) + 1);
    if (base == NULL) {
        return NULL;
    }

    for (k = 0; k < sizeof(rnd); k++) {
        snprintf(base + 2 * k, 3, "%02x", rnd[k]);
    }

    return base;
}


static int
omni_jwt_mint(int argc, char **argv)
{
    int                    i, r, rc;
    const char            *val, *alg_name, *key_path, *now_str, *count_str;
    const omni_jwt_alg_t  *a;
    omni_jwt_op_t         *ops;
    size_t                 nops, k, key_len;
    long long              now, t, count, n;
    unsigned char         *key;
    json_t                *claims, *headers, *auds;
    char                  *text, *token, *jti_base, *jti;
    jwt_t                 *jwt;

    struct {
        const char          *name;
        omni_jwt_op_kind_t   kind;
        int                  has_value;
    } const table[] = {
        { "--sub",         OMNI_JWT_OP_SUB,         1 },
        { "--iss",         OMNI_JWT_OP_ISS,         1 },
        { "--aud",         OMNI_JWT_OP_AUD,         1 },
        { "--jti",         OMNI_JWT_OP_JTI,         1 },
        { "--roles",       OMNI_JWT_OP_ROLES,       1 },
        { "--ttl",         OMNI_JWT_OP_TTL,         1 },
        { "--exp",         OMNI_JWT_OP_EXP,         1 },
        { "--no-exp",      OMNI_JWT_OP_NO_EXP,      0 },
        { "--nbf",         OMNI_JWT_OP_NBF,         1 },
        { "--iat",         OMNI_JWT_OP_IAT,         1 },
        { "--no-iat",      OMNI_JWT_OP_NO_IAT,      0 },
        { "--claim",       OMNI_JWT_OP_CLAIM,       1 },
        { "--claim-json",  OMNI_JWT_OP_CLAIM_JSON,  1 },
        { "--kid",         OMNI_JWT_OP_KID,         1 },
        { "--header-json", OMNI_JWT_OP_HEADER_JSON, 1 },
        { NULL,            OMNI_JWT_OP_SUB,         0 }
    };

    alg_name = NULL;
    key_path = NULL;
    now_str = NULL;
    count_str = NULL;
    count = 1;
    jti_base = NULL;
    jti = NULL;
    key = NULL;
    key_len = 0;
    claims = NULL;
    headers = NULL;
    auds = NULL;
    text = NULL;
    jwt = NULL;
    nops = 0;

    ops = calloc((size_t) argc + 1, sizeof(omni_jwt_op_t));
    if (ops == NULL) {
        omni_jwt_err("out of memory");
        return OMNI_JWT_EXIT_ERROR;
    }

    /* Pass 1: parse the command line, remember claim/header operations. */

    for (i = 0; i < argc; i++) {

        if (omni_jwt_is_help(argv[i])) {
            omni_jwt_usage(stdout);
            free(ops);
            return OMNI_JWT_EXIT_OK;
        }

        r = omni_jwt_opt(argc, argv, &i, "--alg", &alg_name);
        if (r == 0) {
            r = omni_jwt_opt(argc, argv, &i, "--key", &key_path);
        }
        if (r == 0) {
            r = omni_jwt_opt(argc, argv, &i, "--now", &now_str);
        }
        if (r == 0) {
            r = omni_jwt_opt(argc, argv, &i, "--count", &count_str);
        }

        for (k = 0; r == 0 && table[k].name != NULL; k++) {
            if (table[k].has_value) {
                r = omni_jwt_opt(argc, argv, &i, table[k].name, &val);

            } else if (strcmp(argv[i], table[k].name) == 0) {
                val = NULL;
                r = 1;
            }

            if (r == 1) {
                ops[nops].kind = table[k].kind;
                ops[nops].opt = table[k].name;
                ops[nops].val = val;
                nops++;
            }
        }

        if (r < 0) {
            free(ops);
            return OMNI_JWT_EXIT_USAGE;
        }

        if (r == 0) {
            free(ops);
            if (argv[i][0] == '-') {
                return omni_jwt_usage_err("mint: unknown option \"%s\"",
                                          argv[i]);
            }
            return omni_jwt_usage_err("mint: unexpected argument \"%s\"",
                                      argv[i]);
        }
    }

    rc = OMNI_JWT_EXIT_USAGE;

    if (alg_name == NULL) {
        omni_jwt_usage_err("mint: --alg is required");
        goto done;
    }

    for (a = omni_jwt_algs; a->name != NULL; a++) {
        if (strcmp(a->name, alg_name) == 0) {
            break;
        }
    }

    if (a->name == NULL) {
        omni_jwt_usage_err("mint: unknown algorithm \"%s\" (use HS256, "
                           "HS384, HS512, RS256, RS384, RS512, ES256, ES384, "
                           "ES512 or none)", alg_name);
        goto done;
    }

    if (a->kind == OMNI_JWT_KEY_NONE && key_path != NULL) {
        omni_jwt_usage_err("mint: --alg none takes no --key");
        goto done;
    }

    if (a->kind != OMNI_JWT_KEY_NONE && key_path == NULL) {
        omni_jwt_usage_err("mint: --alg %s requires --key FILE", a->name);
        goto done;
    }

    if (now_str != NULL) {
        if (omni_jwt_parse_ll(now_str, &now) != 0) {
            omni_jwt_usage_err("--now: \"%s\" is not an integer", now_str);
            goto done;
        }

    } else {
        now = (long long) time(NULL);
    }

    if (count_str != NULL
        && (omni_jwt_parse_ll(count_str, &count) != 0 || count < 1
            || count > OMNI_JWT_MAX_COUNT))
    {
        omni_jwt_usage_err("--count: \"%s\" is not a number from 1 to %d",
                           count_str, OMNI_JWT_MAX_COUNT);
        goto done;
    }

    /* Pass 2: build claims and headers in command line order. */

    rc = OMNI_JWT_EXIT_ERROR;

    claims = json_object();
    headers = json_object();
    auds = json_array();

    if (claims == NULL || headers == NULL || auds == NULL) {
        omni_jwt_err("out of memory");
        goto done;
    }

    if (omni_jwt_add_ll(now, OMNI_JWT_DEFAULT_TTL, &t) != 0) {
        omni_jwt_usage_err("--now: \"%s\" is out of range", now_str);
        rc = OMNI_JWT_EXIT_USAGE;
        goto done;
    }

    if (json_object_set_new(claims, "iat", json_integer(now)) != 0
        || json_object_set_new(claims, "exp", json_integer(t)) != 0)
    {
        omni_jwt_err("out of memory");
        goto done;
    }

    for (k = 0; k < nops; k++) {
        rc = omni_jwt_apply_op(&ops[k], claims, headers, auds, now, a->alg);
        if (rc != OMNI_JWT_EXIT_OK) {
            goto done;
        }
    }

    rc = OMNI_JWT_EXIT_ERROR;

    /* The key. */

    if (a->kind != OMNI_JWT_KEY_NONE) {
        if (omni_jwt_read_file(key_path, &key, &key_len) != 0) {
            goto done;
        }

        if (key_len == 0) {
            omni_jwt_err("key file \"%s\" is empty", key_path);
            goto done;
        }

        if (key_len > INT_MAX) {
            omni_jwt_err("key file \"%s\" is too large", key_path);
            goto done;
        }

        if (a->kind != OMNI_JWT_KEY_HMAC
            && omni_jwt_check_key(key_path, key, key_len, a) != 0)
        {
            goto done;
        }
    }

    /* Hand everything to libjwt. */

    errno = 0;
    if (jwt_new(&jwt) != 0) {
        omni_jwt_err("jwt_new() failed: %s", strerror(errno));
        jwt = NULL;
        goto done;
    }

    text = json_dumps(headers, JSON_COMPACT);
    if (text == NULL) {
        omni_jwt_err("out of memory");
        goto done;
    }

    if (json_object_size(headers) > 0) {
        r = jwt_add_headers_json(jwt, text);
        if (r != 0) {
            omni_jwt_err("cannot set token headers: %s", strerror(r));
            goto done;
        }
    }

    free(text);
    text = json_dumps(claims, JSON_COMPACT);
    if (text == NULL) {
        omni_jwt_err("out of memory");
        goto done;
    }

    if (json_object_size(claims) > 0) {
        r = jwt_add_grants_json(jwt, text);
        if (r != 0) {
            omni_jwt_err("cannot set token claims: %s", strerror(r));
            goto done;
        }
    }

    r = jwt_set_alg(jwt, a->alg, key, (int) key_len);
    if (r != 0) {
        omni_jwt_err("cannot use \"%s\" with %s: %s",
                     key_path ? key_path : "(no key)", a->name, strerror(r));
        goto done;
    }

    if (count_str != NULL) {
        jti_base = omni_jwt_jti_base(claims);
        jti = jti_base ? malloc(strlen(jti_base) + 24) : NULL;
        if (jti == NULL) {
            omni_jwt_err("cannot make the jti of --count (out of memory or "
                         "no random bytes)");
            goto done;
        }
    }

    for (n = 1; n <= count; n++) {
        if (jti != NULL) {
            sprintf(jti, "%s-%lld", jti_base, n);
            jwt_del_grants(jwt, "jti");
            r = jwt_add_grant(jwt, "jti", jti);
            if (r != 0) {
                omni_jwt_err("cannot set the jti: %s", strerror(r));
                goto done;
            }
        }

        errno = 0;
        token = jwt_encode_str(jwt);
        if (token == NULL) {
            omni_jwt_err("signing with %s failed (key \"%s\"): %s", a->name,
                         key_path ? key_path : "(none)",
                         errno ? strerror(errno) : "unknown error");
            goto done;
        }

        r = printf("%s\n", token);
        free(token);

        if (r < 0) {
            break;
        }
    }

    if (n <= count || fflush(stdout) != 0) {
        omni_jwt_err("cannot write to standard output: %s", strerror(errno));
        goto done;
    }

    rc = OMNI_JWT_EXIT_OK;

done:

    if (jwt != NULL) {
        jwt_free(jwt);
    }

    free(text);
    free(jti_base);
    free(jti);
    json_decref(claims);
    json_decref(headers);
    json_decref(auds);
    omni_jwt_free_secret(key, key_len + 1);
    free(ops);

    return rc;
}


int
main(int argc, char **argv)
{
    const char  *cmd;

    if (argc < 2) {
        omni_jwt_usage(stderr);
        return OMNI_JWT_EXIT_USAGE;
    }

    cmd = argv[1];

    if (omni_jwt_is_help(cmd) || strcmp(cmd, "help") == 0) {
        omni_jwt_usage(stdout);
        return OMNI_JWT_EXIT_OK;
    }

    if (strcmp(cmd, "mint") == 0) {
        return omni_jwt_mint(argc - 2, argv + 2);
    }

    if (strcmp(cmd, "jwks") == 0) {
        return omni_jwt_jwks(argc - 2, argv + 2);
    }

    return omni_jwt_usage_err("unknown command \"%s\"", cmd);
}
