# smooth: build, run and test.
#
#   make                 ./server, the demo modules, unit tests, tools/loadgen
#   make run             build, then ./server start (foreground, embedded default)
#   make test            build, then every unit test (CTest) and integration test (pytest)
#   make asan            the same tests against a build with Address+UB sanitizers
#   make modules HELLO_VERSION=2   rebuild only the modules (the reload demo)
#   make BUILD_ID=1.4.2  the build id `./server --version` and `status` show (default dev)
#   make variant BUILD_ID=b2 VARIANT=/tmp/b2/server
#                        a second ./server that differs only in its build id (upgrade tests)
#
# Objects live in $(BUILD); `make asan` uses build-asan/ so the two never mix.

MAKEFLAGS += -j$(shell nproc)

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

.PHONY: all modules run test unit integration asan clean variant
all: $(SERVER) modules $(UNIT_BIN) $(LOADGEN)

$(SERVER): $(BUILD)/obj/cli/main.o $(BUILTIN_OBJ) $(LIB)
	$(CXX) $(LDFLAGS) -rdynamic -o $@ $^ $(LDLIBS)

$(LIB): $(LIB_OBJ)
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

$(BUILD)/obj/%.o: src/%.cpp
	@mkdir -p $(dir $@)
	$(CXX) $(CXXFLAGS) -c -o $@ $<

# The build id is compiled into one small object (src/core/build_id.cpp). The
# stamp file changes only when BUILD_ID does, and that object depends on it,
# so `make BUILD_ID=x` rebuilds exactly what it must.
$(BUILD)/build_id.stamp: FORCE
	@mkdir -p $(dir $@)
	@echo '$(BUILD_ID)' | cmp -s - $@ || echo '$(BUILD_ID)' > $@
$(BUILD)/obj/core/build_id.o: $(BUILD)/build_id.stamp
$(BUILD)/obj/core/build_id.o: CXXFLAGS += -DSMOOTH_BUILD_ID='"$(BUILD_ID)"'

# The same server with another build id: its own build_id.o linked ahead of
# libsmooth.a, whose copy is then never pulled in. One compile and one link,
# so a test can make a "new release" in seconds.
VARIANT ?= $(BUILD)/variant/server
variant: $(BUILD)/obj/cli/main.o $(BUILTIN_OBJ) $(LIB)
	@mkdir -p $(dir $(VARIANT))
	$(CXX) $(filter-out -MMD -MP,$(CXXFLAGS)) -DSMOOTH_BUILD_ID='"$(BUILD_ID)"' -c -o $(VARIANT).build_id.o src/core/build_id.cpp
	$(CXX) $(LDFLAGS) -rdynamic -o $(VARIANT).tmp $(VARIANT).build_id.o $^ $(LDLIBS)
	rm -f $(VARIANT).build_id.o
	mv -f $(VARIANT).tmp $(VARIANT)

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
	SMOOTH_SERVER=$(abspath $(SERVER)) SMOOTH_MAKE_ARGS='BUILD=$(BUILD) SANITIZE=$(SANITIZE)' $(PYTEST) -q tests/integration

asan:
	$(MAKE) BUILD=build-asan SANITIZE=address,undefined test

clean:
	rm -rf build build-asan server modules/*.so $(LOADGEN)

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
