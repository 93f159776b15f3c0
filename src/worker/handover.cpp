// handover: see handover.h. The stream first, then the two sides.
#include "worker/handover.h"

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <sys/epoll.h>
#include <sys/socket.h>

#include "core/build_id.h"
#include "core/error.h"
#include "core/log.h"

namespace smooth {

namespace {

// Frames are written ahead of the socket up to this much: enough to keep it
// busy, little enough that ten thousand clients are never all in memory.
constexpr size_t kWriteAhead = 1 << 20;
constexpr size_t kReadChunk = 65536;
constexpr size_t kMaxFdsPerRead = 64;

// A test's way to see the middle of a hand-over: the successor waits this
// long before it confirms each connection (SMOOTH_HANDOVER_TEST_PAUSE_MS,
// never set in production; tests/integration/test_handover.py).
int64_t test_pause_ms() {
    static const int64_t ms = [] {
        const char* v = std::getenv("SMOOTH_HANDOVER_TEST_PAUSE_MS");
        return v ? std::atoll(v) : 0;
    }();
    return ms;
}

}  // namespace

// ---- HandoverStream ----

std::string HandoverStream::watch(OnFrame on_frame, OnGone on_gone, std::function<void()> on_drained) {
    on_frame_ = std::move(on_frame);
    on_gone_ = std::move(on_gone);
    on_drained_ = std::move(on_drained);
    interest_ = EPOLLIN;
    return loop_.watch(socket_.get(), interest_, [this](uint32_t events) { on_event(events); });
}

void HandoverStream::send(std::string frame, int fd) {
    queued_ += frame.size();
    out_.push_back({std::move(frame), 0, fd});
    write_some(false);
}

void HandoverStream::close() {
    if (socket_ && loop_.watching(socket_.get())) loop_.forget(socket_.get());
    socket_.reset();
    gone_ = true;
}

void HandoverStream::on_event(uint32_t events) {
    if (gone_) return;
    if (events & EPOLLOUT) write_some(true);
    if (!gone_ && (events & (EPOLLIN | EPOLLHUP | EPOLLERR))) read_some();
}

// One sendmsg per frame piece; a frame's descriptor rides on its first byte.
// The owner hears "drained" only from the loop (EPOLLOUT), never from inside
// its own send(): it refills from there, and a refill inside send() would
// recurse once per frame.
void HandoverStream::write_some(bool from_loop) {
    while (!gone_ && !out_.empty()) {
        Out& o = out_.front();
        iovec iov{o.bytes.data() + o.sent, o.bytes.size() - o.sent};
        msghdr msg{};
        msg.msg_iov = &iov;
        msg.msg_iovlen = 1;
        alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))];
        if (o.sent == 0 && o.fd >= 0) {
            std::memset(control, 0, sizeof control);
            msg.msg_control = control;
            msg.msg_controllen = sizeof control;
            cmsghdr* c = CMSG_FIRSTHDR(&msg);
            c->cmsg_level = SOL_SOCKET;
            c->cmsg_type = SCM_RIGHTS;
            c->cmsg_len = CMSG_LEN(sizeof(int));
            std::memcpy(CMSG_DATA(c), &o.fd, sizeof(int));
        }
        ssize_t n;
        do n = ::sendmsg(socket_.get(), &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
        while (n == -1 && errno == EINTR);
        if (n == -1 && errno == EAGAIN) break;
        if (n <= 0) {
            const std::string why = "sendmsg() failed on the hand-over socket: " + errno_text(errno);
            close();
            on_gone_(why);
            return;
        }
        o.sent += size_t(n);
        queued_ -= size_t(n);
        if (o.sent == o.bytes.size()) out_.pop_front();
    }
    if (gone_) return;
    update_interest();
    if (from_loop && out_.empty() && on_drained_) on_drained_();
}

void HandoverStream::read_some() {
    in_.reserve(kReadChunk);
    iovec iov{in_.write_ptr(), in_.writable()};
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * kMaxFdsPerRead)];
    msg.msg_control = control;
    msg.msg_controllen = sizeof control;
    ssize_t n;
    do n = ::recvmsg(socket_.get(), &msg, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
    while (n == -1 && errno == EINTR);
    if (n == -1 && errno == EAGAIN) return;
    // Descriptors first, even on EOF: each is ours to close once received.
    for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
        const size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (size_t i = 0; i < count; i++) {
            int fd;
            std::memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof fd);
            fds_.emplace_back(fd);
        }
    }
    if (msg.msg_flags & MSG_CTRUNC) {
        close();
        on_gone_("descriptors were cut off on the hand-over socket");
        return;
    }
    if (n <= 0) {
        const std::string why = n == 0 ? "the other side closed the hand-over socket"
                                       : "recvmsg() failed on the hand-over socket: " + errno_text(errno);
        close();
        on_gone_(why);
        return;
    }
    in_.commit(size_t(n));
    while (!gone_) {
        handover::Frame f;
        handover::Result r = handover::parse(in_.readable(), f);
        if (r.status == handover::Parse::Incomplete) break;
        if (r.status == handover::Parse::Error) {
            close();
            on_gone_(std::string("a bad hand-over frame: ") + r.error);
            return;
        }
        Fd fd;
        if (f.takes_fd()) {
            if (fds_.empty()) {
                close();
                on_gone_(std::string("a ") + handover::type_name(f.type) + " frame came without its descriptor");
                return;
            }
            fd = std::move(fds_.front());
            fds_.pop_front();
        }
        in_.consume(r.consumed);
        on_frame_(f, std::move(fd));
    }
    in_.shrink_if_idle();
}

void HandoverStream::update_interest() {
    uint32_t want = EPOLLIN | (out_.empty() ? 0u : uint32_t(EPOLLOUT));
    if (want == interest_) return;
    if (loop_.change(socket_.get(), want).empty()) interest_ = want;
}

// ---- HandoverSender: the old worker ----

std::string HandoverSender::start(Fd socket) {
    started_ms_ = loop_.now_ms();
    stream_ = std::make_unique<HandoverStream>(loop_, std::move(socket));
    if (std::string err = stream_->watch([this](const handover::Frame& f, Fd fd) { on_frame(f, std::move(fd)); },
                                         [this](const std::string& why) { fail(why); },
                                         [this] { send_more(); });
        !err.empty())
        return err;
    state_ = State::Greeting;
    std::string hello;
    handover::write_hello(hello, handover_format());
    stream_->send(std::move(hello));
    return "";
}

void HandoverSender::on_frame(const handover::Frame& f, Fd) {
    switch (f.type) {
        case handover::Type::Hello:
            if (state_ != State::Greeting) return fail("a second HELLO from the successor");
            if (f.version != handover_format())
                return fail("the successor reads hand-over format " + std::to_string(f.version) + ", this worker writes " +
                            std::to_string(handover_format()));
            // From here the connections are ours and still, until COMMIT.
            source_.pause_all();
            paused_ = true;
            total_ = uint32_t(source_.links() + source_.clients());
            state_ = State::Sending;
            send_more();
            return;
        case handover::Type::Confirm:
            if (f.count > total_) return fail("the successor confirmed more than it was sent");
            confirmed_ = f.count;
            commit_if_all_confirmed();
            return;
        case handover::Type::Refuse: return fail("the successor refused: " + f.reason);
        default: return fail(std::string("unexpected ") + handover::type_name(f.type) + " from the successor");
    }
}

// Frames as the socket takes them: links first (their events in flight name
// clients that follow), then clients, then END.
void HandoverSender::send_more() {
    if (state_ != State::Sending) return;
    while (stream_->queued() < kWriteAhead) {
        std::string frame;
        int fd;
        if (next_link_ < source_.links()) {
            fd = source_.write_link(next_link_++, frame);
        } else if (next_client_ < source_.clients()) {
            fd = source_.write_client(next_client_++, frame);
        } else {
            handover::write_end(frame, {source_.next_seq(), uint32_t(source_.clients()), uint32_t(source_.links()),
                                        source_.broadcasts()});
            state_ = State::Confirming;
            stream_->send(std::move(frame));
            commit_if_all_confirmed();
            return;
        }
        stream_->send(std::move(frame), fd);
    }
}

void HandoverSender::commit_if_all_confirmed() {
    if (state_ != State::Confirming || confirmed_ != total_) return;
    std::string commit;
    handover::write_commit(commit);
    stream_->send(std::move(commit));
    state_ = State::Ended;
    const size_t clients = source_.clients(), links = source_.links();  // (let_go forgets them)
    clients_moved_ = clients;
    source_.let_go();  // COMMIT is out: the successor owns them
    const int64_t took = loop_.now_ms() - started_ms_;
    done_(true, "handed over " + std::to_string(clients) + " connections and " + std::to_string(links) + " links in " +
                    std::to_string(took) + " ms");
}

void HandoverSender::fail(const std::string& why) {
    if (state_ == State::Ended || state_ == State::Idle) return;
    state_ = State::Ended;
    if (stream_) stream_->close();
    if (paused_) source_.resume_all();  // nothing moved: all of it is still ours
    log::warn("hand-over failed: %s; serving on", why.c_str());
    done_(false, why);
}

// ---- HandoverReceiver: the new worker ----

std::string HandoverReceiver::start(Fd socket) {
    stream_ = std::make_unique<HandoverStream>(loop_, std::move(socket));
    if (std::string err = stream_->watch([this](const handover::Frame& f, Fd fd) { on_frame(f, std::move(fd)); },
                                         [this](const std::string& why) { end(false, why); });
        !err.empty())
        return err;
    state_ = State::Greeting;
    return "";
}

void HandoverReceiver::on_frame(const handover::Frame& f, Fd fd) {
    std::string reply;
    switch (f.type) {
        case handover::Type::Hello:
            if (state_ != State::Greeting) return end(false, "a second HELLO");
            if (f.version != handover_format()) {
                handover::write_refuse(reply, "this worker reads hand-over format " + std::to_string(handover_format()));
                stream_->send(std::move(reply));
                return end(false, "the old worker writes hand-over format " + std::to_string(f.version));
            }
            handover::write_hello(reply, handover_format());
            stream_->send(std::move(reply));
            state_ = State::Receiving;
            return;
        case handover::Type::Link:
        case handover::Type::Client: {
            if (state_ != State::Receiving) return end(false, "a connection before HELLO");
            std::string err = f.type == handover::Type::Link ? sink_.adopt_link(f.link, std::move(fd))
                                                             : sink_.adopt_client(f.client, std::move(fd));
            installed_any_ = true;
            if (!err.empty()) {
                handover::write_refuse(reply, err);
                stream_->send(std::move(reply));
                return end(false, err);
            }
            installed_++;
            if (int64_t pause = test_pause_ms(); pause > 0) {
                // (A test hook: see test_pause_ms.) The confirm waits; so does the old worker.
                const uint32_t count = installed_;
                loop_.add_timer(pause * count, [this, count] {
                    if (state_ != State::Receiving) return EventLoop::kNoMore;
                    std::string confirm;
                    handover::write_confirm(confirm, count);
                    stream_->send(std::move(confirm));
                    return EventLoop::kNoMore;
                });
                return;
            }
            handover::write_confirm(reply, installed_);
            stream_->send(std::move(reply));
            return;
        }
        case handover::Type::End:
            if (state_ != State::Receiving) return end(false, "END before HELLO");
            end_ = f.end;
            if (f.end.clients + f.end.links != installed_)
                return end(false, "END counts " + std::to_string(f.end.clients + f.end.links) + ", " +
                                      std::to_string(installed_) + " came");
            return;
        case handover::Type::Commit:
            if (state_ != State::Receiving) return end(false, "COMMIT before HELLO");
            state_ = State::Ended;
            stream_->close();
            sink_.commit(end_);
            done_(true, "took over " + std::to_string(installed_) + " connections and links");
            return;
        default: return end(false, std::string("unexpected ") + handover::type_name(f.type) + " from the old worker");
    }
}

void HandoverReceiver::end(bool ok, const std::string& why) {
    if (state_ == State::Ended) return;
    state_ = State::Ended;
    if (stream_) stream_->close();
    if (installed_any_) sink_.discard();  // the old worker serves them on
    if (!ok) log::info("hand-over not taken: %s", why.c_str());
    done_(ok, why);
}

}  // namespace smooth
