// business: a business worker's side of the gateway pattern (gateway.h).
//
// Its listener (slot k's port) is where gateway workers connect; each such
// connection is a LinkSession (link_session.h), which must prove first that
// a gateway of this deployment is at the other end. The EVENTs of a proven
// link become the module's callbacks, with the client's id as the
// connection id:
//
//   EVENT connect  ->  on_connect(w, client)
//   EVENT message  ->  on_message(w, client, msg)     (then DONE)
//   EVENT close    ->  on_close(w, client)
//
// and what the module does with a client id goes back to the gateway worker
// holding that client (the id's high 32 bits name it): smooth_send,
// smooth_ws_send, smooth_send_many, smooth_broadcast, smooth_close. So the
// module reaches any client from any business worker, and keeps no
// connection state of its own: the seed's stateless business process.
//
// Business keeps two tables, and nothing else about its links:
//   pending  the links still in their handshake, oldest first, at most
//            kMaxPendingLinks: one more closes the oldest. So strangers who
//            connect and say nothing hold a few slots for a short while
//            (link_session.h: kHandshakeMs), never the places gateways need;
//   routes   the proven links and the gateway tokens each speaks for, at most
//            the group's max_connections links (token_routes.h): a link
//            enters exactly once, when its proof holds, and leaves when it
//            closes, whatever closed it; a token it routed then goes on
//            through another link that ADOPTed it.
//
// The drain (worker/drain.h) says DRAINING on every proven link and closes
// the others at once; each proven link goes on answering what it receives
// until the gateway's DRAIN_ACK, then closes. When the last link has closed,
// the worker's drain is over.
#pragma once

#include <cstdint>
#include <deque>
#include <string>
#include <string_view>

#include "worker/refusal_log.h"
#include "worker/token_routes.h"

namespace smooth {

class Worker;
class LinkSession;

// A stranger's connections wait for their proof in at most this many places.
inline constexpr size_t kMaxPendingLinks = 64;

class Business {
public:
    explicit Business(Worker& worker) : worker_(worker) {}

    // ---- The links' lifecycle (link_session.cpp) ----
    // Accepted, not proven yet. May close the oldest pending link.
    void pending(LinkSession& link);
    // Proven: from now on it carries the clients of gateway worker `token`. A
    // link of the same token already here is the same gateway worker come
    // back (its old connection not yet seen closed): that one is closed.
    void add(uint32_t token, LinkSession& link);
    // ADOPT: a proven link speaks for one more gateway token. False if it
    // speaks for as many as a link may already.
    bool adopt(uint32_t token, LinkSession& link);
    // Closed: out of both tables. Safe to call more than once.
    void forget(LinkSession& link);
    // One line per peer per interval (refusal_log.h) for a link refused, or
    // (went_away) for one that ended before its proof, not by our refusal
    // (its peer left; or the worker stops).
    void refused(const std::string& peer, const std::string& why, bool went_away = false);
    bool room_for_a_link() const;  // fewer proven links than max_connections

    // ---- What a module asks (module_api.cpp). Each returns 0, or -1 when no
    // link leads to that client's gateway worker any more, or the message is
    // larger than a link frame may be (logged). ----
    int send(uint64_t client, bool binary, std::string_view payload);
    int send_many(const uint64_t* clients, size_t n, bool binary, std::string_view payload);
    int broadcast(bool binary, std::string_view payload);  // 0, even with no link
    int close(uint64_t client, uint16_t code);

    size_t links() const { return routes_.links(); }

private:
    bool fits_a_frame(size_t fields, size_t payload, const char* what) const;
    void publish_stats();

    Worker& worker_;
    TokenRoutes<LinkSession> routes_;  // the proven links, and which one each gateway token's messages go on
    uint64_t broadcasts_ = 0;   // numbers this worker's BROADCASTs
    std::deque<LinkSession*> pending_;
    RefusalLog refusals_;
};

}  // namespace smooth
