// accept_balance: the workers that share one listener share its connections.
//
// With EPOLLEXCLUSIVE the kernel wakes the first idle worker in the
// listener's wait queue, and that worker accepts everything queued. Left to
// that, one worker ends up holding most of the connections: measured with 50
// keep-alive clients on 2 workers, 42 on one and 8 on the other; and after a
// reload all 50 on one worker, because each old worker's clients reconnect to
// whichever worker accepts at that moment (while slot 0 is replaced, only
// slot 1; while slot 1 is, only slot 0's new worker). The busy worker's
// requests then wait behind each other while the other one idles.
//
// So after each pass of accepts a worker compares itself with its peers (the
// processes whose stats row names the same listening socket and says they
// accept). If it holds clearly more connections than the least loaded of
// them, it steps back: it stops watching the listener, which takes it out of
// the kernel's wait queue, and the next connections wake the peer. It looks
// again every kRecheckMs (5 ms: when the peer it stepped back for starts
// draining, that is how long the queue may wait) and steps forward once the
// gap has closed.
//
//   - Someone always accepts: the worker with the fewest connections never
//     steps back, and a worker that finds no peer accepting does not either.
//     (Two workers reading each other's counts at the same moment can both
//     step back; the next look, kRecheckMs later, undoes it. Meanwhile
//     connections wait in the kernel's queue, none is refused.)
//   - Nothing already queued is left behind: a worker steps back only after
//     its pass has emptied the queue.
//   - Keep-alive connections move when they end: keepalive_requests (1000 by
//     default, as in nginx) closes a connection after that many requests, and
//     its client reconnects, to a worker with room.
#pragma once

#include <cstdint>
#include <vector>

#include "core/stats.h"

namespace smooth {

namespace balance {

// How far ahead counts as "clearly more": a couple of connections, plus an
// eighth of the peer's (nginx's accept_disabled uses the same eighth).
constexpr bool clearly_ahead(uint32_t mine, uint32_t fewest_peer) { return mine > fewest_peer + 2 + fewest_peer / 8; }

inline constexpr int kRecheckMs = 5;        // a worker that stepped back looks again this often
inline constexpr int64_t kPeerScanMs = 250; // who the peers are is looked up again this often

}  // namespace balance

class AcceptBalance {
public:
    // `table` is the whole stats table (read only), `mine` this worker's row.
    AcceptBalance(const StatsTable* table, WorkerRow* mine) : table_(table), mine_(mine) {}

    // Once the listener is known: its socket's inode names it in the stats
    // table (every process that shares the socket sees the same inode).
    void set_listener(int listener_fd);
    // What peers read: whether this worker is watching the listener now.
    void set_accepting(bool on);

    // Whether this worker holds clearly more connections than a peer that accepts.
    bool should_step_back(int64_t now_ms);

private:
    void find_peers();

    const StatsTable* table_;
    WorkerRow* mine_;
    uint64_t listener_ = 0;
    std::vector<const WorkerRow*> peers_;  // rows that named our listener when last scanned
    int64_t scanned_ms_ = -1;
};

}  // namespace smooth
