// module_trial: loading a module once in a throw-away child, to learn whether
// it loads at all before anything depends on it.
//
// A module can fail in ways that take down the process that loads it: a
// truncated .so faults (SIGBUS) while the loader maps it, a static
// constructor crashes or hangs. So the first process to load a new version
// must be one we can lose. `./server check` loads every module this way, and
// so does a reload, before it drains a single worker (Master::plan): a
// version that cannot load refuses the reload with the child's reason
// (dlerror()'s words, or the signal that killed the loader), and no worker is
// touched.
//
// The child does what a worker does before on_worker_start: dlopen, dlsym,
// the interface version check (load_module), and nothing else. It does not
// run on_worker_start: a module's start may act outside its process (connect
// to a database, take a lock, write a file) on the understanding that the
// process goes on to serve; a child only pretending to be a worker would
// break that. A failing on_worker_start is the readiness gate's to catch
// (reload.h: the replacement is not READY, the reload aborts and rolls back).
//
// The wait is synchronous and bounded: the caller (the master's loop, during
// a reload) stops while the module loads, usually milliseconds, at most
// `timeout_ms`; a child still loading then is killed and the trial fails.
#pragma once

#include <string>

namespace smooth {

// "" with `loaded` saying what loaded ("NAME version VERSION"), or why the
// module does not load (core/error.h).
std::string try_loading_module(const std::string& spec, int timeout_ms, std::string& loaded);

}  // namespace smooth
