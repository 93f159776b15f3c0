// heard_broadcasts: a business worker's BROADCAST reaches each client of a
// gateway worker once, however many links it comes on.
//
// A business worker numbers its broadcasts and sends each on every link a
// route leads to (business.h). A gateway worker with two links to one
// business worker (its own, and one it took over with clients from its
// predecessor: worker/handover.h) hears each broadcast twice, and delivers
// the first copy: the last number delivered, per business worker, says
// which is which.
//
// Across a hand-over there are two such numbers. Until COMMIT the clients
// taken over were their predecessor's, who delivered up to its number; the
// successor's own clients had theirs, up to the successor's. Either may be
// ahead: a broadcast read on the successor's own link before COMMIT is still
// unread in the link it takes over, and the other way round. So the clients
// are two cohorts (Gateway::Client::adopted), each with its own last number,
// until a broadcast past both brings them level:
//
//   business 4242/7   own: 19   adopted: 17     broadcast 18 -> adopted only
//                                               broadcast 19 -> nobody
//                                               broadcast 20 -> both, then 20/20
//
// A successor that hands over again passes on the higher of the two: a
// broadcast below it and above the other would have to be still unread on
// a link more than the time a new worker takes to start, which no link
// that is read is.
//
// No I/O: tests/unit/test_heard_broadcasts.cpp.
#pragma once

#include <algorithm>
#include <cstdint>
#include <unordered_map>
#include <utility>
#include <vector>

namespace smooth {

class HeardBroadcasts {
public:
    struct For {
        bool own = false;      // the clients this worker took itself (and those since COMMIT)
        bool adopted = false;  // the clients it took over
        bool any() const { return own || adopted; }
    };

    // Broadcast `number` of business worker `business` (pid << 32 | generation)
    // has come: who still needs it. Marks it delivered to them.
    For hear(uint64_t business, uint64_t number) {
        Last& last = last_[business];
        const For f{number > last.own, number > last.adopted};
        last.own = std::max(last.own, number);
        last.adopted = std::max(last.adopted, number);
        return f;
    }

    // Its last link is gone: a worker of that pid and generation is not heard again.
    void forget(uint64_t business) { last_.erase(business); }

    // At COMMIT: the clients taken over have had what their predecessor
    // delivered, and nothing from a business worker it did not name.
    void take_over(const std::vector<std::pair<uint64_t, uint64_t>>& predecessor) {
        for (auto& [business, last] : last_) last.adopted = 0;
        for (auto [business, number] : predecessor) last_[business].adopted = number;
    }

    // What this worker's successor takes over (above: the higher of the two).
    std::vector<std::pair<uint64_t, uint64_t>> for_successor() const {
        std::vector<std::pair<uint64_t, uint64_t>> out;
        out.reserve(last_.size());
        for (auto& [business, last] : last_) out.emplace_back(business, std::max(last.own, last.adopted));
        return out;
    }

private:
    struct Last {
        uint64_t own = 0;
        uint64_t adopted = 0;
    };
    std::unordered_map<uint64_t, Last> last_;
};

}  // namespace smooth
