/*
 * Copyright (C) The omni gateway authors
 *
 * omni-jwt jwks: public keys as a JWKS, with a kid each (RFC 7517, 7518).
 */


#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/pem.h>

#include "omni_base64.h"
#include "omni_jwt.h"


/* Set obj[name] = base64url(bytes), unpadded as JOSE writes it. */
static int
omni_jwt_set_b64(json_t *obj, const char *name, const unsigned char *buf,
    size_t len)
{
    int     rc;
    char   *s;
    size_t  n;

    s = malloc(omni_base64_encoded_len(len) + 1);
    if (s == NULL) {
        return -1;
    }

    n = omni_base64url_encode(s, buf, len);
    rc = json_object_set_new(obj, name, json_stringn(s, n));

    free(s);

    return (rc != 0) ? -1 : 0;
}


/*
 * Set obj[name] = base64url of a big-endian integer key parameter,
 * left-padded to pad bytes (0: minimal length).
 */
static int
omni_jwt_set_bn(json_t *obj, const char *name, EVP_PKEY *pkey,
    const char *param, size_t pad)
{
    int             rc, n;
    size_t          len;
    BIGNUM         *bn;
    unsigned char  *buf;

    bn = NULL;

    if (!EVP_PKEY_get_bn_param(pkey, param, &bn)) {
        ERR_clear_error();
        omni_jwt_err("cannot get key parameter \"%s\"", param);
        return -1;
    }

    len = pad ? pad : (size_t) BN_num_bytes(bn);
    if (len == 0) {
        len = 1;
    }

    buf = malloc(len);
    if (buf == NULL) {
        BN_free(bn);
        omni_jwt_err("out of memory");
        return -1;
    }

    n = BN_bn2binpad(bn, buf, (int) len);
    BN_free(bn);

    if (n < 0) {
        free(buf);
        omni_jwt_err("key parameter \"%s\" does not fit %zu bytes", param,
                     len);
        return -1;
    }

    rc = omni_jwt_set_b64(obj, name, buf, len);
    free(buf);

    if (rc != 0) {
        omni_jwt_err("out of memory");
    }

    return rc;
}


static int
omni_jwt_set_str(json_t *obj, const char *name, const char *val,
    const char *opt)
{
    json_t  *s;

    if (val == NULL) {
        return 0;
    }

    s = json_string(val);
    if (s == NULL) {
        omni_jwt_err("%s: \"%s\" is not valid UTF-8", opt, val);
        return -1;
    }

    if (json_object_set_new(obj, name, s) != 0) {
        omni_jwt_err("out of memory");
        return -1;
    }

    return 0;
}


static json_t *
omni_jwt_make_jwk(const omni_jwt_jwk_spec_t *spec)
{
    unsigned char           *buf;
    size_t                   len;
    EVP_PKEY                *pkey;
    json_t                  *jwk;
    const omni_jwt_curve_t  *c;
    const char              *kty;
    int                      id, ok;

    if (omni_jwt_read_file(spec->path, &buf, &len) != 0) {
        return NULL;
    }

    pkey = NULL;
    c = NULL;

    if (spec->secret) {
        kty = "oct";

        if (len == 0) {
            omni_jwt_err("secret file \"%s\" is empty", spec->path);
            omni_jwt_free_secret(buf, len + 1);
            return NULL;
        }

    } else {
        pkey = omni_jwt_load_pkey(spec->path, buf, len, 0);
        omni_jwt_free_secret(buf, len + 1);
        buf = NULL;

        if (pkey == NULL) {
            return NULL;
        }

        id = EVP_PKEY_get_id(pkey);

        if (id == EVP_PKEY_RSA) {
            kty = "RSA";

        } else if (id == EVP_PKEY_EC) {
            kty = "EC";
            c = omni_jwt_pkey_curve(pkey);

            if (c == NULL) {
                omni_jwt_err("\"%s\": unsupported EC curve (only P-256, "
                             "P-384 and P-521 with named parameters)",
                             spec->path);
                EVP_PKEY_free(pkey);
                return NULL;
            }

        } else {
            omni_jwt_err("\"%s\": unsupported key type (only RSA and EC)",
                         spec->path);
            EVP_PKEY_free(pkey);
            return NULL;
        }
    }

    ok = 0;

    jwk = json_object();
    if (jwk == NULL) {
        omni_jwt_err("out of memory");
        goto done;
    }

    if (omni_jwt_set_str(jwk, "kty", kty, "kty") != 0
        || omni_jwt_set_str(jwk, "kid", spec->kid, "--kid") != 0
        || omni_jwt_set_str(jwk, "use", spec->use, "--use") != 0
        || omni_jwt_set_str(jwk, "alg", spec->alg, "--alg") != 0)
    {
        goto done;
    }

    if (spec->secret) {
        if (omni_jwt_set_b64(jwk, "k", buf, len) != 0) {
            omni_jwt_err("out of memory");
            goto done;
        }

    } else if (c == NULL) {
        if (omni_jwt_set_bn(jwk, "n", pkey, OSSL_PKEY_PARAM_RSA_N, 0) != 0
            || omni_jwt_set_bn(jwk, "e", pkey, OSSL_PKEY_PARAM_RSA_E, 0) != 0)
        {
            goto done;
        }

    } else {
        if (omni_jwt_set_str(jwk, "crv", c->crv, "crv") != 0
            || omni_jwt_set_bn(jwk, "x", pkey, OSSL_PKEY_PARAM_EC_PUB_X,
                               c->field_len) != 0
            || omni_jwt_set_bn(jwk, "y", pkey, OSSL_PKEY_PARAM_EC_PUB_Y,
                               c->field_len) != 0)
        {
            goto done;
        }
    }

    ok = 1;

done:

    if (buf != NULL) {
        omni_jwt_free_secret(buf, len + 1);
    }

    EVP_PKEY_free(pkey);

    if (!ok) {
        json_decref(jwk);
        return NULL;
    }

    return jwk;
}


int
omni_jwt_jwks(int argc, char **argv)
{
    int                   i, r, rc, no_opts;
    const char           *kid, *alg, *use, *val;
    const char           *pending;
    omni_jwt_jwk_spec_t  *specs;
    size_t                nspecs, k;
    json_t               *root, *keys, *jwk;
    char                 *text;

    specs = calloc((size_t) argc + 1, sizeof(omni_jwt_jwk_spec_t));
    if (specs == NULL) {
        omni_jwt_err("out of memory");
        return OMNI_JWT_EXIT_ERROR;
    }

    nspecs = 0;
    kid = NULL;
    alg = NULL;
    use = NULL;
    pending = NULL;
    no_opts = 0;

    /* Parse everything first so usage errors come before any file I/O. */

    for (i = 0; i < argc; i++) {

        if (!no_opts && argv[i][0] == '-' && argv[i][1] != '\0') {

            if (omni_jwt_is_help(argv[i])) {
                omni_jwt_usage(stdout);
                free(specs);
                return OMNI_JWT_EXIT_OK;
            }

            if (strcmp(argv[i], "--") == 0) {
                no_opts = 1;
                continue;
            }

            r = omni_jwt_opt(argc, argv, &i, "--kid", &val);
            if (r == 1) {
                if (kid != NULL) {
                    free(specs);
                    return omni_jwt_usage_err("jwks: --kid given twice for "
                                              "the same key");
                }
                kid = val;
                pending = "--kid";
                continue;
            }

            if (r == 0) {
                r = omni_jwt_opt(argc, argv, &i, "--alg", &val);
                if (r == 1) {
                    if (alg != NULL) {
                        free(specs);
                        return omni_jwt_usage_err("jwks: --alg given twice "
                                                  "for the same key");
                    }
                    alg = val;
                    pending = "--alg";
                    continue;
                }
            }

            if (r == 0) {
                r = omni_jwt_opt(argc, argv, &i, "--use", &val);
                if (r == 1) {
                    if (use != NULL) {
                        free(specs);
                        return omni_jwt_usage_err("jwks: --use given twice "
                                                  "for the same key");
                    }
                    use = val;
                    pending = "--use";
                    continue;
                }
            }

            if (r == 0) {
                r = omni_jwt_opt(argc, argv, &i, "--secret-file", &val);
                if (r == 1) {
                    specs[nspecs].path = val;
                    specs[nspecs].secret = 1;
                    goto add;
                }
            }

            free(specs);

            if (r < 0) {
                return OMNI_JWT_EXIT_USAGE;
            }

            return omni_jwt_usage_err("jwks: unknown option \"%s\"",
                                      argv[i]);
        }

        specs[nspecs].path = argv[i];
        specs[nspecs].secret = 0;

    add:

        specs[nspecs].kid = kid;
        specs[nspecs].alg = alg;
        specs[nspecs].use = use;
        nspecs++;

        kid = NULL;
        alg = NULL;
        use = NULL;
        pending = NULL;
    }

    if (pending != NULL) {
        free(specs);
        return omni_jwt_usage_err("jwks: %s must come before the key it "
                                  "applies to, but no key follows", pending);
    }

    if (nspecs == 0) {
        free(specs);
        return omni_jwt_usage_err("jwks: no keys given");
    }

    rc = OMNI_JWT_EXIT_ERROR;
    text = NULL;

    root = json_object();
    keys = json_array();

    if (root == NULL || keys == NULL
        || json_object_set(root, "keys", keys) != 0)
    {
        omni_jwt_err("out of memory");
        goto done;
    }

    for (k = 0; k < nspecs; k++) {
        jwk = omni_jwt_make_jwk(&specs[k]);
        if (jwk == NULL) {
            goto done;
        }

        if (json_array_append_new(keys, jwk) != 0) {
            omni_jwt_err("out of memory");
            goto done;
        }
    }

    text = json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    if (text == NULL) {
        omni_jwt_err("out of memory");
        goto done;
    }

    if (printf("%s\n", text) < 0 || fflush(stdout) != 0) {
        omni_jwt_err("cannot write to standard output: %s", strerror(errno));
        goto done;
    }

    rc = OMNI_JWT_EXIT_OK;

done:

    if (text != NULL) {
        /* The document may contain symmetric secrets. */
        OPENSSL_cleanse(text, strlen(text));
        free(text);
    }

    json_decref(keys);
    json_decref(root);
    free(specs);

    return rc;
}
