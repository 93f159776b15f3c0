// channel: messages between two processes of this server (the master and
// each worker; the old master and the new one during an upgrade).
//
// A SOCK_SEQPACKET socketpair: the kernel keeps each message whole (one
// send, one packet, one recv), so there is no framing to parse and no half
// message to keep. A message is at most kMaxMessage bytes; a longer one is
// cut there.
//
//   Channel ours; Fd theirs;
//   Channel::pair(ours, theirs);       // before fork: the child keeps `theirs`
//   ours.watch(loop, "worker web#0's channel", on_message, on_closed);
//   ours.send("R");
//
// The read loop lives here, once: every message waiting is handed to
// on_message, until EAGAIN. At EOF (the other process closed its end, or
// exited) or on a receive error the channel stops watching and closes
// itself, then calls on_closed with "" (EOF) or the error.
//
// Descriptors travel too (SCM_RIGHTS, between this server's own processes:
// a log file the master opened, for a worker that may not open it itself):
// send(message, fds), and inside on_message take_fds() takes those that came
// with that message; any not taken are closed after it. At most kMaxFds a
// message; they arrive close-on-exec.
//
// Ownership: a Channel owns its descriptor. A watched channel must not move
// (its loop's callback knows where it is): close it first. Callbacks may send
// on the channel, and close it; they must not destroy it.
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "core/event_loop.h"
#include "core/fd.h"

namespace smooth {

class Channel {
public:
    static constexpr size_t kMaxMessage = 4096;
    static constexpr size_t kMaxFds = 4;
    using OnMessage = std::function<void(std::string_view message)>;
    using OnClosed = std::function<void(const std::string& error)>;

    Channel() = default;
    explicit Channel(Fd fd) : fd_(std::move(fd)) {}
    Channel(Channel&&) = default;
    Channel& operator=(Channel&&) = default;
    ~Channel() { close(); }

    // A connected pair, both ends non-blocking and close-on-exec: `ours`, and
    // `theirs` for the child. "" or what failed.
    static std::string pair(Channel& ours, Fd& theirs);

    // Hands each message to `on_message` as it arrives; `name` is for the log
    // ("worker web#0's channel"). "" or what failed.
    std::string watch(EventLoop& loop, std::string name, OnMessage on_message, OnClosed on_closed = nullptr);
    // Reads the messages waiting now, without waiting for the loop: a child's
    // last words when it is reaped (its SIGCHLD can come before them).
    void read_waiting();
    // One message. "" or what failed (a closed channel, the peer gone: EPIPE).
    std::string send(std::string_view message);
    // The same, with descriptors (each stays ours: the other process gets copies).
    std::string send(std::string_view message, const std::vector<int>& fds);
    // Inside on_message: the descriptors that came with this message, in order.
    std::vector<Fd> take_fds() { return std::move(fds_); }
    void close();

    explicit operator bool() const { return bool(fd_); }
    int fd() const { return fd_.get(); }

private:
    void closed_by_peer(const std::string& error);

    Fd fd_;
    EventLoop* loop_ = nullptr;
    std::string name_;
    OnMessage on_message_;
    OnClosed on_closed_;
    std::vector<Fd> fds_;  // those of the message being handed to on_message
};

}  // namespace smooth
