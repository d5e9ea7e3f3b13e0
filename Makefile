# omni gateway: build, run and test against Debian's stock nginx.
#
#   make deps    install the Debian packages that are missing (needs root)
#   make         build the dynamic module and the tools under build/
#   make run     start the demo gateway on 127.0.0.1:$(OMNI_PORT)
#   make cluster-demo  three gateways sharing revocations and policies
#                through a nats-server on loopback (docs/cluster.md)
#   make test    unit tests of the C cores, then nginx integration tests
#   make bench   the performance yardstick: every case against plain
#                proxy_pass and an OpenResty peer (docs/performance.md)
#   make fuzz    builds the libFuzzer targets under t/fuzz/ and runs each
#                for FUZZ_SECONDS (docs/testing.md); make fuzz-build builds
#                them only
#   make test-asan  unit, Lua and nginx tests again, built with ASan and
#                UBSan, nginx too (docs/testing.md, "Sanitizers")

SHELL := /bin/bash

BUILD      := build
NGINX_SRC  ?= /usr/share/nginx/src
NGX_BUILD  := $(BUILD)/nginx
MODULE_SO  := $(NGX_BUILD)/objs/ngx_http_omni_module.so
BIN        := $(BUILD)/bin

OMNI_HOST  ?= 127.0.0.1
OMNI_PORT  ?= 8080

CC         ?= cc
WARN       := -Wall -Wextra -Werror
CFLAGS     ?= -O2 -g
CORE_LIBS  := -ljwt -ljansson -lcrypto

# Debian's own hardening flags, so the module matches the stock binary
NGX_CC_OPT := -g -O2 -fstack-protector-strong -Wformat \
              -Werror=format-security -fPIC -Wdate-time \
              -D_FORTIFY_SOURCE=2 $(WARN)
NGX_LD_OPT := -Wl,-z,relro -Wl,-z,now -fPIC

DEB_PACKAGES := nginx-core nginx-dev libjwt-dev libjansson-dev libssl-dev \
                liblmdb-dev libluajit2-5.1-dev luajit2 lua-busted wrk \
                libcmocka-dev python3-jsonschema openssl curl perl make gcc \
                pkg-config prometheus chromium python3-websocket \
                libnats-dev nats-server

# only for make bench: lua-nginx-module, which runs the OpenResty peer
# (tools/bench/peer_web.lua) in the same nginx as our module, and valgrind,
# whose callgrind counts what metrics and dispatch cost
BENCH_PACKAGES := libnginx-mod-http-lua libnginx-mod-http-ndk lua-resty-core \
                  lua-cjson valgrind

# only for make fuzz and fuzz-build: clang with libFuzzer and sanitizers
FUZZ_PACKAGES := clang-14 libclang-rt-14-dev

# only for make test-asan: apt-get source, and the libraries nginx's
# conf_flags build the binary with
ASAN_PACKAGES := dpkg-dev libpcre2-dev zlib1g-dev libssl-dev

# what this make run installs: the bench, fuzz or sanitizer packages when
# their goal is given
DEPS_PACKAGES := $(DEB_PACKAGES) \
                 $(if $(filter bench,$(MAKECMDGOALS)),$(BENCH_PACKAGES)) \
                 $(if $(filter fuzz fuzz-build,$(MAKECMDGOALS)), \
                      $(FUZZ_PACKAGES)) \
                 $(if $(filter test-asan,$(MAKECMDGOALS)),$(ASAN_PACKAGES))

# The cores (module/omni_*.c) are compiled once into $(CORE_LIB), which
# every tool, test and Lua helper links; the linker takes the objects each
# needs.  nginx's build compiles the module's sources itself, found by
# the same names (config), with Debian's flags.
OBJ        := $(BUILD)/obj
CORE_SRCS  := $(sort $(wildcard module/omni_*.c))
CORE_HDRS  := $(wildcard module/omni_*.h)
CORE_LIB   := $(BUILD)/libomni.a
MODULE_SRCS := $(wildcard module/*.c module/*.h)

LIB        := $(BUILD)/lib
LUAJIT_INC  = $(shell pkg-config --cflags luajit)

# the libraries under the cores: a program records those it uses
CORE_LIBS  := -Wl,--as-needed -llmdb -ljansson -lcrypto -lluajit-5.1 -lm

UNIT_TESTS := $(patsubst t/unit/%.c,$(BIN)/%,$(wildcard t/unit/test_*.c))

.PHONY: all module tools lib deps FORCE run cluster-demo bench test unit schema spec integration \
        fuzz fuzz-build test-asan clean deps-then-goals

all: module tools lib


deps:
	@missing=""; \
	for p in $(DEPS_PACKAGES); do \
	    dpkg-query -W -f='$${Status}' $$p 2>/dev/null \
	        | grep -q 'install ok installed' || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	    echo "installing:$$missing"; \
	    if [ "$$(id -u)" != 0 ]; then \
	        echo "make deps: root is needed to install:$$missing" >&2; \
	        exit 1; \
	    fi; \
	    apt-get update -qq && \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
	        --no-install-recommends $$missing; \
	fi

module: $(MODULE_SO)

# CFLAGS, ours, is no business of nginx's configure: found in the
# environment, it would replace nginx's own flags and warnings
$(NGX_BUILD)/objs/Makefile: config $(NGINX_SRC)/conf_flags \
    $(BUILD)/module-sources
	rm -rf $(NGX_BUILD)
	mkdir -p $(BUILD)
	cp -r $(NGINX_SRC) $(NGX_BUILD)
	cd $(NGX_BUILD) && unset CFLAGS && source ./conf_flags && \
	    ./configure "$${NGX_CONF_FLAGS[@]}" \
	        --with-cc-opt="$(NGX_CC_OPT)" --with-ld-opt="$(NGX_LD_OPT)" \
	        --add-dynamic-module=$(CURDIR) > configure.log 2>&1 || \
	    { tail -30 configure.log; exit 1; }

$(MODULE_SO): $(NGX_BUILD)/objs/Makefile $(MODULE_SRCS)
	$(MAKE) -C $(NGX_BUILD) -f objs/Makefile modules

# the names of the module's sources: nginx is configured again when a
# file comes or goes, as config reads them from the directory
$(BUILD)/module-sources: FORCE
	@mkdir -p $(BUILD)
	@echo '$(sort $(wildcard module/*.c))' | cmp -s - $@ || \
	    echo '$(sort $(wildcard module/*.c))' > $@

FORCE:

$(OBJ)/%.o: module/%.c $(CORE_HDRS)
	@mkdir -p $(OBJ)
	$(CC) -std=gnu99 $(CFLAGS) $(WARN) -fPIC $(LUAJIT_INC) -c -o $@ $<

$(CORE_LIB): $(CORE_SRCS:module/%.c=$(OBJ)/%.o)
	rm -f $@
	ar rcs $@ $^

# a program of tools/ or t/unit/ and the cores it calls
link_cores = mkdir -p $(@D) && \
    $(CC) -std=gnu99 $(CFLAGS) $(WARN) -Imodule $(LUAJIT_INC) -o $@ $< \
        $(CORE_LIB) $(CORE_LIBS) $(1)

tools: $(BIN)/omni-jwt $(BIN)/omnictl $(BIN)/omni-store-bench \
       $(BIN)/omni-policy-bench $(BIN)/omni-loadgen $(BIN)/omni-sync

# make bench's open-loop client for the p99 at a fixed rate
LOADGEN_SRCS := tools/loadgen.c tools/loadgen_http.c tools/loadgen_report.c

$(BIN)/omni-loadgen: $(LOADGEN_SRCS) tools/loadgen.h
	@mkdir -p $(BIN)
	$(CC) -std=gnu99 $(CFLAGS) $(WARN) -o $@ $(LOADGEN_SRCS) -lm

$(BIN)/omni-policy-bench: tools/policy_bench.c $(CORE_LIB)
	$(call link_cores)

$(BIN)/omni-store-bench: tools/store_bench.c $(CORE_LIB)
	$(call link_cores)

# omnictl is a file per family of commands, sharing tools/omnictl.h
OMNICTL_SRCS := $(sort $(wildcard tools/omnictl*.c))

$(BIN)/omnictl: $(OMNICTL_SRCS) tools/omnictl.h $(CORE_LIB)
	@mkdir -p $(BIN)
	$(CC) -std=gnu99 $(CFLAGS) $(WARN) -Imodule -o $@ $(OMNICTL_SRCS) \
	    $(CORE_LIB) $(CORE_LIBS)

# omni-jwt: the command line and mint, and jwks, sharing tools/omni_jwt.h
OMNI_JWT_SRCS := tools/omni_jwt.c tools/omni_jwt_jwks.c

$(BIN)/omni-jwt: $(OMNI_JWT_SRCS) tools/omni_jwt.h $(CORE_LIB)
	@mkdir -p $(BIN)
	$(CC) -std=gnu99 $(CFLAGS) $(WARN) -Imodule -o $@ $(OMNI_JWT_SRCS) \
	    $(CORE_LIB) $(CORE_LIBS) -ljwt

# omni-sync: the node's store and NATS JetStream (docs/cluster.md); the
# NATS client's threads stay out of nginx
OMNI_SYNC_SRCS := tools/omni_sync.c tools/omni_sync_publish.c \
                  tools/omni_sync_consume.c tools/omni_sync_resync.c \
                  tools/omni_sync_journey.c

$(BIN)/omni-sync: $(OMNI_SYNC_SRCS) tools/omni_sync.h tools/omni_sync_journey.h \
                  $(CORE_LIB)
	@mkdir -p $(BIN)
	$(CC) -std=gnu99 $(CFLAGS) $(WARN) -Imodule $(LUAJIT_INC) -o $@ \
	    $(OMNI_SYNC_SRCS) $(CORE_LIB) $(CORE_LIBS) -lnats

$(BIN)/test_%: t/unit/test_%.c $(CORE_LIB)
	$(call link_cores,-ljwt -lcmocka)

# the plugins' native helpers as Lua C modules, for the runner and specs
lib: $(LIB)/omni_crypto.so $(LIB)/omni_json_native.so \
     $(LIB)/omni_contract_native.so $(LIB)/omni_xml_native.so \
     $(LIB)/omni_form_native.so

# one is its luaopen_ function's object and the cores that one calls
lua_module = mkdir -p $(LIB) && \
    $(CC) $(CFLAGS) -shared -o $@ $< $(CORE_LIB) $(CORE_LIBS)

$(LIB)/omni_crypto.so: $(OBJ)/omni_lua_crypto.o $(CORE_LIB)
	$(call lua_module)

$(LIB)/omni_json_native.so: $(OBJ)/omni_lua_json.o $(CORE_LIB)
	$(call lua_module)

$(LIB)/omni_contract_native.so: $(OBJ)/omni_lua_contract.o $(CORE_LIB)
	$(call lua_module)

$(LIB)/omni_xml_native.so: $(OBJ)/omni_lua_xml.o $(CORE_LIB)
	$(call lua_module)

$(LIB)/omni_form_native.so: $(OBJ)/omni_lua_form.o $(CORE_LIB)
	$(call lua_module)

# libFuzzer targets (t/fuzz/, docs/testing.md): each links the cores it
# drives, instrumented; the libraries under them (jansson, OpenSSL, LMDB,
# LuaJIT) are Debian's.  Lua targets find lua/ and t/fuzz/ by FUZZ_ROOT.
FUZZ         := $(BUILD)/fuzz
FUZZ_CC      := clang-14
FUZZ_SECONDS ?= 60
FUZZ_CFLAGS  := -std=gnu99 -O1 -g -fno-omit-frame-pointer \
                -fsanitize=fuzzer,address,undefined \
                -fno-sanitize-recover=undefined $(WARN) -Imodule -It/fuzz \
                -DFUZZ_ROOT='"$(CURDIR)"'
FUZZ_NAMES   := token keys policy json_patch json contract admin import \
                lua_decoders wechat dispatch dispatch_live change case_sla \
                case_header xml form plugins
FUZZ_TARGETS := $(FUZZ_NAMES:%=$(FUZZ)/fuzz_%)

# the cores again, instrumented: the targets link them as the tools do
FUZZ_LIB     := $(FUZZ)/libomni.a

$(FUZZ)/obj/%.o: module/%.c $(CORE_HDRS)
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_CFLAGS) $(LUAJIT_INC) -c -o $@ $<

$(FUZZ_LIB): $(CORE_SRCS:module/%.c=$(FUZZ)/obj/%.o)
	rm -f $@
	ar rcs $@ $^

# a target is its own file, the harness files it names, and the cores
$(FUZZ)/fuzz_%: t/fuzz/fuzz_%.c $(FUZZ_LIB)
	@mkdir -p $(FUZZ)
	$(FUZZ_CC) $(FUZZ_CFLAGS) $(LUAJIT_INC) -o $@ $(filter %.c,$^) \
	    $(FUZZ_LIB) $(CORE_LIBS)

$(FUZZ)/fuzz_token: t/fuzz/test_keys.h
$(FUZZ)/fuzz_xml $(FUZZ)/fuzz_form: t/unit/test_buf.h
$(FUZZ)/fuzz_json: t/fuzz/fuzz_lua.c t/fuzz/json_check.lua
$(FUZZ)/fuzz_contract: t/fuzz/fuzz_lua.c t/fuzz/contract_check.lua
$(FUZZ)/fuzz_lua_decoders: t/fuzz/fuzz_lua.c t/fuzz/decoders_check.lua
$(FUZZ)/fuzz_wechat: t/fuzz/fuzz_lua.c t/fuzz/wechat_check.lua
$(FUZZ)/fuzz_plugins: t/fuzz/fuzz_lua.c t/fuzz/plugins_check.lua
$(FUZZ)/fuzz_admin: t/fuzz/fuzz_store.c
$(FUZZ)/fuzz_import: t/fuzz/fuzz_store.c
$(FUZZ)/fuzz_change: t/fuzz/fuzz_store.c

# make test-asan: our code and nginx 1.22.1, built from Debian's source
# package, under AddressSanitizer and UBSan (docs/testing.md, "Sanitizers")
ASAN       := $(BUILD)/asan
ASAN_SRC   := $(ASAN)/src/nginx
ASAN_NGINX := $(ASAN)/nginx-bin/objs/nginx
NPROC       = $(shell nproc)
SAN_FLAGS  := -fsanitize=address,undefined -fno-omit-frame-pointer
SAN        := $(CURDIR)/t/sanitizers

# Debian's flags less _FORTIFY_SOURCE, whose checked copies of libc calls
# ASan does not all intercept, and the stack protector, whose work ASan's
# redzones do; -O1 keeps the reports' stacks whole
SAN_CC_OPT := -g -O1 $(SAN_FLAGS) -Wformat -Werror=format-security -fPIC \
              -Wdate-time
SAN_LD_OPT := $(NGX_LD_OPT) $(SAN_FLAGS)

# LuaJIT is not instrumented: busted's luajit loads the sanitized helpers
# with dlopen, and ASan's runtime must be the first library of a process
SAN_VARS    = BUILD=$(ASAN) NGINX_SRC=$(ASAN_SRC) \
              NGX_CC_OPT="$(SAN_CC_OPT) $(WARN)" NGX_LD_OPT="$(SAN_LD_OPT)" \
              SPEC_ENV="LD_PRELOAD=$$($(CC) -print-file-name=libasan.so)"

# CFLAGS goes in the environment: on make's command line it would override
# the CFLAGS of nginx's own objs/Makefile, with its warnings.  A report
# ends the process (UBSan's too: halt_on_error) with a status no program
# of ours exits with, so a test that expects a failure still sees one.
# What is suppressed, and why: t/sanitizers/*.supp.
SAN_ENV     = CFLAGS="-g -O1 $(SAN_FLAGS)" \
              ASAN_OPTIONS=suppressions=$(SAN)/asan.supp:exitcode=86 \
              UBSAN_OPTIONS=suppressions=$(SAN)/ubsan.supp:print_stacktrace=1:halt_on_error=1:exitcode=86 \
              LSAN_OPTIONS=suppressions=$(SAN)/lsan.supp:print_suppressions=0 \
              OMNI_NGINX=$(CURDIR)/$(ASAN_NGINX) \
              OMNI_MODULE=$(CURDIR)/$(ASAN)/nginx/objs/ngx_http_omni_module.so \
              OMNI_BIN=$(CURDIR)/$(ASAN)/bin OMNI_TEST_SLOWDOWN=5

# Goals that need the Debian packages install them, then run in a second
# make: whatever a makefile reads from the system while it is parsed
# (pkg-config, prerequisites under $(NGINX_SRC)) must be read after the
# install, or a fresh machine's first run fails where its second passes.
NEEDS_DEPS := run cluster-demo bench test unit schema spec integration fuzz fuzz-build \
              test-asan

ifndef OMNI_DEPS_DONE

$(NEEDS_DEPS): deps-then-goals

deps-then-goals: deps
	@$(MAKE) --no-print-directory OMNI_DEPS_DONE=1 $(MAKECMDGOALS)

else

unit: $(UNIT_TESTS)
	@for t in $(UNIT_TESTS); do $$t || exit 1; done

schema:
	bash t/schema/run.sh

# busted re-runs itself through sh, so the paths go in the environment;
# OMNI_LIB: tools/omni-plugin, which specs run, uses these helpers too
# (SPEC_ENV: what test-asan adds to busted's)
spec: lib
	LUA_PATH='lua/?.lua;lua/?/init.lua;;' LUA_CPATH='$(LIB)/?.so;;' \
	    OMNI_LIB='$(CURDIR)/$(LIB)' $(SPEC_ENV) busted --lua=luajit t/spec

integration: all
	prove -It/lib t/

test: all unit schema spec integration

run: all
	@tools/demo.sh $(OMNI_HOST) $(OMNI_PORT)

cluster-demo: all
	@tools/cluster-demo.sh

bench: all
	@tools/bench.sh

fuzz-build: $(FUZZ_TARGETS)

fuzz: fuzz-build
	@tools/fuzz.sh $(FUZZ_SECONDS) $(FUZZ_NAMES)

$(ASAN_SRC)/conf_flags: $(NGINX_SRC)/conf_flags t/sanitizers/nginx-source.sh
	t/sanitizers/nginx-source.sh $(ASAN_SRC) $(NGINX_SRC)/conf_flags

# nginx in a tree of its own, without our module, which it loads like the
# stock binary does (--with-compat): a change to the module or its config
# never builds nginx again
$(ASAN_NGINX): $(ASAN_SRC)/conf_flags
	rm -rf $(ASAN)/nginx-bin
	cp -r $(ASAN_SRC) $(ASAN)/nginx-bin
	cd $(ASAN)/nginx-bin && unset CFLAGS && source ./conf_flags && \
	    ./configure "$${NGX_CONF_FLAGS[@]}" \
	        --with-cc-opt="$(SAN_CC_OPT)" --with-ld-opt="$(SAN_LD_OPT)" \
	        > configure.log 2>&1 || { tail -30 configure.log; exit 1; }
	$(MAKE) -C $(ASAN)/nginx-bin -f objs/Makefile -j$(NPROC) binary \
	    > $(ASAN)/nginx-bin/build.log 2>&1 || \
	    { tail -30 $(ASAN)/nginx-bin/build.log; exit 1; }

# the suites again in a make of their own, where every build path is under
# $(ASAN), every object has the sanitizers and every process their options
test-asan: $(ASAN_NGINX)
	@$(SAN_ENV) $(MAKE) --no-print-directory $(SAN_VARS) unit spec integration

endif

clean:
	rm -rf $(BUILD)
