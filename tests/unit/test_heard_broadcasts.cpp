// test_heard_broadcasts: each business worker's broadcast reaches each client
// of a gateway worker once (worker/heard_broadcasts.h): heard on two links,
// delivered once; across a hand-over, the clients taken over and the
// successor's own each get what they had not had, whichever side was ahead
// at COMMIT; a worker's numbers go with its last link; and what a successor
// is handed.
#include "worker/heard_broadcasts.h"

#include "check.h"

#include <algorithm>
#include <string>

using namespace smooth;

namespace {

constexpr uint64_t kB = uint64_t(4242) << 32 | 7;  // a business worker: pid 4242, generation 7
constexpr uint64_t kC = uint64_t(4243) << 32 | 7;

std::string who(HeardBroadcasts::For f) {
    return std::string(f.own ? "own" : "") + (f.own && f.adopted ? "+" : "") + (f.adopted ? "adopted" : "") +
           (f.any() ? "" : "nobody");
}

void test_two_links_one_delivery() {
    HeardBroadcasts heard;
    EXPECT_EQ(who(heard.hear(kB, 1)), "own+adopted");
    EXPECT_EQ(who(heard.hear(kB, 1)), "nobody");  // the same, on the other link
    EXPECT_EQ(who(heard.hear(kB, 2)), "own+adopted");
    EXPECT_EQ(who(heard.hear(kC, 1)), "own+adopted");  // each business worker counts its own
    EXPECT_EQ(who(heard.hear(kB, 2)), "nobody");
}

void test_the_successor_ahead_at_commit() {
    // The successor read 18 and 19 on its own link before COMMIT; the
    // predecessor had delivered up to 17, and 18 and 19 wait unread in the
    // link taken over.
    HeardBroadcasts heard;
    for (uint64_t n = 1; n <= 19; n++) heard.hear(kB, n);
    heard.take_over({{kB, 17}});
    EXPECT_EQ(who(heard.hear(kB, 18)), "adopted");
    EXPECT_EQ(who(heard.hear(kB, 19)), "adopted");
    EXPECT_EQ(who(heard.hear(kB, 20)), "own+adopted");  // level again
    EXPECT_EQ(who(heard.hear(kB, 20)), "nobody");
}

void test_the_predecessor_ahead_at_commit() {
    // The other way: the predecessor delivered 12 and 13, still on their way
    // on the successor's own link.
    HeardBroadcasts heard;
    for (uint64_t n = 1; n <= 11; n++) heard.hear(kB, n);
    heard.take_over({{kB, 13}});
    EXPECT_EQ(who(heard.hear(kB, 12)), "own");
    EXPECT_EQ(who(heard.hear(kB, 13)), "own");
    EXPECT_EQ(who(heard.hear(kB, 12)), "nobody");  // the copy on the link taken over
    EXPECT_EQ(who(heard.hear(kB, 14)), "own+adopted");
}

void test_a_business_worker_only_one_side_knew() {
    HeardBroadcasts heard;
    heard.hear(kC, 5);    // the successor's own link to C; the predecessor had none
    heard.take_over({{kB, 3}});  // and the predecessor's to B, which the successor has not heard yet
    EXPECT_EQ(who(heard.hear(kC, 5)), "adopted");  // its clients never had it
    EXPECT_EQ(who(heard.hear(kB, 3)), "own");
    EXPECT_EQ(who(heard.hear(kB, 4)), "own+adopted");
}

void test_forget_and_hand_on() {
    HeardBroadcasts heard;
    heard.hear(kB, 9);
    heard.take_over({{kB, 4}, {kC, 7}});
    auto out = heard.for_successor();
    std::sort(out.begin(), out.end());
    EXPECT_EQ(out.size(), size_t(2));
    if (out.size() == 2) {
        EXPECT_EQ(out[0].second, uint64_t(9));  // the higher of the two
        EXPECT_EQ(out[1].second, uint64_t(7));
    }
    heard.forget(kB);  // its last link went
    EXPECT_EQ(heard.for_successor().size(), size_t(1));
    EXPECT_EQ(who(heard.hear(kB, 1)), "own+adopted");  // a worker heard from afresh
}

}  // namespace

int main() {
    test_two_links_one_delivery();
    test_the_successor_ahead_at_commit();
    test_the_predecessor_ahead_at_commit();
    test_a_business_worker_only_one_side_knew();
    test_forget_and_hand_on();
    return check::summary("heard_broadcasts");
}
