/*
 * Copyright (C) The omni gateway authors
 *
 * omni-loadgen: reading answers: the status line, the headers that frame the
 * body (Content-Length, chunked), and the body itself, byte by byte
 * where it is chunked.
 */


#define _GNU_SOURCE

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "loadgen.h"


static ssize_t omni_lg_head(omni_lg_t *lg, omni_lg_conn_t *c, const char *p,
    size_t n);
static int omni_lg_header(omni_lg_conn_t *c, const char *line, size_t len,
    uint64_t *length, int *chunked);
static int omni_lg_has_token(const char *v, size_t len, const char *token);
static int omni_lg_chunk_byte(omni_lg_conn_t *c, char ch);


/* takes n bytes of an answer; returns how many belonged to it, or -1 */
ssize_t
omni_lg_parse(omni_lg_t *lg, omni_lg_conn_t *c, const char *p, size_t n)
{
    size_t   i, take;
    ssize_t  used;

    i = 0;

    if (c->parse == OMNI_LG_HEAD) {
        used = omni_lg_head(lg, c, p, n);
        if (used == -1) {
            return -1;
        }

        i = (size_t) used;
    }

    while (i < n && c->parse != OMNI_LG_DONE) {

        switch (c->parse) {

        case OMNI_LG_BODY:
        case OMNI_LG_CHUNK_DATA:
            take = n - i < c->left ? n - i : c->left;
            i += take;
            c->left -= take;

            if (c->left == 0) {
                c->parse = c->parse == OMNI_LG_BODY ? OMNI_LG_DONE
                                                    : OMNI_LG_CHUNK_CR;
            }

            break;

        case OMNI_LG_UNTIL_CLOSE:
            i = n;
            break;

        default:
            if (omni_lg_chunk_byte(c, p[i++]) != 0) {
                return -1;
            }
        }
    }

    return (ssize_t) i;
}


/*
 * Buffers the header until its empty line, then reads the status and
 * what says where the body ends: Content-Length, chunked, or the close.
 */
static ssize_t
omni_lg_head(omni_lg_t *lg, omni_lg_conn_t *c, const char *p, size_t n)
{
    int        chunked;
    char      *h, *end, *line, *eol;
    size_t     take, from, used;
    uint64_t   length;

    h = c->head;
    take = sizeof(c->head) - c->head_len;
    take = n < take ? n : take;
    from = c->head_len > 3 ? c->head_len - 3 : 0;

    memcpy(h + c->head_len, p, take);
    c->head_len += take;

    end = memmem(h + from, c->head_len - from, "\r\n\r\n", 4);
    if (end == NULL) {
        return c->head_len == sizeof(c->head) ? -1 : (ssize_t) take;
    }

    used = take - (c->head_len - (size_t) (end + 4 - h));

    /* HTTP/1.x SSS */
    eol = memmem(h, (size_t) (end + 2 - h), "\r\n", 2);
    if (eol - h < 12 || memcmp(h, "HTTP/1.", 7) != 0 || h[8] != ' '
        || (h[12] != ' ' && h[12] != '\r')
        || h[9] < '1' || h[9] > '5' || h[10] < '0' || h[10] > '9'
        || h[11] < '0' || h[11] > '9')
    {
        return -1;
    }

    c->status = (h[9] - '0') * 100 + (h[10] - '0') * 10 + (h[11] - '0');

    length = UINT64_MAX;
    chunked = 0;

    for (line = eol + 2; line < end + 2; line = eol + 2) {
        eol = memmem(line, (size_t) (end + 2 - line), "\r\n", 2);

        if (omni_lg_header(c, line, (size_t) (eol - line), &length, &chunked)
            != 0)
        {
            return -1;
        }
    }

    if (lg->head_method || c->status < 200 || c->status == 204
        || c->status == 304)
    {
        c->parse = OMNI_LG_DONE;

    } else if (chunked) {
        c->parse = OMNI_LG_CHUNK_SIZE;
        c->left = 0;
        c->digits = 0;

    } else if (length != UINT64_MAX) {
        c->parse = length ? OMNI_LG_BODY : OMNI_LG_DONE;
        c->left = length;

    } else {
        c->parse = OMNI_LG_UNTIL_CLOSE;
        c->close = 1;
    }

    return (ssize_t) used;
}


static int
omni_lg_header(omni_lg_conn_t *c, const char *line, size_t len,
    uint64_t *length, int *chunked)
{
    char        *e;
    size_t       name;
    const char  *colon, *v, *end;

    end = line + len;
    colon = memchr(line, ':', len);
    if (colon == NULL) {
        return -1;
    }

    name = (size_t) (colon - line);

    for (v = colon + 1; v < end && (*v == ' ' || *v == '\t'); v++) {
        /* void */
    }

    if (name == 14 && strncasecmp(line, "Content-Length", 14) == 0) {
        if (v == end || *v < '0' || *v > '9') {
            return -1;
        }

        /* the header ends in CR, where strtoull stops */
        errno = 0;
        *length = strtoull(v, &e, 10);

        while (e < end && (*e == ' ' || *e == '\t')) {
            e++;
        }

        return (errno != 0 || e != end) ? -1 : 0;
    }

    if (name == 17 && strncasecmp(line, "Transfer-Encoding", 17) == 0) {
        *chunked = omni_lg_has_token(v, (size_t) (end - v), "chunked");

    } else if (name == 10 && strncasecmp(line, "Connection", 10) == 0) {
        c->close |= omni_lg_has_token(v, (size_t) (end - v), "close");
    }

    return 0;
}


static int
omni_lg_has_token(const char *v, size_t len, const char *token)
{
    size_t  i, n;

    n = strlen(token);

    for (i = 0; i + n <= len; i++) {
        if (strncasecmp(v + i, token, n) == 0) {
            return 1;
        }
    }

    return 0;
}


/* chunked framing, a byte at a time (the data is skipped in bulk) */
static int
omni_lg_chunk_byte(omni_lg_conn_t *c, char ch)
{
    int  d, l;

    switch (c->parse) {

    case OMNI_LG_CHUNK_SIZE:
        l = ch | 0x20;
        d = (ch >= '0' && ch <= '9') ? ch - '0'
            : (l >= 'a' && l <= 'f') ? l - 'a' + 10 : -1;

        if (d >= 0) {
            /* no chunk is 2^60 bytes long */
            if (c->left >> 59) {
                return -1;
            }

            c->left = c->left * 16 + (uint64_t) d;
            c->digits++;
            return 0;
        }

        if (c->digits == 0) {
            return -1;
        }

        /* what follows the size: ";extension", then the line's end */
        c->parse = OMNI_LG_CHUNK_EXT;

        /* fall through */

    case OMNI_LG_CHUNK_EXT:
        if (ch == '\n') {
            c->parse = c->left ? OMNI_LG_CHUNK_DATA : OMNI_LG_TRAILER;
        }

        return 0;

    case OMNI_LG_CHUNK_CR:
        c->parse = OMNI_LG_CHUNK_LF;
        return ch == '\r' ? 0 : -1;

    case OMNI_LG_CHUNK_LF:
        c->parse = OMNI_LG_CHUNK_SIZE;
        c->digits = 0;
        return ch == '\n' ? 0 : -1;

    case OMNI_LG_TRAILER:
        c->parse = ch == '\r' ? OMNI_LG_LAST_LF
                   : ch == '\n' ? OMNI_LG_DONE : OMNI_LG_TRAILER_LINE;
        return 0;

    case OMNI_LG_TRAILER_LINE:
        if (ch == '\n') {
            c->parse = OMNI_LG_TRAILER;
        }

        return 0;

    case OMNI_LG_LAST_LF:
        c->parse = OMNI_LG_DONE;
        return ch == '\n' ? 0 : -1;

    default:
        return -1;
    }
}
