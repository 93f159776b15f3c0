// gateway: the seed's answer for long connections, in a gateway worker.
//
// The seed: "a group of processes holds the connections, its reloadable is
// false; the business logic runs in another group, and the two talk over TCP.
// A business change only needs the business processes restarted." Here:
//
//     clients ──► gateway worker ──── one link per business worker ────► business workers
//     (ws, text,   holds them,         (gateway_link.h, protocol/link.h)   run the module:
//      frame)      never reloaded                                          reloaded freely
//
// Every client event (connected, a message, closed) becomes an EVENT on a
// link, and the business module's answers (send to one client, to several,
// to all, close one) come back on it. What GatewayWorker loses, this keeps:
//
//   - No event is lost or answered twice across a business reload. A
//     draining business worker says DRAINING; the gateway answers DRAIN_ACK and
//     sends it nothing more; the worker answers (DONE) everything it received
//     before the ACK, then closes. An event is always either DONE or on
//     exactly one link.
//   - A client's events are handled in the order sent: each client has at
//     most one event in flight, the next leaves when the last is DONE. So
//     the events of all clients spread over every ready business worker,
//     while each client's stay in order.
//   - One client cannot fill the queue all clients share: past kHoldClientAt
//     events (or kHoldClientBytes) of its own waiting, its input is held
//     (not read, TCP's back-pressure) until the business has caught up.
//   - With no business worker ready (count = 1 while it is replaced, the
//     business instance restarting), events wait here in order, up to
//     queue_limit events and queue_limit_bytes of payload (those in flight
//     counted too); a client whose message finds it full is closed with 1013
//     (try again later), never silently dropped.
//   - A link lost without that hand-over (a business worker crashed) gives
//     its events in flight back to their queues: they are sent again, to
//     another worker (at least once; the drain path is exactly once).
//   - A link carries no event before both ends have proven they know the
//     link secret (protocol/link.h, docs/links.md); a business port that
//     cannot prove it gets nothing, and the log says what to do.
//
// Business worker k listens on the backend's port + k (the master keeps that
// listener, so a link made while slot k is being replaced waits in its queue
// for the new worker). The gateway links every slot 0..count-1, count as the
// business workers themselves report it (WELCOME), so a reload that changes
// the count is followed.
//
// A gateway worker that must go hands its clients and its links to its
// successor (worker/handover.h, gateway_handover.cpp): a client keeps its
// id, so the gateway holds clients of several tokens (its own, and those it
// took over), each id whole; and a link speaks for each of those tokens
// (ADOPT), so the business workers' answers find the clients wherever they
// are held now.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "smooth/module.h"
#include "worker/client_queue.h"
#include "worker/gateway_link.h"
#include "worker/handover.h"
#include "worker/heard_broadcasts.h"
#include "worker/refusal_log.h"

namespace smooth {

class Connection;
class Worker;

// The gateway is both ends of the hand-over itself, privately: what moves
// is its own tables (clients, links, their queues and numbers), so the code
// that moves them belongs with them, and the hand-over reaches it only
// through the two small interfaces, never through the Gateway's own API.
class Gateway : private HandoverSource, private HandoverSink {
public:
    explicit Gateway(Worker& worker);
    ~Gateway() override;

    void start();  // begin linking to the business workers
    void stop();   // the worker exits: links close

    // ---- A client's events (Worker::client_*) ----
    void client_connected(Connection& c);
    void client_message(Connection& c, const smooth_message& msg);
    void client_closed(Connection& c);
    // The payload bytes queued (or in flight) for a local connection's client.
    size_t queued_bytes_of(uint64_t conn_id) const;
    // After a burst of clients: the tables shrink to the clients left.
    void give_back_memory();

    // ---- What a link hears (gateway_link.cpp) ----
    void link_ready(GatewayLink& link, int business_count);
    void link_done(GatewayLink& link, uint64_t seq);
    void link_draining(GatewayLink& link);
    void link_lost(GatewayLink& link, const std::string& why);
    // Its CHALLENGE's proof does not hold: not a business worker with our secret.
    void link_unproven(GatewayLink& link);
    void deliver(uint64_t client, bool binary, std::string_view payload);
    // A business worker's broadcast, numbered: delivered once however many
    // links it came on (a link taken over with clients: handover.h).
    void broadcast(GatewayLink& link, uint64_t number, bool binary, std::string_view payload);
    void kick(uint64_t client, uint16_t code);

    // ---- The hand-over (worker/handover.h, gateway_handover.cpp) ----
    HandoverSource& handover_source() { return *this; }  // in the worker that goes
    HandoverSink& handover_sink() { return *this; }      // in its successor

private:
    // What the gateway keeps of a client: 48 bytes while it is idle, no heap
    // of its own (client_queue.h), plus its entry in id_of_fd_ (8 bytes). Its
    // entry in clients_ is a node of the map: the 64-bit key takes the room
    // a 32-bit one left as padding, so the node is 64 bytes either way.
    struct Client {
        uint64_t conn_id = 0;       // the local connection; 0 once it has closed
        size_t bytes = 0;           // the payloads in `waiting`
        ClientQueue waiting;        // in order; while one is in flight, it is the first
        bool in_flight = false;     // waiting.front() is on a link
        bool held = false;          // its input is held (kHoldClientAt)
        bool adopted = false;       // taken over from a predecessor (heard_broadcasts.h)
    };
    static_assert(sizeof(Client) <= 48, "an idle client costs what the comment above says");

    Client* client_of(uint64_t client_id);
    uint64_t client_of_conn(uint64_t conn_id) const;  // the client id, 0: none
    void enqueue(uint64_t id, uint8_t kind, std::string_view payload);
    void dispatch(uint64_t id);
    void dispatch_all();
    void deliver_to(Client& c, bool binary, std::string_view payload);
    GatewayLink* pick_link();
    void ensure_links();
    void schedule_relink();
    void forget_closed_links();
    void drop_link(GatewayLink& link, bool clean);
    void retire(GatewayLink& link);  // out of links_, freed after the callbacks on the stack
    void publish_stats();
    void hold_if_too_far_ahead(Client& c);
    void release_if_caught_up(uint64_t id, Client& c);
    void forget_client(std::unordered_map<uint64_t, Client>::iterator it);  // its counts too
    std::vector<uint32_t> tokens() const;  // every token whose clients are here, ours first

    // ---- HandoverSource: the worker that goes (gateway_handover.cpp) ----
    void pause_all() override;
    size_t links() const override { return leaving_.links.size(); }
    size_t clients() const override { return leaving_.clients.size(); }
    int write_link(size_t i, std::string& out) override;
    int write_client(size_t i, std::string& out) override;
    uint64_t next_seq() const override { return next_seq_; }
    std::vector<std::pair<uint64_t, uint64_t>> broadcasts() const override { return heard_.for_successor(); }
    void resume_all() override;
    void let_go() override;
    // ---- HandoverSink: its successor ----
    std::string adopt_link(const handover::LinkState& link, Fd fd) override;
    std::string adopt_client(const handover::ClientState& client, Fd fd) override;
    void commit(const handover::End& end) override;
    void discard() override;

    Worker& worker_;
    uint32_t token_;             // who we are to the business workers (random, per process)
    uint32_t next_client_ = 1;
    // Each sending of an event takes the next number as it leaves, not when
    // it is queued: a number names one event on one link, once in this
    // process (link_done's check), an event sent again after a lost link
    // included. A successor goes on from its predecessor's next number
    // (commit): the numbers still in flight on the links it took over are
    // all below it, and the events it took over waiting have none yet.
    uint64_t next_seq_ = 1;
    size_t waiting_ = 0;         // events waiting in all queues
    size_t queued_bytes_ = 0;    // their payloads, and those in flight: what queue_limit_bytes bounds
    int business_count_ = 1;     // as the business workers last said
    size_t next_link_ = 0;       // round-robin position
    std::unordered_map<uint64_t, Client> clients_;     // by client id, whichever token it names
    // A local connection's client id, by the connection's fd (the fd is its
    // id's low half; client_of_conn() checks the whole id): 8 bytes a connection.
    std::vector<uint64_t> id_of_fd_;
    std::vector<uint32_t> adopted_tokens_;  // the tokens of the clients taken over (every link ADOPTs them)
    std::vector<std::unique_ptr<GatewayLink>> links_;
    std::vector<std::unique_ptr<GatewayLink>> lost_;   // freed outside their own callbacks
    std::vector<uint64_t> to_release_;  // clients whose hold ends, released from a timer of their own
    uint64_t release_timer_ = 0;
    uint64_t relink_timer_ = 0;
    int64_t relink_backoff_ms_ = 0;
    RefusalLog unproven_;  // one line per business address per interval
    // The last broadcast delivered, per business worker: what came already on
    // another link is not delivered again. Entries go with the worker's last link.
    HeardBroadcasts heard_;
    bool stopped_ = false;

    // The hand-over. What it holds while under way, besides the connections
    // themselves: in the worker that goes, the list of what moves (a pointer
    // a link, 8 bytes a client, and where each event in flight is) while the
    // frames are written one at a time (worker/handover.cpp bounds how many
    // wait unsent); in its successor, each link and client installed, with
    // its buffers and queued events, until COMMIT. Until then the old worker
    // keeps its copy of all of it: what the clients' buffers hold is held
    // twice, once in each process, for the hand-over's length.
    struct Leaving {
        bool paused = false;
        std::vector<GatewayLink*> links;   // Ready or Draining, in the order sent
        std::vector<uint64_t> clients;     // by id
        std::unordered_map<uint64_t, uint32_t> link_of;  // client id -> the link its event in flight is on
    } leaving_;
    struct Arriving {
        std::vector<std::unique_ptr<GatewayLink>> links;  // in the order received
        std::unordered_map<uint64_t, Client> clients;    // by id; their connections paused
        std::vector<uint32_t> tokens;                     // the tokens their ids name
    } arriving_;
};

}  // namespace smooth
