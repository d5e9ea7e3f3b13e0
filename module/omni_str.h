/*
 * Copyright (C) The omni gateway authors
 *
 * A string with its length, and a name/value pair of them: how the plain-C
 * cores pass text that is not NUL-terminated; and the one check of text
 * that may go into a header or a log line, a hex digit's value, and a
 * fast fold of a few dozen bytes into a 64-bit hash.
 */

#ifndef OMNI_STR_H_INCLUDED_
#define OMNI_STR_H_INCLUDED_


#include <stddef.h>
#include <stdint.h>
#include <string.h>


typedef struct {
    const char     *data;
    size_t          len;
} omni_str_t;


typedef struct {
    omni_str_t      name;
    omni_str_t      value;
} omni_pair_t;


/* Whether s has no control bytes and so may go into a header or a log. */
static inline int
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


/* a hex digit's value, -1 for any other byte */
static inline int
omni_hex_digit(int c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }

    c |= 0x20;

    return (c >= 'a' && c <= 'f') ? c - 'a' + 10 : -1;
}



/*
 * Folds p into h eight bytes at a time: for short keys of hash tables
 * (label sets, caller ids), not a digest; finish with a finalizer
 */
static inline uint64_t
omni_hash_bytes(uint64_t h, const void *p, size_t len)
{
    uint64_t       w;
    const char    *s;

    s = p;

    while (len >= 8) {
        memcpy(&w, s, 8);
        h = (h ^ w) * UINT64_C(0x9e3779b97f4a7c15);
        h ^= h >> 29;
        s += 8;
        len -= 8;
    }

    if (len) {
        w = 0;
        memcpy(&w, s, len);
        h = (h ^ w) * UINT64_C(0x9e3779b97f4a7c15);
        h ^= h >> 29;
    }

    return h;
}


#endif /* OMNI_STR_H_INCLUDED_ */
