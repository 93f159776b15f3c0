// run_dir: see run_dir.h; the rules are numbered as there.
#include "master/run_dir.h"

#include <cerrno>
#include <cstdio>
#include <fcntl.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

namespace smooth {

namespace {

std::string user_name(uid_t uid) {
    struct passwd* pw = getpwuid(uid);  // one thread: the static result is fine
    return pw ? pw->pw_name : std::to_string(uid);
}

std::string file_type(mode_t mode) {
    if (S_ISDIR(mode)) return "a directory";
    if (S_ISLNK(mode)) return "a symbolic link";
    if (S_ISFIFO(mode)) return "a FIFO";
    if (S_ISSOCK(mode)) return "a socket";
    if (S_ISCHR(mode) || S_ISBLK(mode)) return "a device";
    return "not a regular file";
}

}  // namespace

std::string prepare_private_dir(const std::string& dir, const std::string& what) {
    if (mkdir(dir.c_str(), 0755) == -1 && errno != EEXIST)
        return "mkdir(" + dir + ") failed: " + errno_text(errno);
    struct stat st;
    if (stat(dir.c_str(), &st) == -1) return "cannot stat " + what + " " + dir + ": " + errno_text(errno);
    if (!S_ISDIR(st.st_mode)) return what + " " + dir + " is " + file_type(st.st_mode) + ", not a directory";
    // Rule 1. Writable by group or others: they could plant a link at the pid
    // or log file; owned by someone else: they could chmod it so.
    if (st.st_uid != geteuid())
        return what + " " + dir + " is owned by uid " + std::to_string(st.st_uid) + " (" + user_name(st.st_uid) +
               "), not by this server's user (uid " + std::to_string(geteuid()) +
               "): whoever owns it can plant links where the server writes; fix: chown " + user_name(geteuid()) +
               " " + dir + " (or choose another run_dir)";
    if (st.st_mode & (S_IWGRP | S_IWOTH)) {
        char mode[8];
        std::snprintf(mode, sizeof mode, "%04o", unsigned(st.st_mode & 07777));
        return what + " " + dir + " is writable by " + ((st.st_mode & S_IWOTH) ? "others" : "its group") +
               " (mode " + mode + "): anyone who can write there can plant a link where the server writes; fix: chmod 755 " +
               dir;
    }
    return "";
}

std::string open_private_file(const std::string& path, int flags, mode_t mode, const std::string& what, Fd& out) {
    Fd fd(::open(path.c_str(), flags | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK, mode));
    if (!fd) {
        // Rule 2: O_NOFOLLOW fails with ELOOP on a link in the last component.
        if (errno == ELOOP)
            return what + " " + path + " is a symbolic link: refusing to follow it (it could make this server "
                   "write to any file); fix: rm " + path;
        return "cannot open " + what + " " + path + ": " + errno_text(errno);
    }
    struct stat st;
    if (fstat(fd.get(), &st) == -1) return "cannot stat " + what + " " + path + ": " + errno_text(errno);
    if (!S_ISREG(st.st_mode)) return what + " " + path + " is " + file_type(st.st_mode) + ", not a regular file; fix: rm " + path;
    out = std::move(fd);
    return "";
}

}  // namespace smooth
