// test_accept_balance: when a worker steps back from a shared listener. The
// rule as a table, then AcceptBalance over a real (mapped) stats table whose
// rows stand for workers: who shares the listener, who accepts, who is gone.
#include "worker/accept_balance.h"

#include "check.h"

#include <string>
#include <sys/socket.h>
#include <unistd.h>

using namespace smooth;

namespace {

void test_rule() {
    struct Row {
        uint32_t mine, fewest;
        bool ahead;
    };
    const Row rows[] = {
        {0, 0, false},   {2, 0, false},   {3, 0, true},  // a couple of connections is not a gap
        {25, 25, false}, {26, 24, false}, {28, 24, false}, {29, 24, false}, {30, 24, true},
        {42, 8, true},   {50, 0, true},   {8, 42, false},  // the busy one steps back, the other never
        {1000, 888, false}, {1000, 887, true},             // an eighth of the peer's
    };
    for (const Row& r : rows)
        EXPECT_EQ_AT(balance::clearly_ahead(r.mine, r.fewest), r.ahead,
                     std::to_string(r.mine) + " vs " + std::to_string(r.fewest));
}

struct Fixture {
    StatsTable table;
    int sock[2] = {-1, -1};  // two sockets: two listeners with different inodes
    Fixture() {
        EXPECT_EQ(table.create(), std::string());
        EXPECT_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, sock), 0);
    }
    ~Fixture() {
        close(sock[0]);
        close(sock[1]);
    }
    // A row for a worker: pid, the listener it watches, accepting or not, connections.
    WorkerRow& worker(int pid, int listener_fd, bool accepting, uint32_t connections) {
        int i = table.allocate();
        WorkerRow& r = table.row(size_t(i));
        r.pid = pid;
        AcceptBalance(&table, &r).set_listener(listener_fd);
        r.accepting = accepting ? 1 : 0;
        r.connections = connections;
        return r;
    }
};

void test_peers() {
    Fixture f;
    WorkerRow& me = f.worker(100, f.sock[0], true, 40);
    AcceptBalance b(&f.table, &me);
    b.set_listener(f.sock[0]);
    int64_t now = 1000;

    EXPECT(!b.should_step_back(now));  // alone: always accepts

    f.worker(200, f.sock[1], true, 0);  // another listener's worker is no peer
    EXPECT(!b.should_step_back(now += balance::kPeerScanMs));

    WorkerRow& peer = f.worker(101, f.sock[0], false, 5);
    EXPECT(!b.should_step_back(now += balance::kPeerScanMs));  // a peer that does not accept cannot take over

    peer.accepting = 1;
    EXPECT(b.should_step_back(now));  // seen without a new scan: the row is re-read each time

    peer.connections = 37;
    EXPECT(!b.should_step_back(now));  // the gap has closed
    peer.connections = 5;

    AcceptBalance theirs(&f.table, &peer);
    theirs.set_listener(f.sock[0]);
    EXPECT(!theirs.should_step_back(now));  // the one with fewer never steps back

    b.set_accepting(false);  // stepped back: the peer must not count on us either
    peer.connections = 60;
    EXPECT(!theirs.should_step_back(now += balance::kPeerScanMs));

    peer.pid = 0;  // gone (its row given back): not a peer, even before the next scan
    EXPECT(!b.should_step_back(now));

    // A peer forked after the last scan counts from the next one on.
    WorkerRow& late = f.worker(102, f.sock[0], true, 0);
    EXPECT(!b.should_step_back(now + 1));
    EXPECT(b.should_step_back(now + balance::kPeerScanMs));
    late.pid = 0;
}

// Workers of one group start together: one that found no peer at its first
// look finds the peer that published its row since within kRecheckMs, not
// only at the next kPeerScanMs.
void test_alone_looks_again_soon() {
    Fixture f;
    WorkerRow& me = f.worker(100, f.sock[0], true, 20);
    AcceptBalance b(&f.table, &me);
    b.set_listener(f.sock[0]);
    int64_t now = 1000;
    EXPECT(!b.should_step_back(now));  // no peer yet
    WorkerRow& peer = f.worker(101, f.sock[0], true, 0);
    EXPECT(!b.should_step_back(now + 1));  // not looked again yet
    EXPECT(b.should_step_back(now += balance::kRecheckMs));
    EXPECT(b.should_step_back(now += balance::kRecheckMs));
    peer.pid = 0;
}

}  // namespace

int main() {
    test_rule();
    test_peers();
    test_alone_looks_again_soon();
    return check::summary("accept_balance");
}
