/*
 * Copyright (C) The omni gateway authors
 */


#include "omni_base64.h"


static const char  omni_base64url_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";


/* the value of each base64url character, -1 for any other byte */
static const signed char  omni_base64url_values[256] = {
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, 62, -1, -1,
    52, 53, 54, 55, 56, 57, 58, 59, 60, 61, -1, -1, -1, -1, -1, -1,
    -1,  0,  1,  2,  3,  4,  5,  6,  7,  8,  9, 10, 11, 12, 13, 14,
    15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, -1, -1, -1, -1, 63,
    -1, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40,
    41, 42, 43, 44, 45, 46, 47, 48, 49, 50, 51, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
};


long
omni_base64url_decode(unsigned char *dst, const char *src, size_t len,
    int allow_padding)
{
    int            v;
    size_t         i, n, pad;
    unsigned long  acc;
    unsigned char *d;

    pad = 0;

    if (allow_padding) {
        while (len > 0 && src[len - 1] == '=' && pad < 2) {
            len--;
            pad++;
        }

        if (pad && (len + pad) % 4 != 0) {
            return -1;
        }
    }

    if (len % 4 == 1) {
        return -1;
    }

    d = dst;
    acc = 0;
    n = 0;

    for (i = 0; i < len; i++) {
        v = omni_base64url_values[(unsigned char) src[i]];
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


size_t
omni_base64url_encode(char *dst, const unsigned char *src, size_t len)
{
    char          *d;
    unsigned long  acc;

    d = dst;

    while (len >= 3) {
        acc = ((unsigned long) src[0] << 16) | ((unsigned long) src[1] << 8)
              | src[2];
        *d++ = omni_base64url_alphabet[(acc >> 18) & 0x3f];
        *d++ = omni_base64url_alphabet[(acc >> 12) & 0x3f];
        *d++ = omni_base64url_alphabet[(acc >> 6) & 0x3f];
        *d++ = omni_base64url_alphabet[acc & 0x3f];
        src += 3;
        len -= 3;
    }

    if (len == 1) {
        acc = (unsigned long) src[0] << 16;
        *d++ = omni_base64url_alphabet[(acc >> 18) & 0x3f];
        *d++ = omni_base64url_alphabet[(acc >> 12) & 0x3f];

    } else if (len == 2) {
        acc = ((unsigned long) src[0] << 16) | ((unsigned long) src[1] << 8);
        *d++ = omni_base64url_alphabet[(acc >> 18) & 0x3f];
        *d++ = omni_base64url_alphabet[(acc >> 12) & 0x3f];
        *d++ = omni_base64url_alphabet[(acc >> 6) & 0x3f];
    }

    return (size_t) (d - dst);
}
