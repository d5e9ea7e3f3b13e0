/*
 * Copyright (C) The omni gateway authors
 *
 * The plugin runtime: one LuaJIT VM with the support library's host
 * (lua/omni/host.lua) and the channel plugins loaded once and run by the
 * JIT compiler, a memory cap enforced by the VM's allocator and a time
 * budget enforced by a count hook in the interpreter and LuaJIT's profiler
 * in compiled code (one VM per process: the profiler is process-wide).
 * Knows nothing of NGINX: results are copied out with the caller's
 * allocator.
 */

#ifndef OMNI_LUA_H_INCLUDED_
#define OMNI_LUA_H_INCLUDED_


#include <stddef.h>

#include "omni_contract.h"
#include "omni_err.h"
#include "omni_str.h"


#define OMNI_LUA_NOREF   (-2)     /* LUA_NOREF: no prepared request */


typedef struct omni_lua_s  omni_lua_t;


typedef enum {
    OMNI_LUA_OK = 0,
    OMNI_LUA_DECLINED,        /* respond(): no direct answer */
    OMNI_LUA_REJECTED,        /* the host or plugin refused: see error */
    OMNI_LUA_TIMEOUT,         /* the time budget ran out */
    OMNI_LUA_MEMORY,          /* the VM's memory cap was hit */
    OMNI_LUA_FAILED           /* a Lua error in the plugin or host */
} omni_lua_rc_t;


/* What the gateway knows of a request, handed to host.begin(). */
typedef struct {
    omni_str_t      method;
    omni_str_t      path;
    omni_str_t      query;
    omni_str_t      client_ip;
    omni_str_t      body;
    omni_pair_t    *headers;         /* names lowercased */
    size_t          nheaders;
    omni_pair_t    *settings;        /* omni_plugin_set */
    size_t          nsettings;
    omni_str_t      location;        /* "/mp/", "=/mp/api" or empty */
    int64_t         time;            /* when it came, seconds; 0: now */
} omni_lua_request_t;


typedef void *(*omni_lua_alloc_pt)(void *data, size_t size);


typedef struct {
    omni_lua_alloc_pt   alloc;       /* copies results out of the VM */
    void               *alloc_data;

    /* a refusal or failure */
    unsigned            status;
    omni_str_t          code;
    omni_str_t          message;

    /* omni_lua_contract(): the contract, written once */
    omni_str_t          contract;

    /* begin() (respond), render(): a native answer */
    omni_pair_t        *headers;
    size_t              nheaders;
    omni_str_t          body;
} omni_lua_result_t;


omni_lua_t *omni_lua_new(const char *lua_dir, size_t memory_max,
    unsigned budget_ms, char *err);
void omni_lua_free(omni_lua_t *vm);

/* Reads and loads plugins/<name>.lua; err names the file and line. */
int omni_lua_load_plugin(omni_lua_t *vm, const char *name, const char *path,
    char *err);
int omni_lua_has_plugin(omni_lua_t *vm, const char *name);

/*
 * A request's plugin calls share one prepared req table, referenced by
 * *ref until omni_lua_release() drops it.  Prepares it and lets the
 * plugin answer at once (a CORS preflight, a webhook's verification):
 * OMNI_LUA_OK with that answer in res, OMNI_LUA_DECLINED to go on; *fn
 * names the step that refused or failed.
 */
omni_lua_rc_t omni_lua_begin(omni_lua_t *vm, const char *channel,
    const omni_lua_request_t *req, int *ref, const char **fn,
    omni_lua_result_t *res);
/* The verified token's payload, for req.claims. */
void omni_lua_set_claims(omni_lua_t *vm, int ref,
    const omni_str_t *claims_json);
omni_lua_rc_t omni_lua_authenticate(omni_lua_t *vm, const char *channel,
    int ref, omni_lua_result_t *res);
/*
 * Runs the plugin's normalize() (and identify()) and checks the fields
 * into the plugin's part of c; the strings c points to stay valid until
 * omni_lua_contract() or the next request's omni_lua_prepare().
 */
omni_lua_rc_t omni_lua_normalize(omni_lua_t *vm, const char *channel,
    int ref, omni_contract_t *c, omni_lua_result_t *res);
/*
 * Writes the contract c, the gateway's part filled in, into memory from
 * res->alloc: res->contract.
 */
omni_lua_rc_t omni_lua_contract(omni_lua_t *vm, omni_contract_t *c,
    omni_lua_result_t *res);
omni_lua_rc_t omni_lua_render(omni_lua_t *vm, const char *channel, int ref,
    unsigned status, omni_str_t *request_id, const omni_str_t *reply,
    omni_lua_result_t *res);
omni_lua_rc_t omni_lua_render_error(omni_lua_t *vm, const char *channel,
    int ref, unsigned status, const char *code, const char *message,
    omni_str_t *request_id, omni_lua_result_t *res);
void omni_lua_release(omni_lua_t *vm, int ref);

/*
 * Whether plugins run JIT-compiled: not when LuaJIT's profiler, which the
 * time budget needs in compiled code, is held by another VM in the
 * process; the interpreter and its count hook keep the budget then.
 */
int omni_lua_jit(omni_lua_t *vm);

/* Bytes the VM holds now, for tests and metrics. */
size_t omni_lua_memory(omni_lua_t *vm);


#endif /* OMNI_LUA_H_INCLUDED_ */
