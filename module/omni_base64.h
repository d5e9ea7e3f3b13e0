/*
 * Copyright (C) The omni gateway authors
 *
 * Base64 (RFC 4648), the one codec of the gateway and its tools: the url
 * alphabet (section 5) as JOSE writes it, without padding, and the
 * standard alphabet (section 4) with padding.  Each decoder is named for
 * what it accepts, and each caller keeps the strictness it always had:
 *
 *   decoder                      alphabet  '='        trailing  blanks
 *                                                     bits
 *   omni_base64url_decode        url       refused    zero      refused
 *   omni_base64url_decode_padded url       optional   zero      refused
 *   omni_base64_decode           standard  required   zero      refused
 *   omni_base64_decode_lenient   standard  required   ignored   skipped
 *
 * Who calls which, and why:
 *
 *   omni_base64url_decode: the parts of a JWS (omni_token.c), the hot
 *     path, and the keys of a keyring file, which omni_keyring.c writes
 *     itself.  RFC 7515 forbids padding, and zero trailing bits give a
 *     token exactly one encoding: no second spelling of a signed token.
 *   omni_base64url_decode_padded: the members of a JWK (omni_keys.c).
 *     RFC 7518 writes them unpadded, but some publishers of JWKS pad.
 *   omni_base64_decode: the keys and values of export lines
 *     (omni_export.c, behind omnictl import): the one canonical encoding
 *     only, as omnictl export writes it.
 *   omni_base64_decode_lenient: omni.crypto.base64_decode for plugins
 *     (omni_lua_crypto.c).  Plugins were given OpenSSL's EVP_DecodeBlock(),
 *     which ignores trailing bits and skips blanks, and a plugin may read
 *     what a channel sends with it: it accepts what that did, to the
 *     letter (t/unit/test_base64.c compares them).  omni.base64.decode in
 *     Lua narrows it to the documented form.
 *
 *   omni_base64url_encode: keyring files (omni_keyring.c), the JWKs of
 *     omni-jwt (tools/omni_jwt.c), tokens in the unit tests.
 *   omni_base64_encode: omnictl export (tools/omnictl.c) and
 *     omni.crypto.base64_encode for plugins (omni_lua_crypto.c).
 *
 * No function writes a NUL after its output.
 */

#ifndef OMNI_BASE64_H_INCLUDED_
#define OMNI_BASE64_H_INCLUDED_


#include <stddef.h>


/* Bytes any decoder below writes at most for len input characters. */
#define omni_base64_decoded_len(len)  (((len) + 3) / 4 * 3)

/* Characters written for len bytes: exactly when padded, at most if not. */
#define omni_base64_encoded_len(len)  (((len) + 2) / 3 * 4)


/*
 * Each decoder writes into dst, which holds omni_base64_decoded_len(len)
 * bytes, and returns the decoded length, or -1 when src is not in the
 * form it accepts (see above).  The strict ones refuse a length of 4n+1
 * characters, which no encoding has.
 */
long omni_base64url_decode(unsigned char *dst, const char *src, size_t len);

/* As omni_base64url_decode, and one or two '=' may complete the last
 * group of four. */
long omni_base64url_decode_padded(unsigned char *dst, const char *src,
    size_t len);

/* A length of 4n characters, with one or two '=' where padding is due. */
long omni_base64_decode(unsigned char *dst, const char *src, size_t len);

/*
 * A length of 4n characters, of which leading spaces and tabs, and
 * trailing spaces, tabs, CRs, LFs and '-' (while more than three
 * characters are left) are skipped; what is left is 4n characters of the
 * standard alphabet or '=', anywhere, read as zero bits; the result is
 * one byte shorter for each '=' among the input's last two characters.
 */
long omni_base64_decode_lenient(unsigned char *dst, const char *src,
    size_t len);

/* Return the number of characters written. */
size_t omni_base64url_encode(char *dst, const unsigned char *src,
    size_t len);
size_t omni_base64_encode(char *dst, const unsigned char *src, size_t len);


#endif /* OMNI_BASE64_H_INCLUDED_ */
