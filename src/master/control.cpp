#include "master/control.h"

#include <cerrno>
#include <cstring>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "core/log.h"
#include "master/master.h"

namespace smooth {

namespace {

constexpr size_t kMaxCommand = 4200;  // "upgrade --binary PATH" with a PATH up to PATH_MAX

}  // namespace

bool control_address(const std::string& path, sockaddr_un& sa) {
    std::memset(&sa, 0, sizeof sa);
    sa.sun_family = AF_UNIX;
    if (path.size() >= sizeof sa.sun_path) return false;
    std::memcpy(sa.sun_path, path.c_str(), path.size() + 1);
    return true;
}

Progress progress_to(const std::shared_ptr<ControlSession>& session) {
    std::weak_ptr<ControlSession> weak = session;
    return [weak](const std::string& line, bool done, bool) {
        if (auto s = weak.lock()) {
            s->send(line + "\n");
            if (done) s->finish();
        }
    };
}

// ---- ControlSession ----

ControlSession::ControlSession(EventLoop& loop, Fd fd) : loop_(loop), fd_(std::move(fd)) {}

void ControlSession::send(const std::string& text) {
    if (closed()) return;  // the CLI went away (Ctrl-C during `reload`): fine
    out_.append(text);
    on_writable();
}

void ControlSession::finish() {
    finishing_ = true;
    on_writable();
}

bool ControlSession::read_command(std::string& command) {
    ssize_t n = in_.read_from(fd_.get(), 1024);
    if (n == 0 || (n == -1 && errno != EAGAIN && errno != EINTR)) {
        close();
        return false;
    }
    std::string_view text = in_.readable();
    size_t nl = text.find('\n');
    if (nl == std::string_view::npos) {
        if (text.size() > kMaxCommand) close();
        return false;
    }
    command.assign(text.substr(0, nl));
    in_.consume(nl + 1);
    return true;
}

void ControlSession::on_writable() {
    while (!closed() && !out_.empty()) {
        ssize_t n = out_.write_to(fd_.get());
        if (n == -1 && errno == EAGAIN) break;
        if (n <= 0) {
            close();
            return;
        }
    }
    if (closed()) return;
    if (done()) {
        close();
        return;
    }
    update_interest();
}

void ControlSession::update_interest() {
    if (!loop_.change(fd_.get(), out_.empty() ? EPOLLIN : EPOLLIN | EPOLLOUT).empty()) close();
}

void ControlSession::close() {
    if (!fd_) return;
    if (loop_.watching(fd_.get())) loop_.unwatch(fd_.get());
    fd_.reset();
}

// ---- ControlServer ----

std::string ControlServer::open(const std::string& path, EventLoop& loop, Master& master) {
    loop_ = &loop;
    master_ = &master;
    home_ = path;
    // We hold the pid file lock, so a socket file left here is a dead master's.
    // Anything else at that name was not left by us: say so rather than
    // remove it (run_dir.h).
    struct stat st;
    if (lstat(path.c_str(), &st) == 0 && !S_ISSOCK(st.st_mode))
        return "control socket path " + path + " exists and is not a socket" +
               (S_ISLNK(st.st_mode) ? " (a symbolic link)" : "") + "; fix: rm " + path;
    if (unlink(path.c_str()) == -1 && errno != ENOENT)
        return "cannot remove the old control socket " + path + ": " + errno_text(errno);
    if (std::string err = listen_at(path, listener_); !err.empty()) return err;
    path_ = path;
    if (std::string err = loop.watch(listener_.get(), EPOLLIN, [this, fd = listener_.get()](uint32_t) { on_accept(fd); });
        !err.empty())
        return "watching the control socket: " + err;
    return "";
}

std::string ControlServer::open_beside(const std::string& path, EventLoop& loop, Master& master) {
    loop_ = &loop;
    master_ = &master;
    home_ = path;
    // run_dir is the server's alone (run_dir.h), and one upgrade runs at a
    // time: a socket left at this name is a dead new master's.
    std::string temp = path + ".new";
    struct stat st;
    if (lstat(temp.c_str(), &st) == 0 && !S_ISSOCK(st.st_mode))
        return "control socket path " + temp + " exists and is not a socket; fix: rm " + temp;
    if (unlink(temp.c_str()) == -1 && errno != ENOENT)
        return "cannot remove " + temp + ": " + errno_text(errno);
    if (std::string err = listen_at(temp, next_); !err.empty()) return err;
    next_path_ = temp;
    return "";
}

std::string ControlServer::install() {
    if (!next_) return "no control socket prepared";
    // One rename: a client connecting by path reaches the old socket before
    // it and ours after it, never nothing.
    if (rename(next_path_.c_str(), home_.c_str()) == -1)
        return "rename(" + next_path_ + ", " + home_ + ") failed: " + errno_text(errno);
    if (listener_) {  // taking it back: our old socket, which no path names any more
        loop_->unwatch(listener_.get());
        listener_.reset();
    }
    listener_ = std::move(next_);
    next_path_.clear();
    path_ = home_;
    moved_to_ = 0;
    if (std::string err = loop_->watch(listener_.get(), EPOLLIN, [this, fd = listener_.get()](uint32_t) { on_accept(fd); });
        !err.empty())
        return "watching the control socket: " + err;
    return "";
}

void ControlServer::hand_over(pid_t new_master) {
    moved_to_ = new_master;
    path_.clear();
}

std::string ControlServer::take_back() {
    if (std::string err = open_beside(home_, *loop_, *master_); !err.empty()) return err;
    return install();
}

// Bound with mode 0600 from the start (umask): no window in which others
// could connect.
std::string ControlServer::listen_at(const std::string& path, Fd& out) {
    sockaddr_un sa;
    if (!control_address(path, sa)) return "control socket path too long: " + path;
    Fd fd(socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    if (!fd) return "socket(AF_UNIX) failed for the control socket: " + errno_text(errno);
    mode_t old_mask = umask(0177);
    int rc = bind(fd.get(), reinterpret_cast<sockaddr*>(&sa), sizeof sa);
    int bind_errno = errno;
    umask(old_mask);
    if (rc == -1) return "bind() failed for the control socket " + path + ": " + errno_text(bind_errno);
    if (listen(fd.get(), 64) == -1) return "listen() failed for the control socket: " + errno_text(errno);
    out = std::move(fd);
    return "";
}

void ControlServer::close() {
    for (auto& [fd, s] : sessions_) s->close();
    sessions_.clear();
    if (listener_) {
        loop_->unwatch(listener_.get());
        listener_.reset();
    }
    next_.reset();
    for (const std::string& path : {path_, next_path_})
        if (!path.empty() && unlink(path.c_str()) == -1 && errno != ENOENT)
            log::warn("cannot remove the control socket %s: %s", path.c_str(), errno_text(errno).c_str());
    path_.clear();
    next_path_.clear();
}

void ControlServer::on_accept(int listener) {
    for (;;) {
        if (listener != listener_.get()) return;  // replaced (take_back) since this event was queued
        Fd fd(accept4(listener, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC));
        if (!fd) {
            if (errno == EINTR || errno == ECONNABORTED) continue;
            if (errno != EAGAIN) log::error("accept4() failed on the control socket: %s", errno_text(errno).c_str());
            return;
        }
        // The file mode keeps others out already; the peer's uid is the second lock.
        struct ucred cred{};
        socklen_t len = sizeof cred;
        if (getsockopt(fd.get(), SOL_SOCKET, SO_PEERCRED, &cred, &len) == -1 || (cred.uid != getuid() && cred.uid != 0)) {
            log::warn("control socket: refused a client with uid %d", int(cred.uid));
            continue;
        }
        int raw = fd.get();
        forget_closed();  // a closed session's fd number may be this one
        auto session = std::make_shared<ControlSession>(*loop_, std::move(fd));
        if (std::string err = loop_->watch(raw, EPOLLIN, [this, raw](uint32_t events) { on_session(raw, events); });
            !err.empty()) {
            log::error("watching a control client: %s", err.c_str());
            continue;  // the session's Fd closes it
        }
        sessions_[raw] = std::move(session);
    }
}

void ControlServer::on_session(int fd, uint32_t events) {
    auto it = sessions_.find(fd);
    if (it == sessions_.end()) return;
    std::shared_ptr<ControlSession> session = it->second;
    if (events & EPOLLOUT) session->on_writable();
    std::string command;
    if (!session->closed() && (events & (EPOLLIN | EPOLLHUP | EPOLLERR)) && session->read_command(command))
        dispatch(session, command);
    forget_closed();
}

// A session may close outside its own event (a reload finishing writes its
// last line from the reload's callback): sweep them all.
void ControlServer::forget_closed() {
    std::erase_if(sessions_, [](const auto& kv) { return kv.second->closed(); });
}

void ControlServer::dispatch(const std::shared_ptr<ControlSession>& session, const std::string& command) {
    Master& m = *master_;
    if (moved_to_) {
        // An upgrade gave the path to another master since this client
        // connected: nothing is done here; the CLI proves again and asks it.
        session->send("moved: master pid " + std::to_string(moved_to_) + "\n");
        session->finish();
        return;
    }
    if (auto it = commands_.find(command); it != commands_.end()) {
        it->second(session);
        return;
    }
    if (command == "upgrade" || command.rfind("upgrade --binary ", 0) == 0) {
        // Open until the upgrade's last line, like a reload's session.
        m.request_upgrade(progress_to(session),
                          command == "upgrade" ? "" : command.substr(std::strlen("upgrade --binary ")), "control socket");
        return;
    }
    if (command == "status") {
        session->send(status_text(m.view()));
    } else if (command == "status --json") {
        session->send(status_json(m.view()));
    } else if (command == "connections") {
        session->send(connections_text(m.view()));
    } else if (command == "stop" || command == "stop -g") {
        bool graceful = command == "stop -g";
        session->send(std::string(graceful ? "stopping gracefully" : "stopping") + ": master pid " +
                      std::to_string(getpid()) + "\n");
        m.request_stop(graceful, "control socket");
    } else if (command == "reopen") {
        bool ok;
        session->send(m.reopen_logs("control socket", ok));
    } else if (command == "reload --no-wait") {
        m.request_reload(nullptr, "control socket");
        session->send("reload requested\n");
    } else if (command == "reload") {
        // The session stays open until the reload's last line; if the CLI
        // hangs up, the reload goes on without it.
        m.request_reload(progress_to(session), "control socket");
        return;
    } else {
        session->send("error: unknown command \"" + command + "\"\n");
    }
    session->finish();
}

}  // namespace smooth
