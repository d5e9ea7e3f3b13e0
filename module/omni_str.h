/*
 * Copyright (C) The omni gateway authors
 *
 * A string with its length, and a name/value pair of them: how the plain-C
 * cores pass text that is not NUL-terminated.
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


#endif /* OMNI_STR_H_INCLUDED_ */
