/*
 * Copyright (C) The omni gateway authors
 */


#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/evp.h>

#include "omni_base64.h"
#include "omni_token.h"


#define OMNI_ROLES_PATH_DEPTH  8
#define OMNI_SIG_MAX           1024   /* RSA-8192 signatures fit */

/*
 * Room to decode a signature of OMNI_SIG_MAX bytes: the decoded length
 * rounds up to whole 3-byte quanta, so 1366 characters need 1026 bytes.
 */
#define OMNI_SIG_BUF                                                          \
    omni_base64_decoded_len(omni_base64_encoded_len(OMNI_SIG_MAX))

/* header and claims of tokens up to the default 8k cap decode on the stack */
#define OMNI_PARTS_BUF         omni_base64_decoded_len(8192)
#define OMNI_CLAIMS_BUF        4096

/* how claims that were not compact are written, as libjwt wrote them all */
#define OMNI_CLAIMS_JSON       (JSON_COMPACT | JSON_SORT_KEYS)


typedef struct {
    const char            *data;
    size_t                 len;
} omni_role_t;


/* What verification learns before the token is built. */
typedef struct {
    omni_token_t           t;
    json_t                *header;
    json_t                *payload;
    const char            *claims;       /* the payload decoded */
    size_t                 claims_len;
    int                    alg;
    size_t                 kid_len;
    size_t                 iss_len;
    unsigned               big_integer:1;
    omni_role_t            roles[OMNI_TOKEN_MAX_ROLES];
    size_t                 nroles;
} omni_token_work_t;


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
    "token_lifetime_exceeded",
    "issuer_mismatch",
    "audience_mismatch",
    "internal_error",
};


static omni_token_rc_t omni_token_fail(omni_token_error_t *err,
    omni_token_rc_t rc, const char *fmt, ...);
static void omni_token_learnt(omni_token_error_t *err, const char *kid,
    const char *sub);
static void omni_token_learnt_copy(char *dst, const char *s);
static omni_token_rc_t omni_token_check_form(const char *token, size_t len,
    size_t *dot, omni_token_error_t *err);
static omni_token_rc_t omni_token_parse(omni_token_work_t *w,
    const char *token, const size_t *dot, unsigned char *buf,
    omni_token_error_t *err);
static omni_token_rc_t omni_token_json(unsigned char *buf,
    const char *part, size_t len, const char *what, int *big_integer,
    json_t **out, size_t *decoded, omni_token_error_t *err);
static omni_token_rc_t omni_token_check_header(omni_token_work_t *w,
    omni_token_error_t *err);
static int omni_token_libjwt_alg(const char *name, size_t len);
static omni_token_rc_t omni_token_check_signature(
    const omni_token_conf_t *conf, omni_token_work_t *w, const char *token,
    size_t sig_at, size_t len, omni_token_error_t *err);
static int omni_signature_verify(const omni_key_t *key, int alg,
    const unsigned char *input, size_t inlen, const unsigned char *sig,
    size_t siglen);
static int omni_ecdsa_verify(const omni_key_t *key, int alg,
    const unsigned char *input, size_t inlen, const unsigned char *sig,
    size_t siglen);
static EVP_MD_CTX *omni_verifier(const omni_key_t *key, int alg);
static omni_token_rc_t omni_token_check_claims(const omni_token_conf_t *conf,
    omni_token_work_t *w, time_t now, omni_token_error_t *err);
static const char *omni_claim_string(json_t *payload, const char *name,
    size_t *len);
static omni_token_rc_t omni_claim_time(json_t *payload, const char *name,
    double *value, omni_token_error_t *err);
static omni_token_rc_t omni_token_check_exp(const omni_token_conf_t *conf,
    const omni_token_t *t, time_t now, omni_token_error_t *err);
static omni_token_rc_t omni_token_check_nbf(const omni_token_conf_t *conf,
    const omni_token_t *t, time_t now, omni_token_error_t *err);
static omni_token_rc_t omni_token_check_iat(const omni_token_conf_t *conf,
    const omni_token_t *t, time_t now, omni_token_error_t *err);
static omni_token_rc_t omni_token_check_lifetime(
    const omni_token_conf_t *conf, const omni_token_t *t, time_t now,
    omni_token_error_t *err);
static int omni_name_match(const char *s, size_t len, const char **names,
    size_t n);
static int omni_audience_match(const omni_token_conf_t *conf, json_t *aud);
static omni_token_rc_t omni_token_roles(const omni_token_conf_t *conf,
    omni_token_work_t *w, omni_token_error_t *err);
static omni_token_rc_t omni_token_add_role(omni_token_work_t *w,
    const char *s, size_t len, omni_token_error_t *err);
static omni_token_rc_t omni_token_build(omni_token_work_t *w,
    omni_token_t **tok, omni_token_error_t *err);
static int omni_json_is_compact(const char *s, size_t len);
static size_t omni_json_size(const json_t *v);


/* The time claims, as verification reads and checks them. */
static const struct {
    const char            *name;
    size_t                 offset;
    omni_token_rc_t      (*check)(const omni_token_conf_t *conf,
                                  const omni_token_t *t, time_t now,
                                  omni_token_error_t *err);
} omni_token_times[] = {
    { "exp", offsetof(omni_token_t, exp), omni_token_check_exp },
    { "nbf", offsetof(omni_token_t, nbf), omni_token_check_nbf },
    { "iat", offsetof(omni_token_t, iat), omni_token_check_iat },
};

#define OMNI_TOKEN_TIMES                                                      \
    (sizeof(omni_token_times) / sizeof(omni_token_times[0]))


omni_token_rc_t
omni_token_verify(const omni_token_conf_t *conf, const char *token,
    size_t len, time_t now, omni_token_t **tok, omni_token_error_t *err)
{
    size_t             dot[2], part;
    unsigned char      small[OMNI_PARTS_BUF], *buf;
    omni_token_rc_t    rc;
    omni_token_work_t  w;

    *tok = NULL;
    err->detail[0] = '\0';
    err->has_kid = 0;
    err->has_sub = 0;

    if (len == 0) {
        return omni_token_fail(err, OMNI_TOKEN_MISSING, "no token");
    }

    /* the cap is checked before a single byte is decoded */
    if (len > conf->max_length) {
        return omni_token_fail(err, OMNI_TOKEN_TOO_LARGE,
                               "token is longer than %zu bytes",
                               conf->max_length);
    }

    rc = omni_token_check_form(token, len, dot, err);
    if (rc != OMNI_TOKEN_OK) {
        return rc;
    }

    /* one buffer serves header and claims: jansson keeps nothing of it */
    part = (dot[0] > dot[1] - dot[0] - 1) ? dot[0] : dot[1] - dot[0] - 1;
    buf = small;

    if (omni_base64_decoded_len(part) > sizeof(small)) {
        buf = malloc(omni_base64_decoded_len(part));
        if (buf == NULL) {
            return omni_token_fail(err, OMNI_TOKEN_NO_MEMORY,
                                   "out of memory");
        }
    }

    memset(&w, 0, sizeof(omni_token_work_t));
    w.t.exp = -1;
    w.t.nbf = -1;
    w.t.iat = -1;

    rc = omni_token_parse(&w, token, dot, buf, err);

    if (rc == OMNI_TOKEN_OK) {
        rc = omni_token_check_signature(conf, &w, token, dot[1] + 1, len,
                                        err);
    }

    if (rc == OMNI_TOKEN_OK) {
        rc = omni_token_check_claims(conf, &w, now, err);
    }

    if (rc == OMNI_TOKEN_OK) {
        rc = omni_token_build(&w, tok, err);
    }

    if (rc != OMNI_TOKEN_OK) {
        omni_token_learnt(err, w.t.kid, w.t.sub);
    }

    /* the payload belongs to the token once built */
    json_decref(w.header);
    json_decref(w.payload);

    if (buf != small) {
        free(buf);
    }

    return rc;
}


omni_token_rc_t
omni_token_check_time(const omni_token_conf_t *conf, const omni_token_t *tok,
    time_t now, omni_token_error_t *err)
{
    size_t           i;
    omni_token_rc_t  rc;

    err->detail[0] = '\0';
    err->has_kid = 0;
    err->has_sub = 0;

    rc = OMNI_TOKEN_OK;

    for (i = 0; rc == OMNI_TOKEN_OK && i < OMNI_TOKEN_TIMES; i++) {
        rc = omni_token_times[i].check(conf, tok, now, err);
    }

    if (rc == OMNI_TOKEN_OK) {
        rc = omni_token_check_lifetime(conf, tok, now, err);
    }

    if (rc != OMNI_TOKEN_OK) {
        omni_token_learnt(err, tok->kid, tok->sub);
    }

    return rc;
}


time_t
omni_token_expires(const omni_token_conf_t *conf, const omni_token_t *tok)
{
    double  end;
    time_t  t;

    if (tok->exp < 0) {
        return 0;
    }

    /* expired once now >= exp + leeway: the next whole second, for now */
    end = tok->exp + (double) conf->leeway;
    t = (time_t) end;

    return (t < end) ? t + 1 : t;
}


void
omni_token_free(omni_token_t *tok)
{
    json_decref((json_t *) tok->payload);
    free(tok);
}


const char *
omni_token_code(omni_token_rc_t rc)
{
    if (rc >= OMNI_TOKEN_RC_COUNT) {
        return "internal_error";
    }

    return omni_token_codes[rc];
}


long
omni_token_claim_text(const omni_token_t *tok, const char *name, size_t len,
    char *buf, size_t size, const char **text)
{
    size_t   n;
    json_t  *v;

    v = json_object_getn(tok->payload, name, len);
    if (v == NULL) {
        return -1;
    }

    if (json_is_string(v)) {
        *text = json_string_value(v);
        return (long) json_string_length(v);
    }

    n = json_dumpb(v, buf, size, OMNI_CLAIMS_JSON | JSON_ENCODE_ANY);
    *text = (n <= size) ? buf : NULL;

    return (long) n;
}


static omni_token_rc_t
omni_token_fail(omni_token_error_t *err, omni_token_rc_t rc,
    const char *fmt, ...)
{
    va_list  args;

    va_start(args, fmt);
    vsnprintf(err->detail, sizeof(err->detail), fmt, args);
    va_end(args);

    return rc;
}


/* The token dies with the request: the log keeps short copies. */

static void
omni_token_learnt(omni_token_error_t *err, const char *kid, const char *sub)
{
    if (kid != NULL) {
        omni_token_learnt_copy(err->kid, kid);
        err->has_kid = 1;
    }

    if (sub != NULL) {
        omni_token_learnt_copy(err->sub, sub);
        err->has_sub = 1;
    }
}


static void
omni_token_learnt_copy(char *dst, const char *s)
{
    size_t  i;

    for (i = 0; i < OMNI_TOKEN_LOG_LEN && s[i]; i++) {
        dst[i] = s[i];
    }

    dst[i] = '\0';
}


static omni_token_rc_t
omni_token_check_form(const char *token, size_t len, size_t *dot,
    omni_token_error_t *err)
{
    size_t         i, dots;
    unsigned char  c;

    dots = 0;

    for (i = 0; i < len; i++) {
        c = (unsigned char) token[i];

        if (c == '.') {
            if (dots == 2) {
                return omni_token_fail(err, OMNI_TOKEN_MALFORMED,
                                       "token must have three parts");
            }

            dot[dots++] = i;
            continue;
        }

        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z')
              || (c >= '0' && c <= '9') || c == '-' || c == '_'))
        {
            return omni_token_fail(err, OMNI_TOKEN_MALFORMED,
                                   "token has characters outside "
                                   "base64url");
        }
    }

    /* an empty signature is judged by its alg, which must then be none */
    if (dots != 2 || dot[0] == 0 || dot[1] == dot[0] + 1) {
        return omni_token_fail(err, OMNI_TOKEN_MALFORMED,
                               "token must have three parts");
    }

    return OMNI_TOKEN_OK;
}


/*
 * Header and claims, each decoded and parsed once, then the header's rules
 * in the order libjwt applied them when it parsed tokens for us.
 */
static omni_token_rc_t
omni_token_parse(omni_token_work_t *w, const char *token, const size_t *dot,
    unsigned char *buf, omni_token_error_t *err)
{
    int              big;
    json_t          *v;
    omni_token_rc_t  rc;

    rc = omni_token_json(buf, token, dot[0], "header", NULL, &w->header,
                         NULL, err);

    if (rc == OMNI_TOKEN_OK) {
        rc = omni_token_check_header(w, err);
    }

    if (rc != OMNI_TOKEN_OK) {
        return rc;
    }

    big = 0;
    rc = omni_token_json(buf, token + dot[0] + 1, dot[1] - dot[0] - 1,
                         "claim set", &big, &w->payload, &w->claims_len, err);
    if (rc != OMNI_TOKEN_OK) {
        return rc;
    }

    w->big_integer = big;
    w->claims = (const char *) buf;

    /* a kid that is not a string must not widen the key search */
    v = json_object_get(w->header, "kid");

    if (v != NULL) {
        if (!json_is_string(v)) {
            return omni_token_fail(err, OMNI_TOKEN_MALFORMED,
                                   "kid is not a string");
        }

        w->t.kid = json_string_value(v);
        w->kid_len = json_string_length(v);
    }

    /* exact names only: "none", "NONE" and friends never get here */
    v = json_object_get(w->header, "alg");
    w->alg = omni_alg_by_name(json_string_value(v), json_string_length(v));

    if (w->alg < 0) {
        return omni_token_fail(err, OMNI_TOKEN_ALG_NOT_ALLOWED,
                               "algorithm is not allowed");
    }

    w->t.alg = json_string_value(v);

    if (json_object_get(w->header, "crit") != NULL) {
        return omni_token_fail(err, OMNI_TOKEN_CRIT_UNSUPPORTED,
                               "critical header extensions are not "
                               "supported");
    }

    return OMNI_TOKEN_OK;
}


/*
 * Decodes one part (strictly: one encoding per token) and parses it.
 * Duplicate member names at any depth are refused: a verifier that reads
 * {"sub":"a","sub":"b"} otherwise than the issuer did is a known attack,
 * and RFC 7515 5.2 and RFC 7519 4 allow refusing them.  With big_integer,
 * an integer beyond 64 bits, valid JSON that jansson cannot hold, is read
 * as a real for the claim checks to refuse.
 */
static omni_token_rc_t
omni_token_json(unsigned char *buf, const char *part, size_t len,
    const char *what, int *big_integer, json_t **out, size_t *decoded,
    omni_token_error_t *err)
{
    long          n;
    json_error_t  jerr;

    n = omni_base64url_decode(buf, part, len);
    if (n < 0) {
        return omni_token_fail(err, OMNI_TOKEN_MALFORMED,
                               "token is not a valid JWS");
    }

    if (decoded != NULL) {
        *decoded = (size_t) n;
    }

    /*
     * No JSON text holds a NUL, but jansson drops one that follows a
     * number: the claims text would carry it into headers.
     */
    if (memchr(buf, '\0', (size_t) n) != NULL) {
        return omni_token_fail(err, OMNI_TOKEN_MALFORMED,
                               "token is not a valid JWS");
    }

    *out = json_loadb((const char *) buf, (size_t) n, JSON_REJECT_DUPLICATES,
                      &jerr);

    if (*out == NULL && big_integer != NULL
        && json_error_code(&jerr) == json_error_numeric_overflow)
    {
        *out = json_loadb((const char *) buf, (size_t) n,
                          JSON_REJECT_DUPLICATES | JSON_DECODE_INT_AS_REAL,
                          &jerr);
        *big_integer = 1;
    }

    if (*out == NULL) {
        if (json_error_code(&jerr) == json_error_duplicate_key) {
            return omni_token_fail(err, OMNI_TOKEN_MALFORMED,
                                   "token %s has duplicate member names",
                                   what);
        }

        return omni_token_fail(err, OMNI_TOKEN_MALFORMED,
                               "token is not a valid JWS");
    }

    if (!json_is_object(*out)) {
        return omni_token_fail(err, OMNI_TOKEN_MALFORMED,
                               "token %s is not a JSON object", what);
    }

    return OMNI_TOKEN_OK;
}


/*
 * libjwt 1.10 parsed tokens before this module did, and refused an alg it
 * did not know (in any letter case) and a typ other than JWT: those rules
 * are documented behaviour, so they stay.
 */
static omni_token_rc_t
omni_token_check_header(omni_token_work_t *w, omni_token_error_t *err)
{
    json_t      *alg, *typ;
    size_t       len;
    const char  *name;

    alg = json_object_get(w->header, "alg");

    if (!json_is_string(alg)) {
        return omni_token_fail(err, OMNI_TOKEN_MALFORMED,
                               "token header has no alg");
    }

    name = json_string_value(alg);
    len = json_string_length(alg);

    if (len == 4 && strncasecmp(name, "none", 4) == 0) {
        return OMNI_TOKEN_OK;
    }

    if (!omni_token_libjwt_alg(name, len)) {
        return omni_token_fail(err, OMNI_TOKEN_MALFORMED,
                               "token has an unknown alg");
    }

    typ = json_object_get(w->header, "typ");

    if (json_is_string(typ)
        && !(json_string_length(typ) == 3
             && strncasecmp(json_string_value(typ), "JWT", 3) == 0))
    {
        return omni_token_fail(err, OMNI_TOKEN_MALFORMED,
                               "token typ is not JWT");
    }

    return OMNI_TOKEN_OK;
}


static int
omni_token_libjwt_alg(const char *name, size_t len)
{
    int          alg;
    const char  *known;

    for (alg = 0; alg < OMNI_ALG_COUNT; alg++) {
        known = omni_alg_name((omni_alg_t) alg);

        if (strlen(known) == len && strncasecmp(known, name, len) == 0) {
            return 1;
        }
    }

    return 0;
}


static omni_token_rc_t
omni_token_check_signature(const omni_token_conf_t *conf,
    omni_token_work_t *w, const char *token, size_t sig_at, size_t len,
    omni_token_error_t *err)
{
    long                  siglen;
    size_t                i, b64len, pinned;
    const omni_key_t     *key;
    const omni_keyset_t  *ks;
    unsigned char         sig[OMNI_SIG_BUF];

    ks = conf->keys;
    b64len = len - sig_at;

    if (b64len == 0 || omni_base64_decoded_len(b64len) > sizeof(sig)) {
        return omni_token_fail(err, OMNI_TOKEN_SIGNATURE_INVALID,
                               "signature is invalid");
    }

    siglen = omni_base64url_decode(sig, token + sig_at, b64len);
    if (siglen <= 0) {
        return omni_token_fail(err, OMNI_TOKEN_SIGNATURE_INVALID,
                               "signature is invalid");
    }

    if (w->t.kid != NULL) {
        for (i = 0; i < ks->nkeys; i++) {
            key = &ks->keys[i];

            if (key->kid == NULL || strlen(key->kid) != w->kid_len
                || memcmp(key->kid, w->t.kid, w->kid_len) != 0)
            {
                continue;
            }

            if (!(key->algs & OMNI_ALG_BIT(w->alg))) {
                return omni_token_fail(err, OMNI_TOKEN_ALG_NOT_ALLOWED,
                                       "key is not pinned to %s",
                                       omni_alg_name((omni_alg_t) w->alg));
            }

            if (!omni_signature_verify(key, w->alg, (unsigned char *) token,
                                       sig_at - 1, sig, (size_t) siglen))
            {
                return omni_token_fail(err, OMNI_TOKEN_SIGNATURE_INVALID,
                                       "signature is invalid");
            }

            w->t.key = key;
            return OMNI_TOKEN_OK;
        }

        return omni_token_fail(err, OMNI_TOKEN_KEY_UNKNOWN,
                               "no key has this kid");
    }

    /* no kid: every key pinned to the alg may have signed it (rotation) */
    pinned = 0;

    for (i = 0; i < ks->nkeys; i++) {
        key = &ks->keys[i];

        if (!(key->algs & OMNI_ALG_BIT(w->alg))) {
            continue;
        }

        pinned++;

        if (omni_signature_verify(key, w->alg, (unsigned char *) token,
                                  sig_at - 1, sig, (size_t) siglen))
        {
            w->t.key = key;
            return OMNI_TOKEN_OK;
        }
    }

    if (pinned == 0) {
        return omni_token_fail(err, OMNI_TOKEN_ALG_NOT_ALLOWED,
                               "no key is pinned to %s",
                               omni_alg_name((omni_alg_t) w->alg));
    }

    return omni_token_fail(err, OMNI_TOKEN_SIGNATURE_INVALID,
                           "signature is invalid");
}


static int
omni_signature_verify(const omni_key_t *key, int alg,
    const unsigned char *input, size_t inlen, const unsigned char *sig,
    size_t siglen)
{
    int            ok;
    size_t         maclen;
    EVP_MD_CTX    *mctx;
    EVP_MAC_CTX   *hmac;
    unsigned char  mac[EVP_MAX_MD_SIZE];

    switch (key->type) {

    case OMNI_KEY_HMAC:
        /* algorithms come in SHA-256, SHA-384, SHA-512 triples */
        hmac = key->hmac[(alg - OMNI_ALG_HS256) % 3];

        if (hmac == NULL
            || EVP_MAC_init(hmac, NULL, 0, NULL) != 1
            || EVP_MAC_update(hmac, input, inlen) != 1
            || EVP_MAC_final(hmac, mac, &maclen, sizeof(mac)) != 1)
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


static omni_token_rc_t
omni_token_check_claims(const omni_token_conf_t *conf, omni_token_work_t *w,
    time_t now, omni_token_error_t *err)
{
    size_t            i;
    json_t           *v;
    omni_token_t     *t;
    omni_token_rc_t   rc;

    t = &w->t;

    v = json_object_get(w->payload, "sub");

    if (v != NULL) {
        if (!json_is_string(v)) {
            return omni_token_fail(err, OMNI_TOKEN_CLAIM_INVALID,
                                   "sub is not a string");
        }

        /* the whole value: a NUL inside would cut it short elsewhere */
        if (!omni_text_is_clean(json_string_value(v), json_string_length(v)))
        {
            return omni_token_fail(err, OMNI_TOKEN_CLAIM_INVALID,
                                   "sub has control characters");
        }

        t->sub = json_string_value(v);
    }

    /* each time claim is read, then checked at once, in this order */
    for (i = 0; i < OMNI_TOKEN_TIMES; i++) {
        rc = omni_claim_time(w->payload, omni_token_times[i].name,
                             (double *) ((char *) t
                                         + omni_token_times[i].offset),
                             err);

        if (rc == OMNI_TOKEN_OK) {
            rc = omni_token_times[i].check(conf, t, now, err);
        }

        if (rc != OMNI_TOKEN_OK) {
            return rc;
        }
    }

    rc = omni_token_check_lifetime(conf, t, now, err);
    if (rc != OMNI_TOKEN_OK) {
        return rc;
    }

    if (w->big_integer) {
        return omni_token_fail(err, OMNI_TOKEN_CLAIM_INVALID,
                               "a claim holds an integer beyond 64 bits");
    }

    t->jti = omni_claim_string(w->payload, "jti", NULL);
    t->sid = omni_claim_string(w->payload, "sid", NULL);
    t->iss = omni_claim_string(w->payload, "iss", &w->iss_len);

    if (conf->nissuers
        && (t->iss == NULL
            || !omni_name_match(t->iss, w->iss_len, conf->issuers,
                                conf->nissuers)))
    {
        return omni_token_fail(err, OMNI_TOKEN_ISSUER_MISMATCH,
                               "issuer is not accepted");
    }

    if (conf->naudiences) {
        v = json_object_get(w->payload, "aud");

        if (v == NULL || !omni_audience_match(conf, v)) {
            return omni_token_fail(err, OMNI_TOKEN_AUDIENCE_MISMATCH,
                                   "audience is not accepted");
        }
    }

    return omni_token_roles(conf, w, err);
}


/* A string claim, or NULL when it is absent or of another type. */

static const char *
omni_claim_string(json_t *payload, const char *name, size_t *len)
{
    json_t  *v;

    v = json_object_get(payload, name);

    if (!json_is_string(v)) {
        return NULL;
    }

    if (len != NULL) {
        *len = json_string_length(v);
    }

    return json_string_value(v);
}


/* A NumericDate, -1 when absent. */

static omni_token_rc_t
omni_claim_time(json_t *payload, const char *name, double *value,
    omni_token_error_t *err)
{
    json_t  *v;

    v = json_object_get(payload, name);

    if (v == NULL) {
        *value = -1;
        return OMNI_TOKEN_OK;
    }

    if (!json_is_number(v)) {
        return omni_token_fail(err, OMNI_TOKEN_CLAIM_INVALID,
                               "%s is not a number", name);
    }

    *value = json_number_value(v);

    /* seconds and fractions (RFC 7519 2) from 1970 through 9999 */
    if (!(*value >= 0 && *value <= OMNI_TOKEN_TIME_MAX)) {
        return omni_token_fail(err, OMNI_TOKEN_CLAIM_INVALID,
                               "%s is out of range", name);
    }

    return OMNI_TOKEN_OK;
}


static omni_token_rc_t
omni_token_check_exp(const omni_token_conf_t *conf, const omni_token_t *t,
    time_t now, omni_token_error_t *err)
{
    if (t->exp < 0) {
        /* a lifetime cannot be bounded without an end */
        if (conf->require_exp || conf->max_lifetime) {
            return omni_token_fail(err, OMNI_TOKEN_CLAIM_MISSING,
                                   "token has no exp");
        }

        return OMNI_TOKEN_OK;
    }

    if ((double) now >= t->exp + (double) conf->leeway) {
        return omni_token_fail(err, OMNI_TOKEN_EXPIRED, "token expired");
    }

    return OMNI_TOKEN_OK;
}


static omni_token_rc_t
omni_token_check_nbf(const omni_token_conf_t *conf, const omni_token_t *t,
    time_t now, omni_token_error_t *err)
{
    if (t->nbf >= 0 && (double) now + (double) conf->leeway < t->nbf) {
        return omni_token_fail(err, OMNI_TOKEN_NOT_YET_VALID,
                               "token is not valid yet");
    }

    return OMNI_TOKEN_OK;
}


static omni_token_rc_t
omni_token_check_iat(const omni_token_conf_t *conf, const omni_token_t *t,
    time_t now, omni_token_error_t *err)
{
    if (t->iat >= 0 && t->iat > (double) now + (double) conf->leeway) {
        return omni_token_fail(err, OMNI_TOKEN_ISSUED_IN_FUTURE,
                               "token is issued in the future");
    }

    return OMNI_TOKEN_OK;
}


/*
 * exp - iat is the lifetime the issuer gave; exp - now bounds what is left
 * of it when iat is absent or false, forgiving the issuer's clock skew.
 */
static omni_token_rc_t
omni_token_check_lifetime(const omni_token_conf_t *conf, const omni_token_t *t,
    time_t now, omni_token_error_t *err)
{
    if (conf->max_lifetime == 0) {
        return OMNI_TOKEN_OK;
    }

    if ((t->iat >= 0 && t->exp - t->iat > (double) conf->max_lifetime)
        || t->exp - (double) now
           > (double) conf->max_lifetime + (double) conf->leeway)
    {
        return omni_token_fail(err, OMNI_TOKEN_LIFETIME_EXCEEDED,
                               "token lives longer than %ld s",
                               conf->max_lifetime);
    }

    return OMNI_TOKEN_OK;
}


/* Whether s (len bytes, NULs included) is one of names. */

static int
omni_name_match(const char *s, size_t len, const char **names, size_t n)
{
    size_t  i;

    for (i = 0; i < n; i++) {
        if (strlen(names[i]) == len && memcmp(names[i], s, len) == 0) {
            return 1;
        }
    }

    return 0;
}


static int
omni_audience_match(const omni_token_conf_t *conf, json_t *aud)
{
    size_t   i, n;
    json_t  *item;

    /* "aud" is one string or an array of them (RFC 7519 4.1.3) */
    n = json_is_array(aud) ? json_array_size(aud) : 1;

    for (i = 0; i < n; i++) {
        item = json_is_array(aud) ? json_array_get(aud, i) : aud;

        if (json_is_string(item)
            && omni_name_match(json_string_value(item),
                               json_string_length(item), conf->audiences,
                               conf->naudiences))
        {
            return 1;
        }
    }

    return 0;
}


static omni_token_rc_t
omni_token_roles(const omni_token_conf_t *conf, omni_token_work_t *w,
    omni_token_error_t *err)
{
    size_t           i, len, depth;
    json_t          *v, *item;
    const char      *path, *dot, *s, *end;
    omni_token_rc_t  rc;

    path = conf->roles_claim;

    if (path == NULL || path[0] == '\0') {
        return OMNI_TOKEN_OK;
    }

    v = w->payload;
    depth = 0;

    for ( ;; ) {
        dot = strchr(path, '.');
        len = dot ? (size_t) (dot - path) : strlen(path);

        /* what is not an object has no members: the path leads nowhere */
        v = json_object_getn(v, path, len);

        if (v == NULL || dot == NULL) {
            break;
        }

        if (++depth == OMNI_ROLES_PATH_DEPTH) {
            return OMNI_TOKEN_OK;
        }

        path = dot + 1;
    }

    if (v == NULL) {
        /* no roles claim: the caller simply holds no roles */
        return OMNI_TOKEN_OK;
    }

    if (json_is_string(v)) {
        s = json_string_value(v);
        end = s + json_string_length(v);
        rc = OMNI_TOKEN_OK;

        while (s < end && rc == OMNI_TOKEN_OK) {
            while (s < end && *s == ' ') {
                s++;
            }

            for (len = 0; s + len < end && s[len] != ' '; len++) {
                /* void */
            }

            if (len) {
                rc = omni_token_add_role(w, s, len, err);
            }

            s += len;
        }

        return rc;
    }

    if (!json_is_array(v)) {
        return omni_token_fail(err, OMNI_TOKEN_CLAIM_INVALID,
                               "roles claim is neither an array nor a "
                               "string");
    }

    json_array_foreach(v, i, item) {
        if (!json_is_string(item)) {
            return omni_token_fail(err, OMNI_TOKEN_CLAIM_INVALID,
                                   "roles must be strings");
        }

        rc = omni_token_add_role(w, json_string_value(item),
                                 json_string_length(item), err);
        if (rc != OMNI_TOKEN_OK) {
            return rc;
        }
    }

    return OMNI_TOKEN_OK;
}


static omni_token_rc_t
omni_token_add_role(omni_token_work_t *w, const char *s, size_t len,
    omni_token_error_t *err)
{
    size_t  i;

    if (w->nroles == OMNI_TOKEN_MAX_ROLES) {
        return omni_token_fail(err, OMNI_TOKEN_CLAIM_INVALID,
                               "more than %d roles", OMNI_TOKEN_MAX_ROLES);
    }

    if (len == 0 || len > OMNI_TOKEN_MAX_ROLE_LEN) {
        return omni_token_fail(err, OMNI_TOKEN_CLAIM_INVALID,
                               "a role is empty or longer than %d bytes",
                               OMNI_TOKEN_MAX_ROLE_LEN);
    }

    /* roles travel in headers as a comma-separated list */
    for (i = 0; i < len; i++) {
        if ((unsigned char) s[i] <= 0x20 || s[i] == 0x7f || s[i] == ',') {
            return omni_token_fail(err, OMNI_TOKEN_CLAIM_INVALID,
                                   "a role has spaces, commas or control "
                                   "characters");
        }
    }

    w->roles[w->nroles].data = s;
    w->roles[w->nroles].len = len;
    w->nroles++;

    return OMNI_TOKEN_OK;
}


/*
 * One allocation holds the token, its roles and its strings but those of
 * the claims, which stay in the parsed payload it keeps.  The claims as
 * text are the verified payload itself when it is compact, as issuers
 * write it, else jansson's compact form of it: either way without a
 * control byte, fit for a header.  JSON lets DEL stand raw in a string
 * and jansson writes it so: it becomes \u007f here.
 */
static omni_token_rc_t
omni_token_build(omni_token_work_t *w, omni_token_t **tok,
    omni_token_error_t *err)
{
    char           *p, *big, small[OMNI_CLAIMS_BUF];
    size_t          i, n, dels, alg_len, kid_len, size;
    const char    **roles;
    const char     *claims;
    omni_token_t   *t;

    claims = w->claims;
    n = w->claims_len;
    big = NULL;

    if (!omni_json_is_compact(claims, n)) {
        claims = small;
        n = json_dumpb(w->payload, small, sizeof(small), OMNI_CLAIMS_JSON);

        if (n > sizeof(small)) {
            big = malloc(n);
            claims = big;
        }

        if (n == 0 || claims == NULL) {
            return omni_token_fail(err, OMNI_TOKEN_NO_MEMORY,
                                   "out of memory");
        }

        if (big != NULL) {
            (void) json_dumpb(w->payload, big, n, OMNI_CLAIMS_JSON);
        }
    }

    dels = 0;

    if (memchr(claims, 0x7f, n) != NULL) {
        for (i = 0; i < n; i++) {
            dels += (claims[i] == 0x7f);
        }
    }

    alg_len = strlen(w->t.alg) + 1;
    kid_len = w->t.kid ? w->kid_len + 1 : 0;

    size = sizeof(omni_token_t) + w->nroles * sizeof(char *) + alg_len
           + kid_len + n + dels * (sizeof("\\u007f") - 2) + 1;

    for (i = 0; i < w->nroles; i++) {
        size += w->roles[i].len + 1;
    }

    t = malloc(size);
    if (t == NULL) {
        free(big);
        return omni_token_fail(err, OMNI_TOKEN_NO_MEMORY, "out of memory");
    }

    *t = w->t;

    roles = (const char **) (t + 1);
    p = (char *) (roles + w->nroles);

    t->alg = memcpy(p, w->t.alg, alg_len);
    p += alg_len;

    if (kid_len) {
        t->kid = memcpy(p, w->t.kid, kid_len);
        p += kid_len;
    }

    for (i = 0; i < w->nroles; i++) {
        roles[i] = memcpy(p, w->roles[i].data, w->roles[i].len);
        p += w->roles[i].len;
        *p++ = '\0';
    }

    t->roles = roles;
    t->nroles = w->nroles;
    t->claims = p;

    if (dels == 0) {
        memcpy(p, claims, n);
        p += n;

    } else {
        /* outside strings DEL is no JSON: each one is in a string */
        for (i = 0; i < n; i++) {
            if (claims[i] == 0x7f) {
                p = memcpy(p, "\\u007f", sizeof("\\u007f") - 1);
                p += sizeof("\\u007f") - 1;

            } else {
                *p++ = claims[i];
            }
        }
    }

    *p = '\0';
    t->claims_len = (size_t) (p - t->claims);

    free(big);

    t->payload = w->payload;
    w->payload = NULL;
    t->size = size + omni_json_size(t->payload);

    *tok = t;

    return OMNI_TOKEN_OK;
}


/* Whether JSON text that jansson parsed has no whitespace between tokens. */

static int
omni_json_is_compact(const char *s, size_t len)
{
    int     in_string;
    size_t  i;

    in_string = 0;

    for (i = 0; i < len; i++) {
        if (in_string) {
            if (s[i] == '\\') {
                i++;

            } else if (s[i] == '"') {
                in_string = 0;
            }

            continue;
        }

        if (s[i] == '"') {
            in_string = 1;

        } else if (s[i] == ' ' || s[i] == '\t' || s[i] == '\n'
                   || s[i] == '\r')
        {
            return 0;
        }
    }

    return 1;
}


/* Roughly what jansson holds for v: a few dozen bytes a value. */

static size_t
omni_json_size(const json_t *v)
{
    size_t       i, size;
    json_t      *item;
    const char  *key;

    size = 64;

    if (json_is_object(v)) {
        json_object_foreach((json_t *) v, key, item) {
            size += 64 + strlen(key) + omni_json_size(item);
        }

    } else if (json_is_array(v)) {
        json_array_foreach(v, i, item) {
            size += sizeof(json_t *) + omni_json_size(item);
        }

    } else if (json_is_string(v)) {
        size += json_string_length(v);
    }

    return size;
}
