/*
 * Copyright (C) The omni gateway authors
 *
 * omni_xml_native (omni_lua_xml.h): decode(s) builds omni.xml's tree from
 * the parser's events, every table and string in the VM, so the memory
 * cap counts what the result holds; the parser's scratch buffer is a
 * userdata the VM owns too.
 *
 * A node is { name = , attrs = { name = value }, children = { nodes },
 * text = }; a failure returns nil and "xml: <what> at byte <offset>".
 * decode_fields(s) builds only what omni.xml.fields() makes of the tree,
 * and gives the root's name: a request's body without a table per
 * element.
 */


#include <lauxlib.h>
#include <lua.h>

#include "omni_lua_json.h"
#include "omni_lua_xml.h"
#include "omni_xml.h"


/* decode's stack: the document, the scratch buffer, the root */
#define OMNI_LUA_XML_DOC       1
#define OMNI_LUA_XML_BUF       2
#define OMNI_LUA_XML_ROOT      3

/* above them, each element being read: its node, children and attrs */
#define OMNI_LUA_XML_SLOTS     3

/* the field names, decode's upvalues, interned once */
#define OMNI_LUA_XML_NAME      lua_upvalueindex(1)
#define OMNI_LUA_XML_ATTRS     lua_upvalueindex(2)
#define OMNI_LUA_XML_CHILDREN  lua_upvalueindex(3)
#define OMNI_LUA_XML_TEXT      lua_upvalueindex(4)

/* messages name at most a few names: most fit, longer ones are sized */
#define OMNI_LUA_XML_MESSAGE   256


typedef struct {
    lua_State         *L;
    int                depth;
    int                children[OMNI_XML_MAX_DEPTH + 1];
} omni_lua_xml_t;


/*
 * decode_fields' stack: the document, the scratch buffer, decode's root
 * slot (unused), then from OMNI_LUA_XML_FIELDS for each element being
 * read its name and its fields table (nil until it has a child): the
 * root's pair is what it returns
 */
#define OMNI_LUA_XML_FIELDS    (OMNI_LUA_XML_ROOT + 1)


static int omni_lua_xml_parse(lua_State *L,
    const omni_xml_handler_t *events);
static int omni_lua_xml_decode(lua_State *L);
static int omni_lua_xml_decode_fields(lua_State *L);
static int omni_lua_xml_field_start(void *data, const u_char *name,
    size_t len);
static int omni_lua_xml_field_attr(void *data, const u_char *name,
    size_t name_len, const u_char *value, size_t value_len);
static int omni_lua_xml_field_end(void *data, const u_char *text,
    size_t len);
static int omni_lua_xml_start(void *data, const u_char *name, size_t len);
static int omni_lua_xml_attr(void *data, const u_char *name,
    size_t name_len, const u_char *value, size_t value_len);
static int omni_lua_xml_end(void *data, const u_char *text, size_t len);


int
luaopen_omni_xml_native(lua_State *L)
{
    lua_newtable(L);

    lua_pushliteral(L, "name");
    lua_pushliteral(L, "attrs");
    lua_pushliteral(L, "children");
    lua_pushliteral(L, "text");
    lua_pushcclosure(L, omni_lua_xml_decode, 4);
    lua_setfield(L, -2, "decode");
    lua_pushcfunction(L, omni_lua_xml_decode_fields);
    lua_setfield(L, -2, "decode_fields");

    /* omni.xml's limits: stated here only */
    lua_pushinteger(L, OMNI_XML_MAX_DEPTH);
    lua_setfield(L, -2, "MAX_DEPTH");
    lua_pushinteger(L, OMNI_XML_MAX_ELEMENTS);
    lua_setfield(L, -2, "MAX_ELEMENTS");
    lua_pushinteger(L, OMNI_XML_MAX_ATTRS);
    lua_setfield(L, -2, "MAX_ATTRS");

    return 1;
}


/* the events that build decode's tree, and decode_fields' fields */
static const omni_xml_handler_t  omni_lua_xml_tree = {
    omni_lua_xml_start, omni_lua_xml_attr, omni_lua_xml_end, NULL
};

static const omni_xml_handler_t  omni_lua_xml_fields = {
    omni_lua_xml_field_start, omni_lua_xml_field_attr, omni_lua_xml_field_end,
    NULL
};


/* decode(s) -> node | nil, err */
static int
omni_lua_xml_decode(lua_State *L)
{
    if (omni_lua_xml_parse(L, &omni_lua_xml_tree) != 0) {
        return 2;
    }

    lua_pushvalue(L, OMNI_LUA_XML_ROOT);

    return 1;
}


/* decode_fields(s) -> fields, root name | nil, err */
static int
omni_lua_xml_decode_fields(lua_State *L)
{
    if (omni_lua_xml_parse(L, &omni_lua_xml_fields) != 0) {
        return 2;
    }

    /* a root without children: no fields */
    if (lua_isnil(L, OMNI_LUA_XML_FIELDS + 1)) {
        lua_newtable(L);
        lua_replace(L, OMNI_LUA_XML_FIELDS + 1);
    }

    lua_pushvalue(L, OMNI_LUA_XML_FIELDS + 1);
    lua_pushvalue(L, OMNI_LUA_XML_FIELDS);

    return 2;
}


/*
 * Runs the parser on argument 1 with the events: 0, or -1 with nil and
 * the message pushed.  Slot 2 is the scratch buffer, slot 3 free for the
 * handlers.
 */
static int
omni_lua_xml_parse(lua_State *L, const omni_xml_handler_t *events)
{
    size_t              len, n;
    u_char              msg[OMNI_LUA_XML_MESSAGE], *p;
    const char         *s;
    omni_lua_xml_t      x;
    omni_lua_buf_t      scratch;
    omni_xml_error_t    err;
    omni_xml_handler_t  h;

    /* the name as written, whatever the caller calls the function */
    if (lua_type(L, OMNI_LUA_XML_DOC) != LUA_TSTRING) {
        return luaL_error(L, "bad argument #1 to 'decode' (string expected, "
                          "got %s)", luaL_typename(L, OMNI_LUA_XML_DOC));
    }

    s = lua_tolstring(L, OMNI_LUA_XML_DOC, &len);

    lua_settop(L, OMNI_LUA_XML_ROOT);
    luaL_checkstack(L, OMNI_LUA_XML_SLOTS * (OMNI_XML_MAX_DEPTH + 1) + 4,
                    "xml.decode");

    omni_lua_buf_init(&scratch, L, OMNI_LUA_XML_BUF);

    x.L = L;
    x.depth = 0;

    h = *events;
    h.data = &x;

    if (omni_xml_parse((const u_char *) s, len, &scratch.b, &h, &err)
        == OMNI_XML_OK)
    {
        return 0;
    }

    lua_pushnil(L);

    n = omni_xml_strerror(&err, msg, sizeof(msg));
    p = msg;

    if (n > sizeof(msg)) {
        p = lua_newuserdata(L, n);
        omni_xml_strerror(&err, p, n);
    }

    lua_pushlstring(L, (const char *) p, n);

    if (p != msg) {
        lua_remove(L, -2);
    }

    return -1;
}


/* pushes the node, its children and its attrs */
static int
omni_lua_xml_start(void *data, const u_char *name, size_t len)
{
    omni_lua_xml_t  *x = data;
    lua_State       *L = x->L;

    x->depth++;
    x->children[x->depth] = 0;

    lua_createtable(L, 0, 4);

    lua_pushvalue(L, OMNI_LUA_XML_NAME);
    lua_pushlstring(L, (const char *) name, len);
    lua_rawset(L, -3);

    lua_createtable(L, 0, 0);
    lua_pushvalue(L, OMNI_LUA_XML_CHILDREN);
    lua_pushvalue(L, -2);
    lua_rawset(L, -4);

    lua_createtable(L, 0, 0);
    lua_pushvalue(L, OMNI_LUA_XML_ATTRS);
    lua_pushvalue(L, -2);
    lua_rawset(L, -5);

    return 0;
}


static int
omni_lua_xml_attr(void *data, const u_char *name, size_t name_len,
    const u_char *value, size_t value_len)
{
    omni_lua_xml_t  *x = data;
    lua_State       *L = x->L;

    lua_pushlstring(L, (const char *) name, name_len);
    lua_pushlstring(L, (const char *) value, value_len);
    lua_rawset(L, -3);

    return 0;
}


/* sets the node's text and moves it into its parent's children */
static int
omni_lua_xml_end(void *data, const u_char *text, size_t len)
{
    omni_lua_xml_t  *x = data;
    lua_State       *L = x->L;

    lua_pushvalue(L, OMNI_LUA_XML_TEXT);
    lua_pushlstring(L, (const char *) text, len);
    lua_rawset(L, -5);
    lua_pop(L, 2);

    x->depth--;

    if (x->depth == 0) {
        lua_replace(L, OMNI_LUA_XML_ROOT);
        return 0;
    }

    /* the parent's node, children and attrs are below */
    lua_rawseti(L, -3, ++x->children[x->depth]);

    return 0;
}


/*
 * decode_fields' events.  An element pushes its name and a nil for its
 * fields; its first child makes its parent's table.  As it ends it goes
 * into its parent's table: its own table when it had children, else its
 * text, as omni.xml.fields() does (a repeated name: the last wins).
 */
static int
omni_lua_xml_field_start(void *data, const u_char *name, size_t len)
{
    int              parent;
    omni_lua_xml_t  *x = data;
    lua_State       *L = x->L;

    x->depth++;

    if (x->depth > 1) {
        parent = OMNI_LUA_XML_FIELDS + 2 * (x->depth - 2) + 1;

        if (lua_isnil(L, parent)) {
            lua_newtable(L);
            lua_replace(L, parent);
        }
    }

    lua_pushlstring(L, (const char *) name, len);
    lua_pushnil(L);

    return 0;
}


static int
omni_lua_xml_field_attr(void *data, const u_char *name, size_t name_len,
    const u_char *value, size_t value_len)
{
    /* fields hold no attributes */
    (void) data;
    (void) name;
    (void) name_len;
    (void) value;
    (void) value_len;

    return 0;
}


static int
omni_lua_xml_field_end(void *data, const u_char *text, size_t len)
{
    omni_lua_xml_t  *x = data;
    lua_State       *L = x->L;

    x->depth--;

    /* the root's name and fields stay for decode_fields to return */
    if (x->depth == 0) {
        return 0;
    }

    if (lua_isnil(L, -1)) {
        lua_pop(L, 1);
        lua_pushlstring(L, (const char *) text, len);
    }

    /* name, value: into the parent's table, below them */
    lua_rawset(L, -3);

    return 0;
}
