/*
 * Copyright (C) The omni gateway authors
 */


#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "omni_base64.h"
#include "omni_token.h"


#define OMNI_ROLES_PATH_DEPTH  8
#define OMNI_SIG_MAX           1024   /* RSA-8192 signatures fit */

/*
 * Room to decode a signature of OMNI_SIG_MAX bytes: the decoded length
 * rounds up to whole 3-byte quanta, so 1366 characters need 1026 bytes.
 */
#define OMNI_SIG_BUF                                                          \
    omni_base64url_decoded_len(omni_base64url_encoded_len(OMNI_SIG_MAX))


typedef enum {
    OMNI_CLAIM_FOUND = 0,
    OMNI_CLAIM_ABSENT,
    OMNI_CLAIM_INVALID
} omni_claim_rc_t;


static const char  *omni_token_codes[] = {
    "ok",
    "token_missing",
    "token_too_large",
    "token_malformed",
    "crit_unsupported",
    "alg_not_allowed",
    "key_unknown",
    "signature_invalid",
    "claim_missing",
    "claim_invalid",
    "token_expired",
    "token_not_yet_valid",
    "token_issued_in_future",
    "issuer_mismatch",
    "audience_mismatch",
    "internal_error",
};


static omni_token_rc_t omni_token_fail(omni_token_t *tok, omni_token_rc_t rc,
    const char *fmt, ...);
static omni_token_rc_t omni_token_check_form(const char *token, size_t len,
    size_t *sig_at, omni_token_t *tok);
static omni_token_rc_t omni_token_check_signature(
    const omni_token_conf_t *conf, int alg, const char *token, size_t sig_at,
    size_t len, omni_token_t *tok);
static int omni_signature_verify(const omni_key_t *key, int alg,
    const unsigned char *input, size_t inlen, const unsigned char *sig,
    size_t siglen);
static int omni_ecdsa_verify(const omni_key_t *key, int alg,
    const unsigned char *input, size_t inlen, const unsigned char *sig,
    size_t siglen);
static EVP_MD_CTX *omni_verifier(const omni_key_t *key, int alg);
static const EVP_MD *omni_alg_md(int alg);
static omni_token_rc_t omni_token_check_claims(const omni_token_conf_t *conf,
    time_t now, omni_token_t *tok);
static omni_claim_rc_t omni_claim_time(jwt_t *jwt, const char *name,
    double *value);
static json_t *omni_claim_json(jwt_t *jwt, const char *name);
static int omni_audience_match(const omni_token_conf_t *conf, json_t *aud);
static omni_token_rc_t omni_token_roles(const omni_token_conf_t *conf,
    omni_token_t *tok);
static omni_token_rc_t omni_token_add_role(omni_token_t *tok, const char *s,
    size_t len);


omni_token_rc_t
omni_token_verify(const omni_token_conf_t *conf, const char *token,
    size_t len, time_t now, omni_token_t *tok)
{
    int              alg, rc;
    char            *copy, *crit, small[8192 + 1];
    size_t           sig_at = 0;
    omni_token_rc_t  trc;

    memset(tok, 0, sizeof(omni_token_t));

    if (len == 0) {
        return omni_token_fail(tok, OMNI_TOKEN_MISSING, "no token");
    }

    /* the cap is checked before a single byte is decoded */
    if (len > conf->max_length) {
        return omni_token_fail(tok, OMNI_TOKEN_TOO_LARGE,
                               "token is longer than %zu bytes",
                               conf->max_length);
    }

    trc = omni_token_check_form(token, len, &sig_at, tok);
    if (trc != OMNI_TOKEN_OK) {
        return trc;
    }

    /* libjwt wants a C string: the default 8k cap fits on the stack */
    copy = (len < sizeof(small)) ? small : malloc(len + 1);
    if (copy == NULL) {
        return omni_token_fail(tok, OMNI_TOKEN_NO_MEMORY, "out of memory");
    }

    memcpy(copy, token, len);
    copy[len] = '\0';

    /* without a key libjwt only parses; the signature is checked below */
    rc = jwt_decode(&tok->jwt, copy, NULL, 0);

    if (copy != small) {
        free(copy);
    }

    if (rc != 0) {
        tok->jwt = NULL;

        if (rc == ENOMEM) {
            return omni_token_fail(tok, OMNI_TOKEN_NO_MEMORY,
                                   "out of memory");
        }

        return omni_token_fail(tok, OMNI_TOKEN_MALFORMED,
                               "token is not a valid JWS");
    }

    tok->alg = jwt_get_header(tok->jwt, "alg");
    tok->kid = jwt_get_header(tok->jwt, "kid");

    if (tok->alg == NULL) {
        return omni_token_fail(tok, OMNI_TOKEN_MALFORMED,
                               "token header has no alg");
    }

    if (tok->kid == NULL) {
        /* a kid that is not a string must not widen the key search */
        crit = jwt_get_headers_json(tok->jwt, "kid");
        if (crit != NULL) {
            free(crit);
            return omni_token_fail(tok, OMNI_TOKEN_MALFORMED,
                                   "kid is not a string");
        }
    }

    /* exact names only: "none", "NONE" and friends never get here */
    alg = omni_alg_by_name(tok->alg, strlen(tok->alg));
    if (alg < 0) {
        return omni_token_fail(tok, OMNI_TOKEN_ALG_NOT_ALLOWED,
                               "algorithm is not allowed");
    }

    crit = jwt_get_headers_json(tok->jwt, "crit");
    if (crit != NULL) {
        free(crit);
        return omni_token_fail(tok, OMNI_TOKEN_CRIT_UNSUPPORTED,
                               "critical header extensions are not "
                               "supported");
    }

    trc = omni_token_check_signature(conf, alg, token, sig_at, len, tok);
    if (trc != OMNI_TOKEN_OK) {
        return trc;
    }

    return omni_token_check_claims(conf, now, tok);
}


void
omni_token_release(omni_token_t *tok)
{
    size_t  i;

    for (i = 0; i < tok->nroles; i++) {
        free(tok->roles[i]);
    }

    tok->nroles = 0;

    if (tok->jwt) {
        jwt_free(tok->jwt);
        tok->jwt = NULL;
    }

    tok->alg = NULL;
    tok->kid = NULL;
    tok->sub = NULL;
    tok->iss = NULL;
    tok->jti = NULL;
}


const char *
omni_token_code(omni_token_rc_t rc)
{
    if (rc >= OMNI_TOKEN_RC_COUNT) {
        return "internal_error";
    }

    return omni_token_codes[rc];
}


char *
omni_token_claim_text(omni_token_t *tok, const char *name, size_t *len)
{
    char    *text, *s;
    json_t  *v;

    if (tok->jwt == NULL) {
        return NULL;
    }

    text = jwt_get_grants_json(tok->jwt, name);
    if (text == NULL) {
        return NULL;
    }

    if (text[0] != '"') {
        *len = strlen(text);
        return text;
    }

    v = json_loads(text, JSON_DECODE_ANY, NULL);
    free(text);

    if (v == NULL) {
        return NULL;
    }

    *len = json_string_length(v);
    s = malloc(*len + 1);

    if (s != NULL) {
        memcpy(s, json_string_value(v), *len + 1);
    }

    json_decref(v);

    return s;
}


static omni_token_rc_t
omni_token_fail(omni_token_t *tok, omni_token_rc_t rc, const char *fmt, ...)
{
    va_list  args;

    va_start(args, fmt);
    vsnprintf(tok->detail, sizeof(tok->detail), fmt, args);
    va_end(args);

    return rc;
}


static omni_token_rc_t
omni_token_check_form(const char *token, size_t len, size_t *sig_at,
    omni_token_t *tok)
{
    size_t         i, dots, dot[2];
    unsigned char  c;

    dots = 0;

    for (i = 0; i < len; i++) {
        c = (unsigned char) token[i];

        if (c == '.') {
            if (dots == 2) {
                return omni_token_fail(tok, OMNI_TOKEN_MALFORMED,
                                       "token must have three parts");
            }

            dot[dots++] = i;
            continue;
        }

        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z')
              || (c >= '0' && c <= '9') || c == '-' || c == '_'))
        {
            return omni_token_fail(tok, OMNI_TOKEN_MALFORMED,
                                   "token has characters outside "
                                   "base64url");
        }
    }

    if (dots != 2 || dot[0] == 0 || dot[1] == dot[0] + 1) {
        return omni_token_fail(tok, OMNI_TOKEN_MALFORMED,
                               "token must have three parts");
    }

    /* an empty signature is judged by its alg, which must then be none */
    *sig_at = dot[1] + 1;

    return OMNI_TOKEN_OK;
}


static omni_token_rc_t
omni_token_check_signature(const omni_token_conf_t *conf, int alg,
    const char *token, size_t sig_at, size_t len, omni_token_t *tok)
{
    long                  siglen;
    size_t                i, b64len, pinned;
    const omni_key_t     *key;
    const omni_keyset_t  *ks;
    unsigned char         sig[OMNI_SIG_BUF];

    ks = conf->keys;
    b64len = len - sig_at;

    if (b64len == 0 || omni_base64url_decoded_len(b64len) > sizeof(sig)) {
        return omni_token_fail(tok, OMNI_TOKEN_SIGNATURE_INVALID,
                               "signature is invalid");
    }

    siglen = omni_base64url_decode(sig, token + sig_at, b64len, 0);
    if (siglen <= 0) {
        return omni_token_fail(tok, OMNI_TOKEN_SIGNATURE_INVALID,
                               "signature is invalid");
    }

    if (tok->kid != NULL) {
        for (i = 0; i < ks->nkeys; i++) {
            key = &ks->keys[i];

            if (key->kid == NULL || strcmp(key->kid, tok->kid) != 0) {
                continue;
            }

            if (!(key->algs & OMNI_ALG_BIT(alg))) {
                return omni_token_fail(tok, OMNI_TOKEN_ALG_NOT_ALLOWED,
                                       "key is not pinned to %s",
                                       omni_alg_name((omni_alg_t) alg));
            }

            if (!omni_signature_verify(key, alg, (unsigned char *) token,
                                       sig_at - 1, sig, (size_t) siglen))
            {
                return omni_token_fail(tok, OMNI_TOKEN_SIGNATURE_INVALID,
                                       "signature is invalid");
            }

            tok->key = key;
            return OMNI_TOKEN_OK;
        }

        return omni_token_fail(tok, OMNI_TOKEN_KEY_UNKNOWN,
                               "no key has this kid");
    }

    /* no kid: every key pinned to the alg may have signed it (rotation) */
    pinned = 0;

    for (i = 0; i < ks->nkeys; i++) {
        key = &ks->keys[i];

        if (!(key->algs & OMNI_ALG_BIT(alg))) {
            continue;
        }

        pinned++;

        if (omni_signature_verify(key, alg, (unsigned char *) token,
                                  sig_at - 1, sig, (size_t) siglen))
        {
            tok->key = key;
            return OMNI_TOKEN_OK;
        }
    }

    if (pinned == 0) {
        return omni_token_fail(tok, OMNI_TOKEN_ALG_NOT_ALLOWED,
                               "no key is pinned to %s",
                               omni_alg_name((omni_alg_t) alg));
    }

    return omni_token_fail(tok, OMNI_TOKEN_SIGNATURE_INVALID,
                           "signature is invalid");
}


static int
omni_signature_verify(const omni_key_t *key, int alg,
    const unsigned char *input, size_t inlen, const unsigned char *sig,
    size_t siglen)
{
    int            ok;
    unsigned int   maclen;
    EVP_MD_CTX    *mctx;
    const EVP_MD  *md;
    unsigned char  mac[EVP_MAX_MD_SIZE];

    md = omni_alg_md(alg);

    switch (key->type) {

    case OMNI_KEY_HMAC:
        if (HMAC(md, key->secret, (int) key->secret_len, input, inlen,
                 mac, &maclen) == NULL)
        {
            return 0;
        }

        return siglen == maclen && CRYPTO_memcmp(mac, sig, maclen) == 0;

    case OMNI_KEY_EC:
        return omni_ecdsa_verify(key, alg, input, inlen, sig, siglen);

    default: /* OMNI_KEY_RSA */
        mctx = omni_verifier(key, alg);
        if (mctx == NULL) {
            return 0;
        }

        ok = EVP_DigestVerify(mctx, sig, siglen, input, inlen) == 1;

        EVP_MD_CTX_free(mctx);

        return ok;
    }
}


static int
omni_ecdsa_verify(const omni_key_t *key, int alg,
    const unsigned char *input, size_t inlen, const unsigned char *sig,
    size_t siglen)
{
    int             ok, derlen;
    size_t          half;
    BIGNUM         *r, *s;
    ECDSA_SIG      *esig;
    EVP_MD_CTX     *mctx;
    unsigned char  *der;

    /* JWS carries R || S of the curve's size (RFC 7518 3.4), not DER */
    half = (size_t) (EVP_PKEY_get_bits(key->pkey) + 7) / 8;
    if (siglen != 2 * half) {
        return 0;
    }

    esig = ECDSA_SIG_new();
    r = BN_bin2bn(sig, (int) half, NULL);
    s = BN_bin2bn(sig + half, (int) half, NULL);

    if (esig == NULL || r == NULL || s == NULL
        || !ECDSA_SIG_set0(esig, r, s))
    {
        ECDSA_SIG_free(esig);
        BN_free(r);
        BN_free(s);
        return 0;
    }

    der = NULL;
    derlen = i2d_ECDSA_SIG(esig, &der);
    ECDSA_SIG_free(esig);

    if (derlen <= 0) {
        return 0;
    }

    ok = 0;
    mctx = omni_verifier(key, alg);

    if (mctx != NULL) {
        ok = EVP_DigestVerify(mctx, der, (size_t) derlen, input, inlen) == 1;
        EVP_MD_CTX_free(mctx);
    }

    OPENSSL_free(der);

    return ok;
}


/* A fresh copy of the key's verifier for alg's hash, or NULL. */

static EVP_MD_CTX *
omni_verifier(const omni_key_t *key, int alg)
{
    EVP_MD_CTX  *mctx, *tmpl;

    /* algorithms come in SHA-256, SHA-384, SHA-512 triples */
    tmpl = key->verify[(alg - OMNI_ALG_HS256) % 3];
    if (tmpl == NULL) {
        return NULL;
    }

    mctx = EVP_MD_CTX_new();

    if (mctx != NULL && EVP_MD_CTX_copy_ex(mctx, tmpl) != 1) {
        EVP_MD_CTX_free(mctx);
        return NULL;
    }

    return mctx;
}


static const EVP_MD *
omni_alg_md(int alg)
{
    switch (alg) {
    case OMNI_ALG_HS256:
    case OMNI_ALG_RS256:
    case OMNI_ALG_ES256:
        return EVP_sha256();
    case OMNI_ALG_HS384:
    case OMNI_ALG_RS384:
    case OMNI_ALG_ES384:
        return EVP_sha384();
    default:
        return EVP_sha512();
    }
}


static omni_token_rc_t
omni_token_check_claims(const omni_token_conf_t *conf, time_t now,
    omni_token_t *tok)
{
    int              match;
    size_t           i;
    double           exp, nbf, iat;
    json_t          *v;
    omni_claim_rc_t  rc;

    tok->sub = jwt_get_grant(tok->jwt, "sub");

    if (tok->sub == NULL) {
        v = omni_claim_json(tok->jwt, "sub");
        if (v != NULL) {
            json_decref(v);
            return omni_token_fail(tok, OMNI_TOKEN_CLAIM_INVALID,
                                   "sub is not a string");
        }

    } else if (!omni_text_is_clean(tok->sub, strlen(tok->sub))) {
        tok->sub = NULL;
        return omni_token_fail(tok, OMNI_TOKEN_CLAIM_INVALID,
                               "sub has control characters");
    }

    switch (omni_claim_time(tok->jwt, "exp", &exp)) {

    case OMNI_CLAIM_INVALID:
        return omni_token_fail(tok, OMNI_TOKEN_CLAIM_INVALID,
                               "exp is not a number");

    case OMNI_CLAIM_ABSENT:
        if (conf->require_exp) {
            return omni_token_fail(tok, OMNI_TOKEN_CLAIM_MISSING,
                                   "token has no exp");
        }
        break;

    default:
        if ((double) now >= exp + (double) conf->leeway) {
            return omni_token_fail(tok, OMNI_TOKEN_EXPIRED,
                                   "token expired");
        }
    }

    rc = omni_claim_time(tok->jwt, "nbf", &nbf);

    if (rc == OMNI_CLAIM_INVALID) {
        return omni_token_fail(tok, OMNI_TOKEN_CLAIM_INVALID,
                               "nbf is not a number");
    }

    if (rc == OMNI_CLAIM_FOUND && (double) now + conf->leeway < nbf) {
        return omni_token_fail(tok, OMNI_TOKEN_NOT_YET_VALID,
                               "token is not valid yet");
    }

    rc = omni_claim_time(tok->jwt, "iat", &iat);

    if (rc == OMNI_CLAIM_INVALID) {
        return omni_token_fail(tok, OMNI_TOKEN_CLAIM_INVALID,
                               "iat is not a number");
    }

    if (rc == OMNI_CLAIM_FOUND && iat > (double) now + conf->leeway) {
        return omni_token_fail(tok, OMNI_TOKEN_ISSUED_IN_FUTURE,
                               "token is issued in the future");
    }

    tok->iat = (rc == OMNI_CLAIM_FOUND) ? iat : -1;
    tok->jti = jwt_get_grant(tok->jwt, "jti");

    tok->iss = jwt_get_grant(tok->jwt, "iss");

    if (conf->nissuers) {
        match = 0;

        for (i = 0; tok->iss && i < conf->nissuers; i++) {
            if (strcmp(tok->iss, conf->issuers[i]) == 0) {
                match = 1;
                break;
            }
        }

        if (!match) {
            return omni_token_fail(tok, OMNI_TOKEN_ISSUER_MISMATCH,
                                   "issuer is not accepted");
        }
    }

    if (conf->naudiences) {
        v = omni_claim_json(tok->jwt, "aud");
        match = v ? omni_audience_match(conf, v) : 0;
        json_decref(v);

        if (!match) {
            return omni_token_fail(tok, OMNI_TOKEN_AUDIENCE_MISMATCH,
                                   "audience is not accepted");
        }
    }

    return omni_token_roles(conf, tok);
}


static omni_claim_rc_t
omni_claim_time(jwt_t *jwt, const char *name, double *value)
{
    long     n;
    json_t  *v;

    errno = 0;
    n = jwt_get_grant_int(jwt, name);

    /* libjwt answers 0 without errno for a value of another type */
    if (errno == 0 && n != 0) {
        *value = (double) n;
        return OMNI_CLAIM_FOUND;
    }

    /* absent, a real NumericDate, or garbage */
    v = omni_claim_json(jwt, name);
    if (v == NULL) {
        return OMNI_CLAIM_ABSENT;
    }

    if (!json_is_number(v) || !isfinite(json_number_value(v))) {
        json_decref(v);
        return OMNI_CLAIM_INVALID;
    }

    *value = json_number_value(v);
    json_decref(v);

    return OMNI_CLAIM_FOUND;
}


static json_t *
omni_claim_json(jwt_t *jwt, const char *name)
{
    char    *text;
    json_t  *v;

    text = jwt_get_grants_json(jwt, name);
    if (text == NULL) {
        return NULL;
    }

    v = json_loads(text, JSON_DECODE_ANY, NULL);
    free(text);

    return v;
}


static int
omni_audience_match(const omni_token_conf_t *conf, json_t *aud)
{
    size_t   i, j, n;
    json_t  *item;

    /* "aud" is one string or an array of them (RFC 7519 4.1.3) */
    n = json_is_array(aud) ? json_array_size(aud) : 1;

    for (i = 0; i < n; i++) {
        item = json_is_array(aud) ? json_array_get(aud, i) : aud;

        if (!json_is_string(item)) {
            continue;
        }

        for (j = 0; j < conf->naudiences; j++) {
            if (strcmp(json_string_value(item), conf->audiences[j]) == 0) {
                return 1;
            }
        }
    }

    return 0;
}


int
omni_text_is_clean(const char *s, size_t len)
{
    size_t  i;

    for (i = 0; i < len; i++) {
        if ((unsigned char) s[i] < 0x20 || s[i] == 0x7f) {
            return 0;
        }
    }

    return 1;
}


static omni_token_rc_t
omni_token_roles(const omni_token_conf_t *conf, omni_token_t *tok)
{
    char             name[OMNI_TOKEN_MAX_ROLE_LEN];
    size_t           i, len, depth;
    json_t          *root, *v, *item;
    const char      *path, *dot, *s, *end;
    omni_token_rc_t  rc;

    path = conf->roles_claim;

    if (path == NULL || path[0] == '\0') {
        return OMNI_TOKEN_OK;
    }

    dot = strchr(path, '.');
    len = dot ? (size_t) (dot - path) : strlen(path);

    if (len >= sizeof(name)) {
        return OMNI_TOKEN_OK;
    }

    memcpy(name, path, len);
    name[len] = '\0';

    root = omni_claim_json(tok->jwt, name);
    v = root;

    for (depth = 1; v != NULL && dot != NULL; depth++) {
        if (depth == OMNI_ROLES_PATH_DEPTH || !json_is_object(v)) {
            v = NULL;
            break;
        }

        path = dot + 1;
        dot = strchr(path, '.');
        len = dot ? (size_t) (dot - path) : strlen(path);

        v = json_object_getn(v, path, len);
    }

    rc = OMNI_TOKEN_OK;

    if (v == NULL) {
        /* no roles claim: the caller simply holds no roles */

    } else if (json_is_string(v)) {
        s = json_string_value(v);
        end = s + json_string_length(v);

        while (s < end && rc == OMNI_TOKEN_OK) {
            while (s < end && *s == ' ') {
                s++;
            }

            for (len = 0; s + len < end && s[len] != ' '; len++) {
                /* void */
            }

            if (len) {
                rc = omni_token_add_role(tok, s, len);
            }

            s += len;
        }

    } else if (json_is_array(v)) {
        json_array_foreach(v, i, item) {
            if (!json_is_string(item)) {
                rc = omni_token_fail(tok, OMNI_TOKEN_CLAIM_INVALID,
                                     "roles must be strings");
                break;
            }

            rc = omni_token_add_role(tok, json_string_value(item),
                                     json_string_length(item));
            if (rc != OMNI_TOKEN_OK) {
                break;
            }
        }

    } else {
        rc = omni_token_fail(tok, OMNI_TOKEN_CLAIM_INVALID,
                             "roles claim is neither an array nor a string");
    }

    json_decref(root);

    return rc;
}


static omni_token_rc_t
omni_token_add_role(omni_token_t *tok, const char *s, size_t len)
{
    size_t  i;
    char   *role;

    if (tok->nroles == OMNI_TOKEN_MAX_ROLES) {
        return omni_token_fail(tok, OMNI_TOKEN_CLAIM_INVALID,
                               "more than %d roles", OMNI_TOKEN_MAX_ROLES);
    }

    if (len == 0 || len > OMNI_TOKEN_MAX_ROLE_LEN) {
        return omni_token_fail(tok, OMNI_TOKEN_CLAIM_INVALID,
                               "a role is empty or longer than %d bytes",
                               OMNI_TOKEN_MAX_ROLE_LEN);
    }

    /* roles travel in headers as a comma-separated list */
    for (i = 0; i < len; i++) {
        if ((unsigned char) s[i] <= 0x20 || s[i] == 0x7f || s[i] == ',') {
            return omni_token_fail(tok, OMNI_TOKEN_CLAIM_INVALID,
                                   "a role has spaces, commas or control "
                                   "characters");
        }
    }

    role = malloc(len + 1);
    if (role == NULL) {
        return omni_token_fail(tok, OMNI_TOKEN_NO_MEMORY, "out of memory");
    }

    memcpy(role, s, len);
    role[len] = '\0';
    tok->roles[tok->nroles++] = role;

    return OMNI_TOKEN_OK;
}
