// business: see business.h.
#include "worker/business.h"

#include <map>
#include <vector>

#include "core/log.h"
#include "protocol/link.h"
#include "worker/connection.h"
#include "worker/worker.h"

namespace smooth {

namespace {


}  // namespace

// ---- Business: client ids to links ----

void Business::add(uint32_t token, LinkSession* link) {
    links_[token] = link;
    worker_.stats().links.store(uint32_t(links_.size()), std::memory_order_relaxed);
}

void Business::remove(uint32_t token, LinkSession* link) {
    auto it = links_.find(token);
    if (it != links_.end() && it->second == link) links_.erase(it);
    worker_.stats().links.store(uint32_t(links_.size()), std::memory_order_relaxed);
}

int Business::send(uint64_t client, bool binary, std::string_view payload) {
    auto it = links_.find(uint32_t(client >> 32));
    if (it == links_.end()) return -1;
    std::string frame;
    link::write_send(frame, client, binary, payload);
    it->second->write_frame(frame);
    return 0;
}

int Business::send_many(const uint64_t* clients, size_t n, bool binary, std::string_view payload) {
    // One frame per gateway worker, naming its clients.
    std::map<uint32_t, std::vector<uint64_t>> by_gateway;
    for (size_t i = 0; i < n; i++) by_gateway[uint32_t(clients[i] >> 32)].push_back(clients[i]);
    int result = 0;
    for (auto& [token, ids] : by_gateway) {
        auto it = links_.find(token);
        if (it == links_.end()) {
            result = -1;
            continue;
        }
        std::string frame;
        link::write_send_many(frame, ids.data(), ids.size(), binary, payload);
        it->second->write_frame(frame);
    }
    return result;
}

int Business::broadcast(bool binary, std::string_view payload) {
    std::string frame;
    link::write_broadcast(frame, binary, payload);
    for (auto& [token, link] : links_) link->write_frame(frame);
    return 0;
}

int Business::close(uint64_t client, uint16_t code) {
    auto it = links_.find(uint32_t(client >> 32));
    if (it == links_.end()) return -1;
    std::string frame;
    link::write_kick(frame, client, code);
    it->second->write_frame(frame);
    return 0;
}

// ---- LinkSession: one gateway worker's link ----

LinkSession::LinkSession(Connection& conn, Business& business) : conn_(conn), business_(business) {}

LinkSession::~LinkSession() {
    if (token_) business_.remove(token_, this);
}

void LinkSession::on_open() {
    conn_.set_state(Connection::State::Streaming);
    conn_.set_nodelay();  // events and answers are small: no Nagle delay
}

void LinkSession::on_input() {
    Buffer& in = conn_.in();
    const size_t max_frame = link::max_frame_for(conn_.group().max_request_bytes);
    while (!in.empty() && !conn_.closing() && conn_.state() != Connection::State::Closed) {
        link::Result r = link::parse_link_frame(in.readable(), max_frame);
        if (r.status == link::Parse::Incomplete) return;
        if (r.status == link::Parse::Error) {
            log::warn("closing the gateway link from %s: %s", conn_.peer().c_str(), r.error);
            in.clear();
            conn_.close_after_output(false);
            return;
        }
        bool more = handle(in.readable().substr(0, r.consumed));
        in.consume(r.consumed);
        if (!more) return;
    }
}

bool LinkSession::handle(std::string_view bytes) {
    const link::Frame f = link::parse_link_frame(bytes, bytes.size()).frame;
    Worker& w = conn_.worker();
    const smooth_module& m = w.module();
    switch (f.type) {
        case link::Type::Hello: {
            token_ = f.token;
            business_.add(token_, this);
            out_.clear();
            link::write_welcome(out_, uint32_t(w.pid()), uint16_t(w.slot()), uint16_t(conn_.group().count),
                                uint32_t(w.generation()), w.module_version());
            conn_.write(out_.data(), out_.size(), nullptr, 0);
            if (w.drain().active()) on_drain();  // a link that reached us after our drain began
            return true;
        }
        case link::Type::Event: {
            if (f.kind == link::kConnect) {
                if (m.on_connect) m.on_connect(w.handle(), f.client);
            } else if (f.kind == link::kClose) {
                if (m.on_close) m.on_close(w.handle(), f.client);
            } else {
                conn_.count_message();
                smooth_message msg{smooth_protocol(f.kind), module_str(f.payload), nullptr};
                if (m.on_message) m.on_message(w.handle(), f.client, &msg);
            }
            // Handled: the gateway may send this client's next event (to us or
            // to another worker). What the module sent is ahead of this in the
            // stream, so the gateway has the answers before it has the DONE.
            out_.clear();
            link::write_done(out_, f.seq);
            conn_.write(out_.data(), out_.size(), nullptr, 0);
            return conn_.state() != Connection::State::Closed;
        }
        case link::Type::DrainAck:
            // Everything the gateway sent before its ACK has been answered
            // above (the stream is in order): the hand-over is complete.
            conn_.close_after_output(true);
            return false;
        default:
            log::warn("closing the gateway link from %s: unexpected %s", conn_.peer().c_str(), link::type_name(f.type));
            conn_.close_after_output(false);
            return false;
    }
}

void LinkSession::on_drain() {
    if (draining_said_ || !token_) return;  // before HELLO there is no one to say it to; HELLO will
    draining_said_ = true;
    out_.clear();
    link::write_draining(out_);
    conn_.write(out_.data(), out_.size(), nullptr, 0);
}

void LinkSession::write_frame(const std::string& frame) {
    if (!conn_.closing()) conn_.write(frame.data(), frame.size(), nullptr, 0);
}

int LinkSession::close_soon() {
    conn_.close_after_output(false);
    return 0;
}

}  // namespace smooth
