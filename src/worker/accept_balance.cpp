// accept_balance: see accept_balance.h.
#include "worker/accept_balance.h"

#include <sys/stat.h>

namespace smooth {

void AcceptBalance::set_listener(int listener_fd) {
    struct stat st{};
    listener_ = fstat(listener_fd, &st) == 0 ? uint64_t(st.st_ino) : 0;
    mine_->listener.store(listener_, std::memory_order_relaxed);
}

void AcceptBalance::set_accepting(bool on) { mine_->accepting.store(on ? 1 : 0, std::memory_order_relaxed); }

// A scan reads two fields of each row in use (rows are ~12 KB apart), so it
// is done now and then, not at every accept: a peer forked since shows up at
// the next scan; one gone since is skipped by its pid. A worker that has found
// no peer yet (its peers start at the same moment it does) looks again sooner:
// one-by-one connections at start would otherwise all go to it for 250 ms.
void AcceptBalance::find_peers() {
    peers_.clear();
    const size_t end = table_->rows_in_use_end();
    for (size_t i = 0; i < end; i++) {
        const WorkerRow& r = table_->row(i);
        if (&r != mine_ && r.pid.load(std::memory_order_relaxed) != 0 &&
            r.listener.load(std::memory_order_relaxed) == listener_)
            peers_.push_back(&r);
    }
}

bool AcceptBalance::should_step_back(int64_t now_ms) {
    if (listener_ == 0) return false;
    const int64_t every = peers_.empty() ? balance::kRecheckMs : balance::kPeerScanMs;
    if (scanned_ms_ < 0 || now_ms - scanned_ms_ >= every) {
        find_peers();
        scanned_ms_ = now_ms;
    }
    bool any = false;
    uint32_t fewest = 0;
    for (const WorkerRow* r : peers_) {
        // Re-read: the row may have been given back, or taken by another process.
        if (r->pid.load(std::memory_order_relaxed) == 0 || r->listener.load(std::memory_order_relaxed) != listener_ ||
            r->accepting.load(std::memory_order_relaxed) == 0)
            continue;
        uint32_t n = r->connections.load(std::memory_order_relaxed);
        if (!any || n < fewest) fewest = n;
        any = true;
    }
    return any && balance::clearly_ahead(mine_->connections.load(std::memory_order_relaxed), fewest);
}

}  // namespace smooth
