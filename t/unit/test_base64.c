/*
 * Copyright (C) The omni gateway authors
 *
 * Unit tests of the base64 codec (omni_base64.c): every entry point, what
 * each refuses, the round trips, and the lenient decoder against what
 * OpenSSL's EVP_DecodeBlock() gave plugins before it.
 */


#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <openssl/evp.h>

#include "omni_base64.h"


#define test_decode(f, s)  f(test_out, s, sizeof(s) - 1)


static unsigned char  test_out[64];


/* every length, both encoders, and each decoder reading back */

static void
test_round_trips(void **state)
{
    char           enc[128], ref[128];
    long           n;
    size_t         len, elen, i;
    unsigned char  src[70], dec[128];

    (void) state;

    for (len = 0; len <= sizeof(src); len++) {
        for (i = 0; i < len; i++) {
            src[i] = (unsigned char) (i * 37 + len * 11 + 0xa5);
        }

        elen = omni_base64url_encode(enc, src, len);

        /* no padding: ceil(4 * len / 3) characters */
        assert_int_equal(elen, (4 * len + 2) / 3);
        assert_true(elen <= omni_base64_encoded_len(len));
        assert_null(memchr(enc, '=', elen));
        assert_null(memchr(enc, '+', elen));
        assert_null(memchr(enc, '/', elen));

        n = omni_base64url_decode(dec, enc, elen);
        assert_int_equal(n, (long) len);
        assert_true(len <= omni_base64_decoded_len(elen));
        assert_memory_equal(dec, src, len);

        /* the same with the padding JWKS producers sometimes leave */
        while (elen % 4) {
            enc[elen++] = '=';
        }

        n = omni_base64url_decode_padded(dec, enc, elen);
        assert_int_equal(n, (long) len);
        assert_memory_equal(dec, src, len);

        /* standard, padded: exactly as OpenSSL writes it */
        elen = omni_base64_encode(enc, src, len);
        assert_int_equal(elen, omni_base64_encoded_len(len));
        assert_int_equal(EVP_EncodeBlock((unsigned char *) ref, src,
                                         (int) len), (int) elen);
        assert_memory_equal(enc, ref, elen);

        n = omni_base64_decode(dec, enc, elen);
        assert_int_equal(n, (long) len);
        assert_memory_equal(dec, src, len);

        n = omni_base64_decode_lenient(dec, enc, elen);
        assert_int_equal(n, (long) len);
        assert_memory_equal(dec, src, len);
    }
}


static void
test_url_rejects(void **state)
{
    unsigned char  *dec;

    (void) state;

    dec = test_out;

    /* padding */
    assert_int_equal(test_decode(omni_base64url_decode, "QQ=="), -1);
    assert_int_equal(test_decode(omni_base64url_decode, "QUI="), -1);
    assert_int_equal(test_decode(omni_base64url_decode_padded, "QQ=="), 1);
    assert_int_equal(dec[0], 'A');
    assert_int_equal(test_decode(omni_base64url_decode_padded, "QUI="), 2);
    assert_memory_equal(dec, "AB", 2);
    assert_int_equal(test_decode(omni_base64url_decode_padded, "QQ="), -1);
    assert_int_equal(test_decode(omni_base64url_decode_padded, "QQ==QUJD"),
                     -1);
    assert_int_equal(test_decode(omni_base64url_decode_padded, "===="), -1);
    assert_int_equal(test_decode(omni_base64url_decode_padded, "QUJD="), -1);

    /* characters outside the url-safe alphabet */
    assert_int_equal(test_decode(omni_base64url_decode, "QUJD"), 3);
    assert_memory_equal(dec, "ABC", 3);
    assert_int_equal(test_decode(omni_base64url_decode, "QU+D"), -1);
    assert_int_equal(test_decode(omni_base64url_decode, "QU/D"), -1);
    assert_int_equal(test_decode(omni_base64url_decode, "QU D"), -1);
    assert_int_equal(test_decode(omni_base64url_decode, "QU\0D"), -1);
    assert_int_equal(test_decode(omni_base64url_decode, "QUJD\n"), -1);

    /* a single character in the last quantum holds no whole byte */
    assert_int_equal(test_decode(omni_base64url_decode, "QUJDR"), -1);
    assert_int_equal(test_decode(omni_base64url_decode_padded, "Q"), -1);

    /* non-canonical trailing bits: one encoding per value */
    assert_int_equal(test_decode(omni_base64url_decode, "QQ"), 1);
    assert_int_equal(test_decode(omni_base64url_decode, "QR"), -1);
    assert_int_equal(test_decode(omni_base64url_decode, "QUI"), 2);
    assert_int_equal(test_decode(omni_base64url_decode, "QUJ"), -1);
    assert_int_equal(test_decode(omni_base64url_decode_padded, "QR=="), -1);

    assert_int_equal(test_decode(omni_base64url_decode, ""), 0);
    assert_int_equal(test_decode(omni_base64url_decode_padded, ""), 0);
}


static void
test_standard_rejects(void **state)
{
    unsigned char  *dec;

    (void) state;

    dec = test_out;

    assert_int_equal(test_decode(omni_base64_decode, "+/+/"), 3);
    assert_memory_equal(dec, "\xfb\xff\xbf", 3);
    assert_int_equal(test_decode(omni_base64_decode, "QUI="), 2);
    assert_int_equal(test_decode(omni_base64_decode, "QQ=="), 1);
    assert_int_equal(test_decode(omni_base64_decode, ""), 0);

    /* padding is required, and only where it is due */
    assert_int_equal(test_decode(omni_base64_decode, "QUI"), -1);
    assert_int_equal(test_decode(omni_base64_decode, "QQ"), -1);
    assert_int_equal(test_decode(omni_base64_decode, "QQ="), -1);
    assert_int_equal(test_decode(omni_base64_decode, "Q==="), -1);
    assert_int_equal(test_decode(omni_base64_decode, "===="), -1);
    assert_int_equal(test_decode(omni_base64_decode, "QQ==QUJD"), -1);

    /* the url alphabet, blanks, trailing bits */
    assert_int_equal(test_decode(omni_base64_decode, "-_-_"), -1);
    assert_int_equal(test_decode(omni_base64_decode, " QUJ"), -1);
    assert_int_equal(test_decode(omni_base64_decode, "QUJD\n\n\n\n"), -1);
    assert_int_equal(test_decode(omni_base64_decode, "QR=="), -1);
    assert_int_equal(test_decode(omni_base64_decode, "QUJ="), -1);
}


static void
test_lenient(void **state)
{
    unsigned char  *dec;

    (void) state;

    dec = test_out;

    /* what the strict decoder reads, the lenient one reads the same */
    assert_int_equal(test_decode(omni_base64_decode_lenient, "QUJD"), 3);
    assert_memory_equal(dec, "ABC", 3);
    assert_int_equal(test_decode(omni_base64_decode_lenient, "QQ=="), 1);

    /* trailing bits are ignored */
    assert_int_equal(test_decode(omni_base64_decode_lenient, "QR=="), 1);
    assert_int_equal(dec[0], 'A');
    assert_int_equal(test_decode(omni_base64_decode_lenient, "QUJ="), 2);
    assert_memory_equal(dec, "AB", 2);

    /* blanks in front, line ends behind, within a length of 4n */
    assert_int_equal(test_decode(omni_base64_decode_lenient, "    QUJD"), 3);
    assert_int_equal(test_decode(omni_base64_decode_lenient, "QUJD\r\n\r\n"),
                     3);
    assert_memory_equal(dec, "ABC", 3);
    assert_int_equal(test_decode(omni_base64_decode_lenient, "QUJD-"), -1);
    assert_int_equal(test_decode(omni_base64_decode_lenient, "QUJD\n"), -1);
    assert_int_equal(test_decode(omni_base64_decode_lenient, "QU JD   "),
                     -1);

    /* '=' reads as zero bits wherever it stands */
    assert_int_equal(test_decode(omni_base64_decode_lenient, "QQ==QUJD"), 6);
    assert_memory_equal(dec, "A\0\0ABC", 6);
    assert_int_equal(test_decode(omni_base64_decode_lenient, "QU=D"), 2);

    /* refused: another length, the url alphabet, other bytes */
    assert_int_equal(test_decode(omni_base64_decode_lenient, "QUI"), -1);
    assert_int_equal(test_decode(omni_base64_decode_lenient, "-_-_"), -1);
    assert_int_equal(test_decode(omni_base64_decode_lenient, "QU\0D"), -1);
    assert_int_equal(test_decode(omni_base64_decode_lenient, "QU\xc3\xa9"),
                     -1);
}


/*
 * omni.crypto.base64_decode was EVP_DecodeBlock() less the '=' among the
 * last two characters, on a length of 4n: the lenient decoder must agree
 * on every input, drawn here from the bytes that matter to either.
 */

static long
test_evp_decode(unsigned char *dst, const char *src, size_t len)
{
    int     n;
    size_t  pad;

    if (len % 4 != 0) {
        return -1;
    }

    n = EVP_DecodeBlock(dst, (const unsigned char *) src, (int) len);
    if (n < 0) {
        return -1;
    }

    pad = (len > 0 && src[len - 1] == '=')
          + (len > 1 && src[len - 2] == '=');

    return (long) n - (long) pad;
}


static void
test_lenient_is_evp(void **state)
{
    static const char  bytes[] = "AQgw/+=-_ \t\r\nZ.\x80";

    char           src[12];
    long           a, b;
    size_t         len, i, j;
    unsigned int   seed;
    unsigned char  evp[16], ours[16];

    (void) state;

    seed = 1;

    for (i = 0; i < 2000000; i++) {
        seed = seed * 1103515245 + 12345;
        len = (seed >> 16) % 13;

        for (j = 0; j < len; j++) {
            seed = seed * 1103515245 + 12345;
            src[j] = bytes[(seed >> 16) % (sizeof(bytes) - 1)];
        }

        a = test_evp_decode(evp, src, len);
        b = omni_base64_decode_lenient(ours, src, len);

        assert_int_equal(a, b);

        if (a > 0) {
            assert_memory_equal(evp, ours, (size_t) a);
        }
    }
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(test_round_trips),
        cmocka_unit_test(test_url_rejects),
        cmocka_unit_test(test_standard_rejects),
        cmocka_unit_test(test_lenient),
        cmocka_unit_test(test_lenient_is_evp),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
