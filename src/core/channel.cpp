// channel: see channel.h.
#include "core/channel.h"

#include <cerrno>
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
        ssize_t n = ::recv(fd_.get(), message, sizeof message, 0);
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
        if (on_message_) on_message_(std::string_view(message, size_t(n)));
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
