// pidfile: the master's pid on disk, and the proof the CLI needs before it
// believes it.
//
// The master holds an exclusive flock() on the pid file for its whole life. A
// pid file is only trusted when all three hold:
//   1. the lock is held (a master that died, even by SIGKILL, lost it);
//   2. /proc/PID/exe is this very binary;
//   3. the process started no later than the pid file was written (a pid the
//      kernel reused for a later process fails this).
// Otherwise the file is stale: the CLI says so and signals nothing.
#pragma once

#include <string>
#include <sys/types.h>

#include "core/fd.h"

namespace smooth {

class PidFile {
public:
    // Opens and locks the file and writes our pid. Fails if another process
    // holds the lock ("already running"). A stale pid in the file is reported
    // in the log and replaced.
    std::string acquire(const std::string& path);
    // Removes the file (while still holding the lock), then unlocks.
    void release();

private:
    Fd fd_;
    std::string path_;
};

struct MasterCheck {
    pid_t pid = 0;         // what the file says (0: no file, or no number in it)
    bool running = false;  // all three proofs hold
    std::string why_not;   // when !running: why the file is not trusted
};

MasterCheck check_master(const std::string& pid_file);

// Field `n` (numbered as in proc(5): 3 is the state, 22 the start time) of
// /proc/PID/stat; "" if there is no such process.
std::string proc_stat_field(pid_t pid, int n);

// True once `pid` has exited, even if its parent has not reaped it (a zombie).
bool process_gone(pid_t pid);

}  // namespace smooth
