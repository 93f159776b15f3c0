// secret_file: see secret_file.h; the rules are numbered as there.
#include "config/secret_file.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fcntl.h>
#include <pwd.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

namespace smooth {

namespace {

// A descriptor closed on every way out (config/ stands on nothing, so not core's Fd).
struct Closer {
    int fd;
    ~Closer() {
        if (fd >= 0) ::close(fd);  // read-only, or already written and synced: nothing to lose
    }
};

std::string errno_name(int err) { return std::strerror(err); }

std::string user_name(uid_t uid) {
    struct passwd* pw = getpwuid(uid);  // one thread: the static result is fine
    return pw ? pw->pw_name : std::to_string(uid);
}

std::string mode_text(mode_t mode) {
    char text[8];
    std::snprintf(text, sizeof text, "%04o", unsigned(mode & 07777));
    return text;
}

// Rules 2 and 3 on an open file; "" when it passes.
std::string check_owner_and_mode(const std::string& path, const struct stat& st) {
    if (!S_ISREG(st.st_mode)) return path + " is not a regular file";
    if (st.st_uid != geteuid())
        return path + " is owned by uid " + std::to_string(st.st_uid) + " (" + user_name(st.st_uid) +
               "), not by the user this server runs as (uid " + std::to_string(geteuid()) +
               "): whoever owns it can read or change the secret; fix: chown " + user_name(geteuid()) + " " + path;
    if (st.st_mode & 077) {
        const bool read = st.st_mode & 044, write = st.st_mode & 022;
        const char* can = read && write ? "read and written" : write ? "written" : read ? "read" : "opened";
        const char* who = (st.st_mode & 007) ? "others" : "its group";
        return path + " can be " + can + " by " + who + " (mode " + mode_text(st.st_mode) +
               "): the link secret must be the server user's alone; fix: chmod 600 " + path;
    }
    return "";
}

}  // namespace

std::string read_secret_file(const std::string& path, std::string& out) {
    // Rule 1: O_NOFOLLOW makes a link in the last component fail with ELOOP.
    // O_NONBLOCK: a FIFO put there cannot hang the reader.
    Closer f{::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK)};
    if (f.fd < 0)
        return errno == ELOOP ? path + " is a symbolic link: refusing to follow it (anyone who can place one could "
                                       "choose the secret); fix: put the file itself there"
                              : "cannot open " + path + ": " + errno_name(errno);
    struct stat st;
    if (fstat(f.fd, &st) == -1) return "cannot stat " + path + ": " + errno_name(errno);
    if (std::string why = check_owner_and_mode(path, st); !why.empty()) return why;
    // Rule 4. One byte more than the most allowed tells "too long" from "just right".
    std::string secret;
    char buf[kMaxSecretBytes + 3];
    for (;;) {
        ssize_t n = ::read(f.fd, buf, sizeof buf);
        if (n == -1 && errno == EINTR) continue;
        if (n == -1) return "cannot read " + path + ": " + errno_name(errno);
        if (n == 0) break;
        secret.append(buf, size_t(n));
        if (secret.size() > kMaxSecretBytes + 2) break;
    }
    if (secret.ends_with("\r\n"))
        secret.resize(secret.size() - 2);
    else if (secret.ends_with("\n"))
        secret.pop_back();
    if (secret.size() < kMinSecretBytes || secret.size() > kMaxSecretBytes)
        return path + " holds " +
               (secret.size() > kMaxSecretBytes ? "more than " + std::to_string(kMaxSecretBytes)
                                                : std::to_string(secret.size())) +
               " bytes of secret; a link secret has " + std::to_string(kMinSecretBytes) + " to " +
               std::to_string(kMaxSecretBytes) + "; fix: (umask 077; openssl rand -hex 32 > " + path + ")";
    out = std::move(secret);
    return "";
}

std::string make_or_read_secret_file(const std::string& path, bool& made, std::string& out) {
    made = false;
    // O_EXCL: never an existing file, nor a link planted at the name (with
    // O_CREAT | O_EXCL the kernel does not follow a link in the last part).
    Closer f{::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600)};
    if (f.fd < 0 && errno == EEXIST) return read_secret_file(path, out);  // made at an earlier start
    if (f.fd < 0) return "cannot create " + path + ": " + errno_name(errno);
    unsigned char random[kInstanceSecretBytes];
    ssize_t got;
    do got = getrandom(random, sizeof random, 0);
    while (got == -1 && errno == EINTR);
    const int random_errno = errno;
    bool ok = got == ssize_t(sizeof random);
    std::string secret;
    static const char kHex[] = "0123456789abcdef";
    for (unsigned char b : random) {
        secret += kHex[b >> 4];
        secret += kHex[b & 15];
    }
    std::string error;
    if (ok) {
        ssize_t n;
        do n = ::write(f.fd, secret.data(), secret.size());
        while (n == -1 && errno == EINTR);
        ok = n == ssize_t(secret.size()) && fsync(f.fd) == 0;
        if (!ok) error = "cannot write " + path + ": " + (n == -1 || n == ssize_t(secret.size()) ? errno_name(errno) : "short write");
    } else {
        error = "getrandom() failed while making " + path + ": " +
                (got == -1 ? errno_name(random_errno) : "it gave " + std::to_string(got) + " bytes");
    }
    if (!ok) {
        // A file without its whole secret would be refused at the next start: none at all is better.
        if (unlink(path.c_str()) == -1) error += "; and unlink() failed too: " + errno_name(errno) + "; fix: rm " + path;
        return error;
    }
    made = true;
    out = std::move(secret);
    return "";
}

}  // namespace smooth
