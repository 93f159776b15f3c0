// refusal_log: see refusal_log.h.
#include "worker/refusal_log.h"

#include <algorithm>

namespace smooth {

RefusalLog::Line RefusalLog::say_or_count(Entry& e, int64_t now_ms) {
    e.quiet++;
    if (now_ms - e.said_ms < kIntervalMs) return {};
    Line line{e.quiet, false};
    e.quiet = 0;
    e.said_ms = now_ms;
    return line;
}

RefusalLog::Line RefusalLog::note(std::string_view peer, int64_t now_ms) {
    for (Entry& e : peers_)
        if (e.peer == peer) return say_or_count(e, now_ms);

    // A peer not in the table: its first refusal is said at once, in a new
    // place or in the place of the peer reported longest ago, if that one's
    // interval is over (a peer still within it keeps its place, or its next
    // refusal would be said again at once).
    if (peers_.size() < kPeers) {
        peers_.push_back({std::string(peer), now_ms, 0});
        return {1, false};
    }
    Entry& oldest = *std::min_element(peers_.begin(), peers_.end(),
                                      [](const Entry& a, const Entry& b) { return a.said_ms < b.said_ms; });
    if (now_ms - oldest.said_ms >= kIntervalMs) {
        others_.quiet += oldest.quiet;  // counted in the others' next line, not lost
        oldest = {std::string(peer), now_ms, 0};
        return {1, false};
    }
    Line line = say_or_count(others_, now_ms);
    line.others = line.count > 0;
    return line;
}

}  // namespace smooth
