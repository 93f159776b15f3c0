// fork: see fork.h.
#include "core/fork.h"

#include <cerrno>
#include <cstdlib>
#include <unistd.h>

#include "core/error.h"

namespace smooth {

std::string fork_child(const std::function<void(const sigset_t& parent_mask)>& child, pid_t& pid) {
    sigset_t all, old;
    sigfillset(&all);
    sigprocmask(SIG_BLOCK, &all, &old);  // cannot fail with a valid how and set
    pid_t forked = fork();
    if (forked == 0) {
        child(old);
        _exit(127);  // `child` must not return; if it does, never back into the parent's code
    }
    int fork_errno = errno;
    sigprocmask(SIG_SETMASK, &old, nullptr);
    if (forked == -1) return "fork() failed: " + errno_text(fork_errno);
    pid = forked;
    return "";
}

}  // namespace smooth
