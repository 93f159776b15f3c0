// self_pipe: signals turned into bytes the event loop can read (TLPI 63.5.2).
//
// A signal handler may call almost nothing safely, so ours does one thing: it
// writes the signal number as one byte into a pipe. The read end is watched by
// the process's event loop, which reads it empty and acts on each signal there, with
// the whole program at its disposal. Both ends are non-blocking: the handler
// must never block (a full pipe already holds a wake-up), and the loop reads
// until EAGAIN.
//
// One self-pipe per process: the handler finds the pipe through a global.
// After fork, a child that wants its own calls close_in_child() and open()s
// a new one.
#pragma once

#include <initializer_list>
#include <string>
#include <vector>

#include "core/fd.h"

namespace smooth {

class SelfPipe {
public:
    SelfPipe() = default;
    SelfPipe(const SelfPipe&) = delete;
    SelfPipe& operator=(const SelfPipe&) = delete;
    ~SelfPipe();

    // Creates the pipe, then installs the handler for each signal. Returns ""
    // or what failed.
    std::string open(std::initializer_list<int> signals);

    int read_fd() const { return read_end_.get(); }
    int write_fd() const { return write_end_.get(); }

    // Reads every pending byte (until EAGAIN): the signals received since the
    // last call, in order of arrival.
    std::vector<int> read_signals();

    // In a child after fork: put the signals back to their default action and
    // close the inherited ends, so the child's signals stop reaching the parent's
    // pipe.
    void close_in_child();

private:
    void restore_defaults();

    Fd read_end_;
    Fd write_end_;
    std::vector<int> signals_;
};

// sigaction(sig, SIG_IGN). Returns "" or what failed.
std::string ignore_signal(int sig);

// "SIGQUIT"; falls back to the number.
std::string signal_name(int sig);

}  // namespace smooth
