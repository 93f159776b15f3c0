#include "worker/module_loader.h"

#include <cstring>
#include <dlfcn.h>

// The builtins: the demo modules' own sources, compiled a second time into the
// binary with -DSMOOTH_BUILTIN (see the Makefile).
extern "C" const smooth_module* smooth_builtin_hello(void);
extern "C" const smooth_module* smooth_builtin_echo(void);

namespace smooth {

namespace {

// builtin:none: no callbacks at all. A gateway group without a module of its
// own gets it: its clients' messages go to the business group, and a plain
// HTTP request on it is answered 404.
const smooth_module* smooth_builtin_none() {
    static const smooth_module m = {SMOOTH_API_VERSION, "none", "-", nullptr, nullptr, nullptr, nullptr, nullptr, nullptr};
    return &m;
}

struct Builtin {
    const char* name;
    smooth_entry_fn entry;
};

const Builtin kBuiltins[] = {
    {"hello", smooth_builtin_hello},
    {"echo", smooth_builtin_echo},
    {"none", smooth_builtin_none},
};

const smooth_module* check_version(const smooth_module* api, const std::string& spec, std::string& error) {
    if (!api) {
        error = spec + ": " SMOOTH_ENTRY_SYMBOL "() returned NULL";
        return nullptr;
    }
    if (api->api_version != SMOOTH_API_VERSION) {
        error = spec + ": module speaks interface version " + std::to_string(api->api_version) +
                ", this server speaks " + std::to_string(SMOOTH_API_VERSION);
        return nullptr;
    }
    return api;
}

}  // namespace

std::string builtin_names() {
    std::string names;
    for (const Builtin& b : kBuiltins) names += (names.empty() ? "" : ", ") + std::string(b.name);
    return names;
}

LoadedModule load_module(const std::string& spec, std::string& error) {
    LoadedModule loaded;
    if (spec.rfind("builtin:", 0) == 0) {
        std::string name = spec.substr(8);
        for (const Builtin& b : kBuiltins)
            if (name == b.name) loaded.api = check_version(b.entry(), spec, error);
        if (!loaded.api && error.empty()) error = "no builtin module named \"" + name + "\" (have: " + builtin_names() + ")";
        return loaded;
    }

    // RTLD_NOW: an unresolved symbol fails here, with its name, rather than
    // later in the middle of a request. RTLD_LOCAL: two versions of one module
    // never see each other's symbols.
    void* handle = dlopen(spec.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (!handle) {
        error = std::string("dlopen() failed: ") + dlerror();
        return loaded;
    }
    dlerror();  // clear, so a NULL from dlsym can be told from an error
    auto entry = reinterpret_cast<smooth_entry_fn>(dlsym(handle, SMOOTH_ENTRY_SYMBOL));
    if (const char* why = dlerror(); !entry || why) {
        error = std::string("dlsym(" SMOOTH_ENTRY_SYMBOL ") failed: ") + (why ? why : "symbol is NULL");
        dlclose(handle);
        return loaded;
    }
    loaded.api = check_version(entry(), spec, error);
    if (!loaded.api) {
        dlclose(handle);
        return loaded;
    }
    loaded.handle = handle;
    return loaded;
}

}  // namespace smooth
