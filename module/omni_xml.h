/*
 * Copyright (C) The omni gateway authors
 *
 * A small, safe XML parser for the shallow documents channels send
 * (WeChat pushes, TwiML-like payloads), behind omni.xml.decode.  Knows
 * neither Lua nor NGINX: it reports elements, attributes and each
 * element's joined text to a handler, decoding entities into a scratch
 * buffer whose memory comes from the caller (a Lua userdata in the
 * binding, omni_lua_xml.c).
 *
 * What it accepts: one root element; elements, attributes (single or
 * double quoted), character data, CDATA sections, comments, processing
 * instructions (skipped, the XML declaration too), the five predefined
 * entities and numeric character references, in UTF-8.  What it refuses
 * is the list of omni_xml_rc_t below: no DOCTYPE or other declaration
 * (so no entity expansion, no external entity), no NUL, no character
 * XML forbids by reference, and bounds on depth, elements and attributes.
 * Namespaces are not interpreted: "soap:Body" is a name as written.
 */

#ifndef OMNI_XML_H_INCLUDED_
#define OMNI_XML_H_INCLUDED_


#include <stddef.h>
#include <sys/types.h>

#include "omni_json_text.h"


#define OMNI_XML_MAX_DEPTH     32
#define OMNI_XML_MAX_ELEMENTS  10000
#define OMNI_XML_MAX_ATTRS     64

/* the longest reference between '&' and ';' ("#x10FFFF" and the names) */
#define OMNI_XML_MAX_REF       10


typedef enum {
    OMNI_XML_OK = 0,
    OMNI_XML_NOT_UTF8,
    OMNI_XML_NUL,
    OMNI_XML_TEXT_OUTSIDE,
    OMNI_XML_COMMENT,
    OMNI_XML_CDATA_OUTSIDE,
    OMNI_XML_CDATA,
    OMNI_XML_DOCTYPE,
    OMNI_XML_ENTITY_DECL,
    OMNI_XML_DECL,
    OMNI_XML_PI,
    OMNI_XML_CLOSE_NAME,
    OMNI_XML_CLOSE_UNEXPECTED,          /* arg: the name */
    OMNI_XML_CLOSE_MISMATCH,            /* arg: the name, arg2: the open */
    OMNI_XML_CLOSE_GT,
    OMNI_XML_START_NAME,
    OMNI_XML_ROOTS,
    OMNI_XML_DEPTH,
    OMNI_XML_ELEMENTS,
    OMNI_XML_SLASH,
    OMNI_XML_START_TAG,
    OMNI_XML_ATTR_SPACE,
    OMNI_XML_ATTR_NAME,
    OMNI_XML_ATTR_EQ,                   /* arg: the attribute's name */
    OMNI_XML_ATTR_QUOTE,                /* the same */
    OMNI_XML_ATTR_VALUE,                /* the same */
    OMNI_XML_ATTR_LT,                   /* the same */
    OMNI_XML_ATTR_DUP,                  /* the same */
    OMNI_XML_ATTRS,
    OMNI_XML_ENTITY_MALFORMED,
    OMNI_XML_CHAR_REF,                  /* arg: the reference */
    OMNI_XML_ENTITY_UNKNOWN,            /* the same */
    OMNI_XML_UNCLOSED,                  /* arg: the element's name */
    OMNI_XML_NO_ROOT,
    OMNI_XML_NO_MEMORY,
    OMNI_XML_STOPPED                    /* a handler said so */
} omni_xml_rc_t;


/* what went wrong, and where: args point into the document */
typedef struct {
    omni_xml_rc_t       rc;
    size_t              pos;            /* 1-based byte offset */
    const u_char       *arg;
    size_t              arg_len;
    const u_char       *arg2;
    size_t              arg2_len;
} omni_xml_error_t;


/*
 * The events, in document order: start for each element, attr for each
 * of its attributes, end when it closes (at once for "<a/>") with its
 * text: its character data and CDATA joined, entities decoded.  The
 * pointers are valid during the call only.  A handler returns 0, or
 * non-zero to stop the parse (OMNI_XML_STOPPED).
 */
typedef struct {
    int  (*start)(void *data, const u_char *name, size_t len);
    int  (*attr)(void *data, const u_char *name, size_t name_len,
                 const u_char *value, size_t value_len);
    int  (*end)(void *data, const u_char *text, size_t len);
    void  *data;
} omni_xml_handler_t;


/*
 * Parses the document s.  scratch holds decoded text while elements are
 * open: it never needs more than len bytes (decoding only shrinks text).
 * Returns OMNI_XML_OK, or the error, described in err.
 */
omni_xml_rc_t omni_xml_parse(const u_char *s, size_t len,
    omni_buf_t *scratch, const omni_xml_handler_t *h, omni_xml_error_t *err);

/*
 * Writes "xml: <what> at byte <pos>" into buf (at most size bytes, no
 * NUL) and returns the message's whole length, which may exceed size.
 */
size_t omni_xml_strerror(const omni_xml_error_t *err, u_char *buf,
    size_t size);


#endif /* OMNI_XML_H_INCLUDED_ */
