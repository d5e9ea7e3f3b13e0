/*
 * Copyright (C) The omni gateway authors
 *
 * Base64url (RFC 4648, section 5) as JOSE uses it: no padding on output.
 */

#ifndef OMNI_BASE64_H_INCLUDED_
#define OMNI_BASE64_H_INCLUDED_


#include <stddef.h>


/* Bytes needed to decode len input characters. */
#define omni_base64url_decoded_len(len)  (((len) + 3) / 4 * 3)

/* Bytes needed to encode len input bytes, without padding. */
#define omni_base64url_encoded_len(len)  (((len) + 2) / 3 * 4)


/*
 * Decodes src into dst, which must hold omni_base64url_decoded_len(len)
 * bytes.  When allow_padding is zero any '=' is an error; otherwise only
 * trailing padding is accepted.  Non-canonical trailing bits are rejected
 * so a token has exactly one encoding.  Returns the decoded length, or -1.
 */
long omni_base64url_decode(unsigned char *dst, const char *src, size_t len,
    int allow_padding);

/* Encodes without padding; returns the number of characters written. */
size_t omni_base64url_encode(char *dst, const unsigned char *src, size_t len);


#endif /* OMNI_BASE64_H_INCLUDED_ */
