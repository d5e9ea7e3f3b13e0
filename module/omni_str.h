/*
 * Copyright (C) The omni gateway authors
 *
 * A string with its length, and a name/value pair of them: how the plain-C
 * cores pass text that is not NUL-terminated; and the one check of text
 * that may go into a header or a log line, and a hex digit's value.
 */

#ifndef OMNI_STR_H_INCLUDED_
#define OMNI_STR_H_INCLUDED_


#include <stddef.h>


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


#endif /* OMNI_STR_H_INCLUDED_ */
