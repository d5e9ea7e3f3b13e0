/*
 * Copyright (C) The omni gateway authors
 *
 * Fuzz target: the XML parser (module/omni_xml.c) alone, on any bytes.
 * Checks what its callers rely on: events nest (every start has its end,
 * never deeper than the limit, attributes only in a start tag, within
 * their limit, names never empty); every reported text is UTF-8 without
 * NUL; the scratch buffer never holds more than the document; a refusal
 * has a known code and an offset within the document, and its message
 * measures the same cut or whole.
 */


#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../unit/test_buf.h"
#include "omni_xml.h"


typedef struct {
    size_t      depth;
    size_t      elements;
    size_t      attrs;
    int         in_start;           /* attributes may come */
    size_t      doc_len;
} fuzz_xml_t;


static void
fuzz_xml_text(const u_char *s, size_t len, size_t doc_len)
{
    if (len > doc_len || !omni_json_utf8_valid(s, len)
        || (len && memchr(s, '\0', len) != NULL))
    {
        abort();
    }
}


static int
fuzz_xml_start(void *data, const u_char *name, size_t len)
{
    fuzz_xml_t  *f = data;

    if (len == 0 || ++f->depth > OMNI_XML_MAX_DEPTH
        || ++f->elements > OMNI_XML_MAX_ELEMENTS)
    {
        abort();
    }

    fuzz_xml_text(name, len, f->doc_len);

    f->in_start = 1;
    f->attrs = 0;

    return 0;
}


static int
fuzz_xml_attr(void *data, const u_char *name, size_t name_len,
    const u_char *value, size_t value_len)
{
    fuzz_xml_t  *f = data;

    if (!f->in_start || name_len == 0 || ++f->attrs > OMNI_XML_MAX_ATTRS) {
        abort();
    }

    fuzz_xml_text(name, name_len, f->doc_len);
    fuzz_xml_text(value, value_len, f->doc_len);

    return 0;
}


static int
fuzz_xml_end(void *data, const u_char *text, size_t len)
{
    fuzz_xml_t  *f = data;

    if (f->depth == 0) {
        abort();
    }

    fuzz_xml_text(text, len, f->doc_len);

    f->depth--;
    f->in_start = 0;

    return 0;
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    u_char              msg[48], whole[1024];
    size_t              n, m;
    fuzz_xml_t          f;
    test_buf_t          b;
    omni_xml_rc_t       rc;
    omni_xml_error_t    err;
    omni_xml_handler_t  h;

    memset(&f, 0, sizeof(f));
    f.doc_len = size;

    test_buf_init(&b);

    h.start = fuzz_xml_start;
    h.attr = fuzz_xml_attr;
    h.end = fuzz_xml_end;
    h.data = &f;

    rc = omni_xml_parse(data, size, &b.b, &h, &err);

    free(b.b.data);

    if (b.max > size || err.rc != rc) {
        abort();
    }

    if (rc == OMNI_XML_OK) {
        if (f.depth != 0 || f.elements == 0) {
            abort();
        }

        return 0;
    }

    if (rc > OMNI_XML_NO_ROOT || err.pos == 0 || err.pos > size + 1) {
        abort();
    }

    n = omni_xml_strerror(&err, msg, sizeof(msg));

    if (n < sizeof(whole)) {
        m = omni_xml_strerror(&err, whole, sizeof(whole));

        if (m != n || memcmp(msg, whole, n < sizeof(msg) ? n : sizeof(msg))
                      != 0
            || memcmp(whole, "xml: ", 5) != 0)
        {
            abort();
        }
    }

    return 0;
}
