// test_client_queue: a gateway client's queue of events (worker/client_queue.h)
// against a std::deque doing the same, step by step; what it keeps while
// empty (nothing on the heap); and a chain long enough that destroying it
// node by node recursively would overflow the stack.
#include "worker/client_queue.h"

#include "check.h"

#include <cstdlib>
#include <deque>
#include <new>
#include <random>
#include <string>

using namespace smooth;

// Every allocation of this program counted, to show that an empty queue makes none.
static size_t allocations = 0;
void* operator new(size_t n) {
    allocations++;
    if (void* p = std::malloc(n ? n : 1)) return p;
    throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, size_t) noexcept { std::free(p); }

namespace {

struct Model {
    uint64_t seq;
    uint8_t kind;
    std::string payload;
};

void expect_same(const ClientQueue& q, const std::deque<Model>& m, const std::string& where) {
    EXPECT_EQ_AT(q.size(), m.size(), where);
    EXPECT_EQ_AT(q.empty(), m.empty(), where);
    if (m.empty() || q.empty()) return;
    EXPECT_EQ_AT(q.front().seq, m.front().seq, where);
    EXPECT_EQ_AT(int(q.front().kind), int(m.front().kind), where);
    EXPECT_EQ_AT(q.front().payload, m.front().payload, where);
    // and the whole chain, in order
    const QueuedEvent* e = &q.front();
    for (const Model& x : m) {
        if (!e) {
            check::record(false, __FILE__, __LINE__, where + ": the chain is shorter than the model");
            return;
        }
        EXPECT_EQ_AT(e->seq, x.seq, where);
        e = e->next.get();
    }
    check::record(e == nullptr, __FILE__, __LINE__, where + ": the chain is longer than the model");
}

void test_empty_queue_costs_no_heap() {
    // (The checks are made after counting: a check's message allocates.)
    const size_t before = allocations;
    bool empty = false;
    size_t size = 1, dropped = 1;
    {
        ClientQueue q;
        empty = q.empty();
        size = q.size();
        q.pop_front();  // harmless when empty
        dropped = q.keep_first(0);
    }
    const size_t made = allocations - before;
    EXPECT(empty);
    EXPECT_EQ(size, size_t(0));
    EXPECT_EQ(dropped, size_t(0));
    EXPECT_EQ(made, size_t(0));
    // One event, and back to empty: one node, given back.
    ClientQueue q;
    const size_t at = allocations;
    q.push_back(1, 100, "");
    EXPECT(allocations > at);
    q.pop_front();
    EXPECT(q.empty());
    q.push_back(2, 2, "again after empty");
    EXPECT_EQ(q.front().seq, uint64_t(2));
    EXPECT_EQ(q.front().payload, "again after empty");
}

void test_random_against_a_deque() {
    std::mt19937 rng(1234);
    ClientQueue q;
    std::deque<Model> m;
    uint64_t seq = 1;
    for (int step = 0; step < 20000; step++) {
        const std::string where = "step " + std::to_string(step);
        switch (rng() % 10) {
            case 0:
            case 1:
            case 2:
            case 3: {  // enqueue: a payload of 0 to 40 bytes (past the string's inline room too)
                std::string payload(rng() % 41, char('a' + seq % 26));
                const uint8_t kind = uint8_t(rng() % 3 == 0 ? 100 : 1);
                q.push_back(seq, kind, payload);
                m.push_back({seq, kind, payload});
                seq++;
                break;
            }
            case 4:
            case 5:
            case 6: {  // DONE for the first
                q.pop_front();
                if (!m.empty()) m.pop_front();
                break;
            }
            case 7: {  // the queue is full: all but the one in flight dropped
                const size_t keep = rng() % 2;
                size_t want = 0;
                for (size_t i = keep; i < m.size(); i++) want += m[i].payload.size();
                if (keep < m.size()) m.resize(keep);
                EXPECT_EQ_AT(q.keep_first(keep), want, where);
                break;
            }
            default: break;
        }
        expect_same(q, m, where);
        // and appending after a cut works on the new tail
        if (step % 997 == 0) {
            q.push_back(seq, 1, "x");
            m.push_back({seq, 1, "x"});
            seq++;
            expect_same(q, m, where + " (after a cut)");
        }
    }
}

void test_keep_first_more_than_there_is() {
    ClientQueue q;
    q.push_back(1, 1, "one");
    q.push_back(2, 1, "two");
    EXPECT_EQ(q.keep_first(5), size_t(0));
    EXPECT_EQ(q.size(), size_t(2));
    EXPECT_EQ(q.keep_first(2), size_t(0));
    EXPECT_EQ(q.keep_first(1), size_t(3));
    EXPECT_EQ(q.size(), size_t(1));
    q.push_back(3, 1, "three");  // the tail moved back to the first
    q.pop_front();
    EXPECT_EQ(q.front().seq, uint64_t(3));
}

void test_a_long_chain_is_destroyed_without_recursion() {
    // Far more than any client may queue (the gateway holds one past 64
    // events), so that one node destroyed after another by recursion would
    // overflow the stack here.
    auto q = std::make_unique<ClientQueue>();
    for (uint64_t i = 0; i < 2'000'000; i++) q->push_back(i, 1, "");
    EXPECT_EQ(q->size(), size_t(2'000'000));
    q.reset();
    ClientQueue r;
    for (uint64_t i = 0; i < 2'000'000; i++) r.push_back(i, 1, "");
    EXPECT_EQ(r.keep_first(1), size_t(0));
    EXPECT_EQ(r.size(), size_t(1));
}

}  // namespace

int main() {
    test_empty_queue_costs_no_heap();
    test_random_against_a_deque();
    test_keep_first_more_than_there_is();
    test_a_long_chain_is_destroyed_without_recursion();
    return check::summary("client_queue");
}
