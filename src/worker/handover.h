// handover: a gateway worker passes its connections to its successor, and
// no client notices that the process holding it was replaced.
//
// The seed keeps long connections alive by never reloading the group that
// holds them (reloadable = false). One step past it: when such a worker must
// go anyway (`./server upgrade`, or a reload of a group that says
// `reloadable = handover`), it hands every client connection and every link
// to the business workers over to the worker that takes its slot: the socket
// itself (SCM_RIGHTS, over a socketpair the master made: no path anyone can
// connect to) and everything it knows of it (protocol/handover.h): a message
// half received, bytes read and not handled, bytes written and not sent, a
// close under way, the client's id as business modules know it, its queued
// events and its place in its order. The successor goes on from the next
// byte in both directions.
//
//   old worker (HandoverSender)                new worker (HandoverReceiver)
//   ──────────────────────────                 ─────────────────────────────
//   told by the master: 'H' + its end          its end since its fork; READY
//   HELLO ─────────────────────────────────►   HELLO (same format version? else REFUSE)
//   stops reading and writing everything
//   that moves; LINK (+fd) ... CLIENT (+fd)
//   ... END ───────────────────────────────►   installs each, paused; CONFIRM n
//   all confirmed: COMMIT ─────────────────►   owns them: watches them, goes on
//   closes its copies (no shutdown: the        where they were
//   connections live on in the successor),
//   tells the master how many and how long,
//   drains what stays (plain HTTP), exits
//
// Never two owners, never none: until COMMIT the old worker owns everything
// (it has only stopped touching it); the new one has touched nothing. If the
// successor goes away before COMMIT (it crashed, its master was killed), the
// old worker takes everything back as it was and serves on, and tells the
// master the hand-over failed, so the reload or the upgrade rolls back. If
// the old worker goes away before COMMIT, the successor drops what it
// installed (it never read or wrote a byte of it); the connections die with
// the old worker, as they would have without a hand-over.
//
// Bounded: one frame at a time is written (what the socket takes, then the
// next), and the successor installs each as it is read. The descriptors come
// in the order of their frames (protocol/handover.h).
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <string>
#include <vector>

#include "core/buffer.h"
#include "core/event_loop.h"
#include "core/fd.h"
#include "protocol/handover.h"

namespace smooth {

// A stream socket that carries hand-over frames and, with some of them, a
// descriptor. Writes go out as the socket takes them (the owner is told when
// all is out); reads hand over each whole frame with its descriptor.
class HandoverStream {
public:
    using OnFrame = std::function<void(const handover::Frame& frame, Fd fd)>;
    using OnGone = std::function<void(const std::string& why)>;

    HandoverStream(EventLoop& loop, Fd socket) : loop_(loop), socket_(std::move(socket)) {}
    ~HandoverStream() { close(); }

    std::string watch(OnFrame on_frame, OnGone on_gone, std::function<void()> on_drained = nullptr);
    // Queues a frame (and a descriptor to go with its first byte, or -1).
    void send(std::string frame, int fd = -1);
    size_t queued() const { return queued_; }
    void close();

private:
    struct Out {
        std::string bytes;
        size_t sent = 0;
        int fd = -1;  // ours; a copy goes with the first byte
    };
    void on_event(uint32_t events);
    void write_some(bool from_loop);
    void read_some();
    void update_interest();

    EventLoop& loop_;
    Fd socket_;
    OnFrame on_frame_;
    OnGone on_gone_;
    std::function<void()> on_drained_;
    std::deque<Out> out_;
    size_t queued_ = 0;
    Buffer in_;
    std::deque<Fd> fds_;  // received, not yet paired with their frames
    uint32_t interest_ = 0;
    bool gone_ = false;
};

// What moves, as the old worker knows it (the Gateway implements it).
class HandoverSource {
public:
    virtual ~HandoverSource() = default;
    // Stops reading and writing everything that will move. Returns how many
    // links and clients there are; links() and clients() then list them.
    virtual void pause_all() = 0;
    virtual size_t links() const = 0;
    virtual size_t clients() const = 0;
    // The frame for the i-th link / client, and its descriptor (ours).
    virtual int write_link(size_t i, std::string& out) = 0;
    virtual int write_client(size_t i, std::string& out) = 0;
    virtual uint64_t next_seq() const = 0;
    // The last broadcast delivered, per business worker (handover::End).
    virtual std::vector<std::pair<uint64_t, uint64_t>> broadcasts() const = 0;
    // The successor went away: everything back as it was.
    virtual void resume_all() = 0;
    // COMMIT is out: close our copies, forget them (no CLOSE event: the
    // clients did not close).
    virtual void let_go() = 0;
};

// Where it lands, in the new worker (the Gateway implements it).
class HandoverSink {
public:
    virtual ~HandoverSink() = default;
    // Installs one, untouched until commit(). "" or why it cannot.
    virtual std::string adopt_link(const handover::LinkState& link, Fd fd) = 0;
    virtual std::string adopt_client(const handover::ClientState& client, Fd fd) = 0;
    // COMMIT: they are ours; go on where they were. `end` is the old
    // worker's END: its next seq and the broadcasts it delivered.
    virtual void commit(const handover::End& end) = 0;
    // The old worker went away before COMMIT: drop what was installed.
    virtual void discard() = 0;
};

class HandoverSender {
public:
    // `done(ok, summary)`: handed over (summary: how many, how long), or failed (why).
    using Done = std::function<void(bool ok, const std::string& summary)>;

    HandoverSender(EventLoop& loop, HandoverSource& source, Done done) : loop_(loop), source_(source), done_(std::move(done)) {}
    std::string start(Fd socket);
    bool running() const { return state_ != State::Idle && state_ != State::Ended; }
    size_t clients_moved() const { return clients_moved_; }  // once handed over

private:
    enum class State { Idle, Greeting, Sending, Confirming, Ended };
    void on_frame(const handover::Frame& f, Fd fd);
    void send_more();
    void commit_if_all_confirmed();
    void fail(const std::string& why);

    EventLoop& loop_;
    HandoverSource& source_;
    Done done_;
    std::unique_ptr<HandoverStream> stream_;
    State state_ = State::Idle;
    bool paused_ = false;
    size_t next_link_ = 0;
    size_t next_client_ = 0;
    uint32_t total_ = 0;
    uint32_t confirmed_ = 0;
    int64_t started_ms_ = 0;
    size_t clients_moved_ = 0;
};

class HandoverReceiver {
public:
    // `done(ok, summary)`: committed (how many), or dropped (why).
    using Done = std::function<void(bool ok, const std::string& summary)>;

    HandoverReceiver(EventLoop& loop, HandoverSink& sink, Done done) : loop_(loop), sink_(sink), done_(std::move(done)) {}
    std::string start(Fd socket);
    bool running() const { return state_ != State::Idle && state_ != State::Ended; }

private:
    enum class State { Idle, Greeting, Receiving, Ended };
    void on_frame(const handover::Frame& f, Fd fd);
    void end(bool ok, const std::string& why);

    EventLoop& loop_;
    HandoverSink& sink_;
    Done done_;
    std::unique_ptr<HandoverStream> stream_;
    State state_ = State::Idle;
    uint32_t installed_ = 0;
    handover::End end_;
    bool installed_any_ = false;
};

}  // namespace smooth
