// handover: see handover.h for the frames.
#include "protocol/handover.h"

#include "protocol/wire_ints.h"

namespace smooth::handover {

namespace {

using wire::put;
using wire::put_string;
using wire::Reader;

// Appends [length][type] for the fields written by `fields`, measured after.
template <typename Fields>
void frame(std::string& out, Type type, Fields&& fields) {
    const size_t at = out.size();
    out.append(kHeaderBytes, '\0');
    out[at + 4] = char(type);
    fields();
    const uint64_t length = out.size() - at - 4;  // the type and the fields
    for (size_t i = 0; i < 4; i++) out[at + i] = char(length >> (8 * (3 - i)));
}

bool read_link(Reader& r, LinkState& l) {
    l.slot = r.u16();
    l.state = r.u8();
    l.pid = r.u32();
    l.generation = r.u32();
    l.version = std::string(r.string());
    const uint16_t tokens = r.u16();
    if (tokens > kMaxTokens) return false;
    l.tokens.clear();
    for (uint16_t i = 0; i < tokens && r.ok; i++) l.tokens.push_back(r.u32());
    const uint32_t in_flight = r.u32();
    // Each entry takes 16 bytes: a count the frame cannot hold is refused
    // before anything is reserved for it.
    if (in_flight > r.rest.size() / 16) return false;
    l.in_flight.clear();
    l.in_flight.reserve(in_flight);
    for (uint32_t i = 0; i < in_flight; i++) {
        const uint64_t seq = r.u64();
        l.in_flight.emplace_back(seq, r.u64());
    }
    l.input = std::string(r.string());
    l.output = std::string(r.string());
    return r.ok;
}

bool read_client(Reader& r, ClientState& c) {
    c.client = r.u64();
    c.protocol = r.u8();
    c.peer_ip = r.u32();
    c.peer_port = r.u16();
    c.opened_ms = r.u64();
    c.bytes_in = r.u64();
    c.bytes_out = r.u64();
    c.conn_state = r.u8();
    c.flags = r.u8();
    c.deadline_ms = r.u32();
    c.ws_message_state = r.u8();
    if (c.ws_message_state > 2) return false;
    c.ws_message = std::string(r.string());
    c.input = std::string(r.string());
    c.output = std::string(r.string());
    c.log_request = std::string(r.string());
    c.in_flight_seq = r.u64();
    c.in_flight_link = r.u32();
    const uint32_t waiting = r.u32();
    if (waiting > r.rest.size() / 13) return false;  // seq, kind, a length: 13 bytes at least each
    c.waiting.clear();
    c.waiting.reserve(waiting);
    for (uint32_t i = 0; i < waiting && r.ok; i++) {
        Event e;
        e.seq = r.u64();
        e.kind = r.u8();
        e.payload = std::string(r.string());
        c.waiting.push_back(std::move(e));
    }
    return r.ok;
}

bool read_end(Reader& r, End& e) {
    e.next_seq = r.u64();
    e.clients = r.u32();
    e.links = r.u32();
    const uint32_t broadcasts = r.u32();
    if (broadcasts > r.rest.size() / 16) return false;  // 16 bytes each: a count the frame cannot hold
    e.broadcasts.clear();
    e.broadcasts.reserve(broadcasts);
    for (uint32_t i = 0; i < broadcasts; i++) {
        const uint64_t business = r.u64();
        e.broadcasts.emplace_back(business, r.u64());
    }
    return r.ok;
}

}  // namespace

Result parse(std::string_view in, Frame& out, size_t max_frame) {
    Result res;
    if (in.size() < kHeaderBytes) return res;  // Incomplete
    Reader head{in};
    const uint64_t length = head.u32();
    if (length < 1 || length + 4 > max_frame) {
        res.status = Parse::Error;
        res.error = length < 1 ? "empty hand-over frame" : "hand-over frame larger than the limit";
        return res;
    }
    if (in.size() < length + 4) return res;  // Incomplete: judged from the header alone
    Reader r{in.substr(kHeaderBytes, length - 1)};
    out.type = Type(static_cast<unsigned char>(in[4]));
    bool ok = true;
    switch (out.type) {
        case Type::Hello:
            ok = r.u32() == kMagic;
            out.version = r.u16();
            if (!ok) res.error = "not a hand-over stream (wrong magic)";
            break;
        case Type::Link: ok = read_link(r, out.link); break;
        case Type::Client: ok = read_client(r, out.client); break;
        case Type::End: ok = read_end(r, out.end); break;
        case Type::Commit: break;
        case Type::Confirm: out.count = r.u32(); break;
        case Type::Refuse:
            out.reason = std::string(r.rest);
            r.rest = {};
            break;
        default:
            res.status = Parse::Error;
            res.error = "unknown hand-over frame type";
            return res;
    }
    if (!ok || !r.ok || !r.rest.empty()) {
        res.status = Parse::Error;
        if (!*res.error) res.error = "hand-over frame fields do not fit its length";
        return res;
    }
    res.status = Parse::Complete;
    res.consumed = size_t(length) + 4;
    return res;
}

void write_hello(std::string& out, uint16_t version) {
    frame(out, Type::Hello, [&] {
        put(out, kMagic, 4);
        put(out, version, 2);
    });
}

void write_link(std::string& out, const LinkState& l) {
    frame(out, Type::Link, [&] {
        put(out, l.slot, 2);
        put(out, l.state, 1);
        put(out, l.pid, 4);
        put(out, l.generation, 4);
        put_string(out, l.version);
        put(out, l.tokens.size(), 2);
        for (uint32_t t : l.tokens) put(out, t, 4);
        put(out, l.in_flight.size(), 4);
        for (auto [seq, client] : l.in_flight) {
            put(out, seq, 8);
            put(out, client, 8);
        }
        put_string(out, l.input);
        put_string(out, l.output);
    });
}

void write_client(std::string& out, const ClientState& c) {
    frame(out, Type::Client, [&] {
        put(out, c.client, 8);
        put(out, c.protocol, 1);
        put(out, c.peer_ip, 4);
        put(out, c.peer_port, 2);
        put(out, c.opened_ms, 8);
        put(out, c.bytes_in, 8);
        put(out, c.bytes_out, 8);
        put(out, c.conn_state, 1);
        put(out, c.flags, 1);
        put(out, c.deadline_ms, 4);
        put(out, c.ws_message_state, 1);
        put_string(out, c.ws_message);
        put_string(out, c.input);
        put_string(out, c.output);
        put_string(out, c.log_request);
        put(out, c.in_flight_seq, 8);
        put(out, c.in_flight_link, 4);
        put(out, c.waiting.size(), 4);
        for (const Event& e : c.waiting) {
            put(out, e.seq, 8);
            put(out, e.kind, 1);
            put_string(out, e.payload);
        }
    });
}

void write_end(std::string& out, const End& e) {
    frame(out, Type::End, [&] {
        put(out, e.next_seq, 8);
        put(out, e.clients, 4);
        put(out, e.links, 4);
        put(out, e.broadcasts.size(), 4);
        for (auto [business, number] : e.broadcasts) {
            put(out, business, 8);
            put(out, number, 8);
        }
    });
}

void write_commit(std::string& out) {
    frame(out, Type::Commit, [] {});
}

void write_confirm(std::string& out, uint32_t count) {
    frame(out, Type::Confirm, [&] { put(out, count, 4); });
}

void write_refuse(std::string& out, std::string_view reason) {
    frame(out, Type::Refuse, [&] { out += reason; });
}

const char* type_name(Type t) {
    switch (t) {
        case Type::Hello: return "HELLO";
        case Type::Link: return "LINK";
        case Type::Client: return "CLIENT";
        case Type::End: return "END";
        case Type::Commit: return "COMMIT";
        case Type::Confirm: return "CONFIRM";
        case Type::Refuse: return "REFUSE";
    }
    return "?";
}

}  // namespace smooth::handover
