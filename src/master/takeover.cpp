// takeover: see takeover.h.
#include "master/takeover.h"

#include <cerrno>
#include <charconv>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include "core/log.h"
#include "master/upgrade.h"

namespace smooth {

namespace {

constexpr size_t kMaxMessage = 2048;

}  // namespace

Fd upgrade_channel_from_env(std::string& error) {
    const char* value = std::getenv(kUpgradeChannelEnv);
    std::string text = value ? value : "";
    unsetenv(kUpgradeChannelEnv);  // nothing we fork or exec may take it for its own
    if (text.empty()) return Fd();
    int fd = -1;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), fd);
    int type = 0;
    socklen_t len = sizeof type;
    if (ec != std::errc() || end != text.data() + text.size() || fd < 3 ||
        getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) == -1 || type != SOCK_SEQPACKET) {
        error = std::string(kUpgradeChannelEnv) + "=" + text + ": not the channel of an upgrade";
        return Fd();
    }
    // It came across exec without our flags: nothing we fork or exec keeps it.
    int flags = fcntl(fd, F_GETFL);
    if (flags == -1 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) == -1 || fcntl(fd, F_SETFD, FD_CLOEXEC) == -1) {
        error = "fcntl() failed on the upgrade's channel: " + errno_text(errno);
        return Fd();
    }
    return Fd(fd);
}

bool tell_old_master(int channel, const std::string& message) {
    std::string m = message.substr(0, kMaxMessage - 1);
    ssize_t n;
    do n = ::send(channel, m.data(), m.size(), MSG_NOSIGNAL);
    while (n == -1 && errno == EINTR);
    return n == ssize_t(m.size());
}

std::string Takeover::watch(EventLoop& loop, Heard heard) {
    if (!channel_) return "";
    loop_ = &loop;
    heard_ = std::move(heard);
    if (int rc = loop.watch(channel_.get(), EPOLLIN, [this](uint32_t) { on_channel(); }); rc < 0)
        return "epoll_ctl(ADD) failed for the upgrade's channel: " + errno_text(-rc);
    return "";
}

void Takeover::say(const std::string& line) { send("say " + line); }
void Takeover::deadline(int ms) { send("deadline " + std::to_string(ms)); }
void Takeover::temp(const std::string& path) { send("temp " + path); }

void Takeover::taken(const std::string& build) {
    if (phase_ != Phase::Pending) return;
    send("taken " + build);
    phase_ = Phase::TakenOver;
}

void Takeover::gave_up(const std::string& why) {
    if (phase_ != Phase::Pending) return;
    send("error " + why);
    phase_ = Phase::GaveUp;
}

void Takeover::on_channel() {
    while (channel_) {
        char buf[kMaxMessage];
        ssize_t n = ::recv(channel_.get(), buf, sizeof buf, 0);
        if (n == -1 && errno == EINTR) continue;
        if (n == -1 && errno == EAGAIN) return;
        if (n <= 0) {
            if (n == -1) log::warn("recv() failed on the upgrade's channel: %s", errno_text(errno).c_str());
            close();
            heard_("");  // the old master hung up
            return;
        }
        heard_(std::string(buf, size_t(n)));
    }
}

void Takeover::send(const std::string& message) {
    if (!channel_) return;  // the old master is gone: nobody to tell
    if (!tell_old_master(channel_.get(), message))
        log::warn("cannot tell the old master \"%s\": %s", message.substr(0, 60).c_str(), errno_text(errno).c_str());
}

void Takeover::close() {
    if (!channel_) return;
    if (loop_ && loop_->watching(channel_.get())) loop_->unwatch(channel_.get());
    channel_.reset();
}

}  // namespace smooth
