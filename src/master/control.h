// control: the master's control socket (the CLI's end is cli/control_client.h).
//
// A Unix stream socket at run_dir/smooth.sock, mode 0600, and each peer's uid
// checked with SO_PEERCRED (only our own user, or root). The protocol is a
// line each way: the CLI sends one command, the master answers with lines and
// closes. A `reload` keeps the connection open and sends one line per replaced
// worker, then the summary; the CLI prints them as they come.
//
//   status | status --json | connections | stop | stop -g | reload | reload --no-wait
//   reload --timeline | timeline
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <sys/un.h>

#include "core/buffer.h"
#include "core/event_loop.h"
#include "core/fd.h"

namespace smooth {

class Master;

// Where the control socket lives: the master binds it, the CLI connects to it.
inline std::string control_socket_path(const std::string& run_dir) { return run_dir + "/smooth.sock"; }
// Fills `sa` for `path`; false if the path does not fit in sun_path.
bool control_address(const std::string& path, sockaddr_un& sa);

// One CLI connection. Owned by the ControlServer; a reload in progress holds a
// shared_ptr to it so it can write the story as it happens.
class ControlSession {
public:
    ControlSession(EventLoop& loop, Fd fd);
    void send(const std::string& text);  // buffered; goes out as the socket allows
    void finish();                       // close once everything is sent
    bool closed() const { return !fd_; }
    int fd() const { return fd_.get(); }

    // For ControlServer: returns a complete command line once one has arrived.
    bool read_command(std::string& command);
    void on_writable();
    bool done() const { return finishing_ && out_.empty(); }
    void close();

private:
    void update_interest();
    EventLoop& loop_;
    Fd fd_;
    Buffer in_;
    Buffer out_;
    bool finishing_ = false;
};

class ControlServer {
public:
    std::string open(const std::string& path, EventLoop& loop, Master& master);
    void close();  // stops listening and removes the socket file

private:
    void on_accept();
    void on_session(int fd, uint32_t events);
    void dispatch(const std::shared_ptr<ControlSession>& session, const std::string& command);
    void forget_closed();

    EventLoop* loop_ = nullptr;
    Master* master_ = nullptr;
    Fd listener_;
    std::string path_;
    std::map<int, std::shared_ptr<ControlSession>> sessions_;
};

}  // namespace smooth
