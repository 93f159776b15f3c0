// process_control: the table of workers' only reach into the operating
// system: fork a worker, signal a process, reap a child.
//
// SystemProcesses is the real thing: fork_child() (core/fork.h) running a
// Worker (worker/worker.h) in the child, kill(), waitpid(). The table's unit
// test (tests/unit/test_worker_table.cpp) gives it a fake that only writes
// down what it was asked, so back-off and deadlines are tested to the
// millisecond without a process and without waiting.
#pragma once

#include <string>
#include <sys/types.h>

#include "core/self_pipe.h"
#include "worker/worker.h"

namespace smooth {

class ProcessControl {
public:
    virtual ~ProcessControl() = default;
    // Forks a worker process that runs `setup` (worker.h) and never comes
    // back into the master's code. "" with its pid, or what failed.
    virtual std::string fork_worker(WorkerSetup setup, pid_t& pid) = 0;
    // kill(pid, sig). "" or what failed.
    virtual std::string send_signal(pid_t pid, int sig) = 0;
    // waitpid(-1, WNOHANG): "" with the pid of a child that has exited (and
    // its status), or with pid 0 when none has (or none is left); or what failed.
    virtual std::string reap_one(pid_t& pid, int& status) = 0;
};

// The real one: fork_child() (core/fork.h) running a Worker, kill(), waitpid().
class SystemProcesses : public ProcessControl {
public:
    explicit SystemProcesses(SelfPipe& signals) : signals_(signals) {}
    std::string fork_worker(WorkerSetup setup, pid_t& pid) override;
    std::string send_signal(pid_t pid, int sig) override;
    std::string reap_one(pid_t& pid, int& status) override;

private:
    SelfPipe& signals_;  // the master's: the child closes its copy
};

}  // namespace smooth
