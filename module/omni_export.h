/*
 * Copyright (C) The omni gateway authors
 *
 * Reading the store's export format (docs/omnictl.md): a header line,
 * then one line per raw record, {"db": NAME, "key": B64, "value": B64} in
 * standard base64 with padding.  omnictl writes it and imports it; the
 * reading is this core of its own, so that it is tested and fuzzed
 * without files or a store.  Knows nothing of NGINX.
 */

#ifndef OMNI_EXPORT_H_INCLUDED_
#define OMNI_EXPORT_H_INCLUDED_


#include <stddef.h>

#include "omni_store.h"
#include "omni_err.h"


#define OMNI_EXPORT_VERSION   1         /* the format's, in the header */
#define OMNI_EXPORT_KEY_MAX   511       /* LMDB's key size */


/*
 * Checks the header line (len bytes, without its newline): 0, or -1 with
 * what is wrong in err ("export version 9, this omnictl reads 1").
 */
int omni_export_header(const char *line, size_t len, char *err);

/*
 * Decodes a record line into rec, its key and value in one block at
 * rec->key (rec->val follows), to free() once written.  0, or -1 with
 * what is wrong in err ("the value is not base64 with padding") and
 * nothing to free.  A meta "format" record must be one this build
 * writes, plain or sealed (the store takes only its own).
 */
int omni_export_record(const char *line, size_t len,
    omni_store_record_t *rec, char *err);


#endif /* OMNI_EXPORT_H_INCLUDED_ */
