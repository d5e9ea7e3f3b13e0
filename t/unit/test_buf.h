/*
 * Copyright (C) The omni gateway authors
 *
 * The parser tests' scratch buffer: an omni_buf_t over malloc that grows
 * to exactly what it is asked and records the largest capacity asked, so
 * a test can hold a parser to its bound on scratch (the unit tests
 * test_xml.c and test_form.c, the fuzz targets fuzz_xml.c and
 * fuzz_form.c).
 */

#ifndef TEST_BUF_H_INCLUDED_
#define TEST_BUF_H_INCLUDED_


#include <stdlib.h>
#include <string.h>

#include "omni_json_text.h"


typedef struct {
    omni_buf_t  b;                  /* first: grow gets its address */
    size_t      max;                /* the largest capacity asked */
} test_buf_t;


static inline u_char *
test_buf_grow(omni_buf_t *b, size_t n)
{
    size_t       cap;
    u_char      *p;
    test_buf_t  *tb = (test_buf_t *) b;

    cap = b->len + n;
    p = realloc(b->data, cap);
    if (p == NULL) {
        abort();
    }

    b->data = p;
    b->cap = cap;

    if (cap > tb->max) {
        tb->max = cap;
    }

    return p + b->len;
}


static inline void
test_buf_init(test_buf_t *tb)
{
    memset(tb, 0, sizeof(test_buf_t));
    tb->b.grow = test_buf_grow;
}


/* frees what the buffer holds and makes it empty, ready to grow */
static inline void
test_buf_reset(test_buf_t *tb)
{
    free(tb->b.data);
    test_buf_init(tb);
}


#endif /* TEST_BUF_H_INCLUDED_ */
