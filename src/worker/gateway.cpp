// gateway: see gateway.h. The clients' side first, then the links' side.
#include "worker/gateway.h"

#include <algorithm>
#include <sys/random.h>

#include "core/log.h"
#include "protocol/link.h"
#include "protocol/websocket.h"
#include "worker/connection.h"
#include "worker/worker.h"

namespace smooth {

namespace {

constexpr int64_t kFirstRelinkMs = 50;    // a link that failed is tried again after this...
constexpr int64_t kMaxRelinkMs = 2000;    // ...doubling up to this

// A client with this many events (or bytes) waiting for the business is not
// read from until it is back down to the release marks: a flood from one
// client waits in its own socket, not in the queue every client shares.
constexpr size_t kHoldClientAt = 64;
constexpr size_t kHoldClientBytes = 1 << 20;
constexpr size_t kReleaseClientAt = 16;
constexpr size_t kReleaseClientBytes = 256 << 10;

uint32_t random_token() {
    uint32_t token = 0;
    while (token == 0)
        if (getrandom(&token, sizeof token, 0) != sizeof token) token = uint32_t(getpid()) * 2654435761u;
    return token;
}

}  // namespace

Gateway::Gateway(Worker& worker) : worker_(worker), token_(random_token()) {}

Gateway::~Gateway() { stop(); }

void Gateway::start() {
    const ListenAddress& at = worker_.group().backend_address;
    log::info("gateway: linking to the business workers at %s:%d and up (queue_limit %zu)", at.host.c_str(),
              int(at.port), worker_.group().queue_limit);
    ensure_links();
}

void Gateway::stop() {
    if (stopped_) return;
    stopped_ = true;
    if (relink_timer_) worker_.loop().cancel_timer(std::exchange(relink_timer_, 0));
    if (release_timer_) worker_.loop().cancel_timer(std::exchange(release_timer_, 0));
    for (auto& l : links_) l->close();
}

// ---- The clients' side ----

uint64_t Gateway::client_of_conn(uint64_t conn_id) const {
    const size_t fd = uint32_t(conn_id);
    if (fd >= id_of_fd_.size() || id_of_fd_[fd] == 0) return 0;
    auto it = clients_.find(id_of_fd_[fd]);
    return it != clients_.end() && it->second.conn_id == conn_id ? it->first : 0;
}

void Gateway::client_connected(Connection& c) {
    uint64_t id;
    do {
        id = uint64_t(token_) << 32 | next_client_++;
        if (next_client_ == 0) next_client_ = 1;  // 2^32 clients later: 0 stays "none"
    } while (clients_.count(id));                  // (one that old still waiting for its DONE)
    clients_[id].conn_id = c.id();
    const size_t fd = size_t(c.fd());
    if (fd >= id_of_fd_.size()) id_of_fd_.resize(fd + 256);
    id_of_fd_[fd] = id;
    enqueue(id, link::kConnect, "");
}

void Gateway::client_message(Connection& c, const smooth_message& msg) {
    const uint64_t id = client_of_conn(c.id());
    if (!id) return;
    const GroupConfig& g = worker_.group();
    const bool events_full = waiting_ >= g.queue_limit;
    if (events_full || queued_bytes_ + msg.data.len > g.queue_limit_bytes) {
        // Full: this client is told to come back later, and what it had
        // waiting is dropped with it, loudly: never a silent loss.
        Client& cl = clients_[id];
        const size_t keep = cl.in_flight ? 1 : 0;  // the one on a link goes on
        log::warn("gateway: %zu events (%zu bytes) held for the business workers (%s): closing %s with 1013, "
                  "%zu of its messages not delivered",
                  waiting_, queued_bytes_, events_full ? "queue_limit" : "queue_limit_bytes", c.peer().c_str(),
                  cl.waiting.size() - keep + 1);
        worker_.count_limit(Limit::QueueFull);
        waiting_ -= cl.waiting.size() - keep;
        const size_t dropped = cl.waiting.keep_first(keep);
        queued_bytes_ -= dropped;
        cl.bytes -= dropped;
        c.close_with(ws::kCloseTryAgainLater, "gateway queue full: try again later");
        publish_stats();
        return;
    }
    enqueue(id, uint8_t(msg.protocol), std::string_view(msg.data.data, msg.data.len));
}

void Gateway::client_closed(Connection& c) {
    const uint64_t id = client_of_conn(c.id());
    if (!id) return;
    id_of_fd_[size_t(c.fd())] = 0;
    clients_[id].conn_id = 0;
    enqueue(id, link::kClose, "");
}

size_t Gateway::queued_bytes_of(uint64_t conn_id) const {
    const uint64_t id = client_of_conn(conn_id);
    return id ? clients_.at(id).bytes : 0;
}

void Gateway::give_back_memory() {
    while (!id_of_fd_.empty() && id_of_fd_.back() == 0) id_of_fd_.pop_back();
    id_of_fd_.shrink_to_fit();
    clients_.rehash(0);  // as few buckets as the clients left need
}

// Queued without a number: it takes one as it leaves (next_seq_).
void Gateway::enqueue(uint64_t id, uint8_t kind, std::string_view payload) {
    Client& c = clients_[id];
    c.waiting.push_back(0, kind, payload);
    c.bytes += payload.size();
    waiting_++;
    queued_bytes_ += payload.size();
    hold_if_too_far_ahead(c);
    dispatch(id);
    publish_stats();
}

// A client gone everywhere (or moved to a successor): out of the table and the counts.
void Gateway::forget_client(std::unordered_map<uint64_t, Client>::iterator it) {
    Client& c = it->second;
    waiting_ -= c.waiting.size() - (c.in_flight ? 1 : 0);
    queued_bytes_ -= c.bytes;
    if (c.conn_id) {
        const size_t fd = uint32_t(c.conn_id);
        if (fd < id_of_fd_.size() && id_of_fd_[fd] == it->first) id_of_fd_[fd] = 0;
    }
    clients_.erase(it);
}

void Gateway::hold_if_too_far_ahead(Client& c) {
    if (c.held || !c.conn_id || (c.waiting.size() < kHoldClientAt && c.bytes < kHoldClientBytes)) return;
    if (Connection* conn = worker_.find(c.conn_id)) {
        conn->hold_input();
        c.held = true;
    }
}

// Released from a timer, not from here: we are inside a link's callback,
// and the client's buffered messages would be handled (and sent on links)
// in the middle of it.
void Gateway::release_if_caught_up(uint64_t id, Client& c) {
    if (!c.held || c.waiting.size() > kReleaseClientAt || c.bytes > kReleaseClientBytes) return;
    c.held = false;
    to_release_.push_back(id);
    if (release_timer_) return;
    release_timer_ = worker_.loop().add_timer(0, [this] {
        release_timer_ = 0;
        for (uint64_t n : std::exchange(to_release_, {})) {
            auto it = clients_.find(n);
            if (it == clients_.end() || it->second.held || !it->second.conn_id) continue;
            if (Connection* conn = worker_.find(it->second.conn_id)) conn->release_input();
        }
        return EventLoop::kNoMore;
    });
}

// A client's next event leaves only once the last one is DONE: its events
// are handled in the order sent, whichever business worker takes each.
void Gateway::dispatch(uint64_t id) {
    if (leaving_.paused) return;  // handing over: nothing leaves (gateway_handover.cpp)
    auto it = clients_.find(id);
    if (it == clients_.end()) return;
    Client& c = it->second;
    if (c.in_flight || c.waiting.empty()) return;
    GatewayLink* link = pick_link();
    if (!link) return;  // no business worker ready: it waits, in order
    // The event in flight stays first in line (no longer counted as waiting)
    // until its DONE: if its link is lost, it is sent again from there, with
    // a number of its own again.
    QueuedEvent& ev = c.waiting.front();
    ev.seq = next_seq_++;
    waiting_--;
    c.in_flight = true;
    link->send_event(ev.seq, id, ev.kind, ev.payload);
}

void Gateway::dispatch_all() {
    std::vector<uint64_t> ids;
    ids.reserve(clients_.size());
    for (auto& [id, c] : clients_)
        if (!c.in_flight && !c.waiting.empty()) ids.push_back(id);
    std::sort(ids.begin(), ids.end());  // the oldest clients of each token first
    for (uint64_t id : ids) dispatch(id);
    publish_stats();
}

GatewayLink* Gateway::pick_link() {
    for (size_t tried = 0; tried < links_.size(); tried++) {
        GatewayLink& l = *links_[next_link_++ % links_.size()];
        if (l.state() == GatewayLink::State::Ready) return &l;
    }
    return nullptr;
}

Gateway::Client* Gateway::client_of(uint64_t id) {
    auto it = clients_.find(id);  // another gateway worker's client is not here
    return it == clients_.end() ? nullptr : &it->second;
}

// Ours first: a link proves it; the others it ADOPTs (GatewayLink::speak_for).
std::vector<uint32_t> Gateway::tokens() const {
    std::vector<uint32_t> all{token_};
    all.insert(all.end(), adopted_tokens_.begin(), adopted_tokens_.end());
    return all;
}

// ---- The links' side ----

void Gateway::ensure_links() {
    if (stopped_ || leaving_.paused) return;  // (handing over: a new link would prove our token elsewhere)
    const ListenAddress& at = worker_.group().backend_address;
    const size_t max_frame = link::max_frame_for(worker_.group().max_request_bytes);
    bool failed = false;
    for (int slot = 0; slot < business_count_; slot++) {
        bool linked = std::any_of(links_.begin(), links_.end(), [slot](const auto& l) {
            return l->slot() == slot && l->state() != GatewayLink::State::Draining &&
                   l->state() != GatewayLink::State::Closed;
        });
        if (linked) continue;
        auto link = std::make_unique<GatewayLink>(*this, worker_.loop(), slot, at, max_frame, worker_.link_secret());
        if (std::string err = link->connect(token_); !err.empty()) {
            log::warn("gateway: cannot link to business slot %d: %s", slot, err.c_str());
            failed = true;
            continue;
        }
        links_.push_back(std::move(link));
    }
    if (failed) schedule_relink();
}

// A link that failed or went away without draining is tried again after a
// pause that doubles each time (kFirstRelinkMs up to kMaxRelinkMs), not in a
// tight loop; a link that says WELCOME resets the pause.
void Gateway::schedule_relink() {
    if (relink_timer_) return;
    relink_backoff_ms_ = std::min(std::max(relink_backoff_ms_ * 2, kFirstRelinkMs), kMaxRelinkMs);
    relink_timer_ = worker_.loop().add_timer(relink_backoff_ms_, [this] {
        relink_timer_ = 0;
        ensure_links();
        return EventLoop::kNoMore;
    });
}

void Gateway::link_ready(GatewayLink& link, int business_count) {
    log::info("gateway: linked to business %s", link.describe().c_str());
    relink_backoff_ms_ = 0;
    if (business_count > 0) business_count_ = business_count;
    link.speak_for(tokens());  // the clients taken over are reached through it too
    ensure_links();  // the count may have grown
    dispatch_all();
}

void Gateway::link_done(GatewayLink& link, uint64_t seq) {
    auto it = link.in_flight().find(seq);
    if (it == link.in_flight().end()) return;  // not ours to count (cannot happen with a well-behaved peer)
    const uint64_t id = it->second;
    link.in_flight().erase(it);
    // A number names one sending (next_seq_): the client's event in flight
    // is this one only if its number is this.
    auto c = clients_.find(id);
    if (c == clients_.end() || !c->second.in_flight || c->second.waiting.front().seq != seq) return;
    queued_bytes_ -= c->second.waiting.front().payload.size();
    c->second.bytes -= c->second.waiting.front().payload.size();
    c->second.waiting.pop_front();  // the event in flight: done
    c->second.in_flight = false;
    release_if_caught_up(id, c->second);
    if (c->second.conn_id == 0 && c->second.waiting.empty()) {
        clients_.erase(c);  // its CLOSE was the last: the client is gone everywhere
        publish_stats();
        return;
    }
    dispatch(id);
    publish_stats();
}

void Gateway::link_draining(GatewayLink& link) {
    log::info("gateway: business %s drains: nothing new goes to it", link.describe().c_str());
    ensure_links();  // its successor takes the slot's queued link
    publish_stats();
}

void Gateway::link_lost(GatewayLink& link, const std::string& why) {
    bool clean = link.state() == GatewayLink::State::Draining && link.in_flight().empty();
    const bool in_handshake = link.state() == GatewayLink::State::Greeting || link.state() == GatewayLink::State::Proving;
    if (clean)
        log::info("gateway: business %s has finished and closed its link", link.describe().c_str());
    else if (in_handshake)  // nothing was sent on it: a draining worker closes a link it has not proven
        log::info("gateway: business %s at %s closed the link in its handshake (%s); linking again",
                  link.describe().c_str(), link.address().c_str(), why.c_str());
    else
        log::warn("gateway: link to business %s lost (%s); %zu events in flight go back in line", link.describe().c_str(),
                  why.c_str(), link.in_flight().size());
    drop_link(link, clean);
}

// The business worker's proof does not hold: it has another secret than
// ours (each instance without link_secret_file makes its own), or it is not
// a business worker at all. Nothing was sent to it. Tried again as after any
// failed link (with the back-off), said once per address per interval.
void Gateway::link_unproven(GatewayLink& link) {
    RefusalLog::Line line = unproven_.note(link.address(), worker_.loop().now_ms());
    if (line.count)
        log::warn("gateway: business %s at %s does not prove it knows this instance's link secret: nothing is sent "
                  "to it (%llu %s since this line was last written; at most once per %llds). Two instances linked by backend = tcp://... need the same "
                  "secret: set [server] link_secret_file = PATH on both, to files of the same content (docs/links.md)",
                  link.describe().c_str(), link.address().c_str(), static_cast<unsigned long long>(line.count),
                  line.count == 1 ? "time" : "times", static_cast<long long>(RefusalLog::kIntervalMs / 1000));
    drop_link(link, false);
}

void Gateway::drop_link(GatewayLink& link, bool clean) {
    for (auto& [seq, id] : link.in_flight()) {
        auto c = clients_.find(id);
        if (c != clients_.end() && c->second.in_flight && c->second.waiting.front().seq == seq) {
            waiting_++;  // first in line again: sent to another worker
            c->second.in_flight = false;
        }
    }
    link.in_flight().clear();
    link.close();
    retire(link);
    // That business worker's broadcast count goes with its last link.
    const uint64_t business = link.business_id();
    if (std::none_of(links_.begin(), links_.end(), [business](const auto& l) { return l->business_id() == business; }))
        heard_.forget(business);
    if (clean)
        ensure_links();  // a drained worker: its successor is linked at once
    else
        schedule_relink();  // went away without draining, or a connect that failed
    dispatch_all();
}

void Gateway::retire(GatewayLink& link) {
    for (auto it = links_.begin(); it != links_.end(); ++it)
        if (it->get() == &link) {
            if (lost_.empty())
                worker_.loop().add_timer(0, [this] {
                    lost_.clear();
                    return EventLoop::kNoMore;
                });
            lost_.push_back(std::move(*it));
            links_.erase(it);
            return;
        }
}

void Gateway::deliver(uint64_t client, bool binary, std::string_view payload) {
    if (Client* c = client_of(client)) deliver_to(*c, binary, payload);
}

// A connection paused for the hand-over is skipped: what comes for it now
// comes on a link that does not move (one whose handshake ended meanwhile),
// whose other bytes go with it at let_go all the same; and a paused
// connection must not close (its descriptor is on its way to the successor).
void Gateway::deliver_to(Client& c, bool binary, std::string_view payload) {
    if (!c.conn_id) return;  // gone meanwhile: nothing to deliver to
    if (Connection* conn = worker_.find(c.conn_id); conn && !conn->paused()) {
        if (conn->group().listen.protocol == Protocol::Ws)
            conn->send_ws(payload.data(), payload.size(), binary);
        else
            conn->send(payload.data(), payload.size());
    }
}

void Gateway::broadcast(GatewayLink& link, uint64_t number, bool binary, std::string_view payload) {
    const HeardBroadcasts::For to = heard_.hear(link.business_id(), number);
    if (!to.any()) return;  // heard on another link already
    for (auto& [id, c] : clients_)
        if (c.adopted ? to.adopted : to.own) deliver_to(c, binary, payload);
}

void Gateway::kick(uint64_t client, uint16_t code) {
    Client* c = client_of(client);
    if (!c || !c->conn_id) return;
    if (Connection* conn = worker_.find(c->conn_id); conn && !conn->paused())  // (deliver_to says why)
        conn->close_with(code ? code : ws::kCloseNormal, "");
}

static_assert(size_t(GatewayLink::State::Closed) == kLinkStates, "the metrics count links by state (core/stats.h)");

void Gateway::publish_stats() {
    uint32_t ready = uint32_t(std::count_if(links_.begin(), links_.end(), [](const auto& l) {
        return l->state() == GatewayLink::State::Ready;
    }));
    worker_.stats().links.store(ready, std::memory_order_relaxed);
    // By state, for the metrics (core/stats.h names them in the same order).
    uint32_t by[kLinkStates] = {};
    for (const auto& l : links_)
        if (l->state() != GatewayLink::State::Closed) by[size_t(l->state())]++;
    for (size_t s = 0; s < kLinkStates; s++) worker_.stats().links_by[s].store(by[s], std::memory_order_relaxed);
    worker_.stats().queued.store(uint32_t(waiting_), std::memory_order_relaxed);
    worker_.stats().queued_bytes.store(queued_bytes_, std::memory_order_relaxed);
}

}  // namespace smooth
