/*
 * Copyright (C) The omni gateway authors
 *
 * The base64 codec (omni_base64.h): the values of both alphabets from one
 * definition, one strict decoder behind the url and standard entry
 * points, the lenient decoder of plugins, one encoder.
 */


#include "omni_base64.h"


#define OMNI_BASE64_ALNUM                                                     \
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

/*
 * The value of byte c in the alphabet ending in c62, c63; -1 if none.
 * The cast: clang checks every arm of ?: against the type, taken or not.
 */
#define omni_base64_value(c, c62, c63)                                        \
    ((signed char) ((c) >= 'A' && (c) <= 'Z' ? (c) - 'A'                     \
                    : (c) >= 'a' && (c) <= 'z' ? (c) - 'a' + 26               \
                    : (c) >= '0' && (c) <= '9' ? (c) - '0' + 52               \
                    : (c) == (c62) ? 62 : (c) == (c63) ? 63 : -1))

#define omni_base64_values4(c, c62, c63)                                      \
    omni_base64_value(c, c62, c63), omni_base64_value(c + 1, c62, c63),       \
    omni_base64_value(c + 2, c62, c63), omni_base64_value(c + 3, c62, c63)

#define omni_base64_values16(c, c62, c63)                                     \
    omni_base64_values4(c, c62, c63), omni_base64_values4(c + 4, c62, c63),   \
    omni_base64_values4(c + 8, c62, c63), omni_base64_values4(c + 12, c62, c63)

/* the 256 values of the alphabet ending in c62, c63 */
#define omni_base64_values(c62, c63)                                          \
    omni_base64_values16(0, c62, c63),   omni_base64_values16(16, c62, c63),  \
    omni_base64_values16(32, c62, c63),  omni_base64_values16(48, c62, c63),  \
    omni_base64_values16(64, c62, c63),  omni_base64_values16(80, c62, c63),  \
    omni_base64_values16(96, c62, c63),  omni_base64_values16(112, c62, c63), \
    omni_base64_values16(128, c62, c63), omni_base64_values16(144, c62, c63), \
    omni_base64_values16(160, c62, c63), omni_base64_values16(176, c62, c63), \
    omni_base64_values16(192, c62, c63), omni_base64_values16(208, c62, c63), \
    omni_base64_values16(224, c62, c63), omni_base64_values16(240, c62, c63)


static long omni_base64_decode_strict(unsigned char *dst, const char *src,
    size_t len, const signed char *values);
static size_t omni_base64_unpad(const char *src, size_t len);
static size_t omni_base64_encode_with(char *dst, const unsigned char *src,
    size_t len, const char *alphabet, int pad);


static const signed char  omni_base64url_values[256] = {
    omni_base64_values('-', '_')
};

static const signed char  omni_base64_standard_values[256] = {
    omni_base64_values('+', '/')
};

static const char  omni_base64url_alphabet[] = OMNI_BASE64_ALNUM "-_";
static const char  omni_base64_standard_alphabet[] = OMNI_BASE64_ALNUM "+/";


long
omni_base64url_decode(unsigned char *dst, const char *src, size_t len)
{
    return omni_base64_decode_strict(dst, src, len, omni_base64url_values);
}


long
omni_base64url_decode_padded(unsigned char *dst, const char *src,
    size_t len)
{
    size_t  n;

    n = omni_base64_unpad(src, len);

    if (n < len && len % 4 != 0) {
        return -1;
    }

    return omni_base64_decode_strict(dst, src, n, omni_base64url_values);
}


long
omni_base64_decode(unsigned char *dst, const char *src, size_t len)
{
    if (len % 4 != 0) {
        return -1;
    }

    return omni_base64_decode_strict(dst, src, omni_base64_unpad(src, len),
                                     omni_base64_standard_values);
}


long
omni_base64_decode_lenient(unsigned char *dst, const char *src, size_t len)
{
    int             v;
    size_t          i, start, end, pad;
    unsigned long   acc;
    unsigned char  *d;

    if (len % 4 != 0) {
        return -1;
    }

    start = 0;

    while (start < len && (src[start] == ' ' || src[start] == '\t')) {
        start++;
    }

    end = len;

    while (end - start > 3
           && (src[end - 1] == ' ' || src[end - 1] == '\t'
               || src[end - 1] == '\r' || src[end - 1] == '\n'
               || src[end - 1] == '-'))
    {
        end--;
    }

    if ((end - start) % 4 != 0) {
        return -1;
    }

    d = dst;
    acc = 0;

    for (i = start; i < end; i++) {
        v = omni_base64_standard_values[(unsigned char) src[i]];
        if (v < 0 && src[i] != '=') {
            return -1;
        }

        acc = (acc << 6) | (unsigned long) (v < 0 ? 0 : v);

        if ((i - start) % 4 == 3) {
            *d++ = (unsigned char) (acc >> 16);
            *d++ = (unsigned char) (acc >> 8);
            *d++ = (unsigned char) acc;
            acc = 0;
        }
    }

    /*
     * one byte less for each '=' among the input's last two characters,
     * as plugins always had it; such a '=' was decoded, so d - dst >= 3
     */
    pad = (len > 0 && src[len - 1] == '=')
          + (len > 1 && src[len - 2] == '=');

    return (long) (d - dst) - (long) pad;
}


size_t
omni_base64url_encode(char *dst, const unsigned char *src, size_t len)
{
    return omni_base64_encode_with(dst, src, len, omni_base64url_alphabet, 0);
}


size_t
omni_base64_encode(char *dst, const unsigned char *src, size_t len)
{
    return omni_base64_encode_with(dst, src, len,
                                   omni_base64_standard_alphabet, 1);
}


/*
 * The characters of one alphabet, the last group of two or three, and no
 * trailing bits set: the one encoding of its bytes.  The JWS hot path.
 */

static inline long
omni_base64_decode_strict(unsigned char *dst, const char *src, size_t len,
    const signed char *values)
{
    int             v;
    size_t          i, n;
    unsigned long   acc;
    unsigned char  *d;

    if (len % 4 == 1) {
        return -1;
    }

    d = dst;
    acc = 0;
    n = 0;

    for (i = 0; i < len; i++) {
        v = values[(unsigned char) src[i]];
        if (v < 0) {
            return -1;
        }

        acc = (acc << 6) | (unsigned long) v;

        if (++n == 4) {
            *d++ = (unsigned char) (acc >> 16);
            *d++ = (unsigned char) (acc >> 8);
            *d++ = (unsigned char) acc;
            acc = 0;
            n = 0;
        }
    }

    if (n == 2) {
        if (acc & 0x0f) {
            return -1;
        }

        *d++ = (unsigned char) (acc >> 4);

    } else if (n == 3) {
        if (acc & 0x03) {
            return -1;
        }

        *d++ = (unsigned char) (acc >> 10);
        *d++ = (unsigned char) (acc >> 2);
    }

    return (long) (d - dst);
}


/* The length of src without its padding: one or two trailing '='. */

static size_t
omni_base64_unpad(const char *src, size_t len)
{
    size_t  n;

    n = len;

    while (n > 0 && src[n - 1] == '=' && len - n < 2) {
        n--;
    }

    return n;
}


static size_t
omni_base64_encode_with(char *dst, const unsigned char *src, size_t len,
    const char *alphabet, int pad)
{
    char           *d;
    unsigned long   acc;

    d = dst;

    while (len >= 3) {
        acc = ((unsigned long) src[0] << 16) | ((unsigned long) src[1] << 8)
              | src[2];
        *d++ = alphabet[(acc >> 18) & 0x3f];
        *d++ = alphabet[(acc >> 12) & 0x3f];
        *d++ = alphabet[(acc >> 6) & 0x3f];
        *d++ = alphabet[acc & 0x3f];
        src += 3;
        len -= 3;
    }

    if (len == 0) {
        return (size_t) (d - dst);
    }

    acc = (unsigned long) src[0] << 16;

    if (len == 2) {
        acc |= (unsigned long) src[1] << 8;
    }

    *d++ = alphabet[(acc >> 18) & 0x3f];
    *d++ = alphabet[(acc >> 12) & 0x3f];

    if (len == 2) {
        *d++ = alphabet[(acc >> 6) & 0x3f];
    }

    if (pad) {
        *d++ = '=';

        if (len == 1) {
            *d++ = '=';
        }
    }

    return (size_t) (d - dst);
}
