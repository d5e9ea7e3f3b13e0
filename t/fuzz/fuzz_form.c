/*
 * Copyright (C) The omni gateway authors
 *
 * Fuzz target: the form decoder (module/omni_form.c) alone, on any bytes.
 * Checks it against a reference written here the plain way (split on
 * '&' then '=', decode byte by byte): the same pairs in the same order,
 * as many as start announced, none holding a NUL; the scratch buffer
 * never larger than the input; a refusal only when the reference finds
 * the NUL at the same offset or more than OMNI_FORM_MAX_PAIRS pairs, and
 * its message measures the same cut or whole.  unescape in place writes
 * what it writes elsewhere.
 */


#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../unit/test_buf.h"
#include "omni_form.h"


typedef struct {
    const u_char  *in;
    size_t         len;
    size_t         next;               /* where the reference reads on */
    size_t         announced;
    size_t         pairs;
    int            started;
    u_char        *ref;                /* the reference's decoding */
} fuzz_form_t;


/* a hex digit's value, or -1: looked up in the digits of either case */
static int
fuzz_form_hex(u_char c)
{
    static const char  digits[] = "0123456789abcdef0123456789ABCDEF";

    const char  *p;

    p = memchr(digits, c, 32);

    return p != NULL ? (int) (p - digits) % 16 : -1;
}


/* the reference's unescape of in[from..to) into ref; its length */
static size_t
fuzz_form_ref(fuzz_form_t *f, size_t from, size_t to)
{
    size_t  i, n;

    n = 0;

    for (i = from; i < to; i++) {
        if (f->in[i] == '+') {
            f->ref[n++] = ' ';

        } else if (f->in[i] == '%' && to - i >= 3
                   && fuzz_form_hex(f->in[i + 1]) >= 0
                   && fuzz_form_hex(f->in[i + 2]) >= 0)
        {
            f->ref[n++] = (u_char) (fuzz_form_hex(f->in[i + 1]) * 16
                                    + fuzz_form_hex(f->in[i + 2]));
            i += 2;

        } else {
            f->ref[n++] = f->in[i];
        }
    }

    return n;
}


static void
fuzz_form_same(fuzz_form_t *f, size_t from, size_t to, const u_char *s,
    size_t len)
{
    if (fuzz_form_ref(f, from, to) != len
        || (len && memcmp(f->ref, s, len) != 0)
        || (len && memchr(s, '\0', len) != NULL))
    {
        abort();
    }
}


static int
fuzz_form_start(void *data, size_t pairs)
{
    fuzz_form_t  *f = data;

    if (f->started || pairs > OMNI_FORM_MAX_PAIRS) {
        abort();
    }

    f->started = 1;
    f->announced = pairs;

    return 0;
}


static int
fuzz_form_pair(void *data, const u_char *name, size_t name_len,
    const u_char *value, size_t value_len)
{
    size_t        end, eq;
    fuzz_form_t  *f = data;

    if (!f->started || ++f->pairs > f->announced) {
        abort();
    }

    /* the reference's next non-empty pair */
    while (f->next < f->len && f->in[f->next] == '&') {
        f->next++;
    }

    for (end = f->next; end < f->len && f->in[end] != '&'; end++) {
        /* void */
    }

    for (eq = f->next; eq < end && f->in[eq] != '='; eq++) {
        /* void */
    }

    if (end == f->next) {
        abort();
    }

    fuzz_form_same(f, f->next, eq, name, name_len);

    if (eq < end) {
        fuzz_form_same(f, eq + 1, end, value, value_len);

    } else if (value_len != 0) {
        abort();
    }

    f->next = end;

    return 0;
}


/* the reference's refusal: the first NUL's offset, or pairs over */
static void
fuzz_form_refusal(const uint8_t *data, size_t size,
    const omni_form_error_t *err)
{
    size_t  i, amps;

    amps = 0;

    for (i = 0; i < size; i++) {
        if (data[i] == '\0'
            || (data[i] == '%' && size - i >= 3 && data[i + 1] == '0'
                && data[i + 2] == '0'))
        {
            if (err->rc != OMNI_FORM_NUL || err->pos != i + 1) {
                abort();
            }

            return;
        }

        amps += (data[i] == '&');
    }

    if ((amps >= OMNI_FORM_MAX_PAIRS) != (err->rc == OMNI_FORM_PAIRS)) {
        abort();
    }
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    u_char               msg[16], whole[64], *copy, *out;
    size_t               n, m;
    fuzz_form_t          f;
    test_buf_t           b;
    omni_form_rc_t       rc;
    omni_form_error_t    err;
    omni_form_handler_t  h;

    memset(&f, 0, sizeof(f));
    f.in = data;
    f.len = size;
    f.ref = malloc(size + 1);
    copy = malloc(size + 1);
    out = malloc(size + 1);

    if (f.ref == NULL || copy == NULL || out == NULL) {
        abort();
    }

    test_buf_init(&b);

    h.start = fuzz_form_start;
    h.pair = fuzz_form_pair;
    h.data = &f;

    rc = omni_form_parse(data, size, &b.b, &h, &err);

    free(b.b.data);

    if (b.max > size || err.rc != rc) {
        abort();
    }

    fuzz_form_refusal(data, size, &err);

    if (rc == OMNI_FORM_OK) {
        if (!f.started || f.pairs != f.announced) {
            abort();
        }

    } else {
        if (rc > OMNI_FORM_PAIRS || f.started || f.pairs != 0) {
            abort();
        }

        n = omni_form_strerror(&err, msg, sizeof(msg));
        m = omni_form_strerror(&err, whole, sizeof(whole));

        if (m != n || m > sizeof(whole)
            || memcmp(msg, whole, n < sizeof(msg) ? n : sizeof(msg)) != 0
            || memcmp(whole, "form: ", 6) != 0)
        {
            abort();
        }
    }

    /* unescape: in place as elsewhere, never longer */
    if (size) {
        memcpy(copy, data, size);
    }

    n = omni_form_unescape(out, data, size);
    m = omni_form_unescape(copy, copy, size);

    if (n != m || n > size || (n && memcmp(out, copy, n) != 0)
        || fuzz_form_ref(&f, 0, size) != n
        || (n && memcmp(f.ref, out, n) != 0))
    {
        abort();
    }

    free(f.ref);
    free(copy);
    free(out);

    return 0;
}
