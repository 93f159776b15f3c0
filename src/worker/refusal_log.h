// refusal_log: at most one log line per peer per interval for the links a
// worker refuses (link_session.h: no proof, a wrong one, a frame before it),
// with the count of refusals since that peer's last line.
//
// Whoever can reach a business worker's port can make it refuse a thousand
// links a second; a line for each would be a way to fill the disk. So:
//
//   note(peer, now) ──► a peer not seen for kIntervalMs: "say it now" (1)
//                   ──► seen within kIntervalMs:       counted, quiet (0)
//                   ──► the next one after it:         "say it now" (n: all since the last line)
//
// The table holds kPeers peers (the least recently reported one goes when a
// new peer needs its place, and its quiet count with it into the others').
// Peers beyond that share one more line per interval ("from other peers"),
// so a flood from many addresses costs at most kPeers + 1 lines per interval.
//
// Pure: the time is given (an injectable clock, as the drain's rules want),
// and nothing is logged here; the caller writes the line it is told to.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace smooth {

class RefusalLog {
public:
    static constexpr int64_t kIntervalMs = 10000;
    static constexpr size_t kPeers = 64;

    struct Line {
        uint64_t count = 0;   // 0: stay quiet; else the refusals this line reports
        bool others = false;  // for peers the table had no room for, not this one alone
    };

    // A refusal of `peer` (an address, or any name of the other end) at `now_ms`.
    Line note(std::string_view peer, int64_t now_ms);

private:
    struct Entry {
        std::string peer;
        int64_t said_ms = 0;  // when its last line was written
        uint64_t quiet = 0;   // refusals since, not yet in a line
    };
    static Line say_or_count(Entry& e, int64_t now_ms);

    std::vector<Entry> peers_;                         // at most kPeers
    Entry others_{"", INT64_MIN / 2, 0};               // the peers beyond them, together
};

}  // namespace smooth
