/*
 * Copyright (C) The omni gateway authors
 *
 * Fuzz target: the token path as a request takes it.  The input is lines;
 * the first byte says what a line is:
 *
 *   even   a token as it came in a header, verified as it is;
 *   odd    "HEADER<TAB>PAYLOAD", two JSON texts that are encoded and
 *          signed with the HS256 secret here, so that mutations reach the
 *          header and claims checks behind the signature.
 *
 * Each token goes through the verified-token cache first, as
 * ngx_http_omni_jwt.c does, under one of two configurations (strict and
 * lax, by line parity); the clock moves 100 s a line.  A cache hit must
 * agree with a fresh verification at that time.  Every line also goes
 * through the base64url codec, which must round-trip.
 */


#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "omni_base64.h"
#include "omni_keys.h"
#include "omni_token.h"
#include "omni_token_cache.h"
#include "test_keys.h"


#define FUZZ_NOW         1800000000
#define FUZZ_STEP        100
#define FUZZ_LINE_MAX    16384


static omni_keyset_t      *fuzz_ks;
static omni_token_conf_t   fuzz_conf[2];

static const char  *fuzz_issuers[] = { "https://idp.example.com" };
static const char  *fuzz_audiences[] = { "orders-api", "web" };


static void
fuzz_fail(const char *what)
{
    fprintf(stderr, "fuzz_token: %s\n", what);
    abort();
}


static void
fuzz_init(void)
{
    char  err[OMNI_ERRLEN];

    fuzz_ks = omni_keyset_new();

    if (fuzz_ks == NULL
        || omni_keyset_add_jwks_data(fuzz_ks, "hs.jwks",
               (const unsigned char *) TEST_KEY_HS256_JWKS,
               sizeof(TEST_KEY_HS256_JWKS) - 1, err) != 0
        || omni_keyset_add_pem_data(fuzz_ks, "rs.pem",
               (const unsigned char *) test_key_rs256_pem,
               sizeof(test_key_rs256_pem) - 1, "rs", 0, err) != 0
        || omni_keyset_add_pem_data(fuzz_ks, "es.pem",
               (const unsigned char *) test_key_es256_pem,
               sizeof(test_key_es256_pem) - 1, "es", 0, err) != 0)
    {
        fuzz_fail(err);
    }

    /* as a location with every check configured */
    fuzz_conf[0].keys = fuzz_ks;
    fuzz_conf[0].max_length = 8192;
    fuzz_conf[0].leeway = 30;
    fuzz_conf[0].require_exp = 1;
    fuzz_conf[0].max_lifetime = 86400;
    fuzz_conf[0].issuers = fuzz_issuers;
    fuzz_conf[0].nissuers = 1;
    fuzz_conf[0].audiences = fuzz_audiences;
    fuzz_conf[0].naudiences = 2;
    fuzz_conf[0].roles_claim = "roles";

    /* and one with the defaults and a nested roles claim */
    fuzz_conf[1].keys = fuzz_ks;
    fuzz_conf[1].max_length = 4096;
    fuzz_conf[1].roles_claim = "realm_access.roles";
}


static void
fuzz_token_free(void *value)
{
    omni_token_free(value);
}


/* the codec: what decodes encodes back the same, and the other way */
static void
fuzz_base64(const char *s, size_t len)
{
    long            n, lenient;
    char           *text;
    size_t          tlen, plain;
    unsigned char  *bin;

    bin = malloc(omni_base64_decoded_len(len) + 1);
    text = malloc(omni_base64_encoded_len(len) + 1);

    if (bin == NULL || text == NULL) {
        fuzz_fail("out of memory");
    }

    n = omni_base64url_decode(bin, s, len);
    if (n >= 0) {
        tlen = omni_base64url_encode(text, bin, (size_t) n);
        if (tlen != len || memcmp(text, s, len) != 0) {
            fuzz_fail("base64url: decoded text does not encode back");
        }
    }

    /* with padding allowed, the same text less its '=' */
    n = omni_base64url_decode_padded(bin, s, len);
    if (n >= 0) {
        for (plain = len; plain > 0 && s[plain - 1] == '='; plain--) {
            /* void */
        }

        tlen = omni_base64url_encode(text, bin, (size_t) n);
        if (tlen != plain || memcmp(text, s, plain) != 0) {
            fuzz_fail("base64url: padded text does not encode back");
        }
    }

    /* standard: the one encoding, which the lenient decoder reads alike */
    n = omni_base64_decode(bin, s, len);
    if (n >= 0) {
        tlen = omni_base64_encode(text, bin, (size_t) n);
        if (tlen != len || memcmp(text, s, len) != 0) {
            fuzz_fail("base64: decoded text does not encode back");
        }
    }

    lenient = omni_base64_decode_lenient(bin, s, len);

    if (n >= 0
        && (lenient != n
            || omni_base64_encode(text, bin, (size_t) n) != len
            || memcmp(text, s, len) != 0))
    {
        fuzz_fail("base64: the lenient decoder reads another value");
    }

    free(text);
    free(bin);

    bin = malloc(omni_base64_decoded_len(omni_base64_encoded_len(len))
                 + 1);
    text = malloc(omni_base64_encoded_len(len) + 1);

    if (bin == NULL || text == NULL) {
        fuzz_fail("out of memory");
    }

    tlen = omni_base64url_encode(text, (const unsigned char *) s, len);
    n = omni_base64url_decode(bin, text, tlen);

    if (n < 0 || (size_t) n != len || memcmp(bin, s, len) != 0) {
        fuzz_fail("base64url: encoded bytes do not decode back");
    }

    free(text);
    free(bin);
}


/* "HEADER<TAB>PAYLOAD" into a token signed with the HS256 secret */
static char *
fuzz_sign(const char *line, size_t len, size_t *out_len)
{
    char           *tok, *p;
    size_t          hlen, plen;
    unsigned int    mlen;
    const char     *tab;
    unsigned char   mac[EVP_MAX_MD_SIZE];

    tab = memchr(line, '\t', len);
    if (tab == NULL) {
        return NULL;
    }

    hlen = (size_t) (tab - line);
    plen = len - hlen - 1;

    tok = malloc(omni_base64_encoded_len(hlen)
                 + omni_base64_encoded_len(plen)
                 + omni_base64_encoded_len(EVP_MAX_MD_SIZE) + 3);
    if (tok == NULL) {
        fuzz_fail("out of memory");
    }

    p = tok;
    p += omni_base64url_encode(p, (const unsigned char *) line, hlen);
    *p++ = '.';
    p += omni_base64url_encode(p, (const unsigned char *) tab + 1, plen);

    if (HMAC(EVP_sha256(), TEST_KEY_HS256_SECRET,
             sizeof(TEST_KEY_HS256_SECRET) - 1, (const unsigned char *) tok,
             (size_t) (p - tok), mac, &mlen) == NULL)
    {
        fuzz_fail("HMAC failed");
    }

    *p++ = '.';
    p += omni_base64url_encode(p, mac, mlen);

    *out_len = (size_t) (p - tok);

    return tok;
}


/* what a verified token promises its readers */
static void
fuzz_check_token(const omni_token_t *tok)
{
    char         buf[256];
    long         n;
    size_t       i;
    const char  *text;

    if (tok->alg == NULL || tok->key == NULL || tok->claims == NULL
        || tok->payload == NULL)
    {
        fuzz_fail("a verified token lacks its alg, key or claims");
    }

    if (!omni_text_is_clean(tok->claims, tok->claims_len)
        || strlen(tok->claims) != tok->claims_len)
    {
        fuzz_fail("the claims text holds a control byte");
    }

    for (i = 0; i < tok->nroles; i++) {
        if (tok->roles[i] == NULL || tok->roles[i][0] == '\0'
            || strlen(tok->roles[i]) > OMNI_TOKEN_MAX_ROLE_LEN)
        {
            fuzz_fail("a role is empty or too long");
        }
    }

    n = omni_token_claim_text(tok, "sub", 3, buf, sizeof(buf), &text);
    if (n >= 0 && text == NULL && (size_t) n < sizeof(buf)) {
        fuzz_fail("a claim that fits was not written");
    }

    (void) omni_token_claim_text(tok, "aud", 3, buf, sizeof(buf), &text);
    (void) omni_token_claim_text(tok, "roles", 5, buf, 8, &text);
}


static void
fuzz_one(omni_token_cache_t *cache, const omni_token_conf_t *conf,
    const char *token, size_t len, time_t now)
{
    unsigned char              key[OMNI_TOKEN_CACHE_KEY_LEN];
    omni_token_t              *tok, *fresh;
    omni_token_rc_t            rc, again;
    omni_token_error_t         err;
    omni_token_cache_entry_t  *e;

    e = NULL;

    if (len && len <= conf->max_length) {
        omni_token_cache_key(cache, token, len, key);
        e = omni_token_cache_get(cache, key, conf, now);
    }

    if (e != NULL) {
        tok = omni_token_cache_value(e);
        rc = omni_token_check_time(conf, tok, now, &err);

        again = omni_token_verify(conf, token, len, now, &fresh, &err);
        if (again != rc) {
            fprintf(stderr, "cached: %s, verified: %s\n",
                    omni_token_code(rc), omni_token_code(again));
            fuzz_fail("a cache hit and a verification disagree");
        }

        if (fresh != NULL) {
            omni_token_free(fresh);
        }

        omni_token_cache_release(e);
        return;
    }

    rc = omni_token_verify(conf, token, len, now, &tok, &err);

    if (omni_token_code(rc) == NULL) {
        fuzz_fail("a result without a code");
    }

    if (rc != OMNI_TOKEN_OK) {
        if (tok != NULL) {
            fuzz_fail("a refused token was returned");
        }

        if (memchr(err.detail, '\0', sizeof(err.detail)) == NULL
            || (err.has_kid && memchr(err.kid, '\0', sizeof(err.kid)) == NULL)
            || (err.has_sub && memchr(err.sub, '\0', sizeof(err.sub)) == NULL))
        {
            fuzz_fail("an error text without its NUL");
        }

        return;
    }

    fuzz_check_token(tok);

    if (len == 0 || len > conf->max_length) {
        fuzz_fail("a token of no size or past the bound verified");
    }

    e = omni_token_cache_put(cache, key, conf, tok, tok->size,
                             omni_token_expires(conf, tok), now);
    if (e == NULL) {
        fuzz_fail("out of memory");
    }

    omni_token_cache_release(e);
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int                  sign;
    char                *signed_tok;
    size_t               len, n, tlen;
    const char          *line, *end, *nl;
    omni_token_cache_t  *cache;

    if (fuzz_ks == NULL) {
        fuzz_init();
    }

    if (size == 0) {
        return 0;
    }

    sign = data[0] & 1;

    /* two entries and a few kilobytes: puts evict */
    cache = omni_token_cache_new(2, 6144, 300, fuzz_token_free);
    if (cache == NULL) {
        fuzz_fail("out of memory");
    }

    line = (const char *) data + 1;
    end = (const char *) data + size;

    for (n = 0; line <= end; n++) {
        nl = memchr(line, '\n', (size_t) (end - line));
        len = (size_t) ((nl ? nl : end) - line);

        if (len <= FUZZ_LINE_MAX) {
            fuzz_base64(line, len);
        }

        if (sign) {
            signed_tok = fuzz_sign(line, len, &tlen);
            if (signed_tok != NULL) {
                fuzz_one(cache, &fuzz_conf[n & 1], signed_tok, tlen,
                         FUZZ_NOW + (time_t) (n * FUZZ_STEP));
                free(signed_tok);
            }

        } else {
            fuzz_one(cache, &fuzz_conf[n & 1], line, len,
                     FUZZ_NOW + (time_t) (n * FUZZ_STEP));
        }

        if (nl == NULL) {
            break;
        }

        line = nl + 1;
    }

    omni_token_cache_free(cache);

    return 0;
}
