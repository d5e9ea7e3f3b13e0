/*
 * Copyright (C) The omni gateway authors
 */


#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <lauxlib.h>
#include <lua.h>
#include <luajit.h>
#include <lualib.h>

#include "omni_lua.h"
#include "omni_lua_contract.h"
#include "omni_lua_crypto.h"
#include "omni_lua_form.h"
#include "omni_lua_json.h"
#include "omni_lua_xml.h"


/*
 * Instructions between two looks at the clock in the interpreter, when it
 * is the only guard.  With the JIT on, the profiler's ticks reach the
 * interpreter too, and a count hook that fires makes LuaJIT abort the
 * trace being recorded: the hook is armed (its mask must be, for the
 * profiler's callback to trip it) but never comes.
 */
#define OMNI_LUA_HOOK_COUNT     1000
#define OMNI_LUA_HOOK_NEVER     INT_MAX

/*
 * LuaJIT's profiler interrupts JIT-compiled code: in "l" mode every trace
 * checks the profile hook where the source line changes, so a compiled
 * loop leaves its trace once a tick of process CPU time has passed (1 ms
 * asked, the kernel's tick in practice).
 */
#define OMNI_LUA_PROFILE_MODE   "li1"
#define OMNI_LUA_SOURCE_MAX     (1024 * 1024)

/*
 * Loading a plugin runs its file's top-level code when nginx starts,
 * reloads or respawns a worker: not a request, and often on a busy
 * machine, where the scheduler alone may hold a process for longer than
 * a request's budget (which may be 1 ms).  A load that failed for that
 * would fail the reload, or end a worker for good.  The budget only has
 * to stop top-level code that never ends.
 */
#define OMNI_LUA_LOAD_BUDGET    5000    /* ms */

/*
 * pairs() and next as the generic "for" runs them, with an iterator that
 * is not LuaJIT's built-in next: the JIT then compiles such loops with
 * ITERC/ITERL instead of its specialised ITERN.  Debian 12's LuaJIT
 * (luajit2 2.1-20230119) lacks upstream's 119fd1fa "Ensure forward
 * progress on trace exit to BC_ITERN" (LuaJIT #1000, #1045): a compiled
 * pairs() loop whose trace exits onto its own head enters that trace
 * again, and can do so for seconds on end, past the time budget
 * (docs/plugins.md).  Errors read as the built-ins' do.
 */
static const char  omni_lua_iterators[] =
    "local next, type, error = next, type, error\n"
    "local function step(t, k)\n"
    "    if type(t) ~= 'table' then\n"
    "        error(\"bad argument #1 to 'next' (table expected, got \"\n"
    "              .. type(t) .. ')', 2)\n"
    "    end\n"
    "    return next(t, k)\n"
    "end\n"
    "_G.next = step\n"
    "_G.pairs = function(t)\n"
    "    if type(t) ~= 'table' then\n"
    "        error(\"bad argument #1 to 'pairs' (table expected, got \"\n"
    "              .. type(t) .. ')', 2)\n"
    "    end\n"
    "    return step, t, nil\n"
    "end\n";

/* a first guess at a contract's size: most fit, larger ones grow */
#define OMNI_LUA_CONTRACT_SIZE  1024


/*
 * The host functions the gateway calls, found once when the VM is made
 * (a request's calls then need no lookup by name, and a support library
 * without one of them fails at configuration load)
 */
typedef enum {
    OMNI_LUA_LOAD = 0,
    OMNI_LUA_NAMES,
    OMNI_LUA_BEGIN,
    OMNI_LUA_AUTHENTICATE,
    OMNI_LUA_FIELDS,
    OMNI_LUA_RENDER_REPLY,
    OMNI_LUA_RENDER_ERROR,
    OMNI_LUA_HOST_FNS
} omni_lua_host_fn_t;

static const char  *omni_lua_host_fns[OMNI_LUA_HOST_FNS] = {
    "load", "names", "begin", "authenticate", "fields", "render_reply",
    "render_error"
};


struct omni_lua_s {
    lua_State          *L;
    lua_Alloc           alloc;          /* LuaJIT's own, counted by ours */
    void               *alloc_ud;
    size_t              used;
    size_t              max;
    unsigned            budget_ms;
    struct timespec     deadline;
    unsigned            memory_hit:1;
    unsigned            timed_out:1;
    unsigned            in_call:1;      /* the limits hold */
    unsigned            hook_armed:1;   /* the count is back to normal */
    unsigned            in_trace:1;     /* the profiler stopped a trace */
    unsigned            jit:1;          /* plugins run compiled */
    int                 hook_count;
    int                 fn_ref[OMNI_LUA_HOST_FNS];
    int                 claims_ref;     /* host.CLAIMS_KEY */
    size_t              max_headers;    /* host.MAX_HEADERS, which it checks */
    int                 write_ref;      /* omni_lua_write() */
};


/* a contract being written by omni_lua_write() */
typedef struct {
    omni_contract_t    *contract;
    omni_lua_result_t  *res;
    omni_buf_t          out;
    omni_contract_rc_t  rc;
    char                err[OMNI_ERRLEN];
} omni_lua_write_t;


static void *omni_lua_alloc(void *ud, void *ptr, size_t osize, size_t nsize);
#if defined(__SANITIZE_ADDRESS__)
static void *omni_lua_heap_alloc(void *ud, void *ptr, size_t osize,
    size_t nsize);
#endif
static void omni_lua_hook(lua_State *L, lua_Debug *ar);
static void omni_lua_profile(void *data, lua_State *L, int samples,
    int vmstate);
static int omni_lua_profile_works(omni_lua_t *vm);
static void omni_lua_profile_quiet(void);
static void omni_lua_profile_stop(lua_State *L);
static int omni_lua_past_deadline(omni_lua_t *vm);
static void omni_lua_trip(omni_lua_t *vm, lua_State *L);
static int omni_lua_panic(lua_State *L);
static void omni_lua_push_host_fn(omni_lua_t *vm, omni_lua_host_fn_t fn);
static omni_lua_rc_t omni_lua_call(omni_lua_t *vm, int nargs, int nresults,
    omni_lua_result_t *res);
static void omni_lua_set_str(lua_State *L, const char *key,
    const omni_str_t *s);
static void omni_lua_push_str(lua_State *L, const omni_str_t *s);
static void omni_lua_push_pairs(lua_State *L, const omni_pair_t *pairs,
    size_t n);
static int omni_lua_copy(omni_lua_result_t *res, omni_str_t *dst,
    lua_State *L, int idx);
static omni_lua_rc_t omni_lua_error_result(omni_lua_t *vm, int idx,
    omni_lua_result_t *res);
static omni_lua_rc_t omni_lua_answer_result(omni_lua_t *vm, int idx,
    omni_lua_result_t *res);
static void omni_lua_push_ctx(omni_lua_t *vm, const char *channel, int ref,
    omni_str_t *request_id);
static void omni_lua_set_message(omni_lua_result_t *res, const char *s);
static int omni_lua_write(lua_State *L);
static u_char *omni_lua_out_grow(omni_buf_t *b, size_t n);


omni_lua_t *
omni_lua_new(const char *lua_dir, size_t memory_max, unsigned budget_ms,
    char *err)
{
    int          i;
    lua_State   *L;
    omni_lua_t  *vm;

    vm = calloc(1, sizeof(omni_lua_t));
    if (vm == NULL) {
        omni_err(err, "out of memory");
        return NULL;
    }

    vm->max = memory_max;
    vm->budget_ms = budget_ms;
    vm->claims_ref = LUA_NOREF;

    for (i = 0; i < OMNI_LUA_HOST_FNS; i++) {
        vm->fn_ref[i] = LUA_NOREF;
    }

    vm->write_ref = LUA_NOREF;

    /*
     * LuaJIT's own allocator, wrapped to count: far cheaper than the C
     * library's for the many small objects a request makes.  What the
     * new state holds already is counted from the start.
     */
#if defined(__SANITIZE_ADDRESS__)
    L = lua_newstate(omni_lua_heap_alloc, NULL);
#else
    L = luaL_newstate();
#endif
    if (L == NULL) {
        free(vm);
        omni_err(err, "cannot create a Lua VM");
        return NULL;
    }

    vm->L = L;
    vm->alloc = lua_getallocf(L, &vm->alloc_ud);
    vm->used = (size_t) lua_gc(L, LUA_GCCOUNT, 0) * 1024
               + (size_t) lua_gc(L, LUA_GCCOUNTB, 0);
    lua_setallocf(L, omni_lua_alloc, vm);

    lua_atpanic(L, omni_lua_panic);

    luaL_openlibs(L);

    /*
     * Plugins run compiled.  A count hook stops interpreted code but never
     * fires inside a trace, so the profiler's checks bring a compiled loop
     * back to the interpreter, where the hook (armed all along, so that
     * its mask survives the profiler's callback) raises.
     */
    luaJIT_setmode(L, 0, LUAJIT_MODE_ENGINE | LUAJIT_MODE_ON);
    omni_lua_profile_quiet();
    luaJIT_profile_start(L, OMNI_LUA_PROFILE_MODE, omni_lua_profile, vm);

    vm->jit = omni_lua_profile_works(vm);

    if (!vm->jit) {
        /* the interpreter alone: the count hook is enough there */
        luaJIT_profile_stop(L);
        luaJIT_setmode(L, 0, LUAJIT_MODE_ENGINE | LUAJIT_MODE_OFF);
    }

    if (vm->jit
        && (luaL_loadbuffer(L, omni_lua_iterators,
                            sizeof(omni_lua_iterators) - 1, "=omni iterators")
            != 0
            || lua_pcall(L, 0, 0, 0) != 0))
    {
        omni_err(err, "cannot set the plugin VM's iterators: %s",
                 lua_tostring(L, -1));
        omni_lua_free(vm);
        return NULL;
    }

    vm->hook_count = vm->jit ? OMNI_LUA_HOOK_NEVER : OMNI_LUA_HOOK_COUNT;
    lua_sethook(L, omni_lua_hook, LUA_MASKCOUNT, vm->hook_count);
    vm->hook_armed = 1;

    /* the support library from lua_dir, and no native module but ours */
    lua_getglobal(L, "package");
    lua_pushfstring(L, "%s/?.lua;%s/?/init.lua", lua_dir, lua_dir);
    lua_setfield(L, -2, "path");
    lua_pushliteral(L, "");
    lua_setfield(L, -2, "cpath");
    lua_getfield(L, -1, "preload");
    lua_pushcfunction(L, luaopen_omni_crypto);
    lua_setfield(L, -2, "omni_crypto");
    lua_pushcfunction(L, luaopen_omni_json_native);
    lua_setfield(L, -2, "omni_json_native");
    lua_pushcfunction(L, luaopen_omni_contract_native);
    lua_setfield(L, -2, "omni_contract_native");
    lua_pushcfunction(L, luaopen_omni_xml_native);
    lua_setfield(L, -2, "omni_xml_native");
    lua_pushcfunction(L, luaopen_omni_form_native);
    lua_setfield(L, -2, "omni_form_native");
    lua_pop(L, 2);

    lua_getglobal(L, "require");
    lua_pushliteral(L, "omni.host");

    if (lua_pcall(L, 1, 1, 0) != 0 || !lua_istable(L, -1)) {
        omni_err(err, "cannot load the support library from \"%s\": %s",
                     lua_dir, lua_isstring(L, -1) ? lua_tostring(L, -1)
                                                  : "omni.host is no table");
        omni_lua_free(vm);
        return NULL;
    }

    lua_getfield(L, -1, "CLAIMS_KEY");
    vm->claims_ref = luaL_ref(L, LUA_REGISTRYINDEX);

    lua_getfield(L, -1, "MAX_HEADERS");
    vm->max_headers = (size_t) lua_tointeger(L, -1);
    lua_pop(L, 1);

    if (vm->max_headers == 0) {
        omni_err(err, "the support library in \"%s\" is not this "
                 "build's: omni.host has no MAX_HEADERS", lua_dir);
        omni_lua_free(vm);
        return NULL;
    }

    for (i = 0; i < OMNI_LUA_HOST_FNS; i++) {
        lua_getfield(L, -1, omni_lua_host_fns[i]);

        if (!lua_isfunction(L, -1)) {
            omni_err(err, "the support library in \"%s\" is not this "
                     "build's: omni.host has no %s()", lua_dir,
                     omni_lua_host_fns[i]);
            omni_lua_free(vm);
            return NULL;
        }

        vm->fn_ref[i] = luaL_ref(L, LUA_REGISTRYINDEX);
    }

    lua_pop(L, 1);

    lua_pushcfunction(L, omni_lua_write);
    vm->write_ref = luaL_ref(L, LUA_REGISTRYINDEX);

    return vm;
}


void
omni_lua_free(omni_lua_t *vm)
{
    if (vm == NULL) {
        return;
    }

    if (vm->L) {
        omni_lua_profile_stop(vm->L);

        /*
         * LuaJIT unmaps its allocator's arena on close only when it is
         * still the state's allocator: with our counting wrapper in its
         * place the arena would outlive the VM (the master makes and
         * frees a VM at every reload).
         */
        lua_setallocf(vm->L, vm->alloc, vm->alloc_ud);
        lua_close(vm->L);
    }

    free(vm);
}


int
omni_lua_load_plugin(omni_lua_t *vm, const char *name, const char *path,
    char *err)
{
    long               size;
    FILE              *f;
    char              *src;
    unsigned           budget;
    lua_State         *L;
    omni_lua_rc_t      rc;

    f = fopen(path, "rb");
    if (f == NULL) {
        omni_err(err, "cannot open plugin \"%s\": %s", path,
                     strerror(errno));
        return -1;
    }

    if (fseek(f, 0, SEEK_END) != 0 || (size = ftell(f)) < 0
        || fseek(f, 0, SEEK_SET) != 0 || size > OMNI_LUA_SOURCE_MAX)
    {
        omni_err(err, "cannot read plugin \"%s\" (at most %d bytes)",
                     path, OMNI_LUA_SOURCE_MAX);
        fclose(f);
        return -1;
    }

    src = malloc((size_t) size + 1);
    if (src == NULL || fread(src, 1, (size_t) size, f) != (size_t) size) {
        omni_err(err, "cannot read plugin \"%s\"", path);
        free(src);
        fclose(f);
        return -1;
    }

    fclose(f);

    L = vm->L;

    omni_lua_push_host_fn(vm, OMNI_LUA_LOAD);

    lua_pushstring(L, name);
    lua_pushfstring(L, "@%s", path);
    lua_pushlstring(L, src, (size_t) size);
    free(src);

    budget = vm->budget_ms;

    if (vm->budget_ms < OMNI_LUA_LOAD_BUDGET) {
        vm->budget_ms = OMNI_LUA_LOAD_BUDGET;
    }

    rc = omni_lua_call(vm, 3, 2, NULL);

    vm->budget_ms = budget;

    if (rc != OMNI_LUA_OK) {
        omni_err(err, "plugin \"%s\" failed to load: %s", path,
                     lua_tostring(L, -1));
        lua_pop(L, 1);
        return -1;
    }

    if (!lua_toboolean(L, -2)) {
        omni_err(err, "plugin \"%s\" failed to load: %s", path,
                     lua_isstring(L, -1) ? lua_tostring(L, -1)
                                         : "host.load refused it");
        lua_pop(L, 2);
        return -1;
    }

    lua_pop(L, 2);

    return 0;
}


int
omni_lua_has_plugin(omni_lua_t *vm, const char *name)
{
    int         found;
    size_t      i, n;
    lua_State  *L;

    L = vm->L;

    omni_lua_push_host_fn(vm, OMNI_LUA_NAMES);

    if (lua_pcall(L, 0, 1, 0) != 0) {
        lua_pop(L, 1);
        return 0;
    }

    found = 0;
    n = lua_objlen(L, -1);

    for (i = 1; i <= n && !found; i++) {
        lua_rawgeti(L, -1, (int) i);
        found = lua_isstring(L, -1) && strcmp(lua_tostring(L, -1), name) == 0;
        lua_pop(L, 1);
    }

    lua_pop(L, 1);

    return found;
}


omni_lua_rc_t
omni_lua_begin(omni_lua_t *vm, const char *channel,
    const omni_lua_request_t *req, int *ref, const char **fn,
    omni_lua_result_t *res)
{
    lua_State      *L;
    omni_lua_rc_t   rc;

    L = vm->L;
    *ref = LUA_NOREF;
    *fn = "prepare";

    /* what an earlier request's normalize may have left */
    lua_settop(L, 0);

    omni_lua_push_host_fn(vm, OMNI_LUA_BEGIN);

    /* the request's parts as host.begin's arguments: no table to fill */
    lua_pushstring(L, channel);
    omni_lua_push_str(L, &req->method);
    omni_lua_push_str(L, &req->path);
    omni_lua_push_str(L, &req->query);
    omni_lua_push_str(L, &req->client_ip);
    omni_lua_push_str(L, &req->body);
    omni_lua_push_pairs(L, req->headers, req->nheaders);
    omni_lua_push_pairs(L, req->settings, req->nsettings);

    if (req->location.len) {
        omni_lua_push_str(L, &req->location);

    } else {
        lua_pushnil(L);
    }

    if (req->time > 0) {
        lua_pushnumber(L, (lua_Number) req->time);

    } else {
        lua_pushnil(L);
    }

    /* req, and respond()'s status, headers, body; or nil, err */
    rc = omni_lua_call(vm, 10, 4, res);
    if (rc != OMNI_LUA_OK) {
        return rc;
    }

    if (!lua_istable(L, 1)) {
        lua_settop(L, 2);
        return omni_lua_error_result(vm, -1, res);
    }

    lua_pushvalue(L, 1);
    *ref = luaL_ref(L, LUA_REGISTRYINDEX);
    *fn = "respond";

    if (!lua_isnil(L, 2)) {
        rc = omni_lua_answer_result(vm, -3, res);
        lua_settop(L, 0);
        return rc;
    }

    if (lua_isnil(L, 3)) {
        lua_settop(L, 0);
        return OMNI_LUA_DECLINED;
    }

    lua_settop(L, 3);
    rc = omni_lua_error_result(vm, -1, res);
    lua_settop(L, 0);

    return rc;
}


/*
 * The payload text goes into the request as it is: the host decodes it
 * into req.claims only if a plugin reads them.
 */

void
omni_lua_set_claims(omni_lua_t *vm, int ref, const omni_str_t *claims_json)
{
    lua_State  *L;

    L = vm->L;

    lua_rawgeti(L, LUA_REGISTRYINDEX, ref);
    lua_rawgeti(L, LUA_REGISTRYINDEX, vm->claims_ref);
    lua_pushlstring(L, claims_json->data, claims_json->len);
    lua_rawset(L, -3);
    lua_pop(L, 1);
}


omni_lua_rc_t
omni_lua_authenticate(omni_lua_t *vm, const char *channel, int ref,
    omni_lua_result_t *res)
{
    lua_State      *L;
    omni_lua_rc_t   rc;

    L = vm->L;

    omni_lua_push_host_fn(vm, OMNI_LUA_AUTHENTICATE);

    lua_pushstring(L, channel);
    lua_rawgeti(L, LUA_REGISTRYINDEX, ref);

    rc = omni_lua_call(vm, 2, 2, res);
    if (rc != OMNI_LUA_OK) {
        return rc;
    }

    if (lua_toboolean(L, -2)) {
        lua_pop(L, 2);
        return OMNI_LUA_OK;
    }

    return omni_lua_error_result(vm, -1, res);
}


/*
 * host.fields() runs the plugin and checks its fields into c; the fields
 * and identify()'s identities stay at stack slots 1 and 2, anchoring the
 * strings c points to, until omni_lua_contract() (or the next request).
 */

omni_lua_rc_t
omni_lua_normalize(omni_lua_t *vm, const char *channel, int ref,
    omni_contract_t *c, omni_lua_result_t *res)
{
    lua_State      *L;
    omni_lua_rc_t   rc;

    L = vm->L;

    lua_settop(L, 0);

    omni_lua_push_host_fn(vm, OMNI_LUA_FIELDS);

    lua_pushstring(L, channel);
    lua_rawgeti(L, LUA_REGISTRYINDEX, ref);
    lua_pushlightuserdata(L, c);

    rc = omni_lua_call(vm, 3, 2, res);
    if (rc != OMNI_LUA_OK) {
        return rc;
    }

    if (!lua_istable(L, 1)) {
        return omni_lua_error_result(vm, -1, res);
    }

    return OMNI_LUA_OK;
}


omni_lua_rc_t
omni_lua_contract(omni_lua_t *vm, omni_contract_t *c, omni_lua_result_t *res)
{
    lua_State         *L;
    omni_lua_rc_t      rc;
    omni_lua_write_t   w;

    L = vm->L;

    if (!lua_istable(L, 1)) {
        omni_lua_set_message(res, "no fields to write a contract with");
        return OMNI_LUA_FAILED;
    }

    w.contract = c;
    w.res = res;
    w.out.data = NULL;
    w.out.len = 0;
    w.out.cap = 0;
    w.out.grow = omni_lua_out_grow;
    w.out.ctx = res;
    w.rc = OMNI_CONTRACT_NO_MEMORY;
    w.err[0] = '\0';

    lua_rawgeti(L, LUA_REGISTRYINDEX, vm->write_ref);
    lua_pushvalue(L, 1);
    lua_pushlightuserdata(L, &w);

    rc = omni_lua_call(vm, 2, 0, res);

    lua_settop(L, 0);

    if (rc != OMNI_LUA_OK) {
        return rc;
    }

    switch (w.rc) {

    case OMNI_CONTRACT_OK:
        res->contract.data = (const char *) w.out.data;
        res->contract.len = w.out.len;
        return OMNI_LUA_OK;

    case OMNI_CONTRACT_INVALID:
        res->status = 500;
        res->code.data = "plugin_contract_invalid";
        res->code.len = sizeof("plugin_contract_invalid") - 1;
        omni_lua_set_message(res, w.err);
        return OMNI_LUA_REJECTED;

    default:
        omni_lua_set_message(res, "out of memory");
        return OMNI_LUA_MEMORY;
    }
}


/* write(fields, w): in a protected call, as the encoder may raise */

static int
omni_lua_write(lua_State *L)
{
    omni_lua_write_t  *w;

    w = lua_touserdata(L, 2);

    w->out.data = w->res->alloc(w->res->alloc_data, OMNI_LUA_CONTRACT_SIZE);
    if (w->out.data == NULL) {
        return 0;
    }

    w->out.cap = OMNI_LUA_CONTRACT_SIZE;
    w->rc = omni_lua_contract_write(L, 1, w->contract, &w->out, w->err);

    return 0;
}


/* the contract's memory grows from the caller's allocator */

static u_char *
omni_lua_out_grow(omni_buf_t *b, size_t n)
{
    size_t              cap;
    u_char             *p;
    omni_lua_result_t  *res = b->ctx;

    if (n > ((size_t) -1) / 2 - b->len) {
        return NULL;
    }

    cap = b->cap * 2;

    if (cap < b->len + n) {
        cap = b->len + n;
    }

    p = res->alloc(res->alloc_data, cap);
    if (p == NULL) {
        return NULL;
    }

    memcpy(p, b->data, b->len);

    b->data = p;
    b->cap = cap;

    return p + b->len;
}


omni_lua_rc_t
omni_lua_render(omni_lua_t *vm, const char *channel, int ref,
    unsigned status, omni_str_t *request_id, const omni_str_t *reply,
    omni_lua_result_t *res)
{
    lua_State      *L;
    omni_lua_rc_t   rc;

    L = vm->L;

    omni_lua_push_host_fn(vm, OMNI_LUA_RENDER_REPLY);

    /* the ctx's parts: host.render_reply makes the table */
    lua_pushstring(L, channel);
    lua_pushlstring(L, reply->data ? reply->data : "", reply->len);
    lua_pushinteger(L, (lua_Integer) status);
    omni_lua_push_str(L, request_id);

    if (ref != LUA_NOREF && ref != LUA_REFNIL) {
        lua_rawgeti(L, LUA_REGISTRYINDEX, ref);

    } else {
        lua_pushnil(L);
    }

    rc = omni_lua_call(vm, 5, 3, res);
    if (rc != OMNI_LUA_OK) {
        return rc;
    }

    if (lua_isnil(L, -3)) {
        lua_pop(L, 1);
        return omni_lua_error_result(vm, -1, res);
    }

    return omni_lua_answer_result(vm, -3, res);
}


omni_lua_rc_t
omni_lua_render_error(omni_lua_t *vm, const char *channel, int ref,
    unsigned status, const char *code, const char *message,
    omni_str_t *request_id, omni_lua_result_t *res)
{
    lua_State      *L;
    omni_lua_rc_t   rc;

    L = vm->L;

    omni_lua_push_host_fn(vm, OMNI_LUA_RENDER_ERROR);

    lua_pushstring(L, channel);
    lua_pushstring(L, code);
    lua_pushstring(L, message);
    lua_pushinteger(L, (lua_Integer) status);
    omni_lua_push_ctx(vm, channel, ref, request_id);

    rc = omni_lua_call(vm, 5, 3, res);
    if (rc != OMNI_LUA_OK) {
        return rc;
    }

    if (lua_isnil(L, -3)) {
        lua_pop(L, 1);
        return omni_lua_error_result(vm, -1, res);
    }

    return omni_lua_answer_result(vm, -3, res);
}


void
omni_lua_release(omni_lua_t *vm, int ref)
{
    if (ref != LUA_NOREF && ref != LUA_REFNIL) {
        luaL_unref(vm->L, LUA_REGISTRYINDEX, ref);
    }
}


size_t
omni_lua_memory(omni_lua_t *vm)
{
    return vm->used;
}


#if defined(__SANITIZE_ADDRESS__)

/*
 * Built with ASan (make test-asan), the VM's objects come from the C
 * library's heap, which ASan watches, not from LuaJIT's arenas, which it
 * cannot see into: a native helper that reads past a Lua string is
 * reported.  LuaJIT on x86-64 (GC64) takes any allocator.
 */
static void *
omni_lua_heap_alloc(void *ud, void *ptr, size_t osize, size_t nsize)
{
    (void) ud;
    (void) osize;

    if (nsize == 0) {
        free(ptr);
        return NULL;
    }

    return realloc(ptr, nsize);
}

#endif


static void *
omni_lua_alloc(void *ud, void *ptr, size_t osize, size_t nsize)
{
    void        *p;
    omni_lua_t  *vm = ud;

    if (nsize == 0) {
        vm->alloc(vm->alloc_ud, ptr, osize, 0);
        vm->used -= osize;
        return NULL;
    }

    if (vm->in_call && vm->max && nsize > osize
        && vm->used + (nsize - osize) > vm->max)
    {
        vm->memory_hit = 1;
        return NULL;
    }

    p = vm->alloc(vm->alloc_ud, ptr, osize, nsize);
    if (p == NULL) {
        if (nsize > osize) {
            vm->memory_hit = 1;
        }

        return NULL;
    }

    vm->used = vm->used - osize + nsize;

    return p;
}


static void
omni_lua_hook(lua_State *L, lua_Debug *ar)
{
    int          level;
    void        *ud;
    lua_Debug    where;
    omni_lua_t  *vm;

    (void) ar;

    lua_getallocf(L, &ud);
    vm = ud;

    if (!vm->in_call) {
        return;
    }

    if (!vm->timed_out) {
        if (!omni_lua_past_deadline(vm)) {
            return;
        }

        omni_lua_trip(vm, L);
    }

    /* name the innermost Lua line running: the plugin's, usually */
    for (level = 0; lua_getstack(L, level, &where); level++) {
        if (lua_getinfo(L, "Sl", &where) && where.currentline > 0) {
            lua_pushfstring(L, "%s:%d: ", where.short_src,
                            where.currentline);
            break;
        }
    }

    if (lua_getstack(L, level, &where) == 0) {
        lua_pushliteral(L, "");
    }

    lua_pushfstring(L, "plugin_timeout: the time budget of %d ms is spent%s",
                    (int) vm->budget_ms,
                    vm->in_trace ? " (in JIT-compiled code)" : "");
    lua_concat(L, 2);
    lua_error(L);
}


/*
 * Called by LuaJIT at a safe point after a profiler tick, in compiled
 * code as in the interpreter.  It may not raise; it makes the count hook
 * fire at the next instruction instead.
 */

static void
omni_lua_profile(void *data, lua_State *L, int samples, int vmstate)
{
    omni_lua_t  *vm = data;

    (void) samples;
    (void) vmstate;

    if (vm->in_call && !vm->timed_out && omni_lua_past_deadline(vm)) {
        omni_lua_trip(vm, L);

        /* 'N': the tick came in JIT-compiled code */
        vm->in_trace = (vmstate == 'N');
    }
}


/*
 * LuaJIT has one profiler per process: started while another VM holds it
 * (lua-nginx-module code calling jit.profile in the same process), it
 * silently does nothing, and compiled loops could no longer be stopped.
 * A compiled loop with a budget already spent must be stopped by the
 * profiler within a tick; one that runs to its end (a fraction of a
 * second) says the profiler is not ours.
 */

static int
omni_lua_profile_works(omni_lua_t *vm)
{
    int             stopped;
    unsigned        budget;
    lua_State      *L;
    omni_lua_rc_t   rc;

    L = vm->L;

    if (luaL_loadstring(L, "local n = 0 for i = 1, 1e8 do n = n + i % 3 end "
                           "return n")
        != 0)
    {
        lua_pop(L, 1);
        return 0;
    }

    /* only the profiler may stop it */
    lua_sethook(L, omni_lua_hook, LUA_MASKCOUNT, OMNI_LUA_HOOK_NEVER);
    vm->hook_armed = 1;

    budget = vm->budget_ms;
    vm->budget_ms = 0;

    rc = omni_lua_call(vm, 0, 1, NULL);

    vm->budget_ms = budget;
    stopped = (rc == OMNI_LUA_TIMEOUT && vm->in_trace);

    lua_settop(L, 0);

    return stopped;
}


int
omni_lua_jit(omni_lua_t *vm)
{
    return vm->jit;
}


/*
 * SIGPROF ignored, where nothing else handles it, rather than fatal: the
 * profiler's timer counts the CPU time of every thread of the process
 * (nginx's thread pool writes journeys), and LuaJIT arms it before it
 * installs its handler, so a tick could come in between while the worker
 * is descheduled, and end it.  Stopping the profiler restores this.
 */

static void
omni_lua_profile_quiet(void)
{
    struct sigaction  sa;

    if (sigaction(SIGPROF, NULL, &sa) == 0 && sa.sa_handler == SIG_DFL) {
        (void) signal(SIGPROF, SIG_IGN);
    }
}


/*
 * Stopping the profiler restores SIGPROF's old disposition: a tick that
 * is still pending then (a signal queued but not yet delivered, as under
 * valgrind) is taken here, with SIGPROF blocked.
 */

static void
omni_lua_profile_stop(lua_State *L)
{
    sigset_t         prof, old;
    struct timespec  now;

    sigemptyset(&prof);
    sigaddset(&prof, SIGPROF);

    sigprocmask(SIG_BLOCK, &prof, &old);

    luaJIT_profile_stop(L);

    now.tv_sec = 0;
    now.tv_nsec = 0;

    while (sigtimedwait(&prof, NULL, &now) == SIGPROF) {
        /* a tick of the profiler just stopped */
    }

    sigprocmask(SIG_SETMASK, &old, NULL);
}


static int
omni_lua_past_deadline(omni_lua_t *vm)
{
    struct timespec  now;

    clock_gettime(CLOCK_MONOTONIC, &now);

    return now.tv_sec > vm->deadline.tv_sec
           || (now.tv_sec == vm->deadline.tv_sec
               && now.tv_nsec >= vm->deadline.tv_nsec);
}


/*
 * From now on every instruction raises, so a plugin's own pcall cannot
 * swallow the timeout and go on looping.
 */

static void
omni_lua_trip(omni_lua_t *vm, lua_State *L)
{
    vm->timed_out = 1;
    vm->in_trace = 0;
    vm->hook_armed = 0;
    lua_sethook(L, omni_lua_hook, LUA_MASKCOUNT, 1);
}


/* An error outside any protected call: a bug of ours, worth a trace. */

static int
omni_lua_panic(lua_State *L)
{
    fprintf(stderr, "omni: unprotected error in the plugin VM: %s\n",
            lua_isstring(L, -1) ? lua_tostring(L, -1) : "(no message)");

    return 0;
}



static void
omni_lua_push_host_fn(omni_lua_t *vm, omni_lua_host_fn_t fn)
{
    lua_rawgeti(vm->L, LUA_REGISTRYINDEX, vm->fn_ref[fn]);
}


/*
 * Calls the host function below nargs arguments within the time budget
 * and the memory cap.  On failure the error message is copied into res,
 * or left on the stack when res is NULL.
 */

static omni_lua_rc_t
omni_lua_call(omni_lua_t *vm, int nargs, int nresults,
    omni_lua_result_t *res)
{
    int         rc;
    long        ns;
    lua_State  *L;

    L = vm->L;

    clock_gettime(CLOCK_MONOTONIC, &vm->deadline);
    ns = vm->deadline.tv_nsec + (long) (vm->budget_ms % 1000) * 1000000L;
    vm->deadline.tv_sec += vm->budget_ms / 1000 + ns / 1000000000L;
    vm->deadline.tv_nsec = ns % 1000000000L;

    vm->timed_out = 0;
    vm->memory_hit = 0;

    if (!vm->hook_armed) {
        lua_sethook(L, omni_lua_hook, LUA_MASKCOUNT, vm->hook_count);
        vm->hook_armed = 1;
    }

    vm->in_call = 1;
    rc = lua_pcall(L, nargs, nresults, 0);
    vm->in_call = 0;

    if (rc == 0) {
        return OMNI_LUA_OK;
    }

    if (res) {
        omni_lua_set_message(res, lua_isstring(L, -1) ? lua_tostring(L, -1)
                                                      : "(error object)");
        lua_pop(L, 1);
    }

    if (vm->timed_out) {
        return OMNI_LUA_TIMEOUT;
    }

    if (rc == LUA_ERRMEM || vm->memory_hit) {
        /* give back what the failed call held before the next request */
        lua_gc(L, LUA_GCCOLLECT, 0);
        return OMNI_LUA_MEMORY;
    }

    return OMNI_LUA_FAILED;
}


static void
omni_lua_set_str(lua_State *L, const char *key, const omni_str_t *s)
{
    if (s->data == NULL) {
        return;
    }

    lua_pushlstring(L, s->data, s->len);
    lua_setfield(L, -2, key);
}


/* the string, or nil for none */
static void
omni_lua_push_str(lua_State *L, const omni_str_t *s)
{
    if (s->data == NULL) {
        lua_pushnil(L);
        return;
    }

    lua_pushlstring(L, s->data, s->len);
}


static void
omni_lua_push_pairs(lua_State *L, const omni_pair_t *pairs, size_t n)
{
    size_t  i;

    lua_createtable(L, 0, (int) n);

    for (i = 0; i < n; i++) {
        lua_pushlstring(L, pairs[i].name.data, pairs[i].name.len);
        lua_pushvalue(L, -1);
        lua_rawget(L, -3);

        if (lua_isstring(L, -1)) {
            /* a repeated header: values joined as HTTP allows */
            lua_pushliteral(L, ", ");
            lua_pushlstring(L, pairs[i].value.data, pairs[i].value.len);
            lua_concat(L, 3);

        } else {
            lua_pop(L, 1);
            lua_pushlstring(L, pairs[i].value.data, pairs[i].value.len);
        }

        lua_rawset(L, -3);
    }
}


static int
omni_lua_copy(omni_lua_result_t *res, omni_str_t *dst, lua_State *L, int idx)
{
    char        *p;
    size_t       len;
    const char  *s;

    s = lua_tolstring(L, idx, &len);

    p = res->alloc(res->alloc_data, len + 1);
    if (p == NULL) {
        return -1;
    }

    memcpy(p, s, len);
    p[len] = '\0';

    dst->data = p;
    dst->len = len;

    return 0;
}


/* Reads an error table {code, message, status} and pops both results. */

static omni_lua_rc_t
omni_lua_error_result(omni_lua_t *vm, int idx, omni_lua_result_t *res)
{
    lua_State  *L;

    L = vm->L;

    if (!lua_istable(L, idx)) {
        lua_pop(L, 2);
        omni_lua_set_message(res, "the host returned no result and no error");
        return OMNI_LUA_FAILED;
    }

    lua_getfield(L, idx, "status");
    res->status = lua_isnumber(L, -1) ? (unsigned) lua_tointeger(L, -1) : 0;
    lua_pop(L, 1);

    lua_getfield(L, idx, "code");
    if (lua_isstring(L, -1)) {
        (void) omni_lua_copy(res, &res->code, L, -1);
    }
    lua_pop(L, 1);

    lua_getfield(L, idx, "message");
    if (lua_isstring(L, -1)) {
        (void) omni_lua_copy(res, &res->message, L, -1);
    }
    lua_pop(L, 3);

    if (res->code.data == NULL) {
        res->code.data = "plugin_rejected";
        res->code.len = sizeof("plugin_rejected") - 1;
    }

    if (res->message.data == NULL) {
        res->message.data = "";
        res->message.len = 0;
    }

    if (res->status < 100 || res->status > 599) {
        res->status = 400;
    }

    return OMNI_LUA_REJECTED;
}


/* Reads status, headers, body at idx .. idx + 2 and pops them. */

static omni_lua_rc_t
omni_lua_answer_result(omni_lua_t *vm, int idx, omni_lua_result_t *res)
{
    size_t      n;
    lua_State  *L;

    L = vm->L;
    idx = lua_gettop(L) + idx + 1;

    res->status = (unsigned) lua_tointeger(L, idx);

    if (lua_isstring(L, idx + 2)
        && omni_lua_copy(res, &res->body, L, idx + 2) != 0)
    {
        goto nomem;
    }

    if (lua_istable(L, idx + 1)) {
        res->headers = res->alloc(res->alloc_data,
                                  vm->max_headers * sizeof(omni_pair_t));
        if (res->headers == NULL) {
            goto nomem;
        }

        n = 0;
        lua_pushnil(L);

        while (lua_next(L, idx + 1) != 0) {
            if (n < vm->max_headers
                && lua_type(L, -2) == LUA_TSTRING && lua_isstring(L, -1))
            {
                if (omni_lua_copy(res, &res->headers[n].name, L, -2) != 0
                    || omni_lua_copy(res, &res->headers[n].value, L, -1) != 0)
                {
                    lua_pop(L, 2);
                    goto nomem;
                }

                n++;
            }

            lua_pop(L, 1);
        }

        res->nheaders = n;
    }

    lua_settop(L, idx - 1);

    return OMNI_LUA_OK;

nomem:

    lua_settop(L, idx - 1);
    omni_lua_set_message(res, "out of memory");

    return OMNI_LUA_FAILED;
}


static void
omni_lua_push_ctx(omni_lua_t *vm, const char *channel, int ref,
    omni_str_t *request_id)
{
    lua_State  *L;

    L = vm->L;

    /* host.render_error sets the status and gateway */
    lua_createtable(L, 0, 3);
    lua_pushstring(L, channel);
    lua_setfield(L, -2, "channel");
    omni_lua_set_str(L, "request_id", request_id);

    if (ref != LUA_NOREF && ref != LUA_REFNIL) {
        lua_rawgeti(L, LUA_REGISTRYINDEX, ref);
        lua_setfield(L, -2, "request");
    }
}


static void
omni_lua_set_message(omni_lua_result_t *res, const char *s)
{
    size_t  len;
    char   *p;

    len = strlen(s);

    if (len > OMNI_ERRLEN) {
        len = OMNI_ERRLEN;
    }

    p = res->alloc ? res->alloc(res->alloc_data, len + 1) : NULL;

    if (p == NULL) {
        res->message.data = "out of memory";
        res->message.len = sizeof("out of memory") - 1;
        return;
    }

    memcpy(p, s, len);
    p[len] = '\0';
    res->message.data = p;
    res->message.len = len;
}
