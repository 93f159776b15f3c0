# smooth: build, run and test.
#
#   make                 ./server, the demo modules, unit tests, tests/support/loadgen, tests/support/wsload
#   make run             build ./server and the demo modules, then ./server start (foreground,
#                        embedded default)
#   make test            build, then every unit test (CTest) and integration test (pytest)
#   make asan            the same tests against a build with Address+UB sanitizers
#   make fuzz            every parser under libFuzzer for FUZZ_SECONDS each (default 300), then
#                        the socket fuzzer per protocol against the ASan build for as long;
#                        make fuzz FUZZERS="link websocket_handshake" SOCKET_FUZZERS=ws for only those
#   make fuzz-smoke      each fuzzer over its seed corpus plus a few seconds (part of `make test`)
#   make bench           smooth against nginx, one table (a few minutes; never part of make test);
#                        make bench BENCH_ARGS=--quick for a rough one in about a minute
#   make modules HELLO_VERSION=2   rebuild only the modules (the reload demo)
#   make BUILD_ID=1.4.2  the build id `./server --version` and `status` show (default dev)
#   make variant BUILD_ID=b2 VARIANT=/tmp/b2/server
#                        a second ./server that differs only in its build id (upgrade tests);
#                        HANDOVER_VERSION=N also gives it another hand-over format
#   make handover-soak   the hand-over's crowd test at size: 2,000 WebSocket clients, 10 upgrades,
#                        10 gateway reloads (HANDOVER_CLIENTS, HANDOVER_ROUNDS)
#   make fleet-up        three hosts on 127.0.0.2-4 behind HAProxy on 127.0.0.1:8000, rolled by
#                        Ansible (examples/fleet, docs/fleet.md; installs haproxy and ansible-core
#                        from Debian if missing); make fleet-down stops them
#
# Objects live in $(BUILD); `make asan` uses build-asan/ so the two never mix,
# and the fuzzers (clang) use build-fuzz/.

# Parallel by default; a sub-make (`make asan`, the fuzz smoke in `make test`)
# shares its parent's jobs rather than forcing its own.
ifeq ($(MAKELEVEL),0)
MAKEFLAGS += -j$(shell nproc)
endif

CXX       ?= g++
BUILD     ?= build
SANITIZE  ?=
HELLO_VERSION ?= 1
BUILD_ID  ?= dev

CXXFLAGS  := -std=c++20 -O2 -g -Wall -Wextra -Werror -Iinclude -Isrc -MMD -MP
LDLIBS    := -ldl -pthread
ifneq ($(SANITIZE),)
CXXFLAGS  += -fsanitize=$(SANITIZE) -fno-omit-frame-pointer -fno-sanitize-recover=undefined
LDFLAGS   += -fsanitize=$(SANITIZE)
endif

# Everything in src/ except main.cpp goes into one static library that the
# server and the unit tests both link, so a test exercises the real code.
# src/ is split by process (cli, master, worker) over what both sides use
# (core, protocol, config); tests/layers.py checks who may include whom (master/
# may include worker/ headers, as the master forks the worker; never the reverse).
LIB_SRC   := $(filter-out src/cli/main.cpp,$(wildcard src/*/*.cpp))
LIB_OBJ   := $(LIB_SRC:src/%.cpp=$(BUILD)/obj/%.o)
LIB       := $(BUILD)/libsmooth.a

# Modules, built as shared objects into $(MODDIR): the demos (modules/: hello,
# echo, chat) and the test fixtures (tests/modules/: slow, broken, probe,
# lifecycle). hello and echo are also compiled into the binary as builtin:hello
# and builtin:echo (same source, see SMOOTH_MODULE in include/smooth/module.h):
# the seed's limitation, made visible.
DEMOS     := hello echo chat
FIXTURES  := slow broken probe lifecycle
MODULES   := $(DEMOS) $(FIXTURES)
SERVER    := $(if $(filter build,$(BUILD)),server,$(BUILD)/server)
MODDIR    := $(patsubst %/,%,$(dir $(SERVER)))/modules
MODULE_SO := $(MODULES:%=$(MODDIR)/%.so)
BUILTINS  := hello echo
BUILTIN_OBJ := $(BUILTINS:%=$(BUILD)/obj/builtin_%.o)

UNIT_SRC  := $(wildcard tests/unit/test_*.cpp)
UNIT_BIN  := $(UNIT_SRC:tests/unit/%.cpp=$(BUILD)/tests/%)

LOADGEN   := tests/support/loadgen
WSLOAD    := tests/support/wsload
# The bench's floors: for the echo row (tools/benchkit/echo_floor.cpp) and the gateway
# rows (tools/benchkit/ws_floor.cpp): built for make bench only.
ECHO_FLOOR := tools/benchkit/echo_floor
WS_FLOOR  := tools/benchkit/ws_floor

.PHONY: all modules run test unit integration asan bench clean fuzz fuzz-build fuzz-smoke variant socket-fuzz-build \
        fleet-up fleet-down handover-soak
all: $(SERVER) modules $(UNIT_BIN) $(LOADGEN) $(WSLOAD)

# How ./server is linked. The C++ standard library and libgcc go in
# statically (the design card allows it; libc stays shared, for dlopen): the
# dynamic loader then maps and relocates only libc and libm at each exec, and
# the command line (./server reload, status) starts about as fast as the
# smallest program (tools/benchkit/exec-cost measures it). Modules see only
# the smooth_* API (src/worker/module_api.dynlist), not every symbol as
# -rdynamic exported; a module that uses the C++ library gets its own copy,
# which is how it was built (the API is C: nothing of it crosses).
DYNLIST     := src/worker/module_api.dynlist
SERVER_LINK := -static-libstdc++ -static-libgcc -Wl,--dynamic-list=$(DYNLIST)

$(SERVER): $(BUILD)/obj/cli/main.o $(BUILTIN_OBJ) $(LIB) $(DYNLIST)
	$(CXX) $(LDFLAGS) $(SERVER_LINK) -o $@ $(filter-out $(DYNLIST),$^) $(LDLIBS)

$(LIB): $(LIB_OBJ)
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

$(BUILD)/obj/%.o: src/%.cpp
	@mkdir -p $(dir $@)
	$(CXX) $(CXXFLAGS) -c -o $@ $<

# BUILD_ID and HELLO_VERSION are part of the command, not of a file. Each has
# a stamp file holding its value, rewritten (when make reads this file) only
# if the value changed, and what compiles the value in depends on the stamp:
# `make BUILD_ID=x` rebuilds exactly what it must, and a make with the same
# values finds nothing to do (`make -n run` after `make` compiles nothing).
# `make variant` compiles its own build id and leaves the stamps alone.
BUILD_ID_STAMP      := $(BUILD)/build_id.stamp
HELLO_VERSION_STAMP := $(BUILD)/hello_version.stamp
stamp = $(shell mkdir -p $(dir $(1)) && { echo '$(2)' | cmp -s - $(1) || echo '$(2)' > $(1); })
ifneq ($(filter-out variant clean,$(or $(MAKECMDGOALS),all)),)
$(call stamp,$(BUILD_ID_STAMP),$(BUILD_ID))
$(call stamp,$(HELLO_VERSION_STAMP),$(HELLO_VERSION))
endif
$(BUILD_ID_STAMP):
	@mkdir -p $(dir $@) && echo '$(BUILD_ID)' > $@
$(HELLO_VERSION_STAMP):
	@mkdir -p $(dir $@) && echo '$(HELLO_VERSION)' > $@

# The build id is compiled into one small object (src/core/build_id.cpp).
$(BUILD)/obj/core/build_id.o: $(BUILD_ID_STAMP)
$(BUILD)/obj/core/build_id.o: CXXFLAGS += -DSMOOTH_BUILD_ID='"$(BUILD_ID)"'

# The same server with another build id: its own build_id.o linked ahead of
# libsmooth.a, whose copy is then never pulled in. One compile and one link,
# so a test can make a "new release" in seconds.
VARIANT ?= $(BUILD)/variant/server
variant: $(BUILD)/obj/cli/main.o $(BUILTIN_OBJ) $(LIB)
	@mkdir -p $(dir $(VARIANT))
	$(CXX) $(filter-out -MMD -MP,$(CXXFLAGS)) -DSMOOTH_BUILD_ID='"$(BUILD_ID)"' \
	    $(if $(HANDOVER_VERSION),-DSMOOTH_HANDOVER_VERSION=$(HANDOVER_VERSION)) -c -o $(VARIANT).build_id.o src/core/build_id.cpp
	$(CXX) $(LDFLAGS) $(SERVER_LINK) -o $(VARIANT).tmp $(VARIANT).build_id.o $^ $(LDLIBS)
	rm -f $(VARIANT).build_id.o
	mv -f $(VARIANT).tmp $(VARIANT)

$(BUILD)/obj/builtin_%.o: modules/%.cpp
	@mkdir -p $(dir $@)
	$(CXX) $(CXXFLAGS) -DSMOOTH_BUILTIN -DHELLO_VERSION='"builtin-$(HELLO_VERSION)"' -c -o $@ $<

modules: $(MODULE_SO)
# hello.so names its version in its replies (the reload demo): rebuilt when
# HELLO_VERSION changes; the content-derived copy in run_dir is what tells
# versions apart.
$(MODDIR)/hello.so: $(HELLO_VERSION_STAMP)
$(MODDIR)/%.so: modules/%.cpp include/smooth/module.h
	@mkdir -p $(MODDIR)
	$(CXX) $(filter-out -MMD -MP,$(CXXFLAGS)) -fPIC -shared -DHELLO_VERSION='"$(HELLO_VERSION)"' -o $@.tmp $< && mv -f $@.tmp $@
$(MODDIR)/%.so: tests/modules/%.cpp include/smooth/module.h
	@mkdir -p $(MODDIR)
	$(CXX) $(filter-out -MMD -MP,$(CXXFLAGS)) -fPIC -shared -DHELLO_VERSION='"$(HELLO_VERSION)"' -o $@.tmp $< && mv -f $@.tmp $@

$(BUILD)/tests/%: tests/unit/%.cpp $(LIB)
	@mkdir -p $(dir $@)
	$(CXX) $(CXXFLAGS) $(LDFLAGS) -Itests/unit -o $@ $< $(LIB) $(LDLIBS)

$(LOADGEN): tests/support/loadgen.cpp tests/support/histogram.h
	$(CXX) $(CXXFLAGS) $(LDFLAGS) -o $@ $< $(LDLIBS)

$(ECHO_FLOOR): tools/benchkit/echo_floor.cpp
	$(CXX) $(CXXFLAGS) $(LDFLAGS) -o $@ $< $(LDLIBS)

$(WSLOAD): tests/support/wsload.cpp tests/support/histogram.h
	$(CXX) $(CXXFLAGS) $(LDFLAGS) -o $@ $< $(LDLIBS)

$(WS_FLOOR): tools/benchkit/ws_floor.cpp
	$(CXX) $(CXXFLAGS) $(LDFLAGS) -o $@ $< $(LDLIBS)

# Only what it runs: after `make` or `make test` it starts at once.
run: $(SERVER) modules
	./$(SERVER) start

# The fleet example: its script does the rest (examples/fleet/fleet).
fleet-up: $(SERVER) modules
	FLEET_SERVER=$(abspath $(SERVER)) examples/fleet/fleet up
fleet-down:
	examples/fleet/fleet down

# pytest comes from Debian; the python3 first on PATH may be another install.
PYTEST := /usr/bin/python3 -m pytest
# The fuzzers are built alongside the rest (fuzz-build), and run after the unit tests.
test: all $(if $(SANITIZE),,fuzz-build)
	@tests/setup-deps
	SMOOTH_BUILD=$(BUILD) ctest --test-dir . --output-on-failure
	$(if $(SANITIZE),,$(MAKE) --no-print-directory fuzz-smoke)
	SMOOTH_SERVER=$(abspath $(SERVER)) SMOOTH_MAKE_ARGS='BUILD=$(BUILD) SANITIZE=$(SANITIZE)' $(PYTEST) -q tests/integration

asan:
	$(MAKE) BUILD=build-asan SANITIZE=address,undefined test

# The hand-over's crowd test at the issue's size: 2,000 WebSocket clients
# through 10 upgrades and 10 gateway reloads (make test runs 200 and 3 + 3).
HANDOVER_CLIENTS ?= 2000
HANDOVER_ROUNDS  ?= 10
handover-soak: all
	@tests/setup-deps
	SMOOTH_SERVER=$(abspath $(SERVER)) SMOOTH_MAKE_ARGS='BUILD=$(BUILD) SANITIZE=$(SANITIZE)' \
	  SMOOTH_HO_CLIENTS=$(HANDOVER_CLIENTS) SMOOTH_HO_ROUNDS=$(HANDOVER_ROUNDS) \
	  $(PYTEST) -q tests/integration/test_handover.py -k crowd

# tools/bench: installs wrk, strace, nginx-light, php-cli, node and its ws when
# missing (tools/benchkit/deps), then measures; see docs/benchmark.md and
# docs/benchmark-gateway.md (BENCH_ARGS="--gatewayworker DIR --workerman DIR"
# for the GatewayWorker column). It builds nothing itself (--no-build): the
# prerequisites are what it runs.
BENCH_ARGS ?=
bench: $(SERVER) $(MODDIR)/chat.so $(LOADGEN) $(ECHO_FLOOR) $(WSLOAD) $(WS_FLOOR)
	@tools/benchkit/deps
	tools/bench --no-build $(BENCH_ARGS)


# ---- fuzzing (tests/fuzz/) --------------------------------------------------
#
# Each parser has a libFuzzer harness that checks its contract (see the top of
# each tests/fuzz/fuzz_*.cpp). libFuzzer comes with clang, not gcc, so these
# are built with clang, with AddressSanitizer and UBSan, in build-fuzz/; the
# code under test gets coverage instrumentation (fuzzer-no-link), the harness
# the fuzzer's main (fuzzer).
FUZZ_CXX      ?= clang++
FUZZ_BUILD    := build-fuzz
FUZZ_SECONDS  ?= 300
FUZZ_SMOKE_SECONDS ?= 4
FUZZERS       := http_head http_chunked framing config websocket utf8 link websocket_handshake handover
FUZZ_CXXFLAGS := -std=c++20 -O1 -g -Wall -Wextra -Werror -Iinclude -Isrc -MMD -MP \
                 -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
FUZZ_LIB_SRC  := $(addprefix src/protocol/,http_grammar.cpp http_parser.cpp chunked_decoder.cpp framing.cpp \
                   utf8.cpp websocket.cpp websocket_message.cpp link.cpp websocket_handshake.cpp base64.cpp \
                   sha1.cpp sha256.cpp http_response.cpp handover.cpp) src/config/config.cpp src/config/secret_file.cpp
FUZZ_LIB_OBJ  := $(FUZZ_LIB_SRC:src/%.cpp=$(FUZZ_BUILD)/obj/%.o)
FUZZ_BIN      := $(FUZZERS:%=$(FUZZ_BUILD)/fuzz_%)

# clang with libFuzzer may be missing on a fresh machine: like pytest for
# `make test`, it is installed from Debian when a trial harness will not link.
$(FUZZ_BUILD)/clang-ok:
	@mkdir -p $(FUZZ_BUILD)
	@printf 'extern "C" int LLVMFuzzerTestOneInput(const char*, unsigned long) { return 0; }\n' >$(FUZZ_BUILD)/probe.cpp
	@$(FUZZ_CXX) -fsanitize=fuzzer,address,undefined -o $(FUZZ_BUILD)/probe $(FUZZ_BUILD)/probe.cpp 2>/dev/null || { \
	  echo "make: clang with libFuzzer is missing; installing clang and libclang-rt-14-dev from Debian (apt-get)"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq clang libclang-rt-14-dev && \
	  $(FUZZ_CXX) -fsanitize=fuzzer,address,undefined -o $(FUZZ_BUILD)/probe $(FUZZ_BUILD)/probe.cpp; }
	@touch $@

# Named only in a pattern rule, the objects would count as intermediate files
# and be deleted after each build.
.SECONDARY: $(FUZZ_LIB_OBJ)
$(FUZZ_BUILD)/obj/%.o: src/%.cpp | $(FUZZ_BUILD)/clang-ok
	@mkdir -p $(dir $@)
	$(FUZZ_CXX) $(FUZZ_CXXFLAGS) -fsanitize=fuzzer-no-link -c -o $@ $<

$(FUZZ_BUILD)/fuzz_%: tests/fuzz/fuzz_%.cpp $(FUZZ_LIB_OBJ) | $(FUZZ_BUILD)/clang-ok
	$(FUZZ_CXX) $(FUZZ_CXXFLAGS) -fsanitize=fuzzer -o $@ $< $(FUZZ_LIB_OBJ)

fuzz-build: $(FUZZ_BIN)

# One fuzzer at a time, each for FUZZ_SECONDS; what they find is kept in
# build-fuzz/corpus/NAME for the next run. The first finding stops it.
# FUZZERS="a b" on the command line runs only those.
#
# Then the socket fuzzer (tests/fuzz/socket_fuzz, docs/testing-delivery.md):
# the sessions that feed those parsers, in a running server, over loopback
# sockets, one protocol at a time for FUZZ_SECONDS each (ws, text, frame,
# and link: a business port, the fuzzer a gateway of its own), against the
# ASan build (made here if it is missing). A finding stops it, saved as
# build-fuzz/findings/socket-PROTOCOL-TIME.json. SOCKET_FUZZERS="ws" runs
# only that one, SOCKET_FUZZERS= none. Its short run is in `make test`
# (tests/integration/test_socket_fuzz.py).
SOCKET_FUZZERS ?= ws text frame link
SOCKET_FUZZ_BUILD := build-asan
fuzz: $(FUZZ_BIN) $(if $(SOCKET_FUZZERS),socket-fuzz-build)
	@for f in $(FUZZERS); do \
	  tests/fuzz/run $(FUZZ_BUILD) $$f $(FUZZ_SECONDS) $(FUZZ_BUILD)/corpus/$$f || exit 1; \
	done
	@for p in $(SOCKET_FUZZERS); do \
	  tests/fuzz/socket_fuzz --server $(SOCKET_FUZZ_BUILD)/server --protocol $$p --seconds $(FUZZ_SECONDS) \
	    --out $(FUZZ_BUILD)/findings || exit 1; \
	done

socket-fuzz-build:
	$(MAKE) --no-print-directory BUILD=$(SOCKET_FUZZ_BUILD) SANITIZE=address,undefined $(SOCKET_FUZZ_BUILD)/server modules

# Every seed, then FUZZ_SMOKE_SECONDS of fuzzing, from an empty work corpus so
# that a run depends on the seeds alone. The fuzzers run side by side (make -j).
FUZZ_SMOKE := $(FUZZERS:%=fuzz-smoke-%)
.PHONY: $(FUZZ_SMOKE)
fuzz-smoke: $(FUZZ_SMOKE)
$(FUZZ_SMOKE): fuzz-smoke-%: $(FUZZ_BUILD)/fuzz_%
	@rm -rf $(FUZZ_BUILD)/smoke/$*
	@tests/fuzz/run $(FUZZ_BUILD) $* $(FUZZ_SMOKE_SECONDS) $(FUZZ_BUILD)/smoke/$*

clean:
	rm -rf build build-asan build-fuzz server modules/*.so $(LOADGEN) $(ECHO_FLOOR) $(WSLOAD) $(WS_FLOOR)

-include $(shell find $(BUILD) $(FUZZ_BUILD) -name '*.d' 2>/dev/null)
