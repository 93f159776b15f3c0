// channel: see channel.h.
#include "core/channel.h"

#include <cerrno>
#include <cstring>
#include <sys/epoll.h>
#include <sys/socket.h>

namespace smooth {

std::string Channel::pair(Channel& ours, Fd& theirs) {
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) == -1)
        return "socketpair() failed: " + errno_text(errno);
    ours = Channel(Fd(sv[0]));
    theirs.reset(sv[1]);
    return "";
}

std::string Channel::watch(EventLoop& loop, std::string name, OnMessage on_message, OnClosed on_closed) {
    loop_ = &loop;
    name_ = std::move(name);
    on_message_ = std::move(on_message);
    on_closed_ = std::move(on_closed);
    if (std::string err = loop.watch(fd_.get(), EPOLLIN, [this](uint32_t) { read_waiting(); }); !err.empty())
        return "watching " + name_ + ": " + err;
    return "";
}

void Channel::read_waiting() {
    while (fd_) {
        char message[kMaxMessage];
        iovec iov{message, sizeof message};
        alignas(cmsghdr) char control[CMSG_SPACE(kMaxFds * sizeof(int))];
        msghdr msg{};
        msg.msg_iov = &iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control;
        msg.msg_controllen = sizeof control;
        ssize_t n = ::recvmsg(fd_.get(), &msg, MSG_CMSG_CLOEXEC);
        if (n == -1 && errno == EINTR) continue;
        if (n == -1 && errno == EAGAIN) return;
        if (n == -1) {
            closed_by_peer("recv() failed on " + name_ + ": " + errno_text(errno));
            return;
        }
        if (n == 0) {
            closed_by_peer("");
            return;
        }
        fds_.clear();
        for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
            if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
            size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
            for (size_t i = 0; i < count; i++) {
                int fd;
                std::memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof fd);
                fds_.emplace_back(fd);
            }
        }
        // More than kMaxFds sent: the kernel closed the rest (MSG_CTRUNC);
        // what came is handed on, and the handler sees fewer than it expects.
        if (on_message_) on_message_(std::string_view(message, size_t(n)));
        fds_.clear();  // those not taken
    }
}

std::string Channel::send(std::string_view message) {
    if (!fd_) return "the channel is closed";
    message = message.substr(0, kMaxMessage);
    ssize_t n;
    do n = ::send(fd_.get(), message.data(), message.size(), MSG_NOSIGNAL);
    while (n == -1 && errno == EINTR);
    if (n == -1) return "send() failed: " + errno_text(errno);
    return "";
}

std::string Channel::send(std::string_view message, const std::vector<int>& fds) {
    if (fds.empty()) return send(message);
    if (!fd_) return "the channel is closed";
    if (fds.size() > kMaxFds) return "more than " + std::to_string(kMaxFds) + " descriptors in one message";
    message = message.substr(0, kMaxMessage);
    iovec iov{const_cast<char*>(message.data()), message.size()};
    alignas(cmsghdr) char control[CMSG_SPACE(kMaxFds * sizeof(int))] = {};
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = CMSG_SPACE(fds.size() * sizeof(int));
    cmsghdr* c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(fds.size() * sizeof(int));
    std::memcpy(CMSG_DATA(c), fds.data(), fds.size() * sizeof(int));
    ssize_t n;
    do n = ::sendmsg(fd_.get(), &msg, MSG_NOSIGNAL);
    while (n == -1 && errno == EINTR);
    if (n == -1) return "sendmsg() failed: " + errno_text(errno);
    return "";
}

void Channel::close() {
    if (!fd_) return;
    if (loop_ && loop_->watching(fd_.get())) loop_->unwatch(fd_.get());
    fd_.reset();
}

void Channel::closed_by_peer(const std::string& error) {
    close();
    if (on_closed_) on_closed_(error);
}

}  // namespace smooth
