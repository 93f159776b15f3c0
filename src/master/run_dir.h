// run_dir: the directory the server writes in, and the rules that keep it
// the server's own.
//
// The master writes there by name: its pid file, its log, its control socket
// and the module versions (run_dir/modules). It may run as root. Whoever else
// can create a name in that directory can plant a symbolic link
// (smooth.pid -> /etc/passwd) and have root write through it. So:
//   1. run_dir and run_dir/modules must be owned by the server's effective
//      user and writable by nobody else (no group or other write bit): then
//      no one else can plant anything there, between a check and an open or
//      ever;
//   2. a file opened there by name is opened with O_NOFOLLOW (a link is
//      refused, never followed) and must turn out a regular file;
//   3. a temporary file gets a name no one can guess or create first
//      (mkostemp: random, O_EXCL).
// Each refusal names the file, what is wrong with it and the command that
// fixes it.
//
// Not checked: the directories above run_dir, and a pid_file or log_file
// configured outside it (only rule 2 protects those).
#pragma once

#include <string>
#include <sys/types.h>

#include "core/fd.h"

namespace smooth {

// Creates `dir` (mode 0755) if it is missing, then checks rule 1. Returns ""
// or why the directory cannot be used, with the fix. `what` names it in the
// message ("run_dir").
std::string prepare_private_dir(const std::string& dir, const std::string& what);

// Opens `path` with O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK added to `flags`
// (O_NONBLOCK so that a FIFO put there cannot hang us; it does nothing to a
// regular file), and checks it is a regular file (rule 2); into `out`.
// "" or what failed (core/error.h). `what` names the file ("pid file").
std::string open_private_file(const std::string& path, int flags, mode_t mode, const std::string& what, Fd& out);

}  // namespace smooth
