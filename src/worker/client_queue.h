// client_queue: one gateway client's events, in the order it sent them,
// waiting for a business worker (gateway.h).
//
//   head_ ──► [seq 7, MESSAGE "ping 1"] ──► [seq 9, MESSAGE "ping 2"] ──► [seq 12, CLOSE] ◄── tail_
//              on a link, or first in line    waiting                      waiting
//
// A list of nodes, one per event, because of what almost every client's queue
// is almost all the time: empty. An empty queue is two pointers and a count,
// no heap at all, so an idle WebSocket connection costs the gateway nothing
// here (a std::deque allocates about 544 bytes before its first element, in
// libstdc++: half of what an idle connection cost). A client's queue is short
// (the gateway holds a client's input past kHoldClientAt events), so one node
// per event costs one small allocation, given back at its DONE.
//
// No I/O, nothing shared: unit-tested on its own (tests/unit/test_client_queue.cpp).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace smooth {

struct QueuedEvent {
    uint64_t seq;
    uint8_t kind;  // a smooth_protocol value, or link::kConnect / link::kClose
    std::string payload;
    std::unique_ptr<QueuedEvent> next;
};

class ClientQueue {
public:
    ClientQueue() = default;
    ~ClientQueue() { clear(); }
    ClientQueue(const ClientQueue&) = delete;
    ClientQueue& operator=(const ClientQueue&) = delete;

    bool empty() const { return !head_; }
    size_t size() const { return size_; }
    // The first event (the one on a link, if any). Only when not empty.
    const QueuedEvent& front() const { return *head_; }
    QueuedEvent& front() { return *head_; }  // (its seq is given as it leaves: gateway.h)

    void push_back(uint64_t seq, uint8_t kind, std::string_view payload);
    void pop_front();
    // Keeps the first `keep` events and drops the rest; returns the payload
    // bytes dropped.
    size_t keep_first(size_t keep);
    void clear() { keep_first(0); }
    // Each event, first to last (a hand-over writes them down: worker/handover.h).
    template <typename F>
    void for_each(F f) const {
        for (const QueuedEvent* e = head_.get(); e; e = e->next.get()) f(*e);
    }

private:
    std::unique_ptr<QueuedEvent> head_;
    QueuedEvent* tail_ = nullptr;
    uint32_t size_ = 0;
};

}  // namespace smooth
