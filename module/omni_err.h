/*
 * Copyright (C) The omni gateway authors
 *
 * How a core reports a failure: a NUL-terminated message in a buffer of
 * OMNI_ERRLEN bytes that the caller owns, cut short to fit.  A core never
 * logs; the glue or the tool that called it decides where the message
 * goes.  One size for every core, so that a message can be passed on from
 * one core's buffer to another's as it is.
 */

#ifndef OMNI_ERR_H_INCLUDED_
#define OMNI_ERR_H_INCLUDED_


#include <stdarg.h>


#define OMNI_ERRLEN  1024


void omni_err(char *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void omni_verr(char *err, const char *fmt, va_list args)
    __attribute__((format(printf, 2, 0)));

/*
 * A message without arguments, copied rather than formatted: for the
 * answers a request path gives every time, such as a record not found.
 */
void omni_err_text(char *err, const char *text);

/*
 * Control bytes of a message to '?': a message that quotes its input (as
 * jansson's do) stays one line of a log or of nginx -t.
 */
void omni_err_printable(char *s);


#endif /* OMNI_ERR_H_INCLUDED_ */
