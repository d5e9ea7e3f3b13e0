/*
 * Copyright (C) The omni gateway authors
 *
 * The error buffer every core writes (omni_err.h).
 */


#include <stdio.h>
#include <string.h>

#include "omni_err.h"


void
omni_err(char *err, const char *fmt, ...)
{
    va_list  args;

    va_start(args, fmt);
    vsnprintf(err, OMNI_ERRLEN, fmt, args);
    va_end(args);
}


void
omni_verr(char *err, const char *fmt, va_list args)
{
    vsnprintf(err, OMNI_ERRLEN, fmt, args);
}


void
omni_err_text(char *err, const char *text)
{
    size_t  len;

    len = strlen(text);

    if (len >= OMNI_ERRLEN) {
        len = OMNI_ERRLEN - 1;
    }

    memcpy(err, text, len);
    err[len] = '\0';
}


void
omni_err_printable(char *s)
{
    for ( /* void */ ; *s; s++) {
        if ((unsigned char) *s < 0x20 || *s == 0x7f) {
            *s = '?';
        }
    }
}
