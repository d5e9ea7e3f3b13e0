/*
 * Copyright (C) The omni gateway authors
 *
 * SipHash-2-4 with its 128-bit output (Aumasson and Bernstein): a keyed
 * hash that is a pseudorandom function of its 16-byte key, so that no one
 * without the key can make two inputs hash alike, at a few instructions a
 * byte where SHA-256 takes a few dozen.
 */

#ifndef OMNI_SIPHASH_H_INCLUDED_
#define OMNI_SIPHASH_H_INCLUDED_


#include <stddef.h>


#define OMNI_SIPHASH_KEY_LEN  16
#define OMNI_SIPHASH_LEN      16


/* The 16-byte hash of the len bytes at p under key, into out. */
void omni_siphash128(const unsigned char *key, const void *p, size_t len,
    unsigned char *out);


#endif /* OMNI_SIPHASH_H_INCLUDED_ */
