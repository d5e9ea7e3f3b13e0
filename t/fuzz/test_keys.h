/*
 * Copyright (C) The omni gateway authors
 *
 * The fuzz targets' keys, made for them alone (never used anywhere else;
 * their private halves were thrown away once the seed tokens under
 * t/fuzz/corpus/token/ were signed): an HS256 secret, as a JWKS "oct" key
 * and as its bytes, an RSA-2048 and a P-256 public key.
 */

#ifndef TEST_KEYS_H_INCLUDED_
#define TEST_KEYS_H_INCLUDED_


#define TEST_KEY_HS256_SECRET  "fuzz-only-hs256-secret-not-real!"

#define TEST_KEY_HS256_JWKS                                                   \
    "{\"keys\":[{\"kty\":\"oct\",\"kid\":\"hs\",\"alg\":\"HS256\","        \
    "\"k\":\"ZnV6ei1vbmx5LWhzMjU2LXNlY3JldC1ub3QtcmVhbCE\"}]}"

static const char  test_key_rs256_pem[] =
    "-----BEGIN PUBLIC KEY-----\n"
    "MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAl2Lb9PRj87KpGf35AYWs\n"
    "maDdx2W7uxzkbCJUrWnczDp/bHiyPRJzhgdfQeHOVhc/ACkgUEDQx0dE9KvBEmWc\n"
    "bD8OAWchII32X/Qy6EYk/23DnhKPdTe17k04V0TjDRBFV41um/kOdPmJ7ZUKMpBf\n"
    "Uv4lY7zstSq666tLdbSMmWs+gGWnvUxk1H97L50gQgS4UIyLZl4Xu+MsTXAOFiGG\n"
    "eIHB2lIyAHD+zUwWtwYdwxooV9alSDraR4E3/UZYmVYcckuGjKjnmd9hfDYj+xU3\n"
    "GSdmoafW2vkPQuI168acraqS/lr1XJMIFkxZgBFxvnLyo9NJCVh67Hhf64rg3Erc\n"
    "SQIDAQAB\n"
    "-----END PUBLIC KEY-----\n";

static const char  test_key_es256_pem[] =
    "-----BEGIN PUBLIC KEY-----\n"
    "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAETFxuAwno8TwrPAVeOP8N5Z7vFPZn\n"
    "veSmXWuPDqApwZ1+lp+3KE36MACW6yluIX+zUUm8sKanmDOcsyF38tmwpg==\n"
    "-----END PUBLIC KEY-----\n";


#endif /* TEST_KEYS_H_INCLUDED_ */
