/*
 * Copyright (C) The omni gateway authors
 *
 * JSON text as the gateway writes it, shared by the Lua codec
 * (omni_lua_json.c) and the contract writer (omni_contract.c): RFC 3629
 * UTF-8 validation and string escaping, appended to a growable buffer
 * whose memory comes from its owner (a Lua userdata, an NGINX pool).
 * Knows neither Lua nor NGINX.
 */

#ifndef OMNI_JSON_TEXT_H_INCLUDED_
#define OMNI_JSON_TEXT_H_INCLUDED_


#include <stddef.h>
#include <sys/types.h>


typedef struct omni_buf_s  omni_buf_t;

/*
 * Makes room for at least n more bytes after b->len (moving the data if
 * it must) and returns where they start; NULL when there is no memory.
 */
typedef u_char *(*omni_buf_grow_pt)(omni_buf_t *b, size_t n);

struct omni_buf_s {
    u_char             *data;
    size_t              len;
    size_t              cap;
    omni_buf_grow_pt    grow;          /* NULL: the buffer cannot grow */
    void               *ctx;           /* the owner's, for grow */
};


typedef enum {
    OMNI_JSON_TEXT_OK = 0,
    OMNI_JSON_TEXT_NOT_UTF8,
    OMNI_JSON_TEXT_NUL,
    OMNI_JSON_TEXT_NO_MEMORY
} omni_json_text_rc_t;


static inline u_char *
omni_buf_reserve(omni_buf_t *b, size_t n)
{
    if (b->cap - b->len < n) {
        return b->grow ? b->grow(b, n) : NULL;
    }

    return b->data + b->len;
}


int omni_buf_add(omni_buf_t *b, const void *s, size_t n);

int omni_json_utf8_valid(const u_char *p, size_t len);

/*
 * Appends s as a JSON string: '"' and '\' escaped, \b \f \n \r \t, other
 * controls and DEL as \u00XX, everything else as it is.  Nothing is
 * written when s is not valid UTF-8 or holds a NUL byte: no JSON the
 * gateway writes carries U+0000, as none it reads does (docs/contract.md,
 * "NUL").
 */
omni_json_text_rc_t omni_json_add_string(omni_buf_t *b, const u_char *s,
    size_t len);


#endif /* OMNI_JSON_TEXT_H_INCLUDED_ */
