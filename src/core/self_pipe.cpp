#include "core/self_pipe.h"

#include <cerrno>
#include <csignal>
#include <cstring>
#include <fcntl.h>
#include <unistd.h>

namespace smooth {

namespace {

int g_write_fd = -1;  // the handler's only way to the pipe

void on_signal(int sig) {
    // Save errno: the handler may interrupt code between a failed call and its
    // check of errno.
    int saved_errno = errno;
    unsigned char byte = static_cast<unsigned char>(sig);
    // Nothing useful can be done if this fails: EAGAIN means the pipe is full
    // of unread wake-ups already, and the loop will read them.
    if (::write(g_write_fd, &byte, 1) == -1) {
    }
    errno = saved_errno;
}

}  // namespace

SelfPipe::~SelfPipe() {
    if (write_end_ && g_write_fd == write_end_.get()) {
        restore_defaults();
        g_write_fd = -1;
    }
}

std::string SelfPipe::open(std::initializer_list<int> signals) {
    // The pipe first, the handlers second: a signal that arrives while the
    // handlers are being installed must already have somewhere to go.
    int fds[2];
    if (pipe2(fds, O_NONBLOCK | O_CLOEXEC) == -1) return "pipe2() failed for the self-pipe: " + errno_text(errno);
    read_end_.reset(fds[0]);
    write_end_.reset(fds[1]);
    g_write_fd = fds[1];

    struct sigaction sa{};
    sa.sa_handler = on_signal;
    // Block every other signal while the handler runs, and restart the calls
    // it interrupts where the kernel can (epoll_wait never restarts: it returns
    // EINTR and the loop goes round).
    sigfillset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    for (int sig : signals) {
        struct sigaction act = sa;
        if (sig == SIGCHLD) act.sa_flags |= SA_NOCLDSTOP;  // exits only, not stops
        if (sigaction(sig, &act, nullptr) == -1)
            return "sigaction(" + signal_name(sig) + ") failed: " + errno_text(errno);
        signals_.push_back(sig);
    }
    return "";
}

std::vector<int> SelfPipe::read_signals() {
    std::vector<int> received;
    unsigned char bytes[64];
    for (;;) {
        ssize_t n = ::read(read_end_.get(), bytes, sizeof bytes);
        if (n > 0) {
            received.insert(received.end(), bytes, bytes + n);
            continue;
        }
        if (n == -1 && errno == EINTR) continue;
        break;  // EAGAIN: nothing left (or a read error, which a pipe does not produce)
    }
    return received;
}

void SelfPipe::restore_defaults() {
    struct sigaction dfl{};
    dfl.sa_handler = SIG_DFL;
    sigemptyset(&dfl.sa_mask);
    for (int sig : signals_) sigaction(sig, &dfl, nullptr);  // cannot fail for a valid signal
    signals_.clear();
}

void SelfPipe::close_in_child() {
    restore_defaults();
    g_write_fd = -1;
    read_end_.reset();
    write_end_.reset();
}

std::string ignore_signal(int sig) {
    struct sigaction ign{};
    ign.sa_handler = SIG_IGN;
    sigemptyset(&ign.sa_mask);
    if (sigaction(sig, &ign, nullptr) == -1) return "sigaction(" + signal_name(sig) + ", SIG_IGN) failed: " + errno_text(errno);
    return "";
}

std::string signal_name(int sig) {
    const char* abbrev = sigabbrev_np(sig);
    return abbrev ? std::string("SIG") + abbrev : "signal " + std::to_string(sig);
}

}  // namespace smooth
