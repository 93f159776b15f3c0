// fd: a file descriptor that closes itself (RAII).
//
// Fd owns the descriptor it holds: destroying or resetting it closes it. Copying
// is not allowed; moving hands the ownership over. release() gives the raw
// descriptor up without closing it.
#pragma once

#include <string>
#include <unistd.h>
#include <utility>

#include "core/error.h"  // errno_text, which every caller of a syscall on an Fd uses

namespace smooth {

class Fd {
public:
    Fd() = default;
    explicit Fd(int fd) : fd_(fd) {}
    ~Fd() { reset(); }
    Fd(Fd&& other) noexcept : fd_(other.release()) {}
    Fd& operator=(Fd&& other) noexcept {
        if (this != &other) reset(other.release());
        return *this;
    }
    Fd(const Fd&) = delete;
    Fd& operator=(const Fd&) = delete;

    int get() const { return fd_; }
    explicit operator bool() const { return fd_ >= 0; }
    int release() { return std::exchange(fd_, -1); }
    // close() errors are not actionable here: the descriptor is gone either way
    // (Linux closes it even when close() reports EINTR or EIO).
    void reset(int fd = -1) {
        if (fd_ >= 0) ::close(fd_);
        fd_ = fd;
    }

private:
    int fd_ = -1;
};

}  // namespace smooth
