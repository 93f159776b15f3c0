// pidfile: the master's pid on disk, and the proof the CLI needs before it
// believes it.
//
// The master holds an exclusive flock() on the pid file for its whole life. A
// pid file is only trusted when both hold:
//   1. the lock is held (a master that died, even by SIGKILL, lost it);
//   2. the control socket next to it (control.h) answers, and its peer
//      credentials (SO_PEERCRED: the pid that created the listening socket,
//      filled in by the kernel, not said by the peer) name the pid in the file.
// Otherwise the file is not trusted: the CLI says why and signals nothing.
//
// Nothing here depends on where the ./server file lives, so a new release
// unpacked in another directory reaches the running master. A stale file
// naming a process that is not our master fails 1 (nobody holds the lock) or
// 2 (that process did not create our control socket), whatever it runs.
//
// A binary upgrade (upgrade.h) moves both files to the new master by rename():
// the new master writes and locks a file of its own beside the pid file, then
// renames it over it. The lock lives on the inode, so the instant the path
// names the new file its lock is the new master's, and the old master's lock
// (on an inode no path names any more) stops mattering. The two renames (pid
// file, then control socket) are a moment apart: a check that falls between
// them sees two different pids, and looks again.
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
    // For a master taking over (upgrade.h), or one taking its file back: a
    // new file beside `path`, locked, with our pid in it; `path` is not
    // touched until install() renames it over.
    std::string prepare_beside(const std::string& path);
    std::string install();
    const std::string& prepared_path() const { return temp_path_; }
    // The path still names the file we hold (an upgrade's new master may have
    // renamed its own over it).
    bool names_us() const;
    // After an upgrade: `path` names the new master's file now. Forget it, so
    // release() does not remove it.
    void handed_over() { path_.clear(); }
    // Removes our file (while still holding the lock), then unlocks.
    void release();

private:
    Fd fd_;
    std::string path_;
    Fd temp_fd_;            // prepared, not yet installed
    std::string temp_path_;
    std::string target_;    // where install() puts it
};

struct MasterCheck {
    pid_t pid = 0;         // what the file says (0: no file, or no number in it)
    bool running = false;  // both proofs hold
    std::string why_not;   // when !running: why the file is not trusted
    Fd control;            // when running: connected to that master's control socket
};

// The proof, from the CLI's side. On success the command goes over `control`,
// the very connection whose peer was proved (no second connect that could
// reach someone else).
MasterCheck check_master(const std::string& pid_file, const std::string& control_socket);

// Field `n` (numbered as in proc(5): 3 is the state, 22 the start time) of
// /proc/PID/stat; "" if there is no such process.
std::string proc_stat_field(pid_t pid, int n);

// True once `pid` has exited, even if its parent has not reaped it (a zombie).
bool process_gone(pid_t pid);

}  // namespace smooth
