/*
 * Copyright (C) The omni gateway authors
 *
 * The Lua C module omni_contract_native (omni_lua_contract.h): a plugin's
 * normalize() result read from Lua and written as the contract.
 */


#include <math.h>
#include <stdio.h>
#include <string.h>

#include <lauxlib.h>
#include <lua.h>

#include "omni_lua_contract.h"
#include "omni_lua_json.h"


/* the plugin's optional strings and their bounds */
typedef struct {
    const char     *name;
    int             slot;           /* in omni_lua_known_fields */
    size_t          max;
    size_t          offset;         /* of the omni_str_t in the contract */
} omni_lua_field_t;


/* the fields normalize may return, in omni_lua_known_fields' order */
enum {
    OMNI_LUA_F_ACTION = 0,
    OMNI_LUA_F_PARAMS,
    OMNI_LUA_F_APP_ID,
    OMNI_LUA_F_CLIENT_VERSION,
    OMNI_LUA_F_LOCALE,
    OMNI_LUA_F_DEVICE_ID,
    OMNI_LUA_F_TIER,
    OMNI_LUA_F_IDENTITIES,
    OMNI_LUA_F_INTENT,
    OMNI_LUA_F_CONFIDENCE,
    OMNI_LUA_F_N
};


typedef struct {
    const char     *name;
    int           (*is)(const char *s, size_t len);
} omni_lua_predicate_t;


/* what params() needs to encode the fields' params */
typedef struct {
    lua_State      *L;
    int             fields;
} omni_lua_params_t;


static int omni_lua_contract_fields_fn(lua_State *L);
static int omni_lua_contract_identities_fn(lua_State *L);
static int omni_lua_contract_check_identities_fn(lua_State *L);
static int omni_lua_contract_encode_fn(lua_State *L);
static int omni_lua_contract_is_fn(lua_State *L);
static int omni_lua_contract_timestamp_fn(lua_State *L);
static omni_contract_rc_t omni_lua_contract_read_fields(lua_State *L,
    int fields, int marks, omni_contract_t *c, char *err);
static omni_contract_rc_t omni_lua_contract_check_fields(lua_State *L,
    int base, int marks, omni_contract_t *c, char *err);
static omni_contract_rc_t omni_lua_contract_intent(lua_State *L,
    int base, int marks, omni_contract_t *c, char *err);
static omni_contract_rc_t omni_lua_contract_read_identities(lua_State *L,
    int fields, int extra, int marks, omni_contract_t *c, char *err);
static omni_contract_rc_t omni_lua_contract_check_list(lua_State *L,
    int ids, int marks, const char *where, size_t *n, char *err);
static omni_contract_rc_t omni_lua_contract_add_list(lua_State *L, int ids,
    omni_contract_t *c, char *err);
static omni_contract_rc_t omni_lua_contract_params(void *data,
    const char *path, omni_buf_t *out, char *err);
static void omni_lua_contract_known(lua_State *L, int known,
    omni_contract_t *c, omni_str_t *roles);
static void omni_lua_contract_gw(lua_State *L, int gw, omni_contract_t *c,
    omni_contract_session_t *s, omni_str_t *channels);
static void omni_lua_contract_gw_dispatch(lua_State *L, int gw,
    omni_contract_t *c, omni_contract_dispatch_t *d);
static int omni_lua_contract_marks(lua_State *L);
static int omni_lua_is_mark(lua_State *L, int idx, int marks, int which);
static int omni_lua_has_mt(lua_State *L, int idx, int marks, int which);
static const char *omni_lua_show(lua_State *L, int idx, char *buf);
static void omni_lua_get(lua_State *L, int idx, const char *key);
static omni_str_t omni_lua_get_string(lua_State *L, int idx, const char *key);
static lua_Number omni_lua_get_number(lua_State *L, int idx, const char *key);
static omni_str_t omni_lua_string(lua_State *L, int idx);
static omni_contract_rc_t omni_lua_contract_result(lua_State *L,
    omni_contract_rc_t rc, const char *err);


#define omni_lua_absent(L, idx, marks)                                        \
    (lua_isnil(L, idx) || omni_lua_is_mark(L, idx, marks, OMNI_JSON_MARK_NULL))


static const omni_lua_field_t  omni_lua_optional[] = {
    { "app_id", OMNI_LUA_F_APP_ID, OMNI_CONTRACT_APP_ID_MAX,
      offsetof(omni_contract_t, app_id) },
    { "client_version", OMNI_LUA_F_CLIENT_VERSION,
      OMNI_CONTRACT_CLIENT_VERSION_MAX,
      offsetof(omni_contract_t, client_version) },
    { "device_id", OMNI_LUA_F_DEVICE_ID, OMNI_CONTRACT_DEVICE_ID_MAX,
      offsetof(omni_contract_t, device_id) },
    { "tier", OMNI_LUA_F_TIER, OMNI_CONTRACT_TIER_MAX,
      offsetof(omni_contract_t, tier) },
    { NULL, 0, 0, 0 }
};


static const char  *omni_lua_known_fields[] = {
    "action", "params", "app_id", "client_version", "locale", "device_id",
    "tier", "identities", "intent", "confidence", NULL
};


static const luaL_Reg  omni_lua_contract_functions[] = {
    { "fields", omni_lua_contract_fields_fn },
    { "identities", omni_lua_contract_identities_fn },
    { "check_identities", omni_lua_contract_check_identities_fn },
    { "encode", omni_lua_contract_encode_fn },
    { "timestamp", omni_lua_contract_timestamp_fn },
    { NULL, NULL }
};


/* the writer's predicates, for the specs that hold them to omni.contract's */
static const omni_lua_predicate_t  omni_lua_contract_predicates[] = {
    { "is_name", omni_contract_is_name },
    { "is_action", omni_contract_is_action },
    { "is_code", omni_contract_is_code },
    { "is_locale", omni_contract_is_locale },
    { "is_id", omni_contract_is_id },
    { "is_role", omni_contract_is_role },
    { NULL, NULL }
};


static const struct {
    const char     *name;
    int             value;
} omni_lua_contract_limits[] = {
    { "name", OMNI_CONTRACT_NAME_MAX },
    { "action", OMNI_CONTRACT_ACTION_MAX },
    { "code", OMNI_CONTRACT_CODE_MAX },
    { "app_id", OMNI_CONTRACT_APP_ID_MAX },
    { "client_version", OMNI_CONTRACT_CLIENT_VERSION_MAX },
    { "device_id", OMNI_CONTRACT_DEVICE_ID_MAX },
    { "tier", OMNI_CONTRACT_TIER_MAX },
    { "locale", OMNI_CONTRACT_LOCALE_MAX },
    { "user_agent", OMNI_CONTRACT_USER_AGENT_MAX },
    { "identity_value", OMNI_CONTRACT_IDENTITY_VALUE_MAX },
    { "identities", OMNI_CONTRACT_IDENTITIES },
    { "request_id", OMNI_CONTRACT_ID_MAX },
    { "id", OMNI_CONTRACT_ID_MAX },
    { "roles", OMNI_CONTRACT_ROLES },
    { "role", OMNI_CONTRACT_ROLE_MAX },
    { "channels", OMNI_CONTRACT_CHANNELS },
    { "context", OMNI_CONTRACT_CONTEXT_MAX },
    { NULL, 0 }
};


int
luaopen_omni_contract_native(lua_State *L)
{
    int  i;

    lua_newtable(L);
    luaL_register(L, NULL, omni_lua_contract_functions);

    lua_newtable(L);

    for (i = 0; omni_lua_contract_limits[i].name; i++) {
        lua_pushinteger(L, omni_lua_contract_limits[i].value);
        lua_setfield(L, -2, omni_lua_contract_limits[i].name);
    }

    lua_setfield(L, -2, "LIMITS");

    for (i = 0; omni_lua_contract_predicates[i].name; i++) {
        lua_pushlightuserdata(L, (void *) &omni_lua_contract_predicates[i]);
        lua_pushcclosure(L, omni_lua_contract_is_fn, 1);
        lua_setfield(L, -2, omni_lua_contract_predicates[i].name);
    }

    return 1;
}


/* is_<kind>(s): a string the writer accepts as such */
static int
omni_lua_contract_is_fn(lua_State *L)
{
    omni_str_t                   s;
    const omni_lua_predicate_t  *p;

    p = lua_touserdata(L, lua_upvalueindex(1));
    s = omni_lua_string(L, 1);

    lua_pushboolean(L, s.data != NULL && p->is(s.data, s.len));

    return 1;
}


/* timestamp(ms): as the writer formats times */
static int
omni_lua_contract_timestamp_fn(lua_State *L)
{
    char    buf[24];
    double  ms;

    ms = luaL_checknumber(L, 1);

    if (!(ms >= 0 && ms < (double) OMNI_CONTRACT_MS_MAX)) {
        return luaL_argerror(L, 1, "milliseconds expected");
    }

    lua_pushlstring(L, buf,
                    omni_contract_timestamp((int64_t) floor(ms), buf));

    return 1;
}


/*
 * fields(fields[, c]): true, or nil and why; with c (a light userdata, the
 * gateway's omni_contract_t) the plugin's strings are read into it.
 */
static int
omni_lua_contract_fields_fn(lua_State *L)
{
    char                err[OMNI_ERRLEN];
    omni_contract_t     scratch, *c;
    omni_contract_rc_t  rc;

    c = lua_touserdata(L, 2);
    if (c == NULL) {
        memset(&scratch, 0, sizeof(omni_contract_t));
        c = &scratch;
    }

    lua_settop(L, 1);
    omni_lua_contract_marks(L);

    rc = omni_lua_contract_read_fields(L, 1, 2, c, err);

    return omni_lua_contract_result(L, rc, err);
}


/*
 * identities(fields, extra[, c]): identify()'s result checked, and merged
 * after the fields' own: the list (a JSON array), or with c, true; or nil
 * and why.
 */
static int
omni_lua_contract_identities_fn(lua_State *L)
{
    char                err[OMNI_ERRLEN];
    size_t              i;
    omni_contract_t     scratch, *c;
    omni_contract_rc_t  rc;

    c = lua_touserdata(L, 3);
    if (c == NULL) {
        memset(&scratch, 0, sizeof(omni_contract_t));
    }

    lua_settop(L, 2);
    omni_lua_contract_marks(L);

    rc = omni_lua_contract_read_identities(L, 1, 2, 3, c ? c : &scratch,
                                           err);

    if (rc != OMNI_CONTRACT_OK || c) {
        return omni_lua_contract_result(L, rc, err);
    }

    lua_createtable(L, (int) scratch.nidentities, 0);

    for (i = 0; i < scratch.nidentities; i++) {
        lua_createtable(L, 0, 2);
        lua_pushlstring(L, scratch.identities[i].name.data,
                        scratch.identities[i].name.len);
        lua_setfield(L, -2, "type");
        lua_pushlstring(L, scratch.identities[i].value.data,
                        scratch.identities[i].value.len);
        lua_setfield(L, -2, "value");
        lua_rawseti(L, -2, (int) i + 1);
    }

    lua_rawgeti(L, 3, OMNI_JSON_MARK_ARRAY_MT);
    lua_setmetatable(L, -2);

    return 1;
}


/* check_identities(ids[, where]): true, or nil and why */
static int
omni_lua_contract_check_identities_fn(lua_State *L)
{
    char                err[OMNI_ERRLEN];
    size_t              n;
    const char         *where;
    omni_contract_rc_t  rc;

    where = luaL_optstring(L, 2, "identities");

    lua_settop(L, 2);
    omni_lua_contract_marks(L);

    rc = omni_lua_contract_check_list(L, 1, 3, where, &n, err);

    return omni_lua_contract_result(L, rc, err);
}


/*
 * encode(fields, extra, known, gw): the contract's text, or nil and why.
 * The host checked known and gw for types; what they hold is checked here
 * as in the gateway.
 */
static int
omni_lua_contract_encode_fn(lua_State *L)
{
    char                     err[OMNI_ERRLEN];
    omni_str_t               roles[OMNI_CONTRACT_ROLES];
    omni_str_t               channels[OMNI_CONTRACT_CHANNELS + 1];
    omni_lua_buf_t           out;
    omni_contract_t          c;
    omni_contract_rc_t       rc;
    omni_contract_session_t  session;
    omni_contract_dispatch_t dispatch;

    luaL_checktype(L, 3, LUA_TTABLE);
    luaL_checktype(L, 4, LUA_TTABLE);

    lua_settop(L, 4);

    omni_lua_get(L, 3, "principal");
    if (!lua_isnil(L, -1) && !lua_istable(L, -1)
        && lua_type(L, -1) != LUA_TUSERDATA)
    {
        return luaL_error(L, "bad argument #3 to 'encode' (known.principal "
                          "must be a table)");
    }
    lua_pop(L, 1);
    omni_lua_contract_marks(L);                 /* 5 */
    lua_pushnil(L);                             /* 6: the output */

    memset(&c, 0, sizeof(omni_contract_t));

    rc = omni_lua_contract_read_fields(L, 1, 5, &c, err);

    if (rc == OMNI_CONTRACT_OK) {
        rc = omni_lua_contract_read_identities(L, 1, 2, 5, &c, err);
    }

    if (rc != OMNI_CONTRACT_OK) {
        return omni_lua_contract_result(L, rc, err);
    }

    omni_lua_contract_known(L, 3, &c, roles);
    omni_lua_contract_gw(L, 4, &c, &session, channels);
    omni_lua_contract_gw_dispatch(L, 4, &c, &dispatch);

    rc = omni_contract_check_gateway(&c, err);

    if (rc == OMNI_CONTRACT_OK) {
        omni_lua_buf_init(&out, L, 6);
        rc = omni_lua_contract_write(L, 1, &c, &out.b, err);
    }

    if (rc != OMNI_CONTRACT_OK) {
        return omni_lua_contract_result(L, rc, err);
    }

    lua_pushlstring(L, (const char *) out.b.data, out.b.len);

    return 1;
}


omni_contract_rc_t
omni_lua_contract_write(lua_State *L, int fields, omni_contract_t *c,
    omni_buf_t *out, char *err)
{
    omni_lua_params_t  params;

    params.L = L;
    params.fields = (fields < 0) ? lua_gettop(L) + fields + 1 : fields;

    c->params = omni_lua_contract_params;
    c->params_data = &params;

    return omni_contract_write(c, out, err);
}


/*
 * As omni.contract.validate_fields() says, message for message.  A NUL in
 * a string is refused here, before anything reads the fields: the store
 * and the policy take identities and the tier as C strings, where
 * "victim\0x" would be "victim".  The writer refuses it everywhere else.
 */

static omni_contract_rc_t
omni_lua_contract_read_fields(lua_State *L, int fields, int marks,
    omni_contract_t *c, char *err)
{
    int                 base;
    char                show[OMNI_CONTRACT_SHOW_LEN];
    size_t              i, len;
    const char         *k;
    omni_contract_rc_t  rc;

    if (!lua_istable(L, fields)) {
        return omni_contract_invalid(err, "normalize must return a table of fields "
                             "(got %s)", luaL_typename(L, fields));
    }

    /*
     * One walk of the table: every known field's value goes to its slot
     * on the stack, where the checks read it, rather than each being
     * looked up again by a name made into a Lua string.
     */
    luaL_checkstack(L, OMNI_LUA_F_N + 4, "contract: fields");

    base = lua_gettop(L) + 1;

    for (i = 0; i < OMNI_LUA_F_N; i++) {
        lua_pushnil(L);
    }

    lua_pushnil(L);

    while (lua_next(L, fields) != 0) {
        k = (lua_type(L, -2) == LUA_TSTRING) ? lua_tolstring(L, -2, &len)
                                              : NULL;

        for (i = 0; k && omni_lua_known_fields[i]; i++) {
            if (strlen(omni_lua_known_fields[i]) == len
                && memcmp(omni_lua_known_fields[i], k, len) == 0)
            {
                break;
            }
        }

        if (k == NULL || omni_lua_known_fields[i] == NULL) {
            rc = omni_contract_invalid(err, "unknown field %s",
                               omni_lua_show(L, -2, show));
            lua_settop(L, base - 1);
            return rc;
        }

        lua_replace(L, base + (int) i);
    }

    rc = omni_lua_contract_check_fields(L, base, marks, c, err);

    lua_settop(L, base - 1);

    return rc;
}


/* the fields' values in their slots from base, checked into c */

static omni_contract_rc_t
omni_lua_contract_check_fields(lua_State *L, int base, int marks,
    omni_contract_t *c, char *err)
{
    char                     show[OMNI_CONTRACT_SHOW_LEN];
    size_t                   n;
    omni_str_t              *dst;
    omni_contract_rc_t       rc;
    const omni_lua_field_t  *f;

    lua_pushvalue(L, base + OMNI_LUA_F_ACTION);

    if (omni_lua_absent(L, -1, marks)) {
        lua_pop(L, 1);
        return omni_contract_invalid(err, "action is missing");
    }

    c->action = omni_lua_string(L, -1);

    if (c->action.data == NULL
        || !omni_contract_is_action(c->action.data, c->action.len))
    {
        rc = omni_contract_invalid(err, "action must be dotted lowercase words like "
                           "'order.query' (got %s)",
                           omni_lua_show(L, -1, show));
        lua_pop(L, 1);
        return rc;
    }

    lua_pop(L, 1);

    lua_pushvalue(L, base + OMNI_LUA_F_PARAMS);

    if (!omni_lua_absent(L, -1, marks)) {
        if (omni_lua_is_mark(L, -1, marks, OMNI_JSON_MARK_EMPTY_ARRAY)
            || omni_lua_has_mt(L, -1, marks, OMNI_JSON_MARK_ARRAY_MT))
        {
            lua_pop(L, 1);
            return omni_contract_invalid(err, "params must be a JSON object, not an "
                                 "array");
        }

        if (!lua_istable(L, -1)) {
            rc = omni_contract_invalid(err, "params must be a table (got %s)",
                               luaL_typename(L, -1));
            lua_pop(L, 1);
            return rc;
        }

        if (!omni_lua_has_mt(L, -1, marks, OMNI_JSON_MARK_OBJECT_MT)) {
            lua_rawgeti(L, -1, 1);
            n = !lua_isnil(L, -1);
            lua_pop(L, 1);

            if (n) {
                lua_pop(L, 1);
                return omni_contract_invalid(err, "params must be a JSON object, not "
                                     "an array");
            }
        }
    }

    lua_pop(L, 1);

    for (f = omni_lua_optional; f->name; f++) {
        lua_pushvalue(L, base + f->slot);

        dst = (omni_str_t *) ((char *) c + f->offset);
        dst->data = NULL;
        dst->len = 0;

        if (!omni_lua_absent(L, -1, marks)) {
            *dst = omni_lua_string(L, -1);

            if (dst->data == NULL || dst->len > f->max) {
                if (dst->data) {
                    rc = omni_contract_invalid(err, "%s must be a string of at most "
                                       "%zu bytes (got %s, %zu bytes)",
                                       f->name, f->max,
                                       omni_lua_show(L, -1, show), dst->len);
                } else {
                    rc = omni_contract_invalid(err, "%s must be a string of at most "
                                       "%zu bytes (got %s)", f->name, f->max,
                                       omni_lua_show(L, -1, show));
                }

                lua_pop(L, 1);
                return rc;
            }

            if (memchr(dst->data, '\0', dst->len) != NULL) {
                lua_pop(L, 1);
                return omni_contract_invalid(err, "%s holds a NUL "
                                             "character (U+0000)", f->name);
            }
        }

        lua_pop(L, 1);
    }

    lua_pushvalue(L, base + OMNI_LUA_F_LOCALE);

    c->locale.data = NULL;
    c->locale.len = 0;

    if (!omni_lua_absent(L, -1, marks)) {
        c->locale = omni_lua_string(L, -1);

        if (c->locale.data == NULL
            || !omni_contract_is_locale(c->locale.data, c->locale.len))
        {
            rc = omni_contract_invalid(err, "locale must be a language tag like "
                               "'zh-CN' (got %s)",
                               omni_lua_show(L, -1, show));
            lua_pop(L, 1);
            return rc;
        }
    }

    lua_pop(L, 1);

    rc = omni_lua_contract_intent(L, base, marks, c, err);
    if (rc != OMNI_CONTRACT_OK) {
        return rc;
    }

    lua_pushvalue(L, base + OMNI_LUA_F_IDENTITIES);

    rc = OMNI_CONTRACT_OK;

    if (!omni_lua_absent(L, -1, marks)) {
        rc = omni_lua_contract_check_list(L, lua_gettop(L), marks,
                                          "identities", &n, err);
    }

    lua_pop(L, 1);

    return rc;
}


/*
 * What the dispatch reads of a request (docs/dispatch.md), and the
 * contract's intent (1.3): the intent a plugin recognized and its
 * confidence, a finite number from 0 to 1, which needs an intent.
 */
static omni_contract_rc_t
omni_lua_contract_intent(lua_State *L, int base, int marks,
    omni_contract_t *c, char *err)
{
    char                show[OMNI_CONTRACT_SHOW_LEN];
    lua_Number          v;
    omni_contract_rc_t  rc;

    c->intent.data = NULL;
    c->intent.len = 0;
    c->confidence = -1;

    lua_pushvalue(L, base + OMNI_LUA_F_INTENT);

    if (!omni_lua_absent(L, -1, marks)) {
        c->intent = omni_lua_string(L, -1);

        if (c->intent.data == NULL
            || !omni_contract_is_intent(c->intent.data, c->intent.len))
        {
            rc = omni_contract_invalid(err, "intent must be dotted lowercase "
                                       "words like 'faq.hours' (got %s)",
                                       omni_lua_show(L, -1, show));
            lua_pop(L, 1);
            return rc;
        }
    }

    lua_pop(L, 1);

    lua_pushvalue(L, base + OMNI_LUA_F_CONFIDENCE);

    if (!omni_lua_absent(L, -1, marks)) {
        v = (lua_type(L, -1) == LUA_TNUMBER) ? lua_tonumber(L, -1) : -1;

        if (!(v >= 0 && v <= 1)) {
            rc = omni_contract_invalid(err, "confidence must be a number "
                                       "from 0 to 1 (got %s)",
                                       omni_lua_show(L, -1, show));
            lua_pop(L, 1);
            return rc;
        }

        if (c->intent.data == NULL) {
            lua_pop(L, 1);
            return omni_contract_invalid(err, "confidence needs an intent");
        }

        c->confidence = v;
    }

    lua_pop(L, 1);

    return OMNI_CONTRACT_OK;
}


/* the fields' identities, then identify()'s at extra, without repeats */

static omni_contract_rc_t
omni_lua_contract_read_identities(lua_State *L, int fields, int extra,
    int marks, omni_contract_t *c, char *err)
{
    size_t              n;
    omni_contract_rc_t  rc;

    if (!omni_lua_absent(L, extra, marks)) {
        rc = omni_lua_contract_check_list(L, extra, marks, "identify()", &n,
                                          err);
        if (rc != OMNI_CONTRACT_OK) {
            return rc;
        }
    }

    c->nidentities = 0;

    if (lua_istable(L, fields)) {
        omni_lua_get(L, fields, "identities");

        rc = omni_lua_contract_add_list(L, lua_gettop(L), c, err);

        lua_pop(L, 1);

        if (rc != OMNI_CONTRACT_OK) {
            return rc;
        }
    }

    return omni_lua_contract_add_list(L, extra, c, err);
}


/* a list of {type=, value=}, at most 16, as check_identities() says */

static omni_contract_rc_t
omni_lua_contract_check_list(lua_State *L, int ids, int marks,
    const char *where, size_t *count, char *err)
{
    char                show[OMNI_CONTRACT_SHOW_LEN];
    size_t              i, n, len;
    const char         *k;
    omni_str_t          v;
    omni_contract_rc_t  rc;

    ids = (ids < 0) ? lua_gettop(L) + ids + 1 : ids;
    *count = 0;

    if (omni_lua_is_mark(L, ids, marks, OMNI_JSON_MARK_EMPTY_ARRAY)) {
        return OMNI_CONTRACT_OK;
    }

    if (!lua_istable(L, ids)
        || omni_lua_has_mt(L, ids, marks, OMNI_JSON_MARK_OBJECT_MT))
    {
        goto not_array;
    }

    n = 0;
    lua_pushnil(L);

    while (lua_next(L, ids) != 0) {
        lua_pop(L, 1);

        if (++n > OMNI_CONTRACT_IDENTITIES) {
            lua_pop(L, 1);
            return omni_contract_invalid(err, "%s has more than %d entries", where,
                                 OMNI_CONTRACT_IDENTITIES);
        }

        if (lua_type(L, -1) != LUA_TNUMBER) {
            lua_pop(L, 1);
            goto not_array;
        }
    }

    for (i = 1; i <= n; i++) {
        lua_rawgeti(L, ids, (int) i);

        if (lua_isnil(L, -1)) {
            lua_pop(L, 1);
            goto not_array;
        }

        if (!lua_istable(L, -1)) {
            lua_pop(L, 1);
            return omni_contract_invalid(err, "%s[%zu] must be a table {type=, "
                                 "value=}", where, i);
        }

        lua_pushnil(L);

        while (lua_next(L, -2) != 0) {
            lua_pop(L, 1);

            k = (lua_type(L, -1) == LUA_TSTRING) ? lua_tolstring(L, -1, &len)
                                                  : NULL;

            if (k == NULL
                || !((len == 4 && memcmp(k, "type", 4) == 0)
                     || (len == 5 && memcmp(k, "value", 5) == 0)))
            {
                rc = omni_contract_invalid(err, "%s[%zu] has an unknown key %s",
                                   where, i, omni_lua_show(L, -1, show));
                lua_pop(L, 2);
                return rc;
            }
        }

        omni_lua_get(L, -1, "type");
        v = omni_lua_string(L, -1);

        if (v.data == NULL || !omni_contract_is_name(v.data, v.len)) {
            rc = omni_contract_invalid(err, "%s[%zu].type must match "
                               "^[a-z][a-z0-9_]{0,31}$ (got %s)", where, i,
                               omni_lua_show(L, -1, show));
            lua_pop(L, 2);
            return rc;
        }

        lua_pop(L, 1);

        omni_lua_get(L, -1, "value");
        v = omni_lua_string(L, -1);

        if (v.data == NULL || v.len < 1
            || v.len > OMNI_CONTRACT_IDENTITY_VALUE_MAX)
        {
            if (v.data) {
                rc = omni_contract_invalid(err, "%s[%zu].value must be a string of 1 "
                                   "to %d bytes (got %s, %zu bytes)", where,
                                   i, OMNI_CONTRACT_IDENTITY_VALUE_MAX,
                                   omni_lua_show(L, -1, show), v.len);
            } else {
                rc = omni_contract_invalid(err, "%s[%zu].value must be a string of 1 "
                                   "to %d bytes (got %s)", where, i,
                                   OMNI_CONTRACT_IDENTITY_VALUE_MAX,
                                   omni_lua_show(L, -1, show));
            }

            lua_pop(L, 2);
            return rc;
        }

        if (memchr(v.data, '\0', v.len) != NULL) {
            lua_pop(L, 2);
            return omni_contract_invalid(err, "%s[%zu].value holds a NUL "
                                         "character (U+0000)", where, i);
        }

        lua_pop(L, 2);
    }

    *count = n;

    return OMNI_CONTRACT_OK;

not_array:

    return omni_contract_invalid(err, "%s must be an array of {type=, value=}",
                         where);
}


/* a list that passed check_list (or is absent) into c */

static omni_contract_rc_t
omni_lua_contract_add_list(lua_State *L, int ids, omni_contract_t *c,
    char *err)
{
    size_t              i, n;
    omni_str_t          type, value;
    omni_contract_rc_t  rc;

    if (!lua_istable(L, ids)) {
        return OMNI_CONTRACT_OK;
    }

    n = lua_objlen(L, ids);

    for (i = 1; i <= n; i++) {
        lua_rawgeti(L, ids, (int) i);
        omni_lua_get(L, -1, "type");
        omni_lua_get(L, -2, "value");

        type = omni_lua_string(L, -2);
        value = omni_lua_string(L, -1);

        lua_pop(L, 3);

        rc = omni_contract_add_identity(c, type, value, err);
        if (rc != OMNI_CONTRACT_OK) {
            return rc;
        }
    }

    return OMNI_CONTRACT_OK;
}


static omni_contract_rc_t
omni_lua_contract_params(void *data, const char *path, omni_buf_t *out,
    char *err)
{
    int                 rc, top;
    size_t              len;
    const char         *msg;
    lua_State          *L;
    omni_lua_params_t  *params = data;

    L = params->L;
    top = lua_gettop(L);

    omni_lua_get(L, params->fields, "params");

    if (omni_lua_contract_marks(L) == 0
        && omni_lua_absent(L, top + 1, top + 2))
    {
        lua_settop(L, top);
        return omni_buf_add(out, "{}", 2) ? OMNI_CONTRACT_NO_MEMORY
                                          : OMNI_CONTRACT_OK;
    }

    rc = omni_json_encode_into(L, top + 1, path, out);

    if (rc != 0) {
        msg = lua_tolstring(L, -1, &len);
        omni_contract_invalid(err, "%.*s", (int) len, msg ? msg : "");
        lua_settop(L, top);
        return OMNI_CONTRACT_INVALID;
    }

    lua_settop(L, top);

    return OMNI_CONTRACT_OK;
}


/* known: { request_id=, received_at=, channel=, client_ip=, user_agent=,
 * principal= { subject=, issuer=, roles= } }, types checked by the host */

static void
omni_lua_contract_known(lua_State *L, int known, omni_contract_t *c,
    omni_str_t *roles)
{
    int     i;
    double  at;

    c->request_id = omni_lua_get_string(L, known, "request_id");

    if (c->request_id.data == NULL
        || !omni_contract_is_id(c->request_id.data, c->request_id.len))
    {
        luaL_error(L, "bad argument #3 to 'encode' (known.request_id must "
                   "match ^[A-Za-z0-9_-]{1,64}$)");
    }

    at = omni_lua_get_number(L, known, "received_at");

    if (!(at >= 0 && at < (double) OMNI_CONTRACT_MS_MAX)) {
        luaL_error(L, "bad argument #3 to 'encode' (known.received_at must "
                   "be milliseconds since the epoch)");
    }

    c->received_at = (int64_t) floor(at);

    c->channel = omni_lua_get_string(L, known, "channel");

    if (c->channel.data == NULL
        || !omni_contract_is_name(c->channel.data, c->channel.len))
    {
        luaL_error(L, "bad argument #3 to 'encode' (known.channel must "
                   "match ^[a-z][a-z0-9_]{0,31}$)");
    }

    c->client_ip = omni_lua_get_string(L, known, "client_ip");

    if (c->client_ip.data == NULL) {
        luaL_error(L, "bad argument #3 to 'encode' (known.client_ip must be "
                   "a string)");
    }

    c->user_agent = omni_lua_get_string(L, known, "user_agent");

    omni_lua_get(L, known, "principal");

    c->principal = lua_istable(L, -1);

    if (c->principal) {
        c->subject = omni_lua_get_string(L, -1, "subject");

        c->issuer = omni_lua_get_string(L, -1, "issuer");

        omni_lua_get(L, -1, "roles");

        if (lua_istable(L, -1)) {
            for (i = 1; i <= OMNI_CONTRACT_ROLES; i++) {
                lua_rawgeti(L, -1, i);

                if (lua_isnil(L, -1)) {
                    lua_pop(L, 1);
                    break;
                }

                roles[c->nroles] = omni_lua_string(L, -1);
                if (roles[c->nroles].data) {
                    c->nroles++;
                }

                lua_pop(L, 1);
            }

            c->roles = roles;
        }

        lua_pop(L, 1);
    }

    lua_pop(L, 1);
}


/* gw: { customer_id=, session= { id=, new=, created_at=, last_seen_at=,
 * channels=, context= } }, types checked by the host */

static void
omni_lua_contract_gw(lua_State *L, int gw, omni_contract_t *c,
    omni_contract_session_t *s, omni_str_t *channels)
{
    int     i;
    double  created, seen;

    c->customer_id = omni_lua_get_string(L, gw, "customer_id");

    omni_lua_get(L, gw, "session");

    if (!lua_istable(L, -1)) {
        lua_pop(L, 1);
        return;
    }

    memset(s, 0, sizeof(omni_contract_session_t));

    s->id = omni_lua_get_string(L, -1, "id");

    omni_lua_get(L, -1, "new");
    s->new = lua_toboolean(L, -1);
    lua_pop(L, 1);

    /* a number past int64 has no conversion: refused as received_at is */
    created = omni_lua_get_number(L, -1, "created_at");

    seen = omni_lua_get_number(L, -1, "last_seen_at");

    if (!(created >= 0 && created < (double) OMNI_CONTRACT_MS_MAX
          && seen >= 0 && seen < (double) OMNI_CONTRACT_MS_MAX))
    {
        luaL_error(L, "bad argument #4 to 'encode' (gw.session.created_at "
                   "and last_seen_at must be milliseconds since the epoch)");
    }

    s->created_at = (int64_t) floor(created);
    s->last_seen_at = (int64_t) floor(seen);

    s->context = omni_lua_get_string(L, -1, "context");

    if (s->id.data == NULL || s->context.data == NULL) {
        luaL_error(L, "bad argument #4 to 'encode' (gw.session.id and "
                   "gw.session.context must be strings)");
    }

    /* one more than allowed is enough for the check to refuse the list */
    omni_lua_get(L, -1, "channels");

    if (lua_istable(L, -1)) {
        for (i = 1; i <= OMNI_CONTRACT_CHANNELS + 1; i++) {
            lua_rawgeti(L, -1, i);

            if (lua_isnil(L, -1)) {
                lua_pop(L, 1);
                break;
            }

            channels[s->nchannels] = omni_lua_string(L, -1);
            if (channels[s->nchannels].data == NULL) {
                /* shown as a name that fails the check */
                channels[s->nchannels].data = "";
            }

            s->nchannels++;
            lua_pop(L, 1);
        }
    }

    lua_pop(L, 2);

    s->channels = channels;
    c->session = s;
}


/* gw.dispatch: { pool=, rule=, step=, reason= }, checked by the gateway's
 * checks; a step that is no small integer is passed as -1, which they
 * refuse */

static void
omni_lua_contract_gw_dispatch(lua_State *L, int gw, omni_contract_t *c,
    omni_contract_dispatch_t *d)
{
    lua_Number  step;

    omni_lua_get(L, gw, "dispatch");

    if (!lua_istable(L, -1)) {
        lua_pop(L, 1);
        return;
    }

    memset(d, 0, sizeof(omni_contract_dispatch_t));

    d->pool = omni_lua_get_string(L, -1, "pool");
    d->rule = omni_lua_get_string(L, -1, "rule");
    d->reason = omni_lua_get_string(L, -1, "reason");
    step = omni_lua_get_number(L, -1, "step");
    lua_pop(L, 1);

    d->step = (step >= 0 && step <= 1000 && step == floor(step))
              ? (int) step : -1;

    c->dispatch = d;
}


/* pushes the marks table and returns 0; raises before omni.json loads */

static int
omni_lua_contract_marks(lua_State *L)
{
    if (omni_json_push_marks(L) != 0) {
        return luaL_error(L, "omni_contract_native: omni.json is not "
                          "loaded");
    }

    return 0;
}


static int
omni_lua_is_mark(lua_State *L, int idx, int marks, int which)
{
    int  eq;

    if (lua_type(L, idx) != LUA_TUSERDATA) {
        return 0;
    }

    idx = (idx < 0) ? lua_gettop(L) + idx + 1 : idx;

    lua_rawgeti(L, marks, which);
    eq = lua_rawequal(L, idx, -1);
    lua_pop(L, 1);

    return eq;
}


static int
omni_lua_has_mt(lua_State *L, int idx, int marks, int which)
{
    int  eq;

    if (!lua_istable(L, idx) || !lua_getmetatable(L, idx)) {
        return 0;
    }

    lua_rawgeti(L, marks, which);
    eq = lua_rawequal(L, -1, -2);
    lua_pop(L, 2);

    return eq;
}


/* as omni.contract's show(): 'text', or the type's name */

static const char *
omni_lua_show(lua_State *L, int idx, char *buf)
{
    size_t       len;
    const char  *s;

    switch (lua_type(L, idx)) {

    case LUA_TSTRING:
        s = lua_tolstring(L, idx, &len);
        return omni_contract_show(buf, s, len);

    default:
        return luaL_typename(L, idx);
    }
}


/*
 * t[key] without metamethods: what is read stays anchored by the table,
 * and no plugin code runs behind the host's back.
 */

static void
omni_lua_get(lua_State *L, int idx, const char *key)
{
    idx = (idx < 0) ? lua_gettop(L) + idx + 1 : idx;

    lua_pushstring(L, key);
    lua_rawget(L, idx);
}


/* t[key] as omni_lua_string() reads it, anchored by the table */

static omni_str_t
omni_lua_get_string(lua_State *L, int idx, const char *key)
{
    omni_str_t  s;

    omni_lua_get(L, idx, key);
    s = omni_lua_string(L, -1);
    lua_pop(L, 1);

    return s;
}


/* t[key] when it is a number, else -1 */

static lua_Number
omni_lua_get_number(lua_State *L, int idx, const char *key)
{
    lua_Number  v;

    omni_lua_get(L, idx, key);
    v = (lua_type(L, -1) == LUA_TNUMBER) ? lua_tonumber(L, -1) : -1;
    lua_pop(L, 1);

    return v;
}


/* a string value (never a number converted in place); data NULL if not */

static omni_str_t
omni_lua_string(lua_State *L, int idx)
{
    omni_str_t  s;

    if (lua_type(L, idx) != LUA_TSTRING) {
        s.data = NULL;
        s.len = 0;
        return s;
    }

    s.data = lua_tolstring(L, idx, &s.len);

    return s;
}


/* true, or nil and err; out of memory is an error like any */

static omni_contract_rc_t
omni_lua_contract_result(lua_State *L, omni_contract_rc_t rc, const char *err)
{
    if (rc == OMNI_CONTRACT_OK) {
        lua_pushboolean(L, 1);
        return 1;
    }

    if (rc == OMNI_CONTRACT_NO_MEMORY) {
        return luaL_error(L, "not enough memory");
    }

    lua_pushnil(L);
    lua_pushstring(L, err);

    return 2;
}
