// fork: the one way this server forks a child of its own (a worker, a
// module's trial load, an upgrade's new master).
//
// Every signal is blocked across fork(). A child starts with its parent's
// signal handlers; until it has put them away (SelfPipe::close_in_child), a
// signal sent to it would run them, and write into the *parent's* self-pipe:
// the master would take a worker's SIGQUIT for its own graceful stop. So:
//
//   parent:  the mask it had is back before fork_child() returns;
//   child:   `child` runs with every signal still blocked, and is handed that
//            mask to put back once the parent's handlers are gone and its own
//            are in place (a worker: Worker::setup_process), or right before
//            exec (an upgrade's new master). A child that only loads a module
//            and exits keeps them blocked (module_trial.h).
//
// `child` never returns: it ends in _exit() or exec.
#pragma once

#include <csignal>
#include <functional>
#include <string>
#include <sys/types.h>

namespace smooth {

// "" with the child's pid in `pid`, or what failed (core/error.h).
std::string fork_child(const std::function<void(const sigset_t& parent_mask)>& child, pid_t& pid);

}  // namespace smooth
