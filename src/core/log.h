// log: one timestamped line per event, naming the process that wrote it.
//
//   2026-11-21 14:00:00.123 [master 1234] worker web#2 (pid 1240) exited: signal 9 (Killed); respawning
//   2026-11-21 14:00:00.125 [worker web#2 1241] ready: module hello version 2
//
// Each line is written with a single write(2), so lines from the master and
// its workers sharing one stderr or one O_APPEND log file never interleave.
#pragma once

#include <string>

namespace smooth::log {

// Who is speaking: "master", "worker web#2", "cli". Called again after fork.
void set_role(const std::string& role);

// Where lines go (default: 2, stderr). The caller keeps ownership of the fd.
void set_output(int fd);

void info(const char* fmt, ...) __attribute__((format(printf, 1, 2)));
void warn(const char* fmt, ...) __attribute__((format(printf, 1, 2)));
void error(const char* fmt, ...) __attribute__((format(printf, 1, 2)));

// The same line format, for a module's smooth_log(): role and message given.
void write_line(const char* level, const char* message);

}  // namespace smooth::log
