// process_control: see process_control.h.
#include "master/process_control.h"

#include <cerrno>
#include <csignal>
#include <sys/wait.h>
#include <unistd.h>

#include "core/fork.h"

namespace smooth {

std::string SystemProcesses::fork_worker(WorkerSetup setup, pid_t& pid) {
    return fork_child(
        [&](const sigset_t& parent_mask) {
            signals_.close_in_child();
            setup.signal_mask = parent_mask;  // put back by the worker once its own handlers are in place
            Worker worker(std::move(setup));
            _exit(worker.run());  // never back into the master's code
        },
        pid);
}

std::string SystemProcesses::send_signal(pid_t pid, int sig) {
    if (::kill(pid, sig) == -1) return "kill(" + std::to_string(pid) + ", " + signal_name(sig) + ") failed: " + errno_text(errno);
    return "";
}

std::string SystemProcesses::reap_one(pid_t& pid, int& status) {
    pid_t reaped;
    do reaped = waitpid(-1, &status, WNOHANG);
    while (reaped == -1 && errno == EINTR);
    pid = reaped > 0 ? reaped : 0;
    if (reaped == -1 && errno != ECHILD) return "waitpid() failed: " + errno_text(errno);
    return "";  // 0: children left but none exited; ECHILD: none left
}

}  // namespace smooth
