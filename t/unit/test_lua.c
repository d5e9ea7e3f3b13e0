/*
 * Copyright (C) The omni gateway authors
 *
 * Unit tests of the plugin runtime (omni_lua.c) without NGINX: plugins run
 * JIT-compiled and a compiled loop is stopped by the time budget; when
 * another VM in the process holds LuaJIT's profiler, the runtime notices,
 * runs plugins interpreted and the budget still holds; the memory cap.
 * Run from the repository root (the support library is lua/).
 */


#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include <lauxlib.h>
#include <luajit.h>

#include "omni_lua.h"


#define TEST_PLUGINS  "t/plugins/misbehaving"


/*
 * Results live as long as the test, as they live as long as the request in
 * the module: each block is chained behind a header and test_free_results()
 * frees them all when the test ends.
 */
typedef union test_block_u  test_block_t;

union test_block_u {
    test_block_t  *next;
    long double    align;     /* as malloc aligns: no max_align_t in gnu99 */
};


static test_block_t  *test_results;


static void *
test_alloc(void *data, size_t size)
{
    test_block_t  *b;

    (void) data;

    b = malloc(sizeof(test_block_t) + size);
    if (b == NULL) {
        return NULL;
    }

    b->next = test_results;
    test_results = b;

    return b + 1;
}


static int
test_free_results(void **state)
{
    test_block_t  *b;

    (void) state;

    while (test_results) {
        b = test_results;
        test_results = b->next;
        free(b);
    }

    return 0;
}


static void
test_result_init(omni_lua_result_t *res)
{
    memset(res, 0, sizeof(omni_lua_result_t));
    res->alloc = test_alloc;
}


static omni_lua_t *
test_vm(unsigned budget_ms, size_t memory)
{
    char         err[OMNI_ERRLEN];
    omni_lua_t  *vm;

    vm = omni_lua_new("lua", memory, budget_ms, err);
    if (vm == NULL) {
        fprintf(stderr, "%s\n", err);
    }

    assert_non_null(vm);

    assert_int_equal(omni_lua_load_plugin(vm, "loop", TEST_PLUGINS "/loop.lua",
                                          err), 0);
    assert_int_equal(omni_lua_load_plugin(vm, "bomb", TEST_PLUGINS "/bomb.lua",
                                          err), 0);

    return vm;
}


/* normalize of channel with the query string; the rc and message */
static omni_lua_rc_t
test_normalize(omni_lua_t *vm, const char *channel, const char *query,
    omni_lua_result_t *res, double *ms)
{
    int                 ref;
    const char         *fn;
    omni_lua_rc_t       rc;
    omni_contract_t     c;
    omni_lua_request_t  req;
    struct timespec     t0, t1;

    memset(&req, 0, sizeof(req));
    req.method.data = "GET";
    req.method.len = 3;
    req.path.data = "/";
    req.path.len = 1;
    req.query.data = query;
    req.query.len = strlen(query);
    req.client_ip.data = "127.0.0.1";
    req.client_ip.len = 9;
    req.body.data = "";

    test_result_init(res);
    assert_int_equal(omni_lua_begin(vm, channel, &req, &ref, &fn, res),
                     OMNI_LUA_DECLINED);

    memset(&c, 0, sizeof(c));
    test_result_init(res);

    clock_gettime(CLOCK_MONOTONIC, &t0);
    rc = omni_lua_normalize(vm, channel, ref, &c, res);
    clock_gettime(CLOCK_MONOTONIC, &t1);

    *ms = (t1.tv_sec - t0.tv_sec) * 1e3 + (t1.tv_nsec - t0.tv_nsec) / 1e6;

    omni_lua_release(vm, ref);

    return rc;
}


static void
test_compiled_loops(void **state)
{
    double              ms;
    omni_lua_t         *vm;
    omni_lua_result_t   res;

    (void) state;

    vm = test_vm(100, 0);
    assert_true(omni_lua_jit(vm));

    assert_int_equal(test_normalize(vm, "loop", "kind=for", &res, &ms),
                     OMNI_LUA_TIMEOUT);
    assert_non_null(strstr(res.message.data, "(in JIT-compiled code)"));
    assert_true(ms < 2000);

    assert_int_equal(test_normalize(vm, "loop", "kind=pairs", &res, &ms),
                     OMNI_LUA_TIMEOUT);
    assert_true(ms < 2000);

    /* once the budget is spent, a pcall cannot swallow it */
    assert_int_equal(test_normalize(vm, "loop", "pcall=1", &res, &ms),
                     OMNI_LUA_TIMEOUT);

    omni_lua_free(vm);
}


static void
test_memory_cap(void **state)
{
    double              ms;
    omni_lua_t         *vm;
    omni_lua_result_t   res;

    (void) state;

    vm = test_vm(5000, 16 * 1024 * 1024);

    assert_int_equal(test_normalize(vm, "bomb", "", &res, &ms),
                     OMNI_LUA_MEMORY);
    assert_true(omni_lua_memory(vm) < 16 * 1024 * 1024);

    /* the trees the native XML parser builds count against the cap */
    assert_int_equal(test_normalize(vm, "bomb", "kind=xml", &res, &ms),
                     OMNI_LUA_MEMORY);
    assert_true(omni_lua_memory(vm) < 16 * 1024 * 1024);

    /* and so do the tables of the native form decoder */
    assert_int_equal(test_normalize(vm, "bomb", "kind=form", &res, &ms),
                     OMNI_LUA_MEMORY);
    assert_true(omni_lua_memory(vm) < 16 * 1024 * 1024);

    /* the VM has its memory back: the next call runs */
    assert_int_equal(test_normalize(vm, "loop", "kind=tail", &res, &ms),
                     OMNI_LUA_TIMEOUT);

    omni_lua_free(vm);
}


/*
 * Loading is not a request: a plugin whose top-level code takes longer
 * than a request's budget loads, as it must when a worker starts on a
 * busy machine; its calls still have the request's budget.
 */
static void
test_slow_load(void **state)
{
    char                err[OMNI_ERRLEN];
    double              ms;
    omni_lua_t         *vm;
    omni_lua_result_t   res;
    struct timespec     t0, t1;

    (void) state;

    vm = test_vm(1, 0);

    clock_gettime(CLOCK_MONOTONIC, &t0);
    assert_int_equal(omni_lua_load_plugin(vm, "slowload",
                                          "t/plugins/slowload/slowload.lua",
                                          err), 0);
    clock_gettime(CLOCK_MONOTONIC, &t1);

    /* it did take longer than the 1 ms a request gets */
    ms = (t1.tv_sec - t0.tv_sec) * 1e3 + (t1.tv_nsec - t0.tv_nsec) / 1e6;
    assert_true(ms > 1);

    assert_int_equal(test_normalize(vm, "loop", "kind=for", &res, &ms),
                     OMNI_LUA_TIMEOUT);
    assert_true(ms < 1000);

    omni_lua_free(vm);
}


/*
 * Compiled pairs() and next loops walk every entry once, and do it with
 * the VM's own iterators, not LuaJIT's built-in next (see omni_lua.c).
 */
static void
test_iterators(void **state)
{
    char                err[OMNI_ERRLEN];
    double              ms;
    omni_lua_t         *vm;
    omni_lua_result_t   res;

    (void) state;

    vm = test_vm(5000, 0);
    assert_true(omni_lua_jit(vm));

    if (omni_lua_load_plugin(vm, "iterate", "t/plugins/iterate/iterate.lua",
                             err)
        != 0)
    {
        fail_msg("%s", err);
    }

    if (test_normalize(vm, "iterate", "", &res, &ms) != OMNI_LUA_OK) {
        fail_msg("%.*s", (int) res.message.len, res.message.data);
    }

    omni_lua_free(vm);
}


#if !defined(__SANITIZE_ADDRESS__)

static long
test_rss_kb(void)
{
    long   pages, resident;
    FILE  *f;

    f = fopen("/proc/self/statm", "r");
    assert_non_null(f);
    assert_int_equal(fscanf(f, "%ld %ld", &pages, &resident), 2);
    fclose(f);

    return resident * (sysconf(_SC_PAGESIZE) / 1024);
}


/*
 * A VM made and freed gives all its memory back: the master makes one at
 * every reload.  LuaJIT's arena is about 0.5 MB a VM when it is kept.
 */
static void
test_vm_freed(void **state)
{
    int          i;
    long         before;
    omni_lua_t  *vm;

    (void) state;

    omni_lua_free(test_vm(100, 0));

    before = test_rss_kb();

    for (i = 0; i < 60; i++) {
        vm = test_vm(100, 0);
        omni_lua_free(vm);
    }

    assert_true(test_rss_kb() - before < 8 * 1024);
}

#endif


static void
test_profile_cb(void *data, lua_State *L, int samples, int vmstate)
{
    (void) data;
    (void) L;
    (void) samples;
    (void) vmstate;
}


static void
test_profiler_taken(void **state)
{
    double              ms;
    lua_State          *other;
    omni_lua_t         *vm;
    omni_lua_result_t   res;

    (void) state;

    /* other Lua code in the process holds the profiler */
    other = luaL_newstate();
    assert_non_null(other);
    luaJIT_profile_start(other, "li1", test_profile_cb, NULL);

    vm = test_vm(100, 0);
    assert_false(omni_lua_jit(vm));

    /* interpreted, the loops are stopped all the same */
    assert_int_equal(test_normalize(vm, "loop", "kind=for", &res, &ms),
                     OMNI_LUA_TIMEOUT);
    assert_null(strstr(res.message.data, "(in JIT-compiled code)"));
    assert_int_equal(test_normalize(vm, "loop", "", &res, &ms),
                     OMNI_LUA_TIMEOUT);

    omni_lua_free(vm);

    luaJIT_profile_stop(other);
    lua_close(other);

    /* given back, the next VM has it */
    vm = test_vm(100, 0);
    assert_true(omni_lua_jit(vm));
    omni_lua_free(vm);
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test_teardown(test_compiled_loops, test_free_results),
        cmocka_unit_test_teardown(test_memory_cap, test_free_results),
        cmocka_unit_test_teardown(test_slow_load, test_free_results),
        cmocka_unit_test_teardown(test_iterators, test_free_results),
#if !defined(__SANITIZE_ADDRESS__)
        cmocka_unit_test(test_vm_freed),
#endif
        cmocka_unit_test_teardown(test_profiler_taken, test_free_results),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
