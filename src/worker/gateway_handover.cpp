// gateway_handover: the gateway's two ends of the hand-over (worker/handover.h).
//
//   the worker that goes (HandoverSource)       its successor (HandoverSink)
//   ─────────────────────────────────────       ────────────────────────────
//   pause_all: every client, and every          adopt_link, adopt_client: each built
//     Ready or Draining link, out of the          from its frame and descriptor, paused
//     loop; nothing is dispatched                 and set aside (arriving_): nothing
//   write_link, write_client: one frame           read, written or timed
//     each, as the stream takes them
//   let_go (COMMIT is out): our copies          commit: into the tables; every link
//     closed and forgotten: no shutdown,          ADOPTs every token; then each goes on
//     no close frame, no CLOSE event              where it was (output, input, queue)
//   resume_all (the successor went away         discard (the old worker went away
//     before COMMIT): all of it as it was         before COMMIT): our copies closed
//
// A link still connecting or in its handshake does not move: it is closed
// at let_go, and the successor has links of its own. A client moves whole:
// its id (as the business workers know it), its connection (connection.h),
// its queue of events with the one in flight and the link that carries it,
// whether its input is held. A client whose connection has closed while its
// last events still wait for the business moves too, without a descriptor:
// the business is owed its CLOSE.
#include <algorithm>
#include <cinttypes>

#include "core/log.h"
#include "protocol/handover.h"
#include "protocol/link.h"
#include "worker/connection.h"
#include "worker/gateway.h"
#include "worker/worker.h"

namespace smooth {

// ---- The worker that goes ----

void Gateway::pause_all() {
    leaving_.paused = true;
    leaving_.links.clear();
    leaving_.clients.clear();
    leaving_.link_of.clear();
    for (auto& l : links_)
        if (l->state() == GatewayLink::State::Ready || l->state() == GatewayLink::State::Draining) {
            l->pause();
            leaving_.links.push_back(l.get());
        }
    for (uint32_t i = 0; i < leaving_.links.size(); i++)
        for (auto& [seq, id] : leaving_.links[i]->in_flight()) leaving_.link_of[id] = i;
    leaving_.clients.reserve(clients_.size());
    for (auto& [id, c] : clients_) {
        leaving_.clients.push_back(id);
        if (c.conn_id)
            if (Connection* conn = worker_.find(c.conn_id)) conn->pause();
    }
    std::sort(leaving_.clients.begin(), leaving_.clients.end());
    log::info("gateway: handing over %zu clients and %zu links; they are paused meanwhile", leaving_.clients.size(),
              leaving_.links.size());
}

int Gateway::write_link(size_t i, std::string& out) {
    GatewayLink& link = *leaving_.links[i];
    handover::LinkState state;
    link.export_state(state);
    handover::write_link(out, state);
    return link.fd();
}

int Gateway::write_client(size_t i, std::string& out) {
    const uint64_t id = leaving_.clients[i];
    handover::ClientState state;
    auto it = clients_.find(id);
    Connection* conn = it != clients_.end() && it->second.conn_id ? worker_.find(it->second.conn_id) : nullptr;
    if (conn) {
        conn->export_state(state);
    } else {  // closed: its events move, owed to the business
        state.protocol = uint8_t(worker_.group().listen.protocol);
        state.conn_state = handover::kConnectionClosed;
        state.flags = handover::kConnectTold;
    }
    state.client = id;
    if (it != clients_.end()) {
        const Client& c = it->second;
        // Held is the gateway's word (the connection's flag may lag it by a
        // timer's pass: release_if_caught_up).
        state.flags = uint8_t((state.flags & ~handover::kHeld) | (c.held ? handover::kHeld : 0));
        c.waiting.for_each([&](const QueuedEvent& e) { state.waiting.push_back({e.seq, e.kind, e.payload}); });
        if (auto link = leaving_.link_of.find(id); c.in_flight && link != leaving_.link_of.end()) {
            state.in_flight_seq = c.waiting.front().seq;
            state.in_flight_link = link->second;
        }
    }
    handover::write_client(out, state);
    return conn ? conn->fd() : -1;
}

// The successor went away before COMMIT: it never touched a byte. Links
// first, so that what the clients' input brings has somewhere to go.
void Gateway::resume_all() {
    leaving_.paused = false;
    const std::vector<GatewayLink*> links = std::move(leaving_.links);
    const std::vector<uint64_t> ids = std::move(leaving_.clients);
    leaving_.links.clear();
    leaving_.clients.clear();
    leaving_.link_of.clear();
    for (GatewayLink* l : links) l->resume();  // (one lost here is retired, not freed: the pointers hold)
    for (uint64_t id : ids) {
        auto it = clients_.find(id);
        if (it == clients_.end() || !it->second.conn_id) continue;
        if (Connection* conn = worker_.find(it->second.conn_id)) conn->resume();
    }
    log::info("gateway: the hand-over did not happen; serving %zu clients on", ids.size());
    ensure_links();
    dispatch_all();
}

// COMMIT is out: the successor holds every socket that moved, and their
// events. Ours are closed without a word, and the clients forgotten here,
// counts and all, so the worker's drain sees what it still holds: the
// connections that did not move (plain HTTP, handshakes under way).
void Gateway::let_go() {
    for (GatewayLink* l : leaving_.links) {
        l->in_flight().clear();  // they moved with it
        l->close();
        retire(*l);
    }
    // The links that did not move (still linking): the successor has its own.
    while (!links_.empty()) {
        GatewayLink& l = *links_.back();
        l.close();
        retire(l);
    }
    for (uint64_t id : leaving_.clients) {
        auto it = clients_.find(id);
        if (it == clients_.end()) continue;
        Connection* conn = it->second.conn_id ? worker_.find(it->second.conn_id) : nullptr;
        forget_client(it);
        if (conn) worker_.let_go_connection(*conn);
    }
    log::info("gateway: handed over %zu clients and %zu links", leaving_.clients.size(), leaving_.links.size());
    leaving_.links.clear();
    leaving_.clients.clear();
    leaving_.link_of.clear();
    // Still paused: nothing leaves from here (the clients that came since,
    // WebSocket handshakes that finished meanwhile, are drained), and no
    // link is made again (stopped).
    stopped_ = true;
    if (relink_timer_) worker_.loop().cancel_timer(std::exchange(relink_timer_, 0));
    publish_stats();
}

// ---- Its successor ----

std::string Gateway::adopt_link(const handover::LinkState& state, Fd fd) {
    const GroupConfig& g = worker_.group();
    auto link = std::make_unique<GatewayLink>(*this, worker_.loop(), state.slot, g.backend_address,
                                              link::max_frame_for(g.max_request_bytes), worker_.link_secret());
    if (std::string err = link->adopt(std::move(fd), state); !err.empty())
        return "the link to business slot " + std::to_string(state.slot) + ": " + err;
    arriving_.links.push_back(std::move(link));
    return "";
}

std::string Gateway::adopt_client(const handover::ClientState& state, Fd fd) {
    const uint64_t id = state.client;
    const uint32_t token = uint32_t(id >> 32);
    char name[32];
    std::snprintf(name, sizeof name, "client %016" PRIx64, id);
    if (token == 0 || token == token_) return std::string(name) + ": its id's token is nobody's, or ours";
    if (clients_.count(id) || arriving_.clients.count(id)) return std::string(name) + " is here already";
    if (std::find(arriving_.tokens.begin(), arriving_.tokens.end(), token) == arriving_.tokens.end()) {
        if (arriving_.tokens.size() + 1 > link::kMaxAdoptedTokens)
            return std::string(name) + ": more than " + std::to_string(link::kMaxAdoptedTokens) +
                   " gateway tokens, more than a link can ADOPT";
        arriving_.tokens.push_back(token);
    }
    uint64_t conn_id = 0;
    if (state.has_connection()) {
        if (!fd) return std::string(name) + ": no descriptor came with it";
        std::string why;
        Connection* conn = worker_.adopt_connection(std::move(fd), state, why);
        if (!conn) return std::string(name) + ": " + why;
        conn_id = conn->id();
    }
    Client& c = arriving_.clients[id];
    c.conn_id = conn_id;
    c.adopted = true;
    c.held = conn_id && (state.flags & handover::kHeld);
    for (const handover::Event& e : state.waiting) {
        c.waiting.push_back(e.seq, e.kind, e.payload);
        c.bytes += e.payload.size();
    }
    // In flight only if the link it names carries it; else it is sent again
    // (at least once, as after a lost link).
    if (state.in_flight_seq && !state.waiting.empty() && state.waiting.front().seq == state.in_flight_seq &&
        state.in_flight_link < arriving_.links.size()) {
        const auto& carried = arriving_.links[state.in_flight_link]->in_flight();
        auto it = carried.find(state.in_flight_seq);
        c.in_flight = it != carried.end() && it->second == id;
    }
    return "";
}

// The order matters: every client is in the table before a link handles a
// byte (the links' input holds answers to them), every link speaks for every
// token before any event leaves on it, and the clients' input is handled
// last, when its events have links to go on.
void Gateway::commit(const handover::End& end) {
    next_seq_ = std::max(next_seq_, end.next_seq);
    heard_.take_over(end.broadcasts);
    for (uint32_t t : arriving_.tokens)
        if (std::find(adopted_tokens_.begin(), adopted_tokens_.end(), t) == adopted_tokens_.end())
            adopted_tokens_.push_back(t);
    std::vector<uint64_t> ids;
    ids.reserve(arriving_.clients.size());
    for (auto& [id, c] : arriving_.clients) {
        ids.push_back(id);
        waiting_ += c.waiting.size() - (c.in_flight ? 1 : 0);
        queued_bytes_ += c.bytes;
        if (c.conn_id) {
            const size_t fd = uint32_t(c.conn_id);
            if (fd >= id_of_fd_.size()) id_of_fd_.resize(fd + 256);
            id_of_fd_[fd] = id;
        }
    }
    clients_.merge(arriving_.clients);  // no id is in both (adopt_client)
    std::vector<GatewayLink*> links;
    for (auto& l : arriving_.links) {
        links.push_back(l.get());
        links_.push_back(std::move(l));
    }
    arriving_.links.clear();
    arriving_.tokens.clear();
    const std::vector<uint32_t> all = tokens();
    for (auto& l : links_) l->speak_for(all);
    for (GatewayLink* l : links) l->resume();
    std::sort(ids.begin(), ids.end());
    for (uint64_t id : ids) {
        auto it = clients_.find(id);
        if (it == clients_.end() || !it->second.conn_id) continue;
        if (Connection* conn = worker_.find(it->second.conn_id)) conn->resume();
    }
    log::info("gateway: took over %zu clients and %zu links (next event number %" PRIu64 ")", ids.size(),
              links.size(), next_seq_);
    dispatch_all();
}

void Gateway::discard() {
    for (auto& [id, c] : arriving_.clients)
        if (c.conn_id)
            if (Connection* conn = worker_.find(c.conn_id)) worker_.let_go_connection(*conn);
    for (auto& l : arriving_.links) l->close();  // never ours: no link_lost
    arriving_.clients.clear();
    arriving_.links.clear();
    arriving_.tokens.clear();
}

}  // namespace smooth
