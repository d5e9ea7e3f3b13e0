/*
 * Copyright (C) The omni gateway authors
 *
 * The form decoder (omni_form.h): one pass over the whole input for the
 * refusals and the number of pairs, then one that splits and decodes,
 * reporting each pair.  A name or value with nothing to decode is
 * reported from the input itself; the others are decoded into the
 * caller's scratch buffer.
 */


#include <stdio.h>
#include <string.h>

#include "omni_form.h"
#include "omni_str.h"


static omni_form_rc_t omni_form_check(const u_char *s, size_t len,
    size_t *pairs, omni_form_error_t *err);
static omni_form_rc_t omni_form_pair(const u_char *p, const u_char *end,
    omni_buf_t *scratch, const omni_form_handler_t *h);


omni_form_rc_t
omni_form_parse(const u_char *s, size_t len, omni_buf_t *scratch,
    const omni_form_handler_t *h, omni_form_error_t *err)
{
    size_t           pairs;
    const u_char    *p, *end, *amp;
    omni_form_rc_t   rc;

    err->pos = 0;

    rc = omni_form_check(s, len, &pairs, err);
    if (rc != OMNI_FORM_OK) {
        return rc;
    }

    if (h->start != NULL && h->start(h->data, pairs) != 0) {
        err->rc = OMNI_FORM_STOPPED;
        return OMNI_FORM_STOPPED;
    }

    p = s;
    end = s + len;

    while (p < end) {
        amp = memchr(p, '&', end - p);
        if (amp == NULL) {
            amp = end;
        }

        if (amp > p) {
            rc = omni_form_pair(p, amp, scratch, h);
            if (rc != OMNI_FORM_OK) {
                err->rc = rc;
                return rc;
            }
        }

        p = amp + 1;
    }

    err->rc = OMNI_FORM_OK;

    return OMNI_FORM_OK;
}


/*
 * The refusals, before anything is reported: the first NUL, raw or as
 * "%00" (which always decodes to one: no "%XX" before it can overlap
 * it), then the count of pairs, empty ones included, as '&' + 1.  Each
 * is a memchr() scan: a body is mostly bytes none of them looks for.
 */
static omni_form_rc_t
omni_form_check(const u_char *s, size_t len, size_t *pairs,
    omni_form_error_t *err)
{
    size_t         amps, filled;
    const u_char  *p, *end, *nul, *amp;

    end = s + len;

    nul = memchr(s, '\0', len);
    if (nul == NULL) {
        nul = end;
    }

    for (p = s; p < nul; p++) {
        p = memchr(p, '%', nul - p);
        if (p == NULL) {
            break;
        }

        if (end - p > 2 && p[1] == '0' && p[2] == '0') {
            nul = p;
            break;
        }
    }

    if (nul != end) {
        err->rc = OMNI_FORM_NUL;
        err->pos = nul - s + 1;
        return OMNI_FORM_NUL;
    }

    amps = 0;
    filled = 0;

    for (p = s; p <= end; p = amp + 1) {
        amp = memchr(p, '&', end - p);
        if (amp == NULL) {
            amp = end;
        }

        filled += (amp > p);

        if (amp == end) {
            break;
        }

        amps++;
    }

    if (amps >= OMNI_FORM_MAX_PAIRS) {
        err->rc = OMNI_FORM_PAIRS;
        return OMNI_FORM_PAIRS;
    }

    *pairs = filled;

    return OMNI_FORM_OK;
}


/* p..end is one non-empty pair: split at the first '=', decode, report */
static omni_form_rc_t
omni_form_pair(const u_char *p, const u_char *end, omni_buf_t *scratch,
    const omni_form_handler_t *h)
{
    size_t         name_len, value_len, need;
    u_char        *d;
    const u_char  *eq, *name, *value, *name_esc, *value_esc;

    eq = memchr(p, '=', end - p);

    name = p;
    name_len = (eq ? eq : end) - p;
    value = eq ? eq + 1 : end;
    value_len = end - value;

    name_esc = omni_form_escaped(name, name_len);
    value_esc = omni_form_escaped(value, value_len);

    need = 0;

    if (name_esc != name + name_len) {
        need += name_len;
    }

    if (value_esc != value + value_len) {
        need += value_len;
    }

    if (need) {
        scratch->len = 0;

        d = omni_buf_reserve(scratch, need);
        if (d == NULL) {
            return OMNI_FORM_NO_MEMORY;
        }

        if (name_esc != name + name_len) {
            name_len = omni_form_unescape(d, name, name_len);
            name = d;
            d += name_len;
        }

        if (value_esc != value + value_len) {
            value_len = omni_form_unescape(d, value, value_len);
            value = d;
        }
    }

    if (h->pair(h->data, name, name_len, value, value_len) != 0) {
        return OMNI_FORM_STOPPED;
    }

    return OMNI_FORM_OK;
}


const u_char *
omni_form_escaped(const u_char *s, size_t len)
{
    const u_char  *pct, *plus;

    pct = memchr(s, '%', len);
    plus = memchr(s, '+', pct ? (size_t) (pct - s) : len);

    return plus ? plus : pct ? pct : s + len;
}


size_t
omni_form_unescape(u_char *dst, const u_char *s, size_t len)
{
    int            hi, lo;
    u_char        *d;
    const u_char  *end;

    d = dst;
    end = s + len;

    while (s < end) {
        if (*s == '+') {
            *d++ = ' ';
            s++;
            continue;
        }

        if (*s == '%' && end - s > 2) {
            hi = omni_hex_digit(s[1]);
            lo = omni_hex_digit(s[2]);

            if (hi >= 0 && lo >= 0) {
                *d++ = (u_char) (hi << 4 | lo);
                s += 3;
                continue;
            }
        }

        /* anything else, a '%' without two hex digits too, as it is */
        *d++ = *s++;
    }

    return d - dst;
}


size_t
omni_form_strerror(const omni_form_error_t *err, u_char *buf, size_t size)
{
    int   n;
    char  msg[64];

    switch (err->rc) {

    case OMNI_FORM_NUL:
        n = snprintf(msg, sizeof(msg), "form: NUL (%%00) at byte %zu",
                     err->pos);
        break;

    case OMNI_FORM_PAIRS:
        n = snprintf(msg, sizeof(msg), "form: too many parameters (more "
                     "than %d)", OMNI_FORM_MAX_PAIRS);
        break;

    case OMNI_FORM_NO_MEMORY:
        n = snprintf(msg, sizeof(msg), "form: out of memory");
        break;

    case OMNI_FORM_STOPPED:
        n = snprintf(msg, sizeof(msg), "form: stopped by its handler");
        break;

    default:
        n = snprintf(msg, sizeof(msg), "form: no error");
        break;
    }

    /* every message fits msg: the longest holds one size_t */
    if (size != 0) {
        memcpy(buf, msg, (size_t) n < size ? (size_t) n : size);
    }

    return (size_t) n;
}
