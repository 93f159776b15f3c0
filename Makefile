# smooth: build, run and test.
#
#   make                 ./server, the demo modules, unit tests, tools/loadgen
#   make run             build, then ./server start (foreground, embedded default)
#   make test            build, then every unit test (CTest) and integration test (pytest)
#   make asan            the same tests against a build with Address+UB sanitizers
#   make bench           smooth against nginx, one table (a few minutes; never part of make test);
#                        make bench BENCH_ARGS=--quick for a rough one in about a minute
#   make modules HELLO_VERSION=2   rebuild only the modules (the reload demo)
#
# Objects live in $(BUILD); `make asan` uses build-asan/ so the two never mix.

MAKEFLAGS += -j$(shell nproc)

CXX       ?= g++
BUILD     ?= build
SANITIZE  ?=
HELLO_VERSION ?= 1

CXXFLAGS  := -std=c++20 -O2 -g -Wall -Wextra -Werror -Iinclude -Isrc -MMD -MP
LDLIBS    := -ldl -pthread
ifneq ($(SANITIZE),)
CXXFLAGS  += -fsanitize=$(SANITIZE) -fno-omit-frame-pointer -fno-sanitize-recover=undefined
LDFLAGS   += -fsanitize=$(SANITIZE)
endif

# Everything in src/ except main.cpp goes into one static library that the
# server and the unit tests both link, so a test exercises the real code.
# src/ is split by process (cli, master, worker) over what both sides use
# (core, protocol, config); tests/test_layers.py checks who may include whom.
LIB_SRC   := $(filter-out src/cli/main.cpp,$(wildcard src/*/*.cpp))
LIB_OBJ   := $(LIB_SRC:src/%.cpp=$(BUILD)/obj/%.o)
LIB       := $(BUILD)/libsmooth.a

# Demo modules, built as shared objects next to their source. hello and echo are
# also compiled into the binary as builtin:hello and builtin:echo (same source,
# see SMOOTH_MODULE in include/smooth/module.h): the seed's limitation, made visible.
MODULES   := hello echo slow broken chat
SERVER    := $(if $(filter build,$(BUILD)),server,$(BUILD)/server)
MODDIR    := $(patsubst %/,%,$(dir $(SERVER)))/modules
MODULE_SO := $(MODULES:%=$(MODDIR)/%.so)
BUILTINS  := hello echo
BUILTIN_OBJ := $(BUILTINS:%=$(BUILD)/obj/builtin_%.o)

UNIT_SRC  := $(wildcard tests/unit/test_*.cpp)
UNIT_BIN  := $(UNIT_SRC:tests/unit/%.cpp=$(BUILD)/tests/%)

LOADGEN   := tools/loadgen

.PHONY: all modules run test unit integration asan bench clean
all: $(SERVER) modules $(UNIT_BIN) $(LOADGEN)

$(SERVER): $(BUILD)/obj/cli/main.o $(BUILTIN_OBJ) $(LIB)
	$(CXX) $(LDFLAGS) -rdynamic -o $@ $^ $(LDLIBS)

$(LIB): $(LIB_OBJ)
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

$(BUILD)/obj/%.o: src/%.cpp
	@mkdir -p $(dir $@)
	$(CXX) $(CXXFLAGS) -c -o $@ $<

$(BUILD)/obj/builtin_%.o: modules/%.cpp
	@mkdir -p $(dir $@)
	$(CXX) $(CXXFLAGS) -DSMOOTH_BUILTIN -DHELLO_VERSION='"builtin-$(HELLO_VERSION)"' -c -o $@ $<

modules: $(MODULE_SO)
# The version is part of the command, not of a file, so hello.so is always
# rebuilt; the content-derived copy in run_dir is what tells versions apart.
.PHONY: FORCE
$(MODDIR)/hello.so: FORCE
$(MODDIR)/%.so: modules/%.cpp include/smooth/module.h
	@mkdir -p $(MODDIR)
	$(CXX) $(filter-out -MMD -MP,$(CXXFLAGS)) -fPIC -shared -DHELLO_VERSION='"$(HELLO_VERSION)"' -o $@.tmp $< && mv -f $@.tmp $@

$(BUILD)/tests/%: tests/unit/%.cpp $(LIB)
	@mkdir -p $(dir $@)
	$(CXX) $(CXXFLAGS) $(LDFLAGS) -Itests/unit -o $@ $< $(LIB) $(LDLIBS)

$(LOADGEN): tools/loadgen.cpp
	$(CXX) $(CXXFLAGS) $(LDFLAGS) -o $@ $< $(LDLIBS)

run: all
	./$(SERVER) start

# pytest comes from Debian; the python3 first on PATH may be another install.
PYTEST := /usr/bin/python3 -m pytest
test: all
	@tests/setup-deps
	SMOOTH_BUILD=$(BUILD) ctest --test-dir . --output-on-failure
	SMOOTH_SERVER=$(abspath $(SERVER)) $(PYTEST) -q tests/integration

asan:
	$(MAKE) BUILD=build-asan SANITIZE=address,undefined test

# tools/bench: installs wrk, strace and nginx-light when missing (tools/bench-deps),
# then measures; see README "Benchmark". It builds nothing itself (--no-build):
# the prerequisites are what it runs.
BENCH_ARGS ?=
bench: $(SERVER) $(LOADGEN)
	@tools/bench-deps
	tools/bench --no-build $(BENCH_ARGS)

clean:
	rm -rf build build-asan server modules/*.so $(LOADGEN)

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
