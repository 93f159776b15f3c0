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

// "" if `api` speaks our interface version, or why not.
std::string check_version(const smooth_module* api, const std::string& spec) {
    if (!api) return spec + ": " SMOOTH_ENTRY_SYMBOL "() returned NULL";
    if (api->api_version != SMOOTH_API_VERSION)
        return spec + ": module speaks interface version " + std::to_string(api->api_version) + ", this server speaks " +
               std::to_string(SMOOTH_API_VERSION);
    return "";
}

}  // namespace

std::string builtin_names() {
    std::string names;
    for (const Builtin& b : kBuiltins) names += (names.empty() ? "" : ", ") + std::string(b.name);
    return names;
}

std::string load_module(const std::string& spec, LoadedModule& out) {
    if (spec.rfind("builtin:", 0) == 0) {
        std::string name = spec.substr(8);
        for (const Builtin& b : kBuiltins) {
            if (name != b.name) continue;
            const smooth_module* api = b.entry();
            if (std::string err = check_version(api, spec); !err.empty()) return err;
            out = LoadedModule{api, nullptr};
            return "";
        }
        return "no builtin module named \"" + name + "\" (have: " + builtin_names() + ")";
    }

    // RTLD_NOW: an unresolved symbol fails here, with its name, rather than
    // later in the middle of a request. RTLD_LOCAL: two versions of one module
    // never see each other's symbols.
    void* handle = dlopen(spec.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (!handle) return std::string("dlopen() failed: ") + dlerror();
    dlerror();  // clear, so a NULL from dlsym can be told from an error
    auto entry = reinterpret_cast<smooth_entry_fn>(dlsym(handle, SMOOTH_ENTRY_SYMBOL));
    if (const char* why = dlerror(); !entry || why) {
        std::string err = std::string("dlsym(" SMOOTH_ENTRY_SYMBOL ") failed: ") + (why ? why : "symbol is NULL");
        dlclose(handle);
        return err;
    }
    const smooth_module* api = entry();
    if (std::string err = check_version(api, spec); !err.empty()) {
        dlclose(handle);
        return err;
    }
    out = LoadedModule{api, handle};
    return "";
}

}  // namespace smooth
