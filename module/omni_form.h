/*
 * Copyright (C) The omni gateway authors
 *
 * The application/x-www-form-urlencoded decoder behind omni.form's decode
 * and unescape (query strings and form bodies).  Knows neither Lua nor
 * NGINX: it reports each pair to a handler, decoding into a scratch
 * buffer whose memory comes from the caller (a Lua userdata in the
 * binding, omni_lua_form.c).
 *
 * It follows the WHATWG URL standard's urlencoded parser: pairs are split
 * on '&' (not ';'), empty pairs are skipped, a pair without '=' has the
 * value "", '+' is a space, "%XX" is a byte, and a '%' not followed by
 * two hex digits is kept as it is.  Bytes are not checked for UTF-8.
 * What it refuses is the list of omni_form_rc_t below: a NUL (raw or
 * "%00": no value the gateway reads holds U+0000, docs/contract.md) and
 * more than OMNI_FORM_MAX_PAIRS pairs, empty ones counted.
 */

#ifndef OMNI_FORM_H_INCLUDED_
#define OMNI_FORM_H_INCLUDED_


#include <stddef.h>
#include <sys/types.h>

#include "omni_json_text.h"


#define OMNI_FORM_MAX_PAIRS  1000


typedef enum {
    OMNI_FORM_OK = 0,
    OMNI_FORM_NUL,                      /* pos: the NUL's or the "%00"'s */
    OMNI_FORM_PAIRS,
    OMNI_FORM_NO_MEMORY,
    OMNI_FORM_STOPPED                   /* a handler said so */
} omni_form_rc_t;


typedef struct {
    omni_form_rc_t      rc;
    size_t              pos;            /* 1-based byte offset, or 0 */
} omni_form_error_t;


/*
 * start, when not NULL, is told the number of non-empty pairs before the
 * first of them (a bound on the distinct names, to size a table); pair
 * is called for each, in order, with the name and value decoded.  The
 * pointers are valid during the call only.  A handler returns 0, or
 * non-zero to stop the parse (OMNI_FORM_STOPPED).
 */
typedef struct {
    int  (*start)(void *data, size_t pairs);
    int  (*pair)(void *data, const u_char *name, size_t name_len,
                 const u_char *value, size_t value_len);
    void  *data;
} omni_form_handler_t;


/*
 * Decodes the query string or form body s.  scratch holds a pair that
 * has something to decode, while it is reported: it never needs more
 * than that pair's length (decoding only shrinks text); a pair with
 * nothing to decode is reported from s itself.  Returns OMNI_FORM_OK or
 * the error, described in err; nothing is reported when s is refused.
 */
omni_form_rc_t omni_form_parse(const u_char *s, size_t len,
    omni_buf_t *scratch, const omni_form_handler_t *h, omni_form_error_t *err);

/*
 * The first byte of s[0..len) that unescaping changes ('%' or '+'), or
 * s + len when there is none.
 */
const u_char *omni_form_escaped(const u_char *s, size_t len);

/*
 * Writes s[0..len) with '+' as a space and "%XX" as a byte into dst (at
 * least len bytes, which may be s itself) and returns the length written.
 * NUL bytes pass: refusing them is omni_form_parse()'s part.
 */
size_t omni_form_unescape(u_char *dst, const u_char *s, size_t len);

/*
 * Writes "form: <what>" into buf (at most size bytes, no NUL) and
 * returns the message's whole length, which may exceed size.
 */
size_t omni_form_strerror(const omni_form_error_t *err, u_char *buf,
    size_t size);


#endif /* OMNI_FORM_H_INCLUDED_ */
