// test_refusal_log: one line per peer per interval (worker/refusal_log.h),
// driven by a clock the test moves: the first refusal said at once, the
// rest counted quietly and said in the next line with their count; peers
// apart; a table full of active peers sharing one line for the others, and
// nothing counted lost when a quiet peer's place is taken.
#include "worker/refusal_log.h"

#include "check.h"

#include <string>

using namespace smooth;

namespace {

constexpr int64_t kInterval = RefusalLog::kIntervalMs;

void test_one_peer() {
    RefusalLog log;
    int64_t now = 1000;
    EXPECT_EQ(log.note("10.0.0.1", now).count, uint64_t(1));  // the first: said at once
    for (int i = 0; i < 500; i++) EXPECT_EQ(log.note("10.0.0.1", now + i).count, uint64_t(0));
    EXPECT_EQ(log.note("10.0.0.1", now + kInterval - 1).count, uint64_t(0));  // 501 quiet
    RefusalLog::Line line = log.note("10.0.0.1", now + kInterval);
    EXPECT_EQ(line.count, uint64_t(502));  // the quiet ones and this one
    EXPECT(!line.others);
    EXPECT_EQ(log.note("10.0.0.1", now + kInterval + 1).count, uint64_t(0));
    EXPECT_EQ(log.note("10.0.0.1", now + 3 * kInterval).count, uint64_t(2));
}

void test_peers_apart() {
    RefusalLog log;
    EXPECT_EQ(log.note("10.0.0.1", 0).count, uint64_t(1));
    EXPECT_EQ(log.note("10.0.0.2", 1).count, uint64_t(1));  // another address: its own line
    EXPECT_EQ(log.note("10.0.0.1", 2).count, uint64_t(0));
    EXPECT_EQ(log.note("10.0.0.2", 3).count, uint64_t(0));
    EXPECT_EQ(log.note("10.0.0.1", kInterval).count, uint64_t(2));
    EXPECT_EQ(log.note("10.0.0.2", kInterval).count, uint64_t(0));  // its interval began at 1
    EXPECT_EQ(log.note("10.0.0.2", kInterval + 1).count, uint64_t(3));
}

void test_full_table() {
    RefusalLog log;
    int64_t now = 0;
    for (size_t i = 0; i < RefusalLog::kPeers; i++)
        EXPECT_EQ(log.note("peer " + std::to_string(i), now).count, uint64_t(1));
    // Every place taken by a peer within its interval: the newcomers share a line.
    RefusalLog::Line first = log.note("newcomer 1", now + 1);
    EXPECT_EQ(first.count, uint64_t(1));
    EXPECT(first.others);
    for (int i = 2; i <= 1000; i++) EXPECT_EQ(log.note("newcomer " + std::to_string(i), now + 2).count, uint64_t(0));
    // peer 0 has a refusal counted quietly, then goes quiet itself.
    EXPECT_EQ(log.note("peer 0", now + 3).count, uint64_t(0));
    // Once the intervals are over, a newcomer takes the place of the peer
    // reported longest ago; peer 0's quiet refusal joins the others' count.
    now += kInterval + 10;
    for (size_t i = 1; i < RefusalLog::kPeers; i++) log.note("peer " + std::to_string(i), now);  // all said again
    RefusalLog::Line fresh = log.note("newcomer 1001", now);
    EXPECT_EQ(fresh.count, uint64_t(1));  // in peer 0's place, said at once
    EXPECT(!fresh.others);
    // The table is full again of peers within their interval: the next
    // newcomer goes to the others, whose line reports 999 + peer 0's 1 + itself.
    RefusalLog::Line others = log.note("newcomer 1002", now + 1);
    EXPECT(others.others);
    EXPECT_EQ(others.count, uint64_t(999 + 1 + 1));
}

}  // namespace

int main() {
    test_one_peer();
    test_peers_apart();
    test_full_table();
    return check::summary("refusal_log");
}
