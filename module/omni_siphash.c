/*
 * Copyright (C) The omni gateway authors
 *
 * SipHash-2-4, 128-bit output (omni_siphash.h): two compression rounds a
 * word, four finalization rounds for each half of the output.  Words are
 * read little-endian whatever the host, as the specification says.
 */


#include <stdint.h>
#include <string.h>

#include "omni_siphash.h"


#define OMNI_ROTL(x, b)  (uint64_t) (((x) << (b)) | ((x) >> (64 - (b))))

#define OMNI_SIPROUND(v0, v1, v2, v3)                                       \
    do {                                                                      \
        v0 += v1; v1 = OMNI_ROTL(v1, 13); v1 ^= v0; v0 = OMNI_ROTL(v0, 32);   \
        v2 += v3; v3 = OMNI_ROTL(v3, 16); v3 ^= v2;                           \
        v0 += v3; v3 = OMNI_ROTL(v3, 21); v3 ^= v0;                           \
        v2 += v1; v1 = OMNI_ROTL(v1, 17); v1 ^= v2; v2 = OMNI_ROTL(v2, 32);   \
    } while (0)


static uint64_t omni_le64(const unsigned char *p);
static void omni_put_le64(unsigned char *p, uint64_t v);


void
omni_siphash128(const unsigned char *key, const void *p, size_t len,
    unsigned char *out)
{
    size_t               i, left;
    uint64_t             k0, k1, v0, v1, v2, v3, m, last;
    const unsigned char *in, *end;

    in = p;
    k0 = omni_le64(key);
    k1 = omni_le64(key + 8);

    v0 = k0 ^ UINT64_C(0x736f6d6570736575);
    v1 = k1 ^ UINT64_C(0x646f72616e646f6d) ^ 0xee;
    v2 = k0 ^ UINT64_C(0x6c7967656e657261);
    v3 = k1 ^ UINT64_C(0x7465646279746573);

    end = in + (len & ~(size_t) 7);

    for ( /* void */ ; in != end; in += 8) {
        m = omni_le64(in);
        v3 ^= m;
        OMNI_SIPROUND(v0, v1, v2, v3);
        OMNI_SIPROUND(v0, v1, v2, v3);
        v0 ^= m;
    }

    /* the last 0 to 7 bytes, and the length's low byte on top */
    left = len & 7;
    last = (uint64_t) len << 56;

    for (i = 0; i < left; i++) {
        last |= (uint64_t) in[i] << (8 * i);
    }

    v3 ^= last;
    OMNI_SIPROUND(v0, v1, v2, v3);
    OMNI_SIPROUND(v0, v1, v2, v3);
    v0 ^= last;

    v2 ^= 0xee;

    for (i = 0; i < 4; i++) {
        OMNI_SIPROUND(v0, v1, v2, v3);
    }

    omni_put_le64(out, v0 ^ v1 ^ v2 ^ v3);

    v1 ^= 0xdd;

    for (i = 0; i < 4; i++) {
        OMNI_SIPROUND(v0, v1, v2, v3);
    }

    omni_put_le64(out + 8, v0 ^ v1 ^ v2 ^ v3);
}


static uint64_t
omni_le64(const unsigned char *p)
{
    return (uint64_t) p[0] | (uint64_t) p[1] << 8 | (uint64_t) p[2] << 16
           | (uint64_t) p[3] << 24 | (uint64_t) p[4] << 32
           | (uint64_t) p[5] << 40 | (uint64_t) p[6] << 48
           | (uint64_t) p[7] << 56;
}


static void
omni_put_le64(unsigned char *p, uint64_t v)
{
    size_t  i;

    for (i = 0; i < 8; i++) {
        p[i] = (unsigned char) (v >> (8 * i));
    }
}
