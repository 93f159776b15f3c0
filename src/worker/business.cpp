// business: see business.h.
#include "worker/business.h"

#include <algorithm>
#include <map>
#include <vector>

#include "core/log.h"
#include "protocol/link.h"
#include "worker/connection.h"
#include "worker/link_session.h"
#include "worker/worker.h"

namespace smooth {

// ---- The links' lifecycle ----

void Business::pending(LinkSession& link) {
    pending_.push_back(&link);
    // The oldest has had the longest to prove itself; a gateway's handshake
    // takes a round trip, so the one that goes is almost surely a stranger.
    while (pending_.size() > kMaxPendingLinks) {
        LinkSession* oldest = pending_.front();
        pending_.pop_front();
        oldest->refuse("closed unproven: " + std::to_string(kMaxPendingLinks) +
                       " other links were waiting for their proof (the oldest goes)");
    }
}

void Business::add(uint32_t token, LinkSession& link) {
    if (auto it = std::find(pending_.begin(), pending_.end(), &link); it != pending_.end()) pending_.erase(it);
    LinkSession* previous = routes_.prove(token, &link);
    publish_stats();
    if (previous) {
        log::info("links: gateway worker %08x linked again from %s: closing its previous link from %s", token,
                  link.peer().c_str(), previous->peer().c_str());
        previous->close_now();  // its forget() leaves the route alone: it is no longer the one there
    }
}

// ADOPT: a proven link speaks for more tokens (clients its gateway worker
// took over). The route stays where it is (token_routes.h); this link takes
// it over when that one closes.
bool Business::adopt(uint32_t token, LinkSession& link) {
    if (token == 0) return true;  // nobody's: ignored
    const bool taken = routes_.adopt(token, &link);
    publish_stats();
    return taken;
}

void Business::forget(LinkSession& link) {
    if (auto it = std::find(pending_.begin(), pending_.end(), &link); it != pending_.end()) pending_.erase(it);
    routes_.forget(&link);
    publish_stats();
}

void Business::refused(const std::string& peer, const std::string& why, bool went_away) {
    const std::string address = peer.substr(0, peer.rfind(':'));  // per address, whatever port it comes from
    RefusalLog::Line line = refusals_.note(address, worker_.loop().now_ms());
    if (line.count == 0) return;
    const std::string n = std::to_string(line.count);
    const std::string count =
        line.others       ? "; " + n + " from addresses beyond the " + std::to_string(RefusalLog::kPeers) +
                                " tracked since their last line"
        : line.count == 1 ? " (at most one line per " + std::to_string(RefusalLog::kIntervalMs / 1000) + "s for " +
                                address + ")"
                          : "; " + n + " from " + address + " since its last line";
    // A link that ends unproven (almost always its peer leaving) is no
    // threat: it costs nothing now. But a gateway whose secret differs
    // leaves so: said, as information.
    if (went_away)
        log::info("links: a link from %s ended before its proof: %s%s", peer.c_str(), why.c_str(), count.c_str());
    else
        log::warn("links: refused a link from %s: %s%s", peer.c_str(), why.c_str(), count.c_str());
}

bool Business::room_for_a_link() const { return routes_.links() < size_t(worker_.group().max_connections); }

void Business::publish_stats() {
    worker_.stats().links.store(uint32_t(routes_.links()), std::memory_order_relaxed);
    worker_.stats().links_by[size_t(LinkState::Ready)].store(uint32_t(routes_.links()), std::memory_order_relaxed);
}

// ---- What a module asks ----

// A message larger than the link's frames may be would make the gateway close
// the link, and its events sent again would bring the same message back: the
// module is told (-1) instead.
bool Business::fits_a_frame(size_t fields, size_t payload, const char* what) const {
    const size_t max_frame = link::max_frame_for(worker_.group().max_request_bytes);
    if (link::kHeaderBytes + fields + payload <= max_frame) return true;
    log::warn("links: %s of %zu bytes not sent: a link frame holds at most %zu (max_request_bytes + %zu)", what,
              payload, max_frame, link::kFieldsRoom);
    return false;
}

int Business::send(uint64_t client, bool binary, std::string_view payload) {
    LinkSession* link = routes_.route(uint32_t(client >> 32));
    if (!link || !fits_a_frame(9, payload.size(), "smooth_send")) return -1;
    std::string frame;
    link::write_send(frame, client, binary, payload);
    link->write_frame(frame);
    return 0;
}

int Business::send_many(const uint64_t* clients, size_t n, bool binary, std::string_view payload) {
    // One frame per gateway worker, naming its clients (several frames for a
    // list longer than one may hold: link.h, kMaxClientsPerFrame).
    if (!fits_a_frame(4 + 1, payload.size(), "smooth_send_many")) return -1;
    std::map<uint32_t, std::vector<uint64_t>> by_gateway;
    for (size_t i = 0; i < n; i++) by_gateway[uint32_t(clients[i] >> 32)].push_back(clients[i]);
    int result = 0;
    for (auto& [token, ids] : by_gateway) {
        for (size_t from = 0; from < ids.size(); from += link::kMaxClientsPerFrame) {
            LinkSession* route = routes_.route(token);  // looked up each time: a write may have closed the link
            if (!route) {
                result = -1;
                break;
            }
            std::string frame;
            link::write_send_many(frame, ids.data() + from, std::min(link::kMaxClientsPerFrame, ids.size() - from),
                                  binary, payload);
            route->write_frame(frame);
        }
    }
    return result;
}

int Business::broadcast(bool binary, std::string_view payload) {
    if (!fits_a_frame(9, payload.size(), "smooth_broadcast")) return -1;
    std::string frame;
    // Numbered: a gateway worker that took clients over keeps its
    // predecessor's link too, and hears this on both (handover.h).
    link::write_broadcast(frame, ++broadcasts_, binary, payload);
    // Once per link a route leads to, however many tokens it routes (the
    // table hands over a copy of the list: a write may close its link, a
    // gateway that reads nothing, and take it out of the table).
    routes_.for_each_routed_link([&](LinkSession* link) { link->write_frame(frame); });
    return 0;
}

int Business::close(uint64_t client, uint16_t code) {
    LinkSession* link = routes_.route(uint32_t(client >> 32));
    if (!link) return -1;
    std::string frame;
    link::write_kick(frame, client, code);
    link->write_frame(frame);
    return 0;
}

}  // namespace smooth
