// client_queue: see client_queue.h.
#include "worker/client_queue.h"

#include <utility>

namespace smooth {

void ClientQueue::push_back(uint64_t seq, uint8_t kind, std::string_view payload) {
    auto node = std::make_unique<QueuedEvent>(QueuedEvent{seq, kind, std::string(payload), nullptr});
    QueuedEvent* last = node.get();
    if (tail_)
        tail_->next = std::move(node);
    else
        head_ = std::move(node);
    tail_ = last;
    size_++;
}

void ClientQueue::pop_front() {
    if (!head_) return;
    head_ = std::move(head_->next);  // the old head goes here, its successor kept
    if (!head_) tail_ = nullptr;
    size_--;
}

// Unlinked one node at a time, front to back: a long chain of unique_ptrs
// destroyed from its head would recurse once per node.
size_t ClientQueue::keep_first(size_t keep) {
    if (keep >= size_) return 0;
    std::unique_ptr<QueuedEvent> rest;
    if (keep == 0) {
        rest = std::move(head_);
        tail_ = nullptr;
    } else {
        QueuedEvent* last = head_.get();
        for (size_t i = 1; i < keep; i++) last = last->next.get();
        rest = std::move(last->next);
        tail_ = last;
    }
    size_ = uint32_t(keep);
    size_t bytes = 0;
    while (rest) {
        bytes += rest->payload.size();
        rest = std::move(rest->next);
    }
    return bytes;
}

}  // namespace smooth
