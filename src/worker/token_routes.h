// token_routes: which link a business worker sends a gateway token's
// clients' messages on (business.h).
//
// A client's id names its gateway worker in its high 32 bits, the token that
// worker proved its link with. A gateway worker that took clients over from
// its predecessor (worker/handover.h) holds clients of several tokens, and
// says so on each of its links with ADOPT. So a token may have several links
// that speak for it, and the table keeps them all, with one of them the route:
//
//   token 0x1a2b  ── route ──► link A (proved 0x1a2b: the old gateway's own link,
//                 │                    now held by its successor)
//                 └─ speaks ─► link B (the successor's own link: ADOPT 0x1a2b)
//
//   - A link that proves a token becomes its route. If the route was a link
//     that had proved the same token, that is the same gateway worker come
//     back (its old connection not seen closed yet): the caller closes it.
//   - ADOPT keeps the route where it is: that link is the one the token's
//     messages are on their way through, and moving the route would let a
//     SEND overtake the SENDs before it.
//   - A link that closes gives each token it routed to another link that
//     speaks for it, if any: so when the predecessor's link goes (its
//     business worker drains it, say), the successor's own link goes on
//     carrying those clients' messages. A token nobody speaks for any more
//     has no route: its clients are gone.
//
// No I/O and nothing but pointers it is given: tests/unit/test_token_routes.cpp
// drives it with stand-in links. Links are few (one per gateway worker and
// business worker), tokens per link at most kMaxTokensPerLink: the searches
// over them are short.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <unordered_map>
#include <vector>

namespace smooth {

// Its proof's token and those it adopted: an ADOPT holds at most 255 (link.h).
inline constexpr size_t kMaxTokensPerLink = 1 + 255;

template <typename Link>
class TokenRoutes {
public:
    // A link whose proof held, for `token`. Returns the link this replaces
    // (the same gateway worker's previous link), or nullptr.
    Link* prove(uint32_t token, Link* link) {
        speaks_[link].assign(1, token);
        Link*& route = routes_[token];
        Link* previous = route;
        route = link;
        if (previous && previous != link && proved_by(previous) == token) return previous;
        return nullptr;
    }

    // ADOPT: the link speaks for one more token. False if it speaks for as
    // many as a link may (or is not a proven link).
    bool adopt(uint32_t token, Link* link) {
        auto it = speaks_.find(link);
        if (it == speaks_.end()) return false;
        std::vector<uint32_t>& tokens = it->second;
        if (std::find(tokens.begin(), tokens.end(), token) == tokens.end()) {
            if (tokens.size() >= kMaxTokensPerLink) return false;
            tokens.push_back(token);
        }
        routes_.emplace(token, link);  // an existing route stays (above)
        return true;
    }

    // The link has closed. Safe to call for a link never proven, or twice.
    void forget(Link* link) {
        auto it = speaks_.find(link);
        if (it == speaks_.end()) return;
        const std::vector<uint32_t> tokens = std::move(it->second);
        speaks_.erase(it);
        for (uint32_t token : tokens) {
            auto route = routes_.find(token);
            if (route == routes_.end() || route->second != link) continue;
            if (Link* next = another_speaker(token))
                route->second = next;
            else
                routes_.erase(route);
        }
    }

    Link* route(uint32_t token) const {
        auto it = routes_.find(token);
        return it == routes_.end() ? nullptr : it->second;
    }
    // The proven links (whether or not any route leads to them).
    size_t links() const { return speaks_.size(); }
    size_t tokens() const { return routes_.size(); }
    // Each link some route leads to, once.
    template <typename F>
    void for_each_routed_link(F f) const {
        std::vector<Link*> seen;
        for (auto& [token, link] : routes_)
            if (std::find(seen.begin(), seen.end(), link) == seen.end()) seen.push_back(link);
        for (Link* link : seen) f(link);
    }

private:
    uint32_t proved_by(Link* link) const {
        auto it = speaks_.find(link);
        return it == speaks_.end() || it->second.empty() ? 0 : it->second.front();
    }
    Link* another_speaker(uint32_t token) const {
        for (auto& [link, tokens] : speaks_)
            if (std::find(tokens.begin(), tokens.end(), token) != tokens.end()) return link;
        return nullptr;
    }

    std::unordered_map<uint32_t, Link*> routes_;               // token -> the link its messages go on
    std::unordered_map<Link*, std::vector<uint32_t>> speaks_;  // proven link -> its proof's token, then adopted ones
};

}  // namespace smooth
