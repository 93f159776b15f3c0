// module_loader: turning a group's `module =` into a smooth_module.
//
//   "builtin:hello"            a handler compiled into ./server (kBuiltins in module_loader.cpp)
//   "/run/modules/hello-<hash>.so"   dlopen() + dlsym("smooth_module_v1") + version check
//
// Who calls it: the worker, after fork, for a normal group; the master, before
// fork, for `preload = true` (the workers then inherit the loaded code, which
// is why a reload cannot change it). `./server check` calls it in a throw-away
// child. Every failure message carries dlerror()'s own words.
#pragma once

#include <string>

#include "smooth/module.h"

namespace smooth {

struct LoadedModule {
    const smooth_module* api = nullptr;
    void* handle = nullptr;  // dlopen handle; nullptr for builtins. Never dlclose()d:
                             // a process keeps the code it started with until it exits.
};

// Loads `spec` (a path, or "builtin:NAME") into `out`. "" or what failed
// (core/error.h): dlerror()'s words, or the interface version that differs.
std::string load_module(const std::string& spec, LoadedModule& out);

// The builtins compiled into this binary: "hello, echo".
std::string builtin_names();

}  // namespace smooth
