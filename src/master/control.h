// control: the master's control socket (the CLI's end is cli/control_client.h).
//
// A Unix stream socket at run_dir/smooth.sock, mode 0600, and each peer's uid
// checked with SO_PEERCRED (only our own user, or root). The protocol is a
// line each way: the CLI sends one command, the master answers with lines and
// closes. A `reload` keeps the connection open and sends one line per replaced
// worker, then the summary; the CLI prints them as they come.
//
//   status | status --json | connections | stop | stop -g | reload | reload --no-wait
//   upgrade | upgrade --binary PATH
//   and those another part adds (add_command): reload --timeline | timeline
//
// In an upgrade (upgrade.h) the socket changes hands by rename(): the new
// master binds its own beside ours (open_beside) and renames it over the
// path (install), so a client connecting by path reaches one master or the
// other, never none. The old master keeps its listener (no path names it
// now) for the connections already queued, and answers each of them
// "moved: master pid N": the CLI then proves the new master and asks again.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <sys/types.h>
#include <sys/un.h>

#include "core/buffer.h"
#include "core/event_loop.h"
#include "core/fd.h"
#include "master/progress.h"

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

// A Progress (progress.h) that writes each line to `session` and finishes it
// after the last one. It holds the session weakly: a CLI that hangs up does
// not stop what it was waiting for.
Progress progress_to(const std::shared_ptr<ControlSession>& session);

class ControlServer {
public:
    // A command that another part of the master answers (the reload
    // timeline's `timeline`): the handler gets the session, and finishes it
    // once it has said everything.
    using Command = std::function<void(const std::shared_ptr<ControlSession>& session)>;
    void add_command(const std::string& line, Command command) { commands_[line] = std::move(command); }

    // A master's start: a dead master's socket at `path` is removed, ours bound there.
    std::string open(const std::string& path, EventLoop& loop, Master& master);
    // A master taking over: ours bound beside `path`; install() renames it over.
    std::string open_beside(const std::string& path, EventLoop& loop, Master& master);
    std::string install();
    const std::string& prepared_path() const { return next_path_; }
    // `path` names the new master's socket now: answer "moved" from here on,
    // and leave the path alone at close().
    void hand_over(pid_t new_master);
    // The new master died after its rename: bind ours again and rename it back.
    std::string take_back();
    void close();  // stops listening and removes our socket file(s)

private:
    std::string listen_at(const std::string& path, Fd& out);
    void on_accept(int listener);
    void on_session(int fd, uint32_t events);
    void dispatch(const std::shared_ptr<ControlSession>& session, const std::string& command);
    void forget_closed();

    EventLoop* loop_ = nullptr;
    Master* master_ = nullptr;
    Fd listener_;
    std::string path_;         // ours to remove at close ("" once handed over)
    std::string home_;         // where the control socket lives: run_dir/smooth.sock
    Fd next_;                  // bound beside home_, waiting for install()
    std::string next_path_;
    pid_t moved_to_ = 0;       // handed over to this master
    std::map<int, std::shared_ptr<ControlSession>> sessions_;
    std::map<std::string, Command> commands_;
};

}  // namespace smooth
