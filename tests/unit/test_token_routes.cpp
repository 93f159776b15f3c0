// test_token_routes: which link a business worker sends a gateway token's
// clients' messages on (worker/token_routes.h), driven with stand-in links
// through the story of a hand-over: the old gateway worker's link, its
// successor's link adopting the old token, the old link closing (the route
// moves, not lost), a gateway worker linking again, and the bound on the
// tokens of one link.
#include "worker/token_routes.h"

#include "check.h"

using namespace smooth;

namespace {

struct Link {
    const char* name;
};

constexpr uint32_t kOld = 0x1a2b3c4d;  // the old gateway worker's token
constexpr uint32_t kNew = 0x5e6f7081;  // its successor's

void test_adopt_keeps_the_route_and_close_moves_it() {
    TokenRoutes<Link> routes;
    Link old_link{"old"}, new_link{"new"};
    EXPECT_EQ(routes.prove(kOld, &old_link) == nullptr, true);
    EXPECT_EQ(routes.prove(kNew, &new_link) == nullptr, true);
    // The successor's link adopts the old token: the old link keeps its
    // route (messages on their way through it stay in order).
    EXPECT_EQ(routes.adopt(kOld, &new_link), true);
    EXPECT_EQ(routes.route(kOld), &old_link);
    EXPECT_EQ(routes.route(kNew), &new_link);
    int routed = 0;
    routes.for_each_routed_link([&](Link*) { routed++; });
    EXPECT_EQ(routed, 2);  // a broadcast goes on both: the gateway delivers it once
    // The old link closes (its business worker drained it): the old
    // token's clients are reached through the successor's link.
    routes.forget(&old_link);
    EXPECT_EQ(routes.route(kOld), &new_link);
    EXPECT_EQ(routes.route(kNew), &new_link);
    EXPECT_EQ(routes.links(), size_t(1));
    routed = 0;
    routes.for_each_routed_link([&](Link*) { routed++; });
    EXPECT_EQ(routed, 1);  // once per link, however many tokens it routes
    // Then the successor's link too: nobody speaks for either any more.
    routes.forget(&new_link);
    EXPECT_EQ(routes.route(kOld) == nullptr, true);
    EXPECT_EQ(routes.route(kNew) == nullptr, true);
    EXPECT_EQ(routes.tokens(), size_t(0));
    routes.forget(&new_link);  // twice: nothing
}

void test_a_token_nobody_else_speaks_for_is_dropped() {
    TokenRoutes<Link> routes;
    Link a{"a"}, b{"b"};
    routes.prove(kOld, &a);
    routes.prove(kNew, &b);
    routes.forget(&a);  // b never adopted kOld
    EXPECT_EQ(routes.route(kOld) == nullptr, true);
    EXPECT_EQ(routes.route(kNew), &b);
}

void test_the_route_moves_to_the_adopter_that_is_left() {
    // Two links adopted the token; the route goes to one of those that
    // remain, never to a link that has closed.
    TokenRoutes<Link> routes;
    Link owner{"owner"}, first{"first"}, second{"second"};
    routes.prove(kOld, &owner);
    routes.prove(kNew, &first);
    routes.prove(kNew + 1, &second);
    routes.adopt(kOld, &first);
    routes.adopt(kOld, &second);
    routes.forget(&owner);
    Link* next = routes.route(kOld);
    EXPECT_EQ(next == &first || next == &second, true);
    routes.forget(next);
    EXPECT_EQ(routes.route(kOld), next == &first ? &second : &first);
}

void test_linking_again_replaces_only_the_same_gateway() {
    TokenRoutes<Link> routes;
    Link before{"before"}, again{"again"}, adopter{"adopter"};
    routes.prove(kOld, &before);
    // The same gateway worker's new link: the caller closes the old one,
    // whose forget() leaves the new route alone.
    EXPECT_EQ(routes.prove(kOld, &again), &before);
    routes.forget(&before);
    EXPECT_EQ(routes.route(kOld), &again);
    // A token routed through a link that merely adopted it: its own
    // gateway's proof takes the route, and closes nothing.
    TokenRoutes<Link> other;
    other.prove(kNew, &adopter);
    other.adopt(kOld, &adopter);
    EXPECT_EQ(other.route(kOld), &adopter);
    EXPECT_EQ(other.prove(kOld, &again) == nullptr, true);
    EXPECT_EQ(other.route(kOld), &again);
    other.forget(&again);
    EXPECT_EQ(other.route(kOld), &adopter);  // it still speaks for it
}

void test_a_link_speaks_for_a_bounded_number_of_tokens() {
    TokenRoutes<Link> routes;
    Link link{"full"}, stranger{"never proven"};
    routes.prove(1, &link);
    for (uint32_t t = 2; t <= kMaxTokensPerLink; t++) EXPECT_EQ(routes.adopt(t, &link), true);
    EXPECT_EQ(routes.adopt(uint32_t(kMaxTokensPerLink) + 1, &link), false);
    EXPECT_EQ(routes.adopt(7, &link), true);  // one it speaks for already: no room needed
    EXPECT_EQ(routes.adopt(9, &stranger), false);
    EXPECT_EQ(routes.route(uint32_t(kMaxTokensPerLink) + 1) == nullptr, true);
}

}  // namespace

int main() {
    test_adopt_keeps_the_route_and_close_moves_it();
    test_a_token_nobody_else_speaks_for_is_dropped();
    test_the_route_moves_to_the_adopter_that_is_left();
    test_linking_again_replaces_only_the_same_gateway();
    test_a_link_speaks_for_a_bounded_number_of_tokens();
    return check::summary("token_routes");
}
