// module_versions: every module version a worker runs is a file of its own.
//
// At start and at each reload the master copies each group's module into
// run_dir/modules/ under a name derived from its content:
//
//     hello.so  ->  run_dir/modules/hello-3f2a9c0d81e4b7a6.so
//
// and the workers dlopen() that copy, never the original. Two things follow:
//   - a deploy that overwrites hello.so in place (cp, or a compiler writing its
//     output) cannot change pages under a running worker's feet;
//   - the version that last started stays on disk, so a failed reload can
//     refill a slot with it.
// Same content, same name: copying an unchanged module is a no-op.
#pragma once

#include <string>

namespace smooth {

// Stores `module` and puts the stored copy's path in `stored`; builtins
// ("builtin:NAME") are their own version. "" or what failed (core/error.h).
std::string store_module_version(const std::string& module, const std::string& run_dir, std::string& stored);

}  // namespace smooth
