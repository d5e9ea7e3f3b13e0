/*
 * Copyright (C) The omni gateway authors
 *
 * Unit tests of the plain-C verification core: key loading and token
 * verification (its base64url: test_base64.c).  Every key is generated at
 * run time into a temporary directory that the group teardown removes;
 * nothing is committed.
 */


#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include <jansson.h>
#include <jwt.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>

#include "omni_base64.h"
#include "omni_keys.h"
#include "omni_token.h"


#define TEST_NOW          1700000000
#define TEST_DIR_LEN      256
#define TEST_PATH_LEN     512
#define TEST_MAX_LENGTH   8192

/* claims relative to TEST_NOW */
#define TEST_EXP          "\"exp\":1700000300"           /* now + 300 */
#define TEST_CLAIMS       "{\"sub\":\"alice\"," TEST_EXP "}"
#define TEST_HS256        "{\"alg\":\"HS256\",\"typ\":\"JWT\"}"


typedef struct {
    EVP_PKEY       *pkey;
    char           *priv;          /* PEM, what libjwt signs with */
    size_t          priv_len;
    char           *pub;           /* PEM, as written to path */
    size_t          pub_len;
    char            path[TEST_PATH_LEN];
} test_pkey_t;


typedef struct {
    unsigned char   data[64];
    size_t          len;
    char            path[TEST_PATH_LEN];
} test_secret_t;


typedef struct {
    char            dir[TEST_DIR_LEN];

    test_pkey_t     rsa;           /* RSA-2048 */
    test_pkey_t     rsa2;          /* another RSA-2048, for rotation */
    test_pkey_t     rsa1024;
    test_pkey_t     ec256;
    test_pkey_t     ec384;
    test_pkey_t     ec521;

    test_secret_t   hs32;
    test_secret_t   hs32b;         /* another 32-byte secret */
    test_secret_t   hs64;
    test_secret_t   hs10;

    char            private_path[TEST_PATH_LEN];
    char            cert_path[TEST_PATH_LEN];
    char            garbage_path[TEST_PATH_LEN];
    char            pem_secret_path[TEST_PATH_LEN];
    char            empty_path[TEST_PATH_LEN];
    char            missing_path[TEST_PATH_LEN];
    char            jwks_path[TEST_PATH_LEN];
} test_fixture_t;


static test_fixture_t   test_fx;

/* the 64-byte secret, no kid: set up afresh for each claims test */
static omni_keyset_t   *test_claims_ks;


/* fixtures */

static int
test_write_file(char *path, const char *name, const void *data, size_t len)
{
    int    n;
    FILE  *f;

    n = snprintf(path, TEST_PATH_LEN, "%s/%s", test_fx.dir, name);
    if (n < 0 || n >= TEST_PATH_LEN) {
        return -1;
    }

    f = fopen(path, "wb");
    if (f == NULL) {
        return -1;
    }

    if (len && fwrite(data, 1, len, f) != len) {
        fclose(f);
        return -1;
    }

    return fclose(f) == 0 ? 0 : -1;
}


static char *
test_pem(EVP_PKEY *pkey, int private, size_t *len)
{
    BIO   *bio;
    char  *data, *pem;
    long   n;

    bio = BIO_new(BIO_s_mem());
    if (bio == NULL) {
        return NULL;
    }

    if ((private ? PEM_write_bio_PrivateKey(bio, pkey, NULL, NULL, 0, NULL,
                                            NULL)
                 : PEM_write_bio_PUBKEY(bio, pkey)) != 1)
    {
        BIO_free(bio);
        return NULL;
    }

    n = BIO_get_mem_data(bio, &data);

    pem = malloc((size_t) n + 1);
    if (pem != NULL) {
        memcpy(pem, data, (size_t) n);
        pem[n] = '\0';
        *len = (size_t) n;
    }

    BIO_free(bio);

    return pem;
}


static int
test_pkey_init(test_pkey_t *k, const char *name, EVP_PKEY *pkey)
{
    if (pkey == NULL) {
        return -1;
    }

    k->pkey = pkey;
    k->priv = test_pem(pkey, 1, &k->priv_len);
    k->pub = test_pem(pkey, 0, &k->pub_len);

    if (k->priv == NULL || k->pub == NULL) {
        return -1;
    }

    return test_write_file(k->path, name, k->pub, k->pub_len);
}


static void
test_pkey_free(test_pkey_t *k)
{
    EVP_PKEY_free(k->pkey);

    if (k->priv) {
        OPENSSL_cleanse(k->priv, k->priv_len);
        free(k->priv);
    }

    free(k->pub);
}


static int
test_secret_init(test_secret_t *s, const char *name, size_t len)
{
    s->len = len;

    if (RAND_bytes(s->data, (int) len) != 1) {
        return -1;
    }

    return test_write_file(s->path, name, s->data, len);
}


/* a self-signed certificate for the key, to load through omni_jwt_key */
static int
test_cert_init(char *path, const char *name, EVP_PKEY *pkey)
{
    int         rc;
    BIO        *bio;
    X509       *x;
    long        n;
    char       *data;
    X509_NAME  *subject;

    x = X509_new();
    if (x == NULL) {
        return -1;
    }

    rc = -1;
    bio = NULL;
    subject = X509_get_subject_name(x);

    if (X509_set_version(x, 2) != 1
        || ASN1_INTEGER_set(X509_get_serialNumber(x), 1) != 1
        || X509_gmtime_adj(X509_getm_notBefore(x), 0) == NULL
        || X509_gmtime_adj(X509_getm_notAfter(x), 3600) == NULL
        || X509_NAME_add_entry_by_txt(subject, "CN", MBSTRING_ASC,
                                      (const unsigned char *) "omni-test",
                                      -1, -1, 0) != 1
        || X509_set_issuer_name(x, subject) != 1
        || X509_set_pubkey(x, pkey) != 1
        || X509_sign(x, pkey, EVP_sha256()) <= 0
        || (bio = BIO_new(BIO_s_mem())) == NULL
        || PEM_write_bio_X509(bio, x) != 1)
    {
        goto done;
    }

    n = BIO_get_mem_data(bio, &data);
    rc = test_write_file(path, name, data, (size_t) n);

done:

    BIO_free(bio);
    X509_free(x);

    return rc;
}


static int
test_fixture_init(void)
{
    const char  *tmp;

    static const char  garbage[] = "this is not a key\n";

    memset(&test_fx, 0, sizeof(test_fixture_t));

    tmp = getenv("TMPDIR");
    if (snprintf(test_fx.dir, TEST_DIR_LEN, "%s/omni-test-XXXXXX",
                 tmp && tmp[0] ? tmp : "/tmp") >= TEST_DIR_LEN
        || mkdtemp(test_fx.dir) == NULL)
    {
        test_fx.dir[0] = '\0';
        return -1;
    }

    if (test_pkey_init(&test_fx.rsa, "rsa.pem",
                       EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t) 2048))
        || test_pkey_init(&test_fx.rsa2, "rsa2.pem",
                          EVP_PKEY_Q_keygen(NULL, NULL, "RSA",
                                            (size_t) 2048))
        || test_pkey_init(&test_fx.rsa1024, "rsa1024.pem",
                          EVP_PKEY_Q_keygen(NULL, NULL, "RSA",
                                            (size_t) 1024))
        || test_pkey_init(&test_fx.ec256, "ec256.pem",
                          EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256"))
        || test_pkey_init(&test_fx.ec384, "ec384.pem",
                          EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384"))
        || test_pkey_init(&test_fx.ec521, "ec521.pem",
                          EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-521")))
    {
        return -1;
    }

    if (test_secret_init(&test_fx.hs32, "hs32.secret", 32)
        || test_secret_init(&test_fx.hs32b, "hs32b.secret", 32)
        || test_secret_init(&test_fx.hs64, "hs64.secret", 64)
        || test_secret_init(&test_fx.hs10, "hs10.secret", 10))
    {
        return -1;
    }

    if (test_write_file(test_fx.private_path, "private.pem",
                        test_fx.rsa.priv, test_fx.rsa.priv_len)
        || test_cert_init(test_fx.cert_path, "cert.pem", test_fx.rsa.pkey)
        || test_write_file(test_fx.garbage_path, "garbage.pem", garbage,
                           sizeof(garbage) - 1)
        || test_write_file(test_fx.pem_secret_path, "pem.secret",
                           test_fx.rsa.pub, test_fx.rsa.pub_len)
        || test_write_file(test_fx.empty_path, "empty.secret", "", 0))
    {
        return -1;
    }

    if (snprintf(test_fx.missing_path, TEST_PATH_LEN, "%s/no-such-file.pem",
                 test_fx.dir) >= TEST_PATH_LEN
        || snprintf(test_fx.jwks_path, TEST_PATH_LEN, "%s/jwks.json",
                    test_fx.dir) >= TEST_PATH_LEN)
    {
        return -1;
    }

    return 0;
}


static int
test_teardown(void **state)
{
    DIR            *dir;
    char            path[TEST_PATH_LEN];
    struct dirent  *de;

    (void) state;

    test_pkey_free(&test_fx.rsa);
    test_pkey_free(&test_fx.rsa2);
    test_pkey_free(&test_fx.rsa1024);
    test_pkey_free(&test_fx.ec256);
    test_pkey_free(&test_fx.ec384);
    test_pkey_free(&test_fx.ec521);

    OPENSSL_cleanse(&test_fx.hs32, sizeof(test_secret_t));
    OPENSSL_cleanse(&test_fx.hs32b, sizeof(test_secret_t));
    OPENSSL_cleanse(&test_fx.hs64, sizeof(test_secret_t));
    OPENSSL_cleanse(&test_fx.hs10, sizeof(test_secret_t));

    if (test_fx.dir[0] == '\0') {
        return 0;
    }

    dir = opendir(test_fx.dir);
    if (dir != NULL) {
        while ((de = readdir(dir)) != NULL) {
            if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            {
                continue;
            }

            if (snprintf(path, sizeof(path), "%s/%s", test_fx.dir,
                         de->d_name) < (int) sizeof(path))
            {
                (void) unlink(path);
            }
        }

        closedir(dir);
    }

    return rmdir(test_fx.dir) == 0 ? 0 : -1;
}


static int
test_setup(void **state)
{
    if (test_fixture_init() != 0) {
        /* whatever was made so far goes */
        (void) test_teardown(state);
        return -1;
    }

    return 0;
}


/* helpers */

static void
test_mentions(const char *text, const char *needle)
{
    if (strstr(text, needle) == NULL) {
        fail_msg("\"%s\" does not mention \"%s\"", text, needle);
    }
}


static char *
test_b64(const void *data, size_t len)
{
    char    *s;
    size_t   n;

    s = malloc(omni_base64_encoded_len(len) + 1);
    assert_non_null(s);

    n = omni_base64url_encode(s, data, len);
    s[n] = '\0';

    return s;
}


/* the part-th (0, 1, 2) dot-separated part of token */
static const char *
test_part(const char *token, int part, size_t *len)
{
    const char  *p, *dot;

    p = token;

    while (part--) {
        p = strchr(p, '.');
        assert_non_null(p);
        p++;
    }

    dot = strchr(p, '.');
    *len = dot ? (size_t) (dot - p) : strlen(p);

    return p;
}


static char *
test_join(const char *header, size_t hlen, const char *payload, size_t plen,
    const char *sig, size_t slen)
{
    char  *s;

    s = malloc(hlen + plen + slen + 3);
    assert_non_null(s);

    memcpy(s, header, hlen);
    s[hlen] = '.';
    memcpy(s + hlen + 1, payload, plen);
    s[hlen + 1 + plen] = '.';
    memcpy(s + hlen + plen + 2, sig, slen);
    s[hlen + plen + slen + 2] = '\0';

    return s;
}


/* a token signed by libjwt: RS and ES take the private PEM, HS the secret */
static char *
test_mint(const char *alg, const void *key, size_t key_len, const char *kid,
    const char *payload, const char *header)
{
    char   *token;
    jwt_t  *jwt;

    assert_int_equal(jwt_new(&jwt), 0);

    assert_int_equal(jwt_add_grants_json(jwt, payload), 0);

    if (kid != NULL) {
        assert_int_equal(jwt_add_header(jwt, "kid", kid), 0);
    }

    if (header != NULL) {
        assert_int_equal(jwt_add_headers_json(jwt, header), 0);
    }

    assert_int_equal(jwt_set_alg(jwt, jwt_str_alg(alg), key, (int) key_len),
                     0);

    token = jwt_encode_str(jwt);
    jwt_free(jwt);

    assert_non_null(token);

    return token;
}


static char *
test_mint_pkey(const char *alg, const test_pkey_t *k, const char *kid,
    const char *payload)
{
    return test_mint(alg, k->priv, k->priv_len, kid, payload, NULL);
}


static char *
test_mint_hs(const char *alg, const test_secret_t *s, const char *kid,
    const char *payload)
{
    return test_mint(alg, s->data, s->len, kid, payload, NULL);
}


/*
 * A token built by hand, for what libjwt will not make: HMAC-SHA256 over
 * the signing input when secret is given, an empty signature otherwise.
 */
static char *
test_forge_len(const char *header, size_t hlen, const char *payload,
    size_t plen, const void *secret, size_t secret_len)
{
    char           *token;
    size_t          n;
    unsigned int    maclen;
    unsigned char   mac[EVP_MAX_MD_SIZE];

    token = malloc(omni_base64_encoded_len(hlen)
                   + omni_base64_encoded_len(plen)
                   + omni_base64_encoded_len(EVP_MAX_MD_SIZE) + 3);
    assert_non_null(token);

    n = omni_base64url_encode(token, (const unsigned char *) header, hlen);
    token[n++] = '.';
    n += omni_base64url_encode(token + n, (const unsigned char *) payload,
                               plen);

    if (secret != NULL) {
        assert_non_null(HMAC(EVP_sha256(), secret, (int) secret_len,
                             (unsigned char *) token, n, mac, &maclen));
        token[n++] = '.';
        n += omni_base64url_encode(token + n, mac, maclen);

    } else {
        token[n++] = '.';
    }

    token[n] = '\0';

    return token;
}


static char *
test_forge(const char *header, const char *payload, const void *secret,
    size_t secret_len)
{
    return test_forge_len(header, strlen(header), payload, strlen(payload),
                          secret, secret_len);
}


static void
test_conf_init(omni_token_conf_t *conf, const omni_keyset_t *ks)
{
    memset(conf, 0, sizeof(omni_token_conf_t));

    conf->keys = ks;
    conf->max_length = TEST_MAX_LENGTH;
    conf->leeway = 0;
    conf->require_exp = 1;
}


static omni_token_rc_t
test_verify(const omni_token_conf_t *conf, const char *token,
    omni_token_t **tok, omni_token_error_t *err)
{
    return omni_token_verify(conf, token, strlen(token), TEST_NOW, tok, err);
}


static void
test_release(omni_token_t *tok)
{
    if (tok != NULL) {
        omni_token_free(tok);
    }
}


/*
 * Verifies token (which it frees), expects rc and, when detail is given,
 * a reason that mentions it.
 */
static void
test_check(const omni_token_conf_t *conf, char *token, omni_token_rc_t expect,
    const char *detail)
{
    char                why[OMNI_TOKEN_DETAIL_LEN];
    omni_token_t       *tok;
    omni_token_rc_t     rc;
    omni_token_error_t  err;

    rc = test_verify(conf, token, &tok, &err);
    memcpy(why, err.detail, sizeof(why));
    test_release(tok);
    free(token);

    if (rc != expect) {
        fail_msg("got %s (\"%s\"), expected %s", omni_token_code(rc), why,
                 omni_token_code(expect));
    }

    if (detail != NULL) {
        test_mentions(why, detail);
    }
}


static omni_keyset_t *
test_keyset(void)
{
    omni_keyset_t  *ks;

    ks = omni_keyset_new();
    assert_non_null(ks);

    return ks;
}


static void
test_add_pem(omni_keyset_t *ks, const char *path, const char *kid,
    unsigned algs)
{
    char  err[OMNI_ERRLEN];

    if (omni_keyset_add_pem(ks, path, kid, algs, err) != 0) {
        fail_msg("%s", err);
    }
}


static void
test_add_secret(omni_keyset_t *ks, const char *path, const char *kid,
    unsigned algs)
{
    char  err[OMNI_ERRLEN];

    if (omni_keyset_add_secret(ks, path, kid, algs, err) != 0) {
        fail_msg("%s", err);
    }
}


static void
test_add_jwks(omni_keyset_t *ks, const char *path)
{
    char  err[OMNI_ERRLEN];

    if (omni_keyset_add_jwks(ks, path, err) != 0) {
        fail_msg("%s", err);
    }
}


static void
test_pem_error(const char *path, const char *kid, unsigned algs,
    const char *needle)
{
    char            err[OMNI_ERRLEN];
    omni_keyset_t  *ks;

    ks = test_keyset();
    err[0] = '\0';

    assert_int_equal(omni_keyset_add_pem(ks, path, kid, algs, err), -1);
    assert_int_equal(ks->nkeys, 0);
    omni_keyset_free(ks);

    test_mentions(err, needle);
}


static void
test_secret_error(const char *path, unsigned algs, const char *needle)
{
    char            err[OMNI_ERRLEN];
    omni_keyset_t  *ks;

    ks = test_keyset();
    err[0] = '\0';

    assert_int_equal(omni_keyset_add_secret(ks, path, NULL, algs, err), -1);
    assert_int_equal(ks->nkeys, 0);
    omni_keyset_free(ks);

    test_mentions(err, needle);
}


/* returns how many keys the failed load left behind */
static size_t
test_jwks_load_error(const char *path, const char *needle)
{
    char            err[OMNI_ERRLEN];
    size_t          n;
    omni_keyset_t  *ks;

    ks = test_keyset();
    err[0] = '\0';

    assert_int_equal(omni_keyset_add_jwks(ks, path, err), -1);
    n = ks->nkeys;
    omni_keyset_free(ks);

    test_mentions(err, needle);

    return n;
}


static void
test_jwks_error(const char *text, const char *needle)
{
    char  path[TEST_PATH_LEN];

    assert_int_equal(test_write_file(path, "bad.json", text, strlen(text)),
                     0);

    assert_int_equal(test_jwks_load_error(path, needle), 0);
}


/* a JWK member holding a big number, left-padded to pad bytes if not 0 */
static void
test_jwk_bn(json_t *jwk, const char *member, EVP_PKEY *pkey,
    const char *param, size_t pad)
{
    char           *b64;
    BIGNUM         *bn;
    size_t          len;
    unsigned char   buf[1024];

    bn = NULL;
    assert_int_equal(EVP_PKEY_get_bn_param(pkey, param, &bn), 1);

    len = pad ? pad : (size_t) BN_num_bytes(bn);
    assert_true(len <= sizeof(buf));
    assert_int_equal(BN_bn2binpad(bn, buf, (int) len), (int) len);
    BN_free(bn);

    b64 = test_b64(buf, len);
    assert_int_equal(json_object_set_new(jwk, member, json_string(b64)), 0);
    free(b64);
}


static json_t *
test_jwk(const test_pkey_t *k, const char *kid, const char *alg,
    const char *use)
{
    int      bits;
    json_t  *jwk;

    jwk = json_object();
    assert_non_null(jwk);

    if (EVP_PKEY_get_base_id(k->pkey) == EVP_PKEY_RSA) {
        json_object_set_new(jwk, "kty", json_string("RSA"));
        test_jwk_bn(jwk, "n", k->pkey, OSSL_PKEY_PARAM_RSA_N, 0);
        test_jwk_bn(jwk, "e", k->pkey, OSSL_PKEY_PARAM_RSA_E, 0);

    } else {
        bits = EVP_PKEY_get_bits(k->pkey);
        json_object_set_new(jwk, "kty", json_string("EC"));
        json_object_set_new(jwk, "crv", json_string(bits == 256 ? "P-256"
                                                    : bits == 384 ? "P-384"
                                                    : "P-521"));
        test_jwk_bn(jwk, "x", k->pkey, OSSL_PKEY_PARAM_EC_PUB_X,
                    (size_t) (bits + 7) / 8);
        test_jwk_bn(jwk, "y", k->pkey, OSSL_PKEY_PARAM_EC_PUB_Y,
                    (size_t) (bits + 7) / 8);
    }

    if (kid != NULL) {
        json_object_set_new(jwk, "kid", json_string(kid));
    }

    if (alg != NULL) {
        json_object_set_new(jwk, "alg", json_string(alg));
    }

    if (use != NULL) {
        json_object_set_new(jwk, "use", json_string(use));
    }

    return jwk;
}


static json_t *
test_jwk_oct(const test_secret_t *s, const char *kid)
{
    char    *b64;
    json_t  *jwk;

    b64 = test_b64(s->data, s->len);
    jwk = json_pack("{s:s, s:s, s:s}", "kty", "oct", "k", b64, "kid", kid);
    free(b64);

    assert_non_null(jwk);

    return jwk;
}


/* writes {"keys": [...]} to test_fx.jwks_path; steals the keys */
static void
test_jwks_write(json_t *keys)
{
    json_t  *root;

    assert_non_null(keys);

    root = json_pack("{s:o}", "keys", keys);
    assert_non_null(root);
    assert_int_equal(json_dump_file(root, test_fx.jwks_path, JSON_INDENT(2)),
                     0);
    json_decref(root);
}


static void
test_alg_names(void **state)
{
    int          alg;
    char         err[OMNI_ERRLEN];
    unsigned     algs;
    const char  *name;

    (void) state;

    for (alg = 0; alg < OMNI_ALG_COUNT; alg++) {
        name = omni_alg_name((omni_alg_t) alg);
        assert_int_equal(omni_alg_by_name(name, strlen(name)), alg);
    }

    assert_int_equal(omni_alg_by_name("HS256", 5), OMNI_ALG_HS256);
    assert_int_equal(omni_alg_by_name("ES512", 5), OMNI_ALG_ES512);
    assert_int_equal(omni_alg_by_name("RS384,RS512", 5), OMNI_ALG_RS384);
    assert_string_equal(omni_alg_name(OMNI_ALG_RS384), "RS384");
    assert_string_equal(omni_alg_name(OMNI_ALG_COUNT), "unknown");

    /* RFC 7518 names are case-sensitive; none is never an algorithm */
    assert_int_equal(omni_alg_by_name("hs256", 5), -1);
    assert_int_equal(omni_alg_by_name("Hs256", 5), -1);
    assert_int_equal(omni_alg_by_name("none", 4), -1);
    assert_int_equal(omni_alg_by_name("NONE", 4), -1);
    assert_int_equal(omni_alg_by_name("HS25", 4), -1);
    assert_int_equal(omni_alg_by_name("HS2560", 6), -1);
    assert_int_equal(omni_alg_by_name("PS256", 5), -1);
    assert_int_equal(omni_alg_by_name("", 0), -1);

    assert_int_equal(omni_algs_parse("RS256,RS384", &algs, err), 0);
    assert_int_equal(algs, OMNI_ALG_BIT(OMNI_ALG_RS256)
                           | OMNI_ALG_BIT(OMNI_ALG_RS384));

    assert_int_equal(omni_algs_parse("ES384", &algs, err), 0);
    assert_int_equal(algs, OMNI_ALG_BIT(OMNI_ALG_ES384));

    assert_int_equal(omni_algs_parse("HS256,HS384,HS512", &algs, err), 0);
    assert_int_equal(algs, OMNI_ALGS_HMAC);

    err[0] = '\0';
    assert_int_equal(omni_algs_parse("RS256,PS256", &algs, err), -1);
    test_mentions(err, "\"PS256\"");

    err[0] = '\0';
    assert_int_equal(omni_algs_parse("rs256", &algs, err), -1);
    test_mentions(err, "\"rs256\"");

    assert_int_equal(omni_algs_parse("", &algs, err), -1);
    assert_int_equal(omni_algs_parse("RS256,", &algs, err), -1);
}


/* key loading */

static void
test_keys_pem(void **state)
{
    omni_keyset_t  *ks;

    (void) state;

    ks = test_keyset();

    test_add_pem(ks, test_fx.rsa.path, "rsa", 0);
    test_add_pem(ks, test_fx.ec256.path, "p256", 0);
    test_add_pem(ks, test_fx.ec384.path, NULL, 0);
    test_add_pem(ks, test_fx.ec521.path, NULL, 0);
    test_add_pem(ks, test_fx.rsa2.path, NULL, OMNI_ALG_BIT(OMNI_ALG_RS256));
    test_add_pem(ks, test_fx.ec256.path, NULL, OMNI_ALG_BIT(OMNI_ALG_ES256));
    test_add_pem(ks, test_fx.cert_path, NULL, 0);

    assert_int_equal(ks->nkeys, 7);

    assert_int_equal(ks->keys[0].type, OMNI_KEY_RSA);
    assert_int_equal(ks->keys[0].algs, OMNI_ALGS_RSA);
    assert_string_equal(ks->keys[0].kid, "rsa");
    assert_string_equal(ks->keys[0].source, test_fx.rsa.path);
    assert_non_null(ks->keys[0].pkey);
    assert_null(ks->keys[0].secret);

    assert_int_equal(ks->keys[1].type, OMNI_KEY_EC);
    assert_int_equal(ks->keys[1].algs, OMNI_ALG_BIT(OMNI_ALG_ES256));
    assert_string_equal(ks->keys[1].kid, "p256");

    assert_int_equal(ks->keys[2].type, OMNI_KEY_EC);
    assert_int_equal(ks->keys[2].algs, OMNI_ALG_BIT(OMNI_ALG_ES384));
    assert_null(ks->keys[2].kid);

    assert_int_equal(ks->keys[3].type, OMNI_KEY_EC);
    assert_int_equal(ks->keys[3].algs, OMNI_ALG_BIT(OMNI_ALG_ES512));

    /* an explicit pin narrows the default */
    assert_int_equal(ks->keys[4].type, OMNI_KEY_RSA);
    assert_int_equal(ks->keys[4].algs, OMNI_ALG_BIT(OMNI_ALG_RS256));
    assert_int_equal(ks->keys[5].algs, OMNI_ALG_BIT(OMNI_ALG_ES256));

    /* a certificate stands for its public key */
    assert_int_equal(ks->keys[6].type, OMNI_KEY_RSA);
    assert_int_equal(ks->keys[6].algs, OMNI_ALGS_RSA);
    assert_int_equal(EVP_PKEY_eq(ks->keys[6].pkey, test_fx.rsa.pkey), 1);

    omni_keyset_free(ks);
}


static void
test_keys_pem_errors(void **state)
{
    (void) state;

    /* a key pinned to another family's algorithm */
    test_pem_error(test_fx.rsa.path, NULL, OMNI_ALG_BIT(OMNI_ALG_HS256),
                   "RS256");
    test_pem_error(test_fx.rsa.path, NULL,
                   OMNI_ALG_BIT(OMNI_ALG_RS256) | OMNI_ALG_BIT(OMNI_ALG_ES256),
                   "can only be pinned");
    test_pem_error(test_fx.ec256.path, NULL, OMNI_ALG_BIT(OMNI_ALG_ES384),
                   "ES256");
    test_pem_error(test_fx.ec521.path, NULL, OMNI_ALG_BIT(OMNI_ALG_RS512),
                   "ES512");

    test_pem_error(test_fx.rsa1024.path, NULL, 0, "2048");
    test_pem_error(test_fx.rsa1024.path, NULL, 0, "1024 bits");
    test_pem_error(test_fx.private_path, NULL, 0, "private key");
    test_pem_error(test_fx.garbage_path, NULL, 0, test_fx.garbage_path);
    test_pem_error(test_fx.garbage_path, NULL, 0, "not a PEM public key");
    test_pem_error(test_fx.missing_path, NULL, 0, test_fx.missing_path);
    test_pem_error(test_fx.hs64.path, NULL, 0, "not a PEM public key");

    /* a kid must be printable and of sane length */
    test_pem_error(test_fx.rsa.path, "", 0, "kid");
    test_pem_error(test_fx.rsa.path, "a\nb", 0, "control");
}


static void
test_keys_secret(void **state)
{
    omni_keyset_t  *ks;

    (void) state;

    ks = test_keyset();

    test_add_secret(ks, test_fx.hs32.path, NULL, 0);
    test_add_secret(ks, test_fx.hs64.path, "hs64", 0);
    test_add_secret(ks, test_fx.hs64.path, NULL, OMNI_ALG_BIT(OMNI_ALG_HS384));

    assert_int_equal(ks->nkeys, 3);

    assert_int_equal(ks->keys[0].type, OMNI_KEY_HMAC);
    assert_int_equal(ks->keys[0].algs, OMNI_ALG_BIT(OMNI_ALG_HS256));
    assert_int_equal(ks->keys[0].secret_len, 32);
    assert_memory_equal(ks->keys[0].secret, test_fx.hs32.data, 32);
    assert_null(ks->keys[0].pkey);

    assert_int_equal(ks->keys[1].type, OMNI_KEY_HMAC);
    assert_int_equal(ks->keys[1].algs, OMNI_ALGS_HMAC);
    assert_int_equal(ks->keys[1].secret_len, 64);
    assert_string_equal(ks->keys[1].kid, "hs64");

    assert_int_equal(ks->keys[2].algs, OMNI_ALG_BIT(OMNI_ALG_HS384));

    omni_keyset_free(ks);

    test_secret_error(test_fx.hs10.path, 0, "32");
    test_secret_error(test_fx.hs10.path, 0, "10 bytes");
    test_secret_error(test_fx.hs32.path, OMNI_ALG_BIT(OMNI_ALG_HS512),
                      "too short");
    test_secret_error(test_fx.hs32.path, OMNI_ALG_BIT(OMNI_ALG_RS256),
                      "HS256");
    test_secret_error(test_fx.pem_secret_path, 0, "PEM");
    test_secret_error(test_fx.empty_path, 0, "\" is empty");
    test_secret_error(test_fx.missing_path, 0, test_fx.missing_path);
}


static void
test_keys_duplicate_kid(void **state)
{
    char            err[OMNI_ERRLEN];
    omni_keyset_t  *ks;

    (void) state;

    ks = test_keyset();

    test_add_pem(ks, test_fx.rsa.path, "main-2024", 0);
    test_add_pem(ks, test_fx.rsa2.path, NULL, 0);

    err[0] = '\0';
    assert_int_equal(omni_keyset_add_pem(ks, test_fx.ec256.path, "main-2024",
                                         0, err), -1);
    test_mentions(err, "\"main-2024\"");
    test_mentions(err, test_fx.rsa.path);

    err[0] = '\0';
    assert_int_equal(omni_keyset_add_secret(ks, test_fx.hs32.path,
                                            "main-2024", 0, err), -1);
    test_mentions(err, "main-2024");

    /* a failed load leaves the set as it was */
    assert_int_equal(ks->nkeys, 2);

    test_add_pem(ks, test_fx.ec256.path, "main-2025", 0);
    assert_int_equal(ks->nkeys, 3);

    omni_keyset_free(ks);
}


static void
test_keys_jwks(void **state)
{
    json_t             *keys;
    omni_keyset_t      *ks;
    omni_token_conf_t   conf;

    (void) state;

    keys = json_pack("[o, o, o]",
                     test_jwk(&test_fx.rsa, "rsa-1", NULL, NULL),
                     test_jwk(&test_fx.ec256, "ec-1", NULL, "sig"),
                     test_jwk_oct(&test_fx.hs32, "oct-1"));
    test_jwks_write(keys);

    ks = test_keyset();
    test_add_jwks(ks, test_fx.jwks_path);

    assert_int_equal(ks->nkeys, 3);

    assert_int_equal(ks->keys[0].type, OMNI_KEY_RSA);
    assert_int_equal(ks->keys[0].algs, OMNI_ALGS_RSA);
    assert_string_equal(ks->keys[0].kid, "rsa-1");
    test_mentions(ks->keys[0].source, "jwks.json#0");
    assert_int_equal(EVP_PKEY_eq(ks->keys[0].pkey, test_fx.rsa.pkey), 1);

    assert_int_equal(ks->keys[1].type, OMNI_KEY_EC);
    assert_int_equal(ks->keys[1].algs, OMNI_ALG_BIT(OMNI_ALG_ES256));
    assert_string_equal(ks->keys[1].kid, "ec-1");
    test_mentions(ks->keys[1].source, "jwks.json#1");
    assert_int_equal(EVP_PKEY_eq(ks->keys[1].pkey, test_fx.ec256.pkey), 1);

    assert_int_equal(ks->keys[2].type, OMNI_KEY_HMAC);
    assert_int_equal(ks->keys[2].algs, OMNI_ALG_BIT(OMNI_ALG_HS256));
    assert_string_equal(ks->keys[2].kid, "oct-1");
    assert_int_equal(ks->keys[2].secret_len, 32);
    assert_memory_equal(ks->keys[2].secret, test_fx.hs32.data, 32);

    /* the keys built from JWK members verify real tokens */
    test_conf_init(&conf, ks);
    test_check(&conf, test_mint_pkey("RS512", &test_fx.rsa, "rsa-1",
                                     TEST_CLAIMS), OMNI_TOKEN_OK, NULL);
    test_check(&conf, test_mint_pkey("ES256", &test_fx.ec256, "ec-1",
                                     TEST_CLAIMS), OMNI_TOKEN_OK, NULL);
    test_check(&conf, test_mint_hs("HS256", &test_fx.hs32, "oct-1",
                                   TEST_CLAIMS), OMNI_TOKEN_OK, NULL);

    omni_keyset_free(ks);

    /* P-384 and P-521 coordinates, left-padded; "alg" pins */
    keys = json_pack("[o, o, o]",
                     test_jwk(&test_fx.ec384, "ec-384", NULL, NULL),
                     test_jwk(&test_fx.ec521, "ec-521", "ES512", NULL),
                     test_jwk(&test_fx.rsa2, "rsa-384", "RS384", NULL));
    test_jwks_write(keys);

    ks = test_keyset();
    test_add_jwks(ks, test_fx.jwks_path);

    assert_int_equal(ks->nkeys, 3);
    assert_int_equal(ks->keys[0].algs, OMNI_ALG_BIT(OMNI_ALG_ES384));
    assert_int_equal(ks->keys[1].algs, OMNI_ALG_BIT(OMNI_ALG_ES512));
    assert_int_equal(ks->keys[2].type, OMNI_KEY_RSA);
    assert_int_equal(ks->keys[2].algs, OMNI_ALG_BIT(OMNI_ALG_RS384));

    test_conf_init(&conf, ks);
    test_check(&conf, test_mint_pkey("ES384", &test_fx.ec384, "ec-384",
                                     TEST_CLAIMS), OMNI_TOKEN_OK, NULL);
    test_check(&conf, test_mint_pkey("ES512", &test_fx.ec521, NULL,
                                     TEST_CLAIMS), OMNI_TOKEN_OK, NULL);
    test_check(&conf, test_mint_pkey("RS384", &test_fx.rsa2, "rsa-384",
                                     TEST_CLAIMS), OMNI_TOKEN_OK, NULL);
    test_check(&conf, test_mint_pkey("RS256", &test_fx.rsa2, "rsa-384",
                                     TEST_CLAIMS),
               OMNI_TOKEN_ALG_NOT_ALLOWED, "RS256");

    omni_keyset_free(ks);

    /* encryption keys are skipped */
    keys = json_pack("[o, o]",
                     test_jwk(&test_fx.rsa, "enc-1", NULL, "enc"),
                     test_jwk(&test_fx.ec256, "sig-1", NULL, "sig"));
    test_jwks_write(keys);

    ks = test_keyset();
    test_add_jwks(ks, test_fx.jwks_path);

    assert_int_equal(ks->nkeys, 1);
    assert_string_equal(ks->keys[0].kid, "sig-1");
    assert_int_equal(ks->keys[0].type, OMNI_KEY_EC);

    omni_keyset_free(ks);
}


static void
test_keys_jwks_errors(void **state)
{
    long            n;
    char            text[512], *x, *one, *short_x;
    json_t         *jwk;
    const char     *b64;
    unsigned char   buf[32], mod[512];

    (void) state;

    test_jwks_error("{\"keys\": [\n  {\"kty\": }\n]}\n", "line 2");
    test_jwks_error("{}", "\"keys\"");
    test_jwks_error("{\"keys\": []}", "\"keys\"");
    test_jwks_error("{\"keys\": {}}", "\"keys\"");
    test_jwks_error("{\"keys\": [1]}", "bad.json#0");
    test_jwks_error("{\"keys\": [{\"kty\": \"OKP\", \"crv\": \"Ed25519\", "
                    "\"x\": \"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo\"}]}",
                    "\"OKP\"");
    test_jwks_error("{\"keys\": [{\"kid\": \"a\"}]}", "kty");
    test_jwks_error("{\"keys\": [{\"kty\": \"RSA\", \"kid\": 5, "
                    "\"n\": \"AQAB\", \"e\": \"AQAB\"}]}",
                    "\"kid\" is not a string");
    test_jwks_error("{\"keys\": [{\"kty\": \"RSA\", \"e\": \"AQAB\"}]}",
                    "\"n\"");
    test_jwks_error("{\"keys\": [{\"kty\": \"oct\", \"k\": \"c2hvcnQ\"}]}",
                    "32");
    test_jwks_error("{\"keys\": [{\"kty\": \"oct\", \"k\": \"a+b/\"}]}",
                    "base64url");
    test_jwks_error("{\"keys\": [{\"kty\": \"oct\", \"alg\": \"none\", "
                    "\"k\": \"AAAA\"}]}", "\"none\"");
    test_jwks_error("{\"keys\": [{\"kty\": \"EC\", \"crv\": \"P-192\", "
                    "\"x\": \"AAAA\", \"y\": \"AAAA\"}]}", "P-192");
    test_jwks_error("{\"keys\": [{\"kty\": \"RSA\", \"use\": 1}]}", "use");

    /* a bad key is named by its index, skipped keys counted */
    test_jwks_error("{\"keys\": [{\"kty\": \"RSA\", \"use\": \"enc\"}, "
                    "{\"kty\": \"OKP\"}]}", "bad.json#1");

    /* an EC coordinate of the wrong length */
    x = test_b64(test_fx.hs32.data, 32);
    short_x = test_b64(test_fx.hs32.data, 31);
    snprintf(text, sizeof(text),
             "{\"keys\": [{\"kty\": \"EC\", \"crv\": \"P-256\", "
             "\"x\": \"%s\", \"y\": \"%s\"}]}", short_x, x);
    test_jwks_error(text, "32 bytes");

    /* (1, 1) is not on P-256 */
    memset(buf, 0, sizeof(buf));
    buf[31] = 1;
    one = test_b64(buf, sizeof(buf));
    snprintf(text, sizeof(text),
             "{\"keys\": [{\"kty\": \"EC\", \"crv\": \"P-256\", "
             "\"x\": \"%s\", \"y\": \"%s\"}]}", one, one);
    test_jwks_error(text, "EC public key");
    test_jwks_error(text, "bad.json#0");

    free(x);
    free(short_x);
    free(one);

    /* RSA: too small, and an even modulus */
    test_jwks_write(json_pack("[o]",
                              test_jwk(&test_fx.rsa1024, NULL, NULL, NULL)));
    assert_int_equal(test_jwks_load_error(test_fx.jwks_path, "2048"), 0);

    jwk = test_jwk(&test_fx.rsa, NULL, NULL, NULL);
    b64 = json_string_value(json_object_get(jwk, "n"));
    assert_non_null(b64);
    n = omni_base64url_decode(mod, b64, strlen(b64));
    assert_int_equal(n, 256);
    mod[255] &= 0xfe;
    x = test_b64(mod, (size_t) n);
    json_object_set_new(jwk, "n", json_string(x));
    free(x);
    test_jwks_write(json_pack("[o]", jwk));
    assert_int_equal(test_jwks_load_error(test_fx.jwks_path,
                                          "RSA public key"), 0);

    /* duplicate kids within one document */
    test_jwks_write(json_pack("[o, o]",
                              test_jwk(&test_fx.rsa, "same", NULL, NULL),
                              test_jwk(&test_fx.ec256, "same", NULL, NULL)));
    /* all or nothing: the first key does not stay loaded */
    assert_int_equal(test_jwks_load_error(test_fx.jwks_path,
                                          "duplicate kid \"same\""), 0);

    /* an EC key pinned by "alg" to another curve's algorithm */
    test_jwks_write(json_pack("[o]",
                              test_jwk(&test_fx.ec256, NULL, "ES384", NULL)));
    assert_int_equal(test_jwks_load_error(test_fx.jwks_path, "ES256"), 0);

    /* an RSA key pinned by "alg" to an HMAC algorithm */
    test_jwks_write(json_pack("[o]",
                              test_jwk(&test_fx.rsa, NULL, "HS256", NULL)));
    assert_int_equal(test_jwks_load_error(test_fx.jwks_path, "RS256"), 0);
}


/* verification: accepted tokens */

static void
test_verify_algorithms(void **state)
{
    char               *with, *without;
    size_t              i;
    omni_token_t       *tok;
    omni_token_error_t  err;
    omni_keyset_t      *ks;
    omni_token_conf_t   conf;

    static const struct {
        const char           *alg;
        const char           *kid;
        size_t                key;      /* index in the keyset */
        const test_secret_t  *secret;
        const test_pkey_t    *pkey;
    } cases[] = {
        { "HS256", "hs", 0, &test_fx.hs64, NULL },
        { "HS384", "hs", 0, &test_fx.hs64, NULL },
        { "HS512", "hs", 0, &test_fx.hs64, NULL },
        { "RS256", "rs", 1, NULL, &test_fx.rsa },
        { "RS384", "rs", 1, NULL, &test_fx.rsa },
        { "RS512", "rs", 1, NULL, &test_fx.rsa },
        { "ES256", "e256", 2, NULL, &test_fx.ec256 },
        { "ES384", "e384", 3, NULL, &test_fx.ec384 },
        { "ES512", "e521", 4, NULL, &test_fx.ec521 },
    };

    (void) state;

    ks = test_keyset();
    test_add_secret(ks, test_fx.hs64.path, "hs", 0);
    test_add_pem(ks, test_fx.rsa.path, "rs", 0);
    test_add_pem(ks, test_fx.ec256.path, "e256", 0);
    test_add_pem(ks, test_fx.ec384.path, "e384", 0);
    test_add_pem(ks, test_fx.ec521.path, "e521", 0);

    test_conf_init(&conf, ks);

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        if (cases[i].secret != NULL) {
            with = test_mint_hs(cases[i].alg, cases[i].secret, cases[i].kid,
                                TEST_CLAIMS);
            without = test_mint_hs(cases[i].alg, cases[i].secret, NULL,
                                   TEST_CLAIMS);

        } else {
            with = test_mint_pkey(cases[i].alg, cases[i].pkey, cases[i].kid,
                                  TEST_CLAIMS);
            without = test_mint_pkey(cases[i].alg, cases[i].pkey, NULL,
                                     TEST_CLAIMS);
        }

        if (test_verify(&conf, with, &tok, &err) != OMNI_TOKEN_OK) {
            fail_msg("%s with kid: %s", cases[i].alg, err.detail);
        }

        assert_ptr_equal(tok->key, &ks->keys[cases[i].key]);
        assert_string_equal(tok->alg, cases[i].alg);
        assert_string_equal(tok->kid, cases[i].kid);
        test_release(tok);

        if (test_verify(&conf, without, &tok, &err) != OMNI_TOKEN_OK) {
            fail_msg("%s without kid: %s", cases[i].alg, err.detail);
        }

        assert_ptr_equal(tok->key, &ks->keys[cases[i].key]);
        assert_null(tok->kid);
        test_release(tok);

        free(with);
        free(without);
    }

    omni_keyset_free(ks);
}


static void
test_verify_rotation(void **state)
{
    char               *token;
    omni_token_t       *tok;
    omni_token_error_t  err;
    omni_keyset_t      *ks;
    test_secret_t       other;
    omni_token_conf_t   conf;

    (void) state;

    /* two secrets without kid: each is tried */
    ks = test_keyset();
    test_add_secret(ks, test_fx.hs32.path, NULL, 0);
    test_add_secret(ks, test_fx.hs32b.path, NULL, 0);
    test_conf_init(&conf, ks);

    token = test_mint_hs("HS256", &test_fx.hs32b, NULL, TEST_CLAIMS);
    assert_int_equal(test_verify(&conf, token, &tok, &err), OMNI_TOKEN_OK);
    assert_ptr_equal(tok->key, &ks->keys[1]);
    test_release(tok);
    free(token);

    token = test_mint_hs("HS256", &test_fx.hs32, NULL, TEST_CLAIMS);
    assert_int_equal(test_verify(&conf, token, &tok, &err), OMNI_TOKEN_OK);
    assert_ptr_equal(tok->key, &ks->keys[0]);
    test_release(tok);
    free(token);

    /* a secret that is in no file */
    other.len = 32;
    assert_int_equal(RAND_bytes(other.data, 32), 1);
    test_check(&conf, test_mint_hs("HS256", &other, NULL, TEST_CLAIMS),
               OMNI_TOKEN_SIGNATURE_INVALID, "signature");

    omni_keyset_free(ks);

    /* two RSA keys with kids: the kid picks the key */
    ks = test_keyset();
    test_add_pem(ks, test_fx.rsa.path, "2023", 0);
    test_add_pem(ks, test_fx.rsa2.path, "2024", 0);
    test_conf_init(&conf, ks);

    token = test_mint_pkey("RS256", &test_fx.rsa, "2023", TEST_CLAIMS);
    assert_int_equal(test_verify(&conf, token, &tok, &err), OMNI_TOKEN_OK);
    assert_ptr_equal(tok->key, &ks->keys[0]);
    test_release(tok);
    free(token);

    token = test_mint_pkey("RS256", &test_fx.rsa2, "2024", TEST_CLAIMS);
    assert_int_equal(test_verify(&conf, token, &tok, &err), OMNI_TOKEN_OK);
    assert_ptr_equal(tok->key, &ks->keys[1]);
    test_release(tok);
    free(token);

    /* without kid both are tried */
    token = test_mint_pkey("RS384", &test_fx.rsa2, NULL, TEST_CLAIMS);
    assert_int_equal(test_verify(&conf, token, &tok, &err), OMNI_TOKEN_OK);
    assert_ptr_equal(tok->key, &ks->keys[1]);
    test_release(tok);
    free(token);

    /* a kid is binding: the other key is not tried */
    test_check(&conf, test_mint_pkey("RS256", &test_fx.rsa2, "2023",
                                     TEST_CLAIMS),
               OMNI_TOKEN_SIGNATURE_INVALID, NULL);

    omni_keyset_free(ks);
}


/* verification: attacks */

static void
test_attack_alg_none(void **state)
{
    size_t              i;
    omni_keyset_t      *ks;
    omni_token_conf_t   conf;

    static const char  *headers[] = {
        "{\"alg\":\"none\",\"typ\":\"JWT\"}",
        "{\"alg\":\"None\",\"typ\":\"JWT\"}",
        "{\"alg\":\"NONE\",\"typ\":\"JWT\"}",
        "{\"alg\":\"nOnE\"}",
        "{\"alg\":\"none\",\"kid\":\"rs\"}",
    };

    (void) state;

    ks = test_keyset();
    test_add_pem(ks, test_fx.rsa.path, "rs", 0);
    test_add_secret(ks, test_fx.hs32.path, NULL, 0);
    test_conf_init(&conf, ks);

    for (i = 0; i < sizeof(headers) / sizeof(headers[0]); i++) {
        test_check(&conf, test_forge(headers[i], TEST_CLAIMS, NULL, 0),
                   OMNI_TOKEN_ALG_NOT_ALLOWED, "not allowed");
    }

    /* a lowercase spelling of a real algorithm is not that algorithm */
    test_check(&conf, test_forge("{\"alg\":\"hs256\"}", TEST_CLAIMS,
                                 test_fx.hs32.data, test_fx.hs32.len),
               OMNI_TOKEN_ALG_NOT_ALLOWED, NULL);

    omni_keyset_free(ks);
}


static void
test_attack_key_confusion(void **state)
{
    omni_keyset_t      *ks;
    omni_token_conf_t   conf;

    (void) state;

    /* HS256 keyed with the public key PEM the gateway holds */
    ks = test_keyset();
    test_add_pem(ks, test_fx.rsa.path, "rs", 0);
    test_conf_init(&conf, ks);

    test_check(&conf, test_forge(TEST_HS256, TEST_CLAIMS, test_fx.rsa.pub,
                                 test_fx.rsa.pub_len),
               OMNI_TOKEN_ALG_NOT_ALLOWED, "HS256");
    test_check(&conf, test_forge("{\"alg\":\"HS256\",\"kid\":\"rs\"}",
                                 TEST_CLAIMS, test_fx.rsa.pub,
                                 test_fx.rsa.pub_len),
               OMNI_TOKEN_ALG_NOT_ALLOWED, "HS256");

    /* an EC key pinned to ES256 does not verify ES384 */
    test_add_pem(ks, test_fx.ec256.path, "ec", 0);
    test_check(&conf, test_mint_pkey("ES384", &test_fx.ec384, "ec",
                                     TEST_CLAIMS),
               OMNI_TOKEN_ALG_NOT_ALLOWED, "ES384");

    omni_keyset_free(ks);

    /* RS256 against a gateway holding only an HMAC secret */
    ks = test_keyset();
    test_add_secret(ks, test_fx.hs64.path, "hs", 0);
    test_conf_init(&conf, ks);

    test_check(&conf, test_mint_pkey("RS256", &test_fx.rsa, NULL,
                                     TEST_CLAIMS),
               OMNI_TOKEN_ALG_NOT_ALLOWED, "RS256");
    test_check(&conf, test_mint_pkey("RS256", &test_fx.rsa, "hs",
                                     TEST_CLAIMS),
               OMNI_TOKEN_ALG_NOT_ALLOWED, "RS256");

    /* an unknown kid */
    test_check(&conf, test_mint_hs("HS256", &test_fx.hs64, "nobody",
                                   TEST_CLAIMS),
               OMNI_TOKEN_KEY_UNKNOWN, "kid");

    omni_keyset_free(ks);
}


static void
test_attack_tampered(void **state)
{
    long                n;
    char               *token, *payload, *sig, *forged;
    size_t              hlen, plen, slen;
    const char         *h, *p, *s;
    omni_keyset_t      *ks;
    omni_token_conf_t   conf;
    unsigned char       raw[256];

    (void) state;

    ks = test_keyset();
    test_add_pem(ks, test_fx.rsa.path, "rs", 0);
    test_add_pem(ks, test_fx.ec256.path, "ec", 0);
    test_add_secret(ks, test_fx.hs32.path, "hs", 0);
    test_conf_init(&conf, ks);

    /* another sub under the original signature */
    token = test_mint_pkey("RS256", &test_fx.rsa, "rs", TEST_CLAIMS);
    h = test_part(token, 0, &hlen);
    s = test_part(token, 2, &slen);

    payload = test_b64("{\"sub\":\"admin\"," TEST_EXP "}",
                       strlen("{\"sub\":\"admin\"," TEST_EXP "}"));
    forged = test_join(h, hlen, payload, strlen(payload), s, slen);
    test_check(&conf, forged, OMNI_TOKEN_SIGNATURE_INVALID, "signature");
    free(payload);

    /* the untouched token still verifies */
    test_check(&conf, token, OMNI_TOKEN_OK, NULL);

    /* an ES256 signature one byte short */
    token = test_mint_pkey("ES256", &test_fx.ec256, "ec", TEST_CLAIMS);
    h = test_part(token, 0, &hlen);
    p = test_part(token, 1, &plen);
    s = test_part(token, 2, &slen);

    n = omni_base64url_decode(raw, s, slen);
    assert_int_equal(n, 64);
    sig = test_b64(raw, (size_t) n - 1);
    forged = test_join(h, hlen, p, plen, sig, strlen(sig));
    test_check(&conf, forged, OMNI_TOKEN_SIGNATURE_INVALID, NULL);
    free(sig);

    /* one bit flipped */
    raw[10] ^= 0x01;
    sig = test_b64(raw, (size_t) n);
    forged = test_join(h, hlen, p, plen, sig, strlen(sig));
    test_check(&conf, forged, OMNI_TOKEN_SIGNATURE_INVALID, NULL);
    free(sig);

    /* restored, it verifies again */
    raw[10] ^= 0x01;
    sig = test_b64(raw, (size_t) n);
    forged = test_join(h, hlen, p, plen, sig, strlen(sig));
    test_check(&conf, forged, OMNI_TOKEN_OK, NULL);
    free(sig);
    free(token);

    /* an HMAC with a flipped bit, and one cut short */
    token = test_mint_hs("HS256", &test_fx.hs32, "hs", TEST_CLAIMS);
    h = test_part(token, 0, &hlen);
    p = test_part(token, 1, &plen);
    s = test_part(token, 2, &slen);

    n = omni_base64url_decode(raw, s, slen);
    assert_int_equal(n, 32);
    sig = test_b64(raw, 31);
    forged = test_join(h, hlen, p, plen, sig, strlen(sig));
    test_check(&conf, forged, OMNI_TOKEN_SIGNATURE_INVALID, NULL);
    free(sig);

    raw[31] ^= 0x80;
    sig = test_b64(raw, 32);
    forged = test_join(h, hlen, p, plen, sig, strlen(sig));
    test_check(&conf, forged, OMNI_TOKEN_SIGNATURE_INVALID, NULL);
    free(sig);

    /* an empty signature under a real algorithm */
    forged = test_join(h, hlen, p, plen, "", 0);
    test_check(&conf, forged, OMNI_TOKEN_SIGNATURE_INVALID, NULL);
    free(token);

    /* signed by another RSA key that claims the configured kid */
    test_check(&conf, test_mint_pkey("RS256", &test_fx.rsa2, "rs",
                                     TEST_CLAIMS),
               OMNI_TOKEN_SIGNATURE_INVALID, "signature");

    omni_keyset_free(ks);
}


static void
test_attack_crit(void **state)
{
    omni_keyset_t      *ks;
    omni_token_conf_t   conf;

    (void) state;

    ks = test_keyset();
    test_add_secret(ks, test_fx.hs32.path, NULL, 0);
    test_conf_init(&conf, ks);

    /* correctly signed, but with an extension nobody understands */
    test_check(&conf, test_mint("HS256", test_fx.hs32.data, test_fx.hs32.len,
                                NULL, TEST_CLAIMS, "{\"crit\":[\"exp\"]}"),
               OMNI_TOKEN_CRIT_UNSUPPORTED, "critical");
    test_check(&conf, test_mint("HS256", test_fx.hs32.data, test_fx.hs32.len,
                                NULL, TEST_CLAIMS, "{\"crit\":[]}"),
               OMNI_TOKEN_CRIT_UNSUPPORTED, NULL);

    /* other unknown header members are fine */
    test_check(&conf, test_mint("HS256", test_fx.hs32.data, test_fx.hs32.len,
                                NULL, TEST_CLAIMS, "{\"x-extra\":1}"),
               OMNI_TOKEN_OK, NULL);

    omni_keyset_free(ks);
}


static void
test_token_too_large(void **state)
{
    char               *token, garbage[100];
    size_t              len;
    omni_token_t       *tok;
    omni_token_error_t  err;
    omni_keyset_t      *ks;
    omni_token_conf_t   conf;

    (void) state;

    ks = test_keyset();
    test_add_secret(ks, test_fx.hs32.path, NULL, 0);
    test_conf_init(&conf, ks);

    /* the cap is inclusive */
    token = test_mint_hs("HS256", &test_fx.hs32, NULL, TEST_CLAIMS);
    len = strlen(token);

    conf.max_length = len;
    assert_int_equal(test_verify(&conf, token, &tok, &err), OMNI_TOKEN_OK);
    test_release(tok);

    conf.max_length = len - 1;
    assert_int_equal(test_verify(&conf, token, &tok, &err), OMNI_TOKEN_TOO_LARGE);
    test_release(tok);
    free(token);

    /* checked before anything is parsed */
    conf.max_length = 64;
    memset(garbage, '!', sizeof(garbage));
    assert_int_equal(omni_token_verify(&conf, garbage, sizeof(garbage),
                                       TEST_NOW, &tok, &err),
                     OMNI_TOKEN_TOO_LARGE);
    test_mentions(err.detail, "64");
    assert_null(tok);

    assert_int_equal(omni_token_verify(&conf, garbage, 64, TEST_NOW, &tok,
                                       &err),
                     OMNI_TOKEN_MALFORMED);
    assert_null(tok);

    omni_keyset_free(ks);
}


static void
test_token_malformed(void **state)
{
    char               *token, *bad, *sig;
    size_t              len;
    omni_token_t       *tok;
    omni_token_error_t  err;
    omni_keyset_t      *ks;
    omni_token_conf_t   conf;
    unsigned char       big[2048];

    (void) state;

    ks = test_keyset();
    test_add_secret(ks, test_fx.hs32.path, NULL, 0);
    test_conf_init(&conf, ks);

    assert_int_equal(omni_token_verify(&conf, "", 0, TEST_NOW, &tok, &err),
                     OMNI_TOKEN_MISSING);
    assert_null(tok);

    /* only the first len bytes count */
    assert_int_equal(omni_token_verify(&conf, "abc", 0, TEST_NOW, &tok,
                                       &err),
                     OMNI_TOKEN_MISSING);
    assert_null(tok);

    test_check(&conf, strdup("abc"), OMNI_TOKEN_MALFORMED, "three parts");
    test_check(&conf, strdup("abc.def"), OMNI_TOKEN_MALFORMED, "three parts");
    test_check(&conf, strdup("a.b.c.d"), OMNI_TOKEN_MALFORMED, "three parts");
    test_check(&conf, strdup("..sig"), OMNI_TOKEN_MALFORMED, NULL);
    test_check(&conf, strdup(".e30.sig"), OMNI_TOKEN_MALFORMED, NULL);
    test_check(&conf, strdup("e30..sig"), OMNI_TOKEN_MALFORMED, NULL);

    token = test_mint_hs("HS256", &test_fx.hs32, NULL, TEST_CLAIMS);
    len = strlen(token);

    /* standard base64 characters and padding are not base64url */
    bad = strdup(token);
    assert_non_null(bad);
    bad[len - 2] = '+';
    test_check(&conf, bad, OMNI_TOKEN_MALFORMED, "base64url");

    bad = strdup(token);
    assert_non_null(bad);
    bad[len - 2] = '/';
    test_check(&conf, bad, OMNI_TOKEN_MALFORMED, "base64url");

    bad = malloc(len + 2);
    assert_non_null(bad);
    memcpy(bad, token, len);
    memcpy(bad + len, "=", 2);
    test_check(&conf, bad, OMNI_TOKEN_MALFORMED, "base64url");

    bad = strdup(token);
    assert_non_null(bad);
    bad[3] = ' ';
    test_check(&conf, bad, OMNI_TOKEN_MALFORMED, NULL);

    /* a NUL byte inside the given length */
    bad = strdup(token);
    assert_non_null(bad);
    bad[5] = '\0';
    assert_int_equal(omni_token_verify(&conf, bad, len, TEST_NOW, &tok,
                                       &err),
                     OMNI_TOKEN_MALFORMED);
    assert_null(tok);
    free(bad);

    free(token);

    /* header or payload that is not JSON, or a header without alg */
    test_check(&conf, test_forge("nope", TEST_CLAIMS, test_fx.hs32.data,
                                 test_fx.hs32.len),
               OMNI_TOKEN_MALFORMED, NULL);
    test_check(&conf, test_forge(TEST_HS256, "{\"sub\":", test_fx.hs32.data,
                                 test_fx.hs32.len),
               OMNI_TOKEN_MALFORMED, NULL);
    test_check(&conf, test_forge("{\"typ\":\"JWT\"}", TEST_CLAIMS,
                                 test_fx.hs32.data, test_fx.hs32.len),
               OMNI_TOKEN_MALFORMED, NULL);
    test_check(&conf, test_forge("{\"alg\":256}", TEST_CLAIMS,
                                 test_fx.hs32.data, test_fx.hs32.len),
               OMNI_TOKEN_MALFORMED, NULL);

    /* a signature too large for any key is refused before the kid lookup */
    memset(big, 0x5a, sizeof(big));
    sig = test_b64(big, sizeof(big));
    bad = test_forge("{\"alg\":\"RS256\",\"kid\":\"nobody\"}", TEST_CLAIMS,
                     NULL, 0);
    token = malloc(strlen(bad) + strlen(sig) + 1);
    assert_non_null(token);
    strcpy(token, bad);
    strcat(token, sig);
    test_check(&conf, token, OMNI_TOKEN_SIGNATURE_INVALID, NULL);
    free(bad);
    free(sig);

    /* while an RSA-8192 one (1024 bytes, 1366 characters) fits */
    sig = test_b64(big, 1024);
    assert_int_equal(strlen(sig), 1366);
    bad = test_forge("{\"alg\":\"RS256\",\"kid\":\"nobody\"}", TEST_CLAIMS,
                     NULL, 0);
    token = malloc(strlen(bad) + strlen(sig) + 1);
    assert_non_null(token);
    strcpy(token, bad);
    strcat(token, sig);
    test_check(&conf, token, OMNI_TOKEN_KEY_UNKNOWN, NULL);
    free(bad);
    free(sig);

    omni_keyset_free(ks);
}


/* claims, against test_claims_ks: the 64-byte secret, no kid */

static omni_token_rc_t
test_claims_rc(const omni_token_conf_t *conf, const char *payload)
{
    char                *token;
    omni_token_t        *tok;
    omni_token_rc_t      rc;
    omni_token_error_t   err;

    token = test_mint_hs("HS256", &test_fx.hs64, NULL, payload);
    rc = test_verify(conf, token, &tok, &err);
    test_release(tok);
    free(token);

    return rc;
}


static void
test_claims(const omni_token_conf_t *conf, const char *payload,
    omni_token_rc_t expect)
{
    omni_token_rc_t  rc;

    rc = test_claims_rc(conf, payload);

    if (rc != expect) {
        fail_msg("%s: got %s, expected %s", payload, omni_token_code(rc),
                 omni_token_code(expect));
    }
}


static int
test_claims_setup(void **state)
{
    char  err[OMNI_ERRLEN];

    (void) state;

    test_claims_ks = omni_keyset_new();
    if (test_claims_ks == NULL) {
        return -1;
    }

    return omni_keyset_add_secret(test_claims_ks, test_fx.hs64.path, NULL, 0,
                                  err);
}


static int
test_claims_teardown(void **state)
{
    (void) state;

    omni_keyset_free(test_claims_ks);
    test_claims_ks = NULL;

    return 0;
}


static void
test_claims_exp(void **state)
{
    omni_token_conf_t  conf;

    (void) state;

    test_conf_init(&conf, test_claims_ks);

    test_claims(&conf, "{\"sub\":\"alice\"}", OMNI_TOKEN_CLAIM_MISSING);
    test_claims(&conf, "{\"sub\":\"alice\",\"exp\":1700000001}",
                OMNI_TOKEN_OK);
    test_claims(&conf, "{\"exp\":1700000000}", OMNI_TOKEN_EXPIRED);
    test_claims(&conf, "{\"exp\":1699999970}", OMNI_TOKEN_EXPIRED);
    test_claims(&conf, "{\"exp\":\"1700000300\"}", OMNI_TOKEN_CLAIM_INVALID);
    test_claims(&conf, "{\"exp\":true}", OMNI_TOKEN_CLAIM_INVALID);
    test_claims(&conf, "{\"exp\":null}", OMNI_TOKEN_CLAIM_INVALID);
    test_claims(&conf, "{\"exp\":1700000100.5}", OMNI_TOKEN_OK);
    test_claims(&conf, "{\"exp\":1699999999.5}", OMNI_TOKEN_EXPIRED);

    conf.leeway = 60;
    test_claims(&conf, "{\"exp\":1699999970}", OMNI_TOKEN_OK);
    test_claims(&conf, "{\"exp\":1699999940}", OMNI_TOKEN_EXPIRED);

    conf.leeway = 10;
    test_claims(&conf, "{\"exp\":1699999970}", OMNI_TOKEN_EXPIRED);

    conf.leeway = 0;
    conf.require_exp = 0;
    test_claims(&conf, "{\"sub\":\"alice\"}", OMNI_TOKEN_OK);
    test_claims(&conf, "{}", OMNI_TOKEN_OK);

    /* a present exp is still checked */
    test_claims(&conf, "{\"exp\":1699999999}", OMNI_TOKEN_EXPIRED);
    test_claims(&conf, "{\"exp\":\"soon\"}", OMNI_TOKEN_CLAIM_INVALID);
}


static void
test_claims_nbf_iat(void **state)
{
    omni_token_conf_t  conf;

    (void) state;

    test_conf_init(&conf, test_claims_ks);

    test_claims(&conf, "{" TEST_EXP ",\"nbf\":1700000030}",
                OMNI_TOKEN_NOT_YET_VALID);
    test_claims(&conf, "{" TEST_EXP ",\"nbf\":1700000000}", OMNI_TOKEN_OK);
    test_claims(&conf, "{" TEST_EXP ",\"nbf\":1699990000}", OMNI_TOKEN_OK);
    test_claims(&conf, "{" TEST_EXP ",\"nbf\":\"later\"}",
                OMNI_TOKEN_CLAIM_INVALID);

    test_claims(&conf, "{" TEST_EXP ",\"iat\":1700000100}",
                OMNI_TOKEN_ISSUED_IN_FUTURE);
    test_claims(&conf, "{" TEST_EXP ",\"iat\":1700000000}", OMNI_TOKEN_OK);
    test_claims(&conf, "{" TEST_EXP ",\"iat\":1699999000}", OMNI_TOKEN_OK);
    test_claims(&conf, "{" TEST_EXP ",\"iat\":[1]}",
                OMNI_TOKEN_CLAIM_INVALID);

    conf.leeway = 60;
    test_claims(&conf, "{" TEST_EXP ",\"nbf\":1700000030}", OMNI_TOKEN_OK);
    test_claims(&conf, "{" TEST_EXP ",\"nbf\":1700000061}",
                OMNI_TOKEN_NOT_YET_VALID);
    test_claims(&conf, "{" TEST_EXP ",\"iat\":1700000030}", OMNI_TOKEN_OK);
    test_claims(&conf, "{" TEST_EXP ",\"iat\":1700000100}",
                OMNI_TOKEN_ISSUED_IN_FUTURE);
}


static void
test_claims_issuer_audience(void **state)
{
    omni_token_conf_t   conf;

    static const char  *issuers[] = { "a", "b" };
    static const char  *audiences[] = { "api" };

    (void) state;

    test_conf_init(&conf, test_claims_ks);

    /* nothing configured: anything goes */
    test_claims(&conf, "{" TEST_EXP ",\"iss\":\"c\",\"aud\":\"x\"}",
                OMNI_TOKEN_OK);

    conf.issuers = issuers;
    conf.nissuers = 2;

    test_claims(&conf, "{" TEST_EXP ",\"iss\":\"b\"}", OMNI_TOKEN_OK);
    test_claims(&conf, "{" TEST_EXP ",\"iss\":\"a\"}", OMNI_TOKEN_OK);
    test_claims(&conf, "{" TEST_EXP ",\"iss\":\"c\"}",
                OMNI_TOKEN_ISSUER_MISMATCH);
    test_claims(&conf, "{" TEST_EXP "}", OMNI_TOKEN_ISSUER_MISMATCH);
    test_claims(&conf, "{" TEST_EXP ",\"iss\":\"A\"}",
                OMNI_TOKEN_ISSUER_MISMATCH);
    test_claims(&conf, "{" TEST_EXP ",\"iss\":[\"a\"]}",
                OMNI_TOKEN_ISSUER_MISMATCH);

    conf.nissuers = 0;
    conf.audiences = audiences;
    conf.naudiences = 1;

    test_claims(&conf, "{" TEST_EXP ",\"aud\":\"api\"}", OMNI_TOKEN_OK);
    test_claims(&conf, "{" TEST_EXP ",\"aud\":[\"x\",\"api\"]}",
                OMNI_TOKEN_OK);
    test_claims(&conf, "{" TEST_EXP ",\"aud\":[\"x\"]}",
                OMNI_TOKEN_AUDIENCE_MISMATCH);
    test_claims(&conf, "{" TEST_EXP ",\"aud\":[]}",
                OMNI_TOKEN_AUDIENCE_MISMATCH);
    test_claims(&conf, "{" TEST_EXP "}", OMNI_TOKEN_AUDIENCE_MISMATCH);
    test_claims(&conf, "{" TEST_EXP ",\"aud\":42}",
                OMNI_TOKEN_AUDIENCE_MISMATCH);
    test_claims(&conf, "{" TEST_EXP ",\"aud\":\"API\"}",
                OMNI_TOKEN_AUDIENCE_MISMATCH);

    /* the time claims come first */
    conf.nissuers = 2;
    test_claims(&conf, "{\"exp\":1,\"iss\":\"c\"}", OMNI_TOKEN_EXPIRED);
    test_claims(&conf, "{" TEST_EXP ",\"iss\":\"c\",\"aud\":\"x\"}",
                OMNI_TOKEN_ISSUER_MISMATCH);
    test_claims(&conf, "{" TEST_EXP ",\"iss\":\"a\",\"aud\":\"x\"}",
                OMNI_TOKEN_AUDIENCE_MISMATCH);
}


static void
test_claims_sub(void **state)
{
    char               *token;
    omni_token_t       *tok;
    omni_token_error_t  err;
    omni_keyset_t      *ks;
    omni_token_conf_t   conf;

    static const char  *issuers[] = { "a", "b" };

    (void) state;

    test_conf_init(&conf, test_claims_ks);

    test_claims(&conf, "{" TEST_EXP ",\"sub\":42}", OMNI_TOKEN_CLAIM_INVALID);
    test_claims(&conf, "{" TEST_EXP ",\"sub\":{\"id\":1}}",
                OMNI_TOKEN_CLAIM_INVALID);
    test_claims(&conf, "{" TEST_EXP ",\"sub\":\"a\\nb\"}",
                OMNI_TOKEN_CLAIM_INVALID);
    test_claims(&conf, "{" TEST_EXP ",\"sub\":\"a\\u007fb\"}",
                OMNI_TOKEN_CLAIM_INVALID);
    test_claims(&conf, "{" TEST_EXP ",\"sub\":\"j\\u00fcrgen b\"}",
                OMNI_TOKEN_OK);

    /* what a verified token tells the caller */
    ks = test_keyset();
    test_add_secret(ks, test_fx.hs32.path, "hs-main", 0);
    test_conf_init(&conf, ks);
    conf.issuers = issuers;
    conf.nissuers = 2;

    token = test_mint_hs("HS256", &test_fx.hs32, "hs-main",
                         "{\"iss\":\"b\",\"sub\":\"alice\"," TEST_EXP "}");

    assert_int_equal(test_verify(&conf, token, &tok, &err), OMNI_TOKEN_OK);
    assert_string_equal(tok->sub, "alice");
    assert_string_equal(tok->iss, "b");
    assert_string_equal(tok->kid, "hs-main");
    assert_string_equal(tok->alg, "HS256");
    assert_ptr_equal(tok->key, &ks->keys[0]);
    assert_int_equal(tok->nroles, 0);
    assert_non_null(tok->payload);
    test_release(tok);
    free(token);

    /* no sub at all is fine */
    token = test_mint_hs("HS256", &test_fx.hs32, NULL,
                         "{\"iss\":\"a\"," TEST_EXP "}");
    assert_int_equal(test_verify(&conf, token, &tok, &err), OMNI_TOKEN_OK);
    assert_null(tok->sub);
    assert_null(tok->kid);
    test_release(tok);
    free(token);

    /* a failure still says what was learnt, for the log */
    token = test_mint_hs("HS256", &test_fx.hs32, "hs-main",
                         "{\"iss\":\"b\",\"sub\":\"bob\",\"exp\":1}");
    assert_int_equal(test_verify(&conf, token, &tok, &err),
                     OMNI_TOKEN_EXPIRED);
    assert_null(tok);
    assert_true(err.has_kid);
    assert_string_equal(err.kid, "hs-main");
    assert_true(err.has_sub);
    assert_string_equal(err.sub, "bob");
    test_mentions(err.detail, "expired");
    free(token);

    omni_keyset_free(ks);
}


static void
test_forged_claims(const omni_token_conf_t *conf, const char *header,
    const char *payload, omni_token_rc_t expect, const char *detail)
{
    test_check(conf, test_forge(header, payload, test_fx.hs64.data,
                                test_fx.hs64.len),
               expect, detail);
}


static void
test_claims_duplicates(void **state)
{
    omni_token_conf_t  conf;

    (void) state;

    test_conf_init(&conf, test_claims_ks);
    conf.roles_claim = "realm_access.roles";

    /* control: the same shapes without duplicates pass */
    test_forged_claims(&conf, TEST_HS256,
                       "{\"sub\":\"a\"," TEST_EXP ",\"realm_access\":"
                       "{\"roles\":[\"admin\"]},\"x\":[{\"k\":1}]}",
                       OMNI_TOKEN_OK, NULL);

    /* the issuer and the gateway would read another sub, or other roles */
    test_forged_claims(&conf, TEST_HS256,
                       "{\"sub\":\"a\",\"sub\":\"b\"," TEST_EXP "}",
                       OMNI_TOKEN_MALFORMED, "duplicate");
    test_forged_claims(&conf, TEST_HS256,
                       "{" TEST_EXP ",\"realm_access\":{\"roles\":[\"a\"]},"
                       "\"realm_access\":{\"roles\":[\"admin\"]}}",
                       OMNI_TOKEN_MALFORMED, "claim set");

    /* at any depth, in objects and in arrays */
    test_forged_claims(&conf, TEST_HS256,
                       "{" TEST_EXP ",\"realm_access\":{\"roles\":[\"a\"],"
                       "\"roles\":[\"admin\"]}}",
                       OMNI_TOKEN_MALFORMED, "duplicate");
    test_forged_claims(&conf, TEST_HS256,
                       "{" TEST_EXP ",\"a\":{\"b\":{\"c\":1,\"c\":2}}}",
                       OMNI_TOKEN_MALFORMED, "duplicate");
    test_forged_claims(&conf, TEST_HS256,
                       "{" TEST_EXP ",\"x\":[{\"k\":1,\"k\":1}]}",
                       OMNI_TOKEN_MALFORMED, "duplicate");
    test_forged_claims(&conf, TEST_HS256,
                       "{\"exp\":1,\"exp\":1700000300}",
                       OMNI_TOKEN_MALFORMED, "duplicate");

    /* and in the header, before any key is tried */
    test_forged_claims(&conf,
                       "{\"alg\":\"HS256\",\"alg\":\"RS256\"}",
                       TEST_CLAIMS, OMNI_TOKEN_MALFORMED, "header");
    test_forged_claims(&conf,
                       "{\"alg\":\"HS256\",\"kid\":\"a\",\"kid\":\"b\"}",
                       TEST_CLAIMS, OMNI_TOKEN_MALFORMED, "duplicate");
}


static void
test_claims_time_range(void **state)
{
    omni_token_conf_t  conf;

    (void) state;

    test_conf_init(&conf, test_claims_ks);

    /* out of range, whichever claim: never accepted, never expired */
    test_forged_claims(&conf, TEST_HS256, "{\"exp\":1e300}",
                       OMNI_TOKEN_CLAIM_INVALID, "exp is out of range");
    test_forged_claims(&conf, TEST_HS256, "{" TEST_EXP ",\"nbf\":-1e300}",
                       OMNI_TOKEN_CLAIM_INVALID, "nbf is out of range");
    test_forged_claims(&conf, TEST_HS256, "{\"exp\":9223372036854775808}",
                       OMNI_TOKEN_CLAIM_INVALID, "exp is out of range");
    test_forged_claims(&conf, TEST_HS256,
                       "{\"exp\":-9223372036854775809}",
                       OMNI_TOKEN_CLAIM_INVALID, "exp is out of range");
    test_forged_claims(&conf, TEST_HS256, "{" TEST_EXP ",\"iat\":-1}",
                       OMNI_TOKEN_CLAIM_INVALID, "iat is out of range");
    test_forged_claims(&conf, TEST_HS256, "{\"exp\":-0.5}",
                       OMNI_TOKEN_CLAIM_INVALID, "exp is out of range");
    test_forged_claims(&conf, TEST_HS256, "{\"exp\":253402300799.5}",
                       OMNI_TOKEN_CLAIM_INVALID, "exp");
    test_forged_claims(&conf, TEST_HS256, "{\"exp\":253402300800}",
                       OMNI_TOKEN_CLAIM_INVALID, "exp");
    test_forged_claims(&conf, TEST_HS256,
                       "{" TEST_EXP ",\"iat\":1e20}",
                       OMNI_TOKEN_CLAIM_INVALID, "iat");

    /* the bounds themselves */
    test_forged_claims(&conf, TEST_HS256, "{\"exp\":253402300799}",
                       OMNI_TOKEN_OK, NULL);
    test_forged_claims(&conf, TEST_HS256,
                       "{" TEST_EXP ",\"nbf\":0,\"iat\":0.0}",
                       OMNI_TOKEN_OK, NULL);
    test_forged_claims(&conf, TEST_HS256, "{\"exp\":0}",
                       OMNI_TOKEN_EXPIRED, NULL);

    /* fractions compare as the numbers they are */
    test_forged_claims(&conf, TEST_HS256,
                       "{" TEST_EXP ",\"nbf\":1700000000.5}",
                       OMNI_TOKEN_NOT_YET_VALID, NULL);
    test_forged_claims(&conf, TEST_HS256,
                       "{" TEST_EXP ",\"nbf\":1699999999.5}",
                       OMNI_TOKEN_OK, NULL);
    test_forged_claims(&conf, TEST_HS256,
                       "{" TEST_EXP ",\"iat\":1700000000.25}",
                       OMNI_TOKEN_ISSUED_IN_FUTURE, NULL);
    test_forged_claims(&conf, TEST_HS256, "{\"exp\":1700000000.001}",
                       OMNI_TOKEN_OK, NULL);

    /* an integer jansson cannot hold elsewhere is no claim either */
    test_forged_claims(&conf, TEST_HS256,
                       "{" TEST_EXP ",\"n\":99999999999999999999}",
                       OMNI_TOKEN_CLAIM_INVALID, "64 bits");

    /* and a number beyond any double is no JSON it can read */
    test_forged_claims(&conf, TEST_HS256, "{\"exp\":1e400}",
                       OMNI_TOKEN_MALFORMED, NULL);
}


static void
test_claims_max_lifetime(void **state)
{
    omni_token_conf_t  conf;

    (void) state;

    test_conf_init(&conf, test_claims_ks);
    conf.max_lifetime = 3600;

    test_claims(&conf, "{\"exp\":1700000300,\"iat\":1700000000}",
                OMNI_TOKEN_OK);
    test_claims(&conf, "{\"exp\":1700003600,\"iat\":1700000000}",
                OMNI_TOKEN_OK);
    test_check(&conf, test_mint_hs("HS256", &test_fx.hs64, NULL,
                                   "{\"exp\":1700003601,"
                                   "\"iat\":1700000000}"),
               OMNI_TOKEN_LIFETIME_EXCEEDED, "3600");

    /* exp - iat counts even when little of it is left */
    test_claims(&conf, "{\"exp\":1700000300,\"iat\":1699992800}",
                OMNI_TOKEN_LIFETIME_EXCEEDED);

    /* exp - now counts when iat would hide it, forgiving the leeway */
    test_claims(&conf, "{\"exp\":1700003600}", OMNI_TOKEN_OK);
    test_claims(&conf, "{\"exp\":1700003601}", OMNI_TOKEN_LIFETIME_EXCEEDED);
    conf.leeway = 30;
    test_claims(&conf, "{\"exp\":1700003601}", OMNI_TOKEN_OK);
    test_claims(&conf, "{\"exp\":1700003631}", OMNI_TOKEN_LIFETIME_EXCEEDED);
    conf.leeway = 0;

    /* no exp: no lifetime to bound, even with omni_jwt_require_exp off */
    conf.require_exp = 0;
    test_claims(&conf, "{\"sub\":\"alice\"}", OMNI_TOKEN_CLAIM_MISSING);
    conf.max_lifetime = 0;
    test_claims(&conf, "{\"sub\":\"alice\"}", OMNI_TOKEN_OK);
    conf.max_lifetime = 3600;

    /* the time claims come in their order: expired before too long */
    test_claims(&conf, "{\"exp\":1699999999,\"iat\":1600000000}",
                OMNI_TOKEN_EXPIRED);
    test_claims(&conf, "{\"exp\":1800000000,\"iat\":1800000000}",
                OMNI_TOKEN_ISSUED_IN_FUTURE);
}


static void
test_claims_check_time(void **state)
{
    char                *token;
    omni_token_t        *tok;
    omni_keyset_t       *ks;
    omni_token_error_t   err;
    omni_token_conf_t    conf;

    (void) state;

    ks = test_keyset();
    test_add_secret(ks, test_fx.hs64.path, "k", 0);
    test_conf_init(&conf, ks);

    token = test_mint_hs("HS256", &test_fx.hs64, "k",
                         "{\"sub\":\"dora\",\"exp\":1700000300,"
                         "\"nbf\":1699999990,\"iat\":1699999990}");
    assert_int_equal(test_verify(&conf, token, &tok, &err), OMNI_TOKEN_OK);
    free(token);

    assert_int_equal(omni_token_expires(&conf, tok), 1700000300);

    assert_int_equal(omni_token_check_time(&conf, tok, TEST_NOW, &err),
                     OMNI_TOKEN_OK);
    assert_int_equal(omni_token_check_time(&conf, tok, 1700000299, &err),
                     OMNI_TOKEN_OK);

    /* later on, the same token expires, as a full check would say */
    assert_int_equal(omni_token_check_time(&conf, tok, 1700000300, &err),
                     OMNI_TOKEN_EXPIRED);
    test_mentions(err.detail, "expired");
    assert_true(err.has_kid);
    assert_string_equal(err.kid, "k");
    assert_true(err.has_sub);
    assert_string_equal(err.sub, "dora");

    /* a clock set back meets nbf and iat again */
    assert_int_equal(omni_token_check_time(&conf, tok, 1699999980, &err),
                     OMNI_TOKEN_NOT_YET_VALID);

    conf.leeway = 30;
    assert_int_equal(omni_token_expires(&conf, tok), 1700000330);
    assert_int_equal(omni_token_check_time(&conf, tok, 1700000329, &err),
                     OMNI_TOKEN_OK);
    assert_int_equal(omni_token_check_time(&conf, tok, 1699999950, &err),
                     OMNI_TOKEN_NOT_YET_VALID);

    conf.max_lifetime = 100;
    assert_int_equal(omni_token_check_time(&conf, tok, TEST_NOW, &err),
                     OMNI_TOKEN_LIFETIME_EXCEEDED);
    test_release(tok);

    /* a fraction of a second still counts as the whole second */
    conf.leeway = 0;
    conf.max_lifetime = 0;
    token = test_mint_hs("HS256", &test_fx.hs64, NULL,
                         "{\"exp\":1700000100.5}");
    assert_int_equal(test_verify(&conf, token, &tok, &err), OMNI_TOKEN_OK);
    assert_int_equal(omni_token_expires(&conf, tok), 1700000101);
    assert_int_equal(omni_token_check_time(&conf, tok, 1700000100, &err),
                     OMNI_TOKEN_OK);
    assert_int_equal(omni_token_check_time(&conf, tok, 1700000101, &err),
                     OMNI_TOKEN_EXPIRED);
    test_release(tok);
    free(token);

    /* no exp, no end */
    conf.require_exp = 0;
    token = test_mint_hs("HS256", &test_fx.hs64, NULL, "{\"sub\":\"x\"}");
    assert_int_equal(test_verify(&conf, token, &tok, &err), OMNI_TOKEN_OK);
    assert_int_equal(omni_token_expires(&conf, tok), 0);
    assert_true(tok->exp < 0 && tok->nbf < 0 && tok->iat < 0);
    test_release(tok);
    free(token);

    omni_keyset_free(ks);
}


/* roles */

static omni_token_rc_t
test_roles(const char *claim, const char *payload, omni_token_t **tok,
    omni_token_error_t *err)
{
    char               *token;
    omni_token_rc_t     rc;
    omni_token_conf_t   conf;

    test_conf_init(&conf, test_claims_ks);
    conf.roles_claim = claim;

    token = test_mint_hs("HS256", &test_fx.hs64, NULL, payload);
    rc = test_verify(&conf, token, tok, err);
    free(token);

    return rc;
}


static void
test_roles_expect(const char *claim, const char *payload,
    omni_token_rc_t expect, size_t nroles)
{
    char                why[OMNI_TOKEN_DETAIL_LEN];
    size_t              n;
    omni_token_t       *tok;
    omni_token_rc_t     rc;
    omni_token_error_t  err;

    rc = test_roles(claim, payload, &tok, &err);
    n = tok ? tok->nroles : 0;
    memcpy(why, err.detail, sizeof(why));
    test_release(tok);

    if (rc != expect) {
        fail_msg("%s: got %s (\"%s\"), expected %s", payload,
                 omni_token_code(rc), why, omni_token_code(expect));
    }

    if (rc == OMNI_TOKEN_OK) {
        assert_int_equal(n, nroles);
    }
}


static void
test_roles_forms(void **state)
{
    omni_token_t        *tok;
    omni_token_error_t   err;

    (void) state;

    assert_int_equal(test_roles("roles", "{" TEST_EXP
                                ",\"roles\":[\"a\",\"b\"]}", &tok, &err),
                     OMNI_TOKEN_OK);
    assert_int_equal(tok->nroles, 2);
    assert_string_equal(tok->roles[0], "a");
    assert_string_equal(tok->roles[1], "b");
    test_release(tok);

    /* a space-separated string, like scope */
    assert_int_equal(test_roles("roles", "{" TEST_EXP
                                ",\"roles\":\" a b  c \"}", &tok, &err),
                     OMNI_TOKEN_OK);
    assert_int_equal(tok->nroles, 3);
    assert_string_equal(tok->roles[0], "a");
    assert_string_equal(tok->roles[1], "b");
    assert_string_equal(tok->roles[2], "c");
    test_release(tok);

    /* Keycloak's nesting */
    assert_int_equal(test_roles("realm_access.roles", "{" TEST_EXP
                                ",\"realm_access\":{\"roles\":"
                                "[\"admin\",\"agent\"]}}", &tok, &err),
                     OMNI_TOKEN_OK);
    assert_int_equal(tok->nroles, 2);
    assert_string_equal(tok->roles[0], "admin");
    assert_string_equal(tok->roles[1], "agent");
    test_release(tok);

    assert_int_equal(test_roles("scope", "{" TEST_EXP
                                ",\"scope\":\"read write\"}", &tok, &err),
                     OMNI_TOKEN_OK);
    assert_int_equal(tok->nroles, 2);
    assert_string_equal(tok->roles[1], "write");
    test_release(tok);

    /* no claim, or a path that leads nowhere: no roles */
    test_roles_expect("roles", "{" TEST_EXP "}", OMNI_TOKEN_OK, 0);
    test_roles_expect("roles", "{" TEST_EXP ",\"roles\":[]}", OMNI_TOKEN_OK,
                      0);
    test_roles_expect("roles", "{" TEST_EXP ",\"roles\":\"   \"}",
                      OMNI_TOKEN_OK, 0);
    test_roles_expect("realm_access.roles",
                      "{" TEST_EXP ",\"realm_access\":\"admin\"}",
                      OMNI_TOKEN_OK, 0);
    test_roles_expect("realm_access.roles",
                      "{" TEST_EXP ",\"realm_access\":[{\"roles\":[\"a\"]}]}",
                      OMNI_TOKEN_OK, 0);
    test_roles_expect("realm_access.roles",
                      "{" TEST_EXP ",\"realm_access\":{\"other\":[\"a\"]}}",
                      OMNI_TOKEN_OK, 0);
    test_roles_expect("a.b.c", "{" TEST_EXP ",\"a\":{\"b\":\"x\"}}",
                      OMNI_TOKEN_OK, 0);
    test_roles_expect("a.b.c", "{" TEST_EXP ",\"a\":{\"b\":{\"c\":[\"x\"]}}}",
                      OMNI_TOKEN_OK, 1);
    test_roles_expect(NULL, "{" TEST_EXP ",\"roles\":[\"a\"]}",
                      OMNI_TOKEN_OK, 0);
}


static void
test_roles_invalid(void **state)
{
    (void) state;

    test_roles_expect("roles", "{" TEST_EXP ",\"roles\":5}",
                      OMNI_TOKEN_CLAIM_INVALID, 0);
    test_roles_expect("roles", "{" TEST_EXP ",\"roles\":{\"a\":1}}",
                      OMNI_TOKEN_CLAIM_INVALID, 0);
    test_roles_expect("roles", "{" TEST_EXP ",\"roles\":[\"a\",1]}",
                      OMNI_TOKEN_CLAIM_INVALID, 0);
    test_roles_expect("roles", "{" TEST_EXP ",\"roles\":[\"a,b\"]}",
                      OMNI_TOKEN_CLAIM_INVALID, 0);
    test_roles_expect("roles", "{" TEST_EXP ",\"roles\":\"a,b c\"}",
                      OMNI_TOKEN_CLAIM_INVALID, 0);
    test_roles_expect("roles", "{" TEST_EXP ",\"roles\":[\"a b\"]}",
                      OMNI_TOKEN_CLAIM_INVALID, 0);
    test_roles_expect("roles", "{" TEST_EXP ",\"roles\":[\"a\\tb\"]}",
                      OMNI_TOKEN_CLAIM_INVALID, 0);
    test_roles_expect("roles", "{" TEST_EXP ",\"roles\":\"a\\nb\"}",
                      OMNI_TOKEN_CLAIM_INVALID, 0);
    test_roles_expect("roles", "{" TEST_EXP ",\"roles\":[\"a\\u007f\"]}",
                      OMNI_TOKEN_CLAIM_INVALID, 0);
    test_roles_expect("roles", "{" TEST_EXP ",\"roles\":[\"\"]}",
                      OMNI_TOKEN_CLAIM_INVALID, 0);
    test_roles_expect("realm_access.roles",
                      "{" TEST_EXP ",\"realm_access\":{\"roles\":true}}",
                      OMNI_TOKEN_CLAIM_INVALID, 0);
}


static void
test_roles_limits(void **state)
{
    int                  i;
    char                 payload[2048], role[OMNI_TOKEN_MAX_ROLE_LEN + 2];
    size_t               n;
    omni_token_t        *tok;
    omni_token_error_t   err;

    (void) state;

    /* 64 roles are the most a token may carry */
    n = (size_t) snprintf(payload, sizeof(payload), "{" TEST_EXP
                          ",\"roles\":[");

    for (i = 0; i < OMNI_TOKEN_MAX_ROLES; i++) {
        n += (size_t) snprintf(payload + n, sizeof(payload) - n, "%s\"r%d\"",
                               i ? "," : "", i);
    }

    snprintf(payload + n, sizeof(payload) - n, "]}");

    assert_int_equal(test_roles("roles", payload, &tok, &err), OMNI_TOKEN_OK);
    assert_int_equal(tok->nroles, OMNI_TOKEN_MAX_ROLES);
    assert_string_equal(tok->roles[0], "r0");
    assert_string_equal(tok->roles[63], "r63");
    test_release(tok);

    n = strlen(payload) - 2;
    snprintf(payload + n, sizeof(payload) - n, ",\"r64\"]}");

    assert_int_equal(test_roles("roles", payload, &tok, &err),
                     OMNI_TOKEN_CLAIM_INVALID);
    test_mentions(err.detail, "64");
    test_release(tok);

    /* 128 bytes a role at most */
    memset(role, 'x', sizeof(role));
    role[OMNI_TOKEN_MAX_ROLE_LEN] = '\0';
    snprintf(payload, sizeof(payload), "{" TEST_EXP ",\"roles\":[\"%s\"]}",
             role);
    test_roles_expect("roles", payload, OMNI_TOKEN_OK, 1);

    role[OMNI_TOKEN_MAX_ROLE_LEN] = 'x';
    role[OMNI_TOKEN_MAX_ROLE_LEN + 1] = '\0';
    snprintf(payload, sizeof(payload), "{" TEST_EXP ",\"roles\":\"%s\"}",
             role);
    test_roles_expect("roles", payload, OMNI_TOKEN_CLAIM_INVALID, 0);
}


/* claim text and codes */

static void
test_claim_text(void **state)
{
    char                buf[8];
    long                n;
    char               *token;
    const char         *text;
    omni_token_t       *tok;
    omni_token_error_t  err;
    omni_token_conf_t   conf;

    /* written again compactly, keys sorted, as libjwt wrote them all */
    static const char   claims[] =
        "{\"exp\":1700000300,\"n\":42,\"name\":\"\xc3\xa9\\\"x\","
        "\"obj\":{\"a\":1,\"b\":[1,2]},\"sub\":\"alice\"}";

    /* compact already: the claims text is the payload as it came */
    static const char   compact[] =
        "{\"sub\":\"a b\",\"exp\":1700000300,\"s\":\"\\u00e9\\\" \\n\"}";

    (void) state;

    test_conf_init(&conf, test_claims_ks);

    token = test_forge(TEST_HS256,
                       "{ \"sub\": \"alice\", \"obj\": {\"b\": [1, 2], "
                       "\"a\": 1},\n \"name\": \"\xc3\xa9\\\"x\", \"n\": 42, "
                       TEST_EXP " }",
                       test_fx.hs64.data, test_fx.hs64.len);
    assert_int_equal(test_verify(&conf, token, &tok, &err), OMNI_TOKEN_OK);
    free(token);

    assert_string_equal(tok->claims, claims);
    assert_int_equal(tok->claims_len, sizeof(claims) - 1);

    /* strings as they are, pointing into the token */
    n = omni_token_claim_text(tok, "name", 4, NULL, 0, &text);
    assert_int_equal(n, 4);
    assert_memory_equal(text, "\xc3\xa9\"x", 4);

    n = omni_token_claim_text(tok, "subject", 3, NULL, 0, &text);
    assert_int_equal(n, 5);
    assert_string_equal(text, "alice");

    /* other values as JSON, into the buffer when they fit */
    n = omni_token_claim_text(tok, "n", 1, buf, sizeof(buf), &text);
    assert_int_equal(n, 2);
    assert_ptr_equal(text, buf);
    assert_memory_equal(text, "42", 2);

    n = omni_token_claim_text(tok, "obj", 3, buf, sizeof(buf), &text);
    assert_int_equal(n, strlen("{\"a\":1,\"b\":[1,2]}"));
    assert_null(text);

    n = omni_token_claim_text(tok, "obj", 3, token = malloc((size_t) n),
                              (size_t) n, &text);
    assert_ptr_equal(text, token);
    assert_memory_equal(text, "{\"a\":1,\"b\":[1,2]}", (size_t) n);
    free(token);

    assert_int_equal(omni_token_claim_text(tok, "absent", 6, buf,
                                           sizeof(buf), &text), -1);

    test_release(tok);

    token = test_forge(TEST_HS256, compact, test_fx.hs64.data,
                       test_fx.hs64.len);
    assert_int_equal(test_verify(&conf, token, &tok, &err), OMNI_TOKEN_OK);
    free(token);

    assert_string_equal(tok->claims, compact);
    assert_int_equal(tok->claims_len, sizeof(compact) - 1);

    n = omni_token_claim_text(tok, "s", 1, NULL, 0, &text);
    assert_int_equal(n, 5);
    assert_memory_equal(text, "\xc3\xa9\" \n", 5);

    test_release(tok);

    assert_int_equal(omni_text_is_clean("abc", 3), 1);
    assert_int_equal(omni_text_is_clean("\xc3\xa9 x", 4), 1);
    assert_int_equal(omni_text_is_clean("a\nb", 3), 0);
    assert_int_equal(omni_text_is_clean("a\x7f", 2), 0);
    assert_int_equal(omni_text_is_clean("a\0b", 3), 0);
    assert_int_equal(omni_text_is_clean("a\0b", 1), 1);
}


/*
 * No JSON text holds a NUL byte, but jansson drops one that follows a
 * number: such a part is not JSON, and its NUL must not reach the claims
 * text (a header) nor the header's values.
 */
static void
test_claims_nul(void **state)
{
    char                *token;
    omni_token_t        *tok;
    omni_token_error_t   err;
    omni_token_conf_t    conf;

    static const char    payload[] = "{\"sub\":\"a\",\"n\":1\0,"
                                     TEST_EXP "}";
    static const char    header[] = "{\"alg\":\"HS256\",\"v\":1\0}";

    (void) state;

    test_conf_init(&conf, test_claims_ks);

    token = test_forge_len(TEST_HS256, sizeof(TEST_HS256) - 1, payload,
                           sizeof(payload) - 1, test_fx.hs64.data,
                           test_fx.hs64.len);
    assert_int_equal(test_verify(&conf, token, &tok, &err),
                     OMNI_TOKEN_MALFORMED);
    assert_null(tok);
    free(token);

    token = test_forge_len(header, sizeof(header) - 1, "{" TEST_EXP "}",
                           sizeof("{" TEST_EXP "}") - 1, test_fx.hs64.data,
                           test_fx.hs64.len);
    assert_int_equal(test_verify(&conf, token, &tok, &err),
                     OMNI_TOKEN_MALFORMED);
    assert_null(tok);
    free(token);
}


/*
 * DEL is valid in a JSON string but not in a header or a log: the claims
 * text writes it \u007f, whether the payload came compact or not, raw or
 * escaped, and however large.
 */
static void
test_claim_text_del(void **state)
{
    char                *token, *big;
    size_t               i;
    const char          *text;
    omni_token_t        *tok;
    omni_token_error_t   err;
    omni_token_conf_t    conf;

    static const struct {
        const char      *payload;
        const char      *claims;
    } cases[] = {
        { "{\"name\":\"a\x7f" "b\"," TEST_EXP "}",
          "{\"name\":\"a\\u007fb\"," TEST_EXP "}" },
        { "{ \"x\": \"\x7f\x7f\", " TEST_EXP " }",
          "{\"exp\":1700000300,\"x\":\"\\u007f\\u007f\"}" },
        { "{\"x\": \"\\u007f\"," TEST_EXP "}",
          "{\"exp\":1700000300,\"x\":\"\\u007f\"}" },
    };

    (void) state;

    test_conf_init(&conf, test_claims_ks);
    conf.max_length = 65536;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        token = test_forge(TEST_HS256, cases[i].payload, test_fx.hs64.data,
                           test_fx.hs64.len);
        assert_int_equal(test_verify(&conf, token, &tok, &err),
                         OMNI_TOKEN_OK);
        free(token);

        assert_string_equal(tok->claims, cases[i].claims);
        assert_int_equal(tok->claims_len, strlen(cases[i].claims));
        assert_int_equal(omni_text_is_clean(tok->claims, tok->claims_len),
                         1);

        /* the claim itself keeps its byte */
        if (omni_token_claim_text(tok, "x", 1, NULL, 0, &text) == 2) {
            assert_memory_equal(text, "\x7f\x7f", 2);
        }

        test_release(tok);
    }

    /* past the stack buffer of claims written again */
    big = malloc(8192);
    assert_non_null(big);

    memcpy(big, "{ \"x\": \"", 8);
    memset(big + 8, 0x7f, 6000);
    strcpy(big + 6008, "\", " TEST_EXP " }");

    token = test_forge(TEST_HS256, big, test_fx.hs64.data, test_fx.hs64.len);
    assert_int_equal(test_verify(&conf, token, &tok, &err), OMNI_TOKEN_OK);
    free(token);
    free(big);

    assert_int_equal(tok->claims_len,
                     strlen("{\"exp\":1700000300,\"x\":\"\"}") + 6000 * 6);
    assert_int_equal(strlen(tok->claims), tok->claims_len);
    assert_int_equal(omni_text_is_clean(tok->claims, tok->claims_len), 1);

    test_release(tok);
}


static void
test_token_codes(void **state)
{
    size_t  i, j;

    static const struct {
        omni_token_rc_t   rc;
        const char       *code;
    } codes[] = {
        { OMNI_TOKEN_OK, "ok" },
        { OMNI_TOKEN_MISSING, "token_missing" },
        { OMNI_TOKEN_TOO_LARGE, "token_too_large" },
        { OMNI_TOKEN_MALFORMED, "token_malformed" },
        { OMNI_TOKEN_CRIT_UNSUPPORTED, "crit_unsupported" },
        { OMNI_TOKEN_ALG_NOT_ALLOWED, "alg_not_allowed" },
        { OMNI_TOKEN_KEY_UNKNOWN, "key_unknown" },
        { OMNI_TOKEN_SIGNATURE_INVALID, "signature_invalid" },
        { OMNI_TOKEN_CLAIM_MISSING, "claim_missing" },
        { OMNI_TOKEN_CLAIM_INVALID, "claim_invalid" },
        { OMNI_TOKEN_EXPIRED, "token_expired" },
        { OMNI_TOKEN_NOT_YET_VALID, "token_not_yet_valid" },
        { OMNI_TOKEN_ISSUED_IN_FUTURE, "token_issued_in_future" },
        { OMNI_TOKEN_LIFETIME_EXCEEDED, "token_lifetime_exceeded" },
        { OMNI_TOKEN_ISSUER_MISMATCH, "issuer_mismatch" },
        { OMNI_TOKEN_AUDIENCE_MISMATCH, "audience_mismatch" },
        { OMNI_TOKEN_NO_MEMORY, "internal_error" },
        { OMNI_TOKEN_RC_COUNT, "internal_error" },
    };

    (void) state;

    for (i = 0; i < sizeof(codes) / sizeof(codes[0]); i++) {
        assert_string_equal(omni_token_code(codes[i].rc), codes[i].code);
    }

    /* every failure has a code of its own */
    for (i = 0; i < OMNI_TOKEN_RC_COUNT; i++) {
        for (j = i + 1; j < OMNI_TOKEN_RC_COUNT; j++) {
            assert_string_not_equal(omni_token_code((omni_token_rc_t) i),
                                    omni_token_code((omni_token_rc_t) j));
        }
    }
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(test_alg_names),
        cmocka_unit_test(test_keys_pem),
        cmocka_unit_test(test_keys_pem_errors),
        cmocka_unit_test(test_keys_secret),
        cmocka_unit_test(test_keys_duplicate_kid),
        cmocka_unit_test(test_keys_jwks),
        cmocka_unit_test(test_keys_jwks_errors),
        cmocka_unit_test(test_verify_algorithms),
        cmocka_unit_test(test_verify_rotation),
        cmocka_unit_test(test_attack_alg_none),
        cmocka_unit_test(test_attack_key_confusion),
        cmocka_unit_test(test_attack_tampered),
        cmocka_unit_test(test_attack_crit),
        cmocka_unit_test(test_token_too_large),
        cmocka_unit_test(test_token_malformed),
        cmocka_unit_test_setup_teardown(test_claims_exp, test_claims_setup,
                                        test_claims_teardown),
        cmocka_unit_test_setup_teardown(test_claims_nbf_iat,
                                        test_claims_setup,
                                        test_claims_teardown),
        cmocka_unit_test_setup_teardown(test_claims_issuer_audience,
                                        test_claims_setup,
                                        test_claims_teardown),
        cmocka_unit_test_setup_teardown(test_claims_sub, test_claims_setup,
                                        test_claims_teardown),
        cmocka_unit_test_setup_teardown(test_claims_duplicates,
                                        test_claims_setup,
                                        test_claims_teardown),
        cmocka_unit_test_setup_teardown(test_claims_time_range,
                                        test_claims_setup,
                                        test_claims_teardown),
        cmocka_unit_test_setup_teardown(test_claims_max_lifetime,
                                        test_claims_setup,
                                        test_claims_teardown),
        cmocka_unit_test_setup_teardown(test_claims_check_time,
                                        test_claims_setup,
                                        test_claims_teardown),
        cmocka_unit_test_setup_teardown(test_roles_forms, test_claims_setup,
                                        test_claims_teardown),
        cmocka_unit_test_setup_teardown(test_roles_invalid,
                                        test_claims_setup,
                                        test_claims_teardown),
        cmocka_unit_test_setup_teardown(test_roles_limits, test_claims_setup,
                                        test_claims_teardown),
        cmocka_unit_test_setup_teardown(test_claim_text, test_claims_setup,
                                        test_claims_teardown),
        cmocka_unit_test_setup_teardown(test_claims_nul, test_claims_setup,
                                        test_claims_teardown),
        cmocka_unit_test_setup_teardown(test_claim_text_del,
                                        test_claims_setup,
                                        test_claims_teardown),
        cmocka_unit_test(test_token_codes),
    };

    return cmocka_run_group_tests_name("omni_token", tests, test_setup,
                                       test_teardown);
}
